#!/bin/sh
# Install the npm packages the interoperability tests use (the ws package,
# and jose for the JWT fixtures of tests/jwt; pinned in package.json and
# package-lock.json) into tests/interop/node_modules. Does nothing when the
# pinned versions are already there.
set -eu
cd "$(dirname "$0")"
./centrifuge/setup.sh

installed() {
  want=$(sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" package.json)
  have=$(sed -n '/^ *"version":/{s/^ *"version": *"\([^"]*\)".*/\1/p;q;}' \
    "node_modules/$1/package.json" 2>/dev/null || true)
  [ -n "$want" ] && [ "$want" = "$have" ]
}
installed ws && installed jose && exit 0

if ! command -v npm >/dev/null 2>&1; then
  echo "interop/setup.sh: npm not found; install nodejs and npm (scripts/install-deps.sh check)" >&2
  exit 1
fi
echo "interop/setup.sh: installing ws and jose into $(pwd)/node_modules" >&2
npm install --no-audit --no-fund --no-save >&2
