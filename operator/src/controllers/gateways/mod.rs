//! The Gateway controller: each Gateway of an accepted GatewayClass of Sluice's gets a
//! proxy fleet ([`crate::desired::gateway`]) and its status, and each HTTPRoute and
//! GRPCRoute that names it gets its `status.parents` entries of Sluice's.
//!
//! Keyed by Gateway. A change to anything a Gateway's status or fleet depends on (its
//! class, the routes that name it, ReferenceGrants, namespace labels, the Secrets it
//! names, the Services its routes name, its own fleet objects) reconciles only the
//! Gateways concerned ([`index`]). Decisions are [`compute`]'s; this module reads and
//! writes, and writes only what differs from what the API holds.
//!
//! A Gateway's fleet lives in the operator's namespace, so the Gateway cannot own it: a
//! finalizer ([`FINALIZER`]) deletes it before the Gateway goes (the GatewayClass owns
//! it too, so deleting the class collects every fleet of it). A Gateway that stops being
//! Sluice's (its class changed or is no longer accepted) loses its fleet the same way.

pub mod compute;
pub mod index;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, PartialObjectMeta, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sluice_crds::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use sluice_crds::gateway::attach::{
    AttachError, AttachedRoutes, CertificateState, GatewayKey, GatewayState, ReferenceGrants,
    ServicePort, listeners::gateway_state,
};
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_crds::gateway_api::referencegrants::ReferenceGrant;
use sluice_crds::names::{FIELD_MANAGER, labels};
use sluice_crds::params::{IngressClassParams, IngressClassParamsSpec};
use tracing::Instrument;

use super::Settings;
use super::apply::apply;
use super::gateway_classes::{crds_installed, is_accepted, is_ours, params_name};
use super::metrics::ControllerMetrics;
use crate::desired::gateway::{desired_gateway, gateway_fleet_name, gateway_selector};
use crate::desired::{Fleet, declared_replicas};
use compute::JudgedRoute;
use index::{RouteRefs, key_of};

/// The finalizer that keeps a Gateway until its fleet is deleted.
pub const FINALIZER: &str = "sluice.dev/gateway-fleet";

/// The label of every object the operator manages.
const MANAGED: &str = "app.kubernetes.io/managed-by=sluice-operator";

struct Context {
    client: Client,
    settings: Settings,
    metrics: ControllerMetrics,
    classes: Store<GatewayClass>,
    gateways: Store<Gateway>,
    http_routes: Store<HttpRoute>,
    grpc_routes: Store<GrpcRoute>,
    grants: Store<ReferenceGrant>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    services: Store<Service>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Attach(#[from] AttachError),
    #[error("GatewayClass {class}: {message}")]
    Parameters { class: String, message: String },
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

/// A cache of `api`'s objects and the stream that fills it (and triggers reconciles).
fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config))
        .default_backoff()
        .touched_objects();
    (reader, stream)
}

/// Runs the controller until `shutdown` resolves; first waits for the Gateway API CRDs if
/// the cluster has none.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: ControllerMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let mut shutdown = Box::pin(shutdown);
    if !crds_installed(&client, "Gateways", &mut shutdown).await {
        return;
    }
    let all = watcher::Config::default;
    let ns = settings.fleet.namespace.clone();
    let controller_name = settings.gateway_controller.clone();
    let (classes, class_events) = reflect(Api::<GatewayClass>::all(client.clone()), all());
    let (http_routes, http_events) = reflect(Api::<HttpRoute>::all(client.clone()), all());
    let (grpc_routes, grpc_events) = reflect(Api::<GrpcRoute>::all(client.clone()), all());
    let (grants, grant_events) = reflect(Api::<ReferenceGrant>::all(client.clone()), all());
    let (services, service_events) = reflect(Api::<Service>::all(client.clone()), all());
    let (namespaces, namespace_events) = reflect(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        all(),
    );
    // Metadata only: a Secret's data is read (by name) only for the Secrets Gateways name.
    let secret_events = watcher(Api::<PartialObjectMeta<Secret>>::all(client.clone()), all())
        .default_backoff()
        .touched_objects();
    let deployment_events = watcher(
        Api::<Deployment>::namespaced(client.clone(), &ns),
        all().labels(&format!("{MANAGED},{}", labels::GATEWAY)),
    )
    .default_backoff()
    .touched_objects();

    let controller = Controller::new(Api::<Gateway>::all(client.clone()), all());
    let gateways = controller.store();
    let ctx = Arc::new(Context {
        client,
        settings,
        metrics,
        classes,
        gateways: gateways.clone(),
        http_routes: http_routes.clone(),
        grpc_routes: grpc_routes.clone(),
        grants,
        namespaces,
        services,
    });
    let refs = {
        let (http, grpc, controller) = (http_routes, grpc_routes, controller_name.clone());
        move || route_refs(&http, &grpc, &controller)
    };
    let to_refs = |keys: Vec<GatewayKey>| -> Vec<ObjectRef<Gateway>> {
        keys.into_iter()
            .map(|k| ObjectRef::new(&k.name).within(&k.namespace))
            .collect()
    };
    let (g1, g2, g3, g4, g5) = (
        gateways.clone(),
        gateways.clone(),
        gateways.clone(),
        gateways.clone(),
        gateways,
    );
    let (r1, r2, r3) = (refs.clone(), refs.clone(), refs);
    let (c1, c2) = (controller_name.clone(), controller_name);
    controller
        .watches_stream(class_events, move |class: GatewayClass| {
            to_refs(index::of_class(&class.name_any(), &g1.state()))
        })
        .watches_stream(http_events, move |route: HttpRoute| {
            to_refs(
                RouteRefs::of_http(&route, &c1)
                    .gateways
                    .into_iter()
                    .collect(),
            )
        })
        .watches_stream(grpc_events, move |route: GrpcRoute| {
            to_refs(
                RouteRefs::of_grpc(&route, &c2)
                    .gateways
                    .into_iter()
                    .collect(),
            )
        })
        .watches_stream(grant_events, move |grant: ReferenceGrant| {
            let ns = grant.namespace().unwrap_or_default();
            to_refs(
                index::of_grant(&ns, &g2.state(), &r1())
                    .into_iter()
                    .collect(),
            )
        })
        .watches_stream(namespace_events, move |ns: PartialObjectMeta<Namespace>| {
            to_refs(
                index::of_namespace(&ns.name_any(), &r2())
                    .into_iter()
                    .collect(),
            )
        })
        .watches_stream(secret_events, move |secret: PartialObjectMeta<Secret>| {
            let ns = secret.namespace().unwrap_or_default();
            to_refs(index::of_secret(&ns, &secret.name_any(), &g3.state()))
        })
        .watches_stream(service_events, move |service: Service| {
            let ns = service.namespace().unwrap_or_default();
            let mut keys: Vec<GatewayKey> = index::of_service(&ns, &service.name_any(), &r3())
                .into_iter()
                .collect();
            // A fleet's own Service: its address is the Gateway's.
            if let Some(value) = service.labels().get(labels::GATEWAY) {
                keys.extend(index::of_fleet_label(value, &g4.state()));
            }
            to_refs(keys)
        })
        .watches_stream(deployment_events, move |d: Deployment| {
            let value = d.labels().get(labels::GATEWAY).cloned().unwrap_or_default();
            to_refs(index::of_fleet_label(&value, &g5.state()))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile request failed");
            }
        })
        .await;
}

fn route_refs(
    http: &Store<HttpRoute>,
    grpc: &Store<GrpcRoute>,
    controller: &str,
) -> Vec<RouteRefs> {
    http.state()
        .iter()
        .map(|r| RouteRefs::of_http(r, controller))
        .chain(
            grpc.state()
                .iter()
                .map(|r| RouteRefs::of_grpc(r, controller)),
        )
        .collect()
}

fn error_policy(gateway: Arc<Gateway>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(
        gateway.namespace = %gateway.namespace().unwrap_or_default(),
        gateway.name = %gateway.name_any(),
        %error,
        "reconcile failed; retrying"
    );
    ctx.metrics.errors.inc();
    Action::requeue(Duration::from_secs(10))
}

impl Context {
    /// The class of `gateway`, when it is an accepted class of Sluice's.
    fn class_of(&self, gateway: &Gateway) -> Option<Arc<GatewayClass>> {
        self.classes
            .get(&ObjectRef::new(&gateway.spec.gateway_class_name))
            .filter(|c| is_ours(c, &self.settings.gateway_controller) && is_accepted(c))
    }
}

/// What a reconcile did, for its span.
#[derive(Default)]
struct Done {
    fleet_changes: usize,
    routes_written: usize,
    status_written: bool,
}

async fn reconcile(gateway: Arc<Gateway>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        object = "Gateway",
        gateway.namespace = %gateway.namespace().unwrap_or_default(),
        gateway.name = %gateway.name_any(),
        outcome = tracing::field::Empty,
        fleet_changes = tracing::field::Empty,
        routes_written = tracing::field::Empty,
        status_written = tracing::field::Empty,
    );
    let result = reconcile_gateway(gateway, &ctx)
        .instrument(span.clone())
        .await;
    ctx.metrics.reconciles.inc();
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok((action, done)) => {
            span.record("outcome", "ok");
            span.record("fleet_changes", done.fleet_changes);
            span.record("routes_written", done.routes_written);
            span.record("status_written", done.status_written);
            Ok(action)
        }
        Err(error) => {
            span.record("outcome", tracing::field::display(&error));
            Err(error)
        }
    }
}

async fn reconcile_gateway(gateway: Arc<Gateway>, ctx: &Context) -> Result<(Action, Done), Error> {
    let Some(key) = key_of(&gateway) else {
        return Ok((Action::await_change(), Done::default()));
    };
    // The caches fill as the controller runs; judging against a half-filled one would
    // write a wrong status.
    for ready in [
        ctx.classes.wait_until_ready().await.is_ok(),
        ctx.http_routes.wait_until_ready().await.is_ok(),
        ctx.grpc_routes.wait_until_ready().await.is_ok(),
        ctx.grants.wait_until_ready().await.is_ok(),
        ctx.namespaces.wait_until_ready().await.is_ok(),
        ctx.services.wait_until_ready().await.is_ok(),
    ] {
        if !ready {
            return Ok((Action::requeue(Duration::from_secs(1)), Done::default()));
        }
    }
    let api: Api<Gateway> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let has_finalizer = gateway.finalizers().iter().any(|f| f == FINALIZER);
    let class = ctx.class_of(&gateway);
    if class.is_none() && !has_finalizer {
        return Ok((Action::await_change(), Done::default()));
    }
    let object = match &class {
        Some(_) => gateway,
        // No longer Sluice's: cleaned up as if deleted (the finalizer helper then removes
        // the finalizer, and the Gateway is left to whoever serves it now).
        None => {
            let mut leaving = (*gateway).clone();
            leaving.metadata.deletion_timestamp.get_or_insert_with(now);
            Arc::new(leaving)
        }
    };
    let mut done = Done::default();
    let action = finalizer(&api, FINALIZER, object, |event| async {
        match event {
            finalizer::Event::Apply(gateway) => {
                let class = class.ok_or_else(|| Error::Parameters {
                    class: gateway.spec.gateway_class_name.clone(),
                    message: "no longer an accepted class of Sluice's".into(),
                })?;
                done = serve(&gateway, &key, &class, ctx).await?;
                Ok(Action::requeue(Duration::from_secs(300)))
            }
            finalizer::Event::Cleanup(_) => {
                done.fleet_changes = delete_fleet(&key, ctx).await?;
                done.routes_written = write_routes(&key, None, ctx).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    Ok((action, done))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Serves a Gateway of Sluice's: its fleet, its routes' status and its own.
async fn serve(
    gateway: &Gateway,
    key: &GatewayKey,
    class: &GatewayClass,
    ctx: &Context,
) -> Result<Done, Error> {
    let grants = grants(ctx);
    let certificates = certificates(gateway, &ctx.client).await?;
    let lookup = |ns: &str, name: &str| {
        certificates
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or(CertificateState::Missing)
    };
    let mut state = gateway_state(gateway, SUPPORTED_PROTOCOLS, &grants, &lookup)?;
    let ports = compute::serve_ports(&mut state);
    let mut done = Done {
        routes_written: write_routes(key, Some(&state), ctx).await?,
        ..Default::default()
    };
    let attached = attached_routes(key, Some(&state), ctx);

    let (deployment, service) = if ports.is_empty() {
        // Nothing to serve: no fleet (a Service needs a port).
        done.fleet_changes = delete_fleet(key, ctx).await?;
        (None, None)
    } else {
        let params = params(class, ctx).await?;
        let fleet = desired_gateway(key, class, &ports, &params, &ctx.settings.fleet);
        let (deployment, service, changes) = apply_fleet(key, fleet, &params, ctx).await?;
        done.fleet_changes = changes;
        (Some(deployment), Some(service))
    };
    let addresses = compute::addresses(service.as_ref());
    let readiness = compute::readiness(deployment.as_ref(), &addresses);
    let status = compute::gateway_status(
        &state,
        &attached,
        &readiness,
        addresses,
        gateway.status.as_ref(),
        &now(),
    );
    if gateway.status.as_ref() != Some(&status) {
        let api: Api<Gateway> = Api::namespaced(ctx.client.clone(), &key.namespace);
        let body = json!({
            "apiVersion": Gateway::api_version(&()),
            "kind": Gateway::kind(&()),
            "status": status,
        });
        api.patch_status(
            &key.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await?;
        done.status_written = true;
    }
    Ok(done)
}

fn grants(ctx: &Context) -> ReferenceGrants {
    let all = ctx.grants.state();
    ReferenceGrants::new(all.iter().map(AsRef::as_ref))
}

/// What each Secret the Gateway names holds, read by name (the controller watches
/// Secrets' metadata only).
async fn certificates(
    gateway: &Gateway,
    client: &Client,
) -> Result<BTreeMap<(String, String), CertificateState>, kube::Error> {
    let mut out = BTreeMap::new();
    for (ns, name) in index::certificate_refs(gateway) {
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let state = match api.get_opt(&name).await {
            Ok(None) => CertificateState::Missing,
            Ok(Some(secret)) => certificate_state(&secret),
            // Not allowed to read it: as good as missing, and said so by the listener.
            Err(kube::Error::Api(status)) if status.code == 403 => CertificateState::Missing,
            Err(e) => return Err(e),
        };
        out.insert((ns, name), state);
    }
    Ok(out)
}

/// Whether a Secret holds a certificate and key the proxy can serve.
fn certificate_state(secret: &Secret) -> CertificateState {
    let data = secret.data.as_ref();
    let field = |k: &str| data.and_then(|d| d.get(k)).map(|v| v.0.as_slice());
    match (field("tls.crt"), field("tls.key")) {
        (Some(crt), Some(key)) => match sluice_crds::tls::certified_key(crt, key) {
            Ok(_) => CertificateState::Valid,
            Err(e) => CertificateState::Invalid(e.to_string()),
        },
        _ => CertificateState::Invalid("the Secret has no tls.crt and tls.key".into()),
    }
}

/// The judged state of every Gateway of Sluice's, for attaching routes; `this` stands for
/// the Gateway being served (its certificates were read), `None` removes it (it is going).
/// Certificates do not change which listeners a route attaches to, so the others are
/// judged without reading theirs.
fn gateway_states(
    key: &GatewayKey,
    this: Option<&GatewayState>,
    grants: &ReferenceGrants,
    ctx: &Context,
) -> BTreeMap<GatewayKey, GatewayState> {
    let valid = |_: &str, _: &str| CertificateState::Valid;
    let mut states: BTreeMap<GatewayKey, GatewayState> = ctx
        .gateways
        .state()
        .iter()
        .filter(|g| g.metadata.deletion_timestamp.is_none() && ctx.class_of(g).is_some())
        .filter_map(|g| gateway_state(g, SUPPORTED_PROTOCOLS, grants, &valid).ok())
        .map(|s| (s.key.clone(), s))
        .collect();
    match this {
        Some(state) => states.insert(key.clone(), state.clone()),
        None => states.remove(key),
    };
    states
}

/// The routes that name `key` (or still hold a status entry of ours for it), judged.
fn routes_of(key: &GatewayKey, grants: &ReferenceGrants, ctx: &Context) -> Vec<RoutePair> {
    let controller = &ctx.settings.gateway_controller;
    let services = |ns: &str, name: &str, port: i32| service_port(&ctx.services, ns, name, port);
    let mut out = Vec::new();
    for route in ctx.http_routes.state() {
        if RouteRefs::of_http(&route, controller)
            .gateways
            .contains(key)
            && let Some(judged) = compute::judge_http(&route, grants, &services)
        {
            out.push(RoutePair::Http(route, judged));
        }
    }
    for route in ctx.grpc_routes.state() {
        if RouteRefs::of_grpc(&route, controller)
            .gateways
            .contains(key)
            && let Some(judged) = compute::judge_grpc(&route, grants, &services)
        {
            out.push(RoutePair::Grpc(route, judged));
        }
    }
    out
}

enum RoutePair {
    Http(Arc<HttpRoute>, JudgedRoute),
    Grpc(Arc<GrpcRoute>, JudgedRoute),
}

impl RoutePair {
    fn judged(&self) -> &JudgedRoute {
        match self {
            Self::Http(_, j) | Self::Grpc(_, j) => j,
        }
    }
}

fn namespace_labels(ctx: &Context) -> BTreeMap<String, BTreeMap<String, String>> {
    ctx.namespaces
        .state()
        .iter()
        .map(|n| (n.name_any(), n.labels().clone()))
        .collect()
}

/// How many routes are attached to each listener of `key`.
fn attached_routes(key: &GatewayKey, this: Option<&GatewayState>, ctx: &Context) -> AttachedRoutes {
    let grants = grants(ctx);
    let states = gateway_states(key, this, &grants, ctx);
    let labels = namespace_labels(ctx);
    let routes = routes_of(key, &grants, ctx);
    AttachedRoutes::new(
        routes
            .iter()
            .map(|r| compute::attach(r.judged(), &states, &labels))
            .collect::<Vec<_>>()
            .iter(),
    )
}

/// Writes the `status.parents` of every route that names `key`, where it differs;
/// returns how many were written.
async fn write_routes(
    key: &GatewayKey,
    this: Option<&GatewayState>,
    ctx: &Context,
) -> Result<usize, kube::Error> {
    let grants = grants(ctx);
    let states = gateway_states(key, this, &grants, ctx);
    let labels = namespace_labels(ctx);
    let controller = &ctx.settings.gateway_controller;
    let now = now();
    let mut written = 0;
    for pair in routes_of(key, &grants, ctx) {
        let attachments = compute::attach(pair.judged(), &states, &labels);
        match &pair {
            RoutePair::Http(route, judged) => {
                let existing = route.status.as_ref().map_or(&[][..], |s| &s.parents[..]);
                if let Some(parents) =
                    compute::route_parents(judged, &attachments, existing, controller, &now)
                {
                    written += usize::from(
                        patch_route_status(&ctx.client, route.as_ref(), parents).await?,
                    );
                }
            }
            RoutePair::Grpc(route, judged) => {
                let existing = route.status.as_ref().map_or(&[][..], |s| &s.parents[..]);
                if let Some(parents) =
                    compute::route_parents(judged, &attachments, existing, controller, &now)
                {
                    written += usize::from(
                        patch_route_status(&ctx.client, route.as_ref(), parents).await?,
                    );
                }
            }
        }
    }
    Ok(written)
}

/// Writes a route's `status.parents`; whether it was written.
async fn patch_route_status<K, P>(client: &Client, route: &K, parents: Vec<P>) -> kube::Result<bool>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    P: Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), &route.namespace().unwrap_or_default());
    // `status.parents` is one list for every controller: written against the version
    // read, so that another controller's entry written meanwhile is never dropped.
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "resourceVersion": route.resource_version() },
        "status": { "parents": parents },
    });
    match api
        .patch_status(
            &route.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(_) => Ok(true),
        // Changed since it was read: its watch event reconciles again, with the new one.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// What the Service cache knows of a backend's port.
fn service_port(services: &Store<Service>, ns: &str, name: &str, port: i32) -> ServicePort {
    let Some(service) = services.get(&ObjectRef::new(name).within(ns)) else {
        return ServicePort::NoService;
    };
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return ServicePort::ExternalName;
    }
    spec.and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .find(|p| p.port == port)
        .map_or(ServicePort::NoPort, |p| ServicePort::Found {
            app_protocol: p.app_protocol.clone(),
        })
}

/// The class's params resolved (defaults without a `parametersRef`).
async fn params(
    class: &GatewayClass,
    ctx: &Context,
) -> Result<sluice_crds::params::ResolvedParams, Error> {
    let invalid = |message: String| Error::Parameters {
        class: class.name_any(),
        message,
    };
    let mut spec = match params_name(class) {
        None if class.spec.parameters_ref.is_some() => {
            return Err(invalid("parametersRef names no IngressClassParams".into()));
        }
        None => IngressClassParamsSpec::default(),
        Some(name) => {
            Api::<IngressClassParams>::all(ctx.client.clone())
                .get_opt(name)
                .await?
                .ok_or_else(|| invalid(format!("IngressClassParams {name} does not exist")))?
                .spec
        }
    };
    if let Some(repository) = &ctx.settings.proxy_image {
        let image = spec.image.get_or_insert_with(Default::default);
        if image.repository.is_none() {
            image.repository = Some(repository.clone());
        }
    }
    spec.resolve().map_err(|e| invalid(e.to_string()))
}

/// Applies a Gateway's fleet; returns its Deployment and Service as they now are, and how
/// many objects changed.
async fn apply_fleet(
    key: &GatewayKey,
    fleet: Fleet,
    params: &sluice_crds::params::ResolvedParams,
    ctx: &Context,
) -> Result<(Deployment, Service, usize), Error> {
    let client = &ctx.client;
    let ns = &ctx.settings.fleet.namespace;
    let name = gateway_fleet_name(key);
    let Fleet {
        service_account,
        cluster_role_binding,
        workload,
        service,
        metrics_service,
        pod_disruption_budget,
        autoscaler,
    } = fleet;
    let mut changes = 0;
    let mut count = |applied: super::apply::Applied| {
        if applied != super::apply::Applied::Unchanged {
            changes += 1;
        }
    };
    count(
        apply_to(
            &Api::<ServiceAccount>::namespaced(client.clone(), ns),
            &service_account,
        )
        .await?,
    );
    count(
        apply_to(
            &Api::<ClusterRoleBinding>::all(client.clone()),
            &cluster_role_binding,
        )
        .await?,
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let crate::desired::Workload::Deployment(mut deployment) = workload else {
        // Never: desired_gateway always builds a Deployment.
        return Ok((Deployment::default(), service, changes));
    };
    let live = deployments.get_opt(&name).await?;
    if let Some(spec) = deployment.spec.as_mut() {
        spec.replicas = Some(declared_replicas(params, live.as_ref()));
    }
    let (deployment, applied) = apply(&deployments, live, &deployment).await?;
    count(applied);
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    match &autoscaler {
        Some(autoscaler) => count(apply_to(&autoscalers, autoscaler).await?),
        None => {
            if delete_ours(&autoscalers, &name).await? {
                count(super::apply::Applied::Updated);
            }
        }
    }
    count(
        apply_to(
            &Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
            &pod_disruption_budget,
        )
        .await?,
    );
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    count(apply_to(&services, &metrics_service).await?);
    let (service, applied) = apply(&services, services.get_opt(&name).await?, &service).await?;
    count(applied);
    Ok((deployment, service, changes))
}

async fn apply_to<K>(api: &Api<K>, desired: &K) -> kube::Result<super::apply::Applied>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let current = api.get_opt(&desired.name_any()).await?;
    Ok(apply(api, current, desired).await?.1)
}

/// Deletes `name` if the operator manages it; whether it did.
async fn delete_ours<K>(api: &Api<K>, name: &str) -> kube::Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(live) = api.get_opt(name).await? else {
        return Ok(false);
    };
    if live.labels().get(labels::MANAGED_BY).map(String::as_str) != Some("sluice-operator") {
        return Ok(false);
    }
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes every object of `key`'s fleet (by label); how many were deleted.
async fn delete_fleet(key: &GatewayKey, ctx: &Context) -> Result<usize, kube::Error> {
    let ns = &ctx.settings.fleet.namespace;
    let client = &ctx.client;
    let selector = format!("{MANAGED},{}", gateway_selector(key));
    let mut deleted = 0;
    deleted += delete_labelled(
        &Api::<Deployment>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(
        &Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(
        &Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(&Api::<Service>::namespaced(client.clone(), ns), &selector).await?;
    deleted += delete_labelled(
        &Api::<ServiceAccount>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(&Api::<ClusterRoleBinding>::all(client.clone()), &selector).await?;
    Ok(deleted)
}

async fn delete_labelled<K>(api: &Api<K>, selector: &str) -> kube::Result<usize>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut deleted = 0;
    for object in api
        .list_metadata(&ListParams::default().labels(selector))
        .await?
    {
        match api.delete(&object.name_any(), &Default::default()).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
