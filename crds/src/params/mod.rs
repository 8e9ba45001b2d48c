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

// The parts, by concern:
// - `types`: the spec and status as users write them (the CRD's schema and descriptions);
// - `schema`: the patterns, CEL rules and transforms the schema needs, and their Rust twins;
// - `resolved`: the resolved view the operator builds from, and the errors of resolving;
// - `resolve`: `resolve()`, spec to resolved view, field by field.
// What the resource is called, its defaults and limits, its CRD and how an IngressClass
// names it stay here.

mod resolve;
mod resolved;
mod schema;
mod types;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassParametersReference};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResourceExt;

use crate::names::GROUP;

pub use resolved::{
    DisruptionBudget, FieldError, InvalidParams, PublishedAddress, ResolvedAccessLog,
    ResolvedAutoscaling, ResolvedClient, ResolvedImage, ResolvedLogging, ResolvedMetrics,
    ResolvedParams, ResolvedService, ResolvedTls, ResolvedTracing, ResolvedUpstream,
};
pub use types::{
    AccessLogParams, AutoscalingParams, ClientParams, DisruptionBudgetParams,
    ExternalTrafficPolicy, HostPortsParams, ImageParams, ImagePullSecret, IngressClassParams,
    IngressClassParamsSpec, IngressClassParamsStatus, LogFormat, LogLevel, LoggingParams,
    MetricsParams, OtlpProtocol, PullPolicy, RealIpHeader, ServiceParams, ServiceType, TlsParams,
    TlsVersion, TracingParams, UpstreamParams, WorkloadKind,
};

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
/// The proxy flags the operator sets from params fields (or always), which `extraArgs` may
/// not repeat: the proxy refuses a flag given twice. The operator's tests check that every
/// flag it renders is listed.
pub const OPERATOR_FLAGS: &[&str] = &[
    "--ingress-class",
    // A Gateway's fleet: the Gateway served, and each of its ports.
    "--gateway",
    "--gateway-port",
    "--controller-name",
    "--http-addr",
    "--https-addr",
    "--admin-addr",
    "--connect-timeout",
    "--read-timeout",
    "--max-attempts",
    "--tls-min-version",
    "--log-format",
    "--shutdown-delay",
    "--grace-period",
    "--https-redirect-port",
    "--no-ssl-redirect",
    "--otlp-endpoint",
    "--otlp-protocol",
    "--trace-sampling-ratio",
    "--metrics-detailed-labels",
    "--client-header-timeout",
    "--client-body-timeout",
    "--keepalive-timeout",
    "--send-timeout",
    "--no-fast-path",
    "--allowed-response-headers",
    "--max-connections",
    "--max-connections-per-address",
    "--max-body-size",
    "--proxy-protocol",
    "--trusted-proxies",
    "--real-ip-header",
    "--default-cert",
    "--default-key",
    // Set live from spec.logging instead.
    "--log-level",
    "--no-access-log",
    "--access-log-sampling-ratio",
];

/// The name of the operator's own volume in the proxy pods (the default certificate).
pub const OPERATOR_VOLUME: &str = "default-certificate";

pub mod defaults {
    /// The node's port of plain HTTP for pods on the host network.
    pub const HOST_NETWORK_HTTP_PORT: i32 = 80;
    /// The node's port of HTTPS for pods on the host network.
    pub const HOST_NETWORK_HTTPS_PORT: i32 = 443;
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
    /// How long a client may take to send a request head (nginx's client_header_timeout).
    pub const CLIENT_HEADER_TIMEOUT: &str = "60s";
    /// How long a client may pause within a request body (client_body_timeout).
    pub const CLIENT_BODY_TIMEOUT: &str = "60s";
    /// How long a kept-alive connection may wait for its next request (keepalive_timeout).
    pub const KEEPALIVE_TIMEOUT: &str = "75s";
    /// How long a write to a client may wait for it to read (send_timeout).
    pub const SEND_TIMEOUT: &str = "60s";
    /// The most client connections a proxy holds (ingress-nginx's worker connections).
    pub const MAX_CONNECTIONS: usize = 16_384;
    /// The most client connections a proxy holds from one address: far more than any
    /// browser opens, few enough that one address cannot take them all.
    pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 1_024;
    /// The largest request body (ingress-nginx's proxy-body-size, nginx's
    /// client_max_body_size).
    pub const MAX_BODY_SIZE: &str = "1m";
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
    /// The most trusted proxy ranges.
    pub const MAX_TRUSTED_PROXIES: usize = 64;
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
// The generated CRD.

/// The CustomResourceDefinition of IngressClassParams.
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let crd = IngressClassParams::crd();
    let Ok(mut json) = serde_json::to_value(&crd) else {
        return crd;
    };
    schema::int_or_string_not_nullable(&mut json);
    schema::embedded_metadata_free_form(&mut json);
    serde_json::from_value(json).unwrap_or(crd)
}

/// The CRD as committed to the chart: a header that says how it was made, then the YAML.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let yaml = serde_yaml_ng::to_string(&crd())?;
    Ok(format!(
        "# Generated from crds/src/params/; do not edit. Regenerate with:\n\
         #   {CRDGEN_COMMAND}\n\
         {yaml}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
