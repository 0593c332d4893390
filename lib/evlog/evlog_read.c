/*
 * The event log's reads: positions, reading forwards and backwards,
 * recovery of a reader at (offset, epoch) and snapshots. Every event a
 * store hands over is checked to be the offset expected next, so that a
 * damaged store shows as WSP_ERR_CORRUPT rather than as a gap.
 */
#include <string.h>

#include "evlog_private.h"

/* ---- Reading ---------------------------------------------------------- */

static int begin_read(struct wsp_evlog *ev, const char *stream, size_t len,
                      struct stream **out) {
  if (!ev || !valid_name(stream, len))
    return WSP_ERR_INVAL;
  if (busy(ev))
    return WSP_ERR_RECURSIVE;
  return wsp__evlog_stream_get(ev, stream, len, ev->now, out);
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
