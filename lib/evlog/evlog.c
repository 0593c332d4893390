/*
 * The event log (wsp_evlog): streams by name, offsets, epochs, retention,
 * the life cycle and writing over a store. Reads, recovery and snapshots
 * are in evlog_read.c, the memory store in evlog_mem.c, the file store in
 * evlog_file.c and its companions.
 *
 * The log owns the authoritative position of every stream (first, top,
 * bytes, epoch) and decides retention; a store only keeps events and
 * answers for them. Streams are found through a chained hash table keyed
 * by a seeded hash of the name, and a binary min-heap orders the streams
 * that have a time limit (the oldest event's age, or meta_ttl once empty)
 * so that tick and next_deadline never walk every stream.
 */
#include <string.h>

#include "evlog_private.h"

/* Retry delay when a store could not tell an event's time. */
#define RETRY_MS 1000

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

static int new_epoch(const struct wsp_evlog *ev,
                     char out[WSP_EVLOG_EPOCH_MAX + 1]) {
  static const char alpha[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  uint8_t rnd[32];
  size_t n = 0, i;
  int round;
  for (round = 0; round < 8 && n < WSP_EVLOG_EPOCH_LEN; round++) {
    if (wsp__random(&ev->mem, rnd, sizeof(rnd)) != 0)
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

static const struct wsp_evlog_retention *ret_of(const struct wsp_evlog *ev,
                                                const struct stream *s) {
  return s->own ? s->own : &ev->def;
}

/* ---- Deadlines ------------------------------------------------------- */

/* The heap always has room for every stream (it grows with the hash
 * table), so setting a deadline cannot fail. */
static void heap_set(struct wsp_evlog *ev, struct stream *s, uint64_t when) {
  if (when == WSP_NO_DEADLINE)
    wsp__heap_remove(&ev->heap, &s->hn);
  else
    wsp__heap_set(&ev->heap, &s->hn, when);
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

#define TABLE_MIN 16

/* Rehash the table into cap slots (a power of two). */
static int rehash(struct wsp_evlog *ev, size_t cap) {
  size_t i;
  struct stream **tab = wsp__malloc(&ev->mem, cap * sizeof(*tab));
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

/* Make room for one more stream: the table and the heap. */
static int reserve(struct wsp_evlog *ev) {
  size_t cap;
  if (ev->count < ev->tcap)
    return 0;
  cap = ev->tcap ? ev->tcap * 2 : TABLE_MIN;
  if (wsp__heap_reserve(&ev->heap, &ev->mem, cap) != 0)
    return WSP_ERR_NOMEM;
  return rehash(ev, cap);
}

/* After many streams went: halve the table under an eighth full (so
 * that a count moving around one size does not resize it in turn), and
 * let the heap follow, keeping room for as many streams as the table
 * holds slots (reserve() relies on it). Failing is harmless. */
static void shrink(struct wsp_evlog *ev) {
  if (ev->tcap > TABLE_MIN && ev->count < ev->tcap / 8)
    (void)rehash(ev, ev->tcap / 2);
  wsp__heap_shrink(&ev->heap, &ev->mem, ev->tcap);
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
  s->hn.pos = WSP__HEAP_OUT;
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
  wsp__heap_remove(&ev->heap, &s->hn);
  rc = ev->st->ops->remove(ev->st, s->sh);
  ev->stats.streams_dropped++;
  stream_release(ev, s);
  shrink(ev);
  return rc;
}

int wsp__evlog_stream_get(struct wsp_evlog *ev, const char *name, size_t len,
                          uint64_t now, struct stream **out) {
  struct stream *s = find(ev, name, len);
  int rc;
  if (s) {
    *out = s;
    return 0;
  }
  if (ev->max_streams && ev->count >= ev->max_streams) {
    ev->stats.streams_refused++;
    return WSP_ERR_LIMIT;
  }
  if ((rc = reserve(ev)) != 0)
    return rc;
  s = stream_alloc(ev, name, len);
  if (!s)
    return WSP_ERR_NOMEM;
  if ((rc = new_epoch(ev, s->epoch)) != 0 ||
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

/* ---- Life cycle ------------------------------------------------------- */

void wsp_evlog_store_free(struct wsp_evlog_store *store) {
  if (store && store->ops && store->ops->close)
    store->ops->close(store);
}

/* Every function of a store's table but the reserved ones is required. */
static int store_complete(const struct wsp_evlog_store *st) {
  const struct wsp_evlog_store_ops *o = st->ops;
  return o && o->load && o->create && o->append && o->read && o->head &&
         o->trim && o->set_epoch && o->reset && o->remove && o->snapshot_put &&
         o->snapshot_get && o->tick && o->next_deadline && o->sync &&
         o->stats && o->close;
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
    if ((rc = new_epoch(ev, s->epoch)) != 0 ||
        (rc = ev->st->ops->set_epoch(ev->st, sh, s->epoch)) != 0)
      return rc;
    ev->stats.new_epochs++;
  }
  return 0;
}

void wsp__evlog_destroy(struct wsp_evlog *ev) {
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
  wsp__heap_free(&ev->heap, &mem);
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
  if (!pev || (st && !store_complete(st))) {
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
    ev->max_streams = opts->max_streams;
  }
  if (wsp__random(&ev->mem, &ev->seed, sizeof(ev->seed)) != 0) {
    wsp_evlog_store_free(st);
    wsp__free(&mem, ev);
    return WSP_ERR_RANDOM;
  }
  if (!st && (rc = wsp__evlog_mem_store_new(&st, &mem)) != 0) {
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
    wsp__evlog_destroy(ev);
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
  wsp__evlog_destroy(ev);
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
  if ((rc = wsp__evlog_stream_get(ev, stream, len, now, &s)) != 0)
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
  if ((rc = new_epoch(ev, epoch)) != 0 ||
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

/* ---- Time and durability ---------------------------------------------- */

int wsp_evlog_tick(struct wsp_evlog *ev, uint64_t now) {
  int rc = 0, e;
  if (!ev)
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  see_time(ev, now);
  while (ev->heap.n && ev->heap.v[0]->key <= now) {
    struct stream *s = WSP__CONTAINER_OF(ev->heap.v[0], struct stream, hn);
    if (s->first > s->top) {
      e = stream_drop(ev, s); /* meta_ttl passed */
    } else {
      e = apply_retention(ev, s, now);
      /* A store that cannot answer is retried later, not in a loop. */
      if (s->first <= s->top && s->hn.pos != WSP__HEAP_OUT && s->hn.key <= now)
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
  a = ev->heap.n ? ev->heap.v[0]->key : WSP_NO_DEADLINE;
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
