//! The audit writer: one JSON object per line, written at once, from several handles without
//! interleaving; a write error is counted and never panics.

use handoff::vocab::StatusCode;
use std::sync::atomic::Ordering;

use handoff::audit::AuditWriter;
use handoff::core::{CallEnd, CallRef, EndedLeg, MediaCounters, ShardId};

fn call_end(shard: u16, seq: u64, media: Option<MediaCounters>) -> CallEnd {
    CallEnd {
        call: CallRef {
            shard: ShardId(shard),
            seq,
        },
        conversation: format!("conv-{shard}-{seq}"),
        linked_conversation: None,
        from_trunk: "carrier".into(),
        to_trunk: "platform".into(),
        setup_status: Some(StatusCode::OK),
        end_reason: handoff::core::EndReason::ByeFromA,
        duration_ms: 1234,
        media,
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

#[test]
fn call_end_records_are_complete_json_lines_visible_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut first = AuditWriter::open(path.to_str().unwrap()).unwrap();
    let mut second = first.try_clone().unwrap();
    let media = MediaCounters {
        a_to_b_packets: 10,
        a_to_b_bytes: 1720,
        b_to_a_packets: 9,
        b_to_a_bytes: 1548,
        dropped: 1,
        dropped_foreign_source: 0,
    };
    first.write_call_end(&call_end(0, 1, Some(media)));
    // Visible before any flush or drop: nothing is buffered.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    second.write_call_end(&call_end(1, 7, None));
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["type"], "call_end");
    assert_eq!(records[0]["call"], "0-1");
    assert_eq!(records[0]["conversation"], "conv-0-1");
    assert_eq!(records[0]["from_trunk"], "carrier");
    assert_eq!(records[0]["to_trunk"], "platform");
    assert_eq!(records[0]["setup_status"], 200);
    assert_eq!(records[0]["end_reason"], "bye_from_a");
    assert_eq!(records[0]["duration_ms"], 1234);
    assert_eq!(records[0]["media"]["a_to_b_packets"], 10);
    assert_eq!(records[0]["media"]["b_to_a_bytes"], 1548);
    assert_eq!(records[0]["media"]["dropped"], 1);
    assert_eq!(records[0]["packets"]["a_to_b"], 10);
    // Issue 11: what operators match records with.
    assert_eq!(records[0]["calling"], "+15550001111");
    assert_eq!(records[0]["called"], "+15550002222");
    assert_eq!(records[0]["started"], "2026-12-05T04:00:00.000Z");
    assert_eq!(records[0]["answered"], "2026-12-05T04:00:01.000Z");
    assert_eq!(records[0]["legs"][0]["call_id"], "a84b4c76e66710@carrier");
    assert_eq!(records[0]["legs"][1]["role"], "platform");
    let ts = records[0]["ts"].as_str().unwrap();
    assert!(
        ts.starts_with("20") && ts.ends_with('Z') && ts.contains('T'),
        "{ts}"
    );
    assert_eq!(records[1]["call"], "1-7");
    assert!(records[1]["media"].is_null());
    assert_eq!(first.counters().written.load(Ordering::Relaxed), 2);
    assert_eq!(first.counters().write_errors.load(Ordering::Relaxed), 0);
}

#[test]
fn concurrent_writers_never_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let writer = AuditWriter::open(path.to_str().unwrap()).unwrap();
    let threads: Vec<_> = (0..4u16)
        .map(|shard| {
            let mut w = writer.try_clone().unwrap();
            std::thread::spawn(move || {
                for seq in 0..500 {
                    w.write_call_end(&call_end(shard, seq, None));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("intact line");
        assert!(seen.insert(v["call"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 2000);
}

#[test]
fn a_failing_disk_is_counted_not_fatal() {
    // /dev/full accepts the open and fails every write with ENOSPC.
    let mut writer = AuditWriter::open("/dev/full").unwrap();
    writer.write_call_end(&call_end(0, 1, None));
    writer.write_call_end(&call_end(0, 2, None));
    assert_eq!(writer.counters().write_errors.load(Ordering::Relaxed), 2);
    assert_eq!(writer.counters().written.load(Ordering::Relaxed), 0);
}

#[test]
fn an_unopenable_path_names_the_setting() {
    let err = AuditWriter::open("/nonexistent-dir/audit.jsonl")
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("/nonexistent-dir/audit.jsonl"),
        "{message}"
    );
    assert!(message.contains("sbc.audit"), "{message}");
}
