//! Error pages from an Ingress's `default-backend` (`custom-http-errors`): when its backend
//! answers with one of the listed statuses, the default backend is asked for the page
//! instead, as ingress-nginx asks its error backend, and its answer goes to the client.
//!
//! [`request`] is pure; [`fetch`] does the I/O.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::routes::Route;
use crate::subrequest::{self, Subrequest};

/// The largest error page passed on.
const PAGE_LIMIT: usize = 1 << 20;

/// The request whose backend answered with an error status.
pub struct Original<'a> {
    /// The `Host` as the client sent it.
    pub host: &'a str,
    pub request_uri: &'a str,
    pub accept: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

/// An error page, as the client gets it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// The request for the page of `status` to the endpoint `addr`: a GET of the same URI and
/// host, with the headers ingress-nginx's error backends read (`X-Code`, `X-Format`,
/// `X-Original-URI`, `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port`,
/// `X-Request-ID`).
pub fn request(
    route: &Route,
    status: u16,
    addr: SocketAddr,
    original: &Original<'_>,
) -> Result<Subrequest, String> {
    let uri: http::Uri = format!("http://{addr}{}", original.request_uri)
        .parse()
        .map_err(|e| format!("the error page's URI: {e}"))?;
    let (namespace, ingress) = route
        .ingress
        .split_once('/')
        .unwrap_or(("", route.ingress.as_str()));
    let target = route.backend.target.as_ref();
    let port = target
        .and_then(|t| t.port.as_ref())
        .map(|p| match (p.number, &p.name) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.clone(),
            (None, None) => String::new(),
        })
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("host", original.host);
    set("x-code", &status.to_string());
    set("x-format", original.accept.unwrap_or("text/html"));
    set("x-original-uri", original.request_uri);
    set("x-namespace", namespace);
    set("x-ingress-name", ingress);
    set(
        "x-service-name",
        target.map(|t| t.service.as_str()).unwrap_or_default(),
    );
    set("x-service-port", &port);
    if let Some(id) = original.request_id {
        set("x-request-id", id);
    }
    Ok(Subrequest {
        method: http::Method::GET,
        uri,
        headers,
    })
}

/// Asks for the page; `Err` (the backend's own answer then goes to the client) when the
/// default backend cannot give one in time.
pub async fn fetch(request: Subrequest, within: Duration) -> Result<Page, String> {
    let answered = subrequest::send(request, within, PAGE_LIMIT).await?;
    Ok(Page {
        status: answered.status,
        content_type: answered.headers.get(header::CONTENT_TYPE).cloned(),
        body: answered.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Backend, Endpoints, ServicePortRef};
    use k8s_openapi::api::networking::v1::ServiceBackendPort;
    use std::sync::Arc;

    #[test]
    fn the_page_request_says_what_failed() {
        let backend = Arc::new(Backend::new(
            "shop/web:80".into(),
            Some(ServicePortRef {
                namespace: "shop".into(),
                service: "web".into(),
                port: Some(ServiceBackendPort {
                    number: Some(80),
                    name: None,
                }),
            }),
            Endpoints::default(),
        ));
        let route = Route::for_tests("shop/app", backend);
        let original = Original {
            host: "shop.example.com",
            request_uri: "/cart?x=1",
            accept: Some("application/json"),
            request_id: Some("abc"),
        };
        let r = request(&route, 404, "10.0.0.9:8080".parse().unwrap(), &original).unwrap();
        assert_eq!(r.method, http::Method::GET);
        assert_eq!(r.uri, "http://10.0.0.9:8080/cart?x=1");
        let h = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h("host"), Some("shop.example.com"));
        assert_eq!(h("x-code"), Some("404"));
        assert_eq!(h("x-format"), Some("application/json"));
        assert_eq!(h("x-original-uri"), Some("/cart?x=1"));
        assert_eq!(h("x-namespace"), Some("shop"));
        assert_eq!(h("x-ingress-name"), Some("app"));
        assert_eq!(h("x-service-name"), Some("web"));
        assert_eq!(h("x-service-port"), Some("80"));
        assert_eq!(h("x-request-id"), Some("abc"));
    }
}
