//! Issue 9, "Audit off the hot path": the shards hand records to one writer thread through a
//! bounded queue. With the sink stuck (a disk that stopped, a pipe nobody reads), handing over
//! never blocks: a record that finds the queue full is dropped, counted (`audit_dropped`) and
//! logged loudly, never silently. The writer writes each record at once, and closing the log
//! writes everything queued.
//!
//! Nothing here measures speed: "never blocks" is checked as "the sending thread finishes at
//! all" (it would hang on a blocking send, since the sink never moves until the test lets it).

use handoff::vocab::StatusCode;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use handoff::audit::{AuditLog, AuditSender, AuditWriter};
use handoff::core::{CallEnd, CallRef, EndReason, EndedLeg, ShardId};

/// Generous bound for things that must happen (a thread that does not block finishing); a
/// passing test never waits it out.
const WAIT: Duration = Duration::from_secs(30);

fn call_end(seq: u64) -> CallEnd {
    CallEnd {
        call: CallRef {
            shard: ShardId(0),
            seq,
        },
        conversation: format!("conv-{seq}"),
        linked_conversation: None,
        from_trunk: "carrier".into(),
        to_trunk: "platform".into(),
        setup_status: Some(StatusCode::OK),
        end_reason: EndReason::ByeFromA,
        duration_ms: 1,
        media: None,
        calling: "+15550001111".into(),
        called: "+15550002222".into(),
        started: "2026-12-05T04:00:00.000Z".into(),
        answered: Some("2026-12-05T04:00:01.000Z".into()),
        legs: vec![
            EndedLeg {
                trunk: "carrier".into(),
                role: "carrier",
                call_id: "a84b4c76e66710@carrier".into(),
            },
            EndedLeg {
                trunk: "platform".into(),
                role: "platform",
                call_id: "hf0000-0011223344556677@sbc".into(),
            },
        ],
        reinvite_failed: None,
    }
}

/// A sink whose writes wait until the test opens the gate; tells the test when a write started.
struct GateSink {
    entered: mpsc::Sender<()>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Write for GateSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.entered.send(());
        let (open, changed) = &*self.gate;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Log output captured from the thread that sends (the "shard").
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Sends `seqs` from another thread (as a shard would) with its log captured; returns each
/// send's result, or panics when the thread does not finish (it blocked).
fn send_from_a_shard(sender: &AuditSender, seqs: Vec<u64>, log: &Captured) -> Vec<bool> {
    let sender = sender.clone();
    let log = log.clone();
    let (done, results) = mpsc::channel();
    std::thread::spawn(move || {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || log.clone())
            .with_ansi(false)
            .finish();
        let sent = tracing::subscriber::with_default(subscriber, || {
            seqs.into_iter()
                .map(|seq| sender.call_end(call_end(seq)))
                .collect::<Vec<_>>()
        });
        let _ = done.send(sent);
    });
    results
        .recv_timeout(WAIT)
        .expect("the shard side blocked on a stuck audit sink")
}

#[test]
fn a_stuck_sink_never_blocks_the_shard_and_every_drop_is_counted_and_logged() {
    const CAPACITY: usize = 8;
    const EXTRA: u64 = 5;
    let (entered, entered_rx) = mpsc::channel();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = GateSink {
        entered,
        gate: gate.clone(),
        out: out.clone(),
    };
    let log = AuditLog::start(AuditWriter::with_sink(Box::new(sink), "gate"), CAPACITY).unwrap();
    let sender = log.sender();
    let captured = Captured::default();

    // Record 0 reaches the writer, which then hangs in the sink: the queue is empty again.
    assert!(sender.call_end(call_end(0)));
    entered_rx
        .recv_timeout(WAIT)
        .expect("the writer took record 0");

    // The queue takes CAPACITY records; the next EXTRA are dropped, and the sender returns.
    let seqs: Vec<u64> = (1..=CAPACITY as u64 + EXTRA).collect();
    let sent = send_from_a_shard(&sender, seqs, &captured);
    let accepted: Vec<bool> = sent[..CAPACITY].to_vec();
    assert_eq!(accepted, vec![true; CAPACITY], "the queue holds {CAPACITY}");
    assert_eq!(&sent[CAPACITY..], &[false; EXTRA as usize], "then drops");
    let counters = log.counters().clone();
    assert_eq!(counters.dropped.load(Ordering::Relaxed), EXTRA);
    assert!(
        counters
            .render_prometheus()
            .contains(&format!("handoff_audit_dropped_total {EXTRA}")),
        "{}",
        counters.render_prometheus()
    );

    // One loud line per dropped record, naming it and the running total.
    let text = captured.text();
    let drops: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("AUDIT RECORD DROPPED"))
        .collect();
    assert_eq!(drops.len(), EXTRA as usize, "{text}");
    for (i, seq) in (CAPACITY as u64 + 1..=CAPACITY as u64 + EXTRA).enumerate() {
        assert!(drops[i].contains("ERROR"), "{}", drops[i]);
        assert!(drops[i].contains(&format!("conv-{seq}")), "{}", drops[i]);
        assert!(
            drops[i].contains(&format!("audit_dropped={}", i + 1)),
            "{}",
            drops[i]
        );
    }

    // The disk comes back: closing writes everything that was queued, and only that.
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    drop(sender);
    log.close();
    let written = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let conversations: Vec<String> = written
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object a line");
            v["conversation"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..=CAPACITY as u64).map(|s| format!("conv-{s}")).collect();
    assert_eq!(conversations, expected);
    assert_eq!(
        counters.written.load(Ordering::Relaxed),
        CAPACITY as u64 + 1
    );
}

#[test]
fn a_pipe_nobody_reads_never_blocks_the_shard() {
    // A real kernel pipe: once its buffer is full, the writer thread's write(2) blocks for good.
    let (reader, writer) = io::pipe().unwrap();
    const CAPACITY: usize = 64;
    const TOTAL: u64 = 20_000;
    let log = AuditLog::start(AuditWriter::with_sink(Box::new(writer), "pipe"), CAPACITY).unwrap();
    let sender = log.sender();
    let captured = Captured::default();
    let sent = send_from_a_shard(&sender, (0..TOTAL).collect(), &captured);
    let accepted = sent.iter().filter(|s| **s).count() as u64;
    let counters = log.counters().clone();
    let dropped = counters.dropped.load(Ordering::Relaxed);
    // A pipe buffer holds far fewer than TOTAL records of ~200 bytes, so the queue filled.
    assert!(dropped > 0, "accepted {accepted} of {TOTAL}");
    assert_eq!(
        accepted + dropped,
        TOTAL,
        "every record accepted or counted"
    );
    assert_eq!(
        captured
            .text()
            .lines()
            .filter(|l| l.contains("AUDIT RECORD DROPPED"))
            .count() as u64,
        dropped,
        "each drop logged"
    );
    // The reader goes away: the blocked write fails (EPIPE), the rest fail too, counted as
    // lost, and the writer ends.
    drop(reader);
    drop(sender);
    log.close();
    assert_eq!(
        counters.written.load(Ordering::Relaxed) + counters.write_errors.load(Ordering::Relaxed),
        accepted
    );
}

#[test]
fn each_record_is_written_at_once_not_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(path.to_str().unwrap(), 16).unwrap();
    let sender = log.sender();
    for seq in 0..3u64 {
        assert!(sender.call_end(call_end(seq)));
        // The writer is still running (its log is open): the record shows up on its own.
        let deadline = Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() == seq as usize + 1 {
                let last: serde_json::Value =
                    serde_json::from_str(text.lines().last().unwrap()).unwrap();
                assert_eq!(last["conversation"], format!("conv-{seq}"));
                break;
            }
            assert!(Instant::now() < deadline, "record {seq} never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    sender.rejected(
        "192.0.2.9:5060".parse().unwrap(),
        StatusCode::FORBIDDEN,
        "Forbidden".into(),
    );
    drop(sender);
    log.close();
    let text = std::fs::read_to_string(&path).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "request_rejected");
    assert_eq!(last["source"], "192.0.2.9:5060");
    assert_eq!(last["status"], 403);
}
