//! The IngressClassParams CRD: the committed YAML is what the types generate, the schema is
//! one Kubernetes accepts (structural, no `$ref`, typed everywhere), and the resource looks
//! as documented (cluster-scoped, status subresource, printer columns, defaults).

use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionVersion;
use serde_json::{Value, json};
use sluice_crds::names::GROUP;
use sluice_crds::params::{
    self, CRD_YAML_PATH, CRDGEN_COMMAND, IngressClassParams, IngressClassParamsSpec,
    IngressClassParamsStatus, defaults,
};

fn version() -> CustomResourceDefinitionVersion {
    let crd = params::crd();
    assert_eq!(crd.spec.versions.len(), 1);
    crd.spec.versions.into_iter().next().unwrap()
}

fn schema() -> Value {
    let schema = version().schema.unwrap().open_api_v3_schema.unwrap();
    serde_json::to_value(schema).unwrap()
}

#[test]
fn committed_yaml_is_what_the_types_generate() {
    let generated = params::crd_yaml().unwrap();
    assert_committed(
        CRD_YAML_PATH,
        &generated,
        "crds/src/params/",
        CRDGEN_COMMAND,
    );
    assert!(generated.starts_with("# Generated"));
    assert!(generated.contains(CRDGEN_COMMAND));
}

#[test]
fn crd_is_cluster_scoped_with_names_status_and_columns() {
    let crd = params::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("ingressclassparams.sluice.dev")
    );
    assert_eq!(crd.spec.group, GROUP);
    assert_eq!(crd.spec.scope, "Cluster");
    let names = &crd.spec.names;
    assert_eq!(names.kind, "IngressClassParams");
    assert_eq!(names.plural, "ingressclassparams");
    assert_eq!(names.short_names.as_deref(), Some(&["icp".to_string()][..]));
    assert_eq!(
        names.categories.as_deref(),
        Some(&["sluice".to_string()][..])
    );

    let version = version();
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    let subresources = version.subresources.unwrap();
    assert!(subresources.status.is_some(), "status subresource");
    assert!(subresources.scale.is_none());

    let columns: Vec<(String, String, String)> = version
        .additional_printer_columns
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.type_, c.json_path))
        .collect();
    let expected = [
        ("Type", "string", ".status.serviceType"),
        ("HTTP", "integer", ".status.httpNodePort"),
        ("HTTPS", "integer", ".status.httpsNodePort"),
        (
            "Ready",
            "string",
            r#".status.conditions[?(@.type=="Ready")].status"#,
        ),
        ("Age", "date", ".metadata.creationTimestamp"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(n, t, p)| (n.to_string(), t.to_string(), p.to_string()))
        .collect();
    assert_eq!(columns, expected);

    // Every column's path exists in the schema.
    let schema = schema();
    for field in ["serviceType", "httpNodePort", "httpsNodePort", "conditions"] {
        assert!(
            schema["properties"]["status"]["properties"][field].is_object(),
            "status.{field}"
        );
    }
}

/// Walks a schema the way the API server's structural-schema check would, collecting every
/// violation with its path.
fn structural_problems(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        problems.push(format!("{path}: not an object schema"));
        return;
    };
    for forbidden in [
        "$ref",
        "$schema",
        "definitions",
        "$defs",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "const",
        "uniqueItems",
    ] {
        if node.contains_key(forbidden) {
            problems.push(format!("{path}: has {forbidden}"));
        }
    }
    let int_or_string = node.get("x-kubernetes-int-or-string") == Some(&json!(true));
    let preserve = node.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let type_ = node.get("type").and_then(Value::as_str);
    match type_ {
        Some("object" | "array" | "string" | "integer" | "number" | "boolean") => {
            if int_or_string {
                problems.push(format!("{path}: int-or-string with a type"));
            }
        }
        Some(other) => problems.push(format!("{path}: unknown type {other}")),
        None if int_or_string || preserve => {}
        None => problems.push(format!("{path}: no type")),
    }
    if node.contains_key("nullable") && type_.is_none() {
        problems.push(format!("{path}: nullable without a type"));
    }
    if let Some(values) = node.get("enum") {
        match values.as_array() {
            Some(values) if !values.is_empty() => {
                for value in values {
                    if !value.is_string() || type_ != Some("string") {
                        problems.push(format!("{path}: enum value {value} of a non-string"));
                    }
                }
            }
            _ => problems.push(format!("{path}: empty enum")),
        }
    }
    if let Some(format) = node.get("format").and_then(Value::as_str)
        && !["int32", "int64", "double", "float", "date-time", "byte"].contains(&format)
    {
        problems.push(format!("{path}: format {format}"));
    }
    if let Some(rules) = node.get("x-kubernetes-validations") {
        for rule in rules.as_array().into_iter().flatten() {
            if rule["rule"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{path}: a CEL rule without an expression"));
            }
            if rule["message"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{path}: CEL rule {} has no message", rule["rule"]));
            }
        }
    }
    let properties = node.get("properties").and_then(Value::as_object);
    let additional = node.get("additionalProperties");
    match type_ {
        Some("object") => {
            if properties.is_some() && additional.is_some() {
                problems.push(format!("{path}: properties and additionalProperties"));
            }
            if properties.is_none() && additional.is_none() && !preserve {
                problems.push(format!("{path}: an object with no fields"));
            }
        }
        _ if properties.is_some() || additional.is_some() => {
            problems.push(format!("{path}: fields on a non-object"));
        }
        _ => {}
    }
    for (name, property) in properties.into_iter().flatten() {
        structural_problems(property, &format!("{path}.{name}"), problems);
    }
    if let Some(required) = node.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !properties.is_some_and(|p| p.contains_key(name)) {
                problems.push(format!("{path}: requires unknown field {name}"));
            }
        }
    }
    match additional {
        Some(Value::Object(_)) => {
            structural_problems(additional.unwrap(), &format!("{path}[*]"), problems)
        }
        Some(other) => problems.push(format!("{path}: additionalProperties {other}")),
        None => {}
    }
    match (type_, node.get("items")) {
        (Some("array"), Some(items)) => structural_problems(items, &format!("{path}[]"), problems),
        (Some("array"), None) => problems.push(format!("{path}: an array without items")),
        (_, Some(_)) => problems.push(format!("{path}: items on a non-array")),
        _ => {}
    }
}

#[test]
fn schema_is_structural() {
    let schema = schema();
    let mut problems = Vec::new();
    structural_problems(&schema, "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["spec"]));
}

/// The fields of the spec and their sub-fields (not those inside embedded Kubernetes types).
fn our_fields(schema: &Value) -> Vec<(String, Value)> {
    let spec = &schema["properties"]["spec"];
    let mut fields = Vec::new();
    for (name, field) in spec["properties"].as_object().unwrap() {
        fields.push((name.clone(), field.clone()));
        if ["affinity", "tolerations", "resources"].contains(&name.as_str()) {
            continue;
        }
        for (sub, field) in field["properties"].as_object().into_iter().flatten() {
            fields.push((format!("{name}.{sub}"), field.clone()));
        }
    }
    for (name, field) in schema["properties"]["status"]["properties"]
        .as_object()
        .unwrap()
    {
        fields.push((format!("status.{name}"), field.clone()));
    }
    fields
}

#[test]
fn every_field_is_described_on_one_line_per_paragraph() {
    let schema = schema();
    assert!(
        schema["description"]
            .as_str()
            .unwrap()
            .contains("IngressClass")
    );
    assert!(schema["properties"]["spec"]["description"].is_string());
    assert!(schema["properties"]["status"]["description"].is_string());
    for (name, field) in our_fields(&schema) {
        let description = field["description"].as_str().unwrap_or_default();
        assert!(description.len() > 10, "{name} has no description");
        assert!(
            !description.replace("\n\n", "").contains('\n'),
            "{name}: a line break inside a paragraph: {description:?}"
        );
    }
}

#[test]
fn descriptions_state_the_defaults() {
    let schema = schema();
    let fields: std::collections::BTreeMap<String, Value> =
        our_fields(&schema).into_iter().collect();
    let expect = [
        ("replicas", format!("Default: {}.", defaults::REPLICAS)),
        (
            "image.repository",
            format!("Default: {}.", defaults::IMAGE_REPOSITORY),
        ),
        ("image.tag", "Default: the version of the operator".into()),
        ("image.pullPolicy", "Default: IfNotPresent.".into()),
        ("service.type", "Default: NodePort.".into()),
        (
            "service.httpNodePort",
            format!("Default: {}.", defaults::HTTP_NODE_PORT),
        ),
        (
            "service.httpsNodePort",
            format!("Default: {}.", defaults::HTTPS_NODE_PORT),
        ),
        ("service.externalTrafficPolicy", "Default: Cluster.".into()),
        (
            "resources",
            format!(
                "Default: requests cpu {} and memory {}, limits memory {}.",
                defaults::CPU_REQUEST,
                defaults::MEMORY_REQUEST,
                defaults::MEMORY_LIMIT
            ),
        ),
        ("logging.level", "Default: info.".into()),
        ("logging.format", "Default: text.".into()),
        ("tls.minVersion", "Default: \"1.2\".".into()),
        (
            "tls.sslRedirect",
            format!("Default: {}.", defaults::SSL_REDIRECT),
        ),
        (
            "upstream.connectTimeout",
            format!("Default: {}.", defaults::CONNECT_TIMEOUT),
        ),
        (
            "upstream.readTimeout",
            format!("Default: {}.", defaults::READ_TIMEOUT),
        ),
        (
            "upstream.maxAttempts",
            format!("Default: {}.", defaults::MAX_ATTEMPTS),
        ),
        (
            "tracing.samplingRatio",
            format!("Default: {}.", defaults::SAMPLING_RATIO),
        ),
    ];
    for (field, default) in expect {
        let description = fields[field]["description"].as_str().unwrap();
        assert!(
            description.contains(&default),
            "{field}: {description:?} does not say {default:?}"
        );
    }
    // The enum defaults are the ones the descriptions name.
    let resolved = IngressClassParamsSpec::default().resolve().unwrap();
    assert_eq!(resolved.image.pull_policy.as_str(), "IfNotPresent");
    assert_eq!(resolved.service.type_.as_str(), "NodePort");
    assert_eq!(
        resolved.service.external_traffic_policy.unwrap().as_str(),
        "Cluster"
    );
    assert_eq!(resolved.logging.level.as_str(), "info");
    assert_eq!(resolved.logging.format.as_str(), "text");
    assert_eq!(resolved.tls.min_version.as_str(), "1.2");
}

#[test]
fn bounds_and_rules_are_in_the_schema() {
    let schema = schema();
    let spec = &schema["properties"]["spec"]["properties"];
    assert_eq!(spec["replicas"]["minimum"], json!(0.0));
    assert_eq!(spec["replicas"]["maximum"], json!(100.0));
    let service = &spec["service"];
    for port in ["httpNodePort", "httpsNodePort"] {
        assert_eq!(service["properties"][port]["minimum"], json!(30000.0));
        assert_eq!(service["properties"][port]["maximum"], json!(32767.0));
    }
    let messages: Vec<&str> = service["x-kubernetes-validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "httpNodePort and httpsNodePort must differ",
            "httpNodePort and httpsNodePort can only be set when type is NodePort or LoadBalancer",
            "externalTrafficPolicy can only be set when type is NodePort or LoadBalancer",
            "loadBalancerSourceRanges, loadBalancerClass and loadBalancerIP can only be set when type is LoadBalancer",
        ]
    );
    // The "must differ" rule compares the ports in effect, defaults included.
    let differ = service["x-kubernetes-validations"][0]["rule"]
        .as_str()
        .unwrap();
    assert!(differ.contains(&defaults::HTTP_NODE_PORT.to_string()));
    assert!(differ.contains(&defaults::HTTPS_NODE_PORT.to_string()));
    assert_eq!(
        service["properties"]["type"]["enum"],
        json!(["NodePort", "LoadBalancer", "ClusterIP"])
    );
    let upstream = &spec["upstream"]["properties"];
    assert_eq!(upstream["maxAttempts"]["minimum"], json!(1.0));
    assert_eq!(upstream["maxAttempts"]["maximum"], json!(10.0));
    for timeout in ["connectTimeout", "readTimeout"] {
        assert!(upstream[timeout]["pattern"].is_string());
        assert!(
            upstream[timeout]["x-kubernetes-validations"][0]["rule"]
                .as_str()
                .unwrap()
                .contains("duration(self)")
        );
    }
    let tracing = &spec["tracing"]["properties"];
    assert_eq!(tracing["samplingRatio"]["minimum"], json!(0.0));
    assert_eq!(tracing["samplingRatio"]["maximum"], json!(1.0));
    assert_eq!(spec["addresses"]["maxItems"], json!(16));
    assert!(spec["addresses"]["items"]["x-kubernetes-validations"].is_array());
    // Conditions merge by type under server-side apply.
    let conditions = &schema["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
}

#[test]
fn a_minimal_object_deserializes_and_resolves() {
    let params: IngressClassParams = serde_json::from_value(json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "IngressClassParams",
        "metadata": {"name": "default"},
        "spec": {},
    }))
    .unwrap();
    assert_eq!(params.spec, IngressClassParamsSpec::default());
    assert_eq!(params.status, None);
    let resolved = params.resolve().unwrap();
    assert_eq!(resolved.replicas, defaults::REPLICAS);
    assert_eq!(
        resolved.image.reference(),
        format!(
            "{}:{}",
            defaults::IMAGE_REPOSITORY,
            env!("CARGO_PKG_VERSION")
        )
    );

    // What the API server stores when a client sent explicit nulls.
    let spec: IngressClassParamsSpec = serde_json::from_value(json!({
        "replicas": null,
        "service": {"httpNodePort": null},
        "addresses": null,
    }))
    .unwrap();
    assert!(spec.resolve().is_ok());
}

#[test]
fn an_unset_spec_serializes_to_nothing() {
    assert_eq!(
        serde_json::to_value(IngressClassParamsSpec::default()).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(IngressClassParamsStatus::default()).unwrap(),
        json!({})
    );
    let object = IngressClassParams::new("default", IngressClassParamsSpec::default());
    let value = serde_json::to_value(&object).unwrap();
    assert_eq!(value["apiVersion"], "sluice.dev/v1alpha1");
    assert_eq!(value["kind"], "IngressClassParams");
    assert_eq!(value["spec"], json!({}));
    assert!(value.get("status").is_none());
}

/// No `null` anywhere in a value (what server-side apply would take as "remove").
fn assert_no_nulls(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| assert_no_nulls(v, &format!("{path}.{k}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| assert_no_nulls(v, &format!("{path}[{i}]"))),
        _ => {}
    }
}

#[test]
fn a_full_object_round_trips() {
    let input = json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "IngressClassParams",
        "metadata": {"name": "edge"},
        "spec": {
            "replicas": 3,
            "image": {"repository": "registry.local:5000/sluice/proxy", "tag": "v0.2.0", "pullPolicy": "Always"},
            "service": {
                "type": "LoadBalancer",
                "httpNodePort": 31080,
                "httpsNodePort": 31443,
                "externalTrafficPolicy": "Local",
                "annotations": {"lb.example.com/internal": "true"},
            },
            "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "edge", "effect": "NoSchedule"}],
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "sluice-proxy"}},
                },
            }]}},
            "podAnnotations": {"prometheus.io/scrape": "true"},
            "logging": {"level": "warn", "format": "json"},
            "tls": {"minVersion": "1.3", "defaultCertificateSecret": "wildcard-tls", "sslRedirect": false},
            "upstream": {"connectTimeout": "500ms", "readTimeout": "2m", "maxAttempts": 5},
            "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318", "samplingRatio": 0.25},
            "addresses": ["203.0.113.10", "2001:db8::10", "ingress.example.com"],
        },
        "status": {
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "ProxiesReady",
                "message": "3 of 3 proxies are ready",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "observedGeneration": 4,
            }],
            "observedGeneration": 4,
            "serviceType": "LoadBalancer",
            "httpNodePort": 31080,
            "httpsNodePort": 31443,
            "replicas": 3,
            "readyReplicas": 3,
            "message": "3 of 3 proxies are ready",
        },
    });
    let object: IngressClassParams = serde_json::from_value(input.clone()).unwrap();
    let output = serde_json::to_value(&object).unwrap();
    assert_eq!(output, input);
    assert_no_nulls(&output, "");
    let again: IngressClassParams = serde_json::from_value(output).unwrap();
    assert_eq!(again, object);
    assert!(object.resolve().is_ok());

    // YAML too (the chart's default params are YAML).
    let yaml = serde_yaml_ng::to_string(&object).unwrap();
    let from_yaml: IngressClassParams = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(from_yaml, object);
}

#[test]
fn unknown_enum_values_are_refused() {
    for spec in [
        json!({"service": {"type": "ExternalName"}}),
        json!({"image": {"pullPolicy": "Sometimes"}}),
        json!({"logging": {"level": "verbose"}}),
        json!({"tls": {"minVersion": "1.1"}}),
    ] {
        assert!(
            serde_json::from_value::<IngressClassParamsSpec>(spec.clone()).is_err(),
            "{spec}"
        );
    }
}

#[test]
fn committed_reference_is_what_the_schema_generates() {
    const MARKDOWN_PATH: &str = "docs/reference/ingressclassparams.md";
    const MARKDOWN_COMMAND: &str = "cargo run -q -p sluice-crds --bin crdgen -- --markdown > docs/reference/ingressclassparams.md";
    let crdgen = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_crdgen"))
            .args(args)
            .output()
            .expect("crdgen runs");
        assert!(
            output.status.success(),
            "crdgen {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("crdgen writes UTF-8")
    };

    let generated = crdgen(&["--markdown"]);
    assert_committed(
        MARKDOWN_PATH,
        &generated,
        "the CRD schema",
        MARKDOWN_COMMAND,
    );
    assert!(generated.contains(MARKDOWN_COMMAND));

    // YAML stays crdgen's default output.
    assert_eq!(crdgen(&[]), params::crd_yaml().unwrap());
}

/// Fails unless the file at `path` (from the repository root) is exactly `generated`,
/// naming the first differing line and the command that regenerates it.
fn assert_committed(path: &str, generated: &str, source: &str, command: &str) {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    let committed = match std::fs::read_to_string(&full) {
        Ok(committed) => committed,
        Err(err) => panic!(
            "cannot read {path} ({err}).\n\
             Generate it from the repository root with:\n\n    {command}\n"
        ),
    };
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (c, g))| c != g)
            .map(|(i, (c, g))| {
                format!(
                    "first difference at line {}:\n  committed: {c}\n  generated: {g}",
                    i + 1
                )
            })
            .unwrap_or_else(|| "one ends before the other".to_string());
        panic!(
            "{path} is out of date with {source} ({first_difference}).\n\
             Regenerate it from the repository root with:\n\n    {command}\n"
        );
    }
}
