//! What a reconcile reads of the cluster besides the Gateway: the ReferenceGrants and
//! namespace labels in the caches, the Secrets a Gateway names (read by name: only their
//! metadata is watched), what a backend's Service port is, and the params of its fleet.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use sluice_crds::gateway::attach::{CertificateState, ReferenceGrants, ServicePort};
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::params::{IngressClassParams, IngressClassParamsSpec, ResolvedParams};

use super::parameters::gateway_params_name;
use super::{Context, Error, index};
use crate::controllers::gateway_classes::params_name;

/// Every ReferenceGrant in the cache.
pub(super) fn grants(ctx: &Context) -> ReferenceGrants {
    let all = ctx.grants.state();
    ReferenceGrants::new(all.iter().map(AsRef::as_ref))
}

/// What each Secret the Gateway names holds, read by name (the controller watches
/// Secrets' metadata only).
pub(super) async fn certificates(
    gateway: &Gateway,
    client: &Client,
) -> Result<BTreeMap<(String, String), CertificateState>, kube::Error> {
    let mut out = BTreeMap::new();
    for (ns, name) in index::certificate_refs(gateway) {
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let state = match api.get_opt(&name).await {
            Ok(None) => CertificateState::Missing,
            Ok(Some(secret)) => certificate_state(&secret),
            // Not allowed to read it: as good as missing, and said so by the listener.
            Err(kube::Error::Api(status)) if status.code == 403 => CertificateState::Missing,
            Err(e) => return Err(e),
        };
        out.insert((ns, name), state);
    }
    Ok(out)
}

/// Whether a Secret holds a certificate and key the proxy can serve.
fn certificate_state(secret: &Secret) -> CertificateState {
    let data = secret.data.as_ref();
    let field = |k: &str| data.and_then(|d| d.get(k)).map(|v| v.0.as_slice());
    match (field("tls.crt"), field("tls.key")) {
        (Some(crt), Some(key)) => match sluice_crds::tls::certified_key(crt, key) {
            Ok(_) => CertificateState::Valid,
            Err(e) => CertificateState::Invalid(e.to_string()),
        },
        _ => CertificateState::Invalid("the Secret has no tls.crt and tls.key".into()),
    }
}

/// The labels of every namespace, for `allowedRoutes` selectors.
pub(super) fn namespace_labels(ctx: &Context) -> BTreeMap<String, BTreeMap<String, String>> {
    ctx.namespaces
        .state()
        .iter()
        .map(|n| (n.name_any(), n.labels().clone()))
        .collect()
}

/// What the Service cache knows of a backend's port.
pub(super) fn service_port(
    services: &Store<Service>,
    ns: &str,
    name: &str,
    port: i32,
) -> ServicePort {
    let Some(service) = services.get(&ObjectRef::new(name).within(ns)) else {
        return ServicePort::NoService;
    };
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return ServicePort::ExternalName;
    }
    spec.and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .find(|p| p.port == port)
        .map_or(ServicePort::NoPort, |p| ServicePort::Found {
            app_protocol: p.app_protocol.clone(),
        })
}

/// The params of a Gateway's fleet, resolved: those its `infrastructure.parametersRef`
/// names, else its class's (defaults without a `parametersRef`). `Ok(Err(why))`: the
/// Gateway's reference is unusable, which its status says (`InvalidParameters`); an
/// unusable class reference is an error (the class is not accepted then, so it is rare).
pub(super) async fn params(
    gateway: &Gateway,
    class: &GatewayClass,
    ctx: &Context,
) -> Result<Result<ResolvedParams, String>, Error> {
    let api = Api::<IngressClassParams>::all(ctx.client.clone());
    let spec = match gateway_params_name(gateway) {
        Err(why) => return Ok(Err(why)),
        Ok(Some(name)) => match api.get_opt(name).await? {
            None => {
                return Ok(Err(format!(
                    "infrastructure.parametersRef: IngressClassParams {name} does not exist"
                )));
            }
            Some(found) => {
                return Ok(with_proxy_image(found.spec, ctx).resolve().map_err(|e| {
                    format!("infrastructure.parametersRef: IngressClassParams {name}: {e}")
                }));
            }
        },
        Ok(None) => class_params(class, &api).await?,
    };
    let resolved = with_proxy_image(spec, ctx).resolve();
    Ok(Ok(resolved.map_err(|e| Error::Parameters {
        class: class.name_any(),
        message: e.to_string(),
    })?))
}

/// The IngressClassParams a class names (defaults without a `parametersRef`).
async fn class_params(
    class: &GatewayClass,
    api: &Api<IngressClassParams>,
) -> Result<IngressClassParamsSpec, Error> {
    let invalid = |message: String| Error::Parameters {
        class: class.name_any(),
        message,
    };
    Ok(match params_name(class) {
        None if class.spec.parameters_ref.is_some() => {
            return Err(invalid("parametersRef names no IngressClassParams".into()));
        }
        None => IngressClassParamsSpec::default(),
        Some(name) => {
            api.get_opt(name)
                .await?
                .ok_or_else(|| invalid(format!("IngressClassParams {name} does not exist")))?
                .spec
        }
    })
}

/// The operator's proxy image, where the params name no repository.
fn with_proxy_image(mut spec: IngressClassParamsSpec, ctx: &Context) -> IngressClassParamsSpec {
    if let Some(repository) = &ctx.settings.proxy_image {
        let image = spec.image.get_or_insert_with(Default::default);
        if image.repository.is_none() {
            image.repository = Some(repository.clone());
        }
    }
    spec
}
