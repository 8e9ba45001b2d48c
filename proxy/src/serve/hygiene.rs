//! Which requests are malformed and which headers are never passed on: rules both request
//! paths apply, written once. The fast path leaves whatever fails them to Pingora's path,
//! which answers 400 and closes the connection.

use http::Version;

/// Request headers never passed to an upstream, besides `Connection`, `Upgrade` and
/// `Transfer-Encoding`, which each path's framing handles: hop-by-hop headers (RFC 9110
/// §7.6.1, and the `Proxy-*` credentials meant for this hop), and the forwarding headers
/// the proxy writes itself (a client's own values are not trusted; `X-Forwarded-Prefix`
/// only comes from a route's `x-forwarded-prefix`).
const NOT_FORWARDED: [&str; 12] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
    "http2-settings",
    "x-forwarded-for",
    "x-real-ip",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-prefix",
];

/// Whether a request header (any case) is passed to the upstream. Names with an
/// underscore are not, as nginx drops them by default: a CGI-style backend reads
/// `X_Forwarded_For` as `X-Forwarded-For`, which would let a client spoof it.
pub fn forwarded(name: &[u8]) -> bool {
    !name.contains(&b'_')
        && !NOT_FORWARDED
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// The one `Cookie` value an HTTP/2 request's several `cookie` fields make, joined with
/// `"; "`: RFC 9113 §8.2.3 requires it before the request goes on in HTTP/1.1, where a
/// backend may read only one Cookie line (RFC 6265 §5.4 allows one). `None` for one or none.
pub fn joined_cookies<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut values = values.into_iter();
    let first = values.next()?;
    let second = values.next()?;
    let mut joined = first.to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(value);
    }
    Some(joined)
}

/// Response headers never passed to the client, besides `Connection` and the headers it
/// names ([`connection_options`]); framing headers are each path's own.
pub static RESPONSE_HOP_BY_HOP: [http::HeaderName; 3] = [
    http::HeaderName::from_static("keep-alive"),
    http::HeaderName::from_static("proxy-connection"),
    http::HeaderName::from_static("te"),
];

/// The header names a `Connection` value lists as this hop's own (its options other than
/// `close` and `keep-alive`). Never `Content-Length` or `Transfer-Encoding`: the body is
/// passed on as they frame it, so the client needs them whatever an upstream names (taken
/// away, the client would read the body until the connection closes, which a kept-alive
/// connection never does).
pub fn connection_options(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|o| {
            !o.is_empty()
                && !o.eq_ignore_ascii_case(b"close")
                && !o.eq_ignore_ascii_case(b"keep-alive")
                && !o.eq_ignore_ascii_case(b"content-length")
                && !o.eq_ignore_ascii_case(b"transfer-encoding")
        })
}

/// Why an upstream's response head is refused (502), if it is: more than one
/// Content-Length. (With both Content-Length and Transfer-Encoding, the encoding frames the
/// body and the length is dropped, as RFC 9112 §6.3 says; Pingora does the same.)
pub fn malformed_response(content_lengths: usize) -> Option<&'static str> {
    (content_lengths > 1).then_some("invalid or repeated Content-Length")
}

/// What a request head says, for [`malformed`].
pub struct Head<'a, H> {
    pub version: Version,
    /// Every `Host` header's value.
    pub hosts: H,
    /// HTTP/2's `:authority` (or an absolute-form target's authority).
    pub authority: Option<&'a str>,
    pub content_lengths: usize,
    /// The request target as received.
    pub raw_target: &'a [u8],
}

/// Why the request is refused with 400, if it is.
pub fn malformed<'a, H: Iterator<Item = &'a [u8]>>(head: Head<'a, H>) -> Option<&'static str> {
    if head.content_lengths > 1 {
        // RFC 9110 §8.6: refuse rather than guess which one the backend reads.
        return Some("more than one Content-Length");
    }
    if !head.raw_target.iter().all(|b| b.is_ascii_graphic()) {
        return Some("the request target has a space or a byte that is not visible ASCII");
    }
    let hosts: Vec<&[u8]> = head.hosts.take(2).collect();
    match (head.version, hosts.as_slice(), head.authority) {
        (_, [_, _], _) => Some("more than one Host"),
        (_, [host], _) if !valid_host(host) => Some("the Host is not a valid host"),
        // RFC 9112 §3.2: an HTTP/1.1 request without a Host is refused.
        (Version::HTTP_11, [], None) => Some("no Host"),
        _ => None,
    }
}

/// A Host header as RFC 9110 §7.2 allows it: `host[:port]`, host an IP-literal in brackets
/// or a name of unreserved, sub-delim and percent-encoded characters; nothing after.
pub fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.strip_prefix(b"[") {
        Some(rest) => {
            let Some(end) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let literal = &rest[..end];
            let ok = !literal.is_empty()
                && literal
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if !ok {
                return false;
            }
            (&value[..end + 2], &rest[end + 1..])
        }
        None => match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &[][..]),
        },
    };
    let port_ok = match port.strip_prefix(b":") {
        Some(digits) => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        None => port.is_empty(),
    };
    let host_ok = !host.is_empty()
        && (host.starts_with(b"[")
            || host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)));
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http2_requests_cookie_fields_are_joined_into_one() {
        let join = |values: &[&str]| {
            joined_cookies(values.iter().map(|v| v.as_bytes()))
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        assert_eq!(join(&[]), None);
        assert_eq!(join(&["a=1"]), None, "one field is passed on as it is");
        assert_eq!(join(&["a=1", "b=2"]).as_deref(), Some("a=1; b=2"));
        assert_eq!(
            join(&["a=1", "b=2", "c=3"]).as_deref(),
            Some("a=1; b=2; c=3")
        );
    }

    fn check(
        version: Version,
        hosts: &[&str],
        target: &str,
        lengths: usize,
    ) -> Option<&'static str> {
        malformed(Head {
            version,
            hosts: hosts.iter().map(|h| h.as_bytes()),
            authority: None,
            content_lengths: lengths,
            raw_target: target.as_bytes(),
        })
    }

    #[test]
    fn hosts() {
        for ok in [
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "[::1]",
            "[::1]:443",
            "a_b.example",
            "xn--bcher-kva.example",
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "[internal.test]junk",
            "[::1",
            "[]",
            "a b",
            "a/b",
            "a@b",
            "a:b",
            "a:123456",
            "a:1:2",
            "[::1]x",
            "\u{e9}.example",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn requests() {
        const HTTP_10: Version = Version::HTTP_10;
        const HTTP_11: Version = Version::HTTP_11;
        const HTTP_2: Version = Version::HTTP_2;
        assert_eq!(check(HTTP_11, &["a"], "/", 0), None);
        assert_eq!(check(HTTP_11, &[], "/", 0), Some("no Host"));
        assert_eq!(check(HTTP_10, &[], "/", 0), None);
        assert_eq!(
            check(HTTP_11, &[""], "/", 0),
            Some("the Host is not a valid host")
        );
        assert_eq!(
            check(HTTP_11, &["a", "a"], "/", 0),
            Some("more than one Host")
        );
        assert_eq!(
            check(HTTP_11, &["a"], "/", 2),
            Some("more than one Content-Length")
        );
        assert!(check(HTTP_11, &["a"], "/a b", 0).is_some());
        let h2 = malformed(Head {
            version: HTTP_2,
            hosts: std::iter::empty(),
            authority: Some("a"),
            content_lengths: 0,
            raw_target: b"/",
        });
        assert_eq!(h2, None);
    }

    #[test]
    fn forwarded_headers() {
        for dropped in [
            "Proxy-Authorization",
            "TRAILER",
            "HTTP2-Settings",
            "X_Forwarded_For",
            "Content_Length",
            "x-real-ip",
        ] {
            assert!(!forwarded(dropped.as_bytes()), "{dropped}");
        }
        for kept in ["Authorization", "X-Request-Id", "Cookie", "Traceparent"] {
            assert!(forwarded(kept.as_bytes()), "{kept}");
        }
    }

    #[test]
    fn connection_never_names_the_framing_headers() {
        let named: Vec<&[u8]> =
            connection_options(b"close, X-Hop , Content-Length,transfer-encoding, keep-alive,")
                .collect();
        assert_eq!(named, [&b"X-Hop"[..]]);
    }
}
