/*
 * Output queue: a list of blocks the application drains as iovecs. Small
 * writes are coalesced into the tail block so that many frames leave in few
 * iovecs; a large payload gets a block of its own, sized to fit. An empty
 * queue holds no memory, which keeps idle connections small.
 */
#include <string.h>

#include "internal.h"

#define BLOCK_MIN 4096

struct wsp__block {
  struct wsp__block *next;
  size_t off; /* first byte not yet sent */
  size_t len; /* bytes filled */
  size_t cap;
  uint8_t data[];
};

static struct wsp__block *block_new(const struct wsp_mem *mem, size_t need) {
  size_t cap = need < BLOCK_MIN - sizeof(struct wsp__block)
                   ? BLOCK_MIN - sizeof(struct wsp__block)
                   : need;
  struct wsp__block *b = wsp__malloc(mem, sizeof(*b) + cap);
  if (!b)
    return NULL;
  b->next = NULL;
  b->off = b->len = 0;
  b->cap = cap;
  return b;
}

uint8_t *wsp__outq_reserve(struct wsp__outq *q, const struct wsp_mem *mem,
                           size_t len) {
  struct wsp__block *b = q->tail;
  uint8_t *p;
  if (!b || b->cap - b->len < len) {
    b = block_new(mem, len);
    if (!b)
      return NULL;
    if (q->tail)
      q->tail->next = b;
    else
      q->head = b;
    q->tail = b;
  }
  p = b->data + b->len;
  b->len += len;
  q->bytes += len;
  return p;
}

int wsp__outq_append(struct wsp__outq *q, const struct wsp_mem *mem,
                     const void *data, size_t len) {
  uint8_t *p;
  if (len == 0)
    return 0;
  p = wsp__outq_reserve(q, mem, len);
  if (!p)
    return WSP_ERR_NOMEM;
  memcpy(p, data, len);
  return 0;
}

int wsp__outq_iov(const struct wsp__outq *q, struct iovec *iov, int iovcnt) {
  int n = 0;
  const struct wsp__block *b;
  for (b = q->head; b && n < iovcnt; b = b->next) {
    if (b->len == b->off)
      continue;
    iov[n].iov_base = (void *)(b->data + b->off);
    iov[n].iov_len = b->len - b->off;
    n++;
  }
  return n;
}

size_t wsp__outq_consume(struct wsp__outq *q, const struct wsp_mem *mem,
                         size_t n) {
  size_t done = 0;
  while (q->head && done < n) {
    struct wsp__block *b = q->head;
    size_t avail = b->len - b->off;
    size_t take = WSP__MIN(avail, n - done);
    b->off += take;
    done += take;
    if (b->off == b->len) {
      q->head = b->next;
      if (!q->head)
        q->tail = NULL;
      wsp__free(mem, b);
    }
  }
  q->bytes -= done;
  return done;
}

void wsp__outq_clear(struct wsp__outq *q, const struct wsp_mem *mem) {
  while (q->head) {
    struct wsp__block *b = q->head;
    q->head = b->next;
    wsp__free(mem, b);
  }
  q->tail = NULL;
  q->bytes = 0;
}
