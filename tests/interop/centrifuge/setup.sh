#!/bin/sh
# Install the npm packages the centrifuge interoperability tests use (the
# centrifuge client, ws and playwright-core, pinned in package.json and
# package-lock.json) into tests/interop/centrifuge/node_modules. Does
# nothing when the pinned versions are already there.
set -eu
cd "$(dirname "$0")"

installed() {
  want=$(sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" package.json)
  have=$(sed -n '/^ *"version":/{s/^ *"version": *"\([^"]*\)".*/\1/p;q;}' \
    "node_modules/$1/package.json" 2>/dev/null || true)
  [ -n "$want" ] && [ "$want" = "$have" ]
}

if installed centrifuge && installed ws && installed playwright-core; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "centrifuge/setup.sh: npm not found; install nodejs and npm (scripts/install-deps.sh check)" >&2
  exit 1
fi
echo "centrifuge/setup.sh: installing the pinned packages into $(pwd)/node_modules" >&2
npm ci --no-audit --no-fund >&2
