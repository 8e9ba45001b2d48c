//! The table's matching with request conditions (Gateway API matches): precedence within a
//! path, falling through to shorter prefixes, regular expressions, wildcard hosts.

use std::sync::Arc;

use sluice_crds::gateway::matching::{
    self, MatchSource, MatchType, NamedMatch, PathRank, PathType, Precedence, RequestConditions,
    RequestParts,
};
use sluice_crds::ingress::{HostMatch, PathKind, PathMatch};

use super::{Backend, Candidate, Endpoints, Route, RouteTable, WildcardHosts};

const HOST: &str = "app.example.com";

fn route(name: &str) -> Arc<Route> {
    let backend = Backend::new(name.into(), None, Endpoints::default());
    Arc::new(Route::for_tests(name, Arc::new(backend)))
}

/// One Gateway API match: its path as written, and what else it requires.
struct Match<'a> {
    route: &'a str,
    kind: PathType,
    path: &'a str,
    method: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
    query: &'a [(&'a str, &'a str)],
    rule: usize,
}

fn exact_entries<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = NamedMatch<'a>> {
    pairs.iter().map(|&(name, value)| NamedMatch {
        name,
        kind: MatchType::Exact,
        value,
    })
}

fn add(table: &mut RouteTable, host: &HostMatch, m: &Match<'_>) {
    let path = matching::path(m.kind, Some(m.path)).unwrap();
    let conditions =
        RequestConditions::parse(m.method, exact_entries(m.headers), exact_entries(m.query))
            .unwrap();
    let precedence = Precedence::new(
        PathRank::new(path.kind, m.path),
        conditions.specificity(),
        &MatchSource {
            created: None,
            namespace: "ns",
            name: m.route,
            rule: m.rule,
            match_index: 0,
        },
    );
    let candidate = Candidate::gateway(route(m.route), conditions, precedence);
    table.host_mut(host).insert_match(&path, candidate);
}

fn table(matches: &[Match<'_>]) -> RouteTable {
    let mut table = RouteTable::default();
    for m in matches {
        add(&mut table, &HostMatch::Exact(HOST.into()), m);
    }
    assert!(table.finish_hosts().is_empty());
    table
}

fn prefix<'a>(route: &'a str, path: &'a str) -> Match<'a> {
    Match {
        route,
        kind: PathType::PathPrefix,
        path,
        method: None,
        headers: &[],
        query: &[],
        rule: 0,
    }
}

fn served<'a>(table: &'a RouteTable, path: &str, request: &RequestParts<'_>) -> Option<&'a str> {
    table
        .lookup(HOST, path, request)
        .map(|r| r.ingress.as_str())
}

fn get() -> RequestParts<'static> {
    RequestParts::default()
}

fn with_headers<'a>(headers: &'a [(&'a str, &'a str)]) -> RequestParts<'a> {
    RequestParts { headers, ..get() }
}

#[test]
fn a_header_match_beats_the_same_path_without_one() {
    // Inserted plain first: the order of insertion does not matter, precedence does.
    let t = table(&[
        prefix("plain", "/api"),
        Match {
            headers: &[("x-env", "canary")],
            ..prefix("canary", "/api")
        },
    ]);
    assert_eq!(
        served(&t, "/api/x", &with_headers(&[("X-Env", "canary")])),
        Some("canary")
    );
    assert_eq!(
        served(&t, "/api/x", &with_headers(&[("x-env", "stable")])),
        Some("plain")
    );
    assert_eq!(served(&t, "/api/x", &get()), Some("plain"));
}

#[test]
fn a_method_match_beats_more_header_matches_and_a_longer_path_beats_both() {
    let t = table(&[
        Match {
            headers: &[("x-a", "1"), ("x-b", "2")],
            ..prefix("headers", "/api")
        },
        Match {
            method: Some("GET"),
            ..prefix("method", "/api")
        },
        Match {
            headers: &[("x-a", "1")],
            ..prefix("longer", "/api/v1")
        },
    ]);
    let both = [("x-a", "1"), ("x-b", "2")];
    assert_eq!(served(&t, "/api", &with_headers(&both)), Some("method"));
    let post = RequestParts {
        method: "POST",
        headers: &both,
        query: None,
    };
    assert_eq!(served(&t, "/api", &post), Some("headers"));
    assert_eq!(
        served(&t, "/api/v1/x", &with_headers(&both)),
        Some("longer")
    );
    assert_eq!(
        served(
            &t,
            "/api",
            &RequestParts {
                method: "POST",
                ..get()
            }
        ),
        None
    );
}

#[test]
fn a_longer_prefix_whose_conditions_fail_falls_through_to_a_shorter_one() {
    let t = table(&[
        prefix("root", "/"),
        prefix("api", "/api"),
        Match {
            headers: &[("x-beta", "yes")],
            ..prefix("beta", "/api/v2")
        },
        Match {
            headers: &[("x-beta", "yes")],
            kind: PathType::Exact,
            ..prefix("exact", "/api/v2/status")
        },
    ]);
    let beta = [("x-beta", "yes")];
    assert_eq!(
        served(&t, "/api/v2/users", &with_headers(&beta)),
        Some("beta")
    );
    assert_eq!(served(&t, "/api/v2/users", &get()), Some("api"));
    assert_eq!(
        served(&t, "/api/v2/status", &with_headers(&beta)),
        Some("exact")
    );
    // The exact path's condition fails: on to the prefixes.
    assert_eq!(served(&t, "/api/v2/status", &get()), Some("api"));
    assert_eq!(served(&t, "/other", &get()), Some("root"));
}

#[test]
fn method_and_query_matches() {
    let t = table(&[
        Match {
            method: Some("POST"),
            ..prefix("writes", "/")
        },
        Match {
            query: &[("animal", "whale")],
            ..prefix("whales", "/")
        },
        Match {
            query: &[("animal", "dolphin"), ("color", "blue")],
            ..prefix("blue-dolphins", "/")
        },
    ]);
    let query = |q| RequestParts {
        query: Some(q),
        ..get()
    };
    assert_eq!(served(&t, "/", &query("animal=whale")), Some("whales"));
    assert_eq!(
        served(&t, "/", &query("color=blue&animal=dolphin")),
        Some("blue-dolphins")
    );
    assert_eq!(served(&t, "/", &query("animal=dolphin")), None);
    assert_eq!(served(&t, "/", &query("animal=Whale")), None);
    let post = RequestParts {
        method: "POST",
        query: Some("animal=whale"),
        headers: &[],
    };
    assert_eq!(served(&t, "/", &post), Some("writes"), "the method first");
}

#[test]
fn regular_expressions_come_after_exact_paths_and_before_prefixes() {
    let re = |route, path| Match {
        kind: PathType::RegularExpression,
        ..prefix(route, path)
    };
    let t = table(&[
        prefix("users", "/users"),
        re("user-id", "/users/[0-9]+"),
        Match {
            headers: &[("x-admin", "1")],
            ..re("admin", "/users/.*")
        },
        Match {
            kind: PathType::Exact,
            ..prefix("me", "/users/0")
        },
    ]);
    assert_eq!(served(&t, "/users/42", &get()), Some("user-id"));
    assert_eq!(served(&t, "/users/0", &get()), Some("me"));
    // The whole path must match, case-sensitively.
    assert_eq!(served(&t, "/users/42/edit", &get()), Some("users"));
    assert_eq!(served(&t, "/Users/42", &get()), None);
    // The longer expression first; a failed condition falls through to the prefix.
    let admin = [("x-admin", "1")];
    assert_eq!(
        served(&t, "/users/42", &with_headers(&admin)),
        Some("user-id")
    );
    assert_eq!(served(&t, "/users/x", &with_headers(&admin)), Some("admin"));
    assert_eq!(served(&t, "/users/x", &get()), Some("users"));
    assert_eq!(t.route_count(), 4);
}

#[test]
fn the_oldest_route_then_the_name_then_the_rule_decide_a_tie() {
    let t = table(&[
        Match {
            rule: 1,
            ..prefix("b", "/")
        },
        prefix("b", "/api"),
        Match {
            rule: 3,
            ..prefix("a", "/")
        },
        Match {
            rule: 2,
            ..prefix("a", "/")
        },
    ]);
    // Route "a" wins the tie on its name, and its rule 2 before its rule 3.
    assert_eq!(served(&t, "/", &get()), Some("a"));
    let slot = t.exact_hosts[HOST].prefixes.longest_match("/").unwrap();
    let names: Vec<&str> = slot.iter().map(|c| c.route.ingress.as_str()).collect();
    assert_eq!(names, ["a", "a", "b"]);
    let rule_2 = Precedence::new(
        PathRank::new(PathKind::Prefix, "/"),
        Default::default(),
        &MatchSource {
            created: None,
            namespace: "ns",
            name: "a",
            rule: 2,
            match_index: 0,
        },
    );
    assert_eq!(slot.iter().next().unwrap().precedence, Some(rule_2));
}

#[test]
fn gateway_wildcards_cover_any_number_of_labels_the_most_specific_first() {
    let mut t = RouteTable {
        wildcards: WildcardHosts::AnyLabels,
        ..RouteTable::default()
    };
    add(
        &mut t,
        &HostMatch::Wildcard("example.com".into()),
        &prefix("wide", "/"),
    );
    add(
        &mut t,
        &HostMatch::Wildcard("b.example.com".into()),
        &prefix("narrow", "/"),
    );
    add(
        &mut t,
        &HostMatch::Exact("x.b.example.com".into()),
        &prefix("exact", "/"),
    );
    let at = |t: &RouteTable, host: &str| t.lookup(host, "/", &get()).map(|r| r.ingress.clone());
    assert_eq!(at(&t, "a.example.com").as_deref(), Some("wide"));
    assert_eq!(at(&t, "a.c.example.com").as_deref(), Some("wide"));
    assert_eq!(at(&t, "a.b.example.com").as_deref(), Some("narrow"));
    assert_eq!(at(&t, "z.a.b.example.com").as_deref(), Some("narrow"));
    assert_eq!(at(&t, "x.b.example.com").as_deref(), Some("exact"));
    assert_eq!(at(&t, "b.example.com").as_deref(), Some("wide"));
    assert_eq!(at(&t, "example.com"), None);
    // The Ingress reading of the same table: one label only.
    t.wildcards = WildcardHosts::OneLabel;
    assert_eq!(at(&t, "a.example.com").as_deref(), Some("wide"));
    assert_eq!(at(&t, "a.c.example.com"), None);
    assert_eq!(at(&t, "a.b.example.com").as_deref(), Some("narrow"));
}

#[test]
fn ingress_rules_ignore_the_request_beyond_host_and_path() {
    let mut t = RouteTable::default();
    let host = HostMatch::Exact(HOST.into());
    let routes = t.host_mut(&host);
    routes.insert(
        &PathMatch::parse(Some("/api"), "Prefix").unwrap(),
        route("api"),
    );
    routes.insert(
        &PathMatch::parse(Some("/api"), "Exact").unwrap(),
        route("exact"),
    );
    // A second Ingress rule of the same path replaces the first.
    routes.insert(
        &PathMatch::parse(Some("/api/"), "Prefix").unwrap(),
        route("api2"),
    );
    assert!(t.finish_hosts().is_empty());
    let odd = RequestParts {
        method: "BREW",
        headers: &[("x-any", "thing")],
        query: Some("%zz&&="),
    };
    assert_eq!(served(&t, "/api", &odd), Some("exact"));
    assert_eq!(served(&t, "/api/x", &odd), Some("api2"));
    assert_eq!(t.route_count(), 2);
}

#[test]
fn routes_json_shows_conditions_and_the_order_tried() {
    let t = table(&[
        prefix("plain", "/api"),
        Match {
            method: Some("GET"),
            headers: &[("X-Env", "canary")],
            ..prefix("canary", "/api")
        },
        prefix("alone", "/other"),
    ]);
    let json = serde_json::to_value(&t).unwrap();
    let api = &json["exact_hosts"][HOST]["prefixes"]["/api"];
    assert_eq!(
        api[0]["conditions"],
        serde_json::json!({ "method": "GET", "headers": [{ "name": "x-env", "exact": "canary" }] })
    );
    assert_eq!(api[0]["route"]["ingress"], "canary");
    assert_eq!(api[1]["ingress"], "plain");
    assert_eq!(
        json["exact_hosts"][HOST]["prefixes"]["/other"]["ingress"],
        "alone"
    );
    assert!(
        json.get("wildcards").is_none(),
        "the Ingress default is not shown"
    );
}
