//! The file source: Kubernetes objects from multi-document YAML (or JSON) files, for
//! running without a cluster. Files are re-read when they change; a file that does not
//! parse leaves the last good objects in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sluice_crds::gateway_api::GROUP as GATEWAY_GROUP;

use crate::objects::ObjectSet;

/// Why the manifests could not be loaded. Names the file and the document.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: document {document}: {message}")]
    Parse {
        path: PathBuf,
        document: usize,
        message: String,
    },
}

/// The files named by `paths`: each file itself, each directory's `*.yaml`, `*.yml` and
/// `*.json` files (recursively), in a stable order.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let mut out = Vec::new();
    for path in paths {
        collect(path, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let p = entry.path();
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if p.is_dir() {
                collect(&p, out)?;
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(p);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads every manifest file into one object set.
pub fn load(paths: &[PathBuf]) -> Result<ObjectSet, ManifestError> {
    let mut set = ObjectSet::default();
    for path in files(paths)? {
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        parse_into(&text, &path, &mut set)?;
    }
    Ok(set)
}

/// Parses the documents of one file into `set`.
pub fn parse_into(text: &str, path: &Path, set: &mut ObjectSet) -> Result<(), ManifestError> {
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let parse_err = |message: String| ManifestError::Parse {
            path: path.to_path_buf(),
            document: index + 1,
            message,
        };
        let value =
            serde_json::Value::deserialize(document).map_err(|e| parse_err(e.to_string()))?;
        if value.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        for item in list_items(value) {
            add(item, set).map_err(parse_err)?;
        }
    }
    Ok(())
}

/// A `kind: List` (as `kubectl get -o yaml` writes) is its items.
fn list_items(value: serde_json::Value) -> Vec<serde_json::Value> {
    if value.get("kind").and_then(|k| k.as_str()) == Some("List")
        && let Some(serde_json::Value::Array(items)) = value.get("items")
    {
        return items.clone();
    }
    vec![value]
}

/// Adds one object to the set if it is of a kind the proxy reads; other kinds in the same
/// files (Deployments, ...) are skipped.
fn add(value: serde_json::Value, set: &mut ObjectSet) -> Result<(), String> {
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or("the document has no kind")?
        .to_string();
    let api_version = value
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let name = value
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or("(unnamed)")
        .to_string();
    let describe = |e: serde_json::Error| format!("{kind} {name}: {e}");
    match (api_version.as_str(), kind.as_str()) {
        ("networking.k8s.io/v1", "Ingress") => {
            let mut i: Ingress = serde_json::from_value(value).map_err(describe)?;
            default_namespace(&mut i.metadata);
            set.ingresses.push(Arc::new(i));
        }
        ("networking.k8s.io/v1", "IngressClass") => {
            let c: IngressClass = serde_json::from_value(value).map_err(describe)?;
            set.classes.push(Arc::new(c));
        }
        ("v1", "Service") => {
            let mut s: Service = serde_json::from_value(value).map_err(describe)?;
            default_namespace(&mut s.metadata);
            set.services.push(Arc::new(s));
        }
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            let mut e: EndpointSlice = serde_json::from_value(value).map_err(describe)?;
            default_namespace(&mut e.metadata);
            set.endpoint_slices.push(Arc::new(e));
        }
        ("v1", "Secret") => {
            let mut s: Secret = serde_json::from_value(value).map_err(describe)?;
            default_namespace(&mut s.metadata);
            // The API server merges stringData into data; do the same for files.
            if let Some(string_data) = s.string_data.take() {
                let data = s.data.get_or_insert_with(Default::default);
                for (k, v) in string_data {
                    data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
                }
            }
            set.secrets.push(Arc::new(s));
        }
        ("v1", "ConfigMap") => {
            let mut c: ConfigMap = serde_json::from_value(value).map_err(describe)?;
            default_namespace(&mut c.metadata);
            set.config_maps.push(Arc::new(c));
        }
        ("v1", "Namespace") => {
            let n: Namespace = serde_json::from_value(value).map_err(describe)?;
            set.namespaces.push(Arc::new(n));
        }
        (version, "Gateway" | "HTTPRoute" | "GRPCRoute" | "ReferenceGrant")
            if gateway_api_version(version) =>
        {
            match kind.as_str() {
                "Gateway" => gateway_object(value, &kind, &name, &mut set.gateways),
                "HTTPRoute" => gateway_object(value, &kind, &name, &mut set.http_routes),
                "GRPCRoute" => gateway_object(value, &kind, &name, &mut set.grpc_routes),
                _ => gateway_object(value, &kind, &name, &mut set.reference_grants),
            }
        }
        (_, "Ingress" | "IngressClass" | "Service" | "EndpointSlice" | "Secret" | "ConfigMap") => {
            return Err(format!(
                "{kind} {name}: apiVersion {api_version:?} is not supported here"
            ));
        }
        _ => {}
    }
    Ok(())
}

/// `gateway.networking.k8s.io/v1` or `/v1beta1` (the same schema for the kinds read here).
fn gateway_api_version(api_version: &str) -> bool {
    api_version
        .strip_prefix(GATEWAY_GROUP)
        .is_some_and(|v| matches!(v, "/v1" | "/v1beta1"))
}

/// Adds a Gateway API object, or, when it does not fit the v1.6 types, skips it with a
/// warning: as in a cluster, one bad route must not keep the others from being served.
fn gateway_object<K>(value: serde_json::Value, kind: &str, name: &str, into: &mut Vec<Arc<K>>)
where
    K: DeserializeOwned + kube::Resource,
{
    match serde_json::from_value::<K>(value) {
        Ok(mut object) => {
            default_namespace(object.meta_mut());
            into.push(Arc::new(object));
        }
        Err(error) => {
            tracing::warn!(kind, name, %error, "object skipped: it does not fit Gateway API v1.6");
        }
    }
}

fn default_namespace(meta: &mut ObjectMeta) {
    if meta.namespace.as_deref().unwrap_or_default().is_empty() {
        meta.namespace = Some("default".into());
    }
}

/// A cheap summary of the files' state: when it changes, they are re-read.
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    match files(paths) {
        Ok(files) => files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map(|m| m.len()).unwrap_or_default();
                (f, modified, len)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// How often the files are checked when no change notification arrives (a safety net
/// for filesystems that do not deliver them, such as some network mounts).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: app }
spec:
  ingressClassName: sluice
  rules:
  - host: app.example.com
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
---
apiVersion: v1
kind: Secret
metadata: { name: tls, namespace: shop }
type: kubernetes.io/tls
stringData: { tls.crt: "x", tls.key: "y" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ignored }
---
"#;

    #[test]
    fn parses_documents_and_skips_other_kinds() {
        let mut set = ObjectSet::default();
        parse_into(SEED, Path::new("seed.yaml"), &mut set).unwrap();
        assert_eq!(set.ingresses.len(), 1);
        assert_eq!(
            set.ingresses[0].metadata.namespace.as_deref(),
            Some("default")
        );
        assert_eq!(set.secrets.len(), 1);
        let data = set.secrets[0].data.as_ref().unwrap();
        assert_eq!(data["tls.crt"].0, b"x");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn errors_name_the_file_document_and_object() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: { name: a }\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: broken }\nspec:\n  rules:\n  - http:\n      paths: /\n";
        let err = parse_into(text, Path::new("m.yaml"), &mut ObjectSet::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("m.yaml: document 2: Ingress broken: invalid type: string"),
            "{message}"
        );

        let err = parse_into("a: [", Path::new("bad.yaml"), &mut ObjectSet::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("bad.yaml: document 1:"),
            "{err}"
        );

        let err = parse_into(
            "metadata: {}",
            Path::new("k.yaml"),
            &mut ObjectSet::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "k.yaml: document 1: the document has no kind"
        );
    }

    #[test]
    fn reads_lists() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"x"}},
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"b","namespace":"x"}}]}"#;
        let mut set = ObjectSet::default();
        parse_into(text, Path::new("l.json"), &mut set).unwrap();
        assert_eq!(set.services.len(), 2);
    }
}
