//! A route as attachment reads it: the same for an HTTPRoute and a GRPCRoute, whose
//! generated types differ only in name.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::AttachError;
use super::reasons::kind;
use crate::gateway::rules::{self, ReadRule};
use crate::gateway_api::GROUP;
use crate::gateway_api::grpcroutes::{
    GrpcRoute, GrpcRouteParentRefs, GrpcRouteStatusParentsParentRef,
};
use crate::gateway_api::httproutes::{
    HttpRoute, HttpRouteParentRefs, HttpRouteStatusParentsParentRef,
};

/// The kinds of route a listener may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    Http,
    Grpc,
    Tls,
}

impl RouteKind {
    /// The kind's name (`HTTPRoute`); its group is always [`GROUP`].
    pub fn kind(self) -> &'static str {
        match self {
            Self::Http => kind::HTTP_ROUTE,
            Self::Grpc => kind::GRPC_ROUTE,
            Self::Tls => kind::TLS_ROUTE,
        }
    }

    /// The route kind `group`/`kind` names, if it is one Sluice knows.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        if group != GROUP {
            return None;
        }
        [Self::Http, Self::Grpc, Self::Tls]
            .into_iter()
            .find(|k| k.kind() == kind)
    }
}

/// Which route: kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteId {
    pub kind: RouteKind,
    pub namespace: String,
    pub name: String,
}

/// One entry of a route's `parentRefs`, as written (defaults are applied when read, so that
/// status can repeat the entry exactly).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParentRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub section_name: Option<String>,
    pub port: Option<i32>,
}

impl ParentRef {
    /// The group, `gateway.networking.k8s.io` when not written (an empty one is the core
    /// group, as for a Service parent).
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(GROUP)
    }

    /// The kind, `Gateway` when not written.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or(kind::GATEWAY)
    }

    /// The namespace, the route's when not written.
    pub fn namespace<'a>(&'a self, route_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(route_namespace)
    }

    /// Whether it names a Gateway (not a Service, a ListenerSet or anything else).
    pub fn is_gateway(&self) -> bool {
        self.group() == GROUP && self.kind() == kind::GATEWAY
    }

    /// Whether `other` is the same entry, a group or kind left out counting as its default
    /// (the API server fills them in, so one copy may have them and another not).
    pub fn same_as(&self, other: &Self) -> bool {
        self.group() == other.group()
            && self.kind() == other.kind()
            && self.namespace == other.namespace
            && self.name == other.name
            && self.section_name == other.section_name
            && self.port == other.port
    }
}

/// A rule of a route that the caller found unusable (a match or filter Sluice cannot
/// serve), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRule {
    /// The rule's index in `spec.rules`.
    pub index: usize,
    pub message: String,
}

/// What attaching a route reads of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub id: RouteId,
    /// `metadata.generation`, for `observedGeneration`.
    pub generation: Option<i64>,
    /// `metadata.creationTimestamp`: older routes win ties when serving.
    pub created: Option<Time>,
    /// `spec.hostnames`, as written.
    pub hostnames: Vec<String>,
    pub parent_refs: Vec<ParentRef>,
    /// How many rules the route has.
    pub rule_count: usize,
    /// The rules that cannot be served as written ([`crate::gateway::rules`]).
    pub invalid_rules: Vec<InvalidRule>,
}

impl Route {
    /// Reads an HTTPRoute.
    pub fn from_http(route: &HttpRoute) -> Result<Self, AttachError> {
        Self::from_http_rules(route, &rules::read_http_rules(route))
    }

    /// [`Self::from_http`], its rules already read.
    pub fn from_http_rules(route: &HttpRoute, read: &[ReadRule]) -> Result<Self, AttachError> {
        let spec = &route.spec;
        Self::new(
            RouteKind::Http,
            &route.metadata,
            spec.hostnames.as_deref(),
            spec.parent_refs
                .iter()
                .flatten()
                .map(ParentRef::from)
                .collect(),
            read,
        )
    }

    /// Reads a GRPCRoute.
    pub fn from_grpc(route: &GrpcRoute) -> Result<Self, AttachError> {
        Self::from_grpc_rules(route, &rules::read_grpc_rules(route))
    }

    /// [`Self::from_grpc`], its rules already read.
    pub fn from_grpc_rules(route: &GrpcRoute, read: &[ReadRule]) -> Result<Self, AttachError> {
        let spec = &route.spec;
        Self::new(
            RouteKind::Grpc,
            &route.metadata,
            spec.hostnames.as_deref(),
            spec.parent_refs
                .iter()
                .flatten()
                .map(ParentRef::from)
                .collect(),
            read,
        )
    }

    fn new(
        kind: RouteKind,
        metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        hostnames: Option<&[String]>,
        parent_refs: Vec<ParentRef>,
        read: &[ReadRule],
    ) -> Result<Self, AttachError> {
        let missing = |field| AttachError::Missing {
            kind: kind.kind(),
            field,
        };
        Ok(Self {
            id: RouteId {
                kind,
                namespace: metadata.namespace.clone().ok_or(missing("namespace"))?,
                name: metadata.name.clone().ok_or(missing("name"))?,
            },
            generation: metadata.generation,
            created: metadata.creation_timestamp.clone(),
            hostnames: hostnames.map(<[String]>::to_vec).unwrap_or_default(),
            parent_refs,
            // One read rule per rule of the spec.
            rule_count: read.len(),
            invalid_rules: rules::invalid_rules(read),
        })
    }
}

impl From<&HttpRouteParentRefs> for ParentRef {
    fn from(p: &HttpRouteParentRefs) -> Self {
        Self {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        }
    }
}

impl From<&GrpcRouteParentRefs> for ParentRef {
    fn from(p: &GrpcRouteParentRefs) -> Self {
        Self {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        }
    }
}

impl From<&HttpRouteStatusParentsParentRef> for ParentRef {
    fn from(p: &HttpRouteStatusParentsParentRef) -> Self {
        Self {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        }
    }
}

impl From<&GrpcRouteStatusParentsParentRef> for ParentRef {
    fn from(p: &GrpcRouteStatusParentsParentRef) -> Self {
        Self {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        }
    }
}

impl From<&ParentRef> for HttpRouteStatusParentsParentRef {
    fn from(p: &ParentRef) -> Self {
        Self {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        }
    }
}

impl From<&ParentRef> for GrpcRouteStatusParentsParentRef {
    fn from(p: &ParentRef) -> Self {
        Self {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parent_ref_defaults() {
        let written = ParentRef {
            name: "gw".into(),
            ..ParentRef::default()
        };
        assert_eq!(written.group(), GROUP);
        assert_eq!(written.kind(), "Gateway");
        assert_eq!(written.namespace("apps"), "apps");
        assert!(written.is_gateway());
        let service = ParentRef {
            group: Some(String::new()),
            kind: Some("Service".into()),
            namespace: Some("mesh".into()),
            ..written.clone()
        };
        assert_eq!(service.namespace("apps"), "mesh");
        assert!(!service.is_gateway());
        let listener_set = ParentRef {
            kind: Some("ListenerSet".into()),
            ..written
        };
        assert!(!listener_set.is_gateway());
    }

    #[test]
    fn the_same_entry_with_or_without_defaults() {
        let bare = ParentRef {
            name: "gw".into(),
            section_name: Some("http".into()),
            ..ParentRef::default()
        };
        let defaulted = ParentRef {
            group: Some(GROUP.into()),
            kind: Some("Gateway".into()),
            ..bare.clone()
        };
        assert!(bare.same_as(&defaulted));
        assert!(defaulted.same_as(&bare));
        let other_section = ParentRef {
            section_name: None,
            ..bare.clone()
        };
        assert!(!bare.same_as(&other_section));
        let other_port = ParentRef {
            port: Some(80),
            ..bare.clone()
        };
        assert!(!bare.same_as(&other_port));
    }

    #[test]
    fn reads_http_and_grpc_routes_alike() {
        let value = json!({
            "metadata": {
                "name": "r", "namespace": "apps", "generation": 4,
                "creationTimestamp": "2025-01-01T00:00:00Z"
            },
            "spec": {
                "hostnames": ["a.example.com"],
                "parentRefs": [{ "name": "gw", "sectionName": "http", "port": 80 }],
                "rules": [{}, {}]
            }
        });
        let http = Route::from_http(&serde_json::from_value(value.clone()).unwrap()).unwrap();
        let grpc = Route::from_grpc(&serde_json::from_value(value).unwrap()).unwrap();
        assert_eq!(http.id.kind, RouteKind::Http);
        assert_eq!(grpc.id.kind, RouteKind::Grpc);
        for r in [&http, &grpc] {
            assert_eq!((r.id.namespace.as_str(), r.id.name.as_str()), ("apps", "r"));
            assert_eq!(r.generation, Some(4));
            assert!(r.created.is_some());
            assert_eq!(r.hostnames, ["a.example.com"]);
            assert_eq!(r.rule_count, 2);
            assert_eq!(r.parent_refs[0].section_name.as_deref(), Some("http"));
            assert_eq!(r.parent_refs[0].port, Some(80));
        }
        // Status repeats the entry as written.
        let status = HttpRouteStatusParentsParentRef::from(&http.parent_refs[0]);
        assert_eq!(status.group, None);
        assert_eq!(status.section_name.as_deref(), Some("http"));
    }

    #[test]
    fn a_route_without_namespace_is_an_error() {
        let route: HttpRoute =
            serde_json::from_value(json!({ "metadata": { "name": "r" }, "spec": {} })).unwrap();
        assert!(Route::from_http(&route).is_err());
    }

    #[test]
    fn route_kinds_by_group_and_kind() {
        assert_eq!(
            RouteKind::from_group_kind(GROUP, "HTTPRoute"),
            Some(RouteKind::Http)
        );
        assert_eq!(
            RouteKind::from_group_kind(GROUP, "GRPCRoute"),
            Some(RouteKind::Grpc)
        );
        assert_eq!(RouteKind::from_group_kind("", "HTTPRoute"), None);
        assert_eq!(RouteKind::from_group_kind(GROUP, "InvalidRoute"), None);
    }
}
