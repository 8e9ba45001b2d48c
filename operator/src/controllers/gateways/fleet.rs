//! A Gateway's fleet applied (each object only where it differs from the live one) and
//! deleted (by label, when the Gateway goes or has nothing to serve).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_crds::gateway::attach::GatewayKey;
use sluice_crds::names::labels;
use sluice_crds::params::ResolvedParams;

use super::{Context, Error, MANAGED};
use crate::controllers::apply::{Applied, apply};
use crate::desired::gateway::{gateway_fleet_name, gateway_selector};
use crate::desired::{Fleet, Workload, declared_replicas};

/// Applies a Gateway's fleet; returns its Deployment and Service as they now are, and how
/// many objects changed.
pub(super) async fn apply_fleet(
    key: &GatewayKey,
    fleet: Fleet,
    params: &ResolvedParams,
    ctx: &Context,
) -> Result<(Deployment, Service, usize), Error> {
    let client = &ctx.client;
    let ns = &ctx.settings.fleet.namespace;
    let name = gateway_fleet_name(key);
    let Fleet {
        service_account,
        cluster_role_binding,
        workload,
        service,
        metrics_service,
        pod_disruption_budget,
        autoscaler,
    } = fleet;
    let mut changes = 0;
    let mut count = |applied: Applied| {
        if applied != Applied::Unchanged {
            changes += 1;
        }
    };
    count(
        apply_to(
            &Api::<ServiceAccount>::namespaced(client.clone(), ns),
            &service_account,
        )
        .await?,
    );
    count(
        apply_to(
            &Api::<ClusterRoleBinding>::all(client.clone()),
            &cluster_role_binding,
        )
        .await?,
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let Workload::Deployment(mut deployment) = workload else {
        // Never: desired_gateway always builds a Deployment.
        return Ok((Deployment::default(), service, changes));
    };
    let live = deployments.get_opt(&name).await?;
    if let Some(spec) = deployment.spec.as_mut() {
        spec.replicas = Some(declared_replicas(params, live.as_ref()));
    }
    let (deployment, applied) = apply(&deployments, live, &deployment).await?;
    count(applied);
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    match &autoscaler {
        Some(autoscaler) => count(apply_to(&autoscalers, autoscaler).await?),
        None => {
            if delete_ours(&autoscalers, &name).await? {
                count(Applied::Updated);
            }
        }
    }
    count(
        apply_to(
            &Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
            &pod_disruption_budget,
        )
        .await?,
    );
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    count(apply_to(&services, &metrics_service).await?);
    let (service, applied) = apply(&services, services.get_opt(&name).await?, &service).await?;
    count(applied);
    Ok((deployment, service, changes))
}

async fn apply_to<K>(api: &Api<K>, desired: &K) -> kube::Result<Applied>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let current = api.get_opt(&desired.name_any()).await?;
    Ok(apply(api, current, desired).await?.1)
}

/// Deletes `name` if the operator manages it; whether it did.
async fn delete_ours<K>(api: &Api<K>, name: &str) -> kube::Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(live) = api.get_opt(name).await? else {
        return Ok(false);
    };
    if live.labels().get(labels::MANAGED_BY).map(String::as_str) != Some("sluice-operator") {
        return Ok(false);
    }
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// A Gateway's Deployment and Service as they are, for the status of a Gateway whose
/// fleet is left alone.
pub(super) async fn live_fleet(
    key: &GatewayKey,
    ctx: &Context,
) -> kube::Result<(Option<Deployment>, Option<Service>)> {
    let ns = &ctx.settings.fleet.namespace;
    let name = gateway_fleet_name(key);
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), ns);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    Ok((
        deployments.get_opt(&name).await?,
        services.get_opt(&name).await?,
    ))
}

/// Deletes every object of `key`'s fleet (by label); how many were deleted.
pub(super) async fn delete_fleet(key: &GatewayKey, ctx: &Context) -> Result<usize, kube::Error> {
    let ns = &ctx.settings.fleet.namespace;
    let client = &ctx.client;
    let selector = format!("{MANAGED},{}", gateway_selector(key));
    let mut deleted = 0;
    deleted += delete_labelled(
        &Api::<Deployment>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(
        &Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(
        &Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(&Api::<Service>::namespaced(client.clone(), ns), &selector).await?;
    deleted += delete_labelled(
        &Api::<ServiceAccount>::namespaced(client.clone(), ns),
        &selector,
    )
    .await?;
    deleted += delete_labelled(&Api::<ClusterRoleBinding>::all(client.clone()), &selector).await?;
    Ok(deleted)
}

async fn delete_labelled<K>(api: &Api<K>, selector: &str) -> kube::Result<usize>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut deleted = 0;
    for object in api
        .list_metadata(&ListParams::default().labels(selector))
        .await?
    {
        match api.delete(&object.name_any(), &Default::default()).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
