#!/bin/sh
# Cross-node fan-out and publish throughput through Redis: three wsp-demo
# nodes on one redis-server (wsp-demo --redis), 1,000 subscribers spread
# over them, one publisher on node 1; the same load on one wsp-demo
# without Redis, in the same run, beside it. Builds nothing. See README.md.
#
#   bench/redis/run.sh BUILD_DIR [--quick] [--seconds T] [--repeat K]
#                      [--layout pinned|free|both] [--keep]
#
# --layout pinned: the hub (the three nodes and Redis, or the single
# node) on CPU 0, the load generator on CPU 1; free: no pinning, the
# scheduler places every process; both (the default): one after the
# other. --quick: 1 s per cell, pinned only (under a minute). --repeat K:
# run each layout K times, the two setups in turns, and keep each cell's
# best round (for machines where other work comes and goes). --keep:
# keep the raw result lines and the servers' logs (their path is printed).
#
# Exit status: 0 when everything published was delivered once and in
# order; 1 when a delivery was lost, duplicated or out of order, a
# connection dropped or a process died; 2 on bad arguments. Slow figures
# never fail.
set -eu

usage() {
  echo "usage: $0 BUILD_DIR [--quick] [--seconds T] [--repeat K] [--layout pinned|free|both] [--keep]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
load=$build/bench/pubsub/pubsub-load
demo=$build/examples/demo/wsp-demo

subs=1000
sizes=64,1024
fan_windows=32,100 # at most 128 publishes may wait for Redis per connection
pub_windows=1,64
seconds=3
warmup=0.3
lat_seconds=2
quiet_wait=30
layouts=
repeat=1
keep=0
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) seconds=1 lat_seconds=1 quiet_wait=5 quick=1 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift ;;
    --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift ;;
    --layout)
      [ $# -ge 2 ] || usage
      case $2 in
        pinned | free) layouts=$2 ;;
        both) layouts="pinned free" ;;
        *) usage ;;
      esac
      shift ;;
    --keep) keep=1 ;;
    *) usage ;;
  esac
  shift
done
case $repeat in '' | *[!0-9]*) usage ;; esac
case $seconds in '' | *[!0-9.]* | *.*.* | .) usage ;; esac
[ "$repeat" -ge 1 ] || usage
if [ -z "$layouts" ]; then
  if [ $quick -eq 1 ]; then layouts=pinned; else layouts="pinned free"; fi
fi
for p in "$load" "$demo"; do
  [ -x "$p" ] || { echo "run.sh: $p is missing; build first (ninja -C $build)" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "run.sh: redis-server is needed" >&2; exit 1; }
command -v taskset >/dev/null || { echo "run.sh: taskset (util-linux) is needed" >&2; exit 1; }
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || { echo "run.sh: needs two CPUs" >&2; exit 1; }
hub_cpu=
load_cpu=

out=$(mktemp -d)
pids= # every process started here, stopped at exit
redis_pid=
redis_port=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  if [ $keep -eq 1 ]; then echo "raw results and logs in $out"; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0

# Percent of CPU time in use over one second (all processes).
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

# start_redis: redis-server on a free loopback port (never 6379), up to
# 20 ports tried; sets redis_pid and redis_port.
start_redis() {
  tries=0
  while [ $tries -lt 20 ]; do
    tries=$((tries + 1))
    port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
    [ "$port" -ne 6379 ] || continue
    : >"$out/$layout-redis.log" # there before grep looks, whatever runs first
    # shellcheck disable=SC2086
    $hub_cpu redis-server --port "$port" --bind 127.0.0.1 --save '' \
      --appendonly no --daemonize no --logfile '' \
      >"$out/$layout-redis.log" 2>&1 &
    redis_pid=$!
    pids="$pids $redis_pid"
    i=0
    while [ $i -lt 100 ] && kill -0 "$redis_pid" 2>/dev/null; do
      if grep -q 'Ready to accept connections' "$out/$layout-redis.log"; then
        redis_port=$port
        return 0
      fi
      i=$((i + 1))
      sleep 0.05
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  done
  echo "run.sh: redis-server did not start:" >&2
  cat "$out/$layout-redis.log" >&2
  return 1
}

# start_node NAME ARGS...: a wsp-demo on a free loopback port; sets addr
# and node_pid.
start_node() {
  nname=$1
  shift
  # shellcheck disable=SC2086
  $hub_cpu "$demo" --listen 127.0.0.1:0 --max-queued 67108864 "$@" \
    >"$out/$nname.listen" 2>"$out/$nname.err" &
  node_pid=$!
  pids="$pids $node_pid"
  i=0
  while ! grep -q '^listening on ' "$out/$nname.listen" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 200 ] || ! kill -0 "$node_pid" 2>/dev/null; then
      echo "run.sh: $nname did not start:" >&2
      cat "$out/$nname.err" >&2
      # libwsp without hiredis: wsp_redis_new() fails with WSP_ERR_STATE.
      if grep -q '^wsp-demo: redis: operation not allowed' "$out/$nname.err"; then
        echo "run.sh: $demo was built without the Redis engine (hiredis not found): install libhiredis-dev, then meson configure $build -Dredis=enabled" >&2
      fi
      return 1
    fi
    sleep 0.05
  done
  addr=$(sed -n 's/^listening on //p' "$out/$nname.listen" | head -n 1)
}

# stop PID NAME: SIGTERM, then wait; a process that died before, or does
# not exit 0, is a failure (wsp-demo exits 0 on SIGTERM).
stop() {
  if ! kill -0 "$1" 2>/dev/null; then
    echo "FAIL: $2 (pid $1) died during the run"
    failed=1
  fi
  kill "$1" 2>/dev/null || true
  rc=0
  wait "$1" 2>/dev/null || rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 143 ]; then
    echo "FAIL: $2 exited with status $rc"
    failed=1
  fi
  pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# run SETUP PHASE [pubsub-load args]: the load generator, its result lines
# tagged "SETUP PHASE" in $results.
run() {
  tag="$1 $2"
  file="$layout-$1-$2"
  shift 2
  rc=0
  # shellcheck disable=SC2086
  $load_cpu "$load" --protocol centrifuge --sub-path /connection/websocket \
    --pub-path /connection/websocket "$@" \
    >"$out/$file.load" 2>"$out/$file.load.err" || rc=$?
  sed "s/^/$tag /" "$out/$file.load" >>"$results"
  if [ -s "$out/$file.load.err" ]; then
    sed "s/^/  $file: /" "$out/$file.load.err" | head -n 8
  fi
  # 1: something lost or refused (the table says what); more: a crash.
  if [ $rc -gt 1 ]; then
    echo "FAIL: pubsub-load ($file) exited with status $rc"
    failed=1
  fi
}

# The load of one setup: publish throughput (window of unacknowledged
# publications, no subscriber then 1,000), then fan-out (window of
# publications not yet delivered to every subscriber) and the latency at
# 100 publications/s.
measure() {
  setup=$1
  connect=$2
  publish_to=$3
  pidlist=$4
  run "$setup" pub --connect "$connect" --publish-to "$publish_to" \
    --pid "$pidlist" --window-on ack --subscribers 0,$subs --size 64 \
    --window $pub_windows --seconds "$seconds" --warmup $warmup
  run "$setup" fan --connect "$connect" --publish-to "$publish_to" \
    --pid "$pidlist" --subscribers $subs --size $sizes --window $fan_windows \
    --seconds "$seconds" --warmup $warmup --cell-latency yes \
    --latency-rate 100 --latency-seconds "$lat_seconds" --latency-subs $subs
}

# node_log FILE LABEL: what a node wrote on stderr besides its start: its
# counters at exit (connections, publications, slow closes, close codes;
# 1006 are the load generator's connections, closed without a closing
# handshake) and anything else (a Redis link lost, an error), which is
# where to look when a figure is odd.
node_log() {
  if [ -s "$out/$1.err" ]; then
    grep -v -e '^wsp-demo: node .* on redis ' "$out/$1.err" | head -n 6 |
      sed -e "s/^wsp-demo: //" -e "s/^/  $2: /" || true
  fi
}

# One layout: the three nodes on Redis, then the single node, each
# measured alone; the tables of that layout.
layout_run() {
  layout=$1
  results=$out/results-$layout
  : >"$results"
  if [ "$layout" = pinned ]; then
    hub_cpu="taskset -c 0"
    load_cpu="taskset -c 1"
    echo
    echo "== pinned: the hub (3 nodes + redis-server, or the single node) on CPU 0, pubsub-load on CPU 1"
  else
    hub_cpu=
    load_cpu=
    echo
    echo "== free: no pinning, the scheduler places every process on the $ncpu CPUs"
  fi

  round=1
  while [ "$round" -le "$repeat" ]; do
    [ "$repeat" -eq 1 ] || echo "round $round of $repeat"
    setups
    round=$((round + 1))
  done
  tables "$layout" "$results" || failed=1
}

# setups: one round of the two setups, results appended to $results.
setups() {
  # 1. Three nodes on one Redis.
  wait_quiet "3-node"
  printf 'redis + 3 nodes ... '
  start_redis
  nodes=
  node_pids=
  for n in 1 2 3; do
    start_node "$layout-n$n" --redis "127.0.0.1:$redis_port" --node-name "n$n"
    nodes="$nodes${nodes:+,}$addr"
    node_pids="$node_pids${node_pids:+,}$node_pid"
    eval "node${n}_pid=$node_pid"
  done
  node1=${nodes%%,*}
  measure redis "$nodes" "$node1" "$node_pids,$redis_pid"
  echo "done"
  # shellcheck disable=SC2154
  { stop "$node1_pid" n1; stop "$node2_pid" n2; stop "$node3_pid" n3; }
  stop "$redis_pid" redis-server
  for n in n1 n2 n3; do node_log "$layout-$n" "$n"; done

  # 2. One node, no Redis, the same load.
  wait_quiet "single-node"
  printf 'single node ... '
  start_node "$layout-single"
  measure single "$addr" "$addr" "$node_pid"
  echo "done"
  stop "$node_pid" single
  node_log "$layout-single" single
}

echo "cross-node fan-out: $subs subscribers, payload $sizes bytes, window $fan_windows; publish: window $pub_windows;"
echo "${seconds} s per cell; $ncpu CPUs; layouts: $layouts; best of $repeat round(s)"
[ "$ncpu" -gt 2 ] || echo "note: only 2 CPUs for 5 processes (3 nodes, redis-server, the load generator): they share them"

# tables LAYOUT RESULTS: the figures of one layout; fails when something
# was lost, duplicated, reordered or dropped.
tables() {
  awk -v pin="$([ "$1" = pinned ] && echo 1 || echo 0)" '
function val(line, key,    i, n, f) {
  n = split(line, f, " ")
  for (i = 1; i <= n; i++)
    if (index(f[i], key "=") == 1)
      return substr(f[i], length(key) + 2)
  return ""
}
function num(x) { return x == "" ? "-" : x }
function mill(x) { return x == "" ? "-" : sprintf("%.3fM", x / 1e6) }
function ms(x) { return x == "" ? "-" : sprintf("%.1f", x / 1000) }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
# Problems seen by the subscribers and the publisher, as counts.
function checks(line,    s) {
  s = ""
  if (val(line, "lost") + 0) s = s " lost=" val(line, "lost")
  if (val(line, "duplicates") + 0) s = s " dup=" val(line, "duplicates")
  if (val(line, "reordered") + 0) s = s " out-of-order=" val(line, "reordered")
  if (val(line, "dropped_conns") + 0) s = s " dropped=" val(line, "dropped_conns")
  if (val(line, "bad") + 0) s = s " bad=" val(line, "bad")
  if (val(line, "drained") == "no") s = s " undrained"
  return s
}
# Refused publishes are reported, not failed on: not a lost delivery.
function refused(line) {
  return val(line, "pub_errors") + 0 ? " refused=" val(line, "pub_errors") : ""
}
# Where the limit is, from the CPU each process and each CPU used: a
# process at 90% of one CPU or more (it runs one thread); else, pinned,
# CPU 0 (the hub) and/or CPU 1 (the load generator) at 90% or more
# (kernel time for the sockets included); free, the CPUs 85% busy on
# average (five processes share them, none can take one whole); else
# nothing was saturated and the round trips of the window set the rate.
# Not guessed when other processes took more than 10% of a CPU.
function limit(setup, line,    names, n, i, c, s, busy, nc, cpus, top, topi) {
  if (setup == "redis") n = split("node1 node2 node3 redis", names, " ")
  else n = split("node", names, " ")
  split(val(line, "pids_cpu_pct"), c, ",")
  if (n == 1) c[1] = val(line, "server_cpu_pct")
  names[n + 1] = "load"
  c[n + 1] = val(line, "loadgen_cpu_pct")
  s = ""
  top = -1
  for (i = 1; i <= n + 1; i++) {
    if (c[i] + 0 >= 90) s = s (s == "" ? "" : " + ") names[i] " " c[i] "%"
    if (i <= n && c[i] + 0 > top) { top = c[i] + 0; topi = i }
  }
  if (s != "") return s
  if (val(line, "other_cpu_pct") + 0 > 10)
    return "unclear: other processes took " val(line, "other_cpu_pct") "% of a CPU"
  nc = split(val(line, "cpus_busy_pct"), cpus, ",")
  busy = 0
  for (i = 1; i <= nc; i++) busy += cpus[i]
  if (pin && nc >= 2) {
    if (cpus[1] + 0 >= 90 && cpus[2] + 0 >= 90)
      return "both CPUs: the hub'"'"'s and the load'"'"'s"
    if (cpus[1] + 0 >= 90)
      return "CPU 0, the hub'"'"'s (top: " names[topi] " " top "%)"
    if (cpus[2] + 0 >= 90)
      return "CPU 1, the load'"'"'s"
  } else if (nc > 0 && busy / nc >= 85) {
    return "both CPUs (top: " names[topi] " " top "%)"
  }
  return "none: round trips of the window"
}
# With --repeat, each cell keeps its best round (highest rate; for the
# latency line, lowest p50) and the problems of every round.
{
  setup = $1; phase = $2; kind = $3
  if (kind != "cell" && kind != "latency") next
  line = $0
  if (kind == "latency") {
    prob[setup, "lat"] = prob[setup, "lat"] checks(line)
    refs[setup, "lat"] = refs[setup, "lat"] refused(line)
    if (!(setup in lat) || val(line, "p50_us") + 0 < val(lat[setup], "p50_us") + 0)
      lat[setup] = line
    next
  }
  k = phase " " val(line, "subs") " " val(line, "size") " " val(line, "window")
  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  prob[setup, k] = prob[setup, k] checks(line)
  refs[setup, k] = refs[setup, k] refused(line)
  f = (phase == "pub" ? "pubs_per_s" : "deliveries_per_s")
  if (!((setup, k) in row) || val(line, f) + 0 > val(row[setup, k], f) + 0)
    row[setup, k] = line
}
function cpus(setup, line,    c, s) {
  if (line == "") return "-"
  if (setup == "redis") {
    split(val(line, "pids_cpu_pct"), c, ",")
    s = sprintf("%3s %3s %3s %3s", num(c[1]), num(c[2]), num(c[3]), num(c[4]))
  } else {
    s = sprintf("%3s %3s %3s %3s", num(val(line, "server_cpu_pct")), "", "", "")
  }
  return s sprintf(" %4s %7s", num(val(line, "loadgen_cpu_pct")), num(val(line, "cpus_busy_pct")))
}
function mark(setup, k, line) {
  return (prob[setup, k] != "" ? "!" : "") (val(line, "other_cpu_pct") + 0 > 10 ? "~" : "") \
    (val(line, "rate_over") == "whole_cell" ? "*" : "")
}
function label(k,    p) {
  split(k, p, " ")
  return p[1] == "fan" ? "fan-out " p[3] " B W=" p[4] : "publish subs=" p[2] " W=" p[4]
}
function setupname(setup) { return setup == "redis" ? "3 nodes" : "single" }
function latmark(line) { return val(line, "other_cpu_pct") + 0 > 10 ? "~" : "" }
END {
  printf "\nCross-node fan-out: 1000 subscribers (334/333/333 on 3 nodes), one publisher on node 1,\n"
  printf "W publications in flight (not yet delivered to every subscriber); latency = publisher send -> subscriber receive;\n"
  printf "per hub CPU-s: deliveries per CPU-second of the hub (the node, or the 3 nodes + redis-server)\n"
  printf "%5s %4s | %11s %11s %5s | %16s %16s | %16s\n", "bytes", "W", "single", "3 nodes", "3n/1",
    "single p50/p99", "3 nodes p50/p99", "per hub CPU-s"
  printf "%5s %4s | %11s %11s %5s | %16s %16s | %16s\n", "", "", "deliv./s", "deliv./s", "", "ms", "ms", "single / 3 nodes"
  for (i = 1; i <= nk; i++) {
    k = order[i]; split(k, p, " ")
    if (p[1] != "fan") continue
    a = row["single", k]; b = row["redis", k]
    printf "%5s %4s | %11s %11s %5s | %16s %16s | %16s\n", p[3], p[4],
      mill(val(a, "deliveries_per_s")) mark("single", k, a), mill(val(b, "deliveries_per_s")) mark("redis", k, b),
      ratio(val(b, "deliveries_per_s"), val(a, "deliveries_per_s")),
      ms(val(a, "p50_us")) "/" ms(val(a, "p99_us")), ms(val(b, "p50_us")) "/" ms(val(b, "p99_us")),
      mill(val(a, "deliveries_per_cpu_s")) " / " mill(val(b, "deliveries_per_cpu_s"))
  }
  a = lat["single"]; b = lat["redis"]
  printf "at 100 publications/s, 64 B: p50/p99 ms   single %s/%s%s   3 nodes %s/%s%s\n",
    ms(val(a, "p50_us")), ms(val(a, "p99_us")), latmark(a), ms(val(b, "p50_us")), ms(val(b, "p99_us")), latmark(b)
  printf "  (publish acknowledgement at that rate, p50/p99 ms: single %s/%s, 3 nodes %s/%s)\n",
    ms(val(a, "ack_p50_us")), ms(val(a, "ack_p99_us")), ms(val(b, "ack_p50_us")), ms(val(b, "ack_p99_us"))

  printf "\nPublish throughput: publications/s acknowledged, 64 B, W publishes awaiting their reply\n"
  printf "(with subscribers, they may fall 4 x W publications behind, at least 256)\n"
  printf "%5s %4s | %10s %10s %6s | %17s %17s\n", "subs", "W", "single", "3 nodes", "3n/1", "single ack p50/p99", "3 nodes ack p50/p99"
  for (i = 1; i <= nk; i++) {
    k = order[i]; split(k, p, " ")
    if (p[1] != "pub") continue
    a = row["single", k]; b = row["redis", k]
    printf "%5s %4s | %10s %10s %6s | %17s %17s\n", p[2], p[4],
      num(val(a, "pubs_per_s")) mark("single", k, a), num(val(b, "pubs_per_s")) mark("redis", k, b),
      ratio(val(b, "pubs_per_s"), val(a, "pubs_per_s")),
      ms(val(a, "ack_p50_us")) "/" ms(val(a, "ack_p99_us")), ms(val(b, "ack_p50_us")) "/" ms(val(b, "ack_p99_us"))
  }

  printf "\nCPU over each measured period, %% of one CPU (node1..3 and redis; single: the node); busy %% of each CPU\n"
  printf "%-24s %-7s %3s %3s %3s %3s %4s %7s  %s\n", "cell", "setup", "n1", "n2", "n3", "rds", "load", "CPUs", "limit"
  for (i = 1; i <= nk; i++) {
    k = order[i]; split(k, p, " ")
    for (s = 1; s <= 2; s++) {
      setup = (s == 1 ? "redis" : "single")
      if (!((setup, k) in row)) continue
      line = row[setup, k]
      printf "%-24s %-7s %s  %s\n", (s == 1 ? label(k) : ""), setupname(setup), cpus(setup, line), limit(setup, line)
    }
  }

  printf "\nChecks (every subscriber must get every publication once, in order)\n"
  bad = 0
  for (i = 1; i <= nk; i++) {
    k = order[i]
    for (s = 1; s <= 2; s++) {
      setup = (s == 1 ? "redis" : "single")
      if (!((setup, k) in row)) { printf "  %s, %s: no result\n", setupname(setup), label(k); bad = 1 }
      c = prob[setup, k]
      if (c != "") { printf "  %s, %s:%s\n", setupname(setup), label(k), c; bad = 1 }
      c = refs[setup, k]
      if (c != "") { printf "  %s, %s:%s\n", setupname(setup), label(k), c; anyref = 1 }
    }
  }
  for (s = 1; s <= 2; s++) {
    setup = (s == 1 ? "redis" : "single")
    if (!(setup in lat)) { printf "  %s, latency at 100/s: no result\n", setupname(setup); bad = 1 }
    c = prob[setup, "lat"]
    if (c != "") { printf "  %s, latency at 100/s:%s\n", setupname(setup), c; bad = 1 }
    c = refs[setup, "lat"]
    if (c != "") { printf "  %s, latency at 100/s:%s\n", setupname(setup), c; anyref = 1 }
  }
  if (!bad) printf "  none lost, duplicated or out of order; no connection dropped\n"
  if (!anyref) printf "  no publish refused\n"
  printf "(! = a problem above; ~ = other processes used > 10%% CPU meanwhile: figure unreliable;\n"
  printf " * = less than one window completed in the period: rate over the whole cell)\n"
  exit bad
}' "$2"
}

for l in $layouts; do
  layout_run "$l"
done
exit $failed
