//! The Pingora server: one service with the HTTP and HTTPS listeners (the HTTP/1.1 fast
//! path in front of Pingora's proxy), and the shutdown sequence Kubernetes expects.
//!
//! SIGTERM: keep accepting for `shutdown_delay` (while endpoints are removed elsewhere),
//! then close the listeners and let requests in flight finish, for at most
//! `grace_period`; exit as soon as none is left. SIGINT: close the listeners and exit at
//! once.
//!
//! Both close the listeners through Pingora's graceful path, never its fast one: Pingora's
//! fast shutdown stops the runtimes without telling the accept loops. A listener is
//! registered with the runtime that built it, its accept loop may run on another; once the
//! first has stopped, every accept fails at once with "A Tokio 1.x context was found, but it
//! is being shutdown", without using up the task's budget, so the loop never yields, logs
//! each failure (1.8 million lines in one stop of the demo), and keeps its own runtime from
//! ever stopping, until the process is killed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::listeners::TlsAccept;
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::tls::TlsRef;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{ExecutionPhase, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::listening::Service;
use rustls::sign::CertifiedKey;
use sluice_crds::gateway::ports::{GatewayPort, PortProtocol};

use super::h1::FastPath;
use super::proxy_protocol::ProxyProtocol;
use super::request_id::RequestIds;
use super::router::{Router, ServeOptions};
use super::tls::{CertResolver, ClientSni};
use crate::state::State;

/// One client listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub addr: String,
    /// TLS terminated here, with the certificate of the SNI from the port's table.
    pub tls: bool,
}

impl Listener {
    /// Ingress mode: the plain HTTP listener and, unless off, the HTTPS one; both serve
    /// the one table.
    pub fn ingress(http_addr: String, https_addr: Option<String>) -> Vec<Self> {
        std::iter::once(Self {
            addr: http_addr,
            tls: false,
        })
        .chain(https_addr.map(|addr| Self { addr, tls: true }))
        .collect()
    }

    /// Gateway mode: one per listener port, on `ip`, at the port the proxy binds for it.
    pub fn gateway(ip: &str, ports: &[GatewayPort]) -> Vec<Self> {
        ports
            .iter()
            .map(|p| Self {
                addr: if ip.contains(':') {
                    format!("[{ip}]:{}", p.container_port)
                } else {
                    format!("{ip}:{}", p.container_port)
                },
                tls: p.protocol == PortProtocol::Https,
            })
            .collect()
    }

    /// The port it binds, when its address says.
    fn port(&self) -> Option<u16> {
        self.addr
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.port())
    }
}

pub struct ServerOptions {
    /// At least one.
    pub listeners: Vec<Listener>,
    pub threads: usize,
    pub default_certificate: Arc<CertifiedKey>,
    pub shutdown_delay: Duration,
    pub grace_period: Duration,
    /// A PROXY protocol header comes first on every client connection, on both listeners.
    pub proxy_protocol: bool,
    pub serve: ServeOptions,
}

/// Runs the data plane on the calling thread until shutdown. Must not be called from
/// inside a tokio runtime (Pingora runs its own).
pub fn run(state: Arc<State>, options: ServerOptions) -> anyhow::Result<()> {
    // Pingora reports a listener that cannot bind only from inside its task, after
    // retrying for 30 s; check first so a taken port is a clear start-up error.
    anyhow::ensure!(!options.listeners.is_empty(), "no listener to serve");
    for listener in &options.listeners {
        let addr = &listener.addr;
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    }

    let conf = ServerConf {
        threads: options.threads.max(1),
        // One single-threaded runtime per thread: no cross-thread wake-ups per request.
        work_stealing: false,
        grace_period_seconds: Some(options.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        // Idle upstream connections kept, all endpoints together: enough for HTTP/2 clients'
        // many streams in flight at once (with 256, a third of the requests of 64 clients
        // with 10 streams each opened a new upstream connection).
        upstream_keepalive_pool_size: 4096,
        // Total attempts; the router decides which failures are retried.
        max_retries: options.serve.max_attempts.max(1),
        daemon: false,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let request_ids = Arc::new(RequestIds::default());
    let router = Router {
        state: state.clone(),
        options: options.serve.clone(),
        request_ids: request_ids.clone(),
    };
    let mut pingora = http_proxy(&server.configuration, router);
    let mut http = HttpServerOptions::default();
    // An HTTP/2 connection with no stream open is closed after the keep-alive timeout, as an
    // HTTP/1.1 connection is between requests (without it, it was kept until the client left).
    http.h2_idle_timeout = Some(options.serve.client.keepalive);
    // HTTP/2 with prior knowledge on the plain listener (gRPC without TLS, say): the fast
    // path hands such a connection over whole.
    http.h2c = true;
    pingora.server_options = Some(http);
    // Read before the TLS handshake on the HTTPS listener (Pingora's pre-TLS hook), by the
    // fast path on the plain one.
    let proxy_protocol = options.proxy_protocol.then(|| {
        Arc::new(ProxyProtocol {
            timeout: options.serve.client.header,
            refused: state.metrics.proxy_protocol_refused.clone(),
        })
    });
    let app = FastPath {
        state: state.clone(),
        options: options.serve,
        request_ids,
        pingora: Arc::new(pingora),
        proxy_protocol: proxy_protocol.clone(),
    };
    let mut service = Service::new("sluice-proxy".to_string(), app);
    for listener in &options.listeners {
        if !listener.tls {
            service.add_tcp(&listener.addr);
            continue;
        }
        let mut tls = TlsSettings::with_callbacks(Box::new(HandshakeCounter(state.clone())))
            .map_err(|e| anyhow::anyhow!("TLS settings: {e}"))?;
        tls.set_cert_resolver(Arc::new(CertResolver {
            state: state.clone(),
            default: options.default_certificate.clone(),
            port: listener.port(),
        }));
        tls.enable_h2();
        service.add_tls_with_settings(&listener.addr, None, tls);
    }
    if let Some(proxy_protocol) = proxy_protocol {
        // Pingora calls it on the TLS endpoints only.
        service.endpoints().set_pre_tls_callback(proxy_protocol);
    }
    server.add_service(service);

    let phases = server.watch_execution_phase();
    let stop_at_once = Arc::new(AtomicBool::new(false));
    std::thread::spawn({
        let state = state.clone();
        let stop_at_once = stop_at_once.clone();
        let grace = options.grace_period;
        // One listener of the service answering means they all started (they start
        // together); probing the TLS one would log a failed handshake.
        let first = options
            .listeners
            .iter()
            .find(|l| !l.tls)
            .or(options.listeners.first());
        let addrs: Vec<String> = first.map(|l| l.addr.clone()).into_iter().collect();
        move || follow_lifecycle(phases, state, addrs, grace, &stop_at_once)
    });

    let listeners: Vec<String> = options
        .listeners
        .iter()
        .map(|l| format!("{}{}", l.addr, if l.tls { " (TLS)" } else { "" }))
        .collect();
    tracing::info!(listeners = ?listeners, proxy_protocol = options.proxy_protocol, "serving");
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals {
            state: state.clone(),
            shutdown_delay: options.shutdown_delay,
            stop_at_once,
        }),
    });
    state.run_exit_hooks();
    Ok(())
}

/// Follows the server's phases: marks the proxy listening once its listeners accept
/// connections (readiness waits for that), and, because Pingora sleeps through the whole
/// grace period even when nothing is left to drain, ends the process as soon as the last
/// request in flight has finished (at once after SIGINT). The listeners are closed by then.
fn follow_lifecycle(
    mut phases: tokio::sync::broadcast::Receiver<ExecutionPhase>,
    state: Arc<State>,
    addrs: Vec<String>,
    grace: Duration,
    stop_at_once: &AtomicBool,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match phases.blocking_recv() {
            Ok(ExecutionPhase::Running) => {
                let state = state.clone();
                let addrs = addrs.clone();
                std::thread::spawn(move || {
                    if addrs.iter().all(|a| wait_accepting(a)) {
                        state.set_listening();
                    }
                });
            }
            Ok(ExecutionPhase::ShutdownGracePeriod) => break,
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
    let deadline = Instant::now() + grace;
    while state.metrics.in_flight.get() > 0
        && Instant::now() < deadline
        && !stop_at_once.load(Ordering::Acquire)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(
        in_flight = state.metrics.in_flight.get(),
        "drained; exiting"
    );
    state.run_exit_hooks();
    std::process::exit(0);
}

/// Waits up to a minute for `addr` to accept a connection (an unspecified address is
/// reached on loopback).
fn wait_accepting(addr: &str) -> bool {
    let Ok(mut target) = addr.parse::<std::net::SocketAddr>() else {
        return false;
    };
    if target.ip().is_unspecified() {
        target.set_ip(if target.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tracing::error!(addr, "the listener did not come up");
    false
}

struct Signals {
    state: Arc<State>,
    shutdown_delay: Duration,
    /// Set on SIGINT: exit without waiting for requests in flight.
    stop_at_once: Arc<AtomicBool>,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers; shutting down");
            self.stop_at_once.store(true, Ordering::Release);
            return ShutdownSignal::GracefulTerminate;
        };
        tokio::select! {
            _ = term.recv() => {
                self.state.set_shutting_down();
                tracing::info!(delay_ms = self.shutdown_delay.as_millis() as u64, "SIGTERM: draining");
                tokio::time::sleep(self.shutdown_delay).await;
                ShutdownSignal::GracefulTerminate
            }
            _ = int.recv() => {
                self.state.set_shutting_down();
                self.stop_at_once.store(true, Ordering::Release);
                tracing::info!("SIGINT: stopping");
                // Not FastShutdown: see the module comment. The grace period is cut short
                // by `follow_lifecycle`.
                ShutdownSignal::GracefulTerminate
            }
        }
    }
}

struct HandshakeCounter(Arc<State>);

#[async_trait]
impl TlsAccept for HandshakeCounter {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.0.metrics.tls_handshakes.inc();
        let sni = tls.server_name()?;
        Some(Arc::new(ClientSni(sni.to_ascii_lowercase())))
    }
}
