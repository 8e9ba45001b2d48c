//! The harness's control plane is a real Kubernetes API server: these tests exercise
//! behaviour that only the real server has (NodePort allocation, garbage collection) and the
//! real kubectl and helm against it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serde_json::json;
use sluice_tests::TestCluster;

fn node_port_service(name: &str, node_port: i32) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name },
        "spec": {
            "type": "NodePort",
            "selector": { "app": name },
            "ports": [{ "name": "http", "port": 80, "targetPort": 8080, "nodePort": node_port }]
        }
    }))
    .expect("static Service manifest")
}

#[tokio::test]
async fn creates_a_namespace() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let namespaces: Api<Namespace> = Api::all(cluster.client().await?);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("sluice-smoke".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces.create(&PostParams::default(), &ns).await?;
    let read = namespaces.get("sluice-smoke").await?;
    assert!(read.metadata.uid.is_some(), "the server assigns a uid");
    Ok(())
}

#[tokio::test]
async fn allocates_a_requested_node_port_once() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let services: Api<Service> = Api::namespaced(cluster.client().await?, "default");

    services
        .create(&PostParams::default(), &node_port_service("first", 30080))
        .await?;
    let read = services.get("first").await?;
    let spec = read.spec.expect("a Service has a spec");
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(spec.ports.unwrap_or_default()[0].node_port, Some(30080));
    assert!(
        spec.cluster_ip.is_some(),
        "the server allocates a ClusterIP"
    );

    let refused = services
        .create(&PostParams::default(), &node_port_service("second", 30080))
        .await
        .expect_err("a second Service must not get the same node port");
    match refused {
        kube::Error::Api(status) => {
            let message = &status.message;
            assert_eq!(status.code, 422, "{message}");
            assert!(
                message.contains("30080") && message.contains("already allocated"),
                "{message}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
    Ok(())
}

#[tokio::test]
async fn garbage_collects_an_object_whose_owner_is_deleted() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().await?, "default");
    let owner = config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "owner" } }))?,
        )
        .await?;
    let uid = owner.metadata.uid.expect("the server assigns a uid");
    config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {
                    "name": "dependent",
                    "ownerReferences": [{
                        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid
                    }]
                }
            }))?,
        )
        .await?;

    config_maps
        .delete("owner", &DeleteParams::background())
        .await?;

    let deadline = Instant::now() + Duration::from_secs(60);
    while config_maps.get_opt("dependent").await?.is_some() {
        assert!(
            Instant::now() < deadline,
            "the garbage collector did not delete the dependent within 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test]
async fn kubectl_and_helm_work_against_it() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;

    let out = cluster.kubectl(&["get", "namespaces", "-o", "name"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ns in ["namespace/default", "namespace/kube-system"] {
        assert!(
            stdout.lines().any(|l| l == ns),
            "{ns} missing from:\n{stdout}"
        );
    }

    let out = cluster.helm(&["version", "--short"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("v4."),
        "unexpected helm version: {stdout}"
    );

    // helm talks to the API server too: an empty release list, not an error.
    let out = cluster.helm(&["list", "--all-namespaces", "-q"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
    Ok(())
}

#[tokio::test]
async fn stopping_leaves_no_process_or_port_behind() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig())?;
    let server = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .expect("the kubeconfig names its server");
    let addr = server.trim_start_matches("https://").to_string();
    assert!(
        std::net::TcpStream::connect(&addr).is_ok(),
        "serving on {addr}"
    );
    let dir = cluster.dir().to_path_buf();

    drop(cluster);

    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "{addr} still accepts connections after the cluster stopped"
    );
    assert!(!dir.exists(), "the state directory is removed");
    Ok(())
}
