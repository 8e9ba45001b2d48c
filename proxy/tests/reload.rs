//! Live reload: the route table is replaced while requests flow, without failing any; a
//! broken manifest keeps the last good routes; SIGTERM drains requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_tests::client::{Http1, get};
use sluice_tests::objects::{ingress, path, service_with_endpoints, write_manifest};
use sluice_tests::{Proxy, Upstream};

/// The objects of generation `n`: `/` goes to `blue` on even generations and `green` on
/// odd ones, and `n` extra Ingresses come and go beside it.
fn generation(n: usize, blue: &Upstream, green: &Upstream) -> Vec<serde_json::Value> {
    let target = if n.is_multiple_of(2) { "blue" } else { "green" };
    let mut objects = vec![ingress(
        "shop",
        "app",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path("/", "Prefix", target, 80)],
        )],
    )];
    for i in 0..(n % 7) {
        let host = format!("extra-{i}.example.com");
        objects.push(ingress(
            "shop",
            &format!("extra-{i}"),
            "sluice",
            &[(Some(host.as_str()), vec![path("/", "Prefix", "blue", 80)])],
        ));
    }
    objects.extend(service_with_endpoints("shop", "blue", 80, &[blue.addr]));
    objects.extend(service_with_endpoints("shop", "green", 80, &[green.addr]));
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rewriting_routes_under_load_fails_no_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blue = Upstream::start("blue", "127.0.0.2")?;
    let green = Upstream::start("green", "127.0.0.3")?;
    let file = dir.path().join("routes.yaml");
    write_manifest(&file, &generation(0, &blue, &green))?;
    let proxy = Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await?;
    let reloads_before = proxy.metric("sluice_proxy_route_reloads_total").await?;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, addr) = (stop.clone(), ok.clone(), proxy.http);
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            // Keep-alive connections: open connections must survive the swaps too.
            let mut conn = Http1::connect(addr).await.expect("connect");
            while !stop.load(Ordering::Relaxed) {
                match conn.get("app.example.com", "/").await {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("{} {}", r.status, r.body)),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        }));
    }

    let rewrites = 300;
    for n in 1..=rewrites {
        write_manifest(&file, &generation(n, &blue, &green))?;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await?);
    }

    let reloads = proxy.metric("sluice_proxy_route_reloads_total").await? - reloads_before;
    let served = ok.load(Ordering::Relaxed);
    eprintln!(
        "{served} requests, {reloads} reloads, {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        reloads >= 100.0,
        "only {reloads} reloads of {rewrites} rewrites"
    );
    assert!(served > 1000, "only {served} requests");
    assert!(
        blue.requests() > 0 && green.requests() > 0,
        "both generations served traffic"
    );
    // The last generation (300, even) sends everything to blue.
    assert_eq!(
        get(proxy.http, "app.example.com", "/")
            .await?
            .server()
            .as_deref(),
        Some("blue")
    );
    Ok(())
}

#[tokio::test]
async fn a_broken_manifest_keeps_the_last_good_routes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blue = Upstream::start("blue", "127.0.0.2")?;
    let green = Upstream::start("green", "127.0.0.3")?;
    let file = dir.path().join("routes.yaml");
    write_manifest(&file, &generation(0, &blue, &green))?;
    let proxy = Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await?;
    assert_eq!(
        get(proxy.http, "app.example.com", "/")
            .await?
            .server()
            .as_deref(),
        Some("blue")
    );

    // In one step: a truncated file would be a valid, empty manifest.
    sluice_tests::objects::write_atomically(
        &file,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nspec: [this is not an Ingress\n",
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy
        .metric("sluice_proxy_config_source_errors_total")
        .await?
        < 1.0
    {
        assert!(Instant::now() < deadline, "the broken file was not noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        get(proxy.http, "app.example.com", "/")
            .await?
            .server()
            .as_deref(),
        Some("blue")
    );
    assert!(
        proxy
            .output()
            .contains("still serving the last good routes")
    );

    write_manifest(&file, &generation(1, &blue, &green))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let server = get(proxy.http, "app.example.com", "/").await?.server();
        if server.as_deref() == Some("green") {
            break;
        }
        assert!(Instant::now() < deadline, "the fixed file was not loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blue = Upstream::start("blue", "127.0.0.2")?;
    let green = Upstream::start("green", "127.0.0.3")?;
    let file = dir.path().join("routes.yaml");
    write_manifest(&file, &generation(0, &blue, &green))?;
    let mut proxy = Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await?;

    let addr = proxy.http;
    let in_flight =
        tokio::spawn(async move { get(addr, "app.example.com", "/slow?ms=1500").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = proxy.pid().expect("running") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )?;

    let reply = in_flight.await??;
    assert_eq!(
        reply.status, 200,
        "the request in flight completes: {}",
        reply.body
    );
    // New connections are refused once draining began.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let deadline = Instant::now() + Duration::from_secs(4);
    while !proxy.exited() {
        assert!(
            Instant::now() < deadline,
            "the proxy did not exit once drained:\n{}",
            proxy.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = proxy.terminate().expect("an exit status");
    assert!(status.success(), "{status}");
    Ok(())
}
