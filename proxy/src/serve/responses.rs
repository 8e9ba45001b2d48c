//! The responses Sluice writes itself on Pingora's path: short plain-text bodies that say
//! what happened.

use bytes::Bytes;
use http::header;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::answers::Answer;

fn plain_header(code: u16, len: usize) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(code, Some(4))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, len)?;
    Ok(resp)
}

/// Answers the request, keeping the connection open.
pub async fn send(session: &mut Session, answer: &Answer) -> Result<()> {
    let body = &answer.body;
    let mut resp = plain_header(answer.status, body.len())?;
    if let Some(location) = &answer.location {
        resp.insert_header(header::LOCATION, location.as_str())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::copy_from_slice(body.as_bytes())), true)
        .await
}

/// Answers a failed proxy attempt; the connection is closed afterwards, since its state
/// after an upstream failure is unknown.
pub async fn send_error(session: &mut Session, code: u16, body: &str) {
    let Ok(resp) = plain_header(code, body.len()) else {
        return;
    };
    if let Err(error) = session
        .write_error_response(resp, Bytes::copy_from_slice(body.as_bytes()))
        .await
    {
        tracing::debug!(%error, code, "could not write the error response");
    }
}
