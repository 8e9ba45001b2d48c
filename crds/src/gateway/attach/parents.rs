//! Which listeners a route attaches to, with which hostnames, and the `Accepted` condition
//! of each of its parents.
//!
//! For each entry of the route's `parentRefs` that names a Gateway of Sluice's (another
//! controller's Gateway, or a parent that is not a Gateway, gets no entry at all: its
//! status is not Sluice's to write; the same entry written twice is judged once):
//! 1. a route hostname Sluice cannot read: `UnsupportedValue`;
//! 2. the listeners the entry selects: all of them, or those with its `sectionName` and/or
//!    `port` (both must match when both are set). None: `NoMatchingParent`;
//! 3. of those, the ones that allow the route: its kind among their supported kinds and its
//!    namespace among their allowed namespaces. None: `NotAllowedByListeners`;
//! 4. of those, the ones whose hostname intersects the route's ([`super::hostnames`]).
//!    None: `NoMatchingListenerHostname`. The route attaches to each of these, with the
//!    intersected hostnames;
//! 5. its rules: when the caller found every rule invalid, nothing can be served:
//!    `UnsupportedValue`; when some, the route is accepted and `PartiallyInvalid` (message
//!    "Dropped Rule...", as the spec requires) says which were dropped.
//!
//! Attachment does not depend on the listeners' own conditions: the spec counts a route
//! attached to a listener that is not accepted (its `attachedRoutes` too). Whether a
//! listener is served is [`super::listeners::ListenerState::is_served`].

use std::collections::{BTreeMap, BTreeSet};

use super::conditions::Outcome;
use super::hostnames::{describe, intersect};
use super::listeners::{GatewayKey, GatewayState, ListenerState};
use super::reasons::route as reason;
use super::route::{ParentRef, Route, RouteId};
use crate::ingress::HostMatch;

/// A listener a route is attached to, and the hostnames it serves there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerAttachment {
    pub listener: String,
    pub port: i32,
    /// Never empty; `[HostMatch::Any]` when neither the listener nor the route has a
    /// hostname.
    pub hostnames: Vec<HostMatch>,
}

/// A route's standing with one of its parents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentAttachment {
    /// The entry of `parentRefs`, as written (status repeats it).
    pub parent_ref: ParentRef,
    pub gateway: GatewayKey,
    pub accepted: Outcome,
    /// `PartiallyInvalid: True`, when some rules were dropped.
    pub partially_invalid: Option<Outcome>,
    /// The listeners it is attached to, in the Gateway's order; empty unless accepted.
    pub listeners: Vec<ListenerAttachment>,
}

/// Every parent of a route that is one of Sluice's Gateways, in `parentRefs` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteAttachments {
    pub route: RouteId,
    pub parents: Vec<ParentAttachment>,
}

/// Attaches `route` to Sluice's `gateways`. `namespace_labels`: the labels of the route's
/// namespace, for listeners that select namespaces by label.
pub fn attach(
    route: &Route,
    gateways: &BTreeMap<GatewayKey, GatewayState>,
    namespace_labels: &BTreeMap<String, String>,
) -> RouteAttachments {
    let hostnames = route_hostnames(route);
    let parents = gateway_parents(route, gateways)
        .map(|(parent, gateway)| judge(route, &hostnames, parent, gateway, namespace_labels))
        .collect();
    RouteAttachments {
        route: route.id.clone(),
        parents,
    }
}

/// The listeners `route` is attached to through the parents that accept it, in the order
/// of [`attach`]'s `parents` and of their `listeners`: what serving reads of [`attach`],
/// found by the same rules, without the conditions and their messages.
pub fn accepted_listeners(
    route: &Route,
    gateways: &BTreeMap<GatewayKey, GatewayState>,
    namespace_labels: &BTreeMap<String, String>,
) -> Vec<ListenerAttachment> {
    let hostnames = route_hostnames(route);
    let mut accepted = Vec::new();
    for (parent, gateway) in gateway_parents(route, gateways) {
        if let Verdict::Accepted(listeners) =
            verdict(route, &hostnames, parent, gateway, namespace_labels)
        {
            accepted.extend(listeners);
        }
    }
    accepted
}

/// The route's hostnames, or why one cannot be read.
fn route_hostnames(route: &Route) -> Result<Vec<HostMatch>, String> {
    route
        .hostnames
        .iter()
        .map(|h| HostMatch::parse(Some(h)).map_err(|e| format!("hostname {h:?}: {e}")))
        .collect()
}

/// Each entry of the route's `parentRefs` that names one of `gateways` (the same entry
/// written twice once), with that Gateway.
fn gateway_parents<'r, 'g>(
    route: &'r Route,
    gateways: &'g BTreeMap<GatewayKey, GatewayState>,
) -> impl Iterator<Item = (&'r ParentRef, &'g GatewayState)> {
    let refs = &route.parent_refs;
    refs.iter().enumerate().filter_map(move |(at, parent)| {
        // Judged already: an equal entry before it (a Gateway too, so judged then).
        if !parent.is_gateway() || refs[..at].contains(parent) {
            return None;
        }
        let namespace = parent.namespace(&route.id.namespace);
        // The one Gateway a proxy serves, found without building a key.
        let gateway = match gateways.iter().next() {
            Some((key, gateway)) if gateways.len() == 1 => {
                (key.namespace == namespace && key.name == parent.name).then_some(gateway)
            }
            _ => gateways.get(&GatewayKey {
                namespace: namespace.to_string(),
                name: parent.name.clone(),
            }),
        }?;
        Some((parent, gateway))
    })
}

/// Whether a parent accepts a route, and on which listeners; or why not.
enum Verdict<'a> {
    Accepted(Vec<ListenerAttachment>),
    /// A route hostname Sluice cannot read: the message.
    BadHostname(&'a str),
    /// No listener selected.
    NoMatchingParent,
    /// None of the selected listeners allows the route.
    NotAllowed,
    /// None of those that allow it shares a hostname with it.
    NoMatchingHostname(Vec<&'a ListenerState>),
    /// Every rule was dropped.
    NoRule,
}

fn verdict<'a>(
    route: &Route,
    hostnames: &'a Result<Vec<HostMatch>, String>,
    parent: &ParentRef,
    gateway: &'a GatewayState,
    labels: &BTreeMap<String, String>,
) -> Verdict<'a> {
    let hostnames = match hostnames {
        Ok(h) => h,
        Err(message) => return Verdict::BadHostname(message),
    };

    // The listeners the entry selects, and of those the ones that allow the route: walked
    // again where needed rather than collected (a route usually has one of each).
    let selects = |l: &&ListenerState| {
        parent.section_name.as_deref().is_none_or(|s| s == l.name)
            && parent.port.is_none_or(|p| p == l.port)
    };
    if !gateway.listeners.iter().any(|l| selects(&l)) {
        return Verdict::NoMatchingParent;
    }

    let kind = route.id.kind;
    let allowing = || {
        gateway
            .listeners
            .iter()
            .filter(selects)
            .filter(|l| l.allows(kind, &gateway.key.namespace, &route.id.namespace, labels))
    };
    if allowing().next().is_none() {
        return Verdict::NotAllowed;
    }

    let listeners: Vec<ListenerAttachment> = allowing()
        .filter_map(|l| {
            intersect(&l.hostname, hostnames).map(|served| ListenerAttachment {
                listener: l.name.clone(),
                port: l.port,
                hostnames: served,
            })
        })
        .collect();
    if listeners.is_empty() {
        return Verdict::NoMatchingHostname(allowing().collect());
    }

    if route.rule_count > 0
        && !route.invalid_rules.is_empty()
        && dropped(route).len() == route.rule_count
    {
        return Verdict::NoRule;
    }
    Verdict::Accepted(listeners)
}

/// The rules of `route` that were dropped, by index, and why.
fn dropped(route: &Route) -> BTreeMap<usize, &str> {
    route
        .invalid_rules
        .iter()
        .filter(|r| r.index < route.rule_count)
        .map(|r| (r.index, r.message.as_str()))
        .collect()
}

fn judge(
    route: &Route,
    hostnames: &Result<Vec<HostMatch>, String>,
    parent: &ParentRef,
    gateway: &GatewayState,
    labels: &BTreeMap<String, String>,
) -> ParentAttachment {
    let refused = |reason, message: String| ParentAttachment {
        parent_ref: parent.clone(),
        gateway: gateway.key.clone(),
        accepted: Outcome::no(reason, message),
        partially_invalid: None,
        listeners: Vec::new(),
    };
    let gw = format!("Gateway {}/{}", gateway.key.namespace, gateway.key.name);
    let dropped = dropped(route);
    let why = || {
        dropped
            .iter()
            .map(|(i, m)| format!("rule {i}: {m}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let listeners = match verdict(route, hostnames, parent, gateway, labels) {
        Verdict::Accepted(listeners) => listeners,
        Verdict::BadHostname(message) => {
            return refused(reason::UNSUPPORTED_VALUE, message.to_string());
        }
        Verdict::NoMatchingParent => {
            return refused(
                reason::NO_MATCHING_PARENT,
                format!("{gw} has no listener {}", selection(parent)),
            );
        }
        Verdict::NotAllowed => {
            return refused(
                reason::NOT_ALLOWED_BY_LISTENERS,
                format!(
                    "no listener of {gw} {} allows {}s from namespace {}",
                    selection(parent),
                    route.id.kind.kind(),
                    route.id.namespace
                ),
            );
        }
        Verdict::NoMatchingHostname(allowing) => {
            let theirs: Vec<String> = allowing.iter().map(|l| describe(&l.hostname)).collect();
            // Only reached with hostnames that could be read.
            let ours: Vec<String> = hostnames.iter().flatten().map(describe).collect();
            return refused(
                reason::NO_MATCHING_LISTENER_HOSTNAME,
                format!(
                    "no hostname of the route ({}) matches the hostname of a listener of {gw} that allows it ({})",
                    ours.join(", "),
                    theirs.join(", ")
                ),
            );
        }
        Verdict::NoRule => {
            return refused(
                reason::UNSUPPORTED_VALUE,
                format!("no rule can be served: {}", why()),
            );
        }
    };

    let partially_invalid = (!dropped.is_empty()).then(|| {
        let indices: Vec<String> = dropped.keys().map(usize::to_string).collect();
        Outcome::yes(
            reason::UNSUPPORTED_VALUE,
            format!("Dropped Rule(s) {}: {}", indices.join(", "), why()),
        )
    });
    let names: Vec<&str> = listeners.iter().map(|l| l.listener.as_str()).collect();
    ParentAttachment {
        parent_ref: parent.clone(),
        gateway: gateway.key.clone(),
        accepted: Outcome::yes(
            reason::ACCEPTED,
            format!("Attached to listener(s) {} of {gw}", names.join(", ")),
        ),
        partially_invalid,
        listeners,
    }
}

/// Which listeners a parentRef selects, for messages.
fn selection(parent: &ParentRef) -> String {
    match (&parent.section_name, parent.port) {
        (Some(name), Some(port)) => format!("named {name:?} on port {port}"),
        (Some(name), None) => format!("named {name:?}"),
        (None, Some(port)) => format!("on port {port}"),
        (None, None) => "at all".to_string(),
    }
}

/// How many routes are attached to each listener (`attachedRoutes`): those accepted there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachedRoutes {
    counts: BTreeMap<GatewayKey, BTreeMap<String, i32>>,
}

impl AttachedRoutes {
    /// Counts the attachments of every route; give each route once.
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a RouteAttachments>) -> Self {
        let mut counts = Self::default();
        for route in routes {
            counts.add(route);
        }
        counts
    }

    /// Counts one route: once per listener, even when several of its parentRefs lead there.
    pub fn add(&mut self, route: &RouteAttachments) {
        let listeners: BTreeSet<(&GatewayKey, &str)> = route
            .parents
            .iter()
            .filter(|p| p.accepted.is_true())
            .flat_map(|p| {
                p.listeners
                    .iter()
                    .map(|l| (&p.gateway, l.listener.as_str()))
            })
            .collect();
        for (gateway, listener) in listeners {
            let count = self
                .counts
                .entry(gateway.clone())
                .or_default()
                .entry(listener.to_string())
                .or_default();
            *count = count.saturating_add(1);
        }
    }

    /// The routes attached to `listener` of `gateway`.
    pub fn count(&self, gateway: &GatewayKey, listener: &str) -> i32 {
        self.counts
            .get(gateway)
            .and_then(|l| l.get(listener))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
