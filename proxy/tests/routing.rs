//! Routing through a real proxy process to real upstream servers, by the Ingress v1 rules.

use serde_json::json;
use sluice_tests::client::{get, get_with};
use sluice_tests::objects::{ingress, path, service_with_endpoints, write_manifest};
use sluice_tests::{Proxy, Upstream};

struct Setup {
    dir: tempfile::TempDir,
    proxy: Proxy,
}

async fn start(objects: Vec<serde_json::Value>) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    write_manifest(&dir.path().join("objects.yaml"), &objects)?;
    let manifests = dir.path().join("objects.yaml");
    let proxy = Proxy::start(&["--manifests", manifests.to_str().unwrap()], dir.path()).await?;
    Ok(Setup { dir, proxy })
}

#[tokio::test]
async fn routes_by_host_and_path_precedence() -> anyhow::Result<()> {
    let api = Upstream::start("api", "127.0.0.2")?;
    let web = Upstream::start("web", "127.0.0.3")?;
    let exact = Upstream::start("exact", "127.0.0.4")?;
    let wild = Upstream::start("wild", "127.0.0.5")?;
    let any = Upstream::start("any", "127.0.0.6")?;
    let mut objects = vec![
        ingress(
            "shop",
            "app",
            "sluice",
            &[(
                Some("app.example.com"),
                vec![
                    path("/api", "Prefix", "api", 80),
                    path("/", "Prefix", "web", 80),
                    path("/api/status", "Exact", "exact", 80),
                ],
            )],
        ),
        ingress(
            "shop",
            "wild",
            "sluice",
            &[(Some("*.example.com"), vec![path("/", "Prefix", "wild", 80)])],
        ),
        ingress(
            "shop",
            "any",
            "sluice",
            &[(None, vec![path("/anything", "Prefix", "any", 80)])],
        ),
    ];
    for (name, u) in [
        ("api", &api),
        ("web", &web),
        ("exact", &exact),
        ("wild", &wild),
        ("any", &any),
    ] {
        objects.extend(service_with_endpoints("shop", name, 80, &[u.addr]));
    }
    let s = start(objects).await?;
    let http = s.proxy.http;

    let cases: &[(&str, &str, Option<&str>)] = &[
        ("app.example.com", "/api", Some("api")),
        ("app.example.com", "/api/", Some("api")),
        ("app.example.com", "/api/v1/orders?id=3", Some("api")),
        ("app.example.com", "/apix", Some("web")),
        ("app.example.com", "/API", Some("web")),
        ("app.example.com", "/api/status", Some("exact")),
        ("app.example.com", "/api/status/", Some("api")),
        ("app.example.com", "/", Some("web")),
        ("APP.Example.COM:8080", "/api", Some("api")),
        ("app.example.com.", "/api", Some("api")),
        ("shop.example.com", "/api", Some("wild")),
        // A wildcard covers one label only; the rule without a host serves the rest.
        ("a.b.example.com", "/anything/else", Some("any")),
        ("example.com", "/anything", Some("any")),
        ("unknown.test", "/anything", Some("any")),
        ("unknown.test", "/other", None),
    ];
    for (host, p, expected) in cases {
        let reply = get(http, host, p).await?;
        match expected {
            Some(server) => {
                assert_eq!(reply.status, 200, "{host}{p}: {}", reply.body);
                assert_eq!(reply.server().as_deref(), Some(*server), "{host}{p}");
            }
            None => {
                assert_eq!(reply.status, 404, "{host}{p}: {}", reply.body);
                assert!(
                    reply.body.contains("no Ingress rule matches"),
                    "{}",
                    reply.body
                );
            }
        }
    }
    // Dot segments could escape the rule that matched: refused.
    let reply = get(http, "app.example.com", "/api/../admin").await?;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // The upstream sees the request as the client sent it.
    let reply = get(http, "app.example.com", "/api/v1/orders?id=3").await?;
    assert_eq!(reply.json()["path"], "/api/v1/orders");
    drop(s.dir);
    Ok(())
}

#[tokio::test]
async fn merges_ingresses_and_the_oldest_wins_a_contested_rule() -> anyhow::Result<()> {
    let old = Upstream::start("old", "127.0.0.2")?;
    let new = Upstream::start("new", "127.0.0.3")?;
    let mut newer = ingress(
        "shop",
        "a-newer",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![
                path("/api", "Prefix", "new", 80),
                path("/new", "Prefix", "new", 80),
            ],
        )],
    );
    newer["metadata"]["creationTimestamp"] = json!("2025-06-01T00:00:00Z");
    let mut older = ingress(
        "shop",
        "z-older",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path("/api", "Prefix", "old", 80)],
        )],
    );
    older["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    let mut objects = vec![newer, older];
    objects.extend(service_with_endpoints("shop", "old", 80, &[old.addr]));
    objects.extend(service_with_endpoints("shop", "new", 80, &[new.addr]));
    let s = start(objects).await?;

    assert_eq!(
        get(s.proxy.http, "app.example.com", "/api")
            .await?
            .server()
            .as_deref(),
        Some("old")
    );
    assert_eq!(
        get(s.proxy.http, "app.example.com", "/new")
            .await?
            .server()
            .as_deref(),
        Some("new")
    );
    let routes = s.proxy.routes().await?;
    let problems = routes["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["object"], "shop/a-newer");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("already served by Ingress shop/z-older")
    );
    assert_eq!(
        s.proxy
            .metric("sluice_proxy_config_problems{kind=\"conflict\"}")
            .await?,
        1.0
    );
    Ok(())
}

#[tokio::test]
async fn sets_forwarding_headers_and_keeps_a_request_id() -> anyhow::Result<()> {
    let up = Upstream::start("up", "127.0.0.2")?;
    let mut objects = vec![ingress(
        "shop",
        "app",
        "sluice",
        &[(Some("app.example.com"), vec![path("/", "Prefix", "up", 80)])],
    )];
    objects.extend(service_with_endpoints("shop", "up", 80, &[up.addr]));
    let s = start(objects).await?;

    let reply = get_with(
        s.proxy.http,
        "app.example.com",
        "/",
        &[("x-forwarded-for", "6.6.6.6")],
    )
    .await?;
    assert_eq!(
        reply.upstream_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "client-supplied XFF is not trusted"
    );
    assert_eq!(
        reply.upstream_header("x-forwarded-proto").as_deref(),
        Some("http")
    );
    assert_eq!(
        reply.upstream_header("x-forwarded-host").as_deref(),
        Some("app.example.com")
    );
    assert_eq!(
        reply.upstream_header("host").as_deref(),
        Some("app.example.com")
    );
    let generated = reply.upstream_header("x-request-id").unwrap();
    assert_eq!(generated.len(), 32);
    assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));
    let other = get(s.proxy.http, "app.example.com", "/")
        .await?
        .upstream_header("x-request-id")
        .unwrap();
    assert_ne!(generated, other, "each request gets its own id");

    let reply = get_with(
        s.proxy.http,
        "app.example.com",
        "/",
        &[("x-request-id", "abc-123")],
    )
    .await?;
    assert_eq!(
        reply.upstream_header("x-request-id").as_deref(),
        Some("abc-123")
    );
    Ok(())
}

#[tokio::test]
async fn round_robin_spreads_requests_over_endpoints() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let b = Upstream::start("b", "127.0.0.3")?;
    let mut objects = vec![ingress(
        "shop",
        "app",
        "sluice",
        &[(None, vec![path("/", "Prefix", "svc", 80)])],
    )];
    objects.extend(service_with_endpoints("shop", "svc", 80, &[a.addr]));
    // A second slice of the same Service, with a not-ready endpoint where nothing listens.
    let not_ready: std::net::SocketAddr = format!("127.0.0.4:{}", b.addr.port()).parse()?;
    objects.push(sluice_tests::objects::endpoint_slice(
        "shop",
        "svc",
        "svc-2",
        &[b.addr],
        &[not_ready],
    ));
    let s = start(objects).await?;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..20 {
        let reply = get(s.proxy.http, "x", "/").await?;
        assert_eq!(reply.status, 200);
        *seen.entry(reply.server().unwrap()).or_default() += 1;
    }
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(
        s.proxy
            .metric("sluice_proxy_upstream_connect_errors_total")
            .await?,
        0.0,
        "the not-ready endpoint is never tried"
    );
    Ok(())
}
