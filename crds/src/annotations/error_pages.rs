//! Error pages from another Service, as ingress-nginx reads them:
//!
//! - `default-backend: <Service>`: a Service of the Ingress's namespace (its first port)
//!   that serves the Ingress's requests when its own backend has no endpoints, and its
//!   error pages;
//! - `custom-http-errors: 404,503`: the backend's responses with these statuses are
//!   replaced by the `default-backend`'s answer to the same request, which is told the
//!   status in `X-Code` (and `X-Format`, `X-Original-URI`, `X-Namespace`, `X-Ingress-Name`,
//!   `X-Service-Name`, `X-Service-Port`, `X-Request-ID`).

/// `custom-http-errors`: statuses from 400 to 599, comma-separated.
pub fn parse_codes(value: &str) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u16>() {
            Ok(code @ 400..=599) => {
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            _ => return Err(format!("{part:?} is not an error status (400 to 599)")),
        }
    }
    if codes.is_empty() {
        return Err("must list at least one status, such as 404,503".into());
    }
    Ok(codes)
}

/// `default-backend`: a Service name (a DNS label).
pub fn parse_service(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && !value.ends_with('-');
    if !valid {
        return Err(
            "must name a Service of the Ingress's namespace: lower-case letters, digits and -"
                .into(),
        );
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_services() {
        assert_eq!(parse_codes("404, 503,404"), Ok(vec![404, 503]));
        for bad in ["", "200", "404,abc", "600", " , "] {
            assert!(parse_codes(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_service(" errors ").as_deref(), Ok("errors"));
        for bad in ["", "Errors", "ns/errors", "-x", "x-", "1x"] {
            assert!(parse_service(bad).is_err(), "{bad:?}");
        }
    }
}
