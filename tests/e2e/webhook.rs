//! The admission webhook on a real control plane: kubectl's requests are reviewed by the
//! real sluice-operator over TLS, and kubectl prints what it decided.

use serde_json::{Value, json};
use sluice_tests::TestCluster;
use sluice_tests::objects::{ingress, path};
use sluice_tests::operator::{WebhookCluster, ingress_webhook_configuration};

/// A control plane whose Ingresses a real webhook-only operator reviews.
type Setup = WebhookCluster;

async fn setup(failure_policy: &str) -> anyhow::Result<Setup> {
    WebhookCluster::start(failure_policy).await
}

/// `kubectl apply` of one object: (succeeded, stdout + stderr).
fn kubectl_apply(cluster: &TestCluster, object: &Value) -> anyhow::Result<(bool, String)> {
    let out = cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &sluice_tests::objects::to_yaml(std::slice::from_ref(object)),
    )?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn api_ingress(name: &str, class: &str) -> Value {
    ingress(
        "default",
        name,
        class,
        &[(
            Some("app.example.com"),
            vec![path("/api", "Prefix", "api-svc", 80)],
        )],
    )
}

#[tokio::test]
async fn kubectl_shows_why_a_conflicting_ingress_is_refused() -> anyhow::Result<()> {
    let s = setup("Fail").await?;
    let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("api-v1", "sluice"))?;
    assert!(ok, "{out}");

    // The webhook's index learns of api-v1 from its watch; retry until it has.
    let mut last = String::new();
    for _ in 0..50 {
        let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("api-v2", "sluice"))?;
        if !ok {
            last = out;
            break;
        }
        s.cluster.kubectl(&["delete", "ingress", "api-v2"])?;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        last.contains("admission webhook \"ingress.sluice.dev\" denied the request"),
        "{last}"
    );
    assert!(
        last.contains(
            "host app.example.com path /api (Prefix) is already served by Ingress default/api-v1"
        ),
        "{last}"
    );
    assert!(
        last.contains("remove the rule from default/api-v1 first"),
        "{last}"
    );

    // The same rule in another controller's class is none of Sluice's business.
    let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("api-nginx", "nginx"))?;
    assert!(ok, "{out}");
    // Updating the holder itself is fine.
    let mut updated = api_ingress("api-v1", "sluice");
    updated["metadata"]["labels"] = json!({ "team": "shop" });
    let (ok, out) = kubectl_apply(&s.cluster, &updated)?;
    assert!(ok, "{out}");
    assert!(s.operator.metric("sluice_webhook_reviews_total{kind=\"Ingress\",decision=\"denied\",reason=\"conflict\"}").await? >= 1.0);
    Ok(())
}

#[tokio::test]
async fn kubectl_shows_malformed_values_and_warnings() -> anyhow::Result<()> {
    let s = setup("Fail").await?;
    let mut bad = api_ingress("bad", "sluice");
    bad["metadata"]["annotations"] = json!({ "sluice.dev/read-timeout": "forever" });
    let (ok, out) = kubectl_apply(&s.cluster, &bad)?;
    assert!(!ok);
    assert!(
        out.contains("annotation sluice.dev/read-timeout: must be a whole number with a unit: ms, s, m or h (got \"forever\")"),
        "{out}"
    );

    // Access control Sluice cannot enforce (client certificates), and snippets: refused,
    // each named.
    let mut guarded = api_ingress("guarded", "sluice");
    guarded["metadata"]["annotations"] = json!({
        "nginx.ingress.kubernetes.io/auth-tls-secret": "default/client-ca",
        "nginx.ingress.kubernetes.io/configuration-snippet": "deny all;",
    });
    let (ok, out) = kubectl_apply(&s.cluster, &guarded)?;
    assert!(!ok, "{out}");
    assert!(
        out.contains("annotation nginx.ingress.kubernetes.io/auth-tls-secret: this access control is not enforced by Sluice yet; the Ingress is refused rather than served without it"),
        "{out}"
    );
    assert!(
        out.contains("annotation nginx.ingress.kubernetes.io/configuration-snippet: nginx configuration snippets never run in Sluice"),
        "{out}"
    );

    let mut warned = api_ingress("warned", "sluice");
    warned["metadata"]["annotations"] =
        json!({ "nginx.ingress.kubernetes.io/proxy-buffering": "on" });
    warned["spec"]["tls"] = json!([{ "hosts": ["typo.example.com"], "secretName": "app-tls" }]);
    let (ok, out) = kubectl_apply(&s.cluster, &warned)?;
    assert!(ok, "{out}");
    assert!(
        out.contains("Warning: annotation nginx.ingress.kubernetes.io/proxy-buffering is not implemented by Sluice and is ignored"),
        "{out}"
    );
    assert!(
        out.contains(
            "Warning: spec.tls[0].hosts[0]: no rule of class sluice serves typo.example.com"
        ),
        "{out}"
    );
    Ok(())
}

/// Applies `api-v2` (not a canary) until the webhook refuses it, which it does once its
/// index has learnt of `api-v1` from its watch; what kubectl said then.
async fn refused_second_primary(s: &Setup) -> anyhow::Result<String> {
    for _ in 0..50 {
        let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("api-v2", "sluice"))?;
        if !ok {
            return Ok(out);
        }
        s.cluster.kubectl(&["delete", "ingress", "api-v2"])?;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the webhook never refused api-v2")
}

#[tokio::test]
async fn a_canary_joins_its_primary_s_rule_but_a_second_primary_is_refused() -> anyhow::Result<()> {
    let s = setup("Fail").await?;
    let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("api-v1", "sluice"))?;
    assert!(ok, "{out}");
    // From here on the index holds api-v1's rule.
    let first = refused_second_primary(&s).await?;
    assert!(
        first.contains(
            "host app.example.com path /api (Prefix) is already served by Ingress default/api-v1"
        ),
        "{first}"
    );

    // The same host and path as a canary: it claims no rule, so it is admitted.
    let mut canary = api_ingress("api-canary", "sluice");
    canary["metadata"]["annotations"] = json!({
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "20",
    });
    let (ok, out) = kubectl_apply(&s.cluster, &canary)?;
    assert!(ok, "a canary of api-v1's rule is admitted: {out}");
    assert!(!out.contains("Warning:"), "{out}");

    // Another primary of that rule is still refused, as a conflict with api-v1 alone.
    let second = refused_second_primary(&s).await?;
    assert!(
        second.contains("admission webhook \"ingress.sluice.dev\" denied the request: Ingress default/api-v2: host app.example.com path /api (Prefix) is already served by Ingress default/api-v1"),
        "{second}"
    );
    assert!(!second.contains("api-canary"), "{second}");
    Ok(())
}

#[tokio::test]
async fn a_path_sluice_cannot_match_under_use_regex_is_refused_with_the_reason()
-> anyhow::Result<()> {
    let s = setup("Fail").await?;
    let mut regex = ingress(
        "default",
        "lookahead",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path(
                "/api/(?!admin)",
                "ImplementationSpecific",
                "api-svc",
                80,
            )],
        )],
    );
    regex["metadata"]["annotations"] = json!({ "nginx.ingress.kubernetes.io/use-regex": "true" });
    let (ok, out) = kubectl_apply(&s.cluster, &regex)?;
    assert!(!ok, "{out}");
    assert!(
        out.contains("admission webhook \"ingress.sluice.dev\" denied the request: Ingress default/lookahead: spec.rules[0].http.paths[0]: path \"/api/(?!admin)\" is not a regular expression Sluice can use: "),
        "{out}"
    );
    assert!(out.contains("look-around"), "{out}");

    // The same expression without look-around is admitted.
    regex["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/api/v[0-9]+");
    let (ok, out) = kubectl_apply(&s.cluster, &regex)?;
    assert!(ok, "{out}");
    Ok(())
}

#[tokio::test]
async fn failure_policy_decides_when_the_webhook_is_down() -> anyhow::Result<()> {
    let mut s = setup("Fail").await?;
    s.operator.stop();
    let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("while-down", "sluice"))?;
    assert!(!ok, "failurePolicy Fail refuses while the webhook is down");
    assert!(
        out.contains("failed calling webhook \"ingress.sluice.dev\""),
        "{out}"
    );

    let url = format!("https://{}/validate/ingress", s.operator.webhook);
    s.cluster.apply(&[ingress_webhook_configuration(
        &url,
        &s.certs.ca_bundle(),
        "Ignore",
    )])?;
    let (ok, out) = kubectl_apply(&s.cluster, &api_ingress("while-down", "sluice"))?;
    assert!(
        ok,
        "failurePolicy Ignore admits while the webhook is down: {out}"
    );
    Ok(())
}

#[tokio::test]
async fn the_webhook_serves_only_tls_and_answers_garbage_with_400() -> anyhow::Result<()> {
    let s = setup("Fail").await?;
    // Plain HTTP gets no HTTP answer.
    assert!(
        sluice_tests::client::get(s.operator.webhook, "x", "/validate/ingress")
            .await
            .is_err()
    );
    // Over TLS, a body that is not an AdmissionReview is a 400 that says so.
    let (reply, _) = sluice_tests::client::https_post(
        s.operator.webhook,
        "/validate/ingress",
        b"{\"hello\":1}".to_vec(),
    )
    .await?;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.starts_with("the body is not an AdmissionReview"),
        "{}",
        reply.body
    );
    let (reply, _) = sluice_tests::client::https_post(
        s.operator.webhook,
        "/validate/ingress",
        vec![b'x'; 5 * 1024 * 1024],
    )
    .await?;
    assert_eq!(
        reply.status, 413,
        "bodies over the limit are refused unread"
    );
    Ok(())
}
