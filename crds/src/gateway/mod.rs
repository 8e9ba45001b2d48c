//! The Gateway API semantics every part of Sluice must agree on:
//! - [`class`]: Sluice's controller name, the releases it supports, the features it claims;
//! - [`attach`]: which route attaches to which listener of a Gateway, with which hostnames
//!   and backends, and the status conditions that say so (the operator writes them, the
//!   proxy serves what they accept);
//! - [`matching`]: what an HTTPRoute match requires of a request, and which of two
//!   matches is tried first; [`hostname`]: what a Gateway API hostname covers;
//! - [`cors`]: the answers of the CORS filter;
//! - [`rules`]: a route rule's matches and timeout, read, and whether Sluice can serve it;
//! - [`ports`]: how a Gateway's listener ports become a proxy fleet's ports and flags.

pub mod attach;
pub mod class;
pub mod cors;
pub mod hostname;
pub mod matching;
pub mod ports;
pub mod rules;
