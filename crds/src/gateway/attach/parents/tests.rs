//! Attachment cases, most of them those of the upstream conformance tests (named in each
//! test), told with Sluice's types.

use super::*;
use crate::gateway::attach::ReferenceGrants;
use crate::gateway::attach::certificates::CertificateState;
use crate::gateway::attach::listeners::gateway_state;
use crate::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use crate::gateway::attach::route::{InvalidRule, RouteKind};
use crate::gateway_api::gateways::Gateway;
use serde_json::json;

const INFRA: &str = "gateway-conformance-infra";
const WEB: &str = "gateway-conformance-web-backend";

fn gateways(list: &[(&str, serde_json::Value)]) -> BTreeMap<GatewayKey, GatewayState> {
    list.iter()
        .map(|(name, listeners)| {
            let gw: Gateway = serde_json::from_value(json!({
                "metadata": { "name": name, "namespace": INFRA },
                "spec": { "gatewayClassName": "sluice", "listeners": listeners }
            }))
            .unwrap();
            let secrets = |_: &str, _: &str| CertificateState::Missing;
            let state = gateway_state(
                &gw,
                SUPPORTED_PROTOCOLS,
                &ReferenceGrants::default(),
                &secrets,
            )
            .unwrap();
            (state.key.clone(), state)
        })
        .collect()
}

fn http(name: &str, port: i32, hostname: Option<&str>, from: &str) -> serde_json::Value {
    let mut l = json!({ "name": name, "port": port, "protocol": "HTTP",
                        "allowedRoutes": { "namespaces": { "from": from } } });
    if let Some(h) = hostname {
        l["hostname"] = json!(h);
    }
    l
}

fn route(namespace: &str, hostnames: &[&str], parent_refs: serde_json::Value) -> Route {
    let r = serde_json::from_value(json!({
        "metadata": { "name": "r", "namespace": namespace },
        "spec": { "hostnames": hostnames, "parentRefs": parent_refs, "rules": [{}] }
    }))
    .unwrap();
    Route::from_http(&r).unwrap()
}

fn labels_of(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "kubernetes.io/metadata.name".to_string(),
        namespace.to_string(),
    )])
}

fn attach_in(route: &Route, gws: &BTreeMap<GatewayKey, GatewayState>) -> RouteAttachments {
    attach(route, gws, &labels_of(&route.id.namespace))
}

/// A listener attached to, with the hostnames served there.
type OnListener = (String, Vec<String>);

/// Each parent as (Accepted reason, listeners attached to).
fn outcome(a: &RouteAttachments) -> Vec<(&'static str, Vec<OnListener>)> {
    a.parents
        .iter()
        .map(|p| {
            let listeners = p
                .listeners
                .iter()
                .map(|l| {
                    let hosts = l.hostnames.iter().map(describe).collect();
                    (l.listener.clone(), hosts)
                })
                .collect();
            (p.accepted.reason, listeners)
        })
        .collect()
}

fn on(listener: &str, hosts: &[&str]) -> OnListener {
    (
        listener.to_string(),
        hosts.iter().map(|h| h.to_string()).collect(),
    )
}

#[test]
fn hostname_intersection() {
    // HTTPRouteHostnameIntersection.
    let gws = gateways(&[(
        "httproute-hostname-intersection",
        json!([
            http("listener-1", 80, Some("very.specific.com"), "Same"),
            http("listener-2", 80, Some("*.wildcard.io"), "Same"),
            http("listener-3", 80, Some("*.anotherwildcard.io"), "Same"),
        ]),
    )]);
    let parent = json!([{ "name": "httproute-hostname-intersection", "namespace": INFRA }]);
    let cases: [(&[&str], Vec<_>); 5] = [
        (
            &[
                "non.matching.com",
                "*.nonmatchingwildcard.io",
                "very.specific.com",
            ],
            vec![("Accepted", vec![on("listener-1", &["very.specific.com"])])],
        ),
        (
            &[
                "non.matching.com",
                "wildcard.io",
                "foo.wildcard.io",
                "bar.wildcard.io",
                "foo.bar.wildcard.io",
            ],
            vec![(
                "Accepted",
                vec![on(
                    "listener-2",
                    &["foo.wildcard.io", "bar.wildcard.io", "foo.bar.wildcard.io"],
                )],
            )],
        ),
        (
            &["non.matching.com", "*.specific.com"],
            vec![("Accepted", vec![on("listener-1", &["very.specific.com"])])],
        ),
        (
            &["*.anotherwildcard.io"],
            vec![(
                "Accepted",
                vec![on("listener-3", &["*.anotherwildcard.io"])],
            )],
        ),
        (
            &["specific.but.wrong.com", "wildcard.io"],
            vec![("NoMatchingListenerHostname", vec![])],
        ),
    ];
    for (hostnames, expected) in cases {
        let got = attach_in(&route(INFRA, hostnames, parent.clone()), &gws);
        assert_eq!(outcome(&got), expected, "{hostnames:?}");
    }
}

#[test]
fn a_route_without_hostnames_takes_each_listeners() {
    let gws = gateways(&[(
        "gw",
        json!([
            http("specific", 80, Some("bar.com"), "Same"),
            http("wildcard", 80, Some("*.bar.com"), "Same"),
            http("any", 8080, None, "Same"),
        ]),
    )]);
    let got = attach_in(&route(INFRA, &[], json!([{ "name": "gw" }])), &gws);
    assert_eq!(
        outcome(&got),
        [(
            "Accepted",
            vec![
                on("specific", &["bar.com"]),
                on("wildcard", &["*.bar.com"]),
                on("any", &["(none)"])
            ]
        )]
    );
    assert_eq!(got.parents[0].listeners[2].hostnames, [HostMatch::Any]);
}

#[test]
fn section_names_pick_listeners() {
    // HTTPRouteListenerHostnameMatching: one parentRef per listener; backend-v3 has two.
    let gws = gateways(&[(
        "gw",
        json!([
            http("listener-1", 80, Some("bar.com"), "Same"),
            http("listener-2", 80, Some("foo.bar.com"), "Same"),
            http("listener-3", 80, Some("*.bar.com"), "Same"),
            http("listener-4", 80, Some("*.foo.com"), "Same"),
        ]),
    )]);
    let v1 = route(
        INFRA,
        &[],
        json!([{ "name": "gw", "sectionName": "listener-1" }]),
    );
    let v3 = route(
        INFRA,
        &[],
        json!([
            { "name": "gw", "sectionName": "listener-3" },
            { "name": "gw", "sectionName": "listener-4" }
        ]),
    );
    assert_eq!(
        outcome(&attach_in(&v1, &gws)),
        [("Accepted", vec![on("listener-1", &["bar.com"])])]
    );
    assert_eq!(
        outcome(&attach_in(&v3, &gws)),
        [
            ("Accepted", vec![on("listener-3", &["*.bar.com"])]),
            ("Accepted", vec![on("listener-4", &["*.foo.com"])])
        ]
    );
}

#[test]
fn ports_pick_listeners() {
    // HTTPRouteListenerPortMatching.
    let gws = gateways(&[(
        "gw",
        json!([
            http("listener-1", 80, Some("foo.com"), "Same"),
            http("listener-2", 8080, Some("foo.com"), "Same"),
            http("listener-3", 8080, Some("bar.com"), "Same"),
            http("listener-4", 8090, Some("foo.com"), "Same"),
            http("listener-5", 8090, Some("bar.com"), "Same"),
        ]),
    )]);
    let cases = [
        (json!({ "name": "gw", "port": 80 }), vec!["listener-1"]),
        (
            json!({ "name": "gw", "port": 8080 }),
            vec!["listener-2", "listener-3"],
        ),
        (
            json!({ "name": "gw", "port": 8090, "sectionName": "listener-4" }),
            vec!["listener-4"],
        ),
    ];
    for (parent, listeners) in cases {
        let got = attach_in(&route(INFRA, &[], json!([parent.clone()])), &gws);
        let names: Vec<&str> = got.parents[0]
            .listeners
            .iter()
            .map(|l| l.listener.as_str())
            .collect();
        assert_eq!(names, listeners, "{parent}");
    }
}

#[test]
fn a_section_or_port_that_names_nothing_is_no_matching_parent() {
    // HTTPRouteInvalidParentRefNotMatchingListenerPort, ...NotMatchingSectionName and
    // ...SectionNameNotMatchingPort.
    let gws = gateways(&[("same-namespace", json!([http("http", 80, None, "All")]))]);
    let cases = [
        json!({ "name": "same-namespace", "namespace": INFRA, "port": 81 }),
        json!({ "name": "same-namespace", "namespace": INFRA, "port": 80, "sectionName": "http1" }),
        json!({ "name": "same-namespace", "namespace": INFRA, "port": 81, "sectionName": "http" }),
    ];
    for parent in cases {
        let got = attach_in(&route(INFRA, &[], json!([parent.clone()])), &gws);
        assert_eq!(outcome(&got), [("NoMatchingParent", vec![])], "{parent}");
        assert!(!got.parents[0].accepted.is_true());
    }
}

#[test]
fn listeners_must_allow_the_routes_namespace_and_kind() {
    let gws = gateways(&[
        ("same", json!([http("http", 80, None, "Same")])),
        ("all", json!([http("http", 80, None, "All")])),
        (
            "selector",
            json!([{ "name": "http", "port": 80, "protocol": "HTTP",
                     "allowedRoutes": { "namespaces": { "from": "Selector", "selector": {
                         "matchLabels": { "kubernetes.io/metadata.name": WEB } } } } }]),
        ),
        (
            "grpc-only",
            json!([{ "name": "http", "port": 80, "protocol": "HTTP",
                     "allowedRoutes": { "kinds": [{ "kind": "GRPCRoute" }],
                                        "namespaces": { "from": "All" } } }]),
        ),
    ]);
    // (gateway, route namespace, Accepted reason)
    let cases = [
        // HTTPRouteInvalidCrossNamespaceParentRef.
        ("same", WEB, "NotAllowedByListeners"),
        ("same", INFRA, "Accepted"),
        ("all", WEB, "Accepted"),
        ("selector", WEB, "Accepted"),
        ("selector", INFRA, "NotAllowedByListeners"),
        // An HTTPRoute, on a listener that takes GRPCRoutes only.
        ("grpc-only", INFRA, "NotAllowedByListeners"),
    ];
    for (gw, namespace, reason) in cases {
        let r = route(namespace, &[], json!([{ "name": gw, "namespace": INFRA }]));
        let got = attach_in(&r, &gws);
        assert_eq!(got.parents[0].accepted.reason, reason, "{gw} {namespace}");
        assert_eq!(got.parents[0].listeners.is_empty(), reason != "Accepted");
    }
    // A GRPCRoute it takes.
    let grpc: crate::gateway_api::grpcroutes::GrpcRoute = serde_json::from_value(json!({
        "metadata": { "name": "g", "namespace": INFRA },
        "spec": { "parentRefs": [{ "name": "grpc-only" }] }
    }))
    .unwrap();
    let grpc = Route::from_grpc(&grpc).unwrap();
    assert_eq!(grpc.id.kind, RouteKind::Grpc);
    assert_eq!(
        attach_in(&grpc, &gws).parents[0].accepted.reason,
        "Accepted"
    );
}

#[test]
fn reasons_come_in_order_selection_then_permission_then_hostname() {
    let gws = gateways(&[(
        "gw",
        json!([
            http("same", 80, Some("a.example.com"), "Same"),
            http("all", 8080, Some("b.example.com"), "All"),
        ]),
    )]);
    // From another namespace, only `all` allows the route: its hostname decides.
    let r = route(
        WEB,
        &["a.example.com"],
        json!([{ "name": "gw", "namespace": INFRA }]),
    );
    assert_eq!(
        attach_in(&r, &gws).parents[0].accepted.reason,
        "NoMatchingListenerHostname"
    );
    // Narrowed to `same`, which does not allow it: the hostname is not looked at.
    let r = route(
        WEB,
        &["nothing.example.org"],
        json!([{ "name": "gw", "namespace": INFRA, "sectionName": "same" }]),
    );
    assert_eq!(
        attach_in(&r, &gws).parents[0].accepted.reason,
        "NotAllowedByListeners"
    );
}

#[test]
fn one_listener_of_two_is_enough() {
    let gws = gateways(&[(
        "gw",
        json!([
            http("a", 80, Some("a.example.com"), "Same"),
            http("b", 8080, Some("b.example.com"), "Same"),
        ]),
    )]);
    let r = route(INFRA, &["b.example.com"], json!([{ "name": "gw" }]));
    assert_eq!(
        outcome(&attach_in(&r, &gws)),
        [("Accepted", vec![on("b", &["b.example.com"])])]
    );
}

#[test]
fn parents_that_are_not_our_gateways_get_no_status() {
    let gws = gateways(&[("ours", json!([http("http", 80, None, "Same")]))]);
    let r = route(
        INFRA,
        &[],
        json!([
            { "name": "theirs" },
            { "name": "ours", "namespace": "elsewhere" },
            { "group": "", "kind": "Service", "name": "ours" },
            { "kind": "ListenerSet", "name": "ours" },
            { "group": "example.com", "kind": "Gateway", "name": "ours" },
            { "name": "ours" },
            { "name": "ours" },
        ]),
    );
    let got = attach_in(&r, &gws);
    assert_eq!(got.parents.len(), 1);
    assert_eq!(got.parents[0].parent_ref.name, "ours");
    assert_eq!(got.parents[0].parent_ref.kind, None);
    assert_eq!(got.route, r.id);
}

#[test]
fn invalid_rules() {
    let gws = gateways(&[("gw", json!([http("http", 80, None, "Same")]))]);
    let mut r = route(INFRA, &[], json!([{ "name": "gw" }]));
    r.rule_count = 3;
    let bad = |index: usize| InvalidRule {
        index,
        message: format!("bad {index}"),
    };
    r.invalid_rules = vec![bad(2), bad(0)];
    let got = attach_in(&r, &gws);
    let p = &got.parents[0];
    assert!(p.accepted.is_true());
    let partial = p.partially_invalid.as_ref().unwrap();
    assert_eq!(
        (partial.is_true(), partial.reason),
        (true, "UnsupportedValue")
    );
    assert!(
        partial.message.starts_with("Dropped Rule(s) 0, 2: "),
        "{}",
        partial.message
    );

    r.invalid_rules.push(bad(1));
    let got = attach_in(&r, &gws);
    let p = &got.parents[0];
    assert_eq!(
        (p.accepted.is_true(), p.accepted.reason),
        (false, "UnsupportedValue")
    );
    assert!(p.listeners.is_empty());
    assert!(p.partially_invalid.is_none());
}

#[test]
fn a_hostname_sluice_cannot_read_is_an_unsupported_value() {
    let gws = gateways(&[("gw", json!([http("http", 80, None, "Same")]))]);
    let r = route(
        INFRA,
        &["a.example.com", "bad_host"],
        json!([{ "name": "gw" }]),
    );
    assert_eq!(
        attach_in(&r, &gws).parents[0].accepted.reason,
        "UnsupportedValue"
    );
}

#[test]
fn attached_routes_count_accepted_routes_per_listener() {
    // GatewayWithAttachedRoutes.
    let gws = gateways(&[
        (
            "two",
            json!([http("http", 80, Some("foo.example.com"), "Same")]),
        ),
        (
            "unresolved",
            json!([{ "name": "tls", "port": 443, "protocol": "HTTPS",
                     "tls": { "certificateRefs": [{ "name": "does-not-exist" }] } }]),
        ),
        (
            "listeners",
            json!([
                http("http", 80, None, "Same"),
                http("http-unattached", 8080, None, "Same")
            ]),
        ),
    ]);
    let two = GatewayKey {
        namespace: INFRA.into(),
        name: "two".into(),
    };
    let routes = [
        route(INFRA, &[], json!([{ "name": "two" }])),
        route(INFRA, &[], json!([{ "name": "two" }])),
        route(
            INFRA,
            &["not-accepted.test.com"],
            json!([{ "name": "two" }]),
        ),
        // The listener's certificate is missing: it is not served, but the route attaches.
        route(
            INFRA,
            &[],
            json!([{ "name": "unresolved", "sectionName": "tls" }]),
        ),
        // Two parentRefs leading to one listener count once.
        route(
            INFRA,
            &[],
            json!([{ "name": "listeners", "sectionName": "http" },
                   { "name": "listeners", "port": 80 }]),
        ),
    ];
    let attachments: Vec<_> = routes.iter().map(|r| attach_in(r, &gws)).collect();
    assert_eq!(
        attachments[2].parents[0].accepted.reason,
        "NoMatchingListenerHostname"
    );
    let counts = AttachedRoutes::new(&attachments);
    assert_eq!(counts.count(&two, "http"), 2);
    let key = |name: &str| GatewayKey {
        namespace: INFRA.into(),
        name: name.into(),
    };
    assert!(!gws[&key("unresolved")].listeners[0].is_served());
    assert_eq!(counts.count(&key("unresolved"), "tls"), 1);
    assert_eq!(counts.count(&key("listeners"), "http"), 1);
    assert_eq!(counts.count(&key("listeners"), "http-unattached"), 0);
    assert_eq!(counts.count(&key("nowhere"), "http"), 0);
}
