//! Writing headers on request and response heads: a route's header edits, and the headers
//! Sluice sets on a backend's response.

use pingora::Result;
use pingora::http::{RequestHeader, ResponseHeader};

use crate::routes::HeaderEdits;

/// Sets `headers` on a response: each replaces the upstream's of that name, except `Vary`,
/// which is added to (an upstream's `Vary: Accept-Encoding` still holds).
pub(super) fn set_response_headers(
    response: &mut ResponseHeader,
    headers: &[(&'static str, String)],
) -> Result<()> {
    for (name, value) in headers {
        if *name == "vary" {
            response.append_header(*name, value.as_str())?;
        } else {
            response.insert_header(*name, value.as_str())?;
        }
    }
    Ok(())
}

/// Applies a route's header edits to a request or response head: removed and set names
/// go, then the set and added ones are written.
pub(super) fn edit_headers(head: &mut impl HeaderEditing, edits: &HeaderEdits) -> Result<()> {
    for name in edits.remove.iter().chain(edits.set.iter().map(|(n, _)| n)) {
        head.remove(name);
    }
    for (name, value) in edits.written() {
        head.append(name.to_string(), value)?;
    }
    Ok(())
}

/// What [`edit_headers`] needs of Pingora's request and response heads.
pub(super) trait HeaderEditing {
    fn remove(&mut self, name: &str);
    fn append(&mut self, name: String, value: &str) -> Result<()>;
}

impl HeaderEditing for RequestHeader {
    fn remove(&mut self, name: &str) {
        self.remove_header(name);
    }

    fn append(&mut self, name: String, value: &str) -> Result<()> {
        self.append_header(name, value).map(|_| ())
    }
}

impl HeaderEditing for ResponseHeader {
    fn remove(&mut self, name: &str) {
        self.remove_header(name);
    }

    fn append(&mut self, name: String, value: &str) -> Result<()> {
        self.append_header(name, value).map(|_| ())
    }
}
