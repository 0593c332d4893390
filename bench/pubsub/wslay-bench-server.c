/*
 * wslay-bench-server: the fan-out benchmark's reference server written
 * the way a careful user of plain wslay writes it (no libwsp code): its
 * own HTTP upgrade (nettle for SHA-1 and base64), one wslay event context
 * per WebSocket, wslay_event_queue_msg() to every subscriber for each
 * publication, wslay_event_send() when a connection can be written.
 * Same paths as wsp-bench-server: /sub, /pub, /echo and GET /stats.
 *
 * By default the send callback appends to the connection's own output
 * buffer, which is written with one send() per connection per loop
 * iteration (corked, as a competent user would). --direct makes the send
 * callback call send() itself, as wslay's own examples do: two system
 * calls per message (header, then payload).
 *
 *   wslay-bench-server [--port N] [--max-queued BYTES] [--direct]
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <wslay/wslay.h>

#define MAX_HEAD 8192
#define OUT_SOFT_CAP (4u << 20) /* hand wslay WOULDBLOCK past this */

enum kind { K_NONE, K_SUB, K_PUB, K_ECHO };

struct client {
  int fd;
  uint8_t kind;
  uint8_t subscribed, dirty, close_after_write, failed;
  uint32_t events;
  wslay_event_context_ptr ctx; /* NULL until the upgrade */
  /* Request head, then any bytes that followed it (given to wslay). */
  char *in;
  size_t in_len, in_off;
  /* Corked output. */
  uint8_t *out;
  size_t out_len, out_off, out_cap;
  struct client *prev, *next;         /* every client */
  struct client *sub_prev, *sub_next; /* subscribers */
  struct client *dirty_next;
};

static struct {
  int epfd, direct;
  size_t max_queued;
  struct client *clients, *subs, *dirty;
  unsigned long long connections, subscribers, published, delivered, writes,
      queue_full, send_errors;
} g;

static void mark_dirty(struct client *cl) {
  if (!cl->dirty) {
    cl->dirty = 1;
    cl->dirty_next = g.dirty;
    g.dirty = cl;
  }
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static int out_append(struct client *cl, const void *data, size_t len) {
  if (cl->out_off > 0 && cl->out_off == cl->out_len)
    cl->out_off = cl->out_len = 0;
  if (cl->out_len + len > cl->out_cap) {
    size_t cap = cl->out_cap ? cl->out_cap : 4096;
    uint8_t *p;

    if (cl->out_off > 0) { /* slide the unsent rest to the front */
      memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
      cl->out_len -= cl->out_off;
      cl->out_off = 0;
    }
    while (cap < cl->out_len + len)
      cap *= 2;
    if (cap != cl->out_cap) {
      if ((p = realloc(cl->out, cap)) == NULL)
        return -1;
      cl->out = p;
      cl->out_cap = cap;
    }
  }
  memcpy(cl->out + cl->out_len, data, len);
  cl->out_len += len;
  return 0;
}

/* ---- wslay callbacks ---------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *user_data) {
  struct client *cl = user_data;
  ssize_t n;

  if (cl->in_off < cl->in_len) { /* bytes that followed the request head */
    n = (ssize_t)(cl->in_len - cl->in_off < len ? cl->in_len - cl->in_off
                                                : len);
    memcpy(buf, cl->in + cl->in_off, (size_t)n);
    cl->in_off += (size_t)n;
    return n;
  }
  n = read(cl->fd, buf, len);
  if (n > 0)
    return n;
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
  } else {
    cl->failed = 1;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  }
  return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data,
                       size_t len, int flags, void *user_data) {
  struct client *cl = user_data;
  ssize_t n;

  if (g.direct) {
    int f = MSG_NOSIGNAL | (flags & WSLAY_MSG_MORE ? MSG_MORE : 0);
    n = send(cl->fd, data, len, f);
    g.writes++;
    if (n >= 0)
      return n;
    if (errno == EAGAIN || errno == EINTR) {
      wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
      cl->failed = 1;
      wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
  }
  if (cl->out_len - cl->out_off >= OUT_SOFT_CAP) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (out_append(cl, data, len) < 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
    return -1;
  }
  return (ssize_t)len;
}

static void unsubscribe(struct client *cl) {
  if (!cl->subscribed)
    return;
  if (cl->sub_prev != NULL)
    cl->sub_prev->sub_next = cl->sub_next;
  else
    g.subs = cl->sub_next;
  if (cl->sub_next != NULL)
    cl->sub_next->sub_prev = cl->sub_prev;
  cl->subscribed = 0;
  g.subscribers--;
}

static void queue_to(struct client *cl, int opcode, const uint8_t *data,
                     size_t len, int publication) {
  struct wslay_event_msg msg = {(uint8_t)opcode, data, len};

  if (wslay_event_get_queued_msg_length(cl->ctx) + len > g.max_queued) {
    g.queue_full++;
    fprintf(stderr,
            "wslay-bench-server: subscriber fd %d dropped: queue full\n",
            cl->fd);
    /* A subscriber that does not keep up: report it and let it go (the
     * close frame waits behind what is queued). */
    unsubscribe(cl);
    wslay_event_queue_close(cl->ctx, 1008, (const uint8_t *)"queue full", 10);
  } else if (wslay_event_queue_msg(cl->ctx, &msg) == 0) {
    g.delivered += publication;
  } else {
    g.send_errors++;
  }
  mark_dirty(cl);
}

static void on_msg_cb(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg,
                      void *user_data) {
  struct client *cl = user_data, *s;

  if (wslay_is_ctrl_frame(arg->opcode))
    return; /* wslay answers pings and closes itself */
  if (cl->kind == K_ECHO) {
    queue_to(cl, arg->opcode, arg->msg, arg->msg_length, 0);
  } else if (cl->kind == K_PUB) {
    g.published++;
    for (s = g.subs; s != NULL; s = s->sub_next)
      queue_to(s, arg->opcode, arg->msg, arg->msg_length, 1);
  }
}

static const struct wslay_event_callbacks wslay_callbacks = {
    recv_cb, send_cb, NULL, NULL, NULL, NULL, on_msg_cb};

/* ---- HTTP upgrade ------------------------------------------------------- */

/* The value of header name in the head, or NULL; *len gets its length. */
static const char *header(const char *head, const char *name, size_t *len) {
  size_t n = strlen(name);
  const char *p = strstr(head, "\r\n");

  while (p != NULL && p[2] != '\r') {
    const char *line = p + 2, *eol = strstr(line, "\r\n");
    if (eol == NULL)
      return NULL;
    if ((size_t)(eol - line) > n && line[n] == ':' &&
        strncasecmp(line, name, n) == 0) {
      const char *v = line + n + 1, *e = eol;
      while (*v == ' ' || *v == '\t')
        v++;
      while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      *len = (size_t)(e - v);
      return v;
    }
    p = eol;
  }
  return NULL;
}

static void respond(struct client *cl, const char *status, const char *body) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   status, strlen(body), body);
  out_append(cl, buf, (size_t)n);
  cl->close_after_write = 1;
}

static void accept_key(const char *key, size_t len, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  struct sha1_ctx sha;
  uint8_t digest[SHA1_DIGEST_SIZE];

  sha1_init(&sha);
  sha1_update(&sha, len, (const uint8_t *)key);
  sha1_update(&sha, sizeof guid - 1, (const uint8_t *)guid);
  sha1_digest(&sha, sizeof digest, digest);
  base64_encode_raw(out, sizeof digest, digest);
  out[28] = '\0';
}

/* A complete head is in cl->in[0..head_len). */
static void handle_request(struct client *cl, size_t head_len) {
  char *head = cl->in, *sp, *path, accept[29], buf[256];
  const char *key;
  size_t key_len, path_len;
  int n;

  head[head_len - 2] = '\0'; /* keep the last header's CRLF */
  if (strncmp(head, "GET ", 4) != 0 || (sp = strchr(head + 4, ' ')) == NULL) {
    respond(cl, "400 Bad Request", "bad request\n");
    return;
  }
  path = head + 4;
  path_len = (size_t)(sp - path);
  if (path_len == 6 && memcmp(path, "/stats", 6) == 0) {
    char body[512];
    snprintf(body, sizeof body,
             "heap_bytes %zu\nconnections %llu\nsubscribers %llu\n"
             "published %llu\ndelivered %llu\nwrites %llu\n"
             "queue_full %llu\nsend_errors %llu\n",
             heap_in_use(), g.connections, g.subscribers, g.published,
             g.delivered, g.writes, g.queue_full, g.send_errors);
    respond(cl, "200 OK", body);
    return;
  }
  if (path_len == 4 && memcmp(path, "/sub", 4) == 0)
    cl->kind = K_SUB;
  else if (path_len == 4 && memcmp(path, "/pub", 4) == 0)
    cl->kind = K_PUB;
  else if (path_len == 5 && memcmp(path, "/echo", 5) == 0)
    cl->kind = K_ECHO;
  else {
    respond(cl, "404 Not Found", "not found\n");
    return;
  }
  if ((key = header(head, "Sec-WebSocket-Key", &key_len)) == NULL ||
      key_len != 24) {
    respond(cl, "400 Bad Request", "missing Sec-WebSocket-Key\n");
    return;
  }
  if (wslay_event_context_server_init(&cl->ctx, &wslay_callbacks, cl) != 0) {
    respond(cl, "500 Internal Server Error", "out of memory\n");
    return;
  }
  accept_key(key, key_len, accept);
  n = snprintf(buf, sizeof buf,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
               accept);
  out_append(cl, buf, (size_t)n);
  /* Keep what followed the head for wslay. */
  memmove(cl->in, cl->in + head_len, cl->in_len - head_len);
  cl->in_len -= head_len;
  cl->in_off = 0;
  if (cl->kind == K_SUB) {
    cl->sub_next = g.subs;
    if (g.subs != NULL)
      g.subs->sub_prev = cl;
    g.subs = cl;
    cl->subscribed = 1;
    g.subscribers++;
  }
}

/* ---- Connections -------------------------------------------------------- */

static void client_free(struct client *cl) {
  unsubscribe(cl);
  if (cl->prev != NULL)
    cl->prev->next = cl->next;
  else
    g.clients = cl->next;
  if (cl->next != NULL)
    cl->next->prev = cl->prev;
  close(cl->fd);
  if (cl->ctx != NULL)
    wslay_event_context_free(cl->ctx);
  free(cl->in);
  free(cl->out);
  free(cl);
  g.connections--;
}

static void client_read(struct client *cl) {
  if (cl->ctx != NULL) {
    if (wslay_event_recv(cl->ctx) != 0)
      cl->failed = 1;
  } else if (!cl->close_after_write) {
    char *end;
    ssize_t n;

    if (cl->in == NULL && (cl->in = malloc(MAX_HEAD + 1)) == NULL) {
      cl->failed = 1;
      return;
    }
    n = read(cl->fd, cl->in + cl->in_len, MAX_HEAD - cl->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      cl->failed = 1;
    } else if (n > 0) {
      cl->in_len += (size_t)n;
      cl->in[cl->in_len] = '\0';
      if ((end = strstr(cl->in, "\r\n\r\n")) != NULL) {
        handle_request(cl, (size_t)(end + 4 - cl->in));
        /* The subscriber path keeps no request buffer once upgraded. */
        if (cl->ctx != NULL && cl->in_len == 0) {
          free(cl->in);
          cl->in = NULL;
        }
      } else if (cl->in_len == MAX_HEAD) {
        respond(cl, "431 Request Header Fields Too Large", "too large\n");
      }
    }
  }
  mark_dirty(cl);
}

/* Write the output buffer until it is empty or the socket is full. */
static void flush_out(struct client *cl) {
  while (!cl->failed && cl->out_off < cl->out_len) {
    ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
                     MSG_NOSIGNAL);
    g.writes++;
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR)
        cl->failed = 1;
      return;
    }
    cl->out_off += (size_t)n;
  }
  if (cl->out_off == cl->out_len)
    cl->out_off = cl->out_len = 0;
}

/* Let wslay produce its frames, then write them with one send(). */
static void client_update(struct client *cl) {
  struct epoll_event ev = {0};
  int want_read, want_write, round;

  cl->dirty = 0;
  if (g.direct)
    flush_out(cl); /* the 101 must leave before any frame */
  for (round = 0; round < 4 && !cl->failed; round++) {
    if (cl->ctx != NULL && wslay_event_want_write(cl->ctx) &&
        (!g.direct || cl->out_len == 0) && wslay_event_send(cl->ctx) != 0)
      cl->failed = 1;
    if (g.direct || cl->out_len == 0)
      break;
    flush_out(cl);
    /* Socket full, or wslay has nothing past the soft cap: done. */
    if (cl->out_len > 0 || cl->ctx == NULL || !wslay_event_want_write(cl->ctx))
      break;
  }
  if (cl->out_len == 0 && cl->out != NULL) {
    /* Idle again: an idle connection keeps no output buffer (one
     * malloc per write is small next to wslay's one per message). */
    free(cl->out);
    cl->out = NULL;
    cl->out_cap = 0;
  }
  want_write =
      cl->out_len > 0 || (cl->ctx != NULL && wslay_event_want_write(cl->ctx));
  want_read =
      cl->ctx != NULL ? wslay_event_want_read(cl->ctx) : !cl->close_after_write;
  if (cl->failed || (!want_read && !want_write)) {
    client_free(cl);
    return;
  }
  ev.events = (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0);
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

/* ---- Main --------------------------------------------------------------- */

static int listen_on(int port, int *bound) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  if (fd < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
    perror("wslay-bench-server: listen");
    close(fd);
    return -1;
  }
  *bound = ntohs(sa.sin_port);
  return fd;
}

static void usage(void) {
  fprintf(stderr, "usage: wslay-bench-server [--port N] [--max-queued BYTES] "
                  "[--direct]\n");
  exit(2);
}

int main(int argc, char **argv) {
  struct epoll_event ev = {.events = EPOLLIN}, evs[256];
  struct rlimit rl;
  sigset_t set;
  int port = 0, lfd, sfd, i, running = 1;

  g.max_queued = 64u << 20;
  for (i = 1; i < argc; i++) {
    char *end;
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = (int)strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535)
        usage();
    } else if (strcmp(argv[i], "--max-queued") == 0 && i + 1 < argc) {
      g.max_queued = strtoull(argv[++i], &end, 10);
      if (*end || g.max_queued == 0)
        usage();
    } else if (strcmp(argv[i], "--direct") == 0) {
      g.direct = 1;
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
  if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
      (lfd = listen_on(port, &port)) < 0 ||
      (g.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
    return 1;
  ev.data.ptr = &lfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &sfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, sfd, &ev);
  printf("listening on 127.0.0.1:%d\n", port);
  fflush(stdout);

  while (running) {
    int n = epoll_wait(g.epfd, evs, 256, -1), fd;

    for (i = 0; i < n; i++) {
      struct client *cl = evs[i].data.ptr;

      if (evs[i].data.ptr == &sfd) {
        running = 0;
      } else if (evs[i].data.ptr == &lfd) {
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
               0)
          client_accept(fd);
      } else {
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
          client_read(cl);
        mark_dirty(cl);
      }
    }
    /* Corked: every connection that got output is written once. */
    while (g.dirty != NULL) {
      struct client *cl = g.dirty;
      g.dirty = cl->dirty_next;
      client_update(cl);
    }
  }

  fprintf(stderr,
          "wslay-bench-server: published %llu delivered %llu writes %llu "
          "queue_full %llu send_errors %llu\n",
          g.published, g.delivered, g.writes, g.queue_full, g.send_errors);
  while (g.clients != NULL)
    client_free(g.clients);
  close(g.epfd);
  close(sfd);
  close(lfd);
  return 0;
}
