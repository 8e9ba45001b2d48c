//! Who may reach a route: the allowlist and denylist of its Ingress, or nobody when the
//! Ingress asks for access control Sluice cannot enforce. Decided per request by
//! `serve::answers::for_route`, on every path alike.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use sluice_crds::annotations::SourceRanges;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Access {
    /// Why the route answers 503 instead of proxying: access rules its Ingress asks for
    /// that Sluice cannot enforce. Refused, never served open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Arc<SourceRanges>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_from: Option<Arc<SourceRanges>>,
}

impl Access {
    /// No rule at all: the common case, checked first so it costs nothing more.
    pub fn is_open(&self) -> bool {
        self.refused.is_none() && self.allow_from.is_none() && self.deny_from.is_none()
    }

    /// Whether a client at `client` passes the lists: not denied, and allowed when there is
    /// an allowlist.
    pub fn admits(&self, client: IpAddr) -> bool {
        !self.deny_from.as_ref().is_some_and(|d| d.contains(client))
            && self.allow_from.as_ref().is_none_or(|a| a.contains(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(s: &str) -> Option<Arc<SourceRanges>> {
        Some(Arc::new(SourceRanges::parse(s).unwrap()))
    }

    #[test]
    fn deny_wins_over_allow_and_no_lists_admit_everyone() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(Access::default().admits(ip("203.0.113.9")));
        let access = Access {
            allow_from: ranges("10.0.0.0/8"),
            deny_from: ranges("10.6.0.0/16"),
            ..Access::default()
        };
        assert!(!access.is_open());
        assert!(access.admits(ip("10.1.0.1")));
        assert!(!access.admits(ip("10.6.0.1")));
        assert!(!access.admits(ip("192.168.0.1")));
    }
}
