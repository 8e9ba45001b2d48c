//! Listener cases, several of them those of the upstream conformance tests (named where
//! they are), told with Sluice's types.

use super::*;
use crate::gateway::attach::certificates::CertificateState;
use crate::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use serde_json::json;

fn gateway(listeners: serde_json::Value) -> Gateway {
    serde_json::from_value(json!({
        "metadata": { "name": "gw", "namespace": "infra", "generation": 2 },
        "spec": { "gatewayClassName": "sluice", "listeners": listeners }
    }))
    .unwrap()
}

fn secrets(namespace: &str, name: &str) -> CertificateState {
    match (namespace, name) {
        ("infra", "cert") | ("web", "certificate") => CertificateState::Valid,
        ("infra", "malformed") => CertificateState::Invalid("not PEM".into()),
        _ => CertificateState::Missing,
    }
}

fn judge(listeners: serde_json::Value) -> Vec<ListenerState> {
    judge_with(listeners, SUPPORTED_PROTOCOLS)
}

fn judge_with(listeners: serde_json::Value, protocols: &[&str]) -> Vec<ListenerState> {
    gateway_state(
        &gateway(listeners),
        protocols,
        &ReferenceGrants::default(),
        &secrets,
    )
    .unwrap()
    .listeners
}

/// (Accepted, ResolvedRefs, Conflicted) as (status is True, reason).
fn summary(l: &ListenerState) -> [(bool, &'static str); 3] {
    [&l.accepted, &l.resolved_refs, &l.conflicted].map(|o| (o.is_true(), o.reason))
}

#[test]
fn a_plain_http_listener() {
    let state = gateway_state(
        &gateway(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }])),
        SUPPORTED_PROTOCOLS,
        &ReferenceGrants::default(),
        &secrets,
    )
    .unwrap();
    assert_eq!(
        state.key,
        GatewayKey {
            namespace: "infra".into(),
            name: "gw".into()
        }
    );
    assert_eq!(state.generation, Some(2));
    let l = &state.listeners[0];
    assert_eq!(
        summary(l),
        [
            (true, "Accepted"),
            (true, "ResolvedRefs"),
            (false, "NoConflicts")
        ]
    );
    assert_eq!(l.kinds, [RouteKind::Http, RouteKind::Grpc]);
    assert_eq!(l.hostname, HostMatch::Any);
    assert_eq!(l.tls_mode, None);
    assert_eq!(l.allowed_namespaces, AllowedNamespaces::Same);
    assert!(l.is_served());
    assert!(l.overlapping_tls.is_none());
}

#[test]
fn unsupported_protocols_are_not_accepted_and_take_no_kinds() {
    // As the conformance test GatewayInvalidListenersUnsupportedProtocol.
    let got = judge(json!([
        { "name": "http", "port": 80, "protocol": "HTTP" },
        { "name": "invalid", "port": 1111, "protocol": "INVALID" },
        // Not served, so it does not conflict with `http` on the same port.
        { "name": "tcp", "port": 80, "protocol": "TCP" },
        { "name": "tls", "port": 8443, "protocol": "TLS", "tls": { "mode": "Passthrough" } },
    ]));
    assert_eq!(summary(&got[0])[0], (true, "Accepted"));
    assert_eq!(summary(&got[0])[2], (false, "NoConflicts"));
    for l in &got[1..] {
        assert_eq!(l.accepted.reason, "UnsupportedProtocol", "{}", l.name);
        assert!(!l.accepted.is_true());
        assert!(l.kinds.is_empty());
        assert!(!l.is_served());
    }
}

#[test]
fn tls_passthrough_is_served_when_enabled() {
    let protocols = ["HTTP", "HTTPS", "TLS"];
    let got = judge_with(
        json!([{ "name": "tls", "port": 8443, "protocol": "TLS", "hostname": "a.example.com",
                 "tls": { "mode": "Passthrough" } }]),
        &protocols,
    );
    assert_eq!(summary(&got[0])[0], (true, "Accepted"));
    assert_eq!(summary(&got[0])[1], (true, "ResolvedRefs"));
    assert_eq!(got[0].kinds, [RouteKind::Tls]);
    assert_eq!(got[0].tls_mode, Some(TlsMode::Passthrough));
    assert!(got[0].certificates.is_empty());
}

#[test]
fn allowed_route_kinds() {
    // (protocol, kinds written, supportedKinds, ResolvedRefs reason)
    let http = [RouteKind::Http];
    let cases: [(&str, serde_json::Value, &[RouteKind], &str); 7] = [
        // The two Gateways of the conformance test GatewayInvalidRouteKind.
        (
            "HTTP",
            json!([{ "kind": "InvalidRoute" }]),
            &[],
            "InvalidRouteKinds",
        ),
        (
            "HTTP",
            json!([{ "kind": "InvalidRoute" }, { "kind": "HTTPRoute" }]),
            &http,
            "InvalidRouteKinds",
        ),
        (
            "HTTP",
            json!([]),
            &[RouteKind::Http, RouteKind::Grpc],
            "ResolvedRefs",
        ),
        // A kind written twice is taken once.
        (
            "HTTP",
            json!([{ "kind": "GRPCRoute" }, { "kind": "HTTPRoute" }, { "kind": "HTTPRoute" }]),
            &[RouteKind::Grpc, RouteKind::Http],
            "ResolvedRefs",
        ),
        // TLSRoutes cannot ride on HTTP.
        (
            "HTTP",
            json!([{ "kind": "TLSRoute" }]),
            &[],
            "InvalidRouteKinds",
        ),
        // The group is Gateway API's unless written: the core group has no routes.
        (
            "HTTP",
            json!([{ "group": "", "kind": "HTTPRoute" }]),
            &[],
            "InvalidRouteKinds",
        ),
        (
            "HTTP",
            json!([{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute" }]),
            &http,
            "ResolvedRefs",
        ),
    ];
    for (protocol, kinds, supported, reason) in cases {
        let got = judge(json!([{
            "name": "l", "port": 80, "protocol": protocol,
            "allowedRoutes": { "kinds": kinds }
        }]));
        assert_eq!(got[0].kinds, supported, "{kinds}");
        assert_eq!(got[0].resolved_refs.reason, reason, "{kinds}");
        // An invalid kind is a reference problem, not a reason to refuse the listener.
        assert!(got[0].accepted.is_true());
        assert_eq!(got[0].is_served(), reason == "ResolvedRefs");
    }
}

#[test]
fn https_certificates() {
    let https = |refs: serde_json::Value| {
        json!([{ "name": "https", "port": 443, "protocol": "HTTPS",
                 "tls": { "certificateRefs": refs } }])
    };
    // (certificateRefs, ResolvedRefs reason, usable Secrets)
    let cases = [
        (json!([{ "name": "cert" }]), "ResolvedRefs", 1),
        (
            json!([{ "name": "nonexistent" }]),
            "InvalidCertificateRef",
            0,
        ),
        (json!([{ "name": "malformed" }]), "InvalidCertificateRef", 0),
        (
            json!([{ "group": "", "kind": "ConfigMap", "name": "cert" }]),
            "InvalidCertificateRef",
            0,
        ),
        (
            json!([{ "name": "certificate", "namespace": "web" }]),
            "RefNotPermitted",
            0,
        ),
        (json!([]), "InvalidCertificateRef", 0),
        // One good and one bad: not resolved, though one could be served.
        (
            json!([{ "name": "cert" }, { "name": "nonexistent" }]),
            "InvalidCertificateRef",
            1,
        ),
    ];
    for (refs, reason, usable) in cases {
        let got = judge(https(refs.clone()));
        assert_eq!(got[0].resolved_refs.reason, reason, "{refs}");
        assert_eq!(got[0].certificates.len(), usable, "{refs}");
        assert_eq!(got[0].tls_mode, Some(TlsMode::Terminate));
        assert!(got[0].accepted.is_true());
        assert_eq!(got[0].is_served(), reason == "ResolvedRefs", "{refs}");
    }
    // No `tls` at all on an HTTPS listener: nothing to serve with.
    let got = judge(json!([{ "name": "https", "port": 443, "protocol": "HTTPS" }]));
    assert_eq!(got[0].resolved_refs.reason, "InvalidCertificateRef");
}

#[test]
fn with_several_problems_the_first_gives_the_reason_and_all_are_told() {
    let got = judge(json!([{
        "name": "https", "port": 443, "protocol": "HTTPS",
        "allowedRoutes": { "kinds": [{ "kind": "InvalidRoute" }] },
        "tls": { "certificateRefs": [
            { "name": "certificate", "namespace": "web" },
            { "name": "nonexistent" }
        ] }
    }]));
    let r = &got[0].resolved_refs;
    assert_eq!(r.reason, "RefNotPermitted");
    assert!(r.message.contains("web/certificate"), "{}", r.message);
    assert!(r.message.contains("infra/nonexistent"), "{}", r.message);
    assert!(r.message.contains("InvalidRoute"), "{}", r.message);
}

#[test]
fn values_sluice_cannot_use_refuse_the_listener() {
    let cases = [
        json!({ "name": "l", "port": 443, "protocol": "HTTPS",
                "tls": { "mode": "Passthrough" } }),
        json!({ "name": "l", "port": 80, "protocol": "HTTP", "hostname": "10.0.0.1" }),
        json!({ "name": "l", "port": 80, "protocol": "HTTP",
                "allowedRoutes": { "namespaces": { "from": "Selector" } } }),
        json!({ "name": "l", "port": 80, "protocol": "HTTP",
                "allowedRoutes": { "namespaces": { "from": "Selector", "selector": {
                    "matchExpressions": [{ "key": "k", "operator": "Equals", "values": ["v"] }]
                } } } }),
    ];
    for case in cases {
        let got = judge(json!([case.clone()]));
        assert_eq!(got[0].accepted.reason, "UnsupportedValue", "{case}");
        assert!(!got[0].accepted.is_true());
        assert!(!got[0].is_served());
    }
}

#[test]
fn conflicted_listeners_are_not_accepted() {
    let got = judge(json!([
        { "name": "a", "port": 80, "protocol": "HTTP", "hostname": "foo.com" },
        { "name": "b", "port": 80, "protocol": "HTTP", "hostname": "foo.com" },
        { "name": "c", "port": 80, "protocol": "HTTP", "hostname": "bar.com" },
        { "name": "d", "port": 443, "protocol": "HTTP" },
        { "name": "e", "port": 443, "protocol": "HTTPS", "tls": { "certificateRefs": [{ "name": "cert" }] } },
    ]));
    let hostname = [
        (false, "HostnameConflict"),
        (true, "ResolvedRefs"),
        (true, "HostnameConflict"),
    ];
    let protocol = [
        (false, "ProtocolConflict"),
        (true, "ResolvedRefs"),
        (true, "ProtocolConflict"),
    ];
    assert_eq!(summary(&got[0]), hostname);
    assert_eq!(summary(&got[1]), hostname);
    assert_eq!(summary(&got[2])[0], (true, "Accepted"));
    assert_eq!(summary(&got[3]), protocol);
    assert_eq!(summary(&got[4]), protocol);
    assert!(got.iter().filter(|l| l.is_served()).count() == 1);
}

#[test]
fn overlapping_tls_hostnames_are_reported() {
    let https = |name: &str, hostname: &str| {
        json!({ "name": name, "port": 443, "protocol": "HTTPS", "hostname": hostname,
                "tls": { "certificateRefs": [{ "name": "cert" }] } })
    };
    let got = judge(json!([
        https("a", "foo.example.com"),
        https("b", "foo.example.org"),
        https("c", "*.example.com"),
    ]));
    let reasons: Vec<_> = got
        .iter()
        .map(|l| l.overlapping_tls.as_ref().map(|o| o.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            Some("OverlappingHostnames"),
            None,
            Some("OverlappingHostnames")
        ]
    );
    // It is a warning: the listeners are still served.
    assert!(got.iter().all(ListenerState::is_served));
}

#[test]
fn allowed_namespaces() {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let infra = labels(&[("kubernetes.io/metadata.name", "infra")]);
    let web = labels(&[("kubernetes.io/metadata.name", "web"), ("shared", "yes")]);
    let other = labels(&[("kubernetes.io/metadata.name", "other")]);
    // (namespaces, [infra, web, other] allowed)
    let cases = [
        (json!(null), [true, false, false]),
        (json!({}), [true, false, false]),
        (json!({ "from": "Same" }), [true, false, false]),
        (json!({ "from": "All" }), [true, true, true]),
        (
            // As the conformance test GatewayWithAttachedRoutes.
            json!({ "from": "Selector", "selector": {
                "matchLabels": { "kubernetes.io/metadata.name": "infra" } } }),
            [true, false, false],
        ),
        (
            json!({ "from": "Selector", "selector": {
                "matchExpressions": [{ "key": "shared", "operator": "Exists" }] } }),
            [false, true, false],
        ),
        (
            json!({ "from": "Selector", "selector": {
                "matchExpressions": [{ "key": "kubernetes.io/metadata.name",
                                       "operator": "NotIn", "values": ["web"] }] } }),
            [true, false, true],
        ),
        (
            json!({ "from": "Selector", "selector": {} }),
            [true, true, true],
        ),
    ];
    for (namespaces, allowed) in cases {
        let mut listener = json!({ "name": "l", "port": 80, "protocol": "HTTP" });
        if !namespaces.is_null() {
            listener["allowedRoutes"] = json!({ "namespaces": namespaces });
        }
        let got = judge(json!([listener]));
        let l = &got[0];
        let seen = [("infra", &infra), ("web", &web), ("other", &other)]
            .map(|(ns, labels)| l.allows(RouteKind::Http, "infra", ns, labels));
        assert_eq!(seen, allowed, "{namespaces}");
    }
}

#[test]
fn a_listener_allows_only_its_kinds() {
    let got = judge(json!([{ "name": "l", "port": 80, "protocol": "HTTP",
                             "allowedRoutes": { "kinds": [{ "kind": "HTTPRoute" }] } }]));
    let none = BTreeMap::new();
    assert!(got[0].allows(RouteKind::Http, "infra", "infra", &none));
    assert!(!got[0].allows(RouteKind::Grpc, "infra", "infra", &none));
    assert!(!got[0].allows(RouteKind::Tls, "infra", "infra", &none));
}

#[test]
fn a_gateway_without_namespace_is_an_error() {
    let gw: Gateway = serde_json::from_value(json!({
        "metadata": { "name": "gw" },
        "spec": { "gatewayClassName": "sluice", "listeners": [] }
    }))
    .unwrap();
    let got = gateway_state(
        &gw,
        SUPPORTED_PROTOCOLS,
        &ReferenceGrants::default(),
        &secrets,
    );
    assert!(got.is_err());
}
