//! Sluice's data plane. The flow of a change, file by file:
//!
//! `source` (cluster watch or manifest files) → [`objects::ObjectSet`] → `compile` →
//! [`routes::RouteTable`] → swapped into [`state::State`] → read by `serve` per request.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod compile;
pub mod metrics;
pub mod objects;
pub mod repeats;
pub mod routes;
pub mod serve;
pub mod source;
pub mod state;
pub mod subrequest;
