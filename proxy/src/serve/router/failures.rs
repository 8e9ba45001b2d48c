//! A request that could not be proxied: its answer (502 / 504 / the error page / ...).

use pingora::proxy::{FailToProxy, Session};
use pingora::{Error, ErrorSource, ErrorType};

use super::answering::discard_request_body;
use super::heads::origin;
use super::{RequestCtx, Router};
use crate::serve::answers::{self, Failure};
use crate::serve::responses;

impl Router {
    /// [`ProxyHttp::fail_to_proxy`](pingora::proxy::ProxyHttp::fail_to_proxy): answers
    /// the failure, unless the client is gone.
    pub(super) async fn answer_failure(
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
}
