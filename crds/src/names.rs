//! Names that more than one part of Sluice must spell the same way.

/// The API group of Sluice's custom resources.
pub const GROUP: &str = "sluice.dev";

/// The default `spec.controller` of the IngressClasses Sluice serves. Each installation can
/// have its own (`--controller-name`), so that two of them in one cluster serve disjoint
/// classes.
pub const CONTROLLER_NAME: &str = "sluice.dev/ingress-controller";

/// The field manager of every server-side apply Sluice makes.
pub const FIELD_MANAGER: &str = "sluice-operator";

/// The field manager of an installation's writes to Ingress status: [`FIELD_MANAGER`] for
/// the default controller, else one of its own, so that each installation tells the
/// addresses it published from another's.
pub fn status_field_manager(controller: &str) -> String {
    if controller == CONTROLLER_NAME {
        return FIELD_MANAGER.to_string();
    }
    // A manager name is at most 128 characters; a controller value may be longer.
    let name = format!("{FIELD_MANAGER} {controller}");
    if name.len() <= 128 {
        return name;
    }
    let hash = controller.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{FIELD_MANAGER} {hash:016x}")
}

/// The legacy annotation that names an Ingress's class (before `spec.ingressClassName`).
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The IngressClass annotation that makes it the cluster's default class.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// The prefix of Sluice's own Ingress annotations.
pub const ANNOTATION_PREFIX: &str = "sluice.dev/";

/// Labels on every object the operator manages.
pub mod labels {
    /// `app.kubernetes.io/name` of Sluice's objects.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `app.kubernetes.io/instance`: the IngressClass a proxy fleet serves.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `app.kubernetes.io/component`: proxy, operator.
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// `app.kubernetes.io/managed-by`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The IngressClass a managed object belongs to.
    pub const INGRESS_CLASS: &str = "sluice.dev/ingress-class";
    /// The Gateway a managed object belongs to: `NAMESPACE.NAME` (shortened with a hash
    /// past 63 characters, a label value's limit).
    pub const GATEWAY: &str = "sluice.dev/gateway";
    /// On every Service that serves Sluice's Prometheus metrics (a port named `metrics`):
    /// the operator's and each fleet's. The chart's ServiceMonitor selects it.
    pub const METRICS: &str = "sluice.dev/metrics";
}

/// The type of a Secret that holds a certificate and its key.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
/// The field selector of TLS Secrets, for watches that need no other Secret.
pub const TLS_SECRETS_SELECTOR: &str = "type=kubernetes.io/tls";
