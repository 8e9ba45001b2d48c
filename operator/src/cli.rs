//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sluice_common::{LogFormat, OtlpProtocol};

/// Sluice's operator: turns each IngressClass of Sluice's (with its IngressClassParams)
/// into a managed proxy fleet, publishes addresses on Ingresses, and serves the admission
/// webhook.
#[derive(Debug, Parser)]
#[command(name = "sluice-operator", version)]
pub struct Args {
    /// Namespace for the managed proxy fleets and the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "sluice-system")]
    pub namespace: String,

    /// Kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster config.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Health, readiness and metrics listener: /healthz, /readyz, /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: String,

    /// Admission webhook listener (HTTPS only).
    #[arg(long, default_value = "0.0.0.0:9443")]
    pub webhook_addr: String,

    /// PEM certificate of the webhook; with --webhook-key-file. Without them the webhook
    /// is not served.
    #[arg(long, value_name = "FILE", requires = "webhook_key_file")]
    pub webhook_cert_file: Option<PathBuf>,

    /// PEM private key of the webhook.
    #[arg(long, value_name = "FILE", requires = "webhook_cert_file")]
    pub webhook_key_file: Option<PathBuf>,

    /// Keep the webhook's certificate in this Secret of --namespace instead of reading
    /// files: a CA and serving certificate are generated when it is missing or unusable,
    /// and the caBundle of --webhook-configuration is kept at its CA.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "webhook_cert_file",
        requires_all = ["webhook_service", "webhook_configuration"]
    )]
    pub webhook_cert_secret: Option<String>,

    /// The webhook's Service, whose DNS names the generated certificate carries.
    #[arg(long, value_name = "NAME")]
    pub webhook_service: Option<String>,

    /// The ValidatingWebhookConfiguration that calls the webhook.
    #[arg(long, value_name = "NAME")]
    pub webhook_configuration: Option<String>,

    /// Days a certificate generated for --webhook-cert-secret is valid (renewed 30 days
    /// before its end).
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(31..=36500))]
    pub webhook_cert_validity_days: u32,

    /// How often the webhook certificate (files or Secret) is checked for changes.
    #[arg(long, default_value = "10s", value_parser = nonzero_duration)]
    pub webhook_cert_reload: Duration,

    /// On SIGTERM, how long the webhook keeps answering after leadership is given up, while
    /// the removal of this pod's endpoint reaches the API server.
    #[arg(long, default_value = "5s", value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub shutdown_delay: Duration,

    /// Serve only the webhook; run no controllers.
    #[arg(long)]
    pub webhook_only: bool,

    /// Elect a leader among replicas with a Lease; only the leader runs controllers.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the leader-election Lease.
    #[arg(long, default_value = "sluice-operator")]
    pub lease_name: String,

    /// Proxy image repository used when an IngressClassParams does not set one.
    #[arg(long, env = "SLUICE_PROXY_IMAGE")]
    pub proxy_image: Option<String>,

    /// The `spec.controller` of the IngressClasses this operator serves. Give each
    /// installation in a cluster its own, so that they serve disjoint classes.
    #[arg(long, default_value = sluice_crds::names::CONTROLLER_NAME)]
    pub controller_name: String,

    /// The `spec.controllerName` of the GatewayClasses this operator serves.
    #[arg(long, default_value = sluice_crds::gateway::class::CONTROLLER_NAME)]
    pub gateway_controller_name: String,

    /// ClusterRole bound to every proxy fleet's ServiceAccount.
    #[arg(long, default_value = "sluice-proxy")]
    pub proxy_cluster_role: String,

    /// OTLP endpoint of an OpenTelemetry collector for the operator's own spans
    /// (reconciles, admission reviews). Without it nothing is traced.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// OTLP transport.
    #[arg(long, value_enum, default_value_t = OtlpProtocol::Grpc)]
    pub otlp_protocol: OtlpProtocol,

    /// Share of reconciles and reviews without a sampled traceparent that are traced.
    #[arg(long, default_value_t = 1.0, value_parser = sluice_common::telemetry::parse_ratio)]
    pub trace_sampling_ratio: f64,

    /// Log level (overridden by RUST_LOG).
    #[arg(long, default_value = "info")]
    pub log_level: String,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A period: zero would be a busy loop.
fn nonzero_duration(s: &str) -> Result<Duration, String> {
    sluice_crds::annotations::parse_duration(s).map_err(str::to_string)
}
