//! A child process that is stopped when its guard is dropped, also when a test panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Owns a running child process; SIGTERM on drop, SIGKILL if it does not exit in time.
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    grace: Duration,
}

impl ChildGuard {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {name} ({command:?}): {e}"))?;
        Ok(Self {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
            grace: Duration::from_secs(25),
        })
    }

    /// How long `stop` waits after SIGTERM before it kills.
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process's output so far, for error messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process itself listens on TCP `port`, not another one that took it.
    pub fn listens_on(&self, port: u16) -> bool {
        self.pid()
            .and_then(|pid| crate::sockets::listening_ports(pid).ok())
            .is_some_and(|ports| ports.contains(&port))
    }

    /// `Some(status)` once the process has exited.
    pub fn try_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends SIGTERM and waits for the exit; returns its status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop after SIGTERM; killing it", self.name);
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
