//! Status built from judged state: listener and Gateway conditions, route parent entries,
//! and that building it again from the same state writes nothing new.

use super::*;
use crate::gateway::attach::ReferenceGrants;
use crate::gateway::attach::certificates::CertificateState;
use crate::gateway::attach::listeners::{GatewayKey, gateway_state};
use crate::gateway::attach::parents::attach;
use crate::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use crate::gateway::attach::route::Route;
use crate::gateway::class::CONTROLLER_NAME;
use crate::gateway_api::gateways::Gateway;
use crate::gateway_api::httproutes::HttpRoute;
use serde_json::json;
use std::collections::BTreeMap;

fn at(s: &str) -> Time {
    Time(s.parse().unwrap())
}

fn state(listeners: serde_json::Value) -> GatewayState {
    let gw: Gateway = serde_json::from_value(json!({
        "metadata": { "name": "gw", "namespace": "infra", "generation": 7 },
        "spec": { "gatewayClassName": "sluice", "listeners": listeners }
    }))
    .unwrap();
    let secrets = |_: &str, name: &str| {
        if name == "cert" {
            CertificateState::Valid
        } else {
            CertificateState::Missing
        }
    };
    gateway_state(
        &gw,
        SUPPORTED_PROTOCOLS,
        &ReferenceGrants::default(),
        &secrets,
    )
    .unwrap()
}

fn route(value: serde_json::Value) -> Route {
    let r: HttpRoute = serde_json::from_value(value).unwrap();
    Route::from_http(&r).unwrap()
}

/// A condition as (type, status, reason).
fn brief(c: &Condition) -> (&str, &str, &str) {
    (c.type_.as_str(), c.status.as_str(), c.reason.as_str())
}

#[test]
fn listener_statuses_of_a_mixed_gateway() {
    let gw = state(json!([
        { "name": "http", "port": 80, "protocol": "HTTP" },
        { "name": "invalid", "port": 1111, "protocol": "INVALID" },
        { "name": "a", "port": 8080, "protocol": "HTTP", "hostname": "a.com" },
        { "name": "b", "port": 8080, "protocol": "HTTP", "hostname": "a.com" },
        { "name": "https", "port": 443, "protocol": "HTTPS",
          "tls": { "certificateRefs": [{ "name": "missing" }] } },
    ]));
    let gateways = BTreeMap::from([(gw.key.clone(), gw.clone())]);
    let r = route(json!({
        "metadata": { "name": "r", "namespace": "infra" },
        "spec": { "parentRefs": [{ "name": "gw" }] }
    }));
    let attached = AttachedRoutes::new([&attach(&r, &gateways, &BTreeMap::new())]);
    let got = listener_statuses(
        &gw,
        &attached,
        &Readiness::Ready,
        None,
        &at("2025-01-01T00:00:00Z"),
    );

    let names: Vec<&str> = got.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["http", "invalid", "a", "b", "https"]);
    // The route attaches to every listener that takes HTTPRoutes, served or not.
    let counts: Vec<i32> = got.iter().map(|l| l.attached_routes).collect();
    assert_eq!(counts, [1, 0, 1, 1, 1]);

    let http: Vec<_> = got[0].conditions.iter().map(brief).collect();
    assert_eq!(
        http,
        [
            ("Accepted", "True", "Accepted"),
            ("Programmed", "True", "Programmed"),
            ("ResolvedRefs", "True", "ResolvedRefs"),
            ("Conflicted", "False", "NoConflicts"),
        ]
    );
    let kinds: Vec<(Option<&str>, &str)> = got[0]
        .supported_kinds
        .iter()
        .flatten()
        .map(|k| (k.group.as_deref(), k.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("gateway.networking.k8s.io"), "HTTPRoute"),
            (Some("gateway.networking.k8s.io"), "GRPCRoute")
        ]
    );

    // GatewayInvalidListenersUnsupportedProtocol: no kinds, not accepted, not programmed.
    assert_eq!(got[1].supported_kinds.as_deref(), Some(&[][..]));
    assert_eq!(
        brief(&got[1].conditions[0]),
        ("Accepted", "False", "UnsupportedProtocol")
    );
    assert_eq!(
        brief(&got[1].conditions[1]),
        ("Programmed", "False", "Invalid")
    );

    // Conflicted listeners: Accepted, Programmed and Conflicted all carry the conflict.
    for l in &got[2..4] {
        let c: Vec<_> = l.conditions.iter().map(brief).collect();
        assert_eq!(c[0], ("Accepted", "False", "HostnameConflict"));
        assert_eq!(c[1], ("Programmed", "False", "HostnameConflict"));
        assert_eq!(c[3], ("Conflicted", "True", "HostnameConflict"));
    }

    // GatewayWithAttachedRoutes (unresolved): not programmed, still counted.
    let c: Vec<_> = got[4].conditions.iter().map(brief).collect();
    assert_eq!(c[1], ("Programmed", "False", "Invalid"));
    assert_eq!(c[2], ("ResolvedRefs", "False", "InvalidCertificateRef"));

    assert!(
        got.iter()
            .flat_map(|l| &l.conditions)
            .all(|c| c.observed_generation == Some(7))
    );
}

#[test]
fn a_fleet_not_ready_leaves_listeners_and_gateway_pending() {
    let gw = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let pending = Readiness::Pending("no proxy is ready".into());
    let p = listener_programmed(&gw.listeners[0], &pending);
    assert_eq!((p.is_true(), p.reason), (false, "Pending"));
    let c = gateway_conditions(&gw, &pending, &[], &at("2025-01-01T00:00:00Z"));
    assert_eq!(brief(&c[1]), ("Programmed", "False", "Pending"));
    assert_eq!(c[1].message, "no proxy is ready");
}

#[test]
fn gateway_accepted_follows_its_listeners() {
    let http = json!({ "name": "http", "port": 80, "protocol": "HTTP" });
    let bad = json!({ "name": "invalid", "port": 1111, "protocol": "INVALID" });
    // (listeners, Accepted, Programmed)
    let cases = [
        (
            json!([http.clone()]),
            ("Accepted", "True", "Accepted"),
            ("Programmed", "True", "Programmed"),
        ),
        (
            json!([http, bad.clone()]),
            ("Accepted", "True", "ListenersNotValid"),
            ("Programmed", "True", "Programmed"),
        ),
        (
            json!([bad]),
            ("Accepted", "False", "ListenersNotValid"),
            ("Programmed", "False", "Invalid"),
        ),
    ];
    for (listeners, accepted, programmed) in cases {
        let gw = state(listeners.clone());
        let c = gateway_conditions(&gw, &Readiness::Ready, &[], &at("2025-01-01T00:00:00Z"));
        assert_eq!(brief(&c[0]), accepted, "{listeners}");
        assert_eq!(brief(&c[1]), programmed, "{listeners}");
    }
}

#[test]
fn recomputing_status_changes_nothing() {
    let gw = state(json!([
        { "name": "http", "port": 80, "protocol": "HTTP" },
        { "name": "a", "port": 443, "protocol": "HTTPS", "hostname": "a.example.com",
          "tls": { "certificateRefs": [{ "name": "cert" }] } },
        { "name": "b", "port": 443, "protocol": "HTTPS", "hostname": "*.example.com",
          "tls": { "certificateRefs": [{ "name": "cert" }] } },
    ]));
    let attached = AttachedRoutes::default();
    let first = GatewayStatus {
        conditions: Some(gateway_conditions(
            &gw,
            &Readiness::Ready,
            &[],
            &at("2025-01-01T00:00:00Z"),
        )),
        listeners: Some(listener_statuses(
            &gw,
            &attached,
            &Readiness::Ready,
            None,
            &at("2025-01-01T00:00:00Z"),
        )),
        ..GatewayStatus::default()
    };
    // OverlappingTLSConfig is present on the overlapping pair only.
    let overlapping: Vec<bool> = first
        .listeners
        .iter()
        .flatten()
        .map(|l| {
            l.conditions
                .iter()
                .any(|c| c.type_ == "OverlappingTLSConfig")
        })
        .collect();
    assert_eq!(overlapping, [false, true, true]);
    let later = at("2025-03-01T00:00:00Z");
    let again = GatewayStatus {
        conditions: Some(gateway_conditions(
            &gw,
            &Readiness::Ready,
            first.conditions.as_deref().unwrap_or_default(),
            &later,
        )),
        listeners: Some(listener_statuses(
            &gw,
            &attached,
            &Readiness::Ready,
            Some(&first),
            &later,
        )),
        ..GatewayStatus::default()
    };
    assert_eq!(again, first);

    // The fleet goes away: only Programmed moves.
    let pending = Readiness::Pending("no proxy".into());
    let moved = listener_statuses(&gw, &attached, &pending, Some(&first), &later);
    for (l, before) in moved.iter().zip(first.listeners.iter().flatten()) {
        for (c, b) in l.conditions.iter().zip(&before.conditions) {
            let same_time = c.last_transition_time == b.last_transition_time;
            assert_eq!(same_time, c.type_ != "Programmed", "{} {}", l.name, c.type_);
        }
    }
}

#[test]
fn route_parent_statuses_replace_only_ours() {
    let gw = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let gateways = BTreeMap::from([(gw.key.clone(), gw.clone())]);
    let r = route(json!({
        "metadata": { "name": "r", "namespace": "web", "generation": 3 },
        "spec": { "parentRefs": [
            { "name": "gw", "namespace": "infra" },
            { "name": "theirs", "namespace": "infra" }
        ] }
    }));
    let attachments = attach(&r, &gateways, &BTreeMap::new());
    let resolved = Outcome::yes("ResolvedRefs", "All references are resolved");
    let theirs: HttpRouteStatusParents = serde_json::from_value(json!({
        "controllerName": "example.com/other",
        "parentRef": { "name": "theirs", "namespace": "infra" },
        "conditions": []
    }))
    .unwrap();
    // An entry of ours for a parent the route no longer names.
    let stale: HttpRouteStatusParents = serde_json::from_value(json!({
        "controllerName": CONTROLLER_NAME,
        "parentRef": { "name": "gone", "namespace": "infra" },
        "conditions": []
    }))
    .unwrap();
    let existing = vec![theirs.clone(), stale];
    let t0 = at("2025-01-01T00:00:00Z");
    let got = route_parent_statuses(
        &attachments,
        &resolved,
        r.generation,
        &existing,
        CONTROLLER_NAME,
        &t0,
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], theirs);
    let ours = &got[1];
    assert_eq!(ours.controller_name, CONTROLLER_NAME);
    assert_eq!(ours.parent_ref.name, "gw");
    assert_eq!(ours.parent_ref.namespace.as_deref(), Some("infra"));
    let c: Vec<_> = ours.conditions.iter().map(brief).collect();
    // The route is in `web`, the listener allows only `infra`.
    assert_eq!(
        c,
        [
            ("Accepted", "False", "NotAllowedByListeners"),
            ("ResolvedRefs", "True", "ResolvedRefs")
        ]
    );
    assert!(
        ours.conditions
            .iter()
            .all(|c| c.observed_generation == Some(3))
    );

    // Again, later, from what was written: nothing changes.
    let again = route_parent_statuses(
        &attachments,
        &resolved,
        r.generation,
        &got,
        CONTROLLER_NAME,
        &at("2025-02-01T00:00:00Z"),
    );
    assert_eq!(again, got);

    // The same, for a GRPCRoute's status type.
    let grpc: Vec<GrpcRouteStatusParents> = route_parent_statuses(
        &attachments,
        &resolved,
        r.generation,
        &[],
        CONTROLLER_NAME,
        &t0,
    );
    assert_eq!(grpc.len(), 1);
    assert_eq!(grpc[0].parent_ref.name, "gw");
}

#[test]
fn route_parent_statuses_are_capped() {
    let gw = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let key = GatewayKey {
        namespace: "infra".into(),
        name: "gw".into(),
    };
    let gateways = BTreeMap::from([(key, gw)]);
    let r = route(json!({
        "metadata": { "name": "r", "namespace": "infra" },
        "spec": { "parentRefs": [{ "name": "gw" }] }
    }));
    let attachments = attach(&r, &gateways, &BTreeMap::new());
    let other = |i: usize| -> HttpRouteStatusParents {
        serde_json::from_value(json!({
            "controllerName": "example.com/other",
            "parentRef": { "name": format!("gw-{i}") },
            "conditions": []
        }))
        .unwrap()
    };
    let existing: Vec<_> = (0..40).map(other).collect();
    let resolved = Outcome::yes("ResolvedRefs", "");
    let got = route_parent_statuses(
        &attachments,
        &resolved,
        None,
        &existing,
        CONTROLLER_NAME,
        &at("2025-01-01T00:00:00Z"),
    );
    assert_eq!(got.len(), MAX_ROUTE_PARENTS);
}
