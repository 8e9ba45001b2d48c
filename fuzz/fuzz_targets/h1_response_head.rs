//! The fast path's response framing (`serve::h1::response::parse`) and the head the client
//! receives (`write_downstream_head`).
//!
//! Input: the bytes an upstream sent; each input is parsed as the answer to a HEAD request
//! and to any other request.
//!
//! Checked besides "no panic":
//! - a head (or an interim response to skip) lies within the input, and cutting the input
//!   one byte short of it waits for more;
//! - what follows the head does not change it;
//! - the head written for the client parses again with the same status and the same body
//!   framing, so the client reads the body the proxy relays as one response, no more and
//!   no less.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_proxy::serve::h1::response::{
    Framing, MAX_HEAD, Parsed, ResponseHead, parse, write_downstream_head,
};

fuzz_target!(|buf: &[u8]| {
    for head_request in [false, true] {
        check(buf, head_request);
    }
});

fn check(buf: &[u8], head_request: bool) {
    let mut kept = Vec::new();
    let head = match parse(buf, head_request, &mut kept) {
        Parsed::Head(head) => head,
        Parsed::Interim(len) => {
            assert!(
                len > 0 && len <= buf.len(),
                "interim response past the input"
            );
            if len <= MAX_HEAD {
                assert_eq!(
                    parse(&buf[..len - 1], head_request, &mut kept),
                    Parsed::Partial
                );
            }
            return;
        }
        Parsed::Partial => {
            assert!(buf.len() < MAX_HEAD, "waits for more past the limit");
            return;
        }
        Parsed::Bad(_) => return,
    };
    assert!(head.len > 0 && head.len <= buf.len(), "head past the input");
    assert!(!(100..=199).contains(&head.status));
    if head.framing == Framing::UntilClose {
        assert!(
            !head.keep_alive,
            "a body that ends at close, on a kept connection"
        );
    }
    if head_request || head.status == 204 || head.status == 304 {
        assert_eq!(head.framing, Framing::Empty);
    }
    let mut again = Vec::new();
    assert_eq!(
        parse(&buf[..head.len], head_request, &mut again),
        Parsed::Head(head)
    );
    assert_eq!(again.len(), kept.len());
    if head.len <= MAX_HEAD {
        assert_eq!(
            parse(&buf[..head.len - 1], head_request, &mut again),
            Parsed::Partial
        );
    }

    for close in [false, true] {
        downstream_round_trip(buf, &head, &kept, head_request, close);
    }
}

/// Writes the client's head as the fast path does and parses it back.
fn downstream_round_trip(
    buf: &[u8],
    head: &ResponseHead,
    kept: &[sluice_proxy::serve::h1::response::Kept],
    head_request: bool,
    close: bool,
) {
    let mut out = Vec::new();
    // As the fast path does: a body that ends at close ends the client connection too.
    let close = close || head.framing == Framing::UntilClose;
    write_downstream_head(buf, head, kept, &[], None, close, &mut out);
    let mut kept_again = Vec::new();
    let parsed = parse(&out, head_request, &mut kept_again);
    let Parsed::Head(down) = parsed else {
        // The client's head holds no more than the upstream's, plus `Connection: close`,
        // and at most one header more than it kept.
        if out.len() >= MAX_HEAD || kept.len() >= 99 {
            return;
        }
        panic!(
            "the client's head does not parse: {parsed:?}\n{}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(down.len, out.len());
    assert_eq!(down.status, head.status);
    assert_eq!(
        down.framing,
        head.framing,
        "the client frames the body otherwise\nupstream: {}\nclient: {}",
        String::from_utf8_lossy(&buf[..head.len]),
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        down.keep_alive, !close,
        "the client is told to close, or not"
    );
    assert_eq!(kept_again.len(), kept.len());
}
