# Sluice developer commands. `make demo` shows Sluice working; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := target/tools
GO_ENV := CGO_ENABLED=0 GOFLAGS=-mod=readonly
CLUSTER_SRC := $(wildcard tests/cluster/*.go) tests/cluster/go.mod tests/cluster/go.sum
HELM_SRC := tests/helm/go.mod tests/helm/go.sum
HELM_VERSION = $(shell awk '$$1=="helm.sh/helm/v4" {print $$2}' tests/helm/go.mod)

.PHONY: help
help: ## Show the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --- Tools built from Go modules (rebuilt only when their sources change) ----------------

$(TOOLS)/cluster: $(CLUSTER_SRC)
	@mkdir -p $(TOOLS)
	cd tests/cluster && $(GO_ENV) go build -o ../../$@ .

$(TOOLS)/kubectl: tests/cluster/go.mod tests/cluster/go.sum
	@mkdir -p $(TOOLS)
	cd tests/cluster && $(GO_ENV) go build -o ../../$@ k8s.io/kubernetes/cmd/kubectl

$(TOOLS)/helm: $(HELM_SRC)
	@mkdir -p $(TOOLS)
	cd tests/helm && $(GO_ENV) go build \
		-ldflags "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" \
		-o ../../$@ helm.sh/helm/v4/cmd/helm

.PHONY: tools
tools: $(TOOLS)/cluster $(TOOLS)/kubectl $(TOOLS)/helm ## Build the control plane, kubectl and helm

# --- Rust ----------------------------------------------------------------------------------

.PHONY: build
build: ## Build Sluice's binaries
	cargo build --workspace --bins

.PHONY: lint
lint: ## cargo fmt --check and clippy
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: tools build ## Run every test: unit, proxy integration and end-to-end
	cargo test --workspace --no-fail-fast

# --- Running it ----------------------------------------------------------------------------

.PHONY: demo
demo: tools build ## The picture of docs/architecture.md, live: chart, operator, proxy, traffic (Ctrl-C stops it)
	@target/debug/sluice-demo

.PHONY: cluster
cluster: $(TOOLS)/cluster $(TOOLS)/kubectl ## Start a bare local control plane (Ctrl-C stops it)
	@mkdir -p target/cluster
	@echo "Starting the control plane; when it is ready:"
	@echo "  export KUBECONFIG=$(CURDIR)/target/cluster/kubeconfig PATH=$(CURDIR)/$(TOOLS):\$$PATH"
	@echo "  kubectl get namespaces"
	$(TOOLS)/cluster --dir target/cluster

.PHONY: clean-tools
clean-tools: ## Remove the built Go tools
	rm -rf $(TOOLS)
