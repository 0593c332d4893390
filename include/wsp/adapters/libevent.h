/*
 * libwsp - adapters/libevent.h: a wsp_server served from a libevent 2
 * event_base, header-only. One call listens (or takes a listening
 * socket) on the base; from then on its events accept, read, write
 * (writev from the pending iovecs), run the hub's timers and close what
 * is done. See wsp_adapters(3).
 *
 * The server must be made with callbacks passed through
 * wsp_event_callbacks() (or an on_want_write that calls
 * wsp_event_on_want_write), on the clock wsp_event_clock(), and every
 * client of the server must come from the adapter.
 */
#ifndef WSP_ADAPTERS_LIBEVENT_H
#define WSP_ADAPTERS_LIBEVENT_H

#include <wsp.h>

#include <event2/event.h>
#include <stdlib.h>

#include "sock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSP_EVENT__MAGIC 0x77737076u /* "wspv": an io_data of this adapter */

struct wsp_event;

/* One connection. Members are private. */
struct wsp_event_conn {
  uint32_t magic;
  int fd;
  struct event *rev, *wev;
  int reading, writing, dirty, closing, eof;
  struct wsp_client *client;
  struct wsp_event *a;
  struct wsp_event_conn *prev, *next, *dirty_next;
};

/* The adapter. Members are private. */
struct wsp_event {
  struct event_base *base;
  struct wsp_server *server;
  struct event *listener, *timer, *flush;
  int flushing, stopping, finished, freed;
  uint64_t stop_at, armed;
  struct wsp_sock_acceptor acc;
  struct wsp_event_conn *conns, *dirty;
  size_t nconns;
  unsigned char buf[65536];
};

/* Milliseconds of CLOCK_MONOTONIC, the clock libevent's timers use on
 * Linux, shaped as wsp_server_callbacks.now. */
static inline uint64_t wsp_event_clock(void *user_data) {
  return wsp_sock_clock(user_data);
}

/* Make the flush event run before the base waits again. */
static inline void wsp_event_wake(struct wsp_event *a) {
  if (!a->flushing && !a->freed && !a->finished) {
    a->flushing = 1;
    event_active(a->flush, EV_TIMEOUT, 0);
  }
}

static inline void wsp_event__mark(struct wsp_event_conn *c) {
  if (c->dirty || c->closing || c->a->freed || c->a->finished)
    return;
  c->dirty = 1;
  c->dirty_next = c->a->dirty;
  c->a->dirty = c;
  wsp_event_wake(c->a);
}

/* on_want_write of the server: note the client's output; the adapter
 * writes it from an event activated for this, before the base waits. */
static inline void wsp_event_on_want_write(struct wsp_client *client,
                                           void *user_data) {
  struct wsp_event_conn *c =
      (struct wsp_event_conn *)wsp_client_get_io_data(client);
  (void)user_data;
  if (c != NULL && c->magic == WSP_EVENT__MAGIC)
    wsp_event__mark(c);
}

/* Set the callbacks the adapter needs: on_want_write and now. */
static inline void wsp_event_callbacks(struct wsp_server_callbacks *cb) {
  cb->on_want_write = wsp_event_on_want_write;
  cb->now = wsp_event_clock;
}

static inline void wsp_event__close(struct wsp_event_conn *c) {
  struct wsp_event *a = c->a;

  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  a->nconns--;
  event_free(c->rev); /* deletes them first */
  event_free(c->wev);
  wsp_sock_drain(c->fd);
  close(c->fd);
  wsp_client_free(c->client); /* on_disconnect (1006) if still open */
  free(c);
}

/* Write what c has, then watch the socket for what it still wants, or
 * close it once it is done or broken. */
static inline void wsp_event__service(struct wsp_event_conn *c) {
  int w = wsp_sock_write(c->fd, c->client), r;

  if (w < 0 || wsp_client_is_done(c->client)) {
    wsp_event__close(c);
    return;
  }
  if (w == 0 && !c->writing && event_add(c->wev, NULL) == 0)
    c->writing = 1;
  else if (w == 1 && c->writing && event_del(c->wev) == 0)
    c->writing = 0;
  r = !c->eof && wsp_client_want_read(c->client);
  if (r && !c->reading && event_add(c->rev, NULL) == 0)
    c->reading = 1;
  else if (!r && c->reading && event_del(c->rev) == 0)
    c->reading = 0;
}

static inline void wsp_event__close_all(struct wsp_event *a) {
  a->dirty = NULL;
  while (a->conns != NULL)
    wsp_event__close(a->conns);
}

/* The flush event: write what was noted, finish a shutdown, and set the
 * timer to the hub's next deadline. */
static inline void wsp_event__flush(evutil_socket_t fd, short what, void *arg) {
  struct wsp_event *a = (struct wsp_event *)arg;
  struct wsp_event_conn *c;
  uint64_t due, now;
  (void)fd;
  (void)what;

  a->flushing = 0;
  while ((c = a->dirty) != NULL) {
    a->dirty = c->dirty_next;
    c->dirty = 0;
    wsp_event__service(c);
  }
  now = wsp_event_clock(NULL);
  if (a->stopping && !a->finished && (a->nconns == 0 || now >= a->stop_at)) {
    a->finished = 1; /* before: on_want_write is ignored from now on */
    wsp_event__close_all(a);
    event_del(a->timer);
    return;
  }
  due = wsp_server_next_deadline(a->server);
  if (a->stopping && a->stop_at < due)
    due = a->stop_at;
  if (due == a->armed)
    return;
  a->armed = due;
  if (due == WSP_NO_DEADLINE) {
    event_del(a->timer);
  } else {
    struct timeval tv;
    uint64_t ms = due > now ? due - now : 0;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
    event_add(a->timer, &tv);
  }
}

static inline void wsp_event__timer(evutil_socket_t fd, short what, void *arg) {
  struct wsp_event *a = (struct wsp_event *)arg;
  uint64_t now = wsp_event_clock(NULL);
  (void)fd;
  (void)what;

  a->armed = WSP_NO_DEADLINE;
  if (wsp_server_next_deadline(a->server) <= now)
    wsp_server_tick(a->server, now);
  wsp_event_wake(a); /* re-arms the timer */
}

static inline void wsp_event__io(evutil_socket_t fd, short what, void *arg) {
  struct wsp_event_conn *c = (struct wsp_event_conn *)arg;
  (void)fd;

  if ((what & EV_READ) && !c->eof &&
      wsp_sock_read(c->fd, c->client, c->a->buf, sizeof c->a->buf, 16))
    c->eof = 1;       /* ended or failed: read no more */
  wsp_event__mark(c); /* EV_WRITE: write the rest */
}

static inline void wsp_event__accept(evutil_socket_t lfd, short what,
                                     void *arg) {
  struct wsp_event *a = (struct wsp_event *)arg;
  int i, fd;
  (void)lfd;
  (void)what;

  for (i = 0; i < 256 && !a->stopping; i++) {
    struct wsp_event_conn *c;

    if ((fd = wsp_sock_accept(&a->acc)) < 0)
      return;
    if ((c = (struct wsp_event_conn *)calloc(1, sizeof *c)) == NULL) {
      close(fd);
      continue;
    }
    c->magic = WSP_EVENT__MAGIC;
    c->fd = fd;
    c->a = a;
    c->rev = event_new(a->base, fd, EV_READ | EV_PERSIST, wsp_event__io, c);
    c->wev = event_new(a->base, fd, EV_WRITE | EV_PERSIST, wsp_event__io, c);
    if (c->rev == NULL || c->wev == NULL ||
        wsp_server_accept(a->server, c, &c->client) < 0) {
      if (c->rev != NULL)
        event_free(c->rev);
      if (c->wev != NULL)
        event_free(c->wev);
      close(fd);
      free(c);
      continue;
    }
    c->next = a->conns;
    if (a->conns != NULL)
      a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    wsp_event__mark(c); /* starts reading */
  }
}

/* Serve server on base from listen_fd, a bound, listening, non-blocking
 * socket the adapter owns from now on (closed even on failure). Returns
 * 0, or a negative WSP_ERR_* (*out NULL). */
static inline int wsp_event_attach(struct event_base *base,
                                   struct wsp_server *server, int listen_fd,
                                   struct wsp_event **out) {
  struct wsp_event *a;

  *out = NULL;
  if (base == NULL || server == NULL || listen_fd < 0) {
    if (listen_fd >= 0)
      close(listen_fd);
    return WSP_ERR_INVAL;
  }
  if ((a = (struct wsp_event *)calloc(1, sizeof *a)) == NULL) {
    close(listen_fd);
    return WSP_ERR_NOMEM;
  }
  a->base = base;
  a->server = server;
  a->armed = WSP_NO_DEADLINE;
  wsp_sock_acceptor_init(&a->acc, listen_fd);
  a->listener =
      event_new(base, listen_fd, EV_READ | EV_PERSIST, wsp_event__accept, a);
  a->timer = event_new(base, -1, 0, wsp_event__timer, a);
  a->flush = event_new(base, -1, 0, wsp_event__flush, a);
  if (a->listener == NULL || a->timer == NULL || a->flush == NULL ||
      event_add(a->listener, NULL) < 0) {
    if (a->listener != NULL)
      event_free(a->listener);
    if (a->timer != NULL)
      event_free(a->timer);
    if (a->flush != NULL)
      event_free(a->flush);
    wsp_sock_acceptor_close(&a->acc);
    free(a);
    return WSP_ERR_NOMEM;
  }
  *out = a;
  return 0;
}

/* Listen on host:port (NULL host: every address; port 0: a free one, see
 * wsp_event_get_port) and serve server there from base. */
static inline int wsp_event_listen(struct event_base *base,
                                   struct wsp_server *server, const char *host,
                                   int port, struct wsp_event **out) {
  int fd = wsp_sock_listen(host, port);

  *out = NULL;
  if (fd < 0)
    return WSP_ERR_IO;
  return wsp_event_attach(base, server, fd, out);
}

/* The port listened on, or -1 once the listener is closed. */
static inline int wsp_event_get_port(const struct wsp_event *a) {
  return a->acc.fd < 0 ? -1 : wsp_sock_port(a->acc.fd);
}

/* Connections answered 503 and closed at the descriptor limit. */
static inline unsigned long long
wsp_event_shed_count(const struct wsp_event *a) {
  return a->acc.shed;
}

/*
 * Stop accepting, close every connection with the protocol code and
 * reason (wsp_server_shutdown), and once they have all closed, or after
 * timeout_ms, close those left and delete the adapter's events:
 * event_base_dispatch then returns when nothing else is pending.
 */
static inline void wsp_event_shutdown(struct wsp_event *a, int code,
                                      const char *reason, uint64_t timeout_ms) {
  if (a->stopping)
    return;
  a->stopping = 1;
  a->stop_at = wsp_event_clock(NULL) + timeout_ms;
  event_del(a->listener);
  close(a->acc.fd);
  a->acc.fd = -1;
  wsp_server_shutdown(a->server, code, reason);
  wsp_event_wake(a);
}

/* Close the listener and every connection (their clients freed, so
 * before wsp_server_free), free the adapter's events and the adapter.
 * NULL is a no-op. */
static inline void wsp_event_free(struct wsp_event *a) {
  if (a == NULL)
    return;
  a->freed = 1; /* on_want_write from on_disconnect is ignored now */
  wsp_event__close_all(a);
  event_free(a->listener);
  event_free(a->timer);
  event_free(a->flush);
  wsp_sock_acceptor_close(&a->acc);
  free(a);
}

#ifdef __cplusplus
}
#endif

#endif /* WSP_ADAPTERS_LIBEVENT_H */
