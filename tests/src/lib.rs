//! Harness for Sluice's integration and end-to-end tests: a real Kubernetes control plane
//! (etcd, kube-apiserver, kube-controller-manager) built from the upstream Go modules, the
//! real `kubectl` and `helm`, real `sluice-proxy` processes, real upstream servers and real
//! HTTP clients. Build the Go tools with `make tools`; `make test` does so first.

pub mod acme;
pub mod bulk;
pub mod client;
pub mod cluster;
pub mod netns;
pub mod objects;
pub mod operator;
pub mod otlp;
pub mod process;
pub mod proxy;
pub mod relay;
pub mod requests;
pub mod scripted;
pub mod seed;
pub mod sockets;
pub mod tools;
pub mod traffic;
pub mod upstream;
pub mod usage;

pub use cluster::TestCluster;
pub use proxy::Proxy;
pub use scripted::ScriptedUpstream;
pub use upstream::Upstream;
