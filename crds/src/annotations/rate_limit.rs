//! Rate limits per client address, as ingress-nginx sets them (`limit-rps`, `limit-rpm`,
//! `limit-connections`, `limit-burst-multiplier`, `limit-allowlist`):
//!
//! - one set of counters per Ingress, shared by all its rules, per client address, per
//!   proxy replica (as each nginx keeps its own zones);
//! - requests: `limit-rps` per second and `limit-rpm` per minute, each with a burst of the
//!   limit times `limit-burst-multiplier` (default 5) served at once (nginx's `nodelay`); a
//!   request must pass both when both are set;
//! - `limit-connections`: requests in progress at once from one address;
//! - over a limit: 503, ingress-nginx's default status;
//! - clients in `limit-allowlist` (or `limit-whitelist`) are not limited.

use serde::Serialize;

use super::SourceRanges;

pub const DEFAULT_BURST_MULTIPLIER: u32 = 5;

/// What an Ingress limits. At least one of the three limits is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    pub burst_multiplier: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<SourceRanges>,
}

/// The annotations as read, before a limit is made of them.
#[derive(Debug, Default)]
pub struct Parts {
    pub rps: Option<u32>,
    pub rpm: Option<u32>,
    pub connections: Option<u32>,
    pub burst_multiplier: Option<u32>,
    pub allow: Option<SourceRanges>,
}

impl Parts {
    /// The limit, if any is set (0 is none, as in ingress-nginx).
    pub fn finish(self) -> Option<RateLimit> {
        let nonzero = |n: Option<u32>| n.filter(|&n| n > 0);
        let (rps, rpm, connections) = (
            nonzero(self.rps),
            nonzero(self.rpm),
            nonzero(self.connections),
        );
        (rps.is_some() || rpm.is_some() || connections.is_some()).then(|| RateLimit {
            rps,
            rpm,
            connections,
            burst_multiplier: self
                .burst_multiplier
                .filter(|&m| m > 0)
                .unwrap_or(DEFAULT_BURST_MULTIPLIER),
            allow: self.allow,
        })
    }
}

/// A whole number of requests or connections.
pub fn parse_count(value: &str) -> Result<u32, &'static str> {
    value
        .trim()
        .parse()
        .map_err(|_| "must be a whole number (0 for no limit)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_no_limit_and_the_multiplier_defaults_to_five() {
        assert_eq!(Parts::default().finish(), None);
        let zero = Parts {
            rps: Some(0),
            burst_multiplier: Some(3),
            ..Parts::default()
        };
        assert_eq!(zero.finish(), None);
        let limit = Parts {
            rpm: Some(60),
            ..Parts::default()
        }
        .finish()
        .unwrap();
        assert_eq!((limit.rpm, limit.burst_multiplier), (Some(60), 5));
        assert!(parse_count("ten").is_err());
        assert_eq!(parse_count(" 10 "), Ok(10));
    }
}
