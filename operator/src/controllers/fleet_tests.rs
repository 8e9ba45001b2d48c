//! The exact API requests a fleet reconcile makes, against a mock API server: a new class
//! gets one apply per object and an Event per object created; the same class again, with
//! everything in place, gets reads only.

use std::collections::HashMap;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::events::Reporter;
use kube::runtime::reflector;
use serde_json::{Value, json};
use tower_test::mock;

use super::*;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

/// What the mock API server answers one request with.
enum Answer {
    NotFound,
    /// The request's own body (what an apply or a create returns).
    Echo,
    Json(Value),
}

/// One expected request: its method, its path (without the query) and the answer.
struct Expect(Method, &'static str, Answer);

fn class() -> IngressClass {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": { "name": "sluice", "uid": "c1a55-uid" },
        "spec": { "controller": sluice_crds::names::CONTROLLER_NAME }
    }))
    .unwrap()
}

fn context(client: Client) -> Context {
    let (classes, _writer) = reflector::store();
    Context {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "sluice-operator".into(),
                instance: None,
            },
        ),
        client,
        settings: FleetSettings {
            namespace: "sluice-system".into(),
            proxy_cluster_role: "sluice-proxy".into(),
            controller: sluice_crds::names::CONTROLLER_NAME.into(),
        },
        proxy_image: None,
        metrics: ControllerMetrics::default(),
        classes,
        warned: Mutex::default(),
    }
}

/// Answers the requests in order, checking each against `script`; returns the bodies of
/// the applies, by path.
async fn serve(mut handle: Handle, script: Vec<Expect>) -> HashMap<String, Value> {
    let mut applied = HashMap::new();
    for Expect(method, path, answer) in script {
        let (request, send) = handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("the reconcile made no {method} {path}"));
        assert_eq!(
            (request.method(), request.uri().path()),
            (&method, path),
            "request out of script"
        );
        let body = request.into_body().collect_bytes().await.unwrap();
        let (status, body) = match answer {
            Answer::NotFound => (
                StatusCode::NOT_FOUND,
                serde_json::to_vec(&json!({
                    "kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": "not found"
                }))
                .unwrap(),
            ),
            Answer::Echo => {
                if method == Method::PATCH {
                    applied.insert(path.to_string(), serde_json::from_slice(&body).unwrap());
                }
                (StatusCode::OK, body.to_vec())
            }
            Answer::Json(value) => (StatusCode::OK, serde_json::to_vec(&value).unwrap()),
        };
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(body))
                .unwrap(),
        );
    }
    applied
}

const SA: &str = "/api/v1/namespaces/sluice-system/serviceaccounts/sluice-proxy-sluice";
const CRB: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/sluice-proxy-sluice";
const DEPLOY: &str = "/apis/apps/v1/namespaces/sluice-system/deployments/sluice-proxy-sluice";
const DS: &str = "/apis/apps/v1/namespaces/sluice-system/daemonsets/sluice-proxy-sluice";
const HPA: &str =
    "/apis/autoscaling/v2/namespaces/sluice-system/horizontalpodautoscalers/sluice-proxy-sluice";
const PDB: &str =
    "/apis/policy/v1/namespaces/sluice-system/poddisruptionbudgets/sluice-proxy-sluice";
const SVC: &str = "/api/v1/namespaces/sluice-system/services/sluice-proxy-sluice";
const METRICS_SVC: &str = "/api/v1/namespaces/sluice-system/services/sluice-metrics-sluice";
const ALL_SERVICES: &str = "/api/v1/services";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

#[tokio::test]
async fn a_new_class_gets_one_apply_per_object_then_only_reads() {
    use Answer::*;
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "default"));
    let first = vec![
        Expect(Method::GET, SA, NotFound),
        Expect(Method::PATCH, SA, Echo),
        Expect(Method::GET, CRB, NotFound),
        Expect(Method::PATCH, CRB, Echo),
        Expect(Method::GET, DEPLOY, NotFound),
        Expect(Method::PATCH, DEPLOY, Echo),
        // A Deployment, no autoscaling: the operator checks that it left no DaemonSet or
        // autoscaler behind.
        Expect(Method::GET, DS, NotFound),
        Expect(Method::GET, HPA, NotFound),
        Expect(Method::GET, PDB, NotFound),
        Expect(Method::PATCH, PDB, Echo),
        Expect(Method::GET, METRICS_SVC, NotFound),
        Expect(Method::PATCH, METRICS_SVC, Echo),
        Expect(Method::GET, SVC, NotFound),
        // Who holds the node ports it asks for.
        Expect(
            Method::GET,
            ALL_SERVICES,
            Json(json!({ "apiVersion": "v1", "kind": "ServiceList", "metadata": {}, "items": [] })),
        ),
        Expect(Method::PATCH, SVC, Echo),
    ]
    .into_iter()
    // One Event per object created.
    .chain((0..6).map(|_| Expect(Method::POST, EVENTS, Echo)))
    .collect();
    let server = tokio::spawn(serve(handle, first));
    let (_, changed) = reconcile_class(&class(), &ctx).await.unwrap();
    assert_eq!(changed, 6);
    // Without a client, a request the script expects but never came ends the server.
    drop(ctx);
    let applied = server.await.unwrap();
    // Each apply carries the fingerprint that lets a later removal be seen.
    for path in [SA, CRB, DEPLOY, PDB, METRICS_SVC, SVC] {
        assert!(
            applied[path]["metadata"]["annotations"][crate::controllers::apply::APPLIED_ANNOTATION]
                .is_string(),
            "{path}"
        );
    }

    // Again, with every object as it was applied: reads only, no write and no Event.
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "default"));
    let live = |path: &str| Json(applied[path].clone());
    let second = vec![
        Expect(Method::GET, SA, live(SA)),
        Expect(Method::GET, CRB, live(CRB)),
        Expect(Method::GET, DEPLOY, live(DEPLOY)),
        Expect(Method::GET, DS, NotFound),
        Expect(Method::GET, HPA, NotFound),
        Expect(Method::GET, PDB, live(PDB)),
        Expect(Method::GET, METRICS_SVC, live(METRICS_SVC)),
        Expect(Method::GET, SVC, live(SVC)),
    ];
    let server = tokio::spawn(serve(handle, second));
    let (_, changed) = reconcile_class(&class(), &ctx).await.unwrap();
    assert_eq!(changed, 0);
    drop(ctx);
    server.await.unwrap();
}
