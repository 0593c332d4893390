/*
 * bench-evlog: event log throughput.
 *
 *   append    events appended to one stream, for the memory store and for
 *             the file store under each fsync policy (always, interval,
 *             never), with 64-byte and 1 KiB events; the interval policy
 *             ticks the log every millisecond of real time, as a loop
 *             would; the final wsp_evlog_sync() is part of the time
 *   replay    every event read back, oldest first
 *   recover   wsp_evlog_recover() of a reader 10,000 events behind the
 *             top: the time to hand it everything it missed
 *   reopen    file store only: the log closed and opened again (which
 *             scans the newest segment), then the same recovery, as after
 *             a server restart; the files are still in the page cache.
 *             Each run has a store directory of its own
 *   keep100   appends to a stream that keeps its last 100 events, so
 *             that every append also expires one (memory and interval)
 *
 *   bench-evlog [--events N] [--always N] [--dir DIR]
 *
 * Defaults: N = 1000000 (memory, interval, never; a tenth as many 1 KiB
 * events), 2000 for fsync always (one fsync per event), DIR a new
 * directory under $TMPDIR, removed at the end. One line per run: what,
 * event size, events, time, events per second, MB per second (of event
 * data).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsp.h>
#include <wsp/evlog.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench-evlog: %s: %s\n", what, wsp_strerror(rc));
  exit(1);
}

static void report(const char *what, size_t size, size_t n, double secs) {
  double rate = secs > 0 ? (double)n / secs : 0;
  printf("%-36s %5zu B %9zu events %8.3f s  %12.0f events/s %9.1f MB/s\n", what,
         size, n, secs, rate, rate * (double)size / 1e6);
  fflush(stdout);
}

static void report_ms(const char *what, size_t size, size_t n, double secs) {
  double rate = secs > 0 ? (double)n / secs : 0;
  printf("%-36s %5zu B %9zu events %8.3f ms %12.0f events/s %9.1f MB/s\n", what,
         size, n, secs * 1e3, rate, rate * (double)size / 1e6);
  fflush(stdout);
}

struct sink {
  size_t n, bytes;
};

static int count(const struct wsp_evlog_event *e, void *ud) {
  struct sink *s = ud;
  s->n++;
  s->bytes += e->data.len;
  return 0;
}

static struct wsp_evlog *open_log(const char *dir, int fsync, uint64_t keep) {
  struct wsp_evlog_options o;
  struct wsp_evlog *ev;
  int rc;
  memset(&o, 0, sizeof(o));
  o.retention.max_events = keep;
  if (dir) {
    struct wsp_evlog_file_options fo;
    memset(&fo, 0, sizeof(fo));
    fo.fsync = fsync;
    fo.interval = 1000;
    if ((rc = wsp_evlog_file_store_new(&o.store, dir, &fo, NULL)) != 0)
      die("file store", rc);
  }
  if ((rc = wsp_evlog_new(&ev, &o, now_ms())) != 0)
    die("open", rc);
  return ev;
}

/* A reader 10,000 events behind the top gets them all. */
static void recover(struct wsp_evlog *ev, const char *stream, size_t size,
                    const char *what) {
  struct wsp_evlog_recovery rec;
  struct wsp_evlog_position pos;
  struct sink sink;
  double t0;
  int rc;
  if ((rc = wsp_evlog_position(ev, stream, strlen(stream), &pos)) != 0)
    die("position", rc);
  memset(&sink, 0, sizeof(sink));
  t0 = now_s();
  rc = wsp_evlog_recover(ev, stream, strlen(stream), pos.offset - 10000,
                         pos.epoch, 10000, count, &sink, &rec);
  if (rc != 0 || !rec.recovered || sink.n != 10000 ||
      sink.bytes != 10000 * size)
    die("recover", rc ? rc : WSP_ERR_STATE);
  report_ms(what, size, sink.n, now_s() - t0);
}

static void run(const char *name, const char *top, int fsync, size_t size,
                size_t n, uint64_t keep) {
  char what[64], stream[32], sub[600];
  const char *dir = NULL;
  struct wsp_evlog_position pos;
  struct wsp_evlog *ev;
  struct sink sink;
  uint8_t *data = malloc(size);
  uint64_t last = now_ms();
  double t0;
  size_t i;
  long got;
  int rc;
  if (!data)
    die("malloc", WSP_ERR_NOMEM);
  for (i = 0; i < size; i++)
    data[i] = (uint8_t)('a' + i % 26);
  snprintf(stream, sizeof(stream), "bench-%s-%zu", name, size);
  if (top) {
    /* a store of its own, so that reopening loads this stream only */
    snprintf(sub, sizeof(sub), "%s/%s", top, stream);
    for (i = strlen(top) + 1; sub[i]; i++)
      if (sub[i] == '/')
        sub[i] = '-';
    dir = sub;
  }
  ev = open_log(dir, fsync, keep);

  t0 = now_s();
  for (i = 0; i < n; i++) {
    if ((rc = wsp_evlog_append(ev, stream, strlen(stream), last, data, size,
                               NULL, 0, NULL)) != 0)
      die("append", rc);
    if ((i & 255) == 0) {
      uint64_t t = now_ms();
      if (t != last) { /* what a loop does between batches */
        last = t;
        if (last >= wsp_evlog_next_deadline(ev) &&
            (rc = wsp_evlog_tick(ev, last)) != 0)
          die("tick", rc);
      }
    }
  }
  if ((rc = wsp_evlog_sync(ev)) != 0)
    die("sync", rc);
  snprintf(what, sizeof(what), "append %s", name);
  report(what, size, n, now_s() - t0);

  memset(&sink, 0, sizeof(sink));
  t0 = now_s();
  got = wsp_evlog_read(ev, stream, strlen(stream), NULL, 0, WSP_EVLOG_NO_LIMIT,
                       0, count, &sink, &pos);
  if (got < 0)
    die("read", (int)got);
  snprintf(what, sizeof(what), "replay %s", name);
  report(what, size, sink.n, now_s() - t0);

  if (pos.offset >= 10000 && pos.first + 10000 <= pos.offset + 1) {
    snprintf(what, sizeof(what), "recover 10000 %s", name);
    recover(ev, stream, size, what);
    if (dir) {
      wsp_evlog_free(ev);
      t0 = now_s();
      ev = open_log(dir, fsync, keep);
      snprintf(what, sizeof(what), "reopen %s", name);
      printf("%-36s %5zu B %9zu events %8.3f ms\n", what, size,
             (size_t)pos.offset, (now_s() - t0) * 1e3);
      snprintf(what, sizeof(what), "recover 10000 %s reopened", name);
      recover(ev, stream, size, what);
    }
  }
  wsp_evlog_free(ev);
  free(data);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  size_t n = 1000000, n_always = 2000, sizes[2] = {64, 1024};
  const char *dir = NULL;
  char tmpl[512];
  int i, made = 0;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
      n = (size_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--always") == 0 && i + 1 < argc)
      n_always = (size_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else {
      fprintf(stderr, "usage: bench-evlog [--events N] [--always N] "
                      "[--dir DIR]\n");
      return 2;
    }
  }
  if (!dir) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof(tmpl), "%s/bench-evlog-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpl)) {
      perror("bench-evlog: mkdtemp");
      return 1;
    }
    dir = tmpl;
    made = 1;
  }
  printf("file store in %s\n", dir);
  for (i = 0; i < 2; i++) {
    /* 1 KiB events: a tenth as many, to keep the disk use modest */
    size_t m = sizes[i] > 64 ? n / 10 : n;
    run("memory", NULL, 0, sizes[i], m, 0);
    run("file/never", dir, WSP_EVLOG_FSYNC_NEVER, sizes[i], m, 0);
    run("file/interval", dir, WSP_EVLOG_FSYNC_INTERVAL, sizes[i], m, 0);
    run("file/always", dir, WSP_EVLOG_FSYNC_ALWAYS, sizes[i], n_always, 0);
  }
  /* A channel's history as the hub keeps it: the last 100 events, so
   * every append also expires one. */
  run("memory/keep100", NULL, 0, 64, n, 100);
  run("file/interval/keep100", dir, WSP_EVLOG_FSYNC_INTERVAL, 64, n, 100);
  if (made)
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
