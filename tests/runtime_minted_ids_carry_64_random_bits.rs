//! Issue 9, "Identifiers, 64 bits": every Call-ID, tag and Via branch handoff mints carries at
//! least 64 random bits (whoever predicts them can forge in-dialog requests, see the brief's
//! "Trust at the border"), and still names the shard that owns it.
//!
//! Measured from the outside, on the real binary with two shards: the identifiers are read from
//! the SIP messages handoff sends (leg B's INVITE and BYE, leg A's 200), the documented prefix is
//! cut off (`hf{shard:04x}` for a tag, `hf{shard:04x}-`..`@handoff` for a Call-ID,
//! `z9hG4bK-hf{shard:04x}-` for a branch; ARCHITECTURE.md, "Data flow of a call"), and the rest is
//! checked bit by bit across many calls: a bit that never changes is not random. With 48 samples
//! a truly random bit stays constant with probability 2^-47.
//!
//! Ownership: a call whose Call-ID the carrier chose belongs to shard `fnv1a(Call-ID) % shards`
//! (FNV-1a 64, computed here from its published constants); every identifier minted for that
//! call must name that shard, in its prefix and through handoff's ownership parser, so the two
//! shards' identifiers never collide.

mod runtime_support;

use std::collections::HashSet;

use handoff::core::ShardId;
use handoff::core::ids::shard_of_minted;
use runtime_support::call::{Endpoint, establish};
use runtime_support::ua::{in_dialog, response};
use runtime_support::{Handoff, WAIT, setup};

const CALLS: usize = 48;
const SHARDS: u64 = 2;
const RANDOM_BITS: usize = 64;

/// FNV-1a, 64 bits (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn tag_of(party: &str) -> String {
    party
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("tag="))
        .expect("a tag")
        .to_owned()
}

fn branch_of(via: &str) -> String {
    via.split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("branch="))
        .expect("a branch")
        .to_owned()
}

/// An identifier split into its shard digits and its random part, per the documented shapes.
struct Parts {
    shard: u64,
    random: String,
}

fn split(kind: &str, id: &str) -> Parts {
    let rest = match kind {
        "branch" => id.strip_prefix("z9hG4bK-hf"),
        _ => id.strip_prefix("hf"),
    }
    .unwrap_or_else(|| panic!("{kind} {id:?}: not handoff's shape"));
    let (shard, rest) = rest.split_at(4);
    let random = match kind {
        "call-id" => rest
            .strip_prefix('-')
            // The host is `sbc.identity` (default "sbc"), never the product name.
            .and_then(|r| r.strip_suffix("@sbc")),
        "branch" => rest.strip_prefix('-'),
        _ => Some(rest),
    }
    .unwrap_or_else(|| panic!("{kind} {id:?}: not handoff's shape"));
    Parts {
        shard: u64::from_str_radix(shard, 16).unwrap(),
        random: random.to_owned(),
    }
}

/// Bits of the random parts (hex digits) that take both values across `ids`.
fn varying_bits(ids: &[String]) -> usize {
    let len = ids.iter().map(String::len).max().unwrap_or(0);
    assert!(
        ids.iter().all(|r| r.len() == len),
        "random parts vary in length: {ids:?}"
    );
    let digits: Vec<Vec<u8>> = ids
        .iter()
        .map(|r| {
            r.chars()
                .map(|c| c.to_digit(16).unwrap_or_else(|| panic!("not hex: {r}")) as u8)
                .collect()
        })
        .collect();
    (0..len * 4)
        .filter(|bit| {
            let value = |d: &Vec<u8>| (d[bit / 4] >> (3 - bit % 4)) & 1;
            let first = value(&digits[0]);
            digits.iter().any(|d| value(d) != first)
        })
        .count()
}

#[test]
fn every_minted_identifier_kind_carries_64_random_bits_and_names_its_shard() {
    let s = setup("epoll", 25600, SHARDS as usize, 30);
    let _handoff = Handoff::start(&s.config_path);
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");

    // (kind, identifier, owning shard of its call)
    let mut minted: Vec<(&str, String, u64)> = Vec::new();
    for n in 0..CALLS {
        let call_id = format!("ids-{n}-carrier");
        let owner = fnv1a(call_id.as_bytes()) % SHARDS;
        let mut call = establish(s.sip, &carrier, &platform, &call_id);
        // Leg B: handoff is the UAC. Its Call-ID and From tag; leg A: its To tag.
        minted.push(("call-id", call.b_call_id.clone(), owner));
        minted.push(("tag", tag_of(&call.b_from), owner));
        minted.push(("tag", tag_of(&call.a_to), owner));
        // The carrier hangs up; handoff's BYE on leg B carries a branch it minted.
        call.a_cseq += 1;
        carrier.ua.send(
            s.sip,
            &in_dialog(
                "BYE",
                &call.a_target,
                carrier.ua.addr(),
                &call.call_id,
                &call.a_from,
                &call.a_to,
                call.a_cseq,
                &format!("{n}-bye"),
            ),
        );
        let (bye, from) = platform
            .ua
            .expect("BYE on leg B", WAIT, |m| m.method() == Some("BYE"));
        minted.push(("branch", branch_of(bye.header("via").unwrap()), owner));
        platform.ua.send(
            from,
            &response(&bye, 200, "OK", "btag", platform.ua.addr(), ""),
        );
        carrier.ua.expect("200 to the BYE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("BYE")
        });
    }

    for kind in ["call-id", "tag", "branch"] {
        let randoms: Vec<String> = minted
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, id, _)| split(kind, id).random)
            .collect();
        let bits = varying_bits(&randoms);
        assert!(
            bits >= RANDOM_BITS,
            "{kind}: only {bits} of the random part's {} bits vary: {randoms:?}",
            randoms[0].len() * 4
        );
    }

    let mut seen = HashSet::new();
    let mut per_shard = [0usize; SHARDS as usize];
    for (kind, id, owner) in &minted {
        assert!(seen.insert(id.clone()), "{kind} {id} minted twice");
        assert_eq!(split(kind, id).shard, *owner, "{kind} {id}: shard digits");
        assert_eq!(
            shard_of_minted(id),
            Some(ShardId(*owner as u16)),
            "{kind} {id}: the ownership parser names another shard"
        );
        per_shard[*owner as usize] += 1;
    }
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "both shards minted: {per_shard:?}"
    );
}
