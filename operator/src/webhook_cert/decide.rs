//! The webhook's serving certificate, decided without I/O: whether the one in the Secret
//! can still be served, a new one when not, and the caBundle change the
//! ValidatingWebhookConfiguration needs.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use serde_json::json;

/// The Secret keys, as cert-manager and the `kubernetes.io/tls` type name them.
pub const CA_KEY: &str = "ca.crt";
pub const CERT_KEY: &str = "tls.crt";
pub const KEY_KEY: &str = "tls.key";

/// A certificate is replaced once it has less than this left, so it never lapses while
/// served (pods read the Secret again every few seconds).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The webhook's CA and serving pair, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating the webhook certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The DNS names the API server uses for the webhook's Service.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

impl Pair {
    /// The pair a Secret holds, if it has all three parts.
    pub fn from_secret_data(data: &BTreeMap<String, ByteString>) -> Option<Self> {
        let text = |key: &str| String::from_utf8(data.get(key)?.0.clone()).ok();
        Some(Self {
            ca_pem: text(CA_KEY)?,
            cert_pem: text(CERT_KEY)?,
            key_pem: text(KEY_KEY)?,
        })
    }

    pub fn to_secret_data(&self) -> BTreeMap<String, ByteString> {
        [
            (CA_KEY, &self.ca_pem),
            (CERT_KEY, &self.cert_pem),
            (KEY_KEY, &self.key_pem),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.clone().into_bytes())))
        .collect()
    }

    /// Whether the pair can be served for `names` until `until`: the key matches, the
    /// certificate chains to the CA, is valid for server authentication then, and names
    /// every one of `names`.
    pub fn serves(&self, names: &[String], until: UnixTime) -> bool {
        if sluice_crds::tls::certified_key(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .is_err()
        {
            return false;
        }
        let (Ok(leaf), Ok(ca)) = (
            CertificateDer::from_pem_slice(self.cert_pem.as_bytes()),
            CertificateDer::from_pem_slice(self.ca_pem.as_bytes()),
        ) else {
            return false;
        };
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&ca) else {
            return false;
        };
        let Ok(end_entity) = webpki::EndEntityCert::try_from(&leaf) else {
            return false;
        };
        let chains = end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &[anchor],
                &[],
                until,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .is_ok();
        chains
            && names.iter().all(|name| {
                ServerName::try_from(name.as_str())
                    .is_ok_and(|n| end_entity.verify_is_valid_for_subject_name(&n).is_ok())
            })
    }

    /// A new CA and a serving certificate it signs for `names`, valid for `validity`.
    pub fn generate(names: &[String], validity: Duration) -> Result<Self, CertError> {
        let now = time::OffsetDateTime::now_utc();
        // A little in the past: clocks of the API server and this node may differ.
        let not_before = now - Duration::from_secs(3600);
        let not_after = now + validity;
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice webhook CA");
        ca_params.not_before = not_before;
        ca_params.not_after = not_after;
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.to_vec())?;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, first.as_str());
        }
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The strategic-merge patch that gives every webhook of `configuration` that calls
/// `service` in `namespace` the CA `ca_pem`; `None` when they all have it already.
pub fn ca_bundle_patch(
    configuration: &ValidatingWebhookConfiguration,
    service: &str,
    namespace: &str,
    ca_pem: &str,
) -> Option<serde_json::Value> {
    let bundle = ByteString(ca_pem.as_bytes().to_vec());
    let stale: Vec<serde_json::Value> = configuration
        .webhooks
        .iter()
        .flatten()
        .filter(|w| {
            w.client_config
                .service
                .as_ref()
                .is_some_and(|s| s.name == service && s.namespace == namespace)
        })
        .filter(|w| w.client_config.ca_bundle.as_ref() != Some(&bundle))
        .map(|w| json!({ "name": w.name, "clientConfig": { "caBundle": bundle } }))
        .collect();
    (!stale.is_empty()).then(|| json!({ "webhooks": stale }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(from_now: Duration) -> UnixTime {
        UnixTime::since_unix_epoch(
            (std::time::SystemTime::now() + from_now)
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap(),
        )
    }

    #[test]
    fn a_generated_pair_serves_its_names_until_it_ends() {
        let names = service_names("sluice-webhook", "sluice-system");
        let pair = Pair::generate(&names, 365 * DAY).unwrap();
        assert!(pair.serves(&names, at(RENEW_BEFORE)));
        // Renewed before it lapses, not after.
        assert!(!pair.serves(&names, at(400 * DAY)));
        // Another Service's names: not this pair.
        assert!(!pair.serves(&service_names("other", "sluice-system"), at(DAY)));
        // Round trip through the Secret's data.
        assert_eq!(
            Pair::from_secret_data(&pair.to_secret_data()),
            Some(pair.clone())
        );
    }

    #[test]
    fn a_damaged_or_mismatched_pair_is_not_served() {
        let names = service_names("sluice-webhook", "sluice-system");
        let pair = Pair::generate(&names, 365 * DAY).unwrap();
        let other = Pair::generate(&names, 365 * DAY).unwrap();
        let garbage = Pair {
            cert_pem: "not a certificate".into(),
            ..pair.clone()
        };
        assert!(!garbage.serves(&names, at(DAY)));
        // A key of another pair, or a CA that did not sign it.
        let wrong_key = Pair {
            key_pem: other.key_pem.clone(),
            ..pair.clone()
        };
        assert!(!wrong_key.serves(&names, at(DAY)));
        let wrong_ca = Pair {
            ca_pem: other.ca_pem.clone(),
            ..pair.clone()
        };
        assert!(!wrong_ca.serves(&names, at(DAY)));
        let mut partial = pair.to_secret_data();
        partial.remove(KEY_KEY);
        assert_eq!(Pair::from_secret_data(&partial), None);
    }

    #[test]
    fn the_ca_bundle_is_written_only_where_it_is_missing() {
        let configuration = |bundle: Option<&str>| -> ValidatingWebhookConfiguration {
            let mut client_config =
                json!({ "service": { "name": "sluice-webhook", "namespace": "sluice-system" } });
            if let Some(b) = bundle {
                client_config["caBundle"] =
                    serde_json::to_value(ByteString(b.as_bytes().to_vec())).unwrap();
            }
            serde_json::from_value(json!({
                "metadata": { "name": "sluice" },
                "webhooks": [
                    { "name": "ingress.sluice.dev", "clientConfig": client_config, "admissionReviewVersions": ["v1"], "sideEffects": "None" },
                    { "name": "other.example.com", "clientConfig": { "url": "https://example.com" }, "admissionReviewVersions": ["v1"], "sideEffects": "None" }
                ]
            }))
            .unwrap()
        };
        let patch = ca_bundle_patch(
            &configuration(None),
            "sluice-webhook",
            "sluice-system",
            "CA",
        )
        .unwrap();
        assert_eq!(
            patch["webhooks"].as_array().unwrap().len(),
            1,
            "only the webhook that calls the Service"
        );
        assert_eq!(patch["webhooks"][0]["name"], "ingress.sluice.dev");
        assert_eq!(patch["webhooks"][0]["clientConfig"]["caBundle"], "Q0E=");
        assert_eq!(
            ca_bundle_patch(
                &configuration(Some("CA")),
                "sluice-webhook",
                "sluice-system",
                "CA"
            ),
            None
        );
        assert!(
            ca_bundle_patch(
                &configuration(Some("OLD")),
                "sluice-webhook",
                "sluice-system",
                "CA"
            )
            .is_some()
        );
    }
}
