#!/usr/bin/env bash
# Build versitygw (Versity's S3 gateway, Apache-2.0; the S3 stand-in the tests use: it checks
# signatures and presigned URLs like S3) into .build/bin/versitygw, at a pinned version, from the
# Go module proxy (idempotent: nothing to do when that version is there). Go's module and build
# caches live under .build/go, so nothing outside the repository is touched.
# Usage: deploy/local/versitygw.sh [BUILD_DIR]   (default: <repo>/.build)
set -euo pipefail

VERSION=v1.8.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(mkdir -p "${1:-$root/.build}" && cd "${1:-$root/.build}" && pwd)"
bin="$build/bin/versitygw"
stamp="$bin.version"

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "versitygw: Go is needed (https://go.dev/dl/)" >&2
  exit 1
fi

echo "building versitygw $VERSION (a few minutes)"
export GOFLAGS="$(go env GOFLAGS) -modcacherw" CGO_ENABLED=0
export GOBIN="$build/bin" GOPATH="$build/go"
export GOMODCACHE="$build/go/pkg/mod" GOCACHE="$build/go/cache"
go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
echo "$VERSION" >"$stamp"
