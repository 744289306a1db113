//! Server transactions (RFC 3261 17.2, with RFC 6026 for 2xx to INVITE).

use std::net::SocketAddr;

use super::message::RequestFacts;
use super::timer::{Side, TimerName, TxKey};
use super::{Durations, Emitter, Owner, ServerAction, TransactionError};
use crate::core::Time;
use crate::sip::{Message, Method};
use crate::vocab::{StatusClass, StatusCode};

/// Named for what each state awaits (house rule), hence the common prefix.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// INVITE "Proceeding": the TU's final. INVITE retransmissions re-send the last provisional.
    AwaitingFinal,
    /// INVITE "Completed": the ACK for our non-2xx final, re-sent by Timer G.
    AwaitingAck { retransmit_ms: u64 },
    /// INVITE "Confirmed": ACK retransmissions to absorb until Timer I.
    AwaitingAckRetransmits,
    /// INVITE "Accepted" (RFC 6026): INVITE retransmissions to absorb until Timer L; the TU owns
    /// the 2xx retransmissions and the ACK.
    AwaitingInviteRetransmits,
    /// Non-INVITE "Trying"/"Proceeding": the TU's final.
    AwaitingResponse,
    /// Non-INVITE "Completed": request retransmissions to answer until Timer J.
    AwaitingRequestRetransmits,
}

impl ServerState {
    /// The timer that ends this state; it must always be pending.
    pub fn ending_timer(&self) -> TimerName {
        match self {
            ServerState::AwaitingFinal | ServerState::AwaitingResponse => TimerName::Unanswered,
            ServerState::AwaitingAck { .. } => TimerName::H,
            ServerState::AwaitingAckRetransmits => TimerName::I,
            ServerState::AwaitingInviteRetransmits => TimerName::L,
            ServerState::AwaitingRequestRetransmits => TimerName::J,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ServerState::AwaitingFinal => "AwaitingFinal",
            ServerState::AwaitingAck { .. } => "AwaitingAck",
            ServerState::AwaitingAckRetransmits => "AwaitingAckRetransmits",
            ServerState::AwaitingInviteRetransmits => "AwaitingInviteRetransmits",
            ServerState::AwaitingResponse => "AwaitingResponse",
            ServerState::AwaitingRequestRetransmits => "AwaitingRequestRetransmits",
        }
    }
}

pub(crate) struct ServerTransaction {
    pub invite: bool,
    pub owner: Owner,
    /// Source of the request: where responses go.
    pub peer: SocketAddr,
    pub request: Vec<u8>,
    /// Key in the layer's server index.
    pub key: Box<[u8]>,
    /// Key in the merged-request index, while registered there.
    pub merged_key: Option<Box<[u8]>>,
    /// RFC 2543 matching only: To tag of the request, and of our final response.
    legacy: Option<LegacyTags>,
    pub last_response: Option<Vec<u8>>,
    pub state: ServerState,
    timer_key: TxKey,
    /// Timers armed in the layer's table.
    pub armed: u16,
}

struct LegacyTags {
    request_to_tag: Option<Box<str>>,
    response_to_tag: Option<Box<str>>,
}

/// What a timer did.
#[derive(Default)]
pub(crate) struct Fired {
    pub terminated: bool,
    pub timeout: Option<TimerName>,
}

impl ServerTransaction {
    pub fn new(
        slot: u32,
        generation: u32,
        owner: Owner,
        peer: SocketAddr,
        facts: &RequestFacts,
        key: Box<[u8]>,
        request: &[u8],
    ) -> ServerTransaction {
        let invite = facts.method == Method::Invite;
        let legacy = (!facts.branch_is_rfc3261()).then(|| LegacyTags {
            request_to_tag: facts.to_tag.map(Into::into),
            response_to_tag: None,
        });
        ServerTransaction {
            invite,
            owner,
            peer,
            request: request.to_vec(),
            key,
            merged_key: None,
            legacy,
            last_response: None,
            state: if invite {
                ServerState::AwaitingFinal
            } else {
                ServerState::AwaitingResponse
            },
            timer_key: TxKey {
                side: Side::Server,
                slot,
                generation,
            },
            armed: 0,
        }
    }

    pub fn awaits_final(&self) -> bool {
        matches!(
            self.state,
            ServerState::AwaitingFinal | ServerState::AwaitingResponse
        )
    }

    /// RFC 2543 matching: a retransmission carries the request's To tag; an ACK carries the tag
    /// of our final response.
    pub fn legacy_to_tag_matches(&self, facts: &RequestFacts) -> bool {
        let Some(legacy) = &self.legacy else {
            return true;
        };
        let expected = if facts.method == Method::Ack {
            legacy
                .response_to_tag
                .as_deref()
                .or(legacy.request_to_tag.as_deref())
        } else {
            legacy.request_to_tag.as_deref()
        };
        expected == facts.to_tag
    }

    pub fn arm_unanswered(&mut self, now: Time, durations: &Durations, emitter: &mut Emitter) {
        let wait = if self.invite {
            // Longer than the far side's Timer C + its CANCEL's transaction, so the TU normally
            // answers first (487 or 408 relayed).
            super::TIMER_C_MS + 2 * durations.sixty_four_t1()
        } else {
            durations.sixty_four_t1()
        };
        self.arm(emitter, TimerName::Unanswered, now.plus_millis(wait));
    }

    fn arm(&mut self, emitter: &mut Emitter, name: TimerName, at: Time) {
        emitter.arm(self.timer_key, &mut self.armed, name, at);
    }

    /// The same request again: re-send what we last said (nothing yet = absorb).
    pub fn on_retransmission(&mut self, emitter: &mut Emitter) {
        let resend = match self.state {
            ServerState::AwaitingFinal
            | ServerState::AwaitingResponse
            | ServerState::AwaitingAck { .. }
            | ServerState::AwaitingRequestRetransmits => true,
            // After a 2xx the TU retransmits it; after the ACK nothing is owed.
            ServerState::AwaitingInviteRetransmits | ServerState::AwaitingAckRetransmits => false,
        };
        if resend && let Some(response) = &self.last_response {
            emitter.transmit(self.peer, response.clone());
        }
    }

    /// An ACK matched this (INVITE) transaction.
    pub fn on_ack(
        &mut self,
        now: Time,
        durations: &Durations,
        emitter: &mut Emitter,
    ) -> ServerAction {
        match self.state {
            ServerState::AwaitingAck { .. } => {
                // Confirmed owes nothing: neither the request nor the final is sent again.
                self.forget_request();
                self.last_response = None;
                self.state = ServerState::AwaitingAckRetransmits;
                self.arm(emitter, TimerName::I, now.plus_millis(durations.t4));
                ServerAction::Absorbed
            }
            // Same branch as a 2xx'd INVITE: an RFC 2543 peer; the ACK is the dialog's.
            ServerState::AwaitingInviteRetransmits => ServerAction::AckWithoutTransaction,
            _ => ServerAction::Absorbed,
        }
    }

    pub fn respond(
        &mut self,
        now: Time,
        status: StatusCode,
        response: Vec<u8>,
        durations: &Durations,
        emitter: &mut Emitter,
    ) -> Result<(), TransactionError> {
        let not_allowed = |state: &ServerState| TransactionError::ResponseNotAllowed {
            status,
            state: state.name(),
        };
        match (&self.state, status.class()) {
            (
                ServerState::AwaitingFinal | ServerState::AwaitingResponse,
                StatusClass::Provisional,
            ) => {
                emitter.transmit(self.peer, response.clone());
                self.last_response = Some(response);
            }
            (ServerState::AwaitingFinal, StatusClass::Success) => {
                emitter.transmit(self.peer, response);
                self.last_response = None;
                // Accepted lasts 64*T1 and only absorbs: the request's bytes are not read again
                // (nothing answers it any more), and at thousands of calls/s they were most of
                // what ended calls held.
                self.forget_request();
                self.state = ServerState::AwaitingInviteRetransmits;
                self.arm(
                    emitter,
                    TimerName::L,
                    now.plus_millis(durations.sixty_four_t1()),
                );
            }
            (ServerState::AwaitingInviteRetransmits, StatusClass::Success) => {
                emitter.transmit(self.peer, response);
            }
            (ServerState::AwaitingFinal, _) => {
                self.note_response_tag(&response);
                emitter.transmit(self.peer, response.clone());
                self.last_response = Some(response);
                self.state = ServerState::AwaitingAck {
                    retransmit_ms: durations.t1,
                };
                self.arm(emitter, TimerName::G, now.plus_millis(durations.t1));
                self.arm(
                    emitter,
                    TimerName::H,
                    now.plus_millis(durations.sixty_four_t1()),
                );
            }
            (ServerState::AwaitingResponse, _) => {
                emitter.transmit(self.peer, response.clone());
                self.last_response = Some(response);
                // Completed re-sends the final only.
                self.forget_request();
                self.state = ServerState::AwaitingRequestRetransmits;
                // Timer J = 64*T1 over UDP.
                self.arm(
                    emitter,
                    TimerName::J,
                    now.plus_millis(durations.sixty_four_t1()),
                );
            }
            (state, _) => return Err(not_allowed(state)),
        }
        Ok(())
    }

    /// Frees the request's bytes once the transaction only absorbs retransmissions: no one
    /// reads them after the final response (`server_request` then yields an empty slice,
    /// which no reader parses into a request).
    fn forget_request(&mut self) {
        self.request = Vec::new();
    }

    fn note_response_tag(&mut self, response: &[u8]) {
        if let Some(legacy) = &mut self.legacy
            && let Ok(message) = Message::parse(response)
            && let Ok(to) = message.to()
        {
            legacy.response_to_tag = to.tag().map(Into::into);
        }
    }

    pub fn on_timer(
        &mut self,
        now: Time,
        name: TimerName,
        durations: &Durations,
        emitter: &mut Emitter,
    ) -> Fired {
        if self.armed & name.bit() == 0 {
            return Fired::default(); // not ours to honour (duplicate delivery)
        }
        self.armed &= !name.bit();
        match (&self.state, name) {
            (ServerState::AwaitingFinal | ServerState::AwaitingResponse, TimerName::Unanswered) => {
                let answered = self.answer_timeout(now, durations, emitter);
                Fired {
                    terminated: !answered,
                    timeout: Some(TimerName::Unanswered),
                }
            }
            (ServerState::AwaitingAck { retransmit_ms }, TimerName::G) => {
                let next = (retransmit_ms.saturating_mul(2)).min(durations.t2);
                if let Some(response) = &self.last_response {
                    emitter.transmit(self.peer, response.clone());
                }
                self.state = ServerState::AwaitingAck {
                    retransmit_ms: next,
                };
                self.arm(emitter, TimerName::G, now.plus_millis(next));
                Fired::default()
            }
            (ServerState::AwaitingAck { .. }, TimerName::H) => Fired {
                terminated: true,
                timeout: Some(TimerName::H),
            },
            (ServerState::AwaitingAckRetransmits, TimerName::I)
            | (ServerState::AwaitingInviteRetransmits, TimerName::L)
            | (ServerState::AwaitingRequestRetransmits, TimerName::J) => Fired {
                terminated: true,
                timeout: None,
            },
            _ => Fired::default(), // a timer of a state we already left
        }
    }

    /// The TU never answered: 408 from the layer, then the usual completion. Returns false when
    /// no 408 could be built (the transaction then just ends).
    fn answer_timeout(&mut self, now: Time, durations: &Durations, emitter: &mut Emitter) -> bool {
        let tag = crate::core::ids::derived_tag(durations.shard, &self.request);
        let response = Message::parse(&self.request)
            .map_err(super::MessageFault::from)
            .and_then(|request| {
                let untagged = request.to().is_ok_and(|to| to.tag().is_none());
                let to_tag = untagged.then_some(tag.as_str());
                super::message::response(
                    &request,
                    StatusCode::REQUEST_TIMEOUT,
                    "Request Timeout",
                    to_tag,
                )
            });
        match response {
            Ok(response) => self
                .respond(
                    now,
                    StatusCode::REQUEST_TIMEOUT,
                    response,
                    durations,
                    emitter,
                )
                .is_ok(),
            Err(error) => {
                tracing::warn!(%error, "cannot build a 408 for an unanswered request");
                false
            }
        }
    }
}
