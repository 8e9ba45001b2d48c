//! HTTP/2 clients in front of HTTP/1.1 upstreams: however an upstream frames a response, the
//! client gets its data in HTTP/2's own framing; the streams of one connection are served at
//! once, plain ones beside ones with a body; an upstream that dies mid-response resets that
//! stream alone; a client's several `cookie` fields reach the upstream as one `Cookie` line
//! (RFC 9113 §8.2.3). `make test` runs this file with the fast path on (plain streams are the
//! fast path's, the others Pingora's) and again with SLUICE_TEST_NO_FAST_PATH=1 (every stream
//! Pingora's): both must pass.

use std::net::SocketAddr;

use sluice_tests::client::Http2;
use sluice_tests::objects::{everything_to, write_manifest};
use sluice_tests::scripted;
use sluice_tests::{Proxy, ScriptedUpstream, Upstream};

/// A proxy routing every request to the endpoint `upstream`.
async fn proxy_to(upstream: SocketAddr, dir: &tempfile::TempDir) -> anyhow::Result<Proxy> {
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[upstream]))?;
    Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await
}

#[tokio::test]
async fn response_framing_reaches_an_http2_client_intact() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = ScriptedUpstream::start("127.0.0.2", scripted::framing)?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    let mut client = Http2::connect(proxy.https, "a").await?;

    let reply = client.get("a", "/chunked").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello world"));
    assert_eq!(reply.headers["x-app"], "yes");
    assert!(
        reply.headers.get("transfer-encoding").is_none(),
        "{:?}",
        reply.headers
    );
    let reply = client.get("a", "/interim").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "final"));
    let reply = client.get("a", "/hop").await?;
    assert_eq!(reply.body, "ok");
    assert!(reply.headers.get("x-hop").is_none() && reply.headers.get("keep-alive").is_none());
    let reply = client
        .send(http::Method::HEAD, "a", "/head", Vec::new())
        .await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(reply.headers["content-length"], "1000");
    let reply = client.get("a", "/none").await?;
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    assert_eq!(reply.headers["x-app"], "yes");
    // A body the upstream ends by closing: the stream ends there, the connection goes on.
    let reply = client.get("a", "/until-close").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "until the end"));
    let reply = client.get("a", "/plain").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "/plain"));

    // An upstream that dies mid-body: the client must not take the part for the whole.
    assert!(
        client.get("a", "/dies").await.is_err(),
        "a cut-off body was passed on as complete"
    );
    let reply = client.get("a", "/plain").await?;
    assert_eq!(
        reply.body, "/plain",
        "the connection did not survive its stream"
    );
    Ok(())
}

#[tokio::test]
async fn the_streams_of_one_connection_are_served_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::start("blue", "127.0.0.2")?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    let client = Http2::connect(proxy.https, "a").await?;

    // Slow requests, so that all of them are in flight together: served one after another
    // they would take 60 × 200 ms.
    let started = std::time::Instant::now();
    let mut streams = tokio::task::JoinSet::new();
    for i in 0..60 {
        let mut client = client.clone();
        streams.spawn(async move {
            let path = format!("/slow?ms=200&i={i}");
            // Every third stream has a body (Pingora's on the fast path's connection).
            let reply = if i % 3 == 0 {
                client
                    .send(
                        http::Method::POST,
                        "a",
                        &path,
                        format!("body {i}").into_bytes(),
                    )
                    .await?
            } else {
                client.get("a", &path).await?
            };
            anyhow::ensure!(reply.status == 200, "{i}: {} {}", reply.status, reply.body);
            let query = reply.json()["query"].as_str().map(str::to_string);
            anyhow::ensure!(
                query.as_deref() == Some(&format!("ms=200&i={i}")[..]),
                "{i}: {}",
                reply.body
            );
            Ok(())
        });
    }
    while let Some(done) = streams.join_next().await {
        done??;
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "the streams were served one after another: {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn an_http2_clients_cookie_fields_reach_an_http1_upstream_as_one_line() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::start("blue", "127.0.0.2")?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    let mut client = Http2::connect(proxy.https, "a").await?;
    let cookies = [("cookie", "session=1"), ("cookie", "theme=dark")];
    // Without a body (the fast path's, with it on) and with one (Pingora's).
    for (method, body) in [
        (http::Method::GET, Vec::new()),
        (http::Method::POST, b"form".to_vec()),
    ] {
        let reply = client
            .send_with(method.clone(), "a", "/", &cookies, body)
            .await?;
        assert_eq!(reply.status, 200, "{method}: {}", reply.body);
        assert_eq!(
            reply.upstream_header("cookie").as_deref(),
            Some("session=1; theme=dark"),
            "{method}: {}",
            reply.body
        );
        assert!(
            reply.json()["repeated"]["cookie"].is_null(),
            "{method}: the upstream got more than one Cookie line: {}",
            reply.body
        );
    }
    Ok(())
}
