/*
 * raw-bench-server: the fan-out benchmark's ceiling. The same job and the
 * same wire as wsp-bench-server (/sub, /pub, GET /stats; binary or text
 * publications relayed unchanged) with no library at all: the upgrade is
 * answered by hand (nettle for SHA-1 and base64), client frames are
 * unmasked in place, and each publication is framed once into a
 * reference-counted buffer that every subscriber's output queue points
 * to. Nothing is copied per subscriber in user space.
 *
 * The write policy is wsp-bench-server's, so that the two differ only in
 * what the library costs: connections that got output during a loop
 * iteration are written once at its end, with one writev of up to 1024
 * iovecs (one per queued buffer); another writev follows only when the
 * previous one took all it was offered and more is queued (at most 8 per
 * iteration). Subscribers are TCP_NODELAY; a subscriber whose queue would
 * pass --max-queued bytes is closed (1008) and counted.
 *
 *   raw-bench-server [--port N] [--max-queued BYTES]
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#define IOV_BATCH 1024 /* IOV_MAX on Linux */
#define MAX_HEAD 8192
#define LIT(s) (s), (sizeof(s) - 1)
#define CLOSE_POLICY 1008 /* RFC 6455 7.4.1: a policy violation */

enum {
  OP_TEXT = 0x1,
  OP_BINARY = 0x2,
  OP_CLOSE = 0x8,
  OP_PING = 0x9,
  OP_PONG = 0xa
};

struct buf { /* shared bytes: a framed publication or a reply */
  uint32_t refs;
  size_t len;
  uint8_t data[];
};

enum kind { K_NONE, K_SUB, K_PUB };

struct client {
  int fd;
  uint8_t kind, upgraded, dirty, closing, failed;
  uint32_t events, sub_idx;
  uint8_t *in; /* unparsed input (a partial head or frame) */
  size_t in_len;
  struct buf **q; /* output: a ring of references, cap a power of two */
  uint32_t q_head, q_count, q_cap;
  size_t q_off, q_bytes; /* sent from the head buffer; bytes queued */
  struct client *prev, *next, *dirty_next;
};

static struct {
  int epfd;
  size_t max_queued;
  struct client *clients, *dirty, **subs;
  uint32_t nsubs, subs_cap;
  unsigned long long connections, published, delivered, writes, queue_full;
} g;

static struct buf *buf_new(size_t len) {
  struct buf *b = malloc(sizeof *b + len);
  if (b != NULL) {
    b->refs = 1;
    b->len = len;
  }
  return b;
}

static void buf_unref(struct buf *b) {
  if (b != NULL && --b->refs == 0)
    free(b);
}

/* A server frame (FIN set, unmasked) around data. */
static struct buf *frame_new(int opcode, const uint8_t *data, size_t len) {
  size_t h = len < 126 ? 2 : len <= 0xffff ? 4 : 10, i;
  struct buf *b = buf_new(h + len);
  if (b == NULL)
    return NULL;
  b->data[0] = (uint8_t)(0x80 | opcode);
  b->data[1] = (uint8_t)(h == 2 ? len : h == 4 ? 126 : 127);
  for (i = 2; i < h; i++)
    b->data[i] = (uint8_t)((uint64_t)len >> (8 * (h - 1 - i)));
  memcpy(b->data + h, data, len);
  return b;
}

static void mark_dirty(struct client *cl) {
  if (!cl->dirty) {
    cl->dirty = 1;
    cl->dirty_next = g.dirty;
    g.dirty = cl;
  }
}

/* Queue b by reference (takes a new reference). */
static int enqueue(struct client *cl, struct buf *b) {
  if (cl->q_count == cl->q_cap) {
    uint32_t cap = cl->q_cap ? cl->q_cap * 2 : 16, i;
    struct buf **n = malloc(cap * sizeof *n);
    if (n == NULL)
      return -1;
    for (i = 0; i < cl->q_count; i++)
      n[i] = cl->q[(cl->q_head + i) & (cl->q_cap - 1)];
    free(cl->q);
    cl->q = n;
    cl->q_cap = cap;
    cl->q_head = 0;
  }
  cl->q[(cl->q_head + cl->q_count++) & (cl->q_cap - 1)] = b;
  b->refs++;
  cl->q_bytes += b->len;
  mark_dirty(cl);
  return 0;
}

static void send_text(struct client *cl, const char *s, size_t len) {
  struct buf *b = buf_new(len);
  if (b != NULL)
    memcpy(b->data, s, len);
  if (b == NULL || enqueue(cl, b) < 0)
    cl->failed = 1;
  buf_unref(b);
}

static void send_control(struct client *cl, int opcode, const uint8_t *d,
                         size_t len) {
  struct buf *b = frame_new(opcode, d, len);
  if (b == NULL || enqueue(cl, b) < 0)
    cl->failed = 1;
  buf_unref(b);
}

static void unsubscribe(struct client *cl) {
  if (cl->kind == K_SUB && cl->upgraded && !cl->closing) {
    g.subs[cl->sub_idx] = g.subs[--g.nsubs];
    g.subs[cl->sub_idx]->sub_idx = cl->sub_idx;
  }
  cl->closing = 1;
}

static void publish(int opcode, const uint8_t *data, size_t len) {
  struct buf *f = frame_new(opcode, data, len);
  static const uint8_t policy[] = {CLOSE_POLICY >> 8, CLOSE_POLICY & 0xff};
  uint32_t i = 0;

  if (f == NULL)
    return;
  g.published++;
  while (i < g.nsubs) {
    struct client *s = g.subs[i];
    if (s->q_bytes + f->len <= g.max_queued && enqueue(s, f) == 0) {
      g.delivered++;
      i++;
      continue;
    }
    /* A subscriber that does not keep up: report it and let it go. */
    g.queue_full++;
    fprintf(stderr, "raw-bench-server: subscriber fd %d dropped\n", s->fd);
    unsubscribe(s); /* the last subscriber moves into slot i */
    send_control(s, OP_CLOSE, policy, sizeof policy);
  }
  buf_unref(f);
}

/* ---- Input ------------------------------------------------------------- */

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static void respond(struct client *cl, const char *status, const char *body) {
  char r[1024];
  int n = snprintf(r, sizeof r,
                   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   status, strlen(body), body);
  send_text(cl, r, (size_t)n);
  cl->closing = 1;
}

/* The head is h[0..len), NUL-terminated in place of its final CRLF. */
static void handshake(struct client *cl, char *h) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char *key = NULL, *p, body[512], accept[29], r[256];
  struct sha1_ctx sha;
  uint8_t digest[SHA1_DIGEST_SIZE];
  int n;

  for (p = strstr(h, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n"))
    if (strncasecmp(p + 2, LIT("Sec-WebSocket-Key:")) == 0)
      key = p + 2 + sizeof "Sec-WebSocket-Key:" - 1;
  if (strncmp(h, LIT("GET /stats ")) == 0) {
    snprintf(body, sizeof body,
             "heap_bytes %zu\nconnections %llu\nsubscribers %u\n"
             "published %llu\ndelivered %llu\nwrites %llu\nqueue_full %llu\n",
             heap_in_use(), g.connections, g.nsubs, g.published, g.delivered,
             g.writes, g.queue_full);
    respond(cl, "200 OK", body);
    return;
  }
  cl->kind = strncmp(h, LIT("GET /sub ")) == 0   ? K_SUB
             : strncmp(h, LIT("GET /pub ")) == 0 ? K_PUB
                                                 : K_NONE;
  while (key != NULL && *key == ' ')
    key++;
  if (cl->kind == K_NONE) {
    respond(cl, "404 Not Found", "not found\n");
    return;
  }
  if (key == NULL || strcspn(key, " \r") != 24) {
    respond(cl, "400 Bad Request", "bad Sec-WebSocket-Key\n");
    return;
  }
  if (cl->kind == K_SUB && g.nsubs == g.subs_cap) {
    uint32_t cap = g.subs_cap ? g.subs_cap * 2 : 1024;
    struct client **s = realloc(g.subs, cap * sizeof *s);
    if (s == NULL) {
      respond(cl, "500 Internal Server Error", "no memory\n");
      return;
    }
    g.subs = s;
    g.subs_cap = cap;
  }
  sha1_init(&sha);
  sha1_update(&sha, 24, (const uint8_t *)key);
  sha1_update(&sha, sizeof guid - 1, (const uint8_t *)guid);
  sha1_digest(&sha, sizeof digest, digest);
  base64_encode_raw(accept, sizeof digest, digest);
  accept[28] = '\0';
  n = snprintf(r, sizeof r,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
               accept);
  send_text(cl, r, (size_t)n);
  cl->upgraded = 1;
  if (cl->kind == K_SUB) {
    cl->sub_idx = g.nsubs;
    g.subs[g.nsubs++] = cl;
  }
}

/* Act on whole frames in d[0..len); returns the bytes used. Fragments,
 * unmasked frames and oversized frames end the connection. */
static size_t frames(struct client *cl, uint8_t *d, size_t len) {
  size_t used = 0;

  while (!cl->closing && len - used >= 2) {
    uint8_t *f = d + used, *m;
    size_t h = 2, n = f[1] & 0x7f, i;
    if (n == 126)
      h = 4;
    else if (n == 127)
      h = 10;
    if (len - used < h + 4)
      break;
    for (i = 2, n = h > 2 ? 0 : n; i < h; i++)
      n = n << 8 | f[i];
    if (!(f[0] & 0x80) || !(f[1] & 0x80) || n > (64u << 20)) {
      cl->failed = 1;
      break;
    }
    if (len - used - h - 4 < n)
      break;
    m = f + h;
    for (i = 0; i < n; i++)
      m[4 + i] ^= m[i & 3];
    if ((f[0] & 0xf) == OP_CLOSE) { /* echo the code, then hang up */
      unsubscribe(cl);
      send_control(cl, OP_CLOSE, m + 4, n < 2 ? 0 : 2);
    } else if ((f[0] & 0xf) == OP_PING) {
      send_control(cl, OP_PONG, m + 4, n);
    } else if (cl->kind == K_PUB &&
               ((f[0] & 0xf) == OP_TEXT || (f[0] & 0xf) == OP_BINARY)) {
      publish(f[0] & 0xf, m + 4, n);
    }
    used += h + 4 + n;
  }
  return used;
}

/* Parse d[0..len): the request head, then frames. Returns the bytes used. */
static size_t input(struct client *cl, uint8_t *d, size_t len) {
  uint8_t *e;
  size_t used = 0;

  if (!cl->upgraded && !cl->closing) {
    if ((e = memmem(d, len, "\r\n\r\n", 4)) == NULL) {
      if (len >= MAX_HEAD)
        respond(cl, "431 Request Header Fields Too Large", "too large\n");
      return cl->closing ? len : 0;
    }
    e[2] = '\0';
    handshake(cl, (char *)d);
    used = (size_t)(e + 4 - d);
  }
  return cl->upgraded ? used + frames(cl, d + used, len - used) : len;
}

/* Up to four reads of 256 KiB, as wsp-bench-server does. Input is parsed
 * where it lies; only a partial head or frame is kept aside. */
static void client_read(struct client *cl) {
  static uint8_t rbuf[256 * 1024];
  int i;

  mark_dirty(cl);
  for (i = 0; i < 4 && !cl->failed && !cl->closing; i++) {
    ssize_t n = read(cl->fd, rbuf, sizeof rbuf);
    uint8_t *d = rbuf;
    size_t len = (size_t)n, used;

    if (n <= 0) {
      cl->failed = n == 0 || (errno != EAGAIN && errno != EINTR);
      return;
    }
    if (cl->in_len > 0) {
      if ((d = realloc(cl->in, cl->in_len + len + 1)) == NULL) {
        cl->failed = 1;
        return;
      }
      memcpy(d + cl->in_len, rbuf, len);
      cl->in = d;
      len += cl->in_len;
    }
    used = input(cl, d, len);
    if (used == len) {
      free(cl->in);
      cl->in = NULL;
      cl->in_len = 0;
    } else if (d == rbuf) {
      if ((cl->in = malloc(len - used + 1)) == NULL)
        cl->failed = 1;
      else
        memcpy(cl->in, d + used, cl->in_len = len - used);
    } else {
      memmove(cl->in, cl->in + used, cl->in_len = len - used);
    }
    if ((size_t)n < sizeof rbuf)
      return;
  }
}

/* ---- Output: the library's batching policy ------------------------------ */

static void consume(struct client *cl, size_t n) {
  cl->q_bytes -= n;
  while (n > 0) {
    struct buf *b = cl->q[cl->q_head];
    size_t left = b->len - cl->q_off;
    if (n < left) {
      cl->q_off += n;
      return;
    }
    n -= left;
    cl->q_off = 0;
    buf_unref(b);
    cl->q_head = (cl->q_head + 1) & (cl->q_cap - 1);
    cl->q_count--;
  }
}

static int client_write(struct client *cl) {
  static struct iovec iov[IOV_BATCH];
  int round;

  for (round = 0; round < 8 && cl->q_count > 0; round++) {
    struct msghdr msg = {.msg_iov = iov};
    size_t offered = 0, off = cl->q_off;
    uint32_t i;
    ssize_t n;

    for (i = 0; i < cl->q_count && i < IOV_BATCH; i++, off = 0) {
      struct buf *b = cl->q[(cl->q_head + i) & (cl->q_cap - 1)];
      iov[i].iov_base = b->data + off;
      iov[i].iov_len = b->len - off;
      offered += iov[i].iov_len;
    }
    msg.msg_iovlen = i;
    n = sendmsg(cl->fd, &msg, MSG_NOSIGNAL);
    g.writes++;
    if (n < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    consume(cl, (size_t)n);
    if ((size_t)n < offered || i < IOV_BATCH)
      return 0;
  }
  return 0;
}

static void client_free(struct client *cl) {
  unsubscribe(cl);
  if (cl->prev != NULL)
    cl->prev->next = cl->next;
  else
    g.clients = cl->next;
  if (cl->next != NULL)
    cl->next->prev = cl->prev;
  while (cl->q_count > 0) {
    buf_unref(cl->q[cl->q_head]);
    cl->q_head = (cl->q_head + 1) & (cl->q_cap - 1);
    cl->q_count--;
  }
  close(cl->fd);
  free(cl->q);
  free(cl->in);
  free(cl);
  g.connections--;
}

/* Once per loop iteration for each dirty client: write, then re-arm. */
static void client_update(struct client *cl) {
  struct epoll_event ev = {0};

  cl->dirty = 0;
  if (cl->failed || client_write(cl) < 0 || (cl->closing && cl->q_count == 0)) {
    client_free(cl);
    return;
  }
  ev.events = (cl->closing ? 0 : EPOLLIN) | (cl->q_count ? EPOLLOUT : 0);
  ev.data.ptr = cl;
  if (ev.events != cl->events &&
      epoll_ctl(g.epfd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
    cl->events = ev.events;
}

static void client_accept(int fd) {
  struct client *cl = calloc(1, sizeof *cl);
  struct epoll_event ev = {.events = EPOLLIN};
  int one = 1;

  if (cl == NULL) {
    close(fd);
    return;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  cl->fd = fd;
  cl->events = EPOLLIN;
  if ((cl->next = g.clients) != NULL)
    g.clients->prev = cl;
  g.clients = cl;
  g.connections++;
  ev.data.ptr = cl;
  if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    client_free(cl);
}

/* ---- Main ------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr, "usage: raw-bench-server [--port N] [--max-queued BYTES]\n");
  exit(2);
}

int main(int argc, char **argv) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t salen = sizeof sa;
  struct epoll_event ev = {.events = EPOLLIN}, evs[256];
  struct rlimit rl;
  sigset_t set;
  int port = 0, lfd, sfd, fd, i, one = 1, running = 1;
  char *end;

  g.max_queued = 64u << 20;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = (int)strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535)
        usage();
    } else if (strcmp(argv[i], "--max-queued") == 0 && i + 1 < argc) {
      g.max_queued = strtoull(argv[++i], &end, 10);
      if (*end || g.max_queued == 0)
        usage();
    } else {
      usage();
    }
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0 ||
      setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      listen(lfd, 4096) < 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0 ||
      (sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
      (g.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
    perror("raw-bench-server");
    return 1;
  }
  ev.data.ptr = &lfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &sfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, sfd, &ev);
  printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
  fflush(stdout);

  while (running) {
    int n = epoll_wait(g.epfd, evs, 256, -1);

    for (i = 0; i < n; i++) {
      struct client *cl = evs[i].data.ptr;

      if (evs[i].data.ptr == &sfd) {
        running = 0;
      } else if (evs[i].data.ptr == &lfd) {
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
               0)
          client_accept(fd);
      } else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        client_read(cl);
      } else {
        mark_dirty(cl); /* EPOLLOUT */
      }
    }
    while (g.dirty != NULL) { /* the corked write */
      struct client *cl = g.dirty;
      g.dirty = cl->dirty_next;
      client_update(cl);
    }
  }
  fprintf(stderr,
          "raw-bench-server: published %llu delivered %llu writes %llu "
          "queue_full %llu\n",
          g.published, g.delivered, g.writes, g.queue_full);
  while (g.clients != NULL)
    client_free(g.clients);
  free(g.subs);
  return 0;
}
