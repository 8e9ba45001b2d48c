//! The PROXY protocol (v1 text, v2 binary) on the client listeners (`--proxy-protocol`):
//! a load balancer in front of the proxy says, before anything else on the connection, whom
//! it accepted the connection from. That address becomes the connection's peer address in
//! its socket digest, so both request paths, the per-address connection cap, the allow and
//! deny lists, the headers sent upstream and the access log see the client, not the load
//! balancer.
//!
//! On the HTTPS listener the header comes before the TLS ClientHello, so it is read by
//! Pingora's pre-TLS hook ([`PreTlsProcess`]); on the plain listener, by the fast path
//! before it reads a request ([`ProxyProtocol::take_plain`]). Either way a connection
//! without a valid header within the client header timeout is closed.
//!
//! Parsing is `ppp`'s; this module only frames the header on the stream (it reads what is
//! there and puts back what follows the header) and decides what each header means.

use std::net::SocketAddr;
use std::os::unix::io::AsRawFd;
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest, Stream};
use ppp::PartialResult;
use ppp::{HeaderResult, v1, v2};
use prometheus_client::metrics::counter::Counter;
use tokio::io::AsyncReadExt;

/// The longest header read. A v1 header is at most 107 bytes; a v2 one is 16 bytes, the
/// addresses and TLVs. Load balancers send a few dozen bytes of TLVs; a header declaring
/// more than this is refused rather than buffered.
pub const MAX_HEADER: usize = 1024;

/// How a v1 header starts, and its longest line, CRLF included.
const V1_PREFIX: &[u8] = b"PROXY";
const V1_MAX: usize = 107;

/// What a valid header says about the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The client's address and port.
    Client(SocketAddr),
    /// No address (v2 `LOCAL`, a health check of the load balancer's own; v1 `UNKNOWN`;
    /// v2 `UNSPEC`): the connection's own peer stands.
    Socket,
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Closed without a byte: a TCP health check, not counted as a refusal.
    #[error("closed before sending anything")]
    Silent,
    #[error("closed in the middle of the PROXY header")]
    Truncated,
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    #[error("PROXY header too long")]
    TooLong,
    #[error("not a PROXY protocol v1 header: {0}")]
    V1(v1::BinaryParseError),
    #[error("not a PROXY protocol v2 header: {0}")]
    V2(v2::ParseError),
    /// A v2 header for UDP or a Unix socket: nothing a TCP listener can stand for.
    #[error("PROXY header for a transport other than TCP")]
    Transport,
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses the header at the start of `input`: the length of the header and what it says,
/// `Ok(None)` while more bytes could still make a valid header.
pub fn parse(mut input: &[u8]) -> Result<Option<(usize, Source)>, Refusal> {
    // ppp takes a v1 line cut just after a space for a bad one: it gets whole lines only,
    // and a whole line it finds short is bad, not waiting for more.
    let mut whole_line = false;
    if V1_PREFIX.starts_with(&input[..input.len().min(V1_PREFIX.len())]) {
        let line = &input[..input.len().min(V1_MAX)];
        let Some(end) = line.iter().position(|&b| b == b'\n') else {
            return if line.len() == V1_MAX {
                Err(Refusal::TooLong)
            } else {
                Ok(None)
            };
        };
        input = &input[..=end];
        whole_line = true;
    }
    let parsed = HeaderResult::parse(input);
    if parsed.is_incomplete() && !whole_line {
        // A v2 header that declares more than we take is refused now, not after waiting.
        if let HeaderResult::V2(Err(v2::ParseError::Partial(_, declared))) = &parsed
            && 16 + declared > MAX_HEADER
        {
            return Err(Refusal::TooLong);
        }
        return Ok(None);
    }
    match parsed {
        HeaderResult::V1(Ok(header)) => Ok(Some((header.header.len(), v1_source(&header)))),
        HeaderResult::V1(Err(e)) => Err(Refusal::V1(e)),
        HeaderResult::V2(Ok(header)) => Ok(Some((header.len(), v2_source(&header)?))),
        HeaderResult::V2(Err(e)) => Err(Refusal::V2(e)),
    }
}

fn v1_source(header: &v1::Header<'_>) -> Source {
    match header.addresses {
        v1::Addresses::Tcp4(a) => Source::Client((a.source_address, a.source_port).into()),
        v1::Addresses::Tcp6(a) => Source::Client((a.source_address, a.source_port).into()),
        v1::Addresses::Unknown => Source::Socket,
    }
}

fn v2_source(header: &v2::Header<'_>) -> Result<Source, Refusal> {
    if header.command == v2::Command::Local {
        return Ok(Source::Socket);
    }
    match (header.protocol, header.addresses) {
        (_, v2::Addresses::Unspecified) => Ok(Source::Socket),
        (v2::Protocol::Stream, v2::Addresses::IPv4(a)) => {
            Ok(Source::Client((a.source_address, a.source_port).into()))
        }
        (v2::Protocol::Stream, v2::Addresses::IPv6(a)) => {
            Ok(Source::Client((a.source_address, a.source_port).into()))
        }
        _ => Err(Refusal::Transport),
    }
}

/// Reads the header off `stream` within `limit` and puts back the bytes read past it.
pub async fn read_header(stream: &mut L4Stream, limit: Duration) -> Result<Source, Refusal> {
    let mut buf = [0u8; MAX_HEADER];
    let mut filled = 0;
    let reading = async {
        loop {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(if filled == 0 {
                    Refusal::Silent
                } else {
                    Refusal::Truncated
                });
            }
            filled += n;
            match parse(&buf[..filled])? {
                Some((length, source)) => {
                    stream.rewind(&buf[length..filled]);
                    return Ok(source);
                }
                None if filled == buf.len() => return Err(Refusal::TooLong),
                None => {}
            }
        }
    };
    tokio::time::timeout(limit, reading)
        .await
        .unwrap_or(Err(Refusal::Timeout(limit)))
}

/// The connection's socket digest with `client` as its peer address. A new digest: the
/// listener's may have cached the socket's own peer already.
fn digest_with_peer(stream: &L4Stream, client: SocketAddr) -> SocketDigest {
    let digest = SocketDigest::from_raw_fd(stream.as_raw_fd());
    // A fresh cell cannot be set already.
    let _ = digest.peer_addr.set(Some(PingoraAddr::Inet(client)));
    digest
}

/// The PROXY protocol on the listeners; one for the whole server.
pub struct ProxyProtocol {
    /// How long a client may take to send its header (the client header timeout).
    pub timeout: Duration,
    /// Connections closed for want of a valid header.
    pub refused: Counter,
}

impl ProxyProtocol {
    /// Reads the header and makes its client the peer of `stream`; an error closes it.
    pub async fn accept(&self, stream: &mut L4Stream) -> Result<(), Refusal> {
        let socket_peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        match read_header(stream, self.timeout).await {
            Ok(Source::Client(client)) => {
                let digest = digest_with_peer(stream, client);
                stream.set_socket_digest(digest);
                Ok(())
            }
            Ok(Source::Socket) => Ok(()),
            Err(Refusal::Silent) => Err(Refusal::Silent),
            Err(refusal) => {
                self.refused.inc();
                tracing::debug!(peer = ?socket_peer, %refusal, "connection refused: PROXY protocol");
                Err(refusal)
            }
        }
    }

    /// For the fast path: reads the header of a plain connection; a TLS one (whose header
    /// was read before its handshake) is returned as it is. `None`: refused and closed.
    pub async fn take_plain(&self, stream: Stream) -> Option<Stream> {
        if !stream.as_any().is::<L4Stream>() {
            return Some(stream);
        }
        let mut plain = stream.into_any().downcast::<L4Stream>().ok()?;
        self.accept(&mut plain).await.ok()?;
        Some(plain)
    }
}

#[async_trait]
impl PreTlsProcess for ProxyProtocol {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        self.accept(stream).await.map_err(|refusal| {
            pingora::Error::because(
                pingora::ErrorType::HandshakeError,
                "PROXY protocol",
                refusal,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Command, IPv4, IPv6, Protocol, Version};

    fn v2(command: Command, protocol: Protocol, addresses: v2::Addresses) -> Vec<u8> {
        Builder::with_addresses(Version::Two | command, protocol, addresses)
            .build()
            .unwrap()
    }

    #[test]
    fn v1_headers_of_both_families_and_unknown() {
        let input = b"PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n";
        let (length, source) = parse(input).unwrap().unwrap();
        assert_eq!(&input[length..], b"GET / HTTP/1.1\r\n");
        assert_eq!(source, Source::Client("192.0.2.7:51234".parse().unwrap()));

        let input = b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 443\r\n";
        let (length, source) = parse(input).unwrap().unwrap();
        assert_eq!(length, input.len());
        assert_eq!(
            source,
            Source::Client("[2001:db8::7]:51234".parse().unwrap())
        );

        let input = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
        assert_eq!(parse(input).unwrap(), Some((input.len(), Source::Socket)));
    }

    #[test]
    fn v2_headers_of_both_families_local_and_tlvs() {
        let four: v2::Addresses = IPv4::new([192, 0, 2, 7], [198, 51, 100, 1], 51234, 443).into();
        let mut input = v2(Command::Proxy, Protocol::Stream, four);
        let header = input.len();
        input.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(
            parse(&input).unwrap(),
            Some((header, Source::Client("192.0.2.7:51234".parse().unwrap())))
        );

        let six: v2::Addresses = IPv6::new(
            "2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap(),
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap(),
            1,
            443,
        )
        .into();
        let input = v2(Command::Proxy, Protocol::Stream, six);
        let (_, source) = parse(&input).unwrap().unwrap();
        assert_eq!(source, Source::Client("[2001:db8::7]:1".parse().unwrap()));

        // LOCAL: the load balancer's own connection (a health check); addresses ignored.
        let input = v2(Command::Local, Protocol::Stream, four);
        assert_eq!(parse(&input).unwrap(), Some((input.len(), Source::Socket)));

        // TLVs (as AWS and GCP send) are skipped over.
        let input = Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, four)
            .write_tlv(0xEA_u8, b"vpce-0123456789abcdef")
            .unwrap()
            .build()
            .unwrap();
        let (length, source) = parse(&input).unwrap().unwrap();
        assert_eq!(length, input.len());
        assert_eq!(source, Source::Client("192.0.2.7:51234".parse().unwrap()));
    }

    #[test]
    fn partial_headers_wait_for_more() {
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\n";
        let four: v2::Addresses = IPv4::new([192, 0, 2, 7], [198, 51, 100, 1], 51234, 443).into();
        let v2 = v2(Command::Proxy, Protocol::Stream, four);
        for whole in [&v1[..], &v2[..]] {
            for cut in 1..whole.len() {
                assert!(
                    parse(&whole[..cut]).unwrap().is_none(),
                    "{:?}",
                    &whole[..cut]
                );
            }
        }
    }

    /// A header arriving in pieces, with the request right behind it: the header is taken
    /// off, the request is left to read.
    #[tokio::test]
    async fn read_header_takes_the_header_off_the_stream() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut server = L4Stream::from(listener.accept().await.unwrap().0);
        let writing = tokio::spawn(async move {
            client.write_all(b"PROXY TCP4 192.0.2.7 ").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            client
                .write_all(b"198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            client
        });
        let source = read_header(&mut server, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(source, Source::Client("192.0.2.7:51234".parse().unwrap()));
        let mut rest = vec![0u8; 18];
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");

        // Nothing at all within the limit: a timeout.
        let _client = writing.await.unwrap();
        let mut idle = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut server = L4Stream::from(listener.accept().await.unwrap().0);
        let refusal = read_header(&mut server, Duration::from_millis(50)).await;
        assert!(matches!(refusal, Err(Refusal::Timeout(_))), "{refusal:?}");
        idle.shutdown().await.unwrap();
    }

    #[test]
    fn anything_else_is_refused() {
        for input in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51234\r\n",
            b"PROXY TCP4 192.0.2.999 198.51.100.1 51234 443\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 051234 443\r\n",
            b"PROXY TCP5 192.0.2.7 198.51.100.1 51234 443\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\n",
            b"PROXY TCP4 192.0.2.7\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\r\n",
            b"PROXY\r\n",
        ] {
            assert!(
                parse(input).is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // A v1 line past 107 bytes.
        let long = format!("PROXY TCP6 {} {} 1 2\r\n", "1:".repeat(40), "2:".repeat(40));
        assert!(parse(long.as_bytes()).is_err());
        // UDP, and a v2 header that declares more than is taken.
        let four: v2::Addresses = IPv4::new([192, 0, 2, 7], [198, 51, 100, 1], 1, 2).into();
        assert!(matches!(
            parse(&v2(Command::Proxy, Protocol::Datagram, four)),
            Err(Refusal::Transport)
        ));
        let mut huge = v2(Command::Proxy, Protocol::Stream, four);
        huge[14..16].copy_from_slice(&4000u16.to_be_bytes());
        assert!(matches!(parse(&huge), Err(Refusal::TooLong)));
    }
}
