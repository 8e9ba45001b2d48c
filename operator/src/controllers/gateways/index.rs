//! Which Gateways an object's change concerns, so that a change reconciles only those
//! (a Service edited in one namespace does not reconcile every Gateway). Pure functions
//! over what the controller's caches hold.

use std::collections::BTreeSet;

use sluice_crds::gateway::attach::GatewayKey;
use sluice_crds::gateway::attach::reasons::{CORE_GROUP, kind};
use sluice_crds::gateway::attach::route::ParentRef;
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;

use super::parameters::gateway_params_name;
use crate::controllers::gateway_classes::params_name;
use crate::desired::gateway::gateway_label;

/// A Gateway's key, if it has a name and namespace.
pub fn key_of(gateway: &Gateway) -> Option<GatewayKey> {
    Some(GatewayKey {
        namespace: gateway.metadata.namespace.clone()?,
        name: gateway.metadata.name.clone()?,
    })
}

/// What the index needs of a route of either kind.
#[derive(Clone, Debug, Default)]
pub struct RouteRefs {
    pub namespace: String,
    /// The Gateways it names in `parentRefs`, and those whose status entry of ours it
    /// still holds (so that removing a parentRef reaches the Gateway it left).
    pub gateways: BTreeSet<GatewayKey>,
    /// The Services its backendRefs name: `(namespace, name)`.
    pub services: BTreeSet<(String, String)>,
}

impl RouteRefs {
    pub fn of_http(route: &HttpRoute, controller: &str) -> Self {
        let namespace = route.metadata.namespace.clone().unwrap_or_default();
        let parents = route.spec.parent_refs.iter().flatten().map(ParentRef::from);
        let ours = route
            .status
            .iter()
            .flat_map(|s| &s.parents)
            .filter(|p| p.controller_name == controller)
            .map(|p| ParentRef::from(&p.parent_ref));
        let backends = route
            .spec
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.backend_refs.iter().flatten())
            .map(|b| {
                (
                    b.group.as_deref(),
                    b.kind.as_deref(),
                    b.namespace.as_deref(),
                    &b.name,
                )
            });
        Self::new(namespace, parents.chain(ours), backends)
    }

    pub fn of_grpc(route: &GrpcRoute, controller: &str) -> Self {
        let namespace = route.metadata.namespace.clone().unwrap_or_default();
        let parents = route.spec.parent_refs.iter().flatten().map(ParentRef::from);
        let ours = route
            .status
            .iter()
            .flat_map(|s| &s.parents)
            .filter(|p| p.controller_name == controller)
            .map(|p| ParentRef::from(&p.parent_ref));
        let backends = route
            .spec
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.backend_refs.iter().flatten())
            .map(|b| {
                (
                    b.group.as_deref(),
                    b.kind.as_deref(),
                    b.namespace.as_deref(),
                    &b.name,
                )
            });
        Self::new(namespace, parents.chain(ours), backends)
    }

    fn new<'a>(
        namespace: String,
        parents: impl Iterator<Item = ParentRef>,
        backends: impl Iterator<
            Item = (
                Option<&'a str>,
                Option<&'a str>,
                Option<&'a str>,
                &'a String,
            ),
        >,
    ) -> Self {
        let gateways = parents
            .filter(ParentRef::is_gateway)
            .map(|p| GatewayKey {
                namespace: p.namespace(&namespace).to_string(),
                name: p.name.clone(),
            })
            .collect();
        let services = backends
            .filter(|(group, kind_, ..)| {
                group.unwrap_or(CORE_GROUP) == CORE_GROUP
                    && kind_.unwrap_or(kind::SERVICE) == kind::SERVICE
            })
            .map(|(_, _, ns, name)| (ns.unwrap_or(&namespace).to_string(), name.clone()))
            .collect();
        Self {
            namespace,
            gateways,
            services,
        }
    }
}

/// The Secrets a Gateway's listeners name: `(namespace, name)`.
pub fn certificate_refs(gateway: &Gateway) -> BTreeSet<(String, String)> {
    let namespace = gateway.metadata.namespace.clone().unwrap_or_default();
    gateway
        .spec
        .listeners
        .iter()
        .filter_map(|l| l.tls.as_ref()?.certificate_refs.as_ref())
        .flatten()
        .filter(|r| {
            r.group.as_deref().unwrap_or(CORE_GROUP) == CORE_GROUP
                && r.kind.as_deref().unwrap_or(kind::SECRET) == kind::SECRET
        })
        .map(|r| {
            (
                r.namespace.clone().unwrap_or_else(|| namespace.clone()),
                r.name.clone(),
            )
        })
        .collect()
}

/// The Gateways of `class`.
pub fn of_class(class: &str, gateways: &[impl AsRef<Gateway>]) -> Vec<GatewayKey> {
    gateways
        .iter()
        .map(AsRef::as_ref)
        .filter(|g| g.spec.gateway_class_name == class)
        .filter_map(key_of)
        .collect()
}

/// The Gateways whose fleet is built from the IngressClassParams `name`: those whose
/// `infrastructure.parametersRef` names it, and those without one whose class does.
pub fn of_params(
    name: &str,
    gateways: &[impl AsRef<Gateway>],
    classes: &[impl AsRef<GatewayClass>],
) -> Vec<GatewayKey> {
    let class_params = |class: &str| {
        classes
            .iter()
            .map(AsRef::as_ref)
            .find(|c| c.metadata.name.as_deref() == Some(class))
            .and_then(params_name)
    };
    gateways
        .iter()
        .map(AsRef::as_ref)
        .filter(|g| match gateway_params_name(g) {
            Ok(Some(own)) => own == name,
            // An invalid reference is not the class's: only its fix matters.
            Err(_) => false,
            Ok(None) => class_params(&g.spec.gateway_class_name) == Some(name),
        })
        .filter_map(key_of)
        .collect()
}

/// The Gateways whose listeners name the Secret `namespace/name`.
pub fn of_secret(namespace: &str, name: &str, gateways: &[impl AsRef<Gateway>]) -> Vec<GatewayKey> {
    let wanted = (namespace.to_string(), name.to_string());
    gateways
        .iter()
        .map(AsRef::as_ref)
        .filter(|g| certificate_refs(g).contains(&wanted))
        .filter_map(key_of)
        .collect()
}

/// The Gateways of routes whose backends include the Service `namespace/name`.
pub fn of_service(namespace: &str, name: &str, routes: &[RouteRefs]) -> BTreeSet<GatewayKey> {
    let wanted = (namespace.to_string(), name.to_string());
    routes
        .iter()
        .filter(|r| r.services.contains(&wanted))
        .flat_map(|r| r.gateways.iter().cloned())
        .collect()
}

/// The Gateways of routes in `namespace`: its labels decide which listeners allow them.
pub fn of_namespace(namespace: &str, routes: &[RouteRefs]) -> BTreeSet<GatewayKey> {
    routes
        .iter()
        .filter(|r| r.namespace == namespace)
        .flat_map(|r| r.gateways.iter().cloned())
        .collect()
}

/// The Gateways a ReferenceGrant in `namespace` may concern: those that name Secrets in
/// it, and those of routes that name Services in it.
pub fn of_grant(
    namespace: &str,
    gateways: &[impl AsRef<Gateway>],
    routes: &[RouteRefs],
) -> BTreeSet<GatewayKey> {
    let certificates = gateways
        .iter()
        .map(AsRef::as_ref)
        .filter(|g| certificate_refs(g).iter().any(|(ns, _)| ns == namespace))
        .filter_map(key_of);
    let backends = routes
        .iter()
        .filter(|r| r.services.iter().any(|(ns, _)| ns == namespace))
        .flat_map(|r| r.gateways.iter().cloned());
    certificates.chain(backends).collect()
}

/// The Gateway whose fleet an object labelled [`sluice_crds::names::labels::GATEWAY`]
/// `value` belongs to.
pub fn of_fleet_label(value: &str, gateways: &[impl AsRef<Gateway>]) -> Vec<GatewayKey> {
    gateways
        .iter()
        .filter_map(|g| key_of(g.as_ref()))
        .filter(|k| gateway_label(k) == value)
        .collect()
}

#[cfg(test)]
mod tests;
