//! Sluice's API and the semantics every part must agree on.
//!
//! - [`names`]: the group, controller name, labels and annotation keys.
//! - [`ingress`]: how an Ingress is read: which class serves it, what each rule claims
//!   (host and path, normalised), which of two claims wins, and what a request matches.
//!   The proxy routes with it and the webhook finds conflicts with it, so the two can
//!   never disagree about what "the same rule" is.
//! - [`annotations`]: Sluice's own Ingress annotations, parsed and validated.
//! - [`params`]: the `IngressClassParams` custom resource and its defaults.
//! - [`tls`]: PEM certificate and key to a rustls key, for Secrets and serving files alike.

pub mod annotations;
pub mod ingress;
pub mod names;
pub mod params;
pub mod tls;
