//! The proxy's cluster source on a real control plane: it routes by the Ingresses,
//! Services and EndpointSlices in the API server, follows their changes, and keeps serving
//! its last good routes when the API server goes away.

use std::time::Duration;

use sluice_crds::names::CONTROLLER_NAME;
use sluice_tests::netns::BackendNetwork;
use sluice_tests::objects::{endpoint_slice, ingress, ingress_class, path, service_with_endpoints};
use sluice_tests::operator::{eventually, install_crds};
use sluice_tests::{Proxy, TestCluster, Upstream, client};

/// `class`, and an Ingress of it routing app.example.com to the Service `web`, whose
/// endpoint is `endpoint`.
fn app_on(class: serde_json::Value, endpoint: std::net::SocketAddr) -> Vec<serde_json::Value> {
    let mut objects = vec![
        class,
        ingress(
            "default",
            "app",
            "sluice",
            &[(
                Some("app.example.com"),
                vec![path("/", "Prefix", "web", 80)],
            )],
        ),
    ];
    objects.extend(service_with_endpoints("default", "web", 80, &[endpoint]));
    objects
}

/// A proxy of the class `sluice` watching `cluster`, logging into `logs`.
async fn proxy_of(
    cluster: &TestCluster,
    logs: &tempfile::TempDir,
    extra: &[&str],
) -> anyhow::Result<Proxy> {
    let kubeconfig = cluster
        .kubeconfig()
        .to_str()
        .unwrap_or_default()
        .to_string();
    let mut args = vec!["--kubeconfig", &kubeconfig, "--ingress-class", "sluice"];
    args.extend_from_slice(extra);
    Proxy::start(&args, logs.path()).await
}

#[tokio::test]
async fn routes_from_the_cluster_and_survives_its_loss() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    // The API server refuses loopback endpoints: the backends listen in a namespace of
    // their own, reached from here over a veth pair.
    let network = BackendNetwork::create()?;
    let blue = Upstream::start_in(&network, "blue")?;
    let green = Upstream::start_in(&network, "green")?;
    cluster.apply(&app_on(
        ingress_class("sluice", CONTROLLER_NAME, None),
        blue.addr,
    ))?;
    // Logs outlive the cluster's directory.
    let logs = tempfile::tempdir()?;
    let proxy = proxy_of(&cluster, &logs, &[]).await?;
    let reply = client::get(proxy.http, "app.example.com", "/").await?;
    assert_eq!(reply.server().as_deref(), Some("blue"), "{}", reply.body);

    // An EndpointSlice change reaches the proxy.
    // Blue stops being ready; green, another slice of the same Service, takes over.
    cluster.apply(&[
        endpoint_slice("default", "web", "web-1", &[], &[blue.addr]),
        endpoint_slice("default", "web", "web-2", &[green.addr], &[]),
    ])?;
    eventually(Duration::from_secs(20), "green to serve", || async {
        Ok((client::get(proxy.http, "app.example.com", "/")
            .await?
            .server()
            .as_deref()
            == Some("green"))
        .then_some(()))
    })
    .await?;

    // The API server goes away: the last good routes keep serving.
    drop(cluster);
    for _ in 0..20 {
        let reply = client::get(proxy.http, "app.example.com", "/").await?;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.server().as_deref(), Some("green"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(
        Duration::from_secs(30),
        "the lost watch to be logged",
        || async {
            Ok(proxy
                .output()
                .contains("still serving the last good routes")
                .then_some(()))
        },
    )
    .await?;
    assert_eq!(
        client::get(proxy.http, "app.example.com", "/")
            .await?
            .server()
            .as_deref(),
        Some("green")
    );
    assert!(
        proxy
            .metric("sluice_proxy_config_source_errors_total")
            .await?
            >= 1.0
    );
    Ok(())
}

/// The access log lines of `proxy` so far (it logs JSON).
fn access_lines(proxy: &Proxy) -> Vec<serde_json::Value> {
    proxy
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "access")
        .collect()
}

fn logged(proxy: &Proxy, request_id: &str) -> bool {
    access_lines(proxy)
        .iter()
        .any(|l| l["request_id"] == request_id)
}

fn params(name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "IngressClassParams",
        "metadata": { "name": name }, "spec": spec,
    })
}

#[tokio::test]
async fn log_settings_follow_the_params_without_a_restart() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    install_crds(&cluster)?;
    let network = BackendNetwork::create()?;
    let web = Upstream::start_in(&network, "web")?;
    cluster.apply(&[params("edge", serde_json::json!({}))])?;
    cluster.apply(&app_on(
        ingress_class("sluice", CONTROLLER_NAME, Some("edge")),
        web.addr,
    ))?;
    let logs = tempfile::tempdir()?;
    let mut proxy = proxy_of(
        &cluster,
        &logs,
        &["--log-format", "json", "--log-level", "info"],
    )
    .await?;
    let pid = proxy.pid();
    let request = |id: &'static str| {
        let http = proxy.http;
        async move {
            let reply =
                client::get_with(http, "app.example.com", "/", &[("x-request-id", id)]).await?;
            anyhow::ensure!(reply.status == 200, "{id}: {}", reply.status);
            Ok(())
        }
    };

    request("before").await?;
    eventually(
        Duration::from_secs(10),
        "the request to be logged",
        || async { Ok(logged(&proxy, "before").then_some(())) },
    )
    .await?;
    assert!(
        !proxy.output().contains("\"level\":\"DEBUG\""),
        "debug lines at level info"
    );

    // Access log off, level debug: applied by the running process.
    cluster.apply(&[params(
        "edge",
        serde_json::json!({ "logging": { "level": "debug", "accessLog": { "enabled": false } } }),
    )])?;
    eventually(Duration::from_secs(15), "the new settings", || async {
        Ok(proxy
            .output()
            .lines()
            .any(|l| l.contains("logging settings changed") && l.contains("\"access_log\":false"))
            .then_some(()))
    })
    .await?;
    request("while-off").await?;
    eventually(Duration::from_secs(15), "debug lines", || async {
        Ok(proxy.output().contains("\"level\":\"DEBUG\"").then_some(()))
    })
    .await?;
    assert!(
        !logged(&proxy, "while-off"),
        "logged with the access log off"
    );

    // Back on.
    cluster.apply(&[params(
        "edge",
        serde_json::json!({ "logging": { "accessLog": { "enabled": true } } }),
    )])?;
    eventually(
        Duration::from_secs(15),
        "the access log back on",
        || async {
            request("after").await?;
            Ok(logged(&proxy, "after").then_some(()))
        },
    )
    .await?;
    assert!(!proxy.exited(), "{}", proxy.output());
    assert_eq!(proxy.pid(), pid, "the proxy was restarted");
    Ok(())
}

/// An Opaque Secret of `default` with `data` (as stringData).
fn opaque_secret(name: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": name, "namespace": "default" },
        "stringData": data,
    })
}

/// Basic auth's users come from an Opaque Secret in the cluster: the proxy follows its
/// changes, and a change to a Secret no route reads recompiles nothing.
#[tokio::test]
async fn basic_auth_follows_its_secret_and_ignores_the_others() -> anyhow::Result<()> {
    use base64::Engine;
    let cluster = TestCluster::start().await?;
    let network = BackendNetwork::create()?;
    let web = Upstream::start_in(&network, "web")?;
    let mut objects = app_on(ingress_class("sluice", CONTROLLER_NAME, None), web.addr);
    objects[1]["metadata"]["annotations"] = serde_json::json!({
        "nginx.ingress.kubernetes.io/auth-type": "basic",
        "nginx.ingress.kubernetes.io/auth-secret": "users",
    });
    // Users Sluice has not seen yet: until the Secret exists, 503.
    cluster.apply(&objects)?;
    let logs = tempfile::tempdir()?;
    let proxy = proxy_of(&cluster, &logs, &[]).await?;
    let login = |user_password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    };
    let status = async |authorization: &str| -> anyhow::Result<u16> {
        Ok(client::get_with(
            proxy.http,
            "app.example.com",
            "/",
            &[("authorization", authorization)],
        )
        .await?
        .status)
    };
    assert_eq!(status(&login("alice:a")).await?, 503);

    cluster.apply(&[opaque_secret(
        "users",
        serde_json::json!({ "auth": "alice:{PLAIN}a\n" }),
    )])?;
    eventually(Duration::from_secs(20), "alice to get in", || async {
        Ok((status(&login("alice:a")).await? == 200).then_some(()))
    })
    .await?;
    assert_eq!(status(&login("alice:b")).await?, 401);

    // Another Secret changes many times: no recompile.
    let reloads = proxy.metric("sluice_proxy_route_reloads_total").await?;
    for i in 0..5 {
        cluster.apply(&[opaque_secret(
            "unrelated",
            serde_json::json!({ "n": i.to_string() }),
        )])?;
    }
    // The users change: alice's password is now b.
    cluster.apply(&[opaque_secret(
        "users",
        serde_json::json!({ "auth": "alice:{PLAIN}b\n" }),
    )])?;
    eventually(
        Duration::from_secs(20),
        "the new password to count",
        || async { Ok((status(&login("alice:b")).await? == 200).then_some(())) },
    )
    .await?;
    assert_eq!(status(&login("alice:a")).await?, 401);
    let recompiled = proxy.metric("sluice_proxy_route_reloads_total").await? - reloads;
    assert_eq!(recompiled, 1.0, "only the users' Secret recompiled");
    Ok(())
}
