//! The fast path's request head classifier (`serve::h1::request::parse`) and the upstream
//! head writer (`write_upstream_head`).
//!
//! Input: the bytes a client sent, as the connection's buffer holds them.
//!
//! Checked besides "no panic":
//! - a taken head (and its body) lies within the input, and within what the fast path holds;
//! - the same head is found in the input cut just after its body, and a cut inside the head
//!   (or body) waits for more;
//! - the upstream head written for it (with and without the proxy's own trace context)
//!   is taken again with the same method, target, host and body length, and the request id
//!   the upstream gets is the client's usable one or the proxy's.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_proxy::serve::h1::request::{
    Forwarding, MAX_BUFFERED, MAX_HEADERS, Parsed, RequestHead, end_head, parse,
    write_upstream_head,
};

fuzz_target!(|buf: &[u8]| {
    let mut forward = Vec::new();
    let head = match parse(buf, &mut forward) {
        Parsed::Head(head) => head,
        Parsed::Partial => {
            assert!(buf.len() < MAX_BUFFERED, "waits for more past the limit");
            return;
        }
        Parsed::Pingora | Parsed::Malformed(_) => return,
    };
    assert!(head.len > 0 && head.len <= head.total_len());
    assert!(
        head.total_len() <= buf.len(),
        "head and body past the input"
    );
    assert!(head.total_len() <= MAX_BUFFERED);
    // The accessors only ever slice within the buffer.
    let _ = (head.method(buf), head.path(buf), head.path_and_query(buf));
    let _ = (head.is_head(buf), head.idempotent(buf));
    for span in [head.request_id, head.user_agent, head.referer]
        .into_iter()
        .chain([head.traceparent, head.tracestate])
        .flatten()
    {
        let _ = span.get(buf);
    }

    // What follows the request does not change it; less of it waits for more.
    let mut again = Vec::new();
    assert_eq!(
        parse(&buf[..head.total_len()], &mut again),
        Parsed::Head(head)
    );
    assert_eq!(again.len(), forward.len());
    assert_eq!(
        parse(&buf[..head.total_len() - 1], &mut again),
        Parsed::Partial,
        "a request cut one byte short"
    );

    for adding in [
        Forwarding {
            target: None,
            forwarded_prefix: None,
            host: None,
            client_ip: Some("10.0.0.9"),
            tls: false,
            request_id: head.request_id.is_none().then_some("sluice-1"),
            replace_trace: false,
            drop_authorization: false,
            edits: None,
        },
        Forwarding {
            target: Some("/rewritten/path?q=1"),
            forwarded_prefix: Some("/shop"),
            host: Some("internal.shop.svc"),
            client_ip: None,
            tls: true,
            request_id: head.request_id.is_none().then_some("sluice-2"),
            replace_trace: true,
            drop_authorization: true,
            edits: None,
        },
    ] {
        upstream_round_trip(buf, &head, &forward, &adding);
    }
});

/// Writes the upstream request as the fast path does and parses it back.
fn upstream_round_trip(
    buf: &[u8],
    head: &RequestHead,
    forward: &[sluice_proxy::serve::h1::request::Forwarded],
    adding: &Forwarding<'_>,
) {
    let mut out = Vec::new();
    write_upstream_head(buf, head, forward, adding, &mut out);
    end_head(&mut out);
    let head_len = out.len();
    out.extend_from_slice(&buf[head.len..head.total_len()]);

    let lines = out[..head_len].windows(2).filter(|w| w == b"\r\n").count();
    // Request line and blank line aside, each line is a header.
    let headers = lines - 2;
    let mut forward_again = Vec::new();
    let parsed = parse(&out, &mut forward_again);
    if out.len() > MAX_BUFFERED || headers > MAX_HEADERS {
        // The proxy's own headers can push a request past what the fast path would take
        // from a client; the upstream reads it anyway.
        return;
    }
    let Parsed::Head(up) = parsed else {
        panic!(
            "the upstream head is not taken again: {parsed:?}\n{}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(up.len, head_len);
    assert_eq!(up.total_len(), out.len());
    assert_eq!(up.method.get(&out), head.method.get(buf));
    let target = adding
        .target
        .map_or_else(|| head.target.get(buf), str::as_bytes);
    assert_eq!(up.target.get(&out), target);
    let host = adding
        .host
        .map_or_else(|| head.host.get(buf), str::as_bytes);
    assert_eq!(up.host.get(&out), host);
    assert!(!up.close, "Connection is never passed on");
    let sent_id = up.request_id.map(|s| s.get(&out));
    let expected_id = head
        .request_id
        .map(|s| s.get(buf))
        .or(adding.request_id.map(str::as_bytes));
    assert_eq!(sent_id, expected_id, "the request id the upstream gets");
    if adding.replace_trace {
        assert!(up.traceparent.is_none() && up.tracestate.is_none());
    } else {
        assert_eq!(
            up.traceparent.map(|s| s.get(&out)),
            head.traceparent.map(|s| s.get(buf))
        );
    }
}
