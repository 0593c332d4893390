#!/bin/sh
# Run test_jwt against fixtures made now by the jose npm package:
#   tests/jwt/run-jose.sh TEST_JWT OUT_DIR
# New keys and tokens on every run, so the committed fixtures in
# tests/jwt cannot go stale unnoticed. Skipped (77) when node or jose is
# missing (tests/interop/setup.sh installs jose).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exe=${1:?usage: run-jose.sh TEST_JWT OUT_DIR}
out=${2:?usage: run-jose.sh TEST_JWT OUT_DIR}
if ! command -v node >/dev/null 2>&1; then
  echo "run-jose.sh: node not found; skipped" >&2
  exit 77
fi
if [ ! -f "$here/../interop/node_modules/jose/package.json" ]; then
  echo "run-jose.sh: jose not installed (run tests/interop/setup.sh); skipped" >&2
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
node "$here/make-fixtures.mjs" "$out"
exec "$exe" "$out"
