/*
 * bench-corr: requests per second through wsp_corr (start + complete, or
 * start + timeout), with no I/O.
 *
 *   one-by-one  start one request with a deadline, complete it, repeat
 *   window      keep W requests pending (like a client with W calls in
 *               flight) and complete a random one before each start
 *   bulk        start every request first (N pending at once), then
 *               complete them in a shuffled order
 *   timeouts    start every request with spread deadlines, then let them
 *               all time out through wsp_corr_tick()
 *
 *   bench-corr [--requests N] [--window W]
 *
 * Defaults: N = 1000000, W = 1000. One line per run: name, requests,
 * seconds, requests per second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsp.h>
#include <wsp/corr.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

struct counts {
  size_t replies, timeouts, other;
};

static void on_done(struct wsp_corr *c, uint32_t id, int status,
                    const void *data, size_t len, void *user_data) {
  struct counts *n = user_data;
  (void)c;
  (void)id;
  (void)data;
  (void)len;
  if (status == 0)
    n->replies++;
  else if (status == WSP_ERR_TIMEOUT)
    n->timeouts++;
  else
    n->other++;
}

static struct wsp_corr *make(size_t max_pending) {
  struct wsp_corr *c;
  if (wsp_corr_new(&c, NULL) != 0 ||
      wsp_corr_set_max_pending(c, max_pending) != 0) {
    fprintf(stderr, "bench-corr: cannot create the table\n");
    exit(1);
  }
  return c;
}

static void start(struct wsp_corr *c, uint64_t deadline, struct counts *n,
                  uint32_t *id) {
  int rc = wsp_corr_start(c, deadline, on_done, n, id);
  if (rc != 0) {
    fprintf(stderr, "bench-corr: start: %s\n", wsp_strerror(rc));
    exit(1);
  }
}

static void complete(struct wsp_corr *c, uint32_t id) {
  int rc = wsp_corr_complete(c, id, 0, "{}", 2);
  if (rc != 0) {
    fprintf(stderr, "bench-corr: complete %u: %s\n", (unsigned)id,
            wsp_strerror(rc));
    exit(1);
  }
}

static void report(const char *name, size_t n, double secs,
                   const struct counts *k, size_t expect_replies) {
  printf("%-12s %9zu requests  %7.3f s  %12.0f req/s%s\n", name, n, secs,
         secs > 0 ? (double)n / secs : 0.0,
         k->replies == expect_replies && k->timeouts == n - expect_replies &&
                 k->other == 0
             ? ""
             : "  (WRONG COUNTS)");
}

static void run_one_by_one(size_t n) {
  struct wsp_corr *c = make(WSP_CORR_DEFAULT_MAX_PENDING);
  struct counts k = {0, 0, 0};
  uint32_t id;
  size_t i;
  double t0 = now_s();
  for (i = 0; i < n; i++) {
    start(c, 30000 + i, &k, &id);
    complete(c, id);
  }
  report("one-by-one", n, now_s() - t0, &k, n);
  wsp_corr_free(c);
}

static void run_window(size_t n, size_t w) {
  struct wsp_corr *c = make(w + 1);
  struct counts k = {0, 0, 0};
  uint32_t *ids = malloc(w * sizeof(*ids));
  size_t i, j;
  double t0;
  if (!ids)
    exit(1);
  t0 = now_s();
  for (i = 0; i < w && i < n; i++)
    start(c, 30000 + i, &k, &ids[i]);
  for (; i < n; i++) {
    j = rnd() % w;
    complete(c, ids[j]);
    start(c, 30000 + i, &k, &ids[j]);
  }
  for (j = 0; j < w && j < n; j++)
    complete(c, ids[j]);
  report("window", n, now_s() - t0, &k, n);
  wsp_corr_free(c);
  free(ids);
}

static void run_bulk(size_t n) {
  struct wsp_corr *c = make(n);
  struct counts k = {0, 0, 0};
  uint32_t *ids = malloc(n * sizeof(*ids));
  size_t *order = malloc(n * sizeof(*order)), i, j, t;
  double t0;
  if (!ids || !order)
    exit(1);
  for (i = 0; i < n; i++)
    order[i] = i;
  for (i = n; i > 1; i--) {
    j = rnd() % i;
    t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  t0 = now_s();
  for (i = 0; i < n; i++)
    start(c, 30000 + rnd() % 60000, &k, &ids[i]);
  for (i = 0; i < n; i++)
    complete(c, ids[order[i]]);
  report("bulk", n, now_s() - t0, &k, n);
  wsp_corr_free(c);
  free(ids);
  free(order);
}

static void run_timeouts(size_t n) {
  struct wsp_corr *c = make(n);
  struct counts k = {0, 0, 0};
  uint32_t id;
  uint64_t now;
  size_t i;
  double t0 = now_s();
  for (i = 0; i < n; i++)
    start(c, 1000 + rnd() % 60000, &k, &id);
  for (now = 1000; wsp_corr_pending(c) > 0; now += 10)
    wsp_corr_tick(c, now);
  report("timeouts", n, now_s() - t0, &k, 0);
  wsp_corr_free(c);
}

int main(int argc, char **argv) {
  size_t n = 1000000, w = 1000;
  int i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
      n = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
      w = strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: bench-corr [--requests N] [--window W]\n");
      return 2;
    }
  }
  if (n == 0 || w == 0 || n > WSP_CORR_MAX_PENDING_LIMIT ||
      w >= WSP_CORR_MAX_PENDING_LIMIT) {
    fprintf(stderr, "bench-corr: N and W must be 1..%zu\n",
            (size_t)WSP_CORR_MAX_PENDING_LIMIT);
    return 2;
  }
  printf("wsp_corr, libwsp %s\n", wsp_version_string());
  run_one_by_one(n);
  run_window(n, w);
  run_bulk(n);
  run_timeouts(n);
  return 0;
}
