//! Resolving an Ingress backend (Service + port) to the endpoints to send requests to, at
//! compile time and again, in place, when only Services or EndpointSlices changed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::api::networking::v1::{IngressBackend, ServiceBackendPort};

use crate::objects::ServiceSet;
use crate::routes::{Backend, BackendIndex, Endpoints, ServicePortRef};

/// The label an EndpointSlice carries to say which Service it belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The Service an EndpointSlice belongs to, `(namespace, name)`.
pub fn slice_service(slice: &EndpointSlice) -> Option<(&str, &str)> {
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))?;
    Some((slice.metadata.namespace.as_deref()?, service.as_str()))
}

/// Services and their EndpointSlices by `(namespace, name)`.
struct Lookup<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
}

impl<'a> Lookup<'a> {
    fn new(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Self {
        let services = services
            .into_iter()
            .filter_map(|s| {
                Some((
                    (
                        s.metadata.namespace.as_deref()?,
                        s.metadata.name.as_deref()?,
                    ),
                    s,
                ))
            })
            .collect();
        let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in slices {
            if let Some(service) = slice_service(slice) {
                by_service.entry(service).or_default().push(slice);
            }
        }
        Self {
            services,
            slices: by_service,
        }
    }

    fn endpoints(&self, target: &ServicePortRef) -> Endpoints {
        let key = (target.namespace.as_str(), target.service.as_str());
        endpoints_of(
            target,
            self.services.get(&key).copied(),
            self.slices.get(&key).map(Vec::as_slice).unwrap_or_default(),
        )
    }
}

/// Looks Services and their EndpointSlices up by name, and shares one [`Backend`] (and so
/// one round-robin position and one endpoint list) between every route to the same
/// Service port.
pub struct BackendResolver<'a> {
    lookup: Lookup<'a>,
    resolved: BackendIndex,
}

impl<'a> BackendResolver<'a> {
    pub fn new(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Self {
        Self {
            lookup: Lookup::new(services, slices),
            resolved: BackendIndex::default(),
        }
    }

    /// The backend of an Ingress (in `namespace`) backend reference. Never fails: a
    /// backend that cannot be resolved has no endpoints and says why (requests get 503).
    pub fn resolve(&mut self, namespace: &str, backend: &IngressBackend) -> Arc<Backend> {
        let Some(service) = &backend.service else {
            let problem = if backend.resource.is_some() {
                "resource backends are not supported by Sluice"
            } else {
                "the backend names no Service"
            };
            return Arc::new(Backend::new(
                format!("{namespace}/(none)"),
                None,
                Endpoints {
                    addrs: Vec::new(),
                    problem: Some(problem.into()),
                },
            ));
        };
        let port = service.port.as_ref();
        // Looked up before any name is built: most routes share their backend with another.
        if let Some(b) = self.resolved.find(namespace, &service.name, port) {
            return b.clone();
        }
        let port_label = match (
            port.and_then(|p| p.number),
            port.and_then(|p| p.name.as_deref()),
        ) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => String::from("?"),
        };
        let name = format!("{namespace}/{}:{port_label}", service.name);
        let target = ServicePortRef {
            namespace: namespace.to_string(),
            service: service.name.clone(),
            port: port.cloned(),
        };
        let endpoints = self.lookup.endpoints(&target);
        let b = Arc::new(Backend::new(name, Some(target), endpoints));
        self.resolved.insert(b.clone());
        b
    }

    /// The backend of Service `namespace/name`, port `port` (a Gateway API backendRef).
    pub fn resolve_port(&mut self, namespace: &str, name: &str, port: i32) -> Arc<Backend> {
        self.resolve(
            namespace,
            &IngressBackend {
                service: Some(k8s_openapi::api::networking::v1::IngressServiceBackend {
                    name: name.to_string(),
                    port: Some(ServiceBackendPort {
                        number: Some(port),
                        name: None,
                    }),
                }),
                resource: None,
            },
        )
    }

    /// Every backend resolved so far, by Service.
    pub fn into_index(self) -> BackendIndex {
        self.resolved
    }
}

/// Works out again the endpoints of the backends of the `changed` Services, from the
/// current Services and EndpointSlices (only those of changed Services are looked at),
/// and swaps them in place. Returns how many backends got a new endpoint list.
pub fn refresh<'a>(
    index: &BackendIndex,
    changed: &ServiceSet,
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> usize {
    let lookup = Lookup::new(
        services.into_iter().filter(|s| {
            matches!(
                (s.metadata.namespace.as_deref(), s.metadata.name.as_deref()),
                (Some(ns), Some(name)) if changed.contains(ns, name)
            )
        }),
        // The namespace first: most slices are ruled out without reading their labels.
        slices.into_iter().filter(|s| {
            s.metadata
                .namespace
                .as_deref()
                .is_some_and(|ns| changed.has_namespace(ns))
                && slice_service(s).is_some_and(|(ns, name)| changed.contains(ns, name))
        }),
    );
    let mut updated = 0;
    for (namespace, name) in changed.iter() {
        for backend in index.of_service(namespace, name) {
            if let Some(target) = &backend.target
                && backend.set_endpoints(lookup.endpoints(target))
            {
                updated += 1;
            }
        }
    }
    updated
}

/// The endpoints of `target`, given its Service (if it exists) and that Service's
/// EndpointSlices; when there are none, why.
fn endpoints_of(
    target: &ServicePortRef,
    service: Option<&Service>,
    slices: &[&EndpointSlice],
) -> Endpoints {
    let ServicePortRef {
        namespace,
        service: service_name,
        port,
    } = target;
    let failed = |problem: String| Endpoints {
        addrs: Vec::new(),
        problem: Some(problem),
    };
    let Some(service) = service else {
        return failed(format!("Service {namespace}/{service_name} not found"));
    };
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return failed(format!(
            "Service {namespace}/{service_name} is of type ExternalName, which Sluice does not route to"
        ));
    }
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let Some(service_port) = find_service_port(ports, port.as_ref()) else {
        return failed(format!(
            "Service {namespace}/{service_name} has no port {}",
            describe_port(port.as_ref())
        ));
    };
    let addrs = select_endpoints(slices, service_port);
    if addrs.is_empty() {
        return failed(format!(
            "Service {namespace}/{service_name} has no ready endpoints"
        ));
    }
    Endpoints {
        addrs,
        problem: None,
    }
}

/// The Service port a backend names; a backend that names none (an Ingress's
/// `default-backend` annotation) gets the first, as in ingress-nginx.
fn find_service_port<'s>(
    ports: &'s [ServicePort],
    wanted: Option<&ServiceBackendPort>,
) -> Option<&'s ServicePort> {
    let Some(wanted) = wanted else {
        return ports.first();
    };
    if let Some(n) = wanted.number {
        return ports.iter().find(|p| p.port == n);
    }
    let name = wanted.name.as_deref()?;
    ports.iter().find(|p| p.name.as_deref() == Some(name))
}

fn describe_port(port: Option<&ServiceBackendPort>) -> String {
    match port {
        Some(p) => match (p.number, &p.name) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => format!("named {name:?}"),
            (None, None) => "(unset)".into(),
        },
        None => "(unset)".into(),
    }
}

/// The endpoints of a Service port across its slices: the ready ones; if none is ready,
/// those that are still serving while terminating (better than failing every request).
fn select_endpoints(slices: &[&EndpointSlice], service_port: &ServicePort) -> Vec<SocketAddr> {
    let mut ready = Vec::new();
    let mut terminating = Vec::new();
    let port_name = service_port.name.as_deref().unwrap_or("");
    for slice in slices {
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            continue;
        }
        let Some(port) = slice.ports.as_deref().unwrap_or_default().iter().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && p.protocol.as_deref().unwrap_or("TCP") == "TCP"
        }) else {
            continue;
        };
        let Some(port) = port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let Some(ip) = endpoint
                .addresses
                .first()
                .and_then(|a| a.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let addr = SocketAddr::new(ip, port);
            match readiness(endpoint) {
                Readiness::Ready => ready.push(addr),
                Readiness::ServingTerminating => terminating.push(addr),
                Readiness::NotServing => {}
            }
        }
    }
    let mut chosen = if ready.is_empty() { terminating } else { ready };
    chosen.sort();
    chosen.dedup();
    chosen
}

enum Readiness {
    Ready,
    ServingTerminating,
    NotServing,
}

/// EndpointSlice conditions, with the API's rules for unset values: `ready` unset means
/// ready; `serving` unset means the same as `ready`; `terminating` unset means not.
fn readiness(endpoint: &Endpoint) -> Readiness {
    let c = endpoint.conditions.as_ref();
    let ready = c.and_then(|c| c.ready).unwrap_or(true);
    let serving = c.and_then(|c| c.serving).unwrap_or(ready);
    let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
    match (ready && !terminating, serving && terminating) {
        (true, _) => Readiness::Ready,
        (false, true) => Readiness::ServingTerminating,
        (false, false) => Readiness::NotServing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> Service {
        serde_json::from_value(json!({
            "metadata": { "name": "api", "namespace": "shop" },
            "spec": { "ports": [
                { "name": "http", "port": 80, "targetPort": 8080 },
                { "name": "admin", "port": 9000 }
            ]}
        }))
        .unwrap()
    }

    fn slice(name: &str, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": { "name": name, "namespace": "shop",
                          "labels": { SERVICE_NAME_LABEL: "api" } },
            "addressType": "IPv4",
            "ports": [ { "name": "http", "port": 8080 }, { "name": "admin", "port": 9001 } ],
            "endpoints": endpoints
        }))
        .unwrap()
    }

    fn backend(port: serde_json::Value) -> IngressBackend {
        serde_json::from_value(json!({ "service": { "name": "api", "port": port } })).unwrap()
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn ready(list: &[&str]) -> Endpoints {
        Endpoints {
            addrs: addrs(list),
            problem: None,
        }
    }

    #[test]
    fn resolves_ports_by_number_and_name_across_slices() {
        let svc = service();
        let a = slice(
            "a",
            json!([{ "addresses": ["10.0.0.2"] }, { "addresses": ["10.0.0.1"] }]),
        );
        let b = slice(
            "b",
            json!([{ "addresses": ["10.0.0.3"], "conditions": { "ready": true } }]),
        );
        let mut r = BackendResolver::new([&svc], [&a, &b]);
        let by_number = r.resolve("shop", &backend(json!({ "number": 80 })));
        assert_eq!(
            by_number.endpoints().addrs,
            addrs(&["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"])
        );
        let by_name = r.resolve("shop", &backend(json!({ "name": "admin" })));
        assert_eq!(by_name.endpoints().addrs.len(), 3);
        assert!(by_name.endpoints().addrs.iter().all(|e| e.port() == 9001));
        // The same Service port resolves to the same shared backend.
        let again = r.resolve("shop", &backend(json!({ "number": 80 })));
        assert!(Arc::ptr_eq(&by_number, &again));
    }

    #[test]
    fn only_ready_endpoints_unless_only_terminating_ones_serve() {
        let svc = service();
        let s = slice(
            "a",
            json!([
                { "addresses": ["10.0.0.1"], "conditions": { "ready": false } },
                { "addresses": ["10.0.0.2"], "conditions": { "ready": true } },
                { "addresses": ["10.0.0.3"], "conditions": { "ready": false, "serving": true, "terminating": true } }
            ]),
        );
        let mut r = BackendResolver::new([&svc], [&s]);
        assert_eq!(
            r.resolve("shop", &backend(json!({ "number": 80 })))
                .endpoints()
                .addrs,
            addrs(&["10.0.0.2:8080"])
        );

        let s = slice(
            "a",
            json!([
                { "addresses": ["10.0.0.1"], "conditions": { "ready": false } },
                { "addresses": ["10.0.0.3"], "conditions": { "ready": false, "serving": true, "terminating": true } }
            ]),
        );
        let mut r = BackendResolver::new([&svc], [&s]);
        assert_eq!(
            r.resolve("shop", &backend(json!({ "number": 80 })))
                .endpoints()
                .addrs,
            addrs(&["10.0.0.3:8080"])
        );
    }

    #[test]
    fn unresolvable_backends_say_why() {
        let svc = service();
        let mut r = BackendResolver::new([&svc], []);
        let missing_port = r.resolve("shop", &backend(json!({ "number": 81 })));
        assert_eq!(
            missing_port.endpoints().problem.as_deref(),
            Some("Service shop/api has no port 81")
        );
        let no_endpoints = r.resolve("shop", &backend(json!({ "number": 80 })));
        assert_eq!(
            no_endpoints.endpoints().problem.as_deref(),
            Some("Service shop/api has no ready endpoints")
        );
        let other_ns = r.resolve("web", &backend(json!({ "number": 80 })));
        assert_eq!(
            other_ns.endpoints().problem.as_deref(),
            Some("Service web/api not found")
        );
        let resource: IngressBackend = serde_json::from_value(json!({
            "resource": { "apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "b" }
        }))
        .unwrap();
        assert!(
            r.resolve("shop", &resource)
                .endpoints()
                .problem
                .as_deref()
                .unwrap()
                .contains("not supported")
        );
    }

    #[test]
    fn refresh_swaps_the_endpoints_of_changed_services_in_place() {
        let svc = service();
        let before = slice("a", json!([{ "addresses": ["10.0.0.1"] }]));
        let mut r = BackendResolver::new([&svc], [&before]);
        let http = r.resolve("shop", &backend(json!({ "number": 80 })));
        let admin = r.resolve("shop", &backend(json!({ "name": "admin" })));
        let index = r.into_index();
        assert_eq!(index.of_service("shop", "api").len(), 2);

        let after = slice(
            "a",
            json!([{ "addresses": ["10.0.0.2"] }, { "addresses": ["10.0.0.3"] }]),
        );
        let mut changed = ServiceSet::default();
        changed.insert("shop", "other");
        // Only the changed Services are looked at.
        assert_eq!(refresh(&index, &changed, [&svc], [&after]), 0);
        assert_eq!(http.endpoints().addrs, addrs(&["10.0.0.1:8080"]));

        changed.insert("shop", "api");
        assert_eq!(refresh(&index, &changed, [&svc], [&after]), 2);
        assert_eq!(
            http.endpoints().addrs,
            addrs(&["10.0.0.2:8080", "10.0.0.3:8080"])
        );
        assert_eq!(
            admin.endpoints().addrs,
            addrs(&["10.0.0.2:9001", "10.0.0.3:9001"])
        );
        // The removed endpoint is never picked again.
        for _ in 0..4 {
            assert_ne!(http.pick(&[]), Some(addrs(&["10.0.0.1:8080"])[0]));
        }
        // Nothing new: nothing stored.
        assert_eq!(refresh(&index, &changed, [&svc], [&after]), 0);
        // The Service deleted: no endpoints, and why.
        assert_eq!(refresh(&index, &changed, [], [&after]), 2);
        assert_eq!(
            http.endpoints().problem.as_deref(),
            Some("Service shop/api not found")
        );
        assert_eq!(http.pick(&[]), None);
    }

    #[test]
    fn round_robin_skips_tried_endpoints() {
        let b = Backend::new("x".into(), None, ready(&["10.0.0.1:80", "10.0.0.2:80"]));
        let first = b.pick(&[]).unwrap();
        let second = b.pick(&[]).unwrap();
        assert_ne!(first, second);
        assert_eq!(b.pick(&[first]), Some(second));
        assert_eq!(b.pick(&[first, second]), None);
        // Retries do not advance the rotation: the next fresh pick is `first` again.
        assert_eq!(b.pick(&[]), Some(first));
        let three = Backend::new(
            "y".into(),
            None,
            ready(&["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]),
        );
        assert_eq!(
            three.pick(&addrs(&["10.0.0.2:80"])),
            Some(addrs(&["10.0.0.3:80"])[0])
        );
    }
}
