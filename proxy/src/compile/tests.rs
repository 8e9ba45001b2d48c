//! Routing semantics, case by case: objects in, route table out, requests looked up.

use std::path::Path;

use sluice_crds::gateway::matching::RequestParts;

use super::*;
use crate::source::manifests::parse_into;

fn objects(yaml: &str) -> ObjectSet {
    let mut set = ObjectSet::default();
    parse_into(yaml, Path::new("test.yaml"), &mut set).unwrap();
    set
}

pub(super) fn compile_yaml(yaml: &str) -> Compiled {
    compile(
        &objects(yaml),
        &CompileOptions {
            class: "sluice".into(),
            controller: sluice_crds::names::CONTROLLER_NAME.into(),
            ssl_redirect: true,
            allowed_response_headers: Vec::new(),
        },
    )
}

/// `(ingress, backend service)` of the route a request gets, or None for 404.
fn route(table: &RouteTable, host: &str, path: &str) -> Option<(String, String)> {
    table.lookup(host, path, &RequestParts::default()).map(|r| {
        let service = r.backend.name.split(':').next().unwrap().to_string();
        (r.ingress.clone(), service)
    })
}

fn served_by(table: &RouteTable, host: &str, path: &str) -> Option<String> {
    route(table, host, path).map(|(_, service)| service)
}

/// An Ingress of class sluice in namespace default: `rules` is YAML for `spec.rules`.
fn ingress(name: &str, created: &str, rules: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{ name: {name}, creationTimestamp: \"{created}\" }}\nspec:\n  ingressClassName: sluice\n  rules:\n{rules}\n"
    )
}

fn path(p: &str, kind: &str, service: &str) -> String {
    format!(
        "      - {{ path: \"{p}\", pathType: {kind}, backend: {{ service: {{ name: {service}, port: {{ number: 80 }} }} }} }}"
    )
}

fn rule(host: Option<&str>, paths: &[String]) -> String {
    let host = host
        .map(|h| format!(" host: \"{h}\"\n   "))
        .unwrap_or_default();
    format!("  -{host} http:\n      paths:\n{}", paths.join("\n"))
}

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-02-01T00:00:00Z";

// The multi-path rows of the Kubernetes documentation's matching table.
#[test]
fn documentation_precedence_examples() {
    let y = ingress(
        "multi",
        T0,
        &rule(
            None,
            &[
                path("/", "Prefix", "root"),
                path("/aaa", "Prefix", "aaa"),
                path("/aaa/bbb", "Prefix", "bbb"),
                path("/foo", "Prefix", "foo-prefix"),
                path("/foo", "Exact", "foo-exact"),
            ],
        ),
    );
    let t = compile_yaml(&y).table;
    assert_eq!(
        served_by(&t, "x", "/aaa/ccc").as_deref(),
        Some("default/aaa")
    );
    assert_eq!(
        served_by(&t, "x", "/aaa/bbb").as_deref(),
        Some("default/bbb")
    );
    assert_eq!(served_by(&t, "x", "/ccc").as_deref(), Some("default/root"));
    assert_eq!(
        served_by(&t, "x", "/foo").as_deref(),
        Some("default/foo-exact")
    );
    assert_eq!(
        served_by(&t, "x", "/foo/").as_deref(),
        Some("default/foo-prefix")
    );
}

#[test]
fn no_match_without_default_backend_is_none() {
    let y = ingress("a", T0, &rule(None, &[path("/aaa", "Prefix", "aaa")]));
    let t = compile_yaml(&y).table;
    assert_eq!(served_by(&t, "x", "/ccc"), None);
    assert_eq!(served_by(&t, "x", "/aaa"), Some("default/aaa".into()));
}

#[test]
fn hosts_exact_before_wildcard_before_any() {
    let y = [
        ingress(
            "exact",
            T0,
            &rule(Some("foo.bar.com"), &[path("/", "Prefix", "exact")]),
        ),
        ingress(
            "wild",
            T0,
            &rule(Some("*.bar.com"), &[path("/", "Prefix", "wild")]),
        ),
        ingress("any", T0, &rule(None, &[path("/", "Prefix", "any")])),
    ]
    .concat();
    let t = compile_yaml(&y).table;
    assert_eq!(
        served_by(&t, "foo.bar.com", "/"),
        Some("default/exact".into())
    );
    assert_eq!(
        served_by(&t, "baz.bar.com", "/"),
        Some("default/wild".into())
    );
    // A wildcard covers exactly one label.
    assert_eq!(
        served_by(&t, "a.baz.bar.com", "/"),
        Some("default/any".into())
    );
    assert_eq!(served_by(&t, "bar.com", "/"), Some("default/any".into()));
}

#[test]
fn a_matched_host_does_not_fall_through_to_other_hosts_paths() {
    let y = [
        ingress(
            "app",
            T0,
            &rule(Some("app.example.com"), &[path("/api", "Prefix", "api")]),
        ),
        ingress("any", T0, &rule(None, &[path("/", "Prefix", "catchall")])),
    ]
    .concat();
    let t = compile_yaml(&y).table;
    assert_eq!(served_by(&t, "app.example.com", "/web"), None);
    assert_eq!(
        served_by(&t, "other.example.com", "/web"),
        Some("default/catchall".into())
    );
}

#[test]
fn several_ingresses_merge_into_one_host() {
    let y = [
        ingress(
            "api",
            T0,
            &rule(Some("app.example.com"), &[path("/api", "Prefix", "api")]),
        ),
        ingress(
            "web",
            T1,
            &rule(Some("app.example.com"), &[path("/", "Prefix", "web")]),
        ),
    ]
    .concat();
    let c = compile_yaml(&y);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(
        route(&c.table, "app.example.com", "/api/v1"),
        Some(("default/api".into(), "default/api".into()))
    );
    assert_eq!(
        route(&c.table, "app.example.com", "/index.html"),
        Some(("default/web".into(), "default/web".into()))
    );
}

#[test]
fn the_oldest_ingress_wins_a_contested_rule_whatever_the_input_order() {
    let newer = ingress(
        "a-newer",
        T1,
        &rule(Some("app.example.com"), &[path("/api", "Prefix", "new")]),
    );
    let older = ingress(
        "z-older",
        T0,
        &rule(Some("app.example.com"), &[path("/api/", "Prefix", "old")]),
    );
    for y in [format!("{newer}{older}"), format!("{older}{newer}")] {
        let c = compile_yaml(&y);
        assert_eq!(
            served_by(&c.table, "app.example.com", "/api"),
            Some("default/old".into())
        );
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].kind, ProblemKind::Conflict);
        assert_eq!(c.problems[0].object, "default/a-newer");
        assert!(
            c.problems[0]
                .message
                .contains("already served by Ingress default/z-older")
        );
    }
}

#[test]
fn same_age_ties_break_by_namespace_then_name() {
    let y = [
        ingress(
            "b",
            T0,
            &rule(Some("h.example.com"), &[path("/", "Prefix", "b")]),
        ),
        ingress(
            "a",
            T0,
            &rule(Some("h.example.com"), &[path("/", "Prefix", "a")]),
        ),
    ]
    .concat();
    let t = compile_yaml(&y).table;
    assert_eq!(
        served_by(&t, "h.example.com", "/"),
        Some("default/a".into())
    );
}

#[test]
fn default_backends_per_host_and_global() {
    let y = format!(
        "{}  defaultBackend: {{ service: {{ name: app-fallback, port: {{ number: 80 }} }} }}\n{}",
        ingress(
            "app",
            T0,
            &rule(Some("app.example.com"), &[path("/api", "Prefix", "api")])
        ),
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: global }\nspec:\n  ingressClassName: sluice\n  defaultBackend: { service: { name: global, port: { number: 80 } } }\n"
    );
    let t = compile_yaml(&y).table;
    assert_eq!(
        served_by(&t, "app.example.com", "/other"),
        Some("default/app-fallback".into())
    );
    assert_eq!(
        served_by(&t, "unknown.example.com", "/"),
        Some("default/global".into())
    );
    assert_eq!(
        served_by(&t, "app.example.com", "/api"),
        Some("default/api".into())
    );
}

#[test]
fn only_our_class_is_served() {
    let y = format!(
        "{}{}{}",
        ingress(
            "ours",
            T0,
            &rule(Some("a.example.com"), &[path("/", "Prefix", "a")])
        ),
        ingress(
            "theirs",
            T0,
            &rule(Some("b.example.com"), &[path("/", "Prefix", "b")])
        )
        .replace("ingressClassName: sluice", "ingressClassName: nginx"),
        ingress(
            "legacy",
            T0,
            &rule(Some("c.example.com"), &[path("/", "Prefix", "c")])
        )
        .replace(
            "metadata: { name: legacy,",
            "metadata: { annotations: { kubernetes.io/ingress.class: sluice }, name: legacy,"
        )
        .replace("  ingressClassName: sluice\n", ""),
    );
    let t = compile_yaml(&y).table;
    assert!(served_by(&t, "a.example.com", "/").is_some());
    assert!(served_by(&t, "b.example.com", "/").is_none());
    assert!(served_by(&t, "c.example.com", "/").is_some());
    assert_eq!(t.ingresses, 2);
}

#[test]
fn classless_ingresses_are_served_when_our_class_is_default() {
    let classless = ingress(
        "plain",
        T0,
        &rule(Some("a.example.com"), &[path("/", "Prefix", "a")]),
    )
    .replace("  ingressClassName: sluice\n", "");
    let class = |default: bool| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: sluice\n  annotations: {{ ingressclass.kubernetes.io/is-default-class: \"{default}\" }}\nspec: {{ controller: sluice.dev/ingress-controller }}\n"
        )
    };
    let t = compile_yaml(&format!("{classless}{}", class(true))).table;
    assert!(served_by(&t, "a.example.com", "/").is_some());
    let t = compile_yaml(&format!("{classless}{}", class(false))).table;
    assert!(served_by(&t, "a.example.com", "/").is_none());
}

#[test]
fn a_class_of_another_controller_with_our_name_is_not_ours() {
    let y = format!(
        "{}---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {{ name: sluice }}\nspec: {{ controller: k8s.io/ingress-nginx }}\n",
        ingress(
            "a",
            T0,
            &rule(Some("a.example.com"), &[path("/", "Prefix", "a")])
        )
    );
    assert_eq!(compile_yaml(&y).table.ingresses, 0);
}

/// A `kubernetes.io/tls` Secret `default/{name}` for `hosts`, as manifest YAML.
fn tls_secret_yaml(name: &str, hosts: &[&str]) -> String {
    let (cert, key, _) = sluice_tests::objects::certificate(hosts).expect("a certificate");
    sluice_tests::objects::to_yaml(&[sluice_tests::objects::tls_secret(
        "default", name, &cert, &key,
    )])
}

#[test]
fn redirects_tls_hosts_unless_the_ingress_opts_out() {
    let with_tls = |name: &str, host: &str, secret: &str, annotations: &str| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{ name: {name}{annotations} }}\nspec:\n  ingressClassName: sluice\n  tls: [{{ hosts: [\"{host}\"], secretName: {secret} }}]\n  rules:\n{}\n",
            rule(Some(host), &[path("/", "Prefix", name)])
        )
    };
    let y = [
        tls_secret_yaml(
            "s",
            &[
                "secure.example.com",
                "optout.example.com",
                "*.wild.example.com",
            ],
        ),
        with_tls("secure", "secure.example.com", "s", ""),
        with_tls(
            "optout",
            "optout.example.com",
            "s",
            ", annotations: { sluice.dev/ssl-redirect: \"false\" }",
        ),
        with_tls("wild", "*.wild.example.com", "s", ""),
        with_tls("pending", "pending.example.com", "missing", ""),
        ingress(
            "plain",
            T0,
            &rule(Some("plain.example.com"), &[path("/", "Prefix", "plain")]),
        ),
    ]
    .concat();
    let c = compile_yaml(&y);
    let redirect = |h| {
        c.table
            .lookup(h, "/", &RequestParts::default())
            .unwrap()
            .redirect_to_https
    };
    assert!(redirect("secure.example.com"));
    assert!(!redirect("optout.example.com"));
    assert!(redirect("a.wild.example.com"));
    assert!(!redirect("plain.example.com"));
    // Its Secret does not exist yet: served over plain HTTP until it does.
    assert!(!redirect("pending.example.com"));
    // The missing Secret is reported, and is not fatal.
    let tls_problems: Vec<_> = c
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::TlsSecret)
        .collect();
    assert_eq!(tls_problems.len(), 1, "{:?}", c.problems);
    assert!(
        tls_problems[0]
            .message
            .contains("Secret default/missing not found")
    );
}

#[test]
fn a_secret_that_turns_broken_keeps_its_certificate_and_a_deleted_one_does_not() {
    let options = CompileOptions {
        class: "sluice".into(),
        controller: sluice_crds::names::CONTROLLER_NAME.into(),
        ssl_redirect: true,
        allowed_response_headers: Vec::new(),
    };
    let app = format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{ name: app }}\nspec:\n  ingressClassName: sluice\n  tls: [{{ hosts: [\"a.example.com\"], secretName: s }}]\n  rules:\n{}\n",
        rule(Some("a.example.com"), &[path("/", "Prefix", "app")])
    );
    let good = compile_yaml(&[tls_secret_yaml("s", &["a.example.com"]), app.clone()].concat());
    let served = good.table.tls.lookup("a.example.com").unwrap().clone();

    // The Secret is edited into garbage: the certificate before it is still served, HTTP
    // still redirected, and the problem names the Secret.
    let broken = "---\napiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: { name: s }\ndata: { tls.crt: bm90IHBlbQ==, tls.key: bm90IHBlbQ== }\n";
    let after = compile_after(&objects(&[broken, &app].concat()), &options, &good.carried);
    assert!(Arc::ptr_eq(
        after.table.tls.lookup("a.example.com").unwrap(),
        &served
    ));
    assert!(
        after
            .table
            .lookup("a.example.com", "/", &RequestParts::default())
            .unwrap()
            .redirect_to_https
    );
    let [problem] = &after.problems[..] else {
        panic!("{:?}", after.problems)
    };
    assert_eq!(problem.kind, ProblemKind::TlsSecret);
    assert!(
        problem.message.starts_with("Secret default/s: ")
            && problem
                .message
                .ends_with("the certificate it held before is still served"),
        "{}",
        problem.message
    );
    // Still broken at the next compile: still kept.
    let again = compile_after(&objects(&[broken, &app].concat()), &options, &after.carried);
    assert!(again.table.tls.lookup("a.example.com").is_some());
    // Broken from the start: nothing to keep.
    assert!(compile_yaml(&[broken, &app].concat()).table.tls.is_empty());
    // Deleted: the host falls back to the default certificate.
    let deleted = compile_after(&objects(&app), &options, &after.carried);
    assert!(deleted.table.tls.is_empty());
    assert!(deleted.carried.certificates.is_empty());
}

#[test]
fn one_regex_rule_makes_its_host_match_every_rule_as_ingress_nginx_orders_them() {
    let regex_ingress = format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{ name: re, creationTimestamp: \"{T1}\", annotations: {{ nginx.ingress.kubernetes.io/use-regex: \"true\" }} }}\nspec:\n  ingressClassName: sluice\n  rules:\n{}\n",
        rule(
            Some("a.example.com"),
            &[path("/foo/bar/[A-Z0-9]{3}", "ImplementationSpecific", "re")]
        )
    );
    let y = [
        ingress(
            "plain",
            T0,
            &rule(
                Some("a.example.com"),
                &[
                    path("/foo/bar/bar", "Prefix", "plain"),
                    path("/foo", "Prefix", "foo"),
                ],
            ),
        ),
        regex_ingress,
        ingress(
            "other-host",
            T0,
            &rule(Some("b.example.com"), &[path("/foo", "Prefix", "foo")]),
        ),
    ]
    .concat();
    let c = compile_yaml(&y);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let t = &c.table;
    // ingress-nginx's documented warning: the longer expression is tried first and wins,
    // so the Prefix /foo/bar/bar never does.
    assert_eq!(
        served_by(t, "a.example.com", "/foo/bar/bar").as_deref(),
        Some("default/re")
    );
    assert_eq!(
        served_by(t, "a.example.com", "/foo/bar/bax").as_deref(),
        Some("default/re")
    );
    assert_eq!(
        served_by(t, "a.example.com", "/foo/bar/ba").as_deref(),
        Some("default/foo")
    );
    // Prefix paths of a regex host match the text they start with, in any case.
    assert_eq!(
        served_by(t, "a.example.com", "/FOOTBALL").as_deref(),
        Some("default/foo")
    );
    assert_eq!(served_by(t, "a.example.com", "/bar"), None);
    // Another host keeps Prefix semantics.
    assert_eq!(served_by(t, "b.example.com", "/football"), None);
    assert_eq!(
        served_by(t, "b.example.com", "/foo/x").as_deref(),
        Some("default/foo")
    );
    assert_eq!(t.route_count(), 4);
}

#[test]
fn invalid_rules_and_annotations_are_reported_and_the_rest_served() {
    let y = ingress(
        "mixed",
        T0,
        &rule(
            Some("a.example.com"),
            &[path("api", "Prefix", "bad"), path("/ok", "Prefix", "ok")],
        ),
    )
    .replace(
        "metadata: { name: mixed,",
        "metadata: { annotations: { sluice.dev/read-timeout: soon }, name: mixed,",
    );
    let c = compile_yaml(&y);
    assert!(served_by(&c.table, "a.example.com", "/ok").is_some());
    let kinds: Vec<_> = c.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [ProblemKind::InvalidAnnotation, ProblemKind::InvalidRule]
    );
}

#[test]
fn the_table_serialises_for_the_routes_endpoint() {
    let y = ingress(
        "a",
        T0,
        &rule(
            Some("a.example.com"),
            &[path("/", "Prefix", "a"), path("/x", "Exact", "x")],
        ),
    );
    let t = compile_yaml(&y).table;
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(
        json["exact_hosts"]["a.example.com"]["prefixes"]["/"]["ingress"],
        "default/a"
    );
    assert_eq!(
        json["exact_hosts"]["a.example.com"]["exact"]["/x"]["backend"]["problem"],
        "Service default/x not found"
    );
    assert_eq!(t.route_count(), 2);
}

#[test]
fn an_ingress_whose_host_rules_all_lost_keeps_its_default_backend_to_its_hosts() {
    let older = ingress(
        "older",
        T0,
        &rule(Some("app.example.com"), &[path("/", "Prefix", "older")]),
    );
    let loser = format!(
        "{}  defaultBackend: {{ service: {{ name: loser-fallback, port: {{ number: 80 }} }} }}\n",
        ingress(
            "loser",
            T1,
            &rule(Some("app.example.com"), &[path("/", "Prefix", "loser")])
        )
    );
    let t = compile_yaml(&format!("{older}{loser}")).table;
    assert!(t.default_backend.is_none(), "not a class-wide default");
    assert_eq!(served_by(&t, "other.example.com", "/"), None);
}

#[test]
fn the_ssl_redirect_annotation_overrides_the_proxy_setting_both_ways() {
    let y = format!(
        "{}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{ name: on, annotations: {{ sluice.dev/ssl-redirect: \"true\" }} }}\nspec:\n  ingressClassName: sluice\n  tls: [{{ hosts: [\"on.example.com\"], secretName: s }}]\n  rules:\n{}\n",
        tls_secret_yaml("s", &["on.example.com"]),
        rule(Some("on.example.com"), &[path("/", "Prefix", "on")])
    );
    let c = compile(
        &objects(&y),
        &CompileOptions {
            class: "sluice".into(),
            controller: sluice_crds::names::CONTROLLER_NAME.into(),
            ssl_redirect: false,
            allowed_response_headers: Vec::new(),
        },
    );
    assert!(
        c.table
            .lookup("on.example.com", "/", &RequestParts::default())
            .unwrap()
            .redirect_to_https
    );
}

fn service_and_slice(name: &str, ip: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{ name: {name}, namespace: default }}\nspec: {{ ports: [{{ name: http, port: 80 }}] }}\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{ name: {name}-1, namespace: default, labels: {{ kubernetes.io/service-name: {name} }} }}\n\
         addressType: IPv4\nports: [{{ name: http, port: 8080 }}]\nendpoints: [{{ addresses: [\"{ip}\"] }}]\n"
    )
}

#[test]
fn an_endpoint_update_reaches_every_route_to_the_service_without_a_recompile() {
    let routes = format!(
        "{}{}{}{}",
        ingress(
            "a",
            T0,
            &rule(Some("a.example.com"), &[path("/", "Prefix", "api")])
        ),
        ingress(
            "b",
            T1,
            &rule(Some("b.example.com"), &[path("/", "Prefix", "api")])
        ),
        service_and_slice("api", "10.0.0.1"),
        service_and_slice("web", "10.0.0.9"),
    );
    let c = compile_yaml(&routes);
    let endpoints = |host: &str| {
        c.table
            .lookup(host, "/", &RequestParts::default())
            .unwrap()
            .backend
            .endpoints()
            .addrs
            .clone()
    };
    let before: Vec<std::net::SocketAddr> = vec!["10.0.0.1:8080".parse().unwrap()];
    assert_eq!(endpoints("a.example.com"), before);

    let moved = objects(&routes.replace("10.0.0.1", "10.0.0.2"));
    let mut changed = crate::objects::ServiceSet::default();
    changed.insert("default", "api");
    let updated = backends::refresh(
        &c.table.backends,
        &changed,
        moved.services.iter().map(AsRef::as_ref),
        moved.endpoint_slices.iter().map(AsRef::as_ref),
    );
    // One backend, shared by both Ingresses' routes.
    assert_eq!(updated, 1);
    let after: Vec<std::net::SocketAddr> = vec!["10.0.0.2:8080".parse().unwrap()];
    assert_eq!(endpoints("a.example.com"), after);
    assert_eq!(endpoints("b.example.com"), after);
}
