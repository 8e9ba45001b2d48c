//! `upstream-vhost`: the `Host` the backend gets instead of the client's, as ingress-nginx's
//! `proxy_set_header Host`. The value is a host name (a port may follow) and may use the
//! variables ingress-nginx sets for each rule; nothing else is evaluated.
//!
//! | variable | value |
//! | --- | --- |
//! | `$namespace` | the Ingress's namespace |
//! | `$ingress_name` | the Ingress's name |
//! | `$service_name` | the rule's Service |
//! | `$service_port` | the rule's Service port, number or name |

use serde::Serialize;

/// A parsed `upstream-vhost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpstreamVhost(Vec<Part>);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
enum Part {
    Text(String),
    Namespace,
    IngressName,
    ServiceName,
    ServicePort,
}

/// What the variables stand for in one rule.
pub struct RuleParts<'a> {
    pub namespace: &'a str,
    pub ingress_name: &'a str,
    pub service_name: &'a str,
    pub service_port: &'a str,
}

const VARIABLES: [(&str, Part); 4] = [
    ("$namespace", Part::Namespace),
    ("$ingress_name", Part::IngressName),
    ("$service_name", Part::ServiceName),
    ("$service_port", Part::ServicePort),
];

impl UpstreamVhost {
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut rest = value.trim();
        if rest.is_empty() {
            return Err("must be a host name".into());
        }
        let mut parts = Vec::new();
        while !rest.is_empty() {
            if let Some((name, part)) = VARIABLES.iter().find(|(n, _)| rest.starts_with(n)) {
                parts.push(part.clone());
                rest = &rest[name.len()..];
                continue;
            }
            let end = rest[1..].find('$').map_or(rest.len(), |i| i + 1);
            let text = &rest[..end];
            if !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
            {
                return Err(format!(
                    "must be a host name, with letters, digits, - . : and the variables {}",
                    VARIABLES.map(|(n, _)| n).join(", ")
                ));
            }
            parts.push(Part::Text(text.to_string()));
            rest = &rest[end..];
        }
        Ok(Self(parts))
    }

    /// The host for one rule.
    pub fn expand(&self, rule: &RuleParts<'_>) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Text(t) => t.as_str(),
                Part::Namespace => rule.namespace,
                Part::IngressName => rule.ingress_name,
                Part::ServiceName => rule.service_name,
                Part::ServicePort => rule.service_port,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_the_rule_variables() {
        let rule = RuleParts {
            namespace: "shop",
            ingress_name: "web",
            service_name: "cart",
            service_port: "8080",
        };
        let expand = |v: &str| UpstreamVhost::parse(v).unwrap().expand(&rule);
        assert_eq!(expand("internal.example.com"), "internal.example.com");
        assert_eq!(expand("$service_name.$namespace.svc"), "cart.shop.svc");
        assert_eq!(expand("$service_name:$service_port"), "cart:8080");
        for bad in ["", "$host", "a b", "a\"b", "$http_x", "a/b"] {
            assert!(UpstreamVhost::parse(bad).is_err(), "{bad:?}");
        }
    }
}
