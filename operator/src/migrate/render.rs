//! The report written out: text for people, the rewritten Ingresses as YAML, or JSON.

use std::fmt::Write;

use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;
use sluice_crds::annotations::migration::{IngressReport, Safety, Verdict};

/// What the report was about, for its header and summary.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Scope<'a> {
    /// The class read.
    pub class: &'a str,
    /// The Sluice class the Ingresses are rewritten for.
    pub to_class: &'a str,
}

/// How many Ingresses ended with each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub safe: usize,
    pub with_care: usize,
    #[serde(rename = "unsafe")]
    pub unsafe_: usize,
}

impl Summary {
    pub fn of(reports: &[IngressReport]) -> Self {
        let count = |s| reports.iter().filter(|r| r.verdict.safety == s).count();
        Self {
            safe: count(Safety::Safe),
            with_care: count(Safety::WithCare),
            unsafe_: count(Safety::Unsafe),
        }
    }
}

/// `namespace/name`, or the name alone for an Ingress from a file without a namespace.
fn id(report: &IngressReport) -> String {
    match report.namespace.as_str() {
        "" => report.name.clone(),
        ns => format!("{ns}/{}", report.name),
    }
}

fn label(verdict: &Verdict) -> (&'static str, Option<&str>) {
    match verdict {
        Verdict::Honoured => ("honoured", None),
        Verdict::HonouredWithDifference(why) => ("honoured, differs", Some(why)),
        Verdict::NoEffect(why) => ("no effect", Some(why)),
        Verdict::Unsupported(why) => ("unsupported", Some(why)),
        Verdict::Refused(why) => ("refused", Some(why)),
        Verdict::Invalid(why) => ("invalid", Some(why)),
    }
}

/// A value as quoted text, cut short: some annotations hold whole objects.
fn shown(value: &str) -> String {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &value[..cut]),
        None => format!("{value:?}"),
    }
}

const WIDTH: usize = 19;

/// The report for people: each Ingress with its verdict, each annotation with its own
/// (and why), what else the webhook would refuse, then a summary.
pub fn text(reports: &[IngressReport], scope: Scope<'_>) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = writeln!(
            out,
            "Ingress {} (to class {}): {}",
            id(report),
            scope.to_class,
            report.verdict.safety
        );
        for a in &report.annotations {
            let (label, why) = label(&a.verdict);
            let _ = writeln!(out, "  {label:WIDTH$}{}: {}", a.key, shown(&a.value));
            if let Some(why) = why {
                let _ = writeln!(out, "  {:WIDTH$}{why}", "");
            }
        }
        for problem in &report.problems {
            let _ = writeln!(out, "  {:WIDTH$}{problem}", "refused");
        }
        out.push('\n');
    }
    let s = Summary::of(reports);
    match reports.len() {
        0 => {
            let _ = writeln!(out, "No Ingress of class {} found.", scope.class);
        }
        n => {
            let _ = writeln!(
                out,
                "{n} Ingress{} of class {}: {} {}, {} to switch with care, {} {}.",
                if n == 1 { "" } else { "es" },
                scope.class,
                s.safe,
                Safety::Safe,
                s.with_care,
                s.unsafe_,
                Safety::Unsafe,
            );
        }
    }
    out
}

/// The rewritten Ingresses (`rewritten[i]` for `reports[i]`) as one YAML stream, each
/// document after a comment with its verdict and why.
pub fn yaml(
    reports: &[IngressReport],
    rewritten: &[Ingress],
) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for (report, ingress) in reports.iter().zip(rewritten) {
        out.push_str("---\n");
        let _ = writeln!(out, "# {}: {}", id(report), report.verdict.safety);
        for reason in &report.verdict.reasons {
            // A reason quotes annotation values, which may hold line breaks.
            let _ = writeln!(out, "#   {}", reason.replace(['\n', '\r'], " "));
        }
        out.push_str(&serde_yaml_ng::to_string(ingress)?);
    }
    Ok(out)
}

/// The report as data.
pub fn json(reports: &[IngressReport], scope: Scope<'_>) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Report<'a> {
        #[serde(flatten)]
        scope: Scope<'a>,
        ingresses: &'a [IngressReport],
        summary: Summary,
    }
    serde_json::to_string_pretty(&Report {
        scope,
        ingresses: reports,
        summary: Summary::of(reports),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_crds::annotations::migration::{report, rewrite};

    fn ingress(annotations: serde_json::Value) -> Ingress {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": { "name": "app", "namespace": "shop", "annotations": annotations },
            "spec": { "ingressClassName": "nginx", "rules": [{ "host": "app.example.com", "http": { "paths": [
                { "path": "/", "pathType": "Prefix",
                  "backend": { "service": { "name": "svc", "port": { "number": 80 } } } }
            ]}}]}
        }))
        .unwrap()
    }

    const SCOPE: Scope<'static> = Scope {
        class: "nginx",
        to_class: "sluice",
    };

    #[test]
    fn text_gives_each_annotation_its_verdict_and_why() {
        let r = report(&ingress(serde_json::json!({
            "nginx.ingress.kubernetes.io/app-root": "/app",
            "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers \"X: y\";",
        })));
        let out = text(&[r], SCOPE);
        assert!(
            out.starts_with("Ingress shop/app (to class sluice): not safe to switch\n"),
            "{out}"
        );
        assert!(
            out.contains("  honoured, differs  nginx.ingress.kubernetes.io/app-root: \"/app\"\n                     the redirect's Location is relative"),
            "{out}"
        );
        assert!(
            out.contains(
                "  refused            nginx.ingress.kubernetes.io/configuration-snippet: "
            ),
            "{out}"
        );
        assert!(
            out.ends_with("1 Ingress of class nginx: 0 safe to switch, 0 to switch with care, 1 not safe to switch.\n"),
            "{out}"
        );
        assert_eq!(text(&[], SCOPE), "No Ingress of class nginx found.\n");
    }

    #[test]
    fn long_values_are_cut_short() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "x".repeat(100);
        assert_eq!(shown(&long), format!("{:?}...", "x".repeat(60)));
    }

    #[test]
    fn yaml_puts_the_verdict_before_each_rewritten_ingress() {
        let original =
            ingress(serde_json::json!({ "nginx.ingress.kubernetes.io/ssl-passthrough": "true" }));
        let r = report(&original);
        let out = yaml(&[r], &[rewrite(&original, "sluice", "")]).unwrap();
        assert!(
            out.starts_with("---\n# shop/app: switch with care\n#   annotation nginx.ingress.kubernetes.io/ssl-passthrough is not implemented by Sluice and is ignored\napiVersion: networking.k8s.io/v1\n"),
            "{out}"
        );
        let back: Ingress = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(
            back.spec.unwrap().ingress_class_name.as_deref(),
            Some("sluice")
        );
    }

    #[test]
    fn json_carries_the_scope_the_reports_and_a_summary() {
        let r = report(&ingress(serde_json::json!({})));
        let value: serde_json::Value = serde_json::from_str(&json(&[r], SCOPE).unwrap()).unwrap();
        assert_eq!(value["class"], "nginx");
        assert_eq!(value["to_class"], "sluice");
        assert_eq!(value["ingresses"][0]["verdict"]["safety"], "safe");
        assert_eq!(value["summary"]["safe"], 1);
    }
}
