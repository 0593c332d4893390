/*
 * Reading a stream of the file store, forward or in reverse, through the
 * window cache and the sparse indexes of evlog_seg.c.
 */
#include <errno.h>
#include <string.h>

#include "evlog_private.h"

/* ---- Reading ---------------------------------------------------------- */

/* Deliver from..to in order, checking every checksum. Returns 1 when cb
 * stopped, 0 at the end, or an error. */
static int read_forward(struct fstream *s, uint64_t from, uint64_t to,
                        int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                        void *ctx) {
  struct fstore *fs = s->fs;
  struct win *w = &fs->rw;
  uint64_t off, pos;
  size_t si;
  int rc = wsp__evfile_locate(s, w, READ_CHUNK, from, &si, &pos);
  if (rc != 0)
    return rc;
  for (off = from; off <= to; off++) {
    const struct seg *g = &s->segs[si];
    struct wsp_evlog_event e;
    const uint8_t *h;
    struct rec r;
    if (pos >= g->end) {
      if (si + 1 >= s->nseg || s->segs[si + 1].base != off)
        return WSP_ERR_CORRUPT;
      g = &s->segs[++si];
      pos = SEG_HDR;
    }
    if ((rc = wsp__evfile_win_get(s, w, READ_CHUNK, si, pos, REC_HDR, &h)) != 0)
      return rc;
    if (!wsp__evfile_rec_parse(h, off, g->end - pos, &r)) {
      fs->stats.corrupt++;
      return WSP_ERR_CORRUPT;
    }
    if ((rc = wsp__evfile_win_get(s, w, READ_CHUNK, si, pos, (size_t)r.size,
                                  &h)) != 0)
      return rc;
    if (!wsp__evfile_rec_crc_ok(h, r.size)) {
      fs->stats.corrupt++;
      return WSP_ERR_CORRUPT;
    }
    e.offset = off;
    e.time = r.time;
    e.data.ptr = (const char *)h + REC_HDR;
    e.data.len = r.len;
    e.info.ptr = e.data.ptr + r.len;
    e.info.len = r.ilen;
    if (cb(&e, ctx) != 0)
      return 1;
    pos += r.size;
  }
  return 0;
}

struct rcollect {
  struct fstore *fs;
  size_t n, used;
  int over, rc;
};

static int rcollect_cb(const struct wsp_evlog_event *e, void *ctx) {
  struct rcollect *c = ctx;
  struct fstore *fs = c->fs;
  size_t need = e->data.len + e->info.len;
  if (c->n && c->used + need > REVERSE_BUDGET) {
    c->over = 1;
    return 1;
  }
  if (c->n == fs->rref_cap) {
    size_t cap = fs->rref_cap ? fs->rref_cap * 2 : REVERSE_CHUNK;
    struct rref *p = wsp__realloc(&fs->mem, fs->rrefs, cap * sizeof(*p));
    if (!p) {
      c->rc = WSP_ERR_NOMEM;
      return 1;
    }
    fs->rrefs = p;
    fs->rref_cap = cap;
  }
  if ((c->rc = wsp__evfile_scratch_reserve(fs, c->used + need)) != 0)
    return 1;
  memcpy(fs->scratch + c->used, e->data.ptr, e->data.len);
  memcpy(fs->scratch + c->used + e->data.len, e->info.ptr, e->info.len);
  fs->rrefs[c->n].offset = e->offset;
  fs->rrefs[c->n].time = e->time;
  fs->rrefs[c->n].at = c->used;
  fs->rrefs[c->n].len = e->data.len;
  fs->rrefs[c->n].ilen = e->info.len;
  c->used += need;
  c->n++;
  return 0;
}

/* Newest first: copy a chunk of events forwards, hand it out backwards,
 * move to the chunk before; a chunk that grows too big is split. */
static int read_reverse(struct fstream *s, uint64_t from, uint64_t to,
                        int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                        void *ctx) {
  struct fstore *fs = s->fs;
  uint64_t hi = to, k = REVERSE_CHUNK;
  for (;;) {
    uint64_t lo = hi - from + 1 > k ? hi - k + 1 : from;
    struct rcollect c;
    size_t i;
    int rc;
    memset(&c, 0, sizeof(c));
    c.fs = fs;
    rc = read_forward(s, lo, hi, rcollect_cb, &c);
    if (rc < 0)
      return rc;
    if (c.rc != 0)
      return c.rc;
    if (c.over) {
      k = (hi - lo + 1) / 4 ? (hi - lo + 1) / 4 : 1;
      continue;
    }
    for (i = c.n; i-- > 0;) {
      struct wsp_evlog_event e;
      const struct rref *x = &fs->rrefs[i];
      e.offset = x->offset;
      e.time = x->time;
      e.data.ptr = (const char *)fs->scratch + x->at;
      e.data.len = x->len;
      e.info.ptr = e.data.ptr + x->len;
      e.info.len = x->ilen;
      if (cb(&e, ctx) != 0)
        return 1;
    }
    if (lo == from)
      return 0;
    hi = lo - 1;
  }
}

int wsp__evfile_fs_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                        uint64_t to, int reverse,
                        int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                        void *ctx) {
  struct fstore *fs = (struct fstore *)st;
  int rc;
  fs->rw.owner = NULL;
  rc = reverse ? read_reverse(stream, from, to, cb, ctx)
               : read_forward(stream, from, to, cb, ctx);
  /* Give a big buffer back after an unusual read. */
  if (fs->scratch_cap > REVERSE_BUDGET * 2) {
    wsp__free(&fs->mem, fs->scratch);
    fs->scratch = NULL;
    fs->scratch_cap = 0;
  }
  return rc < 0 ? rc : 0;
}
