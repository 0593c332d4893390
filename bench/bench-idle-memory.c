/*
 * bench-idle-memory: heap held by an idle, handshaken server connection.
 *
 * N client and N server connections are joined in memory (each side's
 * pending output is fed to the other's wsp_conn_recv), every handshake is
 * completed and one small text message goes each way, so that every
 * connection has been through the message path. The client connections
 * are then freed and the heap still in use, minus the heap in use before
 * anything was created, is what the N idle server connections hold:
 * libwsp's own blocks and whatever wslay keeps (wslay allocates with the
 * C library's malloc, which is why the process heap is measured).
 *
 * libwsp's share is counted exactly through a struct wsp_mem given to the
 * server connections; it is expressed in heap terms (usable size of each
 * block plus the allocator's per-block header), the same unit as the
 * mallinfo2() figures, so the remainder is wslay's.
 *
 * glibc's per-thread cache keeps freed blocks that mallinfo2() reports as
 * in use, so the program re-executes itself once with the cache turned
 * off (GLIBC_TUNABLES=glibc.malloc.tcache_count=0): the figures are then
 * exact, and freeing everything returns the heap to its baseline.
 *
 *   bench-idle-memory [--conns N] [--open-fragment]
 *
 * --open-fragment leaves each connection in the middle of a fragmented
 * message (the client sends a first fragment without FIN), which is not
 * idle: it shows what a connection costs while a message is open, and
 * that the measurement sees wslay's allocations.
 *
 * Exits 0 whatever the figures (it is a benchmark, not a test) unless the
 * connections could not be set up at all.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsp.h>

#define BUDGET 1024
#define WSLAY_CONTEXT_BYTES 8790 /* one wslay_event_context, measured */

/* ---- Heap accounting -------------------------------------------------- */

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/* What one block costs the heap: its usable size plus the chunk header
 * glibc keeps in front of it (mallinfo2 counts whole chunks). */
static size_t block_cost(void *p) {
  return malloc_usable_size(p) + sizeof(size_t);
}

struct counter {
  size_t live;   /* heap bytes of live blocks */
  size_t blocks; /* live blocks */
  size_t peak;
  size_t calls; /* malloc + realloc calls */
};

static void count_add(struct counter *k, void *p) {
  k->live += block_cost(p);
  k->blocks++;
  if (k->live > k->peak)
    k->peak = k->live;
}

static void count_sub(struct counter *k, void *p) {
  k->live -= block_cost(p);
  k->blocks--;
}

static void *count_malloc(size_t size, void *ud) {
  struct counter *k = ud;
  void *p = malloc(size);
  k->calls++;
  if (p)
    count_add(k, p);
  return p;
}

static void *count_realloc(void *ptr, size_t size, void *ud) {
  struct counter *k = ud;
  size_t old = ptr ? block_cost(ptr) : 0;
  void *p = realloc(ptr, size);
  k->calls++;
  if (!p)
    return NULL; /* ptr is untouched */
  if (ptr) {
    k->live -= old;
    k->blocks--;
  }
  count_add(k, p);
  return p;
}

static void count_free(void *ptr, void *ud) {
  if (ptr)
    count_sub(ud, ptr);
  free(ptr);
}

/* ---- Callbacks -------------------------------------------------------- */

struct stats {
  size_t srv_open, srv_msgs, cli_open, cli_msgs, closes, send_errors;
};

static const char reply[] = "hello, client";
static const char hello[] = "hello, server";

static void srv_open(struct wsp_conn *c, const struct wsp_response *resp,
                     void *ud) {
  (void)c;
  (void)resp;
  ((struct stats *)ud)->srv_open++;
}

static void srv_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                        size_t len, void *ud) {
  struct stats *st = ud;
  (void)data;
  if (opcode == WSP_OP_TEXT && len == sizeof(hello) - 1)
    st->srv_msgs++;
  if (wsp_conn_send(c, WSP_OP_TEXT, reply, sizeof(reply) - 1) != 0)
    st->send_errors++;
}

static void cli_open(struct wsp_conn *c, const struct wsp_response *resp,
                     void *ud) {
  (void)c;
  (void)resp;
  ((struct stats *)ud)->cli_open++;
}

static void cli_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                        size_t len, void *ud) {
  (void)c;
  (void)data;
  if (opcode == WSP_OP_TEXT && len == sizeof(reply) - 1)
    ((struct stats *)ud)->cli_msgs++;
}

static void any_close(struct wsp_conn *c, int code, const uint8_t *reason,
                      size_t len, void *ud) {
  (void)c;
  (void)code;
  (void)reason;
  (void)len;
  ((struct stats *)ud)->closes++;
}

/* ---- In-memory transport ---------------------------------------------- */

/* Move everything from's output holds into to; returns the bytes moved or
 * -1 when to failed. */
static long move(struct wsp_conn *from, struct wsp_conn *to) {
  struct iovec iov[16];
  long total = 0;
  int rounds, n, i;
  for (rounds = 0; rounds < 1000; rounds++) {
    size_t batch = 0;
    int failed = 0;
    n = wsp_conn_pending(from, iov, 16);
    if (n <= 0)
      break;
    for (i = 0; i < n; i++) {
      if (!failed && wsp_conn_recv(to, iov[i].iov_base, iov[i].iov_len) < 0)
        failed = 1;
      batch += iov[i].iov_len;
    }
    wsp_conn_sent(from, batch);
    total += (long)batch;
    if (failed)
      return -1;
  }
  return total;
}

/* Shuttle bytes both ways until both sides are quiet. */
static int pump(struct wsp_conn *a, struct wsp_conn *b) {
  int round;
  for (round = 0; round < 64; round++) {
    long x = move(a, b), y;
    if (x < 0)
      return -1;
    y = move(b, a);
    if (y < 0)
      return -1;
    if (x == 0 && y == 0)
      return 0;
  }
  return -1;
}

/* Create a client and a server connection, complete the handshake and send
 * one message each way (the server answers from on_message). */
static int make_pair(struct wsp_conn **cli, struct wsp_conn **srv,
                     const struct wsp_conn_callbacks *ccb,
                     const struct wsp_conn_callbacks *scb,
                     const struct wsp_mem *smem, struct stats *st) {
  int rv = wsp_conn_new(cli, WSP_ROLE_CLIENT, ccb, NULL, 0, st);
  if (rv == 0)
    rv = wsp_conn_new(srv, WSP_ROLE_SERVER, scb, smem, 0, st);
  if (rv == 0)
    rv = wsp_conn_client_start(*cli, "127.0.0.1:9001", "/bench", NULL);
  if (rv == 0 && pump(*cli, *srv) != 0)
    rv = WSP_ERR_HANDSHAKE;
  if (rv == 0)
    rv = wsp_conn_send(*cli, WSP_OP_TEXT, hello, sizeof(hello) - 1);
  if (rv == 0 && pump(*cli, *srv) != 0)
    rv = WSP_ERR_PROTO;
  return rv;
}

/* ---- Main ------------------------------------------------------------- */

static void usage(const char *argv0) {
  fprintf(stderr, "usage: %s [--conns N] [--open-fragment]\n", argv0);
}

#define TCACHE_OFF "glibc.malloc.tcache_count=0"

/* Re-execute with glibc's per-thread cache off unless it already is. */
static void tcache_off(char **argv) {
  const char *t = getenv("GLIBC_TUNABLES");
  char buf[1024];
  if (t && strstr(t, TCACHE_OFF))
    return;
  if (t && *t)
    snprintf(buf, sizeof(buf), "%s:%s", t, TCACHE_OFF);
  else
    snprintf(buf, sizeof(buf), "%s", TCACHE_OFF);
  if (setenv("GLIBC_TUNABLES", buf, 1) == 0)
    execv("/proc/self/exe", argv);
  fprintf(stderr, "bench-idle-memory: could not turn glibc's tcache off; "
                  "figures include up to a few KiB of cached blocks\n");
}

int main(int argc, char **argv) {
  size_t n = 10000, i, failures = 0, open_srv = 0;
  struct wsp_conn **srv, **cli;
  struct counter count = {0, 0, 0, 0};
  struct wsp_mem mem = {count_malloc, count_realloc, count_free, &count, NULL};
  struct stats st;
  struct wsp_conn_callbacks scb, ccb;
  size_t h0, h1, h2, h3, server_heap, per_conn, per_lib, per_wslay;
  int a, fragment = 0;

  for (a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--open-fragment") == 0) {
      fragment = 1;
    } else if (strcmp(argv[a], "--conns") == 0 && a + 1 < argc) {
      char *end;
      unsigned long v = strtoul(argv[++a], &end, 10);
      if (*end || v == 0 || v > 10000000) {
        usage(argv[0]);
        return 2;
      }
      n = v;
    } else {
      usage(argv[0]);
      return 2;
    }
  }

  tcache_off(argv);

  memset(&st, 0, sizeof(st));
  memset(&scb, 0, sizeof(scb));
  memset(&ccb, 0, sizeof(ccb));
  scb.on_open = srv_open;
  scb.on_message = srv_message;
  scb.on_close = any_close;
  ccb.on_open = cli_open;
  ccb.on_message = cli_message;
  ccb.on_close = any_close;

  /* Everything the benchmark itself needs is allocated before the
   * baseline, stdout's buffer included. */
  srv = calloc(n, sizeof(*srv));
  cli = calloc(n, sizeof(*cli));
  if (!srv || !cli) {
    fprintf(stderr, "bench-idle-memory: out of memory\n");
    return 1;
  }
  printf("libwsp %s: %zu server + %zu client connections in memory\n",
         wsp_version_string(), n, n);
  fflush(stdout);

  /* One pair goes through the whole life cycle first, so that whatever
   * the process allocates once (in libc or wslay) is not charged to the
   * connections measured. */
  {
    struct stats warm;
    struct wsp_conn *wc = NULL, *ws = NULL;
    memset(&warm, 0, sizeof(warm));
    if (make_pair(&wc, &ws, &ccb, &scb, NULL, &warm) != 0)
      fprintf(stderr, "bench-idle-memory: warm-up pair failed\n");
    wsp_conn_free(wc);
    wsp_conn_free(ws);
  }

  h0 = heap_in_use();
  for (i = 0; i < n; i++) {
    int rv = make_pair(&cli[i], &srv[i], &ccb, &scb, &mem, &st);
    if (rv == 0 && fragment)
      rv = wsp_conn_send_fragment(cli[i], WSP_OP_TEXT, hello, sizeof(hello) - 1,
                                  0);
    if (rv == 0 && fragment && pump(cli[i], srv[i]) != 0)
      rv = WSP_ERR_PROTO;
    if (rv != 0 && failures++ == 0)
      fprintf(stderr, "bench-idle-memory: pair %zu: %s\n", i, wsp_strerror(rv));
  }
  /* Idle means past the output queue's linger: tick each connection at
   * its next deadline, as an event loop would. */
  for (i = 0; i < n; i++) {
    uint64_t d;
    if (cli[i] && (d = wsp_conn_next_deadline(cli[i])) != WSP_NO_DEADLINE)
      wsp_conn_tick(cli[i], d);
    if (srv[i] && (d = wsp_conn_next_deadline(srv[i])) != WSP_NO_DEADLINE)
      wsp_conn_tick(srv[i], d);
  }
  h1 = heap_in_use();

  for (i = 0; i < n; i++) {
    wsp_conn_free(cli[i]);
    cli[i] = NULL;
  }
  h2 = heap_in_use();

  for (i = 0; i < n; i++)
    if (srv[i] && wsp_conn_get_state(srv[i]) == WSP_STATE_OPEN &&
        wsp_conn_queued_bytes(srv[i]) == 0)
      open_srv++;

  printf("handshakes: server %zu, client %zu; messages: to server %zu, to "
         "client %zu; closes %zu; send errors %zu\n",
         st.srv_open, st.cli_open, st.srv_msgs, st.cli_msgs, st.closes,
         st.send_errors);
  if (failures || open_srv != n || st.srv_msgs != n || st.cli_msgs != n)
    printf("WARNING: %zu pairs failed, %zu of %zu servers open and idle; "
           "figures below are not for idle connections\n",
           failures, open_srv, n);

  server_heap = h2 > h0 ? h2 - h0 : 0;
  per_conn = server_heap / n;
  per_lib = count.live / n;
  per_wslay = per_conn > per_lib ? per_conn - per_lib : 0;

  printf("heap in use: before %zu, all pairs %zu, servers only %zu bytes\n", h0,
         h1, h2);
  printf("idle client connection: %zu bytes of heap (libwsp + wslay, "
         "libc allocator)\n",
         h1 > h2 ? (h1 - h2) / n : 0);
  printf("libwsp in server connections: %zu bytes in %zu blocks live "
         "(%.2f blocks per connection), peak %zu, %zu allocation calls\n",
         count.live, count.blocks, (double)count.blocks / (double)n, count.peak,
         count.calls);
  printf("(for scale: one wslay_event_context is %d bytes of heap)\n",
         WSLAY_CONTEXT_BYTES);
  printf("%s server connection: %zu bytes of heap (libwsp %zu + wslay "
         "%zu), budget %d: %s\n",
         fragment ? "mid-message" : "idle", per_conn, per_lib, per_wslay,
         BUDGET,
         fragment             ? "n/a, not idle"
         : per_conn <= BUDGET ? "OK"
                              : "OVER");

  for (i = 0; i < n; i++)
    wsp_conn_free(srv[i]);
  h3 = heap_in_use();
  printf("after freeing everything: %+ld bytes against the baseline, libwsp "
         "%zu bytes in %zu blocks still live\n",
         (long)h3 - (long)h0, count.live, count.blocks);

  free(srv);
  free(cli);
  return failures == n ? 1 : 0;
}
