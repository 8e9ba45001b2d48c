//! An upstream that answers with exact bytes, for tests of HTTP framing: chunked and
//! close-delimited bodies, invalid responses, and connections closed at awkward moments.
//! It reads each request head (and a `Content-Length` body), then does what the test's
//! script says for that request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the upstream does with a request.
pub enum Act {
    /// Writes the bytes and waits for the next request on the connection.
    Reply(Vec<u8>),
    /// Writes the bytes and closes the connection.
    ReplyAndClose(Vec<u8>),
    /// Closes the connection without answering.
    Close,
    /// Writes the bytes, then resets the connection (RST, not FIN): an upstream that dies
    /// mid-response.
    ReplyAndReset(Vec<u8>),
    /// Never answers, and keeps the connection open until the upstream is dropped.
    Hang,
    /// Writes the bytes one at a time, `pause` apart, then waits for the next request.
    Trickle(Vec<u8>, std::time::Duration),
}

/// A request as the script sees it.
pub struct Seen<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// How many requests this connection carried before this one.
    pub on_connection: usize,
    pub body: &'a [u8],
}

type Script = dyn Fn(&Seen<'_>) -> Act + Send + Sync;

/// A 200 response with `body` and its `Content-Length`.
pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Every way of framing (or botching) a response, one path each, for tests of what clients
/// get: `/chunked` (with an extension and a trailer), `/until-close`, `/both`
/// (`Content-Length` and chunked), `/two-lengths`, `/interim` (a 103 first), `/hop`
/// (hop-by-hop headers), `/head` (a length and no body, for HEAD), `/none` (204), `/dies`
/// (reset mid-body); any other path: 200 with the path as the body.
pub fn framing(seen: &Seen<'_>) -> Act {
    match seen.path {
        "/chunked" => Act::Reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-App: yes\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                .to_vec(),
        ),
        "/until-close" => Act::ReplyAndClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()),
        "/both" => Act::Reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
        ),
        "/two-lengths" => Act::Reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        ),
        "/interim" => Act::Reply(
            [
                &b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"[..],
                &ok("final"),
            ]
            .concat(),
        ),
        "/hop" => Act::Reply(
            b"HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=1\r\n\
              Content-Length: 2\r\n\r\nok"
                .to_vec(),
        ),
        "/head" => Act::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec()),
        "/none" => Act::Reply(b"HTTP/1.1 204 No Content\r\nX-App: yes\r\n\r\n".to_vec()),
        "/dies" => {
            Act::ReplyAndReset(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part".to_vec())
        }
        _ => Act::Reply(ok(seen.path)),
    }
}

/// A running scripted upstream; stopped when dropped.
pub struct ScriptedUpstream {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        // Tests drop it inside their own runtime, where blocking on it is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ScriptedUpstream {
    /// Listens on `ip` and a free port, acting on each request as `script` says.
    pub fn start(
        ip: &str,
        script: impl Fn(&Seen<'_>) -> Act + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let ip: IpAddr = ip.parse()?;
        let listener = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (connections, requests) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let script: Arc<Script> = Arc::new(script);
        let (c, r) = (connections.clone(), requests.clone());
        runtime.spawn(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, script.clone(), r.clone()));
            }
        });
        Ok(Self {
            addr,
            connections,
            requests,
            runtime: Some(runtime),
        })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests read so far (answered or not).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: tokio::net::TcpStream, script: Arc<Script>, requests: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    for on_connection in 0.. {
        let Some((head_len, body_len)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        requests.fetch_add(1, Ordering::SeqCst);
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let mut line = head.split_whitespace();
        let (method, path) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
        let seen = Seen {
            method,
            path,
            on_connection,
            body: &buf[head_len..head_len + body_len],
        };
        let act = script(&seen);
        buf.drain(..head_len + body_len);
        match act {
            Act::Reply(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::ReplyAndClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
            Act::Close => return,
            Act::ReplyAndReset(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.set_zero_linger();
                return;
            }
            Act::Hang => std::future::pending::<()>().await,
            Act::Trickle(bytes, pause) => {
                for byte in bytes {
                    if stream.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// Reads until `buf` holds a whole request; returns the lengths of its head and body.
async fn read_request(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(usize, usize)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let head = String::from_utf8_lossy(&buf[..head_len]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= head_len + body_len {
                return Some((head_len, body_len));
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
