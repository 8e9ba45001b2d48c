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
    Span, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

use crate::routes::Route;

/// The proxy's tracing: the SDK tracer (whose provider samples every root span it is asked
/// for, `RootSampling::Caller`) and the ratio at which new traces are sampled.
#[derive(Clone, Debug)]
pub struct Tracing {
    pub tracer: SdkTracer,
    /// A new trace is sampled when the low 63 bits of its id are below this.
    sample_below: u64,
}

impl Tracing {
    pub fn new(tracer: SdkTracer, ratio: f64) -> Self {
        // The SDK's `TraceIdRatioBased` rule, computed once: asking the SDK's sampler costs
        // every request a result to build and drop.
        let sample_below = if ratio >= 1.0 {
            u64::MAX
        } else {
            (ratio.max(0.0) * (1u64 << 63) as f64) as u64
        };
        Self {
            tracer,
            sample_below,
        }
    }

    /// Whether a trace that begins here with `id` is sampled.
    fn samples(&self, id: TraceId) -> bool {
        let bytes = id.to_bytes();
        let low = u64::from_be_bytes([
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
        ]);
        (low >> 1) < self.sample_below
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

/// Ids of traces that begin here. Trace ids must be unique and random, not secret: a fast
/// thread-local generator (wyrand, seeded from the OS) does, at a fraction of the cost of the
/// SDK's ChaCha-based one on a path every request takes.
fn new_trace_id() -> TraceId {
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return TraceId::from(id);
        }
    }
}

fn new_span_id() -> SpanId {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return SpanId::from(id);
        }
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
    /// `parent` is the incoming trace context, if any. `details` (the normalised host, the
    /// client's address) are only asked for when the request is traced.
    pub fn start<'r>(
        tracing: &Tracing,
        parent: Context,
        req: &Start<'_>,
        details: impl FnOnce() -> (std::borrow::Cow<'r, str>, Option<SocketAddr>),
    ) -> Self {
        if !parent.has_active_span() {
            let trace_id = new_trace_id();
            if !tracing.samples(trace_id) {
                return Self::Unsampled(SpanContext::new(
                    trace_id,
                    new_span_id(),
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

    /// `traceparent` (of the current attempt) for the upstream request, written with `set`
    /// as header name and value bytes.
    pub fn inject(&self, set: &mut dyn FnMut(&'static str, &[u8])) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};

    #[test]
    fn new_traces_are_sampled_as_the_sdk_would() {
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .build()
            .tracer("test");
        for ratio in [0.0, 0.01, 0.25, 0.5, 0.999, 1.0] {
            let ours = Tracing::new(tracer.clone(), ratio);
            let sdk = Sampler::TraceIdRatioBased(ratio);
            let mut sampled = 0;
            for _ in 0..20_000 {
                let id = new_trace_id();
                let decision = sdk
                    .should_sample(None, id, "", &SpanKind::Server, &[], &[])
                    .decision;
                assert_eq!(
                    ours.samples(id),
                    decision == SamplingDecision::RecordAndSample,
                    "ratio {ratio}, id {id}"
                );
                sampled += usize::from(ours.samples(id));
            }
            let share = sampled as f64 / 20_000.0;
            assert!((share - ratio).abs() < 0.02, "ratio {ratio}: {share}");
        }
    }
}
