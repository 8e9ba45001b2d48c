//! The Gateway API's CORS filter (HTTPRoute `CORS`, extended support), as the spec words it:
//!
//! - an allowed origin is echoed (with `Vary: Origin`), whether the list says it or `*`
//!   does; an origin's `*` stands for any number of labels to its left
//!   (`https://*.bar.com` allows `https://a.b.bar.com`), and a missing port is the
//!   scheme's (`https://x` is `https://x:443`);
//! - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//!   by the proxy: the allowed methods and headers (`*` echoes what the request asks for),
//!   `Access-Control-Max-Age` (5 s unless set), credentials when allowed; from an origin
//!   not allowed, without any CORS header;
//! - other responses to an allowed origin carry the origin, credentials and exposed
//!   headers.

use crate::gateway_api::httproutes::HttpRouteRulesFiltersCors;

/// The spec's default `Access-Control-Max-Age`.
pub const DEFAULT_MAX_AGE: i32 = 5;

/// A CORS filter, read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GatewayCors {
    /// Normalised origins ([`normalise`]); `None`: any origin.
    origins: Option<Vec<String>>,
    credentials: bool,
    /// `None`: any (`*`).
    methods: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    expose: Option<Vec<String>>,
    max_age: i32,
}

/// List entries, or `None` for a list holding `*`.
fn list(values: Option<&Vec<String>>) -> Option<Vec<String>> {
    let values = values.map(Vec::as_slice).unwrap_or_default();
    (!values.iter().any(|v| v == "*")).then(|| values.to_vec())
}

impl GatewayCors {
    pub fn new(filter: &HttpRouteRulesFiltersCors) -> Self {
        let origins = filter.allow_origins.as_deref().unwrap_or_default();
        Self {
            origins: (!origins.iter().any(|o| o == "*"))
                .then(|| origins.iter().map(|o| normalise(o)).collect()),
            credentials: filter.allow_credentials.unwrap_or(false),
            methods: list(filter.allow_methods.as_ref()),
            headers: list(filter.allow_headers.as_ref()),
            expose: list(filter.expose_headers.as_ref()),
            max_age: filter.max_age.unwrap_or(DEFAULT_MAX_AGE),
        }
    }

    /// Whether a request from `origin` may read the response.
    fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            None => true,
            Some(list) => {
                let origin = normalise(origin);
                list.iter().any(|pattern| origin_matches(pattern, &origin))
            }
        }
    }

    /// The headers of the proxy's answer to a preflight from `origin` asking for
    /// `method` and `headers`: none for an origin not allowed.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        headers: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        if !self.allows(origin) {
            return Vec::new();
        }
        let mut out = self.origin_headers(origin);
        // `*` is never sent with credentials (the spec): the request's own method goes back.
        let methods = match &self.methods {
            Some(list) => Some(list.join(", ")),
            None if self.credentials => Some(method.to_string()),
            None => Some("*".to_string()),
        };
        out.extend(methods.map(|m| ("access-control-allow-methods", m)));
        let allowed_headers = match &self.headers {
            Some(list) if !list.is_empty() => Some(list.join(", ")),
            Some(_) => None,
            None => headers.map(str::to_string),
        };
        out.extend(allowed_headers.map(|h| ("access-control-allow-headers", h)));
        out.extend(
            self.expose_header()
                .map(|e| ("access-control-expose-headers", e)),
        );
        out.push(("access-control-max-age", self.max_age.to_string()));
        out
    }

    /// The headers a response to a request from `origin` carries: none for an origin
    /// not allowed.
    pub fn response(&self, origin: Option<&str>) -> Option<Vec<(&'static str, String)>> {
        let origin = origin.filter(|o| self.allows(o))?;
        let mut out = self.origin_headers(origin);
        out.extend(
            self.expose_header()
                .map(|e| ("access-control-expose-headers", e)),
        );
        Some(out)
    }

    fn origin_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let mut out = vec![("access-control-allow-origin", origin.to_string())];
        if self.credentials {
            out.push(("access-control-allow-credentials", "true".into()));
        }
        // The answer depends on the Origin: caches must keep one per origin.
        out.push(("vary", "Origin".into()));
        out
    }

    fn expose_header(&self) -> Option<String> {
        match &self.expose {
            Some(list) if !list.is_empty() => Some(list.join(", ")),
            Some(_) => None,
            // Browsers read `*` as a header name when credentials are sent: say nothing.
            None if self.credentials => None,
            None => Some("*".into()),
        }
    }
}

/// `scheme://host[:port]` lower-cased, the scheme's default port dropped.
fn normalise(origin: &str) -> String {
    let origin = origin.trim().to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if origin.starts_with(scheme)
            && let Some(without) = origin.strip_suffix(port)
        {
            return without.to_string();
        }
    }
    origin
}

/// Whether `origin` is `pattern` (both normalised), whose `*` in the host stands for any
/// number of labels.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    match pattern.split_once('*') {
        None => origin == pattern,
        Some((before, after)) => {
            origin.len() > before.len() + after.len()
                && origin.starts_with(before)
                && origin.ends_with(after)
                && origin[before.len()..origin.len() - after.len()]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(yaml: &str) -> GatewayCors {
        GatewayCors::new(&serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}")))
    }

    fn get<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn listed_and_wildcard_origins_are_echoed_with_the_lists() {
        let c = cors(
            r#"
allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
allowMethods: [GET, OPTIONS]
allowHeaders: [x-header-1, x-header-2]
exposeHeaders: [x-header-3]
allowCredentials: true
maxAge: 3600
"#,
        );
        for origin in [
            "https://www.foo.com",
            "https://www.bar.com",
            "https://a.b.bar.com",
        ] {
            let h = c.preflight(origin, "GET", Some("x-header-1"));
            assert_eq!(get(&h, "access-control-allow-origin"), Some(origin));
            assert_eq!(
                get(&h, "access-control-allow-methods"),
                Some("GET, OPTIONS")
            );
            assert_eq!(
                get(&h, "access-control-allow-headers"),
                Some("x-header-1, x-header-2")
            );
            assert_eq!(get(&h, "access-control-max-age"), Some("3600"));
            assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        }
        assert!(c.preflight("https://foobar.com", "GET", None).is_empty());
        assert!(c.preflight("https://bar.com", "GET", None).is_empty());
        assert!(c.response(Some("https://foobar.com")).is_none());
        assert!(c.response(None).is_none());
        let h = c
            .response(Some("https://WWW.foo.com:443"))
            .unwrap_or_default();
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://WWW.foo.com:443")
        );
        assert_eq!(get(&h, "access-control-expose-headers"), Some("x-header-3"));
    }

    #[test]
    fn wildcards_echo_the_request_when_credentials_are_allowed() {
        let with = cors(
            "allowOrigins: ['*']\nallowMethods: ['*']\nallowHeaders: ['*']\nallowCredentials: true",
        );
        let h = with.preflight("https://other.foo.com", "PUT", Some("x-a, x-b"));
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://other.foo.com")
        );
        assert_eq!(get(&h, "access-control-allow-methods"), Some("PUT"));
        assert_eq!(get(&h, "access-control-allow-headers"), Some("x-a, x-b"));
        assert_eq!(get(&h, "access-control-max-age"), Some("5"));
        assert_eq!(get(&h, "access-control-expose-headers"), None);
        let without = cors("allowOrigins: ['*']\nallowMethods: ['*']");
        let h = without.preflight("https://foobar.com:12345", "POST", None);
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://foobar.com:12345")
        );
        assert_eq!(get(&h, "access-control-allow-methods"), Some("*"));
        assert_eq!(get(&h, "access-control-allow-headers"), None);
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
    }
}
