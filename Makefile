# s3mount — build, demo, tests, benchmarks.
GO      ?= go
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
GOBIN   := $(shell $(GO) env GOPATH)/bin
TESTFLAGS ?= -race -count=1 -timeout 30m

.PHONY: build demo test test-versitygw test-minio minio bench compare lint

# s3mount --version: the tag (v1.2.3 -> 1.2.3) or 0.1.0-dev, the commit (-dirty: uncommitted
# changes) and the build date (SOURCE_DATE_EPOCH when set, for reproducible builds).
# Override any of them: make build VERSION=1.0.0
VERSION := $(or $(VERSION),$(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//'),0.1.0-dev)
COMMIT  := $(or $(COMMIT),$(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- || c=$$c-dirty; echo $$c; }),unknown)
DATE    := $(or $(DATE),$(shell date -u $${SOURCE_DATE_EPOCH:+-d @$$SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ))
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BINDIR  ?= bin

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BINDIR)/s3mount ./cmd/s3mount

# Quick start: an embedded S3 server, a bucket with sample objects, mounted at ./s3mount-demo.
# The server is in its own command (bin/s3mount-demo) so that s3mount links no S3 server.
demo: build
	$(GO) build -o $(BINDIR)/s3mount-demo ./cmd/s3mount-demo
	$(BINDIR)/s3mount-demo s3mount-demo

# .deb and .rpm packages for each of PKG_ARCHES in bin/packages/ (contents: packaging/nfpm.yaml),
# with nfpm, installed into $(GOBIN) at the pinned version like minio. The packaged binary is
# static and stripped (-s -w: no symbol table or DWARF; panics still print stack traces).
NFPM_VERSION := v2.48.0
PKG_ARCHES   ?= amd64 arm64

.PHONY: package nfpm

package: nfpm
	rm -rf bin/stage bin/packages && mkdir -p bin/stage bin/packages
	gzip -9n < packaging/s3mount.8 > bin/stage/s3mount.8.gz
	set -e; for arch in $(PKG_ARCHES); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o bin/stage/s3mount ./cmd/s3mount; \
	  for fmt in deb rpm; do \
	    PKG_ARCH=$$arch PKG_VERSION=$(VERSION) $(GOBIN)/nfpm package -f packaging/nfpm.yaml -p $$fmt -t bin/packages/; \
	  done; \
	done
	rm -rf bin/stage

nfpm:
	@test -x $(GOBIN)/nfpm || $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# s3mount(8) from the --help source (internal/config); a test fails when packaging/s3mount.8 is stale.
.PHONY: man
man:
	$(GO) run ./internal/config/manpage > packaging/s3mount.8

# The test command (README): the whole suite against versitygw, then against MinIO.
test: test-versitygw test-minio

test-versitygw:
	S3MOUNT_TEST_SERVER=versitygw $(GO) test $(TESTFLAGS) ./...

test-minio: minio
	S3MOUNT_TEST_SERVER=minio $(GO) test $(TESTFLAGS) ./...

minio:
	@test -x $(GOBIN)/minio || $(GO) install github.com/minio/minio@$(MINIO_VERSION)

# Benchmarks print ratios measured side by side (see docs/BENCHMARKS.md).
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/

lint:
	gofmt -l $$(git ls-files '*.go')
	$(GO) vet ./...

# Every fuzz target (func FuzzXxx in a committed _test.go) for FUZZTIME each.
# Not part of `make test`, which runs their seed corpora (testdata/fuzz) as
# ordinary tests. A failing input is written to the package's testdata/fuzz.
FUZZTIME ?= 30s
.PHONY: fuzz
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== ./$$(dirname $$f) $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./$$(dirname $$f); \
		done; \
	done
