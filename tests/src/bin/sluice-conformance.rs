//! `make conformance`: the upstream Gateway API conformance suite (v1.6.3, unmodified)
//! against Sluice on a real single-node cluster.
//!
//! It starts the cluster with the suite's images (echo server, CoreDNS) and Sluice's,
//! installs the chart with `helm` as a user would, and runs the suite (`tests/conformance`,
//! built by `make conformance` into `target/tools/conformance.test`) inside the node's
//! network namespace, where the Gateways' addresses (Services' ClusterIPs) are reachable,
//! and nowhere else. What Sluice claims is `tests/conformance/options.yaml` (GatewayClass,
//! profiles) and the features every GatewayClass of Sluice's lists in its status
//! ([`SUPPORTED_FEATURES`]), passed here too. The suite's ConformanceReport is
//! written to `--report` (docs/conformance/ for `make conformance`), pass or fail; the exit
//! code is the suite's.
//!
//! ```text
//! sluice-conformance [--report PATH] [--run-test NAME] [-- SUITE FLAGS...]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use sluice_crds::gateway::class::SUPPORTED_FEATURES;
use sluice_tests::TestCluster;
use sluice_tests::seed::{NAMESPACE, OPERATOR, RELEASE, deployment_ready};
use sluice_tests::tools::{tool, workspace_root};
use tokio::process::Command;

const USAGE: &str =
    "usage: sluice-conformance [--report PATH] [--run-test NAME] [-- SUITE FLAGS...]";

struct Args {
    report: PathBuf,
    suite_flags: Vec<String>,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut report = workspace_root().join("target/conformance/report.yaml");
    let mut suite_flags = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--report" => {
                report = args.next().map(PathBuf::from).context(USAGE)?;
            }
            "--run-test" => {
                let name = args.next().context(USAGE)?;
                suite_flags.push(format!("-run-test={name}"));
            }
            "--" => suite_flags.extend(args.by_ref()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => anyhow::bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    Ok(Some(Args {
        report,
        suite_flags,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let started = Instant::now();
    let step = |what: &str| println!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());
    let suite = tool("conformance.test")?;

    step(
        "starting a real single-node cluster with the suite's images (echo server, CoreDNS) and Sluice's",
    );
    let cluster =
        TestCluster::start_with_node_and_images(&["echo-basic", "coredns", "sluice-dev"]).await?;

    step("helm install sluice charts/sluice (with the Gateway API CRDs)");
    let chart = workspace_root().join("charts/sluice");
    let out = cluster.helm(&[
        "install",
        RELEASE,
        chart.to_str().unwrap_or("charts/sluice"),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
    ])?;
    anyhow::ensure!(
        out.status.success(),
        "helm install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deployment_ready(&cluster, NAMESPACE, OPERATOR).await?;

    // The suite creates dozens of Gateways, each with a fleet of its own: on a two-core node
    // the default fleet (2 replicas, 100m CPU requested each) leaves pods unschedulable. The
    // class's parameters make each fleet one small proxy, as a user would for many Gateways.
    step("GatewayClass sluice: one small proxy per Gateway (IngressClassParams conformance)");
    cluster.apply(&[serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "IngressClassParams",
        "metadata": { "name": "conformance" },
        "spec": {
            "replicas": 1,
            "resources": { "requests": { "cpu": "10m", "memory": "32Mi" } }
        }
    })])?;
    let out = cluster.kubectl(&[
        "patch",
        "gatewayclass",
        "sluice",
        "--type=merge",
        "-p",
        r#"{"spec":{"parametersRef":{"group":"sluice.dev","kind":"IngressClassParams","name":"conformance"}}}"#,
    ])?;
    anyhow::ensure!(
        out.status.success(),
        "pointing GatewayClass sluice at its parameters: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    step("running the conformance suite inside the node's network namespace");
    let options = workspace_root().join("tests/conformance/options.yaml");
    let suite_started = Instant::now();
    let mut suite_run = Command::new("nsenter");
    suite_run
        .arg(format!("--net={}", cluster.node_netns()?.display()))
        .arg("--")
        .arg(&suite)
        .args([
            "-test.v",
            "-test.timeout=90m",
            "-test.run=^TestConformance$",
        ])
        .arg(format!("-conformance-options-file={}", options.display()))
        .arg(format!("-report-output={}", args.report.display()))
        .arg(format!(
            "-supported-features={}",
            SUPPORTED_FEATURES.join(",")
        ))
        .arg(format!("-version={}", env!("CARGO_PKG_VERSION")))
        .args(&args.suite_flags)
        .env("KUBECONFIG", cluster.node_kubeconfig())
        .kill_on_drop(true);
    let mut child = suite_run
        .spawn()
        .context("running the conformance suite with nsenter")?;
    // Ctrl-C or SIGTERM stops the suite and still tears the cluster down (its drop).
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let status = tokio::select! {
        status = child.wait() => status?,
        _ = tokio::signal::ctrl_c() => {
            step("interrupted: stopping the suite and the cluster");
            child.kill().await?;
            drop(cluster);
            std::process::exit(130);
        }
        _ = terminate.recv() => {
            step("terminated: stopping the suite and the cluster");
            child.kill().await?;
            drop(cluster);
            std::process::exit(143);
        }
    };
    step(&format!(
        "the suite {} in {:.0}s; its report: {}",
        if status.success() { "passed" } else { "failed" },
        suite_started.elapsed().as_secs_f64(),
        args.report.display()
    ));
    drop(cluster);
    std::process::exit(status.code().unwrap_or(1));
}
