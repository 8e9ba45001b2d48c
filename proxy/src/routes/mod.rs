//! The route table the data plane reads: built by `compile`, swapped in atomically.

pub mod table;
pub mod trie;

pub use table::{Backend, HostRoutes, Route, RouteTable};
