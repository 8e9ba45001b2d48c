//! A real Kubernetes control plane for one test, in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::ChildGuard;
use crate::tools::tool;

/// A running control plane: etcd, kube-apiserver and kube-controller-manager in one
/// process on free loopback ports. Dropping it stops the process and removes its state.
pub struct TestCluster {
    // Field order matters: the process must stop before its directory is removed.
    process: ChildGuard,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl TestCluster {
    /// Starts a control plane and waits until it serves requests.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-cluster-")
            .tempdir()?;
        let mut command = Command::new(tool("cluster")?);
        command
            .arg("--dir")
            .arg(dir.path())
            // If the test binary dies without dropping us, the cluster follows it.
            .arg("--watch-parent");
        let mut process = ChildGuard::spawn("cluster", command, &dir.path().join("cluster.out"))?;
        let kubeconfig = dir.path().join("kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !kubeconfig.is_file() {
            if let Some(status) = process.try_exited() {
                anyhow::bail!(
                    "the control plane exited ({status}) before it was ready:\n{}",
                    process.output()
                );
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the control plane was not ready after 120s:\n{}",
                    process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            process,
            kubeconfig,
            dir,
        })
    }

    /// The admin kubeconfig (cluster-admin through a system:masters client certificate).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
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
