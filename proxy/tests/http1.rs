//! HTTP/1.1 on the wire: pipelining, request bodies, every way an upstream can frame (or
//! botch) a response, kept-alive upstream connections the upstream closes, and requests the
//! fast path hands to Pingora in the middle of a connection.

use std::net::SocketAddr;

use sluice_tests::client::{Http1, raw_exchange};
use sluice_tests::objects::{everything_to, write_manifest};
use sluice_tests::scripted::{self, Act, Seen, ok};
use sluice_tests::{Proxy, ScriptedUpstream, Upstream};

/// A proxy routing every request to the endpoint `upstream`.
async fn proxy_to(upstream: SocketAddr, dir: &tempfile::TempDir) -> anyhow::Result<Proxy> {
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &everything_to(&[upstream]))?;
    Proxy::start(&["--manifests", file.to_str().unwrap()], dir.path()).await
}

/// The responses in a byte stream of several, split at their status lines.
fn responses(raw: &str) -> Vec<&str> {
    raw.match_indices("HTTP/1.1 ")
        .map(|(i, _)| i)
        .chain([raw.len()])
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| &raw[w[0]..w[1]])
        .collect()
}

/// Writes one request and reads its response (which must have a Content-Length).
async fn round_trip(conn: &mut tokio::net::TcpStream, request: &[u8]) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(request).await?;
    let mut got = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Ok(text);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut chunk))
            .await??;
        anyhow::ensure!(n > 0, "the connection closed after {text:?}");
        got.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::start("up", "127.0.0.2")?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    let raw = raw_exchange(
        proxy.http,
        b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          GET /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await?;
    let answers = responses(&raw);
    assert_eq!(answers.len(), 3, "{raw}");
    assert!(answers[0].contains(r#""path":"/first""#), "{}", answers[0]);
    assert!(answers[1].ends_with("\r\n\r\nhello"), "{}", answers[1]);
    assert!(answers[2].contains(r#""path":"/third""#), "{}", answers[2]);
    assert!(
        answers[2].contains("Connection: close\r\n"),
        "{}",
        answers[2]
    );
    assert_eq!(upstream.requests(), 3);
    Ok(())
}

#[tokio::test]
async fn requests_the_fast_path_leaves_to_pingora_keep_the_connection_working() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::start("up", "127.0.0.2")?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    // A plain GET, then a chunked POST (Pingora's from here on), then another GET, one after
    // the other (Pingora does not take pipelined requests).
    let mut conn = tokio::net::TcpStream::connect(proxy.http).await?;
    let mut raw = String::new();
    for request in [
        &b"GET /before HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        raw.push_str(&round_trip(&mut conn, request).await?);
    }
    let answers = responses(&raw);
    assert_eq!(answers.len(), 3, "{raw}");
    assert!(answers[0].contains(r#""path":"/before""#), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 200"), "{}", answers[1]);
    assert!(answers[1].contains("abcdefg"), "{}", answers[1]);
    assert!(answers[2].contains(r#""path":"/after""#), "{}", answers[2]);
    // Both paths added the same forwarding headers.
    for answer in [answers[0], answers[2]] {
        assert!(answer.contains(r#""x-forwarded-proto":"http""#), "{answer}");
        assert!(
            answer.contains(r#""x-forwarded-for":"127.0.0.1""#),
            "{answer}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn response_framing_reaches_the_client_intact() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = ScriptedUpstream::start("127.0.0.2", scripted::framing)?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    let mut client = Http1::connect(proxy.http).await?;

    let reply = client.get("a", "/chunked").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello world"));
    assert_eq!(reply.headers["x-app"], "yes");
    let reply = client.get("a", "/interim").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "final"));
    let reply = client.get("a", "/hop").await?;
    assert_eq!(reply.body, "ok");
    assert!(reply.headers.get("x-hop").is_none() && reply.headers.get("keep-alive").is_none());
    let reply = client.send(http::Method::HEAD, "a", "/head", &[]).await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    let reply = client.get("a", "/plain").await?;
    assert_eq!(reply.body, "/plain");
    // One client connection, one upstream connection: every response ended where its
    // framing said, so the fast path kept both. (Pingora's path keeps them too, but its
    // upstream client sometimes opens another connection after an interim 103 or chunked
    // trailers, depending on how the bytes arrive: Pingora's reuse, not the framing.)
    if proxy.fast_path {
        assert_eq!(upstream.connections(), 1);
    }

    // Both Content-Length and Transfer-Encoding: the encoding frames the body, and the
    // length is not passed on (RFC 9112 §6.3).
    let reply = client.get("a", "/both").await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert!(
        reply.headers.get("content-length").is_none(),
        "{:?}",
        reply.headers
    );
    // Two lengths: refused, the connection closed after.
    let reply = client.get("a", "/two-lengths").await?;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.body,
        "502 Bad Gateway: the connection to shop/svc:80 failed\n"
    );
    assert!(client.get("a", "/plain").await.is_err());

    // A body delimited by the upstream closing: the client connection ends after it too.
    let raw = raw_exchange(proxy.http, b"GET /until-close HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("connection: close\r\n"),
        "{raw}"
    );
    assert!(
        raw.ends_with("until the end")
            || raw
                .to_ascii_lowercase()
                .ends_with("d\r\nuntil the end\r\n0\r\n\r\n"),
        "{raw}"
    );
    Ok(())
}

/// Answers the first request on each connection; on a kept-alive connection, reads the next
/// request and closes without answering (as a server whose keep-alive timeout just ran out).
fn one_per_connection(seen: &Seen<'_>) -> Act {
    if seen.on_connection == 0 {
        Act::Reply(ok(seen.path))
    } else {
        Act::Close
    }
}

#[tokio::test]
async fn a_closed_kept_alive_connection_is_replaced_for_idempotent_requests() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let upstream = ScriptedUpstream::start("127.0.0.2", one_per_connection)?;
    let proxy = proxy_to(upstream.addr, &dir).await?;
    let mut client = Http1::connect(proxy.http).await?;
    for i in 0..5 {
        let reply = client.get("a", &format!("/get-{i}")).await?;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
        assert_eq!(reply.body, format!("/get-{i}"));
    }
    // Each request that found its kept-alive connection closed was sent again on a new one.
    // (The fast path pools the new connection, so every request after the first finds a
    // stale one: 9 requests; Pingora pools it apart, so every other request starts on a
    // new connection: 7.)
    assert_eq!(upstream.connections(), 5);
    let sent = upstream.requests();
    assert!((7..=9).contains(&sent), "{sent} requests");

    // A POST may have been acted on: it is not sent twice. (The same client connection, so
    // the same proxy thread and its pool of upstream connections.)
    let reply = client.send(http::Method::POST, "a", "/post", &[]).await?;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(upstream.requests(), sent + 1);
    Ok(())
}
