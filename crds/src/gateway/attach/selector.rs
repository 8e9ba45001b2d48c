//! Label selectors, as a listener's `allowedRoutes.namespaces.selector` uses them to pick
//! the namespaces whose routes may attach.
//!
//! The Kubernetes rules: every `matchLabels` pair and every `matchExpressions` requirement
//! must hold (an AND). `In`: the label is set to one of the values; `NotIn`: the label is
//! not set, or set to none of the values; `Exists` / `DoesNotExist`: the label is set / not
//! set, whatever its value. An empty selector selects everything. A selector Kubernetes
//! would refuse (another operator, `In` without values, `Exists` with values) is an error.

use std::collections::{BTreeMap, BTreeSet};

use crate::gateway_api::gateways::{
    GatewayListenersAllowedRoutesNamespacesSelector,
    GatewayListenersAllowedRoutesNamespacesSelectorMatchExpressions,
};

/// Why a selector cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "matchExpressions key {key:?}: operator {operator:?} is not In, NotIn, Exists or DoesNotExist"
    )]
    UnknownOperator { key: String, operator: String },
    #[error("matchExpressions key {key:?}: operator {operator} needs at least one value")]
    MissingValues { key: String, operator: &'static str },
    #[error("matchExpressions key {key:?}: operator {operator} takes no values")]
    UnexpectedValues { key: String, operator: &'static str },
}

/// One requirement on a label.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    match_labels: BTreeMap<String, String>,
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Reads a listener's namespace selector.
    pub fn parse(
        selector: &GatewayListenersAllowedRoutesNamespacesSelector,
    ) -> Result<Self, SelectorError> {
        let requirements = selector
            .match_expressions
            .iter()
            .flatten()
            .map(requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            match_labels: selector.match_labels.clone().unwrap_or_default(),
            requirements,
        })
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.requirements.iter().all(|r| match r {
                Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
                Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
                Requirement::Exists(k) => labels.contains_key(k),
                Requirement::DoesNotExist(k) => !labels.contains_key(k),
            })
    }
}

fn requirement(
    expr: &GatewayListenersAllowedRoutesNamespacesSelectorMatchExpressions,
) -> Result<Requirement, SelectorError> {
    let key = expr.key.clone();
    let values: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
    let (operator, needs_values): (&'static str, bool) = match expr.operator.as_str() {
        "In" => ("In", true),
        "NotIn" => ("NotIn", true),
        "Exists" => ("Exists", false),
        "DoesNotExist" => ("DoesNotExist", false),
        other => {
            return Err(SelectorError::UnknownOperator {
                key,
                operator: other.to_string(),
            });
        }
    };
    if needs_values && values.is_empty() {
        return Err(SelectorError::MissingValues { key, operator });
    }
    if !needs_values && !values.is_empty() {
        return Err(SelectorError::UnexpectedValues { key, operator });
    }
    Ok(match operator {
        "In" => Requirement::In(key, values),
        "NotIn" => Requirement::NotIn(key, values),
        "Exists" => Requirement::Exists(key),
        _ => Requirement::DoesNotExist(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(v: serde_json::Value) -> Result<LabelSelector, SelectorError> {
        LabelSelector::parse(&serde_json::from_value(v).unwrap())
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = selector(json!({
            "matchLabels": { "team": "a" },
            "matchExpressions": [
                { "key": "env", "operator": "In", "values": ["prod", "staging"] },
                { "key": "tier", "operator": "NotIn", "values": ["internal"] },
                { "key": "gateway-access", "operator": "Exists" },
                { "key": "quarantine", "operator": "DoesNotExist" }
            ]
        }))
        .unwrap();
        let base = [("team", "a"), ("env", "prod"), ("gateway-access", "")];
        // (labels, selected)
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&base, true),
            (
                &[("team", "a"), ("env", "staging"), ("gateway-access", "x")],
                true,
            ),
            // NotIn holds when the label is another value, fails on a listed one.
            (
                &[
                    ("team", "a"),
                    ("env", "prod"),
                    ("gateway-access", ""),
                    ("tier", "web"),
                ],
                true,
            ),
            (
                &[
                    ("team", "a"),
                    ("env", "prod"),
                    ("gateway-access", ""),
                    ("tier", "internal"),
                ],
                false,
            ),
            (
                &[("team", "b"), ("env", "prod"), ("gateway-access", "")],
                false,
            ),
            (&[("env", "prod"), ("gateway-access", "")], false),
            (
                &[("team", "a"), ("env", "dev"), ("gateway-access", "")],
                false,
            ),
            (&[("team", "a"), ("gateway-access", "")], false),
            (&[("team", "a"), ("env", "prod")], false),
            (
                &[
                    ("team", "a"),
                    ("env", "prod"),
                    ("gateway-access", ""),
                    ("quarantine", "no"),
                ],
                false,
            ),
        ];
        for (pairs, selected) in cases {
            assert_eq!(s.matches(&labels(pairs)), *selected, "{pairs:?}");
        }
    }

    #[test]
    fn an_empty_selector_selects_everything() {
        let s = selector(json!({})).unwrap();
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn selectors_kubernetes_would_refuse_are_errors() {
        let cases = [
            json!({ "matchExpressions": [{ "key": "k", "operator": "Equals", "values": ["v"] }] }),
            json!({ "matchExpressions": [{ "key": "k", "operator": "In" }] }),
            json!({ "matchExpressions": [{ "key": "k", "operator": "NotIn", "values": [] }] }),
            json!({ "matchExpressions": [{ "key": "k", "operator": "Exists", "values": ["v"] }] }),
        ];
        for case in cases {
            assert!(selector(case.clone()).is_err(), "{case}");
        }
    }
}
