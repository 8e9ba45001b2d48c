//! Which Ingresses a change to something else affects, and which part of those other
//! objects matters at all. A change that cannot alter an Ingress's status reconciles
//! nothing; one that can reconciles only the Ingresses of the classes it concerns.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use sluice_common::changes::{Summary, fingerprint};
use sluice_crds::ingress::OurClasses;
use sluice_crds::ingress::class::requested_class;
use sluice_crds::names::DEFAULT_CLASS_ANNOTATION;
use sluice_crds::params::{IngressClassParams, referenced_params};

use super::addresses::{addresses_of_node, service_addresses};
use super::secrets::named_tls_secrets;
use crate::desired::fleet_name;

/// What of an IngressClass decides which Ingresses are ours and where they are reached.
pub fn class_summary(class: &IngressClass) -> Summary<String> {
    let default = class
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION));
    let print = fingerprint(&(
        class.spec.as_ref().and_then(|s| s.controller.as_deref()),
        referenced_params(class),
        default,
    ));
    (print, class.name_any())
}

/// The params' spec (its status is the fleet controller's business).
pub fn params_summary(params: &IngressClassParams) -> Summary<String> {
    (fingerprint(&params.spec), params.name_any())
}

/// A fleet Service matters for where it makes the fleet reachable only.
pub fn service_summary(service: &Service) -> Summary<String> {
    (fingerprint(&service_addresses(service)), service.name_any())
}

/// A Node matters for the addresses it contributes only (not its heartbeats).
pub fn node_summary(node: &Node) -> Summary<String> {
    (fingerprint(&addresses_of_node(node)), node.name_any())
}

/// A TLS Secret matters for whether it exists: its `namespace/name`.
pub fn secret_summary(secret: &PartialObjectMeta<Secret>) -> Summary<String> {
    let key = format!(
        "{}/{}",
        secret.namespace().unwrap_or_default(),
        secret.name_any()
    );
    (fingerprint(&key), key)
}

/// The Ingresses whose `spec.tls` names one of `secrets` (`namespace/name`).
pub fn ingresses_naming_secrets(
    ingresses: &[Arc<Ingress>],
    secrets: &[String],
) -> Vec<ObjectRef<Ingress>> {
    ingresses
        .iter()
        .filter(|i| named_tls_secrets(i).iter().any(|s| secrets.contains(s)))
        .map(|i| ObjectRef::from_obj(i.as_ref()))
        .collect()
}

/// The Ingresses that name `class`, or name none (and so may fall to it as the default).
pub fn ingresses_naming(ingresses: &[Arc<Ingress>], class: &str) -> Vec<ObjectRef<Ingress>> {
    ingresses
        .iter()
        .filter(|i| requested_class(i).is_none_or(|c| c == class))
        .map(|i| ObjectRef::from_obj(i.as_ref()))
        .collect()
}

/// The classes whose parameters are `params`.
pub fn classes_using<'a>(classes: &'a [Arc<IngressClass>], params: &str) -> Vec<&'a str> {
    classes
        .iter()
        .filter(|c| referenced_params(c) == Some(params))
        .filter_map(|c| c.metadata.name.as_deref())
        .collect()
}

/// The class whose fleet Service is `service`.
pub fn class_of_service<'a>(classes: &'a [Arc<IngressClass>], service: &str) -> Option<&'a str> {
    classes
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .find(|name| fleet_name(name) == service)
}

/// Every Ingress of this operator's classes (a Node change can move all of them).
pub fn ingresses_of_ours(
    controller: &str,
    ingresses: &[Arc<Ingress>],
    classes: &[Arc<IngressClass>],
) -> Vec<ObjectRef<Ingress>> {
    let ours = OurClasses::from_classes(controller, classes.iter().map(|c| c.as_ref()));
    ingresses
        .iter()
        .filter(|i| ours.class_of(i).is_some())
        .map(|i| ObjectRef::from_obj(i.as_ref()))
        .collect()
}
