//! What attaching asks of the cluster beyond the Gateway API objects, answered from the
//! object set: does a Secret hold a usable certificate, what is a Service's port, what are
//! a namespace's labels.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use k8s_openapi::api::core::v1::{Secret, Service};
use sluice_crds::gateway::attach::{CertificateState, ServicePort};

use crate::compile::tls::certified_key;
use crate::objects::{ObjectSet, named};

/// The objects by `(namespace, name)`.
pub struct Lookups<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    secrets: HashMap<(&'a str, &'a str), &'a Secret>,
    labels: HashMap<&'a str, &'a BTreeMap<String, String>>,
    /// Every Service asked about, found or not ([`named`]): whether a backend is usable is
    /// decided at compile time, so a change to one of them must recompile.
    services_read: RefCell<BTreeSet<String>>,
    /// The Services asked about that exist, by their own `(namespace, name)`: named into
    /// `services_read` once, at the end, rather than at every question.
    services_found: RefCell<HashSet<(&'a str, &'a str)>>,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Lookups<'a> {
    pub fn new(objects: &'a ObjectSet) -> Self {
        let key = |meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            Some((meta.namespace.as_deref()?, meta.name.as_deref()?))
        };
        Self {
            services: objects
                .services
                .iter()
                .filter_map(|s| Some((key(&s.metadata)?, s.as_ref())))
                .collect(),
            secrets: objects
                .secrets
                .iter()
                .filter_map(|s| Some((key(&s.metadata)?, s.as_ref())))
                .collect(),
            labels: objects
                .namespaces
                .iter()
                .filter_map(|n| Some((n.metadata.name.as_deref()?, n.metadata.labels.as_ref()?)))
                .collect(),
            services_read: RefCell::default(),
            services_found: RefCell::default(),
        }
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&'a Secret> {
        self.secrets.get(&(namespace, name)).copied()
    }

    /// For [`sluice_crds::gateway::attach::SecretLookup`].
    pub fn certificate(&self, namespace: &str, name: &str) -> CertificateState {
        match self.secret(namespace, name) {
            None => CertificateState::Missing,
            Some(secret) => match certified_key(&format!("{namespace}/{name}"), secret) {
                Ok(_) => CertificateState::Valid,
                Err(e) => CertificateState::Invalid(e.to_string()),
            },
        }
    }

    /// For [`sluice_crds::gateway::attach::ServiceLookup`].
    pub fn service_port(&self, namespace: &str, name: &str, port: i32) -> ServicePort {
        let Some(&service) = self.services.get(&(namespace, name)) else {
            self.services_read
                .borrow_mut()
                .insert(named("Service", &format!("{namespace}/{name}")));
            return ServicePort::NoService;
        };
        // The same names, borrowed from the Service (found by them).
        let meta = &service.metadata;
        if let (Some(namespace), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) {
            self.services_found.borrow_mut().insert((namespace, name));
        }
        let spec = service.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return ServicePort::ExternalName;
        }
        let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
        match ports.iter().find(|p| p.port == port) {
            Some(p) => ServicePort::Found {
                app_protocol: p.app_protocol.clone(),
            },
            None => ServicePort::NoPort,
        }
    }

    /// The Services asked about so far, as the table's `reads`.
    pub fn services_read(&self) -> BTreeSet<String> {
        let mut read = self.services_read.take();
        read.extend(
            self.services_found
                .take()
                .into_iter()
                .map(|(namespace, name)| named("Service", &format!("{namespace}/{name}"))),
        );
        read
    }

    /// A namespace's labels (none when it is not known).
    pub fn labels(&self, namespace: &str) -> &'a BTreeMap<String, String> {
        self.labels.get(namespace).copied().unwrap_or(&NO_LABELS)
    }
}
