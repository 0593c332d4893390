/*
 * The simulation's event store; see simstore.h. Written from the
 * contract of wsp_evlog_store(3) alone: the log decides, the store
 * remembers, and a failing call leaves the stream as it was.
 */
#include "simstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sev {
  uint64_t time;
  char *data, *info;
  size_t dlen, ilen;
};

struct snap {
  int has;
  uint64_t offset, time;
  char *state;
  size_t len;
};

struct sstream {
  char *name;
  size_t len;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t first;  /* oldest kept */
  uint64_t top;    /* newest acknowledged */
  uint64_t synced; /* newest durable */
  uint64_t last_time;
  struct sev *ev; /* ev[i] is offset base + i, for base + i <= top */
  size_t head, n, cap;
  uint64_t base;
  struct snap snap;
  int lost;
};

struct simdb {
  struct simdb_hooks h;
  struct simdb_faults f;
  struct simdb_stats st;
  struct sstream **s;
  size_t ns, caps;
  uint64_t interval, next_sync;
  int crashing;
  int open; /* a store of the db is held by a log */
  size_t bytes;
  const char *dir; /* the file store's directory, or NULL: memory */
  struct fwrap *fw;
};

struct simstore {
  struct wsp_evlog_store base;
  struct simdb *db;
};

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "sim: out of memory\n");
    abort();
  }
  return q;
}

static int fault(struct simdb *db, unsigned permille) {
  return permille && db->h.below(1000, db->h.ud) < permille;
}

static void ev_free(struct simdb *db, struct sev *e) {
  db->bytes -= e->dlen + e->ilen;
  free(e->data);
  free(e->info);
}

/* Drop events beyond top (a crash) or before first (a trim). */
static void drop_tail(struct simdb *db, struct sstream *s, uint64_t top) {
  while (s->n > s->head && s->base + (s->n - s->head) - 1 > top) {
    s->n--;
    ev_free(db, &s->ev[s->n]);
  }
}

static void drop_head(struct simdb *db, struct sstream *s, uint64_t first) {
  while (s->head < s->n && s->base < first) {
    ev_free(db, &s->ev[s->head++]);
    s->base++;
  }
  if (s->head == s->n) {
    s->head = s->n = 0;
    s->base = first;
  } else if (s->head > 64 && s->head * 2 > s->n) {
    memmove(s->ev, s->ev + s->head, (s->n - s->head) * sizeof(*s->ev));
    s->n -= s->head;
    s->head = 0;
  }
}

static struct sev *ev_at(struct sstream *s, uint64_t off) {
  return &s->ev[s->head + (size_t)(off - s->base)];
}

static void stream_free(struct simdb *db, struct sstream *s) {
  drop_tail(db, s, 0);
  free(s->ev);
  free(s->name);
  free(s->snap.state);
  free(s);
}

static void unlink_stream(struct simdb *db, struct sstream *s) {
  size_t i;
  for (i = 0; i < db->ns; i++)
    if (db->s[i] == s) {
      memmove(db->s + i, db->s + i + 1, (db->ns - i - 1) * sizeof(*db->s));
      db->ns--;
      return;
    }
}

/* ---- Store operations --------------------------------------------------- */

static struct simdb *DB(struct wsp_evlog_store *st) {
  return ((struct simstore *)st)->db;
}

static int op_load(struct wsp_evlog_store *st, uint64_t now,
                   int (*found)(const struct wsp_evlog_stream_info *info,
                                void *stream, void *ctx),
                   void *ctx) {
  struct simdb *db = DB(st);
  size_t i;
  (void)now;
  for (i = 0; i < db->ns; i++) {
    struct sstream *s = db->s[i];
    struct wsp_evlog_stream_info info;
    uint64_t o, bytes = 0;
    int rc;
    for (o = s->first; o <= s->top; o++)
      bytes += ev_at(s, o)->dlen + ev_at(s, o)->ilen + WSP_EVLOG_EVENT_OVERHEAD;
    memset(&info, 0, sizeof(info));
    info.name.ptr = s->name;
    info.name.len = s->len;
    info.epoch = s->epoch;
    info.first = s->first;
    info.top = s->top;
    info.bytes = bytes;
    info.last_time = s->last_time;
    info.lost = s->lost;
    if ((rc = found(&info, s, ctx)) != 0)
      return rc;
    s->lost = 0;
  }
  return 0;
}

static int op_create(struct wsp_evlog_store *st, const char *name, size_t len,
                     const char *epoch, uint64_t now, void **pstream) {
  struct simdb *db = DB(st);
  struct sstream *s;
  if (fault(db, db->f.create_permille)) {
    db->st.create_faults++;
    return WSP_ERR_NOSPACE;
  }
  s = xrealloc(NULL, sizeof(*s));
  memset(s, 0, sizeof(*s));
  s->name = xrealloc(NULL, len);
  memcpy(s->name, name, len);
  s->len = len;
  snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
  s->first = 1;
  s->base = 1;
  s->last_time = now;
  if (db->ns == db->caps) {
    db->caps = db->caps ? db->caps * 2 : 16;
    db->s = xrealloc(db->s, db->caps * sizeof(*db->s));
  }
  db->s[db->ns++] = s;
  *pstream = s;
  db->h.epoch(name, len, epoch, 0, db->h.ud);
  return 0;
}

static int op_append(struct wsp_evlog_store *st, void *stream,
                     const struct wsp_evlog_event *e) {
  struct simdb *db = DB(st);
  struct sstream *s = stream;
  struct sev *v;
  if (e->offset != s->top + 1) {
    fprintf(stderr, "sim store: append of offset %llu on top %llu\n",
            (unsigned long long)e->offset, (unsigned long long)s->top);
    abort();
  }
  if (fault(db, db->f.append_permille)) {
    db->st.append_faults++;
    /* Mostly a full disk; now and then an I/O error. */
    return db->h.below(4, db->h.ud) ? WSP_ERR_NOSPACE : WSP_ERR_IO;
  }
  if (s->head == s->n) {
    s->head = s->n = 0;
    s->base = e->offset;
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->ev = xrealloc(s->ev, s->cap * sizeof(*s->ev));
  }
  v = &s->ev[s->n++];
  v->time = e->time;
  v->dlen = e->data.len;
  v->ilen = e->info.len;
  v->data = xrealloc(NULL, v->dlen);
  v->info = xrealloc(NULL, v->ilen);
  memcpy(v->data, e->data.ptr, v->dlen);
  memcpy(v->info, e->info.ptr, v->ilen);
  db->bytes += v->dlen + v->ilen;
  if (s->first > s->top)
    s->first = e->offset;
  s->top = e->offset;
  s->last_time = e->time;
  db->st.appends++;
  db->h.appended(s->name, s->len, s->epoch, e, db->h.ud);
  return 0;
}

static int op_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                   uint64_t to, int reverse,
                   int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                   void *ctx) {
  struct simdb *db = DB(st);
  struct sstream *s = stream;
  uint64_t i, n = to - from + 1;
  if (from < s->first || to > s->top || from > to) {
    fprintf(stderr, "sim store: read %llu..%llu of %llu..%llu\n",
            (unsigned long long)from, (unsigned long long)to,
            (unsigned long long)s->first, (unsigned long long)s->top);
    abort();
  }
  if (fault(db, db->f.read_permille)) {
    db->st.read_faults++;
    return WSP_ERR_IO;
  }
  for (i = 0; i < n; i++) {
    uint64_t off = reverse ? to - i : from + i;
    struct sev *v = ev_at(s, off);
    struct wsp_evlog_event e;
    e.offset = off;
    e.time = v->time;
    e.data.ptr = v->data;
    e.data.len = v->dlen;
    e.info.ptr = v->info;
    e.info.len = v->ilen;
    if (cb(&e, ctx))
      return 0;
  }
  return 0;
}

static int op_head(struct wsp_evlog_store *st, void *stream, uint64_t offset,
                   uint64_t *time, uint64_t *size) {
  struct sstream *s = stream;
  struct sev *v;
  (void)st;
  if (offset < s->first || offset > s->top)
    return WSP_ERR_NOT_FOUND;
  v = ev_at(s, offset);
  *time = v->time;
  *size = v->dlen + v->ilen + WSP_EVLOG_EVENT_OVERHEAD;
  return 0;
}

static int op_trim(struct wsp_evlog_store *st, void *stream, uint64_t first,
                   uint64_t now) {
  struct sstream *s = stream;
  if (first > s->first) {
    drop_head(DB(st), s, first);
    s->first = first;
    if (first > s->top)
      s->last_time = now > s->last_time ? now : s->last_time;
  }
  return 0;
}

static int op_set_epoch(struct wsp_evlog_store *st, void *stream,
                        const char *epoch) {
  struct sstream *s = stream;
  snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
  DB(st)->h.epoch(s->name, s->len, epoch, s->top, DB(st)->h.ud);
  return 0;
}

static int op_reset(struct wsp_evlog_store *st, void *stream, const char *epoch,
                    uint64_t now) {
  struct simdb *db = DB(st);
  struct sstream *s = stream;
  drop_tail(db, s, 0);
  s->head = s->n = 0;
  s->base = 1;
  s->first = 1;
  s->top = s->synced = 0;
  s->last_time = now;
  s->snap.has = 0;
  snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
  db->h.epoch(s->name, s->len, epoch, 0, db->h.ud);
  return 0;
}

static int op_remove(struct wsp_evlog_store *st, void *stream) {
  struct simdb *db = DB(st);
  struct sstream *s = stream;
  db->h.epoch(s->name, s->len, NULL, 0, db->h.ud);
  unlink_stream(db, s);
  stream_free(db, s);
  return 0;
}

static int op_snapshot_put(struct wsp_evlog_store *st, void *stream,
                           const struct wsp_evlog_snapshot *snap) {
  struct sstream *s = stream;
  (void)st;
  s->snap.state = xrealloc(s->snap.state, snap->state.len);
  memcpy(s->snap.state, snap->state.ptr, snap->state.len);
  s->snap.len = snap->state.len;
  s->snap.offset = snap->offset;
  s->snap.time = snap->time;
  s->snap.has = 1;
  return 0;
}

static int op_snapshot_get(struct wsp_evlog_store *st, void *stream,
                           int (*cb)(const struct wsp_evlog_snapshot *snap,
                                     void *ctx),
                           void *ctx) {
  struct sstream *s = stream;
  struct wsp_evlog_snapshot sn;
  (void)st;
  if (!s->snap.has)
    return WSP_ERR_NOT_FOUND;
  sn.offset = s->snap.offset;
  sn.time = s->snap.time;
  sn.state.ptr = s->snap.state;
  sn.state.len = s->snap.len;
  cb(&sn, ctx);
  return 0;
}

static void sync_all(struct simdb *db) {
  size_t i;
  for (i = 0; i < db->ns; i++)
    db->s[i]->synced = db->s[i]->top;
  db->st.syncs++;
}

static int op_tick(struct wsp_evlog_store *st, uint64_t now) {
  struct simdb *db = DB(st);
  if (db->interval && now >= db->next_sync) {
    sync_all(db);
    db->next_sync = now + db->interval;
  }
  return 0;
}

static uint64_t op_next_deadline(const struct wsp_evlog_store *st) {
  const struct simdb *db = ((const struct simstore *)st)->db;
  return db->interval ? db->next_sync : WSP_NO_DEADLINE;
}

static int op_sync(struct wsp_evlog_store *st) {
  sync_all(DB(st));
  return 0;
}

static void op_stats(const struct wsp_evlog_store *st,
                     struct wsp_evlog_stats *out) {
  (void)st;
  (void)out;
}

static void op_close(struct wsp_evlog_store *st) {
  struct simdb *db = DB(st);
  if (!db->crashing)
    sync_all(db);
  db->open = 0;
  free(st);
}

static const struct wsp_evlog_store_ops sim_ops = {
    .load = op_load,
    .create = op_create,
    .append = op_append,
    .read = op_read,
    .head = op_head,
    .trim = op_trim,
    .set_epoch = op_set_epoch,
    .reset = op_reset,
    .remove = op_remove,
    .snapshot_put = op_snapshot_put,
    .snapshot_get = op_snapshot_get,
    .tick = op_tick,
    .next_deadline = op_next_deadline,
    .sync = op_sync,
    .stats = op_stats,
    .close = op_close,
};

/* ---- Over the file store ---------------------------------------------------
 */

/*
 * With a directory, the db is the file store of the library, opened anew
 * at each restart: this wrapper injects the same faults and reports the
 * same events, and passes everything else through. A handle of the
 * wrapper carries the stream's name, epoch and top for the reports.
 */
struct fh {
  void *in;
  char *name;
  size_t len;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t top;
  struct fh *next;
};

struct fwrap {
  struct wsp_evlog_store base;
  struct simdb *db;
  struct wsp_evlog_store *in;
  struct fh *handles;
};

static struct fwrap *FW(struct wsp_evlog_store *st) {
  return (struct fwrap *)st;
}

#define IN(st) (FW(st)->in)
#define H(stream) (((struct fh *)(stream))->in)

static struct fh *fh_new(struct fwrap *w, void *in, const char *name,
                         size_t len, const char *epoch, uint64_t top) {
  struct fh *h = xrealloc(NULL, sizeof(*h));
  h->in = in;
  h->name = xrealloc(NULL, len);
  memcpy(h->name, name, len);
  h->len = len;
  snprintf(h->epoch, sizeof(h->epoch), "%s", epoch);
  h->top = top;
  h->next = w->handles;
  w->handles = h;
  return h;
}

static void fh_free(struct fwrap *w, struct fh *h) {
  struct fh **pp;
  for (pp = &w->handles; *pp; pp = &(*pp)->next)
    if (*pp == h) {
      *pp = h->next;
      break;
    }
  free(h->name);
  free(h);
}

struct wload {
  struct fwrap *w;
  int (*found)(const struct wsp_evlog_stream_info *info, void *stream,
               void *ctx);
  void *ctx;
};

static int w_found(const struct wsp_evlog_stream_info *info, void *stream,
                   void *ctx) {
  struct wload *l = ctx;
  struct fh *h = fh_new(l->w, stream, info->name.ptr, info->name.len,
                        info->epoch, info->top);
  return l->found(info, h, l->ctx);
}

static int w_load(struct wsp_evlog_store *st, uint64_t now,
                  int (*found)(const struct wsp_evlog_stream_info *info,
                               void *stream, void *ctx),
                  void *ctx) {
  struct wload l;
  l.w = FW(st);
  l.found = found;
  l.ctx = ctx;
  return IN(st)->ops->load(IN(st), now, w_found, &l);
}

static int w_create(struct wsp_evlog_store *st, const char *name, size_t len,
                    const char *epoch, uint64_t now, void **pstream) {
  struct simdb *db = FW(st)->db;
  void *in;
  int rc;
  if (fault(db, db->f.create_permille)) {
    db->st.create_faults++;
    return WSP_ERR_NOSPACE;
  }
  if ((rc = IN(st)->ops->create(IN(st), name, len, epoch, now, &in)) != 0)
    return rc;
  *pstream = fh_new(FW(st), in, name, len, epoch, 0);
  db->h.epoch(name, len, epoch, 0, db->h.ud);
  return 0;
}

static int w_append(struct wsp_evlog_store *st, void *stream,
                    const struct wsp_evlog_event *e) {
  struct simdb *db = FW(st)->db;
  struct fh *h = stream;
  int rc;
  if (fault(db, db->f.append_permille)) {
    db->st.append_faults++;
    return db->h.below(4, db->h.ud) ? WSP_ERR_NOSPACE : WSP_ERR_IO;
  }
  if ((rc = IN(st)->ops->append(IN(st), h->in, e)) != 0)
    return rc;
  h->top = e->offset;
  db->st.appends++;
  db->h.appended(h->name, h->len, h->epoch, e, db->h.ud);
  return 0;
}

static int w_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                  uint64_t to, int reverse,
                  int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                  void *ctx) {
  struct simdb *db = FW(st)->db;
  if (fault(db, db->f.read_permille)) {
    db->st.read_faults++;
    return WSP_ERR_IO;
  }
  return IN(st)->ops->read(IN(st), H(stream), from, to, reverse, cb, ctx);
}

static int w_head(struct wsp_evlog_store *st, void *stream, uint64_t offset,
                  uint64_t *time, uint64_t *size) {
  return IN(st)->ops->head(IN(st), H(stream), offset, time, size);
}

static int w_trim(struct wsp_evlog_store *st, void *stream, uint64_t first,
                  uint64_t now) {
  return IN(st)->ops->trim(IN(st), H(stream), first, now);
}

static int w_set_epoch(struct wsp_evlog_store *st, void *stream,
                       const char *epoch) {
  struct fh *h = stream;
  int rc = IN(st)->ops->set_epoch(IN(st), h->in, epoch);
  if (rc == 0) {
    snprintf(h->epoch, sizeof(h->epoch), "%s", epoch);
    FW(st)->db->h.epoch(h->name, h->len, epoch, h->top, FW(st)->db->h.ud);
  }
  return rc;
}

static int w_reset(struct wsp_evlog_store *st, void *stream, const char *epoch,
                   uint64_t now) {
  struct fh *h = stream;
  int rc = IN(st)->ops->reset(IN(st), h->in, epoch, now);
  if (rc == 0) {
    snprintf(h->epoch, sizeof(h->epoch), "%s", epoch);
    h->top = 0;
    FW(st)->db->h.epoch(h->name, h->len, epoch, 0, FW(st)->db->h.ud);
  }
  return rc;
}

static int w_remove(struct wsp_evlog_store *st, void *stream) {
  struct fh *h = stream;
  int rc = IN(st)->ops->remove(IN(st), h->in);
  FW(st)->db->h.epoch(h->name, h->len, NULL, 0, FW(st)->db->h.ud);
  fh_free(FW(st), h);
  return rc;
}

static int w_snapshot_put(struct wsp_evlog_store *st, void *stream,
                          const struct wsp_evlog_snapshot *snap) {
  return IN(st)->ops->snapshot_put(IN(st), H(stream), snap);
}

static int w_snapshot_get(struct wsp_evlog_store *st, void *stream,
                          int (*cb)(const struct wsp_evlog_snapshot *snap,
                                    void *ctx),
                          void *ctx) {
  return IN(st)->ops->snapshot_get(IN(st), H(stream), cb, ctx);
}

static int w_tick(struct wsp_evlog_store *st, uint64_t now) {
  return IN(st)->ops->tick(IN(st), now);
}

static uint64_t w_next_deadline(const struct wsp_evlog_store *st) {
  const struct wsp_evlog_store *in = ((const struct fwrap *)st)->in;
  return in->ops->next_deadline(in);
}

static int w_sync(struct wsp_evlog_store *st) {
  return IN(st)->ops->sync(IN(st));
}

static void w_stats(const struct wsp_evlog_store *st,
                    struct wsp_evlog_stats *out) {
  const struct wsp_evlog_store *in = ((const struct fwrap *)st)->in;
  in->ops->stats(in, out);
}

static void w_close(struct wsp_evlog_store *st) {
  struct fwrap *w = FW(st);
  w->in->ops->close(w->in);
  while (w->handles)
    fh_free(w, w->handles);
  w->db->open = 0;
  w->db->fw = NULL;
  free(w);
}

static const struct wsp_evlog_store_ops file_ops = {
    .load = w_load,
    .create = w_create,
    .append = w_append,
    .read = w_read,
    .head = w_head,
    .trim = w_trim,
    .set_epoch = w_set_epoch,
    .reset = w_reset,
    .remove = w_remove,
    .snapshot_put = w_snapshot_put,
    .snapshot_get = w_snapshot_get,
    .tick = w_tick,
    .next_deadline = w_next_deadline,
    .sync = w_sync,
    .stats = w_stats,
    .close = w_close,
};

/* ---- The db ------------------------------------------------------------- */

struct simdb *simdb_new(const struct simdb_hooks *hooks,
                        uint64_t sync_interval) {
  struct simdb *db = xrealloc(NULL, sizeof(*db));
  memset(db, 0, sizeof(*db));
  db->h = *hooks;
  db->interval = sync_interval;
  return db;
}

void simdb_free(struct simdb *db) {
  size_t i;
  if (!db)
    return;
  for (i = 0; i < db->ns; i++)
    stream_free(db, db->s[i]);
  free(db->s);
  free(db);
}

void simdb_set_faults(struct simdb *db, const struct simdb_faults *f) {
  db->f = *f;
}

void simdb_set_dir(struct simdb *db, const char *dir) { db->dir = dir; }

struct wsp_evlog_store *simdb_store(struct simdb *db,
                                    const struct wsp_mem *mem) {
  struct simstore *ss;
  if (db->dir) {
    struct wsp_evlog_file_options o;
    struct fwrap *w = xrealloc(NULL, sizeof(*w));
    int rc;
    memset(&o, 0, sizeof(o));
    o.fsync = WSP_EVLOG_FSYNC_NEVER; /* the page cache is durable enough */
    o.interval = 700;
    o.segment_bytes = 64 << 10; /* rotate, and trim whole segments */
    memset(w, 0, sizeof(*w));
    w->base.ops = &file_ops;
    w->db = db;
    if ((rc = wsp_evlog_file_store_new(&w->in, db->dir, &o, mem)) != 0) {
      fprintf(stderr, "sim: file store in %s: %s\n", db->dir, wsp_strerror(rc));
      exit(1);
    }
    db->fw = w;
    db->open = 1;
    return &w->base;
  }
  (void)mem;
  ss = xrealloc(NULL, sizeof(*ss));
  ss->base.ops = &sim_ops;
  ss->db = db;
  db->crashing = 0;
  db->open = 1;
  return &ss->base;
}

void simdb_crash(struct simdb *db) {
  size_t i;
  db->crashing = 1;
  db->st.crashes++;
  /* What was acknowledged but not durable is gone; such a stream must
   * come back with a new epoch (the log gives it one on load). */
  for (i = 0; i < db->ns; i++) {
    struct sstream *s = db->s[i];
    if (s->top > s->synced) {
      db->st.lost_streams++;
      db->st.lost_events += s->top - s->synced;
      drop_tail(db, s, s->synced);
      s->top = s->synced;
      if (s->first > s->top + 1)
        s->first = s->top + 1;
      if (s->head == s->n) {
        s->head = s->n = 0;
        s->base = s->first;
      }
      s->lost = 1;
    }
  }
}

void simdb_get_stats(const struct simdb *db, struct simdb_stats *out) {
  *out = db->st;
}

size_t simdb_bytes(const struct simdb *db) { return db->bytes; }
