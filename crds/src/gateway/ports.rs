//! How a Gateway's listener ports become a proxy fleet's ports: the operator builds the
//! fleet's Service and the proxy's `--gateway-port` flags from [`fleet_ports`], and the proxy
//! parses them with [`GatewayPort`]'s `FromStr`, so both read one rule.
//!
//! Each distinct listener port is one Service port (`port`) in front of the same port in
//! the proxy's pod ([`container_port`]): moving ports (80 → 8080, say) would collide with
//! listeners that use the moved-to port, which Gateways commonly do. The proxy still runs
//! without privileges: its pod lets an unprivileged user bind ports under 1024 in its own
//! network namespace (the `net.ipv4.ip_unprivileged_port_start` sysctl, which Kubernetes
//! allows every pod). Only the proxy's own admin port is not a listener port.

use std::fmt;
use std::str::FromStr;

/// Container ports the proxy keeps for itself (its admin port).
pub const RESERVED: &[u16] = &[9090];

/// How a port is spoken: plain HTTP, or TLS terminated by the proxy (HTTPS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortProtocol {
    Http,
    Https,
}

/// One listener port of a Gateway and where the proxy serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayPort {
    /// The listeners' port: the Service's port, what clients use.
    pub port: u16,
    /// The port the proxy binds in its pod.
    pub container_port: u16,
    pub protocol: PortProtocol,
}

/// Why listener ports cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{0:?} is not PORT=CONTAINER_PORT/http or PORT=CONTAINER_PORT/https")]
    Syntax(String),
    #[error("port {0} is not a port (1-65535)")]
    Range(u32),
    #[error(
        "listener port {port} would be served on container port {container_port}, which {other}"
    )]
    Collision {
        port: u16,
        container_port: u16,
        other: String,
    },
}

/// The container port for a listener port: the same port.
pub fn container_port(port: u16) -> u16 {
    port
}

/// The fleet's ports for the served listeners' `(port, protocol)`, one per distinct port,
/// sorted. A port whose container port is reserved or is another port's is an error for
/// that port (its listeners cannot be served); the others are still returned.
pub fn fleet_ports(
    listeners: impl IntoIterator<Item = (u16, PortProtocol)>,
) -> (Vec<GatewayPort>, Vec<PortError>) {
    let mut wanted: Vec<(u16, PortProtocol)> = listeners.into_iter().collect();
    wanted.sort_unstable();
    wanted.dedup_by_key(|(port, _)| *port);
    let mut ports: Vec<GatewayPort> = Vec::with_capacity(wanted.len());
    let mut errors = Vec::new();
    for (port, protocol) in wanted {
        let container_port = container_port(port);
        let other = if RESERVED.contains(&container_port) {
            Some("the proxy's admin port uses".to_string())
        } else {
            ports
                .iter()
                .find(|p| p.container_port == container_port)
                .map(|p| format!("listener port {} is already served on", p.port))
        };
        match other {
            Some(other) => errors.push(PortError::Collision {
                port,
                container_port,
                other,
            }),
            None => ports.push(GatewayPort {
                port,
                container_port,
                protocol,
            }),
        }
    }
    (ports, errors)
}

impl fmt::Display for GatewayPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            PortProtocol::Http => "http",
            PortProtocol::Https => "https",
        };
        write!(f, "{}={}/{protocol}", self.port, self.container_port)
    }
}

impl FromStr for GatewayPort {
    type Err = PortError;

    /// `PORT=CONTAINER_PORT/http` or `.../https`, as [`fmt::Display`] writes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PortError::Syntax(s.to_string());
        let (port, rest) = s.split_once('=').ok_or_else(syntax)?;
        let (container_port, protocol) = rest.split_once('/').ok_or_else(syntax)?;
        let number = |text: &str| -> Result<u16, PortError> {
            let n: u32 = text.parse().map_err(|_| syntax())?;
            u16::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or(PortError::Range(n))
        };
        let protocol = match protocol {
            "http" => PortProtocol::Http,
            "https" => PortProtocol::Https,
            _ => return Err(syntax()),
        };
        Ok(Self {
            port: number(port)?,
            container_port: number(container_port)?,
            protocol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_listener_port_is_served_on_the_same_port_once() {
        let (ports, errors) = fleet_ports([
            (443, PortProtocol::Https),
            (80, PortProtocol::Http),
            (8080, PortProtocol::Http),
            (80, PortProtocol::Http),
            (8443, PortProtocol::Https),
        ]);
        let shown: Vec<String> = ports.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "80=80/http",
                "443=443/https",
                "8080=8080/http",
                "8443=8443/https"
            ]
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn the_admin_port_is_never_a_listener_port() {
        let (ports, errors) = fleet_ports([(9090, PortProtocol::Http)]);
        assert!(ports.is_empty());
        assert!(errors[0].to_string().contains("admin port"), "{errors:?}");
    }

    #[test]
    fn flags_read_back_what_was_written() {
        for port in [
            GatewayPort {
                port: 80,
                container_port: 8080,
                protocol: PortProtocol::Http,
            },
            GatewayPort {
                port: 65535,
                container_port: 65535,
                protocol: PortProtocol::Https,
            },
        ] {
            assert_eq!(port.to_string().parse::<GatewayPort>(), Ok(port));
        }
        for bad in [
            "80",
            "80=8080",
            "80=8080/tcp",
            "0=8080/http",
            "80=70000/http",
            "a=1/http",
            "",
        ] {
            assert!(bad.parse::<GatewayPort>().is_err(), "{bad}");
        }
    }
}
