//! The end of a request, on either path: counted while in flight, then recorded in the
//! metrics, the log and its spans.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::trace::RequestTrace;
use crate::routes::Route;
use crate::state::State;

/// Counts a request as in flight until it is dropped (after the request is recorded),
/// which is what a graceful shutdown waits for.
pub struct InFlight(Arc<State>);

impl InFlight {
    pub fn start(state: &Arc<State>) -> Self {
        state.metrics.in_flight.inc();
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

/// A request that has been answered, on either path.
pub struct Finished<'a> {
    pub state: &'a State,
    pub route: Option<&'a Route>,
    pub method: &'a str,
    pub path: &'a str,
    /// 0: no response was written.
    pub status: u16,
    pub started: Instant,
    /// The endpoints tried, in order.
    pub tried: &'a [SocketAddr],
    pub error: Option<String>,
    pub trace: Option<&'a mut RequestTrace>,
}

/// Counts the request, ends its spans and logs it (at debug).
pub fn finish(f: Finished<'_>) {
    let elapsed = f.started.elapsed();
    let metrics = &f.state.metrics;
    let (ingress, service) = match f.route {
        Some(r) => {
            r.series
                .record(metrics, &r.ingress, &r.backend.name, f.status, elapsed);
            (r.ingress.as_str(), r.backend.name.as_str())
        }
        None => {
            metrics.unmatched.record(metrics, "", "", f.status, elapsed);
            ("", "")
        }
    };
    tracing::debug!(
        method = f.method,
        path = f.path,
        status = f.status,
        ingress,
        service,
        upstream = ?f.tried.last(),
        attempts = f.tried.len(),
        ms = elapsed.as_secs_f64() * 1000.0,
        error = f.error.as_deref(),
        "request"
    );
    if let Some(trace) = f.trace {
        trace.finish(f.status, f.tried.len(), f.error);
    }
}
