//! The Helm chart, end to end on a real control plane with the real helm and kubectl:
//! install, traffic through the node ports, a refusal through kubectl, addresses on the
//! Ingress, upgrade and uninstall. The operator and proxy run as local processes with the
//! chart's ServiceAccount identities, proving its RBAC is enough.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, ListParams};
use sluice_tests::TestCluster;
use sluice_tests::client::{get, https_get};
use sluice_tests::operator::{eventually, install_crds};
use sluice_tests::seed::{HOST, NAMESPACE, Seed, wait_for_published_ip};
use sluice_tests::tools::workspace_root;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn helm_lint_is_clean() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let chart = workspace_root().join("charts/sluice");
    let out = cluster.helm(&["lint", "--strict", chart.to_str().unwrap()])?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("[WARNING]") && !text.contains("[ERROR]"),
        "{text}"
    );
    Ok(())
}

/// Every documented option renders objects the API server accepts (server-side dry run).
#[tokio::test]
async fn every_documented_option_renders_objects_the_api_server_accepts() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    install_crds(&cluster)?;
    cluster.kubectl(&["create", "namespace", NAMESPACE])?;
    let chart = workspace_root().join("charts/sluice");
    let options: &[&[&str]] = &[
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
    let render = || -> anyhow::Result<String> {
        let out = cluster.helm(&[
            "template",
            "sluice",
            chart.to_str().unwrap_or_default(),
            "--namespace",
            NAMESPACE,
        ])?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    let first = render()?;
    assert_eq!(first, render()?);
    assert!(
        !first.contains("BEGIN CERTIFICATE") && !first.contains("caBundle:"),
        "{first}"
    );
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
        "global:\n  imageRegistry: registry.example.com\nsluice:\n  nameOverride: edge\n",
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
    Ok(())
}

#[tokio::test]
async fn install_route_refuse_upgrade_uninstall() -> anyhow::Result<()> {
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
            "get", "ingressclass,ingressclassparams,validatingwebhookconfiguration,clusterrole,clusterrolebinding",
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
