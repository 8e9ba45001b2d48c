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

/// How specific a hostname is: an exact one most, then wildcards by the length of their
/// suffix, then none.
fn specificity(hostname: &HostMatch) -> usize {
    match hostname {
        HostMatch::Any => 0,
        HostMatch::Wildcard(suffix) => 1 + suffix.len(),
        HostMatch::Exact(_) => usize::MAX,
    }
}

/// The hostname among `listeners` that covers `host` most specifically, by index.
fn most_specific(listeners: &[HostMatch], host: &str) -> Option<usize> {
    listeners
        .iter()
        .enumerate()
        .filter(|(_, l)| covers(l, host))
        .max_by_key(|(_, l)| specificity(l))
        .map(|(i, _)| i)
}

/// Whether a request for `host`, on a TLS connection whose SNI was `sni`, is meant for
/// another of the port's HTTPS `listeners` than the one the connection was made for (the
/// most specific listener covering each).
pub fn misdirected(listeners: &[HostMatch], sni: &str, host: &str) -> bool {
    most_specific(listeners, sni) != most_specific(listeners, host)
}

/// Listener isolation: a request belongs to the one listener of its port whose hostname
/// covers its host most specifically, and only that listener's routes serve it. Whether
/// every request for `host` (a hostname a route serves through a listener whose hostname
/// is `own`) belongs to a more specific listener among `listeners` (the port's), so the
/// route must not serve `host` there. A more specific listener claiming only part of
/// `host` (`a.example.com` of `*.example.com`) is not this: that part is told apart when
/// the request is looked up.
pub fn claimed_elsewhere<'a>(
    own: &HostMatch,
    host: &HostMatch,
    listeners: impl IntoIterator<Item = &'a HostMatch>,
) -> bool {
    let own = specificity(own);
    listeners.into_iter().any(|l| {
        specificity(l) > own
            && match (host, l) {
                (HostMatch::Exact(h), l) => covers(l, h),
                (HostMatch::Wildcard(s), HostMatch::Wildcard(t)) => {
                    s == t || s.strip_suffix(t.as_str()).is_some_and(|f| f.ends_with('.'))
                }
                _ => false,
            }
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

    #[test]
    fn a_host_belongs_to_its_most_specific_listener() {
        let (any, wide, foo, abc) = (
            HostMatch::Any,
            host("*.example.com"),
            host("*.foo.example.com"),
            host("abc.foo.example.com"),
        );
        let all = [&any, &wide, &foo, &abc];
        // What a route serves through the listener without a hostname: only hosts no
        // other listener covers.
        assert!(!claimed_elsewhere(&any, &host("bar.com"), all));
        assert!(claimed_elsewhere(&any, &host("bar.example.com"), all));
        assert!(claimed_elsewhere(&any, &host("*.example.com"), all));
        assert!(claimed_elsewhere(&any, &host("*.a.foo.example.com"), all));
        assert!(!claimed_elsewhere(&any, &HostMatch::Any, all));
        // Through *.example.com: not what *.foo.example.com or abc.foo.example.com claim.
        assert!(!claimed_elsewhere(&wide, &host("bar.example.com"), all));
        assert!(claimed_elsewhere(&wide, &host("bar.foo.example.com"), all));
        assert!(claimed_elsewhere(&wide, &host("*.foo.example.com"), all));
        assert!(!claimed_elsewhere(&wide, &host("*.example.com"), all));
        assert!(claimed_elsewhere(&foo, &host("abc.foo.example.com"), all));
        assert!(!claimed_elsewhere(&abc, &host("abc.foo.example.com"), all));
        // `*.oo.example.com` is not under `*.foo.example.com`.
        assert!(!claimed_elsewhere(&wide, &host("*.oo.example.com"), [&foo]));
    }

    #[test]
    fn a_request_for_another_listeners_host_is_misdirected() {
        let listeners = [
            HostMatch::Any,
            host("second-example.org"),
            host("*.wildcard.org"),
            host("fourth-example.wildcard.org"),
        ];
        let cases = [
            ("example.org", "example.org", false),
            ("example.org", "second-example.org", true),
            ("example.org", "unknown-example.org", false),
            ("second-example.org", "example.org", true),
            ("third.wildcard.org", "fifth.wildcard.org", false),
            ("third.wildcard.org", "fourth-example.wildcard.org", true),
            ("fourth-example.wildcard.org", "fifth.wildcard.org", true),
        ];
        for (sni, request, want) in cases {
            assert_eq!(
                misdirected(&listeners, sni, request),
                want,
                "{sni} {request}"
            );
        }
    }
}
