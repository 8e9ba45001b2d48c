//! The proxy's Prometheus metrics, all prefixed `sluice_proxy_`.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::compile::{Problem, ProblemKind};

/// A backend Service, as labels apart (so that joins with kube-state-metrics work): its
/// namespace, name and port (a number, or a port name). All empty for a request that
/// matched no rule.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub namespace: String,
    pub service: String,
    pub service_port: String,
}

impl ServiceLabels {
    /// From a backend's name, `namespace/service:port`.
    pub fn of(backend: &str) -> Self {
        let (namespace, rest) = backend.split_once('/').unwrap_or(("", backend));
        let (service, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        Self {
            namespace: namespace.to_string(),
            service: service.to_string(),
            service_port: port.to_string(),
        }
    }
}

/// A route's series: the Ingress's name (in the Service's namespace) and the backend.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub namespace: String,
    pub ingress: String,
    pub service: String,
    pub service_port: String,
}

impl RouteLabels {
    /// From `namespace/name` of the Ingress and `namespace/service:port` of the backend.
    pub fn of(ingress: &str, backend: &str) -> Self {
        let backend = ServiceLabels::of(backend);
        let (namespace, name) = ingress.split_once('/').unwrap_or(("", ingress));
        Self {
            namespace: if namespace.is_empty() {
                backend.namespace
            } else {
                namespace.to_string()
            },
            ingress: name.to_string(),
            service: backend.service,
            service_port: backend.service_port,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    #[prometheus(flatten)]
    pub route: RouteLabels,
    /// `2xx`, `4xx`, ...
    pub status_class: &'static str,
}

/// A request's series with the opt-in labels: the method (`OTHER` beyond the standard
/// ones), the exact status, and the matched rule's host (never the request's Host, which a
/// client could vary without end).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DetailedLabels {
    #[prometheus(flatten)]
    pub route: RouteLabels,
    pub method: &'static str,
    pub status: u16,
    pub host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub cap: &'static str,
}

/// A TLS Secret served by SNI.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SecretLabels {
    pub namespace: String,
    pub secret: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    /// `sni`: a certificate from an Ingress's Secret; `default`: the default one.
    pub certificate: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabels {
    pub kind: &'static str,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    /// Count `requests_detailed` too.
    detailed_labels: bool,
    pub requests: Family<RequestLabels, Counter>,
    pub requests_detailed: Family<DetailedLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram>,
    pub upstream_response_duration: Family<RouteLabels, Histogram>,
    pub request_size: Family<RouteLabels, Histogram>,
    pub response_size: Family<RouteLabels, Histogram>,
    pub certificate_expiry: Family<SecretLabels, Gauge>,
    pub access_log_dropped_lines: Gauge,
    pub client_connections: Gauge,
    pub connections_refused: Family<RefusedLabels, Counter>,
    /// Connections closed for want of a valid PROXY protocol header (`--proxy-protocol`).
    pub proxy_protocol_refused: Counter,
    pub upstream_connect_errors: Family<ServiceLabels, Counter>,
    pub upstream_retries: Family<ServiceLabels, Counter>,
    pub reloads: Counter,
    pub reload_duration: Histogram,
    pub endpoint_updates: Counter,
    pub endpoint_update_duration: Histogram,
    pub changes_ignored: Counter,
    pub routes: Gauge,
    pub ingresses: Gauge,
    pub problems: Family<ProblemLabels, Gauge>,
    pub source_errors: Counter,
    /// 1 while the configuration source is followed, 0 while it fails.
    pub source_healthy: Gauge,
    pub tls_handshakes: Counter,
    pub tls_certificates: Family<CertificateLabels, Counter>,
    pub in_flight: Gauge,
    /// The series of requests that matched no route.
    pub unmatched: RouteSeries,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn size_histogram() -> Histogram {
    // 64 B .. 64 MiB, by powers of 4
    Histogram::new(exponential_buckets(64.0, 4.0, 11))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Metrics {
    /// `detailed_labels`: also count requests by method, status and host.
    pub fn new(detailed_labels: bool) -> Self {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("sluice_proxy")),
            detailed_labels,
            requests: Family::default(),
            requests_detailed: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            upstream_response_duration: Family::new_with_constructor(latency_histogram),
            request_size: Family::new_with_constructor(size_histogram),
            response_size: Family::new_with_constructor(size_histogram),
            certificate_expiry: Family::default(),
            access_log_dropped_lines: Gauge::default(),
            client_connections: Gauge::default(),
            connections_refused: Family::default(),
            proxy_protocol_refused: Counter::default(),
            upstream_connect_errors: Family::default(),
            upstream_retries: Family::default(),
            reloads: Counter::default(),
            reload_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            endpoint_updates: Counter::default(),
            endpoint_update_duration: Histogram::new(exponential_buckets(0.00001, 2.0, 18)),
            changes_ignored: Counter::default(),
            routes: Gauge::default(),
            ingresses: Gauge::default(),
            problems: Family::default(),
            source_errors: Counter::default(),
            source_healthy: Gauge::default(),
            tls_handshakes: Counter::default(),
            tls_certificates: Family::default(),
            in_flight: Gauge::default(),
            unmatched: RouteSeries::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|e| e.into_inner());
            sluice_common::build_info::register(&mut r, "proxy", env!("CARGO_PKG_VERSION"));
            r.register(
                "requests",
                "Requests answered, by Ingress, Service and status class",
                m.requests.clone(),
            );
            r.register(
                "request_duration_seconds",
                "Time from the request's arrival to the end of its response, by Ingress and Service",
                m.request_duration.clone(),
            );
            if detailed_labels {
                r.register(
                    "requests_detailed",
                    "Requests answered, by Ingress, Service, method, status and the matched rule's host",
                    m.requests_detailed.clone(),
                );
            }
            r.register(
                "upstream_response_duration_seconds",
                "Time from sending a request to the endpoint that answered it until its response ended, by Ingress and Service",
                m.upstream_response_duration.clone(),
            );
            r.register(
                "request_size_bytes",
                "Request sizes, head and body, by Ingress and Service",
                m.request_size.clone(),
            );
            r.register(
                "response_size_bytes",
                "Response body sizes sent to clients, by Ingress and Service",
                m.response_size.clone(),
            );
            r.register(
                "tls_certificate_expiry_timestamp_seconds",
                "When the certificate of each TLS Secret served by SNI expires (notAfter, Unix seconds)",
                m.certificate_expiry.clone(),
            );
            r.register(
                "access_log_dropped_lines",
                "Access log lines dropped because stderr could not take them fast enough (requests are never slowed by the log)",
                m.access_log_dropped_lines.clone(),
            );
            r.register(
                "client_connections",
                "Client connections held now",
                m.client_connections.clone(),
            );
            r.register(
                "client_connections_refused",
                "Client connections closed at once because a cap was reached, by cap (total or per_address)",
                m.connections_refused.clone(),
            );
            r.register(
                "proxy_protocol_refused",
                "Client connections closed because they did not start with a valid PROXY protocol header (with --proxy-protocol)",
                m.proxy_protocol_refused.clone(),
            );
            r.register(
                "upstream_connect_errors",
                "Failed attempts to connect to an endpoint, by Service",
                m.upstream_connect_errors.clone(),
            );
            r.register(
                "upstream_retries",
                "Requests retried on another endpoint after a failed connect, by Service",
                m.upstream_retries.clone(),
            );
            r.register(
                "route_reloads",
                "Route tables compiled in full and swapped in",
                m.reloads.clone(),
            );
            r.register(
                "route_reload_duration_seconds",
                "Time to compile a route table",
                m.reload_duration.clone(),
            );
            r.register(
                "endpoint_updates",
                "Endpoint lists refreshed in place after Service or EndpointSlice changes, without recompiling the route table",
                m.endpoint_updates.clone(),
            );
            r.register(
                "endpoint_update_duration_seconds",
                "Time to refresh the endpoint lists of the Services that changed",
                m.endpoint_update_duration.clone(),
            );
            r.register(
                "config_changes_ignored",
                "Object changes that cannot change routing (status, resourceVersion, annotations Sluice does not read...), ignored",
                m.changes_ignored.clone(),
            );
            r.register(
                "routes",
                "Host and path routes in the current table",
                m.routes.clone(),
            );
            r.register(
                "ingresses",
                "Ingresses in the current table",
                m.ingresses.clone(),
            );
            r.register(
                "config_problems",
                "Problems found in the current configuration, by kind (see /routes)",
                m.problems.clone(),
            );
            r.register(
                "config_source_errors",
                "Times the configuration could not be read (the last good table kept serving)",
                m.source_errors.clone(),
            );
            r.register(
                "config_source_healthy",
                "1 while the configuration source is followed; 0 while watching it fails and the last good table serves (see /readyz)",
                m.source_healthy.clone(),
            );
            r.register(
                "tls_handshakes",
                "Completed TLS handshakes",
                m.tls_handshakes.clone(),
            );
            r.register(
                "tls_certificate_selections",
                "TLS handshakes that reached certificate selection, by the certificate chosen; those that did not complete are selections minus handshakes",
                m.tls_certificates.clone(),
            );
            r.register(
                "requests_in_flight",
                "Requests being served now",
                m.in_flight.clone(),
            );
        }
        m
    }

    /// A failed attempt to connect to an endpoint of `service`.
    pub fn count_connect_error(&self, service: &str) {
        self.upstream_connect_errors
            .get_or_create(&ServiceLabels::of(service))
            .inc();
    }

    /// A request sent to another endpoint of `service` after a failed connect.
    pub fn count_retry(&self, service: &str) {
        self.upstream_retries
            .get_or_create(&ServiceLabels::of(service))
            .inc();
    }

    pub fn record_reload(
        &self,
        took: Duration,
        routes: usize,
        ingresses: usize,
        problems: &[Problem],
    ) {
        self.reloads.inc();
        self.reload_duration.observe(took.as_secs_f64());
        self.routes.set(routes as i64);
        self.ingresses.set(ingresses as i64);
        for kind in [
            ProblemKind::Conflict,
            ProblemKind::InvalidRule,
            ProblemKind::InvalidAnnotation,
            ProblemKind::UnenforcedAccessControl,
            ProblemKind::TlsSecret,
        ] {
            let n = problems.iter().filter(|p| p.kind == kind).count();
            self.problems
                .get_or_create(&ProblemLabels { kind: kind.label() })
                .set(n as i64);
        }
    }

    /// Sets the expiry of every TLS Secret served, forgetting the ones no longer served.
    pub fn set_certificate_expiry(&self, expiry: &[(String, i64)]) {
        self.certificate_expiry.clear();
        for (secret, not_after) in expiry {
            let (namespace, name) = secret.split_once('/').unwrap_or(("", secret));
            self.certificate_expiry
                .get_or_create(&SecretLabels {
                    namespace: namespace.to_string(),
                    secret: name.to_string(),
                })
                .set(*not_after);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// The series of one (Ingress, Service) pair, looked up once and kept with the route, so
/// that counting a request costs a few atomic adds instead of building and hashing labels.
#[derive(Debug, Default)]
pub struct RouteSeries {
    by_class: [OnceLock<Counter>; 6],
    duration: OnceLock<Histogram>,
    upstream_duration: OnceLock<Histogram>,
    request_size: OnceLock<Histogram>,
    response_size: OnceLock<Histogram>,
}

/// One request, as the metrics count it.
pub struct Observed<'a> {
    /// `namespace/name` of the Ingress; empty when no rule matched.
    pub ingress: &'a str,
    /// `namespace/service:port` of the backend.
    pub service: &'a str,
    /// The matched rule's host.
    pub host: &'a str,
    pub method: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    pub upstream_time: Option<Duration>,
    pub request_length: u64,
    pub body_bytes_sent: u64,
}

impl RouteSeries {
    /// Counts one request of this route (or of no route: `unmatched`).
    pub fn record(&self, metrics: &Metrics, r: &Observed<'_>) {
        let index = status_class_index(r.status);
        let class = STATUS_CLASSES[index];
        let labels = || RouteLabels::of(r.ingress, r.service);
        let histogram = |cell, family| cached(cell, family, labels);
        self.by_class[index]
            .get_or_init(|| {
                metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        route: labels(),
                        status_class: class,
                    })
                    .clone()
            })
            .inc();
        histogram(&self.duration, &metrics.request_duration).observe(r.elapsed.as_secs_f64());
        histogram(&self.request_size, &metrics.request_size).observe(r.request_length as f64);
        histogram(&self.response_size, &metrics.response_size).observe(r.body_bytes_sent as f64);
        if let Some(upstream) = r.upstream_time {
            histogram(&self.upstream_duration, &metrics.upstream_response_duration)
                .observe(upstream.as_secs_f64());
        }
        if metrics.detailed_labels {
            metrics
                .requests_detailed
                .get_or_create(&DetailedLabels {
                    route: labels(),
                    method: known_method(r.method),
                    status: r.status,
                    host: r.host.to_string(),
                })
                .inc();
        }
    }
}

/// The histogram of a route in `cell`, found in `family` on first use.
fn cached<'c>(
    cell: &'c OnceLock<Histogram>,
    family: &Family<RouteLabels, Histogram>,
    labels: impl FnOnce() -> RouteLabels,
) -> &'c Histogram {
    cell.get_or_init(|| family.get_or_create(&labels()).clone())
}

/// The method as a label: one of RFC 9110's and PATCH, else `OTHER`, so that clients
/// cannot add series at will.
fn known_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|&m| m == method).unwrap_or("OTHER")
}

/// The index in `STATUS_CLASSES` of a status: `2xx` for 204, `other` outside 100-599.
fn status_class_index(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => 5,
    }
}

impl ProblemKind {
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Conflict => "conflict",
            ProblemKind::InvalidRule => "invalid_rule",
            ProblemKind::InvalidAnnotation => "invalid_annotation",
            ProblemKind::UnenforcedAccessControl => "unenforced_access_control",
            ProblemKind::TlsSecret => "tls_secret",
            ProblemKind::AuthSecret => "auth_secret",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_namespace_name_and_port() {
        assert_eq!(
            RouteLabels::of("shop/app", "shop/api:80"),
            RouteLabels {
                namespace: "shop".into(),
                ingress: "app".into(),
                service: "api".into(),
                service_port: "80".into(),
            }
        );
        assert_eq!(ServiceLabels::of("shop/api:http").service_port, "http");
        // A request that matched nothing: every label empty.
        assert_eq!(RouteLabels::of("", ""), RouteLabels::default());
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(known_method("PATCH"), "PATCH");
        assert_eq!(known_method("get"), "OTHER");
        assert_eq!(known_method("BREW"), "OTHER");
    }

    #[test]
    fn statuses_fall_in_their_class() {
        let class = |s| STATUS_CLASSES[status_class_index(s)];
        assert_eq!(
            [101, 200, 204, 308, 404, 499, 502, 599, 0, 600, 99].map(class),
            [
                "1xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx", "other", "other", "other"
            ]
        );
    }
}
