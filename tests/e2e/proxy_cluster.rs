//! The proxy's cluster source on a real control plane: it routes by the Ingresses,
//! Services and EndpointSlices in the API server, follows their changes, and keeps serving
//! its last good routes when the API server goes away.

use std::time::Duration;

use sluice_crds::names::CONTROLLER_NAME;
use sluice_tests::netns::BackendNetwork;
use sluice_tests::objects::{endpoint_slice, ingress, ingress_class, path, service_with_endpoints};
use sluice_tests::operator::eventually;
use sluice_tests::{Proxy, TestCluster, Upstream, client};

#[tokio::test]
async fn routes_from_the_cluster_and_survives_its_loss() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    // The API server refuses loopback endpoints: the backends listen in a namespace of
    // their own, reached from here over a veth pair.
    let network = BackendNetwork::create()?;
    let blue = Upstream::start_in(&network, "blue")?;
    let green = Upstream::start_in(&network, "green")?;
    let mut objects = vec![
        ingress_class("sluice", CONTROLLER_NAME, None),
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
    objects.extend(service_with_endpoints("default", "web", 80, &[blue.addr]));
    cluster.apply(&objects)?;

    let kubeconfig = cluster.kubeconfig().to_str().unwrap().to_string();
    // Logs outlive the cluster's directory.
    let logs = tempfile::tempdir()?;
    let proxy = Proxy::start(
        &["--kubeconfig", &kubeconfig, "--ingress-class", "sluice"],
        logs.path(),
    )
    .await?;
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
