//! The Gateway compiler, case by case: objects in, per-port tables out, requests looked up.

use std::path::Path;

use sluice_crds::gateway::matching::RequestParts;
use sluice_crds::gateway::ports::PortProtocol;

use super::*;
use crate::source::manifests::parse_into;

const GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: sluice
  listeners:
  - {name: web, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - name: wild
    port: 8000
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: shop}
spec: {ports: [{port: 80}]}
"#;

fn compile_yaml(yaml: &str) -> GatewayCompiled {
    let mut set = ObjectSet::default();
    parse_into(
        &format!("{GATEWAY}\n---\n{yaml}"),
        Path::new("t.yaml"),
        &mut set,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    compile(
        &set,
        &GatewayOptions {
            gateway: GatewayKey {
                namespace: "infra".into(),
                name: "public".into(),
            },
            ports: vec![
                GatewayPort {
                    port: 80,
                    container_port: 8080,
                    protocol: PortProtocol::Http,
                },
                GatewayPort {
                    port: 8000,
                    container_port: 8000,
                    protocol: PortProtocol::Http,
                },
            ],
        },
    )
}

/// The backend Service (`namespace/name`) a request gets on `port`, `500` for a route
/// answering 500, or None for no route.
fn served(c: &GatewayCompiled, port: u16, host: &str, path: &str) -> Option<String> {
    served_with(c, port, host, path, &RequestParts::default())
}

fn served_with(
    c: &GatewayCompiled,
    port: u16,
    host: &str,
    path: &str,
    request: &RequestParts<'_>,
) -> Option<String> {
    c.tables
        .for_port(Some(port))
        .lookup(host, path, request)
        .map(|r| match &r.unusable {
            Some(_) => "500".to_string(),
            None => r.backend.name.split(':').next().unwrap_or_default().into(),
        })
}

fn route(name: &str, rules: &str) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: shop, creationTimestamp: "2026-01-01T00:00:00Z"}}
spec:
  parentRefs: [{{name: public, namespace: infra}}]
  rules: {rules}
"#
    )
}

#[test]
fn a_route_serves_on_every_listener_it_attaches_to() {
    let c = compile_yaml(&route(
        "r",
        r#"[{matches: [{path: {type: PathPrefix, value: /a}}], backendRefs: [{name: a, port: 80}]}]"#,
    ));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(
        served(&c, 8080, "any.host", "/a/x").as_deref(),
        Some("shop/a")
    );
    assert_eq!(served(&c, 8080, "any.host", "/b"), None);
    // The wildcard listener: its hostname, any number of labels.
    assert_eq!(
        served(&c, 8000, "x.y.example.com", "/a").as_deref(),
        Some("shop/a")
    );
    assert_eq!(served(&c, 8000, "other.org", "/a"), None);
    // A port without a listener of the Gateway routes nothing.
    assert_eq!(served(&c, 9999, "any.host", "/a"), None);
}

#[test]
fn section_name_picks_the_listener() {
    let c = compile_yaml(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: infra, sectionName: wild}]
  rules: [{backendRefs: [{name: a, port: 80}]}]
"#,
    );
    assert_eq!(served(&c, 8080, "a.example.com", "/"), None);
    assert_eq!(
        served(&c, 8000, "a.example.com", "/").as_deref(),
        Some("shop/a")
    );
}

#[test]
fn a_rule_with_a_bad_match_is_dropped_and_the_others_serve() {
    let c = compile_yaml(&route(
        "r",
        r#"
  - matches: [{path: {type: RegularExpression, value: "/(bad"}}]
    backendRefs: [{name: b, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /good}}]
    backendRefs: [{name: a, port: 80}]
"#,
    ));
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert_eq!(served(&c, 8080, "h", "/good").as_deref(), Some("shop/a"));
    assert_eq!(served(&c, 8080, "h", "/bad"), None);
}

#[test]
fn conditions_and_precedence_pick_the_route() {
    let c = compile_yaml(&format!(
        "{}\n---\n{}",
        route(
            "plain",
            r#"[{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: a, port: 80}]}]"#,
        ),
        route(
            "canary",
            r#"[{matches: [{path: {type: PathPrefix, value: /}, headers: [{name: x-env, value: canary}]}], backendRefs: [{name: b, port: 80}]}]"#,
        ),
    ));
    let canary = RequestParts {
        headers: &[("X-Env", "canary")],
        ..RequestParts::default()
    };
    assert_eq!(served(&c, 8080, "h", "/x").as_deref(), Some("shop/a"));
    assert_eq!(
        served_with(&c, 8080, "h", "/x", &canary).as_deref(),
        Some("shop/b")
    );
}

#[test]
fn unusable_backends_answer_500_and_weight_0_is_never_picked() {
    let c = compile_yaml(&route(
        "r",
        r#"
  - matches: [{path: {type: Exact, value: /missing}}]
    backendRefs: [{name: nothing, port: 80}]
  - matches: [{path: {type: Exact, value: /zero}}]
    backendRefs: [{name: a, port: 80, weight: 0}, {name: b, port: 80, weight: 1}]
  - matches: [{path: {type: Exact, value: /none}}]
"#,
    ));
    assert_eq!(served(&c, 8080, "h", "/missing").as_deref(), Some("500"));
    assert_eq!(served(&c, 8080, "h", "/none").as_deref(), Some("500"));
    for _ in 0..50 {
        assert_eq!(served(&c, 8080, "h", "/zero").as_deref(), Some("shop/b"));
    }
}

#[test]
fn a_split_reaches_every_weighted_backend() {
    let c = compile_yaml(&route(
        "r",
        r#"[{backendRefs: [{name: a, port: 80, weight: 1}, {name: b, port: 80, weight: 1}, {name: gone, port: 80, weight: 1}]}]"#,
    ));
    let mut seen = BTreeSet::new();
    for _ in 0..300 {
        seen.extend(served(&c, 8080, "h", "/"));
    }
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(seen, ["500", "shop/a", "shop/b"]);
    // Every backend is in the index, for in-place endpoint updates.
    assert_eq!(c.tables.default.backends.of_service("shop", "a").len(), 1);
}

#[test]
fn without_the_gateway_nothing_is_served() {
    let mut set = ObjectSet::default();
    parse_into(
        &route("r", "[{backendRefs: [{name: a, port: 80}]}]"),
        Path::new("t.yaml"),
        &mut set,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let c = compile(
        &set,
        &GatewayOptions {
            gateway: GatewayKey {
                namespace: "infra".into(),
                name: "public".into(),
            },
            ports: Vec::new(),
        },
    );
    assert_eq!(c.tables.route_count(), 0);
    assert_eq!(c.problems.len(), 1);
}

#[test]
fn grpc_routes_attach_only_where_listeners_take_them() {
    // HTTP and HTTPS listeners take HTTPRoutes only until GRPCRoute joins their kinds
    // (`attach::listeners::protocol_kinds`): then the same rules serve it.
    let c = compile_yaml(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: infra, sectionName: web}]
  rules:
  - matches: [{method: {service: grpc.health.v1.Health, method: Check}}]
    backendRefs: [{name: a, port: 80}]
"#,
    );
    let takes_grpc = sluice_crds::gateway::attach::listeners::protocol_kinds("HTTP")
        .is_some_and(|k| k.contains(&sluice_crds::gateway::attach::RouteKind::Grpc));
    let route = c.tables.for_port(Some(8080)).lookup(
        "h",
        "/grpc.health.v1.Health/Check",
        &RequestParts::default(),
    );
    assert_eq!(
        route.map(|r| r.backend_protocol),
        takes_grpc.then_some(sluice_crds::annotations::BackendProtocol::Grpc),
    );
    assert_eq!(served(&c, 8080, "h", "/grpc.health.v1.Health/Watch"), None);
}
