//! The request body as it passes: the route's size limit, the mirrors' copy.

use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::{RequestCtx, Router};
use crate::serve::answers;

impl Router {
    /// [`ProxyHttp::request_body_filter`](pingora::proxy::ProxyHttp::request_body_filter):
    /// A body without a declared length is held to the route's limit as it arrives. The
    /// mirrors' copy takes the body as it passes.
    pub(super) fn filter_request_body(
        &self,
        session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(copy) = &mut ctx.mirror
            && !body.as_ref().is_none_or(|b| copy.push(b))
        {
            ctx.mirror = None;
        }
        if end_of_stream && let Some(copy) = ctx.mirror.take() {
            copy.send();
        }
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
}
