//! Timer names and the layer's timer tokens.
//!
//! A token carries (server or client, slot, generation, timer name). A token whose slot was
//! reused (generation differs), or whose timer no longer matters in the transaction's current
//! state, is ignored, so the driver never has to cancel a timer.

use crate::core::TimerToken;

/// RFC 3261 section 17 timers, plus the RFC 6026 ones and two guards of handoff's own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimerName {
    /// INVITE client: retransmit the request (T1, doubling, no cap).
    A,
    /// INVITE client: no response at all within 64*T1.
    B,
    /// INVITE client: no final response within 3 minutes of the last provisional (RFC 3261
    /// 16.6 step 11). The layer then CANCELs the INVITE itself.
    C,
    /// INVITE client: absorb retransmitted non-2xx finals (32 s over UDP).
    D,
    /// Non-INVITE client: retransmit the request (T1 doubling, capped at T2).
    E,
    /// Non-INVITE client: no final response within 64*T1.
    F,
    /// INVITE server: retransmit the non-2xx final (T1 doubling, capped at T2).
    G,
    /// INVITE server: no ACK for the non-2xx final within 64*T1.
    H,
    /// INVITE server: absorb ACK retransmissions (T4).
    I,
    /// Non-INVITE server: absorb request retransmissions (64*T1).
    J,
    /// Non-INVITE client: absorb response retransmissions (T4).
    K,
    /// INVITE server, RFC 6026 Accepted: absorb INVITE retransmissions after a 2xx (64*T1).
    L,
    /// INVITE client, RFC 6026 Accepted: pass 2xx retransmissions to the TU (64*T1).
    M,
    /// INVITE client after CANCEL: no final response within 64*T1 of the CANCEL (RFC 3261 9.1).
    CancelGuard,
    /// Server transaction the TU never answered (non-INVITE: 64*T1; INVITE: Timer C + 64*T1).
    /// The layer answers 408 itself.
    Unanswered,
}

impl TimerName {
    const ALL: [TimerName; 15] = [
        TimerName::A,
        TimerName::B,
        TimerName::C,
        TimerName::D,
        TimerName::E,
        TimerName::F,
        TimerName::G,
        TimerName::H,
        TimerName::I,
        TimerName::J,
        TimerName::K,
        TimerName::L,
        TimerName::M,
        TimerName::CancelGuard,
        TimerName::Unanswered,
    ];

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn from_index(index: u64) -> Option<TimerName> {
        TimerName::ALL.get(usize::try_from(index).ok()?).copied()
    }
}

const LAYER_BIT: u64 = 1 << 63;
const SERVER_BIT: u64 = 1 << 62;
const SLOT_SHIFT: u32 = 38;
const SLOT_BITS: u32 = 24;
const GENERATION_SHIFT: u32 = 6;
const NAME_MASK: u64 = (1 << GENERATION_SHIFT) - 1;

/// Slots are limited to 24 bits in a token: 16 M live transactions per shard.
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// The decoded content of a layer token.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodedToken {
    pub side: Side,
    pub slot: u32,
    pub generation: u32,
    pub name: TimerName,
}

/// Token bits identifying one transaction; the timer name is or-ed in when arming.
pub(crate) fn token_base(side: Side, slot: u32, generation: u32) -> u64 {
    let side_bit = match side {
        Side::Server => SERVER_BIT,
        Side::Client => 0,
    };
    LAYER_BIT
        | side_bit
        | (u64::from(slot) & ((1 << SLOT_BITS) - 1)) << SLOT_SHIFT
        | u64::from(generation) << GENERATION_SHIFT
}

pub(crate) fn token(base: u64, name: TimerName) -> TimerToken {
    TimerToken(base | name as u64)
}

pub(crate) fn is_layer_token(token: TimerToken) -> bool {
    token.0 & LAYER_BIT != 0
}

pub(crate) fn decode(token: TimerToken) -> Option<DecodedToken> {
    if !is_layer_token(token) {
        return None;
    }
    let side = if token.0 & SERVER_BIT != 0 {
        Side::Server
    } else {
        Side::Client
    };
    Some(DecodedToken {
        side,
        slot: ((token.0 >> SLOT_SHIFT) & ((1 << SLOT_BITS) - 1)) as u32,
        generation: (token.0 >> GENERATION_SHIFT) as u32,
        name: TimerName::from_index(token.0 & NAME_MASK)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_carry_bit_63() {
        for name in TimerName::ALL {
            for (side, slot, generation) in [
                (Side::Client, 0, 0),
                (Side::Server, (MAX_SLOTS - 1) as u32, u32::MAX),
                (Side::Server, 12345, 7),
            ] {
                let t = token(token_base(side, slot, generation), name);
                assert!(is_layer_token(t));
                assert_eq!(
                    decode(t),
                    Some(DecodedToken {
                        side,
                        slot,
                        generation,
                        name
                    })
                );
            }
        }
        assert_eq!(decode(TimerToken(42)), None);
        assert_eq!(decode(TimerToken(LAYER_BIT | 63)), None);
    }
}
