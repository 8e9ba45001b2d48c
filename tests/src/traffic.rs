//! Steady traffic while something changes underneath (a pod deleted, a rolling update, a
//! thousand route edits, the API server gone): clients of several kinds send requests one
//! after another and count every answer that is not a 200 from one of the expected backends.
//!
//! - [`Kind::NewConnections`]: HTTP/1.1, a new connection per request, as most clients of an
//!   ingress open them;
//! - [`Kind::KeepAlive`]: HTTP/1.1 on one kept-alive connection;
//! - [`Kind::Http2`]: HTTP/2 over TLS, one connection, as browsers keep theirs;
//! - [`Kind::WebSocket`]: one WebSocket on `/ws`, a message echoed at a time; a socket that
//!   closes counts as dropped.
//!
//! A client whose connection fails counts the failure and connects again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::{self, Http1, Http2, Reply};

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between one client's requests: steady load, not a flood of a 2-core machine.
const PAUSE: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    NewConnections,
    KeepAlive,
    Http2,
    WebSocket,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    /// One line per failed request: what went wrong.
    pub failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failures.extend(other.failures);
    }
}

/// Where the clients send their requests.
#[derive(Clone, Debug)]
pub struct Target {
    pub http: SocketAddr,
    /// The TLS listener, for [`Kind::Http2`]; SNI and authority are `host`.
    pub https: Option<SocketAddr>,
    pub host: String,
    pub path: String,
    /// The backends (their [`Reply::server`] names) whose answers are good.
    pub servers: Vec<String>,
}

impl Target {
    fn good(&self, reply: &Reply) -> Result<(), String> {
        match reply.server() {
            Some(s) if reply.status == 200 && self.servers.contains(&s) => Ok(()),
            _ => Err(format!("status {}: {}", reply.status, reply.body)),
        }
    }
}

/// Clients running until [`Load::stop`].
pub struct Load {
    stop: watch::Sender<bool>,
    clients: JoinSet<(Kind, Tally)>,
}

impl Load {
    /// Starts `per_kind` clients of each of `kinds` against `target`.
    pub fn start(target: &Target, kinds: &[Kind], per_kind: usize) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut clients = JoinSet::new();
        for &kind in kinds {
            for _ in 0..per_kind {
                let (target, stopped) = (target.clone(), stopped.clone());
                clients.spawn(async move { (kind, run(kind, &target, stopped).await) });
            }
        }
        Self { stop, clients }
    }

    /// Stops the clients and adds up what each kind saw.
    pub async fn stop(mut self) -> BTreeMap<Kind, Tally> {
        self.stop.send_replace(true);
        let mut total = BTreeMap::<Kind, Tally>::new();
        while let Some(result) = self.clients.join_next().await {
            match result {
                Ok((kind, tally)) => total.entry(kind).or_default().add(tally),
                Err(e) => total
                    .entry(Kind::NewConnections)
                    .or_default()
                    .failures
                    .push(format!("a client task failed: {e}")),
            }
        }
        total
    }
}

/// HTTP/1.1 clients on new connections, for the tests that need nothing else.
pub struct Traffic(Load);

impl Traffic {
    /// Starts `clients` clients asking `host` `path` at `addr`; an answer counts as good when
    /// it is a 200 from the backend `server`.
    pub fn start(addr: SocketAddr, host: &str, path: &str, server: &str, clients: usize) -> Self {
        let target = Target {
            http: addr,
            https: None,
            host: host.into(),
            path: path.into(),
            servers: vec![server.into()],
        };
        Self(Load::start(&target, &[Kind::NewConnections], clients))
    }

    pub async fn stop(self) -> Tally {
        let mut total = Tally::default();
        for tally in self.0.stop().await.into_values() {
            total.add(tally);
        }
        total
    }
}

/// One client's loop until `stopped`.
async fn run(kind: Kind, target: &Target, stopped: watch::Receiver<bool>) -> Tally {
    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    let mut client = None;
    while !*stopped.borrow() {
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, step(kind, target, &mut client))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
        match outcome {
            Ok(()) => tally.ok += 1,
            Err(e) => {
                tally.failures.push(format!(
                    "{kind:?} at {:.1} s, after {} good: {e}",
                    started.elapsed().as_secs_f64(),
                    tally.ok
                ));
                // Connect again for the next request.
                client = None;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
    tally
}

/// A client's connection, kept between its requests.
enum Connection {
    Http1(Http1),
    Http2(Http2),
    WebSocket(
        Box<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>,
        u64,
    ),
}

/// One request (or WebSocket message) of a `kind` client, on `client`'s connection.
async fn step(kind: Kind, target: &Target, client: &mut Option<Connection>) -> Result<(), String> {
    let e = |e: anyhow::Error| format!("{e:#}");
    let reply = match kind {
        Kind::NewConnections => client::get(target.http, &target.host, &target.path)
            .await
            .map_err(e)?,
        Kind::KeepAlive => {
            if client.is_none() {
                *client = Some(Connection::Http1(
                    Http1::connect(target.http).await.map_err(e)?,
                ));
            }
            let Some(Connection::Http1(c)) = client else {
                unreachable!("a keep-alive client holds an HTTP/1.1 connection")
            };
            c.get(&target.host, &target.path).await.map_err(e)?
        }
        Kind::Http2 => {
            if client.is_none() {
                let https = target.https.ok_or("no TLS listener given")?;
                *client = Some(Connection::Http2(
                    Http2::connect(https, &target.host).await.map_err(e)?,
                ));
            }
            let Some(Connection::Http2(c)) = client else {
                unreachable!("an HTTP/2 client holds an HTTP/2 connection")
            };
            c.get(&target.host, &target.path).await.map_err(e)?
        }
        Kind::WebSocket => return websocket_step(target, client).await,
    };
    target.good(&reply)
}

/// Sends the next message on the client's WebSocket (opening it first) and checks the echo.
async fn websocket_step(target: &Target, client: &mut Option<Connection>) -> Result<(), String> {
    if client.is_none() {
        let stream = tokio::net::TcpStream::connect(target.http)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let request = format!("ws://{}/ws", target.host)
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let (socket, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| format!("WebSocket handshake: {e}"))?;
        *client = Some(Connection::WebSocket(Box::new(socket), 0));
    }
    let Some(Connection::WebSocket(socket, sent)) = client else {
        unreachable!("a WebSocket client holds a WebSocket")
    };
    *sent += 1;
    let text = format!("message {sent}");
    socket
        .send(Message::text(text.clone()))
        .await
        .map_err(|e| format!("dropped while sending: {e}"))?;
    match socket.next().await {
        Some(Ok(Message::Text(reply)))
            if target
                .servers
                .iter()
                .any(|s| reply.as_str() == format!("{s}: {text}")) =>
        {
            Ok(())
        }
        Some(Ok(other)) => Err(format!("unexpected reply {other:?}")),
        Some(Err(e)) => Err(format!("dropped: {e}")),
        None => Err("dropped: the socket closed".into()),
    }
}
