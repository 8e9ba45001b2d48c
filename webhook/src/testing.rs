//! Objects for the unit tests.

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::json;
use sluice_crds::names::{CONTROLLER_NAME, DEFAULT_CLASS_ANNOTATION};

pub fn class(name: &str, default: bool) -> IngressClass {
    serde_json::from_value(json!({
        "metadata": { "name": name, "annotations": { DEFAULT_CLASS_ANNOTATION: default.to_string() } },
        "spec": { "controller": CONTROLLER_NAME }
    }))
    .unwrap()
}

/// An Ingress with one Prefix rule for `host` + `path`.
pub fn ingress(
    namespace: &str,
    name: &str,
    class: Option<&str>,
    host: &str,
    path: &str,
) -> Ingress {
    ingress_from(json!({
        "metadata": { "name": name, "namespace": namespace,
                      "creationTimestamp": "2025-01-01T00:00:00Z" },
        "spec": {
            "ingressClassName": class,
            "rules": [{ "host": host, "http": { "paths": [
                { "path": path, "pathType": "Prefix",
                  "backend": { "service": { "name": "svc", "port": { "number": 80 } } } }
            ]}}]
        }
    }))
}

pub fn ingress_from(mut value: serde_json::Value) -> Ingress {
    value["apiVersion"] = json!("networking.k8s.io/v1");
    value["kind"] = json!("Ingress");
    serde_json::from_value(value).unwrap()
}
