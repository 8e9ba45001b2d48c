//! One client connection on the fast path: read a request, answer it or proxy it, repeat.
//! One HTTP/2 stream is served the same way, as a connection of one request
//! ([`Connection::for_h2_stream`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{Shutdown, SocketDigest, Stream};
use pingora::server::ShutdownWatch;
use pingora_timeout::timeout;
use sluice_crds::annotations::DEFAULT_SEND_TIMEOUT;
use sluice_crds::ingress::normalize_request_host;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::Body;
use super::client::{Client, H1, H2Stream, Head};
use super::lookup::route_for;
use super::request::{self, Forwarded, Forwarding, Parsed, RequestHead};
use super::response::{self, Framing, Kept, ResponseHead};
use super::{FastPath, pool};
use crate::routes::{HeaderEdits, Route};
use crate::serve::access_log::Exchange;
use crate::serve::answers::{self, Answer, Failure, Routed};
use crate::serve::client_addr::client_address;
use crate::serve::outcome::{Finished, InFlight, finish};
use crate::serve::tls::{ClientSni, is_tls12};
use crate::serve::trace::{self, RequestTrace};

/// Reads are at least this large.
const READ_SIZE: usize = 16 * 1024;

pub struct Connection<'a, C = H1> {
    app: &'a FastPath,
    /// Where responses go.
    downstream: C,
    shutdown: ShutdownWatch,
    /// Bytes read from the client and not yet handled.
    buf: BytesMut,
    /// Bytes read from the upstream and not yet passed on.
    up: BytesMut,
    /// A chunked body's data, for clients that frame bodies themselves.
    data: Vec<u8>,
    /// The head being written (upstream request or client response).
    out: Vec<u8>,
    forward: Vec<Forwarded>,
    kept: Vec<Kept>,
    /// Headers the client's response gets besides the kept ones: the route's CORS and custom headers.
    extra: Vec<(&'static str, String)>,
    /// The route's edits of the response's headers.
    response_edits: Option<std::sync::Arc<HeaderEdits>>,
    tried: Vec<SocketAddr>,
    client: Option<SocketAddr>,
    client_ip: Option<String>,
    tls: bool,
    tls12_refused: bool,
    /// The TLS server name the client asked for, lower-cased.
    sni: Option<String>,
    /// The port the connection came in on: which table its requests are looked up in.
    local_port: Option<u16>,
}

/// What a plain HTTP/2 connection starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection this path leaves to Pingora.
pub enum Leaving {
    /// For one request: the bytes read of it (for Pingora to parse) and those read after
    /// its end, when its end is known (pipelined requests, for this path again).
    Request(Stream, BytesMut, BytesMut),
    /// For good, HTTP/2 with prior knowledge: with the bytes read.
    H2c(Stream, BytesMut),
}

/// What came of a request for the client connection.
enum Next {
    /// Ready for the next request.
    KeepOpen,
    Close,
}

/// The end of a proxied request.
struct Proxied {
    status: u16,
    /// The upstream's status, and the time from sending it the request to its response's end.
    upstream: (u16, Duration),
    /// Body bytes passed to the client.
    body_bytes: u64,
    /// Whether the client connection may carry another request.
    next: Next,
    /// What went wrong after the response had started, if anything.
    error: Option<String>,
}

/// A failed attempt, before any of the response reached the client.
enum AttemptError {
    /// A kept-alive connection was closed by the upstream before it answered.
    Stale,
    Failed(Failure, String),
}

impl<'a> Connection<'a, H2Stream> {
    /// One HTTP/2 stream, whose request is `head` as HTTP/1.1 would send it, parsed into
    /// `forward`.
    pub fn for_h2_stream(
        app: &'a FastPath,
        stream: H2Stream,
        shutdown: &ShutdownWatch,
        (head, forward): (BytesMut, Vec<Forwarded>),
    ) -> Self {
        let digest = stream.0.digest();
        let ssl = digest.and_then(|d| d.ssl_digest.clone());
        let socket = digest.and_then(|d| d.socket_digest.clone());
        let mut conn = Self::with_client(app, stream, (ssl, socket), shutdown, head);
        conn.forward = forward;
        conn
    }

    /// Serves the one request, `head` its parse and `route` what it matches.
    pub async fn serve_one(mut self, head: &RequestHead, route: Option<Arc<Route>>) {
        let buf = std::mem::take(&mut self.buf);
        self.handle(&buf, head, route).await;
    }
}

impl<'a, C: Client> Connection<'a, C> {
    fn with_client(
        app: &'a FastPath,
        client: C,
        (ssl, socket): (Option<Arc<SslDigest>>, Option<Arc<SocketDigest>>),
        shutdown: &ShutdownWatch,
        buf: BytesMut,
    ) -> Self {
        let client_addr = socket
            .as_ref()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        let local_port = socket
            .as_ref()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).map(|a| a.port()));
        Self {
            app,
            local_port,
            tls: ssl.is_some(),
            tls12_refused: app.options.require_tls13
                && ssl.as_ref().is_some_and(|s| is_tls12(&s.version)),
            sni: ssl
                .as_ref()
                .and_then(|s| s.extension.get::<ClientSni>())
                .map(|sni| sni.0.clone()),
            downstream: client,
            shutdown: shutdown.clone(),
            buf,
            up: BytesMut::new(),
            data: Vec::new(),
            out: Vec::with_capacity(1024),
            forward: Vec::new(),
            kept: Vec::new(),
            extra: Vec::new(),
            response_edits: None,
            tried: Vec::new(),
            client: client_addr,
            client_ip: client_addr.map(|a| a.ip().to_string()),
        }
    }
}

impl<'a> Connection<'a> {
    /// `read`: bytes already read from the connection (pipelined requests).
    pub fn new(
        app: &'a FastPath,
        stream: Stream,
        shutdown: &ShutdownWatch,
        read: BytesMut,
    ) -> Self {
        let (ssl, socket) = (stream.get_ssl_digest(), stream.get_socket_digest());
        let buf = if read.is_empty() {
            BytesMut::with_capacity(READ_SIZE)
        } else {
            read
        };
        Self::with_client(app, H1(stream), (ssl, socket), shutdown, buf)
    }
    /// Serves requests until the connection ends (`None`), or until a request or the
    /// connection is Pingora's ([`Leaving`]).
    pub async fn serve(mut self) -> Option<Leaving> {
        loop {
            let head = match self.read_request().await {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(Leave::Pingora(end)) => {
                    let rest = end.map_or_else(BytesMut::new, |end| self.buf.split_off(end));
                    return Some(Leaving::Request(self.downstream.0, self.buf, rest));
                }
                Err(Leave::H2c) => return Some(Leaving::H2c(self.downstream.0, self.buf)),
                Err(Leave::Refuse(why)) => {
                    self.refuse(why).await;
                    break;
                }
            };
            // One lookup per request. A route only Pingora's path serves goes there with the
            // request ([`Route::needs_pingora`]).
            let route = route_for(self.app, self.local_port, &self.buf, &head);
            if route.as_ref().is_some_and(|r| r.needs_pingora(self.tls)) {
                let rest = self.buf.split_off(head.total_len());
                return Some(Leaving::Request(self.downstream.0, self.buf, rest));
            }
            let buf = std::mem::take(&mut self.buf);
            let next = self.handle(&buf, &head, route).await;
            self.buf = buf;
            self.buf.advance(head.total_len());
            if matches!(next, Next::Close) {
                break;
            }
        }
        Shutdown::shutdown(&mut *self.downstream.0).await;
        None
    }

    /// The next request, whole; `None` when the connection should end (closed by the
    /// client, idle too long, its head too slow, shutting down, or cut off mid-request).
    async fn read_request(&mut self) -> Result<Option<RequestHead>, Leave> {
        let timeouts = &self.app.options.client;
        // Idle until the first byte of the next request; then the whole head (and a small
        // body read with it) has its own deadline, however it trickles in.
        let mut deadline = (!self.buf.is_empty()).then(|| Instant::now() + timeouts.header);
        loop {
            if !self.buf.is_empty()
                && !self.tls
                && H2_PREFACE.starts_with(&self.buf[..self.buf.len().min(H2_PREFACE.len())])
            {
                // HTTP/2's preface (RFC 9113 §3.4), or the start of it.
                if self.buf.len() >= H2_PREFACE.len() {
                    return Err(Leave::H2c);
                }
            } else if !self.buf.is_empty() {
                match request::parse(&self.buf, &mut self.forward) {
                    Parsed::Head(head) if !self.app.options.fast_path => {
                        return Err(Leave::Pingora(Some(head.total_len())));
                    }
                    Parsed::Head(head) => return Ok(Some(head)),
                    Parsed::Pingora => return Err(Leave::Pingora(None)),
                    Parsed::Malformed(why) => return Err(Leave::Refuse(why)),
                    Parsed::Partial => {}
                }
            } else if *self.shutdown.borrow() {
                return Ok(None);
            }
            self.buf.reserve(READ_SIZE);
            // An idle connection is not woken when shutdown begins (waiting for that costs
            // every request a registration): it is closed at its next request boundary, or
            // when the process exits after the last request in flight.
            let wait = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => timeouts.keepalive,
            };
            match timeout(wait, self.downstream.0.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    deadline.get_or_insert_with(|| Instant::now() + timeouts.header);
                }
                _ => return Ok(None),
            }
        }
    }
}

impl<C: Client> Connection<'_, C> {
    /// Serves one request; `route` is what it matches.
    async fn handle(
        &mut self,
        buf: &[u8],
        head: &RequestHead,
        route: Option<std::sync::Arc<Route>>,
    ) -> Next {
        let started = Instant::now();
        let app = self.app;
        let _in_flight = InFlight::start(&app.state);
        let (method, path) = (head.method(buf), head.path(buf));
        let origin = head.origin.map(|o| o.str(buf));
        let host = normalize_request_host(head.host.str(buf));
        let client = self.request_client(buf, head);
        self.tried.clear();

        let misdirected = self.sni.as_deref().is_some_and(|sni| {
            app.state
                .tables()
                .for_port(self.local_port)
                .tls
                .misdirected(sni, &host)
        });
        let (route, mut trace, decided) =
            match answers::refusal(self.tls12_refused, misdirected, path) {
                Some(answer) => (None, None, Err(answer)),
                None => {
                    let trace = app.options.tracing.as_ref().map(|tracing| {
                        let parent = head.traceparent.map_or_else(Default::default, |tp| {
                            sluice_common::telemetry::extract_values(
                                tp.str(buf),
                                head.tracestate.map(|s| s.str(buf)),
                            )
                        });
                        let start = trace::Start {
                            method,
                            path,
                            version: C::VERSION,
                            tls: self.tls,
                        };
                        let trace = RequestTrace::start(tracing, parent, &start, || {
                            let peer = self.client;
                            (
                                host.clone(),
                                peer.zip(client)
                                    .map(|(p, ip)| SocketAddr::new(ip, p.port())),
                            )
                        });
                        if let Some(route) = &route {
                            trace.matched(route, method);
                        }
                        trace
                    });
                    let decided = answers::for_route(&Routed {
                        route: route.as_ref(),
                        // Routes with a canary are Pingora's to serve.
                        canary: false,
                        method,
                        origin,
                        cors_request_method: head.cors_request_method.map(|s| s.str(buf)),
                        cors_request_headers: head.cors_request_headers.map(|s| s.str(buf)),
                        host: &host,
                        path,
                        path_and_query: head.path_and_query(buf),
                        tls: self.tls,
                        https_port: app.options.https_redirect_port,
                        client,
                        body_length: Some(head.body_len as u64),
                        max_body_size: app.options.max_body_size,
                    })
                    .cloned();
                    (route, trace, decided)
                }
            };

        // Within the rate limits, or refused by them; the guard lives until the response ends.
        let (decided, _in_progress) = match decided {
            Ok(route) => match answers::admit(&route, client, origin) {
                Ok(held) => (Ok(route), held),
                Err(answer) => (Err(answer), None),
            },
            Err(answer) => (Err(answer), None),
        };
        // Authenticated, then sent where there are endpoints.
        let decided = match decided {
            Ok(route) => {
                let authorization = head.authorization.map(|a| a.str(buf));
                match crate::auth::basic_refusal(&route, authorization, origin).await {
                    Some(answer) => Err(answer),
                    // Never the fallback: routes with one are Pingora's.
                    None => answers::reachable(&route, false, origin).map(|_| route),
                }
            }
            Err(answer) => Err(answer),
        };
        let close_requested = head.close || *self.shutdown.borrow();
        let generated_id = head.request_id.is_none().then(|| app.request_ids.next());
        let mut exchange = Exchange {
            client,
            protocol: C::PROTOCOL,
            host: head.host.str(buf),
            uri: head.path_and_query(buf),
            request_length: head.total_len() as u64,
            request_id: head
                .request_id
                .map(|id| id.str(buf))
                .or(generated_id.as_ref().map(|id| id.as_str())),
            user_agent: head.user_agent.map(|s| s.str(buf)),
            referer: head.referer.map(|s| s.str(buf)),
            ..Exchange::default()
        };
        let (status, next, error) = match decided {
            Err(answer) => {
                let note = (answer.status == 426).then(|| answer.body.trim_end().to_string());
                let (next, sent) = self
                    .answer(&answer, head.is_head(buf), close_requested)
                    .await;
                exchange.body_bytes_sent = sent;
                (answer.status, next, note)
            }
            Ok(route) => match self
                .proxy(
                    buf,
                    head,
                    &route,
                    generated_id.as_ref().map(|id| id.as_str()),
                    trace.as_mut(),
                    close_requested,
                )
                .await
            {
                Ok(done) => {
                    exchange.upstream_status = Some(done.upstream.0);
                    exchange.upstream_time = Some(done.upstream.1);
                    exchange.body_bytes_sent = done.body_bytes;
                    (done.status, done.next, done.error)
                }
                Err((failure, why)) => {
                    let answer = Answer {
                        headers: answers::route_headers(&route, origin),
                        ..answers::for_failure(failure, &route.backend.name)
                    };
                    // After a failed upstream exchange the client connection is closed, as
                    // on Pingora's path.
                    let (_, sent) = self.answer(&answer, head.is_head(buf), true).await;
                    exchange.body_bytes_sent = sent;
                    (answer.status, Next::Close, Some(why))
                }
            },
        };
        finish(Finished {
            state: &app.state,
            route: route.as_deref(),
            method,
            status,
            started,
            tried: &self.tried,
            error,
            trace: trace.as_mut(),
            exchange,
        });
        next
    }

    /// The request's client: the peer, or, from a trusted peer, what its forwarded headers
    /// say ([`client_address`]); `X-Forwarded-For` and `X-Real-IP` then name it.
    fn request_client(&mut self, buf: &[u8], head: &RequestHead) -> Option<IpAddr> {
        let peer = self.client?.ip();
        let trusted = &self.app.options.trusted_proxies;
        if !trusted.trusts(peer) {
            return Some(peer);
        }
        // Only behind a trusted proxy: the head is read again for the header that the
        // parse, which forwards no client-sent forwarding header, leaves out.
        let mut headers = [httparse::EMPTY_HEADER; request::MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let _ = req.parse(&buf[..head.len]);
        let name = trusted.header_name();
        let values = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value);
        let ip = client_address(peer, values, trusted);
        self.client_ip = Some(ip.to_string());
        Some(ip)
    }

    /// Answers a request whose head cannot be read with 400, and counts and logs it.
    async fn refuse(&mut self, why: &'static str) {
        let started = Instant::now();
        let _in_flight = InFlight::start(&self.app.state);
        let answer = answers::bad_request(why);
        let (_, sent) = self.answer(&answer, false, true).await;
        finish(Finished {
            state: &self.app.state,
            route: None,
            method: "",
            status: answer.status,
            started,
            tried: &[],
            error: Some(why.to_string()),
            trace: None,
            exchange: Exchange {
                client: self.client.map(|a| a.ip()),
                protocol: C::PROTOCOL,
                request_length: self.buf.len() as u64,
                body_bytes_sent: sent,
                ..Exchange::default()
            },
        });
    }

    /// Writes one of Sluice's own answers; the body bytes written come back with what
    /// follows.
    async fn answer(&mut self, answer: &Answer, head_request: bool, close: bool) -> (Next, u64) {
        let within = self.app.options.client.send;
        let written = self
            .downstream
            .answer(answer, head_request, close, &mut self.out, within)
            .await;
        match written {
            Ok(sent) if !close => (Next::KeepOpen, sent),
            Ok(sent) => (Next::Close, sent),
            Err(_) => (Next::Close, 0),
        }
    }

    /// Proxies the request to an endpoint of `route`: connect failures are retried on other
    /// endpoints, a kept-alive connection found closed is replaced once by a new one.
    async fn proxy(
        &mut self,
        buf: &[u8],
        head: &RequestHead,
        route: &Route,
        request_id: Option<&str>,
        mut trace: Option<&mut RequestTrace>,
        close_client: bool,
    ) -> Result<Proxied, (Failure, String)> {
        let app = self.app;
        let backend = &route.backend;
        let connect_timeout = route.connect_timeout.unwrap_or(app.options.connect_timeout);
        let read_timeout = route.read_timeout.unwrap_or(app.options.read_timeout);
        let send_timeout = route.send_timeout.unwrap_or(DEFAULT_SEND_TIMEOUT);
        // A kept-alive connection found closed: send again to the same endpoint, on a new one.
        let mut resend_to = None;
        let mut mirrored = false;
        loop {
            let fresh = resend_to.is_some();
            let addr = match resend_to.take() {
                Some(addr) => addr,
                None => {
                    let Some(addr) = backend.pick(&self.tried) else {
                        return Err((Failure::Connect, "every endpoint failed".into()));
                    };
                    if !self.tried.is_empty() {
                        app.state.metrics.count_retry(&backend.name);
                    }
                    self.tried.push(addr);
                    if let (Some(trace), Some(tracing)) =
                        (trace.as_deref_mut(), &app.options.tracing)
                    {
                        trace.attempt(&tracing.tracer, head.method(buf), addr, self.tried.len());
                    }
                    addr
                }
            };
            let pooled = if fresh { None } else { pool::take(addr) };
            let (mut upstream, reused) = match pooled {
                Some(conn) => (conn, true),
                None => match connect(addr, connect_timeout).await {
                    Ok(conn) => (conn, false),
                    Err((failure, why)) => {
                        app.state.metrics.count_connect_error(&backend.name);
                        if let Some(trace) = trace.as_deref_mut() {
                            trace.attempt_failed(&why);
                        }
                        if backend.has_untried(&self.tried)
                            && self.tried.len() < app.options.max_attempts
                        {
                            continue;
                        }
                        return Err((failure, why));
                    }
                },
            };

            let rewrite = route.rewrite.as_ref();
            let target = rewrite.and_then(|r| r.target(head.path(buf), head.query(buf)));
            let forwarding = Forwarding {
                target: target.as_deref(),
                forwarded_prefix: target
                    .is_some()
                    .then(|| rewrite.and_then(|r| r.forwarded_prefix.as_deref()))
                    .flatten(),
                host: route.upstream_host.as_deref(),
                client_ip: self.client_ip.as_deref(),
                tls: self.tls,
                request_id,
                replace_trace: trace.is_some(),
                drop_authorization: route.basic_auth.is_some(),
                edits: route.request_headers.as_deref(),
            };
            request::write_upstream_head(buf, head, &self.forward, &forwarding, &mut self.out);
            if let Some(trace) = trace.as_deref() {
                trace.inject(&mut request::push_header_with(&mut self.out));
            }
            request::end_head(&mut self.out);
            self.out.extend_from_slice(&buf[head.len..head.total_len()]);
            // Once per request, whatever the attempts: the copy is what the backend gets.
            if let Some(mirrors) = route.mirrors.as_deref()
                && !std::mem::replace(&mut mirrored, true)
            {
                crate::serve::mirror::send(mirrors, &self.out);
            }

            let sent = Instant::now();
            match self
                .exchange(
                    &mut upstream,
                    reused,
                    head.is_head(buf),
                    (send_timeout, read_timeout),
                )
                .await
            {
                Ok(response) => {
                    self.extra = answers::route_headers(route, head.origin.map(|o| o.str(buf)));
                    self.response_edits = route.response_edits.clone();
                    let done = self
                        .relay(upstream, addr, &response, read_timeout, close_client, sent)
                        .await;
                    return Ok(done);
                }
                Err(AttemptError::Stale) if head.idempotent(buf) => resend_to = Some(addr),
                Err(AttemptError::Stale) => {
                    return Err((Failure::Upstream, "the kept-alive connection closed".into()));
                }
                Err(AttemptError::Failed(failure, why)) => {
                    if let Some(trace) = trace.as_deref_mut() {
                        trace.attempt_failed(&why);
                    }
                    return Err((failure, why));
                }
            }
        }
    }

    /// Sends the request in `out` and reads the response head into `up`.
    async fn exchange(
        &mut self,
        upstream: &mut TcpStream,
        reused: bool,
        head_request: bool,
        (send_timeout, read_timeout): (Duration, Duration),
    ) -> Result<ResponseHead, AttemptError> {
        let broken = |what: &str, e: std::io::Error| {
            if reused {
                AttemptError::Stale
            } else {
                AttemptError::Failed(Failure::Upstream, format!("{what}: {e}"))
            }
        };
        match timeout(send_timeout, upstream.write_all(&self.out)).await {
            Ok(written) => written.map_err(|e| broken("writing the request", e))?,
            Err(_) => {
                return Err(AttemptError::Failed(
                    Failure::Timeout,
                    "the request could not be sent in time".into(),
                ));
            }
        }
        self.up.clear();
        loop {
            if !self.up.is_empty() {
                match response::parse(&self.up, head_request, &mut self.kept) {
                    response::Parsed::Head(head) => return Ok(head),
                    response::Parsed::Interim(len) => {
                        self.up.advance(len);
                        continue;
                    }
                    response::Parsed::Bad(why) => {
                        return Err(AttemptError::Failed(Failure::Upstream, why.into()));
                    }
                    response::Parsed::Partial => {}
                }
            }
            self.up.reserve(READ_SIZE);
            match timeout(read_timeout, upstream.read_buf(&mut self.up)).await {
                Ok(Ok(0)) if self.up.is_empty() => {
                    return Err(broken(
                        "reading the response",
                        std::io::ErrorKind::UnexpectedEof.into(),
                    ));
                }
                Ok(Ok(0)) => {
                    return Err(AttemptError::Failed(
                        Failure::Upstream,
                        "the response head was cut off".into(),
                    ));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) if self.up.is_empty() => return Err(broken("reading the response", e)),
                Ok(Err(e)) => {
                    return Err(AttemptError::Failed(
                        Failure::Upstream,
                        format!("reading the response: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(AttemptError::Failed(
                        Failure::Timeout,
                        "no response in time".into(),
                    ));
                }
            }
        }
    }

    /// Passes the response (its head parsed, in `up`) to the client, and the upstream
    /// connection back to the pool when its response ended cleanly. `close_client`: the
    /// client connection ends after this response.
    async fn relay(
        &mut self,
        mut upstream: TcpStream,
        addr: SocketAddr,
        head: &ResponseHead,
        read_timeout: Duration,
        close_client: bool,
        sent: Instant,
    ) -> Proxied {
        let send_timeout = self.app.options.client.send;
        let mut keep_upstream = head.keep_alive;
        let close_client = close_client || matches!(head.framing, Framing::UntilClose);
        let mut body = Body::new(head.framing);
        let mut error = None;
        let mut body_bytes = 0;
        // The head and the body bytes read with it go out together.
        let mut first = true;
        let complete = loop {
            let start = if first { head.len } else { 0 };
            let decode = C::DECHUNKS.then_some(&mut self.data);
            let (take, done) = match body.accept(&self.up[start..], decode) {
                Ok(progress) => progress,
                Err(why) => {
                    error = Some(why.to_string());
                    break false;
                }
            };
            if start + take < self.up.len() {
                // Bytes past the end of the response: the connection is out of step.
                keep_upstream = false;
            }
            let raw = &self.up[start..start + take];
            let data = if C::DECHUNKS && body.is_chunked() {
                &self.data[..]
            } else {
                raw
            };
            let written = if first {
                let head = Head {
                    buf: &self.up[..head.len],
                    head,
                    kept: &self.kept,
                    extra: &self.extra,
                    edits: self.response_edits.as_deref(),
                    close: close_client,
                };
                (self.downstream)
                    .start(head, raw, data, done, &mut self.out, send_timeout)
                    .await
            } else {
                self.downstream.body(raw, data, done, send_timeout).await
            };
            first = false;
            if let Err(e) = written {
                error = Some(format!("writing to the client: {e}"));
                break false;
            }
            body_bytes += data.len() as u64;
            self.up.clear();
            if done {
                break true;
            }
            self.up.reserve(READ_SIZE);
            match timeout(read_timeout, upstream.read_buf(&mut self.up)).await {
                Ok(Ok(0)) if matches!(head.framing, Framing::UntilClose) => {
                    if let Err(e) = self.downstream.end() {
                        error = Some(format!("writing to the client: {e}"));
                        break false;
                    }
                    break true;
                }
                Ok(Ok(0)) => {
                    error = Some("the upstream closed the connection mid-response".into());
                    break false;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    error = Some(format!("reading the response body: {e}"));
                    break false;
                }
                Err(_) => {
                    error = Some("the response body stalled".into());
                    break false;
                }
            }
        };
        if complete && keep_upstream {
            pool::give_back(addr, upstream);
        }
        Proxied {
            // 0: the response broke before its head could be passed on.
            status: if first { 0 } else { head.status },
            upstream: (head.status, sent.elapsed()),
            body_bytes,
            next: if complete && !close_client {
                Next::KeepOpen
            } else {
                Next::Close
            },
            error,
        }
    }
}

/// Why the fast path stops reading requests on the connection itself.
enum Leave {
    /// Pingora serves the request, which ends at this offset of the buffer if known.
    Pingora(Option<usize>),
    /// The connection is HTTP/2 with prior knowledge (h2c): Pingora's, from the first byte.
    H2c,
    /// 400, then the connection ends.
    Refuse(&'static str),
}

async fn connect(addr: SocketAddr, within: Duration) -> Result<TcpStream, (Failure, String)> {
    match timeout(within, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            // Heads and small bodies go out in one write each; never hold them back.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err((Failure::Connect, format!("connecting to {addr}: {e}"))),
        Err(_) => Err((Failure::Timeout, format!("connecting to {addr} timed out"))),
    }
}
