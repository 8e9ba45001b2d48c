//! Endpoint churn without recompiling routes: when only an EndpointSlice changes, the
//! proxy swaps the endpoint list of the backends in place (counted by
//! `sluice_proxy_endpoint_updates_total`) and every path sees it at once: the HTTP/1.1 fast
//! path, Pingora's HTTP/1.1 path (a chunked POST) and HTTP/2. Changes that cannot change
//! routing are ignored. SIGINT closes the listeners once and exits.

use std::time::{Duration, Instant};

use serde_json::json;
use sluice_tests::client::{Http1, get, https_get, raw_exchange};
use sluice_tests::objects::{everything_to, write_manifest};
use sluice_tests::{Proxy, Upstream};

const RELOADS: &str = "sluice_proxy_route_reloads_total";
const ENDPOINT_UPDATES: &str = "sluice_proxy_endpoint_updates_total";
const IGNORED: &str = "sluice_proxy_config_changes_ignored_total";

/// Which upstream a chunked POST (which the fast path leaves to Pingora) reached.
async fn chunked_post(proxy: &Proxy) -> anyhow::Result<String> {
    let raw = raw_exchange(
        proxy.http,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          3\r\nabc\r\n0\r\n\r\n",
    )
    .await?;
    anyhow::ensure!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body)
        .or_else(|_| serde_json::from_str(body.lines().nth(1).unwrap_or_default()))?;
    Ok(json["server"].as_str().unwrap_or_default().to_string())
}

/// Which upstream an HTTP/2 request reached.
async fn h2_get(proxy: &Proxy) -> anyhow::Result<String> {
    let (reply, tls) = https_get(proxy.https, "a", "a", "/", &["h2"], &[]).await?;
    anyhow::ensure!(
        tls.alpn.as_deref() == Some("h2"),
        "not HTTP/2: {:?}",
        tls.alpn
    );
    anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
    Ok(reply.server().unwrap_or_default())
}

async fn wait_for(proxy: &Proxy, metric: &str, at_least: f64, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.metric(metric).await? < at_least {
        anyhow::ensure!(Instant::now() < deadline, "{what}:\n{}", proxy.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_endpoint_change_reaches_every_path_without_a_recompile() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blue = Upstream::start("blue", "127.0.0.2")?;
    let green = Upstream::start("green", "127.0.0.3")?;
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[blue.addr]))?;
    let proxy = Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await?;

    // A kept-alive client connection, and through it a kept-alive upstream connection to
    // blue in the fast path's pool.
    let mut kept = Http1::connect(proxy.http).await?;
    assert_eq!(kept.get("a", "/").await?.server().as_deref(), Some("blue"));
    assert_eq!(chunked_post(&proxy).await?, "blue");
    assert_eq!(h2_get(&proxy).await?, "blue");
    let reloads = proxy.metric(RELOADS).await?;
    let updates = proxy.metric(ENDPOINT_UPDATES).await?;
    assert_eq!(reloads, 1.0);

    // The rolling update: blue's pod is replaced by green's.
    write_manifest(&file, &everything_to(&[green.addr]))?;
    wait_for(
        &proxy,
        ENDPOINT_UPDATES,
        updates + 1.0,
        "no endpoint update",
    )
    .await?;

    let blue_served = blue.requests();
    for _ in 0..5 {
        assert_eq!(
            get(proxy.http, "a", "/").await?.server().as_deref(),
            Some("green")
        );
        assert_eq!(kept.get("a", "/").await?.server().as_deref(), Some("green"));
        assert_eq!(chunked_post(&proxy).await?, "green");
        assert_eq!(h2_get(&proxy).await?, "green");
    }
    assert_eq!(
        blue.requests(),
        blue_served,
        "the removed endpoint got requests"
    );
    assert_eq!(
        proxy.metric(RELOADS).await?,
        reloads,
        "the routes were recompiled"
    );

    // No endpoint left: 503 saying why, still without a recompile.
    write_manifest(&file, &everything_to(&[]))?;
    wait_for(
        &proxy,
        ENDPOINT_UPDATES,
        updates + 2.0,
        "no endpoint update",
    )
    .await?;
    let reply = get(proxy.http, "a", "/").await?;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(
        reply.body,
        "503 Service Unavailable: Service shop/svc has no ready endpoints\n"
    );
    assert_eq!(proxy.metric(RELOADS).await?, reloads);
    Ok(())
}

#[tokio::test]
async fn changes_that_cannot_change_routing_are_ignored_and_route_changes_recompile()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blue = Upstream::start("blue", "127.0.0.2")?;
    let file = dir.path().join("objects.yaml");
    let mut objects = everything_to(&[blue.addr]);
    write_manifest(&file, &objects)?;
    let proxy = Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await?;
    let reloads = proxy.metric(RELOADS).await?;
    let updates = proxy.metric(ENDPOINT_UPDATES).await?;

    // Status, labels and an annotation Sluice does not read.
    objects[0]["metadata"]["labels"] = json!({ "team": "a" });
    objects[0]["metadata"]["annotations"] = json!({ "example.com/owner": "team-a" });
    objects[0]["status"] = json!({ "loadBalancer": { "ingress": [{ "ip": "10.0.0.1" }] } });
    write_manifest(&file, &objects)?;
    wait_for(&proxy, IGNORED, 1.0, "the change was not seen").await?;
    assert_eq!(proxy.metric(RELOADS).await?, reloads);
    assert_eq!(proxy.metric(ENDPOINT_UPDATES).await?, updates);

    // An annotation Sluice reads: the routes are recompiled.
    objects[0]["metadata"]["annotations"]["sluice.dev/read-timeout"] = json!("5s");
    write_manifest(&file, &objects)?;
    wait_for(&proxy, RELOADS, reloads + 1.0, "no recompile").await?;
    assert_eq!(
        get(proxy.http, "a", "/").await?.server().as_deref(),
        Some("blue")
    );
    Ok(())
}

#[tokio::test]
async fn sigint_closes_the_listeners_once_and_exits() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blue = Upstream::start("blue", "127.0.0.2")?;
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[blue.addr]))?;
    // Several times: whether a listener and its accept loop share a runtime is chance.
    for _ in 0..3 {
        let mut proxy = Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await?;
        assert_eq!(get(proxy.http, "a", "/").await?.status, 200);
        let _ = h2_get(&proxy).await?;
        let pid = proxy.pid().expect("running") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        )?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !proxy.exited() {
            assert!(
                Instant::now() < deadline,
                "the proxy did not exit after SIGINT:\n{}",
                proxy.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let output = proxy.output();
        assert!(!output.contains("Accept() failed"), "{output}");
        assert!(output.contains("SIGINT: stopping"), "{output}");
    }
    Ok(())
}
