//! The migration report: what Sluice does with each annotation of an ingress-nginx Ingress,
//! and whether the Ingress can switch to a Sluice class as it is.
//!
//! Everything is derived from [`super::parse`] and [`nginx::support`], which the admission
//! webhook and the proxy read too, so the report never calls safe what the webhook then
//! refuses. The one thing of its own is [`NOTES`]: where Sluice honours an ingress-nginx
//! annotation but not identically, and which ignored annotations change no answer.
//!
//! The rewrite ([`rewrite`]) keeps the `nginx.ingress.kubernetes.io/` annotations as they
//! are instead of translating them to `sluice.dev/` names: Sluice reads them with the same
//! meaning, and an Ingress that keeps them can go back to ingress-nginx by changing its
//! class alone.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;

use super::nginx::{self, Support};
use super::{AnnotationError, KNOWN, Parsed, parse};
use crate::ingress::{IngressRef, Location, RuleKey, claims};
use crate::names::{ANNOTATION_PREFIX, LEGACY_CLASS_ANNOTATION};

/// What the report adds to [`nginx::support`] for one ingress-nginx annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Note {
    /// Read ([`Support::Same`]), with this difference from ingress-nginx.
    Differs(&'static str),
    /// Ignored ([`Support::Ignored`]), and ignoring it changes no answer a client gets: with
    /// any value (`None`) or with this value only. The text says why.
    NoEffect(Option<&'static str>, &'static str),
}

/// The differences, and the ignored annotations that do not matter, by the name after
/// [`nginx::PREFIX`]. docs/annotations.md documents the same differences for people.
const NOTES: &[(&str, Note)] = &[
    (
        "app-root",
        Note::Differs(
            "the redirect's Location is relative (/app), resolved by the client against the host and port it used; ingress-nginx sends an absolute URL built from the Host header",
        ),
    ),
    (
        "upstream-vhost",
        Note::Differs(
            "only $namespace, $ingress_name, $service_name and $service_port are filled in; a value with another nginx variable is refused",
        ),
    ),
    (
        "permanent-redirect",
        Note::Differs(
            "only $scheme, $host, $request_uri, $uri, $args and $query_string are filled in; a value with another nginx variable is refused",
        ),
    ),
    (
        "temporal-redirect",
        Note::Differs(
            "only $scheme, $host, $request_uri, $uri, $args and $query_string are filled in; a value with another nginx variable is refused",
        ),
    ),
    (
        "use-regex",
        Note::Differs(
            "expressions run in a linear-time engine without look-around or back-references (an expression that needs them is refused), and an Exact path stays exact on a regex host (ingress-nginx reads it as a prefix, its bug #10618)",
        ),
    ),
    (
        "rewrite-target",
        Note::Differs(
            "it makes the paths regular expressions, which run in a linear-time engine without look-around or back-references (an expression that needs them is refused)",
        ),
    ),
    (
        "canary-by-header-pattern",
        Note::Differs(
            "the pattern runs in a linear-time engine without look-around or back-references (a pattern that needs them is refused)",
        ),
    ),
    (
        "cors-allow-origin",
        Note::Differs(
            "an origin that does not parse is refused, not skipped; with a list of origins Sluice adds Vary: Origin",
        ),
    ),
    (
        "cors-allow-methods",
        Note::Differs(
            "a list that does not parse is refused; ingress-nginx silently uses its default instead",
        ),
    ),
    (
        "cors-allow-headers",
        Note::Differs(
            "a list that does not parse is refused; ingress-nginx silently uses its default instead",
        ),
    ),
    (
        "backend-protocol",
        Note::Differs("FCGI is refused: Sluice has no FastCGI"),
    ),
    ("auth-type", Note::Differs("digest is refused; basic only")),
    (
        "auth-url",
        Note::Differs(
            "an https:// auth service's certificate is verified against the system's roots (ingress-nginx does not verify it), and X-Sent-From says sluice",
        ),
    ),
    (
        "auth-secret",
        Note::Differs(
            "the Secret must be in the Ingress's namespace; another namespace's is refused",
        ),
    ),
    (
        "custom-headers",
        Note::Differs(
            "the ConfigMap must be in the Ingress's namespace; the names the class allows (spec.allowedResponseHeaders) replace global-allowed-response-headers",
        ),
    ),
    (
        "custom-http-errors",
        Note::Differs("needs default-backend: Sluice has no controller-wide error backend"),
    ),
    (
        "affinity-mode",
        Note::Differs(
            "both modes behave as persistent: a client keeps its endpoint while it exists",
        ),
    ),
    (
        "ssl-passthrough",
        Note::NoEffect(
            Some("false"),
            "ingress-nginx too terminates TLS when it is false",
        ),
    ),
    (
        "enable-access-log",
        Note::NoEffect(
            None,
            "it changes logging, not answers; Sluice's access log is set in the class's IngressClassParams",
        ),
    ),
    (
        "enable-opentelemetry",
        Note::NoEffect(
            None,
            "it changes tracing, not answers; Sluice's tracing is set on its command line",
        ),
    ),
    (
        "opentelemetry-trust-incoming-span",
        Note::NoEffect(
            None,
            "it changes tracing, not answers; Sluice's tracing is set on its command line",
        ),
    ),
];

pub(super) fn note(key: &str) -> Option<Note> {
    let name = key.strip_prefix(nginx::PREFIX)?;
    NOTES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, note)| *note)
}

/// What Sluice does with one annotation of an Ingress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    /// Read, with ingress-nginx's meaning.
    Honoured,
    /// Read, with this difference from ingress-nginx.
    HonouredWithDifference(String),
    /// Not read, and that changes nothing: not an ingress controller's annotation, or one
    /// that does not change answers. Why.
    NoEffect(String),
    /// Ignored, though ingress-nginx acted on it: the Ingress behaves differently. Why.
    Unsupported(String),
    /// Access control or a snippet Sluice cannot enforce: the webhook refuses the Ingress.
    Refused(String),
    /// A value Sluice cannot read: the webhook refuses the Ingress.
    Invalid(String),
}

/// One annotation and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnnotationReport {
    pub key: String,
    pub value: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Whether an Ingress can switch to a Sluice class as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Safety {
    /// Sluice serves it as ingress-nginx did, up to the documented differences.
    Safe,
    /// Sluice admits it, but ignores something ingress-nginx acted on.
    WithCare,
    /// Sluice's webhook refuses it.
    Unsafe,
}

impl fmt::Display for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Safety::Safe => "safe to switch",
            Safety::WithCare => "switch with care",
            Safety::Unsafe => "not safe to switch",
        })
    }
}

/// The verdict on a whole Ingress, and why: what the webhook refuses first, then what
/// Sluice ignores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub safety: Safety,
    pub reasons: Vec<String>,
}

/// The report on one Ingress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngressReport {
    pub namespace: String,
    pub name: String,
    pub annotations: Vec<AnnotationReport>,
    /// What else the webhook refuses: paths Sluice cannot read, rules another Ingress of
    /// the report claims too.
    pub problems: Vec<String>,
    pub verdict: Switch,
}

/// The verdict on each annotation of `annotations`, in key order.
pub fn annotations(annotations: &BTreeMap<String, String>) -> Vec<AnnotationReport> {
    annotations_parsed(annotations, &parse(Some(annotations)))
}

fn annotations_parsed(
    annotations: &BTreeMap<String, String>,
    parsed: &Parsed,
) -> Vec<AnnotationReport> {
    annotations
        .iter()
        .map(|(key, value)| AnnotationReport {
            key: key.clone(),
            value: value.clone(),
            verdict: verdict(annotations, parsed, key, value),
        })
        .collect()
}

fn verdict(all: &BTreeMap<String, String>, parsed: &Parsed, key: &str, value: &str) -> Verdict {
    let support = nginx::support(key);
    // What the webhook refuses comes first, in its own words.
    if let Some(reasons) = reasons_for(&parsed.unenforced, key) {
        return match support {
            Some(Support::AccessControl | Support::Snippet(_)) => Verdict::Refused(reasons),
            // An access list that does not parse is refused too, but it is a bad value.
            _ => Verdict::Invalid(reasons),
        };
    }
    if let Some(reasons) = reasons_for(&parsed.errors, key) {
        return Verdict::Invalid(reasons);
    }
    let warning = || {
        let start = format!("annotation {key} ");
        parsed
            .warnings
            .iter()
            .find(|w| w.starts_with(&start))
            .cloned()
    };
    if KNOWN.contains(&key) {
        return Verdict::Honoured;
    }
    match support {
        Some(Support::Same(ours)) => same(all, key, value, ours),
        Some(Support::Ignored(_)) => match note(key) {
            Some(Note::NoEffect(when, why)) if when.is_none_or(|w| value.trim() == w) => {
                Verdict::NoEffect(why.to_string())
            }
            _ => Verdict::Unsupported(warning().unwrap_or_else(|| {
                format!("annotation {key} is not implemented by Sluice and is ignored")
            })),
        },
        // `parse` reports these as unenforced; should that ever change, still refuse.
        Some(Support::AccessControl | Support::Snippet(_)) => {
            Verdict::Refused("Sluice cannot enforce it".into())
        }
        None if key.starts_with(ANNOTATION_PREFIX) => Verdict::Unsupported(
            warning().unwrap_or_else(|| format!("annotation {key} is not a Sluice annotation")),
        ),
        None if key == LEGACY_CLASS_ANNOTATION => Verdict::NoEffect(
            "it names the Ingress's class; the rewritten Ingress names Sluice's in spec.ingressClassName instead".into(),
        ),
        None if warning().is_some() => Verdict::NoEffect(
            "it belongs to another ingress controller, which ingress-nginx ignored too".into(),
        ),
        None => Verdict::NoEffect(
            "not an ingress controller's annotation; neither ingress-nginx nor Sluice reads it"
                .into(),
        ),
    }
}

/// An ingress-nginx annotation that Sluice reads as its own annotation `ours`.
fn same(all: &BTreeMap<String, String>, key: &str, value: &str, ours: &'static str) -> Verdict {
    let differs = |other: &str| other.trim() != value.trim();
    if let Some(theirs) = all.get(ours) {
        return match differs(theirs) {
            true => Verdict::Unsupported(format!(
                "overridden by {ours}, which Sluice reads instead; ingress-nginx read this one, and the values differ"
            )),
            false => Verdict::NoEffect(format!("overridden by {ours}, which has the same value")),
        };
    }
    // An older name (`whitelist-source-range`) beside the newer one: neither reads it.
    if let Some(newer) = nginx::newer_name(key).filter(|newer| all.contains_key(newer)) {
        return Verdict::NoEffect(format!(
            "overridden by {newer}, which Sluice reads instead, as ingress-nginx does"
        ));
    }
    match note(key) {
        Some(Note::Differs(text)) => Verdict::HonouredWithDifference(text.to_string()),
        _ => Verdict::Honoured,
    }
}

/// The webhook's messages about `key`, joined; `None` if it has none.
fn reasons_for(errors: &[AnnotationError], key: &str) -> Option<String> {
    let messages: Vec<String> = errors
        .iter()
        .filter(|e| e.key == key)
        .map(ToString::to_string)
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// The report on one Ingress by itself: its annotations and its paths.
pub fn report(ingress: &Ingress) -> IngressReport {
    let empty = BTreeMap::new();
    let all = ingress.metadata.annotations.as_ref().unwrap_or(&empty);
    let parsed = parse(Some(all));
    let annotations = annotations_parsed(all, &parsed);
    // Every refusal of the webhook's is in the verdict, even one about no annotation the
    // Ingress has (none is, today), so that the two can never disagree.
    let mut problems: Vec<String> = parsed
        .errors
        .iter()
        .chain(&parsed.unenforced)
        .filter(|e| !all.contains_key(&e.key))
        .map(ToString::to_string)
        .collect();
    let (_, errors) = claims(ingress);
    problems.extend(errors.iter().map(ToString::to_string));
    finish(ingress, annotations, problems)
}

/// The reports on Ingresses that are to move to one Sluice class together: each by
/// itself, plus the rules two of them claim. ingress-nginx merges those; in a Sluice class
/// the webhook lets only one Ingress claim a rule, so it refuses whichever comes second.
pub fn report_all(ingresses: &[Ingress]) -> Vec<IngressReport> {
    let mut reports: Vec<IngressReport> = ingresses.iter().map(report).collect();
    for (index, conflict) in conflicts(ingresses) {
        reports[index].problems.push(conflict);
    }
    for (report, ingress) in reports.iter_mut().zip(ingresses) {
        let annotations = std::mem::take(&mut report.annotations);
        let problems = std::mem::take(&mut report.problems);
        *report = finish(ingress, annotations, problems);
    }
    reports
}

/// The claims that lose to another of `ingresses`, as (index, why). The Ingress that wins a
/// rule is the one the webhook would keep if both were there: the oldest.
fn conflicts(ingresses: &[Ingress]) -> Vec<(usize, String)> {
    let mut order: Vec<(IngressRef, usize)> = ingresses
        .iter()
        .enumerate()
        .map(|(i, ingress)| (IngressRef::of(ingress), i))
        .collect();
    order.sort();
    let mut holders: HashMap<RuleKey, (&IngressRef, Location)> = HashMap::new();
    let mut found = Vec::new();
    for (this, index) in &order {
        let (claims, _) = claims(&ingresses[*index]);
        for claim in claims {
            let at = claim.location;
            match holders.get(&claim.key) {
                Some((holder, first)) if *holder == this => found.push((
                    *index,
                    format!("{at}: {} is claimed twice in this Ingress (also at {first})", claim.key),
                )),
                Some((holder, _)) => found.push((
                    *index,
                    format!(
                        "{at}: {} is claimed by Ingress {holder} too; ingress-nginx merged them, but Sluice's webhook refuses the second of two Ingresses of a class that claim the same host, path and pathType",
                        claim.key
                    ),
                )),
                None => {
                    holders.insert(claim.key, (this, at));
                }
            }
        }
    }
    found
}

/// The verdict on an Ingress from what was found: unsafe for anything the webhook
/// refuses, with care for anything Sluice ignores that ingress-nginx acted on.
fn finish(
    ingress: &Ingress,
    annotations: Vec<AnnotationReport>,
    problems: Vec<String>,
) -> IngressReport {
    let mut reasons: Vec<String> = Vec::new();
    let mut care: Vec<String> = Vec::new();
    for a in &annotations {
        match &a.verdict {
            Verdict::Refused(why) | Verdict::Invalid(why) => reasons.push(why.clone()),
            Verdict::Unsupported(why) => care.push(match why.starts_with("annotation ") {
                true => why.clone(),
                false => format!("annotation {}: {why}", a.key),
            }),
            _ => {}
        }
    }
    reasons.extend(problems.iter().cloned());
    let safety = match (reasons.is_empty(), care.is_empty()) {
        (false, _) => Safety::Unsafe,
        (true, false) => Safety::WithCare,
        (true, true) => Safety::Safe,
    };
    reasons.extend(care);
    IngressReport {
        namespace: ingress.metadata.namespace.clone().unwrap_or_default(),
        name: ingress.metadata.name.clone().unwrap_or_default(),
        annotations,
        problems,
        verdict: Switch { safety, reasons },
    }
}

/// `ingress` rewritten for the Sluice class `class`: `spec.ingressClassName` set, the legacy
/// class annotation dropped, and what the API server fills in (uid, resourceVersion,
/// status, ...) left out, so that the result can be applied. `name_suffix` (may be empty)
/// is added to the name, for a copy that runs beside the original. Every other annotation
/// stays, ingress-nginx's included: Sluice reads them.
pub fn rewrite(ingress: &Ingress, class: &str, name_suffix: &str) -> Ingress {
    let mut out = ingress.clone();
    let meta = &mut out.metadata;
    if let Some(name) = &mut meta.name {
        name.push_str(name_suffix);
    }
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.generation = None;
    meta.managed_fields = None;
    meta.self_link = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.remove(LEGACY_CLASS_ANNOTATION);
        // It records the old class; kubectl writes a fresh one when the rewrite is applied.
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
    out.spec
        .get_or_insert_with(Default::default)
        .ingress_class_name = Some(class.to_string());
    out.status = None;
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::map;
    use super::*;
    use serde_json::json;

    fn verdicts(pairs: &[(&str, &str)]) -> Vec<(String, Verdict)> {
        annotations(&map(pairs))
            .into_iter()
            .map(|a| (a.key, a.verdict))
            .collect()
    }

    fn verdict_of(pairs: &[(&str, &str)], key: &str) -> Verdict {
        verdicts(pairs)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap()
    }

    const N: &str = "nginx.ingress.kubernetes.io/";

    fn ingress(name: &str, created: &str, annotations: &[(&str, &str)], path: &str) -> Ingress {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {
                "name": name, "namespace": "shop", "uid": "1234", "resourceVersion": "7",
                "creationTimestamp": created,
                "annotations": map(annotations),
            },
            "spec": {
                "ingressClassName": "nginx",
                "rules": [{ "host": "app.example.com", "http": { "paths": [
                    { "path": path, "pathType": "ImplementationSpecific",
                      "backend": { "service": { "name": "svc", "port": { "number": 80 } } } }
                ]}}]
            },
            "status": { "loadBalancer": { "ingress": [{ "ip": "10.0.0.1" }] } }
        }))
        .unwrap()
    }

    #[test]
    fn annotations_read_as_sluice_s_are_honoured_some_with_a_difference() {
        let v = verdicts(&[
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("nginx.ingress.kubernetes.io/app-root", "/app"),
            ("sluice.dev/read-timeout", "5s"),
        ]);
        // In key order: app-root, then ssl-redirect.
        assert!(
            matches!(&v[0].1, Verdict::HonouredWithDifference(t) if t.contains("relative")),
            "{v:?}"
        );
        assert_eq!(v[1].1, Verdict::Honoured);
        assert_eq!(v[2].1, Verdict::Honoured);
    }

    /// The first annotation of ingress-nginx's table with a support `want` accepts: the
    /// table grows as Sluice does, so the tests pick from it instead of naming one.
    fn any_with(want: impl Fn(Support) -> bool) -> Option<String> {
        nginx::table().find(|(_, s)| want(*s)).map(|(key, _)| key)
    }

    #[test]
    fn snippets_and_access_control_are_refused_in_the_webhook_s_words() {
        let snippet = "nginx.ingress.kubernetes.io/configuration-snippet";
        let v = verdict_of(&[(snippet, "deny all;")], snippet);
        assert!(
            matches!(&v, Verdict::Refused(t) if t.contains("snippets never run")),
            "{v:?}"
        );
        if let Some(key) = any_with(|s| s == Support::AccessControl) {
            let v = verdict_of(&[(&key, "on")], &key);
            assert_eq!(
                v,
                Verdict::Refused(format!(
                    "annotation {key}: this access control is not enforced by Sluice yet; the Ingress is refused rather than served without it (got \"on\")"
                ))
            );
        }
    }

    #[test]
    fn values_that_do_not_parse_are_invalid() {
        let v = verdicts(&[
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "2h"),
            (
                "nginx.ingress.kubernetes.io/whitelist-source-range",
                "10.0.0.0/33",
            ),
            ("nginx.ingress.kubernetes.io/canary-weight", "10"),
        ]);
        for (key, verdict) in &v {
            assert!(matches!(verdict, Verdict::Invalid(_)), "{key}: {verdict:?}");
        }
        assert!(matches!(&v[1].1, Verdict::Invalid(t) if t.contains("must lie between")));
        assert!(matches!(&v[0].1, Verdict::Invalid(t) if t.contains("set canary to \"true\" too")));
    }

    #[test]
    fn ignored_annotations_are_unsupported_unless_they_change_nothing() {
        let pairs = [
            ("nginx.ingress.kubernetes.io/proxy-buffering", "on"),
            ("nginx.ingress.kubernetes.io/enable-access-log", "false"),
            ("nginx.ingress.kubernetes.io/ssl-passthrough", "false"),
            ("nginx.ingress.kubernetes.io/ssl-passthrough-typo", "false"),
        ];
        let v = |key: &str| verdict_of(&pairs, &format!("{N}{key}"));
        assert!(
            matches!(v("proxy-buffering"), Verdict::Unsupported(t) if t.starts_with(
                "annotation nginx.ingress.kubernetes.io/proxy-buffering is not implemented by Sluice and is ignored"
            )),
            "{:?}",
            v("proxy-buffering")
        );
        assert!(matches!(v("enable-access-log"), Verdict::NoEffect(_)));
        assert!(matches!(v("ssl-passthrough"), Verdict::NoEffect(_)));
        assert!(matches!(v("ssl-passthrough-typo"), Verdict::Unsupported(_)));
        // Only the value that changes nothing has no effect.
        let on = "nginx.ingress.kubernetes.io/ssl-passthrough";
        assert!(matches!(
            verdict_of(&[(on, "true")], on),
            Verdict::Unsupported(_)
        ));
        // The webhook's advice comes along.
        if let Some(key) = any_with(|s| matches!(s, Support::Ignored(a) if !a.is_empty())) {
            let Some(Support::Ignored(advice)) = nginx::support(&key) else {
                unreachable!()
            };
            let v = verdict_of(&[(&key, "x")], &key);
            assert!(
                matches!(&v, Verdict::Unsupported(t) if t.ends_with(advice)),
                "{v:?}"
            );
        }
    }

    #[test]
    fn other_annotations_have_no_effect_but_unknown_sluice_ones_are_unsupported() {
        let v = verdicts(&[
            ("cert-manager.io/cluster-issuer", "letsencrypt"),
            ("kubernetes.io/ingress.class", "nginx"),
            ("sluice.dev/rewrite", "/"),
            ("traefik.ingress.kubernetes.io/router.priority", "1"),
        ]);
        assert!(matches!(&v[0].1, Verdict::NoEffect(_)));
        assert!(matches!(&v[1].1, Verdict::NoEffect(t) if t.contains("ingressClassName")));
        assert!(
            matches!(&v[2].1, Verdict::Unsupported(t) if t.contains("not a Sluice annotation"))
        );
        assert!(
            matches!(&v[3].1, Verdict::NoEffect(t) if t.contains("another ingress controller"))
        );
    }

    #[test]
    fn an_overridden_annotation_matters_only_when_its_value_differs() {
        let key = "nginx.ingress.kubernetes.io/ssl-redirect";
        let same = verdict_of(&[(key, "false"), ("sluice.dev/ssl-redirect", "false")], key);
        assert!(matches!(same, Verdict::NoEffect(_)), "{same:?}");
        let other = verdict_of(&[(key, "true"), ("sluice.dev/ssl-redirect", "false")], key);
        assert!(matches!(other, Verdict::Unsupported(t) if t.contains("overridden")));
    }

    #[test]
    fn of_two_names_for_one_setting_the_newer_is_read_as_in_ingress_nginx() {
        let allow = "nginx.ingress.kubernetes.io/allowlist-source-range";
        let white = "nginx.ingress.kubernetes.io/whitelist-source-range";
        let pairs = [(allow, "10.0.0.0/8"), (white, "192.168.0.0/16")];
        // The newer name wins, as in ingress-nginx, whatever the order of the keys.
        assert!(matches!(verdict_of(&pairs, allow), Verdict::Honoured));
        assert!(
            matches!(verdict_of(&pairs, white), Verdict::NoEffect(t) if t.contains("overridden by"))
        );
        let read = parse(Some(&map(&pairs))).settings.allow_from.unwrap();
        assert!(read.contains("10.1.1.1".parse().unwrap()));
        assert!(!read.contains("192.168.1.1".parse().unwrap()));
        let limits = [
            ("nginx.ingress.kubernetes.io/limit-rps", "5"),
            ("nginx.ingress.kubernetes.io/limit-allowlist", "10.0.0.0/8"),
            (
                "nginx.ingress.kubernetes.io/limit-whitelist",
                "192.168.0.0/16",
            ),
        ];
        let limit = parse(Some(&map(&limits))).settings.rate_limit.unwrap();
        assert!(format!("{limit:?}").contains("10.0.0.0"), "{limit:?}");
    }

    #[test]
    fn the_verdict_is_unsafe_for_what_the_webhook_refuses_careful_for_what_sluice_ignores() {
        let safe = report(&ingress(
            "a",
            "2025-01-01T00:00:00Z",
            &[(&format!("{N}ssl-redirect"), "false")],
            "/",
        ));
        assert_eq!(
            safe.verdict,
            Switch {
                safety: Safety::Safe,
                reasons: vec![]
            }
        );

        let care = report(&ingress(
            "b",
            "2025-01-01T00:00:00Z",
            &[(&format!("{N}proxy-buffering"), "on")],
            "/",
        ));
        assert_eq!(care.verdict.safety, Safety::WithCare);
        assert_eq!(care.verdict.reasons.len(), 1);
        assert!(care.verdict.reasons[0].contains("proxy-buffering is not implemented"));

        let refused = report(&ingress(
            "c",
            "2025-01-01T00:00:00Z",
            &[
                (&format!("{N}server-snippet"), "return 403;"),
                (&format!("{N}proxy-buffering"), "on"),
            ],
            "/",
        ));
        assert_eq!(refused.verdict.safety, Safety::Unsafe);
        // What makes it unsafe comes first.
        assert!(refused.verdict.reasons[0].contains("server-snippet"));
        assert_eq!(refused.verdict.reasons.len(), 2);
    }

    #[test]
    fn a_path_sluice_cannot_read_is_unsafe() {
        let r = report(&ingress(
            "a",
            "2025-01-01T00:00:00Z",
            &[(&format!("{N}use-regex"), "true")],
            "/api/(?!admin)",
        ));
        assert_eq!(r.verdict.safety, Safety::Unsafe);
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].contains("look-around"), "{:?}", r.problems);
    }

    #[test]
    fn two_ingresses_that_claim_one_rule_conflict_the_younger_loses() {
        let old = ingress("old", "2024-01-01T00:00:00Z", &[], "/api");
        let young = ingress("a-young", "2025-01-01T00:00:00Z", &[], "/api");
        let canary = ingress(
            "canary",
            "2025-01-01T00:00:00Z",
            &[(&format!("{N}canary"), "true")],
            "/api",
        );
        let reports = report_all(&[young, old, canary]);
        assert_eq!(reports[0].verdict.safety, Safety::Unsafe);
        assert!(
            reports[0].problems[0].contains("claimed by Ingress shop/old too"),
            "{:?}",
            reports[0].problems
        );
        assert_eq!(reports[1].verdict.safety, Safety::Safe);
        // A canary claims no rule of its own.
        assert_eq!(reports[2].verdict.safety, Safety::Safe);
    }

    #[test]
    fn the_rewrite_names_sluice_s_class_and_keeps_ingress_nginx_s_annotations() {
        let mut original = ingress(
            "app",
            "2025-01-01T00:00:00Z",
            &[
                (&format!("{N}app-root"), "/app"),
                (LEGACY_CLASS_ANNOTATION, "nginx"),
            ],
            "/",
        );
        original.spec.as_mut().unwrap().ingress_class_name = None;
        let out = rewrite(&original, "sluice", "-sluice");
        assert_eq!(out.metadata.name.as_deref(), Some("app-sluice"));
        assert_eq!(
            out.spec.as_ref().unwrap().ingress_class_name.as_deref(),
            Some("sluice")
        );
        assert_eq!(
            out.metadata.annotations,
            Some(map(&[(&format!("{N}app-root"), "/app")]))
        );
        assert!(out.metadata.uid.is_none() && out.metadata.resource_version.is_none());
        assert!(out.metadata.creation_timestamp.is_none() && out.status.is_none());
        assert_eq!(
            out.spec.as_ref().unwrap().rules,
            original.spec.as_ref().unwrap().rules
        );
        assert_eq!(crate::ingress::requested_class(&out), Some("sluice"));
    }

    #[test]
    fn unsafe_exactly_when_the_webhook_refuses_the_annotations() {
        // Every annotation Sluice knows of, alone and with a neighbour, with values that
        // parse for some and not for others.
        let keys: Vec<String> = nginx::table()
            .map(|(k, _)| k)
            .chain(KNOWN.iter().map(|k| k.to_string()))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            let neighbour = &keys[(i + 1) % keys.len()];
            for value in ["true", "10", "/app", "10.0.0.0/8", "", "junk $host"] {
                for pairs in [
                    vec![(key.as_str(), value)],
                    vec![(key.as_str(), value), (neighbour.as_str(), "5")],
                ] {
                    let all = map(&pairs);
                    let parsed = parse(Some(&all));
                    let refused = !parsed.errors.is_empty() || !parsed.unenforced.is_empty();
                    let mut ingress = ingress("a", "2025-01-01T00:00:00Z", &[], "/");
                    ingress.metadata.annotations = Some(all);
                    let r = report(&ingress);
                    assert_eq!(
                        r.verdict.safety == Safety::Unsafe,
                        refused,
                        "{pairs:?}: {r:?} {parsed:?}"
                    );
                    // And in the webhook's words.
                    for e in parsed.errors.iter().chain(&parsed.unenforced) {
                        assert!(
                            r.verdict.reasons.iter().any(|w| w.contains(&e.to_string())),
                            "{e}: {r:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn notes_match_the_table() {
        for (name, note) in NOTES {
            let support = nginx::support(&format!("{}{name}", nginx::PREFIX));
            match note {
                Note::Differs(_) => assert!(matches!(support, Some(Support::Same(_))), "{name}"),
                Note::NoEffect(..) => {
                    assert!(matches!(support, Some(Support::Ignored(_))), "{name}")
                }
            }
        }
        let mut names: Vec<&str> = NOTES.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len);
    }

    #[test]
    fn the_json_form_names_each_verdict() {
        let a = &annotations(&map(&[
            ("nginx.ingress.kubernetes.io/proxy-buffering", "on"),
            ("nginx.ingress.kubernetes.io/use-regex", "true"),
        ]));
        let value = serde_json::to_value(a).unwrap();
        assert_eq!(value[0]["verdict"], "unsupported");
        assert!(
            value[0]["reason"]
                .as_str()
                .unwrap()
                .contains("proxy-buffering")
        );
        assert_eq!(value[1]["verdict"], "honoured_with_difference");
        let honoured =
            serde_json::to_value(annotations(&map(&[("sluice.dev/use-regex", "true")]))).unwrap();
        assert_eq!(
            honoured,
            json!([{ "key": "sluice.dev/use-regex", "value": "true", "verdict": "honoured" }])
        );
    }
}
