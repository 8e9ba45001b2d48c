//! Deciding on an Ingress: allowed, or denied with a message a person can act on, plus
//! warnings. Pure: the Ingress and the index in, a decision out.

use std::collections::HashMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use sluice_crds::annotations;
use sluice_crds::ingress::host::wildcard_covers;
use sluice_crds::ingress::{Claim, HostMatch, IngressRef, Location, PathKind, RuleKey, claims};

use crate::index::Index;

/// Why a review ended as it did; a label for metrics and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Valid, no conflict.
    Valid,
    /// Not one of Sluice's classes: allowed untouched.
    OtherClass,
    /// Claims a rule another Ingress of the class already holds, or one twice.
    Conflict,
    /// Malformed rules or Sluice annotations.
    Invalid,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Valid => "valid",
            Reason::OtherClass => "other_class",
            Reason::Conflict => "conflict",
            Reason::Invalid => "invalid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// Why it was denied.
    pub message: Option<String>,
    pub warnings: Vec<String>,
}

/// Reviews `ingress` (CREATE or UPDATE) against the index. Its own indexed version, if
/// any, never counts as a conflict; nor does a holder it takes precedence over (after a
/// race let two Ingresses in, the one that is served can still be updated).
pub fn review_ingress(index: &Index, ingress: &Ingress) -> Decision {
    let Some(class) = index.classes().class_of(ingress) else {
        return Decision {
            allowed: true,
            reason: Reason::OtherClass,
            message: None,
            warnings: Vec::new(),
        };
    };
    let namespace = ingress.metadata.namespace.as_deref().unwrap_or_default();
    let name = ingress.metadata.name.as_deref().unwrap_or_default();
    let this = format!("{namespace}/{name}");
    // On CREATE there is no creationTimestamp yet: the newcomer loses to every holder.
    let this_ref = IngressRef::of(ingress);

    let mut invalid = Vec::new();
    let mut conflicts = Vec::new();
    let parsed = annotations::parse(ingress.metadata.annotations.as_ref());
    invalid.extend(parsed.errors.iter().map(ToString::to_string));
    // Access rules Sluice cannot enforce: refused, so the Ingress is never served open.
    invalid.extend(parsed.unenforced.iter().map(ToString::to_string));
    // Objects named by an Ingress must be in its namespace.
    let named = [
        parsed
            .settings
            .basic_auth
            .as_ref()
            .map(|basic| basic.secret_key(namespace)),
        parsed
            .settings
            .custom_headers
            .as_ref()
            .map(|headers| headers.key(namespace)),
    ];
    invalid.extend(named.into_iter().flatten().filter_map(Result::err));
    let mut warnings = parsed.warnings;

    let (claims, errors) = claims(ingress);
    invalid.extend(errors.iter().map(ToString::to_string));
    let mut seen: HashMap<&RuleKey, Location> = HashMap::new();
    for claim in &claims {
        if let Some(problem) = backend_problem(claim.backend) {
            invalid.push(format!("{}.backend: {problem}", claim.location));
        }
        if let Some(warning) = regex_warning(ingress, claim) {
            warnings.push(warning);
        }
        if claim.backend.service.is_none() && claim.backend.resource.is_some() {
            warnings.push(format!(
                "{}.backend: resource backends are not supported by Sluice; requests to it get 503",
                claim.location
            ));
        }
        if let Some(first) = seen.get(&claim.key) {
            conflicts.push(format!(
                "{}: {} is claimed twice in this Ingress (also at {first}); remove one of them",
                claim.location, claim.key
            ));
            continue;
        }
        seen.insert(&claim.key, claim.location);
        // Only a rule this Ingress already holds (two got in by a race) may be kept
        // against a newer holder; a new claim never takes a rule from anyone.
        let already_held = index
            .holders(class, &claim.key)
            .any(|h| h.namespace == namespace && h.name == name);
        let holder = index.holders(class, &claim.key).find(|h| {
            (h.namespace != namespace || h.name != name) && (!already_held || **h < this_ref)
        });
        if let Some(holder) = holder {
            conflicts.push(format!(
                "{} is already served by Ingress {holder} ({} here). Two Ingresses of class {class} \
                 cannot claim the same host, path and pathType: change the host or path, or remove \
                 the rule from {holder} first",
                claim.key, claim.location
            ));
        }
    }
    if let Some(default) = ingress
        .spec
        .as_ref()
        .and_then(|s| s.default_backend.as_ref())
        && let Some(problem) = backend_problem(default)
    {
        invalid.push(format!("spec.defaultBackend: {problem}"));
    }
    warnings.extend(tls_warnings(index, class, ingress, &claims));

    // Everything wrong is reported at once, so one fix-up round is enough.
    let (reason, problems) = if !invalid.is_empty() {
        invalid.extend(conflicts);
        (Reason::Invalid, invalid)
    } else if !conflicts.is_empty() {
        (Reason::Conflict, conflicts)
    } else {
        return Decision {
            allowed: true,
            reason: Reason::Valid,
            message: None,
            warnings,
        };
    };
    Decision {
        allowed: false,
        reason,
        message: Some(format!("Ingress {this}: {}", problems.join("; "))),
        warnings,
    }
}

/// ingress-nginx reads paths as regular expressions only with `use-regex` (or a
/// `rewrite-target`); without, a path written as one matches nothing useful.
fn regex_warning(ingress: &Ingress, claim: &Claim<'_>) -> Option<String> {
    if claim.key.path.kind == PathKind::Regex {
        return None;
    }
    let at = claim.location;
    let rule = ingress.spec.as_ref()?.rules.as_ref()?.get(at.rule)?;
    let path = rule.http.as_ref()?.paths.get(at.path)?;
    let text = path.path.as_deref()?;
    let looks_like_regex = text.contains(['(', ')', '[', ']', '*', '+', '?', '$', '^', '|', '\\']);
    (path.path_type == "ImplementationSpecific" && looks_like_regex).then(|| {
        format!(
            "{at}: path {text:?} looks like a regular expression, but the Ingress does not set nginx.ingress.kubernetes.io/use-regex (or sluice.dev/use-regex) to \"true\"; it is matched as a Prefix, so only requests whose path begins with these exact path elements reach it"
        )
    })
}

fn backend_problem(backend: &IngressBackend) -> Option<&'static str> {
    match (&backend.service, &backend.resource) {
        (None, None) => Some("names neither a Service nor a resource"),
        (Some(_), Some(_)) => Some("names both a Service and a resource; choose one"),
        (Some(service), None) => {
            let port = service.port.as_ref();
            match (
                port.and_then(|p| p.number),
                port.and_then(|p| p.name.as_deref()),
            ) {
                (None, None) => Some("the Service port needs a number or a name"),
                (Some(_), Some(_)) => {
                    Some("the Service port has both a number and a name; choose one")
                }
                _ => None,
            }
        }
        (None, Some(_)) => None,
    }
}

/// TLS hosts no rule serves (a certificate with nowhere to go is usually a typo), and TLS
/// entries without a Secret.
fn tls_warnings(
    index: &Index,
    class: &str,
    ingress: &Ingress,
    claims: &[sluice_crds::ingress::Claim<'_>],
) -> Vec<String> {
    let mut warnings = Vec::new();
    let tls = ingress
        .spec
        .as_ref()
        .and_then(|s| s.tls.as_deref())
        .unwrap_or_default();
    for (i, entry) in tls.iter().enumerate() {
        if entry.secret_name.as_deref().unwrap_or_default().is_empty() {
            warnings.push(format!(
                "spec.tls[{i}] names no Secret; its hosts get the default certificate"
            ));
        }
        for (j, host) in entry
            .hosts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let Ok(tls_host) = HostMatch::parse(Some(host)) else {
                warnings.push(format!(
                    "spec.tls[{i}].hosts[{j}]: {host:?} is not a valid host name"
                ));
                continue;
            };
            let served_here = claims.iter().any(|c| match (&tls_host, &c.key.host) {
                (a, b) if a == b => true,
                (HostMatch::Wildcard(suffix), HostMatch::Exact(h)) => wildcard_covers(suffix, h),
                _ => false,
            });
            if !served_here && !index.serves_host(class, &tls_host) {
                warnings.push(format!(
                    "spec.tls[{i}].hosts[{j}]: no rule of class {class} serves {host}; check the host names"
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::testing::{class, ingress, ingress_from};

    fn index_with(ingresses: &[Ingress]) -> Index {
        let mut index = Index::default();
        index.set_classes(&[class("sluice", true), class("internal", false)]);
        for i in ingresses {
            index.apply(Arc::new(i.clone()));
        }
        index
    }

    #[test]
    fn denies_a_rule_another_ingress_holds_naming_it() {
        let index = index_with(&[ingress(
            "shop",
            "api-v1",
            Some("sluice"),
            "app.example.com",
            "/api",
        )]);
        let d = review_ingress(
            &index,
            &ingress("shop", "api-v2", Some("sluice"), "app.example.com", "/api/"),
        );
        assert!(!d.allowed);
        assert_eq!(d.reason, Reason::Conflict);
        let message = d.message.unwrap();
        assert!(
            message.starts_with(
                "Ingress shop/api-v2: host app.example.com path /api (Prefix) is already served by Ingress shop/api-v1 (spec.rules[0].http.paths[0] here)."
            ),
            "{message}"
        );
        assert!(
            message.contains("change the host or path, or remove the rule from shop/api-v1 first")
        );
    }

    #[test]
    fn normalisation_is_the_proxys() {
        let index = index_with(&[ingress(
            "shop",
            "a",
            Some("sluice"),
            "App.Example.com",
            "/api",
        )]);
        // ImplementationSpecific is Prefix; host case does not matter.
        let mut other = ingress("shop", "b", Some("sluice"), "app.example.com", "/api");
        other.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .http
            .as_mut()
            .unwrap()
            .paths[0]
            .path_type = "ImplementationSpecific".into();
        assert_eq!(review_ingress(&index, &other).reason, Reason::Conflict);
        // Exact /api is a different rule from Prefix /api.
        let mut exact = ingress("shop", "c", Some("sluice"), "app.example.com", "/api");
        exact.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .http
            .as_mut()
            .unwrap()
            .paths[0]
            .path_type = "Exact".into();
        assert!(review_ingress(&index, &exact).allowed);
    }

    #[test]
    fn after_a_race_the_served_ingress_can_still_be_updated_and_the_other_cannot() {
        let mut old = ingress("shop", "old", Some("sluice"), "app.example.com", "/api");
        old.metadata.creation_timestamp =
            Some(serde_json::from_value(json!("2024-01-01T00:00:00Z")).unwrap());
        let new = ingress("shop", "new", Some("sluice"), "app.example.com", "/api");
        let index = index_with(&[old.clone(), new.clone()]);
        assert!(
            review_ingress(&index, &old).allowed,
            "the older one is served: it may change"
        );
        let d = review_ingress(&index, &new);
        assert_eq!(d.reason, Reason::Conflict);
        assert!(
            d.message
                .unwrap()
                .contains("already served by Ingress shop/old")
        );
    }

    #[test]
    fn an_older_ingress_cannot_take_a_rule_a_newer_one_serves() {
        let mut old = ingress("shop", "old", Some("sluice"), "old.example.com", "/");
        old.metadata.creation_timestamp =
            Some(serde_json::from_value(json!("2024-01-01T00:00:00Z")).unwrap());
        let new = ingress("shop", "new", Some("sluice"), "app.example.com", "/api");
        let index = index_with(&[old.clone(), new]);
        let mut grabbing = old.clone();
        grabbing.spec.as_mut().unwrap().rules.as_mut().unwrap()[0].host =
            Some("app.example.com".into());
        grabbing.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .http
            .as_mut()
            .unwrap()
            .paths[0]
            .path = Some("/api".into());
        let d = review_ingress(&index, &grabbing);
        assert_eq!(d.reason, Reason::Conflict);
        assert!(
            d.message
                .unwrap()
                .contains("already served by Ingress shop/new")
        );
    }

    #[test]
    fn invalid_parts_and_conflicts_are_reported_together_and_regexes_warned_about() {
        let index = index_with(&[ingress(
            "shop",
            "a",
            Some("sluice"),
            "app.example.com",
            "/api",
        )]);
        let mut i = ingress("shop", "b", Some("sluice"), "app.example.com", "/api");
        i.metadata.annotations =
            Some([("sluice.dev/ssl-redirect".to_string(), "sure".to_string())].into());
        let d = review_ingress(&index, &i);
        assert_eq!(d.reason, Reason::Invalid);
        let message = d.message.unwrap();
        assert!(
            message.contains("sluice.dev/ssl-redirect")
                && message.contains("already served by Ingress shop/a"),
            "{message}"
        );

        let mut regex = ingress("shop", "c", Some("sluice"), "c.example.com", "/api/(.*)");
        regex.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .http
            .as_mut()
            .unwrap()
            .paths[0]
            .path_type = "ImplementationSpecific".into();
        let d = review_ingress(&index, &regex);
        assert!(d.allowed);
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("looks like a regular expression") && w.contains("use-regex")),
            "{:?}",
            d.warnings
        );
        // With use-regex it is one: no warning.
        regex.metadata.annotations = Some(
            [(
                "nginx.ingress.kubernetes.io/use-regex".to_string(),
                "true".to_string(),
            )]
            .into(),
        );
        let d = review_ingress(&index, &regex);
        assert!(d.allowed && d.warnings.is_empty(), "{d:?}");
        // One the engine cannot run is refused, saying why.
        regex.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .http
            .as_mut()
            .unwrap()
            .paths[0]
            .path = Some("/api/(?!admin)".into());
        let d = review_ingress(&index, &regex);
        assert!(!d.allowed);
        let message = d.message.unwrap();
        assert!(
            message.contains(
                "spec.rules[0].http.paths[0]: path \"/api/(?!admin)\" is not a regular expression Sluice can use: "
            ) && message.contains("look-around"),
            "{message}"
        );
    }

    #[test]
    fn a_canary_joins_a_rule_instead_of_conflicting() {
        let index = index_with(&[ingress(
            "shop",
            "app",
            Some("sluice"),
            "app.example.com",
            "/api",
        )]);
        let mut canary = ingress(
            "shop",
            "app-canary",
            Some("sluice"),
            "app.example.com",
            "/api",
        );
        canary.metadata.annotations = Some(
            [(
                "nginx.ingress.kubernetes.io/canary".to_string(),
                "true".to_string(),
            )]
            .into(),
        );
        let d = review_ingress(&index, &canary);
        assert!(d.allowed, "{d:?}");
        // canary-* without canary: "true" is refused, saying what is missing.
        canary.metadata.annotations = Some(
            [(
                "nginx.ingress.kubernetes.io/canary-weight".to_string(),
                "10".to_string(),
            )]
            .into(),
        );
        let d = review_ingress(&index, &canary);
        assert!(!d.allowed);
        assert!(d.message.unwrap().contains("set canary to \"true\" too"));
    }

    #[test]
    fn an_update_does_not_conflict_with_its_old_self() {
        let index = index_with(&[ingress(
            "shop",
            "a",
            Some("sluice"),
            "app.example.com",
            "/api",
        )]);
        let d = review_ingress(
            &index,
            &ingress("shop", "a", Some("sluice"), "app.example.com", "/api"),
        );
        assert!(d.allowed, "{d:?}");
    }

    #[test]
    fn other_classes_and_other_sluice_classes_do_not_conflict() {
        let index = index_with(&[ingress(
            "shop",
            "a",
            Some("sluice"),
            "app.example.com",
            "/api",
        )]);
        let d = review_ingress(
            &index,
            &ingress("shop", "b", Some("nginx"), "app.example.com", "/api"),
        );
        assert_eq!(d.reason, Reason::OtherClass);
        assert!(d.allowed);
        let d = review_ingress(
            &index,
            &ingress("shop", "b", Some("internal"), "app.example.com", "/api"),
        );
        assert_eq!(d.reason, Reason::Valid);
        // A classless Ingress belongs to the default class, sluice.
        let d = review_ingress(
            &index,
            &ingress("web", "b", None, "app.example.com", "/api"),
        );
        assert_eq!(d.reason, Reason::Conflict);
    }

    #[test]
    fn denies_a_rule_repeated_inside_one_ingress() {
        let index = index_with(&[]);
        let i = ingress_from(json!({
            "metadata": { "name": "twice", "namespace": "shop" },
            "spec": { "ingressClassName": "sluice", "rules": [
                { "host": "a.example.com", "http": { "paths": [
                    { "path": "/x", "pathType": "Prefix", "backend": { "service": { "name": "s", "port": { "number": 80 } } } } ] } },
                { "host": "A.example.com", "http": { "paths": [
                    { "path": "/x/", "pathType": "Prefix", "backend": { "service": { "name": "t", "port": { "number": 80 } } } } ] } }
            ]}
        }));
        let d = review_ingress(&index, &i);
        assert_eq!(d.reason, Reason::Conflict);
        assert_eq!(
            d.message.unwrap(),
            "Ingress shop/twice: spec.rules[1].http.paths[0]: host a.example.com path /x (Prefix) is claimed twice in this Ingress (also at spec.rules[0].http.paths[0]); remove one of them"
        );
    }

    #[test]
    fn denies_malformed_rules_saying_where() {
        let index = index_with(&[]);
        let i = ingress_from(json!({
            "metadata": { "name": "bad", "namespace": "shop",
                          "annotations": { "sluice.dev/ssl-redirect": "maybe" } },
            "spec": { "ingressClassName": "sluice", "rules": [
                { "host": "bad_host.example.com", "http": { "paths": [
                    { "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "s", "port": { "number": 80 } } } } ] } },
                { "host": "ok.example.com", "http": { "paths": [
                    { "path": "api", "pathType": "Prefix", "backend": { "service": { "name": "s", "port": { "number": 80 } } } },
                    { "path": "/none", "pathType": "Prefix", "backend": {} },
                    { "path": "/noport", "pathType": "Exact", "backend": { "service": { "name": "s" } } } ] } }
            ]}
        }));
        let d = review_ingress(&index, &i);
        assert_eq!(d.reason, Reason::Invalid);
        let message = d.message.unwrap();
        for expected in [
            "annotation sluice.dev/ssl-redirect: must be \"true\" or \"false\" (got \"maybe\")",
            "spec.rules[0].host: host \"bad_host.example.com\" is not a valid DNS name",
            "spec.rules[1].http.paths[0]: path \"api\" of type Prefix must start with '/'",
            "spec.rules[1].http.paths[1].backend: names neither a Service nor a resource",
            "spec.rules[1].http.paths[2].backend: the Service port needs a number or a name",
        ] {
            assert!(
                message.contains(expected),
                "missing {expected:?} in {message}"
            );
        }
    }

    #[test]
    fn warns_about_tls_hosts_without_rules_and_foreign_annotations() {
        let index = index_with(&[ingress(
            "shop",
            "other",
            Some("sluice"),
            "other.example.com",
            "/",
        )]);
        let mut i = ingress("shop", "a", Some("sluice"), "app.example.com", "/");
        i.metadata.annotations = Some(
            [(
                "nginx.ingress.kubernetes.io/proxy-buffering".to_string(),
                "on".to_string(),
            )]
            .into(),
        );
        i.spec.as_mut().unwrap().tls = Some(serde_json::from_value(json!([
            { "hosts": ["app.example.com", "other.example.com", "typo.example.com"], "secretName": "s" },
            { "hosts": ["*.example.com"] }
        ])).unwrap());
        let d = review_ingress(&index, &i);
        assert!(d.allowed);
        // *.example.com covers app.example.com, which this Ingress serves: no warning for it.
        assert_eq!(d.warnings.len(), 3, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("proxy-buffering") && d.warnings[0].contains("is ignored"));
        assert_eq!(
            d.warnings[1],
            "spec.tls[0].hosts[2]: no rule of class sluice serves typo.example.com; check the host names"
        );
        assert_eq!(
            d.warnings[2],
            "spec.tls[1] names no Secret; its hosts get the default certificate"
        );
    }

    #[test]
    fn refuses_access_rules_and_snippets_it_cannot_enforce_saying_why() {
        let index = index_with(&[]);
        let mut i = ingress("shop", "a", Some("sluice"), "app.example.com", "/");
        i.metadata.annotations = Some(
            [
                ("nginx.ingress.kubernetes.io/auth-tls-verify-client", "on"),
                ("nginx.ingress.kubernetes.io/auth-type", "digest"),
                ("nginx.ingress.kubernetes.io/server-snippet", "deny all;"),
                (
                    "nginx.ingress.kubernetes.io/whitelist-source-range",
                    "10.0.0.0/8",
                ),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        );
        let d = review_ingress(&index, &i);
        assert!(!d.allowed);
        let message = d.message.unwrap_or_default();
        assert!(
            message.contains("auth-tls-verify-client")
                && message.contains("not enforced by Sluice yet"),
            "{message}"
        );
        assert!(
            message.contains("auth-type")
                && message.contains("digest authentication is not supported"),
            "{message}"
        );
        assert!(
            message.contains("server-snippet") && message.contains("never run"),
            "{message}"
        );
        assert!(!message.contains("whitelist-source-range"), "{message}");

        // Another team's Secret cannot hold this Ingress's users.
        i.metadata.annotations = Some(
            [
                ("nginx.ingress.kubernetes.io/auth-type", "basic"),
                ("nginx.ingress.kubernetes.io/auth-secret", "other/users"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        );
        let d = review_ingress(&index, &i);
        assert!(!d.allowed);
        let message = d.message.unwrap_or_default();
        assert!(
            message.contains("auth Secret other/users is in another namespace"),
            "{message}"
        );
    }
}
