/*
 * The event log's file store: the contract of the memory store, offsets
 * and epochs across a restart, a torn or corrupted tail cut at every byte,
 * index seeks over many segments, rotation and retention deleting files,
 * I/O errors (a file where a directory belongs, a file size limit, a
 * failed fsync), the fsync policies, loss detection after a crash (DIRTY,
 * an unclean STATE from another boot) and SIGKILL during appends with
 * fsync always.
 * Each test works in its own directory under $TMPDIR.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wsp/evlog.h>

#define S(lit) lit, sizeof(lit) - 1
#define SEG1 "streams/s/00000000000000000001.seg"

/* ---- Directories and files -------------------------------------------- */

struct ctx {
  char dir[512];
};

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (flag == FTW_DP || flag == FTW_D)
    chmod(path, 0755);
  return remove(path);
}

static int setup(void **state) {
  struct ctx *c = calloc(1, sizeof(*c));
  const char *tmp = getenv("TMPDIR");
  if (!c)
    return -1;
  snprintf(c->dir, sizeof(c->dir), "%s/wsp-evlog-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(c->dir)) {
    free(c);
    return -1;
  }
  *state = c;
  return 0;
}

static int teardown(void **state) {
  struct ctx *c = *state;
  nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(c);
  return 0;
}

static void path_in(char *out, size_t cap, const struct ctx *c,
                    const char *rel) {
  assert_true((size_t)snprintf(out, cap, "%s/%s", c->dir, rel) < cap);
}

static uint8_t *slurp(const struct ctx *c, const char *rel, size_t *len) {
  char path[1024];
  struct stat st;
  uint8_t *buf;
  FILE *f;
  path_in(path, sizeof(path), c, rel);
  assert_int_equal(stat(path, &st), 0);
  buf = malloc((size_t)st.st_size + 1);
  assert_non_null(buf);
  f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
  fclose(f);
  *len = (size_t)st.st_size;
  return buf;
}

static void spill(const struct ctx *c, const char *rel, const void *buf,
                  size_t len) {
  char path[1024];
  FILE *f;
  path_in(path, sizeof(path), c, rel);
  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, len, f), len);
  fclose(f);
}

static int exists(const struct ctx *c, const char *rel) {
  char path[1024];
  struct stat st;
  path_in(path, sizeof(path), c, rel);
  return stat(path, &st) == 0;
}

/* Files in dir/rel ending in ext. */
static size_t count_files(const struct ctx *c, const char *rel,
                          const char *ext) {
  char cmd[1200], path[1024];
  size_t n = 0;
  FILE *p;
  char line[512];
  path_in(path, sizeof(path), c, rel);
  snprintf(cmd, sizeof(cmd), "ls '%s'", path);
  p = popen(cmd, "r");
  assert_non_null(p);
  while (fgets(line, sizeof(line), p)) {
    size_t l = strlen(line);
    if (l && line[l - 1] == '\n')
      line[--l] = '\0';
    if (l >= strlen(ext) && strcmp(line + l - strlen(ext), ext) == 0)
      n++;
  }
  pclose(p);
  return n;
}

/* ---- Logs ------------------------------------------------------------- */

struct fopts {
  int fsync;
  uint64_t segment_bytes;
  uint32_t index_bytes;
  size_t write_buffer;
  uint32_t max_open_files;
  struct wsp_evlog_retention ret;
  uint64_t max_streams;
};

static int try_open(const struct ctx *c, const struct fopts *fo, uint64_t now,
                    struct wsp_evlog **pev) {
  struct wsp_evlog_file_options o;
  struct wsp_evlog_options lo;
  struct wsp_evlog_store *st;
  int rc;
  memset(&o, 0, sizeof(o));
  memset(&lo, 0, sizeof(lo));
  if (fo) {
    o.fsync = fo->fsync;
    o.segment_bytes = fo->segment_bytes;
    o.index_bytes = fo->index_bytes;
    o.write_buffer = fo->write_buffer;
    o.max_open_files = fo->max_open_files;
    lo.retention = fo->ret;
    lo.max_streams = fo->max_streams;
  }
  o.interval = 1000;
  rc = wsp_evlog_file_store_new(&st, c->dir, &o, NULL);
  if (rc != 0)
    return rc;
  lo.store = st;
  return wsp_evlog_new(pev, &lo, now);
}

static struct wsp_evlog *open_at(const struct ctx *c, const struct fopts *fo,
                                 uint64_t now) {
  struct wsp_evlog *ev = NULL;
  assert_int_equal(try_open(c, fo, now, &ev), 0);
  assert_non_null(ev);
  return ev;
}

static struct fopts policy(int fsync) {
  struct fopts fo;
  memset(&fo, 0, sizeof(fo));
  fo.fsync = fsync;
  return fo;
}

/* The payload of event off in the tests: its length varies. */
static size_t payload(uint64_t off, char *buf, size_t cap) {
  size_t n = (size_t)(off * 7 % 90) + 3, i;
  assert_true(n < cap);
  for (i = 0; i < n; i++)
    buf[i] = (char)('a' + (off + i) % 26);
  buf[0] = (char)('0' + off % 10);
  return n;
}

static void put(struct wsp_evlog *ev, const char *stream, uint64_t n,
                uint64_t now) {
  uint64_t i;
  for (i = 0; i < n; i++) {
    struct wsp_evlog_position p;
    char buf[128];
    uint64_t off;
    size_t len;
    assert_int_equal(wsp_evlog_position(ev, stream, strlen(stream), &p), 0);
    len = payload(p.offset + 1, buf, sizeof(buf));
    assert_int_equal(wsp_evlog_append(ev, stream, strlen(stream), now, buf, len,
                                      "pub", 3, &off),
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

struct seen {
  uint64_t first, last, n;
  int step;
  int bad;
};

static int check_event(const struct wsp_evlog_event *e, void *ud) {
  struct seen *s = ud;
  char buf[128];
  size_t len = payload(e->offset, buf, sizeof(buf));
  if (s->n == 0)
    s->first = e->offset;
  else if (e->offset != s->last + (uint64_t)(int64_t)s->step)
    s->bad++;
  s->last = e->offset;
  s->n++;
  if (e->data.len != len || memcmp(e->data.ptr, buf, len) != 0 ||
      e->info.len != 3 || memcmp(e->info.ptr, "pub", 3) != 0)
    s->bad++;
  return 0;
}

/* Read a stream both ways and check every event; returns the count. */
static uint64_t verify(struct wsp_evlog *ev, const char *stream, uint64_t first,
                       uint64_t top) {
  struct seen s;
  long n;
  memset(&s, 0, sizeof(s));
  s.step = 1;
  n = wsp_evlog_read(ev, stream, strlen(stream), NULL, 0, WSP_EVLOG_NO_LIMIT, 0,
                     check_event, &s, NULL);
  assert_int_equal(n, (long)(top + 1 - first));
  assert_int_equal(s.bad, 0);
  if (n) {
    assert_int_equal(s.first, first);
    assert_int_equal(s.last, top);
  }
  memset(&s, 0, sizeof(s));
  s.step = -1;
  n = wsp_evlog_read(ev, stream, strlen(stream), NULL, 0, WSP_EVLOG_NO_LIMIT,
                     WSP_EVLOG_REVERSE, check_event, &s, NULL);
  assert_int_equal(n, (long)(top + 1 - first));
  assert_int_equal(s.bad, 0);
  return (uint64_t)n;
}

static struct wsp_evlog_stats stats_of(struct wsp_evlog *ev) {
  struct wsp_evlog_stats st;
  wsp_evlog_get_stats(ev, &st);
  return st;
}

/* ---- The contract, on both stores ------------------------------------- */

static int count_cb(const struct wsp_evlog_event *e, void *ud) {
  (void)e;
  (*(int *)ud)++;
  return 0;
}

static int snap_cb(const struct wsp_evlog_snapshot *snap, void *ud) {
  uint64_t *off = ud;
  *off = snap->offset;
  return 0;
}

static int snap_count_cb(const struct wsp_evlog_event *e, void *ud) {
  (void)e;
  (void)ud;
  return 0;
}

static void contract(struct wsp_evlog *ev) {
  struct wsp_evlog_retention r = {0};
  struct wsp_evlog_recovery rec;
  struct wsp_evlog_position p;
  uint64_t snap_off = 99;
  int n = 0;
  put(ev, "c", 30, 100);
  p = pos_of(ev, "c");
  assert_int_equal(p.offset, 30);
  verify(ev, "c", 1, 30);
  /* recovery */
  assert_int_equal(
      wsp_evlog_recover(ev, S("c"), 20, p.epoch, 300, count_cb, &n, &rec), 0);
  assert_int_equal(rec.recovered, 1);
  assert_int_equal(n, 10);
  n = 0;
  assert_int_equal(
      wsp_evlog_recover(ev, S("c"), 20, "x", 300, count_cb, &n, &rec), 0);
  assert_int_equal(rec.recovered, 0);
  assert_int_equal(n, 0);
  assert_int_equal(
      wsp_evlog_recover(ev, S("c"), 20, p.epoch, 9, count_cb, &n, &rec), 0);
  assert_int_equal(rec.recovered, 0);
  /* retention by count */
  r.max_events = 8;
  assert_int_equal(wsp_evlog_set_retention(ev, S("c"), &r), 0);
  assert_int_equal(pos_of(ev, "c").first, 23);
  verify(ev, "c", 23, 30);
  assert_int_equal(
      wsp_evlog_recover(ev, S("c"), 21, p.epoch, 300, count_cb, &n, &rec), 0);
  assert_int_equal(rec.recovered, 0);
  /* snapshots */
  assert_int_equal(
      wsp_evlog_snapshot_put(ev, S("c"), p.epoch, 25, 100, "state", 5), 0);
  assert_int_equal(wsp_evlog_snapshot_get(ev, S("c"), snap_cb, snap_count_cb,
                                          &snap_off, NULL),
                   5);
  assert_int_equal(snap_off, 25);
  /* age and meta_ttl on the fake clock */
  r.max_events = 0;
  r.max_age = 1000;
  r.meta_ttl = 1000;
  assert_int_equal(wsp_evlog_set_retention(ev, S("c"), &r), 0);
  assert_int_equal(wsp_evlog_next_deadline(ev) <= 1100, 1);
  assert_int_equal(wsp_evlog_tick(ev, 1100), 0);
  p = pos_of(ev, "c");
  assert_int_equal(p.offset, 30);
  assert_int_equal(p.first, 31);
  put(ev, "c", 1, 1200);
  assert_int_equal(pos_of(ev, "c").offset, 31);
  verify(ev, "c", 31, 31);
  /* clear, reset */
  assert_int_equal(wsp_evlog_clear(ev, S("c"), 1300), 0);
  assert_int_equal(pos_of(ev, "c").first, 32);
  assert_int_equal(wsp_evlog_reset(ev, S("c"), 1300), 0);
  assert_int_equal(pos_of(ev, "c").offset, 0);
  assert_string_not_equal(pos_of(ev, "c").epoch, p.epoch);
  put(ev, "c", 3, 1400);
  verify(ev, "c", 1, 3);
  assert_int_equal(wsp_evlog_remove(ev, S("c")), 0);
}

static void test_evlog_file_contract_memory(void **state) {
  struct wsp_evlog *ev;
  (void)state;
  assert_int_equal(wsp_evlog_new(&ev, NULL, 0), 0);
  contract(ev);
  wsp_evlog_free(ev);
}

static void test_evlog_file_contract(void **state) {
  struct ctx *c = *state;
  int pol;
  for (pol = WSP_EVLOG_FSYNC_ALWAYS; pol <= WSP_EVLOG_FSYNC_NEVER; pol++) {
    struct fopts fo = policy(pol);
    struct wsp_evlog *ev;
    fo.segment_bytes = 512; /* several segments */
    ev = open_at(c, &fo, 0);
    contract(ev);
    wsp_evlog_free(ev);
    assert_false(exists(c, "streams/c"));
  }
}

/* ---- Restart ---------------------------------------------------------- */

/* max_streams refuses new streams, never the streams a store holds. */
static void test_evlog_file_max_streams(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_position p;
  struct wsp_evlog_stats st;
  struct wsp_evlog *ev = open_at(c, &fo, 1000);
  uint64_t off;
  put(ev, "one", 2, 1000);
  put(ev, "two", 1, 1000);
  put(ev, "three", 1, 1000);
  wsp_evlog_free(ev);
  fo.max_streams = 2;
  ev = open_at(c, &fo, 2000);
  wsp_evlog_get_stats(ev, &st);
  assert_int_equal(st.streams, 3);
  assert_int_equal(wsp_evlog_position(ev, "four", 4, &p), WSP_ERR_LIMIT);
  assert_int_equal(wsp_evlog_append(ev, "four", 4, 2000, "x", 1, NULL, 0, &off),
                   WSP_ERR_LIMIT);
  assert_int_equal(wsp_evlog_append(ev, "one", 3, 2000, "x", 1, NULL, 0, &off),
                   0);
  assert_int_equal(off, 3);
  assert_int_equal(wsp_evlog_remove(ev, "two", 3), 0);
  assert_int_equal(wsp_evlog_remove(ev, "three", 5), 0);
  assert_int_equal(wsp_evlog_position(ev, "four", 4, &p), 0);
  assert_int_equal(p.offset, 0);
  wsp_evlog_get_stats(ev, &st);
  assert_int_equal(st.streams, 2);
  assert_int_equal(st.streams_refused, 2);
  wsp_evlog_free(ev);
}

static void test_evlog_file_restart_keeps_offsets_and_epochs(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_position a, b, x, y;
  struct wsp_evlog_stats st;
  struct wsp_evlog *ev;
  uint64_t snap_off = 0;
  /* names that need escaping, and one too long for a file name */
  static const char odd[] = "a/b%c\x01.\xff";
  char longname[900];
  memset(longname, 'L', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  longname[5] = '/';

  ev = open_at(c, &fo, 0);
  put(ev, "s", 100, 10);
  put(ev, odd, 5, 10);
  put(ev, ".hidden", 2, 10);
  put(ev, longname, 3, 10);
  assert_int_equal(pos_of(ev, "empty").offset, 0);
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 60, 10, "snap", 4),
                   0);
  a = pos_of(ev, "s");
  x = pos_of(ev, longname);
  st = stats_of(ev);
  assert_int_equal(st.streams, 5);
  wsp_evlog_free(ev);
  assert_true(exists(c, "streams/a%2Fb%25c%01.%FF/META"));
  assert_true(exists(c, "streams/%2Ehidden/META"));

  ev = open_at(c, &fo, 20);
  st = stats_of(ev);
  assert_int_equal(st.streams, 5);
  assert_int_equal(st.new_epochs, 0);
  b = pos_of(ev, "s");
  assert_int_equal(b.offset, 100);
  assert_string_equal(a.epoch, b.epoch);
  verify(ev, "s", 1, 100);
  verify(ev, odd, 1, 5);
  verify(ev, ".hidden", 1, 2);
  y = pos_of(ev, longname);
  assert_string_equal(x.epoch, y.epoch);
  verify(ev, longname, 1, 3);
  assert_int_equal(pos_of(ev, "empty").offset, 0);
  assert_int_equal(wsp_evlog_snapshot_get(ev, S("s"), snap_cb, snap_count_cb,
                                          &snap_off, NULL),
                   40);
  assert_int_equal(snap_off, 60);
  put(ev, "s", 1, 20); /* offsets go on */
  assert_int_equal(pos_of(ev, "s").offset, 101);
  wsp_evlog_free(ev);
}

/* A stream whose META is damaged is skipped and counted; using its name
 * again starts a new stream (a new epoch, offsets from 1) in place of
 * the old files. */
static void test_evlog_file_corrupt_meta(void **state) {
  struct ctx *c = *state;
  struct wsp_evlog_position p0, p;
  struct wsp_evlog *ev = open_at(c, NULL, 0);
  put(ev, "s", 3, 0);
  put(ev, "t", 2, 0);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  spill(c, "streams/s/META", "wsp-evlog-stream 1\nepoch \n", 25);
  ev = open_at(c, NULL, 10);
  assert_int_equal(wsp_evlog_streams(ev), 1);
  assert_int_equal(stats_of(ev).corrupt, 1);
  assert_int_equal(pos_of(ev, "t").offset, 2);
  put(ev, "s", 1, 10);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 1);
  assert_string_not_equal(p.epoch, p0.epoch);
  verify(ev, "s", 1, 1);
  wsp_evlog_free(ev);
  ev = open_at(c, NULL, 20);
  assert_int_equal(wsp_evlog_streams(ev), 2);
  assert_string_equal(pos_of(ev, "s").epoch, p.epoch);
  verify(ev, "s", 1, 1);
  wsp_evlog_free(ev);
}

/* A META that names another stream than its directory's: the directory
 * is skipped and counted when opening, and the stream whose directory it
 * is starts again with a new epoch at its next use instead of failing
 * for good; the stream named keeps its own directory. */
static void test_evlog_file_meta_names_other_stream(void **state) {
  struct ctx *c = *state;
  struct wsp_evlog_position s0, t0, p;
  struct wsp_evlog *ev = open_at(c, NULL, 0);
  uint8_t *meta;
  size_t mlen;
  uint64_t off;
  put(ev, "s", 3, 0);
  put(ev, "t", 2, 0);
  s0 = pos_of(ev, "s");
  t0 = pos_of(ev, "t");
  wsp_evlog_free(ev);
  meta = slurp(c, "streams/t/META", &mlen);
  spill(c, "streams/s/META", meta, mlen);
  free(meta);

  ev = open_at(c, NULL, 10);
  assert_int_equal(wsp_evlog_streams(ev), 1);
  assert_int_equal(stats_of(ev).corrupt, 1);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 10, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 1);
  p = pos_of(ev, "s");
  assert_string_not_equal(p.epoch, s0.epoch);
  assert_string_not_equal(p.epoch, t0.epoch);
  assert_int_equal(pos_of(ev, "t").offset, 2);
  assert_string_equal(pos_of(ev, "t").epoch, t0.epoch);
  verify(ev, "t", 1, 2);
  put(ev, "t", 1, 10);
  wsp_evlog_free(ev);

  ev = open_at(c, NULL, 20); /* both are whole again */
  assert_int_equal(wsp_evlog_streams(ev), 2);
  assert_int_equal(stats_of(ev).corrupt, 0);
  assert_int_equal(stats_of(ev).new_epochs, 0);
  assert_int_equal(pos_of(ev, "s").offset, 1);
  assert_string_equal(pos_of(ev, "s").epoch, p.epoch);
  verify(ev, "t", 1, 3);
  assert_string_equal(pos_of(ev, "t").epoch, t0.epoch);
  wsp_evlog_free(ev);

  /* The same when the name in META is held by no stream at all. */
  spill(c, "streams/s/META",
        S("wsp-evlog-stream 1\nepoch abcdefgh\nname 7a7a\n"));
  ev = open_at(c, NULL, 30);
  assert_int_equal(wsp_evlog_streams(ev), 1);
  assert_int_equal(stats_of(ev).corrupt, 1);
  p = pos_of(ev, "s"); /* a position creates the stream */
  assert_int_equal(p.offset, 0);
  assert_string_not_equal(p.epoch, "abcdefgh");
  assert_int_equal(pos_of(ev, "zz").offset, 0);
  wsp_evlog_free(ev);
}

static void test_evlog_file_one_process_at_a_time(void **state) {
  struct ctx *c = *state;
  struct wsp_evlog_store *st;
  struct wsp_evlog *ev = open_at(c, NULL, 0);
  assert_int_equal(wsp_evlog_file_store_new(&st, c->dir, NULL, NULL),
                   WSP_ERR_STATE);
  assert_null(st);
  wsp_evlog_free(ev);
  assert_int_equal(wsp_evlog_file_store_new(&st, c->dir, NULL, NULL), 0);
  wsp_evlog_store_free(st);
}

/* ---- Torn and corrupt tails ------------------------------------------- */

/* A crash: no clean close after the last append, so no TOP telling how
 * many events the stream held then. */
static void forget_top(const struct ctx *c, const char *stream_dir) {
  char rel[256], path[1024];
  snprintf(rel, sizeof(rel), "streams/%s/TOP", stream_dir);
  path_in(path, sizeof(path), c, rel);
  if (unlink(path) != 0)
    assert_int_equal(errno, ENOENT);
}

/* With fsync always, a tail cut anywhere in the last record, or one
 * bad byte in it, as a crash during its append leaves it, loses that
 * record and nothing else. */
static void test_evlog_file_torn_tail_every_byte(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_ALWAYS);
  struct wsp_evlog_position p0, p;
  struct wsp_evlog *ev;
  uint8_t *orig, *meta;
  size_t len, start, at, rec, mlen;
  char buf[128];

  ev = open_at(c, &fo, 0);
  put(ev, "s", 20, 5);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  orig = slurp(c, SEG1, &len);
  meta = slurp(c, "streams/s/META", &mlen);
  rec = 32 + payload(20, buf, sizeof(buf)) + 3;
  start = len - rec;

  for (at = start; at < len; at++) { /* cut at every byte */
    struct wsp_evlog_stats st;
    spill(c, SEG1, orig, at);
    forget_top(c, "s");
    ev = open_at(c, &fo, 10);
    p = pos_of(ev, "s");
    st = stats_of(ev);
    assert_int_equal(p.offset, 19);
    assert_string_equal(p.epoch, p0.epoch);
    assert_int_equal(st.torn_records, at > start ? 1 : 0);
    assert_int_equal(st.new_epochs, 0);
    verify(ev, "s", 1, 19);
    put(ev, "s", 1, 10);
    verify(ev, "s", 1, 20);
    wsp_evlog_free(ev);
  }
  for (at = start; at < len; at++) { /* one bad byte */
    struct wsp_evlog_stats st;
    size_t field = at - start;
    /* A bad flags word or offset is not a torn append: it may have been
     * acknowledged, so the stream gets a new epoch. */
    int lost = field >= 12 && field < 24;
    orig[at] ^= 0xff;
    spill(c, SEG1, orig, len);
    orig[at] ^= 0xff;
    spill(c, "streams/s/META", meta, mlen);
    forget_top(c, "s");
    ev = open_at(c, &fo, 10);
    p = pos_of(ev, "s");
    st = stats_of(ev);
    assert_int_equal(p.offset, 19);
    assert_int_equal(st.torn_records, 1);
    if (lost)
      assert_string_not_equal(p.epoch, p0.epoch);
    else
      assert_string_equal(p.epoch, p0.epoch);
    assert_int_equal(st.new_epochs, lost);
    verify(ev, "s", 1, 19);
    wsp_evlog_free(ev);
  }
  /* Damage before the last record loses acknowledged events. */
  orig[40] ^= 0xff;
  spill(c, SEG1, orig, len);
  ev = open_at(c, &fo, 10);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 0);
  assert_string_not_equal(p.epoch, p0.epoch);
  wsp_evlog_free(ev);
  free(orig);
  free(meta);
}

/* Reopen after the newest segment was given len bytes of orig: either
 * every event is there under the same epoch, or the epoch changed (and
 * the loss was counted); never the same epoch with fewer events. */
static void reopen_cut(const struct ctx *c, const struct fopts *fo,
                       const char *seg, const uint8_t *orig, size_t len,
                       const struct wsp_evlog_position *p0, const uint8_t *meta,
                       size_t mlen, const uint8_t *top, size_t tlen) {
  struct wsp_evlog_position p;
  struct wsp_evlog_stats st;
  struct wsp_evlog *ev;
  if (orig)
    spill(c, seg, orig, len);
  spill(c, "streams/s/META", meta, mlen);
  if (top)
    spill(c, "streams/s/TOP", top, tlen);
  ev = open_at(c, fo, 10);
  p = pos_of(ev, "s");
  st = stats_of(ev);
  if (strcmp(p.epoch, p0->epoch) == 0) {
    assert_int_equal(p.offset, p0->offset);
    verify(ev, "s", 1, p0->offset);
    assert_int_equal(st.new_epochs, 0);
  } else {
    assert_true(p.offset <= p0->offset);
    assert_int_equal(st.new_epochs, 1);
    assert_true(st.corrupt >= 1);
  }
  wsp_evlog_free(ev);
}

/*
 * Events that were on disk at a clean close and are gone when opening
 * (the newest segment cut to 0..20 bytes, at a record boundary below the
 * top, or deleted) change the epoch, with any policy and whether or not
 * the stream has sealed segments.
 */
static void test_evlog_file_cut_newest_segment_changes_epoch(void **state) {
  struct ctx *c = *state;
  static const int pols[] = {WSP_EVLOG_FSYNC_ALWAYS, WSP_EVLOG_FSYNC_INTERVAL};
  size_t k, v;
  for (k = 0; k < 2; k++)
    for (v = 0; v < 2; v++) {
      struct fopts fo = policy(pols[k]);
      struct wsp_evlog_position p0;
      struct wsp_evlog *ev;
      uint8_t *orig, *meta, *top;
      size_t len, mlen, tlen, at, off, pos;
      char seg[128], buf[128], path[1024];
      fo.segment_bytes = v ? 256 : 0;
      teardown(state);
      assert_int_equal(setup(state), 0);
      c = *state;
      ev = open_at(c, &fo, 0);
      put(ev, "s", 12, 5);
      assert_int_equal(wsp_evlog_sync(ev), 0);
      p0 = pos_of(ev, "s");
      assert_int_equal(stats_of(ev).segments > 1, v);
      wsp_evlog_free(ev);
      for (off = 12; off > 0; off--) { /* the newest segment */
        snprintf(seg, sizeof(seg), "streams/s/%020llu.seg",
                 (unsigned long long)off);
        if (exists(c, seg))
          break;
      }
      orig = slurp(c, seg, &len);
      meta = slurp(c, "streams/s/META", &mlen);
      tlen = 0;
      top =
          exists(c, "streams/s/TOP") ? slurp(c, "streams/s/TOP", &tlen) : NULL;
      for (at = 0; at <= 20; at++)
        reopen_cut(c, &fo, seg, orig, at, &p0, meta, mlen, top, tlen);
      for (pos = 32; off <= 12; off++) { /* every record boundary */
        reopen_cut(c, &fo, seg, orig, pos, &p0, meta, mlen, top, tlen);
        pos += 32 + payload(off, buf, sizeof(buf)) + 3;
      }
      assert_int_equal(pos, len);
      reopen_cut(c, &fo, seg, orig, len, &p0, meta, mlen, top, tlen);
      ev = open_at(c, &fo, 10); /* the whole segment: nothing lost */
      assert_string_equal(pos_of(ev, "s").epoch, p0.epoch);
      wsp_evlog_free(ev);
      if (v) { /* the newest segment deleted */
        path_in(path, sizeof(path), c, seg);
        assert_int_equal(unlink(path), 0);
        reopen_cut(c, &fo, seg, NULL, 0, &p0, meta, mlen, top, tlen);
      }
      free(orig);
      free(meta);
      free(top);
    }
}

static void test_evlog_file_bad_segment_header(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_ALWAYS);
  struct wsp_evlog_position p0, p;
  struct wsp_evlog *ev;
  uint8_t *orig;
  size_t len;

  ev = open_at(c, &fo, 0);
  put(ev, "s", 3, 5);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  orig = slurp(c, SEG1, &len);
  /* Only part of the header: a segment created just before a crash. */
  spill(c, SEG1, orig, 10);
  ev = open_at(c, &fo, 10);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 0);
  put(ev, "s", 2, 10);
  verify(ev, "s", 1, 2);
  wsp_evlog_free(ev);
  /* A bad header in front of records: they are lost, and so the epoch. */
  orig[3] ^= 1;
  spill(c, SEG1, orig, len);
  ev = open_at(c, &fo, 10);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 0);
  assert_string_not_equal(p.epoch, p0.epoch);
  wsp_evlog_free(ev);
  free(orig);
}

/* ---- Segments and the index ------------------------------------------- */

static void random_reads(struct wsp_evlog *ev, uint64_t first, uint64_t top,
                         unsigned seed) {
  int i;
  srand(seed);
  for (i = 0; i < 300; i++) {
    uint64_t since = (uint64_t)rand() % (top + 2);
    size_t limit = (size_t)(rand() % 60) + 1;
    int rev = rand() % 2;
    struct seen s;
    uint64_t lo, hi, want;
    long n;
    memset(&s, 0, sizeof(s));
    s.step = rev ? -1 : 1;
    n = wsp_evlog_read(ev, S("s"), NULL, since, limit,
                       rev ? WSP_EVLOG_REVERSE : 0, check_event, &s, NULL);
    if (!rev) {
      lo = since + 1 > first ? since + 1 : first;
      want = lo > top ? 0 : top - lo + 1;
    } else {
      hi = since == 0 || since > top ? top : since - 1;
      want = hi < first ? 0 : hi - first + 1;
    }
    if (want > limit)
      want = limit;
    assert_int_equal(n, (long)want);
    assert_int_equal(s.bad, 0);
    if (n && !rev)
      assert_int_equal(s.first, since + 1 > first ? since + 1 : first);
    if (n && rev)
      assert_int_equal(s.first, since == 0 || since > top ? top : since - 1);
  }
}

static void test_evlog_file_index_seek_many_segments(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_NEVER);
  struct wsp_evlog_stats st;
  struct wsp_evlog *ev;
  size_t nseg;
  char path[1024];
  fo.segment_bytes = 2048;
  fo.index_bytes = 128;
  ev = open_at(c, &fo, 0);
  put(ev, "s", 3000, 1);
  st = stats_of(ev);
  assert_true(st.segments > 100);
  random_reads(ev, 1, 3000, 1);
  wsp_evlog_free(ev);
  nseg = count_files(c, "streams/s", ".seg");
  assert_int_equal(nseg, st.segments);
  assert_int_equal(count_files(c, "streams/s", ".idx"), nseg - 1);

  ev = open_at(c, &fo, 2); /* sealed segments checked by their index */
  assert_int_equal(stats_of(ev).new_epochs, 0);
  random_reads(ev, 1, 3000, 2);
  verify(ev, "s", 1, 3000);
  wsp_evlog_free(ev);

  /* A missing index and a damaged one are rebuilt from the segment. */
  path_in(path, sizeof(path), c, "streams/s/00000000000000000001.idx");
  assert_int_equal(unlink(path), 0);
  ev = open_at(c, &fo, 3);
  assert_int_equal(stats_of(ev).new_epochs, 0);
  random_reads(ev, 1, 3000, 3);
  wsp_evlog_free(ev);
  assert_true(exists(c, "streams/s/00000000000000000001.idx"));
}

static void test_evlog_file_damaged_index(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog *ev;
  uint8_t *b;
  size_t len;
  fo.segment_bytes = 1024;
  fo.index_bytes = 64;
  ev = open_at(c, &fo, 0);
  put(ev, "s", 200, 1);
  wsp_evlog_free(ev);
  b = slurp(c, "streams/s/00000000000000000001.idx", &len);
  assert_true(len > 48);
  b[44] ^= 0x10; /* an entry's position */
  spill(c, "streams/s/00000000000000000001.idx", b, len);
  free(b);
  ev = open_at(c, &fo, 2);
  assert_int_equal(stats_of(ev).new_epochs, 0);
  random_reads(ev, 1, 200, 4);
  verify(ev, "s", 1, 200);
  wsp_evlog_free(ev);
}

/* A damaged record in a sealed segment: reads that reach it fail and
 * recovery never claims success; once its index is gone too, opening
 * scans the segment, cuts the stream there and gives it a new epoch,
 * keeping everything before the damage. */
static void test_evlog_file_damaged_sealed_segment(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_ALWAYS);
  struct wsp_evlog_position p0, p;
  struct wsp_evlog_recovery rec;
  struct wsp_evlog *ev;
  struct seen sn;
  char path[1024];
  uint8_t *b;
  size_t len;
  int n = 0;
  fo.segment_bytes = 1024;
  ev = open_at(c, &fo, 0);
  put(ev, "s", 100, 1);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  b = slurp(c, SEG1, &len);
  b[len - 5] ^= 0xff; /* the last record of the first segment */
  spill(c, SEG1, b, len);
  free(b);
  ev = open_at(c, &fo, 2);
  memset(&sn, 0, sizeof(sn));
  sn.step = 1;
  assert_int_equal(
      wsp_evlog_read(ev, S("s"), NULL, 0, 100, 0, check_event, &sn, NULL),
      WSP_ERR_CORRUPT);
  assert_int_equal(
      wsp_evlog_recover(ev, S("s"), 0, p0.epoch, 300, count_cb, &n, &rec),
      WSP_ERR_CORRUPT);
  assert_int_equal(rec.recovered, 0);
  assert_int_equal(n, 0);
  assert_true(stats_of(ev).corrupt > 0);
  wsp_evlog_free(ev);
  path_in(path, sizeof(path), c, "streams/s/00000000000000000001.idx");
  assert_int_equal(unlink(path), 0);
  ev = open_at(c, &fo, 2);
  p = pos_of(ev, "s");
  assert_string_not_equal(p.epoch, p0.epoch);
  assert_true(p.offset > 1 && p.offset < 100);
  verify(ev, "s", 1, p.offset);
  assert_int_equal(count_files(c, "streams/s", ".seg"), 1);
  put(ev, "s", 1, 2);
  verify(ev, "s", 1, p.offset + 1);
  wsp_evlog_free(ev);
  ev = open_at(c, &fo, 3); /* the cut and the append are on disk */
  assert_int_equal(pos_of(ev, "s").offset, p.offset + 1);
  assert_string_equal(pos_of(ev, "s").epoch, p.epoch);
  verify(ev, "s", 1, p.offset + 1);
  wsp_evlog_free(ev);
}

static void test_evlog_file_rotation_and_retention_delete_files(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_position p;
  struct wsp_evlog *ev;
  fo.segment_bytes = 1024;
  fo.ret.max_events = 50;
  ev = open_at(c, &fo, 0);
  put(ev, "s", 1000, 1);
  p = pos_of(ev, "s");
  assert_int_equal(p.first, 951);
  verify(ev, "s", 951, 1000);
  /* about 50 events of ~80 bytes: a handful of segments, not 80 */
  assert_true(stats_of(ev).segments <= 8);
  assert_true(count_files(c, "streams/s", ".seg") <= 8);
  wsp_evlog_free(ev);
  ev = open_at(c, &fo, 2);
  p = pos_of(ev, "s");
  assert_int_equal(p.first, 951);
  verify(ev, "s", 951, 1000);
  /* Everything expires: one empty segment keeps the top. */
  assert_int_equal(wsp_evlog_clear(ev, S("s"), 3), 0);
  assert_int_equal(count_files(c, "streams/s", ".seg"), 1);
  wsp_evlog_free(ev);
  ev = open_at(c, &fo, 4);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 1000);
  assert_int_equal(p.first, 1001);
  put(ev, "s", 1, 5);
  verify(ev, "s", 1001, 1001);
  wsp_evlog_free(ev);
}

static void test_evlog_file_age_retention_after_restart(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog *ev;
  uint64_t t;
  fo.ret.max_age = 1000;
  fo.ret.meta_ttl = 10000;
  ev = open_at(c, &fo, 0);
  for (t = 0; t < 10; t++)
    put(ev, "s", 1, 100 * t);
  wsp_evlog_free(ev);
  /* Opening at 1450 expires events 1..5 at once; times come back from
   * the records. */
  ev = open_at(c, &fo, 1450);
  assert_int_equal(pos_of(ev, "s").first, 6);
  assert_int_equal(wsp_evlog_next_deadline(ev), 1500);
  assert_int_equal(wsp_evlog_tick(ev, 5000), 0);
  assert_int_equal(pos_of(ev, "s").first, 11);
  wsp_evlog_free(ev);
  /* The stream emptied at 1900 (the last event's time + max_age). */
  ev = open_at(c, &fo, 6000);
  assert_int_equal(pos_of(ev, "s").offset, 10);
  assert_int_equal(wsp_evlog_tick(ev, 20000), 0);
  assert_int_equal(wsp_evlog_streams(ev), 0);
  wsp_evlog_free(ev);
  assert_false(exists(c, "streams/s"));
}

static int big_cb(const struct wsp_evlog_event *e, void *ud) {
  uint64_t *next = ud;
  size_t i;
  assert_int_equal(e->offset, *next);
  assert_int_equal(e->data.len, 700 * 1024);
  for (i = 0; i < e->data.len; i += 4096)
    assert_int_equal((uint8_t)e->data.ptr[i], (uint8_t)e->offset);
  (*next)--;
  return 0;
}

/* Reverse reads of big events split their chunks to bound memory. */
static void test_evlog_file_big_events_reverse(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_NEVER);
  struct wsp_evlog *ev;
  uint8_t *big = malloc(700 * 1024);
  uint64_t i, next = 12;
  assert_non_null(big);
  ev = open_at(c, &fo, 0);
  for (i = 1; i <= 12; i++) {
    memset(big, (int)i, 700 * 1024);
    assert_int_equal(
        wsp_evlog_append(ev, S("s"), 0, big, 700 * 1024, NULL, 0, NULL), 0);
  }
  assert_int_equal(wsp_evlog_read(ev, S("s"), NULL, 0, WSP_EVLOG_NO_LIMIT,
                                  WSP_EVLOG_REVERSE, big_cb, &next, NULL),
                   12);
  assert_int_equal(next, 0);
  wsp_evlog_free(ev);
  free(big);
}

/* More streams than open files: segment files are closed and opened
 * again as streams take turns, buffered appends included. */
static void test_evlog_file_many_streams_few_files(void **state) {
  struct ctx *c = *state;
  int pol;
  for (pol = WSP_EVLOG_FSYNC_ALWAYS; pol <= WSP_EVLOG_FSYNC_NEVER; pol++) {
    struct fopts fo = policy(pol);
    struct wsp_evlog *ev;
    char name[16];
    int i, round;
    fo.max_open_files = 2;
    fo.segment_bytes = 512;
    ev = open_at(c, &fo, 0);
    for (round = 0; round < 6; round++)
      for (i = 0; i < 7; i++) {
        snprintf(name, sizeof(name), "p%d-%d", pol, i);
        put(ev, name, 3, (uint64_t)round);
      }
    for (i = 0; i < 7; i++) {
      snprintf(name, sizeof(name), "p%d-%d", pol, i);
      verify(ev, name, 1, 18);
    }
    assert_int_equal(wsp_evlog_tick(ev, 100000), 0);
    wsp_evlog_free(ev);
    ev = open_at(c, &fo, 0);
    for (i = 0; i < 7; i++) {
      snprintf(name, sizeof(name), "p%d-%d", pol, i);
      verify(ev, name, 1, 18);
    }
    wsp_evlog_free(ev);
  }
}

/* Every allocation of a file-store scenario fails in turn: no leak, no
 * crash, and what was acknowledged is on disk, in order and intact. */
static int alloc_scenario(const struct ctx *c, const struct wsp_mem *mem,
                          uint64_t acked[2]) {
  struct wsp_evlog_file_options o;
  struct wsp_evlog_options lo;
  struct wsp_evlog_recovery rec;
  struct wsp_evlog *ev = NULL;
  struct seen sn;
  uint64_t snap_off = 0;
  int rc, i, n = 0;
  memset(&o, 0, sizeof(o));
  memset(&lo, 0, sizeof(lo));
  o.segment_bytes = 512;
  o.index_bytes = 64;
  o.fsync = WSP_EVLOG_FSYNC_NEVER;
  if ((rc = wsp_evlog_file_store_new(&lo.store, c->dir, &o, mem)) != 0)
    return rc;
  lo.mem = mem;
  if ((rc = wsp_evlog_new(&ev, &lo, 0)) != 0)
    return rc;
  for (i = 0; i < 40; i++) {
    const char *name = i % 2 ? "a" : "b";
    char buf[128];
    size_t len = payload(acked[i % 2] + 1, buf, sizeof(buf));
    rc = wsp_evlog_append(ev, name, 1, 0, buf, len, "pub", 3, NULL);
    if (rc == 0)
      acked[i % 2]++;
    else if (rc != WSP_ERR_NOMEM)
      goto out;
  }
  memset(&sn, 0, sizeof(sn));
  sn.step = -1;
  rc = (int)wsp_evlog_read(ev, S("a"), NULL, 0, WSP_EVLOG_NO_LIMIT,
                           WSP_EVLOG_REVERSE, check_event, &sn, NULL);
  if (rc < 0)
    goto out;
  rc = wsp_evlog_recover(ev, S("b"), 2, NULL, 100, count_cb, &n, &rec);
  if (rc < 0)
    goto out;
  rc = wsp_evlog_snapshot_put(ev, S("a"), NULL, 1, 0, "s", 1);
  if (rc < 0)
    goto out;
  rc = (int)wsp_evlog_snapshot_get(ev, S("a"), snap_cb, snap_count_cb,
                                   &snap_off, NULL);
  if (rc > 0)
    rc = 0;
out:
  wsp_evlog_free(ev);
  return rc;
}

static void test_evlog_file_allocation_failures(void **state) {
  struct ctx *c = *state;
  struct tfail fa;
  long k, total;
  uint64_t acked[2] = {0, 0};
  tfail_init(&fa, 0, 0);
  assert_int_equal(alloc_scenario(c, &fa.mem, acked), 0);
  assert_int_equal(fa.live, 0);
  total = fa.calls;
  for (k = 1; k <= total; k += (total > 400 ? 3 : 1)) {
    struct wsp_evlog *ev;
    uint64_t top[2];
    int rc;
    teardown(state);
    assert_int_equal(setup(state), 0);
    c = *state;
    memset(acked, 0, sizeof(acked));
    tfail_init(&fa, k, 0);
    rc = alloc_scenario(c, &fa.mem, acked);
    assert_true(rc == 0 || rc == WSP_ERR_NOMEM);
    assert_int_equal(fa.live, 0);
    assert_int_equal(fa.bad_frees, 0);
    if (rc != 0 && acked[0] + acked[1] == 0)
      continue;
    ev = open_at(c, NULL, 0);
    top[0] = pos_of(ev, "b").offset;
    top[1] = pos_of(ev, "a").offset;
    assert_int_equal(top[0], acked[0]);
    assert_int_equal(top[1], acked[1]);
    verify(ev, "b", 1, top[0]);
    verify(ev, "a", 1, top[1]);
    wsp_evlog_free(ev);
  }
}

/* ---- I/O errors ------------------------------------------------------- */

static void test_evlog_file_directory_is_a_file(void **state) {
  struct ctx *c = *state;
  struct wsp_evlog *ev = open_at(c, NULL, 0);
  struct wsp_evlog_stats st;
  char path[1024];
  uint64_t off;
  spill(c, "streams/x", "not a directory", 15);
  assert_int_equal(wsp_evlog_append(ev, S("x"), 0, "a", 1, NULL, 0, &off),
                   WSP_ERR_IO);
  st = stats_of(ev);
  assert_int_equal(st.appended, 0);
  assert_int_equal(st.streams, 0);
  assert_true(st.io_errors > 0);
  path_in(path, sizeof(path), c, "streams/x");
  assert_int_equal(unlink(path), 0);
  assert_int_equal(wsp_evlog_append(ev, S("x"), 0, "a", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 1);
  wsp_evlog_free(ev);
}

static void test_evlog_file_segment_is_a_directory(void **state) {
  struct ctx *c = *state;
  struct wsp_evlog *ev = open_at(c, NULL, 0);
  char path[1024];
  put(ev, "s", 3, 0);
  wsp_evlog_free(ev);
  path_in(path, sizeof(path), c, SEG1);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mkdir(path, 0755), 0);
  ev = NULL;
  assert_int_equal(try_open(c, NULL, 0, &ev), WSP_ERR_IO);
  assert_null(ev);
  assert_int_equal(rmdir(path), 0);
}

/* ---- Links in the data directory -------------------------------------- */

#define VICTIM "victim bytes that must never change\n"

/* A fresh store directory dir/<name> in d, next to dir/victim (a file)
 * and dir/vdir/keep (a directory with a file), outside the store. */
static void hostile_setup(const struct ctx *c, struct ctx *d,
                          const char *name) {
  char path[1024];
  assert_true((size_t)snprintf(d->dir, sizeof(d->dir), "%s/%s", c->dir, name) <
              sizeof(d->dir));
  if (!exists(c, "victim"))
    spill(c, "victim", S(VICTIM));
  path_in(path, sizeof(path), c, "vdir");
  if (!exists(c, "vdir")) {
    assert_int_equal(mkdir(path, 0755), 0);
    spill(c, "vdir/keep", S(VICTIM));
  }
}

static void victims_intact(const struct ctx *c) {
  uint8_t *b;
  size_t len;
  b = slurp(c, "victim", &len);
  assert_int_equal(len, sizeof(VICTIM) - 1);
  assert_memory_equal(b, VICTIM, len);
  free(b);
  b = slurp(c, "vdir/keep", &len);
  assert_int_equal(len, sizeof(VICTIM) - 1);
  assert_memory_equal(b, VICTIM, len);
  free(b);
  assert_int_equal(count_files(c, "vdir", ""), 1);
}

/* Put a symbolic link to c's victim (or vdir) at d/rel. */
static void plant(const struct ctx *c, const struct ctx *d, const char *rel,
                  const char *victim) {
  char path[1024], target[1024];
  path_in(target, sizeof(target), c, victim);
  path_in(path, sizeof(path), d, rel);
  if (unlink(path) != 0)
    assert_int_equal(errno, ENOENT);
  assert_int_equal(symlink(target, path), 0);
}

/*
 * A symbolic link in place of any file or directory of the store is
 * never followed: its target is neither read as store data, truncated,
 * written nor emptied. Where the store cannot go on without the file,
 * the call fails with WSP_ERR_CORRUPT; every link met is counted in
 * corrupt.
 */
static void test_evlog_file_links_never_followed(void **state) {
  struct ctx *c = *state, d;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_stats st;
  struct wsp_evlog_position p0, p;
  struct wsp_evlog *ev;
  uint64_t off;

  /* The newest segment, met when opening. */
  hostile_setup(c, &d, "seg");
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 3, 1);
  wsp_evlog_free(ev);
  plant(c, &d, SEG1, "victim");
  ev = NULL;
  assert_int_equal(try_open(&d, &fo, 2, &ev), WSP_ERR_CORRUPT);
  assert_null(ev);
  victims_intact(c);

  /* A sealed segment and its index, met when opening. */
  hostile_setup(c, &d, "sealed");
  fo.segment_bytes = 256;
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 20, 1);
  assert_true(stats_of(ev).segments > 2);
  wsp_evlog_free(ev);
  plant(c, &d, "streams/s/00000000000000000001.idx", "victim");
  ev = open_at(&d, &fo, 2); /* an index is a hint: rebuilt in memory */
  assert_true(stats_of(ev).corrupt > 0);
  assert_int_equal(stats_of(ev).new_epochs, 0);
  verify(ev, "s", 1, 20);
  wsp_evlog_free(ev);
  victims_intact(c);
  plant(c, &d, SEG1, "victim");
  ev = NULL;
  assert_int_equal(try_open(&d, &fo, 3, &ev), WSP_ERR_CORRUPT);
  victims_intact(c);

  /* The next segment, met when an append rotates. */
  hostile_setup(c, &d, "rotate");
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 2, 1);
  p0 = pos_of(ev, "s");
  for (off = 3; off < 40; off++) { /* wherever the next one starts */
    char rel[128];
    snprintf(rel, sizeof(rel), "streams/s/%020llu.seg",
             (unsigned long long)off);
    plant(c, &d, rel, "victim");
  }
  while (stats_of(ev).segments == 1) {
    int rc = wsp_evlog_append(ev, S("s"), 1, "0123456789", 10, NULL, 0, &off);
    if (rc != 0) {
      assert_int_equal(rc, WSP_ERR_CORRUPT);
      break;
    }
    assert_true(off < 40);
  }
  assert_int_equal(stats_of(ev).segments, 1);
  assert_true(stats_of(ev).corrupt > 0);
  victims_intact(c);
  wsp_evlog_free(ev);
  fo.segment_bytes = 0;

  /* DIRTY, created by the first append after a sync. */
  hostile_setup(c, &d, "dirty");
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 1, 1);
  assert_int_equal(wsp_evlog_sync(ev), 0);
  plant(c, &d, "streams/s/DIRTY", "victim");
  assert_int_equal(wsp_evlog_append(ev, S("s"), 1, "x", 1, NULL, 0, &off),
                   WSP_ERR_CORRUPT);
  assert_int_equal(pos_of(ev, "s").offset, 1);
  victims_intact(c);
  wsp_evlog_free(ev);

  /* The temporary files of META, SNAPSHOT and STATE. */
  hostile_setup(c, &d, "tmp");
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 2, 1);
  p0 = pos_of(ev, "s");
  plant(c, &d, "streams/s/SNAPSHOT.tmp", "victim");
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("s"), NULL, 2, 1, "st", 2),
                   WSP_ERR_CORRUPT);
  plant(c, &d, "streams/s/META.tmp", "victim");
  assert_int_equal(wsp_evlog_reset(ev, S("s"), 1), WSP_ERR_CORRUPT);
  assert_string_equal(pos_of(ev, "s").epoch, p0.epoch);
  victims_intact(c);
  plant(c, &d, "STATE.tmp", "victim");
  wsp_evlog_free(ev); /* STATE cannot be written: not a clean close */
  victims_intact(c);
  ev = NULL;
  assert_int_equal(try_open(&d, &fo, 2, &ev), WSP_ERR_CORRUPT);
  victims_intact(c);

  /* LOCK. */
  hostile_setup(c, &d, "lock");
  ev = open_at(&d, &fo, 0);
  wsp_evlog_free(ev);
  plant(c, &d, "LOCK", "victim");
  ev = NULL;
  assert_int_equal(try_open(&d, &fo, 2, &ev), WSP_ERR_CORRUPT);
  victims_intact(c);

  /* META, SNAPSHOT and STATE when opening: treated as damaged (the
   * stream is skipped, the snapshot is none, the last run is suspect),
   * counted, and replaced by new files, never through the link. */
  hostile_setup(c, &d, "meta");
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 2, 1);
  put(ev, "t", 2, 1);
  assert_int_equal(wsp_evlog_snapshot_put(ev, S("t"), NULL, 1, 1, "st", 2), 0);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  plant(c, &d, "streams/s/META", "victim");
  plant(c, &d, "streams/t/SNAPSHOT", "victim");
  ev = open_at(&d, &fo, 2);
  st = stats_of(ev);
  assert_int_equal(st.streams, 1);
  assert_int_equal(st.corrupt, 2);
  off = 99;
  assert_int_equal(
      wsp_evlog_snapshot_get(ev, S("t"), snap_cb, snap_count_cb, &off, NULL),
      2);
  assert_int_equal(off, 0); /* no snapshot */
  assert_int_equal(wsp_evlog_append(ev, S("s"), 2, "x", 1, NULL, 0, &off), 0);
  assert_int_equal(off, 1);
  p = pos_of(ev, "s");
  assert_string_not_equal(p.epoch, p0.epoch);
  wsp_evlog_free(ev);
  victims_intact(c);
  plant(c, &d, "STATE", "victim");
  ev = open_at(&d, &fo, 3);
  st = stats_of(ev);
  assert_int_equal(st.corrupt, 1);
  assert_int_equal(st.new_epochs, 2); /* the last run is unknown */
  wsp_evlog_free(ev);
  victims_intact(c);
  ev = open_at(&d, &fo, 4); /* STATE is a file again */
  assert_int_equal(stats_of(ev).new_epochs, 0);
  wsp_evlog_free(ev);

  /* A stream's directory, and the streams directory. */
  hostile_setup(c, &d, "dir");
  ev = open_at(&d, &fo, 0);
  put(ev, "t", 2, 1);
  wsp_evlog_free(ev);
  plant(c, &d, "streams/s", "vdir");
  ev = open_at(&d, &fo, 2);
  assert_int_equal(wsp_evlog_streams(ev), 1);
  assert_int_equal(stats_of(ev).corrupt, 1);
  assert_int_equal(wsp_evlog_append(ev, S("s"), 2, "x", 1, NULL, 0, &off),
                   WSP_ERR_CORRUPT);
  assert_int_equal(wsp_evlog_streams(ev), 1);
  wsp_evlog_free(ev);
  victims_intact(c);
  hostile_setup(c, &d, "dir2");
  ev = open_at(&d, &fo, 0);
  wsp_evlog_free(ev);
  {
    char path[1024];
    path_in(path, sizeof(path), &d, "streams");
    assert_int_equal(rmdir(path), 0);
  }
  plant(c, &d, "streams", "vdir");
  ev = NULL;
  assert_int_equal(try_open(&d, &fo, 2, &ev), WSP_ERR_CORRUPT);
  victims_intact(c);

  /* A FIFO as a segment: refused as a file of the wrong type, without
   * waiting for a writer. */
  hostile_setup(c, &d, "fifo");
  ev = open_at(&d, &fo, 0);
  put(ev, "s", 1, 1);
  wsp_evlog_free(ev);
  {
    char path[1024];
    path_in(path, sizeof(path), &d, SEG1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0644), 0);
  }
  ev = NULL;
  assert_int_equal(try_open(&d, &fo, 2, &ev), WSP_ERR_IO);
  assert_null(ev);
}

static void set_fsize(rlim_t n) {
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
  rl.rlim_cur = n;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void test_evlog_file_disk_full(void **state) {
  struct ctx *c = *state;
  int pol;
  signal(SIGXFSZ, SIG_IGN);
  for (pol = WSP_EVLOG_FSYNC_ALWAYS; pol <= WSP_EVLOG_FSYNC_NEVER; pol++) {
    struct fopts fo = policy(pol);
    struct wsp_evlog *ev;
    struct wsp_evlog_position p;
    uint64_t i, acked = 0;
    char name[8];
    int rc = 0, tick_rc;
    snprintf(name, sizeof(name), "s%d", pol);
    fo.write_buffer = 1024;
    ev = open_at(c, &fo, 0);
    put(ev, name, 5, 0);
    assert_int_equal(wsp_evlog_tick(ev, 1000), 0); /* all written */
    set_fsize(4096);
    for (i = 0; i < 200 && rc == 0; i++) {
      char buf[128];
      size_t len = payload(acked + 6, buf, sizeof(buf));
      rc = wsp_evlog_append(ev, name, strlen(name), 1000, buf, len, "pub", 3,
                            NULL);
      if (rc == 0)
        acked++;
    }
    tick_rc = wsp_evlog_tick(ev, 5000);
    set_fsize(RLIM_INFINITY);
    assert_int_equal(rc, WSP_ERR_NOSPACE);
    p = pos_of(ev, name);
    assert_int_equal(p.offset, 5 + acked);
    if (pol != WSP_EVLOG_FSYNC_ALWAYS)
      assert_true(tick_rc == 0 || tick_rc == WSP_ERR_NOSPACE);
    /* Room again: nothing acknowledged was lost, offsets go on. */
    assert_int_equal(wsp_evlog_tick(ev, 9000), 0);
    put(ev, name, 1, 9000);
    verify(ev, name, 1, 6 + acked);
    wsp_evlog_free(ev);
    ev = open_at(c, &fo, 10000);
    verify(ev, name, 1, 6 + acked);
    assert_int_equal(stats_of(ev).new_epochs, 0);
    wsp_evlog_free(ev);
  }
  signal(SIGXFSZ, SIG_DFL);
}

/* ---- fsync policies --------------------------------------------------- */

static void test_evlog_file_fsync_policies(void **state) {
  struct ctx *c = *state;
  struct wsp_evlog_stats a, b;
  struct wsp_evlog *ev;
  struct fopts fo;

  fo = policy(WSP_EVLOG_FSYNC_ALWAYS);
  ev = open_at(c, &fo, 0);
  put(ev, "a", 1, 0);
  a = stats_of(ev);
  put(ev, "a", 10, 0);
  b = stats_of(ev);
  assert_true(b.fsyncs - a.fsyncs >= 10);
  assert_true(b.writes - a.writes >= 10);
  assert_int_equal(wsp_evlog_next_deadline(ev), WSP_NO_DEADLINE);
  wsp_evlog_free(ev);

  fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  ev = open_at(c, &fo, 0);
  put(ev, "b", 1, 100);
  assert_int_equal(wsp_evlog_tick(ev, 100000), 0);
  assert_int_equal(wsp_evlog_next_deadline(ev), WSP_NO_DEADLINE);
  a = stats_of(ev);
  put(ev, "b", 10, 200000);
  b = stats_of(ev);
  assert_int_equal(b.fsyncs, a.fsyncs);
  assert_int_equal(b.writes, a.writes); /* buffered */
  assert_true(exists(c, "streams/b/DIRTY"));
  assert_int_equal(wsp_evlog_next_deadline(ev), 201000);
  assert_int_equal(wsp_evlog_tick(ev, 200999), 0);
  assert_int_equal(stats_of(ev).fsyncs, a.fsyncs);
  assert_int_equal(wsp_evlog_tick(ev, 201000), 0);
  b = stats_of(ev);
  assert_true(b.fsyncs > a.fsyncs);
  assert_int_equal(b.writes, a.writes + 1); /* one write for ten events */
  assert_false(exists(c, "streams/b/DIRTY"));
  assert_int_equal(wsp_evlog_next_deadline(ev), WSP_NO_DEADLINE);
  verify(ev, "b", 1, 11);
  wsp_evlog_free(ev);

  fo = policy(WSP_EVLOG_FSYNC_NEVER);
  ev = open_at(c, &fo, 0);
  put(ev, "c", 1, 0);
  assert_int_equal(wsp_evlog_tick(ev, 5000), 0);
  a = stats_of(ev);
  put(ev, "c", 10, 6000);
  assert_int_equal(wsp_evlog_tick(ev, 7000), 0);
  b = stats_of(ev);
  assert_int_equal(b.fsyncs, a.fsyncs);
  assert_true(b.writes > a.writes);
  assert_true(exists(c, "streams/c/DIRTY"));
  assert_int_equal(wsp_evlog_sync(ev), 0);
  assert_true(stats_of(ev).fsyncs > b.fsyncs);
  assert_false(exists(c, "streams/c/DIRTY"));
  wsp_evlog_free(ev);
}

/* This test is linked with -Wl,--wrap=fdatasync (tests/meson.build), so
 * the library's fdatasync() calls land here and fail with EIO while
 * fail_fdatasync is set. */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
static int fail_fdatasync;

int __wrap_fdatasync(int fd) {
  if (fail_fdatasync) {
    errno = EIO;
    return -1;
  }
  return __real_fdatasync(fd);
}

/* Under interval, a failed fsync reaches the caller of tick as a fatal
 * WSP_ERR_IO. The events stay readable, but after a writeback error a
 * retried fsync can succeed without the pages the kernel dropped, so the
 * stream keeps DIRTY for the rest of the run and the next open gives it
 * a new epoch: no reader can recover across what may be missing. A
 * stream whose fsyncs all succeeded keeps its epoch. */
static void test_evlog_file_failed_fsync_changes_epoch(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_position a0, b0, a1, b1;
  struct wsp_evlog *ev = open_at(c, &fo, 0);
  put(ev, "a", 5, 0);
  put(ev, "b", 5, 0);
  assert_int_equal(wsp_evlog_tick(ev, 1000), 0);
  assert_false(exists(c, "streams/a/DIRTY"));
  a0 = pos_of(ev, "a");
  b0 = pos_of(ev, "b");

  put(ev, "a", 3, 1500);
  fail_fdatasync = 1;
  assert_int_equal(wsp_evlog_tick(ev, 2500), WSP_ERR_IO);
  fail_fdatasync = 0;
  assert_true(wsp_error_is_fatal(WSP_ERR_IO));
  assert_true(stats_of(ev).io_errors > 0);
  assert_true(exists(c, "streams/a/DIRTY"));
  verify(ev, "a", 1, 8);

  /* The retry succeeds, and still the mark stays. */
  put(ev, "a", 1, 3000);
  assert_int_equal(wsp_evlog_sync(ev), 0);
  assert_true(exists(c, "streams/a/DIRTY"));
  assert_false(exists(c, "streams/b/DIRTY"));
  wsp_evlog_free(ev);

  ev = open_at(c, &fo, 4000);
  a1 = pos_of(ev, "a");
  b1 = pos_of(ev, "b");
  assert_int_equal(a1.offset, 9);
  assert_string_not_equal(a1.epoch, a0.epoch);
  assert_int_equal(b1.offset, b0.offset);
  assert_string_equal(b1.epoch, b0.epoch);
  verify(ev, "a", 1, 9);
  wsp_evlog_free(ev);

  /* That run's fsyncs worked: the epoch given then stays. */
  ev = open_at(c, &fo, 5000);
  assert_string_equal(pos_of(ev, "a").epoch, a1.epoch);
  assert_false(exists(c, "streams/a/DIRTY"));
  wsp_evlog_free(ev);
}

/* ---- Crashes ---------------------------------------------------------- */

/* A child appends without closing and exits as if killed. */
static void crash_child(const struct ctx *c, int pol, int n) {
  pid_t pid = fork();
  int status;
  assert_true(pid >= 0);
  if (pid == 0) {
    struct fopts fo = policy(pol);
    struct wsp_evlog *ev = NULL;
    uint64_t i;
    if (try_open(c, &fo, 0, &ev) != 0)
      _exit(2);
    for (i = 0; i < (uint64_t)n; i++) {
      char buf[128];
      struct wsp_evlog_position p;
      wsp_evlog_position(ev, S("s"), &p);
      if (wsp_evlog_append(ev, S("s"), 0, buf,
                           payload(p.offset + 1, buf, sizeof(buf)), "pub", 3,
                           NULL) != 0)
        _exit(3);
    }
    _exit(0);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_evlog_file_crash_detected_by_dirty(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_position p0, p;
  struct wsp_evlog *ev;

  ev = open_at(c, &fo, 0);
  put(ev, "s", 5, 0);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  /* Buffered appends die with the process: a new epoch says so. */
  crash_child(c, WSP_EVLOG_FSYNC_INTERVAL, 10);
  ev = open_at(c, &fo, 0);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 5);
  assert_string_not_equal(p.epoch, p0.epoch);
  assert_int_equal(stats_of(ev).new_epochs, 1);
  assert_false(exists(c, "streams/s/DIRTY"));
  verify(ev, "s", 1, 5);
  p0 = p;
  wsp_evlog_free(ev);
  /* With fsync always nothing acknowledged can be missing. */
  crash_child(c, WSP_EVLOG_FSYNC_ALWAYS, 10);
  fo = policy(WSP_EVLOG_FSYNC_ALWAYS);
  ev = open_at(c, &fo, 0);
  p = pos_of(ev, "s");
  assert_int_equal(p.offset, 15);
  assert_string_equal(p.epoch, p0.epoch);
  verify(ev, "s", 1, 15);
  wsp_evlog_free(ev);
}

/* An unclean STATE from another boot, with a policy that did not fsync
 * every append: every stream may have lost its tail. */
static void test_evlog_file_unclean_other_boot(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_INTERVAL);
  struct wsp_evlog_position a0, b0;
  struct wsp_evlog *ev;
  static const char st_interval[] =
      "wsp-evlog 1\nboot 00000000-0000-0000-0000-000000000000\n"
      "fsync interval\nclean 0\nsuspect 0\n";
  static const char st_always[] =
      "wsp-evlog 1\nboot 00000000-0000-0000-0000-000000000000\n"
      "fsync always\nclean 0\nsuspect 0\n";

  ev = open_at(c, &fo, 0);
  put(ev, "a", 3, 0);
  put(ev, "b", 3, 0);
  a0 = pos_of(ev, "a");
  b0 = pos_of(ev, "b");
  wsp_evlog_free(ev);
  spill(c, "STATE", st_always, sizeof(st_always) - 1);
  ev = open_at(c, &fo, 0);
  assert_int_equal(stats_of(ev).new_epochs, 0);
  wsp_evlog_free(ev);
  spill(c, "STATE", st_interval, sizeof(st_interval) - 1);
  ev = open_at(c, &fo, 0);
  assert_int_equal(stats_of(ev).new_epochs, 2);
  assert_string_not_equal(pos_of(ev, "a").epoch, a0.epoch);
  assert_string_not_equal(pos_of(ev, "b").epoch, b0.epoch);
  a0 = pos_of(ev, "a");
  verify(ev, "a", 1, 3);
  wsp_evlog_free(ev);
  /* Once handled, a clean close: no further change. */
  ev = open_at(c, &fo, 0);
  assert_int_equal(stats_of(ev).new_epochs, 0);
  assert_string_equal(pos_of(ev, "a").epoch, a0.epoch);
  wsp_evlog_free(ev);
}

/* Rounds of the SIGKILL test; the issue asks for at least 100 kills.
 * WSP_TEST_KILLS overrides. All 100 take about 3 s, and about 25 s under
 * valgrind. */
static int kill_rounds(void) {
  const char *e = getenv("WSP_TEST_KILLS");
  if (e && *e)
    return atoi(e);
  return 100;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read the offsets a child acknowledged until deadline (mono_ms), or
 * until the pipe ends when deadline is 0; the latest one in *acked. */
static void drain_acks(int fd, uint64_t deadline, uint64_t *acked) {
  uint64_t v[512];
  for (;;) {
    struct pollfd pf;
    uint64_t t = mono_ms();
    ssize_t n;
    int wait = 0;
    if (deadline) {
      if (t >= deadline)
        return;
      wait = (int)(deadline - t);
    }
    pf.fd = fd;
    pf.events = POLLIN;
    if (deadline && poll(&pf, 1, wait) <= 0)
      continue;
    n = read(fd, v, sizeof(v));
    if (n <= 0) {
      assert_true(deadline != 0 || n == 0);
      return;
    }
    /* A child writes whole 8-byte values, and a pipe delivers writes
     * of up to PIPE_BUF bytes whole. */
    assert_int_equal(n % (ssize_t)sizeof(v[0]), 0);
    *acked = v[n / (ssize_t)sizeof(v[0]) - 1];
  }
}

/* SIGKILL at random moments while a child appends with fsync always:
 * every acknowledged event is there and intact, the epoch stays and
 * offsets go on. Each child is killed only after its first append was
 * acknowledged, so that every kill lands in the append loop. */
static void test_evlog_file_sigkill_always(void **state) {
  struct ctx *c = *state;
  struct fopts fo = policy(WSP_EVLOG_FSYNC_ALWAYS);
  struct wsp_evlog_position p0;
  struct wsp_evlog *ev;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  uint64_t kills = 0, torn = 0;
  int round, rounds = kill_rounds();
  print_message("sigkill: %d rounds, seed %u\n", rounds, seed);
  srand(seed);
  ev = open_at(c, &fo, 0);
  p0 = pos_of(ev, "s");
  wsp_evlog_free(ev);
  for (round = 0; round < rounds; round++) {
    struct wsp_evlog_position p;
    uint64_t acked = 0, first = 0;
    int fds[2], status;
    pid_t pid;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      struct wsp_evlog *cev = NULL;
      close(fds[0]);
      if (try_open(c, &fo, 0, &cev) != 0)
        _exit(2);
      for (;;) {
        char buf[128];
        uint64_t off;
        wsp_evlog_position(cev, S("s"), &p);
        if (wsp_evlog_append(cev, S("s"), 0, buf,
                             payload(p.offset + 1, buf, sizeof(buf)), "pub", 3,
                             &off) != 0)
          _exit(3);
        if (write(fds[1], &off, sizeof(off)) != sizeof(off))
          _exit(4);
      }
    }
    close(fds[1]);
    /* The first acknowledgement, then 0..15 ms more appends. */
    assert_int_equal(read(fds[0], &first, sizeof(first)), sizeof(first));
    acked = first;
    drain_acks(fds[0], mono_ms() + (uint64_t)(rand() % 16), &acked);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    drain_acks(fds[0], 0, &acked);
    close(fds[0]);
    kills++;
    ev = open_at(c, &fo, 0);
    p = pos_of(ev, "s");
    /* Nothing acknowledged is lost; at most the append in flight is
     * there beyond it. */
    assert_true(p.offset >= acked);
    assert_true(p.offset <= acked + 1);
    assert_string_equal(p.epoch, p0.epoch);
    torn += stats_of(ev).torn_records;
    verify(ev, "s", 1, p.offset);
    put(ev, "s", 1, 0);
    assert_int_equal(pos_of(ev, "s").offset, p.offset + 1);
    wsp_evlog_free(ev);
  }
  assert_int_equal(kills, (uint64_t)rounds);
  print_message("sigkill: %llu kills, %llu torn tails cut\n",
                (unsigned long long)kills, (unsigned long long)torn);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_evlog_file_contract_memory),
      T(test_evlog_file_contract),
      T(test_evlog_file_restart_keeps_offsets_and_epochs),
      T(test_evlog_file_max_streams),
      T(test_evlog_file_corrupt_meta),
      T(test_evlog_file_meta_names_other_stream),
      T(test_evlog_file_one_process_at_a_time),
      T(test_evlog_file_torn_tail_every_byte),
      T(test_evlog_file_bad_segment_header),
      T(test_evlog_file_cut_newest_segment_changes_epoch),
      T(test_evlog_file_index_seek_many_segments),
      T(test_evlog_file_damaged_index),
      T(test_evlog_file_damaged_sealed_segment),
      T(test_evlog_file_rotation_and_retention_delete_files),
      T(test_evlog_file_age_retention_after_restart),
      T(test_evlog_file_big_events_reverse),
      T(test_evlog_file_many_streams_few_files),
      T(test_evlog_file_allocation_failures),
      T(test_evlog_file_directory_is_a_file),
      T(test_evlog_file_segment_is_a_directory),
      T(test_evlog_file_links_never_followed),
      T(test_evlog_file_disk_full),
      T(test_evlog_file_fsync_policies),
      T(test_evlog_file_failed_fsync_changes_epoch),
      T(test_evlog_file_crash_detected_by_dirty),
      T(test_evlog_file_unclean_other_boot),
      T(test_evlog_file_sigkill_always),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
