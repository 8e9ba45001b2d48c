//! A real OTLP receiver for tests, over gRPC or HTTP/protobuf: spans exported by Sluice's
//! processes arrive here, over the same protocols an OpenTelemetry collector speaks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

/// A span as received, with the service that sent it.
#[derive(Clone, Debug)]
pub struct Received {
    pub service: String,
    pub span: Span,
}

impl Received {
    /// An attribute's value as a string (numbers and booleans are formatted).
    pub fn attribute(&self, key: &str) -> Option<String> {
        let kv = self.span.attributes.iter().find(|kv| kv.key == key)?;
        Some(match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            Value::BoolValue(b) => b.to_string(),
            Value::DoubleValue(d) => d.to_string(),
            other => format!("{other:?}"),
        })
    }

    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Received>>>);

impl Sink {
    fn record(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.record(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`, as OTLP/HTTP sends it.
async fn http_export(
    axum::extract::State(sink): axum::extract::State<Sink>,
    body: bytes::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use prost::Message;
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            sink.record(request);
            let reply = ExportTraceServiceResponse {
                partial_success: None,
            };
            (
                [("content-type", "application/x-protobuf")],
                reply.encode_to_vec(),
            )
                .into_response()
        }
        Err(error) => (axum::http::StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

/// The protocol a [`Collector`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// A running receiver; stopped when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    sink: Sink,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    /// Starts an OTLP/gRPC receiver on a free port.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(crate::proxy::free_addr()?)
    }

    /// Starts an OTLP/gRPC receiver on `addr` (to bring one back where a stopped one was).
    pub fn start_on(addr: SocketAddr) -> anyhow::Result<Self> {
        Self::start_with(Protocol::Grpc, addr)
    }

    /// Starts a receiver of `protocol` on `addr`.
    pub fn start_with(protocol: Protocol, addr: SocketAddr) -> anyhow::Result<Self> {
        let sink = Sink::default();
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let receiving = sink.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    match protocol {
                        Protocol::Grpc => {
                            let incoming = tonic::transport::server::TcpIncoming::from(listener);
                            let _ = tonic::transport::Server::builder()
                                .add_service(TraceServiceServer::new(receiving))
                                .serve_with_incoming_shutdown(incoming, stopped)
                                .await;
                        }
                        Protocol::HttpProtobuf => {
                            let app = axum::Router::new()
                                .route("/v1/traces", axum::routing::post(http_export))
                                .with_state(receiving);
                            let _ = axum::serve(listener, app)
                                .with_graceful_shutdown(stopped)
                                .await;
                        }
                    }
                });
            })?;
        Ok(Self {
            addr,
            sink,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.sink
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
