/*
 * wsp_server: the hub. It owns a wsp_conn per transport connection, keeps
 * every connection's next deadline in one binary heap so that
 * wsp_server_next_deadline() is O(1) and wsp_server_tick() touches only
 * the connections that are due, and hands protocol connections to the
 * codec (cf_dispatch.c).
 */
#include <stddef.h>
#include <string.h>

#include "hub_private.h"

static const uint64_t limit_defaults[WSP_SERVER_LIMIT__COUNT] = {
    [WSP_SERVER_MAX_MESSAGE] = 65536,
    [WSP_SERVER_MAX_CONNECTIONS] = 100000,
    [WSP_SERVER_MAX_PENDING_RPC] = 128,
    [WSP_SERVER_MAX_QUEUED] = 1u << 20,
    [WSP_SERVER_RPC_TIMEOUT] = 30000,
    [WSP_SERVER_PING_INTERVAL] = 25000,
    [WSP_SERVER_PONG_TIMEOUT] = 10000,
    [WSP_SERVER_STALE_TIMEOUT] = 15000,
    [WSP_SERVER_HANDSHAKE_TIMEOUT] = 10000,
    [WSP_SERVER_MAX_SUBSCRIPTIONS] = 128,
    [WSP_SERVER_MAX_CHANNEL_LEN] = 255,
    [WSP_SERVER_REFRESH_GRACE] = 25000,
    [WSP_SERVER_IDEMPOTENCY_TTL] = 300000,
    [WSP_SERVER_MAX_IDEMPOTENT] = 100000,
};

/* ---- Deadlines ------------------------------------------------------- */

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Recompute the client's next deadline and its place in the heap. The
 * heap has room for every client (it grows in wsp_server_accept), so
 * this never allocates. */
void wsp__client_touch(struct wsp_client *cl) {
  struct wsp_server *s = cl->srv;
  uint64_t due = wsp_conn_next_deadline(cl->conn);
  if (cl->codec && cl->codec->next_deadline && !cl->gone)
    due = min64(due, cl->codec->next_deadline(cl, cl->codec_data));
  if (due == WSP_NO_DEADLINE)
    wsp__heap_remove(&s->heap, &cl->hn);
  else
    wsp__heap_set(&s->heap, &cl->hn, due);
}

/* ---- Client life cycle ------------------------------------------------ */

static void count_close(struct wsp_server *s, int code) {
  struct wsp_server_stats *st = &s->stats;
  size_t i;
  for (i = 0; i < st->nclose_codes; i++) {
    if (st->closes[i].code == (uint32_t)code) {
      st->closes[i].count++;
      /* keep the most frequent first */
      while (i > 0 && st->closes[i].count > st->closes[i - 1].count) {
        __typeof__(st->closes[0]) t = st->closes[i];
        st->closes[i] = st->closes[i - 1];
        st->closes[--i] = t;
      }
      return;
    }
  }
  if (st->nclose_codes < sizeof(st->closes) / sizeof(st->closes[0])) {
    st->closes[st->nclose_codes].code = (uint32_t)code;
    st->closes[st->nclose_codes++].count = 1;
  }
}

static void client_gone(struct wsp_client *cl, int code) {
  struct wsp_server *s = cl->srv;
  if (cl->gone)
    return;
  cl->gone = 1;
  cl->depth++;
  s->ops->client_gone(cl); /* leave pushes go out while it is connected */
  cl->depth--;
  s->ops->proto_gone(cl);
  cl->expire_due = WSP_NO_DEADLINE;
  wsp__pending_client_gone(cl);
  if (!cl->opened)
    return; /* an HTTP exchange only: never a WebSocket */
  count_close(s, code);
  wsp__metrics_close(&s->metrics, code);
  if (cl->codec && cl->codec->on_close) {
    cl->depth++;
    cl->codec->on_close(cl, code, cl->codec_data);
    cl->depth--;
  }
  if (s->cb.on_disconnect && !cl->free_pending) {
    cl->depth++; /* a free from the callback waits for us */
    s->cb.on_disconnect(cl, code, s->user_data);
    cl->depth--;
  }
}

static void really_free(struct wsp_client *cl) {
  struct wsp_server *s = cl->srv;
  wsp__heap_remove(&s->heap, &cl->hn);
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    s->first = cl->next;
  if (cl->next)
    cl->next->prev = cl->prev;
  wsp_conn_free(cl->conn);
  s->ops->client_free(cl);
  wsp__free(&s->mem, cl->user);
  wsp__free(&s->mem, cl->calls);
  s->stats.connections--;
  /* After a crowd leaves, its room in the heap goes too. */
  wsp__heap_shrink(&s->heap, &s->mem, s->stats.connections);
  wsp__free(&s->mem, cl);
}

void wsp__client_enter(struct wsp_client *cl) { cl->depth++; }

void wsp__client_leave(struct wsp_client *cl) {
  if (--cl->depth == 0) {
    if (cl->free_pending)
      really_free(cl);
    else
      wsp__client_touch(cl);
  }
}

/* ---- wsp_conn callbacks ----------------------------------------------- */

/* The route a codec client was accepted on: cl->codec points into it. */
static const struct wsp__route *route_of(const struct wsp_client *cl) {
  return (const struct wsp__route *)(const void *)((const char *)cl->codec -
                                                   offsetof(struct wsp__route,
                                                            codec));
}

static int path_is(struct wsp_str path, const char *want) {
  return path.len == strlen(want) && memcmp(path.ptr, want, path.len) == 0;
}

static int conn_on_request(struct wsp_conn *conn, const struct wsp_request *req,
                           void *ud) {
  struct wsp_client *cl = ud;
  struct wsp_server *s = cl->srv;
  int rv = 0;
  size_t i;
  static const char busy[] = "too many connections\n";
  static const char nf[] = "not found\n";

  if (cl->over_limit) {
    s->stats.errors_limit++;
    wsp_conn_respond(conn, 503, NULL, busy, sizeof(busy) - 1);
    return 0;
  }
  if (s->cb.on_request) {
    cl->in_request = 1;
    rv = s->cb.on_request(cl, req, s->user_data);
    cl->in_request = 0;
  }
  if (s->ops->request_refused(cl, req))
    return 0;
  if (cl->deferred) {
    /* Answered later: wsp_client_respond(), or for an upgrade
     * wsp_client_accept(), which needs the route and the Origin's
     * verdict (the session may only be known then). */
    for (i = 0; req->websocket && i < s->nroutes; i++) {
      if (path_is(req->path, s->routes[i]->path)) {
        cl->mode = MODE_CODEC;
        cl->codec = &s->routes[i]->codec;
        cl->codec_data = s->routes[i]->data;
        cl->upgrade = 1;
        cl->origin_ok = (uint8_t)(s->ops->origin_ok(cl, req) != 0);
        if (s->routes[i]->exclusive)
          s->ops->proto_accept(cl);
        break;
      }
    }
    return 0;
  }
  if (wsp_conn_get_state(conn) != WSP_STATE_HANDSHAKE || cl->mode == MODE_RAW)
    return 0; /* answered, or taken as a raw WebSocket */
  if (rv < 0)
    return rv;
  for (i = 0; i < s->nroutes; i++) {
    if (path_is(req->path, s->routes[i]->path)) {
      if (req->websocket) {
        cl->mode = MODE_CODEC;
        cl->codec = &s->routes[i]->codec;
        cl->codec_data = s->routes[i]->data;
        if (s->routes[i]->exclusive)
          s->ops->proto_accept(cl);
      }
      return 0; /* accepted, or the library's 400/426 */
    }
  }
  wsp_conn_respond(conn, 404, NULL, nf, sizeof(nf) - 1);
  return 0;
}

static void conn_on_open(struct wsp_conn *conn, const struct wsp_response *r,
                         void *ud) {
  struct wsp_client *cl = ud;
  (void)conn;
  (void)r;
  cl->opened = 1;
  if (cl->codec && cl->codec->on_open)
    cl->codec->on_open(cl, cl->codec_data);
}

static void conn_on_message(struct wsp_conn *conn, int opcode,
                            const uint8_t *data, size_t len, void *ud) {
  struct wsp_client *cl = ud;
  struct wsp_server *s = cl->srv;
  (void)conn;
  s->stats.messages_in++;
  if (cl->codec) {
    if (cl->codec->on_message && !cl->free_pending)
      cl->codec->on_message(cl, opcode, data, len, cl->codec_data);
  } else if (s->cb.on_raw_message && !cl->free_pending)
    s->cb.on_raw_message(cl, opcode, data, len, s->user_data);
}

static void conn_on_close(struct wsp_conn *conn, int code,
                          const uint8_t *reason, size_t len, void *ud) {
  struct wsp_client *cl = ud;
  int sent = wsp_conn_close_code_sent(conn);
  (void)reason;
  (void)len;
  /* The code that ended it: ours if we closed first, else the peer's. */
  client_gone(cl, sent && sent != WSP_CLOSE_NO_STATUS ? sent : code);
}

static void conn_on_want_write(struct wsp_conn *conn, void *ud) {
  struct wsp_client *cl = ud;
  struct wsp_server *s = cl->srv;
  (void)conn;
  if (s->cb.on_want_write && !cl->free_pending)
    s->cb.on_want_write(cl, s->user_data);
}

static uint64_t conn_now(void *ud) {
  struct wsp_client *cl = ud;
  return wsp__server_now(cl->srv);
}

static const struct wsp_conn_callbacks conn_callbacks = {
    conn_on_request,    conn_on_open, conn_on_message, NULL, conn_on_close,
    conn_on_want_write, NULL,         conn_now,
};

/* ---- Public API: server ----------------------------------------------- */

int wsp__server_init(struct wsp_server **ps,
                     const struct wsp_server_callbacks *callbacks,
                     const struct wsp_mem *mem, uint64_t now, void *user_data,
                     const struct wsp__hub_ops *ops) {
  struct wsp_mem m;
  struct wsp_server *s;
  *ps = NULL;
  wsp__mem_init(&m, mem);
  s = wsp__malloc(&m, sizeof(*s));
  if (!s)
    return WSP_ERR_NOMEM;
  memset(s, 0, sizeof(*s));
  s->mem = m;
  s->ops = ops;
  if (callbacks)
    s->cb = *callbacks;
  s->user_data = user_data;
  s->now = now;
  memcpy(s->limits, limit_defaults, sizeof(s->limits));
  if (wsp_conn_profile_new(&s->profile, &conn_callbacks, &s->mem) != 0 ||
      wsp_corr_new(&s->rpc, &s->mem) != 0 ||
      wsp_pubsub_new(&s->channels, &s->mem) != 0 ||
      wsp_pubsub_new(&s->users, &s->mem) != 0) {
    wsp__server_destroy(s);
    return WSP_ERR_NOMEM;
  }
  wsp_corr_set_max_pending(s->rpc, WSP_CORR_MAX_PENDING_LIMIT);
  *ps = s;
  return 0;
}

void wsp__server_close_all(struct wsp_server *s) {
  while (s->first) {
    struct wsp_client *cl = s->first;
    client_gone(cl, WSP_CLOSE_GOING_AWAY);
    cl->depth = 0;
    really_free(cl);
  }
}

void wsp__server_destroy(struct wsp_server *s) {
  if (s->engine && s->engine->detach)
    s->engine->detach(s->engine->data);
  wsp_conn_profile_free(s->profile);
  wsp_corr_free(s->rpc);
  wsp_pubsub_free(s->channels);
  wsp_pubsub_free(s->users);
  wsp__heap_free(&s->heap, &s->mem);
  while (s->nroutes > 0) {
    struct wsp__route *r = s->routes[--s->nroutes];
    wsp__free(&s->mem, r->path);
    wsp__free(&s->mem, r);
  }
  wsp__free(&s->mem, s->routes);
  {
    struct wsp_mem m = s->mem;
    wsp__free(&m, s);
  }
}

/* The connections' profile, brought in line with the server's limits at
 * each accept; connections made before keep theirs. */
static int sync_profile(struct wsp_server *s) {
  const uint64_t want[][2] = {
      {WSP_LIMIT_MAX_MESSAGE, s->limits[WSP_SERVER_MAX_MESSAGE]},
      {WSP_LIMIT_MAX_QUEUED, s->limits[WSP_SERVER_MAX_QUEUED]},
      {WSP_LIMIT_HIGH_WATER, s->limits[WSP_SERVER_MAX_QUEUED] / 2},
      {WSP_LIMIT_HANDSHAKE_TIMEOUT, s->limits[WSP_SERVER_HANDSHAKE_TIMEOUT]},
  };
  size_t i;
  int rv;
  for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    if (wsp_conn_profile_get_limit(s->profile, (int)want[i][0]) != want[i][1] &&
        (rv = wsp_conn_profile_set_limit(s->profile, (int)want[i][0],
                                         want[i][1])) != 0)
      return rv;
  return 0;
}

int wsp_server_set_limit(struct wsp_server *s, int limit, uint64_t value) {
  if (!s || limit < 0 || limit >= WSP_SERVER_LIMIT__COUNT)
    return WSP_ERR_INVAL;
  if ((limit == WSP_SERVER_MAX_MESSAGE || limit == WSP_SERVER_MAX_QUEUED ||
       limit == WSP_SERVER_MAX_CONNECTIONS) &&
      (value == 0 || value > SIZE_MAX / 2))
    return WSP_ERR_INVAL;
  if (limit == WSP_SERVER_MAX_CHANNEL_LEN && (value == 0 || value > 1023))
    return WSP_ERR_INVAL; /* channel names are decoded on the stack */
  if (limit == WSP_SERVER_MAX_IDEMPOTENT && (value == 0 || value > UINT32_MAX))
    return WSP_ERR_INVAL; /* the heap's positions are 32-bit */
  s->limits[limit] = value;
  return 0;
}

uint64_t wsp_server_get_limit(const struct wsp_server *s, int limit) {
  if (!s || limit < 0 || limit >= WSP_SERVER_LIMIT__COUNT)
    return 0;
  return s->limits[limit];
}

/* permessage-deflate is a setting of the connections' profile: it holds
 * the compressor that every connection resetting its own shares. */
int wsp_server_set_deflate(struct wsp_server *s, int param, uint64_t value) {
  return s ? wsp_conn_profile_set_deflate(s->profile, param, value)
           : WSP_ERR_INVAL;
}

uint64_t wsp_server_get_deflate(const struct wsp_server *s, int param) {
  return s ? wsp_conn_profile_get_deflate(s->profile, param) : 0;
}

static int path_valid(const char *path) {
  return path && path[0] == '/' && !strpbrk(path, " ?#\r\n\t");
}

int wsp_server_set_path(struct wsp_server *s, const char *path) {
  char *p;
  if (!s || !path_valid(path))
    return WSP_ERR_INVAL;
  p = wsp__strndup(&s->mem, path, strlen(path));
  if (!p)
    return WSP_ERR_NOMEM;
  wsp__free(&s->mem, s->routes[0]->path);
  s->routes[0]->path = p;
  return 0;
}

int wsp_server_add_codec(struct wsp_server *s, const char *path,
                         const struct wsp_codec *codec, void *codec_data) {
  return wsp__server_add_route(s, path, codec, codec_data, 0);
}

int wsp__server_add_route(struct wsp_server *s, const char *path,
                          const struct wsp_codec *codec, void *codec_data,
                          int exclusive) {
  struct wsp__route *r, **arr;
  size_t i;
  if (!s || !codec || !path_valid(path))
    return WSP_ERR_INVAL;
  for (i = 0; i < s->nroutes; i++) {
    if (strcmp(s->routes[i]->path, path) == 0) {
      s->routes[i]->codec = *codec;
      s->routes[i]->data = codec_data;
      s->routes[i]->exclusive = (uint8_t)exclusive;
      return 0;
    }
  }
  r = wsp__malloc(&s->mem, sizeof(*r));
  if (!r)
    return WSP_ERR_NOMEM;
  r->path = wsp__strndup(&s->mem, path, strlen(path));
  arr = r->path
            ? wsp__realloc(&s->mem, s->routes, (s->nroutes + 1) * sizeof(*arr))
            : NULL;
  if (!arr) {
    wsp__free(&s->mem, r->path);
    wsp__free(&s->mem, r);
    return WSP_ERR_NOMEM;
  }
  r->codec = *codec;
  r->data = codec_data;
  r->exclusive = (uint8_t)exclusive;
  s->routes = arr;
  s->routes[s->nroutes++] = r;
  return 0;
}

void *wsp_server_get_user_data(const struct wsp_server *s) {
  return s ? s->user_data : NULL;
}

void wsp_server_get_stats(const struct wsp_server *s,
                          struct wsp_server_stats *out) {
  struct wsp_corr_stats cs;
  if (!s || !out)
    return;
  *out = s->stats;
  wsp_corr_get_stats(s->rpc, &cs);
  out->rpc_late = cs.late;
  out->rpc_timeouts = cs.timed_out;
}

int wsp_server_tick(struct wsp_server *s, uint64_t now) {
  struct wsp__heap_node *top;
  size_t budget;
  if (!s)
    return WSP_ERR_INVAL;
  s->now = now;
  wsp_corr_tick(s->rpc, now);
  s->ops->tick(s, now);
  /* Each due client is visited once per tick at most. */
  budget = s->heap.n;
  while (budget-- > 0 && (top = wsp__heap_top(&s->heap)) && top->key <= now) {
    struct wsp_client *cl = WSP__CONTAINER_OF(top, struct wsp_client, hn);
    wsp__heap_remove(&s->heap, top);
    wsp__client_enter(cl);
    wsp_conn_tick(cl->conn, now);
    /* The codec's timer only when it has come: the connection's own
     * timers share the heap entry. */
    if (cl->codec && cl->codec->on_tick && !cl->gone &&
        wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN &&
        (!cl->codec->next_deadline ||
         cl->codec->next_deadline(cl, cl->codec_data) <= now))
      cl->codec->on_tick(cl, now, cl->codec_data);
    wsp__client_leave(cl);
  }
  return 0;
}

uint64_t wsp_server_next_deadline(const struct wsp_server *s) {
  uint64_t d, m;
  if (!s)
    return WSP_NO_DEADLINE;
  d = wsp_corr_next_deadline(s->rpc);
  m = s->ops->next_deadline(s);
  if (m < d)
    d = m;
  if (s->heap.n > 0 && s->heap.v[0]->key < d)
    d = s->heap.v[0]->key;
  return d;
}

int wsp_server_shutdown(struct wsp_server *s, int code, const char *reason) {
  struct wsp_client *cl, *next;
  if (!s)
    return WSP_ERR_INVAL;
  for (cl = s->first; cl; cl = next) {
    next = cl->next;
    wsp_client_disconnect(cl, code, reason);
  }
  return 0;
}

/* ---- Public API: clients ---------------------------------------------- */

int wsp_server_accept(struct wsp_server *s, void *io_data,
                      struct wsp_client **pcl) {
  struct wsp_client *cl;
  int rv;
  if (!s || !pcl)
    return WSP_ERR_INVAL;
  *pcl = NULL;
  rv = wsp__heap_reserve(&s->heap, &s->mem, s->stats.connections + 1);
  if (rv != 0)
    return rv;
  cl = wsp__malloc(&s->mem, sizeof(*cl));
  if (!cl)
    return WSP_ERR_NOMEM;
  memset(cl, 0, sizeof(*cl));
  cl->srv = s;
  cl->io_data = io_data;
  cl->hn.pos = WSP__HEAP_OUT;
  cl->expire_due = cl->sub_due = WSP_NO_DEADLINE;
  s->ops->client_init(cl);
  rv = sync_profile(s);
  if (rv == 0)
    rv = wsp_conn_new_from(&cl->conn, s->profile, WSP_ROLE_SERVER,
                           wsp__server_now(s), cl);
  if (rv != 0) {
    wsp__free(&s->mem, cl);
    return rv;
  }
  if (s->stats.connections >= s->limits[WSP_SERVER_MAX_CONNECTIONS]) {
    cl->over_limit = 1; /* answered 503 once its request is in */
    s->stats.refused++;
  } else {
    s->stats.accepted++;
  }
  s->stats.connections++;
  cl->next = s->first;
  if (s->first)
    s->first->prev = cl;
  s->first = cl;
  wsp__client_touch(cl);
  *pcl = cl;
  return 0;
}

int wsp_client_recv(struct wsp_client *cl, const void *data, size_t len) {
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  if (cl->depth)
    return WSP_ERR_RECURSIVE;
  cl->srv->stats.bytes_in += len;
  wsp__client_enter(cl);
  rv = wsp_conn_recv(cl->conn, data, len);
  wsp__client_leave(cl);
  return rv;
}

int wsp_client_pending(const struct wsp_client *cl, struct iovec *iov,
                       int iovcnt) {
  return cl ? wsp_conn_pending(cl->conn, iov, iovcnt) : 0;
}

int wsp_client_sent(struct wsp_client *cl, size_t n) {
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  if (cl->depth)
    return WSP_ERR_RECURSIVE;
  wsp__client_enter(cl);
  rv = wsp_conn_sent(cl->conn, n);
  if (rv == 0)
    cl->srv->stats.bytes_out += n;
  if (rv == 0)
    cl->srv->ops->sent(cl); /* room again: e.g. catch up from a log */
  wsp__client_leave(cl);
  return rv;
}

int wsp_client_want_write(const struct wsp_client *cl) {
  return cl && wsp_conn_want_write(cl->conn);
}

int wsp_client_want_read(const struct wsp_client *cl) {
  return cl && wsp_conn_want_read(cl->conn);
}

int wsp_client_is_done(const struct wsp_client *cl) {
  return cl && wsp_conn_is_done(cl->conn);
}

void wsp_client_free(struct wsp_client *cl) {
  if (!cl)
    return;
  if (!cl->gone) {
    /* The transport went before the closing handshake ended: the code
     * the hub closed with if it had begun one (3008 for a slow client,
     * say), else abnormal. */
    int sent = cl->conn ? wsp_conn_close_code_sent(cl->conn) : 0;
    client_gone(cl, sent && sent != WSP_CLOSE_NO_STATUS ? sent
                                                        : WSP_CLOSE_ABNORMAL);
  }
  if (cl->depth) {
    cl->free_pending = 1;
    return;
  }
  really_free(cl);
}

struct wsp_server *wsp_client_get_server(const struct wsp_client *cl) {
  return cl ? cl->srv : NULL;
}

void *wsp_client_get_io_data(const struct wsp_client *cl) {
  return cl ? cl->io_data : NULL;
}

const char *wsp_client_get_id(const struct wsp_client *cl) {
  return cl ? cl->id : "";
}

const char *wsp_client_get_user(const struct wsp_client *cl) {
  return cl && cl->user ? cl->user : "";
}

int wsp_client_set_user(struct wsp_client *cl, const char *user) {
  char *u;
  if (!cl || !user || strlen(user) > 255)
    return WSP_ERR_INVAL;
  u = wsp__strndup(&cl->srv->mem, user, strlen(user));
  if (!u)
    return WSP_ERR_NOMEM;
  if (!cl->gone && wsp__users_set(cl, cl->user, u) != 0) {
    wsp__free(&cl->srv->mem, u);
    return WSP_ERR_NOMEM;
  }
  wsp__free(&cl->srv->mem, cl->user);
  cl->user = u;
  return 0;
}

int wsp_client_set_expiry(struct wsp_client *cl, uint64_t expires_at) {
  if (!cl)
    return WSP_ERR_INVAL;
  cl->expires_at = expires_at;
  cl->expire_due =
      expires_at
          ? wsp__add_sat(expires_at, cl->srv->limits[WSP_SERVER_REFRESH_GRACE])
          : WSP_NO_DEADLINE;
  if (!cl->depth)
    wsp__client_touch(cl);
  return 0;
}

struct wsp_conn *wsp_client_get_conn(const struct wsp_client *cl) {
  return cl ? cl->conn : NULL;
}

int wsp_client_respond(struct wsp_client *cl, int status,
                       const char *content_type, const void *body, size_t len) {
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  if (!cl->in_request && !cl->deferred)
    return WSP_ERR_STATE;
  if (cl->deferred)
    wsp__client_enter(cl);
  rv = wsp_conn_respond(cl->conn, status, content_type, body, len);
  if (cl->deferred) {
    cl->deferred = 0;
    wsp__client_leave(cl);
  }
  return rv;
}

int wsp_client_accept(struct wsp_client *cl) {
  static const char nf[] = "not found\n";
  static const char cross[] = "cross-origin request refused\n";
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  if (!cl->deferred || cl->in_request ||
      wsp_conn_get_state(cl->conn) != WSP_STATE_DEFERRED)
    return WSP_ERR_STATE;
  wsp__client_enter(cl);
  cl->deferred = 0;
  if (!cl->upgrade) {
    rv = wsp_conn_respond(cl->conn, 404, NULL, nf, sizeof(nf) - 1);
  } else if (cl->session && !cl->origin_ok) {
    cl->srv->stats.refused_origin++;
    rv = wsp_conn_respond(cl->conn, 403, NULL, cross, sizeof(cross) - 1);
  } else {
    rv = wsp_conn_accept(cl->conn);
  }
  wsp__client_leave(cl);
  return rv;
}

int wsp_client_defer(struct wsp_client *cl) {
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  if (!cl->in_request || cl->mode == MODE_RAW)
    return WSP_ERR_STATE;
  rv = wsp_conn_defer(cl->conn);
  if (rv == 0)
    cl->deferred = 1;
  return rv;
}

int wsp_client_accept_raw(struct wsp_client *cl) {
  if (!cl)
    return WSP_ERR_INVAL;
  if (!cl->in_request)
    return WSP_ERR_STATE;
  cl->mode = MODE_RAW;
  return 0;
}

int wsp_client_send_raw(struct wsp_client *cl, int opcode, const void *data,
                        size_t len) {
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  if (cl->codec && route_of(cl)->exclusive)
    return WSP_ERR_STATE; /* it would break the default protocol */
  if (cl->mode == MODE_NONE)
    return WSP_ERR_STATE;
  wsp__client_enter(cl);
  rv = wsp_conn_send(cl->conn, opcode, data, len);
  if (rv == 0)
    cl->srv->stats.messages_out++;
  wsp__client_leave(cl);
  return rv;
}

int wsp_client_disconnect(struct wsp_client *cl, int code, const char *reason) {
  int rv;
  if (!cl)
    return WSP_ERR_INVAL;
  wsp__client_enter(cl);
  rv = wsp__client_close(cl, code, reason);
  wsp__client_leave(cl);
  return rv;
}

int wsp__client_close(struct wsp_client *cl, int code, const char *reason) {
  struct wsp__hub_ops const *ops = cl->srv->ops;
  size_t n = reason ? strlen(reason) : 0;
  int rv;
  if (code < 1000 || code > 4999 || (code > 1011 && code < 3000))
    return WSP_ERR_INVAL;
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return WSP_ERR_CLOSED;
  /* A close reason holds 123 bytes: cut on a character boundary. */
  if (n > 123) {
    n = 123;
    while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
      n--;
  }
  /* What the client is owed leaves before the close frame. */
  ops->proto_flush(cl);
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return 0; /* the flush itself closed it */
  rv = wsp_conn_close(cl->conn, code, reason, n);
  if (rv == 0)
    ops->proto_closed(cl);
  return rv;
}
