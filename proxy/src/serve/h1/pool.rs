//! Kept-alive upstream connections, per thread.
//!
//! Each proxy thread runs its own single-threaded runtime and its connections never move
//! between threads, so a thread-local pool needs no lock, and a connection is only ever
//! used by the runtime whose reactor it is registered with. Taking or returning one costs
//! no task and no system call: an idle connection the upstream has closed is found when it
//! is taken, by the readiness its reactor already recorded.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Idle connections kept per endpoint and thread. HTTP/2 clients multiplex: one client
/// connection may have a hundred requests at an endpoint at once, each on a connection of
/// its own, so the pool keeps as many as a busy thread has in flight rather than closing
/// and reopening them as the load ebbs and flows.
const MAX_IDLE_PER_ENDPOINT: usize = 1024;
/// An idle connection older than this is closed rather than reused.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Returns between sweeps of endpoints that are no longer used.
const SWEEP_EVERY: u32 = 4096;

struct Idle {
    stream: TcpStream,
    since: Instant,
}

#[derive(Default)]
struct Pool {
    /// Oldest first.
    idle: HashMap<SocketAddr, VecDeque<Idle>>,
    returns: u32,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A kept-alive connection to `addr` that is still open, if there is one.
pub fn take(addr: SocketAddr) -> Option<TcpStream> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let idle = pool.idle.get_mut(&addr)?;
        // Newest first: the most likely to be open, and its buffers warm.
        while let Some(conn) = idle.pop_back() {
            if conn.since.elapsed() < IDLE_TIMEOUT && still_open(&conn.stream) {
                return Some(conn.stream);
            }
        }
        None
    })
}

/// Keeps `stream`, whose last response was read to its end, for reuse.
pub fn give_back(addr: SocketAddr, stream: TcpStream) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        pool.returns = pool.returns.wrapping_add(1);
        if pool.returns % SWEEP_EVERY == 0 {
            pool.idle.retain(|_, idle| {
                idle.retain(|c| c.since.elapsed() < IDLE_TIMEOUT);
                !idle.is_empty()
            });
        }
        let idle = pool.idle.entry(addr).or_default();
        if idle.len() >= MAX_IDLE_PER_ENDPOINT {
            idle.pop_front();
        }
        idle.push_back(Idle {
            stream,
            since: Instant::now(),
        });
    })
}

/// An idle connection is open when reading would block. End of stream, an error, or bytes
/// nobody asked for all mean it cannot carry another request.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn closed_connections_are_not_handed_out() -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let open = TcpStream::connect(addr).await?;
        let (_server_open, _) = listener.accept().await?;
        let closed = TcpStream::connect(addr).await?;
        let (server_closed, _) = listener.accept().await?;
        drop(server_closed);
        let chatty = TcpStream::connect(addr).await?;
        let (mut server_chatty, _) = listener.accept().await?;
        server_chatty.write_all(b"unexpected").await?;
        tokio::time::sleep(Duration::from_millis(50)).await;

        give_back(addr, open);
        give_back(addr, closed);
        give_back(addr, chatty);
        // Newest first, but the chatty and the closed one are skipped.
        assert!(take(addr).is_some());
        assert!(take(addr).is_none());
        Ok(())
    }
}
