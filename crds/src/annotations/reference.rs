//! The reference table of ingress-nginx's annotations in docs/annotations.md: what Sluice
//! does with each, and how it differs, rendered from the one table the webhook, the proxy
//! and the migration report read ([`super::nginx`], with [`super::migration`]'s notes).

use super::migration::{Note, note};
use super::nginx::{self, Support};

/// Where the table sits in docs/annotations.md.
pub const START: &str =
    "<!-- ingress-nginx annotations table: generated, see crds/src/annotations/reference.rs -->";
pub const END: &str = "<!-- end of the generated table -->";

/// The table, in Markdown, one row per annotation ingress-nginx documents that Sluice
/// reads, refuses or has advice about, then one for all others.
pub fn markdown_table() -> String {
    let mut rows = vec![
        "| ingress-nginx annotation | Sluice | Difference from ingress-nginx |".to_string(),
        "| --- | --- | --- |".to_string(),
    ];
    for (key, support) in nginx::table() {
        let name = key.trim_start_matches(nginx::PREFIX);
        let (status, difference) = match (support, note(&key)) {
            (Support::Same(ours), Some(Note::Differs(text))) => {
                (format!("honoured, as `{ours}`"), text.to_string())
            }
            (Support::Same(ours), _) => (format!("honoured, as `{ours}`"), "none".to_string()),
            (Support::AccessControl, _) => (
                "refused: access control Sluice does not enforce".to_string(),
                "the webhook refuses the Ingress; its rules answer 503 if it gets in".to_string(),
            ),
            (Support::Snippet(instead), _) => (
                "refused: nginx configuration is never run".to_string(),
                instead.to_string(),
            ),
            (Support::Ignored(_), Some(Note::NoEffect(_, why))) => (
                "ignored, with a warning".to_string(),
                format!("changes no answer: {why}"),
            ),
            (Support::Ignored(advice), _) => (
                "ignored, with a warning".to_string(),
                if advice.is_empty() {
                    "not implemented".to_string()
                } else {
                    advice.to_string()
                },
            ),
        };
        rows.push(format!("| `{name}` | {status} | {difference} |"));
    }
    rows.push("| any other | ignored, with a warning | not implemented |".to_string());
    rows.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/annotations.md holds the table as rendered here. To update it after a change
    /// to the table or the notes: `SLUICE_WRITE_DOCS=1 cargo test -p sluice-crds reference`.
    #[test]
    fn the_docs_hold_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/annotations.md");
        let docs = std::fs::read_to_string(path).expect("docs/annotations.md");
        let (before, rest) = docs.split_once(START).expect("the table's start marker");
        let (current, after) = rest.split_once(END).expect("the table's end marker");
        let wanted = format!("\n\n{}\n", markdown_table());
        if current == wanted {
            return;
        }
        if std::env::var_os("SLUICE_WRITE_DOCS").is_some() {
            std::fs::write(path, format!("{before}{START}{wanted}{END}{after}"))
                .expect("writing docs/annotations.md");
            return;
        }
        panic!(
            "docs/annotations.md's table of ingress-nginx annotations is out of date; run SLUICE_WRITE_DOCS=1 cargo test -p sluice-crds reference"
        );
    }
}
