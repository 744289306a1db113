//! Under any sequence of requests, responses, TU calls and time steps the layer never panics,
//! keeps its invariants after every step (checked in `Driver::drain`), and every transaction
//! ends once time runs on: nothing leaks.
mod transaction_support;

use handoff::core::transaction::{ServerAction, ServerTxId};
use handoff::sip::{Message, Method};
use handoff::vocab::StatusCode;
use proptest::prelude::*;
use transaction_support::*;

#[derive(Clone, Debug)]
enum Step {
    Request {
        method: u8,
        branch: u8,
        cseq: u8,
        to_tag: bool,
        max_forwards: u8,
    },
    Send {
        invite: bool,
        branch: u8,
    },
    Response {
        status_index: u8,
        branch: u8,
        invite: bool,
    },
    Respond {
        which: u8,
        status_index: u8,
    },
    Cancel {
        which: u8,
    },
    Advance {
        ms: u32,
    },
    Mangled {
        template: u8,
        position: u16,
        byte: u8,
    },
}

const STATUSES: [StatusCode; 8] = [
    StatusCode::TRYING,
    StatusCode::RINGING,
    StatusCode::SESSION_PROGRESS,
    StatusCode::OK,
    StatusCode::ACCEPTED,
    StatusCode::NOT_FOUND,
    StatusCode::BUSY_HERE,
    StatusCode::SERVICE_UNAVAILABLE,
];
const METHODS: [&str; 6] = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6, 0u8..4, 1u8..3, any::<bool>(), prop_oneof![Just(0u8), Just(70u8)])
            .prop_map(|(method, branch, cseq, to_tag, max_forwards)| Step::Request { method, branch, cseq, to_tag, max_forwards }),
        2 => (any::<bool>(), 0u8..4).prop_map(|(invite, branch)| Step::Send { invite, branch }),
        3 => (0u8..8, 0u8..4, any::<bool>()).prop_map(|(status_index, branch, invite)| Step::Response { status_index, branch, invite }),
        3 => (any::<u8>(), 0u8..8).prop_map(|(which, status_index)| Step::Respond { which, status_index }),
        1 => any::<u8>().prop_map(|which| Step::Cancel { which }),
        3 => (0u32..40_000).prop_map(|ms| Step::Advance { ms }),
        2 => (0u8..3, any::<u16>(), any::<u8>()).prop_map(|(template, position, byte)| Step::Mangled { template, position, byte }),
    ]
}

fn our_branch(i: u8, invite: bool) -> String {
    format!("z9hG4bK-hf0000-{:015x}{}", i, if invite { 1 } else { 0 })
}

fn run(steps: &[Step]) {
    let mut d = Driver::new();
    let mut servers: Vec<ServerTxId> = Vec::new();
    let mut clients = Vec::new();
    for step in steps {
        match *step {
            Step::Request {
                method,
                branch,
                cseq,
                to_tag,
                max_forwards,
            } => {
                let method_name = METHODS[method as usize];
                let bytes = request_with(
                    method_name,
                    &format!("z9hG4bKr{branch}"),
                    "random@carrier",
                    "ft",
                    to_tag.then_some("tt"),
                    u32::from(cseq),
                    method_name,
                    u32::from(max_forwards),
                );
                if let ServerAction::New(tx) = d.request(CARRIER, &bytes) {
                    servers.push(tx);
                }
            }
            Step::Send { invite, branch } => {
                let branch_text = our_branch(branch, invite);
                let (method, name) = if invite {
                    (Method::Invite, "INVITE")
                } else {
                    (Method::Bye, "BYE")
                };
                let bytes = our_request(name, &branch_text, "hf0000-0000000000000001@handoff", 1);
                if let Ok(tx) =
                    d.layer
                        .send_request(d.now, addr(PLATFORM), method, &branch_text, bytes)
                {
                    clients.push(tx);
                }
                d.drain();
            }
            Step::Response {
                status_index,
                branch,
                invite,
            } => {
                let status = STATUSES[status_index as usize];
                let method = if invite { "INVITE" } else { "BYE" };
                let bytes = response_to_ours(
                    status.as_u16(),
                    "X",
                    &our_branch(branch, invite),
                    "hf0000-0000000000000001@handoff",
                    Some("rt"),
                    1,
                    method,
                );
                d.response(PLATFORM, &bytes);
            }
            Step::Respond {
                which,
                status_index,
            } => {
                if servers.is_empty() {
                    continue;
                }
                let tx = servers[which as usize % servers.len()];
                let status = STATUSES[status_index as usize];
                if let Some(request) = d.layer.server_request(tx).map(<[u8]>::to_vec) {
                    let message = Message::parse(&request).unwrap();
                    let response = handoff::sip::response_to(&message, status, "X")
                        .to_tag("hf00000000000000000001")
                        .build()
                        .unwrap();
                    let _ = d.layer.respond(d.now, tx, status, response);
                } else if d.layer.server_peer(tx).is_none() {
                    // Gone: nothing may answer it. (A live transaction that answered for good
                    // has freed its request's bytes too, and may still take a 2xx
                    // retransmission from the TU.)
                    assert!(
                        d.layer
                            .respond(d.now, tx, status, b"SIP/2.0 200 OK\r\n\r\n".to_vec())
                            .is_err()
                    );
                }
                d.drain();
            }
            Step::Cancel { which } => {
                if !clients.is_empty() {
                    let tx = clients[which as usize % clients.len()];
                    d.layer.cancel(d.now, tx);
                    d.drain();
                }
            }
            Step::Advance { ms } => {
                let to = d.now.as_millis() + u64::from(ms);
                d.advance_to_ms(to);
            }
            Step::Mangled {
                template,
                position,
                byte,
            } => {
                let mut bytes = match template {
                    0 => invite("z9hG4bKm", "m@carrier", "ft", 1),
                    1 => request_with(
                        "CANCEL",
                        "z9hG4bKm",
                        "m@carrier",
                        "ft",
                        None,
                        1,
                        "CANCEL",
                        70,
                    ),
                    _ => response_to_ours(
                        486,
                        "Busy",
                        &our_branch(0, true),
                        "m@handoff",
                        Some("x"),
                        1,
                        "INVITE",
                    ),
                };
                let at = position as usize % bytes.len();
                bytes[at] = byte;
                if let Ok(message) = Message::parse(&bytes) {
                    if message.is_request() {
                        let _ = d.layer.on_request(d.now, addr(CARRIER), &message);
                    } else {
                        let _ = d.layer.on_response(d.now, addr(PLATFORM), &message);
                    }
                    d.drain();
                }
            }
        }
    }
    // Every state has a timer that ends it: an hour later nothing is left.
    let end = d.now.as_millis() + 3_600_000;
    d.advance_to_ms(end);
    assert_eq!(d.layer.live_count(), 0, "transactions leaked");
    assert_eq!(d.layer.armed_timers(), 0, "timers left armed");
    assert_eq!(d.layer.poll_timeout(), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn random_traffic_never_panics_and_never_leaks(steps in proptest::collection::vec(step(), 1..60)) {
        run(&steps);
    }
}
