//! Who attaches where: which listeners of Sluice's Gateways each HTTPRoute and GRPCRoute
//! attaches to, with which hostnames and which backends, and the status conditions that
//! say so.
//!
//! The operator (which writes Gateway and route status) and the proxy (which serves the
//! routes) must never disagree about this, so it is computed here, once, by pure
//! functions: objects in, computed state out, no API server. Whatever the functions need
//! to know of the cluster beyond the objects (does a Secret hold a usable certificate, what
//! is a Service's port) is asked of the caller through a small trait, which any closure
//! implements.
//!
//! # Data flow
//! ```text
//! Gateway ──────────────┐
//! ReferenceGrants ──────┤ listeners::gateway_state  ──▶ GatewayState (each listener:
//! Secrets (SecretLookup)┘  (certificates, conflicts)     Accepted, ResolvedRefs, Conflicted,
//!                                                        kinds, hostname, certificates)
//! Route (HTTP/GRPC) ────┐
//! GatewayStates ────────┤ parents::attach           ──▶ RouteAttachments (per parentRef of
//! namespace labels ─────┘                                ours: Accepted, listeners, hostnames)
//!                                                         │
//! RouteAttachments of every route ── AttachedRoutes::new ─▶ attachedRoutes per listener
//!
//! backendRefs of a rule ┐
//! ReferenceGrants ──────┤ backends::resolve         ──▶ Backend per backendRef (protocol, or
//! Services (ServiceLookup)                               why it is unusable; weight kept)
//!                         backends::resolved_refs   ──▶ the route's ResolvedRefs
//!
//! all of the above + previous status + now ── status::* ──▶ GatewayStatus listeners and
//!                                                            conditions, route status.parents
//! ```
//! The proxy serves the listeners for which [`ListenerState::is_served`] holds, each
//! accepted parent's [`ListenerAttachment`]s with their hostnames, and each [`Backend`]
//! by its `target` (an unusable one's share answered with 500). The operator writes what
//! [`status`] builds, and only when it differs from what the object holds: conditions keep
//! their transition time while nothing moves ([`conditions`]).
//!
//! Spec: Gateway API v1.6 (the doc comments of [`crate::gateway_api`]); each module says
//! which rules it implements and where the spec left the choice to Sluice.

pub mod backends;
pub mod certificates;
pub mod conditions;
pub mod conflicts;
pub mod grants;
pub mod hostnames;
pub mod listeners;
pub mod parents;
pub mod reasons;
pub mod route;
pub mod selector;
pub mod status;

pub use backends::{
    Backend, BackendProblem, BackendProtocol, BackendRef, ServiceLookup, ServicePort,
};
pub use certificates::{CertificateState, SecretKey, SecretLookup};
pub use conditions::{Outcome, Status};
pub use grants::{ReferenceGrants, Referent, Referrer};
pub use listeners::{AllowedNamespaces, GatewayKey, GatewayState, ListenerState, TlsMode};
pub use parents::{AttachedRoutes, ListenerAttachment, ParentAttachment, RouteAttachments};
pub use route::{InvalidRule, ParentRef, Route, RouteId, RouteKind};
pub use status::Readiness;

/// An object the API server would never return: one without a name or namespace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("a {kind} without {field}")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
}
