use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use sluice_common::TraceConfig;
use sluice_common::telemetry::RootSampling;
use sluice_proxy::cli::{Args, TlsVersion};
use sluice_proxy::compile::CompileOptions;
use sluice_proxy::metrics::Metrics;
use sluice_proxy::serve::access_log::AccessLog;
use sluice_proxy::serve::limits::ConnectionCaps;
use sluice_proxy::serve::router::{ClientTimeouts, ServeOptions};
use sluice_proxy::serve::server::{self, Listener, ServerOptions};
use sluice_proxy::serve::tls::default_certificate;
use sluice_proxy::serve::trace::Tracing;
use sluice_proxy::source::live::Live;
use sluice_proxy::state::State;
use sluice_proxy::{admin, source};

// Per-request allocations are many and small; mimalloc serves them faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    // One crypto provider for every TLS user in the process (Pingora, kube, the exporter).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The config side (source, admin, span export) runs on its own small runtime; Pingora
    // runs its own.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-config")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(error) => {
            eprintln!("sluice-proxy: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = {
        let _inside = runtime.enter();
        sluice_common::telemetry::init(
            args.log_level.as_str(),
            args.log_format,
            &TraceConfig {
                service: "sluice-proxy",
                endpoint: args.otlp_endpoint.clone(),
                protocol: args.otlp_protocol,
                sampling_ratio: args.trace_sampling_ratio,
                // The router decides for requests without a trace context (serve::trace).
                roots: RootSampling::Caller,
            },
        )
    };
    let telemetry = match telemetry {
        Ok(t) => t,
        Err(error) => {
            eprintln!("sluice-proxy: cannot set up logging and tracing: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match run(args, runtime, telemetry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    args: Args,
    runtime: tokio::runtime::Runtime,
    telemetry: sluice_common::Telemetry,
) -> anyhow::Result<()> {
    let metrics = Metrics::new(args.metrics_detailed_labels);
    let gateway = args.gateway_options();
    if gateway.as_ref().is_some_and(|g| g.ports.is_empty()) {
        anyhow::bail!("--gateway needs at least one --gateway-port");
    }
    let listeners = match &gateway {
        Some(gateway) => Listener::gateway(&args.listen_ip(), &gateway.ports),
        None => Listener::ingress(
            args.http_addr.clone(),
            (args.https_addr != "off").then(|| args.https_addr.clone()),
        ),
    };
    let state = Arc::new(
        State::new(
            CompileOptions {
                class: args.ingress_class.clone(),
                controller: args.controller_name.clone(),
                ssl_redirect: !args.no_ssl_redirect,
                // Named once per process by the operator, so kept for its life: the routes'
                // custom headers then name their headers without copying.
                allowed_response_headers: args
                    .allowed_response_headers
                    .iter()
                    .map(|name| &*Box::leak(name.trim().to_ascii_lowercase().into_boxed_str()))
                    .collect(),
            },
            metrics,
            AccessLog::new(args.access_log(), args.log_format),
            ConnectionCaps {
                total: args.max_connections,
                per_address: args.max_connections_per_address,
            },
        )
        .with_gateway(gateway),
    );
    let level = telemetry.level();
    let flags = Live {
        level: args.log_level.as_str(),
        access_log: args.access_log(),
    };
    let default_certificate = Arc::new(
        default_certificate(args.default_cert.as_deref(), args.default_key.as_deref())
            .context("default certificate")?,
    );
    let tracing = telemetry
        .tracer("sluice-proxy")
        .map(|tracer| Tracing::new(tracer, args.trace_sampling_ratio));
    // Spans still queued are flushed before the process exits.
    state.on_exit(Box::new(move || drop(telemetry)));

    let admin_listener = runtime
        .block_on(tokio::net::TcpListener::bind(&args.admin_addr))
        .with_context(|| format!("cannot listen on {}", args.admin_addr))?;
    let config_state = state.clone();
    let manifests = args.manifests.clone();
    let kubeconfig = args.kubeconfig.clone();
    std::thread::Builder::new()
        .name("sluice-config".into())
        .spawn(move || {
            runtime.block_on(async move {
                let admin = axum::serve(
                    admin_listener,
                    admin::router(config_state.clone())
                        .into_make_service_with_connect_info::<std::net::SocketAddr>(),
                );
                let source = async {
                    if manifests.is_empty() {
                        let client = sluice_common::kube_client(kubeconfig.as_deref()).await?;
                        source::kubernetes::run(client, config_state.clone(), level, flags).await
                    } else {
                        source::files::run(manifests, config_state.clone()).await
                    }
                };
                let result: anyhow::Result<()> = tokio::select! {
                    r = admin => r.context("admin listener"),
                    r = source => r.context("configuration source"),
                };
                // Either ending is fatal: without it the proxy would serve blind.
                tracing::error!(error = ?result.err(), "configuration side stopped; exiting");
                std::process::exit(1);
            })
        })?;

    let trusted_proxies = args.trusted_proxies();
    server::run(
        state,
        ServerOptions {
            listeners,
            threads: args.threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            }),
            default_certificate,
            shutdown_delay: args.shutdown_delay,
            grace_period: args.grace_period,
            proxy_protocol: args.proxy_protocol,
            serve: ServeOptions {
                connect_timeout: args.connect_timeout,
                read_timeout: args.read_timeout,
                max_attempts: args.max_attempts as usize,
                https_redirect_port: args.https_redirect_port,
                require_tls13: args.tls_min_version == TlsVersion::Tls13,
                tracing,
                fast_path: !args.no_fast_path,
                client: ClientTimeouts {
                    header: args.client_header_timeout,
                    body: args.client_body_timeout,
                    keepalive: args.keepalive_timeout,
                    send: args.send_timeout,
                },
                max_body_size: args.max_body_size,
                trusted_proxies,
            },
        },
    )
}
