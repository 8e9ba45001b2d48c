//! A gRPC backend for `bench/https.sh`: the standard health service (`grpc.health.v1.Health`,
//! every service SERVING) over h2c on the address given, on one thread, as the benchmarks'
//! nginx upstream has one worker.

use std::net::SocketAddr;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .context("usage: sluice-bench-grpc ADDR (e.g. 127.0.0.1:9000)")?
        .parse()
        .context("ADDR is not an IP address and port")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(addr)
            .await
            .with_context(|| format!("serving gRPC on {addr}"))
    })
}
