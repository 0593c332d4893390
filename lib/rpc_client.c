/*
 * The client role of RPC: a client-role wsp_conn speaking the default
 * protocol, with a wsp_corr table matching replies to calls. Commands
 * made before the WebSocket opens wait in a buffer and leave right
 * behind the connect command, in one message.
 */
#include <string.h>

#include "internal.h"
#include "wsp/proto.h"
#include "wsp/corr.h"
#include "wsp/rpc_client.h"
#include "json/json_private.h"

struct wsp_rpc_client {
  struct wsp_mem mem;
  struct wsp_rpc_client_callbacks cb;
  void *user_data;
  struct wsp_conn *conn;
  struct wsp_corr *corr;
  struct wsp__jbuf waiting; /* commands queued before the open */
  char *connect_data, *token;
  uint64_t now;
  uint8_t opened;
  uint8_t depth;
  uint8_t free_pending;
};

struct call {
  struct wsp_rpc_client *rc;
  void (*cb)(struct wsp_rpc_client *, int, const uint8_t *, size_t, void *);
  void *user_data;
  int armed;      /* the call was issued: its callback may fire */
  int is_connect; /* the connect command's own entry */
};

static uint64_t rc_now(const struct wsp_rpc_client *rc) {
  return rc->cb.now ? rc->cb.now(rc->user_data) : rc->now;
}

static void really_free(struct wsp_rpc_client *rc) {
  struct wsp_mem m = rc->mem;
  wsp_corr_free(rc->corr); /* pending calls fire WSP_ERR_CANCELLED */
  wsp_conn_free(rc->conn);
  wsp__jbuf_free(&rc->waiting);
  wsp__free(&m, rc->connect_data);
  wsp__free(&m, rc->token);
  wsp__free(&m, rc);
}

static void enter(struct wsp_rpc_client *rc) { rc->depth++; }

static void leave(struct wsp_rpc_client *rc) {
  if (--rc->depth == 0 && rc->free_pending)
    really_free(rc);
}

static void call_done(struct wsp_corr *corr, uint32_t id, int status,
                      const void *data, size_t len, void *ud) {
  struct call *c = ud;
  struct wsp_rpc_client *rc = c->rc;
  (void)corr;
  (void)id;
  if (c->is_connect) {
    struct wsp__json_val v;
    char cid[64];
    size_t n = 0;
    if (status == 0 && rc->cb.on_connected && !rc->free_pending) {
      cid[0] = '\0';
      if (wsp__json_find(data, len, "client", &v) == 1)
        wsp__json_string_decode(&v, cid, sizeof(cid), &n);
      rc->cb.on_connected(rc, cid, rc->user_data);
    } else if (status > 0) {
      wsp_conn_close(rc->conn, WSP_CLOSE_NORMAL, NULL, 0);
    }
  } else if (c->armed && c->cb && !rc->free_pending) {
    c->cb(rc, status, (const uint8_t *)(data ? data : ""), len,
          c->user_data);
  }
  wsp__free(&rc->mem, c);
}

/* ---- Output ----------------------------------------------------------- */

static int send_text(struct wsp_rpc_client *rc, const char *s, size_t n) {
  return wsp_conn_send(rc->conn, WSP_OP_TEXT, s, n);
}

/* Issue one command line, or keep it until the connection opens. */
static int issue(struct wsp_rpc_client *rc, const struct wsp__jbuf *line) {
  if (line->err)
    return line->err;
  if (!rc->opened) {
    if (rc->waiting.len)
      WSP__JBUF_LIT(&rc->waiting, "\n");
    wsp__jbuf_raw(&rc->waiting, line->data, line->len);
    return rc->waiting.err;
  }
  return send_text(rc, line->data, line->len);
}

static int new_entry(struct wsp_rpc_client *rc, uint64_t timeout,
                     struct call **pc, uint32_t *id) {
  struct call *c = wsp__malloc(&rc->mem, sizeof(*c));
  int rv;
  if (!c)
    return WSP_ERR_NOMEM;
  memset(c, 0, sizeof(*c));
  c->rc = rc;
  rv = wsp_corr_start(rc->corr,
                      timeout ? rc_now(rc) + timeout : WSP_NO_DEADLINE,
                      call_done, c, id);
  if (rv != 0) {
    wsp__free(&rc->mem, c);
    return rv;
  }
  *pc = c;
  return 0;
}

/* ---- wsp_conn callbacks ----------------------------------------------- */

static void conn_open(struct wsp_conn *conn, const struct wsp_response *r,
                      void *ud) {
  struct wsp_rpc_client *rc = ud;
  struct wsp__jbuf jb;
  struct call *c;
  uint32_t id;
  (void)conn;
  (void)r;
  rc->opened = 1;
  if (new_entry(rc, 0, &c, &id) != 0) {
    wsp_conn_close(rc->conn, WSP_CLOSE_INTERNAL_ERROR, NULL, 0);
    return;
  }
  c->is_connect = 1;
  wsp__jbuf_init(&jb, &rc->mem);
  WSP__JBUF_LIT(&jb, "{\"connect\":{\"name\":\"libwsp\"");
  if (rc->token) {
    WSP__JBUF_LIT(&jb, ",\"token\":");
    wsp__jbuf_str(&jb, rc->token, strlen(rc->token));
  }
  if (rc->connect_data) {
    WSP__JBUF_LIT(&jb, ",\"data\":");
    wsp__jbuf_raw_value(&jb, rc->connect_data, strlen(rc->connect_data));
  }
  WSP__JBUF_LIT(&jb, "},\"id\":");
  wsp__jbuf_u64(&jb, id);
  WSP__JBUF_LIT(&jb, "}");
  if (rc->waiting.len) {
    WSP__JBUF_LIT(&jb, "\n");
    wsp__jbuf_raw(&jb, rc->waiting.data, rc->waiting.len);
  }
  wsp__jbuf_free(&rc->waiting);
  if (jb.err || send_text(rc, jb.data, jb.len) != 0)
    wsp_conn_close(rc->conn, WSP_CLOSE_INTERNAL_ERROR, NULL, 0);
  wsp__jbuf_free(&jb);
}

static void reply_line(struct wsp_rpc_client *rc, const char *p, size_t n) {
  struct wsp__json_val v, w;
  uint64_t id = 0;
  if (wsp__json_validate(p, n, 64, NULL) != 0) {
    wsp_conn_close(rc->conn, WSP_CLOSE_PROTOCOL_ERROR, "bad JSON", 8);
    return;
  }
  if (wsp__json_find(p, n, "id", &v) == 1)
    wsp__json_get_u64(&v, &id);
  if (id > 0 && id <= UINT32_MAX) {
    if (wsp__json_find(p, n, "error", &v) == 1) {
      uint64_t code = WSP_PROTO_ERROR_INTERNAL;
      char msg[256];
      size_t mlen = 0;
      if (wsp__json_find(v.ptr, v.len, "code", &w) == 1)
        wsp__json_get_u64(&w, &code);
      msg[0] = '\0';
      if (wsp__json_find(v.ptr, v.len, "message", &w) == 1 &&
          wsp__json_string_decode(&w, msg, sizeof(msg), &mlen) != 0)
        mlen = 0;
      if (code == 0 || code > INT32_MAX)
        code = WSP_PROTO_ERROR_INTERNAL;
      wsp_corr_complete(rc->corr, (uint32_t)id, (int)code, msg, mlen);
    } else if (wsp__json_find(p, n, "connect", &v) == 1) {
      wsp_corr_complete(rc->corr, (uint32_t)id, 0, v.ptr, v.len);
    } else if (wsp__json_find(p, n, "rpc", &v) == 1 &&
               wsp__json_find(v.ptr, v.len, "data", &w) == 1) {
      wsp_corr_complete(rc->corr, (uint32_t)id, 0, w.ptr, w.len);
    } else {
      wsp_corr_complete(rc->corr, (uint32_t)id, 0, NULL, 0);
    }
    return;
  }
  if (wsp__json_find(p, n, "push", &v) == 1) {
    if (wsp__json_find(v.ptr, v.len, "message", &w) == 1 &&
        rc->cb.on_message) {
      struct wsp__json_val d;
      if (wsp__json_find(w.ptr, w.len, "data", &d) != 1)
        d.ptr = "", d.len = 0;
      rc->cb.on_message(rc, (const uint8_t *)d.ptr, d.len, rc->user_data);
    }
    return;
  }
  /* The empty reply is the server's ping: answer with the empty command. */
  send_text(rc, "{}", 2);
}

static void conn_message(struct wsp_conn *conn, int op, const uint8_t *data,
                         size_t len, void *ud) {
  struct wsp_rpc_client *rc = ud;
  const char *p = (const char *)data, *end = p + len;
  (void)conn;
  if (op != WSP_OP_TEXT)
    return;
  while (p < end && !rc->free_pending &&
         wsp_conn_get_state(rc->conn) == WSP_STATE_OPEN) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    if (le > p)
      reply_line(rc, p, (size_t)(le - p));
    p = nl ? nl + 1 : end;
  }
}

static void conn_close(struct wsp_conn *conn, int code, const uint8_t *r,
                       size_t n, void *ud) {
  struct wsp_rpc_client *rc = ud;
  (void)conn;
  (void)r;
  (void)n;
  wsp_corr_cancel_all(rc->corr, WSP_ERR_CLOSED);
  if (rc->cb.on_disconnected && !rc->free_pending)
    rc->cb.on_disconnected(rc, code, rc->user_data);
}

static void conn_want_write(struct wsp_conn *conn, void *ud) {
  struct wsp_rpc_client *rc = ud;
  (void)conn;
  if (rc->cb.on_want_write && !rc->free_pending)
    rc->cb.on_want_write(rc, rc->user_data);
}

static uint64_t conn_now(void *ud) { return rc_now(ud); }

static const struct wsp_conn_callbacks conn_cb = {
    NULL,       conn_open,       conn_message, NULL,
    conn_close, conn_want_write, NULL,         conn_now,
};

/* ---- Public API ------------------------------------------------------- */

int wsp_rpc_client_new(struct wsp_rpc_client **prc,
                       const struct wsp_rpc_client_callbacks *cb,
                       const struct wsp_mem *mem, uint64_t now,
                       void *user_data) {
  struct wsp_rpc_client *rc;
  struct wsp_mem m;
  if (!prc)
    return WSP_ERR_INVAL;
  *prc = NULL;
  wsp__mem_init(&m, mem);
  rc = wsp__malloc(&m, sizeof(*rc));
  if (!rc)
    return WSP_ERR_NOMEM;
  memset(rc, 0, sizeof(*rc));
  rc->mem = m;
  if (cb)
    rc->cb = *cb;
  rc->user_data = user_data;
  rc->now = now;
  wsp__jbuf_init(&rc->waiting, &rc->mem);
  if (wsp_corr_new(&rc->corr, &rc->mem) != 0 ||
      wsp_conn_new(&rc->conn, WSP_ROLE_CLIENT, &conn_cb, &rc->mem, now, rc) !=
          0) {
    wsp_corr_free(rc->corr);
    wsp__free(&m, rc);
    return WSP_ERR_NOMEM;
  }
  *prc = rc;
  return 0;
}

void wsp_rpc_client_free(struct wsp_rpc_client *rc) {
  if (!rc)
    return;
  if (rc->depth) {
    rc->free_pending = 1;
    return;
  }
  really_free(rc);
}

int wsp_rpc_client_start(struct wsp_rpc_client *rc, const char *host,
                         const char *path, const char *connect_data,
                         const char *token) {
  int rv;
  if (!rc || (connect_data &&
              wsp__json_validate(connect_data, strlen(connect_data), 64,
                                 NULL) != 0))
    return rc ? WSP_ERR_JSON : WSP_ERR_INVAL;
  if (rc->connect_data || rc->token || rc->opened)
    return WSP_ERR_STATE;
  if (connect_data &&
      !(rc->connect_data =
            wsp__strndup(&rc->mem, connect_data, strlen(connect_data))))
    return WSP_ERR_NOMEM;
  if (token && !(rc->token = wsp__strndup(&rc->mem, token, strlen(token))))
    return WSP_ERR_NOMEM;
  enter(rc);
  rv = wsp_conn_client_start(rc->conn, host, path, NULL);
  leave(rc);
  return rv;
}

int wsp_rpc_client_call(struct wsp_rpc_client *rc, const char *method,
                        const void *data, size_t len, uint64_t timeout_ms,
                        void (*cb)(struct wsp_rpc_client *, int,
                                   const uint8_t *, size_t, void *),
                        void *user_data) {
  struct wsp__jbuf jb;
  struct call *c;
  uint32_t id;
  int rv;
  if (!rc || !method || !cb || (len && !data))
    return WSP_ERR_INVAL;
  if (len && wsp__json_validate(data, len, 64, NULL) != 0)
    return WSP_ERR_JSON;
  if (wsp_conn_get_state(rc->conn) > WSP_STATE_OPEN)
    return WSP_ERR_CLOSED;
  rv = new_entry(rc, timeout_ms, &c, &id);
  if (rv != 0)
    return rv;
  c->cb = cb;
  c->user_data = user_data;
  wsp__jbuf_init(&jb, &rc->mem);
  WSP__JBUF_LIT(&jb, "{\"rpc\":{\"method\":");
  wsp__jbuf_str(&jb, method, strlen(method));
  if (len) {
    WSP__JBUF_LIT(&jb, ",\"data\":");
    wsp__jbuf_raw_value(&jb, data, len);
  }
  WSP__JBUF_LIT(&jb, "},\"id\":");
  wsp__jbuf_u64(&jb, id);
  WSP__JBUF_LIT(&jb, "}");
  enter(rc);
  rv = issue(rc, &jb);
  wsp__jbuf_free(&jb);
  if (rv != 0)
    wsp_corr_cancel(rc->corr, id); /* not armed: its callback stays quiet */
  else
    c->armed = 1;
  leave(rc);
  return rv;
}

int wsp_rpc_client_send(struct wsp_rpc_client *rc, const void *data,
                        size_t len) {
  struct wsp__jbuf jb;
  int rv;
  if (!rc || (len && !data))
    return WSP_ERR_INVAL;
  if (len && wsp__json_validate(data, len, 64, NULL) != 0)
    return WSP_ERR_JSON;
  wsp__jbuf_init(&jb, &rc->mem);
  WSP__JBUF_LIT(&jb, "{\"send\":{");
  if (len) {
    WSP__JBUF_LIT(&jb, "\"data\":");
    wsp__jbuf_raw_value(&jb, data, len);
  }
  WSP__JBUF_LIT(&jb, "}}");
  enter(rc);
  rv = issue(rc, &jb);
  leave(rc);
  wsp__jbuf_free(&jb);
  return rv;
}

int wsp_rpc_client_recv(struct wsp_rpc_client *rc, const void *data,
                        size_t len) {
  int rv;
  if (!rc)
    return WSP_ERR_INVAL;
  if (rc->depth)
    return WSP_ERR_RECURSIVE;
  enter(rc);
  rv = wsp_conn_recv(rc->conn, data, len);
  leave(rc);
  return rv;
}

int wsp_rpc_client_pending(const struct wsp_rpc_client *rc, struct iovec *iov,
                           int iovcnt) {
  return rc ? wsp_conn_pending(rc->conn, iov, iovcnt) : 0;
}

int wsp_rpc_client_sent(struct wsp_rpc_client *rc, size_t n) {
  return rc ? wsp_conn_sent(rc->conn, n) : WSP_ERR_INVAL;
}

int wsp_rpc_client_tick(struct wsp_rpc_client *rc, uint64_t now) {
  int rv;
  if (!rc)
    return WSP_ERR_INVAL;
  if (rc->depth)
    return WSP_ERR_RECURSIVE;
  rc->now = now;
  enter(rc);
  rv = wsp_conn_tick(rc->conn, now);
  wsp_corr_tick(rc->corr, now);
  leave(rc);
  return rv;
}

uint64_t wsp_rpc_client_next_deadline(const struct wsp_rpc_client *rc) {
  uint64_t a, b;
  if (!rc)
    return WSP_NO_DEADLINE;
  a = wsp_conn_next_deadline(rc->conn);
  b = wsp_corr_next_deadline(rc->corr);
  return a < b ? a : b;
}

int wsp_rpc_client_close(struct wsp_rpc_client *rc, int code,
                         const char *reason) {
  int rv;
  if (!rc)
    return WSP_ERR_INVAL;
  enter(rc);
  rv = wsp_conn_close(rc->conn, code, reason, reason ? strlen(reason) : 0);
  leave(rc);
  return rv;
}

struct wsp_conn *wsp_rpc_client_get_conn(const struct wsp_rpc_client *rc) {
  return rc ? rc->conn : NULL;
}

void *wsp_rpc_client_get_user_data(const struct wsp_rpc_client *rc) {
  return rc ? rc->user_data : NULL;
}
