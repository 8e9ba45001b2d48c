//! What a proxy fleet should look like: a pure function of the IngressClass, its resolved
//! IngressClassParams and the operator's settings. The reconciler applies the result.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, Deployment, DeploymentSpec,
    DeploymentStrategy, RollingUpdateDaemonSet, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    LocalObjectReference, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SeccompProfile, SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort,
    ServiceSpec, Sysctl, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_crds::names::labels;
use sluice_crds::params::OPERATOR_VOLUME;
use sluice_crds::params::{DisruptionBudget, ResolvedParams, ServiceType, WorkloadKind};

/// Container ports of the proxy; the Service maps 80 and 443 onto the first two.
pub const HTTP_PORT: i32 = 8080;
pub const HTTPS_PORT: i32 = 8443;
pub const ADMIN_PORT: i32 = 9090;
/// The admin port on the host network (ingress-nginx's, so it is likely free): 9090 is
/// often a Prometheus server's.
pub const HOST_NETWORK_ADMIN_PORT: i32 = 10254;

/// The ports the proxy container listens on: its own, or on the host network the node's
/// (the host ports, and the admin port there).
pub fn listen_ports(params: &ResolvedParams) -> [i32; 3] {
    match (params.host_network, params.host_ports) {
        (true, (Some(http), Some(https))) => [http, https, HOST_NETWORK_ADMIN_PORT],
        _ => [HTTP_PORT, HTTPS_PORT, ADMIN_PORT],
    }
}

/// Where the default certificate Secret is mounted in the proxy.
const DEFAULT_CERT_DIR: &str = "/etc/sluice/default-certificate";

/// The operator's own settings that shape every fleet.
#[derive(Clone, Debug)]
pub struct FleetSettings {
    /// Namespace of the fleets (the operator's own).
    pub namespace: String,
    /// ClusterRole bound to each fleet's ServiceAccount.
    pub proxy_cluster_role: String,
    /// The `spec.controller` of the classes this operator serves; the proxies get it too.
    pub controller: String,
}

/// Every object of one fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    pub service_account: ServiceAccount,
    pub cluster_role_binding: ClusterRoleBinding,
    /// What runs the proxy pods.
    pub workload: Workload,
    pub service: Service,
    /// ClusterIP, the admin port only: what Prometheus scrapes.
    pub metrics_service: Service,
    pub pod_disruption_budget: PodDisruptionBudget,
    /// With autoscaling only.
    pub autoscaler: Option<HorizontalPodAutoscaler>,
}

impl Fleet {
    /// How many objects every fleet has (an autoscaler comes on top).
    pub const OBJECTS: usize = 6;
}

/// The proxy pods' workload, of the kind the params ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    Deployment(Deployment),
    DaemonSet(DaemonSet),
}

/// The replicas to declare on a fleet's Deployment, given the live one: the params' count,
/// or under an autoscaler what the autoscaler has set (within its bounds), so that an apply
/// never undoes a scale.
pub fn declared_replicas(params: &ResolvedParams, live: Option<&Deployment>) -> i32 {
    match params.autoscaling {
        Some(autoscaling) => autoscaling.replicas(live.and_then(|d| d.spec.as_ref()?.replicas)),
        None => params.replicas,
    }
}

/// The name of a class's fleet objects: `sluice-proxy-CLASS`, shortened with a hash when
/// that would not fit a Service name (63 characters).
pub fn fleet_name(class: &str) -> String {
    short_name("sluice-proxy", class)
}

/// The name of a fleet's metrics Service: `sluice-metrics-CLASS`, shortened like
/// [`fleet_name`].
pub fn metrics_service_name(class: &str) -> String {
    short_name("sluice-metrics", class)
}

pub(crate) fn short_name(prefix: &str, class: &str) -> String {
    let name = format!("{prefix}-{class}");
    if name.len() <= 63 {
        return name;
    }
    let hash = fnv1a(class);
    let mut short = name[..54].trim_end_matches('-').to_string();
    short.push('-');
    short.push_str(&format!("{:08x}", hash as u32));
    short
}

/// FNV-1a: stable across releases, unlike the standard library's hasher.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The labels every object of a class's fleet carries.
pub fn fleet_labels(class: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_string(), "sluice".to_string()),
        (labels::COMPONENT.to_string(), "proxy".to_string()),
        (labels::INSTANCE.to_string(), class.to_string()),
        (labels::INGRESS_CLASS.to_string(), class.to_string()),
        (
            labels::MANAGED_BY.to_string(),
            "sluice-operator".to_string(),
        ),
    ])
}

/// The labels that select a fleet's pods. Fixed for the life of a Deployment: a
/// Deployment's selector cannot change.
pub(crate) fn selector_labels(class: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_string(), "sluice".to_string()),
        (labels::COMPONENT.to_string(), "proxy".to_string()),
        (labels::INSTANCE.to_string(), class.to_string()),
    ])
}

/// Makes the IngressClass the owner, so deleting the class deletes its fleet.
fn owner(class: &IngressClass) -> OwnerReference {
    OwnerReference {
        api_version: "networking.k8s.io/v1".into(),
        kind: "IngressClass".into(),
        name: class.metadata.name.clone().unwrap_or_default(),
        uid: class.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        // Not set: it needs extra permissions on the owner in clusters that enforce them,
        // and deleting a class need not wait for its fleet.
        block_owner_deletion: None,
    }
}

/// Who a fleet is: what its objects are called, how they are labelled, which of them
/// select its pods, and who owns them. An IngressClass's fleet and a Gateway's differ
/// here and in what the proxy listens on ([`Listening`]); the rest is built once.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub name: String,
    pub metrics_name: String,
    pub labels: BTreeMap<String, String>,
    /// Fixed for the life of a Deployment: a Deployment's selector cannot change.
    pub selector: BTreeMap<String, String>,
    pub owner: OwnerReference,
}

impl Identity {
    fn meta(&self, name: &str, namespace: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: namespace.map(str::to_string),
            labels: Some(self.labels.clone()),
            owner_references: Some(vec![self.owner.clone()]),
            ..Default::default()
        }
    }
}

/// What the proxy container is told and where it listens.
#[derive(Clone, Debug)]
pub(crate) struct Listening {
    pub args: Vec<String>,
    pub container_ports: Vec<ContainerPort>,
    pub service_ports: Vec<ServicePort>,
    /// Whether the proxy binds a port below 1024 on the host network (it then runs as
    /// root with NET_BIND_SERVICE only).
    pub privileged_port: bool,
    /// Whether the proxy binds a port below 1024 in its pod's own network namespace: the
    /// pod then lets its unprivileged user do so (a namespaced sysctl every pod may set).
    pub low_ports_in_pod: bool,
}

/// A container port of the proxy, over TCP.
pub(crate) fn container_port(name: &str, port: i32, host_port: Option<i32>) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: port,
        host_port,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// The proxy's command line for these params.
pub fn proxy_args(class: &str, controller: &str, params: &ResolvedParams) -> Vec<String> {
    let [http, https, admin] = listen_ports(params);
    let mut args = vec![
        "--ingress-class".to_string(),
        class.to_string(),
        "--controller-name".into(),
        controller.to_string(),
        "--http-addr".into(),
        format!("0.0.0.0:{http}"),
        "--https-addr".into(),
        format!("0.0.0.0:{https}"),
    ];
    args.extend(tuning_flags(admin, params));
    // Clients reach HTTPS on the pods' host port if there is one, else on the node port
    // (NodePort), else on 443 (LoadBalancer, ClusterIP).
    let redirect_port = match (
        params.host_ports.1,
        params.service.type_,
        params.service.https_node_port,
    ) {
        (Some(host_port), _, _) => host_port,
        (None, ServiceType::NodePort, Some(port)) => port,
        _ => 443,
    };
    args.extend(["--https-redirect-port".into(), redirect_port.to_string()]);
    if !params.tls.ssl_redirect {
        args.push("--no-ssl-redirect".into());
    }
    args.extend(observability_flags(params));
    if params.tls.default_certificate_secret.is_some() {
        args.extend([
            "--default-cert".into(),
            format!("{DEFAULT_CERT_DIR}/tls.crt"),
            "--default-key".into(),
            format!("{DEFAULT_CERT_DIR}/tls.key"),
        ]);
    }
    args.extend(trailing_flags(params));
    args
}

/// The admin address and the params' timeouts, limits, TLS version and log format: every
/// fleet's, in this order.
pub(crate) fn tuning_flags(admin: i32, params: &ResolvedParams) -> Vec<String> {
    vec![
        "--admin-addr".into(),
        format!("0.0.0.0:{admin}"),
        "--connect-timeout".into(),
        format!("{}ms", params.upstream.connect_timeout.as_millis()),
        "--read-timeout".into(),
        format!("{}ms", params.upstream.read_timeout.as_millis()),
        "--max-attempts".into(),
        params.upstream.max_attempts.to_string(),
        "--client-header-timeout".into(),
        format!("{}ms", params.client.header_timeout.as_millis()),
        "--client-body-timeout".into(),
        format!("{}ms", params.client.body_timeout.as_millis()),
        "--keepalive-timeout".into(),
        format!("{}ms", params.client.keepalive_timeout.as_millis()),
        "--send-timeout".into(),
        format!("{}ms", params.client.send_timeout.as_millis()),
        "--max-connections".into(),
        params.client.max_connections.to_string(),
        "--max-connections-per-address".into(),
        params.client.max_connections_per_address.to_string(),
        "--max-body-size".into(),
        params.client.max_body_size.to_string(),
        "--tls-min-version".into(),
        params.tls.min_version.as_str().to_string(),
        // The level and the access log are not flags: the proxies read them from the
        // params while running, so changing them restarts nothing.
        "--log-format".into(),
        params.logging.format.as_str().to_string(),
        // Keep accepting while the endpoint removal reaches every node, then drain.
        "--shutdown-delay".into(),
        "5s".into(),
        "--grace-period".into(),
        "20s".into(),
    ]
}

/// Tracing, the fast path and metric labels, from the params.
pub(crate) fn observability_flags(params: &ResolvedParams) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(endpoint) = &params.tracing.otlp_endpoint {
        args.extend([
            "--otlp-endpoint".into(),
            endpoint.clone(),
            "--otlp-protocol".into(),
            params.tracing.protocol.flag().into(),
            "--trace-sampling-ratio".into(),
            params.tracing.sampling_ratio.to_string(),
        ]);
    }
    if !params.fast_path {
        args.push("--no-fast-path".into());
    }
    if params.metrics.detailed_labels {
        args.push("--metrics-detailed-labels".into());
    }
    args
}

/// Client addresses, response headers and the params' own extra arguments, last.
pub(crate) fn trailing_flags(params: &ResolvedParams) -> Vec<String> {
    let mut args: Vec<String> = params.client.address_flags().into_iter().collect();
    if !params.allowed_response_headers.is_empty() {
        args.push("--allowed-response-headers".into());
        args.push(params.allowed_response_headers.join(","));
    }
    args.extend(params.extra_args.iter().cloned());
    args
}

/// Builds the fleet of `class` from its resolved params.
pub fn desired(class: &IngressClass, params: &ResolvedParams, settings: &FleetSettings) -> Fleet {
    let class_name = class.metadata.name.clone().unwrap_or_default();
    let id = Identity {
        name: fleet_name(&class_name),
        metrics_name: metrics_service_name(&class_name),
        labels: fleet_labels(&class_name),
        selector: selector_labels(&class_name),
        owner: owner(class),
    };
    let [http, https, admin] = listen_ports(params);
    let service_port = |port_name: &str, port: i32, node_port: Option<i32>| ServicePort {
        name: Some(port_name.into()),
        port,
        target_port: Some(IntOrString::String(port_name.into())),
        protocol: Some("TCP".into()),
        node_port,
        ..Default::default()
    };
    let listening = Listening {
        args: proxy_args(&class_name, &settings.controller, params),
        container_ports: vec![
            container_port("http", http, params.host_ports.0),
            container_port("https", https, params.host_ports.1),
            // On the host network a container port is the node's port (hostPort is set to
            // it).
            container_port("admin", admin, params.host_network.then_some(admin)),
        ],
        service_ports: vec![
            service_port("http", 80, params.service.http_node_port),
            service_port("https", 443, params.service.https_node_port),
        ],
        // On the host network a port below 1024 needs NET_BIND_SERVICE, which a non-root
        // process only has as root (Kubernetes sets no ambient capabilities): root then,
        // with every other capability dropped.
        privileged_port: params.host_network && (http < 1024 || https < 1024),
        // Off the host network the proxy binds 8080 and 8443.
        low_ports_in_pod: false,
    };
    assemble(&id, params, settings, listening)
}

/// Builds every object of the fleet `id`, listening as `listening` says.
pub(crate) fn assemble(
    id: &Identity,
    params: &ResolvedParams,
    settings: &FleetSettings,
    listening: Listening,
) -> Fleet {
    let name = id.name.clone();
    let ns = Some(settings.namespace.as_str());
    let Listening {
        args,
        container_ports,
        service_ports,
        privileged_port,
        low_ports_in_pod,
    } = listening;

    let service_account = ServiceAccount {
        metadata: id.meta(&name, ns),
        automount_service_account_token: Some(true),
        ..Default::default()
    };

    let cluster_role_binding = ClusterRoleBinding {
        metadata: id.meta(&name, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: settings.proxy_cluster_role.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.clone(),
            namespace: Some(settings.namespace.clone()),
            api_group: None,
        }]),
    };

    let selector = LabelSelector {
        match_labels: Some(id.selector.clone()),
        ..Default::default()
    };
    let template = pod_template(
        id,
        params,
        args,
        container_ports,
        privileged_port,
        low_ports_in_pod,
    );
    let workload = match params.kind {
        WorkloadKind::Deployment => Workload::Deployment(Deployment {
            metadata: id.meta(&name, ns),
            spec: Some(DeploymentSpec {
                replicas: Some(params.replicas),
                selector,
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    // Never below the desired count during a rollout.
                    rolling_update: Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::Int(1)),
                    }),
                }),
                template,
                ..Default::default()
            }),
            ..Default::default()
        }),
        WorkloadKind::DaemonSet => Workload::DaemonSet(DaemonSet {
            metadata: id.meta(&name, ns),
            spec: Some(DaemonSetSpec {
                selector,
                // One node at a time; a surge pod cannot start beside the old one when
                // both want the same host ports, so the old one goes first.
                update_strategy: Some(DaemonSetUpdateStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::Int(1)),
                        max_surge: Some(IntOrString::Int(0)),
                    }),
                }),
                template,
                ..Default::default()
            }),
            ..Default::default()
        }),
    };

    let service = proxy_service(id, params, &settings.namespace, service_ports);
    let metrics_service = metrics_service(id, &settings.namespace);

    let pod_disruption_budget = PodDisruptionBudget {
        metadata: id.meta(&name, ns),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: match &params.disruption_budget {
                DisruptionBudget::MaxUnavailable(n) => Some(n.clone()),
                DisruptionBudget::MinAvailable(_) => None,
            },
            min_available: match &params.disruption_budget {
                DisruptionBudget::MinAvailable(n) => Some(n.clone()),
                DisruptionBudget::MaxUnavailable(_) => None,
            },
            selector: Some(LabelSelector {
                match_labels: Some(id.selector.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };

    let autoscaler = params.autoscaling.map(|a| HorizontalPodAutoscaler {
        metadata: id.meta(&name, ns),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: name.clone(),
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(a.target_cpu_utilization_percentage),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            behavior: None,
        }),
        ..Default::default()
    });

    Fleet {
        service_account,
        cluster_role_binding,
        workload,
        service,
        metrics_service,
        pod_disruption_budget,
        autoscaler,
    }
}

fn pod_template(
    id: &Identity,
    params: &ResolvedParams,
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    privileged_port: bool,
    low_ports_in_pod: bool,
) -> PodTemplateSpec {
    let http_get = |path: &str| HTTPGetAction {
        path: Some(path.into()),
        port: IntOrString::String("admin".into()),
        ..Default::default()
    };
    let (mut volumes, mut mounts) = match &params.tls.default_certificate_secret {
        Some(secret) => (
            vec![Volume {
                name: OPERATOR_VOLUME.into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            vec![VolumeMount {
                name: OPERATOR_VOLUME.into(),
                mount_path: DEFAULT_CERT_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            }],
        ),
        None => (Vec::new(), Vec::new()),
    };
    volumes.extend(params.extra_volumes.iter().cloned());
    mounts.extend(params.extra_volume_mounts.iter().cloned());
    let container = Container {
        name: "proxy".into(),
        image: Some(params.image.reference()),
        image_pull_policy: Some(params.image.pull_policy.as_str().into()),
        args: Some(args),
        // The operator's own variable first; the params' after it.
        env: Some(
            std::iter::once(EnvVar {
                name: "POD_NAME".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .chain(params.extra_env.iter().cloned())
            .collect(),
        ),
        ports: Some(ports),
        readiness_probe: Some(Probe {
            http_get: Some(http_get("/readyz")),
            period_seconds: Some(5),
            failure_threshold: Some(2),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            http_get: Some(http_get("/healthz")),
            period_seconds: Some(10),
            failure_threshold: Some(3),
            ..Default::default()
        }),
        resources: Some(params.resources.clone()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(!privileged_port),
            run_as_user: privileged_port.then_some(0),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: privileged_port.then(|| vec!["NET_BIND_SERVICE".into()]),
            }),
            ..Default::default()
        }),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    // The user's labels first: the fleet's own (its selector among them) win.
    let mut pod_labels = params.pod_labels.clone();
    pod_labels.extend(id.labels.clone());
    pod_labels.retain(|k, _| k != labels::MANAGED_BY);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: (!params.pod_annotations.is_empty())
                .then(|| params.pod_annotations.clone()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(id.name.clone()),
            containers: vec![container],
            termination_grace_period_seconds: Some(30),
            node_selector: (!params.node_selector.is_empty()).then(|| params.node_selector.clone()),
            tolerations: (!params.tolerations.is_empty()).then(|| params.tolerations.clone()),
            affinity: params.affinity.clone(),
            priority_class_name: params.priority_class_name.clone(),
            topology_spread_constraints: (!params.topology_spread_constraints.is_empty())
                .then(|| params.topology_spread_constraints.clone()),
            image_pull_secrets: (!params.image_pull_secrets.is_empty()).then(|| {
                params
                    .image_pull_secrets
                    .iter()
                    .map(|name| LocalObjectReference { name: name.clone() })
                    .collect()
            }),
            volumes: (!volumes.is_empty()).then_some(volumes),
            host_network: params.host_network.then_some(true),
            // Cluster DNS names (a collector's, say) still resolve on the host network.
            dns_policy: params
                .host_network
                .then(|| "ClusterFirstWithHostNet".into()),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(65532),
                run_as_group: Some(65532),
                // Ports from 0 up may be bound without privilege, in this pod's network
                // namespace only (a "safe" sysctl: no node setting needed).
                sysctls: low_ports_in_pod.then(|| {
                    vec![Sysctl {
                        name: "net.ipv4.ip_unprivileged_port_start".into(),
                        value: "0".into(),
                    }]
                }),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn proxy_service(
    id: &Identity,
    params: &ResolvedParams,
    namespace: &str,
    ports: Vec<ServicePort>,
) -> Service {
    let mut metadata = id.meta(&id.name, Some(namespace));
    if !params.service.annotations.is_empty() {
        metadata.annotations = Some(params.service.annotations.clone());
    }
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(params.service.type_.as_str().into()),
            selector: Some(id.selector.clone()),
            ports: Some(ports),
            external_traffic_policy: params
                .service
                .external_traffic_policy
                .map(|p| p.as_str().to_string()),
            external_ips: (!params.service.external_ips.is_empty())
                .then(|| params.service.external_ips.clone()),
            load_balancer_source_ranges: (!params.service.load_balancer_source_ranges.is_empty())
                .then(|| params.service.load_balancer_source_ranges.clone()),
            load_balancer_class: params.service.load_balancer_class.clone(),
            load_balancer_ip: params.service.load_balancer_ip.map(|ip| ip.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The fleet's metrics Service: ClusterIP, the proxies' admin port named `metrics`,
/// labelled so that one ServiceMonitor selector finds every fleet and the operator.
fn metrics_service(id: &Identity, namespace: &str) -> Service {
    let mut metadata = id.meta(&id.metrics_name, Some(namespace));
    metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(labels::METRICS.into(), "true".into());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(id.selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("metrics".into()),
                port: ADMIN_PORT,
                target_port: Some(IntOrString::String("admin".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub mod gateway;

#[cfg(test)]
mod tests;
