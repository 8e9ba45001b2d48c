//! OpenTelemetry spans of a request: one server span per request (continuing an incoming
//! `traceparent`), and a client span per upstream attempt whose context the upstream
//! receives in its own `traceparent`. Attributes follow the HTTP semantic conventions and
//! are only computed for sampled spans.
//!
//! Most requests are not sampled, so the decision for a request that arrives without a
//! trace context is made here, before any span: one that is not sampled gets ids only, no
//! SDK span, and still passes a `traceparent` (not sampled) upstream.

use std::net::SocketAddr;

use opentelemetry::trace::{
    Span, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SdkTracer, ShouldSample,
};
use pingora::http::RequestHeader;

use crate::routes::Route;

/// The proxy's tracing: the SDK tracer (whose provider samples every root span it is asked
/// for, `RootSampling::Caller`) and the ratio at which new traces are sampled.
#[derive(Clone, Debug)]
pub struct Tracing {
    pub tracer: SdkTracer,
    roots: Sampler,
}

impl Tracing {
    pub fn new(tracer: SdkTracer, ratio: f64) -> Self {
        Self {
            tracer,
            roots: Sampler::TraceIdRatioBased(ratio),
        }
    }
}

pub enum RequestTrace {
    /// Began here and not sampled: the request's ids, and nothing to record.
    Unsampled(SpanContext),
    /// Sampled, or continuing an incoming context: SDK spans.
    Spans(Spans),
}

pub struct Spans {
    server: Context,
    attempt: Option<Context>,
}

/// The span name before a route is known: the method, without an allocation for the usual ones.
fn method_name(method: &http::Method) -> std::borrow::Cow<'static, str> {
    match *method {
        http::Method::GET => "GET".into(),
        http::Method::POST => "POST".into(),
        http::Method::PUT => "PUT".into(),
        http::Method::DELETE => "DELETE".into(),
        http::Method::HEAD => "HEAD".into(),
        http::Method::PATCH => "PATCH".into(),
        http::Method::OPTIONS => "OPTIONS".into(),
        _ => method.as_str().to_string().into(),
    }
}

fn version(req: &RequestHeader) -> &'static str {
    match req.version {
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    }
}

impl RequestTrace {
    /// `details` (the normalised host, the client's address) are only asked for when the
    /// request is traced.
    pub fn start<'r>(
        tracing: &Tracing,
        req: &'r RequestHeader,
        tls: bool,
        details: impl FnOnce() -> (std::borrow::Cow<'r, str>, Option<SocketAddr>),
    ) -> Self {
        let parent = sluice_common::telemetry::extract(&req.headers);
        if !parent.has_active_span() {
            let ids = RandomIdGenerator::default();
            let trace_id = ids.new_trace_id();
            let decision = tracing
                .roots
                .should_sample(None, trace_id, "", &SpanKind::Server, &[], &[])
                .decision;
            if decision != SamplingDecision::RecordAndSample {
                return Self::Unsampled(SpanContext::new(
                    trace_id,
                    ids.new_span_id(),
                    TraceFlags::NOT_SAMPLED,
                    false,
                    TraceState::NONE,
                ));
            }
            // Sampled: the SDK starts the trace (with ids of its own).
        }
        let tracer = &tracing.tracer;
        let mut span = tracer
            .span_builder(method_name(&req.method))
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        if span.is_recording() {
            let (host, client) = details();
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
        Self::Spans(Spans {
            server: parent.with_span(span),
            attempt: None,
        })
    }

    /// The request matched `route`.
    pub fn matched(&self, route: &Route, method: &str) {
        if let Self::Spans(spans) = self {
            spans.matched(route, method);
        }
    }

    /// A new upstream attempt to `addr`; a previous one, if any, ended in failure.
    pub fn attempt(&mut self, tracer: &SdkTracer, method: &str, addr: SocketAddr, number: usize) {
        if let Self::Spans(spans) = self {
            spans.attempt(tracer, method, addr, number);
        }
    }

    /// The current attempt failed (connecting, or while proxying).
    pub fn attempt_failed(&mut self, error: &str) {
        if let Self::Spans(spans) = self {
            spans.attempt_failed(error);
        }
    }

    /// `traceparent` (of the current attempt) for the upstream request.
    pub fn inject(&self, request: &mut RequestHeader) {
        let mut set = |name, value| {
            let _ = request.insert_header(name, value);
        };
        match self {
            Self::Unsampled(context) => {
                sluice_common::telemetry::inject_span_context(context, &mut set)
            }
            Self::Spans(spans) => {
                let cx = spans.attempt.as_ref().unwrap_or(&spans.server);
                sluice_common::telemetry::inject(cx, &mut set);
            }
        }
    }

    /// Ends the spans with the response status.
    pub fn finish(&mut self, status: u16, attempts: usize, error: Option<String>) {
        if let Self::Spans(spans) = self {
            spans.finish(status, attempts, error);
        }
    }
}

impl Spans {
    /// Names the server span after the matched rule.
    fn matched(&self, route: &Route, method: &str) {
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

    fn attempt(&mut self, tracer: &SdkTracer, method: &str, addr: SocketAddr, number: usize) {
        // A request that is not sampled gets no attempt spans (they would not be sampled
        // either); its upstream receives the server span's context, marked not sampled.
        if !self.server.span().is_recording() {
            return;
        }
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

    fn attempt_failed(&mut self, error: &str) {
        if let Some(attempt) = self.attempt.take() {
            let span = attempt.span();
            span.set_attribute(KeyValue::new("error.type", error.to_string()));
            span.set_status(Status::error(error.to_string()));
            span.end();
        }
    }

    fn finish(&mut self, status: u16, attempts: usize, error: Option<String>) {
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
