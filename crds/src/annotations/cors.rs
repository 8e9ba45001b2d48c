//! `enable-cors` and its `cors-*` settings, with ingress-nginx's defaults and matching:
//!
//! | annotation | default |
//! | --- | --- |
//! | `cors-allow-origin` | `*` |
//! | `cors-allow-methods` | `GET, PUT, POST, DELETE, PATCH, OPTIONS` |
//! | `cors-allow-headers` | `DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization` |
//! | `cors-allow-credentials` | `true` |
//! | `cors-max-age` | `1728000` |
//! | `cors-expose-headers` | none |
//!
//! With the origin `*`, every response of the Ingress's rules carries the CORS headers,
//! `Access-Control-Allow-Origin: *` included. With a list, a request whose `Origin` matches
//! one (case-insensitively; `https://*.example.com` stands for one more DNS label) gets its
//! own origin back, and `Vary: Origin`; any other request gets none. An `OPTIONS` request
//! that gets the headers is answered by the proxy itself: 204, never the backend.

use serde::Serialize;

pub const DEFAULT_METHODS: &str = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
pub const DEFAULT_HEADERS: &str = "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
pub const DEFAULT_MAX_AGE: u64 = 1_728_000;

/// Which origins may read responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Origins {
    Any,
    /// Lower-cased; each is `scheme://host[:port]`, the host possibly `*.` + a domain.
    List(Vec<String>),
}

/// The CORS settings of an Ingress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cors {
    pub origins: Origins,
    pub methods: String,
    pub headers: String,
    pub credentials: bool,
    pub max_age: u64,
    pub expose_headers: Option<String>,
}

impl Default for Cors {
    fn default() -> Self {
        Self {
            origins: Origins::Any,
            methods: DEFAULT_METHODS.into(),
            headers: DEFAULT_HEADERS.into(),
            credentials: true,
            max_age: DEFAULT_MAX_AGE,
            expose_headers: None,
        }
    }
}

/// Reads `cors-allow-origin`: an error for an entry that is not an origin (ingress-nginx
/// skips those; Sluice refuses the value, so a typo is seen, not silently dropped).
pub fn parse_origins(value: &str) -> Result<Origins, String> {
    let mut list = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return Ok(Origins::Any);
        }
        if !is_origin(entry) {
            return Err(format!(
                "{entry:?} is not an origin: scheme://host[:port], the host possibly *.domain, or null"
            ));
        }
        list.push(entry.to_ascii_lowercase());
    }
    if list.is_empty() {
        return Ok(Origins::Any);
    }
    Ok(Origins::List(list))
}

/// `scheme://host[:port]` (host possibly `*.` + domain), or `null`.
fn is_origin(entry: &str) -> bool {
    if entry == "null" {
        return true;
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_lowercase())
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A comma-separated list of methods or header names, as ingress-nginx takes them.
pub fn parse_list(value: &str, what: &str) -> Result<String, String> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_, ".contains(&b));
    ok.then(|| value.to_string())
        .ok_or_else(|| format!("must be a comma-separated list of {what}"))
}

impl Cors {
    /// The headers a request with `origin` gets, or none when the origin is not allowed.
    pub fn headers_for(&self, origin: Option<&str>) -> Option<Vec<(&'static str, String)>> {
        let allowed = match &self.origins {
            Origins::Any => "*".to_string(),
            Origins::List(list) => {
                let origin = origin?;
                list.iter()
                    .any(|allowed| origin_matches(allowed, origin))
                    .then(|| origin.to_string())?
            }
        };
        let echoed = !matches!(self.origins, Origins::Any);
        let mut out = vec![("access-control-allow-origin", allowed)];
        if self.credentials {
            out.push(("access-control-allow-credentials", "true".into()));
        }
        out.push(("access-control-allow-methods", self.methods.clone()));
        out.push(("access-control-allow-headers", self.headers.clone()));
        if let Some(expose) = &self.expose_headers {
            out.push(("access-control-expose-headers", expose.clone()));
        }
        out.push(("access-control-max-age", self.max_age.to_string()));
        if echoed {
            // The answer depends on the Origin: caches must keep one per origin.
            out.push(("vary", "Origin".into()));
        }
        Some(out)
    }
}

/// Whether `origin` (as the client sent it) is the allowed `pattern` (lower-cased), whose
/// `*.` stands for exactly one DNS label.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    match pattern.split_once("*.") {
        None => origin == pattern,
        Some((scheme, rest)) => origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_suffix(rest))
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(value: &str) -> Cors {
        Cors {
            origins: parse_origins(value).unwrap(),
            ..Cors::default()
        }
    }

    #[test]
    fn any_origin_gets_the_defaults_even_without_an_origin() {
        let headers = Cors::default().headers_for(None).unwrap();
        assert_eq!(
            headers,
            vec![
                ("access-control-allow-origin", "*".to_string()),
                ("access-control-allow-credentials", "true".into()),
                ("access-control-allow-methods", DEFAULT_METHODS.into()),
                ("access-control-allow-headers", DEFAULT_HEADERS.into()),
                ("access-control-max-age", "1728000".into()),
            ]
        );
        // `*` anywhere in the list means any.
        assert_eq!(parse_origins("https://a.com, *").unwrap(), Origins::Any);
    }

    #[test]
    fn a_listed_origin_is_echoed_with_vary() {
        let cors = list("https://app.example.com, http://localhost:3000");
        let headers = cors.headers_for(Some("https://APP.example.com")).unwrap();
        assert_eq!(headers[0].1, "https://APP.example.com");
        assert_eq!(headers.last().unwrap(), &("vary", "Origin".to_string()));
        assert!(cors.headers_for(Some("http://localhost:3000")).is_some());
        assert!(cors.headers_for(Some("http://localhost:3001")).is_none());
        assert!(cors.headers_for(Some("https://evil.com")).is_none());
        assert!(
            cors.headers_for(Some("https://app.example.com.evil.com"))
                .is_none()
        );
        assert!(cors.headers_for(None).is_none());
    }

    // ingress-nginx's e2e cases for a wildcard subdomain.
    #[test]
    fn a_wildcard_stands_for_one_label() {
        let cors = list("http://*.origin.cors.com");
        assert!(
            cors.headers_for(Some("http://foo.origin.cors.com"))
                .is_some()
        );
        assert!(
            cors.headers_for(Some("http://bar-foo.origin.cors.com"))
                .is_some()
        );
        assert!(
            cors.headers_for(Some("http://bar.foo.origin.cors.com"))
                .is_none()
        );
        assert!(cors.headers_for(Some("http://origin.cors.com")).is_none());
        assert!(
            cors.headers_for(Some("https://foo.origin.cors.com"))
                .is_none()
        );
        assert!(
            cors.headers_for(Some("http://foo.origin.cors.com:8080"))
                .is_none()
        );
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in [
            "app.example.com",
            "https://",
            "https://a.com/path",
            "HTTPS://a.com",
            "https://a.com:x",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
        assert!(parse_origins("null").is_ok());
        assert!(parse_list("GET, POST", "methods").is_ok());
        assert!(parse_list("GET; DROP", "methods").is_err());
    }
}
