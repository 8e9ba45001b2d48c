//! The conflict index: every rule of every Ingress of Sluice's classes, by what it claims.
//!
//! A review looks up only the keys the reviewed Ingress claims, so its cost depends on the
//! size of that Ingress, not on how many Ingresses the cluster has.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::watcher::Event;
use sluice_crds::ingress::{HostMatch, IngressRef, OurClasses, RuleKey, claims};

/// `namespace/name`.
pub type IngressId = (String, String);

/// What one indexed Ingress holds, so it can be taken out again.
struct Entry {
    class: String,
    holder: IngressRef,
    keys: Vec<RuleKey>,
}

pub struct Index {
    /// The `spec.controller` of this installation's IngressClasses.
    controller: String,
    classes: OurClasses,
    /// Every Ingress seen, whatever its class: a class change can make any of them ours.
    ingresses: HashMap<IngressId, Arc<Ingress>>,
    entries: HashMap<IngressId, Entry>,
    holders: HashMap<(String, RuleKey), BTreeSet<IngressRef>>,
    hosts: HashMap<(String, HostMatch), usize>,
    rules: usize,
}

fn id_of(ingress: &Ingress) -> IngressId {
    (
        ingress.metadata.namespace.clone().unwrap_or_default(),
        ingress.metadata.name.clone().unwrap_or_default(),
    )
}

impl Default for Index {
    fn default() -> Self {
        Self::new(sluice_crds::names::CONTROLLER_NAME)
    }
}

impl Index {
    /// An empty index of the Ingresses of the classes whose controller is `controller`.
    pub fn new(controller: &str) -> Self {
        Self {
            controller: controller.to_string(),
            classes: OurClasses::default(),
            ingresses: HashMap::new(),
            entries: HashMap::new(),
            holders: HashMap::new(),
            hosts: HashMap::new(),
            rules: 0,
        }
    }

    /// Sets the IngressClasses; re-indexes everything if which classes are Sluice's, or
    /// which is the default, changed.
    pub fn set_classes<'a>(&mut self, classes: impl IntoIterator<Item = &'a IngressClass>) {
        let ours = OurClasses::from_classes(&self.controller, classes);
        if ours != self.classes {
            self.classes = ours;
            let all: Vec<Arc<Ingress>> = self.ingresses.values().cloned().collect();
            self.rebuild(all);
        }
    }

    pub fn classes(&self) -> &OurClasses {
        &self.classes
    }

    /// Replaces every Ingress (after a full list of the cluster).
    pub fn replace_all(&mut self, ingresses: Vec<Arc<Ingress>>) {
        self.rebuild(ingresses);
    }

    fn rebuild(&mut self, ingresses: Vec<Arc<Ingress>>) {
        self.ingresses.clear();
        self.entries.clear();
        self.holders.clear();
        self.hosts.clear();
        self.rules = 0;
        for ingress in ingresses {
            self.apply(ingress);
        }
    }

    /// Adds or updates an Ingress.
    pub fn apply(&mut self, ingress: Arc<Ingress>) {
        let id = id_of(&ingress);
        self.remove_entry(&id);
        if let Some(class) = self.classes.class_of(&ingress).map(str::to_string) {
            let holder = IngressRef::of(&ingress);
            let (claims, _) = claims(&ingress);
            let mut keys = Vec::with_capacity(claims.len());
            for claim in claims {
                self.holders
                    .entry((class.clone(), claim.key.clone()))
                    .or_default()
                    .insert(holder.clone());
                *self
                    .hosts
                    .entry((class.clone(), claim.key.host.clone()))
                    .or_default() += 1;
                keys.push(claim.key);
            }
            self.rules += keys.len();
            self.entries.insert(
                id.clone(),
                Entry {
                    class,
                    holder,
                    keys,
                },
            );
        }
        self.ingresses.insert(id, ingress);
    }

    /// Removes an Ingress.
    pub fn delete(&mut self, namespace: &str, name: &str) {
        let id = (namespace.to_string(), name.to_string());
        self.remove_entry(&id);
        self.ingresses.remove(&id);
    }

    fn remove_entry(&mut self, id: &IngressId) {
        let Some(entry) = self.entries.remove(id) else {
            return;
        };
        self.rules -= entry.keys.len();
        for key in entry.keys {
            let host = key.host.clone();
            let slot = (entry.class.clone(), key);
            if let Some(set) = self.holders.get_mut(&slot) {
                set.remove(&entry.holder);
                if set.is_empty() {
                    self.holders.remove(&slot);
                }
            }
            let host_slot = (entry.class.clone(), host);
            if let Some(n) = self.hosts.get_mut(&host_slot) {
                *n -= 1;
                if *n == 0 {
                    self.hosts.remove(&host_slot);
                }
            }
        }
    }

    /// The Ingresses of `class` claiming `key`, highest precedence (oldest) first.
    pub fn holders(&self, class: &str, key: &RuleKey) -> impl Iterator<Item = &IngressRef> {
        self.holders
            .get(&(class.to_string(), key.clone()))
            .into_iter()
            .flatten()
    }

    /// Whether some Ingress of `class` has a rule for `host`.
    pub fn serves_host(&self, class: &str, host: &HostMatch) -> bool {
        self.hosts.contains_key(&(class.to_string(), host.clone()))
    }

    /// Ingresses known (of any class).
    pub fn ingresses(&self) -> usize {
        self.ingresses.len()
    }

    /// Rules indexed (of Sluice's classes).
    pub fn rules(&self) -> usize {
        self.rules
    }

    /// Follows one event of an Ingress watch. A re-list is gathered in `relist` and swapped
    /// in whole when it completes, so the index never passes through a partial state.
    pub fn follow(&mut self, relist: &mut Vec<Arc<Ingress>>, event: &Event<Ingress>) -> Followed {
        match event {
            Event::Init => {
                relist.clear();
                Followed::Buffered
            }
            Event::InitApply(i) => {
                relist.push(Arc::new(i.clone()));
                Followed::Buffered
            }
            Event::InitDone => {
                self.replace_all(std::mem::take(relist));
                Followed::Synced
            }
            Event::Apply(i) => {
                self.apply(Arc::new(i.clone()));
                Followed::Changed
            }
            Event::Delete(i) => {
                self.delete(
                    i.metadata.namespace.as_deref().unwrap_or_default(),
                    i.metadata.name.as_deref().unwrap_or_default(),
                );
                Followed::Changed
            }
        }
    }
}

/// What following a watch event did to the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followed {
    /// Part of a re-list: nothing visible yet.
    Buffered,
    /// A re-list completed and replaced the whole index.
    Synced,
    /// One Ingress was added, changed or removed.
    Changed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{class, ingress};

    fn key(host: &str, path: &str) -> RuleKey {
        RuleKey {
            host: HostMatch::parse(Some(host)).unwrap(),
            path: sluice_crds::ingress::PathMatch::parse(Some(path), "Prefix").unwrap(),
        }
    }

    #[test]
    fn indexes_only_our_classes_and_forgets_deleted_ingresses() {
        let mut index = Index::default();
        index.set_classes(&[class("sluice", true)]);
        index.apply(Arc::new(ingress(
            "shop",
            "a",
            Some("sluice"),
            "app.example.com",
            "/api",
        )));
        index.apply(Arc::new(ingress(
            "shop",
            "b",
            Some("nginx"),
            "app.example.com",
            "/api",
        )));
        index.apply(Arc::new(ingress(
            "shop",
            "c",
            None,
            "app.example.com",
            "/web",
        )));
        assert_eq!(index.ingresses(), 3);
        assert_eq!(index.rules(), 2);
        let holders: Vec<String> = index
            .holders("sluice", &key("app.example.com", "/api"))
            .map(|h| h.to_string())
            .collect();
        assert_eq!(holders, ["shop/a"]);

        index.delete("shop", "a");
        assert_eq!(
            index
                .holders("sluice", &key("app.example.com", "/api"))
                .count(),
            0
        );
        assert_eq!(index.rules(), 1);
        assert!(index.serves_host(
            "sluice",
            &HostMatch::parse(Some("app.example.com")).unwrap()
        ));
        index.delete("shop", "c");
        assert!(!index.serves_host(
            "sluice",
            &HostMatch::parse(Some("app.example.com")).unwrap()
        ));
    }

    #[test]
    fn an_update_replaces_the_old_claims() {
        let mut index = Index::default();
        index.set_classes(&[class("sluice", false)]);
        index.apply(Arc::new(ingress(
            "shop",
            "a",
            Some("sluice"),
            "app.example.com",
            "/old",
        )));
        index.apply(Arc::new(ingress(
            "shop",
            "a",
            Some("sluice"),
            "app.example.com",
            "/new",
        )));
        assert_eq!(
            index
                .holders("sluice", &key("app.example.com", "/old"))
                .count(),
            0
        );
        assert_eq!(
            index
                .holders("sluice", &key("app.example.com", "/new"))
                .count(),
            1
        );
        assert_eq!(index.rules(), 1);
    }

    #[test]
    fn a_class_change_reindexes_classless_ingresses() {
        let mut index = Index::default();
        index.set_classes(&[class("sluice", false)]);
        index.apply(Arc::new(ingress("shop", "c", None, "app.example.com", "/")));
        assert_eq!(index.rules(), 0);
        index.set_classes(&[class("sluice", true)]);
        assert_eq!(index.rules(), 1);
        index.set_classes(&[]);
        assert_eq!(index.rules(), 0);
        assert_eq!(index.ingresses(), 1);
    }
}
