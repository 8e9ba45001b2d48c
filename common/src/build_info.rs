//! The `build_info` metric both binaries expose.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Registers `build_info`, always 1, labelled with `version` (the binary's own, from its
/// `env!("CARGO_PKG_VERSION")`), in `registry` (already prefixed with the binary's name).
pub fn register(registry: &mut Registry, binary: &str, version: &'static str) {
    let build_info = Family::<BuildLabels, Gauge>::default();
    build_info.get_or_create(&BuildLabels { version }).set(1);
    registry.register(
        "build_info",
        format!("Always 1, labelled with the {binary}'s version"),
        build_info,
    );
}
