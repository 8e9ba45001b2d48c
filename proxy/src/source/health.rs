//! Whether the configuration source is being followed right now. When the API server goes
//! away the proxy keeps serving its last good routes and stays ready (taking every proxy
//! out of its Service because the control plane is down would turn a control-plane outage
//! into a data-plane one), but `/readyz`, `/routes` and a gauge say since when it has been
//! serving blind, and why.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The source has failed since `since`, most recently with `error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    pub since: SystemTime,
    started: Instant,
    pub error: String,
    pub failures: u64,
}

impl Outage {
    pub fn duration(&self) -> Duration {
        self.started.elapsed()
    }

    /// One line for `/readyz`: how long, how often, and the last error.
    pub fn describe(&self) -> String {
        format!(
            "watching the API server has failed for {}s ({} failed attempts); last error: {}",
            self.duration().as_secs(),
            self.failures,
            self.error
        )
    }
}

#[derive(Default)]
pub struct SourceHealth {
    outage: Mutex<Option<Outage>>,
}

impl SourceHealth {
    /// Records a failure; true when it starts an outage (the source was working until now).
    pub fn failed(&self, error: &str) -> bool {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        match outage.as_mut() {
            Some(o) => {
                o.failures += 1;
                o.error = error.to_string();
                false
            }
            None => {
                *outage = Some(Outage {
                    since: SystemTime::now(),
                    started: Instant::now(),
                    error: error.to_string(),
                    failures: 1,
                });
                true
            }
        }
    }

    /// The source works again; the outage it ends, if there was one.
    pub fn working(&self) -> Option<Outage> {
        self.outage.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub fn outage(&self) -> Option<Outage> {
        self.outage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_once_counts_its_failures_and_ends_when_working() {
        let health = SourceHealth::default();
        assert!(health.working().is_none());
        assert!(health.failed("connection refused"));
        assert!(!health.failed("connection reset"));
        let outage = health.outage().expect("an outage");
        assert_eq!(outage.failures, 2);
        assert_eq!(outage.error, "connection reset");
        assert!(outage.describe().contains("2 failed attempts"));
        assert_eq!(health.working().map(|o| o.failures), Some(2));
        assert!(health.outage().is_none());
        assert!(health.failed("again"), "a new failure starts a new outage");
    }
}
