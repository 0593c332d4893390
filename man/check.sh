#!/bin/sh
# Keep the manual in step with the code: every function declared with
# WSP_API is exported by lib/libwsp.map and named in the NAME section and
# the SYNOPSIS of a page, every name of a page gets a symlink in
# man/meson.build, every public struct a page shows with its members
# lists the members of its definition in include/wsp/, in order, and
# every page renders without warnings.
#   sh man/check.sh SOURCE_ROOT
set -u
root=${1:-.}
man="$root/man"
fail=0
err() { echo "man/check.sh: $*" >&2; fail=1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# Declared in a header ahead of the code that defines them, which comes
# from another branch: not exported, documented or checked yet. A name
# leaves this list in the commit that adds it to lib/libwsp.map.
: >"$tmp/ahead"

# A declaration may break after its return type: join such a line with
# the next one before looking for the name.
awk '/^WSP_API/ && !/\(/ { held = $0; next }
     held != "" { print held " " $0; held = ""; next }
     /^WSP_API/ { print }' "$root"/include/wsp/*.h |
  sed -n 's/.*[ *]\(wsp_[a-z0-9_]*\)(.*/\1/p' | sort -u |
  grep -vxF -f "$tmp/ahead" >"$tmp/header"
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

# Structures: every "struct wsp_... {" a page shows must list the
# members of the definition in include/wsp/*.h, by name and in order.
# Members declared together ("int64_t exp, nbf, iat;") count one by one;
# a nested struct counts as the member it declares.
cat >"$tmp/structs.awk" <<'EOF'
function ident_of(d,    n) {
  sub(/:.*/, "", d)
  if (match(d, /\(\*[ \t]*[A-Za-z_][A-Za-z0-9_]*/)) {
    n = substr(d, RSTART, RLENGTH)
    sub(/^\(\*[ \t]*/, "", n)
    return n
  }
  while (sub(/\[[^]]*\][ \t]*$/, "", d))
    ;
  if (match(d, /[A-Za-z_][A-Za-z0-9_]*[ \t]*$/)) {
    n = substr(d, RSTART, RLENGTH)
    sub(/[ \t]+$/, "", n)
    return n
  }
  return "?"
}
function members(body,    i, c, bd, pd, decl, out, k, parts, j) {
  out = ""; decl = ""; bd = 0; pd = 0
  for (i = 1; i <= length(body); i++) {
    c = substr(body, i, 1)
    if (c == "{") { bd++; continue }
    if (c == "}") { bd--; continue }
    if (bd > 0) continue
    if (c == "(") pd++
    if (c == ")") pd--
    if (c == "," && pd == 0) c = "\001"
    if (c == ";") {
      k = split(decl, parts, "\001")
      for (j = 1; j <= k; j++)
        out = out (out == "" ? "" : " ") ident_of(parts[j])
      decl = ""
      continue
    }
    decl = decl c
  }
  return out
}
FNR == 1 { inside = 0; incomment = 0 }
{
  line = $0
  gsub(/\\&/, "", line)
  gsub(/\\e/, "\\", line)
  if (!inside &&
      match(line, /^[ \t]*struct[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\{/)) {
    name = line
    sub(/^[ \t]*struct[ \t]+/, "", name)
    sub(/[ \t]*\{.*/, "", name)
    inside = 1; depth = 0; body = ""; incomment = 0
    line = substr(line, index(line, "{"))
  }
  if (!inside)
    next
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (incomment) {
      if (c == "*" && substr(line, i + 1, 1) == "/") { incomment = 0; i++ }
      continue
    }
    if (c == "/" && substr(line, i + 1, 1) == "*") {
      incomment = 1; i++; continue
    }
    if (c == "/" && substr(line, i + 1, 1) == "/")
      break
    if (c == "{" && ++depth == 1)
      continue
    if (c == "}" && --depth == 0) {
      n = split(FILENAME, path, "/")
      printf "%s\t%s\t%s\n", path[n], name, members(body)
      inside = 0
      break
    }
    body = body c
  }
  body = body " "
}
EOF
awk -f "$tmp/structs.awk" "$root"/include/wsp/*.h >"$tmp/hstructs"
awk -f "$tmp/structs.awk" $pages >"$tmp/mstructs"
[ -s "$tmp/hstructs" ] || err "no struct definitions found in include/wsp/"
awk -F '\t' '
  NR == FNR { def[$2] = $3; hdr[$2] = $1; next }
  !($2 in def) {
    if ($2 ~ /^wsp_/)
      printf "%s: struct %s is not defined in include/wsp/\n", $1, $2
    next
  }
  def[$2] != $3 {
    n = split($3, got, " "); m = split(def[$2], want, " ")
    for (i = 1; i <= n && i <= m && got[i] == want[i]; i++)
      ;
    if (i > n)
      why = "lacks " want[i] " (member " i ")"
    else if (i > m)
      why = "has " got[i] " (member " i "), which the header lacks"
    else
      why = "has " got[i] " as member " i " where the header has " want[i]
    printf "%s: struct %s %s; include/wsp/%s declares: %s\n", \
      $1, $2, why, hdr[$2], def[$2]
  }' "$tmp/hstructs" "$tmp/mstructs" >"$tmp/bad2"
while read -r line; do
  err "$line"
done <"$tmp/bad2"

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
