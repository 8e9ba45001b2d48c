use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::BUNDLE_VERSION;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `(kind's plural, sha256 of its CRD, sha256 of its generated file)` from `SOURCES`.
fn sources() -> Vec<(String, String, String)> {
    let path = root().join("crds/src/gateway_api/SOURCES");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "SOURCES line {line:?}");
            (fields[0].into(), fields[1].into(), fields[2].into())
        })
        .collect()
}

#[test]
fn the_types_were_generated_from_the_charts_crds_and_not_edited() {
    let sources = sources();
    assert_eq!(sources.len(), 8, "one line per generated kind");
    for (plural, crd_sha, rs_sha) in sources {
        let crd = root().join(format!(
            "charts/sluice/charts/gateway-api-crds/crds/gateway.networking.k8s.io_{plural}.yaml"
        ));
        assert_eq!(
            sha256(&crd),
            crd_sha,
            "{plural}: the chart's CRD changed since the types were generated; run build/gateway-api.sh"
        );
        let rs = root().join(format!("crds/src/gateway_api/{plural}.rs"));
        assert_eq!(
            sha256(&rs),
            rs_sha,
            "{plural}.rs differs from what kopium generated; run build/gateway-api.sh"
        );
    }
}

#[test]
fn the_charts_crds_are_the_release_the_conformance_suite_pins() {
    let go_mod =
        std::fs::read_to_string(root().join("tests/conformance/go.mod")).unwrap_or_default();
    // The CRDs' module, and the conformance suite's, at the same release.
    for module in [
        "sigs.k8s.io/gateway-api",
        "sigs.k8s.io/gateway-api/conformance",
    ] {
        let pinned = format!("{module} {BUNDLE_VERSION}");
        assert!(
            go_mod.lines().any(|l| {
                let l = l.trim().trim_start_matches("require ");
                l == pinned || l.starts_with(&format!("{pinned} "))
            }),
            "tests/conformance/go.mod must pin {pinned}"
        );
    }
    let dir = root().join("charts/sluice/charts/gateway-api-crds/crds");
    let mut crds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            text.contains(&format!(
                "gateway.networking.k8s.io/bundle-version: {BUNDLE_VERSION}\n"
            )) && text.contains("gateway.networking.k8s.io/channel: standard\n"),
            "{}: not the {BUNDLE_VERSION} standard channel",
            path.display()
        );
        crds += 1;
    }
    assert_eq!(crds, 10, "every CRD of the standard channel");
}

/// The types read a real object, with fields of a later release ignored rather than
/// refused.
#[test]
fn an_httproute_reads_into_the_types() {
    use super::httproutes::{HttpRoute, HttpRouteRulesMatchesPathType};
    let route: HttpRoute = serde_json::from_value(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {
            "parentRefs": [{"name": "edge", "sectionName": "http"}],
            "hostnames": ["shop.example.com"],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/cart"}}],
                "backendRefs": [{"name": "cart", "port": 8080, "weight": 3}],
                "someFutureField": true
            }]
        }
    }))
    .expect("a valid HTTPRoute");
    let rules = route.spec.rules.unwrap_or_default();
    let path = rules[0].matches.as_ref().and_then(|m| m[0].path.as_ref());
    assert_eq!(
        path.and_then(|p| p.r#type.clone()),
        Some(HttpRouteRulesMatchesPathType::PathPrefix)
    );
    assert_eq!(
        rules[0].backend_refs.as_ref().map(|b| b[0].weight),
        Some(Some(3))
    );
}
