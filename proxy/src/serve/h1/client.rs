//! Where the fast path's responses go: an HTTP/1.1 connection, whose heads it writes as
//! bytes, or one HTTP/2 stream ([`super::h2_streams`]), whose heads h2 encodes. What a
//! response holds (status, headers, body) is decided before, once, for both.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::protocols::Stream;
use pingora::protocols::http::v2::server::HttpSession as H2Session;
use pingora_timeout::timeout;
use tokio::io::AsyncWriteExt;

use super::request;
use super::response::{self, Kept, ResponseHead};
use crate::routes::HeaderEdits;
use crate::serve::answers::Answer;
use crate::serve::responses;

/// A response head from an upstream, as the client is to get it.
pub struct Head<'b> {
    /// The upstream's bytes, which `head` and `kept` index.
    pub buf: &'b [u8],
    pub head: &'b ResponseHead,
    pub kept: &'b [Kept],
    /// The route's CORS and custom headers.
    pub extra: &'b [(&'static str, String)],
    pub edits: Option<&'b HeaderEdits>,
    /// The client connection ends after this response (HTTP/1.1 says so in the head).
    pub close: bool,
}

/// One client's side of the fast path. `within` bounds each write, as the send timeout does.
pub trait Client {
    /// For the access log.
    const PROTOCOL: &'static str;
    /// For spans (`network.protocol.version`).
    const VERSION: &'static str;
    /// Whether a chunked body goes out as its data alone: HTTP/2 frames bodies itself.
    const DECHUNKS: bool;

    // The futures are declared `Send` so that a connection's future is provably `Send`
    // where the client type is generic.

    /// Writes one of Sluice's own answers; the body bytes written come back.
    fn answer(
        &mut self,
        answer: &Answer,
        head_request: bool,
        close: bool,
        out: &mut Vec<u8>,
        within: Duration,
    ) -> impl Future<Output = io::Result<u64>> + Send;

    /// Writes the head and the first body bytes: `raw` as the upstream framed them, `data`
    /// without chunk framing. `end`: the body ends with them.
    fn start(
        &mut self,
        head: Head<'_>,
        raw: &[u8],
        data: &[u8],
        end: bool,
        out: &mut Vec<u8>,
        within: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// Writes more of the body, as [`Self::start`] does.
    fn body(
        &mut self,
        raw: &[u8],
        data: &[u8],
        end: bool,
        within: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// The body is complete, though the upstream did not say so before it closed.
    fn end(&mut self) -> io::Result<()>;
}

/// An HTTP/1.1 connection. (A type of its own: where the client type is generic, a bare
/// `Stream`'s trait object lifetime is not known to be `'static`.)
pub struct H1(pub Stream);

impl Client for H1 {
    const PROTOCOL: &'static str = "HTTP/1.1";
    const VERSION: &'static str = "1.1";
    const DECHUNKS: bool = false;

    async fn answer(
        &mut self,
        answer: &Answer,
        head_request: bool,
        close: bool,
        out: &mut Vec<u8>,
        within: Duration,
    ) -> io::Result<u64> {
        out.clear();
        let reason = http::StatusCode::from_u16(answer.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", answer.status).as_bytes());
        request::push_header(out, b"Content-Type", b"text/plain; charset=utf-8");
        if answer.has_body() {
            request::push_header(
                out,
                b"Content-Length",
                answer.body.len().to_string().as_bytes(),
            );
        }
        if let Some(location) = &answer.location {
            request::push_header(out, b"Location", location.as_bytes());
        }
        for (name, value) in &answer.headers {
            request::push_header(out, name.as_bytes(), value.as_bytes());
        }
        if close {
            request::push_header(out, b"Connection", b"close");
        }
        request::end_head(out);
        let body = if head_request || !answer.has_body() {
            0
        } else {
            answer.body.len()
        };
        out.extend_from_slice(&answer.body.as_bytes()[..body]);
        write_client(&mut self.0, out, within).await?;
        Ok(body as u64)
    }

    async fn start(
        &mut self,
        head: Head<'_>,
        raw: &[u8],
        _data: &[u8],
        _end: bool,
        out: &mut Vec<u8>,
        within: Duration,
    ) -> io::Result<()> {
        response::write_downstream_head(
            head.buf, head.head, head.kept, head.extra, head.edits, head.close, out,
        );
        // The head and the body bytes read with it go out in one write.
        out.extend_from_slice(raw);
        write_client(&mut self.0, out, within).await
    }

    async fn body(
        &mut self,
        raw: &[u8],
        _data: &[u8],
        _end: bool,
        within: Duration,
    ) -> io::Result<()> {
        write_client(&mut self.0, raw, within).await
    }

    fn end(&mut self) -> io::Result<()> {
        // The connection's close ends the body.
        Ok(())
    }
}

/// Writes `bytes` to the client, which must take them within `within` (a write buffer's
/// worth at most: the send timeout is per write, as nginx's is).
pub async fn write_client(stream: &mut Stream, bytes: &[u8], within: Duration) -> io::Result<()> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    timeout(within, write).await.unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read in time",
        ))
    })
}

/// One HTTP/2 stream whose request the fast path took.
pub struct H2Stream(pub Box<H2Session>);

impl Client for H2Stream {
    const PROTOCOL: &'static str = "HTTP/2.0";
    const VERSION: &'static str = "2";
    const DECHUNKS: bool = true;

    async fn answer(
        &mut self,
        answer: &Answer,
        head_request: bool,
        _close: bool,
        _out: &mut Vec<u8>,
        within: Duration,
    ) -> io::Result<u64> {
        let resp = responses::answer_header(answer).map_err(io::Error::other)?;
        let body = !head_request && answer.has_body();
        self.0.set_write_timeout(Some(within));
        self.0
            .write_response_header(Box::new(resp), !body)
            .map_err(io::Error::other)?;
        if !body {
            return Ok(0);
        }
        self.0
            .write_body(Bytes::copy_from_slice(answer.body.as_bytes()), true)
            .await
            .map_err(io::Error::other)?;
        Ok(answer.body.len() as u64)
    }

    async fn start(
        &mut self,
        head: Head<'_>,
        _raw: &[u8],
        data: &[u8],
        end: bool,
        _out: &mut Vec<u8>,
        within: Duration,
    ) -> io::Result<()> {
        let headers = response::client_headers(head.buf, head.kept, head.extra, head.edits);
        let mut resp = ResponseHeader::build(head.head.status, Some(head.kept.len() + 4))
            .map_err(io::Error::other)?;
        for (name, value) in headers {
            // What HTTP/2 cannot carry (httparse is more lenient than a header map) is not
            // passed on, as Pingora's parser would not have passed it either.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                resp.append_header(name, value).map_err(io::Error::other)?;
            }
        }
        self.0.set_write_timeout(Some(within));
        self.0
            .write_response_header(Box::new(resp), end && data.is_empty())
            .map_err(io::Error::other)?;
        self.body(&[], data, end, within).await
    }

    async fn body(
        &mut self,
        _raw: &[u8],
        data: &[u8],
        end: bool,
        _within: Duration,
    ) -> io::Result<()> {
        if data.is_empty() {
            return if end { self.end() } else { Ok(()) };
        }
        self.0
            .write_body(Bytes::copy_from_slice(data), end)
            .await
            .map_err(io::Error::other)
    }

    fn end(&mut self) -> io::Result<()> {
        self.0.finish().map_err(io::Error::other)
    }
}
