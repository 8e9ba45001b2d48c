//! Real HTTP clients for tests: HTTP/1.1 over TCP, and HTTP/1.1 or HTTP/2 over TLS with a
//! chosen SNI, reporting what the TLS handshake negotiated.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON (what the test upstream answers).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Which test upstream answered, if one did.
    pub fn server(&self) -> Option<String> {
        let json = self.json();
        // Tests' own upstreams say `server`; Gateway API's echo server in pods says `service`.
        json["server"]
            .as_str()
            .or(json["service"].as_str())
            .map(str::to_string)
    }

    /// A header the upstream received, as it reported it.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }
}

/// What the TLS handshake settled on.
#[derive(Debug)]
pub struct TlsInfo {
    pub alpn: Option<String>,
    pub version: Option<rustls::ProtocolVersion>,
    /// The server's leaf certificate, DER.
    pub leaf: Vec<u8>,
}

fn request(
    method: Method,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Request<Empty<Bytes>>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    Ok(builder.body(Empty::new())?)
}

async fn collect(response: http::Response<hyper::body::Incoming>) -> anyhow::Result<Reply> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A keep-alive HTTP/1.1 connection.
pub struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Http1 {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    pub async fn get(&mut self, host: &str, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, host, path, &[]).await
    }

    pub async fn send(
        &mut self,
        method: Method,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(request(method, host, path, headers)?)
            .await?;
        collect(response).await
    }
}

/// One HTTP/2 connection over TLS (ALPN `h2` only), kept for many requests, as a browser
/// keeps its connection to a site. Clones share the connection: requests sent through them
/// at once are streams of it at once.
#[derive(Clone)]
pub struct Http2 {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
}

impl Http2 {
    /// Connects to `addr` with SNI `sni`; fails unless the server picks HTTP/2.
    pub async fn connect(addr: SocketAddr, sni: &str) -> anyhow::Result<Self> {
        let tls = tls_connect(addr, sni, &["h2"]).await?;
        anyhow::ensure!(
            tls.get_ref().1.alpn_protocol() == Some(b"h2"),
            "the server did not pick HTTP/2"
        );
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    pub async fn get(&mut self, host: &str, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, host, path, Vec::new()).await
    }

    pub async fn send(
        &mut self,
        method: Method,
        host: &str,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        self.send_with(method, host, path, &[], body).await
    }

    /// [`Http2::send`] with extra request headers.
    pub async fn send_with(
        &mut self,
        method: Method,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(format!("https://{host}{path}"))
            .version(Version::HTTP_2);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        collect(self.sender.send_request(request).await?).await
    }
}

/// Writes `request` (raw bytes: one request or several) on a new connection and reads
/// until the proxy closes it; the last request should ask for `Connection: close`.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await
    .context("the connection was not closed within 10 s")??;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// One HTTP/1.1 GET on a new connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> anyhow::Result<Reply> {
    Http1::connect(addr).await?.get(host, path).await
}

/// One GET with extra request headers on a new connection.
pub async fn get_with(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    Http1::connect(addr)
        .await?
        .send(Method::GET, host, path, headers)
        .await
}

/// One GET over TLS: SNI `sni` (none when empty), offering `alpn`, with TLS versions
/// `versions` (all supported when empty). HTTP/2 is used when the server picks `h2`.
pub async fn https_get(
    addr: SocketAddr,
    sni: &str,
    host: &str,
    path: &str,
    alpn: &[&str],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> anyhow::Result<(Reply, TlsInfo)> {
    let target = Target {
        sni,
        host,
        method: Method::GET,
        path,
        headers: &[],
    };
    https_send(addr, target, Bytes::new(), alpn, versions).await
}

/// One POST of `body` over TLS (HTTP/1.1, SNI localhost).
pub async fn https_post(
    addr: SocketAddr,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<(Reply, TlsInfo)> {
    https_post_with(addr, path, body, &[]).await
}

/// One POST of `body` over TLS with extra request headers.
pub async fn https_post_with(
    addr: SocketAddr,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> anyhow::Result<(Reply, TlsInfo)> {
    let target = Target {
        sni: "localhost",
        host: "localhost",
        method: Method::POST,
        path,
        headers,
    };
    https_send(addr, target, Bytes::from(body), &["http/1.1"], &[]).await
}

/// One request with extra request headers over TLS (SNI `host`) offering only ALPN `h2`;
/// fails unless the server speaks HTTP/2.
pub async fn h2_send(
    addr: SocketAddr,
    method: Method,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    let target = Target {
        sni: host,
        host,
        method,
        path,
        headers,
    };
    let (reply, tls) = https_send(addr, target, Bytes::new(), &["h2"], &[]).await?;
    anyhow::ensure!(
        tls.alpn.as_deref() == Some("h2"),
        "the server did not pick HTTP/2"
    );
    Ok(reply)
}

/// Makes one GET on a new HTTP/2 connection over TLS, then leaves the connection idle: how
/// long after the response the server ended the connection, or an error if it was still
/// open after `within`.
pub async fn h2_idle_lifetime(
    addr: SocketAddr,
    host: &str,
    path: &str,
    within: std::time::Duration,
) -> anyhow::Result<std::time::Duration> {
    let tls = tls_connect(addr, host, &["h2"]).await?;
    anyhow::ensure!(
        tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        "the server did not pick HTTP/2"
    );
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
    let mut connection = tokio::spawn(connection);
    let request = Request::get(format!("https://{host}{path}"))
        .version(Version::HTTP_2)
        .body(Empty::<Bytes>::new())?;
    collect(sender.send_request(request).await?).await?;
    let idle = std::time::Instant::now();
    let ended = tokio::time::timeout(within, &mut connection).await;
    // The sender lives until here: dropping it would end the connection from this side.
    drop(sender);
    match ended {
        Ok(_) => Ok(idle.elapsed()),
        Err(_) => {
            connection.abort();
            anyhow::bail!("the connection was still open {within:?} after its last response")
        }
    }
}

/// A TLS connection with SNI `sni` offering `alpn`, any server certificate accepted, for
/// tests that write their own frames.
pub async fn tls_connect(
    addr: SocketAddr,
    sni: &str,
    alpn: &[&str],
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    tls_over(tcp, sni, alpn).await
}

/// TLS over a connection already made (one that wrote a PROXY header first, say), with
/// SNI `sni`, offering `alpn`, accepting any certificate.
pub async fn tls_over(
    tcp: tokio::net::TcpStream,
    sni: &str,
    alpn: &[&str],
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_string())?, tcp)
        .await
        .context("TLS handshake")
}

/// What an HTTPS request is for.
struct Target<'a> {
    sni: &'a str,
    host: &'a str,
    method: Method,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
}

async fn https_send(
    addr: SocketAddr,
    target: Target<'_>,
    body: Bytes,
    alpn: &[&str],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> anyhow::Result<(Reply, TlsInfo)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = if versions.is_empty() {
        rustls::ALL_VERSIONS
    } else {
        versions
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let Target {
        sni,
        host,
        method,
        path,
        headers,
    } = target;
    config.enable_sni = !sni.is_empty();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = if sni.is_empty() {
        ServerName::try_from("ignored.invalid")?.to_owned()
    } else {
        ServerName::try_from(sni.to_string())?
    };
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector
        .connect(name, tcp)
        .await
        .context("TLS handshake")?;
    let (_, session) = tls.get_ref();
    let info = TlsInfo {
        alpn: session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        version: session.protocol_version(),
        leaf: session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default(),
    };
    let io = TokioIo::new(tls);
    let reply = if info.alpn.as_deref() == Some("h2") {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(connection);
        let mut req = Request::builder()
            .method(method)
            .uri(format!("https://{host}{path}"))
            .version(Version::HTTP_2);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body))?;
        collect(sender.send_request(req).await?).await?
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(connection);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body))?;
        collect(sender.send_request(req).await?).await?
    };
    Ok((reply, info))
}

/// Accepts any server certificate: the tests check which certificate was served by
/// comparing it with the one they generated (or are about something other than trust).
#[derive(Debug)]
pub struct AcceptAny(pub Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
