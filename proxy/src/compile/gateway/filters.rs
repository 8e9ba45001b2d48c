//! An HTTPRoute rule's filters, read into the route fields both request paths already
//! apply: RequestRedirect into `redirect` (and `redirect_path`, the path its
//! `$request_uri` stands for), URLRewrite into `rewrite` (the path) and `upstream_host`
//! (the hostname), Request/ResponseHeaderModifier into header edits. Pure.
//!
//! RequestMirror, CORS and ExtensionRef filters are not applied yet: the rule is served
//! without them, and the caller is told.

use std::sync::Arc;

use regex::Regex;
use sluice_crds::annotations::redirect::Template;
use sluice_crds::annotations::{Redirect, Rewrite};
use sluice_crds::cors::CorsPolicy;
use sluice_crds::gateway::cors::GatewayCors;
use sluice_crds::gateway::ports::{GatewayPort, PortProtocol};
use sluice_crds::gateway_api::grpcroutes::GrpcRouteRulesFilters;
use sluice_crds::gateway_api::httproutes::{
    HttpRouteRulesBackendRefsFilters, HttpRouteRulesFilters,
    HttpRouteRulesFiltersRequestRedirectPathType, HttpRouteRulesFiltersRequestRedirectScheme,
    HttpRouteRulesFiltersType, HttpRouteRulesFiltersUrlRewritePathType,
};
use sluice_crds::ingress::{PathKind, PathMatch};

use crate::routes::HeaderEdits;
use crate::routes::regex::PathRewrite;

/// The edits of a header modifier filter (each kind of filter has its own generated type
/// of the same shape).
macro_rules! modifier_edits {
    ($m:expr) => {
        edits(
            $m.set.iter().flatten().map(|h| (&h.name, &h.value)),
            $m.add.iter().flatten().map(|h| (&h.name, &h.value)),
            $m.remove.iter().flatten(),
        )
    };
}

/// What a rule's filters make of its routes.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub redirect: Option<Arc<Redirect>>,
    /// The path (and query) a redirect sends to: `(rule, target)`.
    pub redirect_path: Option<(Regex, Arc<Rewrite>)>,
    /// The path the backend gets: `(rule, target)`.
    pub rewrite: Option<(Regex, Arc<Rewrite>)>,
    pub upstream_host: Option<Arc<str>>,
    pub request_headers: Option<Arc<HeaderEdits>>,
    pub response_edits: Option<Arc<HeaderEdits>>,
    pub cors: Option<Arc<CorsPolicy>>,
}

impl Filters {
    pub fn redirect_path(&self) -> Option<PathRewrite> {
        self.redirect_path.as_ref().map(path_rewrite)
    }

    pub fn rewrite(&self) -> Option<PathRewrite> {
        self.rewrite.as_ref().map(path_rewrite)
    }
}

fn path_rewrite((rule, to): &(Regex, Arc<Rewrite>)) -> PathRewrite {
    PathRewrite {
        to: to.clone(),
        rule: rule.clone(),
        forwarded_prefix: None,
    }
}

/// Reads `filters` of a rule matched by `path`, served on `listener`. An error: a filter
/// Sluice cannot apply as written (the rule is not served).
pub fn read(
    filters: &[HttpRouteRulesFilters],
    path: &PathMatch,
    listener: &GatewayPort,
) -> Result<Filters, String> {
    let mut out = Filters::default();
    for filter in filters {
        match filter.r#type {
            HttpRouteRulesFiltersType::RequestHeaderModifier => {
                if let Some(m) = &filter.request_header_modifier {
                    let (request, host) = request_edits(modifier_edits!(m));
                    out.upstream_host = host.or(out.upstream_host);
                    out.request_headers = Some(Arc::new(request));
                }
            }
            HttpRouteRulesFiltersType::ResponseHeaderModifier => {
                if let Some(m) = &filter.response_header_modifier {
                    out.response_edits = Some(Arc::new(modifier_edits!(m)));
                }
            }
            HttpRouteRulesFiltersType::RequestRedirect => {
                let Some(r) = &filter.request_redirect else {
                    continue;
                };
                let scheme = r.scheme.as_ref().map(|s| match s {
                    HttpRouteRulesFiltersRequestRedirectScheme::Http => "http",
                    HttpRouteRulesFiltersRequestRedirectScheme::Https => "https",
                });
                let port = redirect_port(scheme, r.port, listener);
                let scheme = scheme.unwrap_or(match listener.protocol {
                    PortProtocol::Http => "http",
                    PortProtocol::Https => "https",
                });
                let host = r.hostname.as_deref().unwrap_or("$host");
                let port = port
                    .filter(|p| !matches!((scheme, p), ("http", 80) | ("https", 443)))
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                let to = Template::parse(&format!("{scheme}://{host}{port}$request_uri"))
                    .map_err(|e| format!("RequestRedirect: {e}"))?;
                let code = match r.status_code.unwrap_or(302) {
                    code @ (301 | 302 | 303 | 307 | 308) => code as u16,
                    other => {
                        return Err(format!("RequestRedirect: status {other} is not a redirect"));
                    }
                };
                out.redirect = Some(Arc::new(Redirect { code, to }));
                if let Some(p) = &r.path {
                    let replacement = match p.r#type {
                        HttpRouteRulesFiltersRequestRedirectPathType::ReplaceFullPath => {
                            Replace::Full(p.replace_full_path.as_deref().unwrap_or("/"))
                        }
                        HttpRouteRulesFiltersRequestRedirectPathType::ReplacePrefixMatch => {
                            Replace::Prefix(p.replace_prefix_match.as_deref().unwrap_or("/"))
                        }
                    };
                    out.redirect_path = Some(
                        replace(path, replacement).map_err(|e| format!("RequestRedirect: {e}"))?,
                    );
                }
            }
            HttpRouteRulesFiltersType::UrlRewrite => {
                let Some(r) = &filter.url_rewrite else {
                    continue;
                };
                out.upstream_host = r.hostname.as_deref().map(Arc::from);
                if let Some(p) = &r.path {
                    let replacement = match p.r#type {
                        HttpRouteRulesFiltersUrlRewritePathType::ReplaceFullPath => {
                            Replace::Full(p.replace_full_path.as_deref().unwrap_or("/"))
                        }
                        HttpRouteRulesFiltersUrlRewritePathType::ReplacePrefixMatch => {
                            Replace::Prefix(p.replace_prefix_match.as_deref().unwrap_or("/"))
                        }
                    };
                    out.rewrite =
                        Some(replace(path, replacement).map_err(|e| format!("URLRewrite: {e}"))?);
                }
            }
            HttpRouteRulesFiltersType::Cors => {
                if let Some(cors) = &filter.cors {
                    out.cors = Some(Arc::new(CorsPolicy::Gateway(GatewayCors::new(cors))));
                }
            }
            // Never served: the rule is refused first (`http_filters_problem`).
            HttpRouteRulesFiltersType::RequestMirror | HttpRouteRulesFiltersType::ExtensionRef => {}
        }
    }
    Ok(out)
}

/// A GRPCRoute rule's filters: the header modifiers, the only ones Sluice applies to gRPC
/// (`sluice_crds::gateway::rules::grpc_filter_supported`).
pub fn grpc(filters: &[GrpcRouteRulesFilters]) -> Filters {
    let mut out = Filters::default();
    for filter in filters {
        if let Some(m) = &filter.request_header_modifier {
            let (request, host) = request_edits(modifier_edits!(m));
            out.upstream_host = host.or(out.upstream_host);
            out.request_headers = Some(Arc::new(request));
        }
        if let Some(m) = &filter.response_header_modifier {
            out.response_edits = Some(Arc::new(modifier_edits!(m)));
        }
    }
    out
}

/// A rule's filters with its backendRef's after them (the header modifiers, the only ones
/// a backendRef's may be: `sluice_crds::gateway::rules::backend_filter_supported`).
pub fn with_backend(rule: &Filters, filters: &[HttpRouteRulesBackendRefsFilters]) -> Filters {
    let mut out = rule.clone();
    for filter in filters {
        if let Some(m) = &filter.request_header_modifier {
            let (request, host) = request_edits(modifier_edits!(m));
            out.upstream_host = host.or(out.upstream_host);
            out.request_headers = Some(Arc::new(match &out.request_headers {
                Some(earlier) => earlier.then(&request),
                None => request,
            }));
        }
        if let Some(m) = &filter.response_header_modifier {
            let response = modifier_edits!(m);
            // The backend's edits are nearer the backend: they apply to its response first.
            out.response_edits = Some(Arc::new(match &out.response_edits {
                Some(later) => response.then(later),
                None => response,
            }));
        }
    }
    out
}

/// A request's header edits without `Host`, which both paths write themselves, and the
/// Host they set (the upstream host), if any.
fn request_edits(mut request: HeaderEdits) -> (HeaderEdits, Option<Arc<str>>) {
    let host = request
        .set
        .iter()
        .chain(&request.add)
        .find(|(n, _)| n == "host")
        .map(|(_, h)| Arc::from(h.as_str()));
    request.set.retain(|(n, _)| n != "host");
    request.add.retain(|(n, _)| n != "host");
    request.remove.retain(|n| n != "host");
    (request, host)
}

/// The port of a redirect's Location: the filter's; else, when it sets a scheme, that
/// scheme's (`None`: the well-known one); else the listener's.
fn redirect_port(scheme: Option<&str>, port: Option<i32>, listener: &GatewayPort) -> Option<i32> {
    match (port, scheme) {
        (Some(port), _) => Some(port),
        (None, Some("https")) => Some(443),
        (None, Some(_)) => Some(80),
        (None, None) => Some(i32::from(listener.port)),
    }
}

enum Replace<'a> {
    Full(&'a str),
    Prefix(&'a str),
}

/// The rule and target that replace a request's path: the whole of it, or the prefix the
/// match matched (the rest kept, as `/xyz` for `/foo` makes `/foo/bar` `/xyz/bar`).
fn replace(path: &PathMatch, how: Replace<'_>) -> Result<(Regex, Arc<Rewrite>), String> {
    let (rule, target) = match how {
        Replace::Full(to) => ("^.*$".to_string(), to.to_string()),
        Replace::Prefix(to) => {
            if path.kind == PathKind::Regex {
                return Err("ReplacePrefixMatch needs a PathPrefix or Exact match".into());
            }
            let prefix = path.path.trim_end_matches('/');
            let to = to.trim_end_matches('/');
            (
                format!("^{}(/.*)?$", regex::escape(prefix)),
                format!("{to}$1"),
            )
        }
    };
    let rule = Regex::new(&rule).map_err(|e| e.to_string())?;
    let target = Rewrite::parse(&target).map_err(|e| format!("{target:?} {e}"))?;
    Ok((rule, Arc::new(target)))
}

fn edits<'a>(
    set: impl Iterator<Item = (&'a String, &'a String)>,
    add: impl Iterator<Item = (&'a String, &'a String)>,
    remove: impl Iterator<Item = &'a String>,
) -> HeaderEdits {
    let pairs = |it: &mut dyn Iterator<Item = (&'a String, &'a String)>| {
        it.map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect::<Vec<_>>()
    };
    HeaderEdits {
        set: pairs(&mut { set }),
        add: pairs(&mut { add }),
        remove: remove.map(|n| n.to_ascii_lowercase()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> PathMatch {
        PathMatch {
            kind: PathKind::Prefix,
            path: p.into(),
        }
    }

    fn rewritten(path: &PathMatch, how: Replace<'_>, request: &str) -> Option<String> {
        let (rule, to) = replace(path, how).ok()?;
        path_rewrite(&(rule, to)).target(request, None)
    }

    #[test]
    fn prefix_replacement_keeps_the_rest_of_the_path() {
        let p = prefix("/foo");
        assert_eq!(
            rewritten(&p, Replace::Prefix("/xyz"), "/foo/bar").as_deref(),
            Some("/xyz/bar")
        );
        assert_eq!(
            rewritten(&p, Replace::Prefix("/xyz"), "/foo").as_deref(),
            Some("/xyz")
        );
        assert_eq!(
            rewritten(&p, Replace::Prefix("/"), "/foo/bar").as_deref(),
            Some("/bar")
        );
        assert_eq!(
            rewritten(&p, Replace::Prefix("/"), "/foo").as_deref(),
            Some("/")
        );
        let root = prefix("/");
        assert_eq!(
            rewritten(&root, Replace::Prefix("/v2"), "/a").as_deref(),
            Some("/v2/a")
        );
        assert_eq!(
            rewritten(&p, Replace::Full("/new"), "/foo/bar").as_deref(),
            Some("/new")
        );
    }

    #[test]
    fn a_new_host_header_is_the_upstream_host() {
        let filters: Vec<HttpRouteRulesFilters> = serde_yaml_ng::from_str(
            "[{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: Host, value: b.internal}, {name: X-A, value: '1'}]}}]",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let listener = GatewayPort {
            port: 80,
            container_port: 8080,
            protocol: PortProtocol::Http,
        };
        let read = read(&filters, &prefix("/"), &listener).unwrap_or_default();
        assert_eq!(read.upstream_host.as_deref(), Some("b.internal"));
        let edits = read.request_headers.unwrap_or_default();
        assert_eq!(edits.set, [("x-a".to_string(), "1".to_string())]);
    }

    #[test]
    fn redirect_ports_follow_the_spec() {
        let listener = GatewayPort {
            port: 8000,
            container_port: 8000,
            protocol: PortProtocol::Http,
        };
        assert_eq!(redirect_port(None, None, &listener), Some(8000));
        assert_eq!(redirect_port(Some("https"), None, &listener), Some(443));
        assert_eq!(
            redirect_port(Some("https"), Some(8443), &listener),
            Some(8443)
        );
    }
}
