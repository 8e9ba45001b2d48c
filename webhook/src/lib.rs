//! Sluice's validating admission webhook.
//!
//! `watch` keeps an [`index::Index`] of every rule of every Ingress; a review decodes the
//! AdmissionReview (`review`), decides with `validate` by looking up only the keys the
//! reviewed Ingress claims, and answers. Nothing is rendered or templated: the decision is
//! a few hash lookups. `server` serves it over TLS.

pub mod certs;
pub mod index;
pub mod metrics;
pub mod review;
pub mod server;
pub mod validate;
pub mod watch;

#[cfg(test)]
mod testing;
