#!/bin/sh
# The README shows whole programs from examples/; the copy in the README
# must be the file that is built and tested, byte for byte. Compares the
# first ```c block of the README section titled HEADING with FILE.
#   sh tests/readme-block.sh README.md 'A complete hub in 100 lines' examples/hub.c
set -u
[ $# -eq 3 ] || { echo "usage: $0 README HEADING FILE" >&2; exit 2; }
readme=$1 heading=$2 file=$3

tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT INT TERM

# 0: before the section, 1: in it, 2: in its code block, 3: done.
awk -v h="## $heading" -v out="$tmp" '
  state == 0 && $0 == h { state = 1; next }
  state == 1 && /^## / { exit 1 }
  state == 1 && $0 == "```c" { state = 2; next }
  state == 2 && $0 == "```" { state = 3; exit 0 }
  state == 2 { print > out }
  END { if (state != 3) exit 1 }
' "$readme" || {
  echo "readme-block.sh: no \`\`\`c block in section \"$heading\" of $readme" >&2
  exit 1
}
if ! cmp -s "$tmp" "$file"; then
  echo "readme-block.sh: the block in \"$heading\" differs from $file:" >&2
  diff -u "$file" "$tmp" >&2
  exit 1
fi
echo "ok: \"$heading\" in $readme is $file ($(wc -l <"$file") lines)"
