//! A Gateway's `spec.addresses`: what it asks for, and whether what it got is that. Pure.
//!
//! Sluice assigns `IPAddress` addresses: the fleet Service's cluster IP, or its load
//! balancer's addresses. So:
//! - an entry without a value asks for an address to be assigned, which every Gateway
//!   gets anyway: it asks for nothing more (the GatewayAddressEmpty feature);
//! - an entry of another type (`Hostname`, `NamedAddress`, a domain-prefixed one) is a type
//!   Sluice cannot assign: `Accepted: False, UnsupportedAddress`;
//! - an IP address is asked of a LoadBalancer Service's load balancer (its
//!   `loadBalancerIP`, for the first one); until the Gateway has every address it asked
//!   for, `Programmed: False`, `AddressNotAssigned` while it has none, `AddressNotUsable`
//!   once it has others. A ClusterIP or NodePort fleet cannot be given an address: its
//!   cluster IP is the API server's pick.

use std::net::IpAddr;

use sluice_crds::gateway::attach::Outcome;
use sluice_crds::gateway::attach::reasons::gateway;
use sluice_crds::gateway_api::gateways::{Gateway, GatewayStatusAddresses};

/// The type of an address given as an IP (the spec's default type).
pub const IP_ADDRESS: &str = "IPAddress";

/// The values of the `IPAddress` entries of `spec.addresses` that have one, or why the
/// Gateway cannot be accepted (`UnsupportedAddress`).
pub fn requested(gateway: &Gateway) -> Result<Vec<String>, Outcome> {
    let mut out = Vec::new();
    let mut unsupported = Vec::new();
    for address in gateway.spec.addresses.iter().flatten() {
        let type_ = address.r#type.as_deref().unwrap_or(IP_ADDRESS);
        let value = address.value.as_deref().unwrap_or_default();
        if type_ != IP_ADDRESS {
            unsupported.push(format!("{type_} {value:?}"));
        } else if !value.is_empty() {
            out.push(value.to_string());
        }
    }
    if !unsupported.is_empty() {
        return Err(Outcome::no(
            gateway::UNSUPPORTED_ADDRESS,
            format!(
                "Sluice assigns IPAddress addresses only; unsupported: {}",
                unsupported.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// The address to ask a load balancer for: the first requested one.
pub fn load_balancer_ip(requested: &[String]) -> Option<IpAddr> {
    requested.iter().find_map(|v| v.parse().ok())
}

/// `Programmed: False` when the Gateway did not get every address it asked for.
pub fn check(requested: &[String], assigned: &[GatewayStatusAddresses]) -> Option<Outcome> {
    // Compared as IPs where both parse: `2001:db8::1` is `2001:db8:0::1`.
    let same = |a: &str, b: &str| match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let missing: Vec<&str> = requested
        .iter()
        .filter(|r| !assigned.iter().any(|a| same(r, &a.value)))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return None;
    }
    if assigned.is_empty() {
        return Some(Outcome::no(
            gateway::ADDRESS_NOT_ASSIGNED,
            format!(
                "Requested address(es) {} are not assigned yet",
                missing.join(", ")
            ),
        ));
    }
    let got: Vec<&str> = assigned.iter().map(|a| a.value.as_str()).collect();
    Some(Outcome::no(
        gateway::ADDRESS_NOT_USABLE,
        format!(
            "Requested address(es) {} cannot be used: the Gateway's Service has {}. Sluice can \
             ask for one address, of a LoadBalancer Service (type in the IngressClassParams); \
             remove the others, or the address, from spec.addresses",
            missing.join(", "),
            got.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway(addresses: serde_json::Value) -> Gateway {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "namespace": "web", "name": "edge" },
            "spec": {
                "gatewayClassName": "sluice",
                "addresses": addresses,
                "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }]
            }
        }))
        .unwrap()
    }

    fn ip(value: &str) -> GatewayStatusAddresses {
        GatewayStatusAddresses {
            r#type: Some(IP_ADDRESS.into()),
            value: value.into(),
        }
    }

    #[test]
    fn an_address_without_a_value_asks_for_nothing_more() {
        // The conformance suite's GatewayOptionalAddressValue.
        let g = gateway(json!([{ "type": "IPAddress" }]));
        assert_eq!(requested(&g), Ok(vec![]));
        assert_eq!(requested(&gateway(json!([{}]))), Ok(vec![]));
        assert_eq!(check(&[], &[]), None);
    }

    #[test]
    fn an_ip_address_is_requested_and_the_type_defaults_to_ip() {
        let g = gateway(json!([
            { "type": "IPAddress", "value": "203.0.113.7" },
            { "value": "2001:db8::1" }
        ]));
        let wanted = requested(&g).unwrap();
        assert_eq!(wanted, ["203.0.113.7", "2001:db8::1"]);
        assert_eq!(load_balancer_ip(&wanted), "203.0.113.7".parse().ok());
    }

    #[test]
    fn another_type_is_unsupported() {
        let g = gateway(json!([
            { "type": "test/fake-invalid-type", "value": "fake address teehee!" },
            { "type": "IPAddress", "value": "203.0.113.7" },
            { "type": "Hostname", "value": "lb.example.com" }
        ]));
        let refused = requested(&g).unwrap_err();
        assert_eq!(refused.reason, gateway::UNSUPPORTED_ADDRESS);
        assert!(!refused.is_true());
        assert!(refused.message.contains("test/fake-invalid-type"));
        assert!(refused.message.contains("lb.example.com"));
    }

    #[test]
    fn an_address_got_is_programmed() {
        let wanted = vec!["2001:db8::1".to_string()];
        assert_eq!(check(&wanted, &[ip("2001:db8:0::1")]), None);
    }

    #[test]
    fn no_address_yet_is_not_assigned() {
        let wanted = vec!["203.0.113.7".to_string()];
        let why = check(&wanted, &[]).unwrap();
        assert_eq!(why.reason, gateway::ADDRESS_NOT_ASSIGNED);
    }

    #[test]
    fn another_address_is_not_usable() {
        let wanted = vec!["203.0.113.7".to_string(), "10.96.0.20".to_string()];
        let why = check(&wanted, &[ip("10.96.0.20")]).unwrap();
        assert_eq!(why.reason, gateway::ADDRESS_NOT_USABLE);
        assert!(why.message.contains("203.0.113.7"), "{}", why.message);
        assert!(!why.message.contains("10.96.0.20,"), "{}", why.message);
    }
}
