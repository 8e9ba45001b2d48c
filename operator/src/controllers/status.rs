//! The status of an IngressClassParams: a pure function of what the reconciler saw.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sluice_crds::params::{IngressClassParamsStatus, ServiceType};

/// What one reconcile found.
#[derive(Debug, Default)]
pub struct Observed<'a> {
    pub generation: Option<i64>,
    /// `Err(message)`: the params cannot be used.
    pub accepted: Option<Result<(), String>>,
    /// Why the fleet is not as declared (node ports taken, an apply refused).
    pub degraded: Vec<String>,
    /// The proxy pods' workload, once applied.
    pub rollout: Option<Rollout>,
    pub service: Option<&'a Service>,
}

/// How many proxy pods the workload wants, and how many are available.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rollout {
    pub wanted: i32,
    pub available: i32,
}

impl Rollout {
    pub fn of_deployment(d: &Deployment) -> Self {
        Self {
            wanted: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            available: d
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0),
        }
    }

    /// A DaemonSet wants one pod per node it may run on.
    pub fn of_daemon_set(d: &DaemonSet) -> Self {
        let status = d.status.as_ref();
        Self {
            wanted: status.map_or(0, |s| s.desired_number_scheduled),
            available: status.and_then(|s| s.number_available).unwrap_or(0),
        }
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// The status to write. Conditions keep their `lastTransitionTime` from `previous` while
/// their status stays the same, so an unchanged state yields an identical status.
pub fn status(
    observed: &Observed<'_>,
    previous: Option<&IngressClassParamsStatus>,
    now: Time,
) -> IngressClassParamsStatus {
    let g = observed.generation;
    let mut conditions = Vec::new();
    let accepted = observed.accepted.clone().unwrap_or(Ok(()));
    conditions.push(match &accepted {
        Ok(()) => condition(
            "Accepted",
            true,
            "Accepted",
            "the parameters are valid".into(),
            g,
            &now,
        ),
        Err(message) => condition(
            "Accepted",
            false,
            "InvalidParameters",
            message.clone(),
            g,
            &now,
        ),
    });

    let rollout = observed.rollout.unwrap_or_default();
    let (spec_replicas, available) = (rollout.wanted, rollout.available);
    let ready = accepted.is_ok()
        && observed.rollout.is_some()
        && available >= spec_replicas
        && spec_replicas > 0;
    let ready_message = format!("{available}/{spec_replicas} proxy replicas available");
    conditions.push(if ready {
        condition(
            "Ready",
            true,
            "ReplicasAvailable",
            ready_message.clone(),
            g,
            &now,
        )
    } else if accepted.is_err() {
        condition(
            "Ready",
            false,
            "InvalidParameters",
            "the fleet is not updated until the parameters are valid".into(),
            g,
            &now,
        )
    } else {
        condition(
            "Ready",
            false,
            "ReplicasUnavailable",
            ready_message.clone(),
            g,
            &now,
        )
    });

    conditions.push(if observed.degraded.is_empty() {
        condition(
            "Degraded",
            false,
            "AsExpected",
            "the fleet is as declared".into(),
            g,
            &now,
        )
    } else {
        condition(
            "Degraded",
            true,
            "NotAsDeclared",
            observed.degraded.join("; "),
            g,
            &now,
        )
    });

    // Keep transition times of conditions whose status did not change.
    if let Some(previous) = previous.and_then(|p| p.conditions.as_ref()) {
        for c in &mut conditions {
            if let Some(old) = previous
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == c.status)
            {
                c.last_transition_time = old.last_transition_time.clone();
            }
        }
    }

    let spec = observed.service.and_then(|s| s.spec.as_ref());
    let node_port = |name: &str| {
        spec.and_then(|s| s.ports.as_ref())
            .and_then(|ports| ports.iter().find(|p| p.name.as_deref() == Some(name)))
            .and_then(|p| p.node_port)
    };
    let service_type = spec.and_then(|s| s.type_.as_deref()).and_then(|t| match t {
        "NodePort" => Some(ServiceType::NodePort),
        "LoadBalancer" => Some(ServiceType::LoadBalancer),
        "ClusterIP" => Some(ServiceType::ClusterIp),
        _ => None,
    });
    let message = match (&accepted, observed.degraded.first()) {
        (Err(m), _) => m.clone(),
        (Ok(()), Some(_)) => observed.degraded.join("; "),
        (Ok(()), None) => ready_message,
    };
    IngressClassParamsStatus {
        conditions: Some(conditions),
        observed_generation: g,
        service_type,
        http_node_port: node_port("http"),
        https_node_port: node_port("https"),
        replicas: observed.rollout.map(|r| r.wanted),
        ready_replicas: observed.rollout.map(|r| r.available),
        message: Some(message),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now(s: &str) -> Time {
        serde_json::from_value(json!(s)).unwrap()
    }

    #[test]
    fn reports_ports_readiness_and_degradation() {
        let deployment: Deployment = serde_json::from_value(json!({
            "spec": { "replicas": 2, "selector": {}, "template": {} },
            "status": { "availableReplicas": 1 }
        }))
        .unwrap();
        let service: Service = serde_json::from_value(json!({
            "spec": { "type": "NodePort", "ports": [
                { "name": "http", "port": 80, "nodePort": 30080 },
                { "name": "https", "port": 443, "nodePort": 30443 }
            ]}
        }))
        .unwrap();
        let observed = Observed {
            generation: Some(4),
            accepted: Some(Ok(())),
            degraded: vec!["httpNodePort 30080 is already allocated to Service web/other".into()],
            rollout: Some(Rollout::of_deployment(&deployment)),
            service: Some(&service),
        };
        let s = status(&observed, None, now("2025-01-01T00:00:00Z"));
        assert_eq!(s.http_node_port, Some(30080));
        assert_eq!(s.https_node_port, Some(30443));
        assert_eq!(s.observed_generation, Some(4));
        let c = s.conditions.as_ref().unwrap();
        assert_eq!(
            (c[0].type_.as_str(), c[0].status.as_str()),
            ("Accepted", "True")
        );
        assert_eq!(
            (
                c[1].type_.as_str(),
                c[1].status.as_str(),
                c[1].message.as_str()
            ),
            ("Ready", "False", "1/2 proxy replicas available")
        );
        assert_eq!(
            (c[2].type_.as_str(), c[2].status.as_str()),
            ("Degraded", "True")
        );
        assert!(c[2].message.contains("Service web/other"));

        // The same observation later gives an identical status: nothing to write.
        let again = status(&observed, Some(&s), now("2025-06-01T00:00:00Z"));
        assert_eq!(again, s);
    }

    #[test]
    fn invalid_params_are_a_condition() {
        let observed = Observed {
            generation: Some(1),
            accepted: Some(Err("spec.upstream.readTimeout: must be a duration".into())),
            ..Default::default()
        };
        let s = status(&observed, None, now("2025-01-01T00:00:00Z"));
        let c = s.conditions.unwrap();
        assert_eq!(
            (c[0].status.as_str(), c[0].reason.as_str()),
            ("False", "InvalidParameters")
        );
        assert_eq!(c[1].reason, "InvalidParameters");
        assert_eq!(
            s.message.as_deref(),
            Some("spec.upstream.readTimeout: must be a duration")
        );
    }
}
