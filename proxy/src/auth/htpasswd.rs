//! htpasswd users and their password hashes, as nginx's `auth_basic_user_file` reads
//! them: bcrypt (`$2y$`, `$2b$`, `$2a$`), Apache's MD5 (`$apr1$`) and MD5-crypt (`$1$`),
//! `{SHA}` and `{SSHA}`, and `{PLAIN}`.
//!
//! MD5-crypt is written here: the crates that offer it are unmaintained (one pulls in
//! rust-crypto 0.2); the algorithm is short and checked against `openssl passwd` below.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// A password hash from an htpasswd line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hash {
    Bcrypt(String),
    /// MD5-crypt: `$apr1$salt$hash` or `$1$salt$hash`, kept whole.
    Md5Crypt {
        magic: &'static str,
        salt: String,
        full: String,
    },
    Sha1([u8; 20]),
    Ssha {
        digest: [u8; 20],
        salt: Vec<u8>,
    },
    Plain(String),
}

impl Hash {
    /// Reads a hash; `None` for a format Sluice does not read (DES crypt, `$5$`, `$6$`).
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(rest) = text.strip_prefix("{SHA}") {
            let bytes = STANDARD.decode(rest).ok()?;
            return Some(Self::Sha1(bytes.try_into().ok()?));
        }
        if let Some(rest) = text.strip_prefix("{SSHA}") {
            let bytes = STANDARD.decode(rest).ok()?;
            if bytes.len() <= 20 {
                return None;
            }
            let (digest, salt) = bytes.split_at(20);
            return Some(Self::Ssha {
                digest: digest.try_into().ok()?,
                salt: salt.to_vec(),
            });
        }
        if let Some(rest) = text.strip_prefix("{PLAIN}") {
            return Some(Self::Plain(rest.to_string()));
        }
        if ["$2y$", "$2b$", "$2a$"].iter().any(|p| text.starts_with(p)) {
            return Some(Self::Bcrypt(text.to_string()));
        }
        for magic in ["$apr1$", "$1$"] {
            if let Some(rest) = text.strip_prefix(magic) {
                let (salt, hash) = rest.split_once('$')?;
                if salt.len() > 8 || hash.len() != 22 {
                    return None;
                }
                return Some(Self::Md5Crypt {
                    magic,
                    salt: salt.to_string(),
                    full: text.to_string(),
                });
            }
        }
        None
    }

    /// Whether checking a password costs real time (bcrypt): worth doing off the
    /// request's thread, and worth remembering.
    pub fn is_slow(&self) -> bool {
        matches!(self, Self::Bcrypt(_))
    }

    /// Whether `password` matches, in time that does not depend on where they differ.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            Self::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Self::Md5Crypt { magic, salt, full } => {
                let made = md5_crypt(password.as_bytes(), salt.as_bytes(), magic);
                made.as_bytes().ct_eq(full.as_bytes()).into()
            }
            Self::Sha1(digest) => Sha1::digest(password.as_bytes())
                .as_slice()
                .ct_eq(digest)
                .into(),
            Self::Ssha { digest, salt } => {
                let mut sha = Sha1::new();
                sha.update(password.as_bytes());
                sha.update(salt);
                sha.finalize().as_slice().ct_eq(digest).into()
            }
            Self::Plain(plain) => plain.as_bytes().ct_eq(password.as_bytes()).into(),
        }
    }
}

/// The users of one Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Users {
    by_name: HashMap<String, (Hash, String)>,
}

impl Users {
    /// The user's hash and its text (which identifies it in the cache of verified
    /// passwords: a changed hash is a new entry).
    pub fn get(&self, name: &str) -> Option<&(Hash, String)> {
        self.by_name.get(name)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Users from `(name, hash)` pairs; the problems name the users left out. The first
    /// line of a user wins, as in nginx.
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> (Self, Vec<String>) {
        let mut users = Self::default();
        let mut problems = Vec::new();
        for (name, hash) in pairs {
            let (name, hash) = (name.trim(), hash.trim());
            if name.is_empty() || users.by_name.contains_key(name) {
                continue;
            }
            match Hash::parse(hash) {
                Some(parsed) => {
                    users
                        .by_name
                        .insert(name.to_string(), (parsed, hash.to_string()));
                }
                None => problems.push(format!(
                    "user {name:?}: a password hash Sluice does not read (it reads bcrypt, $apr1$, $1$, {{SHA}}, {{SSHA}} and {{PLAIN}}; make one with htpasswd -B)"
                )),
            }
        }
        (users, problems)
    }

    /// Users from htpasswd text: `name:hash` lines; blank lines and `#` comments skipped.
    pub fn from_file(text: &str) -> (Self, Vec<String>) {
        let mut malformed = Vec::new();
        let pairs: Vec<(&str, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .filter_map(|(n, line)| {
                let pair = line.split_once(':');
                if pair.is_none() {
                    malformed.push(format!("line {}: not name:hash", n + 1));
                }
                pair
            })
            .collect();
        let (users, mut problems) = Self::from_pairs(pairs.into_iter());
        problems.extend(malformed);
        (users, problems)
    }
}

/// MD5-crypt (FreeBSD's, and Apache's with the `$apr1$` magic).
fn md5_crypt(password: &[u8], salt: &[u8], magic: &str) -> String {
    let mut alternate = Md5::new();
    alternate.update(password);
    alternate.update(salt);
    alternate.update(password);
    let alternate = alternate.finalize();

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(magic.as_bytes());
    ctx.update(salt);
    for chunk in password.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut digest = ctx.finalize();
    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round & 1 == 1 {
            ctx.update(password);
        } else {
            ctx.update(digest);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round & 1 == 1 {
            ctx.update(digest);
        } else {
            ctx.update(password);
        }
        digest = ctx.finalize();
    }

    const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(magic.len() + salt.len() + 23);
    out.push_str(magic);
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut push = |value: u32, chars: usize| {
        let mut v = value;
        for _ in 0..chars {
            out.push(ALPHABET[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    let d = |i: usize| u32::from(digest[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push((d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    push(d(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes made by `openssl passwd`, `openssl dgst -sha1` and the bcrypt test vectors
    /// of OpenBSD's implementation.
    #[test]
    fn known_hashes_verify() {
        let cases = [
            ("$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0", "secret"),
            ("$apr1$x$tMwYqBfQwi3FYAr0aJc8M/", ""),
            (
                "$apr1$Ab3/.xyz$wYEid1eURXAFrjHKF3fcX.",
                "a much longer password than sixteen bytes",
            ),
            ("$1$abcdefgh$6qENbeetgn0exf.OCTQaP0", "pässword"),
            ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password"),
            ("{SSHA}8bX4JQDfZqtTfvnQ4ssDmWb17/FTQUxU", "secret"),
            (
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                "U*U",
            ),
            ("{PLAIN}open sesame", "open sesame"),
        ];
        for (hash, password) in cases {
            let parsed = Hash::parse(hash).unwrap_or_else(|| panic!("{hash}"));
            assert!(parsed.verify(password), "{hash}");
            assert!(!parsed.verify("wrong"), "{hash}");
            assert!(!parsed.verify(&format!("{password}x")), "{hash}");
        }
    }

    #[test]
    fn formats_it_does_not_read_are_none() {
        for hash in [
            "rl0uSGAFqDkXs", // DES crypt
            "$6$salt$abc",
            "$5$salt$abc",
            "{SHA}not base64!",
            "{SHA}YWJj", // too short
            "$apr1$toolongsalt$LrttParrLPdxvgutaSXWJ0",
            "",
        ] {
            assert_eq!(Hash::parse(hash), None, "{hash}");
        }
    }

    #[test]
    fn reads_files_and_maps() {
        let (users, problems) = Users::from_file(
            "# staff\nalice:{PLAIN}a\n\nbob:rl0uSGAFqDkXs\nalice:{PLAIN}second\nbroken line\n",
        );
        assert_eq!(users.len(), 1);
        assert!(users.get("alice").is_some_and(|(h, _)| h.verify("a")));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"bob\""));
        assert!(problems[1].contains("line 6"));
        let (users, problems) = Users::from_pairs([("carol", "{PLAIN}c")].into_iter());
        assert!(problems.is_empty() && users.get("carol").is_some());
    }
}
