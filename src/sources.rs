//! Which network addresses belong to a trunk.
//!
//! A trunk's `peer` is where handoff sends; its `sources` say who may speak for it. Carriers
//! signal from several IPs and health checkers send OPTIONS from random ports, so a source is an
//! exact `ip:port`, a bare IP (any port) or a CIDR network (any port). The default set is the
//! peer exactly. A leg keeps the set its trunk had when the leg was created (its bound peer), so a
//! reload never re-binds an established call.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One entry of a trunk's `sources`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SourceRule {
    /// This address and port only.
    Exact(SocketAddr),
    /// Any port of addresses in `network/prefix` (a bare IP is a /32 or /128).
    Network { network: IpAddr, prefix: u8 },
}

/// Why a `sources` entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceRuleError {
    #[error(
        "{0:?} is not an IP, ip:port or CIDR (e.g. \"192.0.2.10\", \"192.0.2.10:5060\", \"192.0.2.0/24\")"
    )]
    Unreadable(String),
    #[error("{0:?}: prefix length {1} is longer than the address ({2} bits)")]
    PrefixTooLong(String, u8, u8),
    #[error("{0:?}: port 0 is not a usable port")]
    PortZero(String),
}

fn bits(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit after the first `prefix` cleared, as a u128 (v4 in the low 32 bits).
fn masked(ip: IpAddr, prefix: u8) -> u128 {
    let (value, width) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
        IpAddr::V6(v6) => (u128::from(v6), 128u32),
    };
    let keep = u32::from(prefix).min(width);
    if keep == 0 {
        return 0;
    }
    let shift = width - keep;
    (value >> shift) << shift
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl SourceRule {
    /// Reads `"ip"`, `"ip:port"`, `"[v6]:port"` or `"ip/prefix"`.
    pub fn parse(text: &str) -> Result<SourceRule, SourceRuleError> {
        let text = text.trim();
        if let Some((network, prefix)) = text.split_once('/') {
            let network: IpAddr = network
                .parse()
                .map_err(|_| SourceRuleError::Unreadable(text.to_owned()))?;
            let prefix: u8 = prefix
                .parse()
                .map_err(|_| SourceRuleError::Unreadable(text.to_owned()))?;
            let network = canonical(network);
            let width = bits(network);
            if prefix > width {
                return Err(SourceRuleError::PrefixTooLong(
                    text.to_owned(),
                    prefix,
                    width,
                ));
            }
            return Ok(SourceRule::Network { network, prefix });
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            let ip = canonical(ip);
            return Ok(SourceRule::Network {
                network: ip,
                prefix: bits(ip),
            });
        }
        match text.parse::<SocketAddr>() {
            Ok(addr) if addr.port() == 0 => Err(SourceRuleError::PortZero(text.to_owned())),
            Ok(addr) => Ok(SourceRule::Exact(SocketAddr::new(
                canonical(addr.ip()),
                addr.port(),
            ))),
            Err(_) => Err(SourceRuleError::Unreadable(text.to_owned())),
        }
    }

    pub fn contains(&self, from: SocketAddr) -> bool {
        let ip = canonical(from.ip());
        match *self {
            SourceRule::Exact(addr) => addr.ip() == ip && addr.port() == from.port(),
            SourceRule::Network { network, prefix } => {
                bits(network) == bits(ip) && masked(network, prefix) == masked(ip, prefix)
            }
        }
    }

    /// Some address matches both rules.
    pub fn overlaps(&self, other: &SourceRule) -> bool {
        match (*self, *other) {
            (SourceRule::Exact(a), _) => other.contains(a),
            (_, SourceRule::Exact(b)) => self.contains(b),
            (
                SourceRule::Network {
                    network: a,
                    prefix: pa,
                },
                SourceRule::Network {
                    network: b,
                    prefix: pb,
                },
            ) => {
                let shorter = pa.min(pb);
                bits(a) == bits(b) && masked(a, shorter) == masked(b, shorter)
            }
        }
    }
}

impl fmt::Display for SourceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceRule::Exact(addr) => write!(f, "{addr}"),
            SourceRule::Network { network, prefix } if *prefix == bits(*network) => {
                write!(f, "{network}")
            }
            SourceRule::Network { network, prefix } => write!(f, "{network}/{prefix}"),
        }
    }
}

/// The addresses that speak for one trunk.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SourceSet {
    rules: Vec<SourceRule>,
}

impl SourceSet {
    pub fn new(rules: Vec<SourceRule>) -> SourceSet {
        SourceSet { rules }
    }

    /// The default: the peer exactly.
    pub fn exactly(peer: SocketAddr) -> SourceSet {
        SourceSet {
            rules: vec![SourceRule::Exact(SocketAddr::new(
                canonical(peer.ip()),
                peer.port(),
            ))],
        }
    }

    pub fn contains(&self, from: SocketAddr) -> bool {
        self.rules.iter().any(|rule| rule.contains(from))
    }

    pub fn rules(&self) -> &[SourceRule] {
        &self.rules
    }

    /// The first pair of rules (ours, theirs) that some address matches.
    pub fn overlap(&self, other: &SourceSet) -> Option<(SourceRule, SourceRule)> {
        self.rules
            .iter()
            .find_map(|a| other.rules.iter().find(|b| a.overlaps(b)).map(|b| (*a, *b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn exact_rule_needs_the_port() {
        let rule = SourceRule::parse("192.0.2.10:5060").unwrap();
        assert!(rule.contains(addr("192.0.2.10:5060")));
        assert!(!rule.contains(addr("192.0.2.10:5061")));
        assert!(!rule.contains(addr("192.0.2.11:5060")));
    }

    #[test]
    fn bare_ip_and_cidr_take_any_port() {
        let ip = SourceRule::parse("192.0.2.10").unwrap();
        assert!(ip.contains(addr("192.0.2.10:40000")));
        assert!(!ip.contains(addr("192.0.2.11:5060")));
        let net = SourceRule::parse("198.51.100.0/24").unwrap();
        assert!(net.contains(addr("198.51.100.77:1234")));
        assert!(!net.contains(addr("198.51.101.1:5060")));
        let v6 = SourceRule::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(addr("[2001:db8:1::5]:5060")));
        assert!(!v6.contains(addr("[2001:db9::5]:5060")));
        assert!(!v6.contains(addr("192.0.2.10:5060")));
    }

    #[test]
    fn mapped_v4_matches_v4() {
        let rule = SourceRule::parse("192.0.2.0/24").unwrap();
        assert!(rule.contains(addr("[::ffff:192.0.2.9]:5060")));
    }

    #[test]
    fn unreadable_entries_say_why() {
        assert!(matches!(
            SourceRule::parse("carrier.example"),
            Err(SourceRuleError::Unreadable(_))
        ));
        assert!(matches!(
            SourceRule::parse("10.0.0.0/33"),
            Err(SourceRuleError::PrefixTooLong(_, 33, 32))
        ));
        assert!(matches!(
            SourceRule::parse("10.0.0.1:0"),
            Err(SourceRuleError::PortZero(_))
        ));
    }

    #[test]
    fn overlaps_are_found_between_every_kind() {
        let rule = |t: &str| SourceRule::parse(t).unwrap();
        assert!(rule("10.0.0.0/8").overlaps(&rule("10.1.2.3:5060")));
        assert!(rule("10.1.2.3:5060").overlaps(&rule("10.0.0.0/8")));
        assert!(rule("10.0.0.0/8").overlaps(&rule("10.200.0.0/16")));
        assert!(rule("10.1.2.3").overlaps(&rule("10.1.2.3:5070")));
        assert!(!rule("10.1.2.3:5060").overlaps(&rule("10.1.2.3:5070")));
        assert!(!rule("10.0.0.0/16").overlaps(&rule("10.1.0.0/16")));
        assert!(!rule("10.0.0.0/8").overlaps(&rule("[::a00:1]:5060")));
    }
}
