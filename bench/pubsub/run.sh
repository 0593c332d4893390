#!/bin/sh
# The fan-out comparison in one go: libwsp (wsp-bench-server), plain wslay
# (wslay-bench-server), Node ws (ws-bench-server.mjs), the full protocol
# (wsp-demo) and the raw-write ceiling (raw-bench-server), each started
# alone, pinned to CPU 0, with pubsub-load pinned to CPU 1; then libwsp
# without and with permessage-deflate. Builds nothing. See README.md.
#
#   bench/pubsub/run.sh BUILD_DIR [--quick] [--seconds T] [--repeat K] [--keep]
#
# --quick: N = 1000 only and 1 s per cell (about a minute). --repeat K:
# run every server K times, in turns, and keep each cell's best round
# (for machines where other work comes and goes). --keep: keep the raw
# result lines (their path is printed).
set -eu

usage() {
  echo "usage: $0 BUILD_DIR [--quick] [--seconds T] [--repeat K] [--keep]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
src=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/pubsub
demo=$build/examples/demo/wsp-demo
ws_module=$src/../../tests/interop/node_modules/ws

subs=100,1000,5000
lat_subs=100,1000
sizes=64,1024
windows=32,256
seconds=2
warmup=0.3
lat_seconds=2
idle_conns=10000
keep=0
repeat=1
quiet_wait=30
while [ $# -gt 0 ]; do
  case $1 in
    --quick) subs=1000 lat_subs=1000 seconds=1 lat_seconds=1 quiet_wait=5 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift ;;
    --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift ;;
    --keep) keep=1 ;;
    *) usage ;;
  esac
  shift
done
for p in "$bin/wsp-bench-server" "$bin/wslay-bench-server" \
  "$bin/raw-bench-server" "$bin/pubsub-load"; do
  [ -x "$p" ] || { echo "run.sh: $p is missing; build first (ninja -C $build)" >&2; exit 1; }
done
command -v taskset >/dev/null || { echo "run.sh: taskset (util-linux) is needed" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "run.sh: needs two CPUs" >&2; exit 1; }

out=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  if [ $keep -eq 1 ]; then echo "raw results in $out"; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Percent of CPU time other processes used over one second.
busy_pct() {
  a=$(awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  echo "$a $b" | awk '{ t = $4 - $2; printf "%d", (t > 0 ? 100 - 100 * ($3 - $1) / t : 0) }'
}

# Figures taken while something else runs mean little: wait (up to 30 s,
# 5 s with --quick) for a quiet machine, and say so when it did not come.
wait_quiet() {
  i=0
  while [ $i -lt $quiet_wait ]; do
    b=$(busy_pct)
    [ "$b" -gt 7 ] || return 0
    i=$((i + 1))
  done
  echo "warning: other processes keep the CPUs ${b}% busy; $1 figures are unreliable"
}

# start NAME CMD...: start a server on CPU 0 and wait for its address.
start() {
  sname=$1
  shift
  taskset -c 0 "$@" >"$out/$sname.listen" 2>"$out/$sname.err" &
  server_pid=$!
  i=0
  while ! grep -q '^listening on ' "$out/$sname.listen" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 200 ] || ! kill -0 "$server_pid" 2>/dev/null; then
      echo "run.sh: $sname did not start:" >&2
      cat "$out/$sname.err" >&2
      return 1
    fi
    sleep 0.05
  done
  addr=$(sed -n 's/^listening on //p' "$out/$sname.listen" | head -n 1)
}

stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# run NAME [pubsub-load args]: load on CPU 1, result lines tagged NAME.
run() {
  tag=$1
  shift
  taskset -c 1 "$bin/pubsub-load" --connect "$addr" --pid "$server_pid" "$@" \
    >"$out/$tag.load" 2>"$out/$tag.load.err" || true
  sed "s/^/$tag /" "$out/$tag.load" >>"$out/results"
  if [ -s "$out/$tag.load.err" ]; then
    sed "s/^/  $tag: /" "$out/$tag.load.err" | head -n 5 >&2
  fi
}

cells="--subscribers $subs --size $sizes --window $windows --seconds $seconds --warmup $warmup --latency-rate 100 --latency-seconds $lat_seconds --latency-subs $lat_subs"
: >"$out/results"
have_ws=0
if command -v node >/dev/null && [ -d "$ws_module" ]; then have_ws=1; fi
have_demo=0
[ -x "$demo" ] && have_demo=1

echo "fan-out: subscribers $subs, payload $sizes bytes, window $windows, ${seconds} s per cell; server on CPU 0, load on CPU 1"

round=1
while [ "$round" -le "$repeat" ]; do
  for name in libwsp wslay ws demo raw; do
    case $name in
      ws) [ $have_ws -eq 1 ] || { [ "$round" -gt 1 ] || echo "ws: skipped (node or $ws_module missing: run tests/interop/setup.sh)"; continue; } ;;
      demo) [ $have_demo -eq 1 ] || { [ "$round" -gt 1 ] || echo "wsp-demo: skipped ($demo not built)"; continue; } ;;
    esac
    wait_quiet "$name"
    printf '%s ... ' "$name"
    case $name in
      libwsp) start libwsp "$bin/wsp-bench-server" --port 0 ;;
      wslay) start wslay "$bin/wslay-bench-server" --port 0 ;;
      ws) start ws node --expose-gc "$src/ws-bench-server.mjs" --port 0 ;;
      demo) start demo "$demo" --listen 127.0.0.1:0 --max-queued 67108864 ;;
      raw) start raw "$bin/raw-bench-server" --port 0 ;;
    esac || { echo skipped; stop; continue; }
    if [ $name = demo ]; then
      # shellcheck disable=SC2086
      run demo $cells --protocol centrifuge --sub-path /connection/websocket \
        --pub-path /connection/websocket
    else
      # shellcheck disable=SC2086
      run $name $cells
    fi
    stop
    echo "done"
    if [ "$round" -eq 1 ]; then
      # Memory per idle subscribed connection, on a fresh server; wsp-demo
      # (the Centrifuge protocol, no /stats) by its RSS alone.
      if case $name in
        libwsp) start libwsp-idle "$bin/wsp-bench-server" --port 0 ;;
        wslay) start wslay-idle "$bin/wslay-bench-server" --port 0 ;;
        ws) start ws-idle node --expose-gc "$src/ws-bench-server.mjs" --port 0 ;;
        demo) start demo-idle "$demo" --listen 127.0.0.1:0 --max-queued 67108864 ;;
        raw) false ;;
      esac; then
        if [ $name = demo ]; then
          run demo-idle --idle $idle_conns --protocol centrifuge \
            --sub-path /connection/websocket
        else
          run "$name-idle" --idle $idle_conns
        fi
      fi
      stop
    fi
  done
  round=$((round + 1))
done

awk -v have_ws=$have_ws -v have_demo=$have_demo '
function val(line, key,    i, n, f) {
  n = split(line, f, " ")
  for (i = 1; i <= n; i++)
    if (index(f[i], key "=") == 1)
      return substr(f[i], length(key) + 2)
  return ""
}
function num(x) { return x == "" ? "-" : x }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
function mill(x) { return x == "" ? "-" : sprintf("%.3fM", x / 1e6) }
{
  name = $1
  kind = $2
  if (kind == "cell") {
    k = val($0, "subs") " " val($0, "size") " " val($0, "window")
    if (!(k in seen)) { seen[k] = 1; order[++ncells] = k }
    ok = val($0, "lost") == 0 && val($0, "dropped_conns") == 0 && \
         val($0, "drained") == "yes" && val($0, "bad") == 0
    if (!ok) { bad[name, k] = 1; anybad = 1 }
    # With --repeat, the best round of each cell counts.
    r = val($0, "deliveries_per_s") + 0
    if (!((name, k) in rate) || r > rate[name, k]) {
      rate[name, k] = r
      eff[name, k] = val($0, "deliveries_per_cpu_s")
      cpu[name, k] = val($0, "server_cpu_pct")
      if (val($0, "other_cpu_pct") + 0 > 10) dist[name, k] = 1
      else delete dist[name, k]
      if (val($0, "rate_over") == "whole_cell") whole[name, k] = 1
      else delete whole[name, k]
      if (val($0, "loadgen_saturated") == "yes") sat[name, k] = 1
      else delete sat[name, k]
      lgcpu[name, k] = val($0, "loadgen_cpu_pct")
    }
  } else if (kind == "latency") {
    n = val($0, "subs")
    if (!(n in lseen)) { lseen[n] = 1; lorder[++nl] = n }
    p50 = val($0, "p50_us") + 0
    if (!((name, n) in lat) || p50 < lp50[name, n]) {
      lp50[name, n] = p50
      lat[name, n] = val($0, "p50_us") "/" val($0, "p99_us")
    }
    if (val($0, "lost") != 0 || val($0, "dropped_conns") != 0) { lbad[name, n] = 1; anybad = 1 }
  } else if (kind == "idle") {
    sub(/-idle$/, "", name)
    if (val($0, "heap_per_conn") != "") idle[name] = val($0, "heap_per_conn") + 0
    idlerss[name] = val($0, "rss_per_conn")
    idlen[name] = val($0, "conns")
  }
}
function cellv(name, k, x) {
  if ((name, k) in dist) anydist = 1
  if ((name, k) in whole) anywhole = 1
  if ((name, k) in sat) nsat++
  return (x == "" ? "-" : x) ((name, k) in whole ? "*" : "") \
    ((name, k) in bad ? "!" : "") ((name, k) in dist ? "~" : "") \
    ((name, k) in sat ? "^" : "")
}
END {
  printf "\nDeliveries per second, summed over subscribers\n"
  printf "(! = loss, dropped connection or undrained cell; ~ = other processes used > 10%% CPU meanwhile;\n"
  printf " * = less than one window completed in the period, rate over the whole cell;\n"
  printf " ^ = the load tool used over 90%% of its CPU: the tool, not the server, may be the limit)\n"
  printf "%6s %5s %4s %12s %12s %12s %10s %10s %13s\n", "N", "bytes", "W", "libwsp", "wslay", "ws", "wsp/wslay", "wsp/ws", "wsp-demo(JSON)"
  for (i = 1; i <= ncells; i++) {
    k = order[i]; split(k, p, " ")
    printf "%6s %5s %4s %12s %12s %12s %10s %10s %13s\n", p[1], p[2], p[3],
      cellv("libwsp", k, rate["libwsp", k]), cellv("wslay", k, rate["wslay", k]),
      cellv("ws", k, rate["ws", k]),
      ratio(rate["libwsp", k], rate["wslay", k]), ratio(rate["libwsp", k], rate["ws", k]),
      cellv("demo", k, rate["demo", k])
  }
  printf "\nAgainst the raw-write ceiling (raw-bench-server: no library, each publication framed once\n"
  printf "and written by reference with the same writev batching): deliveries per second\n"
  printf "%6s %5s %4s %12s %12s %10s %8s %8s\n", "N", "bytes", "W", "libwsp", "raw", "wsp/raw", "lg-wsp%", "lg-raw%"
  for (i = 1; i <= ncells; i++) {
    k = order[i]; split(k, p, " ")
    printf "%6s %5s %4s %12s %12s %10s %8s %8s\n", p[1], p[2], p[3],
      cellv("libwsp", k, rate["libwsp", k]), cellv("raw", k, rate["raw", k]),
      ratio(rate["libwsp", k], rate["raw", k]), num(lgcpu["libwsp", k]), num(lgcpu["raw", k])
  }
  printf "\nLoad tool CPU %% of the measured period (pubsub-load'"'"'s own, getrusage)\n"
  printf "%6s %5s %4s %8s %8s %8s %14s\n", "N", "bytes", "W", "libwsp", "wslay", "ws", "wsp-demo(JSON)"
  for (i = 1; i <= ncells; i++) {
    k = order[i]; split(k, p, " ")
    printf "%6s %5s %4s %8s %8s %8s %14s\n", p[1], p[2], p[3], num(lgcpu["libwsp", k]),
      num(lgcpu["wslay", k]), num(lgcpu["ws", k]), num(lgcpu["demo", k])
  }
  printf "\nServer CPU: deliveries per CPU-second (server CPU %% of the measured period)\n"
  printf "%6s %5s %4s %18s %18s %18s %18s\n", "N", "bytes", "W", "libwsp", "wslay", "ws", "wsp-demo(JSON)"
  for (i = 1; i <= ncells; i++) {
    k = order[i]; split(k, p, " ")
    printf "%6s %5s %4s", p[1], p[2], p[3]
    split("libwsp wslay ws demo", names, " ")
    for (j = 1; j <= 4; j++) {
      s = names[j]
      printf " %18s", (eff[s, k] == "" ? "-" : sprintf("%s (%s%%)", mill(eff[s, k]), cpu[s, k]))
    }
    printf "\n"
  }
  printf "\nDelivery latency at 100 publications/s, 64 bytes: p50/p99 in microseconds\n"
  printf "%6s %16s %16s %16s %16s\n", "N", "libwsp", "wslay", "ws", "wsp-demo(JSON)"
  for (i = 1; i <= nl; i++) {
    n = lorder[i]
    printf "%6s %16s %16s %16s %16s\n", n, num(lat["libwsp", n]) (("libwsp", n) in lbad ? "!" : ""),
      num(lat["wslay", n]) (("wslay", n) in lbad ? "!" : ""), num(lat["ws", n]) (("ws", n) in lbad ? "!" : ""),
      num(lat["demo", n]) (("demo", n) in lbad ? "!" : "")
  }
  printf "\nHeap per idle subscribed connection (%s connections; RSS growth per connection)\n", idlen["libwsp"]
  split("libwsp wslay ws", names, " ")
  for (j = 1; j <= 3; j++) {
    s = names[j]
    if (s in idle)
      printf "  %-7s %7s bytes  (RSS %s bytes)%s\n", s, idle[s], num(idlerss[s]),
        (s == "ws" ? "  [V8 heapUsed + external after a full GC]" : "  [malloc in use, mallinfo2]")
  }
  if ("demo" in idlerss)
    printf "  %-7s %7s        (RSS %s bytes)  [wsp-demo, Centrifuge protocol; RSS only]\n", "demo", "-", num(idlerss["demo"])

  printf "\nTargets\n"
  k = "1000 64 32"
  if (("libwsp", k) in rate && ("wslay", k) in rate && rate["wslay", k] > 0) {
    r = rate["libwsp", k] / rate["wslay", k]
    printf "  N=1000 64 B W=32: libwsp/wslay %.2f (>= 1.5): %s\n", r, (r >= 1.5 ? "met" : "NOT met")
  }
  if (("libwsp", k) in rate && ("ws", k) in rate && rate["ws", k] > 0) {
    r = rate["libwsp", k] / rate["ws", k]
    printf "  N=1000 64 B W=32: libwsp/ws %.1f (>= 15): %s\n", r, (r >= 15 ? "met" : "NOT met")
  }
  k = "5000 1024 32"
  if (("libwsp", k) in rate && ("raw", k) in rate && rate["raw", k] > 0) {
    r = rate["libwsp", k] / rate["raw", k]
    printf "  N=5000 1 KiB W=32: libwsp/raw %.2f (>= 0.80 of the raw-write ceiling): %s\n", r, (r >= 0.8 ? "met" : "NOT met")
  }
  cliff = ""
  for (i = 1; i <= ncells; i++) {
    k = order[i]; split(k, p, " ")
    if (p[3] != 256) continue
    k32 = p[1] " " p[2] " 32"
    if ((k32 in seen) && rate["libwsp", k] < rate["libwsp", k32])
      cliff = cliff sprintf(" N=%s/%sB (%.2f)", p[1], p[2], rate["libwsp", k] / rate["libwsp", k32])
  }
  printf "  libwsp W=256 >= W=32 everywhere: %s\n", (cliff == "" ? "met" : "NOT met:" cliff)
  if ("libwsp" in idle)
    printf "  idle subscribed connection <= 1024 bytes: %s (%s)\n", (idle["libwsp"] <= 1024 ? "met" : "NOT met"), idle["libwsp"]
  if ("libwsp" in idlerss && idlerss["libwsp"] != "")
    printf "  raw idle RSS per connection <= 460 bytes: %s (%s)\n", (idlerss["libwsp"] + 0 <= 460 ? "met" : "NOT met"), idlerss["libwsp"]
  if ("demo" in idlerss && idlerss["demo"] != "")
    printf "  Centrifuge idle RSS per connection <= 1024 bytes: %s (%s)\n", (idlerss["demo"] + 0 <= 1024 ? "met" : "NOT met"), idlerss["demo"]
  printf "  nothing lost: %s\n", (anybad ? "NO (see ! above)" : "yes")
  printf "  load tool not saturated: %s\n", (nsat ? sprintf("NO, in %d cells (see ^ above)", nsat) : "yes")
  if (anydist)
    printf "  (cells marked ~ ran beside other busy processes: run again on a quiet machine)\n"
}' "$out/results"

# Compression (permessage-deflate, RFC 7692): wsp-bench-server without
# and with --deflate, the subscribers offering it both times (pubsub-load
# --deflate yes: the same word-filled payloads, so only the server
# differs). Each publication is compressed once for all its subscribers;
# the generator inflates each distinct publication once too (it keeps the
# heads it inflated by their compressed bytes), so that it does not become
# the bottleneck.
if "$bin/pubsub-load" --connect 127.0.0.1:1 --deflate yes --idle 1 2>&1 |
  grep -q '^usage'; then
  echo
  echo "compression: skipped (pubsub-load built without zlib)"
  exit 0
fi
zsizes=64,1024,4096
zcells="--subscribers $(echo "$subs" | cut -d, -f1-2) --size $zsizes --window $windows --seconds $seconds --warmup $warmup --deflate yes"
: >"$out/zresults"
round=1
while [ "$round" -le "$repeat" ]; do
  for zmode in plain deflate; do
    wait_quiet "compression ($zmode)"
    printf '%s ... ' "libwsp-$zmode"
    if [ $zmode = deflate ]; then
      start "libwsp-$zmode" "$bin/wsp-bench-server" --port 0 --deflate
    else
      start "libwsp-$zmode" "$bin/wsp-bench-server" --port 0
    fi || { echo skipped; stop; continue; }
    # shellcheck disable=SC2086
    taskset -c 1 "$bin/pubsub-load" --connect "$addr" --pid "$server_pid" \
      $zcells >"$out/z-$zmode.load" 2>"$out/z-$zmode.load.err" || true
    sed "s/^/$zmode /" "$out/z-$zmode.load" >>"$out/zresults"
    stop
    echo done
  done
  round=$((round + 1))
done
awk '
function val(line, key,    i, n, f) {
  n = split(line, f, " ")
  for (i = 1; i <= n; i++)
    if (index(f[i], key "=") == 1)
      return substr(f[i], length(key) + 2)
  return ""
}
{
  m = $1
  k = val($0, "subs") " " val($0, "size") " " val($0, "window")
  if ($2 == "cell") {
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    r = val($0, "deliveries_per_s") + 0
    if (val($0, "lost") != 0 || val($0, "bad") != 0 || val($0, "dropped_conns") != 0) bad = 1
    if (!((m, k) in rate) || r > rate[m, k]) {
      rate[m, k] = r
      eff[m, k] = val($0, "deliveries_per_cpu_s")
    }
  } else if ($2 == "wire") {
    wire[m, k] = val($0, "bytes_per_delivery")
  }
}
END {
  printf "\nCompression: libwsp fan-out without and with permessage-deflate\n"
  printf "(deliveries/s summed over subscribers; deliveries per server CPU-second; bytes read per delivery)\n"
  printf "%6s %5s %4s %12s %12s %12s %12s %9s %9s\n", "N", "bytes", "W", "plain/s", "deflate/s",
    "plain/cpu-s", "deflate/cpu-s", "plain B", "deflate B"
  for (i = 1; i <= n; i++) {
    k = order[i]; split(k, p, " ")
    printf "%6s %5s %4s %12.0f %12.0f %12s %12s %9s %9s\n", p[1], p[2], p[3],
      rate["plain", k], rate["deflate", k], eff["plain", k], eff["deflate", k],
      wire["plain", k], wire["deflate", k]
  }
  printf "  nothing lost with compression: %s\n", (bad ? "NO" : "yes")
}' "$out/zresults"
