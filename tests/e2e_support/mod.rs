//! End-to-end transfer tests: the real binary on loopback with the demo's config shape, driven
//! by the demo's SIP agents (src/demo/agent.rs, independent of handoff's SIP code) through the
//! scripted flows of src/demo/flows.rs. Each test runs in a private network namespace (see
//! runtime_support/mod.rs), and each file still passes its own media range; e2e tests keep to
//! 8500..9600 (SIPp tests sit below 8200, runtime tests at 9600..12000;
//! e2e_admin_dashboard at 34000..35000, e2e_transfer_refer_hook at 35000..36000,
//! e2e_metrics_series at 36000..37000).
#![allow(dead_code)]

#[path = "../runtime_support/mod.rs"]
mod runtime_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use handoff::demo::agent::Cast;
use handoff::demo::flows::{CARRIER, PARTNER, PLATFORM};
use handoff::demo::{DemoSettings, cast};
use handoff::media::g711::G711Law;
#[allow(unused_imports)]
pub use runtime_support::{BACKENDS, Handoff, WAIT, netns};

pub struct Options {
    pub io: &'static str,
    pub shards: usize,
    pub media_ports: (u16, u16),
    pub transfer: &'static str,
    pub on_refer_failure: &'static str,
    pub carrier_law: G711Law,
    pub partner_law: G711Law,
    pub refer_timeout_ms: u64,
    /// `sbc.admin`: the admin API's address (None: "off", as in the demo's config).
    pub admin: Option<std::net::SocketAddr>,
    /// The platform trunk's `refer_hook` inline table, e.g.
    /// `{ url = "http://127.0.0.1:35080/refer", on_error = "reject" }` (None: no hook).
    pub refer_hook: Option<String>,
    /// A last edit of the config text (e.g. a route or trunk key a test needs).
    pub config_edit: Option<fn(String) -> String>,
}

impl Options {
    pub fn new(io: &'static str, media_start: u16) -> Options {
        Options {
            io,
            // Two shards: calls and their transfers hash to either, as in production.
            shards: 2,
            media_ports: (media_start, media_start + 40),
            transfer: "refer",
            on_refer_failure: "local",
            carrier_law: G711Law::Ulaw,
            partner_law: G711Law::Ulaw,
            refer_timeout_ms: 1000,
            admin: None,
            refer_hook: None,
            config_edit: None,
        }
    }
}

pub struct E2e {
    pub handoff: Handoff,
    pub cast: Cast,
    pub audit: PathBuf,
    /// The test's temporary directory (config, audit); removed on drop.
    pub dir: tempfile::TempDir,
}

fn codec(law: G711Law) -> &'static str {
    law.name()
}

/// Starts the binary with a config naming the three agents, in a fresh private network
/// namespace (the agents' sockets are bound after entering it).
pub fn start(options: &Options) -> E2e {
    runtime_support::netns::enter();
    let dir = tempfile::tempdir().unwrap();
    let sip = runtime_support::sip_addr();
    let mut cast = cast(sip, options.carrier_law, options.partner_law).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let settings = DemoSettings {
        sip,
        carrier: cast[CARRIER].addr(),
        platform: cast[PLATFORM].addr(),
        partner: cast[PARTNER].addr(),
        media_ports: options.media_ports,
        shards: options.shards,
        io: options.io,
        transfer: options.transfer,
        on_refer_failure: options.on_refer_failure,
        carrier_codec: codec(options.carrier_law),
        partner_codec: codec(options.partner_law),
        refer_timeout_ms: options.refer_timeout_ms,
        audit: audit.display().to_string(),
    };
    let config = dir.path().join("handoff.toml");
    let mut text = settings.config_text();
    if let Some(admin) = options.admin {
        assert!(text.contains("admin = \"off\""), "{text}");
        text = text.replace("admin = \"off\"", &format!("admin = \"{admin}\""));
    }
    if let Some(hook) = &options.refer_hook {
        let platform = "role = \"platform\"\n";
        assert!(text.contains(platform), "{text}");
        text = text.replace(platform, &format!("{platform}refer_hook = {hook}\n"));
    }
    if let Some(edit) = options.config_edit {
        text = edit(text);
    }
    std::fs::write(&config, text).unwrap();
    let handoff = Handoff::start(&config);
    for agent in &mut cast.agents {
        agent.handoff = sip;
    }
    E2e {
        handoff,
        cast,
        audit,
        dir,
    }
}

impl E2e {
    /// The audit's transfer records, waiting up to [`runtime_support::WAIT`] for `count` of them.
    pub fn transfer_records(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + runtime_support::WAIT;
        loop {
            let text = std::fs::read_to_string(&self.audit).unwrap_or_default();
            let records: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|r| r["type"] == "transfer")
                .collect();
            if records.len() >= count || Instant::now() >= deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The single transfer record of a test, checked for the fields every record has.
    pub fn one_transfer_record(&self) -> serde_json::Value {
        let records = self.transfer_records(1);
        assert_eq!(records.len(), 1, "transfer records: {records:?}");
        let record = records[0].clone();
        assert_eq!(record["trunk"], "carrier-a", "{record}");
        assert!(
            record["conversation"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
        record
    }

    /// SIGTERM, with the agents polled (they answer the drain's BYEs, which handoff waits for
    /// before it exits) until handoff is gone.
    pub fn stop(mut self) {
        self.handoff.signal("TERM");
        let deadline = Instant::now() + runtime_support::WAIT;
        while self.handoff.is_running() && Instant::now() < deadline {
            let _ = self.cast.poll();
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = self.handoff.wait_exit(runtime_support::WAIT);
        assert!(
            status.is_some_and(|s| s.success()),
            "handoff exit: {status:?}"
        );
    }
}
