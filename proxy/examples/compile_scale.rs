//! How long the proxy takes to react to a change with 10,000 Ingresses in the cluster:
//! a full compile of the route table, and an endpoint-only update (one Service's
//! EndpointSlice rewritten, as in a rolling update). In memory, no cluster.
//!
//! ```text
//! cargo run --release -p sluice-proxy --example compile_scale [INGRESSES] [RUNS]
//! ```
//!
//! Each Ingress has its own host with two paths (`/api` and `/`) to its own Service, whose
//! EndpointSlice has 3 ready endpoints; one Service (the rolling one) has 100.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::json;
use sluice_proxy::compile::{CompileOptions, backends, compile};
use sluice_proxy::objects::{ObjectSet, ServiceSet};
use sluice_proxy::source::relevance::SeenSet;

// As in the proxy binary: the compiler allocates a lot, and the allocator shows.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let ingresses: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(9);
    let mut objects = objects(ingresses)?;
    let options = CompileOptions {
        class: "sluice".into(),
        controller: sluice_crds::names::CONTROLLER_NAME.into(),
        ssl_redirect: true,
        allowed_response_headers: Vec::new(),
    };
    println!(
        "{ingresses} Ingresses, {} objects, {} build",
        objects.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    let mut table = None;
    let full = median(runs, || {
        let compiled = compile(&objects, &options);
        assert!(
            compiled.problems.is_empty(),
            "{:?}",
            compiled.problems.first()
        );
        table = Some(compiled.table);
    });
    let table = table.ok_or_else(|| anyhow::anyhow!("no run"))?;
    println!(
        "full compile:          median {:>9.3} ms over {runs} runs ({} routes)",
        ms(full),
        table.route_count()
    );
    // For profiling the compiler alone.
    if std::env::var_os("COMPILE_ONLY").is_some() {
        return Ok(());
    }

    // The rolling Service's slice, alternating between two generations of its 100 pods,
    // so that every update really swaps a new list in.
    let rolling = ingresses / 2;
    let slice_index = objects
        .endpoint_slices
        .iter()
        .position(|s| s.metadata.name.as_deref() == Some(&format!("svc-{rolling}-1")))
        .ok_or_else(|| anyhow::anyhow!("no rolling slice"))?;
    let generations = [
        Arc::new(slice(rolling, 100, 1)?),
        Arc::new(slice(rolling, 100, 2)?),
    ];
    let mut changed = ServiceSet::default();
    changed.insert(&namespace(rolling), &format!("svc-{rolling}"));
    let updates = runs * 20;
    let mut generation = 0;
    let update = median(updates, || {
        generation += 1;
        objects.endpoint_slices[slice_index] = generations[generation % 2].clone();
        let updated = backends::refresh(
            &table.backends,
            &changed,
            objects.services.iter().map(AsRef::as_ref),
            objects.endpoint_slices.iter().map(AsRef::as_ref),
        );
        assert_eq!(updated, 1);
    });
    println!(
        "endpoint-only update:  median {:>9.3} ms over {updates} runs (1 Service of 100 endpoints, scanning all {} slices)",
        ms(update),
        objects.endpoint_slices.len()
    );

    let mut seen = SeenSet::default();
    let relist = median(runs, || {
        seen = SeenSet::default();
        seen.observe(&objects);
    });
    println!(
        "relevance, full list:  median {:>9.3} ms over {runs} runs (fingerprints of every object)",
        ms(relist)
    );
    Ok(())
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn namespace(i: usize) -> String {
    format!("team-{}", i % 100)
}

fn objects(n: usize) -> anyhow::Result<ObjectSet> {
    let class: IngressClass = serde_json::from_value(json!({
        "metadata": { "name": "sluice" },
        "spec": { "controller": "sluice.dev/ingress-controller" }
    }))?;
    let mut set = ObjectSet {
        classes: vec![Arc::new(class)],
        ..ObjectSet::default()
    };
    for i in 0..n {
        let ns = namespace(i);
        let service = format!("svc-{i}");
        let path = |p: &str| {
            json!({ "path": p, "pathType": "Prefix",
                    "backend": { "service": { "name": service, "port": { "number": 80 } } } })
        };
        let ingress: Ingress = serde_json::from_value(json!({
            "metadata": {
                "name": format!("app-{i}"), "namespace": ns,
                "creationTimestamp": format!("2025-01-01T{:02}:{:02}:{:02}Z", i / 3600 % 24, i / 60 % 60, i % 60),
                "annotations": { "sluice.dev/read-timeout": "30s" }
            },
            "spec": {
                "ingressClassName": "sluice",
                "rules": [{ "host": format!("app-{i}.example.com"),
                            "http": { "paths": [path("/api"), path("/")] } }]
            }
        }))?;
        let svc: Service = serde_json::from_value(json!({
            "metadata": { "name": service, "namespace": ns },
            "spec": { "ports": [{ "name": "http", "port": 80, "targetPort": 8080 }] }
        }))?;
        set.ingresses.push(Arc::new(ingress));
        set.services.push(Arc::new(svc));
        let pods = if i == n / 2 { 100 } else { 3 };
        set.endpoint_slices.push(Arc::new(slice(i, pods, 0)?));
    }
    Ok(set)
}

/// The EndpointSlice of Service `svc-{i}`: `pods` ready endpoints of `generation`.
fn slice(i: usize, pods: usize, generation: usize) -> anyhow::Result<EndpointSlice> {
    let endpoints: Vec<_> = (0..pods)
        .map(|p| {
            // Distinct addresses per Service and generation.
            let n = i * pods + p;
            let ip = format!("10.{}.{}.{}", generation, n / 256 % 256, n % 256);
            json!({ "addresses": [ip], "conditions": { "ready": true } })
        })
        .collect();
    Ok(serde_json::from_value(json!({
        "metadata": { "name": format!("svc-{i}-1"), "namespace": namespace(i),
                      "labels": { "kubernetes.io/service-name": format!("svc-{i}") } },
        "addressType": "IPv4",
        "ports": [{ "name": "http", "port": 8080, "protocol": "TCP" }],
        "endpoints": endpoints
    }))?)
}
