//! Gateway API hostnames: what a route's hostname covers.
//!
//! A hostname is written as an Ingress host is ([`HostMatch::parse`]: a DNS name, perhaps
//! `*.` in front) but a wildcard covers more: `*.example.com` covers any number of labels
//! in front of `example.com` (`a.example.com` and `a.b.example.com`, not `example.com`).
//! When several hostnames cover a request's host, an exact one wins, then the wildcard with
//! the longest suffix (the most specific), then routes without a hostname.

use crate::ingress::HostMatch;

/// Whether `hostname` covers a request for `host` (normalised by
/// [`crate::ingress::normalize_request_host`]).
pub fn covers(hostname: &HostMatch, host: &str) -> bool {
    match hostname {
        HostMatch::Any => true,
        HostMatch::Exact(h) => h == host,
        HostMatch::Wildcard(suffix) => wildcard_covers(suffix, host),
    }
}

/// Whether `*.suffix` covers `host`: one or more non-empty labels, then `.suffix`.
pub fn wildcard_covers(suffix: &str, host: &str) -> bool {
    host.strip_suffix(suffix)
        .and_then(|front| front.strip_suffix('.'))
        .is_some_and(|labels| !labels.is_empty() && labels.split('.').all(|l| !l.is_empty()))
}

/// The suffixes a wildcard covering `host` could have, the most specific first:
/// `a.b.example.com` → `b.example.com`, `example.com`, `com`.
pub fn wildcard_suffixes(host: &str) -> impl Iterator<Item = &str> {
    let mut rest = host;
    std::iter::from_fn(move || {
        let (label, suffix) = rest.split_once('.')?;
        if label.is_empty() || suffix.is_empty() {
            return None;
        }
        rest = suffix;
        Some(suffix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> HostMatch {
        HostMatch::parse(Some(h)).unwrap()
    }

    #[test]
    fn a_wildcard_covers_any_number_of_labels() {
        let w = host("*.example.com");
        assert!(covers(&w, "a.example.com"));
        assert!(covers(&w, "a.b.example.com"));
        assert!(!covers(&w, "example.com"));
        assert!(!covers(&w, ".example.com"));
        assert!(!covers(&w, "a..example.com"));
        assert!(!covers(&w, "aexample.com"));
        assert!(!covers(&w, "a.example.org"));
        assert!(covers(&host("a.example.com"), "a.example.com"));
        assert!(!covers(&host("a.example.com"), "b.a.example.com"));
        assert!(covers(&HostMatch::Any, "anything.example"));
    }

    #[test]
    fn suffixes_come_most_specific_first() {
        let all: Vec<&str> = wildcard_suffixes("a.b.example.com").collect();
        assert_eq!(all, ["b.example.com", "example.com", "com"]);
        assert_eq!(wildcard_suffixes("localhost").count(), 0);
        assert_eq!(wildcard_suffixes(".example.com").count(), 0);
        // Every suffix it gives is one the wildcard covering it covers.
        for suffix in wildcard_suffixes("x.y.example.com") {
            assert!(wildcard_covers(suffix, "x.y.example.com"), "{suffix}");
        }
    }
}
