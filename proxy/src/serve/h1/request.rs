//! A downstream request head as the fast path sees it: parsed once, into byte ranges of
//! the connection's buffer, and either taken or left to Pingora.
//!
//! The fast path takes only plain, unambiguous HTTP/1.1 requests: origin-form target, one
//! Host, no body or one `Content-Length` whose whole body is already buffered, and no
//! `Transfer-Encoding`, `Upgrade`, `Expect` or `Connection` option other than `close` and
//! `keep-alive`. Everything else (including whatever httparse calls malformed) goes to
//! Pingora, so request framing is never decided by two different parsers.

use crate::routes::HeaderEdits;
use crate::serve::{hygiene, request_id};

/// Headers in a request the fast path takes; more goes to Pingora.
pub const MAX_HEADERS: usize = 64;
/// The most bytes of head and body the fast path holds for one request.
pub const MAX_BUFFERED: usize = 64 * 1024;

/// A range of the connection's buffer (which holds at most [`MAX_BUFFERED`] bytes of a
/// request, so 32 bits keep the head small).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `part`, a slice of `buf`, lies in it.
    pub(super) fn of(buf: &[u8], part: &[u8]) -> Option<Span> {
        if part.is_empty() {
            return Some(Span::default());
        }
        let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        (end <= buf.len()).then_some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    pub fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// The span as text; the parser only makes spans of ASCII for the parts read as text.
    pub fn str(self, buf: &[u8]) -> &str {
        std::str::from_utf8(self.get(buf)).unwrap_or_default()
    }
}

/// A header passed on to the upstream unchanged.
#[derive(Clone, Copy, Debug)]
pub struct Forwarded {
    name: Span,
    value: Span,
    /// `traceparent` or `tracestate`: replaced when the proxy traces.
    trace: bool,
    /// `Authorization`: not passed on by a route with basic auth, which consumed it.
    authorization: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the head, the blank line included; the body follows.
    pub len: usize,
    pub body_len: usize,
    pub method: Span,
    pub target: Span,
    /// The Host header as sent (port included).
    pub host: Span,
    /// The client asked to close the connection after this request.
    pub close: bool,
    /// A usable X-Request-Id that came with the request (and is forwarded).
    pub request_id: Option<Span>,
    /// For the access log.
    pub user_agent: Option<Span>,
    pub referer: Option<Span>,
    pub traceparent: Option<Span>,
    pub tracestate: Option<Span>,
    /// For CORS: the first `Origin`, and a preflight's `Access-Control-Request-Method` and
    /// `-Headers`.
    pub origin: Option<Span>,
    pub cors_request_method: Option<Span>,
    pub cors_request_headers: Option<Span>,
    /// For basic auth: the first `Authorization`.
    pub authorization: Option<Span>,
}

impl RequestHead {
    /// Head and body.
    pub fn total_len(&self) -> usize {
        self.len + self.body_len
    }

    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b str {
        self.method.str(buf)
    }

    pub fn is_head(&self, buf: &[u8]) -> bool {
        self.method.get(buf) == b"HEAD"
    }

    /// A request that can be sent again when a kept-alive upstream connection turns out to
    /// be closed (RFC 9110 §9.2.2).
    pub fn idempotent(&self, buf: &[u8]) -> bool {
        matches!(
            self.method.get(buf),
            b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
        )
    }

    pub fn path_and_query<'b>(&self, buf: &'b [u8]) -> &'b str {
        self.target.str(buf)
    }

    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b str {
        let target = self.target.str(buf);
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The query, without `?`.
    pub fn query<'b>(&self, buf: &'b [u8]) -> Option<&'b str> {
        self.target.str(buf).split_once('?').map(|(_, query)| query)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not all of the head (or of a small body) has arrived yet.
    Partial,
    Head(RequestHead),
    /// Outside what the fast path takes: Pingora reads the request from the start.
    Pingora,
    /// A request line that is not HTTP/1.1 (a space or a control byte in the target, say):
    /// refused with 400 here, since Pingora would escape it into another target.
    Malformed(&'static str),
}

/// Parses the request at the start of `buf`; `forward` receives the headers to pass on.
pub fn parse(buf: &[u8], forward: &mut Vec<Forwarded>) -> Parsed {
    forward.clear();
    // Left uninitialised: zeroing them would cost more than parsing a small request.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_BUFFERED => return Parsed::Partial,
        Err(httparse::Error::Token | httparse::Error::Version) => {
            return Parsed::Malformed("the request line is not method, target and version");
        }
        Ok(httparse::Status::Partial) | Err(_) => return Parsed::Pingora,
    };
    match classify(buf, len, &req, forward) {
        Some(head) if head.total_len() > MAX_BUFFERED => Parsed::Pingora,
        Some(head) if head.total_len() > buf.len() => Parsed::Partial,
        Some(head) => Parsed::Head(head),
        None => Parsed::Pingora,
    }
}

fn classify(
    buf: &[u8],
    len: usize,
    req: &httparse::Request<'_, '_>,
    forward: &mut Vec<Forwarded>,
) -> Option<RequestHead> {
    let (method, target) = (req.method?, req.path?);
    if req.version != Some(1) || method == "CONNECT" {
        return None;
    }
    // Origin form only, visible ASCII only: what Pingora's URI parser would accept too.
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut head = RequestHead {
        len,
        body_len: 0,
        method: Span::of(buf, method.as_bytes())?,
        target: Span::of(buf, target.as_bytes())?,
        host: Span::default(),
        close: false,
        request_id: None,
        user_agent: None,
        referer: None,
        traceparent: None,
        tracestate: None,
        origin: None,
        cors_request_method: None,
        cors_request_headers: None,
        authorization: None,
    };
    let (mut host, mut length) = (None, None);
    for header in req.headers.iter() {
        let (name, value) = (header.name, header.value);
        let value_span = Span::of(buf, value)?;
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("host") {
            if host.replace(value_span).is_some() || !hygiene::valid_host(value) {
                return None;
            }
        } else if is("content-length") {
            if length.is_some() || value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return None;
            }
            length = Some(std::str::from_utf8(value).ok()?.parse::<usize>().ok()?);
            forward.push(Forwarded::new(buf, name, value_span, false)?);
        } else if is("transfer-encoding") || is("upgrade") || is("expect") {
            return None;
        } else if is("connection") {
            for option in value.split(|&b| b == b',') {
                let option = option.trim_ascii();
                if option.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if !option.eq_ignore_ascii_case(b"keep-alive") && !option.is_empty() {
                    // Other options name hop-by-hop headers; Pingora handles those.
                    return None;
                }
            }
        } else if !hygiene::forwarded(name.as_bytes()) {
            // Hop-by-hop, set by the proxy, or a name with an underscore: not passed on.
        } else if is("x-request-id") {
            if request_id::usable(value) && head.request_id.is_none() {
                head.request_id = Some(value_span);
                forward.push(Forwarded::new(buf, name, value_span, false)?);
            }
        } else if is("traceparent") || is("tracestate") {
            if is("traceparent") {
                head.traceparent = Some(value_span);
            } else {
                head.tracestate = Some(value_span);
            }
            forward.push(Forwarded::new(buf, name, value_span, true)?);
        } else if is("authorization") {
            head.authorization.get_or_insert(value_span);
            let mut header = Forwarded::new(buf, name, value_span, false)?;
            header.authorization = true;
            forward.push(header);
        } else {
            if is("user-agent") {
                head.user_agent = Some(value_span);
            } else if is("referer") {
                head.referer = Some(value_span);
            } else if is("origin") && head.origin.is_none() {
                head.origin = Some(value_span);
            } else if is("access-control-request-method") {
                head.cors_request_method.get_or_insert(value_span);
            } else if is("access-control-request-headers") {
                head.cors_request_headers.get_or_insert(value_span);
            }
            forward.push(Forwarded::new(buf, name, value_span, false)?);
        }
    }
    head.host = host?;
    head.body_len = length.unwrap_or(0);
    Some(head)
}

impl Forwarded {
    fn new(buf: &[u8], name: &str, value: Span, trace: bool) -> Option<Self> {
        Some(Self {
            name: Span::of(buf, name.as_bytes())?,
            value,
            trace,
            authorization: false,
        })
    }
}

/// What the proxy adds to a request it forwards.
pub struct Forwarding<'a> {
    /// The request target the backend gets instead of the client's (a rewrite).
    pub target: Option<&'a str>,
    /// `X-Forwarded-Prefix`, with a rewrite.
    pub forwarded_prefix: Option<&'a str>,
    /// The `Host` the backend gets instead of the client's (`upstream-vhost`).
    pub host: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub tls: bool,
    /// A new X-Request-Id, when the request came without one.
    pub request_id: Option<&'a str>,
    /// The proxy sends its own trace context: drop the incoming one.
    pub replace_trace: bool,
    /// Basic auth consumed the `Authorization` header: drop it, as ingress-nginx does.
    pub drop_authorization: bool,
    /// The route's edits of the request's headers.
    pub edits: Option<&'a HeaderEdits>,
}

/// Writes the upstream request head to `out` without its final blank line: the request line,
/// the forwarded headers, then X-Forwarded-For, X-Real-IP, X-Forwarded-Proto,
/// X-Forwarded-Host and X-Request-Id. Add more with [`push_header`], then [`end_head`].
pub fn write_upstream_head(
    buf: &[u8],
    head: &RequestHead,
    forward: &[Forwarded],
    adding: &Forwarding<'_>,
    out: &mut Vec<u8>,
) {
    out.clear();
    for part in [
        head.method.get(buf),
        b" ",
        adding
            .target
            .map_or_else(|| head.target.get(buf), str::as_bytes),
        b" HTTP/1.1\r\nHost: ",
        adding
            .host
            .map_or_else(|| head.host.get(buf), str::as_bytes),
        b"\r\n",
    ] {
        out.extend_from_slice(part);
    }
    for header in forward {
        if !(adding.replace_trace && header.trace
            || adding.drop_authorization && header.authorization
            || adding.edits.is_some_and(|e| e.drops(header.name.get(buf))))
        {
            push_header(out, header.name.get(buf), header.value.get(buf));
        }
    }
    for (name, value) in adding.edits.iter().flat_map(|e| e.written()) {
        push_header(out, name.as_bytes(), value.as_bytes());
    }
    if let Some(ip) = adding.client_ip {
        push_header(out, b"X-Forwarded-For", ip.as_bytes());
        push_header(out, b"X-Real-IP", ip.as_bytes());
    }
    let proto: &[u8] = if adding.tls { b"https" } else { b"http" };
    push_header(out, b"X-Forwarded-Proto", proto);
    push_header(out, b"X-Forwarded-Host", head.host.get(buf));
    if let Some(id) = adding.request_id {
        push_header(out, b"X-Request-Id", id.as_bytes());
    }
    if let Some(prefix) = adding.forwarded_prefix {
        push_header(out, b"X-Forwarded-Prefix", prefix.as_bytes());
    }
}

pub fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for part in [name, b": ", value, b"\r\n"] {
        out.extend_from_slice(part);
    }
}

/// Adapts [`push_header`] to the trace propagation's setter.
pub fn push_header_with(out: &mut Vec<u8>) -> impl FnMut(&'static str, &[u8]) + '_ {
    move |name, value| push_header(out, name.as_bytes(), value)
}

pub fn end_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> (Parsed, Vec<Forwarded>) {
        let mut forward = Vec::new();
        (parse(raw.as_bytes(), &mut forward), forward)
    }

    fn taken(raw: &str) -> RequestHead {
        match head(raw).0 {
            Parsed::Head(h) => h,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn upstream(raw: &str, adding: &Forwarding<'_>) -> String {
        let mut forward = Vec::new();
        let Parsed::Head(h) = parse(raw.as_bytes(), &mut forward) else {
            panic!("{raw:?} not taken");
        };
        let mut out = Vec::new();
        write_upstream_head(raw.as_bytes(), &h, &forward, adding, &mut out);
        end_head(&mut out);
        String::from_utf8(out).unwrap()
    }

    const PLAIN: Forwarding<'static> = Forwarding {
        target: None,
        forwarded_prefix: None,
        host: None,
        client_ip: Some("10.0.0.9"),
        tls: false,
        request_id: Some("id-1"),
        replace_trace: false,
        drop_authorization: false,
        edits: None,
    };

    #[test]
    fn a_plain_get_is_taken() {
        let raw = "GET /a/b?q=1 HTTP/1.1\r\nHost: App.Example:8080\r\nAccept: */*\r\n\r\n";
        let h = taken(raw);
        let buf = raw.as_bytes();
        assert_eq!(h.len, raw.len());
        assert_eq!(h.method(buf), "GET");
        assert_eq!(h.path(buf), "/a/b");
        assert_eq!(h.path_and_query(buf), "/a/b?q=1");
        assert_eq!(h.host.str(buf), "App.Example:8080");
        assert!(!h.close && h.request_id.is_none() && h.idempotent(buf));
    }

    #[test]
    fn incomplete_heads_and_bodies_wait_for_more() {
        assert_eq!(head("GET / HTTP/1.1\r\nHost: a\r\n").0, Parsed::Partial);
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab").0,
            Parsed::Partial
        );
        let post = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcdeGET";
        assert_eq!(taken(post).total_len(), post.len() - 3);
    }

    #[test]
    fn ambiguous_or_unusual_requests_go_to_pingora() {
        for raw in [
            // Framing only Pingora decides: chunked, both, duplicates, junk lengths.
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            // Bodies larger than the fast path holds.
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n",
            // Protocol switches and interim responses.
            "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\n\r\n",
            // Versions, targets and hosts outside the plain subset.
            "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: \r\n\r\n",
            // Malformed.
            "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded: x\r\n\r\n",
        ] {
            assert_eq!(head(raw).0, Parsed::Pingora, "{raw:?}");
        }
        for raw in [
            "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert!(matches!(head(raw).0, Parsed::Malformed(_)), "{raw:?}");
        }
        let many = format!(
            "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS)
        );
        assert_eq!(head(&many).0, Parsed::Pingora);
        let huge = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}",
            "y".repeat(MAX_BUFFERED)
        );
        assert_eq!(head(&huge).0, Parsed::Pingora);
    }

    #[test]
    fn forwarding_headers_replace_what_the_client_sent() {
        let raw = "GET /p HTTP/1.1\r\nhost: a.example\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\
                   x-forwarded-proto: https\r\nX-Forwarded-Host: evil\r\nConnection: keep-alive\r\n\
                   Keep-Alive: timeout=5\r\nTE: trailers\r\nAccept: text/plain\r\n\r\n";
        assert_eq!(
            upstream(raw, &PLAIN),
            "GET /p HTTP/1.1\r\nHost: a.example\r\nAccept: text/plain\r\n\
             X-Forwarded-For: 10.0.0.9\r\nX-Real-IP: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n\
             X-Forwarded-Host: a.example\r\nX-Request-Id: id-1\r\n\r\n"
        );
    }

    #[test]
    fn a_usable_request_id_is_kept_and_others_replaced() {
        let keep = "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc\r\n\r\n";
        assert!(taken(keep).request_id.is_some());
        let adding = Forwarding {
            request_id: None,
            ..PLAIN
        };
        assert!(upstream(keep, &adding).contains("X-Request-Id: abc\r\n"));
        let long = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: {}\r\n\r\n",
            "x".repeat(201)
        );
        assert!(taken(&long).request_id.is_none());
        assert!(!upstream(&long, &PLAIN).contains("xxxx"));
        assert!(
            taken("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:\r\n\r\n")
                .request_id
                .is_none()
        );
    }

    #[test]
    fn trace_context_is_dropped_only_when_the_proxy_sends_its_own() {
        let raw =
            "GET / HTTP/1.1\r\nHost: a\r\ntraceparent: 00-aa-bb-01\r\ntracestate: k=v\r\n\r\n";
        let h = taken(raw);
        assert_eq!(
            h.traceparent.map(|s| s.str(raw.as_bytes())),
            Some("00-aa-bb-01")
        );
        assert_eq!(h.tracestate.map(|s| s.str(raw.as_bytes())), Some("k=v"));
        assert!(upstream(raw, &PLAIN).contains("traceparent: 00-aa-bb-01\r\ntracestate: k=v\r\n"));
        let replacing = Forwarding {
            replace_trace: true,
            drop_authorization: false,
            ..PLAIN
        };
        assert!(!upstream(raw, &replacing).contains("trace"));
    }

    #[test]
    fn connection_close_is_noted() {
        assert!(taken("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").close);
    }

    #[test]
    fn methods_that_may_be_resent() {
        let buf = b"POST / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(!taken(std::str::from_utf8(buf).unwrap()).idempotent(buf));
        assert!(
            taken("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
                .is_head(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        );
    }
}
