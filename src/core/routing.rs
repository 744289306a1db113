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
