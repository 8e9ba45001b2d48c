//! What an Ingress claims: its rules flattened into (host, path) keys with their backends,
//! and which of two Ingresses wins a key they both claim.

use std::cmp::Ordering;
use std::fmt;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::host::{HostError, HostMatch};
use super::path::{PathError, PathMatch};
use crate::annotations::{RegexPaths, is_canary};

/// "The same rule": two claims with equal keys conflict.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleKey {
    pub host: HostMatch,
    pub path: PathMatch,
}

impl fmt::Display for RuleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostMatch::Any => write!(f, "any host, path {}", self.path),
            host => write!(f, "host {host} path {}", self.path),
        }
    }
}

/// One path of one rule of an Ingress.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim<'a> {
    pub key: RuleKey,
    pub backend: &'a IngressBackend,
    /// Where it was written, for messages: `spec.rules[0].http.paths[1]`.
    pub location: Location,
}

/// The position of a path in an Ingress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub rule: usize,
    pub path: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spec.rules[{}].http.paths[{}]", self.rule, self.path)
    }
}

/// A rule or path that cannot be served, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("spec.rules[{rule}].host: {source}")]
    Host { rule: usize, source: HostError },
    #[error("{location}: {source}")]
    Path {
        location: Location,
        source: PathError,
    },
}

/// The claims of every rule of `ingress`, in order, and the errors of those that cannot be
/// served. A rule with a bad host contributes no claims; a bad path only loses itself. Its
/// `use-regex` and `rewrite-target` annotations decide which paths are regular expressions.
/// A canary Ingress claims nothing: its rules are [`canary_claims`].
pub fn claims(ingress: &Ingress) -> (Vec<Claim<'_>>, Vec<ClaimError>) {
    let (claims, errors) = rules(ingress);
    match is_canary(ingress.metadata.annotations.as_ref()) {
        true => (Vec::new(), errors),
        false => (claims, errors),
    }
}

/// The rules a canary Ingress joins: those of the same key that another Ingress claims.
/// Empty for an Ingress that is not a canary.
pub fn canary_claims(ingress: &Ingress) -> Vec<Claim<'_>> {
    match is_canary(ingress.metadata.annotations.as_ref()) {
        true => rules(ingress).0,
        false => Vec::new(),
    }
}

fn rules(ingress: &Ingress) -> (Vec<Claim<'_>>, Vec<ClaimError>) {
    let regex = RegexPaths::of(ingress.metadata.annotations.as_ref());
    let mut claims = Vec::new();
    let mut errors = Vec::new();
    let rules = ingress
        .spec
        .as_ref()
        .and_then(|s| s.rules.as_deref())
        .unwrap_or_default();
    for (rule_index, rule) in rules.iter().enumerate() {
        let host = match HostMatch::parse(rule.host.as_deref()) {
            Ok(h) => h,
            Err(source) => {
                errors.push(ClaimError::Host {
                    rule: rule_index,
                    source,
                });
                continue;
            }
        };
        let paths = rule
            .http
            .as_ref()
            .map(|h| h.paths.as_slice())
            .unwrap_or_default();
        for (path_index, path) in paths.iter().enumerate() {
            let location = Location {
                rule: rule_index,
                path: path_index,
            };
            let raw = path.path.as_deref();
            match PathMatch::parse_with(raw, &path.path_type, regex.is_regex(raw)) {
                Ok(p) => claims.push(Claim {
                    key: RuleKey {
                        host: host.clone(),
                        path: p,
                    },
                    backend: &path.backend,
                    location,
                }),
                Err(source) => errors.push(ClaimError::Path { location, source }),
            }
        }
    }
    (claims, errors)
}

/// An Ingress's identity and age: what decides which of two claims of one key wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressRef {
    pub namespace: String,
    pub name: String,
    pub created: Option<Time>,
}

impl IngressRef {
    pub fn of(ingress: &Ingress) -> Self {
        Self {
            namespace: ingress.metadata.namespace.clone().unwrap_or_default(),
            name: ingress.metadata.name.clone().unwrap_or_default(),
            created: ingress.metadata.creation_timestamp.clone(),
        }
    }
}

impl fmt::Display for IngressRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Precedence: the oldest Ingress wins (no timestamp counts as newest), then the smaller
/// namespace, then the smaller name. `Less` means `self` wins.
impl Ord for IngressRef {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_age = match (&self.created, &other.created) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_age
            .then_with(|| self.namespace.cmp(&other.namespace))
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl PartialOrd for IngressRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, created: Option<&str>, rules: serde_json::Value) -> Ingress {
        let mut v = json!({
            "metadata": { "name": name, "namespace": "shop" },
            "spec": { "rules": rules }
        });
        if let Some(c) = created {
            v["metadata"]["creationTimestamp"] = json!(c);
        }
        serde_json::from_value(v).unwrap()
    }

    fn backend() -> serde_json::Value {
        json!({ "service": { "name": "api", "port": { "number": 80 } } })
    }

    #[test]
    fn flattens_rules_and_reports_bad_ones_with_their_location() {
        let ing = ingress(
            "api",
            None,
            json!([
                { "host": "App.example.com", "http": { "paths": [
                    { "path": "/api/", "pathType": "Prefix", "backend": backend() },
                    { "path": "api", "pathType": "Exact", "backend": backend() }
                ]}},
                { "host": "bad..host", "http": { "paths": [
                    { "path": "/", "pathType": "Prefix", "backend": backend() }
                ]}}
            ]),
        );
        let (claims, errors) = claims(&ing);
        assert_eq!(claims.len(), 1);
        assert_eq!(
            claims[0].key.to_string(),
            "host app.example.com path /api (Prefix)"
        );
        assert_eq!(
            claims[0].location.to_string(),
            "spec.rules[0].http.paths[0]"
        );
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0].to_string(),
            "spec.rules[0].http.paths[1]: path \"api\" of type Exact must start with '/'"
        );
        assert!(errors[1].to_string().starts_with("spec.rules[1].host:"));
    }

    #[test]
    fn a_canary_claims_nothing_and_joins_its_rules() {
        let mut canary = ingress(
            "api-canary",
            None,
            json!([{ "host": "app.example.com", "http": { "paths": [
                { "path": "/api", "pathType": "Prefix", "backend": backend() }
            ]}}]),
        );
        canary.metadata.annotations = Some(
            [(
                "nginx.ingress.kubernetes.io/canary".to_string(),
                "true".to_string(),
            )]
            .into(),
        );
        assert!(claims(&canary).0.is_empty());
        let joined = canary_claims(&canary);
        assert_eq!(joined.len(), 1);
        assert_eq!(
            joined[0].key.to_string(),
            "host app.example.com path /api (Prefix)"
        );
        canary.metadata.annotations = None;
        assert_eq!(claims(&canary).0.len(), 1);
        assert!(canary_claims(&canary).is_empty());
    }

    #[test]
    fn oldest_wins_then_namespace_then_name() {
        let old = IngressRef::of(&ingress("b", Some("2024-01-01T00:00:00Z"), json!([])));
        let new = IngressRef::of(&ingress("a", Some("2025-01-01T00:00:00Z"), json!([])));
        let unknown = IngressRef::of(&ingress("0", None, json!([])));
        assert!(old < new);
        assert!(new < unknown);
        let same_age = IngressRef::of(&ingress("a", Some("2024-01-01T00:00:00Z"), json!([])));
        assert!(same_age < old, "same age: by name");
    }
}
