//! `handoff demo`: handoff in-process on loopback, with simulated carrier, platform and partner
//! agents speaking real SIP and RTP over real sockets, running the three transfers that show
//! what handoff is for. Each flow is printed as a ladder, then the audit records and a summary.
//!
//! - [`agent`]: the SIP agents (independent of handoff's SIP code).
//! - [`flows`]: the scripted flows, also used by the end-to-end tests against the binary.

pub mod agent;
pub mod flows;

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use agent::{Agent, Cast, render_ladder};
use flows::{BlindFlow, CarrierAnswer, TargetAnswer};

use crate::config::Config;
use crate::media::g711::G711Law;
use crate::media::tone::tone_amplitude;
use crate::server::{RunError, Server};

/// Settings of a demo or test config: every trunk on loopback.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    pub sip: SocketAddr,
    pub carrier: SocketAddr,
    pub platform: SocketAddr,
    pub partner: SocketAddr,
    /// RTP/RTCP ports `[start, end)`.
    pub media_ports: (u16, u16),
    pub shards: usize,
    pub io: &'static str,
    /// carrier-a's `transfer`: "refer" or "local".
    pub transfer: &'static str,
    /// carrier-a's `on_refer_failure`: "local" or "reject".
    pub on_refer_failure: &'static str,
    pub carrier_codec: &'static str,
    pub partner_codec: &'static str,
    pub refer_timeout_ms: u64,
    pub audit: String,
}

/// Numbers starting with this are routed from the platform to the partner trunk.
pub const PARTNER_PREFIX: &str = "1555987";
/// The blind-transfer target: national format, to show normalisation to E.164.
pub const BLIND_TARGET: &str = "<sip:5559876543@platform.example;user=phone>";
/// The attended transfer's second call (routed to the carrier).
pub const CONSULT_NUMBER: &str = "+15552220000";

impl DemoSettings {
    pub fn config_text(&self) -> String {
        format!(
            r#"[sbc]
listen = "{sip}"
advertise = "127.0.0.1"
admin = "off"
options_interval_s = 0
shards = {shards}
io = "{io}"
media_ports = [{media}, {media_end}]
audit = "{audit}"
refer_timeout_ms = {refer_timeout}
drain_s = 2

[[trunk]]
name = "carrier-a"
peer = "{carrier}"
transfer = "{transfer}"
on_refer_failure = "{on_failure}"
refer_domain = "trunk.carrier-a.example"
country_code = "1"
codecs = ["{carrier_codec}"]
ringback = "local"
ringback_tone = "us"

[[trunk]]
name = "platform"
role = "platform"
peer = "{platform}"
transfer = "refer"
country_code = "1"
codecs = ["PCMU", "PCMA"]

[[trunk]]
name = "partner"
peer = "{partner}"
transfer = "local"
country_code = "1"
codecs = ["{partner_codec}"]

[[route]]
from = "carrier-a"
to = "platform"

[[route]]
from = "platform"
prefix = "{PARTNER_PREFIX}"
to = "partner"

[[route]]
from = "platform"
to = "carrier-a"
"#,
            sip = self.sip,
            shards = self.shards,
            io = self.io,
            media = self.media_ports.0,
            media_end = self.media_ports.1,
            audit = self.audit,
            refer_timeout = self.refer_timeout_ms,
            carrier = self.carrier,
            transfer = self.transfer,
            on_failure = self.on_refer_failure,
            carrier_codec = self.carrier_codec,
            platform = self.platform,
            partner = self.partner,
            partner_codec = self.partner_codec,
        )
    }
}

/// The three agents, bound on loopback, pointed at `handoff`.
pub fn cast(
    handoff: SocketAddr,
    carrier_law: G711Law,
    partner_law: G711Law,
) -> std::io::Result<Cast> {
    let mut agents = vec![
        Agent::bind("carrier-a", 0, carrier_law)?,
        Agent::bind("platform", 0, G711Law::Ulaw)?,
        Agent::bind("partner", 0, partner_law)?,
    ];
    for agent in &mut agents {
        agent.handoff = handoff;
    }
    Ok(Cast { agents })
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot bind the demo agents' sockets on loopback: {0}")]
    Bind(std::io::Error),
    #[error("the demo config is invalid (a bug in the demo): {0}")]
    Config(String),
    #[error("handoff did not start: {0}")]
    Start(#[from] RunError),
    #[error("writing the demo output failed: {0}")]
    Output(#[from] std::io::Error),
}

/// How the demo ended: `ok` when every flow reached its expected outcome.
#[derive(Debug)]
pub struct DemoReport {
    pub ok: bool,
    pub handed_off: usize,
    pub fallback_local: usize,
    pub sessions_saved: u64,
}

struct FlowCheck {
    title: &'static str,
    failures: Vec<String>,
}

impl FlowCheck {
    fn expect(&mut self, condition: bool, what: &str) {
        if !condition {
            self.failures.push(what.to_owned());
        }
    }
}

/// Runs the demo, writing everything to `out`. The audit file is written to (and left in)
/// `$TMPDIR/handoff-demo-PID/audit.jsonl`; its path is printed.
pub fn run(out: &mut dyn Write) -> Result<DemoReport, DemoError> {
    let dir = std::env::temp_dir().join(format!("handoff-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let audit_path = dir.join("audit.jsonl");
    let _ = std::fs::remove_file(&audit_path);
    let mut cast = cast(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        G711Law::Ulaw,
        G711Law::Alaw,
    )
    .map_err(DemoError::Bind)?;
    let sip = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(DemoError::Bind)?;
    for agent in &mut cast.agents {
        agent.handoff = sip;
    }
    let settings = DemoSettings {
        sip,
        carrier: cast[flows::CARRIER].addr(),
        platform: cast[flows::PLATFORM].addr(),
        partner: cast[flows::PARTNER].addr(),
        media_ports: (8400, 8440),
        shards: 2,
        io: "epoll",
        transfer: "refer",
        on_refer_failure: "local",
        carrier_codec: "PCMU",
        partner_codec: "PCMA",
        refer_timeout_ms: 2000,
        audit: audit_path.display().to_string(),
    };
    let config = Config::from_toml_str(&settings.config_text(), "<demo config>")
        .map_err(|e| DemoError::Config(format!("{e:?}")))?;
    writeln!(
        out,
        "handoff demo: handoff on {sip}, carrier-a on {}, platform on {}, partner on {}\n",
        settings.carrier, settings.platform, settings.partner
    )?;
    let mut server = Server::start(config)?;
    // The shards answer SIP at once and open their media ports just after (runtime/pool_open.rs):
    // the first call must not come before a pair is open (it would get 503 "no media ports").
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !server.media_ready() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }

    let mut checks = Vec::new();

    // 1. Blind REFER handoff.
    let origin = Instant::now();
    let mut check = FlowCheck {
        title: "1. Blind transfer, handed off to carrier-a by REFER",
        failures: Vec::new(),
    };
    let flow = BlindFlow {
        refer_to: BLIND_TARGET.to_owned(),
        carrier: CarrierAnswer::HandOff,
        target: TargetAnswer::NotReached,
        early_transferor_bye: false,
    };
    match flows::blind_transfer(&mut cast, &flow) {
        Ok(seen) => {
            let refer_to = seen
                .carrier_refer
                .as_ref()
                .and_then(|r| r.header("refer-to"))
                .unwrap_or_default()
                .to_owned();
            check.expect(
                refer_to.contains("+15559876543@trunk.carrier-a.example"),
                "Refer-To normalised to <sip:+15559876543@trunk.carrier-a.example>",
            );
            check.expect(
                seen.platform_refer_status == Some(202),
                "the platform's REFER answered 202",
            );
        }
        Err(e) => check.failures.push(e.to_string()),
    }
    print_flow(out, &check, &cast, origin)?;
    checks.push(check);

    // 2. REFER rejected 403, local fallback with ringback.
    let origin = Instant::now();
    let mut check = FlowCheck {
        title: "2. Blind transfer, REFER rejected 403 -> local transfer with ringback",
        failures: Vec::new(),
    };
    let flow = BlindFlow {
        refer_to: "<sip:+15559870000@platform.example>".to_owned(),
        carrier: CarrierAnswer::Reject(403),
        target: TargetAnswer::Answer,
        early_transferor_bye: false,
    };
    match flows::blind_transfer(&mut cast, &flow) {
        Ok(seen) => {
            check.expect(
                seen.platform_refer_status == Some(202),
                "the platform's REFER answered 202 (handoff takes over)",
            );
            let samples = decoded(&seen.ringback_rtp, G711Law::Ulaw);
            let window = &samples[..samples.len().min(4000)];
            let ringback = window.len() >= 4000
                && tone_amplitude(window, 440.0, 8000.0) > 1000.0
                && tone_amplitude(window, 480.0, 8000.0) > 1000.0;
            check.expect(ringback, "the customer hears 440+480 Hz ringback");
            check.expect(
                seen.bridged_to_target && seen.bridged_from_target,
                "customer and target bridged both ways",
            );
            check.expect(
                tone_amplitude(&seen.target_heard, 1000.0, 8000.0) > 4000.0,
                "the customer's PCMU tone reaches the target as PCMA",
            );
            check.expect(!seen.customer_got_bye, "the customer never got a BYE");
        }
        Err(e) => check.failures.push(e.to_string()),
    }
    print_flow(out, &check, &cast, origin)?;
    checks.push(check);

    // 3. Attended transfer, handed off.
    let origin = Instant::now();
    let mut check = FlowCheck {
        title: "3. Attended transfer, REFER with Replaces translated for carrier-a",
        failures: Vec::new(),
    };
    match flows::attended_transfer(&mut cast, CONSULT_NUMBER, 2, true) {
        Ok(seen) => {
            let refer_to = seen
                .carrier_refer
                .as_ref()
                .and_then(|r| r.header("refer-to"))
                .unwrap_or_default()
                .to_owned();
            check.expect(
                refer_to.contains(&flows::replaces_for(&seen)),
                "Replaces names call 2 as carrier-a knows it",
            );
            check.expect(
                seen.platform_refer_status == Some(202),
                "the platform's REFER answered 202",
            );
        }
        Err(e) => check.failures.push(e.to_string()),
    }
    print_flow(out, &check, &cast, origin)?;
    checks.push(check);

    // The agents stay live during the drain: they answer its BYEs, which handoff waits for.
    server.drain_within(Duration::from_millis(100));
    while !server.all_stopped() {
        let _ = cast.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = server.wait();

    let report = audit_summary(out, &audit_path)?;
    // The file stays: the operator may want to feed it to their log pipeline.
    writeln!(out, "The audit file is kept: {}", audit_path.display())?;
    let flows_ok = checks.iter().all(|c| c.failures.is_empty());
    let outcomes_ok = report.handed_off == 2 && report.fallback_local == 1;
    Ok(DemoReport {
        ok: flows_ok && outcomes_ok,
        ..report
    })
}

fn decoded(packets: &[Vec<u8>], law: G711Law) -> Vec<i16> {
    packets
        .iter()
        .filter(|p| p.len() > 12)
        .flat_map(|p| p[12..].iter().map(|&c| law.decode(c)).collect::<Vec<_>>())
        .collect()
}

fn print_flow(
    out: &mut dyn Write,
    check: &FlowCheck,
    cast: &Cast,
    origin: Instant,
) -> std::io::Result<()> {
    writeln!(out, "{}", check.title)?;
    write!(out, "{}", render_ladder(&cast.ladder_since(origin), origin))?;
    if check.failures.is_empty() {
        writeln!(out, "  -> as expected\n")
    } else {
        for failure in &check.failures {
            writeln!(out, "  !! NOT as expected: {failure}")?;
        }
        writeln!(out)
    }
}

/// Prints the audit's transfer records and the summary line; counts the outcomes.
fn audit_summary(out: &mut dyn Write, path: &Path) -> Result<DemoReport, DemoError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    writeln!(out, "Audit records ({}):", path.display())?;
    let mut report = DemoReport {
        ok: false,
        handed_off: 0,
        fallback_local: 0,
        sessions_saved: 0,
    };
    let mut transfers = 0;
    let mut fallback_codes = Vec::new();
    for line in text.lines() {
        writeln!(out, "  {line}")?;
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if record["type"] != "transfer" {
            continue;
        }
        transfers += 1;
        match record["outcome"].as_str() {
            Some("handed_off") => {
                report.handed_off += 1;
                report.sessions_saved += 2;
            }
            Some("fallback_local") => {
                report.fallback_local += 1;
                let code = record["refer_status"]
                    .as_u64()
                    .or_else(|| record["notify_status"].as_u64());
                let trunk = record["trunk"].as_str().unwrap_or("?");
                let mut s = String::new();
                match code {
                    Some(code) => {
                        let _ = write!(s, "{code} from {trunk}");
                    }
                    None => {
                        let _ = write!(s, "{} on {trunk}", record["reason"]);
                    }
                }
                fallback_codes.push(s);
            }
            _ => {}
        }
    }
    let fallback = if fallback_codes.is_empty() {
        format!("{} local fallback", report.fallback_local)
    } else {
        format!(
            "{} local fallback ({})",
            report.fallback_local,
            fallback_codes.join(", ")
        )
    };
    writeln!(
        out,
        "\n{transfers} transfers: {} handed off, {fallback}, {} trunk sessions saved",
        report.handed_off, report.sessions_saved
    )?;
    Ok(report)
}
