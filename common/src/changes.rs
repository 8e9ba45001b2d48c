//! Which watch events change what a consumer reads of an object.
//!
//! A watch reports every write: status updates, resourceVersion bumps, annotations nobody
//! reads. A consumer that reacts to all of them does work, or writes, for nothing. [`Seen`]
//! keeps, per object, a fingerprint of the part that matters and a value saying what the
//! object concerns (the Service whose endpoints it holds, say), and reports an object only
//! when that changed, when it is deleted, or when a re-list shows it changed or vanished
//! while the watch was down.
//!
//! Not kube-runtime's `predicate_filter`: it filters objects, not events, so a deletion
//! reaches it as the object as last seen, whose hash did not change, and is dropped; and it
//! knows nothing of re-lists.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

use kube::Resource;
use kube::runtime::watcher::Event;
use serde::Serialize;

/// A hash of `value`'s JSON form (deterministic: struct fields and map keys in order).
pub fn fingerprint(value: &impl Serialize) -> u64 {
    let mut out = HashWriter(DefaultHasher::new());
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => out.0.finish(),
        // Cannot happen for API types (string-keyed maps only); if it did, a fingerprint
        // that never repeats makes the change count rather than be lost.
        Err(_) => fastrand::u64(..),
    }
}

/// Feeds serialized bytes straight into a hasher, with no buffer in between.
struct HashWriter(DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What matters of one object: its fingerprint, and what it concerns.
pub type Summary<V> = (u64, V);

/// What a consumer last saw of every object of one kind.
pub struct Seen<K, V> {
    summarize: fn(&K) -> Summary<V>,
    known: HashMap<String, Summary<V>>,
    /// The objects of a re-list in progress (between `Init` and `InitDone`).
    relisting: Option<HashMap<String, Summary<V>>>,
}

impl<K: Resource, V: Clone + PartialEq> Seen<K, V> {
    pub fn new(summarize: fn(&K) -> Summary<V>) -> Self {
        Self {
            summarize,
            known: HashMap::new(),
            relisting: None,
        }
    }

    /// One watch event, after the reflector applied it. Returns what the changed objects
    /// concern: for a changed object both its old and its new value (an EndpointSlice moved
    /// to another Service concerns both). A re-list reports nothing until it completes.
    pub fn observe(&mut self, event: &Event<K>) -> Vec<V> {
        match event {
            Event::Apply(object) => {
                let new = (self.summarize)(object);
                match self.known.insert(key(object), new.clone()) {
                    Some(old) if old == new => Vec::new(),
                    Some(old) => vec![old.1, new.1],
                    None => vec![new.1],
                }
            }
            // A deletion of an object never seen concerns nothing this consumer read.
            Event::Delete(object) => self
                .known
                .remove(&key(object))
                .map(|old| old.1)
                .into_iter()
                .collect(),
            Event::Init => {
                self.relisting = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(object) => {
                let summary = (self.summarize)(object);
                self.relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(key(object), summary);
                Vec::new()
            }
            Event::InitDone => {
                let listed = self.relisting.take().unwrap_or_default();
                self.replace(listed)
            }
        }
    }

    /// The whole set of objects of this kind, as from a complete (re-)list.
    pub fn observe_all<'a>(&mut self, objects: impl IntoIterator<Item = &'a K>) -> Vec<V>
    where
        K: 'a,
    {
        let listed = objects
            .into_iter()
            .map(|o| (key(o), (self.summarize)(o)))
            .collect();
        self.replace(listed)
    }

    fn replace(&mut self, listed: HashMap<String, Summary<V>>) -> Vec<V> {
        let mut changed = Vec::new();
        for (key, old) in &self.known {
            if listed.get(key) != Some(old) {
                changed.push(old.1.clone());
            }
        }
        for (key, new) in &listed {
            if self.known.get(key) != Some(new) {
                changed.push(new.1.clone());
            }
        }
        self.known = listed;
        changed
    }

    /// Objects currently known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

/// `namespace/name` (`name` alone for cluster-scoped objects).
fn key<K: Resource>(object: &K) -> String {
    let meta = object.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn map(name: &str, data: &str, owner: &str, version: &str) -> ConfigMap {
        let mut m = ConfigMap::default();
        m.metadata.name = Some(name.into());
        m.metadata.namespace = Some("ns".into());
        m.metadata.resource_version = Some(version.into());
        m.metadata.labels = Some([("owner".to_string(), owner.to_string())].into());
        m.data = Some([("k".to_string(), data.to_string())].into());
        m
    }

    /// The data matters; the owner label says what the object concerns.
    fn summarize(m: &ConfigMap) -> Summary<String> {
        let owner = m.metadata.labels.as_ref().and_then(|l| l.get("owner"));
        (fingerprint(&m.data), owner.cloned().unwrap_or_default())
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn reports_only_changes_of_what_matters() {
        let mut seen = Seen::new(summarize);
        assert_eq!(seen.observe(&Event::Apply(map("a", "1", "x", "1"))), ["x"]);
        // Another write that leaves the data alone (status, resourceVersion).
        assert!(
            seen.observe(&Event::Apply(map("a", "1", "x", "2")))
                .is_empty()
        );
        assert_eq!(
            seen.observe(&Event::Apply(map("a", "2", "x", "3"))),
            ["x", "x"]
        );
        // Moved to another owner: both are concerned.
        assert_eq!(
            sorted(seen.observe(&Event::Apply(map("a", "2", "y", "4")))),
            ["x", "y"]
        );
        assert_eq!(seen.observe(&Event::Delete(map("a", "2", "y", "4"))), ["y"]);
        assert!(seen.is_empty());
        assert!(
            seen.observe(&Event::Delete(map("never", "1", "z", "1")))
                .is_empty()
        );
    }

    #[test]
    fn a_relist_reports_what_changed_and_what_vanished_once_complete() {
        let mut seen = Seen::new(summarize);
        for name in ["keep", "change", "vanish"] {
            seen.observe(&Event::Apply(map(name, "1", name, "1")));
        }
        assert!(seen.observe(&Event::Init).is_empty());
        for object in [
            map("keep", "1", "keep", "9"),
            map("change", "2", "change", "9"),
            map("new", "1", "new", "9"),
        ] {
            assert!(seen.observe(&Event::InitApply(object)).is_empty());
        }
        assert_eq!(
            sorted(seen.observe(&Event::InitDone)),
            ["change", "change", "new", "vanish"]
        );
        assert_eq!(seen.len(), 3);
        // The same set again changes nothing.
        let same = [
            map("keep", "1", "keep", "10"),
            map("change", "2", "change", "10"),
            map("new", "1", "new", "10"),
        ];
        assert!(seen.observe_all(same.iter()).is_empty());
    }
}
