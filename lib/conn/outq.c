/*
 * Output queue: a ring of spans of reference-counted buffers, drained by
 * the application as iovecs. Shared frames are queued by reference, so a
 * publication reaches many connections without a copy; small writes are
 * coalesced into a block of the queue's own, so many frames leave in few
 * iovecs. A queue that empties keeps its segment array and block, so a
 * connection fed in bursts does not allocate per burst; the owner calls
 * wsp__outq_trim() once the queue has stayed empty for a while, which
 * keeps idle connections small.
 */
#include <string.h>

#include "conn_private.h"

#define BLOCK_MIN 4096

struct wsp_frame *wsp__outq_buf_new(const struct wsp_mem *mem, size_t cap) {
  struct wsp_frame *b = wsp__malloc(mem, sizeof(*b) + cap);
  if (!b)
    return NULL;
  b->refs = 1;
  b->z_bits = 0;
  b->z = NULL;
  b->len = 0;
  b->cap = cap;
  b->mem = *mem;
  return b;
}

void wsp__outq_buf_unref(struct wsp_frame *b) {
  if (b && --b->refs == 0) {
    struct wsp_mem m = b->mem;
    wsp__outq_buf_unref(b->z);
    wsp__free(&m, b);
  }
}

const uint8_t *wsp__outq_frame_payload(const struct wsp_frame *f, int *opcode,
                                       size_t *len) {
  /* as wsp_frame_new() wrote it: final, unmasked, a minimal length */
  size_t hlen = 2, n = f->data[1] & 0x7f, i;
  *opcode = f->data[0] & 0x0f;
  if (n == 126 || n == 127) {
    hlen += n == 126 ? 2 : 8;
    for (n = 0, i = 2; i < hlen; i++)
      n = (n << 8) | f->data[i];
  }
  *len = n;
  return f->data + hlen;
}

static void init(struct wsp__outq *q) {
  if (!q->seg) {
    q->seg = q->inl;
    q->cap = WSP__OUTQ_INLINE;
    q->head = q->count = 0;
  }
}

/* The capacity is a power of two (the inline size doubled), so a slot
 * index wraps with a mask. */
static uint32_t slot(const struct wsp__outq *q, uint32_t i) {
  return (q->head + i) & (q->cap - 1);
}

static struct wsp__oseg *last(struct wsp__outq *q) {
  return q->count ? &q->seg[slot(q, q->count - 1)] : NULL;
}

/* Room for one more segment; the only allocation on the fan-out path,
 * and an amortised one. */
static int seg_room(struct wsp__outq *q, const struct wsp_mem *mem) {
  struct wsp__oseg *n;
  uint32_t i, cap;
  init(q);
  if (q->count < q->cap)
    return 0;
  cap = q->cap * 2;
  n = wsp__malloc(mem, cap * sizeof(*n));
  if (!n)
    return WSP_ERR_NOMEM;
  for (i = 0; i < q->count; i++)
    n[i] = q->seg[slot(q, i)];
  if (q->seg != q->inl)
    wsp__free(mem, q->seg);
  q->seg = n;
  q->cap = cap;
  q->head = 0;
  return 0;
}

/* Add buf[off, off+len) as a new segment at the end. Capacity must have
 * been made by seg_room(). */
static void seg_push(struct wsp__outq *q, struct wsp_frame *buf, size_t off,
                     size_t len) {
  struct wsp__oseg *s = &q->seg[slot(q, q->count)];
  s->buf = buf;
  s->off = off;
  s->len = len;
  buf->refs++;
  q->count++;
  q->bytes += len;
}

/* Add buf[off, off+len) at the end, extending the last segment when it
 * continues it. Capacity must have been made by seg_room(). */
static void seg_add(struct wsp__outq *q, struct wsp_frame *buf, size_t off,
                    size_t len) {
  struct wsp__oseg *l = last(q);
  if (l && l->buf == buf && l->off + l->len == off) {
    l->len += len;
    q->bytes += len;
  } else {
    seg_push(q, buf, off, len);
  }
}

uint8_t *wsp__outq_reserve(struct wsp__outq *q, const struct wsp_mem *mem,
                           size_t len) {
  struct wsp_frame *t = q->tail;
  struct wsp__oseg *l;
  uint8_t *p;
  init(q);
  l = last(q);
  /* A new segment is needed unless the bytes continue the last one. */
  if (!(t && t->cap - t->len >= len && l && l->buf == t &&
        l->off + l->len == t->len) &&
      seg_room(q, mem) != 0)
    return NULL;
  if (!t || t->cap - t->len < len) {
    size_t cap = len < BLOCK_MIN - sizeof(*t) ? BLOCK_MIN - sizeof(*t) : len;
    t = wsp__outq_buf_new(mem, cap);
    if (!t)
      return NULL;
    wsp__outq_buf_unref(q->tail); /* the queue's hold on the old block */
    q->tail = t;
    if (seg_room(q, mem) != 0) /* the count may have changed nothing */
      return NULL;
  }
  p = t->data + t->len;
  seg_add(q, t, t->len, len);
  t->len += len;
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

int wsp__outq_append_buf(struct wsp__outq *q, const struct wsp_mem *mem,
                         struct wsp_frame *buf) {
  if (buf->len == 0)
    return 0;
  if (seg_room(q, mem) != 0)
    return WSP_ERR_NOMEM;
  /* A span from offset 0 never continues a non-empty segment, so the last
   * one is not read: on fan-out that read is a cache miss per subscriber
   * (its segment array was last touched a whole publication ago). */
  seg_push(q, buf, 0, buf->len);
  return 0;
}

int wsp__outq_iov(const struct wsp__outq *q, struct iovec *iov, int iovcnt) {
  uint32_t i;
  int n = 0;
  for (i = 0; i < q->count && n < iovcnt; i++) {
    const struct wsp__oseg *s = &q->seg[slot(q, i)];
    iov[n].iov_base = (void *)(s->buf->data + s->off);
    iov[n].iov_len = s->len;
    n++;
  }
  return n;
}

int wsp__outq_grew(const struct wsp__outq *q) {
  return q->seg && q->seg != q->inl;
}

int wsp__outq_holds_memory(const struct wsp__outq *q) {
  return (q->seg && q->seg != q->inl) || q->tail;
}

void wsp__outq_trim(struct wsp__outq *q, const struct wsp_mem *mem) {
  if (q->count)
    return;
  if (q->seg && q->seg != q->inl)
    wsp__free(mem, q->seg);
  q->seg = NULL;
  q->cap = q->head = 0;
  wsp__outq_buf_unref(q->tail);
  q->tail = NULL;
}

size_t wsp__outq_consume(struct wsp__outq *q, size_t n) {
  size_t done = 0;
  while (q->count && done < n) {
    struct wsp__oseg *s = &q->seg[q->head];
    size_t take = s->len < n - done ? s->len : n - done;
    s->off += take;
    s->len -= take;
    done += take;
    if (s->len == 0) {
      wsp__outq_buf_unref(s->buf);
      q->head = slot(q, 1);
      q->count--;
    }
  }
  q->bytes -= done;
  if (q->count == 0) {
    q->head = 0;
    /* Only the queue holds its block now: refill it from the start. */
    if (q->tail && q->tail->refs == 1)
      q->tail->len = 0;
  }
  return done;
}

void wsp__outq_clear(struct wsp__outq *q, const struct wsp_mem *mem) {
  while (q->count) {
    wsp__outq_buf_unref(q->seg[q->head].buf);
    q->head = slot(q, 1);
    q->count--;
  }
  q->bytes = 0;
  wsp__outq_trim(q, mem);
}
