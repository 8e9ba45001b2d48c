//! Session affinity by cookie (`affinity: cookie`), as ingress-nginx reads it: a client's
//! requests keep going to the endpoint its first one went to, named by a cookie.
//!
//! | annotation | value | default |
//! | --- | --- | --- |
//! | `affinity` | `cookie` | none |
//! | `affinity-mode` | `balanced` or `persistent` | `balanced` |
//! | `session-cookie-name` | a cookie name | `INGRESSCOOKIE` |
//! | `session-cookie-path` | a path | the rule's path (`/` for a regular expression) |
//! | `session-cookie-domain` | a domain | none |
//! | `session-cookie-max-age` | seconds | none: a session cookie |
//! | `session-cookie-expires` | seconds from now | none |
//! | `session-cookie-secure` | `true` / `false` | `false` |
//! | `session-cookie-samesite` | `None`, `Lax` or `Strict` | none |
//! | `session-cookie-change-on-failure` | `true` / `false` | `false` |

use serde::Serialize;

/// Cookie affinity as an Ingress asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Affinity {
    pub cookie: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub max_age: Option<u64>,
    pub expires: Option<u64>,
    pub secure: bool,
    pub same_site: Option<String>,
    /// A request whose endpoint failed goes to another one and gets a new cookie.
    pub change_on_failure: bool,
}

impl Default for Affinity {
    fn default() -> Self {
        Self {
            cookie: "INGRESSCOOKIE".into(),
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            same_site: None,
            change_on_failure: false,
        }
    }
}

impl Affinity {
    /// The `Set-Cookie` value naming the endpoint `token`, for a rule whose path is
    /// `rule_path`. `HttpOnly`, as ingress-nginx's.
    pub fn set_cookie(&self, token: &str, rule_path: &str, now_unix: u64) -> String {
        let mut cookie = format!(
            "{}={token}; Path={}",
            self.cookie,
            self.path.as_deref().unwrap_or(rule_path)
        );
        if let Some(domain) = &self.domain {
            cookie.push_str(&format!("; Domain={domain}"));
        }
        if let Some(seconds) = self.expires {
            cookie.push_str(&format!(
                "; Expires={}",
                http_date(now_unix.saturating_add(seconds))
            ));
        }
        if let Some(seconds) = self.max_age {
            cookie.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Some(same_site) = &self.same_site {
            cookie.push_str(&format!("; SameSite={same_site}"));
        }
        cookie.push_str("; HttpOnly");
        cookie
    }
}

/// `affinity`: `cookie` is the only kind.
pub fn parse_kind(value: &str) -> Result<(), String> {
    match value.trim() {
        "cookie" => Ok(()),
        _ => Err("must be \"cookie\"".into()),
    }
}

/// `affinity-mode`: both are read; Sluice keeps a client on its endpoint while it exists
/// in either.
pub fn parse_mode(value: &str) -> Result<(), String> {
    match value.trim() {
        "balanced" | "persistent" => Ok(()),
        _ => Err("must be \"balanced\" or \"persistent\"".into()),
    }
}

/// A cookie name (RFC 6265 token).
pub fn parse_cookie_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if value.is_empty() || !value.bytes().all(token) {
        return Err("must be a cookie name: letters, digits and !#$%&'*+-.^_`|~".into());
    }
    Ok(value.to_string())
}

/// A cookie attribute value: printable, without `;` or spaces.
pub fn parse_attribute(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        return Err("must be printable text without ; or spaces".into());
    }
    Ok(value.to_string())
}

pub fn parse_same_site(value: &str) -> Result<String, String> {
    match value.trim() {
        v @ ("None" | "Lax" | "Strict") => Ok(v.to_string()),
        _ => Err("must be None, Lax or Strict".into()),
    }
}

/// An HTTP date (RFC 9110 §5.6.7) of a Unix time.
fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_the_asked_attributes() {
        let plain = Affinity::default();
        assert_eq!(
            plain.set_cookie("abc", "/shop", 0),
            "INGRESSCOOKIE=abc; Path=/shop; HttpOnly"
        );
        let full = Affinity {
            cookie: "route".into(),
            path: Some("/".into()),
            domain: Some("example.com".into()),
            max_age: Some(3600),
            expires: Some(86_400),
            secure: true,
            same_site: Some("Lax".into()),
            change_on_failure: false,
        };
        assert_eq!(
            full.set_cookie("abc", "/shop", 1_700_000_000),
            "route=abc; Path=/; Domain=example.com; Expires=Wed, 15 Nov 2023 22:13:20 GMT; Max-Age=3600; Secure; SameSite=Lax; HttpOnly"
        );
    }

    #[test]
    fn values() {
        assert!(parse_kind("cookie").is_ok() && parse_kind("ip").is_err());
        assert!(parse_mode("persistent").is_ok() && parse_mode("sticky").is_err());
        assert!(parse_cookie_name("a b").is_err() && parse_cookie_name("a;b").is_err());
        assert_eq!(parse_same_site("Strict").as_deref(), Ok("Strict"));
        assert!(parse_same_site("strict").is_err());
        assert!(parse_attribute("/a;b").is_err());
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
