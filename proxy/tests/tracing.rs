//! OpenTelemetry traces and Prometheus metrics from a real proxy process serving real
//! requests, received by a real OTLP receiver (gRPC, and HTTP/protobuf).

use std::time::{Duration, Instant};

use sluice_tests::client::{Http1, get, get_with, https_get, raw_exchange};
use sluice_tests::objects::{ingress, path, service_with_endpoints, write_manifest};
use sluice_tests::otlp::{Collector, Protocol, Received};
use sluice_tests::{Proxy, Upstream};

const SERVER: i32 = 2; // SpanKind::Server in OTLP
const CLIENT: i32 = 3; // SpanKind::Client

async fn start(up: &Upstream, dir: &tempfile::TempDir, extra: &[&str]) -> anyhow::Result<Proxy> {
    let mut objects = vec![ingress(
        "shop",
        "app",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path("/api", "Prefix", "api", 80)],
        )],
    )];
    objects.extend(service_with_endpoints("shop", "api", 80, &[up.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    let mut args = vec!["--manifests", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    Proxy::start(&args, dir.path()).await
}

async fn wait_for_spans(collector: &Collector, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = collector.spans();
        if spans.len() >= n || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_request_is_a_server_span_with_a_child_per_attempt_continued_upstream()
-> anyhow::Result<()> {
    let collector = Collector::start()?;
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let endpoint = collector.endpoint();
    let proxy = start(
        &up,
        &dir,
        &["--otlp-endpoint", &endpoint, "--trace-sampling-ratio", "0"],
    )
    .await?;

    // An incoming sampled traceparent is continued even though the ratio is 0.
    let incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming_parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{incoming_trace}-{incoming_parent}-01");
    let reply = get_with(
        proxy.http,
        "app.example.com",
        "/api/orders",
        &[("traceparent", &traceparent)],
    )
    .await?;
    assert_eq!(reply.status, 200);
    let upstream_traceparent = reply
        .upstream_header("traceparent")
        .expect("the upstream got a traceparent");
    let parts: Vec<&str> = upstream_traceparent.split('-').collect();
    assert_eq!(parts[1], incoming_trace, "same trace id upstream");
    assert_ne!(
        parts[2], incoming_parent,
        "the upstream's parent is the proxy's span"
    );

    let spans = wait_for_spans(&collector, 2).await;
    let server = spans
        .iter()
        .find(|s| s.span.kind == SERVER)
        .expect("a server span");
    let client = spans
        .iter()
        .find(|s| s.span.kind == CLIENT)
        .expect("a client span per attempt");
    assert_eq!(server.service, "sluice-proxy");
    assert_eq!(server.trace_id(), incoming_trace);
    assert_eq!(server.parent_span_id(), incoming_parent);
    assert_eq!(server.span.name, "GET /api");
    assert_eq!(
        server.attribute("http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(server.attribute("http.route").as_deref(), Some("/api"));
    assert_eq!(server.attribute("url.path").as_deref(), Some("/api/orders"));
    assert_eq!(
        server.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        server.attribute("sluice.ingress").as_deref(),
        Some("shop/app")
    );
    assert_eq!(
        server.attribute("sluice.service").as_deref(),
        Some("shop/api:80")
    );
    assert_eq!(
        server.attribute("sluice.upstream.attempts").as_deref(),
        Some("1")
    );
    assert_eq!(
        client.parent_span_id(),
        server.span_id(),
        "attempts are children of the request"
    );
    assert_eq!(
        client.span_id(),
        parts[2],
        "the upstream's traceparent names the attempt span"
    );
    assert_eq!(
        client.attribute("server.address").as_deref(),
        Some("127.0.0.2")
    );
    assert_eq!(
        client.attribute("server.port"),
        Some(up.addr.port().to_string())
    );

    // Without a traceparent, a ratio of 0 records nothing but still passes a context on.
    let before = collector.spans().len();
    let reply = get(proxy.http, "app.example.com", "/api").await?;
    let unsampled = reply.upstream_header("traceparent").expect("a traceparent");
    assert!(unsampled.ends_with("-00"), "not sampled: {unsampled}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(collector.spans().len(), before);
    Ok(())
}

#[tokio::test]
async fn spans_are_exported_over_http_protobuf() -> anyhow::Result<()> {
    let collector =
        Collector::start_with(Protocol::HttpProtobuf, sluice_tests::proxy::free_addr()?)?;
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let endpoint = collector.endpoint();
    let proxy = start(
        &up,
        &dir,
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-protocol",
            "http/protobuf",
            "--trace-sampling-ratio",
            "1",
        ],
    )
    .await?;
    let reply = get(proxy.http, "app.example.com", "/api").await?;
    assert_eq!(reply.status, 200);
    let upstream = reply.upstream_header("traceparent").expect("a traceparent");
    let trace_id = upstream.split('-').nth(1).unwrap_or_default().to_string();

    let spans = wait_for_spans(&collector, 2).await;
    let kinds: Vec<i32> = spans
        .iter()
        .filter(|s| s.trace_id() == trace_id)
        .map(|s| s.span.kind)
        .collect();
    assert!(
        kinds.contains(&SERVER) && kinds.contains(&CLIENT),
        "the request's server and attempt spans arrive over HTTP: {spans:?}"
    );
    // Exporting runs beside the requests: the proxy is still serving.
    assert_eq!(
        get(proxy.http, "app.example.com", "/api").await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_traceparent_passes_through() -> anyhow::Result<()>
{
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = start(&up, &dir, &[]).await?;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = get_with(
        proxy.http,
        "app.example.com",
        "/api",
        &[("traceparent", traceparent)],
    )
    .await?;
    assert_eq!(
        reply.upstream_header("traceparent").as_deref(),
        Some(traceparent)
    );
    assert!(
        get(proxy.http, "app.example.com", "/api")
            .await?
            .upstream_header("traceparent")
            .is_none()
    );
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_going_away_loses_no_requests_and_memory_stays_bounded() -> anyhow::Result<()> {
    let collector = Collector::start()?;
    let addr = collector.addr;
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let endpoint = collector.endpoint();
    let proxy = start(
        &up,
        &dir,
        &["--otlp-endpoint", &endpoint, "--trace-sampling-ratio", "1"],
    )
    .await?;
    let mut conn = Http1::connect(proxy.http).await?;
    for _ in 0..200 {
        assert_eq!(conn.get("app.example.com", "/api").await?.status, 200);
    }
    assert!(wait_for_spans(&collector, 400).await.len() >= 400);

    drop(collector);
    let pid = proxy.pid().expect("running");
    let mut conn = Http1::connect(proxy.http).await?;
    // Warm up with the collector gone, then measure: the span queue is bounded.
    for _ in 0..2000 {
        assert_eq!(conn.get("app.example.com", "/api").await?.status, 200);
    }
    let rss_before = rss_kib(pid);
    for _ in 0..20000 {
        let reply = conn.get("app.example.com", "/api").await?;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let rss_after = rss_kib(pid);
    eprintln!(
        "RSS with the collector gone: {rss_before} KiB, then {rss_after} KiB after 20000 more requests"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );

    // The collector comes back on the same address: spans flow again.
    let collector = Collector::start_on(addr)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while collector.spans().iter().all(|s| s.span.kind != SERVER) {
        assert!(
            Instant::now() < deadline,
            "no spans after the collector came back"
        );
        conn.get("app.example.com", "/api").await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn metrics_count_the_requests_sent() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = start(&up, &dir, &[]).await?;
    // The three ways a request is served all count in the same series: plain HTTP/1.1 on
    // the fast path, a chunked POST (which the fast path leaves to Pingora), and HTTP/2.
    for host in ["app.example.com", "nowhere.example.com"] {
        let expected = if host == "app.example.com" { 200 } else { 404 };
        let times = if expected == 200 { 5 } else { 1 };
        for _ in 0..times {
            assert_eq!(get(proxy.http, host, "/api").await?.status, expected);
        }
        let chunked = format!(
            "POST /api HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
        let raw = raw_exchange(proxy.http, chunked.as_bytes()).await?;
        assert!(raw.starts_with(&format!("HTTP/1.1 {expected}")), "{raw}");
        let (reply, tls) = https_get(proxy.https, host, host, "/api", &["h2"], &[]).await?;
        assert_eq!(tls.alpn.as_deref(), Some("h2"));
        assert_eq!(reply.status, expected);
    }
    assert_eq!(
        proxy
            .metric("sluice_proxy_requests_total{namespace=\"shop\",ingress=\"app\",service=\"api\",service_port=\"80\",status_class=\"2xx\"}")
            .await?,
        7.0
    );
    assert_eq!(
        proxy
            .metric("sluice_proxy_requests_total{namespace=\"\",ingress=\"\",service=\"\",service_port=\"\",status_class=\"4xx\"}")
            .await?,
        3.0
    );
    assert_eq!(
        proxy
            .metric("sluice_proxy_request_duration_seconds_count{namespace=\"shop\",ingress=\"app\",service=\"api\",service_port=\"80\"}")
            .await?,
        7.0
    );
    let build_info = format!(
        "sluice_proxy_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(proxy.metric(&build_info).await?, 1.0);
    assert_eq!(proxy.metric("sluice_proxy_routes").await?, 1.0);
    assert_eq!(proxy.metric("sluice_proxy_ingresses").await?, 1.0);
    assert!(proxy.metric("sluice_proxy_route_reloads_total").await? >= 1.0);
    Ok(())
}
