//! Admission review latency over HTTPS, with 10 and with 10,000 Ingresses (50,000 rules)
//! in the conflict index: the real webhook server and decision code, a keep-alive TLS
//! client, one review at a time. `bench/webhook.sh` runs it in release mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::{Value, json};
use sluice_webhook::certs::ReloadingCert;
use sluice_webhook::server::{Webhook, router, serve_tls};

const RULES_PER_INGRESS: usize = 5;

fn ingress(i: usize, rules: usize) -> Value {
    let paths: Vec<Value> = (0..rules)
        .map(|p| {
            json!({ "path": format!("/p{p}"), "pathType": "Prefix",
            "backend": { "service": { "name": format!("svc-{i}"), "port": { "number": 80 } } } })
        })
        .collect();
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": { "name": format!("ing-{i}"), "namespace": format!("ns-{}", i % 100),
                      "creationTimestamp": "2025-01-01T00:00:00Z" },
        "spec": { "ingressClassName": "sluice", "rules": [{ "host": format!("host-{i}.example.com"), "http": { "paths": paths } }] }
    })
}

fn review(object: &Value, uid: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("bench-{uid}"),
            "kind": { "group": "networking.k8s.io", "version": "v1", "kind": "Ingress" },
            "resource": { "group": "networking.k8s.io", "version": "v1", "resource": "ingresses" },
            "namespace": object["metadata"]["namespace"], "name": object["metadata"]["name"],
            "operation": "CREATE", "userInfo": { "username": "bench" }, "object": object
        }
    }))
    .expect("serialisable")
}

struct Result {
    ingresses: usize,
    rules: usize,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    per_second: f64,
    denied: usize,
}

async fn run(ingresses: usize, requests: usize, dir: &std::path::Path) -> anyhow::Result<Result> {
    let webhook = Webhook::new(Default::default(), sluice_crds::names::CONTROLLER_NAME);
    {
        let mut index = webhook.index.write().unwrap_or_else(|e| e.into_inner());
        let class: IngressClass = serde_json::from_value(json!({
            "metadata": { "name": "sluice" }, "spec": { "controller": "sluice.dev/ingress-controller" }
        }))?;
        index.set_classes([&class]);
        for i in 0..ingresses {
            let ing: Ingress = serde_json::from_value(ingress(i, RULES_PER_INGRESS))?;
            index.apply(Arc::new(ing));
        }
    }
    let rules = webhook
        .index
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .rules();

    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
    let (cert_file, key_file) = (dir.join("bench.crt"), dir.join("bench.key"));
    std::fs::write(&cert_file, cert.pem())?;
    std::fs::write(&key_file, key.serialize_pem())?;
    let certificate = Arc::new(ReloadingCert::new(&cert_file, &key_file)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve_tls(listener, router(webhook), certificate));

    // One keep-alive TLS connection, as the API server holds one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp)
        .await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);

    // Half new Ingresses (allowed), half claiming an indexed rule (denied, with a message).
    let bodies: Vec<Bytes> = (0..256)
        .map(|n| {
            let target = if n % 2 == 0 {
                ingresses + n
            } else {
                (n * 37) % ingresses.max(1)
            };
            let mut object = ingress(target, RULES_PER_INGRESS);
            object["metadata"]["name"] = json!(format!("candidate-{n}"));
            Bytes::from(review(&object, n))
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    let mut denied = 0;
    let warmup = requests / 10;
    let started = Instant::now();
    for n in 0..requests + warmup {
        let body = bodies[n % bodies.len()].clone();
        let request = http::Request::post("/validate/ingress")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let t = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        let elapsed = t.elapsed();
        if n >= warmup {
            latencies.push(elapsed);
            if bytes.windows(15).any(|w| w == b"\"allowed\":false") {
                denied += 1;
            }
        }
    }
    let total = started.elapsed();
    server.abort();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(Result {
        ingresses,
        rules,
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        per_second: (requests + warmup) as f64 / total.as_secs_f64(),
        denied,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    println!(
        "| Ingresses in the index | rules | reviews | p50 | p99 | p99.9 | reviews/s (one connection) | denied |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for ingresses in [10, 10_000] {
        let r = run(ingresses, requests, dir.path()).await?;
        println!(
            "| {} | {} | {requests} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} | {} |",
            r.ingresses,
            r.rules,
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
            r.p999.as_secs_f64() * 1e6,
            r.per_second,
            r.denied
        );
    }
    Ok(())
}
