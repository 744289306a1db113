//! Identifiers handoff mints (Call-ID, tags, Via branches). Their shapes and the ownership rules
//! that read them back are in [`crate::vocab::ownership`], re-exported here.

use crate::vocab::ownership::BRANCH_PREFIX;
pub use crate::vocab::ownership::*;

use super::ShardId;
use super::rng::Rng;

/// Mints this shard's identifiers from a seeded [`Rng`] (replayable under simulation).
#[derive(Clone, Debug)]
pub struct IdMinter {
    shard: ShardId,
    rng: Rng,
}

impl IdMinter {
    /// Seeded (simulation, tests): the same seed mints the same identifiers.
    pub fn new(shard: ShardId, seed: u64) -> IdMinter {
        IdMinter::with_rng(shard, Rng::new(seed))
    }

    /// With the driver's generator (the runtime keys it from the operating system).
    pub fn with_rng(shard: ShardId, rng: Rng) -> IdMinter {
        IdMinter { shard, rng }
    }

    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// `hf{shard:04x}-{16 hex}@{host}`: 64 random bits; `host` is `sbc.identity`.
    pub fn call_id(&mut self, host: &str) -> String {
        let mut id = String::with_capacity(24 + host.len());
        self.minted(&mut id, "hf", "-");
        id.push('@');
        id.push_str(host);
        id
    }

    /// `hf{shard:04x}{16 hex}`: 64 random bits.
    pub fn tag(&mut self) -> String {
        let mut tag = String::with_capacity(22);
        self.minted(&mut tag, "hf", "");
        tag
    }

    /// `z9hG4bK-hf{shard:04x}-{16 hex}` (RFC 3261 magic cookie first): 64 random bits.
    pub fn branch(&mut self) -> String {
        let mut branch = String::with_capacity(BRANCH_PREFIX.len() + 23);
        branch.push_str(BRANCH_PREFIX);
        self.minted(&mut branch, "hf", "-");
        branch
    }

    /// `{prefix}{shard:04x}{separator}{16 hex}` with 64 fresh random bits, written by hand
    /// (identifiers are minted several times per call; `format!` cost more than the rest).
    fn minted(&mut self, out: &mut String, prefix: &str, separator: &str) {
        out.push_str(prefix);
        push_hex(out, u64::from(self.shard.0), 4);
        out.push_str(separator);
        push_hex(out, self.rng.next_u64(), 16);
    }
}

/// `value` as `digits` lowercase hex digits, zero-padded (as `{:0digits$x}` for values that
/// fit).
fn push_hex(out: &mut String, value: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(char::from(HEX[((value >> (4 * i)) & 0xf) as usize]));
    }
}

/// A tag for a response the transaction layer generates on its own (481, 482, 483, 200 to
/// CANCEL, 408) or a stateless 403: derived from the request so every retransmission gets the
/// same tag, and shaped like a minted tag of `shard`. Not random, and needs not be: such a
/// response creates no dialog, so the tag names nothing a forged request could use.
pub fn derived_tag(shard: ShardId, seed_bytes: &[u8]) -> String {
    format!("hf{:04x}{:016x}", shard.0, fnv1a(seed_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_identifiers_have_the_documented_shape_and_encode_the_shard() {
        let mut minter = IdMinter::new(ShardId(0x2a), 1);
        let call_id = minter.call_id("handoff");
        let tag = minter.tag();
        let branch = minter.branch();
        assert!(call_id.starts_with("hf002a-") && call_id.ends_with("@handoff"));
        assert_eq!(call_id.len(), "hf002a-".len() + 16 + "@handoff".len());
        assert!(tag.starts_with("hf002a") && tag.len() == "hf002a".len() + 16);
        assert!(branch.starts_with("z9hG4bK-hf002a-") && branch.len() == 31);
        for id in [&call_id, &tag, &branch] {
            assert_eq!(shard_of_minted(id), Some(ShardId(0x2a)), "{id}");
        }
        assert!(is_rfc3261_branch(&branch));
    }

    #[test]
    fn two_shards_never_collide_in_ownership_even_with_one_key() {
        // Worst case: both shards keyed alike, so their random parts are equal; the shard
        // digits still keep every identifier apart and owned by its own shard.
        let mut shards = [IdMinter::new(ShardId(0), 5), IdMinter::new(ShardId(1), 5)];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            for (n, minter) in shards.iter_mut().enumerate() {
                for id in [minter.call_id("handoff"), minter.tag(), minter.branch()] {
                    assert_eq!(shard_of_minted(&id), Some(ShardId(n as u16)), "{id}");
                    assert!(seen.insert(id.clone()), "{id} minted twice");
                }
            }
        }
    }

    #[test]
    fn hand_written_hex_matches_format() {
        for value in [0u64, 1, 0xabc, 0x0123_4567_89ab_cdef, u64::MAX] {
            let mut out = String::new();
            push_hex(&mut out, value, 16);
            assert_eq!(out, format!("{value:016x}"));
        }
        for shard in [0u16, 1, 0x2a, 0xffff] {
            let mut out = String::new();
            push_hex(&mut out, u64::from(shard), 4);
            assert_eq!(out, format!("{shard:04x}"));
        }
        let mut a = IdMinter::new(ShardId(7), 3);
        let mut rng = Rng::new(3);
        assert_eq!(a.tag(), format!("hf{:04x}{:016x}", 7, rng.next_u64()));
        assert_eq!(
            a.call_id("sbc"),
            format!("hf{:04x}-{:016x}@sbc", 7, rng.next_u64())
        );
        assert_eq!(
            a.branch(),
            format!("{BRANCH_PREFIX}hf{:04x}-{:016x}", 7, rng.next_u64())
        );
    }

    #[test]
    fn same_seed_mints_the_same_identifiers() {
        let mut a = IdMinter::new(ShardId(3), 99);
        let mut b = IdMinter::new(ShardId(3), 99);
        assert_eq!(a.call_id("sbc"), b.call_id("sbc"));
        assert_eq!(a.branch(), b.branch());
        assert_ne!(a.tag(), a.tag());
    }

    #[test]
    fn minted_call_ids_are_owned_whatever_the_configured_identity() {
        // The Call-ID host is `sbc.identity`, so ownership reads the shape before the '@' only.
        for host in ["sbc", "edge-7", "handoff"] {
            let id = format!("hf0001-0123456789abcdef@{host}");
            assert_eq!(shard_of_minted(&id), Some(ShardId(1)), "{id:?}");
        }
    }

    #[test]
    fn carrier_identifiers_are_not_taken_for_minted_ones() {
        for id in [
            "",
            "hf",
            "hf0001",
            "a84b4c76e66710@pc33.atlanta.com",
            "hf0001-0123456789ABCDEF@handoff",
            "z9hG4bK776asdhds",
            "z9hG4bK-hf0001-0123",
            "hf00010123456789abcdef0",
            "hfzzzz0123456789abcdef",
            // The 48-bit tags of earlier versions are not minted any more.
            "hf00010123456789ab",
            "hf00010123456789ABCDEF",
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
