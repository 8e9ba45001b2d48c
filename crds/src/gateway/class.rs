//! What Sluice says of itself to Gateway API: the controller name its GatewayClasses carry,
//! the Gateway API releases it supports, and the features it claims. The operator writes
//! them into each GatewayClass's status, and the conformance runner hands the same list to
//! the upstream suite, so the two cannot disagree.

/// The default `spec.controllerName` of the GatewayClasses Sluice serves.
pub const CONTROLLER_NAME: &str = "sluice.dev/gateway-controller";

/// The annotation every Gateway API CRD carries with its release.
pub const BUNDLE_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";

/// The CRDs whose release decides `SupportedVersion`: the kinds Sluice reads.
pub const CRDS: &[&str] = &[
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "grpcroutes.gateway.networking.k8s.io",
    "referencegrants.gateway.networking.k8s.io",
];

/// The conformance features Sluice claims, in the suite's spelling, sorted: the core of
/// GATEWAY-HTTP (Gateway, HTTPRoute, ReferenceGrant) and GATEWAY-GRPC (GRPCRoute), and the
/// extended features whose every test passes (docs/conformance/). A feature is listed only once every test of it passes.
pub const SUPPORTED_FEATURES: &[&str] = &[
    "GRPCRoute",
    "Gateway",
    "GatewayAddressEmpty",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GatewayPort8080",
    "HTTPRoute",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteBackendRequestHeaderModification",
    "HTTPRouteBackendTimeout",
    "HTTPRouteCORS",
    "HTTPRouteDestinationPortMatching",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRouteNamedRouteRule",
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteSchemeRedirect",
    "ReferenceGrant",
];

/// Whether Sluice supports a CRD of this `bundle-version`: the v1.6 releases, whose schema
/// its types come from (patch releases change no schema).
pub fn supports_bundle_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix("v1.6.") else {
        return false;
    };
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_v1_6_releases_are_supported() {
        for ok in ["v1.6.0", "v1.6.3", "v1.6.12"] {
            assert!(supports_bundle_version(ok), "{ok}");
        }
        for no in [
            "v1.5.1",
            "v1.7.0",
            "v1.6",
            "v1.6.",
            "v1.6.0-rc1",
            "1.6.3",
            "",
        ] {
            assert!(!supports_bundle_version(no), "{no}");
        }
    }

    #[test]
    fn the_features_are_sorted_and_unique() {
        let mut sorted = SUPPORTED_FEATURES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, SUPPORTED_FEATURES);
    }

    #[test]
    fn the_supported_release_includes_the_one_generated() {
        assert!(supports_bundle_version(crate::gateway_api::BUNDLE_VERSION));
    }
}
