//! A TCP relay in front of the test cluster's API server, for a client that must lose it
//! while the test keeps talking to it directly: [`ApiRelay::cut`] resets every relayed
//! connection and refuses new ones, as a stopped API server does; [`ApiRelay::restore`]
//! listens again on the same port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::TestCluster;

pub struct ApiRelay {
    addr: SocketAddr,
    target: SocketAddr,
    kubeconfig: PathBuf,
    accepting: Option<tokio::task::JoinHandle<()>>,
}

impl ApiRelay {
    /// Relays to `cluster`'s API server, and writes a kubeconfig that goes through the relay
    /// into `dir`. The API server's certificate names 127.0.0.1, so TLS holds.
    pub async fn start(cluster: &TestCluster, dir: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(cluster.kubeconfig())?;
        let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)?;
        let server = config["clusters"][0]["cluster"]["server"]
            .as_str()
            .context("the kubeconfig names no server")?
            .to_string();
        let target: SocketAddr = server
            .trim_start_matches("https://")
            .parse()
            .with_context(|| format!("the API server address {server}"))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        config["clusters"][0]["cluster"]["server"] = format!("https://{addr}").into();
        let kubeconfig = dir.join("kubeconfig-relayed");
        std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&config)?)?;
        Ok(Self {
            addr,
            target,
            kubeconfig,
            accepting: Some(tokio::spawn(relay(listener, target))),
        })
    }

    /// A kubeconfig whose server is the relay.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Resets every relayed connection and refuses new ones.
    pub fn cut(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            // Aborting the accept loop drops the listener and, with its JoinSet, every
            // relayed connection (sockets set to reset when dropped).
            accepting.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) -> anyhow::Result<()> {
        if self.accepting.is_some() {
            return Ok(());
        }
        // The aborted task drops its listener when it next runs; retry briefly until the
        // port is free.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("listening again on the relay's port"),
            }
        };
        self.accepting = Some(tokio::spawn(relay(listener, self.target)));
        Ok(())
    }
}

impl Drop for ApiRelay {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn relay(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        connections.spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            // Dropped (when cut) with a reset, not a clean close.
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
            let (mut client, mut server) = (client, server);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
        // Reap finished connections so the set does not grow with every reconnect.
        while connections.try_join_next().is_some() {}
    }
}
