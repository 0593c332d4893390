/*
 * libwsp - adapters/epoll.h: a wsp_server served from an epoll(7) set,
 * header-only (Linux). One call listens (or takes a listening socket);
 * wsp_epoll_dispatch() then waits, accepts, reads, writes, ticks the hub
 * and closes what is done. Its epoll descriptor can be nested in the
 * application's own poll/epoll loop. See wsp_adapters(3).
 *
 * The server must be made with callbacks passed through
 * wsp_epoll_callbacks() (or an on_want_write that calls
 * wsp_epoll_on_want_write), on the clock wsp_epoll_clock(), and every
 * client of the server must come from the adapter.
 */
#ifndef WSP_ADAPTERS_EPOLL_H
#define WSP_ADAPTERS_EPOLL_H

#include <wsp.h>

#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "sock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSP_EPOLL__MAGIC 0x77737065u /* "wspe": an io_data of this adapter */

struct wsp_epoll;

/* One connection. Members are private. */
struct wsp_epoll_conn {
  uint32_t magic;
  int fd;
  uint32_t events; /* what the epoll set watches */
  int dirty, closing, eof;
  struct wsp_client *client;
  struct wsp_epoll *ep;
  struct wsp_epoll_conn *prev, *next, *dirty_next;
};

/* The adapter. Members are private. */
struct wsp_epoll {
  int epfd;
  struct wsp_server *server;
  struct wsp_sock_acceptor acc;
  struct wsp_epoll_conn *conns, *dirty;
  size_t nconns;
  int stopping, finished, freeing;
  uint64_t stop_at;
  uint64_t every, fire_at; /* the application's timer */
  void (*fn)(struct wsp_server *server, uint64_t now, void *user_data);
  void *fn_data;
  unsigned char buf[65536];
};

static inline uint64_t wsp_epoll_clock(void *user_data) {
  return wsp_sock_clock(user_data);
}

/* on_want_write of the server: note the client's output; the adapter
 * writes it before it sleeps again. */
static inline void wsp_epoll_on_want_write(struct wsp_client *client,
                                           void *user_data) {
  struct wsp_epoll_conn *c =
      (struct wsp_epoll_conn *)wsp_client_get_io_data(client);
  (void)user_data;
  if (c == NULL || c->magic != WSP_EPOLL__MAGIC || c->dirty || c->closing ||
      c->ep->freeing || c->ep->finished)
    return;
  c->dirty = 1;
  c->dirty_next = c->ep->dirty;
  c->ep->dirty = c;
}

/* Set the callbacks the adapter needs: on_want_write and now. */
static inline void wsp_epoll_callbacks(struct wsp_server_callbacks *cb) {
  cb->on_want_write = wsp_epoll_on_want_write;
  cb->now = wsp_epoll_clock;
}

static inline void wsp_epoll__close(struct wsp_epoll_conn *c) {
  struct wsp_epoll *ep = c->ep;

  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    ep->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  ep->nconns--;
  wsp_sock_drain(c->fd);
  close(c->fd);               /* leaves the epoll set */
  wsp_client_free(c->client); /* on_disconnect (1006) if still open */
  free(c);
}

/* Write what c has, then watch the socket for what it still wants, or
 * close it once it is done or broken. */
static inline void wsp_epoll__service(struct wsp_epoll_conn *c) {
  struct epoll_event ev;
  int w = wsp_sock_write(c->fd, c->client);

  if (w < 0 || wsp_client_is_done(c->client)) {
    wsp_epoll__close(c);
    return;
  }
  memset(&ev, 0, sizeof ev);
  ev.events = (!c->eof && wsp_client_want_read(c->client) ? EPOLLIN : 0u) |
              (w == 0 ? EPOLLOUT : 0u);
  ev.data.ptr = c;
  if (ev.events != c->events &&
      epoll_ctl(c->ep->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
    c->events = ev.events;
}

static inline void wsp_epoll__flush(struct wsp_epoll *ep) {
  struct wsp_epoll_conn *c;

  while ((c = ep->dirty) != NULL) {
    ep->dirty = c->dirty_next;
    c->dirty = 0;
    wsp_epoll__service(c);
  }
}

static inline void wsp_epoll__close_all(struct wsp_epoll *ep) {
  ep->dirty = NULL;
  while (ep->conns != NULL)
    wsp_epoll__close(ep->conns);
}

/* Serve server on listen_fd, a bound, listening, non-blocking socket the
 * adapter owns from now on (closed by wsp_epoll_free even on failure).
 * Returns 0, or a negative WSP_ERR_* (*out NULL). */
static inline int wsp_epoll_attach(struct wsp_server *server, int listen_fd,
                                   struct wsp_epoll **out) {
  struct wsp_epoll *ep;
  struct epoll_event ev;

  *out = NULL;
  if (server == NULL || listen_fd < 0) {
    if (listen_fd >= 0)
      close(listen_fd);
    return WSP_ERR_INVAL;
  }
  if ((ep = (struct wsp_epoll *)calloc(1, sizeof *ep)) == NULL) {
    close(listen_fd);
    return WSP_ERR_NOMEM;
  }
  ep->server = server;
  wsp_sock_acceptor_init(&ep->acc, listen_fd);
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = NULL; /* the listener */
  if ((ep->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
      epoll_ctl(ep->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
    if (ep->epfd >= 0)
      close(ep->epfd);
    wsp_sock_acceptor_close(&ep->acc);
    free(ep);
    return WSP_ERR_IO;
  }
  *out = ep;
  return 0;
}

/* Listen on host:port (NULL host: every address; port 0: a free one,
 * see wsp_epoll_get_port) and serve server there. */
static inline int wsp_epoll_listen(struct wsp_server *server, const char *host,
                                   int port, struct wsp_epoll **out) {
  int fd = wsp_sock_listen(host, port);

  *out = NULL;
  if (fd < 0)
    return WSP_ERR_IO;
  return wsp_epoll_attach(server, fd, out);
}

/* The port listened on, or -1 once the listener is closed. */
static inline int wsp_epoll_get_port(const struct wsp_epoll *ep) {
  return ep->acc.fd < 0 ? -1 : wsp_sock_port(ep->acc.fd);
}

/* The epoll descriptor, readable when wsp_epoll_dispatch() has work. */
static inline int wsp_epoll_get_fd(const struct wsp_epoll *ep) {
  return ep->epfd;
}

/* Connections answered 503 and closed at the descriptor limit. */
static inline unsigned long long
wsp_epoll_shed_count(const struct wsp_epoll *ep) {
  return ep->acc.shed;
}

/* Write the output queued since the last dispatch, then return the
 * milliseconds until the adapter's next timer: -1 for none, 0 when due. */
static inline int wsp_epoll_timeout(struct wsp_epoll *ep) {
  uint64_t due = wsp_server_next_deadline(ep->server), now;

  wsp_epoll__flush(ep);
  if (ep->stopping && ep->stop_at < due)
    due = ep->stop_at;
  if (!ep->stopping && ep->fn != NULL && ep->fire_at < due)
    due = ep->fire_at;
  if (due == WSP_NO_DEADLINE)
    return -1;
  now = wsp_epoll_clock(NULL);
  if (due <= now)
    return 0;
  return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

static inline void wsp_epoll__accept(struct wsp_epoll *ep) {
  int i, fd;

  for (i = 0; i < 256 && !ep->stopping; i++) {
    struct wsp_epoll_conn *c;
    struct epoll_event ev;

    if ((fd = wsp_sock_accept(&ep->acc)) < 0)
      return;
    c = (struct wsp_epoll_conn *)calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->magic = WSP_EPOLL__MAGIC;
    c->fd = fd;
    c->ep = ep;
    c->events = EPOLLIN;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (wsp_server_accept(ep->server, c, &c->client) < 0 ||
        epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      wsp_client_free(c->client);
      close(fd);
      free(c);
      continue;
    }
    c->next = ep->conns;
    if (ep->conns != NULL)
      ep->conns->prev = c;
    ep->conns = c;
    ep->nconns++;
  }
}

/*
 * Wait up to timeout_ms (-1: no limit of the caller's) or the hub's next
 * deadline, then accept, read, tick the hub when due, and write. Returns
 * 0, 1 once a wsp_epoll_shutdown() has finished, or -1 with errno when
 * epoll_wait failed (EINTR is 0).
 */
static inline int wsp_epoll_dispatch(struct wsp_epoll *ep, int timeout_ms) {
  struct epoll_event evs[64];
  int n, i, t;
  uint64_t now;

  if (ep->finished)
    return 1;
  t = wsp_epoll_timeout(ep);
  if (timeout_ms >= 0 && (t < 0 || timeout_ms < t))
    t = timeout_ms;
  n = epoll_wait(ep->epfd, evs, 64, t);
  if (n < 0 && errno != EINTR)
    return -1;
  for (i = 0; i < n; i++) {
    struct wsp_epoll_conn *c = (struct wsp_epoll_conn *)evs[i].data.ptr;

    if (c == NULL) {
      wsp_epoll__accept(ep);
      continue;
    }
    if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->eof) {
      if (wsp_sock_read(c->fd, c->client, ep->buf, sizeof ep->buf, 16))
        c->eof = 1; /* ended or failed: read no more */
      else if ((evs[i].events & (EPOLLHUP | EPOLLERR)) &&
               !wsp_client_want_read(c->client)) {
        /* Hung up while not reading: nothing more will come. */
        wsp_client_recv(c->client, ep->buf, 0);
        c->eof = 1;
      }
    }
    if (!c->dirty) {
      c->dirty = 1;
      c->dirty_next = ep->dirty;
      ep->dirty = c;
    }
  }
  now = wsp_epoll_clock(NULL);
  if (wsp_server_next_deadline(ep->server) <= now)
    wsp_server_tick(ep->server, now);
  if (!ep->stopping && ep->fn != NULL && ep->fire_at <= now) {
    /* On the interval's grid; a late wake-up does not pile up calls. */
    ep->fire_at += ep->every;
    if (ep->fire_at <= now)
      ep->fire_at = now + ep->every;
    ep->fn(ep->server, now, ep->fn_data);
  }
  wsp_epoll__flush(ep);
  if (ep->stopping &&
      (ep->nconns == 0 || wsp_epoll_clock(NULL) >= ep->stop_at)) {
    ep->finished = 1; /* before: on_want_write is ignored from now on */
    wsp_epoll__close_all(ep);
    return 1;
  }
  return 0;
}

/* Call fn(server, now, user_data) every interval_ms from
 * wsp_epoll_dispatch() (plain epoll has no timers of its own), until a
 * shutdown; what fn queues is written before the loop sleeps again.
 * Replaces the previous timer; interval_ms 0 or fn NULL removes it. */
static inline void wsp_epoll_set_timer(
    struct wsp_epoll *ep, uint64_t interval_ms,
    void (*fn)(struct wsp_server *server, uint64_t now, void *user_data),
    void *user_data) {
  ep->every = interval_ms;
  ep->fn = interval_ms > 0 ? fn : NULL;
  ep->fn_data = user_data;
  ep->fire_at = wsp_epoll_clock(NULL) + interval_ms;
}

/*
 * Stop accepting, close every connection with the protocol code and
 * reason (wsp_server_shutdown) and let wsp_epoll_dispatch() return 1 once
 * they have all closed, or after timeout_ms, closing those left.
 */
static inline void wsp_epoll_shutdown(struct wsp_epoll *ep, int code,
                                      const char *reason, uint64_t timeout_ms) {
  if (ep->stopping)
    return;
  ep->stopping = 1;
  ep->stop_at = wsp_epoll_clock(NULL) + timeout_ms;
  epoll_ctl(ep->epfd, EPOLL_CTL_DEL, ep->acc.fd, NULL);
  wsp_sock_acceptor_close(&ep->acc);
  wsp_server_shutdown(ep->server, code, reason);
}

/* Close the listener and every connection (their clients freed, so
 * before wsp_server_free), and free the adapter. NULL is a no-op. */
static inline void wsp_epoll_free(struct wsp_epoll *ep) {
  if (ep == NULL)
    return;
  ep->freeing = 1;
  wsp_epoll__close_all(ep);
  wsp_sock_acceptor_close(&ep->acc);
  close(ep->epfd);
  free(ep);
}

#ifdef __cplusplus
}
#endif

#endif /* WSP_ADAPTERS_EPOLL_H */
