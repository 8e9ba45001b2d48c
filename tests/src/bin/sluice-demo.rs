//! `make demo`: the picture of docs/architecture.md, live on this machine, until Ctrl-C.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use sluice_tests::seed::{FLEET, HOST, NAMESPACE, Seed};
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
        "Sluice demo: a real single-node cluster, the chart installed with helm, Sluice running as pods.\n",
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
    let kubectl_show =
        |args: &[&str]| show(&format!("kubectl {}", args.join(" ")), &kubectl, args, &env);
    kubectl_show(&["get", "svc", "-n", NAMESPACE]);
    kubectl_show(&["get", "deployment", "-A"]);
    kubectl_show(&["get", "pods", "-A"]);
    kubectl_show(&["describe", "ingress", "app"]);

    if let Ok(curl) = which("curl") {
        let host = format!("Host: {HOST}");
        for path in ["/api", "/"] {
            let url = format!("http://{http}{path}");
            show(
                &format!("curl -s -H '{host}' {url}"),
                &curl,
                &["-s", "-H", &host, &url],
                &[],
            );
        }
        let resolve = format!("{HOST}:{}:{}", https.port(), https.ip());
        let url = format!("https://{HOST}:{}/api", https.port());
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
    kubectl_show(&["apply", "-f", conflict.to_str().unwrap_or_default()]);
    kubectl_show(&["get", "ingress", "-A"]);

    say("\nRunning. Press Ctrl-C to stop everything.");
    tokio::signal::ctrl_c().await?;
    say("\nStopping the cluster: pods, node, control plane...");
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
