#!/bin/sh
# Start wsp-demo on a free loopback port, run rpc-load against it for a few
# seconds, stop the demo. Usage: bench/run-rpc.sh BUILD_DIR [rpc-load args]
set -eu
build=$1
shift
out=$(mktemp)
"$build/examples/demo/wsp-demo" --listen 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
i=0
while ! grep -q '^listening on ' "$out"; do
  i=$((i + 1))
  [ $i -lt 100 ] || { echo "run-rpc: wsp-demo did not start" >&2; exit 1; }
  sleep 0.05
done
addr=$(sed -n 's/^listening on //p' "$out" | head -n 1)
"$build/bench/rpc/rpc-load" --connect "$addr" "$@"
