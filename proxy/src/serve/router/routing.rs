//! A request's head: refused, answered by Sluice, or matched to a route whose backend
//! gets it.

use std::net::SocketAddr;

use http::header;
use pingora::Result;
use pingora::proxy::Session;

use super::heads::{HeaderFacts, header_str, malformed, origin, request_host, version};
use super::{RequestCtx, Router};
use crate::serve::answers;
use crate::serve::tls::{ClientSni, is_tls12};
use crate::serve::trace::{self, RequestTrace};

impl Router {
    /// [`ProxyHttp::request_filter`](pingora::proxy::ProxyHttp::request_filter): matches
    /// the route, or answers the request itself (`true`: answered).
    pub(super) async fn route_request(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
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
        // The table of the port the request came in on (one per Gateway listener port).
        let tables = self.state.tables();
        let local_port = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port());
        let table = tables.for_port(local_port);
        let misdirected = ssl
            .and_then(|s| s.extension.get::<ClientSni>())
            .is_some_and(|sni| {
                table
                    .tls
                    .misdirected(&sni.0, &request_host(session.req_header()))
            });
        if let Some(answer) =
            answers::refusal(tls12_refused, misdirected, session.req_header().uri.path())
        {
            if tls12_refused {
                ctx.note = Some(answer.body.trim_end().to_string());
            }
            self.answer(session, &answer).await?;
            return Ok(true);
        }
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
}
