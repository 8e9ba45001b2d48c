//! Basic auth's users, from the Secrets the Ingresses name (`auth-secret`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use sluice_crds::annotations::auth::{BasicAuth as Asked, SecretType};

use crate::auth::basic::BasicAuth;
use crate::auth::htpasswd::Users;
use crate::objects::{ObjectSet, key_of, named};

/// The Secrets by `namespace/name`, indexed on first use: most tables have no basic auth.
pub(super) struct Secrets<'a> {
    objects: &'a ObjectSet,
    by_key: Option<HashMap<String, &'a Secret>>,
    /// Every Secret looked up, found or not.
    pub referenced: BTreeSet<String>,
}

impl<'a> Secrets<'a> {
    pub fn new(objects: &'a ObjectSet) -> Self {
        Self {
            objects,
            by_key: None,
            referenced: BTreeSet::new(),
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a Secret> {
        self.referenced.insert(named("Secret", key));
        let objects = self.objects;
        self.by_key
            .get_or_insert_with(|| {
                objects
                    .secrets
                    .iter()
                    .map(|s| (key_of(&s.metadata), s.as_ref()))
                    .collect()
            })
            .get(key)
            .copied()
    }
}

/// Basic auth as a route checks it. Without usable users (no such Secret, no `auth` key,
/// another namespace's Secret) every request gets 503, as in ingress-nginx; `problems`
/// gets why, and the users left out of a Secret.
pub(super) fn basic_auth(
    asked: &Asked,
    namespace: &str,
    secrets: &mut Secrets<'_>,
    problems: &mut Vec<String>,
) -> Arc<BasicAuth> {
    let users = users(asked, namespace, secrets, problems);
    if let Err(why) = &users {
        problems.push(format!("{why}; its rules answer 503"));
    }
    Arc::new(BasicAuth {
        realm: asked.realm.as_str().into(),
        users,
    })
}

fn users(
    asked: &Asked,
    namespace: &str,
    secrets: &mut Secrets<'_>,
    problems: &mut Vec<String>,
) -> Result<Users, String> {
    let key = asked.secret_key(namespace)?;
    let secret = secrets
        .get(&key)
        .ok_or_else(|| format!("auth Secret {key} not found"))?;
    let value = |name: &str| -> Option<String> {
        let data = secret.data.as_ref().and_then(|d| d.get(name));
        match data {
            Some(bytes) => Some(String::from_utf8_lossy(&bytes.0).into_owned()),
            None => secret.string_data.as_ref()?.get(name).cloned(),
        }
    };
    let (users, left_out) = match asked.secret_type {
        SecretType::AuthFile => {
            let text = value("auth").ok_or_else(|| {
                format!("auth Secret {key} has no key \"auth\" (auth-secret-type auth-file)")
            })?;
            Users::from_file(&text)
        }
        SecretType::AuthMap => {
            let names: Vec<String> = secret
                .data
                .iter()
                .flat_map(|d| d.keys())
                .chain(secret.string_data.iter().flat_map(|d| d.keys()))
                .cloned()
                .collect();
            let pairs: Vec<(String, String)> = names
                .into_iter()
                .filter_map(|name| value(&name).map(|hash| (name, hash)))
                .collect();
            Users::from_pairs(pairs.iter().map(|(n, h)| (n.as_str(), h.as_str())))
        }
    };
    problems.extend(
        left_out
            .into_iter()
            .map(|p| format!("auth Secret {key}: {p}; left out")),
    );
    Ok(users)
}
