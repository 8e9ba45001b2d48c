//! The Gateway controller: each Gateway of an accepted GatewayClass of Sluice's gets a
//! proxy fleet ([`crate::desired::gateway`]) and its status, and each HTTPRoute and
//! GRPCRoute that names it gets its `status.parents` entries of Sluice's.
//!
//! Keyed by Gateway. A change to anything a Gateway's status or fleet depends on (its
//! class, the routes that name it, ReferenceGrants, namespace labels, the Secrets it
//! names, the Services its routes name, its own fleet objects) reconciles only the
//! Gateways concerned ([`watches`], by [`index`]). Decisions are pure: [`compute`]'s, and
//! what the Gateway's spec asks beyond its listeners, [`parameters`] and [`addresses`].
//! The other modules read and write, and write only what differs from what the API holds:
//!
//! - [`reconcile`]: one reconcile, from the finalizer to the Gateway's status;
//! - [`lookups`]: what a reconcile reads of the cluster (caches, Secrets, params);
//! - [`routes`]: the routes that name a Gateway, judged, and their status;
//! - [`status_writes`]: the status patches of Gateways and routes;
//! - [`fleet`]: applying and deleting a Gateway's fleet.
//!
//! A Gateway's fleet lives in the operator's namespace, so the Gateway cannot own it: a
//! finalizer ([`FINALIZER`]) deletes it before the Gateway goes (the GatewayClass owns
//! it too, so deleting the class collects every fleet of it). A Gateway that stops being
//! Sluice's (its class changed or is no longer accepted) loses its fleet the same way.

pub mod addresses;
pub mod compute;
pub mod fleet;
pub mod index;
pub mod lookups;
pub mod parameters;
pub mod reconcile;
pub mod routes;
pub mod status_writes;
pub mod watches;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::api::PartialObjectMeta;
use kube::runtime::finalizer;
use kube::runtime::reflector::{ObjectRef, Store};
use sluice_crds::gateway::attach::AttachError;
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_crds::gateway_api::referencegrants::ReferenceGrant;

use super::Settings;
use super::gateway_classes::{is_accepted, is_ours};
use super::metrics::ControllerMetrics;

pub use watches::run;

/// The finalizer that keeps a Gateway until its fleet is deleted.
pub const FINALIZER: &str = "sluice.dev/gateway-fleet";

/// The label of every object the operator manages.
const MANAGED: &str = "app.kubernetes.io/managed-by=sluice-operator";

/// What every reconcile shares: the client, the settings and the controller's caches.
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

impl Context {
    /// The class of `gateway`, when it is an accepted class of Sluice's.
    fn class_of(&self, gateway: &Gateway) -> Option<Arc<GatewayClass>> {
        self.classes
            .get(&ObjectRef::new(&gateway.spec.gateway_class_name))
            .filter(|c| is_ours(c, &self.settings.gateway_controller) && is_accepted(c))
    }
}
