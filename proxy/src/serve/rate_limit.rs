//! The counters of one Ingress's rate limits ([`sluice_crds::annotations::rate_limit`]):
//! requests per second and per minute by client address (GCRA, from the `governor` crate),
//! and requests in progress by client address. They outlive route-table swaps: a recompile
//! that leaves the Ingress's limits as they were keeps its counters.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use sluice_crds::annotations::RateLimit;

/// After this many checks, counters of clients that are back to a full burst are dropped,
/// so the maps hold only clients seen within their window.
const CLEAN_EVERY: u64 = 4096;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    Requests,
    Connections,
}

pub struct IngressLimiter {
    pub config: Arc<RateLimit>,
    per_second: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_minute: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Sharded, as governor's own maps: threads serving different clients do not wait for
    /// each other.
    in_progress: DashMap<IpAddr, u32>,
    checks: AtomicU64,
}

impl std::fmt::Debug for IngressLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Serialize for IngressLimiter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.config.serialize(s)
    }
}

/// `limit` a second (or a minute), with `limit × multiplier` more served at once: nginx's
/// `burst` with `nodelay`, which takes the request itself plus the burst.
fn quota(limit: u32, multiplier: u32, per_minute: bool) -> Option<Quota> {
    let rate = NonZeroU32::new(limit)?;
    let burst = NonZeroU32::new(limit.saturating_mul(multiplier).saturating_add(1))?;
    let quota = if per_minute {
        Quota::per_minute(rate)
    } else {
        Quota::per_second(rate)
    };
    Some(quota.allow_burst(burst))
}

impl IngressLimiter {
    pub fn new(config: Arc<RateLimit>) -> Self {
        let keyed = |limit: Option<u32>, per_minute| {
            quota(limit?, config.burst_multiplier, per_minute).map(RateLimiter::keyed)
        };
        Self {
            per_second: keyed(config.rps, false),
            per_minute: keyed(config.rpm, true),
            in_progress: DashMap::new(),
            checks: AtomicU64::new(0),
            config,
        }
    }

    /// Counts a request from `client` (unknown clients share one counter); `Err` if it is
    /// over a limit. The returned guard holds its place among the requests in progress
    /// until dropped.
    pub fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Option<InProgress>, Limited> {
        let client = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.to_canonical());
        if self
            .config
            .allow
            .as_ref()
            .is_some_and(|allow| allow.contains(client))
        {
            return Ok(None);
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY == CLEAN_EVERY - 1 {
            for limiter in self.per_second.iter().chain(&self.per_minute) {
                limiter.retain_recent();
            }
        }
        // Both must pass (nginx applies both); a request refused by the first does not count
        // against the second.
        for limiter in self.per_second.iter().chain(&self.per_minute) {
            if limiter.check_key(&client).is_err() {
                return Err(Limited::Requests);
            }
        }
        let Some(most) = self.config.connections else {
            return Ok(None);
        };
        let mut count = self.in_progress.entry(client).or_insert(0);
        if *count >= most {
            return Err(Limited::Connections);
        }
        *count += 1;
        drop(count);
        Ok(Some(InProgress {
            limiter: self.clone(),
            client,
        }))
    }
}

/// A request in progress, counted against `limit-connections` until dropped.
pub struct InProgress {
    limiter: Arc<IngressLimiter>,
    client: IpAddr,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        // Down by one; the entry goes when it reaches zero (in one step under its shard's
        // lock, so a concurrent admit never sees a count that is about to be removed).
        self.limiter
            .in_progress
            .remove_if_mut(&self.client, |_, count| {
                *count = count.saturating_sub(1);
                *count == 0
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_crds::annotations::SourceRanges;

    fn limiter(
        rps: Option<u32>,
        connections: Option<u32>,
        allow: Option<&str>,
    ) -> Arc<IngressLimiter> {
        Arc::new(IngressLimiter::new(Arc::new(RateLimit {
            rps,
            rpm: None,
            connections,
            burst_multiplier: 2,
            allow: allow.map(|a| SourceRanges::parse(a).unwrap()),
        })))
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_burst_of_the_limit_times_the_multiplier_plus_one_then_refused() {
        let l = limiter(Some(10), None, None);
        // 10 × 2 + 1 at once.
        for n in 0..21 {
            assert!(l.admit(ip("10.0.0.1")).is_ok(), "request {n}");
        }
        assert_eq!(l.admit(ip("10.0.0.1")).err(), Some(Limited::Requests));
        // Another client has its own counter; an allowed one none.
        assert!(l.admit(ip("10.0.0.2")).is_ok());
        let exempt = limiter(Some(1), None, Some("10.0.0.0/8"));
        for _ in 0..100 {
            assert!(exempt.admit(ip("10.9.9.9")).is_ok());
        }
    }

    #[test]
    fn connections_are_counted_until_their_guard_drops() {
        let l = limiter(None, Some(2), None);
        let first = l.admit(ip("::ffff:10.0.0.1")).unwrap();
        let _second = l.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(l.admit(ip("10.0.0.1")).err(), Some(Limited::Connections));
        drop(first);
        assert!(l.admit(ip("10.0.0.1")).is_ok());
    }
}
