//! Redirect annotations (`permanent-redirect`, `temporal-redirect`, `app-root`): the target
//! is parsed once into text and request variables, then filled in per request. Nothing is
//! evaluated; only the variables below exist.
//!
//! | variable | value |
//! | --- | --- |
//! | `$scheme` | `http` or `https` |
//! | `$host` | the request's host, without port |
//! | `$request_uri` | path and query, as the client sent them |
//! | `$uri` | the path |
//! | `$args`, `$query_string` | the query, without `?` |

use serde::Serialize;

/// What a redirect annotation asks for: answer `code` with `Location: to` instead of
/// proxying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redirect {
    pub code: u16,
    pub to: Template,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Template(Vec<Part>);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
enum Part {
    Text(String),
    Var(Var),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
enum Var {
    Scheme,
    Host,
    RequestUri,
    Uri,
    Args,
}

const VARS: [(&str, Var); 6] = [
    ("scheme", Var::Scheme),
    ("host", Var::Host),
    ("request_uri", Var::RequestUri),
    ("uri", Var::Uri),
    ("args", Var::Args),
    ("query_string", Var::Args),
];

/// The request, as a redirect target may use it.
pub struct RequestParts<'a> {
    pub tls: bool,
    pub host: &'a str,
    /// Path and query.
    pub request_uri: &'a str,
}

impl Template {
    /// An absolute `http(s)://` (or `$scheme://`) URL or a path starting with `/`, with
    /// variables.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if !["http://", "https://", "$scheme://", "/"]
            .iter()
            .any(|p| value.starts_with(p))
        {
            return Err("must be an http:// or https:// URL, or a path starting with /".into());
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        let mut parts = Vec::new();
        let mut rest = value;
        while let Some(at) = rest.find('$') {
            if at > 0 {
                parts.push(Part::Text(rest[..at].to_string()));
            }
            let after = &rest[at + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..len];
            let var = VARS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let known: Vec<String> = VARS.iter().map(|(n, _)| format!("${n}")).collect();
                    format!("unknown variable ${name}; known: {}", known.join(", "))
                })?;
            parts.push(Part::Var(var));
            rest = &after[len..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self(parts))
    }

    pub fn expand(&self, request: &RequestParts<'_>) -> String {
        let (path, query) = request
            .request_uri
            .split_once('?')
            .unwrap_or((request.request_uri, ""));
        let mut out = String::new();
        for part in &self.0 {
            out.push_str(match part {
                Part::Text(t) => t,
                Part::Var(Var::Scheme) if request.tls => "https",
                Part::Var(Var::Scheme) => "http",
                Part::Var(Var::Host) => request.host,
                Part::Var(Var::RequestUri) => request.request_uri,
                Part::Var(Var::Uri) => path,
                Part::Var(Var::Args) => query,
            });
        }
        out
    }
}

/// A redirect status: 3xx that carries a Location (not 304, 305 or 306).
pub fn parse_code(value: &str) -> Result<u16, String> {
    match value.trim().parse::<u16>() {
        Ok(code @ (300..=303 | 307 | 308)) => Ok(code),
        _ => Err("must be a redirect status: 300 to 303, 307 or 308".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tls: bool) -> RequestParts<'static> {
        RequestParts {
            tls,
            host: "shop.example.com",
            request_uri: "/cart/items?page=2",
        }
    }

    #[test]
    fn fills_in_the_variables() {
        let t = Template::parse("https://new.example.com$request_uri").unwrap();
        assert_eq!(
            t.expand(&request(false)),
            "https://new.example.com/cart/items?page=2"
        );
        let t = Template::parse("$scheme://$host/v2$uri?from=old&$args").unwrap();
        assert_eq!(
            t.expand(&request(true)),
            "https://shop.example.com/v2/cart/items?from=old&page=2"
        );
        assert_eq!(
            Template::parse("/maintenance")
                .unwrap()
                .expand(&request(true)),
            "/maintenance"
        );
    }

    #[test]
    fn refuses_what_is_not_a_plain_target() {
        assert!(Template::parse("ftp://x").is_err());
        assert!(Template::parse("example.com").is_err());
        assert!(Template::parse("https://x/\r\nSet-Cookie: a=b").is_err());
        assert!(Template::parse("https://x/ y").is_err());
        let unknown = Template::parse("https://x/$remote_addr").unwrap_err();
        assert!(
            unknown.contains("unknown variable $remote_addr"),
            "{unknown}"
        );
    }

    #[test]
    fn codes() {
        assert_eq!(parse_code("308"), Ok(308));
        assert_eq!(parse_code(" 301 "), Ok(301));
        assert!(parse_code("304").is_err());
        assert!(parse_code("200").is_err());
        assert!(parse_code("abc").is_err());
    }
}
