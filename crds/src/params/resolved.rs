//! The resolved view of IngressClassParams, and why a spec may not resolve.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, ResourceRequirements, Toleration, TopologySpreadConstraint, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::schema::is_dns_subdomain;
use super::types::{
    ExternalTrafficPolicy, LogFormat, LogLevel, OtlpProtocol, PullPolicy, RealIpHeader,
    ServiceType, TlsVersion, WorkloadKind,
};

/// IngressClassParams with every default filled in and every rule checked: what the
/// operator builds the fleet from.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedParams {
    /// The fixed number of proxy pods; with autoscaling, the autoscaler's minimum (the
    /// count a new fleet starts with).
    pub replicas: i32,
    /// `None`: `replicas` pods, kept by the operator.
    pub autoscaling: Option<ResolvedAutoscaling>,
    /// With DaemonSet, `replicas` and `autoscaling` do not apply.
    pub kind: WorkloadKind,
    /// The node ports (hostPort) of HTTP and HTTPS, if any; with `host_network`, always
    /// both (80 and 443 unless set).
    pub host_ports: (Option<i32>, Option<i32>),
    /// The pods use the node's network.
    pub host_network: bool,
    /// Flags appended to the proxy's command line.
    pub extra_args: Vec<String>,
    pub extra_volumes: Vec<Volume>,
    pub extra_volume_mounts: Vec<VolumeMount>,
    pub image: ResolvedImage,
    pub service: ResolvedService,
    pub resources: ResourceRequirements,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    pub pod_annotations: BTreeMap<String, String>,
    pub pod_labels: BTreeMap<String, String>,
    pub extra_env: Vec<EnvVar>,
    pub priority_class_name: Option<String>,
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Names of Secrets in the operator's namespace.
    pub image_pull_secrets: Vec<String>,
    pub disruption_budget: DisruptionBudget,
    pub logging: ResolvedLogging,
    pub metrics: ResolvedMetrics,
    pub tls: ResolvedTls,
    pub upstream: ResolvedUpstream,
    pub client: ResolvedClient,
    /// Plain HTTP/1.1 requests take the fast path.
    pub fast_path: bool,
    /// Header names the custom-headers annotation may set.
    pub allowed_response_headers: Vec<String>,
    pub tracing: ResolvedTracing,
    /// The addresses to publish on Ingress status; `None`: publish what the Service gets.
    pub addresses: Option<Vec<PublishedAddress>>,
}

/// The proxy image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedImage {
    pub repository: String,
    pub tag: String,
    pub pull_policy: PullPolicy,
    /// `sha256:…`: pins the image.
    pub digest: Option<String>,
}

impl ResolvedImage {
    /// `repository:tag`, or `repository:tag@digest`, for a container's `image`.
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}:{}@{digest}", self.repository, self.tag),
            None => format!("{}:{}", self.repository, self.tag),
        }
    }
}

/// The proxy Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedService {
    pub type_: ServiceType,
    /// `None` for ClusterIP.
    pub http_node_port: Option<i32>,
    /// `None` for ClusterIP.
    pub https_node_port: Option<i32>,
    /// `None` for ClusterIP (Kubernetes refuses the field there).
    pub external_traffic_policy: Option<ExternalTrafficPolicy>,
    pub annotations: BTreeMap<String, String>,
    pub external_ips: Vec<String>,
    /// Empty unless LoadBalancer.
    pub load_balancer_source_ranges: Vec<String>,
    pub load_balancer_class: Option<String>,
    pub load_balancer_ip: Option<IpAddr>,
}

/// The proxies' PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisruptionBudget {
    MaxUnavailable(IntOrString),
    MinAvailable(IntOrString),
}

/// The proxies' logs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolvedLogging {
    pub level: LogLevel,
    pub format: LogFormat,
    pub access_log: ResolvedAccessLog,
}

/// The proxies' access log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolvedAccessLog {
    pub enabled: bool,
    /// 0.0..=1.0 of requests logged.
    pub sampling_ratio: f64,
}

impl Default for ResolvedAccessLog {
    fn default() -> Self {
        Self {
            enabled: true,
            sampling_ratio: 1.0,
        }
    }
}

/// The proxies' metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolvedMetrics {
    /// Count requests by method, status and host too.
    pub detailed_labels: bool,
}

/// TLS served by the proxies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedTls {
    pub min_version: TlsVersion,
    pub default_certificate_secret: Option<String>,
    pub ssl_redirect: bool,
}

/// How the proxies talk to upstreams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedUpstream {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_attempts: u32,
}

/// How long the proxies wait for clients, and whom they believe about a client's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedClient {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub send_timeout: Duration,
    /// 0: no cap.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Bytes; 0: no limit.
    pub max_body_size: u64,
    /// A PROXY protocol header comes first on every client connection.
    pub proxy_protocol: bool,
    /// CIDRs or addresses trusted to say the client's address; empty: nobody.
    pub trusted_proxies: Vec<String>,
    pub real_ip_header: RealIpHeader,
}

impl ResolvedClient {
    /// The proxy flags of the client address settings that differ from the proxy's
    /// defaults: `--proxy-protocol`, `--trusted-proxies`, `--real-ip-header`.
    pub fn address_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.proxy_protocol {
            flags.push("--proxy-protocol".to_string());
        }
        if !self.trusted_proxies.is_empty() {
            flags.push("--trusted-proxies".into());
            flags.push(self.trusted_proxies.join(","));
        }
        if self.real_ip_header != RealIpHeader::default() {
            flags.push("--real-ip-header".into());
            flags.push(self.real_ip_header.as_str().into());
        }
        flags
    }
}

/// The proxy pods' autoscaler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedAutoscaling {
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub target_cpu_utilization_percentage: i32,
}

impl ResolvedAutoscaling {
    /// The replicas the operator declares for a Deployment the autoscaler scales: what it
    /// has now, within the bounds (the bound a new fleet starts at), so the operator agrees
    /// with the autoscaler instead of undoing it.
    pub fn replicas(&self, live: Option<i32>) -> i32 {
        live.unwrap_or(self.min_replicas)
            .clamp(self.min_replicas, self.max_replicas)
    }
}

/// Tracing.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedTracing {
    pub otlp_endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    pub sampling_ratio: f64,
}

/// An address to publish on Ingress status: `status.loadBalancer.ingress[].ip` or `.hostname`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishedAddress {
    Ip(IpAddr),
    Hostname(String),
}

impl PublishedAddress {
    /// An IP address, or else a DNS name; `None` if it is neither.
    pub fn parse(value: &str) -> Option<Self> {
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Some(Self::Ip(ip));
        }
        is_dns_subdomain(value).then(|| Self::Hostname(value.to_string()))
    }
}

impl fmt::Display for PublishedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Hostname(name) => f.write_str(name),
        }
    }
}

/// A field of IngressClassParams with a value the operator cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field's path, such as `spec.service.httpNodePort`.
    pub field: String,
    pub reason: String,
}

/// Why IngressClassParams cannot be used: every problem found, one per field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(.0))]
pub struct InvalidParams(pub Vec<FieldError>);

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
