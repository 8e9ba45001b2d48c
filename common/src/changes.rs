//! Which watch events change what a consumer reads of an object.
//!
//! A watch reports every write: status updates, resourceVersion bumps, annotations nobody
//! reads. A consumer that reacts to all of them does work, or writes, for nothing. This
//! keeps a fingerprint of the part that matters per object and reports an object only when
//! that part changed, when it is deleted, or when a re-list shows it changed or vanished
//! while the watch was down.
//!
//! kube-runtime's `predicate_filter` is not used: it sees only applied objects, so it drops
//! a deletion whose fingerprint did not change and never notices objects a re-list lost.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;

/// A hash of any value, for fingerprints.
pub fn fingerprint_of(value: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The fingerprints of the objects of one watch.
pub struct Fingerprints<K: Resource>
where
    K::DynamicType: Eq + Hash + Clone,
{
    fingerprint: fn(&K) -> u64,
    seen: HashMap<ObjectRef<K>, u64>,
    /// A re-list in progress: what it has shown so far.
    relist: HashMap<ObjectRef<K>, u64>,
}

impl<K: Resource> Fingerprints<K>
where
    K::DynamicType: Eq + Hash + Clone + Default,
{
    pub fn new(fingerprint: fn(&K) -> u64) -> Self {
        Self {
            fingerprint,
            seen: HashMap::new(),
            relist: HashMap::new(),
        }
    }

    /// Follows one event; returns the objects whose fingerprint changed (new, changed or
    /// gone). A re-list reports nothing until it completes, then everything it changed.
    pub fn observe(&mut self, event: &Event<K>) -> Vec<ObjectRef<K>> {
        match event {
            Event::Apply(object) => {
                let key = ObjectRef::from_obj(object);
                let print = (self.fingerprint)(object);
                match self.seen.insert(key.clone(), print) {
                    Some(before) if before == print => Vec::new(),
                    _ => vec![key],
                }
            }
            Event::Delete(object) => {
                let key = ObjectRef::from_obj(object);
                // Reported even if never seen: the watch may have started after its creation.
                self.seen.remove(&key);
                vec![key]
            }
            Event::Init => {
                self.relist.clear();
                Vec::new()
            }
            Event::InitApply(object) => {
                self.relist
                    .insert(ObjectRef::from_obj(object), (self.fingerprint)(object));
                Vec::new()
            }
            Event::InitDone => {
                let relist = std::mem::take(&mut self.relist);
                let mut changed: Vec<ObjectRef<K>> = relist
                    .iter()
                    .filter(|(key, print)| self.seen.get(*key) != Some(*print))
                    .map(|(key, _)| key.clone())
                    .collect();
                changed.extend(
                    self.seen
                        .keys()
                        .filter(|key| !relist.contains_key(*key))
                        .cloned(),
                );
                self.seen = relist;
                changed
            }
        }
    }

    /// Objects currently known.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn map(name: &str, data: &str, version: &str) -> ConfigMap {
        let mut m = ConfigMap::default();
        m.metadata.name = Some(name.into());
        m.metadata.namespace = Some("ns".into());
        m.metadata.resource_version = Some(version.into());
        m.data = Some([("k".to_string(), data.to_string())].into());
        m
    }

    fn data_only(m: &ConfigMap) -> u64 {
        fingerprint_of(&m.data)
    }

    fn names(refs: Vec<ObjectRef<ConfigMap>>) -> Vec<String> {
        let mut names: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        names.sort();
        names
    }

    #[test]
    fn reports_only_changes_of_what_matters() {
        let mut prints = Fingerprints::new(data_only);
        assert_eq!(
            names(prints.observe(&Event::Apply(map("a", "1", "1")))),
            ["a"]
        );
        // Another write that leaves the data alone (status, labels, resourceVersion).
        assert!(prints.observe(&Event::Apply(map("a", "1", "2"))).is_empty());
        assert_eq!(
            names(prints.observe(&Event::Apply(map("a", "2", "3")))),
            ["a"]
        );
        assert_eq!(
            names(prints.observe(&Event::Delete(map("a", "2", "3")))),
            ["a"]
        );
        assert!(prints.is_empty());
    }

    #[test]
    fn a_relist_reports_what_changed_and_what_vanished_once_complete() {
        let mut prints = Fingerprints::new(data_only);
        for name in ["keep", "change", "vanish"] {
            prints.observe(&Event::Apply(map(name, "1", "1")));
        }
        assert!(prints.observe(&Event::Init).is_empty());
        assert!(
            prints
                .observe(&Event::InitApply(map("keep", "1", "9")))
                .is_empty()
        );
        assert!(
            prints
                .observe(&Event::InitApply(map("change", "2", "9")))
                .is_empty()
        );
        assert!(
            prints
                .observe(&Event::InitApply(map("new", "1", "9")))
                .is_empty()
        );
        assert_eq!(
            names(prints.observe(&Event::InitDone)),
            ["change", "new", "vanish"]
        );
        assert_eq!(prints.len(), 3);
    }
}
