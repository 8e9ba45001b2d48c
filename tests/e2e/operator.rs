//! The operator on a real control plane: IngressClassParams + IngressClass → a proxy fleet,
//! kept as declared, with status, garbage collection, and addresses on Ingresses.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};
use sluice_crds::names::CONTROLLER_NAME;
use sluice_crds::params::IngressClassParams;
use sluice_tests::TestCluster;
use sluice_tests::objects::{certificate, ingress, ingress_class, namespace, path, tls_secret};
use sluice_tests::operator::{Operator, eventually, install_crds};

const NS: &str = "sluice-system";
const WAIT: Duration = Duration::from_secs(60);

fn params(name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "sluice.dev/v1alpha1", "kind": "IngressClassParams", "metadata": { "name": name }, "spec": spec })
}

/// An IngressClass of Sluice's.
fn class(name: &str, params: Option<&str>) -> Value {
    ingress_class(name, CONTROLLER_NAME, params)
}

async fn setup() -> anyhow::Result<(TestCluster, Operator)> {
    let cluster = TestCluster::start().await?;
    cluster.apply(&[namespace(NS)])?;
    install_crds(&cluster)?;
    let operator = Operator::start(
        cluster.kubeconfig(),
        None,
        &["--namespace", NS],
        cluster.dir(),
    )
    .await?;
    Ok((cluster, operator))
}

fn node_ports(svc: &Service) -> Vec<i32> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| p.node_port)
        .collect()
}

fn condition(p: &IngressClassParams, type_: &str) -> Option<(String, String)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.message.clone()))
}

#[tokio::test]
async fn a_class_gets_its_fleet_kept_as_declared_and_collected_with_it() -> anyhow::Result<()> {
    let (cluster, operator) = setup().await?;
    let client = cluster.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    let all_params: Api<IngressClassParams> = Api::all(client.clone());
    cluster.apply(&[
        params("edge", json!({ "replicas": 1 })),
        class("sluice", Some("edge")),
    ])?;

    let svc = eventually(WAIT, "the NodePort Service", || async {
        Ok(services.get_opt("sluice-proxy-sluice").await?)
    })
    .await?;
    assert_eq!(
        svc.spec.as_ref().unwrap().type_.as_deref(),
        Some("NodePort")
    );
    assert_eq!(node_ports(&svc), [30080, 30443]);
    let deploy = eventually(WAIT, "the Deployment", || async {
        Ok(deployments.get_opt("sluice-proxy-sluice").await?)
    })
    .await?;
    assert_eq!(deploy.spec.as_ref().unwrap().replicas, Some(1));
    let args = deploy
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap();
    assert_eq!(&args[..2], ["--ingress-class", "sluice"]);

    let status = eventually(WAIT, "the params status", || async {
        let p = all_params.get("edge").await?;
        Ok(p.status
            .clone()
            .filter(|s| s.http_node_port.is_some())
            .map(|s| (s, p)))
    })
    .await?;
    assert_eq!(
        (status.0.http_node_port, status.0.https_node_port),
        (Some(30080), Some(30443))
    );
    assert_eq!(status.0.observed_generation, Some(1));
    assert_eq!(condition(&status.1, "Accepted").unwrap().0, "True");
    assert_eq!(condition(&status.1, "Degraded").unwrap().0, "False");
    // No kubelet here: no replica becomes available.
    assert_eq!(
        condition(&status.1, "Ready").unwrap(),
        ("False".into(), "0/1 proxy replicas available".into())
    );

    // Changed params are applied in place.
    cluster.apply(&[params(
        "edge",
        json!({ "replicas": 3, "service": { "httpNodePort": 31080 } }),
    )])?;
    eventually(WAIT, "3 replicas and node port 31080", || async {
        let d = deployments.get("sluice-proxy-sluice").await?;
        let s = services.get("sluice-proxy-sluice").await?;
        Ok(
            (d.spec.as_ref().unwrap().replicas == Some(3) && node_ports(&s) == [31080, 30443])
                .then_some((d, s)),
        )
    })
    .await
    .map(|(d, s)| {
        assert_eq!(d.metadata.uid, deploy.metadata.uid, "updated, not replaced");
        assert_eq!(s.metadata.uid, svc.metadata.uid, "updated, not replaced");
    })?;

    // A setting removed from the params is removed from the fleet too.
    let template = |d: &Deployment| d.spec.clone().unwrap_or_default().template;
    cluster.apply(&[params(
        "edge",
        json!({ "replicas": 3, "service": { "httpNodePort": 31080 },
                "nodeSelector": { "disk": "ssd" },
                "tolerations": [{ "key": "edge", "operator": "Exists", "effect": "NoSchedule" }],
                "podAnnotations": { "example.com/team": "edge" } }),
    )])?;
    eventually(
        WAIT,
        "the node selector, toleration and annotation",
        || async {
            let t = template(&deployments.get("sluice-proxy-sluice").await?);
            let spec = t.spec.unwrap_or_default();
            Ok((spec.node_selector.is_some()
                && spec.tolerations.is_some()
                && t.metadata.and_then(|m| m.annotations).is_some())
            .then_some(()))
        },
    )
    .await?;
    cluster.apply(&[params(
        "edge",
        json!({ "replicas": 3, "service": { "httpNodePort": 31080 } }),
    )])?;
    eventually(
        WAIT,
        "the removed settings to be gone from the Deployment",
        || async {
            let t = template(&deployments.get("sluice-proxy-sluice").await?);
            let spec = t.spec.unwrap_or_default();
            let annotations = t.metadata.and_then(|m| m.annotations).unwrap_or_default();
            Ok((spec.node_selector.is_none()
                && spec.tolerations.is_none()
                && !annotations.contains_key("example.com/team"))
            .then_some(()))
        },
    )
    .await?;

    // Drift is put back: a deleted Service returns.
    services
        .delete("sluice-proxy-sluice", &DeleteParams::default())
        .await?;
    let back = eventually(WAIT, "the Service to come back", || async {
        Ok(services
            .get_opt("sluice-proxy-sluice")
            .await?
            .filter(|s| s.metadata.uid != svc.metadata.uid))
    })
    .await?;
    assert_eq!(node_ports(&back), [31080, 30443]);

    // Deleting the class removes its fleet.
    cluster.kubectl(&["delete", "ingressclass", "sluice"])?;
    eventually(WAIT, "the fleet to be garbage-collected", || async {
        let gone = deployments.get_opt("sluice-proxy-sluice").await?.is_none()
            && services.get_opt("sluice-proxy-sluice").await?.is_none();
        Ok(gone.then_some(()))
    })
    .await?;
    drop(operator);
    Ok(())
}

/// With autoscaling the operator creates an autoscaler and never undoes its scaling; turning
/// autoscaling off removes the autoscaler and brings the fixed count back.
#[tokio::test]
async fn an_autoscaler_keeps_its_replica_count() -> anyhow::Result<()> {
    let (cluster, _operator) = setup().await?;
    let client = cluster.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    let scaled = json!({ "autoscaling": { "minReplicas": 2, "maxReplicas": 6 } });
    cluster.apply(&[
        params("edge", scaled.clone()),
        class("sluice", Some("edge")),
    ])?;
    let hpa = eventually(WAIT, "the autoscaler", || async {
        Ok(autoscalers.get_opt("sluice-proxy-sluice").await?)
    })
    .await?;
    let spec = hpa.spec.unwrap_or_default();
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 6));
    let replicas = || async {
        let d = deployments.get_opt("sluice-proxy-sluice").await?;
        anyhow::Ok(d.and_then(|d| d.spec?.replicas))
    };
    eventually(WAIT, "the Deployment at the minimum", || async {
        Ok((replicas().await? == Some(2)).then_some(()))
    })
    .await?;

    // The autoscaler (here kubectl, through the same scale subresource) scales up; a
    // reconcile that follows (a params change) keeps that count.
    let out = cluster.kubectl(&[
        "-n",
        NS,
        "scale",
        "deployment/sluice-proxy-sluice",
        "--replicas=5",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut annotated = scaled.clone();
    annotated["podAnnotations"] = json!({ "example.com/rev": "2" });
    cluster.apply(&[params("edge", annotated)])?;
    eventually(WAIT, "the params change on the pod template", || async {
        let d = deployments.get("sluice-proxy-sluice").await?;
        let annotations = d
            .spec
            .and_then(|s| s.template.metadata?.annotations)
            .unwrap_or_default();
        Ok(annotations.contains_key("example.com/rev").then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replicas().await?, Some(5), "the autoscaler's count stands");

    // Autoscaling off, a fixed count on: the autoscaler goes, the count is applied.
    cluster.apply(&[params("edge", json!({ "replicas": 3 }))])?;
    eventually(WAIT, "the autoscaler gone and 3 replicas", || async {
        let gone = autoscalers.get_opt("sluice-proxy-sluice").await?.is_none();
        Ok((gone && replicas().await? == Some(3)).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_fail_over() -> anyhow::Result<()> {
    let (cluster, first) = setup().await?;
    let second = Operator::start(
        cluster.kubeconfig(),
        None,
        &["--namespace", NS],
        cluster.dir(),
    )
    .await?;
    let client = cluster.client().await?;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), NS);
    let holder = eventually(WAIT, "a leader", || async {
        Ok(leases
            .get_opt("sluice-operator")
            .await?
            .and_then(|l| l.spec?.holder_identity))
    })
    .await?;
    cluster.apply(&[class("sluice", None)])?;
    let services: Api<Service> = Api::namespaced(client, NS);
    eventually(WAIT, "the fleet", || async {
        Ok(services.get_opt("sluice-proxy-sluice").await?)
    })
    .await?;
    // Only the leader reconciles.
    let a = first.metric("sluice_operator_reconciles_total").await?;
    let b = second.metric("sluice_operator_reconciles_total").await?;
    assert!(
        (a > 0.0) != (b > 0.0),
        "exactly one replica reconciles: {a} and {b}"
    );
    let (mut leader, follower) = if a > 0.0 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(leader.metric("sluice_operator_leader").await?, 1.0);
    assert_eq!(follower.metric("sluice_operator_leader").await?, 0.0);
    leader.stop();
    // The follower takes the Lease once it expires, then reconciles: drift is put back.
    let new_holder = eventually(Duration::from_secs(90), "a new leader", || async {
        Ok(leases
            .get_opt("sluice-operator")
            .await?
            .and_then(|l| l.spec?.holder_identity)
            .filter(|h| *h != holder))
    })
    .await?;
    assert_ne!(new_holder, holder);
    services
        .delete("sluice-proxy-sluice", &DeleteParams::default())
        .await?;
    eventually(WAIT, "the new leader to restore the Service", || async {
        Ok(services.get_opt("sluice-proxy-sluice").await?)
    })
    .await?;
    assert!(follower.metric("sluice_operator_reconciles_total").await? > 0.0);
    assert_eq!(follower.metric("sluice_operator_leader").await?, 1.0);
    Ok(())
}

#[tokio::test]
async fn a_taken_node_port_degrades_the_second_class_naming_the_holder() -> anyhow::Result<()> {
    let (cluster, _operator) = setup().await?;
    let client = cluster.client().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    cluster.apply(&[class("first", None)])?;
    eventually(WAIT, "the first fleet", || async {
        Ok(services.get_opt("sluice-proxy-first").await?)
    })
    .await?;

    cluster.apply(&[
        params(
            "second",
            json!({ "service": { "httpNodePort": 30080, "httpsNodePort": 31443 } }),
        ),
        class("second", Some("second")),
    ])?;
    let all_params: Api<IngressClassParams> = Api::all(client);
    let (status, message) = eventually(WAIT, "the second params to be Degraded", || async {
        let p = all_params.get("second").await?;
        Ok(condition(&p, "Degraded").filter(|(s, _)| s == "True"))
    })
    .await?;
    assert_eq!(status, "True");
    assert!(
        message.contains(
            "httpNodePort 30080 is already allocated to Service sluice-system/sluice-proxy-first"
        ),
        "{message}"
    );
    assert!(services.get_opt("sluice-proxy-second").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn invalid_params_are_refused_by_the_api_server_with_the_rule_message() -> anyhow::Result<()>
{
    let cluster = TestCluster::start().await?;
    install_crds(&cluster)?;
    let bad = params(
        "bad",
        json!({ "service": { "httpNodePort": 30500, "httpsNodePort": 30500 } }),
    );
    let out = cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &sluice_tests::objects::to_yaml(&[bad]),
    )?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("httpNodePort and httpsNodePort must differ"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn ingresses_of_the_class_publish_the_node_addresses() -> anyhow::Result<()> {
    let (cluster, _operator) = setup().await?;
    let client = cluster.client().await?;
    cluster
        .register_node(
            "n1",
            &[("InternalIP", "10.1.0.1"), ("ExternalIP", "203.0.113.10")],
        )
        .await?;
    cluster
        .register_node("n2", &[("InternalIP", "10.1.0.2")])
        .await?;
    cluster.apply(&[
        class("sluice", None),
        ingress(
            "default",
            "app",
            "sluice",
            &[(
                Some("app.example.com"),
                vec![path("/", "Prefix", "web", 80)],
            )],
        ),
        ingress(
            "default",
            "other",
            "nginx",
            &[(
                Some("other.example.com"),
                vec![path("/", "Prefix", "web", 80)],
            )],
        ),
    ])?;
    let ingresses: Api<Ingress> = Api::namespaced(client, "default");
    // The operator may publish before its Node watch has seen both addresses; what must
    // hold is where it settles.
    let expected = ["10.1.0.2", "203.0.113.10"];
    eventually(
        WAIT,
        "ExternalIP where a Node has one, else InternalIP",
        || async {
            let i = ingresses.get("app").await?;
            let ips: Vec<String> = i
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip)
                .collect();
            Ok((ips == expected).then_some(()))
        },
    )
    .await?;

    // A ClusterIP class publishes its Service's cluster IP; a LoadBalancer class whose load
    // balancer has no address yet publishes nothing. Never the nodes', which would not serve.
    cluster.apply(&[
        params("internal", json!({ "service": { "type": "ClusterIP" } })),
        class("internal", Some("internal")),
        params("public", json!({ "service": { "type": "LoadBalancer", "httpNodePort": 31180, "httpsNodePort": 31443 } })),
        class("public", Some("public")),
        ingress("default", "in", "internal", &[(Some("in.example.com"), vec![path("/", "Prefix", "web", 80)])]),
        ingress("default", "pub", "public", &[(Some("pub.example.com"), vec![path("/", "Prefix", "web", 80)])]),
    ])?;
    let services: Api<Service> = Api::namespaced(ingresses.clone().into_client(), NS);
    let cluster_ip = eventually(WAIT, "the ClusterIP Service", || async {
        Ok(services
            .get_opt("sluice-proxy-internal")
            .await?
            .and_then(|s| s.spec?.cluster_ip))
    })
    .await?;
    let published = |name: &'static str| {
        let ingresses = ingresses.clone();
        async move {
            let i = ingresses.get(name).await?;
            anyhow::Ok(
                i.status
                    .and_then(|s| s.load_balancer?.ingress)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| i.ip)
                    .collect::<Vec<_>>(),
            )
        }
    };
    eventually(
        WAIT,
        "the cluster IP on the ClusterIP class's Ingress",
        || async { Ok((published("in").await? == [cluster_ip.clone()]).then_some(())) },
    )
    .await?;
    eventually(WAIT, "the LoadBalancer Service", || async {
        Ok(services.get_opt("sluice-proxy-public").await?)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        published("pub").await?,
        Vec::<String>::new(),
        "no address before the load balancer has one"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    // An Ingress that leaves the class has its address taken back.
    let mut moved = ingress(
        "default",
        "app",
        "nginx",
        &[(
            Some("app.example.com"),
            vec![path("/", "Prefix", "web", 80)],
        )],
    );
    moved["metadata"]["labels"] = json!({ "moved": "yes" });
    cluster.apply(&[moved])?;
    eventually(WAIT, "the address to be taken back", || async {
        let i = ingresses.get("app").await?;
        let empty = i
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .is_none_or(|l| l.is_empty());
        Ok(empty.then_some(()))
    })
    .await?;
    let other = ingresses.get("other").await?;
    assert!(
        other
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .is_none(),
        "other classes are left alone"
    );
    Ok(())
}

#[tokio::test]
async fn a_quiet_minute_has_no_writes() -> anyhow::Result<()> {
    let (cluster, _operator) = setup().await?;
    let client = cluster.client().await?;
    cluster
        .register_node("n1", &[("InternalIP", "10.1.0.1")])
        .await?;
    cluster.apply(&[
        params("edge", json!({ "replicas": 1 })),
        class("sluice", Some("edge")),
        ingress(
            "default",
            "app",
            "sluice",
            &[(
                Some("app.example.com"),
                vec![path("/", "Prefix", "web", 80)],
            )],
        ),
    ])?;
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let all_params: Api<IngressClassParams> = Api::all(client);
    eventually(WAIT, "steady state", || async {
        let published = ingresses
            .get("app")
            .await?
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .is_some();
        let status = all_params
            .get("edge")
            .await?
            .status
            .is_some_and(|s| s.http_node_port.is_some());
        Ok((published && status).then_some(()))
    })
    .await?;
    // Let anything in flight land before counting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = cluster.writes()?;
    assert!(
        before
            .iter()
            .any(|(k, _)| k.starts_with("APPLY deployments")),
        "the count sees the operator's applies: {before:?}"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = cluster.writes()?;
    assert_eq!(
        before, after,
        "write requests happened during a quiet minute"
    );
    Ok(())
}

#[tokio::test]
async fn a_rule_that_lost_to_an_older_ingress_gets_one_warning_event() -> anyhow::Result<()> {
    // No webhook here: two Ingresses claiming one rule can exist, as when two are created
    // at the same instant.
    let (cluster, _operator) = setup().await?;
    let rule = || {
        vec![(
            Some("app.example.com"),
            vec![path("/api", "Prefix", "web", 80)],
        )]
    };
    cluster.apply(&[
        class("sluice", None),
        ingress("default", "old", "sluice", &rule()),
    ])?;
    // Creation times have a resolution of one second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    cluster.apply(&[ingress("default", "new", "sluice", &rule())])?;
    let events: Api<Event> = Api::namespaced(cluster.client().await?, "default");
    let conflicts = || async {
        let list = events
            .list(&ListParams::default().fields("reason=RuleConflict"))
            .await?;
        anyhow::Ok(list.items)
    };
    let found = eventually(WAIT, "a RuleConflict Event", || async {
        let items = conflicts().await?;
        Ok((!items.is_empty()).then_some(items))
    })
    .await?;
    assert_eq!(found.len(), 1, "{found:?}");
    let event = &found[0];
    assert_eq!(event.involved_object.name.as_deref(), Some("new"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let message = event.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("host app.example.com path /api (Prefix)")
            && message.contains("Ingress default/old"),
        "{message}"
    );

    // Another write to the losing Ingress is no new loss: no second Event.
    let mut relabelled = ingress("default", "new", "sluice", &rule());
    relabelled["metadata"]["labels"] = json!({ "touched": "yes" });
    cluster.apply(&[relabelled])?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = conflicts().await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].count.unwrap_or(1), event.count.unwrap_or(1));
    Ok(())
}

#[tokio::test]
async fn a_missing_tls_secret_gets_one_warning_event_until_it_exists() -> anyhow::Result<()> {
    let (cluster, _operator) = setup().await?;
    let mut app = ingress(
        "default",
        "app",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path("/", "Prefix", "web", 80)],
        )],
    );
    app["spec"]["tls"] = json!([{ "hosts": ["app.example.com"], "secretName": "app-tls" }]);
    cluster.apply(&[class("sluice", None), app.clone()])?;
    let client = cluster.client().await?;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    // How many times it was said: Events that repeat are counted on one object.
    let said = || async {
        let list = events
            .list(&ListParams::default().fields("reason=TLSSecretMissing"))
            .await?;
        let count: i32 = list
            .items
            .iter()
            .map(|e| e.series.as_ref().map_or(1, |s| s.count.unwrap_or(1)))
            .sum();
        anyhow::Ok((count, list.items))
    };
    let (_, found) = eventually(WAIT, "a TLSSecretMissing Event", || async {
        let (count, items) = said().await?;
        Ok((count > 0).then_some((count, items)))
    })
    .await?;
    let [event] = &found[..] else {
        panic!("{found:?}")
    };
    assert_eq!(event.involved_object.name.as_deref(), Some("app"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let message = event.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("TLS Secret default/app-tls does not exist")
            && message.contains("default certificate"),
        "{message}"
    );

    // Reconciled again (a label), still missing: no second Event.
    let mut touched = app.clone();
    touched["metadata"]["labels"] = json!({ "touched": "yes" });
    cluster.apply(&[touched])?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(said().await?.0, 1);

    // The Secret appears, then goes: said once more.
    let (cert, key, _) = certificate(&["app.example.com"])?;
    cluster.apply(&[tls_secret("default", "app-tls", &cert, &key)])?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(said().await?.0, 1, "nothing more is said once it exists");
    Api::<Secret>::namespaced(client, "default")
        .delete("app-tls", &DeleteParams::default())
        .await?;
    eventually(WAIT, "the Event again", || async {
        Ok((said().await?.0 == 2).then_some(()))
    })
    .await?;
    Ok(())
}
