//! The HTTPS server: axum routes over rustls (TLS 1.2 and 1.3 only; no plain HTTP).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::server::ResolvesServerCert;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::index::Index;
use crate::metrics::{Metrics, ReviewLabels};
use crate::review::{ReviewError, ingress_review};

/// Big enough for an AdmissionReview of the largest object etcd stores (1.5 MiB) with its
/// old version; anything larger is refused before it is read.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct Webhook {
    pub index: Arc<RwLock<Index>>,
    /// Set once the index holds a full list of the cluster.
    pub synced: Arc<AtomicBool>,
    pub metrics: Metrics,
}

impl Webhook {
    /// A webhook for the Ingresses of the classes whose controller is `controller`.
    pub fn new(metrics: Metrics, controller: &str) -> Self {
        Self {
            index: Arc::new(RwLock::new(Index::new(controller))),
            synced: Arc::default(),
            metrics,
        }
    }
}

pub fn router(webhook: Webhook) -> Router {
    Router::new()
        .route("/validate/ingress", post(validate_ingress))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(webhook)
}

async fn readyz(State(webhook): State<Webhook>) -> Response {
    if webhook.synced.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Ingress index is not synced yet\n",
        )
            .into_response()
    }
}

async fn validate_ingress(
    State(webhook): State<Webhook>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "admission_review",
        otel.kind = "server",
        kind = "Ingress",
        object = tracing::field::Empty,
        operation = tracing::field::Empty,
        decision = tracing::field::Empty,
        reason = tracing::field::Empty,
        index_ingresses = tracing::field::Empty,
    );
    // The API server sends a traceparent when its own tracing is on: continue that trace.
    let _ = span.set_parent(sluice_common::telemetry::extract(&headers));
    let _enter = span.enter();
    let result = {
        let index = webhook.index.read().unwrap_or_else(|e| e.into_inner());
        span.record("index_ingresses", index.ingresses());
        ingress_review(&index, &body)
    };
    match result {
        Ok(answer) => {
            let decision = if answer.decision.allowed {
                "allowed"
            } else {
                "denied"
            };
            span.record("object", answer.object.as_str());
            span.record("operation", answer.operation.as_str());
            span.record("decision", decision);
            span.record("reason", answer.decision.reason.as_str());
            webhook
                .metrics
                .reviews
                .get_or_create(&ReviewLabels {
                    kind: "Ingress",
                    decision,
                    reason: answer.decision.reason.as_str(),
                })
                .inc();
            webhook
                .metrics
                .review_duration
                .observe(started.elapsed().as_secs_f64());
            if let Some(message) = &answer.decision.message {
                tracing::info!(denial = message.as_str(), "review denied");
            }
            axum::Json(answer.review).into_response()
        }
        Err(error) => bad_request(&webhook, error),
    }
}

fn bad_request(webhook: &Webhook, error: ReviewError) -> Response {
    webhook.metrics.bad_requests.inc();
    tracing::warn!(%error, "bad admission request");
    (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
}

/// Serves `app` over TLS on `listener` until the task is dropped. Handshakes that do not
/// finish within 10 s are dropped.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    certificate: Arc<dyn ResolvesServerCert>,
) -> std::io::Result<()> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = TowerToHyperService::new(app);
            if let Err(error) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}
