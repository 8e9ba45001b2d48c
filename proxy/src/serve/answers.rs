//! What Sluice answers itself instead of a backend, decided the same way on both request
//! paths (the HTTP/1.1 fast path and Pingora's): refusals before routing, answers for the
//! matched route (or the lack of one), and the answers to failed upstream attempts.

use std::net::IpAddr;
use std::sync::Arc;

use sluice_crds::annotations::RequestParts;

use crate::routes::Route;
use crate::serve::rate_limit::{InProgress, Limited};

#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    /// More headers: the route's CORS and custom headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            location: None,
            headers: Vec::new(),
        }
    }

    /// Whether the answer has a body and its framing headers ([`has_body`]).
    pub fn has_body(&self) -> bool {
        has_body(self.status)
    }
}

/// Whether an answer of `status` has a body and its framing headers (RFC 9110 §8.6: a 204
/// has neither).
pub fn has_body(status: u16) -> bool {
    status != 204
}

/// Refusals before routing: TLS 1.2 where 1.3 is required; a request meant for another
/// HTTPS listener than its connection's (`TlsTable::misdirected`); paths with dot segments.
pub fn refusal(tls12_refused: bool, misdirected: bool, path: &str) -> Option<Answer> {
    if tls12_refused {
        return Some(Answer::new(426, "TLS 1.3 is required\n"));
    }
    if misdirected {
        return Some(Answer::new(
            421,
            "421 Misdirected Request: this host is served on another TLS server name than this connection's\n",
        ));
    }
    // `/api/../admin` must not match a rule for /api: a backend would resolve it to a
    // path another rule governs. Refuse dot segments rather than guess.
    has_dot_segment(path)
        .then(|| Answer::new(400, "400 Bad Request: the path has . or .. segments\n"))
}

/// 400 for a malformed request, saying why.
pub fn bad_request(why: &str) -> Answer {
    Answer::new(400, format!("400 Bad Request: {why}\n"))
}

/// The request as routing saw it.
pub struct Routed<'a> {
    pub route: Option<&'a Arc<Route>>,
    pub method: &'a str,
    /// The `Origin` header, for CORS.
    pub origin: Option<&'a str>,
    /// A CORS preflight's `Access-Control-Request-Method` and `-Headers`.
    pub cors_request_method: Option<&'a str>,
    pub cors_request_headers: Option<&'a str>,
    /// The request goes to the route's canary ([`crate::routes::Route::backend_for`]).
    pub canary: bool,
    /// Normalised.
    pub host: &'a str,
    pub path: &'a str,
    pub path_and_query: &'a str,
    pub tls: bool,
    /// The port in `https://` redirects.
    pub https_port: u16,
    /// The client's address, for the route's allow and deny lists; unknown fails closed.
    pub client: Option<IpAddr>,
    /// The request's `Content-Length`, if it has one.
    pub body_length: Option<u64>,
    /// The largest request body a route without its own limit takes (0: no limit).
    pub max_body_size: u64,
}

/// Whether `length` bytes of request body are more than `route` takes: its Ingress's limit,
/// else `default` (0: no limit), as nginx's client_max_body_size. Checked against the
/// declared length before proxying and, for a body without one, as it arrives.
pub fn body_too_large(length: u64, route: &Route, default: u64) -> bool {
    let limit = route.max_body_size.unwrap_or(default);
    limit != 0 && length > limit
}

pub fn payload_too_large() -> Answer {
    Answer::new(
        413,
        "413 Content Too Large: the request body is larger than this route takes\n",
    )
}

/// Where ACME HTTP-01 challenge tokens are served (RFC 8555 §8.3).
const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";

/// The route to proxy the request to; or, in this order: 404 without a route; 503 for a
/// route whose access rules cannot be enforced; 413 for a declared body over its limit; its
/// Ingress's redirect; 308 to HTTPS; 403 for a client its lists keep out. Redirects come
/// before the lists, as nginx's `return` comes before its access phase. Then the request
/// paths check, in this order: the rate limits ([`admit`]), authentication
/// ([`crate::auth`]), and endpoints ([`reachable`]).
pub fn for_route<'a>(r: &Routed<'a>) -> Result<&'a Arc<Route>, Answer> {
    decide(r).map_err(|mut answer| {
        // The route's headers (CORS, custom-headers) go on what Sluice answers for it too, as
        // on what its backend answers: a browser app can then read why.
        if let Some(route) = r.route
            && answer.status != 204
        {
            answer.headers.extend(route_headers(route, r.origin));
        }
        answer
    })
}

/// Whether a request goes to its route's canary: `header` looks a request header up by name,
/// `cookie` a cookie. Random for a weight, so decided once per request.
pub fn canary_chosen<'h>(
    route: &Route,
    header: impl Fn(&str) -> Option<&'h str>,
    cookie: impl Fn(&str) -> Option<&'h str>,
) -> bool {
    let Some(canary) = &route.canary else {
        return false;
    };
    let rules = &canary.rules;
    rules.chosen(
        rules.by_header.as_deref().and_then(&header),
        rules.by_cookie.as_deref().and_then(&cookie),
        |total| fastrand::u32(1..=total),
    )
}

/// The value of cookie `name` in a `Cookie` header's value.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Counts the request against its route's rate limits: 503 over one, as in ingress-nginx.
/// The guard, if any, holds the request's place among those in progress until dropped.
pub fn admit(
    route: &Route,
    client: Option<IpAddr>,
    origin: Option<&str>,
) -> Result<Option<InProgress>, Answer> {
    let Some(limiter) = &route.rate_limit else {
        return Ok(None);
    };
    limiter.admit(client).map_err(|limited| {
        let what = match limited {
            Limited::Requests => "too many requests",
            Limited::Connections => "too many requests in progress",
        };
        Answer {
            headers: route_headers(route, origin),
            ..Answer::new(
                503,
                format!("503 Service Unavailable: {what} from this client address\n"),
            )
        }
    })
}

/// The headers the route sets on every response, proxied or Sluice's own: its CORS headers
/// for a request from `origin` (none if the origin is not allowed), and its
/// `custom-headers`.
pub fn route_headers(route: &Route, origin: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = route
        .cors
        .as_ref()
        .and_then(|cors| cors.response_headers(origin))
        .unwrap_or_default();
    if let Some(custom) = &route.response_headers {
        headers.extend(custom.iter().cloned());
    }
    headers
}

fn decide<'a>(r: &Routed<'a>) -> Result<&'a Arc<Route>, Answer> {
    let Some(route) = r.route else {
        return Err(Answer::new(
            404,
            format!(
                "404 Not Found: no Ingress rule matches host {:?} and path {:?}\n",
                r.host, r.path
            ),
        ));
    };
    if let Some(why) = &route.unusable {
        return Err(Answer::new(
            500,
            format!("500 Internal Server Error: {why}\n"),
        ));
    }
    let access = &route.access;
    if !access.is_open()
        && let Some(why) = &access.refused
    {
        return Err(Answer::new(
            503,
            format!("503 Service Unavailable: {why}\n"),
        ));
    }
    if let Some(length) = r.body_length
        && body_too_large(length, route, r.max_body_size)
    {
        return Err(payload_too_large());
    }
    if let Some(redirect) = &route.redirect {
        // A Gateway API redirect with a path sends the path it makes instead.
        let replaced = route.redirect_path.as_ref().and_then(|rewrite| {
            let query = r.path_and_query.split_once('?').map(|(_, q)| q);
            rewrite.target(r.path, query)
        });
        let to = redirect.to.expand(&RequestParts {
            tls: r.tls,
            host: r.host,
            request_uri: replaced.as_deref().unwrap_or(r.path_and_query),
        });
        return Err(Answer {
            location: Some(to),
            ..Answer::new(redirect.code, format!("{} Redirect\n", redirect.code))
        });
    }
    if let Some(root) = &route.app_root
        && r.path == "/"
    {
        // Relative (RFC 9110 §10.2.2), so it holds on whatever port the client used.
        return Err(Answer {
            location: Some(root.to_string()),
            ..Answer::new(302, "302 Found\n")
        });
    }
    // A CORS preflight is the proxy's to answer, never the backend's, as in ingress-nginx
    // (and before its redirect and access checks, as there).
    if r.method == "OPTIONS"
        && let Some(headers) = route
            .cors
            .as_ref()
            .and_then(|c| c.preflight(r.origin, r.cors_request_method, r.cors_request_headers))
    {
        return Err(Answer {
            headers,
            ..Answer::new(204, "")
        });
    }
    // ACME HTTP-01 challenges are answered over plain HTTP (RFC 8555 §8.3), so they are
    // never redirected: a host's first certificate would otherwise be unobtainable.
    if route.redirect_to_https && !r.tls && !r.path.starts_with(ACME_CHALLENGE) {
        return Err(Answer {
            location: Some(https_location(r.host, r.https_port, r.path_and_query)),
            ..Answer::new(308, "308 Permanent Redirect to HTTPS\n")
        });
    }
    if !access.is_open() && !r.client.is_some_and(|c| access.admits(c)) {
        return Err(Answer::new(
            403,
            "403 Forbidden: the client's address may not reach this rule\n",
        ));
    }
    Ok(route)
}

/// Where the request goes, the last check before proxying: its backend (the route's, or
/// its canary's), `Ok(false)`; when that has no endpoints, its Ingress's `default-backend`,
/// `Ok(true)`; else 503.
pub fn reachable(route: &Route, canary: bool, origin: Option<&str>) -> Result<bool, Answer> {
    let backend = route.backend_for(canary);
    let endpoints = backend.endpoints();
    if !endpoints.addrs.is_empty() {
        return Ok(false);
    }
    if route
        .error_backend
        .as_ref()
        .is_some_and(|errors| !errors.backend.endpoints().addrs.is_empty())
    {
        return Ok(true);
    }
    let why = match &endpoints.problem {
        Some(problem) => problem.clone(),
        None => format!("{} has no endpoints", backend.name),
    };
    Err(Answer {
        headers: route_headers(route, origin),
        ..Answer::new(503, format!("503 Service Unavailable: {why}\n"))
    })
}

/// How proxying to a backend failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No endpoint could be connected to (refused, unreachable, reset).
    Connect,
    /// Connecting, or waiting for the response, took longer than allowed.
    Timeout,
    /// The connection broke, or the response was not valid HTTP.
    Upstream,
}

/// 502 or 504, naming the backend.
pub fn for_failure(failure: Failure, backend: &str) -> Answer {
    match failure {
        Failure::Connect => Answer::new(
            502,
            format!("502 Bad Gateway: could not connect to any endpoint of {backend}\n"),
        ),
        Failure::Timeout => Answer::new(
            504,
            format!("504 Gateway Timeout: {backend} did not answer in time\n"),
        ),
        Failure::Upstream => Answer::new(
            502,
            format!("502 Bad Gateway: the connection to {backend} failed\n"),
        ),
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

/// Whether a path has a `.` or `..` segment that a backend could resolve: plain or
/// percent-encoded, with `\` and an encoded `/` or `\` counted as separators (some
/// backends treat them so) and a segment's `;parameters` ignored (Tomcat reads `..;` as
/// `..`).
fn has_dot_segment(path: &str) -> bool {
    // The common case, a path without dots, costs one scan.
    if !path.bytes().any(|b| b == b'.' || b == b'%') {
        return false;
    }
    let decoded = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .replace("%2f", "/")
        .replace("%5c", "/")
        .replace('\\', "/");
    decoded.split('/').any(|segment| {
        let segment = segment.split(';').next().unwrap_or_default();
        segment == "." || segment == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments() {
        for bad in [
            "/api/../admin",
            "/api/..",
            "/./x",
            "/a/%2e%2e/b",
            "/a/.%2E",
            "/..",
            "/api/..;/admin",
            "/api/%2e%2e%2fadmin",
            "/api/..%2fadmin",
            "/api/..\\admin",
            "/api/..%5Cadmin",
            "/api/.;x/b",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
            assert_eq!(refusal(false, false, bad).map(|a| a.status), Some(400));
        }
        for ok in [
            "/",
            "/api",
            "/a.b/c",
            "/...",
            "/.well-known/acme",
            "/a/..b",
            "/api%2fadmin",
            "/a/b;.x",
        ] {
            assert!(!has_dot_segment(ok), "{ok}");
            assert_eq!(refusal(false, false, ok), None);
        }
        assert_eq!(refusal(true, false, "/").map(|a| a.status), Some(426));
        assert_eq!(refusal(false, true, "/").map(|a| a.status), Some(421));
    }

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
