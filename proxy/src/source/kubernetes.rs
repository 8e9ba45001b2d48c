//! The cluster source: reflectors over Ingresses, IngressClasses, Services,
//! EndpointSlices and TLS Secrets. Any change recompiles the table from the stores.
//!
//! When the API server goes away the watchers retry with backoff and the stores keep
//! their contents, so the proxy keeps serving its last good table. A re-list replaces a
//! store's contents in one step, never through an empty state.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::objects::ObjectSet;
use crate::state::State;

/// Changes arriving within this window are compiled together.
const SETTLE: Duration = Duration::from_millis(25);

struct Stores {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    services: Store<Service>,
    endpoint_slices: Store<EndpointSlice>,
    secrets: Store<Secret>,
}

impl Stores {
    fn snapshot(&self) -> ObjectSet {
        ObjectSet {
            ingresses: self.ingresses.state(),
            classes: self.classes.state(),
            services: self.services.state(),
            endpoint_slices: self.endpoint_slices.state(),
            secrets: self.secrets.state(),
        }
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        self.ingresses.wait_until_ready().await?;
        self.classes.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.endpoint_slices.wait_until_ready().await?;
        self.secrets.wait_until_ready().await?;
        Ok(())
    }
}

/// Watches the cluster and publishes a new table on every change. Runs until cancelled.
pub async fn run(client: Client, state: Arc<State>) -> anyhow::Result<()> {
    let mut events: SelectAll<BoxStream<'static, ()>> = SelectAll::new();
    let stores = Stores {
        ingresses: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
        ),
        classes: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
        ),
        services: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
        ),
        endpoint_slices: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
        ),
        // Only TLS Secrets: other Secrets are none of the proxy's business.
        secrets: watch(
            Api::all(client),
            watcher::Config::default().fields("type=kubernetes.io/tls"),
            &mut events,
            &state,
        ),
    };

    // The streams drive the stores; they must be polled while waiting for readiness.
    let (changed_tx, mut changed_rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        while events.next().await.is_some() {
            changed_tx.send_replace(());
        }
    });

    stores.wait_until_ready().await?;
    tracing::info!("initial sync complete");
    changed_rx.mark_unchanged();
    state.publish(&stores.snapshot());

    while changed_rx.changed().await.is_ok() {
        tokio::time::sleep(SETTLE).await;
        changed_rx.mark_unchanged();
        state.publish(&stores.snapshot());
    }
    anyhow::bail!("the watch streams ended")
}

/// Starts a reflector for `api`; its events (one `()` per change) join `events`.
fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    events: &mut SelectAll<BoxStream<'static, ()>>,
    state: &Arc<State>,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let stream = watcher(api, config)
        .default_backoff()
        // Nothing reads managedFields; dropping them saves memory at scale.
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .map_err({
            let state = state.clone();
            move |error| {
                state.metrics.source_errors.inc();
                tracing::warn!(kind = %kind, %error, "watch failed; retrying, still serving the last good routes");
            }
        })
        .filter_map(|event| async move {
            match event {
                // Init/InitApply fill a side buffer: nothing visible changes until InitDone.
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) | Err(()) => None,
                Ok(_) => Some(()),
            }
        });
    events.push(stream.boxed());
    reader
}
