//! An upstream response head: how its body is framed, whether the upstream connection
//! can be kept, and the head the client receives (hop-by-hop headers removed).

use super::request::Span;
use crate::routes::HeaderEdits;
use crate::serve::hygiene;

/// Headers in an upstream response; more is a bad response.
const MAX_HEADERS: usize = 100;
/// The most bytes of a response head; more is a bad response.
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: HEAD requests, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub len: usize,
    pub status: u16,
    pub framing: Framing,
    /// The upstream may send another response on this connection.
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Partial,
    /// A 1xx other than 101, of `len` bytes, to skip: the final response follows.
    Interim(usize),
    Head(ResponseHead),
    /// A response the client must not get: 502.
    Bad(&'static str),
}

/// A header passed on to the client.
#[derive(Clone, Copy, Debug)]
pub struct Kept {
    name: Span,
    value: Span,
}

/// Parses the response at the start of `buf` to a request that was HEAD or not.
pub fn parse(buf: &[u8], head_request: bool, kept: &mut Vec<Kept>) -> Parsed {
    kept.clear();
    // Left uninitialised: zeroing them would cost more than parsing a small response.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        Ok(httparse::Status::Partial) => return Parsed::Bad("the response head is too large"),
        Err(httparse::Error::TooManyHeaders) => return Parsed::Bad("too many response headers"),
        Err(_) => return Parsed::Bad("malformed response head"),
    };
    let status = resp.code.unwrap_or(0);
    match status {
        101 => return Parsed::Bad("101 Switching Protocols to a request without Upgrade"),
        100..=199 => return Parsed::Interim(len),
        _ => {}
    }
    let mut keep_alive = resp.version == Some(1);
    let (mut length, mut chunked, mut encoded, mut named) = (None, false, false, false);
    for header in resp.headers.iter() {
        let (name, value) = (header.name, header.value);
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("content-length") {
            let valid = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let parsed = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            match (length, valid.then_some(parsed).flatten()) {
                (None, Some(n)) => length = Some(n),
                _ => return Parsed::Bad("invalid or repeated Content-Length"),
            }
        } else if is("transfer-encoding") {
            encoded = true;
            // Chunked must be the last coding for the length to be known (RFC 9112 §6.3).
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if is("connection") {
            for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if option.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if !option.eq_ignore_ascii_case(b"keep-alive") && !option.is_empty() {
                    named = true;
                }
            }
            continue;
        } else if is("upgrade") || hygiene::RESPONSE_HOP_BY_HOP.iter().any(|n| is(n.as_str())) {
            // A 101 never gets here; an Upgrade offer is this hop's.
            continue;
        }
        let (Some(name), Some(value)) = (Span::of(buf, name.as_bytes()), Span::of(buf, value))
        else {
            return Parsed::Bad("malformed response head");
        };
        kept.push(Kept { name, value });
    }
    if named {
        drop_connection_options(buf, resp.headers, kept);
    }
    if encoded && length.take().is_some() {
        // The encoding frames the body; the length is not passed on (RFC 9112 §6.3).
        kept.retain(|k| !k.name.get(buf).eq_ignore_ascii_case(b"content-length"));
    }
    let framing = if head_request || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if encoded {
        Framing::UntilClose
    } else {
        length.map_or(Framing::UntilClose, Framing::Length)
    };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Parsed::Head(ResponseHead {
        len,
        status,
        framing,
        keep_alive,
    })
}

/// Removes the headers that `Connection` names: they are for this hop only.
fn drop_connection_options(buf: &[u8], headers: &[httparse::Header<'_>], kept: &mut Vec<Kept>) {
    let named: Vec<&[u8]> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| hygiene::connection_options(h.value))
        .collect();
    kept.retain(|k| {
        !named
            .iter()
            .any(|n| n.eq_ignore_ascii_case(k.name.get(buf)))
    });
}

/// Writes the head the client receives: HTTP/1.1, the upstream's status and reason, its
/// [`client_headers`], and `Connection: close` when the client connection ends after this
/// response.
pub fn write_downstream_head(
    buf: &[u8],
    head: &ResponseHead,
    kept: &[Kept],
    extra: &[(&'static str, String)],
    edits: Option<&HeaderEdits>,
    close: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse only accepts three-digit codes.
    let s = head.status;
    out.extend_from_slice(&[
        b'0' + (s / 100 % 10) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]);
    out.push(b' ');
    out.extend_from_slice(reason(buf));
    out.extend_from_slice(b"\r\n");
    for (name, value) in client_headers(buf, kept, extra, edits) {
        super::request::push_header(out, name, value);
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The headers the client receives, in order: the kept ones, less those the edits drop and
/// those `extra` replaces (all but `Vary`, which is added to); the edits' own; then `extra`.
/// One list for HTTP/1.1 and HTTP/2 clients.
pub fn client_headers<'b>(
    buf: &'b [u8],
    kept: &'b [Kept],
    extra: &'b [(&'static str, String)],
    edits: Option<&'b HeaderEdits>,
) -> impl Iterator<Item = (&'b [u8], &'b [u8])> {
    let upstream = kept.iter().filter_map(move |header| {
        let name = header.name.get(buf);
        let replaced = extra
            .iter()
            .any(|(n, _)| *n != "vary" && n.as_bytes().eq_ignore_ascii_case(name));
        (!replaced && !edits.is_some_and(|e| e.drops(name))).then(|| (name, header.value.get(buf)))
    });
    let edited = edits
        .into_iter()
        .flat_map(|e| e.written())
        .map(|(name, value)| (name.as_bytes(), value.as_bytes()));
    let added = extra
        .iter()
        .map(|(name, value)| (name.as_bytes(), value.as_bytes()));
    upstream.chain(edited).chain(added)
}

/// The reason phrase of the status line at the start of `buf` (parsed already).
fn reason(buf: &[u8]) -> &[u8] {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // "HTTP/1.1 200 OK": the reason is what follows the second space.
    line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str, head_request: bool) -> Parsed {
        parse(raw.as_bytes(), head_request, &mut Vec::new())
    }

    fn framing(raw: &str) -> (Framing, bool) {
        match parsed(raw, false) {
            Parsed::Head(h) => (h.framing, h.keep_alive),
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn downstream(raw: &str, close: bool) -> String {
        let mut kept = Vec::new();
        let Parsed::Head(head) = parse(raw.as_bytes(), false, &mut kept) else {
            panic!("{raw:?}");
        };
        let mut out = Vec::new();
        write_downstream_head(raw.as_bytes(), &head, &kept, &[], None, close, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn body_framing() {
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            (Framing::Length(2), true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            (Framing::Chunked, true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n"),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
            (Framing::Empty, true)
        );
        assert_eq!(
            framing("HTTP/1.1 304 Not Modified\r\n\r\n"),
            (Framing::Empty, true)
        );
        let Parsed::Head(head) = parsed("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
        else {
            panic!()
        };
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn when_the_upstream_connection_is_kept() {
        assert!(!framing("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").1);
        assert!(!framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").1);
        assert!(
            framing("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").1
        );
    }

    #[test]
    fn ambiguous_or_broken_responses_are_refused() {
        // Both framings: the encoding wins and the length is not passed on.
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(
            matches!(parsed(both, false), Parsed::Head(h) if h.framing == Framing::Chunked),
            "{both:?}"
        );
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(matches!(parsed(raw, false), Parsed::Bad(_)), "{raw:?}");
        }
        assert_eq!(
            parsed("HTTP/1.1 200 OK\r\nContent-", false),
            Parsed::Partial
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(parsed(raw, false), Parsed::Interim(25));
    }

    #[test]
    fn the_client_gets_no_hop_by_hop_headers() {
        let raw = "HTTP/1.1 200 Fine Thanks\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n\
                   X-Hop: 1\r\nContent-Length: 2\r\nX-App: yes\r\n\r\nok";
        assert_eq!(
            downstream(raw, false),
            "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\nX-App: yes\r\n\r\n"
        );
        assert_eq!(
            downstream("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", true),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            downstream("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false),
            "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"
        );
    }

    /// Caught by the round trip of fuzz/fuzz_targets/h1_response_head.rs: a `Connection`
    /// that named a framing header took it from the client's head, so a kept-alive client
    /// read the body until a close that never came.
    #[test]
    fn connection_cannot_take_the_framing_from_the_client() {
        let raw = "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(framing(raw), (Framing::Length(5), true));
        assert_eq!(
            downstream(raw, false),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        );
        let raw = "HTTP/1.1 200 OK\r\nConnection: keep-alive, transfer-encoding\r\n\
                   Transfer-Encoding: chunked\r\n\r\n";
        assert_eq!(framing(raw), (Framing::Chunked, true));
        assert_eq!(
            downstream(raw, false),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
    }
}
