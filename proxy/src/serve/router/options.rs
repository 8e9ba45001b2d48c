//! The serving settings the command line gives the router.

use std::time::Duration;

use crate::serve::client_addr::TrustedProxies;
use crate::serve::trace::Tracing;

/// Serving settings from the command line.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Endpoints tried per request when connecting fails (the first included).
    pub max_attempts: usize,
    /// The port in `https://` redirects; 443 is left out of the URL.
    pub https_redirect_port: u16,
    /// Refuse requests that arrived over TLS 1.2 (the listener negotiates 1.2 and 1.3).
    pub require_tls13: bool,
    /// Where request spans go; `None`: tracing is off and costs nothing.
    pub tracing: Option<Tracing>,
    /// `false`: every HTTP/1.1 request goes through Pingora (`--no-fast-path`).
    pub fast_path: bool,
    pub client: ClientTimeouts,
    /// The largest request body of a route without its own limit (0: no limit).
    pub max_body_size: u64,
    /// Peers whose forwarded headers say who the client is.
    pub trusted_proxies: TrustedProxies,
}

/// How long the proxy waits for a client, on both paths (nginx's names and defaults).
#[derive(Clone, Copy, Debug)]
pub struct ClientTimeouts {
    /// For a whole request head, from its first byte (`client_header_timeout`).
    pub header: Duration,
    /// Between two reads of a request body (`client_body_timeout`).
    pub body: Duration,
    /// For the next request on a kept-alive connection (`keepalive_timeout`).
    pub keepalive: Duration,
    /// Between two writes to a client that does not read (`send_timeout`).
    pub send: Duration,
}
