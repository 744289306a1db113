//! Which shard owns an identifier or a datagram: pure rules on text, shared by the core (routing
//! datagrams), `transfer` (translating dialog identifiers across shards) and the tests.
//!
//! Every identifier handoff mints encodes the shard that owns it, so any shard can tell in O(1),
//! without shared state, who owns an incoming datagram:
//! - Call-ID `hf{shard:04x}-{16 hex}@{sbc.identity}`
//! - tag     `hf{shard:04x}{16 hex}`
//! - branch  `z9hG4bK-hf{shard:04x}-{16 hex}`
//!
//! The 16 hex digits of each are 64 bits from the shard's CSPRNG (ChaCha20, `core::rng`): whoever
//! cannot predict them cannot forge an in-dialog request or a response. The shard prefix is not
//! secret; it only routes.
//!
//! Carrier-chosen Call-IDs are owned by `fnv1a(call_id) % shard_count`, which every shard computes
//! the same way. Minting lives in `core::ids`.

use super::ShardId;

const MAGIC_COOKIE: &str = "z9hG4bK";
pub(crate) const BRANCH_PREFIX: &str = "z9hG4bK-";
/// Hex digits of the random part of every minted identifier: 64 bits.
pub const RANDOM_HEX: usize = 16;

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn parse_shard_hex(bytes: &[u8]) -> Option<ShardId> {
    if bytes.len() != 4 || !is_lower_hex(bytes) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    u16::from_str_radix(text, 16).ok().map(ShardId)
}

/// The shard encoded in an identifier minted by [`crate::core::ids::IdMinter`] (Call-ID, tag or branch); `None`
/// for anything else (a carrier's identifier).
pub fn shard_of_minted(id: &str) -> Option<ShardId> {
    let bytes = id.as_bytes();
    let (is_branch, rest) = match bytes.strip_prefix(BRANCH_PREFIX.as_bytes()) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let rest = rest.strip_prefix(b"hf")?;
    if rest.len() < 4 {
        return None;
    }
    let (shard_hex, tail) = rest.split_at(4);
    let shard = parse_shard_hex(shard_hex)?;
    let shaped = if is_branch {
        // -{16 hex}
        tail.len() == RANDOM_HEX + 1 && tail[0] == b'-' && is_lower_hex(&tail[1..])
    } else if let Some(call_id) = tail.strip_prefix(b"-") {
        // {16 hex}@{host}: the host is `sbc.identity`, whatever it is configured to.
        call_id.len() > RANDOM_HEX + 1
            && call_id[RANDOM_HEX] == b'@'
            && is_lower_hex(&call_id[..RANDOM_HEX])
    } else {
        // tag: {16 hex}
        tail.len() == RANDOM_HEX && is_lower_hex(tail)
    };
    shaped.then_some(shard)
}

/// 64-bit FNV-1a: simple, stable across builds and machines (unlike `std`'s `RandomState`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub fn hash_to_shard(bytes: &[u8], shard_count: u16) -> ShardId {
    if shard_count <= 1 {
        return ShardId(0);
    }
    ShardId((fnv1a(bytes) % u64::from(shard_count)) as u16)
}

/// The owner of a carrier-chosen Call-ID (the same answer on every shard).
pub fn shard_for_call_id(call_id: &str, shard_count: u16) -> ShardId {
    hash_to_shard(call_id.trim().as_bytes(), shard_count)
}

/// Ownership of a Call-ID that may be ours: minted → its shard (if it still exists), else the hash.
fn owner_of_call_id(call_id: &[u8], shard_count: u16) -> ShardId {
    let call_id = call_id.trim_ascii();
    minted_owner(call_id, shard_count).unwrap_or_else(|| hash_to_shard(call_id, shard_count))
}

fn minted_owner(id: &[u8], shard_count: u16) -> Option<ShardId> {
    let shard = shard_of_minted(std::str::from_utf8(id).ok()?)?;
    // A shard that no longer exists (restart with fewer shards) falls back to the hash.
    (shard.0 < shard_count).then_some(shard)
}

/// Which shard owns this datagram, computed from the start line, the Call-ID and the top Via
/// only (header lines are scanned until both are found; no allocation, no full parse):
/// - INVITE with Replaces whose to-tag handoff minted → that tag's shard (the replaced dialog's);
/// - request whose To tag handoff minted → that tag's shard;
/// - REFER without a To tag whose Target-Dialog `local-tag` handoff minted (an out-of-dialog
///   REFER, RFC 5589 section 6.1: the local-tag is the recipient's, handoff's, tag by RFC 4538
///   section 3) → that tag's shard, the one holding the named dialog;
/// - request: Call-ID minted by handoff → that shard, else `fnv1a(Call-ID) % shard_count`;
/// - response: top Via branch minted by handoff → that shard, else the Call-ID hash;
/// - no Call-ID found (unparseable): `fnv1a(whole datagram) % shard_count`, so a flood of garbage
///   spreads over the shards instead of landing on one; whichever shard gets it answers 400 or
///   drops it.
pub fn owner_of_datagram(datagram: &[u8], shard_count: u16) -> ShardId {
    if shard_count <= 1 {
        return ShardId(0);
    }
    let is_response = datagram.starts_with(b"SIP/");
    // An INVITE with Replaces belongs to the shard of the dialog it replaces.
    let is_invite = datagram.starts_with(b"INVITE ");
    let mut replaces_owner: Option<ShardId> = None;
    // An out-of-dialog REFER belongs to the shard of the dialog its Target-Dialog names.
    let is_refer = datagram.starts_with(b"REFER ");
    let mut target_dialog_owner: Option<ShardId> = None;
    // The last header line was Target-Dialog (its value may continue on folded lines).
    let mut in_target_dialog = false;
    // A request whose To tag handoff minted is in a dialog of that shard (also legs whose
    // Call-ID a peer chose after the call began, e.g. a Replaces dialog).
    let mut to_tag_owner: Option<ShardId> = None;
    let mut to_has_tag = false;
    let mut to_seen = is_response;
    let mut call_id: Option<&[u8]> = None;
    let mut top_via: Option<&[u8]> = None;
    let mut next_line = memchr::memchr(b'\n', datagram).map_or(datagram.len(), |i| i + 1);
    while next_line < datagram.len() {
        let rest = &datagram[next_line..];
        let line_len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..line_len];
        next_line += line_len + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // end of headers
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // Folded continuation: only Target-Dialog is read across folds (RFC 4538 and 5589
            // print it folded, with local-tag on either line).
            if in_target_dialog && target_dialog_owner.is_none() {
                target_dialog_owner = local_tag_of_target_dialog(line, true)
                    .and_then(|t| minted_owner(t, shard_count));
            }
            continue;
        }
        in_target_dialog = false;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        let value = &line[colon + 1..];
        if call_id.is_none()
            && (name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i"))
        {
            call_id = Some(value);
        } else if top_via.is_none()
            && (name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v"))
        {
            top_via = Some(value);
        } else if !to_seen && (name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"t"))
        {
            to_seen = true;
            to_has_tag = tag_param(value).is_some();
            to_tag_owner = tag_param(value).and_then(|t| minted_owner(t, shard_count));
        } else if is_invite && name.eq_ignore_ascii_case(b"replaces") {
            replaces_owner = to_tag_of_replaces(value).and_then(|t| minted_owner(t, shard_count));
        } else if is_refer
            && target_dialog_owner.is_none()
            && name.eq_ignore_ascii_case(b"target-dialog")
        {
            in_target_dialog = true;
            target_dialog_owner =
                local_tag_of_target_dialog(value, false).and_then(|t| minted_owner(t, shard_count));
        }
        if call_id.is_some()
            && to_seen
            && (!is_response || top_via.is_some())
            && !is_invite
            && !is_refer
        {
            break;
        }
    }
    if let Some(shard) = replaces_owner.or(to_tag_owner) {
        return shard;
    }
    // Only a REFER outside a dialog (no To tag) is routed by its Target-Dialog.
    if let Some(shard) = target_dialog_owner.filter(|_| !to_has_tag) {
        return shard;
    }
    if is_response
        && let Some(shard) = top_via
            .and_then(branch_of_via)
            .and_then(|branch| minted_owner(branch, shard_count))
    {
        return shard;
    }
    match call_id {
        Some(call_id) => owner_of_call_id(call_id, shard_count),
        None => hash_to_shard(datagram, shard_count),
    }
}

/// The `tag` parameter of a To header value (after the closing `>` of a name-addr).
fn tag_param(value: &[u8]) -> Option<&[u8]> {
    let params = match memchr::memrchr(b'>', value) {
        Some(end) => &value[end + 1..],
        None => value,
    };
    params.split(|&b| b == b';').skip(1).find_map(|param| {
        let param = param.trim_ascii();
        let eq = memchr::memchr(b'=', param)?;
        let (name, value) = (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii());
        name.eq_ignore_ascii_case(b"tag").then_some(value)
    })
}

/// The `local-tag` parameter of a Target-Dialog value (`callid;local-tag=..;remote-tag=..`);
/// `continuation`: a folded line holds parameters only, no Call-ID.
fn local_tag_of_target_dialog(value: &[u8], continuation: bool) -> Option<&[u8]> {
    value
        .split(|&b| b == b';')
        .skip(usize::from(!continuation))
        .find_map(|param| {
            let param = param.trim_ascii();
            let eq = memchr::memchr(b'=', param)?;
            let (name, value) = (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii());
            name.eq_ignore_ascii_case(b"local-tag").then_some(value)
        })
}

/// The `to-tag` parameter of a Replaces value (`callid;to-tag=..;from-tag=..`).
fn to_tag_of_replaces(value: &[u8]) -> Option<&[u8]> {
    value.split(|&b| b == b';').skip(1).find_map(|param| {
        let param = param.trim_ascii();
        let eq = memchr::memchr(b'=', param)?;
        let (name, value) = (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii());
        name.eq_ignore_ascii_case(b"to-tag").then_some(value)
    })
}

/// The branch parameter of the first Via value on a header line.
fn branch_of_via(via_line: &[u8]) -> Option<&[u8]> {
    let first = via_line.split(|&b| b == b',').next()?;
    first.split(|&b| b == b';').skip(1).find_map(|param| {
        let param = param.trim_ascii();
        let eq = memchr::memchr(b'=', param)?;
        let (name, value) = (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii());
        name.eq_ignore_ascii_case(b"branch").then_some(value)
    })
}

/// RFC 3261 branch (has the magic cookie) as opposed to an RFC 2543 one.
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.starts_with(MAGIC_COOKIE)
}
