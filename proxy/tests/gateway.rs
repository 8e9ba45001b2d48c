//! `--gateway`: a Gateway's HTTPRoutes served through a real proxy process to real upstream
//! servers, one listener per `--gateway-port`, each with its own routes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use http::Method;
use serde_json::{Value, json};
use sluice_tests::client::{Http1, get, get_with, https_get};
use sluice_tests::objects::{certificate, service_with_endpoints, tls_secret, write_manifest};
use sluice_tests::proxy::free_addr;
use sluice_tests::{Proxy, Upstream};

/// A request (path, headers) and the upstream that should answer it (None: 404).
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

struct Setup {
    _dir: tempfile::TempDir,
    proxy: Proxy,
    /// The manifest file the proxy reads.
    manifests: std::path::PathBuf,
    /// Listener port 80 (no hostname).
    web: SocketAddr,
    /// Listener port 8000 (`*.example.com`).
    wild: SocketAddr,
    /// Listener port 443 (HTTPS, `secure.example.com`).
    https: SocketAddr,
    /// The certificate the HTTPS listener serves, DER.
    cert: Vec<u8>,
}

fn gateway(cert_secret: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": { "name": "public", "namespace": "infra" },
        "spec": {
            "gatewayClassName": "sluice",
            "listeners": [
                { "name": "web", "port": 80, "protocol": "HTTP",
                  "allowedRoutes": { "namespaces": { "from": "All" } } },
                { "name": "wild", "port": 8000, "protocol": "HTTP", "hostname": "*.example.com",
                  "allowedRoutes": { "namespaces": { "from": "All" } } },
                { "name": "secure", "port": 443, "protocol": "HTTPS",
                  "hostname": "secure.example.com",
                  "tls": { "certificateRefs": [{ "name": cert_secret }] },
                  "allowedRoutes": { "namespaces": { "from": "All" } } }
            ]
        }
    })
}

/// An HTTPRoute in `shop` attached to the Gateway (all its listeners, or `section`).
fn route(name: &str, section: Option<&str>, hostnames: &[&str], rules: Value) -> Value {
    let mut parent = json!({ "name": "public", "namespace": "infra" });
    if let Some(section) = section {
        parent["sectionName"] = json!(section);
    }
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": name, "namespace": "shop",
                      "creationTimestamp": "2026-01-01T00:00:00Z" },
        "spec": { "parentRefs": [parent], "hostnames": hostnames, "rules": rules }
    })
}

fn to(service: &str) -> Value {
    json!([{ "name": service, "port": 80 }])
}

async fn start(objects: Vec<Value>, cert: Vec<u8>) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let manifests = dir.path().join("objects.yaml");
    write_manifest(&manifests, &objects)?;
    let (web, wild, https) = (free_addr()?, free_addr()?, free_addr()?);
    let ports = [
        format!("--gateway-port=80={}/http", web.port()),
        format!("--gateway-port=8000={}/http", wild.port()),
        format!("--gateway-port=443={}/https", https.port()),
    ];
    let mut args = vec![
        "--manifests",
        manifests.to_str().unwrap_or_default(),
        "--gateway=infra/public",
    ];
    args.extend(ports.iter().map(String::as_str));
    let proxy = Proxy::start(&args, dir.path()).await?;
    Ok(Setup {
        _dir: dir,
        proxy,
        manifests: manifests.clone(),
        web,
        wild,
        https,
        cert,
    })
}

#[tokio::test]
async fn serves_a_gateways_http_routes() -> anyhow::Result<()> {
    let names = ["a", "b", "c", "d", "e"];
    let mut upstreams = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        upstreams.insert(*name, Upstream::start(name, &format!("127.0.0.{}", i + 2))?);
    }
    let (cert_pem, key_pem, cert_der) = certificate(&["secure.example.com"])?;
    let mut objects = vec![
        gateway("secure-cert"),
        tls_secret("infra", "secure-cert", &cert_pem, &key_pem),
        route(
            "paths",
            None,
            &[],
            json!([
                { "matches": [{ "path": { "type": "Exact", "value": "/exact" } }],
                  "backendRefs": to("a") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/prefix" } }],
                  "backendRefs": to("b") },
                { "matches": [{ "path": { "type": "RegularExpression", "value": "/re/[0-9]+" } }],
                  "backendRefs": to("c") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/cond" },
                                "headers": [{ "name": "x-env", "value": "canary" }] }],
                  "backendRefs": to("d") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/cond" },
                                "queryParams": [{ "name": "v", "value": "2" }] }],
                  "backendRefs": to("e") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/cond" },
                                "method": "POST" }],
                  "backendRefs": to("c") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/cond" } }],
                  "backendRefs": to("a") },
                // Weight 0 never gets a request; a missing Service's share is 500.
                { "matches": [{ "path": { "type": "Exact", "value": "/zero" } }],
                  "backendRefs": [{ "name": "a", "port": 80, "weight": 0 },
                                  { "name": "b", "port": 80, "weight": 5 }] },
                { "matches": [{ "path": { "type": "Exact", "value": "/split" } }],
                  "backendRefs": [{ "name": "a", "port": 80, "weight": 1 },
                                  { "name": "b", "port": 80, "weight": 1 }] },
                { "matches": [{ "path": { "type": "Exact", "value": "/missing" } }],
                  "backendRefs": [{ "name": "no-such-service", "port": 80 }] },
                // A bad expression drops its rule only.
                { "matches": [{ "path": { "type": "RegularExpression", "value": "/bad/(" } }],
                  "backendRefs": to("e") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/good" } }],
                  "backendRefs": to("e") }
            ]),
        ),
        // Younger and less specific loses; a longer prefix wins whatever the age.
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": { "name": "younger", "namespace": "shop",
                          "creationTimestamp": "2026-06-01T00:00:00Z" },
            "spec": {
                "parentRefs": [{ "name": "public", "namespace": "infra", "sectionName": "web" }],
                "rules": [
                    { "matches": [{ "path": { "type": "PathPrefix", "value": "/prefix" } }],
                      "backendRefs": to("e") },
                    { "matches": [{ "path": { "type": "PathPrefix", "value": "/prefix/deeper" } }],
                      "backendRefs": to("d") }
                ]
            }
        }),
        // Hostnames intersect the wildcard listener's: only app.example.com is served there.
        route(
            "hosts",
            Some("wild"),
            &["app.example.com", "other.org"],
            json!([{ "backendRefs": to("d") }]),
        ),
        route(
            "secure",
            Some("secure"),
            &[],
            json!([{ "backendRefs": to("c") }]),
        ),
    ];
    for name in names {
        objects.extend(service_with_endpoints(
            "shop",
            name,
            80,
            &[upstreams[name].addr],
        ));
    }
    let s = start(objects, cert_der).await?;

    let cases: &[Case] = &[
        ("/exact", &[], Some("a")),
        ("/exact/", &[], None),
        ("/prefix", &[], Some("b")),
        ("/prefix/x", &[], Some("b")),
        ("/prefixx", &[], None),
        ("/prefix/deeper/x", &[], Some("d")),
        ("/re/42", &[], Some("c")),
        ("/re/x", &[], None),
        ("/cond/x", &[], Some("a")),
        ("/cond/x", &[("x-env", "canary")], Some("d")),
        ("/cond/x?v=2", &[], Some("e")),
        ("/cond/x?v=3", &[], Some("a")),
        ("/good", &[], Some("e")),
        ("/bad/x", &[], None),
    ];
    for (path, headers, want) in cases {
        let reply = get_with(s.web, "any.host", path, headers).await?;
        match want {
            Some(server) => assert_eq!(
                reply.server().as_deref(),
                Some(*server),
                "{path} {headers:?}: {reply:?}"
            ),
            None => assert_eq!(reply.status, 404, "{path}: {reply:?}"),
        }
    }
    let post = Http1::connect(s.web)
        .await?
        .send(Method::POST, "any.host", "/cond/x", &[])
        .await?;
    assert_eq!(post.server().as_deref(), Some("c"), "{post:?}");

    for _ in 0..20 {
        let reply = get(s.web, "h", "/zero").await?;
        assert_eq!(reply.server().as_deref(), Some("b"), "{reply:?}");
    }
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..60 {
        reached.extend(get(s.web, "h", "/split").await?.server());
    }
    assert_eq!(reached.len(), 2, "{reached:?}");
    let missing = get(s.web, "h", "/missing").await?;
    assert_eq!(missing.status, 500, "{missing:?}");

    // The wildcard listener: its routes only, for the intersected hostname only.
    let app = get(s.wild, "app.example.com", "/anything").await?;
    assert_eq!(app.server().as_deref(), Some("d"), "{app:?}");
    assert_eq!(get(s.wild, "other.org", "/").await?.status, 404);
    assert_eq!(
        get(s.wild, "app.example.com", "/exact")
            .await?
            .server()
            .as_deref(),
        Some("d")
    );
    // sectionName: the `hosts` route is not on the plain listener.
    assert_eq!(
        get(s.web, "app.example.com", "/anything").await?.status,
        404
    );

    // HTTPS: the listener's certificate by SNI, and its routes.
    let (reply, tls) = https_get(
        s.https,
        "secure.example.com",
        "secure.example.com",
        "/x",
        &["http/1.1"],
        &[],
    )
    .await?;
    assert_eq!(reply.server().as_deref(), Some("c"), "{reply:?}");
    assert_eq!(tls.leaf, s.cert);
    Ok(())
}

#[tokio::test]
async fn applies_redirect_rewrite_and_header_filters() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let (cert_pem, key_pem, cert_der) = certificate(&["secure.example.com"])?;
    let mut objects = vec![
        gateway("secure-cert"),
        tls_secret("infra", "secure-cert", &cert_pem, &key_pem),
        route(
            "filters",
            Some("web"),
            &[],
            json!([
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/to-https" } }],
                  "filters": [{ "type": "RequestRedirect", "requestRedirect": {
                      "scheme": "https", "hostname": "secure.example.com", "statusCode": 301 } }] },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/old" } }],
                  "filters": [{ "type": "RequestRedirect", "requestRedirect": {
                      "path": { "type": "ReplacePrefixMatch", "replacePrefixMatch": "/new" } } }] },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/v1" } }],
                  "filters": [{ "type": "URLRewrite", "urlRewrite": {
                      "hostname": "backend.internal",
                      "path": { "type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2" } } }],
                  "backendRefs": to("a") },
                { "matches": [{ "path": { "type": "Exact", "value": "/full" } }],
                  "filters": [{ "type": "URLRewrite", "urlRewrite": {
                      "path": { "type": "ReplaceFullPath", "replaceFullPath": "/replaced" } } }],
                  "backendRefs": to("a") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/headers" } }],
                  "filters": [
                      { "type": "RequestHeaderModifier", "requestHeaderModifier": {
                          "set": [{ "name": "X-Set", "value": "proxy" }],
                          "add": [{ "name": "X-Add", "value": "added" }],
                          "remove": ["X-Remove"] } },
                      { "type": "ResponseHeaderModifier", "responseHeaderModifier": {
                          "set": [{ "name": "X-Resp", "value": "yes" }],
                          "remove": ["Content-Type"] } }
                  ],
                  "backendRefs": to("a") }
            ]),
        ),
    ];
    objects.extend(service_with_endpoints("shop", "a", 80, &[a.addr]));
    let s = start(objects, cert_der).await?;

    let to_https = get(s.web, "app.test", "/to-https/x?q=1").await?;
    assert_eq!(to_https.status, 301, "{to_https:?}");
    assert_eq!(
        to_https.headers["location"],
        "https://secure.example.com/to-https/x?q=1"
    );
    let old = get(s.web, "app.test", "/old/page?q=1").await?;
    assert_eq!(old.status, 302, "{old:?}");
    assert_eq!(old.headers["location"], "http://app.test/new/page?q=1");

    let rewritten = get(s.web, "app.test", "/v1/items?id=3").await?;
    assert_eq!(rewritten.server().as_deref(), Some("a"), "{rewritten:?}");
    assert_eq!(rewritten.json()["path"], "/v2/items");
    assert_eq!(rewritten.json()["query"], "id=3");
    assert_eq!(
        rewritten.upstream_header("host").as_deref(),
        Some("backend.internal")
    );
    let full = get(s.web, "app.test", "/full").await?;
    assert_eq!(full.json()["path"], "/replaced", "{full:?}");

    let headers = get_with(
        s.web,
        "app.test",
        "/headers",
        &[
            ("x-set", "client"),
            ("x-remove", "gone"),
            ("x-kept", "kept"),
        ],
    )
    .await?;
    assert_eq!(
        headers.upstream_header("x-set").as_deref(),
        Some("proxy"),
        "{headers:?}"
    );
    assert_eq!(headers.upstream_header("x-add").as_deref(), Some("added"));
    assert_eq!(headers.upstream_header("x-remove"), None);
    assert_eq!(headers.upstream_header("x-kept").as_deref(), Some("kept"));
    assert_eq!(headers.headers["x-resp"], "yes");
    assert!(headers.headers.get("content-type").is_none(), "{headers:?}");
    Ok(())
}

/// Listeners of one port isolate their requests: a host goes to the most specific
/// listener that covers it, and only that listener's routes answer it (the routes here
/// name hostnames that intersect several listeners, to be sure of it).
#[tokio::test]
async fn a_request_is_served_only_by_its_listeners_routes() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let listener = |name: &str, hostname: Option<&str>| {
        let mut l = json!({ "name": name, "port": 80, "protocol": "HTTP",
                            "allowedRoutes": { "namespaces": { "from": "All" } } });
        if let Some(h) = hostname {
            l["hostname"] = json!(h);
        }
        l
    };
    let mut objects = vec![json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": { "name": "public", "namespace": "infra" },
        "spec": { "gatewayClassName": "sluice", "listeners": [
            listener("any", None),
            listener("wide", Some("*.example.com")),
            listener("foo", Some("*.foo.example.com")),
            listener("abc", Some("abc.foo.example.com")),
        ] }
    })];
    let hostnames = [
        "bar.com",
        "*.example.com",
        "*.foo.example.com",
        "abc.foo.example.com",
    ];
    for section in ["any", "wide", "foo", "abc"] {
        objects.push(route(
            section,
            Some(section),
            &hostnames,
            json!([{ "matches": [{ "path": { "type": "PathPrefix", "value": format!("/{section}") } }],
                     "backendRefs": to("a") }]),
        ));
    }
    objects.extend(service_with_endpoints("shop", "a", 80, &[a.addr]));
    let s = start(objects, Vec::new()).await?;
    for (host, served) in [
        ("bar.com", "any"),
        ("bar.example.com", "wide"),
        ("bar.foo.example.com", "foo"),
        ("abc.foo.example.com", "abc"),
    ] {
        for section in ["any", "wide", "foo", "abc"] {
            let reply = get(s.web, host, &format!("/{section}")).await?;
            let want = if section == served { 200 } else { 404 };
            assert_eq!(reply.status, want, "{host}/{section}: {reply:?}");
        }
    }
    Ok(())
}

/// HTTPS listeners of one port: a request whose host belongs to another listener than the
/// one its connection's SNI chose is answered 421, over HTTP/1.1 and HTTP/2 alike.
#[tokio::test]
async fn a_request_meant_for_another_https_listener_is_misdirected() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let (cert_pem, key_pem, _) = certificate(&["one.example.com", "two.example.com"])?;
    let listener = |name: &str, hostname: &str| {
        json!({ "name": name, "port": 443, "protocol": "HTTPS", "hostname": hostname,
                "tls": { "certificateRefs": [{ "name": "both" }] },
                "allowedRoutes": { "namespaces": { "from": "All" } } })
    };
    let mut objects = vec![
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": { "name": "public", "namespace": "infra" },
            "spec": { "gatewayClassName": "sluice", "listeners": [
                listener("one", "one.example.com"),
                listener("two", "two.example.com"),
            ] }
        }),
        tls_secret("infra", "both", &cert_pem, &key_pem),
        route("one", Some("one"), &[], json!([{ "backendRefs": to("a") }])),
        route("two", Some("two"), &[], json!([{ "backendRefs": to("a") }])),
    ];
    objects.extend(service_with_endpoints("shop", "a", 80, &[a.addr]));
    let s = start(objects, Vec::new()).await?;
    for alpn in [&["http/1.1"][..], &["h2"]] {
        for (sni, host, want) in [
            ("one.example.com", "one.example.com", 200),
            ("one.example.com", "two.example.com", 421),
            ("two.example.com", "two.example.com", 200),
            ("two.example.com", "one.example.com", 421),
        ] {
            let (reply, _) = https_get(s.https, sni, host, "/", alpn, &[]).await?;
            assert_eq!(reply.status, want, "{alpn:?} {sni} {host}: {reply:?}");
        }
    }
    Ok(())
}

/// RequestMirror: each request also goes, as its backend gets it, to the mirror (whose
/// answer the client never sees); a share of 0 % copies nothing. Over HTTP/1.1 and, with a
/// body, over HTTP/2.
#[tokio::test]
async fn mirrors_get_a_copy_of_each_request() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let m = Upstream::start("m", "127.0.0.3")?;
    let never = Upstream::start("never", "127.0.0.4")?;
    let (cert_pem, key_pem, _) = certificate(&["secure.example.com"])?;
    let mirror = |name: &str, percent: i32| {
        json!({ "type": "RequestMirror", "requestMirror": {
            "backendRef": { "name": name, "port": 80 }, "percent": percent } })
    };
    let mut objects = vec![
        gateway("secure-cert"),
        tls_secret("infra", "secure-cert", &cert_pem, &key_pem),
        route(
            "mirrored",
            None,
            &[],
            json!([{ "filters": [mirror("m", 100), mirror("never", 0), mirror("missing", 100)],
                     "backendRefs": to("a") }]),
        ),
    ];
    for (name, upstream) in [("a", &a), ("m", &m), ("never", &never)] {
        objects.extend(service_with_endpoints("shop", name, 80, &[upstream.addr]));
    }
    let s = start(objects, Vec::new()).await?;
    let copies = |want: usize| {
        let m = &m;
        async move {
            for _ in 0..100 {
                if m.requests() >= want {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            m.requests()
        }
    };

    let reply = get(s.web, "app.test", "/first").await?;
    assert_eq!(reply.server().as_deref(), Some("a"), "{reply:?}");
    assert_eq!(copies(1).await, 1);
    let mut h2 = sluice_tests::client::Http2::connect(s.https, "secure.example.com").await?;
    let posted = h2
        .send(
            Method::POST,
            "secure.example.com",
            "/second",
            b"payload".to_vec(),
        )
        .await?;
    assert_eq!(posted.server().as_deref(), Some("a"), "{posted:?}");
    assert_eq!(copies(2).await, 2);
    assert_eq!(a.requests(), 2);
    assert_eq!(never.requests(), 0);
    Ok(())
}

/// The CORS filter answers preflights itself and marks responses to allowed origins; a
/// backendRef's header filters apply after its rule's, to its share only; a rule with a
/// filter Sluice does not apply is answered with 500, never served without it.
#[tokio::test]
async fn applies_cors_and_backend_filters_and_refuses_unknown_ones() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let b = Upstream::start("b", "127.0.0.3")?;
    let mut objects = vec![
        gateway("none"),
        route(
            "filters",
            Some("web"),
            &[],
            json!([
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/cors" } }],
                  "filters": [{ "type": "CORS", "cors": {
                      "allowOrigins": ["https://www.foo.com", "https://*.bar.com"],
                      "allowMethods": ["GET", "PUT"], "allowHeaders": ["x-a"],
                      "exposeHeaders": ["x-b"], "allowCredentials": true, "maxAge": 60 } }],
                  "backendRefs": to("a") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/per-backend" } }],
                  "filters": [{ "type": "RequestHeaderModifier", "requestHeaderModifier": {
                      "set": [{ "name": "X-Rule", "value": "rule" }, { "name": "X-Both", "value": "rule" }] } }],
                  "backendRefs": [
                      { "name": "a", "port": 80, "filters": [
                          { "type": "RequestHeaderModifier", "requestHeaderModifier": {
                              "set": [{ "name": "X-Both", "value": "a" }] } }] },
                      { "name": "b", "port": 80, "weight": 0 }
                  ] },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/extension" } }],
                  "filters": [{ "type": "ExtensionRef", "extensionRef": {
                      "group": "example.com", "kind": "Auth", "name": "strict" } }],
                  "backendRefs": to("a") },
                { "matches": [{ "path": { "type": "PathPrefix", "value": "/" } }],
                  "backendRefs": to("b") }
            ]),
        ),
    ];
    objects.extend(service_with_endpoints("shop", "a", 80, &[a.addr]));
    objects.extend(service_with_endpoints("shop", "b", 80, &[b.addr]));
    let s = start(objects, Vec::new()).await?;

    let preflight = Http1::connect(s.web)
        .await?
        .send(
            Method::OPTIONS,
            "app.test",
            "/cors",
            &[
                ("origin", "https://x.y.bar.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-a"),
            ],
        )
        .await?;
    assert_eq!(preflight.status, 204, "{preflight:?}");
    assert_eq!(
        preflight.server(),
        None,
        "answered by the proxy: {preflight:?}"
    );
    let h = &preflight.headers;
    assert_eq!(h["access-control-allow-origin"], "https://x.y.bar.com");
    assert_eq!(h["access-control-allow-methods"], "GET, PUT");
    assert_eq!(h["access-control-allow-headers"], "x-a");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "60");
    let refused = Http1::connect(s.web)
        .await?
        .send(
            Method::OPTIONS,
            "app.test",
            "/cors",
            &[
                ("origin", "https://evil.com"),
                ("access-control-request-method", "PUT"),
            ],
        )
        .await?;
    assert_eq!(refused.status, 204, "{refused:?}");
    assert!(refused.headers.get("access-control-allow-origin").is_none());
    let simple = get_with(
        s.web,
        "app.test",
        "/cors",
        &[("origin", "https://www.foo.com")],
    )
    .await?;
    assert_eq!(simple.server().as_deref(), Some("a"), "{simple:?}");
    assert_eq!(
        simple.headers["access-control-allow-origin"],
        "https://www.foo.com"
    );
    assert_eq!(simple.headers["access-control-expose-headers"], "x-b");
    let other = get_with(
        s.web,
        "app.test",
        "/cors",
        &[("origin", "https://evil.com")],
    )
    .await?;
    assert!(
        other.headers.get("access-control-allow-origin").is_none(),
        "{other:?}"
    );

    let both = get(s.web, "app.test", "/per-backend").await?;
    assert_eq!(both.server().as_deref(), Some("a"), "{both:?}");
    assert_eq!(both.upstream_header("x-rule").as_deref(), Some("rule"));
    assert_eq!(both.upstream_header("x-both").as_deref(), Some("a"));

    let extension = get(s.web, "app.test", "/extension/x").await?;
    assert_eq!(extension.status, 500, "{extension:?}");
    assert_eq!(extension.server(), None);
    Ok(())
}

#[tokio::test]
async fn status_writes_do_not_recompile_and_spec_changes_do() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let b = Upstream::start("b", "127.0.0.3")?;
    let (cert_pem, key_pem, cert_der) = certificate(&["secure.example.com"])?;
    let objects = |backend: &str, status: bool| {
        let mut gateway = gateway("secure-cert");
        let mut route = route(
            "r",
            Some("web"),
            &[],
            json!([{ "backendRefs": to(backend) }]),
        );
        if status {
            let condition = json!([{ "type": "Accepted", "status": "True", "reason": "Accepted",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z" }]);
            gateway["status"] = json!({ "conditions": condition });
            route["status"] = json!({ "parents": [{
                "controllerName": "sluice.dev/gateway-controller",
                "parentRef": { "name": "public", "namespace": "infra" },
                "conditions": condition }] });
            route["metadata"]["resourceVersion"] = json!("2");
        }
        let mut all = vec![
            gateway,
            route,
            tls_secret("infra", "secure-cert", &cert_pem, &key_pem),
        ];
        all.extend(service_with_endpoints("shop", "a", 80, &[a.addr]));
        all.extend(service_with_endpoints("shop", "b", 80, &[b.addr]));
        all
    };
    let s = start(objects("a", false), cert_der.clone()).await?;
    assert_eq!(get(s.web, "h", "/").await?.server().as_deref(), Some("a"));
    let reloads = s.proxy.metric("sluice_proxy_route_reloads_total").await?;

    write_manifest(&s.manifests, &objects("a", true))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s
        .proxy
        .metric("sluice_proxy_config_changes_ignored_total")
        .await?
        < 1.0
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the write was not seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        s.proxy.metric("sluice_proxy_route_reloads_total").await?,
        reloads
    );

    write_manifest(&s.manifests, &objects("b", true))?;
    while get(s.web, "h", "/").await?.server().as_deref() != Some("b") {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the new backend is not served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s.proxy.metric("sluice_proxy_route_reloads_total").await? > reloads);
    Ok(())
}

/// A backend Service created after its route (the order `kubectl apply -f` of one file
/// often gives): the route answers 500 while the Service is missing, and serves once it
/// exists, without anything else changing.
#[tokio::test]
async fn a_backend_service_created_after_its_route_is_served() -> anyhow::Result<()> {
    let a = Upstream::start("a", "127.0.0.2")?;
    let (cert_pem, key_pem, cert_der) = certificate(&["secure.example.com"])?;
    let base = vec![
        gateway("secure-cert"),
        route(
            "late",
            Some("web"),
            &[],
            json!([{ "backendRefs": to("late") }]),
        ),
        tls_secret("infra", "secure-cert", &cert_pem, &key_pem),
    ];
    let s = start(base.clone(), cert_der).await?;
    assert_eq!(get(s.web, "h", "/").await?.status, 500);

    let mut with_service = base;
    with_service.extend(service_with_endpoints("shop", "late", 80, &[a.addr]));
    write_manifest(&s.manifests, &with_service)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = get(s.web, "h", "/").await?;
        if reply.server().as_deref() == Some("a") {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "still {} after the Service appeared",
            reply.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A GRPCRoute on the HTTPS and HTTP listeners: a real tonic client, over TLS (HTTP/2) and
/// in the clear (HTTP/2 with prior knowledge), to a real tonic server in the clear (h2c),
/// by service and method, with the rule's response header filter.
#[tokio::test]
async fn serves_grpc_routes_to_h2c_backends() -> anyhow::Result<()> {
    use tonic_health::ServingStatus;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let listener = tokio::net::TcpListener::bind("127.0.0.6:0").await?;
    let backend = listener.local_addr()?;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("shop.Cart", ServingStatus::NotServing)
        .await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming(listener)),
    );
    let (cert_pem, key_pem, cert_der) = certificate(&["secure.example.com"])?;
    let mut objects = vec![
        gateway("secure-cert"),
        tls_secret("infra", "secure-cert", &cert_pem, &key_pem),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": { "name": "health", "namespace": "shop" },
            "spec": {
                "parentRefs": [
                    { "name": "public", "namespace": "infra", "sectionName": "secure" },
                    { "name": "public", "namespace": "infra", "sectionName": "web" }
                ],
                "rules": [{
                    "matches": [{ "method": { "service": "grpc.health.v1.Health", "method": "Check" } }],
                    "filters": [{ "type": "ResponseHeaderModifier", "responseHeaderModifier": {
                        "set": [{ "name": "x-served-by", "value": "sluice" }] } }],
                    "backendRefs": [{ "name": "grpc", "port": 80 }]
                }]
            }
        }),
    ];
    objects.extend(service_with_endpoints("shop", "grpc", 80, &[backend]));
    let s = start(objects, cert_der).await?;

    let https = s.https;
    let channel = tonic::transport::Endpoint::from_static("http://secure.example.com")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| async move {
            sluice_tests::client::tls_connect(https, "secure.example.com", &["h2"])
                .await
                .map(hyper_util::rt::TokioIo::new)
                .map_err(std::io::Error::other)
        }))
        .await
        .map_err(|e| anyhow::anyhow!("connecting: {e:?}"))?;
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", s.web))?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("connecting in the clear: {e:?}"))?;
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    for (over, channel) in [("TLS", channel), ("h2c", plain)] {
        let mut client = HealthClient::new(channel);
        let cart = client.check(check("shop.Cart")).await?;
        assert_eq!(
            cart.metadata()
                .get("x-served-by")
                .and_then(|v| v.to_str().ok()),
            Some("sluice"),
            "{over}"
        );
        let cart = cart.into_inner();
        assert_eq!(cart.status, ServingStatus::NotServing as i32, "{over}");
        // Another method of the service has no route: the proxy answers 404 (a gRPC error).
        let watch = match client.watch(check("shop.Cart")).await {
            Ok(stream) => stream.into_inner().message().await.map(|_| ()),
            Err(status) => Err(status),
        };
        assert!(watch.is_err(), "{over}: {watch:?}");
    }
    Ok(())
}

/// The connections `listener` accepts, as tonic's server takes them.
fn incoming(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}
