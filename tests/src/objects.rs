//! Kubernetes objects for tests, as JSON values: write them to manifest files for a proxy,
//! or apply them to a control plane.

use std::net::SocketAddr;

use serde_json::{Value, json};

/// A Namespace.
pub fn namespace(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } })
}

/// An IngressClass of `controller` (Sluice's own is `sluice_crds::names::CONTROLLER_NAME`),
/// naming the IngressClassParams `params` if given.
pub fn ingress_class(name: &str, controller: &str, params: Option<&str>) -> Value {
    let mut class = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": { "name": name },
        "spec": { "controller": controller }
    });
    if let Some(params) = params {
        class["spec"]["parameters"] =
            serde_json::to_value(sluice_crds::params::parameters_reference(params))
                .unwrap_or_default();
    }
    class
}

/// A Service with one port `port` named `http`, and an EndpointSlice publishing `endpoints`
/// (ready) as that port's endpoints. The endpoint port is each address's own port, so all
/// must share one port; tests start upstreams on distinct IPs for that reason, or pass the
/// endpoints of one upstream.
pub fn service_with_endpoints(
    namespace: &str,
    name: &str,
    port: u16,
    endpoints: &[SocketAddr],
) -> Vec<Value> {
    let target = endpoints.first().map(|a| a.port()).unwrap_or(port);
    vec![
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": name, "namespace": namespace },
            "spec": { "ports": [{ "name": "http", "port": port, "targetPort": target }] }
        }),
        endpoint_slice(namespace, name, &format!("{name}-1"), endpoints, &[]),
    ]
}

/// Everything, on any host, to Service `shop/svc` port 80, whose ready endpoints are
/// `endpoints` (they may differ in port): an Ingress `shop/app` of class `sluice`, the
/// Service and its EndpointSlice.
pub fn everything_to(endpoints: &[SocketAddr]) -> Vec<Value> {
    vec![
        ingress(
            "shop",
            "app",
            "sluice",
            &[(None, vec![path("/", "Prefix", "svc", 80)])],
        ),
        service_with_endpoints("shop", "svc", 80, &[])[0].clone(),
        endpoint_slice("shop", "svc", "svc-1", endpoints, &[]),
    ]
}

/// An EndpointSlice of Service `service`: `ready` endpoints, then `not_ready` ones.
pub fn endpoint_slice(
    namespace: &str,
    service: &str,
    name: &str,
    ready: &[SocketAddr],
    not_ready: &[SocketAddr],
) -> Value {
    let port = ready
        .iter()
        .chain(not_ready)
        .next()
        .map(|a| a.port())
        .unwrap_or(80);
    let endpoint = |a: &SocketAddr, ready: bool| json!({ "addresses": [a.ip().to_string()], "conditions": { "ready": ready } });
    let endpoints: Vec<Value> = ready
        .iter()
        .map(|a| endpoint(a, true))
        .chain(not_ready.iter().map(|a| endpoint(a, false)))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": { "name": name, "namespace": namespace,
                      "labels": { "kubernetes.io/service-name": service } },
        "addressType": "IPv4",
        "ports": [{ "name": "http", "port": port, "protocol": "TCP" }],
        "endpoints": endpoints
    })
}

/// One path of an Ingress rule.
pub fn path(path: &str, path_type: &str, service: &str, port: u16) -> Value {
    json!({
        "path": path, "pathType": path_type,
        "backend": { "service": { "name": service, "port": { "number": port } } }
    })
}

/// An Ingress of `class` with one rule per `(host, paths)`.
pub fn ingress(
    namespace: &str,
    name: &str,
    class: &str,
    rules: &[(Option<&str>, Vec<Value>)],
) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(host, paths)| {
            let mut rule = json!({ "http": { "paths": paths } });
            if let Some(h) = host {
                rule["host"] = json!(h);
            }
            rule
        })
        .collect();
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "ingressClassName": class, "rules": rules }
    })
}

/// An Ingress `shop/{name}` of class `sluice` for `host`, `/` to Service `web` port 80,
/// with `annotations` and the host over TLS with Secret `shop/tls`: what the annotation
/// tests route through.
pub fn annotated_ingress(name: &str, host: &str, annotations: Value) -> Value {
    let mut i = ingress(
        "shop",
        name,
        "sluice",
        &[(Some(host), vec![path("/", "Prefix", "web", 80)])],
    );
    i["metadata"]["annotations"] = annotations;
    i["spec"]["tls"] = json!([{ "hosts": [host], "secretName": "tls" }]);
    i
}

/// The `i`th of many Ingresses of class `sluice` in `namespace`, as a bulk apply makes
/// them: its own host `h{i}.bulk.example.com`, `/` to Service `web-N` and `/api` to
/// `api-N` (port 80), with N = `i` modulo `services`.
pub fn bulk_ingress(namespace: &str, i: usize, services: usize) -> Value {
    let n = i % services.max(1);
    ingress(
        namespace,
        &format!("i{i}"),
        "sluice",
        &[(
            Some(&format!("h{i}.bulk.example.com")),
            vec![
                path("/", "Prefix", &format!("web-{n}"), 80),
                path("/api", "Prefix", &format!("api-{n}"), 80),
            ],
        )],
    )
}

/// A self-signed certificate for `hosts`: (certificate PEM, key PEM, certificate DER).
pub fn certificate(hosts: &[&str]) -> anyhow::Result<(String, String, Vec<u8>)> {
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem(), cert.der().to_vec()))
}

/// A `kubernetes.io/tls` Secret.
pub fn tls_secret(namespace: &str, name: &str, cert_pem: &str, key_pem: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": name, "namespace": namespace },
        "stringData": { "tls.crt": cert_pem, "tls.key": key_pem }
    })
}

/// Objects as one multi-document YAML text (JSON documents are YAML).
pub fn to_yaml(objects: &[Value]) -> String {
    objects.iter().map(|o| format!("---\n{o}\n")).collect()
}

/// Writes `objects` to `path` atomically (a temporary file renamed into place), as a
/// config-management tool would, so a watcher never reads half a file.
pub fn write_manifest(path: &std::path::Path, objects: &[Value]) -> anyhow::Result<()> {
    write_atomically(path, &to_yaml(objects))
}

/// Replaces the file in one step (a rename), so a watcher never reads it half-written or
/// truncated to nothing.
pub fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
