//! The audit log: one JSON object per line, for operators' log pipelines.
//!
//! Records: `call_end` (one per call), `transfer` (one per transfer attempt, built by
//! [`crate::transfer::TransferRecord`]) and `request_rejected` (a request refused before any call
//! existed, with the requester's source address).
//!
//! Off the hot path. The shards never write: each holds an [`AuditSender`] and hands records to
//! one writer thread ([`AuditLog`]) through a bounded queue (`sbc.audit_queue` records). Handing
//! over never blocks: when the queue is full (the disk has fallen that far behind), the record is
//! dropped, counted ([`AuditCounters::dropped`], `handoff_audit_dropped_total`) and logged at
//! error level with its type and conversation, so a slow disk never stalls signalling or RTP and
//! a lost record is never silent. The writer writes each record as soon as it has it, as one
//! `write` on a file opened with O_APPEND (so lines never interleave, even with another writer on
//! the same file): nothing is buffered in the process. [`AuditLog::close`] (at exit, after the
//! shards stopped) writes everything still queued. A failed write is logged loudly and counted;
//! it never affects calls.
//!
//! [`AuditWriter`] is the synchronous line writer the thread uses; on its own it is for tools and
//! tests.
//!
//! Log rotation: [`AuditLog::reopen`] (SIGUSR1 in `handoff run`) makes the writer close the file
//! and open the path again before its next record, so logrotate can rename the file and signal,
//! with no `copytruncate` (which loses the lines written between the copy and the truncate).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam::channel::{Receiver, Sender, TrySendError};
use serde::Serialize;

use crate::core::CallEnd;
use crate::transfer::TransferRecord;
use crate::transfer::record::rfc3339_from_unix_ms;
use crate::vocab::{MediaCounters, StatusCode};

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
    /// Any writer (tests: a sink that blocks or fails on demand).
    Custom(Box<dyn Write + Send>),
}

/// Counters of one audit log, shared by its writer and every sender.
#[derive(Debug, Default)]
pub struct AuditCounters {
    /// Records written to the sink.
    pub written: AtomicU64,
    /// Records the sink refused (the write failed; logged as "AUDIT RECORD LOST").
    pub write_errors: AtomicU64,
    /// Records dropped because the queue to the writer was full (`audit_dropped`; logged as
    /// "AUDIT RECORD DROPPED").
    pub dropped: AtomicU64,
}

impl AuditCounters {
    /// The counters in the Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            (
                "handoff_audit_written_total",
                "Audit records written.",
                &self.written,
            ),
            (
                "handoff_audit_dropped_total",
                "Audit records dropped because the queue to the audit writer was full.",
                &self.dropped,
            ),
            (
                "handoff_audit_lost_total",
                "Audit records the audit log refused (failed writes).",
                &self.write_errors,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// Writes records as JSON lines, synchronously, one `write` per record.
pub struct AuditWriter {
    sink: Sink,
    path: Arc<str>,
    counters: Arc<AuditCounters>,
    line: Vec<u8>,
    /// Inside a batch (the writer thread's, [`AuditWriter::begin_batch`]): the records in
    /// `line` not yet written, which [`AuditWriter::end_batch`] writes with one write.
    batch: Option<u64>,
}

#[derive(Serialize)]
struct CallEndRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// RFC 3339 (UTC, milliseconds), when the call ended.
    ts: String,
    /// "<shard>-<seq>": unique for the process's lifetime.
    call: String,
    conversation: &'a str,
    /// The conversation this call continues (`X-Conversation-ID` from a trunk); absent
    /// when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    linked_conversation: Option<&'a str>,
    from_trunk: &'a str,
    to_trunk: &'a str,
    setup_status: u16,
    end_reason: &'a str,
    duration_ms: u64,
    /// Packets relayed per direction (null when the call never had media).
    packets: Option<PacketsRecord>,
    /// The relay's full counters.
    media: Option<MediaRecord>,
    calling: &'a str,
    called: &'a str,
    /// RFC 3339: when the initial INVITE arrived, and when the call was answered (null: never).
    started: &'a str,
    answered: Option<&'a str>,
    /// Every leg the call had: trunk, role, Call-ID.
    legs: &'a [crate::core::EndedLeg],
    /// A re-INVITE handoff originated failed for good (RFC 3261 section 14.1): its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    reinvite_failed: Option<u16>,
}

#[derive(Serialize)]
struct RejectedRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    /// The requester's source address, `"ip:port"`.
    source: SocketAddr,
    status: u16,
    reason: &'a str,
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

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
        Ok(AuditWriter::with_sink_kind(sink, path))
    }

    /// Writes to `sink`; `name` stands for it in log lines.
    pub fn with_sink(sink: Box<dyn Write + Send>, name: &str) -> AuditWriter {
        AuditWriter::with_sink_kind(Sink::Custom(sink), name)
    }

    fn with_sink_kind(sink: Sink, name: &str) -> AuditWriter {
        AuditWriter {
            sink,
            batch: None,
            path: Arc::from(name),
            counters: Arc::new(AuditCounters::default()),
            line: Vec::with_capacity(512),
        }
    }

    /// Another handle on the same log file, sharing the counters (a custom sink cannot be
    /// cloned: `Unsupported`).
    pub fn try_clone(&self) -> io::Result<AuditWriter> {
        let sink = match &self.sink {
            Sink::File(f) => Sink::File(f.try_clone()?),
            Sink::Stdout => Sink::Stdout,
            Sink::Custom(_) => return Err(io::ErrorKind::Unsupported.into()),
        };
        Ok(AuditWriter {
            sink,
            path: self.path.clone(),
            counters: self.counters.clone(),
            line: Vec::with_capacity(512),
            batch: None,
        })
    }

    pub fn counters(&self) -> &Arc<AuditCounters> {
        &self.counters
    }

    /// Opens the path again (a file sink only): the old file was renamed by logrotate. On
    /// failure the old handle stays, so records still land somewhere, and the error is logged.
    pub fn reopen(&mut self) {
        if !matches!(self.sink, Sink::File(_)) {
            return;
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*self.path)
        {
            Ok(file) => {
                self.sink = Sink::File(file);
                tracing::info!(path = %self.path, "audit log reopened");
            }
            Err(error) => tracing::error!(
                path = %self.path,
                %error,
                "cannot reopen the audit log; still writing to the old file"
            ),
        }
    }

    /// Writes the `call_end` record of a finished call, stamped now.
    pub fn write_call_end(&mut self, end: &CallEnd) {
        self.write_call_end_at(end, unix_ms_now());
    }

    fn write_call_end_at(&mut self, end: &CallEnd, unix_ms: u64) {
        let record = CallEndRecord {
            kind: "call_end",
            ts: rfc3339_from_unix_ms(unix_ms),
            call: format!("{}-{}", end.call.shard.0, end.call.seq),
            conversation: &end.conversation,
            linked_conversation: end.linked_conversation.as_deref(),
            from_trunk: &end.from_trunk,
            to_trunk: &end.to_trunk,
            setup_status: end.setup_status.map_or(0, StatusCode::as_u16),
            end_reason: end.end_reason.as_str(),
            duration_ms: end.duration_ms,
            packets: end.media.map(|m| PacketsRecord {
                a_to_b: m.a_to_b_packets,
                b_to_a: m.b_to_a_packets,
            }),
            media: end.media.map(MediaRecord::from),
            calling: &end.calling,
            called: &end.called,
            started: &end.started,
            answered: end.answered.as_deref(),
            legs: &end.legs,
            reinvite_failed: end.reinvite_failed.map(StatusCode::as_u16),
        };
        self.write_record(&record);
    }

    /// Writes one queued record.
    pub fn write(&mut self, record: &AuditRecord) {
        match record {
            AuditRecord::CallEnd { end, unix_ms } => self.write_call_end_at(end, *unix_ms),
            AuditRecord::Transfer(record) => self.write_record(&**record),
            AuditRecord::Rejected {
                source,
                status,
                reason,
                unix_ms,
            } => self.write_record(&RejectedRecord {
                kind: "request_rejected",
                ts: rfc3339_from_unix_ms(*unix_ms),
                source: *source,
                status: status.as_u16(),
                reason,
            }),
        }
    }

    /// Writes any serializable record as one line (used for transfer records too); inside a
    /// batch, adds it to the batch.
    pub fn write_record<T: Serialize>(&mut self, record: &T) {
        let start = if self.batch.is_some() {
            self.line.len()
        } else {
            self.line.clear();
            0
        };
        if let Err(error) = serde_json::to_writer(&mut self.line, record) {
            self.line.truncate(start);
            self.failed(&io::Error::other(error), 1);
            return;
        }
        self.line.push(b'\n');
        match &mut self.batch {
            Some(records) => *records += 1,
            None => self.write_lines(1),
        }
    }

    /// Starts a batch: the records written until [`AuditWriter::end_batch`] go out in one
    /// write (the writer thread's records queued together: one system call, not one each).
    pub fn begin_batch(&mut self) {
        if self.batch.is_none() {
            self.line.clear();
            self.batch = Some(0);
        }
    }

    /// Writes the batch's records (one write) and leaves batch mode.
    pub fn end_batch(&mut self) {
        if let Some(records) = self.batch.take()
            && records > 0
        {
            self.write_lines(records);
        }
        self.line.clear();
    }

    /// Writes `line` (`records` whole lines) to the sink and counts them written or lost.
    fn write_lines(&mut self, records: u64) {
        let result = match &mut self.sink {
            Sink::File(f) => f.write_all(&self.line),
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&self.line).and_then(|()| out.flush())
            }
            Sink::Custom(w) => w.write_all(&self.line).and_then(|()| w.flush()),
        };
        match result {
            Ok(()) => {
                self.counters.written.fetch_add(records, Ordering::Relaxed);
            }
            Err(error) => self.failed(&error, records),
        }
    }

    fn failed(&self, error: &io::Error, records: u64) {
        let total = self
            .counters
            .write_errors
            .fetch_add(records, Ordering::Relaxed)
            + records;
        tracing::error!(
            path = %self.path,
            %error,
            failed_records = total,
            "AUDIT RECORD LOST: writing the audit log failed"
        );
    }
}

/// A record on its way to the writer thread: the event, stamped with the wall-clock time it
/// happened; serialised by the writer, off the shard.
#[derive(Clone, Debug)]
pub enum AuditRecord {
    CallEnd {
        end: Box<CallEnd>,
        unix_ms: u64,
    },
    Transfer(Box<TransferRecord>),
    /// A request refused before any call existed (403, 400, 404, 503...).
    Rejected {
        source: SocketAddr,
        status: StatusCode,
        reason: String,
        unix_ms: u64,
    },
}

impl AuditRecord {
    /// The `type` field of the record's line.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditRecord::CallEnd { .. } => "call_end",
            AuditRecord::Transfer(_) => "transfer",
            AuditRecord::Rejected { .. } => "request_rejected",
        }
    }

    /// What names the record in a log line when it is dropped.
    fn subject(&self) -> String {
        match self {
            AuditRecord::CallEnd { end, .. } => format!(
                "call {}-{} conversation {}",
                end.call.shard.0, end.call.seq, end.conversation
            ),
            AuditRecord::Transfer(record) => format!("conversation {}", record.conversation),
            AuditRecord::Rejected { source, status, .. } => format!("{status} to {source}"),
        }
    }
}

/// A shard's handle on the audit log: hands records to the writer thread and never blocks.
#[derive(Clone)]
pub struct AuditSender {
    queue: Sender<AuditRecord>,
    counters: Arc<AuditCounters>,
    path: Arc<str>,
}

impl AuditSender {
    /// Queues `record` for the writer. `false` when it was dropped (queue full, or the writer
    /// gone): then it is counted in `dropped` and logged at error level. Never blocks.
    pub fn send(&self, record: AuditRecord) -> bool {
        let (record, why) = match self.queue.try_send(record) {
            Ok(()) => return true,
            Err(TrySendError::Full(record)) => (record, "the audit queue is full"),
            Err(TrySendError::Disconnected(record)) => (record, "the audit writer has stopped"),
        };
        let total = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            path = %self.path,
            record = record.kind(),
            subject = %record.subject(),
            audit_dropped = total,
            capacity = self.queue.capacity().unwrap_or(0),
            "AUDIT RECORD DROPPED: {why} (the audit log is not keeping up)"
        );
        false
    }

    /// Queues the `call_end` record of a finished call, stamped now.
    pub fn call_end(&self, end: CallEnd) -> bool {
        self.send(AuditRecord::CallEnd {
            end: Box::new(end),
            unix_ms: unix_ms_now(),
        })
    }

    /// Queues a transfer attempt's record.
    pub fn transfer(&self, record: Box<TransferRecord>) -> bool {
        self.send(AuditRecord::Transfer(record))
    }

    /// Queues the record of a request refused before any call existed, stamped now.
    pub fn rejected(&self, source: SocketAddr, status: StatusCode, reason: String) -> bool {
        self.send(AuditRecord::Rejected {
            source,
            status,
            reason,
            unix_ms: unix_ms_now(),
        })
    }

    pub fn counters(&self) -> &Arc<AuditCounters> {
        &self.counters
    }

    /// Records waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

/// The audit writer thread and its queue.
pub struct AuditLog {
    sender: AuditSender,
    thread: Option<JoinHandle<()>>,
    /// Set by [`AuditLog::reopen`]; the writer reopens its file before its next record, or
    /// within `REOPEN_CHECK` when the queue is idle.
    reopen: Arc<AtomicBool>,
}

/// How often an idle writer looks at a pending reopen.
const REOPEN_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// How long the writer lets records gather after the first of a batch before it writes them
/// all with one write: one system call (and one wake-up of the writer) per millisecond of call
/// ends instead of one per call end. Skipped when the queue is already half full.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

impl AuditLog {
    /// Opens `path` (as [`AuditWriter::open`]) and starts the writer thread behind a queue of
    /// `capacity` records.
    pub fn open(path: &str, capacity: usize) -> Result<AuditLog, AuditOpenError> {
        let writer = AuditWriter::open(path)?;
        AuditLog::start(writer, capacity).map_err(|source| AuditOpenError {
            path: PathBuf::from(path),
            source,
        })
    }

    /// Starts the writer thread over `writer` behind a queue of `capacity` records (at least 1).
    pub fn start(mut writer: AuditWriter, capacity: usize) -> io::Result<AuditLog> {
        let (queue, records): (Sender<AuditRecord>, Receiver<AuditRecord>) =
            crossbeam::channel::bounded(capacity.max(1));
        let sender = AuditSender {
            queue,
            counters: writer.counters.clone(),
            path: writer.path.clone(),
        };
        let reopen = Arc::new(AtomicBool::new(false));
        let reopen_requested = reopen.clone();
        let thread = std::thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || {
                // Ends when every sender is gone and the queue is empty.
                loop {
                    let next = records.recv_timeout(REOPEN_CHECK);
                    if reopen_requested.swap(false, Ordering::Relaxed) {
                        writer.reopen();
                    }
                    match next {
                        Ok(record) => {
                            if records.len() < records.capacity().unwrap_or(1) / 2 {
                                std::thread::sleep(BATCH_WINDOW);
                            }
                            writer.begin_batch();
                            writer.write(&record);
                            // What is queued now, and no more: a writer behind a queue that
                            // never empties still reopens its file and writes as it goes.
                            for _ in 0..records.len() {
                                let Ok(record) = records.try_recv() else {
                                    break;
                                };
                                writer.write(&record);
                            }
                            writer.end_batch();
                        }
                        Err(crossbeam::channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam::channel::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(AuditLog {
            sender,
            thread: Some(thread),
            reopen,
        })
    }

    /// Asks the writer to close the file and open its path again (after logrotate renamed it).
    /// Records queued meanwhile go to the new file; none is lost.
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// A handle for one shard.
    pub fn sender(&self) -> AuditSender {
        self.sender.clone()
    }

    pub fn counters(&self) -> &Arc<AuditCounters> {
        &self.sender.counters
    }

    /// Writes everything still queued and stops the thread. Waits for every other
    /// [`AuditSender`] to be dropped first (the shards', when they stop). Dropped without
    /// `close`, the thread goes on alone until the last sender is gone.
    pub fn close(mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let queued = self.sender.queued();
        if queued > 0 {
            tracing::info!(queued, "writing the audit records still queued");
        }
        // Dropping our sender (replaced by a disconnected one) lets the thread end.
        let (orphan, _) = crossbeam::channel::bounded(1);
        drop(std::mem::replace(&mut self.sender.queue, orphan));
        if thread.join().is_err() {
            tracing::error!("the audit writer thread panicked; queued records were lost");
        }
    }
}
