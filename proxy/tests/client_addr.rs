//! The client's address through a real proxy, on both HTTP/1.1 paths (`make test`) and
//! HTTP/2 over TLS:
//! - the PROXY protocol (`--proxy-protocol`), v1 and v2, before plain HTTP and before the
//!   TLS ClientHello: what the backend is told (`X-Forwarded-For`, `X-Real-IP`), whom an
//!   allowlist lets through, and that a connection without a header is closed;
//! - trusted proxies' headers (`--trusted-proxies`, `--real-ip-header`).
//!
//! Every connection comes from loopback; the addresses a PROXY header or a forwarded
//! header claims are other 127.x addresses, so only the proxy's reading of them can make
//! the backend see them.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use ppp::v2;
use serde_json::{Value, json};
use sluice_tests::client::tls_over;
use sluice_tests::objects::{
    annotated_ingress, certificate, service_with_endpoints, tls_secret, write_manifest,
};
use sluice_tests::{Proxy, Upstream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The one client address the allowlisted host admits.
const ADMITTED: &str = "127.0.0.55";
/// Another client.
const OTHER: &str = "127.0.0.66";

/// A proxy with `args` routing `open.test` (no rule on clients) and `allowed.test` (only
/// [`ADMITTED`]) to `web`, both with a certificate, plain HTTP not redirected.
async fn serve(dir: &tempfile::TempDir, web: &Upstream, args: &[&str]) -> anyhow::Result<Proxy> {
    let hosts = ["open.test", "allowed.test"];
    let (cert, key, _) = certificate(&hosts)?;
    let mut objects = vec![tls_secret("shop", "tls", &cert, &key)];
    objects.push(annotated_ingress("open", "open.test", json!({})));
    objects.push(annotated_ingress(
        "allowed",
        "allowed.test",
        json!({ "nginx.ingress.kubernetes.io/allowlist-source-range": format!("{ADMITTED}/32") }),
    ));
    objects.extend(service_with_endpoints("shop", "web", 80, &[web.addr]));
    let file = dir.path().join("objects.yaml");
    write_manifest(&file, &objects)?;
    let mut all = vec![
        "--manifests",
        file.to_str().unwrap_or_default(),
        "--no-ssl-redirect",
    ];
    all.extend_from_slice(args);
    Proxy::start(&all, dir.path()).await
}

/// A PROXY header, as a load balancer writes it.
#[derive(Clone, Copy, Debug)]
enum Header {
    V1(&'static str),
    V2(&'static str),
    /// v2 `LOCAL`: the load balancer's own connection.
    Local,
}

impl Header {
    fn bytes(self, to: SocketAddr) -> anyhow::Result<Vec<u8>> {
        let source =
            |ip: &str| -> anyhow::Result<SocketAddr> { Ok(format!("{ip}:40000").parse()?) };
        Ok(match self {
            Self::V1(ip) => {
                format!("PROXY TCP4 {ip} {} 40000 {}\r\n", to.ip(), to.port()).into_bytes()
            }
            Self::V2(ip) => v2::Builder::with_addresses(
                v2::Version::Two | v2::Command::Proxy,
                v2::Protocol::Stream,
                (source(ip)?, to),
            )
            .build()?,
            Self::Local => v2::Builder::with_addresses(
                v2::Version::Two | v2::Command::Local,
                v2::Protocol::Stream,
                v2::Addresses::Unspecified,
            )
            .build()?,
        })
    }
}

/// A response as the test reads it: the status, and what the backend said it got.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        let json: Value = serde_json::from_str(&self.body).ok()?;
        json["headers"][name].as_str().map(str::to_string)
    }
}

/// A TCP connection to `to` from `from` (a loopback address), with `header` written first.
async fn connect(from: &str, to: SocketAddr, header: Option<Header>) -> anyhow::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse()?)?;
    let mut stream = socket
        .connect(to)
        .await
        .with_context(|| format!("connecting to {to}"))?;
    if let Some(header) = header {
        stream.write_all(&header.bytes(to)?).await?;
    }
    Ok(stream)
}

/// One HTTP/1.1 GET of `host` with `headers` on `stream`, asking to close; the proxy's
/// whole answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Answer> {
    let mut request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .context("the proxy did not close the connection within 10 s")??;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok(Answer { status, body })
}

/// GET over plain HTTP/1.1 from `from`, after `header`.
async fn plain(
    proxy: &Proxy,
    from: &str,
    header: Option<Header>,
    host: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Answer> {
    exchange(connect(from, proxy.http, header).await?, host, headers).await
}

/// TLS with SNI `host` offering `alpn` over a connection that wrote `header` first.
async fn tls(
    proxy: &Proxy,
    header: Option<Header>,
    host: &str,
    alpn: &str,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = connect("127.0.0.1", proxy.https, header).await?;
    tls_over(tcp, host, &[alpn]).await
}

/// GET over HTTPS (HTTP/1.1) after `header`.
async fn https(proxy: &Proxy, header: Option<Header>, host: &str) -> anyhow::Result<Answer> {
    exchange(tls(proxy, header, host, "http/1.1").await?, host, &[]).await
}

/// GET over HTTP/2 (TLS) after `header`.
async fn h2(proxy: &Proxy, header: Header, host: &str) -> anyhow::Result<Answer> {
    use http_body_util::{BodyExt, Empty};
    let stream = tls(proxy, Some(header), host, "h2").await?;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(connection);
    let request = http::Request::get(format!("https://{host}/"))
        .version(http::Version::HTTP_2)
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The client address the backend was told, checked to be the same in both headers.
fn told(answer: &Answer) -> Option<String> {
    let real_ip = answer.header("x-real-ip");
    assert_eq!(answer.header("x-forwarded-for"), real_ip, "{}", answer.body);
    real_ip
}

#[tokio::test]
async fn the_proxy_protocol_address_is_the_client_on_every_listener() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(&dir, &web, &["--proxy-protocol"]).await?;

    for header in [Header::V1(ADMITTED), Header::V2(ADMITTED)] {
        let answer = plain(&proxy, "127.0.0.1", Some(header), "open.test", &[]).await?;
        assert_eq!(answer.status, 200, "{header:?}: {}", answer.body);
        assert_eq!(told(&answer).as_deref(), Some(ADMITTED), "{header:?}");
        let answer = https(&proxy, Some(header), "open.test").await?;
        assert_eq!(answer.status, 200, "TLS {header:?}: {}", answer.body);
        assert_eq!(told(&answer).as_deref(), Some(ADMITTED), "TLS {header:?}");
        let answer = h2(&proxy, header, "open.test").await?;
        assert_eq!(answer.status, 200, "HTTP/2 {header:?}: {}", answer.body);
        assert_eq!(
            told(&answer).as_deref(),
            Some(ADMITTED),
            "HTTP/2 {header:?}"
        );
    }
    // LOCAL: no client address in the header; the connection's own stands.
    let answer = plain(&proxy, "127.0.0.1", Some(Header::Local), "open.test", &[]).await?;
    assert_eq!(told(&answer).as_deref(), Some("127.0.0.1"));
    let answer = https(&proxy, Some(Header::Local), "open.test").await?;
    assert_eq!(told(&answer).as_deref(), Some("127.0.0.1"));
    assert_eq!(
        proxy
            .metric("sluice_proxy_proxy_protocol_refused_total")
            .await?,
        0.0
    );
    Ok(())
}

#[tokio::test]
async fn allowlists_judge_the_proxy_protocol_address() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(&dir, &web, &["--proxy-protocol"]).await?;

    // The connection always comes from 127.0.0.1: only the header decides.
    for (claimed, status) in [(ADMITTED, 200), (OTHER, 403)] {
        for header in [Header::V1(claimed), Header::V2(claimed)] {
            let answer = plain(&proxy, "127.0.0.1", Some(header), "allowed.test", &[]).await?;
            assert_eq!(answer.status, status, "{header:?}: {}", answer.body);
            let answer = https(&proxy, Some(header), "allowed.test").await?;
            assert_eq!(answer.status, status, "TLS {header:?}: {}", answer.body);
            let answer = h2(&proxy, header, "allowed.test").await?;
            assert_eq!(answer.status, status, "HTTP/2 {header:?}: {}", answer.body);
        }
    }
    assert_eq!(web.requests(), 6);
    Ok(())
}

#[tokio::test]
async fn a_connection_without_a_proxy_header_is_closed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(
        &dir,
        &web,
        &["--proxy-protocol", "--client-header-timeout", "1s"],
    )
    .await?;

    // A request where the header should be: closed without an answer.
    let mut stream = connect("127.0.0.1", proxy.http, None).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: open.test\r\n\r\n")
        .await?;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .context("not closed")??;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // A TLS handshake where the header should be.
    assert!(https(&proxy, None, "open.test").await.is_err());
    // Half a header, then nothing: closed after the client header timeout.
    let mut stream = connect("127.0.0.1", proxy.http, None).await?;
    stream.write_all(b"PROXY TCP4 127.0.0.55 ").await?;
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .context("not closed after the header timeout")??;
    assert!(got.is_empty() && started.elapsed() >= Duration::from_millis(900));
    // A bad v1 line.
    let mut stream = connect("127.0.0.1", proxy.http, None).await?;
    stream
        .write_all(
            b"PROXY TCP4 127.0.0.555 127.0.0.1 1 80\r\nGET / HTTP/1.1\r\nHost: open.test\r\n\r\n",
        )
        .await?;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .context("not closed")??;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));

    assert_eq!(web.requests(), 0);
    assert_eq!(
        proxy
            .metric("sluice_proxy_proxy_protocol_refused_total")
            .await?,
        4.0
    );
    // The proxy still serves clients that send one.
    let answer = plain(
        &proxy,
        "127.0.0.1",
        Some(Header::V1(ADMITTED)),
        "open.test",
        &[],
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Ok(())
}

#[tokio::test]
async fn an_untrusted_peer_cannot_say_who_the_client_is() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(&dir, &web, &["--trusted-proxies", "127.0.0.9/32"]).await?;
    let forged = [
        ("X-Forwarded-For", ADMITTED),
        ("Forwarded", "for=127.0.0.55"),
    ];
    let answer = plain(&proxy, "127.0.0.3", None, "open.test", &forged).await?;
    assert_eq!(
        told(&answer).as_deref(),
        Some("127.0.0.3"),
        "{}",
        answer.body
    );
    let answer = plain(&proxy, "127.0.0.3", None, "allowed.test", &forged).await?;
    assert_eq!(answer.status, 403, "{}", answer.body);
    Ok(())
}

#[tokio::test]
async fn a_trusted_peer_says_who_the_client_is() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(
        &dir,
        &web,
        &["--trusted-proxies", "127.0.0.9/32,127.0.0.10"],
    )
    .await?;

    // The CDN edge (127.0.0.10) appended the client; the load balancer (127.0.0.9, the
    // peer) appended nothing here. The first entry is the client's own forgery.
    let chain = [("X-Forwarded-For", "127.0.0.66, 127.0.0.55, 127.0.0.10")];
    let answer = plain(&proxy, "127.0.0.9", None, "open.test", &chain).await?;
    assert_eq!(told(&answer).as_deref(), Some(ADMITTED), "{}", answer.body);
    let answer = plain(&proxy, "127.0.0.9", None, "allowed.test", &chain).await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let other = [("X-Forwarded-For", "127.0.0.66")];
    let answer = plain(&proxy, "127.0.0.9", None, "allowed.test", &other).await?;
    assert_eq!(answer.status, 403, "{}", answer.body);
    // A bad entry stops the walk at the last trusted address.
    let bad = [("X-Forwarded-For", "127.0.0.55, nonsense, 127.0.0.10")];
    let answer = plain(&proxy, "127.0.0.9", None, "open.test", &bad).await?;
    assert_eq!(
        told(&answer).as_deref(),
        Some("127.0.0.10"),
        "{}",
        answer.body
    );
    // Forwarded is not read unless it is the header.
    let forwarded = [("Forwarded", "for=127.0.0.55")];
    let answer = plain(&proxy, "127.0.0.9", None, "open.test", &forwarded).await?;
    assert_eq!(
        told(&answer).as_deref(),
        Some("127.0.0.9"),
        "{}",
        answer.body
    );
    Ok(())
}

#[tokio::test]
async fn forwarded_for_behind_the_proxy_protocol() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = Upstream::start("web", "127.0.0.2")?;
    let proxy = serve(
        &dir,
        &web,
        &[
            "--proxy-protocol",
            "--trusted-proxies",
            "127.0.0.9",
            "--real-ip-header",
            "forwarded",
        ],
    )
    .await?;
    // The load balancer's PROXY header names the CDN edge (trusted), whose Forwarded
    // header names the client.
    let forwarded = [("Forwarded", r#"for="127.0.0.55:4711";proto=https"#)];
    let from_edge = Some(Header::V1("127.0.0.9"));
    let answer = plain(&proxy, "127.0.0.1", from_edge, "allowed.test", &forwarded).await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(told(&answer).as_deref(), Some(ADMITTED), "{}", answer.body);
    // From an address the header does not make trusted, Forwarded is not believed.
    let from_other = Some(Header::V2(OTHER));
    let answer = plain(&proxy, "127.0.0.1", from_other, "allowed.test", &forwarded).await?;
    assert_eq!(answer.status, 403, "{}", answer.body);
    Ok(())
}
