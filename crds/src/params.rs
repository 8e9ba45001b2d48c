//! The `IngressClassParams` custom resource (`sluice.dev/v1alpha1`, cluster-scoped).
//!
//! An IngressClass of Sluice's names one through `spec.parameters`
//! (`apiGroup: sluice.dev`, `kind: IngressClassParams`, `scope: Cluster`). Its spec describes
//! the proxy fleet the operator runs for that class. Every field is optional: the object keeps
//! what the user asked for, and [`IngressClassParamsSpec::resolve`] turns it into a
//! [`ResolvedParams`] with every default filled in. The defaults live in [`defaults`] and
//! nowhere else; the operator builds from the resolved view and never re-implements one.
//!
//! The API server enforces ranges, enums and patterns (OpenAPI) and the cross-field rules
//! (CEL `x-kubernetes-validations`). [`IngressClassParamsSpec::resolve`] checks the same
//! rules again, so an object that got past an older CRD, or one built in code, is refused
//! with a message instead of becoming a broken Deployment.
//!
//! The CRD YAML in `charts/sluice/crds/` is generated from these types with
//! [`CRDGEN_COMMAND`], and a test fails when the committed file is out of date.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassParametersReference};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::annotations::parse_duration;
use crate::names::GROUP;

/// The command that regenerates the committed CRD YAML.
pub const CRDGEN_COMMAND: &str =
    "cargo run -q -p sluice-crds --bin crdgen > charts/sluice/crds/ingressclassparams.yaml";

/// Where the generated CRD YAML is committed, relative to the repository root.
pub const CRD_YAML_PATH: &str = "charts/sluice/crds/ingressclassparams.yaml";

/// The API version of IngressClassParams.
pub const VERSION: &str = "v1alpha1";

/// The kind, as an IngressClass's `spec.parameters.kind` names it.
pub const KIND: &str = "IngressClassParams";

/// The defaults of every optional field, in one place. The doc comments of the fields
/// (the CRD's descriptions) state them too; a test keeps the two in agreement.
pub mod defaults {
    /// Proxy replicas, and the fewest an autoscaler runs.
    pub const REPLICAS: i32 = 2;
    /// The proxies' average CPU use an autoscaler aims at, in percent of the request.
    pub const TARGET_CPU_UTILIZATION: i32 = 80;
    /// The proxy image repository.
    pub const IMAGE_REPOSITORY: &str = "ghcr.io/sluice-dev/sluice-proxy";
    /// The proxy image tag: the version of Sluice that manages the fleet.
    pub const IMAGE_TAG: &str = env!("CARGO_PKG_VERSION");
    /// The node port of plain HTTP.
    pub const HTTP_NODE_PORT: i32 = 30080;
    /// The node port of HTTPS.
    pub const HTTPS_NODE_PORT: i32 = 30443;
    /// The proxy container's CPU request.
    pub const CPU_REQUEST: &str = "100m";
    /// The proxy container's memory request.
    pub const MEMORY_REQUEST: &str = "64Mi";
    /// The proxy container's memory limit.
    pub const MEMORY_LIMIT: &str = "256Mi";
    /// Redirect HTTP to HTTPS for the TLS hosts of an Ingress.
    pub const SSL_REDIRECT: bool = true;
    /// How long to wait for a TCP connection to an upstream.
    pub const CONNECT_TIMEOUT: &str = "5s";
    /// How long to wait for each chunk of an upstream's response.
    pub const READ_TIMEOUT: &str = "60s";
    /// How many times a request may be tried against upstreams.
    pub const MAX_ATTEMPTS: i32 = 3;
    /// The fraction of requests traced.
    pub const SAMPLING_RATIO: f64 = 0.01;
}

/// The bounds the API server enforces, shared by the schema and [`IngressClassParamsSpec::resolve`].
pub mod limits {
    /// The most proxy replicas.
    pub const MAX_REPLICAS: i32 = 100;
    /// The lowest node port (the default `--service-node-port-range` of kube-apiserver).
    pub const MIN_NODE_PORT: i32 = 30000;
    /// The highest node port.
    pub const MAX_NODE_PORT: i32 = 32767;
    /// The fewest attempts per request.
    pub const MIN_ATTEMPTS: i32 = 1;
    /// The most attempts per request.
    pub const MAX_ATTEMPTS: i32 = 10;
    /// The most addresses to publish.
    pub const MAX_ADDRESSES: usize = 16;
    /// The longest DNS name (and Secret name).
    pub const MAX_DNS_NAME: usize = 253;
}

/// The condition types the operator reports in `status.conditions`.
pub mod conditions {
    /// The params are valid and the operator has taken them up.
    pub const ACCEPTED: &str = "Accepted";
    /// The proxy fleet is deployed and enough of its replicas are ready.
    pub const READY: &str = "Ready";
    /// The fleet runs but not as declared (too few ready replicas, a port taken, ...).
    pub const DEGRADED: &str = "Degraded";
}

// Patterns (Go RE2 syntax in the API server; kept free of look-around).
const DURATION_PATTERN: &str = r"^[0-9]{1,6}(ms|s|m|h)$";
const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const IMAGE_REPOSITORY_PATTERN: &str =
    r"^[a-z0-9]+([._-]+[a-z0-9]+)*((:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+)?$";
const IMAGE_TAG_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

/// The spec of IngressClassParams: the proxy fleet of the IngressClasses that name these
/// params. Every field is optional; an empty spec (`{}`) runs the defaults.
// Clippy takes the repeated `type_ = ..` of the printer columns for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    // names::GROUP: the derive takes a literal only; a test checks that the two agree.
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "IngressClassParams",
    plural = "ingressclassparams",
    singular = "ingressclassparams",
    shortname = "icp",
    category = "sluice",
    status = "IngressClassParamsStatus",
    derive = "PartialEq",
    validation = Rule::new("!has(self.spec) || !has(self.spec.replicas) || !has(self.spec.autoscaling)")
        .message("set spec.replicas or spec.autoscaling, not both: with autoscaling, the autoscaler sets the number of proxy pods")
        .field_path(".spec.autoscaling"),
    doc = "IngressClassParams configures the Sluice proxy fleet of an IngressClass. An IngressClass whose spec.controller is sluice.dev/ingress-controller names it in spec.parameters (apiGroup sluice.dev, kind IngressClassParams, scope Cluster).",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".status.serviceType",
        description = "The type of the proxy Service"
    ),
    printcolumn(
        name = "HTTP",
        type_ = "integer",
        json_path = ".status.httpNodePort",
        description = "The node port assigned to HTTP"
    ),
    printcolumn(
        name = "HTTPS",
        type_ = "integer",
        json_path = ".status.httpsNodePort",
        description = "The node port assigned to HTTPS"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the proxy fleet is ready"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct IngressClassParamsSpec {
    /// How many proxy pods to run, 0 to 100. Not with autoscaling. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = limits::MAX_REPLICAS))]
    pub replicas: Option<i32>,

    /// Scale the proxy pods with a HorizontalPodAutoscaler on their CPU use instead of a
    /// fixed number; replicas must then be unset, and the operator leaves the Deployment's
    /// replicas to the autoscaler. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingParams>,

    /// The proxy container image. Default: ghcr.io/sluice-dev/sluice-proxy at the operator's own
    /// version, pulled IfNotPresent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageParams>,

    /// The Service in front of the proxies. Default: type NodePort, HTTP on node port 30080
    /// and HTTPS on node port 30443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceParams>,

    /// Compute resources of the proxy container. When set, it replaces the default as a
    /// whole. Default: requests cpu 100m and memory 64Mi, limits memory 256Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = quantity_rules)]
    pub resources: Option<ResourceRequirements>,

    /// Node labels a node must have to run a proxy pod. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Tolerations of the proxy pods. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// Scheduling affinity of the proxy pods. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Annotations added to the proxy pods. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_annotations: Option<BTreeMap<String, String>>,

    /// The proxies' logs. Default: level info, format text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingParams>,

    /// TLS served by the proxies. Default: TLS 1.2 and later, no default certificate, HTTP
    /// redirected to HTTPS for the TLS hosts of an Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsParams>,

    /// How the proxies talk to the upstream endpoints. Default: connect timeout 5s, read
    /// timeout 60s, at most 3 attempts per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamParams>,

    /// OpenTelemetry tracing of requests. Default: no exporter; when an endpoint is set, 0.01
    /// of requests are sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingParams>,

    /// The addresses to publish in the status of every Ingress of the class, each an IP
    /// address or a DNS name, at most 16. When unset, the operator publishes the addresses it
    /// finds for the proxy Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::MAX_ADDRESSES))]
    #[schemars(extend("items" = {
        "type": "string",
        "minLength": 1,
        "maxLength": limits::MAX_DNS_NAME,
        "x-kubernetes-validations": [{
            "rule": address_rule(),
            "message": "must be an IP address or a lowercase DNS name",
        }],
    }))]
    pub addresses: Option<Vec<String>>,
}

/// The proxy container image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct ImageParams {
    /// The image repository, with its registry host and port if any. Default:
    /// ghcr.io/sluice-dev/sluice-proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = IMAGE_REPOSITORY_PATTERN))]
    pub repository: Option<String>,

    /// The image tag. Default: the version of the operator that manages the fleet, so the
    /// proxies upgrade with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = IMAGE_TAG_PATTERN))]
    pub tag: Option<String>,

    /// When the kubelet pulls the image: IfNotPresent, Always or Never. Default: IfNotPresent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
}

/// When the kubelet pulls the proxy image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull the image only if the node does not have it.
    #[default]
    IfNotPresent,
    /// Pull the image every time a pod starts.
    Always,
    /// Never pull; the image must be on the node.
    Never,
}

/// A HorizontalPodAutoscaler for the proxy pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
#[x_kube(
    validation = Rule::new("!has(self.minReplicas) || self.minReplicas <= self.maxReplicas")
        .message("minReplicas must not exceed maxReplicas")
        .field_path(".minReplicas"),
)]
pub struct AutoscalingParams {
    /// The fewest proxy pods, 1 to 100. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = limits::MAX_REPLICAS))]
    pub min_replicas: Option<i32>,

    /// The most proxy pods, 1 to 100.
    #[schemars(range(min = 1, max = limits::MAX_REPLICAS))]
    pub max_replicas: i32,

    /// The average CPU use the autoscaler aims at, in percent of the proxy container's CPU
    /// request, 1 to 100. Default: 80.
    #[serde(
        rename = "targetCPUUtilizationPercentage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: Option<i32>,
}

/// The Service in front of the proxies. The node ports apply to the types that open them,
/// NodePort and LoadBalancer; with ClusterIP the API server refuses them (and
/// externalTrafficPolicy) rather than ignore them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
#[x_kube(
    validation = Rule::new(node_ports_differ_rule())
        .message("httpNodePort and httpsNodePort must differ")
        .field_path(".httpsNodePort"),
    validation = Rule::new(
        "!has(self.type) || self.type != 'ClusterIP' || (!has(self.httpNodePort) && !has(self.httpsNodePort))"
    )
        .message("httpNodePort and httpsNodePort can only be set when type is NodePort or LoadBalancer")
        .reason(Reason::FieldValueForbidden),
    validation = Rule::new(
        "!has(self.type) || self.type != 'ClusterIP' || !has(self.externalTrafficPolicy)"
    )
        .message("externalTrafficPolicy can only be set when type is NodePort or LoadBalancer")
        .field_path(".externalTrafficPolicy")
        .reason(Reason::FieldValueForbidden),
)]
pub struct ServiceParams {
    /// The Service type: NodePort, LoadBalancer or ClusterIP. Default: NodePort.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,

    /// The node port of plain HTTP (Service port 80), 30000 to 32767. Only with type NodePort
    /// or LoadBalancer. Default: 30080.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = limits::MIN_NODE_PORT, max = limits::MAX_NODE_PORT))]
    pub http_node_port: Option<i32>,

    /// The node port of HTTPS (Service port 443), 30000 to 32767, not the same as
    /// httpNodePort. Only with type NodePort or LoadBalancer. Default: 30443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = limits::MIN_NODE_PORT, max = limits::MAX_NODE_PORT))]
    pub https_node_port: Option<i32>,

    /// Where external traffic may go: Cluster (any proxy, from any node) or Local (only a
    /// proxy on the node it arrived at, which keeps the client's source address). Only with
    /// type NodePort or LoadBalancer. Default: Cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<ExternalTrafficPolicy>,

    /// Annotations added to the Service (for example a cloud load balancer's settings).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The type of the proxy Service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// A port on every node (the node ports) in front of the proxies.
    #[default]
    NodePort,
    /// A cloud load balancer, itself in front of node ports.
    LoadBalancer,
    /// A cluster-internal address only.
    #[serde(rename = "ClusterIP")]
    ClusterIp,
}

/// Where a Service sends external traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ExternalTrafficPolicy {
    /// To any ready proxy in the cluster.
    #[default]
    Cluster,
    /// Only to a proxy on the node the traffic arrived at.
    Local,
}

/// The proxies' logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct LoggingParams {
    /// The least severe level logged: trace, debug, info, warn or error. Default: info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,

    /// The log line format: text or json. Default: text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
}

/// The least severe level the proxies log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything, including per-request detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    #[default]
    Info,
    /// Problems worth a look.
    Warn,
    /// Failures only.
    Error,
}

/// The format of the proxies' log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// TLS served by the proxies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct TlsParams {
    /// The oldest TLS version served to clients: "1.2" or "1.3". With "1.3", TLS 1.2
    /// handshakes still complete, but every request on such a connection is answered 426
    /// Upgrade Required. Default: "1.2".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,

    /// The name of a kubernetes.io/tls Secret in the operator's namespace, served to clients
    /// whose SNI matches no Ingress's TLS hosts (or that send none). Default: none (the proxy
    /// serves a self-signed certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::MAX_DNS_NAME), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub default_certificate_secret: Option<String>,

    /// Redirect plain HTTP requests to HTTPS (308) for hosts that some Ingress of the class
    /// lists under spec.tls. An Ingress overrides it, either way, for its own rules with the
    /// annotation sluice.dev/ssl-redirect. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_redirect: Option<bool>,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TlsVersion {
    /// TLS 1.2 and later.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// How the proxies talk to the upstream endpoints. A duration is a whole number with a unit
/// (ms, s, m or h) between 1ms and 1h, such as 500ms, 5s or 2m.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct UpstreamParams {
    /// How long to wait for a connection to an upstream endpoint, a duration between 1ms and
    /// 1h. An Ingress can override it with sluice.dev/connect-timeout. Default: 5s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(DURATION_MESSAGE))]
    pub connect_timeout: Option<String>,

    /// How long to wait for each chunk of an upstream's response, a duration between 1ms and
    /// 1h. An Ingress can override it with sluice.dev/read-timeout. Default: 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(DURATION_MESSAGE))]
    pub read_timeout: Option<String>,

    /// How many times a request may be tried, counting the first try, 1 to 10. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = limits::MIN_ATTEMPTS, max = limits::MAX_ATTEMPTS))]
    pub max_attempts: Option<i32>,
}

/// OpenTelemetry tracing of requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct TracingParams {
    /// The OTLP endpoint of the OpenTelemetry collector to export spans to, an http or https
    /// URL. Default: none (no spans are exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(
        "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''"
    ).message("must be an http or https URL with a host"))]
    pub otlp_endpoint: Option<String>,

    /// How spans are sent to the endpoint: `grpc` (usually port 4317) or `http/protobuf`
    /// (usually port 4318; `/v1/traces` is added when the URL has no path). Default: grpc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<OtlpProtocol>,

    /// The fraction of requests to trace, 0 to 1. Default: 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sampling_ratio: Option<f64>,
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OtlpProtocol {
    /// OTLP over gRPC.
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// What the operator last saw of the proxy fleet of these params.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct IngressClassParamsStatus {
    /// The state of the fleet: Accepted (the params are valid and taken up), Ready (the
    /// fleet is deployed and ready) and Degraded (it runs, but not as declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Option<Vec<Condition>>,

    /// The metadata.generation of the params this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The type of the proxy Service the operator applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,

    /// The node port the proxy Service was assigned for HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_node_port: Option<i32>,

    /// The node port the proxy Service was assigned for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_node_port: Option<i32>,

    /// The number of proxy pods the Deployment wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// The number of proxy pods ready to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,

    /// A one-line summary of the fleet's state, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

const DURATION_RULE: &str = "duration(self) >= duration('1ms') && duration(self) <= duration('1h')";
const DURATION_MESSAGE: &str =
    "must be a whole number with a unit (ms, s, m or h) between 1ms and 1h, such as 5s";

/// Doc comments become descriptions line by line; `kubectl explain` reads better with each
/// paragraph on one line. Applied to a struct's own description and its fields' (all ours:
/// the descriptions of embedded Kubernetes types, further down, are left alone).
fn unwrap_descriptions(schema: &mut schemars::Schema) {
    fn unwrap(schema: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(serde_json::Value::String(text)) = schema.get_mut("description") {
            *text = text
                .split("\n\n")
                .map(|paragraph| {
                    let lines: Vec<&str> = paragraph.lines().map(str::trim).collect();
                    lines.join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n\n");
        }
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    unwrap(object);
    let Some(properties) = object.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for property in properties
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
    {
        unwrap(property);
        // An `Option<Enum>` is `anyOf: [<the enum>, null]` here, and kube's `OptionalEnum`
        // later lifts the enum's keys over the property's: the enum type's own doc would
        // replace the field's. Drop it.
        if let Some(any_of) = property.get_mut("anyOf").and_then(|a| a.as_array_mut()) {
            for member in any_of
                .iter_mut()
                .filter_map(serde_json::Value::as_object_mut)
            {
                member.remove("description");
            }
        }
    }
}

/// The API server checks a Quantity only for being an int or a string; this makes it refuse
/// a request or limit that is not a quantity (`256MB`), bounding the maps so the rule's cost
/// estimate fits the budget.
fn quantity_rules(schema: &mut schemars::Schema) {
    let Some(properties) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for key in ["requests", "limits"] {
        let Some(map) = properties
            .get_mut(key)
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        map.insert("maxProperties".into(), 32.into());
        if let Some(value) = map
            .get_mut("additionalProperties")
            .and_then(serde_json::Value::as_object_mut)
        {
            value.insert(
                "description".into(),
                "A quantity, such as 100m, 1 or 256Mi.".into(),
            );
            value.insert("maxLength".into(), 64.into());
            value.insert(
                "x-kubernetes-validations".into(),
                serde_json::json!([{
                    "rule": "isQuantity(string(self))",
                    "message": "must be a quantity, such as 100m, 1 or 256Mi",
                }]),
            );
        }
    }
}

/// CEL: the node ports in effect (the defaults fill in the unset one) differ, unless the
/// Service is ClusterIP and has none.
fn node_ports_differ_rule() -> String {
    format!(
        "(has(self.type) && self.type == 'ClusterIP') || \
         (has(self.httpNodePort) ? self.httpNodePort : {http}) != \
         (has(self.httpsNodePort) ? self.httpsNodePort : {https})",
        http = defaults::HTTP_NODE_PORT,
        https = defaults::HTTPS_NODE_PORT,
    )
}

/// CEL: an address to publish is an IP address or a DNS name.
fn address_rule() -> String {
    format!("isIP(self) || self.matches('{DNS_SUBDOMAIN_PATTERN}')")
}

/// The name of the IngressClassParams an IngressClass names in `spec.parameters`, if what it
/// names is one (`apiGroup: sluice.dev`, `kind: IngressClassParams`, scope `Cluster` or unset).
pub fn referenced_params(class: &IngressClass) -> Option<&str> {
    let parameters = class.spec.as_ref()?.parameters.as_ref()?;
    let ours = parameters.api_group.as_deref() == Some(GROUP)
        && parameters.kind == KIND
        && parameters
            .scope
            .as_deref()
            .is_none_or(|scope| scope == "Cluster")
        && parameters.namespace.is_none();
    ours.then_some(parameters.name.as_str())
}

/// The `spec.parameters` of an IngressClass that uses the IngressClassParams `name`.
pub fn parameters_reference(name: &str) -> IngressClassParametersReference {
    IngressClassParametersReference {
        api_group: Some(GROUP.to_string()),
        kind: KIND.to_string(),
        name: name.to_string(),
        scope: Some("Cluster".to_string()),
        namespace: None,
    }
}

// ----------------------------------------------------------------------------------------
// The resolved view.

/// IngressClassParams with every default filled in and every rule checked: what the
/// operator builds the fleet from.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedParams {
    /// The fixed number of proxy pods; with autoscaling, the autoscaler's minimum (the
    /// count a new fleet starts with).
    pub replicas: i32,
    /// `None`: `replicas` pods, kept by the operator.
    pub autoscaling: Option<ResolvedAutoscaling>,
    pub image: ResolvedImage,
    pub service: ResolvedService,
    pub resources: ResourceRequirements,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    pub pod_annotations: BTreeMap<String, String>,
    pub logging: ResolvedLogging,
    pub tls: ResolvedTls,
    pub upstream: ResolvedUpstream,
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
}

impl ResolvedImage {
    /// `repository:tag`, for a container's `image`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
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
}

/// The proxies' logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedLogging {
    pub level: LogLevel,
    pub format: LogFormat,
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

impl IngressClassParams {
    /// The params with every default filled in; see [`IngressClassParamsSpec::resolve`].
    pub fn resolve(&self) -> Result<ResolvedParams, InvalidParams> {
        self.spec.resolve()
    }
}

impl IngressClassParamsSpec {
    /// The params with every default filled in, after checking the rules the API server
    /// enforces (for objects that did not pass through it, or passed an older CRD).
    pub fn resolve(&self) -> Result<ResolvedParams, InvalidParams> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, reason: String| {
            errors.push(FieldError {
                field: format!("spec.{field}"),
                reason,
            })
        };

        let replicas = self.replicas.unwrap_or(defaults::REPLICAS);
        if !(0..=limits::MAX_REPLICAS).contains(&replicas) {
            fail(
                "replicas",
                format!("must lie between 0 and {}", limits::MAX_REPLICAS),
            );
        }
        let autoscaling = self.autoscaling.as_ref().map(|a| {
            if self.replicas.is_some() {
                fail(
                    "autoscaling",
                    "set spec.replicas or spec.autoscaling, not both".into(),
                );
            }
            let resolved = ResolvedAutoscaling {
                min_replicas: a.min_replicas.unwrap_or(defaults::REPLICAS),
                max_replicas: a.max_replicas,
                target_cpu_utilization_percentage: a
                    .target_cpu_utilization_percentage
                    .unwrap_or(defaults::TARGET_CPU_UTILIZATION),
            };
            let bounds = 1..=limits::MAX_REPLICAS;
            if !bounds.contains(&resolved.min_replicas) || !bounds.contains(&resolved.max_replicas)
            {
                fail(
                    "autoscaling",
                    format!(
                        "minReplicas and maxReplicas must lie between 1 and {}",
                        limits::MAX_REPLICAS
                    ),
                );
            } else if resolved.min_replicas > resolved.max_replicas {
                fail(
                    "autoscaling.minReplicas",
                    "must not exceed maxReplicas".into(),
                );
            }
            if !(1..=100).contains(&resolved.target_cpu_utilization_percentage) {
                fail(
                    "autoscaling.targetCPUUtilizationPercentage",
                    "must lie between 1 and 100".into(),
                );
            }
            resolved
        });
        let replicas = autoscaling.map_or(replicas, |a| a.min_replicas);

        let image = self.image.clone().unwrap_or_default();
        let image = ResolvedImage {
            repository: image
                .repository
                .unwrap_or_else(|| defaults::IMAGE_REPOSITORY.to_string()),
            tag: image.tag.unwrap_or_else(|| defaults::IMAGE_TAG.to_string()),
            pull_policy: image.pull_policy.unwrap_or_default(),
        };
        if !is_image_repository(&image.repository) {
            fail(
                "image.repository",
                "must be an image repository such as ghcr.io/sluice-dev/sluice-proxy".into(),
            );
        }
        if !is_image_tag(&image.tag) {
            fail(
                "image.tag",
                "must be an image tag: letters, digits, '_', '.' and '-', at most 128".into(),
            );
        }

        let service = self.service.clone().unwrap_or_default();
        let type_ = service.type_.unwrap_or_default();
        let service = if type_ == ServiceType::ClusterIp {
            if service.http_node_port.is_some() || service.https_node_port.is_some() {
                fail(
                    "service",
                    "httpNodePort and httpsNodePort can only be set when type is NodePort or LoadBalancer"
                        .into(),
                );
            }
            if service.external_traffic_policy.is_some() {
                fail(
                    "service.externalTrafficPolicy",
                    "externalTrafficPolicy can only be set when type is NodePort or LoadBalancer"
                        .into(),
                );
            }
            ResolvedService {
                type_,
                http_node_port: None,
                https_node_port: None,
                external_traffic_policy: None,
                annotations: service.annotations.unwrap_or_default(),
            }
        } else {
            let http = service.http_node_port.unwrap_or(defaults::HTTP_NODE_PORT);
            let https = service.https_node_port.unwrap_or(defaults::HTTPS_NODE_PORT);
            for (field, port) in [
                ("service.httpNodePort", http),
                ("service.httpsNodePort", https),
            ] {
                if !(limits::MIN_NODE_PORT..=limits::MAX_NODE_PORT).contains(&port) {
                    fail(
                        field,
                        format!(
                            "must lie between {} and {}",
                            limits::MIN_NODE_PORT,
                            limits::MAX_NODE_PORT
                        ),
                    );
                }
            }
            if http == https {
                fail(
                    "service.httpsNodePort",
                    "httpNodePort and httpsNodePort must differ".into(),
                );
            }
            ResolvedService {
                type_,
                http_node_port: Some(http),
                https_node_port: Some(https),
                external_traffic_policy: Some(service.external_traffic_policy.unwrap_or_default()),
                annotations: service.annotations.unwrap_or_default(),
            }
        };

        let logging = self.logging.clone().unwrap_or_default();
        let logging = ResolvedLogging {
            level: logging.level.unwrap_or_default(),
            format: logging.format.unwrap_or_default(),
        };

        let tls = self.tls.clone().unwrap_or_default();
        if let Some(name) = &tls.default_certificate_secret
            && !is_dns_subdomain(name)
        {
            fail(
                "tls.defaultCertificateSecret",
                "must be a Secret name: lowercase letters, digits, '-' and '.', at most 253".into(),
            );
        }
        let tls = ResolvedTls {
            min_version: tls.min_version.unwrap_or_default(),
            default_certificate_secret: tls.default_certificate_secret,
            ssl_redirect: tls.ssl_redirect.unwrap_or(defaults::SSL_REDIRECT),
        };

        let upstream = self.upstream.clone().unwrap_or_default();
        let mut duration = |field: &str, value: Option<&str>, default: &str| {
            let value = value.unwrap_or(default);
            if !is_duration(value) {
                fail(field, DURATION_MESSAGE.into());
                return Duration::ZERO;
            }
            parse_duration(value).unwrap_or_else(|_| {
                fail(field, DURATION_MESSAGE.into());
                Duration::ZERO
            })
        };
        let connect_timeout = duration(
            "upstream.connectTimeout",
            upstream.connect_timeout.as_deref(),
            defaults::CONNECT_TIMEOUT,
        );
        let read_timeout = duration(
            "upstream.readTimeout",
            upstream.read_timeout.as_deref(),
            defaults::READ_TIMEOUT,
        );
        let max_attempts = upstream.max_attempts.unwrap_or(defaults::MAX_ATTEMPTS);
        if !(limits::MIN_ATTEMPTS..=limits::MAX_ATTEMPTS).contains(&max_attempts) {
            fail(
                "upstream.maxAttempts",
                format!(
                    "must lie between {} and {}",
                    limits::MIN_ATTEMPTS,
                    limits::MAX_ATTEMPTS
                ),
            );
        }
        let upstream = ResolvedUpstream {
            connect_timeout,
            read_timeout,
            max_attempts: u32::try_from(max_attempts).unwrap_or(0),
        };

        let tracing = self.tracing.clone().unwrap_or_default();
        if let Some(endpoint) = &tracing.otlp_endpoint
            && !is_http_url(endpoint)
        {
            fail(
                "tracing.otlpEndpoint",
                "must be an http or https URL with a host".into(),
            );
        }
        let sampling_ratio = tracing.sampling_ratio.unwrap_or(defaults::SAMPLING_RATIO);
        if !(0.0..=1.0).contains(&sampling_ratio) {
            fail("tracing.samplingRatio", "must lie between 0 and 1".into());
        }
        let tracing = ResolvedTracing {
            otlp_endpoint: tracing.otlp_endpoint,
            protocol: tracing.protocol.unwrap_or_default(),
            sampling_ratio,
        };

        let addresses = self.addresses.as_ref().map(|addresses| {
            if addresses.len() > limits::MAX_ADDRESSES {
                fail(
                    "addresses",
                    format!("must hold at most {} addresses", limits::MAX_ADDRESSES),
                );
            }
            addresses
                .iter()
                .enumerate()
                .filter_map(|(i, address)| {
                    let parsed = PublishedAddress::parse(address);
                    if parsed.is_none() {
                        fail(
                            &format!("addresses[{i}]"),
                            "must be an IP address or a lowercase DNS name".into(),
                        );
                    }
                    parsed
                })
                .collect()
        });

        let resolved = ResolvedParams {
            replicas,
            autoscaling,
            image,
            service,
            resources: self.resources.clone().unwrap_or_else(default_resources),
            node_selector: self.node_selector.clone().unwrap_or_default(),
            tolerations: self.tolerations.clone().unwrap_or_default(),
            affinity: self.affinity.clone(),
            pod_annotations: self.pod_annotations.clone().unwrap_or_default(),
            logging,
            tls,
            upstream,
            tracing,
            addresses,
        };
        if errors.is_empty() {
            Ok(resolved)
        } else {
            Err(InvalidParams(errors))
        }
    }
}

/// The proxy container's resources when the params set none.
pub fn default_resources() -> ResourceRequirements {
    let quantities = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect::<BTreeMap<_, _>>()
    };
    ResourceRequirements {
        requests: Some(quantities(&[
            ("cpu", defaults::CPU_REQUEST),
            ("memory", defaults::MEMORY_REQUEST),
        ])),
        limits: Some(quantities(&[("memory", defaults::MEMORY_LIMIT)])),
        ..Default::default()
    }
}

impl PullPolicy {
    /// The value of a container's `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IfNotPresent => "IfNotPresent",
            Self::Always => "Always",
            Self::Never => "Never",
        }
    }
}

impl ServiceType {
    /// The value of a Service's `spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
            Self::ClusterIp => "ClusterIP",
        }
    }
}

impl ExternalTrafficPolicy {
    /// The value of a Service's `spec.externalTrafficPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cluster => "Cluster",
            Self::Local => "Local",
        }
    }
}

impl LogLevel {
    /// The level as the CRD spells it (also a `tracing` filter directive).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl LogFormat {
    /// The format as the CRD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl OtlpProtocol {
    /// The protocol as the proxy's `--otlp-protocol` flag spells it.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

impl TlsVersion {
    /// The version as the CRD spells it: `1.2` or `1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls12 => "1.2",
            Self::Tls13 => "1.3",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(
    PullPolicy,
    ServiceType,
    ExternalTrafficPolicy,
    LogLevel,
    LogFormat,
    TlsVersion
);

// ----------------------------------------------------------------------------------------
// The same checks as the schema's patterns, without a regex engine.

/// `^[0-9]{1,6}(ms|s|m|h)$`
fn is_duration(value: &str) -> bool {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    (1..=6).contains(&digits) && matches!(&value[digits..], "ms" | "s" | "m" | "h")
}

/// A DNS-1123 subdomain: lowercase alphanumeric labels joined by dots, `-` inside a label,
/// at most 253 characters.
fn is_dns_subdomain(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= limits::MAX_DNS_NAME
        && value.split('.').all(|label| {
            let bytes = label.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    is_lower_alnum(*first)
                        && is_lower_alnum(*last)
                        && bytes.iter().all(|b| is_lower_alnum(*b) || *b == b'-')
                }
                _ => false,
            }
        })
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
fn is_image_tag(value: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    match value.as_bytes().split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphanumeric() || *first == b'_')
                && rest.len() <= 127
                && rest.iter().all(|b| ok(*b))
        }
        None => false,
    }
}

/// The schema's repository pattern: lowercase path components of alphanumerics joined by
/// separators (`.`, `_`, `-`), joined by `/`; the first may carry a `:port`.
fn is_image_repository(value: &str) -> bool {
    fn component(c: &str) -> bool {
        let bytes = c.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                is_lower_alnum(*first)
                    && is_lower_alnum(*last)
                    && bytes
                        .iter()
                        .all(|b| is_lower_alnum(*b) || matches!(b, b'.' | b'_' | b'-'))
            }
            _ => false,
        }
    }
    if value.is_empty() || value.len() > 255 {
        return false;
    }
    let parts = value.split('/').count();
    value
        .split('/')
        .enumerate()
        .all(|(i, part)| match part.split_once(':') {
            Some((host, port)) => {
                i == 0
                    && parts > 1
                    && component(host)
                    && !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
            }
            None => component(part),
        })
}

/// An absolute http(s) URL with a host.
fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    rest.is_some_and(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        !host.is_empty() && !host.starts_with(':') && !value.chars().any(char::is_whitespace)
    })
}

// ----------------------------------------------------------------------------------------
// The generated CRD.

/// The CustomResourceDefinition of IngressClassParams.
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    IngressClassParams::crd()
}

/// The CRD as committed to the chart: a header that says how it was made, then the YAML.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let yaml = serde_yaml_ng::to_string(&crd())?;
    Ok(format!(
        "# Generated from crds/src/params.rs; do not edit. Regenerate with:\n\
         #   {CRDGEN_COMMAND}\n\
         {yaml}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> IngressClassParamsSpec {
        serde_json::from_value(json).unwrap()
    }

    fn errors(json: serde_json::Value) -> Vec<String> {
        match spec(json).resolve() {
            Ok(_) => vec![],
            Err(InvalidParams(errors)) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn empty_spec_resolves_to_the_documented_defaults() {
        let r = spec(serde_json::json!({})).resolve().unwrap();
        assert_eq!(r.replicas, 2);
        assert_eq!(
            r.image.reference(),
            format!(
                "ghcr.io/sluice-dev/sluice-proxy:{}",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(r.image.pull_policy.as_str(), "IfNotPresent");
        assert_eq!(r.service.type_.as_str(), "NodePort");
        assert_eq!(r.service.http_node_port, Some(30080));
        assert_eq!(r.service.https_node_port, Some(30443));
        assert_eq!(
            r.service
                .external_traffic_policy
                .map(ExternalTrafficPolicy::as_str),
            Some("Cluster")
        );
        assert!(r.service.annotations.is_empty());
        let requests = r.resources.requests.unwrap();
        let limits = r.resources.limits.unwrap();
        assert_eq!(requests["cpu"].0, "100m");
        assert_eq!(requests["memory"].0, "64Mi");
        assert_eq!(limits["memory"].0, "256Mi");
        assert!(!limits.contains_key("cpu"));
        assert!(r.node_selector.is_empty() && r.tolerations.is_empty());
        assert!(r.affinity.is_none() && r.pod_annotations.is_empty());
        assert_eq!(
            (r.logging.level.as_str(), r.logging.format.as_str()),
            ("info", "text")
        );
        assert_eq!(r.tls.min_version.as_str(), "1.2");
        assert_eq!(r.tls.default_certificate_secret, None);
        assert!(r.tls.ssl_redirect);
        assert_eq!(r.upstream.connect_timeout, Duration::from_secs(5));
        assert_eq!(r.upstream.read_timeout, Duration::from_secs(60));
        assert_eq!(r.upstream.max_attempts, 3);
        assert_eq!(r.tracing.otlp_endpoint, None);
        assert_eq!(r.tracing.sampling_ratio, 0.01);
        assert_eq!(r.addresses, None);
    }

    #[test]
    fn set_fields_win_over_defaults() {
        let r = spec(serde_json::json!({
            "replicas": 0,
            "image": {"repository": "registry.local:5000/sluice", "tag": "dev", "pullPolicy": "Always"},
            "service": {"type": "LoadBalancer", "httpNodePort": 31000, "externalTrafficPolicy": "Local",
                        "annotations": {"lb.example.com/internal": "true"}},
            "resources": {"limits": {"cpu": "1"}},
            "logging": {"level": "debug", "format": "json"},
            "tls": {"minVersion": "1.3", "defaultCertificateSecret": "wildcard-tls", "sslRedirect": false},
            "upstream": {"connectTimeout": "250ms", "readTimeout": "2m", "maxAttempts": 1},
            "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318", "samplingRatio": 1.0},
            "addresses": ["203.0.113.7", "2001:db8::1", "lb.example.com"],
        }))
        .resolve()
        .unwrap();
        assert_eq!(r.replicas, 0);
        assert_eq!(r.image.reference(), "registry.local:5000/sluice:dev");
        assert_eq!(r.image.pull_policy, PullPolicy::Always);
        assert_eq!(r.service.type_, ServiceType::LoadBalancer);
        assert_eq!(
            (r.service.http_node_port, r.service.https_node_port),
            (Some(31000), Some(30443))
        );
        assert_eq!(
            r.service.external_traffic_policy,
            Some(ExternalTrafficPolicy::Local)
        );
        assert_eq!(r.service.annotations.len(), 1);
        // Set resources replace the default as a whole.
        assert_eq!(r.resources.requests, None);
        assert_eq!(r.resources.limits.unwrap()["cpu"].0, "1");
        assert_eq!(
            (r.logging.level, r.logging.format),
            (LogLevel::Debug, LogFormat::Json)
        );
        assert_eq!(r.tls.min_version, TlsVersion::Tls13);
        assert_eq!(
            r.tls.default_certificate_secret.as_deref(),
            Some("wildcard-tls")
        );
        assert!(!r.tls.ssl_redirect);
        assert_eq!(r.upstream.connect_timeout, Duration::from_millis(250));
        assert_eq!(r.upstream.read_timeout, Duration::from_secs(120));
        assert_eq!(r.upstream.max_attempts, 1);
        assert_eq!(r.tracing.sampling_ratio, 1.0);
        let addresses: Vec<String> = r
            .addresses
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(addresses, ["203.0.113.7", "2001:db8::1", "lb.example.com"]);
    }

    #[test]
    fn autoscaling_takes_the_replicas_over() {
        let r = spec(serde_json::json!({ "autoscaling": { "maxReplicas": 5 } }))
            .resolve()
            .unwrap();
        assert_eq!(
            r.autoscaling,
            Some(ResolvedAutoscaling {
                min_replicas: 2,
                max_replicas: 5,
                target_cpu_utilization_percentage: 80
            })
        );
        assert_eq!(r.replicas, 2, "a new fleet starts at the minimum");
        assert_eq!(
            errors(serde_json::json!({ "replicas": 3, "autoscaling": { "maxReplicas": 5 } })),
            ["spec.autoscaling: set spec.replicas or spec.autoscaling, not both"]
        );
        assert_eq!(
            errors(serde_json::json!({ "autoscaling": { "minReplicas": 4, "maxReplicas": 3 } })),
            ["spec.autoscaling.minReplicas: must not exceed maxReplicas"]
        );
    }

    #[test]
    fn cluster_ip_has_no_node_ports_or_traffic_policy() {
        let r = spec(serde_json::json!({"service": {"type": "ClusterIP"}}))
            .resolve()
            .unwrap();
        assert_eq!(r.service.http_node_port, None);
        assert_eq!(r.service.https_node_port, None);
        assert_eq!(r.service.external_traffic_policy, None);
        assert_eq!(
            errors(serde_json::json!({"service": {"type": "ClusterIP", "httpNodePort": 30080}})),
            [
                "spec.service: httpNodePort and httpsNodePort can only be set when type is NodePort or LoadBalancer"
            ]
        );
        assert_eq!(
            errors(
                serde_json::json!({"service": {"type": "ClusterIP", "externalTrafficPolicy": "Local"}})
            ),
            [
                "spec.service.externalTrafficPolicy: externalTrafficPolicy can only be set when type is NodePort or LoadBalancer"
            ]
        );
    }

    #[test]
    fn resolve_refuses_what_the_api_server_refuses() {
        assert_eq!(
            errors(serde_json::json!({"service": {"httpNodePort": 30443}})),
            ["spec.service.httpsNodePort: httpNodePort and httpsNodePort must differ"]
        );
        assert_eq!(
            errors(serde_json::json!({"replicas": -1, "service": {"httpNodePort": 80}})),
            [
                "spec.replicas: must lie between 0 and 100",
                "spec.service.httpNodePort: must lie between 30000 and 32767",
            ]
        );
        assert_eq!(
            errors(serde_json::json!({
                "image": {"repository": "Ghcr.io/x", "tag": "-x"},
                "tls": {"defaultCertificateSecret": "Bad_Name"},
                "upstream": {"connectTimeout": "0s", "readTimeout": "5", "maxAttempts": 11},
                "tracing": {"otlpEndpoint": "ftp://x", "samplingRatio": 1.5},
                "addresses": ["", "not an address"],
            }))
            .len(),
            10
        );
    }

    #[test]
    fn pattern_twins() {
        for ok in ["5s", "250ms", "1h", "999999m"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "5", "s", "1.5s", "1000000s", "5S", "-1s", "5 s"] {
            assert!(!is_duration(bad), "{bad}");
        }
        for ok in ["a", "wildcard-tls", "a.b-c.d", "0"] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a..b", ".a", "a_b", &"a".repeat(254)] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        for ok in [
            "nginx",
            "ghcr.io/sluice-dev/sluice-proxy",
            "localhost:5000/a/b",
            "a__b",
        ] {
            assert!(is_image_repository(ok), "{ok}");
        }
        for bad in ["", "A/b", "a:5000", "a/b:1", "a//b", "a:/b", "-a", "a-/b"] {
            assert!(!is_image_repository(bad), "{bad}");
        }
        for ok in ["v1.2.3", "0.1.0", "_x", "latest"] {
            assert!(is_image_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a:b", &"a".repeat(129)] {
            assert!(!is_image_tag(bad), "{bad}");
        }
        for ok in ["http://x:4318", "https://otel.example.com/v1/traces"] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in ["x", "http://", "http://:80", "ftp://x", "http://a b"] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn an_ingress_class_names_its_params() {
        use k8s_openapi::api::networking::v1::IngressClassSpec;
        let class = |parameters: Option<IngressClassParametersReference>| IngressClass {
            spec: Some(IngressClassSpec {
                controller: Some(crate::names::CONTROLLER_NAME.to_string()),
                parameters,
            }),
            ..Default::default()
        };
        let ours = parameters_reference("edge");
        assert_eq!(referenced_params(&class(Some(ours.clone()))), Some("edge"));
        let unscoped = IngressClassParametersReference {
            scope: None,
            ..ours.clone()
        };
        assert_eq!(referenced_params(&class(Some(unscoped))), Some("edge"));
        assert_eq!(referenced_params(&class(None)), None);
        assert_eq!(referenced_params(&IngressClass::default()), None);
        for other in [
            IngressClassParametersReference {
                api_group: Some("k8s.example.com".into()),
                ..ours.clone()
            },
            IngressClassParametersReference {
                kind: "ConfigMap".into(),
                api_group: None,
                ..ours.clone()
            },
            IngressClassParametersReference {
                scope: Some("Namespace".into()),
                namespace: Some("sluice".into()),
                ..ours.clone()
            },
        ] {
            assert_eq!(referenced_params(&class(Some(other))), None);
        }
    }

    #[test]
    fn the_crd_group_is_the_shared_one() {
        assert_eq!(crd().spec.group, crate::names::GROUP);
        assert_eq!(
            <IngressClassParams as kube::Resource>::group(&()),
            crate::names::GROUP
        );
        assert_eq!(<IngressClassParams as kube::Resource>::kind(&()), KIND);
        assert_eq!(
            <IngressClassParams as kube::Resource>::version(&()),
            VERSION
        );
    }
}
