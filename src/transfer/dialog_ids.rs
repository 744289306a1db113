//! Dialog identifiers in Replaces (RFC 3891) and Target-Dialog (RFC 4538), and their translation
//! from one side of the B2BUA to the other.
//!
//! handoff has different Call-IDs and tags on each leg. A Replaces or Target-Dialog value that
//! names a dialog handoff bridges must be rewritten into the identifiers of the bridged leg on the
//! other side, or the receiver cannot find the dialog (the classic "481 after attended transfer"
//! through an SBC).
//!
//! # Whose point of view
//!
//! [`DialogId`] is always handoff's own view of one of its legs: `local_tag` is the tag handoff
//! put in that dialog, `remote_tag` the peer's. The two headers are written from different points
//! of view:
//!
//! - **Replaces** is written from the RECEIVER's point of view. RFC 3891 section 3:
//!   > "The User Agent Server (UAS) matches the to-tag and from-tag parameters as if they were
//!   > tags present in an incoming request. In other words, the to-tag parameter is compared to
//!   > the local tag, and the from-tag parameter is compared to the remote tag."
//!
//!   So a Replaces handoff receives has `to-tag` = handoff's tag, `from-tag` = the peer's tag.
//!   A Replaces handoff sends toward the far end of a leg has `to-tag` = that far end's tag (our
//!   `remote_tag`) and `from-tag` = handoff's tag (our `local_tag`). The tags swap places between
//!   the value received and the value sent.
//! - **Target-Dialog** is written from the RECIPIENT's point of view too. RFC 4538 section 3:
//!   > "The "remote-tag" header field parameter MUST be present and MUST contain the tag that
//!   > would be viewed as the remote tag from the perspective of the recipient of the new
//!   > request. The "local-tag" header field parameter MUST be present and MUST contain the tag
//!   > that would be viewed as the local tag from the perspective of the recipient of the new
//!   > request."
//!
//!   and section 4: the UAS matches "the callid production, the "remote-tag", and "local-tag"
//!   values" against "the Call-ID, remote tag, and local tag of an existing dialog". So a
//!   Target-Dialog handoff receives has `local-tag` = handoff's tag, and one handoff sends
//!   toward the far end of a leg has `local-tag` = that far end's tag (our `remote_tag`) and
//!   `remote-tag` = handoff's tag (our `local_tag`).
//!
//! [`translate`] therefore always goes: value received -> handoff's view of this leg -> lookup ->
//! handoff's view of the bridged leg -> value for the receiver on the other side. Identifiers of
//! dialogs the lookup does not know, and values that do not parse, pass unchanged.

use std::borrow::Cow;

use crate::transfer::escape::{BadEscape, escape_hvalue, unescape};
use crate::vocab::ShardId;
use crate::vocab::ownership::{shard_for_call_id, shard_of_minted};

/// One dialog as handoff sees it: the Call-ID, handoff's tag and the peer's tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    pub call_id: String,
    /// The tag handoff chose for this dialog (From tag where handoff was UAC, To tag where UAS).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    pub fn new(
        call_id: impl Into<String>,
        local_tag: impl Into<String>,
        remote_tag: impl Into<String>,
    ) -> DialogId {
        DialogId {
            call_id: call_id.into(),
            local_tag: local_tag.into(),
            remote_tag: remote_tag.into(),
        }
    }

    /// The shard that owns this dialog, so a translation can ask it by message: the shard
    /// encoded in handoff's own tag (or a Call-ID handoff minted), else the Call-ID hash every
    /// shard computes alike (see [`crate::vocab::ownership`]).
    pub fn owning_shard(&self, shard_count: u16) -> ShardId {
        shard_of_minted(&self.local_tag)
            .or_else(|| shard_of_minted(&self.call_id))
            .filter(|shard| shard.0 < shard_count)
            .unwrap_or_else(|| shard_for_call_id(&self.call_id, shard_count))
    }
}

/// Why a Replaces or Target-Dialog value could not be read. The sender of the value is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogIdError {
    #[error("{header} value {value:?} has no Call-ID")]
    MissingCallId { header: &'static str, value: String },
    #[error("{header} value {value:?} lacks the required {param} parameter")]
    MissingParam {
        header: &'static str,
        param: &'static str,
        value: String,
    },
    #[error("{header} value {value:?} has {param} more than once")]
    DuplicateParam {
        header: &'static str,
        param: &'static str,
        value: String,
    },
    #[error("{header} value {value:?}: {param} has an empty value")]
    EmptyParam {
        header: &'static str,
        param: &'static str,
        value: String,
    },
    #[error("{header} value {value:?}: Call-ID or tag contains whitespace or a quote")]
    BadToken { header: &'static str, value: String },
    #[error(transparent)]
    BadEscape(#[from] BadEscape),
}

/// A parsed `callid;name=value;flag` value (the shape both headers share).
struct Parts<'a> {
    call_id: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

fn split_parts<'a>(header: &'static str, value: &'a str) -> Result<Parts<'a>, DialogIdError> {
    let mut pieces = value.split(';');
    let call_id = pieces.next().unwrap_or("").trim();
    if call_id.is_empty() {
        return Err(DialogIdError::MissingCallId {
            header,
            value: value.to_owned(),
        });
    }
    let bad_token = |text: &str| text.bytes().any(|b| b.is_ascii_whitespace() || b == b'"');
    if bad_token(call_id) {
        return Err(DialogIdError::BadToken {
            header,
            value: value.to_owned(),
        });
    }
    let mut params = Vec::new();
    for piece in pieces {
        let (name, param_value) = match piece.split_once('=') {
            Some((name, param_value)) => (name.trim(), Some(param_value.trim())),
            None => (piece.trim(), None),
        };
        if name.is_empty() || param_value.is_some_and(bad_token) || bad_token(name) {
            return Err(DialogIdError::BadToken {
                header,
                value: value.to_owned(),
            });
        }
        params.push((name, param_value));
    }
    Ok(Parts { call_id, params })
}

/// Takes the single required `name=value` parameter out of `params`.
fn take_tag(
    header: &'static str,
    param: &'static str,
    params: &mut Vec<(&str, Option<&str>)>,
    value: &str,
) -> Result<String, DialogIdError> {
    let mut found = None;
    let mut index = 0;
    while index < params.len() {
        if params[index].0.eq_ignore_ascii_case(param) {
            let (_, tag) = params.remove(index);
            if found.is_some() {
                return Err(DialogIdError::DuplicateParam {
                    header,
                    param,
                    value: value.to_owned(),
                });
            }
            found = Some(tag.unwrap_or(""));
        } else {
            index += 1;
        }
    }
    match found {
        None => Err(DialogIdError::MissingParam {
            header,
            param,
            value: value.to_owned(),
        }),
        Some("") => Err(DialogIdError::EmptyParam {
            header,
            param,
            value: value.to_owned(),
        }),
        Some(tag) => Ok(tag.to_owned()),
    }
}

fn render_extra(out: &mut String, extra: &[String]) {
    for param in extra {
        out.push(';');
        out.push_str(param);
    }
}

fn keep_extra(params: Vec<(&str, Option<&str>)>) -> Vec<String> {
    params
        .into_iter()
        .map(|(name, value)| match value {
            Some(value) => format!("{name}={value}"),
            None => name.to_owned(),
        })
        .collect()
}

/// RFC 3891 Replaces: `callid;to-tag=..;from-tag=..[;early-only]`, from the receiver's point of
/// view (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    pub early_only: bool,
    /// Other (generic) parameters, kept as received, e.g. `x=1`.
    pub extra: Vec<String>,
}

impl Replaces {
    /// Parses a Replaces header value (unescaped). Parameter names match case-insensitively and
    /// may come in any order.
    pub fn parse(value: &str) -> Result<Replaces, DialogIdError> {
        const HEADER: &str = "Replaces";
        let Parts {
            call_id,
            mut params,
        } = split_parts(HEADER, value)?;
        let to_tag = take_tag(HEADER, "to-tag", &mut params, value)?;
        let from_tag = take_tag(HEADER, "from-tag", &mut params, value)?;
        let before = params.len();
        params.retain(|(name, _)| !name.eq_ignore_ascii_case("early-only"));
        Ok(Replaces {
            call_id: call_id.to_owned(),
            to_tag,
            from_tag,
            early_only: params.len() != before,
            extra: keep_extra(params),
        })
    }

    /// Parses the %-escaped form found in a URI header: `?Replaces=call%40h%3Bto-tag%3D..`.
    pub fn parse_escaped(escaped: &str) -> Result<Replaces, DialogIdError> {
        Replaces::parse(&unescape(escaped)?)
    }

    /// The header value: `callid;to-tag=..;from-tag=..[;early-only]`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        );
        if self.early_only {
            out.push_str(";early-only");
        }
        render_extra(&mut out, &self.extra);
        out
    }

    /// The %-escaped form for a URI header (`;` -> `%3B`, `=` -> `%3D`, `@` -> `%40`).
    pub fn render_escaped(&self) -> String {
        escape_hvalue(&self.render())
    }

    /// The dialog this value names, as seen by the party that received it (handoff): the
    /// to-tag is the receiver's own tag (RFC 3891 section 3).
    pub fn receiver_view(&self) -> DialogId {
        DialogId::new(&self.call_id, &self.to_tag, &self.from_tag)
    }

    /// A Replaces naming `ours` (handoff's view of one of its legs) for the far end of that leg:
    /// the to-tag is the far end's tag, the from-tag handoff's. Keeps early-only and extras.
    pub fn for_far_end_of(&self, ours: &DialogId) -> Replaces {
        Replaces {
            call_id: ours.call_id.clone(),
            to_tag: ours.remote_tag.clone(),
            from_tag: ours.local_tag.clone(),
            early_only: self.early_only,
            extra: self.extra.clone(),
        }
    }
}

/// RFC 4538 Target-Dialog: `callid;local-tag=..;remote-tag=..`, from the recipient's point of
/// view (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetDialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    pub extra: Vec<String>,
}

impl TargetDialog {
    pub fn parse(value: &str) -> Result<TargetDialog, DialogIdError> {
        const HEADER: &str = "Target-Dialog";
        let Parts {
            call_id,
            mut params,
        } = split_parts(HEADER, value)?;
        let local_tag = take_tag(HEADER, "local-tag", &mut params, value)?;
        let remote_tag = take_tag(HEADER, "remote-tag", &mut params, value)?;
        Ok(TargetDialog {
            call_id: call_id.to_owned(),
            local_tag,
            remote_tag,
            extra: keep_extra(params),
        })
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "{};local-tag={};remote-tag={}",
            self.call_id, self.local_tag, self.remote_tag
        );
        render_extra(&mut out, &self.extra);
        out
    }

    /// The dialog as the recipient (handoff) sees it: `local-tag` is the recipient's own tag
    /// (RFC 4538 section 3).
    pub fn receiver_view(&self) -> DialogId {
        DialogId::new(&self.call_id, &self.local_tag, &self.remote_tag)
    }

    /// A Target-Dialog naming `ours` (handoff's view of one of its legs) for the far end of
    /// that leg, the recipient: `local-tag` is the far end's tag, `remote-tag` handoff's.
    /// Keeps extra parameters.
    pub fn for_far_end_of(&self, ours: &DialogId) -> TargetDialog {
        TargetDialog {
            call_id: ours.call_id.clone(),
            local_tag: ours.remote_tag.clone(),
            remote_tag: ours.local_tag.clone(),
            extra: self.extra.clone(),
        }
    }
}

/// The Target-Dialog handoff writes itself on a REFER it sends in the dialog `ours` (handoff's
/// view of the leg), for the far end of that leg, when the REFER's Refer-To carries
/// `replaces_escaped` (already written for that far end): `Some` only when that Replaces names
/// a dialog other than `ours` (RFC 4538 section 1: the header tells the recipient which of its
/// dialogs the request is about; a REFER in that very dialog without a Replaces naming another
/// one needs no such hint). `local-tag` is the far end's tag, `remote-tag` handoff's
/// (RFC 4538 section 3, recipient's view).
pub fn target_dialog_beside_replaces(ours: &DialogId, replaces_escaped: &str) -> Option<String> {
    let replaces = Replaces::parse_escaped(replaces_escaped).ok()?;
    // The Replaces is written for the far end: its to-tag is the far end's own tag.
    let same = replaces.call_id == ours.call_id
        && replaces.to_tag == ours.remote_tag
        && replaces.from_tag == ours.local_tag;
    if same {
        return None;
    }
    let target = TargetDialog {
        call_id: ours.call_id.clone(),
        local_tag: ours.remote_tag.clone(),
        remote_tag: ours.local_tag.clone(),
        extra: Vec::new(),
    };
    Some(target.render())
}

/// Where a dialog identifier value was found; decides its syntax and point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogIdForm {
    /// A `Replaces:` header on an INVITE.
    ReplacesHeader,
    /// The %-escaped `Replaces=` header inside a Refer-To URI.
    ReplacesInUri,
    /// A `Target-Dialog:` header.
    TargetDialogHeader,
}

/// The dialog a received `value` names, in handoff's view (`None` if it does not parse).
///
/// With [`rewrite_for`] this splits [`translate`] in two, for when the bridged leg lives on
/// another shard: read the dialog here, ask [`DialogId::owning_shard`] by message, then rewrite.
pub fn named_dialog(form: DialogIdForm, value: &str) -> Option<DialogId> {
    match form {
        DialogIdForm::ReplacesHeader => Replaces::parse(value).ok().map(|r| r.receiver_view()),
        DialogIdForm::ReplacesInUri => Replaces::parse_escaped(value)
            .ok()
            .map(|r| r.receiver_view()),
        DialogIdForm::TargetDialogHeader => {
            TargetDialog::parse(value).ok().map(|t| t.receiver_view())
        }
    }
}

/// `value` rewritten to name `bridged` (handoff's view of the leg on the other side) for the
/// receiver on that side, keeping its other parameters. `None` if `value` does not parse.
pub fn rewrite_for(form: DialogIdForm, value: &str, bridged: &DialogId) -> Option<String> {
    match form {
        DialogIdForm::ReplacesHeader => Replaces::parse(value)
            .ok()
            .map(|r| r.for_far_end_of(bridged).render()),
        DialogIdForm::ReplacesInUri => Replaces::parse_escaped(value)
            .ok()
            .map(|r| r.for_far_end_of(bridged).render_escaped()),
        DialogIdForm::TargetDialogHeader => TargetDialog::parse(value)
            .ok()
            .map(|t| t.for_far_end_of(bridged).render()),
    }
}

/// Rewrites `value` (received on one side) for the receiver on the other side of the bridge.
///
/// `lookup` maps handoff's view of the named leg to handoff's view of the leg bridged to it
/// (`None` = not a dialog handoff bridges). Unknown dialogs and unparsable values come back
/// unchanged, byte for byte.
pub fn translate(
    form: DialogIdForm,
    value: &str,
    lookup: impl Fn(&DialogId) -> Option<DialogId>,
) -> Cow<'_, str> {
    let translated = named_dialog(form, value)
        .and_then(|named| lookup(&named))
        .and_then(|bridged| rewrite_for(form, value, &bridged));
    match translated {
        Some(text) => Cow::Owned(text),
        None => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_params_in_any_order_and_case_with_spaces() {
        let parsed = Replaces::parse("abc@h ; FROM-TAG = f ;early-only; To-Tag=t;x=1").unwrap();
        assert_eq!(parsed.call_id, "abc@h");
        assert_eq!(parsed.to_tag, "t");
        assert_eq!(parsed.from_tag, "f");
        assert!(parsed.early_only);
        assert_eq!(parsed.extra, vec!["x=1".to_owned()]);
        assert_eq!(parsed.render(), "abc@h;to-tag=t;from-tag=f;early-only;x=1");
    }

    #[test]
    fn replaces_errors_name_the_fault() {
        let missing = Replaces::parse("abc;to-tag=t").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "Replaces value \"abc;to-tag=t\" lacks the required from-tag parameter"
        );
        assert!(matches!(
            Replaces::parse("abc;to-tag=t;to-tag=u;from-tag=f"),
            Err(DialogIdError::DuplicateParam {
                param: "to-tag",
                ..
            })
        ));
        assert!(matches!(
            Replaces::parse(";to-tag=t;from-tag=f"),
            Err(DialogIdError::MissingCallId { .. })
        ));
        assert!(matches!(
            Replaces::parse("abc;to-tag=;from-tag=f"),
            Err(DialogIdError::EmptyParam {
                param: "to-tag",
                ..
            })
        ));
    }

    #[test]
    fn target_dialog_round_trips() {
        let parsed = TargetDialog::parse("c1@p;remote-tag=r;local-tag=l").unwrap();
        assert_eq!(parsed.receiver_view(), DialogId::new("c1@p", "l", "r"));
        assert_eq!(parsed.render(), "c1@p;local-tag=l;remote-tag=r");
    }
}
