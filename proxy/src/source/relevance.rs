//! Which object changes can change routing, and what they change.
//!
//! Every object kind has a fingerprint: a hash of exactly the parts the compiler reads
//! (an Ingress's spec and the annotations Sluice reads, never its status,
//! resourceVersion, managedFields or other annotations). A change that leaves the
//! fingerprint alone is ignored; one that moves it either recompiles the routes (Ingresses,
//! IngressClasses, TLS Secrets) or only refreshes the endpoints of one Service in place
//! (Services, EndpointSlices). Pure: the sources feed it events and act on the answer.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::Resource;
use kube::runtime::watcher;
use sluice_common::changes::{self, fingerprint};
use sluice_crds::annotations;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_crds::gateway_api::referencegrants::ReferenceGrant;
use sluice_crds::names::{DEFAULT_CLASS_ANNOTATION, TLS_SECRET_TYPE};

use crate::compile::backends::slice_service;
use crate::objects::{ObjectSet, ServiceSet, key_of, named};
use crate::routes::RouteTable;

/// What a change to one object can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Affects {
    /// The routes: recompile the table.
    Routes,
    /// Only the endpoints of the backends of this Service, `(namespace, name)`.
    Endpoints(String, String),
    /// A Service itself (its type or ports, or whether it exists): its endpoints, and the
    /// routes if they read it by name (a Gateway route's backend is usable or not by it).
    Service(String, String),
    /// The routes, if they read this object by name ([`crate::objects::named`]).
    Named(String),
    /// Nothing (an EndpointSlice that belongs to no Service).
    Nothing,
}

/// What a batch of changes calls for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Recompile the route table.
    pub routes: bool,
    /// Refresh in place the endpoints of these Services' backends.
    pub services: ServiceSet,
    /// Recompile if the table reads one of these objects ([`crate::objects::named`]).
    pub named: BTreeSet<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        !self.routes && self.services.is_empty() && self.named.is_empty()
    }

    pub fn merge(&mut self, other: Changes) {
        self.routes |= other.routes;
        self.services.extend(other.services);
        self.named.extend(other.named);
    }

    /// Whether the changes call for recompiling `table`.
    pub fn recompile(&self, table: &RouteTable) -> bool {
        self.routes || self.named.iter().any(|key| table.reads.contains(key))
    }

    fn of(affected: Vec<Affects>) -> Self {
        let mut changes = Self::default();
        for affects in &affected {
            changes.add(affects);
        }
        changes
    }

    fn add(&mut self, affects: &Affects) {
        match affects {
            Affects::Routes => self.routes = true,
            Affects::Endpoints(namespace, name) => self.services.insert(namespace, name),
            Affects::Service(namespace, name) => {
                self.services.insert(namespace, name);
                self.named.insert(crate::objects::named(
                    "Service",
                    &format!("{namespace}/{name}"),
                ));
            }
            Affects::Named(key) => {
                self.named.insert(key.clone());
            }
            Affects::Nothing => {}
        }
    }
}

/// An object kind the proxy reads.
pub trait Relevant: Resource {
    /// A hash of what the compiler reads of the object; equal fingerprints, same routing.
    fn fingerprint(&self) -> u64;
    /// What changing (or deleting) the object can change.
    fn affects(&self) -> Affects;
}

impl Relevant for Ingress {
    fn fingerprint(&self) -> u64 {
        let annotations: Vec<(&str, &str)> =
            annotations::routing(self.metadata.annotations.as_ref()).collect();
        // The creation time decides which of two Ingresses claiming a rule wins.
        fingerprint(&(&self.spec, annotations, &self.metadata.creation_timestamp))
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

impl Relevant for IngressClass {
    fn fingerprint(&self) -> u64 {
        let default = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION));
        fingerprint(&(&self.spec, default))
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

impl Relevant for Service {
    fn fingerprint(&self) -> u64 {
        // Backends use the Service's type (ExternalName is refused) and its ports.
        let spec = self.spec.as_ref();
        fingerprint(&(
            spec.and_then(|s| s.type_.as_ref()),
            spec.and_then(|s| s.ports.as_ref()),
        ))
    }

    fn affects(&self) -> Affects {
        match (&self.metadata.namespace, &self.metadata.name) {
            (Some(namespace), Some(name)) => Affects::Service(namespace.clone(), name.clone()),
            _ => Affects::Nothing,
        }
    }
}

impl Relevant for EndpointSlice {
    fn fingerprint(&self) -> u64 {
        // Not the endpoints' zones, hints, node or target references: a new pod shows up
        // as a new address anyway.
        let endpoints: Vec<_> = self
            .endpoints
            .iter()
            .map(|e| (&e.addresses, &e.conditions))
            .collect();
        fingerprint(&(
            &self.address_type,
            &self.ports,
            endpoints,
            slice_service(self),
        ))
    }

    fn affects(&self) -> Affects {
        match slice_service(self) {
            Some((namespace, name)) => Affects::Endpoints(namespace.into(), name.into()),
            None => Affects::Nothing,
        }
    }
}

impl Relevant for Secret {
    fn fingerprint(&self) -> u64 {
        fingerprint(&(&self.type_, &self.data, &self.string_data))
    }

    /// A TLS Secret can serve any host; any other only the routes whose basic auth reads it.
    fn affects(&self) -> Affects {
        if self.type_.as_deref() == Some(TLS_SECRET_TYPE) {
            Affects::Routes
        } else {
            Affects::Named(named("Secret", &key_of(&self.metadata)))
        }
    }
}

impl Relevant for ConfigMap {
    fn fingerprint(&self) -> u64 {
        fingerprint(&(&self.data, &self.binary_data))
    }

    /// Only the routes whose `custom-headers` name it read a ConfigMap.
    fn affects(&self) -> Affects {
        Affects::Named(named("ConfigMap", &key_of(&self.metadata)))
    }
}

// The Gateway API kinds: their specs (never their status, which the operator writes
// constantly), and a route's creation time, which decides ties between routes.

impl Relevant for Gateway {
    fn fingerprint(&self) -> u64 {
        fingerprint(&self.spec)
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

impl Relevant for HttpRoute {
    fn fingerprint(&self) -> u64 {
        fingerprint(&(&self.spec, &self.metadata.creation_timestamp))
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

impl Relevant for GrpcRoute {
    fn fingerprint(&self) -> u64 {
        fingerprint(&(&self.spec, &self.metadata.creation_timestamp))
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

impl Relevant for ReferenceGrant {
    fn fingerprint(&self) -> u64 {
        fingerprint(&self.spec)
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

impl Relevant for Namespace {
    /// Only its labels: listeners select the namespaces of the routes they take by them.
    fn fingerprint(&self) -> u64 {
        fingerprint(&self.metadata.labels)
    }

    fn affects(&self) -> Affects {
        Affects::Routes
    }
}

/// What the proxy last saw of every object of one kind, to tell a change that matters from
/// one that does not.
pub struct Seen<K>(changes::Seen<K, Affects>);

impl<K: Relevant> Default for Seen<K> {
    fn default() -> Self {
        Self(changes::Seen::new(|object| {
            (object.fingerprint(), object.affects())
        }))
    }
}

impl<K: Relevant> Seen<K> {
    /// One watch event, after the reflector has applied it to its store.
    pub fn observe(&mut self, event: &watcher::Event<K>) -> Changes {
        Changes::of(self.0.observe(event))
    }

    /// The whole set of objects of this kind, as from a complete (re-)list.
    pub fn observe_all<'a>(&mut self, objects: impl IntoIterator<Item = &'a K>) -> Changes
    where
        K: 'a,
    {
        Changes::of(self.0.observe_all(objects))
    }
}

/// [`Seen`] for every kind, for a source that reads whole object sets (manifest files).
#[derive(Default)]
pub struct SeenSet {
    ingresses: Seen<Ingress>,
    classes: Seen<IngressClass>,
    services: Seen<Service>,
    endpoint_slices: Seen<EndpointSlice>,
    secrets: Seen<Secret>,
    config_maps: Seen<ConfigMap>,
    gateways: Seen<Gateway>,
    http_routes: Seen<HttpRoute>,
    grpc_routes: Seen<GrpcRoute>,
    reference_grants: Seen<ReferenceGrant>,
    namespaces: Seen<Namespace>,
}

impl SeenSet {
    /// What changed since the last set.
    pub fn observe(&mut self, objects: &ObjectSet) -> Changes {
        let mut changes = self
            .ingresses
            .observe_all(objects.ingresses.iter().map(AsRef::as_ref));
        changes.merge(
            self.classes
                .observe_all(objects.classes.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.services
                .observe_all(objects.services.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.endpoint_slices
                .observe_all(objects.endpoint_slices.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.secrets
                .observe_all(objects.secrets.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.config_maps
                .observe_all(objects.config_maps.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.gateways
                .observe_all(objects.gateways.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.http_routes
                .observe_all(objects.http_routes.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.grpc_routes
                .observe_all(objects.grpc_routes.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.reference_grants
                .observe_all(objects.reference_grants.iter().map(AsRef::as_ref)),
        );
        changes.merge(
            self.namespaces
                .observe_all(objects.namespaces.iter().map(AsRef::as_ref)),
        );
        changes
    }
}

#[cfg(test)]
mod tests;
