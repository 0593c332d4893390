/*
 * The event log's memory store, the default: per stream, a ring of
 * events (a power-of-two array of pointers, each event one allocation
 * with its data and info) and the latest snapshot.
 */
#include <string.h>

#include "evlog_private.h"

/* ---- Memory store ----------------------------------------------------- */

struct mev {
  uint64_t time;
  uint32_t len, ilen;
  uint8_t b[];
};

struct mstream {
  struct mstream *prev, *next; /* every stream, for close */
  struct mev **ring;           /* power-of-two capacity */
  size_t cap, head, n;
  uint64_t base;    /* offset of ring[head] */
  struct mev *snap; /* time: snapshot time; b: state */
  uint64_t snap_off;
  size_t snap_len;
};

struct mstore {
  struct wsp_evlog_store base;
  struct wsp_mem mem;
  struct mstream *streams;
};

static struct mev *mat(const struct mstream *m, uint64_t offset) {
  return m->ring[(m->head + (size_t)(offset - m->base)) & (m->cap - 1)];
}

static int mem_load(struct wsp_evlog_store *st, uint64_t now,
                    int (*found)(const struct wsp_evlog_stream_info *info,
                                 void *stream, void *ctx),
                    void *ctx) {
  WSP__UNUSED(st);
  WSP__UNUSED(now);
  WSP__UNUSED(found);
  WSP__UNUSED(ctx);
  return 0;
}

static int mem_create(struct wsp_evlog_store *st, const char *name, size_t len,
                      const char *epoch, uint64_t now, void **pstream) {
  struct mstore *ms = (struct mstore *)st;
  struct mstream *m = wsp__malloc(&ms->mem, sizeof(*m));
  WSP__UNUSED(name);
  WSP__UNUSED(len);
  WSP__UNUSED(epoch);
  WSP__UNUSED(now);
  if (!m)
    return WSP_ERR_NOMEM;
  memset(m, 0, sizeof(*m));
  m->base = 1;
  m->next = ms->streams;
  if (ms->streams)
    ms->streams->prev = m;
  ms->streams = m;
  *pstream = m;
  return 0;
}

static int mem_resize(struct mstore *ms, struct mstream *m, size_t cap) {
  struct mev **ring = wsp__malloc(&ms->mem, cap * sizeof(*ring));
  size_t i;
  if (!ring)
    return WSP_ERR_NOMEM;
  for (i = 0; i < m->n; i++)
    ring[i] = m->ring[(m->head + i) & (m->cap - 1)];
  wsp__free(&ms->mem, m->ring);
  m->ring = ring;
  m->cap = cap;
  m->head = 0;
  return 0;
}

static int mem_append(struct wsp_evlog_store *st, void *stream,
                      const struct wsp_evlog_event *e) {
  struct mstore *ms = (struct mstore *)st;
  struct mstream *m = stream;
  struct mev *x;
  if (m->n == m->cap && mem_resize(ms, m, m->cap ? m->cap * 2 : 8) != 0)
    return WSP_ERR_NOMEM;
  x = wsp__malloc(&ms->mem, sizeof(*x) + e->data.len + e->info.len);
  if (!x)
    return WSP_ERR_NOMEM;
  x->time = e->time;
  x->len = (uint32_t)e->data.len;
  x->ilen = (uint32_t)e->info.len;
  if (e->data.len)
    memcpy(x->b, e->data.ptr, e->data.len);
  if (e->info.len)
    memcpy(x->b + e->data.len, e->info.ptr, e->info.len);
  if (m->n == 0)
    m->base = e->offset;
  m->ring[(m->head + m->n) & (m->cap - 1)] = x;
  m->n++;
  return 0;
}

static int mem_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                    uint64_t to, int reverse,
                    int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                    void *ctx) {
  struct mstream *m = stream;
  uint64_t i, n = to - from + 1;
  WSP__UNUSED(st);
  if (from < m->base || to >= m->base + m->n)
    return WSP_ERR_NOT_FOUND;
  for (i = 0; i < n; i++) {
    uint64_t off = reverse ? to - i : from + i;
    const struct mev *x = mat(m, off);
    struct wsp_evlog_event e;
    e.offset = off;
    e.time = x->time;
    e.data.ptr = (const char *)x->b;
    e.data.len = x->len;
    e.info.ptr = (const char *)x->b + x->len;
    e.info.len = x->ilen;
    if (cb(&e, ctx) != 0)
      break;
  }
  return 0;
}

static int mem_head(struct wsp_evlog_store *st, void *stream, uint64_t offset,
                    uint64_t *time, uint64_t *size) {
  struct mstream *m = stream;
  const struct mev *x;
  WSP__UNUSED(st);
  if (offset < m->base || offset >= m->base + m->n)
    return WSP_ERR_NOT_FOUND;
  x = mat(m, offset);
  *time = x->time;
  *size = event_size(x->len, x->ilen);
  return 0;
}

static int mem_trim(struct wsp_evlog_store *st, void *stream, uint64_t first,
                    uint64_t now) {
  struct mstore *ms = (struct mstore *)st;
  struct mstream *m = stream;
  WSP__UNUSED(now);
  while (m->n && m->base < first) {
    wsp__free(&ms->mem, m->ring[m->head]);
    m->head = (m->head + 1) & (m->cap - 1);
    m->base++;
    m->n--;
  }
  if (!m->n)
    m->base = first;
  /* Give memory back when a stream shrinks a lot; failing is harmless. */
  if (m->cap > 8 && m->n < m->cap / 4)
    (void)mem_resize(ms, m, m->cap / 2);
  return 0;
}

static int mem_set_epoch(struct wsp_evlog_store *st, void *stream,
                         const char *epoch) {
  WSP__UNUSED(st);
  WSP__UNUSED(stream);
  WSP__UNUSED(epoch);
  return 0;
}

static void mem_clear(struct mstore *ms, struct mstream *m) {
  while (m->n) {
    wsp__free(&ms->mem, m->ring[m->head]);
    m->head = (m->head + 1) & (m->cap - 1);
    m->n--;
  }
  wsp__free(&ms->mem, m->ring);
  wsp__free(&ms->mem, m->snap);
  m->ring = NULL;
  m->snap = NULL;
  m->cap = m->head = 0;
}

static int mem_reset(struct wsp_evlog_store *st, void *stream,
                     const char *epoch, uint64_t now) {
  struct mstream *m = stream;
  WSP__UNUSED(epoch);
  WSP__UNUSED(now);
  mem_clear((struct mstore *)st, m);
  m->base = 1;
  return 0;
}

static int mem_remove(struct wsp_evlog_store *st, void *stream) {
  struct mstore *ms = (struct mstore *)st;
  struct mstream *m = stream;
  if (m->prev)
    m->prev->next = m->next;
  else
    ms->streams = m->next;
  if (m->next)
    m->next->prev = m->prev;
  mem_clear(ms, m);
  wsp__free(&ms->mem, m);
  return 0;
}

static int mem_snapshot_put(struct wsp_evlog_store *st, void *stream,
                            const struct wsp_evlog_snapshot *snap) {
  struct mstore *ms = (struct mstore *)st;
  struct mstream *m = stream;
  struct mev *x = wsp__malloc(&ms->mem, sizeof(*x) + snap->state.len);
  if (!x)
    return WSP_ERR_NOMEM;
  x->time = snap->time;
  if (snap->state.len)
    memcpy(x->b, snap->state.ptr, snap->state.len);
  wsp__free(&ms->mem, m->snap);
  m->snap = x;
  m->snap_off = snap->offset;
  m->snap_len = snap->state.len;
  return 0;
}

static int mem_snapshot_get(struct wsp_evlog_store *st, void *stream,
                            int (*cb)(const struct wsp_evlog_snapshot *snap,
                                      void *ctx),
                            void *ctx) {
  struct mstream *m = stream;
  struct wsp_evlog_snapshot snap;
  WSP__UNUSED(st);
  if (!m->snap)
    return WSP_ERR_NOT_FOUND;
  snap.offset = m->snap_off;
  snap.time = m->snap->time;
  snap.state.ptr = (const char *)m->snap->b;
  snap.state.len = m->snap_len;
  (void)cb(&snap, ctx);
  return 0;
}

static int mem_tick(struct wsp_evlog_store *st, uint64_t now) {
  WSP__UNUSED(st);
  WSP__UNUSED(now);
  return 0;
}

static uint64_t mem_next_deadline(const struct wsp_evlog_store *st) {
  WSP__UNUSED(st);
  return WSP_NO_DEADLINE;
}

static int mem_sync(struct wsp_evlog_store *st) {
  WSP__UNUSED(st);
  return 0;
}

static void mem_stats(const struct wsp_evlog_store *st,
                      struct wsp_evlog_stats *out) {
  WSP__UNUSED(st);
  WSP__UNUSED(out);
}

static void mem_close(struct wsp_evlog_store *st) {
  struct mstore *ms = (struct mstore *)st;
  struct wsp_mem mem = ms->mem;
  while (ms->streams)
    (void)mem_remove(st, ms->streams);
  wsp__free(&mem, ms);
}

static const struct wsp_evlog_store_ops mem_ops = {
    mem_load,
    mem_create,
    mem_append,
    mem_read,
    mem_head,
    mem_trim,
    mem_set_epoch,
    mem_reset,
    mem_remove,
    mem_snapshot_put,
    mem_snapshot_get,
    mem_tick,
    mem_next_deadline,
    mem_sync,
    mem_stats,
    mem_close,
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

int wsp__evlog_mem_store_new(struct wsp_evlog_store **pst,
                             const struct wsp_mem *mem) {
  struct mstore *ms = wsp__malloc(mem, sizeof(*ms));
  if (!ms)
    return WSP_ERR_NOMEM;
  ms->base.ops = &mem_ops;
  ms->mem = *mem;
  ms->streams = NULL;
  *pst = &ms->base;
  return 0;
}
