//! Sending a route's request mirrors ([`crate::routes::mirror`]): a copy of the request, as
//! its backend gets it, to an endpoint of each chosen mirror, on a connection of its own.
//! Fire and forget: the copy's answer is read (so the mirror sees a normal exchange) and
//! dropped; a slow or dead mirror never delays or fails the request. Both request paths
//! call [`send`] with the copy in HTTP/1.1: the fast path with the bytes it sends the
//! backend, Pingora's path with a [`Pending`] copy completed by the request's body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pingora::http::RequestHeader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::routes::mirror::Mirror;

/// Copies in flight, at most: past it, copies are dropped rather than pile up behind a
/// slow mirror.
const MAX_IN_FLIGHT: usize = 1024;
/// How long a copy may take, from connecting to the end of the answer's head.
const DEADLINE: Duration = Duration::from_secs(10);
/// The largest request body copied (a larger request's copy is not sent).
pub const MAX_BODY: usize = 64 * 1024;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Sends `request` (a whole HTTP/1.1 request) to each of `mirrors` that picks it.
pub fn send(mirrors: &[Mirror], request: &[u8]) {
    for mirror in mirrors.iter().filter(|m| m.chosen()) {
        let Some(addr) = mirror.backend.pick(&[]) else {
            tracing::debug!(mirror = %mirror.backend.name, "the mirror has no endpoint");
            continue;
        };
        if IN_FLIGHT.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            tracing::debug!(mirror = %mirror.backend.name, "too many copies in flight");
            continue;
        }
        let request = request.to_vec();
        let name = mirror.backend.name.clone();
        tokio::spawn(async move {
            let sent = tokio::time::timeout(DEADLINE, exchange(addr, &request)).await;
            IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(mirror = %name, %addr, error = %e, "mirror failed"),
                Err(_) => tracing::debug!(mirror = %name, %addr, "mirror timed out"),
            }
        });
    }
}

/// Sends the copy and reads until the end of the answer's head.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_BODY {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// A copy of a request Pingora's path serves, waiting for the request's body.
pub struct Pending {
    mirrors: Arc<[Mirror]>,
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Pending {
    /// The copy of `request` (as its backend gets it) for `mirrors`.
    pub fn new(mirrors: Arc<[Mirror]>, request: &RequestHeader) -> Self {
        let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
        // An HTTP/2 request names its host in :authority only.
        let host = request
            .headers
            .get(http::header::HOST)
            .is_none()
            .then(|| request.uri.authority().map(|a| a.as_str().as_bytes()))
            .flatten();
        let headers = host.map(|h| ("host", h)).into_iter().chain(
            request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        Self {
            mirrors,
            head: http1_head(request.method.as_str(), target, headers),
            body: Vec::new(),
        }
    }

    /// Adds a chunk of the body; `false` when the body is too large to copy (the copy is
    /// then not sent).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        if self.body.len() + chunk.len() > MAX_BODY {
            return false;
        }
        self.body.extend_from_slice(chunk);
        true
    }

    /// Sends the copy, framed by its body's length.
    pub fn send(self) {
        let mirrors = self.mirrors.clone();
        send(&mirrors, &self.into_bytes());
    }

    fn into_bytes(mut self) -> Vec<u8> {
        let framing = format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            self.body.len()
        );
        self.head.extend_from_slice(framing.as_bytes());
        self.head.extend_from_slice(&self.body);
        self.head
    }
}

/// The request line and `headers` of a copy, without their framing and connection headers
/// (the copy has its own).
fn http1_head<'a>(
    method: &str,
    target: &str,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if matches!(
            name,
            "content-length" | "transfer-encoding" | "connection" | "keep-alive"
        ) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Backend, Endpoints};

    #[test]
    fn a_copy_is_framed_by_its_own_length() -> Result<(), Box<dyn std::error::Error>> {
        // As an HTTP/2 request comes: the host in its URI only.
        let mut request = RequestHeader::build("POST", b"/", None)?;
        request.set_uri("https://app.test/p?q=1".parse()?);
        request.insert_header("transfer-encoding", "chunked")?;
        request.insert_header("x-a", "1")?;
        let backend = Arc::new(Backend::new("m".into(), None, Endpoints::default()));
        let mirrors: Arc<[Mirror]> = Arc::new([Mirror::new(backend, None, None)]);
        let mut copy = Pending::new(mirrors, &request);
        assert!(copy.push(b"bo"));
        assert!(copy.push(b"dy"));
        assert!(!copy.push(&vec![0; MAX_BODY]));
        assert_eq!(
            String::from_utf8_lossy(&copy.into_bytes()),
            "POST /p?q=1 HTTP/1.1\r\nhost: app.test\r\nx-a: 1\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbody"
        );
        Ok(())
    }
}
