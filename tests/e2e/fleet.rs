//! Sluice running as pods on a real node, under what production does to pods: the
//! IngressClassParams status follows the proxy pods, a proxy pod deleted or a rolling update
//! under steady traffic fails no request, and the operator's leader pod going away hands
//! leadership over while the webhook keeps answering through its Service.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use sluice_crds::params::IngressClassParams;
use sluice_tests::objects::{ingress, path};
use sluice_tests::operator::eventually;
use sluice_tests::seed::{
    FLEET, HOST, NAMESPACE, OPERATOR, Seed, deployment_ready, published_ip, wait_for_published_ip,
};
use sluice_tests::tools::workspace_root;
use sluice_tests::traffic::{Tally, Traffic};

const WAIT: Duration = Duration::from_secs(90);
/// Clients of the steady traffic.
const CLIENTS: usize = 4;

async fn seed() -> anyhow::Result<Seed> {
    Seed::start(&mut |step: &str| eprintln!("-- {step}"), &[]).await
}

/// `(readyReplicas, replicas)` of the class's IngressClassParams status.
async fn params_replicas(params: &Api<IngressClassParams>) -> anyhow::Result<(i32, i32)> {
    let status = params.get("sluice").await?.status.unwrap_or_default();
    Ok((
        status.ready_replicas.unwrap_or_default(),
        status.replicas.unwrap_or_default(),
    ))
}

async fn pods(client: &kube::Client, namespace: &str, selector: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(api
        .list(&ListParams::default().labels(selector))
        .await?
        .items)
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn assert_no_failures(what: &str, tally: &Tally) {
    eprintln!(
        "{what}: {} requests answered, {} failed",
        tally.ok,
        tally.failures.len()
    );
    assert!(tally.ok > 0, "{what}: no request was answered");
    assert!(
        tally.failures.is_empty(),
        "{what}: {} of {} requests failed, first ones: {:#?}",
        tally.failures.len(),
        tally.ok + tally.failures.len() as u64,
        &tally.failures[..tally.failures.len().min(5)]
    );
}

#[tokio::test]
async fn params_status_follows_the_pods_and_a_deleted_pod_fails_no_request() -> anyhow::Result<()> {
    let seed = seed().await?;
    let client = seed.cluster.client().await?;
    let params: Api<IngressClassParams> = Api::all(client.clone());
    eventually(WAIT, "the params status to say 2/2", || async {
        Ok((params_replicas(&params).await? == (2, 2)).then_some(()))
    })
    .await?;

    let proxies = pods(&client, NAMESPACE, "app.kubernetes.io/component=proxy").await?;
    assert_eq!(proxies.len(), 2, "{proxies:?}");
    let traffic = Traffic::start(seed.http(), HOST, "/api", "api", CLIENTS);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pod_api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let victim = name_of(&proxies[0]);
    pod_api.delete(&victim, &DeleteParams::default()).await?;
    // The pod is not available from the moment it is deleted until its replacement is ready.
    eventually(WAIT, "the params status to drop to 1/2", || async {
        Ok((params_replicas(&params).await? == (1, 2)).then_some(()))
    })
    .await?;
    eventually(WAIT, "the deleted pod to be gone", || async {
        Ok(pod_api.get_opt(&victim).await?.is_none().then_some(()))
    })
    .await?;
    deployment_ready(&seed.cluster, NAMESPACE, FLEET).await?;
    eventually(WAIT, "the params status to be back at 2/2", || async {
        Ok((params_replicas(&params).await? == (2, 2)).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_no_failures("deleting a proxy pod", &traffic.stop().await);
    Ok(())
}

#[tokio::test]
async fn a_rolling_update_of_the_proxies_fails_no_request() -> anyhow::Result<()> {
    let seed = seed().await?;
    let client = seed.cluster.client().await?;
    let before: Vec<String> = pods(&client, NAMESPACE, "app.kubernetes.io/component=proxy")
        .await?
        .iter()
        .map(name_of)
        .collect();
    let traffic = Traffic::start(seed.http(), HOST, "/api", "api", CLIENTS);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A change of the params' pod template: the operator rolls the fleet.
    let started = Instant::now();
    let params: Api<IngressClassParams> = Api::all(client.clone());
    params
        .patch(
            "sluice",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "podAnnotations": { "example.com/rollout": "2" } } })),
        )
        .await?;
    eventually(WAIT, "every proxy pod to be replaced", || async {
        let now = pods(&client, NAMESPACE, "app.kubernetes.io/component=proxy").await?;
        let replaced = now.len() == 2
            && now
                .iter()
                .all(|p| !before.contains(&name_of(p)) && p.metadata.deletion_timestamp.is_none());
        Ok(replaced.then_some(()))
    })
    .await?;
    deployment_ready(&seed.cluster, NAMESPACE, FLEET).await?;
    eprintln!(
        "rolling update done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_no_failures("a rolling update", &traffic.stop().await);
    Ok(())
}

/// The pod name in the Lease's holder identity (`POD_NAME_suffix`).
async fn leader(leases: &Api<Lease>) -> anyhow::Result<Option<String>> {
    let lease = leases.get_opt(OPERATOR).await?;
    let holder = lease.and_then(|l| l.spec?.holder_identity);
    Ok(holder
        .filter(|h| !h.is_empty())
        .and_then(|h| h.rsplit_once('_').map(|(pod, _)| pod.to_string())))
}

#[tokio::test]
async fn the_leader_pod_going_away_hands_over_and_the_webhook_keeps_answering() -> anyhow::Result<()>
{
    let seed = seed().await?;
    let client = seed.cluster.client().await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let old = eventually(WAIT, "a leader", || leader(&leases)).await?;
    let operators = pods(&client, NAMESPACE, "app.kubernetes.io/component=operator").await?;
    assert_eq!(operators.len(), 2);
    assert!(
        operators.iter().any(|p| name_of(p) == old),
        "{old} is not an operator pod"
    );

    let pod_api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let deleted = Instant::now();
    pod_api.delete(&old, &DeleteParams::default()).await?;
    let new = eventually(WAIT, "another pod to lead", || async {
        Ok(leader(&leases).await?.filter(|l| *l != old))
    })
    .await?;
    eprintln!(
        "leadership passed from {old} to {new} {:.1}s after the delete",
        deleted.elapsed().as_secs_f64()
    );

    // While one operator pod is gone, the webhook answers through its Service: a
    // conflicting Ingress is refused with the reason, not with a failed webhook call.
    for _ in 0..5 {
        let (applied, stderr) = seed.apply_conflict()?;
        assert!(!applied);
        assert!(
            stderr.contains("is already served by Ingress default/app"),
            "{stderr}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The new leader reconciles: a new Ingress gets the node's address.
    seed.cluster.apply(&[ingress(
        "default",
        "after-handover",
        "sluice",
        &[(
            Some("after.example.com"),
            vec![path("/", "Prefix", "frontend-svc", 80)],
        )],
    )])?;
    let address = wait_for_published_ip(&seed.cluster, "default", "after-handover").await?;
    assert_eq!(address, seed.node_ip);
    deployment_ready(&seed.cluster, NAMESPACE, OPERATOR).await?;
    Ok(())
}

/// A second release with its own controller value serves its own class with its own fleet;
/// neither operator touches the other's class.
#[tokio::test]
async fn two_releases_with_their_own_controllers_coexist() -> anyhow::Result<()> {
    let seed = seed().await?;
    let client = seed.cluster.client().await?;
    let chart = workspace_root().join("charts/sluice");
    let out = seed.cluster.helm(&[
        "install",
        "internal",
        chart.to_str().unwrap_or_default(),
        "--namespace",
        "sluice-internal",
        "--create-namespace",
        "--set",
        "ingressClass.name=internal",
        "--set",
        "ingressClass.controller=sluice.dev/internal",
        "--set",
        "ingressClass.params.service.type=ClusterIP",
        // Its own GatewayClass too: class names are cluster-wide.
        "--set",
        "gatewayClass.name=internal",
        "--set",
        "gatewayClass.controllerName=sluice.dev/internal-gateway",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deployment_ready(&seed.cluster, "sluice-internal", "internal-sluice-operator").await?;
    deployment_ready(&seed.cluster, "sluice-internal", "sluice-proxy-internal").await?;

    // Each class has one fleet, in its own release's namespace.
    let deployments = |ns: &str| {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
        async move {
            let names: Vec<String> = api
                .list(&ListParams::default().labels("app.kubernetes.io/component=proxy"))
                .await?
                .items
                .iter()
                .filter_map(|d| d.metadata.name.clone())
                .collect();
            anyhow::Ok(names)
        }
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(deployments(NAMESPACE).await?, [FLEET]);
    assert_eq!(
        deployments("sluice-internal").await?,
        ["sluice-proxy-internal"]
    );

    // The internal class's Ingress gets its fleet's cluster IP from its own operator; the
    // public one keeps the node's address and its traffic.
    seed.cluster.apply(&[ingress(
        "default",
        "internal-app",
        "internal",
        &[(
            Some("internal.example.com"),
            vec![path("/", "Prefix", "api-svc", 80)],
        )],
    )])?;
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(client.clone(), "sluice-internal");
    let cluster_ip = services
        .get("sluice-proxy-internal")
        .await?
        .spec
        .and_then(|s| s.cluster_ip)
        .unwrap_or_default();
    eventually(WAIT, "the internal Ingress's cluster IP", || async {
        let ip = published_ip(&seed.cluster, "default", "internal-app").await?;
        Ok((ip == Some(cluster_ip.clone())).then_some(()))
    })
    .await?;
    assert_eq!(
        published_ip(&seed.cluster, "default", "app").await?,
        Some(seed.node_ip.clone())
    );
    let reply = sluice_tests::client::get(seed.http(), HOST, "/api").await?;
    assert_eq!(reply.server().as_deref(), Some("api"));

    // Each release's operator accepts its own GatewayClass only.
    for (class, controller) in [
        ("sluice", sluice_crds::gateway::class::CONTROLLER_NAME),
        ("internal", "sluice.dev/internal-gateway"),
    ] {
        eventually(WAIT, &format!("GatewayClass {class} to be accepted"), || async {
            let out = seed.cluster.kubectl(&[
                "get",
                &format!("gatewayclass/{class}"),
                "-o",
                r#"jsonpath={.spec.controllerName} {.status.conditions[?(@.type=="Accepted")].status}"#,
            ])?;
            Ok((String::from_utf8_lossy(&out.stdout) == format!("{controller} True")).then_some(()))
        })
        .await?;
    }
    Ok(())
}

/// `helm upgrade --reuse-values` of the seed's release with `sets` (`key=value` each).
fn upgrade_reusing_values(seed: &Seed, sets: &[&str]) -> anyhow::Result<()> {
    let chart = workspace_root().join("charts/sluice");
    let mut args = vec![
        "upgrade",
        "sluice",
        chart.to_str().unwrap_or_default(),
        "--namespace",
        NAMESPACE,
        "--reuse-values",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = seed.cluster.helm(&args)?;
    anyhow::ensure!(
        out.status.success(),
        "helm upgrade: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// DaemonSet mode, the usual bare-metal setup: one proxy pod per node, reached on the node's
/// own ports (hostPort) without the Service.
#[tokio::test]
async fn a_daemon_set_fleet_serves_on_host_ports() -> anyhow::Result<()> {
    let seed = Seed::start(
        &mut |step: &str| eprintln!("-- {step}"),
        &[
            "--set",
            "ingressClass.params.replicas=null",
            "--set",
            "ingressClass.params.kind=DaemonSet",
            "--set",
            "ingressClass.params.hostPorts.http=30080",
            "--set",
            "ingressClass.params.hostPorts.https=30443",
            "--set",
            "ingressClass.params.service.type=ClusterIP",
        ],
    )
    .await?;
    // Seed::start already saw app.example.com served on 127.0.0.1:30080/30443, which lead
    // to the node's ports 30080/30443: here the pods' host ports, as no NodePort exists.
    let client = seed.cluster.client().await?;
    let daemon_sets: Api<k8s_openapi::api::apps::v1::DaemonSet> =
        Api::namespaced(client.clone(), NAMESPACE);
    let status = daemon_sets.get(FLEET).await?.status.unwrap_or_default();
    assert_eq!(
        (status.desired_number_scheduled, status.number_available),
        (1, Some(1)),
        "one pod on the one node"
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), NAMESPACE);
    assert!(deployments.get_opt(FLEET).await?.is_none());
    let params: Api<IngressClassParams> = Api::all(client.clone());
    assert_eq!(params_replicas(&params).await?, (1, 1));
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(client.clone(), NAMESPACE);
    let service = services.get(FLEET).await?;
    assert_eq!(
        service.spec.and_then(|s| s.type_).as_deref(),
        Some("ClusterIP")
    );
    let (reply, tls) =
        sluice_tests::client::https_get(seed.https(), HOST, HOST, "/api", &["h2", "http/1.1"], &[])
            .await?;
    assert_eq!(reply.server().as_deref(), Some("api"));
    assert_eq!(tls.leaf, seed.certificate);
    // Clients go to the nodes: their addresses are published, not the Service's.
    let address = wait_for_published_ip(&seed.cluster, "default", "app").await?;
    assert_eq!(address, seed.node_ip);

    // On the host network: the pods listen on the node's ports themselves.
    upgrade_reusing_values(&seed, &["ingressClass.params.hostNetwork=true"])?;
    eventually(WAIT, "the DaemonSet's pod on the host network", || async {
        let daemon_set = daemon_sets.get(FLEET).await?;
        let on_host = daemon_set
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.host_network)
            == Some(true);
        let status = daemon_set.status.unwrap_or_default();
        let rolled = status.observed_generation == daemon_set.metadata.generation
            && status.updated_number_scheduled == Some(1)
            && status.number_available == Some(1);
        Ok((on_host && rolled).then_some(()))
    })
    .await?;
    eventually(WAIT, "the host-network proxy to serve", || async {
        let (reply, _) = sluice_tests::client::https_get(
            seed.https(),
            HOST,
            HOST,
            "/api",
            &["h2", "http/1.1"],
            &[],
        )
        .await?;
        Ok((reply.server().as_deref() == Some("api")).then_some(()))
    })
    .await?;
    let proxies = pods(&client, NAMESPACE, "app.kubernetes.io/component=proxy").await?;
    assert_eq!(proxies.len(), 1);
    assert_eq!(
        proxies[0].status.as_ref().and_then(|s| s.pod_ip.clone()),
        Some(seed.node_ip.to_string()),
        "a host-network pod has the node's address"
    );

    // Back to a Deployment: the DaemonSet goes.
    upgrade_reusing_values(
        &seed,
        &[
            "ingressClass.params.kind=Deployment",
            "ingressClass.params.hostNetwork=false",
            "ingressClass.params.replicas=1",
        ],
    )?;
    deployment_ready(&seed.cluster, NAMESPACE, FLEET).await?;
    eventually(WAIT, "the DaemonSet to be gone", || async {
        Ok(daemon_sets.get_opt(FLEET).await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}
