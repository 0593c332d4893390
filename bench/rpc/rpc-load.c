/*
 * rpc-load: round trips per second and latency percentiles of RPC calls
 * against a running wsp-demo (its echo method), over N WebSocket
 * connections with K calls in flight on each. It speaks the Centrifuge
 * JSON protocol by hand over libwsp's client role: a connect command, then
 * one rpc command per WebSocket message, a new one sent as each reply
 * arrives, for T seconds.
 *
 *   rpc-load [--connect HOST:PORT] [--connections N] [--inflight K]
 *            [--seconds T] [--warmup S] [--size BYTES] [--method NAME]
 *            [--path PATH]
 *
 * Defaults: 127.0.0.1:8000, 10 connections, 8 in flight, 10 s measured
 * after 1 s of warm-up, a 64-byte string as data, method echo, path
 * /connection/websocket. Latencies are from queueing a call to parsing its
 * reply, in microseconds, over the measured period only.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wsp.h>

struct conn {
  int fd;
  uint32_t events;
  struct wsp_conn *ws;
  int connected; /* the connect reply arrived */
  int closed; /* the WebSocket ended (on_close) */
  int done;   /* and its output is written: no longer polled */
  uint32_t next_id;
  unsigned inflight;
  uint64_t *sent_ns; /* by id % ring */
  uint32_t *sent_id;
};

static struct {
  const char *method, *path;
  char hostport[300];
  unsigned inflight, ring;
  size_t size;
  char *payload; /* the JSON string sent as data, quotes included */
  int sending;   /* new calls are sent while set */
  uint64_t measure_from, measure_to; /* ns */
  uint64_t errors, mismatches, disconnects;
  uint32_t *samples; /* latencies in us during the measured period */
  size_t nsamples, cap;
} g;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(uint64_t sent, uint64_t now) {
  if (sent < g.measure_from || now > g.measure_to)
    return;
  if (g.nsamples == g.cap) {
    size_t cap = g.cap ? g.cap * 2 : 1u << 20;
    uint32_t *s = realloc(g.samples, cap * sizeof *s);
    if (s == NULL)
      return;
    g.samples = s;
    g.cap = cap;
  }
  g.samples[g.nsamples++] = (uint32_t)((now - sent) / 1000u);
}

/* ---- Protocol ------------------------------------------------------------- */

static void send_call(struct conn *c) {
  char head[64];
  uint32_t id = ++c->next_id;
  int n;
  char *msg;
  size_t len;

  if (id == 0) /* ids are never 0 (that means no id) */
    id = c->next_id = 2;
  n = snprintf(head, sizeof head, "{\"id\":%u,\"rpc\":{\"method\":\"", id);
  len = (size_t)n + strlen(g.method) + 10 + strlen(g.payload) + 2;
  if ((msg = malloc(len + 1)) == NULL)
    return;
  len = (size_t)sprintf(msg, "%s%s\",\"data\":%s}}", head, g.method,
                        g.payload);
  c->sent_ns[id % g.ring] = now_ns();
  c->sent_id[id % g.ring] = id;
  if (wsp_conn_send(c->ws, WSP_OP_TEXT, msg, len) == 0)
    c->inflight++;
  free(msg);
}

/* {"id":N,...} -> N, or 0 when the line has no id. */
static uint32_t line_id(const char *p, size_t len) {
  uint32_t id = 0;
  size_t i;

  if (len < 7 || memcmp(p, "{\"id\":", 6) != 0)
    return 0;
  for (i = 6; i < len && p[i] >= '0' && p[i] <= '9'; i++)
    id = id * 10 + (uint32_t)(p[i] - '0');
  return id;
}

static int contains(const char *p, size_t len, const char *needle) {
  size_t n = strlen(needle), i;

  for (i = 0; i + n <= len; i++)
    if (memcmp(p + i, needle, n) == 0)
      return 1;
  return 0;
}

static void on_line(struct conn *c, const char *p, size_t len) {
  uint64_t now = now_ns();
  uint32_t id;
  unsigned i;

  if (len == 2 && memcmp(p, "{}", 2) == 0) { /* server ping */
    wsp_conn_send(c->ws, WSP_OP_TEXT, "{}", 2);
    return;
  }
  if ((id = line_id(p, len)) == 0)
    return; /* a push */
  if (!c->connected) {
    if (!contains(p, len, "\"connect\":")) {
      fprintf(stderr, "rpc-load: connect refused: %.*s\n", (int)len, p);
      wsp_conn_close(c->ws, WSP_CLOSE_NORMAL, NULL, 0);
      return;
    }
    c->connected = 1;
    for (i = 0; i < g.inflight && g.sending; i++)
      send_call(c);
    return;
  }
  if (c->sent_id[id % g.ring] != id) {
    g.mismatches++;
    return;
  }
  c->inflight--;
  if (contains(p, len, "\"error\":"))
    g.errors++;
  else if (strcmp(g.method, "echo") == 0 &&
           !contains(p, len, g.payload))
    g.mismatches++;
  record(c->sent_ns[id % g.ring], now);
  if (g.sending)
    send_call(c);
}

static void on_open(struct wsp_conn *ws, const struct wsp_response *resp,
                    void *user_data) {
  static const char connect[] = "{\"id\":1,\"connect\":{\"name\":\"rpc-load\"}}";
  struct conn *c = user_data;

  c->next_id = 1;
  wsp_conn_send(ws, WSP_OP_TEXT, connect, sizeof connect - 1);
}

static void on_message(struct wsp_conn *ws, int opcode, const uint8_t *data,
                       size_t len, void *user_data) {
  const char *p = (const char *)data, *end = p + len;

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    on_line(user_data, p, (size_t)(le - p));
    p = nl ? nl + 1 : end;
  }
}

static void on_close(struct wsp_conn *ws, int code, const uint8_t *reason,
                     size_t len, void *user_data) {
  struct conn *c = user_data;

  c->closed = 1;
  if (g.sending) {
    g.disconnects++;
    fprintf(stderr, "rpc-load: connection closed: %d %.*s\n", code, (int)len,
            (const char *)reason);
  }
}

static const struct wsp_conn_callbacks callbacks = {
    .on_open = on_open, .on_message = on_message, .on_close = on_close};

/* ---- Sockets ------------------------------------------------------------ */

static int tcp_connect(const char *host, const char *port) {
  struct addrinfo hints = {0}, *res = NULL, *ai;
  int fd = -1, one = 1;

  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0)
    return -1;
  for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

static int flush(int epfd, struct conn *c) {
  struct iovec iov[64];
  struct epoll_event ev = {0};
  int cnt, i;

  for (i = 0; i < 256 && (cnt = wsp_conn_pending(c->ws, iov, 64)) > 0; i++) {
    struct msghdr msg = {0};
    ssize_t n;

    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    if ((n = sendmsg(c->fd, &msg, MSG_NOSIGNAL)) < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        return -1;
      break;
    }
    wsp_conn_sent(c->ws, (size_t)n);
  }
  ev.events = EPOLLIN | (wsp_conn_want_write(c->ws) ? EPOLLOUT : 0);
  ev.data.ptr = c;
  if (ev.events != c->events && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
    c->events = ev.events;
  return 0;
}

static void drain(struct conn *c) {
  static uint8_t buf[65536];
  int i;

  for (i = 0; i < 16; i++) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n > 0) {
      if (wsp_conn_recv(c->ws, buf, (size_t)n) < 0 || (size_t)n < sizeof buf)
        return;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      wsp_conn_recv(c->ws, buf, 0);
      c->closed = 1;
      return;
    } else if (errno == EAGAIN) {
      return;
    }
  }
}

/* ---- Main ----------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t percentile(double q) {
  size_t i = (size_t)(q * (double)g.nsamples);
  return g.nsamples ? g.samples[i < g.nsamples ? i : g.nsamples - 1] : 0;
}

static void usage(void) {
  fprintf(stderr, "usage: rpc-load [--connect HOST:PORT] [--connections N] "
                  "[--inflight K]\n"
                  "                [--seconds T] [--warmup S] [--size BYTES] "
                  "[--method NAME] [--path PATH]\n");
  exit(2);
}

static unsigned long number(const char *s, unsigned long min,
                            unsigned long max) {
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
    usage();
  return v;
}

int main(int argc, char **argv) {
  const char *target = "127.0.0.1:8000";
  unsigned long nconns = 10, seconds = 10, warmup = 1, i;
  char host[256], *colon;
  struct conn *conns;
  struct epoll_event evs[256];
  struct rlimit rl;
  uint64_t start, stop_at, busy, alive;
  int epfd, a;
  double measured;

  g.method = "echo";
  g.path = "/connection/websocket";
  g.inflight = 8;
  g.size = 64;
  for (a = 1; a < argc; a++) {
    const char *opt = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;
    if (val == NULL)
      usage();
    a++;
    if (strcmp(opt, "--connect") == 0)
      target = val;
    else if (strcmp(opt, "--connections") == 0 || strcmp(opt, "-c") == 0)
      nconns = number(val, 1, 100000);
    else if (strcmp(opt, "--inflight") == 0 || strcmp(opt, "-k") == 0)
      g.inflight = (unsigned)number(val, 1, 100000);
    else if (strcmp(opt, "--seconds") == 0 || strcmp(opt, "-t") == 0)
      seconds = number(val, 1, 3600);
    else if (strcmp(opt, "--warmup") == 0)
      warmup = number(val, 0, 600);
    else if (strcmp(opt, "--size") == 0)
      g.size = number(val, 0, 60000);
    else if (strcmp(opt, "--method") == 0)
      g.method = val;
    else if (strcmp(opt, "--path") == 0)
      g.path = val;
    else
      usage();
  }
  colon = strrchr(target, ':');
  if (colon == NULL || (size_t)(colon - target) >= sizeof host ||
      strlen(target) >= sizeof g.hostport || strchr(g.method, '"') ||
      strchr(g.method, '\\'))
    usage();
  memcpy(host, target, (size_t)(colon - target));
  host[colon - target] = '\0';
  strcpy(g.hostport, target);

  /* The data: a string of size 'x' characters. */
  g.payload = malloc(g.size + 3);
  g.payload[0] = '"';
  memset(g.payload + 1, 'x', g.size);
  strcpy(g.payload + 1 + g.size, "\"");
  for (g.ring = 1; g.ring < 2 * g.inflight; g.ring *= 2)
    ;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nconns + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
      (conns = calloc(nconns, sizeof *conns)) == NULL)
    return 1;

  start = now_ns();
  g.measure_from = start + (uint64_t)warmup * 1000000000u;
  g.measure_to = g.measure_from + (uint64_t)seconds * 1000000000u;
  g.sending = 1;
  for (i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

    c->sent_ns = calloc(g.ring, sizeof *c->sent_ns);
    c->sent_id = calloc(g.ring, sizeof *c->sent_id);
    if ((c->fd = tcp_connect(host, colon + 1)) < 0) {
      fprintf(stderr, "rpc-load: cannot connect to %s (connection %lu)\n",
              target, i + 1);
      return 1;
    }
    if (c->sent_ns == NULL || c->sent_id == NULL ||
        wsp_conn_new(&c->ws, WSP_ROLE_CLIENT, &callbacks, NULL, 0, c) < 0 ||
        wsp_conn_client_start(c->ws, g.hostport, g.path, NULL) < 0)
      return 1;
    c->events = ev.events;
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  }

  /* Run until the end of the measured period, then let the calls in
   * flight finish (at most 2 s). */
  stop_at = g.measure_to + 2000000000u;
  for (;;) {
    uint64_t now = now_ns();
    int n;

    if (g.sending && now >= g.measure_to)
      g.sending = 0;
    busy = alive = 0;
    for (i = 0; i < nconns; i++) {
      busy += !conns[i].closed && conns[i].inflight > 0;
      alive += !conns[i].done;
    }
    if (now >= stop_at || (!g.sending && busy == 0) || alive == 0)
      break;
    n = epoll_wait(epfd, evs, 256, 50);
    for (a = 0; a < n; a++) {
      struct conn *c = evs[a].data.ptr;
      if (c->done)
        continue;
      if (evs[a].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        drain(c);
      /* Flush even when closed: the reply to a close frame is owed. */
      if (flush(epfd, c) < 0 || wsp_conn_is_done(c->ws)) {
        c->closed = c->done = 1;
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
      }
    }
  }

  qsort(g.samples, g.nsamples, sizeof *g.samples, cmp_u32);
  measured = (double)seconds;
  printf("rpc-load: %s %s, %lu connections x %u in flight, %zu-byte data, "
         "%lu s measured\n",
         target, g.method, nconns, g.inflight, g.size, seconds);
  printf("  round trips   %zu  (%.0f/s)\n", g.nsamples,
         (double)g.nsamples / measured);
  printf("  latency us    p50 %u  p99 %u  p999 %u  max %u\n",
         percentile(0.50), percentile(0.99), percentile(0.999),
         g.nsamples ? g.samples[g.nsamples - 1] : 0);
  printf("  errors        %llu error replies, %llu mismatched, %llu "
         "connections lost\n",
         (unsigned long long)g.errors, (unsigned long long)g.mismatches,
         (unsigned long long)g.disconnects);

  for (i = 0; i < nconns; i++) {
    /* Say goodbye; best effort, the socket closes right after. */
    if (!conns[i].done && wsp_conn_close(conns[i].ws, WSP_CLOSE_NORMAL,
                                           NULL, 0) == 0)
      flush(epfd, &conns[i]);
    close(conns[i].fd);
    wsp_conn_free(conns[i].ws);
    free(conns[i].sent_ns);
    free(conns[i].sent_id);
  }
  free(conns);
  free(g.samples);
  free(g.payload);
  close(epfd);
  return g.errors || g.mismatches || g.disconnects || g.nsamples == 0;
}
