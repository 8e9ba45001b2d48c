//! What happens when backends misbehave: no endpoints, dead endpoints, slow endpoints; and
//! WebSocket upgrades passing through.

use futures::{SinkExt, StreamExt};
use serde_json::json;
use sluice_tests::client::get;
use sluice_tests::objects::{everything_to, ingress, path, service_with_endpoints, write_manifest};
use sluice_tests::{Proxy, Upstream};
use tokio_tungstenite::tungstenite::Message;

async fn start(objects: Vec<serde_json::Value>, dir: &tempfile::TempDir) -> anyhow::Result<Proxy> {
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await
}

#[tokio::test]
async fn no_endpoints_is_503_saying_why() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut objects = vec![ingress(
        "shop",
        "app",
        "sluice",
        &[(
            None,
            vec![
                path("/empty", "Prefix", "empty", 80),
                path("/missing", "Prefix", "missing", 80),
            ],
        )],
    )];
    objects.extend(service_with_endpoints("shop", "empty", 80, &[]));
    let proxy = start(objects, &dir).await?;

    let reply = get(proxy.http, "x", "/empty").await?;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        "503 Service Unavailable: Service shop/empty has no ready endpoints\n"
    );
    let reply = get(proxy.http, "x", "/missing").await?;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        "503 Service Unavailable: Service shop/missing not found\n"
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_endpoint_is_retried_on_another() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let live = Upstream::start("live", "127.0.0.2")?;
    // Nothing listens on 127.0.0.3 at the live upstream's port: connecting is refused.
    let dead: std::net::SocketAddr = format!("127.0.0.3:{}", live.addr.port()).parse()?;
    let proxy = start(everything_to(&[dead, live.addr]), &dir).await?;
    for i in 0..10 {
        let reply = get(proxy.http, "x", "/").await?;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
        assert_eq!(reply.server().as_deref(), Some("live"));
    }
    assert_eq!(live.requests(), 10);
    // Round robin sends every other first attempt to the dead endpoint.
    assert_eq!(
        proxy
            .metric("sluice_proxy_upstream_connect_errors_total")
            .await?,
        5.0
    );
    assert_eq!(
        proxy.metric("sluice_proxy_upstream_retries_total").await?,
        5.0
    );
    Ok(())
}

#[tokio::test]
async fn every_endpoint_dead_is_502() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dead1: std::net::SocketAddr = format!("127.0.0.2:{port}").parse()?;
    let dead2: std::net::SocketAddr = format!("127.0.0.3:{port}").parse()?;
    let proxy = start(everything_to(&[dead1, dead2]), &dir).await?;
    let reply = get(proxy.http, "x", "/").await?;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.body,
        "502 Bad Gateway: could not connect to any endpoint of shop/svc:80\n"
    );
    assert_eq!(
        proxy
            .metric("sluice_proxy_upstream_connect_errors_total")
            .await?,
        2.0
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_upstream_is_504_after_the_ingress_read_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let slow = Upstream::start("slow", "127.0.0.2")?;
    let mut ing = ingress(
        "shop",
        "app",
        "sluice",
        &[(None, vec![path("/", "Prefix", "svc", 80)])],
    );
    ing["metadata"]["annotations"] = json!({ "sluice.dev/read-timeout": "300ms" });
    let mut objects = vec![ing];
    objects.extend(service_with_endpoints("shop", "svc", 80, &[slow.addr]));
    let proxy = start(objects, &dir).await?;

    let started = std::time::Instant::now();
    let reply = get(proxy.http, "x", "/slow?ms=3000").await?;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(
        reply.body,
        "504 Gateway Timeout: shop/svc:80 did not answer in time\n"
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    // Within the timeout, the same route answers.
    assert_eq!(get(proxy.http, "x", "/slow?ms=10").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn websocket_upgrades_pass_through() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let up = Upstream::start("echo", "127.0.0.2")?;
    let mut objects = vec![ingress(
        "shop",
        "ws",
        "sluice",
        &[(
            Some("ws.example.com"),
            vec![path("/ws", "Exact", "echo", 80)],
        )],
    )];
    objects.extend(service_with_endpoints("shop", "echo", 80, &[up.addr]));
    let proxy = start(objects, &dir).await?;

    let stream = tokio::net::TcpStream::connect(proxy.http).await?;
    let request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        "ws://ws.example.com/ws",
    )?;
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream).await?;
    assert_eq!(response.status(), 101);
    for i in 0..3 {
        socket.send(Message::text(format!("hello {i}"))).await?;
        let reply = socket.next().await.expect("a reply")?;
        assert_eq!(reply.into_text()?.as_str(), format!("echo: hello {i}"));
    }
    socket.close(None).await?;
    Ok(())
}

/// Many WebSockets, several at a time, each carrying its first message at once. Pingora's
/// HTTP/1 proxy can end a WebSocket just after its 101 when the 101 is read before the end
/// of the upgrade request's empty body (pingora#946; seen in the faults test under load,
/// not reproducible on demand): Sluice carries a fix (patches/README.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_websocket_carries_its_first_message() -> anyhow::Result<()> {
    const SOCKETS: usize = 400;
    const AT_ONCE: usize = 8;
    let dir = tempfile::tempdir()?;
    let up = Upstream::start("echo", "127.0.0.2")?;
    let proxy = start(everything_to(&[up.addr]), &dir).await?;
    let http = proxy.http;
    let one = move |n: usize| async move {
        let stream = tokio::net::TcpStream::connect(http).await?;
        let request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                "ws://ws.example.com/ws",
            )?;
        let (mut socket, _) = tokio_tungstenite::client_async(request, stream).await?;
        socket.send(Message::text(format!("first {n}"))).await?;
        match socket.next().await {
            Some(Ok(reply)) if reply.to_text()? == format!("echo: first {n}") => {}
            other => anyhow::bail!("WebSocket {n}: {other:?}"),
        }
        anyhow::Ok(())
    };
    let mut failures = Vec::new();
    for batch in (0..SOCKETS).collect::<Vec<_>>().chunks(AT_ONCE) {
        let results = futures::future::join_all(batch.iter().map(|&n| one(n))).await;
        failures.extend(results.into_iter().filter_map(Result::err));
    }
    assert!(
        failures.is_empty(),
        "{} of {SOCKETS} WebSockets lost their first message, e.g. {:#}",
        failures.len(),
        failures[0]
    );
    Ok(())
}
