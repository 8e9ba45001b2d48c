//! The names the Gateway API spec gives to condition types, reasons, kinds and protocols,
//! spelled once. Sluice's controller name is [`crate::gateway::class::CONTROLLER_NAME`].
//!
//! Every value here is the spec's (Gateway API v1.6, `apis/v1/*_types.go`), so that tools
//! reading status across implementations understand Sluice's.

/// The API group of Kubernetes core objects (Secret, Service): the empty string.
pub const CORE_GROUP: &str = "";

/// Kinds that Gateway API objects refer to.
pub mod kind {
    pub const GATEWAY: &str = "Gateway";
    pub const HTTP_ROUTE: &str = "HTTPRoute";
    pub const GRPC_ROUTE: &str = "GRPCRoute";
    pub const TLS_ROUTE: &str = "TLSRoute";
    pub const SECRET: &str = "Secret";
    pub const SERVICE: &str = "Service";
}

/// Listener protocols.
pub mod protocol {
    pub const HTTP: &str = "HTTP";
    pub const HTTPS: &str = "HTTPS";
    pub const TLS: &str = "TLS";
    pub const TCP: &str = "TCP";
    pub const UDP: &str = "UDP";
}

/// The listener protocols Sluice serves today. `TLS` (passthrough, for TLSRoutes) is
/// understood by [`super::listeners`] but not served yet, so it is reported as
/// `UnsupportedProtocol` until it is added here.
pub const SUPPORTED_PROTOCOLS: &[&str] = &[protocol::HTTP, protocol::HTTPS];

/// Condition types.
pub mod condition {
    pub const ACCEPTED: &str = "Accepted";
    pub const PROGRAMMED: &str = "Programmed";
    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    /// Listener only.
    pub const CONFLICTED: &str = "Conflicted";
    /// Listener only; negative polarity: set only when true.
    pub const OVERLAPPING_TLS_CONFIG: &str = "OverlappingTLSConfig";
    /// Route only; set only when true.
    pub const PARTIALLY_INVALID: &str = "PartiallyInvalid";
    /// GatewayClass only.
    pub const SUPPORTED_VERSION: &str = "SupportedVersion";
}

/// Reasons of GatewayClass conditions.
pub mod gateway_class {
    pub const ACCEPTED: &str = "Accepted";
    pub const INVALID_PARAMETERS: &str = "InvalidParameters";
    pub const PENDING: &str = "Pending";
    pub const UNSUPPORTED: &str = "Unsupported";
    pub const SUPPORTED_VERSION: &str = "SupportedVersion";
    pub const UNSUPPORTED_VERSION: &str = "UnsupportedVersion";
}

/// Reasons of Gateway conditions.
pub mod gateway {
    pub const ACCEPTED: &str = "Accepted";
    /// `Accepted`, True when some listeners are valid, False when none is.
    pub const LISTENERS_NOT_VALID: &str = "ListenersNotValid";
    pub const INVALID: &str = "Invalid";
    pub const INVALID_PARAMETERS: &str = "InvalidParameters";
    pub const UNSUPPORTED_ADDRESS: &str = "UnsupportedAddress";
    pub const PENDING: &str = "Pending";
    pub const PROGRAMMED: &str = "Programmed";
    pub const NO_RESOURCES: &str = "NoResources";
    pub const ADDRESS_NOT_ASSIGNED: &str = "AddressNotAssigned";
    pub const ADDRESS_NOT_USABLE: &str = "AddressNotUsable";
}

/// Reasons of listener conditions.
pub mod listener {
    pub const ACCEPTED: &str = "Accepted";
    pub const PORT_UNAVAILABLE: &str = "PortUnavailable";
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    pub const UNSUPPORTED_VALUE: &str = "UnsupportedValue";
    pub const PENDING: &str = "Pending";

    pub const HOSTNAME_CONFLICT: &str = "HostnameConflict";
    pub const PROTOCOL_CONFLICT: &str = "ProtocolConflict";
    pub const NO_CONFLICTS: &str = "NoConflicts";

    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    pub const INVALID_CERTIFICATE_REF: &str = "InvalidCertificateRef";
    pub const INVALID_ROUTE_KINDS: &str = "InvalidRouteKinds";
    pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";

    pub const PROGRAMMED: &str = "Programmed";
    pub const INVALID: &str = "Invalid";

    pub const OVERLAPPING_HOSTNAMES: &str = "OverlappingHostnames";
}

/// Reasons of route conditions (in a route's `status.parents[].conditions`).
pub mod route {
    pub const ACCEPTED: &str = "Accepted";
    pub const NOT_ALLOWED_BY_LISTENERS: &str = "NotAllowedByListeners";
    pub const NO_MATCHING_LISTENER_HOSTNAME: &str = "NoMatchingListenerHostname";
    pub const NO_MATCHING_PARENT: &str = "NoMatchingParent";
    pub const UNSUPPORTED_VALUE: &str = "UnsupportedValue";
    pub const PENDING: &str = "Pending";
    pub const INCOMPATIBLE_FILTERS: &str = "IncompatibleFilters";

    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";
    pub const INVALID_KIND: &str = "InvalidKind";
    pub const BACKEND_NOT_FOUND: &str = "BackendNotFound";
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
}
