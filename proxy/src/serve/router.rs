//! Pingora's request path (HTTP/2, upgrades, and what the HTTP/1.1 fast path leaves to it):
//! Pingora's hooks, in the order Pingora calls them.
//!
//! `request_filter` matches the route (or answers 404 / 308 / 503 itself),
//! `upstream_peer` picks the next endpoint round robin, `fail_to_connect` retries another
//! endpoint, `upstream_request_filter` sets the forwarding headers, `fail_to_proxy` turns
//! failures into 502 / 504, and `logging` records the outcome.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use sluice_crds::annotations::DEFAULT_SEND_TIMEOUT;
use sluice_crds::gateway::matching::RequestFacts;
use sluice_crds::ingress::normalize_request_host;

use super::access_log::Exchange;
use super::answers::{self, Failure};
use super::client_addr::{TrustedProxies, client_address};
use super::error_pages;
use super::hygiene;
use super::outcome::{Finished, InFlight, finish};
use super::rate_limit::InProgress;
use super::request_id::{self, RequestId, RequestIds};
use super::responses;
use super::tls::is_tls12;
use super::trace::{self, RequestTrace, Tracing};
use crate::auth::{self, external};
use crate::routes::{HeaderEdits, Route, endpoint_token};
use crate::state::State;

/// Serving settings from the command line.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Endpoints tried per request when connecting fails (the first included).
    pub max_attempts: usize,
    /// The port in `https://` redirects; 443 is left out of the URL.
    pub https_redirect_port: u16,
    /// Refuse requests that arrived over TLS 1.2 (the listener negotiates 1.2 and 1.3).
    pub require_tls13: bool,
    /// Where request spans go; `None`: tracing is off and costs nothing.
    pub tracing: Option<Tracing>,
    /// `false`: every HTTP/1.1 request goes through Pingora (`--no-fast-path`).
    pub fast_path: bool,
    pub client: ClientTimeouts,
    /// The largest request body of a route without its own limit (0: no limit).
    pub max_body_size: u64,
    /// Peers whose forwarded headers say who the client is.
    pub trusted_proxies: TrustedProxies,
}

/// How long the proxy waits for a client, on both paths (nginx's names and defaults).
#[derive(Clone, Copy, Debug)]
pub struct ClientTimeouts {
    /// For a whole request head, from its first byte (`client_header_timeout`).
    pub header: Duration,
    /// Between two reads of a request body (`client_body_timeout`).
    pub body: Duration,
    /// For the next request on a kept-alive connection (`keepalive_timeout`).
    pub keepalive: Duration,
    /// Between two writes to a client that does not read (`send_timeout`).
    pub send: Duration,
}

pub struct Router {
    pub state: Arc<State>,
    pub options: ServeOptions,
    pub request_ids: Arc<RequestIds>,
}

/// Per-request state, kept across retries.
pub struct RequestCtx {
    started: Instant,
    route: Option<Arc<Route>>,
    tried: Vec<SocketAddr>,
    tls: bool,
    /// What the response body said when Sluice answered itself.
    note: Option<String>,
    trace: Option<RequestTrace>,
    /// The X-Request-Id the proxy added, when the request came without one.
    request_id: Option<RequestId>,
    /// A kept-alive upstream connection turned out closed: the request goes once more to
    /// this endpoint, on a new connection.
    resend_to: Option<SocketAddr>,
    resent: bool,
    /// When the last endpoint was picked, and the status it answered.
    attempt_started: Option<Instant>,
    upstream_status: Option<u16>,
    /// Its place among its route's requests in progress (`limit-connections`).
    in_progress: Option<InProgress>,
    /// It goes to its route's canary.
    canary: bool,
    /// The client's address: the peer's, or what a trusted peer says it is.
    client: Option<std::net::IpAddr>,
    /// What the auth service's answer sets on the request to the backend (`None`: removes).
    auth_headers: Vec<(http::HeaderName, Option<http::HeaderValue>)>,
    /// The auth service's cookies, for the response.
    auth_cookies: Vec<http::HeaderValue>,
    /// The affinity cookie to set: the request's endpoint is not the one its cookie named.
    affinity_cookie: Option<String>,
    /// Its backend has no endpoints: its Ingress's `default-backend` serves it.
    fallback: bool,
    /// The default backend's page that replaces the backend's error response.
    error_page: Option<error_pages::Page>,
    _in_flight: InFlight,
}

/// The request's host as routing sees it: from :authority (HTTP/2) or Host (HTTP/1),
/// normalised. Borrowed from the request when it needs no change.
fn request_host(req: &RequestHeader) -> Cow<'_, str> {
    let raw = req
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or_default();
    normalize_request_host(raw)
}

/// What route conditions read of a request Pingora parsed (only for a route with
/// conditions).
struct HeaderFacts<'a>(&'a RequestHeader);

impl RequestFacts for HeaderFacts<'_> {
    fn method(&self) -> &str {
        self.0.method.as_str()
    }

    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.0.headers.get_all(name).iter().map(|v| v.as_bytes())
    }

    fn query(&self) -> Option<&str> {
        self.0.uri.query()
    }
}

/// The most request body read and dropped after Sluice answered an HTTP/2 request itself:
/// HTTP/2's initial stream window, what a client may send before it hears from the proxy.
const DISCARDED_BODY_LIMIT: usize = 65_535;

impl Router {
    /// Answers the request itself; on HTTP/2, then reads the rest of the request
    /// ([`discard_request_body`]).
    async fn answer(&self, session: &mut Session, answer: &answers::Answer) -> Result<()> {
        responses::send(session, answer).await?;
        discard_request_body(session, self.options.client.body).await;
        Ok(())
    }
}

/// After Sluice answered an HTTP/2 request itself, reads what is left of the request to its
/// end and drops it: each part within the client body timeout, at most
/// [`DISCARDED_BODY_LIMIT`] bytes. Past either, the stream is reset (`RST_STREAM` with
/// `NO_ERROR`, RFC 9113 §8.1).
///
/// A forwarded request's stream is read to its end, and on HTTP/1.1 a body is read to its
/// end before the connection's next request. Without this, an answered stream was reset as
/// soon as the answer was written, and the frames the client had sent after its head (a
/// DATA frame past its Content-Length, trailers with a pseudo-header, HEADERS after its own
/// RST_STREAM) were ignored, as RFC 9113 §5.1 says of frames on a stream one has reset,
/// instead of getting the stream or connection error they get on a forwarded request:
/// which one a client saw depended on whether they arrived before the answer was written.
async fn discard_request_body(session: &mut Session, timeout: Duration) {
    if !session.as_downstream().is_http2() {
        return;
    }
    let mut left = DISCARDED_BODY_LIMIT;
    loop {
        let read = session.downstream_session.read_request_body();
        match pingora_timeout::timeout(timeout, read).await {
            Ok(Ok(Some(part))) if part.len() <= left => left -= part.len(),
            // The end; a stream error (h2 has answered it); too slow or too much.
            _ => return,
        }
    }
}

/// The value of the affinity cookie `name`, if the request has one.
fn affinity_token<'r>(req: &'r RequestHeader, name: &str) -> Option<&'r str> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| answers::cookie(v, name))
}

/// The request's first `Origin`, for CORS.
/// The first `name` header, if it is text.
fn header_str<'r>(req: &'r RequestHeader, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn origin(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
}

/// Sets `headers` on a response: each replaces the upstream's of that name, except `Vary`,
/// which is added to (an upstream's `Vary: Accept-Encoding` still holds).
fn set_response_headers(
    response: &mut ResponseHeader,
    headers: &[(&'static str, String)],
) -> Result<()> {
    for (name, value) in headers {
        if *name == "vary" {
            response.append_header(*name, value.as_str())?;
        } else {
            response.insert_header(*name, value.as_str())?;
        }
    }
    Ok(())
}

/// Applies a route's header edits to a request or response head: removed and set names
/// go, then the set and added ones are written.
fn edit_headers(head: &mut impl HeaderEditing, edits: &HeaderEdits) -> Result<()> {
    for name in edits.remove.iter().chain(edits.set.iter().map(|(n, _)| n)) {
        head.remove(name);
    }
    for (name, value) in edits.written() {
        head.append(name.to_string(), value)?;
    }
    Ok(())
}

/// What [`edit_headers`] needs of Pingora's request and response heads.
trait HeaderEditing {
    fn remove(&mut self, name: &str);
    fn append(&mut self, name: String, value: &str) -> Result<()>;
}

impl HeaderEditing for RequestHeader {
    fn remove(&mut self, name: &str) {
        self.remove_header(name);
    }

    fn append(&mut self, name: String, value: &str) -> Result<()> {
        self.append_header(name, value).map(|_| ())
    }
}

impl HeaderEditing for ResponseHeader {
    fn remove(&mut self, name: &str) {
        self.remove_header(name);
    }

    fn append(&mut self, name: String, value: &str) -> Result<()> {
        self.append_header(name, value).map(|_| ())
    }
}

/// Why the request is refused with 400, if it is ([`hygiene::malformed`]).
fn malformed(req: &RequestHeader) -> Option<&'static str> {
    hygiene::malformed(hygiene::Head {
        version: req.version,
        hosts: req
            .headers
            .get_all(header::HOST)
            .iter()
            .map(|v| v.as_bytes()),
        authority: req.uri.authority().map(|a| a.as_str()),
        content_lengths: req.headers.get_all(header::CONTENT_LENGTH).iter().count(),
        raw_target: req.raw_path(),
    })
}

/// The protocol of a request, as the access log writes it.
fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// The size of a request head in its HTTP/1.1 form: the request line, the headers and the
/// blank line (an HTTP/2 head is counted as if it had come so).
fn head_length(req: &RequestHeader) -> u64 {
    let uri = &req.uri;
    let target = uri.scheme_str().map_or(0, |s| s.len() + "://".len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method.as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    (line + headers + 2) as u64
}

/// The protocol version of a request, as trace attributes write it.
fn version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    }
}

impl Router {
    /// The client's address: the peer's, or, from a trusted peer, what its forwarded
    /// headers say ([`client_address`]).
    fn client(&self, session: &Session, ctx: &RequestCtx) -> Option<std::net::IpAddr> {
        if ctx.client.is_some() {
            return ctx.client;
        }
        let peer = session.client_addr().and_then(|a| a.as_inet())?.ip();
        let trusted = &self.options.trusted_proxies;
        if !trusted.trusts(peer) {
            return Some(peer);
        }
        let values = session
            .req_header()
            .headers
            .get_all(trusted.header_name())
            .iter();
        Some(client_address(peer, values, trusted))
    }

    /// Basic auth, then external auth, then the endpoints: the answer that stops the
    /// request, if one does. What an auth service lets through with goes into `ctx`.
    async fn authenticate(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        route: &Route,
    ) -> Option<answers::Answer> {
        let req = session.req_header();
        let origin = origin(req);
        let authorization = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some(answer) = auth::basic_refusal(route, authorization, origin).await {
            return Some(answer);
        }
        if let Some(settings) = &route.external_auth {
            let client_ip = ctx.client.map(|ip| ip.to_string());
            let sent_id = req
                .headers
                .get("x-request-id")
                .filter(|v| request_id::usable(v.as_bytes()))
                .and_then(|v| v.to_str().ok());
            let request_id = match sent_id {
                Some(id) => id.to_string(),
                None => ctx
                    .request_id
                    .get_or_insert_with(|| self.request_ids.next())
                    .as_str()
                    .to_string(),
            };
            let host = req
                .uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| req.headers.get(header::HOST).and_then(|h| h.to_str().ok()))
                .unwrap_or_default();
            let host_name = request_host(req);
            let original = external::Original {
                method: req.method.as_str(),
                tls: ctx.tls,
                host,
                host_name: &host_name,
                request_uri: req.uri.path_and_query().map_or("/", |p| p.as_str()),
                client_ip: client_ip.as_deref(),
                request_id: &request_id,
                headers: &req.headers,
            };
            let within = route
                .connect_timeout
                .unwrap_or(self.options.connect_timeout)
                + route.read_timeout.unwrap_or(self.options.read_timeout);
            let asked = match external::auth_request(settings, &original) {
                Ok(request) => external::ask(request, within).await,
                Err(why) => Err(why),
            };
            let decision = match asked {
                Ok((status, headers)) => external::decide(settings, status, &headers, &original),
                Err(why) => {
                    tracing::warn!(route = %route.ingress, error = %why, "external auth failed; answering 500");
                    ctx.note = Some(why);
                    external::Decision::Deny(external::unreachable())
                }
            };
            match decision {
                external::Decision::Allow { set, cookies } => {
                    ctx.auth_headers = set;
                    ctx.auth_cookies = cookies;
                }
                external::Decision::Deny(mut answer) => {
                    answer.headers.extend(answers::route_headers(route, origin));
                    return Some(answer);
                }
            }
        }
        match answers::reachable(route, ctx.canary, origin) {
            Ok(fallback) => {
                ctx.fallback = fallback;
                None
            }
            Err(answer) => Some(answer),
        }
    }

    /// The default backend's page for a backend response of `status`, when the route's
    /// Ingress asks for one (`custom-http-errors`) and the default backend gives it.
    async fn error_page(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        status: u16,
    ) -> Option<error_pages::Page> {
        let route = ctx.route.as_ref()?;
        let errors = route.error_backend.as_ref()?;
        if ctx.fallback || !errors.codes.contains(&status) {
            return None;
        }
        let addr = errors.backend.pick(&[])?;
        let req = session.req_header();
        let header = |name| req.headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header("x-request-id")
            .filter(|v| request_id::usable(v.as_bytes()))
            .or(ctx.request_id.as_ref().map(|id| id.as_str()));
        let original = error_pages::Original {
            host: req
                .uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| header("host"))
                .unwrap_or_default(),
            request_uri: req.uri.path_and_query().map_or("/", |p| p.as_str()),
            accept: header("accept"),
            request_id,
        };
        let within = route
            .connect_timeout
            .unwrap_or(self.options.connect_timeout)
            + route.read_timeout.unwrap_or(self.options.read_timeout);
        let fetched = match error_pages::request(route, status, addr, &original) {
            Ok(request) => error_pages::fetch(request, within).await,
            Err(why) => Err(why),
        };
        fetched
            .inspect_err(|why| {
                tracing::warn!(route = %route.ingress, status, error = %why, "no error page from the default backend; passing the backend's answer on");
            })
            .ok()
    }
}

#[async_trait]
impl ProxyHttp for Router {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            route: None,
            tried: Vec::new(),
            tls: false,
            note: None,
            trace: None,
            request_id: None,
            resend_to: None,
            resent: false,
            attempt_started: None,
            upstream_status: None,
            in_progress: None,
            canary: false,
            client: None,
            auth_headers: Vec::new(),
            auth_cookies: Vec::new(),
            affinity_cookie: None,
            fallback: false,
            error_page: None,
            _in_flight: InFlight::start(&self.state),
        }
    }

    /// The compression module is never used; leaving it out saves work per request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    /// A body without a declared length is held to the route's limit as it arrives.
    async fn request_body_filter(
        &self,
        session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(route) = &ctx.route
            && answers::body_too_large(
                session.body_bytes_read() as u64,
                route,
                self.options.max_body_size,
            )
        {
            return Error::e_explain(
                ErrorType::HTTPStatus(413),
                "the request body is larger than the route takes",
            );
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let client = &self.options.client;
        session.set_read_timeout(Some(client.body));
        session.set_write_timeout(Some(client.send));
        if let Some(why) = malformed(session.req_header()) {
            // The framing of what follows cannot be trusted either.
            session.set_keepalive(None);
            ctx.note = Some(why.to_string());
            let answer = answers::bad_request(why);
            self.answer(session, &answer).await?;
            return Ok(true);
        }
        ctx.client = self.client(session, ctx);
        let ssl = session.digest().and_then(|d| d.ssl_digest.as_ref());
        ctx.tls = ssl.is_some();
        let tls12_refused = self.options.require_tls13 && ssl.is_some_and(|s| is_tls12(&s.version));
        if let Some(answer) = answers::refusal(tls12_refused, session.req_header().uri.path()) {
            if tls12_refused {
                ctx.note = Some(answer.body.trim_end().to_string());
            }
            self.answer(session, &answer).await?;
            return Ok(true);
        }
        // The table of the port the request came in on (one per Gateway listener port).
        let tables = self.state.tables();
        let local_port = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port());
        let table = tables.for_port(local_port);
        let route = {
            let req = session.req_header();
            table
                .lookup(&request_host(req), req.uri.path(), &HeaderFacts(req))
                .cloned()
        };
        if let Some(tracing) = &self.options.tracing {
            let client = || {
                let peer = session.client_addr().and_then(|a| a.as_inet()).copied();
                peer.zip(ctx.client)
                    .map(|(peer, ip)| SocketAddr::new(ip, peer.port()))
            };
            let req = session.req_header();
            let parent = sluice_common::telemetry::extract(&req.headers);
            let start = trace::Start {
                method: req.method.as_str(),
                path: req.uri.path(),
                version: version(req.version),
                tls: ctx.tls,
            };
            let trace =
                RequestTrace::start(tracing, parent, &start, || (request_host(req), client()));
            if let Some(route) = &route {
                trace.matched(route, req.method.as_str());
            }
            ctx.trace = Some(trace);
        }
        ctx.canary = route.as_ref().is_some_and(|route| {
            let req = session.req_header();
            let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
            let cookie = |name: &str| {
                req.headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|v| answers::cookie(v, name))
            };
            answers::canary_chosen(route, header, cookie)
        });
        let answer = {
            let req = session.req_header();
            answers::for_route(&answers::Routed {
                route: route.as_ref(),
                canary: ctx.canary,
                method: req.method.as_str(),
                origin: origin(req),
                cors_request_method: header_str(req, "access-control-request-method"),
                cors_request_headers: header_str(req, "access-control-request-headers"),
                host: &request_host(req),
                path: req.uri.path(),
                path_and_query: req.uri.path_and_query().map_or("/", |p| p.as_str()),
                tls: ctx.tls,
                https_port: self.options.https_redirect_port,
                client: ctx.client,
                body_length: req
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok()),
                max_body_size: self.options.max_body_size,
            })
            .err()
        };
        // Within the rate limits, or refused by them.
        let answer = answer.or_else(|| {
            let route = route.as_ref()?;
            match answers::admit(route, ctx.client, origin(session.req_header())) {
                Ok(held) => {
                    ctx.in_progress = held;
                    None
                }
                Err(answer) => Some(answer),
            }
        });
        // Authenticated, then sent where there are endpoints.
        let answer = match (answer, &route) {
            (None, Some(route)) => self.authenticate(session, ctx, route).await,
            (answer, _) => answer,
        };
        ctx.route = route;
        if let Some(answer) = answer {
            self.answer(session, &answer).await?;
            return Ok(true);
        }
        if session.is_upgrade_req() {
            // A WebSocket tunnel may sit idle for long; the client side must not time out.
            session.set_read_timeout(None);
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx
            .route
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route selected"))?;
        let resend_to = ctx.resend_to.take();
        let addr = match resend_to {
            Some(addr) => addr,
            None => {
                let backend = route.target(ctx.canary, ctx.fallback);
                let named = route.affinity.as_ref().and_then(|affinity| {
                    affinity_token(session.req_header(), &affinity.cookie)
                        .and_then(|token| backend.pick_named(token, &ctx.tried))
                });
                let Some(addr) = named.or_else(|| backend.pick(&ctx.tried)) else {
                    return Error::e_explain(ErrorType::HTTPStatus(502), "every endpoint failed");
                };
                if !ctx.tried.is_empty() {
                    self.state.metrics.count_retry(&backend.name);
                }
                // A new client, or one whose endpoint is gone, is told its endpoint; one
                // whose endpoint failed only with `session-cookie-change-on-failure`.
                if let Some(affinity) = &route.affinity
                    && named.is_none()
                    && (ctx.tried.is_empty() || affinity.change_on_failure)
                {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    ctx.affinity_cookie =
                        Some(affinity.set_cookie(&endpoint_token(addr), route.cookie_path(), now));
                }
                ctx.tried.push(addr);
                addr
            }
        };
        ctx.attempt_started = Some(Instant::now());
        if let (Some(trace), Some(tracing)) = (&mut ctx.trace, &self.options.tracing) {
            trace.attempt(
                &tracing.tracer,
                session.req_header().method.as_str(),
                addr,
                ctx.tried.len(),
            );
        }
        // backend-protocol: TLS without SNI or verification and HTTP/2 as ingress-nginx
        // speaks them by default. The endpoint's address is the TLS server name: rustls
        // needs one, and sends no SNI for an address.
        let protocol = route.backend_protocol;
        let tls = protocol.tls(ctx.tls);
        let name = if tls {
            addr.ip().to_string()
        } else {
            String::new()
        };
        let mut peer = HttpPeer::new(addr, tls, name);
        if tls {
            peer.options.verify_cert = false;
            peer.options.verify_hostname = false;
        }
        if protocol.http2() {
            peer.options.set_http_version(2, 2);
        }
        let connect = route
            .connect_timeout
            .unwrap_or(self.options.connect_timeout);
        peer.options.connection_timeout = Some(connect);
        peer.options.total_connection_timeout = Some(connect);
        peer.options.read_timeout = if session.is_upgrade_req() {
            None
        } else {
            Some(route.read_timeout.unwrap_or(self.options.read_timeout))
        };
        peer.options.write_timeout = Some(route.send_timeout.unwrap_or(DEFAULT_SEND_TIMEOUT));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        if resend_to.is_some() {
            // Another pool key: a new connection, not the next pooled one, which may be
            // just as stale.
            peer.group_key = fastrand::u64(..);
        }
        Ok(Box::new(peer))
    }

    /// As Pingora decides by default: an idempotent request whose kept-alive upstream
    /// connection broke is sent again (RFC 9110 §9.2.2), as on the fast path: once, to the
    /// same endpoint, on a new connection.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let idempotent = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated();
        if idempotent && client_reused && !ctx.resent {
            e.set_retry(true);
            ctx.resent = true;
            ctx.resend_to = ctx.tried.last().copied();
        } else {
            e.set_retry(false);
        }
        e
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(route) = &ctx.route {
            let backend = route.backend_for(ctx.canary);
            self.state.metrics.count_connect_error(&backend.name);
            if let Some(trace) = &mut ctx.trace {
                trace.attempt_failed(e.etype().as_str());
            }
            if backend.has_untried(&ctx.tried) && ctx.tried.len() < self.options.max_attempts {
                e.set_retry(true);
            }
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client_ip = self.client(session, ctx).map(|ip| ip.to_string());
        // Hop-by-hop headers, the forwarding headers set below, names with underscores.
        let dropped: Vec<http::HeaderName> = upstream_request
            .headers
            .keys()
            .filter(|name| !hygiene::forwarded(name.as_str().as_bytes()))
            .cloned()
            .collect();
        for name in &dropped {
            upstream_request.remove_header(name);
        }
        if let Some(ip) = client_ip {
            // Incoming X-Forwarded-For is not trusted: clients can write anything there.
            upstream_request.insert_header("x-forwarded-for", ip.as_str())?;
            upstream_request.insert_header("x-real-ip", ip.as_str())?;
        }
        upstream_request
            .insert_header("x-forwarded-proto", if ctx.tls { "https" } else { "http" })?;
        let host = session
            .req_header()
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                session
                    .req_header()
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            });
        if let Some(host) = host {
            upstream_request.insert_header("x-forwarded-host", host)?;
        }
        let has_request_id = upstream_request
            .headers
            .get("x-request-id")
            .is_some_and(|v| request_id::usable(v.as_bytes()));
        if !has_request_id {
            let id = *ctx
                .request_id
                .get_or_insert_with(|| self.request_ids.next());
            upstream_request.insert_header("x-request-id", id.as_str())?;
        }
        if let Some(host) = ctx.route.as_ref().and_then(|r| r.upstream_host.as_deref()) {
            upstream_request.insert_header(header::HOST, host)?;
        }
        // Basic auth consumed the credentials: the backend does not get them (ingress-nginx).
        if ctx.route.as_ref().is_some_and(|r| r.basic_auth.is_some()) {
            upstream_request.remove_header(&header::AUTHORIZATION);
        }
        for (name, value) in std::mem::take(&mut ctx.auth_headers) {
            match value {
                Some(value) => upstream_request.insert_header(name, value)?,
                None => {
                    upstream_request.remove_header(&name);
                }
            }
        }
        if let Some(edits) = ctx
            .route
            .as_ref()
            .and_then(|r| r.request_headers.as_deref())
        {
            edit_headers(upstream_request, edits)?;
        }
        if let Some(rewrite) = ctx.route.as_ref().and_then(|r| r.rewrite.as_ref()) {
            let uri = &session.req_header().uri;
            if let Some(target) = rewrite.target(uri.path(), uri.query()) {
                let uri = target.parse::<http::Uri>().map_err(|e| {
                    Error::because(ErrorType::InternalError, "the rewritten path", e)
                })?;
                upstream_request.set_uri(uri);
                if let Some(prefix) = &rewrite.forwarded_prefix {
                    upstream_request.insert_header("x-forwarded-prefix", prefix.as_ref())?;
                }
            }
        }
        if let Some(trace) = &ctx.trace {
            trace.inject(&mut |name, value| {
                if let Ok(value) = http::HeaderValue::from_bytes(value) {
                    let _ = upstream_request.insert_header(name, value);
                }
            });
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_status = Some(upstream_response.status.as_u16());
        if upstream_response.status == http::StatusCode::SWITCHING_PROTOCOLS {
            if !session.is_upgrade_req() {
                // A 101 nobody asked for: the client would be left without a response.
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "the upstream switched protocols unasked",
                )
                .into_up());
            }
            // An upgrade keeps its Connection and Upgrade headers.
            return Ok(());
        }
        let headers = &upstream_response.headers;
        if let Some(why) =
            hygiene::malformed_response(headers.get_all(header::CONTENT_LENGTH).iter().count())
        {
            return Err(Error::explain(ErrorType::InvalidHTTPHeader, why).into_up());
        }
        let status = upstream_response.status.as_u16();
        // An error the Ingress's default backend has a page for: the page is the answer
        // ([`Self::fail_to_proxy`] sends it), the backend's is dropped.
        if let Some(page) = self.error_page(session, ctx, status).await {
            ctx.error_page = Some(page);
            return Err(Error::explain(
                ErrorType::Custom("error page"),
                "the backend's error is answered with the default backend's page",
            ));
        }
        // Interim responses (1xx) come here too: they never have a body.
        let bodiless =
            status < 200 || status == 204 || status == 304 || session.req_header().method == "HEAD";
        if !bodiless
            && !headers.contains_key(header::CONTENT_LENGTH)
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && session.req_header().version != http::Version::HTTP_2
        {
            // A body that ends when the upstream closes: the client connection ends after it
            // too, as on the fast path.
            session.set_keepalive(None);
        }
        // Hop-by-hop headers are this hop's: the ones `Connection` names, and the fixed
        // ones, as the fast path drops them.
        let named: Vec<http::HeaderName> = upstream_response
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| hygiene::connection_options(v.as_bytes()))
            .filter_map(|name| http::HeaderName::from_bytes(name).ok())
            .collect();
        for name in named.iter().chain(hygiene::RESPONSE_HOP_BY_HOP.iter()) {
            upstream_response.remove_header(name);
        }
        if let Some(route) = &ctx.route {
            let cors = answers::route_headers(route, origin(session.req_header()));
            set_response_headers(upstream_response, &cors)?;
            if let Some(edits) = &route.response_edits {
                edit_headers(upstream_response, edits)?;
            }
            if let Some(cookie) = ctx.affinity_cookie.take() {
                upstream_response.append_header(header::SET_COOKIE, cookie)?;
            }
            if let Some(settings) = &route.external_auth
                && external::cookies_on(settings, status)
            {
                for cookie in std::mem::take(&mut ctx.auth_cookies) {
                    upstream_response.append_header(header::SET_COOKIE, cookie)?;
                }
            }
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let cors = |session: &Session, ctx: &RequestCtx| {
            ctx.route
                .as_ref()
                .map(|route| answers::route_headers(route, origin(session.req_header())))
                .unwrap_or_default()
        };
        if let Some(page) = ctx.error_page.take() {
            responses::send_page(session, &page, &cors(session, ctx)).await;
            discard_request_body(session, self.options.client.body).await;
            return FailToProxy {
                error_code: page.status,
                can_reuse_downstream: false,
            };
        }
        let backend = ctx
            .route
            .as_ref()
            .map(|r| r.target(ctx.canary, ctx.fallback).name.as_str())
            .unwrap_or("-");
        let failure = match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(502), _)
            | (
                ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError,
                _,
            ) => Ok(Failure::Connect),
            (ErrorType::HTTPStatus(413), _) => {
                // The rest of the body is not read: the connection cannot carry another
                // request.
                session.set_keepalive(None);
                Err((413, answers::payload_too_large().body))
            }
            (ErrorType::HTTPStatus(c), _) => Err((*c, format!("{c}\n"))),
            (
                ErrorType::ConnectTimedout
                | ErrorType::ReadTimedout
                | ErrorType::WriteTimedout
                | ErrorType::TLSHandshakeTimedout,
                ErrorSource::Upstream,
            ) => Ok(Failure::Timeout),
            (_, ErrorSource::Upstream) => Ok(Failure::Upstream),
            (
                ErrorType::WriteError
                | ErrorType::ReadError
                | ErrorType::ConnectionClosed
                | ErrorType::ReadTimedout,
                ErrorSource::Downstream,
            ) => Err((0, String::new())),
            (_, ErrorSource::Downstream) => Err((400, "400 Bad Request\n".to_string())),
            _ => Err((500, "500 Internal Server Error\n".to_string())),
        };
        let (code, message) = failure.map_or_else(
            |answer| answer,
            |failure| {
                let answer = answers::for_failure(failure, backend);
                (answer.status, answer.body)
            },
        );
        if code > 0 {
            ctx.note = Some(e.to_string());
            let cors = cors(session, ctx);
            responses::send_error(session, code, &message, &cors).await;
            discard_request_body(session, self.options.client.body).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        let req = session.req_header();
        let header = |name| req.headers.get(name).and_then(|v| v.to_str().ok());
        let client_id = header("x-request-id").filter(|v| request_id::usable(v.as_bytes()));
        if client_id.is_none() && ctx.request_id.is_none() {
            ctx.request_id = Some(self.request_ids.next());
        }
        let exchange = Exchange {
            client: self.client(session, ctx),
            protocol: protocol(req.version),
            host: req
                .uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| header(header::HOST.as_str()))
                .unwrap_or_default(),
            uri: req.uri.path_and_query().map_or("/", |p| p.as_str()),
            request_length: head_length(req) + session.body_bytes_read() as u64,
            body_bytes_sent: session.body_bytes_sent() as u64,
            upstream_status: ctx.upstream_status,
            upstream_time: ctx
                .upstream_status
                .and(ctx.attempt_started)
                .map(|t| t.elapsed()),
            request_id: client_id.or(ctx.request_id.as_ref().map(|id| id.as_str())),
            user_agent: header(header::USER_AGENT.as_str()),
            referer: header(header::REFERER.as_str()),
        };
        finish(Finished {
            state: &self.state,
            route: ctx.route.as_deref(),
            method: req.method.as_str(),
            status: session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0),
            started: ctx.started,
            tried: &ctx.tried,
            error: error.map(|e| e.to_string()).or_else(|| ctx.note.clone()),
            trace: ctx.trace.as_mut(),
            exchange,
        });
    }

    /// Failed requests are answered, counted and logged at debug by `logging`; Pingora's
    /// own error line per failure would flood the log under a dead backend.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_conditions_read_pingoras_request_head() {
        let mut req = RequestHeader::build("PUT", b"/a?x=1", None).unwrap();
        req.append_header("X-Tag", "one").unwrap();
        req.append_header("x-tag", "two").unwrap();
        let facts = HeaderFacts(&req);
        assert_eq!(facts.method(), "PUT");
        assert_eq!(facts.query(), Some("x=1"));
        let values: Vec<&[u8]> = facts.header_values("x-tag").collect();
        assert_eq!(values, [&b"one"[..], b"two"]);
        assert_eq!(facts.header_values("x-none").count(), 0);
    }
}
