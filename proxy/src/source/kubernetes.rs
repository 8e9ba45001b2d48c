//! The cluster source: reflectors over Ingresses, IngressClasses, Services,
//! EndpointSlices, TLS and Opaque Secrets, ConfigMaps (and the class's params, for [`super::live`] settings). A change that can alter routes recompiles the table
//! from the stores; one that only moves endpoints refreshes them in place; anything else
//! (status writes, resourceVersion bumps, annotations Sluice does not read) is ignored
//! ([`super::relevance`]).
//!
//! When the API server goes away the watchers retry with backoff and the stores keep
//! their contents, so the proxy keeps serving its last good table. A re-list replaces a
//! store's contents in one step, never through an empty state.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde::de::DeserializeOwned;
use sluice_common::telemetry::LogLevelControl;
use sluice_crds::names::TLS_SECRETS_SELECTOR;
use tokio::sync::Notify;

use super::live::{self, Live};
use super::relevance::{Changes, Relevant, Seen};
use crate::objects::ObjectSet;
use crate::repeats::{REPEATS_WINDOW, Repeats};
use crate::state::State;

/// Changes arriving within this window are compiled together.
const SETTLE: Duration = Duration::from_millis(25);
/// While watching fails, how often the API server is asked whether it is back: a watch
/// that resumes sends nothing until something changes, so its silence proves nothing.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// The longest wait between a failing watch's retries. client-go's 30 s spares a
/// struggling API server, but a proxy then serves stale routes for up to 30 s after it
/// returns; five watches per proxy retrying every 5 s at most is still light.
const RETRY_AT_MOST: Duration = Duration::from_secs(5);

/// The watchers' retry schedule: from 800 ms, doubling with jitter, to [`RETRY_AT_MOST`];
/// back to the start after two minutes without failing (kube-runtime's own reset).
pub(super) fn retry_schedule() -> impl kube::runtime::utils::Backoff {
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(800))
        .with_max_delay(RETRY_AT_MOST)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    kube::runtime::utils::ResetTimerBackoff::new(
        watcher::ExponentialBackoff::from(exponential),
        Duration::from_secs(120),
    )
}

struct Stores {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    services: Store<Service>,
    endpoint_slices: Store<EndpointSlice>,
    secrets: Store<Secret>,
    /// Opaque Secrets, which basic auth reads its users from.
    auth_secrets: Store<Secret>,
    /// What `custom-headers` names.
    config_maps: Store<ConfigMap>,
}

impl Stores {
    fn snapshot(&self) -> ObjectSet {
        ObjectSet {
            ingresses: self.ingresses.state(),
            classes: self.classes.state(),
            services: self.services.state(),
            endpoint_slices: self.endpoint_slices.state(),
            secrets: self
                .secrets
                .state()
                .into_iter()
                .chain(self.auth_secrets.state())
                .collect(),
            config_maps: self.config_maps.state(),
        }
    }

    /// What an endpoint refresh reads: Services and EndpointSlices.
    fn endpoints(&self) -> ObjectSet {
        ObjectSet {
            services: self.services.state(),
            endpoint_slices: self.endpoint_slices.state(),
            ..ObjectSet::default()
        }
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        self.ingresses.wait_until_ready().await?;
        self.classes.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.endpoint_slices.wait_until_ready().await?;
        self.secrets.wait_until_ready().await?;
        self.auth_secrets.wait_until_ready().await?;
        self.config_maps.wait_until_ready().await?;
        Ok(())
    }
}

/// Watches the cluster; recompiles the table when something the routes depend on changed,
/// and refreshes endpoints in place when only Services or EndpointSlices did. Runs until
/// cancelled.
pub async fn run(
    client: Client,
    state: Arc<State>,
    level: LogLevelControl,
    flags: Live,
) -> anyhow::Result<()> {
    let params_client = client.clone();
    let lost = Arc::new(Notify::new());
    tokio::spawn(notice_recovery(client.clone(), state.clone(), lost.clone()));
    let mut events: SelectAll<BoxStream<'static, Changes>> = SelectAll::new();
    let stores = Stores {
        ingresses: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
            &lost,
        ),
        classes: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
            &lost,
        ),
        services: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
            &lost,
        ),
        endpoint_slices: watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            &mut events,
            &state,
            &lost,
        ),
        // TLS Secrets, and Opaque ones for basic auth's users (a change to one recompiles
        // only if a route reads it): other Secrets are none of the proxy's business.
        secrets: watch(
            Api::all(client.clone()),
            watcher::Config::default().fields(TLS_SECRETS_SELECTOR),
            &mut events,
            &state,
            &lost,
        ),
        auth_secrets: watch(
            Api::all(client.clone()),
            watcher::Config::default().fields("type=Opaque"),
            &mut events,
            &state,
            &lost,
        ),
        // Only recompiles for one a route names.
        config_maps: watch(
            Api::all(client),
            watcher::Config::default(),
            &mut events,
            &state,
            &lost,
        ),
    };

    tokio::spawn(live::follow(
        params_client,
        state.options.class.clone(),
        stores.classes.clone(),
        state.clone(),
        level,
        flags,
    ));

    // The streams drive the stores; they must be polled while waiting for readiness.
    let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel::<Changes>();
    tokio::spawn(async move {
        while let Some(changes) = events.next().await {
            if !changes.is_empty() && changed_tx.send(changes).is_err() {
                break;
            }
        }
    });

    stores.wait_until_ready().await?;
    tracing::info!("initial sync complete");
    while changed_rx.try_recv().is_ok() {}
    state.publish(&stores.snapshot());

    while let Some(first) = changed_rx.recv().await {
        // A burst (a bulk apply, a rolling update) becomes one update.
        tokio::time::sleep(SETTLE).await;
        let mut changes = first;
        while let Ok(more) = changed_rx.try_recv() {
            changes.merge(more);
        }
        if changes.recompile(&state.table()) {
            // A full compile reads every store, endpoints included.
            state.publish(&stores.snapshot());
        } else {
            state.update_endpoints(&stores.endpoints(), &changes.services);
        }
    }
    anyhow::bail!("the watch streams ended")
}

/// Starts a reflector for `api`; what each of its events changes joins `events`.
fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    events: &mut SelectAll<BoxStream<'static, Changes>>,
    state: &Arc<State>,
    lost: &Arc<Notify>,
) -> Store<K>
where
    K: Relevant + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut seen = Seen::<K>::default();
    let mut failures = Repeats::new(REPEATS_WINDOW);
    let stream = watcher(api, config)
        .backoff(retry_schedule())
        // Nothing reads managedFields; dropping them saves memory at scale.
        .modify(|o| o.managed_fields_mut().clear())
        // The store is updated before the event goes on, so whatever the event triggers
        // reads the store with the event in it.
        .reflect(writer)
        .map({
            let state = state.clone();
            let lost = lost.clone();
            move |event| match event {
                Ok(event) => {
                    if let Some(outage) = state.source_health.working() {
                        log_recovery(&outage);
                    }
                    if !failures.is_empty() {
                        for (error, left_out) in failures.end(Instant::now()) {
                            tracing::info!(
                                kind = %kind,
                                %error,
                                repeats.count = left_out.count,
                                repeats.seconds = left_out.seconds,
                                "watch working again; the same failure repeated since last logged"
                            );
                        }
                    }
                    let changes = seen.observe(&event);
                    if changes.is_empty()
                        && matches!(event, watcher::Event::Apply(_) | watcher::Event::Delete(_))
                    {
                        state.metrics.changes_ignored.inc();
                    }
                    changes
                }
                Err(error) => {
                    state.metrics.source_errors.inc();
                    if state.source_health.failed(&error.to_string()) {
                        lost.notify_one();
                    }
                    // While the API server is away every retry fails the same way.
                    if let Some(repeats) = failures.check(&error.to_string(), Instant::now()) {
                        tracing::warn!(
                            kind = %kind,
                            %error,
                            repeats.count = repeats.count,
                            repeats.seconds = repeats.seconds,
                            "watch failed; retrying, still serving the last good routes"
                        );
                    }
                    Changes::default()
                }
            }
        });
    events.push(stream.boxed());
    reader
}

/// Each time watching starts failing, asks the API server every [`PROBE_EVERY`] whether it
/// answers again, and ends the outage when it does.
async fn notice_recovery(client: Client, state: Arc<State>, lost: Arc<Notify>) {
    loop {
        lost.notified().await;
        while state.source_health.outage().is_some() {
            tokio::time::sleep(PROBE_EVERY).await;
            let answered = tokio::time::timeout(PROBE_EVERY, client.apiserver_version()).await;
            if matches!(answered, Ok(Ok(_)))
                && let Some(outage) = state.source_health.working()
            {
                log_recovery(&outage);
            }
        }
    }
}

fn log_recovery(outage: &super::health::Outage) {
    tracing::info!(
        outage.seconds = outage.duration().as_secs(),
        outage.failures = outage.failures,
        "the API server answers again; watches resume where they left off"
    );
}
