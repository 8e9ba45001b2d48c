//! Sluice's operator. The flow of a change, file by file:
//!
//! IngressClass + IngressClassParams → `controllers` (reconcile, server-side apply) →
//! `desired` (pure: the fleet's objects) and `status` (pure: conditions); `addresses`
//! publishes where each Ingress is reachable; `leader` elects the replica that runs the
//! controllers; the admission webhook (crate `sluice-webhook`) runs on every replica, with
//! its certificate from files or kept in a Secret by `webhook_cert`.

pub mod admin;
pub mod cli;
pub mod controllers;
pub mod desired;
pub mod leader;
pub mod migrate;
pub mod webhook_cert;
