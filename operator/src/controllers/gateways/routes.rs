//! The routes that name a Gateway: judged ([`super::compute`]), attached to Sluice's
//! Gateways, counted per listener, and their `status.parents` written where it differs.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_crds::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use sluice_crds::gateway::attach::{
    AttachedRoutes, CertificateState, GatewayKey, GatewayState, ReferenceGrants,
    listeners::gateway_state,
};
use sluice_crds::gateway_api::grpcroutes::GrpcRoute;
use sluice_crds::gateway_api::httproutes::HttpRoute;

use super::Context;
use super::compute::{self, JudgedRoute};
use super::index::RouteRefs;
use super::lookups::{grants, namespace_labels, service_port};
use super::status_writes::{now, patch_route_status};

/// The judged state of every Gateway of Sluice's, for attaching routes; `this` stands for
/// the Gateway being served (its certificates were read), `None` removes it (it is going).
/// Certificates do not change which listeners a route attaches to, so the others are
/// judged without reading theirs.
fn gateway_states(
    key: &GatewayKey,
    this: Option<&GatewayState>,
    grants: &ReferenceGrants,
    ctx: &Context,
) -> BTreeMap<GatewayKey, GatewayState> {
    let valid = |_: &str, _: &str| CertificateState::Valid;
    let mut states: BTreeMap<GatewayKey, GatewayState> = ctx
        .gateways
        .state()
        .iter()
        .filter(|g| g.metadata.deletion_timestamp.is_none() && ctx.class_of(g).is_some())
        .filter_map(|g| gateway_state(g, SUPPORTED_PROTOCOLS, grants, &valid).ok())
        .map(|s| (s.key.clone(), s))
        .collect();
    match this {
        Some(state) => states.insert(key.clone(), state.clone()),
        None => states.remove(key),
    };
    states
}

/// The routes that name `key` (or still hold a status entry of ours for it), judged.
fn routes_of(key: &GatewayKey, grants: &ReferenceGrants, ctx: &Context) -> Vec<RoutePair> {
    let controller = &ctx.settings.gateway_controller;
    let services = |ns: &str, name: &str, port: i32| service_port(&ctx.services, ns, name, port);
    let mut out = Vec::new();
    for route in ctx.http_routes.state() {
        if RouteRefs::of_http(&route, controller)
            .gateways
            .contains(key)
            && let Some(judged) = compute::judge_http(&route, grants, &services)
        {
            out.push(RoutePair::Http(route, judged));
        }
    }
    for route in ctx.grpc_routes.state() {
        if RouteRefs::of_grpc(&route, controller)
            .gateways
            .contains(key)
            && let Some(judged) = compute::judge_grpc(&route, grants, &services)
        {
            out.push(RoutePair::Grpc(route, judged));
        }
    }
    out
}

enum RoutePair {
    Http(Arc<HttpRoute>, JudgedRoute),
    Grpc(Arc<GrpcRoute>, JudgedRoute),
}

impl RoutePair {
    fn judged(&self) -> &JudgedRoute {
        match self {
            Self::Http(_, j) | Self::Grpc(_, j) => j,
        }
    }
}

/// How many routes are attached to each listener of `key`.
pub(super) fn attached_routes(
    key: &GatewayKey,
    this: Option<&GatewayState>,
    ctx: &Context,
) -> AttachedRoutes {
    let grants = grants(ctx);
    let states = gateway_states(key, this, &grants, ctx);
    let labels = namespace_labels(ctx);
    let routes = routes_of(key, &grants, ctx);
    AttachedRoutes::new(
        routes
            .iter()
            .map(|r| compute::attach(r.judged(), &states, &labels))
            .collect::<Vec<_>>()
            .iter(),
    )
}

/// Writes the `status.parents` of every route that names `key`, where it differs;
/// returns how many were written.
pub(super) async fn write_routes(
    key: &GatewayKey,
    this: Option<&GatewayState>,
    ctx: &Context,
) -> Result<usize, kube::Error> {
    let grants = grants(ctx);
    let states = gateway_states(key, this, &grants, ctx);
    let labels = namespace_labels(ctx);
    let controller = &ctx.settings.gateway_controller;
    let now = now();
    let mut written = 0;
    for pair in routes_of(key, &grants, ctx) {
        let attachments = compute::attach(pair.judged(), &states, &labels);
        match &pair {
            RoutePair::Http(route, judged) => {
                let existing = route.status.as_ref().map_or(&[][..], |s| &s.parents[..]);
                if let Some(parents) =
                    compute::route_parents(judged, &attachments, existing, controller, &now)
                {
                    written += usize::from(
                        patch_route_status(&ctx.client, route.as_ref(), parents).await?,
                    );
                }
            }
            RoutePair::Grpc(route, judged) => {
                let existing = route.status.as_ref().map_or(&[][..], |s| &s.parents[..]);
                if let Some(parents) =
                    compute::route_parents(judged, &attachments, existing, controller, &now)
                {
                    written += usize::from(
                        patch_route_status(&ctx.client, route.as_ref(), parents).await?,
                    );
                }
            }
        }
    }
    Ok(written)
}
