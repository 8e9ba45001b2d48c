//! A real Kubernetes control plane for one test, in a temporary directory; with
//! [`TestCluster::start_with_node`], a real single-node cluster that runs pods.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::ChildGuard;
use crate::tools::{image_archive, tool};

/// A node publishes fixed ports on 127.0.0.1 and uses the machine's pod cgroups: the tests of
/// one binary that start one take turns.
static ONE_NODE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running control plane: etcd, kube-apiserver and kube-controller-manager in one
/// process on free loopback ports. Dropping it stops the process and removes its state.
pub struct TestCluster {
    // Field order matters: the process must stop before its directory is removed, and
    // before the next node may start.
    process: ChildGuard,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
    _turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl TestCluster {
    /// Starts a control plane and waits until it serves requests.
    pub async fn start() -> anyhow::Result<Self> {
        Self::launch(None).await
    }

    /// Starts a real single-node cluster: the control plane plus kube-scheduler, containerd,
    /// kubelet and kube-proxy in a network namespace of their own, with the pause image
    /// imported. It is ready when the Node is Ready. The API server and node ports 30080 and
    /// 30443 are published on 127.0.0.1, so only one such cluster runs at a time on a
    /// machine; the tests of one binary that start one wait for their turn. Dropping it tears
    /// the node down and restores the machine.
    pub async fn start_with_node() -> anyhow::Result<Self> {
        Self::launch(Some(&[])).await
    }

    /// As [`TestCluster::start_with_node`], with these image archives of `make test-images`
    /// (e.g. `echo-basic`, `sluice-dev`) imported before kubelet starts.
    pub async fn start_with_node_and_images(images: &[&str]) -> anyhow::Result<Self> {
        Self::launch(Some(images)).await
    }

    /// `images` is `None` for a control plane alone, the images to import for a node.
    async fn launch(images: Option<&[&str]>) -> anyhow::Result<Self> {
        let node = images.is_some();
        let turn = match node {
            true => Some(ONE_NODE_AT_A_TIME.lock().await),
            false => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("sluice-cluster-")
            .tempdir()?;
        let mut command = Command::new(tool("cluster")?);
        command
            .arg("--dir")
            .arg(dir.path())
            // If the test binary dies without dropping us, the cluster follows it.
            .arg("--watch-parent");
        if node {
            tool("kubelet")?;
            tool("kube-proxy")?;
            command.arg("--node");
            for image in ["pause"].iter().chain(images.into_iter().flatten()) {
                command.arg("--import").arg(image_archive(image)?);
            }
        }
        let mut process = ChildGuard::spawn("cluster", command, &dir.path().join("cluster.out"))?;
        if node {
            // Pods, sandboxes and containerd go first, which takes longer than a control
            // plane alone; the cluster bounds its own shutdown.
            process.set_grace(Duration::from_secs(150));
        }
        let kubeconfig = dir.path().join("kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(if node { 240 } else { 120 });
        while !kubeconfig.is_file() {
            if let Some(status) = process.try_exited() {
                anyhow::bail!(
                    "the cluster exited ({status}) before it was ready:\n{}",
                    process.output()
                );
            }
            if Instant::now() > deadline {
                anyhow::bail!("the cluster was not ready in time:\n{}", process.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            process,
            kubeconfig,
            dir,
            _turn: turn,
        })
    }

    /// The node's containerd socket (only with a node).
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir
            .path()
            .join("node")
            .join("containerd")
            .join("containerd.sock")
    }

    /// Imports an image archive into the node's containerd, where kubelet finds it (only
    /// with a node). Pods then use the image's names with `imagePullPolicy: IfNotPresent`.
    pub fn import_image(&self, archive: &Path) -> anyhow::Result<()> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.containerd_socket())
            .args(["-n", "k8s.io", "images", "import"])
            .arg(archive)
            .output()
            .context("running ctr (Debian package containerd)")?;
        anyhow::ensure!(
            out.status.success(),
            "ctr images import {} failed:\n{}{}",
            archive.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// `Some(status)` once the cluster process has exited (it does when a node component
    /// dies), with [`TestCluster::output`] saying why.
    pub fn try_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_exited()
    }

    /// What the cluster process printed so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// The admin kubeconfig (cluster-admin through a system:masters client certificate).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The node's network namespace (only with a node), for a command that must reach what
    /// only the node's network has: Services' ClusterIPs, pods.
    pub fn node_netns(&self) -> anyhow::Result<PathBuf> {
        let pid_file = self.dir.path().join("node.pid");
        let pid = std::fs::read_to_string(&pid_file).with_context(|| {
            format!("{} (a cluster without a node has none)", pid_file.display())
        })?;
        Ok(PathBuf::from(format!("/proc/{}/ns/net", pid.trim())))
    }

    /// An admin kubeconfig that works inside the node's network namespace (the API server's
    /// own address there), where [`TestCluster::kubeconfig`]'s loopback relay is not.
    pub fn node_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin-inner.kubeconfig")
    }

    /// The directory holding the control plane's state and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new admin client. Each call makes its own, so that a client never outlives the
    /// async runtime it was made on.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// A client that acts as `user` (with `groups`) through impersonation, so a test can run
    /// with exactly the permissions RBAC grants that identity.
    pub async fn impersonating_client(
        &self,
        user: &str,
        groups: &[&str],
    ) -> anyhow::Result<kube::Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
        Ok(kube::Client::try_from(config)?)
    }

    /// A kubeconfig (written next to the admin one) that acts as `user` with `groups`
    /// through impersonation: a process using it has exactly what RBAC grants them.
    pub fn impersonating_kubeconfig(&self, user: &str, groups: &[&str]) -> anyhow::Result<PathBuf> {
        let text = std::fs::read_to_string(&self.kubeconfig)?;
        let mut config: serde_json::Value = serde_yaml_ng::from_str(&text)?;
        for auth in config["users"].as_array_mut().into_iter().flatten() {
            auth["user"]["as"] = serde_json::json!(user);
            auth["user"]["as-groups"] = serde_json::json!(groups);
        }
        let safe: String = user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = self.dir.path().join(format!("kubeconfig-{safe}"));
        std::fs::write(&path, serde_yaml_ng::to_string(&config)?)?;
        Ok(path)
    }

    /// `kubectl apply -f -` of `objects`, failing with kubectl's output if it fails.
    pub fn apply(&self, objects: &[serde_json::Value]) -> anyhow::Result<String> {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], &crate::objects::to_yaml(objects))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        anyhow::ensure!(
            out.status.success(),
            "kubectl apply failed:\n{stdout}{stderr}"
        );
        Ok(format!("{stdout}{stderr}"))
    }

    /// Registers a Node object with `addresses` (`(type, address)`), as a kubelet would, so
    /// the operator has addresses to publish. Nothing is ever sent to them.
    pub async fn register_node(
        &self,
        name: &str,
        addresses: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::Node;
        use kube::api::{Api, Patch, PatchParams, PostParams};
        let nodes: Api<Node> = Api::all(self.client().await?);
        nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(serde_json::json!({ "metadata": { "name": name } }))?,
            )
            .await?;
        let addresses: Vec<serde_json::Value> = addresses
            .iter()
            .map(|(kind, address)| serde_json::json!({ "type": kind, "address": address }))
            .collect();
        nodes
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "status": { "addresses": addresses } })),
            )
            .await?;
        Ok(())
    }

    /// The API server's count of write requests so far (see [`crate::requests`]).
    pub fn writes(&self) -> anyhow::Result<crate::requests::Writes> {
        let out = self.kubectl(&["get", "--raw", "/metrics"])?;
        anyhow::ensure!(
            out.status.success(),
            "reading the API server's metrics failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        crate::requests::writes_in(&String::from_utf8_lossy(&out.stdout))
    }

    /// Runs the built `kubectl` against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_tool("kubectl", args, None)
    }

    /// Runs `kubectl` with `stdin` as its input (for `kubectl apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> anyhow::Result<Output> {
        self.run_tool("kubectl", args, Some(stdin))
    }

    /// Runs the built `helm` against this cluster.
    pub fn helm(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_tool("helm", args, None)
    }

    fn run_tool(&self, name: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
        use std::io::Write;
        use std::process::Stdio;
        let helm_home = self.dir.path().join("helm");
        let mut child = Command::new(tool(name)?)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // Keep helm's caches and repositories out of the user's home.
            .env("HELM_CACHE_HOME", helm_home.join("cache"))
            .env("HELM_CONFIG_HOME", helm_home.join("config"))
            .env("HELM_DATA_HOME", helm_home.join("data"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.process.stop();
    }
}
