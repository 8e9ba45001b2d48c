//! What a finished request leaves: the access log line, metrics, the trace's end.

use http::header;
use pingora::Error;
use pingora::proxy::Session;

use super::heads::{head_length, protocol};
use super::{RequestCtx, Router};
use crate::serve::access_log::Exchange;
use crate::serve::outcome::{Finished, finish};
use crate::serve::request_id;

impl Router {
    /// [`ProxyHttp::logging`](pingora::proxy::ProxyHttp::logging).
    pub(super) fn log_request(
        &self,
        session: &mut Session,
        error: Option<&Error>,
        ctx: &mut RequestCtx,
    ) {
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
}
