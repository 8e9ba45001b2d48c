//! The webhook's serving certificate, from PEM files, reloaded when they change (a
//! cert-manager renewal, or the chart's Secret being rotated).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{cert} / {key}: {source}")]
    Pem {
        cert: PathBuf,
        key: PathBuf,
        source: sluice_crds::tls::PemError,
    },
}

/// Serves whatever certificate the files held when last read successfully.
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamp: std::sync::Mutex<Stamp>,
}

type Stamp = (Option<SystemTime>, Option<SystemTime>);

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, CertError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| CertError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    sluice_crds::tls::certified_key(&read(cert)?, &read(key)?).map_err(|source| CertError::Pem {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    })
}

impl ReloadingCert {
    /// Loads the certificate; failing here is a start-up error.
    pub fn new(cert_path: &Path, key_path: &Path) -> Result<Self, CertError> {
        let stamp = (modified(cert_path), modified(key_path));
        Ok(Self {
            current: ArcSwap::from_pointee(load(cert_path, key_path)?),
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            stamp: std::sync::Mutex::new(stamp),
        })
    }

    /// Re-reads the files if they changed. A bad new pair is logged and the current one
    /// kept. Returns whether a new certificate was loaded.
    pub fn reload_if_changed(&self) -> bool {
        let now = (modified(&self.cert_path), modified(&self.key_path));
        let mut stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if *stamp == now {
            return false;
        }
        match load(&self.cert_path, &self.key_path) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                *stamp = now;
                tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded");
                true
            }
            Err(error) => {
                // Not recorded as seen: a half-written pair is retried on the next check.
                tracing::warn!(%error, "new serving certificate not usable; keeping the current one");
                false
            }
        }
    }

    /// Checks the files every `interval`, forever.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            self.reload_if_changed();
        }
    }
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
