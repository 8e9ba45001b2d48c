//! The hardening of the data plane, on both HTTP/1.1 paths: every case runs against a proxy
//! with the fast path and one with `--no-fast-path` (everything through Pingora), over raw
//! sockets, and both must answer the same. The same rules over HTTP/2 at the end.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::Method;
use sluice_tests::client::{h2_idle_lifetime, h2_send, raw_exchange, tls_connect};
use sluice_tests::objects::{everything_to, write_manifest};
use sluice_tests::scripted::{Act, Seen};
use sluice_tests::{Proxy, ScriptedUpstream, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Two proxies routing everything to `upstream`: the fast path's, and Pingora's only.
async fn both_paths(
    upstream: SocketAddr,
    dir: &tempfile::TempDir,
    extra: &[&str],
) -> anyhow::Result<[(&'static str, Proxy); 2]> {
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[upstream]))?;
    let mut args = vec!["--manifests", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let fast = Proxy::start(&args, dir.path()).await?;
    args.push("--no-fast-path");
    let pingora = Proxy::start(&args, dir.path()).await?;
    Ok([("fast path", fast), ("pingora", pingora)])
}

/// The status of the first response in `raw`.
fn status(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Reads until the proxy closes the connection; `Err` if it is still open after `within`.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => anyhow::bail!("still open after {within:?}"),
        }
    }
}

#[tokio::test]
async fn hop_by_hop_and_underscored_headers_are_not_forwarded() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    for (path, proxy) in both_paths(up.addr, &dir, &[]).await? {
        let raw = raw_exchange(
            proxy.http,
            b"GET /h HTTP/1.1\r\nHost: a.example\r\nProxy-Authorization: Basic eDp5\r\n\
              Proxy-Authenticate: x\r\nTrailer: X-T\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\
              X_Forwarded_For: 6.6.6.6\r\nContent_Length: 5\r\nX-Forwarded-For: 7.7.7.7\r\n\
              X-Kept: yes\r\nConnection: close\r\n\r\n",
        )
        .await?;
        assert_eq!(status(&raw), 200, "{path}: {raw}");
        let body = &raw[raw.find("\r\n\r\n").unwrap_or(0) + 4..];
        let seen: serde_json::Value = serde_json::from_str(body)?;
        let headers = seen["headers"].as_object().unwrap();
        for gone in [
            "proxy-authorization",
            "proxy-authenticate",
            "trailer",
            "http2-settings",
            "x_forwarded_for",
            "content_length",
        ] {
            assert!(
                !headers.contains_key(gone),
                "{path}: {gone} forwarded: {body}"
            );
        }
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "{path}");
        assert_eq!(headers["x-kept"], "yes", "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_requests_get_400_and_lose_their_connection() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let cases: [(&str, &[u8]); 6] = [
        (
            "two Content-Lengths",
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nz",
        ),
        (
            "a junk Host",
            b"GET /x HTTP/1.1\r\nHost: [internal.test]junk\r\n\r\n",
        ),
        ("no Host", b"GET /x HTTP/1.1\r\n\r\n"),
        ("an empty Host", b"GET /x HTTP/1.1\r\nHost:\r\n\r\n"),
        (
            "two Hosts",
            b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ),
        (
            "a space in the target",
            b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
    ];
    for (path, proxy) in both_paths(up.addr, &dir, &[]).await? {
        for (case, request) in cases {
            let mut conn = TcpStream::connect(proxy.http).await?;
            conn.write_all(request).await?;
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer))
                .await
                .map_err(|_| anyhow::anyhow!("{path}, {case}: the connection stayed open"))??;
            let answer = String::from_utf8_lossy(&answer);
            assert_eq!(status(&answer), 400, "{path}, {case}: {answer}");
        }
        // Well-formed requests for paths a backend could resolve elsewhere: 400, and the
        // connection may carry on.
        for ambiguous in [
            "/api/..;/admin",
            "/api/..%2fadmin",
            "/api/..\\admin",
            "/api/%2e%2e%2fadmin",
        ] {
            let raw = raw_exchange(
                proxy.http,
                format!("GET {ambiguous} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
            assert_eq!(status(&raw), 400, "{path}, {ambiguous}: {raw}");
        }
    }
    assert_eq!(up.requests(), 0, "a malformed request reached the upstream");
    Ok(())
}

#[tokio::test]
async fn an_unrequested_switch_of_protocols_is_a_502() -> anyhow::Result<()> {
    let upstream = ScriptedUpstream::start("127.0.0.2", |_: &Seen<'_>| {
        Act::ReplyAndClose(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
                .to_vec(),
        )
    })?;
    let dir = tempfile::tempdir()?;
    for (path, proxy) in both_paths(upstream.addr, &dir, &[]).await? {
        let mut conn = TcpStream::connect(proxy.http).await?;
        conn.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer))
            .await
            .map_err(|_| anyhow::anyhow!("{path}: no answer and the connection stayed open"))??;
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status(&answer), 502, "{path}: {answer}");
    }
    Ok(())
}

#[tokio::test]
async fn idle_and_slow_clients_are_cut_off_on_both_paths() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let timeouts = ["--keepalive-timeout", "1s", "--client-header-timeout", "1s"];
    for (path, proxy) in both_paths(up.addr, &dir, &timeouts).await? {
        // Kept alive after a request Pingora served (a chunked POST), then silent.
        for first in [
            &b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, x\r\n\r\n",
            b"GET /x HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let mut conn = TcpStream::connect(proxy.http).await?;
            conn.write_all(first).await?;
            let took = closed_within(&mut conn, Duration::from_secs(5))
                .await
                .map_err(|e| {
                    anyhow::anyhow!("{path}, {:?}: {e}", String::from_utf8_lossy(first))
                })?;
            assert!(
                took >= Duration::from_millis(900),
                "{path}: closed after {took:?}"
            );
        }
        // A head trickled in one header every 300 ms: the head's deadline ends it.
        let mut conn = TcpStream::connect(proxy.http).await?;
        conn.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n").await?;
        let started = Instant::now();
        let mut cut_off = false;
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if conn
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                cut_off = true;
                break;
            }
            let mut byte = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), conn.read(&mut byte)).await
            {
                cut_off = true;
                break;
            }
        }
        assert!(
            cut_off,
            "{path}: a trickled head was still open after {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() -> anyhow::Result<()> {
    const SIZE: usize = 64 * 1024 * 1024;
    let upstream = ScriptedUpstream::start("127.0.0.2", |_: &Seen<'_>| {
        let mut reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").into_bytes();
        reply.resize(reply.len() + SIZE, b'x');
        Act::Reply(reply)
    })?;
    let dir = tempfile::tempdir()?;
    for (path, proxy) in both_paths(upstream.addr, &dir, &["--send-timeout", "1s"]).await? {
        let mut conn = TcpStream::connect(proxy.http).await?;
        conn.write_all(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            .await?;
        // Not reading: the proxy's writes stall once the socket buffers are full.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut got = 0usize;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got += n,
                Err(_) => anyhow::bail!("{path}: still sending after {got} bytes"),
            }
        }
        assert!(
            got < SIZE,
            "{path}: the whole response arrived ({got} bytes)"
        );
    }
    Ok(())
}

#[tokio::test]
async fn connections_past_the_cap_of_one_address_are_closed_at_once() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    for (path, proxy) in both_paths(up.addr, &dir, &["--max-connections-per-address", "3"]).await? {
        // Three half-sent heads are held.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = TcpStream::connect(proxy.http).await?;
            conn.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n").await?;
            held.push(conn);
        }
        // Let the proxy accept them before the fourth arrives.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut fourth = TcpStream::connect(proxy.http).await?;
        let took = closed_within(&mut fourth, Duration::from_secs(2))
            .await
            .map_err(|e| anyhow::anyhow!("{path}: the fourth connection: {e}"))?;
        assert!(took < Duration::from_secs(1), "{path}: {took:?}");
        assert_eq!(
            proxy
                .metric("sluice_proxy_client_connections_refused_total{cap=\"per_address\"}")
                .await?,
            1.0,
            "{path}"
        );
        // One of the three finishes and goes: a new connection is served again.
        let mut first = held.remove(0);
        first.write_all(b"Connection: close\r\n\r\n").await?;
        closed_within(&mut first, Duration::from_secs(5)).await?;
        drop(first);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let raw = raw_exchange(
            proxy.http,
            b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await?;
        assert_eq!(status(&raw), 200, "{path}: {raw}");
    }
    Ok(())
}

// HTTP/2 (over TLS, ALPN h2): Pingora's path whatever the fast path setting, and the same
// rules as HTTP/1.1.

/// A proxy routing everything to `upstream`, for the HTTP/2 cases.
async fn proxy_to(
    upstream: SocketAddr,
    dir: &tempfile::TempDir,
    extra: &[&str],
) -> anyhow::Result<Proxy> {
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[upstream]))?;
    let mut args = vec!["--manifests", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    Proxy::start(&args, dir.path()).await
}

#[tokio::test]
async fn http2_hop_by_hop_and_underscored_headers_are_not_forwarded() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = proxy_to(up.addr, &dir, &[]).await?;
    let reply = h2_send(
        proxy.https,
        Method::GET,
        "a.example",
        "/h",
        &[
            ("proxy-authorization", "Basic eDp5"),
            ("proxy-authenticate", "x"),
            ("trailer", "X-T"),
            ("te", "trailers"),
            ("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ("x_forwarded_for", "6.6.6.6"),
            ("content_length", "5"),
            ("x-forwarded-for", "7.7.7.7"),
            ("x-real-ip", "7.7.7.7"),
            ("x-forwarded-host", "evil.example"),
            ("x-kept", "yes"),
        ],
    )
    .await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.version, http::Version::HTTP_2);
    let seen = reply.json();
    let headers = seen["headers"].as_object().unwrap();
    for gone in [
        "proxy-authorization",
        "proxy-authenticate",
        "trailer",
        "te",
        "http2-settings",
        "x_forwarded_for",
        "content_length",
    ] {
        assert!(!headers.contains_key(gone), "{gone} forwarded: {seen}");
    }
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "{seen}");
    assert_eq!(headers["x-real-ip"], "127.0.0.1", "{seen}");
    assert_eq!(headers["x-forwarded-proto"], "https", "{seen}");
    assert_eq!(headers["x-forwarded-host"], "a.example", "{seen}");
    assert_eq!(headers["x-kept"], "yes", "{seen}");
    Ok(())
}

#[tokio::test]
async fn http2_requests_are_refused_as_http1_ones_are() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = proxy_to(up.addr, &dir, &[]).await?;
    // Paths a backend could resolve elsewhere, and heads that are not what they seem: the
    // answer HTTP/1.1 gets, on the same proxy. (What the case is, the path, extra headers.)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 7] = [
        ("a `..;` segment", "/api/..;/admin", &[]),
        ("an encoded `../`", "/api/%2e%2e%2fadmin", &[]),
        ("`..` and an encoded `/`", "/api/..%2fadmin", &[]),
        ("a `..` segment", "/api/../admin", &[]),
        ("a `.` segment", "/api/./admin", &[]),
        (
            "two Content-Lengths",
            "/x",
            &[("content-length", "0"), ("content-length", "0")],
        ),
        ("a junk Host", "/x", &[("host", "[internal.test]junk")]),
    ];
    for (case, path, headers) in cases {
        let mut head = format!("GET {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(name, _)| *name == "host") {
            head.push_str("Host: a.example\r\n");
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        let raw = raw_exchange(proxy.http, head.as_bytes()).await?;
        assert_eq!(status(&raw), 400, "HTTP/1.1, {case}: {raw}");
        let reply = h2_send(proxy.https, Method::GET, "a.example", path, headers).await?;
        assert_eq!(reply.status, 400, "HTTP/2, {case}: {reply:?}");
    }
    assert_eq!(up.requests(), 0, "a refused request reached the upstream");
    Ok(())
}

#[tokio::test]
async fn http2_an_unrequested_switch_of_protocols_is_a_502() -> anyhow::Result<()> {
    let upstream = ScriptedUpstream::start("127.0.0.2", |_: &Seen<'_>| {
        Act::ReplyAndClose(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
                .to_vec(),
        )
    })?;
    let dir = tempfile::tempdir()?;
    let proxy = proxy_to(upstream.addr, &dir, &[]).await?;
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        h2_send(proxy.https, Method::GET, "a.example", "/x", &[]),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer within 5 s"))??;
    assert_eq!(reply.status, 502, "{reply:?}");
    Ok(())
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_keepalive_timeout() -> anyhow::Result<()> {
    let up = Upstream::start("api", "127.0.0.2")?;
    let dir = tempfile::tempdir()?;
    let proxy = proxy_to(up.addr, &dir, &["--keepalive-timeout", "1s"]).await?;
    let took = h2_idle_lifetime(proxy.https, "a.example", "/x", Duration::from_secs(5)).await?;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    // A request head never finished (HEADERS without END_HEADERS, no CONTINUATION) opens no
    // stream: the connection is as idle, and closed as well.
    let mut conn = tls_connect(proxy.https, "a.example", &["h2"]).await?;
    let block = [0x82, 0x87, 0x84]; // HPACK: GET, https, /
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend([0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // SETTINGS
    hello.extend([0, 0, block.len() as u8, 0x1, 0, 0, 0, 0, 1]); // HEADERS, stream 1
    hello.extend(block);
    conn.write_all(&hello).await?;
    let started = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => anyhow::bail!("an unfinished head held the connection for 5 s"),
        }
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    // A request taking longer than the timeout is not cut off: the connection is not idle.
    let reply = h2_send(proxy.https, Method::GET, "a.example", "/slow?ms=2000", &[]).await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    Ok(())
}
