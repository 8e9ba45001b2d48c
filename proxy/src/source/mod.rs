//! Where the objects come from: the cluster, or manifest files. Both publish whole object
//! sets to [`crate::state::State::publish`].

pub mod files;
pub mod health;
pub mod kubernetes;
pub mod live;
pub mod manifests;
pub mod relevance;
