//! The admin listener: `/healthz`, `/readyz`, `/metrics` and `/routes`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as Extract;
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
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: routes not yet loaded, or shutting down\n",
        )
            .into_response()
    }
}

async fn metrics(Extract(state): Extract<Arc<State>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn routes(Extract(state): Extract<Arc<State>>) -> Response {
    let body = serde_json::json!({
        "class": state.options.class,
        "ready": state.is_ready(),
        "table": &*state.table(),
        "problems": &*state.problems(),
    });
    axum::Json(body).into_response()
}
