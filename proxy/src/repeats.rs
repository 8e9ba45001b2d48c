//! Repeated identical errors, logged once per window with a count: an error that repeats
//! in a tight loop (a retry against an API server that is away) must not flood the log.
//!
//! The first occurrence is logged; the identical ones that follow within the window are
//! counted, not logged; the next one after the window is logged with that count ("N more
//! in the last X s"), and so is the end of the run when the caller sees it end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The window the proxy's own repeated errors are summarised over.
pub const REPEATS_WINDOW: Duration = Duration::from_secs(30);

/// Distinct messages kept before runs that have ended are forgotten.
const MAX_KEYS: usize = 64;

/// How many identical occurrences were left out of the log before this one, over how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub seconds: u64,
}

struct Run {
    logged_at: Instant,
    suppressed: u64,
}

/// Decides which occurrences of repeated messages to log. Not shared: each log site owns
/// one (wrap it in a mutex to share).
pub struct Repeats {
    window: Duration,
    runs: HashMap<String, Run>,
}

impl Repeats {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            runs: HashMap::new(),
        }
    }

    /// An occurrence of `message` at `now`: `Some` to log it (with what was left out since
    /// the last one logged), `None` to leave it out.
    pub fn check(&mut self, message: &str, now: Instant) -> Option<Summary> {
        if let Some(run) = self.runs.get_mut(message) {
            let since = now.saturating_duration_since(run.logged_at);
            if since < self.window {
                run.suppressed += 1;
                return None;
            }
            let summary = Summary {
                count: run.suppressed,
                seconds: since.as_secs(),
            };
            *run = Run {
                logged_at: now,
                suppressed: 0,
            };
            return Some(summary);
        }
        if self.runs.len() >= MAX_KEYS {
            let window = self.window;
            self.runs
                .retain(|_, r| now.saturating_duration_since(r.logged_at) < window);
        }
        self.runs.insert(
            message.to_string(),
            Run {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(Summary {
            count: 0,
            seconds: 0,
        })
    }

    /// The runs have ended (the operation succeeded): what each left out of the log since
    /// it was last logged, to log once. Forgets them.
    pub fn end(&mut self, now: Instant) -> Vec<(String, Summary)> {
        self.runs
            .drain()
            .filter(|(_, run)| run.suppressed > 0)
            .map(|(message, run)| {
                let seconds = now.saturating_duration_since(run.logged_at).as_secs();
                (
                    message,
                    Summary {
                        count: run.suppressed,
                        seconds,
                    },
                )
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn logs_the_first_then_counts_until_the_window_passes() {
        let t0 = Instant::now();
        let mut r = Repeats::new(10 * S);
        assert_eq!(
            r.check("refused", t0),
            Some(Summary {
                count: 0,
                seconds: 0
            })
        );
        for i in 1..=5 {
            assert_eq!(r.check("refused", t0 + i * S), None);
        }
        // Another message has its own run.
        assert!(r.check("timed out", t0 + 6 * S).is_some());
        assert_eq!(
            r.check("refused", t0 + 12 * S),
            Some(Summary {
                count: 5,
                seconds: 12
            })
        );
        assert_eq!(r.check("refused", t0 + 13 * S), None);
    }

    #[test]
    fn the_end_of_a_run_reports_what_was_left_out() {
        let t0 = Instant::now();
        let mut r = Repeats::new(10 * S);
        r.check("refused", t0);
        r.check("refused", t0 + S);
        r.check("refused", t0 + 2 * S);
        r.check("once", t0 + 2 * S);
        assert_eq!(
            r.end(t0 + 4 * S),
            [(
                "refused".to_string(),
                Summary {
                    count: 2,
                    seconds: 4
                }
            )]
        );
        assert!(r.is_empty());
        // After the end, the next occurrence is logged again.
        assert!(r.check("refused", t0 + 5 * S).is_some());
    }

    #[test]
    fn distinct_messages_are_bounded() {
        let t0 = Instant::now();
        let mut r = Repeats::new(S);
        for i in 0..1000 {
            r.check(&i.to_string(), t0 + i * 2 * S);
        }
        assert!(r.runs.len() <= MAX_KEYS);
    }
}
