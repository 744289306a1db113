//! Identifiers handoff mints (Call-ID, tags, Via branches) and the shard-ownership rules.
//!
//! Every identifier handoff mints encodes the shard that owns it, so any shard can tell in O(1),
//! without shared state, who owns an incoming datagram:
//! - Call-ID `hf{shard:04x}-{16 hex}@handoff`
//! - tag     `hf{shard:04x}{12 hex}`
//! - branch  `z9hG4bK-hf{shard:04x}-{16 hex}`
//!
//! Carrier-chosen Call-IDs are owned by `fnv1a(call_id) % shard_count`, which every shard computes
//! the same way.

use super::ShardId;
use super::rng::Rng;

const MAGIC_COOKIE: &str = "z9hG4bK";
const BRANCH_PREFIX: &str = "z9hG4bK-";
const CALL_ID_HOST: &str = "@handoff";

/// Mints this shard's identifiers from a seeded [`Rng`] (replayable under simulation).
#[derive(Clone, Debug)]
pub struct IdMinter {
    shard: ShardId,
    rng: Rng,
}

impl IdMinter {
    pub fn new(shard: ShardId, seed: u64) -> IdMinter {
        IdMinter {
            shard,
            rng: Rng::new(seed),
        }
    }

    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// `hf{shard:04x}-{16 hex}@handoff`
    pub fn call_id(&mut self) -> String {
        format!(
            "hf{:04x}-{:016x}{CALL_ID_HOST}",
            self.shard.0,
            self.rng.next_u64()
        )
    }

    /// `hf{shard:04x}{12 hex}`
    pub fn tag(&mut self) -> String {
        format!(
            "hf{:04x}{:012x}",
            self.shard.0,
            self.rng.next_u64() & 0xFFFF_FFFF_FFFF
        )
    }

    /// `z9hG4bK-hf{shard:04x}-{16 hex}` (RFC 3261 magic cookie first).
    pub fn branch(&mut self) -> String {
        format!(
            "{BRANCH_PREFIX}hf{:04x}-{:016x}",
            self.shard.0,
            self.rng.next_u64()
        )
    }
}

/// A tag for a response the transaction layer generates on its own (481, 482, 483, 200 to
/// CANCEL, 408): derived from the request so every retransmission gets the same tag, and shaped
/// like a minted tag of `shard`.
pub fn derived_tag(shard: ShardId, seed_bytes: &[u8]) -> String {
    format!(
        "hf{:04x}{:012x}",
        shard.0,
        fnv1a(seed_bytes) & 0xFFFF_FFFF_FFFF
    )
}

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

/// The shard encoded in an identifier minted by [`IdMinter`] (Call-ID, tag or branch); `None`
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
        tail.len() == 17 && tail[0] == b'-' && is_lower_hex(&tail[1..])
    } else if let Some(random) = tail
        .strip_prefix(b"-")
        .and_then(|t| t.strip_suffix(CALL_ID_HOST.as_bytes()))
    {
        random.len() == 16 && is_lower_hex(random)
    } else {
        // tag: {12 hex}
        tail.len() == 12 && is_lower_hex(tail)
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

fn hash_to_shard(bytes: &[u8], shard_count: u16) -> ShardId {
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
    // A request whose To tag handoff minted is in a dialog of that shard (also legs whose
    // Call-ID a peer chose after the call began, e.g. a Replaces dialog).
    let mut to_tag_owner: Option<ShardId> = None;
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
            continue; // folded continuation: neither header we need folds in practice
        }
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
            to_tag_owner = tag_param(value).and_then(|t| minted_owner(t, shard_count));
        } else if is_invite && name.eq_ignore_ascii_case(b"replaces") {
            replaces_owner = to_tag_of_replaces(value).and_then(|t| minted_owner(t, shard_count));
        }
        if call_id.is_some() && to_seen && (!is_response || top_via.is_some()) && !is_invite {
            break;
        }
    }
    if let Some(shard) = replaces_owner.or(to_tag_owner) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_identifiers_have_the_documented_shape_and_encode_the_shard() {
        let mut minter = IdMinter::new(ShardId(0x2a), 1);
        let call_id = minter.call_id();
        let tag = minter.tag();
        let branch = minter.branch();
        assert!(call_id.starts_with("hf002a-") && call_id.ends_with("@handoff"));
        assert_eq!(call_id.len(), "hf002a-".len() + 16 + "@handoff".len());
        assert!(tag.starts_with("hf002a") && tag.len() == 18);
        assert!(branch.starts_with("z9hG4bK-hf002a-") && branch.len() == 31);
        for id in [&call_id, &tag, &branch] {
            assert_eq!(shard_of_minted(id), Some(ShardId(0x2a)), "{id}");
        }
        assert!(is_rfc3261_branch(&branch));
    }

    #[test]
    fn same_seed_mints_the_same_identifiers() {
        let mut a = IdMinter::new(ShardId(3), 99);
        let mut b = IdMinter::new(ShardId(3), 99);
        assert_eq!(a.call_id(), b.call_id());
        assert_eq!(a.branch(), b.branch());
        assert_ne!(a.tag(), a.tag());
    }

    #[test]
    fn carrier_identifiers_are_not_taken_for_minted_ones() {
        for id in [
            "",
            "hf",
            "hf0001",
            "a84b4c76e66710@pc33.atlanta.com",
            "hf0001-0123456789abcdef@elsewhere",
            "hf0001-0123456789ABCDEF@handoff",
            "z9hG4bK776asdhds",
            "z9hG4bK-hf0001-0123",
            "hf00010123456789ab0",
            "hfzzzz0123456789ab",
        ] {
            assert_eq!(shard_of_minted(id), None, "{id:?}");
        }
    }

    #[test]
    fn call_id_hash_is_stable_and_in_range() {
        // FNV-1a reference value for "a".
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        for count in 1..9u16 {
            let shard = shard_for_call_id("a84b4c76e66710@pc33.atlanta.com", count);
            assert!(shard.0 < count);
            assert_eq!(
                shard,
                shard_for_call_id(" a84b4c76e66710@pc33.atlanta.com ", count)
            );
        }
        assert_eq!(shard_for_call_id("x", 0), ShardId(0));
    }

    fn request(call_id: &str, branch: &str) -> Vec<u8> {
        format!(
            "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
             From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn response(call_id: &str, branch: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.9;rport;branch={branch}, SIP/2.0/UDP x;branch=z9hG4bK-hf0002-0123456789abcdef\r\n\
             f: <sip:x@y>;tag=1\r\nt: <sip:a@b>;tag=2\r\ni: {call_id}\r\nCSeq: 2 BYE\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn requests_are_owned_by_their_call_id() {
        let ours = "hf0003-0123456789abcdef@handoff";
        assert_eq!(owner_of_datagram(&request(ours, "z9hG4bKx"), 8), ShardId(3));
        let theirs = "a84b4c76e66710@pc33.atlanta.com";
        assert_eq!(
            owner_of_datagram(&request(theirs, "z9hG4bK-hf0005-0123456789abcdef"), 8),
            shard_for_call_id(theirs, 8)
        );
        // Minted by a shard that no longer exists: the hash decides.
        assert_eq!(
            owner_of_datagram(&request(ours, "z9hG4bKx"), 2),
            shard_for_call_id(ours, 2)
        );
    }

    #[test]
    fn responses_are_owned_by_their_top_via_branch() {
        let theirs = "a84b4c76e66710@pc33.atlanta.com";
        assert_eq!(
            owner_of_datagram(&response(theirs, "z9hG4bK-hf0005-0123456789abcdef"), 8),
            ShardId(5)
        );
        assert_eq!(
            owner_of_datagram(&response(theirs, "z9hG4bKcarrier"), 8),
            shard_for_call_id(theirs, 8)
        );
    }

    #[test]
    fn garbage_is_owned_by_its_hash_and_never_panics() {
        for bytes in [
            &b""[..],
            b"\r\n\r\n",
            b"SIP/",
            b"garbage",
            b"INVITE\nVia\n:\n\n",
            b"\xff\xfe:",
        ] {
            let shard = owner_of_datagram(bytes, 4);
            assert!(shard.0 < 4);
            assert_eq!(shard, hash_to_shard(bytes, 4));
        }
        assert_eq!(owner_of_datagram(b"anything", 1), ShardId(0));
    }
}
