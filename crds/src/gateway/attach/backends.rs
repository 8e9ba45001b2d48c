//! A route's `backendRefs`: where each sends traffic, or why it cannot, and the route's
//! `ResolvedRefs` condition.
//!
//! A backendRef is checked in this order (the first failure is its problem):
//! 1. its kind: a core `Service` (group `""` and kind `Service` are the defaults), else
//!    `InvalidKind`;
//! 2. its namespace: the route's, or one whose ReferenceGrant lets routes of this kind and
//!    namespace refer to the Service, else `RefNotPermitted` (before existence, so a route
//!    learns nothing of a namespace it may not use);
//! 3. the Service, asked of the caller ([`ServiceLookup`]): missing, or without the port,
//!    is `BackendNotFound` (the spec requires the port of a Service reference, so one it
//!    lacks is a backend that does not exist); an `ExternalName` Service is `InvalidKind`
//!    (the spec says implementations should not support them);
//! 4. the port's `appProtocol`, against what the route kind can speak
//!    ([`backend_protocol`]), else `UnsupportedProtocol`.
//!
//! An invalid backend keeps its weight: the spec requires the share of requests it would
//! have had to be answered with 500 (all of them when every backend of a rule is invalid and
//! the rule has no filters). The proxy does that from [`Backend::target`]; a weight of 0
//! takes no traffic.

use super::conditions::Outcome;
use super::grants::{ReferenceGrants, Referent, Referrer};
use super::reasons::{CORE_GROUP, kind, route as reason};
use super::route::{RouteId, RouteKind};
use crate::gateway_api::GROUP;
use crate::gateway_api::grpcroutes::GrpcRouteRulesBackendRefs;
use crate::gateway_api::httproutes::{HttpRouteRulesBackendRefs, HttpRouteRulesFilters};

/// The most weight a backendRef may have (the API's maximum).
pub const MAX_WEIGHT: u32 = 1_000_000;

/// One backendRef, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
    pub port: Option<i32>,
    pub weight: Option<i32>,
}

/// A RequestMirror filter: where copies of the rule's requests go, and what share of them
/// (`percent`, else `fraction` as numerator and denominator, else all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorRef {
    pub backend: BackendRef,
    pub percent: Option<i32>,
    pub fraction: Option<(i32, i32)>,
}

/// The mirrors of a rule's `filters`, in order.
pub fn mirrors(filters: &[HttpRouteRulesFilters]) -> Vec<MirrorRef> {
    filters
        .iter()
        .filter_map(|f| f.request_mirror.as_ref())
        .map(|m| MirrorRef {
            backend: BackendRef {
                group: m.backend_ref.group.clone(),
                kind: m.backend_ref.kind.clone(),
                name: m.backend_ref.name.clone(),
                namespace: m.backend_ref.namespace.clone(),
                port: m.backend_ref.port,
                weight: None,
            },
            percent: m.percent,
            fraction: m
                .fraction
                .as_ref()
                .map(|f| (f.numerator, f.denominator.unwrap_or(100))),
        })
        .collect()
}

impl From<&HttpRouteRulesBackendRefs> for BackendRef {
    fn from(b: &HttpRouteRulesBackendRefs) -> Self {
        Self {
            group: b.group.clone(),
            kind: b.kind.clone(),
            name: b.name.clone(),
            namespace: b.namespace.clone(),
            port: b.port,
            weight: b.weight,
        }
    }
}

impl From<&GrpcRouteRulesBackendRefs> for BackendRef {
    fn from(b: &GrpcRouteRulesBackendRefs) -> Self {
        Self {
            group: b.group.clone(),
            kind: b.kind.clone(),
            name: b.name.clone(),
            namespace: b.namespace.clone(),
            port: b.port,
            weight: b.weight,
        }
    }
}

/// What the caller knows of a Service port a backendRef names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServicePort {
    /// There is no such Service.
    NoService,
    /// The Service has no port with that number.
    NoPort,
    /// The Service is of type `ExternalName`.
    ExternalName,
    /// The port exists; its `appProtocol`, if set.
    Found { app_protocol: Option<String> },
}

/// Answers what a Service port is. Any `Fn(namespace, name, port)` will do.
pub trait ServiceLookup {
    fn service_port(&self, namespace: &str, name: &str, port: i32) -> ServicePort;
}

impl<F: Fn(&str, &str, i32) -> ServicePort> ServiceLookup for F {
    fn service_port(&self, namespace: &str, name: &str, port: i32) -> ServicePort {
        self(namespace, name, port)
    }
}

/// How the proxy speaks to a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendProtocol {
    /// HTTP/1.1 (or whatever the proxy speaks to plain HTTP upstreams).
    Http,
    /// HTTP/2 without TLS (`kubernetes.io/h2c`; every gRPC backend).
    H2c,
    /// HTTP/1.1 with WebSocket upgrades (`kubernetes.io/ws`).
    WebSocket,
}

/// The protocol a route of `route` kind speaks to a Service port with `app_protocol`, or
/// `None` when it cannot. HTTPRoute: no appProtocol or `http` → HTTP, `kubernetes.io/h2c`,
/// `kubernetes.io/ws` (KEP-3726's standard names). GRPCRoute: gRPC needs HTTP/2, so no
/// appProtocol, `kubernetes.io/h2c` or `grpc` → h2c. TLS to backends (`https`,
/// `kubernetes.io/wss`) needs a BackendTLSPolicy, which Sluice does not read yet.
pub fn backend_protocol(route: RouteKind, app_protocol: Option<&str>) -> Option<BackendProtocol> {
    match (route, app_protocol) {
        (RouteKind::Http, None | Some("http")) => Some(BackendProtocol::Http),
        (RouteKind::Http, Some("kubernetes.io/ws")) => Some(BackendProtocol::WebSocket),
        (RouteKind::Http, Some("kubernetes.io/h2c")) => Some(BackendProtocol::H2c),
        (RouteKind::Grpc, None | Some("kubernetes.io/h2c" | "grpc")) => Some(BackendProtocol::H2c),
        _ => None,
    }
}

/// Why a backendRef cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendProblem {
    #[error("backendRef {name:?} is a {kind} of group {group:?}; only core Services are supported")]
    InvalidKind {
        group: String,
        kind: String,
        name: String,
    },
    #[error("Service {namespace}/{name} is of type ExternalName, which Sluice does not route to")]
    ExternalName { namespace: String, name: String },
    #[error(
        "Service {namespace}/{name} is in another namespace and no ReferenceGrant there lets {route_kind}s of {route_namespace} use it"
    )]
    RefNotPermitted {
        namespace: String,
        name: String,
        route_kind: &'static str,
        route_namespace: String,
    },
    #[error("Service {namespace}/{name} does not exist")]
    NoService { namespace: String, name: String },
    #[error("backendRef to Service {namespace}/{name} has no port")]
    NoPortGiven { namespace: String, name: String },
    #[error("Service {namespace}/{name} has no port {port}")]
    NoPort {
        namespace: String,
        name: String,
        port: i32,
    },
    #[error(
        "port {port} of Service {namespace}/{name} has appProtocol {app_protocol:?}, which a {route_kind} cannot speak"
    )]
    UnsupportedProtocol {
        namespace: String,
        name: String,
        port: i32,
        app_protocol: String,
        route_kind: &'static str,
    },
}

impl BackendProblem {
    /// The route's `ResolvedRefs` reason for it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidKind { .. } | Self::ExternalName { .. } => reason::INVALID_KIND,
            Self::RefNotPermitted { .. } => reason::REF_NOT_PERMITTED,
            Self::NoService { .. } | Self::NoPortGiven { .. } | Self::NoPort { .. } => {
                reason::BACKEND_NOT_FOUND
            }
            Self::UnsupportedProtocol { .. } => reason::UNSUPPORTED_PROTOCOL,
        }
    }
}

/// A backendRef, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The namespace of the Service (the route's when not written).
    pub namespace: String,
    pub name: String,
    pub port: Option<i32>,
    /// Its weight (1 when not written), at most [`MAX_WEIGHT`].
    pub weight: u32,
    /// How to speak to it, or why it cannot be used (its share is answered with 500).
    pub target: Result<BackendProtocol, BackendProblem>,
}

impl Backend {
    pub fn is_usable(&self) -> bool {
        self.target.is_ok()
    }
}

/// Resolves the `refs` of one rule of `route`.
pub fn resolve(
    route: &RouteId,
    refs: &[BackendRef],
    grants: &ReferenceGrants,
    services: &impl ServiceLookup,
) -> Vec<Backend> {
    refs.iter()
        .map(|r| {
            let namespace = r.namespace.as_deref().unwrap_or(&route.namespace);
            Backend {
                namespace: namespace.to_string(),
                name: r.name.clone(),
                port: r.port,
                weight: r
                    .weight
                    .map_or(1, |w| u32::try_from(w).unwrap_or(0).min(MAX_WEIGHT)),
                target: target(route, r, namespace, grants, services),
            }
        })
        .collect()
}

fn target(
    route: &RouteId,
    r: &BackendRef,
    namespace: &str,
    grants: &ReferenceGrants,
    services: &impl ServiceLookup,
) -> Result<BackendProtocol, BackendProblem> {
    let group = r.group.as_deref().unwrap_or(CORE_GROUP);
    let kind = r.kind.as_deref().unwrap_or(kind::SERVICE);
    if group != CORE_GROUP || kind != kind::SERVICE {
        return Err(BackendProblem::InvalidKind {
            group: group.to_string(),
            kind: kind.to_string(),
            name: r.name.clone(),
        });
    }
    // Only a problem names them: built then, not for every usable backend.
    let (ns, name) = (|| namespace.to_string(), || r.name.clone());
    let from = Referrer {
        group: GROUP,
        kind: route.kind.kind(),
        namespace: &route.namespace,
    };
    let to = Referent {
        group,
        kind,
        namespace,
        name: &r.name,
    };
    if !grants.allows(&from, &to) {
        return Err(BackendProblem::RefNotPermitted {
            namespace: ns(),
            name: name(),
            route_kind: route.kind.kind(),
            route_namespace: route.namespace.clone(),
        });
    }
    let Some(port) = r.port else {
        return Err(BackendProblem::NoPortGiven {
            namespace: ns(),
            name: name(),
        });
    };
    match services.service_port(namespace, &r.name, port) {
        ServicePort::NoService => Err(BackendProblem::NoService {
            namespace: ns(),
            name: name(),
        }),
        ServicePort::NoPort => Err(BackendProblem::NoPort {
            namespace: ns(),
            name: name(),
            port,
        }),
        ServicePort::ExternalName => Err(BackendProblem::ExternalName {
            namespace: ns(),
            name: name(),
        }),
        ServicePort::Found { app_protocol } => {
            backend_protocol(route.kind, app_protocol.as_deref()).ok_or_else(|| {
                BackendProblem::UnsupportedProtocol {
                    namespace: ns(),
                    name: name(),
                    port,
                    app_protocol: app_protocol.unwrap_or_default(),
                    route_kind: route.kind.kind(),
                }
            })
        }
    }
}

/// The route's `ResolvedRefs` condition, from the backends of all its rules: `True` when
/// every one is usable, else `False` with the first problem's reason (rules and backends in
/// order) and every problem in the message.
pub fn resolved_refs<'a>(backends: impl IntoIterator<Item = &'a Backend>) -> Outcome {
    let problems: Vec<&BackendProblem> = backends
        .into_iter()
        .filter_map(|b| b.target.as_ref().err())
        .collect();
    match problems.first() {
        None => Outcome::yes(reason::RESOLVED_REFS, "All references are resolved"),
        Some(first) => {
            let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Outcome::no(first.reason(), all.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_api::referencegrants::ReferenceGrant;
    use serde_json::json;

    const INFRA: &str = "gateway-conformance-infra";
    const WEB: &str = "gateway-conformance-web-backend";

    fn http_route() -> RouteId {
        RouteId {
            kind: RouteKind::Http,
            namespace: INFRA.into(),
            name: "r".into(),
        }
    }

    fn services(namespace: &str, name: &str, port: i32) -> ServicePort {
        match (namespace, name, port) {
            (_, "nonexistent", _) => ServicePort::NoService,
            (_, "external", _) => ServicePort::ExternalName,
            (_, "h2c", 8080) => ServicePort::Found {
                app_protocol: Some("kubernetes.io/h2c".into()),
            },
            (_, "ws", 8080) => ServicePort::Found {
                app_protocol: Some("kubernetes.io/ws".into()),
            },
            (_, "mysql", 8080) => ServicePort::Found {
                app_protocol: Some("mysql".into()),
            },
            (_, _, 8080) => ServicePort::Found { app_protocol: None },
            _ => ServicePort::NoPort,
        }
    }

    fn backend_ref(v: serde_json::Value) -> BackendRef {
        let b: HttpRouteRulesBackendRefs = serde_json::from_value(v).unwrap();
        BackendRef::from(&b)
    }

    fn grant_web_services() -> ReferenceGrants {
        let grant: ReferenceGrant = serde_json::from_value(json!({
            "metadata": { "name": "reference-grant", "namespace": WEB },
            "spec": {
                "from": [{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": INFRA }],
                "to": [{ "group": "", "kind": "Service", "name": "web-backend" }]
            }
        }))
        .unwrap();
        ReferenceGrants::new([&grant])
    }

    #[test]
    fn each_backend_ref_is_judged() {
        let none = ReferenceGrants::default();
        let granted = grant_web_services();
        // (backendRef, grants, Ok(protocol) or the problem's reason)
        let cases: [(
            serde_json::Value,
            &ReferenceGrants,
            Result<BackendProtocol, &str>,
        ); 12] = [
            (
                json!({ "name": "svc", "port": 8080 }),
                &none,
                Ok(BackendProtocol::Http),
            ),
            (
                json!({ "group": "", "kind": "Service", "name": "svc", "port": 8080 }),
                &none,
                Ok(BackendProtocol::Http),
            ),
            // HTTPRouteInvalidBackendRefUnknownKind.
            (
                json!({ "group": "unknownkind.example.com", "kind": "NonExistent",
                        "name": "infra-backend-v1", "port": 8080 }),
                &none,
                Err("InvalidKind"),
            ),
            // HTTPRouteInvalidNonExistentBackendRef.
            (
                json!({ "name": "nonexistent", "namespace": INFRA, "port": 8080 }),
                &none,
                Err("BackendNotFound"),
            ),
            (
                json!({ "name": "svc", "port": 9999 }),
                &none,
                Err("BackendNotFound"),
            ),
            (json!({ "name": "svc" }), &none, Err("BackendNotFound")),
            // HTTPRouteInvalidCrossNamespaceBackendRef and HTTPRouteReferenceGrant.
            (
                json!({ "name": "web-backend", "namespace": WEB, "port": 8080 }),
                &none,
                Err("RefNotPermitted"),
            ),
            (
                json!({ "name": "web-backend", "namespace": WEB, "port": 8080 }),
                &granted,
                Ok(BackendProtocol::Http),
            ),
            // The grant names one Service only; existence is not told across namespaces.
            (
                json!({ "name": "nonexistent", "namespace": WEB, "port": 8080 }),
                &granted,
                Err("RefNotPermitted"),
            ),
            (
                json!({ "name": "external", "port": 8080 }),
                &none,
                Err("InvalidKind"),
            ),
            (
                json!({ "name": "h2c", "port": 8080 }),
                &none,
                Ok(BackendProtocol::H2c),
            ),
            (
                json!({ "name": "mysql", "port": 8080 }),
                &none,
                Err("UnsupportedProtocol"),
            ),
        ];
        for (written, grants, expected) in cases {
            let got = resolve(
                &http_route(),
                &[backend_ref(written.clone())],
                grants,
                &services,
            );
            let got = got[0]
                .target
                .as_ref()
                .map(|p| *p)
                .map_err(BackendProblem::reason);
            assert_eq!(got, expected, "{written}");
        }
    }

    #[test]
    fn app_protocols_by_route_kind() {
        use BackendProtocol::*;
        let cases = [
            (RouteKind::Http, None, Some(Http)),
            (RouteKind::Http, Some("http"), Some(Http)),
            (RouteKind::Http, Some("kubernetes.io/h2c"), Some(H2c)),
            (RouteKind::Http, Some("kubernetes.io/ws"), Some(WebSocket)),
            (RouteKind::Http, Some("kubernetes.io/wss"), None),
            (RouteKind::Http, Some("https"), None),
            (RouteKind::Http, Some("grpc"), None),
            (RouteKind::Grpc, None, Some(H2c)),
            (RouteKind::Grpc, Some("kubernetes.io/h2c"), Some(H2c)),
            (RouteKind::Grpc, Some("grpc"), Some(H2c)),
            (RouteKind::Grpc, Some("http"), None),
            (RouteKind::Grpc, Some("kubernetes.io/ws"), None),
        ];
        for (kind, app_protocol, expected) in cases {
            assert_eq!(
                backend_protocol(kind, app_protocol),
                expected,
                "{kind:?} {app_protocol:?}"
            );
        }
    }

    #[test]
    fn invalid_backends_keep_their_weight() {
        // HTTPRoutePartiallyInvalidViaInvalidReferenceGrant: the invalid backend's share is
        // answered with 500, the valid one's served.
        let refs = [
            backend_ref(json!({ "name": "svc", "port": 8080, "weight": 3 })),
            backend_ref(json!({ "name": "web-backend", "namespace": WEB, "port": 8080 })),
            backend_ref(json!({ "name": "svc", "port": 8080, "weight": 0 })),
            backend_ref(json!({ "name": "svc", "port": 8080, "weight": 5000000 })),
        ];
        let got = resolve(&http_route(), &refs, &ReferenceGrants::default(), &services);
        let weights: Vec<u32> = got.iter().map(|b| b.weight).collect();
        assert_eq!(weights, [3, 1, 0, MAX_WEIGHT]);
        let usable: Vec<bool> = got.iter().map(Backend::is_usable).collect();
        assert_eq!(usable, [true, false, true, true]);
        assert_eq!(got[1].namespace, WEB);
        assert_eq!(got[0].namespace, INFRA);
    }

    #[test]
    fn resolved_refs_condition() {
        let route = http_route();
        let none = ReferenceGrants::default();
        let rule = |refs: &[serde_json::Value]| {
            let refs: Vec<BackendRef> = refs.iter().cloned().map(backend_ref).collect();
            resolve(&route, &refs, &none, &services)
        };
        let good = rule(&[json!({ "name": "svc", "port": 8080 })]);
        let c = resolved_refs(&good);
        assert_eq!((c.is_true(), c.reason), (true, "ResolvedRefs"));

        let bad = rule(&[
            json!({ "name": "svc", "port": 8080 }),
            json!({ "name": "nonexistent", "port": 8080 }),
        ]);
        let worse = rule(&[json!({ "kind": "ConfigMap", "name": "x", "port": 1 })]);
        let c = resolved_refs(good.iter().chain(&bad).chain(&worse));
        assert_eq!((c.is_true(), c.reason), (false, "BackendNotFound"));
        assert!(c.message.contains("nonexistent"), "{}", c.message);
        assert!(c.message.contains("ConfigMap"), "{}", c.message);
    }

    #[test]
    fn grpc_routes_need_their_own_grant() {
        // The grant lets HTTPRoutes of INFRA use web-backend, not GRPCRoutes.
        let route = RouteId {
            kind: RouteKind::Grpc,
            ..http_route()
        };
        let b: GrpcRouteRulesBackendRefs = serde_json::from_value(
            json!({ "name": "web-backend", "namespace": WEB, "port": 8080 }),
        )
        .unwrap();
        let got = resolve(
            &route,
            &[BackendRef::from(&b)],
            &grant_web_services(),
            &services,
        );
        assert_eq!(
            got[0].target.as_ref().map_err(BackendProblem::reason),
            Err("RefNotPermitted")
        );
    }
}
