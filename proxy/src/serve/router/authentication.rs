//! Basic auth, external auth and the route's endpoints: whether a routed request goes on.

use http::header;
use pingora::proxy::Session;

use super::heads::{origin, request_host};
use super::{RequestCtx, Router};
use crate::auth::{self, external};
use crate::routes::Route;
use crate::serve::{answers, request_id};

impl Router {
    /// Basic auth, then external auth, then the endpoints: the answer that stops the
    /// request, if one does. What an auth service lets through with goes into `ctx`.
    pub(super) async fn authenticate(
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
}
