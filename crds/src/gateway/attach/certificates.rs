//! A listener's `tls.certificateRefs`: which Secrets it may use, and why the others cannot
//! be used.
//!
//! Each reference must name a core `Secret` (the group defaults to core and the kind to
//! `Secret`), in the Gateway's namespace or in one whose ReferenceGrant lets this Gateway
//! use it, that exists and holds a usable certificate and key. Whether it does is asked of
//! the caller ([`SecretLookup`]), which reads Secrets; this module stays pure.

use super::grants::{ReferenceGrants, Referent, Referrer};
use super::reasons::{CORE_GROUP, kind, listener};
use crate::gateway_api::GROUP;
use crate::gateway_api::gateways::GatewayListenersTlsCertificateRefs;

/// What the caller knows of a Secret a listener names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateState {
    /// It exists and holds a certificate and key Sluice can serve.
    Valid,
    /// There is no such Secret.
    Missing,
    /// It exists, but its certificate or key cannot be used; why.
    Invalid(String),
}

/// Answers whether a Secret holds a usable certificate. Any `Fn(namespace, name)` will do.
pub trait SecretLookup {
    fn certificate(&self, namespace: &str, name: &str) -> CertificateState;
}

impl<F: Fn(&str, &str) -> CertificateState> SecretLookup for F {
    fn certificate(&self, namespace: &str, name: &str) -> CertificateState {
        self(namespace, name)
    }
}

/// A Secret: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKey {
    pub namespace: String,
    pub name: String,
}

/// Why a certificate reference cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateProblem {
    #[error("a listener that terminates TLS needs at least one certificateRef")]
    NoReference,
    #[error(
        "certificateRef {name:?} is a {kind} of group {group:?}; only core Secrets are supported"
    )]
    NotASecret {
        group: String,
        kind: String,
        name: String,
    },
    #[error(
        "Secret {namespace}/{name} is in another namespace and no ReferenceGrant there lets this Gateway use it"
    )]
    NotPermitted { namespace: String, name: String },
    #[error("Secret {namespace}/{name} does not exist")]
    Missing { namespace: String, name: String },
    #[error("Secret {namespace}/{name} does not hold a usable certificate: {why}")]
    Invalid {
        namespace: String,
        name: String,
        why: String,
    },
}

impl CertificateProblem {
    /// The listener's `ResolvedRefs` reason for it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotPermitted { .. } => listener::REF_NOT_PERMITTED,
            _ => listener::INVALID_CERTIFICATE_REF,
        }
    }
}

/// A listener's certificates, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Certificates {
    /// The Secrets it may serve, in the order written.
    pub usable: Vec<SecretKey>,
    /// The references that cannot be used, in the order written.
    pub problems: Vec<CertificateProblem>,
}

/// Resolves the `refs` of a listener of a Gateway in `gateway_namespace`.
pub fn resolve(
    gateway_namespace: &str,
    refs: &[GatewayListenersTlsCertificateRefs],
    grants: &ReferenceGrants,
    secrets: &impl SecretLookup,
) -> Certificates {
    let mut out = Certificates::default();
    if refs.is_empty() {
        out.problems.push(CertificateProblem::NoReference);
    }
    let gateway = Referrer {
        group: GROUP,
        kind: kind::GATEWAY,
        namespace: gateway_namespace,
    };
    for r in refs {
        let group = r.group.as_deref().unwrap_or(CORE_GROUP);
        let kind = r.kind.as_deref().unwrap_or(kind::SECRET);
        if group != CORE_GROUP || kind != kind::SECRET {
            out.problems.push(CertificateProblem::NotASecret {
                group: group.to_string(),
                kind: kind.to_string(),
                name: r.name.clone(),
            });
            continue;
        }
        let namespace = r.namespace.as_deref().unwrap_or(gateway_namespace);
        let secret = Referent {
            group,
            kind,
            namespace,
            name: &r.name,
        };
        // Permission first: whether a Secret exists elsewhere is not this Gateway's business.
        if !grants.allows(&gateway, &secret) {
            out.problems.push(CertificateProblem::NotPermitted {
                namespace: namespace.to_string(),
                name: r.name.clone(),
            });
            continue;
        }
        match secrets.certificate(namespace, &r.name) {
            CertificateState::Valid => out.usable.push(SecretKey {
                namespace: namespace.to_string(),
                name: r.name.clone(),
            }),
            CertificateState::Missing => out.problems.push(CertificateProblem::Missing {
                namespace: namespace.to_string(),
                name: r.name.clone(),
            }),
            CertificateState::Invalid(why) => out.problems.push(CertificateProblem::Invalid {
                namespace: namespace.to_string(),
                name: r.name.clone(),
                why,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_api::referencegrants::ReferenceGrant;
    use serde_json::json;

    fn cert_ref(v: serde_json::Value) -> GatewayListenersTlsCertificateRefs {
        serde_json::from_value(v).unwrap()
    }

    /// Secrets of the conformance fixtures: `infra/cert` and `web/certificate` are good,
    /// `infra/malformed-certificate` is not a certificate.
    fn secrets(namespace: &str, name: &str) -> CertificateState {
        match (namespace, name) {
            ("infra", "cert") | ("web", "certificate") => CertificateState::Valid,
            ("infra", "malformed-certificate") => {
                CertificateState::Invalid("no PEM certificate".into())
            }
            _ => CertificateState::Missing,
        }
    }

    fn grant_web_secrets() -> ReferenceGrants {
        let grant: ReferenceGrant = serde_json::from_value(json!({
            "metadata": { "name": "g", "namespace": "web" },
            "spec": {
                "from": [{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "infra" }],
                "to": [{ "group": "", "kind": "Secret" }]
            }
        }))
        .unwrap();
        ReferenceGrants::new([&grant])
    }

    #[test]
    fn each_reference_is_judged() {
        let none = ReferenceGrants::default();
        let granted = grant_web_secrets();
        // (reference, grants, usable, reason of the problem)
        let cases = [
            (json!({ "name": "cert" }), &none, true, None),
            (
                json!({ "group": "", "kind": "Secret", "name": "cert" }),
                &none,
                true,
                None,
            ),
            // The cases of the conformance test GatewayInvalidTLSConfiguration.
            (
                json!({ "group": "", "kind": "Secret", "name": "nonexistent-certificate" }),
                &none,
                false,
                Some("InvalidCertificateRef"),
            ),
            (
                json!({ "group": "wrong.group.company.io", "kind": "Secret", "name": "cert" }),
                &none,
                false,
                Some("InvalidCertificateRef"),
            ),
            (
                json!({ "group": "", "kind": "WrongKind", "name": "cert" }),
                &none,
                false,
                Some("InvalidCertificateRef"),
            ),
            (
                json!({ "name": "malformed-certificate" }),
                &none,
                false,
                Some("InvalidCertificateRef"),
            ),
            // GatewaySecretMissingReferenceGrant and GatewaySecretReferenceGrant*.
            (
                json!({ "name": "certificate", "namespace": "web" }),
                &none,
                false,
                Some("RefNotPermitted"),
            ),
            (
                json!({ "name": "certificate", "namespace": "web" }),
                &granted,
                true,
                None,
            ),
            // Granted, but missing: now it may be said that it does not exist.
            (
                json!({ "name": "nope", "namespace": "web" }),
                &granted,
                false,
                Some("InvalidCertificateRef"),
            ),
            // Not granted and missing: still only "not permitted".
            (
                json!({ "name": "nope", "namespace": "app" }),
                &granted,
                false,
                Some("RefNotPermitted"),
            ),
        ];
        for (reference, grants, usable, reason) in cases {
            let got = resolve("infra", &[cert_ref(reference.clone())], grants, &secrets);
            assert_eq!(got.usable.len() == 1, usable, "{reference}");
            assert_eq!(
                got.problems.first().map(|p| p.reason()),
                reason,
                "{reference}"
            );
        }
    }

    #[test]
    fn no_reference_is_a_problem() {
        let got = resolve("infra", &[], &ReferenceGrants::default(), &secrets);
        assert_eq!(got.problems, [CertificateProblem::NoReference]);
    }

    #[test]
    fn usable_secrets_keep_their_order() {
        let refs = [
            cert_ref(json!({ "name": "certificate", "namespace": "web" })),
            cert_ref(json!({ "name": "missing" })),
            cert_ref(json!({ "name": "cert" })),
        ];
        let got = resolve("infra", &refs, &grant_web_secrets(), &secrets);
        let names: Vec<_> = got.usable.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["certificate", "cert"]);
        assert_eq!(got.problems.len(), 1);
    }
}
