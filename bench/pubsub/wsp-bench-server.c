/*
 * wsp-bench-server: the libwsp side of the fan-out benchmark. One epoll
 * process on 127.0.0.1, built on wsp_conn and wsp_pubsub with no protocol
 * envelope:
 *   /sub    a WebSocket subscribed to the topic "bench";
 *   /pub    every message received is published unchanged to "bench":
 *           one shared frame per publication, queued to each subscriber
 *           by reference;
 *   /echo   echoes every message;
 *   /stats  plain HTTP GET: heap in use (mallinfo2) and counters.
 * Output is corked: connections that got output are written once, with
 * one writev each, after all input of the loop iteration was processed.
 *
 *   wsp-bench-server [--port N] [--max-queued BYTES] [--deflate]
 *
 * --deflate: permessage-deflate for the connections that offer it; each
 * publication is then compressed once for all its subscribers.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wsp.h>

#define TOPIC "bench"
#define IOV_BATCH 1024 /* IOV_MAX on Linux */

enum kind { K_NONE, K_SUB, K_PUB, K_ECHO };

struct client {
  int fd;
  uint8_t kind;
  uint8_t subscribed;
  uint8_t dirty; /* on the dirty list: write and re-arm at the end of
                    the loop iteration */
  uint8_t gone;  /* the socket hung up and no more input is wanted */
  uint32_t events;
  struct wsp_conn *conn;
  struct client *prev, *next; /* every client */
  struct client *dirty_next;
};

static struct {
  int epfd;
  uint64_t max_queued;
  struct wsp_pubsub *ps;
  struct wsp_conn_profile *profile; /* what every connection shares */
  struct client *clients, *dirty;
  struct wsp_frame *frame; /* the publication being delivered */
  unsigned long long connections, subscribers, published, delivered, writes,
      queue_full, send_errors;
} g;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t clock_cb(void *user_data) { return now_ms(); }

static void mark_dirty(struct client *cl) {
  if (!cl->dirty) {
    cl->dirty = 1;
    cl->dirty_next = g.dirty;
    g.dirty = cl;
  }
}

static int path_is(const struct wsp_request *req, const char *path) {
  size_t n = strlen(path);
  return req->path.len == n && memcmp(req->path.ptr, path, n) == 0;
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/* ---- Callbacks ---------------------------------------------------------- */

static int on_request(struct wsp_conn *conn, const struct wsp_request *req,
                      void *user_data) {
  static const char nf[] = "not found\n";
  struct client *cl = user_data;
  char body[512];
  int n;

  if (path_is(req, "/stats") && !req->websocket) {
    n = snprintf(body, sizeof body,
                 "heap_bytes %zu\nconnections %llu\nsubscribers %llu\n"
                 "published %llu\ndelivered %llu\nwrites %llu\n"
                 "queue_full %llu\nsend_errors %llu\n",
                 heap_in_use(), g.connections, g.subscribers, g.published,
                 g.delivered, g.writes, g.queue_full, g.send_errors);
    wsp_conn_respond(conn, 200, "text/plain", body, (size_t)n);
  } else if (path_is(req, "/sub")) {
    cl->kind = K_SUB;
  } else if (path_is(req, "/pub")) {
    cl->kind = K_PUB;
  } else if (path_is(req, "/echo")) {
    cl->kind = K_ECHO;
  } else {
    wsp_conn_respond(conn, 404, "text/plain", nf, sizeof nf - 1);
  }
  return 0; /* a bad upgrade gets the library's 400 or 426 */
}

static void on_open(struct wsp_conn *conn, const struct wsp_response *resp,
                    void *user_data) {
  struct client *cl = user_data;

  if (cl->kind == K_SUB &&
      wsp_pubsub_subscribe(g.ps, TOPIC, sizeof TOPIC - 1, cl) == 0) {
    cl->subscribed = 1;
    g.subscribers++;
  }
}

static void unsubscribe(struct client *cl) {
  if (cl->subscribed) {
    wsp_pubsub_unsubscribe(g.ps, TOPIC, sizeof TOPIC - 1, cl);
    cl->subscribed = 0;
    g.subscribers--;
  }
}

static void deliver(void *subscriber, const char *pattern, size_t pattern_len,
                    void *user_data) {
  struct client *s = subscriber;
  int rc = wsp_conn_send_frame(s->conn, g.frame);

  if (rc == 0) {
    g.delivered++;
    return;
  }
  /* A subscriber that does not keep up: report it and let it go. */
  if (rc == WSP_ERR_QUEUE_FULL)
    g.queue_full++;
  else
    g.send_errors++;
  fprintf(stderr, "wsp-bench-server: subscriber fd %d dropped: %s\n", s->fd,
          wsp_error_name(rc));
  unsubscribe(s);
  wsp_conn_close(s->conn, WSP_CLOSE_POLICY, "queue full", 10);
  mark_dirty(s);
}

static void on_message(struct wsp_conn *conn, int opcode, const uint8_t *data,
                       size_t len, void *user_data) {
  struct client *cl = user_data;

  if (cl->kind == K_ECHO) {
    if (wsp_conn_send(conn, opcode, data, len) < 0)
      wsp_conn_close(conn, WSP_CLOSE_INTERNAL_ERROR, "queue full", 10);
  } else if (cl->kind == K_PUB) {
    /* Encoded once; every subscriber queues the same bytes. */
    if (wsp_frame_new(&g.frame, NULL, opcode, data, len) < 0) {
      g.send_errors++;
      return;
    }
    g.published++;
    wsp_pubsub_publish(g.ps, TOPIC, sizeof TOPIC - 1, deliver, NULL);
    wsp_frame_unref(g.frame);
    g.frame = NULL;
  }
}

static void on_close(struct wsp_conn *conn, int code, const uint8_t *reason,
                     size_t len, void *user_data) {
  unsubscribe(user_data);
}

static void on_want_write(struct wsp_conn *conn, void *user_data) {
  mark_dirty(user_data);
}

static const struct wsp_conn_callbacks callbacks = {.on_request = on_request,
                                                    .on_open = on_open,
                                                    .on_message = on_message,
                                                    .on_close = on_close,
                                                    .on_want_write =
                                                        on_want_write,
                                                    .now = clock_cb};

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
  wsp_conn_free(cl->conn);
  free(cl);
  g.connections--;
}

/* Write what is pending: one writev, a second only when the first took
 * everything offered and more is queued than one call can carry. */
static int client_write(struct client *cl) {
  static struct iovec iov[IOV_BATCH];
  int round, cnt;

  for (round = 0; round < 8; round++) {
    struct msghdr msg = {0};
    size_t offered = 0;
    ssize_t n;
    int i;

    if ((cnt = wsp_conn_pending(cl->conn, iov, IOV_BATCH)) <= 0)
      return 0;
    for (i = 0; i < cnt; i++)
      offered += iov[i].iov_len;
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    n = sendmsg(cl->fd, &msg, MSG_NOSIGNAL);
    g.writes++;
    if (n < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    wsp_conn_sent(cl->conn, (size_t)n);
    if ((size_t)n < offered || cnt < IOV_BATCH)
      return 0;
  }
  return 0;
}

/* Called once per loop iteration for each dirty client. Returns without
 * touching cl when it was freed. */
static void client_update(struct client *cl) {
  struct epoll_event ev = {0};

  cl->dirty = 0;
  if (cl->gone || client_write(cl) < 0 || wsp_conn_is_done(cl->conn)) {
    client_free(cl);
    return;
  }
  ev.events = (wsp_conn_want_read(cl->conn) ? EPOLLIN : 0) |
              (wsp_conn_want_write(cl->conn) ? EPOLLOUT : 0);
  ev.data.ptr = cl;
  if (ev.events != cl->events &&
      epoll_ctl(g.epfd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
    cl->events = ev.events;
}

static void client_read(struct client *cl) {
  static uint8_t buf[256 * 1024];
  int i;

  for (i = 0; i < 4 && wsp_conn_want_read(cl->conn); i++) {
    ssize_t n = read(cl->fd, buf, sizeof buf);

    if (n > 0) {
      wsp_conn_recv(cl->conn, buf, (size_t)n);
      if ((size_t)n < sizeof buf)
        break;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      wsp_conn_recv(cl->conn, buf, 0);
      break;
    } else if (errno == EAGAIN) {
      break;
    }
  }
  mark_dirty(cl);
}

static void client_accept(int fd) {
  struct client *cl = calloc(1, sizeof *cl);
  struct epoll_event ev = {.events = EPOLLIN};
  int one = 1;

  if (cl == NULL || wsp_conn_new_from(&cl->conn, g.profile, WSP_ROLE_SERVER,
                                      now_ms(), cl) < 0) {
    free(cl);
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
    perror("wsp-bench-server: listen");
    close(fd);
    return -1;
  }
  *bound = ntohs(sa.sin_port);
  return fd;
}

static void usage(void) {
  fprintf(stderr, "usage: wsp-bench-server [--port N] [--max-queued BYTES] "
                  "[--deflate]\n");
  exit(2);
}

int main(int argc, char **argv) {
  struct epoll_event ev = {.events = EPOLLIN}, evs[256];
  struct rlimit rl;
  sigset_t set;
  uint64_t next_sweep = 0;
  int port = 0, lfd, sfd, i, running = 1, deflate = 0;

  g.max_queued = 64u << 20;
  for (i = 1; i < argc; i++) {
    char *end;
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = (int)strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535)
        usage();
    } else if (strcmp(argv[i], "--deflate") == 0) {
      deflate = 1;
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
  if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
      (lfd = listen_on(port, &port)) < 0 ||
      (g.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
      wsp_pubsub_new(&g.ps, NULL) < 0 ||
      wsp_conn_profile_new(&g.profile, &callbacks, NULL) < 0 ||
      wsp_conn_profile_set_limit(g.profile, WSP_LIMIT_MAX_QUEUED,
                                 g.max_queued) < 0 ||
      wsp_conn_profile_set_deflate(g.profile, WSP_DEFLATE_ENABLE, deflate) < 0)
    return 1;
  ev.data.ptr = &lfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &sfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, sfd, &ev);
  printf("listening on 127.0.0.1:%d\n", port);
  fflush(stdout);

  while (running) {
    int n = epoll_wait(g.epfd, evs, 256, 100), fd;
    uint64_t now;

    for (i = 0; i < n; i++) {
      struct client *cl = evs[i].data.ptr;

      if (evs[i].data.ptr == &sfd) {
        running = 0;
      } else if (evs[i].data.ptr == &lfd) {
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
               0)
          client_accept(fd);
      } else if ((evs[i].events & (EPOLLHUP | EPOLLERR)) &&
                 !wsp_conn_want_read(cl->conn)) {
        cl->gone = 1; /* nothing more will be read or written */
        mark_dirty(cl);
      } else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        client_read(cl);
      } else {
        mark_dirty(cl); /* EPOLLOUT */
      }
    }
    /* Timers (handshake and close timeouts): a sweep every 100 ms is
     * plenty, and keeps the busy loop free of per-connection work. */
    now = now_ms();
    if (now >= next_sweep) {
      struct client *cl;
      for (cl = g.clients; cl != NULL; cl = cl->next)
        if (wsp_conn_next_deadline(cl->conn) <= now) {
          wsp_conn_tick(cl->conn, now);
          mark_dirty(cl);
        }
      next_sweep = now + 100;
    }
    /* The corked write: each connection that got output in this
     * iteration is written once, whatever number of messages it got. */
    while (g.dirty != NULL) {
      struct client *cl = g.dirty;
      g.dirty = cl->dirty_next;
      client_update(cl);
    }
  }

  fprintf(stderr,
          "wsp-bench-server: published %llu delivered %llu writes %llu "
          "queue_full %llu send_errors %llu\n",
          g.published, g.delivered, g.writes, g.queue_full, g.send_errors);
  while (g.clients != NULL)
    client_free(g.clients);
  wsp_pubsub_free(g.ps);
  wsp_conn_profile_free(g.profile);
  close(g.epfd);
  close(sfd);
  close(lfd);
  return 0;
}
