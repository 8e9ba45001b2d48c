//! The status of a GatewayClass of Sluice's: a pure function of what the reconciler found.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::gateway::attach::Outcome;
use sluice_crds::gateway::attach::conditions::conditions;
use sluice_crds::gateway::attach::reasons::{condition, gateway_class};
use sluice_crds::gateway::class::{SUPPORTED_FEATURES, supports_bundle_version};
use sluice_crds::gateway_api::BUNDLE_VERSION;
use sluice_crds::gateway_api::gatewayclasses::{
    GatewayClassStatus, GatewayClassStatusSupportedFeatures,
};

/// What one reconcile found.
#[derive(Debug, Default)]
pub struct Observed {
    pub generation: Option<i64>,
    /// Why `spec.parametersRef` names nothing Sluice can use, if it does not.
    pub invalid_parameters: Option<String>,
    /// Each Gateway API CRD Sluice reads, with its `bundle-version` (`None`: missing, or
    /// without the annotation).
    pub crd_versions: Vec<(String, Option<String>)>,
}

/// The status to write. Conditions keep their `lastTransitionTime` while they say the same
/// ([`conditions`]), so an unchanged class yields an identical status: nothing to write.
pub fn status(
    observed: &Observed,
    previous: Option<&GatewayClassStatus>,
    now: Time,
) -> GatewayClassStatus {
    let accepted = match &observed.invalid_parameters {
        None => Outcome::yes(
            gateway_class::ACCEPTED,
            "Sluice serves the Gateways of this class",
        ),
        Some(why) => Outcome::no(gateway_class::INVALID_PARAMETERS, why.clone()),
    };
    // Best effort on other releases, as the spec allows: accepted, but said.
    let unsupported: Vec<String> = observed
        .crd_versions
        .iter()
        .filter(|(_, version)| !version.as_deref().is_some_and(supports_bundle_version))
        .map(|(crd, version)| {
            format!(
                "{crd} {}",
                version.as_deref().unwrap_or("(no bundle-version)")
            )
        })
        .collect();
    let supported_version = if unsupported.is_empty() {
        Outcome::yes(
            gateway_class::SUPPORTED_VERSION,
            format!(
                "the Gateway API CRDs are a release Sluice supports (v1.6.x; built with {BUNDLE_VERSION})"
            ),
        )
    } else {
        Outcome::no(
            gateway_class::UNSUPPORTED_VERSION,
            format!(
                "Sluice supports Gateway API v1.6.x; found {}",
                unsupported.join(", ")
            ),
        )
    };
    let previous = previous
        .and_then(|p| p.conditions.as_deref())
        .unwrap_or_default();
    GatewayClassStatus {
        conditions: Some(conditions(
            [
                (condition::ACCEPTED, &accepted),
                (condition::SUPPORTED_VERSION, &supported_version),
            ],
            observed.generation,
            previous,
            &now,
        )),
        supported_features: Some(
            SUPPORTED_FEATURES
                .iter()
                .map(|name| GatewayClassStatusSupportedFeatures {
                    name: (*name).into(),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    use super::*;

    fn at(s: &str) -> Time {
        serde_json::from_value(json!(s)).unwrap()
    }

    fn crds(version: &str) -> Vec<(String, Option<String>)> {
        sluice_crds::gateway::class::CRDS
            .iter()
            .map(|c| (c.to_string(), Some(version.to_string())))
            .collect()
    }

    fn find<'a>(s: &'a GatewayClassStatus, type_: &str) -> &'a Condition {
        s.conditions
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.type_ == type_))
            .unwrap()
    }

    #[test]
    fn a_class_with_supported_crds_is_accepted_with_its_features() {
        let observed = Observed {
            generation: Some(3),
            invalid_parameters: None,
            crd_versions: crds("v1.6.3"),
        };
        let s = status(&observed, None, at("2026-01-01T00:00:00Z"));
        let accepted = find(&s, "Accepted");
        assert_eq!(
            (accepted.status.as_str(), accepted.reason.as_str()),
            ("True", "Accepted")
        );
        assert_eq!(accepted.observed_generation, Some(3));
        let version = find(&s, "SupportedVersion");
        assert_eq!(
            (version.status.as_str(), version.reason.as_str()),
            ("True", "SupportedVersion")
        );
        let features: Vec<&str> = s
            .supported_features
            .iter()
            .flatten()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(features, SUPPORTED_FEATURES);
    }

    #[test]
    fn other_releases_are_served_best_effort_and_said() {
        let mut versions = crds("v1.6.3");
        versions[2].1 = Some("v1.7.0".into());
        versions[3].1 = None;
        let s = status(
            &Observed {
                crd_versions: versions,
                ..Default::default()
            },
            None,
            at("2026-01-01T00:00:00Z"),
        );
        assert_eq!(find(&s, "Accepted").status, "True");
        let version = find(&s, "SupportedVersion");
        assert_eq!(
            (version.status.as_str(), version.reason.as_str()),
            ("False", "UnsupportedVersion")
        );
        assert!(
            version
                .message
                .contains("httproutes.gateway.networking.k8s.io v1.7.0"),
            "{}",
            version.message
        );
        assert!(
            version
                .message
                .contains("grpcroutes.gateway.networking.k8s.io (no bundle-version)"),
            "{}",
            version.message
        );
    }

    #[test]
    fn unusable_parameters_are_not_accepted() {
        let observed = Observed {
            invalid_parameters: Some(
                "parametersRef: IngressClassParams edge does not exist".into(),
            ),
            crd_versions: crds("v1.6.3"),
            ..Default::default()
        };
        let s = status(&observed, None, at("2026-01-01T00:00:00Z"));
        let accepted = find(&s, "Accepted");
        assert_eq!(
            (accepted.status.as_str(), accepted.reason.as_str()),
            ("False", "InvalidParameters")
        );
        assert!(accepted.message.contains("edge does not exist"));
    }

    #[test]
    fn the_same_findings_later_give_the_same_status() {
        let observed = Observed {
            generation: Some(1),
            invalid_parameters: None,
            crd_versions: crds("v1.6.3"),
        };
        let first = status(&observed, None, at("2026-01-01T00:00:00Z"));
        let again = status(&observed, Some(&first), at("2026-06-01T00:00:00Z"));
        assert_eq!(again, first);
        // A change of status is a transition: its time moves.
        let broken = Observed {
            invalid_parameters: Some("gone".into()),
            ..observed
        };
        let after = status(&broken, Some(&first), at("2026-06-01T00:00:00Z"));
        assert_eq!(
            find(&after, "Accepted").last_transition_time,
            at("2026-06-01T00:00:00Z")
        );
        assert_eq!(
            find(&after, "SupportedVersion").last_transition_time,
            at("2026-01-01T00:00:00Z")
        );
    }
}
