//! OpenTelemetry spans of a request: one server span per request (continuing an incoming
//! `traceparent`), and a client span per upstream attempt whose context the upstream
//! receives in its own `traceparent`. Attributes follow the HTTP semantic conventions and
//! are only computed for sampled spans.
//!
//! Most requests are not sampled, so the decision for a request that arrives without a
//! trace context is made here, before any span: one that is not sampled gets ids only, no
//! SDK span, and still passes a `traceparent` (not sampled) upstream.

use std::net::SocketAddr;

use http::HeaderValue;
use opentelemetry::trace::{
    Span, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SdkTracer, ShouldSample,
};

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
fn method_name(method: &str) -> std::borrow::Cow<'static, str> {
    match method {
        "GET" => "GET".into(),
        "POST" => "POST".into(),
        "PUT" => "PUT".into(),
        "DELETE" => "DELETE".into(),
        "HEAD" => "HEAD".into(),
        "PATCH" => "PATCH".into(),
        "OPTIONS" => "OPTIONS".into(),
        _ => method.to_string().into(),
    }
}

/// What the server span records of a request.
pub struct Start<'r> {
    pub method: &'r str,
    pub path: &'r str,
    /// `1.1`, `2`, …
    pub version: &'static str,
    pub tls: bool,
}

impl RequestTrace {
    /// `details` (the normalised host, the client's address) are only asked for when the
    /// request is traced.
    /// `parent` is the incoming trace context, if any.
    pub fn start<'r>(
        tracing: &Tracing,
        parent: Context,
        req: &Start<'_>,
        details: impl FnOnce() -> (std::borrow::Cow<'r, str>, Option<SocketAddr>),
    ) -> Self {
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
            .span_builder(method_name(req.method))
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        if span.is_recording() {
            let (host, client) = details();
            span.set_attributes([
                KeyValue::new("http.request.method", req.method.to_string()),
                KeyValue::new("url.path", req.path.to_string()),
                KeyValue::new("url.scheme", if req.tls { "https" } else { "http" }),
                KeyValue::new("server.address", host.to_string()),
                KeyValue::new("network.protocol.version", req.version),
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

    /// `traceparent` (of the current attempt) for the upstream request, written with `set`.
    pub fn inject(&self, set: &mut dyn FnMut(&'static str, HeaderValue)) {
        match self {
            Self::Unsampled(context) => sluice_common::telemetry::inject_span_context(context, set),
            Self::Spans(spans) => {
                let cx = spans.attempt.as_ref().unwrap_or(&spans.server);
                sluice_common::telemetry::inject(cx, set);
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
