/*
 * The library's one source of random bytes: getrandom(2), or the
 * function an application installed with wsp_set_random() (a
 * deterministic simulation, a test, a sandbox without getrandom).
 */
#include <errno.h>
#include <sys/random.h>

#include "internal.h"

static int (*random_fill)(void *buf, size_t len, void *user_data);
static void *random_user_data;

void wsp_set_random(int (*fill)(void *buf, size_t len, void *user_data),
                    void *user_data) {
  random_fill = fill;
  random_user_data = fill ? user_data : NULL;
}

int wsp__random(void *buf, size_t len) {
  uint8_t *p = buf;
  if (random_fill)
    return random_fill(buf, len, random_user_data) == 0 ? 0 : WSP_ERR_RANDOM;
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
