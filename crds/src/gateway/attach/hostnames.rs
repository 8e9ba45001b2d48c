//! Which hostnames a route serves on a listener: the intersection of the listener's
//! hostname and the route's hostnames.
//!
//! By the spec (HTTPRoute `spec.hostnames`, Listener `hostname`):
//! - a listener without a hostname takes the route's hostnames (all hosts if it has none);
//! - a route without hostnames takes the listener's hostname;
//! - otherwise each route hostname is kept as far as it matches the listener's, the others
//!   are ignored: the narrower of the two is what is served. Listener `*.example.com` and
//!   route `foo.example.com` → `foo.example.com`; listener `foo.example.com` and route
//!   `*.example.com` → `foo.example.com`; two wildcards → the longer one;
//! - when none matches, the route does not attach to that listener.
//!
//! A wildcard covers one label or more ([`crate::gateway::hostname::wildcard_covers`]), so
//! `*.example.com` matches `a.b.example.com` and `*.b.example.com`, never `example.com`.

use crate::gateway::hostname::wildcard_covers;
use crate::ingress::HostMatch;

/// The hostnames a route with `route` hostnames serves on a listener with hostname
/// `listener` ([`HostMatch::Any`] when it has none), in the route's order, without
/// repeats. `None`: they do not intersect, the route does not attach to this listener.
pub fn intersect(listener: &HostMatch, route: &[HostMatch]) -> Option<Vec<HostMatch>> {
    if route.is_empty() {
        return Some(vec![listener.clone()]);
    }
    let mut served: Vec<HostMatch> = Vec::new();
    for hostname in route {
        if let Some(both) = intersect_one(listener, hostname)
            && !served.contains(&both)
        {
            served.push(both);
        }
    }
    (!served.is_empty()).then_some(served)
}

/// The hosts both `a` and `b` cover, when that is one of them (it always is, for
/// hostnames of this form): the narrower.
fn intersect_one(a: &HostMatch, b: &HostMatch) -> Option<HostMatch> {
    use HostMatch::{Any, Exact, Wildcard};
    match (a, b) {
        (Any, other) | (other, Any) => Some(other.clone()),
        (Exact(x), Exact(y)) => (x == y).then(|| a.clone()),
        (Exact(host), Wildcard(suffix)) | (Wildcard(suffix), Exact(host)) => {
            wildcard_covers(suffix, host).then(|| Exact(host.clone()))
        }
        (Wildcard(x), Wildcard(y)) => {
            if x == y || wildcard_covers(y, x) {
                Some(a.clone())
            } else if wildcard_covers(x, y) {
                Some(b.clone())
            } else {
                None
            }
        }
    }
}

/// Whether some host is covered by both `a` and `b`: two listeners on one port whose
/// hostnames overlap share clients (`OverlappingTLSConfig`).
pub fn overlap(a: &HostMatch, b: &HostMatch) -> bool {
    intersect_one(a, b).is_some()
}

/// A listener or route hostname, for messages.
pub fn describe(h: &HostMatch) -> String {
    match h {
        HostMatch::Any => "(none)".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HostMatch {
        HostMatch::parse(Some(s)).unwrap()
    }

    fn hs(list: &[&str]) -> Vec<HostMatch> {
        list.iter().map(|s| h(s)).collect()
    }

    #[test]
    fn one_listener_hostname_against_one_route_hostname() {
        // (listener, route, served); "" is no hostname.
        let cases = [
            (
                "foo.example.com",
                "foo.example.com",
                Some("foo.example.com"),
            ),
            ("foo.example.com", "bar.example.com", None),
            ("foo.example.com", "*.example.com", Some("foo.example.com")),
            ("a.b.example.com", "*.example.com", Some("a.b.example.com")),
            ("example.com", "*.example.com", None),
            ("*.example.com", "foo.example.com", Some("foo.example.com")),
            (
                "*.example.com",
                "foo.bar.example.com",
                Some("foo.bar.example.com"),
            ),
            ("*.example.com", "example.com", None),
            ("*.example.com", "foo.example.net", None),
            ("*.example.com", "*.example.com", Some("*.example.com")),
            (
                "*.example.com",
                "*.foo.example.com",
                Some("*.foo.example.com"),
            ),
            (
                "*.foo.example.com",
                "*.example.com",
                Some("*.foo.example.com"),
            ),
            ("*.example.com", "*.example.net", None),
            ("*.example.com", "*.com", Some("*.example.com")),
        ];
        for (listener, route, served) in cases {
            let got = intersect(&h(listener), &hs(&[route]));
            let want = served.map(|s| vec![h(s)]);
            assert_eq!(got, want, "listener {listener} route {route}");
        }
    }

    #[test]
    fn missing_hostnames_take_the_other_side() {
        assert_eq!(intersect(&HostMatch::Any, &[]), Some(vec![HostMatch::Any]));
        assert_eq!(
            intersect(&h("*.example.com"), &[]),
            Some(vec![h("*.example.com")])
        );
        assert_eq!(
            intersect(&HostMatch::Any, &hs(&["a.com", "*.b.com"])),
            Some(hs(&["a.com", "*.b.com"]))
        );
    }

    #[test]
    fn the_conformance_hostname_intersection_routes() {
        // The listeners and routes of the conformance test HTTPRouteHostnameIntersection.
        let listeners = [
            h("very.specific.com"),
            h("*.wildcard.io"),
            h("*.anotherwildcard.io"),
        ];
        // (route hostnames, what it serves on each listener)
        /// The hostnames served on each of the three listeners (`None`: not attached).
        type Served<'a> = [Option<&'a [&'a str]>; 3];
        let cases: [(&[&str], Served<'_>); 5] = [
            (
                &[
                    "non.matching.com",
                    "*.nonmatchingwildcard.io",
                    "very.specific.com",
                ],
                [Some(&["very.specific.com"]), None, None],
            ),
            (
                &[
                    "non.matching.com",
                    "wildcard.io",
                    "foo.wildcard.io",
                    "bar.wildcard.io",
                    "foo.bar.wildcard.io",
                ],
                [
                    None,
                    Some(&["foo.wildcard.io", "bar.wildcard.io", "foo.bar.wildcard.io"]),
                    None,
                ],
            ),
            (
                &["non.matching.com", "*.specific.com"],
                [Some(&["very.specific.com"]), None, None],
            ),
            (
                &["*.anotherwildcard.io"],
                [None, None, Some(&["*.anotherwildcard.io"])],
            ),
            (
                &["specific.but.wrong.com", "wildcard.io"],
                [None, None, None],
            ),
        ];
        for (route, expected) in cases {
            for (listener, want) in listeners.iter().zip(expected) {
                let got = intersect(listener, &hs(route));
                assert_eq!(got, want.map(hs), "listener {listener} route {route:?}");
            }
        }
    }

    #[test]
    fn repeats_are_dropped() {
        assert_eq!(
            intersect(
                &h("foo.example.com"),
                &hs(&["*.example.com", "foo.example.com"])
            ),
            Some(hs(&["foo.example.com"]))
        );
    }

    #[test]
    fn overlapping_hostnames() {
        let cases = [
            ("foo.example.com", "*.example.com", true),
            ("foo.example.com", "foo.example.org", false),
            ("*.example.com", "foo.example.org", false),
            ("*.example.com", "*.a.example.com", true),
        ];
        for (a, b, overlaps) in cases {
            assert_eq!(overlap(&h(a), &h(b)), overlaps, "{a} {b}");
            assert_eq!(overlap(&h(b), &h(a)), overlaps, "{b} {a}");
        }
        assert!(overlap(&HostMatch::Any, &h("a.com")));
    }
}
