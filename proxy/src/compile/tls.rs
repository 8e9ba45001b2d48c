//! Certificates from TLS Secrets: which Secret each TLS host of the class gets (the oldest
//! Ingress winning a host), and the table that finds them by SNI.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use rustls::sign::CertifiedKey;
use sluice_crds::gateway::hostname::{self, wildcard_suffixes};
use sluice_crds::ingress::HostMatch;
use sluice_crds::ingress::host::{wildcard_covers, wildcard_suffix};

use super::{Certificates, Problem, ProblemKind};
use crate::objects::{ObjectSet, key_of};

/// Certificates by the host names they are configured for in `spec.tls`.
#[derive(Clone, Debug, Default)]
pub struct TlsTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// `namespace/name` of each Secret served, and when its certificate expires (Unix
    /// seconds), sorted.
    pub expiry: Vec<(String, i64)>,
    /// Gateway API: the certificate of a listener without a hostname, for any SNI no other
    /// certificate is for.
    pub any: Option<Arc<CertifiedKey>>,
    /// Gateway API: a wildcard covers any number of labels, the longest suffix first
    /// ([`sluice_crds::gateway::hostname`]); Ingress: one label.
    pub any_labels: bool,
    /// Gateway API: the hostnames of the port's HTTPS listeners, to tell a request meant
    /// for another listener than its connection's ([`Self::misdirected`]).
    pub listeners: Vec<HostMatch>,
}

impl TlsTable {
    /// Serves `cert` for `host` unless an earlier (higher-precedence) Ingress already did.
    pub fn insert(&mut self, host: &HostMatch, cert: Arc<CertifiedKey>) {
        match host {
            HostMatch::Exact(h) => {
                self.exact.entry(h.clone()).or_insert(cert);
            }
            HostMatch::Wildcard(s) => {
                self.wildcard.entry(s.clone()).or_insert(cert);
            }
            HostMatch::Any => {}
        }
    }

    /// Gateway API: serves `cert` for `host`, a listener's hostname; a listener without
    /// one gets every SNI no other certificate is for.
    pub fn insert_listener(&mut self, host: &HostMatch, cert: Arc<CertifiedKey>) {
        match host {
            HostMatch::Any => {
                self.any.get_or_insert(cert);
            }
            _ => self.insert(host, cert),
        }
    }

    /// Whether a request for `host` on a connection whose SNI was `sni` (both lower-cased)
    /// belongs to another HTTPS listener than the connection's: it is answered 421
    /// (RFC 9110 §15.5.20), as a client reusing a connection across names must be told.
    pub fn misdirected(&self, sni: &str, host: &str) -> bool {
        self.listeners.len() > 1 && hostname::misdirected(&self.listeners, sni, host)
    }

    /// The certificate for an SNI name (lower-cased): exact, then wildcard.
    pub fn lookup(&self, sni: &str) -> Option<&Arc<CertifiedKey>> {
        self.exact
            .get(sni)
            .or_else(|| {
                if self.any_labels {
                    wildcard_suffixes(sni).find_map(|s| self.wildcard.get(s))
                } else {
                    wildcard_suffix(sni).and_then(|s| self.wildcard.get(s))
                }
            })
            .or(self.any.as_ref())
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len() + usize::from(self.any.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a TLS Secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secret {0} not found")]
    NotFound(String),
    #[error("Secret {secret} has no {key}")]
    MissingKey { secret: String, key: &'static str },
    #[error("Secret {secret}: {source}")]
    Pem {
        secret: String,
        source: sluice_crds::tls::PemError,
    },
}

/// When the leaf certificate expires: its notAfter, in Unix seconds.
pub fn not_after(cert: &CertifiedKey) -> Option<i64> {
    let leaf = cert.cert.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// Parses a TLS Secret's `tls.crt` (chain, leaf first) and `tls.key`.
pub fn certified_key(name: &str, secret: &Secret) -> Result<CertifiedKey, SecretError> {
    let get = |key: &'static str| -> Result<&[u8], SecretError> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.as_slice())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SecretError::MissingKey {
                secret: name.to_string(),
                key,
            })
    };
    sluice_crds::tls::certified_key(get("tls.crt")?, get("tls.key")?).map_err(|source| {
        SecretError::Pem {
            secret: name.to_string(),
            source,
        }
    })
}

/// Certificates named by the Ingresses' `spec.tls`, the oldest Ingress winning a host; and
/// the TLS hosts: those some Ingress of the class lists under `spec.tls` with a usable
/// Secret, or with none (the default certificate). A host
/// whose Secret is missing or broken is not a TLS host, so it is not redirected to HTTPS
/// until the certificate can be served (as ingress-nginx redirects only hosts with a
/// certificate): cert-manager's first issuance, for one, comes over plain HTTP. A Secret
/// that exists but is broken serves its certificate in `previous`, if it had one.
pub(super) fn tls_table(
    objects: &ObjectSet,
    ingresses: &[&Ingress],
    previous: &Certificates,
    problems: &mut Vec<Problem>,
) -> (TlsTable, HashSet<HostMatch>, Certificates) {
    let secrets: HashMap<String, &k8s_openapi::api::core::v1::Secret> = objects
        .secrets
        .iter()
        .map(|s| (key_of(&s.metadata), s.as_ref()))
        .collect();
    // Each Secret is parsed once; every Ingress that names a bad one hears about it, and
    // whether its previous certificate is still served.
    let mut parsed: HashMap<String, Result<Arc<CertifiedKey>, String>> = HashMap::new();
    let mut kept: HashMap<String, Arc<CertifiedKey>> = HashMap::new();
    let mut table = TlsTable::default();
    let mut tls_hosts = HashSet::new();
    for ingress in ingresses {
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
        let tls = ingress
            .spec
            .as_ref()
            .and_then(|s| s.tls.as_deref())
            .unwrap_or_default();
        for entry in tls {
            let hosts = entry
                .hosts
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|h| HostMatch::parse(Some(h)).ok());
            let Some(secret_name) = entry.secret_name.as_deref().filter(|s| !s.is_empty()) else {
                tls_hosts.extend(hosts);
                continue;
            };
            let key = format!("{namespace}/{secret_name}");
            let cert = parsed.entry(key.clone()).or_insert_with(|| {
                let Some(secret) = secrets.get(&key) else {
                    // Deleted is meant: nothing is kept.
                    return Err(SecretError::NotFound(key.clone()).to_string());
                };
                certified_key(&key, secret).map(Arc::new).map_err(|e| {
                    if let Some(before) = previous.get(&key) {
                        kept.insert(key.clone(), before.clone());
                    }
                    e.to_string()
                })
            });
            let cert = match (cert, kept.get(&key)) {
                (Ok(cert), _) => cert.clone(),
                (Err(e), Some(before)) => {
                    problems.push(Problem {
                        object: key_of(&ingress.metadata),
                        kind: ProblemKind::TlsSecret,
                        message: format!("{e}; the certificate it held before is still served"),
                    });
                    before.clone()
                }
                (Err(e), None) => {
                    problems.push(Problem {
                        object: key_of(&ingress.metadata),
                        kind: ProblemKind::TlsSecret,
                        message: format!(
                            "{e}; its hosts get the default certificate, and plain HTTP is not redirected to HTTPS until it can be used"
                        ),
                    });
                    continue;
                }
            };
            for host in hosts {
                table.insert(&host, cert.clone());
                tls_hosts.insert(host);
            }
        }
    }
    let served: Certificates = parsed
        .into_iter()
        .filter_map(|(secret, cert)| Some((secret, cert.ok()?)))
        .chain(kept)
        .collect();
    let mut expiry: Vec<(String, i64)> = served
        .iter()
        .filter_map(|(secret, cert)| Some((secret.clone(), not_after(cert)?)))
        .collect();
    expiry.sort();
    table.expiry = expiry;
    (table, tls_hosts, served)
}

pub(super) fn has_tls(tls_hosts: &HashSet<HostMatch>, host: &HostMatch) -> bool {
    match host {
        HostMatch::Any => false,
        HostMatch::Wildcard(_) => tls_hosts.contains(host),
        HostMatch::Exact(h) => {
            tls_hosts.contains(host)
                || tls_hosts.iter().any(|t| match t {
                    HostMatch::Wildcard(s) => wildcard_covers(s, h),
                    _ => false,
                })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    pub fn tls_secret(name: &str, hosts: &[&str]) -> Secret {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        secret_with(name, cert.pem().as_bytes(), key.serialize_pem().as_bytes())
    }

    pub fn secret_with(name: &str, crt: &[u8], key: &[u8]) -> Secret {
        Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(BTreeMap::from([
                ("tls.crt".to_string(), ByteString(crt.to_vec())),
                ("tls.key".to_string(), ByteString(key.to_vec())),
            ])),
            ..Default::default()
        }
    }

    #[test]
    fn parses_a_generated_certificate() {
        let s = tls_secret("app", &["app.example.com"]);
        let ck = certified_key("shop/app", &s).unwrap();
        assert_eq!(ck.cert.len(), 1);
    }

    #[test]
    fn reads_when_the_leaf_expires() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example.com".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 2, 3);
        let cert = params.self_signed(&key).unwrap();
        let secret = secret_with("a", cert.pem().as_bytes(), key.serialize_pem().as_bytes());
        let ck = certified_key("shop/a", &secret).unwrap();
        // 2031-02-03T00:00:00Z
        assert_eq!(not_after(&ck), Some(1_927_843_200));
    }

    #[test]
    fn bad_secrets_say_what_is_wrong() {
        let good = tls_secret("a", &["a.example.com"]);
        let other = tls_secret("b", &["b.example.com"]);
        let crt = &good.data.as_ref().unwrap()["tls.crt"].0;
        let other_key = &other.data.as_ref().unwrap()["tls.key"].0;

        let err = certified_key("shop/x", &secret_with("x", b"not pem", b"x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret shop/x: the certificate holds no PEM certificate"
        );
        let err = certified_key("shop/x", &secret_with("x", crt, b"garbage")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Secret shop/x: the key is not a PEM private key"),
            "{err}"
        );
        let err = certified_key("shop/x", &secret_with("x", crt, other_key)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret shop/x: the private key does not match the certificate"
        );
        let err = certified_key("shop/x", &secret_with("x", b"", b"")).unwrap_err();
        assert_eq!(err.to_string(), "Secret shop/x has no tls.crt");
    }

    #[test]
    fn looks_up_exact_then_wildcard() {
        let ck = Arc::new(certified_key("shop/a", &tls_secret("a", &["a"])).unwrap());
        let mut t = TlsTable::default();
        t.insert(&HostMatch::Wildcard("example.com".into()), ck.clone());
        assert!(t.lookup("app.example.com").is_some());
        assert!(t.lookup("example.com").is_none());
        assert!(t.lookup("a.b.example.com").is_none());
    }
}
