//! Where a class is reachable, and what an Ingress publishes in `status.loadBalancer`.
//! Pure: objects in, addresses out.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::json;
use sluice_crds::params::{IngressClassParams, PublishedAddress, referenced_params};

use crate::desired::fleet_name;

/// An address as it appears in `status.loadBalancer.ingress`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Address {
    Ip(String),
    Hostname(String),
}

impl Address {
    /// A load balancer entry (of a Service's or an Ingress's status): its IP, else its
    /// hostname.
    fn of_entry(ip: Option<&String>, hostname: Option<&String>) -> Option<Self> {
        match (ip, hostname) {
            (Some(ip), _) => Some(Self::Ip(ip.clone())),
            (None, Some(h)) => Some(Self::Hostname(h.clone())),
            _ => None,
        }
    }
}

/// The objects a class's addresses come from.
pub struct Sources<'a> {
    pub classes: &'a [Arc<IngressClass>],
    pub params: &'a [Arc<IngressClassParams>],
    /// The fleets' Services (in the operator's namespace).
    pub services: &'a [Arc<Service>],
    pub nodes: &'a [Arc<Node>],
}

/// Where `class` is reachable, sorted: the params' override, else what its fleet Service's
/// type makes reachable (see [`service_addresses`]); with host ports, the Nodes' own
/// addresses, where the pods take those ports.
pub fn class_addresses(sources: &Sources<'_>, class: &str) -> Vec<Address> {
    let params_name = sources
        .classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(class))
        .and_then(|c| referenced_params(c));
    let resolved = params_name
        .and_then(|name| {
            sources
                .params
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(name))
        })
        .and_then(|p| p.resolve().ok());
    let on_host_ports = resolved
        .as_ref()
        .is_some_and(|r| r.host_ports != (None, None));
    let mut list: Vec<Address> = match resolved.and_then(|r| r.addresses) {
        Some(list) => list
            .iter()
            .map(|a| match a {
                PublishedAddress::Ip(ip) => Address::Ip(ip.to_string()),
                PublishedAddress::Hostname(h) => Address::Hostname(h.clone()),
            })
            .collect(),
        None if on_host_ports => node_addresses(sources.nodes),
        None => {
            let service_name = fleet_name(class);
            match sources
                .services
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(service_name.as_str()))
                .map(|s| service_addresses(s))
            {
                Some(Reachable::Nodes) => node_addresses(sources.nodes),
                Some(Reachable::At(list)) => list,
                // No Service yet: nothing reaches the fleet.
                None => Vec::new(),
            }
        }
    };
    list.sort();
    list.dedup();
    list
}

/// Where a fleet Service is reachable, by its type, as ingress-nginx publishes it: a
/// LoadBalancer at its load balancer's addresses (none until it has them: the nodes' would
/// not serve), a ClusterIP at its cluster IP, a NodePort on every Node.
#[derive(Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Reachable {
    Nodes,
    At(Vec<Address>),
}

pub fn service_addresses(service: &Service) -> Reachable {
    let spec = service.spec.as_ref();
    match spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP") {
        "NodePort" => Reachable::Nodes,
        "LoadBalancer" => Reachable::At(load_balancer_addresses(service)),
        _ => Reachable::At(
            spec.and_then(|s| s.cluster_ip.clone())
                .filter(|ip| !ip.is_empty() && ip != "None")
                .map(Address::Ip)
                .into_iter()
                .collect(),
        ),
    }
}

/// What a Service's load balancer reports.
pub fn load_balancer_addresses(service: &Service) -> Vec<Address> {
    service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| Address::of_entry(i.ip.as_ref(), i.hostname.as_ref()))
        .collect()
}

/// Each Node's ExternalIPs, else its InternalIPs.
pub fn node_addresses(nodes: &[Arc<Node>]) -> Vec<Address> {
    let mut out = BTreeSet::new();
    for node in nodes {
        out.extend(addresses_of_node(node));
    }
    out.into_iter().collect()
}

/// The addresses one Node contributes (what a change to a Node must alter to matter).
pub fn addresses_of_node(node: &Node) -> Vec<Address> {
    let addresses = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_deref())
        .unwrap_or_default();
    let of = |kind: &str| -> Vec<Address> {
        addresses
            .iter()
            .filter(|a| a.type_ == kind)
            .map(|a| Address::Ip(a.address.clone()))
            .collect()
    };
    let external = of("ExternalIP");
    if external.is_empty() {
        of("InternalIP")
    } else {
        external
    }
}

/// What an Ingress currently publishes, sorted.
pub fn current_addresses(ingress: &Ingress) -> Vec<Address> {
    let mut list: Vec<Address> = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| Address::of_entry(i.ip.as_ref(), i.hostname.as_ref()))
        .collect();
    list.sort();
    list
}

/// Whether this installation's field manager (`manager`) owns part of the Ingress's status,
/// i.e. published on it. Read from `managedFields`, so it survives an operator restart.
pub fn published_by_us(ingress: &Ingress, manager: &str) -> bool {
    ingress
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|entry| is_our_status_entry(manager, entry))
}

/// The managedFields entry of this installation's status writes.
pub fn is_our_status_entry(
    manager: &str,
    entry: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry,
) -> bool {
    entry.manager.as_deref() == Some(manager) && entry.subresource.as_deref() == Some("status")
}

/// What to write to an Ingress's status, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// Publish these addresses (server-side apply of the whole list).
    Publish(Vec<Address>),
    /// The Ingress left Sluice's classes: give up every status field Sluice owns.
    Release,
}

/// Decides the status write for one Ingress: `desired` is `None` when the Ingress is not
/// Sluice's. Nothing to write when the live object already says it.
pub fn status_change(
    ingress: &Ingress,
    desired: Option<Vec<Address>>,
    manager: &str,
) -> Option<StatusChange> {
    match desired {
        Some(desired) => {
            (current_addresses(ingress) != desired).then_some(StatusChange::Publish(desired))
        }
        // Once nothing is published there is nothing to give back (the API server may keep an
        // empty entry of ours in managedFields).
        None => (published_by_us(ingress, manager) && !current_addresses(ingress).is_empty())
            .then_some(StatusChange::Release),
    }
}

/// The server-side apply body of a status change. Releasing applies no fields at all, so
/// the API server drops what Sluice owned (and Sluice's managedFields entry with it).
pub fn status_body(change: &StatusChange) -> serde_json::Value {
    let mut body = json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress" });
    if let StatusChange::Publish(addresses) = change {
        let entries: Vec<serde_json::Value> = addresses
            .iter()
            .map(|a| match a {
                Address::Ip(ip) => json!({ "ip": ip }),
                Address::Hostname(h) => json!({ "hostname": h }),
            })
            .collect();
        body["status"] = json!({ "loadBalancer": { "ingress": entries } });
    }
    body
}
