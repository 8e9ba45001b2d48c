//! An HTTPRoute or GRPCRoute rule, read: its matches, into what the route table matches on (a
//! path and the request conditions beside it, [`crate::gateway::matching`]); its timeout;
//! and whether Sluice can serve it as written ([`invalid_http_rules`]), which the operator
//! reports in the route's status and the proxy acts on. Pure.

use std::time::Duration;

use crate::gateway::attach::InvalidRule;
use crate::gateway::matching::{
    self, MatchError, MatchType, NamedMatch, PathType, RequestConditions,
};
use crate::gateway_api::grpcroutes::{
    GrpcRoute, GrpcRouteRules, GrpcRouteRulesFiltersType, GrpcRouteRulesMatches,
    GrpcRouteRulesMatchesHeadersType, GrpcRouteRulesMatchesMethodType,
};
use crate::gateway_api::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesBackendRefsFiltersType, HttpRouteRulesFilters,
    HttpRouteRulesFiltersRequestRedirectPathType, HttpRouteRulesFiltersType,
    HttpRouteRulesFiltersUrlRewritePathType, HttpRouteRulesMatches,
    HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesMethod, HttpRouteRulesMatchesPathType,
    HttpRouteRulesMatchesQueryParamsType,
};
use crate::ingress::{PathKind, PathMatch};

/// One match of a rule: its path and what else a request must have.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMatch {
    pub path: PathMatch,
    pub conditions: RequestConditions,
}

/// The matches of `rule`, in order; a rule without matches matches every request (PathPrefix
/// `/`). One invalid match makes the whole rule invalid: the error says why.
pub fn rule_matches(rule: &HttpRouteRules) -> Result<Vec<RuleMatch>, MatchError> {
    match rule.matches.as_deref() {
        None | Some([]) => Ok(vec![RuleMatch {
            path: matching::path(PathType::PathPrefix, Some("/"))?,
            conditions: RequestConditions::default(),
        }]),
        Some(matches) => matches.iter().map(rule_match).collect(),
    }
}

fn rule_match(m: &HttpRouteRulesMatches) -> Result<RuleMatch, MatchError> {
    let (kind, value) = match &m.path {
        Some(path) => (
            match path.r#type {
                Some(HttpRouteRulesMatchesPathType::Exact) => PathType::Exact,
                Some(HttpRouteRulesMatchesPathType::RegularExpression) => {
                    PathType::RegularExpression
                }
                Some(HttpRouteRulesMatchesPathType::PathPrefix) | None => PathType::PathPrefix,
            },
            path.value.as_deref(),
        ),
        None => (PathType::PathPrefix, None),
    };
    let path = matching::path(kind, value)?;
    let headers = m.headers.iter().flatten().map(|h| NamedMatch {
        name: &h.name,
        kind: match h.r#type {
            Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                MatchType::RegularExpression
            }
            _ => MatchType::Exact,
        },
        value: &h.value,
    });
    let query = m.query_params.iter().flatten().map(|q| NamedMatch {
        name: &q.name,
        kind: match q.r#type {
            Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression) => {
                MatchType::RegularExpression
            }
            _ => MatchType::Exact,
        },
        value: &q.value,
    });
    let conditions = RequestConditions::parse(m.method.as_ref().map(method), headers, query)?;
    Ok(RuleMatch { path, conditions })
}

/// How long the backend may take to answer: the rule's `timeouts.backendRequest`, else its
/// `timeouts.request` (Sluice's read timeout; `0s` or none: the proxy's). An error: a value
/// that is not a Gateway API duration.
pub fn backend_timeout(rule: &HttpRouteRules) -> Result<Option<Duration>, String> {
    let Some(timeouts) = &rule.timeouts else {
        return Ok(None);
    };
    let Some(value) = timeouts
        .backend_request
        .as_deref()
        .or(timeouts.request.as_deref())
    else {
        return Ok(None);
    };
    let duration =
        parse_duration(value).ok_or_else(|| format!("timeout {value:?} is not a duration"))?;
    Ok((!duration.is_zero()).then_some(duration))
}

/// A Gateway API duration (GEP-2257): up to four numbers of at most five digits, each with
/// a unit of `h`, `m`, `s` or `ms`, as `1h30m` or `500ms`.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let mut rest = value;
    let mut total = Duration::ZERO;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || digits > 5 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else if rest.starts_with('h') {
            (Duration::from_secs(n * 3600), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('s') {
            (Duration::from_secs(n), 1)
        } else {
            return None;
        };
        total += unit;
        rest = &rest[len..];
        parts += 1;
    }
    (parts > 0 && parts <= 4).then_some(total)
}

/// The matches of a GRPCRoute rule: a gRPC method is the path `/SERVICE/METHOD`, so each
/// becomes a path (Exact for both names, PathPrefix for a service, a regular expression
/// otherwise) and header conditions. No matches: every request.
pub fn grpc_rule_matches(rule: &GrpcRouteRules) -> Result<Vec<RuleMatch>, MatchError> {
    match rule.matches.as_deref() {
        None | Some([]) => Ok(vec![RuleMatch {
            path: matching::path(PathType::PathPrefix, Some("/"))?,
            conditions: RequestConditions::default(),
        }]),
        Some(matches) => matches.iter().map(grpc_rule_match).collect(),
    }
}

fn grpc_rule_match(m: &GrpcRouteRulesMatches) -> Result<RuleMatch, MatchError> {
    let method = m.method.as_ref();
    let regex = method
        .is_some_and(|m| m.r#type == Some(GrpcRouteRulesMatchesMethodType::RegularExpression));
    let service = method.and_then(|m| m.service.as_deref());
    let name = method.and_then(|m| m.method.as_deref());
    let path = match (regex, service, name) {
        (_, None, None) => matching::path(PathType::PathPrefix, Some("/"))?,
        (false, Some(s), Some(n)) => matching::path(PathType::Exact, Some(&format!("/{s}/{n}")))?,
        (false, Some(s), None) => matching::path(PathType::PathPrefix, Some(&format!("/{s}")))?,
        (false, None, Some(n)) => matching::path(
            PathType::RegularExpression,
            Some(&format!("/[^/]+/{}", regex::escape(n))),
        )?,
        (true, s, n) => matching::path(
            PathType::RegularExpression,
            Some(&format!(
                "/(?:{})/(?:{})",
                s.unwrap_or("[^/]+"),
                n.unwrap_or("[^/]+")
            )),
        )?,
    };
    let headers = m.headers.iter().flatten().map(|h| NamedMatch {
        name: &h.name,
        kind: match h.r#type {
            Some(GrpcRouteRulesMatchesHeadersType::RegularExpression) => {
                MatchType::RegularExpression
            }
            _ => MatchType::Exact,
        },
        value: &h.value,
    });
    let conditions = RequestConditions::parse(None, headers, std::iter::empty())?;
    Ok(RuleMatch { path, conditions })
}

fn method(m: &HttpRouteRulesMatchesMethod) -> &'static str {
    use HttpRouteRulesMatchesMethod as M;
    match m {
        M::Get => "GET",
        M::Head => "HEAD",
        M::Post => "POST",
        M::Put => "PUT",
        M::Delete => "DELETE",
        M::Connect => "CONNECT",
        M::Options => "OPTIONS",
        M::Trace => "TRACE",
        M::Patch => "PATCH",
    }
}

/// The HTTPRoute filters Sluice applies; a rule with any other is not served as written
/// (the spec: a filter must never be skipped).
pub fn http_filter_supported(kind: &HttpRouteRulesFiltersType) -> bool {
    use HttpRouteRulesFiltersType as F;
    match kind {
        F::RequestHeaderModifier
        | F::ResponseHeaderModifier
        | F::RequestRedirect
        | F::UrlRewrite
        | F::Cors
        | F::RequestMirror => true,
        F::ExtensionRef => false,
    }
}

/// The GRPCRoute filters Sluice applies: the header modifiers (a mirror's copy would need
/// HTTP/2 to a gRPC backend, which the mirrors do not speak).
pub fn grpc_filter_supported(kind: &GrpcRouteRulesFiltersType) -> bool {
    use GrpcRouteRulesFiltersType as F;
    match kind {
        F::RequestHeaderModifier | F::ResponseHeaderModifier => true,
        F::RequestMirror | F::ExtensionRef => false,
    }
}

/// Why a rule's filters cannot be applied to requests its `matches` match, if they cannot:
/// a filter Sluice does not apply, or a path replacement its matches give no prefix for.
pub fn http_filters_problem(
    filters: &[HttpRouteRulesFilters],
    matches: &[RuleMatch],
) -> Option<String> {
    for filter in filters {
        if !http_filter_supported(&filter.r#type) {
            return Some(format!(
                "filter {} is not supported",
                http_filter_name(&filter.r#type)
            ));
        }
        let prefix_replaced = filter
            .url_rewrite
            .as_ref()
            .and_then(|r| r.path.as_ref())
            .is_some_and(|p| {
                p.r#type == HttpRouteRulesFiltersUrlRewritePathType::ReplacePrefixMatch
            })
            || filter
                .request_redirect
                .as_ref()
                .and_then(|r| r.path.as_ref())
                .is_some_and(|p| {
                    p.r#type == HttpRouteRulesFiltersRequestRedirectPathType::ReplacePrefixMatch
                });
        if prefix_replaced && matches.iter().any(|m| m.path.kind == PathKind::Regex) {
            return Some(format!(
                "filter {}: ReplacePrefixMatch needs PathPrefix or Exact matches",
                http_filter_name(&filter.r#type)
            ));
        }
    }
    None
}

/// The filters of a rule's backendRefs Sluice applies: the header modifiers.
pub fn backend_filter_supported(kind: &HttpRouteRulesBackendRefsFiltersType) -> bool {
    use HttpRouteRulesBackendRefsFiltersType as F;
    match kind {
        F::RequestHeaderModifier | F::ResponseHeaderModifier => true,
        F::RequestMirror | F::RequestRedirect | F::UrlRewrite | F::ExtensionRef | F::Cors => false,
    }
}

/// Why the filters of a rule's backendRefs cannot be applied, if they cannot.
fn backend_filters_problem(rule: &HttpRouteRules) -> Option<String> {
    let filter = rule
        .backend_refs
        .iter()
        .flatten()
        .flat_map(|b| b.filters.iter().flatten())
        .find(|f| !backend_filter_supported(&f.r#type))?;
    Some(format!(
        "backendRef filter {:?} is not supported",
        filter.r#type
    ))
}

/// A filter type as the spec spells it.
pub fn http_filter_name(kind: &HttpRouteRulesFiltersType) -> &'static str {
    use HttpRouteRulesFiltersType as F;
    match kind {
        F::RequestHeaderModifier => "RequestHeaderModifier",
        F::ResponseHeaderModifier => "ResponseHeaderModifier",
        F::RequestMirror => "RequestMirror",
        F::RequestRedirect => "RequestRedirect",
        F::UrlRewrite => "URLRewrite",
        F::ExtensionRef => "ExtensionRef",
        F::Cors => "CORS",
    }
}

/// A rule, read: its matches, or why they cannot be read (the rule is not served); and why
/// its filters cannot be applied, if they cannot (its matches are answered with 500, never
/// served without them).
#[derive(Clone, Debug)]
pub struct ReadRule {
    pub matches: Result<Vec<RuleMatch>, MatchError>,
    pub refused: Option<String>,
}

impl ReadRule {
    /// Why the rule is not served as written, if it is not.
    pub fn problem(&self) -> Option<String> {
        match &self.matches {
            Err(e) => Some(e.to_string()),
            Ok(_) => self.refused.clone(),
        }
    }
}

/// Reads each rule of an HTTPRoute.
pub fn read_http_rules(route: &HttpRoute) -> Vec<ReadRule> {
    let rules: &[HttpRouteRules] = route.spec.rules.as_deref().unwrap_or_default();
    rules
        .iter()
        .map(|rule| {
            let matches = rule_matches(rule);
            let refused = matches
                .as_ref()
                .ok()
                .and_then(|m| http_filters_problem(rule.filters.as_deref().unwrap_or_default(), m))
                .or_else(|| backend_filters_problem(rule));
            ReadRule { matches, refused }
        })
        .collect()
}

/// Reads each rule of a GRPCRoute.
pub fn read_grpc_rules(route: &GrpcRoute) -> Vec<ReadRule> {
    let rules: &[GrpcRouteRules] = route.spec.rules.as_deref().unwrap_or_default();
    rules
        .iter()
        .map(|rule| ReadRule {
            matches: grpc_rule_matches(rule),
            refused: rule
                .filters
                .iter()
                .flatten()
                .find(|f| !grpc_filter_supported(&f.r#type))
                .map(|f| format!("filter {:?} is not supported", f.r#type)),
        })
        .collect()
}

/// The rules Sluice cannot serve as written, and why: a match it cannot read (an invalid
/// regular expression, say) or a filter it cannot apply. The operator reports them
/// (`PartiallyInvalid`, or `Accepted: False` when no rule is left).
pub fn invalid_rules(read: &[ReadRule]) -> Vec<InvalidRule> {
    read.iter()
        .enumerate()
        .filter_map(|(index, rule)| rule.problem().map(|message| InvalidRule { index, message }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::PathKind;

    fn rule(yaml: &str) -> HttpRouteRules {
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_rule_without_matches_takes_every_request() {
        let matches = rule_matches(&rule("backendRefs: []")).unwrap_or_default();
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].path.kind, PathKind::Prefix);
        assert_eq!(matches[0].path.path, "/");
        assert!(matches[0].conditions.is_empty());
    }

    #[test]
    fn matches_read_path_method_headers_and_query() {
        let matches = rule_matches(&rule(
            r#"
matches:
- path: {type: Exact, value: /a}
  method: POST
  headers: [{name: X-Env, value: canary}]
  queryParams: [{name: v, type: RegularExpression, value: "[0-9]+"}]
- path: {type: RegularExpression, value: "/r/[a-z]+"}
"#,
        ))
        .unwrap_or_default();
        assert_eq!(matches.len(), 2);
        assert_eq!(matches[0].path.kind, PathKind::Exact);
        assert_eq!(matches[0].conditions.method.as_deref(), Some("POST"));
        assert_eq!(matches[0].conditions.headers[0].name, "x-env");
        assert_eq!(matches[1].path.kind, PathKind::Regex);
    }

    #[test]
    fn durations_read_as_the_gateway_api_writes_them() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        for bad in ["", "1", "1d", "123456s", "1h1h1h1h1h", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let timeout = backend_timeout(&rule("timeouts: {request: 30s, backendRequest: 5s}"));
        assert_eq!(timeout, Ok(Some(Duration::from_secs(5))));
        assert_eq!(backend_timeout(&rule("timeouts: {request: 0s}")), Ok(None));
    }

    #[test]
    fn grpc_methods_become_paths() {
        let rule: GrpcRouteRules = serde_yaml_ng::from_str(
            r#"
matches:
- method: {service: shop.Cart, method: Add}
- method: {service: shop.Cart}
- method: {method: Add}
- method: {type: RegularExpression, service: "shop\\..*"}
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let paths: Vec<(PathKind, String)> = grpc_rule_matches(&rule)
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.path.kind, m.path.path))
            .collect();
        assert_eq!(
            paths,
            [
                (PathKind::Exact, "/shop.Cart/Add".to_string()),
                (PathKind::Prefix, "/shop.Cart".to_string()),
                (PathKind::Regex, "/[^/]+/Add".to_string()),
                (PathKind::Regex, "/(?:shop\\..*)/(?:[^/]+)".to_string()),
            ]
        );
    }

    #[test]
    fn one_bad_regular_expression_makes_the_rule_invalid() {
        let found = rule_matches(&rule(
            r#"
matches:
- path: {type: PathPrefix, value: /ok}
- path: {type: RegularExpression, value: "/(unclosed"}
"#,
        ));
        assert!(found.is_err(), "{found:?}");
    }
}
