//! Who the client is: the peer, or who a trusted peer says.

use pingora::proxy::Session;

use super::{RequestCtx, Router};
use crate::serve::client_addr::client_address;

impl Router {
    /// The client's address: the peer's, or, from a trusted peer, what its forwarded
    /// headers say ([`client_address`]).
    pub(super) fn client(&self, session: &Session, ctx: &RequestCtx) -> Option<std::net::IpAddr> {
        if ctx.client.is_some() {
            return ctx.client;
        }
        let peer = session.client_addr().and_then(|a| a.as_inet())?.ip();
        let trusted = &self.options.trusted_proxies;
        if !trusted.trusts(peer) {
            return Some(peer);
        }
        let values = session
            .req_header()
            .headers
            .get_all(trusted.header_name())
            .iter();
        Some(client_address(peer, values, trusted))
    }
}
