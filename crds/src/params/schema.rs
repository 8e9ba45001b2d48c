//! What the derives cannot say on their own: the patterns of the string fields, the CEL
//! rules built from the defaults, the transforms that tidy the generated schema, and the
//! same checks as the patterns in plain Rust for [`IngressClassParamsSpec::resolve`].
//!
//! [`IngressClassParamsSpec::resolve`]: super::IngressClassParamsSpec::resolve

use super::{defaults, limits};

// Patterns (Go RE2 syntax in the API server; kept free of look-around).
pub(super) const DURATION_PATTERN: &str = r"^[0-9]{1,6}(ms|s|m|h)$";
pub(super) const SIZE_PATTERN: &str = r"^[0-9]{1,9}[kKmMgG]?$";
pub(super) const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
pub(super) const IMAGE_REPOSITORY_PATTERN: &str =
    r"^[a-z0-9]+([._-]+[a-z0-9]+)*((:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+)?$";
pub(super) const IMAGE_TAG_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

pub(super) const DURATION_RULE: &str =
    "duration(self) >= duration('1ms') && duration(self) <= duration('1h')";
pub(super) const DURATION_MESSAGE: &str =
    "must be a whole number with a unit (ms, s, m or h) between 1ms and 1h, such as 5s";

/// Doc comments become descriptions line by line; `kubectl explain` reads better with each
/// paragraph on one line. Applied to a struct's own description and its fields' (all ours:
/// the descriptions of embedded Kubernetes types, further down, are left alone).
pub(super) fn unwrap_descriptions(schema: &mut schemars::Schema) {
    fn unwrap(schema: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(serde_json::Value::String(text)) = schema.get_mut("description") {
            *text = text
                .split("\n\n")
                .map(|paragraph| {
                    let lines: Vec<&str> = paragraph.lines().map(str::trim).collect();
                    lines.join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n\n");
        }
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    unwrap(object);
    let Some(properties) = object.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for property in properties
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
    {
        unwrap(property);
        // An `Option<Enum>` is `anyOf: [<the enum>, null]` here, and kube's `OptionalEnum`
        // later lifts the enum's keys over the property's: the enum type's own doc would
        // replace the field's. Drop it.
        if let Some(any_of) = property.get_mut("anyOf").and_then(|a| a.as_array_mut()) {
            for member in any_of
                .iter_mut()
                .filter_map(serde_json::Value::as_object_mut)
            {
                member.remove("description");
            }
        }
    }
}

/// The API server checks a Quantity only for being an int or a string; this makes it refuse
/// a request or limit that is not a quantity (`256MB`), bounding the maps so the rule's cost
/// estimate fits the budget.
/// An optional int-or-string field has no type in a structural schema, so it cannot be
/// `nullable` as other optional fields are (leaving it out is how it is unset): the mark
/// the derive gives every `Option` is taken off those, anywhere in `schema`.
pub(super) fn int_or_string_not_nullable(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            if map.get("x-kubernetes-int-or-string") == Some(&serde_json::Value::Bool(true)) {
                map.remove("nullable");
            }
            map.values_mut().for_each(int_or_string_not_nullable);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(int_or_string_not_nullable),
        _ => {}
    }
}

/// An ObjectMeta embedded in a template (an ephemeral volume's claim template) becomes an
/// object kept as written, as controller-gen does: its managedFields hold free-form objects
/// that a structural schema cannot describe, and the API server checks the pod anyway.
pub(super) fn embedded_metadata_free_form(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            let embedded_meta = |v: &serde_json::Value| {
                v.pointer("/properties/managedFields").is_some()
                    && v.pointer("/properties/ownerReferences").is_some()
            };
            for (key, value) in map.iter_mut() {
                if key == "metadata" && embedded_meta(value) {
                    *value = serde_json::json!({
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                    });
                } else {
                    embedded_metadata_free_form(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(embedded_metadata_free_form),
        _ => {}
    }
}

pub(super) fn quantity_rules(schema: &mut schemars::Schema) {
    let Some(properties) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for key in ["requests", "limits"] {
        let Some(map) = properties
            .get_mut(key)
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        map.insert("maxProperties".into(), 32.into());
        if let Some(value) = map
            .get_mut("additionalProperties")
            .and_then(serde_json::Value::as_object_mut)
        {
            value.insert(
                "description".into(),
                "A quantity, such as 100m, 1 or 256Mi.".into(),
            );
            value.insert("maxLength".into(), 64.into());
            value.insert(
                "x-kubernetes-validations".into(),
                serde_json::json!([{
                    "rule": "isQuantity(string(self))",
                    "message": "must be a quantity, such as 100m, 1 or 256Mi",
                }]),
            );
        }
    }
}

/// CEL: the node ports in effect (the defaults fill in the unset one) differ, unless the
/// Service is ClusterIP and has none.
pub(super) fn node_ports_differ_rule() -> String {
    format!(
        "(has(self.type) && self.type == 'ClusterIP') || \
         (has(self.httpNodePort) ? self.httpNodePort : {http}) != \
         (has(self.httpsNodePort) ? self.httpsNodePort : {https})",
        http = defaults::HTTP_NODE_PORT,
        https = defaults::HTTPS_NODE_PORT,
    )
}

/// CEL: an address to publish is an IP address or a DNS name.
pub(super) fn address_rule() -> String {
    format!("isIP(self) || self.matches('{DNS_SUBDOMAIN_PATTERN}')")
}

// ----------------------------------------------------------------------------------------
// The same checks as the schema's patterns, without a regex engine.

/// `^[0-9]{1,6}(ms|s|m|h)$`
pub(super) fn is_duration(value: &str) -> bool {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    (1..=6).contains(&digits) && matches!(&value[digits..], "ms" | "s" | "m" | "h")
}

/// A DNS-1123 subdomain: lowercase alphanumeric labels joined by dots, `-` inside a label,
/// at most 253 characters.
pub(super) fn is_dns_subdomain(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= limits::MAX_DNS_NAME
        && value.split('.').all(|label| {
            let bytes = label.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    is_lower_alnum(*first)
                        && is_lower_alnum(*last)
                        && bytes.iter().all(|b| is_lower_alnum(*b) || *b == b'-')
                }
                _ => false,
            }
        })
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
pub(super) fn is_image_tag(value: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    match value.as_bytes().split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphanumeric() || *first == b'_')
                && rest.len() <= 127
                && rest.iter().all(|b| ok(*b))
        }
        None => false,
    }
}

/// The schema's repository pattern: lowercase path components of alphanumerics joined by
/// separators (`.`, `_`, `-`), joined by `/`; the first may carry a `:port`.
pub(super) fn is_image_repository(value: &str) -> bool {
    fn component(c: &str) -> bool {
        let bytes = c.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                is_lower_alnum(*first)
                    && is_lower_alnum(*last)
                    && bytes
                        .iter()
                        .all(|b| is_lower_alnum(*b) || matches!(b, b'.' | b'_' | b'-'))
            }
            _ => false,
        }
    }
    if value.is_empty() || value.len() > 255 {
        return false;
    }
    let parts = value.split('/').count();
    value
        .split('/')
        .enumerate()
        .all(|(i, part)| match part.split_once(':') {
            Some((host, port)) => {
                i == 0
                    && parts > 1
                    && component(host)
                    && !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
            }
            None => component(part),
        })
}

/// An absolute http(s) URL with a host.
pub(super) fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    rest.is_some_and(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        !host.is_empty() && !host.starts_with(':') && !value.chars().any(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_twins() {
        for ok in ["5s", "250ms", "1h", "999999m"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "5", "s", "1.5s", "1000000s", "5S", "-1s", "5 s"] {
            assert!(!is_duration(bad), "{bad}");
        }
        for ok in ["a", "wildcard-tls", "a.b-c.d", "0"] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a..b", ".a", "a_b", &"a".repeat(254)] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        for ok in [
            "nginx",
            "ghcr.io/sluice-dev/sluice-proxy",
            "localhost:5000/a/b",
            "a__b",
        ] {
            assert!(is_image_repository(ok), "{ok}");
        }
        for bad in ["", "A/b", "a:5000", "a/b:1", "a//b", "a:/b", "-a", "a-/b"] {
            assert!(!is_image_repository(bad), "{bad}");
        }
        for ok in ["v1.2.3", "0.1.0", "_x", "latest"] {
            assert!(is_image_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a:b", &"a".repeat(129)] {
            assert!(!is_image_tag(bad), "{bad}");
        }
        for ok in ["http://x:4318", "https://otel.example.com/v1/traces"] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in ["x", "http://", "http://:80", "ftp://x", "http://a b"] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
