//! The route table against the shared semantics: for generated Ingress sets and requests,
//! the compiled table's lookup (hash maps and a trie) must pick the rule that crds'
//! `HostMatch::matches` and `PathMatch::matches` pick when applied one by one, in the order
//! the Ingress v1 rules give (exact host, then wildcard, then no host; Exact path, then the
//! longest matching Prefix).

use proptest::prelude::*;
use sluice_crds::gateway::matching::RequestParts;
use sluice_crds::ingress::{HostMatch, PathKind, PathMatch};

use super::tests::compile_yaml;

const HOSTS: [Option<&str>; 4] = [
    Some("a.example.com"),
    Some("b.example.com"),
    Some("*.example.com"),
    None,
];
const PATHS: [&str; 7] = ["/", "/a", "/a/b", "/a/bc", "/b", "/a/b/c", "/a/"];
const REQUEST_HOSTS: [&str; 5] = [
    "a.example.com",
    "b.example.com",
    "c.example.com",
    "x.a.example.com",
    "example.com",
];
const REQUEST_PATHS: [&str; 10] = [
    "/", "/a", "/a/", "/a/b", "/a/bc", "/a/b/c/d", "/b", "/ab", "/c", "/a//b",
];

/// One rule of its own Ingress, to the Service `svc-N`.
#[derive(Clone, Debug)]
struct Rule {
    host: Option<&'static str>,
    path: &'static str,
    exact: bool,
}

/// The Service the shared semantics send the request to, if any.
fn oracle(rules: &[(HostMatch, PathMatch, usize)], host: &str, path: &str) -> Option<String> {
    let of_kind = |wanted: fn(&HostMatch) -> bool| -> Vec<&(HostMatch, PathMatch, usize)> {
        rules
            .iter()
            .filter(|(h, _, _)| wanted(h) && h.matches(host))
            .collect()
    };
    let exact = of_kind(|h| matches!(h, HostMatch::Exact(_)));
    let wildcard = of_kind(|h| matches!(h, HostMatch::Wildcard(_)));
    let any = of_kind(|h| matches!(h, HostMatch::Any));
    let group = [exact, wildcard, any].into_iter().find(|g| !g.is_empty())?;
    let exact_path = group
        .iter()
        .find(|(_, p, _)| p.kind == PathKind::Exact && p.matches(path));
    let winner = exact_path.or_else(|| {
        group
            .iter()
            .filter(|(_, p, _)| p.kind == PathKind::Prefix && p.matches(path))
            .max_by_key(|(_, p, _)| p.depth())
    })?;
    Some(format!("svc-{}", winner.2))
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(
        (0..HOSTS.len(), 0..PATHS.len(), any::<bool>()).prop_map(|(h, p, exact)| Rule {
            host: HOSTS[h],
            path: PATHS[p],
            exact,
        }),
        0..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_table_routes_as_the_shared_semantics_say(generated in rules()) {
        // One claim per (host, path, type): contested rules are another test's subject.
        let mut claims: Vec<(HostMatch, PathMatch, usize)> = Vec::new();
        let mut yaml = String::new();
        for (i, rule) in generated.iter().enumerate() {
            let host = HostMatch::parse(rule.host).unwrap();
            let path = PathMatch::parse(Some(rule.path), if rule.exact { "Exact" } else { "Prefix" }).unwrap();
            if claims.iter().any(|(h, p, _)| *h == host && *p == path) {
                continue;
            }
            claims.push((host, path, i));
            let host_line = rule.host.map(|h| format!(" host: \"{h}\"\n   ")).unwrap_or_default();
            let kind = if rule.exact { "Exact" } else { "Prefix" };
            yaml.push_str(&format!(
                "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{ name: i{i}, creationTimestamp: \"2025-01-01T00:00:00Z\" }}\nspec:\n  ingressClassName: sluice\n  rules:\n  -{host_line} http:\n      paths:\n      - {{ path: \"{}\", pathType: {kind}, backend: {{ service: {{ name: svc-{i}, port: {{ number: 80 }} }} }} }}\n",
                rule.path
            ));
        }
        let compiled = compile_yaml(&yaml);
        prop_assert!(compiled.problems.is_empty(), "{:?}", compiled.problems);
        for host in REQUEST_HOSTS {
            for path in REQUEST_PATHS {
                let got = compiled.table.lookup(host, path, &RequestParts::default()).map(|r| {
                    let service = r.backend.name.rsplit_once('/').map_or(r.backend.name.as_str(), |(_, s)| s);
                    service.split(':').next().unwrap_or_default().to_string()
                });
                prop_assert_eq!(got, oracle(&claims, host, path), "{} {}\n{}", host, path, yaml);
            }
        }
    }
}
