//! The operator's and webhook's spans reach a real OTLP/gRPC receiver, on a real control
//! plane.

use std::time::{Duration, Instant};

use serde_json::json;
use sluice_crds::names::CONTROLLER_NAME;
use sluice_tests::TestCluster;
use sluice_tests::client::https_post_with;
use sluice_tests::objects::{ingress, ingress_class, namespace, path};
use sluice_tests::operator::{Operator, WebhookCerts, ingress_webhook_configuration, install_crds};
use sluice_tests::otlp::{Collector, Received};

async fn wait_for(
    collector: &Collector,
    what: &str,
    found: impl Fn(&Received) -> bool,
) -> anyhow::Result<Received> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = collector.spans().into_iter().find(|s| found(s)) {
            return Ok(s);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no {what} span; got {:?}",
            collector
                .spans()
                .iter()
                .map(|s| &s.span.name)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn reconciles_and_reviews_are_spans() -> anyhow::Result<()> {
    let collector = Collector::start()?;
    let cluster = TestCluster::start().await?;
    cluster.apply(&[namespace("sluice-system")])?;
    install_crds(&cluster)?;
    let certs = WebhookCerts::generate(cluster.dir())?;
    let endpoint = collector.endpoint();
    let operator = Operator::start(
        cluster.kubeconfig(),
        Some(&certs),
        &["--namespace", "sluice-system", "--otlp-endpoint", &endpoint],
        cluster.dir(),
    )
    .await?;
    cluster.apply(&[
        ingress_class("sluice", CONTROLLER_NAME, None),
        ingress_webhook_configuration(
            &operator.webhook_url("/validate/ingress"),
            &certs.ca_bundle(),
            "Fail",
        ),
    ])?;

    let reconcile = wait_for(&collector, "reconcile", |s| {
        s.span.name == "reconcile"
            && s.attribute("object").as_deref() == Some("IngressClass/sluice")
    })
    .await?;
    assert_eq!(reconcile.service, "sluice-operator");
    assert_eq!(reconcile.attribute("outcome").as_deref(), Some("ok"));
    assert!(reconcile.attribute("changed").is_some());

    cluster.apply(&[ingress(
        "default",
        "app",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path("/", "Prefix", "web", 80)],
        )],
    )])?;
    let review = wait_for(&collector, "admission_review", |s| {
        s.span.name == "admission_review"
    })
    .await?;
    assert_eq!(review.attribute("decision").as_deref(), Some("allowed"));
    assert_eq!(review.attribute("reason").as_deref(), Some("valid"));
    assert_eq!(review.attribute("object").as_deref(), Some("default/app"));
    assert!(review.attribute("index_ingresses").is_some());

    // A review that arrives with a traceparent continues that trace.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": { "uid": "traced", "operation": "CREATE", "namespace": "default", "name": "traced",
            "kind": { "group": "networking.k8s.io", "version": "v1", "kind": "Ingress" },
            "resource": { "group": "networking.k8s.io", "version": "v1", "resource": "ingresses" },
            "userInfo": {},
            "object": ingress("default", "traced", "sluice", &[(Some("traced.example.com"), vec![path("/", "Prefix", "web", 80)])]) }
    }))?;
    let traceparent = format!("00-{trace}-b7ad6b7169203331-01");
    let (reply, _) = https_post_with(
        operator.webhook,
        "/validate/ingress",
        body,
        &[("traceparent", &traceparent)],
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let continued = wait_for(&collector, "continued review", |s| s.trace_id() == trace).await?;
    assert_eq!(continued.span.name, "admission_review");
    assert_eq!(continued.parent_span_id(), "b7ad6b7169203331");
    assert!(operator.metric("sluice_webhook_reviews_total").await? >= 2.0);
    Ok(())
}
