use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use sluice_crds::gateway::attach::listeners::gateway_state;
use sluice_crds::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use sluice_crds::gateway::attach::{CertificateState, GatewayState, ReferenceGrants, ServicePort};
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::httproutes::HttpRouteStatusParents;

use super::*;

const CONTROLLER: &str = "sluice.dev/gateway-controller";

fn state(listeners: Value) -> GatewayState {
    let gateway: Gateway = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "namespace": "infra", "name": "edge", "generation": 1 },
        "spec": { "gatewayClassName": "sluice", "listeners": listeners }
    }))
    .unwrap();
    let secrets = |_: &str, _: &str| CertificateState::Valid;
    gateway_state(
        &gateway,
        SUPPORTED_PROTOCOLS,
        &ReferenceGrants::default(),
        &secrets,
    )
    .unwrap()
}

fn now() -> Time {
    Time(Timestamp::from_second(1_700_000_000).unwrap())
}

fn service(value: Value) -> Service {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_port_that_collides_is_unavailable_and_not_served() {
    let mut s = state(json!([
        { "name": "http", "port": 80, "protocol": "HTTP" },
        { "name": "alt", "port": 8080, "protocol": "HTTP" },
        { "name": "admin", "port": 9090, "protocol": "HTTP" },
        { "name": "tcp", "port": 7000, "protocol": "TCP" },
    ]));
    let ports = serve_ports(&mut s);
    let shown: Vec<String> = ports.iter().map(ToString::to_string).collect();
    // Each listener port is served on itself; only the proxy's admin port is taken.
    assert_eq!(shown, ["80=80/http", "8080=8080/http"]);
    let reason = |name: &str| {
        s.listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| (l.accepted.status, l.accepted.reason))
            .unwrap()
    };
    assert!(s.listeners[0].is_served());
    assert!(s.listeners[1].is_served());
    assert_eq!(
        reason("admin"),
        (
            sluice_crds::gateway::attach::Status::False,
            "PortUnavailable"
        )
    );
    // A listener Sluice refused for another reason keeps it.
    assert_eq!(reason("tcp").1, "UnsupportedProtocol");
}

#[test]
fn addresses_are_where_the_listener_ports_answer() {
    let cluster_ip = service(json!({
        "spec": { "type": "NodePort", "clusterIP": "10.96.0.7" },
    }));
    assert_eq!(
        serde_json::to_value(addresses(Some(&cluster_ip))).unwrap(),
        json!([{ "type": "IPAddress", "value": "10.96.0.7" }])
    );
    let lb = service(json!({
        "spec": { "type": "LoadBalancer", "clusterIP": "10.96.0.8" },
        "status": { "loadBalancer": { "ingress": [{ "ip": "203.0.113.4" }, { "hostname": "lb.example.com" }] } }
    }));
    assert_eq!(
        serde_json::to_value(addresses(Some(&lb))).unwrap(),
        json!([
            { "type": "IPAddress", "value": "203.0.113.4" },
            { "type": "Hostname", "value": "lb.example.com" },
        ])
    );
    let pending_lb =
        service(json!({ "spec": { "type": "LoadBalancer", "clusterIP": "10.96.0.9" } }));
    assert!(addresses(Some(&pending_lb)).is_empty());
    assert!(addresses(None).is_empty());
}

#[test]
fn ready_when_every_replica_is_available_and_there_is_an_address() {
    let deployment = |wanted: i32, available: i32| -> Deployment {
        serde_json::from_value(json!({
            "spec": { "replicas": wanted, "selector": {}, "template": {} },
            "status": { "availableReplicas": available }
        }))
        .unwrap()
    };
    let address = vec![GatewayStatusAddresses {
        r#type: Some("IPAddress".into()),
        value: "10.96.0.7".into(),
    }];
    assert_eq!(
        readiness(Some(&deployment(2, 2)), &address),
        Readiness::Ready
    );
    assert!(matches!(
        readiness(Some(&deployment(2, 1)), &address),
        Readiness::Pending(why) if why == "1 of 2 proxy replicas are available"
    ));
    assert!(matches!(
        readiness(Some(&deployment(1, 1)), &[]),
        Readiness::Pending(_)
    ));
    assert!(matches!(readiness(None, &address), Readiness::Pending(_)));
}

#[test]
fn a_gateway_status_computed_again_is_the_same() {
    let s = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let pending = Readiness::Pending("0 of 1 proxy replicas are available".into());
    let first = gateway_status(
        &s,
        &AttachedRoutes::default(),
        &pending,
        Vec::new(),
        &Verdict::default(),
        None,
        &now(),
    );
    let later = Time(Timestamp::from_second(1_700_000_600).unwrap());
    let again = gateway_status(
        &s,
        &AttachedRoutes::default(),
        &pending,
        Vec::new(),
        &Verdict::default(),
        Some(&first),
        &later,
    );
    assert_eq!(first, again, "nothing moved: nothing to write");
    let conditions = first.conditions.unwrap();
    assert_eq!(conditions[0].type_, "Accepted");
    assert_eq!(conditions[0].status, "True");
    assert_eq!(conditions[1].type_, "Programmed");
    assert_eq!(conditions[1].reason, "Pending");
    assert!(first.addresses.is_none());
}

#[test]
fn a_refused_gateway_is_neither_accepted_nor_programmed() {
    use sluice_crds::gateway::attach::Outcome;
    let s = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let verdict = Verdict {
        refused: Some(Outcome::no(
            "InvalidParameters",
            "no such IngressClassParams",
        )),
        // A refusal says more than a missing address.
        unprogrammed: Some(Outcome::no("AddressNotUsable", "10.0.0.1")),
    };
    let status = gateway_status(
        &s,
        &AttachedRoutes::default(),
        &Readiness::Ready,
        Vec::new(),
        &verdict,
        None,
        &now(),
    );
    let conditions = status.conditions.unwrap();
    assert_eq!(conditions.len(), 2);
    assert_eq!(
        (conditions[0].type_.as_str(), conditions[0].status.as_str()),
        ("Accepted", "False")
    );
    assert_eq!(conditions[0].reason, "InvalidParameters");
    assert_eq!(conditions[0].observed_generation, Some(1));
    assert_eq!(
        (conditions[1].type_.as_str(), conditions[1].status.as_str()),
        ("Programmed", "False")
    );
    assert_eq!(conditions[1].reason, "Invalid");
    assert!(conditions[1].message.contains("no such IngressClassParams"));
}

#[test]
fn a_gateway_without_its_address_is_accepted_but_not_programmed() {
    use sluice_crds::gateway::attach::Outcome;
    let s = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let verdict = Verdict {
        refused: None,
        unprogrammed: Some(Outcome::no("AddressNotUsable", "10.0.0.1")),
    };
    let status = gateway_status(
        &s,
        &AttachedRoutes::default(),
        &Readiness::Ready,
        Vec::new(),
        &verdict,
        None,
        &now(),
    );
    let conditions = status.conditions.unwrap();
    assert_eq!(conditions[0].reason, "Accepted");
    assert_eq!(conditions[0].status, "True");
    assert_eq!(conditions[1].reason, "AddressNotUsable");
    assert_eq!(conditions[1].status, "False");
}

#[test]
fn route_statuses_name_missing_backends_and_settle() {
    let s = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let gateways = BTreeMap::from([(s.key.clone(), s)]);
    let route: HttpRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "namespace": "infra", "name": "r", "generation": 3 },
        "spec": {
            "parentRefs": [{ "name": "edge" }],
            "rules": [{ "backendRefs": [{ "name": "gone", "port": 80 }] }]
        }
    }))
    .unwrap();
    let services = |_: &str, _: &str, _: i32| ServicePort::NoService;
    let judged = judge_http(&route, &ReferenceGrants::default(), &services).unwrap();
    let attachments = attach(&judged, &gateways, &BTreeMap::new());
    let parents: Vec<HttpRouteStatusParents> =
        route_parents(&judged, &attachments, &[], CONTROLLER, &now()).unwrap();
    assert_eq!(parents.len(), 1);
    let c = &parents[0].conditions;
    assert_eq!(
        (c[0].type_.as_str(), c[0].status.as_str()),
        ("Accepted", "True")
    );
    assert_eq!(
        (
            c[1].type_.as_str(),
            c[1].status.as_str(),
            c[1].reason.as_str()
        ),
        ("ResolvedRefs", "False", "BackendNotFound")
    );
    assert_eq!(c[0].observed_generation, Some(3));
    assert!(
        route_parents(&judged, &attachments, &parents, CONTROLLER, &now()).is_none(),
        "written once, then settled"
    );
}

#[test]
fn a_mirror_to_a_missing_service_is_an_unresolved_reference() {
    let route: HttpRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "namespace": "infra", "name": "r" },
        "spec": {
            "parentRefs": [{ "name": "edge" }],
            "rules": [{
                "filters": [{ "type": "RequestMirror", "requestMirror": {
                    "backendRef": { "name": "gone", "port": 80 } } }],
                "backendRefs": [{ "name": "here", "port": 80 }]
            }]
        }
    }))
    .unwrap();
    let services = |_: &str, name: &str, _: i32| match name {
        "here" => ServicePort::Found { app_protocol: None },
        _ => ServicePort::NoService,
    };
    let judged = judge_http(&route, &ReferenceGrants::default(), &services).unwrap();
    assert_eq!(judged.resolved_refs.reason, "BackendNotFound");
    assert!(!judged.resolved_refs.is_true());
}

#[test]
fn a_grpc_route_is_judged_like_an_http_route() {
    let s = state(json!([{ "name": "http", "port": 80, "protocol": "HTTP" }]));
    let gateways = BTreeMap::from([(s.key.clone(), s)]);
    let route: GrpcRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": { "namespace": "infra", "name": "g" },
        "spec": {
            "parentRefs": [{ "name": "edge", "sectionName": "https" }],
            "rules": [{ "backendRefs": [{ "name": "echo", "port": 50051 }] }]
        }
    }))
    .unwrap();
    let services = |_: &str, _: &str, _: i32| ServicePort::Found {
        app_protocol: Some("kubernetes.io/h2c".into()),
    };
    let judged = judge_grpc(&route, &ReferenceGrants::default(), &services).unwrap();
    assert!(judged.resolved_refs.is_true(), "{:?}", judged.resolved_refs);
    let attachments = attach(&judged, &gateways, &BTreeMap::new());
    assert_eq!(attachments.parents[0].accepted.reason, "NoMatchingParent");
}
