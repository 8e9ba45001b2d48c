//! Reading a request head Pingora parsed: its host, its headers, whether it is malformed,
//! and how logs and traces write it.

use std::borrow::Cow;

use http::header;
use pingora::http::RequestHeader;
use sluice_crds::gateway::matching::RequestFacts;
use sluice_crds::ingress::normalize_request_host;

use crate::serve::answers;
use crate::serve::hygiene;

/// The request's host as routing sees it: from :authority (HTTP/2) or Host (HTTP/1),
/// normalised. Borrowed from the request when it needs no change.
pub(super) fn request_host(req: &RequestHeader) -> Cow<'_, str> {
    let raw = req
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or_default();
    normalize_request_host(raw)
}

/// What route conditions read of a request Pingora parsed (only for a route with
/// conditions).
pub(super) struct HeaderFacts<'a>(pub(super) &'a RequestHeader);

impl RequestFacts for HeaderFacts<'_> {
    fn method(&self) -> &str {
        self.0.method.as_str()
    }

    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.0.headers.get_all(name).iter().map(|v| v.as_bytes())
    }

    fn query(&self) -> Option<&str> {
        self.0.uri.query()
    }
}

/// The value of the affinity cookie `name`, if the request has one.
pub(super) fn affinity_token<'r>(req: &'r RequestHeader, name: &str) -> Option<&'r str> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| answers::cookie(v, name))
}

/// The first `name` header, if it is text.
pub(super) fn header_str<'r>(req: &'r RequestHeader, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's first `Origin`, for CORS.
pub(super) fn origin(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
}

/// Why the request is refused with 400, if it is ([`hygiene::malformed`]).
pub(super) fn malformed(req: &RequestHeader) -> Option<&'static str> {
    hygiene::malformed(hygiene::Head {
        version: req.version,
        hosts: req
            .headers
            .get_all(header::HOST)
            .iter()
            .map(|v| v.as_bytes()),
        authority: req.uri.authority().map(|a| a.as_str()),
        content_lengths: req.headers.get_all(header::CONTENT_LENGTH).iter().count(),
        raw_target: req.raw_path(),
    })
}

/// The protocol of a request, as the access log writes it.
pub(super) fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// The size of a request head in its HTTP/1.1 form: the request line, the headers and the
/// blank line (an HTTP/2 head is counted as if it had come so).
pub(super) fn head_length(req: &RequestHeader) -> u64 {
    let uri = &req.uri;
    let target = uri.scheme_str().map_or(0, |s| s.len() + "://".len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method.as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    (line + headers + 2) as u64
}

/// The protocol version of a request, as trace attributes write it.
pub(super) fn version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_10 => "1.0",
        _ => "1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_conditions_read_pingoras_request_head() {
        let mut req = RequestHeader::build("PUT", b"/a?x=1", None).unwrap();
        req.append_header("X-Tag", "one").unwrap();
        req.append_header("x-tag", "two").unwrap();
        let facts = HeaderFacts(&req);
        assert_eq!(facts.method(), "PUT");
        assert_eq!(facts.query(), Some("x=1"));
        let values: Vec<&[u8]> = facts.header_values("x-tag").collect();
        assert_eq!(values, [&b"one"[..], b"two"]);
        assert_eq!(facts.header_values("x-none").count(), 0);
    }
}
