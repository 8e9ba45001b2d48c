//! The route compiler: Kubernetes objects in, one immutable [`RouteTable`] out.
//!
//! Pure: the same objects always give the same table, whatever order they came in, which
//! is what lets both config sources (cluster and files) share it.

mod annotated;
mod auth;
pub mod backends;
pub mod gateway;
mod headers;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressServiceBackend};
use rustls::sign::CertifiedKey;
use serde::Serialize;
use sluice_crds::annotations;
use sluice_crds::ingress::{HostMatch, IngressRef, OurClasses, RuleKey, claims};

use crate::objects::{ObjectSet, key_of};
use crate::routes::regex::PathRewrite;
use crate::routes::{Access, ErrorBackend, Route, RouteTable};
use crate::serve::rate_limit::IngressLimiter;
use annotated::{canary_routes, upstream_host};
use backends::BackendResolver;
use tls::{has_tls, tls_table};

/// What the compiler needs besides the objects.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// The IngressClass this proxy serves.
    pub class: String,
    /// The `spec.controller` of this installation's IngressClasses.
    pub controller: String,
    /// Redirect plain HTTP to HTTPS for hosts with TLS (an Ingress can opt out).
    pub ssl_redirect: bool,
    /// The response headers the custom-headers annotation may set (`--allowed-response-headers`).
    pub allowed_response_headers: Vec<&'static str>,
}

/// Something about the input that a person should hear about: a rule that lost to another
/// Ingress, a Secret that could not be used, an annotation with a bad value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The object concerned, `namespace/name`.
    pub object: String,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A rule the webhook would have refused; a higher-precedence Ingress serves it.
    Conflict,
    InvalidRule,
    InvalidAnnotation,
    /// Access rules Sluice cannot enforce: the Ingress's rules answer 503.
    UnenforcedAccessControl,
    TlsSecret,
    /// An auth Secret missing, or with users that cannot be read.
    AuthSecret,
}

/// The certificates served, by Secret (`namespace/name`).
pub type Certificates = HashMap<String, Arc<CertifiedKey>>;

/// What one compile hands the next.
#[derive(Debug, Default)]
pub struct Carried {
    /// What a Secret that turns broken falls back to.
    pub certificates: Certificates,
    /// Rate-limit counters by Ingress (`namespace/name`), kept while its limits stay the same.
    pub limiters: HashMap<String, Arc<IngressLimiter>>,
}

/// The compiler's result.
pub struct Compiled {
    pub table: RouteTable,
    pub problems: Vec<Problem>,
    pub carried: Carried,
}

/// Builds the route table of `options.class` from `objects`, as a first compile.
pub fn compile(objects: &ObjectSet, options: &CompileOptions) -> Compiled {
    compile_after(objects, options, &Carried::default())
}

/// Builds the route table of `options.class` from `objects`, after the compile that
/// `previous` came from. A Secret that now holds a broken certificate keeps serving the one
/// it held then (a bad edit must not take HTTPS away from a host); an Ingress whose rate
/// limits did not change keeps its counters.
pub fn compile_after(
    objects: &ObjectSet,
    options: &CompileOptions,
    previous: &Carried,
) -> Compiled {
    let mut problems = Vec::new();
    let ingresses = our_ingresses(objects, &options.controller, &options.class);

    let mut resolver = BackendResolver::new(
        objects.services.iter().map(|s| s.as_ref()),
        objects.endpoint_slices.iter().map(|s| s.as_ref()),
    );
    let (tls, tls_hosts, certificates) =
        tls_table(objects, &ingresses, &previous.certificates, &mut problems);
    let mut limiters = HashMap::new();

    let mut table = RouteTable {
        tls,
        ingresses: ingresses.len(),
        ..RouteTable::default()
    };
    let mut canaries = canary_routes(&ingresses, &mut resolver);
    let mut secrets = auth::Secrets::new(objects);
    let mut config_maps = headers::ConfigMaps::new(objects);
    let mut owners: HashMap<RuleKey, String> = HashMap::new();
    for ingress in &ingresses {
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
        let ingress_key = key_of(&ingress.metadata);
        let mut parsed = annotations::parse(ingress.metadata.annotations.as_ref());
        for error in parsed.errors {
            problems.push(Problem {
                object: ingress_key.clone(),
                kind: ProblemKind::InvalidAnnotation,
                message: error.to_string(),
            });
        }
        let response_headers = match &parsed.settings.custom_headers {
            Some(asked) => match headers::custom_headers(
                asked,
                namespace,
                &mut config_maps,
                &options.allowed_response_headers,
            ) {
                Ok(headers) => Some(headers),
                Err(why) => {
                    // ingress-nginx denies such a location: its rules answer 503.
                    parsed.unenforced.push(annotations::AnnotationError {
                        key: annotations::CUSTOM_HEADERS.into(),
                        value: asked.name.clone(),
                        reason: why,
                    });
                    None
                }
            },
            None => None,
        };
        let refused: Option<Arc<str>> = (!parsed.unenforced.is_empty()).then(|| {
            let reasons: Vec<String> = parsed.unenforced.iter().map(ToString::to_string).collect();
            format!(
                "Ingress {ingress_key} is not served: {}",
                reasons.join("; ")
            )
            .into()
        });
        for error in parsed.unenforced {
            problems.push(Problem {
                object: ingress_key.clone(),
                kind: ProblemKind::UnenforcedAccessControl,
                message: format!("{error}; its rules answer 503"),
            });
        }
        let settings = parsed.settings;
        if settings.canary.is_some() {
            // Its rules join other Ingresses' (above); nothing else of it applies.
            continue;
        }
        let limiter = settings.rate_limit.as_ref().map(|config| {
            let kept = previous
                .limiters
                .get(&ingress_key)
                .filter(|l| l.config == *config);
            let limiter = kept
                .cloned()
                .unwrap_or_else(|| Arc::new(IngressLimiter::new(config.clone())));
            limiters.insert(ingress_key.clone(), limiter.clone());
            limiter
        });
        let basic_auth = settings.basic_auth.as_ref().map(|asked| {
            let mut found = Vec::new();
            let auth = auth::basic_auth(asked, namespace, &mut secrets, &mut found);
            problems.extend(found.into_iter().map(|message| Problem {
                object: ingress_key.clone(),
                kind: ProblemKind::AuthSecret,
                message,
            }));
            auth
        });
        let error_backend = settings.default_backend.as_ref().map(|service| {
            Arc::new(ErrorBackend {
                backend: resolver.resolve(namespace, &service_backend(service)),
                codes: settings
                    .custom_http_errors
                    .clone()
                    .unwrap_or_else(|| Arc::from([])),
            })
        });
        let access = Access {
            refused,
            allow_from: settings.allow_from.clone(),
            deny_from: settings.deny_from.clone(),
        };
        let (claims, errors) = claims(ingress);
        for error in errors {
            problems.push(Problem {
                object: ingress_key.clone(),
                kind: ProblemKind::InvalidRule,
                message: error.to_string(),
            });
        }

        for claim in claims {
            if let Some(owner) = owners.get(&claim.key) {
                problems.push(Problem {
                    object: ingress_key.clone(),
                    kind: ProblemKind::Conflict,
                    message: format!(
                        "{} ({}) is already served by Ingress {owner}, which takes precedence (the older Ingress wins; equal ages go by namespace/name); this rule is ignored",
                        claim.key, claim.location
                    ),
                });
                continue;
            }
            owners.insert(claim.key.clone(), ingress_key.clone());
            let route = Arc::new(Route {
                ingress: ingress_key.clone(),
                host: claim.key.host.to_string(),
                path: Some(claim.key.path.clone()),
                backend: resolver.resolve(namespace, claim.backend),
                // Forced, or for a host with TLS: the Ingress's annotation, else the proxy's
                // setting.
                redirect_to_https: settings.force_ssl_redirect
                    || settings.ssl_redirect.unwrap_or(options.ssl_redirect)
                        && has_tls(&tls_hosts, &claim.key.host),
                connect_timeout: settings.connect_timeout,
                read_timeout: settings.read_timeout,
                send_timeout: settings.send_timeout,
                basic_auth: basic_auth.clone(),
                external_auth: settings.external_auth.clone(),
                affinity: settings.affinity.clone(),
                error_backend: error_backend.clone(),
                response_headers: response_headers.clone(),
                access: access.clone(),
                redirect: settings.redirect.clone(),
                app_root: settings.app_root.clone(),
                max_body_size: settings.max_body_size,
                cors: settings.cors.clone(),
                rate_limit: limiter.clone(),
                upstream_host: upstream_host(&settings, namespace, ingress, claim.backend),
                backend_protocol: settings.backend_protocol,
                canary: canaries.remove(&claim.key),
                rewrite: settings.rewrite.clone().and_then(|to| {
                    PathRewrite::new(&claim.key.path, to, settings.forwarded_prefix.clone())
                }),
                unusable: None,
                redirect_path: None,
                request_headers: None,
                response_edits: None,
                mirrors: None,
                series: Default::default(),
            });
            table
                .host_mut(&claim.key.host)
                .insert(&claim.key.path, route);
        }

        let Some(default) = ingress
            .spec
            .as_ref()
            .and_then(|s| s.default_backend.as_ref())
        else {
            continue;
        };
        let mut default_route = |host: &HostMatch| {
            Arc::new(Route {
                ingress: ingress_key.clone(),
                host: host.to_string(),
                path: None,
                backend: resolver.resolve(namespace, default),
                redirect_to_https: false,
                connect_timeout: settings.connect_timeout,
                read_timeout: settings.read_timeout,
                send_timeout: settings.send_timeout,
                basic_auth: basic_auth.clone(),
                external_auth: settings.external_auth.clone(),
                affinity: settings.affinity.clone(),
                error_backend: error_backend.clone(),
                response_headers: response_headers.clone(),
                access: access.clone(),
                redirect: settings.redirect.clone(),
                app_root: settings.app_root.clone(),
                max_body_size: settings.max_body_size,
                rewrite: None,
                cors: settings.cors.clone(),
                rate_limit: limiter.clone(),
                upstream_host: upstream_host(&settings, namespace, ingress, default),
                backend_protocol: settings.backend_protocol,
                canary: None,
                unusable: None,
                redirect_path: None,
                request_headers: None,
                response_edits: None,
                mirrors: None,
                series: Default::default(),
            })
        };
        // An Ingress with host rules is the fallback of those hosts only (whether or not its
        // rules won); one without catches whatever no other rule does.
        let rules = ingress
            .spec
            .as_ref()
            .and_then(|s| s.rules.as_deref())
            .unwrap_or_default();
        let has_host_rules = rules
            .iter()
            .any(|r| r.host.as_deref().is_some_and(|h| !h.is_empty()));
        let mut hosts: Vec<HostMatch> = Vec::new();
        for host in rules
            .iter()
            .filter_map(|r| HostMatch::parse(r.host.as_deref()).ok())
        {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        if !has_host_rules {
            if table.default_backend.is_none() {
                table.default_backend = Some(default_route(&HostMatch::Any));
            }
        } else {
            for host in &hosts {
                let route = default_route(host);
                let host_routes = table.host_mut(host);
                if host_routes.default_backend.is_none() {
                    host_routes.default_backend = Some(route);
                }
            }
        }
    }
    let mut unmatched: Vec<_> = canaries.into_iter().collect();
    unmatched.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, canary) in unmatched {
        problems.push(Problem {
            object: canary.ingress,
            kind: ProblemKind::InvalidRule,
            message: format!(
                "{key}: no Ingress of the class serves this rule, so this canary of it is not served either"
            ),
        });
    }
    for (host, error) in table.finish_hosts() {
        problems.push(Problem {
            object: host.clone(),
            kind: ProblemKind::InvalidRule,
            message: format!(
                "the regular-expression paths of host {host} together are too large to compile ({error}); only its Exact and Prefix paths are served"
            ),
        });
    }
    table.backends = resolver.into_index();
    table.reads = secrets.referenced;
    table.reads.extend(config_maps.referenced);
    Compiled {
        table,
        problems,
        carried: Carried {
            certificates,
            limiters,
        },
    }
}

/// A backend naming Service `name` and no port (its first, [`backends`]).
fn service_backend(name: &str) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: name.to_string(),
            port: None,
        }),
        resource: None,
    }
}

/// The Ingresses served by `class`, highest precedence (oldest) first.
fn our_ingresses<'a>(objects: &'a ObjectSet, controller: &str, class: &str) -> Vec<&'a Ingress> {
    let mut ours = OurClasses::from_classes(controller, objects.classes.iter().map(|c| c.as_ref()));
    let class_object_exists = objects
        .classes
        .iter()
        .any(|c| c.metadata.name.as_deref() == Some(class));
    if !class_object_exists {
        // Without an IngressClass object (manifests), the class is known by name only.
        ours.insert(class, false);
    }
    let mut selected: Vec<(IngressRef, &Ingress)> = objects
        .ingresses
        .iter()
        .filter(|i| ours.class_of(i) == Some(class))
        .map(|i| (IngressRef::of(i), i.as_ref()))
        .collect();
    selected.sort_by(|a, b| a.0.cmp(&b.0));
    selected.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;
