//! The route a request the fast path took matches: looked up once per request, for an
//! HTTP/1.1 request and an HTTP/2 stream alike.

use std::sync::Arc;

use sluice_crds::gateway::matching::RequestFacts;
use sluice_crds::ingress::normalize_request_host;

use super::FastPath;
use super::request::RequestHead;
use crate::routes::Route;

/// The route the request `head` (in `buf`) matches in the table of the port it came in on.
pub fn route_for(
    app: &FastPath,
    local_port: Option<u16>,
    buf: &[u8],
    head: &RequestHead,
) -> Option<Arc<Route>> {
    let facts = HeadFacts { buf, head };
    app.state
        .tables()
        .for_port(local_port)
        .lookup(
            &normalize_request_host(head.host.str(buf)),
            head.path(buf),
            &facts,
        )
        .cloned()
}

/// What route conditions read of a request the fast path took: its head, read again only
/// when a route has conditions (an Ingress route has none).
struct HeadFacts<'a> {
    buf: &'a [u8],
    head: &'a RequestHead,
}

impl RequestFacts for HeadFacts<'_> {
    fn method(&self) -> &str {
        self.head.method(self.buf)
    }

    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        let head = self.buf.get(..self.head.len).unwrap_or_default();
        header_lines(head)
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }

    fn query(&self) -> Option<&str> {
        self.head.query(self.buf)
    }
}

/// The (name, value) of each header line of a head httparse accepted (so no folded lines
/// and no space before a colon), values without the whitespace around them.
fn header_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    // Past the empty lines a client may send before the request line, and that line.
    let _request_line = lines.find(|line| !line.is_empty());
    lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            Some((name, value.get(1..).unwrap_or_default().trim_ascii()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::h1::request::{self, Parsed};

    #[test]
    fn route_conditions_read_every_header_of_the_head_and_nothing_after() {
        let raw = b"\r\nPOST /a:b?x=1&y=%20 HTTP/1.1\r\nHost: a.example\r\nX-Tag:  one \r\n\
                    Connection: keep-alive\r\nx-tag:two\nContent-Length: 9\r\n\r\nX-Tag: body";
        let mut forward = Vec::new();
        let Parsed::Head(head) = request::parse(raw, &mut forward) else {
            panic!("not taken");
        };
        let facts = HeadFacts {
            buf: raw,
            head: &head,
        };
        assert_eq!(facts.method(), "POST");
        assert_eq!(facts.query(), Some("x=1&y=%20"));
        let values: Vec<&[u8]> = facts.header_values("x-tag").collect();
        assert_eq!(values, [&b"one"[..], b"two"]);
        // Headers the fast path does not pass on are still the request's.
        assert_eq!(
            facts.header_values("connection").collect::<Vec<_>>(),
            [b"keep-alive"]
        );
        assert_eq!(facts.header_values("host").count(), 1);
        assert_eq!(facts.header_values("post /a").count(), 0);
    }
}
