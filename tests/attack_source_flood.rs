//! Attack, against the real binary on both backends: a flood of requests from one source. The
//! issue's protection 3 (Kamailio's pike): "Per source IP: `sbc.source_limit = { pps = 200,
//! ban_s = 60 }`. A token bucket; a source over its limit is dropped for `ban_s`. Trunk peers are
//! limited too, by a higher per-trunk budget." So a flooder gets at most one second's budget
//! plus the refill over the time it floods, then nothing; the drop is logged with its source;
//! other sources are served as before.

mod runtime_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, Ua, request};
use runtime_support::{BACKENDS, Handoff, setup};

const FLOOD: usize = 400;

fn options(ua: &Ua, sip: std::net::SocketAddr, call_id: &str) -> String {
    request("OPTIONS", ua.addr(), sip, "100", call_id, "flood", 1, "")
}

/// Answers that arrive until the socket has been quiet for a second.
fn answers_until_quiet(ua: &Ua) -> usize {
    let mut buf = vec![0u8; 65536];
    let mut count = 0;
    ua.socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    while let Ok((n, _)) = ua.socket.recv_from(&mut buf) {
        if Msg::parse(&buf[..n]).is_some_and(|m| m.status().is_some()) {
            count += 1;
        }
    }
    count
}

/// The most a token bucket of `pps` can let through while a flood lasted `elapsed`: its full
/// bucket plus the refill, with a second of slack for the time the test took to read.
fn budget(pps: usize, elapsed: Duration) -> usize {
    pps + pps * (elapsed.as_secs() as usize + 2)
}

#[test]
fn a_stranger_flooding_is_cut_off_and_trunks_are_still_served() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 28000 + i as u16 * 100, 2, 30);
        let text = std::fs::read_to_string(&s.config_path).expect("config");
        let text = text.replacen(
            "[sbc]\n",
            "[sbc]\nunknown_source = \"reject\"\nsource_limit = { pps = 20, ban_s = 60 }\n",
            1,
        );
        std::fs::write(&s.config_path, text).expect("write config");
        let mut handoff = Handoff::start(&s.config_path);
        let flooder = Ua::new(UdpSocket::bind("127.0.0.1:0").expect("bind"), "flooder");
        let started = Instant::now();
        for n in 0..FLOOD {
            flooder.send(s.sip, &options(&flooder, s.sip, &format!("flood-{io}-{n}")));
        }
        handoff.wait_for_log(&format!("from={}", flooder.addr()), WAIT);
        handoff.wait_for_log("sbc.source_limit", WAIT);
        let answered = answers_until_quiet(&flooder);
        let elapsed = started.elapsed();
        assert!(
            answered >= 1,
            "{io}: the stranger's first requests get their 403"
        );
        assert!(
            answered <= budget(20, elapsed),
            "{io}: {answered} answers to a flood of {FLOOD} in {elapsed:?}: more than pps allows"
        );
        // Banned: a request after the flood gets nothing.
        flooder.send(s.sip, &options(&flooder, s.sip, &format!("after-{io}")));
        flooder.expect_none(Duration::from_millis(1500), |_| true);

        // The carrier has its own (trunk) budget: served as before.
        let carrier = Ua::new(s.carrier.try_clone().expect("clone"), "carrier");
        carrier.send(s.sip, &options(&carrier, s.sip, &format!("keepalive-{io}")));
        let (ok, _) = carrier.expect("the carrier's keepalive answered", WAIT, |m| {
            m.cseq_method() == Some("OPTIONS") && m.status().is_some()
        });
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);
        assert!(
            handoff.child.try_wait().expect("wait").is_none(),
            "{io}: handoff exited"
        );
    }
}

#[test]
fn a_trunk_over_its_budget_is_cut_off_for_ban_s() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 28200 + i as u16 * 100, 2, 30);
        let text = std::fs::read_to_string(&s.config_path).expect("config");
        let text = text.replacen(
            "[sbc]\n",
            "[sbc]\nsource_limit = { trunk_pps = 30, ban_s = 2 }\n",
            1,
        );
        std::fs::write(&s.config_path, text).expect("write config");
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Ua::new(s.carrier.try_clone().expect("clone"), "carrier");
        let started = Instant::now();
        for n in 0..FLOOD {
            carrier.send(s.sip, &options(&carrier, s.sip, &format!("burst-{io}-{n}")));
        }
        let line = handoff.wait_for_log("sbc.source_limit", WAIT);
        assert!(line.contains("trunk=carrier"), "{io}: {line}");
        let answered = answers_until_quiet(&carrier);
        let elapsed = started.elapsed();
        assert!(
            (1..=budget(30, elapsed)).contains(&answered),
            "{io}: {answered} answers to {FLOOD} keepalives in {elapsed:?}"
        );
        // After ban_s the trunk is served again (wait for it: retry until answered).
        let deadline = Instant::now() + WAIT + Duration::from_secs(2);
        let mut served = false;
        let mut n = 0;
        while !served && Instant::now() < deadline {
            n += 1;
            carrier.send(s.sip, &options(&carrier, s.sip, &format!("again-{io}-{n}")));
            served = answers_until_quiet(&carrier) > 0;
        }
        assert!(served, "{io}: the trunk is served again after ban_s");
    }
}
