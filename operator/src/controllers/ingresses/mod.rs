//! What the operator tells Ingress owners: where their Ingress is reachable
//! (`status.loadBalancer.ingress`), and, with a Warning Event, when a rule of theirs lost
//! to an older Ingress claiming the same host and path (two creations at the same instant
//! can both pass the webhook; the proxy serves the older).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use sluice_crds::ingress::{IngressRef, OurClasses, RuleKey, claims};
use sluice_crds::names::FIELD_MANAGER;
use sluice_crds::params::{IngressClassParams, PublishedAddress, referenced_params};

use super::metrics::ControllerMetrics;
use crate::desired::fleet_name;

/// An address as it appears in `status.loadBalancer.ingress`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    Ip(String),
    Hostname(String),
}

/// The objects the plan is made from.
pub struct World<'a> {
    pub ingresses: &'a [Arc<Ingress>],
    pub classes: &'a [Arc<IngressClass>],
    pub params: &'a [Arc<IngressClassParams>],
    /// The fleets' Services (in the operator's namespace).
    pub services: &'a [Arc<Service>],
    pub nodes: &'a [Arc<Node>],
}

/// One rule that lost to an older Ingress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lost {
    pub loser: (String, String),
    pub key: String,
    pub winner: String,
}

/// The addresses each of Sluice's Ingresses should publish, keyed by (namespace, name).
pub fn desired_addresses(world: &World<'_>) -> HashMap<(String, String), Vec<Address>> {
    let ours = OurClasses::from_classes(world.classes.iter().map(|c| c.as_ref()));
    let node_addresses = node_addresses(world.nodes);
    let mut per_class: HashMap<&str, Vec<Address>> = HashMap::new();
    let mut out = HashMap::new();
    for ingress in world.ingresses {
        let Some(class) = ours.class_of(ingress) else {
            continue;
        };
        let addresses = per_class
            .entry(class)
            .or_insert_with(|| class_addresses(world, class, &node_addresses))
            .clone();
        out.insert(
            (ingress.namespace().unwrap_or_default(), ingress.name_any()),
            addresses,
        );
    }
    out
}

/// Where a class is reachable: the params' override, else the load balancer's addresses,
/// else the Nodes' (ExternalIP, else InternalIP).
fn class_addresses(world: &World<'_>, class: &str, nodes: &[Address]) -> Vec<Address> {
    let params_name = world
        .classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(class))
        .and_then(|c| referenced_params(c));
    let overrides = params_name
        .and_then(|name| {
            world
                .params
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(name))
        })
        .and_then(|p| p.resolve().ok())
        .and_then(|r| r.addresses);
    if let Some(list) = overrides {
        return list
            .iter()
            .map(|a| match a {
                PublishedAddress::Ip(ip) => Address::Ip(ip.to_string()),
                PublishedAddress::Hostname(h) => Address::Hostname(h.clone()),
            })
            .collect();
    }
    let service_name = fleet_name(class);
    let lb: Vec<Address> = world
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(service_name.as_str()))
        .and_then(|s| s.status.as_ref()?.load_balancer.as_ref()?.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match (i.ip, i.hostname) {
            (Some(ip), _) => Some(Address::Ip(ip)),
            (None, Some(h)) => Some(Address::Hostname(h)),
            _ => None,
        })
        .collect();
    if !lb.is_empty() {
        return lb;
    }
    nodes.to_vec()
}

fn node_addresses(nodes: &[Arc<Node>]) -> Vec<Address> {
    let mut out = BTreeSet::new();
    for node in nodes {
        let addresses = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_deref())
            .unwrap_or_default();
        let of = |kind: &str| -> Vec<String> {
            addresses
                .iter()
                .filter(|a| a.type_ == kind)
                .map(|a| a.address.clone())
                .collect()
        };
        let external = of("ExternalIP");
        let chosen = if external.is_empty() {
            of("InternalIP")
        } else {
            external
        };
        out.extend(chosen.into_iter().map(Address::Ip));
    }
    out.into_iter().collect()
}

/// What an Ingress currently publishes.
fn current_addresses(ingress: &Ingress) -> Vec<Address> {
    let mut list: Vec<Address> = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| match (&i.ip, &i.hostname) {
            (Some(ip), _) => Some(Address::Ip(ip.clone())),
            (None, Some(h)) => Some(Address::Hostname(h.clone())),
            _ => None,
        })
        .collect();
    list.sort();
    list
}

/// Rules of Sluice's Ingresses that an older Ingress of the same class also claims.
pub fn lost_rules(ingresses: &[Arc<Ingress>], classes: &[Arc<IngressClass>]) -> Vec<Lost> {
    let ours = OurClasses::from_classes(classes.iter().map(|c| c.as_ref()));
    let mut sorted: Vec<(IngressRef, &Ingress, &str)> = ingresses
        .iter()
        .filter_map(|i| Some((IngressRef::of(i), i.as_ref(), ours.class_of(i)?)))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut owners: HashMap<(&str, RuleKey), String> = HashMap::new();
    let mut lost = Vec::new();
    for (reference, ingress, class) in sorted {
        let (claims, _) = claims(ingress);
        let mut seen_here = HashSet::new();
        for claim in claims {
            if !seen_here.insert(claim.key.clone()) {
                continue;
            }
            match owners.get(&(class, claim.key.clone())) {
                Some(winner) => lost.push(Lost {
                    loser: (reference.namespace.clone(), reference.name.clone()),
                    key: claim.key.to_string(),
                    winner: winner.clone(),
                }),
                None => {
                    owners.insert((class, claim.key), reference.to_string());
                }
            }
        }
    }
    lost
}

struct Stores {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    params: Store<IngressClassParams>,
    services: Store<Service>,
    nodes: Store<Node>,
}

impl Stores {
    /// Whether every store holds a full list: acting on a partial view would write twice.
    fn ready(&self) -> bool {
        use futures::FutureExt;
        fn ready<K: kube::runtime::reflector::Lookup + Clone + 'static>(s: &Store<K>) -> bool
        where
            K::DynamicType: Eq + std::hash::Hash + Clone,
        {
            s.wait_until_ready()
                .now_or_never()
                .is_some_and(|r| r.is_ok())
        }
        ready(&self.ingresses)
            && ready(&self.classes)
            && ready(&self.params)
            && ready(&self.services)
            && ready(&self.nodes)
    }
}

/// Keeps Ingress statuses and conflict Events up to date until `shutdown` resolves.
pub async fn run(
    client: Client,
    namespace: String,
    recorder: Recorder,
    metrics: ControllerMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let mut changes: SelectAll<BoxStream<'static, ()>> = SelectAll::new();
    let stores = Stores {
        ingresses: watch(Api::all(client.clone()), &mut changes),
        classes: watch(Api::all(client.clone()), &mut changes),
        params: watch(Api::all(client.clone()), &mut changes),
        services: watch(Api::namespaced(client.clone(), &namespace), &mut changes),
        nodes: watch(Api::all(client.clone()), &mut changes),
    };
    let work = async {
        let mut announced: HashSet<Lost> = HashSet::new();
        // Ingresses this process published an address on: one that leaves Sluice's classes
        // gets it taken back. (After a restart, addresses written before are not known.)
        let mut published: HashSet<(String, String)> = HashSet::new();
        while changes.next().await.is_some() {
            // Let a burst of changes settle, then act once on all of them.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Some(Some(())) = futures::FutureExt::now_or_never(changes.next()) {}
            if !stores.ready() {
                continue;
            }
            let ingresses = stores.ingresses.state();
            let classes = stores.classes.state();
            let world = World {
                ingresses: &ingresses,
                classes: &classes,
                params: &stores.params.state(),
                services: &stores.services.state(),
                nodes: &stores.nodes.state(),
            };
            publish_addresses(
                &client,
                &metrics,
                &ingresses,
                desired_addresses(&world),
                &mut published,
            )
            .await;
            announce_lost(
                &recorder,
                &ingresses,
                lost_rules(&ingresses, &classes),
                &mut announced,
            )
            .await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown => {}
    }
}

async fn publish_addresses(
    client: &Client,
    metrics: &ControllerMetrics,
    ingresses: &[Arc<Ingress>],
    desired: HashMap<(String, String), Vec<Address>>,
    published: &mut HashSet<(String, String)>,
) {
    for ingress in ingresses {
        let key = (ingress.namespace().unwrap_or_default(), ingress.name_any());
        let no_addresses = Vec::new();
        let addresses = match desired.get(&key) {
            Some(addresses) => {
                published.insert(key.clone());
                addresses
            }
            // No longer ours: take back what was published (an empty list releases it);
            // forgotten only once that worked, so a failure is retried on the next change.
            None if published.contains(&key) => &no_addresses,
            None => continue,
        };
        if current_addresses(ingress) == *addresses {
            if addresses.is_empty() {
                published.remove(&key);
            }
            continue;
        }
        let entries: Vec<serde_json::Value> = addresses
            .iter()
            .map(|a| match a {
                Address::Ip(ip) => json!({ "ip": ip }),
                Address::Hostname(h) => json!({ "hostname": h }),
            })
            .collect();
        let body = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "status": { "loadBalancer": { "ingress": entries } }
        });
        let api: Api<Ingress> = Api::namespaced(client.clone(), &key.0);
        match api
            .patch_status(
                &key.1,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => {
                metrics.ingress_status_updates.inc();
                let ingress = format!("{}/{}", key.0, key.1);
                if addresses.is_empty() {
                    published.remove(&key);
                    tracing::info!(%ingress, "took back the address: the Ingress left Sluice's classes");
                } else {
                    tracing::info!(%ingress, ?addresses, "published the address");
                }
            }
            Err(error) => {
                tracing::warn!(ingress = %format!("{}/{}", key.0, key.1), %error, "could not publish the address")
            }
        }
    }
    published.retain(|(ns, name)| {
        ingresses
            .iter()
            .any(|i| i.namespace().as_deref() == Some(ns.as_str()) && i.name_any() == *name)
    });
}

async fn announce_lost(
    recorder: &Recorder,
    ingresses: &[Arc<Ingress>],
    lost: Vec<Lost>,
    announced: &mut HashSet<Lost>,
) {
    let current: HashSet<Lost> = lost.into_iter().collect();
    for item in current.difference(announced) {
        let Some(ingress) = ingresses.iter().find(|i| {
            i.namespace().as_deref() == Some(item.loser.0.as_str()) && i.name_any() == item.loser.1
        }) else {
            continue;
        };
        let event = Event {
            type_: EventType::Warning,
            reason: "RuleConflict".into(),
            note: Some(format!(
                "{} is also claimed by Ingress {}, which takes precedence (the older Ingress wins; equal ages go by namespace/name) and is served; this rule is not",
                item.key, item.winner
            )),
            action: "Route".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, &ingress.object_ref(&())).await {
            tracing::debug!(%error, "could not record an Event");
        }
    }
    *announced = current;
}

/// Starts a reflector; each change yields one `()` into `changes`.
fn watch<K>(api: Api<K>, changes: &mut SelectAll<BoxStream<'static, ()>>) -> Store<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                Ok(_) => Some(()),
                Err(error) => {
                    tracing::warn!(%error, "watch failed; retrying");
                    None
                }
            }
        });
    changes.push(stream.boxed());
    reader
}

#[cfg(test)]
mod tests;
