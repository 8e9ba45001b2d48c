//! The webhook's Prometheus metrics, prefixed `sluice_webhook_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub kind: &'static str,
    /// `allowed` or `denied`.
    pub decision: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    pub reviews: Family<ReviewLabels, Counter>,
    pub review_duration: Histogram,
    pub bad_requests: Counter,
    pub index_ingresses: Gauge,
    pub index_rules: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reviews: Family::default(),
            // 10 µs .. ~80 ms
            review_duration: Histogram::new(exponential_buckets(0.00001, 2.0, 14)),
            bad_requests: Counter::default(),
            index_ingresses: Gauge::default(),
            index_rules: Gauge::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("sluice_webhook");
        r.register(
            "reviews",
            "Admission reviews answered, by kind, decision and reason",
            self.reviews.clone(),
        );
        r.register(
            "review_duration_seconds",
            "Time to decide a review, from the request body to the response",
            self.review_duration.clone(),
        );
        r.register(
            "bad_requests",
            "Requests whose body was not an AdmissionReview",
            self.bad_requests.clone(),
        );
        r.register(
            "index_ingresses",
            "Ingresses in the conflict index",
            self.index_ingresses.clone(),
        );
        r.register(
            "index_rules",
            "Rules of Sluice's classes in the conflict index",
            self.index_rules.clone(),
        );
    }
}
