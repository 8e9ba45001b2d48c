//! The request head the backend gets: forwarding headers, the request id, auth's headers,
//! the route's edits and rewrite, the trace context; and the mirrors' copy of it.

use http::header;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::header_edits::edit_headers;
use super::{RequestCtx, Router};
use crate::serve::{hygiene, mirror, request_id};

impl Router {
    /// [`ProxyHttp::upstream_request_filter`](pingora::proxy::ProxyHttp::upstream_request_filter).
    pub(super) fn prepare_upstream_request(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client_ip = self.client(session, ctx).map(|ip| ip.to_string());
        // Hop-by-hop headers, the forwarding headers set below, names with underscores.
        let dropped: Vec<http::HeaderName> = upstream_request
            .headers
            .keys()
            .filter(|name| !hygiene::forwarded(name.as_str().as_bytes()))
            .cloned()
            .collect();
        for name in &dropped {
            upstream_request.remove_header(name);
        }
        if session.is_http2()
            && let Some(cookie) = hygiene::joined_cookies(
                upstream_request
                    .headers
                    .get_all(header::COOKIE)
                    .iter()
                    .map(|v| v.as_bytes()),
            )
        {
            upstream_request.insert_header(header::COOKIE, cookie)?;
        }
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
            .is_some_and(|v| request_id::usable(v.as_bytes()));
        if !has_request_id {
            let id = *ctx
                .request_id
                .get_or_insert_with(|| self.request_ids.next());
            upstream_request.insert_header("x-request-id", id.as_str())?;
        }
        if let Some(host) = ctx.route.as_ref().and_then(|r| r.upstream_host.as_deref()) {
            upstream_request.insert_header(header::HOST, host)?;
        }
        // Basic auth consumed the credentials: the backend does not get them (ingress-nginx).
        if ctx.route.as_ref().is_some_and(|r| r.basic_auth.is_some()) {
            upstream_request.remove_header(&header::AUTHORIZATION);
        }
        for (name, value) in std::mem::take(&mut ctx.auth_headers) {
            match value {
                Some(value) => upstream_request.insert_header(name, value)?,
                None => {
                    upstream_request.remove_header(&name);
                }
            }
        }
        if let Some(edits) = ctx
            .route
            .as_ref()
            .and_then(|r| r.request_headers.as_deref())
        {
            edit_headers(upstream_request, edits)?;
        }
        if let Some(rewrite) = ctx.route.as_ref().and_then(|r| r.rewrite.as_ref()) {
            let uri = &session.req_header().uri;
            if let Some(target) = rewrite.target(uri.path(), uri.query()) {
                let uri = target.parse::<http::Uri>().map_err(|e| {
                    Error::because(ErrorType::InternalError, "the rewritten path", e)
                })?;
                upstream_request.set_uri(uri);
                if let Some(prefix) = &rewrite.forwarded_prefix {
                    upstream_request.insert_header("x-forwarded-prefix", prefix.as_ref())?;
                }
            }
        }
        if let Some(trace) = &ctx.trace {
            trace.inject(&mut |name, value| {
                if let Ok(value) = http::HeaderValue::from_bytes(value) {
                    let _ = upstream_request.insert_header(name, value);
                }
            });
        }
        // Once per request, whatever the attempts: the copy is what the backend gets.
        if !ctx.mirrored
            && let Some(mirrors) = ctx.route.as_ref().and_then(|r| r.mirrors.clone())
        {
            ctx.mirrored = true;
            let copy = mirror::Pending::new(mirrors, upstream_request);
            if session.is_body_empty() {
                copy.send();
            } else {
                ctx.mirror = Some(copy);
            }
        }
        Ok(())
    }
}
