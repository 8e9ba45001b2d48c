//! Paths matched by regular expressions, every rule tried in one order, the first that
//! matches (and whose request conditions the request meets) wins. One pass of a
//! [`RegexSet`] finds every rule that matches; the lowest index is the first in order.
//!
//! Two kinds of hosts have them:
//! - a host with ingress-nginx regular-expression paths: every rule of the host, in the
//!   order [`sluice_crds::ingress::regex`] defines and read as it says
//!   ([`RegexRoutes::ingress`]);
//! - a host with Gateway API `RegularExpression` paths: those paths alone, in
//!   [`Precedence`](sluice_crds::gateway::matching::Precedence) order and read as
//!   [`sluice_crds::gateway::matching`] says ([`RegexRoutes::gateway`]).

use std::sync::Arc;

use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Serialize;
use sluice_crds::annotations::Rewrite;
use sluice_crds::gateway::matching::{RequestFacts, path_pattern};
use sluice_crds::ingress::PathMatch;
use sluice_crds::ingress::regex::{order, pattern};

use super::Route;
use super::candidates::{self, Candidate};

/// The most memory the compiled rules of one host may take.
const SET_SIZE_LIMIT: usize = 64 << 20;

/// The rules of a regex host, in the order they are tried.
#[derive(Debug)]
pub struct RegexRoutes {
    set: RegexSet,
    routes: Vec<(PathMatch, Candidate)>,
}

impl RegexRoutes {
    /// ingress-nginx's: orders `rules` (in the order the Ingresses won them: equal ones
    /// keep it) and compiles them into one set; an error if the set passes
    /// [`SET_SIZE_LIMIT`].
    pub fn ingress(mut rules: Vec<(PathMatch, Candidate)>) -> Result<Self, regex::Error> {
        rules.sort_by(|a, b| order(&a.0, &b.0).then_with(|| candidates::order(&a.1, &b.1)));
        Self::compile(rules, pattern)
    }

    /// The Gateway API's: `RegularExpression` paths in precedence order, each matching
    /// the whole path.
    pub fn gateway(mut rules: Vec<(PathMatch, Candidate)>) -> Result<Self, regex::Error> {
        rules.sort_by(|a, b| candidates::order(&a.1, &b.1));
        Self::compile(rules, path_pattern)
    }

    fn compile(
        rules: Vec<(PathMatch, Candidate)>,
        pattern: fn(&PathMatch) -> String,
    ) -> Result<Self, regex::Error> {
        let set = RegexSetBuilder::new(rules.iter().map(|(path, _)| pattern(path)))
            .size_limit(SET_SIZE_LIMIT)
            .build()?;
        Ok(Self { set, routes: rules })
    }

    /// The first rule in order that matches `path` and admits `request`.
    pub fn lookup(&self, path: &str, request: &impl RequestFacts) -> Option<&Arc<Route>> {
        self.set
            .matches(path)
            .into_iter()
            .filter_map(|i| self.routes.get(i))
            .find(|(_, candidate)| candidate.admits(request))
            .map(|(_, candidate)| candidate.chosen())
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl Serialize for RegexRoutes {
    /// The rules in the order they are tried, for `/routes`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.routes)
    }
}

/// A route's `rewrite-target`: the backend gets another path, made from what the rule's
/// expression captured. The same policy on both request paths.
#[derive(Debug, Serialize)]
pub struct PathRewrite {
    pub to: Arc<Rewrite>,
    /// The rule's own expression, for its groups.
    #[serde(skip)]
    pub rule: Regex,
    /// `X-Forwarded-Prefix`, sent with a rewritten request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_prefix: Option<Arc<str>>,
}

impl PathRewrite {
    /// For the rule `path` with the target `to`; `None` when the rule is not a regular
    /// expression (a target equal to the path: nothing to rewrite, as in ingress-nginx).
    pub fn new(
        path: &PathMatch,
        to: Arc<Rewrite>,
        forwarded_prefix: Option<Arc<str>>,
    ) -> Option<Self> {
        if path.kind != sluice_crds::ingress::PathKind::Regex {
            return None;
        }
        let rule = sluice_crds::ingress::regex::compile(path).ok()?;
        Some(Self {
            to,
            rule,
            forwarded_prefix,
        })
    }

    /// The request target the backend gets for `path` (the client's, undecoded) and
    /// `query` (without `?`, kept as it came). `None` if the rule does not match, which a
    /// routed request's does.
    pub fn target(&self, path: &str, query: Option<&str>) -> Option<String> {
        let groups = self.rule.captures(path)?;
        let mut target = self.to.expand(&groups);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        Some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str, regex: bool) -> PathMatch {
        PathMatch::parse_with(Some(p), "ImplementationSpecific", regex).unwrap()
    }

    #[test]
    fn rewrites_with_the_groups_and_keeps_the_query() {
        let to = Arc::new(Rewrite::parse("/$2").unwrap());
        let r = PathRewrite::new(&path("/something(/|$)(.*)", true), to.clone(), None).unwrap();
        assert_eq!(
            r.target("/something/new", Some("a=1&b")).as_deref(),
            Some("/new?a=1&b")
        );
        assert_eq!(r.target("/SOMETHING", None).as_deref(), Some("/"));
        assert_eq!(r.target("/other", None), None);
        // Not a regular expression: nothing to rewrite.
        assert!(PathRewrite::new(&path("/something", false), to, None).is_none());
    }
}
