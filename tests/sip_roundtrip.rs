//! Property tests: generated messages (random header spellings, compact forms, folding,
//! escapes, bodies) parse to the values they were generated from; parse(serialize(msg)) == msg;
//! and parse(serialize(edit(msg))) == the model with the same edits applied.

use handoff::sip::{HeaderName, Message, Method};
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq)]
struct ViaModel {
    transport: String,
    host: String,
    port: Option<u16>,
    branch: String,
}

#[derive(Clone, Debug)]
struct Model {
    method: String,
    ruri_user: String,
    ruri_host: String,
    via_lines: Vec<Vec<ViaModel>>,
    from_display: Option<String>,
    from_user: String,
    from_tag: String,
    to_tag: Option<String>,
    call_id: String,
    cseq: u32,
    max_forwards: Option<u8>,
    extras: Vec<(String, String)>,
    body: Vec<u8>,
}

/// How each header name is spelled on the wire.
#[derive(Clone, Debug)]
struct Spelling {
    compact: bool,
    upper: bool,
    space_before_colon: bool,
    fold_via: bool,
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,12}"
}

fn host() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,8}){0,2}"
}

fn via() -> impl Strategy<Value = ViaModel> {
    (
        prop::sample::select(vec!["UDP", "TCP", "TLS", "SCTP"]),
        host(),
        prop::option::of(1u16..),
        token(),
    )
        .prop_map(|(t, host, port, b)| ViaModel {
            transport: t.into(),
            host,
            port,
            branch: format!("z9hG4bK{b}"),
        })
}

fn model() -> impl Strategy<Value = Model> {
    let method = prop_oneof![
        prop::sample::select(vec![
            "INVITE", "BYE", "REFER", "NOTIFY", "OPTIONS", "UPDATE"
        ])
        .prop_map(String::from),
        "[A-Z][A-Z0-9-]{0,10}",
    ];
    (
        (method, "[a-zA-Z0-9+_.-]{1,8}(%[0-9A-F]{2})?", host()),
        prop::collection::vec(prop::collection::vec(via(), 1..3), 1..4),
        (
            prop::option::of("[A-Za-z0-9 ,;:<>@\"\\\\]{0,12}"),
            "[a-z0-9+]{1,8}",
            token(),
            prop::option::of(token()),
        ),
        (
            "[A-Za-z0-9.!%*_+`'~()<>:/?{}-]{1,16}(@[a-z0-9.]{1,10})?",
            0u32..(1 << 31),
            prop::option::of(any::<u8>()),
        ),
        prop::collection::vec(("X-[A-Za-z0-9-]{1,8}", "([!-~]([ -~]{0,20}[!-~])?)?"), 0..4),
        prop::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(
            |(
                (method, ruri_user, ruri_host),
                via_lines,
                (from_display, from_user, from_tag, to_tag),
                (call_id, cseq, mf),
                extras,
                body,
            )| Model {
                method,
                ruri_user,
                ruri_host,
                via_lines,
                from_display,
                from_user,
                from_tag,
                to_tag,
                call_id,
                cseq,
                max_forwards: mf,
                extras,
                body,
            },
        )
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(compact, upper, space_before_colon, fold_via)| Spelling {
            compact,
            upper,
            space_before_colon,
            fold_via,
        },
    )
}

fn quote(display: &str) -> String {
    let mut s = String::from("\"");
    for c in display.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

fn via_text(v: &ViaModel, fold: bool) -> String {
    let port = v.port.map(|p| format!(":{p}")).unwrap_or_default();
    let sep = if fold { "\r\n  " } else { " " };
    format!(
        "SIP/2.0/{}{sep}{}{port};branch={}",
        v.transport, v.host, v.branch
    )
}

fn serialize(m: &Model, sp: &Spelling) -> Vec<u8> {
    let name = |canonical: &str, compact: Option<&str>| -> String {
        let n = match compact {
            Some(c) if sp.compact => c.to_string(),
            _ => canonical.to_string(),
        };
        let n = if sp.upper { n.to_ascii_uppercase() } else { n };
        if sp.space_before_colon {
            format!("{n} ")
        } else {
            n
        }
    };
    let mut out = format!(
        "{} sip:{}@{} SIP/2.0\r\n",
        m.method, m.ruri_user, m.ruri_host
    );
    for line in &m.via_lines {
        let values: Vec<String> = line.iter().map(|v| via_text(v, sp.fold_via)).collect();
        out += &format!("{}: {}\r\n", name("Via", Some("v")), values.join(" , "));
    }
    if let Some(mf) = m.max_forwards {
        out += &format!("{}: {mf}\r\n", name("Max-Forwards", None));
    }
    let display = m
        .from_display
        .as_deref()
        .map(|d| format!("{} ", quote(d)))
        .unwrap_or_default();
    out += &format!(
        "{}: {display}<sip:{}@example.com>;tag={}\r\n",
        name("From", Some("f")),
        m.from_user,
        m.from_tag
    );
    let to_tag = m
        .to_tag
        .as_deref()
        .map(|t| format!(";tag={t}"))
        .unwrap_or_default();
    out += &format!("{}: sip:bob@example.net{to_tag}\r\n", name("To", Some("t")));
    out += &format!("{}: {}\r\n", name("Call-ID", Some("i")), m.call_id);
    out += &format!("{}: {} {}\r\n", name("CSeq", None), m.cseq, m.method);
    for (n, v) in &m.extras {
        out += &format!("{n}: {v}\r\n");
    }
    if !m.body.is_empty() {
        out += &format!(
            "{}: application/octet-stream\r\n",
            name("Content-Type", Some("c"))
        );
    }
    out += &format!(
        "{}: {}\r\n\r\n",
        name("Content-Length", Some("l")),
        m.body.len()
    );
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&m.body);
    bytes
}

fn check(msg: &Message<'_>, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        msg.method().map(|x| x.as_str().to_owned()),
        Some(m.method.clone())
    );
    let ruri = msg.request_uri().unwrap();
    prop_assert_eq!(ruri.user(), Some(m.ruri_user.as_str()));
    prop_assert_eq!(ruri.host(), m.ruri_host.as_str());
    let vias: Vec<ViaModel> = msg
        .vias()
        .map(|v| {
            let v = v.unwrap();
            ViaModel {
                transport: v.transport.into(),
                host: v.host.into(),
                port: v.port,
                branch: v.branch().unwrap().into(),
            }
        })
        .collect();
    prop_assert_eq!(vias, m.via_lines.concat());
    prop_assert_eq!(msg.header_lines(HeaderName::Via).count(), m.via_lines.len());
    let from = msg.from().unwrap();
    prop_assert_eq!(
        from.display_name_unescaped().map(|d| d.into_owned()),
        m.from_display.as_ref().map(|d| d.as_bytes().to_vec())
    );
    prop_assert_eq!(from.uri.user(), Some(m.from_user.as_str()));
    prop_assert_eq!(from.tag(), Some(m.from_tag.as_str()));
    prop_assert_eq!(msg.to().unwrap().tag(), m.to_tag.as_deref());
    prop_assert_eq!(msg.call_id().unwrap(), m.call_id.as_str());
    let cseq = msg.cseq().unwrap();
    prop_assert_eq!(cseq.seq, m.cseq);
    prop_assert_eq!(Some(cseq.method), msg.method());
    prop_assert_eq!(msg.max_forwards().unwrap(), m.max_forwards.map(u32::from));
    let extras: Vec<(String, String)> = msg
        .headers()
        .filter(|h| h.kind == HeaderName::Other)
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8(h.value.to_vec()).unwrap(),
            )
        })
        .collect();
    prop_assert_eq!(&extras, &m.extras);
    prop_assert_eq!(msg.body(), &m.body[..]);
    prop_assert_eq!(msg.content_length().unwrap(), Some(m.body.len() as u64));
    Ok(())
}

#[derive(Clone, Debug)]
enum Edit {
    RemoveFirstVia,
    PrependVia(ViaModel),
    SetMaxForwards(u8),
    AddExtra(String, String),
    RemoveExtrasNamed(usize),
    SetBody(Vec<u8>),
    SetRequestUri(String, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        Just(Edit::RemoveFirstVia),
        via().prop_map(Edit::PrependVia),
        any::<u8>().prop_map(Edit::SetMaxForwards),
        ("X-[A-Za-z0-9-]{1,8}", "[!-~]{1,12}").prop_map(|(n, v)| Edit::AddExtra(n, v)),
        any::<usize>().prop_map(Edit::RemoveExtrasNamed),
        prop::collection::vec(any::<u8>(), 0..60).prop_map(Edit::SetBody),
        ("[a-z0-9]{1,8}", host()).prop_map(|(u, h)| Edit::SetRequestUri(u, h)),
    ]
}

/// `PROPTEST_CASES` overrides the case count (`scripts/fuzz-ci.sh` raises it when cargo-fuzz
/// cannot run).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn generated_messages_parse_to_their_model(m in model(), sp in spelling()) {
        let bytes = serialize(&m, &sp);
        let msg = Message::parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        check(&msg, &m)?;
        // The accessors give the same answers without the values cached by full parsing.
        check(&Message::parse_framing(&bytes).unwrap(), &m)?;
    }

    #[test]
    fn parse_of_serialize_is_identity(m in model(), sp in spelling()) {
        let bytes = serialize(&m, &sp);
        let msg = Message::parse(&bytes).unwrap();
        let out = msg.edit().serialize();
        let again = Message::parse(&out).unwrap();
        prop_assert_eq!(again.start_line(), msg.start_line());
        let lines = |x: &Message<'_>| x.headers()
            .filter(|h| h.kind != HeaderName::ContentLength)
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect::<Vec<_>>();
        prop_assert_eq!(lines(&again), lines(&msg));
        prop_assert_eq!(again.body(), msg.body());
        check(&again, &m)?;
    }

    #[test]
    fn edits_apply_as_the_model_says(m in model(), sp in spelling(), edits in prop::collection::vec(edit(), 0..6)) {
        let bytes = serialize(&m, &sp);
        let msg = Message::parse(&bytes).unwrap();
        let mut expected = m.clone();
        let mut e = msg.edit();
        for op in &edits {
            match op {
                Edit::RemoveFirstVia => {
                    // Removes the first remaining Via line, prepended ones included.
                    e.remove_first(HeaderName::Via);
                    if !expected.via_lines.is_empty() {
                        // Prepended lines are not in the parsed message: remove_first only
                        // sees original lines. Find the first original line still present.
                        let prepended = edits.iter().take_while(|o| !std::ptr::eq(*o, op)).filter(|o| matches!(o, Edit::PrependVia(_))).count();
                        let idx = prepended.min(expected.via_lines.len());
                        if idx < expected.via_lines.len() {
                            expected.via_lines.remove(idx);
                        }
                    }
                }
                Edit::PrependVia(v) => {
                    e.prepend_header("Via", via_text(v, false).as_bytes()).unwrap();
                    expected.via_lines.insert(0, vec![v.clone()]);
                }
                Edit::SetMaxForwards(n) => {
                    e.replace_header(HeaderName::MaxForwards, n.to_string().as_bytes()).unwrap();
                    expected.max_forwards = Some(*n);
                }
                Edit::AddExtra(n, v) => {
                    e.add_header(n, v.as_bytes()).unwrap();
                    expected.extras.push((n.clone(), v.clone()));
                }
                Edit::RemoveExtrasNamed(i) => {
                    if let Some((name, _)) = m.extras.get(i % m.extras.len().max(1)).cloned() {
                        e.remove_header_named(&name);
                        // Only original lines are removed; added ones stay.
                        let added: Vec<_> = edits.iter().take_while(|o| !std::ptr::eq(*o, op)).filter_map(|o| match o {
                            Edit::AddExtra(n, v) => Some((n.clone(), v.clone())),
                            _ => None,
                        }).collect();
                        let originals_left: Vec<_> = expected.extras.iter().take(expected.extras.len() - added.len()).filter(|(n, _)| !n.eq_ignore_ascii_case(&name)).cloned().collect();
                        expected.extras = originals_left.into_iter().chain(added).collect();
                    }
                }
                Edit::SetBody(b) => {
                    e.set_body(Some("application/octet-stream"), b).unwrap();
                    expected.body = b.clone();
                }
                Edit::SetRequestUri(u, h) => {
                    e.set_request_uri(&format!("sip:{u}@{h}")).unwrap();
                    expected.ruri_user = u.clone();
                    expected.ruri_host = h.clone();
                }
            }
        }
        let out = e.serialize();
        let again = Message::parse(&out).map_err(|err| TestCaseError::fail(format!("{err}: {}", String::from_utf8_lossy(&out))))?;
        check(&again, &expected)?;
        prop_assert_eq!(again.method().map(|x| x.as_str().to_owned()), msg.method().map(|x: Method<'_>| x.as_str().to_owned()));
    }
}
