//! Faults under load, on a real control plane with a real proxy in cluster mode: steady
//! HTTP/1.1 (new and kept-alive connections), HTTP/2 over TLS and WebSocket traffic while
//! the routes are edited a thousand times, and while the API server is out of reach for a
//! minute. Nothing may fail and no WebSocket may drop. The counts are printed for the
//! closing notes (`cargo test -p sluice-tests --test faults -- --nocapture`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use sluice_crds::names::CONTROLLER_NAME;
use sluice_tests::netns::BackendNetwork;
use sluice_tests::objects::{
    certificate, ingress, ingress_class, path, service_with_endpoints, tls_secret,
};
use sluice_tests::operator::eventually;
use sluice_tests::relay::ApiRelay;
use sluice_tests::traffic::{Kind, Load, Tally, Target};
use sluice_tests::{Proxy, TestCluster, Upstream, client};

const HOST: &str = "app.example.com";
const ALL_KINDS: [Kind; 4] = [
    Kind::NewConnections,
    Kind::KeepAlive,
    Kind::Http2,
    Kind::WebSocket,
];

/// The Ingress `app`: `HOST` over TLS, `/` to `service`, and `extra` paths after it.
fn app(service: &str, extra: Vec<Value>) -> Value {
    let mut paths = vec![path("/", "Prefix", service, 80)];
    paths.extend(extra);
    let mut app = ingress("default", "app", "sluice", &[(Some(HOST), paths)]);
    app["spec"]["tls"] = json!([{ "hosts": [HOST], "secretName": "app-tls" }]);
    app
}

/// Two backends, `blue` and `green`, behind Services of their names; `app` routes to blue.
struct Backends {
    blue: Upstream,
    green: Upstream,
    _network: BackendNetwork,
}

fn set_up(cluster: &TestCluster) -> anyhow::Result<Backends> {
    // The API server refuses loopback endpoints: the backends listen in a namespace of
    // their own, reached from here over a veth pair.
    let network = BackendNetwork::create()?;
    let blue = Upstream::start_in(&network, "blue")?;
    let green = Upstream::start_in(&network, "green")?;
    let (cert, key, _) = certificate(&[HOST])?;
    let mut objects = vec![
        ingress_class("sluice", CONTROLLER_NAME, None),
        tls_secret("default", "app-tls", &cert, &key),
        app("blue", vec![]),
    ];
    objects.extend(service_with_endpoints("default", "blue", 80, &[blue.addr]));
    objects.extend(service_with_endpoints(
        "default",
        "green",
        80,
        &[green.addr],
    ));
    cluster.apply(&objects)?;
    Ok(Backends {
        blue,
        green,
        _network: network,
    })
}

async fn proxy_with(kubeconfig: &std::path::Path, logs: &std::path::Path) -> anyhow::Result<Proxy> {
    let kubeconfig = kubeconfig.to_str().unwrap_or_default();
    let proxy = Proxy::start(
        // Plain HTTP is served, not redirected to HTTPS: the clients use both.
        &[
            "--kubeconfig",
            kubeconfig,
            "--ingress-class",
            "sluice",
            "--no-ssl-redirect",
        ],
        logs,
    )
    .await?;
    // The certificate is loaded once HTTPS answers for the host.
    eventually(Duration::from_secs(20), "HTTPS for the app", || async {
        Ok(
            client::https_get(proxy.https, HOST, HOST, "/", &["h2"], &[])
                .await
                .is_ok_and(|(r, _)| r.status == 200)
                .then_some(()),
        )
    })
    .await?;
    Ok(proxy)
}

fn target(proxy: &Proxy, servers: &[&str]) -> Target {
    Target {
        http: proxy.http,
        https: Some(proxy.https),
        host: HOST.into(),
        path: "/".into(),
        servers: servers.iter().map(|s| s.to_string()).collect(),
    }
}

/// Prints the counts, then fails with the first failures of any kind that had some, and
/// what the proxy warned about.
fn assert_no_failures(what: &str, tallies: &BTreeMap<Kind, Tally>, proxy: &Proxy) {
    for (kind, tally) in tallies {
        println!(
            "{what}: {kind:?}: {} good, {} failed",
            tally.ok,
            tally.failures.len()
        );
        // First, before the proxy's log: CI keeps the start of a long output.
        for failure in tally.failures.iter().take(5) {
            println!("  {failure}");
        }
    }
    if tallies.values().any(|t| !t.failures.is_empty()) {
        for line in proxy.output().lines() {
            // Pingora's pool losing a race for an idle connection: it opens another.
            let benign = line.contains("failed to acquire reusable stream");
            if (line.contains("WARN") || line.contains("ERROR")) && !benign {
                println!("proxy: {line}");
            }
        }
    }
    for (kind, tally) in tallies {
        assert!(tally.ok > 0, "{what}: no {kind:?} request succeeded");
        assert!(
            tally.failures.is_empty(),
            "{what}: {} {kind:?} failures, the first: {:?}",
            tally.failures.len(),
            &tally.failures[..tally.failures.len().min(5)]
        );
    }
}

#[tokio::test]
async fn a_thousand_route_changes_fail_no_request_and_drop_no_websocket() -> anyhow::Result<()> {
    const EDITS: usize = 1000;
    let cluster = TestCluster::start().await?;
    let backends = set_up(&cluster)?;
    let logs = tempfile::tempdir()?;
    let proxy = proxy_with(cluster.kubeconfig(), logs.path()).await?;
    let ingresses: Api<Ingress> = Api::namespaced(cluster.client().await?, "default");

    let load = Load::start(&target(&proxy, &["blue", "green"]), &ALL_KINDS, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reloads_before = proxy.metric("sluice_proxy_route_reloads_total").await?;
    let started = Instant::now();
    for i in 0..EDITS {
        // Every edit moves `/` to the other backend and changes a path, so every one
        // changes the route table; open WebSockets stay with the backend they reached.
        let service = if i % 2 == 0 { "green" } else { "blue" };
        let edited = app(
            service,
            vec![path(&format!("/edit-{i}"), "Exact", "blue", 80)],
        );
        ingresses
            .patch(
                "app",
                &PatchParams::apply("faults-test").force(),
                &Patch::Apply(&edited),
            )
            .await?;
    }
    let editing = started.elapsed();
    // The last edit sent `/` to blue; once it is served, every edit has been seen.
    eventually(Duration::from_secs(20), "the last edit", || async {
        let reply = client::get(proxy.http, HOST, &format!("/edit-{}", EDITS - 1)).await?;
        Ok((reply.status == 200).then_some(()))
    })
    .await?;
    let reloads = proxy.metric("sluice_proxy_route_reloads_total").await? - reloads_before;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tallies = load.stop().await;

    println!(
        "{EDITS} Ingress edits in {:.1} s; {reloads} route table reloads",
        editing.as_secs_f64()
    );
    assert_no_failures("route changes", &tallies, &proxy);
    assert!(
        reloads >= 10.0,
        "only {reloads} reloads: the edits did not reach the proxy"
    );
    assert!(backends.blue.requests() > 0 && backends.green.requests() > 0);
    Ok(())
}

#[tokio::test]
async fn a_minute_without_the_api_server_serves_the_last_routes_and_catches_up()
-> anyhow::Result<()> {
    const OUTAGE: Duration = Duration::from_secs(60);
    let cluster = TestCluster::start().await?;
    let backends = set_up(&cluster)?;
    let logs = tempfile::tempdir()?;
    let mut relay = ApiRelay::start(&cluster, logs.path()).await?;
    let proxy = proxy_with(relay.kubeconfig(), logs.path()).await?;
    let readyz = || async {
        let reply = client::get(proxy.admin, "admin", "/readyz").await?;
        anyhow::Ok((reply.status, reply.body))
    };
    assert_eq!(readyz().await?, (200, "ready\n".to_string()));

    let load = Load::start(&target(&proxy, &["blue"]), &ALL_KINDS, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    relay.cut();
    let cut = Instant::now();

    // The proxy notices, says so, and stays ready with the routes it has.
    let (status, body) = eventually(
        Duration::from_secs(30),
        "/readyz to report the outage",
        || async {
            let (status, body) = readyz().await?;
            Ok(body
                .contains("serving the last good routes")
                .then_some((status, body)))
        },
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        proxy.metric("sluice_proxy_config_source_healthy").await?,
        0.0
    );

    // Meanwhile the cluster changes: `/` moves to green and a new host appears.
    cluster.apply(&[
        app("green", vec![]),
        ingress(
            "default",
            "new",
            "sluice",
            &[(
                Some("new.example.com"),
                vec![path("/", "Prefix", "green", 80)],
            )],
        ),
    ])?;
    tokio::time::sleep(OUTAGE.saturating_sub(cut.elapsed())).await;
    // Blue answered every request of the outage.
    let tallies = load.stop().await;
    assert_no_failures("API server unreachable", &tallies, &proxy);

    relay.restore().await?;
    let restored = Instant::now();
    eventually(Duration::from_secs(60), "the proxy to catch up", || async {
        let new = client::get(proxy.http, "new.example.com", "/").await?;
        let app = client::get(proxy.http, HOST, "/").await?;
        Ok(
            (new.server().as_deref() == Some("green") && app.server().as_deref() == Some("green"))
                .then_some(()),
        )
    })
    .await?;
    let caught_up = restored.elapsed();
    eventually(
        Duration::from_secs(20),
        "/readyz to be plain ready again",
        || async { Ok((readyz().await? == (200, "ready\n".to_string())).then_some(())) },
    )
    .await?;
    assert_eq!(
        proxy.metric("sluice_proxy_config_source_healthy").await?,
        1.0
    );
    println!(
        "API server unreachable for {:.0} s; caught up {:.1} s after it returned",
        OUTAGE.as_secs_f64(),
        caught_up.as_secs_f64()
    );
    assert!(backends.green.requests() > 0);
    Ok(())
}
