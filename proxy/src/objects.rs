//! The input of the route compiler: the Kubernetes objects a proxy reads, from the cluster
//! or from manifest files. Both sources fill the same set.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

/// A snapshot of every object that can affect routing. Objects are shared, not copied:
/// the Kubernetes source hands over its reflector stores' `Arc`s.
#[derive(Clone, Debug, Default)]
pub struct ObjectSet {
    pub ingresses: Vec<Arc<Ingress>>,
    pub classes: Vec<Arc<IngressClass>>,
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub secrets: Vec<Arc<Secret>>,
}

impl ObjectSet {
    pub fn len(&self) -> usize {
        self.ingresses.len()
            + self.classes.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.secrets.len()
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
