//! X-Request-Id values: a random per-process prefix and a counter, 32 hex digits like a
//! UUID without dashes. Unique per proxy process without a random-number call per request.

use std::sync::atomic::{AtomicU64, Ordering};

/// The longest X-Request-Id kept from a client; a longer one is replaced.
const MAX_CLIENT_ID: usize = 200;

/// Whether a client's X-Request-Id is kept (and forwarded) rather than replaced: 1 to 200
/// bytes. Both request paths and the access log decide by this.
pub fn usable(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_CLIENT_ID
}

pub struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        let random = uuid::Uuid::new_v4().as_u64_pair();
        Self {
            prefix: random.0,
            next: AtomicU64::new(random.1),
        }
    }
}

impl RequestIds {
    pub fn next(&self) -> RequestId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0; 32];
        sluice_common::telemetry::hex_into(&mut id[..16], &self.prefix.to_be_bytes());
        sluice_common::telemetry::hex_into(&mut id[16..], &n.to_be_bytes());
        RequestId(id)
    }
}

/// An id, without an allocation.
#[derive(Clone, Copy, Debug)]
pub struct RequestId([u8; 32]);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Hex digits only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_distinct() {
        let ids = RequestIds::default();
        let (a, b) = (ids.next(), ids.next());
        let (a, b) = (a.as_str(), b.as_str());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a[..16], b[..16]);
    }

    #[test]
    fn ids_are_the_prefix_and_counter_in_hex() {
        let ids = RequestIds {
            prefix: 0x0123_4567_89ab_cdef,
            next: AtomicU64::new(0xfe),
        };
        assert_eq!(ids.next().as_str(), "0123456789abcdef00000000000000fe");
        assert_eq!(ids.next().as_str(), "0123456789abcdef00000000000000ff");
    }
}
