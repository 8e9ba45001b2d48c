//! The listeners of a Gateway: what each is, whether Sluice can serve it, and the inputs of
//! its status (`Accepted`, `ResolvedRefs`, `Conflicted`, `OverlappingTLSConfig`,
//! `supportedKinds`; `Programmed` is added by [`super::status`], which also knows whether
//! the fleet is ready).
//!
//! A listener is judged in this order:
//! 1. its protocol: one of the `protocols` Sluice is told to serve, else `Accepted: False,
//!    UnsupportedProtocol` and no supported kinds (the rest is not read);
//! 2. the values it uses: a hostname Sluice cannot read, `HTTPS` with TLS passthrough, or a
//!    namespace selector Kubernetes would refuse (or none, with `from: Selector`) give
//!    `Accepted: False, UnsupportedValue`;
//! 3. conflicts with the other listeners on its port ([`super::conflicts`]):
//!    `Conflicted: True` and `Accepted: False` with `HostnameConflict` or `ProtocolConflict`;
//! 4. its references, for `ResolvedRefs`: the route kinds of `allowedRoutes.kinds` (those
//!    its protocol cannot carry are dropped from `supportedKinds` and give
//!    `InvalidRouteKinds`) and, when it terminates TLS, its certificates
//!    ([`super::certificates`]: `RefNotPermitted` or `InvalidCertificateRef`). With several
//!    problems the reason is the first one's (certificates before kinds, in the order
//!    written) and the message lists them all.
//!
//! Sluice serves a listener only when it is both `Accepted` and `ResolvedRefs`
//! ([`ListenerState::is_served`]), and `Programmed` says the same: a listener missing a
//! certificate, or naming a route kind it cannot carry, is not served half-way.

use std::collections::BTreeMap;

use super::AttachError;
use super::certificates::{self, SecretKey, SecretLookup};
use super::conditions::Outcome;
use super::conflicts::{self, Slot};
use super::grants::ReferenceGrants;
use super::hostnames::describe;
use super::reasons::{kind, listener, protocol};
use super::route::RouteKind;
use super::selector::LabelSelector;
use crate::gateway_api::GROUP;
use crate::gateway_api::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom, GatewayListenersTlsMode,
};
use crate::ingress::HostMatch;

/// A Gateway: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GatewayKey {
    pub namespace: String,
    pub name: String,
}

/// How a listener handles TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Sluice terminates TLS with the listener's certificates.
    Terminate,
    /// Sluice passes the TLS stream on, routing by SNI.
    Passthrough,
}

/// The namespaces whose routes may attach to a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedNamespaces {
    /// The Gateway's own (the default).
    Same,
    All,
    /// Those whose labels the selector selects.
    Selector(LabelSelector),
    /// None: the selector could not be used (the listener is not accepted either).
    Nothing,
}

impl AllowedNamespaces {
    /// Whether a route in `route_namespace`, labelled `labels`, may attach to a listener of
    /// a Gateway in `gateway_namespace`.
    pub fn allows(
        &self,
        gateway_namespace: &str,
        route_namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        match self {
            Self::Same => gateway_namespace == route_namespace,
            Self::All => true,
            Self::Selector(selector) => selector.matches(labels),
            Self::Nothing => false,
        }
    }
}

/// One listener, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerState {
    pub name: String,
    pub port: i32,
    /// As written (`HTTP`, `HTTPS`, `TLS`, or one Sluice does not serve).
    pub protocol: String,
    /// `None` for `HTTP` (and for protocols Sluice does not serve).
    pub tls_mode: Option<TlsMode>,
    /// [`HostMatch::Any`] when it has none (or one Sluice cannot read).
    pub hostname: HostMatch,
    pub allowed_namespaces: AllowedNamespaces,
    /// The route kinds it takes (`supportedKinds`), in the order written.
    pub kinds: Vec<RouteKind>,
    /// The certificates it serves, when it terminates TLS.
    pub certificates: Vec<SecretKey>,
    pub accepted: Outcome,
    pub resolved_refs: Outcome,
    pub conflicted: Outcome,
    /// `OverlappingTLSConfig: True`, when its TLS hostname overlaps another listener's.
    pub overlapping_tls: Option<Outcome>,
}

impl ListenerState {
    /// Whether Sluice serves it: accepted, with every reference resolved.
    pub fn is_served(&self) -> bool {
        self.accepted.is_true() && self.resolved_refs.is_true()
    }

    /// Whether a route of `kind` in `route_namespace` (labelled `labels`) may attach to it,
    /// for a Gateway in `gateway_namespace`.
    pub fn allows(
        &self,
        kind: RouteKind,
        gateway_namespace: &str,
        route_namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        self.kinds.contains(&kind)
            && self
                .allowed_namespaces
                .allows(gateway_namespace, route_namespace, labels)
    }
}

/// A Gateway of Sluice's, its listeners judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayState {
    pub key: GatewayKey,
    /// `metadata.generation`, for `observedGeneration`.
    pub generation: Option<i64>,
    /// In the order of `spec.listeners`.
    pub listeners: Vec<ListenerState>,
}

/// The route kinds a protocol can carry, when Sluice knows it. GRPCRoute joins HTTP and
/// HTTPS once the proxy serves it: a listener lists only kinds that are served.
pub fn protocol_kinds(protocol: &str) -> Option<&'static [RouteKind]> {
    match protocol {
        protocol::HTTP | protocol::HTTPS => Some(&[RouteKind::Http, RouteKind::Grpc]),
        protocol::TLS => Some(&[RouteKind::Tls]),
        _ => None,
    }
}

/// Judges the listeners of `gateway`. `protocols`: those Sluice serves (normally
/// [`super::reasons::SUPPORTED_PROTOCOLS`]); a protocol must also be one Sluice knows
/// ([`protocol_kinds`]). `grants` and `secrets` resolve certificate references.
pub fn gateway_state(
    gateway: &Gateway,
    protocols: &[&str],
    grants: &ReferenceGrants,
    secrets: &impl SecretLookup,
) -> Result<GatewayState, AttachError> {
    let missing = |field| AttachError::Missing {
        kind: kind::GATEWAY,
        field,
    };
    let namespace = gateway
        .metadata
        .namespace
        .clone()
        .ok_or(missing("namespace"))?;
    let name = gateway.metadata.name.clone().ok_or(missing("name"))?;
    let read: Vec<Read> = gateway
        .spec
        .listeners
        .iter()
        .map(|l| read(&namespace, l, protocols, grants, secrets))
        .collect();
    let slots: Vec<Option<Slot<'_>>> = read.iter().map(Read::slot).collect();
    let findings = conflicts::find(&slots);
    let listeners = read
        .into_iter()
        .zip(findings)
        .map(|(read, found)| read.finish(found))
        .collect();
    Ok(GatewayState {
        key: GatewayKey { namespace, name },
        generation: gateway.metadata.generation,
        listeners,
    })
}

/// A listener read, before conflicts are known.
struct Read {
    state: ListenerState,
    /// Why it cannot be accepted, whatever the other listeners are.
    refused: Option<Outcome>,
}

impl Read {
    /// What conflict detection needs, if Sluice would serve this listener.
    fn slot(&self) -> Option<Slot<'_>> {
        if self.refused.is_some() {
            return None;
        }
        let s = &self.state;
        Some(Slot {
            name: &s.name,
            port: s.port,
            protocol: &s.protocol,
            passthrough: s.tls_mode == Some(TlsMode::Passthrough),
            hostname: &s.hostname,
            terminates_tls: s.tls_mode == Some(TlsMode::Terminate),
        })
    }

    fn finish(self, found: conflicts::Findings) -> ListenerState {
        let mut state = self.state;
        state.accepted = match (self.refused, &found.conflict) {
            (Some(refused), _) => refused,
            (None, Some(conflict)) => Outcome::no(conflict.reason, conflict.message.clone()),
            (None, None) => Outcome::yes(listener::ACCEPTED, "Listener is valid"),
        };
        state.conflicted = found.conflict.unwrap_or_else(|| {
            Outcome::no(listener::NO_CONFLICTS, "No conflict with another listener")
        });
        state.overlapping_tls = (!found.overlapping.is_empty()).then(|| {
            Outcome::yes(
                listener::OVERLAPPING_HOSTNAMES,
                format!(
                    "hostname {} overlaps that of {} on port {}, which also terminates TLS",
                    describe(&state.hostname),
                    found.overlapping.join(", "),
                    state.port
                ),
            )
        });
        state
    }
}

fn read(
    gateway_namespace: &str,
    spec: &GatewayListeners,
    protocols: &[&str],
    grants: &ReferenceGrants,
    secrets: &impl SecretLookup,
) -> Read {
    let mut state = ListenerState {
        name: spec.name.clone(),
        port: spec.port,
        protocol: spec.protocol.clone(),
        tls_mode: None,
        hostname: HostMatch::Any,
        allowed_namespaces: AllowedNamespaces::Same,
        kinds: Vec::new(),
        certificates: Vec::new(),
        // Accepted and Conflicted are settled by `Read::finish`.
        accepted: Outcome::yes(listener::ACCEPTED, ""),
        resolved_refs: Outcome::yes(listener::RESOLVED_REFS, "All references are resolved"),
        conflicted: Outcome::no(listener::NO_CONFLICTS, ""),
        overlapping_tls: None,
    };
    let carried =
        protocol_kinds(&spec.protocol).filter(|_| protocols.contains(&spec.protocol.as_str()));
    let Some(carried) = carried else {
        let refused = Outcome::no(
            listener::UNSUPPORTED_PROTOCOL,
            format!(
                "protocol {:?} is not supported; Sluice serves {}",
                spec.protocol,
                protocols.join(", ")
            ),
        );
        state.resolved_refs = Outcome::yes(
            listener::RESOLVED_REFS,
            "No references checked: the protocol is not supported",
        );
        return Read {
            state,
            refused: Some(refused),
        };
    };

    let mut unsupported: Vec<String> = Vec::new();
    match HostMatch::parse(spec.hostname.as_deref()) {
        Ok(h) => state.hostname = h,
        Err(e) => unsupported.push(format!("hostname: {e}")),
    }
    state.tls_mode = tls_mode(spec);
    if spec.protocol == protocol::HTTPS && state.tls_mode == Some(TlsMode::Passthrough) {
        unsupported
            .push("an HTTPS listener terminates TLS; use protocol TLS to pass it through".into());
    }
    match allowed_namespaces(spec) {
        Ok(allowed) => state.allowed_namespaces = allowed,
        Err(e) => {
            state.allowed_namespaces = AllowedNamespaces::Nothing;
            unsupported.push(e);
        }
    }
    resolve_references(
        &mut state,
        spec,
        carried,
        gateway_namespace,
        grants,
        secrets,
    );

    let refused = (!unsupported.is_empty())
        .then(|| Outcome::no(listener::UNSUPPORTED_VALUE, unsupported.join("; ")));
    Read { state, refused }
}

/// How a listener of a protocol Sluice knows handles TLS: not at all for `HTTP`, else its
/// `tls.mode` (`Terminate` by default).
fn tls_mode(spec: &GatewayListeners) -> Option<TlsMode> {
    if spec.protocol == protocol::HTTP {
        return None;
    }
    match spec.tls.as_ref().and_then(|t| t.mode.as_ref()) {
        Some(GatewayListenersTlsMode::Passthrough) => Some(TlsMode::Passthrough),
        Some(GatewayListenersTlsMode::Terminate) | None => Some(TlsMode::Terminate),
    }
}

/// Resolves the listener's certificates (when it terminates TLS) and route kinds into
/// `state`, with its `ResolvedRefs` condition.
fn resolve_references(
    state: &mut ListenerState,
    spec: &GatewayListeners,
    carried: &[RouteKind],
    gateway_namespace: &str,
    grants: &ReferenceGrants,
    secrets: &impl SecretLookup,
) {
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    if state.tls_mode == Some(TlsMode::Terminate) {
        let refs = spec
            .tls
            .as_ref()
            .and_then(|t| t.certificate_refs.as_deref())
            .unwrap_or_default();
        let resolved = certificates::resolve(gateway_namespace, refs, grants, secrets);
        state.certificates = resolved.usable;
        problems.extend(
            resolved
                .problems
                .iter()
                .map(|p| (p.reason(), p.to_string())),
        );
    }
    let (kinds, invalid) = route_kinds(spec, carried);
    state.kinds = kinds;
    if !invalid.is_empty() {
        problems.push((
            listener::INVALID_ROUTE_KINDS,
            format!(
                "route kinds {} cannot attach to a {} listener",
                invalid.join(", "),
                spec.protocol
            ),
        ));
    }
    if let Some((reason, _)) = problems.first() {
        let message = problems
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        state.resolved_refs = Outcome::no(reason, message);
    }
}

/// `allowedRoutes.namespaces`, read; an error says why it cannot be used.
fn allowed_namespaces(spec: &GatewayListeners) -> Result<AllowedNamespaces, String> {
    let Some(namespaces) = spec
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
    else {
        return Ok(AllowedNamespaces::Same);
    };
    match namespaces.from {
        None | Some(GatewayListenersAllowedRoutesNamespacesFrom::Same) => {
            Ok(AllowedNamespaces::Same)
        }
        Some(GatewayListenersAllowedRoutesNamespacesFrom::All) => Ok(AllowedNamespaces::All),
        Some(GatewayListenersAllowedRoutesNamespacesFrom::Selector) => {
            let selector = namespaces.selector.as_ref().ok_or_else(|| {
                "allowedRoutes.namespaces: from: Selector needs a selector".to_string()
            })?;
            LabelSelector::parse(selector)
                .map(AllowedNamespaces::Selector)
                .map_err(|e| format!("allowedRoutes.namespaces.selector: {e}"))
        }
    }
}

/// The kinds of `allowedRoutes.kinds` that a listener carrying `carried` can take (all of
/// `carried` when none is written), without repeats, and the others as `group/kind`.
fn route_kinds(spec: &GatewayListeners, carried: &[RouteKind]) -> (Vec<RouteKind>, Vec<String>) {
    let written = spec
        .allowed_routes
        .as_ref()
        .and_then(|a| a.kinds.as_deref())
        .unwrap_or_default();
    if written.is_empty() {
        return (carried.to_vec(), Vec::new());
    }
    let mut kinds = Vec::new();
    let mut invalid = Vec::new();
    for k in written {
        // A RouteGroupKind's group defaults to Gateway API's.
        let group = k.group.as_deref().unwrap_or(GROUP);
        match RouteKind::from_group_kind(group, &k.kind).filter(|rk| carried.contains(rk)) {
            Some(rk) if !kinds.contains(&rk) => kinds.push(rk),
            Some(_) => {}
            None => invalid.push(format!("{group}/{}", k.kind)),
        }
    }
    (kinds, invalid)
}

#[cfg(test)]
mod tests;
