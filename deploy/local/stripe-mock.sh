#!/usr/bin/env bash
# Build Stripe's stripe-mock (the API stand-in the tests use) into .build/bin/stripe-mock, at a
# pinned version, from the Go module proxy (idempotent: nothing to do when that version is there).
# Go's module and build caches live under .build/go, so nothing outside the repository is touched.
# Usage: deploy/local/stripe-mock.sh [BUILD_DIR]   (default: <repo>/.build)
set -euo pipefail

VERSION=v0.203.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(mkdir -p "${1:-$root/.build}" && cd "${1:-$root/.build}" && pwd)"
bin="$build/bin/stripe-mock"
stamp="$bin.version"

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "stripe-mock: Go >= 1.22 is needed (https://go.dev/dl/)" >&2
  exit 1
fi

echo "building stripe-mock $VERSION"
# stripe-mock's go.mod wants Go >= 1.22.1 (Go >= 1.21 fetches that toolchain unless
# GOTOOLCHAIN=local).
export GOFLAGS="$(go env GOFLAGS) -modcacherw" CGO_ENABLED=0
export GOBIN="$build/bin" GOPATH="$build/go"
export GOMODCACHE="$build/go/pkg/mod" GOCACHE="$build/go/cache"
go install "github.com/stripe/stripe-mock@$VERSION"
echo "$VERSION" >"$stamp"
