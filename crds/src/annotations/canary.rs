//! Canary Ingresses (`canary: "true"` and `canary-*`), as ingress-nginx reads them. A canary
//! Ingress claims no rule of its own: each of its rules that another (primary) Ingress of
//! the class serves with the same host, path and path type sends some of that rule's
//! requests to the canary's backend. Which, per request, in this order:
//!
//! 1. `canary-by-header`: with `canary-by-header-value`, that exact value goes to the canary;
//!    else with `canary-by-header-pattern`, a value the expression matches does; else
//!    `always` does and `never` goes to the primary. Any other value decides nothing.
//! 2. `canary-by-cookie`: `always` to the canary, `never` to the primary.
//! 3. `canary-weight` out of `canary-weight-total` (100 unless set higher), at random.
//!
//! Nothing else of a canary Ingress applies (its other annotations, its default backend), as
//! in ingress-nginx.

use regex::{Regex, RegexBuilder};
use serde::Serialize;

/// What a canary Ingress asks for.
#[derive(Clone, Debug, Serialize)]
pub struct Canary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_str")]
    pub header_pattern: Option<Regex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_cookie: Option<String>,
    pub weight: u32,
    pub weight_total: u32,
}

fn as_str<S: serde::Serializer>(r: &Option<Regex>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_ref().map_or("", |r| r.as_str()))
}

impl PartialEq for Canary {
    fn eq(&self, other: &Self) -> bool {
        self.by_header == other.by_header
            && self.header_value == other.header_value
            && self.header_pattern.as_ref().map(Regex::as_str)
                == other.header_pattern.as_ref().map(Regex::as_str)
            && self.by_cookie == other.by_cookie
            && self.weight == other.weight
            && self.weight_total == other.weight_total
    }
}

impl Eq for Canary {}

impl Default for Canary {
    fn default() -> Self {
        Self {
            by_header: None,
            header_value: None,
            header_pattern: None,
            by_cookie: None,
            weight: 0,
            weight_total: 100,
        }
    }
}

/// A header or cookie name: a token (RFC 9110 §5.6.2).
pub fn parse_name(value: &str) -> Result<String, &'static str> {
    let name = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (!name.is_empty() && name.bytes().all(token))
        .then(|| name.to_string())
        .ok_or("must be a header or cookie name")
}

/// `canary-by-header-pattern`: an expression of the linear-time engine, at most 1 MiB
/// compiled.
pub fn parse_pattern(value: &str) -> Result<Regex, String> {
    RegexBuilder::new(value)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("is not a regular expression Sluice can use: {e}"))
}

impl Canary {
    /// Whether a request goes to the canary: `header` is the value of its `by_header`
    /// header, `cookie` of its `by_cookie` cookie; `roll` draws from 1 to the total.
    pub fn chosen(
        &self,
        header: Option<&str>,
        cookie: Option<&str>,
        roll: impl FnOnce(u32) -> u32,
    ) -> bool {
        if let Some(value) = header.filter(|_| self.by_header.is_some()) {
            if let Some(wanted) = &self.header_value {
                if value == wanted {
                    return true;
                }
            } else if let Some(pattern) = &self.header_pattern {
                if pattern.is_match(value) {
                    return true;
                }
            } else if value == "always" {
                return true;
            } else if value == "never" {
                return false;
            }
        }
        if let Some(value) = cookie.filter(|_| self.by_cookie.is_some()) {
            match value {
                "always" => return true,
                "never" => return false,
                _ => {}
            }
        }
        let total = if self.weight_total > 100 {
            self.weight_total
        } else {
            100
        };
        self.weight > 0 && roll(total) <= self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: u32) -> u32 {
        u32::MAX
    }

    #[test]
    fn header_then_cookie_then_weight() {
        let c = Canary {
            by_header: Some("X-Canary".into()),
            by_cookie: Some("canary".into()),
            weight: 10,
            ..Canary::default()
        };
        assert!(c.chosen(Some("always"), None, never));
        assert!(!c.chosen(Some("never"), Some("always"), |_| 1));
        // Another value decides nothing: the cookie, then the weight, do.
        assert!(c.chosen(Some("maybe"), Some("always"), never));
        assert!(!c.chosen(Some("maybe"), Some("never"), |_| 1));
        assert!(c.chosen(None, None, |_| 10));
        assert!(!c.chosen(None, None, |_| 11));
    }

    #[test]
    fn a_header_value_is_exact_and_a_pattern_matches() {
        let by_value = Canary {
            by_header: Some("X-Canary".into()),
            header_value: Some("DoCanary".into()),
            ..Canary::default()
        };
        assert!(by_value.chosen(Some("DoCanary"), None, never));
        assert!(!by_value.chosen(Some("Docanary"), None, never));
        // With a value set, `always` means nothing special.
        assert!(!by_value.chosen(Some("always"), None, never));
        let by_pattern = Canary {
            by_header: Some("X-Canary".into()),
            header_pattern: Some(parse_pattern("^(beta|qa)$").unwrap()),
            ..Canary::default()
        };
        assert!(by_pattern.chosen(Some("qa"), None, never));
        assert!(!by_pattern.chosen(Some("prod"), None, never));
        assert!(parse_pattern("(?=x)").is_err());
    }

    #[test]
    fn weight_out_of_a_hundred_unless_the_total_is_higher() {
        let half = Canary {
            weight: 100,
            weight_total: 200,
            ..Canary::default()
        };
        assert!(half.chosen(None, None, |total| total / 2));
        assert!(!half.chosen(None, None, |total| total / 2 + 1));
        let low_total = Canary {
            weight: 50,
            weight_total: 60,
            ..Canary::default()
        };
        // A total of 100 or less counts as 100.
        assert!(!low_total.chosen(None, None, |total| total));
        let none = Canary::default();
        assert!(!none.chosen(None, None, |_| 0));
        assert!(parse_name("X-Canary").is_ok() && parse_name("a b").is_err());
    }
}
