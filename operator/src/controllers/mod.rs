//! The controllers the leader runs: `fleet` (IngressClass → proxy fleet and params
//! status), `ingresses` (addresses on Ingress status, conflict Events),
//! `gateway_classes` (GatewayClass status) and `gateways` (Gateway → proxy fleet, Gateway
//! and route status).

pub mod apply;
pub mod fleet;
pub mod gateway_classes;
pub mod gateways;
pub mod ingresses;
pub mod metrics;
pub mod status;
pub mod stores;

use std::sync::{Arc, Mutex};

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::cli::Args;
use crate::desired::FleetSettings;
use metrics::ControllerMetrics;

/// The controllers' settings, from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub fleet: FleetSettings,
    pub proxy_image: Option<String>,
    /// The `controllerName` of the GatewayClasses this operator serves.
    pub gateway_controller: String,
}

impl Settings {
    pub fn from_args(args: &Args) -> Self {
        Self {
            fleet: FleetSettings {
                namespace: args.namespace.clone(),
                proxy_cluster_role: args.proxy_cluster_role.clone(),
                controller: args.controller_name.clone(),
            },
            proxy_image: args.proxy_image.clone(),
            gateway_controller: args.gateway_controller_name.clone(),
        }
    }
}

/// Runs the controllers whenever `leading` is true, and stops them when it turns false.
pub async fn run_while_leading(
    client: Client,
    settings: Settings,
    registry: Arc<Mutex<Registry>>,
    mut leading: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = ControllerMetrics::default();
    metrics.register(&mut registry.lock().unwrap_or_else(|e| e.into_inner()));
    let reporter = Reporter {
        controller: "sluice-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    loop {
        leading.wait_for(|l| *l).await?;
        tracing::info!("leading: starting controllers");
        metrics.leader.set(1);
        let stop = {
            let mut leading = leading.clone();
            async move {
                let _ = leading.wait_for(|l| !*l).await;
            }
        };
        let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
            let mut rx = tx.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        };
        let fleet = fleet::run(
            client.clone(),
            settings.clone(),
            recorder.clone(),
            metrics.clone(),
            stopped(&stop_tx),
        );
        let ingresses = ingresses::run(
            client.clone(),
            settings.fleet.namespace.clone(),
            settings.fleet.controller.clone(),
            recorder.clone(),
            metrics.clone(),
            stopped(&stop_tx),
        );
        let gateway_classes = gateway_classes::run(
            client.clone(),
            settings.gateway_controller.clone(),
            metrics.clone(),
            stopped(&stop_tx),
        );
        let gateways = gateways::run(
            client.clone(),
            settings.clone(),
            metrics.clone(),
            stopped(&stop_tx),
        );
        let signal = async {
            stop.await;
            tracing::info!("lost leadership: stopping controllers");
            let _ = stop_tx.send(());
        };
        tokio::join!(fleet, ingresses, gateway_classes, gateways, signal);
        metrics.leader.set(0);
    }
}
