//! The migration report on a real control plane: `sluice-migrate` reads ingress-nginx's
//! Ingresses from the API server, and what it calls safe, careful or unsafe is what the real
//! admission webhook then admits or refuses when its rewritten Ingresses are applied.
//! Needs the binaries built (`cargo build -p sluice-operator --bins`; `make test` does).

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use sluice_tests::TestCluster;
use sluice_tests::objects::{ingress, path};
use sluice_tests::operator::{Operator, WebhookCluster};
use sluice_tests::tools::{cargo_bin, workspace_root};

/// Runs the real `sluice-migrate` with `args`.
fn migrate(args: &[&str]) -> anyhow::Result<Output> {
    Ok(std::process::Command::new(cargo_bin("sluice-migrate")?)
        .args(args)
        .output()?)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An ingress-nginx Ingress for `host`, with `annotations`.
fn nginx_ingress(name: &str, host: &str, annotations: Value) -> Value {
    let mut object = ingress(
        "default",
        name,
        "nginx",
        &[(Some(host), vec![path("/", "Prefix", "svc", 80)])],
    );
    object["metadata"]["annotations"] = annotations;
    object
}

/// A control plane with Sluice's webhook (and classes `sluice` and `nginx`), and three
/// ingress-nginx Ingresses: `safe` (annotations Sluice honours), `snippet` (a snippet, and
/// its class in the legacy annotation) and `passthrough` (an annotation Sluice ignores).
async fn setup() -> anyhow::Result<(TestCluster, Operator)> {
    let WebhookCluster {
        cluster, operator, ..
    } = WebhookCluster::start("Fail").await?;
    let mut snippet = nginx_ingress(
        "snippet",
        "admin.example.com",
        json!({
            "kubernetes.io/ingress.class": "nginx",
            "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers \"X-Frame-Options: DENY\";",
        }),
    );
    snippet["spec"]
        .as_object_mut()
        .map(|spec| spec.remove("ingressClassName"));
    cluster.apply(&[
        nginx_ingress(
            "safe",
            "shop.example.com",
            json!({
                "nginx.ingress.kubernetes.io/ssl-redirect": "false",
                "nginx.ingress.kubernetes.io/app-root": "/app",
            }),
        ),
        snippet,
        nginx_ingress(
            "passthrough",
            "passthrough.example.com",
            json!({ "nginx.ingress.kubernetes.io/ssl-passthrough": "true" }),
        ),
        // Sluice's own: not read with --ingress-class nginx.
        ingress(
            "default",
            "already-sluice",
            "sluice",
            &[(
                Some("other.example.com"),
                vec![path("/", "Prefix", "svc", 80)],
            )],
        ),
    ])?;
    Ok((cluster, operator))
}

#[tokio::test]
async fn the_report_reads_the_cluster_and_agrees_with_the_webhook() -> anyhow::Result<()> {
    let (cluster, _operator) = setup().await?;
    let kubeconfig = cluster.kubeconfig().to_string_lossy().into_owned();

    // Text: a verdict per Ingress, the annotations' verdicts, a summary; not all safe: 2.
    let out = migrate(&["--kubeconfig", &kubeconfig])?;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}{}", stderr(&out));
    for line in [
        "Ingress default/safe (to class sluice): safe to switch",
        "  honoured           nginx.ingress.kubernetes.io/ssl-redirect: \"false\"",
        "  honoured, differs  nginx.ingress.kubernetes.io/app-root: \"/app\"",
        "Ingress default/snippet (to class sluice): not safe to switch",
        "  refused            nginx.ingress.kubernetes.io/configuration-snippet: ",
        "Ingress default/passthrough (to class sluice): switch with care",
        "  unsupported        nginx.ingress.kubernetes.io/ssl-passthrough: \"true\"",
        "3 Ingresses of class nginx: 1 safe to switch, 1 to switch with care, 1 not safe to switch.",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("already-sluice"), "{text}");

    // JSON: the same, as data.
    let out = migrate(&["--kubeconfig", &kubeconfig, "--output", "json"])?;
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let verdicts: Vec<(&str, &str)> = report["ingresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default(),
                i["verdict"]["safety"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("passthrough", "with_care"),
            ("safe", "safe"),
            ("snippet", "unsafe"),
        ]
    );
    let refusal = report["ingresses"][2]["verdict"]["reasons"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // YAML: the Ingresses rewritten for Sluice's class, each after its verdict.
    let out = migrate(&["--kubeconfig", &kubeconfig, "-o", "yaml"])?;
    assert_eq!(out.status.code(), Some(2));
    let yaml = stdout(&out);
    assert!(
        yaml.contains("# default/snippet: not safe to switch\n#   annotation nginx.ingress.kubernetes.io/configuration-snippet: "),
        "{yaml}"
    );
    assert!(yaml.contains("# default/safe: safe to switch\n"), "{yaml}");
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&yaml) {
        use serde::Deserialize;
        documents.push(Value::deserialize(document)?);
    }
    assert_eq!(documents.len(), 3, "{yaml}");
    for document in &documents {
        assert_eq!(document["spec"]["ingressClassName"], "sluice", "{document}");
        assert!(
            document["metadata"]["annotations"]
                .get("kubernetes.io/ingress.class")
                .is_none(),
            "{document}"
        );
        assert!(document["metadata"].get("uid").is_none(), "{document}");
    }
    // ingress-nginx's annotations stay: Sluice reads them.
    assert_eq!(documents[1]["metadata"]["name"], "safe");
    assert_eq!(
        documents[1]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/app-root"],
        "/app"
    );

    // Applied (dry run) over the originals, through Sluice's webhook: what the report
    // called safe or careful is admitted, what it called unsafe is refused, for its reason.
    for document in &documents {
        let name = document["metadata"]["name"].as_str().unwrap_or_default();
        let out = cluster.kubectl_stdin(
            &["apply", "--dry-run=server", "-f", "-"],
            &sluice_tests::objects::to_yaml(std::slice::from_ref(document)),
        )?;
        let said = format!("{}{}", stdout(&out), stderr(&out));
        match name {
            "snippet" => {
                assert!(!out.status.success(), "{said}");
                assert!(
                    said.contains(&format!("Ingress default/snippet: {refusal}")),
                    "the webhook refuses for the report's reason {refusal:?}:\n{said}"
                );
            }
            "passthrough" => {
                assert!(out.status.success(), "{said}");
                assert!(
                    said.contains("Warning: annotation nginx.ingress.kubernetes.io/ssl-passthrough is not implemented by Sluice and is ignored"),
                    "{said}"
                );
            }
            _ => assert!(out.status.success(), "{said}"),
        }
    }

    // A namespace without ingress-nginx's Ingresses: nothing to do, all safe.
    let out = migrate(&["--kubeconfig", &kubeconfig, "--namespace", "kube-system"])?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "No Ingress of class nginx found.\n");
    Ok(())
}

#[test]
fn the_report_reads_files_and_directories() -> anyhow::Result<()> {
    // The demo's Ingress, in Sluice's class already, among a Service and Deployments.
    let seed = workspace_root().join("examples/seed.yaml");
    let out = migrate(&[
        "--from-file",
        &seed.to_string_lossy(),
        "--ingress-class",
        "sluice",
    ])?;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("Ingress default/app (to class sluice): safe to switch\n  honoured           sluice.dev/ssl-redirect: \"false\"\n"),
        "{text}"
    );

    // A directory: its manifests, JSON and List kinds included.
    let dir = tempfile::tempdir()?;
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": [
        nginx_ingress("a", "a.example.com", json!({ "nginx.ingress.kubernetes.io/proxy-body-size": "8m" })),
        nginx_ingress("b", "b.example.com", json!({ "nginx.ingress.kubernetes.io/proxy-body-size": "lots" })),
    ]});
    std::fs::write(dir.path().join("list.json"), list.to_string())?;
    std::fs::write(dir.path().join("notes.txt"), "not a manifest")?;
    let out = migrate(&["--from-file", &dir.path().to_string_lossy(), "-o", "json"])?;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        report["summary"],
        json!({ "safe": 1, "with_care": 0, "unsafe": 1 })
    );
    assert_eq!(
        report["ingresses"][1]["annotations"][0]["verdict"],
        "invalid"
    );
    Ok(())
}

#[test]
fn errors_say_what_failed_and_exit_1() -> anyhow::Result<()> {
    let out = migrate(&["--from-file", "/nonexistent/ingresses.yaml"])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "sluice-migrate: cannot read /nonexistent/ingresses.yaml: No such file or directory (os error 2)\n"
    );

    // A cluster that is not there.
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters: [{ name: c, cluster: { server: \"https://127.0.0.1:1\" } }]\n\
         users: [{ name: u, user: { token: t } }]\n\
         contexts: [{ name: c, context: { cluster: c, user: u } }]\n",
    )?;
    let out = migrate(&["--kubeconfig", &path_text(&kubeconfig)])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("sluice-migrate: cannot list Ingresses in the cluster (is it reachable, and may you list ingresses?): "),
        "{}",
        stderr(&out)
    );
    Ok(())
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
