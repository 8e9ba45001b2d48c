//! Ingress hosts: what a rule's `host` claims and what a request's Host matches.

use std::fmt;

/// What the `host` of an Ingress rule claims, normalised (lower case).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostMatch {
    /// `*.foo.com`: exactly one more DNS label in front of `foo.com`. Holds `foo.com`.
    Wildcard(String),
    /// `foo.com` exactly.
    Exact(String),
    /// No host: every request, whatever its Host.
    Any,
}

/// Why a rule's host is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("host {0:?} is an IP address; Ingress hosts must be DNS names")]
    IpAddress(String),
    #[error("host {0:?}: a wildcard must be the whole first label, as in *.example.com")]
    MisplacedWildcard(String),
    #[error("host {host:?} is not a valid DNS name: {reason}")]
    Invalid { host: String, reason: &'static str },
}

impl HostMatch {
    /// Parses a rule's `host` (absent or empty: every host), validating it as the API
    /// server does: a DNS-1123 subdomain, optionally prefixed by `*.`, and not an IP.
    pub fn parse(host: Option<&str>) -> Result<Self, HostError> {
        let host = match host {
            None | Some("") => return Ok(Self::Any),
            Some(h) => h,
        };
        if host.parse::<std::net::IpAddr>().is_ok() {
            return Err(HostError::IpAddress(host.to_string()));
        }
        let lower = host.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("*.") {
            if rest.contains('*') {
                return Err(HostError::MisplacedWildcard(host.to_string()));
            }
            validate_dns_name(rest).map_err(|reason| HostError::Invalid {
                host: host.to_string(),
                reason,
            })?;
            return Ok(Self::Wildcard(rest.to_string()));
        }
        if lower.contains('*') {
            return Err(HostError::MisplacedWildcard(host.to_string()));
        }
        validate_dns_name(&lower).map_err(|reason| HostError::Invalid {
            host: host.to_string(),
            reason,
        })?;
        Ok(Self::Exact(lower))
    }

    /// Whether a request for `host` (already normalised by [`normalize_request_host`]) is
    /// covered by this claim.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(h) => h == host,
            Self::Wildcard(suffix) => wildcard_covers(suffix, host),
        }
    }
}

/// Whether `*.suffix` covers `host`: one non-empty label, then `.suffix`.
pub fn wildcard_covers(suffix: &str, host: &str) -> bool {
    host.len() > suffix.len() + 1
        && host.ends_with(suffix)
        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        && !host[..host.len() - suffix.len() - 1].contains('.')
}

/// The part of `host` a wildcard rule would be looked up by: everything after the first
/// label (`a.foo.com` → `foo.com`).
pub fn wildcard_suffix(host: &str) -> Option<&str> {
    let (label, rest) = host.split_once('.')?;
    (!label.is_empty() && !rest.is_empty()).then_some(rest)
}

impl fmt::Display for HostMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wildcard(s) => write!(f, "*.{s}"),
            Self::Exact(h) => f.write_str(h),
            Self::Any => f.write_str("(any host)"),
        }
    }
}

/// Normalises a request's Host (or `:authority`): the port is dropped, letters are lower
/// cased and a trailing dot removed, so `App.Example.com.:8080` is `app.example.com`.
pub fn normalize_request_host(host: &str) -> std::borrow::Cow<'_, str> {
    let without_port = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal: keep what is inside the brackets.
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    let trimmed = without_port.strip_suffix('.').unwrap_or(without_port);
    // Most requests already send a lower-case host: borrow it rather than copy.
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

/// DNS-1123 subdomain: at most 253 characters of labels of `[a-z0-9-]`, 1-63 long, not
/// starting or ending with `-`. Expects lower case.
fn validate_dns_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("only letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label must not start or end with '-'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_wildcard_and_any() {
        assert_eq!(HostMatch::parse(None), Ok(HostMatch::Any));
        assert_eq!(HostMatch::parse(Some("")), Ok(HostMatch::Any));
        assert_eq!(
            HostMatch::parse(Some("Foo.Example.com")),
            Ok(HostMatch::Exact("foo.example.com".into()))
        );
        assert_eq!(
            HostMatch::parse(Some("*.foo.com")),
            Ok(HostMatch::Wildcard("foo.com".into()))
        );
    }

    #[test]
    fn rejects_malformed_hosts() {
        for bad in [
            "10.0.0.1",
            "::1",
            "foo.*.com",
            "*foo.com",
            "*.*.foo.com",
            "foo..com",
            "-foo.com",
            "foo_bar.com",
            "foo.com:80",
            "*.",
        ] {
            assert!(
                HostMatch::parse(Some(bad)).is_err(),
                "{bad} must be rejected"
            );
        }
    }

    // The Kubernetes documentation's host-matching table.
    #[test]
    fn wildcard_covers_exactly_one_label() {
        let w = HostMatch::parse(Some("*.foo.com")).unwrap();
        assert!(w.matches("bar.foo.com"));
        assert!(!w.matches("baz.bar.foo.com"));
        assert!(!w.matches("foo.com"));
        assert!(!w.matches(".foo.com"));
        assert!(!w.matches("barfoo.com"));
        let e = HostMatch::parse(Some("foo.bar.com")).unwrap();
        assert!(e.matches("foo.bar.com"));
        assert!(!e.matches("bar.foo.com"));
    }

    #[test]
    fn request_hosts_are_normalised() {
        assert_eq!(normalize_request_host("App.Example.COM"), "app.example.com");
        assert_eq!(
            normalize_request_host("app.example.com:8443"),
            "app.example.com"
        );
        assert_eq!(
            normalize_request_host("app.example.com."),
            "app.example.com"
        );
        assert_eq!(normalize_request_host("[::1]:80"), "::1");
        assert_eq!(normalize_request_host("127.0.0.1:80"), "127.0.0.1");
    }

    #[test]
    fn wildcard_suffix_drops_the_first_label() {
        assert_eq!(wildcard_suffix("a.foo.com"), Some("foo.com"));
        assert_eq!(wildcard_suffix("foo"), None);
        assert_eq!(wildcard_suffix(".foo"), None);
    }
}
