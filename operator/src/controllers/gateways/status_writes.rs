//! The status patches: a Gateway's status, and a route's `status.parents`. Server-side
//! apply under Sluice's field manager, so another controller's fields are left alone.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sluice_crds::gateway::attach::GatewayKey;
use sluice_crds::gateway_api::gateways::{Gateway, GatewayStatus};
use sluice_crds::names::FIELD_MANAGER;

/// Writes a Gateway's status.
pub(super) async fn patch_gateway_status(
    client: &Client,
    key: &GatewayKey,
    status: &GatewayStatus,
) -> kube::Result<()> {
    let api: Api<Gateway> = Api::namespaced(client.clone(), &key.namespace);
    let body = json!({
        "apiVersion": Gateway::api_version(&()),
        "kind": Gateway::kind(&()),
        "status": status,
    });
    api.patch_status(
        &key.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// Writes a route's `status.parents`; whether it was written.
pub(super) async fn patch_route_status<K, P>(
    client: &Client,
    route: &K,
    parents: Vec<P>,
) -> kube::Result<bool>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    P: Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), &route.namespace().unwrap_or_default());
    // `status.parents` is one list for every controller: written against the version
    // read, so that another controller's entry written meanwhile is never dropped.
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "resourceVersion": route.resource_version() },
        "status": { "parents": parents },
    });
    match api
        .patch_status(
            &route.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(_) => Ok(true),
        // Changed since it was read: its watch event reconciles again, with the new one.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The time conditions are stamped with when they change.
pub(super) fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}
