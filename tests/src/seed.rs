//! The picture of docs/architecture.md, live on a real single-node cluster, with nothing
//! standing in: `helm install` of the chart, whose operator pods serve the webhook through
//! its Service and create the proxy fleet; the proxies as pods behind NodePorts 30080/30443
//! (published on 127.0.0.1); `examples/seed.yaml` with its backends as pods. The chart's and
//! the fleet's end-to-end tests check it; `make demo` shows it to a person.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use sluice_crds::params::IngressClassParams;

use crate::objects::{certificate, tls_secret};
use crate::operator::eventually;
use crate::tools::workspace_root;
use crate::{TestCluster, client};

/// The chart's release name and namespace.
pub const RELEASE: &str = "sluice";
pub const NAMESPACE: &str = "sluice-system";
pub const HOST: &str = "app.example.com";
/// The operator's Deployment, and the proxy fleet's Deployment and Service for class sluice.
pub const OPERATOR: &str = "sluice-operator";
pub const FLEET: &str = "sluice-proxy-sluice";
/// The node ports the fleet's Service uses by default, published on 127.0.0.1.
pub const HTTP_NODE_PORT: u16 = 30080;
pub const HTTPS_NODE_PORT: u16 = 30443;
/// How long a step of bringing the picture up may take.
const STEP: Duration = Duration::from_secs(90);

/// Everything that runs; dropping it tears the cluster down.
pub struct Seed {
    pub cluster: TestCluster,
    /// The certificate served for app.example.com, DER.
    pub certificate: Vec<u8>,
    /// The same certificate, PEM, in a file (for `curl --cacert`).
    pub certificate_file: PathBuf,
    /// The Node's InternalIP (inside the node's network namespace): what the Ingress's
    /// status shows. The machine reaches the node ports on 127.0.0.1.
    pub node_ip: String,
    _files: tempfile::TempDir,
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
        progress.step(
            "starting a real single-node cluster: control plane, containerd, kubelet, kube-proxy",
        );
        let cluster =
            TestCluster::start_with_node_and_images(&["echo-basic", "sluice-dev"]).await?;
        let client = cluster.client().await?;

        progress.step("helm install sluice charts/sluice");
        let chart = chart_dir();
        let mut args = vec![
            "install",
            RELEASE,
            chart.to_str().unwrap_or("charts/sluice"),
            "--namespace",
            NAMESPACE,
            "--create-namespace",
        ];
        args.extend_from_slice(helm_args);
        let out = cluster.helm(&args)?;
        anyhow::ensure!(
            out.status.success(),
            "helm install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        progress.step(
            "applying examples/seed.yaml (Ingress, Services, backend pods) and its certificate",
        );
        let (cert_pem, key_pem, certificate) = certificate(&[HOST])?;
        cluster.apply(&[tls_secret(
            "default",
            "app-example-tls",
            &cert_pem,
            &key_pem,
        )])?;
        // The webhook reviews the seed's Ingress: it goes in once an operator pod serves.
        let seed = std::fs::read_to_string(workspace_root().join("examples/seed.yaml"))?;
        eventually(STEP, "examples/seed.yaml to be admitted", || async {
            let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &seed)?;
            anyhow::ensure!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(Some(()))
        })
        .await?;

        progress.step("waiting for the operator, the proxy fleet and the backends to be ready");
        for (namespace, name) in [
            (NAMESPACE, OPERATOR),
            ("default", "api"),
            ("default", "frontend"),
        ] {
            deployment_ready(&cluster, namespace, name).await?;
        }
        // Whatever runs the proxies (a Deployment or a DaemonSet), the class's params say
        // when they are ready.
        fleet_ready(&cluster).await?;
        let node_ip = node_internal_ip(&client).await?;

        let files = tempfile::Builder::new().prefix("sluice-seed-").tempdir()?;
        let certificate_file = files.path().join("app.example.com.crt");
        std::fs::write(&certificate_file, &cert_pem)?;
        let seed = Self {
            cluster,
            certificate,
            certificate_file,
            node_ip,
            _files: files,
        };
        progress.step("waiting for the routes to serve through the node ports");
        eventually(
            STEP,
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

    /// `kubectl apply` of `examples/conflict.yaml`, which claims the seed's host and path
    /// again: its outcome and what kubectl printed on stderr.
    pub fn apply_conflict(&self) -> anyhow::Result<(bool, String)> {
        let conflict = std::fs::read_to_string(workspace_root().join("examples/conflict.yaml"))?;
        let out = self
            .cluster
            .kubectl_stdin(&["apply", "-f", "-"], &conflict)?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// The HTTP node port, as the machine reaches it.
    pub fn http(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], HTTP_NODE_PORT))
    }

    /// The HTTPS node port.
    pub fn https(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], HTTPS_NODE_PORT))
    }
}

/// Waits until the Deployment has rolled out: every desired replica updated and available,
/// and no old ones left.
pub async fn deployment_ready(
    cluster: &TestCluster,
    namespace: &str,
    name: &str,
) -> anyhow::Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client().await?, namespace);
    eventually(
        STEP,
        &format!("Deployment {namespace}/{name} to be ready"),
        || async {
            let Some(d) = deployments.get_opt(name).await? else {
                return Ok(None);
            };
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let generation = d.metadata.generation;
            let Some(status) = d.status else {
                return Ok(None);
            };
            Ok((status.observed_generation == generation
                && status.updated_replicas == Some(want)
                && status.available_replicas == Some(want)
                && status.replicas == Some(want))
            .then_some(()))
        },
    )
    .await
    .map_err(|e| {
        let pods = cluster
            .kubectl(&["get", "pods", "-A", "-o", "wide"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let events = cluster
            .kubectl(&["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        e.context(format!("pods:\n{pods}\nevents in {namespace}:\n{events}"))
    })
}

/// The first IP address an Ingress publishes in its status, if any.
pub async fn published_ip(
    cluster: &TestCluster,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let ingresses: Api<Ingress> = Api::namespaced(cluster.client().await?, namespace);
    let ingress = ingresses.get(name).await?;
    Ok(ingress
        .status
        .and_then(|s| s.load_balancer?.ingress?.first()?.ip.clone()))
}

/// Waits until an Ingress publishes an IP address, and returns it.
pub async fn wait_for_published_ip(
    cluster: &TestCluster,
    namespace: &str,
    name: &str,
) -> anyhow::Result<String> {
    eventually(
        STEP,
        &format!("Ingress {namespace}/{name} to publish an address"),
        || published_ip(cluster, namespace, name),
    )
    .await
}

/// Waits until the class's IngressClassParams report the fleet Ready.
pub async fn fleet_ready(cluster: &TestCluster) -> anyhow::Result<()> {
    let params: Api<IngressClassParams> = Api::all(cluster.client().await?);
    eventually(
        STEP,
        "the IngressClassParams sluice to be Ready",
        || async {
            let status = params.get("sluice").await?.status.unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            Ok(ready.then_some(()))
        },
    )
    .await
}

/// The one Node's InternalIP.
async fn node_internal_ip(client: &kube::Client) -> anyhow::Result<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .flat_map(|n| n.status.iter().flat_map(|s| s.addresses.iter().flatten()))
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
        .ok_or_else(|| anyhow::anyhow!("the Node has no InternalIP"))
}
