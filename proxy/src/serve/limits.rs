//! How many client connections a proxy holds: in all, and from one address. A connection
//! past either cap is closed as soon as it is accepted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The caps; 0 means none.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionCaps {
    pub total: usize,
    pub per_address: usize,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerAddress,
}

impl Refused {
    pub fn label(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::PerAddress => "per_address",
        }
    }
}

/// The connections held now.
#[derive(Debug)]
pub struct Connections {
    caps: ConnectionCaps,
    total: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

impl Connections {
    pub fn new(caps: ConnectionCaps) -> Self {
        Self {
            caps,
            total: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
        }
    }

    /// Holds a place for a connection from `client` until the returned guard is dropped;
    /// or says which cap it would pass.
    pub fn admit(&self, client: Option<IpAddr>) -> Result<Admitted<'_>, Refused> {
        let held = self.total.fetch_add(1, Ordering::AcqRel);
        let mut admitted = Admitted {
            connections: self,
            client: None,
        };
        if self.caps.total > 0 && held >= self.caps.total {
            return Err(Refused::Total);
        }
        if let (Some(ip), true) = (client, self.caps.per_address > 0) {
            let mut by_address = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
            let count = by_address.entry(ip).or_insert(0);
            if *count >= self.caps.per_address {
                return Err(Refused::PerAddress);
            }
            *count += 1;
            admitted.client = Some(ip);
        }
        Ok(admitted)
    }

    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// A held place; dropping it frees it (also when the connection was refused).
pub struct Admitted<'a> {
    connections: &'a Connections,
    client: Option<IpAddr>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.client {
            let mut by_address = self
                .connections
                .by_address
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(count) = by_address.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    by_address.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_free_places() {
        let connections = Connections::new(ConnectionCaps {
            total: 3,
            per_address: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = connections.admit(Some(a)).unwrap();
        let _second = connections.admit(Some(a)).unwrap();
        assert_eq!(connections.admit(Some(a)).err(), Some(Refused::PerAddress));
        let _third = connections.admit(Some(b)).unwrap();
        assert_eq!(connections.admit(Some(b)).err(), Some(Refused::Total));
        assert_eq!(connections.open(), 3);
        drop(first);
        assert_eq!(connections.open(), 2);
        let _again = connections.admit(Some(a)).unwrap();
        // No caps: anything goes.
        let open = Connections::new(ConnectionCaps {
            total: 0,
            per_address: 0,
        });
        let held: Vec<_> = (0..100).map(|_| open.admit(Some(a)).unwrap()).collect();
        assert_eq!(open.open(), held.len());
    }
}
