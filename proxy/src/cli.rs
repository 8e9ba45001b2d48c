//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sluice_common::{LogFormat, OtlpProtocol};
use sluice_crds::annotations::SourceRanges;
pub use sluice_crds::params::TlsVersion;
use sluice_crds::params::{LogLevel, RealIpHeader, ResolvedAccessLog, defaults};

use crate::compile::gateway::GatewayOptions;
use crate::serve::client_addr::TrustedProxies;
use sluice_crds::gateway::attach::GatewayKey;
use sluice_crds::gateway::ports::GatewayPort;

/// Sluice's data plane: routes HTTP(S) by the rules of the Ingresses of one IngressClass.
///
/// With --manifests it reads objects from files (no cluster needed) and reloads them when
/// they change; otherwise it watches the cluster (kubeconfig or in-cluster config).
#[derive(Debug, Parser)]
#[command(name = "sluice-proxy", version)]
pub struct Args {
    /// A YAML/JSON file or directory of Ingress, Service, EndpointSlice, Secret, ConfigMap and
    /// IngressClass objects. Repeatable. Without it, the cluster is watched.
    #[arg(long = "manifests", value_name = "PATH")]
    pub manifests: Vec<PathBuf>,

    /// Serve this Gateway's HTTPRoutes (NAMESPACE/NAME) instead of an IngressClass's
    /// Ingresses: one listener per --gateway-port, on the address of --http-addr.
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = parse_gateway)]
    pub gateway: Option<GatewayKey>,

    /// A listener port of the Gateway and the port the proxy binds for it:
    /// PORT=CONTAINER_PORT/http or PORT=CONTAINER_PORT/https. Repeatable.
    #[arg(
        long = "gateway-port",
        value_name = "PORT=CONTAINER_PORT/PROTOCOL",
        requires = "gateway"
    )]
    pub gateway_ports: Vec<GatewayPort>,

    /// The IngressClass whose Ingresses this proxy serves.
    #[arg(long, default_value = "sluice", env = "SLUICE_INGRESS_CLASS")]
    pub ingress_class: String,

    /// The `spec.controller` of this installation's IngressClasses: a class of another
    /// controller is not served, even under the same name.
    #[arg(long, default_value = sluice_crds::names::CONTROLLER_NAME)]
    pub controller_name: String,

    /// Kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster config.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Plain HTTP listener.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: String,

    /// HTTPS listener (TLS 1.2 and 1.3, ALPN h2 and http/1.1). "off" disables it.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub https_addr: String,

    /// Admin listener: /healthz, /readyz, /metrics, /routes.
    #[arg(long, default_value = "0.0.0.0:9090")]
    pub admin_addr: String,

    /// Worker threads for the data plane (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Do not redirect plain HTTP to HTTPS for hosts that have TLS.
    #[arg(long)]
    pub no_ssl_redirect: bool,

    /// The port put into HTTP→HTTPS redirects (the HTTPS port clients reach).
    #[arg(long, default_value_t = 443)]
    pub https_redirect_port: u16,

    /// Refuse requests over TLS 1.2: only TLS 1.3 connections are served.
    #[arg(long, value_enum, default_value_t = TlsVersion::Tls12)]
    pub tls_min_version: TlsVersion,

    /// PEM certificate served when no Ingress TLS Secret matches the SNI (default: a
    /// self-signed certificate generated at start-up).
    #[arg(long, value_name = "FILE", requires = "default_key")]
    pub default_cert: Option<PathBuf>,

    /// PEM private key of --default-cert.
    #[arg(long, value_name = "FILE", requires = "default_cert")]
    pub default_key: Option<PathBuf>,

    /// Upstream connect timeout (ms, s, m or h), unless an Ingress sets its own.
    #[arg(long, default_value = "5s", value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub connect_timeout: Duration,

    /// Upstream read timeout, unless an Ingress sets its own.
    #[arg(long, default_value = "60s", value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub read_timeout: Duration,

    /// How long a client may take to send a whole request head, from its first byte.
    #[arg(long, default_value = defaults::CLIENT_HEADER_TIMEOUT, value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub client_header_timeout: Duration,

    /// How long a client may pause between two parts of a request body.
    #[arg(long, default_value = defaults::CLIENT_BODY_TIMEOUT, value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub client_body_timeout: Duration,

    /// How long a kept-alive client connection may wait for its next request.
    #[arg(long, default_value = defaults::KEEPALIVE_TIMEOUT, value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub keepalive_timeout: Duration,

    /// How long a write to a client may wait for the client to read.
    #[arg(long, default_value = defaults::SEND_TIMEOUT, value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub send_timeout: Duration,

    /// The most client connections held at once; more are closed as they arrive (0: no
    /// cap).
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// The most client connections held at once from one address (0: no cap).
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS_PER_ADDRESS)]
    pub max_connections_per_address: usize,

    /// The largest request body: bytes, or a number with k, m or g (0: no limit). An
    /// Ingress can set its own (proxy-body-size); a larger body gets 413.
    #[arg(long, default_value = defaults::MAX_BODY_SIZE, value_parser = sluice_crds::annotations::parse_size)]
    pub max_body_size: u64,

    /// Expect the PROXY protocol (v1 or v2) on the HTTP and HTTPS listeners, as a load
    /// balancer sends it: the client address it carries is the client's. A connection
    /// without a valid header within --client-header-timeout is closed.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// Load balancers and CDNs trusted to say the client's address in --real-ip-header:
    /// comma-separated CIDRs or addresses. Empty: nobody (the connection's peer is the
    /// client).
    // Fully qualified, so that clap leaves the Option to the parser: "" parses to None.
    #[arg(long, value_name = "CIDRS", default_value = "", value_parser = parse_trusted_proxies)]
    pub trusted_proxies: ::std::option::Option<SourceRanges>,

    /// The header trusted proxies put the client's address in.
    #[arg(long, value_enum, default_value_t = RealIpHeader::XForwardedFor)]
    pub real_ip_header: RealIpHeader,

    /// Send every HTTP/1.1 request through Pingora's proxy instead of the fast path (the
    /// answers are the same; for comparing the two, or as a fallback).
    #[arg(long)]
    pub no_fast_path: bool,

    /// Response headers Ingresses may set with the custom-headers annotation, comma-separated
    /// (ingress-nginx's global-allowed-response-headers). Default: none.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub allowed_response_headers: Vec<String>,

    /// Endpoints tried per request when connecting fails.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub max_attempts: u8,

    /// After SIGTERM, keep accepting for this long before closing the listeners.
    #[arg(long, default_value = "0s", value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub shutdown_delay: Duration,

    /// After the listeners close, how long requests in flight may take to finish.
    #[arg(long, default_value = "10s", value_parser = sluice_crds::annotations::parse_flag_duration)]
    pub grace_period: Duration,

    /// OTLP endpoint of an OpenTelemetry collector to export request spans to (e.g.
    /// http://otel-collector:4317). Without it nothing is traced.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// OTLP transport.
    #[arg(long, value_enum, default_value_t = OtlpProtocol::Grpc)]
    pub otlp_protocol: OtlpProtocol,

    /// Share of requests without a sampled traceparent that are traced (0 to 1).
    #[arg(long, default_value_t = 0.01, value_parser = sluice_common::telemetry::parse_ratio)]
    pub trace_sampling_ratio: f64,

    /// Log level (overridden by RUST_LOG). In a cluster, the class's IngressClassParams
    /// (logging.level) change it while running.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Write no access log (one line per request, at info). In a cluster, the class's
    /// IngressClassParams (logging.accessLog) change it while running.
    #[arg(long)]
    pub no_access_log: bool,

    /// Share of requests written to the access log (0 to 1).
    #[arg(long, default_value_t = 1.0, value_parser = sluice_common::telemetry::parse_ratio)]
    pub access_log_sampling_ratio: f64,

    /// Also count requests by method, status and the matched rule's host
    /// (sluice_proxy_requests_detailed_total): more series.
    #[arg(long)]
    pub metrics_detailed_labels: bool,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Args {
    /// Whom the flags trust to say the client's address, and in which header.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.clone(), self.real_ip_header)
    }

    /// `--gateway` and its ports, when set.
    pub fn gateway_options(&self) -> Option<GatewayOptions> {
        self.gateway.clone().map(|gateway| GatewayOptions {
            gateway,
            ports: self.gateway_ports.clone(),
        })
    }

    /// The IP of `--http-addr`, which Gateway listeners bind on.
    pub fn listen_ip(&self) -> String {
        match self.http_addr.parse::<std::net::SocketAddr>() {
            Ok(addr) => addr.ip().to_string(),
            Err(_) => "0.0.0.0".into(),
        }
    }

    /// The access log as the flags set it.
    pub fn access_log(&self) -> ResolvedAccessLog {
        ResolvedAccessLog {
            enabled: !self.no_access_log,
            sampling_ratio: self.access_log_sampling_ratio,
        }
    }
}

/// `--trusted-proxies`: empty (or blank) for nobody.
fn parse_trusted_proxies(value: &str) -> Result<Option<SourceRanges>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    SourceRanges::parse(value).map(Some)
}

/// `--gateway`: `NAMESPACE/NAME`.
fn parse_gateway(value: &str) -> Result<GatewayKey, String> {
    match value.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(GatewayKey {
                namespace: namespace.into(),
                name: name.into(),
            })
        }
        _ => Err(format!("{value:?} is not NAMESPACE/NAME")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_flags_parse() {
        let args = Args::try_parse_from([
            "sluice-proxy",
            "--gateway=infra/public",
            "--gateway-port=80=8080/http",
            "--gateway-port=443=8443/https",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let options = args
            .gateway_options()
            .unwrap_or_else(|| panic!("no gateway"));
        assert_eq!(options.gateway.namespace, "infra");
        assert_eq!(options.gateway.name, "public");
        let ports: Vec<String> = options.ports.iter().map(ToString::to_string).collect();
        assert_eq!(ports, ["80=8080/http", "443=8443/https"]);
        assert!(Args::try_parse_from(["sluice-proxy", "--gateway=public"]).is_err());
        assert!(Args::try_parse_from(["sluice-proxy", "--gateway-port=80=8080/http"]).is_err());
    }
}
