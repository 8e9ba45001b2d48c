//! Sluice's own Ingress annotations (`sluice.dev/...`), and the annotations of other
//! controllers that Sluice sees but ignores.
//!
//! | annotation | value | effect |
//! | --- | --- | --- |
//! | `sluice.dev/ssl-redirect` | `true` / `false` | for this Ingress's rules: redirect HTTP to HTTPS (308) when the host has TLS (listed under `spec.tls` of any Ingress of the class); overrides the class setting either way |
//! | `sluice.dev/connect-timeout` | duration (`500ms`, `5s`, `1m`; a bare number is seconds) | upstream connect timeout |
//! | `sluice.dev/read-timeout` | duration | how long to wait for the upstream to send each chunk of the response |
//!
//! Durations lie between 1ms and 1h. Values are parsed, never interpolated into anything.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::names::{ANNOTATION_PREFIX, LEGACY_CLASS_ANNOTATION};

pub const SSL_REDIRECT: &str = "sluice.dev/ssl-redirect";
pub const CONNECT_TIMEOUT: &str = "sluice.dev/connect-timeout";
pub const READ_TIMEOUT: &str = "sluice.dev/read-timeout";

/// Every annotation Sluice understands.
pub const KNOWN: [&str; 3] = [SSL_REDIRECT, CONNECT_TIMEOUT, READ_TIMEOUT];

/// The annotations of an Ingress that can change how Sluice routes it: its own ([`KNOWN`])
/// and the legacy class annotation. A change to any other annotation changes nothing, so
/// the proxy does not recompile for it.
pub fn routing(
    annotations: Option<&BTreeMap<String, String>>,
) -> impl Iterator<Item = (&str, &str)> {
    annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| KNOWN.contains(&k.as_str()) || k.as_str() == LEGACY_CLASS_ANNOTATION)
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Annotation prefixes of other Ingress controllers. Sluice ignores them and says so.
const FOREIGN_PREFIXES: [&str; 7] = [
    "nginx.ingress.kubernetes.io/",
    "nginx.org/",
    "traefik.ingress.kubernetes.io/",
    "haproxy.org/",
    "haproxy.router.openshift.io/",
    "alb.ingress.kubernetes.io/",
    "konghq.com/",
];

/// ingress-nginx annotations with a Sluice equivalent, for the warning's advice.
const NGINX_EQUIVALENTS: [(&str, &str); 4] = [
    ("nginx.ingress.kubernetes.io/ssl-redirect", SSL_REDIRECT),
    (
        "nginx.ingress.kubernetes.io/force-ssl-redirect",
        SSL_REDIRECT,
    ),
    (
        "nginx.ingress.kubernetes.io/proxy-connect-timeout",
        CONNECT_TIMEOUT,
    ),
    (
        "nginx.ingress.kubernetes.io/proxy-read-timeout",
        READ_TIMEOUT,
    ),
];

const MIN_DURATION: Duration = Duration::from_millis(1);
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// The Sluice settings an Ingress asks for. `None`: not set, use the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngressSettings {
    pub ssl_redirect: Option<bool>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
}

/// An annotation of Sluice's with a value it cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: {reason} (got {value:?})")]
pub struct AnnotationError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// What reading an Ingress's annotations found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The valid settings; an invalid value leaves its setting unset.
    pub settings: IngressSettings,
    pub errors: Vec<AnnotationError>,
    /// Unknown `sluice.dev/` keys and other controllers' annotations.
    pub warnings: Vec<String>,
}

/// Reads an Ingress's annotations.
pub fn parse(annotations: Option<&BTreeMap<String, String>>) -> Parsed {
    let mut parsed = Parsed::default();
    let Some(annotations) = annotations else {
        return parsed;
    };
    for (key, value) in annotations {
        let error = |reason: &str| AnnotationError {
            key: key.clone(),
            value: value.clone(),
            reason: reason.to_string(),
        };
        match key.as_str() {
            SSL_REDIRECT => match value.trim() {
                "true" => parsed.settings.ssl_redirect = Some(true),
                "false" => parsed.settings.ssl_redirect = Some(false),
                _ => parsed.errors.push(error("must be \"true\" or \"false\"")),
            },
            CONNECT_TIMEOUT | READ_TIMEOUT => match parse_duration(value) {
                Ok(d) if key == CONNECT_TIMEOUT => parsed.settings.connect_timeout = Some(d),
                Ok(d) => parsed.settings.read_timeout = Some(d),
                Err(reason) => parsed.errors.push(error(reason)),
            },
            k if k.starts_with(ANNOTATION_PREFIX) => parsed.warnings.push(format!(
                "annotation {k} is not a Sluice annotation and is ignored; known: {}",
                KNOWN.join(", ")
            )),
            k if FOREIGN_PREFIXES.iter().any(|p| k.starts_with(p)) => {
                let advice = NGINX_EQUIVALENTS
                    .iter()
                    .find(|(nginx, _)| *nginx == k)
                    .map(|(_, ours)| format!("; use {ours} instead"))
                    .unwrap_or_default();
                parsed.warnings.push(format!(
                    "annotation {k} belongs to another ingress controller; Sluice ignores it{advice}"
                ));
            }
            _ => {}
        }
    }
    parsed
}

/// A duration flag of Sluice's binaries: [`parse_duration`], or `0`/`0s` for none (a
/// shutdown delay, say, where nothing is to be waited for).
pub fn parse_flag_duration(value: &str) -> Result<Duration, String> {
    match value.trim() {
        "0" | "0s" => Ok(Duration::ZERO),
        other => parse_duration(other).map_err(str::to_string),
    }
}

/// `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds (as ingress-nginx takes them).
pub fn parse_duration(value: &str) -> Result<Duration, &'static str> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "must be a whole number with a unit: ms, s, m or h")?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err("must be a whole number with a unit: ms, s, m or h"),
    };
    if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err("must lie between 1ms and 1h");
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_valid_settings() {
        let p = parse(Some(&map(&[
            (SSL_REDIRECT, "false"),
            (CONNECT_TIMEOUT, "250ms"),
            (READ_TIMEOUT, "60"),
        ])));
        assert_eq!(
            p.settings,
            IngressSettings {
                ssl_redirect: Some(false),
                connect_timeout: Some(Duration::from_millis(250)),
                read_timeout: Some(Duration::from_secs(60)),
            }
        );
        assert!(p.errors.is_empty() && p.warnings.is_empty());
    }

    #[test]
    fn invalid_values_are_errors_that_say_why() {
        let p = parse(Some(&map(&[
            (SSL_REDIRECT, "yes"),
            (CONNECT_TIMEOUT, "0s"),
            (READ_TIMEOUT, "5 parsecs"),
        ])));
        assert_eq!(p.settings, IngressSettings::default());
        let messages: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "annotation sluice.dev/connect-timeout: must lie between 1ms and 1h (got \"0s\")",
                "annotation sluice.dev/read-timeout: must be a whole number with a unit: ms, s, m or h (got \"5 parsecs\")",
                "annotation sluice.dev/ssl-redirect: must be \"true\" or \"false\" (got \"yes\")",
            ]
        );
    }

    #[test]
    fn warns_about_unknown_and_foreign_annotations() {
        let p = parse(Some(&map(&[
            ("sluice.dev/rewrite-target", "/"),
            (
                "nginx.ingress.kubernetes.io/configuration-snippet",
                "more_set_headers x",
            ),
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("example.com/owner", "team-a"),
        ])));
        assert!(p.errors.is_empty());
        assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("configuration-snippet") && w.contains("Sluice ignores it"))
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("use sluice.dev/ssl-redirect instead"))
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.starts_with("annotation sluice.dev/rewrite-target"))
        );
    }

    #[test]
    fn routing_annotations_are_ours_and_the_class() {
        let all = map(&[
            (SSL_REDIRECT, "false"),
            (READ_TIMEOUT, "5s"),
            (LEGACY_CLASS_ANNOTATION, "sluice"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("sluice.dev/rewrite-target", "/"),
        ]);
        let keys: Vec<&str> = routing(Some(&all)).map(|(k, _)| k).collect();
        assert_eq!(keys, [LEGACY_CLASS_ANNOTATION, READ_TIMEOUT, SSL_REDIRECT]);
        for key in KNOWN {
            assert_eq!(routing(Some(&map(&[(key, "1s")]))).count(), 1, "{key}");
        }
        assert_eq!(routing(None).count(), 0);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
