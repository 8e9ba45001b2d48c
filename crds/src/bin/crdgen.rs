//! Prints the IngressClassParams CRD: as YAML for `charts/sluice/crds/` (the default), or,
//! with `--markdown`, as the field reference in `docs/reference/`:
//!
//! ```sh
//! cargo run -q -p sluice-crds --bin crdgen > charts/sluice/crds/ingressclassparams.yaml
//! cargo run -q -p sluice-crds --bin crdgen -- --markdown > docs/reference/ingressclassparams.md
//! ```
//!
//! The reference is a walk over the generated CRD's `openAPIV3Schema`: every field of
//! `spec` and `status` with its type, its bounds, enum values and pattern, its description
//! and its CEL rules with their messages. Fields of embedded Kubernetes types (affinity,
//! tolerations, resources, conditions) are listed once, not field by field. A schema
//! keyword the walk does not know is an error, so the reference never leaves a constraint
//! out without saying so.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// The command that regenerates the committed reference.
const MARKDOWN_COMMAND: &str =
    "cargo run -q -p sluice-crds --bin crdgen -- --markdown > docs/reference/ingressclassparams.md";

const USAGE: &str = "usage: crdgen [--markdown]\n\n\
    Prints the IngressClassParams CRD as YAML (the default), or with --markdown as the\n\
    field reference of docs/reference/ingressclassparams.md.\n";

/// Fields whose schema is an embedded Kubernetes type: documented as one entry that names
/// the type, not field by field.
const EMBEDDED: [(&str, &str); 6] = [
    ("spec.affinity", "Affinity (core/v1)"),
    ("spec.extraVolumes", "Volume (core/v1)"),
    ("spec.extraVolumeMounts", "VolumeMount (core/v1)"),
    ("spec.resources", "ResourceRequirements (core/v1)"),
    ("spec.tolerations", "Toleration (core/v1)"),
    ("status.conditions", "Condition (meta/v1)"),
];

/// The schema keywords the walk renders (or knowingly leaves out: `nullable` says only
/// that a field may be unset, which every optional field may).
const KNOWN_KEYWORDS: [&str; 24] = [
    "description",
    "title",
    "type",
    "format",
    "nullable",
    "default",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "items",
    "properties",
    "additionalProperties",
    "required",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-int-or-string",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Yaml,
    Markdown,
}

enum Args {
    Run(Mode),
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut mode = Mode::Yaml;
    for arg in args {
        match arg.as_str() {
            "--markdown" => mode = Mode::Markdown,
            "--yaml" => mode = Mode::Yaml,
            "-h" | "--help" => return Ok(Args::Help),
            other => return Err(format!("crdgen: unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    Ok(Args::Run(mode))
}

fn main() -> ExitCode {
    let mode = match parse_args(std::env::args().skip(1)) {
        Ok(Args::Run(mode)) => mode,
        Ok(Args::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprint!("{message}");
            return ExitCode::from(2);
        }
    };
    let output = match mode {
        Mode::Yaml => sluice_crds::params::crd_yaml()
            .map_err(|err| format!("crdgen: cannot serialize the CRD: {err}")),
        Mode::Markdown => markdown(&sluice_crds::params::crd())
            .map_err(|err| format!("crdgen: cannot write the reference: {err}")),
    };
    let output = match output {
        Ok(output) => output,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("crdgen: cannot write the output: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

// ----------------------------------------------------------------------------------------
// The Markdown reference.

/// One documented field.
struct Field<'a> {
    /// `spec.service.httpNodePort`.
    path: String,
    schema: &'a Value,
    required: bool,
    /// The Kubernetes type it embeds, for the fields of [`EMBEDDED`].
    embedded: Option<&'static str>,
}

/// The reference of `crd`, from its first (only) version's schema.
fn markdown(crd: &CustomResourceDefinition) -> Result<String, String> {
    let version = crd.spec.versions.first().ok_or("the CRD has no version")?;
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or("the CRD version has no openAPIV3Schema")?;
    let schema = serde_json::to_value(schema).map_err(|e| e.to_string())?;

    let mut fields = Vec::new();
    for root in ["spec", "status"] {
        let node = &schema["properties"][root];
        if !node.is_object() {
            return Err(format!("the schema has no {root}"));
        }
        collect(root, node, is_required(&schema, root), &mut fields)?;
    }
    for (path, _) in EMBEDDED {
        if !fields.iter().any(|f| f.path == path) {
            return Err(format!(
                "{path} is listed as an embedded Kubernetes type but is not in the schema"
            ));
        }
    }

    let names = &crd.spec.names;
    let mut out = String::new();
    let w = &mut out;
    line(
        w,
        "<!-- Generated from crds/src/params/ by crdgen; do not edit. Regenerate with:",
    );
    line(w, &format!("     {MARKDOWN_COMMAND} -->"));
    line(w, "");
    line(w, &format!("# {} reference", names.kind));
    line(w, "");
    if let Some(description) = schema["description"].as_str() {
        line(w, description);
        line(w, "");
    }
    line(w, "| | |");
    line(w, "| --- | --- |");
    line(
        w,
        &format!(
            "| API version | {} |",
            code(&format!("{}/{}", crd.spec.group, version.name))
        ),
    );
    line(w, &format!("| Kind | {} |", code(&names.kind)));
    line(w, &format!("| Scope | {} |", crd.spec.scope));
    line(w, &format!("| Plural | {} |", code(&names.plural)));
    if let Some(short) = names.short_names.as_deref().filter(|s| !s.is_empty()) {
        let short: Vec<String> = short.iter().map(|s| code(s)).collect();
        line(w, &format!("| Short names | {} |", short.join(", ")));
    }
    if let Some(categories) = names.categories.as_deref().filter(|c| !c.is_empty()) {
        let categories: Vec<String> = categories.iter().map(|c| code(c)).collect();
        line(w, &format!("| Categories | {} |", categories.join(", ")));
    }
    let subresources: Vec<&str> = version
        .subresources
        .iter()
        .flat_map(|s| {
            [
                s.status.as_ref().map(|_| "status"),
                s.scale.as_ref().map(|_| "scale"),
            ]
        })
        .flatten()
        .collect();
    if !subresources.is_empty() {
        line(
            w,
            &format!("| Subresources | {} |", subresources.join(", ")),
        );
    }
    line(w, "");
    line(
        w,
        "Each field below gives its type and the bounds the API server enforces, then its \
         description. A rule is a CEL expression the API server evaluates on create and \
         update; its message is what `kubectl` prints when the rule fails.",
    );
    line(w, "");

    if let Some(columns) = version
        .additional_printer_columns
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        line(w, "## Columns of `kubectl get`");
        line(w, "");
        line(w, "| Column | Type | JSON path | Description |");
        line(w, "| --- | --- | --- | --- |");
        for column in columns {
            line(
                w,
                &format!(
                    "| {} | {} | {} | {} |",
                    cell(&column.name),
                    cell(&column.type_),
                    code(&column.json_path),
                    cell(column.description.as_deref().unwrap_or(""))
                ),
            );
        }
        line(w, "");
    }

    line(w, "## Summary");
    line(w, "");
    line(w, "| Field | Type | Default |");
    line(w, "| --- | --- | --- |");
    for field in fields.iter().filter(|f| f.path.starts_with("spec.")) {
        line(
            w,
            &format!(
                "| [{}](#{}) | {} | {} |",
                code(&field.path),
                anchor(&field.path),
                cell(&type_name(field)),
                cell(&default_of(field.schema).unwrap_or_else(|| "—".into()))
            ),
        );
    }
    line(w, "");

    for field in &fields {
        let depth = field.path.matches('.').count();
        let heading = if depth == 0 { "##" } else { "###" };
        line(w, &format!("{heading} {}", code(&field.path)));
        line(w, "");
        field_body(w, field)?;
    }
    // One trailing newline, not a blank line.
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

/// Adds `node` at `path` and its descendants, depth first, properties by name.
fn collect<'a>(
    path: &str,
    node: &'a Value,
    required: bool,
    fields: &mut Vec<Field<'a>>,
) -> Result<(), String> {
    let embedded = EMBEDDED
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, type_)| *type_);
    if embedded.is_none() {
        check_keywords(path, node)?;
    }
    fields.push(Field {
        path: path.to_string(),
        schema: node,
        required,
        embedded,
    });
    if embedded.is_some() {
        return Ok(());
    }
    // An array of objects: its items' fields, as `path[].field`.
    let (object, prefix) = match node.get("items") {
        Some(items) if items.get("properties").is_some() => {
            check_keywords(&format!("{path}[]"), items)?;
            (items, format!("{path}[]"))
        }
        _ => (node, path.to_string()),
    };
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort();
    for name in names {
        collect(
            &format!("{prefix}.{name}"),
            &properties[name],
            is_required(object, name),
            fields,
        )?;
    }
    Ok(())
}

fn is_required(object: &Value, name: &str) -> bool {
    object["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name)))
}

/// Refuses a schema keyword this walk would leave out, here or in scalar items and map
/// values (whose keywords are rendered with their field).
fn check_keywords(path: &str, node: &Value) -> Result<(), String> {
    let Some(object) = node.as_object() else {
        return Err(format!("{path}: the schema is not an object"));
    };
    for key in object.keys() {
        if !KNOWN_KEYWORDS.contains(&key.as_str()) {
            return Err(format!(
                "{path}: schema keyword {key:?} is not rendered; teach crdgen --markdown about it"
            ));
        }
    }
    for (child, suffix) in [("items", "[]"), ("additionalProperties", "[*]")] {
        if let Some(inner) = object.get(child).filter(|v| v.get("properties").is_none())
            && inner.is_object()
        {
            check_keywords(&format!("{path}{suffix}"), inner)?;
        }
    }
    Ok(())
}

fn field_body(w: &mut String, field: &Field<'_>) -> Result<(), String> {
    let node = field.schema;
    let mut facts = vec![format!("Type: {}", type_name(field))];
    if field.required {
        facts.push("Required".into());
    }
    facts.extend(constraints(node));
    // Constraints on each item of a list of scalars, or each value of a map.
    for (child, what) in [
        ("items", "each item"),
        ("additionalProperties", "each value"),
    ] {
        if let Some(inner) = node.get(child).filter(|v| v.get("properties").is_none()) {
            facts.extend(
                constraints(inner)
                    .into_iter()
                    .map(|c| format!("{c} ({what})")),
            );
        }
    }
    for fact in &facts {
        line(w, &format!("- {fact}"));
    }
    line(w, "");

    if let Some(description) = node["description"].as_str() {
        line(w, description);
        line(w, "");
    }
    if let Some(type_) = field.embedded {
        line(
            w,
            &format!(
                "Its fields are those of the Kubernetes type {type_}; `kubectl explain ingressclassparams.{}` lists them.",
                field.path.replace("[]", "")
            ),
        );
        line(w, "");
    }

    let mut rules = Vec::new();
    own_rules(node, "", &mut rules);
    if field.embedded.is_some() {
        nested_rules(node, "", &mut rules);
    }
    if !rules.is_empty() {
        line(w, "Rules:");
        line(w, "");
        for rule in rules {
            line(w, &rule);
        }
        line(w, "");
    }
    Ok(())
}

/// The rules of `node` itself and of its scalar items or map values.
fn own_rules(node: &Value, at: &str, out: &mut Vec<String>) {
    push_rules(node, at, "", out);
    for (child, what) in [
        ("items", "each item"),
        ("additionalProperties", "each value"),
    ] {
        if let Some(inner) = node.get(child).filter(|v| v.get("properties").is_none()) {
            push_rules(inner, at, what, out);
        }
    }
}

/// The rules anywhere below `node`, with their paths relative to it.
fn nested_rules(node: &Value, at: &str, out: &mut Vec<String>) {
    let mut children: Vec<(String, &Value)> = Vec::new();
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        children.extend(properties.iter().map(|(k, v)| (format!("{at}.{k}"), v)));
    }
    if let Some(items) = node.get("items") {
        children.push((format!("{at}[]"), items));
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        children.push((format!("{at}[*]"), values));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, child) in children {
        push_rules(child, &path, "", out);
        nested_rules(child, &path, out);
    }
}

fn push_rules(node: &Value, at: &str, what: &str, out: &mut Vec<String>) {
    let Some(rules) = node["x-kubernetes-validations"].as_array() else {
        return;
    };
    for rule in rules {
        let mut text = format!("- {}", code(rule["rule"].as_str().unwrap_or_default()));
        let mut notes = Vec::new();
        if !at.is_empty() {
            notes.push(format!("on {}", code(at)));
        }
        if !what.is_empty() {
            notes.push(format!("on {what}"));
        }
        if let Some(field_path) = rule["fieldPath"].as_str() {
            notes.push(format!("reported at {}", code(field_path)));
        }
        if let Some(reason) = rule["reason"].as_str() {
            notes.push(format!("reason {reason}"));
        }
        if !notes.is_empty() {
            let _ = write!(text, " ({})", notes.join("; "));
        }
        if let Some(message) = rule["message"].as_str() {
            let _ = write!(text, "\n  Message: {message}");
        }
        out.push(text);
    }
}

/// The type of a field as a person reads it.
fn type_name(field: &Field<'_>) -> String {
    match field.embedded {
        Some(type_) if field.schema["type"] == "array" => format!("list of {type_}"),
        Some(type_) => type_.to_string(),
        None => plain_type(field.schema),
    }
}

fn plain_type(node: &Value) -> String {
    if node["x-kubernetes-int-or-string"] == Value::Bool(true) {
        return "integer or string".into();
    }
    let format = node["format"].as_str();
    match node["type"].as_str() {
        Some("array") => format!("list of {}", plain_type(&node["items"])),
        Some("object") => match node.get("additionalProperties") {
            Some(values) if values.is_object() => {
                format!("map of string to {}", plain_type(values))
            }
            _ => "object".into(),
        },
        Some(scalar @ ("integer" | "number" | "string")) => match format {
            Some(format) => format!("{scalar} ({format})"),
            None => scalar.into(),
        },
        Some(other) => other.into(),
        None => "any".into(),
    }
}

/// The bounds, enum values, pattern and list semantics of `node`.
fn constraints(node: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(values) = node["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| {
                code(
                    v.as_str()
                        .map_or_else(|| v.to_string(), str::to_string)
                        .as_str(),
                )
            })
            .collect();
        out.push(format!("One of: {}", values.join(", ")));
    }
    let number = |key: &str| node[key].as_f64().map(format_number);
    match (number("minimum"), number("maximum")) {
        (Some(min), Some(max)) => out.push(format!("Range: {min} to {max}")),
        (Some(min), None) => out.push(format!("Minimum: {min}")),
        (None, Some(max)) => out.push(format!("Maximum: {max}")),
        (None, None) => {}
    }
    let bounds = |min: &str, max: &str, unit: &str| match (number(min), number(max)) {
        (Some(min), Some(max)) => Some(format!("{min} to {max} {unit}")),
        (Some(min), None) => Some(format!("at least {min} {unit}")),
        (None, Some(max)) => Some(format!("at most {max} {unit}")),
        (None, None) => None,
    };
    if let Some(length) = bounds("minLength", "maxLength", "characters") {
        out.push(format!("Length: {length}"));
    }
    if let Some(items) = bounds("minItems", "maxItems", "items") {
        out.push(format!("Items: {items}"));
    }
    if let Some(entries) = bounds("minProperties", "maxProperties", "entries") {
        out.push(format!("Entries: {entries}"));
    }
    if let Some(pattern) = node["pattern"].as_str() {
        out.push(format!("Pattern: {}", code(pattern)));
    }
    if let Some(default) = node.get("default") {
        out.push(format!("Default: {}", code(&default.to_string())));
    }
    match node["x-kubernetes-list-type"].as_str() {
        Some("map") => {
            let keys: Vec<String> = node["x-kubernetes-list-map-keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(code)
                .collect();
            out.push(format!(
                "List type: map, keyed by {} (server-side apply merges items by key)",
                keys.join(", ")
            ));
        }
        Some(other) => out.push(format!("List type: {other}")),
        None => {}
    }
    out
}

/// The default a field states: the schema's `default`, else the description's closing
/// "Default: ..." sentence.
fn default_of(node: &Value) -> Option<String> {
    if let Some(default) = node.get("default") {
        return Some(code(&default.to_string()));
    }
    let description = node["description"].as_str()?;
    let (_, default) = description.rsplit_once("Default: ")?;
    let default = default.split("\n\n").next().unwrap_or(default).trim();
    Some(default.strip_suffix('.').unwrap_or(default).to_string())
}

/// `0.0` → `0`, `100.0` → `100`, `0.01` → `0.01`.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A code span that survives backticks inside it.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// Text for a table cell: pipes escaped, lines joined.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The anchor GitHub gives the heading `` `path` ``: lower case, punctuation dropped.
fn anchor(path: &str) -> String {
    path.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn line(w: &mut String, text: &str) {
    w.push_str(text);
    w.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn yaml_is_the_default_mode() {
        assert!(matches!(args(&[]), Ok(Args::Run(Mode::Yaml))));
        assert!(matches!(
            args(&["--markdown"]),
            Ok(Args::Run(Mode::Markdown))
        ));
        assert!(matches!(args(&["--help"]), Ok(Args::Help)));
        assert!(args(&["--html"]).is_err());
    }

    #[test]
    fn renders_types_bounds_and_defaults() {
        let node = serde_json::json!({
            "type": "integer", "format": "int32", "minimum": 0.0, "maximum": 100.0,
            "description": "How many. Default: 2."
        });
        assert_eq!(plain_type(&node), "integer (int32)");
        assert_eq!(constraints(&node), ["Range: 0 to 100"]);
        assert_eq!(default_of(&node).as_deref(), Some("2"));
        let map = serde_json::json!({"type": "object", "additionalProperties": {"type": "string"}});
        assert_eq!(plain_type(&map), "map of string to string");
        assert_eq!(format_number(0.01), "0.01");
        assert_eq!(
            anchor("spec.service.httpNodePort"),
            "specservicehttpnodeport"
        );
        assert_eq!(cell("a || b"), "a \\|\\| b");
    }

    #[test]
    fn an_unknown_keyword_is_an_error() {
        let node = serde_json::json!({"type": "string", "x-kubernetes-embedded-resource": true});
        assert!(check_keywords("spec.x", &node).is_err());
    }

    #[test]
    fn the_reference_covers_every_field_and_rule() {
        let text = markdown(&sluice_crds::params::crd()).unwrap();
        assert!(text.contains(MARKDOWN_COMMAND));
        for expected in [
            "### `spec.service.httpNodePort`",
            "Range: 30000 to 32767",
            "Message: httpNodePort and httpsNodePort must differ",
            "### `spec.upstream.connectTimeout`",
            "### `status.conditions`",
            "Message: must be a quantity, such as 100m, 1 or 256Mi",
        ] {
            assert!(text.contains(expected), "missing {expected:?}");
        }
        // Embedded Kubernetes types are one entry each.
        assert!(!text.contains("spec.affinity.nodeAffinity"));
        assert!(!text.ends_with("\n\n"));
    }
}
