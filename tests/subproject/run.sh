#!/bin/sh
# libwsp as a meson subproject: a project of its own (this directory's
# meson.build and consumer.c, with ../roundtrip.[ch]) is assembled in a
# temporary directory with subprojects/libwsp a symbolic link to the
# source tree, then configured, built and run:
#   1. pkg-config sees only nettle, hogweed and gmp (and libwslay when it
#      has a .pc), so an installed libwsp cannot be picked up, and the
#      consumer's meson.build asserts that libwsp came from the
#      subproject through dependency('libwsp', fallback : 'libwsp');
#   2. the subproject builds the library only: none of libwsp's tests,
#      examples or benchmarks is built as part of the consumer;
#   3. the consumer runs one client through the hub and exits 0, linked
#      with the shared library and, from the subproject's
#      libwsp_static_dep, with libwsp.a (without a NEEDED libwsp.so).
#
#   tests/subproject/run.sh SOURCE_ROOT
#
# Exits non-zero and says what differed on failure.
set -u
src=${1:?usage: run.sh SOURCE_ROOT}
src=$(cd "$src" && pwd) || exit 2
here="$src/tests/subproject"
fail=0
err() { echo "subproject: $*" >&2; fail=1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsp-subproject.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

proj="$tmp/consumer"
mkdir -p "$proj/subprojects" "$tmp/pkgconfig" || exit 2
cp "$here/meson.build" "$here/consumer.c" "$src/tests/roundtrip.c" \
  "$src/tests/roundtrip.h" "$proj/" || exit 2
ln -s "$src" "$proj/subprojects/libwsp" || exit 2

# ---- 1. Configure with libwsp out of pkg-config's sight -------------------
# (pcfiledir rather than pkgconf's --path: pkg-config 0.29 has it too)
for pkg in nettle hogweed gmp libwslay; do
  dir=$(pkg-config --variable=pcfiledir "$pkg" 2>/dev/null) &&
    cp "$dir/$pkg.pc" "$tmp/pkgconfig/"
done
export PKG_CONFIG_LIBDIR="$tmp/pkgconfig"
unset PKG_CONFIG_PATH
if pkg-config --exists libwsp; then
  echo "subproject: pkg-config still finds libwsp" >&2
  exit 1
fi
if ! meson setup "$tmp/build" "$proj" >"$tmp/setup.log" 2>&1; then
  cat "$tmp/setup.log" >&2
  echo "subproject: meson setup of the consumer failed" >&2
  exit 1
fi
grep -E 'fallback|Dependency libwsp' "$tmp/setup.log"

# ---- 2. Build: the library, nothing else of libwsp's ------------------------
if ! ninja -C "$tmp/build" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  echo "subproject: the consumer does not build" >&2
  exit 1
fi
sub="$tmp/build/subprojects/libwsp"
[ -d "$sub" ] || err "nothing was built in $sub"
progs=$(find "$sub" -type f -perm -u+x ! -name '*.so*' 2>/dev/null)
[ -z "$progs" ] || err "the subproject built programs:" $progs
[ -n "$(find "$sub" -name 'libwsp.so*' 2>/dev/null)" ] ||
  err "the subproject did not build libwsp.so"
tests=$(meson test -C "$tmp/build" --list --no-rebuild 2>/dev/null |
  grep -v '^No tests defined')
[ -z "$tests" ] || err "the subproject registered tests:" $tests

# ---- 3. Run -----------------------------------------------------------------
for prog in consumer consumer-static; do
  if out=$("$tmp/build/$prog"); then
    echo "$prog: $out"
  else
    err "$prog failed: $out"
  fi
done
if ! command -v readelf >/dev/null 2>&1; then
  echo "subproject: readelf not found; the static link is not checked"
else
  readelf -d "$tmp/build/consumer" | grep -q 'NEEDED.*libwsp' ||
    err "consumer does not need libwsp.so; the check below proves nothing"
  ! readelf -d "$tmp/build/consumer-static" | grep -q 'NEEDED.*libwsp' ||
    err "consumer-static needs libwsp.so; libwsp_static_dep is not static"
fi

if [ $fail -ne 0 ]; then
  echo "subproject: FAILED" >&2
  exit 1
fi
echo "subproject: ok (libwsp from subprojects/libwsp, library only)"
exit 0
