/*
 * wsp-demo: the libwsp example server. One process, one epoll loop, one
 * wsp_server hub serving
 *   /connection/websocket  the Centrifuge client protocol (JSON): RPC
 *                          methods echo, add, sleep, fail, whoami; a send
 *                          comes back as a message push; channels open to
 *                          every client, with wildcards, presence and
 *                          join/leave, except "denied:..." (methods.c)
 *                          with history, offsets and recovery on every
 *                          channel unless --history-size 0
 *   /api/<method>          the server API, with --api-key (api.c)
 *   /login, /logout        sessions behind a cookie, no password (auth.c)
 *   /echo                  a plain WebSocket echo
 *   /metrics               the hub's counters as Prometheus text (GET)
 *   / and /centrifuge.js   browser pages: RPC (index.html), a chat
 *                          (chat.html) and a login (login.html) (www.c,
 *                          www/)
 *
 *   wsp-demo [--listen HOST:PORT] [--www DIR] [--centrifuge-js FILE]
 *            [--api-key KEY] [--max-queued BYTES] [--ping-interval MS]
 *            [--pong-timeout MS] [--stale-timeout MS]
 *            [--handshake-timeout MS] [--max-message BYTES] [--deflate]
 *            [--token-hmac-secret S] [--token-public-key FILE]
 *            [--token-jwks FILE] [--token-audience A] [--token-issuer I]
 *            [--allowed-origin ORIGIN]... [--max-sessions N]
 *            [--history-size N] [--history-ttl SECONDS] [--data-dir DIR]
 *            [--fsync always|interval|never] [--history-channels N]
 *            [--history-meta-ttl SECONDS] [--server-time on|off]
 *            [--redis HOST:PORT [--redis-prefix P] [--node-name N]
 *             [--redis-timeout MS] [--redis-probe MS]]
 *
 * With --redis the hub runs on the Redis engine (redis.c): publications
 * go through Redis to every node on it, and history lives in Redis
 * streams (--data-dir does not apply), so a client recovers on whichever
 * node it reconnects to.
 *
 * README.md beside this file describes the channels and the API.
 *
 * Port 0 picks a free port; the "listening on HOST:PORT" line says which.
 * SIGINT/SIGTERM close every connection with SHUTDOWN (3001), wait up to a
 * second for the closing handshakes, and exit 0.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../loop.h"
#include "demo.h"

#ifndef WSP_DEMO_SRCDIR
#define WSP_DEMO_SRCDIR "."
#endif

#define SHUTDOWN_GRACE_MS 1000
/* The offset and epoch of a channel outlive its publications by a day
 * (--history-meta-ttl), so that a client away for longer than
 * --history-ttl is told it missed some rather than that the channel is
 * new. Any client may publish to a fresh channel, and each costs its
 * name and position while they last: at most --history-channels are
 * kept, a new one beyond gets error 106 (limit exceeded). */
#define DEMO_META_TTL_S (24ull * 3600)
#define DEMO_HISTORY_CHANNELS 10000
#define DEMO_HISTORY_MAX 1000000000ull
/* glibc keeps the heap a crowd of closed connections freed (RSS stays at
 * the crowd's peak): TRIM_DELAY_MS after the TRIM_AFTER_CLOSES-th close
 * since the last time, malloc_trim() hands the free pages back. */
#define TRIM_AFTER_CLOSES 1000
#define TRIM_DELAY_MS 500

struct client {
  int fd;
  uint32_t events;       /* what epoll watches for this socket */
  int quiet;             /* being created or freed: callbacks ignore it */
  int dirty;             /* in the dirty list */
  struct wsp_client *wc;
  struct client *prev, *next;   /* every client */
  struct client *dprev, *dnext; /* clients to look at before sleeping */
};

static int epfd;
static struct wsp_server *server;
static struct wsp_evlog *history_log; /* NULL: no history */
static struct client *clients, *dirty;
static uint64_t closes_since_trim, trims;
static uint64_t trim_at = WSP_NO_DEADLINE;

/* ---- The dirty list: clients whose output or state changed ------------- */

static void mark_dirty(struct client *cl) {
  if (cl == NULL || cl->quiet || cl->dirty)
    return;
  cl->dirty = 1;
  cl->dprev = NULL;
  if ((cl->dnext = dirty) != NULL)
    dirty->dprev = cl;
  dirty = cl;
}

static void unmark_dirty(struct client *cl) {
  if (!cl->dirty)
    return;
  if (cl->dprev != NULL)
    cl->dprev->dnext = cl->dnext;
  else
    dirty = cl->dnext;
  if (cl->dnext != NULL)
    cl->dnext->dprev = cl->dprev;
  cl->dirty = 0;
}

/* ---- Hub callbacks -------------------------------------------------------- */

static int path_is(const struct wsp_request *req, const char *path) {
  return req->path.len == strlen(path) &&
         memcmp(req->path.ptr, path, req->path.len) == 0;
}

/* GET /metrics: the hub's counters for Prometheus
 * (wsp_server_write_metrics(3)). */
static void metrics_serve(struct wsp_client *wc,
                          const struct wsp_request *req) {
  static const char type[] = "text/plain; version=0.0.4; charset=utf-8";
  static const char not_get[] = "method not allowed\n";
  static const char oom[] = "out of memory\n";
  size_t len = 0;
  char *text;

  if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0) {
    wsp_client_respond(wc, 405, "text/plain", not_get, sizeof not_get - 1);
    return;
  }
  wsp_server_write_metrics(server, NULL, 0, &len); /* asks for the size */
  if ((text = malloc(len + 1)) == NULL ||
      wsp_server_write_metrics(server, text, len + 1, &len) < 0)
    wsp_client_respond(wc, 500, "text/plain", oom, sizeof oom - 1);
  else
    wsp_client_respond(wc, 200, type, text, len);
  free(text);
}

static int on_request(struct wsp_client *wc, const struct wsp_request *req,
                      void *user_data) {
  if (!req->websocket && path_is(req, "/metrics")) {
    metrics_serve(wc, req);
    return 0;
  }
  if (path_is(req, "/echo")) {
    if (req->websocket)
      return wsp_client_accept_raw(wc) < 0 ? -1 : 0;
    /* Not a valid upgrade: what the library would have answered. */
    if (req->status == 426)
      wsp_conn_add_header(wsp_client_get_conn(wc), "Sec-WebSocket-Version",
                          "13");
    wsp_client_respond(wc, req->status, "text/plain",
                       req->reason ? req->reason : "",
                       req->reason ? strlen(req->reason) : 0);
    return 0;
  }
  if (api_path(req))
    api_serve(wc, req);
  else if (auth_path(req))
    auth_serve(wc, req);
  else if (req->websocket && path_is(req, "/connection/websocket"))
    auth_upgrade(wc, req);
  else if (!req->websocket && !path_is(req, "/connection/websocket"))
    www_serve(wc, req);
  return 0; /* the protocol path is accepted, other upgrades get 404 */
}

static void on_raw_message(struct wsp_client *wc, int opcode,
                           const uint8_t *data, size_t len, void *user_data) {
  if (wsp_client_send_raw(wc, opcode, data, len) < 0)
    wsp_client_disconnect(wc, WSP_CLOSE_INTERNAL_ERROR, "queue full");
}

static void on_want_write(struct wsp_client *wc, void *user_data) {
  mark_dirty(wsp_client_get_io_data(wc));
}

static void on_disconnect(struct wsp_client *wc, int code, void *user_data) {
  mark_dirty(wsp_client_get_io_data(wc)); /* its socket may go now */
}

static const struct wsp_server_callbacks callbacks = {
    .on_request = on_request,
    .on_connect = methods_on_connect,
    .on_disconnect = on_disconnect,
    .on_send = methods_on_send,
    .on_raw_message = on_raw_message,
    .on_subscribe = methods_on_subscribe,
    .on_publish = methods_on_publish,
    .on_want_write = on_want_write,
    .now = loop_clock,
};

/* ---- Sockets -------------------------------------------------------------- */

static void client_free(struct client *cl) {
  unmark_dirty(cl);
  if (cl->prev != NULL)
    cl->prev->next = cl->next;
  else
    clients = cl->next;
  if (cl->next != NULL)
    cl->next->prev = cl->prev;
  loop_close(cl->fd); /* also removes it from the epoll set */
  cl->quiet = 1;
  api_client_gone(cl->wc);
  auth_client_gone(cl->wc);
  wsp_client_free(cl->wc); /* on_disconnect (1006) if it was still open */
  free(cl);
  if (++closes_since_trim >= TRIM_AFTER_CLOSES && trim_at == WSP_NO_DEADLINE)
    trim_at = loop_now_ms() + TRIM_DELAY_MS;
}

static void heap_trim(uint64_t now) {
  if (now < trim_at)
    return;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  trims++;
  closes_since_trim = 0;
  trim_at = WSP_NO_DEADLINE;
}

/* Like loop_read/loop_write, but through the hub. */
static void client_read(struct client *cl) {
  static uint8_t buf[65536];
  int i;

  for (i = 0; i < 16 && wsp_client_want_read(cl->wc); i++) {
    ssize_t n = read(cl->fd, buf, sizeof buf);

    if (n > 0) {
      wsp_client_recv(cl->wc, buf, (size_t)n); /* errors show in its state */
      if ((size_t)n < sizeof buf)
        return;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      wsp_client_recv(cl->wc, buf, 0); /* end of stream */
      return;
    } else if (errno == EAGAIN) {
      return;
    }
  }
}

static int client_write(struct client *cl) {
  struct iovec iov[64];
  int i, cnt;

  for (i = 0; i < 256; i++) {
    struct msghdr msg = {0};
    ssize_t n;

    if ((cnt = wsp_client_pending(cl->wc, iov, 64)) <= 0)
      return 0;
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    if ((n = sendmsg(cl->fd, &msg, MSG_NOSIGNAL)) < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN ? 0 : -1;
    }
    wsp_client_sent(cl->wc, (size_t)n);
  }
  return 0;
}

/* Flush output, free the client when it is done, and watch for what it
 * needs: EPOLLIN while it wants input, EPOLLOUT while output is pending. */
static void client_update(struct client *cl) {
  struct epoll_event ev = {0};

  unmark_dirty(cl);
  if (client_write(cl) < 0 || wsp_client_is_done(cl->wc)) {
    client_free(cl);
    return;
  }
  ev.events = (wsp_client_want_read(cl->wc) ? EPOLLIN : 0) |
              (wsp_client_want_write(cl->wc) ? EPOLLOUT : 0);
  ev.data.ptr = cl;
  if (ev.events != cl->events &&
      epoll_ctl(epfd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
    cl->events = ev.events;
}

static void client_accept(int fd) {
  struct client *cl = calloc(1, sizeof *cl);
  struct epoll_event ev = {.events = EPOLLIN};

  if (cl == NULL) {
    close(fd);
    return;
  }
  cl->fd = fd;
  cl->events = EPOLLIN;
  cl->quiet = 1;
  if (wsp_server_accept(server, cl, &cl->wc) < 0) {
    close(fd);
    free(cl);
    return;
  }
  cl->quiet = 0;
  if ((cl->next = clients) != NULL)
    clients->prev = cl;
  clients = cl;
  ev.data.ptr = cl;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    client_free(cl);
  else
    mark_dirty(cl); /* the hub may already have output (e.g. a 503) */
}

static void client_io(struct client *cl, uint32_t events) {
  if ((events & (EPOLLHUP | EPOLLERR)) && !wsp_client_want_read(cl->wc)) {
    client_free(cl); /* the peer is gone and nothing more will be read */
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    client_read(cl);
  client_update(cl);
}

/* ---- Main ----------------------------------------------------------------- */

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--listen HOST:PORT] [--www DIR] [--centrifuge-js FILE]\n"
          "       [--api-key KEY] [--max-queued BYTES] [--ping-interval MS]\n"
          "       [--pong-timeout MS] [--stale-timeout MS]\n"
          "       [--handshake-timeout MS] [--max-message BYTES] [--deflate]\n"
          "       [--token-hmac-secret S] [--token-public-key FILE]\n"
          "       [--token-jwks FILE] [--token-audience A]\n"
          "       [--token-issuer I] [--allowed-origin ORIGIN]...\n"
          "       [--max-sessions N]\n"
          "       [--history-size N] [--history-ttl SECONDS] [--data-dir DIR]\n"
          "       [--fsync always|interval|never] [--history-channels N]\n"
          "       [--history-meta-ttl SECONDS] [--server-time on|off]\n"
          "       [--redis HOST:PORT [--redis-prefix P] [--node-name N]\n"
          "        [--redis-timeout MS] [--redis-probe MS]]\n",
          argv0);
  exit(2);
}

/* "HOST:PORT" or "[V6ADDR]:PORT" into host (at most size bytes) and port. */
static int parse_listen(const char *arg, char *host, size_t size, int *port) {
  const char *colon = strrchr(arg, ':');
  size_t len;

  if (colon == NULL || (*port = loop_parse_port(colon + 1)) < 0)
    return -1;
  len = (size_t)(colon - arg);
  if (len >= 2 && arg[0] == '[' && arg[len - 1] == ']') {
    arg++;
    len -= 2;
  }
  if (len == 0 || len >= size)
    return -1;
  memcpy(host, arg, len);
  host[len] = '\0';
  return 0;
}

static void print_stats(void) {
  struct wsp_server_stats st;
  size_t i;

  wsp_server_get_stats(server, &st);
  fprintf(stderr, "wsp-demo: %llu connections, %llu commands, %llu rpc calls,"
                  " %llu publications, %llu slow closes; closes:",
          (unsigned long long)st.accepted, (unsigned long long)st.commands,
          (unsigned long long)st.rpc_calls,
          (unsigned long long)st.publications,
          (unsigned long long)st.slow_closes);
  for (i = 0; i < st.nclose_codes && i < 32; i++)
    fprintf(stderr, " %u x%llu", st.closes[i].code,
            (unsigned long long)st.closes[i].count);
  fprintf(stderr, "; heap trims: %llu; shed at the descriptor limit: %llu\n",
          (unsigned long long)trims, loop_shed_count());
}

/* History for every channel: the last size publications for ttl seconds,
 * in memory or in the file store under dir. */
static int history_open(uint64_t size, uint64_t ttl, uint64_t channels,
                        uint64_t meta_ttl, const char *dir, int fsync_policy) {
  struct wsp_evlog_options eo = {0};
  struct wsp_evlog_file_options fo = {0};
  struct wsp_server_history h = {0};
  int rc;

  if (size == 0)
    return 0;
  if (redis_on()) {
    /* in Redis: no log here */
    h.retention.max_events = size;
    h.retention.max_age = ttl * 1000;
    h.retention.meta_ttl = meta_ttl * 1000;
    h.clock = loop_wall_clock;
    return wsp_server_set_history(server, &h);
  }
  fo.fsync = fsync_policy;
  if (dir != NULL &&
      (rc = wsp_evlog_file_store_new(&eo.store, dir, &fo, NULL)) < 0) {
    fprintf(stderr, "wsp-demo: %s: %s\n", dir, wsp_strerror(rc));
    return -1;
  }
  eo.retention.max_events = size;
  eo.retention.max_age = ttl * 1000;
  eo.retention.meta_ttl = meta_ttl * 1000;
  eo.max_streams = channels;
  /* The log's times are wall-clock times: the file store compares them
   * across restarts, and a reboot restarts the monotonic clock. */
  if ((rc = wsp_evlog_new(&history_log, &eo, loop_wall_ms())) < 0) {
    fprintf(stderr, "wsp-demo: history: %s\n", wsp_strerror(rc));
    return -1;
  }
  h.log = history_log;
  h.retention = eo.retention;
  h.clock = loop_wall_clock;
  return wsp_server_set_history(server, &h);
}

int main(int argc, char **argv) {
  static const struct {
    const char *flag;
    int limit;
  } limit_flags[] = {
      {"--ping-interval", WSP_SERVER_PING_INTERVAL},
      {"--pong-timeout", WSP_SERVER_PONG_TIMEOUT},
      {"--stale-timeout", WSP_SERVER_STALE_TIMEOUT},
      {"--max-queued", WSP_SERVER_MAX_QUEUED},
      {"--handshake-timeout", WSP_SERVER_HANDSHAKE_TIMEOUT},
      {"--max-message", WSP_SERVER_MAX_MESSAGE},
  };
  enum { NLIMITS = sizeof limit_flags / sizeof limit_flags[0] };
  uint64_t limits[NLIMITS], stop_at = 0;
  int have_limit[NLIMITS] = {0};
  const char *api_key = NULL, *data_dir = NULL;
  uint64_t history_size = 100, history_ttl = 300;
  uint64_t history_channels = DEMO_HISTORY_CHANNELS;
  uint64_t history_meta_ttl = DEMO_META_TTL_S;
  int fsync_policy = WSP_EVLOG_FSYNC_INTERVAL, server_time = 0;
  char host[256] = "127.0.0.1";
  const char *www = WSP_DEMO_SRCDIR "/examples/demo/www";
  const char *bundle = WSP_DEMO_SRCDIR "/tests/interop/centrifuge/"
                                       "node_modules/centrifuge/dist/"
                                       "centrifuge.js";
  int port = 8000, lfd, sfd, i, j, stopping = 0, deflate = 0;
  struct epoll_event ev = {.events = EPOLLIN}, evs[64];

  for (i = 1; i < argc; i++) {
    const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;

    if (strcmp(arg, "--deflate") == 0) { /* the one flag without a value */
      deflate = 1;
      continue;
    }
    if (val == NULL)
      usage(argv[0]);
    i++;
    if (strcmp(arg, "--listen") == 0) {
      if (parse_listen(val, host, sizeof host, &port) < 0)
        usage(argv[0]);
      continue;
    }
    if (strcmp(arg, "--www") == 0) {
      www = val;
      continue;
    }
    if (strcmp(arg, "--centrifuge-js") == 0) {
      bundle = val;
      continue;
    }
    if ((j = auth_flag(arg, val)) != 0) {
      if (j < 0)
        usage(argv[0]);
      continue;
    }
    if (strcmp(arg, "--data-dir") == 0) {
      if (*val == '\0')
        usage(argv[0]);
      data_dir = val;
      continue;
    }
    if (strcmp(arg, "--fsync") == 0) {
      if (strcmp(val, "always") == 0)
        fsync_policy = WSP_EVLOG_FSYNC_ALWAYS;
      else if (strcmp(val, "interval") == 0)
        fsync_policy = WSP_EVLOG_FSYNC_INTERVAL;
      else if (strcmp(val, "never") == 0)
        fsync_policy = WSP_EVLOG_FSYNC_NEVER;
      else
        usage(argv[0]);
      continue;
    }
    if (strcmp(arg, "--history-size") == 0 ||
        strcmp(arg, "--history-ttl") == 0 ||
        strcmp(arg, "--history-channels") == 0 ||
        strcmp(arg, "--history-meta-ttl") == 0) {
      uint64_t v;
      errno = 0;
      v = strtoull(val, &end, 10);
      if (errno != 0 || end == val || *end != '\0' || val[0] == '-' ||
          v > DEMO_HISTORY_MAX)
        usage(argv[0]);
      if (strcmp(arg, "--history-size") == 0)
        history_size = v;
      else if (strcmp(arg, "--history-ttl") == 0)
        history_ttl = v;
      else if (strcmp(arg, "--history-channels") == 0)
        history_channels = v;
      else
        history_meta_ttl = v;
      continue;
    }
    if ((j = redis_flag(arg, val)) != 0) {
      if (j < 0)
        usage(argv[0]);
      continue;
    }
    if (strcmp(arg, "--api-key") == 0) {
      if (*val == '\0')
        usage(argv[0]);
      api_key = val;
      continue;
    }
    if (strcmp(arg, "--server-time") == 0) {
      if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
        usage(argv[0]);
      server_time = strcmp(val, "on") == 0;
      continue;
    }
    for (j = 0; j < NLIMITS && strcmp(arg, limit_flags[j].flag) != 0; j++)
      ;
    if (j == NLIMITS)
      usage(argv[0]);
    errno = 0;
    limits[j] = strtoull(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || val[0] == '-')
      usage(argv[0]);
    have_limit[j] = 1;
  }

  www_init(www, bundle);
  if (wsp_server_new(&server, &callbacks, NULL, loop_now_ms(), NULL) < 0 ||
      methods_register(server) < 0 || auth_init(server) < 0 ||
      wsp_server_set_channel_flags(
          server, WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE |
                      WSP_CHANNEL_WILDCARDS | WSP_CHANNEL_PUBLISH |
                      WSP_CHANNEL_DELTA) < 0 ||
      (server_time &&
       wsp_server_set_wall_clock(server, loop_wall_clock, NULL) < 0)) {
    fprintf(stderr, "wsp-demo: cannot create the server\n");
    return 1;
  }
  if (history_open(history_size, history_ttl, history_channels,
                   history_meta_ttl, data_dir, fsync_policy) < 0)
    return 1;
  api_init(api_key, history_log);
  if (deflate && (j = wsp_server_set_deflate(server, WSP_DEFLATE_ENABLE, 1))) {
    fprintf(stderr, "wsp-demo: --deflate: %s\n", wsp_strerror(j));
    return 2;
  }
  for (j = 0; j < NLIMITS; j++)
    if (have_limit[j] &&
        wsp_server_set_limit(server, limit_flags[j].limit, limits[j]) < 0) {
      fprintf(stderr, "wsp-demo: bad value for %s\n", limit_flags[j].flag);
      return 2;
    }
  if ((lfd = loop_listen(host, port, &port)) < 0 ||
      (sfd = loop_signalfd()) < 0 || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
    return 1;
  if (redis_init(server, epfd) < 0)
    return 1;
  ev.data.ptr = &lfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &sfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
  printf(strchr(host, ':') ? "listening on [%s]:%d\n" : "listening on %s:%d\n",
         host, port);
  fflush(stdout);

  while (!stopping || (clients != NULL && loop_now_ms() < stop_at)) {
    uint64_t now = loop_now_ms(), deadline = wsp_server_next_deadline(server);
    int n, fd;

    if (methods_next_deadline() < deadline)
      deadline = methods_next_deadline();
    if (auth_next_deadline() < deadline)
      deadline = auth_next_deadline();
    if (redis_next_deadline() < deadline)
      deadline = redis_next_deadline();
    if (trim_at < deadline)
      deadline = trim_at;
    if (stopping && stop_at < deadline)
      deadline = stop_at;
    n = epoll_wait(epfd, evs, 64, loop_timeout(deadline, now));
    for (i = 0; i < n; i++) {
      if (evs[i].data.ptr == &sfd) {
        struct signalfd_siginfo si;

        while (read(sfd, &si, sizeof si) == sizeof si)
          ;
        if (stopping) { /* a second signal: do not wait any longer */
          stop_at = 0;
        } else {
          stopping = 1;
          stop_at = loop_now_ms() + SHUTDOWN_GRACE_MS;
          close(lfd); /* no new connections */
          wsp_server_shutdown(server, WSP_PROTO_DISCONNECT_SHUTDOWN,
                              "shutdown");
        }
      } else if (evs[i].data.ptr == &lfd) {
        while (!stopping && (fd = loop_accept(lfd)) >= 0)
          client_accept(fd);
      } else if (redis_owns(evs[i].data.ptr)) {
        redis_io(evs[i].data.ptr, evs[i].events);
      } else {
        client_io(evs[i].data.ptr, evs[i].events);
      }
    }
    now = loop_now_ms();
    if (wsp_server_next_deadline(server) <= now)
      wsp_server_tick(server, now);
    methods_tick(server, now);
    auth_tick(now);
    redis_tick(now);
    heap_trim(now);
    while (dirty != NULL)
      client_update(dirty);
    redis_flush();
  }

  print_stats();
  while (clients != NULL)
    client_free(clients);
  wsp_server_free(server);
  redis_free();
  wsp_evlog_free(history_log); /* makes what was acknowledged durable */
  methods_free();
  auth_free();
  close(epfd);
  close(sfd); /* the listening socket went when the shutdown began */
  return 0;
}
