//! TLS through a real proxy: certificates by SNI from Secrets, the default certificate,
//! HTTP/2 by ALPN, TLS versions, the HTTP→HTTPS redirect, and Secrets that cannot be used.

use serde_json::json;
use sluice_tests::client::{get, https_get};
use sluice_tests::objects::{
    certificate, ingress, path, service_with_endpoints, tls_secret, write_manifest,
};
use sluice_tests::operator::eventually;
use sluice_tests::{Proxy, Upstream};
use std::time::Duration;

struct Setup {
    _dir: tempfile::TempDir,
    /// The manifest file, and the objects in it.
    file: std::path::PathBuf,
    objects: Vec<serde_json::Value>,
    _upstream: Upstream,
    proxy: Proxy,
    a_cert: Vec<u8>,
    b_cert: Vec<u8>,
}

/// Hosts a.example.com and b.example.com with their own certificates; c.example.com's
/// Secret is missing, d.example.com's holds garbage; plain.example.com has no TLS.
async fn setup(extra_args: &[&str]) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::start("web", "127.0.0.2")?;
    let (a_pem, a_key, a_cert) = certificate(&["a.example.com"])?;
    let (b_pem, b_key, b_cert) = certificate(&["b.example.com"])?;
    let hosts = [
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
        "plain.example.com",
    ];
    let rules: Vec<_> = hosts
        .iter()
        .map(|h| (Some(*h), vec![path("/", "Prefix", "web", 80)]))
        .collect();
    let mut ing = ingress("shop", "sites", "sluice", &rules);
    ing["spec"]["tls"] = json!([
        { "hosts": ["a.example.com"], "secretName": "a-tls" },
        { "hosts": ["b.example.com"], "secretName": "b-tls" },
        { "hosts": ["c.example.com"], "secretName": "c-missing" },
        { "hosts": ["d.example.com"], "secretName": "d-garbage" },
    ]);
    let mut objects = vec![
        ing,
        tls_secret("shop", "a-tls", &a_pem, &a_key),
        tls_secret("shop", "b-tls", &b_pem, &b_key),
        tls_secret("shop", "d-garbage", "not a certificate", "nor a key"),
    ];
    objects.extend(service_with_endpoints("shop", "web", 80, &[upstream.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    let mut args = vec!["--manifests", file.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let proxy = Proxy::start(&args, dir.path()).await?;
    Ok(Setup {
        _dir: dir,
        file,
        objects,
        _upstream: upstream,
        proxy,
        a_cert,
        b_cert,
    })
}

#[tokio::test]
async fn serves_each_host_its_certificate_by_sni() -> anyhow::Result<()> {
    let s = setup(&[]).await?;
    let (reply, tls) = https_get(
        s.proxy.https,
        "a.example.com",
        "a.example.com",
        "/",
        &["http/1.1"],
        &[],
    )
    .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(tls.leaf, s.a_cert);
    assert_eq!(
        reply.upstream_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    let (reply, tls) = https_get(
        s.proxy.https,
        "B.Example.com",
        "b.example.com",
        "/",
        &[],
        &[],
    )
    .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(tls.leaf, s.b_cert);

    assert_eq!(
        s.proxy
            .metric("sluice_proxy_tls_certificate_selections_total{certificate=\"sni\"}")
            .await?,
        2.0
    );
    assert_eq!(
        s.proxy.metric("sluice_proxy_tls_handshakes_total").await?,
        2.0
    );

    // Unknown names, no SNI, and hosts whose Secret cannot be used get the default one.
    for sni in ["unknown.example.com", "", "c.example.com", "d.example.com"] {
        let (_, tls) = https_get(s.proxy.https, sni, "plain.example.com", "/", &[], &[]).await?;
        assert!(!tls.leaf.is_empty());
        assert_ne!(tls.leaf, s.a_cert, "sni {sni:?}");
        assert_ne!(tls.leaf, s.b_cert, "sni {sni:?}");
    }
    Ok(())
}

#[tokio::test]
async fn negotiates_http2_and_both_tls_versions() -> anyhow::Result<()> {
    let s = setup(&[]).await?;
    let (reply, tls) = https_get(
        s.proxy.https,
        "a.example.com",
        "a.example.com",
        "/h2",
        &["h2", "http/1.1"],
        &[],
    )
    .await?;
    assert_eq!(tls.alpn.as_deref(), Some("h2"));
    assert_eq!(reply.version, http::Version::HTTP_2);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["path"], "/h2");

    let (_, tls) = https_get(
        s.proxy.https,
        "a.example.com",
        "a.example.com",
        "/",
        &["http/1.1"],
        &[],
    )
    .await?;
    assert_eq!(tls.alpn.as_deref(), Some("http/1.1"));

    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let (reply, tls) = https_get(
            s.proxy.https,
            "a.example.com",
            "a.example.com",
            "/",
            &[],
            &[version],
        )
        .await?;
        assert_eq!(tls.version, Some(expected));
        assert_eq!(reply.status, 200);
    }
    Ok(())
}

#[tokio::test]
async fn tls13_only_refuses_tls12_requests() -> anyhow::Result<()> {
    let s = setup(&["--tls-min-version", "1.3"]).await?;
    let (reply, _) = https_get(
        s.proxy.https,
        "a.example.com",
        "a.example.com",
        "/",
        &[],
        &[&rustls::version::TLS12],
    )
    .await?;
    assert_eq!(reply.status, 426);
    let (reply, _) = https_get(
        s.proxy.https,
        "a.example.com",
        "a.example.com",
        "/",
        &[],
        &[&rustls::version::TLS13],
    )
    .await?;
    assert_eq!(reply.status, 200);
    Ok(())
}

#[tokio::test]
async fn redirects_plain_http_for_tls_hosts_only() -> anyhow::Result<()> {
    let s = setup(&["--https-redirect-port", "30443"]).await?;
    let reply = get(s.proxy.http, "a.example.com", "/cart?item=3").await?;
    assert_eq!(reply.status, 308);
    assert_eq!(
        reply.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("https://a.example.com:30443/cart?item=3")
    );
    assert_eq!(
        get(s.proxy.http, "plain.example.com", "/").await?.status,
        200
    );
    // An ACME HTTP-01 challenge is served over plain HTTP, never redirected.
    let reply = get(
        s.proxy.http,
        "a.example.com",
        "/.well-known/acme-challenge/token-1",
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["path"], "/.well-known/acme-challenge/token-1");

    let s = setup(&["--no-ssl-redirect"]).await?;
    assert_eq!(get(s.proxy.http, "a.example.com", "/").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn unusable_secrets_are_reported_not_fatal() -> anyhow::Result<()> {
    let s = setup(&[]).await?;
    let routes = s.proxy.routes().await?;
    let messages: Vec<String> = routes["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("Secret shop/c-missing not found"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("Secret shop/d-garbage: the certificate holds no PEM certificate"),
        "{messages:?}"
    );
    assert_eq!(
        s.proxy
            .metric("sluice_proxy_config_problems{kind=\"tls_secret\"}")
            .await?,
        2.0
    );
    // The hosts are still served (with the default certificate).
    let (reply, _) = https_get(
        s.proxy.https,
        "c.example.com",
        "c.example.com",
        "/",
        &[],
        &[],
    )
    .await?;
    assert_eq!(reply.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_secret_edited_into_garbage_keeps_serving_its_certificate() -> anyhow::Result<()> {
    let mut s = setup(&[]).await?;
    let leaf = |proxy: &Proxy| {
        let https = proxy.https;
        async move {
            let (reply, tls) =
                https_get(https, "a.example.com", "a.example.com", "/", &[], &[]).await?;
            anyhow::Ok((reply.status, tls.leaf))
        }
    };
    assert_eq!(leaf(&s.proxy).await?, (200, s.a_cert.clone()));

    s.objects[1] = tls_secret("shop", "a-tls", "not a certificate", "nor a key");
    write_manifest(&s.file, &s.objects)?;
    eventually(
        Duration::from_secs(10),
        "the broken Secret reported",
        || async {
            let routes = s.proxy.routes().await?;
            Ok(routes["problems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["message"].as_str())
                .find(|m| m.starts_with("Secret shop/a-tls: "))
                .map(str::to_string))
        },
    )
    .await
    .map(|message| {
        assert!(
            message.ends_with("the certificate it held before is still served"),
            "{message}"
        )
    })?;
    assert_eq!(leaf(&s.proxy).await?, (200, s.a_cert.clone()));
    // And HTTP is still redirected to HTTPS.
    let reply = get(s.proxy.http, "a.example.com", "/").await?;
    assert_eq!(reply.status, 308);

    // Deleted: the default certificate, as for a Secret never seen.
    s.objects.remove(1);
    write_manifest(&s.file, &s.objects)?;
    eventually(
        Duration::from_secs(10),
        "the default certificate",
        || async {
            let (_, served) = leaf(&s.proxy).await?;
            Ok((served != s.a_cert).then_some(()))
        },
    )
    .await?;
    Ok(())
}
