//! The responses Sluice writes itself on Pingora's path: short plain-text bodies that say
//! what happened.

use bytes::Bytes;
use http::header;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::answers::{self, Answer};

/// The head of a plain-text answer of `len` bytes (none for a 204), with `headers`.
fn plain_header(
    code: u16,
    len: usize,
    headers: &[(&'static str, String)],
) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(code, Some(4 + headers.len()))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    if answers::has_body(code) {
        resp.insert_header(header::CONTENT_LENGTH, len)?;
    }
    for (name, value) in headers {
        resp.append_header(*name, value.as_str())?;
    }
    Ok(resp)
}

/// Answers the request, keeping the connection open.
pub async fn send(session: &mut Session, answer: &Answer) -> Result<()> {
    let body = &answer.body;
    let mut resp = plain_header(answer.status, body.len(), &answer.headers)?;
    if let Some(location) = &answer.location {
        resp.insert_header(header::LOCATION, location.as_str())?;
    }
    if !answer.has_body() {
        return session.write_response_header(Box::new(resp), true).await;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::copy_from_slice(body.as_bytes())), true)
        .await
}

/// Answers a failed proxy attempt, with `headers` (the route's CORS headers); the
/// connection is closed afterwards, since its state after an upstream failure is unknown.
pub async fn send_error(
    session: &mut Session,
    code: u16,
    body: &str,
    headers: &[(&'static str, String)],
) {
    let Ok(resp) = plain_header(code, body.len(), headers) else {
        return;
    };
    if let Err(error) = session
        .write_error_response(resp, Bytes::copy_from_slice(body.as_bytes()))
        .await
    {
        tracing::debug!(%error, code, "could not write the error response");
    }
}
