use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use prometheus_client::registry::Registry;
use sluice_common::TraceConfig;
use sluice_common::telemetry::RootSampling;
use sluice_operator::admin::{self, Admin};
use sluice_operator::cli::Args;
use sluice_operator::leader::{self, LeaseConfig};
use sluice_operator::webhook_cert;
use sluice_webhook::certs::ReloadingCert;
use sluice_webhook::server::{self as webhook_server, Webhook};
use tokio::sync::watch;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telemetry = sluice_common::telemetry::init(
        &args.log_level,
        args.log_format,
        &TraceConfig {
            service: "sluice-operator",
            endpoint: args.otlp_endpoint.clone(),
            protocol: args.otlp_protocol,
            sampling_ratio: args.trace_sampling_ratio,
            roots: RootSampling::Sdk,
        },
    );
    let _telemetry = match telemetry {
        Ok(t) => t,
        Err(error) => {
            eprintln!("sluice-operator: cannot set up logging and tracing: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = sluice_common::kube_client(args.kubeconfig.as_deref()).await?;
    let mut registry = Registry::default();
    let webhook_metrics = sluice_webhook::metrics::Metrics::default();
    webhook_metrics.register(&mut registry);
    let registry = Arc::new(Mutex::new(registry));

    let (ready_tx, ready_rx) = watch::channel(false);
    let admin_listener = tokio::net::TcpListener::bind(&args.metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.metrics_addr))?;
    let admin_app = admin::router(Admin {
        registry: registry.clone(),
        ready: ready_rx,
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        axum::serve(admin_listener, admin_app)
            .await
            .context("metrics listener")
    });

    // The webhook runs on every replica, leader or not: admission must not wait for an
    // election.
    let certificate: Option<Arc<dyn rustls::server::ResolvesServerCert>> = match (
        &args.webhook_cert_file,
        &args.webhook_key_file,
        &args.webhook_cert_secret,
    ) {
        (Some(cert), Some(key), _) => {
            let certificate =
                Arc::new(ReloadingCert::new(cert, key).context("webhook certificate")?);
            tasks.spawn(certificate.clone().watch(args.webhook_cert_reload).map_ok());
            Some(certificate)
        }
        (_, _, Some(secret)) => {
            let settings = webhook_cert::Settings {
                namespace: args.namespace.clone(),
                secret: secret.clone(),
                service: args.webhook_service.clone().unwrap_or_default(),
                configuration: args.webhook_configuration.clone().unwrap_or_default(),
                validity: Duration::from_secs(u64::from(args.webhook_cert_validity_days) * 86_400),
            };
            let certificate = webhook_cert::provision(client.clone(), &settings).await;
            tasks.spawn(
                webhook_cert::keep(
                    client.clone(),
                    settings,
                    certificate.clone(),
                    args.webhook_cert_reload,
                )
                .map_ok(),
            );
            Some(certificate)
        }
        _ => None,
    };
    match certificate {
        Some(certificate) => {
            let webhook = Webhook::new(webhook_metrics, &args.controller_name);
            let listener = tokio::net::TcpListener::bind(&args.webhook_addr)
                .await
                .with_context(|| format!("cannot listen on {}", args.webhook_addr))?;
            tracing::info!(addr = %args.webhook_addr, "serving the admission webhook");
            tasks.spawn({
                let app = webhook_server::router(webhook.clone());
                async move {
                    webhook_server::serve_tls(listener, app, certificate)
                        .await
                        .context("webhook listener")
                }
            });
            tasks.spawn(sluice_webhook::watch::run(client.clone(), webhook.clone()));
            // Ready once the index has a full list: before that, reviews could miss conflicts.
            let synced = webhook.synced.clone();
            tokio::spawn(async move {
                while !synced.load(Ordering::Acquire) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                ready_tx.send_replace(true);
            });
        }
        None => {
            tracing::info!("no webhook certificate given: the admission webhook is not served");
            ready_tx.send_replace(true);
        }
    }

    // The controllers and the election stop first on shutdown; the webhook keeps serving.
    let mut leading_tasks = tokio::task::JoinSet::new();
    let mut lease = None;
    if !args.webhook_only {
        let (leading_tx, leading_rx) = watch::channel(!args.leader_elect);
        if args.leader_elect {
            let identity = format!(
                "{}_{}",
                std::env::var("POD_NAME").unwrap_or_else(|_| "sluice-operator".into()),
                uuid::Uuid::new_v4().simple()
            );
            let config = LeaseConfig {
                namespace: args.namespace.clone(),
                name: args.lease_name.clone(),
                identity,
                lease_duration: Duration::from_secs(15),
                renew_every: Duration::from_secs(5),
            };
            lease = Some(config.clone());
            leading_tasks.spawn(leader::run(client.clone(), config, leading_tx).map_ok());
        }
        leading_tasks.spawn(sluice_operator::controllers::run_while_leading(
            client.clone(),
            sluice_operator::controllers::Settings::from_args(&args),
            registry.clone(),
            leading_rx,
        ));
    }

    let terminate = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    };
    tokio::select! {
        result = terminate => {
            result?;
            tracing::info!(delay = ?args.shutdown_delay, "shutting down");
            // Nothing reconciles after the Lease is given up.
            leading_tasks.shutdown().await;
            if let Some(config) = lease {
                release_lease(client, &config).await;
            }
            tokio::time::sleep(args.shutdown_delay).await;
            Ok(())
        }
        Some(result) = tasks.join_next() => task_ended(result),
        Some(result) = leading_tasks.join_next() => task_ended(result),
    }
}

/// Every task runs for ever; one ending is fatal.
fn task_ended(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match result {
        Ok(Ok(())) => anyhow::bail!("a task ended unexpectedly"),
        Ok(Err(error)) => Err(error),
        Err(error) => Err(error.into()),
    }
}

/// Hands leadership over at once rather than after the Lease expires; bounded, because a
/// shutdown must not hang on an API server that does not answer.
async fn release_lease(client: kube::Client, config: &LeaseConfig) {
    match tokio::time::timeout(Duration::from_secs(3), leader::release(client, config)).await {
        Ok(Ok(released)) => tracing::info!(lease = %config.name, released, "leadership given up"),
        Ok(Err(error)) => {
            tracing::warn!(%error, lease = %config.name, "releasing the lease failed")
        }
        Err(_) => tracing::warn!(lease = %config.name, "releasing the lease timed out"),
    }
}

/// Adapts a task that never returns to the JoinSet's result type.
trait MapOk: std::future::Future<Output = ()> + Sized {
    fn map_ok(self) -> impl std::future::Future<Output = anyhow::Result<()>> {
        async move {
            self.await;
            Ok(())
        }
    }
}

impl<F: std::future::Future<Output = ()>> MapOk for F {}
