//! Names that more than one part of Sluice must spell the same way.

/// The API group of Sluice's custom resources.
pub const GROUP: &str = "sluice.dev";

/// The `spec.controller` of an IngressClass that Sluice serves.
pub const CONTROLLER_NAME: &str = "sluice.dev/ingress-controller";

/// The field manager of every server-side apply Sluice makes.
pub const FIELD_MANAGER: &str = "sluice-operator";

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
}
