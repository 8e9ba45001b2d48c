//! Authentication annotations, as ingress-nginx reads them: basic auth against an htpasswd
//! Secret (`auth-type: basic`), and external auth (`auth-url`), where another service
//! decides each request.
//!
//! | annotation | value | default |
//! | --- | --- | --- |
//! | `auth-type` | `basic` (`digest` is refused) | none: no basic auth |
//! | `auth-secret` | `name` or `namespace/name` of a Secret in the Ingress's namespace | none |
//! | `auth-secret-type` | `auth-file` (htpasswd lines in key `auth`) or `auth-map` (user → hash) | `auth-file` |
//! | `auth-realm` | text | empty |
//! | `auth-url` | `http(s)://` URL, with [`super::redirect`]'s variables | none |
//! | `auth-method` | `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`, `TRACE` | `GET` |
//! | `auth-signin` | URL or path, with variables: where a 401 from the auth service redirects | none |
//! | `auth-signin-redirect-param` | a query parameter name | `rd` |
//! | `auth-response-headers` | header names, comma-separated: copied from the auth response to the request | none |
//! | `auth-request-redirect` | text: sent as `X-Auth-Request-Redirect` | the request's URI |
//! | `auth-always-set-cookie` | `true` / `false`: the auth response's cookies on every answer, not only successes | `false` |
//!
//! What cannot be enforced as written is "unenforced" ([`super::Parsed::unenforced`]): the
//! webhook refuses the Ingress and the proxy answers 503, never serving the rule open.

use serde::Serialize;

use super::redirect::Template;

/// Basic auth: who may pass, from which Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BasicAuth {
    /// The Secret's namespace when written `namespace/name`; `None`: the Ingress's own.
    pub namespace: Option<String>,
    pub secret: String,
    pub secret_type: SecretType,
    /// Sent in `WWW-Authenticate: Basic realm="..."`.
    pub realm: String,
}

impl BasicAuth {
    /// The Secret's `namespace/name`, for an Ingress in `namespace`; `Err` when it is in
    /// another namespace: an Ingress may not check passwords against another team's Secret.
    pub fn secret_key(&self, namespace: &str) -> Result<String, String> {
        let secret_namespace = self.namespace.as_deref().unwrap_or(namespace);
        let key = format!("{secret_namespace}/{}", self.secret);
        if secret_namespace != namespace {
            return Err(format!(
                "auth Secret {key} is in another namespace; it must be in the Ingress's own ({namespace})"
            ));
        }
        Ok(key)
    }
}

/// How the Secret holds the users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretType {
    /// htpasswd lines (`user:hash`) in the key `auth`.
    #[default]
    AuthFile,
    /// Each key a user, its value the hash.
    AuthMap,
}

/// External auth: a request to `url` decides each request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExternalAuth {
    pub url: Template,
    /// The method of the auth request; `None`: GET, as nginx's subrequests are.
    pub method: Option<String>,
    /// Where a 401 from the auth service sends the client instead (302).
    pub signin: Option<Template>,
    /// The query parameter of `signin` that carries the original URL.
    pub redirect_param: String,
    /// Headers of the auth response copied onto the request to the backend.
    pub response_headers: Vec<String>,
    /// `X-Auth-Request-Redirect`; `None`: the request's URI.
    pub request_redirect: Option<String>,
    /// The auth response's cookies on every answer, not only on 2xx and 3xx.
    pub always_set_cookie: bool,
}

/// The auth annotations as read, before they are checked against each other.
#[derive(Default)]
pub struct Parts {
    pub auth_type: Option<String>,
    pub secret: Option<(Option<String>, String)>,
    pub secret_type: SecretType,
    pub realm: String,
    pub url: Option<Template>,
    pub method: Option<String>,
    pub signin: Option<Template>,
    pub redirect_param: Option<String>,
    pub response_headers: Vec<String>,
    pub request_redirect: Option<String>,
    pub always_set_cookie: bool,
}

impl Parts {
    /// Basic auth, if asked for. `Err`: asked for in a way that cannot be enforced.
    pub fn basic(&mut self) -> Result<Option<BasicAuth>, String> {
        match self.auth_type.as_deref() {
            None => Ok(None),
            Some("basic") => {
                let (namespace, secret) = self
                    .secret
                    .take()
                    .ok_or("auth-type basic needs auth-secret: the Secret with the users")?;
                Ok(Some(BasicAuth {
                    namespace,
                    secret,
                    secret_type: self.secret_type,
                    realm: std::mem::take(&mut self.realm),
                }))
            }
            Some(_) => {
                Err("only basic authentication is supported: auth-type must be \"basic\"".into())
            }
        }
    }

    /// External auth, if asked for.
    pub fn external(&mut self) -> Option<ExternalAuth> {
        let url = self.url.take()?;
        Some(ExternalAuth {
            url,
            method: self.method.take(),
            signin: self.signin.take(),
            redirect_param: self.redirect_param.take().unwrap_or_else(|| "rd".into()),
            response_headers: std::mem::take(&mut self.response_headers),
            request_redirect: self.request_redirect.take(),
            always_set_cookie: self.always_set_cookie,
        })
    }
}

/// `auth-type`: `basic`; anything else cannot be enforced.
pub fn parse_type(value: &str) -> Result<String, String> {
    match value.trim() {
        "basic" => Ok("basic".into()),
        "digest" => Err("digest authentication is not supported by Sluice; use basic".into()),
        _ => Err("must be \"basic\"".into()),
    }
}

/// `auth-secret`: `name` or `namespace/name`, each a DNS label.
pub fn parse_secret(value: &str) -> Result<(Option<String>, String), String> {
    parse_object_name(value, "a Secret")
}

/// `name` or `namespace/name` of an object (`what`), each a DNS name.
pub fn parse_object_name(value: &str, what: &str) -> Result<(Option<String>, String), String> {
    let message =
        format!("must name {what}: name or namespace/name, in lower-case letters, digits, - and .");
    let value = value.trim();
    let (namespace, name) = match value.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, value),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if !valid(name) || namespace.is_some_and(|ns| !valid(ns)) {
        return Err(message);
    }
    Ok((namespace.map(str::to_string), name.to_string()))
}

pub fn parse_secret_type(value: &str) -> Result<SecretType, String> {
    match value.trim() {
        "auth-file" => Ok(SecretType::AuthFile),
        "auth-map" => Ok(SecretType::AuthMap),
        _ => Err("must be auth-file or auth-map".into()),
    }
}

/// `auth-realm`: shown by browsers; it goes into a quoted header value, so no quotes,
/// backslashes or control characters.
pub fn parse_realm(value: &str) -> Result<String, String> {
    if value
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control() || !c.is_ascii())
    {
        return Err("must be printable ASCII text without quotes or backslashes".into());
    }
    Ok(value.trim().to_string())
}

/// `auth-url`: an absolute `http://` or `https://` URL (variables allowed).
pub fn parse_url(value: &str) -> Result<Template, String> {
    let value = value.trim();
    if !["http://", "https://", "$scheme://"]
        .iter()
        .any(|p| value.starts_with(p))
    {
        return Err("must be an http:// or https:// URL".into());
    }
    Template::parse(value)
}

/// `auth-method`, as ingress-nginx's validator allows them.
pub fn parse_method(value: &str) -> Result<String, String> {
    const METHODS: [&str; 8] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
    ];
    let value = value.trim();
    METHODS
        .contains(&value)
        .then(|| value.to_string())
        .ok_or_else(|| format!("must be one of {}", METHODS.join(", ")))
}

/// `auth-response-headers`: header names, comma-separated.
pub fn parse_header_names(value: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let valid = |n: &str| {
        n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match names.iter().find(|n| !valid(n)) {
        Some(bad) => Err(format!(
            "{bad:?} is not a header name: letters, digits, - and _ only"
        )),
        None if names.is_empty() => Err("must name at least one header".into()),
        None => Ok(names),
    }
}

/// `auth-signin-redirect-param`: a plain query parameter name.
pub fn parse_param(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("must be a query parameter name: letters, digits, -, _ and .".into());
    }
    Ok(value.to_string())
}

/// `auth-request-redirect`: text for a header value.
pub fn parse_header_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable text without spaces".into());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_needs_a_secret_and_refuses_other_types() {
        let mut parts = Parts {
            auth_type: Some("basic".into()),
            ..Parts::default()
        };
        assert!(parts.basic().unwrap_err().contains("needs auth-secret"));
        let mut parts = Parts {
            auth_type: Some("basic".into()),
            secret: Some((None, "users".into())),
            realm: "Shop".into(),
            ..Parts::default()
        };
        let basic = parts.basic().unwrap().unwrap();
        assert_eq!(
            (basic.secret.as_str(), basic.realm.as_str()),
            ("users", "Shop")
        );
        assert_eq!(Parts::default().basic(), Ok(None));
        assert!(parse_type("digest").unwrap_err().contains("digest"));
        assert!(parse_type("Basic").is_err());
    }

    #[test]
    fn secret_names() {
        assert_eq!(parse_secret("users"), Ok((None, "users".into())));
        assert_eq!(
            parse_secret("auth/users"),
            Ok((Some("auth".into()), "users".into()))
        );
        for bad in ["", "Users", "a/b/c", "/x", "x/", "-x", "a b"] {
            assert!(parse_secret(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_auth_defaults_and_values() {
        let mut parts = Parts {
            url: Some(parse_url("http://auth.example/check").unwrap()),
            ..Parts::default()
        };
        let ext = parts.external().unwrap();
        assert_eq!(ext.redirect_param, "rd");
        assert_eq!(ext.method, None);
        assert!(parse_url("/check").is_err());
        assert!(parse_url("https://$host/oauth2/auth").is_ok());
        assert_eq!(parse_method("POST").as_deref(), Ok("POST"));
        assert!(parse_method("post").is_err());
        assert_eq!(
            parse_header_names("X-User, X-Email,").unwrap(),
            ["X-User", "X-Email"]
        );
        assert!(parse_header_names("X User").is_err());
        assert!(parse_header_names(" , ").is_err());
        assert!(parse_realm("say \"hi\"").is_err());
        assert_eq!(parse_realm(" Shop staff ").as_deref(), Ok("Shop staff"));
        assert!(parse_param("r d").is_err());
    }
}
