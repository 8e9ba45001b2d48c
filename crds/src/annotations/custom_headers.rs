//! `custom-headers`: response headers from a ConfigMap (each key a header name, its value
//! the header's), as ingress-nginx reads them. Only the names the class allows may be set
//! (`spec.headers.allowedResponseHeaders`, ingress-nginx's `global-allowed-response-headers`);
//! otherwise, or without the ConfigMap, the Ingress's rules answer 503, as in ingress-nginx.

use serde::Serialize;

/// The ConfigMap an Ingress names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomHeaders {
    /// `None`: the Ingress's own namespace.
    pub namespace: Option<String>,
    pub name: String,
}

impl CustomHeaders {
    /// `name` or `namespace/name`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (namespace, name) = super::auth::parse_object_name(value, "a ConfigMap")?;
        Ok(Self { namespace, name })
    }

    /// The ConfigMap's `namespace/name` for an Ingress in `namespace`; `Err` for another
    /// namespace's, as for auth Secrets.
    pub fn key(&self, namespace: &str) -> Result<String, String> {
        let map_namespace = self.namespace.as_deref().unwrap_or(namespace);
        let key = format!("{map_namespace}/{}", self.name);
        if map_namespace != namespace {
            return Err(format!(
                "custom-headers ConfigMap {key} is in another namespace; it must be in the Ingress's own ({namespace})"
            ));
        }
        Ok(key)
    }
}

/// Whether `name: value` may be set: a plain header name that `allowed` lists (any case),
/// and a value of printable characters.
pub fn check(name: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{name:?} is not a header name"));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(format!("the value of {name} is not printable text"));
    }
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "header {name} is not among the class's allowed response headers (spec.headers.allowedResponseHeaders)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_the_allow_list() {
        let allowed = ["X-Frame-Options", "x-team"];
        assert!(check("x-frame-options", "DENY", &allowed).is_ok());
        assert!(check("X-Team", "shop", &allowed).is_ok());
        assert!(
            check("Set-Cookie", "a=b", &allowed)
                .unwrap_err()
                .contains("allowed")
        );
        assert!(check("X Team", "a", &allowed).is_err());
        assert!(check("X-Team", "a\r\nb", &allowed).is_err());
        let h = CustomHeaders::parse("shop/headers").unwrap();
        assert_eq!(h.key("shop").as_deref(), Ok("shop/headers"));
        assert!(h.key("other").is_err());
        assert!(CustomHeaders::parse("a/b/c").is_err());
    }
}
