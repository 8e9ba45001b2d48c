//! The controller's watches: the caches a reconcile reads, and which Gateways each
//! watched object's change reconciles (the mappers, over [`super::index`]).

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use sluice_crds::gateway::attach::GatewayKey;
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_crds::gateway_api::referencegrants::ReferenceGrant;
use sluice_crds::names::labels;
use sluice_crds::params::IngressClassParams;

use super::index::{self, RouteRefs};
use super::reconcile::{error_policy, reconcile};
use super::{Context, MANAGED};
use crate::controllers::Settings;
use crate::controllers::gateway_classes::crds_installed;
use crate::controllers::metrics::ControllerMetrics;

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
    // A Gateway's fleet is built from the IngressClassParams it or its class names.
    let params_events = watcher(Api::<IngressClassParams>::all(client.clone()), all())
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
        classes: classes.clone(),
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
    let (g1, g2, g3, g4, g5, g6) = (
        gateways.clone(),
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
        .watches_stream(params_events, move |params: IngressClassParams| {
            to_refs(index::of_params(
                &params.name_any(),
                &g6.state(),
                &classes.state(),
            ))
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
