//! Timer names and the layer's timer keys.
//!
//! A key names (server or client, slot, generation, timer name). The layer keeps its keys in a
//! [`TimerTable`]: a transaction that ends cancels the timers it still had armed, and a timer
//! whose moment no longer matters in the transaction's current state does nothing when it fires.

use crate::core::timers::TimerKey;
#[cfg(doc)]
use crate::core::timers::TimerTable;

/// RFC 3261 section 17 timers, plus the RFC 6026 ones and two guards of handoff's own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The timers whose bits are set in `armed`.
    pub(crate) fn armed_in(armed: u16) -> impl Iterator<Item = TimerName> {
        TimerName::ALL
            .into_iter()
            .filter(move |name| armed & name.bit() != 0)
    }
}

/// Slots are limited to 24 bits: 16 M live transactions per shard.
pub(crate) const MAX_SLOTS: usize = 1 << 24;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Side {
    Client,
    Server,
}

/// One transaction, as its timers name it: the slot's generation tells a reused slot apart.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TxKey {
    pub side: Side,
    pub slot: u32,
    pub generation: u32,
}

/// A timer of the layer's [`crate::core::timers::TimerTable`]: which transaction, which timer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TxTimer {
    pub tx: TxKey,
    pub name: TimerName,
}

impl TimerKey for TxTimer {}
