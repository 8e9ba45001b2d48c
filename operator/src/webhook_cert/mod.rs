//! The webhook's certificate, kept by the operator itself rather than generated when the
//! chart is rendered, so that the chart renders the same objects every time (GitOps tools
//! see no drift). The first replica to start writes a CA and a serving certificate into the
//! Secret; every replica serves what the Secret holds and keeps the
//! ValidatingWebhookConfiguration's caBundle at that CA. A Secret that is missing, damaged,
//! for other names or near its end is replaced.

pub mod decide;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use rustls::pki_types::UnixTime;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use decide::{Pair, RENEW_BEFORE, service_names};

/// Where the certificate lives and whom it is for.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namespace: String,
    pub secret: String,
    pub service: String,
    pub configuration: String,
    pub validity: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Cert(#[from] decide::CertError),
    #[error("the Secret's certificate cannot be served: {0}")]
    Pem(#[from] sluice_crds::tls::PemError),
    #[error("Secret {0} kept changing while it was being written")]
    Contended(String),
}

/// Serves the pair last stored.
pub struct SecretCert {
    current: ArcSwap<CertifiedKey>,
    pair: ArcSwap<Pair>,
}

impl SecretCert {
    fn new(pair: Pair) -> Result<Self, Error> {
        let key = certified(&pair)?;
        Ok(Self {
            current: ArcSwap::from_pointee(key),
            pair: ArcSwap::from_pointee(pair),
        })
    }

    /// Serves `pair` from now on, if it differs from the current one.
    fn store(&self, pair: Pair) -> Result<bool, Error> {
        if **self.pair.load() == pair {
            return Ok(false);
        }
        self.current.store(Arc::new(certified(&pair)?));
        self.pair.store(Arc::new(pair));
        Ok(true)
    }
}

fn certified(pair: &Pair) -> Result<CertifiedKey, Error> {
    Ok(sluice_crds::tls::certified_key(
        pair.cert_pem.as_bytes(),
        pair.key_pem.as_bytes(),
    )?)
}

impl std::fmt::Debug for SecretCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCert").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SecretCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The certificate to serve, once the Secret holds a usable one and the webhook
/// configuration trusts its CA. Retries until the API server lets it through.
pub async fn provision(client: Client, settings: &Settings) -> Arc<SecretCert> {
    let mut wait = Duration::from_millis(500);
    loop {
        match check(&client, settings).await {
            Ok(pair) => match SecretCert::new(pair) {
                Ok(cert) => return Arc::new(cert),
                Err(error) => tracing::warn!(%error, "webhook certificate not usable; retrying"),
            },
            Err(error) => {
                tracing::warn!(%error, secret = %settings.secret, "webhook certificate not ready; retrying")
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// Checks the Secret and the caBundle every `every`, forever: another replica's renewal,
/// or a deleted Secret, is served within one period.
pub async fn keep(client: Client, settings: Settings, cert: Arc<SecretCert>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match check(&client, &settings).await {
            Ok(pair) => match cert.store(pair) {
                Ok(true) => {
                    tracing::info!(secret = %settings.secret, "serving the webhook's new certificate")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "new webhook certificate not usable; keeping the current one")
                }
            },
            Err(error) => tracing::warn!(%error, "checking the webhook certificate failed"),
        }
    }
}

/// One look at the Secret and the webhook configuration, writing only what is missing.
/// Returns the pair to serve.
async fn check(client: &Client, settings: &Settings) -> Result<Pair, Error> {
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let configuration = configurations.get_opt(&settings.configuration).await?;
    let pair = ensure_secret(client, settings, configuration.as_ref()).await?;
    if let Some(patch) = configuration.as_ref().and_then(|c| {
        decide::ca_bundle_patch(c, &settings.service, &settings.namespace, &pair.ca_pem)
    }) {
        configurations
            .patch(
                &settings.configuration,
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await?;
        tracing::info!(configuration = %settings.configuration, "caBundle of the webhook configuration set");
    }
    Ok(pair)
}

/// The pair in the Secret, after replacing it if it cannot serve the Service's names for
/// the next [`RENEW_BEFORE`]. Writes are compare-and-swap: when replicas race, one pair wins
/// and every replica serves it.
async fn ensure_secret(
    client: &Client,
    settings: &Settings,
    configuration: Option<&ValidatingWebhookConfiguration>,
) -> Result<Pair, Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let names = service_names(&settings.service, &settings.namespace);
    let until = UnixTime::since_unix_epoch(
        (SystemTime::now() + RENEW_BEFORE)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    for _ in 0..3 {
        let live = secrets.get_opt(&settings.secret).await?;
        let held = live
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(Pair::from_secret_data);
        if let Some(pair) = held.filter(|p| p.serves(&names, until)) {
            if let (Some(configuration), Some(secret)) = (configuration, live) {
                adopt(&secrets, secret, configuration).await?;
            }
            return Ok(pair);
        }
        let fresh = Pair::generate(&names, settings.validity)?;
        let written = match live {
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(settings.secret.clone()),
                        namespace: Some(settings.namespace.clone()),
                        // Deleted with the webhook configuration, on uninstall.
                        owner_references: configuration.map(|c| vec![owned_by(c)]),
                        ..Default::default()
                    },
                    type_: Some("kubernetes.io/tls".into()),
                    data: Some(fresh.to_secret_data()),
                    ..Default::default()
                };
                secrets.create(&PostParams::default(), &secret).await
            }
            Some(mut secret) => {
                secret.data = Some(fresh.to_secret_data());
                // The resourceVersion read above makes this a compare-and-swap.
                secrets
                    .replace(&settings.secret, &PostParams::default(), &secret)
                    .await
            }
        };
        match written {
            Ok(_) => {
                tracing::info!(secret = %settings.secret, "wrote a new webhook certificate");
                return Ok(fresh);
            }
            // Another replica wrote first: read what it wrote.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::Contended(settings.secret.clone()))
}

/// Makes the webhook configuration the Secret's owner if it is not yet (the Secret was
/// written before the configuration existed), so that uninstalling removes both.
async fn adopt(
    secrets: &Api<Secret>,
    mut secret: Secret,
    configuration: &ValidatingWebhookConfiguration,
) -> Result<(), Error> {
    let owner = owned_by(configuration);
    let owners = secret
        .metadata
        .owner_references
        .get_or_insert_with(Vec::new);
    if owners.iter().any(|o| o.uid == owner.uid) {
        return Ok(());
    }
    owners.push(owner);
    match secrets
        .replace(&secret.name_any(), &PostParams::default(), &secret)
        .await
    {
        Ok(_) => Ok(()),
        // Changed meanwhile: the next check adopts it.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn owned_by(configuration: &ValidatingWebhookConfiguration) -> OwnerReference {
    OwnerReference {
        api_version: ValidatingWebhookConfiguration::api_version(&()).into_owned(),
        kind: ValidatingWebhookConfiguration::kind(&()).into_owned(),
        name: configuration.name_any(),
        uid: configuration.uid().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    }
}
