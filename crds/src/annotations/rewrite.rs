//! `rewrite-target`: the path the backend gets instead of the client's, with the numbered
//! groups (`$1` to `$9`) the rule's path captured. As in ingress-nginx, the whole path is
//! replaced (keep a part by capturing it: `/app(/|$)(.*)` with `/$2`), the query string
//! follows unchanged, and the rule's path becomes a regular expression.
//!
//! The target is text and group numbers only: letters, digits, `-._~/:` and `$1`–`$9`
//! (ingress-nginx's own validation; it has no `?`, so no query). Nothing else is evaluated.

use regex::Captures;
use serde::Serialize;

/// A parsed `rewrite-target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// As written, to tell a target equal to the rule's path (no rewrite, as in ingress-nginx).
    pub text: String,
    #[serde(skip)]
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Group(usize),
}

const MESSAGE: &str =
    "must be a path of letters, digits, -._~/: and the groups $1 to $9 the path captured";

impl Rewrite {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let text = value.trim();
        if text.is_empty() {
            return Err(MESSAGE);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '$' => {
                    let group = chars
                        .next()
                        .and_then(|d| d.to_digit(10))
                        .filter(|&d| d > 0)
                        .ok_or(MESSAGE)?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Group(group as usize));
                }
                c if c.is_ascii_alphanumeric() || "-._~/:".contains(c) => literal.push(c),
                _ => return Err(MESSAGE),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self {
            text: text.to_string(),
            parts,
        })
    }

    /// The backend's path: the target with the groups filled in (a group that did not take
    /// part is empty), always starting with `/`.
    pub fn expand(&self, groups: &Captures<'_>) -> String {
        let mut path = String::with_capacity(self.text.len() + 16);
        for part in &self.parts {
            match part {
                Part::Text(t) => path.push_str(t),
                Part::Group(n) => path.push_str(groups.get(*n).map_or("", |m| m.as_str())),
            }
        }
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn rewrite(rule: &str, target: &str, path: &str) -> String {
        let rule = Regex::new(&format!("(?i)^{rule}")).unwrap();
        Rewrite::parse(target)
            .unwrap()
            .expand(&rule.captures(path).unwrap())
    }

    // ingress-nginx's documented example (docs/examples/rewrite).
    #[test]
    fn the_documented_example() {
        let rule = "/something(/|$)(.*)";
        assert_eq!(rewrite(rule, "/$2", "/something"), "/");
        assert_eq!(rewrite(rule, "/$2", "/something/"), "/");
        assert_eq!(rewrite(rule, "/$2", "/something/new"), "/new");
    }

    #[test]
    fn replaces_the_whole_path() {
        assert_eq!(rewrite("/something", "/", "/something/deep"), "/");
        assert_eq!(
            rewrite("/foo.+", "/new/backend", "/foo/bar"),
            "/new/backend"
        );
        assert_eq!(
            rewrite("/foo/bar/(.+)", "/new/backend/$1", "/foo/bar/bar"),
            "/new/backend/bar"
        );
        // A group that did not take part is empty; a target without `/` gets one.
        assert_eq!(rewrite("/a(x)?", "b$1", "/a"), "/b");
    }

    #[test]
    fn only_text_and_group_numbers() {
        for bad in [
            "", "/a?b=1", "/$host", "/$0", "/${1}", "/a b", "/a\"b", "/a%20",
        ] {
            assert_eq!(Rewrite::parse(bad), Err(MESSAGE), "{bad:?}");
        }
        assert!(Rewrite::parse("/v1/$1$2:x~y").is_ok());
    }
}
