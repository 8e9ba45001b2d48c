use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::json;
use sluice_crds::names::FIELD_MANAGER;
use sluice_crds::params::IngressClassParams;
use sluice_webhook::index::Index;

use super::addresses::*;
use super::conflicts::*;
use super::triggers;

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

/// The fleet Service of class sluice, of `type_`, with `status`.
fn fleet_service(type_: &str, status: serde_json::Value) -> Arc<Service> {
    arc(json!({
        "metadata": { "name": "sluice-proxy-sluice", "namespace": "sluice-system" },
        "spec": { "type": type_, "clusterIP": "10.96.0.10" },
        "status": status
    }))
}

fn sources<'a>(
    classes: &'a [Arc<IngressClass>],
    params: &'a [Arc<IngressClassParams>],
    services: &'a [Arc<Service>],
    nodes: &'a [Arc<Node>],
) -> Sources<'a> {
    Sources {
        classes,
        params,
        services,
        nodes,
    }
}

fn with_status(ingress: &Ingress, ips: &[&str], ours: bool) -> Ingress {
    let mut ingress = ingress.clone();
    let entries: Vec<_> = ips.iter().map(|ip| json!({ "ip": ip })).collect();
    ingress.status =
        Some(serde_json::from_value(json!({ "loadBalancer": { "ingress": entries } })).unwrap());
    if ours {
        ingress.metadata.managed_fields = Some(vec![
            serde_json::from_value(json!({
                "manager": FIELD_MANAGER, "operation": "Apply", "subresource": "status"
            }))
            .unwrap(),
        ]);
    }
    ingress
}

#[test]
fn nodes_external_ip_else_internal_ip() {
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
    let services = [fleet_service("NodePort", json!({}))];
    assert_eq!(
        class_addresses(&sources(&classes, &[], &services, &nodes), "sluice"),
        vec![
            Address::Ip("10.0.0.2".into()),
            Address::Ip("203.0.113.1".into())
        ]
    );
}

#[test]
fn only_addresses_that_serve_are_published() {
    let classes = [class("sluice", None)];
    let nodes = [node("n1", &[("InternalIP", "10.0.0.1")])];
    let published = |service: Arc<Service>| {
        class_addresses(&sources(&classes, &[], &[service], &nodes), "sluice")
    };
    // A load balancer that has no address yet: nothing, not the nodes'.
    assert_eq!(published(fleet_service("LoadBalancer", json!({}))), vec![]);
    // A ClusterIP Service: its cluster IP, not the nodes'.
    assert_eq!(
        published(fleet_service("ClusterIP", json!({}))),
        vec![Address::Ip("10.96.0.10".into())]
    );
    assert_eq!(
        published(fleet_service("NodePort", json!({}))),
        vec![Address::Ip("10.0.0.1".into())]
    );
    // No Service yet: nothing reaches the fleet.
    assert_eq!(
        class_addresses(&sources(&classes, &[], &[], &nodes), "sluice"),
        vec![]
    );
}

#[test]
fn host_ports_publish_the_nodes() {
    let classes = [class("sluice", Some("edge"))];
    let params: [Arc<IngressClassParams>; 1] = [arc(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "IngressClassParams",
        "metadata": { "name": "edge" },
        "spec": { "kind": "DaemonSet", "hostPorts": { "http": 80, "https": 443 }, "service": { "type": "ClusterIP" } }
    }))];
    let nodes = [node("n1", &[("InternalIP", "10.0.0.1")])];
    let services = [fleet_service("ClusterIP", json!({}))];
    assert_eq!(
        class_addresses(&sources(&classes, &params, &services, &nodes), "sluice"),
        vec![Address::Ip("10.0.0.1".into())]
    );
}

#[test]
fn load_balancer_addresses_then_params_override() {
    let services = [fleet_service(
        "LoadBalancer",
        json!({ "loadBalancer": { "ingress": [{ "hostname": "lb.example.net" }] } }),
    )];
    let nodes = [node("n1", &[("InternalIP", "10.0.0.1")])];
    let classes = [class("sluice", None)];
    assert_eq!(
        class_addresses(&sources(&classes, &[], &services, &nodes), "sluice"),
        vec![Address::Hostname("lb.example.net".into())]
    );

    let classes = [class("sluice", Some("edge"))];
    let params: [Arc<IngressClassParams>; 1] = [arc(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "IngressClassParams",
        "metadata": { "name": "edge" },
        "spec": { "addresses": ["198.51.100.7", "ingress.example.com"] }
    }))];
    assert_eq!(
        class_addresses(&sources(&classes, &params, &services, &nodes), "sluice"),
        vec![
            Address::Ip("198.51.100.7".into()),
            Address::Hostname("ingress.example.com".into())
        ]
    );
}

#[test]
fn writes_only_what_the_live_object_lacks() {
    let base = ingress(
        "shop",
        "a",
        "sluice",
        "2025-01-01T00:00:00Z",
        "a.example.com",
        "/",
    );
    let wanted = vec![
        Address::Ip("10.0.0.1".into()),
        Address::Ip("10.0.0.2".into()),
    ];
    // The same addresses in another order: nothing to write.
    let live = with_status(&base, &["10.0.0.2", "10.0.0.1"], true);
    assert_eq!(
        status_change(&live, Some(wanted.clone()), FIELD_MANAGER),
        None
    );
    // A missing or different address: one write of the whole list.
    let live = with_status(&base, &["10.0.0.1"], true);
    assert_eq!(
        status_change(&live, Some(wanted.clone()), FIELD_MANAGER),
        Some(StatusChange::Publish(wanted))
    );
    // No longer ours: what Sluice published is taken back, once.
    assert_eq!(
        status_change(&live, None, FIELD_MANAGER),
        Some(StatusChange::Release)
    );
    assert_eq!(
        status_change(&with_status(&base, &[], true), None, FIELD_MANAGER),
        None
    );
    // Never ours: left alone, even if someone else wrote an address.
    assert_eq!(
        status_change(
            &with_status(&base, &["192.0.2.1"], false),
            None,
            FIELD_MANAGER
        ),
        None
    );
    // Published by another installation of Sluice (another controller value): its own.
    let other = sluice_crds::names::status_field_manager("sluice.dev/internal");
    assert_ne!(other, FIELD_MANAGER);
    assert_eq!(status_change(&live, None, &other), None);
}

#[test]
fn releasing_applies_no_status_field() {
    let body = status_body(&StatusChange::Release);
    assert!(body.get("status").is_none());
    let body = status_body(&StatusChange::Publish(vec![Address::Hostname(
        "lb.example.net".into(),
    )]));
    assert_eq!(
        body["status"],
        json!({ "loadBalancer": { "ingress": [{ "hostname": "lb.example.net" }] } })
    );
}

fn indexed(ingresses: &[Arc<Ingress>]) -> Index {
    let mut index = Index::default();
    index.set_classes([class("sluice", None).as_ref()]);
    for i in ingresses {
        index.apply(i.clone());
    }
    index
}

#[test]
fn the_newer_of_two_claims_loses_whichever_is_reconciled() {
    let new = ingress(
        "shop",
        "new",
        "sluice",
        "2025-02-01T00:00:00Z",
        "a.example.com",
        "/api",
    );
    let old = ingress(
        "shop",
        "old",
        "sluice",
        "2025-01-01T00:00:00Z",
        "a.example.com",
        "/api/",
    );
    let other = ingress(
        "shop",
        "other",
        "nginx",
        "2024-01-01T00:00:00Z",
        "a.example.com",
        "/api",
    );
    let index = indexed(&[new.clone(), old.clone(), other]);
    let expected = vec![Lost {
        loser: ("shop".into(), "new".into()),
        key: "host a.example.com path /api (Prefix)".into(),
        winner: "shop/old".into(),
    }];
    assert_eq!(losses_around(&index, "sluice", &new), expected);
    assert_eq!(losses_around(&index, "sluice", &old), expected);
}

#[test]
fn a_loss_is_announced_once_until_it_is_resolved() {
    let new = ("shop".to_string(), "new".to_string());
    let old = ("shop".to_string(), "old".to_string());
    let lost = Lost {
        loser: new.clone(),
        key: "host a.example.com path /api (Prefix)".into(),
        winner: "shop/old".into(),
    };
    let mut announced = Announced::default();
    // Found while reconciling the winner, then again for the loser: one announcement.
    assert_eq!(
        announced.fresh(&old, vec![lost.clone()]),
        vec![lost.clone()]
    );
    assert!(announced.fresh(&new, vec![lost.clone()]).is_empty());
    assert!(announced.fresh(&old, vec![lost.clone()]).is_empty());
    // Resolved (the loser's rule changed), then back: announced again.
    assert!(announced.fresh(&new, Vec::new()).is_empty());
    assert_eq!(announced.fresh(&new, vec![lost.clone()]), vec![lost]);
}

#[test]
fn triggers_name_only_the_ingresses_a_change_concerns() {
    let named = ingress(
        "shop",
        "a",
        "sluice",
        "2025-01-01T00:00:00Z",
        "a.example.com",
        "/",
    );
    let other = ingress(
        "shop",
        "b",
        "nginx",
        "2025-01-01T00:00:00Z",
        "b.example.com",
        "/",
    );
    let mut classless = (*named).clone();
    classless.metadata.name = Some("c".into());
    classless.spec.as_mut().unwrap().ingress_class_name = None;
    let all = [named, other, Arc::new(classless)];
    let names: Vec<String> = triggers::ingresses_naming(&all, "sluice")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a", "c"]);

    let classes = [class("sluice", Some("edge")), class("internal", None)];
    assert_eq!(triggers::classes_using(&classes, "edge"), ["sluice"]);
    assert_eq!(
        triggers::class_of_service(&classes, "sluice-proxy-internal"),
        Some("internal")
    );
    assert_eq!(triggers::class_of_service(&classes, "unrelated"), None);
}

#[test]
fn a_node_heartbeat_is_not_a_change() {
    let before = node("n1", &[("InternalIP", "10.0.0.1")]);
    let mut after = (*before).clone();
    after.status.as_mut().unwrap().conditions = Some(vec![
        serde_json::from_value(json!({ "type": "Ready", "status": "True" })).unwrap(),
    ]);
    after.metadata.resource_version = Some("2".into());
    assert_eq!(
        triggers::node_summary(&before),
        triggers::node_summary(&after)
    );
    let moved = node("n1", &[("InternalIP", "10.0.0.9")]);
    assert_ne!(
        triggers::node_summary(&before).0,
        triggers::node_summary(&moved).0
    );
}
