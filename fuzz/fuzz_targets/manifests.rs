//! The manifest parser (`source::manifests::parse_into`: multi-document YAML or JSON, `kind:
//! List`, the kinds the proxy reads) and, on what it accepts, the route compiler
//! (`compile::compile`: classes, rules, precedence, backends and endpoints, TLS Secrets,
//! annotations) and the route table's lookup.
//!
//! Input: the text of one manifest file (inputs that are not UTF-8 are skipped, as the file
//! source cannot read them either).
//!
//! Checked besides "no panic": the compiled table counts no more Ingresses than it was
//! given; every rule's host and path can be looked up; and, when no two objects share a kind,
//! namespace and name (as in a cluster), compiling the objects in the opposite order gives
//! the same table and the same problems.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sluice_crds::gateway::matching::RequestParts;
use sluice_crds::ingress::normalize_request_host;
use sluice_crds::names::CONTROLLER_NAME;
use sluice_proxy::compile::{CompileOptions, Compiled, Problem, compile};
use sluice_proxy::objects::ObjectSet;
use sluice_proxy::source::manifests::parse_into;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut set = ObjectSet::default();
    if parse_into(text, Path::new("fuzz.yaml"), &mut set).is_err() {
        return;
    }
    let options = CompileOptions {
        class: "sluice".into(),
        controller: CONTROLLER_NAME.into(),
        ssl_redirect: true,
        allowed_response_headers: Vec::new(),
    };
    let compiled = compile(&set, &options);
    let table = &compiled.table;
    assert!(table.ingresses <= set.ingresses.len());
    let _ = table.route_count();

    for ingress in &set.ingresses {
        let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_deref());
        for rule in rules.unwrap_or_default() {
            let host = normalize_request_host(rule.host.as_deref().unwrap_or("unnamed.example"));
            let paths = rule.http.as_ref().map(|h| h.paths.as_slice());
            for path in paths.unwrap_or_default() {
                let path = path.path.as_deref().unwrap_or("/");
                let _ = table.lookup(&host, path, &RequestParts::default());
            }
            let _ = table.lookup(&host, "/", &RequestParts::default());
            let _ = table.tls.lookup(&host);
        }
    }

    if !has_duplicates(&set) {
        let reversed = ObjectSet {
            ingresses: set.ingresses.iter().rev().cloned().collect(),
            classes: set.classes.iter().rev().cloned().collect(),
            services: set.services.iter().rev().cloned().collect(),
            endpoint_slices: set.endpoint_slices.iter().rev().cloned().collect(),
            secrets: set.secrets.iter().rev().cloned().collect(),
            config_maps: set.config_maps.iter().rev().cloned().collect(),
            ..ObjectSet::default()
        };
        let again = compile(&reversed, &options);
        assert_eq!(
            summary(&compiled),
            summary(&again),
            "the order of the objects changed the table"
        );
    }
});

/// Two objects of one kind with the same namespace and name: a cluster cannot hold them,
/// and which one wins is then the order of the files.
fn has_duplicates(set: &ObjectSet) -> bool {
    let mut seen = std::collections::HashSet::new();
    let metas = set
        .ingresses
        .iter()
        .map(|o| ("Ingress", &o.metadata))
        .chain(set.classes.iter().map(|o| ("IngressClass", &o.metadata)))
        .chain(set.services.iter().map(|o| ("Service", &o.metadata)))
        .chain(
            set.endpoint_slices
                .iter()
                .map(|o| ("EndpointSlice", &o.metadata)),
        )
        .chain(set.secrets.iter().map(|o| ("Secret", &o.metadata)))
        .chain(set.config_maps.iter().map(|o| ("ConfigMap", &o.metadata)));
    for (kind, meta) in metas {
        let key = (
            kind,
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        if !seen.insert(key) {
            return true;
        }
    }
    false
}

/// The table as `/routes` shows it, its TLS hosts' count, and the problems in a fixed order.
fn summary(compiled: &Compiled) -> (serde_json::Value, usize, Vec<Problem>) {
    let table = serde_json::to_value(&compiled.table).expect("the table serialises");
    let mut problems = compiled.problems.clone();
    problems.sort_by(|a, b| (&a.object, &a.message).cmp(&(&b.object, &b.message)));
    (table, compiled.table.tls.len(), problems)
}
