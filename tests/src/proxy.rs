//! A real `sluice-proxy` process for tests, on free loopback ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::process::Command;
use std::time::{Duration, Instant};

use sluice_crds::gateway::ports::GatewayPort;

use crate::client;
use crate::process::ChildGuard;
use crate::tools::cargo_bin;

pub struct Proxy {
    process: ChildGuard,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    /// Where the proxy's output goes.
    pub log: PathBuf,
    /// Whether plain requests take the fast path (not `--no-fast-path`).
    pub fast_path: bool,
}

/// A free port on 127.0.0.1, never one this process was given before: the tests of a
/// binary run at once, and the kernel can hand a port just released to the next test too.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&addr.port()) {
            given.push(addr.port());
            return Ok(addr);
        }
    }
}

/// Where a client reaches a listener: 0.0.0.0 is reached on 127.0.0.1.
fn connectable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

impl Proxy {
    /// Starts `sluice-proxy` with `args` (e.g. `--manifests DIR`), its listeners on free
    /// ports, and waits until `/readyz` answers 200.
    pub async fn start(args: &[&str], log_dir: &Path) -> anyhow::Result<Self> {
        let mut last_error = None;
        // A free port can be taken between finding it and the proxy binding it.
        for _ in 0..3 {
            match Self::start_on(free_addr()?, free_addr()?, free_addr()?, args, log_dir).await {
                Ok(proxy) => return Ok(proxy),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the proxy did not start")))
    }

    /// Starts `sluice-proxy` listening on the given addresses.
    pub async fn start_on(
        http: SocketAddr,
        https: SocketAddr,
        admin: SocketAddr,
        args: &[&str],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = log_dir.join(format!("proxy-{}.log", http.port()));
        let mut command = Command::new(cargo_bin("sluice-proxy")?);
        command
            .args(["--http-addr", &http.to_string()])
            .args(["--https-addr", &https.to_string()])
            .args(["--admin-addr", &admin.to_string()])
            .args(["--grace-period", "5s", "--threads", "2"])
            .args(args)
            .env("NO_COLOR", "1");
        // The proxy tests run a second time with every request through Pingora (`make
        // test`), so that both HTTP/1.1 paths pass the same tests.
        let fast_path = !args.contains(&"--no-fast-path")
            && std::env::var_os("SLUICE_TEST_NO_FAST_PATH").is_none_or(|v| v != "1");
        if !fast_path && !args.contains(&"--no-fast-path") {
            command.arg("--no-fast-path");
        }
        // A test that sets the level itself gets what it set: RUST_LOG would win over it.
        if args.contains(&"--log-level") {
            command.env_remove("RUST_LOG");
        } else {
            command.env("RUST_LOG", "info,sluice_proxy=debug");
        }
        let process = ChildGuard::spawn("sluice-proxy", command, &log)?;
        let mut proxy = Self {
            process,
            http: connectable(http),
            https: connectable(https),
            admin: connectable(admin),
            log,
            fast_path,
        };
        proxy.wait_ready(Duration::from_secs(30), args).await?;
        Ok(proxy)
    }

    async fn wait_ready(&mut self, timeout: Duration, args: &[&str]) -> anyhow::Result<()> {
        let ports = self.listener_ports(args);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.try_exited() {
                anyhow::bail!("sluice-proxy exited ({status}):\n{}", self.output());
            }
            // Free ports are found before the proxy binds them, so another test's proxy
            // can take one first and answer on it: only this process's own listeners count.
            if let Ok(reply) = client::get(self.admin, "admin", "/readyz").await
                && reply.status == 200
                && ports.iter().all(|port| self.process.listens_on(*port))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "sluice-proxy not ready after {timeout:?}:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The ports the proxy listens on: its admin port and, in Gateway mode, each
    /// `--gateway-port`'s, else the HTTP and HTTPS ones.
    fn listener_ports(&self, args: &[&str]) -> Vec<u16> {
        let gateway: Vec<u16> = args
            .iter()
            .filter_map(|arg| arg.strip_prefix("--gateway-port="))
            .filter_map(|port| port.parse::<GatewayPort>().ok())
            .map(|port| port.container_port)
            .collect();
        let listeners = if gateway.is_empty() {
            vec![self.http.port(), self.https.port()]
        } else {
            gateway
        };
        std::iter::once(self.admin.port())
            .chain(listeners)
            .collect()
    }

    pub fn output(&self) -> String {
        self.process.output()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// `/routes` as JSON.
    pub async fn routes(&self) -> anyhow::Result<serde_json::Value> {
        let reply = client::get(self.admin, "admin", "/routes").await?;
        Ok(serde_json::from_str(&reply.body)?)
    }

    /// The value of a metric sample from `/metrics`, e.g.
    /// `sluice_proxy_route_reloads_total`, or with labels `name{a="b"}`; 0 when absent.
    pub async fn metric(&self, sample: &str) -> anyhow::Result<f64> {
        let reply = client::get(self.admin, "admin", "/metrics").await?;
        Ok(parse_metric(&reply.body, sample))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.process.stop()
    }

    /// `true` once the process has exited.
    pub fn exited(&mut self) -> bool {
        self.process.try_exited().is_some()
    }
}

/// The value of `sample` (a name, with or without its exact label set) in a Prometheus
/// text exposition; sums every series of a bare name. 0 when absent.
pub fn parse_metric(text: &str, sample: &str) -> f64 {
    let bare = !sample.contains('{');
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            if bare {
                *series == sample || series.starts_with(&format!("{sample}{{"))
            } else {
                labels_equal(series, sample)
            }
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// Same name and the same labels, in any order.
fn labels_equal(a: &str, b: &str) -> bool {
    let split = |s: &str| -> Option<(String, Vec<String>)> {
        let (name, rest) = s.split_once('{')?;
        let mut labels: Vec<String> = rest
            .trim_end_matches('}')
            .split(',')
            .map(str::to_string)
            .collect();
        labels.sort();
        Some((name.to_string(), labels))
    };
    matches!((split(a), split(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples() {
        let text =
            "# HELP x\nreq_total{a=\"1\",b=\"2\"} 3\nreq_total{a=\"2\",b=\"2\"} 4\nother 1\n";
        assert_eq!(parse_metric(text, "req_total"), 7.0);
        assert_eq!(parse_metric(text, "req_total{b=\"2\",a=\"1\"}"), 3.0);
        assert_eq!(parse_metric(text, "missing"), 0.0);
    }
}
