//! One reconcile of a Gateway: the finalizer that keeps it until its fleet is gone, then
//! its fleet, its routes' status and its own. The reconcile's span and metrics are kept
//! here too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer};
use sluice_crds::gateway::attach::reasons::{self, SUPPORTED_PROTOCOLS};
use sluice_crds::gateway::attach::{
    CertificateState, GatewayKey, Outcome, listeners::gateway_state,
};
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::params::ServiceType;
use tracing::Instrument;

use super::compute::Verdict;
use super::fleet::{apply_fleet, delete_fleet, live_fleet};
use super::index::key_of;
use super::lookups::{certificates, grants, params};
use super::routes::{attached_routes, write_routes};
use super::status_writes::{now, patch_gateway_status};
use super::{Context, Error, FINALIZER, addresses, compute};
use crate::controllers::stores::is_ready;
use crate::desired::gateway::{Infrastructure, desired_gateway, with_infrastructure};

pub(super) fn error_policy(gateway: Arc<Gateway>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(
        gateway.namespace = %gateway.namespace().unwrap_or_default(),
        gateway.name = %gateway.name_any(),
        %error,
        "reconcile failed; retrying"
    );
    ctx.metrics.errors.inc();
    Action::requeue(Duration::from_secs(10))
}

/// What a reconcile did, for its span.
#[derive(Default)]
struct Done {
    fleet_changes: usize,
    routes_written: usize,
    status_written: bool,
}

pub(super) async fn reconcile(gateway: Arc<Gateway>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        object = "Gateway",
        gateway.namespace = %gateway.namespace().unwrap_or_default(),
        gateway.name = %gateway.name_any(),
        outcome = tracing::field::Empty,
        fleet_changes = tracing::field::Empty,
        routes_written = tracing::field::Empty,
        status_written = tracing::field::Empty,
    );
    let result = reconcile_gateway(gateway, &ctx)
        .instrument(span.clone())
        .await;
    ctx.metrics.reconciles.inc();
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok((action, done)) => {
            span.record("outcome", "ok");
            span.record("fleet_changes", done.fleet_changes);
            span.record("routes_written", done.routes_written);
            span.record("status_written", done.status_written);
            Ok(action)
        }
        Err(error) => {
            span.record("outcome", tracing::field::display(&error));
            Err(error)
        }
    }
}

async fn reconcile_gateway(gateway: Arc<Gateway>, ctx: &Context) -> Result<(Action, Done), Error> {
    let Some(key) = key_of(&gateway) else {
        return Ok((Action::await_change(), Done::default()));
    };
    // The caches fill as the controller runs; judging against a half-filled one would
    // write a wrong status. Checked, not awaited (`stores`).
    let ready = is_ready(&ctx.classes)
        && is_ready(&ctx.http_routes)
        && is_ready(&ctx.grpc_routes)
        && is_ready(&ctx.grants)
        && is_ready(&ctx.namespaces)
        && is_ready(&ctx.services);
    if !ready {
        return Ok((Action::requeue(Duration::from_secs(1)), Done::default()));
    }
    let api: Api<Gateway> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let has_finalizer = gateway.finalizers().iter().any(|f| f == FINALIZER);
    let class = ctx.class_of(&gateway);
    if class.is_none() && !has_finalizer {
        return Ok((Action::await_change(), Done::default()));
    }
    let object = match &class {
        Some(_) => gateway,
        // No longer Sluice's: cleaned up as if deleted (the finalizer helper then removes
        // the finalizer, and the Gateway is left to whoever serves it now).
        None => {
            let mut leaving = (*gateway).clone();
            leaving.metadata.deletion_timestamp.get_or_insert_with(now);
            Arc::new(leaving)
        }
    };
    let mut done = Done::default();
    let action = finalizer(&api, FINALIZER, object, |event| async {
        match event {
            finalizer::Event::Apply(gateway) => {
                let class = class.ok_or_else(|| Error::Parameters {
                    class: gateway.spec.gateway_class_name.clone(),
                    message: "no longer an accepted class of Sluice's".into(),
                })?;
                done = serve(&gateway, &key, &class, ctx).await?;
                Ok(Action::requeue(Duration::from_secs(300)))
            }
            finalizer::Event::Cleanup(_) => {
                done.fleet_changes = delete_fleet(&key, ctx).await?;
                done.routes_written = write_routes(&key, None, ctx).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    Ok((action, done))
}

/// Serves a Gateway of Sluice's: its fleet, its routes' status and its own.
async fn serve(
    gateway: &Gateway,
    key: &GatewayKey,
    class: &GatewayClass,
    ctx: &Context,
) -> Result<Done, Error> {
    let grants = grants(ctx);
    let certificates = certificates(gateway, &ctx.client).await?;
    let lookup = |ns: &str, name: &str| {
        certificates
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or(CertificateState::Missing)
    };
    let mut state = gateway_state(gateway, SUPPORTED_PROTOCOLS, &grants, &lookup)?;
    let ports = compute::serve_ports(&mut state);
    let mut done = Done {
        routes_written: write_routes(key, Some(&state), ctx).await?,
        ..Default::default()
    };
    let attached = attached_routes(key, Some(&state), ctx);

    // What the spec asks beyond the listeners. A Gateway refused for it keeps its fleet
    // as it is: a typo in a reference must not take down what serves.
    let requested = addresses::requested(gateway);
    let params = params(gateway, class, ctx).await?;
    let refused = match (&params, &requested) {
        (Err(why), _) => Some(Outcome::no(
            reasons::gateway::INVALID_PARAMETERS,
            why.clone(),
        )),
        (Ok(_), Err(unsupported)) => Some(unsupported.clone()),
        (Ok(_), Ok(_)) => None,
    };
    let wanted = requested.unwrap_or_default();
    let (deployment, service) = match params {
        Err(_) => live_fleet(key, ctx).await?,
        Ok(_) if refused.is_some() => live_fleet(key, ctx).await?,
        Ok(_) if ports.is_empty() => {
            // Nothing to serve: no fleet (a Service needs a port).
            done.fleet_changes = delete_fleet(key, ctx).await?;
            (None, None)
        }
        Ok(mut params) => {
            if params.service.type_ == ServiceType::LoadBalancer
                && let Some(ip) = addresses::load_balancer_ip(&wanted)
            {
                params.service.load_balancer_ip = Some(ip);
            }
            let fleet = with_infrastructure(
                desired_gateway(key, class, &ports, &params, &ctx.settings.fleet),
                &Infrastructure::of(gateway),
            );
            let (deployment, service, changes) = apply_fleet(key, fleet, &params, ctx).await?;
            done.fleet_changes = changes;
            (Some(deployment), Some(service))
        }
    };
    let assigned = compute::addresses(service.as_ref());
    let readiness = compute::readiness(deployment.as_ref(), &assigned);
    let verdict = Verdict {
        refused,
        unprogrammed: addresses::check(&wanted, &assigned),
    };
    let status = compute::gateway_status(
        &state,
        &attached,
        &readiness,
        assigned,
        &verdict,
        gateway.status.as_ref(),
        &now(),
    );
    if gateway.status.as_ref() != Some(&status) {
        patch_gateway_status(&ctx.client, key, &status).await?;
        done.status_written = true;
    }
    Ok(done)
}
