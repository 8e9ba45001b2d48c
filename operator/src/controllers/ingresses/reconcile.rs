//! One Ingress's reconcile: publish where it is reachable if the live object doesn't say
//! so already, and announce rules around it that lost to an older Ingress and TLS Secrets
//! it names that do not exist.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use sluice_crds::ingress::OurClasses;
use sluice_crds::params::IngressClassParams;
use sluice_webhook::index::{Index, IngressId};
use tracing::Instrument;

use super::addresses::{Sources, StatusChange, class_addresses, status_body, status_change};
use super::conflicts::{Announced, Lost, losses_around};
use super::secrets::{AnnouncedMissing, named_tls_secrets};
use crate::controllers::metrics::ControllerMetrics;
use crate::controllers::stores::is_ready as ready;

/// What every reconcile reads: the stores the watches keep, the conflict index, and what
/// was announced.
pub struct Context {
    pub client: Client,
    /// The `spec.controller` of the classes this operator serves.
    pub controller: String,
    /// The field manager of this installation's status writes.
    pub status_manager: String,
    pub recorder: Recorder,
    pub metrics: ControllerMetrics,
    pub ingresses: Store<Ingress>,
    pub classes: Store<IngressClass>,
    pub params: Store<IngressClassParams>,
    pub services: Store<Service>,
    pub nodes: Store<Node>,
    /// TLS Secrets, metadata only: which exist.
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub index: Arc<RwLock<Index>>,
    pub announced: Arc<Mutex<Announced>>,
    pub announced_missing: Arc<Mutex<AnnouncedMissing>>,
}

impl Context {
    /// Whether every store holds a full list: deciding on a partial view (no Nodes yet, say)
    /// would write an address only to write it back a moment later.
    fn ready(&self) -> bool {
        ready(&self.ingresses)
            && ready(&self.classes)
            && ready(&self.params)
            && ready(&self.services)
            && ready(&self.nodes)
            && ready(&self.secrets)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of Ingress {ingress}: {source}")]
    Status {
        ingress: String,
        #[source]
        source: kube::Error,
    },
}

pub async fn reconcile(ingress: Arc<Ingress>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.ready() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let started = Instant::now();
    let namespace = ingress.namespace().unwrap_or_default();
    let name = ingress.name_any();
    let span = tracing::info_span!(
        "reconcile",
        object = %format_args!("Ingress/{namespace}/{name}"),
        wrote = tracing::field::Empty,
        announced = tracing::field::Empty,
    );
    let result = reconcile_ingress(&ingress, &namespace, &name, &ctx)
        .instrument(span.clone())
        .await;
    ctx.metrics.ingress_reconciles.inc();
    ctx.metrics
        .ingress_duration
        .observe(started.elapsed().as_secs_f64());
    let (wrote, announced) = result?;
    span.record("wrote", wrote);
    span.record("announced", announced);
    Ok(Action::await_change())
}

pub fn error_policy(ingress: Arc<Ingress>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(ingress = %ObjectRef::from_obj(ingress.as_ref()), %error, "reconcile failed; retrying");
    ctx.metrics.errors.inc();
    Action::requeue(Duration::from_secs(5))
}

/// Returns whether the status was written and how many losses were announced.
async fn reconcile_ingress(
    ingress: &Ingress,
    namespace: &str,
    name: &str,
    ctx: &Context,
) -> Result<(bool, usize), Error> {
    let classes = ctx.classes.state();
    let ours = OurClasses::from_classes(&ctx.controller, classes.iter().map(|c| c.as_ref()));
    let class = ours.class_of(ingress);
    let desired = class.map(|class| {
        class_addresses(
            &Sources {
                classes: &classes,
                params: &ctx.params.state(),
                services: &ctx.services.state(),
                nodes: &ctx.nodes.state(),
            },
            class,
        )
    });

    let wrote = match status_change(ingress, desired, &ctx.status_manager) {
        Some(change) => {
            write_status(ctx, namespace, name, &change).await?;
            true
        }
        None => false,
    };

    let announced = match class {
        Some(class) => {
            let losses = {
                let index = ctx.index.read().unwrap_or_else(|e| e.into_inner());
                losses_around(&index, class, ingress)
            };
            let id = (namespace.to_string(), name.to_string());
            let fresh = ctx
                .announced
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .fresh(&id, losses);
            for lost in &fresh {
                announce(ctx, lost).await;
            }
            fresh.len() + announce_missing_secrets(ctx, ingress, id).await
        }
        None => 0,
    };
    Ok((wrote, announced))
}

/// Announces the TLS Secrets `ingress` names that do not exist and were not missing at its
/// last reconcile; returns how many.
async fn announce_missing_secrets(ctx: &Context, ingress: &Ingress, id: IngressId) -> usize {
    let missing = named_tls_secrets(ingress)
        .into_iter()
        .filter(|key| {
            let (namespace, name) = key.split_once('/').unwrap_or_default();
            ctx.secrets
                .get(&ObjectRef::new(name).within(namespace))
                .is_none()
        })
        .collect();
    let fresh = ctx
        .announced_missing
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .fresh(&id, missing);
    for secret in &fresh {
        let event = Event {
            type_: EventType::Warning,
            reason: "TLSSecretMissing".into(),
            note: Some(format!(
                "TLS Secret {secret} does not exist: its hosts are served over HTTPS with the default certificate, and plain HTTP is not redirected to HTTPS, until it does"
            )),
            action: "Serve".into(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &ingress.object_ref(&())).await {
            tracing::debug!(%error, "could not record an Event");
        }
    }
    fresh.len()
}

async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    change: &StatusChange,
) -> Result<(), Error> {
    let api: Api<Ingress> = Api::namespaced(ctx.client.clone(), namespace);
    api.patch_status(
        name,
        &PatchParams::apply(&ctx.status_manager).force(),
        &Patch::Apply(&status_body(change)),
    )
    .await
    .map_err(|source| Error::Status {
        ingress: format!("{namespace}/{name}"),
        source,
    })?;
    ctx.metrics.ingress_status_updates.inc();
    match change {
        StatusChange::Publish(addresses) => {
            tracing::info!(?addresses, "published the address")
        }
        StatusChange::Release => {
            tracing::info!("took back the address: the Ingress left Sluice's classes")
        }
    }
    Ok(())
}

/// A Warning Event on the Ingress whose rule lost. Best effort: Events are advice.
async fn announce(ctx: &Context, lost: &Lost) {
    let reference = ObjectRef::<Ingress>::new(&lost.loser.1).within(&lost.loser.0);
    let Some(loser) = ctx.ingresses.get(&reference) else {
        return;
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "RuleConflict".into(),
        note: Some(format!(
            "{} is also claimed by Ingress {}, which takes precedence (the older Ingress wins; equal ages go by namespace/name) and is served; this rule is not",
            lost.key, lost.winner
        )),
        action: "Route".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &loser.object_ref(&())).await {
        tracing::debug!(%error, "could not record an Event");
    }
}
