/* Helpers shared by the libFuzzer targets: a tiny deterministic PRNG
 * (chunk sizes come from the input, so every run is reproducible), an
 * output drain that writes in uneven pieces, and a reader that touches
 * every byte of a span so that the sanitizers check it. */
#ifndef WSP_FUZZ_COMMON_H
#define WSP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsp.h>

struct fz_rng {
  uint32_t s;
};

static inline void fz_seed(struct fz_rng *r, uint32_t seed) {
  r->s = seed ? seed : 0x9e3779b9u;
}

static inline uint32_t fz_next(struct fz_rng *r) {
  uint32_t x = r->s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return r->s = x;
}

/* Read every byte of a span; the result only keeps the reads alive. */
static volatile uint8_t fz_sink;
static inline void fz_touch(const void *p, size_t len) {
  const uint8_t *b = p;
  uint8_t acc = 0;
  size_t i;
  for (i = 0; i < len; i++)
    acc ^= b[i];
  fz_sink ^= acc;
}

static inline void fz_touch_str(struct wsp_str s) { fz_touch(s.ptr, s.len); }

/* Drain conn's pending output, reporting it written in pieces of at most
 * max bytes (0: everything offered). Bounded. */
static inline void fz_drain(struct wsp_conn *c, size_t max) {
  struct iovec iov[8];
  int round, n, i;
  for (round = 0; round < 100000; round++) {
    size_t total = 0;
    n = wsp_conn_pending(c, iov, 8);
    if (n <= 0)
      return;
    for (i = 0; i < n; i++) {
      fz_touch(iov[i].iov_base, iov[i].iov_len);
      total += iov[i].iov_len;
    }
    if (max && total > max)
      total = max;
    if (wsp_conn_sent(c, total) != 0)
      return;
  }
}

/* Read every view a callback receives. */
static inline void fz_touch_request(const struct wsp_request *req) {
  size_t i;
  fz_touch_str(req->method);
  fz_touch_str(req->target);
  fz_touch_str(req->path);
  fz_touch_str(req->query);
  fz_touch_str(req->body);
  for (i = 0; i < req->nheaders; i++) {
    fz_touch_str(req->headers[i].name);
    fz_touch_str(req->headers[i].value);
  }
  if (req->reason)
    fz_touch(req->reason, strlen(req->reason));
}

/* An allocator that fails the fail_at-th allocation once it is armed
 * (0: never), and every later one too when sticky. */
struct fz_alloc {
  unsigned armed, count, fail_at, sticky;
};

static inline int fz_alloc_fails(struct fz_alloc *a) {
  if (!a->armed || !a->fail_at)
    return 0;
  a->count++;
  return a->count == a->fail_at || (a->sticky && a->count > a->fail_at);
}

static inline void *fz_malloc(size_t size, void *ud) {
  return fz_alloc_fails(ud) ? NULL : malloc(size);
}

static inline void *fz_realloc(void *p, size_t size, void *ud) {
  return fz_alloc_fails(ud) ? NULL : realloc(p, size);
}

static inline void fz_free(void *p, void *ud) {
  (void)ud;
  free(p);
}

/* A reference UTF-8 check, written independently of the library's. */
static inline int fz_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0, k, j;
  uint32_t cp, min;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      k = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    for (j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

#endif /* WSP_FUZZ_COMMON_H */
