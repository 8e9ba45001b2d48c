//! Basic auth on a route (`auth-type: basic`): who may pass, and the check of a request's
//! `Authorization` header against them.
//!
//! Verified passwords are remembered (bcrypt takes tens of milliseconds by design), keyed
//! by a digest of the user, the hash and the password, so a changed Secret is never
//! answered from memory. Failures are not remembered, as nginx does not.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::htpasswd::{Hash, Users};

/// How many verified passwords are remembered, across every route.
const REMEMBERED: usize = 10_000;

/// Basic auth as compiled for a route.
#[derive(Debug, Serialize)]
pub struct BasicAuth {
    /// `WWW-Authenticate: Basic realm="..."`.
    pub realm: Arc<str>,
    /// The users, or why there are none to check against (a missing Secret): then every
    /// request gets 503, as in ingress-nginx.
    #[serde(serialize_with = "users_summary")]
    pub users: Result<Users, String>,
}

/// What a request's credentials get.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// 401, with the realm.
    Challenge,
    /// 503: the users cannot be read.
    Unavailable(String),
}

impl BasicAuth {
    /// Checks the value of the request's `Authorization` header. A slow hash is checked on
    /// the blocking pool, so the connection's thread keeps serving others meanwhile.
    pub async fn check(&self, authorization: Option<&str>) -> Verdict {
        let users = match &self.users {
            Ok(users) => users,
            Err(problem) => return Verdict::Unavailable(problem.clone()),
        };
        let Some((user, password)) = authorization.and_then(credentials) else {
            return Verdict::Challenge;
        };
        let Some((hash, text)) = users.get(&user) else {
            return Verdict::Challenge;
        };
        let key = remembered_key(&user, text, &password);
        if VERIFIED.get(&key).is_some() {
            return Verdict::Pass;
        }
        let verified = if hash.is_slow() {
            // A flood of wrong passwords costs a bcrypt each (as in nginx); at most
            // SLOW_CHECKS run at once, so it cannot take every core from serving.
            let Ok(_permit) = SLOW_CHECKS.acquire().await else {
                return Verdict::Challenge;
            };
            let hash: Hash = hash.clone();
            tokio::task::spawn_blocking(move || hash.verify(&password))
                .await
                .unwrap_or(false)
        } else {
            hash.verify(&password)
        };
        if verified {
            VERIFIED.insert(key, ());
            Verdict::Pass
        } else {
            Verdict::Challenge
        }
    }

    /// `WWW-Authenticate`'s value.
    pub fn challenge(&self) -> String {
        format!("Basic realm=\"{}\"", self.realm)
    }
}

/// The user and password of a `Basic` `Authorization` value (RFC 7617).
fn credentials(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Slow hash checks at once: half the CPUs, at least one.
static SLOW_CHECKS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::sync::Semaphore::new((cpus / 2).max(1))
});

static VERIFIED: LazyLock<quick_cache::sync::Cache<[u8; 32], ()>> =
    LazyLock::new(|| quick_cache::sync::Cache::new(REMEMBERED));

/// Per process, so the remembered digests are of no use anywhere else.
static KEY_SALT: LazyLock<[u8; 16]> = LazyLock::new(|| *uuid::Uuid::new_v4().as_bytes());

fn remembered_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(*KEY_SALT);
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

fn users_summary<S: serde::Serializer>(
    users: &Result<Users, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match users {
        Ok(users) => s.serialize_str(&format!("{} users", users.len())),
        Err(problem) => s.serialize_str(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(lines: &str) -> BasicAuth {
        BasicAuth {
            realm: "Staff".into(),
            users: Ok(Users::from_file(lines).0),
        }
    }

    fn basic(user_password: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_password))
    }

    #[tokio::test]
    async fn checks_credentials() {
        let a = auth(
            "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nbob:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n",
        );
        assert_eq!(a.check(Some(&basic("alice:password"))).await, Verdict::Pass);
        assert_eq!(a.check(Some(&basic("bob:U*U"))).await, Verdict::Pass);
        // Remembered now, and still only for the right password.
        assert_eq!(a.check(Some(&basic("bob:U*U"))).await, Verdict::Pass);
        assert_eq!(a.check(Some(&basic("bob:U*V"))).await, Verdict::Challenge);
        assert_eq!(
            a.check(Some(&basic("alice:wrong"))).await,
            Verdict::Challenge
        );
        assert_eq!(
            a.check(Some(&basic("carol:password"))).await,
            Verdict::Challenge
        );
        for bad in ["", "Bearer abc", "Basic !!!", "Basic YWxpY2U="] {
            assert_eq!(a.check(Some(bad)).await, Verdict::Challenge, "{bad}");
        }
        assert_eq!(a.check(None).await, Verdict::Challenge);
        assert_eq!(
            a.check(Some(
                &basic("alice:password")
                    .to_lowercase()
                    .replacen("basic", "BASIC", 1)
            ))
            .await,
            Verdict::Challenge,
            "the scheme is case-insensitive, the token is not"
        );
        assert_eq!(
            a.check(Some(&basic("alice:password").replacen("Basic", "bAsIc", 1)))
                .await,
            Verdict::Pass
        );
        assert_eq!(a.challenge(), "Basic realm=\"Staff\"");
    }

    #[tokio::test]
    async fn a_changed_hash_is_not_answered_from_memory() {
        let before = auth("dave:{PLAIN}one\n");
        assert_eq!(before.check(Some(&basic("dave:one"))).await, Verdict::Pass);
        let after = auth("dave:{PLAIN}two\n");
        assert_eq!(
            after.check(Some(&basic("dave:one"))).await,
            Verdict::Challenge
        );
    }

    #[tokio::test]
    async fn without_users_every_request_is_refused_as_unavailable() {
        let a = BasicAuth {
            realm: "".into(),
            users: Err("Secret default/users not found".into()),
        };
        assert!(matches!(
            a.check(Some(&basic("alice:password"))).await,
            Verdict::Unavailable(_)
        ));
    }
}
