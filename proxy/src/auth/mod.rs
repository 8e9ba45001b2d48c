//! Authentication on a route: basic auth ([`basic`], against [`htpasswd`] users) on both
//! request paths, and external auth ([`external`]) on Pingora's.

pub mod basic;
pub mod external;
pub mod htpasswd;

use crate::routes::Route;
use crate::serve::answers::{self, Answer};
use basic::Verdict;

/// Basic auth's answer to a request to `route`, if it stops it: 401 with the realm, or
/// 503 when the users cannot be read. The route's headers go on it, as on its other
/// answers.
pub async fn basic_refusal(
    route: &Route,
    authorization: Option<&str>,
    origin: Option<&str>,
) -> Option<Answer> {
    let auth = route.basic_auth.as_ref()?;
    let mut answer = match auth.check(authorization).await {
        Verdict::Pass => return None,
        Verdict::Challenge => Answer {
            status: 401,
            body: "401 Authorization Required\n".into(),
            location: None,
            headers: vec![("www-authenticate", auth.challenge())],
        },
        Verdict::Unavailable(why) => Answer {
            status: 503,
            body: format!("503 Service Unavailable: {why}\n"),
            location: None,
            headers: Vec::new(),
        },
    };
    answer.headers.extend(answers::route_headers(route, origin));
    Some(answer)
}
