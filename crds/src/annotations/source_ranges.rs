//! Client address ranges of the allowlist and denylist annotations
//! (`nginx.ingress.kubernetes.io/whitelist-source-range` and its kin): comma-separated
//! CIDRs or single addresses, IPv4 or IPv6.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

/// A parsed list of ranges. Never empty: an empty value is an error, not "nobody".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceRanges(Vec<IpNet>);

impl SourceRanges {
    /// `10.0.0.0/8, 192.168.1.7, 2001:db8::/32`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("{item:?} is not an address or a CIDR range"))?,
            };
            nets.push(net.trunc());
        }
        if nets.is_empty() {
            return Err("lists no address range".into());
        }
        Ok(Self(nets))
    }

    /// Whether `client` lies in one of the ranges. An IPv4 client seen as IPv6
    /// (`::ffff:a.b.c.d`) is matched as IPv4.
    pub fn contains(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.0.iter().any(|net| net.contains(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_and_single_addresses_of_both_families() {
        let r = SourceRanges::parse(" 10.0.0.0/8,192.168.1.7 , 2001:db8::/32").unwrap();
        assert!(r.contains(ip("10.1.2.3")));
        assert!(r.contains(ip("192.168.1.7")));
        assert!(!r.contains(ip("192.168.1.8")));
        assert!(r.contains(ip("2001:db8::1")));
        assert!(!r.contains(ip("2001:db9::1")));
        assert!(r.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        assert!(!r.contains(ip("11.0.0.1")));
    }

    #[test]
    fn host_bits_are_ignored_as_nginx_does() {
        let r = SourceRanges::parse("10.1.2.3/16").unwrap();
        assert!(r.contains(ip("10.1.200.1")));
    }

    #[test]
    fn bad_lists_are_errors() {
        assert!(SourceRanges::parse("").is_err());
        assert!(SourceRanges::parse(" , ").is_err());
        assert!(SourceRanges::parse("10.0.0.0/33").is_err());
        assert!(SourceRanges::parse("10.0.0.0/8, example.com").is_err());
    }
}
