//! The response head the client gets from a backend: checked, its hop-by-hop headers
//! dropped, the route's headers and cookies set; or replaced by an error page.

use http::header;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::header_edits::{edit_headers, set_response_headers};
use super::heads::origin;
use super::{RequestCtx, Router};
use crate::auth::external;
use crate::serve::{answers, hygiene};

impl Router {
    /// [`ProxyHttp::upstream_response_filter`](pingora::proxy::ProxyHttp::upstream_response_filter).
    pub(super) async fn filter_upstream_response(
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
}
