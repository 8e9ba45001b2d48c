use serde_json::json;

use super::*;

fn ingress(patch: serde_json::Value) -> Ingress {
    let mut v = json!({
        "metadata": {
            "name": "app", "namespace": "shop", "resourceVersion": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "annotations": { "sluice.dev/read-timeout": "5s", "team": "a" }
        },
        "spec": { "ingressClassName": "sluice", "rules": [{ "host": "a.example.com" }] }
    });
    merge(&mut v, patch);
    serde_json::from_value(v).unwrap()
}

fn slice(name: &str, service: &str, ips: &[&str]) -> EndpointSlice {
    let endpoints: Vec<_> = ips
        .iter()
        .map(|ip| json!({ "addresses": [ip], "conditions": { "ready": true } }))
        .collect();
    serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": "shop", "resourceVersion": "1",
                      "labels": { "kubernetes.io/service-name": service } },
        "addressType": "IPv4",
        "ports": [{ "name": "http", "port": 8080 }],
        "endpoints": endpoints
    }))
    .unwrap()
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

fn routes() -> Changes {
    Changes {
        routes: true,
        ..Changes::default()
    }
}

fn endpoints_of(names: &[&str]) -> Changes {
    let mut changes = Changes::default();
    for name in names {
        changes.services.insert("shop", name);
    }
    changes
}

fn applied<K: Relevant>(seen: &mut Seen<K>, object: K) -> Changes {
    seen.observe(&watcher::Event::Apply(object))
}

#[test]
fn a_new_ingress_recompiles() {
    let mut seen = Seen::default();
    assert_eq!(applied(&mut seen, ingress(json!({}))), routes());
}

#[test]
fn status_resource_version_managed_fields_and_other_annotations_are_ignored() {
    let mut seen = Seen::default();
    applied(&mut seen, ingress(json!({})));
    let noise = ingress(json!({
        "metadata": {
            "resourceVersion": "2",
            "generation": 3,
            "labels": { "x": "y" },
            "annotations": { "team": "b", "kubectl.kubernetes.io/last-applied-configuration": "{}" },
            "managedFields": [{ "manager": "sluice-operator", "operation": "Apply" }]
        },
        "status": { "loadBalancer": { "ingress": [{ "ip": "10.0.0.1" }] } }
    }));
    assert_eq!(applied(&mut seen, noise), Changes::default());
}

#[test]
fn spec_and_the_annotations_sluice_reads_recompile() {
    let mut seen = Seen::default();
    applied(&mut seen, ingress(json!({})));
    let timeout =
        ingress(json!({ "metadata": { "annotations": { "sluice.dev/read-timeout": "9s" } } }));
    assert_eq!(applied(&mut seen, timeout), routes());
    let class = ingress(json!({ "metadata": { "annotations": {
        "sluice.dev/read-timeout": "9s", "kubernetes.io/ingress.class": "other" } } }));
    assert_eq!(applied(&mut seen, class), routes());
    let spec = ingress(json!({ "metadata": { "annotations": {
        "sluice.dev/read-timeout": "9s", "kubernetes.io/ingress.class": "other" } },
        "spec": { "rules": [{ "host": "b.example.com" }] } }));
    assert_eq!(applied(&mut seen, spec), routes());
}

#[test]
fn deleting_a_known_object_counts_and_an_unknown_one_does_not() {
    let mut seen = Seen::default();
    applied(&mut seen, ingress(json!({})));
    assert_eq!(
        seen.observe(&watcher::Event::Delete(ingress(json!({})))),
        routes()
    );
    // Already gone: a repeated delete (e.g. after a re-list) changes nothing.
    assert_eq!(
        seen.observe(&watcher::Event::Delete(ingress(json!({})))),
        Changes::default()
    );
}

#[test]
fn endpoint_slices_refresh_their_service_only() {
    let mut seen = Seen::default();
    assert_eq!(
        applied(&mut seen, slice("api-1", "api", &["10.0.0.1"])),
        endpoints_of(&["api"])
    );
    // Same endpoints, new resourceVersion: nothing.
    let mut again = slice("api-1", "api", &["10.0.0.1"]);
    again.metadata.resource_version = Some("2".into());
    assert_eq!(applied(&mut seen, again), Changes::default());
    assert_eq!(
        applied(&mut seen, slice("api-1", "api", &["10.0.0.1", "10.0.0.2"])),
        endpoints_of(&["api"])
    );
    // Relabelled to another Service: both Services change.
    assert_eq!(
        applied(&mut seen, slice("api-1", "web", &["10.0.0.1"])),
        endpoints_of(&["api", "web"])
    );
    assert_eq!(
        seen.observe(&watcher::Event::Delete(slice("api-1", "web", &[]))),
        endpoints_of(&["web"])
    );
}

#[test]
fn service_changes_refresh_endpoints_only_when_type_or_ports_change() {
    let service = |port: i32, ip: &str| -> Service {
        serde_json::from_value(json!({
            "metadata": { "name": "api", "namespace": "shop" },
            "spec": { "clusterIP": ip, "ports": [{ "name": "http", "port": port }] },
            "status": {}
        }))
        .unwrap()
    };
    // A Service change refreshes its endpoints, and names the Service for the routes
    // that read it.
    let mut changed = endpoints_of(&["api"]);
    changed
        .named
        .insert(crate::objects::named("Service", "shop/api"));
    let mut seen = Seen::default();
    assert_eq!(applied(&mut seen, service(80, "10.96.0.1")), changed);
    assert_eq!(
        applied(&mut seen, service(80, "10.96.0.2")),
        Changes::default()
    );
    assert_eq!(applied(&mut seen, service(81, "10.96.0.2")), changed);

    // Routes that read the Service by name (a Gateway route's backend) recompile; routes
    // that do not (an Ingress's backends follow it in place) do not.
    let mut reading = RouteTable::default();
    reading
        .reads
        .insert(crate::objects::named("Service", "shop/api"));
    assert!(changed.recompile(&reading));
    assert!(!changed.recompile(&RouteTable::default()));
    // An EndpointSlice never recompiles, whoever reads its Service.
    assert!(!endpoints_of(&["api"]).recompile(&reading));
}

#[test]
fn a_relist_counts_what_it_changed_including_deletions_missed_while_away() {
    let mut seen = Seen::default();
    applied(&mut seen, slice("api-1", "api", &["10.0.0.1"]));
    applied(&mut seen, slice("web-1", "web", &["10.0.0.2"]));
    applied(&mut seen, slice("db-1", "db", &["10.0.0.3"]));
    // While the watch was down: web-1 changed, db-1 was deleted, api-1 is as it was.
    seen.observe(&watcher::Event::Init);
    seen.observe(&watcher::Event::InitApply(slice(
        "api-1",
        "api",
        &["10.0.0.1"],
    )));
    seen.observe(&watcher::Event::InitApply(slice(
        "web-1",
        "web",
        &["10.0.0.9"],
    )));
    assert_eq!(
        seen.observe(&watcher::Event::InitDone),
        endpoints_of(&["db", "web"])
    );
    // An identical re-list changes nothing.
    seen.observe(&watcher::Event::Init);
    seen.observe(&watcher::Event::InitApply(slice(
        "api-1",
        "api",
        &["10.0.0.1"],
    )));
    seen.observe(&watcher::Event::InitApply(slice(
        "web-1",
        "web",
        &["10.0.0.9"],
    )));
    assert_eq!(seen.observe(&watcher::Event::InitDone), Changes::default());
}

#[test]
fn a_whole_object_set_diffs_against_the_last() {
    let mut set = ObjectSet {
        ingresses: vec![ingress(json!({})).into()],
        endpoint_slices: vec![slice("api-1", "api", &["10.0.0.1"]).into()],
        ..ObjectSet::default()
    };
    let mut seen = SeenSet::default();
    let mut first = routes();
    first.services.insert("shop", "api");
    assert_eq!(seen.observe(&set), first);
    assert_eq!(seen.observe(&set), Changes::default());
    set.endpoint_slices = vec![slice("api-1", "api", &["10.0.0.2"]).into()];
    assert_eq!(seen.observe(&set), endpoints_of(&["api"]));
    set.ingresses.clear();
    assert_eq!(seen.observe(&set), routes());
}

fn http_route(patch: serde_json::Value) -> HttpRoute {
    let mut v = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": "r", "namespace": "shop", "resourceVersion": "1",
                      "creationTimestamp": "2025-01-01T00:00:00Z" },
        "spec": { "parentRefs": [{ "name": "public" }],
                  "rules": [{ "backendRefs": [{ "name": "a", "port": 80 }] }] }
    });
    merge(&mut v, patch);
    serde_json::from_value(v).unwrap()
}

#[test]
fn route_and_gateway_status_writes_do_not_recompile() {
    let mut seen = Seen::<HttpRoute>::default();
    assert_eq!(applied(&mut seen, http_route(json!({}))), routes());
    let status = json!({
        "metadata": { "resourceVersion": "2", "generation": 1 },
        "status": { "parents": [{ "controllerName": "sluice.dev/gateway-controller",
                                  "parentRef": { "name": "public" }, "conditions": [] }] }
    });
    assert!(applied(&mut seen, http_route(status)).is_empty());
    let moved = json!({ "spec": { "rules": [{ "backendRefs": [{ "name": "b", "port": 80 }] }] } });
    assert_eq!(applied(&mut seen, http_route(moved)), routes());

    let gateway = |status: serde_json::Value| -> Gateway {
        let mut v = json!({
            "metadata": { "name": "public", "namespace": "infra" },
            "spec": { "gatewayClassName": "sluice",
                      "listeners": [{ "name": "web", "port": 80, "protocol": "HTTP" }] }
        });
        merge(&mut v, status);
        serde_json::from_value(v).unwrap()
    };
    let mut gateways = Seen::<Gateway>::default();
    assert_eq!(applied(&mut gateways, gateway(json!({}))), routes());
    let programmed = json!({ "status": { "conditions": [{ "type": "Programmed", "status": "True",
        "reason": "Programmed", "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z" }] } });
    assert!(applied(&mut gateways, gateway(programmed)).is_empty());
}

#[test]
fn only_a_namespaces_labels_count() {
    let namespace = |labels: serde_json::Value, version: &str| -> Namespace {
        serde_json::from_value(json!({
            "metadata": { "name": "shop", "labels": labels, "resourceVersion": version,
                          "annotations": { "note": version } }
        }))
        .unwrap()
    };
    let mut seen = Seen::<Namespace>::default();
    assert_eq!(
        applied(&mut seen, namespace(json!({ "team": "a" }), "1")),
        routes()
    );
    assert!(applied(&mut seen, namespace(json!({ "team": "a" }), "2")).is_empty());
    assert_eq!(
        applied(&mut seen, namespace(json!({ "team": "b" }), "3")),
        routes()
    );
}
