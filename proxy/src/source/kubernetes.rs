//! The cluster source: reflectors over Ingresses and IngressClasses (or, with `--gateway`,
//! the one Gateway, HTTPRoutes, GRPCRoutes, ReferenceGrants and Namespaces), Services,
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

use futures::Stream;
use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use sluice_common::telemetry::LogLevelControl;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_crds::gateway_api::referencegrants::ReferenceGrant;
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

/// The Gateway API kinds a proxy watches with `--gateway`.
struct GatewayStores {
    /// The one Gateway served.
    gateways: Store<Gateway>,
    http_routes: Store<HttpRoute>,
    grpc_routes: Store<GrpcRoute>,
    reference_grants: Store<ReferenceGrant>,
    namespaces: Store<Namespace>,
}

struct Stores {
    /// Ingress mode only.
    ingresses: Option<Store<Ingress>>,
    classes: Option<Store<IngressClass>>,
    /// Gateway mode only.
    gateway: Option<GatewayStores>,
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
        let gateway = self.gateway.as_ref();
        ObjectSet {
            ingresses: self
                .ingresses
                .as_ref()
                .map(Store::state)
                .unwrap_or_default(),
            classes: self.classes.as_ref().map(Store::state).unwrap_or_default(),
            gateways: gateway.map(|g| g.gateways.state()).unwrap_or_default(),
            http_routes: gateway.map(|g| g.http_routes.state()).unwrap_or_default(),
            grpc_routes: gateway.map(|g| g.grpc_routes.state()).unwrap_or_default(),
            reference_grants: gateway
                .map(|g| g.reference_grants.state())
                .unwrap_or_default(),
            namespaces: gateway.map(|g| g.namespaces.state()).unwrap_or_default(),
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
        if let Some(ingresses) = &self.ingresses {
            ingresses.wait_until_ready().await?;
        }
        if let Some(classes) = &self.classes {
            classes.wait_until_ready().await?;
        }
        if let Some(gateway) = &self.gateway {
            gateway.gateways.wait_until_ready().await?;
            gateway.http_routes.wait_until_ready().await?;
            gateway.grpc_routes.wait_until_ready().await?;
            gateway.reference_grants.wait_until_ready().await?;
            gateway.namespaces.wait_until_ready().await?;
        }
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
    let gateway_mode = state.gateway.clone();
    let ingress_mode = gateway_mode.is_none();
    let stores = Stores {
        ingresses: ingress_mode.then(|| {
            watch(
                Api::all(client.clone()),
                watcher::Config::default(),
                &mut events,
                &state,
                &lost,
            )
        }),
        classes: ingress_mode.then(|| {
            watch(
                Api::all(client.clone()),
                watcher::Config::default(),
                &mut events,
                &state,
                &lost,
            )
        }),
        gateway: gateway_mode.map(|options| GatewayStores {
            gateways: watch(
                Api::namespaced(client.clone(), &options.gateway.namespace),
                watcher::Config::default()
                    .fields(&format!("metadata.name={}", options.gateway.name)),
                &mut events,
                &state,
                &lost,
            ),
            // Routes one by one: one that does not fit the v1.6 types must not fail the
            // list of all the others.
            http_routes: watch_parsed(client.clone(), &mut events, &state, &lost),
            grpc_routes: watch_parsed(client.clone(), &mut events, &state, &lost),
            reference_grants: watch(
                Api::all(client.clone()),
                watcher::Config::default(),
                &mut events,
                &state,
                &lost,
            ),
            namespaces: watch(
                Api::all(client.clone()),
                watcher::Config::default(),
                &mut events,
                &state,
                &lost,
            ),
        }),
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

    // The class's params set the log level and access log live; a Gateway's proxy keeps
    // its flags.
    if let Some(classes) = &stores.classes {
        tokio::spawn(live::follow(
            params_client,
            state.options.class.clone(),
            classes.clone(),
            state.clone(),
            level,
            flags,
        ));
    }

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
    follow(watcher(api, config), events, state, lost)
}

/// [`watch`] for a kind whose objects are read one by one (as [`DynamicObject`]s, then
/// into `K`): one that does not fit `K` is skipped, with a warning, instead of failing the
/// whole list. A change that makes a served object unreadable removes it.
fn watch_parsed<K>(
    client: Client,
    events: &mut SelectAll<BoxStream<'static, Changes>>,
    state: &Arc<State>,
    lost: &Arc<Notify>,
) -> Store<K>
where
    K: Relevant + Clone + Default + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let resource = ApiResource::erase::<K>(&K::DynamicType::default());
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let parsed = watcher(api, watcher::Config::default()).filter_map(|event| {
        futures::future::ready(match event {
            Ok(event) => parse_event::<K>(event).map(Ok),
            Err(error) => Some(Err(error)),
        })
    });
    follow(parsed, events, state, lost)
}

/// A watch event of [`DynamicObject`]s as one of `K`; `None` to skip it.
fn parse_event<K>(event: watcher::Event<DynamicObject>) -> Option<watcher::Event<K>>
where
    K: Resource + Default + DeserializeOwned,
    K::DynamicType: Default,
{
    let parse = |object: DynamicObject, init: bool| {
        let kind = K::kind(&K::DynamicType::default()).to_string();
        let (namespace, name) = (
            object.metadata.namespace.clone(),
            object.metadata.name.clone(),
        );
        match object.try_parse::<K>() {
            Ok(k) => Some(if init {
                watcher::Event::InitApply(k)
            } else {
                watcher::Event::Apply(k)
            }),
            Err(error) => {
                tracing::warn!(
                    kind,
                    namespace = namespace.as_deref().unwrap_or_default(),
                    name = name.as_deref().unwrap_or_default(),
                    %error,
                    "object skipped: it does not fit Gateway API v1.6"
                );
                // Whatever was served of it before goes: it no longer says that.
                (!init).then(|| {
                    let mut stub = K::default();
                    stub.meta_mut().namespace = namespace;
                    stub.meta_mut().name = name;
                    watcher::Event::Delete(stub)
                })
            }
        }
    };
    match event {
        watcher::Event::Apply(o) => parse(o, false),
        watcher::Event::InitApply(o) => parse(o, true),
        watcher::Event::Delete(o) => {
            let mut stub = K::default();
            stub.meta_mut().namespace = o.metadata.namespace;
            stub.meta_mut().name = o.metadata.name;
            Some(watcher::Event::Delete(stub))
        }
        watcher::Event::Init => Some(watcher::Event::Init),
        watcher::Event::InitDone => Some(watcher::Event::InitDone),
    }
}

/// Reflects a watch stream into a store; what each of its events changes joins `events`.
fn follow<K>(
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    events: &mut SelectAll<BoxStream<'static, Changes>>,
    state: &Arc<State>,
    lost: &Arc<Notify>,
) -> Store<K>
where
    K: Relevant + Clone + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut seen = Seen::<K>::default();
    let mut failures = Repeats::new(REPEATS_WINDOW);
    let stream = stream
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic(spec: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "r", "namespace": "shop" },
            "spec": spec
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn routes_are_read_one_by_one() {
        let good = dynamic(serde_json::json!({ "parentRefs": [{ "name": "public" }] }));
        let bad = dynamic(serde_json::json!({ "rules": "not a list" }));
        let parsed = parse_event::<HttpRoute>(watcher::Event::InitApply(good));
        assert!(
            matches!(&parsed, Some(watcher::Event::InitApply(r)) if r.spec.parent_refs.is_some()),
            "{parsed:?}"
        );
        // A bad object in a list is left out; one that turns bad is taken away.
        assert!(parse_event::<HttpRoute>(watcher::Event::InitApply(bad.clone())).is_none());
        let gone = parse_event::<HttpRoute>(watcher::Event::Apply(bad));
        assert!(
            matches!(&gone, Some(watcher::Event::Delete(r)) if r.metadata.name.as_deref() == Some("r")),
            "{gone:?}"
        );
    }
}
