//! Requests the proxy makes itself, besides proxying: to auth services (`auth-url`) and to
//! error-page backends (`custom-http-errors`). One pooled client for all: connections are
//! kept alive and reused; HTTPS servers are verified against the system's roots.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A request: method, URL and headers, never a body.
#[derive(Debug)]
pub struct Subrequest {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: HeaderMap,
}

/// What came back: status, headers, and the body (up to the limit asked for).
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type PooledClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

static CLIENT: LazyLock<Option<PooledClient>> = LazyLock::new(|| {
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder,
        Err(error) => {
            tracing::warn!(%error, "no system CA roots: requests to https:// services will fail");
            return None;
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Some(Client::builder(TokioExecutor::new()).build(connector))
});

/// Sends `request` and reads the answer, its body up to `body_limit` bytes (read to its
/// end within the limit, so the connection can be reused), all `within` the time given.
pub async fn send(
    request: Subrequest,
    within: Duration,
    body_limit: usize,
) -> Result<Answered, String> {
    let client = CLIENT.as_ref().ok_or("no HTTP client")?;
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(request.uri);
    if let Some(headers) = builder.headers_mut() {
        *headers = request.headers;
    }
    let request = builder
        .body(Empty::new())
        .map_err(|e| format!("the request: {e}"))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, body_limit)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Answered {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| format!("no answer within {within:?}"))?
}
