//! Golden messages from the RFC texts (`tests/fixtures/rfc5589/`, `tests/fixtures/rfc4538/`, see
//! their README.md for the syntax and every adjustment): [`fill`] turns a `send-*` fixture into
//! the bytes a scripted peer sends, [`matches`] checks a message handoff sent against an
//! `expect-*` fixture. Used by the simulation flows and the real-binary golden tests alike.
//!
//! Written on `sipwire` and plain text, never on handoff's own SIP code: the fixture decides what
//! a correct message is (see ARCHITECTURE.md, "Test scaffolding").

use std::collections::BTreeMap;

/// RFC 5589 section 6.1 F1, handoff's INVITE on leg B (expected).
pub const RFC5589_6_1_F1: &str =
    include_str!("../../tests/fixtures/rfc5589/6.1-F1-expect-INVITE.sip");
/// RFC 5589 section 6.1 F2, the platform's 200 (sent).
pub const RFC5589_6_1_F2: &str = include_str!("../../tests/fixtures/rfc5589/6.1-F2-send-200.sip");
/// RFC 5589 section 6.1 F3, the out-of-dialog REFER (sent).
pub const RFC5589_6_1_F3: &str = include_str!("../../tests/fixtures/rfc5589/6.1-F3-send-REFER.sip");
/// RFC 5589 section 6.1, handoff's 202 creating dialog 2 (expected).
pub const RFC5589_6_1_202: &str = include_str!("../../tests/fixtures/rfc5589/6.1-expect-202.sip");
/// RFC 5589 section 6.1 F4, NOTIFY 100 in dialog 2 (expected).
pub const RFC5589_6_1_F4: &str =
    include_str!("../../tests/fixtures/rfc5589/6.1-F4-expect-NOTIFY.sip");
/// RFC 5589 section 6.1 F6, NOTIFY 200 in dialog 2 (expected).
pub const RFC5589_6_1_F6: &str =
    include_str!("../../tests/fixtures/rfc5589/6.1-F6-expect-NOTIFY.sip");
/// RFC 5589 section 7.3 F2, the platform's 200 on dialog 1 (sent).
pub const RFC5589_7_3_F2: &str = include_str!("../../tests/fixtures/rfc5589/7.3-F2-send-200.sip");
/// RFC 5589 section 7.3 F3, the platform's INVITE to the target, dialog 2 (sent).
pub const RFC5589_7_3_F3: &str =
    include_str!("../../tests/fixtures/rfc5589/7.3-F3-send-INVITE.sip");
/// RFC 5589 section 7.3 F5, the out-of-dialog attended REFER (sent).
pub const RFC5589_7_3_F5: &str = include_str!("../../tests/fixtures/rfc5589/7.3-F5-send-REFER.sip");
/// RFC 4538 section 10, message 1: handoff's INVITE as the caller (expected).
pub const RFC4538_10_MSG1: &str =
    include_str!("../../tests/fixtures/rfc4538/10-msg1-expect-INVITE.sip");
/// RFC 4538 section 10, message 5: the callee's 200 (sent).
pub const RFC4538_10_MSG5: &str = include_str!("../../tests/fixtures/rfc4538/10-msg5-send-200.sip");
/// RFC 4538 section 10, message 8: Server B's REFER outside the dialog (sent).
pub const RFC4538_10_MSG8: &str =
    include_str!("../../tests/fixtures/rfc4538/10-msg8-send-REFER.sip");

/// Values of a fixture's `{NAME}` placeholders.
pub type Vars = BTreeMap<String, String>;

/// `vars` from pairs.
pub fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The fixture's lines without comments, split at the first empty line: (head lines, body).
fn split(fixture: &str) -> (Vec<&str>, Option<String>) {
    let mut lines = fixture
        .lines()
        .filter(|line| !line.starts_with('#'))
        .skip_while(|line| line.trim().is_empty());
    let mut head = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        head.push(line);
    }
    let body: Vec<&str> = lines.collect();
    let body = (!body.iter().all(|l| l.trim().is_empty())).then(|| {
        let mut text = body.join("\r\n");
        text.push_str("\r\n");
        text
    });
    (head, body)
}

fn substitute(text: &str, vars: &Vars) -> String {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The bytes of a `send-*` fixture: placeholders filled from `vars`, CRLF line ends (folded
/// lines kept folded), `Content-Length: ...` set to the body's length. `{SDP}` in the body may
/// hold a whole SDP with its own line ends.
pub fn fill(fixture: &str, vars: &Vars) -> Vec<u8> {
    let (head, body) = split(fixture);
    let body = body
        .map(|b| substitute(&b, vars))
        .map(|b| b.replace("\r\n", "\n").replace('\n', "\r\n"))
        .unwrap_or_default();
    let body = if body.trim().is_empty() {
        String::new()
    } else {
        // `{SDP}` brings its own final line end.
        let trimmed = body.trim_end_matches("\r\n");
        format!("{trimmed}\r\n")
    };
    let mut out = String::new();
    for line in head {
        let line = substitute(line, vars);
        if line.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        } else {
            out.push_str(&line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// The expected message's start line and headers `(name, pattern)`, folded lines joined (a
/// continuation starting with `;` is glued to the previous line, anything else after a space).
fn expected_lines(head: &[&str]) -> (String, Vec<(String, String)>) {
    let mut unfolded: Vec<String> = Vec::new();
    for line in head {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = unfolded.last_mut() {
                let rest = line.trim();
                if !rest.starts_with(';') {
                    last.push(' ');
                }
                last.push_str(rest);
            }
        } else {
            unfolded.push(line.to_string());
        }
    }
    let start = unfolded.first().cloned().unwrap_or_default();
    let headers = unfolded
        .iter()
        .skip(1)
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect();
    (start, headers)
}

/// A pattern's pieces: literal text and placeholders.
#[derive(Debug)]
enum Piece {
    Text(String),
    Any,
    Var(String),
}

fn pieces(pattern: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let name = &rest[open + 1..close];
        let is_name = !name.is_empty()
            && (name == "*"
                || name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
        if !is_name {
            out.push(Piece::Text(rest[..=open].to_string()));
            rest = &rest[open + 1..];
            continue;
        }
        if open > 0 {
            out.push(Piece::Text(rest[..open].to_string()));
        }
        out.push(if name == "*" {
            Piece::Any
        } else {
            Piece::Var(name.to_string())
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    out
}

/// Whether `text` matches `pieces`, binding unbound variables (backtracking; the texts are
/// short). On a match `bound` holds the new bindings too.
fn match_pieces(pieces: &[Piece], text: &str, bound: &mut Vars) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    match first {
        Piece::Text(literal) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| match_pieces(rest, after, bound)),
        Piece::Var(name) if bound.contains_key(name) => {
            let value = bound[name].clone();
            text.strip_prefix(value.as_str())
                .is_some_and(|after| match_pieces(rest, after, bound))
        }
        Piece::Any | Piece::Var(_) => {
            for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
                let mut attempt = bound.clone();
                if let Piece::Var(name) = first {
                    if end == 0 {
                        continue; // a bound value is never empty
                    }
                    attempt.insert(name.clone(), text[..end].to_string());
                }
                if match_pieces(rest, &text[end..], &mut attempt) {
                    *bound = attempt;
                    return true;
                }
            }
            false
        }
    }
}

/// Checks `actual` (a message handoff sent) against an `expect-*` fixture: its start line, each
/// header it lists (some value of that header in `actual` must match; handoff may send more
/// headers) and its body. `bound` holds the placeholders' values: bound ones must be equal,
/// unbound ones are captured. The error says what differed.
pub fn matches(fixture: &str, actual: &[u8], bound: &mut Vars) -> Result<(), String> {
    let message = sipwire::Message::parse(actual)
        .map_err(|e| format!("handoff's message does not parse ({e:?})"))?;
    let text = String::from_utf8_lossy(actual);
    let actual_start = text.lines().next().unwrap_or_default().trim().to_string();
    let (head, body) = split(fixture);
    let (start, headers) = expected_lines(&head);
    if !match_pieces(&pieces(&start), &actual_start, bound) {
        return Err(format!(
            "start line {actual_start:?} does not match {start:?}\n{text}"
        ));
    }
    for (name, pattern) in headers {
        let values = message.values(&name);
        let pattern_pieces = pieces(&pattern);
        let found = values.iter().any(|value| {
            let mut attempt = bound.clone();
            let ok = match_pieces(&pattern_pieces, value.trim(), &mut attempt);
            if ok {
                *bound = attempt;
            }
            ok
        });
        if !found {
            return Err(format!(
                "{name}: {values:?} does not match {pattern:?} (bound: {bound:?})\n{text}"
            ));
        }
    }
    if let Some(expected) = body {
        let actual_body = String::from_utf8_lossy(message.body()).trim().to_string();
        if !match_pieces(&pieces(expected.trim()), &actual_body, bound) {
            return Err(format!(
                "body {actual_body:?} does not match {:?}\n{text}",
                expected.trim()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_sets_content_length_and_keeps_folding() {
        let bytes = fill(
            "# c\nREFER sip:x SIP/2.0\nTarget-Dialog: {C};local-tag=a\n ;remote-tag=b\nContent-Length: ...\n",
            &vars(&[("C", "call")]),
        );
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "REFER sip:x SIP/2.0\r\nTarget-Dialog: call;local-tag=a\r\n ;remote-tag=b\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn placeholders_bind_once_and_must_agree() {
        let mut bound = Vars::new();
        assert!(match_pieces(
            &pieces("<{U}>;tag={T}"),
            "<sip:h@x>;tag=abc",
            &mut bound
        ));
        assert_eq!(bound["U"], "sip:h@x");
        assert_eq!(bound["T"], "abc");
        assert!(!match_pieces(&pieces("{T}"), "abd", &mut bound));
        assert!(match_pieces(
            &pieces("active;expires={*}"),
            "active;expires=60",
            &mut bound
        ));
    }
}
