//! The real node: pods of a locally built image run on containerd and runc, get addresses
//! from the CNI bridge, are listed by the endpointslice controller, and answer through
//! kube-proxy on a node port published on 127.0.0.1. Also what the node leaves behind (nothing)
//! and what it says when something is wrong.
//!
//! These tests share the machine's 127.0.0.1:30080 and its pod cgroups, so they take turns.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use serde_json::json;
use sluice_tests::TestCluster;
use sluice_tests::client;
use sluice_tests::tools::{image_archive, tool};

static ONE_NODE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NODE_PORT: u16 = 30080;
/// A bound on waiting for what normally takes seconds, so a broken node fails the test
/// with what it last saw instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(120);

fn echo_objects() -> Vec<serde_json::Value> {
    vec![
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "echo", "namespace": "default" },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app": "echo" } },
                "template": {
                    "metadata": { "labels": { "app": "echo" } },
                    "spec": { "containers": [{
                        "name": "echo",
                        "image": "registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.3",
                        "imagePullPolicy": "IfNotPresent",
                        "env": [
                            { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                            { "name": "NAMESPACE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } }
                        ],
                        "ports": [{ "containerPort": 3000 }],
                        "readinessProbe": { "httpGet": { "path": "/", "port": 3000 }, "periodSeconds": 1 }
                    }]}
                }
            }
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": "echo", "namespace": "default" },
            "spec": {
                "type": "NodePort",
                "selector": { "app": "echo" },
                "ports": [{ "port": 80, "targetPort": 3000, "nodePort": NODE_PORT }]
            }
        }),
    ]
}

/// Waits until both echo pods run, are ready and have addresses; returns name → IP.
async fn running_echo_pods(
    cluster: &TestCluster,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client().await?, "default");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = pods.list(&ListParams::default().labels("app=echo")).await?;
        let ready: std::collections::BTreeMap<String, String> = list
            .items
            .iter()
            .filter_map(|p| {
                let status = p.status.as_ref()?;
                let is_ready = status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                (status.phase.as_deref() == Some("Running") && is_ready)
                    .then(|| Some((p.metadata.name.clone()?, status.pod_ip.clone()?)))?
            })
            .collect();
        if ready.len() == 2 {
            return Ok(ready);
        }
        if Instant::now() > deadline {
            let summary: Vec<String> = list
                .items
                .iter()
                .map(|p| {
                    format!(
                        "{}: {:?}",
                        p.metadata.name.as_deref().unwrap_or("?"),
                        p.status.as_ref().map(|s| (&s.phase, &s.container_statuses))
                    )
                })
                .collect();
            anyhow::bail!(
                "2 ready echo pods expected; after {PATIENCE:?}: {summary:#?}\n{}",
                cluster.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the Service's EndpointSlices list exactly `ips` as ready endpoints.
async fn wait_for_endpoints(cluster: &TestCluster, ips: &BTreeSet<String>) -> anyhow::Result<()> {
    let slices: Api<EndpointSlice> = Api::namespaced(cluster.client().await?, "default");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=echo"))
            .await?;
        let listed: BTreeSet<String> = list
            .items
            .iter()
            .flat_map(|s| &s.endpoints)
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
            .flat_map(|e| e.addresses.clone())
            .collect();
        if &listed == ips {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "EndpointSlices of echo list {listed:?}, not the pods' {ips:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pods_answer_through_a_node_port_on_loopback() -> anyhow::Result<()> {
    let _turn = ONE_NODE_AT_A_TIME.lock().await;
    let began = Instant::now();
    let cluster = TestCluster::start_with_node().await?;
    eprintln!("node Ready {:.1?} after start", began.elapsed());

    let nodes: Api<Node> = Api::all(cluster.client().await?);
    let node = nodes.get("sluice-node").await?;
    let addresses = node.status.and_then(|s| s.addresses).unwrap_or_default();
    assert!(
        addresses
            .iter()
            .any(|a| a.type_ == "InternalIP" && a.address == "10.250.0.2"),
        "the node's address is the one inside its own network namespace: {addresses:?}"
    );

    cluster.import_image(&image_archive("echo-basic")?)?;
    cluster.apply(&echo_objects())?;
    let pods = running_echo_pods(&cluster).await?;
    let ips: BTreeSet<String> = pods.values().cloned().collect();
    assert_eq!(ips.len(), 2, "each pod has an address of its own: {pods:?}");
    assert!(
        ips.iter().all(|ip| ip.starts_with("10.244.")),
        "pod addresses come from the node's pod CIDR: {pods:?}"
    );
    wait_for_endpoints(&cluster, &ips).await?;
    eprintln!(
        "2 pods Running and listed {:.1?} after start",
        began.elapsed()
    );

    // kube-proxy programs the node port shortly after the endpoints appear: until then a
    // connection may be refused or reset. Any other answer than 200 is a failure.
    let addr: SocketAddr = ([127, 0, 0, 1], NODE_PORT).into();
    let deadline = Instant::now() + PATIENCE;
    let first = loop {
        match client::get(addr, "echo.test", "/through-kube-proxy").await {
            Ok(reply) => break reply,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("127.0.0.1:{NODE_PORT} never answered: {e:#}"),
        }
    };
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.json()["path"],
        "/through-kube-proxy",
        "{}",
        first.body
    );

    // Each new connection is balanced by kube-proxy's rules, so both pods answer once
    // kube-proxy has synced the second endpoint too (it may have programmed the first one
    // alone a moment ago). Every answer meanwhile must be a 200 from one of the pods.
    let mut answered = BTreeSet::new();
    let mut requests = 0;
    while answered.len() < 2 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {answered:?} answered in {requests} requests"
        );
        let reply = client::get(addr, "echo.test", "/").await?;
        requests += 1;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let pod = reply.json()["pod"].as_str().unwrap_or_default().to_string();
        assert!(
            pods.contains_key(&pod),
            "answered by {pod:?}, not one of {pods:?}"
        );
        answered.insert(pod);
    }
    eprintln!("test done {:.1?} after start", began.elapsed());
    Ok(())
}

/// What a node could leave on the machine.
#[derive(Debug, PartialEq)]
struct MachineState {
    sysctls: Vec<(String, String)>,
    pod_cgroups: Vec<String>,
    node_processes: Vec<String>,
    node_mounts: Vec<String>,
    links: Vec<String>,
    netns: String,
    iptables_rules: Vec<String>,
    paths: Vec<(String, bool)>,
}

fn run(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn machine_state(cluster_dir: &Path) -> MachineState {
    let dir = cluster_dir.to_string_lossy().into_owned();
    let sysctls = [
        "kernel/panic",
        "kernel/panic_on_oops",
        "vm/overcommit_memory",
        "vm/panic_on_oom",
        "kernel/keys/root_maxkeys",
        "kernel/keys/root_maxbytes",
    ]
    .iter()
    .map(|s| {
        let v = std::fs::read_to_string(format!("/proc/sys/{s}")).unwrap_or_default();
        (s.to_string(), v.trim().to_string())
    })
    .collect();
    let mut pod_cgroups = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = hierarchy.path().join("kubepods");
        if p.exists() {
            pod_cgroups.push(p.display().to_string());
        }
    }
    let node_comms = [
        "containerd",
        "containerd-shim",
        "kubelet",
        "kube-proxy",
        "pause",
        "echo-basic",
    ];
    let mut node_processes = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let cmdline = std::fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default();
        if node_comms.contains(&comm.trim()) || cmdline.contains(&dir) {
            node_processes.push(format!("{} {}", comm.trim(), cmdline.replace('\0', " ")));
        }
    }
    let node_mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains(&dir)
                || l.contains("kubelet")
                || l.contains("containerd")
                || l.contains("/run/netns")
        })
        .map(str::to_string)
        .collect();
    let links = run("ip", &["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect();
    let iptables_rules = run("iptables-save", &[])
        .lines()
        .filter(|l| l.starts_with("-A") || l.starts_with(':'))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        .collect();
    let paths = [
        "/var/lib/kubelet",
        "/var/lib/cni",
        "/var/log/pods",
        "/var/log/containers",
        "/run/netns",
        "/run/containerd",
    ]
    .iter()
    .map(|p| (p.to_string(), Path::new(p).exists()))
    .collect();
    MachineState {
        sysctls,
        pod_cgroups,
        node_processes,
        node_mounts,
        links,
        netns: run("ip", &["netns", "list"]),
        iptables_rules,
        paths,
    }
}

#[tokio::test]
async fn teardown_leaves_nothing_behind_and_a_second_cluster_starts() -> anyhow::Result<()> {
    let _turn = ONE_NODE_AT_A_TIME.lock().await;
    let before = machine_state(Path::new("/nonexistent-cluster-dir"));
    assert!(
        before.pod_cgroups.is_empty() && before.node_processes.is_empty(),
        "the machine already runs a node: {before:#?}"
    );

    let cluster = TestCluster::start_with_node().await?;
    cluster.import_image(&image_archive("echo-basic")?)?;
    cluster.apply(&echo_objects())?;
    running_echo_pods(&cluster).await?;
    let dir = cluster.dir().to_path_buf();
    // The checks below see a running node: pod cgroups and the node's processes.
    let during = machine_state(&dir);
    assert!(!during.pod_cgroups.is_empty(), "{during:#?}");
    for comm in [
        "kubelet",
        "kube-proxy",
        "containerd ",
        "pause",
        "echo-basic",
    ] {
        assert!(
            during.node_processes.iter().any(|p| p.starts_with(comm)),
            "no {comm} process while the node runs: {:#?}",
            during.node_processes
        );
    }

    let stopping = Instant::now();
    drop(cluster);
    eprintln!("teardown took {:.1?}", stopping.elapsed());
    let after = machine_state(&dir);
    assert_eq!(before, after, "the machine differs after teardown");
    assert!(!dir.exists(), "the state directory is removed");

    let began = Instant::now();
    let second = TestCluster::start_with_node().await?;
    eprintln!("second node Ready {:.1?} after start", began.elapsed());
    let nodes: Api<Node> = Api::all(second.client().await?);
    assert_eq!(nodes.list(&ListParams::default()).await?.items.len(), 1);
    drop(second);
    assert_eq!(before, machine_state(Path::new("/nonexistent-cluster-dir")));
    Ok(())
}

#[tokio::test]
async fn a_kubelet_that_exits_is_reported_with_its_log() -> anyhow::Result<()> {
    let _turn = ONE_NODE_AT_A_TIME.lock().await;
    let mut cluster = TestCluster::start_with_node().await?;
    let dir = cluster.dir().to_string_lossy().into_owned();
    let kubelet = std::fs::read_dir("/proc")?
        .flatten()
        .find(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let cmdline = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            comm.trim() == "kubelet" && cmdline.contains(&dir)
        })
        .and_then(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .ok_or_else(|| anyhow::anyhow!("no kubelet process of this cluster"))?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(kubelet),
        nix::sys::signal::Signal::SIGKILL,
    )?;

    let deadline = Instant::now() + PATIENCE;
    while cluster.try_exited().is_none() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the cluster kept running without its kubelet:\n{}",
            cluster.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = cluster.output();
    assert!(
        output.contains("kubelet exited (signal: killed)"),
        "the cluster says the kubelet exited:\n{output}"
    );
    assert!(
        output.contains("last lines of") && output.contains("kubelet.log"),
        "and shows the end of its log:\n{output}"
    );
    Ok(())
}

#[test]
fn missing_packages_are_named() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let empty = tempfile::tempdir()?;
    // Nothing on PATH: every program the node needs is missing.
    let out = std::process::Command::new(tool("cluster")?)
        .arg("--dir")
        .arg(dir.path())
        .arg("--node")
        .env("PATH", empty.path())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for line in [
        "containerd (missing: containerd, containerd-shim-runc-v2, ctr)",
        "runc (missing: runc)",
        "iptables (missing: iptables",
        "apt-get install -y containerd runc",
    ] {
        assert!(stderr.contains(line), "{line:?} not in:\n{stderr}");
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_image_fails_at_once_naming_it() -> anyhow::Result<()> {
    let _turn = ONE_NODE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start_with_node().await?;
    let image = "registry.example/sluice/never-imported:1.0";
    cluster.apply(&[json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "missing", "namespace": "default" },
        "spec": { "containers": [{
            "name": "app", "image": image, "imagePullPolicy": "IfNotPresent"
        }]}
    })])?;
    let pods: Api<Pod> = Api::namespaced(cluster.client().await?, "default");
    let deadline = Instant::now() + PATIENCE;
    let waiting = loop {
        let pod = pods.get("missing").await?;
        let waiting = pod
            .status
            .and_then(|s| s.container_statuses)
            .and_then(|c| c.into_iter().next())
            .and_then(|c| c.state)
            .and_then(|s| s.waiting)
            .filter(|w| {
                matches!(
                    w.reason.as_deref(),
                    Some("ErrImagePull" | "ImagePullBackOff")
                )
            });
        if let Some(w) = waiting {
            break w;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pod never reported its missing image"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let message = waiting.message.unwrap_or_default();
    assert!(message.contains(image), "the image is named: {message}");
    // containerd's proxy is a closed port on the node's loopback: the pull fails there
    // instead of reaching for a registry.
    assert!(
        message.contains("127.0.0.1:9") && message.contains("connection refused"),
        "no registry is tried: {message}"
    );
    Ok(())
}

#[tokio::test]
async fn a_published_port_in_use_is_named() -> anyhow::Result<()> {
    let _turn = ONE_NODE_AT_A_TIME.lock().await;
    let _taken = std::net::TcpListener::bind(("127.0.0.1", NODE_PORT))?;
    let error = match TestCluster::start_with_node().await {
        Ok(_) => anyhow::bail!("a node started although 127.0.0.1:{NODE_PORT} was taken"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains(&format!("publishing on 127.0.0.1:{NODE_PORT}"))
            && error.contains("address already in use"),
        "{error}"
    );
    Ok(())
}
