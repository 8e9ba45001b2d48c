//! The access log and the per-request metrics of a real proxy process: the same line, with
//! the same fields, whichever way a request is served (the HTTP/1.1 fast path, Pingora's
//! HTTP/1.1 path, HTTP/2 over TLS, one of Sluice's own answers).

use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_tests::client::{get, get_with, https_get, raw_exchange};
use sluice_tests::objects::{
    certificate, ingress, path, service_with_endpoints, tls_secret, write_manifest,
};
use sluice_tests::{Proxy, Upstream};

async fn start(up: &Upstream, dir: &tempfile::TempDir, extra: &[&str]) -> anyhow::Result<Proxy> {
    let (cert, key, _) = certificate(&["app.example.com"])?;
    let mut app = ingress(
        "shop",
        "app",
        "sluice",
        &[(
            Some("app.example.com"),
            vec![path("/api", "Prefix", "api", 80)],
        )],
    );
    app["spec"]["tls"] =
        serde_json::json!([{ "hosts": ["app.example.com"], "secretName": "app-tls" }]);
    let mut objects = vec![app, tls_secret("shop", "app-tls", &cert, &key)];
    objects.extend(service_with_endpoints("shop", "api", 80, &[up.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    let mut args = vec![
        "--manifests",
        file.to_str().unwrap(),
        "--log-format",
        "json",
        "--no-ssl-redirect",
    ];
    args.extend_from_slice(extra);
    Proxy::start(&args, dir.path()).await
}

/// The access log lines written so far, waiting until there are `n` (the log has its own
/// writer thread).
async fn access_lines(proxy: &Proxy, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = proxy
            .output()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "access")
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_id<'a>(lines: &'a [Value], id: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["request_id"] == id)
        .unwrap_or_else(|| panic!("no line for {id} in {lines:#?}"))
}

#[tokio::test]
async fn every_path_writes_the_same_access_log_line() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = start(&up, &dir, &[]).await?;
    let upstream = up.addr.to_string();

    // The fast path.
    let fast = get_with(
        proxy.http,
        "app.example.com",
        "/api/items?page=2",
        &[
            ("user-agent", "probe/1.0"),
            ("referer", "https://ref.example/"),
            ("x-request-id", "rid-fast"),
        ],
    )
    .await?;
    assert_eq!(fast.status, 200);
    // Pingora's HTTP/1.1 path: a chunked POST.
    let chunked = "POST /api/upload HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: probe/2.0\r\nX-Request-Id: rid-chunked\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let raw = raw_exchange(proxy.http, chunked.as_bytes()).await?;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    // HTTP/2 over TLS.
    let (h2, tls) = https_get(
        proxy.https,
        "app.example.com",
        "app.example.com",
        "/api/h2",
        &["h2"],
        &[],
    )
    .await?;
    assert_eq!(tls.alpn.as_deref(), Some("h2"));
    assert_eq!(h2.status, 200);
    // One of Sluice's own answers, with no rule matched.
    let missing = get_with(
        proxy.http,
        "nowhere.example.com",
        "/x",
        &[("x-request-id", "rid-404")],
    )
    .await?;
    assert_eq!(missing.status, 404);

    let lines = access_lines(&proxy, 4).await;
    assert_eq!(lines.len(), 4, "{lines:#?}");

    let line = by_id(&lines, "rid-fast");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["client"], "127.0.0.1");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["host"], "app.example.com");
    assert_eq!(line["uri"], "/api/items?page=2");
    assert_eq!(line["protocol"], "HTTP/1.1");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream_status"], 200);
    assert_eq!(line["upstream_addr"], upstream);
    assert_eq!(line["attempts"], 1);
    assert_eq!(line["namespace"], "shop");
    assert_eq!(line["ingress"], "app");
    assert_eq!(line["service"], "api");
    assert_eq!(line["service_port"], "80");
    assert_eq!(line["user_agent"], "probe/1.0");
    assert_eq!(line["referer"], "https://ref.example/");
    assert_eq!(line["body_bytes_sent"], fast.body.len() as u64);
    assert!(line["request_length"].as_u64().unwrap() > 60, "{line}");
    let (total, upstream_time) = (
        line["request_time"].as_f64().unwrap(),
        line["upstream_response_time"].as_f64().unwrap(),
    );
    assert!(upstream_time <= total && total < 5.0, "{line}");

    let line = by_id(&lines, "rid-chunked");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["uri"], "/api/upload");
    assert_eq!(line["protocol"], "HTTP/1.1");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream_status"], 200);
    assert_eq!(line["upstream_addr"], upstream);
    assert_eq!(line["ingress"], "app");
    assert_eq!(line["user_agent"], "probe/2.0");
    // Head and the 5-byte body.
    assert!(line["request_length"].as_u64().unwrap() > 100, "{line}");
    assert!(line["body_bytes_sent"].as_u64().unwrap() > 0, "{line}");

    let line = lines
        .iter()
        .find(|l| l["protocol"] == "HTTP/2.0")
        .expect("an HTTP/2 line");
    assert_eq!(line["uri"], "/api/h2");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream_status"], 200);
    assert_eq!(line["ingress"], "app");
    assert_eq!(line["body_bytes_sent"], h2.body.len() as u64);
    // A request without an id is logged with the one the proxy gave it, which the
    // upstream received.
    assert_eq!(
        line["request_id"].as_str(),
        h2.upstream_header("x-request-id").as_deref()
    );

    let line = by_id(&lines, "rid-404");
    assert_eq!(line["status"], 404);
    assert_eq!(line["ingress"], "");
    assert!(line.get("upstream_status").is_none(), "{line}");
    assert!(line.get("upstream_addr").is_none(), "{line}");
    assert_eq!(line["body_bytes_sent"], missing.body.len() as u64);
    Ok(())
}

#[tokio::test]
async fn an_access_log_turned_off_writes_nothing() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = start(&up, &dir, &["--no-access-log"]).await?;
    for _ in 0..5 {
        assert_eq!(
            get(proxy.http, "app.example.com", "/api").await?.status,
            200
        );
    }
    // Requests are counted once finished (on Pingora's path, just after the response).
    let counted = "sluice_proxy_requests_total{namespace=\"shop\",ingress=\"app\",service=\"api\",service_port=\"80\",status_class=\"2xx\"}";
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.metric(counted).await? < 5.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.metric(counted).await?, 5.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        access_lines(&proxy, 0).await.is_empty(),
        "{}",
        proxy.output()
    );
    Ok(())
}

#[tokio::test]
async fn request_metrics_have_sizes_upstream_times_and_opt_in_labels() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = start(&up, &dir, &["--metrics-detailed-labels"]).await?;
    for _ in 0..3 {
        assert_eq!(
            get(proxy.http, "app.example.com", "/api").await?.status,
            200
        );
    }
    let chunked = "POST /api HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert!(
        raw_exchange(proxy.http, chunked.as_bytes())
            .await?
            .starts_with("HTTP/1.1 200")
    );
    assert_eq!(
        get(proxy.http, "nowhere.example.com", "/api").await?.status,
        404
    );

    let route = "namespace=\"shop\",ingress=\"app\",service=\"api\",service_port=\"80\"";
    for histogram in [
        "upstream_response_duration_seconds",
        "request_size_bytes",
        "response_size_bytes",
    ] {
        let count = proxy
            .metric(&format!("sluice_proxy_{histogram}_count{{{route}}}"))
            .await?;
        assert_eq!(count, 4.0, "{histogram}");
    }
    assert_eq!(
        proxy
            .metric(&format!("sluice_proxy_requests_detailed_total{{{route},method=\"GET\",status=\"200\",host=\"app.example.com\"}}"))
            .await?,
        3.0
    );
    assert_eq!(
        proxy
            .metric(&format!("sluice_proxy_requests_detailed_total{{{route},method=\"POST\",status=\"200\",host=\"app.example.com\"}}"))
            .await?,
        1.0
    );
    // The request that matched no rule has no host label of its own: a client cannot add
    // series by sending Host headers.
    assert_eq!(
        proxy
            .metric("sluice_proxy_requests_detailed_total{namespace=\"\",ingress=\"\",service=\"\",service_port=\"\",method=\"GET\",status=\"404\",host=\"\"}")
            .await?,
        1.0
    );
    // The certificate of the Ingress's TLS Secret: rcgen's default validity ends in 4096.
    let expiry = proxy
        .metric("sluice_proxy_tls_certificate_expiry_timestamp_seconds{namespace=\"shop\",secret=\"app-tls\"}")
        .await?;
    assert!(expiry > 4.0e9, "{expiry}");
    Ok(())
}
