#!/bin/sh
# The soak run in one go: for each phase, starts a fresh wsp-demo on a
# free loopback port with the server API and a handshake timeout, runs
# soak against it and stops it; then prints the criteria of all phases
# and exits 0 when they are met, 1 when not, 2 when the run could not
# start. Builds nothing. See README.md.
#
#   bench/soak/run.sh BUILD_DIR [--quick] [--phase P,...] [soak flags...]
#
# Full sizes by default (10,000 held connections, 2 minutes of churn,
# 2,000 slowloris clients at the 10 s handshake timeout; about 2.5 minutes).
# --quick: the CI sizes (2,000 connections, 20 s of churn, 200 slowloris
# clients at a 3 s timeout; about 40 s), and only the hard criteria
# decide the exit status. Other flags go to soak as they are.
set -eu

usage() {
  echo "usage: $0 BUILD_DIR [--quick] [--phase P,...] [soak flags...]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
demo=$build/examples/demo/wsp-demo
soak=$build/bench/soak/soak
for p in "$demo" "$soak"; do
  [ -x "$p" ] || { echo "run.sh: $p is missing; build first (ninja -C $build)" >&2; exit 2; }
done
timeout_ms=10000
for a in "$@"; do
  [ "$a" = --quick ] && timeout_ms=3000
done

# 10,000 connections need as many descriptors on each side: raise the soft
# limit to the hard one (soak scales its sizes down, and says so, when
# that is still too few).
# (ulimit -H and -n are not POSIX, but dash, bash and busybox sh have them.)
# shellcheck disable=SC3045
hard=$(ulimit -Hn 2>/dev/null || echo unknown)
# shellcheck disable=SC3045
ulimit -n "$hard" 2>/dev/null || true
# shellcheck disable=SC3045
echo "descriptors: soft limit $(ulimit -n) (hard $hard)"

# glibc keeps up to 7 freed blocks of each small size in a per-thread
# cache that malloc_trim() does not reach: after a mass close they lie
# all over the heap and keep a page each. The demo runs without that
# cache unless SOAK_GLIBC_TUNABLES says otherwise (empty: glibc's
# defaults). See README.md, "RSS after close".
tunables=${SOAK_GLIBC_TUNABLES-glibc.malloc.tcache_count=0}
echo "wsp-demo: GLIBC_TUNABLES=${tunables:-(glibc defaults)}"

out=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

phases="hold churn slowloris storm bigframe subs amplify"
args=
while [ $# -gt 0 ]; do
  case $1 in
    --phase) [ $# -ge 2 ] || usage; phases=$(echo "$2" | tr , ' '); shift ;;
    *) args="$args $1" ;;
  esac
  shift
done
[ "$phases" != all ] || phases="hold churn slowloris storm bigframe subs amplify"

# start: a fresh wsp-demo, so that each phase's RSS figures are its own
# (glibc keeps the heap a phase freed; see README.md). 1 MiB messages, so
# that the 10,000 commands of the bigframe phase are read and answered
# rather than refused whole with 1009.
key=soak-$$
start() {
  # shellcheck disable=SC2086
  GLIBC_TUNABLES=$tunables "$demo" --listen 127.0.0.1:0 --api-key "$key" \
    --handshake-timeout "$timeout_ms" --max-message 1048576 $1 \
    >"$out/listen" 2>"$out/err" &
  server_pid=$!
  i=0
  while ! grep -q '^listening on ' "$out/listen" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 200 ] || ! kill -0 "$server_pid" 2>/dev/null; then
      echo "run.sh: wsp-demo did not start:" >&2
      cat "$out/err" >&2
      exit 2
    fi
    sleep 0.05
  done
  addr=$(sed -n 's/^listening on //p' "$out/listen" | head -n 1)
}

# stop: a clean stop prints the server's counters; a crash shows in its
# exit status.
stop() {
  kill "$server_pid" 2>/dev/null || true
  st=0
  wait "$server_pid" || st=$?
  server_pid=
  sed 's/^/  /' "$out/err"
  if [ $st -ne 0 ]; then
    echo "run.sh: wsp-demo exited with status $st (a crash?)"
    echo "  hard wsp-demo exited cleanly (status $st): NOT met" >>"$out/criteria"
  fi
}

rc=0
: >"$out/criteria"
for phase in $phases; do
  # The storm's clients that stop reading should be closed for want of a
  # pong: 2 s pings, 2 s to answer and the library's 5 s for the closing
  # handshake they never answer either, so that it happens within the
  # phase.
  demo_flags='' soak_flags=''
  if [ "$phase" = storm ]; then
    demo_flags="--ping-interval 2000 --pong-timeout 2000"
    soak_flags="--ping-deadline-ms 9000"
  fi
  start "$demo_flags"
  prc=0
  # shellcheck disable=SC2086
  "$soak" --connect "$addr" --pid "$server_pid" --api-key "$key" \
    --handshake-timeout-ms "$timeout_ms" --phase "$phase" $soak_flags $args \
    >"$out/soak" || prc=$?
  grep -v '^  \(hard\|soft\) \|^summary \|^Criteria \|^$' "$out/soak" || true
  grep '^  \(hard\|soft\) ' "$out/soak" >>"$out/criteria" || true
  stop
  [ $prc -le $rc ] || rc=$prc
done

echo
echo "Criteria (hard: a crash, lost replies, descriptors, an unresponsive server;"
echo "soft: figures that move with the machine; with --quick only hard ones fail)"
grep -v 'the server is still running: met$' "$out/criteria"
hard_bad=$(grep -c '^  hard .*NOT met$' "$out/criteria" || true)
soft_bad=$(grep -c '^  soft .*NOT met$' "$out/criteria" || true)
[ "$hard_bad" -eq 0 ] || [ $rc -ne 0 ] || rc=1
echo "summary hard_not_met=$hard_bad soft_not_met=$soft_bad exit=$rc"
exit $rc
