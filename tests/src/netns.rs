//! A private network for test backends: a fresh network namespace joined to this one by a
//! veth pair with a /30 on it.
//!
//! The API server refuses loopback addresses in EndpointSlices, and test traffic must not go
//! to this machine's external address; a backend inside such a namespace has a routable,
//! non-loopback address that only this test reaches. Needs root and iproute2 (`ip`).

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};

/// 10.213.128.0/17, carved into 8192 /30 blocks (clear of bench/convergence.sh's 10.213.77.0/24).
const BASE: u32 = u32::from_be_bytes([10, 213, 128, 0]);
const BLOCKS: u32 = 1 << 13;
/// The veth end inside the namespace; created there directly, so its name need not be unique.
const INNER_LINK: &str = "sluice0";

/// Networks this process has asked for; with the process id it makes names and blocks unique.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair to it; both are deleted when dropped.
pub struct BackendNetwork {
    /// The namespace's name, as `ip netns` knows it.
    pub name: String,
    /// The veth end in this (the host) namespace.
    pub host_link: String,
    /// The host end's address.
    pub host_ip: Ipv4Addr,
    /// The address inside the namespace, where backends listen.
    pub ip: Ipv4Addr,
}

impl BackendNetwork {
    /// Creates a namespace and a veth pair, both up, with a /30 between them.
    pub fn create() -> anyhow::Result<Self> {
        let pid = std::process::id();
        // Skips names and blocks already taken: by a concurrent test binary, or left behind
        // by a killed run that had the same process id.
        for _ in 0..64 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            // Spread processes apart by 16 blocks each, so concurrent binaries rarely meet.
            let block = pid.wrapping_mul(16).wrapping_add(n) % BLOCKS;
            let network = Self {
                // Interface names are at most 15 characters: "sl", a pid (at most 7 digits), "h", n (at most 5).
                name: format!("sluice-test-{pid}-{n}"),
                host_link: format!("sl{pid}h{}", n % 100_000),
                host_ip: Ipv4Addr::from(BASE + block * 4 + 1),
                ip: Ipv4Addr::from(BASE + block * 4 + 2),
            };
            if network.in_use()? {
                continue;
            }
            // From here on, dropping `network` removes whatever part of it was made.
            network.set_up()?;
            return Ok(network);
        }
        bail!("no free network namespace name and 10.213.128.0/17 block for test backends")
    }

    /// The file that names the namespace, for `setns`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    fn in_use(&self) -> anyhow::Result<bool> {
        let subnet = format!("{}/30", self.host_ip);
        Ok(self.path().exists()
            || Path::new("/sys/class/net").join(&self.host_link).exists()
            || !ip(&["-4", "-o", "addr", "show", "to", &subnet])?
                .trim()
                .is_empty())
    }

    fn set_up(&self) -> anyhow::Result<()> {
        let ns = self.name.as_str();
        let host_addr = format!("{}/30", self.host_ip);
        let inner_addr = format!("{}/30", self.ip);
        ip(&["netns", "add", ns])?;
        ip(&[
            "link",
            "add",
            &self.host_link,
            "type",
            "veth",
            "peer",
            "name",
            INNER_LINK,
            "netns",
            ns,
        ])?;
        ip(&["addr", "add", &host_addr, "dev", &self.host_link])?;
        ip(&["link", "set", &self.host_link, "up"])?;
        ip(&["-n", ns, "addr", "add", &inner_addr, "dev", INNER_LINK])?;
        ip(&["-n", ns, "link", "set", INNER_LINK, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }
}

impl Drop for BackendNetwork {
    fn drop(&mut self) {
        // The link first: deleting it removes both ends at once, whereas the kernel tears a
        // deleted namespace (and the veth in it) down asynchronously.
        if Path::new("/sys/class/net").join(&self.host_link).exists()
            && let Err(e) = ip(&["link", "del", &self.host_link])
        {
            warn(&e);
        }
        if self.path().exists()
            && let Err(e) = ip(&["netns", "del", &self.name])
        {
            warn(&e);
        }
    }
}

/// Reports a failed cleanup; unlike `eprintln!`, never panics (this runs in Drop).
fn warn(error: &anyhow::Error) {
    let _ = writeln!(
        std::io::stderr(),
        "leaving a test network behind: {error:#}"
    );
}

/// Runs `ip ARGS`, returning its stdout, or an error naming the command and its stderr.
fn ip(args: &[&str]) -> anyhow::Result<String> {
    let command = format!("ip {}", args.join(" "));
    let output = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running `{command}` (is iproute2 installed?)"))?;
    if !output.status.success() {
        bail!(
            "`{command}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace_listed(name: &str) -> anyhow::Result<bool> {
        // Lines read "NAME" or "NAME (id: N)".
        Ok(ip(&["netns", "list"])?
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name)))
    }

    #[test]
    fn drop_removes_the_namespace_and_the_link() -> anyhow::Result<()> {
        let network = BackendNetwork::create()?;
        let other = BackendNetwork::create()?;
        assert_ne!(network.name, other.name);
        assert_ne!(network.host_link, other.host_link);
        assert_ne!(network.ip, other.ip);
        let (name, link) = (network.name.clone(), network.host_link.clone());
        assert!(namespace_listed(&name)?);
        assert!(ip(&["link", "show", "dev", &link]).is_ok());
        let inner = ip(&["-n", &name, "-4", "-o", "addr", "show", "dev", INNER_LINK])?;
        assert!(inner.contains(&format!("{}/30", network.ip)), "{inner}");

        drop(network);
        assert!(!namespace_listed(&name)?);
        assert!(ip(&["link", "show", "dev", &link]).is_err());
        Ok(())
    }
}
