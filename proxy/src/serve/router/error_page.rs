//! The default backend's page for a backend's error (`custom-http-errors`).

use pingora::proxy::Session;

use super::{RequestCtx, Router};
use crate::serve::{error_pages, request_id};

impl Router {
    /// The default backend's page for a backend response of `status`, when the route's
    /// Ingress asks for one (`custom-http-errors`) and the default backend gives it.
    pub(super) async fn error_page(
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
