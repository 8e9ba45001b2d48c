//! ingress-nginx's regular-expression paths, as Sluice matches them.
//!
//! - A Prefix or ImplementationSpecific path of an Ingress with `use-regex: "true"`, or with
//!   a `rewrite-target` other than the path itself, is a regular expression.
//! - Once one rule of a host is a regular expression, every rule of that host is matched as
//!   one (ingress-nginx turns the whole nginx `server` into `~*` locations), whichever
//!   Ingress wrote it: a regular expression as written, anchored at the start of the path
//!   only (`^` + the path, so `/api/v[0-9]+` matches `/api/v2/users`); a Prefix path as the
//!   literal text it starts with (`/foo` matches `/foobar`, as in ingress-nginx); an Exact
//!   path as exactly its text. (ingress-nginx reads an Exact path there as a prefix too; that
//!   is its bug #10618, not followed.)
//! - All of them case-insensitively.
//! - The first match wins, in the order: longest path text first, then the greater text
//!   byte by byte, then Exact before Prefix before a regular expression of the same text.
//! - The host's and the class's default backends apply when none matches.
//!
//! The engine is the `regex` crate: linear time in the path's length whatever the
//! expression, so no path can make a request slow. Look-around and back-references are not
//! available; an expression that needs them is refused, with the engine's reason.

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};

use super::path::{PathKind, PathMatch};

/// The most memory one compiled expression may take: far more than any path needs, small
/// enough that no Ingress can make the proxy build a huge automaton.
const SIZE_LIMIT: usize = 1 << 20;

/// The expression `path` is matched by on a host with regular expressions.
pub fn pattern(path: &PathMatch) -> String {
    match path.kind {
        PathKind::Regex => format!("(?i)^{}", path.path),
        PathKind::Prefix => format!("(?i)^{}", regex::escape(&path.path)),
        PathKind::Exact => format!("(?i)^{}$", regex::escape(&path.path)),
    }
}

/// Compiles [`pattern`] of `path`, or says why it cannot be used.
pub fn compile(path: &PathMatch) -> Result<Regex, String> {
    RegexBuilder::new(&pattern(path))
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => s.lines().last().unwrap_or_default().trim().to_string(),
            regex::Error::CompiledTooBig(_) => "it compiles to more than 1 MiB".into(),
            other => other.to_string(),
        })
}

/// The order rules are tried in on a host with regular expressions: longest text first,
/// then the greater text (ingress-nginx's location order); for the same text, Exact, then
/// Prefix, then the regular expression.
pub fn order(a: &PathMatch, b: &PathMatch) -> Ordering {
    b.path
        .len()
        .cmp(&a.path.len())
        .then_with(|| b.path.cmp(&a.path))
        .then_with(|| a.kind.cmp(&b.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(p: &str) -> PathMatch {
        PathMatch::parse_with(Some(p), "ImplementationSpecific", true).unwrap()
    }
    fn matches(path: &PathMatch, request: &str) -> bool {
        compile(path).unwrap().is_match(request)
    }

    #[test]
    fn anchored_at_the_start_only_and_case_insensitive() {
        let p = regex("/api/v[0-9]+");
        assert!(matches(&p, "/api/v2"));
        assert!(matches(&p, "/API/V2/users"));
        assert!(!matches(&p, "/x/api/v2"));
        assert!(!matches(&p, "/api/vx"));
        // A `$` written by the user anchors the end.
        assert!(!matches(&regex("/id/[0-9]+$"), "/id/123a"));
        assert!(matches(&regex("/id/[0-9]+"), "/id/123a"));
    }

    #[test]
    fn other_paths_of_a_regex_host_are_literal() {
        let prefix = PathMatch::parse(Some("/foo.bar"), "Prefix").unwrap();
        assert!(matches(&prefix, "/FOO.bar/x"));
        assert!(matches(&prefix, "/foo.barbaz"));
        assert!(!matches(&prefix, "/fooxbar"));
        let exact = PathMatch::parse(Some("/foo"), "Exact").unwrap();
        assert!(matches(&exact, "/Foo"));
        assert!(!matches(&exact, "/foo/"));
    }

    #[test]
    fn longest_text_first_then_the_greater() {
        let mut paths = [
            regex("/foo/bar/bar"),
            regex("/"),
            regex("/foo/bar/[A-Z0-9]{3}"),
            PathMatch::parse(Some("/foo"), "Prefix").unwrap(),
            regex("/foo/bar/aaa"),
        ];
        paths.sort_by(order);
        let texts: Vec<&str> = paths.iter().map(|p| p.path.as_str()).collect();
        // ingress-nginx's documented warning: the 20-byte expression wins over /foo/bar/bar.
        assert_eq!(
            texts,
            [
                "/foo/bar/[A-Z0-9]{3}",
                "/foo/bar/bar",
                "/foo/bar/aaa",
                "/foo",
                "/"
            ]
        );
    }

    #[test]
    fn expressions_the_engine_cannot_run_are_refused_saying_why() {
        let lookahead = PathMatch::parse_with(Some("/(?!admin)"), "Prefix", true).unwrap_err();
        assert!(
            lookahead
                .to_string()
                .starts_with("path \"/(?!admin)\" is not a regular expression Sluice can use: "),
            "{lookahead}"
        );
        assert!(PathMatch::parse_with(Some("/a(b"), "Prefix", true).is_err());
        let huge = PathMatch::parse_with(Some("/(\\w{100}){100}"), "Prefix", true).unwrap_err();
        assert!(
            huge.to_string().ends_with("it compiles to more than 1 MiB"),
            "{huge}"
        );
        // Exact paths stay exact, regex or not.
        assert_eq!(
            PathMatch::parse_with(Some("/a(b"), "Exact", true)
                .unwrap()
                .kind,
            PathKind::Exact
        );
    }
}
