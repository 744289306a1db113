//! The `handoff` binary: run the SBC, or check a config file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use handoff::config::{Config, ConfigLoadError};
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Exit status for an invalid or unreadable config.
const EXIT_INVALID_CONFIG: u8 = 2;

/// handoff: a SIP session border controller (B2BUA with an RTP relay) that makes call transfers
/// across carrier boundaries work.
///
/// Without a subcommand, handoff runs: it loads the config (the embedded default when no
/// --config is given), starts one shard per CPU on `sbc.listen` and serves. An invalid config is
/// reported as by `check` (one `file:line:col: message` per problem) and exits 2.
///
/// Signals: SIGHUP re-reads the --config file and applies it to new calls (an invalid file is
/// refused and the running config stays); SIGUSR1 reopens the audit file (after logrotate renamed
/// it; no copytruncate needed); SIGTERM or SIGINT (Ctrl-C) drain: new calls get 503,
/// calls up continue for at most `sbc.drain_s` seconds, then get BYE; handoff exits once those
/// BYEs are answered or timed out (64*T1), with every audit record written. While draining it logs
/// "N calls left, T s to go" every 5 s. A second Ctrl-C (or SIGTERM) does not wait for drain_s: it
/// sends the BYEs at once, and handoff exits when they are answered.
#[derive(Parser, Debug)]
#[command(name = "handoff", version)]
struct Cli {
    /// Config file (TOML). Without it, the embedded default (config/default.toml: two loopback
    /// trunks on 127.0.0.1:5070 and :5080) is used.
    #[arg(long, short, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace (default: info; for demo: warn). At info,
    /// one line per call end and per transfer, with the conversation id; at trace, every SIP
    /// message sent and received.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<tracing::Level>,

    /// Log format on stderr: text (the default: one human-readable line per event) or json (one
    /// JSON object per line: "timestamp", "level", "target", "message" and each field at the top
    /// level; call-related lines carry the call's "conversation" id, the one the audit records
    /// carry).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr, at `level`, in `format` (colours only as text on a terminal).
fn init_logging(level: tracing::Level, format: LogFormat) {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::prelude::*;
    // The level sits behind a reload handle: the admin API changes it at run time.
    let (filter, handle) = tracing_subscriber::reload::Layer::new(LevelFilter::from_level(level));
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => registry
            .with(layer.with_ansi(std::io::stderr().is_terminal()))
            .init(),
        // One object per event, fields at the top level (tracing-subscriber's json feature):
        // what log shippers index without a nested "fields" object.
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_ansi(false),
            )
            .init(),
    }
    handoff::admin::install_log_level(
        LevelFilter::from_level(level),
        Box::new(move |new| {
            handle
                .modify(|filter| *filter = new)
                .map_err(|e| e.to_string())
        }),
    );
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file and exit.
    ///
    /// Checks the file and that this host can run it: the audit path can be written, the listed
    /// cpus exist, the SIP, media and admin ports can be bound, and an admin listener off
    /// loopback is refused (it has no token). Prints "ok: N trunks, M routes" and exits 0 when
    /// all is well. Otherwise prints every problem found as `file:line:col: message` on stderr
    /// and exits 2. `handoff check FILE` is `handoff check --config FILE`; without either, checks
    /// the embedded default.
    Check {
        /// Config file to check (same as --config).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Show what handoff does: starts handoff on loopback with a demo config, plus simulated
    /// carrier, platform and partner agents (real SIP and RTP over loopback sockets), and runs a
    /// blind REFER handoff, a REFER rejected 403 that falls back to a local transfer with
    /// ringback, and an attended transfer. Prints each flow as a ladder, the audit records and a
    /// summary; exits 0 when every flow reached its expected outcome, 1 otherwise. The audit
    /// file is kept and its path printed. --log-level applies (default warn); --config is
    /// refused: the demo brings its own.
    Demo,
    /// Ask each trunk what it supports: sends one OPTIONS per trunk (from sbc.listen, or from an
    /// ephemeral port of its address while handoff runs there), retransmitted per RFC 3261
    /// Timer E, and prints a table: trunk, peer, reachable (status), round trip, whether Allow
    /// lists REFER, whether Supported lists replaces, tdialog and norefersub, and the transfer
    /// method the config uses; then a warning per trunk that needs a look (no answer, a failure
    /// status, or transfer = "refer" toward a carrier whose Allow has no REFER). Exits 0 when
    /// there is no warning, 1 otherwise.
    ///
    /// With --test-transfer NUMBER (and a TRUNK): places a real test call to the trunk (to
    /// --call-to, default NUMBER), REFERs it to NUMBER as handoff would (E.164 in the trunk's
    /// refer_domain), and reports the INVITE's and the REFER's final responses, the NOTIFYs'
    /// sipfrag codes, and whether the carrier released the call with BYE (it took the call over).
    /// Hangs up if it did not. Exits 0 when the carrier released the call, 1 otherwise.
    Probe {
        /// Probe only this trunk.
        #[arg(value_name = "TRUNK")]
        trunk: Option<String>,
        /// How long to wait for the OPTIONS answers, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
        /// Place a test call and REFER it to this number (needs TRUNK).
        #[arg(long, value_name = "NUMBER", requires = "trunk")]
        test_transfer: Option<String>,
        /// The number the test call dials (default: the --test-transfer number).
        #[arg(long, value_name = "NUMBER", requires = "test_transfer")]
        call_to: Option<String>,
        /// How long to wait, after the REFER is accepted, for the carrier's NOTIFYs and BYE.
        #[arg(long, value_name = "S", default_value_t = 30)]
        transfer_timeout_s: u64,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    let mut cli = Cli::parse();
    if let Some(Command::Check { file: Some(file) }) = &cli.command {
        if cli.config.as_ref().is_some_and(|config| config != file) {
            eprintln!("handoff check: give the file once, as FILE or as --config, not both");
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
        cli.config = Some(file.clone());
    }
    if let Some(Command::Demo) = cli.command {
        if cli.config.is_some() {
            eprintln!(
                "handoff demo: --config is not used: the demo runs its own config on loopback \
                 (run `handoff --config FILE` to serve yours)"
            );
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
        init_logging(
            cli.log_level.unwrap_or(tracing::Level::WARN),
            cli.log_format,
        );
        let report = handoff::demo::run(&mut std::io::stdout().lock()).context("demo failed")?;
        return Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let config = match load(cli.config.as_ref()) {
        Ok(config) => config,
        Err(error) => {
            report(&error);
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
    };
    match cli.command {
        // Handled above, before the config is loaded: the demo writes its own.
        Some(Command::Demo) => Ok(ExitCode::FAILURE),
        Some(Command::Probe {
            trunk,
            timeout_ms,
            test_transfer,
            call_to,
            transfer_timeout_s,
        }) => {
            let mut timers = handoff::probe::ProbeTimers {
                t1: std::time::Duration::from_millis(config.sbc.timers.t1_ms),
                t2: std::time::Duration::from_millis(config.sbc.timers.t2_ms),
                timeout: std::time::Duration::from_millis(timeout_ms),
            };
            if let (Some(number), Some(trunk)) = (test_transfer, trunk.as_deref()) {
                timers.timeout = std::time::Duration::from_secs(transfer_timeout_s);
                let call_to = call_to.unwrap_or_else(|| number.clone());
                return match handoff::probe::test_transfer(
                    &config, trunk, &call_to, &number, timers,
                ) {
                    Ok(report) => {
                        print!("{}", report.render(trunk));
                        Ok(if report.released_by_carrier {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::FAILURE
                        })
                    }
                    Err(error) => {
                        eprintln!("handoff probe: {error}");
                        Ok(ExitCode::FAILURE)
                    }
                };
            }
            let (results, from) = match handoff::probe::probe(&config, trunk.as_deref(), timers) {
                Ok(found) => found,
                Err(error) => {
                    eprintln!("handoff probe: {error}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            println!("probed from {from}");
            print!("{}", handoff::probe::render_table(&results));
            Ok(if results.iter().all(|r| r.warning().is_none()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Check { .. }) => {
            let (text, shown) = match &cli.config {
                Some(path) => (
                    std::fs::read_to_string(path).unwrap_or_default(),
                    path.display().to_string(),
                ),
                None => (
                    handoff::config::DEFAULT_CONFIG.to_owned(),
                    "<embedded default.toml>".to_owned(),
                ),
            };
            let problems = handoff::preflight::host_problems(&config, &text, &shown);
            if !problems.is_empty() {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
            }
            for warning in config.warnings() {
                eprintln!("warning: {warning}");
            }
            // What the running process will do (it says again at start-up whether the kernel
            // took the steering program).
            println!(
                "sip steering: {}",
                handoff::runtime::steering::Steering::planned(
                    config.sbc.sip_steering,
                    config.resolved_shard_count(),
                    &config.sbc.cpus,
                )
            );
            println!(
                "ok: {} trunks, {} routes",
                config.trunks.len(),
                config.routes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            init_logging(
                cli.log_level.unwrap_or(tracing::Level::INFO),
                cli.log_format,
            );
            let source = cli
                .config
                .as_ref()
                .map_or("embedded default".to_owned(), |p| p.display().to_string());
            tracing::info!(config = %source, shards = config.resolved_shard_count(), "starting");
            if let Err(error) = handoff::server::run_with(config, cli.config.clone()) {
                // The error's text already names its cause: print it once, without a chain.
                eprintln!("handoff: {error}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(path: Option<&PathBuf>) -> Result<Config, ConfigLoadError> {
    match path {
        Some(path) => Config::load(path),
        None => Ok(Config::from_toml_str(
            handoff::config::DEFAULT_CONFIG,
            "<embedded default.toml>",
        )?),
    }
}

fn report(error: &ConfigLoadError) {
    match error {
        ConfigLoadError::Invalid(errors) => {
            for error in errors.iter() {
                eprintln!("{error}");
            }
        }
        ConfigLoadError::Read { .. } => eprintln!("{error}"),
    }
}
