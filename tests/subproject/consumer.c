/*
 * The consumer of tests/subproject: libwsp built as a meson subproject of
 * this program, checked by one client through the hub (roundtrip.c).
 */
#include <stdio.h>

#include "roundtrip.h"

int main(void) {
  char msg[512];
  int rv = roundtrip_run(msg, sizeof(msg));
  printf("%s\n", msg);
  return rv == 0 ? 0 : 1;
}
