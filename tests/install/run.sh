#!/bin/sh
# make install installs where it is asked, every time: the project is
# configured once (into a build directory of its own, so that the build
# the other tests run from is left alone), then installed with
#   1. make install PREFIX=A
#   2. make install PREFIX=B
#   3. make install PREFIX=C DESTDIR=D
# After each, the headers, the libraries, libwsp.pc and the man pages are
# under that prefix (below D for 3), libwsp.pc names that prefix, and
# nothing was written to the earlier prefixes.
#
#   tests/install/run.sh SOURCE_ROOT
#
# Skipped (77) without make. Exits non-zero and says what differed on
# failure.
set -u
src=${1:?usage: run.sh SOURCE_ROOT}
src=$(cd "$src" && pwd) || exit 2
if ! command -v make >/dev/null 2>&1; then
  echo "install: make not found; skipped" >&2
  exit 77
fi
# Run from make check: the outer make's jobserver is not for this make.
unset MAKEFLAGS MFLAGS MAKELEVEL
fail=0
err() { echo "install: $*" >&2; fail=1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsp-install.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
build="$tmp/build"

# The first prefix is one no install may use.
if ! meson setup "$build" "$src" --prefix="$tmp/configured" -Dtests=disabled \
    -Dexamples=false >"$tmp/setup.log" 2>&1; then
  cat "$tmp/setup.log" >&2
  echo "install: meson setup failed" >&2
  exit 1
fi

# check ROOT PREFIX: one installation, PREFIX as libwsp.pc names it, its
# files below ROOT (ROOT = DESTDIR + PREFIX).
check() {
  root=$1 prefix=$2
  for f in include/wsp.h include/wsp/conn.h include/wsp/server.h; do
    [ -f "$root/$f" ] || err "PREFIX=$prefix: no $root/$f"
  done
  for f in libwsp.so libwsp.a pkgconfig/libwsp.pc; do
    [ -n "$(find "$root" -path "*/lib*/$f" 2>/dev/null | head -n 1)" ] ||
      err "PREFIX=$prefix: no lib*/$f below $root"
  done
  [ -n "$(find "$root" -path '*/man3/wsp_conn_new.3' 2>/dev/null | head -n 1)" ] ||
    err "PREFIX=$prefix: no man3/wsp_conn_new.3 below $root"
  pc=$(find "$root" -name libwsp.pc 2>/dev/null | head -n 1)
  [ -n "$pc" ] || return
  have=$(sed -n 's/^prefix=//p' "$pc")
  [ "$have" = "$prefix" ] ||
    err "PREFIX=$prefix: $pc says prefix=$have"
  libdir=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$root" \
    --variable=libdir libwsp 2>/dev/null)
  [ -e "$libdir/libwsp.so" ] ||
    err "PREFIX=$prefix: libwsp.pc's libdir ($libdir below DESTDIR) has no libwsp.so"
}

# do_install N ARGS...: make install with ARGS, its output kept in install-N.log.
do_install() {
  n=$1
  shift
  echo "install: make install $*"
  if ! make -C "$src" install BUILD="$build" "$@" >"$tmp/install-$n.log" 2>&1; then
    cat "$tmp/install-$n.log" >&2
    err "make install $* failed"
    return 1
  fi
}

if do_install 1 PREFIX="$tmp/a"; then
  check "$tmp/a" "$tmp/a"
fi
rm -rf "$tmp/a"
if do_install 2 PREFIX="$tmp/b"; then
  check "$tmp/b" "$tmp/b"
  [ ! -e "$tmp/a" ] || err "PREFIX=$tmp/b also wrote to the previous prefix $tmp/a"
fi
rm -rf "$tmp/b"
if do_install 3 PREFIX=/opt/libwsp-test DESTDIR="$tmp/dest"; then
  check "$tmp/dest/opt/libwsp-test" /opt/libwsp-test
  [ ! -e "$tmp/b" ] || err "DESTDIR=$tmp/dest also wrote to the previous prefix $tmp/b"
  [ ! -e /opt/libwsp-test ] || err "DESTDIR=$tmp/dest wrote to /opt/libwsp-test"
fi
[ ! -e "$tmp/configured" ] || err "an install used the configured prefix $tmp/configured"

if [ $fail -ne 0 ]; then
  echo "install: FAILED" >&2
  exit 1
fi
echo "install: ok (three installs, each under its own prefix)"
exit 0
