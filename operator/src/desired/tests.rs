use serde_json::json;
use sluice_crds::params::IngressClassParamsSpec;

use super::*;

fn class() -> IngressClass {
    serde_json::from_value(json!({
        "metadata": { "name": "sluice", "uid": "c1a55-uid" },
        "spec": { "controller": "sluice.dev/ingress-controller" }
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

/// A container's arguments, from its JSON.
fn args_of(container: &serde_json::Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// The fleet's workload, whichever kind, as JSON.
fn workload_json(fleet: &Fleet) -> serde_json::Value {
    match &fleet.workload {
        Workload::Deployment(d) => serde_json::to_value(d).unwrap(),
        Workload::DaemonSet(d) => serde_json::to_value(d).unwrap(),
    }
}

fn params(spec: serde_json::Value) -> ResolvedParams {
    serde_json::from_value::<IngressClassParamsSpec>(spec)
        .unwrap()
        .resolve()
        .unwrap()
}

#[test]
fn defaults_build_a_nodeport_fleet_owned_by_the_class() {
    let fleet = desired(&class(), &params(json!({})), &settings());
    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(svc["metadata"]["name"], "sluice-proxy-sluice");
    assert_eq!(svc["metadata"]["namespace"], "sluice-system");
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(svc["spec"]["ports"][1]["port"], 443);
    assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30443);
    assert_eq!(
        svc["metadata"]["ownerReferences"][0]["kind"],
        "IngressClass"
    );
    assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "c1a55-uid");

    let deploy = workload_json(&fleet);
    assert_eq!(deploy["spec"]["replicas"], 2);
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    let args = args_of(container);
    assert_eq!(&args[..2], ["--ingress-class", "sluice"]);
    assert!(
        args.windows(2)
            .any(|w| w == ["--https-redirect-port", "30443"])
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    // The Service selects exactly the Deployment's pods.
    assert_eq!(
        svc["spec"]["selector"],
        deploy["spec"]["selector"]["matchLabels"]
    );
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&deploy["spec"]["template"]["metadata"]["labels"][k], v);
    }

    let crb = serde_json::to_value(&fleet.cluster_role_binding).unwrap();
    assert_eq!(crb["roleRef"]["name"], "sluice-proxy");
    assert_eq!(crb["subjects"][0]["name"], "sluice-proxy-sluice");
    assert_eq!(crb["subjects"][0]["namespace"], "sluice-system");
    assert!(crb["metadata"].get("namespace").is_none());
}

#[test]
fn params_flow_into_the_objects() {
    let fleet = desired(
        &class(),
        &params(json!({
            "replicas": 3,
            "image": { "repository": "registry.example.com/sluice-proxy", "tag": "1.2.3", "pullPolicy": "Always" },
            "service": { "type": "LoadBalancer", "httpNodePort": 31080, "httpsNodePort": 31443,
                         "externalTrafficPolicy": "Local", "annotations": { "lb.example.com/internal": "true" } },
            "tls": { "minVersion": "1.3", "sslRedirect": false, "defaultCertificateSecret": "wildcard-tls" },
            "upstream": { "connectTimeout": "2s", "readTimeout": "90s", "maxAttempts": 2 },
            "logging": { "level": "debug", "format": "json" },
            "podAnnotations": { "example.com/scrape": "true" },
            "tracing": { "otlpEndpoint": "http://otel-collector.observability:4318", "protocol": "http/protobuf", "samplingRatio": 0.25 },
            "nodeSelector": { "role": "edge" }
        })),
        &settings(),
    );
    let deploy = workload_json(&fleet);
    assert_eq!(deploy["spec"]["replicas"], 3);
    let pod = &deploy["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["example.com/scrape"], "true");
    assert_eq!(pod["spec"]["nodeSelector"]["role"], "edge");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/sluice-proxy:1.2.3"
    );
    assert_eq!(container["imagePullPolicy"], "Always");
    let args = args_of(container).join(" ");
    for expected in [
        "--tls-min-version 1.3",
        "--no-ssl-redirect",
        "--connect-timeout 2000ms",
        "--read-timeout 90000ms",
        "--max-attempts 2",
        "--log-format json",
        "--https-redirect-port 443",
        "--default-cert /etc/sluice/default-certificate/tls.crt",
        "--otlp-endpoint http://otel-collector.observability:4318 --otlp-protocol http/protobuf --trace-sampling-ratio 0.25",
    ] {
        assert!(args.contains(expected), "{expected:?} missing from {args}");
    }
    // Changing the level must not roll the pods: it is not in the pod template.
    assert!(!args.contains("--log-level"), "{args}");
    assert!(!args.contains("--metrics-detailed-labels"), "{args}");
    assert_eq!(
        pod["spec"]["volumes"][0]["secret"]["secretName"],
        "wildcard-tls"
    );

    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Local");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 31080);
    assert_eq!(
        svc["metadata"]["annotations"]["lb.example.com/internal"],
        "true"
    );
}

#[test]
fn cluster_ip_services_have_no_node_ports() {
    let fleet = desired(
        &class(),
        &params(json!({ "service": { "type": "ClusterIP" } })),
        &settings(),
    );
    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert!(svc["spec"]["ports"][0].get("nodePort").is_none());
    assert!(svc["spec"].get("externalTrafficPolicy").is_none());
}

#[test]
fn every_fleet_has_a_metrics_service_for_the_service_monitor() {
    let fleet = desired(&class(), &params(json!({})), &settings());
    let svc = serde_json::to_value(&fleet.metrics_service).unwrap();
    assert_eq!(svc["metadata"]["name"], "sluice-metrics-sluice");
    assert_eq!(svc["metadata"]["labels"]["sluice.dev/metrics"], "true");
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "admin");
    // The same pods as the traffic Service.
    assert_eq!(
        svc["spec"]["selector"],
        serde_json::to_value(&fleet.service).unwrap()["spec"]["selector"]
    );
}

#[test]
fn host_network_pods_listen_on_the_nodes_ports() {
    let fleet = desired(
        &class(),
        &params(json!({ "kind": "DaemonSet", "hostNetwork": true })),
        &settings(),
    );
    let pod = &workload_json(&fleet)["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    let container = &pod["containers"][0];
    let ports: Vec<_> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].clone(),
                p["hostPort"].clone(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("http", json!(80), json!(80)),
            ("https", json!(443), json!(443)),
            ("admin", json!(10254), json!(10254)),
        ]
    );
    let args = args_of(container).join(" ");
    assert!(
        args.contains("--http-addr 0.0.0.0:80 --https-addr 0.0.0.0:443 --admin-addr 0.0.0.0:10254"),
        "{args}"
    );
    assert!(args.contains("--https-redirect-port 443"), "{args}");
    // Port 80 as root, with no capability but binding it.
    let security = &container["securityContext"];
    assert_eq!(security["runAsUser"], 0);
    assert_eq!(security["runAsNonRoot"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["capabilities"]["add"], json!(["NET_BIND_SERVICE"]));

    // Unprivileged host ports: not root.
    let fleet = desired(
        &class(),
        &params(
            json!({ "kind": "DaemonSet", "hostNetwork": true, "hostPorts": { "http": 30080, "https": 30443 } }),
        ),
        &settings(),
    );
    let container = &workload_json(&fleet)["spec"]["template"]["spec"]["containers"][0];
    assert!(
        args_of(container)
            .join(" ")
            .contains("--http-addr 0.0.0.0:30080 --https-addr 0.0.0.0:30443")
    );
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    assert!(container["securityContext"].get("runAsUser").is_none());
    assert!(
        container["securityContext"]["capabilities"]
            .get("add")
            .is_none()
    );
}

#[test]
fn extra_args_and_volumes_reach_the_container() {
    let fleet = desired(
        &class(),
        &params(json!({
            "extraArgs": ["--threads=2"],
            "extraVolumes": [{ "name": "ca", "configMap": { "name": "corporate-ca" } }],
            "extraVolumeMounts": [{ "name": "ca", "mountPath": "/etc/ca", "readOnly": true }],
            "tls": { "defaultCertificateSecret": "wildcard" },
        })),
        &settings(),
    );
    let pod = &workload_json(&fleet)["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(args_of(container).last(), Some(&"--threads=2"));
    // The operator's volume first, the user's after it.
    assert_eq!(pod["volumes"][0]["name"], "default-certificate");
    assert_eq!(pod["volumes"][1]["configMap"]["name"], "corporate-ca");
    assert_eq!(container["volumeMounts"][1]["mountPath"], "/etc/ca");
}

/// extraArgs may not repeat a flag the operator sets: the list the params check against
/// must hold every flag the operator renders.
#[test]
fn every_rendered_flag_is_one_extra_args_may_not_repeat() {
    let resolved = params(json!({
        "tls": { "sslRedirect": false, "defaultCertificateSecret": "wildcard" },
        "tracing": { "otlpEndpoint": "http://collector:4317" },
        "metrics": { "detailedLabels": true },
        "fastPath": false,
        "client": { "proxyProtocol": true, "trustedProxies": ["10.0.0.0/8"], "realIpHeader": "forwarded" },
    }));
    for arg in proxy_args("sluice", "sluice.dev/ingress-controller", &resolved) {
        if arg.starts_with("--") {
            assert!(
                sluice_crds::params::OPERATOR_FLAGS.contains(&arg.as_str()),
                "{arg} is rendered but not in OPERATOR_FLAGS"
            );
        }
    }
}

#[test]
fn fleet_names_fit_a_service_name() {
    assert_eq!(fleet_name("sluice"), "sluice-proxy-sluice");
    let long = "a".repeat(63);
    let name = fleet_name(&long);
    assert!(name.len() <= 63, "{name}");
    assert_ne!(fleet_name(&long), fleet_name(&"b".repeat(63)));
    assert_eq!(fleet_name(&long), name, "stable");
}

/// What the operator renders, the proxy must accept, with the same meaning: the flags are
/// declared by the proxy and written by the operator, so this is where they meet.
#[test]
fn every_rendered_argument_list_parses_in_the_proxy() {
    use clap::Parser;
    use sluice_proxy::cli::Args;
    let variants = [
        json!({}),
        json!({ "service": { "type": "LoadBalancer" }, "tls": { "minVersion": "1.3", "sslRedirect": false } }),
        json!({ "service": { "type": "NodePort", "httpsNodePort": 31443 },
                "tls": { "defaultCertificateSecret": "wildcard" },
                "logging": { "level": "debug", "format": "json" },
                "upstream": { "connectTimeout": "2s", "readTimeout": "90s", "maxAttempts": 1 } }),
        json!({ "tracing": { "otlpEndpoint": "http://collector:4318", "protocol": "http/protobuf", "samplingRatio": 0.5 } }),
        json!({ "tracing": { "otlpEndpoint": "http://collector:4317", "protocol": "grpc" } }),
        json!({ "metrics": { "detailedLabels": true }, "logging": { "accessLog": { "enabled": false } } }),
        json!({ "kind": "DaemonSet", "hostNetwork": true, "extraArgs": ["--threads=3"] }),
        json!({ "fastPath": false, "client": { "headerTimeout": "10s", "bodyTimeout": "1m",
                "keepaliveTimeout": "5s", "sendTimeout": "30s", "maxConnections": 0,
                "maxConnectionsPerAddress": 64 } }),
        json!({ "client": { "proxyProtocol": true, "trustedProxies": ["10.0.0.0/8", "192.168.0.1"],
                "realIpHeader": "forwarded" } }),
    ];
    for spec in variants {
        let resolved = params(spec.clone());
        let rendered = proxy_args("edge", "example.com/edge", &resolved);
        let parsed = Args::try_parse_from(
            std::iter::once("sluice-proxy".to_string()).chain(rendered.clone()),
        )
        .unwrap_or_else(|e| panic!("{spec}: {rendered:?} is refused by the proxy: {e}"));
        assert_eq!(parsed.ingress_class, "edge");
        assert_eq!(
            parsed.proxy_protocol, resolved.client.proxy_protocol,
            "{spec}"
        );
        assert_eq!(
            parsed.trusted_proxies().is_empty(),
            resolved.client.trusted_proxies.is_empty(),
            "{spec}"
        );
        assert_eq!(parsed.controller_name, "example.com/edge");
        assert_eq!(parsed.no_ssl_redirect, !resolved.tls.ssl_redirect, "{spec}");
        assert_eq!(
            parsed.connect_timeout, resolved.upstream.connect_timeout,
            "{spec}"
        );
        assert_eq!(
            parsed.read_timeout, resolved.upstream.read_timeout,
            "{spec}"
        );
        assert_eq!(
            parsed.default_cert.is_some(),
            resolved.tls.default_certificate_secret.is_some(),
            "{spec}"
        );
        assert_eq!(
            parsed.otlp_endpoint, resolved.tracing.otlp_endpoint,
            "{spec}"
        );
        // The same enums on both sides: the CRD's value and the flag's must agree.
        assert_eq!(parsed.tls_min_version, resolved.tls.min_version, "{spec}");
        assert_eq!(parsed.log_format, resolved.logging.format, "{spec}");
        assert_eq!(
            parsed.metrics_detailed_labels, resolved.metrics.detailed_labels,
            "{spec}"
        );
        assert_eq!(parsed.no_fast_path, !resolved.fast_path, "{spec}");
        assert_eq!(
            (parsed.max_connections, parsed.max_connections_per_address),
            (
                resolved.client.max_connections,
                resolved.client.max_connections_per_address
            ),
            "{spec}"
        );
        let client = &resolved.client;
        assert_eq!(
            (
                parsed.client_header_timeout,
                parsed.client_body_timeout,
                parsed.keepalive_timeout,
                parsed.send_timeout
            ),
            (
                client.header_timeout,
                client.body_timeout,
                client.keepalive_timeout,
                client.send_timeout
            ),
            "{spec}"
        );
        if resolved.tracing.otlp_endpoint.is_some() {
            assert_eq!(parsed.otlp_protocol, resolved.tracing.protocol, "{spec}");
        }
    }
}

#[test]
fn autoscaling_adds_an_autoscaler_and_leaves_it_the_replicas() {
    let resolved = params(json!({
        "autoscaling": { "minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 70 }
    }));
    let fleet = desired(&class(), &resolved, &settings());
    let hpa = serde_json::to_value(fleet.autoscaler.as_ref().unwrap()).unwrap();
    assert_eq!(hpa["metadata"]["name"], "sluice-proxy-sluice");
    assert_eq!(
        hpa["metadata"]["ownerReferences"][0]["kind"],
        "IngressClass"
    );
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "sluice-proxy-sluice");
    assert_eq!(hpa["spec"]["minReplicas"], 2);
    assert_eq!(hpa["spec"]["maxReplicas"], 6);
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        70
    );

    let live = |replicas: i32| -> k8s_openapi::api::apps::v1::Deployment {
        serde_json::from_value(
            json!({ "spec": { "replicas": replicas, "selector": {}, "template": {} } }),
        )
        .unwrap()
    };
    // A new fleet starts at the minimum; then the autoscaler's count stands, within bounds.
    assert_eq!(declared_replicas(&resolved, None), 2);
    assert_eq!(declared_replicas(&resolved, Some(&live(5))), 5);
    assert_eq!(declared_replicas(&resolved, Some(&live(9))), 6);
    assert_eq!(declared_replicas(&resolved, Some(&live(1))), 2);

    // Without autoscaling, the params' count, whatever the live one.
    let fixed = params(json!({ "replicas": 3 }));
    assert!(desired(&class(), &fixed, &settings()).autoscaler.is_none());
    assert_eq!(declared_replicas(&fixed, Some(&live(5))), 3);
}

#[test]
fn pod_and_load_balancer_settings_reach_the_fleet() {
    let resolved = params(json!({
        "podLabels": { "team": "edge", "app.kubernetes.io/part-of": "platform" },
        "priorityClassName": "ingress-critical",
        "topologySpreadConstraints": [{ "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway" }],
        "imagePullSecrets": [{ "name": "regcred" }],
        "podDisruptionBudget": { "minAvailable": "50%" },
        "extraEnv": [{ "name": "SSL_CERT_FILE", "value": "/etc/ssl/extra.pem" }],
        "service": { "type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"], "loadBalancerClass": "example.com/lb", "externalIPs": ["198.51.100.10"], "loadBalancerIP": "198.51.100.20" }
    }));
    let fleet = desired(&class(), &resolved, &settings());
    let deploy = workload_json(&fleet);
    let template = &deploy["spec"]["template"];
    assert_eq!(template["metadata"]["labels"]["team"], "edge");
    // The selector's labels are the fleet's, whatever podLabels say.
    assert_eq!(
        template["metadata"]["labels"]["app.kubernetes.io/instance"],
        "sluice"
    );
    assert_eq!(template["spec"]["priorityClassName"], "ingress-critical");
    assert_eq!(
        template["spec"]["topologySpreadConstraints"][0]["maxSkew"],
        1
    );
    assert_eq!(template["spec"]["imagePullSecrets"][0]["name"], "regcred");
    let env = &template["spec"]["containers"][0]["env"];
    assert_eq!(
        (env[0]["name"].as_str(), env[1]["name"].as_str()),
        (Some("POD_NAME"), Some("SSL_CERT_FILE"))
    );

    let pdb = serde_json::to_value(&fleet.pod_disruption_budget).unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], "50%");
    assert!(pdb["spec"].get("maxUnavailable").is_none());

    let svc = serde_json::to_value(&fleet.service).unwrap();
    assert_eq!(svc["spec"]["loadBalancerSourceRanges"][0], "203.0.113.0/24");
    assert_eq!(svc["spec"]["loadBalancerClass"], "example.com/lb");
    assert_eq!(svc["spec"]["loadBalancerIP"], "198.51.100.20");
    assert_eq!(svc["spec"]["externalIPs"][0], "198.51.100.10");
    // Behind a load balancer, the API server picks the node ports.
    assert!(svc["spec"]["ports"][0].get("nodePort").is_none());
    assert!(svc["spec"]["ports"][1].get("nodePort").is_none());
}

#[test]
fn a_daemon_set_fleet_runs_one_pod_per_node_on_host_ports() {
    let resolved = params(json!({
        "kind": "DaemonSet",
        "hostPorts": { "http": 80, "https": 443 },
        "service": { "type": "ClusterIP" }
    }));
    let fleet = desired(&class(), &resolved, &settings());
    let Workload::DaemonSet(daemon_set) = &fleet.workload else {
        panic!("not a DaemonSet: {:?}", fleet.workload);
    };
    let ds = serde_json::to_value(daemon_set).unwrap();
    assert_eq!(ds["metadata"]["name"], "sluice-proxy-sluice");
    assert!(ds["spec"].get("replicas").is_none());
    assert_eq!(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"], 0);
    let container = &ds["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["hostPort"], 80);
    assert_eq!(container["ports"][1]["hostPort"], 443);
    assert!(
        container["ports"][2].get("hostPort").is_none(),
        "admin stays off the node"
    );
    let args = args_of(container);
    assert!(
        args.windows(2)
            .any(|w| w == ["--https-redirect-port", "443"]),
        "redirects go to the host port: {args:?}"
    );
    assert!(fleet.autoscaler.is_none());
}
