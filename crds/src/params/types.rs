//! The custom resource itself: the spec and status of IngressClassParams as users write and
//! the operator reports them, with the serde names, bounds, patterns and CEL rules of the
//! generated CRD. The doc comments here are the CRD's descriptions.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, ResourceRequirements, Toleration, TopologySpreadConstraint, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::limits;
use super::schema::{
    DNS_SUBDOMAIN_PATTERN, DURATION_MESSAGE, DURATION_PATTERN, DURATION_RULE,
    IMAGE_REPOSITORY_PATTERN, IMAGE_TAG_PATTERN, SIZE_PATTERN, address_rule,
    node_ports_differ_rule, quantity_rules, unwrap_descriptions,
};

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
    validation = Rule::new("!has(self.spec) || !has(self.spec.kind) || self.spec.kind != 'DaemonSet' || (!has(self.spec.replicas) && !has(self.spec.autoscaling))")
        .message("a DaemonSet runs one proxy pod per node: spec.replicas and spec.autoscaling do not apply")
        .field_path(".spec.kind"),
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
    /// How the proxy pods run: Deployment (replicas pods, wherever they fit) or DaemonSet
    /// (one pod on every node that may run one, the usual bare-metal setup, often with
    /// hostPorts). Default: Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<WorkloadKind>,

    /// Ports of the node that lead straight to the proxy pod on it: HTTP and HTTPS, 1 to
    /// 65535. Clients then reach a node on these ports without the Service. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ports: Option<HostPortsParams>,

    /// Run the proxy pods in the node's network namespace: they listen on the node's own
    /// addresses, on the hostPorts (80 and 443 unless set) and on 10254 for health and
    /// metrics. Ports below 1024 need the proxy to run as root with only the
    /// NET_BIND_SERVICE capability. Usually with kind DaemonSet. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,

    /// How many proxy pods to run, 0 to 100. Not with autoscaling or kind DaemonSet.
    /// Default: 2.
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

    /// Environment variables added to the proxy container (for example a proxy's
    /// SSL_CERT_FILE, or values from a Secret). POD_NAME is the operator's own. Default:
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub extra_env: Option<Vec<EnvVar>>,

    /// Flags added to the proxy's command line, each `--name` or `--name=value`, at most
    /// 32 (see `sluice-proxy --help`). Not a flag the operator sets from other fields.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(extend("items" = {
        "type": "string",
        "minLength": 3,
        "maxLength": 1024,
        "pattern": "^--[a-z0-9][a-z0-9-]*(=.*)?$",
    }))]
    pub extra_args: Option<Vec<String>>,

    /// Volumes added to the proxy pods, for extraVolumeMounts. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub extra_volumes: Option<Vec<Volume>>,

    /// Where the proxy container mounts extraVolumes. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub extra_volume_mounts: Option<Vec<VolumeMount>>,

    /// Labels added to the proxy pods, besides the ones that select them
    /// (app.kubernetes.io/name, component and instance, which cannot be set here). Default:
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_labels: Option<BTreeMap<String, String>>,

    /// The PriorityClass of the proxy pods, so they are scheduled, and evicted, by it.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::MAX_DNS_NAME), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub priority_class_name: Option<String>,

    /// How the proxy pods spread over zones or nodes. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,

    /// Secrets (kubernetes.io/dockerconfigjson, in the operator's namespace) the proxy pods
    /// pull their image with. Default: none (the nodes' own credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub image_pull_secrets: Option<Vec<ImagePullSecret>>,

    /// The proxies' PodDisruptionBudget: how many may be down at once during voluntary
    /// disruptions (node drains), as maxUnavailable or minAvailable, each a number or a
    /// percentage. Default: maxUnavailable 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<DisruptionBudgetParams>,

    /// The proxies' logs. Default: level info, format text, an access log line per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingParams>,

    /// The proxies' Prometheus metrics. Default: requests counted by Ingress, Service and
    /// status class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsParams>,

    /// TLS served by the proxies. Default: TLS 1.2 and later, no default certificate, HTTP
    /// redirected to HTTPS for the TLS hosts of an Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsParams>,

    /// How the proxies talk to the upstream endpoints. Default: connect timeout 5s, read
    /// timeout 60s, at most 3 attempts per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamParams>,

    /// How long the proxies wait for clients, and how many connections they hold. Default:
    /// 60s for a request head, 60s between two reads of a body, 75s for the next request on
    /// a kept-alive connection, 60s between two writes to a client that does not read
    /// (nginx's defaults); 16384 connections, 1024 from one address; no PROXY protocol and
    /// no trusted proxies (the connection's address is the client's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientParams>,

    /// Response headers Ingresses may set with the custom-headers annotation (ingress-nginx's
    /// global-allowed-response-headers), any case. An Ingress whose ConfigMap sets another
    /// header is not served (503). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 128)))]
    pub allowed_response_headers: Option<Vec<String>>,

    /// Serve plain HTTP/1.1 requests on the proxy's fast path. false sends every request
    /// through Pingora's proxy: the same answers, at a higher cost per request. Default:
    /// true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_path: Option<bool>,

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

    /// The image's digest, sha256:<64 hex digits>: the pods run exactly that image, whatever
    /// the tag now names (the tag stays in the reference, for people). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(equal = 71), regex(pattern = r"^sha256:[a-f0-9]{64}$"))]
    pub digest: Option<String>,
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

/// The workload that runs the proxy pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    /// A Deployment of `replicas` pods (or as many as the autoscaler sets).
    #[default]
    Deployment,
    /// A DaemonSet: one pod on every node the pods may run on.
    DaemonSet,
}

/// Node ports (hostPort) of the proxy pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
#[x_kube(
    validation = Rule::new("!has(self.http) || !has(self.https) || self.http != self.https")
        .message("http and https must differ")
        .field_path(".https"),
)]
pub struct HostPortsParams {
    /// The node's port for plain HTTP, 1 to 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub http: Option<i32>,

    /// The node's port for HTTPS, 1 to 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub https: Option<i32>,
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

/// A Secret the proxy pods pull their image with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct ImagePullSecret {
    /// The Secret's name, in the operator's namespace.
    #[schemars(length(min = 1, max = limits::MAX_DNS_NAME), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

/// The proxies' PodDisruptionBudget: one of maxUnavailable and minAvailable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
#[x_kube(
    validation = Rule::new("!(has(self.maxUnavailable) && has(self.minAvailable))")
        .message("set maxUnavailable or minAvailable, not both"),
)]
pub struct DisruptionBudgetParams {
    /// How many proxy pods may be unavailable, a number or a percentage such as "25%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,

    /// How many proxy pods must stay available, a number or a percentage such as "50%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
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
    validation = Rule::new(
        "(has(self.type) && self.type == 'LoadBalancer') || (!has(self.loadBalancerSourceRanges) && !has(self.loadBalancerClass) && !has(self.loadBalancerIP))"
    )
        .message("loadBalancerSourceRanges, loadBalancerClass and loadBalancerIP can only be set when type is LoadBalancer")
        .reason(Reason::FieldValueForbidden),
)]
pub struct ServiceParams {
    /// The Service type: NodePort, LoadBalancer or ClusterIP. Default: NodePort.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,

    /// The node port of plain HTTP (Service port 80), 30000 to 32767. Only with type NodePort
    /// or LoadBalancer; with LoadBalancer, unless set, the API server picks one. Default:
    /// 30080.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = limits::MIN_NODE_PORT, max = limits::MAX_NODE_PORT))]
    pub http_node_port: Option<i32>,

    /// The node port of HTTPS (Service port 443), 30000 to 32767, not the same as
    /// httpNodePort. Only with type NodePort or LoadBalancer; with LoadBalancer, unless set,
    /// the API server picks one. Default: 30443.
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

    /// The client address ranges (CIDRs) the load balancer accepts. Only with type
    /// LoadBalancer. Default: none (any client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // The longest CIDR is an IPv6 one: 39 characters, "/" and 3 digits.
    #[schemars(length(max = 64), inner(length(min = 9, max = 43)))]
    #[x_kube(validation = Rule::new("self.all(r, isCIDR(r))").message("each range must be a CIDR such as 203.0.113.0/24"))]
    pub load_balancer_source_ranges: Option<Vec<String>>,

    /// Addresses of this cluster's nodes' network, outside Kubernetes' control, at which the
    /// Service is also reached (the Service's externalIPs). Default: none.
    #[serde(
        rename = "externalIPs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 16), inner(length(min = 2, max = 45)))]
    #[x_kube(validation = Rule::new("self.all(ip, isIP(ip))").message("each address must be an IP address"))]
    pub external_ips: Option<Vec<String>>,

    /// The load balancer implementation to use (the Service's loadBalancerClass). Only with
    /// type LoadBalancer. Default: the cluster's default implementation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 316))]
    pub load_balancer_class: Option<String>,

    /// The address to ask the load balancer for (the Service's loadBalancerIP; deprecated
    /// in Kubernetes in favour of implementation annotations, which service.annotations
    /// sets, but still read by many implementations). Only with type LoadBalancer.
    /// Default: none.
    #[serde(
        default,
        rename = "loadBalancerIP",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 2, max = 45))]
    #[x_kube(validation = Rule::new("isIP(self)").message("must be an IP address"))]
    pub load_balancer_ip: Option<String>,
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct LoggingParams {
    /// The least severe level logged: trace, debug, info, warn or error. Default: info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,

    /// The log line format: text or json. Default: text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,

    /// The access log: one line per request, at level info. Default: on, every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogParams>,
}

/// The proxies' access log. The level and the access log change without restarting the
/// proxies; the format needs a new pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct AccessLogParams {
    /// Log a line per request. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// The fraction of requests logged, 0 to 1, chosen at random. Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sampling_ratio: Option<f64>,
}

/// The proxies' Prometheus metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct MetricsParams {
    /// Also count requests by method, status code and the matched rule's host, in
    /// sluice_proxy_requests_detailed_total. More series: one per combination seen.
    /// Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_labels: Option<bool>,
}

/// The least severe level the proxies log (also the proxy's `--log-level`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
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

/// The format of the proxies' log lines (and of the `--log-format` flag of both binaries).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
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

/// A TLS protocol version (also the proxy's `--tls-min-version`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
pub enum TlsVersion {
    /// TLS 1.2 and later.
    #[default]
    #[serde(rename = "1.2")]
    #[value(name = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    #[value(name = "1.3")]
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

/// How long the proxies wait for clients. A duration is a whole number with a unit (ms, s,
/// m or h) between 1ms and 1h.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = unwrap_descriptions)]
pub struct ClientParams {
    /// For a whole request head, from its first byte (slow clients are cut off). Default:
    /// 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(DURATION_MESSAGE))]
    pub header_timeout: Option<String>,

    /// Between two reads of a request body. Default: 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(DURATION_MESSAGE))]
    pub body_timeout: Option<String>,

    /// For the next request on a kept-alive connection. Default: 75s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(DURATION_MESSAGE))]
    pub keepalive_timeout: Option<String>,

    /// Between two writes to a client that does not read. Default: 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(DURATION_MESSAGE))]
    pub send_timeout: Option<String>,

    /// The most client connections each proxy holds, 0 (no cap) to 1000000; more are
    /// closed as they arrive. Default: 16384.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub max_connections: Option<i64>,

    /// The most client connections each proxy holds from one address, 0 (no cap) to
    /// 1000000. Default: 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub max_connections_per_address: Option<i64>,

    /// The largest request body: bytes, or a whole number with k, m or g (powers of 1024);
    /// 0 for no limit. A larger body gets 413. An Ingress can set its own with
    /// nginx.ingress.kubernetes.io/proxy-body-size or sluice.dev/proxy-body-size. Default: 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16), regex(pattern = SIZE_PATTERN))]
    pub max_body_size: Option<String>,

    /// Expect the PROXY protocol (v1 or v2) on both listeners, as a load balancer sends it
    /// (AWS NLB, HAProxy, ...): the client address it carries is the client's. A connection
    /// that does not start with a PROXY header is closed, so set it only when every client
    /// connection comes through such a load balancer. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<bool>,

    /// The addresses (CIDRs, or single IPs) of load balancers and CDNs trusted to say the
    /// client's address in realIpHeader. A connection from one of them has its client
    /// address read from that header, from the right, skipping trusted addresses (nginx's
    /// real_ip_recursive). Allow and deny lists and the headers sent upstream use that
    /// address. Default: none (the connection's own address is the client's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // The longest is an IPv6 CIDR: 39 characters, "/" and 3 digits.
    #[schemars(length(max = limits::MAX_TRUSTED_PROXIES), inner(length(min = 2, max = 43)))]
    #[x_kube(validation = Rule::new("self.all(r, isCIDR(r) || isIP(r))").message("each entry must be a CIDR such as 10.0.0.0/8 or an IP address"))]
    pub trusted_proxies: Option<Vec<String>>,

    /// The header trusted proxies say the client's address in: X-Forwarded-For
    /// ("x-forwarded-for") or RFC 7239 Forwarded ("forwarded", its for= parameters).
    /// Default: x-forwarded-for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_ip_header: Option<RealIpHeader>,
}

/// The header trusted proxies put the client's address in (also the proxy's
/// `--real-ip-header`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
pub enum RealIpHeader {
    /// X-Forwarded-For: a comma-separated list of addresses.
    #[default]
    #[serde(rename = "x-forwarded-for")]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// Forwarded (RFC 7239): the addresses of its for= parameters.
    #[serde(rename = "forwarded")]
    #[value(name = "forwarded")]
    Forwarded,
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

/// The OTLP transport (also the `--otlp-protocol` flag of both binaries).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
pub enum OtlpProtocol {
    /// OTLP over gRPC.
    #[default]
    #[serde(rename = "grpc")]
    #[value(name = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    #[value(name = "http/protobuf", alias = "http-protobuf")]
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
    /// The protocol as the `--otlp-protocol` flag and the CRD spell it.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

impl RealIpHeader {
    /// The header's name, lowercase, as the CRD and `--real-ip-header` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
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
    TlsVersion,
    RealIpHeader
);
