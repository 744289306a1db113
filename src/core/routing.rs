//! Call routing: which trunk a request came from, and which trunk a new call goes to.
//!
//! The source `ip:port` names the trunk (`Config::trunk_by_source`). The route is the first entry of
//! `config.routes` whose `from` matches (or is `None`) and whose `prefix` is a prefix of the
//! Request-URI user, normalised to E.164 with the caller trunk's country code (without '+'). When the
//! user is not a number E.164 accepts, the raw digits of the user are matched instead.

use std::net::SocketAddr;

use crate::config::Config;

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
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            RouteError::UnknownSource(_) => (403, "Forbidden"),
            RouteError::NoRoute { .. } => (404, "Not Found"),
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
