//! PEM certificate + key → a rustls certified key. The proxy reads TLS Secrets with it and
//! the webhook its serving certificate, so both accept and refuse the same material.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Why PEM material cannot be used as a serving certificate.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("the certificate holds no PEM certificate")]
    NoCertificate,
    #[error("the certificate is not valid PEM: {0}")]
    BadCertificate(String),
    #[error("the key is not a PEM private key: {0}")]
    BadKey(String),
    #[error("the private key is of an unsupported type: {0}")]
    UnsupportedKey(String),
    #[error("the private key does not match the certificate")]
    KeyMismatch,
}

/// Parses a certificate chain (leaf first) and its private key.
pub fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, PemError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::BadCertificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(PemError::NoCertificate);
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| PemError::BadKey(e.to_string()))?;
    let signing_key =
        any_supported_type(&key).map_err(|e| PemError::UnsupportedKey(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Keys whose public half rustls cannot derive are accepted as they are.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(_) => Err(PemError::KeyMismatch),
    }
}
