#!/bin/sh
# Run every libFuzzer target of a -Dfuzz=true build for SECONDS each.
#   fuzz/run.sh BUILD_DIR [SECONDS]
# The corpus of each target lives in BUILD_DIR/fuzz-corpus/<target>,
# seeded from fuzz/corpus/<target>/ and kept between runs; crashes are
# written to BUILD_DIR/fuzz-artifacts/. Exits non-zero if any target
# crashed, leaked, timed out or could not be run.
set -u
build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
targets="fuzz_handshake fuzz_frames fuzz_deflate fuzz_client fuzz_json fuzz_json_api fuzz_protocol fuzz_jwt fuzz_auth fuzz_evlog_file fuzz_hub_sequence fuzz_rpc_client fuzz_tags fuzz_fossil fuzz_pb fuzz_redis"
# Built only with Redis support (hiredis found) or zlib: skipped without.
optional="fuzz_redis fuzz_deflate"

case "$seconds" in
  ''|*[!0-9]*) echo "fuzz/run.sh: SECONDS must be a whole number" >&2; exit 2 ;;
esac

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts" || exit 2

# fuzz_evlog_file writes segment files and fsyncs them for every input:
# give it a scratch directory, on tmpfs when there is one, removed at exit.
scratch_parent=/dev/shm
[ -d "$scratch_parent" ] && [ -w "$scratch_parent" ] || scratch_parent=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_parent/wsp-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
fail=0
for t in $targets; do
  bin="$build/fuzz/$t"
  if [ ! -x "$bin" ]; then
    case " $optional " in
      *" $t "*) echo "fuzz/run.sh: $t not built (no Redis support): skipped"
                continue ;;
    esac
    echo "fuzz/run.sh: no $bin (configure with CC=clang -Dfuzz=true)" >&2
    fail=1
    continue
  fi
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  [ -d "$here/corpus/$t" ] && cp -n "$here/corpus/$t"/* "$corpus"/ 2>/dev/null
  dict=""
  case "$t" in
    fuzz_handshake|fuzz_client|fuzz_auth) dict="-dict=$here/http.dict" ;;
    fuzz_jwt) dict="-dict=$here/jwt.dict" ;;
  esac
  log="$build/fuzz-$t.log"
  echo "fuzz/run.sh: $t for ${seconds}s (log: $log)"
  # -timeout: one input taking over 10 s is a hang, and a failure.
  TMPDIR="$scratch" \
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  "$bin" $dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$corpus" \
    >"$log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "fuzz/run.sh: $t FAILED (exit $rc); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    fail=1
  else
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    n=$(ls "$corpus" | wc -l)
    echo "fuzz/run.sh: $t ok: ${execs:-?} runs, $cov, corpus $n inputs"
  fi
done
if [ $fail -ne 0 ]; then
  echo "fuzz/run.sh: reproduce with $build/fuzz/<target> <artifact>" >&2
  exit 1
fi
exit 0
