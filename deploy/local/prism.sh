#!/usr/bin/env bash
# Install Prism (@stoplight/prism-cli, pinned in deploy/local/prism/package-lock.json), the OpenAPI
# mock server the tests put in SendGrid's place, into .build/prism/node_modules (idempotent: does
# nothing when the pinned version is there). Start it as .build/prism/node_modules/.bin/prism.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${FILMSTUDIO_PRISM_DIR:-$root/.build/prism}"
wanted="$(node -p "require('$here/prism/package.json').dependencies['@stoplight/prism-cli']")"
installed="$target/node_modules/@stoplight/prism-cli/package.json"

if [ -f "$installed" ] && [ -x "$target/node_modules/.bin/prism" ] &&
  [ "$(node -p "require('$installed').version")" = "$wanted" ]; then
  exit 0
fi

command -v npm >/dev/null || { echo "prism.sh: npm is needed (Node.js 18 or newer)" >&2; exit 1; }
mkdir -p "$target"
cp "$here/prism/package.json" "$here/prism/package-lock.json" "$target/"
echo "installing @stoplight/prism-cli $wanted into $target"
(cd "$target" && npm ci --no-audit --no-fund --loglevel=error)
