//! What the operator tells Ingress owners: where their Ingress is reachable
//! (`status.loadBalancer.ingress`), and, with a Warning Event, when a rule of theirs lost
//! to an older Ingress claiming the same host and path, or a TLS Secret it names does not
//! exist.
//!
//! A kube-runtime Controller keyed by Ingress: each Ingress is reconciled when it changes,
//! and when a class, params, fleet Service or Node changes in a way that can move its
//! address (see `triggers`). A reconcile writes only when the live object differs from what
//! it should say, so a quiet cluster gets no writes whatever its size.

pub mod addresses;
pub mod conflicts;
pub mod reconcile;
pub mod secrets;
pub mod triggers;

use std::sync::{Arc, Mutex, RwLock};

use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use sluice_common::changes::{Seen, Summary};
use sluice_crds::names::TLS_SECRETS_SELECTOR;
use sluice_crds::params::IngressClassParams;
use sluice_webhook::index::Index;

use super::metrics::ControllerMetrics;
use addresses::is_our_status_entry;
use conflicts::Announced;
use reconcile::Context;
use secrets::AnnouncedMissing;

/// Status writes in flight at once: enough to keep up with a bulk apply, few enough not
/// to crowd the API server's other clients.
const CONCURRENCY: u16 = 16;

/// Keeps Ingress statuses and conflict Events up to date until `shutdown` resolves.
pub async fn run(
    client: Client,
    namespace: String,
    controller: String,
    recorder: Recorder,
    metrics: ControllerMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let index = Arc::new(RwLock::new(Index::new(&controller)));
    let announced = Arc::new(Mutex::new(Announced::default()));
    let announced_missing = Arc::new(Mutex::new(AnnouncedMissing::default()));

    let status_manager = sluice_crds::names::status_field_manager(&controller);
    let (ingresses, ingress_writer) = reflector::store::<Ingress>();
    let (classes, class_writer) = reflector::store::<IngressClass>();
    let (params, params_writer) = reflector::store::<IngressClassParams>();
    let (services, service_writer) = reflector::store::<Service>();
    let (nodes, node_writer) = reflector::store::<Node>();
    let (secrets, secret_writer) = reflector::store::<PartialObjectMeta<Secret>>();

    // The conflict index follows the same events as the store, before it: when a reconcile
    // runs, the index already knows what the store knows.
    let ingress_events = {
        let index = index.clone();
        let (announced, announced_missing) = (announced.clone(), announced_missing.clone());
        let mut relist = Vec::new();
        watcher(
            Api::<Ingress>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .modify({
            let manager = status_manager.clone();
            move |ingress| keep_only_our_status_entry(&manager, ingress)
        })
        .inspect_ok(move |event| {
            index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .follow(&mut relist, event);
            if let watcher::Event::Delete(gone) = event {
                let id = (gone.namespace().unwrap_or_default(), gone.name_any());
                announced
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .forget(&id);
                announced_missing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .forget(&id);
            }
        })
        .reflect(ingress_writer)
        .applied_objects()
    };

    let class_triggers = {
        let (index, ingresses, classes) = (index.clone(), ingresses.clone(), classes.clone());
        triggers(
            Api::all(client.clone()),
            watcher::Config::default(),
            class_writer,
            triggers::class_summary,
            move |changed| {
                let all_classes = classes.state();
                index
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .set_classes(all_classes.iter().map(|c| c.as_ref()));
                let all = ingresses.state();
                changed
                    .iter()
                    .flat_map(|class| triggers::ingresses_naming(&all, class))
                    .collect()
            },
        )
    };
    let params_triggers = {
        let (ingresses, classes) = (ingresses.clone(), classes.clone());
        triggers(
            Api::all(client.clone()),
            watcher::Config::default(),
            params_writer,
            triggers::params_summary,
            move |changed| {
                let (all, all_classes) = (ingresses.state(), classes.state());
                changed
                    .iter()
                    .flat_map(|params| triggers::classes_using(&all_classes, params))
                    .flat_map(|class| triggers::ingresses_naming(&all, class))
                    .collect()
            },
        )
    };
    let service_triggers = {
        let (ingresses, classes) = (ingresses.clone(), classes.clone());
        triggers(
            Api::namespaced(client.clone(), &namespace),
            watcher::Config::default(),
            service_writer,
            triggers::service_summary,
            move |changed| {
                let (all, all_classes) = (ingresses.state(), classes.state());
                changed
                    .iter()
                    .filter_map(|service| triggers::class_of_service(&all_classes, service))
                    .flat_map(|class| triggers::ingresses_naming(&all, class))
                    .collect()
            },
        )
    };
    let node_triggers = {
        let (ingresses, classes, controller) =
            (ingresses.clone(), classes.clone(), controller.clone());
        triggers(
            Api::all(client.clone()),
            watcher::Config::default(),
            node_writer,
            triggers::node_summary,
            move |_| triggers::ingresses_of_ours(&controller, &ingresses.state(), &classes.state()),
        )
    };

    // Only whether a TLS Secret exists: metadata-only requests, never its data.
    let secret_triggers = {
        let ingresses = ingresses.clone();
        triggers(
            Api::<PartialObjectMeta<Secret>>::all(client.clone()),
            watcher::Config::default().fields(TLS_SECRETS_SELECTOR),
            secret_writer,
            triggers::secret_summary,
            move |changed| triggers::ingresses_naming_secrets(&ingresses.state(), &changed),
        )
    };

    let ctx = Arc::new(Context {
        client,
        controller,
        status_manager,
        recorder,
        metrics,
        ingresses: ingresses.clone(),
        classes,
        params,
        services,
        nodes,
        secrets,
        index,
        announced,
        announced_missing,
    });
    Controller::for_stream(ingress_events, ingresses)
        .with_config(controller::Config::default().concurrency(CONCURRENCY))
        .reconcile_on(stream::select_all([
            class_triggers,
            params_triggers,
            service_triggers,
            node_triggers,
            secret_triggers,
        ]))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "Ingress reconcile request failed");
            }
        })
        .await;
}

/// Nothing reads managedFields but Sluice's own status entry (to know what it published,
/// across restarts); dropping the rest, and the entry's field list, saves memory at scale.
fn keep_only_our_status_entry(manager: &str, ingress: &mut Ingress) {
    if let Some(entries) = ingress.metadata.managed_fields.as_mut() {
        entries.retain(|entry| is_our_status_entry(manager, entry));
        for entry in entries.iter_mut() {
            entry.fields_v1 = None;
        }
    }
}

/// A reflector over `api` whose changes that matter (by `summarize`: a fingerprint and the
/// object's name) become the Ingresses `affected` names.
fn triggers<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    summarize: fn(&K) -> Summary<String>,
    mut affected: impl FnMut(Vec<String>) -> Vec<ObjectRef<Ingress>> + Send + 'static,
) -> BoxStream<'static, ObjectRef<Ingress>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut seen = Seen::new(summarize);
    watcher(api, config)
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .filter_map(move |event| {
            let out = match event {
                Ok(event) => {
                    let mut changed = seen.observe(&event);
                    changed.sort();
                    changed.dedup();
                    (!changed.is_empty()).then(|| affected(changed))
                }
                Err(error) => {
                    tracing::warn!(kind = %kind, %error, "watch failed; retrying");
                    None
                }
            };
            std::future::ready(out)
        })
        .flat_map(stream::iter)
        .boxed()
}

#[cfg(test)]
mod tests;
