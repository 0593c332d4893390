#!/bin/sh
# Keep the manual in step with the code: every function declared with
# WSP_API is exported by lib/libwsp.map and named in the NAME section and
# the SYNOPSIS of a page, every name of a page gets a symlink in
# man/meson.build, and every page renders without warnings.
#   sh man/check.sh SOURCE_ROOT
set -u
root=${1:-.}
man="$root/man"
fail=0
err() { echo "man/check.sh: $*" >&2; fail=1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

grep -h '^WSP_API' "$root"/include/wsp/*.h |
  sed -n 's/.*[ *]\(wsp_[a-z0-9_]*\)(.*/\1/p' | sort -u >"$tmp/header"
sed -n 's/^[[:space:]]*\(wsp_[a-z0-9_]*\);.*/\1/p' "$root/lib/libwsp.map" |
  sort -u >"$tmp/map"
[ -s "$tmp/header" ] || err "no WSP_API functions found in include/wsp/"

comm -23 "$tmp/header" "$tmp/map" | while read -r f; do
  echo "man/check.sh: $f is declared but not in lib/libwsp.map" >&2
  echo x
done >"$tmp/bad1"
comm -13 "$tmp/header" "$tmp/map" | while read -r f; do
  echo "man/check.sh: $f is in lib/libwsp.map but not declared" >&2
  echo x
done >>"$tmp/bad1"
[ -s "$tmp/bad1" ] && fail=1

pages=$(ls "$man"/*.[1-9] 2>/dev/null)
[ -n "$pages" ] || err "no pages in $man"

while read -r f; do
  hit=$(grep -l "^\.Nm $f\( ,\)\{0,1\}\$" $pages | head -n 1)
  if [ -z "$hit" ]; then
    err "$f is not named in the NAME section of any page"
  elif ! grep -q "^\.F[no] $f\( \|\$\)" "$hit"; then
    err "$f has no .Fn or .Fo line in $(basename "$hit")"
  fi
done <"$tmp/header"

for p in $pages; do
  base=$(basename "$p")
  grep -q "^  '$base'" "$man/meson.build" ||
    err "$base is missing from install_man() in man/meson.build"
  first=${base%.*}
  for n in $(sed -n 's/^\.Nm \([A-Za-z0-9_-]*\).*/\1/p' "$p" | sort -u); do
    [ "$n" = "$first" ] && continue
    [ "$base" = "wsp.7" ] && continue
    grep -q "'$n'" "$man/meson.build" ||
      err "$n (named in $base) has no symlink in man/meson.build"
  done
done

# Rendering: mandoc's linter when present, otherwise groff's warnings.
for p in $pages; do
  if command -v mandoc >/dev/null 2>&1; then
    out=$(mandoc -Tlint -W warning "$p" 2>&1)
  elif command -v groff >/dev/null 2>&1; then
    out=$(groff -mandoc -Tutf8 -ww -z "$p" 2>&1)
  else
    break
  fi
  [ -z "$out" ] || err "$(basename "$p"): $out"
done

[ "$fail" -eq 0 ] && echo "man/check.sh: $(wc -l <"$tmp/header") functions, $(echo $pages | wc -w) pages: ok"
exit "$fail"
