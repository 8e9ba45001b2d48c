//! The fleet controller: each IngressClass of Sluice's → its proxy fleet, applied with
//! server-side apply, and the status of its IngressClassParams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use sluice_crds::names::{FIELD_MANAGER, GROUP, labels};
use sluice_crds::params::{IngressClassParams, IngressClassParamsSpec, referenced_params};
use tracing::Instrument;

use super::apply::{Applied, apply};
use super::metrics::ControllerMetrics;
use super::status::{Observed, Rollout, status};
use crate::desired::{Fleet, FleetSettings, Workload, declared_replicas, desired, fleet_name};

struct Context {
    client: Client,
    settings: FleetSettings,
    proxy_image: Option<String>,
    recorder: Recorder,
    metrics: ControllerMetrics,
    classes: Store<IngressClass>,
    /// The last warning published per class, so a condition that persists is announced
    /// once, not on every retry.
    warned: Mutex<HashMap<String, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// Whether an IngressClass is one of Sluice's.
pub fn is_ours(class: &IngressClass, controller: &str) -> bool {
    class.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(controller)
}

/// Runs the fleet controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    settings: super::Settings,
    recorder: Recorder,
    metrics: ControllerMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = settings.fleet.namespace.clone();
    let managed =
        watcher::Config::default().labels(&format!("{}=sluice-operator", labels::MANAGED_BY));
    let controller = Controller::new(
        Api::<IngressClass>::all(client.clone()),
        watcher::Config::default(),
    );
    let classes = controller.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.fleet,
        proxy_image: settings.proxy_image,
        recorder,
        metrics,
        classes: classes.clone(),
        warned: Mutex::default(),
    });
    // The fleet objects are namespaced and their owner is not; map them to the owner by
    // name so their events land on the same key as the class's own.
    let to_owner = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| -> Vec<ObjectRef<IngressClass>> {
        meta.owner_references
            .iter()
            .flatten()
            .filter(|o| o.kind == "IngressClass" && o.api_version == "networking.k8s.io/v1")
            .map(|o| ObjectRef::new(&o.name))
            .collect()
    };
    controller
        .watches(
            Api::<Deployment>::namespaced(client.clone(), &ns),
            managed.clone(),
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<Service>::namespaced(client.clone(), &ns),
            managed.clone(),
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<ServiceAccount>::namespaced(client.clone(), &ns),
            managed.clone(),
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns),
            managed.clone(),
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<DaemonSet>::namespaced(client.clone(), &ns),
            managed.clone(),
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns),
            managed.clone(),
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<ClusterRoleBinding>::all(client.clone()),
            managed,
            move |o| to_owner(&o.metadata),
        )
        .watches(
            Api::<IngressClassParams>::all(client),
            watcher::Config::default(),
            move |params| {
                let name = params.name_any();
                classes
                    .state()
                    .into_iter()
                    .filter(|c| referenced_params(c) == Some(name.as_str()))
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile request failed");
            }
        })
        .await;
}

fn error_policy(class: Arc<IngressClass>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(class = %class.name_any(), %error, "reconcile failed; retrying");
    ctx.metrics.errors.inc();
    Action::requeue(Duration::from_secs(10))
}

async fn reconcile(class: Arc<IngressClass>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let name = class.name_any();
    if !is_ours(&class, &ctx.settings.controller) || class.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let span = tracing::info_span!(
        "reconcile",
        object = %format!("IngressClass/{name}"),
        outcome = tracing::field::Empty,
        changed = tracing::field::Empty,
    );
    let result = reconcile_class(&class, &ctx).instrument(span.clone()).await;
    ctx.metrics.reconciles.inc();
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    let fleets = ctx
        .classes
        .state()
        .iter()
        .filter(|c| is_ours(c, &ctx.settings.controller))
        .count();
    ctx.metrics
        .managed_objects
        .set((fleets * Fleet::OBJECTS) as i64);
    match result {
        Ok((action, changed)) => {
            span.record("outcome", "ok");
            span.record("changed", changed);
            Ok(action)
        }
        Err(error) => {
            span.record("outcome", tracing::field::display(&error));
            Err(Error::Kube(error))
        }
    }
}

/// One reconcile; returns what to do next and how many objects changed.
async fn reconcile_class(
    class: &IngressClass,
    ctx: &Context,
) -> Result<(Action, usize), kube::Error> {
    let class_ref = class.object_ref(&());
    let params_api: Api<IngressClassParams> = Api::all(ctx.client.clone());

    // Which parameters: none → defaults; a reference to something else → an Event.
    let parameters = class.spec.as_ref().and_then(|s| s.parameters.as_ref());
    let params = match (parameters, referenced_params(class)) {
        (None, _) => None,
        (Some(_), Some(name)) => match params_api.get_opt(name).await? {
            Some(found) => Some(found),
            None => {
                warn_once(
                    ctx,
                    &class_ref,
                    "ParametersNotFound",
                    format!("IngressClassParams {name} does not exist; the fleet is left as it is until it does"),
                )
                .await;
                return Ok((Action::requeue(Duration::from_secs(30)), 0));
            }
        },
        (Some(p), None) => {
            warn_once(
                ctx,
                &class_ref,
                "UnsupportedParameters",
                format!(
                    "spec.parameters must name a cluster-scoped IngressClassParams of API group {GROUP}, not a {} of {:?}",
                    p.kind, p.api_group
                ),
            )
            .await;
            return Ok((Action::await_change(), 0));
        }
    };

    let mut spec = params
        .as_ref()
        .map(|p| p.spec.clone())
        .unwrap_or_else(IngressClassParamsSpec::default);
    if let Some(repository) = &ctx.proxy_image {
        let image = spec.image.get_or_insert_with(Default::default);
        if image.repository.is_none() {
            image.repository = Some(repository.clone());
        }
    }
    let resolved = match spec.resolve() {
        Ok(r) => r,
        Err(invalid) => {
            let message = invalid.to_string();
            publish(
                ctx,
                &class_ref,
                EventType::Warning,
                "InvalidParameters",
                message.clone(),
                None,
            )
            .await;
            if let Some(params) = &params {
                let observed = Observed {
                    generation: params.metadata.generation,
                    accepted: Some(Err(message)),
                    ..Default::default()
                };
                write_status(ctx, params, &observed).await?;
            }
            return Ok((Action::await_change(), 0));
        }
    };

    let fleet = desired(class, &resolved, &ctx.settings);
    let ns = &ctx.settings.namespace;
    // What changed, for one Event per reconcile ("created Deployment …, updated Service …").
    let mut changes = Vec::new();
    let mut degraded = Vec::new();
    let client = ctx.client.clone();

    let Fleet {
        service_account,
        cluster_role_binding,
        workload,
        service,
        metrics_service,
        pod_disruption_budget,
        autoscaler,
    } = fleet;
    apply_one(
        &Api::namespaced(client.clone(), ns),
        &service_account,
        &mut changes,
    )
    .await?;
    apply_one(
        &Api::all(client.clone()),
        &cluster_role_binding,
        &mut changes,
    )
    .await?;
    let name = fleet_name(&class.name_any());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
    // The workload of the kind asked for; one of the other kind, left from before a switch,
    // goes.
    let rollout = match workload {
        Workload::Deployment(mut deployment) => {
            let live = deployments.get_opt(&name).await?;
            if let Some(spec) = deployment.spec.as_mut() {
                spec.replicas = Some(declared_replicas(&resolved, live.as_ref()));
            }
            let (deployment, applied) = apply(&deployments, live, &deployment).await?;
            changes.extend(describe(&deployment, applied));
            remove_ours(
                &daemon_sets,
                &name,
                "the proxies run as a Deployment",
                &mut changes,
            )
            .await?;
            Rollout::of_deployment(&deployment)
        }
        Workload::DaemonSet(daemon_set) => {
            let (daemon_set, applied) =
                apply(&daemon_sets, daemon_sets.get_opt(&name).await?, &daemon_set).await?;
            changes.extend(describe(&daemon_set, applied));
            remove_ours(
                &deployments,
                &name,
                "the proxies run as a DaemonSet",
                &mut changes,
            )
            .await?;
            Rollout::of_daemon_set(&daemon_set)
        }
    };
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    match &autoscaler {
        Some(autoscaler) => {
            apply_one(&autoscalers, autoscaler, &mut changes).await?;
        }
        // Autoscaling turned off: the operator's own autoscaler goes.
        None => remove_ours(&autoscalers, &name, "autoscaling is off", &mut changes).await?,
    }
    apply_one(
        &Api::namespaced(client.clone(), ns),
        &pod_disruption_budget,
        &mut changes,
    )
    .await?;
    apply_one(
        &Api::namespaced(client.clone(), ns),
        &metrics_service,
        &mut changes,
    )
    .await?;

    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let current_service = services.get_opt(&fleet_name(&class.name_any())).await?;
    let taken = taken_node_ports(ctx, &service, current_service.as_ref()).await?;
    let service = if taken.is_empty() {
        match apply(&services, current_service.clone(), &service).await {
            Ok((svc, applied)) => {
                changes.extend(describe(&svc, applied));
                Some(svc)
            }
            // The API server refuses a port taken since the check above.
            Err(kube::Error::Api(status)) if status.code == 422 => {
                degraded.push(format!("the Service was refused: {}", status.message));
                current_service
            }
            Err(e) => return Err(e),
        }
    } else {
        degraded.extend(taken);
        current_service
    };
    // One Event per changed object: the object is the Event's related reference, so
    // changes to different objects are not folded into one series.
    for change in &changes {
        publish(
            ctx,
            &class_ref,
            EventType::Normal,
            change.reason,
            change.note.clone(),
            Some(change.object.clone()),
        )
        .await;
    }
    if !degraded.is_empty() {
        warn_once(ctx, &class_ref, "NodePortConflict", degraded.join("; ")).await;
    } else {
        ctx.warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&class.name_any());
    }

    if let Some(params) = &params {
        let observed = Observed {
            generation: params.metadata.generation,
            accepted: Some(Ok(())),
            degraded: degraded.clone(),
            rollout: Some(rollout),
            service: service.as_ref(),
        };
        write_status(ctx, params, &observed).await?;
    }
    // A conflict may clear when the other Service goes; look again in a while.
    let next = if degraded.is_empty() {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(30))
    };
    Ok((next, changes.len()))
}

/// Deletes the fleet object `name` of this kind if there is one and it is the operator's
/// (an autoscaler after autoscaling is turned off, a workload of the kind no longer asked
/// for); `why` goes into the Event.
async fn remove_ours<K>(
    api: &Api<K>,
    name: &str,
    why: &str,
    changes: &mut Vec<Change>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Some(live) = api.get_opt(name).await? else {
        return Ok(());
    };
    let ours = live
        .labels()
        .get(labels::MANAGED_BY)
        .is_some_and(|m| m == "sluice-operator");
    if !ours {
        return Ok(());
    }
    match api.delete(name, &Default::default()).await {
        Ok(_) => {
            changes.push(Change {
                reason: "Deleted",
                note: format!(
                    "deleted {} {}/{name}: {why}",
                    K::kind(&()),
                    live.namespace().unwrap_or_default()
                ),
                object: live.object_ref(&()),
            });
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A change made to one of a fleet's objects.
struct Change {
    reason: &'static str,
    note: String,
    object: k8s_openapi::api::core::v1::ObjectReference,
}

/// Applies one object; a change is described in `changes`.
async fn apply_one<K>(
    api: &Api<K>,
    desired: &K,
    changes: &mut Vec<Change>,
) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let current = api.get_opt(&desired.name_any()).await?;
    let (object, applied) = apply(api, current, desired).await?;
    changes.extend(describe(&object, applied));
    Ok(Some(object))
}

/// "Created Deployment sluice-system/sluice-proxy-x", or nothing if unchanged.
fn describe<K: Resource<DynamicType = ()>>(object: &K, applied: Applied) -> Option<Change> {
    let reason = match applied {
        Applied::Unchanged => return None,
        Applied::Created => "Created",
        Applied::Updated => "Updated",
    };
    let what = match object.namespace() {
        Some(ns) => format!("{} {ns}/{}", K::kind(&()), object.name_any()),
        None => format!("{} {}", K::kind(&()), object.name_any()),
    };
    tracing::info!(object = %what, "{reason}");
    Some(Change {
        reason,
        note: format!("{reason} {what}"),
        object: object.object_ref(&()),
    })
}

/// Node ports the desired Service asks for that another Service holds, as messages
/// naming that Service.
async fn taken_node_ports(
    ctx: &Context,
    desired: &Service,
    current: Option<&Service>,
) -> Result<Vec<String>, kube::Error> {
    let wanted: Vec<(String, i32)> = desired
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.name.clone().unwrap_or_default(), p.node_port?)))
        .collect();
    let held = |svc: &Service, port: i32| {
        svc.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .is_some_and(|ports| ports.iter().any(|p| p.node_port == Some(port)))
    };
    // Ports our own Service already holds are ours; only look further for the others.
    let missing: Vec<&(String, i32)> = wanted
        .iter()
        .filter(|(_, port)| !current.is_some_and(|c| held(c, *port)))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let all: Api<Service> = Api::all(ctx.client.clone());
    let services = all.list(&ListParams::default()).await?;
    let own = (ctx.settings.namespace.as_str(), desired.name_any());
    let mut messages = Vec::new();
    for (port_name, port) in missing {
        let holder = services.items.iter().find(|s| {
            (s.namespace().as_deref(), s.name_any()) != (Some(own.0), own.1.clone())
                && held(s, *port)
        });
        if let Some(holder) = holder {
            let field = if port_name == "https" {
                "httpsNodePort"
            } else {
                "httpNodePort"
            };
            messages.push(format!(
                "{field} {port} is already allocated to Service {}/{}",
                holder.namespace().unwrap_or_default(),
                holder.name_any()
            ));
        }
    }
    Ok(messages)
}

/// Writes the params' status if it differs from what is there.
async fn write_status(
    ctx: &Context,
    params: &IngressClassParams,
    observed: &Observed<'_>,
) -> Result<(), kube::Error> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status(observed, params.status.as_ref(), now);
    if params.status.as_ref() == Some(&new) {
        return Ok(());
    }
    let api: Api<IngressClassParams> = Api::all(ctx.client.clone());
    let body = json!({
        "apiVersion": IngressClassParams::api_version(&()),
        "kind": IngressClassParams::kind(&()),
        "status": new,
    });
    api.patch_status(
        &params.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// Publishes a Warning unless the same one was the last published for this object.
async fn warn_once(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    reason: &str,
    note: String,
) {
    let key = reference.name.clone().unwrap_or_default();
    let text = format!("{reason}: {note}");
    {
        let mut warned = ctx.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.get(&key) == Some(&text) {
            return;
        }
        warned.insert(key, text);
    }
    publish(ctx, reference, EventType::Warning, reason, note, None).await;
}

async fn publish(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
    secondary: Option<k8s_openapi::api::core::v1::ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary,
    };
    if let Err(error) = ctx.recorder.publish(&event, reference).await {
        tracing::debug!(%error, "could not record an Event");
    }
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
