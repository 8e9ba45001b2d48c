//! The request path: Pingora's hooks, in the order Pingora calls them.
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
use pingora::http::RequestHeader;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use sluice_crds::ingress::normalize_request_host;

use super::request_id::RequestIds;
use super::responses;
use super::trace::{RequestTrace, Tracing};
use crate::metrics::ServiceLabels;
use crate::routes::Route;
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
}

pub struct Router {
    pub state: Arc<State>,
    pub options: ServeOptions,
    pub request_ids: RequestIds,
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
    _in_flight: InFlight,
}

/// Counts a request as in flight until its context is dropped (after `logging`), which is
/// what a graceful shutdown waits for.
struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
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

#[async_trait]
impl ProxyHttp for Router {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        self.state.metrics.in_flight.inc();
        RequestCtx {
            started: Instant::now(),
            route: None,
            tried: Vec::new(),
            tls: false,
            note: None,
            trace: None,
            _in_flight: InFlight(self.state.clone()),
        }
    }

    /// The compression module is never used; leaving it out saves work per request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let ssl = session.digest().and_then(|d| d.ssl_digest.as_ref());
        ctx.tls = ssl.is_some();
        if self.options.require_tls13
            && ssl.is_some_and(|s| s.version.contains("1_2") || s.version.contains("1.2"))
        {
            ctx.note = Some("TLS 1.3 is required".into());
            responses::send(session, 426, "TLS 1.3 is required\n", None).await?;
            return Ok(true);
        }

        // `/api/../admin` must not match a rule for /api: a backend would resolve it to a
        // path another rule governs. Refuse dot segments rather than guess.
        if has_dot_segment(session.req_header().uri.path()) {
            responses::send(
                session,
                400,
                "400 Bad Request: the path has . or .. segments\n",
                None,
            )
            .await?;
            return Ok(true);
        }
        let table = self.state.table();
        let route = {
            let req = session.req_header();
            table.lookup(&request_host(req), req.uri.path()).cloned()
        };
        if let Some(tracing) = &self.options.tracing {
            let client = || session.client_addr().and_then(|a| a.as_inet()).copied();
            let req = session.req_header();
            let trace =
                RequestTrace::start(tracing, req, ctx.tls, || (request_host(req), client()));
            if let Some(route) = &route {
                trace.matched(route, session.req_header().method.as_str());
            }
            ctx.trace = Some(trace);
        }
        let Some(route) = route else {
            let req = session.req_header();
            let (host, path) = (request_host(req), req.uri.path());
            let message =
                format!("404 Not Found: no Ingress rule matches host {host:?} and path {path:?}\n");
            responses::send(session, 404, &message, None).await?;
            return Ok(true);
        };

        if route.redirect_to_https && !ctx.tls {
            let req = session.req_header();
            let location = responses::https_location(
                &request_host(req),
                self.options.https_redirect_port,
                req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            );
            responses::send(
                session,
                308,
                "308 Permanent Redirect to HTTPS\n",
                Some(&location),
            )
            .await?;
            ctx.route = Some(route);
            return Ok(true);
        }

        if route.backend.endpoints.is_empty() {
            let why = route
                .backend
                .problem
                .clone()
                .unwrap_or_else(|| format!("{} has no endpoints", route.backend.name));
            let message = format!("503 Service Unavailable: {why}\n");
            responses::send(session, 503, &message, None).await?;
            ctx.route = Some(route);
            return Ok(true);
        }

        if session.is_upgrade_req() {
            // A WebSocket tunnel may sit idle for long; the client side must not time out.
            session.set_read_timeout(None);
        }
        ctx.route = Some(route);
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
        let Some(addr) = route.backend.pick(&ctx.tried) else {
            return Error::e_explain(ErrorType::HTTPStatus(502), "every endpoint failed");
        };
        if !ctx.tried.is_empty() {
            self.state
                .metrics
                .upstream_retries
                .get_or_create(&ServiceLabels {
                    service: route.backend.name.clone(),
                })
                .inc();
        }
        ctx.tried.push(addr);
        if let (Some(trace), Some(tracing)) = (&mut ctx.trace, &self.options.tracing) {
            trace.attempt(
                &tracing.tracer,
                session.req_header().method.as_str(),
                addr,
                ctx.tried.len(),
            );
        }
        let mut peer = HttpPeer::new(addr, false, String::new());
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
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(route) = &ctx.route {
            self.state
                .metrics
                .upstream_connect_errors
                .get_or_create(&ServiceLabels {
                    service: route.backend.name.clone(),
                })
                .inc();
            if let Some(trace) = &mut ctx.trace {
                trace.attempt_failed(e.etype().as_str());
            }
            let untried_left = route.backend.endpoints.len() > ctx.tried.len();
            if untried_left && ctx.tried.len() < self.options.max_attempts {
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
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
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
            .is_some_and(|v| !v.is_empty() && v.len() <= 200);
        if !has_request_id {
            upstream_request.insert_header("x-request-id", self.request_ids.next())?;
        }
        if let Some(trace) = &ctx.trace {
            trace.inject(upstream_request);
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let backend = ctx
            .route
            .as_ref()
            .map(|r| r.backend.name.as_str())
            .unwrap_or("-");
        let (code, message) = match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(502), _)
            | (
                ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError,
                _,
            ) => (
                502,
                format!("502 Bad Gateway: could not connect to any endpoint of {backend}\n"),
            ),
            (ErrorType::HTTPStatus(c), _) => (*c, format!("{c}\n")),
            (
                ErrorType::ConnectTimedout
                | ErrorType::ReadTimedout
                | ErrorType::WriteTimedout
                | ErrorType::TLSHandshakeTimedout,
                ErrorSource::Upstream,
            ) => (
                504,
                format!("504 Gateway Timeout: {backend} did not answer in time\n"),
            ),
            (_, ErrorSource::Upstream) => (
                502,
                format!("502 Bad Gateway: the connection to {backend} failed\n"),
            ),
            (
                ErrorType::WriteError
                | ErrorType::ReadError
                | ErrorType::ConnectionClosed
                | ErrorType::ReadTimedout,
                ErrorSource::Downstream,
            ) => (0, String::new()),
            (_, ErrorSource::Downstream) => (400, "400 Bad Request\n".to_string()),
            _ => (500, "500 Internal Server Error\n".to_string()),
        };
        if code > 0 {
            ctx.note = Some(e.to_string());
            responses::send_error(session, code, &message).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        let elapsed = ctx.started.elapsed();
        let metrics = &self.state.metrics;
        let (ingress, service) = match &ctx.route {
            Some(r) => {
                r.series
                    .record(metrics, &r.ingress, &r.backend.name, status, elapsed);
                (r.ingress.as_str(), r.backend.name.as_str())
            }
            None => {
                metrics.unmatched.record(metrics, "", "", status, elapsed);
                ("", "")
            }
        };
        if let Some(trace) = &mut ctx.trace {
            trace.finish(
                status,
                ctx.tried.len(),
                error.map(|e| e.to_string()).or_else(|| ctx.note.clone()),
            );
        }
        tracing::debug!(
            method = %session.req_header().method,
            path = session.req_header().uri.path(),
            status,
            ingress,
            service,
            upstream = ?ctx.tried.last(),
            attempts = ctx.tried.len(),
            ms = elapsed.as_secs_f64() * 1000.0,
            error = error.map(|e| e.to_string()),
            "request"
        );
    }

    /// Failed requests are answered, counted and logged at debug by `logging`; Pingora's
    /// own error line per failure would flood the log under a dead backend.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        true
    }
}

/// Whether a path has a `.` or `..` segment, plain or percent-encoded.
fn has_dot_segment(path: &str) -> bool {
    // The common case, a path without dots, costs one scan.
    if !path.bytes().any(|b| b == b'.' || b == b'%') {
        return false;
    }
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments() {
        for bad in [
            "/api/../admin",
            "/api/..",
            "/./x",
            "/a/%2e%2e/b",
            "/a/.%2E",
            "/..",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for ok in ["/", "/api", "/a.b/c", "/...", "/.well-known/acme", "/a/..b"] {
            assert!(!has_dot_segment(ok), "{ok}");
        }
    }
}
