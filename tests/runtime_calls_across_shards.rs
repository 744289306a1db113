//! With two shards, every datagram from one peer lands on the same SO_REUSEPORT socket, while
//! calls are owned by the shard their Call-ID hashes to: about half the calls live on the other
//! shard, reached through the SPSC queues and wakeups. All calls work, with media, and both
//! shards end some of them. In-process server, both backends.

mod runtime_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use handoff::config::Config;
use handoff::server::Server;
use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::{BACKENDS, WAIT, setup};

const CALLS: usize = 10;

#[test]
fn calls_owned_by_either_shard_all_work_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 10400 + i as u16 * 100, 2, 30);
        let mut server = Server::start(Config::load(&s.config_path).unwrap()).unwrap();
        // The shards open their media ports once they serve: wait for them before calling.
        let ready_by = Instant::now() + WAIT;
        while !server.media_ready() && Instant::now() < ready_by {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(server.media_ready(), "{io}: media pools not complete");
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        for n in 0..CALLS {
            let mut call = establish(s.sip, &carrier, &platform, &format!("shards-{io}-{n}"));
            exchange_rtp(&call, &carrier, &platform, 0, 3);
            hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        }
        let deadline = Instant::now() + WAIT;
        let ended = |server: &Server| -> Vec<u64> {
            server
                .shard_status()
                .iter()
                .map(|st| st.calls_ended.load(Ordering::Relaxed))
                .collect()
        };
        while ended(&server).iter().sum::<u64>() < CALLS as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let per_shard = ended(&server);
        assert_eq!(
            per_shard.iter().sum::<u64>(),
            CALLS as u64,
            "{io}: {per_shard:?}"
        );
        assert!(
            per_shard.iter().all(|&n| n > 0),
            "{io}: both shards own calls: {per_shard:?}"
        );
        assert_eq!(server.active_calls(), 0);
        server.drain();
        let deadline = Instant::now() + WAIT;
        while !server.all_stopped() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        server.wait().unwrap();
        let audit = std::fs::read_to_string(&s.audit_path).unwrap();
        assert_eq!(
            audit.lines().filter(|l| l.contains("\"call_end\"")).count(),
            CALLS
        );
    }
}
