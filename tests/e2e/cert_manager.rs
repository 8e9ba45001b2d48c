//! Automatic TLS with cert-manager, end to end, with nothing standing in: the chart's
//! Sluice on a real node (tests/src/seed.rs), cert-manager's controller and the pebble ACME
//! server built from their Go modules (tests/src/acme.rs), cert-manager's HTTP-01 solver
//! pods on the node.
//!
//! 1. A ClusterIssuer whose HTTP-01 solver names Sluice's class (`ingressClassName: sluice`),
//!    and an Ingress for secure.example.test asking it for a certificate
//!    (`cert-manager.io/cluster-issuer`, spec.tls[].secretName).
//! 2. cert-manager creates its solver Ingress, pod and Service; the webhook admits the
//!    Ingress and Sluice serves /.well-known/acme-challenge/<token> for the host over plain
//!    HTTP; pebble validates through it and cert-manager writes the Secret.
//! 3. Sluice serves the new certificate by SNI, chained to pebble's root, without a restart.
//! 4. A renewal (cert-manager's manual trigger, as `cmctl renew` does), validated through
//!    Sluice again: the new certificate is served live, and a TLS connection that keeps
//!    making requests across the swap is never dropped.
//! 5. The same with the older solver form, `class: sluice` (the `kubernetes.io/ingress.class`
//!    annotation on the solver Ingress).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sluice_tests::TestCluster;
use sluice_tests::acme::{Acme, issuer_ready, served};
use sluice_tests::client::{get, tls_connect};
use sluice_tests::seed::{FLEET, NAMESPACE, Seed};

const SECURE: &str = "secure.example.test";
const LEGACY: &str = "legacy.example.test";

#[tokio::test]
async fn cert_manager_issues_and_renews_certificates_that_sluice_serves() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut progress = move |what: &str| {
        eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
    };
    let seed = Seed::start(&mut progress, &[]).await?;
    let acme = Acme::start_on_seed(&seed, &[SECURE, LEGACY], &mut progress).await?;
    let solvers = SolverWatch::start(&seed);
    let result = steps(&seed, &acme, &solvers, &mut progress).await;
    solvers.stop();
    if result.is_err() {
        eprintln!(
            "solver Ingresses seen:\n{:#?}\n{}\nlogs in {}",
            solvers.seen(),
            acme.logs(),
            acme.dir().display()
        );
        for what in [
            "challenges.acme.cert-manager.io",
            "orders.acme.cert-manager.io",
            "certificates.cert-manager.io",
            "events",
        ] {
            if let Ok(out) = seed.cluster.kubectl(&["get", what, "-A", "-o", "wide"]) {
                eprintln!("--- {what}:\n{}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
    progress("done");
    result
}

async fn steps(
    seed: &Seed,
    acme: &Acme,
    solvers: &SolverWatch,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let cluster = &seed.cluster;
    progress("ClusterIssuers pebble (ingressClassName: sluice) and pebble-legacy (class: sluice)");
    cluster.apply(&[
        acme.cluster_issuer("pebble", json!({ "ingressClassName": "sluice" })),
        acme.cluster_issuer("pebble-legacy", json!({ "class": "sluice" })),
    ])?;
    for issuer in ["pebble", "pebble-legacy"] {
        issuer_ready(cluster, issuer).await?;
    }

    progress("Ingress secure.example.test with cert-manager.io/cluster-issuer: pebble");
    let asked = Instant::now();
    admit(
        cluster,
        &tls_ingress("secure", SECURE, "pebble", "secure-example-tls"),
    )
    .await?;
    let first = acme
        .issued(cluster, "secure-example-tls", SECURE, 1)
        .await?;
    let ready = asked.elapsed();
    progress("certificate issued; waiting for Sluice to serve it by SNI");
    served(seed, SECURE, &first).await?;
    timing("first issuance", "Ingress admitted", ready, asked.elapsed());
    let issuance = check_solvers(solvers, SECURE, Class::Field, &[])?;
    // Now that the certificate can be used, plain HTTP to the host is redirected: the
    // renewal's challenge below must be exempt from that.
    let plain = get(seed.http(), SECURE, "/").await?;
    anyhow::ensure!(
        plain.status == 308,
        "plain HTTP to {SECURE} / answered {} rather than the redirect to HTTPS",
        plain.status
    );

    progress("renewal under a TLS connection that keeps making requests");
    let held = HeldConnection::open(seed, SECURE).await?;
    anyhow::ensure!(
        held.leaf == first,
        "the held connection did not get the issued certificate"
    );
    let (stop_held, held_task) = held.keep_requesting();
    let asked = Instant::now();
    renew(cluster, "secure-example-tls")?;
    let second = acme
        .issued(cluster, "secure-example-tls", SECURE, 2)
        .await?;
    let ready = asked.elapsed();
    anyhow::ensure!(second != first, "the renewal wrote the same certificate");
    progress("renewed; waiting for Sluice to serve the new certificate");
    served(seed, SECURE, &second).await?;
    timing("renewal", "renewal asked for", ready, asked.elapsed());
    // A few more requests on the held connection after the swap.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_held.send(true)?;
    let (requests, failure) = held_task.await?;
    anyhow::ensure!(
        failure.is_none(),
        "the TLS connection held across the certificate swap failed after {requests} requests: {failure:?}"
    );
    anyhow::ensure!(
        requests >= 5,
        "only {requests} requests on the held connection"
    );
    progress(&format!(
        "{requests} requests on the held connection, none failed"
    ));
    // Validated afresh (pebble reuses no authorization), through Sluice, with the
    // certificate in use and plain HTTP redirected for every other path.
    check_solvers(solvers, SECURE, Class::Field, &issuance).context("the renewal's challenge")?;

    progress("Ingress legacy.example.test with the ClusterIssuer of the class: sluice form");
    admit(
        cluster,
        &tls_ingress("legacy", LEGACY, "pebble-legacy", "legacy-example-tls"),
    )
    .await?;
    let legacy = acme
        .issued(cluster, "legacy-example-tls", LEGACY, 1)
        .await?;
    served(seed, LEGACY, &legacy).await?;
    check_solvers(solvers, LEGACY, Class::Annotation, &[])?;
    // The first host's certificate is still the one served for it.
    served(seed, SECURE, &second).await?;
    report_proxy_log(cluster);
    for solver in solvers.seen() {
        let answered: BTreeMap<u16, usize> =
            solver
                .answers
                .iter()
                .fold(BTreeMap::new(), |mut counts, (status, _)| {
                    *counts.entry(*status).or_default() += 1;
                    counts
                });
        eprintln!(
            "solver Ingress {} for {} (ingressClassName {:?}, kubernetes.io/ingress.class {:?}): \
             probes of its path over plain HTTP answered {answered:?}",
            solver.name, solver.host, solver.ingress_class_name, solver.class_annotation
        );
    }
    Ok(())
}

/// The figures of docs/benchmarks.md: from `from` to the Certificate seen Ready (kubectl
/// polls: cert-manager's and pebble's share, give or take a poll), and to the first TLS
/// handshake through Sluice that gets the new certificate (Sluice's share is the difference,
/// within one poll of 200 ms plus a handshake).
fn timing(what: &str, from: &str, ready: Duration, served: Duration) {
    eprintln!(
        "TIMING {what}: {from} -> Certificate Ready {:.1} s -> served by SNI {:.1} s (+{:.2} s)",
        ready.as_secs_f64(),
        served.as_secs_f64(),
        (served - ready).as_secs_f64()
    );
}

/// What the proxy logged about the Secrets that did not exist yet when their Ingresses came
/// (for a person reading the output: an error loop would show here).
fn report_proxy_log(cluster: &TestCluster) {
    let Ok(out) = cluster.kubectl(&[
        "logs",
        "-n",
        NAMESPACE,
        &format!("deployment/{FLEET}"),
        "--tail=-1",
    ]) else {
        return;
    };
    let log = String::from_utf8_lossy(&out.stdout);
    let about: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("secure-example-tls") || l.contains("legacy-example-tls"))
        .collect();
    eprintln!(
        "the proxy logged {} lines ({} in all) about the issued Secrets; the first 10:\n{}",
        about.len(),
        log.lines().count(),
        about
            .iter()
            .take(10)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// An Ingress of class sluice for `host` → frontend-svc (examples/seed.yaml), asking the
/// ClusterIssuer `issuer` for the certificate in Secret `secret`.
fn tls_ingress(name: &str, host: &str, issuer: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": { "cert-manager.io/cluster-issuer": issuer },
        },
        "spec": {
            "ingressClassName": "sluice",
            "tls": [ { "hosts": [host], "secretName": secret } ],
            "rules": [ { "host": host, "http": { "paths": [ {
                "path": "/", "pathType": "Prefix",
                "backend": { "service": { "name": "frontend-svc", "port": { "number": 80 } } },
            } ] } } ],
        }
    })
}

/// Applies an Ingress through the webhook; a refusal fails the test with its message.
async fn admit(cluster: &TestCluster, ingress: &Value) -> anyhow::Result<()> {
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &ingress.to_string())?;
    anyhow::ensure!(
        out.status.success(),
        "the Ingress was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// cert-manager's manual renewal, as `cmctl renew` does it: the Issuing condition, True,
/// reason ManuallyTriggered, on the Certificate's status.
fn renew(cluster: &TestCluster, name: &str) -> anyhow::Result<()> {
    let now = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()?;
    let patch = json!([{ "op": "add", "path": "/status/conditions/-", "value": {
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": String::from_utf8_lossy(&now.stdout).trim(),
    } }]);
    let out = cluster.kubectl(&[
        "patch",
        "certificate",
        name,
        "-n",
        "default",
        "--subresource=status",
        "--type=json",
        "-p",
        &patch.to_string(),
    ])?;
    anyhow::ensure!(
        out.status.success(),
        "triggering the renewal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A keep-alive HTTP/1.1 connection over TLS, and the certificate it was handshaken with.
struct HeldConnection {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    leaf: Vec<u8>,
    host: String,
}

impl HeldConnection {
    async fn open(seed: &Seed, host: &str) -> anyhow::Result<Self> {
        let tls = tls_connect(seed.https(), host, &["http/1.1"]).await?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let mut held = Self {
            sender,
            leaf,
            host: host.to_string(),
        };
        held.request().await?;
        Ok(held)
    }

    async fn request(&mut self) -> anyhow::Result<()> {
        self.sender.ready().await?;
        let request = Request::get("/")
            .header("host", &self.host)
            .body(Empty::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        anyhow::ensure!(status == 200, "answered {status}");
        Ok(())
    }

    /// Makes a request every 250 ms until told to stop; returns how many succeeded and the
    /// first failure.
    fn keep_requesting(
        mut self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<(usize, Option<String>)>,
    ) {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut requests = 0;
            loop {
                if let Err(e) = self.request().await {
                    return (requests, Some(format!("{e:#}")));
                }
                requests += 1;
                tokio::select! {
                    _ = stopped.changed() => return (requests, None),
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        });
        (stop, task)
    }
}

/// What a solver Ingress looked like, and what Sluice answered on its path over plain HTTP.
#[derive(Debug, Clone)]
struct Solver {
    name: String,
    host: String,
    path: String,
    ingress_class_name: Option<String>,
    class_annotation: Option<String>,
    /// Status and body of each probe through the HTTP node port.
    answers: Vec<(u16, String)>,
}

enum Class {
    Field,
    Annotation,
}

/// Watches for cert-manager's solver Ingresses (label acme.cert-manager.io/http01-solver)
/// and probes each one's challenge path through the proxy while it exists.
struct SolverWatch {
    seen: Arc<Mutex<BTreeMap<String, Solver>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SolverWatch {
    fn start(seed: &Seed) -> Self {
        let seen: Arc<Mutex<BTreeMap<String, Solver>>> = Arc::default();
        let kubeconfig = seed.cluster.kubeconfig().to_path_buf();
        let http = seed.http();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let out = tokio::process::Command::new(
                    sluice_tests::tools::tool("kubectl").expect("kubectl"),
                )
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args([
                    "get",
                    "ingress",
                    "-A",
                    "-l",
                    "acme.cert-manager.io/http01-solver=true",
                    "-o",
                    "json",
                ])
                .output()
                .await;
                let list: Value = out
                    .ok()
                    .and_then(|o| serde_json::from_slice(&o.stdout).ok())
                    .unwrap_or(Value::Null);
                for item in list["items"].as_array().into_iter().flatten() {
                    let rule = &item["spec"]["rules"][0];
                    let solver = Solver {
                        name: item["metadata"]["name"].as_str().unwrap_or("").to_string(),
                        host: rule["host"].as_str().unwrap_or("").to_string(),
                        path: rule["http"]["paths"][0]["path"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                        ingress_class_name: item["spec"]["ingressClassName"]
                            .as_str()
                            .map(str::to_string),
                        class_annotation:
                            item["metadata"]["annotations"]["kubernetes.io/ingress.class"]
                                .as_str()
                                .map(str::to_string),
                        answers: Vec::new(),
                    };
                    let answer = match get(http, &solver.host, &solver.path).await {
                        Ok(reply) => (reply.status, reply.body),
                        Err(e) => (0, format!("{e:#}")),
                    };
                    let mut seen = record.lock().unwrap();
                    let entry = seen.entry(solver.name.clone()).or_insert(solver);
                    entry.answers.push(answer);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { seen, task }
    }

    fn seen(&self) -> Vec<Solver> {
        self.seen.lock().unwrap().values().cloned().collect()
    }

    fn stop(&self) {
        self.task.abort();
    }
}

/// The solver Ingresses for `host` (other than those named in `before`) named Sluice's
/// class the expected way, and Sluice served the key (`<token>.<thumbprint>`) on their
/// challenge path over plain HTTP. Returns the names of every solver Ingress seen for `host`.
fn check_solvers(
    solvers: &SolverWatch,
    host: &str,
    class: Class,
    before: &[String],
) -> anyhow::Result<Vec<String>> {
    let all: Vec<Solver> = solvers
        .seen()
        .into_iter()
        .filter(|s| s.host == host)
        .collect();
    let names = all.iter().map(|s| s.name.clone()).collect();
    let seen: Vec<Solver> = all
        .into_iter()
        .filter(|s| !before.contains(&s.name))
        .collect();
    anyhow::ensure!(!seen.is_empty(), "no solver Ingress for {host} was seen");
    for solver in &seen {
        match class {
            Class::Field => anyhow::ensure!(
                solver.ingress_class_name.as_deref() == Some("sluice"),
                "{solver:?}"
            ),
            Class::Annotation => anyhow::ensure!(
                solver.class_annotation.as_deref() == Some("sluice")
                    && solver.ingress_class_name.is_none(),
                "{solver:?}"
            ),
        }
        if solver.answers.iter().any(|(status, _)| *status == 308) {
            eprintln!(
                "NOTE: Sluice redirected the challenge path of {} (308): {:?}",
                solver.name, solver.answers
            );
        }
    }
    let token_served = seen.iter().any(|solver| {
        let token = solver.path.rsplit('/').next().unwrap_or("");
        solver
            .answers
            .iter()
            .any(|(status, body)| *status == 200 && body.starts_with(&format!("{token}.")))
    });
    anyhow::ensure!(
        token_served,
        "Sluice never answered a challenge for {host} with its key over plain HTTP: {seen:#?}"
    );
    Ok(names)
}
