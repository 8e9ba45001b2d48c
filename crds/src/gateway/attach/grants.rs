//! ReferenceGrants: may an object in one namespace refer to an object in another?
//!
//! A reference within a namespace is always allowed. A reference into another namespace is
//! allowed only when a ReferenceGrant in the *target* namespace lists the referrer in `from`
//! (group, kind and namespace, all exact) and the target in `to` (group and kind exact, and
//! the name when the grant gives one: without a name it covers every object of that kind in
//! its namespace). Entries of `from` and of `to` are each ORed. Groups are compared as
//! written, the core group being `""`.

use std::collections::BTreeMap;

use crate::gateway_api::referencegrants::{ReferenceGrant, ReferenceGrantSpec};

/// The object that refers: a Gateway (to a Secret) or a route (to a Service).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Referrer<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// The object referred to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Referent<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Every ReferenceGrant of the cluster, by the namespace it grants access into.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceGrants {
    by_namespace: BTreeMap<String, Vec<ReferenceGrantSpec>>,
}

impl ReferenceGrants {
    /// Indexes `grants`; one without a namespace (which the API server never returns)
    /// grants nothing.
    pub fn new<'a>(grants: impl IntoIterator<Item = &'a ReferenceGrant>) -> Self {
        let mut index = Self::default();
        for grant in grants {
            if let Some(namespace) = grant.metadata.namespace.as_deref() {
                index.insert(namespace, &grant.spec);
            }
        }
        index
    }

    /// Adds the grant `spec` of `namespace`.
    pub fn insert(&mut self, namespace: &str, spec: &ReferenceGrantSpec) {
        self.by_namespace
            .entry(namespace.to_string())
            .or_default()
            .push(spec.clone());
    }

    /// Whether `from` may refer to `to`.
    pub fn allows(&self, from: &Referrer<'_>, to: &Referent<'_>) -> bool {
        if from.namespace == to.namespace {
            return true;
        }
        let Some(grants) = self.by_namespace.get(to.namespace) else {
            return false;
        };
        grants.iter().any(|grant| {
            let from_listed = grant.from.iter().any(|f| {
                f.group == from.group && f.kind == from.kind && f.namespace == from.namespace
            });
            let to_listed = grant.to.iter().any(|t| {
                t.group == to.group
                    && t.kind == to.kind
                    && t.name.as_deref().is_none_or(|name| name == to.name)
            });
            from_listed && to_listed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(namespace: &str, from: serde_json::Value, to: serde_json::Value) -> ReferenceGrant {
        serde_json::from_value(json!({
            "metadata": { "name": "g", "namespace": namespace },
            "spec": { "from": from, "to": to }
        }))
        .unwrap()
    }

    const GW: Referrer<'static> = Referrer {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        namespace: "infra",
    };
    const SECRET: Referent<'static> = Referent {
        group: "",
        kind: "Secret",
        namespace: "web",
        name: "certificate",
    };

    fn from_gateway() -> serde_json::Value {
        json!([{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "infra" }])
    }

    #[test]
    fn the_same_namespace_needs_no_grant() {
        let none = ReferenceGrants::default();
        let local = Referent {
            namespace: "infra",
            ..SECRET
        };
        assert!(none.allows(&GW, &local));
        assert!(!none.allows(&GW, &SECRET));
    }

    #[test]
    fn a_grant_for_one_name_or_for_the_whole_kind_allows() {
        // The cases of the conformance tests GatewaySecretReferenceGrantSpecific and
        // GatewaySecretReferenceGrantAllInNamespace.
        let specific = [grant(
            "web",
            from_gateway(),
            json!([{ "group": "", "kind": "Secret", "name": "certificate" }]),
        )];
        let whole_kind = [grant(
            "web",
            from_gateway(),
            json!([{ "group": "", "kind": "Secret" }]),
        )];
        assert!(ReferenceGrants::new(&specific).allows(&GW, &SECRET));
        assert!(ReferenceGrants::new(&whole_kind).allows(&GW, &SECRET));
        let other = Referent {
            name: "other",
            ..SECRET
        };
        assert!(!ReferenceGrants::new(&specific).allows(&GW, &other));
        assert!(ReferenceGrants::new(&whole_kind).allows(&GW, &other));
    }

    #[test]
    fn a_grant_that_differs_in_any_field_does_not_allow() {
        // Each grant of the conformance test GatewaySecretInvalidReferenceGrant: none of
        // them, nor all together, lets the Gateway use the Secret.
        let gw = |group: &str, kind: &str, ns: &str| json!([{ "group": group, "kind": kind, "namespace": ns }]);
        let to = |group: &str, kind: &str, name: &str| json!([{ "group": group, "kind": kind, "name": name }]);
        let g = "gateway.networking.k8s.io";
        let wrong = [
            // in the wrong namespace
            grant(
                "app",
                gw(g, "Gateway", "infra"),
                to("", "Secret", "certificate"),
            ),
            grant(
                "web",
                gw("other", "Gateway", "infra"),
                to("", "Secret", "certificate"),
            ),
            grant(
                "web",
                gw(g, "HTTPRoute", "infra"),
                to("", "Secret", "certificate"),
            ),
            grant(
                "web",
                gw(g, "Gateway", "other"),
                to("", "Secret", "certificate"),
            ),
            grant("web", gw(g, "Gateway", "infra"), to("other", "Secret", "x")),
            grant(
                "web",
                gw(g, "Gateway", "infra"),
                to("", "Service", "certificate"),
            ),
            grant("web", gw(g, "Gateway", "infra"), to("", "Secret", "x")),
        ];
        for one in &wrong {
            let grants = ReferenceGrants::new(std::slice::from_ref(one));
            assert!(!grants.allows(&GW, &SECRET), "{:?}", one.spec);
        }
        assert!(!ReferenceGrants::new(&wrong).allows(&GW, &SECRET));
    }

    #[test]
    fn entries_are_ored() {
        let grants = [grant(
            "web",
            json!([
                { "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "a" },
                { "group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "infra" }
            ]),
            json!([
                { "group": "", "kind": "Service" },
                { "group": "", "kind": "Secret", "name": "certificate" }
            ]),
        )];
        let grants = ReferenceGrants::new(&grants);
        assert!(grants.allows(&GW, &SECRET));
        let route = Referrer {
            group: "gateway.networking.k8s.io",
            kind: "HTTPRoute",
            namespace: "a",
        };
        let service = Referent {
            group: "",
            kind: "Service",
            namespace: "web",
            name: "anything",
        };
        assert!(grants.allows(&route, &service));
        // The grant allows HTTPRoutes of `a`, not of `b`.
        assert!(!grants.allows(
            &Referrer {
                namespace: "b",
                ..route
            },
            &service
        ));
    }
}
