//! The compiled, immutable route table and the request matcher.
//!
//! A request is matched in two steps, as ingress-nginx users expect:
//! 1. the host: an exact host rule, else a wildcard (`*.foo.com`) rule, else the rules
//!    without a host. A wildcard covers one label ([`sluice_crds::ingress::host`]), or, in a
//!    table for the Gateway API, any number, the longest suffix first
//!    ([`sluice_crds::gateway::hostname`]): [`WildcardHosts`];
//! 2. the path, within that host only: an Exact path, else the Gateway API's regular
//!    expressions (if any), else every matching Prefix from the longest to the shortest; on
//!    a host with ingress-nginx regular-expression rules, the rules in
//!    [`sluice_crds::ingress::regex`]'s order instead ([`RegexRoutes`]). Each path holds
//!    its [`Candidates`]: the first whose request conditions (method, headers, query) the
//!    request meets takes it, else the search goes on. An Ingress rule is one candidate
//!    without conditions, so an Ingress table never reads more than host and path.
//!
//! The order of that search is the Gateway API's precedence
//! ([`sluice_crds::gateway::matching`]): the prefixes that match one path are nested, so
//! the deeper also has more characters.
//!
//! No path matched: the host's default backend (`spec.defaultBackend` of the oldest Ingress
//! with rules for that host that has one), else the table's default backend (the oldest
//! Ingress of the class with a `spec.defaultBackend`), else 404.

use super::mirror::Mirror;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use k8s_openapi::api::networking::v1::ServiceBackendPort;
use serde::Serialize;

use sluice_crds::annotations::{Affinity, BackendProtocol, Canary, ExternalAuth, Redirect};
use sluice_crds::cors::CorsPolicy;

use super::Access;
use sluice_crds::gateway::hostname::wildcard_suffixes;
use sluice_crds::gateway::matching::RequestFacts;
use sluice_crds::ingress::host::wildcard_suffix;
use sluice_crds::ingress::{HostMatch, PathKind, PathMatch};

use super::candidates::{Candidate, Candidates};
use super::headers::HeaderEdits;
use super::regex::{PathRewrite, RegexRoutes};
use super::trie::PrefixTrie;
use crate::auth::basic::BasicAuth;
use crate::compile::tls::TlsTable;
use crate::metrics::RouteSeries;
use crate::serve::rate_limit::IngressLimiter;

/// The endpoints of a backend at one moment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The endpoints to balance over: ready ones, or, when none is ready, those still
    /// serving while terminating. Empty: 503.
    pub addrs: Vec<SocketAddr>,
    /// Why there are no endpoints, when that is known (no such Service, no such port).
    pub problem: Option<String>,
}

/// The Service port a backend stands for, so that its endpoints can be worked out again
/// when the Service or its EndpointSlices change.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePortRef {
    pub namespace: String,
    pub service: String,
    pub port: Option<ServiceBackendPort>,
}

/// What a request is sent to: a Service port and its endpoints.
///
/// The one part of the table that changes in place: endpoint churn (a rolling update
/// rewrites EndpointSlices dozens of times) swaps the endpoint list of the backends it
/// touches instead of recompiling every route. Every route to the same Service port
/// shares one `Backend`, so one swap reaches them all.
#[derive(Debug)]
pub struct Backend {
    /// `namespace/service:port`.
    pub name: String,
    /// `None` when the Ingress backend names no Service (its problem never changes).
    pub target: Option<ServicePortRef>,
    endpoints: ArcSwap<Endpoints>,
    next: AtomicUsize,
}

impl Backend {
    pub fn new(name: String, target: Option<ServicePortRef>, endpoints: Endpoints) -> Self {
        Self {
            name,
            target,
            endpoints: ArcSwap::from_pointee(endpoints),
            next: AtomicUsize::new(0),
        }
    }

    /// The current endpoints: one atomic load. A request that already picked an endpoint
    /// keeps it; the next pick sees the new list.
    pub fn endpoints(&self) -> arc_swap::Guard<Arc<Endpoints>> {
        self.endpoints.load()
    }

    /// Replaces the endpoints; `false` (and nothing stored) when they are the same.
    pub fn set_endpoints(&self, endpoints: Endpoints) -> bool {
        if **self.endpoints.load() == endpoints {
            return false;
        }
        self.endpoints.store(Arc::new(endpoints));
        true
    }

    /// The next endpoint in round-robin order, skipping those in `tried`. A retry continues
    /// after the endpoint that failed without advancing the shared position, so a dead
    /// endpoint does not skew the rotation. `None` when every endpoint was tried.
    pub fn pick(&self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let current = self.endpoints.load();
        let endpoints = &current.addrs;
        let n = endpoints.len();
        if n == 0 {
            return None;
        }
        let start = match tried.last() {
            None => self.next.fetch_add(1, Ordering::Relaxed),
            Some(last) => endpoints
                .iter()
                .position(|e| e == last)
                .map_or(0, |i| i + 1),
        };
        (0..n)
            .map(|i| endpoints[(start + i) % n])
            .find(|addr| !tried.contains(addr))
    }

    /// The endpoint an affinity cookie names (`token`), if it is still one of this
    /// backend's and not in `tried`.
    pub fn pick_named(&self, token: &str, tried: &[SocketAddr]) -> Option<SocketAddr> {
        self.endpoints
            .load()
            .addrs
            .iter()
            .find(|addr| !tried.contains(addr) && endpoint_token(**addr) == token)
            .copied()
    }

    /// Whether an endpoint not in `tried` is left to try.
    pub fn has_untried(&self, tried: &[SocketAddr]) -> bool {
        self.endpoints
            .load()
            .addrs
            .iter()
            .any(|e| !tried.contains(e))
    }
}

/// What an affinity cookie says of an endpoint: the same on every proxy replica (so a
/// client keeps its endpoint whichever replica it reaches), and not its address.
pub fn endpoint_token(addr: SocketAddr) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(addr.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

// `/routes` shows a backend as before the endpoints became swappable: name, endpoints,
// problem.
impl Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let current = self.endpoints.load();
        let fields = if current.problem.is_some() { 3 } else { 2 };
        let mut out = s.serialize_struct("Backend", fields)?;
        out.serialize_field("name", &self.name)?;
        out.serialize_field("endpoints", &current.addrs)?;
        if let Some(problem) = &current.problem {
            out.serialize_field("problem", problem)?;
        }
        out.end()
    }
}

/// A matched rule: where it came from and where it goes.
#[derive(Debug, Serialize)]
pub struct Route {
    /// `namespace/name` of the Ingress that wins this rule.
    pub ingress: String,
    /// The rule's host as written (`app.example.com`, `*.example.com`, or none).
    pub host: String,
    /// The rule's path (normalised) and its type; `None` for a default backend.
    pub path: Option<PathMatch>,
    pub backend: Arc<Backend>,
    /// Plain-HTTP requests get a 308 to HTTPS.
    pub redirect_to_https: bool,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub connect_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub read_timeout: Option<Duration>,
    /// How long a write of the request to the backend may stall.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub send_timeout: Option<Duration>,
    /// Who may reach it.
    #[serde(skip_serializing_if = "Access::is_open")]
    pub access: Access,
    /// Answer with this redirect instead of proxying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Arc<Redirect>>,
    /// Where a request for `/` is redirected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_root: Option<Arc<str>>,
    /// The largest request body, in bytes (0: no limit); `None`: the proxy's setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_size: Option<u64>,
    /// The path the backend gets instead of the client's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<PathRewrite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Arc<CorsPolicy>>,
    /// How the backend is spoken to.
    #[serde(skip_serializing_if = "is_plain_http")]
    pub backend_protocol: BackendProtocol,
    /// The `Host` the backend gets instead of the client's (`upstream-vhost`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_host: Option<Arc<str>>,
    /// A canary Ingress's share of this rule's requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRoute>,
    /// Basic auth: who may pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// External auth: the service that decides each request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_auth: Option<Arc<ExternalAuth>>,
    /// Cookie affinity: a client's requests keep to one endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Arc<Affinity>>,
    /// The Ingress's `default-backend`: for its requests when the backend has no
    /// endpoints, and its error pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_backend: Option<Arc<ErrorBackend>>,
    /// Headers set on its responses (`custom-headers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<Arc<[(&'static str, String)]>>,
    /// Its Ingress's rate limits and their counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Arc<IngressLimiter>>,
    /// Why its requests are answered with 500 instead of proxied: a Gateway API backendRef
    /// that cannot be used (its share of the rule's requests), or a rule without backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable: Option<Arc<str>>,
    /// The path and query a redirect's `$request_uri` stands for, instead of the client's
    /// (the Gateway API's RequestRedirect with a path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_path: Option<PathRewrite>,
    /// Headers set, added and removed on the request the backend gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<Arc<HeaderEdits>>,
    /// Headers set, added and removed on the backend's response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_edits: Option<Arc<HeaderEdits>>,
    /// Where copies of its requests go (the Gateway API's RequestMirror).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirrors: Option<Arc<[Mirror]>>,
    /// Its metric series, found on first use.
    #[serde(skip)]
    pub series: RouteSeries,
}

/// An Ingress's `default-backend` Service, and the statuses it replaces
/// (`custom-http-errors`).
#[derive(Debug, Serialize)]
pub struct ErrorBackend {
    pub backend: Arc<Backend>,
    /// The backend's responses with these statuses are replaced by this backend's answer;
    /// empty without `custom-http-errors`.
    pub codes: Arc<[u16]>,
}

/// The canary of a rule: another Ingress's backend, for the requests [`Canary`] picks.
#[derive(Debug, Serialize)]
pub struct CanaryRoute {
    /// `namespace/name` of the canary Ingress.
    pub ingress: String,
    pub rules: Arc<Canary>,
    pub backend: Arc<Backend>,
}

impl Route {
    /// The backend of a request: the canary's when `canary` (its choice), else the rule's.
    pub fn backend_for(&self, canary: bool) -> &Arc<Backend> {
        match (&self.canary, canary) {
            (Some(c), true) => &c.backend,
            _ => &self.backend,
        }
    }

    /// Whether only Pingora's path serves the route: its backend is spoken to other than in
    /// plain HTTP/1.1, it has a canary (chosen by any header or cookie), an auth service
    /// decides its requests (from any of their headers), a cookie picks its endpoint, or
    /// another Service may answer instead of its backend.
    pub fn needs_pingora(&self, client_tls: bool) -> bool {
        !self.backend_protocol.is_plain_http(client_tls)
            || self.canary.is_some()
            || self.external_auth.is_some()
            || self.affinity.is_some()
            || self.error_backend.is_some()
    }

    /// A route of `ingress` to `backend`, with nothing else set.
    #[cfg(test)]
    pub fn for_tests(ingress: &str, backend: Arc<Backend>) -> Self {
        Self::gateway(ingress.into(), backend)
    }

    /// A route of `owner` (a Gateway API route, `namespace/name`) to `backend`, with nothing
    /// else set.
    pub fn gateway(owner: String, backend: Arc<Backend>) -> Self {
        Self {
            ingress: owner,
            host: String::new(),
            path: None,
            backend,
            redirect_to_https: false,
            connect_timeout: None,
            read_timeout: None,
            send_timeout: None,
            access: Access::default(),
            redirect: None,
            app_root: None,
            max_body_size: None,
            rewrite: None,
            cors: None,
            backend_protocol: BackendProtocol::Http,
            upstream_host: None,
            canary: None,
            basic_auth: None,
            external_auth: None,
            affinity: None,
            error_backend: None,
            response_headers: None,
            rate_limit: None,
            unusable: None,
            redirect_path: None,
            request_headers: None,
            response_edits: None,
            mirrors: None,
            series: Default::default(),
        }
    }

    /// The backend a request goes to: the route's, its canary's, or, as a `fallback` when
    /// those have no endpoints, its Ingress's `default-backend`.
    pub fn target(&self, canary: bool, fallback: bool) -> &Arc<Backend> {
        match (&self.error_backend, fallback) {
            (Some(errors), true) => &errors.backend,
            _ => self.backend_for(canary),
        }
    }

    /// The `Path` of an affinity cookie without `session-cookie-path`: the rule's path, `/`
    /// for a regular expression or a default backend.
    pub fn cookie_path(&self) -> &str {
        match &self.path {
            Some(path) if path.kind != PathKind::Regex => &path.path,
            _ => "/",
        }
    }
}

fn is_plain_http(protocol: &BackendProtocol) -> bool {
    *protocol == BackendProtocol::Http
}

/// The routes of one host.
#[derive(Debug, Default, Serialize)]
pub struct HostRoutes {
    pub exact: HashMap<String, Candidates>,
    pub prefixes: PrefixTrie<Candidates>,
    /// Every rule, when one of them is an ingress-nginx regular expression: then they alone
    /// are used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexRoutes>,
    /// The Gateway API's `RegularExpression` paths: tried after the Exact paths, before the
    /// prefixes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patterns: Option<RegexRoutes>,
    /// The regular-expression rules, until [`HostRoutes::finish`].
    #[serde(skip)]
    regex_rules: Vec<(PathMatch, Candidate)>,
    #[serde(skip)]
    pattern_rules: Vec<(PathMatch, Candidate)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<Arc<Route>>,
}

impl HostRoutes {
    fn lookup(&self, path: &str, request: &impl RequestFacts) -> Option<&Arc<Route>> {
        match &self.regex {
            Some(regex) => regex.lookup(path, request),
            None => self
                .exact
                .get(path)
                .and_then(|exact| exact.first_admitting(request))
                .or_else(|| self.patterns.as_ref()?.lookup(path, request))
                .or_else(|| {
                    self.prefixes
                        .matches(path)
                        .find_map(|prefix| prefix.first_admitting(request))
                }),
        }
        .or(self.default_backend.as_ref())
    }

    /// Adds an Ingress rule: it replaces an Ingress rule of the same path; a regular
    /// expression is ingress-nginx's.
    pub fn insert(&mut self, path: &PathMatch, route: Arc<Route>) {
        match path.kind {
            PathKind::Regex => self
                .regex_rules
                .push((path.clone(), Candidate::ingress(route))),
            _ => self.slot(path).insert(Candidate::ingress(route)),
        }
    }

    /// Adds a Gateway API match: among the candidates of its path in its precedence order;
    /// a regular expression is the Gateway API's.
    pub fn insert_match(&mut self, path: &PathMatch, candidate: Candidate) {
        match path.kind {
            PathKind::Regex => self.pattern_rules.push((path.clone(), candidate)),
            _ => self.slot(path).insert(candidate),
        }
    }

    /// The candidates of an Exact or Prefix path.
    fn slot(&mut self, path: &PathMatch) -> &mut Candidates {
        match path.kind {
            PathKind::Exact => self.exact.entry(path.path.clone()).or_default(),
            _ => self.prefixes.get_or_insert_default(&path.path),
        }
    }

    /// Once every rule is in: if one is an ingress-nginx regular expression, every rule
    /// becomes one ([`sluice_crds::ingress::regex`]); the Gateway API's regular expressions
    /// are compiled into one set. Expressions too large to compile together are left out,
    /// and the (first) error returned.
    pub fn finish(&mut self) -> Result<(), regex::Error> {
        let mut result = Ok(());
        if !self.regex_rules.is_empty() {
            let mut rules = std::mem::take(&mut self.regex_rules);
            for (path, candidates) in &self.exact {
                let path = PathMatch {
                    kind: PathKind::Exact,
                    path: path.clone(),
                };
                rules.extend(candidates.iter().map(|c| (path.clone(), c.clone())));
            }
            for (path, candidates) in self.prefixes.entries() {
                let path = PathMatch {
                    kind: PathKind::Prefix,
                    path,
                };
                rules.extend(candidates.iter().map(|c| (path.clone(), c.clone())));
            }
            match RegexRoutes::ingress(rules) {
                Ok(regex) => self.regex = Some(regex),
                Err(e) => result = Err(e),
            }
        }
        let patterns = std::mem::take(&mut self.pattern_rules);
        if !patterns.is_empty() {
            match RegexRoutes::gateway(patterns) {
                Ok(patterns) => self.patterns = Some(patterns),
                Err(e) => result = result.and(Err(e)),
            }
        }
        result
    }

    /// How many routes it has: one per Ingress rule or Gateway API match.
    fn len(&self) -> usize {
        match &self.regex {
            Some(regex) => regex.len(),
            None => self
                .exact
                .values()
                .chain(self.prefixes.values())
                .map(Candidates::len)
                .sum(),
        }
        .saturating_add(self.patterns.as_ref().map_or(0, RegexRoutes::len))
    }
}

/// How a table's wildcard hosts cover a request's host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum WildcardHosts {
    /// Ingress: `*.foo.com` covers one label in front of `foo.com`.
    #[default]
    OneLabel,
    /// Gateway API: any number of labels; of several wildcards, the longest suffix wins.
    AnyLabels,
}

fn is_one_label(w: &WildcardHosts) -> bool {
    *w == WildcardHosts::OneLabel
}

/// Everything the data plane needs to answer requests. Built whole by the compiler and
/// swapped in atomically; never modified after.
#[derive(Debug, Default, Serialize)]
pub struct RouteTable {
    pub exact_hosts: HashMap<String, HostRoutes>,
    /// Keyed by the part after `*.`.
    pub wildcard_hosts: HashMap<String, HostRoutes>,
    /// How they cover a host.
    #[serde(skip_serializing_if = "is_one_label")]
    pub wildcards: WildcardHosts,
    pub any_host: Option<HostRoutes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<Arc<Route>>,
    #[serde(skip)]
    pub tls: TlsTable,
    /// How many Ingresses contributed.
    pub ingresses: usize,
    /// Every backend that names a Service, by Service, for in-place endpoint updates.
    #[serde(skip)]
    pub backends: BackendIndex,
    /// The objects the routes read by name, found or not ([`crate::objects::named`]): a
    /// change to one of them recompiles, a change to any other Secret or ConfigMap does not.
    #[serde(skip)]
    pub reads: BTreeSet<String>,
}

/// Backends by namespace, then Service name (nested so that lookups borrow, not allocate).
#[derive(Debug, Default)]
pub struct BackendIndex {
    by_service: HashMap<String, HashMap<String, Vec<Arc<Backend>>>>,
}

impl BackendIndex {
    pub fn insert(&mut self, backend: Arc<Backend>) {
        let Some(target) = &backend.target else {
            return;
        };
        // Keys are cloned only when new: compiling 10,000 Ingresses inserts 10,000 times.
        if !self.by_service.contains_key(&target.namespace) {
            self.by_service
                .insert(target.namespace.clone(), HashMap::new());
        }
        let Some(services) = self.by_service.get_mut(&target.namespace) else {
            return;
        };
        match services.get_mut(&target.service) {
            Some(backends) => backends.push(backend.clone()),
            None => {
                services.insert(target.service.clone(), vec![backend.clone()]);
            }
        }
    }

    /// The backends of Service `namespace/name` (one per port the routes use).
    pub fn of_service(&self, namespace: &str, name: &str) -> &[Arc<Backend>] {
        self.by_service
            .get(namespace)
            .and_then(|s| s.get(name))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The backend of Service `namespace/name` port `port`, if one was made.
    pub fn find(
        &self,
        namespace: &str,
        name: &str,
        port: Option<&ServiceBackendPort>,
    ) -> Option<&Arc<Backend>> {
        self.of_service(namespace, name)
            .iter()
            .find(|b| b.target.as_ref().is_some_and(|t| t.port.as_ref() == port))
    }
}

impl RouteTable {
    /// The route for a request. `host` must already be normalised
    /// ([`sluice_crds::ingress::normalize_request_host`]); `path` excludes the query;
    /// `request` is read only for a route with request conditions.
    pub fn lookup(
        &self,
        host: &str,
        path: &str,
        request: &impl RequestFacts,
    ) -> Option<&Arc<Route>> {
        let host_routes = self
            .exact_hosts
            .get(host)
            .or_else(|| self.wildcard_host(host))
            .or(self.any_host.as_ref());
        match host_routes {
            Some(routes) => routes
                .lookup(path, request)
                .or(self.default_backend.as_ref()),
            None => self.default_backend.as_ref(),
        }
    }

    /// The routes of the wildcard that covers `host`, if one does.
    fn wildcard_host(&self, host: &str) -> Option<&HostRoutes> {
        match self.wildcards {
            WildcardHosts::OneLabel => {
                wildcard_suffix(host).and_then(|s| self.wildcard_hosts.get(s))
            }
            WildcardHosts::AnyLabels => {
                wildcard_suffixes(host).find_map(|s| self.wildcard_hosts.get(s))
            }
        }
    }

    /// The routes of a claimed host, created when first needed.
    pub fn host_mut(&mut self, host: &HostMatch) -> &mut HostRoutes {
        match host {
            HostMatch::Exact(h) => host_entry(&mut self.exact_hosts, h),
            HostMatch::Wildcard(s) => host_entry(&mut self.wildcard_hosts, s),
            HostMatch::Any => self.any_host.get_or_insert_with(HostRoutes::default),
        }
    }

    /// Finishes every host's rules ([`HostRoutes::finish`]); the hosts whose regular
    /// expressions could not be compiled, and why.
    pub fn finish_hosts(&mut self) -> Vec<(String, regex::Error)> {
        let named = |prefix: &'static str| {
            move |(host, routes): (&String, &mut HostRoutes)| {
                routes
                    .finish()
                    .err()
                    .map(|e| (format!("{prefix}{host}"), e))
            }
        };
        let mut failed: Vec<_> = self
            .exact_hosts
            .iter_mut()
            .filter_map(named(""))
            .chain(self.wildcard_hosts.iter_mut().filter_map(named("*.")))
            .collect();
        if let Some(Err(e)) = self.any_host.as_mut().map(HostRoutes::finish) {
            failed.push(("any host".into(), e));
        }
        failed
    }

    /// Number of routes (one per Ingress rule or Gateway API match), for metrics and logs.
    pub fn route_count(&self) -> usize {
        self.exact_hosts
            .values()
            .chain(self.wildcard_hosts.values())
            .chain(self.any_host.iter())
            .map(HostRoutes::len)
            .sum()
    }
}

/// The routes of `host` in `hosts`, created when first needed; its name is copied only then
/// (a host with several routes is looked up once per route).
fn host_entry<'h>(hosts: &'h mut HashMap<String, HostRoutes>, host: &str) -> &'h mut HostRoutes {
    if !hosts.contains_key(host) {
        hosts.insert(host.to_string(), HostRoutes::default());
    }
    hosts
        .get_mut(host)
        .expect("the host was there or has just been inserted")
}

mod opt_millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u128(d.as_millis()),
            None => s.serialize_none(),
        }
    }
}
