//! Route convergence on a real control plane, in cluster mode: the time from creating an
//! Ingress until the proxy routes it, and from deleting it until the proxy answers 404,
//! with 0, 10,000 and 1,000 Ingresses present and during bulk applies; the API writes
//! Sluice causes; the operator's and the proxy's CPU and memory; and, when a backend is
//! given, how fast an endpoint change is used. Every Ingress goes through the admission
//! webhook, as in a real install; a ConfigMap created beside each probe is the baseline for
//! what the webhook adds to a create. `bench/convergence.sh` runs it and provides the
//! backend.
//!
//! The probe Ingresses route to a Service without endpoints, so "routed" is the proxy's
//! 503 for that route instead of its 404 for no route: no request leaves the machine.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sluice_crds::names::CONTROLLER_NAME;
use sluice_tests::bulk::in_parallel;
use sluice_tests::client::Http1;
use sluice_tests::objects::{
    self, endpoint_slice, ingress, ingress_class, namespace, path, service_with_endpoints,
};
use sluice_tests::operator::{
    Operator, WebhookCerts, eventually, ingress_webhook_configuration, install_crds,
};
use sluice_tests::requests::{Writes, growth};
use sluice_tests::usage::usage;
use sluice_tests::{Proxy, TestCluster};

const NS: &str = "sluice-system";
const BULK: &str = "bulk";
const PROBE: &str = "probe";
/// The bulk Ingresses route to `web-N` and `api-N` for N below this.
const SERVICES: usize = 500;
/// How often a probe asks the proxy; the resolution of every figure below.
const POLL: Duration = Duration::from_millis(5);

struct Bench {
    cluster: TestCluster,
    operator: Operator,
    proxy: Proxy,
    bulk: Api<Ingress>,
    probes: Api<Ingress>,
    baseline: Api<ConfigMap>,
}

/// One probe's figures.
struct Sample {
    /// The create request alone (admission included).
    create_call: Duration,
    /// A ConfigMap's create request, just before: the same API path without a webhook.
    baseline_call: Duration,
    routed: Duration,
    gone: Duration,
}

fn bulk_ingress(i: usize) -> anyhow::Result<Ingress> {
    Ok(serde_json::from_value(objects::bulk_ingress(
        BULK, i, SERVICES,
    ))?)
}

/// The bulk Ingresses' Services, each with an EndpointSlice of two endpoints. Nothing is
/// ever sent to them: the addresses are documentation addresses (TEST-NET-2).
async fn services(cluster: &TestCluster) -> anyhow::Result<()> {
    let client = cluster.client().await?;
    let objects: Vec<serde_json::Value> = (0..SERVICES)
        .flat_map(|n| ["web", "api"].map(|kind| (n, kind)))
        .flat_map(|(n, kind)| {
            let name = format!("{kind}-{n}");
            let endpoints: Vec<SocketAddr> = (0..2)
                .map(|e| SocketAddr::from(([198, 51, 100, ((n * 2 + e) % 250 + 1) as u8], 8080)))
                .collect();
            let mut objects = service_with_endpoints(BULK, &name, 80, &endpoints);
            objects[0]["spec"]["ports"][0]["targetPort"] = json!(8080);
            objects
        })
        .collect();
    in_parallel(objects, |object| {
        let client = client.clone();
        async move {
            let data = serde_json::to_vec(&object)?;
            if object["kind"] == "Service" {
                Api::<Service>::namespaced(client, BULK)
                    .create(&PostParams::default(), &serde_json::from_slice(&data)?)
                    .await?;
            } else {
                Api::<EndpointSlice>::namespaced(client, BULK)
                    .create(&PostParams::default(), &serde_json::from_slice(&data)?)
                    .await?;
            }
            Ok(())
        }
    })
    .await
}

/// Creates (or deletes) the bulk Ingresses `range`, many requests at a time.
async fn bulk(
    api: &Api<Ingress>,
    range: std::ops::Range<usize>,
    create: bool,
) -> anyhow::Result<()> {
    in_parallel(range, |i| {
        let api = api.clone();
        async move {
            if create {
                api.create(&PostParams::default(), &bulk_ingress(i)?)
                    .await?;
            } else {
                api.delete(&format!("i{i}"), &DeleteParams::default())
                    .await?;
            }
            Ok(())
        }
    })
    .await
}

/// Polls `host` on one keep-alive connection until `done(status)`; returns the time.
async fn until(
    proxy: SocketAddr,
    host: &str,
    done: impl Fn(u16) -> bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut client = Http1::connect(proxy).await?;
    loop {
        let status = match client.get(host, "/").await {
            Ok(reply) => reply.status,
            Err(_) => {
                client = Http1::connect(proxy).await?;
                continue;
            }
        };
        if done(status) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "{host} never converged (last status {status})"
        );
        tokio::time::sleep(POLL).await;
    }
}

impl Bench {
    /// One probe: create → routed, then delete → 404.
    async fn probe(&self, n: usize) -> anyhow::Result<Sample> {
        let host = format!("p{n}.probe.example.com");
        let object: Ingress = serde_json::from_value(ingress(
            PROBE,
            &format!("p{n}"),
            "sluice",
            &[(Some(host.as_str()), vec![path("/", "Prefix", "empty", 80)])],
        ))?;
        let map: ConfigMap =
            serde_json::from_value(json!({ "metadata": { "name": format!("p{n}") } }))?;
        let started = Instant::now();
        self.baseline.create(&PostParams::default(), &map).await?;
        let baseline_call = started.elapsed();
        let started = Instant::now();
        self.probes.create(&PostParams::default(), &object).await?;
        let create_call = started.elapsed();
        until(self.proxy.http, &host, |s| s != 404).await?;
        let routed = started.elapsed();
        let started = Instant::now();
        self.probes
            .delete(&format!("p{n}"), &DeleteParams::default())
            .await?;
        until(self.proxy.http, &host, |s| s == 404).await?;
        let gone = started.elapsed();
        self.baseline
            .delete(&format!("p{n}"), &DeleteParams::default())
            .await?;
        Ok(Sample {
            create_call,
            baseline_call,
            routed,
            gone,
        })
    }

    async fn probes(&self, first: usize, count: usize) -> anyhow::Result<Vec<Sample>> {
        let mut out = Vec::with_capacity(count);
        for n in first..first + count {
            out.push(self.probe(n).await?);
        }
        Ok(out)
    }

    /// Waits until the proxy routes `ingresses` Ingresses and the operator has written
    /// every status it needs to, then lets the rest settle.
    async fn settle(&self, ingresses: usize) -> anyhow::Result<()> {
        eventually(
            Duration::from_secs(600),
            "the proxy to load every Ingress",
            || async {
                let loaded = self.proxy.metric("sluice_proxy_ingresses").await?;
                Ok((loaded as usize == ingresses).then_some(()))
            },
        )
        .await?;
        // Quiet: two readings of the operator's write count 2 s apart agree.
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut last = -1.0;
        loop {
            let now = self
                .operator
                .metric("sluice_operator_ingress_status_updates_total")
                .await?;
            if now == last {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the operator's status writes never stopped"
            );
            last = now;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        self.proxy.metric(name).await
    }
}

fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn row(case: &str, samples: &[Sample]) {
    let pick = |f: fn(&Sample) -> Duration| -> Vec<Duration> { samples.iter().map(f).collect() };
    let (calls, baseline) = (pick(|s| s.create_call), pick(|s| s.baseline_call));
    let (routed, gone) = (pick(|s| s.routed), pick(|s| s.gone));
    println!(
        "| {case} | {} | {} ({}) | {} | {} | {} | {} | {} |",
        samples.len(),
        ms(quantile(&calls, 0.5)),
        ms(quantile(&baseline, 0.5)),
        ms(quantile(&routed, 0.5)),
        ms(quantile(&routed, 0.99)),
        ms(quantile(&gone, 0.5)),
        ms(quantile(&gone, 0.99)),
        ms(*routed.iter().chain(&gone).max().unwrap_or(&Duration::ZERO)),
    );
}

fn writes_line(what: &str, writes: &Writes) {
    // Adding to 0.0 turns the empty sum's -0 into 0.
    let total: f64 = writes.values().sum::<f64>() + 0.0;
    println!("- API writes {what}: {total:.0} {writes:?}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trials: usize = std::env::var("BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let large: usize = std::env::var("BENCH_INGRESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let small = large / 10;

    let cluster = TestCluster::start().await?;
    for ns in [NS, BULK, PROBE] {
        cluster.apply(&[namespace(ns)])?;
    }
    install_crds(&cluster)?;
    let client = cluster.client().await?;
    // Published on Ingress statuses only; nothing is ever sent there.
    cluster
        .register_node("n1", &[("InternalIP", "198.51.100.10")])
        .await?;
    cluster.apply(&[
        ingress_class("sluice", CONTROLLER_NAME, None),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "empty", "namespace": PROBE },
                "spec": { "ports": [{ "port": 80 }] } }),
    ])?;
    services(&cluster).await?;
    let certs = WebhookCerts::generate(cluster.dir())?;
    let operator = Operator::start(
        cluster.kubeconfig(),
        Some(&certs),
        &["--namespace", NS],
        cluster.dir(),
    )
    .await?;
    cluster.apply(&[ingress_webhook_configuration(
        &operator.webhook_url("/validate/ingress"),
        &certs.ca_bundle(),
        "Fail",
    )])?;
    let logs = tempfile::tempdir()?;
    let kubeconfig = cluster.kubeconfig().to_string_lossy().into_owned();
    let proxy = Proxy::start(
        &["--kubeconfig", &kubeconfig, "--ingress-class", "sluice"],
        logs.path(),
    )
    .await?;
    let bench = Bench {
        bulk: Api::namespaced(client.clone(), BULK),
        probes: Api::namespaced(client.clone(), PROBE),
        baseline: Api::namespaced(client.clone(), PROBE),
        cluster,
        operator,
        proxy,
    };

    println!(
        "| Ingresses present | probes | create call p50 (ConfigMap baseline) | create → routed p50 | p99 | delete → 404 p50 | p99 | max |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut next = 0;
    bench.settle(0).await?;
    row("0", &bench.probes(next, trials).await?);
    next += trials;

    // A bulk apply, probed while it runs.
    let writes_before = bench.cluster.writes()?;
    let reloads_before = bench.metric("sluice_proxy_route_reloads_total").await?;
    let (operator_before, proxy_before) = (
        usage(bench.operator.pid().unwrap_or_default())?,
        usage(bench.proxy.pid().unwrap_or_default())?,
    );
    let bulk_started = Instant::now();
    let applying = tokio::spawn({
        let api = bench.bulk.clone();
        async move { bulk(&api, 0..large, true).await }
    });
    let mut during = Vec::new();
    while !applying.is_finished() {
        during.push(bench.probe(next).await?);
        next += 1;
    }
    applying.await??;
    let applied_in = bulk_started.elapsed();
    row(
        &format!(
            "during a bulk create of {large} (took {:.0} s)",
            applied_in.as_secs_f64()
        ),
        &during,
    );
    bench.settle(large).await?;
    let bulk_writes = growth(&writes_before, &bench.cluster.writes()?);
    let reloads = bench.metric("sluice_proxy_route_reloads_total").await? - reloads_before;
    let (operator_after, proxy_after) = (
        usage(bench.operator.pid().unwrap_or_default())?,
        usage(bench.proxy.pid().unwrap_or_default())?,
    );
    row(&large.to_string(), &bench.probes(next, trials).await?);
    next += trials;

    // Idle at the large size.
    let idle_from = bench.cluster.writes()?;
    let (operator_idle, proxy_idle) = (
        usage(bench.operator.pid().unwrap_or_default())?,
        usage(bench.proxy.pid().unwrap_or_default())?,
    );
    let idle = Duration::from_secs(30);
    tokio::time::sleep(idle).await;
    let idle_writes = growth(&idle_from, &bench.cluster.writes()?);
    let (operator_idle_end, proxy_idle_end) = (
        usage(bench.operator.pid().unwrap_or_default())?,
        usage(bench.proxy.pid().unwrap_or_default())?,
    );

    // Endpoint churn at the large size; reported with the rest below.
    let churn = match std::env::var("BENCH_BACKENDS")
        .ok()
        .filter(|b| !b.is_empty())
    {
        Some(backends) => {
            let backends: Vec<SocketAddr> = backends
                .split(',')
                .map(|b| b.parse())
                .collect::<Result<_, _>>()?;
            Some(endpoint_churn(&bench, &backends, trials).await?)
        }
        None => None,
    };

    // Down to the small size, probed while the bulk delete runs.
    let deleting = tokio::spawn({
        let api = bench.bulk.clone();
        async move { bulk(&api, small..large, false).await }
    });
    let mut during_delete = Vec::new();
    while !deleting.is_finished() {
        during_delete.push(bench.probe(next).await?);
        next += 1;
    }
    deleting.await??;
    row(
        &format!("during a bulk delete of {}", large - small),
        &during_delete,
    );
    bench.settle(small).await?;
    row(&small.to_string(), &bench.probes(next, trials).await?);

    println!();
    let status_writes = bulk_writes
        .get("APPLY ingresses/status")
        .copied()
        .unwrap_or_default();
    writes_line(
        &format!("during the bulk create of {large}, until settled"),
        &bulk_writes,
    );
    println!(
        "- status writes per Ingress created: {:.2}",
        status_writes / large as f64
    );
    writes_line(
        &format!("in {} s idle with {large} Ingresses", idle.as_secs()),
        &idle_writes,
    );
    println!("- proxy full route compiles during the bulk create: {reloads:.0}");
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let cpu = |a: Duration, b: Duration| (b - a).as_secs_f64();
    println!(
        "- operator at {large}: RSS {:.0} MiB; CPU {:.1} s during the bulk create, {:.1} % of a core idle",
        mib(operator_idle.rss_bytes),
        cpu(operator_before.cpu, operator_after.cpu),
        100.0 * cpu(operator_idle.cpu, operator_idle_end.cpu) / idle.as_secs_f64()
    );
    println!(
        "- proxy at {large}: RSS {:.0} MiB; CPU {:.1} s during the bulk create, {:.1} % of a core idle",
        mib(proxy_idle.rss_bytes),
        cpu(proxy_before.cpu, proxy_after.cpu),
        100.0 * cpu(proxy_idle.cpu, proxy_idle_end.cpu) / idle.as_secs_f64()
    );

    if let Some(line) = churn {
        println!("{line}");
    }
    Ok(())
}

/// A rolling update as the proxy sees it: the Service's EndpointSlice moves to another
/// endpoint, step after step. Timed from the slice's update until every answer comes from
/// the new endpoint (the old one drained).
async fn endpoint_churn(
    bench: &Bench,
    backends: &[SocketAddr],
    steps: usize,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        backends.len() >= 2,
        "BENCH_BACKENDS needs two endpoints or more"
    );
    let port = backends[0].port();
    bench.cluster.apply(&[
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "churn", "namespace": PROBE },
                "spec": { "ports": [{ "name": "http", "port": port }] } }),
        endpoint_slice(PROBE, "churn", "churn-1", &backends[..1], &[]),
        ingress(
            PROBE,
            "churn",
            "sluice",
            &[(Some("churn.probe.example.com"), vec![path("/", "Prefix", "churn", port)])],
        ),
    ])?;
    until(bench.proxy.http, "churn.probe.example.com", |s| s == 200).await?;
    let slices: Api<EndpointSlice> = Api::namespaced(bench.cluster.client().await?, PROBE);
    let reloads_before = bench.metric("sluice_proxy_route_reloads_total").await?;
    let updates_before = bench.metric("sluice_proxy_endpoint_updates_total").await?;
    let mut samples = Vec::new();
    for step in 1..=steps {
        let target = backends[step % backends.len()];
        let slice = endpoint_slice(PROBE, "churn", "churn-1", &[target], &[]);
        let started = Instant::now();
        slices
            .patch(
                "churn-1",
                &PatchParams::apply("sluice-bench").force(),
                &Patch::Apply(&slice),
            )
            .await?;
        let mut client = Http1::connect(bench.proxy.http).await?;
        // Converged when five answers in a row come from the new endpoint: timed to the
        // first of them.
        let mut run_started = None;
        let mut in_a_row = 0;
        while in_a_row < 5 {
            let reply = client.get("churn.probe.example.com", "/").await?;
            if reply.status == 200 && reply.body.trim() == target.ip().to_string() {
                run_started.get_or_insert_with(|| started.elapsed());
                in_a_row += 1;
            } else {
                (run_started, in_a_row) = (None, 0);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "step {step} never converged"
            );
        }
        samples.push(run_started.unwrap_or_default());
    }
    let reloads = bench.metric("sluice_proxy_route_reloads_total").await? - reloads_before;
    let updates = bench.metric("sluice_proxy_endpoint_updates_total").await? - updates_before;
    let present = bench.metric("sluice_proxy_ingresses").await?;
    bench
        .probes
        .delete("churn", &DeleteParams::default())
        .await?;
    Ok(format!(
        "- endpoint change → only the new endpoint answers ({steps} steps, {} Ingresses present): p50 {}, p99 {}, max {}; full route compiles {reloads:.0}, endpoint-only updates {updates:.0}",
        present,
        ms(quantile(&samples, 0.5)),
        ms(quantile(&samples, 0.99)),
        ms(*samples.iter().max().unwrap_or(&Duration::ZERO))
    ))
}
