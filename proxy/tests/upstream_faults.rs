//! Upstreams that fail in the middle: one that resets mid-response, one that accepts and
//! never answers, one that answers a byte at a time. The client gets an honest end (a
//! closed connection, a 502, a 504) or the whole response, never a hang, and the proxy goes
//! on serving. `make test` runs these on both HTTP/1.1 paths.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sluice_tests::client::get;
use sluice_tests::objects::{everything_to, write_manifest};
use sluice_tests::scripted::{Act, Seen};
use sluice_tests::{Proxy, ScriptedUpstream};

const BODY: &str = "0123456789abcdefghij";

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn faulty(seen: &Seen<'_>) -> Act {
    match seen.path {
        // Promises 100,000 bytes, sends 1,000, then resets.
        "/reset" => {
            let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
            bytes.extend([b'x'; 1000]);
            Act::ReplyAndReset(bytes)
        }
        "/reset-before-answering" => Act::ReplyAndReset(Vec::new()),
        "/hang" => Act::Hang,
        "/trickle" => Act::Trickle(ok(BODY), Duration::from_millis(50)),
        "/trickle-too-slow" => Act::Trickle(ok(BODY), Duration::from_millis(1500)),
        _ => Act::Reply(ok("fine")),
    }
}

/// A proxy with a 1 s upstream read timeout, routing everything to `upstream`.
async fn proxy_to(upstream: SocketAddr, dir: &tempfile::TempDir) -> anyhow::Result<Proxy> {
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[upstream]))?;
    Proxy::start(
        &[
            "--manifests",
            file.to_str().unwrap_or_default(),
            "--read-timeout",
            "1s",
        ],
        dir.path(),
    )
    .await
}

/// Sends a kept-alive GET for `path` and reads until the proxy closes the connection.
async fn read_until_closed(proxy: &Proxy, path: &str) -> anyhow::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(proxy.http).await?;
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: faults.test\r\n\r\n").as_bytes())
        .await?;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 8192];
        loop {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    anyhow::ensure!(
        read.is_ok(),
        "{path}: the connection was still open after 10 s, having received {} bytes",
        got.len()
    );
    Ok(got)
}

#[tokio::test]
async fn an_upstream_reset_mid_response_closes_the_client_connection() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = ScriptedUpstream::start("127.0.0.2", faulty)?;
    let proxy = proxy_to(upstream.addr, &dir).await?;

    // The head was already sent: the client sees it, part of the body, then the end of the
    // connection, so it knows the body is short.
    let got = read_until_closed(&proxy, "/reset").await?;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text:.200}");
    let body = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |end| got.len() - end - 4);
    assert!(
        body < 100_000,
        "a whole body from an upstream that reset after 1,000 bytes"
    );

    // Reset before any byte of an answer: 502.
    let reply = get(proxy.http, "faults.test", "/reset-before-answering").await?;
    assert_eq!(reply.status, 502, "{}", reply.body);

    let reply = get(proxy.http, "faults.test", "/ok").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "fine"));
    Ok(())
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_504_after_the_read_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = ScriptedUpstream::start("127.0.0.2", faulty)?;
    let proxy = proxy_to(upstream.addr, &dir).await?;

    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        get(proxy.http, "faults.test", "/hang"),
    )
    .await??;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "504 before the 1 s read timeout"
    );
    let reply = get(proxy.http, "faults.test", "/ok").await?;
    assert_eq!(reply.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_slow_upstream_is_waited_for_while_each_byte_comes_within_the_read_timeout()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = ScriptedUpstream::start("127.0.0.2", faulty)?;
    let proxy = proxy_to(upstream.addr, &dir).await?;

    // ~2.3 s for the whole response, 50 ms between bytes: the read timeout (1 s) is between
    // two reads, as nginx's proxy_read_timeout, so the answer comes whole.
    let started = Instant::now();
    let reply = get(proxy.http, "faults.test", "/trickle").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, BODY));
    assert!(started.elapsed() > Duration::from_secs(1));

    // 1.5 s between bytes of the head: 504.
    let reply = get(proxy.http, "faults.test", "/trickle-too-slow").await?;
    assert_eq!(reply.status, 504, "{}", reply.body);
    Ok(())
}
