//! What an Ingress's annotations add to the routes built from its rules, beyond the
//! settings copied onto each: the canaries that join them and the `Host` their backend gets.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use sluice_crds::annotations;
use sluice_crds::ingress::{RuleKey, canary_claims};

use super::backends::BackendResolver;
use crate::objects::key_of;
use crate::routes::CanaryRoute;

/// The canaries of rules, by rule: the oldest canary Ingress of a rule wins it.
pub(super) fn canary_routes(
    ingresses: &[&Ingress],
    resolver: &mut BackendResolver,
) -> HashMap<RuleKey, CanaryRoute> {
    let mut canaries = HashMap::new();
    for ingress in ingresses {
        let Some(rules) = annotations::parse(ingress.metadata.annotations.as_ref())
            .settings
            .canary
        else {
            continue;
        };
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
        for claim in canary_claims(ingress) {
            if canaries.contains_key(&claim.key) {
                continue;
            }
            let canary = CanaryRoute {
                ingress: key_of(&ingress.metadata),
                rules: rules.clone(),
                backend: resolver.resolve(namespace, claim.backend),
            };
            canaries.insert(claim.key, canary);
        }
    }
    canaries
}

/// The `Host` a rule's backend gets, from the Ingress's `upstream-vhost`.
pub(super) fn upstream_host(
    settings: &annotations::IngressSettings,
    namespace: &str,
    ingress: &Ingress,
    backend: &IngressBackend,
) -> Option<Arc<str>> {
    let vhost = settings.upstream_vhost.as_ref()?;
    let service = backend.service.as_ref();
    let port = service.and_then(|s| s.port.as_ref());
    let port = match (
        port.and_then(|p| p.number),
        port.and_then(|p| p.name.as_deref()),
    ) {
        (Some(number), _) => number.to_string(),
        (None, Some(name)) => name.to_string(),
        (None, None) => String::new(),
    };
    Some(
        vhost
            .expand(&annotations::upstream_vhost::RuleParts {
                namespace,
                ingress_name: ingress.metadata.name.as_deref().unwrap_or_default(),
                service_name: service.map(|s| s.name.as_str()).unwrap_or_default(),
                service_port: &port,
            })
            .into(),
    )
}
