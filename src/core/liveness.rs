//! Session liveness (issue 9, protection 7): silent and endless calls end.
//!
//! - `sbc.media_timeout_s`: an answered call with no media accepted from either leg for that long
//!   ends with BYE to both legs (`end_reason = "media_timeout"`).
//! - `sbc.hold_timeout_s`: the same bound for a call on hold, i.e. one of whose bridged legs said
//!   `sendonly` or `inactive` in its last SDP (offer or answer): `"hold_timeout"`.
//! - `sbc.max_call_s`: an answered call ends that long after its answer: `"max_duration"`.
//!
//! 0 turns each off. The clocks start at the answer (a call still ringing is bounded by the
//! INVITE transactions, and early media before the answer needs no check).
//!
//! The core never sees packets. When a `CoreTimer::MediaCheck` fires it asks the driver
//! (`Output::QueryMediaActivity`), and the driver answers at once with the relay's last accepted
//! packet of the call (any RTP/RTCP from a leg's allowed source that passed validation and
//! latching, early media included; "now" while the relay plays ringback toward a leg), through
//! `ShardCore::handle_media_activity`. So a call costs one question per timeout period, and the
//! RTP path only stores the packet's arrival time. The hold state is read at each check; a change
//! restarts the silence clock, and checks come at least every `media_timeout_s` (or
//! `hold_timeout_s`) so a change is seen within one period.
//!
//! The call's behaviour; the shard's timer and entry point find the call and run it.

use super::call::{Call, Liveness};
use super::dialog::Side;
use super::effects::{CoreTimer, Effects};
use super::{EndReason, Output, Time};
use crate::sdp::Direction;
use crate::vocab::StatusCode;

/// Early status for `hang_up` (only an answered call is ever ended here).
const UNUSED_EARLY_STATUS: StatusCode = StatusCode::REQUEST_TIMEOUT;

impl Call {
    /// On hold: a bridged leg's last SDP said `sendonly` or `inactive` (RFC 3264 section 8.4).
    pub fn is_on_hold(&self) -> bool {
        [Side::A, Side::B].into_iter().any(|side| {
            matches!(
                self.leg(side).direction,
                Direction::SendOnly | Direction::Inactive
            )
        })
    }

    /// The call was answered at `now`: start its liveness clocks.
    pub(super) fn arm_liveness(&mut self, fx: &mut Effects, now: Time) {
        self.liveness = Liveness {
            held: self.is_on_hold(),
            since: now,
        };
        let seq = self.id.seq;
        let max_call_s = self.config.sbc.max_call_s;
        if max_call_s > 0 {
            fx.set_timer(
                now.plus_millis(max_call_s.saturating_mul(1000)),
                CoreTimer::MaxDuration { call: seq },
            );
        }
        if let Some(at) = self.next_media_check(now, now) {
            fx.set_timer(at, CoreTimer::MediaCheck { call: seq });
        }
    }

    /// The silence bound that applies now, in seconds (0 = none), and the reason it ends with.
    fn silence_bound(&self) -> (u64, EndReason) {
        let sbc = &self.config.sbc;
        if self.liveness.held {
            (sbc.hold_timeout_s, EndReason::HoldTimeout)
        } else {
            (sbc.media_timeout_s, EndReason::MediaTimeout)
        }
    }

    /// When to look again, silence being measured from `reference`: when the bound that applies
    /// runs out, and at the latest one period of the other bound (to see a hold change).
    fn next_media_check(&self, now: Time, reference: Time) -> Option<Time> {
        let sbc = &self.config.sbc;
        let (bound, other) = if self.liveness.held {
            (sbc.hold_timeout_s, sbc.media_timeout_s)
        } else {
            (sbc.media_timeout_s, sbc.hold_timeout_s)
        };
        let due = (bound > 0).then(|| reference.plus_millis(bound.saturating_mul(1000)));
        let poll = (other > 0).then(|| now.plus_millis(other.saturating_mul(1000)));
        match (due, poll) {
            (Some(due), Some(poll)) => Some(due.min(poll)),
            (due, poll) => due.or(poll),
        }
    }

    /// `CoreTimer::MediaCheck`: ask the driver when the call last had media.
    pub(super) fn on_media_check(&mut self, fx: &mut Effects) {
        if self.is_answered() {
            fx.outputs
                .push_back(Output::QueryMediaActivity { call: self.id });
        }
    }

    /// The driver's answer: the call's last media at `last` (`None`: none since it opened). Ends
    /// the call when it has been silent past its bound, else looks again later.
    pub(super) fn on_media_activity(&mut self, fx: &mut Effects, now: Time, last: Option<Time>) {
        if !self.is_answered() {
            return;
        }
        let held = self.is_on_hold();
        if held != self.liveness.held {
            self.liveness = Liveness { held, since: now };
        }
        let reference = last.map_or(self.liveness.since, |t| t.max(self.liveness.since));
        let (bound, reason) = self.silence_bound();
        if bound > 0 && now >= reference.plus_millis(bound.saturating_mul(1000)) {
            self.hang_up(fx, now, reason, UNUSED_EARLY_STATUS);
            return;
        }
        if let Some(at) = self.next_media_check(now, reference) {
            fx.set_timer(at, CoreTimer::MediaCheck { call: self.id.seq });
        }
    }

    /// `CoreTimer::MaxDuration`: the call has lasted `sbc.max_call_s` since its answer.
    pub(super) fn on_max_duration(&mut self, fx: &mut Effects, now: Time) {
        if self.is_answered() {
            self.hang_up(fx, now, EndReason::MaxDuration, UNUSED_EARLY_STATUS);
        }
    }
}
