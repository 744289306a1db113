//! Client transactions (RFC 3261 17.1, with RFC 6026 for 2xx to INVITE).

use std::net::SocketAddr;

use super::timer::{TimerName, TxKey};
use super::{Durations, Emitter, Owner, TIMER_C_MS, TIMER_D_MS};
use crate::core::Time;
use crate::sip::Message;
use crate::vocab::StatusCode;

/// Named for what each state awaits (house rule), hence the common prefix.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// "Calling" (INVITE) / "Trying" (non-INVITE): any response; the request is retransmitted
    /// by Timer A (doubling, no cap) or E (doubling, capped at T2).
    AwaitingResponse { retransmit_ms: u64 },
    /// "Proceeding": a final response. INVITE: Timer C guards it. Non-INVITE: still retransmitted
    /// every T2 by Timer E until Timer F.
    AwaitingFinal,
    /// INVITE after CANCEL: the final (487 expected) within 64*T1 of the CANCEL.
    AwaitingFinalAfterCancel,
    /// "Completed": retransmitted finals to absorb (INVITE: re-ACKed) until Timer D or K.
    AwaitingFinalRetransmits { ack: Option<Vec<u8>> },
    /// INVITE "Accepted" (RFC 6026): 2xx retransmissions to pass to the TU until Timer M.
    AwaitingSuccessRetransmits,
}

impl ClientState {
    pub fn name(&self) -> &'static str {
        match self {
            ClientState::AwaitingResponse { .. } => "AwaitingResponse",
            ClientState::AwaitingFinal => "AwaitingFinal",
            ClientState::AwaitingFinalAfterCancel => "AwaitingFinalAfterCancel",
            ClientState::AwaitingFinalRetransmits { .. } => "AwaitingFinalRetransmits",
            ClientState::AwaitingSuccessRetransmits => "AwaitingSuccessRetransmits",
        }
    }
}

pub(crate) struct ClientTransaction {
    pub invite: bool,
    pub owner: Owner,
    pub peer: SocketAddr,
    pub key: Box<[u8]>,
    pub request: Vec<u8>,
    pub state: ClientState,
    /// The TU asked to CANCEL before any provisional: send it when one arrives (RFC 3261 9.1).
    cancel_requested: bool,
    /// Timer C deadline, pushed back by every provisional; only one C token is outstanding.
    timer_c_at: Time,
    timer_key: TxKey,
    pub armed: u16,
}

pub(crate) enum CancelDecision {
    SendNow,
    Deferred,
    NothingToCancel,
}

pub(crate) enum Report {
    Provisional,
    Final,
    SuccessRetransmitted,
}

#[derive(Default)]
pub(crate) struct ResponseOutcome {
    pub report: Option<Report>,
    pub send_deferred_cancel: bool,
}

#[derive(Default)]
pub(crate) struct Fired {
    pub terminated: bool,
    pub timeout: Option<TimerName>,
    pub send_cancel: bool,
}

impl ClientState {
    /// The timer that ends this state; it must always be pending.
    pub fn ending_timer_for(&self, invite: bool) -> TimerName {
        match (self, invite) {
            (ClientState::AwaitingResponse { .. }, true) => TimerName::B,
            (ClientState::AwaitingFinal, true) => TimerName::C,
            (ClientState::AwaitingResponse { .. } | ClientState::AwaitingFinal, false) => {
                TimerName::F
            }
            (ClientState::AwaitingFinalAfterCancel, _) => TimerName::CancelGuard,
            (ClientState::AwaitingFinalRetransmits { .. }, true) => TimerName::D,
            (ClientState::AwaitingFinalRetransmits { .. }, false) => TimerName::K,
            (ClientState::AwaitingSuccessRetransmits, _) => TimerName::M,
        }
    }
}

impl ClientTransaction {
    /// A BYE or CANCEL still waiting for its final response, or a CANCELled INVITE waiting for
    /// its 487 (to ACK it): the teardown a drain waits for before the process exits. A request
    /// whose answer nobody waits for any more (a REFER past `refer_timeout_ms`) is not one.
    pub fn is_teardown_awaiting_final(&self) -> bool {
        match self.state {
            ClientState::AwaitingFinalAfterCancel => true,
            ClientState::AwaitingResponse { .. } | ClientState::AwaitingFinal => {
                self.request.starts_with(b"BYE ") || self.request.starts_with(b"CANCEL ")
            }
            _ => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn start(
        now: Time,
        timer_key: TxKey,
        owner: Owner,
        invite: bool,
        peer: SocketAddr,
        key: Box<[u8]>,
        request: Vec<u8>,
        durations: &Durations,
        emitter: &mut Emitter,
    ) -> ClientTransaction {
        emitter.transmit(peer, request.clone());
        let mut tx = ClientTransaction {
            invite,
            owner,
            peer,
            key,
            request,
            state: ClientState::AwaitingResponse {
                retransmit_ms: durations.t1,
            },
            cancel_requested: false,
            timer_c_at: Time::ZERO,
            timer_key,
            armed: 0,
        };
        let (retransmit, give_up) = if invite {
            (TimerName::A, TimerName::B)
        } else {
            (TimerName::E, TimerName::F)
        };
        tx.arm(emitter, retransmit, now.plus_millis(durations.t1));
        tx.arm(emitter, give_up, now.plus_millis(durations.sixty_four_t1()));
        tx
    }

    pub fn ending_timer(&self) -> TimerName {
        self.state.ending_timer_for(self.invite)
    }

    fn arm(&mut self, emitter: &mut Emitter, name: TimerName, at: Time) {
        emitter.arm(self.timer_key, &mut self.armed, name, at);
    }

    pub fn request_cancel(
        &mut self,
        now: Time,
        durations: &Durations,
        emitter: &mut Emitter,
    ) -> CancelDecision {
        if !self.invite {
            return CancelDecision::NothingToCancel;
        }
        match self.state {
            ClientState::AwaitingResponse { .. } => {
                self.cancel_requested = true;
                CancelDecision::Deferred
            }
            ClientState::AwaitingFinal => {
                self.enter_cancelled(now, durations, emitter);
                CancelDecision::SendNow
            }
            ClientState::AwaitingFinalAfterCancel => CancelDecision::Deferred,
            ClientState::AwaitingFinalRetransmits { .. }
            | ClientState::AwaitingSuccessRetransmits => CancelDecision::NothingToCancel,
        }
    }

    fn enter_cancelled(&mut self, now: Time, durations: &Durations, emitter: &mut Emitter) {
        self.cancel_requested = false;
        self.state = ClientState::AwaitingFinalAfterCancel;
        self.arm(
            emitter,
            TimerName::CancelGuard,
            now.plus_millis(durations.sixty_four_t1()),
        );
    }

    pub fn on_response(
        &mut self,
        now: Time,
        status: StatusCode,
        response: &Message,
        durations: &Durations,
        emitter: &mut Emitter,
    ) -> ResponseOutcome {
        let provisional = status.is_provisional();
        match &self.state {
            ClientState::AwaitingResponse { .. }
            | ClientState::AwaitingFinal
            | ClientState::AwaitingFinalAfterCancel
                if provisional =>
            {
                let mut outcome = ResponseOutcome {
                    report: Some(Report::Provisional),
                    send_deferred_cancel: false,
                };
                match self.state {
                    ClientState::AwaitingResponse { .. }
                        if self.invite && self.cancel_requested =>
                    {
                        self.enter_cancelled(now, durations, emitter);
                        outcome.send_deferred_cancel = true;
                    }
                    ClientState::AwaitingResponse { .. } | ClientState::AwaitingFinal
                        if self.invite =>
                    {
                        self.state = ClientState::AwaitingFinal;
                        self.timer_c_at = now.plus_millis(TIMER_C_MS);
                        if self.armed & TimerName::C.bit() == 0 {
                            self.arm(emitter, TimerName::C, self.timer_c_at);
                        }
                    }
                    // Non-INVITE: Timer E keeps running, now at T2 (handled when it fires).
                    ClientState::AwaitingResponse { .. } => self.state = ClientState::AwaitingFinal,
                    _ => {}
                }
                outcome
            }
            ClientState::AwaitingResponse { .. }
            | ClientState::AwaitingFinal
            | ClientState::AwaitingFinalAfterCancel => {
                self.on_first_final(now, status, response, durations, emitter);
                ResponseOutcome {
                    report: Some(Report::Final),
                    send_deferred_cancel: false,
                }
            }
            ClientState::AwaitingFinalRetransmits { ack } => {
                // A retransmitted final: re-ACK it (INVITE); absorb.
                if let Some(ack) = ack
                    && !provisional
                {
                    emitter.transmit(self.peer, ack.clone());
                }
                ResponseOutcome::default()
            }
            ClientState::AwaitingSuccessRetransmits => ResponseOutcome {
                report: status.is_success().then_some(Report::SuccessRetransmitted),
                send_deferred_cancel: false,
            },
        }
    }

    fn on_first_final(
        &mut self,
        now: Time,
        status: StatusCode,
        response: &Message,
        durations: &Durations,
        emitter: &mut Emitter,
    ) {
        if status.is_success() {
            // After a 2xx the request is never sent again (no retransmission, no CANCEL, no
            // ACK built from it: the dialog ACKs a 2xx) nor read (only a 401/407 is answered
            // from it): free its bytes for the 64*T1 (INVITE) or T4 (others) still to wait.
            self.request = Vec::new();
        }
        if self.invite && status.is_success() {
            self.state = ClientState::AwaitingSuccessRetransmits;
            self.arm(
                emitter,
                TimerName::M,
                now.plus_millis(durations.sixty_four_t1()),
            );
            return;
        }
        if self.invite {
            let ack = match super::message::ack_for(&self.request, response) {
                Ok(ack) => {
                    emitter.transmit(self.peer, ack.clone());
                    Some(ack)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot build the ACK for a non-2xx final");
                    None
                }
            };
            self.state = ClientState::AwaitingFinalRetransmits { ack };
            self.arm(emitter, TimerName::D, now.plus_millis(TIMER_D_MS));
        } else {
            self.state = ClientState::AwaitingFinalRetransmits { ack: None };
            self.arm(emitter, TimerName::K, now.plus_millis(durations.t4));
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
            return Fired::default();
        }
        self.armed &= !name.bit();
        match (&self.state, name) {
            (ClientState::AwaitingResponse { retransmit_ms }, TimerName::A) => {
                // INVITE: doubles without cap until Timer B.
                let next = retransmit_ms.saturating_mul(2);
                emitter.transmit(self.peer, self.request.clone());
                self.state = ClientState::AwaitingResponse {
                    retransmit_ms: next,
                };
                self.arm(emitter, TimerName::A, now.plus_millis(next));
                Fired::default()
            }
            (ClientState::AwaitingResponse { retransmit_ms }, TimerName::E) => {
                let next = retransmit_ms.saturating_mul(2).min(durations.t2);
                emitter.transmit(self.peer, self.request.clone());
                self.state = ClientState::AwaitingResponse {
                    retransmit_ms: next,
                };
                self.arm(emitter, TimerName::E, now.plus_millis(next));
                Fired::default()
            }
            (ClientState::AwaitingFinal, TimerName::E) => {
                emitter.transmit(self.peer, self.request.clone());
                self.arm(emitter, TimerName::E, now.plus_millis(durations.t2));
                Fired::default()
            }
            (ClientState::AwaitingResponse { .. }, TimerName::B)
            | (ClientState::AwaitingResponse { .. } | ClientState::AwaitingFinal, TimerName::F)
            | (ClientState::AwaitingFinalAfterCancel, TimerName::CancelGuard) => Fired {
                terminated: true,
                timeout: Some(name),
                send_cancel: false,
            },
            (ClientState::AwaitingFinal, TimerName::C) if self.invite => {
                if now < self.timer_c_at {
                    // A provisional pushed the deadline back.
                    self.arm(emitter, TimerName::C, self.timer_c_at);
                    return Fired::default();
                }
                self.enter_cancelled(now, durations, emitter);
                Fired {
                    terminated: false,
                    timeout: None,
                    send_cancel: true,
                }
            }
            (ClientState::AwaitingFinalRetransmits { .. }, TimerName::D | TimerName::K)
            | (ClientState::AwaitingSuccessRetransmits, TimerName::M) => Fired {
                terminated: true,
                timeout: None,
                send_cancel: false,
            },
            _ => Fired::default(),
        }
    }
}
