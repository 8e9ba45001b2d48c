//! `make demo`: the picture of docs/architecture.md, live on this machine, until Ctrl-C.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use sluice_tests::seed::{HOST, NAMESPACE, Seed};
use sluice_tests::tools::{tool, workspace_root};

fn say(text: &str) {
    println!("{text}");
    let _ = std::io::stdout().flush();
}

/// Runs a command the reader could type, showing it and what it printed.
fn show(display: &str, program: &std::path::Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) {
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
        }
        Err(e) => say(&format!("(could not run it: {e})")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    say(
        "Sluice demo: a real control plane, the chart installed with helm, the operator and a proxy.\n",
    );
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
    let node = &seed.node_ip;
    let (http, https) = (seed.http_node_port, seed.https_node_port);
    say(&format!("\nUp in {:.1}s. The picture:", up.as_secs_f64()));
    say(&format!(
        "  you ──▶ {node}:{http} (HTTP) / {node}:{https} (HTTPS)  NodePorts of Service {NAMESPACE}/sluice-proxy-sluice"
    ));
    say("          └─▶ sluice-proxy ─▶ host app.example.com: /api → api-svc, / → frontend-svc");
    say(&format!(
        "\nUse it yourself (in another shell):\n  export KUBECONFIG={} PATH={}:$PATH",
        kubeconfig.display(),
        tools.display()
    ));
    say("  kubectl get ingressclass,ingressclassparams,ingress -A");
    say(&format!("  kubectl -n {NAMESPACE} get deployment,service"));

    if let Ok(curl) = which("curl") {
        let host = format!("Host: {HOST}");
        let api = format!("http://{node}:{http}/api");
        let root = format!("http://{node}:{http}/");
        show(
            &format!("curl -s -H '{host}' {api}"),
            &curl,
            &["-s", "-H", &host, &api],
            &[],
        );
        show(
            &format!("curl -s -H '{host}' {root}"),
            &curl,
            &["-s", "-H", &host, &root],
            &[],
        );
        let resolve = format!("{HOST}:{https}:{node}");
        let url = format!("https://{HOST}:{https}/api");
        let ca = seed.certificate_file.to_string_lossy().into_owned();
        show(
            &format!("curl -s --http2 --resolve {resolve} --cacert {ca} {url}"),
            &curl,
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
    let kubectl = tool("kubectl")?;
    show(
        "kubectl apply -f examples/conflict.yaml",
        &kubectl,
        &["apply", "-f", conflict.to_str().unwrap_or_default()],
        &[("KUBECONFIG", kubeconfig.as_os_str())],
    );
    show(
        "kubectl get ingress app",
        &kubectl,
        &["get", "ingress", "app"],
        &[("KUBECONFIG", kubeconfig.as_os_str())],
    );

    say(&format!(
        "\nLogs: {}\nRunning. Press Ctrl-C to stop everything.",
        seed.logs.path().display()
    ));
    tokio::signal::ctrl_c().await?;
    say("\nStopping the proxy, the operator, the backends and the control plane...");
    drop(seed);
    say("Stopped; nothing is left running.");
    Ok(())
}

fn which(name: &str) -> anyhow::Result<std::path::PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("{name} not found"))
}
