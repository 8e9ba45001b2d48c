//! Property tests of the decoder, the validator and the index.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use proptest::prelude::*;
use serde_json::json;
use sluice_webhook::index::Index;
use sluice_webhook::review::ingress_review;
use sluice_webhook::validate::{Reason, review_ingress};

fn class(name: &str) -> IngressClass {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "controller": "sluice.dev/ingress-controller" }
    }))
    .unwrap()
}

/// Hosts and paths from small alphabets, so collisions are common.
fn host() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[aAb]{1,2}\\.example\\.com".prop_map(Some),
        Just(Some("*.example.com".to_string())),
        "[a-z_.*]{0,6}".prop_map(Some),
    ]
}

fn path() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof!["(/[ab]{0,2}){0,3}/?", "[a/.%2F]{0,6}"],
        prop_oneof![
            Just("Prefix"),
            Just("Exact"),
            Just("ImplementationSpecific"),
            Just("Regex")
        ],
    )
        .prop_map(|(p, t)| (p, t.to_string()))
}

fn ingress_strategy(name: &'static str) -> impl Strategy<Value = Ingress> {
    (
        prop::collection::vec((host(), prop::collection::vec(path(), 0..3)), 0..3),
        prop_oneof![Just(Some("sluice")), Just(Some("nginx")), Just(None)],
    )
        .prop_map(move |(rules, class)| {
            let rules: Vec<_> = rules
                .into_iter()
                .map(|(host, paths)| {
                    let paths: Vec<_> = paths
                        .into_iter()
                        .map(|(p, t)| {
                            json!({ "path": p, "pathType": t,
                            "backend": { "service": { "name": "s", "port": { "number": 80 } } } })
                        })
                        .collect();
                    json!({ "host": host, "http": { "paths": paths } })
                })
                .collect();
            serde_json::from_value(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": { "name": name, "namespace": "ns", "creationTimestamp": "2025-01-01T00:00:00Z" },
                "spec": { "ingressClassName": class, "rules": rules }
            }))
            .unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_decoder_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ingress_review(&Index::default(), &body);
    }

    #[test]
    fn the_decoder_never_panics_on_review_shaped_json(
        op in prop_oneof![Just("CREATE"), Just("UPDATE"), Just("DELETE"), Just("BOGUS")],
        object in prop_oneof![Just(json!(null)), Just(json!({})), Just(json!([1])), Just(json!({"spec": {"rules": "x"}}))],
        uid in ".{0,8}",
    ) {
        let body = serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": { "uid": uid, "operation": op, "object": object,
                "kind": { "group": "networking.k8s.io", "version": "v1", "kind": "Ingress" },
                "resource": { "group": "networking.k8s.io", "version": "v1", "resource": "ingresses" },
                "userInfo": {} }
        })).unwrap();
        let _ = ingress_review(&Index::default(), &body);
    }

    /// An Ingress is judged the same whether or not its own old version is indexed, and a
    /// copy under another name conflicts exactly when the original is a valid Ingress of
    /// ours that claims something.
    #[test]
    fn a_copy_conflicts_with_its_original(original in ingress_strategy("original")) {
        let mut index = Index::default();
        index.set_classes(&[class("sluice")]);
        let mut empty = Index::default();
        empty.set_classes(&[class("sluice")]);
        let original = Arc::new(original);
        index.apply(original.clone());

        prop_assert_eq!(review_ingress(&index, &original), review_ingress(&empty, &original));

        // A CREATE: the API server has not stamped it yet.
        let mut copy = (*original).clone();
        copy.metadata.name = Some("copy".into());
        copy.metadata.creation_timestamp = None;
        let alone = review_ingress(&empty, &copy);
        let decision = review_ingress(&index, &copy);
        match alone.reason {
            Reason::OtherClass | Reason::Invalid => prop_assert_eq!(decision.reason, alone.reason),
            Reason::Conflict => prop_assert_eq!(decision.reason, Reason::Conflict),
            Reason::Valid => prop_assert_eq!(
                decision.reason == Reason::Conflict,
                index.rules() > 0,
                "{:?}",
                decision.message
            ),
        }
    }

    /// Applying Ingresses and deleting them again leaves an empty index.
    #[test]
    fn the_index_returns_to_empty(a in ingress_strategy("a"), b in ingress_strategy("b")) {
        let mut index = Index::default();
        index.set_classes(&[class("sluice")]);
        index.apply(Arc::new(a.clone()));
        index.apply(Arc::new(b.clone()));
        index.apply(Arc::new(a));
        index.delete("ns", "a");
        index.delete("ns", "b");
        prop_assert_eq!(index.rules(), 0);
        prop_assert_eq!(index.ingresses(), 0);
    }
}
