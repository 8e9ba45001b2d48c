//! A real upstream HTTP server on a loopback address, or inside a test's own network
//! namespace (`crate::netns`), for tests to route to.
//!
//! Every response is JSON describing the request it received (which server, path, query,
//! headers, HTTP version, whether over TLS), so a test can see where the proxy sent a request
//! and what it added. It speaks HTTP/1.1 and HTTP/2 in the clear, or over TLS with a
//! self-signed certificate, or HTTP/2 only in the clear (h2c, as gRPC backends do)
//! ([`Transport`]). `/slow?ms=N` answers
//! after N ms; `/body` answers with the request body; `/ws` is a WebSocket echo; `/auth`
//! decides as an external auth service would ([`auth`]); `/status/<code>` answers with that
//! status, and so does any request with an `X-Code` header (as error-page backends do).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use nix::sched::{CloneFlags, setns};
use serde::Deserialize;
use serde_json::json;

use crate::netns::BackendNetwork;

/// A running upstream; stopped when dropped.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct Shared {
    name: String,
    requests: Arc<AtomicUsize>,
    tls: bool,
}

/// How an upstream takes connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 (and HTTP/2 with prior knowledge), in the clear.
    Plain,
    /// TLS with a self-signed certificate, HTTP/1.1 or HTTP/2 by ALPN.
    Tls,
    /// HTTP/2 only, in the clear (h2c).
    H2c,
}

impl Upstream {
    /// Starts an upstream named `name` on `ip` (e.g. 127.0.0.2) and a free port.
    pub fn start(name: &str, ip: &str) -> anyhow::Result<Self> {
        Self::start_with(name, ip, Transport::Plain)
    }

    /// [`Upstream::start`] taking connections as `transport` says.
    pub fn start_with(name: &str, ip: &str, transport: Transport) -> anyhow::Result<Self> {
        let ip: IpAddr = ip.parse()?;
        let listener = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
        Self::serve_with(name, listener, transport)
    }

    /// Starts an upstream named `name` inside `network`, on its address and a free port.
    pub fn start_in(network: &BackendNetwork, name: &str) -> anyhow::Result<Self> {
        let namespace = std::fs::File::open(network.path())
            .with_context(|| format!("opening {}", network.path().display()))?;
        let addr = SocketAddr::new(network.ip.into(), 0);
        // A socket belongs to the namespace of the thread that creates it, and so do the
        // connections it accepts; a throwaway thread enters the namespace, so no other
        // thread (and not the serving one) ever leaves this one.
        let listener = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || -> anyhow::Result<std::net::TcpListener> {
                setns(namespace, CloneFlags::CLONE_NEWNET).context("entering the namespace")?;
                Ok(std::net::TcpListener::bind(addr)?)
            })?
            .join()
            .map_err(|_| anyhow::anyhow!("the thread binding {addr} panicked"))?
            .with_context(|| format!("listening on {addr} in namespace {}", network.name))?;
        Self::serve(name, listener)
    }

    /// Serves on `listener` from a thread of its own.
    fn serve(name: &str, listener: std::net::TcpListener) -> anyhow::Result<Self> {
        Self::serve_with(name, listener, Transport::Plain)
    }

    fn serve_with(
        name: &str,
        listener: std::net::TcpListener,
        transport: Transport,
    ) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            name: name.to_string(),
            requests: requests.clone(),
            tls: transport == Transport::Tls,
        };
        let acceptor = match transport {
            Transport::Tls => Some(tls_acceptor()?),
            _ => None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Its own thread and runtime, so a test that blocks cannot starve it.
        let thread = std::thread::Builder::new()
            .name(format!("upstream-{name}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the upstream");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let app = Router::new()
                        .route("/ws", get(websocket))
                        .route("/slow", any(slow))
                        .route("/body", any(body))
                        .route("/auth", any(auth))
                        .fallback(echo)
                        .with_state(shared);
                    if transport == Transport::Plain {
                        let _ = axum::serve(listener, app)
                            .with_graceful_shutdown(async {
                                let _ = stopped.await;
                            })
                            .await;
                        return;
                    }
                    let accepting = accept_loop(listener, app, transport, acceptor);
                    tokio::select! {
                        _ = accepting => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            name: name.to_string(),
            addr,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves each connection `listener` accepts with `app`: over TLS (`acceptor`), or HTTP/2
/// only in the clear.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    transport: Transport,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    while let Ok((tcp, _)) = listener.accept().await {
        let (service, acceptor) = (TowerToHyperService::new(app.clone()), acceptor.clone());
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            match (transport, acceptor) {
                (Transport::Tls, Some(acceptor)) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await;
                    }
                }
                _ => {
                    let _ = builder
                        .http2_only()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                }
            }
        });
    }
}

/// A TLS acceptor with a fresh self-signed certificate, offering HTTP/2 and HTTP/1.1.
fn tls_acceptor() -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(vec!["upstream.test".to_string()])?.self_signed(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn describe(shared: &Shared, uri: &Uri, headers: &HeaderMap, version: Version) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let header_values: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<binary>").to_string()))
        .collect();
    // Every value of a header that came more than once, in order ("headers" keeps the last).
    let mut repeated: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in headers.keys() {
        let values = headers.get_all(name);
        if values.iter().nth(1).is_some() {
            repeated.insert(
                name.to_string(),
                values
                    .iter()
                    .map(|v| v.to_str().unwrap_or("<binary>").to_string())
                    .collect(),
            );
        }
    }
    axum::Json(json!({
        "server": shared.name,
        "path": uri.path(),
        "query": uri.query(),
        "headers": header_values,
        "repeated": repeated,
        "version": format!("{version:?}"),
        "tls": shared.tls,
    }))
    .into_response()
}

/// The description, with the status a request asks for: `/status/<code>` (a backend that
/// errs), or an `X-Code` header (as ingress-nginx's error backends answer).
async fn echo(
    State(shared): State<Shared>,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let asked = uri
        .path()
        .strip_prefix("/status/")
        .or_else(|| headers.get("x-code").and_then(|v| v.to_str().ok()))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| axum::http::StatusCode::from_u16(code).ok());
    let mut response = describe(&shared, &uri, &headers, version);
    if let Some(status) = asked {
        *response.status_mut() = status;
    }
    response
}

#[derive(Deserialize)]
struct SlowParams {
    ms: u64,
}

async fn slow(
    State(shared): State<Shared>,
    Query(params): Query<SlowParams>,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    tokio::time::sleep(Duration::from_millis(params.ms)).await;
    describe(&shared, &uri, &headers, version)
}

/// An auth service: the request's `x-test-auth` header says what to answer. `allow`: 200
/// with `X-User: alice`, a cookie, and what the request said of the original in `X-Seen-*`
/// headers (for the backend to show); `forbid`: 403; `fail`: 502; none: 401 with a
/// challenge.
async fn auth(
    State(shared): State<Shared>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let said = headers.get("x-test-auth").and_then(|v| v.to_str().ok());
    let status = match said.unwrap_or_default() {
        "allow" => 200,
        "forbid" => 403,
        "fail" => 502,
        _ => 401,
    };
    let mut response = axum::http::Response::builder()
        .status(status)
        .header("set-cookie", "auth-session=1; Path=/");
    if status == 200 {
        response = response
            .header("x-user", "alice")
            .header("x-seen-method", method.as_str());
        for (seen, name) in [
            ("x-seen-original-url", "x-original-url"),
            ("x-seen-original-method", "x-original-method"),
            ("x-seen-host", "host"),
            ("x-seen-body-length", "content-length"),
        ] {
            if let Some(value) = headers.get(name) {
                response = response.header(seen, value);
            }
        }
    }
    if status == 401 {
        response = response.header("www-authenticate", "Bearer realm=\"test\"");
    }
    response
        .body(axum::body::Body::from("decided"))
        .unwrap_or_default()
}

async fn body(State(shared): State<Shared>, body: axum::body::Bytes) -> axum::body::Bytes {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    body
}

async fn websocket(State(shared): State<Shared>, upgrade: WebSocketUpgrade) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let name = shared.name.clone();
    upgrade.on_upgrade(move |mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            let reply = match message {
                Message::Text(t) => Message::Text(format!("{name}: {}", t.as_str()).into()),
                Message::Binary(b) => Message::Binary(b),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}
