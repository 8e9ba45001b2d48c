//! The input of the route compiler: the Kubernetes objects a proxy reads, from the cluster
//! or from manifest files. Both sources fill the same set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_crds::gateway_api::referencegrants::ReferenceGrant;

/// A snapshot of every object that can affect routing. Objects are shared, not copied:
/// the Kubernetes source hands over its reflector stores' `Arc`s.
#[derive(Clone, Debug, Default)]
pub struct ObjectSet {
    pub ingresses: Vec<Arc<Ingress>>,
    pub classes: Vec<Arc<IngressClass>>,
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub secrets: Vec<Arc<Secret>>,
    /// Read by name only: `custom-headers`.
    pub config_maps: Vec<Arc<ConfigMap>>,
    /// Gateway API (`--gateway`): the served Gateway (others are ignored).
    pub gateways: Vec<Arc<Gateway>>,
    pub http_routes: Vec<Arc<HttpRoute>>,
    /// Read, not served yet.
    pub grpc_routes: Vec<Arc<GrpcRoute>>,
    pub reference_grants: Vec<Arc<ReferenceGrant>>,
    /// Read for their labels only: listeners' `allowedRoutes` selectors.
    pub namespaces: Vec<Arc<Namespace>>,
}

impl ObjectSet {
    pub fn len(&self) -> usize {
        self.ingresses.len()
            + self.classes.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.secrets.len()
            + self.config_maps.len()
            + self.gateways.len()
            + self.http_routes.len()
            + self.grpc_routes.len()
            + self.reference_grants.len()
            + self.namespaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `namespace/name` of an object, for keys and messages.
pub fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// How the routes name an object they read by name (an auth Secret, a custom-headers
/// ConfigMap), found or not: a change to it recompiles them.
pub fn named(kind: &str, key: &str) -> String {
    format!("{kind} {key}")
}

/// A set of Services by `(namespace, name)`: those whose endpoints may have changed.
/// Nested so that a lookup borrows its key instead of building one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSet {
    by_namespace: BTreeMap<String, BTreeSet<String>>,
}

impl ServiceSet {
    pub fn insert(&mut self, namespace: &str, name: &str) {
        if !self.contains(namespace, name) {
            self.by_namespace
                .entry(namespace.to_string())
                .or_default()
                .insert(name.to_string());
        }
    }

    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        self.by_namespace
            .get(namespace)
            .is_some_and(|names| names.contains(name))
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.by_namespace.contains_key(namespace)
    }

    pub fn extend(&mut self, other: ServiceSet) {
        for (namespace, names) in other.by_namespace {
            self.by_namespace
                .entry(namespace)
                .or_default()
                .extend(names);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_namespace
            .iter()
            .flat_map(|(ns, names)| names.iter().map(move |n| (ns.as_str(), n.as_str())))
    }

    pub fn len(&self) -> usize {
        self.by_namespace.values().map(BTreeSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_namespace.is_empty()
    }
}
