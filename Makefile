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

.PHONY: all build build-all run test test-quick deps deps-apt deps-influxd lint bench loadtest fuzz clean proto packages

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

deps: deps-apt deps-influxd

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

# Load harness: simulated agents (own site, token and connection each)
# against one collector on loopback; figures in BENCHMARKS.md.
# Override e.g. LOADTEST_AGENTS=1000 LOADTEST_DURATION=1m make loadtest
LOADTEST_AGENTS   ?= 10000
LOADTEST_DURATION ?= 2m
loadtest: build
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./collector/cmd/schulmon-loadtest
	$(BIN)/schulmon-loadtest --agents $(LOADTEST_AGENTS) --duration $(LOADTEST_DURATION) --collector $(BIN)/schulmon-collector

# Regenerate the check-plugin protocol code (committed). Needs protoc
# (Debian: protobuf-compiler); the Go generators are pinned to the grpc and
# protobuf versions in go.mod (grpc v1.61 wants protoc-gen-go-grpc v1.3.0).
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0
	protoc --proto_path=plugins/sdk/proto --go_out=paths=source_relative:plugins/sdk/proto \
	  --go-grpc_out=paths=source_relative:plugins/sdk/proto check.proto

clean:
	rm -rf $(BIN) dist
