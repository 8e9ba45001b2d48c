use serde_json::json;

use super::*;

fn arc<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap())
}

fn class(name: &str, params: Option<&str>) -> Arc<IngressClass> {
    let mut v = json!({
        "metadata": { "name": name },
        "spec": { "controller": "sluice.dev/ingress-controller" }
    });
    if let Some(p) = params {
        v["spec"]["parameters"] = json!({ "apiGroup": "sluice.dev", "kind": "IngressClassParams", "name": p, "scope": "Cluster" });
    }
    arc(v)
}

fn ingress(
    ns: &str,
    name: &str,
    class: &str,
    created: &str,
    host: &str,
    path: &str,
) -> Arc<Ingress> {
    arc(json!({
        "metadata": { "name": name, "namespace": ns, "creationTimestamp": created },
        "spec": { "ingressClassName": class, "rules": [{ "host": host, "http": { "paths": [
            { "path": path, "pathType": "Prefix", "backend": { "service": { "name": "s", "port": { "number": 80 } } } }
        ]}}]}
    }))
}

fn node(name: &str, addresses: &[(&str, &str)]) -> Arc<Node> {
    let addresses: Vec<_> = addresses
        .iter()
        .map(|(t, a)| json!({ "type": t, "address": a }))
        .collect();
    arc(json!({ "metadata": { "name": name }, "status": { "addresses": addresses } }))
}

#[test]
fn nodes_external_ip_else_internal_ip() {
    let ingresses = [ingress(
        "shop",
        "a",
        "sluice",
        "2025-01-01T00:00:00Z",
        "a.example.com",
        "/",
    )];
    let classes = [class("sluice", None)];
    let nodes = [
        node(
            "n1",
            &[
                ("InternalIP", "10.0.0.1"),
                ("ExternalIP", "203.0.113.1"),
                ("Hostname", "n1"),
            ],
        ),
        node("n2", &[("InternalIP", "10.0.0.2")]),
    ];
    let world = World {
        ingresses: &ingresses,
        classes: &classes,
        params: &[],
        services: &[],
        nodes: &nodes,
    };
    let desired = desired_addresses(&world);
    assert_eq!(
        desired[&("shop".to_string(), "a".to_string())],
        vec![
            Address::Ip("10.0.0.2".into()),
            Address::Ip("203.0.113.1".into())
        ]
    );
}

#[test]
fn load_balancer_addresses_then_params_override() {
    let ingresses = [ingress(
        "shop",
        "a",
        "sluice",
        "2025-01-01T00:00:00Z",
        "a.example.com",
        "/",
    )];
    let services: [Arc<Service>; 1] = [arc(json!({
        "metadata": { "name": "sluice-proxy-sluice", "namespace": "sluice-system" },
        "status": { "loadBalancer": { "ingress": [{ "hostname": "lb.example.net" }] } }
    }))];
    let nodes = [node("n1", &[("InternalIP", "10.0.0.1")])];
    let classes = [class("sluice", None)];
    let world = World {
        ingresses: &ingresses,
        classes: &classes,
        params: &[],
        services: &services,
        nodes: &nodes,
    };
    assert_eq!(
        desired_addresses(&world)[&("shop".to_string(), "a".to_string())],
        vec![Address::Hostname("lb.example.net".into())]
    );

    let classes = [class("sluice", Some("edge"))];
    let params: [Arc<IngressClassParams>; 1] = [arc(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "IngressClassParams",
        "metadata": { "name": "edge" },
        "spec": { "addresses": ["198.51.100.7", "ingress.example.com"] }
    }))];
    let world = World {
        ingresses: &ingresses,
        classes: &classes,
        params: &params,
        services: &services,
        nodes: &nodes,
    };
    assert_eq!(
        desired_addresses(&world)[&("shop".to_string(), "a".to_string())],
        vec![
            Address::Ip("198.51.100.7".into()),
            Address::Hostname("ingress.example.com".into())
        ]
    );
}

#[test]
fn other_classes_get_nothing() {
    let ingresses = [ingress(
        "shop",
        "a",
        "nginx",
        "2025-01-01T00:00:00Z",
        "a.example.com",
        "/",
    )];
    let classes = [class("sluice", None)];
    let world = World {
        ingresses: &ingresses,
        classes: &classes,
        params: &[],
        services: &[],
        nodes: &[],
    };
    assert!(desired_addresses(&world).is_empty());
}

#[test]
fn the_newer_of_two_claims_loses() {
    let ingresses = [
        ingress(
            "shop",
            "new",
            "sluice",
            "2025-02-01T00:00:00Z",
            "a.example.com",
            "/api",
        ),
        ingress(
            "shop",
            "old",
            "sluice",
            "2025-01-01T00:00:00Z",
            "a.example.com",
            "/api/",
        ),
        ingress(
            "shop",
            "other",
            "nginx",
            "2024-01-01T00:00:00Z",
            "a.example.com",
            "/api",
        ),
    ];
    let classes = [class("sluice", None)];
    assert_eq!(
        lost_rules(&ingresses, &classes),
        vec![Lost {
            loser: ("shop".into(), "new".into()),
            key: "host a.example.com path /api (Prefix)".into(),
            winner: "shop/old".into(),
        }]
    );
}
