//! The simulation's driver of the one SIP test agent, [`sipwire::agent::Agent`]: a carrier, a
//! platform, a partner and a stranger speak real SIP bytes through it on the simulation's virtual
//! clock and network. The agent (transactions-lite: retransmissions with T1 doubling, 2xx until
//! ACK, ACKs, automatic BYE/CANCEL answers; dialogs; CSeq) lives in `sipwire`, independent of
//! handoff's own `sip`, `sdp` and `transfer` modules on purpose: a bug in handoff's SIP code cannot
//! hide behind the same bug in the agent that checks it (see the `sipwire` crate documentation).
//!
//! [`UserAgent`] derefs to the agent, so scripts call its methods (`invite`, `answer`, `request`,
//! `bye`, `refer`, `dialog`, `final_status`...) and fields directly; this wrapper only converts
//! the simulation's [`Time`] and [`SipTimers`].

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use crate::config::SipTimers;
use crate::core::Time;
use sipwire::agent::{self, Agent, Timers};

pub use sipwire::agent::{
    DialogId, IncomingRequest, RequestId, ResponseSeen, UaDialog, UaDialogState,
};

fn agent_time(now: Time) -> agent::Time {
    agent::Time(now.0)
}

/// One scripted agent of the simulation (see the module documentation).
pub struct UserAgent {
    agent: Agent,
}

impl Deref for UserAgent {
    type Target = Agent;
    fn deref(&self) -> &Agent {
        &self.agent
    }
}

impl DerefMut for UserAgent {
    fn deref_mut(&mut self) -> &mut Agent {
        &mut self.agent
    }
}

impl UserAgent {
    pub fn new(
        name: &str,
        addr: SocketAddr,
        sbc: SocketAddr,
        timers: SipTimers,
        seed: u64,
    ) -> Self {
        let timers = Timers {
            t1_ms: timers.t1_ms,
            t2_ms: timers.t2_ms,
        };
        UserAgent {
            agent: Agent::new(name, addr, sbc, timers, seed),
        }
    }

    pub fn set_now(&mut self, now: Time) {
        self.agent.set_now(agent_time(now));
    }

    /// Datagrams to put on the network. The agent's events are not used here (scripts read its
    /// inbox and response list), so they are dropped.
    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        while self.agent.poll_event().is_some() {}
        self.agent.take_outbox()
    }

    pub fn take_wakeups(&mut self) -> Vec<Time> {
        self.agent
            .take_wakeups()
            .into_iter()
            .map(|at| Time(at.0))
            .collect()
    }

    pub fn on_wake(&mut self, now: Time) {
        self.agent.on_wake(agent_time(now));
    }

    pub fn on_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.agent.on_datagram(agent_time(now), from, bytes);
    }
}
