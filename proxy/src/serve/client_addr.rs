//! The client's address behind load balancers and CDNs that say it in a header
//! (`--trusted-proxies`, `--real-ip-header`): ingress-nginx's `use-forwarded-headers` with
//! `proxy-real-ip-cidr`, as nginx's `real_ip_recursive on` reads them.
//!
//! Only a peer in a trusted range is believed. Its header is read from the right (each proxy
//! appends the address it got the request from), trusted addresses are skipped, and the
//! first untrusted one is the client. When every address is trusted, the leftmost is. An
//! entry that is not an address stops the walk at the last trusted address read (or the
//! peer): whoever wrote it is not believed about anything further left.

use std::net::{IpAddr, SocketAddr};

use sluice_crds::annotations::SourceRanges;
pub use sluice_crds::params::RealIpHeader;

/// Whom the proxy believes about the client's address, and where they say it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// `None`: nobody (the socket's peer is the client).
    ranges: Option<SourceRanges>,
    header: RealIpHeader,
}

impl TrustedProxies {
    pub fn new(ranges: Option<SourceRanges>, header: RealIpHeader) -> Self {
        Self { ranges, header }
    }

    /// From `--trusted-proxies` (comma-separated CIDRs or addresses; empty: nobody).
    pub fn parse(list: &str, header: RealIpHeader) -> Result<Self, String> {
        let ranges = if list.trim().is_empty() {
            None
        } else {
            Some(SourceRanges::parse(list)?)
        };
        Ok(Self::new(ranges, header))
    }

    /// Nobody is trusted: callers need not look at any header.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_none()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.ranges.as_ref().is_some_and(|r| r.contains(ip))
    }

    pub fn header(&self) -> RealIpHeader {
        self.header
    }

    /// The request header to read, lowercase.
    pub fn header_name(&self) -> &'static str {
        self.header.as_str()
    }
}

/// The client's address: `peer` (the connection's, after the PROXY protocol if on) unless
/// it is trusted, else as its `header_values` say (every value of the header
/// [`TrustedProxies::header_name`], in the order received; a value that is not UTF-8 counts
/// as a bad entry, so pass it rather than skip it).
pub fn client_address<I>(peer: IpAddr, header_values: I, trusted: &TrustedProxies) -> IpAddr
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let peer = peer.to_canonical();
    if !trusted.trusts(peer) {
        return peer;
    }
    let mut hops: Vec<Option<IpAddr>> = Vec::new();
    for value in header_values {
        let Ok(value) = std::str::from_utf8(value.as_ref()) else {
            hops.push(None);
            continue;
        };
        match trusted.header {
            RealIpHeader::XForwardedFor => hops.extend(value.split(',').map(node)),
            RealIpHeader::Forwarded => {
                hops.extend(split_unquoted(value, b',').map(forwarded_for));
            }
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop else { break };
        client = ip;
        if !trusted.trusts(ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, and with a port
/// `192.0.2.1:80`, `[2001:db8::1]:80`, or bracketed `[2001:db8::1]`.
fn node(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The address in the `for` parameter of one RFC 7239 element
/// (`for=192.0.2.60;proto=http`, `for="[2001:db8::17]:4711"`). `None` for an element
/// without exactly one `for`, or whose `for` is no address (`unknown`, `_hidden`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(element, b';') {
        let (name, value) = pair.split_once('=')?;
        if !name.trim_matches([' ', '\t']).eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = value.trim_matches([' ', '\t']);
        let value = match value.strip_prefix('"') {
            // No address needs an escape: one means the value is something else.
            Some(quoted) => quoted.strip_suffix('"').filter(|v| !v.contains('\\'))?,
            None => value,
        };
        found = Some(node(value)?);
    }
    found
}

/// `value` split at each `separator` outside a quoted string.
fn split_unquoted(value: &str, separator: u8) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let (mut start, mut at, mut quoted, mut done) = (0, 0, false, false);
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while at < bytes.len() {
            let byte = bytes[at];
            at += 1;
            match byte {
                b'\\' if quoted => at += 1,
                b'"' => quoted = !quoted,
                b if b == separator && !quoted => {
                    let part = value.get(start..at - 1);
                    start = at;
                    return part;
                }
                _ => {}
            }
        }
        done = true;
        value.get(start.min(value.len())..)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &str, header: RealIpHeader) -> TrustedProxies {
        TrustedProxies::parse(list, header).unwrap()
    }

    fn xff(peer: &str, values: &[&str], list: &str) -> IpAddr {
        client_address(
            ip(peer),
            values,
            &trusted(list, RealIpHeader::XForwardedFor),
        )
    }

    fn fwd(peer: &str, values: &[&str], list: &str) -> IpAddr {
        client_address(ip(peer), values, &trusted(list, RealIpHeader::Forwarded))
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let none = TrustedProxies::default();
        assert!(none.is_empty());
        assert_eq!(none.header_name(), "x-forwarded-for");
        assert_eq!(
            client_address(ip("10.0.0.1"), ["203.0.113.9"], &none),
            ip("10.0.0.1")
        );
        assert!(trusted(" ", RealIpHeader::Forwarded).is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/8, nonsense", RealIpHeader::Forwarded).is_err());
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        assert_eq!(
            xff("198.51.100.4", &["203.0.113.9"], "10.0.0.0/8"),
            ip("198.51.100.4")
        );
        assert_eq!(
            fwd("198.51.100.4", &["for=203.0.113.9"], "10.0.0.0/8"),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn the_first_untrusted_address_from_the_right_is_the_client() {
        // The client forged the first entry; the CDN edge appended the real one; the load
        // balancer (10.0.0.5) appended the edge's.
        let values = ["1.1.1.1, 203.0.113.9, 10.0.0.5"];
        assert_eq!(xff("10.0.0.9", &values, "10.0.0.0/8"), ip("203.0.113.9"));
        // Several header lines are one list, in order.
        let lines = ["1.1.1.1", "203.0.113.9", "10.0.0.5"];
        assert_eq!(xff("10.0.0.9", &lines, "10.0.0.0/8"), ip("203.0.113.9"));
        // Trusting the edge too moves one further left.
        assert_eq!(
            xff("10.0.0.9", &values, "10.0.0.0/8, 203.0.113.0/24"),
            ip("1.1.1.1")
        );
    }

    #[test]
    fn all_trusted_gives_the_leftmost_and_none_gives_the_peer() {
        assert_eq!(
            xff("10.0.0.9", &["10.1.1.1, 10.0.0.5"], "10.0.0.0/8"),
            ip("10.1.1.1")
        );
        assert_eq!(xff("10.0.0.9", &[], "10.0.0.0/8"), ip("10.0.0.9"));
    }

    #[test]
    fn a_bad_entry_stops_at_the_last_good_address() {
        for value in [
            "203.0.113.9, garbage, 10.0.0.5",
            "203.0.113.9, , 10.0.0.5",
            "203.0.113.9, unknown, 10.0.0.5",
            "203.0.113.9, 300.1.1.1, 10.0.0.5",
        ] {
            assert_eq!(
                xff("10.0.0.9", &[value], "10.0.0.0/8"),
                ip("10.0.0.5"),
                "{value}"
            );
        }
        assert_eq!(xff("10.0.0.9", &["nonsense"], "10.0.0.0/8"), ip("10.0.0.9"));
        assert_eq!(xff("10.0.0.9", &[""], "10.0.0.0/8"), ip("10.0.0.9"));
        let not_utf8: [&[u8]; 2] = [b"203.0.113.9", b"\xff"];
        assert_eq!(
            client_address(
                ip("10.0.0.9"),
                not_utf8,
                &trusted("10.0.0.0/8", RealIpHeader::XForwardedFor)
            ),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        assert_eq!(
            xff("10.0.0.9", &["203.0.113.9:4711"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
        assert_eq!(
            xff("10.0.0.9", &["[2001:db8::17]:4711"], "10.0.0.0/8"),
            ip("2001:db8::17")
        );
        assert_eq!(
            xff("10.0.0.9", &["[2001:db8::17]"], "10.0.0.0/8"),
            ip("2001:db8::17")
        );
        // An IPv4 peer seen as IPv6 is trusted as IPv4, and answered as IPv4.
        assert_eq!(
            xff("::ffff:10.0.0.9", &["::ffff:203.0.113.9"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
        assert_eq!(
            xff("2001:db8:ffff::1", &["203.0.113.9"], "2001:db8:ffff::/48"),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_elements_are_read_by_their_for_parameter() {
        let list = "10.0.0.0/8";
        assert_eq!(
            fwd(
                "10.0.0.9",
                &[
                    "for=1.1.1.1, for=203.0.113.9;proto=https;by=10.0.0.5",
                    "For=10.0.0.5"
                ],
                list
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            fwd(
                "10.0.0.9",
                &[r#"for="[2001:db8::17]:4711";proto=http"#],
                list
            ),
            ip("2001:db8::17")
        );
        // Quoted strings may hold separators.
        assert_eq!(
            fwd(
                "10.0.0.9",
                &[r#"for=203.0.113.9;ext="a,b;c", for=10.0.0.5"#],
                list
            ),
            ip("203.0.113.9")
        );
        // No for, an obfuscated node, a doubled for, or an escape: a bad element.
        for value in [
            "for=203.0.113.9, proto=https, for=10.0.0.5",
            "for=203.0.113.9, for=_hidden, for=10.0.0.5",
            "for=203.0.113.9, for=unknown, for=10.0.0.5",
            "for=203.0.113.9, for=1.1.1.1;for=2.2.2.2, for=10.0.0.5",
            r#"for=203.0.113.9, for="1.1.1\.1", for=10.0.0.5"#,
            "for=203.0.113.9, for, for=10.0.0.5",
        ] {
            assert_eq!(fwd("10.0.0.9", &[value], list), ip("10.0.0.5"), "{value}");
        }
        // X-Forwarded-For is not read when Forwarded is the header, and the other way.
        assert_eq!(fwd("10.0.0.9", &["203.0.113.9"], list), ip("10.0.0.9"));
        assert_eq!(xff("10.0.0.9", &["for=203.0.113.9"], list), ip("10.0.0.9"));
    }

    #[test]
    fn splitting_respects_quotes() {
        let parts: Vec<_> = split_unquoted(r#"a="x,y",b,"c\",d",e"#, b',').collect();
        assert_eq!(parts, [r#"a="x,y""#, "b", r#""c\",d""#, "e"]);
        let parts: Vec<_> = split_unquoted("", b',').collect();
        assert_eq!(parts, [""]);
        let parts: Vec<_> = split_unquoted("a,", b',').collect();
        assert_eq!(parts, ["a", ""]);
    }
}
