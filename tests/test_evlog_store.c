/*
 * The storage interface (struct wsp_evlog_store_ops) with a store written
 * here, as an application would: the log drives it for appends, reads,
 * retention, snapshots, reset, tick and sync; streams it reports at load
 * are taken as they are, or given a new epoch when marked lost; bad
 * reports and incomplete tables are refused; and a store that delivers
 * events out of order, fails half way through a read or refuses an
 * append never makes the log claim more than it has.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsp/evlog.h>

#define S(lit) lit, sizeof(lit) - 1
#define TEV_MAX 64
#define TSTREAMS 8

/* ---- A store in an array ---------------------------------------------- */

struct tev {
  uint64_t time;
  char data[32], info[8];
  size_t len, ilen;
};

struct tstream {
  int live;
  char name[32];
  size_t len;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t first, top, last_time;
  struct tev ev[TEV_MAX]; /* event offset o at ev[o - 1] */
  int lost;               /* reported as lost by load */
  int has_snap;
  uint64_t snap_off, snap_time;
  char snap[32];
  size_t snap_len;
};

struct tstore {
  struct wsp_evlog_store base;
  struct tstream s[TSTREAMS];
  /* knobs */
  int fail_append;     /* returned by append; 0: store it */
  int read_fail_after; /* events a read delivers before WSP_ERR_IO; <0 */
  int read_swap;       /* deliver the first two events the wrong way */
  int read_short;      /* events a read delivers before it returns 0; 0 */
  /* what the log called */
  int appends, reads, trims, set_epochs, resets, removes, ticks, syncs;
  int closes;
  uint64_t trim_first;
};

static uint64_t tsize(const struct tev *e) {
  return (uint64_t)e->len + e->ilen + WSP_EVLOG_EVENT_OVERHEAD;
}

static int t_load(struct wsp_evlog_store *st, uint64_t now,
                  int (*found)(const struct wsp_evlog_stream_info *info,
                               void *stream, void *ctx),
                  void *ctx) {
  struct tstore *ts = (struct tstore *)st;
  int i, rc;
  (void)now;
  for (i = 0; i < TSTREAMS; i++) {
    struct tstream *s = &ts->s[i];
    struct wsp_evlog_stream_info info;
    uint64_t o;
    if (!s->live)
      continue;
    memset(&info, 0, sizeof(info));
    info.name.ptr = s->name;
    info.name.len = s->len;
    info.epoch = s->epoch;
    info.first = s->first;
    info.top = s->top;
    for (o = s->first; o <= s->top && o <= TEV_MAX; o++)
      info.bytes += tsize(&s->ev[o - 1]);
    info.last_time = s->last_time;
    info.lost = s->lost;
    if ((rc = found(&info, s, ctx)) != 0)
      return rc;
  }
  return 0;
}

static int t_create(struct wsp_evlog_store *st, const char *name, size_t len,
                    const char *epoch, uint64_t now, void **pstream) {
  struct tstore *ts = (struct tstore *)st;
  int i;
  assert_true(len < sizeof(ts->s[0].name));
  for (i = 0; i < TSTREAMS; i++) {
    struct tstream *s = &ts->s[i];
    if (s->live)
      continue;
    memset(s, 0, sizeof(*s));
    s->live = 1;
    memcpy(s->name, name, len);
    s->len = len;
    snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
    s->first = 1;
    s->last_time = now;
    *pstream = s;
    return 0;
  }
  return WSP_ERR_NOSPACE;
}

static int t_append(struct wsp_evlog_store *st, void *stream,
                    const struct wsp_evlog_event *e) {
  struct tstore *ts = (struct tstore *)st;
  struct tstream *s = stream;
  struct tev *x;
  if (ts->fail_append)
    return ts->fail_append;
  assert_int_equal(e->offset, s->top + 1);
  assert_true(e->offset <= TEV_MAX);
  assert_true(e->data.len < sizeof(x->data) && e->info.len < sizeof(x->info));
  x = &s->ev[e->offset - 1];
  x->time = e->time;
  memcpy(x->data, e->data.ptr, e->data.len);
  x->len = e->data.len;
  memcpy(x->info, e->info.ptr, e->info.len);
  x->ilen = e->info.len;
  s->top = e->offset;
  s->last_time = e->time;
  ts->appends++;
  return 0;
}

static void deliver(const struct tstream *s, uint64_t o,
                    struct wsp_evlog_event *e) {
  const struct tev *x = &s->ev[o - 1];
  e->offset = o;
  e->time = x->time;
  e->data.ptr = x->data;
  e->data.len = x->len;
  e->info.ptr = x->info;
  e->info.len = x->ilen;
}

static int t_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                  uint64_t to, int reverse,
                  int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                  void *ctx) {
  struct tstore *ts = (struct tstore *)st;
  struct tstream *s = stream;
  uint64_t i, n = to - from + 1;
  ts->reads++;
  /* the log asks only for what the stream holds */
  assert_true(s->first <= from && from <= to && to <= s->top);
  for (i = 0; i < n; i++) {
    struct wsp_evlog_event e;
    uint64_t k = i;
    if (ts->read_fail_after >= 0 && i == (uint64_t)ts->read_fail_after)
      return WSP_ERR_IO;
    if (ts->read_short && i == (uint64_t)ts->read_short)
      return 0;
    if (ts->read_swap && n >= 2 && i < 2)
      k = 1 - i;
    deliver(s, reverse ? to - k : from + k, &e);
    if (cb(&e, ctx) != 0)
      return 0;
  }
  return 0;
}

static int t_head(struct wsp_evlog_store *st, void *stream, uint64_t offset,
                  uint64_t *time, uint64_t *size) {
  struct tstream *s = stream;
  (void)st;
  assert_true(s->first <= offset && offset <= s->top);
  *time = s->ev[offset - 1].time;
  *size = tsize(&s->ev[offset - 1]);
  return 0;
}

static int t_trim(struct wsp_evlog_store *st, void *stream, uint64_t first,
                  uint64_t now) {
  struct tstore *ts = (struct tstore *)st;
  struct tstream *s = stream;
  (void)now;
  assert_true(first <= s->top + 1);
  if (first > s->first)
    s->first = first;
  ts->trims++;
  ts->trim_first = first;
  return 0;
}

static int t_set_epoch(struct wsp_evlog_store *st, void *stream,
                       const char *epoch) {
  struct tstream *s = stream;
  ((struct tstore *)st)->set_epochs++;
  snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
  return 0;
}

static int t_reset(struct wsp_evlog_store *st, void *stream, const char *epoch,
                   uint64_t now) {
  struct tstream *s = stream;
  ((struct tstore *)st)->resets++;
  snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
  s->first = 1;
  s->top = 0;
  s->has_snap = 0;
  s->last_time = now;
  return 0;
}

static int t_remove(struct wsp_evlog_store *st, void *stream) {
  struct tstream *s = stream;
  ((struct tstore *)st)->removes++;
  s->live = 0;
  return 0;
}

static int t_snapshot_put(struct wsp_evlog_store *st, void *stream,
                          const struct wsp_evlog_snapshot *snap) {
  struct tstream *s = stream;
  (void)st;
  assert_true(snap->offset <= s->top);
  assert_true(snap->state.len < sizeof(s->snap));
  s->has_snap = 1;
  s->snap_off = snap->offset;
  s->snap_time = snap->time;
  memcpy(s->snap, snap->state.ptr, snap->state.len);
  s->snap_len = snap->state.len;
  return 0;
}

static int t_snapshot_get(struct wsp_evlog_store *st, void *stream,
                          int (*cb)(const struct wsp_evlog_snapshot *snap,
                                    void *ctx),
                          void *ctx) {
  struct tstream *s = stream;
  struct wsp_evlog_snapshot snap;
  (void)st;
  if (!s->has_snap)
    return WSP_ERR_NOT_FOUND;
  snap.offset = s->snap_off;
  snap.time = s->snap_time;
  snap.state.ptr = s->snap;
  snap.state.len = s->snap_len;
  cb(&snap, ctx);
  return 0;
}

static int t_tick(struct wsp_evlog_store *st, uint64_t now) {
  (void)now;
  ((struct tstore *)st)->ticks++;
  return 0;
}

static uint64_t t_next_deadline(const struct wsp_evlog_store *st) {
  (void)st;
  return WSP_NO_DEADLINE;
}

static int t_sync(struct wsp_evlog_store *st) {
  ((struct tstore *)st)->syncs++;
  return 0;
}

static void t_stats(const struct wsp_evlog_store *st,
                    struct wsp_evlog_stats *out) {
  out->writes += (uint64_t)((const struct tstore *)st)->appends;
}

static void t_close(struct wsp_evlog_store *st) {
  ((struct tstore *)st)->closes++;
}

static const struct wsp_evlog_store_ops t_ops = {
    t_load,
    t_create,
    t_append,
    t_read,
    t_head,
    t_trim,
    t_set_epoch,
    t_reset,
    t_remove,
    t_snapshot_put,
    t_snapshot_get,
    t_tick,
    t_next_deadline,
    t_sync,
    t_stats,
    t_close,
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

static struct tstore *tstore_new(void) {
  struct tstore *ts = calloc(1, sizeof(*ts));
  assert_non_null(ts);
  ts->base.ops = &t_ops;
  ts->read_fail_after = -1;
  return ts;
}

/* A stream the store holds before the log opens: events first..top with
 * data "e<offset>". */
static struct tstream *preload(struct tstore *ts, const char *name,
                               const char *epoch, uint64_t first, uint64_t top,
                               int lost) {
  struct tstream *s = NULL;
  uint64_t o;
  int i;
  for (i = 0; i < TSTREAMS && !s; i++)
    if (!ts->s[i].live)
      s = &ts->s[i];
  assert_non_null(s);
  memset(s, 0, sizeof(*s));
  s->live = 1;
  s->len = strlen(name);
  memcpy(s->name, name, s->len);
  snprintf(s->epoch, sizeof(s->epoch), "%s", epoch);
  s->first = first;
  s->top = top;
  s->lost = lost;
  for (o = 1; o <= top; o++) {
    struct tev *x = &s->ev[o - 1];
    x->time = 100 + o;
    x->len = (size_t)snprintf(x->data, sizeof(x->data), "e%llu",
                              (unsigned long long)o);
  }
  s->last_time = 100 + top;
  return s;
}

static struct wsp_evlog *open_on(struct tstore *ts, uint64_t now) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev = NULL;
  memset(&o, 0, sizeof(o));
  o.store = &ts->base;
  assert_int_equal(wsp_evlog_new(&ev, &o, now), 0);
  assert_non_null(ev);
  return ev;
}

/* ---- Recorder --------------------------------------------------------- */

struct got {
  uint64_t off[TEV_MAX];
  char data[TEV_MAX][32];
  size_t n;
  int snaps;
  uint64_t snap_off;
  char snap[32];
};

static int on_event(const struct wsp_evlog_event *e, void *ud) {
  struct got *g = ud;
  assert_true(g->n < TEV_MAX && e->data.len < sizeof(g->data[0]));
  g->off[g->n] = e->offset;
  memcpy(g->data[g->n], e->data.ptr, e->data.len);
  g->data[g->n][e->data.len] = '\0';
  g->n++;
  return 0;
}

static int on_snap(const struct wsp_evlog_snapshot *snap, void *ud) {
  struct got *g = ud;
  assert_true(snap->state.len < sizeof(g->snap));
  g->snaps++;
  g->snap_off = snap->offset;
  memcpy(g->snap, snap->state.ptr, snap->state.len);
  g->snap[snap->state.len] = '\0';
  return 0;
}

static struct wsp_evlog_position pos_of(struct wsp_evlog *ev,
                                        const char *stream) {
  struct wsp_evlog_position p;
  assert_int_equal(wsp_evlog_position(ev, stream, strlen(stream), &p), 0);
  return p;
}

/* ---- Tests ------------------------------------------------------------ */

static void test_evlog_store_drives_an_application_store(void **state) {
  struct tstore *ts = tstore_new();
  struct wsp_evlog_retention r;
  struct wsp_evlog_recovery rec;
  struct wsp_evlog_position p;
  struct wsp_evlog_stats stats;
  struct wsp_evlog *ev = open_on(ts, 0);
  struct got g;
  uint64_t off;
  (void)state;
  assert_int_equal(wsp_evlog_append(ev, S("s"), 10, "e1", 2, "i", 1, &off), 0);
  assert_int_equal(off, 1);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 11, "e2", 2, NULL, 0, &off), 0);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 12, "e3", 2, NULL, 0, &off), 0);
  assert_int_equal(off, 3);
  assert_int_equal(ts->appends, 3);
  assert_int_equal(ts->s[0].top, 3);
  assert_string_equal(ts->s[0].epoch, pos_of(ev, "s").epoch);
  assert_memory_equal(ts->s[0].ev[0].info, "i", 1);

  memset(&g, 0, sizeof(g));
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, WSP_EVLOG_NO_LIMIT,
                                  WSP_EVLOG_REVERSE, on_event, &g, NULL),
                   3);
  assert_int_equal(g.off[0], 3);
  assert_string_equal(g.data[2], "e1");

  memset(&g, 0, sizeof(g));
  assert_int_equal(wsp_evlog_recover(ev, S("s"), 1, pos_of(ev, "s").epoch, 10,
                                     on_event, &g, &rec),
                   0);
  assert_true(rec.recovered);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.data[1], "e3");

  /* snapshot at 2: the state, then event 3 */
  assert_int_equal(
      wsp_evlog_snapshot_put(ev, S("s"), NULL, 2, 13, "state@2", 7), 0);
  memset(&g, 0, sizeof(g));
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, NULL), 1);
  assert_int_equal(g.snaps, 1);
  assert_string_equal(g.snap, "state@2");
  assert_int_equal(g.off[0], 3);

  /* retention goes through head and trim */
  memset(&r, 0, sizeof(r));
  r.max_events = 2;
  assert_int_equal(wsp_evlog_set_retention(ev, S("s"), &r), 0);
  assert_int_equal(ts->trim_first, 2);
  p = pos_of(ev, "s");
  assert_int_equal(p.first, 2);
  assert_int_equal(p.offset, 3);

  wsp_evlog_get_stats(ev, &stats);
  assert_int_equal(stats.writes, 3); /* the store's own counter */
  assert_int_equal(stats.events, 2);

  assert_int_equal(wsp_evlog_tick(ev, 20), 0);
  assert_true(ts->ticks >= 1);
  assert_int_equal(wsp_evlog_sync(ev), 0);
  assert_int_equal(ts->syncs, 1);

  assert_int_equal(wsp_evlog_reset(ev, S("s"), 30), 0);
  assert_int_equal(ts->resets, 1);
  assert_string_not_equal(pos_of(ev, "s").epoch, p.epoch);
  assert_string_equal(ts->s[0].epoch, pos_of(ev, "s").epoch);
  assert_int_equal(pos_of(ev, "s").offset, 0);

  assert_int_equal(wsp_evlog_remove(ev, S("s")), 0);
  assert_int_equal(ts->removes, 1);
  assert_int_equal(ts->closes, 0);
  wsp_evlog_free(ev);
  assert_int_equal(ts->closes, 1);
  free(ts);
}

static void test_evlog_store_load_keeps_positions(void **state) {
  struct tstore *ts = tstore_new();
  struct wsp_evlog_position p;
  struct wsp_evlog *ev;
  struct tstream *lost;
  struct got g;
  uint64_t off;
  (void)state;
  preload(ts, "kept", "KEEP", 3, 5, 0);
  lost = preload(ts, "lost", "OLD", 1, 2, 1);
  ev = open_on(ts, 200);
  assert_int_equal(wsp_evlog_streams(ev), 2);

  p = pos_of(ev, "kept");
  assert_int_equal(p.first, 3);
  assert_int_equal(p.offset, 5);
  assert_string_equal(p.epoch, "KEEP");
  memset(&g, 0, sizeof(g));
  assert_int_equal(wsp_evlog_read(ev, S("kept"), "KEEP", 0, WSP_EVLOG_NO_LIMIT,
                                  0, on_event, &g, NULL),
                   3);
  assert_int_equal(g.off[0], 3);
  assert_string_equal(g.data[2], "e5");
  assert_int_equal(wsp_evlog_append(ev, S("kept"), 300, "x", 1, NULL, 0, &off),
                   0);
  assert_int_equal(off, 6);

  /* a lost stream keeps its events and gets a new epoch, in the store too */
  p = pos_of(ev, "lost");
  assert_int_equal(p.offset, 2);
  assert_string_not_equal(p.epoch, "OLD");
  assert_int_equal(strlen(p.epoch), WSP_EVLOG_EPOCH_LEN);
  assert_int_equal(ts->set_epochs, 1);
  assert_string_equal(lost->epoch, p.epoch);
  assert_int_equal(
      wsp_evlog_read(ev, S("lost"), "OLD", 0, 10, 0, on_event, &g, NULL),
      WSP_ERR_EPOCH);
  wsp_evlog_free(ev);
  assert_int_equal(ts->closes, 1);
  free(ts);
}

static void test_evlog_store_bad_reports_are_refused(void **state) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev = (struct wsp_evlog *)&o;
  struct tstore *ts = tstore_new();
  struct tstream *s;
  (void)state;
  memset(&o, 0, sizeof(o));
  o.store = &ts->base;

  s = preload(ts, "s", "E", 1, 3, 0);
  s->first = 5; /* beyond top + 1 */
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), WSP_ERR_INVAL);
  assert_null(ev);
  assert_int_equal(ts->closes, 1); /* consumed all the same */

  s->first = 1;
  s->epoch[0] = '\0';
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), WSP_ERR_INVAL);
  assert_int_equal(ts->closes, 2);

  snprintf(s->epoch, sizeof(s->epoch), "E");
  preload(ts, "s", "F", 1, 1, 0); /* the same name twice */
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), WSP_ERR_INVAL);
  assert_int_equal(ts->closes, 3);
  free(ts);
}

static void test_evlog_store_incomplete_table_is_refused(void **state) {
  struct wsp_evlog_store_ops ops = t_ops;
  struct wsp_evlog_options o;
  struct wsp_evlog *ev = NULL;
  struct tstore *ts = tstore_new();
  (void)state;
  memset(&o, 0, sizeof(o));
  o.store = &ts->base;
  ops.head = NULL;
  ts->base.ops = &ops;
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), WSP_ERR_INVAL);
  assert_null(ev);
  assert_int_equal(ts->closes, 1);

  ts->base.ops = NULL; /* nothing to call: refused, no crash */
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), WSP_ERR_INVAL);
  wsp_evlog_store_free(&ts->base);
  assert_int_equal(ts->closes, 1);
  free(ts);
}

static void test_evlog_store_out_of_order_is_corrupt(void **state) {
  struct tstore *ts = tstore_new();
  struct wsp_evlog_recovery rec;
  struct wsp_evlog *ev;
  struct got g;
  (void)state;
  preload(ts, "s", "E", 1, 6, 0);
  ev = open_on(ts, 200);
  ts->read_swap = 1;
  memset(&g, 0, sizeof(g));
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, WSP_EVLOG_NO_LIMIT, 0,
                                  on_event, &g, NULL),
                   WSP_ERR_CORRUPT);
  assert_int_equal(g.n, 0); /* offset 2 first: refused before delivery */
  memset(&g, 0, sizeof(g));
  assert_int_equal(
      wsp_evlog_recover(ev, S("s"), 2, "E", 10, on_event, &g, &rec),
      WSP_ERR_CORRUPT);
  assert_int_equal(g.n, 0);
  assert_false(rec.recovered);
  ts->read_swap = 0;
  assert_int_equal(
      wsp_evlog_recover(ev, S("s"), 2, "E", 10, on_event, &g, &rec), 0);
  assert_true(rec.recovered);
  assert_int_equal(g.n, 4);
  wsp_evlog_free(ev);
  free(ts);
}

static void test_evlog_store_failed_read_recovers_nothing(void **state) {
  struct tstore *ts = tstore_new();
  struct wsp_evlog_recovery rec;
  struct wsp_evlog *ev;
  struct got g;
  (void)state;
  preload(ts, "s", "E", 1, 8, 0);
  ev = open_on(ts, 200);
  ts->read_fail_after = 3;
  memset(&g, 0, sizeof(g));
  assert_int_equal(
      wsp_evlog_recover(ev, S("s"), 1, "E", 100, on_event, &g, &rec),
      WSP_ERR_IO);
  assert_int_equal(g.n, 0); /* never a partial recovery */
  assert_false(rec.recovered);
  memset(&g, 0, sizeof(g));
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, WSP_EVLOG_NO_LIMIT, 0,
                                  on_event, &g, NULL),
                   WSP_ERR_IO);
  assert_int_equal(g.n, 3);
  /* less than asked for, without an error: corrupt, and still nothing */
  ts->read_fail_after = -1;
  ts->read_short = 5;
  memset(&g, 0, sizeof(g));
  assert_int_equal(
      wsp_evlog_recover(ev, S("s"), 1, "E", 100, on_event, &g, &rec),
      WSP_ERR_CORRUPT);
  assert_int_equal(g.n, 0);
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, WSP_EVLOG_NO_LIMIT, 0,
                                  on_event, &g, NULL),
                   WSP_ERR_CORRUPT);
  wsp_evlog_free(ev);
  free(ts);
}

static void test_evlog_store_refused_append_changes_nothing(void **state) {
  struct tstore *ts = tstore_new();
  struct wsp_evlog_stats stats;
  struct wsp_evlog *ev = open_on(ts, 0);
  uint64_t off = 0;
  (void)state;
  assert_int_equal(wsp_evlog_append(ev, S("s"), 1, "a", 1, NULL, 0, &off), 0);
  ts->fail_append = WSP_ERR_NOSPACE;
  off = 77;
  assert_int_equal(wsp_evlog_append(ev, S("s"), 2, "b", 1, NULL, 0, &off),
                   WSP_ERR_NOSPACE);
  assert_int_equal(off, 77);
  assert_int_equal(pos_of(ev, "s").offset, 1);
  wsp_evlog_get_stats(ev, &stats);
  assert_int_equal(stats.append_errors, 1);
  assert_int_equal(stats.appended, 1);
  ts->fail_append = 0;
  assert_int_equal(wsp_evlog_append(ev, S("s"), 3, "c", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 2);
  wsp_evlog_free(ev);
  free(ts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_evlog_store_drives_an_application_store),
      cmocka_unit_test(test_evlog_store_load_keeps_positions),
      cmocka_unit_test(test_evlog_store_bad_reports_are_refused),
      cmocka_unit_test(test_evlog_store_incomplete_table_is_refused),
      cmocka_unit_test(test_evlog_store_out_of_order_is_corrupt),
      cmocka_unit_test(test_evlog_store_failed_read_recovers_nothing),
      cmocka_unit_test(test_evlog_store_refused_append_changes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
