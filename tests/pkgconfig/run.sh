#!/bin/sh
# Install libwsp into a temporary directory and use it from outside the
# project, the way an application does:
#   1. build consumer.c with nothing but the compiler and
#      `pkg-config --cflags --libs libwsp`, run it against the installed
#      shared library;
#   2. the dynamic symbols libwsp.so exports are exactly the wsp_* names
#      of lib/libwsp.map, each in a LIBWSP_ version node;
#   3. every exported name is named in a page under man/ and has an
#      installed page (or link) of its own.
#
#   tests/pkgconfig/run.sh SOURCE_ROOT [BUILD_DIR]
#
# With BUILD_DIR the existing build is installed with --destdir; without,
# the project is configured and built afresh with a temporary --prefix.
# Exits non-zero and says what differed on failure.
set -u
src=${1:?usage: run.sh SOURCE_ROOT [BUILD_DIR]}
build=${2:-}
src=$(cd "$src" && pwd) || exit 2
here="$src/tests/pkgconfig"
CC=${CC:-cc}
fail=0
err() { echo "pkgconfig: $*" >&2; fail=1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsp-pkgconfig.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- Install ---------------------------------------------------------------
if [ -n "$build" ]; then
  root="$tmp/dest"
  if ! meson install -C "$build" --no-rebuild --quiet --destdir "$root" \
      >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    echo "pkgconfig: meson install --destdir failed" >&2
    exit 1
  fi
else
  root="$tmp/prefix"
  if ! meson setup "$tmp/build" "$src" --prefix="$root" -Dtests=disabled \
      -Dexamples=false >"$tmp/setup.log" 2>&1 ||
    ! meson install -C "$tmp/build" --quiet >"$tmp/install.log" 2>&1; then
    cat "$tmp/setup.log" "$tmp/install.log" >&2 2>/dev/null
    echo "pkgconfig: out-of-tree setup/install failed" >&2
    exit 1
  fi
fi

pc=$(find "$root" -name libwsp.pc | head -n 1)
if [ -z "$pc" ]; then
  echo "pkgconfig: no libwsp.pc was installed under $root" >&2
  exit 1
fi
pcdir=$(dirname "$pc")
# The .pc names the final prefix; under --destdir it lives below $root.
prefix=$(sed -n 's/^prefix=//p' "$pc")
if [ -n "$build" ]; then
  define="--define-variable=prefix=$root$prefix"
else
  define=""
fi
pkgconf() {
  PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    pkg-config $define "$@"
}

if ! flags=$(pkgconf --cflags --libs libwsp 2>"$tmp/pkgconfig.err"); then
  cat "$tmp/pkgconfig.err" >&2
  echo "pkgconfig: pkg-config --cflags --libs libwsp failed" >&2
  exit 1
fi
libdir=$(pkgconf --variable=libdir libwsp)
lib="$libdir/libwsp.so"
if [ ! -e "$lib" ]; then
  echo "pkgconfig: $lib was not installed (libdir from the .pc: $libdir)" >&2
  exit 1
fi

# A library built with sanitizers (make asan) needs them in the program too.
extra=""
if nm -D --undefined-only "$lib" 2>/dev/null | grep -q ' __asan_'; then
  extra="-fsanitize=address"
fi
if nm -D --undefined-only "$lib" 2>/dev/null | grep -q ' __ubsan_'; then
  extra="$extra -fsanitize=undefined"
fi

# ---- 1. Build and run a consumer -------------------------------------------
echo "pkgconfig: $CC consumer.c $flags"
if ! $CC -std=c11 -Wall -Wextra -Wpedantic -Werror $extra -o "$tmp/consumer" \
    "$here/consumer.c" $flags; then
  err "consumer.c does not build against the installed headers and library"
else
  out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$tmp/consumer") || err "the consumer failed: $out"
  echo "$out"
  ver=$(pkgconf --modversion libwsp)
  case "$out" in
    *"libwsp $ver handshake ok"*) ;;
    *) err "pkg-config says version $ver; the library says: $out" ;;
  esac
fi

# The public headers also have to work from C++.
if command -v c++ >/dev/null 2>&1; then
  printf '#include <wsp.h>\nint main() { return wsp_version() == 0; }\n' \
    >"$tmp/cxx.cc"
  c++ -Wall -Wextra -Werror $extra -o "$tmp/cxx" "$tmp/cxx.cc" $flags ||
    err "the installed headers do not build as C++"
fi

# ---- 2. Exported symbols against the version script -----------------------
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' >"$tmp/nm"
sed 's/@.*//' "$tmp/nm" | sort -u >"$tmp/exported"
sed -n 's/^[[:space:]]*\(wsp_[A-Za-z0-9_]*\);.*/\1/p' "$src/lib/libwsp.map" |
  sort -u >"$tmp/map"
[ -s "$tmp/map" ] || err "no wsp_ names found in lib/libwsp.map"
extra_syms=$(comm -23 "$tmp/exported" "$tmp/map")
missing_syms=$(comm -13 "$tmp/exported" "$tmp/map")
[ -z "$extra_syms" ] ||
  err "exported but not in lib/libwsp.map:" $extra_syms
[ -z "$missing_syms" ] ||
  err "in lib/libwsp.map but not exported:" $missing_syms
unversioned=$(grep -v '@LIBWSP_' "$tmp/nm" | sed 's/@.*//')
if grep -q '@' "$tmp/nm" && [ -n "$unversioned" ]; then
  err "exported without a LIBWSP_ version:" $unversioned
fi

# ---- 3. Every export is documented ------------------------------------------
mandir=$(find "$root" -type d -name man3 | head -n 1)
[ -n "$mandir" ] || err "no man3 directory was installed"
while read -r sym; do
  grep -qw -- "$sym" "$src"/man/*.[1-9] ||
    err "$sym is not named in any page under man/"
  [ -z "$mandir" ] || [ -e "$mandir/$sym.3" ] ||
    err "$sym has no installed page $sym.3 (page or link)"
done <"$tmp/map"

n=$(wc -l <"$tmp/exported")
if [ $fail -ne 0 ]; then
  echo "pkgconfig: FAILED" >&2
  exit 1
fi
echo "pkgconfig: ok ($n exported symbols match lib/libwsp.map and man/)"
exit 0
