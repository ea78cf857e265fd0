#!/usr/bin/env bash
# Install the Debian packages the local studio needs, only those missing (idempotent).
# `apt-get update` runs only when the package lists are empty or an install cannot find a package.
set -euo pipefail

packages=("$@")
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
install() { "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; }

echo "installing: ${missing[*]}"
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  "${sudo[@]}" apt-get update -q
fi
install || { "${sudo[@]}" apt-get update -q && install; }
