#!/usr/bin/env bash
# Build the Kubernetes tools the manifest test uses into .build/bin, at pinned versions, from the
# Go module proxy (idempotent: nothing to do when those versions are there):
#   helm         renders deploy/helm/filmstudio (`helm template`, `helm lint`)
#   kubeconform  validates the rendered manifests against local JSON schemas (no network)
# Go's module and build caches live under .build/go, so nothing outside the repository is touched.
# Usage: deploy/local/k8s-tools.sh [BUILD_DIR]   (default: <repo>/.build)
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(mkdir -p "${1:-$root/.build}" && cd "${1:-$root/.build}" && pwd)"

# install NAME VERSION MODULE_PATH: `go install MODULE_PATH@VERSION` unless that version is there.
install() {
  local name="$1" version="$2" module="$3"
  local bin="$build/bin/$name" stamp="$build/bin/$name.version"
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "$name: Go is needed (https://go.dev/dl/)" >&2
    return 1
  fi
  echo "building $name $version (a few minutes)"
  (
    export GOFLAGS="$(go env GOFLAGS) -modcacherw" CGO_ENABLED=0
    export GOBIN="$build/bin" GOPATH="$build/go"
    export GOMODCACHE="$build/go/pkg/mod" GOCACHE="$build/go/cache"
    go install "$module@$version"
  )
  echo "$version" >"$stamp"
}

install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
install kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform
