//! Call routing: which trunk a request came from, and which trunk a new call goes to.
//!
//! The source `ip:port` names the trunk (`Config::trunk_by_source`). The route is the first entry of
//! `config.routes` whose `from` matches (or is `None`) and whose `prefix` is a prefix of the
//! Request-URI user, normalised to E.164 with the caller trunk's country code (without '+'). When the
//! user is not a number E.164 accepts, the raw digits of the user are matched instead.

use std::net::SocketAddr;

use crate::config::Config;
use crate::vocab::StatusCode;

/// Why a request could not be routed; each maps to the SIP status the caller gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The sender is not one of the configured trunks (its fault, or a scanner's): 403.
    #[error("source {0} is not a configured trunk")]
    UnknownSource(SocketAddr),
    /// No configured route matches the dialled number (the operator's config): 404.
    #[error("no route from trunk {from_trunk} for number {number:?}")]
    NoRoute { from_trunk: String, number: String },
}

impl RouteError {
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            RouteError::UnknownSource(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            RouteError::NoRoute { .. } => (StatusCode::NOT_FOUND, "Not Found"),
        }
    }
}

/// A routing decision: indices into `Config::trunks`, plus the number used to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    pub from_trunk: usize,
    pub to_trunk: usize,
    /// The dialled number as matched (E.164 digits without '+', or raw digits).
    pub number: String,
}

/// The trunk a datagram from `source` belongs to.
pub fn source_trunk(config: &Config, source: SocketAddr) -> Result<usize, RouteError> {
    config
        .trunk_by_source(source)
        .ok_or(RouteError::UnknownSource(source))
}

/// The number a Request-URI user part dials: E.164 digits when it normalises, else its raw digits.
pub fn dialled_number(user: &str, country_code: &str) -> String {
    match crate::numbering::normalize_e164(user, country_code) {
        Ok(e164) => e164.digits().to_string(),
        Err(_) => user.chars().filter(|c| c.is_ascii_digit()).collect(),
    }
}

/// First route matching the source trunk and the dialled number.
pub fn route_call(
    config: &Config,
    from_trunk: usize,
    request_uri_user: &str,
) -> Result<RouteDecision, RouteError> {
    let country_code = config
        .trunks
        .get(from_trunk)
        .map(|t| t.country_code.as_str())
        .unwrap_or("");
    let number = dialled_number(request_uri_user, country_code);
    let raw: String = request_uri_user
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let found = config.routes.iter().find(|route| {
        route.from.is_none_or(|f| f == from_trunk)
            && route.domain.is_none()
            && route.to < config.trunks.len()
            && (number.starts_with(route.prefix.as_str()) || raw.starts_with(route.prefix.as_str()))
    });
    match found {
        Some(route) => Ok(RouteDecision {
            from_trunk,
            to_trunk: route.to,
            number,
        }),
        None => Err(RouteError::NoRoute {
            from_trunk: config
                .trunks
                .get(from_trunk)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            number,
        }),
    }
}

/// The route of a transfer target that is not a telephone number (an extension
/// `sip:2002@pbx.example`, a SIP URI): the first route from `from_trunk` that either has a
/// `domain` equal to the target's host (and a `prefix`, if any, that the user part starts with),
/// or has no `domain` and a non-empty `prefix` that an all-digit user part (an extension) starts
/// with. A catch-all route (no domain, empty prefix) is for numbers and takes no such target, and
/// a user part that is not all digits is matched by domain only: digits picked out of letters or
/// separators are never dialled as a number.
pub fn route_transfer_target(
    config: &Config,
    from_trunk: usize,
    user: Option<&str>,
    host: Option<&str>,
) -> Result<RouteDecision, RouteError> {
    let user = user.unwrap_or("");
    let extension = !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit());
    let found = config.routes.iter().find(|route| {
        if route.from.is_some_and(|f| f != from_trunk) || route.to >= config.trunks.len() {
            return false;
        }
        match route.domain.as_deref() {
            Some(domain) => {
                host.is_some_and(|h| h.eq_ignore_ascii_case(domain))
                    && (route.prefix.is_empty() || (extension && user.starts_with(&route.prefix)))
            }
            None => extension && !route.prefix.is_empty() && user.starts_with(&route.prefix),
        }
    });
    match found {
        Some(route) => Ok(RouteDecision {
            from_trunk,
            to_trunk: route.to,
            number: user.to_owned(),
        }),
        None => Err(RouteError::NoRoute {
            from_trunk: config
                .trunks
                .get(from_trunk)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            number: user.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::standard_config;

    #[test]
    fn source_names_the_trunk() {
        let config = standard_config();
        assert_eq!(
            source_trunk(&config, "10.0.0.2:5060".parse().unwrap()),
            Ok(1)
        );
        let stranger = "10.0.0.2:5061".parse().unwrap();
        assert_eq!(
            source_trunk(&config, stranger),
            Err(RouteError::UnknownSource(stranger))
        );
        assert_eq!(
            RouteError::UnknownSource(stranger).status().0,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn first_matching_route_wins_on_the_e164_number() {
        let config = standard_config();
        // platform: 44... goes to the partner, anything else to the carrier
        assert_eq!(route_call(&config, 1, "+445550001").unwrap().to_trunk, 2);
        assert_eq!(route_call(&config, 1, "+15551230000").unwrap().to_trunk, 0);
        // a national US number normalises to 1NXX... with the trunk's country code
        let decision = route_call(&config, 0, "(555) 123-0000").unwrap();
        assert_eq!(
            (decision.to_trunk, decision.number.as_str()),
            (1, "15551230000")
        );
    }

    #[test]
    fn no_route_names_the_trunk_and_number() {
        let mut config = standard_config();
        config.routes.retain(|r| r.from != Some(0));
        let error = route_call(&config, 0, "+15551230000").unwrap_err();
        assert_eq!(error.status().0, StatusCode::NOT_FOUND);
        assert!(error.to_string().contains("carrier") && error.to_string().contains("15551230000"));
    }

    #[test]
    fn transfer_targets_route_by_domain_or_extension_prefix_only() {
        let mut config = standard_config();
        config.routes.insert(
            0,
            crate::config::Route {
                from: Some(1),
                to: 2,
                prefix: String::new(),
                domain: Some("pbx.local".into()),
            },
        );
        config.routes.insert(
            1,
            crate::config::Route {
                from: Some(1),
                to: 2,
                prefix: "2".into(),
                domain: None,
            },
        );
        let to = |user: &str, host: &str| {
            route_transfer_target(&config, 1, Some(user), Some(host))
                .map(|d| d.to_trunk)
                .ok()
        };
        assert_eq!(to("desk", "PBX.local"), Some(2));
        assert_eq!(to("2002", "elsewhere"), Some(2));
        // the catch-all route to the carrier takes numbers, not these
        assert_eq!(to("3002", "elsewhere"), None);
        assert_eq!(to("2x002", "elsewhere"), None);
        // and a domain route never routes a new call
        assert_eq!(route_call(&config, 1, "desk").unwrap().to_trunk, 0);
    }

    #[test]
    fn non_numbers_fall_back_to_raw_digits() {
        let mut config = standard_config();
        config.routes[0].prefix = "77".to_string();
        assert_eq!(
            route_call(&config, 0, "agent7x").map(|d| d.to_trunk).ok(),
            None
        );
        assert_eq!(
            route_call(&config, 0, "ext77").map(|d| d.to_trunk).ok(),
            Some(1)
        );
    }
}
