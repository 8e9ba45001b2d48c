//! `make demo`: the picture of docs/architecture.md, live on this machine, until Ctrl-C.
//! With `--acme` (`make demo-acme`), cert-manager and the pebble ACME server too, set up as
//! tests/e2e/cert_manager.rs does, issuing the certificate for app.example.com.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use sluice_tests::acme::{Acme, issuer_ready, served};
use sluice_tests::seed::{FLEET, HOST, NAMESPACE, Progress, Seed};
use sluice_tests::tools::{tool, workspace_root};

/// The ClusterIssuer of `--acme`, and the Secret (and Certificate) it fills for the seed's
/// Ingress.
const ISSUER: &str = "pebble";
const ACME_SECRET: &str = "app-example-acme-tls";
const USAGE: &str = "usage: sluice-demo [--acme]";

fn say(text: &str) {
    println!("{text}");
    let _ = std::io::stdout().flush();
}

/// Runs a command the reader could type, showing it and what it printed; whether it
/// succeeded.
fn show(display: &str, program: &Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> bool {
    say(&format!("\n$ {display}"));
    let mut command = Command::new(program);
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    match command.output() {
        Ok(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            print!("{}", String::from_utf8_lossy(&out.stderr));
            if !out.stdout.ends_with(b"\n") && !out.stdout.is_empty() {
                println!();
            }
            out.status.success()
        }
        Err(e) => {
            say(&format!("(could not run it: {e})"));
            false
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut with_acme = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--acme" => with_acme = true,
            "-h" | "--help" => {
                say(USAGE);
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    let started = Instant::now();
    say(
        "Sluice demo: a real single-node cluster, the chart installed with helm, Sluice running as pods.",
    );
    if with_acme {
        say(
            "With cert-manager and the pebble ACME server issuing the certificate for app.example.com.",
        );
    }
    say("");
    let mut progress = |step: &str| {
        say(&format!(
            "[{:5.1}s] {step}",
            started.elapsed().as_secs_f64()
        ))
    };
    let seed = Seed::start(&mut progress, &[]).await?;
    let up = started.elapsed();

    let tools = workspace_root().join("target").join("tools");
    let kubeconfig = seed.cluster.kubeconfig().to_path_buf();
    let (http, https) = (seed.http(), seed.https());
    say(&format!("\nUp in {:.1}s. The picture:", up.as_secs_f64()));
    say(&format!(
        "  you ──▶ {http} (HTTP) / {https} (HTTPS) ──▶ NodePorts 30080/30443 of Service {NAMESPACE}/{FLEET}"
    ));
    say(
        "          └─▶ sluice-proxy pods ─▶ host app.example.com: /api → api-svc, / → frontend-svc",
    );
    say(&format!(
        "\nUse it yourself (in another shell):\n  export KUBECONFIG={} PATH={}:$PATH",
        kubeconfig.display(),
        tools.display()
    ));

    let kubectl = tool("kubectl")?;
    let env = [("KUBECONFIG", kubeconfig.as_os_str())];
    let kubectl_show = |args: &[&str]| {
        show(&format!("kubectl {}", args.join(" ")), &kubectl, args, &env);
    };
    kubectl_show(&["get", "svc", "-n", NAMESPACE]);
    kubectl_show(&["get", "deployment", "-A"]);
    kubectl_show(&["get", "pods", "-A"]);
    kubectl_show(&["describe", "ingress", "app"]);

    let curl = which("curl").ok();
    if let Some(curl) = &curl {
        let host = format!("Host: {HOST}");
        for path in ["/api", "/"] {
            let url = format!("http://{http}{path}");
            show(
                &format!("curl -s -H '{host}' {url}"),
                curl,
                &["-s", "-H", &host, &url],
                &[],
            );
        }
        let resolve = format!("{HOST}:{}:{}", https.port(), https.ip());
        let url = format!("https://{HOST}:{}/api", https.port());
        let ca = seed.certificate_file.to_string_lossy().into_owned();
        show(
            &format!("curl -s --http2 --resolve {resolve} --cacert {ca} {url}"),
            curl,
            &[
                "-s",
                "--http2",
                "--resolve",
                &resolve,
                "--cacert",
                &ca,
                &url,
            ],
            &[],
        );
    } else {
        say("\n(curl is not installed; skipping the curl examples)");
    }

    say("\nA second Ingress claiming app.example.com /api is refused by the admission webhook:");
    let conflict = workspace_root().join("examples/conflict.yaml");
    kubectl_show(&["apply", "-f", conflict.to_str().unwrap_or_default()]);
    kubectl_show(&["get", "ingress", "-A"]);

    let acme = if with_acme {
        Some(acme(&seed, &mut progress, &kubectl, &env, curl.as_deref()).await?)
    } else {
        None
    };

    say("\nRunning. Press Ctrl-C to stop everything.");
    tokio::signal::ctrl_c().await?;
    if acme.is_some() {
        say("\nStopping cert-manager's controller, pebble and pebble-challtestsrv...");
        drop(acme);
    }
    say("\nStopping the cluster: pods, node, control plane...");
    drop(seed);
    say("Stopped; nothing is left running.");
    Ok(())
}

/// `--acme`: cert-manager and pebble as tests/e2e/cert_manager.rs sets them up, a
/// ClusterIssuer for Sluice's class, the seed's Ingress asking it for its certificate, and
/// `curl` trusting pebble's root. On failure, shows the logs of cert-manager and pebble.
async fn acme(
    seed: &Seed,
    progress: &mut dyn Progress,
    kubectl: &Path,
    env: &[(&str, &std::ffi::OsStr)],
    curl: Option<&Path>,
) -> anyhow::Result<Acme> {
    say("");
    let acme = Acme::start_on_seed(seed, &[HOST], progress).await?;
    match issue(seed, &acme, progress, kubectl, env, curl).await {
        Ok(()) => Ok(acme),
        Err(e) => {
            say(&format!(
                "\n{}\n(logs in {})",
                acme.logs(),
                acme.dir().display()
            ));
            Err(e)
        }
    }
}

async fn issue(
    seed: &Seed,
    acme: &Acme,
    progress: &mut dyn Progress,
    kubectl: &Path,
    env: &[(&str, &std::ffi::OsStr)],
    curl: Option<&Path>,
) -> anyhow::Result<()> {
    let cluster = &seed.cluster;
    let kubectl_run =
        |args: &[&str]| show(&format!("kubectl {}", args.join(" ")), kubectl, args, env);

    say(&format!(
        "\nA ClusterIssuer {ISSUER}: pebble's ACME directory {}, trusting pebble's TLS CA \
         (caBundle), HTTP-01 answered through Ingresses of class sluice. \
         app.example.com resolves, for pebble and cert-manager, to a relay on \
         127.0.80.80:80 in front of the HTTP node port.",
        acme.directory
    ));
    let issuer_file = acme.dir().join("cluster-issuer.yaml");
    let issuer = acme.cluster_issuer(ISSUER, json!({ "ingressClassName": "sluice" }));
    std::fs::write(&issuer_file, serde_yaml_ng::to_string(&issuer)?)
        .with_context(|| format!("writing {}", issuer_file.display()))?;
    let issuer_path = issuer_file.to_string_lossy();
    anyhow::ensure!(
        kubectl_run(&["apply", "-f", &issuer_path]),
        "kubectl apply of the ClusterIssuer failed"
    );
    progress.step(&format!(
        "waiting for the ClusterIssuer {ISSUER} to register its ACME account"
    ));
    issuer_ready(cluster, ISSUER).await?;

    say(&format!(
        "\nThe seed's Ingress asks {ISSUER} for its certificate: the cert-manager.io/cluster-issuer \
         annotation, and a Secret for cert-manager to fill:"
    ));
    let patch = json!({
        "metadata": { "annotations": { "cert-manager.io/cluster-issuer": ISSUER } },
        "spec": { "tls": [ { "hosts": [HOST], "secretName": ACME_SECRET } ] },
    })
    .to_string();
    let args = ["patch", "ingress", "app", "--type", "merge", "-p", &patch];
    anyhow::ensure!(
        show(
            &format!("kubectl patch ingress app --type merge -p '{patch}'"),
            kubectl,
            &args,
            env
        ),
        "kubectl patch of the Ingress failed"
    );
    let asked = Instant::now();
    progress.step(&format!(
        "waiting for the Certificate {ACME_SECRET}: solver pod, HTTP-01 through Sluice, pebble"
    ));
    let leaf = acme.issued(cluster, ACME_SECRET, HOST, 1).await?;
    progress.step("issued; waiting for Sluice to serve it");
    served(seed, HOST, &leaf).await?;
    progress.step(&format!(
        "Sluice serves the certificate pebble issued, {:.1}s after the Ingress asked for it",
        asked.elapsed().as_secs_f64()
    ));
    kubectl_run(&["get", "clusterissuer,certificate"]);

    let root_file = acme.dir().join("pebble-root.pem");
    std::fs::write(&root_file, acme.issuing_root_pem().await?)
        .with_context(|| format!("writing {}", root_file.display()))?;
    say(&format!(
        "\npebble's issuing root, written to {}, is all curl trusts:",
        root_file.display()
    ));
    let Some(curl) = curl else {
        say("(curl is not installed; skipping the curl example)");
        return Ok(());
    };
    let https = seed.https();
    let pipeline = format!(
        "{} -sv --resolve {HOST}:{port}:{ip} --cacert {root} https://{HOST}:{port}/api 2>&1 \
         | grep -E '^\\*  (subject|issuer|SSL certificate verify)|^< HTTP|\"service\"'",
        curl.display(),
        port = https.port(),
        ip = https.ip(),
        root = root_file.display(),
    );
    let display = pipeline.replacen(&curl.display().to_string(), "curl", 1);
    show(&display, Path::new("/bin/sh"), &["-c", &pipeline], &[]);
    Ok(())
}

fn which(name: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("{name} not found"))
}
