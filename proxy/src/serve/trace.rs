//! OpenTelemetry spans of a request: one server span per request (continuing an incoming
//! `traceparent`), and a client span per upstream attempt whose context the upstream
//! receives in its own `traceparent`. Attributes follow the HTTP semantic conventions and
//! are only computed for sampled spans.

use std::net::SocketAddr;

use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use pingora::http::RequestHeader;

use crate::routes::Route;

pub struct RequestTrace {
    server: Context,
    attempt: Option<Context>,
}

fn version(req: &RequestHeader) -> &'static str {
    match req.version {
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    }
}

impl RequestTrace {
    pub fn start(
        tracer: &SdkTracer,
        req: &RequestHeader,
        host: &str,
        tls: bool,
        client: Option<SocketAddr>,
    ) -> Self {
        let parent = sluice_common::telemetry::extract(&req.headers);
        let mut span = tracer
            .span_builder(req.method.as_str().to_string())
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("http.request.method", req.method.as_str().to_string()),
                KeyValue::new("url.path", req.uri.path().to_string()),
                KeyValue::new("url.scheme", if tls { "https" } else { "http" }),
                KeyValue::new("server.address", host.to_string()),
                KeyValue::new("network.protocol.version", version(req)),
            ]);
            if let Some(client) = client {
                span.set_attribute(KeyValue::new("client.address", client.ip().to_string()));
            }
        }
        Self {
            server: parent.with_span(span),
            attempt: None,
        }
    }

    /// The request matched `route`: name the span after it.
    pub fn matched(&self, route: &Route, method: &str) {
        let span = self.server.span();
        if !span.is_recording() {
            return;
        }
        let path = route
            .path
            .as_ref()
            .map_or("(default backend)", |p| p.path.as_str());
        span.update_name(format!("{method} {path}"));
        span.set_attribute(KeyValue::new("http.route", path.to_string()));
        span.set_attribute(KeyValue::new("sluice.ingress", route.ingress.clone()));
        span.set_attribute(KeyValue::new("sluice.service", route.backend.name.clone()));
    }

    /// A new upstream attempt to `addr`; a previous one, if any, ended in failure.
    pub fn attempt(&mut self, tracer: &SdkTracer, method: &str, addr: SocketAddr, number: usize) {
        let mut span = tracer
            .span_builder(method.to_string())
            .with_kind(SpanKind::Client)
            .start_with_context(tracer, &self.server);
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("server.address", addr.ip().to_string()),
                KeyValue::new("server.port", i64::from(addr.port())),
                KeyValue::new("sluice.attempt", number as i64),
            ]);
        }
        if let Some(previous) = self.attempt.replace(self.server.with_span(span)) {
            previous.span().end();
        }
    }

    /// The current attempt failed (connecting, or while proxying).
    pub fn attempt_failed(&mut self, error: &str) {
        if let Some(attempt) = self.attempt.take() {
            let span = attempt.span();
            span.set_attribute(KeyValue::new("error.type", error.to_string()));
            span.set_status(Status::error(error.to_string()));
            span.end();
        }
    }

    /// `traceparent` (of the current attempt) for the upstream request.
    pub fn inject(&self, request: &mut RequestHeader) {
        let cx = self.attempt.as_ref().unwrap_or(&self.server);
        sluice_common::telemetry::inject(cx, &mut |name, value| {
            let _ = request.insert_header(name, value);
        });
    }

    /// Ends the spans with the response status.
    pub fn finish(&mut self, status: u16, attempts: usize, error: Option<String>) {
        if let Some(attempt) = self.attempt.take() {
            let span = attempt.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            span.end();
        }
        let span = self.server.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            span.set_attribute(KeyValue::new("sluice.upstream.attempts", attempts as i64));
            if status >= 500 || status == 0 {
                let why = error.unwrap_or_else(|| status.to_string());
                span.set_attribute(KeyValue::new("error.type", status.to_string()));
                span.set_status(Status::error(why));
            }
        }
        span.end();
    }
}
