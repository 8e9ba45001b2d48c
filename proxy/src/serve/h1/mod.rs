//! The HTTP/1.1 fast path.
//!
//! Every connection Pingora accepts (plain or TLS) comes here first. On HTTP/1.1 connections
//! this path reads each request head itself and, when the request is plain (see
//! [`request`]), proxies it with a few buffer copies and one write each way: no per-request
//! task, channel or header map, and kept-alive upstream connections from a lock-free
//! per-thread pool ([`pool`]). On HTTP/2 connections ([`h2_streams`]) each stream without a
//! request body is served the same way, from the HTTP/1.1 head it would be sent upstream as.
//!
//! A request that is not plain (a WebSocket upgrade, a chunked or large body, anything
//! malformed) is served by Pingora, which parses it from the bytes already read; the
//! connection comes back to this path after it, so the client timeouts between requests
//! and of each head are this path's on every request. The answers Sluice gives itself, the
//! metrics, the logs and the spans are the same on both paths.

mod body;
pub mod chunked;
mod client;
mod conn;
mod h2_streams;
mod lookup;
mod pool;
pub mod request;
pub mod response;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{ALPN, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;

use super::proxy_protocol::ProxyProtocol;
use super::request_id::RequestIds;
use super::router::{Router, ServeOptions};
use crate::metrics::RefusedLabels;
use crate::state::State;

/// What Pingora is told of keep-alive before its one request: kept alive (a value it does
/// not time out by, since the connection comes back here between requests).
const KEEPALIVE_SIGNAL: u64 = 60;

pub struct FastPath {
    pub state: Arc<State>,
    pub options: ServeOptions,
    pub request_ids: Arc<RequestIds>,
    /// Pingora's proxy, for whatever the fast path leaves to it.
    pub pingora: Arc<HttpProxy<Router>>,
    /// `--proxy-protocol`: read here on plain connections (before Pingora's TLS handshake
    /// on the others), before the connection counts against any cap.
    pub proxy_protocol: Option<Arc<ProxyProtocol>>,
}

#[async_trait]
impl ServerApp for FastPath {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Called once per connection: this never hands a stream back to Pingora's loop.
        let stream = match &self.proxy_protocol {
            Some(proxy_protocol) => proxy_protocol.take_plain(stream).await?,
            None => stream,
        };
        let client = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let _held = match self.state.connections.admit(client) {
            Ok(held) => held,
            Err(cap) => {
                self.state
                    .metrics
                    .connections_refused
                    .get_or_create(&RefusedLabels { cap: cap.label() })
                    .inc();
                return None;
            }
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return self.serve_h2(stream, shutdown).await;
        }
        let (mut stream, mut pipelined) = (stream, BytesMut::new());
        loop {
            let (taken, read, rest) = match conn::Connection::new(self, stream, shutdown, pipelined)
                .serve()
                .await?
            {
                conn::Leaving::Request(taken, read, rest) => (taken, read, rest),
                conn::Leaving::H2c(taken, read) => {
                    // The handshake reads the preface again: it is put back.
                    let mut plain = taken.into_any().downcast::<L4Stream>().ok()?;
                    plain.rewind(&read);
                    return self.serve_h2(plain, shutdown).await;
                }
            };
            pipelined = rest;
            // Pingora serves this one request, parsing from the bytes already read; then the
            // connection comes back here, so the idle and head timeouts stay this path's.
            let mut session = ServerSession::new_http1(taken);
            session.set_pipelined_prefix(read);
            session.set_keepalive((!*shutdown.borrow()).then_some(KEEPALIVE_SIGNAL));
            let reused = self.pingora.process_new_http(session, shutdown).await?;
            // Pingora is given no bytes past its request when their end is known (pipelined
            // requests wait in `pipelined`); otherwise, with pipelining off in Pingora, it
            // closes a connection it read past the end of.
            stream = reused.consume().0;
        }
    }

    async fn cleanup(&self) {
        self.pingora.cleanup().await
    }
}

impl FastPath {
    /// An HTTP/2 connection: its plain streams are this path's ([`h2_streams`]), unless the
    /// fast path is off.
    async fn serve_h2(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if !self.options.fast_path {
            return self.pingora.process_new(stream, shutdown).await;
        }
        h2_streams::serve(self, stream, shutdown).await;
        None
    }
}
