//! Where the Ingresses to report on come from: the cluster, or manifest files (YAML or
//! JSON, several documents, `List` kinds), and which of them belong to the class.

use std::path::{Path, PathBuf};

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use serde::Deserialize;
use sluice_crds::ingress::requested_class;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: document {document} is not YAML or JSON")]
    Parse {
        path: PathBuf,
        document: usize,
        source: serde_yaml_ng::Error,
    },
    #[error("{path}: document {document}: not an Ingress of networking.k8s.io/v1")]
    Ingress {
        path: PathBuf,
        document: usize,
        source: serde_json::Error,
    },
    #[error("cannot list Ingresses in the cluster (is it reachable, and may you list ingresses?)")]
    List(#[from] kube::Error),
}

/// The Ingresses found, and those passed over with why (an old API version).
#[derive(Debug, Default)]
pub struct Found {
    pub ingresses: Vec<Ingress>,
    pub skipped: Vec<String>,
}

/// The Ingresses of the cluster, of `namespace` or all.
pub async fn from_cluster(
    client: kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<Ingress>, SourceError> {
    let api: Api<Ingress> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    Ok(api.list(&ListParams::default()).await?.items)
}

/// The Ingresses in `paths`: files, or directories whose `.yaml`, `.yml` and `.json` files
/// are read (recursively, in name order).
pub fn from_files(paths: &[PathBuf]) -> Result<Found, SourceError> {
    let mut found = Found::default();
    for path in paths {
        for file in manifest_files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| SourceError::Read {
                path: file.clone(),
                source,
            })?;
            let more = ingresses_in(&text, &file)?;
            found.ingresses.extend(more.ingresses);
            found.skipped.extend(more.skipped);
        }
    }
    Ok(found)
}

fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let read = |source| SourceError::Read {
        path: path.to_path_buf(),
        source,
    };
    if !std::fs::metadata(path).map_err(read)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            files.extend(manifest_files(&entry)?);
        } else if entry
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(entry);
        }
    }
    Ok(files)
}

/// The Ingresses in the text of one manifest file (`path` is for messages). Objects of
/// other kinds are passed over silently.
pub fn ingresses_in(text: &str, path: &Path) -> Result<Found, SourceError> {
    let mut found = Found::default();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document_number = i + 1;
        let value =
            serde_json::Value::deserialize(document).map_err(|source| SourceError::Parse {
                path: path.to_path_buf(),
                document: document_number,
                source,
            })?;
        collect(value, path, document_number, &mut found)?;
    }
    Ok(found)
}

fn collect(
    value: serde_json::Value,
    path: &Path,
    document: usize,
    found: &mut Found,
) -> Result<(), SourceError> {
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    let api_version = value
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    if kind == "List" || kind.ends_with("List") {
        let items = match value.get("items") {
            Some(serde_json::Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        for item in items {
            collect(item, path, document, found)?;
        }
    } else if kind == "Ingress" && api_version == "networking.k8s.io/v1" {
        let ingress = serde_json::from_value(value).map_err(|source| SourceError::Ingress {
            path: path.to_path_buf(),
            document,
            source,
        })?;
        found.ingresses.push(ingress);
    } else if kind == "Ingress" {
        let name = value
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        found.skipped.push(format!(
            "{}: document {document}: Ingress {name} is {api_version}; only networking.k8s.io/v1 is read",
            path.display()
        ));
    }
    Ok(())
}

/// Which Ingresses to report on.
#[derive(Clone, Debug)]
pub struct Selection<'a> {
    /// The class they name, in `spec.ingressClassName` or the legacy annotation.
    pub class: &'a str,
    /// Also those that name no class (the default class serves them).
    pub with_no_class: bool,
    pub namespace: Option<&'a str>,
}

impl Selection<'_> {
    pub fn matches(&self, ingress: &Ingress) -> bool {
        let class_matches = match requested_class(ingress) {
            Some(class) => class == self.class,
            None => self.with_no_class,
        };
        let namespace_matches = self
            .namespace
            .is_none_or(|ns| ingress.metadata.namespace.as_deref() == Some(ns));
        class_matches && namespace_matches
    }

    /// The selected Ingresses, by namespace and name.
    pub fn select(&self, ingresses: Vec<Ingress>) -> Vec<Ingress> {
        let mut selected: Vec<Ingress> =
            ingresses.into_iter().filter(|i| self.matches(i)).collect();
        selected.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        selected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: svc }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: a, namespace: shop, annotations: { kubernetes.io/ingress.class: nginx } }
spec: { rules: [] }
---
# an empty document
---
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
   "metadata": {"name": "b", "namespace": "shop"}, "spec": {"ingressClassName": "nginx"}},
  {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
   "metadata": {"name": "c", "namespace": "other"}},
  {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "old"}}
]}
"#;

    #[test]
    fn reads_several_documents_and_lists_and_passes_over_the_rest() {
        let found = ingresses_in(TEXT, Path::new("x.yaml")).unwrap();
        let names: Vec<_> = found
            .ingresses
            .iter()
            .map(|i| i.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(found.skipped.len(), 1);
        assert!(found.skipped[0].contains("Ingress old is extensions/v1beta1"));
    }

    #[test]
    fn a_document_that_does_not_parse_is_an_error_that_says_where() {
        let error = ingresses_in("a: 1\n---\n[unclosed", Path::new("x.yaml")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("x.yaml: document 2 is not YAML"),
            "{error}"
        );
        let bad = "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", \"spec\": 3}";
        let error = ingresses_in(bad, Path::new("y.json")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("y.json: document 1: not an Ingress"),
            "{error}"
        );
    }

    #[test]
    fn selects_by_class_either_way_it_is_named_and_by_namespace() {
        let found = ingresses_in(TEXT, Path::new("x.yaml")).unwrap().ingresses;
        let names = |s: Selection| -> Vec<String> {
            s.select(found.clone())
                .into_iter()
                .filter_map(|i| i.metadata.name)
                .collect()
        };
        let nginx = Selection {
            class: "nginx",
            with_no_class: false,
            namespace: None,
        };
        assert_eq!(names(nginx.clone()), ["a", "b"]);
        assert_eq!(
            names(Selection {
                with_no_class: true,
                ..nginx.clone()
            }),
            ["c", "a", "b"]
        );
        assert_eq!(
            names(Selection {
                namespace: Some("other"),
                ..nginx
            }),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_missing_file_is_an_error_that_names_it() {
        let error = from_files(&[PathBuf::from("/nonexistent/ingresses.yaml")]).unwrap_err();
        assert_eq!(error.to_string(), "cannot read /nonexistent/ingresses.yaml");
        assert!(matches!(error, SourceError::Read { .. }));
    }
}
