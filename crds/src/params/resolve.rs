//! [`IngressClassParamsSpec::resolve`]: every default filled in and every rule the API
//! server enforces checked again, one part of the spec at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::annotations::parse_duration;

use super::resolved::{
    DisruptionBudget, FieldError, InvalidParams, PublishedAddress, ResolvedAccessLog,
    ResolvedAutoscaling, ResolvedClient, ResolvedImage, ResolvedLogging, ResolvedMetrics,
    ResolvedParams, ResolvedService, ResolvedTls, ResolvedTracing, ResolvedUpstream,
};
use super::schema::{
    DURATION_MESSAGE, is_dns_subdomain, is_duration, is_http_url, is_image_repository, is_image_tag,
};
use super::types::{
    AutoscalingParams, ClientParams, ImageParams, IngressClassParams, IngressClassParamsSpec,
    LoggingParams, ServiceParams, ServiceType, TlsParams, TracingParams, UpstreamParams,
    WorkloadKind,
};
use super::{OPERATOR_FLAGS, OPERATOR_VOLUME, default_resources, defaults, limits};

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
        let mut errors = Errors::default();
        // In this order, which is the order the problems are reported in.
        let (replicas, autoscaling) =
            resolve_replicas(self.replicas, self.autoscaling.as_ref(), &mut errors);
        let image = resolve_image(self.image.as_ref(), &mut errors);
        let service = resolve_service(self.service.as_ref(), &mut errors);
        let logging = LoggingParams::resolve(self.logging.as_ref());
        let metrics = ResolvedMetrics {
            detailed_labels: self
                .metrics
                .as_ref()
                .and_then(|m| m.detailed_labels)
                .unwrap_or(false),
        };
        let tls = resolve_tls(self.tls.as_ref(), &mut errors);
        let upstream = resolve_upstream(self.upstream.as_ref(), &mut errors);
        let client = resolve_client(self.client.as_ref(), &mut errors);
        let tracing = resolve_tracing(self.tracing.as_ref(), &mut errors);
        let addresses = resolve_addresses(self.addresses.as_deref(), &mut errors);
        let (pod_labels, disruption_budget, image_pull_secrets) = resolve_pods(self, &mut errors);
        let (kind, host_ports) = resolve_workload(self, &mut errors);
        let host_network = self.host_network.unwrap_or(false);
        let host_ports = if host_network {
            (
                Some(host_ports.0.unwrap_or(defaults::HOST_NETWORK_HTTP_PORT)),
                Some(host_ports.1.unwrap_or(defaults::HOST_NETWORK_HTTPS_PORT)),
            )
        } else {
            host_ports
        };
        let extra_args = resolve_extra_args(self.extra_args.as_deref(), &mut errors);
        let (extra_volumes, extra_volume_mounts) = resolve_extra_volumes(self, &mut errors);

        let resolved = ResolvedParams {
            replicas,
            autoscaling,
            kind,
            host_ports,
            host_network,
            extra_args,
            extra_volumes,
            extra_volume_mounts,
            image,
            service,
            resources: self.resources.clone().unwrap_or_else(default_resources),
            node_selector: self.node_selector.clone().unwrap_or_default(),
            tolerations: self.tolerations.clone().unwrap_or_default(),
            affinity: self.affinity.clone(),
            pod_annotations: self.pod_annotations.clone().unwrap_or_default(),
            pod_labels,
            extra_env: resolve_extra_env(self.extra_env.as_deref(), &mut errors),
            priority_class_name: self.priority_class_name.clone(),
            topology_spread_constraints: self
                .topology_spread_constraints
                .clone()
                .unwrap_or_default(),
            image_pull_secrets,
            disruption_budget,
            logging,
            metrics,
            tls,
            upstream,
            client,
            fast_path: self.fast_path.unwrap_or(true),
            allowed_response_headers: resolve_header_names(
                self.allowed_response_headers.as_deref(),
                &mut errors,
            ),
            tracing,
            addresses,
        };
        if errors.0.is_empty() {
            Ok(resolved)
        } else {
            Err(InvalidParams(errors.0))
        }
    }
}

/// The problems found so far, in the order found.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    /// Records why `spec.<field>` cannot be used.
    fn fail(&mut self, field: &str, reason: String) {
        self.0.push(FieldError {
            field: format!("spec.{field}"),
            reason,
        });
    }
}

/// `replicas` and `autoscaling`: the replicas a fleet runs (with autoscaling, the minimum
/// it starts at) and the autoscaler, if any.
fn resolve_replicas(
    replicas: Option<i32>,
    autoscaling: Option<&AutoscalingParams>,
    errors: &mut Errors,
) -> (i32, Option<ResolvedAutoscaling>) {
    let fixed = replicas.unwrap_or(defaults::REPLICAS);
    if !(0..=limits::MAX_REPLICAS).contains(&fixed) {
        errors.fail(
            "replicas",
            format!("must lie between 0 and {}", limits::MAX_REPLICAS),
        );
    }
    let autoscaling = autoscaling.map(|autoscaling| {
        if replicas.is_some() {
            errors.fail(
                "autoscaling",
                "set spec.replicas or spec.autoscaling, not both".into(),
            );
        }
        resolve_autoscaling(autoscaling, errors)
    });
    let replicas = autoscaling.map_or(fixed, |a| a.min_replicas);
    (replicas, autoscaling)
}

/// `autoscaling`, when set.
fn resolve_autoscaling(a: &AutoscalingParams, errors: &mut Errors) -> ResolvedAutoscaling {
    let resolved = ResolvedAutoscaling {
        min_replicas: a.min_replicas.unwrap_or(defaults::REPLICAS),
        max_replicas: a.max_replicas,
        target_cpu_utilization_percentage: a
            .target_cpu_utilization_percentage
            .unwrap_or(defaults::TARGET_CPU_UTILIZATION),
    };
    let bounds = 1..=limits::MAX_REPLICAS;
    if !bounds.contains(&resolved.min_replicas) || !bounds.contains(&resolved.max_replicas) {
        errors.fail(
            "autoscaling",
            format!(
                "minReplicas and maxReplicas must lie between 1 and {}",
                limits::MAX_REPLICAS
            ),
        );
    } else if resolved.min_replicas > resolved.max_replicas {
        errors.fail(
            "autoscaling.minReplicas",
            "must not exceed maxReplicas".into(),
        );
    }
    if !(1..=100).contains(&resolved.target_cpu_utilization_percentage) {
        errors.fail(
            "autoscaling.targetCPUUtilizationPercentage",
            "must lie between 1 and 100".into(),
        );
    }
    resolved
}

/// `image`.
fn resolve_image(image: Option<&ImageParams>, errors: &mut Errors) -> ResolvedImage {
    let image = image.cloned().unwrap_or_default();
    let image = ResolvedImage {
        repository: image
            .repository
            .unwrap_or_else(|| defaults::IMAGE_REPOSITORY.to_string()),
        tag: image.tag.unwrap_or_else(|| defaults::IMAGE_TAG.to_string()),
        pull_policy: image.pull_policy.unwrap_or_default(),
        digest: image.digest,
    };
    if let Some(digest) = &image.digest
        && !is_sha256_digest(digest)
    {
        errors.fail(
            "image.digest",
            "must be sha256: followed by 64 lowercase hex digits".into(),
        );
    }
    if !is_image_repository(&image.repository) {
        errors.fail(
            "image.repository",
            "must be an image repository such as ghcr.io/sluice-dev/sluice-proxy".into(),
        );
    }
    if !is_image_tag(&image.tag) {
        errors.fail(
            "image.tag",
            "must be an image tag: letters, digits, '_', '.' and '-', at most 128".into(),
        );
    }
    image
}

/// `service`: ClusterIP without node ports or traffic policy, the other types with both.
fn resolve_service(service: Option<&ServiceParams>, errors: &mut Errors) -> ResolvedService {
    let service = service.cloned().unwrap_or_default();
    let type_ = service.type_.unwrap_or_default();
    let load_balancer = type_ == ServiceType::LoadBalancer;
    if !load_balancer
        && (service.load_balancer_source_ranges.is_some()
            || service.load_balancer_class.is_some()
            || service.load_balancer_ip.is_some())
    {
        errors.fail(
            "service",
            "loadBalancerSourceRanges, loadBalancerClass and loadBalancerIP can only be set when type is LoadBalancer"
                .into(),
        );
    }
    let load_balancer_ip = service.load_balancer_ip.as_deref().and_then(|ip| {
        let parsed = ip.parse::<std::net::IpAddr>().ok();
        if parsed.is_none() {
            errors.fail("service.loadBalancerIP", "must be an IP address".into());
        }
        parsed
    });
    for (i, range) in service
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .enumerate()
    {
        if !is_cidr(range) {
            errors.fail(
                &format!("service.loadBalancerSourceRanges[{i}]"),
                "each range must be a CIDR such as 203.0.113.0/24".into(),
            );
        }
    }
    let annotations = service.annotations.unwrap_or_default();
    let external_ips = service.external_ips.clone().unwrap_or_default();
    for (i, ip) in external_ips.iter().enumerate() {
        if ip.parse::<std::net::IpAddr>().is_err() {
            errors.fail(
                &format!("service.externalIPs[{i}]"),
                "each address must be an IP address".into(),
            );
        }
    }
    if type_ == ServiceType::ClusterIp {
        if service.http_node_port.is_some() || service.https_node_port.is_some() {
            errors.fail(
                "service",
                "httpNodePort and httpsNodePort can only be set when type is NodePort or LoadBalancer"
                    .into(),
            );
        }
        if service.external_traffic_policy.is_some() {
            errors.fail(
                "service.externalTrafficPolicy",
                "externalTrafficPolicy can only be set when type is NodePort or LoadBalancer"
                    .into(),
            );
        }
        return ResolvedService {
            type_,
            http_node_port: None,
            https_node_port: None,
            external_traffic_policy: None,
            annotations,
            external_ips,
            load_balancer_source_ranges: Vec::new(),
            load_balancer_class: None,
            load_balancer_ip: None,
        };
    }
    // A NodePort class is reached on its node ports, so they are fixed; a load balancer's
    // clients never see them, so the API server may pick them.
    let (http, https) = match load_balancer {
        true => (service.http_node_port, service.https_node_port),
        false => (
            Some(service.http_node_port.unwrap_or(defaults::HTTP_NODE_PORT)),
            Some(service.https_node_port.unwrap_or(defaults::HTTPS_NODE_PORT)),
        ),
    };
    for (field, port) in [
        ("service.httpNodePort", http),
        ("service.httpsNodePort", https),
    ] {
        if let Some(port) = port
            && !(limits::MIN_NODE_PORT..=limits::MAX_NODE_PORT).contains(&port)
        {
            errors.fail(
                field,
                format!(
                    "must lie between {} and {}",
                    limits::MIN_NODE_PORT,
                    limits::MAX_NODE_PORT
                ),
            );
        }
    }
    if http.is_some() && http == https {
        errors.fail(
            "service.httpsNodePort",
            "httpNodePort and httpsNodePort must differ".into(),
        );
    }
    ResolvedService {
        type_,
        http_node_port: http,
        https_node_port: https,
        external_traffic_policy: Some(service.external_traffic_policy.unwrap_or_default()),
        annotations,
        external_ips,
        load_balancer_source_ranges: service.load_balancer_source_ranges.unwrap_or_default(),
        load_balancer_class: service.load_balancer_class,
        load_balancer_ip,
    }
}

/// `sha256:` and 64 lowercase hex digits.
fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An address range as a Service's loadBalancerSourceRanges takes it: `IP/prefix`.
fn is_cidr(range: &str) -> bool {
    let Some((ip, prefix)) = range.split_once('/') else {
        return false;
    };
    let (Ok(ip), Ok(prefix)) = (ip.parse::<std::net::IpAddr>(), prefix.parse::<u8>()) else {
        return false;
    };
    prefix <= if ip.is_ipv4() { 32 } else { 128 }
}

/// The labels that select the fleet's pods: podLabels may not set them.
const SELECTOR_LABELS: [&str; 3] = [
    crate::names::labels::NAME,
    crate::names::labels::COMPONENT,
    crate::names::labels::INSTANCE,
];

/// `extraEnv`: any variables but the operator's own.
fn resolve_extra_env(
    env: Option<&[k8s_openapi::api::core::v1::EnvVar]>,
    errors: &mut Errors,
) -> Vec<k8s_openapi::api::core::v1::EnvVar> {
    let env = env.unwrap_or_default();
    for (i, var) in env.iter().enumerate() {
        if var.name == "POD_NAME" {
            errors.fail(
                &format!("extraEnv[{i}]"),
                "POD_NAME is set by the operator".into(),
            );
        }
    }
    env.to_vec()
}

/// `extraArgs`: flags only, none that the operator sets itself (the proxy refuses a flag
/// given twice).
fn resolve_extra_args(args: Option<&[String]>, errors: &mut Errors) -> Vec<String> {
    let args = args.unwrap_or_default();
    for (i, arg) in args.iter().enumerate() {
        let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
        let well_formed = name.len() > 2
            && name.starts_with("--")
            && name[2..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            errors.fail(
                &format!("extraArgs[{i}]"),
                format!("{arg:?} is not --name or --name=value"),
            );
        } else if OPERATOR_FLAGS.contains(&name) {
            errors.fail(
                &format!("extraArgs[{i}]"),
                format!("{name} is set by the operator; use the params field for it"),
            );
        }
    }
    args.to_vec()
}

/// `extraVolumes` and `extraVolumeMounts`: every mount names a volume, and no name or path
/// is the operator's own.
fn resolve_extra_volumes(
    spec: &IngressClassParamsSpec,
    errors: &mut Errors,
) -> (Vec<Volume>, Vec<VolumeMount>) {
    let volumes = spec.extra_volumes.clone().unwrap_or_default();
    let mounts = spec.extra_volume_mounts.clone().unwrap_or_default();
    for (i, volume) in volumes.iter().enumerate() {
        if volume.name == OPERATOR_VOLUME {
            errors.fail(
                &format!("extraVolumes[{i}]"),
                format!("the volume name {OPERATOR_VOLUME} is the operator's"),
            );
        }
    }
    for (i, mount) in mounts.iter().enumerate() {
        if !volumes.iter().any(|v| v.name == mount.name) {
            errors.fail(
                &format!("extraVolumeMounts[{i}]"),
                format!("names no volume of extraVolumes: {}", mount.name),
            );
        }
    }
    (volumes, mounts)
}

/// `kind` and `hostPorts`.
fn resolve_workload(
    spec: &IngressClassParamsSpec,
    errors: &mut Errors,
) -> (WorkloadKind, (Option<i32>, Option<i32>)) {
    let kind = spec.kind.unwrap_or_default();
    if kind == WorkloadKind::DaemonSet && (spec.replicas.is_some() || spec.autoscaling.is_some()) {
        errors.fail(
            "kind",
            "a DaemonSet runs one proxy pod per node: spec.replicas and spec.autoscaling do not apply"
                .into(),
        );
    }
    let ports = spec.host_ports.clone().unwrap_or_default();
    for (field, port) in [
        ("hostPorts.http", ports.http),
        ("hostPorts.https", ports.https),
    ] {
        if port.is_some_and(|p| !(1..=65535).contains(&p)) {
            errors.fail(field, "must lie between 1 and 65535".into());
        }
    }
    if ports.http.is_some() && ports.http == ports.https {
        errors.fail("hostPorts.https", "http and https must differ".into());
    }
    (kind, (ports.http, ports.https))
}

/// `podLabels`, `podDisruptionBudget` and `imagePullSecrets`.
fn resolve_pods(
    spec: &IngressClassParamsSpec,
    errors: &mut Errors,
) -> (BTreeMap<String, String>, DisruptionBudget, Vec<String>) {
    let labels = spec.pod_labels.clone().unwrap_or_default();
    for key in labels
        .keys()
        .filter(|k| SELECTOR_LABELS.contains(&k.as_str()))
    {
        errors.fail(
            "podLabels",
            format!("{key} selects the fleet's pods and cannot be set"),
        );
    }
    let budget = spec.pod_disruption_budget.clone().unwrap_or_default();
    let budget = match (budget.max_unavailable, budget.min_available) {
        (Some(_), Some(_)) => {
            errors.fail(
                "podDisruptionBudget",
                "set maxUnavailable or minAvailable, not both".into(),
            );
            DisruptionBudget::MaxUnavailable(IntOrString::Int(1))
        }
        (None, Some(min)) => DisruptionBudget::MinAvailable(min),
        (max, None) => DisruptionBudget::MaxUnavailable(max.unwrap_or(IntOrString::Int(1))),
    };
    let secrets = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.clone())
        .collect();
    (labels, budget, secrets)
}

impl LoggingParams {
    /// `logging`, with its defaults. Any value the schema admits is valid; a sampling
    /// ratio outside 0..=1 (from an object that skipped the schema) is clamped. The proxy
    /// reads the level and the access log from here too, live.
    pub fn resolve(logging: Option<&Self>) -> ResolvedLogging {
        let logging = logging.cloned().unwrap_or_default();
        let access = logging.access_log.unwrap_or_default();
        let defaults = ResolvedAccessLog::default();
        ResolvedLogging {
            level: logging.level.unwrap_or_default(),
            format: logging.format.unwrap_or_default(),
            access_log: ResolvedAccessLog {
                enabled: access.enabled.unwrap_or(defaults.enabled),
                sampling_ratio: access
                    .sampling_ratio
                    .filter(|r| r.is_finite())
                    .map_or(defaults.sampling_ratio, |r| r.clamp(0.0, 1.0)),
            },
        }
    }
}

/// `tls`.
fn resolve_tls(tls: Option<&TlsParams>, errors: &mut Errors) -> ResolvedTls {
    let tls = tls.cloned().unwrap_or_default();
    if let Some(name) = &tls.default_certificate_secret
        && !is_dns_subdomain(name)
    {
        errors.fail(
            "tls.defaultCertificateSecret",
            "must be a Secret name: lowercase letters, digits, '-' and '.', at most 253".into(),
        );
    }
    ResolvedTls {
        min_version: tls.min_version.unwrap_or_default(),
        default_certificate_secret: tls.default_certificate_secret,
        ssl_redirect: tls.ssl_redirect.unwrap_or(defaults::SSL_REDIRECT),
    }
}

/// `upstream`.
fn resolve_upstream(upstream: Option<&UpstreamParams>, errors: &mut Errors) -> ResolvedUpstream {
    let upstream = upstream.cloned().unwrap_or_default();
    let connect_timeout = resolve_duration(
        "upstream.connectTimeout",
        upstream.connect_timeout.as_deref(),
        defaults::CONNECT_TIMEOUT,
        errors,
    );
    let read_timeout = resolve_duration(
        "upstream.readTimeout",
        upstream.read_timeout.as_deref(),
        defaults::READ_TIMEOUT,
        errors,
    );
    let max_attempts = upstream.max_attempts.unwrap_or(defaults::MAX_ATTEMPTS);
    if !(limits::MIN_ATTEMPTS..=limits::MAX_ATTEMPTS).contains(&max_attempts) {
        errors.fail(
            "upstream.maxAttempts",
            format!(
                "must lie between {} and {}",
                limits::MIN_ATTEMPTS,
                limits::MAX_ATTEMPTS
            ),
        );
    }
    ResolvedUpstream {
        connect_timeout,
        read_timeout,
        max_attempts: u32::try_from(max_attempts).unwrap_or(0),
    }
}

/// `client`.
fn resolve_client(client: Option<&ClientParams>, errors: &mut Errors) -> ResolvedClient {
    let client = client.cloned().unwrap_or_default();
    let mut duration = |field: &str, value: Option<&str>, default: &str| {
        resolve_duration(&format!("client.{field}"), value, default, &mut *errors)
    };
    ResolvedClient {
        header_timeout: duration(
            "headerTimeout",
            client.header_timeout.as_deref(),
            defaults::CLIENT_HEADER_TIMEOUT,
        ),
        body_timeout: duration(
            "bodyTimeout",
            client.body_timeout.as_deref(),
            defaults::CLIENT_BODY_TIMEOUT,
        ),
        keepalive_timeout: duration(
            "keepaliveTimeout",
            client.keepalive_timeout.as_deref(),
            defaults::KEEPALIVE_TIMEOUT,
        ),
        send_timeout: duration(
            "sendTimeout",
            client.send_timeout.as_deref(),
            defaults::SEND_TIMEOUT,
        ),
        max_connections: cap(
            "client.maxConnections",
            client.max_connections,
            defaults::MAX_CONNECTIONS,
            errors,
        ),
        max_connections_per_address: cap(
            "client.maxConnectionsPerAddress",
            client.max_connections_per_address,
            defaults::MAX_CONNECTIONS_PER_ADDRESS,
            errors,
        ),
        max_body_size: crate::annotations::parse_size(
            client
                .max_body_size
                .as_deref()
                .unwrap_or(defaults::MAX_BODY_SIZE),
        )
        .unwrap_or_else(|message| {
            errors.fail("client.maxBodySize", message.into());
            0
        }),
        proxy_protocol: client.proxy_protocol.unwrap_or(false),
        trusted_proxies: resolve_trusted_proxies(client.trusted_proxies.as_deref(), errors),
        real_ip_header: client.real_ip_header.unwrap_or_default(),
    }
}

/// `allowedResponseHeaders`: header names, as the proxy's flag takes them.
fn resolve_header_names(names: Option<&[String]>, errors: &mut Errors) -> Vec<String> {
    let mut kept = Vec::new();
    for (i, name) in names.unwrap_or_default().iter().enumerate() {
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            errors.fail(
                &format!("allowedResponseHeaders[{i}]"),
                "each entry must be a header name: letters, digits, - and _".into(),
            );
        } else {
            kept.push(name.to_string());
        }
    }
    kept
}

/// `client.trustedProxies`: each a CIDR or an address, as the proxy's flag takes them.
fn resolve_trusted_proxies(ranges: Option<&[String]>, errors: &mut Errors) -> Vec<String> {
    let ranges = ranges.unwrap_or_default();
    if ranges.len() > limits::MAX_TRUSTED_PROXIES {
        errors.fail(
            "client.trustedProxies",
            format!("must hold at most {} entries", limits::MAX_TRUSTED_PROXIES),
        );
    }
    let mut kept = Vec::with_capacity(ranges.len());
    for (i, range) in ranges.iter().enumerate() {
        let range = range.trim();
        // One entry each: a comma would smuggle a second one past this check.
        if range.contains(',') || crate::annotations::SourceRanges::parse(range).is_err() {
            errors.fail(
                &format!("client.trustedProxies[{i}]"),
                "each entry must be a CIDR such as 10.0.0.0/8 or an IP address".into(),
            );
        } else {
            kept.push(range.to_string());
        }
    }
    kept
}

/// A connection cap, or its default; 0 (and an error) outside 0..=1000000.
fn cap(field: &str, value: Option<i64>, default: usize, errors: &mut Errors) -> usize {
    let Some(value) = value else {
        return default;
    };
    match usize::try_from(value) {
        Ok(n) if n <= 1_000_000 => n,
        _ => {
            errors.fail(field, "must lie between 0 and 1000000".into());
            0
        }
    }
}

/// A duration field, or its default; zero (and an error) if it is not one.
fn resolve_duration(
    field: &str,
    value: Option<&str>,
    default: &str,
    errors: &mut Errors,
) -> Duration {
    let value = value.unwrap_or(default);
    if !is_duration(value) {
        errors.fail(field, DURATION_MESSAGE.into());
        return Duration::ZERO;
    }
    parse_duration(value).unwrap_or_else(|_| {
        errors.fail(field, DURATION_MESSAGE.into());
        Duration::ZERO
    })
}

/// `tracing`.
fn resolve_tracing(tracing: Option<&TracingParams>, errors: &mut Errors) -> ResolvedTracing {
    let tracing = tracing.cloned().unwrap_or_default();
    if let Some(endpoint) = &tracing.otlp_endpoint
        && !is_http_url(endpoint)
    {
        errors.fail(
            "tracing.otlpEndpoint",
            "must be an http or https URL with a host".into(),
        );
    }
    let sampling_ratio = tracing.sampling_ratio.unwrap_or(defaults::SAMPLING_RATIO);
    if !(0.0..=1.0).contains(&sampling_ratio) {
        errors.fail("tracing.samplingRatio", "must lie between 0 and 1".into());
    }
    ResolvedTracing {
        otlp_endpoint: tracing.otlp_endpoint,
        protocol: tracing.protocol.unwrap_or_default(),
        sampling_ratio,
    }
}

/// `addresses`: `None` when unset; the addresses that parse when set.
fn resolve_addresses(
    addresses: Option<&[String]>,
    errors: &mut Errors,
) -> Option<Vec<PublishedAddress>> {
    let addresses = addresses?;
    if addresses.len() > limits::MAX_ADDRESSES {
        errors.fail(
            "addresses",
            format!("must hold at most {} addresses", limits::MAX_ADDRESSES),
        );
    }
    let parsed = addresses
        .iter()
        .enumerate()
        .filter_map(|(i, address)| {
            let parsed = PublishedAddress::parse(address);
            if parsed.is_none() {
                errors.fail(
                    &format!("addresses[{i}]"),
                    "must be an IP address or a lowercase DNS name".into(),
                );
            }
            parsed
        })
        .collect();
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{
        ExternalTrafficPolicy, LogFormat, LogLevel, PullPolicy, RealIpHeader, TlsVersion,
    };

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
    fn client_timeouts_default_to_nginx_and_take_durations() {
        let r = spec(serde_json::json!({})).resolve().unwrap();
        assert_eq!(
            (
                r.client.header_timeout,
                r.client.body_timeout,
                r.client.keepalive_timeout,
                r.client.send_timeout,
                r.fast_path
            ),
            (
                Duration::from_secs(60),
                Duration::from_secs(60),
                Duration::from_secs(75),
                Duration::from_secs(60),
                true
            )
        );
        let r =
            spec(serde_json::json!({ "client": { "keepaliveTimeout": "5s" }, "fastPath": false }))
                .resolve()
                .unwrap();
        assert_eq!(
            (r.client.keepalive_timeout, r.fast_path),
            (Duration::from_secs(5), false)
        );
        let errors = errors(serde_json::json!({ "client": { "sendTimeout": "soon" } }));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("spec.client.sendTimeout: "),
            "{errors:?}"
        );
    }

    #[test]
    fn client_addresses_come_from_the_socket_unless_set() {
        let r = spec(serde_json::json!({})).resolve().unwrap();
        assert!(!r.client.proxy_protocol);
        assert!(r.client.trusted_proxies.is_empty());
        assert_eq!(r.client.real_ip_header, RealIpHeader::XForwardedFor);
        assert!(r.client.address_flags().is_empty());

        let r = spec(serde_json::json!({ "client": {
            "proxyProtocol": true,
            "trustedProxies": ["10.0.0.0/8", " 2001:db8::/32", "192.0.2.7"],
            "realIpHeader": "forwarded",
        } }))
        .resolve()
        .unwrap();
        assert_eq!(
            r.client.address_flags(),
            [
                "--proxy-protocol",
                "--trusted-proxies",
                "10.0.0.0/8,2001:db8::/32,192.0.2.7",
                "--real-ip-header",
                "forwarded",
            ]
        );

        let errors = errors(serde_json::json!({ "client": {
            "trustedProxies": ["10.0.0.0/8", "10.0.0.0/33", "10.0.0.0/8,1.2.3.4", "", "proxy.example.com"],
        } }));
        assert_eq!(
            errors,
            [1, 2, 3, 4].map(|i| format!(
                "spec.client.trustedProxies[{i}]: each entry must be a CIDR such as 10.0.0.0/8 or an IP address"
            ))
        );
        let many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(
            super::tests::errors(serde_json::json!({ "client": { "trustedProxies": many } })),
            ["spec.client.trustedProxies: must hold at most 64 entries"]
        );
    }

    #[test]
    fn extra_args_are_flags_the_operator_does_not_set() {
        let r = spec(serde_json::json!({ "extraArgs": ["--threads=2", "--no-access-log-x"] }))
            .resolve()
            .unwrap();
        assert_eq!(r.extra_args, ["--threads=2", "--no-access-log-x"]);
        assert_eq!(
            errors(
                serde_json::json!({ "extraArgs": ["-v", "--Threads", "--read-timeout=5s", "--log-level=debug"] })
            ),
            [
                "spec.extraArgs[0]: \"-v\" is not --name or --name=value",
                "spec.extraArgs[1]: \"--Threads\" is not --name or --name=value",
                "spec.extraArgs[2]: --read-timeout is set by the operator; use the params field for it",
                "spec.extraArgs[3]: --log-level is set by the operator; use the params field for it",
            ]
        );
    }

    #[test]
    fn extra_mounts_name_extra_volumes_and_host_network_defaults_its_ports() {
        assert_eq!(
            errors(serde_json::json!({
                "extraVolumes": [{ "name": "default-certificate", "emptyDir": {} }],
                "extraVolumeMounts": [{ "name": "cache", "mountPath": "/cache" }],
            })),
            [
                "spec.extraVolumes[0]: the volume name default-certificate is the operator's",
                "spec.extraVolumeMounts[0]: names no volume of extraVolumes: cache",
            ]
        );
        let r = spec(serde_json::json!({ "hostNetwork": true, "hostPorts": { "https": 8443 } }))
            .resolve()
            .unwrap();
        assert!(r.host_network);
        assert_eq!(r.host_ports, (Some(80), Some(8443)));
        let r = spec(serde_json::json!({})).resolve().unwrap();
        assert_eq!((r.host_network, r.host_ports), (false, (None, None)));
    }

    #[test]
    fn digest_external_ips_and_extra_env() {
        let digest = format!("sha256:{}", "a1".repeat(32));
        let r = spec(serde_json::json!({
            "image": { "tag": "1.2.3", "digest": digest },
            "service": { "externalIPs": ["198.51.100.10"] },
            "extraEnv": [{ "name": "SSL_CERT_FILE", "value": "/etc/ssl/extra.pem" }],
        }))
        .resolve()
        .unwrap();
        assert_eq!(
            r.image.reference(),
            format!("ghcr.io/sluice-dev/sluice-proxy:1.2.3@{digest}")
        );
        assert_eq!(r.service.external_ips, ["198.51.100.10"]);
        assert_eq!(r.extra_env[0].name, "SSL_CERT_FILE");
        assert_eq!(
            errors(serde_json::json!({ "image": { "digest": "sha256:XYZ" } })),
            ["spec.image.digest: must be sha256: followed by 64 lowercase hex digits"]
        );
        assert_eq!(
            errors(serde_json::json!({ "service": { "externalIPs": ["node-1"] } })),
            ["spec.service.externalIPs[0]: each address must be an IP address"]
        );
        assert_eq!(
            errors(serde_json::json!({ "extraEnv": [{ "name": "POD_NAME", "value": "x" }] })),
            ["spec.extraEnv[0]: POD_NAME is set by the operator"]
        );
    }

    #[test]
    fn a_daemon_set_takes_no_replicas() {
        let r = spec(
            serde_json::json!({ "kind": "DaemonSet", "hostPorts": { "http": 80, "https": 443 } }),
        )
        .resolve()
        .unwrap();
        assert_eq!(r.kind, WorkloadKind::DaemonSet);
        assert_eq!(r.host_ports, (Some(80), Some(443)));
        assert_eq!(
            errors(serde_json::json!({ "kind": "DaemonSet", "replicas": 3 })),
            [
                "spec.kind: a DaemonSet runs one proxy pod per node: spec.replicas and spec.autoscaling do not apply"
            ]
        );
        assert_eq!(
            errors(serde_json::json!({ "hostPorts": { "http": 8080, "https": 8080 } })),
            ["spec.hostPorts.https: http and https must differ"]
        );
        assert_eq!(
            spec(serde_json::json!({})).resolve().unwrap().kind,
            WorkloadKind::Deployment
        );
    }

    #[test]
    fn pod_and_load_balancer_settings() {
        let r = spec(serde_json::json!({
            "podLabels": { "team": "edge" },
            "priorityClassName": "ingress-critical",
            "topologySpreadConstraints": [{ "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway" }],
            "imagePullSecrets": [{ "name": "regcred" }],
            "podDisruptionBudget": { "minAvailable": "50%" },
            "service": { "type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24", "2001:db8::/32"], "loadBalancerClass": "example.com/lb", "loadBalancerIP": "198.51.100.7" },
        }))
        .resolve()
        .unwrap();
        assert_eq!(r.pod_labels["team"], "edge");
        assert_eq!(r.priority_class_name.as_deref(), Some("ingress-critical"));
        assert_eq!(r.topology_spread_constraints.len(), 1);
        assert_eq!(r.image_pull_secrets, ["regcred"]);
        assert_eq!(
            r.disruption_budget,
            DisruptionBudget::MinAvailable(IntOrString::String("50%".into()))
        );
        assert_eq!(
            (r.service.http_node_port, r.service.https_node_port),
            (None, None)
        );
        assert_eq!(r.service.load_balancer_source_ranges.len(), 2);
        assert_eq!(
            r.service.load_balancer_class.as_deref(),
            Some("example.com/lb")
        );
        assert_eq!(
            r.service.load_balancer_ip,
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            errors(
                serde_json::json!({ "service": { "type": "NodePort", "loadBalancerIP": "198.51.100.7" } })
            ),
            [
                "spec.service: loadBalancerSourceRanges, loadBalancerClass and loadBalancerIP can only be set when type is LoadBalancer"
            ]
        );
        assert_eq!(
            spec(serde_json::json!({}))
                .resolve()
                .unwrap()
                .disruption_budget,
            DisruptionBudget::MaxUnavailable(IntOrString::Int(1))
        );

        assert_eq!(
            errors(serde_json::json!({ "podLabels": { "app.kubernetes.io/instance": "x" } })),
            [
                "spec.podLabels: app.kubernetes.io/instance selects the fleet's pods and cannot be set"
            ]
        );
        assert_eq!(
            errors(
                serde_json::json!({ "podDisruptionBudget": { "minAvailable": 1, "maxUnavailable": 1 } })
            ),
            ["spec.podDisruptionBudget: set maxUnavailable or minAvailable, not both"]
        );
        assert_eq!(
            errors(serde_json::json!({ "service": { "loadBalancerClass": "example.com/lb" } })),
            [
                "spec.service: loadBalancerSourceRanges, loadBalancerClass and loadBalancerIP can only be set when type is LoadBalancer"
            ]
        );
        assert_eq!(
            errors(
                serde_json::json!({ "service": { "type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0"] } })
            ),
            [
                "spec.service.loadBalancerSourceRanges[0]: each range must be a CIDR such as 203.0.113.0/24"
            ]
        );
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
        // A load balancer's node ports are fixed only where set; the API server picks the rest.
        assert_eq!(
            (r.service.http_node_port, r.service.https_node_port),
            (Some(31000), None)
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
}
