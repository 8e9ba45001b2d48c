//! Whether a controller's caches hold a full list yet.
//!
//! A reconcile checks and requeues rather than awaiting `Store::wait_until_ready`:
//! kube-runtime 5's readiness signal is a oneshot channel that keeps one waker, the last
//! task's to wait. With several reconciles waiting at start-up, all but one slept forever,
//! and the controller never reconciled their objects again (it holds an object's new
//! triggers while its reconcile runs).

use futures::FutureExt;
use kube::runtime::reflector::{Lookup, Store};

/// Whether `store` has had its first full list, without waiting for it.
pub fn is_ready<K>(store: &Store<K>) -> bool
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .wait_until_ready()
        .now_or_never()
        .is_some_and(|r| r.is_ok())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    use super::*;

    #[test]
    fn ready_only_once_the_first_list_is_complete() {
        let (reader, mut writer) = store::<ConfigMap>();
        assert!(!is_ready(&reader), "nothing listed yet");
        writer.apply_watcher_event(&Event::Init);
        let mut listed = ConfigMap::default();
        listed.metadata.name = Some("a".into());
        writer.apply_watcher_event(&Event::InitApply(listed));
        assert!(!is_ready(&reader), "the list is still coming");
        writer.apply_watcher_event(&Event::InitDone);
        assert!(is_ready(&reader));
        assert!(is_ready(&reader), "and stays so");
    }

    #[test]
    fn a_store_whose_writer_is_gone_is_not_ready() {
        let (reader, writer) = store::<ConfigMap>();
        drop(writer);
        assert!(!is_ready(&reader));
    }
}
