//! The GatewayClass controller: each GatewayClass whose `controllerName` is Sluice's gets its
//! status: `Accepted` (its `parametersRef`, if any, names a usable IngressClassParams),
//! `SupportedVersion` (the installed Gateway API CRDs are a release Sluice supports) and the
//! features Sluice claims. It runs only where the Gateway API CRDs are installed.

pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use sluice_crds::gateway::class::{BUNDLE_VERSION_ANNOTATION, CRDS};
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::names::{FIELD_MANAGER, GROUP};
use sluice_crds::params::IngressClassParams;
use tracing::Instrument;

use super::metrics::ControllerMetrics;
use status::{Observed, status};

/// How often a class is looked at again without a change to it: a Gateway API upgrade
/// changes CRDs, which are not watched.
const RECHECK: Duration = Duration::from_secs(300);

struct Context {
    client: Client,
    controller: String,
    metrics: ControllerMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// Whether a GatewayClass is one of Sluice's.
pub fn is_ours(class: &GatewayClass, controller: &str) -> bool {
    class.spec.controller_name == controller
}

/// Runs the controller until `shutdown` resolves; first waits for the Gateway API CRDs if
/// the cluster has none.
pub async fn run(
    client: Client,
    controller: String,
    metrics: ControllerMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let mut shutdown = Box::pin(shutdown);
    if !crds_installed(&client, "GatewayClasses", &mut shutdown).await {
        return;
    }
    let controller_api = Controller::new(
        Api::<GatewayClass>::all(client.clone()),
        watcher::Config::default(),
    );
    let classes = controller_api.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        controller,
        metrics,
    });
    controller_api
        .watches(
            Api::<IngressClassParams>::all(client),
            watcher::Config::default(),
            move |params| {
                let name = params.name_any();
                classes
                    .state()
                    .into_iter()
                    .filter(|c| params_name(c) == Some(name.as_str()))
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

/// Waits for the Gateway API CRDs, checking every 30 seconds; `false` when `shutdown`
/// came first. `what`: what is served once they are, for the log.
pub(crate) async fn crds_installed(
    client: &Client,
    what: &str,
    shutdown: &mut std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
) -> bool {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut said = false;
    loop {
        match crds.get_opt(CRDS[0]).await {
            Ok(Some(_)) => return true,
            Ok(None) if !said => {
                tracing::info!(
                    crd = CRDS[0],
                    what,
                    "the Gateway API CRDs are not installed; served once they are"
                );
                said = true;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "looking for the Gateway API CRDs"),
        }
        tokio::select! {
            _ = shutdown.as_mut() => return false,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Whether a class is accepted: its `Accepted` condition is `True`.
pub fn is_accepted(class: &GatewayClass) -> bool {
    class
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Accepted" && c.status == "True")
}

/// The IngressClassParams a class's `parametersRef` names, if it names one.
pub(crate) fn params_name(class: &GatewayClass) -> Option<&str> {
    let r = class.spec.parameters_ref.as_ref()?;
    (r.group == GROUP && r.kind == "IngressClassParams").then_some(r.name.as_str())
}

fn error_policy(class: Arc<GatewayClass>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(class = %class.name_any(), %error, "reconcile failed; retrying");
    ctx.metrics.errors.inc();
    Action::requeue(Duration::from_secs(10))
}

async fn reconcile(class: Arc<GatewayClass>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_ours(&class, &ctx.controller) || class.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        object = %format!("GatewayClass/{}", class.name_any()),
        outcome = tracing::field::Empty,
        changed = tracing::field::Empty,
    );
    let result = reconcile_class(&class, &ctx).instrument(span.clone()).await;
    ctx.metrics.reconciles.inc();
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(changed) => {
            span.record("outcome", "ok");
            span.record("changed", changed);
            Ok(Action::requeue(RECHECK))
        }
        Err(error) => {
            span.record("outcome", tracing::field::display(&error));
            Err(Error::Kube(error))
        }
    }
}

/// One reconcile; whether the status was written.
async fn reconcile_class(class: &GatewayClass, ctx: &Context) -> Result<bool, kube::Error> {
    let observed = Observed {
        generation: class.metadata.generation,
        invalid_parameters: check_parameters(class, ctx).await?,
        crd_versions: crd_versions(ctx).await?,
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status(&observed, class.status.as_ref(), now);
    if class.status.as_ref() == Some(&new) {
        return Ok(false);
    }
    let api: Api<GatewayClass> = Api::all(ctx.client.clone());
    let body = json!({
        "apiVersion": GatewayClass::api_version(&()),
        "kind": GatewayClass::kind(&()),
        "status": new,
    });
    api.patch_status(
        &class.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(true)
}

/// Why the class's `parametersRef` is unusable, if it is.
async fn check_parameters(
    class: &GatewayClass,
    ctx: &Context,
) -> Result<Option<String>, kube::Error> {
    let Some(reference) = &class.spec.parameters_ref else {
        return Ok(None);
    };
    let Some(name) = params_name(class) else {
        return Ok(Some(format!(
            "parametersRef must name an IngressClassParams of group {GROUP}, not a {} of group {:?}",
            reference.kind, reference.group
        )));
    };
    if reference.namespace.is_some() {
        return Ok(Some(format!(
            "parametersRef names IngressClassParams {name} with a namespace, but IngressClassParams are cluster-scoped"
        )));
    }
    let params: Api<IngressClassParams> = Api::all(ctx.client.clone());
    Ok(match params.get_opt(name).await? {
        None => Some(format!(
            "parametersRef: IngressClassParams {name} does not exist"
        )),
        Some(found) => found
            .spec
            .resolve()
            .err()
            .map(|invalid| format!("parametersRef: IngressClassParams {name}: {invalid}")),
    })
}

/// The `bundle-version` of each Gateway API CRD Sluice reads.
async fn crd_versions(ctx: &Context) -> Result<Vec<(String, Option<String>)>, kube::Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
    let mut versions = Vec::with_capacity(CRDS.len());
    for name in CRDS {
        let version = crds
            .get_opt(name)
            .await?
            .and_then(|crd| crd.annotations().get(BUNDLE_VERSION_ANNOTATION).cloned());
        versions.push((name.to_string(), version));
    }
    Ok(versions)
}
