//! The HTTP/1.1 fast path.
//!
//! Every connection Pingora accepts (plain or TLS) comes here first. HTTP/2 connections go
//! straight to Pingora's proxy. On HTTP/1.1 connections this path reads each request head
//! itself and, when the request is plain (see [`request`]), proxies it with a few buffer
//! copies and one write each way: no per-request task, channel or header map, and
//! kept-alive upstream connections from a lock-free per-thread pool ([`pool`]).
//!
//! The first request that is not plain (a WebSocket upgrade, a chunked or large body,
//! anything malformed) hands the connection to Pingora for good, with the bytes already
//! read replayed ([`replay`]). The answers Sluice gives itself, the metrics, the logs and
//! the spans are the same on both paths.

mod chunked;
mod conn;
mod pool;
mod replay;
pub mod request;
pub mod response;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{ALPN, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;

use super::request_id::RequestIds;
use super::router::{Router, ServeOptions};
use crate::state::State;

pub struct FastPath {
    pub state: Arc<State>,
    pub options: ServeOptions,
    pub request_ids: Arc<RequestIds>,
    /// Pingora's proxy, for HTTP/2 and for whatever the fast path leaves to it.
    pub pingora: Arc<HttpProxy<Router>>,
}

#[async_trait]
impl ServerApp for FastPath {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return self.pingora.process_new(stream, shutdown).await;
        }
        conn::Connection::new(self, stream, shutdown).serve().await
    }

    async fn cleanup(&self) {
        self.pingora.cleanup().await
    }
}
