//! The route tables of the listeners: which table a request is looked up in, by the local
//! port it came in on.
//!
//! Ingress mode has one table, for every port (HTTP and HTTPS serve the same rules). Gateway
//! mode (`--gateway`) has one per listener port, keyed by the port the proxy binds (the
//! container port), and an empty default: a port without a table of its own routes
//! nothing.
//!
//! The default table also holds what is shared, whatever the mode: every backend (for
//! in-place endpoint updates) and the objects the routes read by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::RouteTable;

#[derive(Debug, Default, Serialize)]
pub struct Tables {
    /// For a port without a table of its own: every port in Ingress mode.
    pub default: Arc<RouteTable>,
    /// Gateway mode: each listener port's table, by the port the proxy binds.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_port: BTreeMap<u16, Arc<RouteTable>>,
}

impl Tables {
    /// One table for every port (Ingress mode).
    pub fn single(table: RouteTable) -> Self {
        Self {
            default: Arc::new(table),
            by_port: BTreeMap::new(),
        }
    }

    /// The table of requests that came in on local port `port` (unknown: the default).
    pub fn for_port(&self, port: Option<u16>) -> &Arc<RouteTable> {
        port.and_then(|p| self.by_port.get(&p))
            .unwrap_or(&self.default)
    }

    /// Every table, the default first.
    pub fn iter(&self) -> impl Iterator<Item = &RouteTable> {
        std::iter::once(&*self.default).chain(self.by_port.values().map(|t| &**t))
    }

    /// Routes in all tables, for metrics and logs.
    pub fn route_count(&self) -> usize {
        self.iter().map(RouteTable::route_count).sum()
    }

    /// Certificates in all tables.
    pub fn certificate_count(&self) -> usize {
        self.iter().map(|t| t.tls.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_without_a_table_gets_the_default() {
        let mut tables = Tables::single(RouteTable {
            ingresses: 1,
            ..RouteTable::default()
        });
        tables.by_port.insert(8080, Arc::new(RouteTable::default()));
        assert_eq!(tables.for_port(Some(8080)).ingresses, 0);
        assert_eq!(tables.for_port(Some(8443)).ingresses, 1);
        assert_eq!(tables.for_port(None).ingresses, 1);
        assert_eq!(tables.iter().count(), 2);
    }
}
