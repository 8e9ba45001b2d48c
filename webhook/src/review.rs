//! AdmissionReview in, AdmissionReview out.

use k8s_openapi::api::networking::v1::Ingress;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use crate::index::Index;
use crate::validate::{Decision, Reason, review_ingress};

/// A request body that is not a usable AdmissionReview.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("the body is not an AdmissionReview: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the AdmissionReview has no request: {0}")]
    NoRequest(#[from] kube::core::admission::ConvertAdmissionReviewError),
}

/// The answer to one review: what to send back, and what was decided (for metrics).
pub struct Answer {
    pub review: AdmissionReview<kube::core::DynamicObject>,
    pub decision: Decision,
    /// `namespace/name` of the reviewed object.
    pub object: String,
    /// `CREATE`, `UPDATE`, ...
    pub operation: String,
}

/// Decodes an AdmissionReview of an Ingress and decides on it.
pub fn ingress_review(index: &Index, body: &[u8]) -> Result<Answer, ReviewError> {
    let review: AdmissionReview<Ingress> = serde_json::from_slice(body)?;
    let request: AdmissionRequest<Ingress> = review.try_into()?;
    let decision = match (&request.operation, &request.object) {
        (Operation::Create | Operation::Update, Some(object)) => {
            let mut ingress = object.clone();
            // On CREATE the object may not carry its namespace (or, with generateName, its
            // name) yet; the request does.
            if ingress.metadata.namespace.is_none() {
                ingress.metadata.namespace = request.namespace.clone();
            }
            // A new Ingress loses to every holder, even one created in the same second
            // (timestamps have one-second resolution).
            if matches!(request.operation, Operation::Create) {
                ingress.metadata.creation_timestamp = None;
            }
            if ingress
                .metadata
                .name
                .as_deref()
                .unwrap_or_default()
                .is_empty()
                && !request.name.is_empty()
            {
                ingress.metadata.name = Some(request.name.clone());
            }
            review_ingress(index, &ingress)
        }
        _ => Decision {
            allowed: true,
            reason: Reason::Valid,
            message: None,
            warnings: Vec::new(),
        },
    };
    Ok(Answer {
        review: respond(&request, &decision),
        decision,
        object: format!(
            "{}/{}",
            request.namespace.as_deref().unwrap_or_default(),
            request.name
        ),
        operation: format!("{:?}", request.operation).to_uppercase(),
    })
}

/// The AdmissionReview response for a decision.
pub fn respond<K: kube::Resource>(
    request: &AdmissionRequest<K>,
    decision: &Decision,
) -> AdmissionReview<kube::core::DynamicObject> {
    let mut response = AdmissionResponse::from(request);
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings.clone());
    }
    if !decision.allowed {
        response = response.deny(decision.message.clone().unwrap_or_default());
        // kubectl prints the reason: "Error from server (Forbidden): ... denied the request".
        response.result.code = 403;
        response.result.reason = "Forbidden".into();
    }
    response.into_review()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::testing::{class, ingress};

    fn review_body(operation: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "0c2b-42",
                "kind": { "group": "networking.k8s.io", "version": "v1", "kind": "Ingress" },
                "resource": { "group": "networking.k8s.io", "version": "v1", "resource": "ingresses" },
                "namespace": "shop",
                "name": "api-v2",
                "operation": operation,
                "userInfo": { "username": "alice" },
                "object": object,
                "dryRun": false
            }
        }))
        .unwrap()
    }

    #[test]
    fn denies_with_the_uid_message_code_and_warnings() {
        let mut index = Index::default();
        index.set_classes(&[class("sluice", false)]);
        index.apply(Arc::new(ingress(
            "shop",
            "api-v1",
            Some("sluice"),
            "app.example.com",
            "/api",
        )));
        let mut object = serde_json::to_value(ingress(
            "shop",
            "api-v2",
            Some("sluice"),
            "app.example.com",
            "/api",
        ))
        .unwrap();
        // As on a real CREATE: no namespace in the object itself.
        object["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        object["metadata"]["annotations"] =
            json!({ "nginx.ingress.kubernetes.io/proxy-buffering": "on" });

        let answer = ingress_review(&index, &review_body("CREATE", object)).unwrap();
        let out = serde_json::to_value(&answer.review).unwrap();
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(out["response"]["uid"], "0c2b-42");
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(out["response"]["status"]["code"], 403);
        let message = out["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("already served by Ingress shop/api-v1"),
            "{message}"
        );
        assert!(
            out["response"]["warnings"][0]
                .as_str()
                .unwrap()
                .contains("proxy-buffering")
        );
    }

    #[test]
    fn allows_and_omits_empty_warnings() {
        let mut index = Index::default();
        index.set_classes(&[class("sluice", false)]);
        let object =
            serde_json::to_value(ingress("shop", "a", Some("sluice"), "app.example.com", "/"))
                .unwrap();
        let answer = ingress_review(&index, &review_body("UPDATE", object)).unwrap();
        let out = serde_json::to_value(&answer.review).unwrap();
        assert_eq!(out["response"]["allowed"], true);
        assert!(out["response"].get("warnings").is_none() || out["response"]["warnings"].is_null());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let index = Index::default();
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"kind\":\"AdmissionReview\"}",
            b"\xff\xfe",
            b"{\"request\": 5}",
        ] {
            assert!(
                ingress_review(&index, body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
