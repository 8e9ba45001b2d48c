//! The Helm chart, end to end on a real control plane with the real helm and kubectl:
//! install, traffic through the node ports, a refusal through kubectl, addresses on the
//! Ingress, the metrics Services, upgrade and uninstall. The operator and proxies run as
//! pods with the chart's ServiceAccount identities, proving its RBAC is enough.
//!
//! The monitoring pieces are checked with real tools too: the ServiceMonitor and
//! PrometheusRule against the Prometheus Operator's CRDs on the API server, the alerting
//! rules loaded and evaluated by Prometheus's own rule parser and PromQL engine
//! (`promrules`, tests/promrules), the Grafana dashboard's queries parsed the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use serde_json::Value;
use sluice_tests::TestCluster;
use sluice_tests::client::{get, https_get};
use sluice_tests::operator::{
    eventually, install_crd_files, install_crds, install_gateway_api_crds,
};
use sluice_tests::seed::{HOST, NAMESPACE, RELEASE, Seed, wait_for_published_ip};
use sluice_tests::tools::{tool, workspace_root};

const WAIT: Duration = Duration::from_secs(60);

/// Everything the chart can render, monitoring included.
const ALL_MONITORING: &[&str] = &[
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "metrics.grafanaDashboard.enabled=true",
];

#[tokio::test]
async fn helm_lint_is_clean() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let chart = workspace_root().join("charts/sluice");
    for values in [&[][..], ALL_MONITORING] {
        let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
        args.extend_from_slice(values);
        let out = cluster.helm(&args)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{values:?}: {text}");
        assert!(
            !text.contains("[WARNING]") && !text.contains("[ERROR]"),
            "{values:?}: {text}"
        );
    }
    Ok(())
}

/// Every documented option renders objects the API server accepts (server-side dry run).
/// The ServiceMonitor and PrometheusRule are checked against the Prometheus Operator's own
/// CRDs (`make tools` takes them from its Go module).
#[tokio::test]
async fn every_documented_option_renders_objects_the_api_server_accepts() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    install_crds(&cluster)?;
    install_gateway_api_crds(&cluster)?;
    install_monitoring_crds(&cluster)?;
    cluster.kubectl(&["create", "namespace", NAMESPACE])?;
    cluster.kubectl(&["create", "namespace", "monitoring"])?;
    let chart = workspace_root().join("charts/sluice");
    let options: &[&[&str]] = &[
        &[
            "--set",
            "gatewayClass.name=edge",
            "--set",
            "gatewayClass.controllerName=example.com/edge-gateway",
        ],
        &["--set", "gatewayClass.enabled=false"],
        &["--set", "gatewayAPI.installCRDs=false"],
        &[],
        &["--set", "ingressClass.default=true"],
        &[
            "--set",
            "webhook.failurePolicy=Ignore",
            "--set",
            "webhook.timeoutSeconds=10",
        ],
        &["--set", "webhook.enabled=false"],
        &["--set", "ingressClass.enabled=false"],
        &[
            "--set",
            "operator.replicas=3",
            "--set",
            "operator.logFormat=json",
            "--set",
            "operator.logLevel=debug",
        ],
        &["--set", "ingressClass.params.service.type=LoadBalancer"],
        &["--set", "ingressClass.params.service.type=ClusterIP"],
        &["--set", "webhook.extraClasses={internal,edge}"],
        &[
            "--set",
            "operator.tracing.otlpEndpoint=http://otel-collector.observability:4317",
            "--set",
            "operator.tracing.samplingRatio=0.5",
        ],
        &[
            "--set",
            "ingressClass.name=edge",
            "--set",
            "ingressClass.params.replicas=4",
            "--set",
            "ingressClass.params.tls.minVersion=1.3",
        ],
        &[
            "--set",
            "ingressClass.params.replicas=null",
            "--set",
            "ingressClass.params.autoscaling.maxReplicas=6",
            "--set",
            "ingressClass.params.podLabels.team=edge",
            "--set",
            "ingressClass.params.priorityClassName=system-cluster-critical",
            "--set",
            "ingressClass.params.imagePullSecrets[0].name=regcred",
            "--set",
            "ingressClass.params.podDisruptionBudget.minAvailable=50%",
            "--set",
            "ingressClass.params.service.type=LoadBalancer",
            "--set",
            "ingressClass.params.service.loadBalancerSourceRanges={203.0.113.0/24}",
            "--set",
            "ingressClass.params.service.loadBalancerClass=example.com/lb",
            "--set",
            "ingressClass.params.service.externalIPs={198.51.100.10}",
            "--set",
            "ingressClass.params.extraEnv[0].name=SSL_CERT_FILE",
            "--set",
            "ingressClass.params.extraEnv[0].value=/etc/ssl/extra.pem",
            "--set",
            "ingressClass.params.image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ],
        &[
            "--set",
            "ingressClass.params.replicas=null",
            "--set",
            "ingressClass.params.kind=DaemonSet",
            "--set",
            "ingressClass.params.hostPorts.http=80",
            "--set",
            "ingressClass.params.hostPorts.https=443",
        ],
        &["--set", "ingressClass.controller=example.com/internal"],
        &["--set", "nameOverride=edge"],
        &["--set", "fullnameOverride=ingress"],
        &[
            "--set",
            "image.repository=registry.example.com/sluice-operator",
            "--set",
            "image.tag=1.2.3",
            "--set",
            "imagePullSecrets[0].name=regcred",
        ],
        &["--set", "metrics.service.enabled=false"],
        &[
            "--set-string",
            "metrics.service.annotations.example\\.com/scrape=true",
        ],
        ALL_MONITORING,
        &[
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.namespace=monitoring",
            "--set",
            "metrics.serviceMonitor.additionalLabels.release=kube-prometheus-stack",
            "--set",
            "metrics.serviceMonitor.interval=15s",
            "--set",
            "metrics.serviceMonitor.scrapeTimeout=10s",
            "--set",
            "metrics.serviceMonitor.relabelings[0].targetLabel=cluster",
            "--set",
            "metrics.serviceMonitor.relabelings[0].replacement=east",
            "--set",
            "metrics.serviceMonitor.metricRelabelings[0].action=drop",
            "--set",
            "metrics.serviceMonitor.metricRelabelings[0].sourceLabels={__name__}",
            "--set",
            "metrics.serviceMonitor.metricRelabelings[0].regex=sluice_proxy_request_size_bytes_bucket",
        ],
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.namespace=monitoring",
            "--set",
            "metrics.prometheusRule.additionalLabels.release=kube-prometheus-stack",
            "--set",
            "metrics.prometheusRule.alerts.ingressErrorRate.threshold=0.1",
            "--set",
            "metrics.prometheusRule.alerts.ingressErrorRate.window=10m",
            "--set",
            "metrics.prometheusRule.alerts.configSourceErrors.for=30m",
            "--set",
            "metrics.prometheusRule.alerts.certificateExpiry.warningDays=30",
            "--set",
            "metrics.prometheusRule.alerts.proxyDown.severity=page",
            "--set",
            "metrics.prometheusRule.alerts.operatorNoLeader.enabled=false",
            "--set",
            "metrics.prometheusRule.rules[0].alert=TooManyRoutes",
            "--set",
            "metrics.prometheusRule.rules[0].expr=sluice_proxy_routes > 10000",
        ],
        // Every alert off and none added: an empty group.
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.alerts.ingressErrorRate.enabled=false",
            "--set",
            "metrics.prometheusRule.alerts.configProblems.enabled=false",
            "--set",
            "metrics.prometheusRule.alerts.configSourceErrors.enabled=false",
            "--set",
            "metrics.prometheusRule.alerts.certificateExpiry.enabled=false",
            "--set",
            "metrics.prometheusRule.alerts.proxyDown.enabled=false",
            "--set",
            "metrics.prometheusRule.alerts.operatorNoLeader.enabled=false",
        ],
        &[
            "--set",
            "metrics.grafanaDashboard.enabled=true",
            "--set",
            "metrics.grafanaDashboard.namespace=monitoring",
            "--set",
            "metrics.grafanaDashboard.label=grafana.example.com/dashboard",
            "--set",
            "metrics.grafanaDashboard.labelValue=ingress",
            "--set",
            "metrics.grafanaDashboard.annotations.grafana_folder=Ingress",
        ],
    ];
    for option in options {
        let mut args = vec![
            "template",
            "sluice",
            chart.to_str().unwrap(),
            "--namespace",
            NAMESPACE,
        ];
        args.extend_from_slice(option);
        let out = cluster.helm(&args)?;
        assert!(
            out.status.success(),
            "{option:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8(out.stdout)?;
        let out = cluster.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &rendered)?;
        assert!(
            out.status.success(),
            "{option:?} was refused:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Rendering twice gives the same objects (GitOps tools compare renders): the chart makes
/// no certificate or other random value of its own.
#[tokio::test]
async fn renders_the_same_every_time() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let chart = workspace_root().join("charts/sluice");
    for values in [&[][..], ALL_MONITORING] {
        let render = || -> anyhow::Result<String> {
            let mut args = vec![
                "template",
                "sluice",
                chart.to_str().unwrap_or_default(),
                "--namespace",
                NAMESPACE,
            ];
            args.extend_from_slice(values);
            let out = cluster.helm(&args)?;
            anyhow::ensure!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(String::from_utf8(out.stdout)?)
        };
        let first = render()?;
        assert_eq!(first, render()?, "{values:?}");
        assert!(
            !first.contains("BEGIN CERTIFICATE") && !first.contains("caBundle:"),
            "{first}"
        );
    }
    Ok(())
}

/// A parent chart that depends on Sluice renders: Helm passes `global` to every subchart.
#[tokio::test]
async fn renders_as_a_subchart() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let parent = tempfile::tempdir()?;
    let chart = workspace_root().join("charts/sluice");
    std::fs::write(
        parent.path().join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: sluice\n    version: 0.1.0\n    repository: file://{}\n",
            chart.display()
        ),
    )?;
    std::fs::write(
        parent.path().join("values.yaml"),
        "global:\n  imageRegistry: registry.example.com\nsluice:\n  nameOverride: edge\n  metrics:\n    grafanaDashboard:\n      enabled: true\n",
    )?;
    let dir = parent.path().to_str().unwrap_or_default();
    let out = cluster.helm(&["dependency", "build", dir])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cluster.helm(&["template", "platform", dir, "--namespace", NAMESPACE])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout)?;
    assert!(
        rendered.contains("name: platform-edge-operator"),
        "{rendered}"
    );
    // The packaged subchart carries its dashboard file.
    let objects = objects(&rendered)?;
    let dashboard = find(&objects, "ConfigMap", Some("platform-edge-dashboard"))
        .and_then(|c| c["data"]["sluice.json"].as_str())
        .expect("the dashboard ConfigMap");
    assert_eq!(
        serde_json::from_str::<Value>(dashboard)?,
        serde_json::from_str::<Value>(&dashboard_text()?)?
    );
    Ok(())
}

#[tokio::test]
async fn install_route_refuse_scrape_upgrade_uninstall() -> anyhow::Result<()> {
    let seed = Seed::start(&mut |step: &str| eprintln!("-- {step}"), &[]).await?;
    let client = seed.cluster.client().await?;

    // Traffic through the node ports.
    let reply = get(seed.http(), HOST, "/api").await?;
    assert_eq!(
        (reply.status, reply.server().as_deref()),
        (200, Some("api"))
    );
    let reply = get(seed.http(), HOST, "/").await?;
    assert_eq!(
        (reply.status, reply.server().as_deref()),
        (200, Some("frontend"))
    );
    let (reply, tls) =
        https_get(seed.https(), HOST, HOST, "/api", &["h2", "http/1.1"], &[]).await?;
    assert_eq!(
        (reply.status, reply.server().as_deref()),
        (200, Some("api"))
    );
    assert_eq!(
        tls.leaf, seed.certificate,
        "the Secret's certificate is served for its host"
    );

    // The chart's GatewayClass is accepted by the operator pods, through the chart's RBAC
    // (its status, and the Gateway API CRDs' release for SupportedVersion).
    eventually(WAIT, "GatewayClass sluice to be accepted", || async {
        let out = seed.cluster.kubectl(&[
            "get",
            "gatewayclass/sluice",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Accepted")].status} {.status.conditions[?(@.type=="SupportedVersion")].status}"#,
        ])?;
        Ok((out.stdout == b"True True").then_some(()))
    })
    .await?;

    // A conflicting Ingress is refused, and kubectl says why.
    let (applied, stderr) = seed.apply_conflict()?;
    assert!(!applied);
    assert!(
        stderr.contains(
            "host app.example.com path /api (Prefix) is already served by Ingress default/app"
        ),
        "{stderr}"
    );

    // The Ingress's status carries the node's address.
    let address = wait_for_published_ip(&seed.cluster, "default", "app").await?;
    assert_eq!(address, seed.node_ip);

    // One label finds every metrics endpoint: the chart's Service for the operator and the
    // operator's for the fleet. Each routes to its pods' metrics port, and between them
    // they serve every metric the alerts and the dashboard use (now that requests, TLS
    // handshakes and a refusal have happened).
    let served = scrape_metrics_services(&seed).await?;
    let rules = objects(&render(&["--set", "metrics.prometheusRule.enabled=true"])?)?;
    let dashboard: Value = serde_json::from_str(&dashboard_text()?)?;
    let used: BTreeSet<String> = exprs(&rules)
        .iter()
        .chain(&exprs(&[dashboard]))
        .flat_map(|e| metric_names(e))
        .collect();
    assert!(
        used.contains("sluice_proxy_requests_total") && used.contains("sluice_operator_leader"),
        "{used:?}"
    );
    let missing: Vec<_> = used
        .iter()
        .filter(|name| !APPEAR_ON_FAILURE.contains(&name.as_str()))
        .filter(|name| !serves(&served, name))
        .collect();
    assert!(
        missing.is_empty(),
        "the alerts or the dashboard use metrics that neither the operator nor the proxies serve: {missing:?}\nserved: {served:?}"
    );

    // helm upgrade changes a value; the fleet follows; the webhook certificate stays.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let cert_before = secrets.get("sluice-webhook-tls").await?.data;
    let chart = workspace_root().join("charts/sluice");
    let out = seed.cluster.helm(&[
        "upgrade",
        "sluice",
        chart.to_str().unwrap(),
        "--namespace",
        NAMESPACE,
        "--reuse-values",
        "--set",
        "ingressClass.params.replicas=3",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    eventually(WAIT, "3 proxy replicas", || async {
        let d = deployments.get("sluice-proxy-sluice").await?;
        Ok((d.spec.and_then(|s| s.replicas) == Some(3)).then_some(()))
    })
    .await?;
    assert_eq!(
        secrets.get("sluice-webhook-tls").await?.data,
        cert_before,
        "upgrades keep the certificate"
    );

    // helm uninstall removes what the chart and the operator created.
    let out = seed
        .cluster
        .helm(&["uninstall", "sluice", "--namespace", NAMESPACE, "--wait"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    eventually(WAIT, "everything to be gone", || async {
        let deployments = deployments.list(&ListParams::default()).await?.items.len();
        let services = services.list(&ListParams::default()).await?.items.len();
        let left = seed.cluster.kubectl(&[
            "get", "ingressclass,ingressclassparams,gatewayclass,validatingwebhookconfiguration,clusterrole,clusterrolebinding",
            "-l", "app.kubernetes.io/name=sluice", "-o", "name",
        ])?;
        let left = String::from_utf8_lossy(&left.stdout).trim().to_string();
        // The operator's webhook certificate goes with the webhook configuration that owns it.
        let secret = secrets.get_opt("sluice-webhook-tls").await?;
        Ok((deployments == 0 && services == 0 && left.is_empty() && secret.is_none()).then_some(()))
    })
    .await?;
    Ok(())
}

/// The chart's monitoring is off by default, but for the operator's metrics Service, which
/// carries the label the ServiceMonitor selects and routes to the operator's metrics port.
#[test]
fn by_default_only_the_metrics_service_renders() -> anyhow::Result<()> {
    let objects = objects(&render(&[])?)?;
    for kind in ["ServiceMonitor", "PrometheusRule", "ConfigMap"] {
        assert!(
            find(&objects, kind, None).is_none(),
            "{kind} rendered by default"
        );
    }
    let service = find(&objects, "Service", Some("sluice-metrics")).expect("sluice-metrics");
    assert_eq!(service["metadata"]["labels"]["sluice.dev/metrics"], "true");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(
        service["spec"]["ports"],
        serde_json::json!([{ "name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP" }])
    );
    // The Service selects the operator's pods, whose container has that port.
    let operator = find(&objects, "Deployment", Some("sluice-operator")).expect("operator");
    for (key, value) in service["spec"]["selector"].as_object().expect("a selector") {
        assert_eq!(
            &operator["spec"]["template"]["metadata"]["labels"][key],
            value
        );
    }
    let ports = &operator["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        ports.as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["name"] == "metrics" && p["containerPort"] == 8080)),
        "{ports}"
    );
    Ok(())
}

/// The ServiceMonitor scrapes the release namespace (wherever it lives) by the one label,
/// with the chart's relabelings before the user's.
#[test]
fn the_service_monitor_selects_the_metrics_label_in_the_release_namespace() -> anyhow::Result<()> {
    let objects = objects(&render(&[
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.namespace=monitoring",
        "--set",
        "metrics.serviceMonitor.additionalLabels.release=kube-prometheus-stack",
        "--set",
        "metrics.serviceMonitor.interval=15s",
        "--set",
        "metrics.serviceMonitor.relabelings[0].targetLabel=cluster",
        "--set",
        "metrics.serviceMonitor.relabelings[0].replacement=east",
    ])?)?;
    let monitor = find(&objects, "ServiceMonitor", None).expect("a ServiceMonitor");
    assert_eq!(monitor["metadata"]["namespace"], "monitoring");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"],
        serde_json::json!({ "matchNames": [NAMESPACE] })
    );
    assert_eq!(
        monitor["spec"]["selector"],
        serde_json::json!({ "matchLabels": { "sluice.dev/metrics": "true" } })
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        (
            &endpoint["port"],
            &endpoint["path"],
            &endpoint["interval"],
            &endpoint["honorLabels"]
        ),
        (
            &"metrics".into(),
            &"/metrics".into(),
            &"15s".into(),
            &true.into()
        )
    );
    let relabelings = endpoint["relabelings"].as_array().expect("relabelings");
    let targets: Vec<_> = relabelings
        .iter()
        .map(|r| r["targetLabel"].as_str())
        .collect();
    assert_eq!(
        targets,
        [
            Some("job"),
            Some("ingress_class"),
            None,
            Some("namespace"),
            Some("cluster")
        ]
    );
    Ok(())
}

/// The alerts load as Prometheus loads a rule file, and Prometheus's PromQL engine fires
/// exactly the documented ones on made-up series: none on a healthy installation, each on
/// its trouble, only after its `for`, and with the thresholds the values set.
#[test]
fn the_alerts_load_in_prometheus_and_fire_as_documented() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rules = rule_file(
        dir.path(),
        "rules.yaml",
        &["--set", "metrics.prometheusRule.enabled=true"],
    )?;
    assert_eq!(
        promrules(&["check", path(&rules)])?
            .lines()
            .collect::<Vec<_>>(),
        [
            "sluice: alert SluiceIngressHighErrorRate",
            "sluice: alert SluiceConfigProblems",
            "sluice: alert SluiceConfigSourceErrors",
            "sluice: alert SluiceCertificateExpiresSoon",
            "sluice: alert SluiceCertificateExpiresSoon",
            "sluice: alert SluiceProxyDown",
            "sluice: alert SluiceOperatorNoLeader",
        ]
    );

    assert_eq!(firing(&rules, HEALTHY, "60m")?, alerts(&[]));
    assert_eq!(
        firing(&rules, TROUBLED, "60m")?,
        alerts(&[
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="api-tls", severity="critical"}"#,
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="api-tls", severity="warning"}"#,
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="old-tls", severity="critical"}"#,
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="old-tls", severity="warning"}"#,
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="web-tls", severity="warning"}"#,
            r#"SluiceConfigProblems{ingress_class="sluice", kind="conflict", severity="warning"}"#,
            r#"SluiceConfigSourceErrors{ingress_class="sluice", pod="proxy-a", severity="warning"}"#,
            r#"SluiceIngressHighErrorRate{ingress="web", namespace="shop", severity="warning"}"#,
            r#"SluiceOperatorNoLeader{namespace="sluice-system", severity="warning"}"#,
            r#"SluiceProxyDown{ingress_class="sluice", severity="critical"}"#,
        ])
    );
    // The proxies went down at minute 58: pending until their 5 minutes are up.
    assert_eq!(firing(&rules, PROXIES_DOWN_AT_58M, "62m")?, alerts(&[]));
    assert_eq!(
        firing(&rules, PROXIES_DOWN_AT_58M, "63m")?,
        alerts(&[r#"SluiceProxyDown{ingress_class="sluice", severity="critical"}"#])
    );
    // Prometheus has no Sluice target at all: the chart's class has no proxy, and there is no
    // operator.
    assert_eq!(
        firing(&rules, NOTHING_SCRAPED, "10m")?,
        alerts(&[
            r#"SluiceOperatorNoLeader{namespace="sluice-system", severity="warning"}"#,
            r#"SluiceProxyDown{ingress_class="sluice", job="sluice-proxy", severity="critical"}"#,
        ])
    );
    // Without the chart's class, the chart cannot know which classes should have proxies.
    let classless = rule_file(
        dir.path(),
        "classless.yaml",
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "ingressClass.enabled=false",
        ],
    )?;
    assert_eq!(
        firing(&classless, NOTHING_SCRAPED, "10m")?,
        alerts(&[r#"SluiceOperatorNoLeader{namespace="sluice-system", severity="warning"}"#])
    );

    // The values tune and turn off alerts, and add rules.
    let tuned = rule_file(
        dir.path(),
        "tuned.yaml",
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.alerts.ingressErrorRate.threshold=0.2",
            "--set",
            "metrics.prometheusRule.alerts.certificateExpiry.warningDays=7",
            "--set",
            "metrics.prometheusRule.alerts.certificateExpiry.criticalDays=1",
            "--set",
            "metrics.prometheusRule.alerts.proxyDown.enabled=false",
            "--set",
            "metrics.prometheusRule.alerts.operatorNoLeader.severity=critical",
            "--set",
            "metrics.prometheusRule.rules[0].alert=SluiceTooManyRoutes",
            "--set",
            "metrics.prometheusRule.rules[0].expr=sluice_proxy_routes > 10000",
        ],
    )?;
    let loaded = promrules(&["check", path(&tuned)])?;
    assert!(!loaded.contains("SluiceProxyDown"), "{loaded}");
    assert!(
        loaded.ends_with("sluice: alert SluiceTooManyRoutes\n"),
        "{loaded}"
    );
    assert_eq!(
        firing(&tuned, TROUBLED, "60m")?,
        alerts(&[
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="api-tls", severity="warning"}"#,
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="old-tls", severity="critical"}"#,
            r#"SluiceCertificateExpiresSoon{namespace="shop", secret="old-tls", severity="warning"}"#,
            r#"SluiceConfigProblems{ingress_class="sluice", kind="conflict", severity="warning"}"#,
            r#"SluiceConfigSourceErrors{ingress_class="sluice", pod="proxy-a", severity="warning"}"#,
            r#"SluiceOperatorNoLeader{namespace="sluice-system", severity="critical"}"#,
            r#"SluiceTooManyRoutes{ingress_class="sluice", instance="10.0.0.1:9090", job="sluice-proxy", pod="proxy-a"}"#,
        ])
    );
    Ok(())
}

/// The dashboard is valid JSON that Grafana's sidecar gets verbatim, picks its Prometheus
/// with a data source variable, filters by class, namespace and Ingress, charts the
/// metrics it is for, and every query is valid PromQL.
#[test]
fn the_grafana_dashboard_is_valid_and_names_no_data_source() -> anyhow::Result<()> {
    let text = dashboard_text()?;
    let dashboard: Value = serde_json::from_str(&text)?;

    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
    let datasource = variable("datasource").expect("a datasource variable");
    assert_eq!(
        (&datasource["type"], &datasource["query"]),
        (&"datasource".into(), &"prometheus".into())
    );
    for name in ["ingress_class", "namespace", "ingress"] {
        let v = variable(name).unwrap_or_else(|| panic!("no {name} variable"));
        assert_eq!(v["type"], "query", "{name}");
    }
    // Every Prometheus data source reference is the variable: no uid of somebody's Grafana.
    let mut references = Vec::new();
    walk(&dashboard, &mut |v| {
        if let Some(ds) = v.get("datasource").filter(|ds| ds.is_object()) {
            references.push(ds.clone());
        }
    });
    assert!(!references.is_empty());
    for ds in &references {
        assert!(
            *ds == serde_json::json!({ "type": "prometheus", "uid": "${datasource}" })
                || ds["type"] == "grafana",
            "a fixed data source: {ds}"
        );
    }

    let panels = dashboard["panels"].as_array().expect("panels");
    let ids: BTreeSet<_> = panels.iter().map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let queries = exprs(std::slice::from_ref(&dashboard));
    let all = queries.join("\n");
    for metric in [
        "sluice_proxy_requests_total",
        "sluice_proxy_request_duration_seconds_bucket",
        "sluice_proxy_upstream_response_duration_seconds_bucket",
        "sluice_proxy_requests_in_flight",
        "sluice_proxy_route_reloads_total",
        "sluice_proxy_config_problems",
        "sluice_proxy_tls_handshakes_total",
        "sluice_proxy_tls_certificate_expiry_timestamp_seconds",
    ] {
        assert!(all.contains(metric), "no panel shows {metric}");
    }
    for quantile in ["0.5", "0.95", "0.99"] {
        assert!(
            all.contains(&format!(
                "histogram_quantile({quantile}, sum by (le) (rate(sluice_proxy_request_duration_seconds_bucket"
            )),
            "no p{quantile} of the request duration"
        );
    }
    assert!(all.contains(
        r#"ingress_class=~"$ingress_class", namespace=~"$namespace", ingress=~"$ingress""#
    ));

    // The queries, with Grafana's variables filled in as Grafana does, parse as PromQL: each
    // becomes a recording rule that promrules loads as Prometheus would.
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let e = e
                .replace("$__rate_interval", "2m")
                .replace("$ingress_class", ".*")
                .replace("$namespace", ".*")
                .replace("$ingress", ".*");
            serde_json::json!({ "record": format!("dashboard:query_{i}"), "expr": e })
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("dashboard.yaml");
    std::fs::write(
        &file,
        serde_yaml_ng::to_string(
            &serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] }),
        )?,
    )?;
    assert_eq!(
        promrules(&["check", path(&file)])?.lines().count(),
        queries.len()
    );

    // The ConfigMap carries the file as it is, with the sidecar's label.
    let objects = objects(&render(&[
        "--set",
        "metrics.grafanaDashboard.enabled=true",
        "--set",
        "metrics.grafanaDashboard.namespace=monitoring",
    ])?)?;
    let config_map = find(&objects, "ConfigMap", Some("sluice-dashboard")).expect("the dashboard");
    assert_eq!(config_map["metadata"]["namespace"], "monitoring");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    let data = config_map["data"]["sluice.json"]
        .as_str()
        .expect("sluice.json");
    assert_eq!(serde_json::from_str::<Value>(data)?, dashboard);
    Ok(())
}

/// Renders the chart (no cluster needed) with these extra arguments.
fn render(args: &[&str]) -> anyhow::Result<String> {
    let chart = workspace_root().join("charts/sluice");
    let mut all = vec!["template", RELEASE, path(&chart), "--namespace", NAMESPACE];
    all.extend_from_slice(args);
    let home = tempfile::tempdir()?;
    let out = Command::new(tool("helm")?)
        .args(&all)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "helm {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The objects of a multi-document YAML text.
fn objects(yaml: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(doc)?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

fn find<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && name.is_none_or(|n| o["metadata"]["name"] == n))
}

/// Calls `f` on `value` and everything in it.
fn walk(value: &Value, f: &mut dyn FnMut(&Value)) {
    f(value);
    match value {
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        Value::Object(fields) => fields.values().for_each(|v| walk(v, f)),
        _ => {}
    }
}

/// The PromQL queries in `values`: rules' and panels' `expr`.
fn exprs(values: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for value in values {
        walk(value, &mut |v| {
            if let Some(e) = v.get("expr").and_then(Value::as_str) {
                out.push(e.to_string());
            }
        });
    }
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn dashboard_text() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(
        workspace_root().join("charts/sluice/dashboards/sluice.json"),
    )?)
}

/// Writes the PrometheusRule the chart renders with `args` as a Prometheus rule file (its
/// spec is one: the Prometheus Operator hands it to Prometheus as it is).
fn rule_file(dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<PathBuf> {
    let objects = objects(&render(args)?)?;
    let rule = find(&objects, "PrometheusRule", None).expect("a PrometheusRule");
    let file = dir.join(name);
    std::fs::write(&file, serde_yaml_ng::to_string(&rule["spec"])?)?;
    Ok(file)
}

fn promrules(args: &[&str]) -> anyhow::Result<String> {
    let out: Output = Command::new(tool("promrules")?).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "promrules {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The alerts of `rules` firing `at` after the start of `series`.
fn firing(rules: &Path, series: &str, at: &str) -> anyhow::Result<BTreeSet<String>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("series.txt");
    std::fs::write(&file, series)?;
    let out = promrules(&["alerts", path(rules), path(&file), at])?;
    Ok(out.lines().map(str::to_string).collect())
}

fn alerts(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

// Series as Prometheus stores them through the chart's ServiceMonitor: the proxies' with
// job sluice-proxy and ingress_class, the operator's with job sluice-operator and its
// namespace. One sample a minute from minute 0 to 60; `a+bxn` is a, then n more each b
// higher. Certificate expiries are Unix seconds, minute 0 being the Unix epoch.

/// All well: 1% errors, no problems, certificates good for 100 days, one proxy of two and
/// one operator of two (the leader) up.
const HEALTHY: &str = r#"
load 1m
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", ingress="web", service="web", service_port="80", status_class="2xx"} 0+594x60
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", ingress="web", service="web", service_port="80", status_class="5xx"} 0+6x60
  # Requests no rule matched: no namespace, Ingress or Service.
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", status_class="4xx"} 0+60x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", kind="conflict"} 0x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", kind="invalid_rule"} 0x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", kind="invalid_annotation"} 0x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", kind="tls_secret"} 0x60
  # Failures long ago, none lately.
  sluice_proxy_config_source_errors_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090"} 3x60
  sluice_proxy_tls_certificate_expiry_timestamp_seconds{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", secret="web-tls"} 8640000x60
  up{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090"} 1x60
  up{job="sluice-proxy", ingress_class="sluice", pod="proxy-b", instance="10.0.0.2:9090"} 0x60
  up{job="sluice-operator", namespace="sluice-system", pod="operator-a", instance="10.0.0.8:8080"} 1x60
  up{job="sluice-operator", namespace="sluice-system", pod="operator-b", instance="10.0.0.9:8080"} 1x60
  sluice_operator_leader{job="sluice-operator", namespace="sluice-system", pod="operator-a", instance="10.0.0.8:8080"} 1x60
  sluice_operator_leader{job="sluice-operator", namespace="sluice-system", pod="operator-b", instance="10.0.0.9:8080"} 0x60
"#;

/// Everything wrong: shop/web answers 10% 5xx (shop/api 4%), a conflict, a proxy whose
/// watches keep failing, certificates with 10 days, 2 days and none left (and one with
/// 30), every proxy of class sluice down (one of two of class internal), no leader.
const TROUBLED: &str = r#"
load 1m
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", ingress="web", service="web", service_port="80", status_class="2xx"} 0+540x60
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", ingress="web", service="web", service_port="80", status_class="5xx"} 0+60x60
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", ingress="api", service="api", service_port="http", status_class="2xx"} 0+576x60
  sluice_proxy_requests_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", ingress="api", service="api", service_port="http", status_class="5xx"} 0+24x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", kind="conflict"} 2x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-b", instance="10.0.0.2:9090", kind="conflict"} 2x60
  sluice_proxy_config_problems{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", kind="tls_secret"} 0x60
  sluice_proxy_config_source_errors_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090"} 0+1x60
  sluice_proxy_config_source_errors_total{job="sluice-proxy", ingress_class="sluice", pod="proxy-b", instance="10.0.0.2:9090"} 3x60
  sluice_proxy_tls_certificate_expiry_timestamp_seconds{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", secret="web-tls"} 867600x60
  sluice_proxy_tls_certificate_expiry_timestamp_seconds{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", secret="api-tls"} 176400x60
  sluice_proxy_tls_certificate_expiry_timestamp_seconds{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", secret="old-tls"} 1800x60
  sluice_proxy_tls_certificate_expiry_timestamp_seconds{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090", namespace="shop", secret="ok-tls"} 2595600x60
  sluice_proxy_routes{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090"} 12000x60
  up{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090"} 0x60
  up{job="sluice-proxy", ingress_class="sluice", pod="proxy-b", instance="10.0.0.2:9090"} 0x60
  up{job="sluice-proxy", ingress_class="internal", pod="proxy-c", instance="10.0.0.3:9090"} 1x60
  up{job="sluice-proxy", ingress_class="internal", pod="proxy-d", instance="10.0.0.4:9090"} 0x60
  up{job="sluice-operator", namespace="sluice-system", pod="operator-a", instance="10.0.0.8:8080"} 1x60
  sluice_operator_leader{job="sluice-operator", namespace="sluice-system", pod="operator-a", instance="10.0.0.8:8080"} 0x60
  sluice_operator_leader{job="sluice-operator", namespace="sluice-system", pod="operator-b", instance="10.0.0.9:8080"} 0x60
"#;

/// The one proxy of class sluice is up until minute 57 and down from minute 58.
const PROXIES_DOWN_AT_58M: &str = r#"
load 1m
  up{job="sluice-proxy", ingress_class="sluice", pod="proxy-a", instance="10.0.0.1:9090"} 1x57 0x10
  up{job="sluice-operator", namespace="sluice-system", pod="operator-a", instance="10.0.0.8:8080"} 1x67
  sluice_operator_leader{job="sluice-operator", namespace="sluice-system", pod="operator-a", instance="10.0.0.8:8080"} 1x67
"#;

/// Prometheus scrapes something, but nothing of Sluice's.
const NOTHING_SCRAPED: &str = r#"
load 1m
  up{job="node", instance="10.0.0.100:9100"} 1x20
"#;

/// Metrics whose series appear only once something failed (a labelled family shows once it
/// has a sample): the end-to-end test's traffic never fails to connect.
const APPEAR_ON_FAILURE: &[&str] = &[
    "sluice_proxy_upstream_connect_errors_total",
    "sluice_proxy_upstream_retries_total",
];

/// The Sluice metric names (`sluice_...`) in a query.
fn metric_names(query: &str) -> Vec<String> {
    query
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("sluice_"))
        .map(str::to_string)
        .collect()
}

/// Whether a metric name is among the families served (`# TYPE family type`): a counter's
/// samples end in `_total`, a histogram's in `_bucket`, `_sum` and `_count`.
fn serves(families: &BTreeMap<String, String>, name: &str) -> bool {
    let family = |suffix: &str, kind: &str| {
        name.strip_suffix(suffix)
            .is_some_and(|base| families.get(base).is_some_and(|k| k == kind))
    };
    families.contains_key(name)
        || family("_total", "counter")
        || ["_bucket", "_sum", "_count"]
            .iter()
            .any(|s| family(s, "histogram"))
}

/// Scrapes every Service labelled sluice.dev/metrics through the API server's proxy, and
/// every pod behind it: the families served (name → type). There must be the operator's
/// and the fleet's, with the labels the ServiceMonitor's relabelings read.
async fn scrape_metrics_services(seed: &Seed) -> anyhow::Result<BTreeMap<String, String>> {
    let client = seed.cluster.client().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let labelled = ListParams::default().labels("sluice.dev/metrics=true");
    // The operator makes the fleet's when it reconciles the class.
    let names = eventually(
        WAIT,
        "the operator's and the fleet's metrics Services",
        || async {
            let mut names = Vec::new();
            let (mut operator, mut fleet) = (false, false);
            for service in services.list(&labelled).await?.items {
                let labels = service.metadata.labels.unwrap_or_default();
                let label = |key: &str| labels.get(key).map(String::as_str);
                let component = label("app.kubernetes.io/component");
                operator |= component == Some("operator");
                fleet |= component == Some("proxy")
                    && label("sluice.dev/ingress-class") == Some("sluice");
                names.extend(service.metadata.name);
            }
            Ok((operator && fleet).then_some(names))
        },
    )
    .await?;
    assert!(names.contains(&"sluice-metrics".to_string()), "{names:?}");
    let mut families = BTreeMap::new();
    for name in &names {
        let body = get_text(
            &client,
            &format!("/api/v1/namespaces/{NAMESPACE}/services/{name}:metrics/proxy/metrics"),
        )
        .await?;
        assert!(
            body.contains("# TYPE sluice_"),
            "{name} serves no Sluice metric: {body}"
        );
        // Each pod behind it: the families with labels show on the pods that have samples.
        let by_service =
            ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
        let endpoints = eventually(WAIT, "ready endpoints of the metrics Service", || async {
            let mut endpoints = Vec::new();
            for slice in slices.list(&by_service).await?.items {
                let port = slice
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some("metrics"));
                let Some(port) = port.and_then(|p| p.port) else {
                    continue;
                };
                for e in slice.endpoints {
                    if let Some(pod) = e.target_ref.and_then(|r| r.name) {
                        endpoints.push((pod, port));
                    }
                }
            }
            Ok((!endpoints.is_empty()).then_some(endpoints))
        })
        .await?;
        for (pod, port) in endpoints {
            let body = get_text(
                &client,
                &format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}:{port}/proxy/metrics"),
            )
            .await?;
            for line in body.lines() {
                let mut words = line.split_whitespace();
                if let (Some("#"), Some("TYPE"), Some(family), Some(kind)) =
                    (words.next(), words.next(), words.next(), words.next())
                {
                    families.insert(family.to_string(), kind.to_string());
                }
            }
        }
    }
    Ok(families)
}

async fn get_text(client: &kube::Client, path: &str) -> anyhow::Result<String> {
    let request = http::Request::get(path).body(Vec::new())?;
    Ok(client.request_text(request).await?)
}

/// The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs (`make tools` takes
/// them from its Go module), applied and established.
fn install_monitoring_crds(cluster: &TestCluster) -> anyhow::Result<()> {
    install_crd_files(
        cluster,
        &tool("monitoring-crds.yaml")?,
        &[
            "servicemonitors.monitoring.coreos.com",
            "prometheusrules.monitoring.coreos.com",
        ],
    )
}
