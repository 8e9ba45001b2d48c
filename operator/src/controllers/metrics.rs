//! The operator's Prometheus metrics, prefixed `sluice_operator_`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    pub reconciles: Counter,
    pub errors: Counter,
    pub duration: Histogram,
    pub managed_objects: Gauge,
    pub ingress_status_updates: Counter,
    pub ingress_reconciles: Counter,
    pub ingress_duration: Histogram,
    /// 1 while this replica leads (runs the controllers), else 0.
    pub leader: Gauge,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            reconciles: Counter::default(),
            errors: Counter::default(),
            // 1 ms .. ~16 s
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            managed_objects: Gauge::default(),
            ingress_status_updates: Counter::default(),
            ingress_reconciles: Counter::default(),
            // 100 µs .. ~1.6 s
            ingress_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
            leader: Gauge::default(),
        }
    }
}

impl ControllerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("sluice_operator");
        r.register(
            "reconciles",
            "IngressClass reconciles",
            self.reconciles.clone(),
        );
        r.register(
            "reconcile_errors",
            "IngressClass reconciles that failed and were retried",
            self.errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time per IngressClass reconcile",
            self.duration.clone(),
        );
        r.register(
            "managed_objects",
            "Objects of the proxy fleets the operator manages",
            self.managed_objects.clone(),
        );
        r.register(
            "ingress_status_updates",
            "Ingress status writes publishing addresses",
            self.ingress_status_updates.clone(),
        );
        r.register(
            "ingress_reconciles",
            "Ingress reconciles (most write nothing: the status already says it)",
            self.ingress_reconciles.clone(),
        );
        r.register(
            "ingress_reconcile_duration_seconds",
            "Time per Ingress reconcile",
            self.ingress_duration.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader Lease and runs the controllers, else 0",
            self.leader.clone(),
        );
        sluice_common::build_info::register(r, "operator", env!("CARGO_PKG_VERSION"));
    }
}
