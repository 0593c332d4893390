/*
 * libwsp - adapters/libuv.h: a wsp_server served from a libuv loop,
 * header-only. One call listens (or takes a listening socket) on the
 * loop; from then on the loop accepts, reads, writes (uv_try_write, then
 * one uv_write in flight), runs the hub's timers and closes what is
 * done. See wsp_adapters(3).
 *
 * The server must be made with callbacks passed through
 * wsp_uv_callbacks() (or an on_want_write that calls wsp_uv_on_want_write),
 * on the clock wsp_uv_clock(), and every client of the server must come
 * from the adapter. libuv writes with writev: ignore SIGPIPE.
 */
#ifndef WSP_ADAPTERS_LIBUV_H
#define WSP_ADAPTERS_LIBUV_H

#include <wsp.h>

#include <limits.h>
#include <stdlib.h>
#include <uv.h>

#include "sock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSP_UV__MAGIC 0x77737075u /* "wspu": an io_data of this adapter */
#define WSP_UV__IOV 64

struct wsp_uv;

/* One connection. Members are private. */
struct wsp_uv_conn {
  uint32_t magic;
  uv_tcp_t tcp;
  uv_write_t wreq;
  size_t inflight; /* bytes of the uv_write in flight; 0: none */
  int dirty, reading, eof, broken, closing;
  struct wsp_client *client;
  struct wsp_uv *a;
  struct wsp_uv_conn *prev, *next, *dirty_next;
};

/* The adapter. Members are private. */
struct wsp_uv {
  uv_loop_t *loop;
  struct wsp_server *server;
  uv_poll_t listener;
  uv_timer_t timer;
  uv_prepare_t prepare;
  int handles; /* of the three above, not yet closed */
  int listening, stopping, finished, freed;
  uint64_t stop_at, armed; /* the shutdown's limit; the timer's due time */
  struct wsp_sock_acceptor acc;
  struct wsp_uv_conn *conns, *dirty;
  size_t nconns;
  char buf[65536];
};

/* Milliseconds of uv_hrtime(), the clock of the loop's timers (uv_now is
 * its cached value), shaped as wsp_server_callbacks.now. */
static inline uint64_t wsp_uv_clock(void *user_data) {
  (void)user_data;
  return uv_hrtime() / 1000000u;
}

static inline void wsp_uv__mark(struct wsp_uv_conn *c) {
  if (c->dirty || c->closing || c->a->freed || c->a->finished)
    return;
  c->dirty = 1;
  c->dirty_next = c->a->dirty;
  c->a->dirty = c;
}

/* on_want_write of the server: note the client's output; the adapter
 * writes it before the loop sleeps again (a uv_prepare_t). */
static inline void wsp_uv_on_want_write(struct wsp_client *client,
                                        void *user_data) {
  struct wsp_uv_conn *c = (struct wsp_uv_conn *)wsp_client_get_io_data(client);
  (void)user_data;
  if (c != NULL && c->magic == WSP_UV__MAGIC)
    wsp_uv__mark(c);
}

/* Set the callbacks the adapter needs: on_want_write and now. */
static inline void wsp_uv_callbacks(struct wsp_server_callbacks *cb) {
  cb->on_want_write = wsp_uv_on_want_write;
  cb->now = wsp_uv_clock;
}

static inline void wsp_uv__unref(struct wsp_uv *a) {
  if (--a->handles == 0 && a->freed) {
    wsp_sock_acceptor_close(&a->acc);
    free(a);
  }
}

static inline void wsp_uv__handle_closed(uv_handle_t *h) {
  wsp_uv__unref((struct wsp_uv *)h->data);
}

static inline void wsp_uv__conn_closed(uv_handle_t *h) { free(h->data); }

static inline void wsp_uv__close(struct wsp_uv_conn *c) {
  struct wsp_uv *a = c->a;

  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  a->nconns--;
  /* After uv_close the bytes of a uv_write in flight are never read
   * again (it ends with UV_ECANCELED), so the client goes now. */
  {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
      wsp_sock_drain(fd);
  }
  uv_close((uv_handle_t *)&c->tcp, wsp_uv__conn_closed);
  wsp_client_free(c->client); /* on_disconnect (1006) if still open */
  c->client = NULL;
}

static inline void wsp_uv__alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct wsp_uv_conn *c = (struct wsp_uv_conn *)h->data;
  (void)hint;
  *buf = uv_buf_init(c->a->buf, sizeof c->a->buf);
}

static inline void wsp_uv__read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct wsp_uv_conn *c = (struct wsp_uv_conn *)s->data;

  if (c->closing)
    return;
  if (n > 0) {
    wsp_client_recv(c->client, b->base, (size_t)n);
  } else if (n < 0) { /* UV_EOF, UV_ECONNRESET...: the end of the stream */
    c->eof = 1;
    wsp_client_recv(c->client, c->a->buf, 0);
  }
  if (c->reading && (c->eof || !wsp_client_want_read(c->client))) {
    uv_read_stop(s); /* backpressure, or the end */
    c->reading = 0;
  }
  wsp_uv__mark(c);
}

static inline void wsp_uv__written(uv_write_t *req, int status) {
  struct wsp_uv_conn *c = (struct wsp_uv_conn *)req->data;

  if (c->closing)
    return;
  if (status == 0)
    wsp_client_sent(c->client, c->inflight);
  else
    c->broken = 1;
  c->inflight = 0;
  wsp_uv__mark(c);
}

/* Write what c has: uv_try_write while the socket takes it, the rest
 * with one uv_write; then read or not as the client wants, or close it
 * once it is done or broken. */
static inline void wsp_uv__service(struct wsp_uv_conn *c) {
  struct iovec iov[WSP_UV__IOV];
  uv_buf_t bufs[WSP_UV__IOV];
  int cnt, i, k;

  for (k = 0; k < 64 && !c->inflight && !c->broken; k++) {
    size_t total = 0;
    int w;

    if ((cnt = wsp_client_pending(c->client, iov, WSP_UV__IOV)) <= 0)
      break;
    for (i = 0; i < cnt; i++) {
      bufs[i] = uv_buf_init((char *)iov[i].iov_base, (unsigned)iov[i].iov_len);
      total += iov[i].iov_len;
    }
    w = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)cnt);
    if (w >= 0) {
      wsp_client_sent(c->client, (size_t)w);
      if ((size_t)w == total)
        continue;
      w = UV_EAGAIN; /* partly: the socket is full */
    }
    if (w != UV_EAGAIN) {
      c->broken = 1;
      break;
    }
    /* The socket is full: the rest goes with uv_write, the iovecs staying
     * valid until wsp_client_sent. */
    if ((cnt = wsp_client_pending(c->client, iov, WSP_UV__IOV)) <= 0)
      break;
    for (i = 0, total = 0; i < cnt; i++) {
      bufs[i] = uv_buf_init((char *)iov[i].iov_base, (unsigned)iov[i].iov_len);
      total += iov[i].iov_len;
    }
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, (unsigned)cnt,
                 wsp_uv__written) < 0)
      c->broken = 1;
    else
      c->inflight = total;
  }
  if (c->broken || (!c->inflight && wsp_client_is_done(c->client))) {
    wsp_uv__close(c);
    return;
  }
  if (!c->reading && !c->eof && wsp_client_want_read(c->client)) {
    if (uv_read_start((uv_stream_t *)&c->tcp, wsp_uv__alloc, wsp_uv__read) == 0)
      c->reading = 1;
  } else if (c->reading && !wsp_client_want_read(c->client)) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static inline void wsp_uv__close_all(struct wsp_uv *a) {
  a->dirty = NULL;
  while (a->conns != NULL)
    wsp_uv__close(a->conns);
}

static inline void wsp_uv__timer(uv_timer_t *t);

/* Before the loop sleeps: write what was queued, finish a shutdown, and
 * set the timer to the hub's next deadline. */
static inline void wsp_uv__prepare(uv_prepare_t *p) {
  struct wsp_uv *a = (struct wsp_uv *)p->data;
  struct wsp_uv_conn *c;
  uint64_t due, now;

  while ((c = a->dirty) != NULL) {
    a->dirty = c->dirty_next;
    c->dirty = 0;
    wsp_uv__service(c);
  }
  now = wsp_uv_clock(NULL);
  if (a->stopping && !a->finished && (a->nconns == 0 || now >= a->stop_at)) {
    a->finished = 1; /* before: on_want_write is ignored from now on */
    wsp_uv__close_all(a);
    uv_timer_stop(&a->timer);
    uv_prepare_stop(&a->prepare);
    return;
  }
  due = wsp_server_next_deadline(a->server);
  if (a->stopping && a->stop_at < due)
    due = a->stop_at;
  if (due == a->armed)
    return;
  a->armed = due;
  if (due == WSP_NO_DEADLINE) {
    uv_timer_stop(&a->timer);
    return;
  }
  uv_update_time(a->loop);
  uv_timer_start(&a->timer, wsp_uv__timer, due > now ? due - now : 0, 0);
}

static inline void wsp_uv__timer(uv_timer_t *t) {
  struct wsp_uv *a = (struct wsp_uv *)t->data;
  uint64_t now = wsp_uv_clock(NULL);

  a->armed = WSP_NO_DEADLINE; /* the prepare step sets it again */
  if (wsp_server_next_deadline(a->server) <= now)
    wsp_server_tick(a->server, now); /* output: on_want_write */
}

static inline void wsp_uv__accept(uv_poll_t *p, int status, int events) {
  struct wsp_uv *a = (struct wsp_uv *)p->data;
  int i, fd;
  (void)events;

  for (i = 0; i < 256 && status == 0 && !a->stopping; i++) {
    struct wsp_uv_conn *c;

    if ((fd = wsp_sock_accept(&a->acc)) < 0)
      return;
    if ((c = (struct wsp_uv_conn *)calloc(1, sizeof *c)) == NULL) {
      close(fd);
      continue;
    }
    c->magic = WSP_UV__MAGIC;
    c->a = a;
    c->tcp.data = c;
    if (uv_tcp_init(a->loop, &c->tcp) < 0) {
      close(fd);
      free(c);
      continue;
    }
    c->closing = 1; /* until it is a client */
    if (uv_tcp_open(&c->tcp, fd) < 0) {
      close(fd); /* not the handle's */
      uv_close((uv_handle_t *)&c->tcp, wsp_uv__conn_closed);
      continue;
    }
    if (wsp_server_accept(a->server, c, &c->client) < 0) {
      uv_close((uv_handle_t *)&c->tcp, wsp_uv__conn_closed); /* closes fd */
      continue;
    }
    c->closing = 0;
    c->next = a->conns;
    if (a->conns != NULL)
      a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    wsp_uv__mark(c); /* starts reading */
  }
}

/* Serve server on loop from listen_fd, a bound, listening, non-blocking
 * socket the adapter owns from now on (closed even on failure). Returns
 * 0, or a negative WSP_ERR_* (*out NULL). */
static inline int wsp_uv_attach(uv_loop_t *loop, struct wsp_server *server,
                                int listen_fd, struct wsp_uv **out) {
  struct wsp_uv *a;

  *out = NULL;
  if (loop == NULL || server == NULL || listen_fd < 0) {
    if (listen_fd >= 0)
      close(listen_fd);
    return WSP_ERR_INVAL;
  }
  if ((a = (struct wsp_uv *)calloc(1, sizeof *a)) == NULL) {
    close(listen_fd);
    return WSP_ERR_NOMEM;
  }
  a->loop = loop;
  a->server = server;
  a->armed = WSP_NO_DEADLINE;
  wsp_sock_acceptor_init(&a->acc, listen_fd);
  if (uv_poll_init_socket(loop, &a->listener, listen_fd) < 0) {
    wsp_sock_acceptor_close(&a->acc);
    free(a);
    return WSP_ERR_IO;
  }
  uv_timer_init(loop, &a->timer);
  uv_prepare_init(loop, &a->prepare);
  a->listener.data = a->timer.data = a->prepare.data = a;
  a->handles = 3;
  a->listening = 1;
  uv_poll_start(&a->listener, UV_READABLE, wsp_uv__accept);
  uv_prepare_start(&a->prepare, wsp_uv__prepare);
  /* The listener and the connections keep the loop alive, not these. */
  uv_unref((uv_handle_t *)&a->timer);
  uv_unref((uv_handle_t *)&a->prepare);
  *out = a;
  return 0;
}

/* Listen on host:port (NULL host: every address; port 0: a free one, see
 * wsp_uv_get_port) and serve server there from loop. */
static inline int wsp_uv_listen(uv_loop_t *loop, struct wsp_server *server,
                                const char *host, int port,
                                struct wsp_uv **out) {
  int fd = wsp_sock_listen(host, port);

  *out = NULL;
  if (fd < 0)
    return WSP_ERR_IO;
  return wsp_uv_attach(loop, server, fd, out);
}

/* The port listened on, or -1 once the listener is closed. */
static inline int wsp_uv_get_port(const struct wsp_uv *a) {
  return a->listening ? wsp_sock_port(a->acc.fd) : -1;
}

/* Connections answered 503 and closed at the descriptor limit. */
static inline unsigned long long wsp_uv_shed_count(const struct wsp_uv *a) {
  return a->acc.shed;
}

static inline void wsp_uv__stop_listening(struct wsp_uv *a) {
  if (!a->listening)
    return;
  a->listening = 0;
  uv_close((uv_handle_t *)&a->listener, wsp_uv__handle_closed);
  close(a->acc.fd); /* no longer polled: uv_close stopped the poll */
  a->acc.fd = -1;
}

/*
 * Stop accepting, close every connection with the protocol code and
 * reason (wsp_server_shutdown), and once they have all closed, or after
 * timeout_ms, close those left and stop the adapter's handles: uv_run
 * then returns when nothing else of the application's is active.
 */
static inline void wsp_uv_shutdown(struct wsp_uv *a, int code,
                                   const char *reason, uint64_t timeout_ms) {
  if (a->stopping)
    return;
  a->stopping = 1;
  a->stop_at = wsp_uv_clock(NULL) + timeout_ms;
  wsp_uv__stop_listening(a);
  wsp_server_shutdown(a->server, code, reason);
  /* Keep the loop alive for the closing handshakes and the limit. */
  uv_ref((uv_handle_t *)&a->timer);
  uv_timer_start(&a->timer, wsp_uv__timer, timeout_ms, 0);
  a->armed = a->stop_at;
}

/* Close the listener and every connection (their clients freed, so
 * before wsp_server_free) and release the adapter; its memory goes in
 * close callbacks, so run the loop once more (uv_run) before
 * uv_loop_close. NULL is a no-op. */
static inline void wsp_uv_free(struct wsp_uv *a) {
  if (a == NULL)
    return;
  a->freed = 1; /* on_want_write from on_disconnect is ignored now */
  wsp_uv__close_all(a);
  wsp_uv__stop_listening(a);
  uv_close((uv_handle_t *)&a->timer, wsp_uv__handle_closed);
  uv_close((uv_handle_t *)&a->prepare, wsp_uv__handle_closed);
}

#ifdef __cplusplus
}
#endif

#endif /* WSP_ADAPTERS_LIBUV_H */
