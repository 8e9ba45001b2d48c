//! At the size users run it: thousands of Ingresses created in bulk get their address
//! written once each, writes that cannot change routing don't make the proxy recompile,
//! and a quiet cluster then gets no writes at all. Writes are counted by the API server
//! (`apiserver_request_total`), not in the operator's own logs.

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sluice_crds::names::CONTROLLER_NAME;
use sluice_tests::bulk::in_parallel;
use sluice_tests::objects::{self, ingress_class, namespace};
use sluice_tests::operator::{Operator, eventually, install_crds};
use sluice_tests::requests::growth;
use sluice_tests::{Proxy, TestCluster};

const NS: &str = "sluice-system";
const BULK: &str = "bulk";
const INGRESSES: usize = 2_000;

fn bulk_ingress(i: usize) -> anyhow::Result<Ingress> {
    Ok(serde_json::from_value(objects::bulk_ingress(
        BULK, i, INGRESSES,
    ))?)
}

/// How many Ingresses of the bulk namespace publish an address.
async fn published(ingresses: &Api<Ingress>) -> anyhow::Result<usize> {
    let list = ingresses.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|i| {
            i.status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .is_some_and(|l| !l.is_empty())
        })
        .count())
}

#[tokio::test]
async fn a_bulk_apply_writes_each_status_once_then_nothing() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    cluster.apply(&[namespace(NS), namespace(BULK)])?;
    install_crds(&cluster)?;
    let client = cluster.client().await?;
    cluster
        .register_node("n1", &[("InternalIP", "10.1.0.1")])
        .await?;
    cluster.apply(&[ingress_class("sluice", CONTROLLER_NAME, None)])?;
    let operator = Operator::start(
        cluster.kubeconfig(),
        None,
        &["--namespace", NS],
        cluster.dir(),
    )
    .await?;

    let logs = tempfile::tempdir()?;
    let kubeconfig = cluster.kubeconfig().to_string_lossy().into_owned();
    let proxy = Proxy::start(
        &["--kubeconfig", &kubeconfig, "--ingress-class", "sluice"],
        logs.path(),
    )
    .await?;

    let before = cluster.writes()?;
    let ingresses: Api<Ingress> = Api::namespaced(client, BULK);
    in_parallel(0..INGRESSES, |i| {
        let ingresses = ingresses.clone();
        async move {
            ingresses
                .create(&PostParams::default(), &bulk_ingress(i)?)
                .await?;
            Ok(())
        }
    })
    .await?;
    eventually(
        Duration::from_secs(300),
        "every Ingress to publish its address and be routed",
        || async {
            let n = published(&ingresses).await?;
            let routed = proxy.metric("sluice_proxy_ingresses").await?;
            Ok((n == INGRESSES && routed == INGRESSES as f64).then_some(()))
        },
    )
    .await?;
    // Let anything still in flight land before counting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let settled = cluster.writes()?;
    let bulk = growth(&before, &settled);
    eprintln!("writes during the bulk create of {INGRESSES} Ingresses: {bulk:?}");
    let status_writes = bulk
        .get("APPLY ingresses/status")
        .copied()
        .unwrap_or_default();
    assert!(
        status_writes <= INGRESSES as f64,
        "{status_writes} status writes for {INGRESSES} Ingresses (at most one each): {bulk:?}\n{}",
        operator.output()
    );
    assert_eq!(
        operator
            .metric("sluice_operator_ingress_status_updates_total")
            .await?,
        status_writes,
        "the operator's own count agrees with the API server's"
    );

    // A write to every Ingress that routing doesn't read (a label): the proxy compiles
    // nothing for it, and the operator writes nothing back.
    let reloads = || proxy.metric("sluice_proxy_route_reloads_total");
    let ignored = || proxy.metric("sluice_proxy_config_changes_ignored_total");
    let (reloads_before, ignored_before) = (reloads().await?, ignored().await?);
    in_parallel(0..INGRESSES, |i| {
        let ingresses = ingresses.clone();
        async move {
            ingresses
                .patch(
                    &format!("i{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "metadata": { "labels": { "team": "checkout" } } })),
                )
                .await?;
            Ok(())
        }
    })
    .await?;
    eventually(
        Duration::from_secs(120),
        "the proxy to see every relabelling",
        || async { Ok((ignored().await? - ignored_before >= INGRESSES as f64).then_some(())) },
    )
    .await?;
    assert_eq!(
        reloads().await?,
        reloads_before,
        "the proxy recompiled its routes for label changes"
    );

    tokio::time::sleep(Duration::from_secs(5)).await;
    let relabelled = cluster.writes()?;
    let operator_writes: f64 = growth(&settled, &relabelled)
        .iter()
        .filter(|(series, _)| !series.starts_with("PATCH ingresses/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(operator_writes, 0.0, "writes answering the relabelling");

    tokio::time::sleep(Duration::from_secs(60)).await;
    let quiet = growth(&relabelled, &cluster.writes()?);
    assert!(
        quiet.is_empty(),
        "write requests during a quiet minute with {INGRESSES} Ingresses: {quiet:?}"
    );
    assert_eq!(
        reloads().await?,
        reloads_before,
        "the proxy recompiled its routes in a quiet minute"
    );
    Ok(())
}
