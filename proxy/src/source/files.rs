//! Watches manifest files and republishes when they change: a full compile when something
//! the routes depend on changed, an in-place endpoint refresh when only Services or
//! EndpointSlices did ([`super::relevance`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::manifests;
use super::relevance::SeenSet;
use crate::state::State;

/// Quiet time after a change notification before re-reading: editors write in steps.
const SETTLE: Duration = Duration::from_millis(20);

/// Loads the manifests, publishes them, and republishes whenever they change. A load
/// error is logged and counted; the last good table keeps serving. Runs until cancelled.
pub async fn run(paths: Vec<PathBuf>, state: Arc<State>) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Watch directories, not files: editors and ConfigMap mounts replace files by
    // renaming, which a watch on the file itself would lose.
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })?;
    for path in &paths {
        let (target, mode) = if path.is_dir() {
            (path.clone(), RecursiveMode::Recursive)
        } else {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            (parent, RecursiveMode::NonRecursive)
        };
        if let Err(error) = watcher.watch(&target, mode) {
            tracing::warn!(path = %target.display(), %error, "cannot watch for changes; polling instead");
        }
    }

    let mut last = None;
    let mut seen = SeenSet::default();
    let mut published = false;
    loop {
        let fingerprint = manifests::fingerprint(&paths);
        if last.as_ref() != Some(&fingerprint) {
            last = Some(fingerprint);
            let loaded = {
                let paths = paths.clone();
                tokio::task::spawn_blocking(move || manifests::load(&paths)).await?
            };
            match loaded {
                Ok(objects) => {
                    let changes = seen.observe(&objects);
                    if !published || changes.recompile(&state.table()) {
                        state.publish(&objects);
                        published = true;
                    } else if !changes.services.is_empty() {
                        state.update_endpoints(&objects, &changes.services);
                    } else {
                        state.metrics.changes_ignored.inc();
                    }
                }
                Err(error) => state.record_source_error(&error),
            }
        }
        // Wake on a notification, or poll as a safety net.
        if let Ok(Some(())) = tokio::time::timeout(manifests::POLL_INTERVAL, rx.recv()).await {
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
        }
    }
}
