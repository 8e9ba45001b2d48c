//! A real `sluice-operator` process for tests, and what it needs: a webhook certificate
//! the API server trusts, and the webhook's registration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client;
use crate::process::ChildGuard;
use crate::proxy::free_addr;
use crate::tools::{cargo_bin, workspace_root};

/// A CA and a serving certificate for 127.0.0.1 signed by it.
pub struct WebhookCerts {
    pub ca_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl WebhookCerts {
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice-test-webhook-ca");
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse()?));
        let cert = params.signed_by(&key, &issuer)?;
        let cert_file = dir.join("webhook.crt");
        let key_file = dir.join("webhook.key");
        std::fs::write(&cert_file, cert.pem())?;
        std::fs::write(&key_file, key.serialize_pem())?;
        Ok(Self {
            ca_pem: ca.pem(),
            cert_file,
            key_file,
        })
    }

    pub fn ca_bundle(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

/// The ValidatingWebhookConfiguration for Ingresses, served at `url`.
pub fn ingress_webhook_configuration(url: &str, ca_bundle: &str, failure_policy: &str) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": "sluice-test" },
        "webhooks": [{
            "name": "ingress.sluice.dev",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": failure_policy,
            "timeoutSeconds": 5,
            "clientConfig": { "url": url, "caBundle": ca_bundle },
            "rules": [{
                "apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"]
            }]
        }]
    })
}

/// The CRDs the chart installs, as objects.
fn crds() -> anyhow::Result<Vec<Value>> {
    let dir = workspace_root().join("charts/sluice/crds");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)?;
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Applies the chart's CRDs and waits until the API server serves them.
pub fn install_crds(cluster: &crate::TestCluster) -> anyhow::Result<()> {
    cluster.apply(&crds()?)?;
    wait_established(cluster, &["ingressclassparams.sluice.dev"])
}

/// Applies the Gateway API CRDs the chart carries (its gateway-api-crds subchart), as Helm
/// would, and waits until the API server serves them.
pub fn install_gateway_api_crds(cluster: &crate::TestCluster) -> anyhow::Result<()> {
    let dir = workspace_root().join("charts/sluice/charts/gateway-api-crds/crds");
    install_crd_files(cluster, &dir, sluice_crds::gateway::class::CRDS)
}

/// Applies the CRDs in `path` (a file or a directory) server-side (the largest are too big
/// for kubectl's last-applied annotation), and waits until `crds` are served.
pub fn install_crd_files(
    cluster: &crate::TestCluster,
    path: &std::path::Path,
    crds: &[&str],
) -> anyhow::Result<()> {
    let out = cluster.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        path.to_str().unwrap_or_default(),
    ])?;
    anyhow::ensure!(
        out.status.success(),
        "applying the CRDs of {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    wait_established(cluster, crds)
}

/// Waits until each CRD is Established. Polled rather than `kubectl wait`, which fails at
/// once on a CRD that has no conditions yet.
fn wait_established(cluster: &crate::TestCluster, crds: &[&str]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for crd in crds {
        loop {
            let out = cluster.kubectl(&[
                "get",
                &format!("crd/{crd}"),
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#,
            ])?;
            if out.status.success() && out.stdout == b"True" {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "CRD {crd} was not established after 60s: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// A control plane with classes `sluice` (Sluice's) and `nginx` (another controller's),
/// whose Ingresses a real webhook-only operator reviews over TLS.
pub struct WebhookCluster {
    pub cluster: crate::TestCluster,
    pub operator: Operator,
    pub certs: WebhookCerts,
}

impl WebhookCluster {
    /// Starts it, the webhook configured with `failure_policy` (`Fail` or `Ignore`).
    pub async fn start(failure_policy: &str) -> anyhow::Result<Self> {
        let cluster = crate::TestCluster::start().await?;
        let certs = WebhookCerts::generate(cluster.dir())?;
        cluster.apply(&[
            crate::objects::ingress_class("sluice", sluice_crds::names::CONTROLLER_NAME, None),
            crate::objects::ingress_class("nginx", "k8s.io/ingress-nginx", None),
        ])?;
        let operator = Operator::start(
            cluster.kubeconfig(),
            Some(&certs),
            &["--webhook-only"],
            cluster.dir(),
        )
        .await?;
        cluster.apply(&[ingress_webhook_configuration(
            &operator.webhook_url("/validate/ingress"),
            &certs.ca_bundle(),
            failure_policy,
        )])?;
        Ok(Self {
            cluster,
            operator,
            certs,
        })
    }
}

pub struct Operator {
    process: ChildGuard,
    pub metrics: SocketAddr,
    pub webhook: SocketAddr,
}

impl Operator {
    /// Starts `sluice-operator` against the cluster of `kubeconfig`, with the webhook on a
    /// free port when `certs` is given, and waits until `/readyz` answers 200.
    pub async fn start(
        kubeconfig: &Path,
        certs: Option<&WebhookCerts>,
        args: &[&str],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::start_with_webhook_on(kubeconfig, certs, free_addr()?, args, log_dir).await
    }

    /// As [`Operator::start`], with the webhook on `webhook`.
    pub async fn start_with_webhook_on(
        kubeconfig: &Path,
        certs: Option<&WebhookCerts>,
        webhook: SocketAddr,
        args: &[&str],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let metrics = free_addr()?;
        let mut command = Command::new(cargo_bin("sluice-operator")?);
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--metrics-addr", &metrics.to_string()])
            .args(["--webhook-addr", &webhook.to_string()])
            // No Service sends it reviews: nothing to drain when a test stops it.
            .args(["--shutdown-delay", "0s"])
            .args(args)
            .env(
                "RUST_LOG",
                "info,sluice_operator=debug,sluice_webhook=debug",
            )
            .env("NO_COLOR", "1");
        if let Some(certs) = certs {
            command.arg("--webhook-cert-file").arg(&certs.cert_file);
            command.arg("--webhook-key-file").arg(&certs.key_file);
        }
        let log = log_dir.join(format!("operator-{}.log", metrics.port()));
        let mut process = ChildGuard::spawn("sluice-operator", command, &log)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = process.try_exited() {
                anyhow::bail!("sluice-operator exited ({status}):\n{}", process.output());
            }
            if let Ok(reply) = client::get(metrics, "operator", "/readyz").await
                && reply.status == 200
                && process.listens_on(metrics.port())
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "sluice-operator not ready:\n{}",
                process.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            process,
            metrics,
            webhook,
        })
    }

    pub fn webhook_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.webhook)
    }

    pub fn output(&self) -> String {
        self.process.output()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub async fn metric(&self, sample: &str) -> anyhow::Result<f64> {
        let reply = client::get(self.metrics, "operator", "/metrics").await?;
        Ok(crate::proxy::parse_metric(&reply.body, sample))
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout` with
/// `what` and the last value seen.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "timed out after {timeout:?} waiting for {what}; last error: {last_error:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
