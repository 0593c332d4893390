/*
 * The event log (wsp_evlog): streams by name, offsets, epochs, retention,
 * reads, recovery and snapshots over a store, plus the memory store.
 *
 * The log owns the authoritative position of every stream (first, top,
 * bytes, epoch) and decides retention; a store only keeps events and
 * answers for them. Streams are found through a chained hash table keyed
 * by a seeded hash of the name, and a binary min-heap orders the streams
 * that have a time limit (the oldest event's age, or meta_ttl once empty)
 * so that tick and next_deadline never walk every stream.
 */
#include <string.h>
#include <sys/random.h>

#include "internal.h"
#include "wsp/evlog.h"

#define NO_POS SIZE_MAX
/* Retry delay when a store could not tell an event's time. */
#define RETRY_MS 1000

struct stream {
  struct stream *hnext;
  uint64_t hash;
  char *name;
  size_t len;
  void *sh; /* the store's handle */
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t first, top, bytes;
  uint64_t last_time;   /* newest event's time (times never go back) */
  uint64_t head_time;   /* time of event `first`, when head_known */
  uint64_t empty_since; /* when the last event went, for meta_ttl */
  int head_known;
  struct wsp_evlog_retention *own; /* NULL: the log's default */
  size_t hpos;                     /* index in the heap, or NO_POS */
  uint64_t deadline;
};

/* An event copied for wsp_evlog_recover(): spans are arena offsets. */
struct cev {
  uint64_t offset, time;
  size_t data, len, info, ilen;
};

struct wsp_evlog {
  struct wsp_mem mem;
  struct wsp_evlog_store *st;
  struct wsp_evlog_retention def;
  void (*retention_for)(const char *stream, size_t len,
                        struct wsp_evlog_retention *r, void *user_data);
  void *user_data;
  struct stream **tab;
  size_t tcap, count;
  uint64_t seed;
  struct stream **heap;
  size_t nheap, heap_cap;
  uint64_t now; /* the latest time seen */
  unsigned depth;
  int free_pending;
  struct wsp_evlog_stats stats;
  /* wsp_evlog_recover() copies events here before delivering any */
  uint8_t *arena;
  size_t arena_len, arena_cap;
  struct cev *cevs;
  size_t ncev, cev_cap;
};

static void evlog_destroy(struct wsp_evlog *ev);

/* ---- Helpers ---------------------------------------------------------- */

static uint64_t hash_name(uint64_t seed, const char *p, size_t n) {
  uint64_t h = seed ^ 14695981039346656037ull;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
  h ^= h >> 31;
  h *= 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

static int new_epoch(char out[WSP_EVLOG_EPOCH_MAX + 1]) {
  static const char alpha[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  uint8_t rnd[32];
  size_t n = 0, i;
  int round;
  for (round = 0; round < 8 && n < WSP_EVLOG_EPOCH_LEN; round++) {
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
      return WSP_ERR_RANDOM;
    /* 248 = 4 * 62: taking only bytes below it keeps every letter
     * equally likely. */
    for (i = 0; i < sizeof(rnd) && n < WSP_EVLOG_EPOCH_LEN; i++)
      if (rnd[i] < 248)
        out[n++] = alpha[rnd[i] % 62];
  }
  if (n < WSP_EVLOG_EPOCH_LEN)
    return WSP_ERR_RANDOM;
  out[n] = '\0';
  return 0;
}

static int epoch_matches(const struct stream *s, const char *epoch) {
  return !epoch || !*epoch || strcmp(epoch, s->epoch) == 0;
}

static const struct wsp_evlog_retention *ret_of(const struct wsp_evlog *ev,
                                                const struct stream *s) {
  return s->own ? s->own : &ev->def;
}

static uint64_t event_size(size_t len, size_t ilen) {
  return (uint64_t)len + ilen + WSP_EVLOG_EVENT_OVERHEAD;
}

static void fill_pos(const struct stream *s, struct wsp_evlog_position *pos) {
  if (!pos)
    return;
  pos->offset = s->top;
  pos->first = s->first;
  memcpy(pos->epoch, s->epoch, sizeof(pos->epoch));
}

static int valid_name(const char *name, size_t len) {
  return name && len > 0 && len <= WSP_EVLOG_NAME_MAX;
}

/* Every public entry that may run callbacks or change state goes through
 * enter()/leave(): inside a callback the log refuses, and a free asked
 * for from a callback happens when the outermost call returns. */
static int busy(const struct wsp_evlog *ev) {
  return ev->depth > 0 || ev->free_pending;
}

static long leave(struct wsp_evlog *ev, long rc) {
  if (ev->depth == 0 && ev->free_pending)
    evlog_destroy(ev);
  return rc;
}

/* ---- Heap of deadlines ------------------------------------------------ */

static void heap_swap(struct wsp_evlog *ev, size_t a, size_t b) {
  struct stream *t = ev->heap[a];
  ev->heap[a] = ev->heap[b];
  ev->heap[b] = t;
  ev->heap[a]->hpos = a;
  ev->heap[b]->hpos = b;
}

static void heap_up(struct wsp_evlog *ev, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (ev->heap[p]->deadline <= ev->heap[i]->deadline)
      break;
    heap_swap(ev, i, p);
    i = p;
  }
}

static void heap_down(struct wsp_evlog *ev, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < ev->nheap && ev->heap[l]->deadline < ev->heap[m]->deadline)
      m = l;
    if (r < ev->nheap && ev->heap[r]->deadline < ev->heap[m]->deadline)
      m = r;
    if (m == i)
      return;
    heap_swap(ev, i, m);
    i = m;
  }
}

static void heap_remove(struct wsp_evlog *ev, struct stream *s) {
  size_t i = s->hpos;
  if (i == NO_POS)
    return;
  s->hpos = NO_POS;
  ev->nheap--;
  if (i == ev->nheap)
    return;
  ev->heap[i] = ev->heap[ev->nheap];
  ev->heap[i]->hpos = i;
  heap_up(ev, i);
  heap_down(ev, ev->heap[i]->hpos);
}

/* The heap array always has room for every stream (it grows with the
 * hash table), so setting a deadline cannot fail. */
static void heap_set(struct wsp_evlog *ev, struct stream *s, uint64_t when) {
  if (when == WSP_NO_DEADLINE) {
    heap_remove(ev, s);
    return;
  }
  s->deadline = when;
  if (s->hpos == NO_POS) {
    s->hpos = ev->nheap;
    ev->heap[ev->nheap++] = s;
  }
  heap_up(ev, s->hpos);
  heap_down(ev, s->hpos);
}

static void update_deadline(struct wsp_evlog *ev, struct stream *s) {
  const struct wsp_evlog_retention *r = ret_of(ev, s);
  uint64_t when = WSP_NO_DEADLINE;
  if (s->first <= s->top) {
    if (r->max_age) {
      if (s->head_known)
        when = s->head_time > UINT64_MAX - r->max_age
                   ? WSP_NO_DEADLINE
                   : s->head_time + r->max_age;
      else
        when = ev->now + RETRY_MS;
    }
  } else if (r->meta_ttl) {
    when = s->empty_since > UINT64_MAX - r->meta_ttl
               ? WSP_NO_DEADLINE
               : s->empty_since + r->meta_ttl;
  }
  heap_set(ev, s, when);
}

/* ---- Streams ---------------------------------------------------------- */

static struct stream *find(const struct wsp_evlog *ev, const char *name,
                           size_t len) {
  uint64_t h;
  struct stream *s;
  if (!ev->tcap)
    return NULL;
  h = hash_name(ev->seed, name, len);
  for (s = ev->tab[h & (ev->tcap - 1)]; s; s = s->hnext)
    if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0)
      return s;
  return NULL;
}

/* Make room for one more stream: the table and the heap. */
static int reserve(struct wsp_evlog *ev) {
  size_t cap, i;
  struct stream **tab, **heap;
  if (ev->count < ev->tcap)
    return 0;
  cap = ev->tcap ? ev->tcap * 2 : 16;
  heap = wsp__realloc(&ev->mem, ev->heap, cap * sizeof(*heap));
  if (!heap)
    return WSP_ERR_NOMEM;
  ev->heap = heap;
  ev->heap_cap = cap;
  tab = wsp__malloc(&ev->mem, cap * sizeof(*tab));
  if (!tab)
    return WSP_ERR_NOMEM;
  memset(tab, 0, cap * sizeof(*tab));
  for (i = 0; i < ev->tcap; i++) {
    struct stream *s = ev->tab[i], *next;
    for (; s; s = next) {
      next = s->hnext;
      s->hnext = tab[s->hash & (cap - 1)];
      tab[s->hash & (cap - 1)] = s;
    }
  }
  wsp__free(&ev->mem, ev->tab);
  ev->tab = tab;
  ev->tcap = cap;
  return 0;
}

/* A stream object, not yet linked; its retention comes from the hook. */
static struct stream *stream_alloc(struct wsp_evlog *ev, const char *name,
                                   size_t len) {
  struct stream *s = wsp__malloc(&ev->mem, sizeof(*s));
  if (!s)
    return NULL;
  memset(s, 0, sizeof(*s));
  s->name = wsp__strndup(&ev->mem, name, len);
  if (!s->name) {
    wsp__free(&ev->mem, s);
    return NULL;
  }
  s->len = len;
  s->hash = hash_name(ev->seed, name, len);
  s->hpos = NO_POS;
  if (ev->retention_for) {
    struct wsp_evlog_retention r = ev->def;
    ev->retention_for(name, len, &r, ev->user_data);
    if (memcmp(&r, &ev->def, sizeof(r)) != 0) {
      s->own = wsp__malloc(&ev->mem, sizeof(*s->own));
      if (!s->own) {
        wsp__free(&ev->mem, s->name);
        wsp__free(&ev->mem, s);
        return NULL;
      }
      *s->own = r;
    }
  }
  return s;
}

static void stream_link(struct wsp_evlog *ev, struct stream *s) {
  size_t k = s->hash & (ev->tcap - 1);
  s->hnext = ev->tab[k];
  ev->tab[k] = s;
  ev->count++;
}

static void stream_release(struct wsp_evlog *ev, struct stream *s) {
  wsp__free(&ev->mem, s->own);
  wsp__free(&ev->mem, s->name);
  wsp__free(&ev->mem, s);
}

/* Unlink and free s; the store forgets it too. */
static int stream_drop(struct wsp_evlog *ev, struct stream *s) {
  struct stream **pp = &ev->tab[s->hash & (ev->tcap - 1)];
  int rc;
  while (*pp != s)
    pp = &(*pp)->hnext;
  *pp = s->hnext;
  ev->count--;
  heap_remove(ev, s);
  rc = ev->st->ops->remove(ev->st, s->sh);
  ev->stats.streams_dropped++;
  stream_release(ev, s);
  return rc;
}

static int stream_get(struct wsp_evlog *ev, const char *name, size_t len,
                      uint64_t now, struct stream **out) {
  struct stream *s = find(ev, name, len);
  int rc;
  if (s) {
    *out = s;
    return 0;
  }
  if ((rc = reserve(ev)) != 0)
    return rc;
  s = stream_alloc(ev, name, len);
  if (!s)
    return WSP_ERR_NOMEM;
  if ((rc = new_epoch(s->epoch)) != 0 ||
      (rc = ev->st->ops->create(ev->st, name, len, s->epoch, now, &s->sh)) !=
          0) {
    stream_release(ev, s);
    return rc;
  }
  s->first = 1;
  s->last_time = now;
  s->empty_since = now;
  stream_link(ev, s);
  update_deadline(ev, s);
  *out = s;
  return 0;
}

/* ---- Retention -------------------------------------------------------- */

static int apply_retention(struct wsp_evlog *ev, struct stream *s,
                           uint64_t now) {
  const struct wsp_evlog_retention *r = ret_of(ev, s);
  uint64_t first = s->first, bytes = s->bytes, t = 0, sz = 0, gone = now;
  int rc = 0, known = 0;
  while (first <= s->top) {
    uint64_t count = s->top - first + 1;
    int over = (r->max_events && count > r->max_events) ||
               (r->max_bytes && bytes > r->max_bytes);
    if (!over) {
      if (!r->max_age)
        break;
      if (first == s->first && s->head_known) {
        t = s->head_time;
        known = 1;
        if (now < r->max_age || t > now - r->max_age)
          break;
      }
    }
    rc = ev->st->ops->head(ev->st, s->sh, first, &t, &sz);
    if (rc != 0) {
      known = 0;
      break;
    }
    known = 1;
    if (!over && (now < r->max_age || t > now - r->max_age))
      break;
    /* meta_ttl counts from when the last event expired. */
    gone = over ? now : t + r->max_age;
    first++;
    bytes = bytes > sz ? bytes - sz : 0;
    known = 0;
  }
  if (first != s->first) {
    /* A store that fails to free space still never returns these events
     * again; the failure only shows in its counters. */
    (void)ev->st->ops->trim(ev->st, s->sh, first, now);
    ev->stats.expired += first - s->first;
    s->first = first;
    s->bytes = first > s->top ? 0 : bytes;
    if (first > s->top)
      s->empty_since = gone;
  }
  s->head_known = known && first <= s->top;
  if (s->head_known)
    s->head_time = t;
  update_deadline(ev, s);
  return rc;
}

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

static int mem_store_new(struct wsp_evlog_store **pst,
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

/* ---- Life cycle ------------------------------------------------------- */

void wsp_evlog_store_free(struct wsp_evlog_store *store) {
  if (store)
    store->ops->close(store);
}

static int valid_epoch(const char *e) {
  size_t n;
  if (!e)
    return 0;
  n = strnlen(e, WSP_EVLOG_EPOCH_MAX + 1);
  return n > 0 && n <= WSP_EVLOG_EPOCH_MAX;
}

static int on_found(const struct wsp_evlog_stream_info *info, void *sh,
                    void *ctx) {
  struct wsp_evlog *ev = ctx;
  struct stream *s;
  int rc;
  if (!valid_name(info->name.ptr, info->name.len) ||
      !valid_epoch(info->epoch) || info->first > info->top + 1 ||
      info->first == 0 || find(ev, info->name.ptr, info->name.len))
    return WSP_ERR_INVAL; /* the store still owns sh and frees it */
  if ((rc = reserve(ev)) != 0)
    return rc;
  if (!(s = stream_alloc(ev, info->name.ptr, info->name.len)))
    return WSP_ERR_NOMEM;
  s->sh = sh;
  strcpy(s->epoch, info->epoch);
  s->first = info->first;
  s->top = info->top;
  s->bytes = info->first > info->top ? 0 : info->bytes;
  s->last_time = info->last_time;
  s->empty_since = info->last_time;
  stream_link(ev, s);
  if (info->lost) {
    /* Events acknowledged before may be gone: a reader must never match
     * the old epoch against this history. */
    if ((rc = new_epoch(s->epoch)) != 0 ||
        (rc = ev->st->ops->set_epoch(ev->st, sh, s->epoch)) != 0)
      return rc;
    ev->stats.new_epochs++;
  }
  return 0;
}

static void evlog_destroy(struct wsp_evlog *ev) {
  struct wsp_mem mem = ev->mem;
  size_t i;
  for (i = 0; i < ev->tcap; i++) {
    struct stream *s = ev->tab[i], *next;
    for (; s; s = next) {
      next = s->hnext;
      stream_release(ev, s);
    }
  }
  /* The store frees its own stream handles and makes data durable. */
  if (ev->st)
    ev->st->ops->close(ev->st);
  wsp__free(&mem, ev->tab);
  wsp__free(&mem, ev->heap);
  wsp__free(&mem, ev->arena);
  wsp__free(&mem, ev->cevs);
  wsp__free(&mem, ev);
}

int wsp_evlog_new(struct wsp_evlog **pev, const struct wsp_evlog_options *opts,
                  uint64_t now) {
  struct wsp_evlog_store *st = opts ? opts->store : NULL;
  struct wsp_mem mem;
  struct wsp_evlog *ev;
  size_t i;
  int rc;
  if (pev)
    *pev = NULL;
  if (!pev) {
    wsp_evlog_store_free(st);
    return WSP_ERR_INVAL;
  }
  wsp__mem_init(&mem, opts ? opts->mem : NULL);
  ev = wsp__malloc(&mem, sizeof(*ev));
  if (!ev) {
    wsp_evlog_store_free(st);
    return WSP_ERR_NOMEM;
  }
  memset(ev, 0, sizeof(*ev));
  ev->mem = mem;
  ev->now = now;
  if (opts) {
    ev->def = opts->retention;
    ev->retention_for = opts->retention_for;
    ev->user_data = opts->user_data;
  }
  if (getrandom(&ev->seed, sizeof(ev->seed), 0) != (ssize_t)sizeof(ev->seed)) {
    wsp_evlog_store_free(st);
    wsp__free(&mem, ev);
    return WSP_ERR_RANDOM;
  }
  if (!st && (rc = mem_store_new(&st, &mem)) != 0) {
    wsp__free(&mem, ev);
    return rc;
  }
  ev->st = st;
  rc = st->ops->load(st, now, on_found, ev);
  for (i = 0; rc == 0 && i < ev->tcap; i++) {
    struct stream *s = ev->tab[i];
    for (; s && rc == 0; s = s->hnext)
      rc = apply_retention(ev, s, now);
  }
  if (rc != 0) {
    evlog_destroy(ev);
    return rc;
  }
  *pev = ev;
  return 0;
}

void wsp_evlog_free(struct wsp_evlog *ev) {
  if (!ev)
    return;
  if (ev->depth > 0) {
    ev->free_pending = 1;
    return;
  }
  evlog_destroy(ev);
}

int wsp_evlog_set_retention(struct wsp_evlog *ev, const char *stream,
                            size_t len, const struct wsp_evlog_retention *r) {
  struct stream *s;
  size_t i;
  int rc = 0;
  if (!ev)
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  if (!stream) {
    if (!r)
      return WSP_ERR_INVAL;
    ev->def = *r;
    for (i = 0; i < ev->tcap; i++)
      for (s = ev->tab[i]; s; s = s->hnext)
        if (!s->own) {
          int e = apply_retention(ev, s, ev->now);
          if (e && !rc)
            rc = e;
        }
    return rc;
  }
  if (!valid_name(stream, len))
    return WSP_ERR_INVAL;
  if (!(s = find(ev, stream, len)))
    return WSP_ERR_NOT_FOUND;
  if (!r) {
    wsp__free(&ev->mem, s->own);
    s->own = NULL;
  } else {
    if (!s->own && !(s->own = wsp__malloc(&ev->mem, sizeof(*s->own))))
      return WSP_ERR_NOMEM;
    *s->own = *r;
  }
  return apply_retention(ev, s, ev->now);
}

int wsp_evlog_get_retention(const struct wsp_evlog *ev, const char *stream,
                            size_t len, struct wsp_evlog_retention *out) {
  const struct stream *s;
  if (!ev || !out)
    return WSP_ERR_INVAL;
  if (!stream) {
    *out = ev->def;
    return 0;
  }
  if (!valid_name(stream, len))
    return WSP_ERR_INVAL;
  if (!(s = find(ev, stream, len)))
    return WSP_ERR_NOT_FOUND;
  *out = *ret_of(ev, s);
  return 0;
}

/* ---- Writing ---------------------------------------------------------- */

static void see_time(struct wsp_evlog *ev, uint64_t now) {
  if (now > ev->now)
    ev->now = now;
}

int wsp_evlog_append(struct wsp_evlog *ev, const char *stream, size_t len,
                     uint64_t now, const void *data, size_t data_len,
                     const void *info, size_t info_len, uint64_t *offset) {
  struct wsp_evlog_event e;
  struct stream *s;
  int was_empty, rc;
  if (!ev || !valid_name(stream, len) || (!data && data_len) ||
      (!info && info_len))
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  if (data_len > WSP_EVLOG_EVENT_MAX ||
      info_len > WSP_EVLOG_EVENT_MAX - data_len)
    return WSP_ERR_TOO_BIG;
  see_time(ev, now);
  if ((rc = stream_get(ev, stream, len, now, &s)) != 0)
    return rc;
  if (s->top == UINT64_MAX - 1)
    return WSP_ERR_LIMIT;
  e.offset = s->top + 1;
  e.time = now > s->last_time ? now : s->last_time;
  e.data.ptr = data_len ? data : "";
  e.data.len = data_len;
  e.info.ptr = info_len ? info : "";
  e.info.len = info_len;
  if ((rc = ev->st->ops->append(ev->st, s->sh, &e)) != 0) {
    ev->stats.append_errors++;
    return rc;
  }
  was_empty = s->first > s->top;
  s->top = e.offset;
  s->bytes += event_size(data_len, info_len);
  s->last_time = e.time;
  if (was_empty) {
    s->first = e.offset;
    s->head_time = e.time;
    s->head_known = 1;
  }
  ev->stats.appended++;
  if (offset)
    *offset = e.offset;
  /* The event is stored: a failure to expire older ones is for later. */
  (void)apply_retention(ev, s, now);
  return 0;
}

static int lookup(struct wsp_evlog *ev, const char *stream, size_t len,
                  struct stream **out) {
  if (!ev || !valid_name(stream, len))
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  *out = find(ev, stream, len);
  return *out ? 0 : WSP_ERR_NOT_FOUND;
}

int wsp_evlog_clear(struct wsp_evlog *ev, const char *stream, size_t len,
                    uint64_t now) {
  struct stream *s;
  int rc = lookup(ev, stream, len, &s);
  if (rc != 0)
    return rc;
  see_time(ev, now);
  if (s->first <= s->top) {
    (void)ev->st->ops->trim(ev->st, s->sh, s->top + 1, now);
    ev->stats.expired += s->top - s->first + 1;
    s->first = s->top + 1;
    s->bytes = 0;
    s->head_known = 0;
    s->empty_since = now;
  }
  update_deadline(ev, s);
  return 0;
}

int wsp_evlog_reset(struct wsp_evlog *ev, const char *stream, size_t len,
                    uint64_t now) {
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  struct stream *s;
  int rc = lookup(ev, stream, len, &s);
  if (rc != 0)
    return rc;
  see_time(ev, now);
  if ((rc = new_epoch(epoch)) != 0 ||
      (rc = ev->st->ops->reset(ev->st, s->sh, epoch, now)) != 0)
    return rc;
  ev->stats.expired += s->first <= s->top ? s->top - s->first + 1 : 0;
  ev->stats.new_epochs++;
  memcpy(s->epoch, epoch, sizeof(epoch));
  s->first = 1;
  s->top = 0;
  s->bytes = 0;
  s->head_known = 0;
  s->last_time = now;
  s->empty_since = now;
  update_deadline(ev, s);
  return 0;
}

int wsp_evlog_remove(struct wsp_evlog *ev, const char *stream, size_t len) {
  struct stream *s;
  int rc = lookup(ev, stream, len, &s);
  if (rc != 0)
    return rc;
  return stream_drop(ev, s);
}

/* ---- Reading ---------------------------------------------------------- */

static int begin_read(struct wsp_evlog *ev, const char *stream, size_t len,
                      struct stream **out) {
  if (!ev || !valid_name(stream, len))
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  return stream_get(ev, stream, len, ev->now, out);
}

int wsp_evlog_position(struct wsp_evlog *ev, const char *stream, size_t len,
                       struct wsp_evlog_position *pos) {
  struct stream *s;
  int rc;
  if (!pos)
    return WSP_ERR_INVAL;
  if ((rc = begin_read(ev, stream, len, &s)) != 0)
    return rc;
  fill_pos(s, pos);
  return 0;
}

struct relay {
  struct wsp_evlog *ev;
  int (*cb)(const struct wsp_evlog_event *e, void *user_data);
  void *user_data;
  long count;
  uint64_t next; /* the offset expected next */
  int step;      /* +1 forwards, -1 backwards */
  int out_of_order;
  int stopped;
};

static int relay_cb(const struct wsp_evlog_event *e, void *ctx) {
  struct relay *r = ctx;
  int stop;
  if (e->offset != r->next) {
    r->out_of_order = 1;
    return 1;
  }
  r->next += (uint64_t)(int64_t)r->step;
  r->count++;
  r->ev->depth++;
  stop = r->cb(e, r->user_data);
  r->ev->depth--;
  r->stopped = stop || r->ev->free_pending;
  return r->stopped;
}

/* 0, or why a store's read did not deliver what it was asked for. */
static int relay_check(const struct relay *r, uint64_t from, uint64_t to) {
  if (r->out_of_order || (!r->stopped && (uint64_t)r->count != to - from + 1))
    return WSP_ERR_CORRUPT;
  return 0;
}

/* Clamp [from, to] to what stream s keeps; 0 when empty. */
static int read_range(const struct stream *s, uint64_t since, size_t limit,
                      int reverse, uint64_t *from, uint64_t *to) {
  uint64_t lo, hi;
  if (limit == 0 || s->first > s->top)
    return 0;
  if (!reverse) {
    lo = since + 1 > s->first ? since + 1 : s->first;
    if (since >= s->top)
      return 0;
    hi = s->top;
    if ((uint64_t)limit - 1 < hi - lo)
      hi = lo + (uint64_t)limit - 1;
  } else {
    hi = since == 0 || since > s->top ? s->top : since - 1;
    if (hi < s->first)
      return 0;
    lo = s->first;
    if ((uint64_t)limit - 1 < hi - lo)
      lo = hi - (uint64_t)limit + 1;
  }
  *from = lo;
  *to = hi;
  return 1;
}

long wsp_evlog_read(struct wsp_evlog *ev, const char *stream, size_t len,
                    const char *epoch, uint64_t since, size_t limit,
                    unsigned flags,
                    int (*cb)(const struct wsp_evlog_event *e, void *user_data),
                    void *user_data, struct wsp_evlog_position *pos) {
  struct relay r;
  struct stream *s;
  uint64_t from, to;
  int reverse = (flags & WSP_EVLOG_REVERSE) != 0, rc;
  if ((!cb && limit) || (flags & ~WSP_EVLOG_REVERSE))
    return WSP_ERR_INVAL;
  if ((rc = begin_read(ev, stream, len, &s)) != 0)
    return rc;
  fill_pos(s, pos);
  if (!epoch_matches(s, epoch))
    return WSP_ERR_EPOCH;
  if (!read_range(s, since, limit, reverse, &from, &to))
    return 0;
  memset(&r, 0, sizeof(r));
  r.ev = ev;
  r.cb = cb;
  r.user_data = user_data;
  r.next = reverse ? to : from;
  r.step = reverse ? -1 : 1;
  rc = ev->st->ops->read(ev->st, s->sh, from, to, reverse, relay_cb, &r);
  if (rc == 0)
    rc = relay_check(&r, from, to);
  return leave(ev, rc != 0 ? rc : r.count);
}

/* ---- Recovery --------------------------------------------------------- */

static int arena_put(struct wsp_evlog *ev, const struct wsp_str *v,
                     size_t *at) {
  if (!ev->arena || ev->arena_cap - ev->arena_len < v->len) {
    size_t cap = ev->arena_cap ? ev->arena_cap : 4096;
    uint8_t *p;
    while (cap - ev->arena_len < v->len) {
      if (cap > SIZE_MAX / 2)
        return WSP_ERR_NOMEM;
      cap *= 2;
    }
    if (!(p = wsp__realloc(&ev->mem, ev->arena, cap)))
      return WSP_ERR_NOMEM;
    ev->arena = p;
    ev->arena_cap = cap;
  }
  *at = ev->arena_len;
  if (v->len)
    memcpy(ev->arena + ev->arena_len, v->ptr, v->len);
  ev->arena_len += v->len;
  return 0;
}

struct collect {
  struct wsp_evlog *ev;
  uint64_t next;
  int rc;
};

static int collect_cb(const struct wsp_evlog_event *e, void *ctx) {
  struct collect *c = ctx;
  struct wsp_evlog *ev = c->ev;
  struct cev *x;
  if (e->offset != c->next) {
    c->rc = WSP_ERR_CORRUPT;
    return 1;
  }
  if (ev->ncev == ev->cev_cap) {
    size_t cap = ev->cev_cap ? ev->cev_cap * 2 : 64;
    struct cev *p = wsp__realloc(&ev->mem, ev->cevs, cap * sizeof(*p));
    if (!p) {
      c->rc = WSP_ERR_NOMEM;
      return 1;
    }
    ev->cevs = p;
    ev->cev_cap = cap;
  }
  x = &ev->cevs[ev->ncev];
  if ((c->rc = arena_put(ev, &e->data, &x->data)) != 0 ||
      (c->rc = arena_put(ev, &e->info, &x->info)) != 0)
    return 1;
  x->offset = e->offset;
  x->time = e->time;
  x->len = e->data.len;
  x->ilen = e->info.len;
  ev->ncev++;
  c->next++;
  return 0;
}

/* Keep a modest buffer between recoveries, give a big one back. */
static void arena_reset(struct wsp_evlog *ev) {
  ev->arena_len = 0;
  ev->ncev = 0;
  if (ev->arena_cap > ((size_t)1 << 20)) {
    wsp__free(&ev->mem, ev->arena);
    ev->arena = NULL;
    ev->arena_cap = 0;
  }
  if (ev->cev_cap > 4096) {
    wsp__free(&ev->mem, ev->cevs);
    ev->cevs = NULL;
    ev->cev_cap = 0;
  }
}

int wsp_evlog_recover(struct wsp_evlog *ev, const char *stream, size_t len,
                      uint64_t since, const char *epoch, size_t max,
                      int (*cb)(const struct wsp_evlog_event *e,
                                void *user_data),
                      void *user_data, struct wsp_evlog_recovery *out) {
  struct collect c;
  struct stream *s;
  uint64_t need;
  size_t i;
  int rc;
  if (!out || !cb)
    return WSP_ERR_INVAL;
  if ((rc = begin_read(ev, stream, len, &s)) != 0)
    return rc;
  memset(out, 0, sizeof(*out));
  fill_pos(s, &out->pos);
  out->epoch_ok = epoch_matches(s, epoch);
  if (!out->epoch_ok || since > s->top)
    return 0;
  if (since == s->top) {
    out->recovered = 1;
    return 0;
  }
  need = s->top - since;
  if (since + 1 < s->first || need > max)
    return 0;
  /* Copy first: a store that fails half way must not leave the reader
   * with part of the missed events. */
  c.ev = ev;
  c.next = since + 1;
  c.rc = 0;
  arena_reset(ev);
  rc = ev->st->ops->read(ev->st, s->sh, since + 1, s->top, 0, collect_cb, &c);
  if (rc == 0)
    rc = c.rc;
  if (rc == 0 && ev->ncev != need)
    rc = WSP_ERR_CORRUPT;
  if (rc != 0) {
    arena_reset(ev);
    return rc;
  }
  out->recovered = 1;
  ev->depth++;
  for (i = 0; i < ev->ncev && !ev->free_pending; i++) {
    const struct cev *x = &ev->cevs[i];
    struct wsp_evlog_event e;
    e.offset = x->offset;
    e.time = x->time;
    e.data.ptr = (const char *)ev->arena + x->data;
    e.data.len = x->len;
    e.info.ptr = (const char *)ev->arena + x->info;
    e.info.len = x->ilen;
    out->count++;
    if (cb(&e, user_data) != 0)
      break;
  }
  ev->depth--;
  if (!ev->free_pending)
    arena_reset(ev);
  return (int)leave(ev, 0);
}

/* ---- Snapshots -------------------------------------------------------- */

int wsp_evlog_snapshot_put(struct wsp_evlog *ev, const char *stream, size_t len,
                           const char *epoch, uint64_t offset, uint64_t now,
                           const void *state, size_t state_len) {
  struct wsp_evlog_snapshot snap;
  struct stream *s;
  int rc;
  if (!state && state_len)
    return WSP_ERR_INVAL;
  if (state_len > WSP_EVLOG_SNAPSHOT_MAX)
    return WSP_ERR_TOO_BIG;
  if (ev && !busy(ev))
    see_time(ev, now);
  if ((rc = begin_read(ev, stream, len, &s)) != 0)
    return rc;
  if (!epoch_matches(s, epoch))
    return WSP_ERR_EPOCH;
  if (offset > s->top)
    return WSP_ERR_INVAL;
  snap.offset = offset;
  snap.time = now;
  snap.state.ptr = state_len ? state : "";
  snap.state.len = state_len;
  return ev->st->ops->snapshot_put(ev->st, s->sh, &snap);
}

struct snap_relay {
  struct wsp_evlog *ev;
  const struct stream *s;
  int (*on_snapshot)(const struct wsp_evlog_snapshot *snap, void *user_data);
  void *user_data;
  uint64_t offset;
  int rc, stopped, seen;
};

static int snap_usable(const struct stream *s, uint64_t offset) {
  return offset >= s->top || offset + 1 >= s->first;
}

static int snap_cb(const struct wsp_evlog_snapshot *snap, void *ctx) {
  struct snap_relay *r = ctx;
  if (snap->offset > r->s->top)
    return 0; /* belongs to a history that is gone: as if none */
  r->seen = 1;
  r->offset = snap->offset;
  if (!snap_usable(r->s, snap->offset)) {
    r->rc = WSP_ERR_EXPIRED;
    return 0;
  }
  r->ev->depth++;
  r->stopped = r->on_snapshot(snap, r->user_data) != 0;
  r->ev->depth--;
  return 0;
}

long wsp_evlog_snapshot_get(
    struct wsp_evlog *ev, const char *stream, size_t len,
    int (*on_snapshot)(const struct wsp_evlog_snapshot *snap, void *user_data),
    int (*cb)(const struct wsp_evlog_event *e, void *user_data),
    void *user_data, struct wsp_evlog_position *pos) {
  struct snap_relay sr;
  struct relay r;
  struct stream *s;
  int rc;
  if (!on_snapshot || !cb)
    return WSP_ERR_INVAL;
  if ((rc = begin_read(ev, stream, len, &s)) != 0)
    return rc;
  fill_pos(s, pos);
  memset(&sr, 0, sizeof(sr));
  sr.ev = ev;
  sr.s = s;
  sr.on_snapshot = on_snapshot;
  sr.user_data = user_data;
  rc = ev->st->ops->snapshot_get(ev->st, s->sh, snap_cb, &sr);
  if (rc != 0 && rc != WSP_ERR_NOT_FOUND)
    return leave(ev, rc);
  if (sr.rc != 0)
    return leave(ev, sr.rc);
  if (!sr.seen) {
    struct wsp_evlog_snapshot none;
    if (!snap_usable(s, 0))
      return leave(ev, WSP_ERR_EXPIRED);
    memset(&none, 0, sizeof(none));
    none.state.ptr = "";
    ev->depth++;
    sr.stopped = on_snapshot(&none, user_data) != 0;
    ev->depth--;
  }
  if (sr.stopped || ev->free_pending || sr.offset >= s->top)
    return leave(ev, 0);
  memset(&r, 0, sizeof(r));
  r.ev = ev;
  r.cb = cb;
  r.user_data = user_data;
  r.next = sr.offset + 1;
  r.step = 1;
  rc = ev->st->ops->read(ev->st, s->sh, sr.offset + 1, s->top, 0, relay_cb, &r);
  if (rc == 0)
    rc = relay_check(&r, sr.offset + 1, s->top);
  return leave(ev, rc != 0 ? rc : r.count);
}

/* ---- Time and durability ---------------------------------------------- */

int wsp_evlog_tick(struct wsp_evlog *ev, uint64_t now) {
  int rc = 0, e;
  if (!ev)
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  see_time(ev, now);
  while (ev->nheap && ev->heap[0]->deadline <= now) {
    struct stream *s = ev->heap[0];
    if (s->first > s->top) {
      e = stream_drop(ev, s); /* meta_ttl passed */
    } else {
      e = apply_retention(ev, s, now);
      /* A store that cannot answer is retried later, not in a loop. */
      if (s->first <= s->top && s->hpos != NO_POS && s->deadline <= now)
        heap_set(ev, s, now + RETRY_MS);
    }
    if (e && !rc)
      rc = e;
  }
  e = ev->st->ops->tick(ev->st, now);
  return rc ? rc : e;
}

uint64_t wsp_evlog_next_deadline(const struct wsp_evlog *ev) {
  uint64_t a, b;
  if (!ev)
    return WSP_NO_DEADLINE;
  a = ev->nheap ? ev->heap[0]->deadline : WSP_NO_DEADLINE;
  b = ev->st->ops->next_deadline(ev->st);
  return a < b ? a : b;
}

int wsp_evlog_sync(struct wsp_evlog *ev) {
  if (!ev)
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  return ev->st->ops->sync(ev->st);
}

/* ---- Introspection ---------------------------------------------------- */

size_t wsp_evlog_streams(const struct wsp_evlog *ev) {
  return ev ? ev->count : 0;
}

void wsp_evlog_get_stats(const struct wsp_evlog *ev,
                         struct wsp_evlog_stats *out) {
  size_t i;
  if (!out)
    return;
  memset(out, 0, sizeof(*out));
  if (!ev)
    return;
  *out = ev->stats;
  out->streams = ev->count;
  out->events = 0;
  out->bytes = 0;
  for (i = 0; i < ev->tcap; i++) {
    const struct stream *s;
    for (s = ev->tab[i]; s; s = s->hnext) {
      if (s->first <= s->top)
        out->events += s->top - s->first + 1;
      out->bytes += s->bytes;
    }
  }
  ev->st->ops->stats(ev->st, out);
}
