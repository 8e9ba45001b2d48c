//! Automatic TLS as users get it: cert-manager's controller as a process against a test
//! cluster, the pebble ACME server, and pebble-challtestsrv as the DNS server pebble and
//! cert-manager resolve the challenge hosts with (all built from their Go modules by
//! `make tools`, see tests/certmanager). The HTTP-01 solver pods run on the node from the
//! `acmesolver` image of `make test-images`.
//!
//! HTTP-01 is validated on port 80 of the host's address (RFC 8555, 8.3), by pebble and by
//! cert-manager's own self-check alike. The DNS server maps the test hosts to
//! [`SOLVER_ADDRESS`], a loopback address of its own, where a relay forwards port 80 to the
//! proxy fleet's HTTP node port on 127.0.0.1, as a load balancer in front of a node port
//! would. Everything else listens on free loopback ports.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::TestCluster;
use crate::client;
use crate::operator::{eventually, install_crd_files};
use crate::process::ChildGuard;
use crate::seed::{Progress, Seed};
use crate::tools::{image_archive, tool, workspace_root};

/// Where the test hosts resolve to: the relay to the proxy's HTTP node port listens on port
/// 80 of this loopback address.
pub const SOLVER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 80, 80);
/// The namespace cert-manager keeps a ClusterIssuer's ACME account key in.
pub const CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";
/// How long an issuance may take: solver pod start, cert-manager's five self-checks, pebble.
const ISSUE: Duration = Duration::from_secs(180);
/// How long a ClusterIssuer may take to register its account, or Sluice to serve a Secret.
const WAIT: Duration = Duration::from_secs(60);

/// The name of the acmesolver image, as the Makefile tags it: cert-manager's own, at the
/// version of tests/certmanager/go.mod.
pub fn solver_image() -> anyhow::Result<String> {
    Ok(format!(
        "quay.io/jetstack/cert-manager-acmesolver:{}",
        cert_manager_version()?
    ))
}

/// The cert-manager version tests/certmanager builds.
pub fn cert_manager_version() -> anyhow::Result<String> {
    let go_mod = std::fs::read_to_string(workspace_root().join("tests/certmanager/go.mod"))?;
    go_mod
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("github.com/cert-manager/cert-manager"))
                .then(|| words.next().map(str::to_string))
                .flatten()
        })
        .context("tests/certmanager/go.mod requires no github.com/cert-manager/cert-manager")
}

/// Installs cert-manager's CRDs (from its module, `make tools`) and its namespace, and waits
/// until the API server serves them.
pub fn install_cert_manager_crds(cluster: &TestCluster) -> anyhow::Result<()> {
    install_crd_files(
        cluster,
        &tool("cert-manager-crds.yaml")?,
        &[
            "certificates.cert-manager.io",
            "certificaterequests.cert-manager.io",
            "issuers.cert-manager.io",
            "clusterissuers.cert-manager.io",
            "orders.acme.cert-manager.io",
            "challenges.acme.cert-manager.io",
        ],
    )?;
    let out = cluster.kubectl(&["create", "namespace", CLUSTER_RESOURCE_NAMESPACE])?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// pebble, pebble-challtestsrv, the port-80 relay and cert-manager's controller, running.
/// Dropping it stops them (the controller first).
pub struct Acme {
    controller: ChildGuard,
    pebble: ChildGuard,
    challtestsrv: ChildGuard,
    relay: tokio::task::JoinHandle<()>,
    /// pebble's ACME directory URL, for a ClusterIssuer's `spec.acme.server`.
    pub directory: String,
    /// The CA of pebble's own TLS certificate (its test "minica"), PEM: what a ClusterIssuer's
    /// `spec.acme.caBundle` must trust.
    pub ca_bundle: String,
    pebble_management: SocketAddr,
    dir: tempfile::TempDir,
}

impl Acme {
    /// What the end-to-end test and `make demo-acme` set up on a running [`Seed`]: the
    /// acmesolver image on the node, cert-manager's CRDs, then [`Acme::start`] with `hosts`
    /// relayed to the fleet's HTTP node port.
    pub async fn start_on_seed(
        seed: &Seed,
        hosts: &[&str],
        progress: &mut dyn Progress,
    ) -> anyhow::Result<Self> {
        progress.step("importing the acmesolver image and installing cert-manager's CRDs");
        seed.cluster.import_image(&image_archive("acmesolver")?)?;
        install_cert_manager_crds(&seed.cluster)?;
        progress.step("starting pebble, pebble-challtestsrv and cert-manager's controller");
        Self::start(&seed.cluster, hosts, seed.http()).await
    }

    /// Starts everything, with `hosts` resolving to [`SOLVER_ADDRESS`] and its port 80
    /// relayed to `proxy_http` (the fleet's HTTP node port on 127.0.0.1).
    pub async fn start(
        cluster: &TestCluster,
        hosts: &[&str],
        proxy_http: SocketAddr,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("sluice-acme-").tempdir()?;
        let certs = tool("pebble-certs/cert.pem")?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();

        let relay_listener = TcpListener::bind(SocketAddr::from((SOLVER_ADDRESS, 80)))
            .await
            .with_context(|| format!("listening on {SOLVER_ADDRESS}:80 for the HTTP-01 relay"))?;
        let relay = tokio::spawn(relay(relay_listener, proxy_http));

        // pebble-challtestsrv: only its DNS server and its management API; no default
        // answers, only the test hosts resolve.
        let dns = free_udp_and_tcp_port().await?;
        let challtestsrv_management = free_port().await?;
        let mut command = Command::new(tool("pebble-challtestsrv")?);
        command
            .arg("-dnsserver")
            .arg(dns.to_string())
            .arg("-management")
            .arg(challtestsrv_management.to_string())
            .args(["-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "", "-defaultIPv6", ""]);
        let challtestsrv = ChildGuard::spawn(
            "pebble-challtestsrv",
            command,
            &dir.path().join("challtestsrv.log"),
        )?;
        wait_listening(challtestsrv_management, "pebble-challtestsrv").await?;
        for host in hosts {
            let body =
                serde_json::json!({ "host": host, "addresses": [SOLVER_ADDRESS.to_string()] })
                    .to_string();
            let request = format!(
                "POST /add-a HTTP/1.1\r\nHost: {challtestsrv_management}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let answer = client::raw_exchange(challtestsrv_management, request.as_bytes()).await?;
            anyhow::ensure!(
                answer.starts_with("HTTP/1.1 200"),
                "pebble-challtestsrv refused the A record for {host}: {answer}"
            );
        }

        // pebble: HTTP-01 on port 80 (the relay), TLS-ALPN-01 on a port nothing serves.
        let listen = free_port().await?;
        let pebble_management = free_port().await?;
        let tls_alpn = free_port().await?;
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": listen.to_string(),
                "managementListenAddress": pebble_management.to_string(),
                "certificate": certs.join("cert.pem"),
                "privateKey": certs.join("key.pem"),
                "httpPort": 80,
                "tlsPort": tls_alpn.port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "retryAfter": { "authz": 1, "order": 1 },
                "keyAlgorithm": "ecdsa",
                "profiles": {
                    "default": { "description": "Sluice's tests", "validityPeriod": 3600 }
                }
            }
        });
        let config_file = dir.path().join("pebble.json");
        std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;
        let mut command = Command::new(tool("pebble")?);
        command
            .arg("-config")
            .arg(&config_file)
            .arg("-dnsserver")
            .arg(dns.to_string())
            // Validate at once, never reject a nonce at random, and validate every order
            // afresh (a renewal goes through the proxy again rather than reusing an
            // authorization).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        let pebble = ChildGuard::spawn("pebble", command, &dir.path().join("pebble.log"))?;
        wait_listening(listen, "pebble").await?;
        wait_listening(pebble_management, "pebble's management API").await?;

        // cert-manager's controller, leader election off (it has none), its HTTP-01
        // self-check resolving through the same DNS server as pebble.
        let mut command = Command::new(tool("cert-manager-controller")?);
        command
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .arg(format!(
                "--cluster-resource-namespace={CLUSTER_RESOURCE_NAMESPACE}"
            ))
            .arg(format!("--acme-http01-solver-image={}", solver_image()?))
            .arg(format!("--acme-http01-solver-nameservers={dns}"))
            .arg("-v=2");
        let controller = ChildGuard::spawn(
            "cert-manager-controller",
            command,
            &dir.path().join("cert-manager.log"),
        )?;

        Ok(Self {
            controller,
            pebble,
            challtestsrv,
            relay,
            directory: format!("https://{listen}/dir"),
            ca_bundle: std::fs::read_to_string(certs.join("pebble.minica.pem"))?,
            pebble_management,
            dir,
        })
    }

    /// The root of the certificates pebble issues (pebble makes a new one each run), DER.
    pub async fn issuing_root(&self) -> anyhow::Result<Vec<u8>> {
        Ok(
            CertificateDer::from_pem_slice(self.issuing_root_pem().await?.as_bytes())
                .context("pebble's root is not PEM")?
                .to_vec(),
        )
    }

    /// The same root, PEM, as pebble's management API serves it (for `curl --cacert`).
    pub async fn issuing_root_pem(&self) -> anyhow::Result<String> {
        let (reply, _) = client::https_get(
            self.pebble_management,
            "localhost",
            "localhost",
            "/roots/0",
            &["http/1.1"],
            &[],
        )
        .await?;
        anyhow::ensure!(reply.status == 200, "pebble's /roots/0: {reply:?}");
        Ok(reply.body)
    }

    /// A ClusterIssuer `name` for pebble's directory, trusting pebble's TLS CA, whose
    /// HTTP-01 solver is `ingress` (e.g. `{"ingressClassName": "sluice"}`).
    pub fn cluster_issuer(&self, name: &str, ingress: Value) -> Value {
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": { "name": name },
            "spec": { "acme": {
                "server": self.directory,
                "caBundle": base64::engine::general_purpose::STANDARD.encode(&self.ca_bundle),
                "privateKeySecretRef": { "name": format!("{name}-account") },
                "solvers": [ { "http01": { "ingress": ingress } } ],
            } }
        })
    }

    /// Waits until the Certificate `name` in namespace default (ingress-shim names it after
    /// the Secret) is Ready at `revision`, and returns the leaf of its Secret, after
    /// checking the chain is pebble's for `host`.
    pub async fn issued(
        &self,
        cluster: &TestCluster,
        name: &str,
        host: &str,
        revision: u64,
    ) -> anyhow::Result<Vec<u8>> {
        eventually(
            ISSUE,
            &format!("Certificate {name} to be Ready at revision {revision}"),
            || async {
                let certificate =
                    kubectl_json(cluster, &["get", "certificate", name, "-n", "default"])?;
                Ok((ready(&certificate)
                    && certificate["status"]["revision"].as_u64() == Some(revision))
                .then_some(()))
            },
        )
        .await?;
        let secret = kubectl_json(cluster, &["get", "secret", name, "-n", "default"])?;
        let chain = base64::engine::general_purpose::STANDARD.decode(
            secret["data"]["tls.crt"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("Secret {name} has no tls.crt"))?,
        )?;
        self.verify_chain(&chain, host).await
    }

    /// Checks that `chain_pem` (a Secret's tls.crt) is a chain for `host` from pebble's
    /// root, valid now; returns its leaf, DER.
    pub async fn verify_chain(&self, chain_pem: &[u8], host: &str) -> anyhow::Result<Vec<u8>> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<_, _>>()
            .context("tls.crt is not PEM")?;
        let (leaf, intermediates) = chain.split_first().context("tls.crt is empty")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.issuing_root().await?))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?;
        verifier
            .verify_server_cert(
                leaf,
                intermediates,
                &ServerName::try_from(host.to_string())?,
                &[],
                UnixTime::now(),
            )
            .with_context(|| {
                format!("the certificate for {host} does not chain to pebble's root")
            })?;
        Ok(leaf.to_vec())
    }

    /// What the controller, pebble and the DNS server logged, for a failure's message.
    pub fn logs(&self) -> String {
        format!(
            "--- cert-manager controller (last 60 lines):\n{}\n--- pebble:\n{}\n--- pebble-challtestsrv:\n{}",
            tail(&self.controller.output(), 60),
            tail(&self.pebble.output(), 40),
            tail(&self.challtestsrv.output(), 20),
        )
    }

    /// The directory holding the logs.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Acme {
    fn drop(&mut self) {
        self.controller.stop();
        self.pebble.stop();
        self.challtestsrv.stop();
        self.relay.abort();
    }
}

/// Waits until the ClusterIssuer `name` is Ready (its ACME account registered).
pub async fn issuer_ready(cluster: &TestCluster, name: &str) -> anyhow::Result<()> {
    eventually(
        WAIT,
        &format!("ClusterIssuer {name} to be Ready"),
        || async {
            Ok(ready(&kubectl_json(cluster, &["get", "clusterissuer", name])?).then_some(()))
        },
    )
    .await
}

/// Waits until a new TLS connection with SNI `host` through the HTTPS node port gets `leaf`
/// and its request for / is routed to frontend-svc (examples/seed.yaml).
pub async fn served(seed: &Seed, host: &str, leaf: &[u8]) -> anyhow::Result<()> {
    eventually(
        WAIT,
        &format!("Sluice to serve the issued certificate for {host}"),
        || async {
            let (reply, tls) =
                client::https_get(seed.https(), host, host, "/", &["http/1.1"], &[]).await?;
            Ok((tls.leaf == leaf && reply.server().as_deref() == Some("frontend")).then_some(()))
        },
    )
    .await
}

fn kubectl_json(cluster: &TestCluster, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = cluster.kubectl(&all)?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn ready(object: &Value) -> bool {
    condition(object, "Ready").is_some_and(|c| c["status"] == "True")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0").await?.local_addr()?)
}

/// A loopback port free for both UDP and TCP (a DNS server listens on both).
async fn free_udp_and_tcp_port() -> anyhow::Result<SocketAddr> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let addr = tcp.local_addr()?;
        if UdpSocket::bind(addr).await.is_ok() {
            return Ok(addr);
        }
    }
    anyhow::bail!("no loopback port free for both UDP and TCP")
}

async fn wait_listening(addr: SocketAddr, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within 30s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Forwards every connection to `target`, both ways, until aborted.
async fn relay(listener: TcpListener, target: SocketAddr) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}
