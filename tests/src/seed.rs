//! The picture of docs/architecture.md, live: a control plane, the chart installed with
//! helm, the operator and a proxy running as local processes with the chart's RBAC
//! identities, two backends published as EndpointSlices, and `examples/seed.yaml` applied.
//! The chart's end-to-end test checks it; `make demo` shows it to a person.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::objects::{certificate, endpoint_slice, tls_secret};
use crate::operator::{Operator, WebhookCerts, eventually};
use crate::proxy::free_addr;
use crate::tools::{host_ip, workspace_root};
use crate::{Proxy, TestCluster, Upstream, client};

/// The chart's release name and namespace.
pub const RELEASE: &str = "sluice";
pub const NAMESPACE: &str = "sluice-system";
pub const HOST: &str = "app.example.com";

/// Everything that runs; dropping it stops it all.
pub struct Seed {
    // Dropped in this order: processes first, the control plane last.
    pub proxy: Proxy,
    pub operator: Operator,
    pub api: Upstream,
    pub frontend: Upstream,
    pub cluster: TestCluster,
    /// The certificate served for app.example.com, DER.
    pub certificate: Vec<u8>,
    /// The same certificate, PEM, in a file (for `curl --cacert`).
    pub certificate_file: PathBuf,
    /// The node's address: where the NodePorts are reached from outside.
    pub node_ip: String,
    pub http_node_port: u16,
    pub https_node_port: u16,
    pub webhook: SocketAddr,
    /// Logs of the operator and the proxy.
    pub logs: tempfile::TempDir,
}

/// Reports each step and how long it took.
pub trait Progress {
    fn step(&mut self, what: &str);
}

impl<F: FnMut(&str)> Progress for F {
    fn step(&mut self, what: &str) {
        self(what)
    }
}

fn chart_dir() -> PathBuf {
    workspace_root().join("charts/sluice")
}

impl Seed {
    /// Brings the whole picture up. `helm_args` are added to `helm install`.
    pub async fn start(progress: &mut dyn Progress, helm_args: &[&str]) -> anyhow::Result<Self> {
        let logs = tempfile::Builder::new().prefix("sluice-logs-").tempdir()?;
        progress.step("starting the control plane (etcd, kube-apiserver, kube-controller-manager)");
        let cluster = TestCluster::start().await?;
        let client = cluster.client().await?;
        let node_ip = host_ip()?.to_string();

        // No kubelet runs here: a Node object stands for this machine, so Ingresses get its
        // address.
        let nodes: Api<Node> = Api::all(client.clone());
        nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({ "metadata": { "name": "node-1" } }))?,
            )
            .await?;
        nodes
            .patch_status(
                "node-1",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "addresses": [{ "type": "InternalIP", "address": node_ip }] } })),
            )
            .await?;

        progress.step("helm install sluice charts/sluice");
        let webhook = free_addr()?;
        let url = format!("webhook.url=https://{webhook}/validate/ingress");
        let chart = chart_dir();
        let mut args = vec![
            "install",
            RELEASE,
            chart.to_str().unwrap_or("charts/sluice"),
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            // No pods run here: the API server calls the operator process at this URL,
            // with a certificate valid for 127.0.0.1 (test-only settings).
            "--set",
            &url,
            "--set",
            "webhook.certificate.ipAddresses={127.0.0.1}",
        ];
        args.extend_from_slice(helm_args);
        let out = cluster.helm(&args)?;
        anyhow::ensure!(
            out.status.success(),
            "helm install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        progress.step("starting sluice-operator as the chart's ServiceAccount");
        let certs = chart_webhook_certs(&cluster, &client).await?;
        let operator_identity = cluster.impersonating_kubeconfig(
            &format!("system:serviceaccount:{NAMESPACE}:{RELEASE}-operator"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{NAMESPACE}"),
                "system:authenticated",
            ],
        )?;
        let operator = Operator::start_with_webhook_on(
            &operator_identity,
            Some(&certs),
            webhook,
            &[
                "--namespace",
                NAMESPACE,
                "--proxy-cluster-role",
                &format!("{RELEASE}-proxy"),
                "--lease-name",
                &format!("{RELEASE}-operator"),
            ],
            logs.path(),
        )
        .await?;

        progress.step("waiting for the operator to create the proxy fleet");
        let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
        let (http_node_port, https_node_port) =
            eventually(Duration::from_secs(60), "the proxy Service", || async {
                let Some(svc) = services.get_opt("sluice-proxy-sluice").await? else {
                    return Ok(None);
                };
                let port = |name: &str| {
                    svc.spec
                        .as_ref()?
                        .ports
                        .as_ref()?
                        .iter()
                        .find(|p| p.name.as_deref() == Some(name))?
                        .node_port
                };
                Ok(port("http").zip(port("https")))
            })
            .await?;
        let (http_node_port, https_node_port) = (
            u16::try_from(http_node_port)?,
            u16::try_from(https_node_port)?,
        );

        progress.step("starting sluice-proxy as the fleet's ServiceAccount, on the node ports");
        let proxy_identity = cluster.impersonating_kubeconfig(
            &format!("system:serviceaccount:{NAMESPACE}:sluice-proxy-sluice"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{NAMESPACE}"),
                "system:authenticated",
            ],
        )?;
        let proxy = Proxy::start_on(
            SocketAddr::from(([0, 0, 0, 0], http_node_port)),
            SocketAddr::from(([0, 0, 0, 0], https_node_port)),
            free_addr()?,
            &[
                "--kubeconfig",
                proxy_identity.to_str().unwrap_or_default(),
                "--ingress-class",
                "sluice",
                "--https-redirect-port",
                &https_node_port.to_string(),
            ],
            logs.path(),
        )
        .await?;

        progress.step("applying examples/seed.yaml, its backends and its certificate");
        let api = Upstream::start("api", &node_ip)?;
        let frontend = Upstream::start("frontend", &node_ip)?;
        let (cert_pem, key_pem, certificate) = certificate(&[HOST])?;
        let seed = std::fs::read_to_string(workspace_root().join("examples/seed.yaml"))?;
        let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &seed)?;
        anyhow::ensure!(
            out.status.success(),
            "applying the seed failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.apply(&[
            tls_secret("default", "app-example-tls", &cert_pem, &key_pem),
            endpoint_slice("default", "api-svc", "api-svc-local", &[api.addr], &[]),
            endpoint_slice(
                "default",
                "frontend-svc",
                "frontend-svc-local",
                &[frontend.addr],
                &[],
            ),
        ])?;

        let certificate_file = logs.path().join("app.example.com.crt");
        std::fs::write(&certificate_file, &cert_pem)?;
        let seed = Self {
            certificate_file,
            proxy,
            operator,
            api,
            frontend,
            cluster,
            certificate,
            node_ip,
            http_node_port,
            https_node_port,
            webhook,
            logs,
        };
        progress.step("waiting for the routes to serve");
        // The proxy learns each Service's EndpointSlice and the Secret on its own watch
        // event: the picture is up when every part of it answers.
        eventually(
            Duration::from_secs(30),
            "app.example.com /api, / and its certificate to be served",
            || async {
                let api = client::get(seed.http(), HOST, "/api").await?;
                let frontend = client::get(seed.http(), HOST, "/").await?;
                let (_, tls) =
                    client::https_get(seed.https(), HOST, HOST, "/", &["http/1.1"], &[]).await?;
                Ok((api.server().as_deref() == Some("api")
                    && frontend.server().as_deref() == Some("frontend")
                    && tls.leaf == seed.certificate)
                    .then_some(()))
            },
        )
        .await?;
        Ok(seed)
    }

    /// The NodePort address for HTTP, as an outside client would reach it.
    pub fn http(&self) -> SocketAddr {
        SocketAddr::new(
            self.node_ip.parse().unwrap_or([127, 0, 0, 1].into()),
            self.http_node_port,
        )
    }

    /// The NodePort address for HTTPS.
    pub fn https(&self) -> SocketAddr {
        SocketAddr::new(
            self.node_ip.parse().unwrap_or([127, 0, 0, 1].into()),
            self.https_node_port,
        )
    }
}

/// The chart-generated webhook certificate, from its Secret, as files the operator reads
/// (in a cluster the Secret is mounted as a volume).
async fn chart_webhook_certs(
    cluster: &TestCluster,
    client: &kube::Client,
) -> anyhow::Result<WebhookCerts> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let secret = secrets.get(&format!("{RELEASE}-webhook-tls")).await?;
    let data = secret.data.unwrap_or_default();
    let get = |k: &str| -> anyhow::Result<Vec<u8>> {
        Ok(data
            .get(k)
            .ok_or_else(|| anyhow::anyhow!("the webhook Secret has no {k}"))?
            .0
            .clone())
    };
    let dir = cluster.dir().join("webhook-certificate");
    std::fs::create_dir_all(&dir)?;
    let cert_file = dir.join("tls.crt");
    let key_file = dir.join("tls.key");
    std::fs::write(&cert_file, get("tls.crt")?)?;
    std::fs::write(&key_file, get("tls.key")?)?;
    Ok(WebhookCerts {
        ca_pem: String::from_utf8(get("ca.crt")?)?,
        cert_file,
        key_file,
    })
}
