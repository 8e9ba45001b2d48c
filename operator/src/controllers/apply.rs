//! Server-side apply that writes only when something would change, so a quiet cluster
//! sees no write from the operator.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_common::changes::fingerprint;
use sluice_crds::names::FIELD_MANAGER;

/// The annotation that carries a fingerprint of what the operator last applied to an object.
/// A field the operator stops setting (the last toleration removed, say) leaves the rest of
/// the desired object a subset of the live one; the changed fingerprint is what still makes
/// that apply happen, and the apply is what removes the field.
pub const APPLIED_ANNOTATION: &str = "sluice.dev/applied";

/// `desired` as it is applied: with its own fingerprint in [`APPLIED_ANNOTATION`].
pub fn with_fingerprint(desired: &Value) -> Value {
    let mut out = desired.clone();
    let print = Value::String(format!("{:016x}", fingerprint(desired)));
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_ANNOTATION.into(), print);
        }
    }
    out
}

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
/// already has it, fingerprint included. Returns the object as it now is.
pub async fn apply<K>(api: &Api<K>, current: Option<K>, desired: &K) -> kube::Result<(K, Applied)>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = desired.name_any();
    let desired_json =
        with_fingerprint(&serde_json::to_value(desired).map_err(kube::Error::SerdeError)?);
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

    #[test]
    fn a_field_no_longer_desired_makes_an_apply() {
        let before = json!({ "metadata": { "name": "f" }, "spec": { "replicas": 2, "nodeSelector": { "disk": "ssd" } } });
        let after = json!({ "metadata": { "name": "f" }, "spec": { "replicas": 2 } });
        let mut live = with_fingerprint(&before);
        live["metadata"]["resourceVersion"] = json!("9");
        // The subset test alone cannot see a removal...
        assert!(is_subset(&after, &live));
        // ...the fingerprint can; and an unchanged object still needs no write.
        assert!(!is_subset(&with_fingerprint(&after), &live));
        assert!(is_subset(&with_fingerprint(&before), &live));
        assert_eq!(
            with_fingerprint(&after)["metadata"]["name"],
            json!("f"),
            "the rest of the object is kept"
        );
    }
}
