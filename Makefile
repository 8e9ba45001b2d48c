# Sluice developer commands. `make demo` shows Sluice working; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := target/tools
GO_ENV := CGO_ENABLED=0 GOFLAGS=-mod=readonly
CLUSTER_SRC := $(wildcard tests/cluster/*.go) tests/cluster/go.mod tests/cluster/go.sum
HELM_SRC := tests/helm/go.mod tests/helm/go.sum
HELM_VERSION = $(shell awk '$$1=="helm.sh/helm/v4" {print $$2}' tests/helm/go.mod)
# Kubernetes binaries report this version; without it they say v0.0.0-master, which kubectl
# cannot parse.
K8S_VERSION = $(shell awk '$$1=="k8s.io/kubernetes" {print $$2}' tests/cluster/go.mod)
K8S_LDFLAGS = -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(K8S_VERSION:v%=%))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION:v%=%)))
IMAGES_SRC := $(wildcard build/images/*.go) build/images/go.mod build/images/go.sum
IMAGES := target/images
SLUICE_VERSION = $(shell awk -F'"' '/^version = / {print $$2; exit}' Cargo.toml)
CARGO_TARGET = $(or $(CARGO_TARGET_DIR),target)

.PHONY: help
help: ## Show the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --- Tools built from Go modules (rebuilt only when their sources change) ----------------

$(TOOLS)/cluster: $(CLUSTER_SRC)
	@mkdir -p $(TOOLS)
	cd tests/cluster && $(GO_ENV) go build -ldflags "$(K8S_LDFLAGS)" -o ../../$@ .

# kubectl and the node's kubelet and kube-proxy come from the same modules as the cluster.
$(TOOLS)/kubectl $(TOOLS)/kubelet $(TOOLS)/kube-proxy: $(TOOLS)/%: tests/cluster/go.mod tests/cluster/go.sum
	@mkdir -p $(TOOLS)
	cd tests/cluster && $(GO_ENV) go build -ldflags "$(K8S_LDFLAGS)" -o ../../$@ k8s.io/kubernetes/cmd/$*

$(TOOLS)/images: $(IMAGES_SRC)
	@mkdir -p $(TOOLS)
	cd build/images && $(GO_ENV) go build -o ../../$@ .

$(TOOLS)/helm: $(HELM_SRC)
	@mkdir -p $(TOOLS)
	cd tests/helm && $(GO_ENV) go build \
		-ldflags "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" \
		-o ../../$@ helm.sh/helm/v4/cmd/helm

# What the chart's tests check its monitoring with: promrules loads the alerting rules as
# Prometheus does and evaluates them with its PromQL engine (promtool would take ~9 minutes
# to build); the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, from its Go
# module (vouched for by the Go checksum database), let the API server validate those objects.
$(TOOLS)/promrules: tests/promrules/main.go tests/promrules/go.mod tests/promrules/go.sum
	@mkdir -p $(TOOLS)
	cd tests/promrules && $(GO_ENV) go build -o ../../$@ .

# h2spec, the HTTP/2 conformance checker proxy/tests/h2spec.rs runs against the TLS listener.
$(TOOLS)/h2spec: tests/h2spec/go.mod tests/h2spec/go.sum
	@mkdir -p $(TOOLS)
	cd tests/h2spec && $(GO_ENV) go build -o ../../$@ github.com/summerwind/h2spec/cmd/h2spec

# cert-manager and the pebble ACME server, for tests/e2e/cert_manager.rs: cert-manager's
# controller (a main of ours around its module's controller packages: the module proxy has no
# cmd/controller module), its CRDs from the module's deploy/crds, pebble and its challenge-test
# DNS server, and pebble's test TLS certificate and the CA that signed it.
CERTMANAGER_SRC := $(wildcard tests/certmanager/*/*.go) tests/certmanager/go.mod tests/certmanager/go.sum
CERT_MANAGER_VERSION = $(shell awk '$$1=="github.com/cert-manager/cert-manager" {print $$2}' tests/certmanager/go.mod)
PEBBLE_VERSION = $(shell awk '$$1=="github.com/letsencrypt/pebble/v2" {print $$2}' tests/certmanager/go.mod)
$(TOOLS)/cert-manager-controller: $(CERTMANAGER_SRC)
	@mkdir -p $(TOOLS)
	cd tests/certmanager && $(GO_ENV) go build -o ../../$@ ./controller

$(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv: $(TOOLS)/%: tests/certmanager/go.mod tests/certmanager/go.sum
	@mkdir -p $(TOOLS)
	cd tests/certmanager && $(GO_ENV) go build -o ../../$@ github.com/letsencrypt/pebble/v2/cmd/$*

$(TOOLS)/cert-manager-crds.yaml: tests/certmanager/go.mod
	@mkdir -p $(TOOLS)
	dir=$$(cd tests/certmanager && go mod download -json github.com/cert-manager/cert-manager@$(CERT_MANAGER_VERSION) \
		| awk -F'"' '$$2 == "Dir" {print $$4}') && test -n "$$dir" && \
	cat $$dir/deploy/crds/*cert-manager.io_*.yaml > $@.tmp && mv $@.tmp $@

$(TOOLS)/pebble-certs/cert.pem: tests/certmanager/go.mod
	@mkdir -p $(TOOLS)/pebble-certs
	dir=$$(cd tests/certmanager && go mod download -json github.com/letsencrypt/pebble/v2@$(PEBBLE_VERSION) \
		| awk -F'"' '$$2 == "Dir" {print $$4}') && test -n "$$dir" && \
	install -m 0644 $$dir/test/certs/pebble.minica.pem $$dir/test/certs/localhost/key.pem $(TOOLS)/pebble-certs/ && \
	install -m 0644 $$dir/test/certs/localhost/cert.pem $@

PROMETHEUS_OPERATOR_VERSION := v0.85.0
$(TOOLS)/monitoring-crds.yaml: Makefile
	@mkdir -p $(TOOLS)
	dir=$$(go mod download -json github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION) \
		| awk -F'"' '$$2 == "Dir" {print $$4}') && test -n "$$dir" && \
	cat $$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml \
		$$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml > $@.tmp && \
	mv $@.tmp $@

# The Gateway API conformance suite (tests/conformance), as a test binary that
# tests/src/bin/sluice-conformance.rs runs inside the node's network namespace.
$(TOOLS)/conformance.test: tests/conformance/go.mod tests/conformance/go.sum tests/conformance/conformance_test.go
	@mkdir -p $(TOOLS)
	cd tests/conformance && $(GO_ENV) go test -c -o ../../$@ .

.PHONY: tools
tools: $(TOOLS)/cluster $(TOOLS)/kubectl $(TOOLS)/helm $(TOOLS)/kubelet $(TOOLS)/kube-proxy $(TOOLS)/images $(TOOLS)/promrules $(TOOLS)/monitoring-crds.yaml $(TOOLS)/h2spec $(TOOLS)/cert-manager-controller $(TOOLS)/cert-manager-crds.yaml $(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv $(TOOLS)/pebble-certs/cert.pem ## Build the control plane, the node's binaries, kubectl, helm, the chart's monitoring checks, h2spec, cert-manager and pebble

# --- Images (OCI archives, no Docker: `ctr images import`, `docker load`, `kind load image-archive`)

$(IMAGES)/bin/pause: build/images/pause/main.go build/images/go.mod
	cd build/images && $(GO_ENV) go build -ldflags "-s -w" -o ../../$@ ./pause

$(IMAGES)/bin/echo-basic: build/images/go.mod build/images/go.sum
	cd build/images && $(GO_ENV) go build -ldflags "-s -w" -o ../../$@ sigs.k8s.io/gateway-api/conformance/echo-basic

# cert-manager's HTTP-01 solver, under the name tests/e2e/cert_manager.rs gives the controller's
# --acme-http01-solver-image; it runs as non-root, as the controller's solver pods require.
$(IMAGES)/bin/acmesolver: $(CERTMANAGER_SRC)
	cd tests/certmanager && $(GO_ENV) go build -ldflags "-s -w" -o ../../$@ ./acmesolver

$(IMAGES)/acmesolver.tar: $(IMAGES)/bin/acmesolver $(TOOLS)/images
	$(TOOLS)/images -o $@ -user 65532:65532 quay.io/jetstack/cert-manager-acmesolver:$(CERT_MANAGER_VERSION)=$<

# The sandbox image containerd is configured with (tests/cluster/containerd.go).
$(IMAGES)/pause.tar: $(IMAGES)/bin/pause $(TOOLS)/images
	$(TOOLS)/images -o $@ registry.k8s.io/pause:3.10=$<

# Gateway API's echo server, under the names the conformance suite's manifests use.
$(IMAGES)/echo-basic.tar: $(IMAGES)/bin/echo-basic $(TOOLS)/images
	$(TOOLS)/images -o $@ registry.k8s.io/gateway-api/echo-basic:v1.5.1,registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.2,registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.3=$<

# CoreDNS under the name the conformance suite's base manifests use (only `make conformance`
# needs it).
$(IMAGES)/bin/coredns: tests/coredns/go.mod tests/coredns/go.sum
	cd tests/coredns && $(GO_ENV) go build -ldflags "-s -w" -o ../../$@ github.com/coredns/coredns

$(IMAGES)/coredns.tar: $(IMAGES)/bin/coredns $(TOOLS)/images
	$(TOOLS)/images -o $@ registry.k8s.io/coredns/coredns:v1.12.2=$<

# Sluice's image: the operator and the proxy under the names the chart and the operator use
# by default. $(1) is the cargo profile directory the binaries come from, $(2) the archive.
sluice_image = $(TOOLS)/images -o $(2) -user 65532:65532 -ca-certs \
	ghcr.io/sluice-dev/sluice-operator:$(SLUICE_VERSION)=$(CARGO_TARGET)/$(1)/sluice-operator \
	ghcr.io/sluice-dev/sluice-proxy:$(SLUICE_VERSION)=$(CARGO_TARGET)/$(1)/sluice-proxy

# From the debug binaries `make build` makes: what the end-to-end tests and `make demo` run,
# since a release build takes minutes. Same names as the release image.
$(IMAGES)/sluice-dev.tar: build $(TOOLS)/images
	$(call sluice_image,debug,$@)

.PHONY: test-images
test-images: $(IMAGES)/pause.tar $(IMAGES)/echo-basic.tar $(IMAGES)/acmesolver.tar $(IMAGES)/sluice-dev.tar ## Build the images the end-to-end tests and the demo run (pause, echo backend, cert-manager's acmesolver, sluice from the debug build)

.PHONY: images
images: test-images $(TOOLS)/images ## Build every image archive into target/images: sluice (release build), pause, echo backend
	cargo build --release --locked -p sluice-proxy -p sluice-operator
	$(call sluice_image,release,$(IMAGES)/sluice.tar)

# --- Rust ----------------------------------------------------------------------------------

.PHONY: build
build: ## Build Sluice's binaries
	cargo build --workspace --bins

.PHONY: lint
lint: ## cargo fmt --check and clippy
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: tools build test-images ## Run every test: unit, proxy integration and end-to-end
	cargo test --workspace --no-fail-fast
	@# The proxy's integration tests again, every HTTP/1.1 request through Pingora: both
	@# paths must pass the same tests.
	SLUICE_TEST_NO_FAST_PATH=1 cargo test -p sluice-proxy --tests --no-fail-fast

# --- Fuzzing ----------------------------------------------------------------------------------

.PHONY: fuzz
fuzz: ## Fuzz the parsers (cargo-fuzz, libFuzzer), FUZZ_SECONDS each (default 60); see docs/fuzzing.md
	fuzz/run.sh

# --- Running it ----------------------------------------------------------------------------

.PHONY: demo
demo: tools build test-images ## The picture of docs/architecture.md, live: chart, operator, proxy, traffic (Ctrl-C stops it)
	@target/debug/sluice-demo

.PHONY: demo-acme
demo-acme: tools build test-images ## `make demo`, plus cert-manager and pebble issuing app.example.com's certificate (docs/demo.md)
	@target/debug/sluice-demo --acme

.PHONY: conformance
conformance: tools build test-images $(IMAGES)/coredns.tar $(TOOLS)/conformance.test ## Gateway API conformance: the upstream suite (v1.6.3) against Sluice on a real node; report in docs/conformance/ (one test: CONFORMANCE_ARGS="--run-test NAME")
	target/debug/sluice-conformance --report docs/conformance/standard-v1.6.3-default-report.yaml $(CONFORMANCE_ARGS)

.PHONY: gateway-api
gateway-api: ## Copy the Gateway API CRDs (tests/conformance/go.mod's release) into the chart and regenerate crds/src/gateway_api with kopium
	build/gateway-api.sh

.PHONY: cluster
cluster: $(TOOLS)/cluster $(TOOLS)/kubectl $(TOOLS)/kubelet $(TOOLS)/kube-proxy test-images ## Start a real single-node cluster, API and node ports 30080/30443 on 127.0.0.1 (Ctrl-C stops it)
	@mkdir -p target/cluster
	@echo "Starting the cluster; when it is ready:"
	@echo "  export KUBECONFIG=$(CURDIR)/target/cluster/kubeconfig PATH=$(CURDIR)/$(TOOLS):\$$PATH"
	@echo "  kubectl get nodes"
	@echo "  ctr --address $(CURDIR)/target/cluster/node/containerd/containerd.sock -n k8s.io images import $(IMAGES)/echo-basic.tar"
	$(TOOLS)/cluster --dir target/cluster --node --import $(IMAGES)/pause.tar

.PHONY: control-plane
control-plane: $(TOOLS)/cluster $(TOOLS)/kubectl ## Start a bare local control plane, no node (Ctrl-C stops it)
	@mkdir -p target/cluster
	@echo "Starting the control plane; when it is ready:"
	@echo "  export KUBECONFIG=$(CURDIR)/target/cluster/kubeconfig PATH=$(CURDIR)/$(TOOLS):\$$PATH"
	@echo "  kubectl get namespaces"
	$(TOOLS)/cluster --dir target/cluster

.PHONY: clean-tools
clean-tools: ## Remove the built Go tools
	rm -rf $(TOOLS)
