//! The route table the data plane reads: built by `compile`, swapped in atomically.

pub mod access;
pub mod regex;
pub mod table;
pub mod trie;

pub use access::Access;
pub use table::{
    Backend, BackendIndex, CanaryRoute, Endpoints, ErrorBackend, HostRoutes, Route, RouteTable,
    ServicePortRef, endpoint_token,
};
