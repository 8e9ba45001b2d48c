//! Gateway API on a real control plane, with the operator as a local process: the
//! GatewayClasses of Sluice's get the status the spec defines, others are left alone, and
//! a settled class costs no writes.

use std::time::Duration;

use kube::api::Api;
use serde_json::{Value, json};
use sluice_crds::gateway::class::{CONTROLLER_NAME, SUPPORTED_FEATURES};
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_tests::TestCluster;
use sluice_tests::objects::namespace;
use sluice_tests::operator::{Operator, eventually, install_crds, install_gateway_api_crds};
use sluice_tests::requests::growth;

const NS: &str = "sluice-system";
const WAIT: Duration = Duration::from_secs(60);

fn gateway_class(name: &str, controller: &str, params: Option<&str>) -> Value {
    let mut class = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": { "name": name },
        "spec": { "controllerName": controller }
    });
    if let Some(params) = params {
        class["spec"]["parametersRef"] =
            json!({ "group": "sluice.dev", "kind": "IngressClassParams", "name": params });
    }
    class
}

/// `(status, reason, message)` of a condition of the class, once it has one.
fn condition(class: &GatewayClass, type_: &str) -> Option<(String, String, String)> {
    class
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test]
async fn gateway_classes_of_sluice_are_accepted_with_their_features() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    cluster.apply(&[namespace(NS)])?;
    install_crds(&cluster)?;
    install_gateway_api_crds(&cluster)?;
    let _operator = Operator::start(
        cluster.kubeconfig(),
        None,
        &["--namespace", NS],
        cluster.dir(),
    )
    .await?;
    let classes: Api<GatewayClass> = Api::all(cluster.client().await?);
    cluster.apply(&[
        gateway_class("sluice", CONTROLLER_NAME, None),
        gateway_class("tuned", CONTROLLER_NAME, Some("edge")),
        gateway_class("theirs", "example.com/other-controller", None),
    ])?;

    let sluice = eventually(WAIT, "GatewayClass sluice to be accepted", || async {
        let class = classes.get("sluice").await?;
        Ok(condition(&class, "Accepted")
            .is_some_and(|(status, ..)| status == "True")
            .then_some(class))
    })
    .await?;
    let (status, reason, _) = condition(&sluice, "SupportedVersion").unwrap_or_default();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "SupportedVersion")
    );
    let features: Vec<String> = sluice
        .status
        .iter()
        .flat_map(|s| s.supported_features.iter().flatten())
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(features, SUPPORTED_FEATURES);

    // Parameters that do not exist: not accepted, saying why; accepted once they do.
    let (_, reason, message) = eventually(WAIT, "GatewayClass tuned to be refused", || async {
        Ok(condition(&classes.get("tuned").await?, "Accepted").filter(|(s, ..)| s == "False"))
    })
    .await?;
    assert_eq!(reason, "InvalidParameters");
    assert!(
        message.contains("IngressClassParams edge does not exist"),
        "{message}"
    );
    cluster.apply(&[json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "IngressClassParams",
        "metadata": { "name": "edge" },
        "spec": { "replicas": 1 }
    })])?;
    eventually(WAIT, "GatewayClass tuned to be accepted", || async {
        Ok(condition(&classes.get("tuned").await?, "Accepted").filter(|(s, ..)| s == "True"))
    })
    .await?;

    // Another controller's class keeps the status the API server gave it.
    let theirs = classes.get("theirs").await?;
    let (_, reason, _) = condition(&theirs, "Accepted").unwrap_or_default();
    assert_eq!(reason, "Pending", "{:?}", theirs.status);
    assert!(
        theirs
            .status
            .as_ref()
            .and_then(|s| s.supported_features.as_ref())
            .is_none()
    );

    // Settled: nothing more is written, however long it runs.
    let before = cluster.writes()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let grew = growth(&before, &cluster.writes()?);
    assert!(
        !grew.keys().any(|k| k.contains("gatewayclasses")),
        "GatewayClass writes while nothing changed: {grew:?}"
    );
    Ok(())
}
