//! Process set-up shared by Sluice's binaries, so the proxy and the operator log and trace
//! alike, take the same flags and find the cluster the same way.

pub mod build_info;
pub mod changes;
pub mod telemetry;

pub use telemetry::{LogFormat, OtlpProtocol, Telemetry, TraceConfig};

/// A Kubernetes client from `kubeconfig`, else $KUBECONFIG / ~/.kube/config, else the
/// in-cluster configuration.
pub async fn kube_client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    use anyhow::Context;
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig found and not running in a cluster")?,
    };
    Ok(kube::Client::try_from(config)?)
}
