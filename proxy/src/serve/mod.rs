//! The data plane on Pingora: listeners, the per-request logic, TLS, shutdown.

pub mod access_log;
pub mod answers;
pub mod client_addr;
pub mod error_pages;
pub mod h1;
pub mod hygiene;
pub mod limits;
pub mod mirror;
pub mod outcome;
pub mod proxy_protocol;
pub mod rate_limit;
pub mod request_id;
pub mod responses;
pub mod router;
pub mod server;
pub mod tls;
pub mod trace;
