//! Sluice's API: the names every part must agree on.

/// The API group of Sluice's custom resources.
pub const GROUP: &str = "sluice.dev";

/// The `spec.controller` of an IngressClass that Sluice serves.
pub const CONTROLLER_NAME: &str = "sluice.dev/ingress-controller";
