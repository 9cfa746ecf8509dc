# vault-csi-provider: see `make help`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO       ?= go
BIN      := $(CURDIR)/bin
PROVIDER := $(BIN)/vault-csi-provider
VAULT    := $(BIN)/vault
STATICCHECK := $(BIN)/staticcheck
HELM     := $(BIN)/helm
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOFILES  := $(shell git ls-files '*.go' 2>/dev/null | grep -v '^tools/' || find . -name '*.go' -not -path './tools/*')
# Downloads from the module proxy can hang: bound each and retry.
FETCH    := hack/fetch-modules.sh

export VAULT_BIN := $(VAULT)
# The provider binary the tests that run it as a child use (csitest.ProviderBinary).
export PROVIDER_BIN := $(PROVIDER)

.PHONY: help build test lint demo bench clean tools packages

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

build: ## build bin/vault-csi-provider
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(PROVIDER) ./cmd/provider

$(VAULT): tools/vault/go.mod tools/vault/go.sum
	$(FETCH) tools/vault
	cd tools/vault && $(GO) build -ldflags='-s -w' -o $(VAULT) github.com/hashicorp/vault

$(STATICCHECK): tools/lint/go.mod tools/lint/go.sum
	$(FETCH) tools/lint
	cd tools/lint && $(GO) build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

$(HELM): tools/helm/go.mod tools/helm/go.sum
	$(FETCH) tools/helm
	@# As helm's own release build: its version, and the Kubernetes version of its client-go
	@# (v0.N.x is 1.N) as the default for `helm template` capabilities and deprecation lints.
	cd tools/helm && v=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3) && \
		minor=$$($(GO) list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2) && \
		$(GO) build -o $(HELM) -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$$v \
			-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$minor \
			-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$minor" \
			helm.sh/helm/v3/cmd/helm

tools: $(VAULT) $(STATICCHECK) $(HELM) ## build the Vault server, staticcheck and helm

lint: $(STATICCHECK) ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# The database tests (internal/mount, internal/vaulttest) run a real PostgreSQL.
packages: ## install the Debian packages the tests need (postgresql) if missing
	@compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || hack/apt-install.sh postgresql

test: packages $(VAULT) build ## run every test with -race against a real Vault and PostgreSQL
	$(GO) test -race -count=1 ./...

# A 3-node raft cluster auto-unsealed by a transit Vault, taps and a front on
# loopback; PostgreSQL for the database credentials (test/ha).
.PHONY: ha
ha: packages $(VAULT) build ## HA: pods mount while the active Vault node is killed, sealed, cut off; through a front, then an address list (HA_ARGS='-provider-args=-vault-retry-budget=0')
	$(GO) run ./test/ha -provider $(PROVIDER) $(HA_ARGS)

# The same cluster; the provider SIGKILLed and restarted twice with its state
# file while 20 pods mount, then every Vault node stopped while new pods
# start (test/ha/chaos.go). CI runs a 30 s outage; the issue's 5 minutes:
# CHAOS_ARGS='-vault-down=5m'.
.PHONY: chaos
CHAOS_ARGS ?= -vault-down=30s
chaos: packages $(VAULT) build ## restarts lose nothing, known pods start while Vault is down (CHAOS_ARGS='-vault-down=5m')
	$(GO) run ./test/ha -provider $(PROVIDER) -scenario chaos $(CHAOS_ARGS)

demo: $(VAULT) build ## start a dev Vault and the provider, mount through the socket, print the files
	$(GO) run ./test/demo -provider $(PROVIDER)

bench: $(VAULT) ## Go benchmarks of a warm Mount through the socket against the real Vault
	$(GO) test -run '^$$' -bench . -benchmem ./internal/mount/

# Go native fuzz targets; their seed corpora (and testdata/fuzz) run in `make test`.
FUZZTIME ?= 60s
FUZZ_TARGETS := ./internal/spc:FuzzParseObjects ./internal/spc:FuzzParseParams \
	./internal/spc:FuzzValidateFilePath ./internal/mount:FuzzRender ./internal/mount:FuzzCheckSize \
	./internal/auth:FuzzParseDriverTokens ./internal/nested:FuzzCompileSelect ./internal/tmpl:FuzzParseExecute \
	./internal/vault:FuzzDecodeSecret ./internal/jsonvalue:FuzzNumberLen

.PHONY: fuzz
fuzz: ## run each fuzz target in turn for FUZZTIME (default 60s, or e.g. FUZZTIME=1000000x)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${fn}\$$" -fuzztime $(FUZZTIME) -timeout 0 $$pkg; \
	done

clean: ## remove built binaries
	rm -rf $(BIN)

# promtool checks and unit-tests the chart's alert rules (deploy-check).
# remove_all_sd leaves out Prometheus's service discoveries (cloud SDKs,
# client-go), which rules never use: a cold build of about 6.5 minutes and
# 1 GiB instead of 16.5 minutes and 3 GiB on two busy cores.
PROMTOOL := $(BIN)/promtool

$(PROMTOOL): tools/promtool/go.mod tools/promtool/go.sum
	$(FETCH) tools/promtool
	cd tools/promtool && v=$$($(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus) && \
		$(GO) build -tags remove_all_sd -o $(PROMTOOL) -ldflags="-s -w -X github.com/prometheus/common/version.Version=$$v" \
			github.com/prometheus/prometheus/cmd/promtool

.PHONY: deploy-check
deploy-check: $(HELM) $(PROMTOOL) ## lint and render the Helm chart and kustomize base, check every document, test the alert rules
	HELM=$(HELM) PROMTOOL=$(PROMTOOL) KUBECTL=$${KUBECTL:-kubectl} GO=$(GO) OUT=$(BIN)/deploy-check deployment/scripts/deploy-check.sh

.PHONY: bench-load
bench-load: $(VAULT) build ## load benchmark: pods mounting through the socket against a real Vault (BENCH_ARGS='-scenario kv1 -pods 10')
	$(GO) run ./cmd/bench -provider $(PROVIDER) $(BENCH_ARGS)

.PHONY: bench-hostile
bench-hostile: build ## attacks by a SecretProviderClass, each on a fresh provider: time to answer and peak RSS
	$(GO) run ./cmd/bench -provider $(PROVIDER) -scenario hostile

# End-to-end: a real kube-apiserver (tools/kube), etcd, the Secrets Store CSI
# driver (tools/csi), Vault and the provider, driven by bats (test/e2e).
# The Kubernetes release of the e2e control plane: KUBE_VERSION names a directory
# of tools/kube (MAJOR.MINOR; a full MAJOR.MINOR.PATCH must match the one it pins),
# e.g. `KUBE_VERSION=1.35 make e2e`. Each release's binaries go to their own
# bin/kube/VERSION/. tools/kube/new-version.sh writes the directory for another release.
KUBE_VERSION ?= 1.37
KUBE_MINOR   := $(word 1,$(subst ., ,$(KUBE_VERSION))).$(word 2,$(subst ., ,$(KUBE_VERSION)))
KUBE_DIR     := tools/kube/$(KUBE_MINOR)
KUBE_RELEASE := $(shell sed -n 's|^require k8s.io/kubernetes v||p' $(KUBE_DIR)/go.mod 2>/dev/null)
ifeq ($(KUBE_RELEASE),)
$(error KUBE_VERSION=$(KUBE_VERSION): no $(KUBE_DIR)/go.mod; one of: $(notdir $(wildcard tools/kube/1.*)))
endif
ifneq ($(word 3,$(subst ., ,$(KUBE_VERSION))),)
ifneq ($(KUBE_VERSION),$(KUBE_RELEASE))
$(error KUBE_VERSION=$(KUBE_VERSION): $(KUBE_DIR) pins $(KUBE_RELEASE))
endif
endif
KUBE_BIN     := $(BIN)/kube/$(KUBE_RELEASE)
KUBE_APISERVER := $(KUBE_BIN)/kube-apiserver
KUBE_CONTROLLER_MANAGER := $(KUBE_BIN)/kube-controller-manager
CSI_DRIVER     := $(BIN)/secrets-store-csi-driver
KUBELET        := $(BIN)/e2e-kubelet
# As the release's own build: without them `kubectl version` cannot parse the server's version.
KUBE_VERSION_LDFLAGS := -X k8s.io/component-base/version.gitVersion=v$(KUBE_RELEASE) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_RELEASE)))

$(KUBE_APISERVER): $(KUBE_DIR)/go.mod $(KUBE_DIR)/go.sum
	$(FETCH) $(KUBE_DIR)
	cd $(KUBE_DIR) && $(GO) build -ldflags='-s -w $(KUBE_VERSION_LDFLAGS)' -o $(KUBE_APISERVER) k8s.io/kubernetes/cmd/kube-apiserver

# Only its garbage collector runs (test/e2e/stack.sh).
$(KUBE_CONTROLLER_MANAGER): $(KUBE_DIR)/go.mod $(KUBE_DIR)/go.sum
	$(FETCH) $(KUBE_DIR)
	cd $(KUBE_DIR) && $(GO) build -ldflags='-s -w $(KUBE_VERSION_LDFLAGS)' -o $(KUBE_CONTROLLER_MANAGER) k8s.io/kubernetes/cmd/kube-controller-manager

# The one-node cluster's kubelet and scheduler (test/node), from the same module
# as the apiserver so the four binaries share compiled packages.
KUBE_SCHEDULER := $(KUBE_BIN)/kube-scheduler
KUBE_KUBELET   := $(KUBE_BIN)/kubelet

$(KUBE_SCHEDULER): $(KUBE_DIR)/go.mod $(KUBE_DIR)/go.sum
	$(FETCH) $(KUBE_DIR)
	cd $(KUBE_DIR) && $(GO) build -ldflags='-s -w $(KUBE_VERSION_LDFLAGS)' -o $(KUBE_SCHEDULER) k8s.io/kubernetes/cmd/kube-scheduler

$(KUBE_KUBELET): $(KUBE_DIR)/go.mod $(KUBE_DIR)/go.sum
	$(FETCH) $(KUBE_DIR)
	cd $(KUBE_DIR) && $(GO) build -ldflags='-s -w $(KUBE_VERSION_LDFLAGS)' -o $(KUBE_KUBELET) k8s.io/kubernetes/cmd/kubelet

.PHONY: kube-bin
kube-bin: ## print the directory of KUBE_VERSION's kube-apiserver and kube-controller-manager
	@echo $(KUBE_BIN)

# Static (CGO_ENABLED=0): the same binary runs on this machine (make e2e) and
# in the driver's node image, which has no C library (make e2e-node).
$(CSI_DRIVER): tools/csi/go.mod tools/csi/go.sum $(wildcard tools/csi/mlog/*.go)
	$(FETCH) tools/csi
	cd tools/csi && v=$$($(GO) list -m -f '{{.Version}}' sigs.k8s.io/secrets-store-csi-driver) && \
		CGO_ENABLED=0 $(GO) build -ldflags="-s -w -X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=$$v" \
			-o $(CSI_DRIVER) sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver

$(KUBELET): test/kubelet/go.mod test/kubelet/go.sum $(wildcard test/kubelet/*.go)
	$(FETCH) test/kubelet
	cd test/kubelet && $(GO) build -o $(KUBELET) .

# The stand-in for the Secrets Store sync controller (test/synccontroller):
# its Go module is not served here, so the bats cases make its Mount calls.
SYNC_CLIENT := $(BIN)/e2e-sync-controller
$(SYNC_CLIENT): go.mod go.sum $(wildcard test/synccontroller/*.go internal/csitest/*.go internal/spc/*.go)
	$(GO) build -o $(SYNC_CLIENT) ./test/synccontroller

.PHONY: e2e-tools e2e
e2e-tools: $(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(CSI_DRIVER) $(KUBELET) $(SYNC_CLIENT) ## build kube-apiserver, kube-controller-manager, the CSI driver, the test kubelet and the sync controller's stand-in

e2e: ## whole chain on real components: etcd, kube-apiserver, kube-controller-manager (GC), CSI driver, Vault, provider; bats cases (KUBE_VERSION=1.35 for another release)
	test/e2e/run.sh

# The provider's OCI image, built without a container daemon by tools/image
# (go-containerregistry): bin/image, an OCI image layout holding an index of
# IMAGE_PLATFORMS, and bin/image.tar, a docker-save tarball of one platform
# (IMAGE_TAR_PLATFORM, default this machine's) for `docker load`,
# `kind load image-archive` and `ctr images import`. The same commit gives the
# same digests: every time is the commit's (SOURCE_DATE_EPOCH).
IMAGE_TOOL         := $(BIN)/image-tool
IMAGE_LAYOUT       := $(BIN)/image
IMAGE_TAR          := $(BIN)/image.tar
IMAGE_PLATFORMS    ?= linux/amd64 linux/arm64
IMAGE_TAR_PLATFORM ?= linux/$(shell $(GO) env GOARCH)
# A release tag vX.Y.Z gives the tag X.Y.Z, the chart's appVersion.
IMAGE_REF          ?= vault-csi-provider:$(patsubst v%,%,$(VERSION))
IMAGE_SOURCE       ?= https://$(shell $(GO) list -m)
SOURCE_DATE_EPOCH  ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

$(IMAGE_TOOL): tools/image/go.mod tools/image/go.sum $(wildcard tools/image/*.go)
	$(FETCH) tools/image
	cd tools/image && $(GO) build -o $(IMAGE_TOOL) .

# The chart packaged at the version of the tag: vX.Y.Z gives chart version
# X.Y.Z; between tags, Chart.yaml's version with the commit. Its appVersion
# is the image's tag, so the chart installs the image `make image` built.
CHART_DIR     := deployment/helm/vault-csi-provider
CHART_VERSION ?= $(shell v='$(VERSION)'; \
	if [[ $$v =~ ^v[0-9]+\.[0-9]+\.[0-9]+$$ ]]; then echo "$${v#v}"; \
	else echo "$$(sed -n 's/^version: //p' $(CHART_DIR)/Chart.yaml)+$$(git rev-parse --short HEAD 2>/dev/null || echo dev)"; fi)

.PHONY: chart
chart: $(HELM) ## package the Helm chart at the tag's version into bin/
	$(HELM) package $(CHART_DIR) --version $(CHART_VERSION) --app-version $(patsubst v%,%,$(VERSION)) -d $(BIN)

.PHONY: image image-test
image: $(IMAGE_TOOL) ## build the image: bin/image (OCI layout, amd64+arm64) and bin/image.tar (docker load)
	@rm -rf $(BIN)/image-bin
	@for p in $(IMAGE_PLATFORMS); do \
		echo "go build $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' \
			-o $(BIN)/image-bin/$${p/\//-}/vault-csi-provider ./cmd/provider; \
	done
	$(IMAGE_TOOL) -layout $(IMAGE_LAYOUT) -tar $(IMAGE_TAR) -tar-platform $(IMAGE_TAR_PLATFORM) \
		-ref $(IMAGE_REF) -version $(VERSION) -revision $(COMMIT) -source $(IMAGE_SOURCE) \
		-source-date-epoch $(SOURCE_DATE_EPOCH) \
		$(foreach p,$(IMAGE_PLATFORMS),-binary $(p)=$(BIN)/image-bin/$(subst /,-,$(p))/vault-csi-provider)

image-test: image ## unpack the built image, run its entrypoint with -version, check labels, user, CA roots, tarball
	cd tools/image && IMAGE_LAYOUT=$(IMAGE_LAYOUT) IMAGE_TAR=$(IMAGE_TAR) IMAGE_TAR_PLATFORM=$(IMAGE_TAR_PLATFORM) \
		IMAGE_VERSION=$(VERSION) IMAGE_REVISION=$(COMMIT) IMAGE_SOURCE=$(IMAGE_SOURCE) \
		$(GO) test -count=1 -v ./...

# The one-node cluster (test/node): the Kubernetes control plane and a real
# kubelet (tools/kube), containerd (tools/containerd) on Debian's runc, the
# CNI plugins it needs (tools/cni), images built here and imported, the
# driver and the provider installed from their Helm charts.
NODE_BIN   := $(BIN)/node
CONTAINERD := $(NODE_BIN)/containerd
CNI_BIN    := $(NODE_BIN)/cni
CNI_PLUGINS := $(CNI_BIN)/bridge $(CNI_BIN)/host-local $(CNI_BIN)/loopback
NODE_IMAGES := $(NODE_BIN)/images.stamp

$(CONTAINERD): tools/containerd/go.mod tools/containerd/go.sum
	$(FETCH) tools/containerd
	cd tools/containerd && v=$$($(GO) list -m -f '{{.Version}}' github.com/containerd/containerd/v2) && \
		CGO_ENABLED=0 $(GO) build -tags no_btrfs,no_devmapper,no_zfs -ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$$v" \
			-o $(NODE_BIN)/ github.com/containerd/containerd/v2/cmd/containerd \
			github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr

$(CNI_PLUGINS) &: tools/cni/go.mod tools/cni/go.sum
	$(FETCH) tools/cni
	cd tools/cni && CGO_ENABLED=0 $(GO) build -ldflags='-s -w' -o $(CNI_BIN)/ \
		github.com/containernetworking/plugins/plugins/main/bridge \
		github.com/containernetworking/plugins/plugins/ipam/host-local \
		github.com/containernetworking/plugins/plugins/main/loopback

# The images of the node besides the provider's (bin/image.tar): the pod
# sandbox (pause), the test workload (app), the driver's node image (the
# driver and busybox-static's mount and umount, which k8s mount-utils runs)
# and its sidecars, our registrar and liveness probe (test/node/cmd). Each a
# docker-save tarball for `ctr images import`.
NODE_IMAGE_TAG := test
BUSYBOX        := /bin/busybox
$(NODE_IMAGES): $(IMAGE_TOOL) $(CSI_DRIVER) test/node/go.mod test/node/go.sum $(wildcard test/node/cmd/*/*.go)
	$(FETCH) test/node
	cd test/node && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(NODE_BIN)/cmd/ ./cmd/...
	@mkdir -p $(NODE_BIN)/images
	@# The sidecars run as root, as their upstream images: the driver's socket is root's 0755.
	@for c in pause:65532:65532 app:65532:65532 registrar livenessprobe; do \
		n=$${c%%:*}; u=(); [[ $$c == *:* ]] && u=(-user "$${c#*:}"); \
		$(IMAGE_TOOL) small -ref vault-csi-node/$$n:$(NODE_IMAGE_TAG) -tar $(NODE_BIN)/images/$$n.tar \
			-file /$$n=$(NODE_BIN)/cmd/$$n -entrypoint /$$n "$${u[@]}"; \
	done
	$(IMAGE_TOOL) small -ref vault-csi-node/driver:$(NODE_IMAGE_TAG) -tar $(NODE_BIN)/images/driver.tar \
		-file /secrets-store-csi-driver=$(CSI_DRIVER) -file /bin/mount=$(BUSYBOX) -file /bin/umount=$(BUSYBOX) \
		-entrypoint /secrets-store-csi-driver
	@touch $@

.PHONY: e2e-node-tools e2e-node
e2e-node-tools: $(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBE_KUBELET) $(CONTAINERD) $(CNI_PLUGINS) $(CSI_DRIVER) $(HELM) $(VAULT) $(NODE_IMAGES) ## build what the one-node cluster runs

e2e-node: ## a one-node cluster (real kubelet, containerd, runc, CNI); driver and provider from their charts; bats cases in test/node/bats
	test/node/run.sh
