//! The webhook's AdmissionReview decoding and validation (`review::ingress_review`), against
//! an index that already holds a few Ingresses of Sluice's classes, so that conflicts, the
//! default class, wildcard hosts and precedence are all reachable; and the index's own
//! bookkeeping when the reviewed Ingress is then added (twice) and removed, as the watch
//! would: nothing of it is left behind.
//!
//! Input: a request body as the API server would POST it.
//!
//! Checked besides "no panic": the answer serialises; it carries the request's uid and the
//! decision; a denial says why; what is allowed untouched or valid is allowed.

#![no_main]

use std::sync::{Arc, LazyLock};

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sluice_crds::names::{CONTROLLER_NAME, DEFAULT_CLASS_ANNOTATION};
use sluice_webhook::index::Index;
use sluice_webhook::review::ingress_review;
use sluice_webhook::validate::Reason;

fn class(name: &str, controller: &str, default: bool) -> IngressClass {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": { "name": name,
                      "annotations": { DEFAULT_CLASS_ANNOTATION: default.to_string() } },
        "spec": { "controller": controller }
    }))
    .expect("a valid IngressClass")
}

fn ingress(
    namespace: &str,
    name: &str,
    class: Option<&str>,
    host: Option<&str>,
    paths: &[(&str, &str)],
) -> Ingress {
    let paths: Vec<_> = paths
        .iter()
        .map(|(path, kind)| {
            json!({ "path": path, "pathType": kind,
                    "backend": { "service": { "name": "svc", "port": { "number": 80 } } } })
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": { "name": name, "namespace": namespace,
                      "creationTimestamp": "2025-01-01T00:00:00Z" },
        "spec": {
            "ingressClassName": class,
            "rules": [{ "host": host, "http": { "paths": paths } }]
        }
    }))
    .expect("a valid Ingress")
}

/// IngressClasses (two of Sluice's, the default among them, and another controller's) and
/// Ingresses already admitted.
static SEEDS: LazyLock<(Vec<IngressClass>, Vec<Arc<Ingress>>)> = LazyLock::new(|| {
    let classes = vec![
        class("sluice", CONTROLLER_NAME, true),
        class("internal", CONTROLLER_NAME, false),
        class("nginx", "k8s.io/ingress-nginx", false),
    ];
    let ingresses = [
        ingress(
            "shop",
            "api-v1",
            Some("sluice"),
            Some("app.example.com"),
            &[("/api", "Prefix"), ("/health", "Exact")],
        ),
        ingress(
            "shop",
            "web",
            None,
            Some("app.example.com"),
            &[("/", "Prefix")],
        ),
        ingress(
            "wild",
            "star",
            Some("sluice"),
            Some("*.example.com"),
            &[("/", "Prefix")],
        ),
        ingress(
            "any",
            "catch-all",
            Some("internal"),
            None,
            &[("/", "Prefix")],
        ),
        ingress(
            "other",
            "nginx",
            Some("nginx"),
            Some("app.example.com"),
            &[("/api", "Prefix")],
        ),
    ];
    (classes, ingresses.into_iter().map(Arc::new).collect())
});

fn seeded() -> Index {
    let (classes, ingresses) = &*SEEDS;
    let mut index = Index::default();
    index.set_classes(classes);
    for ingress in ingresses {
        index.apply(ingress.clone());
    }
    index
}

static INDEX: LazyLock<Index> = LazyLock::new(seeded);

fuzz_target!(|body: &[u8]| {
    let Ok(answer) = ingress_review(&INDEX, body) else {
        return;
    };
    let decision = &answer.decision;
    if matches!(decision.reason, Reason::Valid | Reason::OtherClass) {
        assert!(decision.allowed, "{:?}", decision);
    } else {
        assert!(!decision.allowed, "{:?}", decision);
        assert!(
            decision.message.as_deref().is_some_and(|m| !m.is_empty()),
            "a denial without a message: {decision:?}"
        );
    }
    let out = serde_json::to_value(&answer.review).expect("the answer serialises");
    let response = &out["response"];
    assert_eq!(response["allowed"], json!(decision.allowed));

    // The uid comes back as it came.
    let review: AdmissionReview<Ingress> =
        serde_json::from_slice(body).expect("decoded once already");
    let request: AdmissionRequest<Ingress> = review.try_into().expect("converted once already");
    assert_eq!(response["uid"], json!(request.uid));

    // The watch then indexes the Ingress, and later removes it; the seeded ones stay.
    if let Some(object) = request.object {
        let mut index = seeded();
        let (namespace, name) = (
            object.metadata.namespace.clone().unwrap_or_default(),
            object.metadata.name.clone().unwrap_or_default(),
        );
        index.apply(Arc::new(object.clone()));
        index.apply(Arc::new(object));
        index.delete(&namespace, &name);
        index.delete(&namespace, &name);
        let mut reference = seeded();
        reference.delete(&namespace, &name);
        assert_eq!(index.rules(), reference.rules(), "rules left behind");
        assert_eq!(index.ingresses(), reference.ingresses());
    }
});
