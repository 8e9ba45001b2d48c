//! Where access log lines go: a shared buffer that a thread of its own writes to stderr in
//! large writes, at least every [`FLUSH_EVERY`] (like nginx's `access_log ... buffer=
//! flush=`). A request only appends to the buffer; if stderr stalls and the buffer fills,
//! lines are dropped and counted rather than requests slowed.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// The longest a line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Past this many buffered bytes the writer is woken at once.
const WAKE_AT: usize = 64 * 1024;
/// Past this many buffered bytes (stderr not keeping up), new lines are dropped.
const MAX_BUFFERED: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    buf: Mutex<Vec<u8>>,
    wake: Condvar,
    dropped: AtomicU64,
}

/// The buffer and its writer thread (started with the first line).
#[derive(Default)]
pub struct Sink {
    shared: Arc<Shared>,
    writer: OnceLock<()>,
}

impl Sink {
    /// Queues `line` (whole lines only).
    pub fn push(&self, line: &[u8]) {
        self.writer.get_or_init(|| self.start_writer());
        let mut buf = self.shared.buf.lock().unwrap_or_else(|e| e.into_inner());
        if buf.len() + line.len() > MAX_BUFFERED {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.extend_from_slice(line);
        if buf.len() >= WAKE_AT {
            self.shared.wake.notify_one();
        }
    }

    /// Lines dropped because stderr could not take them.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes out what is buffered now (at exit).
    pub fn flush(&self) {
        write_out(&self.shared, &mut Vec::new());
    }

    fn start_writer(&self) {
        let shared = self.shared.clone();
        let started = std::thread::Builder::new()
            .name("sluice-access-log".into())
            .spawn(move || {
                let mut spare = Vec::new();
                loop {
                    {
                        let buf = shared.buf.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = shared
                            .wake
                            .wait_timeout_while(buf, FLUSH_EVERY, |b| b.len() < WAKE_AT);
                    }
                    write_out(&shared, &mut spare);
                }
            });
        if let Err(error) = started {
            tracing::error!(%error, "cannot start the access log writer; lines stay buffered until dropped");
        }
    }
}

/// Swaps the buffer out under the lock and writes it without holding the lock.
fn write_out(shared: &Shared, spare: &mut Vec<u8>) {
    spare.clear();
    std::mem::swap(
        &mut *shared.buf.lock().unwrap_or_else(|e| e.into_inner()),
        spare,
    );
    if !spare.is_empty() {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(spare);
        let _ = stderr.flush();
    }
}
