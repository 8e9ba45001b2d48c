//! Access control by annotation, through a real proxy: allowlists and denylists of client
//! ranges (ingress-nginx's `whitelist-source-range`, `denylist-source-range` and Sluice's
//! own), and Ingresses asking for access control Sluice cannot enforce, whose rules answer
//! 503 rather than being served open. HTTP/1.1 (both paths, by `make test`) and HTTP/2.

use serde_json::{Value, json};
use sluice_tests::client::{get, https_get};
use sluice_tests::objects::{
    certificate, ingress, path, service_with_endpoints, tls_secret, write_manifest,
};
use sluice_tests::{Proxy, Upstream};

/// An Ingress `name` for `host`, `/` to Service `web`, with `annotations`, over TLS.
fn annotated(name: &str, host: &str, annotations: Value) -> Value {
    let mut i = ingress(
        "shop",
        name,
        "sluice",
        &[(Some(host), vec![path("/", "Prefix", "web", 80)])],
    );
    i["metadata"]["annotations"] = annotations;
    i["spec"]["tls"] = json!([{ "hosts": [host], "secretName": "tls" }]);
    i
}

#[tokio::test]
async fn client_ranges_and_unenforceable_rules_decide_who_gets_through() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let hosts = [
        "allowed.test",
        "elsewhere.test",
        "denied.test",
        "auth.test",
        "bad-range.test",
    ];
    let (cert, key, _) = certificate(&hosts)?;
    let mut objects = vec![
        tls_secret("shop", "tls", &cert, &key),
        annotated(
            "allowed",
            "allowed.test",
            json!({ "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8, 127.0.0.0/8" }),
        ),
        annotated(
            "elsewhere",
            "elsewhere.test",
            json!({ "sluice.dev/allowlist-source-range": "10.0.0.0/8" }),
        ),
        annotated(
            "denied",
            "denied.test",
            json!({ "nginx.ingress.kubernetes.io/denylist-source-range": "127.0.0.1" }),
        ),
        annotated(
            "auth",
            "auth.test",
            json!({ "nginx.ingress.kubernetes.io/auth-url": "http://auth.shop.svc/check" }),
        ),
        annotated(
            "bad-range",
            "bad-range.test",
            json!({ "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/33" }),
        ),
    ];
    objects.extend(service_with_endpoints("shop", "web", 80, &[web.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    let proxy = Proxy::start(
        &[
            "--manifests",
            file.to_str().unwrap_or_default(),
            "--no-ssl-redirect",
        ],
        dir.path(),
    )
    .await?;

    for (host, status, says) in [
        ("allowed.test", 200, ""),
        ("elsewhere.test", 403, "may not reach this rule"),
        ("denied.test", 403, "may not reach this rule"),
        ("auth.test", 503, "auth-url"),
        ("bad-range.test", 503, "is not an address or a CIDR range"),
    ] {
        let reply = get(proxy.http, host, "/").await?;
        assert_eq!(reply.status, status, "HTTP/1.1 {host}: {}", reply.body);
        assert!(reply.body.contains(says), "HTTP/1.1 {host}: {}", reply.body);
        let (reply, tls) = https_get(proxy.https, host, host, "/", &["h2"], &[]).await?;
        assert_eq!(tls.alpn.as_deref(), Some("h2"));
        assert_eq!(reply.status, status, "HTTP/2 {host}: {}", reply.body);
        assert!(reply.body.contains(says), "HTTP/2 {host}: {}", reply.body);
    }
    // Only the allowed requests reached the backend.
    assert_eq!(web.requests(), 2);

    let problems = proxy.routes().await?["problems"].to_string();
    assert!(
        problems.contains("auth-url") && problems.contains("10.0.0.0/33"),
        "{problems}"
    );
    Ok(())
}
