//! The responses Sluice writes itself on Pingora's path: short plain-text bodies that say
//! what happened.

use bytes::Bytes;
use http::header;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::answers::{self, Answer};
use super::error_pages::Page;

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

/// The head of one of Sluice's own answers: its plain-text head and `Location`. One head
/// for Pingora's path and the fast path's HTTP/2 streams.
pub fn answer_header(answer: &Answer) -> Result<ResponseHeader> {
    let mut resp = plain_header(answer.status, answer.body.len(), &answer.headers)?;
    if let Some(location) = &answer.location {
        resp.insert_header(header::LOCATION, location.as_str())?;
    }
    Ok(resp)
}

/// Answers the request, keeping the connection open.
pub async fn send(session: &mut Session, answer: &Answer) -> Result<()> {
    let body = &answer.body;
    let resp = answer_header(answer)?;
    if !answer.has_body() {
        return session.write_response_header(Box::new(resp), true).await;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::copy_from_slice(body.as_bytes())), true)
        .await
}

/// Answers with an error page from a default backend (`custom-http-errors`), with
/// `headers` (the route's CORS and custom headers); the connection is closed afterwards, as after any
/// answer that replaced an upstream's.
pub async fn send_page(session: &mut Session, page: &Page, headers: &[(&'static str, String)]) {
    let head = (|| -> Result<ResponseHeader> {
        let mut resp = ResponseHeader::build(page.status, Some(3 + headers.len()))?;
        if let Some(content_type) = &page.content_type {
            resp.insert_header(header::CONTENT_TYPE, content_type.clone())?;
        }
        resp.insert_header(header::CONTENT_LENGTH, page.body.len())?;
        for (name, value) in headers {
            resp.append_header(*name, value.as_str())?;
        }
        Ok(resp)
    })();
    let Ok(head) = head else {
        return;
    };
    if let Err(error) = session.write_error_response(head, page.body.clone()).await {
        tracing::debug!(%error, status = page.status, "could not write the error page");
    }
}

/// Answers a failed proxy attempt, with `headers` (the route's CORS and custom headers); the
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
