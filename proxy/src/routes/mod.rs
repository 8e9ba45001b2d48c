//! The route table the data plane reads: built by `compile`, swapped in atomically.

pub mod access;
pub mod candidates;
pub mod headers;
pub mod mirror;
pub mod regex;
pub mod table;
pub mod tables;
pub mod trie;

#[cfg(test)]
mod tests;

pub use access::Access;
pub use candidates::{Candidate, Candidates, Split};
pub use headers::HeaderEdits;
pub use table::{
    Backend, BackendIndex, CanaryRoute, Endpoints, ErrorBackend, HostRoutes, Route, RouteTable,
    ServicePortRef, WildcardHosts, endpoint_token,
};
pub use tables::Tables;
