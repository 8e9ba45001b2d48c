//! External auth (`auth-url`): each request is first put to an auth service, whose answer
//! decides it, as nginx's `auth_request` does in ingress-nginx.
//!
//! - The auth request: GET (or `auth-method`) to the URL, without the body, with the
//!   client's headers and `X-Original-URL`, `X-Original-Method`, `X-Auth-Request-Redirect`,
//!   `X-Real-IP`, `X-Forwarded-For` and `X-Request-ID`; `Host` is the auth URL's host.
//! - 2xx lets the request through, with the `auth-response-headers` of the answer.
//! - 401 and 403 go back to the client (401 as a 302 to `auth-signin` when set).
//! - Anything else, or no answer in time, is 500: never an open door.
//!
//! [`auth_request`] and [`decide`] are pure; [`ask`] does the I/O.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use sluice_crds::annotations::{ExternalAuth, RequestParts};

use crate::serve::answers::Answer;
use crate::serve::hygiene;
use crate::subrequest::{self, Subrequest};

/// The request being decided, as the auth request describes it.
pub struct Original<'a> {
    pub method: &'a str,
    pub tls: bool,
    /// The `Host` as the client sent it (port included).
    pub host: &'a str,
    /// Normalised, for the URL's variables.
    pub host_name: &'a str,
    pub request_uri: &'a str,
    pub client_ip: Option<&'a str>,
    pub request_id: &'a str,
    pub headers: &'a HeaderMap,
}

/// What the auth service's answer makes of the request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Through to the backend: set (or, `None`, remove) these request headers, and add
    /// these cookies to the response.
    Allow {
        set: Vec<(HeaderName, Option<HeaderValue>)>,
        cookies: Vec<HeaderValue>,
    },
    Deny(Answer),
}

/// The auth request for `original`; `Err` when the URL does not make a valid one.
pub fn auth_request(
    settings: &ExternalAuth,
    original: &Original<'_>,
) -> Result<Subrequest, String> {
    let url = settings.url.expand(&RequestParts {
        tls: original.tls,
        host: original.host_name,
        request_uri: original.request_uri,
    });
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("the auth URL {url:?} is not a URL: {e}"))?;
    let host = match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) => host.to_string(),
        _ => return Err(format!("the auth URL {url:?} is not an http(s) URL")),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in original.headers {
        // Hop-by-hop headers and the ones the proxy sets are not passed on, nor the body's.
        let framing = [
            header::CONNECTION,
            header::UPGRADE,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::HOST,
        ];
        if hygiene::forwarded(name.as_str().as_bytes()) && !framing.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // An HTTP/2 client's cookies come as several fields; the auth request is HTTP/1.1.
    if let Some(cookie) =
        hygiene::joined_cookies(headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()))
            .and_then(|joined| HeaderValue::from_bytes(&joined).ok())
    {
        headers.insert(header::COOKIE, cookie);
    }
    let scheme = if original.tls { "https" } else { "http" };
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("host", host);
    set(
        "x-original-url",
        format!("{scheme}://{}{}", original.host, original.request_uri),
    );
    set("x-original-method", original.method.to_string());
    set("x-sent-from", "sluice".into());
    set(
        "x-auth-request-redirect",
        settings
            .request_redirect
            .clone()
            .unwrap_or_else(|| original.request_uri.to_string()),
    );
    set("x-request-id", original.request_id.to_string());
    if let Some(ip) = original.client_ip {
        set("x-real-ip", ip.to_string());
        set("x-forwarded-for", ip.to_string());
    }
    let method = match &settings.method {
        Some(method) => {
            set("x-original-uri", original.request_uri.to_string());
            set("x-scheme", scheme.into());
            http::Method::from_bytes(method.as_bytes())
                .map_err(|e| format!("auth method {method:?}: {e}"))?
        }
        None => http::Method::GET,
    };
    Ok(Subrequest {
        method,
        uri,
        headers,
    })
}

/// Statuses that carry the auth service's cookies unless `auth-always-set-cookie`:
/// nginx's `add_header` without `always`.
fn takes_cookies(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Whether the response of `status` gets the auth service's cookies.
pub fn cookies_on(settings: &ExternalAuth, status: u16) -> bool {
    settings.always_set_cookie || takes_cookies(status)
}

/// What the auth service's answer (`status`, `headers`) makes of `original`.
pub fn decide(
    settings: &ExternalAuth,
    status: u16,
    headers: &HeaderMap,
    original: &Original<'_>,
) -> Decision {
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let deny = |status: u16, body: &str, extra: Vec<(&'static str, String)>| {
        let mut headers = extra;
        if cookies_on(settings, status) {
            headers.extend(
                cookies
                    .iter()
                    .filter_map(|c| c.to_str().ok())
                    .map(|c| ("set-cookie", c.to_string())),
            );
        }
        Decision::Deny(Answer {
            status,
            body: body.to_string(),
            location: None,
            headers,
        })
    };
    match status {
        200..=299 => Decision::Allow {
            set: settings
                .response_headers
                .iter()
                .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                .map(|name| {
                    let value = headers.get(&name).cloned();
                    (name, value)
                })
                .collect(),
            cookies,
        },
        401 => match &settings.signin {
            Some(signin) => {
                let location = signin_location(settings, signin, original);
                match deny(302, "302 Found\n", Vec::new()) {
                    Decision::Deny(answer) => Decision::Deny(Answer {
                        location: Some(location),
                        ..answer
                    }),
                    allow => allow,
                }
            }
            None => {
                let challenge = headers
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| vec![("www-authenticate", v.to_string())])
                    .unwrap_or_default();
                deny(401, "401 Authorization Required\n", challenge)
            }
        },
        403 => deny(403, "403 Forbidden\n", Vec::new()),
        _ => deny(
            500,
            "500 Internal Server Error: the auth service did not decide the request\n",
            Vec::new(),
        ),
    }
}

/// 500 when the auth service cannot be asked: closed, never open.
pub fn unreachable() -> Answer {
    Answer {
        status: 500,
        body: "500 Internal Server Error: the auth service did not answer\n".into(),
        location: None,
        headers: Vec::new(),
    }
}

/// `auth-signin` with the original URL in its redirect parameter, unless it has one.
fn signin_location(
    settings: &ExternalAuth,
    signin: &sluice_crds::annotations::redirect::Template,
    original: &Original<'_>,
) -> String {
    let base = signin.expand(&RequestParts {
        tls: original.tls,
        host: original.host_name,
        request_uri: original.request_uri,
    });
    let param = &settings.redirect_param;
    let query = base.split_once('?').map(|(_, q)| q);
    if query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some(param))) {
        return base;
    }
    let scheme = if original.tls { "https" } else { "http" };
    let separator = if query.is_some() { '&' } else { '?' };
    format!(
        "{base}{separator}{param}={scheme}://{}{}",
        original.host,
        escape(original.request_uri)
    )
}

/// Percent-encodes all but RFC 3986's unreserved characters, as nginx's `set_escape_uri`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The most of an auth response's body read (and dropped).
const BODY_LIMIT: usize = 64 * 1024;

/// Sends the auth request; its answer's status and headers, or why there is none.
pub async fn ask(request: Subrequest, within: Duration) -> Result<(u16, HeaderMap), String> {
    let answered = subrequest::send(request, within, BODY_LIMIT)
        .await
        .map_err(|why| format!("the auth service: {why}"))?;
    Ok((answered.status, answered.headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_crds::annotations::auth::{parse_header_names, parse_url};
    use sluice_crds::annotations::redirect::Template;

    fn settings() -> ExternalAuth {
        ExternalAuth {
            url: parse_url("http://auth.example:9000/check?for=$host").unwrap(),
            method: None,
            signin: None,
            redirect_param: "rd".into(),
            response_headers: parse_header_names("X-User, X-Missing").unwrap(),
            request_redirect: None,
            always_set_cookie: false,
        }
    }

    fn original(headers: &HeaderMap) -> Original<'_> {
        Original {
            method: "POST",
            tls: true,
            host: "shop.example.com:8443",
            host_name: "shop.example.com",
            request_uri: "/cart?a=b&c=d",
            client_ip: Some("192.0.2.7"),
            request_id: "abc",
            headers,
        }
    }

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_auth_request_describes_the_original() {
        let client = map(&[
            ("cookie", "session=1"),
            ("content-length", "12"),
            ("x-forwarded-proto", "gopher"),
            ("connection", "close"),
        ]);
        let r = auth_request(&settings(), &original(&client)).unwrap();
        assert_eq!(r.method, http::Method::GET);
        assert_eq!(r.uri, "http://auth.example:9000/check?for=shop.example.com");
        let h = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(h("host").as_deref(), Some("auth.example"));
        assert_eq!(h("cookie").as_deref(), Some("session=1"));
        assert_eq!(
            h("x-original-url").as_deref(),
            Some("https://shop.example.com:8443/cart?a=b&c=d")
        );
        assert_eq!(h("x-original-method").as_deref(), Some("POST"));
        assert_eq!(
            h("x-auth-request-redirect").as_deref(),
            Some("/cart?a=b&c=d")
        );
        assert_eq!(h("x-forwarded-for").as_deref(), Some("192.0.2.7"));
        assert_eq!(h("x-request-id").as_deref(), Some("abc"));
        for gone in [
            "content-length",
            "x-forwarded-proto",
            "connection",
            "x-original-uri",
        ] {
            assert_eq!(h(gone), None, "{gone}");
        }
        let with_method = ExternalAuth {
            method: Some("POST".into()),
            ..settings()
        };
        let r = auth_request(&with_method, &original(&client)).unwrap();
        assert_eq!(r.method, http::Method::POST);
        assert!(r.headers.contains_key("x-original-uri") && r.headers.contains_key("x-scheme"));
    }

    #[test]
    fn the_auth_request_carries_split_cookies_as_one() {
        let client = map(&[("cookie", "session=1"), ("cookie", "theme=dark")]);
        let r = auth_request(&settings(), &original(&client)).unwrap();
        let cookies: Vec<&[u8]> = r
            .headers
            .get_all("cookie")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(cookies, [&b"session=1; theme=dark"[..]]);
    }

    #[test]
    fn the_answer_decides() {
        let none = HeaderMap::new();
        let o = original(&none);
        let s = settings();
        let answer = map(&[("x-user", "alice"), ("set-cookie", "s=1")]);
        assert_eq!(
            decide(&s, 200, &answer, &o),
            Decision::Allow {
                set: vec![
                    (
                        HeaderName::from_static("x-user"),
                        Some(HeaderValue::from_static("alice"))
                    ),
                    (HeaderName::from_static("x-missing"), None),
                ],
                cookies: vec![HeaderValue::from_static("s=1")],
            }
        );
        let status = |status: u16, s: &ExternalAuth, h: &HeaderMap| match decide(s, status, h, &o) {
            Decision::Deny(a) => a,
            allow => panic!("{status}: {allow:?}"),
        };
        let challenge = map(&[("www-authenticate", "Bearer"), ("set-cookie", "s=1")]);
        let a = status(401, &s, &challenge);
        assert_eq!(a.status, 401);
        assert_eq!(
            a.headers,
            [("www-authenticate", "Bearer".to_string())],
            "no cookie on a 401"
        );
        assert_eq!(status(403, &s, &none).status, 403);
        for other in [302, 404, 500, 503] {
            assert_eq!(status(other, &s, &none).status, 500, "{other}");
        }
        let always = ExternalAuth {
            always_set_cookie: true,
            ..settings()
        };
        assert!(
            status(401, &always, &challenge)
                .headers
                .contains(&("set-cookie", "s=1".into()))
        );
    }

    #[test]
    fn signin_redirects_with_the_original_url() {
        let none = HeaderMap::new();
        let o = original(&none);
        let signin = |t: &str| ExternalAuth {
            signin: Some(Template::parse(t).unwrap()),
            ..settings()
        };
        let location = |s: &ExternalAuth| match decide(s, 401, &none, &o) {
            Decision::Deny(a) if a.status == 302 => a.location.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            location(&signin("https://$host/oauth2/start")),
            "https://shop.example.com/oauth2/start?rd=https://shop.example.com:8443%2Fcart%3Fa%3Db%26c%3Dd"
        );
        assert_eq!(
            location(&signin("https://login.example/start?x=1")),
            "https://login.example/start?x=1&rd=https://shop.example.com:8443%2Fcart%3Fa%3Db%26c%3Dd"
        );
        assert_eq!(
            location(&signin("https://login.example/start?rd=/home")),
            "https://login.example/start?rd=/home"
        );
    }

    #[test]
    fn a_url_that_expands_badly_is_an_error() {
        let s = ExternalAuth {
            url: parse_url("http://$uri").unwrap(),
            ..settings()
        };
        let none = HeaderMap::new();
        assert!(auth_request(&s, &original(&none)).is_err());
    }
}
