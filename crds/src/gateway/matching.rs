//! HTTPRoute matches: what one match entry requires of a request ([`RequestConditions`],
//! the path aside), and which of two entries of one hostname is tried first
//! ([`Precedence`]). The proxy routes with it and the webhook and operator report with it,
//! so they can never disagree about which rule a request takes.
//!
//! # What an entry requires
//! Every part that is set must hold (an AND).
//! - Path: a [`PathMatch`] ([`path`]). `Exact` and `PathPrefix` are Ingress's `Exact` and
//!   `Prefix`, which the two APIs word alike: case-sensitive; a prefix matches whole
//!   `/`-separated elements (`/abc` matches `/abc`, `/abc/` and `/abc/def`, not `/abcd`) and
//!   a trailing slash is ignored. `RegularExpression` is a [`PathKind::Regex`] read as this
//!   module says, not as ingress-nginx's: the whole path (without the query) must match,
//!   case-sensitively ([`path_regex`]).
//! - Method: equal, case-sensitive (`GET`).
//! - Headers: names case-insensitive (kept lower case); of several entries naming the same
//!   header only the first counts. Values `Exact` (case-sensitive) or `RegularExpression`.
//!   A header sent more than once is matched as one value, its values in the order received
//!   joined by `,` (`; ` for `cookie`): the spec leaves repeated headers to the
//!   implementation and points to RFC 7230 §3.2.2 ("combine ... by appending each
//!   subsequent field value to the combined field value in order, separated by a comma"),
//!   which is what Envoy's header matcher does. A header the request lacks matches nothing.
//! - Query params: names case-sensitive; of several entries naming the same param only the
//!   first counts. A param repeated in the request is matched by its first value (the spec
//!   leaves it open and recommends the first). The query is read as
//!   `application/x-www-form-urlencoded`: pairs split at `&` (empty ones skipped), name and
//!   value at the first `=` (none: an empty value), `+` is a space and `%XX` a byte (a `%`
//!   not followed by two hex digits stays as written), in names and values alike, so a
//!   route writes values decoded (`a b` matches `q=a+b` and `q=a%20b`). Envoy's router
//!   compares the undecoded text instead. Only the requests of a route with query-param
//!   entries are parsed, and only as far as needed.
//!
//! Regular expressions are the `regex` crate's (linear time whatever the input, no
//! look-around or back-references) and must match the whole value: `^(?:expr)$`.
//!
//! # Precedence
//! Within one hostname, the first entry in [`Precedence`] order that matches a request
//! takes it, by the HTTPRoute spec's order:
//! 1. an `Exact` path;
//! 2. a `RegularExpression` path (the spec leaves their place to the implementation:
//!    Sluice puts them where Envoy Gateway does, after every `Exact` path and before every
//!    `PathPrefix`, the longer expression first). An expression is written to pick out
//!    particular paths and a prefix to take a whole subtree, so `/users/[0-9]+` wins over
//!    `/users`; the price is that a catch-all expression (`/.*`) wins over every prefix;
//! 3. a `PathPrefix` path, the one with the most characters first (as written: `/abc/`
//!    before `/abc`, though they match the same requests);
//! 4. a method;
//! 5. the most header entries, then the most query-param entries (those that count, after
//!    duplicate names are dropped);
//! 6. the oldest route (a route without a creation timestamp counts as the newest), then
//!    `{namespace}/{name}` in alphabetical order, then the rule's index in the route, then
//!    the entry's index in the rule.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use regex::{Regex, RegexBuilder, bytes};
use serde::ser::SerializeStruct;

use crate::ingress::path::PathError;
use crate::ingress::{PathKind, PathMatch};

/// The most memory one compiled expression may take: far more than any match needs, small
/// enough that no route can make the proxy build a huge automaton.
const SIZE_LIMIT: usize = 1 << 20;

/// Why a match entry cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("method {0:?} is not an HTTP method")]
    Method(String),
    #[error("header name {0:?} is not an HTTP header name")]
    HeaderName(String),
    #[error("a query param name must not be empty")]
    EmptyQueryParamName,
    #[error("{what} {name:?}: {value:?} is not a regular expression Sluice can use: {reason}")]
    Regex {
        what: &'static str,
        name: String,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Path(#[from] PathError),
}

// ------------------------------------------------------------------------------ requests

/// What matching reads of a request. The proxy's two HTTP paths each give theirs; nothing
/// is read unless an entry needs it.
pub trait RequestFacts {
    /// The method as sent.
    fn method(&self) -> &str;
    /// The values of header `name` (lower case) in the order received; none when absent.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]>;
    /// The query as sent, without `?`.
    fn query(&self) -> Option<&str>;
}

/// A request spelled out, for tests and for callers with no request at hand (a `GET`
/// without headers or query by default).
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub query: Option<&'a str>,
}

impl Default for RequestParts<'_> {
    fn default() -> Self {
        Self {
            method: "GET",
            headers: &[],
            query: None,
        }
    }
}

impl RequestFacts for RequestParts<'_> {
    fn method(&self) -> &str {
        self.method
    }

    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }

    fn query(&self) -> Option<&str> {
        self.query
    }
}

// ------------------------------------------------------------------------------ entries

/// How a header or query-param value is compared (the Gateway API default is `Exact`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchType {
    #[default]
    Exact,
    RegularExpression,
}

/// A header or query-param entry as a route writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedMatch<'a> {
    pub name: &'a str,
    pub kind: MatchType,
    pub value: &'a str,
}

/// A value compared exactly or by a whole-value expression.
#[derive(Clone, Debug)]
pub enum ValueMatch {
    Exact(String),
    RegularExpression { source: String, regex: bytes::Regex },
}

impl PartialEq for ValueMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (
                Self::RegularExpression { source: a, .. },
                Self::RegularExpression { source: b, .. },
            ) => a == b,
            _ => false,
        }
    }
}

impl ValueMatch {
    fn parse(what: &'static str, entry: &NamedMatch<'_>) -> Result<Self, MatchError> {
        match entry.kind {
            MatchType::Exact => Ok(Self::Exact(entry.value.to_string())),
            MatchType::RegularExpression => bytes::RegexBuilder::new(&whole(entry.value))
                .size_limit(SIZE_LIMIT)
                .build()
                .map(|regex| Self::RegularExpression {
                    source: entry.value.to_string(),
                    regex,
                })
                .map_err(|e| MatchError::Regex {
                    what,
                    name: entry.name.to_string(),
                    value: entry.value.to_string(),
                    reason: reason(e),
                }),
        }
    }

    pub fn matches(&self, value: &[u8]) -> bool {
        match self {
            Self::Exact(exact) => exact.as_bytes() == value,
            Self::RegularExpression { regex, .. } => regex.is_match(value),
        }
    }
}

/// One header or query-param entry, ready to match.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldMatch {
    /// Lower case for a header; as written for a query param.
    pub name: String,
    pub value: ValueMatch,
}

// `/routes` shows `{"name": ..., "exact": ...}` or `{"name": ..., "regex": ...}`.
impl serde::Serialize for FieldMatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("FieldMatch", 2)?;
        out.serialize_field("name", &self.name)?;
        match &self.value {
            ValueMatch::Exact(v) => out.serialize_field("exact", v)?,
            ValueMatch::RegularExpression { source, .. } => out.serialize_field("regex", source)?,
        }
        out.end()
    }
}

/// What a match entry requires of a request besides its path; empty: nothing.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RequestConditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<FieldMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<FieldMatch>,
}

impl RequestConditions {
    /// From an entry's method, headers and query params as written. Entries naming a
    /// header or param already named are dropped, as the spec says.
    pub fn parse<'a>(
        method: Option<&str>,
        headers: impl IntoIterator<Item = NamedMatch<'a>>,
        query_params: impl IntoIterator<Item = NamedMatch<'a>>,
    ) -> Result<Self, MatchError> {
        let method = match method {
            Some(m) if is_token(m) => Some(m.to_string()),
            Some(m) => return Err(MatchError::Method(m.to_string())),
            None => None,
        };
        let mut parsed = Self {
            method,
            ..Self::default()
        };
        for entry in headers {
            if !is_token(entry.name) {
                return Err(MatchError::HeaderName(entry.name.to_string()));
            }
            let name = entry.name.to_ascii_lowercase();
            if parsed.headers.iter().all(|h| h.name != name) {
                let value = ValueMatch::parse("header", &entry)?;
                parsed.headers.push(FieldMatch { name, value });
            }
        }
        for entry in query_params {
            if entry.name.is_empty() {
                return Err(MatchError::EmptyQueryParamName);
            }
            if parsed.query_params.iter().all(|q| q.name != entry.name) {
                let value = ValueMatch::parse("query param", &entry)?;
                parsed.query_params.push(FieldMatch {
                    name: entry.name.to_string(),
                    value,
                });
            }
        }
        Ok(parsed)
    }

    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.headers.is_empty() && self.query_params.is_empty()
    }

    /// What the entry weighs in [`Precedence`].
    pub fn specificity(&self) -> Specificity {
        Specificity {
            method: self.method.is_some(),
            headers: self.headers.len(),
            query_params: self.query_params.len(),
        }
    }

    /// Whether `request` meets every condition.
    pub fn matches(&self, request: &impl RequestFacts) -> bool {
        self.method.as_deref().is_none_or(|m| m == request.method())
            && self.headers.iter().all(|h| {
                header_value(request, &h.name).is_some_and(|value| h.value.matches(&value))
            })
            && (self.query_params.is_empty() || {
                let query = request.query().unwrap_or_default();
                self.query_params.iter().all(|q| {
                    query_value(query, &q.name).is_some_and(|value| q.value.matches(&value))
                })
            })
    }
}

/// The value header `name` (lower case) is matched by: its values joined (see the module
/// documentation); copied only when the header came more than once.
pub fn header_value<'a>(request: &'a impl RequestFacts, name: &'a str) -> Option<Cow<'a, [u8]>> {
    let mut values = request.header_values(name);
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first));
    };
    let separator: &[u8] = if name == "cookie" { b"; " } else { b"," };
    let mut joined = first.to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.extend_from_slice(separator);
        joined.extend_from_slice(value);
    }
    Some(Cow::Owned(joined))
}

/// The decoded value of the first param named `name` in `query` (without `?`); copied only
/// when it has something to decode.
pub fn query_value<'q>(query: &'q str, name: &str) -> Option<Cow<'q, [u8]>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (*form_decode(n) == *name.as_bytes()).then(|| form_decode(v))
        })
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is a space,
/// `%XX` a byte; a `%` without two hex digits after it is kept.
fn form_decode(raw: &str) -> Cow<'_, [u8]> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw.as_bytes());
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'+' => out.push(b' '),
            b'%' => match tail {
                [hi, lo, after @ ..] => match (hex(*hi), hex(*lo)) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        rest = after;
                    }
                    _ => out.push(b'%'),
                },
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// An HTTP token (RFC 9110 §5.6.2): what a method and a header name are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// ------------------------------------------------------------------------------ paths

/// The type of a match entry's path, as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathType {
    Exact,
    #[default]
    PathPrefix,
    RegularExpression,
}

/// A match entry's path; absent, the Gateway API default (`PathPrefix` `/`). Exact and
/// prefix paths are checked as the API server checks them (Ingress's rules, which the
/// Gateway API shares); an expression must compile.
pub fn path(kind: PathType, value: Option<&str>) -> Result<PathMatch, MatchError> {
    let value = value.unwrap_or("/");
    match kind {
        PathType::Exact => Ok(PathMatch::parse(Some(value), "Exact")?),
        PathType::PathPrefix => Ok(PathMatch::parse(Some(value), "Prefix")?),
        PathType::RegularExpression => {
            let path = PathMatch {
                kind: PathKind::Regex,
                path: value.to_string(),
            };
            path_regex(&path).map_err(|reason| {
                MatchError::Path(PathError::Regex {
                    path: value.to_string(),
                    reason,
                })
            })?;
            Ok(path)
        }
    }
}

/// The expression a `RegularExpression` path is matched by: the whole path,
/// case-sensitively.
pub fn path_pattern(path: &PathMatch) -> String {
    whole(&path.path)
}

/// Compiles [`path_pattern`], or says why it cannot be used.
pub fn path_regex(path: &PathMatch) -> Result<Regex, String> {
    RegexBuilder::new(&path_pattern(path))
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(reason)
}

/// Whether a request for `request_path` (without its query) matches `path`, read as a
/// Gateway API path.
pub fn path_matches(path: &PathMatch, request_path: &str) -> bool {
    match path.kind {
        PathKind::Regex => path_regex(path).is_ok_and(|r| r.is_match(request_path)),
        PathKind::Exact | PathKind::Prefix => path.matches(request_path),
    }
}

fn whole(expr: &str) -> String {
    format!("^(?:{expr})$")
}

fn reason(e: regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s.lines().last().unwrap_or_default().trim().to_string(),
        regex::Error::CompiledTooBig(_) => "it compiles to more than 1 MiB".into(),
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------------------ precedence

/// The path part of [`Precedence`]: Exact, then expressions, then prefixes; the longer
/// first within a kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathRank {
    Exact,
    RegularExpression(Reverse<usize>),
    PathPrefix(Reverse<usize>),
}

impl PathRank {
    /// The rank of a path of `kind` whose value is `written` as in the route (characters
    /// count as written, before a prefix is normalised).
    pub fn new(kind: PathKind, written: &str) -> Self {
        let chars = Reverse(written.chars().count());
        match kind {
            PathKind::Exact => Self::Exact,
            PathKind::Regex => Self::RegularExpression(chars),
            PathKind::Prefix => Self::PathPrefix(chars),
        }
    }
}

/// What an entry's conditions weigh in [`Precedence`]: a method, and how many header and
/// query-param entries count ([`RequestConditions::specificity`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Specificity {
    pub method: bool,
    pub headers: usize,
    pub query_params: usize,
}

/// Where an entry was written: its route and its place in it.
#[derive(Clone, Copy, Debug)]
pub struct MatchSource<'a> {
    pub created: Option<&'a Time>,
    pub namespace: &'a str,
    pub name: &'a str,
    pub rule: usize,
    pub match_index: usize,
}

/// The order entries of one hostname are tried in: sort them, the least first (see the
/// module documentation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    path: PathRank,
    method: Reverse<bool>,
    headers: Reverse<usize>,
    query_params: Reverse<usize>,
    age: Age,
    /// `{namespace}/{name}`, compared as that text (`a-b/x` comes before `a/y`); shared by
    /// the entries of one route.
    route: Arc<str>,
    rule: usize,
    match_index: usize,
}

/// A creation timestamp; none counts as the newest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Age {
    Created(Time),
    Unknown,
}

impl Precedence {
    pub fn new(path: PathRank, specificity: Specificity, source: &MatchSource<'_>) -> Self {
        let route = Self::route_of(source.namespace, source.name);
        Self::of_route(path, specificity, source, &route)
    }

    /// The `route` of [`Precedence::new`] for a route's entries: `{namespace}/{name}`.
    pub fn route_of(namespace: &str, name: &str) -> Arc<str> {
        Arc::from(format!("{namespace}/{name}"))
    }

    /// [`Precedence::new`], with `route` made once for all the entries of `source`'s route
    /// by [`Precedence::route_of`] (rather than once per entry).
    pub fn of_route(
        path: PathRank,
        specificity: Specificity,
        source: &MatchSource<'_>,
        route: &Arc<str>,
    ) -> Self {
        debug_assert!(
            route.len() == source.namespace.len() + 1 + source.name.len()
                && route.starts_with(source.namespace)
                && route.ends_with(source.name),
            "{route} is not {}/{}",
            source.namespace,
            source.name
        );
        Self {
            path,
            method: Reverse(specificity.method),
            headers: Reverse(specificity.headers),
            query_params: Reverse(specificity.query_params),
            age: source.created.cloned().map_or(Age::Unknown, Age::Created),
            route: route.clone(),
            rule: source.rule,
            match_index: source.match_index,
        }
    }

    /// `{namespace}/{name}` of the entry's route.
    pub fn route(&self) -> &str {
        &self.route
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact<'a>(name: &'a str, value: &'a str) -> NamedMatch<'a> {
        NamedMatch {
            name,
            kind: MatchType::Exact,
            value,
        }
    }
    fn regex<'a>(name: &'a str, value: &'a str) -> NamedMatch<'a> {
        NamedMatch {
            name,
            kind: MatchType::RegularExpression,
            value,
        }
    }
    fn headers(entries: &[NamedMatch<'_>]) -> RequestConditions {
        RequestConditions::parse(None, entries.iter().copied(), []).unwrap()
    }
    fn query(entries: &[NamedMatch<'_>]) -> RequestConditions {
        RequestConditions::parse(None, [], entries.iter().copied()).unwrap()
    }
    fn with_headers<'a>(headers: &'a [(&'a str, &'a str)]) -> RequestParts<'a> {
        RequestParts {
            headers,
            ..RequestParts::default()
        }
    }
    fn with_query(query: &str) -> RequestParts<'_> {
        RequestParts {
            query: Some(query),
            ..RequestParts::default()
        }
    }

    #[test]
    fn no_conditions_match_every_request() {
        let none = RequestConditions::parse(None, [], []).unwrap();
        assert!(none.is_empty());
        assert!(none.matches(&RequestParts::default()));
        assert_eq!(none.specificity(), Specificity::default());
    }

    #[test]
    fn the_method_is_compared_exactly() {
        let get = RequestConditions::parse(Some("GET"), [], []).unwrap();
        assert!(get.matches(&RequestParts::default()));
        let post = RequestParts {
            method: "POST",
            ..RequestParts::default()
        };
        assert!(!get.matches(&post));
        let lower = RequestParts {
            method: "get",
            ..RequestParts::default()
        };
        assert!(!get.matches(&lower));
        assert_eq!(
            RequestConditions::parse(Some("GE T"), [], []),
            Err(MatchError::Method("GE T".into()))
        );
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_exact() {
        let c = headers(&[exact("X-Env", "Canary")]);
        assert_eq!(c.headers[0].name, "x-env");
        assert!(c.matches(&with_headers(&[("x-ENV", "Canary")])));
        assert!(!c.matches(&with_headers(&[("x-env", "canary")])));
        assert!(!c.matches(&with_headers(&[("x-env", "Canary2")])));
        assert!(!c.matches(&with_headers(&[("x-other", "Canary")])));
        assert!(!c.matches(&RequestParts::default()), "an absent header");
        assert!(matches!(
            RequestConditions::parse(None, [exact("bad name", "x")], []),
            Err(MatchError::HeaderName(_))
        ));
    }

    #[test]
    fn only_the_first_entry_of_a_header_name_counts() {
        let c = headers(&[exact("x-env", "a"), exact("X-Env", "b"), exact("x-v", "1")]);
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.specificity().headers, 2);
        assert!(c.matches(&with_headers(&[("x-env", "a"), ("x-v", "1")])));
        assert!(!c.matches(&with_headers(&[("x-env", "b"), ("x-v", "1")])));
    }

    #[test]
    fn header_expressions_match_the_whole_value() {
        let c = headers(&[regex("x-version", "v[0-9]+")]);
        assert!(c.matches(&with_headers(&[("x-version", "v12")])));
        assert!(!c.matches(&with_headers(&[("x-version", "v12-beta")])));
        assert!(!c.matches(&with_headers(&[("x-version", "xv12")])));
        // An alternation is anchored as a whole.
        let c = headers(&[regex("x-a", "a|b")]);
        assert!(!c.matches(&with_headers(&[("x-a", "ab")])));
        assert!(c.matches(&with_headers(&[("x-a", "b")])));
    }

    #[test]
    fn a_repeated_header_is_matched_as_its_values_joined_by_commas() {
        let two = [("x-tag", "a"), ("accept", "*/*"), ("X-Tag", "b")];
        assert!(headers(&[exact("x-tag", "a,b")]).matches(&with_headers(&two)));
        assert!(!headers(&[exact("x-tag", "a")]).matches(&with_headers(&two)));
        assert!(!headers(&[exact("x-tag", "b")]).matches(&with_headers(&two)));
        assert!(headers(&[regex("x-tag", "a,.*")]).matches(&with_headers(&two)));
        // Cookie crumbs (HTTP/2 may split them) are joined as one Cookie header.
        let cookies = [("cookie", "a=1"), ("cookie", "b=2")];
        assert!(headers(&[exact("cookie", "a=1; b=2")]).matches(&with_headers(&cookies)));
    }

    #[test]
    fn query_params_are_exact_case_sensitive_and_decoded() {
        let c = query(&[exact("animal", "whale")]);
        assert!(c.matches(&with_query("animal=whale")));
        assert!(c.matches(&with_query("animal=whale&otherparam=irrelevant")));
        assert!(c.matches(&with_query("x=1&&animal=whale")));
        assert!(!c.matches(&with_query("ANIMAL=whale")));
        assert!(!c.matches(&with_query("animal=Whale")));
        assert!(!c.matches(&with_query("animal=whaledolphin")));
        assert!(!c.matches(&RequestParts::default()));
        let spaced = query(&[exact("q", "a b&c")]);
        assert!(spaced.matches(&with_query("q=a+b%26c")));
        assert!(spaced.matches(&with_query("%71=a%20b%26c")));
        assert!(!spaced.matches(&with_query("q=a b&c")));
        // A bad escape is kept as written; a name without `=` has an empty value.
        assert!(query(&[exact("p", "100%")]).matches(&with_query("p=100%")));
        assert!(query(&[exact("p", "%zz")]).matches(&with_query("p=%zz")));
        assert!(query(&[exact("flag", "")]).matches(&with_query("flag")));
        assert!(matches!(
            RequestConditions::parse(None, [], [exact("", "x")]),
            Err(MatchError::EmptyQueryParamName)
        ));
    }

    #[test]
    fn a_repeated_query_param_is_matched_by_its_first_value() {
        let c = query(&[exact("a", "1")]);
        assert!(c.matches(&with_query("a=1&a=2")));
        assert!(!c.matches(&with_query("a=2&a=1")));
    }

    #[test]
    fn only_the_first_entry_of_a_query_param_name_counts() {
        let c = query(&[exact("a", "1"), exact("a", "2"), exact("A", "3")]);
        assert_eq!(c.specificity().query_params, 2, "names are case-sensitive");
        assert!(c.matches(&with_query("a=1&A=3")));
        assert!(!c.matches(&with_query("a=2&A=3")));
    }

    #[test]
    fn query_expressions_match_the_whole_decoded_value() {
        let c = query(&[regex("id", "[0-9]+")]);
        assert!(c.matches(&with_query("id=42")));
        assert!(!c.matches(&with_query("id=42x")));
        assert!(query(&[regex("q", "a b")]).matches(&with_query("q=a%20b")));
    }

    #[test]
    fn every_condition_must_hold() {
        let c = RequestConditions::parse(
            Some("POST"),
            [exact("x-env", "canary")],
            [exact("debug", "1")],
        )
        .unwrap();
        let all = RequestParts {
            method: "POST",
            headers: &[("x-env", "canary")],
            query: Some("debug=1"),
        };
        assert!(c.matches(&all));
        assert!(!c.matches(&RequestParts {
            method: "GET",
            ..all
        }));
        assert!(!c.matches(&RequestParts {
            headers: &[],
            ..all
        }));
        assert!(!c.matches(&RequestParts { query: None, ..all }));
        assert_eq!(
            c.specificity(),
            Specificity {
                method: true,
                headers: 1,
                query_params: 1
            }
        );
    }

    #[test]
    fn bad_expressions_are_errors_that_say_why() {
        let err = RequestConditions::parse(None, [regex("x-a", "(")], []).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("header \"x-a\": \"(\" is not a regular expression Sluice can use: "),
            "{err}"
        );
        let err = RequestConditions::parse(None, [], [regex("q", "(?=a)")]).unwrap_err();
        assert!(err.to_string().starts_with("query param \"q\""), "{err}");
        let huge = RequestConditions::parse(None, [regex("x", "(\\w{100}){100}")], []);
        assert!(
            huge.unwrap_err()
                .to_string()
                .ends_with("it compiles to more than 1 MiB"),
            "too big"
        );
        assert!(path(PathType::RegularExpression, Some("/a(")).is_err());
    }

    #[test]
    fn conditions_serialize_readably() {
        let c = RequestConditions::parse(
            Some("GET"),
            [exact("X-Env", "canary")],
            [regex("id", "[0-9]+")],
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "method": "GET",
                "headers": [{ "name": "x-env", "exact": "canary" }],
                "query_params": [{ "name": "id", "regex": "[0-9]+" }],
            })
        );
        assert_eq!(
            serde_json::to_value(RequestConditions::default()).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn paths_read_as_the_gateway_api_says() {
        let prefix = path(PathType::PathPrefix, Some("/abc/")).unwrap();
        assert_eq!(prefix.path, "/abc");
        for yes in ["/abc", "/abc/", "/abc/def"] {
            assert!(path_matches(&prefix, yes), "{yes}");
        }
        assert!(!path_matches(&prefix, "/abcd"));
        assert!(!path_matches(&prefix, "/ABC"));
        assert_eq!(path(PathType::PathPrefix, None).unwrap().path, "/");
        let exact = path(PathType::Exact, Some("/abc")).unwrap();
        assert!(path_matches(&exact, "/abc"));
        assert!(!path_matches(&exact, "/abc/"));
        let re = path(PathType::RegularExpression, Some("/users/[0-9]+")).unwrap();
        assert_eq!(re.kind, PathKind::Regex);
        assert!(path_matches(&re, "/users/42"));
        assert!(!path_matches(&re, "/users/42/edit"), "the whole path");
        assert!(!path_matches(&re, "/Users/42"), "case-sensitive");
        assert!(path(PathType::Exact, Some("abc")).is_err());
        assert!(path(PathType::PathPrefix, Some("/a//b")).is_err());
    }

    fn source(name: &str) -> MatchSource<'_> {
        MatchSource {
            created: None,
            namespace: "ns",
            name,
            rule: 0,
            match_index: 0,
        }
    }
    fn key(path: PathRank, specificity: Specificity) -> Precedence {
        Precedence::new(path, specificity, &source("r"))
    }
    fn prefix(p: &str) -> PathRank {
        PathRank::new(PathKind::Prefix, p)
    }
    const PLAIN: Specificity = Specificity {
        method: false,
        headers: 0,
        query_params: 0,
    };

    #[test]
    fn exact_then_expressions_then_the_longest_prefix() {
        let exact = key(PathRank::new(PathKind::Exact, "/a"), PLAIN);
        let short_re = key(PathRank::new(PathKind::Regex, "/.*"), PLAIN);
        let long_re = key(PathRank::new(PathKind::Regex, "/users/[0-9]+"), PLAIN);
        let long = key(prefix("/users/admin"), PLAIN);
        let short = key(prefix("/users"), PLAIN);
        let root = key(prefix("/"), PLAIN);
        let mut all = vec![
            root.clone(),
            short.clone(),
            short_re.clone(),
            long.clone(),
            exact.clone(),
            long_re.clone(),
        ];
        all.sort();
        assert_eq!(all, [exact, long_re, short_re, long, short, root]);
        // Characters as written: the trailing slash counts.
        assert!(key(prefix("/abc/"), PLAIN) < key(prefix("/abc"), PLAIN));
    }

    #[test]
    fn then_method_then_headers_then_query_params() {
        let path = || prefix("/api");
        let method = key(
            path(),
            Specificity {
                method: true,
                ..PLAIN
            },
        );
        let two_headers = key(
            path(),
            Specificity {
                headers: 2,
                ..PLAIN
            },
        );
        let one_header = key(
            path(),
            Specificity {
                headers: 1,
                query_params: 3,
                ..PLAIN
            },
        );
        let query = key(
            path(),
            Specificity {
                query_params: 1,
                ..PLAIN
            },
        );
        let plain = key(path(), PLAIN);
        assert!(method < two_headers);
        assert!(two_headers < one_header);
        assert!(one_header < query);
        assert!(query < plain);
        // The path comes first: a longer prefix without conditions beats them all.
        assert!(key(prefix("/api/v1"), PLAIN) < method);
    }

    #[test]
    fn then_the_oldest_route_then_its_name_then_rule_and_match_order() {
        let t = |s: &str| Time(s.parse().unwrap());
        let (old, new) = (t("2024-01-01T00:00:00Z"), t("2025-01-01T00:00:00Z"));
        let at = |created, namespace, name, rule, match_index| {
            Precedence::new(
                prefix("/"),
                PLAIN,
                &MatchSource {
                    created,
                    namespace,
                    name,
                    rule,
                    match_index,
                },
            )
        };
        assert!(at(Some(&old), "z", "z", 9, 9) < at(Some(&new), "a", "a", 0, 0));
        assert!(at(Some(&new), "z", "z", 0, 0) < at(None, "a", "a", 0, 0));
        // `{namespace}/{name}` as one text: `-` sorts before `/`.
        assert!(at(None, "a-b", "x", 0, 0) < at(None, "a", "y", 0, 0));
        assert!(at(None, "a", "b", 0, 0) < at(None, "a", "c", 0, 0));
        assert!(at(None, "a", "b", 0, 5) < at(None, "a", "b", 1, 0));
        assert!(at(None, "a", "b", 1, 0) < at(None, "a", "b", 1, 1));
        assert_eq!(at(None, "a", "b", 0, 0).route(), "a/b");
    }
}
