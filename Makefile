# Tenancy — see README.md. Every target works on a fresh machine with Go.
GO ?= go
BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(GO) tool -modfile=hack/tools/controller-gen/go.mod controller-gen
GOLANGCI_LINT := $(BIN)/golangci-lint
GOLANGCI_LINT_VERSION := v2.15.0

.PHONY: all build image test test-unit test-integration lint generate docs verify bench bench-pods binaries clean

all: build

build: ## the tenancy binary, also as a kubectl plugin, and tenancy-controller (the controller alone)
	$(GO) build -o $(BIN)/tenancy ./cmd/tenancy
	$(GO) build -o $(BIN)/tenancy-controller ./cmd/tenancy-controller
	ln -sf tenancy $(BIN)/kubectl-tenancy

# The image `tenancy install` installs by default: stamped into the binary.
IMAGE ?= ghcr.io/tenancy-dev/tenancy:dev

image: ## bin/tenancy.oci.tar: the OCI image (linux/amd64, linux/arm64), without Docker
	cd hack/image && $(GO) run . -ref $(IMAGE) -out $(BIN)/tenancy.oci.tar -repo $(CURDIR)

generate: ## CRDs, RBAC and deepcopy from the Go types and markers
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false rbac:roleName=tenancy-controller paths=./api/... paths=./internal/controller/... output:crd:artifacts:config=config/crd output:rbac:artifacts:config=config/rbac

binaries: ## etcd and the Kubernetes control plane, built once into bin/
	$(GO) run ./cmd/tenancy dev binaries

# Tests that need a control plane (test/...) carry the build tag
# "integration": without it, `go test -short ./...` reports them as having
# no test files instead of an "ok" for a package that ran nothing.
TAGS := -tags integration

test: binaries ## everything CI runs: unit, integration and end-to-end tests
	$(GO) test $(TAGS) -count=1 -timeout 40m ./...

test-unit:
	$(GO) test -count=1 -short ./...

test-integration: binaries
	$(GO) test $(TAGS) -count=1 -timeout 40m ./test/... ./internal/localcluster/...

$(GOLANGCI_LINT):
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	$(GO) vet $(TAGS) ./...
	$(GOLANGCI_LINT) run --build-tags integration ./...

docs: ## the CLI and API reference in docs/reference, from the commands and the CRDs
	$(GO) run ./hack/docgen docs/reference

verify: generate docs ## fails if generated files (CRDs, RBAC, deepcopy, docs/reference, go.sum) are stale
	$(GO) mod tidy
	git diff --exit-code -- api config docs/reference go.mod go.sum
	@test -z "$$(git status --porcelain -- docs/reference)" || { git status --short -- docs/reference; echo "docs/reference: run make docs and commit"; exit 1; }

bench: binaries
	$(GO) run ./bench/provision $(BENCH_ARGS)

bench-pods: binaries ## pod start latency and node-agent memory on process nodes
	$(GO) run ./bench/pods $(BENCH_PODS_ARGS)

clean:
	rm -rf $(BIN)
