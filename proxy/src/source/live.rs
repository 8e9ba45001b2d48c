//! Settings that change without a restart: the log level and the access log, read from the
//! IngressClassParams the proxy's IngressClass names. The flags give the values in force
//! until the params are read, and again if the class stops naming params.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::IngressClass;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use sluice_common::telemetry::LogLevelControl;
use sluice_crds::params::{IngressClassParams, LoggingParams, ResolvedLogging, referenced_params};

use crate::state::State;

/// How often the class is looked at again for a change of the params it names (a lookup in
/// the local store, no API call); a change of the params themselves applies at once.
const RECHECK: Duration = Duration::from_secs(5);

/// The logging settings for `class`: from the params it names, if they exist, else `None`.
pub fn logging_of(
    class: Option<&IngressClass>,
    params: &Store<IngressClassParams>,
) -> Option<ResolvedLogging> {
    let name = referenced_params(class?)?;
    let params = params.get(&reflector::ObjectRef::new(name))?;
    Some(LoggingParams::resolve(params.spec.logging.as_ref()))
}

/// What is applied: the level as a filter directive and the access log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Live {
    pub level: &'static str,
    pub access_log: sluice_crds::params::ResolvedAccessLog,
}

impl Live {
    fn from_logging(logging: &ResolvedLogging) -> Self {
        Self {
            level: logging.level.as_str(),
            access_log: logging.access_log,
        }
    }
}

/// Follows the params of `class_name` until cancelled, applying their logging settings;
/// `flags` are the settings to fall back to.
pub async fn follow(
    client: Client,
    class_name: String,
    classes: Store<IngressClass>,
    state: Arc<State>,
    level: LogLevelControl,
    flags: Live,
) {
    let (params, writer) = reflector::store();
    let mut events = watcher(Api::<IngressClassParams>::all(client), Default::default())
        .backoff(super::kubernetes::retry_schedule())
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .boxed();
    let mut recheck = tokio::time::interval(RECHECK);
    let mut applied = flags;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(_)) => {}
                // Without read access to the params (an older chart's RBAC), the flags stay
                // in force; the watcher retries with backoff.
                Some(Err(error)) => {
                    tracing::debug!(%error, "cannot watch IngressClassParams; logging settings stay as they are");
                    continue;
                }
                None => return,
            },
            _ = recheck.tick() => {}
        }
        let class = classes.get(&reflector::ObjectRef::new(&class_name));
        let wanted = logging_of(class.as_deref(), &params)
            .map_or(flags, |logging| Live::from_logging(&logging));
        if wanted == applied {
            continue;
        }
        match level.set(wanted.level) {
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot change the log level")
            }
        }
        state.access_log.set(wanted.access_log);
        tracing::info!(
            level = wanted.level,
            access_log = wanted.access_log.enabled,
            access_log_sampling_ratio = wanted.access_log.sampling_ratio,
            "logging settings changed"
        );
        applied = wanted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_crds::params::{LogLevel, parameters_reference};

    fn class(params: Option<&str>) -> IngressClass {
        let mut class = IngressClass::default();
        class.metadata.name = Some("sluice".into());
        class.spec = Some(k8s_openapi::api::networking::v1::IngressClassSpec {
            parameters: params.map(parameters_reference),
            ..Default::default()
        });
        class
    }

    fn store(objects: &[(&str, serde_json::Value)]) -> Store<IngressClassParams> {
        let (reader, mut writer) = reflector::store();
        for (name, spec) in objects {
            let params: IngressClassParams = serde_json::from_value(serde_json::json!({
                "apiVersion": "sluice.dev/v1alpha1",
                "kind": "IngressClassParams",
                "metadata": { "name": name },
                "spec": spec,
            }))
            .unwrap();
            writer.apply_watcher_event(&watcher::Event::Apply(params));
        }
        reader
    }

    #[test]
    fn the_named_params_give_the_settings() {
        let params = store(&[
            (
                "loud",
                serde_json::json!({"logging": {"level": "debug", "accessLog": {"enabled": false}}}),
            ),
            ("quiet", serde_json::json!({})),
        ]);
        let loud = logging_of(Some(&class(Some("loud"))), &params).unwrap();
        assert_eq!(loud.level, LogLevel::Debug);
        assert!(!loud.access_log.enabled);
        let quiet = logging_of(Some(&class(Some("quiet"))), &params).unwrap();
        assert_eq!(quiet.level, LogLevel::Info);
        assert!(quiet.access_log.enabled);
        assert_eq!(quiet.access_log.sampling_ratio, 1.0);
        // Params that do not exist (yet), a class naming none, no class: the flags apply.
        assert_eq!(logging_of(Some(&class(Some("missing"))), &params), None);
        assert_eq!(logging_of(Some(&class(None)), &params), None);
        assert_eq!(logging_of(None, &params), None);
    }
}
