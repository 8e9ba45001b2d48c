//! The Ingress v1 semantics shared by the proxy (routing) and the webhook (conflicts).

pub mod claims;
pub mod class;
pub mod host;
pub mod path;
pub mod regex;

pub use claims::{Claim, ClaimError, IngressRef, Location, RuleKey, canary_claims, claims};
pub use class::{OurClasses, requested_class};
pub use host::{HostMatch, normalize_request_host};
pub use path::{PathKind, PathMatch};
