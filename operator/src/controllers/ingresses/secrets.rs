//! TLS Secrets an Ingress names that do not exist (yet), and which of them its owner has
//! already heard about. The proxy serves such a host over HTTPS with the default certificate,
//! and does not redirect plain HTTP, until the Secret appears (cert-manager's first issuance
//! is the usual case): one Warning Event says so, not one per reconcile.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use sluice_webhook::index::IngressId;

/// The TLS Secrets `ingress` names in `spec.tls`, as `namespace/name`, sorted.
pub fn named_tls_secrets(ingress: &Ingress) -> BTreeSet<String> {
    let namespace = ingress.namespace().unwrap_or_default();
    ingress
        .spec
        .iter()
        .flat_map(|s| s.tls.iter().flatten())
        .filter_map(|t| t.secret_name.as_deref().filter(|n| !n.is_empty()))
        .map(|name| format!("{namespace}/{name}"))
        .collect()
}

/// The missing Secrets announced, per Ingress.
#[derive(Debug, Default)]
pub struct AnnouncedMissing {
    by_ingress: HashMap<IngressId, BTreeSet<String>>,
}

impl AnnouncedMissing {
    /// Records what is missing for `ingress` now and returns what was not missing at its
    /// last reconcile. A Secret that appears and goes again is announced again.
    pub fn fresh(&mut self, ingress: &IngressId, missing: BTreeSet<String>) -> Vec<String> {
        let before = self.by_ingress.remove(ingress).unwrap_or_default();
        let fresh = missing.difference(&before).cloned().collect();
        if !missing.is_empty() {
            self.by_ingress.insert(ingress.clone(), missing);
        }
        fresh
    }

    /// Forgets a deleted Ingress.
    pub fn forget(&mut self, ingress: &IngressId) {
        self.by_ingress.remove(ingress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(tls: serde_json::Value) -> Ingress {
        serde_json::from_value(serde_json::json!({
            "metadata": { "namespace": "shop", "name": "app" },
            "spec": { "tls": tls },
        }))
        .unwrap()
    }

    #[test]
    fn names_each_secret_once_in_the_ingress_namespace() {
        let i = ingress(serde_json::json!([
            { "hosts": ["a.example.com"], "secretName": "a-tls" },
            { "hosts": ["b.example.com"], "secretName": "a-tls" },
            { "hosts": ["c.example.com"] },
            { "hosts": ["d.example.com"], "secretName": "" },
        ]));
        assert_eq!(
            named_tls_secrets(&i).into_iter().collect::<Vec<_>>(),
            vec!["shop/a-tls"]
        );
        assert!(named_tls_secrets(&Ingress::default()).is_empty());
    }

    #[test]
    fn announces_a_missing_secret_once_and_again_after_it_came_and_went() {
        let id = ("shop".to_string(), "app".to_string());
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        let mut announced = AnnouncedMissing::default();
        assert_eq!(announced.fresh(&id, set(&["shop/a"])), vec!["shop/a"]);
        // Reconciled again, still missing: nothing new.
        assert!(announced.fresh(&id, set(&["shop/a"])).is_empty());
        // A second Secret goes missing: only it is new.
        assert_eq!(
            announced.fresh(&id, set(&["shop/a", "shop/b"])),
            vec!["shop/b"]
        );
        // Both appear, then one goes again.
        assert!(announced.fresh(&id, set(&[])).is_empty());
        assert_eq!(announced.fresh(&id, set(&["shop/a"])), vec!["shop/a"]);
        announced.forget(&id);
        assert_eq!(announced.fresh(&id, set(&["shop/a"])), vec!["shop/a"]);
    }
}
