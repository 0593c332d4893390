/*
 * The client role: a client-role wsp_conn speaking the default protocol,
 * with a wsp_corr table matching replies to commands. Commands made
 * before the WebSocket opens wait in a buffer and leave right behind the
 * connect command, in one message. Every line from the server is read
 * here and checked; subscription results and channel pushes go on to
 * subs.c.
 */
#include <string.h>

#include "rpc_client_private.h"
#include "wsp/proto.h"

struct call {
  struct wsp_rpc_client *rc;
  call_cb *cb;
  void *user_data;
  int armed; /* the command was issued: its callback may fire */
  int kind;  /* K_* */
  int cmd;   /* WSP_PROTO_CMD_*: the reply's result field */
};

static uint64_t rc_now(const struct wsp_rpc_client *rc) {
  return rc->cb.now ? rc->cb.now(rc->user_data) : rc->now;
}

static void really_free(struct wsp_rpc_client *rc) {
  struct wsp_mem m = rc->mem;
  rc->freeing = 1;
  rc->depth++;             /* a free from the callbacks below is a no-op */
  wsp_corr_free(rc->corr); /* pending calls fire WSP_ERR_CANCELLED */
  wsp__rcsub_end_all(rc, WSP_ERR_CANCELLED);
  wsp_conn_free(rc->conn);
  wsp__rcsub_sweep(rc);
  wsp__jbuf_free(&rc->waiting);
  wsp__free(&m, rc->connect_data);
  wsp__free(&m, rc->token);
  wsp__free(&m, rc);
}

void wsp__rpc_client_enter(struct wsp_rpc_client *rc) { rc->depth++; }

void wsp__rpc_client_leave(struct wsp_rpc_client *rc) {
  if (--rc->depth == 0) {
    if (rc->free_pending)
      really_free(rc);
    else
      wsp__rcsub_sweep(rc);
  }
}

/* The server sent what the protocol does not allow: count it and close. */
static void bad_input(struct wsp_rpc_client *rc, const char *why) {
  rc->stats.bad_input++;
  wsp_conn_close(rc->conn, WSP_CLOSE_PROTOCOL_ERROR, why, strlen(why));
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
                     struct call **pc, uint32_t *id);

/* rpc_client_private.h says what it does. */
int wsp__rpc_client_command(struct wsp_rpc_client *rc, int cmd,
                            const struct wsp__jbuf *req, int kind,
                            uint64_t timeout, call_cb *cb, void *user_data,
                            uint32_t *pid) {
  const char *name = wsp_proto_command_name(cmd);
  struct wsp__jbuf jb;
  struct call *c;
  uint32_t id;
  int rv;
  if (req->err)
    return req->err;
  rv = new_entry(rc, timeout, &c, &id);
  if (rv != 0)
    return rv;
  c->kind = kind;
  c->cmd = cmd;
  c->cb = cb;
  c->user_data = user_data;
  wsp__jbuf_init(&jb, &rc->mem);
  WSP__JBUF_LIT(&jb, "{\"");
  wsp__jbuf_raw(&jb, name, strlen(name));
  WSP__JBUF_LIT(&jb, "\":");
  wsp__jbuf_raw(&jb, req->data, req->len);
  WSP__JBUF_LIT(&jb, ",\"id\":");
  wsp__jbuf_u64(&jb, id);
  WSP__JBUF_LIT(&jb, "}");
  rv = issue(rc, &jb);
  wsp__jbuf_free(&jb);
  if (rv != 0) {
    wsp_corr_cancel(rc->corr, id); /* not armed: its callback stays quiet */
    return rv;
  }
  c->armed = 1;
  if (pid)
    *pid = id;
  return 0;
}

/* Subscribe s (again); on failure it ends with the error. */
int wsp__rpc_client_subscribe_cmd(struct wsp_rpc_client *rc,
                                  struct wsp__rcsub *s) {
  struct wsp__jbuf req;
  int rv;
  wsp__jbuf_init(&req, &rc->mem);
  wsp__rcsub_write(s, &req);
  rv = wsp__rpc_client_command(rc, WSP_PROTO_CMD_SUBSCRIBE, &req, K_SUB,
                               s->timeout_ms, NULL, NULL, &s->cmd_id);
  wsp__jbuf_free(&req);
  return rv;
}

/* ---- Replies ---------------------------------------------------------- */

/* The result object of a reply line: 1 with *v (an empty object when the
 * reply has none), 0 when it is not an object. */
static int result_of(const char *line, size_t n, int cmd,
                     struct wsp__json_val *v) {
  if (wsp__json_find(line, n, wsp_proto_command_name(cmd), v) != 1 ||
      v->type == WSP__JSON_NULL) {
    v->type = WSP__JSON_OBJECT;
    v->ptr = "{}";
    v->len = 2;
  }
  return v->type == WSP__JSON_OBJECT;
}

static void connect_done(struct wsp_rpc_client *rc, int status,
                         const char *line, size_t n) {
  struct wsp__json_val v, w;
  char cid[64];
  size_t len = 0;
  if (status > 0) {
    wsp_conn_close(rc->conn, WSP_CLOSE_NORMAL, NULL, 0);
    return;
  }
  if (status != 0 || rc->free_pending)
    return;
  if (!result_of(line, n, WSP_PROTO_CMD_CONNECT, &v)) {
    bad_input(rc, "bad connect result");
    return;
  }
  cid[0] = '\0';
  if (wsp__json_find(v.ptr, v.len, "client", &w) == 1 &&
      wsp__json_string_decode(&w, cid, sizeof(cid), &len) != 0)
    cid[0] = '\0';
  if (rc->cb.on_connected)
    rc->cb.on_connected(rc, cid, rc->user_data);
}

static void sub_done(struct wsp_rpc_client *rc, uint32_t id, int status,
                     const char *data, size_t len) {
  struct wsp__rcsub *s = wsp__rcsub_by_cmd(rc, id);
  struct wsp__json_val v;
  if (!s)
    return; /* unsubscribed meanwhile */
  s->cmd_id = 0;
  if (status == 0) {
    if (!result_of(data, len, WSP_PROTO_CMD_SUBSCRIBE, &v) ||
        wsp__rcsub_result(rc, s, v.ptr, v.len) != 0)
      bad_input(rc, "bad subscribe result");
  } else if (status > 0 || status == WSP_ERR_TIMEOUT) {
    wsp__rcsub_end(rc, s, status, status > 0 ? data : NULL);
  }
  /* WSP_ERR_CLOSED and WSP_ERR_CANCELLED: every subscription ends next. */
}

static void call_done(struct wsp_corr *corr, uint32_t id, int status,
                      const void *data, size_t len, void *ud) {
  struct call *c = ud;
  struct wsp_rpc_client *rc = c->rc;
  const char *p = data ? data : "";
  struct wsp__json_val v, w;
  (void)corr;
  if (c->kind == K_CONNECT) {
    connect_done(rc, status, p, len);
  } else if (c->kind == K_SUB) {
    if (c->armed)
      sub_done(rc, id, status, p, len);
  } else if (status == 0 && c->kind == K_RESULT &&
             !result_of(p, len, c->cmd, &v)) {
    if (c->armed && c->cb && !rc->free_pending)
      c->cb(rc, WSP_ERR_PROTO, (const uint8_t *)"", 0, c->user_data);
    bad_input(rc, "bad result");
  } else if (c->armed && c->cb && !rc->free_pending) {
    if (status == 0 && c->kind == K_RPC) {
      /* the rpc result's data, or nothing */
      if (wsp__json_find(p, len, "rpc", &v) == 1 &&
          v.type == WSP__JSON_OBJECT &&
          wsp__json_find(v.ptr, v.len, "data", &w) == 1)
        p = w.ptr, len = w.len;
      else
        p = "", len = 0;
    } else if (status == 0 && c->kind == K_RESULT) {
      result_of(p, len, c->cmd, &v); /* an object: checked above */
      p = v.ptr, len = v.len;
    }
    c->cb(rc, status, (const uint8_t *)p, len, c->user_data);
  }
  wsp__free(&rc->mem, c);
}

static int new_entry(struct wsp_rpc_client *rc, uint64_t timeout,
                     struct call **pc, uint32_t *id) {
  struct call *c = wsp__malloc(&rc->mem, sizeof(*c));
  int rv;
  if (!c)
    return WSP_ERR_NOMEM;
  memset(c, 0, sizeof(*c));
  c->rc = rc;
  rv =
      wsp_corr_start(rc->corr, timeout ? rc_now(rc) + timeout : WSP_NO_DEADLINE,
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
  c->kind = K_CONNECT;
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

static void reply_error(struct wsp_rpc_client *rc, uint32_t id,
                        const struct wsp__json_val *err) {
  struct wsp__json_val w;
  uint64_t code = WSP_PROTO_ERROR_INTERNAL;
  char msg[256];
  size_t mlen = 0;
  if (err->type != WSP__JSON_OBJECT) {
    bad_input(rc, "bad error");
    return;
  }
  if (wsp__json_find(err->ptr, err->len, "code", &w) == 1)
    wsp__json_get_u64(&w, &code);
  msg[0] = '\0';
  if (wsp__json_find(err->ptr, err->len, "message", &w) == 1 &&
      wsp__json_string_decode(&w, msg, sizeof(msg), &mlen) != 0)
    mlen = 0;
  msg[mlen < sizeof(msg) ? mlen : 0] = '\0';
  if (code == 0 || code > INT32_MAX)
    code = WSP_PROTO_ERROR_INTERNAL;
  wsp_corr_complete(rc->corr, id, (int)code, msg, mlen);
}

static void push_line(struct wsp_rpc_client *rc,
                      const struct wsp__json_val *push) {
  struct wsp__json_val w, d;
  struct wsp__rcsub *resub = NULL;
  int rv;
  if (push->type != WSP__JSON_OBJECT) {
    bad_input(rc, "bad push");
    return;
  }
  rc->stats.pushes++;
  if (wsp__json_find(push->ptr, push->len, "message", &w) == 1) {
    if (rc->cb.on_message) {
      if (w.type != WSP__JSON_OBJECT ||
          wsp__json_find(w.ptr, w.len, "data", &d) != 1)
        d.ptr = "", d.len = 0;
      rc->cb.on_message(rc, (const uint8_t *)d.ptr, d.len, rc->user_data);
    }
    return;
  }
  if (wsp__rcsub_push(rc, push->ptr, push->len, &resub) != 0) {
    bad_input(rc, "bad push");
    return;
  }
  if (resub && !rc->free_pending) {
    rc->stats.resubscribes++;
    rv = wsp__rpc_client_subscribe_cmd(rc, resub);
    if (rv != 0)
      wsp__rcsub_end(rc, resub, rv, NULL);
  }
}

static void reply_line(struct wsp_rpc_client *rc, const char *p, size_t n) {
  struct wsp__json_val v;
  uint64_t id = 0;
  if (wsp__json_validate(p, n, 64, NULL) != 0 ||
      wsp__json_value(p, n, &v) != 0 || v.type != WSP__JSON_OBJECT) {
    bad_input(rc, "bad JSON");
    return;
  }
  if (wsp__json_find(p, n, "id", &v) == 1 &&
      (wsp__json_get_u64(&v, &id) != 0 || id > UINT32_MAX)) {
    bad_input(rc, "bad id");
    return;
  }
  if (id > 0) {
    rc->stats.replies++;
    if (wsp__json_find(p, n, "error", &v) == 1)
      reply_error(rc, (uint32_t)id, &v);
    else
      wsp_corr_complete(rc->corr, (uint32_t)id, 0, p, n);
    return;
  }
  if (wsp__json_find(p, n, "push", &v) == 1) {
    push_line(rc, &v);
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
  if (op != WSP_OP_TEXT) {
    bad_input(rc, "binary message");
    return;
  }
  /* Held like an API call even when the application drives the
   * connection itself, so that no record is freed under the loops of
   * subs.c; the sweep waits for the next API call. */
  rc->depth++;
  while (p < end && !rc->free_pending &&
         wsp_conn_get_state(rc->conn) == WSP_STATE_OPEN) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    if (le > p)
      reply_line(rc, p, (size_t)(le - p));
    p = nl ? nl + 1 : end;
  }
  rc->depth--;
}

static void conn_close(struct wsp_conn *conn, int code, const uint8_t *r,
                       size_t n, void *ud) {
  struct wsp_rpc_client *rc = ud;
  (void)conn;
  (void)r;
  (void)n;
  rc->depth++; /* as in conn_message */
  wsp_corr_cancel_all(rc->corr, WSP_ERR_CLOSED);
  wsp__rcsub_end_all(rc, WSP_ERR_CLOSED);
  if (rc->cb.on_disconnected && !rc->free_pending)
    rc->cb.on_disconnected(rc, code, rc->user_data);
  rc->depth--;
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
  if (!rc || rc->freeing)
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
  if (!rc ||
      (connect_data &&
       wsp__json_validate(connect_data, strlen(connect_data), 64, NULL) != 0))
    return rc ? WSP_ERR_JSON : WSP_ERR_INVAL;
  if (rc->connect_data || rc->token || rc->opened)
    return WSP_ERR_STATE;
  if (connect_data && !(rc->connect_data = wsp__strndup(&rc->mem, connect_data,
                                                        strlen(connect_data))))
    return WSP_ERR_NOMEM;
  if (token && !(rc->token = wsp__strndup(&rc->mem, token, strlen(token))))
    return WSP_ERR_NOMEM;
  wsp__rpc_client_enter(rc);
  rv = wsp_conn_client_start(rc->conn, host, path, NULL);
  wsp__rpc_client_leave(rc);
  return rv;
}

/* Commands can be made: 0, or why not. */
int wsp__rpc_client_can_command(const struct wsp_rpc_client *rc) {
  if (rc->freeing || rc->free_pending)
    return WSP_ERR_STATE;
  if (wsp_conn_get_state(rc->conn) > WSP_STATE_OPEN)
    return WSP_ERR_CLOSED;
  return 0;
}

int wsp_rpc_client_call(struct wsp_rpc_client *rc, const char *method,
                        const void *data, size_t len, uint64_t timeout_ms,
                        call_cb *cb, void *user_data) {
  struct wsp__jbuf req;
  int rv;
  if (!rc || !method || !cb || (len && !data))
    return WSP_ERR_INVAL;
  if (len && wsp__json_validate(data, len, 64, NULL) != 0)
    return WSP_ERR_JSON;
  if ((rv = wsp__rpc_client_can_command(rc)) != 0)
    return rv;
  wsp__jbuf_init(&req, &rc->mem);
  WSP__JBUF_LIT(&req, "{\"method\":");
  wsp__jbuf_str(&req, method, strlen(method));
  if (len) {
    WSP__JBUF_LIT(&req, ",\"data\":");
    wsp__jbuf_raw_value(&req, data, len);
  }
  WSP__JBUF_LIT(&req, "}");
  wsp__rpc_client_enter(rc);
  rv = wsp__rpc_client_command(rc, WSP_PROTO_CMD_RPC, &req, K_RPC, timeout_ms,
                               cb, user_data, NULL);
  wsp__rpc_client_leave(rc);
  wsp__jbuf_free(&req);
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
  if ((rv = wsp__rpc_client_can_command(rc)) != 0)
    return rv;
  wsp__jbuf_init(&jb, &rc->mem);
  WSP__JBUF_LIT(&jb, "{\"send\":{");
  if (len) {
    WSP__JBUF_LIT(&jb, "\"data\":");
    wsp__jbuf_raw_value(&jb, data, len);
  }
  WSP__JBUF_LIT(&jb, "}}");
  wsp__rpc_client_enter(rc);
  rv = issue(rc, &jb);
  wsp__rpc_client_leave(rc);
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
  wsp__rpc_client_enter(rc);
  rv = wsp_conn_recv(rc->conn, data, len);
  wsp__rpc_client_leave(rc);
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
  wsp__rpc_client_enter(rc);
  rv = wsp_conn_tick(rc->conn, now);
  wsp_corr_tick(rc->corr, now);
  wsp__rpc_client_leave(rc);
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
  wsp__rpc_client_enter(rc);
  rv = wsp_conn_close(rc->conn, code, reason, reason ? strlen(reason) : 0);
  wsp__rpc_client_leave(rc);
  return rv;
}

struct wsp_conn *wsp_rpc_client_get_conn(const struct wsp_rpc_client *rc) {
  return rc ? rc->conn : NULL;
}

void *wsp_rpc_client_get_user_data(const struct wsp_rpc_client *rc) {
  return rc ? rc->user_data : NULL;
}
