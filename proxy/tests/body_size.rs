//! The request body limit (nginx's client_max_body_size, ingress-nginx's `proxy-body-size`):
//! 1 MiB by default, per Ingress by annotation, 0 for none; a larger body gets 413 before
//! the backend sees it when its length is declared, and as soon as it passes the limit when
//! it is chunked. HTTP/1.1 (both paths, by `make test`) and HTTP/2.

use http::Method;
use serde_json::{Value, json};
use sluice_tests::client::{Http2, raw_exchange};
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

/// The status line's code of a raw HTTP/1.1 POST of `size` bytes to `host`'s `/body`,
/// with Content-Length, or chunked in 1 KiB chunks.
async fn post(proxy: &Proxy, host: &str, size: usize, chunked: bool) -> anyhow::Result<u16> {
    let mut request = format!("POST /body HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    let mut bytes = if chunked {
        request.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let mut bytes = request.into_bytes();
        let mut left = size;
        while left > 0 {
            let n = left.min(1024);
            bytes.extend(format!("{n:x}\r\n").as_bytes());
            bytes.extend(std::iter::repeat_n(b'x', n));
            bytes.extend(b"\r\n");
            left -= n;
        }
        bytes.extend(b"0\r\n\r\n");
        bytes
    } else {
        request.push_str(&format!("Content-Length: {size}\r\n\r\n"));
        request.into_bytes()
    };
    if !chunked {
        bytes.extend(std::iter::repeat_n(b'x', size));
    }
    let response = raw_exchange(proxy.http, &bytes).await?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {response:.200}"))?;
    Ok(code)
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let hosts = ["default.test", "small.test", "unlimited.test"];
    let (cert, key, _) = certificate(&hosts)?;
    let mut objects = vec![
        tls_secret("shop", "tls", &cert, &key),
        annotated("default", "default.test", json!({})),
        annotated(
            "small",
            "small.test",
            json!({ "nginx.ingress.kubernetes.io/proxy-body-size": "1k" }),
        ),
        annotated(
            "unlimited",
            "unlimited.test",
            json!({ "sluice.dev/proxy-body-size": "0" }),
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

    const MIB: usize = 1 << 20;
    for (host, size, chunked, status) in [
        ("default.test", 1000, false, 200),
        ("default.test", MIB, false, 200),
        ("default.test", MIB + 1, false, 413),
        ("default.test", MIB + 1, true, 413),
        ("small.test", 1024, false, 200),
        ("small.test", 1025, false, 413),
        ("small.test", 500, true, 200),
        ("small.test", 4096, true, 413),
        ("unlimited.test", 2 * MIB, false, 200),
        ("unlimited.test", 2 * MIB, true, 200),
    ] {
        let framing = if chunked { "chunked" } else { "Content-Length" };
        assert_eq!(
            post(&proxy, host, size, chunked).await?,
            status,
            "HTTP/1.1 {host}: {size} bytes, {framing}"
        );
    }
    // A declared length over the limit never reaches the backend.
    let before = web.requests();
    assert_eq!(post(&proxy, "small.test", 2048, false).await?, 413);
    assert_eq!(web.requests(), before);

    for (size, status) in [(1024, 200), (2048, 413)] {
        let mut h2 = Http2::connect(proxy.https, "small.test").await?;
        let reply = h2
            .send(Method::POST, "small.test", "/body", vec![b'x'; size])
            .await?;
        assert_eq!(reply.status, status, "HTTP/2: {size} bytes: {}", reply.body);
    }
    Ok(())
}
