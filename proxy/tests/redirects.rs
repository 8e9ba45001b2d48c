//! Redirect annotations through a real proxy, ingress-nginx's and Sluice's own:
//! `permanent-redirect` (+ `-code`), `temporal-redirect`, `app-root`. HTTP/1.1 (both paths,
//! by `make test`) and HTTP/2.

use serde_json::{Value, json};
use sluice_tests::client::{get, https_get};
use sluice_tests::objects::{
    certificate, ingress, path, service_with_endpoints, tls_secret, write_manifest,
};
use sluice_tests::{Proxy, Upstream};

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
async fn redirect_annotations_answer_instead_of_the_backend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let hosts = ["moved.test", "moved308.test", "both.test", "root.test"];
    let (cert, key, _) = certificate(&hosts)?;
    let mut objects = vec![
        tls_secret("shop", "tls", &cert, &key),
        annotated(
            "moved",
            "moved.test",
            json!({ "nginx.ingress.kubernetes.io/permanent-redirect": "https://new.example.com$request_uri" }),
        ),
        annotated(
            "moved308",
            "moved308.test",
            json!({
                "nginx.ingress.kubernetes.io/permanent-redirect": "$scheme://$host/v2$uri",
                "nginx.ingress.kubernetes.io/permanent-redirect-code": "308",
            }),
        ),
        annotated(
            "both",
            "both.test",
            json!({
                "nginx.ingress.kubernetes.io/permanent-redirect": "https://permanent.example.com/",
                "sluice.dev/temporal-redirect": "https://temporal.example.com/",
            }),
        ),
        annotated(
            "root",
            "root.test",
            json!({ "nginx.ingress.kubernetes.io/app-root": "/app" }),
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

    // (host, path, status, Location over plain HTTP, Location over HTTPS)
    let cases = [
        (
            "moved.test",
            "/cart?x=1",
            301,
            Some("https://new.example.com/cart?x=1"),
            Some("https://new.example.com/cart?x=1"),
        ),
        (
            "moved308.test",
            "/a/b?q",
            308,
            Some("http://moved308.test/v2/a/b"),
            Some("https://moved308.test/v2/a/b"),
        ),
        (
            "both.test",
            "/",
            302,
            Some("https://temporal.example.com/"),
            Some("https://temporal.example.com/"),
        ),
        ("root.test", "/", 302, Some("/app"), Some("/app")),
        ("root.test", "/app", 200, None, None),
    ];
    for (host, path, status, plain, tls) in cases {
        let reply = get(proxy.http, host, path).await?;
        assert_eq!(reply.status, status, "HTTP/1.1 {host}{path}: {}", reply.body);
        let location = reply.headers.get("location").and_then(|l| l.to_str().ok());
        assert_eq!(location, plain, "HTTP/1.1 {host}{path}");

        let (reply, info) = https_get(proxy.https, host, host, path, &["h2"], &[]).await?;
        assert_eq!(info.alpn.as_deref(), Some("h2"));
        assert_eq!(reply.status, status, "HTTP/2 {host}{path}: {}", reply.body);
        let location = reply.headers.get("location").and_then(|l| l.to_str().ok());
        assert_eq!(location, tls, "HTTP/2 {host}{path}");
    }
    // Only /app on root.test reached the backend.
    assert_eq!(web.requests(), 2);
    Ok(())
}
