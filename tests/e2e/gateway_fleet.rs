//! A Gateway of Sluice's on a real control plane, with the operator as a local process: it
//! gets a proxy fleet (Deployment + Service with its listeners' ports, owned by the
//! GatewayClass), the status the spec defines (its own and its routes'), loses the fleet
//! when deleted, and a settled Gateway costs no writes.
//!
//! The operator runs as the chart's ServiceAccount (impersonated), so the chart's RBAC is
//! what is tested. No node runs pods here, so the fleet never becomes ready: `Programmed` stays `False,
//! Pending`, which is the honest answer.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};
use sluice_crds::gateway::class::CONTROLLER_NAME;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::gateway_api::httproutes::HttpRoute;
use sluice_tests::TestCluster;
use sluice_tests::objects::{certificate, namespace, tls_secret};
use sluice_tests::operator::{Operator, eventually, install_crds, install_gateway_api_crds};
use sluice_tests::requests::growth;
use sluice_tests::tools::workspace_root;

const NS: &str = "sluice-system";
const APP: &str = "app";
const WAIT: Duration = Duration::from_secs(60);
const GATEWAY_LABEL: &str = "sluice.dev/gateway=app.edge";

fn route(name: &str, section: Option<&str>, backend: &str) -> Value {
    let mut parent = json!({ "name": "edge" });
    if let Some(section) = section {
        parent["sectionName"] = json!(section);
    }
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": name, "namespace": APP },
        "spec": {
            "parentRefs": [parent],
            "rules": [{ "backendRefs": [{ "name": backend, "port": 80 }] }]
        }
    })
}

/// `(status, reason)` of a condition in `conditions`.
fn condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<(String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The conditions of a route's entry of Sluice's.
fn route_conditions(
    route: &HttpRoute,
) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    route
        .status
        .iter()
        .flat_map(|s| &s.parents)
        .find(|p| p.controller_name == CONTROLLER_NAME)
        .map(|p| p.conditions.clone())
        .unwrap_or_default()
}

/// The CRDs, namespaces `NS` and `APP`, and the operator running with exactly the
/// permissions the chart grants it (as its ServiceAccount, impersonated).
async fn start_operator(cluster: &TestCluster) -> anyhow::Result<Operator> {
    cluster.apply(&[namespace(NS), namespace(APP)])?;
    install_crds(cluster)?;
    install_gateway_api_crds(cluster)?;
    let rbac = cluster.helm(&[
        "template",
        "sluice",
        workspace_root()
            .join("charts/sluice")
            .to_str()
            .unwrap_or_default(),
        "--namespace",
        NS,
        "--show-only",
        "templates/rbac.yaml",
    ])?;
    anyhow::ensure!(
        rbac.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&rbac.stderr)
    );
    let applied = cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &String::from_utf8_lossy(&rbac.stdout),
    )?;
    anyhow::ensure!(
        applied.status.success(),
        "applying the chart's RBAC: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let kubeconfig = cluster.impersonating_kubeconfig(
        &format!("system:serviceaccount:{NS}:sluice-operator"),
        &[
            "system:serviceaccounts",
            &format!("system:serviceaccounts:{NS}"),
            "system:authenticated",
        ],
    )?;
    Operator::start(&kubeconfig, None, &["--namespace", NS], cluster.dir()).await
}

#[tokio::test]
async fn a_gateway_gets_a_fleet_and_status_and_loses_the_fleet_when_deleted() -> anyhow::Result<()>
{
    let cluster = TestCluster::start().await?;
    let _operator = start_operator(&cluster).await?;
    let client = cluster.client().await?;
    let gateways: Api<Gateway> = Api::namespaced(client.clone(), APP);
    let routes: Api<HttpRoute> = Api::namespaced(client.clone(), APP);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let services: Api<Service> = Api::namespaced(client.clone(), NS);

    let (cert, key, _) = certificate(&["edge.example.com"])?;
    cluster.apply(&[
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": { "name": "sluice" },
            "spec": { "controllerName": CONTROLLER_NAME }
        }),
        tls_secret(APP, "edge-cert", &cert, &key),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": "web", "namespace": APP },
            "spec": { "ports": [{ "port": 80, "targetPort": 8080 }] }
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "name": "edge", "namespace": APP },
            "spec": {
                "gatewayClassName": "sluice",
                "listeners": [
                    { "name": "http", "port": 80, "protocol": "HTTP" },
                    {
                        "name": "https", "port": 443, "protocol": "HTTPS",
                        "tls": { "certificateRefs": [{ "name": "edge-cert" }] }
                    }
                ]
            }
        }),
        route("ok", None, "web"),
        route("nowhere", Some("no-such-listener"), "web"),
        route("missing", None, "absent"),
    ])?;

    // The fleet: a Deployment and a Service with the listeners' ports, owned by the class.
    let deployment = eventually(WAIT, "the Gateway's Deployment", || async {
        Ok(deployments
            .list(&ListParams::default().labels(GATEWAY_LABEL))
            .await?
            .items
            .into_iter()
            .next())
    })
    .await?;
    let owner = &deployment.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("GatewayClass", "sluice")
    );
    let container = &deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers[0].clone())
        .unwrap_or_default();
    let args = container.args.clone().unwrap_or_default();
    let gateway_ports: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "--gateway-port")
        .map(|w| w[1].as_str())
        .collect();
    assert_eq!(gateway_ports, ["80=80/http", "443=443/https"], "{args:?}");
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--gateway" && w[1] == "app/edge"),
        "{args:?}"
    );
    assert!(!args.iter().any(|a| a == "--ingress-class"), "{args:?}");

    let service = eventually(WAIT, "the Gateway's Service", || async {
        Ok(services
            .list(&ListParams::default().labels(GATEWAY_LABEL))
            .await?
            .items
            .into_iter()
            .find(|s| !s.labels().contains_key("sluice.dev/metrics")))
    })
    .await?;
    let spec = service.spec.clone().unwrap_or_default();
    assert_eq!(service.owner_references()[0].kind, "GatewayClass");
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    let ports: Vec<(i32, Option<IntOrString>, Option<String>)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.target_port.clone(), p.name.clone()))
        .collect();
    assert_eq!(
        ports,
        [
            (80, Some(IntOrString::Int(80)), Some("p80".to_string())),
            (443, Some(IntOrString::Int(443)), Some("p443".to_string())),
        ]
    );
    // The operator sets no node port (the unit tests check the applied object): these
    // are Kubernetes' picks, never the Ingress fleet's fixed ones by request.
    assert!(spec.ports.iter().flatten().all(|p| p.node_port.is_some()));
    let cluster_ip = spec.cluster_ip.clone().unwrap_or_default();
    assert!(!cluster_ip.is_empty());

    // The Gateway: accepted, not programmed (no pods run here), its address and routes.
    let gateway = eventually(WAIT, "the Gateway's status", || async {
        let g = gateways.get("edge").await?;
        let status = g.status.clone().unwrap_or_default();
        let listeners = status.listeners.clone().unwrap_or_default();
        let settled = condition(status.conditions.as_deref().unwrap_or_default(), "Accepted")
            .is_some_and(|(s, _)| s == "True")
            && status.addresses.is_some()
            && listeners
                .iter()
                .any(|l| l.name == "http" && l.attached_routes == 2);
        Ok(settled.then_some(g))
    })
    .await?;
    let status = gateway.status.clone().unwrap_or_default();
    let conditions = status.conditions.clone().unwrap_or_default();
    assert_eq!(
        condition(&conditions, "Programmed"),
        Some(("False".into(), "Pending".into())),
        "{conditions:?}"
    );
    let addresses: Vec<(Option<String>, String)> = status
        .addresses
        .iter()
        .flatten()
        .map(|a| (a.r#type.clone(), a.value.clone()))
        .collect();
    assert_eq!(addresses, [(Some("IPAddress".to_string()), cluster_ip)]);
    let listeners = status.listeners.clone().unwrap_or_default();
    assert_eq!(listeners.len(), 2);
    for l in &listeners {
        // "ok" and "missing" attach to both listeners; "nowhere" to none.
        assert_eq!(l.attached_routes, 2, "{}", l.name);
        assert_eq!(
            condition(&l.conditions, "Accepted").map(|c| c.0),
            Some("True".into())
        );
        assert_eq!(
            condition(&l.conditions, "ResolvedRefs").map(|c| c.0),
            Some("True".into()),
            "{}: {:?}",
            l.name,
            l.conditions
        );
        assert_eq!(
            condition(&l.conditions, "Programmed"),
            Some(("False".into(), "Pending".into()))
        );
        let kinds: Vec<&str> = l
            .supported_kinds
            .iter()
            .flatten()
            .map(|k| k.kind.as_str())
            .collect();
        assert_eq!(kinds, ["HTTPRoute", "GRPCRoute"]);
    }

    // The routes' status.
    let ok = eventually(WAIT, "route ok's status", || async {
        let r = routes.get("ok").await?;
        Ok((!route_conditions(&r).is_empty()).then_some(r))
    })
    .await?;
    let c = route_conditions(&ok);
    assert_eq!(
        condition(&c, "Accepted"),
        Some(("True".into(), "Accepted".into()))
    );
    assert_eq!(
        condition(&c, "ResolvedRefs"),
        Some(("True".into(), "ResolvedRefs".into()))
    );
    let nowhere = eventually(WAIT, "route nowhere's status", || async {
        let r = routes.get("nowhere").await?;
        Ok((!route_conditions(&r).is_empty()).then_some(r))
    })
    .await?;
    assert_eq!(
        condition(&route_conditions(&nowhere), "Accepted"),
        Some(("False".into(), "NoMatchingParent".into()))
    );
    let missing = eventually(WAIT, "route missing's status", || async {
        let r = routes.get("missing").await?;
        Ok((!route_conditions(&r).is_empty()).then_some(r))
    })
    .await?;
    let c = route_conditions(&missing);
    assert_eq!(
        condition(&c, "Accepted"),
        Some(("True".into(), "Accepted".into()))
    );
    assert_eq!(
        condition(&c, "ResolvedRefs"),
        Some(("False".into(), "BackendNotFound".into()))
    );

    // Settled: nothing more is written, however long it runs.
    let before = cluster.writes()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let grew = growth(&before, &cluster.writes()?);
    assert!(
        !grew
            .keys()
            .any(|k| k.contains("gateways") || k.contains("httproutes")),
        "Gateway or route writes while nothing changed: {grew:?}"
    );

    // Deleting the Gateway deletes its fleet, then the Gateway.
    gateways.delete("edge", &DeleteParams::default()).await?;
    eventually(WAIT, "the Gateway and its fleet to be gone", || async {
        let gone = gateways.get_opt("edge").await?.is_none()
            && deployments
                .list(&ListParams::default().labels(GATEWAY_LABEL))
                .await?
                .items
                .is_empty()
            && services
                .list(&ListParams::default().labels(GATEWAY_LABEL))
                .await?
                .items
                .is_empty();
        Ok(gone.then_some(()))
    })
    .await?;
    // ...and the routes no longer say Sluice accepted them for it.
    eventually(WAIT, "route ok's entry of Sluice's to be gone", || async {
        Ok(route_conditions(&routes.get("ok").await?)
            .is_empty()
            .then_some(()))
    })
    .await?;
    Ok(())
}

/// Route `name` of `APP`, with `rules`, on Gateway `edge`.
fn route_with_rules(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": name, "namespace": APP },
        "spec": { "parentRefs": [{ "name": "edge" }], "rules": rules }
    })
}

/// Bad input gets the status the spec gives it, and good input beside it is unharmed:
/// routes with a rule that cannot be served (an invalid regular expression, an
/// `ExtensionRef` filter) or a backend of a kind Sluice does not know, a Gateway whose
/// `infrastructure.parametersRef` names nothing Sluice reads, and Gateway
/// `infrastructure` labels and annotations on the fleet the operator generates.
///
/// Its two Gateways are applied together, as the operator starts: each gets its status
/// (a reconcile used to wait forever on the caches when another waited on them too,
/// `controllers::stores`).
///
/// Status only: no node runs pods on this control plane, so what is served is the proxy
/// tests' to show (they compile the same rules, `sluice_crds::gateway::rules`).
#[tokio::test]
async fn bad_input_gets_the_status_the_spec_gives_it() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let operator = start_operator(&cluster).await?;
    let client = cluster.client().await?;
    let gateways: Api<Gateway> = Api::namespaced(client.clone(), APP);
    let routes: Api<HttpRoute> = Api::namespaced(client.clone(), APP);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    let backend = json!([{ "name": "web", "port": 80 }]);
    cluster.apply(&[
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": { "name": "sluice" },
            "spec": { "controllerName": CONTROLLER_NAME }
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": "web", "namespace": APP },
            "spec": { "ports": [{ "port": 80, "targetPort": 8080 }] }
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "name": "edge", "namespace": APP },
            "spec": {
                "gatewayClassName": "sluice",
                // No value: "assign one", which every Gateway of Sluice's gets.
                "addresses": [{ "type": "IPAddress" }],
                "infrastructure": {
                    "labels": { "team": "web", "sluice.dev/gateway": "not-this" },
                    "annotations": { "example.com/owner": "web-team" }
                },
                "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }]
            }
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "name": "misconfigured", "namespace": APP },
            "spec": {
                "gatewayClassName": "sluice",
                "infrastructure": {
                    "parametersRef": { "group": "invalid.io", "kind": "InvalidParameters", "name": "x" }
                },
                "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }]
            }
        }),
        // (a) good.
        route_with_rules("good", json!([{ "backendRefs": backend }])),
        // (b) its only rule's regular expression does not compile.
        route_with_rules(
            "bad-regex",
            json!([{
                "matches": [{ "path": { "type": "RegularExpression", "value": "/(unclosed" } }],
                "backendRefs": backend
            }]),
        ),
        // (c) one rule with a filter Sluice does not support, one good.
        route_with_rules(
            "half-good",
            json!([
                {
                    "matches": [{ "path": { "type": "PathPrefix", "value": "/ext" } }],
                    "filters": [{
                        "type": "ExtensionRef",
                        "extensionRef": { "group": "example.com", "kind": "Plugin", "name": "p" }
                    }],
                    "backendRefs": backend
                },
                { "backendRefs": backend }
            ]),
        ),
        // (d) a backend of a kind Sluice does not know.
        route_with_rules(
            "foo-backend",
            json!([{ "backendRefs": [{ "group": "example.com", "kind": "Foo", "name": "f" }] }]),
        ),
    ])?;

    let settled = |name: &'static str| {
        let (routes, operator) = (routes.clone(), &operator);
        async move {
            eventually(WAIT, &format!("route {name}'s status"), || async {
                let r = routes.get(name).await?;
                let c = route_conditions(&r);
                Ok((!c.is_empty()).then_some(c))
            })
            .await
            // What the operator did instead, for a failure seen only on a busy machine.
            .map_err(|e| e.context(format!("the operator's log:\n{}", operator.output())))
        }
    };
    let c = settled("good").await?;
    assert_eq!(
        condition(&c, "Accepted"),
        Some(("True".into(), "Accepted".into()))
    );
    assert_eq!(
        condition(&c, "ResolvedRefs"),
        Some(("True".into(), "ResolvedRefs".into()))
    );
    assert_eq!(condition(&c, "PartiallyInvalid"), None, "{c:?}");

    let c = settled("bad-regex").await?;
    assert_eq!(
        condition(&c, "Accepted"),
        Some(("False".into(), "UnsupportedValue".into())),
        "{c:?}"
    );

    let c = settled("half-good").await?;
    assert_eq!(
        condition(&c, "Accepted"),
        Some(("True".into(), "Accepted".into())),
        "{c:?}"
    );
    assert_eq!(
        condition(&c, "PartiallyInvalid").map(|c| c.0),
        Some("True".into()),
        "{c:?}"
    );

    let c = settled("foo-backend").await?;
    assert_eq!(
        condition(&c, "ResolvedRefs"),
        Some(("False".into(), "InvalidKind".into())),
        "{c:?}"
    );

    // The Gateway's infrastructure metadata is on what the operator generates for it,
    // under Sluice's own labels.
    let deployment = eventually(WAIT, "the Gateway's Deployment", || async {
        Ok(deployments
            .list(&ListParams::default().labels(&format!("{GATEWAY_LABEL},team=web")))
            .await?
            .items
            .into_iter()
            .next())
    })
    .await?;
    let template = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.clone())
        .unwrap_or_default();
    for meta in [&deployment.metadata, &template] {
        let labels = meta.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("team").map(String::as_str), Some("web"));
        assert_eq!(
            labels.get("sluice.dev/gateway").map(String::as_str),
            Some("app.edge")
        );
        assert_eq!(
            meta.annotations
                .as_ref()
                .and_then(|a| a.get("example.com/owner"))
                .map(String::as_str),
            Some("web-team")
        );
    }
    // The Service and the metrics Service, applied after the Deployment.
    let fleet_services = eventually(WAIT, "the Gateway's two Services", || async {
        let found = services
            .list(&ListParams::default().labels(&format!("{GATEWAY_LABEL},team=web")))
            .await?
            .items;
        Ok((found.len() == 2).then_some(found))
    })
    .await?;
    for service in &fleet_services {
        assert_eq!(
            service
                .annotations()
                .get("example.com/owner")
                .map(String::as_str),
            Some("web-team")
        );
    }

    // An address without a value is no obstacle: accepted, with the Service's address.
    let edge = eventually(WAIT, "Gateway edge's address", || async {
        let g = gateways.get("edge").await?;
        let status = g.status.clone().unwrap_or_default();
        Ok(status.addresses.is_some().then_some(status))
    })
    .await?;
    assert_eq!(
        condition(edge.conditions.as_deref().unwrap_or_default(), "Accepted"),
        Some(("True".into(), "Accepted".into()))
    );

    // A parametersRef to something else: not accepted, and no fleet made for it.
    let misconfigured = eventually(WAIT, "Gateway misconfigured's status", || async {
        let g = gateways.get("misconfigured").await?;
        // The API server's default status says `Unknown` until Sluice writes one.
        let conditions = g.status.and_then(|s| s.conditions).unwrap_or_default();
        let written = condition(&conditions, "Accepted").is_some_and(|(s, _)| s != "Unknown");
        Ok(written.then_some(conditions))
    })
    .await?;
    assert_eq!(
        condition(&misconfigured, "Accepted"),
        Some(("False".into(), "InvalidParameters".into())),
        "{misconfigured:?}"
    );
    assert!(
        deployments
            .list(&ListParams::default().labels("sluice.dev/gateway=app.misconfigured"))
            .await?
            .items
            .is_empty()
    );
    Ok(())
}
