#!/usr/bin/env bash
# Build the web studio's static export (web/out, served by the API at /): `npm ci` against the
# committed lockfile, then `npm run build`. Idempotent: does nothing when web/out is newer than
# every source file and the lockfile (node_modules is reinstalled only when the lockfile changed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
web="$(cd "$here/../.." && pwd)/web"
out="$web/out"
stamp="$out/.built"

[ -f "$web/package-lock.json" ] || { echo "web.sh: $web/package-lock.json is missing" >&2; exit 1; }
command -v npm >/dev/null || { echo "web.sh: npm is needed (Node.js 18 or newer)" >&2; exit 1; }

# Every file the export is built from, apart from what npm and the build write.
sources() {
  find "$web" \( -path "$web/node_modules" -o -path "$out" -o -path "$web/.next" \) -prune \
    -o -type f -newer "$stamp" -print -quit
}
if [ -f "$stamp" ] && [ -z "$(sources)" ]; then
  exit 0
fi

cd "$web"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "web.sh: npm ci in $web"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "web.sh: npm run build"
NEXT_TELEMETRY_DISABLED=1 npm run build --silent
touch "$stamp"
