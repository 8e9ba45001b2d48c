//! The Gateway controller's decisions, pure: which ports a Gateway's fleet serves (and
//! which listeners lose theirs to a collision), whether the fleet is ready, where the
//! Gateway is reachable, and the status of the Gateway and of each route attached to it.
//! The judging itself is [`sluice_crds::gateway::attach`]'s; this module feeds it and
//! shapes what comes out.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::gateway::attach::backends::{self, BackendRef};
use sluice_crds::gateway::attach::conditions::{self, Outcome};
use sluice_crds::gateway::attach::reasons::{self, condition, listener, protocol};
use sluice_crds::gateway::attach::status::{
    RouteParentStatus, gateway_conditions, listener_statuses, route_parent_statuses,
};
use sluice_crds::gateway::attach::{
    AttachedRoutes, GatewayKey, GatewayState, Readiness, ReferenceGrants, Route, RouteAttachments,
    ServiceLookup, parents,
};
use sluice_crds::gateway::ports::{GatewayPort, PortError, PortProtocol, fleet_ports};
use sluice_crds::gateway_api::gateways::{GatewayStatus, GatewayStatusAddresses};
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;

/// The ports a Gateway's fleet serves: one per port of its served listeners. A listener
/// whose port cannot be served (its container port is the admin port's, or another
/// port's) is no longer served: `Accepted: False, PortUnavailable`.
pub fn serve_ports(state: &mut GatewayState) -> Vec<GatewayPort> {
    let wanted = state
        .listeners
        .iter()
        .filter(|l| l.is_served())
        .filter_map(|l| Some((u16::try_from(l.port).ok()?, port_protocol(&l.protocol)?)));
    let (ports, errors) = fleet_ports(wanted);
    for error in errors {
        let PortError::Collision { port, .. } = &error else {
            continue;
        };
        for l in state
            .listeners
            .iter_mut()
            .filter(|l| l.port == i32::from(*port) && l.is_served())
        {
            l.accepted = Outcome::no(listener::PORT_UNAVAILABLE, error.to_string());
        }
    }
    ports
}

fn port_protocol(p: &str) -> Option<PortProtocol> {
    match p {
        protocol::HTTP => Some(PortProtocol::Http),
        protocol::HTTPS => Some(PortProtocol::Https),
        _ => None,
    }
}

/// Where a Gateway answers: a LoadBalancer Service's ingress addresses, else (ClusterIP,
/// NodePort) its cluster IP, where every listener port answers. A node port is not the
/// listener's port, so node addresses are not the Gateway's.
pub fn addresses(service: Option<&Service>) -> Vec<GatewayStatusAddresses> {
    let Some(service) = service else {
        return Vec::new();
    };
    let spec = service.spec.as_ref();
    let address = |type_: &str, value: &str| GatewayStatusAddresses {
        r#type: Some(type_.to_string()),
        value: value.to_string(),
    };
    if spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer") {
        return service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| match (&i.ip, &i.hostname) {
                (Some(ip), _) => Some(address("IPAddress", ip)),
                (None, Some(host)) => Some(address("Hostname", host)),
                (None, None) => None,
            })
            .collect();
    }
    spec.and_then(|s| s.cluster_ip.as_deref())
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .map(|ip| vec![address("IPAddress", ip)])
        .unwrap_or_default()
}

/// Ready when every replica the fleet's Deployment asks for is available and the Gateway
/// has an address; else why not.
pub fn readiness(
    deployment: Option<&Deployment>,
    addresses: &[GatewayStatusAddresses],
) -> Readiness {
    let Some(d) = deployment else {
        return Readiness::Pending("The proxy Deployment is not created yet".into());
    };
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = d
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    if wanted == 0 || available < wanted {
        return Readiness::Pending(format!(
            "{available} of {wanted} proxy replicas are available"
        ));
    }
    if addresses.is_empty() {
        return Readiness::Pending("The Gateway has no address yet".into());
    }
    Readiness::Ready
}

/// What a Gateway's spec decides beyond its listeners ([`super::parameters`],
/// [`super::addresses`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// `Accepted: False` for the whole Gateway (its fleet is then left as it is).
    pub refused: Option<Outcome>,
    /// `Programmed: False`: it lacks an address it asked for.
    pub unprogrammed: Option<Outcome>,
}

/// The status of a Gateway: its conditions, listeners and addresses.
pub fn gateway_status(
    state: &GatewayState,
    attached: &AttachedRoutes,
    readiness: &Readiness,
    addresses: Vec<GatewayStatusAddresses>,
    verdict: &Verdict,
    previous: Option<&GatewayStatus>,
    now: &Time,
) -> GatewayStatus {
    let before = previous
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut conditions = gateway_conditions(state, readiness, before, now);
    let not_accepted;
    let overrides = match &verdict.refused {
        Some(refused) => {
            not_accepted = Outcome::no(
                reasons::gateway::INVALID,
                format!("The Gateway is not accepted: {}", refused.message),
            );
            vec![
                (condition::ACCEPTED, refused),
                (condition::PROGRAMMED, &not_accepted),
            ]
        }
        None => verdict
            .unprogrammed
            .iter()
            .map(|o| (condition::PROGRAMMED, o))
            .collect(),
    };
    for (type_, outcome) in overrides {
        let wanted = conditions::condition(type_, outcome, state.generation, before, now);
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => *c = wanted,
            None => conditions.push(wanted),
        }
    }
    GatewayStatus {
        addresses: (!addresses.is_empty()).then_some(addresses),
        // Sluice serves no ListenerSet; the field stays the API server's.
        attached_listener_sets: previous.and_then(|s| s.attached_listener_sets),
        conditions: Some(conditions),
        listeners: Some(listener_statuses(state, attached, readiness, previous, now)),
    }
}

/// A route of either kind, read for attachment, with its backends' `ResolvedRefs`.
#[derive(Clone, Debug)]
pub struct JudgedRoute {
    pub route: Route,
    pub resolved_refs: Outcome,
}

/// Reads an HTTPRoute and resolves its backends; `None` for one the API server would
/// never return (no name or namespace).
pub fn judge_http(
    route: &HttpRoute,
    grants: &ReferenceGrants,
    services: &impl ServiceLookup,
) -> Option<JudgedRoute> {
    let read = Route::from_http(route).ok()?;
    // A mirror's backendRef is a reference too: one that cannot be used is in ResolvedRefs.
    let refs = route.spec.rules.iter().flatten().map(|rule| {
        let filters = rule.filters.as_deref().unwrap_or_default();
        rule.backend_refs
            .iter()
            .flatten()
            .map(BackendRef::from)
            .chain(backends::mirrors(filters).into_iter().map(|m| m.backend))
            .collect::<Vec<_>>()
    });
    Some(judge(read, refs, grants, services))
}

/// [`judge_http`] for a GRPCRoute.
pub fn judge_grpc(
    route: &GrpcRoute,
    grants: &ReferenceGrants,
    services: &impl ServiceLookup,
) -> Option<JudgedRoute> {
    let read = Route::from_grpc(route).ok()?;
    let refs = route.spec.rules.iter().flatten().map(|rule| {
        rule.backend_refs
            .iter()
            .flatten()
            .map(BackendRef::from)
            .collect::<Vec<_>>()
    });
    Some(judge(read, refs, grants, services))
}

fn judge(
    route: Route,
    rules: impl Iterator<Item = Vec<BackendRef>>,
    grants: &ReferenceGrants,
    services: &impl ServiceLookup,
) -> JudgedRoute {
    let backends: Vec<_> = rules
        .flat_map(|refs| backends::resolve(&route.id, &refs, grants, services))
        .collect();
    JudgedRoute {
        resolved_refs: backends::resolved_refs(&backends),
        route,
    }
}

/// Attaches `route` to Sluice's `gateways`.
pub fn attach(
    route: &JudgedRoute,
    gateways: &BTreeMap<GatewayKey, GatewayState>,
    namespace_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> RouteAttachments {
    let none = BTreeMap::new();
    let labels = namespace_labels
        .get(&route.route.id.namespace)
        .unwrap_or(&none);
    parents::attach(&route.route, gateways, labels)
}

/// A route's `status.parents` as it should be, or `None` when it already is.
pub fn route_parents<P: RouteParentStatus + Clone + PartialEq>(
    route: &JudgedRoute,
    attachments: &RouteAttachments,
    existing: &[P],
    controller: &str,
    now: &Time,
) -> Option<Vec<P>> {
    let wanted = route_parent_statuses(
        attachments,
        &route.resolved_refs,
        route.route.generation,
        existing,
        controller,
        now,
    );
    (wanted != existing).then_some(wanted)
}

#[cfg(test)]
mod tests;
