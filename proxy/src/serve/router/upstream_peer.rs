//! Which endpoint gets the request, and whether a failed attempt is tried again.

use std::time::{Duration, Instant};

use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use sluice_crds::annotations::DEFAULT_SEND_TIMEOUT;

use super::heads::affinity_token;
use super::{RequestCtx, Router};
use crate::routes::endpoint_token;

/// Streams one HTTP/2 backend connection carries at once (fewer if the backend says so).
const MAX_H2_STREAMS_PER_BACKEND_CONNECTION: usize = 100;

impl Router {
    /// [`ProxyHttp::upstream_peer`](pingora::proxy::ProxyHttp::upstream_peer): the next
    /// endpoint (the affinity cookie's, else round robin), and how to reach it.
    pub(super) fn pick_peer(
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
            // Calls share a backend connection, up to what the backend allows: one
            // connection per call in flight (Pingora's default) costs a connection task and
            // its own frames and writes for every call.
            peer.options.max_h2_streams = MAX_H2_STREAMS_PER_BACKEND_CONNECTION;
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

    /// [`ProxyHttp::error_while_proxy`](pingora::proxy::ProxyHttp::error_while_proxy):
    /// whether the request is sent once more after its connection broke.
    pub(super) fn retry_after_proxy_error(
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

    /// [`ProxyHttp::fail_to_connect`](pingora::proxy::ProxyHttp::fail_to_connect): counts
    /// the failure, and tries another endpoint while there is one and attempts are left.
    pub(super) fn retry_after_connect_failure(
        &self,
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
}
