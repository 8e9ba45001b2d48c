//! Sluice's own Ingress annotations (`sluice.dev/...`), the ingress-nginx annotations it
//! reads ([`nginx`]), and the annotations of other controllers that it sees but ignores.
//!
//! | annotation | value | effect |
//! | --- | --- | --- |
//! | `sluice.dev/ssl-redirect` | `true` / `false` | for this Ingress's rules: redirect HTTP to HTTPS (308) when the host has TLS (listed under `spec.tls` of any Ingress of the class); overrides the class setting either way |
//! | `sluice.dev/connect-timeout` | duration (`500ms`, `5s`, `1m`; a bare number is seconds) | upstream connect timeout |
//! | `sluice.dev/read-timeout` | duration | how long to wait for the upstream to send each chunk of the response |
//! | `sluice.dev/allowlist-source-range` | CIDRs or addresses, comma-separated | only clients from these ranges reach the rules; others get 403 |
//! | `sluice.dev/denylist-source-range` | CIDRs or addresses, comma-separated | clients from these ranges get 403 |
//! | `sluice.dev/permanent-redirect` | URL or path, with [`redirect`] variables | answer 301 (or `-code`) with this Location instead of proxying |
//! | `sluice.dev/temporal-redirect` | as above | answer 302 (or `-code`); wins over the permanent one |
//! | `sluice.dev/app-root` | path | a request for `/` is redirected (302) there |
//! | `sluice.dev/proxy-body-size` | size (`8m`, `512k`, `0` for no limit) | the largest request body; more gets 413 |
//! | `sluice.dev/use-regex` | `true` / `false` | the Ingress's Prefix and ImplementationSpecific paths are regular expressions ([`crate::ingress::regex`]) |
//! | `sluice.dev/rewrite-target` | path with `$1`–`$9` ([`rewrite`]) | the backend gets this path instead; implies `use-regex` |
//! | `sluice.dev/x-forwarded-prefix` | text | sent as `X-Forwarded-Prefix` with a rewritten request |
//! | `sluice.dev/enable-cors` and `sluice.dev/cors-*` | see [`cors`] | CORS headers, and preflights answered by the proxy |
//! | `sluice.dev/limit-rps`, `-rpm`, `-connections`, `-burst-multiplier`, `-allowlist` | see [`rate_limit`] | requests per client address over a limit get 503 |
//! | `sluice.dev/upstream-vhost` | host name, with [`upstream_vhost`] variables | the `Host` the backend gets |
//! | `sluice.dev/canary` and `sluice.dev/canary-*` | see [`canary`] | a share of another Ingress's rules' requests go to this one's backends |
//! | `sluice.dev/backend-protocol` | `HTTP`, `HTTPS`, `GRPC`, `GRPCS`, `AUTO_HTTP` (any case) | how the proxy talks to the backend ([`BackendProtocol`]) |
//! | `sluice.dev/force-ssl-redirect` | `true` / `false` | redirect HTTP to HTTPS (308) even when the host has no TLS |
//! | `sluice.dev/send-timeout` | duration | how long a write of the request to the upstream may stall (default [`DEFAULT_SEND_TIMEOUT`]) |
//! | `sluice.dev/auth-*` | see [`auth`] | basic auth against a Secret's users, or external auth by an auth service |
//!
//! Durations lie between 1ms and 1h. Values are parsed, never interpolated into anything.

pub mod affinity;
pub mod auth;
pub mod canary;
pub mod cors;
pub mod custom_headers;
pub mod error_pages;
pub mod migration;
pub mod nginx;
pub mod rate_limit;
pub mod redirect;
pub mod reference;
pub mod rewrite;
pub mod source_ranges;
pub mod upstream_vhost;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::cors::CorsPolicy;
use crate::names::{ANNOTATION_PREFIX, LEGACY_CLASS_ANNOTATION};
pub use affinity::Affinity;
pub use auth::{BasicAuth, ExternalAuth};
pub use canary::Canary;
pub use cors::Cors;
pub use custom_headers::CustomHeaders;
use nginx::Support;
pub use rate_limit::RateLimit;
pub use redirect::{Redirect, RequestParts};
pub use rewrite::Rewrite;
pub use source_ranges::SourceRanges;
pub use upstream_vhost::UpstreamVhost;

pub const SSL_REDIRECT: &str = "sluice.dev/ssl-redirect";
pub const CONNECT_TIMEOUT: &str = "sluice.dev/connect-timeout";
pub const READ_TIMEOUT: &str = "sluice.dev/read-timeout";
pub const ALLOWLIST_SOURCE_RANGE: &str = "sluice.dev/allowlist-source-range";
pub const DENYLIST_SOURCE_RANGE: &str = "sluice.dev/denylist-source-range";
pub const PERMANENT_REDIRECT: &str = "sluice.dev/permanent-redirect";
pub const PERMANENT_REDIRECT_CODE: &str = "sluice.dev/permanent-redirect-code";
pub const TEMPORAL_REDIRECT: &str = "sluice.dev/temporal-redirect";
pub const TEMPORAL_REDIRECT_CODE: &str = "sluice.dev/temporal-redirect-code";
pub const APP_ROOT: &str = "sluice.dev/app-root";
pub const PROXY_BODY_SIZE: &str = "sluice.dev/proxy-body-size";
pub const USE_REGEX: &str = "sluice.dev/use-regex";
pub const REWRITE_TARGET: &str = "sluice.dev/rewrite-target";
pub const X_FORWARDED_PREFIX: &str = "sluice.dev/x-forwarded-prefix";
pub const ENABLE_CORS: &str = "sluice.dev/enable-cors";
pub const CORS_ALLOW_ORIGIN: &str = "sluice.dev/cors-allow-origin";
pub const CORS_ALLOW_METHODS: &str = "sluice.dev/cors-allow-methods";
pub const CORS_ALLOW_HEADERS: &str = "sluice.dev/cors-allow-headers";
pub const CORS_ALLOW_CREDENTIALS: &str = "sluice.dev/cors-allow-credentials";
pub const CORS_MAX_AGE: &str = "sluice.dev/cors-max-age";
pub const CORS_EXPOSE_HEADERS: &str = "sluice.dev/cors-expose-headers";
pub const LIMIT_RPS: &str = "sluice.dev/limit-rps";
pub const LIMIT_RPM: &str = "sluice.dev/limit-rpm";
pub const LIMIT_CONNECTIONS: &str = "sluice.dev/limit-connections";
pub const LIMIT_BURST_MULTIPLIER: &str = "sluice.dev/limit-burst-multiplier";
pub const LIMIT_ALLOWLIST: &str = "sluice.dev/limit-allowlist";
pub const UPSTREAM_VHOST: &str = "sluice.dev/upstream-vhost";
pub const BACKEND_PROTOCOL: &str = "sluice.dev/backend-protocol";
pub const CANARY: &str = "sluice.dev/canary";
pub const CANARY_BY_HEADER: &str = "sluice.dev/canary-by-header";
pub const CANARY_BY_HEADER_VALUE: &str = "sluice.dev/canary-by-header-value";
pub const CANARY_BY_HEADER_PATTERN: &str = "sluice.dev/canary-by-header-pattern";
pub const CANARY_BY_COOKIE: &str = "sluice.dev/canary-by-cookie";
pub const CANARY_WEIGHT: &str = "sluice.dev/canary-weight";
pub const CANARY_WEIGHT_TOTAL: &str = "sluice.dev/canary-weight-total";
pub const FORCE_SSL_REDIRECT: &str = "sluice.dev/force-ssl-redirect";
pub const SEND_TIMEOUT: &str = "sluice.dev/send-timeout";
pub const AUTH_TYPE: &str = "sluice.dev/auth-type";
pub const AUTH_SECRET: &str = "sluice.dev/auth-secret";
pub const AUTH_SECRET_TYPE: &str = "sluice.dev/auth-secret-type";
pub const AUTH_REALM: &str = "sluice.dev/auth-realm";
pub const AUTH_URL: &str = "sluice.dev/auth-url";
pub const AUTH_METHOD: &str = "sluice.dev/auth-method";
pub const AUTH_SIGNIN: &str = "sluice.dev/auth-signin";
pub const AUTH_SIGNIN_REDIRECT_PARAM: &str = "sluice.dev/auth-signin-redirect-param";
pub const AUTH_RESPONSE_HEADERS: &str = "sluice.dev/auth-response-headers";
pub const AUTH_REQUEST_REDIRECT: &str = "sluice.dev/auth-request-redirect";
pub const AUTH_ALWAYS_SET_COOKIE: &str = "sluice.dev/auth-always-set-cookie";
pub const CUSTOM_HEADERS: &str = "sluice.dev/custom-headers";
pub const CUSTOM_HTTP_ERRORS: &str = "sluice.dev/custom-http-errors";
pub const DEFAULT_BACKEND: &str = "sluice.dev/default-backend";
pub const AFFINITY: &str = "sluice.dev/affinity";
pub const AFFINITY_MODE: &str = "sluice.dev/affinity-mode";
pub const SESSION_COOKIE_NAME: &str = "sluice.dev/session-cookie-name";
pub const SESSION_COOKIE_PATH: &str = "sluice.dev/session-cookie-path";
pub const SESSION_COOKIE_DOMAIN: &str = "sluice.dev/session-cookie-domain";
pub const SESSION_COOKIE_MAX_AGE: &str = "sluice.dev/session-cookie-max-age";
pub const SESSION_COOKIE_EXPIRES: &str = "sluice.dev/session-cookie-expires";
pub const SESSION_COOKIE_SECURE: &str = "sluice.dev/session-cookie-secure";
pub const SESSION_COOKIE_SAMESITE: &str = "sluice.dev/session-cookie-samesite";
pub const SESSION_COOKIE_CHANGE_ON_FAILURE: &str = "sluice.dev/session-cookie-change-on-failure";

/// How long a write of the request to a backend may stall, without `send-timeout`: nginx's
/// `proxy_send_timeout` default.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Every annotation of Sluice's own.
pub const KNOWN: &[&str] = &[
    SSL_REDIRECT,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ALLOWLIST_SOURCE_RANGE,
    DENYLIST_SOURCE_RANGE,
    PERMANENT_REDIRECT,
    PERMANENT_REDIRECT_CODE,
    TEMPORAL_REDIRECT,
    TEMPORAL_REDIRECT_CODE,
    APP_ROOT,
    PROXY_BODY_SIZE,
    USE_REGEX,
    REWRITE_TARGET,
    X_FORWARDED_PREFIX,
    ENABLE_CORS,
    CORS_ALLOW_ORIGIN,
    CORS_ALLOW_METHODS,
    CORS_ALLOW_HEADERS,
    CORS_ALLOW_CREDENTIALS,
    CORS_MAX_AGE,
    CORS_EXPOSE_HEADERS,
    LIMIT_RPS,
    LIMIT_RPM,
    LIMIT_CONNECTIONS,
    LIMIT_BURST_MULTIPLIER,
    LIMIT_ALLOWLIST,
    UPSTREAM_VHOST,
    BACKEND_PROTOCOL,
    CANARY,
    CANARY_BY_HEADER,
    CANARY_BY_HEADER_VALUE,
    CANARY_BY_HEADER_PATTERN,
    CANARY_BY_COOKIE,
    CANARY_WEIGHT,
    CANARY_WEIGHT_TOTAL,
    FORCE_SSL_REDIRECT,
    SEND_TIMEOUT,
    AUTH_TYPE,
    AUTH_SECRET,
    AUTH_SECRET_TYPE,
    AUTH_REALM,
    AUTH_URL,
    AUTH_METHOD,
    AUTH_SIGNIN,
    AUTH_SIGNIN_REDIRECT_PARAM,
    AUTH_RESPONSE_HEADERS,
    AUTH_REQUEST_REDIRECT,
    AUTH_ALWAYS_SET_COOKIE,
    CUSTOM_HEADERS,
    CUSTOM_HTTP_ERRORS,
    DEFAULT_BACKEND,
    AFFINITY,
    AFFINITY_MODE,
    SESSION_COOKIE_NAME,
    SESSION_COOKIE_PATH,
    SESSION_COOKIE_DOMAIN,
    SESSION_COOKIE_MAX_AGE,
    SESSION_COOKIE_EXPIRES,
    SESSION_COOKIE_SECURE,
    SESSION_COOKIE_SAMESITE,
    SESSION_COOKIE_CHANGE_ON_FAILURE,
];

/// The annotations of an Ingress that can change how Sluice routes it: its own, ingress-nginx's
/// (read or refused, see [`nginx`]) and the legacy class annotation. A change to any other
/// annotation changes nothing, so the proxy does not recompile for it.
pub fn routing(
    annotations: Option<&BTreeMap<String, String>>,
) -> impl Iterator<Item = (&str, &str)> {
    annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            k.starts_with(ANNOTATION_PREFIX)
                || k.starts_with(nginx::PREFIX)
                || k.as_str() == LEGACY_CLASS_ANNOTATION
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Annotation prefixes of other Ingress controllers. Sluice ignores them and says so.
const FOREIGN_PREFIXES: [&str; 6] = [
    "nginx.org/",
    "traefik.ingress.kubernetes.io/",
    "haproxy.org/",
    "haproxy.router.openshift.io/",
    "alb.ingress.kubernetes.io/",
    "konghq.com/",
];

const MIN_DURATION: Duration = Duration::from_millis(1);
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// The Sluice settings an Ingress asks for. `None`: not set, use the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngressSettings {
    pub ssl_redirect: Option<bool>,
    /// Redirect plain HTTP to HTTPS even when the host has no TLS of its own.
    pub force_ssl_redirect: bool,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    /// How long a write of the request to the backend may stall.
    pub send_timeout: Option<Duration>,
    /// Only clients in these ranges may reach the Ingress's rules.
    pub allow_from: Option<Arc<SourceRanges>>,
    /// Clients in these ranges may not.
    pub deny_from: Option<Arc<SourceRanges>>,
    /// Answer with this redirect instead of proxying.
    pub redirect: Option<Arc<Redirect>>,
    /// Where a request for `/` is redirected (302).
    pub app_root: Option<Arc<str>>,
    /// The largest request body, in bytes; 0: no limit.
    pub max_body_size: Option<u64>,
    /// The Ingress's Prefix and ImplementationSpecific paths are regular expressions.
    pub use_regex: bool,
    /// The path the backend gets instead of the client's.
    pub rewrite: Option<Arc<Rewrite>>,
    /// `X-Forwarded-Prefix` for a rewritten request.
    pub forwarded_prefix: Option<Arc<str>>,
    /// CORS, when enabled.
    pub cors: Option<Arc<CorsPolicy>>,
    /// Requests and connections per client address.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// The `Host` the backend gets.
    pub upstream_vhost: Option<Arc<UpstreamVhost>>,
    /// How the proxy talks to the backend.
    pub backend_protocol: BackendProtocol,
    /// The Ingress is a canary of other Ingresses' rules.
    pub canary: Option<Arc<Canary>>,
    /// Basic auth against an htpasswd Secret.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Each request is first asked of an auth service.
    pub external_auth: Option<Arc<ExternalAuth>>,
    /// A client's requests keep to one endpoint, named by a cookie.
    pub affinity: Option<Arc<Affinity>>,
    /// Response headers from this ConfigMap.
    pub custom_headers: Option<Arc<CustomHeaders>>,
    /// Backend responses with these statuses are replaced by the default backend's.
    pub custom_http_errors: Option<Arc<[u16]>>,
    /// A Service of the Ingress's namespace for its requests when its backend has no
    /// endpoints, and for its error pages.
    pub default_backend: Option<Arc<str>>,
}

/// How the proxy talks to an Ingress's backends (`backend-protocol`), as ingress-nginx does.
/// Certificates of HTTPS backends are not verified, as ingress-nginx's `proxy-ssl-verify`
/// is off by default, and no SNI is sent (its `proxy-ssl-server-name` is off too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackendProtocol {
    /// HTTP/1.1 in the clear.
    #[default]
    Http,
    /// HTTP/1.1 or HTTP/2 (by ALPN) over TLS.
    Https,
    /// HTTP/2 in the clear (h2c), as gRPC backends speak it.
    Grpc,
    /// HTTP/2 over TLS.
    Grpcs,
    /// HTTPS for requests that came over TLS, HTTP for the others.
    AutoHttp,
}

impl BackendProtocol {
    fn parse(value: &str) -> Result<Self, &'static str> {
        match value.trim().to_ascii_uppercase().as_str() {
            "HTTP" => Ok(Self::Http),
            "HTTPS" => Ok(Self::Https),
            "GRPC" => Ok(Self::Grpc),
            "GRPCS" => Ok(Self::Grpcs),
            "AUTO_HTTP" => Ok(Self::AutoHttp),
            "FCGI" => Err("FastCGI backends are not supported by Sluice"),
            _ => Err("must be HTTP, HTTPS, GRPC, GRPCS or AUTO_HTTP"),
        }
    }

    /// Whether a request (over TLS or not) goes to the backend over TLS.
    pub fn tls(self, client_tls: bool) -> bool {
        match self {
            Self::Https | Self::Grpcs => true,
            Self::AutoHttp => client_tls,
            Self::Http | Self::Grpc => false,
        }
    }

    /// Whether the backend is spoken to in HTTP/2 only.
    pub fn http2(self) -> bool {
        matches!(self, Self::Grpc | Self::Grpcs)
    }

    pub fn is_plain_http(self, client_tls: bool) -> bool {
        !self.tls(client_tls) && !self.http2()
    }
}

/// The redirect annotations as read, before one redirect is made of them.
#[derive(Default)]
struct Redirects {
    permanent: Option<redirect::Template>,
    permanent_code: Option<u16>,
    temporal: Option<redirect::Template>,
    temporal_code: Option<u16>,
}

impl Redirects {
    /// The temporal redirect wins over the permanent one, as in ingress-nginx.
    fn finish(self) -> Option<Arc<Redirect>> {
        let (to, code) = match (self.temporal, self.permanent) {
            (Some(to), _) => (to, self.temporal_code.unwrap_or(302)),
            (None, Some(to)) => (to, self.permanent_code.unwrap_or(301)),
            (None, None) => return None,
        };
        Some(Arc::new(Redirect { code, to }))
    }
}

/// An annotation with a value Sluice cannot use, or one it cannot honour.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: {reason} (got {value:?})")]
pub struct AnnotationError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// What reading an Ingress's annotations found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The valid settings; an invalid value leaves its setting unset.
    pub settings: IngressSettings,
    pub errors: Vec<AnnotationError>,
    /// Access rules Sluice cannot enforce: unsupported access-control annotations, snippets,
    /// invalid source ranges. The Ingress must not be served without them: the webhook
    /// refuses it and the proxy answers 503 on its rules.
    pub unenforced: Vec<AnnotationError>,
    /// Unknown `sluice.dev/` keys and other controllers' annotations.
    pub warnings: Vec<String>,
}

/// Reads an Ingress's annotations. An ingress-nginx annotation read as one of Sluice's
/// ([`Support::Same`]) counts unless Sluice's own is set too.
pub fn parse(annotations: Option<&BTreeMap<String, String>>) -> Parsed {
    let mut parsed = Parsed::default();
    let Some(annotations) = annotations else {
        return parsed;
    };
    let mut pending = Pending::default();
    for (key, value) in annotations {
        if KNOWN.contains(&key.as_str()) {
            apply(&mut parsed, &mut pending, key, key, value);
            continue;
        }
        let error = |reason: String| AnnotationError {
            key: key.clone(),
            value: value.clone(),
            reason,
        };
        let newer = nginx::newer_name(key).filter(|newer| annotations.contains_key(newer));
        match nginx::support(key) {
            // ingress-nginx reads an older name only without the newer one.
            Some(Support::Same(_)) if let Some(newer) = newer => parsed
                .warnings
                .push(format!("annotation {key} is overridden by {newer}")),
            Some(Support::Same(ours)) if !annotations.contains_key(ours) => {
                apply(&mut parsed, &mut pending, ours, key, value)
            }
            Some(Support::Same(ours)) => parsed
                .warnings
                .push(format!("annotation {key} is overridden by {ours}")),
            Some(Support::AccessControl) => parsed.unenforced.push(error(
                "this access control is not enforced by Sluice yet; the Ingress is refused rather than served without it".into(),
            )),
            Some(Support::Snippet(instead)) => parsed.unenforced.push(error(format!(
                "nginx configuration snippets never run in Sluice, and may hold access rules, so the Ingress is refused; {instead}"
            ))),
            Some(Support::Ignored(advice)) => {
                let advice = match advice {
                    "" => String::new(),
                    a => format!("; {a}"),
                };
                parsed.warnings.push(format!(
                    "annotation {key} is not implemented by Sluice and is ignored{advice}"
                ));
            }
            None if key.starts_with(ANNOTATION_PREFIX) => parsed.warnings.push(format!(
                "annotation {key} is not a Sluice annotation and is ignored; known: {}",
                KNOWN.join(", ")
            )),
            None if FOREIGN_PREFIXES.iter().any(|p| key.starts_with(p)) => {
                parsed.warnings.push(format!(
                    "annotation {key} belongs to another ingress controller; Sluice ignores it"
                ))
            }
            None => {}
        }
    }
    if parsed.settings.custom_http_errors.is_some() && parsed.settings.default_backend.is_none() {
        parsed.warnings.push(format!(
            "annotation {CUSTOM_HTTP_ERRORS} has no effect without {DEFAULT_BACKEND}: Sluice has no controller-wide error backend"
        ));
    }
    let Pending {
        redirects,
        cors_enabled,
        cors,
        limits,
        canary_enabled,
        canary,
        canary_settings,
        mut auth,
        auth_type_key,
        affinity_enabled,
        affinity,
        affinity_settings,
    } = pending;
    parsed.settings.affinity = affinity_enabled.then(|| Arc::new(affinity));
    if let (false, Some(key)) = (affinity_enabled, affinity_settings) {
        parsed.warnings.push(format!(
            "annotation {key} has no effect without affinity: \"cookie\""
        ));
    }
    match auth.basic() {
        Ok(basic) => parsed.settings.basic_auth = basic.map(Arc::new),
        Err(reason) => parsed.unenforced.push(AnnotationError {
            key: auth_type_key.unwrap_or_else(|| AUTH_TYPE.into()),
            value: "basic".into(),
            reason,
        }),
    }
    if parsed.settings.basic_auth.is_none() && auth.secret.is_some() {
        parsed.warnings.push(format!(
            "annotation {AUTH_SECRET} has no effect without {AUTH_TYPE}: \"basic\""
        ));
    }
    let external_set =
        auth.method.is_some() || auth.signin.is_some() || !auth.response_headers.is_empty();
    parsed.settings.external_auth = auth.external().map(Arc::new);
    if parsed.settings.external_auth.is_none() && external_set {
        parsed.warnings.push(format!(
            "the auth-method, auth-signin and auth-response-headers annotations have no effect without {AUTH_URL}"
        ));
    }
    if let (false, Some(key)) = (canary_enabled, canary_settings) {
        parsed.errors.push(AnnotationError {
            key,
            value: String::new(),
            reason: "applies to a canary Ingress only: set canary to \"true\" too".into(),
        });
    }
    parsed.settings.canary = canary_enabled.then(|| Arc::new(canary));
    parsed.settings.redirect = redirects.finish();
    parsed.settings.cors = cors_enabled.then(|| Arc::new(CorsPolicy::Ingress(cors)));
    parsed.settings.rate_limit = limits.finish().map(Arc::new);
    parsed
}

/// Settings read from several annotations, made once all are read.
#[derive(Default)]
struct Pending {
    redirects: Redirects,
    cors_enabled: bool,
    cors: Cors,
    limits: rate_limit::Parts,
    canary_enabled: bool,
    canary: Canary,
    /// A `canary-*` setting seen (its key), which needs `canary: "true"`.
    canary_settings: Option<String>,
    auth: auth::Parts,
    /// `auth-type` as written, for messages.
    auth_type_key: Option<String>,
    affinity_enabled: bool,
    affinity: Affinity,
    /// A `session-cookie-*` setting seen (its key), which needs `affinity: cookie`.
    affinity_settings: Option<String>,
}

/// Applies the value of `key`, read as Sluice's annotation `ours`.
fn apply(parsed: &mut Parsed, pending: &mut Pending, ours: &str, key: &str, value: &str) {
    let (redirects, cors, limits) = (
        &mut pending.redirects,
        &mut pending.cors,
        &mut pending.limits,
    );
    let error = |reason: &str| AnnotationError {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let settings = &mut parsed.settings;
    match ours {
        SSL_REDIRECT | USE_REGEX | FORCE_SSL_REDIRECT | AUTH_ALWAYS_SET_COOKIE => {
            match parse_bool(value) {
                Ok(b) if ours == SSL_REDIRECT => settings.ssl_redirect = Some(b),
                Ok(b) if ours == FORCE_SSL_REDIRECT => settings.force_ssl_redirect = b,
                Ok(b) if ours == AUTH_ALWAYS_SET_COOKIE => pending.auth.always_set_cookie = b,
                Ok(b) => settings.use_regex = b,
                Err(reason) => parsed.errors.push(error(reason)),
            }
        }
        CUSTOM_HEADERS => match CustomHeaders::parse(value) {
            Ok(h) => settings.custom_headers = Some(Arc::new(h)),
            // ingress-nginx denies such a location: its rules answer 503.
            Err(reason) => parsed.unenforced.push(error(&reason)),
        },
        CUSTOM_HTTP_ERRORS => match error_pages::parse_codes(value) {
            Ok(codes) => settings.custom_http_errors = Some(codes.into()),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        DEFAULT_BACKEND => match error_pages::parse_service(value) {
            Ok(service) => settings.default_backend = Some(service.into()),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        AFFINITY => match affinity::parse_kind(value) {
            Ok(()) => pending.affinity_enabled = true,
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        AFFINITY_MODE
        | SESSION_COOKIE_NAME
        | SESSION_COOKIE_PATH
        | SESSION_COOKIE_DOMAIN
        | SESSION_COOKIE_MAX_AGE
        | SESSION_COOKIE_EXPIRES
        | SESSION_COOKIE_SECURE
        | SESSION_COOKIE_SAMESITE
        | SESSION_COOKIE_CHANGE_ON_FAILURE => {
            if ours != AFFINITY_MODE {
                pending
                    .affinity_settings
                    .get_or_insert_with(|| key.to_string());
            }
            let a = &mut pending.affinity;
            let seconds = |v: &str| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| "must be a whole number of seconds".to_string())
            };
            let bool_of = |v: &str| parse_bool(v).map_err(str::to_string);
            let read = match ours {
                AFFINITY_MODE => affinity::parse_mode(value),
                SESSION_COOKIE_NAME => affinity::parse_cookie_name(value).map(|n| a.cookie = n),
                SESSION_COOKIE_PATH => affinity::parse_attribute(value).map(|p| a.path = Some(p)),
                SESSION_COOKIE_DOMAIN => {
                    affinity::parse_attribute(value).map(|d| a.domain = Some(d))
                }
                SESSION_COOKIE_MAX_AGE => seconds(value).map(|s| a.max_age = Some(s)),
                SESSION_COOKIE_EXPIRES => seconds(value).map(|s| a.expires = Some(s)),
                SESSION_COOKIE_SECURE => bool_of(value).map(|b| a.secure = b),
                SESSION_COOKIE_SAMESITE => {
                    affinity::parse_same_site(value).map(|s| a.same_site = Some(s))
                }
                _ => bool_of(value).map(|b| a.change_on_failure = b),
            };
            if let Err(reason) = read {
                parsed.errors.push(error(&reason));
            }
        }
        AUTH_TYPE
        | AUTH_SECRET
        | AUTH_SECRET_TYPE
        | AUTH_URL
        | AUTH_METHOD
        | AUTH_RESPONSE_HEADERS => {
            let auth = &mut pending.auth;
            let read = match ours {
                AUTH_TYPE => {
                    pending.auth_type_key = Some(key.to_string());
                    auth::parse_type(value).map(|t| auth.auth_type = Some(t))
                }
                AUTH_SECRET => auth::parse_secret(value).map(|s| auth.secret = Some(s)),
                AUTH_SECRET_TYPE => auth::parse_secret_type(value).map(|t| auth.secret_type = t),
                AUTH_URL => auth::parse_url(value).map(|u| auth.url = Some(u)),
                AUTH_METHOD => auth::parse_method(value).map(|m| auth.method = Some(m)),
                _ => auth::parse_header_names(value).map(|h| auth.response_headers = h),
            };
            // Authentication asked for and not understood must not leave the door open.
            if let Err(reason) = read {
                parsed.unenforced.push(error(&reason));
            }
        }
        AUTH_REALM | AUTH_SIGNIN | AUTH_SIGNIN_REDIRECT_PARAM | AUTH_REQUEST_REDIRECT => {
            let auth = &mut pending.auth;
            // These change what a refused client is told, never who gets in.
            let read = match ours {
                AUTH_REALM => auth::parse_realm(value).map(|r| auth.realm = r),
                AUTH_SIGNIN => redirect::Template::parse(value).map(|t| auth.signin = Some(t)),
                AUTH_SIGNIN_REDIRECT_PARAM => {
                    auth::parse_param(value).map(|p| auth.redirect_param = Some(p))
                }
                _ => auth::parse_header_value(value).map(|v| auth.request_redirect = Some(v)),
            };
            if let Err(reason) = read {
                parsed.errors.push(error(&reason));
            }
        }
        ENABLE_CORS | CORS_ALLOW_CREDENTIALS => match parse_bool(value) {
            Ok(b) if ours == ENABLE_CORS => pending.cors_enabled = b,
            Ok(b) => cors.credentials = b,
            Err(reason) => parsed.errors.push(error(reason)),
        },
        CORS_ALLOW_ORIGIN => match cors::parse_origins(value) {
            Ok(origins) => cors.origins = origins,
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        CORS_ALLOW_METHODS => match cors::parse_list(value, "methods") {
            Ok(methods) => cors.methods = methods,
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        CORS_ALLOW_HEADERS | CORS_EXPOSE_HEADERS => match cors::parse_list(value, "header names") {
            Ok(h) if ours == CORS_ALLOW_HEADERS => cors.headers = h,
            Ok(h) => cors.expose_headers = Some(h),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        CORS_MAX_AGE => match value.trim().parse::<u64>() {
            Ok(seconds) => cors.max_age = seconds,
            Err(_) => parsed
                .errors
                .push(error("must be a whole number of seconds")),
        },
        LIMIT_RPS | LIMIT_RPM | LIMIT_CONNECTIONS | LIMIT_BURST_MULTIPLIER => {
            match rate_limit::parse_count(value) {
                Ok(n) => match ours {
                    LIMIT_RPS => limits.rps = Some(n),
                    LIMIT_RPM => limits.rpm = Some(n),
                    LIMIT_CONNECTIONS => limits.connections = Some(n),
                    _ => limits.burst_multiplier = Some(n),
                },
                Err(reason) => parsed.errors.push(error(reason)),
            }
        }
        LIMIT_ALLOWLIST => match SourceRanges::parse(value) {
            Ok(r) => limits.allow = Some(r),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        CANARY => match parse_bool(value) {
            Ok(b) => pending.canary_enabled = b,
            Err(reason) => parsed.errors.push(error(reason)),
        },
        CANARY_BY_HEADER
        | CANARY_BY_HEADER_VALUE
        | CANARY_BY_HEADER_PATTERN
        | CANARY_BY_COOKIE
        | CANARY_WEIGHT
        | CANARY_WEIGHT_TOTAL => {
            pending
                .canary_settings
                .get_or_insert_with(|| key.to_string());
            let canary = &mut pending.canary;
            let result = match ours {
                CANARY_BY_HEADER => canary::parse_name(value).map(|n| canary.by_header = Some(n)),
                CANARY_BY_COOKIE => canary::parse_name(value).map(|n| canary.by_cookie = Some(n)),
                CANARY_BY_HEADER_VALUE => {
                    canary.header_value = Some(value.to_string());
                    Ok(())
                }
                CANARY_WEIGHT | CANARY_WEIGHT_TOTAL => rate_limit::parse_count(value).map(|n| {
                    if ours == CANARY_WEIGHT {
                        canary.weight = n
                    } else {
                        canary.weight_total = n
                    }
                }),
                _ => match canary::parse_pattern(value) {
                    Ok(p) => {
                        canary.header_pattern = Some(p);
                        Ok(())
                    }
                    Err(reason) => {
                        parsed.errors.push(error(&reason));
                        Ok(())
                    }
                },
            };
            if let Err(reason) = result {
                parsed.errors.push(error(reason));
            }
        }
        BACKEND_PROTOCOL => match BackendProtocol::parse(value) {
            Ok(p) => settings.backend_protocol = p,
            Err(reason) => parsed.errors.push(error(reason)),
        },
        UPSTREAM_VHOST => match UpstreamVhost::parse(value) {
            Ok(v) => settings.upstream_vhost = Some(Arc::new(v)),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        REWRITE_TARGET => match Rewrite::parse(value) {
            Ok(r) => settings.rewrite = Some(Arc::new(r)),
            Err(reason) => parsed.errors.push(error(reason)),
        },
        X_FORWARDED_PREFIX => {
            let prefix = value.trim();
            if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_graphic()) {
                settings.forwarded_prefix = Some(prefix.into());
            } else {
                parsed
                    .errors
                    .push(error("must be printable text without spaces"));
            }
        }
        CONNECT_TIMEOUT | READ_TIMEOUT | SEND_TIMEOUT => match parse_duration(value) {
            Ok(d) if ours == CONNECT_TIMEOUT => settings.connect_timeout = Some(d),
            Ok(d) if ours == READ_TIMEOUT => settings.read_timeout = Some(d),
            Ok(d) => settings.send_timeout = Some(d),
            Err(reason) => parsed.errors.push(error(reason)),
        },
        ALLOWLIST_SOURCE_RANGE | DENYLIST_SOURCE_RANGE => match SourceRanges::parse(value) {
            Ok(r) if ours == ALLOWLIST_SOURCE_RANGE => settings.allow_from = Some(Arc::new(r)),
            Ok(r) => settings.deny_from = Some(Arc::new(r)),
            // An access rule that cannot be read must not leave the door open.
            Err(reason) => parsed.unenforced.push(error(&reason)),
        },
        PERMANENT_REDIRECT | TEMPORAL_REDIRECT => match redirect::Template::parse(value) {
            Ok(t) if ours == PERMANENT_REDIRECT => redirects.permanent = Some(t),
            Ok(t) => redirects.temporal = Some(t),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        PERMANENT_REDIRECT_CODE | TEMPORAL_REDIRECT_CODE => match redirect::parse_code(value) {
            Ok(c) if ours == PERMANENT_REDIRECT_CODE => redirects.permanent_code = Some(c),
            Ok(c) => redirects.temporal_code = Some(c),
            Err(reason) => parsed.errors.push(error(&reason)),
        },
        PROXY_BODY_SIZE => match parse_size(value) {
            Ok(size) => settings.max_body_size = Some(size),
            Err(reason) => parsed.errors.push(error(reason)),
        },
        APP_ROOT => {
            let path = value.trim();
            if path.starts_with('/')
                && path.len() > 1
                && !path.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                settings.app_root = Some(path.into());
            } else {
                parsed
                    .errors
                    .push(error("must be a path other than / , without spaces"));
            }
        }
        _ => {}
    }
}

fn parse_bool(value: &str) -> Result<bool, &'static str> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be \"true\" or \"false\""),
    }
}

/// The value of Sluice's annotation `ours`, else of the ingress-nginx annotation read as it.
fn value_of<'a>(annotations: &'a BTreeMap<String, String>, ours: &'static str) -> Option<&'a str> {
    annotations
        .get(ours)
        .or_else(|| {
            annotations
                .iter()
                .find(|(k, _)| nginx::support(k) == Some(Support::Same(ours)))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

/// Whether an Ingress is a canary (`canary: "true"`), which claims no rule of its own.
pub fn is_canary(annotations: Option<&BTreeMap<String, String>>) -> bool {
    annotations
        .and_then(|a| value_of(a, CANARY))
        .is_some_and(|v| parse_bool(v) == Ok(true))
}

/// Which of an Ingress's paths are regular expressions, by ingress-nginx's rule: all but
/// Exact ones with `use-regex`, and each whose `rewrite-target` is not the path itself.
/// Values that do not parse count as unset (they are reported by [`parse`]).
#[derive(Clone, Debug, Default)]
pub struct RegexPaths {
    use_regex: bool,
    rewrite_target: Option<String>,
}

impl RegexPaths {
    pub fn of(annotations: Option<&BTreeMap<String, String>>) -> Self {
        let Some(annotations) = annotations else {
            return Self::default();
        };
        Self {
            use_regex: value_of(annotations, USE_REGEX).and_then(|v| parse_bool(v).ok())
                == Some(true),
            rewrite_target: value_of(annotations, REWRITE_TARGET)
                .and_then(|v| Rewrite::parse(v).ok())
                .map(|r| r.text),
        }
    }

    /// Whether the path written `raw` is a regular expression (its type permitting).
    pub fn is_regex(&self, raw: Option<&str>) -> bool {
        self.use_regex
            || self
                .rewrite_target
                .as_deref()
                .is_some_and(|target| Some(target) != raw)
    }
}

/// A size as nginx writes one: bytes, or a whole number with `k`, `m` or `g` (either
/// case, powers of 1024); `0` means no limit.
pub fn parse_size(value: &str) -> Result<u64, &'static str> {
    const MESSAGE: &str = "must be a whole number of bytes, optionally with k, m or g, such as 8m";
    let value = value.trim();
    let (number, shift) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 10),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 20),
        Some(b'g' | b'G') => (&value[..value.len() - 1], 30),
        _ => (value, 0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MESSAGE);
    }
    let n: u64 = number.parse().map_err(|_| MESSAGE)?;
    n.checked_mul(1 << shift).ok_or(MESSAGE)
}

/// A duration flag of Sluice's binaries: [`parse_duration`], or `0`/`0s` for none (a
/// shutdown delay, say, where nothing is to be waited for).
pub fn parse_flag_duration(value: &str) -> Result<Duration, String> {
    match value.trim() {
        "0" | "0s" => Ok(Duration::ZERO),
        other => parse_duration(other).map_err(str::to_string),
    }
}

/// `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds (as ingress-nginx takes them).
pub fn parse_duration(value: &str) -> Result<Duration, &'static str> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "must be a whole number with a unit: ms, s, m or h")?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err("must be a whole number with a unit: ms, s, m or h"),
    };
    if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err("must lie between 1ms and 1h");
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An annotation map, for the tests of this module and its children.
    pub(super) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_valid_settings() {
        let p = parse(Some(&map(&[
            (SSL_REDIRECT, "false"),
            (CONNECT_TIMEOUT, "250ms"),
            (READ_TIMEOUT, "60"),
        ])));
        assert_eq!(
            p.settings,
            IngressSettings {
                ssl_redirect: Some(false),
                connect_timeout: Some(Duration::from_millis(250)),
                read_timeout: Some(Duration::from_secs(60)),
                ..IngressSettings::default()
            }
        );
        assert!(p.errors.is_empty() && p.warnings.is_empty());
    }

    #[test]
    fn invalid_values_are_errors_that_say_why() {
        let p = parse(Some(&map(&[
            (SSL_REDIRECT, "yes"),
            (CONNECT_TIMEOUT, "0s"),
            (READ_TIMEOUT, "5 parsecs"),
        ])));
        assert_eq!(p.settings, IngressSettings::default());
        let messages: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "annotation sluice.dev/connect-timeout: must lie between 1ms and 1h (got \"0s\")",
                "annotation sluice.dev/read-timeout: must be a whole number with a unit: ms, s, m or h (got \"5 parsecs\")",
                "annotation sluice.dev/ssl-redirect: must be \"true\" or \"false\" (got \"yes\")",
            ]
        );
    }

    #[test]
    fn reads_ingress_nginx_annotations_with_the_same_meaning_unless_ours_is_set() {
        let p = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "120"),
            ("nginx.ingress.kubernetes.io/proxy-connect-timeout", "3"),
            (CONNECT_TIMEOUT, "1s"),
            (
                "nginx.ingress.kubernetes.io/whitelist-source-range",
                "10.0.0.0/8",
            ),
        ])));
        assert_eq!(p.settings.ssl_redirect, Some(false));
        assert_eq!(p.settings.read_timeout, Some(Duration::from_secs(120)));
        assert_eq!(
            p.settings.connect_timeout,
            Some(Duration::from_secs(1)),
            "ours wins"
        );
        let allow = p.settings.allow_from.expect("the allowlist");
        assert!(allow.contains("10.1.1.1".parse().unwrap()));
        assert!(p.errors.is_empty() && p.unenforced.is_empty());
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("overridden by sluice.dev/connect-timeout"));
    }

    #[test]
    fn redirects_temporal_wins_and_codes_apply() {
        let p = parse(Some(&map(&[
            (
                "nginx.ingress.kubernetes.io/permanent-redirect",
                "https://a.example/$uri",
            ),
            ("nginx.ingress.kubernetes.io/permanent-redirect-code", "308"),
        ])));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.settings.redirect.as_ref().map(|r| r.code), Some(308));
        let p = parse(Some(&map(&[
            (PERMANENT_REDIRECT, "https://a.example/"),
            (TEMPORAL_REDIRECT, "/b"),
        ])));
        assert_eq!(p.settings.redirect.as_ref().map(|r| r.code), Some(302));
        let p = parse(Some(&map(&[(PERMANENT_REDIRECT, "a.example")])));
        assert!(p.settings.redirect.is_none());
        assert_eq!(p.errors.len(), 1);
    }

    #[test]
    fn access_rules_it_cannot_enforce_are_unenforced_not_ignored() {
        let p = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/auth-tls-verify-client", "on"),
            (
                "nginx.ingress.kubernetes.io/configuration-snippet",
                "deny all;",
            ),
            (
                "nginx.ingress.kubernetes.io/denylist-source-range",
                "10.0.0.0/33",
            ),
            (ALLOWLIST_SOURCE_RANGE, ""),
        ])));
        let keys: Vec<&str> = p.unenforced.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "nginx.ingress.kubernetes.io/auth-tls-verify-client",
                "nginx.ingress.kubernetes.io/configuration-snippet",
                "nginx.ingress.kubernetes.io/denylist-source-range",
                ALLOWLIST_SOURCE_RANGE,
            ]
        );
        assert!(p.settings.allow_from.is_none() && p.settings.deny_from.is_none());
        assert!(p.unenforced[1].reason.contains("never run"));
    }

    #[test]
    fn warns_about_unknown_and_foreign_annotations() {
        let p = parse(Some(&map(&[
            ("sluice.dev/rewrite", "/"),
            (
                "nginx.ingress.kubernetes.io/upstream-hash-by",
                "$request_uri",
            ),
            ("nginx.ingress.kubernetes.io/auth-cache-key", "$remote_user"),
            ("traefik.ingress.kubernetes.io/router.priority", "1"),
            ("example.com/owner", "team-a"),
        ])));
        assert!(p.errors.is_empty() && p.unenforced.is_empty());
        assert_eq!(p.warnings.len(), 4, "{:?}", p.warnings);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("upstream-hash-by is not implemented"))
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("auth-cache-key") && w.contains("every request"))
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("another ingress controller"))
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.starts_with("annotation sluice.dev/rewrite is not a Sluice annotation"))
        );
    }

    #[test]
    fn authentication_as_ingress_nginx_reads_it() {
        let p = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/auth-type", "basic"),
            ("nginx.ingress.kubernetes.io/auth-secret", "basic-auth"),
            (
                "nginx.ingress.kubernetes.io/auth-realm",
                "Authentication Required - foo",
            ),
            (
                "nginx.ingress.kubernetes.io/auth-url",
                "https://$host/oauth2/auth",
            ),
            (
                "nginx.ingress.kubernetes.io/auth-signin",
                "https://$host/oauth2/start",
            ),
            (
                "nginx.ingress.kubernetes.io/auth-response-headers",
                "X-Auth-Request-User",
            ),
        ])));
        assert!(p.errors.is_empty() && p.unenforced.is_empty(), "{p:?}");
        let basic = p.settings.basic_auth.expect("basic auth");
        assert_eq!(basic.secret, "basic-auth");
        assert_eq!(basic.realm, "Authentication Required - foo");
        let external = p.settings.external_auth.expect("external auth");
        assert_eq!(external.response_headers, ["X-Auth-Request-User"]);
        assert!(external.signin.is_some());

        // What cannot be enforced as written is refused, never dropped.
        for (key, value) in [
            ("nginx.ingress.kubernetes.io/auth-type", "digest"),
            ("nginx.ingress.kubernetes.io/auth-url", "auth.example"),
            (
                "nginx.ingress.kubernetes.io/auth-response-headers",
                "X User",
            ),
            ("nginx.ingress.kubernetes.io/auth-secret-type", "ldap"),
        ] {
            let p = parse(Some(&map(&[(key, value)])));
            assert_eq!(p.unenforced.len(), 1, "{key}: {p:?}");
        }
        let p = parse(Some(&map(&[(AUTH_TYPE, "basic")])));
        assert!(
            p.unenforced[0].reason.contains("needs auth-secret"),
            "{p:?}"
        );
        // A wrong realm only changes what a browser shows.
        let p = parse(Some(&map(&[(AUTH_REALM, "a\"b")])));
        assert!(p.unenforced.is_empty() && p.errors.len() == 1);
    }

    #[test]
    fn cookie_affinity() {
        let p = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/affinity", "cookie"),
            ("nginx.ingress.kubernetes.io/session-cookie-name", "route"),
            (
                "nginx.ingress.kubernetes.io/session-cookie-max-age",
                "172800",
            ),
            ("nginx.ingress.kubernetes.io/affinity-mode", "persistent"),
        ])));
        assert!(p.errors.is_empty() && p.warnings.is_empty(), "{p:?}");
        let a = p.settings.affinity.expect("affinity");
        assert_eq!((a.cookie.as_str(), a.max_age), ("route", Some(172800)));
        let p = parse(Some(&map(&[(SESSION_COOKIE_NAME, "route")])));
        assert!(p.settings.affinity.is_none());
        assert!(
            p.warnings[0].contains("no effect without affinity"),
            "{p:?}"
        );
        let p = parse(Some(&map(&[
            (AFFINITY, "ip"),
            (SESSION_COOKIE_MAX_AGE, "soon"),
        ])));
        assert_eq!(p.errors.len(), 2, "{p:?}");
    }

    #[test]
    fn force_ssl_redirect_and_send_timeout() {
        let p = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/force-ssl-redirect", "true"),
            ("nginx.ingress.kubernetes.io/proxy-send-timeout", "30"),
        ])));
        assert!(p.settings.force_ssl_redirect);
        assert_eq!(p.settings.send_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn backend_protocols_as_ingress_nginx_names_them() {
        let protocol = |v: &str| {
            let p = parse(Some(&map(&[(
                "nginx.ingress.kubernetes.io/backend-protocol",
                v,
            )])));
            (p.settings.backend_protocol, p.errors.len())
        };
        assert_eq!(protocol("https"), (BackendProtocol::Https, 0));
        assert_eq!(protocol("GRPCS"), (BackendProtocol::Grpcs, 0));
        assert_eq!(protocol("FCGI"), (BackendProtocol::Http, 1));
        assert_eq!(protocol("h3"), (BackendProtocol::Http, 1));
        let auto = BackendProtocol::AutoHttp;
        assert!(auto.tls(true) && !auto.tls(false) && !auto.http2());
        assert!(BackendProtocol::Grpc.http2() && !BackendProtocol::Grpc.tls(true));
        assert!(!BackendProtocol::Grpcs.is_plain_http(false));
        assert!(BackendProtocol::Http.is_plain_http(true));
    }

    #[test]
    fn rewrites_and_regex_paths() {
        let p = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/rewrite-target", "/$2"),
            ("nginx.ingress.kubernetes.io/x-forwarded-prefix", "/shop"),
            ("nginx.ingress.kubernetes.io/use-regex", "true"),
        ])));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert!(p.settings.use_regex);
        assert_eq!(p.settings.rewrite.as_ref().unwrap().text, "/$2");
        assert_eq!(p.settings.forwarded_prefix.as_deref(), Some("/shop"));
        let bad = parse(Some(&map(&[
            ("nginx.ingress.kubernetes.io/rewrite-target", "/$host"),
            (USE_REGEX, "yes"),
        ])));
        assert_eq!(bad.errors.len(), 2, "{:?}", bad.errors);

        // Which paths are regular expressions (ingress-nginx's rule).
        let regex = |pairs: &[(&str, &str)], path: &str| {
            RegexPaths::of(Some(&map(pairs))).is_regex(Some(path))
        };
        assert!(regex(&[(USE_REGEX, "true")], "/a"));
        assert!(!regex(&[(USE_REGEX, "false")], "/a"));
        assert!(regex(
            &[("nginx.ingress.kubernetes.io/rewrite-target", "/")],
            "/a"
        ));
        // A target equal to the path rewrites nothing and changes nothing.
        assert!(!regex(&[(REWRITE_TARGET, "/")], "/"));
        // An unreadable target is reported and counts as unset.
        assert!(!regex(&[(REWRITE_TARGET, "/$x")], "/a"));
        // Sluice's own wins over ingress-nginx's.
        assert!(!regex(
            &[
                (USE_REGEX, "false"),
                ("nginx.ingress.kubernetes.io/use-regex", "true")
            ],
            "/a"
        ));
    }

    #[test]
    fn routing_annotations_are_ours_ingress_nginx_s_and_the_class() {
        let all = map(&[
            (SSL_REDIRECT, "false"),
            (READ_TIMEOUT, "5s"),
            (LEGACY_CLASS_ANNOTATION, "sluice"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("example.com/owner", "team-a"),
        ]);
        let keys: Vec<&str> = routing(Some(&all)).map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                LEGACY_CLASS_ANNOTATION,
                "nginx.ingress.kubernetes.io/ssl-redirect",
                READ_TIMEOUT,
                SSL_REDIRECT
            ]
        );
        for key in KNOWN {
            assert_eq!(routing(Some(&map(&[(key, "1s")]))).count(), 1, "{key}");
        }
        assert_eq!(routing(None).count(), 0);
    }

    #[test]
    fn sizes_as_nginx_writes_them() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("8k"), Ok(8 << 10));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        for bad in ["", "m", "1.5m", "-1", "1t", "1 m", "99999999999999999999g"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
