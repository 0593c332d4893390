#!/bin/sh
# Install the Debian packages libwsp needs for a given purpose, only those
# missing. As root it runs apt-get; otherwise it prints the command.
#   scripts/install-deps.sh build|check|demo|asan|fuzz|bench
set -eu
purpose=${1:-check}

# libuv1-dev and libevent-dev: the examples and tests of the event-loop
# adapters (<wsp/adapters/libuv.h>, libevent.h), required with the tests.
# libhiredis-dev: the Redis engine (wsp_redis(3), built when it is found);
# redis-server: the server its tests start on a free loopback port.
# util-linux and mount: unshare(1) and mount(8) for the disk-full test on
# a tmpfs (interop-diskfull-tmpfs).
# zlib1g-dev: permessage-deflate (wsp_conn_set_deflate(3), built when it
# is found).
build="gcc libc6-dev meson ninja-build pkg-config libwslay-dev nettle-dev libgmp-dev libhiredis-dev zlib1g-dev"
case "$purpose" in
  build) want="$build" ;;
  demo) want="$build nodejs npm" ;;
  check) want="$build libuv1-dev libevent-dev libcmocka-dev redis-server python3 python3-websockets python3-autobahn python3-prometheus-client nodejs npm valgrind chromium util-linux mount" ;;
  asan) want="$build libuv1-dev libevent-dev libcmocka-dev redis-server python3 python3-websockets python3-autobahn python3-prometheus-client nodejs npm chromium util-linux mount" ;;
  fuzz) want="$build clang libclang-rt-14-dev" ;;
  bench) want="$build util-linux nodejs npm" ;;
  *) echo "install-deps: unknown purpose '$purpose'" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  # nodejs/npm may come from elsewhere than Debian; accept them on PATH.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "libwsp needs these Debian packages; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once if they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -n 1)" ]; then
  apt-get update -q >&2
fi
apt-get install -y -q --no-install-recommends $missing >&2
