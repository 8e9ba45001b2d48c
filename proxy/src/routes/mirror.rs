//! Request mirrors (the Gateway API's RequestMirror filter): where a copy of a route's
//! requests goes, and what share of them. The copy's answer is never read by the client.

use std::sync::Arc;

use serde::Serialize;

use super::Backend;

/// Shares are kept in millionths: the spec's percent and fraction both fit.
const MILLION: u32 = 1_000_000;

#[derive(Debug, Serialize)]
pub struct Mirror {
    pub backend: Arc<Backend>,
    /// Of every million requests, how many are copied (a million or more: every one).
    pub per_million: u32,
}

impl Mirror {
    /// A mirror of `percent` (0–100) of the requests, or `numerator / denominator` of them
    /// (the filter's `fraction`), or all (neither).
    pub fn new(backend: Arc<Backend>, percent: Option<i32>, fraction: Option<(i32, i32)>) -> Self {
        let per_million = match (percent, fraction) {
            (Some(p), _) => u32::try_from(p.clamp(0, 100)).unwrap_or(0) * (MILLION / 100),
            (None, Some((n, d))) if d > 0 => {
                let share = i64::from(n.clamp(0, d)) * i64::from(MILLION) / i64::from(d);
                u32::try_from(share).unwrap_or(MILLION)
            }
            (None, Some(_)) => 0,
            (None, None) => MILLION,
        };
        Self {
            backend,
            per_million,
        }
    }

    /// Whether this request is copied: random, at the mirror's share.
    pub fn chosen(&self) -> bool {
        self.per_million >= MILLION
            || (self.per_million > 0 && fastrand::u32(0..MILLION) < self.per_million)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Endpoints;

    fn mirror(percent: Option<i32>, fraction: Option<(i32, i32)>) -> Mirror {
        let backend = Arc::new(Backend::new("m".into(), None, Endpoints::default()));
        Mirror::new(backend, percent, fraction)
    }

    #[test]
    fn shares_come_from_percent_or_fraction() {
        assert_eq!(mirror(None, None).per_million, MILLION);
        assert_eq!(mirror(Some(20), None).per_million, 200_000);
        assert_eq!(mirror(None, Some((25, 50))).per_million, 500_000);
        assert_eq!(mirror(None, Some((1, 3))).per_million, 333_333);
        assert_eq!(mirror(None, Some((5, 0))).per_million, 0);
        assert_eq!(mirror(Some(150), None).per_million, MILLION);
        assert!(mirror(None, None).chosen());
        assert!(!mirror(Some(0), None).chosen());
        let m = mirror(Some(30), None);
        let copied = (0..10_000).filter(|_| m.chosen()).count();
        // 30 % of 10,000, with a margin of about five standard deviations.
        assert!((2_770..=3_230).contains(&copied), "{copied}");
    }
}
