//! Which IngressClassParams a Gateway's fleet is built from: those its
//! `infrastructure.parametersRef` names, else its class's. Pure.
//!
//! The spec leaves merging a Gateway's parameters with its class's to the implementation
//! (and recommends that the class give defaults a Gateway overrides). Sluice takes the
//! Gateway's IngressClassParams whole, instead of the class's: each IngressClassParams is
//! checked as one (replicas or autoscaling, not both, say), and two merged field by field
//! could be invalid where neither is.
//!
//! The reference is a LocalParametersReference (group, kind, name; no namespace) and, as
//! the spec says, follows the GatewayClass's `parametersRef`: it names a cluster-scoped
//! IngressClassParams, which only cluster administrators write; a Gateway's owner picks
//! among them, and cannot write one.

use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::names::GROUP;

/// The kind a `parametersRef` of Sluice's names.
pub const PARAMS_KIND: &str = "IngressClassParams";

/// The IngressClassParams the Gateway's `infrastructure.parametersRef` names: `Ok(None)`
/// without one, `Err` (why, for `Accepted: False, InvalidParameters`) when it names
/// anything else.
pub fn gateway_params_name(gateway: &Gateway) -> Result<Option<&str>, String> {
    let Some(reference) = gateway
        .spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.parameters_ref.as_ref())
    else {
        return Ok(None);
    };
    if reference.group != GROUP || reference.kind != PARAMS_KIND {
        return Err(format!(
            "infrastructure.parametersRef must name an {PARAMS_KIND} of group {GROUP}, not a {} of group {:?}",
            reference.kind, reference.group
        ));
    }
    Ok(Some(reference.name.as_str()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway(infrastructure: serde_json::Value) -> Gateway {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "namespace": "web", "name": "edge" },
            "spec": {
                "gatewayClassName": "sluice",
                "infrastructure": infrastructure,
                "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }]
            }
        }))
        .unwrap()
    }

    #[test]
    fn no_reference_means_the_class_params() {
        assert_eq!(gateway_params_name(&gateway(json!({}))), Ok(None));
        assert_eq!(
            gateway_params_name(&gateway(json!({ "labels": { "a": "b" } }))),
            Ok(None)
        );
    }

    #[test]
    fn a_reference_to_ingress_class_params_names_them() {
        let g = gateway(json!({
            "parametersRef": { "group": "sluice.dev", "kind": "IngressClassParams", "name": "big" }
        }));
        assert_eq!(gateway_params_name(&g), Ok(Some("big")));
    }

    #[test]
    fn another_group_or_kind_is_invalid() {
        // The conformance suite's GatewayInvalidParametersRef.
        for (group, kind) in [
            ("invalid.io", "InvalidParameters"),
            ("sluice.dev", "ConfigMap"),
            ("", "IngressClassParams"),
        ] {
            let g = gateway(json!({
                "parametersRef": { "group": group, "kind": kind, "name": "x" }
            }));
            let why = gateway_params_name(&g).unwrap_err();
            assert!(why.contains(kind), "{why}");
        }
    }
}
