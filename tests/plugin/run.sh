#!/bin/sh
# libwsp linked statically into a dlopen()ed plugin, kept private:
#   1. the plugin built as the README says (hidden visibility,
#      -Wl,--exclude-libs,ALL) exports consumer_plugin_run and nothing
#      else: no wsp_ symbol (names the toolchain starts with _ aside),
#      and imports none either;
#   2. the host, which exports its own wsp_version() and
#      wsp_version_string(), loads it and the plugin's client goes through
#      its hub: the plugin's calls reach its own libwsp, not the host's
#      look-alikes;
#   3. the control, the same plugin linked without --exclude-libs, does
#      export wsp_ symbols and, loaded by the same host, binds to the
#      host's wsp_version(): the clash the flag prevents, and proof that
#      checks 1 and 2 can fail.
#
#   tests/plugin/run.sh HOST PLUGIN CONTROL_PLUGIN
#
# Skipped (77) without nm. Exits non-zero and says what differed on
# failure.
set -u
host=${1:?usage: run.sh HOST PLUGIN CONTROL_PLUGIN}
plugin=${2:?usage: run.sh HOST PLUGIN CONTROL_PLUGIN}
control=${3:?usage: run.sh HOST PLUGIN CONTROL_PLUGIN}
if ! command -v nm >/dev/null 2>&1; then
  echo "plugin: nm not found; skipped" >&2
  exit 77
fi
fail=0
err() { echo "plugin: $*" >&2; fail=1; }

# exported SO: the names SO defines in its dynamic symbol table, without
# the toolchain's own (_init, __bss_start, ...).
exported() {
  nm -D --defined-only "$1" | awk '{ print $NF }' | sed 's/@.*//' |
    grep -v '^_' | sort -u
}

# ---- 1. Only the entry point is exported ------------------------------------
syms=$(exported "$plugin")
echo "plugin: $(basename "$plugin") exports:" $syms
[ "$syms" = consumer_plugin_run ] ||
  err "$plugin should export consumer_plugin_run only, it exports:" $syms

imports=$(nm -D --undefined-only "$plugin" | awk '{ print $NF }' | grep '^wsp_')
[ -z "$imports" ] ||
  err "$plugin takes wsp_ symbols from outside, not from libwsp.a:" $imports

# ---- 2. The host loads it; the plugin's libwsp is its own ------------------
if out=$("$host" "$plugin" 2>&1); then
  echo "$out"
  case "$out" in
    *"the plugin says: libwsp "*": connect ok"*) ;;
    *) err "unexpected output from the host: $out" ;;
  esac
else
  err "the host failed with $plugin: $out"
fi

# ---- 3. The control: without --exclude-libs, libwsp leaks and clashes -------
n=$(exported "$control" | grep -c '^wsp_')
[ "$n" -gt 0 ] ||
  err "$control (no --exclude-libs) exports no wsp_ symbol: check 1 proves nothing"
if out=$("$host" "$control" 2>&1); then
  err "the host's wsp_version() did not reach $control: check 2 proves nothing"
else
  case "$out" in
    *"header "*" but library of the host"*)
      echo "plugin: control: $n wsp_ symbols exported; bound to the host's: $out" ;;
    *) err "unexpected failure with $control: $out" ;;
  esac
fi

if [ $fail -ne 0 ]; then
  echo "plugin: FAILED" >&2
  exit 1
fi
echo "plugin: ok (libwsp private to the plugin, no clash with the host)"
exit 0
