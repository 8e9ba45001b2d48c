//! Which of Sluice's IngressClasses serves an Ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::names::{DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION};

/// Sluice's IngressClasses by name, and which of them (if any) is the cluster default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OurClasses {
    classes: BTreeMap<String, bool>,
}

impl OurClasses {
    /// Keeps the classes whose `spec.controller` is `controller` (this installation's).
    pub fn from_classes<'a>(
        controller: &str,
        classes: impl IntoIterator<Item = &'a IngressClass>,
    ) -> Self {
        let mut ours = Self::default();
        for class in classes {
            let value = class.spec.as_ref().and_then(|s| s.controller.as_deref());
            if value != Some(controller) {
                continue;
            }
            if let Some(name) = &class.metadata.name {
                let is_default = class
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                    .is_some_and(|v| v == "true");
                ours.classes.insert(name.clone(), is_default);
            }
        }
        ours
    }

    /// Adds a class known by name only (a proxy run from manifests without an
    /// IngressClass object still serves the class it was started for).
    pub fn insert(&mut self, name: &str, is_default: bool) {
        self.classes.entry(name.to_string()).or_insert(is_default);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.classes.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The default class among ours, if any (the first by name when several claim it).
    pub fn default_class(&self) -> Option<&str> {
        self.classes
            .iter()
            .find(|(_, is_default)| **is_default)
            .map(|(name, _)| name.as_str())
    }

    /// The Sluice class that serves `ingress`: the one it names (`spec.ingressClassName`,
    /// else the legacy annotation) if that class is ours; with no class named, our default
    /// class if we have one. `None`: not ours, leave it alone.
    pub fn class_of(&self, ingress: &Ingress) -> Option<&str> {
        match requested_class(ingress) {
            Some(name) => self
                .classes
                .get_key_value(name)
                .map(|(name, _)| name.as_str()),
            None => self.default_class(),
        }
    }
}

/// The class an Ingress asks for, if it names one.
pub fn requested_class(ingress: &Ingress) -> Option<&str> {
    ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ingress
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
                .map(String::as_str)
        })
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::CONTROLLER_NAME;
    use serde_json::json;

    fn class(name: &str, controller: &str, default: bool) -> IngressClass {
        serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "annotations": { DEFAULT_CLASS_ANNOTATION: default.to_string() }
            },
            "spec": { "controller": controller }
        }))
        .unwrap()
    }

    fn ingress(spec_class: Option<&str>, annotation: Option<&str>) -> Ingress {
        let mut v = json!({ "metadata": { "name": "i", "namespace": "ns" }, "spec": {} });
        if let Some(c) = spec_class {
            v["spec"]["ingressClassName"] = json!(c);
        }
        if let Some(a) = annotation {
            v["metadata"]["annotations"] = json!({ LEGACY_CLASS_ANNOTATION: a });
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resolves_by_field_then_annotation_then_default() {
        let ours = OurClasses::from_classes(
            CONTROLLER_NAME,
            &[
                class("sluice", CONTROLLER_NAME, true),
                class("internal", CONTROLLER_NAME, false),
                class("nginx", "k8s.io/ingress-nginx", false),
            ],
        );
        assert_eq!(
            ours.class_of(&ingress(Some("internal"), None)),
            Some("internal")
        );
        assert_eq!(
            ours.class_of(&ingress(None, Some("internal"))),
            Some("internal")
        );
        // The field wins over the annotation.
        assert_eq!(
            ours.class_of(&ingress(Some("sluice"), Some("internal"))),
            Some("sluice")
        );
        assert_eq!(ours.class_of(&ingress(None, None)), Some("sluice"));
        assert_eq!(ours.class_of(&ingress(Some("nginx"), None)), None);
        assert_eq!(ours.class_of(&ingress(Some("unknown"), None)), None);
    }

    #[test]
    fn classless_ingresses_are_ours_only_with_a_default_class() {
        let ours =
            OurClasses::from_classes(CONTROLLER_NAME, &[class("sluice", CONTROLLER_NAME, false)]);
        assert_eq!(ours.class_of(&ingress(None, None)), None);
        let mut named = OurClasses::default();
        named.insert("sluice", false);
        assert_eq!(
            named.class_of(&ingress(Some("sluice"), None)),
            Some("sluice")
        );
    }

    #[test]
    fn classes_of_another_installation_are_not_ours() {
        let classes = [
            class("sluice", CONTROLLER_NAME, true),
            class("internal", "example.com/internal", false),
        ];
        let public = OurClasses::from_classes(CONTROLLER_NAME, &classes);
        let internal = OurClasses::from_classes("example.com/internal", &classes);
        assert!(public.contains("sluice") && !public.contains("internal"));
        assert!(internal.contains("internal") && !internal.contains("sluice"));
        // Classless Ingresses go to the default class's installation only.
        assert_eq!(public.class_of(&ingress(None, None)), Some("sluice"));
        assert_eq!(internal.class_of(&ingress(None, None)), None);
    }
}
