/*
 * The library's one source of random bytes: the random hook of the
 * object's struct wsp_mem (a deterministic simulation, a test, a sandbox
 * without getrandom), or getrandom(2).
 */
#include <errno.h>
#include <sys/random.h>

#include "internal.h"

int wsp__random(const struct wsp_mem *mem, void *buf, size_t len) {
  uint8_t *p = buf;
  if (mem && mem->random)
    return mem->random(buf, len, mem->user_data) == 0 ? 0 : WSP_ERR_RANDOM;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return WSP_ERR_RANDOM;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}
