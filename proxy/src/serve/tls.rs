//! Certificates for the HTTPS listener: by SNI from the current route table, else the
//! default certificate.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::metrics::CertificateLabels;
use crate::state::State;

/// Picks a certificate per handshake from whatever table is current, so new or renewed
/// Secrets apply to the next handshake without restarting the listener.
pub struct CertResolver {
    pub state: Arc<State>,
    pub default: Arc<CertifiedKey>,
    /// The listener's port, whose table's certificates it serves (`None`: the default
    /// table's, as in Ingress mode).
    pub port: Option<u16>,
}

impl std::fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertResolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let tables = self.state.tables();
        let table = tables.for_port(self.port);
        let found = hello
            .server_name()
            .map(|sni| sni.to_ascii_lowercase())
            .and_then(|sni| table.tls.lookup(&sni).cloned());
        let certificate = if found.is_some() { "sni" } else { "default" };
        self.state
            .metrics
            .tls_certificates
            .get_or_create(&CertificateLabels { certificate })
            .inc();
        Some(found.unwrap_or_else(|| self.default.clone()))
    }
}

/// The default certificate: from PEM files, or a self-signed one generated at start-up.
pub fn default_certificate(
    cert_file: Option<&std::path::Path>,
    key_file: Option<&std::path::Path>,
) -> anyhow::Result<CertifiedKey> {
    use anyhow::Context;
    let (crt, key) = match (cert_file, key_file) {
        (Some(c), Some(k)) => (
            std::fs::read(c).with_context(|| format!("reading {}", c.display()))?,
            std::fs::read(k).with_context(|| format!("reading {}", k.display()))?,
        ),
        (None, None) => {
            let key = rcgen::KeyPair::generate()?;
            let mut params = rcgen::CertificateParams::new(vec!["sluice.invalid".to_string()])?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "Sluice default certificate");
            let cert = params.self_signed(&key)?;
            (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
        }
        _ => anyhow::bail!("--default-cert and --default-key go together"),
    };
    Ok(sluice_crds::tls::certified_key(&crt, &key)?)
}

/// The server name (SNI) a TLS client asked for, lower-cased: kept with the connection's
/// TLS digest at the end of the handshake, for both request paths.
#[derive(Debug)]
pub struct ClientSni(pub String);

/// Pingora's name of the negotiated TLS version (rustls's `TLSv1_2`, or `TLSv1.2`).
pub fn is_tls12(version: &str) -> bool {
    version.contains("1_2") || version.contains("1.2")
}
