//! Steady traffic while something changes underneath (a pod deleted, a rolling update):
//! a few clients send GETs one after another, each on a new connection as most clients of
//! an ingress open them, and count every answer that is not the expected backend's 200.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between one client's requests: steady load, not a flood of a 2-core machine.
const PAUSE: Duration = Duration::from_millis(10);

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    /// One line per failed request: what went wrong.
    pub failures: Vec<String>,
}

/// Clients running until [`Traffic::stop`].
pub struct Traffic {
    stop: watch::Sender<bool>,
    clients: JoinSet<Tally>,
}

impl Traffic {
    /// Starts `clients` clients asking `host` `path` at `addr`; an answer counts as good when
    /// it is a 200 from the backend `server` (see [`client::Reply::server`]).
    pub fn start(addr: SocketAddr, host: &str, path: &str, server: &str, clients: usize) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut set = JoinSet::new();
        for _ in 0..clients {
            let (host, path, server) = (host.to_string(), path.to_string(), server.to_string());
            let stopped = stopped.clone();
            set.spawn(async move {
                let mut tally = Tally::default();
                while !*stopped.borrow() {
                    let reply =
                        tokio::time::timeout(REQUEST_TIMEOUT, client::get(addr, &host, &path))
                            .await;
                    match reply {
                        Ok(Ok(r)) if r.status == 200 && r.server().as_deref() == Some(&server) => {
                            tally.ok += 1
                        }
                        Ok(Ok(r)) => tally
                            .failures
                            .push(format!("status {}: {}", r.status, r.body)),
                        Ok(Err(e)) => tally.failures.push(format!("{e:#}")),
                        Err(_) => tally
                            .failures
                            .push(format!("no answer within {REQUEST_TIMEOUT:?}")),
                    }
                    tokio::time::sleep(PAUSE).await;
                }
                tally
            });
        }
        Self { stop, clients: set }
    }

    /// Stops the clients and adds up what they saw.
    pub async fn stop(mut self) -> Tally {
        self.stop.send_replace(true);
        let mut total = Tally::default();
        while let Some(result) = self.clients.join_next().await {
            match result {
                Ok(tally) => {
                    total.ok += tally.ok;
                    total.failures.extend(tally.failures);
                }
                Err(e) => total.failures.push(format!("a client task failed: {e}")),
            }
        }
        total
    }
}
