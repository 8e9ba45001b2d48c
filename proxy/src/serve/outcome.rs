//! The end of a request, on either path: counted while in flight, then recorded in the
//! metrics, the access log and its spans.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::access_log::{Exchange, Line};
use super::trace::RequestTrace;
use crate::metrics::Observed;
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
    /// 0: no response was written.
    pub status: u16,
    pub started: Instant,
    /// The endpoints tried, in order.
    pub tried: &'a [SocketAddr],
    pub error: Option<String>,
    pub trace: Option<&'a mut RequestTrace>,
    /// What the access log says beyond the outcome.
    pub exchange: Exchange<'a>,
}

/// Counts the request, ends its spans and writes its access log line.
pub fn finish(f: Finished<'_>) {
    let elapsed = f.started.elapsed();
    let state = f.state;
    let x = &f.exchange;
    let (ingress, service, host) = f.route.map_or(("", "", ""), |r| {
        (r.ingress.as_str(), r.backend.name.as_str(), r.host.as_str())
    });
    let observed = Observed {
        ingress,
        service,
        host,
        method: f.method,
        status: f.status,
        elapsed,
        upstream_time: x.upstream_time,
        request_length: x.request_length,
        body_bytes_sent: x.body_bytes_sent,
    };
    let series = f.route.map_or(&state.metrics.unmatched, |r| &r.series);
    series.record(&state.metrics, &observed);
    if state.access_log.sampled() {
        state.access_log.write(&Line {
            exchange: x,
            method: f.method,
            status: f.status,
            elapsed,
            ingress,
            backend: service,
            upstream: f.tried.last().copied(),
            attempts: f.tried.len(),
            error: f.error.as_deref(),
        });
    }
    if let Some(trace) = f.trace {
        trace.finish(f.status, f.tried.len(), f.error);
    }
}
