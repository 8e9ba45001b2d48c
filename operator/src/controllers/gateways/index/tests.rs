use std::sync::Arc;

use serde_json::json;

use super::*;

const CONTROLLER: &str = "sluice.dev/gateway-controller";

fn key(ns: &str, name: &str) -> GatewayKey {
    GatewayKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn gateway(ns: &str, name: &str, class: &str, cert: Option<serde_json::Value>) -> Gateway {
    let mut listener = json!({ "name": "http", "port": 80, "protocol": "HTTP" });
    if let Some(cert) = cert {
        listener = json!({
            "name": "https", "port": 443, "protocol": "HTTPS",
            "tls": { "certificateRefs": [cert] }
        });
    }
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "namespace": ns, "name": name },
        "spec": { "gatewayClassName": class, "listeners": [listener] }
    }))
    .unwrap()
}

fn route(ns: &str, parents: serde_json::Value, backends: serde_json::Value) -> HttpRoute {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "namespace": ns, "name": "r" },
        "spec": { "parentRefs": parents, "rules": [{ "backendRefs": backends }] }
    }))
    .unwrap()
}

#[test]
fn a_route_names_its_gateways_and_services() {
    let r = route(
        "app",
        json!([
            { "name": "edge", "namespace": "infra" },
            { "name": "local" },
            { "name": "svc", "kind": "Service", "group": "" },
        ]),
        json!([
            { "name": "web", "port": 80 },
            { "name": "other", "namespace": "shared", "port": 80 },
            { "name": "bucket", "group": "example.com", "kind": "Bucket" },
        ]),
    );
    let refs = RouteRefs::of_http(&r, CONTROLLER);
    assert_eq!(
        refs.gateways,
        BTreeSet::from([key("infra", "edge"), key("app", "local")])
    );
    assert_eq!(
        refs.services,
        BTreeSet::from([
            ("app".to_string(), "web".to_string()),
            ("shared".to_string(), "other".to_string())
        ])
    );
}

#[test]
fn a_parent_left_still_reaches_its_gateway_through_our_status() {
    let mut r = route("app", json!([]), json!([]));
    r.status = serde_json::from_value(json!({
        "parents": [
            { "controllerName": CONTROLLER, "parentRef": { "name": "old" }, "conditions": [] },
            { "controllerName": "example.com/other", "parentRef": { "name": "theirs" }, "conditions": [] },
        ]
    }))
    .unwrap();
    let refs = RouteRefs::of_http(&r, CONTROLLER);
    assert_eq!(refs.gateways, BTreeSet::from([key("app", "old")]));
}

#[test]
fn changes_reach_only_the_gateways_concerned() {
    let gateways = vec![
        Arc::new(gateway("infra", "a", "sluice", None)),
        Arc::new(gateway(
            "infra",
            "b",
            "other",
            Some(json!({ "name": "cert" })),
        )),
        Arc::new(gateway(
            "infra",
            "c",
            "sluice",
            Some(json!({ "name": "shared-cert", "namespace": "certs" })),
        )),
    ];
    assert_eq!(
        of_class("sluice", &gateways),
        [key("infra", "a"), key("infra", "c")]
    );
    assert_eq!(of_secret("infra", "cert", &gateways), [key("infra", "b")]);
    assert!(of_secret("other", "cert", &gateways).is_empty());
    let routes = vec![
        RouteRefs::of_http(
            &route(
                "app",
                json!([{ "name": "a", "namespace": "infra" }]),
                json!([{ "name": "web", "port": 80 }]),
            ),
            CONTROLLER,
        ),
        RouteRefs::of_http(
            &route(
                "tools",
                json!([{ "name": "c", "namespace": "infra" }]),
                json!([{ "name": "web", "port": 80 }]),
            ),
            CONTROLLER,
        ),
    ];
    assert_eq!(
        of_service("app", "web", &routes),
        BTreeSet::from([key("infra", "a")])
    );
    assert!(of_service("app", "unrelated", &routes).is_empty());
    assert_eq!(
        of_namespace("tools", &routes),
        BTreeSet::from([key("infra", "c")])
    );
    assert_eq!(
        of_grant("certs", &gateways, &routes),
        BTreeSet::from([key("infra", "c")])
    );
    assert_eq!(
        of_grant("app", &gateways, &routes),
        BTreeSet::from([key("infra", "a")])
    );
    let label = crate::desired::gateway::gateway_label(&key("infra", "c"));
    assert_eq!(of_fleet_label(&label, &gateways), [key("infra", "c")]);
}

#[test]
fn a_params_change_reaches_the_gateways_built_from_them() {
    let with_ref = |name: &str, params: &str| -> Gateway {
        let mut g = gateway("infra", name, "sluice", None);
        g.spec.infrastructure = serde_json::from_value(json!({
            "parametersRef": { "group": "sluice.dev", "kind": "IngressClassParams", "name": params }
        }))
        .unwrap();
        g
    };
    let gateways = vec![
        Arc::new(gateway("infra", "plain", "sluice", None)),
        Arc::new(with_ref("own", "big")),
        Arc::new(with_ref("classy", "small")),
        Arc::new(gateway("infra", "elsewhere", "other", None)),
    ];
    let classes: Vec<Arc<GatewayClass>> = vec![Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": { "name": "sluice" },
            "spec": {
                "controllerName": CONTROLLER,
                "parametersRef": { "group": "sluice.dev", "kind": "IngressClassParams", "name": "small" }
            }
        }))
        .unwrap(),
    )];
    assert_eq!(of_params("big", &gateways, &classes), [key("infra", "own")]);
    assert_eq!(
        of_params("small", &gateways, &classes),
        [key("infra", "plain"), key("infra", "classy")]
    );
    assert!(of_params("none", &gateways, &classes).is_empty());
}
