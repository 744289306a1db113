//! The audit log: one JSON object per line, for operators' log pipelines.
//!
//! Records: `call_end` (one per call) and `transfer` (one per transfer attempt, built by
//! [`crate::transfer::TransferRecord`] and written with [`AuditWriter::write_record`]). Every
//! record is written with a single `write` on a file opened with O_APPEND, so each shard holds
//! its own handle and lines from different shards never interleave, without a lock. Nothing is
//! buffered: a record is on its way to disk the moment the call ends. A failed write is logged
//! loudly and counted; it never affects calls.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::core::CallEnd;
use crate::transfer::record::rfc3339_from_unix_ms;
use crate::vocab::MediaCounters;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit log {path} (sbc.audit) for appending: {source}")]
pub struct AuditOpenError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

enum Sink {
    File(File),
    Stdout,
}

/// Shared counters of all the clones of one writer.
#[derive(Debug, Default)]
pub struct AuditCounters {
    pub written: AtomicU64,
    pub write_errors: AtomicU64,
}

pub struct AuditWriter {
    sink: Sink,
    path: Arc<str>,
    counters: Arc<AuditCounters>,
    line: Vec<u8>,
}

#[derive(Serialize)]
struct CallEndRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// RFC 3339 (UTC, milliseconds), when the record was written.
    ts: String,
    /// "<shard>-<seq>": unique for the process's lifetime.
    call: String,
    conversation: &'a str,
    from_trunk: &'a str,
    to_trunk: &'a str,
    setup_status: u16,
    end_reason: &'a str,
    duration_ms: u64,
    /// Packets relayed per direction (null when the call never had media).
    packets: Option<PacketsRecord>,
    /// The relay's full counters.
    media: Option<MediaRecord>,
}

#[derive(Serialize)]
struct PacketsRecord {
    a_to_b: u64,
    b_to_a: u64,
}

#[derive(Serialize)]
struct MediaRecord {
    a_to_b_packets: u64,
    a_to_b_bytes: u64,
    b_to_a_packets: u64,
    b_to_a_bytes: u64,
    dropped: u64,
    dropped_foreign_source: u64,
}

impl From<MediaCounters> for MediaRecord {
    fn from(m: MediaCounters) -> Self {
        MediaRecord {
            a_to_b_packets: m.a_to_b_packets,
            a_to_b_bytes: m.a_to_b_bytes,
            b_to_a_packets: m.b_to_a_packets,
            b_to_a_bytes: m.b_to_a_bytes,
            dropped: m.dropped,
            dropped_foreign_source: m.dropped_foreign_source,
        }
    }
}

impl AuditWriter {
    /// Opens `path` for appending (created if missing); "-" writes to stdout.
    pub fn open(path: &str) -> Result<AuditWriter, AuditOpenError> {
        let sink = if path == "-" {
            Sink::Stdout
        } else {
            Sink::File(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| AuditOpenError {
                        path: PathBuf::from(path),
                        source,
                    })?,
            )
        };
        Ok(AuditWriter {
            sink,
            path: Arc::from(path),
            counters: Arc::new(AuditCounters::default()),
            line: Vec::with_capacity(512),
        })
    }

    /// Another handle on the same log (one per shard), sharing the counters.
    pub fn try_clone(&self) -> io::Result<AuditWriter> {
        let sink = match &self.sink {
            Sink::File(f) => Sink::File(f.try_clone()?),
            Sink::Stdout => Sink::Stdout,
        };
        Ok(AuditWriter {
            sink,
            path: self.path.clone(),
            counters: self.counters.clone(),
            line: Vec::with_capacity(512),
        })
    }

    pub fn counters(&self) -> &Arc<AuditCounters> {
        &self.counters
    }

    /// Writes the `call_end` record of a finished call.
    pub fn write_call_end(&mut self, end: &CallEnd) {
        let record = CallEndRecord {
            kind: "call_end",
            ts: rfc3339_from_unix_ms(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            ),
            call: format!("{}-{}", end.call.shard.0, end.call.seq),
            conversation: &end.conversation,
            from_trunk: &end.from_trunk,
            to_trunk: &end.to_trunk,
            setup_status: end.setup_status,
            end_reason: end.end_reason.as_str(),
            duration_ms: end.duration_ms,
            packets: end.media.map(|m| PacketsRecord {
                a_to_b: m.a_to_b_packets,
                b_to_a: m.b_to_a_packets,
            }),
            media: end.media.map(MediaRecord::from),
        };
        self.write_record(&record);
    }

    /// Writes any serializable record as one line (used for transfer records too).
    pub fn write_record<T: Serialize>(&mut self, record: &T) {
        self.line.clear();
        if let Err(error) = serde_json::to_writer(&mut self.line, record) {
            self.failed(&io::Error::other(error));
            return;
        }
        self.line.push(b'\n');
        let result = match &mut self.sink {
            Sink::File(f) => f.write_all(&self.line),
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&self.line).and_then(|()| out.flush())
            }
        };
        match result {
            Ok(()) => {
                self.counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.failed(&error),
        }
    }

    fn failed(&self, error: &io::Error) {
        let total = self.counters.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            path = %self.path,
            %error,
            failed_records = total,
            "AUDIT RECORD LOST: writing the audit log failed"
        );
    }
}
