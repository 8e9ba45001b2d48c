//! Leader election with a coordination.k8s.io Lease. kube-rs has none built in, and the
//! protocol is small: take the Lease when it is free or expired, renew it well before it
//! expires, step down when renewing fails for longer than the lease lasts. Every write is
//! a compare-and-swap on the Lease's resourceVersion, so two candidates cannot both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::{Client, Error};
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This candidate's identity (pod name + a random suffix).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
}

/// What a candidate should do after looking at the Lease: a pure decision, for testing.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// We hold it (or it is free or expired): write ourselves in.
    Take,
    /// Someone else holds a live Lease.
    Wait,
}

pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Step {
    let Some(spec) = spec else { return Step::Take };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == identity {
        return Step::Take;
    }
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(secs)) => renewed.0 + SignedDuration::from_secs(secs.into()) < now,
        _ => true,
    };
    if expired { Step::Take } else { Step::Wait }
}

/// Runs for ever, publishing `true` on `leading` while this candidate holds the Lease.
pub async fn run(client: Client, config: LeaseConfig, leading: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        let result = try_acquire_or_renew(&api, &config).await;
        let is_leader = match result {
            Ok(held) => {
                if held {
                    last_renewal = tokio::time::Instant::now();
                }
                held
            }
            Err(error) => {
                tracing::warn!(%error, lease = %config.name, "lease update failed");
                // Keep leading through short API hiccups, but never past the lease's end.
                *leading.borrow() && last_renewal.elapsed() < config.lease_duration
            }
        };
        if is_leader != *leading.borrow() {
            tracing::info!(identity = %config.identity, leading = is_leader, "leadership changed");
            leading.send_replace(is_leader);
        }
        let wait = if is_leader {
            config.renew_every
        } else {
            config.renew_every.min(Duration::from_secs(2))
        };
        tokio::time::sleep(wait).await;
    }
}

async fn try_acquire_or_renew(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, Error> {
    let now = Timestamp::now();
    let duration = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    match api.get_opt(&config.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(config.identity.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            if decide(lease.spec.as_ref(), &config.identity, now) == Step::Wait {
                return Ok(false);
            }
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
                spec.holder_identity = Some(config.identity.clone());
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(duration);
            swap(api, &config.name, &lease).await
        }
    }
}

/// Gives the Lease up if this candidate holds it, so that a successor takes over at once
/// instead of waiting for it to expire. `true` when it was released.
pub async fn release(client: Client, config: &LeaseConfig) -> Result<bool, Error> {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(false);
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(false);
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(false);
    }
    // An empty holder is free to take (see `decide`).
    spec.holder_identity = None;
    swap(&api, &config.name, &lease).await
}

/// Writes `lease` back with the resourceVersion it was read with: a compare-and-swap.
/// `false` when someone else wrote it since.
async fn swap(api: &Api<Lease>, name: &str, lease: &Lease) -> Result<bool, Error> {
    match api.replace(name, &PostParams::default(), lease).await {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Api(status) if status.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(
                Timestamp::now() - SignedDuration::from_secs(renewed_secs_ago),
            )),
            lease_duration_seconds: Some(duration),
            ..Default::default()
        }
    }

    #[test]
    fn takes_free_own_or_expired_leases_only() {
        let now = Timestamp::now();
        assert_eq!(decide(None, "me", now), Step::Take);
        assert_eq!(decide(Some(&LeaseSpec::default()), "me", now), Step::Take);
        assert_eq!(decide(Some(&spec("me", 5, 15)), "me", now), Step::Take);
        assert_eq!(decide(Some(&spec("other", 5, 15)), "me", now), Step::Wait);
        assert_eq!(decide(Some(&spec("other", 20, 15)), "me", now), Step::Take);
    }
}
