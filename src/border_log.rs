//! The refusal log line for fail2ban-style tooling: every request handoff refuses and every
//! datagram it drops (an unknown source, a stranger speaking for a dialog, a malformed or
//! oversized request) is logged at info level with its source address, at most once per source
//! per [`WINDOW`], in one fixed format ([`BorderLog::line`]):
//!
//! ```text
//! refused source=203.0.113.7 port=5060 status=drop reason=unknown_source suppressed=0 detail="..."
//! ```
//!
//! `status` is the SIP status handoff answered with, or `drop` when it answered nothing;
//! `suppressed` counts the refusals of that source not logged during the window before this line.
//! A fail2ban filter matches `refused source=<HOST> `.
//!
//! Pure: time is an input ([`BorderLog::admit`] takes `now`), so the limiter is tested by
//! driving a virtual clock. The runtime keeps one per shard; the kernel hashes one source
//! address:port to one shard, so a source that keeps its port gets one line per minute (a
//! source using many ports may get one per shard).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::vocab::{StatusCode, Time};

/// One line per source per minute.
pub const WINDOW: Time = Time::from_millis(60_000);

/// Sources remembered at once; a flood from more spoofed addresses than this is not logged
/// line by line (memory stays bounded), only counted in [`BorderLog::unlogged`].
pub const MAX_SOURCES: usize = 4096;

#[derive(Copy, Clone, Debug)]
struct Seen {
    logged_at: Time,
    suppressed: u64,
}

/// The per-source rate limiter of the refusal log line.
#[derive(Debug, Default)]
pub struct BorderLog {
    seen: HashMap<IpAddr, Seen>,
    unlogged: u64,
}

impl BorderLog {
    pub fn new() -> BorderLog {
        BorderLog::default()
    }

    /// Whether a refusal of `source` at `now` gets a log line: `Some(suppressed)` (how many of
    /// its refusals went unlogged since its last line) when the source had no line in the last
    /// [`WINDOW`], `None` otherwise (counted for its next line).
    pub fn admit(&mut self, now: Time, source: IpAddr) -> Option<u64> {
        let expired = |seen: &Seen| now.0.saturating_sub(seen.logged_at.0) >= WINDOW.0;
        if let Some(seen) = self.seen.get_mut(&source) {
            if !expired(seen) {
                seen.suppressed += 1;
                return None;
            }
            let suppressed = seen.suppressed;
            *seen = Seen {
                logged_at: now,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if self.seen.len() >= MAX_SOURCES {
            self.seen.retain(|_, seen| !expired(seen));
            if self.seen.len() >= MAX_SOURCES {
                self.unlogged += 1;
                return None;
            }
        }
        self.seen.insert(
            source,
            Seen {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }

    /// Refusals not logged because [`MAX_SOURCES`] sources were already remembered.
    pub fn unlogged(&self) -> u64 {
        self.unlogged
    }

    /// The line's text (see the module doc). `status`: `None` for a drop; `detail` is quoted
    /// with `"` and `\` replaced, so one refusal is one line whatever the peer sent.
    pub fn line(
        source: SocketAddr,
        status: Option<StatusCode>,
        reason: &str,
        suppressed: u64,
        detail: &str,
    ) -> String {
        let status = status.map_or_else(|| "drop".to_string(), |s| s.to_string());
        let detail: String = detail
            .chars()
            .map(|c| match c {
                '"' | '\\' => '\'',
                c if c.is_control() => ' ',
                c => c,
            })
            .take(200)
            .collect();
        format!(
            "refused source={} port={} status={status} reason={reason} suppressed={suppressed} detail=\"{detail}\"",
            source.ip(),
            source.port()
        )
    }
}
