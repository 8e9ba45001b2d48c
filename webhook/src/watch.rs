//! Keeps the index in step with the cluster: a watch of every Ingress and IngressClass.

use std::sync::atomic::Ordering;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};

use crate::index::Followed;
use crate::server::Webhook;

/// Runs until the watches end (they retry on errors, so in practice: forever).
pub async fn run(client: Client, webhook: Webhook) -> anyhow::Result<()> {
    let (classes, class_writer) = reflector::store::<IngressClass>();
    let class_events = watcher(
        Api::<IngressClass>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(class_writer);
    let class_task = {
        let webhook = webhook.clone();
        let classes = classes.clone();
        async move {
            let mut events = std::pin::pin!(class_events);
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                    Ok(_) => {
                        let state = classes.state();
                        let mut index = webhook.index.write().unwrap_or_else(|e| e.into_inner());
                        index.set_classes(state.iter().map(|c| c.as_ref()));
                        publish_size(&webhook, &index);
                    }
                    Err(error) => tracing::warn!(%error, "IngressClass watch failed; retrying"),
                }
            }
        }
    };

    let ingress_task = {
        let webhook = webhook.clone();
        async move {
            // The classes decide which Ingresses are ours: index Ingresses only after them.
            if classes.wait_until_ready().await.is_err() {
                return;
            }
            let mut events = std::pin::pin!(
                watcher(Api::<Ingress>::all(client), watcher::Config::default())
                    .default_backoff()
                    .modify(|i| i.metadata.managed_fields = None)
            );
            let mut relist = Vec::new();
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => {
                        let mut index = webhook.index.write().unwrap_or_else(|e| e.into_inner());
                        let followed = index.follow(&mut relist, &event);
                        if followed == Followed::Buffered {
                            continue;
                        }
                        publish_size(&webhook, &index);
                        if followed == Followed::Synced {
                            webhook.synced.store(true, Ordering::Release);
                            tracing::info!(
                                ingresses = index.ingresses(),
                                rules = index.rules(),
                                "Ingress index synced"
                            );
                        }
                    }
                    Err(error) => tracing::warn!(%error, "Ingress watch failed; retrying"),
                }
            }
        }
    };

    tokio::join!(class_task, ingress_task);
    anyhow::bail!("the Ingress and IngressClass watches ended")
}

fn publish_size(webhook: &Webhook, index: &crate::index::Index) {
    webhook
        .metrics
        .index_ingresses
        .set(index.ingresses() as i64);
    webhook.metrics.index_rules.set(index.rules() as i64);
}
