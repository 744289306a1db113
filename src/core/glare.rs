//! Glare: a re-INVITE handoff originated itself (the customer's G.711 re-INVITE after a local
//! transfer, a local attended join's re-INVITEs) that met the peer's own re-INVITE.
//!
//! RFC 3261 section 14.1: "If a UAC receives a 491 response to a re-INVITE, it SHOULD start a
//! timer with a value T chosen as follows: 1. If the UAC is the owner of the Call-ID of the
//! dialog ID (meaning it generated the value), T has a randomly chosen value between 2.1 and 4
//! seconds in units of 10 ms. 2. If the UAC is not the owner of the Call-ID of the dialog ID, T
//! has a randomly chosen value of between 0 and 2 seconds in units of 10 ms. When the timer
//! fires, the UAC SHOULD attempt the re-INVITE once more, if it still desires for that session
//! modification to take place."
//!
//! The transient failure the RFC also lets a UAC retry: section 14.2, "A UAS that receives a
//! second INVITE before it sends the final response to a first INVITE with a lower CSeq sequence
//! number on the same dialog MUST return a 500 (Server Internal Error) response to the second
//! INVITE and MUST include a Retry-After header field with a randomly chosen value of between 0
//! and 10 seconds." So a 500 carrying a Retry-After of at most 10 s is retried after that many
//! seconds; any other failure (488, 403, a 500 without Retry-After, 481, 408, no answer at all)
//! is permanent: section 14.1, "the session parameters MUST remain unchanged", and the call's
//! `call_end` record says `reinvite_failed` with the code.
//!
//! handoff retries at most [`MAX_REINVITE_RETRIES`] times; the randomness is the shard's
//! generator (`Effects::rng`), so the core stays sans-IO and simulations replay. While the timer
//! runs handoff has no INVITE transaction on the dialog, so the peer's re-INVITE is relayed as
//! usual (that is what the random wait is for); if one is still in progress when the timer
//! fires, the retry waits another randomised period (section 14.1: no new INVITE transaction
//! while another is in progress in either direction).
//!
//! Relayed re-INVITEs (hold/resume from one leg to the other) are not handoff's own: a 491 from
//! the far leg goes back to the UA that sent the re-INVITE, which retries it itself.

use super::Time;
use super::call::{Call, ReinviteOrigin};
use super::dialog::Side;
use super::effects::{CoreTimer, Effects};
use super::rng::Rng;
use crate::sip::Message;
use crate::vocab::StatusCode;
use crate::vocab::ownership::shard_of_minted;

/// How often handoff sends one of its re-INVITEs again after glare (issue 10: "up to 3 times").
pub const MAX_REINVITE_RETRIES: u8 = 3;

/// The longest Retry-After on a 500 that is taken as section 14.2's transient answer.
const MAX_RETRY_AFTER_S: u64 = 10;

/// RFC 3261 section 14.1's T in milliseconds: 2.1-4 s for the Call-ID's owner, else 0-2 s,
/// both in units of 10 ms, drawn from `rng` (the shard's generator: the core stays sans-IO).
pub fn glare_delay_ms(rng: &mut Rng, owner: bool) -> u64 {
    if owner {
        2_100 + 10 * rng.below(191)
    } else {
        10 * rng.below(201)
    }
}

/// The Retry-After of a response in seconds (RFC 3261 section 20.33: delta-seconds, then an
/// optional comment and parameters).
fn retry_after_s(response: &Message) -> Option<u64> {
    let header = response
        .headers()
        .find(|h| h.name.eq_ignore_ascii_case("Retry-After"))?;
    let digits: String = String::from_utf8_lossy(header.value)
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl Call {
    /// handoff generated the Call-ID of leg `side`'s dialog (it sent the INVITE that made it).
    pub(super) fn owns_call_id(&self, side: Side) -> bool {
        let call_id = &self.leg(side).dialog.call_id;
        shard_of_minted(call_id).is_some()
            && call_id.ends_with(&format!("@{}", self.config.sbc.identity))
    }

    /// A final failure (or, `response` = None, no answer) to handoff's own re-INVITE `origin`
    /// on leg `side`. Schedules a retry when the RFC allows one and retries are left (true);
    /// otherwise the failure is final and goes on the call's record (false).
    pub(super) fn own_reinvite_failed(
        &mut self,
        fx: &mut Effects,
        now: Time,
        side: Side,
        origin: ReinviteOrigin,
        status: StatusCode,
        response: Option<&Message>,
    ) -> bool {
        let delay_ms = match (status, response) {
            (StatusCode::REQUEST_PENDING, _) => {
                Some(glare_delay_ms(&mut fx.rng, self.owns_call_id(side)))
            }
            (StatusCode::SERVER_INTERNAL_ERROR, Some(response)) => retry_after_s(response)
                .filter(|s| *s <= MAX_RETRY_AFTER_S)
                .map(|s| s * 1_000),
            _ => None,
        };
        match delay_ms {
            Some(delay_ms) if !self.is_ended() && self.reinvite_retries < MAX_REINVITE_RETRIES => {
                self.reinvite_retries += 1;
                self.reinvite_retry = Some(origin);
                fx.set_timer(
                    now.plus_millis(delay_ms),
                    CoreTimer::ReinviteRetry { call: self.id.seq },
                );
                true
            }
            _ => {
                self.reinvite_retries = 0;
                self.reinvite_retry = None;
                if !self.is_ended() {
                    self.reinvite_failed = Some(status);
                }
                false
            }
        }
    }

    /// handoff's own re-INVITE succeeded: the glare count starts over.
    pub(super) fn own_reinvite_succeeded(&mut self) {
        self.reinvite_retries = 0;
        self.reinvite_retry = None;
    }

    /// The glare timer fired: the re-INVITE to send again, or `None` (the call ended, nothing
    /// waits, or another INVITE transaction is still in progress and the retry waits again).
    pub(super) fn due_reinvite_retry(
        &mut self,
        fx: &mut Effects,
        now: Time,
    ) -> Option<ReinviteOrigin> {
        let origin = self.reinvite_retry.take()?;
        if self.is_ended() {
            return None;
        }
        if self.reinvite_pending {
            let side = match origin {
                ReinviteOrigin::Customer => self.transfer().map_or(Side::A, |t| t.carrier_side()),
                ReinviteOrigin::Attended(
                    super::attended_state::AttendedStep::Reinvite { side, .. },
                    _,
                ) => side,
            };
            let delay_ms = glare_delay_ms(&mut fx.rng, self.owns_call_id(side));
            self.reinvite_retry = Some(origin);
            fx.set_timer(
                now.plus_millis(delay_ms),
                CoreTimer::ReinviteRetry { call: self.id.seq },
            );
            return None;
        }
        Some(origin)
    }
}
