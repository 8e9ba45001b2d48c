//! The admin listener: `/healthz`, `/readyz`, `/metrics` and `/routes`.
//!
//! The listener is on every address, for the kubelet's probes and Prometheus. `/routes` shows
//! every host, path and backend of the class, so it answers loopback clients only: a person
//! with `kubectl port-forward` or `kubectl exec`, never another pod.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::State;

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/routes", get(routes))
        .with_state(state)
}

async fn readyz(Extract(state): Extract<Arc<State>>) -> Response {
    if state.is_ready() {
        // Still ready while the source fails: the last good routes serve, and taking every
        // proxy out of its Service would turn a control-plane outage into a data-plane one.
        match state.source_health.outage() {
            None => (StatusCode::OK, "ready\n").into_response(),
            Some(outage) => (
                StatusCode::OK,
                format!(
                    "ready: serving the last good routes; {}\n",
                    outage.describe()
                ),
            )
                .into_response(),
        }
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: routes not yet loaded, or shutting down\n",
        )
            .into_response()
    }
}

async fn metrics(Extract(state): Extract<Arc<State>>) -> Response {
    state
        .metrics
        .access_log_dropped_lines
        .set(state.access_log.dropped() as i64);
    state
        .metrics
        .client_connections
        .set(state.connections.open() as i64);
    state
        .metrics
        .source_healthy
        .set(i64::from(state.source_health.outage().is_none()));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Whether a client at `peer` may read `/routes`.
fn may_read_routes(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

async fn routes(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extract(state): Extract<Arc<State>>,
) -> Response {
    if !may_read_routes(peer) {
        return (
            StatusCode::FORBIDDEN,
            "/routes answers loopback clients only: use kubectl port-forward or kubectl exec\n",
        )
            .into_response();
    }
    let tables = state.tables();
    let mut body = serde_json::json!({
        "class": state.options.class,
        "ready": state.is_ready(),
        "source_outage": state.source_health.outage().map(|o| o.describe()),
        "table": &*tables.default,
        "problems": &*state.problems(),
    });
    // Gateway mode: each listener port's table, by the port the proxy binds.
    if let Some(gateway) = &state.gateway {
        body["gateway"] = serde_json::json!(format!(
            "{}/{}",
            gateway.gateway.namespace, gateway.gateway.name
        ));
        body["ports"] = serde_json::json!(&tables.by_port);
    }
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::compile::CompileOptions;

    async fn status_for(peer: &str, path: &str) -> StatusCode {
        let state = Arc::new(State::new(
            CompileOptions {
                class: "sluice".into(),
                controller: sluice_crds::names::CONTROLLER_NAME.into(),
                ssl_redirect: true,
                allowed_response_headers: Vec::new(),
            },
            Default::default(),
            crate::serve::access_log::AccessLog::new(
                Default::default(),
                sluice_common::LogFormat::Text,
            ),
            crate::serve::limits::ConnectionCaps {
                total: 0,
                per_address: 0,
            },
        ));
        let peer: SocketAddr = peer.parse().unwrap();
        let app = router(state).layer(MockConnectInfo(peer));
        let request = Request::get(path).body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn routes_answer_loopback_clients_only() {
        assert_eq!(
            status_for("127.0.0.1:5000", "/routes").await,
            StatusCode::OK
        );
        assert_eq!(status_for("[::1]:5000", "/routes").await, StatusCode::OK);
        assert_eq!(
            status_for("[::ffff:127.0.0.1]:5000", "/routes").await,
            StatusCode::OK
        );
        assert_eq!(
            status_for("10.244.0.7:5000", "/routes").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_for("[fd00::7]:5000", "/routes").await,
            StatusCode::FORBIDDEN
        );
        // Probes and Prometheus come from other addresses.
        assert_eq!(
            status_for("10.244.0.7:5000", "/metrics").await,
            StatusCode::OK
        );
        assert_eq!(
            status_for("10.244.0.7:5000", "/healthz").await,
            StatusCode::OK
        );
    }
}
