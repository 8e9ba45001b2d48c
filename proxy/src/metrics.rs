//! The proxy's Prometheus metrics, all prefixed `sluice_proxy_`.

use std::sync::Mutex;
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
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram>,
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("sluice_proxy")),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
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
            ProblemKind::TlsSecret,
        ] {
            let n = problems.iter().filter(|p| p.kind == kind).count();
            self.problems
                .get_or_create(&ProblemLabels { kind: kind.label() })
                .set(n as i64);
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
    by_class: [std::sync::OnceLock<Counter>; 6],
    duration: std::sync::OnceLock<Histogram>,
}

impl RouteSeries {
    /// Counts one request of `ingress` to `service` answered with `status` in `elapsed`.
    pub fn record(
        &self,
        metrics: &Metrics,
        ingress: &str,
        service: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let index = status_class_index(status);
        let class = STATUS_CLASSES[index];
        self.by_class[index]
            .get_or_init(|| {
                metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        route: RouteLabels::of(ingress, service),
                        status_class: class,
                    })
                    .clone()
            })
            .inc();
        self.duration
            .get_or_init(|| {
                metrics
                    .request_duration
                    .get_or_create(&RouteLabels::of(ingress, service))
                    .clone()
            })
            .observe(elapsed.as_secs_f64());
    }
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
            ProblemKind::TlsSecret => "tls_secret",
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
