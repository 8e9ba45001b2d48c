//! Ingress annotations through a real proxy, ingress-nginx's and Sluice's own, on every
//! path: HTTP/1.1 (the fast path and Pingora's, by `make test`) and HTTP/2 over TLS.
//! - access: allow and deny lists of client ranges, and access control Sluice cannot
//!   enforce, whose rules answer 503 rather than being served open;
//! - redirects: `permanent-redirect` (+ `-code`), `temporal-redirect`, `app-root`;
//! - the request body limit (`proxy-body-size`): 1 MiB by default, 413 over it;
//! - authentication: basic auth against an htpasswd Secret, and external auth
//!   (`auth-url`) against a real auth service;
//! - and the rest of ingress-nginx's annotations, one test per group.

use http::Method;
use serde_json::{Value, json};
use sluice_tests::client::{Http2, get, https_get, raw_exchange};
use sluice_tests::objects::{
    annotated_ingress, certificate, service_with_endpoints, tls_secret, write_manifest,
};
use sluice_tests::{Proxy, Upstream};

/// A proxy serving `ingresses` (see [`annotated_ingress`]) with a certificate for `hosts`,
/// their Service `web` at `web`, plain HTTP not redirected.
async fn serve(
    dir: &tempfile::TempDir,
    web: &Upstream,
    hosts: &[&str],
    ingresses: Vec<Value>,
) -> anyhow::Result<Proxy> {
    let (cert, key, _) = certificate(hosts)?;
    let mut objects = vec![tls_secret("shop", "tls", &cert, &key)];
    objects.extend(ingresses);
    objects.extend(service_with_endpoints("shop", "web", 80, &[web.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    Proxy::start(
        &[
            "--manifests",
            file.to_str().unwrap_or_default(),
            "--no-ssl-redirect",
        ],
        dir.path(),
    )
    .await
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
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            annotated_ingress(
                "allowed",
                "allowed.test",
                json!({ "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8, 127.0.0.0/8" }),
            ),
            annotated_ingress(
                "elsewhere",
                "elsewhere.test",
                json!({ "sluice.dev/allowlist-source-range": "10.0.0.0/8" }),
            ),
            annotated_ingress(
                "denied",
                "denied.test",
                json!({ "nginx.ingress.kubernetes.io/denylist-source-range": "127.0.0.1" }),
            ),
            annotated_ingress(
                "auth",
                "auth.test",
                json!({ "nginx.ingress.kubernetes.io/auth-tls-verify-client": "on" }),
            ),
            annotated_ingress(
                "bad-range",
                "bad-range.test",
                json!({ "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/33" }),
            ),
        ],
    )
    .await?;

    for (host, status, says) in [
        ("allowed.test", 200, ""),
        ("elsewhere.test", 403, "may not reach this rule"),
        ("denied.test", 403, "may not reach this rule"),
        ("auth.test", 503, "auth-tls-verify-client"),
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
        problems.contains("auth-tls-verify-client") && problems.contains("10.0.0.0/33"),
        "{problems}"
    );
    Ok(())
}

#[tokio::test]
async fn redirect_annotations_answer_instead_of_the_backend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let hosts = ["moved.test", "moved308.test", "both.test", "root.test"];
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            annotated_ingress(
                "moved",
                "moved.test",
                json!({ "nginx.ingress.kubernetes.io/permanent-redirect": "https://new.example.com$request_uri" }),
            ),
            annotated_ingress(
                "moved308",
                "moved308.test",
                json!({
                    "nginx.ingress.kubernetes.io/permanent-redirect": "$scheme://$host/v2$uri",
                    "nginx.ingress.kubernetes.io/permanent-redirect-code": "308",
                }),
            ),
            annotated_ingress(
                "both",
                "both.test",
                json!({
                    "nginx.ingress.kubernetes.io/permanent-redirect": "https://permanent.example.com/",
                    "sluice.dev/temporal-redirect": "https://temporal.example.com/",
                }),
            ),
            annotated_ingress(
                "root",
                "root.test",
                json!({ "nginx.ingress.kubernetes.io/app-root": "/app" }),
            ),
        ],
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
        assert_eq!(
            reply.status, status,
            "HTTP/1.1 {host}{path}: {}",
            reply.body
        );
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
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            annotated_ingress("default", "default.test", json!({})),
            annotated_ingress(
                "small",
                "small.test",
                json!({ "nginx.ingress.kubernetes.io/proxy-body-size": "1k" }),
            ),
            annotated_ingress(
                "unlimited",
                "unlimited.test",
                json!({ "sluice.dev/proxy-body-size": "0" }),
            ),
        ],
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

/// An Ingress of Service `service` for `host` with `paths` (`(path, pathType)`) and
/// `annotations`, TLS from the shared certificate.
fn paths_ingress(
    name: &str,
    host: &str,
    service: &str,
    paths: &[(&str, &str)],
    annotations: Value,
) -> Value {
    let paths = paths
        .iter()
        .map(|(p, kind)| sluice_tests::objects::path(p, kind, service, 80))
        .collect();
    let mut i = sluice_tests::objects::ingress("shop", name, "sluice", &[(Some(host), paths)]);
    i["metadata"]["annotations"] = annotations;
    i["spec"]["tls"] = json!([{ "hosts": [host], "secretName": "tls" }]);
    i
}

#[tokio::test]
async fn regex_paths_and_rewrites_as_ingress_nginx_reads_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let other = Upstream::start("other", "127.0.0.2")?;
    let ingresses = vec![
        // ingress-nginx's documented rewrite example.
        paths_ingress(
            "rewrite",
            "rw.test",
            "web",
            &[("/something(/|$)(.*)", "ImplementationSpecific")],
            json!({
                "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                "nginx.ingress.kubernetes.io/x-forwarded-prefix": "/something",
            }),
        ),
        paths_ingress(
            "regex",
            "re.test",
            "web",
            &[("/api/v[0-9]+", "ImplementationSpecific")],
            json!({ "nginx.ingress.kubernetes.io/use-regex": "true" }),
        ),
        // Plain paths on the same host, from another Ingress: matched as regular
        // expressions too, since the host has one.
        paths_ingress(
            "plain",
            "re.test",
            "other",
            &[("/foo", "Prefix"), ("/exact", "Exact")],
            json!({}),
        ),
        // The same plain paths on a host without regular expressions.
        paths_ingress(
            "elsewhere",
            "plain.test",
            "other",
            &[("/foo", "Prefix")],
            json!({}),
        ),
    ];
    let mut objects = ingresses;
    objects.extend(service_with_endpoints("shop", "other", 80, &[other.addr]));
    let proxy = serve(&dir, &web, &["rw.test", "re.test", "plain.test"], objects).await?;

    // (host, request target, answered by, the backend's path and query; 404: None)
    type Backend<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;
    let cases: [(&str, &str, Backend<'_>); 12] = [
        ("rw.test", "/something", Some(("web", "/", None))),
        ("rw.test", "/something/", Some(("web", "/", None))),
        (
            "rw.test",
            "/something/new/a%2Fb?x=1&y",
            Some(("web", "/new/a%2Fb", Some("x=1&y"))),
        ),
        ("rw.test", "/SOMETHING/Case", Some(("web", "/Case", None))),
        ("rw.test", "/somethingelse", None),
        (
            "re.test",
            "/api/v2/users",
            Some(("web", "/api/v2/users", None)),
        ),
        ("re.test", "/API/V3", Some(("web", "/API/V3", None))),
        ("re.test", "/api/vx", None),
        ("re.test", "/foobar", Some(("other", "/foobar", None))),
        ("re.test", "/EXACT", Some(("other", "/EXACT", None))),
        ("re.test", "/exact/", None),
        ("plain.test", "/foobar", None),
    ];
    let mut h2 = sluice_tests::client::Http2::connect(proxy.https, "re.test").await?;
    for (host, target, expected) in cases {
        // A client's own X-Forwarded-Prefix never reaches the backend.
        let spoof = [("x-forwarded-prefix", "/evil")];
        let replies = [
            (
                "HTTP/1.1",
                sluice_tests::client::get_with(proxy.http, host, target, &spoof).await?,
            ),
            (
                "HTTP/2",
                h2.send_with(Method::GET, host, target, &spoof, Vec::new())
                    .await?,
            ),
        ];
        for (protocol, reply) in replies {
            let what = format!("{protocol} {host}{target}: {}", reply.body);
            let Some((server, path, query)) = expected else {
                assert_eq!(reply.status, 404, "{what}");
                continue;
            };
            assert_eq!(reply.status, 200, "{what}");
            let seen = reply.json();
            assert_eq!(seen["server"], server, "{what}");
            assert_eq!(seen["path"], path, "{what}");
            assert_eq!(seen["query"].as_str(), query, "{what}");
            let prefix = seen["headers"]["x-forwarded-prefix"].as_str();
            let rewritten = host == "rw.test";
            assert_eq!(prefix, rewritten.then_some("/something"), "{what}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn cors_headers_and_preflights_as_ingress_nginx_sends_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let hosts = ["any.test", "list.test", "denied.test"];
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            annotated_ingress(
                "any",
                "any.test",
                json!({ "nginx.ingress.kubernetes.io/enable-cors": "true" }),
            ),
            annotated_ingress(
                "list",
                "list.test",
                json!({
                    "nginx.ingress.kubernetes.io/enable-cors": "true",
                    "nginx.ingress.kubernetes.io/cors-allow-origin": "https://app.example.com, https://*.example.org",
                    "nginx.ingress.kubernetes.io/cors-allow-credentials": "false",
                    "nginx.ingress.kubernetes.io/cors-expose-headers": "X-Total",
                    "nginx.ingress.kubernetes.io/cors-max-age": "600",
                }),
            ),
            annotated_ingress(
                "denied",
                "denied.test",
                json!({
                    "nginx.ingress.kubernetes.io/enable-cors": "true",
                    "nginx.ingress.kubernetes.io/denylist-source-range": "0.0.0.0/0, ::/0",
                }),
            ),
        ],
    )
    .await?;

    // (host, method, Origin, status, Access-Control-Allow-Origin, reached the backend)
    let cases = [
        (
            "any.test",
            "GET",
            Some("https://x.test"),
            200,
            Some("*"),
            true,
        ),
        ("any.test", "GET", None, 200, Some("*"), true),
        (
            "any.test",
            "OPTIONS",
            Some("https://x.test"),
            204,
            Some("*"),
            false,
        ),
        (
            "list.test",
            "GET",
            Some("https://app.example.com"),
            200,
            Some("https://app.example.com"),
            true,
        ),
        (
            "list.test",
            "OPTIONS",
            Some("https://a.example.org"),
            204,
            Some("https://a.example.org"),
            false,
        ),
        (
            "list.test",
            "GET",
            Some("https://evil.test"),
            200,
            None,
            true,
        ),
        // Not an allowed origin: not a preflight Sluice answers.
        (
            "list.test",
            "OPTIONS",
            Some("https://evil.test"),
            200,
            None,
            true,
        ),
        (
            "denied.test",
            "GET",
            Some("https://x.test"),
            403,
            Some("*"),
            false,
        ),
        (
            "denied.test",
            "OPTIONS",
            Some("https://x.test"),
            204,
            Some("*"),
            false,
        ),
    ];
    let mut h2 = Http2::connect(proxy.https, "any.test").await?;
    for (host, method, origin, status, allowed, proxied) in cases {
        let method = Method::from_bytes(method.as_bytes())?;
        let headers: Vec<(&str, &str)> = origin.iter().map(|o| ("origin", *o)).collect();
        for protocol in ["HTTP/1.1", "HTTP/2"] {
            let before = web.requests();
            let reply = match protocol {
                "HTTP/1.1" => {
                    sluice_tests::client::Http1::connect(proxy.http)
                        .await?
                        .send(method.clone(), host, "/", &headers)
                        .await?
                }
                _ => {
                    h2.send_with(method.clone(), host, "/", &headers, Vec::new())
                        .await?
                }
            };
            let what = format!("{protocol} {method} {host} from {origin:?}: {reply:?}");
            let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
            assert_eq!(reply.status, status, "{what}");
            assert_eq!(header("access-control-allow-origin"), allowed, "{what}");
            assert_eq!(web.requests() > before, proxied, "{what}");
            if allowed.is_none() {
                continue;
            }
            let listed = host == "list.test";
            assert_eq!(
                header("access-control-allow-credentials"),
                (!listed).then_some("true"),
                "{what}"
            );
            assert_eq!(
                header("access-control-allow-methods"),
                Some("GET, PUT, POST, DELETE, PATCH, OPTIONS"),
                "{what}"
            );
            assert_eq!(
                header("access-control-max-age"),
                Some(if listed { "600" } else { "1728000" }),
                "{what}"
            );
            assert_eq!(
                header("access-control-expose-headers"),
                listed.then_some("X-Total"),
                "{what}"
            );
            assert_eq!(header("vary"), listed.then_some("Origin"), "{what}");
            if status == 204 {
                assert_eq!(reply.body, "", "{what}");
                assert!(
                    reply.headers.get("content-length").is_none_or(|l| l == "0"),
                    "{what}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn rate_limits_count_per_ingress_and_client_on_every_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let hosts = ["rpm.test", "exempt.test", "conn.test"];
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            // Two a minute, a burst of two more: three at once, then one every 30 s.
            annotated_ingress(
                "rpm",
                "rpm.test",
                json!({
                    "nginx.ingress.kubernetes.io/limit-rpm": "2",
                    "nginx.ingress.kubernetes.io/limit-burst-multiplier": "1",
                }),
            ),
            annotated_ingress(
                "exempt",
                "exempt.test",
                json!({
                    "nginx.ingress.kubernetes.io/limit-rpm": "1",
                    "nginx.ingress.kubernetes.io/limit-whitelist": "127.0.0.0/8, ::1",
                }),
            ),
            annotated_ingress(
                "conn",
                "conn.test",
                json!({ "nginx.ingress.kubernetes.io/limit-connections": "1" }),
            ),
        ],
    )
    .await?;

    // One counter per Ingress and client, whatever the protocol: three over HTTP/1.1, then
    // nothing over HTTP/2 either.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(proxy.http, "rpm.test", "/").await?.status);
    }
    let mut h2 = Http2::connect(proxy.https, "rpm.test").await?;
    for _ in 0..3 {
        statuses.push(h2.get("rpm.test", "/").await?.status);
    }
    assert_eq!(statuses, [200, 200, 200, 503, 503, 503, 503, 503]);
    let refused = get(proxy.http, "rpm.test", "/").await?;
    assert_eq!(
        refused.body,
        "503 Service Unavailable: too many requests from this client address\n"
    );
    for _ in 0..10 {
        assert_eq!(get(proxy.http, "exempt.test", "/").await?.status, 200);
    }

    // One request in progress at a time from a client.
    let http = proxy.http;
    let slow = tokio::spawn(async move { get(http, "conn.test", "/slow?ms=2000").await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let second = h2.get("conn.test", "/").await?;
    assert_eq!(second.status, 503, "{}", second.body);
    assert!(second.body.contains("too many requests in progress"));
    assert_eq!(slow.await??.status, 200);
    // The slot is given back once the proxy has finished the request, just after the client
    // has its response: on a loaded machine the next request may come first.
    let mut after = 0;
    for _ in 0..40 {
        after = get(proxy.http, "conn.test", "/").await?.status;
        if after == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(after, 200, "the slot is given back");
    Ok(())
}

#[tokio::test]
async fn upstream_vhost_sets_the_host_the_backend_gets() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(
        &dir,
        &web,
        &["vhost.test"],
        vec![annotated_ingress(
            "vhost",
            "vhost.test",
            json!({ "nginx.ingress.kubernetes.io/upstream-vhost": "$service_name.$namespace.svc:$service_port" }),
        )],
    )
    .await?;
    let (h2, _) = https_get(proxy.https, "vhost.test", "vhost.test", "/x", &["h2"], &[]).await?;
    for reply in [get(proxy.http, "vhost.test", "/x").await?, h2] {
        let seen = reply.json();
        assert_eq!(seen["headers"]["host"], "web.shop.svc:80", "{}", reply.body);
        // The client's host is still told.
        assert_eq!(
            seen["headers"]["x-forwarded-host"], "vhost.test",
            "{}",
            reply.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn backend_protocol_speaks_tls_and_h2c_to_backends() -> anyhow::Result<()> {
    use sluice_tests::upstream::Transport;
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let tls = Upstream::start_with("tls", "127.0.0.2", Transport::Tls)?;
    let h2c = Upstream::start_with("h2c", "127.0.0.2", Transport::H2c)?;
    let with = |name: &str, host: &str, service: &str, protocol: &str| {
        paths_ingress(
            name,
            host,
            service,
            &[("/", "Prefix")],
            json!({ "nginx.ingress.kubernetes.io/backend-protocol": protocol }),
        )
    };
    let mut objects = vec![
        with("https", "https.test", "tls", "HTTPS"),
        with("grpc", "grpc.test", "h2c", "grpc"),
    ];
    objects.extend(service_with_endpoints("shop", "tls", 80, &[tls.addr]));
    objects.extend(service_with_endpoints("shop", "h2c", 80, &[h2c.addr]));
    let proxy = serve(&dir, &web, &["https.test", "grpc.test"], objects).await?;

    // (host, the backend that answers, over TLS, in which HTTP version)
    for (host, server, over_tls, version) in [
        ("https.test", "tls", true, "HTTP/1.1"),
        ("grpc.test", "h2c", false, "HTTP/2.0"),
    ] {
        let (h2, _) = https_get(proxy.https, host, host, "/x", &["h2"], &[]).await?;
        for (protocol, reply) in [
            ("HTTP/1.1", get(proxy.http, host, "/x").await?),
            ("HTTP/2", h2),
        ] {
            let what = format!("{protocol} {host}: {}", reply.body);
            assert_eq!(reply.status, 200, "{what}");
            let seen = reply.json();
            assert_eq!(seen["server"], server, "{what}");
            assert_eq!(seen["tls"], over_tls, "{what}");
            assert_eq!(seen["version"], version, "{what}");
        }
    }
    assert_eq!(web.requests(), 0);
    Ok(())
}

#[tokio::test]
async fn a_canary_ingress_takes_the_requests_it_is_told_to() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let beta = Upstream::start("beta", "127.0.0.2")?;
    let rule = |name: &str, host: &str, service: &str, annotations: Value| {
        paths_ingress(name, host, service, &[("/", "Prefix")], annotations)
    };
    let mut objects = vec![
        rule("app", "canary.test", "web", json!({})),
        rule(
            "app-canary",
            "canary.test",
            "beta",
            json!({
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
                "nginx.ingress.kubernetes.io/canary-by-cookie": "canary",
            }),
        ),
        rule("all", "weight.test", "web", json!({})),
        rule(
            "all-canary",
            "weight.test",
            "beta",
            json!({
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "100",
            }),
        ),
        rule(
            "orphan",
            "orphan.test",
            "beta",
            json!({ "nginx.ingress.kubernetes.io/canary": "true" }),
        ),
    ];
    objects.extend(service_with_endpoints("shop", "beta", 80, &[beta.addr]));
    let hosts = ["canary.test", "weight.test", "orphan.test"];
    let proxy = serve(&dir, &web, &hosts, objects).await?;

    // (host, request headers, the backend that answers; None: 404)
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, Headers<'_>, Option<&str>); 7] = [
        ("canary.test", &[], Some("web")),
        ("canary.test", &[("x-canary", "always")], Some("beta")),
        ("canary.test", &[("x-canary", "other")], Some("web")),
        (
            "canary.test",
            &[("cookie", "a=1; canary=always")],
            Some("beta"),
        ),
        (
            "canary.test",
            &[("x-canary", "never"), ("cookie", "canary=always")],
            Some("web"),
        ),
        ("weight.test", &[], Some("beta")),
        ("orphan.test", &[], None),
    ];
    let mut h2 = Http2::connect(proxy.https, "canary.test").await?;
    for (host, headers, server) in cases {
        let replies = [
            (
                "HTTP/1.1",
                sluice_tests::client::get_with(proxy.http, host, "/", headers).await?,
            ),
            (
                "HTTP/2",
                h2.send_with(Method::GET, host, "/", headers, Vec::new())
                    .await?,
            ),
        ];
        for (protocol, reply) in replies {
            let what = format!("{protocol} {host} {headers:?}: {}", reply.body);
            match server {
                Some(server) => assert_eq!(reply.server().as_deref(), Some(server), "{what}"),
                None => assert_eq!(reply.status, 404, "{what}"),
            }
        }
    }
    let routes = proxy.routes().await?;
    let problems = routes["problems"].to_string();
    assert!(
        problems.contains(
            "no Ingress of the class serves this rule, so this canary of it is not served either"
        ) && problems.contains("shop/orphan"),
        "{problems}"
    );
    Ok(())
}

/// An Opaque Secret `shop/{name}` with `data` (as stringData).
fn opaque_secret(name: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": name, "namespace": "shop" },
        "stringData": data,
    })
}

fn basic(user_password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

#[tokio::test]
async fn basic_auth_lets_in_the_secret_s_users_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    // htpasswd -m, -B and -s hashes (of "secret", "U*U" and "password").
    let htpasswd = "alice:$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0\n\
        bob:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n\
        carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n";
    let hosts = ["basic.test", "map.test", "missing.test"];
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            opaque_secret("users", json!({ "auth": htpasswd })),
            opaque_secret(
                "users-map",
                json!({ "dave": "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" }),
            ),
            annotated_ingress(
                "basic",
                "basic.test",
                json!({
                    "nginx.ingress.kubernetes.io/auth-type": "basic",
                    "nginx.ingress.kubernetes.io/auth-secret": "users",
                    "nginx.ingress.kubernetes.io/auth-realm": "Shop staff",
                }),
            ),
            annotated_ingress(
                "map",
                "map.test",
                json!({
                    "nginx.ingress.kubernetes.io/auth-type": "basic",
                    "nginx.ingress.kubernetes.io/auth-secret": "shop/users-map",
                    "nginx.ingress.kubernetes.io/auth-secret-type": "auth-map",
                }),
            ),
            annotated_ingress(
                "missing",
                "missing.test",
                json!({
                    "nginx.ingress.kubernetes.io/auth-type": "basic",
                    "nginx.ingress.kubernetes.io/auth-secret": "nobody",
                }),
            ),
        ],
    )
    .await?;

    let (alice, bob, carol, dave) = (
        basic("alice:secret"),
        basic("bob:U*U"),
        basic("carol:password"),
        basic("dave:password"),
    );
    let (wrong, unknown) = (basic("alice:Secret"), basic("mallory:secret"));
    // (host, Authorization, status, WWW-Authenticate)
    let cases: [(&str, Option<&str>, u16, Option<&str>); 10] = [
        ("basic.test", None, 401, Some("Basic realm=\"Shop staff\"")),
        (
            "basic.test",
            Some(&wrong),
            401,
            Some("Basic realm=\"Shop staff\""),
        ),
        (
            "basic.test",
            Some(&unknown),
            401,
            Some("Basic realm=\"Shop staff\""),
        ),
        (
            "basic.test",
            Some("Bearer abc"),
            401,
            Some("Basic realm=\"Shop staff\""),
        ),
        ("basic.test", Some(&alice), 200, None),
        ("basic.test", Some(&bob), 200, None),
        ("basic.test", Some(&carol), 200, None),
        ("map.test", Some(&dave), 200, None),
        ("map.test", Some(&alice), 401, Some("Basic realm=\"\"")),
        ("missing.test", Some(&alice), 503, None),
    ];
    let mut h2 = Http2::connect(proxy.https, "basic.test").await?;
    for (host, authorization, status, challenge) in cases {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        let replies = [
            (
                "HTTP/1.1",
                sluice_tests::client::get_with(proxy.http, host, "/", &headers).await?,
            ),
            (
                "HTTP/2",
                h2.send_with(Method::GET, host, "/", &headers, Vec::new())
                    .await?,
            ),
        ];
        for (protocol, reply) in replies {
            let what = format!("{protocol} {host} {authorization:?}: {}", reply.body);
            assert_eq!(reply.status, status, "{what}");
            let sent = reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok());
            assert_eq!(sent, challenge, "{what}");
            if status == 200 {
                // The credentials were the proxy's to check, not the backend's to see.
                assert_eq!(reply.upstream_header("authorization"), None, "{what}");
            }
            if status == 503 {
                assert!(
                    reply.body.contains("auth Secret shop/nobody not found"),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(
        web.requests(),
        2 * 4,
        "only the admitted requests reached the backend"
    );
    let problems = proxy.routes().await?["problems"].to_string();
    assert!(
        problems.contains("auth Secret shop/nobody not found"),
        "{problems}"
    );
    Ok(())
}

#[tokio::test]
async fn external_auth_asks_the_auth_service_about_every_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let auth = Upstream::start("auth", "127.0.0.3")?;
    let auth_url = format!("http://{}/auth", auth.addr);
    let hosts = ["ext.test", "signin.test", "down.test"];
    let proxy = serve(
        &dir,
        &web,
        &hosts,
        vec![
            annotated_ingress(
                "ext",
                "ext.test",
                json!({
                    "nginx.ingress.kubernetes.io/auth-url": auth_url,
                    "nginx.ingress.kubernetes.io/auth-response-headers":
                        "X-User, X-Seen-Original-Url, X-Seen-Original-Method, X-Seen-Method, X-Seen-Host, X-Seen-Body-Length",
                }),
            ),
            annotated_ingress(
                "signin",
                "signin.test",
                json!({
                    "nginx.ingress.kubernetes.io/auth-url": auth_url,
                    "nginx.ingress.kubernetes.io/auth-signin": "https://$host/oauth2/start",
                    "nginx.ingress.kubernetes.io/auth-method": "POST",
                }),
            ),
            annotated_ingress(
                "down",
                "down.test",
                // Nothing listens there: closed, never open.
                json!({ "nginx.ingress.kubernetes.io/auth-url": "http://127.0.0.3:9/auth" }),
            ),
        ],
    )
    .await?;

    let mut h2 = Http2::connect(proxy.https, "ext.test").await?;
    let mut both = async |host: &str,
                          path: &str,
                          headers: &[(&str, &str)]|
           -> anyhow::Result<Vec<(&'static str, sluice_tests::client::Reply)>> {
        Ok(vec![
            (
                "HTTP/1.1",
                sluice_tests::client::get_with(proxy.http, host, path, headers).await?,
            ),
            (
                "HTTP/2",
                h2.send_with(Method::POST, host, path, headers, b"a body".to_vec())
                    .await?,
            ),
        ])
    };

    // Allowed: the backend gets the auth service's headers, the client its cookie.
    for (protocol, reply) in both(
        "ext.test",
        "/cart?a=b",
        &[("x-test-auth", "allow"), ("x-user", "mallory")],
    )
    .await?
    {
        let what = format!("{protocol}: {}", reply.body);
        assert_eq!(reply.status, 200, "{what}");
        assert_eq!(
            reply.upstream_header("x-user").as_deref(),
            Some("alice"),
            "{what}"
        );
        let scheme = if protocol == "HTTP/2" {
            "https"
        } else {
            "http"
        };
        let original = reply
            .upstream_header("x-seen-original-url")
            .unwrap_or_default();
        assert!(
            original.starts_with(&format!("{scheme}://ext.test"))
                && original.ends_with("/cart?a=b"),
            "{what}"
        );
        let method = if protocol == "HTTP/2" { "POST" } else { "GET" };
        assert_eq!(
            reply.upstream_header("x-seen-original-method").as_deref(),
            Some(method),
            "{what}"
        );
        // The auth request is a GET without the body, to the auth URL's host.
        assert_eq!(
            reply.upstream_header("x-seen-method").as_deref(),
            Some("GET"),
            "{what}"
        );
        assert_eq!(
            reply.upstream_header("x-seen-host").as_deref(),
            Some("127.0.0.3"),
            "{what}"
        );
        assert_eq!(reply.upstream_header("x-seen-body-length"), None, "{what}");
        let cookie = reply
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok());
        assert_eq!(cookie, Some("auth-session=1; Path=/"), "{what}");
    }
    // Refused: the auth service's 401 (with its challenge) and 403; any other answer, 500.
    for (said, status) in [(None, 401), (Some("forbid"), 403), (Some("fail"), 500)] {
        let headers: Vec<(&str, &str)> = said.map(|s| ("x-test-auth", s)).into_iter().collect();
        for (protocol, reply) in both("ext.test", "/", &headers).await? {
            let what = format!("{protocol} {said:?}: {}", reply.body);
            assert_eq!(reply.status, status, "{what}");
            if status == 401 {
                let challenge = reply
                    .headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok());
                assert_eq!(challenge, Some("Bearer realm=\"test\""), "{what}");
            }
            // Cookies come only with what lets the request through.
            assert!(reply.headers.get("set-cookie").is_none(), "{what}");
        }
    }
    // A 401 with auth-signin: to the sign-in page, the original URL in `rd`.
    for (protocol, reply) in both("signin.test", "/a?b=c", &[]).await? {
        let what = format!("{protocol}: {}", reply.body);
        assert_eq!(reply.status, 302, "{what}");
        let location = reply
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            location.starts_with("https://signin.test/oauth2/start?rd=http")
                && location.ends_with("%2Fa%3Fb%3Dc"),
            "{what}: {location}"
        );
    }
    // With auth-method POST, the auth service is asked with POST (and lets it through).
    for (protocol, reply) in both("signin.test", "/", &[("x-test-auth", "allow")]).await? {
        assert_eq!(reply.status, 200, "{protocol}: {}", reply.body);
    }
    // An auth service that cannot be reached: 500.
    for (protocol, reply) in both("down.test", "/", &[("x-test-auth", "allow")]).await? {
        assert_eq!(reply.status, 500, "{protocol}: {}", reply.body);
    }
    assert_eq!(
        web.requests(),
        2 + 2,
        "only what the auth service allowed reached the backend"
    );
    Ok(())
}

#[tokio::test]
async fn force_ssl_redirect_redirects_hosts_without_tls_too() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let mut forced = annotated_ingress(
        "forced",
        "forced.test",
        json!({ "nginx.ingress.kubernetes.io/force-ssl-redirect": "true" }),
    );
    // No TLS of its own: ssl-redirect alone would not redirect it.
    forced["spec"]
        .as_object_mut()
        .map(|spec| spec.remove("tls"));
    let plain = {
        let mut i = annotated_ingress("plain", "plain.test", json!({}));
        i["spec"].as_object_mut().map(|spec| spec.remove("tls"));
        i
    };
    let proxy = serve(&dir, &web, &["forced.test"], vec![forced, plain]).await?;
    let reply = get(proxy.http, "forced.test", "/x?y=1").await?;
    assert_eq!(reply.status, 308, "{}", reply.body);
    let location = reply.headers.get("location").and_then(|v| v.to_str().ok());
    assert_eq!(location, Some("https://forced.test/x?y=1"));
    assert_eq!(get(proxy.http, "plain.test", "/").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn cookie_affinity_keeps_a_client_on_its_endpoint() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let one = Upstream::start("one", "127.0.0.2")?;
    let two = Upstream::start("two", "127.0.0.4")?;
    let mut objects = vec![
        annotated_ingress(
            "sticky",
            "sticky.test",
            json!({
                "nginx.ingress.kubernetes.io/affinity": "cookie",
                "nginx.ingress.kubernetes.io/session-cookie-name": "route",
                "nginx.ingress.kubernetes.io/session-cookie-max-age": "3600",
            }),
        ),
        paths_ingress(
            "spread",
            "spread.test",
            "pair",
            &[("/", "Prefix")],
            json!({}),
        ),
    ];
    objects[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] =
        json!("pair");
    // One slice each: a slice has one port, and the two listen on different ones.
    objects.extend(service_with_endpoints("shop", "pair", 80, &[one.addr]));
    objects.push(sluice_tests::objects::endpoint_slice(
        "shop",
        "pair",
        "pair-2",
        &[two.addr],
        &[],
    ));
    let proxy = serve(&dir, &one, &["sticky.test", "spread.test"], objects).await?;

    let mut h2 = Http2::connect(proxy.https, "sticky.test").await?;
    for protocol in ["HTTP/1.1", "HTTP/2"] {
        let mut send = async |host: &str, headers: &[(&str, &str)]| {
            if protocol == "HTTP/2" {
                h2.send_with(Method::GET, host, "/", headers, Vec::new())
                    .await
            } else {
                sluice_tests::client::get_with(proxy.http, host, "/", headers).await
            }
        };
        // Without affinity the two endpoints take turns: what affinity changes.
        let a = send("spread.test", &[]).await?.server();
        let b = send("spread.test", &[]).await?.server();
        assert_ne!(a, b, "{protocol}: round robin");

        let first = send("sticky.test", &[]).await?;
        let set = first
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            set.starts_with("route=") && set.ends_with("; Path=/; Max-Age=3600; HttpOnly"),
            "{protocol}: {set}"
        );
        let cookie = set.split(';').next().unwrap_or_default().to_string();
        let endpoint = first.server();
        for _ in 0..6 {
            let reply = send("sticky.test", &[("cookie", &cookie)]).await?;
            assert_eq!(reply.server(), endpoint, "{protocol}: kept to its endpoint");
            assert!(reply.headers.get("set-cookie").is_none(), "{protocol}");
        }
        // A cookie that names no endpoint (gone, or made up) gets a new one.
        let reply = send("sticky.test", &[("cookie", "route=0000000000000000")]).await?;
        assert_eq!(reply.status, 200);
        assert!(reply.headers.get("set-cookie").is_some(), "{protocol}");
    }
    Ok(())
}

#[tokio::test]
async fn custom_http_errors_come_from_the_default_backend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let errors = Upstream::start("errors", "127.0.0.5")?;
    let annotations = json!({
        "nginx.ingress.kubernetes.io/custom-http-errors": "404,503",
        "nginx.ingress.kubernetes.io/default-backend": "errors",
    });
    let mut objects = vec![
        annotated_ingress("pages", "pages.test", annotations.clone()),
        paths_ingress(
            "empty",
            "empty.test",
            "nobody",
            &[("/", "Prefix")],
            annotations,
        ),
    ];
    objects.extend(service_with_endpoints(
        "shop",
        "errors",
        8080,
        &[errors.addr],
    ));
    let proxy = serve(&dir, &web, &["pages.test", "empty.test"], objects).await?;

    let mut h2 = Http2::connect(proxy.https, "pages.test").await?;
    for protocol in ["HTTP/1.1", "HTTP/2"] {
        let mut send = async |host: &str, path: &str| {
            let headers = [("accept", "application/json")];
            if protocol == "HTTP/2" {
                h2.send_with(Method::GET, host, path, &headers, Vec::new())
                    .await
            } else {
                sluice_tests::client::get_with(proxy.http, host, path, &headers).await
            }
        };
        // A listed status: the default backend's page, with the status it gives.
        let reply = send("pages.test", "/status/404?x=1").await?;
        let what = format!("{protocol}: {}", reply.body);
        assert_eq!(reply.status, 404, "{what}");
        assert_eq!(reply.server().as_deref(), Some("errors"), "{what}");
        for (name, value) in [
            ("x-code", "404"),
            ("x-format", "application/json"),
            ("x-original-uri", "/status/404?x=1"),
            ("x-namespace", "shop"),
            ("x-ingress-name", "pages"),
            ("x-service-name", "web"),
            ("x-service-port", "80"),
            ("host", "pages.test"),
        ] {
            assert_eq!(
                reply.upstream_header(name).as_deref(),
                Some(value),
                "{name}: {what}"
            );
        }
        assert!(reply.upstream_header("x-request-id").is_some(), "{what}");
        // Another status, and success, are the backend's own.
        let reply = send("pages.test", "/status/500").await?;
        assert_eq!(
            (reply.status, reply.server().as_deref()),
            (500, Some("web")),
            "{protocol}"
        );
        let reply = send("pages.test", "/").await?;
        assert_eq!(
            (reply.status, reply.server().as_deref()),
            (200, Some("web")),
            "{protocol}"
        );
        // A backend without endpoints: the default backend serves the request.
        let reply = send("empty.test", "/any").await?;
        assert_eq!(
            (reply.status, reply.server().as_deref()),
            (200, Some("errors")),
            "{protocol}: {}",
            reply.body
        );
        assert_eq!(
            reply.upstream_header("x-code"),
            None,
            "{protocol}: proxied, not a page"
        );
    }
    Ok(())
}

#[tokio::test]
async fn custom_headers_set_the_allowed_headers_of_a_config_map() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let config_map = |name: &str, data: Value| {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": "shop" },
            "data": data,
        })
    };
    let with = |map: &str| json!({ "nginx.ingress.kubernetes.io/custom-headers": map });
    let mut moved = with("shop/headers");
    moved["nginx.ingress.kubernetes.io/permanent-redirect"] = json!("https://elsewhere.test/");
    let hosts = ["headers.test", "moved.test", "cookie.test", "missing.test"];
    let (cert, key, _) = certificate(&hosts)?;
    let mut objects = vec![
        tls_secret("shop", "tls", &cert, &key),
        config_map(
            "headers",
            json!({ "X-Frame-Options": "DENY", "x-team": "shop" }),
        ),
        config_map("cookie", json!({ "Set-Cookie": "admin=1" })),
        annotated_ingress("headers", "headers.test", with("shop/headers")),
        annotated_ingress("moved", "moved.test", moved),
        annotated_ingress("cookie", "cookie.test", with("cookie")),
        annotated_ingress("missing", "missing.test", with("nothing")),
    ];
    objects.extend(service_with_endpoints("shop", "web", 80, &[web.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    let proxy = Proxy::start(
        &[
            "--manifests",
            file.to_str().unwrap_or_default(),
            "--no-ssl-redirect",
            "--allowed-response-headers",
            "X-Frame-Options,X-Team",
        ],
        dir.path(),
    )
    .await?;

    let mut h2 = Http2::connect(proxy.https, "headers.test").await?;
    for protocol in ["HTTP/1.1", "HTTP/2"] {
        let mut send = async |host: &str| {
            if protocol == "HTTP/2" {
                h2.get(host, "/").await
            } else {
                get(proxy.http, host, "/").await
            }
        };
        // On the backend's responses and on Sluice's own answers for the rule.
        for (host, status) in [("headers.test", 200), ("moved.test", 301)] {
            let reply = send(host).await?;
            let what = format!("{protocol} {host}: {}", reply.body);
            assert_eq!(reply.status, status, "{what}");
            let header = |n: &str| reply.headers.get(n).and_then(|v| v.to_str().ok());
            assert_eq!(header("x-frame-options"), Some("DENY"), "{what}");
            assert_eq!(header("x-team"), Some("shop"), "{what}");
        }
        // A header the class does not allow, or no ConfigMap: the rules are not served.
        for host in ["cookie.test", "missing.test"] {
            let reply = send(host).await?;
            assert_eq!(reply.status, 503, "{protocol} {host}: {}", reply.body);
            assert!(
                reply.headers.get("set-cookie").is_none(),
                "{protocol} {host}"
            );
        }
    }
    let problems = proxy.routes().await?["problems"].to_string();
    assert!(
        problems.contains("Set-Cookie is not among the class's allowed response headers")
            && problems.contains("ConfigMap shop/nothing not found"),
        "{problems}"
    );
    Ok(())
}

/// gRPC, client to backend: a real tonic client over TLS (HTTP/2) to a real tonic server
/// in the clear (h2c), through a rule with `backend-protocol: GRPC`. Statuses travel in
/// trailers, so a wrong answer shows they are lost.
#[tokio::test]
async fn grpc_calls_go_through_to_a_grpc_backend() -> anyhow::Result<()> {
    use tonic_health::ServingStatus;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.6:0").await?;
    let backend = listener.local_addr()?;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("shop.Cart", ServingStatus::NotServing)
        .await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream_of(listener)),
    );

    let mut objects = vec![paths_ingress(
        "grpc",
        "grpc.test",
        "grpc",
        &[("/", "Prefix")],
        json!({ "nginx.ingress.kubernetes.io/backend-protocol": "GRPC" }),
    )];
    objects.extend(service_with_endpoints("shop", "grpc", 80, &[backend]));
    let proxy = serve(&dir, &web, &["grpc.test"], objects).await?;

    let https = proxy.https;
    let channel = tonic::transport::Endpoint::from_static("http://grpc.test")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| async move {
            sluice_tests::client::tls_connect(https, "grpc.test", &["h2"])
                .await
                .map(hyper_util::rt::TokioIo::new)
                .map_err(std::io::Error::other)
        }))
        .await
        .map_err(|e| anyhow::anyhow!("connecting: {e:?}"))?;
    let mut client = HealthClient::new(channel);
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let serving = client.check(status("")).await?.into_inner();
    assert_eq!(serving.status, ServingStatus::Serving as i32);
    let cart = client.check(status("shop.Cart")).await?.into_inner();
    assert_eq!(cart.status, ServingStatus::NotServing as i32);
    let unknown = client
        .check(status("shop.Nothing"))
        .await
        .expect_err("an unknown service is an error");
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown}");
    Ok(())
}

/// The connections `listener` accepts, as tonic's server takes them.
fn tokio_stream_of(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}
