//! The judged state turned into the status the API holds: a Gateway's conditions and
//! listener statuses, and a route's parent statuses. Conditions come from
//! [`super::conditions`], so computing them again from the same state gives the same
//! objects, and the operator writes only what changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::conditions::{Outcome, conditions};
use super::listeners::{GatewayState, ListenerState};
use super::parents::{AttachedRoutes, RouteAttachments};
use super::reasons::{condition, gateway, listener};
use super::route::ParentRef;
use crate::gateway_api::GROUP;
use crate::gateway_api::gateways::{
    GatewayStatus, GatewayStatusListeners, GatewayStatusListenersSupportedKinds,
};
use crate::gateway_api::grpcroutes::GrpcRouteStatusParents;
use crate::gateway_api::httproutes::HttpRouteStatusParents;

/// The most parents a route's status may list (the API's limit).
pub const MAX_ROUTE_PARENTS: usize = 32;

/// Whether the proxy fleet behind a Gateway is up: known to the operator, not to this
/// module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet (no ready proxy, no address); why.
    Pending(String),
}

/// A listener's `Programmed` condition: `False` with its conflict reason when conflicted,
/// `Invalid` when not accepted or not every reference is resolved (Sluice does not serve
/// it), `Pending` while the fleet is not ready, else `True`.
pub fn listener_programmed(l: &ListenerState, readiness: &Readiness) -> Outcome {
    if l.conflicted.is_true() {
        return Outcome::no(l.conflicted.reason, l.conflicted.message.clone());
    }
    if !l.accepted.is_true() {
        return Outcome::no(listener::INVALID, "The listener is not accepted");
    }
    if !l.resolved_refs.is_true() {
        return Outcome::no(
            listener::INVALID,
            "The listener has references that are not resolved",
        );
    }
    match readiness {
        Readiness::Ready => Outcome::yes(listener::PROGRAMMED, "Listener is programmed"),
        Readiness::Pending(why) => Outcome::no(listener::PENDING, why.clone()),
    }
}

/// The `status.listeners` of a Gateway, in the order of its listeners. `previous`: its
/// status now, whose condition times are kept where nothing moved.
pub fn listener_statuses(
    state: &GatewayState,
    attached: &AttachedRoutes,
    readiness: &Readiness,
    previous: Option<&GatewayStatus>,
    now: &Time,
) -> Vec<GatewayStatusListeners> {
    state
        .listeners
        .iter()
        .map(|l| {
            let before = previous
                .and_then(|s| s.listeners.as_ref())
                .and_then(|ls| ls.iter().find(|p| p.name == l.name))
                .map_or(&[][..], |p| p.conditions.as_slice());
            let programmed = listener_programmed(l, readiness);
            let mut wanted = vec![
                (condition::ACCEPTED, &l.accepted),
                (condition::PROGRAMMED, &programmed),
                (condition::RESOLVED_REFS, &l.resolved_refs),
                (condition::CONFLICTED, &l.conflicted),
            ];
            if let Some(overlap) = &l.overlapping_tls {
                wanted.push((condition::OVERLAPPING_TLS_CONFIG, overlap));
            }
            GatewayStatusListeners {
                attached_routes: attached.count(&state.key, &l.name),
                conditions: conditions(wanted, state.generation, before, now),
                name: l.name.clone(),
                supported_kinds: Some(
                    l.kinds
                        .iter()
                        .map(|k| GatewayStatusListenersSupportedKinds {
                            group: Some(GROUP.to_string()),
                            kind: k.kind().to_string(),
                        })
                        .collect(),
                ),
            }
        })
        .collect()
}

/// A Gateway's `Accepted` and `Programmed` conditions.
///
/// `Accepted`: `True` when every listener is; `True, ListenersNotValid` when only some are
/// (Sluice serves the valid ones, which the spec allows); `False, ListenersNotValid` when
/// none is. `Programmed`: `False, Invalid` when no listener is served, `Pending` while the
/// fleet is not ready, else `True`.
pub fn gateway_conditions(
    state: &GatewayState,
    readiness: &Readiness,
    previous: &[Condition],
    now: &Time,
) -> Vec<Condition> {
    let refused: Vec<&str> = state
        .listeners
        .iter()
        .filter(|l| !l.accepted.is_true())
        .map(|l| l.name.as_str())
        .collect();
    let valid = state.listeners.len() - refused.len();
    let accepted = if refused.is_empty() {
        Outcome::yes(gateway::ACCEPTED, "Gateway is accepted")
    } else {
        let message = format!("listener(s) {} are not valid", refused.join(", "));
        if valid > 0 {
            Outcome::yes(gateway::LISTENERS_NOT_VALID, message)
        } else {
            Outcome::no(gateway::LISTENERS_NOT_VALID, message)
        }
    };
    let programmed = if !state.listeners.iter().any(ListenerState::is_served) {
        Outcome::no(gateway::INVALID, "No listener can be served")
    } else {
        match readiness {
            Readiness::Ready => Outcome::yes(gateway::PROGRAMMED, "Gateway is programmed"),
            Readiness::Pending(why) => Outcome::no(gateway::PENDING, why.clone()),
        }
    };
    conditions(
        [
            (condition::ACCEPTED, &accepted),
            (condition::PROGRAMMED, &programmed),
        ],
        state.generation,
        previous,
        now,
    )
}

/// An entry of a route's `status.parents`; implemented for HTTPRoute's and GRPCRoute's.
pub trait RouteParentStatus: Sized {
    fn controller_name(&self) -> &str;
    fn conditions(&self) -> &[Condition];
    fn parent_ref(&self) -> ParentRef;
    fn new(parent_ref: &ParentRef, controller: &str, conditions: Vec<Condition>) -> Self;
}

impl RouteParentStatus for HttpRouteStatusParents {
    fn controller_name(&self) -> &str {
        &self.controller_name
    }
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn parent_ref(&self) -> ParentRef {
        ParentRef::from(&self.parent_ref)
    }
    fn new(parent_ref: &ParentRef, controller: &str, conditions: Vec<Condition>) -> Self {
        Self {
            conditions,
            controller_name: controller.to_string(),
            parent_ref: parent_ref.into(),
        }
    }
}

impl RouteParentStatus for GrpcRouteStatusParents {
    fn controller_name(&self) -> &str {
        &self.controller_name
    }
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn parent_ref(&self) -> ParentRef {
        ParentRef::from(&self.parent_ref)
    }
    fn new(parent_ref: &ParentRef, controller: &str, conditions: Vec<Condition>) -> Self {
        Self {
            conditions,
            controller_name: controller.to_string(),
            parent_ref: parent_ref.into(),
        }
    }
}

/// A route's `status.parents`: the entries of other controllers as they are, then one
/// entry of `controller`'s per attachment (`Accepted`, `ResolvedRefs`, and
/// `PartiallyInvalid` when rules were dropped), at most [`MAX_ROUTE_PARENTS`] in all.
/// Entries of `controller`'s for parents that are no longer Sluice's are dropped.
/// `resolved_refs`: from [`super::backends::resolved_refs`], the same for every parent;
/// `generation`: the route's.
pub fn route_parent_statuses<P: RouteParentStatus + Clone>(
    attachments: &RouteAttachments,
    resolved_refs: &Outcome,
    generation: Option<i64>,
    existing: &[P],
    controller: &str,
    now: &Time,
) -> Vec<P> {
    let mut out: Vec<P> = existing
        .iter()
        .filter(|p| p.controller_name() != controller)
        .cloned()
        .collect();
    for parent in &attachments.parents {
        let before = existing
            .iter()
            .find(|p| {
                p.controller_name() == controller && p.parent_ref().same_as(&parent.parent_ref)
            })
            .map_or(&[][..], |p| p.conditions());
        let mut wanted = vec![
            (condition::ACCEPTED, &parent.accepted),
            (condition::RESOLVED_REFS, resolved_refs),
        ];
        if let Some(partial) = &parent.partially_invalid {
            wanted.push((condition::PARTIALLY_INVALID, partial));
        }
        let conditions = conditions(wanted, generation, before, now);
        out.push(P::new(&parent.parent_ref, controller, conditions));
    }
    out.truncate(MAX_ROUTE_PARENTS);
    out
}

#[cfg(test)]
mod tests;
