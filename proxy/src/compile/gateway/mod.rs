//! The Gateway API compiler (`--gateway NAMESPACE/NAME`): the Gateway, its HTTPRoutes, the
//! Services and Secrets they name in, one route table per listener port out ([`Tables`]).
//!
//! Who attaches where is decided by the shared rules of [`sluice_crds::gateway::attach`]
//! (the operator writes status from the same functions): the Gateway's listeners are
//! judged ([`listeners::gateway_state`]), each HTTPRoute attached to them
//! ([`parents::attach`]), each rule's backendRefs resolved ([`backends::resolve`]). Then,
//! for each listener a route is accepted on (a served one: accepted, references resolved)
//! and each hostname it serves there, every match of every valid rule becomes a
//! [`Candidate`] of that listener port's table, in the spec's precedence. A rule with a
//! match Sluice cannot use is dropped (the operator reports it); the others serve.
//!
//! Backends: a rule's backendRefs are picked by weight per request ([`Split`]); one that
//! cannot be used keeps its weight and its share is answered with 500, as is a rule
//! without a usable backend. Pure, as [`super::compile`] is.

mod filters;
mod lookups;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sluice_crds::annotations::BackendProtocol;
use sluice_crds::gateway::attach::backends::{self, BackendRef};
use sluice_crds::gateway::attach::reasons::SUPPORTED_PROTOCOLS;
use sluice_crds::gateway::attach::{
    self, GatewayKey, GatewayState, ListenerState, ReferenceGrants, Route as AttachRoute,
};
use sluice_crds::gateway::attach::{TlsMode, listeners, parents};
use sluice_crds::gateway::hostname::claimed_elsewhere;
use sluice_crds::gateway::matching::{MatchSource, PathRank, Precedence};
use sluice_crds::gateway::ports::GatewayPort;
use sluice_crds::gateway::rules::{
    ReadRule, RuleMatch, backend_timeout, read_grpc_rules, read_http_rules,
};
use sluice_crds::gateway_api::httproutes::{
    HttpRouteRulesBackendRefsFilters, HttpRouteRulesFilters,
};
use sluice_crds::ingress::HostMatch;

use super::backends::BackendResolver;
use super::tls::{TlsTable, certified_key, not_after};
use super::{Problem, ProblemKind};
use crate::objects::{ObjectSet, key_of};
use crate::routes::mirror::Mirror;
use crate::routes::{
    Backend, Candidate, Endpoints, Route, RouteTable, Split, Tables, WildcardHosts,
};
use lookups::Lookups;

/// What `--gateway` and `--gateway-port` say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayOptions {
    /// The Gateway this proxy serves.
    pub gateway: GatewayKey,
    /// Its listener ports and the ports the proxy binds for them.
    pub ports: Vec<GatewayPort>,
}

/// The Gateway compiler's result.
pub struct GatewayCompiled {
    pub tables: Tables,
    pub problems: Vec<Problem>,
}

/// Builds the tables of `options.gateway`'s listener ports from `objects`.
pub fn compile(objects: &ObjectSet, options: &GatewayOptions) -> GatewayCompiled {
    let _span = tracing::debug_span!(
        "compile_gateway",
        gateway.namespace = %options.gateway.namespace,
        gateway.name = %options.gateway.name,
        routes = objects.http_routes.len(),
    )
    .entered();
    let mut problems = Vec::new();
    let lookups = Lookups::new(objects);
    let grants = ReferenceGrants::new(objects.reference_grants.iter().map(AsRef::as_ref));
    let mut resolver = BackendResolver::new(
        objects.services.iter().map(AsRef::as_ref),
        objects.endpoint_slices.iter().map(AsRef::as_ref),
    );
    let mut tables: BTreeMap<u16, RouteTable> = options
        .ports
        .iter()
        .map(|p| {
            let mut table = RouteTable {
                wildcards: WildcardHosts::AnyLabels,
                ..RouteTable::default()
            };
            table.tls.any_labels = true;
            (p.container_port, table)
        })
        .collect();
    let gateway_object = objects.gateways.iter().find(|g| {
        g.metadata.namespace.as_deref() == Some(&options.gateway.namespace)
            && g.metadata.name.as_deref() == Some(&options.gateway.name)
    });
    let state = gateway_object.and_then(|gateway| {
        let secrets = |ns: &str, name: &str| lookups.certificate(ns, name);
        match listeners::gateway_state(gateway, SUPPORTED_PROTOCOLS, &grants, &secrets) {
            Ok(state) => Some(state),
            Err(e) => {
                problems.push(problem(key_of(&gateway.metadata), e.to_string()));
                None
            }
        }
    });
    let Some(state) = state else {
        if gateway_object.is_none() {
            problems.push(problem(
                format!("{}/{}", options.gateway.namespace, options.gateway.name),
                "Gateway not found: nothing is served".into(),
            ));
        }
        return finish(tables, resolver, problems, BTreeSet::new());
    };
    let gateway_key = format!("{}/{}", options.gateway.namespace, options.gateway.name);
    let context = Context {
        gateways: BTreeMap::from([(state.key.clone(), state.clone())]),
        state,
        lookups: &lookups,
        grants: &grants,
        ports: &options.ports,
    };
    for listener in &context.state.listeners {
        if !listener.is_served() {
            continue;
        }
        let Some(port) = context.listener_port(listener) else {
            problems.push(problem(
                gateway_key.clone(),
                format!(
                    "listener {} is on port {}, which this proxy was not started for (--gateway-port)",
                    listener.name, listener.port
                ),
            ));
            continue;
        };
        let Some(table) = tables.get_mut(&port.container_port) else {
            continue;
        };
        // Its hostname's requests are its own (listener isolation), routes or none: a
        // less specific listener's routes never answer them.
        table.host_mut(&listener.hostname);
        if listener.tls_mode == Some(TlsMode::Terminate) {
            table.tls.listeners.push(listener.hostname.clone());
            listener_certificates(listener, &lookups, &mut table.tls, &mut problems);
        }
    }

    let mut routes: Vec<RouteInput<'_>> = Vec::new();
    for route in &objects.http_routes {
        let read = read_http_rules(route);
        match AttachRoute::from_http_rules(route, &read) {
            Ok(attach_route) => routes.push(RouteInput {
                key: key_of(&route.metadata),
                attach_route,
                rules: rule_inputs(
                    read,
                    route.spec.rules.as_deref().unwrap_or_default(),
                    |rule| {
                        (
                            rule.backend_refs
                                .iter()
                                .flatten()
                                .map(|b| {
                                    (
                                        BackendRef::from(b),
                                        b.filters.as_deref().unwrap_or_default(),
                                    )
                                })
                                .collect(),
                            rule.filters.as_deref().unwrap_or_default(),
                            None,
                            backend_timeout(rule),
                        )
                    },
                ),
            }),
            Err(e) => problems.push(problem(key_of(&route.metadata), e.to_string())),
        }
    }
    for route in &objects.grpc_routes {
        let read = read_grpc_rules(route);
        match AttachRoute::from_grpc_rules(route, &read) {
            Ok(attach_route) => routes.push(RouteInput {
                key: key_of(&route.metadata),
                attach_route,
                rules: rule_inputs(
                    read,
                    route.spec.rules.as_deref().unwrap_or_default(),
                    |rule| {
                        (
                            rule.backend_refs
                                .iter()
                                .flatten()
                                .map(|b| (BackendRef::from(b), &[][..]))
                                .collect(),
                            &[],
                            Some(filters::grpc(rule.filters.as_deref().unwrap_or_default())),
                            Ok(None),
                        )
                    },
                ),
            }),
            Err(e) => problems.push(problem(key_of(&route.metadata), e.to_string())),
        }
    }
    // By key, as a stable sort of the routes themselves would: the order of the indices
    // (cheap to move), not of the (large) routes.
    let mut order: Vec<usize> = (0..routes.len()).collect();
    order.sort_by(|&a, &b| routes[a].key.cmp(&routes[b].key));
    // Room for every hostname at once (at most one host each), rather than growing the map
    // of hosts (large entries) step by step; `finish` gives back what shared hosts left
    // unused.
    let hostnames: usize = routes.iter().map(|r| r.attach_route.hostnames.len()).sum();
    for table in tables.values_mut() {
        table.exact_hosts.reserve(hostnames);
    }
    let mut routes: Vec<Option<RouteInput<'_>>> = routes.into_iter().map(Some).collect();
    for index in order {
        if let Some(route) = routes[index].take() {
            context.add_route(route, &mut resolver, &mut tables, &mut problems);
        }
    }
    finish(tables, resolver, problems, lookups.services_read())
}

/// What attaching and serving a route reads besides the route.
struct Context<'a> {
    /// The served Gateway, its listeners judged.
    state: GatewayState,
    /// The same, as attaching takes it.
    gateways: BTreeMap<GatewayKey, GatewayState>,
    lookups: &'a Lookups<'a>,
    grants: &'a ReferenceGrants,
    /// `--gateway-port`.
    ports: &'a [GatewayPort],
}

impl Context<'_> {
    /// Where the proxy serves a listener, if it was started for its port.
    fn listener_port(&self, listener: &ListenerState) -> Option<&GatewayPort> {
        self.ports
            .iter()
            .find(|p| i32::from(p.port) == listener.port)
    }

    /// Adds the matches of `route`'s valid rules to the tables of the listeners it is
    /// accepted on, for the hostnames it serves there.
    fn add_route(
        &self,
        route: RouteInput<'_>,
        resolver: &mut BackendResolver<'_>,
        tables: &mut BTreeMap<u16, RouteTable>,
        problems: &mut Vec<Problem>,
    ) {
        let (state, lookups, grants, ports) = (&self.state, self.lookups, self.grants, self.ports);
        let RouteInput {
            key: route_key,
            attach_route,
            rules,
        } = route;
        let kind = attach_route.id.kind.kind();
        let mut valid: Vec<RuleInput<'_>> = Vec::new();
        for rule in rules {
            match rule {
                Ok(rule) => {
                    // Its filters cannot be applied: its matches answer 500 rather than
                    // reach a backend without them (or fall through to another rule).
                    if let Some(message) = &rule.refused {
                        problems.push(problem(
                            route_key.clone(),
                            format!("{kind} rule {} is answered with 500: {message}", rule.index),
                        ));
                    }
                    valid.push(rule);
                }
                Err((index, message)) => problems.push(problem(
                    route_key.clone(),
                    format!("{kind} rule {index} is not served: {message}"),
                )),
            }
        }
        let id = &attach_route.id;
        let namespace = id.namespace.as_str();
        let attached =
            parents::accepted_listeners(&attach_route, &self.gateways, lookups.labels(namespace));
        // Each (port, hostname) once, whichever parentRefs lead there; with the hostname as
        // text, for its routes.
        let mut places: Vec<(u16, &HostMatch, String)> = Vec::new();
        for attached in &attached {
            let Some(listener) = state
                .listeners
                .iter()
                .find(|l| l.name == attached.listener)
                .filter(|l| l.is_served())
            else {
                continue;
            };
            let Some(port) = self.listener_port(listener).map(|p| p.container_port) else {
                continue;
            };
            // Listener isolation: not where a more specific listener takes the requests.
            let port_hostnames = state
                .listeners
                .iter()
                .filter(|l| l.port == listener.port && l.is_served())
                .map(|l| &l.hostname);
            for host in &attached.hostnames {
                if claimed_elsewhere(&listener.hostname, host, port_hostnames.clone()) {
                    continue;
                }
                if !places.iter().any(|(p, h, _)| *p == port && *h == host) {
                    places.push((port, host, host.to_string()));
                }
            }
        }
        if places.is_empty() {
            return;
        }
        // `{namespace}/{name}` ([`Precedence::route_of`]), once for every match's precedence:
        // the route's key, as it has both.
        let precedence_route: Arc<str> = Arc::from(route_key.as_str());
        let no_filters = filters::Filters::default();
        'rules: for rule in valid {
            let RuleInput {
                index: rule_index,
                matches,
                refs,
                backend_filters,
                filters: spec_filters,
                grpc_filters,
                timeout,
                refused,
            } = rule;
            let resolved = backends::resolve(id, &refs, grants, &|ns: &str, name: &str, port| {
                lookups.service_port(ns, name, port)
            });
            let mirrors = rule_mirrors(
                spec_filters,
                &|refs: &[BackendRef]| {
                    backends::resolve(id, refs, grants, &|ns: &str, name: &str, port| {
                        lookups.service_port(ns, name, port)
                    })
                },
                resolver,
                &mut |why| {
                    problems.push(problem(
                        route_key.clone(),
                        format!("{kind} rule {rule_index}: a RequestMirror is not sent: {why}"),
                    ))
                },
            );
            let read_timeout = match timeout {
                Ok(timeout) => timeout,
                Err(message) => {
                    problems.push(Problem {
                        object: route_key.clone(),
                        kind: ProblemKind::InvalidRule,
                        message: format!(
                            "{kind} rule {rule_index}: {message}; the proxy's timeout applies"
                        ),
                    });
                    None
                }
            };
            // The filters of each match on each port (a redirect's port is the listener's).
            let mut read: Vec<((u16, usize), filters::Filters)> = Vec::new();
            for (port, _, _) in &places {
                let Some(listener) = ports.iter().find(|p| p.container_port == *port) else {
                    continue;
                };
                if refused.is_some() {
                    break;
                }
                for (match_index, m) in matches.iter().enumerate() {
                    let f = match &grpc_filters {
                        Some(f) => Ok(f.clone()),
                        None => filters::read(spec_filters, &m.path, listener),
                    };
                    match f {
                        Ok(f) => {
                            match read.iter_mut().find(|(at, _)| *at == (*port, match_index)) {
                                Some((_, earlier)) => *earlier = f,
                                None => read.push(((*port, match_index), f)),
                            }
                        }
                        Err(message) => {
                            problems.push(Problem {
                                object: route_key.clone(),
                                kind: ProblemKind::InvalidRule,
                                message: format!(
                                    "{kind} rule {rule_index} is not served: {message}"
                                ),
                            });
                            continue 'rules;
                        }
                    }
                }
            }
            // Each match, then each place: a match's conditions and precedence are made once
            // and shared by its places (each place is another host's table, so the order
            // of insertion is the same for every path).
            for (match_index, RuleMatch { path, conditions }) in matches.into_iter().enumerate() {
                let precedence = Precedence::of_route(
                    PathRank::new(path.kind, &path.path),
                    conditions.specificity(),
                    &MatchSource {
                        created: attach_route.created.as_ref(),
                        namespace,
                        name: &id.name,
                        rule: rule_index,
                        match_index,
                    },
                    &precedence_route,
                );
                let conditions = (!conditions.is_empty()).then(|| Arc::new(conditions));
                for (port, host, host_text) in &places {
                    let Some(table) = tables.get_mut(port) else {
                        continue;
                    };
                    let f = read
                        .iter()
                        .find(|(at, _)| *at == (*port, match_index))
                        .map_or(&no_filters, |(_, f)| f);
                    let make = |f: &filters::Filters,
                                backend: Arc<Backend>,
                                unusable: Option<Arc<str>>| Route {
                        host: host_text.clone(),
                        path: Some(path.clone()),
                        unusable,
                        redirect: f.redirect.clone(),
                        redirect_path: f.redirect_path(),
                        rewrite: f.rewrite(),
                        upstream_host: f.upstream_host.clone(),
                        request_headers: f.request_headers.clone(),
                        response_edits: f.response_edits.clone(),
                        cors: f.cors.clone(),
                        mirrors: mirrors.clone(),
                        read_timeout,
                        ..Route::gateway(route_key.clone(), backend)
                    };
                    // A redirect answers every request itself: its backends are not read.
                    let shares: Vec<(u32, Arc<Route>)> = if let Some(why) = &refused {
                        let why: Arc<str> = Arc::from(why.as_str());
                        vec![(1, Arc::new(make(f, no_backend(namespace), Some(why))))]
                    } else if f.redirect.is_some() {
                        vec![(1, Arc::new(make(f, no_backend(namespace), None)))]
                    } else {
                        resolved
                            .iter()
                            .zip(&backend_filters)
                            .map(|(b, own)| {
                                let (backend, unusable) = rule_backend(b, resolver);
                                let mut route = if own.is_empty() {
                                    make(f, backend, unusable)
                                } else {
                                    make(&filters::with_backend(f, own), backend, unusable)
                                };
                                route.backend_protocol = protocol(b);
                                (b.weight, Arc::new(route))
                            })
                            .collect()
                    };
                    let first = shares
                        .iter()
                        .find(|(w, _)| *w > 0)
                        .map(|(_, r)| r.clone())
                        .unwrap_or_else(|| {
                            let why = if resolved.is_empty() {
                                "the rule has no backendRefs"
                            } else {
                                "every backendRef of the rule has weight 0"
                            };
                            Arc::new(make(f, no_backend(namespace), Some(why.into())))
                        });
                    let split = Split::new(shares).map(Arc::new);
                    table.host_mut(host).insert_match(
                        &path,
                        Candidate::gateway_shared(first, conditions.clone(), precedence.clone())
                            .with_split(split),
                    );
                }
            }
        }
    }
}

/// Loads a TLS listener's first usable certificate into its port's table, by its hostname.
fn listener_certificates(
    listener: &ListenerState,
    lookups: &Lookups<'_>,
    tls: &mut TlsTable,
    problems: &mut Vec<Problem>,
) {
    for secret in &listener.certificates {
        let key = format!("{}/{}", secret.namespace, secret.name);
        let Some(object) = lookups.secret(&secret.namespace, &secret.name) else {
            continue;
        };
        match certified_key(&key, object) {
            Ok(cert) => {
                if let Some(expiry) = not_after(&cert) {
                    tls.expiry.push((key, expiry));
                }
                tls.insert_listener(&listener.hostname, Arc::new(cert));
                return;
            }
            Err(e) => problems.push(Problem {
                object: key,
                kind: ProblemKind::TlsSecret,
                message: format!("listener {}: {e}", listener.name),
            }),
        }
    }
}

/// A route, read for serving: HTTPRoute and GRPCRoute alike.
struct RouteInput<'a> {
    /// `namespace/name`.
    key: String,
    attach_route: AttachRoute,
    /// Each rule, or its index and why it cannot be served.
    rules: Vec<Result<RuleInput<'a>, (usize, String)>>,
}

/// One rule of a route, read.
struct RuleInput<'a> {
    index: usize,
    matches: Vec<RuleMatch>,
    refs: Vec<BackendRef>,
    /// The HTTPRoute filters of each of `refs`.
    backend_filters: Vec<&'a [HttpRouteRulesBackendRefsFilters]>,
    /// HTTPRoute filters.
    filters: &'a [HttpRouteRulesFilters],
    /// A GRPCRoute rule's filters, read.
    grpc_filters: Option<filters::Filters>,
    /// The backend's timeout, or why it could not be read.
    timeout: Result<Option<std::time::Duration>, String>,
    /// Why its filters cannot be applied, if they cannot: its matches answer 500.
    refused: Option<String>,
}

/// A rule's backendRefs (and their HTTPRoute filters), HTTPRoute filters, GRPCRoute
/// filters (read) and timeout.
type RuleParts<'a> = (
    Vec<(BackendRef, &'a [HttpRouteRulesBackendRefsFilters])>,
    &'a [HttpRouteRulesFilters],
    Option<filters::Filters>,
    Result<Option<std::time::Duration>, String>,
);

/// Each rule of a route with what else serving it reads, or its index and why its matches
/// cannot be read.
fn rule_inputs<'a, R>(
    read: Vec<ReadRule>,
    rules: &'a [R],
    parts: impl Fn(&'a R) -> RuleParts<'a>,
) -> Vec<Result<RuleInput<'a>, (usize, String)>> {
    read.into_iter()
        .zip(rules)
        .enumerate()
        .map(|(index, (read, rule))| {
            let matches = read.matches.map_err(|e| (index, e.to_string()))?;
            let (refs, filters, grpc_filters, timeout) = parts(rule);
            let (refs, backend_filters) = refs.into_iter().unzip();
            Ok(RuleInput {
                index,
                matches,
                refs,
                backend_filters,
                filters,
                grpc_filters,
                timeout,
                refused: read.refused,
            })
        })
        .collect()
}

/// How a usable backend is spoken to: HTTP/2 in the clear (gRPC, `kubernetes.io/h2c`), or
/// HTTP/1.1.
fn protocol(b: &attach::Backend) -> BackendProtocol {
    match b.target {
        Ok(attach::BackendProtocol::H2c) => BackendProtocol::Grpc,
        _ => BackendProtocol::Http,
    }
}

/// The mirrors of a rule's `filters` whose backends can be used (`resolve` judges their
/// references); `unusable` is told why each other one is not.
fn rule_mirrors(
    filters: &[HttpRouteRulesFilters],
    resolve: &dyn Fn(&[BackendRef]) -> Vec<attach::Backend>,
    resolver: &mut BackendResolver<'_>,
    unusable: &mut dyn FnMut(String),
) -> Option<Arc<[Mirror]>> {
    let refs = backends::mirrors(filters);
    if refs.is_empty() {
        return None;
    }
    let backends = resolve(&refs.iter().map(|m| m.backend.clone()).collect::<Vec<_>>());
    let mut out = Vec::with_capacity(refs.len());
    for (m, b) in refs.into_iter().zip(&backends) {
        match rule_backend(b, resolver) {
            (backend, None) => out.push(Mirror::new(backend, m.percent, m.fraction)),
            (_, Some(why)) => unusable(why.to_string()),
        }
    }
    Some(out.into())
}

/// The backend of a resolved backendRef, or a placeholder and why its share gets 500.
fn rule_backend(
    b: &attach::Backend,
    resolver: &mut BackendResolver<'_>,
) -> (Arc<Backend>, Option<Arc<str>>) {
    match (&b.target, b.port) {
        (Ok(_), Some(port)) => (resolver.resolve_port(&b.namespace, &b.name, port), None),
        (Err(problem), _) => (no_backend(&b.namespace), Some(problem.to_string().into())),
        (Ok(_), None) => (
            no_backend(&b.namespace),
            Some("the backendRef has no port".into()),
        ),
    }
}

/// A backend that names no Service: for routes that answer 500 instead of proxying.
fn no_backend(namespace: &str) -> Arc<Backend> {
    Arc::new(Backend::new(
        format!("{namespace}/(none)"),
        None,
        Endpoints {
            addrs: Vec::new(),
            problem: Some("no usable backend".into()),
        },
    ))
}

fn problem(object: String, message: String) -> Problem {
    Problem {
        object,
        kind: ProblemKind::InvalidRule,
        message,
    }
}

/// Finishes each port's table; the default table (no routes) holds every backend, for
/// in-place endpoint updates, and the Services the routes' backends name (`reads`): one
/// that appears, goes or changes its ports changes which backends are usable.
fn finish(
    tables: BTreeMap<u16, RouteTable>,
    resolver: BackendResolver<'_>,
    mut problems: Vec<Problem>,
    reads: BTreeSet<String>,
) -> GatewayCompiled {
    let mut by_port = BTreeMap::new();
    for (port, mut table) in tables {
        table.exact_hosts.shrink_to_fit();
        for (host, error) in table.finish_hosts() {
            problems.push(problem(
                host.clone(),
                format!(
                    "the regular-expression paths of host {host} on port {port} together are too large to compile ({error}); only its Exact and Prefix paths are served"
                ),
            ));
        }
        table.tls.expiry.sort();
        by_port.insert(port, Arc::new(table));
    }
    let default = RouteTable {
        wildcards: WildcardHosts::AnyLabels,
        backends: resolver.into_index(),
        reads,
        ..RouteTable::default()
    };
    GatewayCompiled {
        tables: Tables {
            default: Arc::new(default),
            by_port,
        },
        problems,
    }
}

#[cfg(test)]
mod tests;
