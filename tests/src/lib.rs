//! Harness for Sluice's end-to-end tests: a real Kubernetes control plane (etcd,
//! kube-apiserver, kube-controller-manager) built from the upstream Go modules, and the real
//! `kubectl` and `helm`. Build them with `make tools`; `make test` does so first.

pub mod cluster;
pub mod process;
pub mod tools;

pub use cluster::TestCluster;
