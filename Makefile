# schulmon — build, run and test. `make run` and `make test` are the two
# commands of the README; everything else is a step they use.

GO        ?= go
TOOLS     := $(CURDIR)/.tools
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/schulmon/schulmon/metric.Version=$(VERSION)
export CGO_ENABLED := 0
export PATH := $(TOOLS):$(PATH)

# Debian packages the tests drive as real peers.
APT_PACKAGES := snmpd snmp snmptrapd chromium prometheus-alertmanager python3-aiosmtpd
INFLUXD      := $(TOOLS)/influxd

.PHONY: all build build-all run test test-quick deps deps-apt deps-influxd deps-nfpm deps-telegraf lint bench bench-agent loadtest fuzz clean proto packages dashboards

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./agent/cmd/schulmon-agent ./collector/cmd/schulmon-collector
	@mkdir -p $(BIN)/plugins
	@for p in http tcp ping dns; do \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/plugins/schulmon-plugin-$$p ./plugins/$$p || exit 1; \
	done

# The agent cross-compiles for every platform schools run (pure Go, no cgo).
build-all:
	@for p in linux/amd64 linux/arm64 windows/amd64 darwin/arm64; do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "agent $$os/$$arch"; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$os-$$arch/schulmon-agent$$ext ./agent/cmd/schulmon-agent || exit 1; \
	done

# A collector with the embedded store plus a local agent reporting to it.
run: build
	@./scripts/run-local.sh

deps: deps-apt deps-influxd deps-nfpm deps-telegraf

deps-apt:
	@missing=; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# A real InfluxDB 1.8.10 (v2 write API and Flux), built once into .tools/.
deps-influxd: $(INFLUXD)
$(INFLUXD):
	@mkdir -p $(TOOLS)
	@echo "building influxd 1.8.10 into $(TOOLS) (about 2 minutes, once)"
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

# A real Telegraf as a foreign client of the write API (e2e/telegraf_test.go),
# built once into .tools/ with only the plugins that test uses (about 2
# minutes from a cold module cache on 2 cores; v1.37.2 is what the module
# proxy offers).
TELEGRAF         := $(TOOLS)/telegraf
TELEGRAF_VERSION := v1.37.2
TELEGRAF_TAGS    := custom,inputs.cpu,inputs.mem,inputs.system,outputs.influxdb_v2
deps-telegraf: $(TELEGRAF)
$(TELEGRAF):
	@mkdir -p $(TOOLS)
	@echo "building telegraf $(TELEGRAF_VERSION) (cpu, mem, system, influxdb_v2 only) into $(TOOLS) (once)"
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install -trimpath -tags '$(TELEGRAF_TAGS)' \
	  -ldflags '-s -w -X github.com/influxdata/telegraf/internal.Version=$(TELEGRAF_VERSION:v%=%)' \
	  github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION)

# Every test, with real snmpd, influxd, chromium and friends.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# Unit tests only: skips tests that need external programs (SCHULMON_QUICK=1).
test-quick:
	SCHULMON_QUICK=1 $(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@if [ ! -x $(TOOLS)/staticcheck ]; then GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@latest; fi
	$(TOOLS)/staticcheck ./...

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=60s ./metric
	$(GO) test -run='^$$' -fuzz=FuzzDecodeRecord -fuzztime=60s ./agent/outbox

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./... | tee bench.out

# The agent's steady state (RSS, CPU) at the default 10 s interval.
bench-agent: build
	./scripts/agent-footprint.sh 120

# Load harness: simulated agents (own site, token and connection each)
# against one collector on loopback; figures in BENCHMARKS.md.
# Override e.g. LOADTEST_AGENTS=1000 LOADTEST_DURATION=1m LOADTEST_WARMUP=20s make loadtest
# The steady-state figures leave out the warm-up: at 10,000 new schools the
# first contact (devices, series, availability objects) takes about 90 s.
LOADTEST_AGENTS   ?= 10000
LOADTEST_DURATION ?= 6m
LOADTEST_WARMUP   ?= 150s
loadtest: build
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./collector/cmd/schulmon-loadtest
	$(BIN)/schulmon-loadtest --agents $(LOADTEST_AGENTS) --duration $(LOADTEST_DURATION) --warmup $(LOADTEST_WARMUP) --collector $(BIN)/schulmon-collector

# Regenerate the Grafana dashboards' JSON from dashboards/*.go.
dashboards:
	$(GO) generate ./dashboards/

# Regenerate the check-plugin protocol code (committed). Needs protoc
# (Debian: protobuf-compiler); the Go generators are pinned to the grpc and
# protobuf versions in go.mod (grpc v1.61 wants protoc-gen-go-grpc v1.3.0).
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0
	protoc --proto_path=plugins/sdk/proto --go_out=paths=source_relative:plugins/sdk/proto \
	  --go-grpc_out=paths=source_relative:plugins/sdk/proto check.proto

# nfpm builds the .deb and .rpm (v2.48.0's dependencies are not on the
# module proxy; v2.43.4 is the newest that builds from it).
NFPM         := $(TOOLS)/nfpm
NFPM_VERSION := v2.43.4
deps-nfpm: $(NFPM)
$(NFPM):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# .deb and .rpm of agent and collector (deploy/nfpm) into dist/.
# PKG_ARCH=arm64 make packages for ARM servers.
PKG_ARCH    ?= amd64
PKG_VERSION ?= $(shell echo '$(VERSION)' | sed -E 's/^v//; /^[0-9]+\.[0-9]/!s/^/0.0.0~git/; s/-/+/g')
PKG_DIST    := $(CURDIR)/dist/pkgroot
packages: deps-nfpm
	@rm -rf $(PKG_DIST) && mkdir -p $(PKG_DIST)/plugins
	GOOS=linux GOARCH=$(PKG_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(PKG_DIST)/ ./agent/cmd/schulmon-agent ./collector/cmd/schulmon-collector
	@for p in http tcp ping dns; do \
	  GOOS=linux GOARCH=$(PKG_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(PKG_DIST)/plugins/schulmon-plugin-$$p ./plugins/$$p || exit 1; \
	done
	@for p in agent collector; do for f in deb rpm; do \
	  VERSION=$(PKG_VERSION) ARCH=$(PKG_ARCH) $(NFPM) package --config deploy/nfpm/$$p.yaml --packager $$f --target dist/ || exit 1; \
	done; done
	@ls -l dist/*.deb dist/*.rpm

clean:
	rm -rf $(BIN) dist
