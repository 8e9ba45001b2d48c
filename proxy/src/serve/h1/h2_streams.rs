//! HTTP/2 connections on the fast path: h2 (through Pingora's handshake and stream
//! acceptance, so the protocol checks are Pingora's) reads each stream's request, and a
//! plain one is served as the fast path serves a plain HTTP/1.1 request, from the HTTP/1.1
//! head it would be sent upstream as: the same parse, route, policies and upstream pool.
//! Any other stream (a request body, a route only Pingora serves, a head the fast path
//! would not take) is Pingora's, alone; its siblings are not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header;
use pingora::apps::HttpServerApp;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::{H2Accept, HttpSession, handshake};
use pingora::protocols::{Digest, Stream};
use pingora::server::ShutdownWatch;
use tokio::sync::Notify;

use super::FastPath;
use super::client::H2Stream;
use super::conn::Connection;
use super::lookup::route_for;
use super::request::{self, Parsed};
use crate::serve::hygiene;

/// Streams rejected as malformed before a connection is closed, as Pingora's own loop does.
const MAX_MALFORMED_STREAMS: usize = 32;

/// Serves the streams of one HTTP/2 connection until it ends.
pub async fn serve(app: &Arc<FastPath>, stream: Stream, shutdown: &ShutdownWatch) {
    let digest = Arc::new(Digest {
        ssl_digest: stream.get_ssl_digest(),
        timing_digest: stream.get_timing_digest(),
        proxy_digest: stream.get_proxy_digest(),
        socket_digest: stream.get_socket_digest(),
    });
    let mut conn = match handshake(stream, None).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            return;
        }
    };
    let idle_timeout = app.options.client.keepalive;
    let active = Arc::new(Active::default());
    let mut shutdown = shutdown.clone();
    let (mut shutting_down, mut malformed) = (false, 0);
    loop {
        let accepted = if shutting_down {
            HttpSession::from_h2_conn(&mut conn, digest.clone()).await
        } else {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    conn.graceful_shutdown();
                    shutting_down = true;
                    continue;
                }
                accepted = HttpSession::from_h2_conn(&mut conn, digest.clone()) => accepted,
                // With no stream open for the keep-alive timeout, the connection is closed.
                () = active.idle_for(idle_timeout) => return,
            }
        };
        match accepted {
            // A client that just disconnects is common: nothing to log.
            Err(_) | Ok(None) => return,
            Ok(Some(H2Accept::Rejected)) => {
                malformed += 1;
                if malformed >= MAX_MALFORMED_STREAMS {
                    return;
                }
            }
            Ok(Some(H2Accept::Session(session))) => {
                let open = active.open();
                let (app, shutdown) = (app.clone(), shutdown.clone());
                tokio::spawn(async move {
                    let _open = open;
                    serve_stream(&app, session, &shutdown).await;
                });
            }
        }
    }
}

/// One stream: the fast path's, or Pingora's.
async fn serve_stream(app: &Arc<FastPath>, session: HttpSession, shutdown: &ShutdownWatch) {
    let mut head_bytes = Vec::new();
    let taken = h1_head(&session, &mut head_bytes);
    // No copy: the one owner of the bytes takes them over.
    let head_bytes = BytesMut::from(Bytes::from(head_bytes));
    let mut forward = Vec::new();
    let head = match taken.then(|| request::parse(&head_bytes, &mut forward)) {
        Some(Parsed::Head(head)) => head,
        _ => return pingora(app, session, shutdown).await,
    };
    let local_port = session
        .server_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.port());
    let client_tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    let route = route_for(app, local_port, &head_bytes, &head);
    if route.as_ref().is_some_and(|r| r.needs_pingora(client_tls)) {
        return pingora(app, session, shutdown).await;
    }
    let stream = H2Stream(Box::new(session));
    Connection::for_h2_stream(app, stream, shutdown, (head_bytes, forward))
        .serve_one(&head, route)
        .await;
}

async fn pingora(app: &FastPath, session: HttpSession, shutdown: &ShutdownWatch) {
    app.pingora
        .process_new_http(ServerSession::new_http2(session), shutdown)
        .await;
}

/// Writes the stream's request as an HTTP/1.1 head, as Pingora's path sends it upstream
/// (the authority as `Host`, one `Cookie`), when it has no body; `false` when it has one,
/// or a part HTTP/1.1 cannot carry.
fn h1_head(session: &HttpSession, out: &mut Vec<u8>) -> bool {
    let req = session.req_header();
    // A body, even an empty one still to come, is Pingora's to read.
    if !session.is_body_empty() || req.headers.contains_key(header::CONTENT_LENGTH) {
        return false;
    }
    let path = req.raw_path();
    if path.is_empty() || path.iter().any(|&b| !b.is_ascii_graphic()) {
        return false;
    }
    for part in [req.method.as_str().as_bytes(), b" ", path, b" HTTP/1.1\r\n"] {
        out.extend_from_slice(part);
    }
    // Pingora checked that a Host header, if any, agrees with the authority.
    let authority = req.uri.authority().map(|a| a.as_str().as_bytes());
    if let Some(authority) = authority {
        request::push_header(out, b"host", authority);
    }
    let cookie = hygiene::joined_cookies(
        req.headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.as_bytes()),
    );
    for (name, value) in &req.headers {
        if (authority.is_some() && name == header::HOST)
            || (cookie.is_some() && name == header::COOKIE)
        {
            continue;
        }
        request::push_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(cookie) = &cookie {
        request::push_header(out, b"cookie", cookie);
    }
    request::end_head(out);
    true
}

/// The connection's open streams, to tell an idle connection from a busy one.
#[derive(Default)]
struct Active {
    count: AtomicUsize,
    idle: Notify,
}

/// One open stream; dropped when it ends.
struct Open(Arc<Active>);

impl Active {
    fn open(self: &Arc<Self>) -> Open {
        self.count.fetch_add(1, Ordering::Relaxed);
        Open(self.clone())
    }

    /// Resolves after `timeout` with no stream open.
    async fn idle_for(&self, timeout: Duration) {
        while self.count.load(Ordering::Relaxed) != 0 {
            self.idle.notified().await;
        }
        tokio::time::sleep(timeout).await;
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.idle.notify_one();
        }
    }
}
