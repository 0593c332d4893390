/*
 * Event log (wsp_evlog) over the memory store: offsets, epochs, reads in
 * both directions, retention by count, bytes and age on a fake clock,
 * meta_ttl, every case of the protocol's recovery rule, snapshots, reset
 * and clear, re-entrancy, and allocation failures.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsp/evlog.h>

#define S(lit) lit, sizeof(lit) - 1

/* ---- Recorder --------------------------------------------------------- */

#define REC_MAX 4096

struct got {
  uint64_t off[REC_MAX];
  uint64_t time[REC_MAX];
  char data[REC_MAX][24];
  char info[REC_MAX][24];
  size_t n;
  size_t stop_after; /* 0: never stop */
  int snap_seen;
  uint64_t snap_off;
  char snap_state[64];
  /* run inside the callback */
  struct wsp_evlog *ev;
  int inner_rc;
  int free_inside;
};

static void got_init(struct got *g) { memset(g, 0, sizeof(*g)); }

static void copy_str(char *dst, size_t cap, struct wsp_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  memcpy(dst, s.ptr, n);
  dst[n] = '\0';
}

static int on_event(const struct wsp_evlog_event *e, void *ud) {
  struct got *g = ud;
  assert_true(g->n < REC_MAX);
  g->off[g->n] = e->offset;
  g->time[g->n] = e->time;
  copy_str(g->data[g->n], sizeof(g->data[0]), e->data);
  copy_str(g->info[g->n], sizeof(g->info[0]), e->info);
  g->n++;
  if (g->ev) {
    g->inner_rc = wsp_evlog_append(g->ev, S("a"), 0, "x", 1, NULL, 0, NULL);
    if (g->free_inside)
      wsp_evlog_free(g->ev);
  }
  return g->stop_after && g->n >= g->stop_after;
}

static int on_snap(const struct wsp_evlog_snapshot *snap, void *ud) {
  struct got *g = ud;
  g->snap_seen++;
  g->snap_off = snap->offset;
  copy_str(g->snap_state, sizeof(g->snap_state), snap->state);
  return 0;
}

static struct wsp_evlog *open_log(const struct wsp_evlog_retention *r) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev = NULL;
  memset(&o, 0, sizeof(o));
  if (r)
    o.retention = *r;
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), 0);
  assert_non_null(ev);
  return ev;
}

/* Append "e<offset>" events to stream at time now. */
static void put_n(struct wsp_evlog *ev, const char *stream, int n,
                  uint64_t now) {
  int i;
  for (i = 0; i < n; i++) {
    struct wsp_evlog_position p;
    char buf[32];
    uint64_t off = 0;
    assert_int_equal(wsp_evlog_position(ev, stream, strlen(stream), &p), 0);
    snprintf(buf, sizeof(buf), "e%llu", (unsigned long long)p.offset + 1);
    assert_int_equal(wsp_evlog_append(ev, stream, strlen(stream), now, buf,
                                      strlen(buf), "pub", 3, &off),
                     0);
    assert_int_equal(off, p.offset + 1);
  }
}

static struct wsp_evlog_position pos_of(struct wsp_evlog *ev,
                                        const char *stream) {
  struct wsp_evlog_position p;
  assert_int_equal(wsp_evlog_position(ev, stream, strlen(stream), &p), 0);
  return p;
}

static void check_seq(const struct got *g, uint64_t first, size_t n,
                      int reverse) {
  size_t i;
  assert_int_equal(g->n, n);
  for (i = 0; i < n; i++) {
    char want[32];
    uint64_t off = reverse ? first - i : first + i;
    assert_int_equal(g->off[i], off);
    snprintf(want, sizeof(want), "e%llu", (unsigned long long)off);
    assert_string_equal(g->data[i], want);
  }
}

/* ---- Offsets and epochs ----------------------------------------------- */

static void test_evlog_offsets_and_epochs(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_position a, b, c;
  uint64_t off = 0;
  size_t i;
  (void)state;
  assert_int_equal(wsp_evlog_streams(ev), 0);
  /* An unknown stream is created by asking for its position. */
  a = pos_of(ev, "a");
  assert_int_equal(a.offset, 0);
  assert_int_equal(a.first, 1);
  assert_int_equal(strlen(a.epoch), WSP_EVLOG_EPOCH_LEN);
  for (i = 0; a.epoch[i]; i++)
    assert_true((a.epoch[i] >= '0' && a.epoch[i] <= '9') ||
                (a.epoch[i] >= 'a' && a.epoch[i] <= 'z') ||
                (a.epoch[i] >= 'A' && a.epoch[i] <= 'Z'));
  assert_int_equal(wsp_evlog_streams(ev), 1);
  put_n(ev, "a", 3, 10);
  b = pos_of(ev, "a");
  assert_int_equal(b.offset, 3);
  assert_int_equal(b.first, 1);
  assert_string_equal(a.epoch, b.epoch);
  /* Another stream counts on its own, with its own epoch. */
  assert_int_equal(wsp_evlog_append(ev, S("b"), 10, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 1);
  c = pos_of(ev, "b");
  assert_string_not_equal(c.epoch, b.epoch);
  /* Names are bytes: a NUL inside is part of the name. */
  assert_int_equal(wsp_evlog_append(ev, "b\0z", 3, 10, "y", 1, NULL, 0, &off),
                   0);
  assert_int_equal(off, 1);
  assert_int_equal(wsp_evlog_streams(ev), 3);
  wsp_evlog_free(ev);
}

static void test_evlog_argument_checks(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_position p;
  struct wsp_evlog_recovery rec;
  static char big[WSP_EVLOG_NAME_MAX + 1];
  struct got g;
  (void)state;
  got_init(&g);
  assert_int_equal(wsp_evlog_new(NULL, NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_append(NULL, S("a"), 0, "x", 1, NULL, 0, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_append(ev, "", 0, 0, "x", 1, NULL, 0, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_append(ev, NULL, 1, 0, "x", 1, NULL, 0, NULL),
                   WSP_ERR_INVAL);
  memset(big, 'n', sizeof(big));
  assert_int_equal(
      wsp_evlog_append(ev, big, sizeof(big), 0, "x", 1, NULL, 0, NULL),
      WSP_ERR_INVAL);
  assert_int_equal(
      wsp_evlog_append(ev, big, sizeof(big) - 1, 0, "x", 1, NULL, 0, NULL), 0);
  assert_int_equal(wsp_evlog_append(ev, S("a"), 0, NULL, 1, NULL, 0, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_append(ev, S("a"), 0, "x", 1, NULL, 2, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_append(ev, S("a"), 0, "x", WSP_EVLOG_EVENT_MAX + 1,
                                    NULL, 0, NULL),
                   WSP_ERR_TOO_BIG);
  /* Empty events are fine. */
  assert_int_equal(wsp_evlog_append(ev, S("a"), 0, NULL, 0, NULL, 0, NULL), 0);
  assert_int_equal(wsp_evlog_position(ev, S("a"), NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_read(ev, S("a"), NULL, 0, 5, 0, NULL, NULL, &p),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_read(ev, S("a"), NULL, 0, 5, 8, on_event, &g, &p),
                   WSP_ERR_INVAL);
  /* limit 0 without a callback: just the position and the epoch check. */
  assert_int_equal(wsp_evlog_read(ev, S("a"), NULL, 0, 0, 0, NULL, NULL, &p),
                   0);
  assert_int_equal(p.offset, 1);
  assert_int_equal(wsp_evlog_recover(ev, S("a"), 0, NULL, 10, NULL, NULL, &rec),
                   WSP_ERR_INVAL);
  assert_int_equal(
      wsp_evlog_recover(ev, S("a"), 0, NULL, 10, on_event, &g, NULL),
      WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_clear(ev, S("nope"), 0), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_evlog_reset(ev, S("nope"), 0), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_evlog_remove(ev, S("nope")), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_evlog_set_retention(ev, S("nope"), NULL),
                   WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_evlog_set_retention(ev, NULL, 0, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_tick(NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_sync(NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_next_deadline(NULL), WSP_NO_DEADLINE);
  assert_int_equal(wsp_evlog_streams(NULL), 0);
  wsp_evlog_free(ev);
  wsp_evlog_free(NULL);
  wsp_evlog_store_free(NULL);
}

/* ---- Reads ------------------------------------------------------------ */

static void test_evlog_read_forward_and_backward(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_position p;
  struct got g;
  (void)state;
  put_n(ev, "s", 10, 1);
  p = pos_of(ev, "s");

  got_init(&g); /* everything, oldest first */
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, WSP_EVLOG_NO_LIMIT, 0,
                                  on_event, &g, NULL),
                   10);
  check_seq(&g, 1, 10, 0);
  assert_string_equal(g.info[0], "pub");
  got_init(&g);
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), p.epoch, 0, 3, 0, on_event, &g, NULL), 3);
  check_seq(&g, 1, 3, 0);
  got_init(&g); /* after since */
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), "", 5, 100, 0, on_event, &g, NULL), 5);
  check_seq(&g, 6, 5, 0);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 5, 2, 0, on_event, &g, NULL), 2);
  check_seq(&g, 6, 2, 0);
  got_init(&g); /* at or past the top: nothing */
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 10, 100, 0, on_event, &g, NULL), 0);
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 99, 100, 0, on_event, &g, NULL), 0);

  got_init(&g); /* newest first from the top */
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, 3, WSP_EVLOG_REVERSE,
                                  on_event, &g, &p),
                   3);
  check_seq(&g, 10, 3, 1);
  assert_int_equal(p.offset, 10);
  got_init(&g); /* before since */
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 5, 100, WSP_EVLOG_REVERSE,
                                  on_event, &g, NULL),
                   4);
  check_seq(&g, 4, 4, 1);
  got_init(&g);
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 1, 100, WSP_EVLOG_REVERSE,
                                  on_event, &g, NULL),
                   0);
  got_init(&g); /* since beyond the top reads from the top */
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 50, 2, WSP_EVLOG_REVERSE,
                                  on_event, &g, NULL),
                   2);
  check_seq(&g, 10, 2, 1);

  got_init(&g); /* the callback stops the read */
  g.stop_after = 4;
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 0, 100, 0, on_event, &g, NULL), 4);
  check_seq(&g, 1, 4, 0);

  got_init(&g); /* a wrong epoch: an error, with the position */
  memset(&p, 0, sizeof(p));
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), "other", 0, 100, 0, on_event, &g, &p),
      WSP_ERR_EPOCH);
  assert_int_equal(g.n, 0);
  assert_int_equal(p.offset, 10);
  wsp_evlog_free(ev);
}

/* ---- Retention -------------------------------------------------------- */

static void test_evlog_retention_count(void **state) {
  struct wsp_evlog_retention r = {0};
  struct wsp_evlog *ev;
  struct wsp_evlog_position p;
  struct wsp_evlog_stats st;
  struct got g;
  (void)state;
  r.max_events = 5;
  ev = open_log(&r);
  put_n(ev, "s", 12, 1);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 12);
  assert_int_equal(p.first, 8);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 0, 100, 0, on_event, &g, NULL), 5);
  check_seq(&g, 8, 5, 0);
  got_init(&g); /* since before the oldest kept: from the oldest */
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 2, 100, 0, on_event, &g, NULL), 5);
  check_seq(&g, 8, 5, 0);
  got_init(&g);
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, 100, WSP_EVLOG_REVERSE,
                                  on_event, &g, NULL),
                   5);
  check_seq(&g, 12, 5, 1);
  wsp_evlog_get_stats(ev, &st);
  assert_int_equal(st.events, 5);
  assert_int_equal(st.expired, 7);
  assert_int_equal(st.appended, 12);
  assert_int_equal(st.streams, 1);
  /* Tightening the limit applies at once; the epoch stays. */
  r.max_events = 2;
  assert_int_equal(wsp_evlog_set_retention(ev, S("s"), &r), 0);
  assert_int_equal(pos_of(ev, "s").first, 11);
  assert_string_equal(pos_of(ev, "s").epoch, p.epoch);
  memset(&r, 0xff, sizeof(r));
  assert_int_equal(wsp_evlog_get_retention(ev, S("s"), &r), 0);
  assert_int_equal(r.max_events, 2);
  assert_int_equal(wsp_evlog_get_retention(ev, NULL, 0, &r), 0);
  assert_int_equal(r.max_events, 5);
  /* Back to the default (5): nothing comes back. */
  assert_int_equal(wsp_evlog_set_retention(ev, S("s"), NULL), 0);
  assert_int_equal(pos_of(ev, "s").first, 11);
  wsp_evlog_free(ev);
}

static void test_evlog_retention_bytes(void **state) {
  struct wsp_evlog_retention r = {0};
  struct wsp_evlog *ev;
  struct wsp_evlog_stats st;
  char data[68];
  int i;
  (void)state;
  /* Each event counts 68 + 0 + 32 = 100 bytes. */
  r.max_bytes = 350;
  ev = open_log(&r);
  memset(data, 'd', sizeof(data));
  for (i = 0; i < 10; i++)
    assert_int_equal(
        wsp_evlog_append(ev, S("s"), 0, data, sizeof(data), NULL, 0, NULL), 0);
  assert_int_equal(pos_of(ev, "s").first, 8);
  wsp_evlog_get_stats(ev, &st);
  assert_int_equal(st.bytes, 300);
  /* An event larger than the limit gets its offset and goes at once. */
  r.max_bytes = 50;
  assert_int_equal(wsp_evlog_set_retention(ev, NULL, 0, &r), 0);
  assert_int_equal(pos_of(ev, "s").first, 11);
  assert_int_equal(
      wsp_evlog_append(ev, S("s"), 0, data, sizeof(data), NULL, 0, NULL), 0);
  assert_int_equal(pos_of(ev, "s").offset, 11);
  assert_int_equal(pos_of(ev, "s").first, 12);
  wsp_evlog_free(ev);
}

static void test_evlog_retention_age_and_meta_ttl(void **state) {
  struct wsp_evlog_retention r = {0};
  struct wsp_evlog *ev;
  struct wsp_evlog_position p0, p;
  struct wsp_evlog_stats st;
  uint64_t t, off;
  (void)state;
  r.max_age = 1000;
  r.meta_ttl = 5000;
  ev = open_log(&r);
  for (t = 0; t < 5; t++)
    put_n(ev, "s", 1, 100 * t); /* times 0, 100, ..., 400 */
  p0 = pos_of(ev, "s");
  assert_int_equal(wsp_evlog_next_deadline(ev), 1000);
  assert_int_equal(wsp_evlog_tick(ev, 999), 0);
  assert_int_equal(pos_of(ev, "s").first, 1);
  assert_int_equal(wsp_evlog_tick(ev, 1000), 0);
  assert_int_equal(pos_of(ev, "s").first, 2);
  assert_int_equal(wsp_evlog_next_deadline(ev), 1100);
  assert_int_equal(wsp_evlog_tick(ev, 1350), 0);
  assert_int_equal(pos_of(ev, "s").first, 5);
  /* An append also expires what is due. */
  put_n(ev, "s", 1, 1400);
  assert_int_equal(pos_of(ev, "s").first, 6);
  /* All gone: top and epoch stay, for meta_ttl. */
  assert_int_equal(wsp_evlog_tick(ev, 2400), 0);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 6);
  assert_int_equal(p.first, 7);
  assert_string_equal(p.epoch, p0.epoch);
  assert_int_equal(wsp_evlog_next_deadline(ev), 2400 + 5000);
  assert_int_equal(wsp_evlog_tick(ev, 7399), 0);
  assert_int_equal(wsp_evlog_streams(ev), 1);
  assert_int_equal(wsp_evlog_tick(ev, 7400), 0);
  assert_int_equal(wsp_evlog_streams(ev), 0);
  assert_int_equal(wsp_evlog_next_deadline(ev), WSP_NO_DEADLINE);
  wsp_evlog_get_stats(ev, &st);
  assert_int_equal(st.streams_dropped, 1);
  assert_int_equal(st.expired, 6);
  /* A later append starts over with a new epoch. */
  assert_int_equal(wsp_evlog_append(ev, S("s"), 8000, "x", 1, NULL, 0, &off),
                   0);
  assert_int_equal(off, 1);
  assert_string_not_equal(pos_of(ev, "s").epoch, p0.epoch);
  wsp_evlog_free(ev);
}

static void test_evlog_time_never_goes_back(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct got g;
  (void)state;
  put_n(ev, "s", 1, 500);
  put_n(ev, "s", 1, 200);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 0, 10, 0, on_event, &g, NULL), 2);
  assert_int_equal(g.time[0], 500);
  assert_int_equal(g.time[1], 500);
  wsp_evlog_free(ev);
}

static void hook_retention(const char *stream, size_t len,
                           struct wsp_evlog_retention *r, void *ud) {
  int *calls = ud;
  (*calls)++;
  if (len >= 5 && memcmp(stream, "keep:", 5) == 0)
    r->max_events = 2;
}

static void test_evlog_retention_hook(void **state) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev;
  struct wsp_evlog_retention r;
  int calls = 0;
  (void)state;
  memset(&o, 0, sizeof(o));
  o.retention.max_events = 4;
  o.retention_for = hook_retention;
  o.user_data = &calls;
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), 0);
  put_n(ev, "keep:a", 6, 0);
  put_n(ev, "other", 6, 0);
  assert_int_equal(calls, 2);
  assert_int_equal(pos_of(ev, "keep:a").first, 5);
  assert_int_equal(pos_of(ev, "other").first, 3);
  assert_int_equal(wsp_evlog_get_retention(ev, S("keep:a"), &r), 0);
  assert_int_equal(r.max_events, 2);
  wsp_evlog_free(ev);
}

/* ---- Clear, reset, remove --------------------------------------------- */

static void test_evlog_clear_reset_remove(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_position p0, p;
  struct wsp_evlog_stats st;
  struct got g;
  uint64_t off;
  (void)state;
  put_n(ev, "s", 5, 0);
  p0 = pos_of(ev, "s");
  assert_int_equal(wsp_evlog_clear(ev, S("s"), 10), 0);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 5);
  assert_int_equal(p.first, 6);
  assert_string_equal(p.epoch, p0.epoch);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 0, 10, 0, on_event, &g, NULL), 0);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 10, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 6);

  assert_int_equal(wsp_evlog_reset(ev, S("s"), 20), 0);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 0);
  assert_int_equal(p.first, 1);
  assert_string_not_equal(p.epoch, p0.epoch);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 20, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 1);
  wsp_evlog_get_stats(ev, &st);
  assert_int_equal(st.new_epochs, 1);

  assert_int_equal(wsp_evlog_remove(ev, S("s")), 0);
  assert_int_equal(wsp_evlog_streams(ev), 0);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 30, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 1);
  wsp_evlog_free(ev);
}

/* ---- Recovery --------------------------------------------------------- */

struct rcase {
  const char *name;
  int retained; /* max_events of the stream (0: all) */
  uint64_t since;
  const char *epoch; /* "=" stands for the stream's epoch */
  size_t max;
  int recovered;
  int epoch_ok;
  uint64_t first; /* first event delivered */
  size_t count;
};

/* Stream "s" holds events 1..10 (or the last `retained` of them). */
static const struct rcase rcases[] = {
    {"missed some", 0, 3, "=", 300, 1, 1, 4, 7},
    {"missed one", 0, 9, "=", 300, 1, 1, 10, 1},
    {"missed none", 0, 10, "=", 300, 1, 1, 0, 0},
    {"missed all", 0, 0, "=", 300, 1, 1, 1, 10},
    {"no epoch (NULL) skips the check", 0, 3, NULL, 300, 1, 1, 4, 7},
    {"empty epoch skips the check", 0, 3, "", 300, 1, 1, 4, 7},
    {"wrong epoch", 0, 3, "nope", 300, 0, 0, 0, 0},
    {"wrong epoch at the top", 0, 10, "nope", 300, 0, 0, 0, 0},
    {"ahead of the top", 0, 11, "=", 300, 0, 1, 0, 0},
    {"max exactly the missed count", 0, 3, "=", 7, 1, 1, 4, 7},
    {"truncated by max", 0, 3, "=", 6, 0, 1, 0, 0},
    {"max 0 with nothing missed", 0, 10, "=", 0, 1, 1, 0, 0},
    {"max 0 with something missed", 0, 9, "=", 0, 0, 1, 0, 0},
    {"oldest kept is since+1", 5, 5, "=", 300, 1, 1, 6, 5},
    {"truncated by retention", 5, 4, "=", 300, 0, 1, 0, 0},
    {"retention, nothing missed", 5, 10, "=", 300, 1, 1, 0, 0},
};

static void test_evlog_recover_truth_table(void **state) {
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(rcases); i++) {
    const struct rcase *c = &rcases[i];
    struct wsp_evlog_retention r = {0};
    struct wsp_evlog_recovery out;
    struct wsp_evlog *ev;
    struct wsp_evlog_position p;
    struct got g;
    size_t k;
    r.max_events = (uint64_t)c->retained;
    ev = open_log(&r);
    put_n(ev, "s", 10, 0);
    p = pos_of(ev, "s");
    got_init(&g);
    T_CHECK(bad, c->name,
            wsp_evlog_recover(ev, S("s"), c->since,
                              c->epoch && strcmp(c->epoch, "=") == 0 ? p.epoch
                                                                     : c->epoch,
                              c->max, on_event, &g, &out) == 0);
    T_CHECK(bad, c->name, out.recovered == c->recovered);
    T_CHECK(bad, c->name, out.epoch_ok == c->epoch_ok);
    T_CHECK(bad, c->name, out.count == c->count);
    T_CHECK(bad, c->name, g.n == c->count);
    T_CHECK(bad, c->name, out.pos.offset == 10);
    T_CHECK(bad, c->name, strcmp(out.pos.epoch, p.epoch) == 0);
    for (k = 0; k < g.n && k < c->count; k++)
      T_CHECK(bad, c->name, g.off[k] == c->first + k);
    wsp_evlog_free(ev);
  }
  assert_int_equal(bad, 0);
}

static void test_evlog_recover_unknown_and_empty(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_recovery out;
  struct got g;
  (void)state;
  got_init(&g);
  /* A stream nobody wrote to: offset 0 is its top. */
  assert_int_equal(
      wsp_evlog_recover(ev, S("new"), 0, "", 300, on_event, &g, &out), 0);
  assert_int_equal(out.recovered, 1);
  assert_int_equal(out.pos.offset, 0);
  assert_int_equal(strlen(out.pos.epoch), WSP_EVLOG_EPOCH_LEN);
  /* Its epoch is kept: the same reader recovers with it next time. */
  put_n(ev, "new", 2, 0);
  assert_int_equal(wsp_evlog_recover(ev, S("new"), 0, out.pos.epoch, 300,
                                     on_event, &g, &out),
                   0);
  assert_int_equal(out.recovered, 1);
  assert_int_equal(g.n, 2);
  /* After a clear the reader at the top recovers, a reader behind not. */
  assert_int_equal(wsp_evlog_clear(ev, S("new"), 0), 0);
  got_init(&g);
  assert_int_equal(wsp_evlog_recover(ev, S("new"), 2, out.pos.epoch, 300,
                                     on_event, &g, &out),
                   0);
  assert_int_equal(out.recovered, 1);
  assert_int_equal(wsp_evlog_recover(ev, S("new"), 1, out.pos.epoch, 300,
                                     on_event, &g, &out),
                   0);
  assert_int_equal(out.recovered, 0);
  assert_int_equal(g.n, 0);
  /* After a reset the old epoch no longer matches. */
  {
    char old[WSP_EVLOG_EPOCH_MAX + 1];
    strcpy(old, out.pos.epoch);
    assert_int_equal(wsp_evlog_reset(ev, S("new"), 0), 0);
    assert_int_equal(
        wsp_evlog_recover(ev, S("new"), 0, old, 300, on_event, &g, &out), 0);
    assert_int_equal(out.recovered, 0);
    assert_int_equal(out.epoch_ok, 0);
  }
  wsp_evlog_free(ev);
}

/* ---- Snapshots -------------------------------------------------------- */

static void test_evlog_snapshots(void **state) {
  struct wsp_evlog_retention r = {0};
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_position p;
  struct got g;
  (void)state;
  put_n(ev, "s", 10, 0);
  p = pos_of(ev, "s");
  /* None yet: an empty state at 0, then every event. */
  got_init(&g);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, NULL), 10);
  assert_int_equal(g.snap_seen, 1);
  assert_int_equal(g.snap_off, 0);
  assert_string_equal(g.snap_state, "");
  check_seq(&g, 1, 10, 0);

  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), p.epoch, 5, 7, "five", 4),
                   0);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, &p), 5);
  assert_int_equal(g.snap_off, 5);
  assert_string_equal(g.snap_state, "five");
  check_seq(&g, 6, 5, 0);
  /* A newer one replaces it. */
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 10, 8, "ten", 3),
                   0);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, NULL), 0);
  assert_string_equal(g.snap_state, "ten");
  assert_int_equal(g.n, 0);
  /* Checks. */
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), "nope", 5, 0, "x", 1),
                   WSP_ERR_EPOCH);
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 11, 0, "x", 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 5, 0, NULL, 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_evlog_snapshot_get(ev, S("s"), NULL, on_event, &g, NULL),
                   WSP_ERR_INVAL);
  /* Back to 5, then retention drops event 6: the snapshot cannot be
   * brought up to date, and nothing is delivered. */
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 5, 9, "five", 4),
                   0);
  r.max_events = 4;
  assert_int_equal(wsp_evlog_set_retention(ev, S("s"), &r), 0);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, NULL),
      WSP_ERR_EXPIRED);
  assert_int_equal(g.snap_seen, 0);
  assert_int_equal(g.n, 0);
  /* Without a snapshot, a stream that lost its first events too. */
  put_n(ev, "t", 6, 0);
  assert_int_equal(wsp_evlog_set_retention(ev, S("t"), &r), 0);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("t"), on_snap, on_event, &g, NULL),
      WSP_ERR_EXPIRED);
  /* A snapshot at 7 with events 7..10 kept: fine. */
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 7, 9, "seven", 5),
                   0);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, NULL), 3);
  check_seq(&g, 8, 3, 0);
  /* A reset drops it. */
  assert_int_equal(wsp_evlog_reset(ev, S("s"), 0), 0);
  put_n(ev, "s", 2, 0);
  got_init(&g);
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("s"), on_snap, on_event, &g, NULL), 2);
  assert_int_equal(g.snap_off, 0);
  wsp_evlog_free(ev);
}

/* ---- Re-entrancy ------------------------------------------------------ */

static void test_evlog_callbacks_cannot_recurse(void **state) {
  struct wsp_evlog *ev = open_log(NULL);
  struct wsp_evlog_recovery out;
  struct got g;
  (void)state;
  put_n(ev, "a", 3, 0);
  got_init(&g);
  g.ev = ev;
  assert_int_equal(
      wsp_evlog_read(ev, S("a"), NULL, 0, 10, 0, on_event, &g, NULL), 3);
  assert_int_equal(g.inner_rc, WSP_ERR_RECURSIVE);
  got_init(&g);
  g.ev = ev;
  assert_int_equal(
      wsp_evlog_recover(ev, S("a"), 1, NULL, 10, on_event, &g, &out), 0);
  assert_int_equal(out.count, 2);
  assert_int_equal(g.inner_rc, WSP_ERR_RECURSIVE);
  assert_int_equal(pos_of(ev, "a").offset, 3);
  wsp_evlog_free(ev);
}

static void test_evlog_free_inside_callback(void **state) {
  struct wsp_evlog *ev;
  struct wsp_evlog_recovery out;
  struct tfail fa;
  struct wsp_evlog_options o;
  struct got g;
  (void)state;
  tfail_init(&fa, 0, 0);
  memset(&o, 0, sizeof(o));
  o.mem = &fa.mem;
  /* read: the free waits for the read to return, which stops at once */
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), 0);
  put_n(ev, "a", 5, 0);
  got_init(&g);
  g.ev = ev;
  g.free_inside = 1;
  assert_int_equal(
      wsp_evlog_read(ev, S("a"), NULL, 0, 10, 0, on_event, &g, NULL), 1);
  assert_int_equal(fa.live, 0);
  /* recover */
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), 0);
  put_n(ev, "a", 5, 0);
  got_init(&g);
  g.ev = ev;
  g.free_inside = 1;
  assert_int_equal(
      wsp_evlog_recover(ev, S("a"), 0, NULL, 10, on_event, &g, &out), 0);
  assert_int_equal(out.count, 1);
  assert_int_equal(fa.live, 0);
  assert_int_equal(fa.bad_frees, 0);
}

/* ---- Allocation failures ---------------------------------------------- */

/* A scenario that allocates on every path; returns the first error. */
static int scenario(const struct wsp_mem *mem, uint64_t *top) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev = NULL;
  struct wsp_evlog_recovery out;
  struct wsp_evlog_position p;
  struct got g;
  int rc, i;
  memset(&o, 0, sizeof(o));
  o.mem = mem;
  o.retention.max_events = 6;
  if ((rc = wsp_evlog_new(&ev, &o, 0)) != 0)
    return rc;
  for (i = 0; i < 20; i++) {
    char name[8];
    snprintf(name, sizeof(name), "s%d", i % 3);
    if ((rc = wsp_evlog_append(ev, name, strlen(name), (uint64_t)i, "data", 4,
                               "info", 4, NULL)) != 0)
      goto out;
  }
  got_init(&g);
  if ((rc = wsp_evlog_snapshot_put(ev, S("s0"), NULL, 5, 0, "st", 2)) != 0 ||
      (rc = (int)wsp_evlog_snapshot_get(ev, S("s0"), on_snap, on_event, &g,
                                        NULL)) < 0 ||
      (rc = wsp_evlog_recover(ev, S("s1"), 2, NULL, 100, on_event, &g, &out)) !=
          0 ||
      (rc = wsp_evlog_position(ev, S("fresh"), &p)) != 0)
    goto out;
  rc = 0;
out:
  if (ev && wsp_evlog_position(ev, S("s0"), &p) == 0)
    *top = p.offset;
  wsp_evlog_free(ev);
  return rc;
}

static void test_evlog_allocation_failures(void **state) {
  struct tfail fa;
  long n, total;
  uint64_t top;
  (void)state;
  tfail_init(&fa, 0, 0);
  assert_int_equal(scenario(&fa.mem, &top), 0);
  assert_int_equal(fa.live, 0);
  total = fa.calls;
  assert_true(total > 10);
  for (n = 1; n <= total; n++) {
    int rc;
    tfail_init(&fa, n, 0);
    rc = scenario(&fa.mem, &top);
    assert_true(rc == 0 || rc == WSP_ERR_NOMEM);
    assert_int_equal(fa.live, 0);
    assert_int_equal(fa.bad_frees, 0);
    tfail_init(&fa, n, 1);
    rc = scenario(&fa.mem, &top);
    assert_true(rc == 0 || rc == WSP_ERR_NOMEM);
    assert_int_equal(fa.live, 0);
  }
}

/* A failed append changes nothing: the next one gets the same offset. */
static void test_evlog_failed_append_keeps_offsets(void **state) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev;
  struct tfail fa;
  uint64_t off;
  int i, failures = 0;
  (void)state;
  tfail_init(&fa, 0, 0);
  memset(&o, 0, sizeof(o));
  o.mem = &fa.mem;
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), 0);
  for (i = 1; i <= 40; i++) {
    uint64_t want = pos_of(ev, "s").offset + 1;
    fa.fail_at = fa.calls + 1 + (i % 2); /* fail the next, or the one after */
    if (wsp_evlog_append(ev, S("s"), 0, "x", 1, NULL, 0, &off) == 0) {
      assert_int_equal(off, want);
    } else {
      failures++;
      assert_int_equal(pos_of(ev, "s").offset, want - 1);
    }
  }
  fa.fail_at = 0;
  assert_true(failures > 0);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 0, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, pos_of(ev, "s").offset);
  wsp_evlog_free(ev);
  assert_int_equal(fa.live, 0);
}

/* ---- Many streams ----------------------------------------------------- */

static void test_evlog_many_streams(void **state) {
  struct wsp_evlog_retention r = {0};
  struct wsp_evlog *ev;
  int i;
  (void)state;
  r.max_age = 100;
  r.meta_ttl = 100;
  ev = open_log(&r);
  for (i = 0; i < 3000; i++) {
    char name[16];
    snprintf(name, sizeof(name), "ch%d", i);
    assert_int_equal(wsp_evlog_append(ev, name, strlen(name), (uint64_t)i, "x",
                                      1, NULL, 0, NULL),
                     0);
  }
  assert_int_equal(wsp_evlog_streams(ev), 3000);
  assert_int_equal(wsp_evlog_next_deadline(ev), 100);
  /* Events go at i + 100, streams at i + 200. */
  assert_int_equal(wsp_evlog_tick(ev, 1599), 0);
  assert_int_equal(wsp_evlog_streams(ev), 3000 - 1400);
  assert_int_equal(wsp_evlog_tick(ev, 10000), 0);
  assert_int_equal(wsp_evlog_streams(ev), 0);
  wsp_evlog_free(ev);
}

/* After a crowd of streams expires (and after removals), the table and
 * the deadline heap give back what the crowd needed: the log's memory
 * comes back near where it was, and it grows again for the next crowd. */
static void test_evlog_tables_shrink(void **state) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev;
  struct tfail fa;
  size_t empty, crowd;
  int i, round;
  (void)state;
  tfail_init(&fa, 0, 0);
  memset(&o, 0, sizeof(o));
  o.mem = &fa.mem;
  o.retention.max_age = 100;
  o.retention.meta_ttl = 100;
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), 0);
  empty = fa.live_bytes;
  for (round = 0; round < 2; round++) {
    uint64_t t0 = (uint64_t)round * 100000;
    for (i = 0; i < 5000; i++) {
      char name[16];
      snprintf(name, sizeof(name), "ch%d", i);
      assert_int_equal(
          wsp_evlog_append(ev, name, strlen(name), t0, "x", 1, NULL, 0, NULL),
          0);
    }
    crowd = fa.live_bytes;
    /* half by removal, the rest by expiry */
    for (i = 0; i < 5000; i += 2) {
      char name[16];
      snprintf(name, sizeof(name), "ch%d", i);
      assert_int_equal(wsp_evlog_remove(ev, name, strlen(name)), 0);
    }
    assert_int_equal(wsp_evlog_tick(ev, t0 + 10000), 0);
    assert_int_equal(wsp_evlog_streams(ev), 0);
    /* the table of 8192 slots and a heap of as many went with them */
    assert_true(crowd > empty + 100000);
    if (fa.live_bytes > empty + 2048)
      fail_msg("round %d: %zu bytes live after the crowd, %zu before", round,
               fa.live_bytes, empty);
  }
  wsp_evlog_free(ev);
  assert_int_equal(fa.live, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_evlog_offsets_and_epochs),
      cmocka_unit_test(test_evlog_argument_checks),
      cmocka_unit_test(test_evlog_read_forward_and_backward),
      cmocka_unit_test(test_evlog_retention_count),
      cmocka_unit_test(test_evlog_retention_bytes),
      cmocka_unit_test(test_evlog_retention_age_and_meta_ttl),
      cmocka_unit_test(test_evlog_time_never_goes_back),
      cmocka_unit_test(test_evlog_retention_hook),
      cmocka_unit_test(test_evlog_clear_reset_remove),
      cmocka_unit_test(test_evlog_recover_truth_table),
      cmocka_unit_test(test_evlog_recover_unknown_and_empty),
      cmocka_unit_test(test_evlog_snapshots),
      cmocka_unit_test(test_evlog_callbacks_cannot_recurse),
      cmocka_unit_test(test_evlog_free_inside_callback),
      cmocka_unit_test(test_evlog_allocation_failures),
      cmocka_unit_test(test_evlog_failed_append_keeps_offsets),
      cmocka_unit_test(test_evlog_many_streams),
      cmocka_unit_test(test_evlog_tables_shrink),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
