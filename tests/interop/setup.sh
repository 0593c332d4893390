#!/bin/sh
# Install the npm packages the interoperability tests use (the ws package,
# pinned in package.json and package-lock.json) into tests/interop/
# node_modules. Does nothing when the pinned version is already there.
set -eu
cd "$(dirname "$0")"
./centrifuge/setup.sh

want=$(sed -n 's/^ *"ws": *"\([^"]*\)".*/\1/p' package.json)
have=$(sed -n '/^ *"version":/{s/^ *"version": *"\([^"]*\)".*/\1/p;q;}' node_modules/ws/package.json 2>/dev/null || true)
[ -n "$want" ] && [ "$want" = "$have" ] && exit 0

if ! command -v npm >/dev/null 2>&1; then
  echo "interop/setup.sh: npm not found; install nodejs and npm (scripts/install-deps.sh check)" >&2
  exit 1
fi
echo "interop/setup.sh: installing ws $want into $(pwd)/node_modules" >&2
npm install --no-audit --no-fund --no-save >&2
