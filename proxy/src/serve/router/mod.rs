//! Pingora's request path (HTTP/2, upgrades, and what the HTTP/1.1 fast path leaves to it):
//! Pingora's hooks, in the order Pingora calls them.
//!
//! `request_filter` matches the route (or answers 404 / 308 / 503 itself),
//! `upstream_peer` picks the next endpoint round robin, `fail_to_connect` retries another
//! endpoint, `upstream_request_filter` sets the forwarding headers, `fail_to_proxy` turns
//! failures into 502 / 504, and `logging` records the outcome.
//!
//! The hooks here only hand over; each one's work is in its own module, in the order a
//! request goes through them: [`routing`] (with [`client_ip`] and [`authentication`]),
//! [`upstream_peer`], [`upstream_request`], [`request_body`], [`upstream_response`] (with
//! [`error_page`]), [`failures`], [`logging`]. [`heads`] reads the request head,
//! [`header_edits`] writes headers, [`answering`] sends Sluice's own answers, and
//! [`options`] holds the serving settings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};

use super::error_pages;
use super::mirror;
use super::outcome::InFlight;
use super::rate_limit::InProgress;
use super::request_id::{RequestId, RequestIds};
use super::trace::RequestTrace;
use crate::routes::Route;
use crate::state::State;

mod answering;
mod authentication;
mod client_ip;
mod error_page;
mod failures;
mod header_edits;
mod heads;
mod logging;
mod options;
mod request_body;
mod routing;
mod upstream_peer;
mod upstream_request;
mod upstream_response;

pub use options::{ClientTimeouts, ServeOptions};

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
    /// The route's mirrors have been given their copy (or it is waiting in `mirror`).
    mirrored: bool,
    /// The copy for the route's mirrors, waiting for the request's body.
    mirror: Option<mirror::Pending>,
    _in_flight: InFlight,
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
            mirrored: false,
            mirror: None,
            _in_flight: InFlight::start(&self.state),
        }
    }

    /// The compression module is never used; leaving it out saves work per request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    /// A body without a declared length is held to the route's limit as it arrives. The
    /// mirrors' copy takes the body as it passes.
    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.filter_request_body(session, body, end_of_stream, ctx)
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        self.route_request(session, ctx).await
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        self.pick_peer(session, ctx)
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
        self.retry_after_proxy_error(peer, session, e, ctx, client_reused)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        e: Box<Error>,
    ) -> Box<Error> {
        self.retry_after_connect_failure(ctx, e)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.prepare_upstream_request(session, upstream_request, ctx)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.filter_upstream_response(session, upstream_response, ctx)
            .await
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        self.answer_failure(session, e, ctx).await
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        self.log_request(session, error, ctx);
    }

    /// Failed requests are answered, counted and logged at debug by `logging`; Pingora's
    /// own error line per failure would flood the log under a dead backend.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        true
    }
}
