/*
 * soak: reliability figures for a running wsp-demo, loopback only. Phases
 * (--phase, default all; see README.md for what each measures):
 *   hold       N connections connected and subscribed, then reset (RST);
 *              RSS per connection, RSS after they are gone
 *   churn      200 clients cycling connect, subscribe, publish, disconnect
 *              for S seconds; errors, RSS growth between the two halves,
 *              the server's open descriptors before and after
 *   slowloris  N upgrade requests sent one byte a second; each must be
 *              closed at the handshake timeout while a normal client
 *              connects and calls the RPC echo
 *   storm      clients sending WebSocket pings as fast as they can (some
 *              never reading the pongs) and clients sending unsolicited
 *              protocol pongs; RPC latency and RSS meanwhile
 *   bigframe   one message holding 10,000 commands
 *   amplify    one message of history commands whose answers are large
 *   subs       10,000 subscriptions on one connection (limit: error 106)
 *
 *   soak --connect HOST:PORT --pid PID --api-key KEY [--phase P[,P...]]
 *        [--quick] [--conns N] [--churn-seconds S] [--churn-clients C]
 *        [--slowloris N] [--handshake-timeout-ms MS] [--storm-clients N]
 *        [--storm-seconds S] [--max-queued BYTES] [--ping-deadline-ms MS]
 *        [--commands N] [--subs N] [--amplify-pub-bytes N]
 *
 * One line of key=value figures per phase, then the criteria, each "met"
 * or "NOT met", hard or soft. Exit status: 0 when every criterion is met
 * (with --quick: every hard one), 1 otherwise, 2 when the run could not
 * start. The client frames are written by hand (masked), so the program
 * does not share code with the server it measures. Every loop is bounded
 * in count and in time.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LIT_LEN(s) (sizeof(s) - 1)
#define CONNECT_BATCH 100 /* handshakes in progress at once (backlog 128) */
#define MAX_FRAME (8u << 20)
#define RPC_SLOW_MS 1000 /* an RPC unanswered this long: unresponsive */
#define REPLY_TIMEOUT_MS 10000
#define DRAIN_TIMEOUT_MS 30000
#define HOLD_SETTLE_MS 1000 /* after a mass close, before RSS is read */
#define MAX_CRIT 48

#define WS_TEXT 0x1
#define WS_CLOSE 0x8
#define WS_PING 0x9
#define WS_PONG 0xa

/* Centrifuge codes this program expects (wsp-protocol(7)). */
#define CF_ERR_LIMIT 106
#define CF_CLOSE_BAD_REQUEST 3501

enum state { ST_TCP, ST_HTTP, ST_CONNECT, ST_OPEN, ST_CLOSING, ST_DEAD };
enum gone { GONE_CLOSE_FRAME, GONE_EOF, GONE_ERROR, GONE_LOCAL };

struct conn;
struct ops {
  void (*ready)(struct conn *c); /* connect answered */
  void (*reply)(struct conn *c, uint64_t id, int err);
  void (*pong)(struct conn *c);                /* a WebSocket pong */
  void (*gone)(struct conn *c, enum gone why); /* fd closed already */
};

struct conn {
  int fd;
  uint8_t state;
  uint8_t raw;  /* slowloris: no WebSocket, bytes only */
  uint8_t deaf; /* never reads */
  uint32_t events;
  int close_code; /* from the server's close frame, 0 without one */
  int slot;
  uint64_t t0;      /* opened (ms) */
  uint64_t t1;      /* phase use */
  uint64_t sent_us; /* when the outstanding request left */
  uint64_t n1, n2;  /* phase counters */
  uint64_t text_in; /* bytes of text messages received */
  const struct ops *ops;
  uint8_t *in;
  size_t inlen, incap;
  uint8_t *out;
  size_t outlen, outoff, outcap;
};

struct crit {
  char text[160];
  int met, hard;
};

static struct {
  struct sockaddr_in addr;
  char hostport[64];
  const char *api_key;
  long pid;
  int epfd;
  int quick;
  void (*tick)(uint64_t now);
  struct crit crit[MAX_CRIT];
  int ncrit;
  unsigned long long conn_errors; /* connects that failed, all phases */
  int crashed;
} g;

static uint8_t rbuf[256 * 1024];
static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
static const char upgrade_fmt[] =
    "GET /connection/websocket HTTP/1.1\r\nHost: %s\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* ---- Small helpers ------------------------------------------------------ */

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void) { return now_us() / 1000u; }

static void crit(int hard, int met, const char *fmt, ...) {
  struct crit *c;
  va_list ap;

  if (g.ncrit == MAX_CRIT)
    return;
  c = &g.crit[g.ncrit++];
  c->hard = hard;
  c->met = met;
  va_start(ap, fmt);
  vsnprintf(c->text, sizeof c->text, fmt, ap);
  va_end(ap);
}

/* A field of the server's /proc/PID/status in KiB ("VmRSS: %ld kB"),
 * -1 when unreadable. */
static long status_kib(const char *fmt) {
  char path[64], line[256];
  long kib = -1;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%ld/status", g.pid);
  if ((f = fopen(path, "r")) == NULL)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, fmt, &kib) == 1)
      break;
  fclose(f);
  return kib;
}

static long rss_kib(void) { return status_kib("VmRSS: %ld kB"); }
/* The peak RSS since the server started: catches what lives shorter
 * than a sampling period. */
static long hwm_kib(void) { return status_kib("VmHWM: %ld kB"); }

/* Open descriptors of the server, -1 when unreadable. */
static long open_fds(void) {
  char path[64];
  struct dirent *e;
  long n = 0;
  DIR *d;

  snprintf(path, sizeof path, "/proc/%ld/fd", g.pid);
  if ((d = opendir(path)) == NULL)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* The server's soft RLIMIT_NOFILE, -1 when unknown. */
static long server_fd_limit(void) {
  char path[64], line[256];
  long lim = -1;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%ld/limits", g.pid);
  if ((f = fopen(path, "r")) == NULL)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Max open files %ld", &lim) == 1)
      break;
  fclose(f);
  return lim;
}

/* The server process exists and is not a zombie. */
static int server_alive(void) {
  char path[64], line[256];
  int alive = 0;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%ld/status", g.pid);
  if ((f = fopen(path, "r")) == NULL)
    return 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "State:", 6) == 0) {
      alive = strchr(line, 'Z') == NULL && strchr(line, 'X') == NULL;
      break;
    }
  fclose(f);
  if (!alive)
    g.crashed = 1;
  return alive;
}

/* ---- The server API (blocking, with timeouts) --------------------------- */

/* POST /api/METHOD with body; the answer's body into out. 0 or -1. */
static int api_call(const char *method, const char *body, char *out,
                    size_t size) {
  struct timeval tv = {.tv_sec = 5};
  char req[512];
  size_t have = 0;
  int fd, n;
  char *p;

  if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  n = snprintf(req, sizeof req,
               "POST /api/%s HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: apikey %s\r\nConnection: close\r\n"
               "Content-Type: application/json\r\nContent-Length: %zu\r\n"
               "\r\n",
               method, g.hostport, g.api_key, strlen(body));
  if (n < 0 || (size_t)n >= sizeof req ||
      connect(fd, (struct sockaddr *)&g.addr, sizeof g.addr) < 0 ||
      send(fd, req, (size_t)n, MSG_NOSIGNAL | MSG_MORE) != n ||
      send(fd, body, strlen(body), MSG_NOSIGNAL) != (ssize_t)strlen(body)) {
    close(fd);
    return -1;
  }
  /* Read to the end of the body (Content-Length) or of the stream. */
  for (;;) {
    ssize_t r = recv(fd, out + have, size - 1 - have, 0);
    char *hdr_end, *cl;

    if (r <= 0)
      break;
    have += (size_t)r;
    out[have] = '\0';
    if ((hdr_end = strstr(out, "\r\n\r\n")) != NULL &&
        (cl = strcasestr(out, "Content-Length:")) != NULL && cl < hdr_end &&
        have >= (size_t)(hdr_end + 4 - out) + strtoul(cl + 15, NULL, 10))
      break;
    if (have == size - 1)
      break;
  }
  close(fd);
  out[have] = '\0';
  if (strncmp(out, "HTTP/1.1 200", 12) != 0 ||
      (p = strstr(out, "\r\n\r\n")) == NULL)
    return -1;
  memmove(out, p + 4, strlen(p + 4) + 1);
  return 0;
}

/* A number member of a JSON object (first occurrence), -1 when absent. */
static long long json_num(const char *json, const char *key) {
  char pat[64];
  const char *p;

  snprintf(pat, sizeof pat, "\"%s\":", key);
  if ((p = strstr(json, pat)) == NULL)
    return -1;
  return strtoll(p + strlen(pat), NULL, 10);
}

struct info {
  long long connections, subscriptions, channels, errors_limit, accepted;
};

static int api_info(struct info *in) {
  char buf[8192];

  memset(in, 0xff, sizeof *in);
  if (api_call("info", "{}", buf, sizeof buf) < 0)
    return -1;
  in->connections = json_num(buf, "connections");
  in->subscriptions = json_num(buf, "subscriptions");
  in->channels = json_num(buf, "channels");
  in->errors_limit = json_num(buf, "errors_limit");
  in->accepted = json_num(buf, "accepted");
  return in->connections < 0 ? -1 : 0;
}

/* ---- Connections -------------------------------------------------------- */

static void conn_watch(struct conn *c) {
  struct epoll_event ev = {0};
  uint32_t want = 0;

  if (c->state == ST_DEAD)
    return;
  /* A client that does not read still learns of the server's close. */
  want |= c->deaf ? EPOLLRDHUP : EPOLLIN;
  if (c->state == ST_TCP || c->outoff < c->outlen)
    want |= EPOLLOUT;
  if (want == c->events)
    return;
  ev.events = want;
  ev.data.ptr = c;
  epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = want;
}

/* Close the socket (with rst: SO_LINGER 0, so the server reads a reset)
 * and tell the phase, once. */
static void conn_end(struct conn *c, enum gone why, int rst) {
  if (c->state == ST_DEAD)
    return;
  if (rst) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->state = ST_DEAD;
  free(c->in);
  free(c->out);
  c->in = c->out = NULL;
  c->inlen = c->incap = c->outlen = c->outoff = c->outcap = 0;
  if (c->ops && c->ops->gone)
    c->ops->gone(c, why);
}

static void conn_flush(struct conn *c) {
  while (c->outoff < c->outlen) {
    ssize_t n =
        send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        conn_end(c, GONE_ERROR, 0);
      break;
    }
    c->outoff += (size_t)n;
  }
  if (c->state == ST_DEAD)
    return;
  if (c->outoff == c->outlen)
    c->outoff = c->outlen = 0;
  conn_watch(c);
}

static int out_room(struct conn *c, size_t need) {
  size_t cap = c->outcap ? c->outcap : 1024;
  uint8_t *p;

  if (c->outoff > 0 && c->outoff == c->outlen)
    c->outoff = c->outlen = 0;
  if (c->outlen + need <= c->outcap)
    return 0;
  while (cap < c->outlen + need)
    cap *= 2;
  if ((p = realloc(c->out, cap)) == NULL)
    return -1;
  c->out = p;
  c->outcap = cap;
  return 0;
}

/* Queue bytes as they are; flush with conn_flush. */
static int conn_put(struct conn *c, const void *data, size_t len) {
  if (c->state == ST_DEAD || out_room(c, len) < 0)
    return -1;
  memcpy(c->out + c->outlen, data, len);
  c->outlen += len;
  return 0;
}

/* Queue one masked frame. */
static int conn_frame(struct conn *c, int opcode, const void *data,
                      size_t len) {
  uint8_t *h;
  size_t n = 2, i;

  if (c->state == ST_DEAD || out_room(c, len + 14) < 0)
    return -1;
  h = c->out + c->outlen;
  h[0] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    h[1] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    h[1] = 0x80 | 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    n = 4;
  } else {
    h[1] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    n = 10;
  }
  memcpy(h + n, mask, 4);
  n += 4;
  for (i = 0; i < len; i++)
    h[n + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
  c->outlen += n + len;
  return 0;
}

/* Send one text message now (as far as the socket takes it). */
static int conn_text(struct conn *c, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof buf ||
      conn_frame(c, WS_TEXT, buf, (size_t)n) < 0)
    return -1;
  conn_flush(c);
  return 0;
}

/* Start a TCP connection to the server; 0 or -1 (counted). */
static int conn_open(struct conn *c, const struct ops *ops, int slot) {
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->state = ST_DEAD;
  c->ops = ops;
  c->slot = slot;
  if (fd < 0) {
    g.conn_errors++;
    return -1;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&g.addr, sizeof g.addr) < 0 &&
      errno != EINPROGRESS) {
    close(fd);
    g.conn_errors++;
    return -1;
  }
  c->fd = fd;
  c->state = ST_TCP;
  c->events = ev.events;
  c->t0 = now_ms();
  ev.data.ptr = c;
  if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    c->fd = -1;
    c->state = ST_DEAD;
    g.conn_errors++;
    return -1;
  }
  return 0;
}

static void conn_connected(struct conn *c) {
  char req[512];
  int err = 0, n;
  socklen_t len = sizeof err;

  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
    g.conn_errors++;
    conn_end(c, GONE_ERROR, 0);
    return;
  }
  c->t0 = now_ms();
  if (c->raw) { /* slowloris: the phase sends the bytes */
    c->state = ST_HTTP;
    conn_watch(c);
    return;
  }
  n = snprintf(req, sizeof req, upgrade_fmt, g.hostport);
  c->state = ST_HTTP;
  conn_put(c, req, (size_t)n);
  conn_flush(c);
}

static int parse_u64(const char **pp, const char *end, uint64_t *v) {
  const char *p = *pp;

  *v = 0;
  if (p >= end || *p < '0' || *p > '9')
    return -1;
  while (p < end && *p >= '0' && *p <= '9')
    *v = *v * 10 + (uint64_t)(*p++ - '0');
  *pp = p;
  return 0;
}

/* One line of the Centrifuge protocol from the server. */
static void cf_line(struct conn *c, const char *l, size_t len) {
  static const char id_pre[] = "{\"id\":", err_pre[] = "\"error\":{\"code\":";
  const char *p = l + LIT_LEN(id_pre), *end = l + len, *e;
  uint64_t id, code = 0;

  if (len == 2 && memcmp(l, "{}", 2) == 0) { /* server ping */
    conn_text(c, "{}");
    return;
  }
  if (len < LIT_LEN(id_pre) || memcmp(l, id_pre, LIT_LEN(id_pre)) != 0 ||
      parse_u64(&p, end, &id) < 0)
    return; /* pushes */
  if ((e = memmem(p, (size_t)(end - p), err_pre, LIT_LEN(err_pre))) != NULL) {
    e += LIT_LEN(err_pre);
    if (parse_u64(&e, end, &code) < 0)
      code = 1;
  }
  if (c->state == ST_CONNECT && id == 1) {
    if (code != 0) {
      g.conn_errors++;
      conn_end(c, GONE_ERROR, 0);
      return;
    }
    c->state = ST_OPEN;
    if (c->ops->ready)
      c->ops->ready(c);
    return;
  }
  if (c->ops->reply)
    c->ops->reply(c, id, (int)code);
}

static size_t frame_len(const uint8_t *p, size_t n) {
  uint64_t len;
  size_t h = 2;
  int i;

  if (n < 2)
    return 0;
  len = p[1] & 0x7f;
  if (len == 126) {
    if (n < 4)
      return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    h = 4;
  } else if (len == 127) {
    if (n < 10)
      return 0;
    for (len = 0, i = 0; i < 8; i++)
      len = len << 8 | p[2 + i];
    h = 10;
  }
  return len > MAX_FRAME ? MAX_FRAME + 1 : h + (size_t)len;
}

static void on_frame(struct conn *c, const uint8_t *f, size_t n) {
  size_t h = (f[1] & 0x7f) == 126 ? 4 : (f[1] & 0x7f) == 127 ? 10 : 2;
  const uint8_t *d = f + h;
  size_t len = n - h;
  int opcode = f[0] & 0x0f;

  if (opcode == WS_CLOSE) {
    c->close_code = len >= 2 ? d[0] << 8 | d[1] : 1005;
    if (c->state == ST_CLOSING) { /* our close answered */
      conn_end(c, GONE_CLOSE_FRAME, 0);
      return;
    }
    conn_frame(c, WS_CLOSE, d, len >= 2 ? 2 : 0);
    conn_flush(c);
    conn_end(c, GONE_CLOSE_FRAME, 0);
  } else if (opcode == WS_PING) {
    conn_frame(c, WS_PONG, d, len);
    conn_flush(c);
  } else if (opcode == WS_PONG) {
    if (c->ops->pong)
      c->ops->pong(c);
  } else if (opcode == WS_TEXT) {
    const char *l = (const char *)d, *end = l + len;
    c->text_in += len;
    while (l < end && c->state != ST_DEAD) {
      const char *nl = memchr(l, '\n', (size_t)(end - l));
      const char *le = nl ? nl : end;
      cf_line(c, l, (size_t)(le - l));
      l = nl ? nl + 1 : end;
    }
  }
}

static int in_room(struct conn *c, size_t need) {
  size_t cap = c->incap ? c->incap : 4096;
  uint8_t *p;

  if (c->inlen + need <= c->incap)
    return 0;
  while (cap < c->inlen + need)
    cap *= 2;
  if ((p = realloc(c->in, cap)) == NULL)
    return -1;
  c->in = p;
  c->incap = cap;
  return 0;
}

/* Parse what c->in holds: the 101 response, then whole frames. */
static void conn_parse(struct conn *c) {
  size_t off = 0;

  if (c->state == ST_HTTP) {
    uint8_t *e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (e == NULL)
      return;
    if (c->inlen < 12 || memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
      g.conn_errors++;
      conn_end(c, GONE_ERROR, 0);
      return;
    }
    off = (size_t)(e + 4 - c->in);
    c->state = ST_CONNECT;
    conn_text(c, "{\"id\":1,\"connect\":{\"data\":{\"user\":\"soak%d\"}}}",
              c->slot);
    if (c->state == ST_DEAD)
      return;
  }
  while (c->state != ST_DEAD && off < c->inlen) {
    size_t fl = frame_len(c->in + off, c->inlen - off);
    if (fl == 0 || fl > c->inlen - off) {
      if (fl > MAX_FRAME)
        conn_end(c, GONE_ERROR, 0);
      break;
    }
    on_frame(c, c->in + off, fl);
    off += fl;
  }
  if (c->state == ST_DEAD)
    return;
  memmove(c->in, c->in + off, c->inlen - off);
  c->inlen -= off;
}

static void conn_readable(struct conn *c) {
  int i;

  for (i = 0; i < 16 && c->state != ST_DEAD; i++) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);

    if (n > 0) {
      if (c->raw) { /* slowloris: the server answered (408) */
        c->n2 += (uint64_t)n;
        continue;
      }
      if (in_room(c, (size_t)n) < 0) {
        conn_end(c, GONE_ERROR, 0);
        return;
      }
      memcpy(c->in + c->inlen, rbuf, (size_t)n);
      c->inlen += (size_t)n;
      conn_parse(c);
      if ((size_t)n < sizeof rbuf)
        return;
    } else if (n == 0) {
      conn_end(c, GONE_EOF, 0);
    } else if (errno == EAGAIN) {
      return;
    } else if (errno != EINTR) {
      conn_end(c, GONE_ERROR, 0);
    }
  }
}

/* One round of the event loop: at most timeout_ms of waiting. */
static void pump(int timeout_ms) {
  struct epoll_event evs[256];
  int i, n = epoll_wait(g.epfd, evs, 256, timeout_ms);

  for (i = 0; i < n; i++) {
    struct conn *c = evs[i].data.ptr;

    if (c->state == ST_DEAD)
      continue;
    if (c->state == ST_TCP) {
      if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        conn_connected(c);
      continue;
    }
    if (evs[i].events & EPOLLOUT)
      conn_flush(c);
    if (c->state != ST_DEAD &&
        (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
      if (c->deaf && !(evs[i].events & EPOLLIN))
        conn_end(c, GONE_EOF, 0);
      else
        conn_readable(c);
    }
  }
  if (g.tick)
    g.tick(now_ms());
}

/* Wait (serving the loop) until the server holds at most want
 * connections besides the API request; returns the milliseconds it took
 * or -1 at the timeout. */
static long wait_connections(long long want, struct info *in) {
  uint64_t t0 = now_ms();

  while (now_ms() - t0 < DRAIN_TIMEOUT_MS) {
    if (api_info(in) == 0 && in->connections - 1 <= want)
      return (long)(now_ms() - t0);
    if (!server_alive())
      return -1;
    pump(50);
  }
  return -1;
}

/* Open descriptors once they settle at or under want, up to 5 s. */
static long settle_fds(long want) {
  uint64_t t0 = now_ms();
  long n = open_fds();

  while (n > want && now_ms() - t0 < 5000) {
    pump(50);
    n = open_fds();
  }
  return n;
}

/* Open descriptors with no client connected: the least of a few samples
 * (the API request's own socket comes and goes). */
static long quiet_fds(void) {
  long n = open_fds(), m;
  int i;

  for (i = 0; i < 5; i++) {
    pump(20);
    if ((m = open_fds()) < n)
      n = m;
  }
  return n;
}

/* ---- The probe: a normal client calling RPC echo ------------------------- */

static struct {
  struct conn c;
  int busy; /* an RPC is out */
  uint64_t id;
  uint64_t t_start;  /* us: connect started (fresh probes) */
  long long last_us; /* the last answered call, -1 for none */
  int ready;
} probe;

static void probe_ready(struct conn *c) { probe.ready = 1; }

static void probe_reply(struct conn *c, uint64_t id, int err) {
  if (probe.busy && id == probe.id) {
    probe.busy = 0;
    probe.last_us = err ? -1 : (long long)(now_us() - c->sent_us);
  }
}

static const struct ops probe_ops = {.ready = probe_ready,
                                     .reply = probe_reply};

static int probe_connect(uint64_t timeout_ms) {
  uint64_t t0 = now_ms();

  probe.ready = 0;
  probe.busy = 0;
  probe.id = 1;
  probe.t_start = now_us();
  if (conn_open(&probe.c, &probe_ops, 99999) < 0)
    return -1;
  while (!probe.ready && probe.c.state != ST_DEAD && now_ms() - t0 < timeout_ms)
    pump(5);
  return probe.ready ? 0 : -1;
}

/* One RPC echo on the probe; its latency in us, -1 when unanswered. */
static long long probe_call(uint64_t timeout_ms) {
  uint64_t t0 = now_ms();

  if (!probe.ready || probe.c.state != ST_OPEN)
    return -1;
  probe.id++;
  probe.busy = 1;
  probe.last_us = -1;
  probe.c.sent_us = now_us();
  if (conn_text(&probe.c,
                "{\"id\":%" PRIu64 ",\"rpc\":{\"method\":\"echo\","
                "\"data\":{\"probe\":%" PRIu64 "}}}",
                probe.id, probe.id) < 0)
    return -1;
  while (probe.busy && probe.c.state == ST_OPEN && now_ms() - t0 < timeout_ms)
    pump(5);
  return probe.busy ? -1 : probe.last_us;
}

static void probe_close(void) {
  if (probe.c.state != ST_DEAD)
    conn_end(&probe.c, GONE_LOCAL, 1);
}

/* A fresh client: connect, one RPC, close. Microseconds from the connect
 * to the reply, -1 when it failed. */
static long long probe_fresh(void) {
  long long rpc;

  if (probe_connect(RPC_SLOW_MS * 2) < 0) {
    probe_close();
    return -1;
  }
  rpc = probe_call(RPC_SLOW_MS * 2);
  probe_close();
  return rpc < 0 ? -1 : (long long)(now_us() - probe.t_start);
}

/* ---- Latency lists ------------------------------------------------------- */

struct lat {
  long long v[4096];
  int n, failed;
};

static void lat_add(struct lat *l, long long us) {
  if (us < 0)
    l->failed++;
  else if (l->n < (int)(sizeof l->v / sizeof l->v[0]))
    l->v[l->n++] = us;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

/* p-th percentile in ms (p 0..100), -1 for none. */
static double lat_ms(struct lat *l, int p) {
  if (l->n == 0)
    return -1;
  qsort(l->v, (size_t)l->n, sizeof l->v[0], cmp_ll);
  return (double)l->v[(l->n - 1) * p / 100] / 1000.0;
}

/* ---- hold ---------------------------------------------------------------- */

static struct { size_t ready, failed, inflight; } H;

static void hold_ready(struct conn *c) {
  conn_text(c, "{\"id\":2,\"subscribe\":{\"channel\":\"soak.hold.%d\"}}",
            c->slot % 100);
}

static void hold_reply(struct conn *c, uint64_t id, int err) {
  if (id != 2 || c->n1)
    return;
  c->n1 = 1;
  H.inflight--;
  if (err) {
    H.failed++;
    conn_end(c, GONE_LOCAL, 1);
  } else {
    H.ready++;
  }
}

static void hold_gone(struct conn *c, enum gone why) {
  if (why == GONE_LOCAL || c->n1)
    return;
  c->n1 = 1; /* lost before it was subscribed */
  H.inflight--;
  H.failed++;
}

static const struct ops hold_ops = {
    .ready = hold_ready, .reply = hold_reply, .gone = hold_gone};

static void phase_hold(size_t n) {
  struct conn *cs = calloc(n, sizeof *cs);
  struct info in;
  long rss0, rss1, rss2, rss_drained, fds0, fds1;
  size_t opened = 0, i, held;
  uint64_t t0, deadline;
  long drain_ms;

  if (cs == NULL) {
    crit(1, 0, "hold: no memory for %zu connections", n);
    return;
  }
  memset(&H, 0, sizeof H);
  fds0 = quiet_fds();
  rss0 = rss_kib();
  t0 = now_ms();
  deadline = t0 + 60000 + n * 10; /* 10 ms a connection at worst */
  while (H.ready + H.failed < n && now_ms() < deadline) {
    while (opened < n && H.inflight < CONNECT_BATCH) {
      H.inflight++;
      if (conn_open(&cs[opened], &hold_ops, (int)opened) < 0) {
        H.inflight--;
        H.failed++;
        cs[opened].n1 = 1;
      }
      opened++;
    }
    pump(10);
  }
  held = H.ready;
  for (i = 0; i < n; i++)
    if (cs[i].state != ST_DEAD && !cs[i].n1)
      conn_end(&cs[i], GONE_LOCAL, 1); /* still in progress at the deadline */
  api_info(&in);
  rss1 = rss_kib();
  printf("hold conns=%zu held=%zu failed=%zu open_s=%.1f server_conns=%lld "
         "subscriptions=%lld rss_start_kib=%ld rss_held_kib=%ld "
         "rss_per_conn=%.0f",
         n, held, H.failed, (double)(now_ms() - t0) / 1000.0,
         in.connections - 1, in.subscriptions, rss0, rss1,
         held ? (double)(rss1 - rss0) * 1024.0 / (double)held : 0.0);
  fflush(stdout);
  /* Abruptly: a reset, no close frame. */
  for (i = 0; i < n; i++)
    if (cs[i].state != ST_DEAD)
      conn_end(&cs[i], GONE_LOCAL, 1);
  drain_ms = wait_connections(0, &in);
  rss_drained = rss_kib();
  fds1 = settle_fds(fds0);
  /* A server may give its heap back a moment after a mass close
   * (wsp-demo: half a second after the thousandth): RSS after close is
   * read HOLD_SETTLE_MS after the connections are gone. */
  t0 = now_ms();
  while (now_ms() - t0 < HOLD_SETTLE_MS)
    pump(50);
  rss2 = rss_kib();
  printf(" drain_ms=%ld left_conns=%lld left_subscriptions=%lld "
         "left_channels=%lld rss_drained_kib=%ld rss_after_kib=%ld "
         "rss_after_pct=%.1f fds_before=%ld fds_after=%ld\n",
         drain_ms, in.connections - 1, in.subscriptions, in.channels,
         rss_drained, rss2,
         rss0 > 0 ? 100.0 * (double)rss2 / (double)rss0 : -1.0, fds0, fds1);
  crit(1, held == n, "hold: all %zu connections connected and subscribed (%zu)",
       n, held);
  crit(1, drain_ms >= 0 && in.subscriptions == 0,
       "hold: the server let go of every connection and subscription "
       "(%lld left)",
       in.connections - 1);
  crit(0, rss0 > 0 && rss2 > 0 && rss2 <= rss0 + rss0 / 10,
       "hold: RSS after close within 10 %% of the start (%ld KiB -> %ld KiB "
       "-> %ld KiB, %.0f %%)",
       rss0, rss1, rss2, rss0 > 0 ? 100.0 * (double)rss2 / (double)rss0 : -1.0);
  crit(1, fds1 == fds0, "hold: open fds before and after equal (%ld, %ld)",
       fds0, fds1);
  free(cs);
}

/* ---- churn --------------------------------------------------------------- */

static struct {
  unsigned long long cycles, errors, clean, reset, timeouts;
  int stopping;
} C;

static void churn_err(struct conn *c, const char *what) {
  if (C.errors++ < 5)
    fprintf(stderr, "soak: churn: %s (slot %d)\n", what, c->slot);
}

static void churn_ready(struct conn *c) {
  c->t1 = now_ms();
  conn_text(c, "{\"id\":2,\"subscribe\":{\"channel\":\"soak.churn.%d\"}}",
            c->slot);
}

static void churn_reply(struct conn *c, uint64_t id, int err) {
  if (err) {
    churn_err(c, "error reply");
    conn_end(c, GONE_LOCAL, 1);
    return;
  }
  if (id == 2) {
    conn_text(c,
              "{\"id\":3,\"publish\":{\"channel\":\"soak.churn.%d\","
              "\"data\":{\"n\":%llu}}}",
              c->slot, C.cycles);
  } else if (id == 3) {
    /* Disconnect: every other cycle with a close frame (and wait for the
     * server's), else with a reset. */
    C.cycles++;
    if (C.cycles & 1) {
      uint8_t code[2] = {1000 >> 8, 1000 & 0xff};
      C.clean++;
      c->state = ST_CLOSING;
      c->t1 = now_ms();
      conn_frame(c, WS_CLOSE, code, 2);
      conn_flush(c);
    } else {
      C.reset++;
      conn_end(c, GONE_LOCAL, 1);
    }
  }
}

static void churn_gone(struct conn *c, enum gone why) {
  if (why == GONE_LOCAL)
    return;
  if (why == GONE_CLOSE_FRAME && c->close_code == 1000)
    return; /* the closing handshake we started */
  if (why == GONE_EOF && c->close_code == 1000)
    return;
  churn_err(c, why == GONE_CLOSE_FRAME ? "closed by the server"
                                       : "connection lost");
}

static const struct ops churn_ops = {
    .ready = churn_ready, .reply = churn_reply, .gone = churn_gone};

static void phase_churn(int clients, int seconds) {
  struct conn *cs = calloc((size_t)clients, sizeof *cs);
  unsigned long long errs0 = g.conn_errors;
  long rss0, rss_mid = -1, rss_end = -1, fds0, fds1;
  uint64_t t0, mid, end;
  struct info in;
  long drain_ms;
  int i;

  if (cs == NULL)
    return;
  memset(&C, 0, sizeof C);
  wait_connections(0, &in);
  fds0 = quiet_fds();
  rss0 = rss_kib();
  t0 = now_ms();
  mid = t0 + (uint64_t)seconds * 500;
  end = t0 + (uint64_t)seconds * 1000;
  for (i = 0; i < clients; i++)
    cs[i].state = ST_DEAD;
  while (now_ms() < end) {
    uint64_t now = now_ms();

    for (i = 0; i < clients; i++) {
      struct conn *c = &cs[i];
      if (c->state == ST_DEAD) {
        conn_open(c, &churn_ops, i);
      } else if (now - c->t0 > REPLY_TIMEOUT_MS) {
        C.timeouts++;
        churn_err(c, "a cycle took over 10 s");
        conn_end(c, GONE_LOCAL, 1);
      }
    }
    pump(10);
    if (rss_mid < 0 && now_ms() >= mid)
      rss_mid = rss_kib();
    if (!server_alive())
      break;
  }
  rss_end = rss_kib();
  /* Let the cycles in flight finish their closing handshakes (bounded),
   * then reset what is left. */
  for (end = now_ms() + 2000; now_ms() < end;) {
    for (i = 0; i < clients && cs[i].state != ST_CLOSING; i++)
      ;
    if (i == clients)
      break;
    pump(10);
  }
  for (i = 0; i < clients; i++)
    if (cs[i].state != ST_DEAD)
      conn_end(&cs[i], GONE_LOCAL, 1);
  drain_ms = wait_connections(0, &in);
  fds1 = settle_fds(fds0);
  printf("churn clients=%d seconds=%d cycles=%llu cycles_per_s=%.0f "
         "clean_closes=%llu resets=%llu errors=%llu connect_errors=%llu "
         "timeouts=%llu rss_start_kib=%ld rss_mid_kib=%ld rss_end_kib=%ld "
         "growth_pct=%.2f drain_ms=%ld fds_before=%ld fds_after=%ld\n",
         clients, seconds, C.cycles, (double)C.cycles / (seconds ? seconds : 1),
         C.clean, C.reset, C.errors, g.conn_errors - errs0, C.timeouts, rss0,
         rss_mid, rss_end,
         rss_mid > 0 ? 100.0 * (double)(rss_end - rss_mid) / (double)rss_mid
                     : -1.0,
         drain_ms, fds0, fds1);
  crit(1, C.errors == 0 && g.conn_errors == errs0 && C.cycles > 0,
       "churn: no errors (%llu, connect errors %llu) in %llu cycles", C.errors,
       g.conn_errors - errs0, C.cycles);
  crit(0, rss_mid > 0 && rss_end > 0 && rss_end <= rss_mid + rss_mid / 20,
       "churn: RSS growth from the first half to the second <= 5 %% "
       "(%ld KiB -> %ld KiB)",
       rss_mid, rss_end);
  crit(1, fds0 == fds1, "churn: open fds before and after equal (%ld, %ld)",
       fds0, fds1);
  free(cs);
}

/* ---- slowloris ----------------------------------------------------------- */

static struct {
  struct conn *cs;
  size_t n;
  size_t reqlen;
  char req[512];
  size_t closed, answered;
  long long *elapsed; /* ms from connected to closed, per connection */
} S;

static void slow_gone(struct conn *c, enum gone why) {
  if (why == GONE_LOCAL)
    return;
  S.elapsed[c->slot] = (long long)(now_ms() - c->t0);
  S.closed++;
  if (c->n2 > 0)
    S.answered++;
}

static const struct ops slow_ops = {.gone = slow_gone};

/* Every second, one more byte of the upgrade request per connection. */
static void slow_tick(uint64_t now) {
  size_t i;

  for (i = 0; i < S.n; i++) {
    struct conn *c = &S.cs[i];
    if (c->state != ST_HTTP || now < c->t1)
      continue;
    c->t1 = now + 1000;
    if (c->n1 < S.reqlen) {
      conn_put(c, S.req + c->n1, 1);
      c->n1++;
      conn_flush(c);
    }
  }
}

static void phase_slowloris(size_t n, long timeout_ms) {
  struct lat fresh = {{0}, 0, 0};
  uint64_t t0, all_open, deadline, next_probe;
  size_t opened = 0, i, connected = 0, open_left = 0;
  long long emin = -1, emax = -1;
  long rss0, rss1;
  struct info in;
  int k;

  memset(&S, 0, sizeof S);
  S.cs = calloc(n, sizeof *S.cs);
  S.elapsed = calloc(n, sizeof *S.elapsed);
  if (S.cs == NULL || S.elapsed == NULL)
    return;
  S.n = n;
  S.reqlen = (size_t)snprintf(S.req, sizeof S.req, upgrade_fmt, g.hostport);
  wait_connections(0, &in);
  rss0 = rss_kib();
  t0 = now_ms();
  g.tick = slow_tick;
  /* Open them all (TCP only; bytes go out from the tick). */
  while (opened < n && now_ms() - t0 < 30000) {
    size_t busy = 0;
    for (i = 0; i < opened; i++)
      busy += S.cs[i].state == ST_TCP;
    for (; opened < n && busy < CONNECT_BATCH; opened++, busy++) {
      if (conn_open(&S.cs[opened], &slow_ops, (int)opened) == 0) {
        S.cs[opened].raw = 1;
      } else {
        S.elapsed[opened] = -1;
      }
    }
    pump(10);
  }
  /* Until the server has accepted them: the normal client should meet
   * the held connections, not a full accept queue of our own making. */
  while (now_ms() - t0 < 35000 && api_info(&in) == 0 &&
         (size_t)(in.connections - 1) < opened - S.closed)
    pump(10);
  all_open = now_ms();
  /* A normal client every second while they trickle, until every one has
   * been closed or the timeout has long passed. */
  deadline = all_open + (uint64_t)timeout_ms + 5000;
  next_probe = now_ms();
  while (now_ms() < deadline && S.closed < opened) {
    if (now_ms() >= next_probe) {
      lat_add(&fresh, probe_fresh());
      next_probe = now_ms() + 1000;
    }
    pump(10);
  }
  /* At least three probes, even when the closing came early. */
  for (k = fresh.n + fresh.failed; k < 3; k++)
    lat_add(&fresh, probe_fresh());
  g.tick = NULL;
  rss1 = rss_kib();
  for (i = 0; i < opened; i++) {
    if (S.cs[i].n1 > 0)
      connected++;
    if (S.cs[i].state != ST_DEAD) {
      open_left++;
      conn_end(&S.cs[i], GONE_LOCAL, 1);
    } else if (S.elapsed[i] > 0) {
      if (emin < 0 || S.elapsed[i] < emin)
        emin = S.elapsed[i];
      if (S.elapsed[i] > emax)
        emax = S.elapsed[i];
    }
  }
  wait_connections(0, &in);
  printf(
      "slowloris conns=%zu connected=%zu closed_by_server=%zu "
      "answered_408=%zu still_open=%zu handshake_timeout_ms=%ld "
      "closed_after_ms_min=%lld closed_after_ms_max=%lld "
      "probes=%d probe_failed=%d probe_connect_rpc_ms_p50=%.2f "
      "probe_connect_rpc_ms_max=%.2f rss_before_kib=%ld rss_during_kib=%ld\n",
      n, connected, S.closed, S.answered, open_left, timeout_ms, emin, emax,
      fresh.n + fresh.failed, fresh.failed, lat_ms(&fresh, 50),
      lat_ms(&fresh, 100), rss0, rss1);
  crit(1, S.closed == n && open_left == 0,
       "slowloris: all %zu closed by the server (%zu, %zu still open)", n,
       S.closed, open_left);
  crit(0, emin >= timeout_ms - 100 && emax <= timeout_ms + 2000,
       "slowloris: closed at the handshake timeout, %ld ms (%lld..%lld ms)",
       timeout_ms, emin, emax);
  crit(1, fresh.failed == 0,
       "slowloris: the normal client connected and was answered every time "
       "(%d failed)",
       fresh.failed);
  crit(0, fresh.n > 0 && lat_ms(&fresh, 100) < 100.0,
       "slowloris: normal client connect + RPC < 100 ms (max %.1f ms)",
       lat_ms(&fresh, 100));
  free(S.cs);
  free(S.elapsed);
  memset(&S, 0, sizeof S);
}

/* ---- storm --------------------------------------------------------------- */

#define PING_WINDOW 32
#define DEAF_MAX_BYTES (4u << 20)

static struct {
  unsigned long long pings, pongs, deaf_pings, cf_pongs;
  unsigned long long closed_3501, deaf_closed, other_closed;
} T;

enum { STORM_PINGER, STORM_DEAF, STORM_CFPONG };

static void storm_pong(struct conn *c) {
  T.pongs++;
  if (c->n1 > 0)
    c->n1--;
}

static void storm_gone(struct conn *c, enum gone why) {
  if (why == GONE_LOCAL)
    return;
  if (c->slot % 3 == STORM_CFPONG && c->close_code == CF_CLOSE_BAD_REQUEST) {
    T.closed_3501++;
  } else if (c->slot % 3 == STORM_DEAF) {
    T.deaf_closed++;
  } else {
    T.other_closed++;
  }
}

static const struct ops storm_ops = {.pong = storm_pong, .gone = storm_gone};

static void storm_tick(struct conn *cs, int n) {
  static const char payload[125] = "soak storm";
  int i, k;

  for (i = 0; i < n; i++) {
    struct conn *c = &cs[i];

    if (c->state != ST_OPEN || c->outlen > 65536)
      continue;
    switch (i % 3) {
    case STORM_PINGER: /* a window of pings, answered */
      for (k = 0; k < 8 && c->n1 < PING_WINDOW; k++, c->n1++, T.pings++)
        conn_frame(c, WS_PING, payload, sizeof payload);
      break;
    case STORM_DEAF: /* pings, never reading the pongs */
      if (c->n2 < DEAF_MAX_BYTES) {
        for (k = 0; k < 8; k++, T.deaf_pings++)
          conn_frame(c, WS_PING, payload, sizeof payload);
        c->n2 += 8 * (sizeof payload + 6);
        if (c->n2 >= 65536 && !c->deaf) {
          c->deaf = 1; /* open, then stop reading */
          conn_watch(c);
        }
      }
      break;
    case STORM_CFPONG: /* the protocol's pong, never asked for */
      if (c->n1 == 0) {
        conn_frame(c, WS_TEXT, "{}", 2);
        c->n1 = 1;
        T.cf_pongs++;
      }
      break;
    }
    conn_flush(c);
  }
}

static void phase_storm(int n, int seconds, long max_queued,
                        long ping_deadline_ms) {
  struct conn *cs = calloc((size_t)n, sizeof *cs);
  struct lat lat = {{0}, 0, 0};
  long rss0, rss_peak, rss1, r;
  uint64_t t0, end, next_probe;
  size_t ready = 0;
  long long deaf_left;
  struct info in;
  int i, others;

  if (cs == NULL)
    return;
  memset(&T, 0, sizeof T);
  wait_connections(0, &in);
  rss0 = rss_peak = rss_kib();
  if (probe_connect(RPC_SLOW_MS * 2) < 0) {
    crit(1, 0, "storm: the probe could not connect");
    free(cs);
    return;
  }
  for (i = 0; i < n; i++)
    conn_open(&cs[i], &storm_ops, i);
  for (t0 = now_ms(); now_ms() - t0 < 10000;) {
    for (ready = 0, i = 0; i < n; i++)
      ready += cs[i].state == ST_OPEN;
    if (ready == (size_t)n)
      break;
    pump(10);
  }
  t0 = now_ms();
  end = t0 + (uint64_t)seconds * 1000;
  next_probe = t0;
  while (now_ms() < end) {
    storm_tick(cs, n);
    pump(1);
    if (now_ms() >= next_probe) {
      lat_add(&lat, probe_call(RPC_SLOW_MS));
      next_probe = now_ms() + 100;
      if ((r = rss_kib()) > rss_peak)
        rss_peak = r;
    }
    if (!server_alive())
      break;
  }
  /* The clients that stopped reading, as the server sees them: one it has
   * closed may still look open here, its FIN queued behind pongs the
   * client never read. */
  for (others = 0, i = 0; i < n; i++)
    others += cs[i].state != ST_DEAD && i % 3 != STORM_DEAF;
  others += probe.c.state != ST_DEAD;
  deaf_left = api_info(&in) == 0 ? in.connections - 1 - others : -1;
  for (i = 0; i < n; i++)
    if (cs[i].state != ST_DEAD)
      conn_end(&cs[i], GONE_LOCAL, 1);
  lat_add(&lat, probe_call(RPC_SLOW_MS)); /* still answering after it */
  probe_close();
  wait_connections(0, &in);
  rss1 = rss_kib();
  printf("storm clients=%d ready=%zu seconds=%d pings=%llu pongs=%llu "
         "deaf_pings=%llu deaf_closed_seen=%llu deaf_open_at_server=%lld "
         "cf_pongs=%llu "
         "closed_3501=%llu other_closed=%llu probe_calls=%d probe_failed=%d "
         "rpc_ms_p50=%.2f rpc_ms_p99=%.2f rpc_ms_max=%.2f rss_before_kib=%ld "
         "rss_peak_kib=%ld rss_after_kib=%ld\n",
         n, ready, seconds, T.pings, T.pongs, T.deaf_pings, T.deaf_closed,
         deaf_left, T.cf_pongs, T.closed_3501, T.other_closed,
         lat.n + lat.failed, lat.failed, lat_ms(&lat, 50), lat_ms(&lat, 99),
         lat_ms(&lat, 100), rss0, rss_peak, rss1);
  crit(1, lat.failed == 0 && lat.n > 0,
       "storm: every probe RPC answered within %d ms (%d failed)", RPC_SLOW_MS,
       lat.failed);
  crit(0, lat.n > 0 && lat_ms(&lat, 99) < 100.0,
       "storm: RPC p99 < 100 ms (%.1f ms)", lat_ms(&lat, 99));
  crit(1, T.other_closed == 0,
       "storm: no well-behaved client was closed (%llu)", T.other_closed);
  crit(1, T.closed_3501 == T.cf_pongs,
       "storm: every unsolicited pong closed with %d (%llu of %llu)",
       CF_CLOSE_BAD_REQUEST, T.closed_3501, T.cf_pongs);
  /* A client that stopped reading never sees the protocol's pings: the
   * server must let it go at the pong timeout (3012) rather than hold it
   * with its output full. Known only when told the server's timing. */
  if (ping_deadline_ms > 0 && seconds * 1000L > ping_deadline_ms + 1000)
    crit(0, deaf_left == 0,
         "storm: every client that stopped reading closed by the server "
         "(%lld of %d left)",
         deaf_left, (n + 1) / 3);
  /* Bounded: what the deaf clients may make the server hold, and some. */
  r = (long)((n + 2) / 3) * (max_queued / 1024) + 32 * 1024;
  crit(0, rss0 > 0 && rss_peak - rss0 <= r,
       "storm: RSS growth bounded by deaf clients x max-queued + 32 MiB "
       "(%ld KiB <= %ld KiB)",
       rss_peak - rss0, r);
  free(cs);
}

/* ---- bigframe ------------------------------------------------------------ */

static struct {
  unsigned long long ok, errors, first_err;
  int ready;
} B;

static void big_ready(struct conn *c) { B.ready = 1; }

static void big_reply(struct conn *c, uint64_t id, int err) {
  if (id < 2)
    return;
  if (err) {
    if (B.errors++ == 0)
      B.first_err = (unsigned long long)err;
  } else {
    B.ok++;
  }
}

static const struct ops big_ops = {.ready = big_ready, .reply = big_reply};

static void phase_bigframe(size_t ncmd) {
  struct conn c;
  char *msg = malloc(ncmd * 64 + 1);
  size_t len = 0, i;
  long rss0, rss_peak, rss1, r;
  long long after;
  uint64_t t0;
  struct info in;

  if (msg == NULL)
    return;
  memset(&B, 0, sizeof B);
  wait_connections(0, &in);
  rss0 = rss_peak = rss_kib();
  for (i = 0; i < ncmd; i++)
    len += (size_t)sprintf(msg + len,
                           "%s{\"id\":%zu,\"rpc\":{\"method\":\"echo\","
                           "\"data\":{\"k\":%zu}}}",
                           i ? "\n" : "", i + 2, i);
  conn_open(&c, &big_ops, 0);
  for (t0 = now_ms(); !B.ready && c.state != ST_DEAD && now_ms() - t0 < 5000;)
    pump(10);
  t0 = now_ms();
  if (B.ready) {
    conn_frame(&c, WS_TEXT, msg, len);
    conn_flush(&c);
  }
  while (c.state != ST_DEAD && B.ok + B.errors < ncmd &&
         now_ms() - t0 < 30000) {
    pump(10);
    if ((r = rss_kib()) > rss_peak)
      rss_peak = r;
  }
  printf("bigframe commands=%zu bytes=%zu answered=%llu errors=%llu "
         "first_error=%llu closed=%s close_code=%d ms=%" PRIu64,
         ncmd, len, B.ok, B.errors, B.first_err,
         c.state == ST_DEAD ? "yes" : "no", c.close_code, now_ms() - t0);
  fflush(stdout);
  if (c.state != ST_DEAD)
    conn_end(&c, GONE_LOCAL, 1);
  after = probe_fresh();
  wait_connections(0, &in);
  rss1 = rss_kib();
  printf(" probe_after_ms=%.2f rss_before_kib=%ld rss_peak_kib=%ld "
         "rss_after_kib=%ld\n",
         after / 1000.0, rss0, rss_peak, rss1);
  crit(1, B.ready && (B.ok + B.errors == ncmd || c.close_code >= 1000),
       "bigframe: %zu commands all answered or the connection closed with a "
       "code (%llu answered, close %d)",
       ncmd, B.ok + B.errors, c.close_code);
  crit(1, after >= 0 && server_alive(),
       "bigframe: the server still answers afterwards");
  /* The connection is gone: what stays is allocator slack. */
  crit(0, rss0 > 0 && rss1 > 0 && rss1 <= rss0 + 1024,
       "bigframe: RSS after within 1 MiB of before (%ld KiB -> peak %ld -> "
       "%ld)",
       rss0, rss_peak, rss1);
  free(msg);
}

/* ---- subs ---------------------------------------------------------------- */

static struct {
  unsigned long long ok, limit, other, other_code;
  int ready;
} U;

static void subs_ready(struct conn *c) { U.ready = 1; }

static void subs_reply(struct conn *c, uint64_t id, int err) {
  if (id < 2)
    return;
  if (err == 0)
    U.ok++;
  else if (err == CF_ERR_LIMIT)
    U.limit++;
  else if (U.other++ == 0)
    U.other_code = (unsigned long long)err;
}

static const struct ops subs_ops = {.ready = subs_ready, .reply = subs_reply};

static void phase_subs(size_t n) {
  struct info in0, in1;
  struct conn c;
  size_t i, per_frame = 100, sent = 0;
  long long counted;
  uint64_t t0;
  long rss0, rss1;

  memset(&U, 0, sizeof U);
  wait_connections(0, &in0);
  rss0 = rss_kib();
  conn_open(&c, &subs_ops, 0);
  for (t0 = now_ms(); !U.ready && c.state != ST_DEAD && now_ms() - t0 < 5000;)
    pump(10);
  t0 = now_ms();
  /* One subscribe a frame, a hundred frames a round, as fast as the
   * replies come. */
  while (U.ready && c.state == ST_OPEN && U.ok + U.limit + U.other < n &&
         now_ms() - t0 < 30000) {
    for (i = 0;
         i < per_frame && sent < n && sent < U.ok + U.limit + U.other + 1000;
         i++, sent++) {
      char cmd[128];
      int len = snprintf(cmd, sizeof cmd,
                         "{\"id\":%zu,\"subscribe\":{\"channel\":"
                         "\"soak.subs.%zu\"}}",
                         sent + 2, sent);
      conn_frame(&c, WS_TEXT, cmd, (size_t)len);
    }
    conn_flush(&c);
    pump(5);
  }
  rss1 = rss_kib();
  printf("subs attempted=%zu sent=%zu ok=%llu refused_106=%llu other=%llu "
         "other_code=%llu closed=%s close_code=%d ms=%" PRIu64,
         n, sent, U.ok, U.limit, U.other, U.other_code,
         c.state == ST_DEAD ? "yes" : "no", c.close_code, now_ms() - t0);
  if (c.state != ST_DEAD)
    conn_end(&c, GONE_LOCAL, 1);
  wait_connections(0, &in1);
  counted = in1.errors_limit - in0.errors_limit;
  printf(" errors_limit_delta=%lld left_subscriptions=%lld rss_before_kib=%ld "
         "rss_subscribed_kib=%ld\n",
         counted, in1.subscriptions, rss0, rss1);
  crit(1, U.ok > 0 && U.ok < n && U.ok + U.limit == n && U.other == 0,
       "subs: %llu accepted, every other one refused with %d (%llu of %zu)",
       U.ok, CF_ERR_LIMIT, U.limit, n - (size_t)U.ok);
  crit(1, counted == (long long)U.limit,
       "subs: the refusals counted in errors_limit (%lld, %llu)", counted,
       U.limit);
  crit(1, in1.subscriptions == 0, "subs: none left after the close (%lld)",
       in1.subscriptions);
}

/* ---- amplify ------------------------------------------------------------- */

#define AMP_PUBS 100
#define AMP_PUB_BYTES_MAX 60000 /* a publication fits one 64 KiB message */
#define AMP_MESSAGE 60000       /* under the default 64 KiB message limit */

static struct {
  unsigned long long ok, errors;
  int ready, subscribed;
  uint64_t first_reply_bytes;
} A;

static void amp_ready(struct conn *c) {
  A.ready = 1;
  conn_text(c, "{\"id\":2,\"subscribe\":{\"channel\":\"soak.amp\"}}");
}

static void amp_reply(struct conn *c, uint64_t id, int err) {
  if (id == 2) {
    A.subscribed = !err;
    return;
  }
  if (err)
    A.errors++;
  else
    A.ok++;
}

static const struct ops amp_ops = {.ready = amp_ready, .reply = amp_reply};

/* One message of history commands, each answered with a channel's whole
 * history: what the server holds for one connection while it answers. */
static void phase_amplify(long max_queued, size_t pub_bytes) {
  static const char cmd_fmt[] =
      "{\"id\":%zu,\"history\":{\"channel\":\"soak.amp\",\"limit\":-1}}";
  char ans[1024], *msg = malloc(AMP_MESSAGE + 128);
  char *body = malloc(AMP_PUB_BYTES_MAX + 128);
  long rss0, hwm0, hwm1, rss1, peak;
  size_t len = 0, k = 0, i;
  long long after;
  struct conn c;
  struct info in;
  uint64_t t0;

  if (msg == NULL || body == NULL) {
    free(msg);
    free(body);
    return;
  }
  if (pub_bytes > AMP_PUB_BYTES_MAX)
    pub_bytes = AMP_PUB_BYTES_MAX;
  memset(&A, 0, sizeof A);
  wait_connections(0, &in);
  /* A channel with a full history of pub_bytes publications. */
  i = (size_t)sprintf(body, "{\"channel\":\"soak.amp\",\"data\":{\"pad\":\"");
  memset(body + i, 'x', pub_bytes);
  strcpy(body + i + pub_bytes, "\"}}");
  for (i = 0; i < AMP_PUBS; i++)
    if (api_call("publish", body, ans, sizeof ans) < 0) {
      crit(1, 0, "amplify: the server API publish failed");
      free(msg);
      free(body);
      return;
    }
  conn_open(&c, &amp_ops, 0);
  for (t0 = now_ms();
       !A.subscribed && c.state != ST_DEAD && now_ms() - t0 < 5000;)
    pump(10);
  /* One history command alone, for the size of one answer. */
  c.text_in = 0;
  conn_text(&c, cmd_fmt, (size_t)3);
  for (t0 = now_ms();
       A.ok + A.errors < 1 && c.state == ST_OPEN && now_ms() - t0 < 5000;)
    pump(10);
  A.first_reply_bytes = c.text_in;
  A.ok = A.errors = 0;
  c.text_in = 0;
  for (k = 0; len + sizeof cmd_fmt + 24 < AMP_MESSAGE; k++) {
    if (k)
      msg[len++] = '\n';
    len += (size_t)sprintf(msg + len, cmd_fmt, k + 4);
  }
  rss0 = rss_kib();
  hwm0 = hwm_kib();
  t0 = now_ms();
  if (c.state == ST_OPEN) {
    conn_frame(&c, WS_TEXT, msg, len);
    conn_flush(&c);
  }
  while (c.state != ST_DEAD && A.ok + A.errors < k && now_ms() - t0 < 30000)
    pump(10);
  hwm1 = hwm_kib();
  /* The peak since the message went out; 0 when it stayed under the
   * server's earlier peak (a fresh server has none worth the name). */
  peak = hwm1 > hwm0 ? hwm1 - rss0 : 0;
  printf("amplify pub_bytes=%zu commands=%zu message_bytes=%zu "
         "reply_bytes_each=%" PRIu64 " replies_would_be_kib=%" PRIu64
         " answered=%llu errors=%llu "
         "received_kib=%" PRIu64 " closed=%s close_code=%d max_queued_kib=%ld "
         "rss_before_kib=%ld peak_rss_growth_kib=%ld",
         pub_bytes, k, len, A.first_reply_bytes, A.first_reply_bytes * k / 1024,
         A.ok, A.errors, c.text_in / 1024, c.state == ST_DEAD ? "yes" : "no",
         c.close_code, max_queued / 1024, rss0, peak);
  fflush(stdout);
  if (c.state != ST_DEAD)
    conn_end(&c, GONE_LOCAL, 1);
  after = probe_fresh();
  wait_connections(0, &in);
  rss1 = rss_kib();
  printf(" rss_after_kib=%ld\n", rss1);
  crit(1, after >= 0 && server_alive(),
       "amplify: the server still answers afterwards");
  crit(1, A.ok + A.errors == k || c.close_code >= 1000,
       "amplify: %zu history commands all answered or the connection closed "
       "with a code (%llu answered, close %d)",
       k, A.ok + A.errors, c.close_code);
  /* What one connection may make the server hold: its output cap, and
   * the message it sent, with room for the allocator. */
  crit(0, hwm1 > 0 && peak <= 4 * (max_queued / 1024) + 8 * 1024,
       "amplify: peak RSS growth within 4 x max-queued + 8 MiB "
       "(%ld KiB <= %ld KiB)",
       peak, 4 * (max_queued / 1024) + 8 * 1024);
  free(msg);
  free(body);
}

/* ---- Main ---------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: soak --connect HOST:PORT --pid PID --api-key KEY\n"
          "            [--phase "
          "hold|churn|slowloris|storm|bigframe|subs|amplify|all"
          "[,...]]\n"
          "            [--quick] [--conns N] [--churn-seconds S]\n"
          "            [--churn-clients C] [--slowloris N]\n"
          "            [--handshake-timeout-ms MS] [--storm-clients N]\n"
          "            [--storm-seconds S] [--max-queued BYTES]\n"
          "            [--ping-deadline-ms MS] [--amplify-pub-bytes N]\n"
          "            [--commands N] [--subs N]\n");
  exit(2);
}

static long num_arg(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);

  if (end == s || *end != '\0' || v < 0)
    usage();
  return v;
}

static int has_phase(const char *list, const char *name) {
  size_t n = strlen(name);
  const char *p = list;

  if (strcmp(list, "all") == 0)
    return 1;
  while ((p = strstr(p, name)) != NULL) {
    if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
      return 1;
    p += n;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *connect_to = NULL, *phases = "all";
  long conns = 10000, churn_seconds = 120, churn_clients = 200;
  long slowloris = 2000, hs_timeout = 10000, storm_clients = 150;
  long storm_seconds = 20, max_queued = 1 << 20, commands = 10000;
  long subs = 10000, ping_deadline = 0, amp_bytes = 1000;
  int set_conns = 0, set_churn = 0, set_slow = 0, set_storm = 0, i,
      hard_bad = 0, soft_bad = 0;
  struct rlimit rl;
  struct info in;
  char host[64];
  const char *colon = NULL;
  long lim;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(a, "--quick") == 0) {
      g.quick = 1;
      continue;
    }
    if (v == NULL)
      usage();
    i++;
    if (strcmp(a, "--connect") == 0)
      connect_to = v;
    else if (strcmp(a, "--pid") == 0)
      g.pid = num_arg(v);
    else if (strcmp(a, "--api-key") == 0)
      g.api_key = v;
    else if (strcmp(a, "--phase") == 0)
      phases = v;
    else if (strcmp(a, "--conns") == 0)
      conns = num_arg(v), set_conns = 1;
    else if (strcmp(a, "--churn-seconds") == 0)
      churn_seconds = num_arg(v), set_churn = 1;
    else if (strcmp(a, "--churn-clients") == 0)
      churn_clients = num_arg(v);
    else if (strcmp(a, "--slowloris") == 0)
      slowloris = num_arg(v), set_slow = 1;
    else if (strcmp(a, "--handshake-timeout-ms") == 0)
      hs_timeout = num_arg(v);
    else if (strcmp(a, "--storm-clients") == 0)
      storm_clients = num_arg(v);
    else if (strcmp(a, "--storm-seconds") == 0)
      storm_seconds = num_arg(v), set_storm = 1;
    else if (strcmp(a, "--max-queued") == 0)
      max_queued = num_arg(v);
    else if (strcmp(a, "--amplify-pub-bytes") == 0)
      amp_bytes = num_arg(v);
    else if (strcmp(a, "--ping-deadline-ms") == 0)
      ping_deadline = num_arg(v);
    else if (strcmp(a, "--commands") == 0)
      commands = num_arg(v);
    else if (strcmp(a, "--subs") == 0)
      subs = num_arg(v);
    else
      usage();
  }
  if (g.quick) { /* CI sizes, unless given */
    if (!set_conns)
      conns = 2000;
    if (!set_churn)
      churn_seconds = 20;
    if (!set_slow)
      slowloris = 200;
    if (!set_storm)
      storm_seconds = 12;
  }
  if (connect_to == NULL || g.pid <= 0 || g.api_key == NULL ||
      (colon = strrchr(connect_to, ':')) == NULL ||
      (size_t)(colon - connect_to) >= sizeof host || churn_clients < 1 ||
      storm_clients < 3 || commands < 1 || subs < 1)
    usage();
  memcpy(host, connect_to, (size_t)(colon - connect_to));
  host[colon - connect_to] = '\0';
  g.addr.sin_family = AF_INET;
  g.addr.sin_port = htons((uint16_t)num_arg(colon + 1));
  if (inet_pton(AF_INET, host, &g.addr.sin_addr) != 1 ||
      (ntohl(g.addr.sin_addr.s_addr) >> 24) != 127) {
    fprintf(stderr, "soak: %s: loopback (127.x.x.x) addresses only\n", host);
    return 2;
  }
  snprintf(g.hostport, sizeof g.hostport, "%s", connect_to);
  signal(SIGPIPE, SIG_IGN);
  if ((g.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || !server_alive() ||
      api_info(&in) < 0) {
    fprintf(stderr, "soak: no wsp-demo with the server API at %s (pid %ld)\n",
            connect_to, g.pid);
    return 2;
  }
  /* Descriptors: ours up to the hard limit; scale down when the server's
   * or ours cannot hold the connections asked for. */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : 1024;
  if (server_fd_limit() > 0 && server_fd_limit() < lim)
    lim = server_fd_limit();
  if (conns > lim - 64 || slowloris > lim - 64) {
    long want = conns > slowloris ? conns : slowloris;
    fprintf(stderr,
            "soak: the descriptor limit (%ld) cannot hold %ld connections: "
            "scaled down to %ld\n",
            lim, want, lim - 64);
    printf("scaled fd_limit=%ld asked=%ld using=%ld\n", lim, want, lim - 64);
    if (conns > lim - 64)
      conns = lim - 64;
    if (slowloris > lim - 64)
      slowloris = lim - 64;
  }
  printf("soak server=%s pid=%ld mode=%s rss_kib=%ld fds=%ld\n", connect_to,
         g.pid, g.quick ? "quick" : "full", rss_kib(), open_fds());
  fflush(stdout);

  if (has_phase(phases, "hold") && server_alive())
    phase_hold((size_t)conns);
  fflush(stdout);
  if (has_phase(phases, "churn") && server_alive())
    phase_churn((int)churn_clients, (int)churn_seconds);
  fflush(stdout);
  if (has_phase(phases, "slowloris") && server_alive())
    phase_slowloris((size_t)slowloris, hs_timeout);
  fflush(stdout);
  if (has_phase(phases, "storm") && server_alive())
    phase_storm((int)storm_clients, (int)storm_seconds, max_queued,
                ping_deadline);
  fflush(stdout);
  if (has_phase(phases, "bigframe") && server_alive())
    phase_bigframe((size_t)commands);
  fflush(stdout);
  if (has_phase(phases, "subs") && server_alive())
    phase_subs((size_t)subs);
  fflush(stdout);
  if (has_phase(phases, "amplify") && server_alive())
    phase_amplify(max_queued, (size_t)amp_bytes);

  crit(1, server_alive() && !g.crashed, "the server is still running");
  printf("\nCriteria (hard: a crash, lost replies, fds, an unresponsive "
         "server; soft: figures that move with the machine)\n");
  for (i = 0; i < g.ncrit; i++) {
    printf("  %-4s %s: %s\n", g.crit[i].hard ? "hard" : "soft", g.crit[i].text,
           g.crit[i].met ? "met" : "NOT met");
    if (!g.crit[i].met && g.crit[i].hard)
      hard_bad++;
    else if (!g.crit[i].met)
      soft_bad++;
  }
  printf("summary hard_not_met=%d soft_not_met=%d result=%s\n", hard_bad,
         soft_bad,
         hard_bad || (!g.quick && soft_bad) ? "FAIL"
         : soft_bad                         ? "PASS (soft criteria not met)"
                                            : "PASS");
  return hard_bad || (!g.quick && soft_bad) ? 1 : 0;
}
