//! Ingress paths: what a rule's `path` + `pathType` claims and which requests it matches.
//!
//! - `Exact`: the request path equals the rule's path, byte for byte (case-sensitive; a
//!   trailing slash counts).
//! - `Prefix`: the rule's path, split into `/`-separated elements, is an element-wise
//!   prefix of the request path's elements. A trailing slash on either side is ignored;
//!   `/aaa/bb` does not match `/aaa/bbb`.
//! - `ImplementationSpecific`: in Sluice, exactly `Prefix`. It is normalised to `Prefix`
//!   before anything else looks at it, so `/api` ImplementationSpecific and `/api` Prefix
//!   are the same rule for routing and for conflicts.
//! - A Prefix or ImplementationSpecific path of an Ingress with ingress-nginx's `use-regex`
//!   (or a `rewrite-target`) is a regular expression ([`PathKind::Regex`]); how a host with
//!   such paths matches is [`super::regex`]'s.

use std::fmt;

/// The behaviours a path can have once `ImplementationSpecific` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum PathKind {
    Exact,
    Prefix,
    /// A regular expression, matched from the start of the request path, case-insensitively.
    Regex,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exact => "Exact",
            Self::Prefix => "Prefix",
            Self::Regex => "regex",
        })
    }
}

/// What a path rule claims, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PathMatch {
    pub kind: PathKind,
    /// For `Exact` and `Regex`, the path as written. For `Prefix`, `/` followed by its
    /// non-empty elements joined with `/` (`/foo/` → `/foo`, `//a//b` → `/a/b`).
    pub path: String,
}

/// Why a path rule is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("pathType {0:?} is not one of Exact, Prefix, ImplementationSpecific")]
    UnknownType(String),
    #[error("path {path:?} of type {kind} must start with '/'")]
    NotAbsolute { path: String, kind: &'static str },
    #[error("path {path:?} of type {kind} must not contain {bad:?}")]
    Forbidden {
        path: String,
        kind: &'static str,
        bad: &'static str,
    },
    #[error("path {path:?} is not a regular expression Sluice can use: {reason}")]
    Regex { path: String, reason: String },
}

/// Sequences the API server refuses in Exact and Prefix paths; Sluice refuses them in
/// manifests too so the two sources accept the same objects.
const FORBIDDEN: [&str; 5] = ["//", "/./", "/../", "%2f", "%2F"];
const FORBIDDEN_SUFFIXES: [&str; 2] = ["/..", "/."];

impl PathMatch {
    /// Parses a rule's path and pathType as a regular expression when `regex` (the
    /// Ingress's `use-regex`) and the type is not Exact; as [`PathMatch::parse`] otherwise.
    pub fn parse_with(path: Option<&str>, path_type: &str, regex: bool) -> Result<Self, PathError> {
        let parsed = Self::parse(path, path_type)?;
        if !regex || parsed.kind == PathKind::Exact {
            return Ok(parsed);
        }
        let raw = path.filter(|p| !p.is_empty()).unwrap_or("/");
        let parsed = Self {
            kind: PathKind::Regex,
            path: raw.to_string(),
        };
        super::regex::compile(&parsed).map_err(|reason| PathError::Regex {
            path: raw.to_string(),
            reason,
        })?;
        Ok(parsed)
    }

    /// Parses a rule's path and pathType. An ImplementationSpecific rule without a path
    /// claims every path, like `/` Prefix.
    pub fn parse(path: Option<&str>, path_type: &str) -> Result<Self, PathError> {
        let (kind, type_name) = match path_type {
            "Exact" => (PathKind::Exact, "Exact"),
            "Prefix" => (PathKind::Prefix, "Prefix"),
            "ImplementationSpecific" => (PathKind::Prefix, "ImplementationSpecific"),
            other => return Err(PathError::UnknownType(other.to_string())),
        };
        let raw = match path {
            Some(p) if !p.is_empty() => p,
            _ if type_name == "ImplementationSpecific" => "/",
            _ => "",
        };
        if !raw.starts_with('/') {
            return Err(PathError::NotAbsolute {
                path: raw.to_string(),
                kind: type_name,
            });
        }
        for bad in FORBIDDEN {
            if raw.contains(bad) {
                return Err(PathError::Forbidden {
                    path: raw.to_string(),
                    kind: type_name,
                    bad,
                });
            }
        }
        for bad in FORBIDDEN_SUFFIXES {
            if raw.ends_with(bad) {
                return Err(PathError::Forbidden {
                    path: raw.to_string(),
                    kind: type_name,
                    bad,
                });
            }
        }
        let path = match kind {
            PathKind::Exact | PathKind::Regex => raw.to_string(),
            PathKind::Prefix => {
                let mut normalised = String::with_capacity(raw.len());
                for element in elements(raw) {
                    normalised.push('/');
                    normalised.push_str(element);
                }
                if normalised.is_empty() {
                    normalised.push('/');
                }
                normalised
            }
        };
        Ok(Self { kind, path })
    }

    /// Whether a request for `request_path` (without its query) matches, on a host without
    /// regular expressions (a `Regex` path: as on a host with them).
    pub fn matches(&self, request_path: &str) -> bool {
        match self.kind {
            PathKind::Exact => self.path == request_path,
            PathKind::Regex => super::regex::compile(self).is_ok_and(|r| r.is_match(request_path)),
            PathKind::Prefix => {
                let mut request = elements(request_path);
                elements(&self.path).all(|rule| request.next() == Some(rule))
            }
        }
    }

    /// The number of path elements: the longer of two matching prefixes wins.
    pub fn depth(&self) -> usize {
        elements(&self.path).count()
    }
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.kind)
    }
}

/// The non-empty `/`-separated elements of a path.
pub fn elements(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> PathMatch {
        PathMatch::parse(Some(p), "Prefix").unwrap()
    }
    fn exact(p: &str) -> PathMatch {
        PathMatch::parse(Some(p), "Exact").unwrap()
    }

    // Every single-rule row of the Kubernetes documentation's path-matching table.
    #[test]
    fn documentation_examples() {
        assert!(prefix("/").matches("/anything/at/all"));
        assert!(prefix("/").matches("/"));
        assert!(exact("/foo").matches("/foo"));
        assert!(!exact("/foo").matches("/bar"));
        assert!(!exact("/foo").matches("/foo/"));
        assert!(!exact("/foo/").matches("/foo"));
        assert!(prefix("/foo").matches("/foo"));
        assert!(prefix("/foo").matches("/foo/"));
        assert!(prefix("/foo/").matches("/foo"));
        assert!(prefix("/foo/").matches("/foo/"));
        assert!(!prefix("/aaa/bb").matches("/aaa/bbb"));
        assert!(prefix("/aaa/bbb").matches("/aaa/bbb"));
        assert!(prefix("/aaa/bbb/").matches("/aaa/bbb"));
        assert!(prefix("/aaa/bbb").matches("/aaa/bbb/"));
        assert!(prefix("/aaa/bbb").matches("/aaa/bbb/ccc"));
        assert!(!prefix("/aaa/bbb").matches("/aaa/bbbxyz"));
        assert!(!prefix("/aaa").matches("/ccc"));
    }

    #[test]
    fn exact_is_case_sensitive_and_prefix_too() {
        assert!(!exact("/Foo").matches("/foo"));
        assert!(!prefix("/Foo").matches("/foo/bar"));
    }

    #[test]
    fn prefix_paths_are_normalised() {
        assert_eq!(prefix("/foo/").path, "/foo");
        assert_eq!(prefix("/").path, "/");
        assert_eq!(prefix("/a/b/").depth(), 2);
        assert_eq!(prefix("/").depth(), 0);
        assert_eq!(exact("/foo/").path, "/foo/");
    }

    #[test]
    fn implementation_specific_is_prefix() {
        let is = PathMatch::parse(Some("/api"), "ImplementationSpecific").unwrap();
        assert_eq!(is, prefix("/api"));
        assert_eq!(
            PathMatch::parse(None, "ImplementationSpecific").unwrap(),
            prefix("/")
        );
    }

    #[test]
    fn rejects_what_the_api_server_rejects() {
        assert_eq!(
            PathMatch::parse(Some("api"), "Prefix"),
            Err(PathError::NotAbsolute {
                path: "api".into(),
                kind: "Prefix"
            })
        );
        assert!(PathMatch::parse(None, "Exact").is_err());
        assert!(PathMatch::parse(Some("/a//b"), "Prefix").is_err());
        assert!(PathMatch::parse(Some("/a/../b"), "Exact").is_err());
        assert!(PathMatch::parse(Some("/a%2Fb"), "Prefix").is_err());
        assert!(PathMatch::parse(Some("/a/.."), "Prefix").is_err());
        assert!(PathMatch::parse(Some("/a"), "Regex").is_err());
    }
}
