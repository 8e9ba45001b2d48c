//! What a Gateway's proxy fleet should look like: a pure function of the Gateway, its
//! GatewayClass, the params the class names and the ports of its served listeners.
//!
//! It is an IngressClass fleet ([`super::assemble`]) with another identity and other
//! ports: its objects live in the operator's namespace, named after the Gateway and
//! labelled with it ([`labels::GATEWAY`]), owned by the GatewayClass (deleting the class
//! collects every fleet of it; the Gateway is in another namespace, so it cannot own
//! them: its finalizer deletes them instead). The proxy is told which Gateway it serves
//! and each port (`--gateway`, `--gateway-port`), not an IngressClass.
//!
//! Always a Deployment off the host network: host ports and DaemonSets are an
//! IngressClass fleet's way to own a node's 80 and 443, which a Gateway's ports,
//! chosen per Gateway, cannot share. Node ports are left to Kubernetes (an IngressClass
//! fleet's fixed 30080 and 30443 would collide between Gateways).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServicePort;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use sluice_crds::gateway::attach::GatewayKey;
use sluice_crds::gateway::ports::GatewayPort;
use sluice_crds::gateway_api::gatewayclasses::GatewayClass;
use sluice_crds::gateway_api::gateways::Gateway;
use sluice_crds::names::labels;
use sluice_crds::params::{ResolvedParams, WorkloadKind};

use super::{
    ADMIN_PORT, Fleet, FleetSettings, Identity, Listening, Workload, assemble, container_port,
    fnv1a, observability_flags, trailing_flags, tuning_flags,
};

/// The longest name of a Service (a DNS label) and the longest label value.
const MAX_NAME: usize = 63;

/// `PREFIX-NAMESPACE-NAME-HASH`: readable, a valid Service name, and unique per Gateway
/// even where dashes make two namespace/name pairs read alike (`a-b`/`c`, `a`/`b-c`):
/// the hash is of `NAMESPACE/NAME`.
fn gateway_name(prefix: &str, gateway: &GatewayKey) -> String {
    let hash = fnv1a(&format!("{}/{}", gateway.namespace, gateway.name)) as u32;
    // A Gateway's name may hold dots, which a Service name may not.
    let mut base = format!("{prefix}-{}-{}", gateway.namespace, gateway.name).replace('.', "-");
    base.truncate(MAX_NAME - 9);
    let base = base.trim_end_matches('-');
    format!("{base}-{hash:08x}")
}

/// The name of a Gateway's fleet objects.
pub fn gateway_fleet_name(gateway: &GatewayKey) -> String {
    gateway_name("sluice-gw", gateway)
}

/// The name of a Gateway fleet's metrics Service.
pub fn gateway_metrics_service_name(gateway: &GatewayKey) -> String {
    gateway_name("sluice-gw-metrics", gateway)
}

/// The value of [`labels::GATEWAY`]: `NAMESPACE.NAME` (a namespace holds no dot, so it
/// reads back), shortened with a hash when longer than a label value may be.
pub fn gateway_label(gateway: &GatewayKey) -> String {
    let value = format!("{}.{}", gateway.namespace, gateway.name);
    if value.len() <= MAX_NAME {
        return value;
    }
    let hash = fnv1a(&value) as u32;
    let mut short = value;
    short.truncate(MAX_NAME - 9);
    let short = short.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{short}-{hash:08x}")
}

/// The label selector (`key=value`) of every object of a Gateway's fleet.
pub fn gateway_selector(gateway: &GatewayKey) -> String {
    format!("{}={}", labels::GATEWAY, gateway_label(gateway))
}

/// The labels of a Gateway fleet's objects.
fn gateway_labels(gateway: &GatewayKey, instance: &str) -> BTreeMap<String, String> {
    let mut out = selector(gateway, instance);
    out.insert(
        labels::MANAGED_BY.to_string(),
        "sluice-operator".to_string(),
    );
    out
}

/// The labels that select its pods: an IngressClass fleet's keys, and the Gateway's.
fn selector(gateway: &GatewayKey, instance: &str) -> BTreeMap<String, String> {
    let mut out = super::selector_labels(instance);
    out.insert(labels::GATEWAY.to_string(), gateway_label(gateway));
    out
}

/// The GatewayClass owns the fleet (cluster-scoped, so it may own objects in any
/// namespace).
fn owner(class: &GatewayClass) -> OwnerReference {
    OwnerReference {
        api_version: GatewayClass::api_version(&()).into_owned(),
        kind: GatewayClass::kind(&()).into_owned(),
        name: class.metadata.name.clone().unwrap_or_default(),
        uid: class.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        // As for an IngressClass fleet: no extra permission on the owner, and deleting a
        // class need not wait for its fleets.
        block_owner_deletion: None,
    }
}

/// The name of a port, in the Service and the container: `p` and the listener port
/// (at most `p65535`, within the 15 characters a port name may have).
pub fn port_name(port: &GatewayPort) -> String {
    format!("p{}", port.port)
}

/// The proxy's command line for a Gateway's fleet.
pub fn gateway_args(
    gateway: &GatewayKey,
    ports: &[GatewayPort],
    params: &ResolvedParams,
) -> Vec<String> {
    let mut args = vec![
        "--gateway".to_string(),
        format!("{}/{}", gateway.namespace, gateway.name),
    ];
    for port in ports {
        args.extend(["--gateway-port".to_string(), port.to_string()]);
    }
    args.extend(tuning_flags(ADMIN_PORT, params));
    args.extend(observability_flags(params));
    args.extend(trailing_flags(params));
    args
}

/// Builds the fleet of `gateway` (of `class`), serving `ports`.
pub fn desired_gateway(
    gateway: &GatewayKey,
    class: &GatewayClass,
    ports: &[GatewayPort],
    params: &ResolvedParams,
    settings: &FleetSettings,
) -> Fleet {
    let name = gateway_fleet_name(gateway);
    let id = Identity {
        metrics_name: gateway_metrics_service_name(gateway),
        labels: gateway_labels(gateway, &name),
        selector: selector(gateway, &name),
        owner: owner(class),
        name,
    };
    let mut params = params.clone();
    params.kind = WorkloadKind::Deployment;
    params.host_network = false;
    params.host_ports = (None, None);
    let mut container_ports: Vec<_> = ports
        .iter()
        .map(|p| container_port(&port_name(p), i32::from(p.container_port), None))
        .collect();
    container_ports.push(container_port("admin", ADMIN_PORT, None));
    let service_ports = ports
        .iter()
        .map(|p| ServicePort {
            name: Some(port_name(p)),
            port: i32::from(p.port),
            target_port: Some(IntOrString::Int(i32::from(p.container_port))),
            protocol: Some("TCP".into()),
            // No node port: Kubernetes picks a free one for each.
            ..Default::default()
        })
        .collect();
    let listening = Listening {
        args: gateway_args(gateway, ports, &params),
        container_ports,
        service_ports,
        privileged_port: false,
        low_ports_in_pod: ports.iter().any(|p| p.container_port < 1024),
    };
    assemble(&id, &params, settings, listening)
}

/// What a Gateway's `spec.infrastructure` asks to be put on every object generated for
/// it: its fleet's objects and the fleet's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Infrastructure {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Infrastructure {
    pub fn of(gateway: &Gateway) -> Self {
        let infra = gateway.spec.infrastructure.as_ref();
        Self {
            labels: infra.and_then(|i| i.labels.clone()).unwrap_or_default(),
            annotations: infra
                .and_then(|i| i.annotations.clone())
                .unwrap_or_default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }

    /// Puts the labels and annotations on `meta`, under those already there.
    fn put_on(&self, meta: &mut ObjectMeta) {
        // Sluice's own win over the user's where a key is both: a user's value for a
        // selector label would lose the fleet its pods, one for the managed-by or
        // Gateway label the operator its objects (and the applied fingerprint, added
        // at apply, is Sluice's too).
        let under = |mine: &mut Option<BTreeMap<String, String>>, theirs: &BTreeMap<_, _>| {
            if theirs.is_empty() {
                return;
            }
            let mut merged = theirs.clone();
            merged.extend(mine.take().unwrap_or_default());
            *mine = Some(merged);
        };
        under(&mut meta.labels, &self.labels);
        under(&mut meta.annotations, &self.annotations);
    }
}

/// `fleet` with the Gateway's infrastructure labels and annotations on every object, and
/// on the pods (changing them there rolls the pods, as any pod template change does).
pub fn with_infrastructure(mut fleet: Fleet, infra: &Infrastructure) -> Fleet {
    if infra.is_empty() {
        return fleet;
    }
    infra.put_on(&mut fleet.service_account.metadata);
    infra.put_on(&mut fleet.cluster_role_binding.metadata);
    infra.put_on(&mut fleet.service.metadata);
    infra.put_on(&mut fleet.metrics_service.metadata);
    infra.put_on(&mut fleet.pod_disruption_budget.metadata);
    if let Some(autoscaler) = fleet.autoscaler.as_mut() {
        infra.put_on(&mut autoscaler.metadata);
    }
    let (meta, template) = match &mut fleet.workload {
        Workload::Deployment(d) => (&mut d.metadata, d.spec.as_mut().map(|s| &mut s.template)),
        Workload::DaemonSet(d) => (&mut d.metadata, d.spec.as_mut().map(|s| &mut s.template)),
    };
    infra.put_on(meta);
    if let Some(template) = template {
        infra.put_on(template.metadata.get_or_insert_with(Default::default));
    }
    fleet
}

#[cfg(test)]
mod tests;
