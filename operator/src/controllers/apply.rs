//! Server-side apply that writes only when something would change, so a quiet cluster
//! sees no write from the operator.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_crds::names::FIELD_MANAGER;

/// Whether every field set in `desired` has the same value in `current`. Fields only the
/// server or other managers set (defaults, status, annotations of others) do not matter.
pub fn is_subset(desired: &Value, current: &Value) -> bool {
    match (desired, current) {
        (Value::Object(d), Value::Object(c)) => d
            .iter()
            .all(|(k, dv)| c.get(k).is_some_and(|cv| is_subset(dv, cv))),
        (Value::Array(d), Value::Array(c)) => {
            d.len() == c.len() && d.iter().zip(c).all(|(dv, cv)| is_subset(dv, cv))
        }
        (Value::Number(d), Value::Number(c)) => d.as_f64() == c.as_f64(),
        (d, c) => d == c,
    }
}

/// What an apply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Applies `desired` (server-side, forcing ownership of its fields) unless `current`
/// already has it. Returns the object as it now is.
pub async fn apply<K>(api: &Api<K>, current: Option<K>, desired: &K) -> kube::Result<(K, Applied)>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = desired.name_any();
    let desired_json = serde_json::to_value(desired).map_err(kube::Error::SerdeError)?;
    if let Some(current) = current {
        let current_json = serde_json::to_value(&current).map_err(kube::Error::SerdeError)?;
        if is_subset(&desired_json, &current_json) {
            return Ok((current, Applied::Unchanged));
        }
        let applied = api
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&desired_json),
            )
            .await?;
        return Ok((applied, Applied::Updated));
    }
    let applied = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired_json),
        )
        .await?;
    Ok((applied, Applied::Created))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subset_ignores_server_fields_but_not_changes() {
        let desired = json!({ "spec": { "replicas": 2, "ports": [{ "port": 80 }] } });
        let current = json!({
            "metadata": { "resourceVersion": "7" },
            "spec": { "replicas": 2, "ports": [{ "port": 80, "protocol": "TCP" }] },
            "status": { "ready": 0 }
        });
        assert!(is_subset(&desired, &current));
        assert!(!is_subset(&json!({ "spec": { "replicas": 3 } }), &current));
        assert!(!is_subset(
            &json!({ "spec": { "ports": [{ "port": 80 }, { "port": 443 }] } }),
            &current
        ));
        assert!(!is_subset(&json!({ "spec": { "paused": true } }), &current));
        assert!(is_subset(&json!({ "n": 1 }), &json!({ "n": 1.0 })));
    }
}
