//! Response headers from the ConfigMaps Ingresses name (`custom-headers`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use sluice_crds::annotations::CustomHeaders;
use sluice_crds::annotations::custom_headers::check;

use crate::objects::{ObjectSet, key_of, named};

/// The ConfigMaps by `namespace/name`, indexed on first use.
pub(super) struct ConfigMaps<'a> {
    objects: &'a ObjectSet,
    by_key: Option<HashMap<String, &'a ConfigMap>>,
    /// Every ConfigMap looked up, found or not ([`named`]).
    pub referenced: BTreeSet<String>,
}

impl<'a> ConfigMaps<'a> {
    pub fn new(objects: &'a ObjectSet) -> Self {
        Self {
            objects,
            by_key: None,
            referenced: BTreeSet::new(),
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a ConfigMap> {
        self.referenced.insert(named("ConfigMap", key));
        let objects = self.objects;
        self.by_key
            .get_or_insert_with(|| {
                objects
                    .config_maps
                    .iter()
                    .map(|c| (key_of(&c.metadata), c.as_ref()))
                    .collect()
            })
            .get(key)
            .copied()
    }
}

/// The headers of the ConfigMap `asked` names, each named as `allowed` spells it; `Err`
/// (the Ingress's rules then answer 503, as in ingress-nginx) for a missing ConfigMap, one
/// in another namespace, or a header that is not allowed or not valid.
pub(super) fn custom_headers(
    asked: &CustomHeaders,
    namespace: &str,
    maps: &mut ConfigMaps<'_>,
    allowed: &[&'static str],
) -> Result<Arc<[(&'static str, String)]>, String> {
    let key = asked.key(namespace)?;
    let map = maps
        .get(&key)
        .ok_or_else(|| format!("custom-headers ConfigMap {key} not found"))?;
    let mut headers = Vec::new();
    for (name, value) in map.data.iter().flatten() {
        check(name, value, allowed).map_err(|why| format!("ConfigMap {key}: {why}"))?;
        if let Some(allowed) = allowed.iter().find(|a| a.eq_ignore_ascii_case(name)) {
            headers.push((*allowed, value.clone()));
        }
    }
    Ok(headers.into())
}
