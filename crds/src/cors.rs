//! A route's CORS policy, whichever API wrote it: an Ingress's `enable-cors` annotations
//! (ingress-nginx's behaviour, [`crate::annotations::cors`]) or an HTTPRoute's CORS filter
//! (the Gateway API's, [`crate::gateway::cors`]). Both request paths ask it the same two
//! questions.

use crate::annotations::cors::Cors;
use crate::gateway::cors::GatewayCors;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CorsPolicy {
    Ingress(Cors),
    Gateway(GatewayCors),
}

impl CorsPolicy {
    /// The headers a response to a request from `origin` carries (none: the origin is not
    /// allowed).
    pub fn response_headers(&self, origin: Option<&str>) -> Option<Vec<(&'static str, String)>> {
        match self {
            Self::Ingress(cors) => cors.headers_for(origin),
            Self::Gateway(cors) => cors.response(origin),
        }
    }

    /// For an `OPTIONS` request: the headers of the proxy's own answer (204), when the
    /// proxy answers it rather than the backend. `request_method` and `request_headers`
    /// are its `Access-Control-Request-*` headers.
    pub fn preflight(
        &self,
        origin: Option<&str>,
        request_method: Option<&str>,
        request_headers: Option<&str>,
    ) -> Option<Vec<(&'static str, String)>> {
        match self {
            // ingress-nginx answers every OPTIONS request an allowed origin sends.
            Self::Ingress(cors) => cors.headers_for(origin),
            // A preflight only (the Fetch standard's), whatever its origin.
            Self::Gateway(cors) => Some(cors.preflight(origin?, request_method?, request_headers)),
        }
    }
}
