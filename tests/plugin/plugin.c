/*
 * A plugin that carries its own libwsp: linked with the static library,
 * compiled with hidden visibility and linked with -Wl,--exclude-libs,ALL
 * (tests/plugin/meson.build), so that its one exported symbol is
 * consumer_plugin_run and libwsp's functions inside it are its own.
 */
#include <stddef.h>

#include "roundtrip.h"

__attribute__((visibility("default"))) int consumer_plugin_run(char *msg,
                                                               size_t cap);

int consumer_plugin_run(char *msg, size_t cap) {
  return roundtrip_run(msg, cap);
}
