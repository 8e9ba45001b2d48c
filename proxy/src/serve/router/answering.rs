//! Sending Sluice's own answer instead of a backend's.

use std::time::Duration;

use pingora::Result;
use pingora::proxy::Session;

use super::Router;
use crate::serve::{answers, responses};

/// The most request body read and dropped after Sluice answered an HTTP/2 request itself:
/// HTTP/2's initial stream window, what a client may send before it hears from the proxy.
const DISCARDED_BODY_LIMIT: usize = 65_535;

impl Router {
    /// Answers the request itself; on HTTP/2, then reads the rest of the request
    /// ([`discard_request_body`]).
    pub(super) async fn answer(
        &self,
        session: &mut Session,
        answer: &answers::Answer,
    ) -> Result<()> {
        responses::send(session, answer).await?;
        discard_request_body(session, self.options.client.body).await;
        Ok(())
    }
}

/// After Sluice answered an HTTP/2 request itself, reads what is left of the request to its
/// end and drops it: each part within the client body timeout, at most
/// [`DISCARDED_BODY_LIMIT`] bytes. Past either, the stream is reset (`RST_STREAM` with
/// `NO_ERROR`, RFC 9113 §8.1).
///
/// A forwarded request's stream is read to its end, and on HTTP/1.1 a body is read to its
/// end before the connection's next request. Without this, an answered stream was reset as
/// soon as the answer was written, and the frames the client had sent after its head (a
/// DATA frame past its Content-Length, trailers with a pseudo-header, HEADERS after its own
/// RST_STREAM) were ignored, as RFC 9113 §5.1 says of frames on a stream one has reset,
/// instead of getting the stream or connection error they get on a forwarded request:
/// which one a client saw depended on whether they arrived before the answer was written.
pub(super) async fn discard_request_body(session: &mut Session, timeout: Duration) {
    if !session.as_downstream().is_http2() {
        return;
    }
    let mut left = DISCARDED_BODY_LIMIT;
    loop {
        let read = session.downstream_session.read_request_body();
        match pingora_timeout::timeout(timeout, read).await {
            Ok(Ok(Some(part))) if part.len() <= left => left -= part.len(),
            // The end; a stream error (h2 has answered it); too slow or too much.
            _ => return,
        }
    }
}
