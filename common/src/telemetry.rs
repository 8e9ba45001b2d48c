//! Logs and OpenTelemetry traces.
//!
//! Logs go to stderr. With an OTLP endpoint, spans are exported over OTLP (gRPC, or HTTP
//! with protobuf) through a batch processor with a bounded queue: when the collector is slow
//! or gone, spans are dropped, never waited for. Sampling is parent-based: a request that
//! arrives with a sampled `traceparent` is traced, one without is sampled at the ratio.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, reload};

pub use sluice_crds::params::{LogFormat, OtlpProtocol};

/// Where and how much to trace.
#[derive(Clone, Debug)]
pub struct TraceConfig {
    /// The binary's name, as `service.name`.
    pub service: &'static str,
    /// No endpoint: no tracing at all (and no cost).
    pub endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// Share of new traces recorded, 0.0..=1.0.
    pub sampling_ratio: f64,
    pub roots: RootSampling,
}

/// Who decides whether a trace that starts in this process is sampled. A span with a
/// parent always follows its parent's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootSampling {
    /// The SDK, at `sampling_ratio`.
    Sdk,
    /// The caller, before it starts a span, so that what it does not sample costs no span
    /// at all (the proxy's requests); every root span the SDK is asked for is sampled.
    Caller,
}

/// Keeps the exporter alive; dropping it flushes what is queued (briefly) and stops it.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    level: LogLevelControl,
}

impl Telemetry {
    /// A tracer for spans made directly (the proxy's request path), if tracing is on.
    pub fn tracer(&self, name: &'static str) -> Option<SdkTracer> {
        self.provider.as_ref().map(|p| p.tracer(name))
    }

    /// Changes the log level while running.
    pub fn level(&self) -> LogLevelControl {
        self.level.clone()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
        }
    }
}

/// Sets the level of the log while the process runs (the proxy's access log has a switch
/// of its own). RUST_LOG,
/// when set, wins over every level set here, as it wins over the flag.
#[derive(Clone)]
pub struct LogLevelControl {
    handle: reload::Handle<EnvFilter, Registry>,
    pinned_by_env: bool,
    current: Arc<Mutex<String>>,
}

impl LogLevelControl {
    /// Switches to `level` (a filter directive such as `debug`); `Ok(true)` if it changed.
    pub fn set(&self, level: &str) -> anyhow::Result<bool> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if self.pinned_by_env || *current == level {
            return Ok(false);
        }
        let filter = EnvFilter::try_new(level).with_context(|| format!("log level {level:?}"))?;
        self.handle
            .reload(filter)
            .context("cannot change the log level")?;
        *current = level.to_string();
        Ok(true)
    }
}

/// The most spans waiting for export; beyond it new spans are dropped.
const MAX_QUEUE: usize = 4096;

/// Sets up logging and, with an endpoint, tracing. Must run inside a tokio runtime when
/// tracing (the exporter's client lives on it).
pub fn init(level: &str, format: LogFormat, trace: &TraceConfig) -> anyhow::Result<Telemetry> {
    use std::io::IsTerminal;
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned_by_env = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    }
    .with_filter(filter);

    let provider = match &trace.endpoint {
        Some(endpoint) => Some(provider(trace, endpoint)?),
        None => None,
    };
    // Sluice's own spans (reconciles, reviews) are exported; libraries' are not.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(trace.service))
            .with_filter(
                Targets::new()
                    .with_target("sluice_operator", LevelFilter::INFO)
                    .with_target("sluice_webhook", LevelFilter::INFO)
                    .with_target("sluice_proxy", LevelFilter::INFO),
            )
    });
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()?;
    if let Some(endpoint) = &trace.endpoint {
        tracing::info!(endpoint, protocol = ?trace.protocol, ratio = trace.sampling_ratio, "exporting traces");
    }
    Ok(Telemetry {
        provider,
        level: LogLevelControl {
            handle,
            pinned_by_env,
            current: Arc::new(Mutex::new(level.to_string())),
        },
    })
}

fn provider(trace: &TraceConfig, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let timeout = Duration::from_secs(5);
    let https = endpoint.starts_with("https://");
    let exporter = match trace.protocol {
        OtlpProtocol::Grpc => {
            let builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(timeout);
            // https: verify the collector against the system's trusted certificates.
            let builder = if https {
                builder
                    .with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
            } else {
                builder
            };
            builder.build()?
        }
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OnRuntime::new(timeout, https)?)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(http_traces_url(endpoint))
            .with_timeout(timeout)
            .with_headers(Default::default())
            .build()?,
    };
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(MAX_QUEUE)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
    let roots = match trace.roots {
        RootSampling::Sdk => Sampler::TraceIdRatioBased(trace.sampling_ratio.clamp(0.0, 1.0)),
        RootSampling::Caller => Sampler::AlwaysOn,
    };
    Ok(SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(roots)))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(trace.service)
                .build(),
        )
        .with_span_processor(processor)
        .build())
}

/// The OTLP/HTTP client. The batch processor exports from a thread of its own, outside any
/// Tokio runtime, where hyper's client cannot run (it panics); so each export is handed to
/// the runtime that was current when telemetry was set up, and the processor waits for it.
/// `https://` collectors are verified against the system's trusted certificates.
#[derive(Debug)]
struct OnRuntime {
    client: std::sync::Arc<dyn opentelemetry_http::HttpClient>,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new(timeout: Duration, https: bool) -> anyhow::Result<Self> {
        use opentelemetry_http::hyper::HyperClient;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            anyhow::anyhow!("OTLP/HTTP export must be set up inside a Tokio runtime")
        })?;
        let client: std::sync::Arc<dyn opentelemetry_http::HttpClient> = if https {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .context("no trusted certificate authorities to verify the https:// collector")?
                .https_only()
                .enable_http1()
                .build();
            std::sync::Arc::new(HyperClient::new(connector, timeout, None))
        } else {
            std::sync::Arc::new(HyperClient::with_default_connector(timeout, None))
        };
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}

/// A sampling ratio flag: a number from 0 to 1.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("must be a number from 0 to 1".into()),
    }
}

/// `http://collector:4318` → `http://collector:4318/v1/traces`; a URL with a path is kept.
fn http_traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .map(|(_, rest)| rest.contains('/'))
        .unwrap_or(false);
    if has_path {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

/// W3C trace context in and out of HTTP headers.
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    // Most requests carry no trace context: skip the propagator's lookups for them.
    if !headers.contains_key(TRACEPARENT) {
        return opentelemetry::Context::new();
    }
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// [`extract`] for a request whose headers are not in a `HeaderMap`.
pub fn extract_values(traceparent: &str, tracestate: Option<&str>) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&PairExtractor {
        traceparent,
        tracestate,
    })
}

struct PairExtractor<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for PairExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// Writes `traceparent` (and `tracestate`, when there is one) for `cx` with `set`, as
/// header name and value bytes.
pub fn inject(cx: &opentelemetry::Context, set: &mut dyn FnMut(&'static str, &[u8])) {
    inject_span_context(cx.span().span_context(), set);
}

/// [`inject`] for a span context held without an SDK span.
///
/// The W3C format is written by hand: the SDK's propagator goes through `format!`, and on
/// the proxy's path that was most of what tracing cost a request that is not sampled.
pub fn inject_span_context(context: &SpanContext, set: &mut dyn FnMut(&'static str, &[u8])) {
    if !context.is_valid() {
        return;
    }
    set("traceparent", &traceparent(context));
    if *context.trace_state() != opentelemetry::trace::TraceState::NONE {
        let state = context.trace_state().header();
        // A valid trace state is visible ASCII; anything else is not passed on.
        if !state.is_empty() && state.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            set("tracestate", state.as_bytes());
        }
    }
}

/// `00-{trace id}-{span id}-{flags}`, version 00, with only the sampled flag carried on.
fn traceparent(context: &SpanContext) -> [u8; 55] {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let flags = [(context.trace_flags() & TraceFlags::SAMPLED).to_u8()];
    for (range, bytes) in [
        (3..35, &context.trace_id().to_bytes()[..]),
        (36..52, &context.span_id().to_bytes()[..]),
        (53..55, &flags[..]),
    ] {
        hex_into(&mut out[range], bytes);
    }
    out
}

/// Writes `bytes` as lower-case hex digits into `out` (twice their length), without the
/// formatting machinery: ids are written on every request.
pub fn hex_into(out: &mut [u8], bytes: &[u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
}

/// Each byte's two lower-case hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    pairs
};

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints_get_the_traces_path() {
        assert_eq!(http_traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(http_traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            http_traces_url("https://c/otlp/v1/traces"),
            "https://c/otlp/v1/traces"
        );
    }

    #[test]
    fn trace_context_round_trips_through_headers() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let cx = extract(&headers);
        let from_values = extract_values(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("vendor=x"),
        );
        assert_eq!(
            from_values.span().span_context().trace_id(),
            cx.span().span_context().trace_id()
        );
        assert_eq!(
            from_values.span().span_context().trace_state().header(),
            "vendor=x"
        );
        let mut out = Vec::new();
        inject(&cx, &mut |k, v| out.push((k, v.to_vec())));
        assert_eq!(
            out,
            [(
                "traceparent",
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()
            )]
        );
    }

    #[test]
    fn injected_headers_are_what_the_sdk_propagator_writes() {
        use opentelemetry::propagation::Injector;
        use opentelemetry::trace::{SpanId, TraceId, TraceState};
        use std::collections::BTreeMap;

        struct Map(BTreeMap<String, String>);
        impl Injector for Map {
            fn set(&mut self, key: &str, value: String) {
                if !value.is_empty() {
                    self.0.insert(key.into(), value);
                }
            }
        }
        let state = TraceState::from_key_value([("vendor", "x"), ("other", "1")]).unwrap();
        for (flags, state) in [
            (TraceFlags::SAMPLED, TraceState::default()),
            (TraceFlags::NOT_SAMPLED, TraceState::default()),
            (TraceFlags::new(0xff), state),
        ] {
            let context = SpanContext::new(
                TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128),
                SpanId::from(0x00f067aa0ba902b7_u64),
                flags,
                true,
                state,
            );
            let cx = opentelemetry::Context::new().with_remote_span_context(context);
            let mut sdk = Map(BTreeMap::new());
            TraceContextPropagator::new().inject_context(&cx, &mut sdk);
            let mut ours = BTreeMap::new();
            inject(&cx, &mut |k, v| {
                ours.insert(k.to_string(), String::from_utf8(v.to_vec()).unwrap());
            });
            assert_eq!(ours, sdk.0);
        }
        let mut nothing = Vec::new();
        inject(&opentelemetry::Context::new(), &mut |k, v| {
            nothing.push((k, v.to_vec()))
        });
        assert!(nothing.is_empty(), "no span, no traceparent");
    }
}
