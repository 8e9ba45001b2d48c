use serde_json::{Value, json};
use sluice_crds::gateway::ports::{PortProtocol, fleet_ports};
use sluice_crds::params::IngressClassParamsSpec;

use super::*;

fn key() -> GatewayKey {
    GatewayKey {
        namespace: "web".into(),
        name: "edge".into(),
    }
}

fn class() -> GatewayClass {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": { "name": "sluice", "uid": "gc-uid" },
        "spec": { "controllerName": "sluice.dev/gateway-controller" }
    }))
    .unwrap()
}

fn settings() -> FleetSettings {
    FleetSettings {
        namespace: "sluice-system".into(),
        proxy_cluster_role: "sluice-proxy".into(),
        controller: "sluice.dev/ingress-controller".into(),
    }
}

fn params(spec: Value) -> ResolvedParams {
    serde_json::from_value::<IngressClassParamsSpec>(spec)
        .unwrap()
        .resolve()
        .unwrap()
}

fn ports() -> Vec<GatewayPort> {
    fleet_ports([(443, PortProtocol::Https), (80, PortProtocol::Http)]).0
}

fn deployment(fleet: &Fleet) -> Value {
    match &fleet.workload {
        super::super::Workload::Deployment(d) => serde_json::to_value(d).unwrap(),
        super::super::Workload::DaemonSet(_) => panic!("a Gateway fleet is a Deployment"),
    }
}

fn args(fleet: &Fleet) -> Vec<String> {
    serde_json::from_value(
        deployment(fleet)["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
    )
    .unwrap()
}

#[test]
fn names_are_per_gateway_valid_and_unambiguous() {
    let name = gateway_fleet_name(&key());
    assert!(name.starts_with("sluice-gw-web-edge-"), "{name}");
    let a = GatewayKey {
        namespace: "a-b".into(),
        name: "c".into(),
    };
    let b = GatewayKey {
        namespace: "a".into(),
        name: "b-c".into(),
    };
    assert_ne!(gateway_fleet_name(&a), gateway_fleet_name(&b));
    let long = GatewayKey {
        namespace: "n".repeat(63),
        name: "g.with.dots".repeat(20),
    };
    for name in [
        gateway_fleet_name(&long),
        gateway_metrics_service_name(&long),
        gateway_fleet_name(&key()),
        gateway_metrics_service_name(&key()),
    ] {
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name}"
        );
        assert!(!name.ends_with('-'), "{name}");
    }
    assert_ne!(
        gateway_fleet_name(&long),
        gateway_metrics_service_name(&long)
    );
    assert_eq!(gateway_label(&key()), "web.edge");
    let label = gateway_label(&long);
    assert!(label.len() <= 63, "{label}");
    assert!(
        label.ends_with(|c: char| c.is_ascii_alphanumeric()),
        "{label}"
    );
}

#[test]
fn a_gateway_fleet_lives_in_the_operator_namespace_owned_by_the_class() {
    let fleet = desired_gateway(&key(), &class(), &ports(), &params(json!({})), &settings());
    let name = gateway_fleet_name(&key());
    let objects = [
        serde_json::to_value(&fleet.service_account).unwrap(),
        deployment(&fleet),
        serde_json::to_value(&fleet.service).unwrap(),
        serde_json::to_value(&fleet.metrics_service).unwrap(),
        serde_json::to_value(&fleet.pod_disruption_budget).unwrap(),
    ];
    for object in &objects {
        assert_eq!(object["metadata"]["namespace"], "sluice-system");
        assert_eq!(
            object["metadata"]["labels"]["sluice.dev/gateway"],
            "web.edge"
        );
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "sluice-operator"
        );
        let owner = &object["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "GatewayClass");
        assert_eq!(owner["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(owner["name"], "sluice");
        assert_eq!(owner["uid"], "gc-uid");
        assert_eq!(owner["controller"], true);
    }
    let crb = serde_json::to_value(&fleet.cluster_role_binding).unwrap();
    assert_eq!(crb["metadata"]["name"], name.as_str());
    assert_eq!(crb["roleRef"]["name"], "sluice-proxy");
    assert_eq!(crb["subjects"][0]["namespace"], "sluice-system");
    let d = deployment(&fleet);
    assert_eq!(d["metadata"]["name"], name.as_str());
    let selector = &d["spec"]["selector"]["matchLabels"];
    assert_eq!(selector["sluice.dev/gateway"], "web.edge");
    assert_eq!(selector["app.kubernetes.io/instance"], name.as_str());
    // Not an IngressClass's: no class label for the Ingress fleet controller to map.
    assert!(
        d["metadata"]["labels"]
            .get("sluice.dev/ingress-class")
            .is_none()
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["sluice.dev/gateway"],
        "web.edge"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["serviceAccountName"],
        name.as_str()
    );
}

#[test]
fn each_listener_port_is_a_service_port_and_a_container_port() {
    let fleet = desired_gateway(&key(), &class(), &ports(), &params(json!({})), &settings());
    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(
        svc["spec"]["ports"],
        json!([
            { "name": "p80", "port": 80, "targetPort": 80, "protocol": "TCP" },
            { "name": "p443", "port": 443, "targetPort": 443, "protocol": "TCP" },
        ]),
        "no fixed node port: Kubernetes allocates them"
    );
    let d = deployment(&fleet);
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["ports"],
        json!([
            { "name": "p80", "containerPort": 80, "protocol": "TCP" },
            { "name": "p443", "containerPort": 443, "protocol": "TCP" },
            { "name": "admin", "containerPort": 9090, "protocol": "TCP" },
        ])
    );
    // The unprivileged proxy may bind 80 and 443 in its own network namespace.
    assert_eq!(
        d["spec"]["template"]["spec"]["securityContext"]["sysctls"],
        json!([{ "name": "net.ipv4.ip_unprivileged_port_start", "value": "0" }])
    );
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    let metrics = serde_json::to_value(&fleet.metrics_service).unwrap();
    assert_eq!(metrics["spec"]["ports"][0]["port"], 9090);
    assert_eq!(metrics["metadata"]["labels"]["sluice.dev/metrics"], "true");
    // The params' Service type is kept.
    let lb = desired_gateway(
        &key(),
        &class(),
        &ports(),
        &params(json!({ "service": { "type": "LoadBalancer" } })),
        &settings(),
    );
    assert_eq!(
        serde_json::to_value(&lb.service).unwrap()["spec"]["type"],
        "LoadBalancer"
    );
}

#[test]
fn the_proxy_is_told_the_gateway_and_its_ports_not_a_class() {
    let fleet = desired_gateway(
        &key(),
        &class(),
        &ports(),
        &params(json!({
            "tracing": { "otlpEndpoint": "http://collector:4317" },
            "extraArgs": ["--h2c"],
        })),
        &settings(),
    );
    let args = args(&fleet);
    assert_eq!(
        args[..6],
        [
            "--gateway",
            "web/edge",
            "--gateway-port",
            "80=80/http",
            "--gateway-port",
            "443=443/https"
        ]
    );
    for absent in [
        "--ingress-class",
        "--http-addr",
        "--https-addr",
        "--default-cert",
    ] {
        assert!(!args.iter().any(|a| a == absent), "{absent} in {args:?}");
    }
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    assert_eq!(after("--admin-addr").as_deref(), Some("0.0.0.0:9090"));
    assert_eq!(
        after("--otlp-endpoint").as_deref(),
        Some("http://collector:4317")
    );
    assert!(after("--connect-timeout").is_some());
    assert_eq!(args.last().map(String::as_str), Some("--h2c"));
}

#[test]
fn every_rendered_flag_is_one_extra_args_may_not_repeat() {
    let resolved = params(json!({
        "tracing": { "otlpEndpoint": "http://collector:4317" },
        "metrics": { "detailedLabels": true },
        "fastPath": false,
        "client": { "proxyProtocol": true, "trustedProxies": ["10.0.0.0/8"], "realIpHeader": "forwarded" },
    }));
    for arg in gateway_args(&key(), &ports(), &resolved) {
        if arg.starts_with("--") {
            assert!(
                sluice_crds::params::OPERATOR_FLAGS.contains(&arg.as_str()),
                "{arg} is rendered but not in OPERATOR_FLAGS"
            );
        }
    }
}

#[test]
fn host_network_and_daemon_sets_are_an_ingress_class_matter() {
    let fleet = desired_gateway(
        &key(),
        &class(),
        &ports(),
        &params(json!({ "kind": "DaemonSet", "hostNetwork": true })),
        &settings(),
    );
    let d = deployment(&fleet);
    assert!(d["spec"]["template"]["spec"].get("hostNetwork").is_none());
}

fn infrastructure(value: Value) -> Infrastructure {
    let gateway: Gateway = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "namespace": "web", "name": "edge" },
        "spec": {
            "gatewayClassName": "sluice",
            "infrastructure": value,
            "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }]
        }
    }))
    .unwrap();
    Infrastructure::of(&gateway)
}

#[test]
fn infrastructure_labels_and_annotations_are_on_every_object_and_the_pods() {
    let infra = infrastructure(json!({
        "labels": { "key2": "value2" },
        "annotations": { "key1": "value1" }
    }));
    let spec = json!({
        "autoscaling": { "maxReplicas": 3 },
        "podAnnotations": { "mine": "pod" },
        "service": { "annotations": { "lb": "fast" } }
    });
    let fleet = with_infrastructure(
        desired_gateway(&key(), &class(), &ports(), &params(spec), &settings()),
        &infra,
    );
    let d = deployment(&fleet);
    let objects = [
        serde_json::to_value(&fleet.service_account).unwrap(),
        serde_json::to_value(&fleet.cluster_role_binding).unwrap(),
        d.clone(),
        d["spec"]["template"].clone(),
        serde_json::to_value(&fleet.service).unwrap(),
        serde_json::to_value(&fleet.metrics_service).unwrap(),
        serde_json::to_value(&fleet.pod_disruption_budget).unwrap(),
        serde_json::to_value(fleet.autoscaler.as_ref().unwrap()).unwrap(),
    ];
    for object in &objects {
        assert_eq!(object["metadata"]["labels"]["key2"], "value2", "{object}");
        assert_eq!(
            object["metadata"]["labels"]["sluice.dev/gateway"],
            "web.edge"
        );
        assert_eq!(
            object["metadata"]["annotations"]["key1"], "value1",
            "{object}"
        );
    }
    // The params' own annotations are kept beside them.
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["mine"],
        "pod"
    );
    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(svc["metadata"]["annotations"]["lb"], "fast");
}

#[test]
fn sluice_labels_win_over_infrastructure_labels() {
    let name = gateway_fleet_name(&key());
    let infra = infrastructure(json!({
        "labels": {
            "sluice.dev/gateway": "someone.else",
            "app.kubernetes.io/instance": "stolen",
            "app.kubernetes.io/managed-by": "me"
        },
    }));
    let plain = desired_gateway(&key(), &class(), &ports(), &params(json!({})), &settings());
    let fleet = with_infrastructure(plain.clone(), &infra);
    let d = deployment(&fleet);
    let template = &d["spec"]["template"]["metadata"]["labels"];
    assert_eq!(template["sluice.dev/gateway"], "web.edge");
    assert_eq!(template["app.kubernetes.io/instance"], name.as_str());
    assert_eq!(
        d["spec"]["selector"],
        deployment(&plain)["spec"]["selector"],
        "the selector is Sluice's alone"
    );
    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(
        svc["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "sluice-operator"
    );
    assert_eq!(svc["spec"]["selector"]["sluice.dev/gateway"], "web.edge");
}

#[test]
fn no_infrastructure_changes_nothing() {
    let plain = desired_gateway(&key(), &class(), &ports(), &params(json!({})), &settings());
    let infra = infrastructure(json!({ "labels": {}, "annotations": {} }));
    assert_eq!(with_infrastructure(plain.clone(), &infra), plain);
    assert_eq!(
        with_infrastructure(plain.clone(), &Infrastructure::default()),
        plain
    );
}
