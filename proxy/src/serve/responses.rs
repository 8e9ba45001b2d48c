//! The responses Sluice writes itself: short plain-text bodies that say what happened.

use bytes::Bytes;
use http::header;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

fn plain_header(code: u16, len: usize) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(code, Some(4))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, len)?;
    Ok(resp)
}

/// Answers the request with `code` and `body`, keeping the connection open.
pub async fn send(
    session: &mut Session,
    code: u16,
    body: &str,
    location: Option<&str>,
) -> Result<()> {
    let mut resp = plain_header(code, body.len())?;
    if let Some(location) = location {
        resp.insert_header(header::LOCATION, location)?;
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

/// The `Location` of an HTTP→HTTPS redirect for `host` (already normalised, so free of
/// ports and of characters a header cannot hold).
pub fn https_location(host: &str, port: u16, path_and_query: &str) -> String {
    if port == 443 {
        format!("https://{host}{path_and_query}")
    } else {
        format!("https://{host}:{port}{path_and_query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations() {
        assert_eq!(
            https_location("a.example.com", 443, "/x?y=1"),
            "https://a.example.com/x?y=1"
        );
        assert_eq!(
            https_location("a.example.com", 30443, "/"),
            "https://a.example.com:30443/"
        );
    }
}
