//! Listeners of one Gateway that share a port: which are conflicted, and which TLS
//! hostnames overlap.
//!
//! The spec requires the listeners of a Gateway to be distinct, so that each connection or
//! request belongs to exactly one. Sluice's rules, for the listeners it would serve (those of
//! an unsupported protocol or with an unusable value are not served, so they conflict with
//! nothing, as the spec says of TCP listeners on an implementation without TCP):
//! - every listener on a port must speak the same way: one protocol, and for `TLS` one
//!   mode. Plain HTTP cannot be told from TLS on one port, and Sluice does not mix
//!   terminated and passed-through TLS on one port (the spec lets an implementation refuse
//!   that). Otherwise all the listeners of the port are `ProtocolConflict`;
//! - listeners of one protocol on one port must have different hostnames (no hostname
//!   counts as one value). Those that share one are all `HostnameConflict`: the spec forbids
//!   picking a winner;
//! - listeners that terminate TLS on one port and whose hostnames overlap (`*.example.com`
//!   and `foo.example.com`; no hostname overlaps every one) get `OverlappingTLSConfig`, which
//!   the spec requires be detected (clients may reuse a connection across them).

use std::collections::BTreeMap;

use super::conditions::Outcome;
use super::hostnames::{describe, overlap};
use super::reasons::listener;
use crate::ingress::HostMatch;

/// What conflict detection reads of a listener Sluice would serve.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub name: &'a str,
    pub port: i32,
    pub protocol: &'a str,
    /// `TLS` passthrough rather than terminated.
    pub passthrough: bool,
    pub hostname: &'a HostMatch,
    /// Whether Sluice terminates TLS on it (`HTTPS`, `TLS` in `Terminate` mode).
    pub terminates_tls: bool,
}

/// What was found about one listener.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// `Conflicted: True` with its reason, when it is conflicted.
    pub conflict: Option<Outcome>,
    /// The names of the listeners whose TLS hostnames overlap this one's.
    pub overlapping: Vec<String>,
}

/// The findings for each of `slots` (`None`: a listener Sluice would not serve), in order.
pub fn find(slots: &[Option<Slot<'_>>]) -> Vec<Findings> {
    let mut findings = vec![Findings::default(); slots.len()];
    let mut by_port: BTreeMap<i32, Vec<(usize, Slot<'_>)>> = BTreeMap::new();
    for (i, slot) in slots.iter().enumerate() {
        if let Some(slot) = slot {
            by_port.entry(slot.port).or_default().push((i, *slot));
        }
    }
    for (port, group) in &by_port {
        let Some(&(_, first)) = group.first() else {
            continue;
        };
        let mixed = group
            .iter()
            .any(|(_, s)| (s.protocol, s.passthrough) != (first.protocol, first.passthrough));
        if mixed {
            let who = group
                .iter()
                .map(|(_, s)| format!("{} ({})", s.name, spoken(s)))
                .collect::<Vec<_>>()
                .join(", ");
            for (i, _) in group {
                findings[*i].conflict = Some(Outcome::yes(
                    listener::PROTOCOL_CONFLICT,
                    format!("port {port} is shared by listeners that speak differently: {who}"),
                ));
            }
            continue;
        }
        for (i, slot) in group {
            let same: Vec<&str> = group
                .iter()
                .filter(|(j, other)| j != i && other.hostname == slot.hostname)
                .map(|(_, other)| other.name)
                .collect();
            if !same.is_empty() {
                findings[*i].conflict = Some(Outcome::yes(
                    listener::HOSTNAME_CONFLICT,
                    format!(
                        "listener {} has the hostname {} on port {port}, as {} does",
                        slot.name,
                        describe(slot.hostname),
                        same.join(", ")
                    ),
                ));
            }
        }
        for (i, slot) in group {
            if findings[*i].conflict.is_some() || !slot.terminates_tls {
                continue;
            }
            findings[*i].overlapping = group
                .iter()
                .filter(|(j, other)| {
                    j != i
                        && other.terminates_tls
                        && findings[*j].conflict.is_none()
                        && overlap(slot.hostname, other.hostname)
                })
                .map(|(_, other)| other.name.to_string())
                .collect();
        }
    }
    findings
}

/// How a listener speaks, for messages.
fn spoken(slot: &Slot<'_>) -> String {
    if slot.protocol == super::reasons::protocol::TLS {
        let mode = if slot.passthrough {
            "Passthrough"
        } else {
            "Terminate"
        };
        return format!("{} {mode}", slot.protocol);
    }
    slot.protocol.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct L {
        name: &'static str,
        port: i32,
        protocol: &'static str,
        passthrough: bool,
        hostname: HostMatch,
    }

    fn l(name: &'static str, port: i32, protocol: &'static str, hostname: &str) -> L {
        L {
            name,
            port,
            protocol,
            passthrough: false,
            hostname: HostMatch::parse(Some(hostname)).unwrap(),
        }
    }

    fn run(listeners: &[L]) -> Vec<(Option<&'static str>, Vec<String>)> {
        let slots: Vec<_> = listeners
            .iter()
            .map(|l| {
                Some(Slot {
                    name: l.name,
                    port: l.port,
                    protocol: l.protocol,
                    passthrough: l.passthrough,
                    hostname: &l.hostname,
                    terminates_tls: l.protocol == "HTTPS"
                        || (l.protocol == "TLS" && !l.passthrough),
                })
            })
            .collect();
        find(&slots)
            .into_iter()
            .map(|f| (f.conflict.map(|c| c.reason), f.overlapping))
            .collect()
    }

    const HC: Option<&str> = Some("HostnameConflict");
    const PC: Option<&str> = Some("ProtocolConflict");

    #[test]
    fn distinct_listeners_do_not_conflict() {
        // The listeners of the conformance test HTTPRouteListenerPortMatching: the same
        // hostname on other ports, other hostnames on one port.
        let got = run(&[
            l("listener-1", 80, "HTTP", "foo.com"),
            l("listener-2", 8080, "HTTP", "foo.com"),
            l("listener-3", 8080, "HTTP", "bar.com"),
            l("listener-4", 8090, "HTTP", "foo.com"),
            l("listener-5", 8090, "HTTP", "bar.com"),
            l("https", 443, "HTTPS", "foo.com"),
        ]);
        assert!(
            got.iter().all(|(c, o)| c.is_none() && o.is_empty()),
            "{got:?}"
        );
    }

    #[test]
    fn the_same_hostname_on_one_port_conflicts_every_holder() {
        let got = run(&[
            l("a", 80, "HTTP", "foo.com"),
            l("b", 80, "HTTP", "foo.com"),
            l("c", 80, "HTTP", "bar.com"),
            l("d", 80, "HTTP", ""),
            l("e", 80, "HTTP", ""),
        ]);
        let reasons: Vec<_> = got.iter().map(|(c, _)| *c).collect();
        assert_eq!(reasons, [HC, HC, None, HC, HC]);
    }

    #[test]
    fn different_protocols_on_one_port_conflict_every_listener_of_the_port() {
        let got = run(&[
            l("http", 80, "HTTP", "foo.com"),
            l("https", 80, "HTTPS", "bar.com"),
            l("other", 81, "HTTP", "foo.com"),
        ]);
        let reasons: Vec<_> = got.iter().map(|(c, _)| *c).collect();
        assert_eq!(reasons, [PC, PC, None]);
    }

    #[test]
    fn terminated_and_passed_through_tls_do_not_share_a_port() {
        // As in the conformance test TLSRouteListenerMixedTerminationNotSupported.
        let mut passthrough = l("tls-passthrough", 8443, "TLS", "passthrough.example.com");
        passthrough.passthrough = true;
        let got = run(&[
            l("tls-terminate", 8443, "TLS", "terminate.example.com"),
            passthrough,
        ]);
        let reasons: Vec<_> = got.iter().map(|(c, _)| *c).collect();
        assert_eq!(reasons, [PC, PC]);
    }

    #[test]
    fn overlapping_tls_hostnames_are_found_on_one_port() {
        // The example of the spec: A and C overlap, B does not.
        let got = run(&[
            l("a", 443, "HTTPS", "foo.example.com"),
            l("b", 443, "HTTPS", "foo.example.org"),
            l("c", 443, "HTTPS", "*.example.com"),
            l("d", 8443, "HTTPS", "foo.example.com"),
            l("plain", 80, "HTTP", "*.example.com"),
            l("plain2", 80, "HTTP", "foo.example.com"),
        ]);
        let overlapping: Vec<_> = got.into_iter().map(|(_, o)| o).collect();
        let none: Vec<String> = Vec::new();
        assert_eq!(
            overlapping,
            [
                vec!["c".to_string()],
                none.clone(),
                vec!["a".to_string()],
                none.clone(),
                none.clone(),
                none
            ]
        );
    }

    #[test]
    fn listeners_not_served_conflict_with_nothing() {
        let slots = [
            Some(Slot {
                name: "http",
                port: 80,
                protocol: "HTTP",
                passthrough: false,
                hostname: &HostMatch::Any,
                terminates_tls: false,
            }),
            None,
        ];
        assert_eq!(find(&slots), vec![Findings::default(), Findings::default()]);
    }
}
