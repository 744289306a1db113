//! The platform trunk's `refer_hook` against the real binary, on both backends: a small HTTP
//! server in the test (a std `TcpListener` thread) takes handoff's POST, checks its JSON, and
//! answers. "reject": the platform's REFER gets 403 and the carrier no REFER; "refer" with a
//! new target and an X- header: the carrier's REFER names the new target and carries the header.
//! Both records carry the hook call.

mod e2e_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CARRIER, CarrierAnswer, TargetAnswer, blind_transfer};

/// Hook server port, inside the test's own network namespace (35000..35999 for new tests).
const HOOK_PORT: u16 = 35080;

/// Serves one POST on `listener`: hands its JSON body to the test and answers `answer`.
fn serve_one(
    listener: TcpListener,
    answer: &'static str,
) -> mpsc::Receiver<(String, serde_json::Value)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("handoff connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        stream.flush().unwrap();
        let _ = tx.send((request_line.trim_end().to_owned(), json));
    });
    rx
}

fn options(io: &'static str, media: u16, on_error: &str) -> Options {
    let mut options = Options::new(io, media);
    options.refer_hook = Some(format!(
        "{{ url = \"http://127.0.0.1:{HOOK_PORT}/refer\", timeout_ms = 1500, on_error = \"{on_error}\" }}"
    ));
    options
}

fn check_request(io: &str, request: &(String, serde_json::Value)) {
    let (line, json) = request;
    assert_eq!(line, "POST /refer HTTP/1.1", "{io}");
    assert!(
        json["conversation"].as_str().is_some_and(|c| !c.is_empty()),
        "{io}: {json}"
    );
    assert_eq!(
        json["transferor"], "<sip:agent7@platform.example>",
        "{io}: {json}"
    );
    assert!(
        json["transferee"].as_str().is_some_and(|c| !c.is_empty()),
        "{io}: {json}"
    );
    assert_eq!(
        json["refer_target"], "sip:+15559870000@platform.example",
        "{io}: {json}"
    );
    assert_eq!(json["refer_target_e164"], "+15559870000", "{io}: {json}");
    assert_eq!(json["kind"], "blind", "{io}: {json}");
    assert_eq!(json["trunk"], "platform", "{io}: {json}");
    assert_eq!(json["carrier"], "carrier-a", "{io}: {json}");
    assert!(json["replaces"].is_null(), "{io}: {json}");
}

#[test]
fn hook_reject_answers_403_and_the_carrier_gets_no_refer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start(&options(io, 35100 + i as u16 * 40, "refer"));
        let listener = TcpListener::bind(("127.0.0.1", HOOK_PORT)).unwrap();
        let requests = serve_one(listener, r#"{"action": "reject"}"#);
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::NoReferExpected,
            target: TargetAnswer::NotReached,
            early_transferor_bye: false,
        };
        let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        assert_eq!(seen.platform_refer_status, Some(403), "{io}");
        assert!(!seen.customer_got_bye, "{io}: the call stays up");
        let request = requests
            .recv_timeout(Duration::from_secs(5))
            .expect("hook asked");
        check_request(io, &request);
        assert!(
            !e2e.cast[CARRIER]
                .ladder
                .iter()
                .any(|s| !s.sent && s.what.starts_with("REFER")),
            "{io}: the carrier got a REFER: {:?}",
            e2e.cast[CARRIER].ladder
        );
        let record = e2e.one_transfer_record();
        assert_eq!(record["reason"], "hook_rejected", "{io}: {record}");
        assert_eq!(record["outcome"], "denied", "{io}: {record}");
        assert_eq!(record["hook"]["status"], 200, "{io}: {record}");
        assert_eq!(record["hook"]["action"], "reject", "{io}: {record}");
        assert!(record["hook"]["error"].is_null(), "{io}: {record}");
        e2e.stop();
    }
}

#[test]
fn hook_refer_with_a_new_target_reaches_the_carrier() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start(&options(io, 35300 + i as u16 * 40, "reject"));
        let listener = TcpListener::bind(("127.0.0.1", HOOK_PORT)).unwrap();
        let requests = serve_one(
            listener,
            r#"{"action": "refer", "target": "+15551112222", "headers": {"X-Queue": "vip"}}"#,
        );
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::HandOff,
            target: TargetAnswer::NotReached,
            early_transferor_bye: false,
        };
        let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        let request = requests
            .recv_timeout(Duration::from_secs(5))
            .expect("hook asked");
        check_request(io, &request);
        let refer = seen.carrier_refer.expect("REFER reached the carrier");
        assert_eq!(
            refer.header("refer-to"),
            Some("<sip:+15551112222@trunk.carrier-a.example>"),
            "{io}"
        );
        assert_eq!(refer.header("x-queue"), Some("vip"), "{io}");
        assert_eq!(seen.platform_refer_status, Some(202), "{io}");
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["target_e164"], "+15551112222", "{io}: {record}");
        assert_eq!(record["hook"]["status"], 200, "{io}: {record}");
        assert_eq!(record["hook"]["action"], "refer", "{io}: {record}");
        assert_eq!(
            record["hook"]["url"],
            format!("http://127.0.0.1:{HOOK_PORT}/refer"),
            "{io}: {record}"
        );
        e2e.stop();
    }
}
