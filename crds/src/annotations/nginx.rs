//! ingress-nginx's annotations (`nginx.ingress.kubernetes.io/...`) and what Sluice does with
//! each: one table, read by the admission webhook, the proxy's compiler and the docs.
//!
//! The rule that matters most: an annotation that restricts who may reach a route is never
//! dropped silently. Switching an Ingress with `auth-url` to Sluice must not publish it
//! without its login, so what Sluice cannot enforce is refused at admission and, if the
//! webhook was bypassed, its routes answer 503 instead of the backend.

pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// What Sluice does with an ingress-nginx annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Read with the same meaning as the Sluice annotation named; Sluice's own wins when
    /// both are set.
    Same(&'static str),
    /// Restricts access, and Sluice does not enforce it yet: refused, never served open.
    AccessControl,
    /// nginx configuration text. Never run; refused, since it may carry access rules. The
    /// text says what to use instead.
    Snippet(&'static str),
    /// Not implemented; ignored with a warning. The text, when not empty, is advice.
    Ignored(&'static str),
}

use super::{
    AFFINITY, AFFINITY_MODE, ALLOWLIST_SOURCE_RANGE, APP_ROOT, AUTH_ALWAYS_SET_COOKIE, AUTH_METHOD,
    AUTH_REALM, AUTH_REQUEST_REDIRECT, AUTH_RESPONSE_HEADERS, AUTH_SECRET, AUTH_SECRET_TYPE,
    AUTH_SIGNIN, AUTH_SIGNIN_REDIRECT_PARAM, AUTH_TYPE, AUTH_URL, BACKEND_PROTOCOL, CANARY,
    CANARY_BY_COOKIE, CANARY_BY_HEADER, CANARY_BY_HEADER_PATTERN, CANARY_BY_HEADER_VALUE,
    CANARY_WEIGHT, CANARY_WEIGHT_TOTAL, CONNECT_TIMEOUT, CORS_ALLOW_CREDENTIALS,
    CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_ALLOW_ORIGIN, CORS_EXPOSE_HEADERS, CORS_MAX_AGE,
    CUSTOM_HEADERS, CUSTOM_HTTP_ERRORS, DEFAULT_BACKEND, DENYLIST_SOURCE_RANGE, ENABLE_CORS,
    FORCE_SSL_REDIRECT, LIMIT_ALLOWLIST, LIMIT_BURST_MULTIPLIER, LIMIT_CONNECTIONS, LIMIT_RPM,
    LIMIT_RPS, PERMANENT_REDIRECT, PERMANENT_REDIRECT_CODE, PROXY_BODY_SIZE, READ_TIMEOUT,
    REWRITE_TARGET, SEND_TIMEOUT, SESSION_COOKIE_CHANGE_ON_FAILURE, SESSION_COOKIE_DOMAIN,
    SESSION_COOKIE_EXPIRES, SESSION_COOKIE_MAX_AGE, SESSION_COOKIE_NAME, SESSION_COOKIE_PATH,
    SESSION_COOKIE_SAMESITE, SESSION_COOKIE_SECURE, SSL_REDIRECT, TEMPORAL_REDIRECT,
    TEMPORAL_REDIRECT_CODE, UPSTREAM_VHOST, USE_REGEX, X_FORWARDED_PREFIX,
};

/// The annotations with a support other than plain [`Support::Ignored`], by their name
/// after [`PREFIX`].
const TABLE: &[(&str, Support)] = &[
    ("ssl-redirect", Support::Same(SSL_REDIRECT)),
    ("proxy-connect-timeout", Support::Same(CONNECT_TIMEOUT)),
    ("proxy-read-timeout", Support::Same(READ_TIMEOUT)),
    (
        "whitelist-source-range",
        Support::Same(ALLOWLIST_SOURCE_RANGE),
    ),
    (
        "allowlist-source-range",
        Support::Same(ALLOWLIST_SOURCE_RANGE),
    ),
    (
        "denylist-source-range",
        Support::Same(DENYLIST_SOURCE_RANGE),
    ),
    ("permanent-redirect", Support::Same(PERMANENT_REDIRECT)),
    (
        "permanent-redirect-code",
        Support::Same(PERMANENT_REDIRECT_CODE),
    ),
    ("temporal-redirect", Support::Same(TEMPORAL_REDIRECT)),
    (
        "temporal-redirect-code",
        Support::Same(TEMPORAL_REDIRECT_CODE),
    ),
    ("app-root", Support::Same(APP_ROOT)),
    ("proxy-body-size", Support::Same(PROXY_BODY_SIZE)),
    ("use-regex", Support::Same(USE_REGEX)),
    ("rewrite-target", Support::Same(REWRITE_TARGET)),
    ("x-forwarded-prefix", Support::Same(X_FORWARDED_PREFIX)),
    ("enable-cors", Support::Same(ENABLE_CORS)),
    ("cors-allow-origin", Support::Same(CORS_ALLOW_ORIGIN)),
    ("cors-allow-methods", Support::Same(CORS_ALLOW_METHODS)),
    ("cors-allow-headers", Support::Same(CORS_ALLOW_HEADERS)),
    (
        "cors-allow-credentials",
        Support::Same(CORS_ALLOW_CREDENTIALS),
    ),
    ("cors-max-age", Support::Same(CORS_MAX_AGE)),
    ("cors-expose-headers", Support::Same(CORS_EXPOSE_HEADERS)),
    ("limit-rps", Support::Same(LIMIT_RPS)),
    ("limit-rpm", Support::Same(LIMIT_RPM)),
    ("limit-connections", Support::Same(LIMIT_CONNECTIONS)),
    (
        "limit-burst-multiplier",
        Support::Same(LIMIT_BURST_MULTIPLIER),
    ),
    ("limit-allowlist", Support::Same(LIMIT_ALLOWLIST)),
    ("limit-whitelist", Support::Same(LIMIT_ALLOWLIST)),
    ("upstream-vhost", Support::Same(UPSTREAM_VHOST)),
    ("backend-protocol", Support::Same(BACKEND_PROTOCOL)),
    ("canary", Support::Same(CANARY)),
    ("canary-by-header", Support::Same(CANARY_BY_HEADER)),
    (
        "canary-by-header-value",
        Support::Same(CANARY_BY_HEADER_VALUE),
    ),
    (
        "canary-by-header-pattern",
        Support::Same(CANARY_BY_HEADER_PATTERN),
    ),
    ("canary-by-cookie", Support::Same(CANARY_BY_COOKIE)),
    ("canary-weight", Support::Same(CANARY_WEIGHT)),
    ("canary-weight-total", Support::Same(CANARY_WEIGHT_TOTAL)),
    ("force-ssl-redirect", Support::Same(FORCE_SSL_REDIRECT)),
    ("proxy-send-timeout", Support::Same(SEND_TIMEOUT)),
    // Authentication.
    ("auth-type", Support::Same(AUTH_TYPE)),
    ("auth-secret", Support::Same(AUTH_SECRET)),
    ("auth-secret-type", Support::Same(AUTH_SECRET_TYPE)),
    ("auth-realm", Support::Same(AUTH_REALM)),
    ("auth-url", Support::Same(AUTH_URL)),
    ("auth-method", Support::Same(AUTH_METHOD)),
    ("auth-signin", Support::Same(AUTH_SIGNIN)),
    (
        "auth-signin-redirect-param",
        Support::Same(AUTH_SIGNIN_REDIRECT_PARAM),
    ),
    (
        "auth-response-headers",
        Support::Same(AUTH_RESPONSE_HEADERS),
    ),
    (
        "auth-request-redirect",
        Support::Same(AUTH_REQUEST_REDIRECT),
    ),
    (
        "auth-always-set-cookie",
        Support::Same(AUTH_ALWAYS_SET_COOKIE),
    ),
    ("custom-headers", Support::Same(CUSTOM_HEADERS)),
    ("custom-http-errors", Support::Same(CUSTOM_HTTP_ERRORS)),
    ("default-backend", Support::Same(DEFAULT_BACKEND)),
    ("affinity", Support::Same(AFFINITY)),
    ("affinity-mode", Support::Same(AFFINITY_MODE)),
    ("session-cookie-name", Support::Same(SESSION_COOKIE_NAME)),
    ("session-cookie-path", Support::Same(SESSION_COOKIE_PATH)),
    (
        "session-cookie-domain",
        Support::Same(SESSION_COOKIE_DOMAIN),
    ),
    (
        "session-cookie-max-age",
        Support::Same(SESSION_COOKIE_MAX_AGE),
    ),
    (
        "session-cookie-expires",
        Support::Same(SESSION_COOKIE_EXPIRES),
    ),
    (
        "session-cookie-secure",
        Support::Same(SESSION_COOKIE_SECURE),
    ),
    (
        "session-cookie-samesite",
        Support::Same(SESSION_COOKIE_SAMESITE),
    ),
    (
        "session-cookie-change-on-failure",
        Support::Same(SESSION_COOKIE_CHANGE_ON_FAILURE),
    ),
    // More headers on the auth request, from a ConfigMap: an auth service may rely on them.
    ("auth-proxy-set-headers", Support::AccessControl),
    (
        "auth-cache-key",
        Support::Ignored("Sluice asks the auth service about every request"),
    ),
    (
        "auth-cache-duration",
        Support::Ignored("Sluice asks the auth service about every request"),
    ),
    (
        "auth-keepalive",
        Support::Ignored("Sluice keeps connections to the auth service alive anyway"),
    ),
    (
        "auth-keepalive-requests",
        Support::Ignored("Sluice keeps connections to the auth service alive anyway"),
    ),
    (
        "auth-keepalive-share-vars",
        Support::Ignored("Sluice keeps connections to the auth service alive anyway"),
    ),
    (
        "auth-keepalive-timeout",
        Support::Ignored("Sluice keeps connections to the auth service alive anyway"),
    ),
    // Client certificates.
    ("auth-tls-secret", Support::AccessControl),
    ("auth-tls-verify-client", Support::AccessControl),
    ("auth-tls-verify-depth", Support::AccessControl),
    ("auth-tls-error-page", Support::AccessControl),
    (
        "auth-tls-pass-certificate-to-upstream",
        Support::AccessControl,
    ),
    ("auth-tls-match-cn", Support::AccessControl),
    ("satisfy", Support::AccessControl),
    // Configuration text.
    (
        "configuration-snippet",
        Support::Snippet("set headers with the Ingress's own annotations, not nginx directives"),
    ),
    (
        "server-snippet",
        Support::Snippet("set headers with the Ingress's own annotations, not nginx directives"),
    ),
    (
        "auth-snippet",
        Support::Snippet("Sluice has no nginx auth module to configure"),
    ),
    (
        "stream-snippet",
        Support::Snippet("Sluice proxies HTTP only"),
    ),
    (
        "modsecurity-snippet",
        Support::Snippet("Sluice has no web application firewall"),
    ),
];

/// What Sluice does with `key`, an annotation starting with [`PREFIX`]; `None` for any
/// other key.
pub fn support(key: &str) -> Option<Support> {
    let name = key.strip_prefix(PREFIX)?;
    Some(
        TABLE
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Support::Ignored(""), |(_, s)| *s),
    )
}

/// The annotations that are older names of others, and those others: ingress-nginx reads
/// an older name only when the newer one is not set.
const OLDER_NAMES: [(&str, &str); 2] = [
    ("whitelist-source-range", "allowlist-source-range"),
    ("limit-whitelist", "limit-allowlist"),
];

/// The newer name of `key` (full), when `key` is an older one.
pub fn newer_name(key: &str) -> Option<String> {
    let name = key.strip_prefix(PREFIX)?;
    OLDER_NAMES
        .iter()
        .find(|(older, _)| *older == name)
        .map(|(_, newer)| format!("{PREFIX}{newer}"))
}

/// Every entry of the table, for docs and reports.
pub fn table() -> impl Iterator<Item = (String, Support)> {
    TABLE.iter().map(|(n, s)| (format!("{PREFIX}{n}"), *s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_by_the_full_key() {
        assert_eq!(
            support("nginx.ingress.kubernetes.io/ssl-redirect"),
            Some(Support::Same(SSL_REDIRECT))
        );
        assert_eq!(
            support("nginx.ingress.kubernetes.io/auth-url"),
            Some(Support::Same(AUTH_URL))
        );
        assert_eq!(
            support("nginx.ingress.kubernetes.io/auth-tls-secret"),
            Some(Support::AccessControl)
        );
        assert_eq!(
            support("nginx.ingress.kubernetes.io/rewrite-target"),
            Some(Support::Same(REWRITE_TARGET))
        );
        assert_eq!(
            support("nginx.ingress.kubernetes.io/upstream-hash-by"),
            Some(Support::Ignored(""))
        );
        assert_eq!(support("sluice.dev/ssl-redirect"), None);
        assert_eq!(support("ssl-redirect"), None);
    }

    #[test]
    fn every_name_appears_once() {
        let mut names: Vec<&str> = TABLE.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len);
    }
}
