/*
 * The default wire protocol: the Centrifuge client protocol v2 in JSON
 * (see wsp-protocol(7)): parsing and dispatching commands. A WebSocket
 * message holds commands separated by '\n', handled strictly in order;
 * the replies and pushes they cause are collected in the client's batch
 * (cf_out.c, which writes every reply and push) and leave as one
 * WebSocket message.
 */
#include <stdio.h>
#include <string.h>

#include "hub/hub_private.h"

#define MAX_DEPTH 64

#define CMD_NONE (-1)

/* The commands' request fields, by WSP_PROTO_CMD_* (from the one list). */
#define CMD_NAME(name, num, field) [num] = field,
static const char *const cmd_names[WSP_PROTO_CMD__COUNT] = {
    WSP_PROTO_COMMAND_LIST(CMD_NAME)};
#undef CMD_NAME

/* ---- Commands --------------------------------------------------------- */

static int bad_request(struct wsp_client *cl) {
  cl->srv->stats.errors_protocol++;
  wsp__client_close(cl, WSP_PROTO_DISCONNECT_BAD_REQUEST, "bad request");
  return -1;
}

/* Decode the string member name of obj into buf; 1 found, 0 absent, -1
 * not a string or too long. */
static int get_string(const struct wsp__json_val *obj, const char *name,
                      char *buf, size_t cap, size_t *len) {
  struct wsp__json_val v;
  *len = 0;
  buf[0] = '\0';
  if (wsp__json_find(obj->ptr, obj->len, name, &v) != 1 ||
      v.type == WSP__JSON_NULL)
    return 0;
  if (v.type != WSP__JSON_STRING ||
      wsp__json_string_decode(&v, buf, cap, len) != 0)
    return -1;
  return 1;
}

static void get_raw(const struct wsp__json_val *obj, const char *name,
                    struct wsp_str *out) {
  struct wsp__json_val v;
  out->ptr = NULL;
  out->len = 0;
  if (wsp__json_find(obj->ptr, obj->len, name, &v) == 1 &&
      v.type != WSP__JSON_NULL) {
    out->ptr = v.ptr;
    out->len = v.len;
  }
}

static int make_client_id(const struct wsp_mem *mem, char out[37]) {
  uint8_t b[16];
  static const char hex[] = "0123456789abcdef";
  int i, k = 0;
  if (wsp__random(mem, b, sizeof(b)) != 0)
    return WSP_ERR_RANDOM;
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[k++] = '-';
    out[k++] = hex[b[i] >> 4];
    out[k++] = hex[b[i] & 15];
  }
  out[k] = '\0';
  return 0;
}

static int do_refresh(struct wsp_client *cl, uint32_t id,
                      const struct wsp__json_val *req) {
  struct wsp_server *s = cl->srv;
  struct wsp__json_val tv;
  struct wsp_str tok = {"", 0};
  char *token = NULL;
  size_t tlen = 0;
  int rv;
  if (!s->cb.on_refresh && !s->tokens) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_NOT_AVAILABLE, NULL, 0);
    return 0;
  }
  if (wsp__json_find(req->ptr, req->len, "token", &tv) == 1 &&
      tv.type == WSP__JSON_STRING) {
    token = wsp__malloc(&s->mem, tv.len);
    if (!token) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
      return 0;
    }
    wsp__json_string_decode(&tv, token, tv.len, &tlen);
    tok.ptr = token;
    tok.len = tlen;
  }
  rv = s->tokens ? wsp__tok_refresh(cl, tok.ptr, tok.len) : 0;
  if (rv == 0 && s->cb.on_refresh)
    rv = s->cb.on_refresh(cl, &tok, s->user_data);
  wsp__free(&s->mem, token);
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN || cl->free_pending)
    return -1;
  if (rv != 0) {
    wsp__cf_out_error(cl, id, rv > 0 ? (uint32_t)rv : WSP_PROTO_ERROR_INTERNAL,
                      NULL, rv < 0);
    return 0;
  }
  wsp__cf_out_refresh(cl, id, wsp__server_now(s));
  return 0;
}

static int do_connect(struct wsp_client *cl, uint32_t id,
                      const struct wsp__json_val *req) {
  struct wsp_server *s = cl->srv;
  struct wsp_connect_info info;
  char name[256], version[256], *token = NULL;
  size_t nlen, vlen, tlen = 0;
  uint64_t interval = s->limits[WSP_SERVER_PING_INTERVAL], now;
  struct wsp__json_val tv, subs;
  struct wsp__jbuf sj;
  int rv = 0;

  memset(&info, 0, sizeof(info));
  if (get_string(req, "name", name, sizeof(name), &nlen) < 0 ||
      get_string(req, "version", version, sizeof(version), &vlen) < 0)
    return bad_request(cl);
  /* Positions for server-side subscriptions: checked before anyone hears
   * of the connect, like those of a subscribe. */
  if (wsp__json_find(req->ptr, req->len, "subs", &subs) != 1 ||
      subs.type == WSP__JSON_NULL) {
    subs.type = 0;
  } else if (wsp__hist_check_subs(&subs) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
    return 0;
  }
  if (wsp__json_find(req->ptr, req->len, "token", &tv) == 1 &&
      tv.type != WSP__JSON_NULL) {
    if (tv.type != WSP__JSON_STRING)
      return bad_request(cl);
    token = wsp__malloc(&s->mem, tv.len);
    if (!token) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
      return 0;
    }
    wsp__json_string_decode(&tv, token, tv.len, &tlen);
  }
  info.token.ptr = token ? token : "";
  info.token.len = tlen;
  info.name.ptr = name;
  info.name.len = nlen;
  info.version.ptr = version;
  info.version.len = vlen;
  get_raw(req, "data", &info.data);
  if (!info.data.ptr)
    info.data.ptr = "";
  if (make_client_id(&cl->srv->mem, cl->id) != 0) {
    wsp__free(&s->mem, token);
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return 0;
  }
  /* Server-side subscriptions made from here to the reply (the token's
   * channels, wsp_server_subscribe() in on_connect) are reported in the
   * reply's subs map rather than by subscribe pushes. */
  cl->cf.connecting = 1;
  if (s->tokens)
    rv = wsp__tok_connect(cl, info.token.ptr, info.token.len);
  if (rv == 0 && s->cb.on_connect)
    rv = s->cb.on_connect(cl, &info, s->user_data);
  if (rv == 0 && wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN)
    wsp__tok_connected(cl);
  cl->cf.connecting = 0;
  wsp__free(&s->mem, token);
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN || cl->free_pending)
    return -1;
  if (rv != 0) {
    uint32_t code = rv > 0 ? (uint32_t)rv : WSP_PROTO_ERROR_INTERNAL;
    wsp__ch_connect_failed(cl);
    cl->id[0] = '\0';
    wsp__cf_out_error(cl, id, code, NULL, code == WSP_PROTO_ERROR_INTERNAL);
    return 0;
  }
  cl->cf.connected = 1;
  cl->cf.stale_due = WSP_NO_DEADLINE;
  now = wsp__server_now(s);
  if (interval) {
    /* The first ping comes at a random point in the second half of the
     * interval, so that connections made together do not ping together. */
    uint32_t r = 0;
    if (wsp__random(&s->mem, &r, sizeof(r)) != 0)
      r = 0;
    cl->cf.ping_due =
        now + interval / 2 + (interval / 2 ? r % (interval / 2) : 0);
  }
  wsp__jbuf_init(&sj, &s->mem);
  if (wsp__ch_connected(cl, subs.type ? &subs : NULL, &sj) != 0) {
    wsp__jbuf_free(&sj);
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SERVER_ERROR,
                      "internal server error");
    return -1;
  }
  wsp__cf_out_connect(cl, id, now, interval, &sj);
  wsp__jbuf_free(&sj);
  return wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN ? 0 : -1;
}

/* One command line. Returns -1 once the connection is closing. */
static int do_line(struct wsp_client *cl, const char *line, size_t len) {
  struct wsp_server *s = cl->srv;
  struct wsp__json_val key, val, req = {0, NULL, 0};
  size_t pos = 0;
  uint64_t id = 0;
  int kind = CMD_NONE, r, i;

  if (wsp__json_validate(line, len, MAX_DEPTH, NULL) != 0) {
    s->stats.errors_json++;
    return bad_request(cl);
  }
  while ((r = wsp__json_object_next(line, len, &pos, &key, &val)) == 1) {
    if (wsp__json_key_is(&key, "id")) {
      if (wsp__json_get_u64(&val, &id) != 0 || id > UINT32_MAX)
        return bad_request(cl);
      continue;
    }
    if (val.type == WSP__JSON_NULL)
      continue;
    /* With several request fields, the one Centrifuge dispatches: the
     * first in client.proto's order, which is the list's. */
    for (i = 0; i < WSP_PROTO_CMD__COUNT; i++) {
      if (wsp__json_key_is(&key, cmd_names[i])) {
        if (kind == CMD_NONE || i < kind) {
          kind = i;
          req = val;
        }
        break;
      }
    }
  }
  if (r < 0)
    return bad_request(cl); /* not an object */
  s->stats.commands++;
  wsp__metrics_command(&s->metrics,
                       kind == CMD_NONE ? WSP__METRICS_PONG : kind);

  if (kind == CMD_NONE) {
    /* The empty command is the pong; only one per ping. */
    if (id != 0 || !cl->cf.connected || !cl->cf.awaiting_pong)
      return bad_request(cl);
    cl->cf.awaiting_pong = 0;
    cl->cf.pong_due = WSP_NO_DEADLINE;
    return 0;
  }
  if (req.type != WSP__JSON_OBJECT)
    return bad_request(cl);
  if (id == 0 && kind != WSP_PROTO_CMD_SEND)
    return bad_request(cl);
  if (cl->cf.connected == (kind == WSP_PROTO_CMD_CONNECT))
    return bad_request(cl); /* connect first, and only once */

  switch (kind) {
  case WSP_PROTO_CMD_CONNECT:
    return do_connect(cl, (uint32_t)id, &req);
  case WSP_PROTO_CMD_SEND: {
    struct wsp_str data;
    if (!s->cb.on_send) {
      wsp__client_close(cl, WSP_PROTO_DISCONNECT_NOT_AVAILABLE,
                        "not available");
      return -1;
    }
    get_raw(&req, "data", &data);
    s->cb.on_send(cl, (const uint8_t *)(data.ptr ? data.ptr : ""), data.len,
                  s->user_data);
    return wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN ? 0 : -1;
  }
  case WSP_PROTO_CMD_RPC: {
    char method[256];
    size_t mlen;
    struct wsp_str data;
    if (get_string(&req, "method", method, sizeof(method), &mlen) < 0 ||
        memchr(method, '\0', mlen)) {
      wsp__cf_out_error(cl, (uint32_t)id, WSP_PROTO_ERROR_METHOD_NOT_FOUND,
                        NULL, 0);
      return 0;
    }
    get_raw(&req, "data", &data);
    wsp__rpc_dispatch(cl, (uint32_t)id, method, data.ptr, data.len);
    return wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN ? 0 : -1;
  }
  case WSP_PROTO_CMD_PING:
    return bad_request(cl); /* heartbeats are server-initiated */
  case WSP_PROTO_CMD_REFRESH:
    return do_refresh(cl, (uint32_t)id, &req);
  case WSP_PROTO_CMD_SUB_REFRESH:
    wsp__tok_sub_refresh(cl, (uint32_t)id, &req);
    return wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN ? 0 : -1;
  case WSP_PROTO_CMD_SUBSCRIBE:
  case WSP_PROTO_CMD_UNSUBSCRIBE:
  case WSP_PROTO_CMD_PUBLISH:
  case WSP_PROTO_CMD_PRESENCE:
  case WSP_PROTO_CMD_PRESENCE_STATS:
  case WSP_PROTO_CMD_HISTORY:
    wsp__ch_command(cl, kind, (uint32_t)id, &req);
    return wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN ? 0 : -1;
  default:
    wsp__cf_out_error(cl, (uint32_t)id, WSP_PROTO_ERROR_NOT_AVAILABLE, NULL, 0);
    return 0;
  }
}

/* The replies gathered so far already pass what the connection may
 * queue: building more would only hold more memory (a message of history
 * commands can ask for far more than it weighs). Drops them and closes;
 * returns 1 then. */
static int overflowed(struct wsp_client *cl) {
  if (wsp__cf_out_batched(cl) + wsp_conn_queued_bytes(cl->conn) <=
      cl->srv->limits[WSP_SERVER_MAX_QUEUED])
    return 0;
  cl->cf.batching = 0;
  wsp__cf_out_overflow(cl);
  return 1;
}

/* One Protobuf Command, as the JSON command it stands for: -1 once the
 * connection is closing. */
static int do_command(struct wsp_client *cl, const uint8_t *cmd, size_t len,
                      struct wsp__jbuf *line) {
  struct wsp_server *s = cl->srv;
  uint32_t id;
  int rv;
  wsp__jbuf_reset(line);
  rv = wsp__pb_json_decode(&wsp__pb_schema_command, cmd, len, line);
  if (rv == 0)
    return do_line(cl, line->data, line->len);
  if (rv == WSP_ERR_NOMEM) {
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SERVER_ERROR,
                      "internal server error");
    return -1;
  }
  id = wsp__pb_json_id(cmd, len);
  if (rv != WSP_ERR_JSON || id == 0)
    return bad_request(cl);
  /* A payload that is not JSON: the hub carries JSON only. */
  s->stats.commands++;
  s->stats.errors_json++;
  wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
  return 0;
}

/* A binary message of a Protobuf client: Commands, each preceded by its
 * length as a varint. */
static void pb_message(struct wsp_client *cl, const uint8_t *data, size_t len) {
  const uint8_t *p = data, *end = data + len;
  struct wsp__jbuf line;
  size_t n;
  if (len == 0) {
    bad_request(cl);
    return;
  }
  wsp__jbuf_init(&line, &cl->srv->mem);
  cl->cf.batching = 1;
  while (p < end && !cl->gone) {
    if (wsp__pb_len(&p, end, &n) != 0) {
      bad_request(cl);
      break;
    }
    p += n;
    if (do_command(cl, p - n, n, &line) < 0)
      break;
    if (overflowed(cl)) {
      wsp__jbuf_free(&line);
      return;
    }
  }
  wsp__jbuf_free(&line);
  cl->cf.batching = 0;
  wsp__cf_out_flush(cl);
}

static void cf_message(struct wsp_client *cl, int opcode, const uint8_t *data,
                       size_t len, void *codec_data) {
  const char *p = (const char *)data, *end = p + len;

  (void)codec_data;
  if (opcode != (cl->cf.protobuf ? WSP_OP_BINARY : WSP_OP_TEXT)) {
    cl->srv->stats.errors_protocol++;
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_INAPPROPRIATE_PROTOCOL,
                      cl->cf.protobuf ? "text frames are not Protobuf"
                                      : "binary frames are not JSON");
    return;
  }
  if (cl->cf.protobuf) {
    pb_message(cl, data, len);
    return;
  }
  if (len == 0) {
    bad_request(cl);
    return;
  }
  cl->cf.batching = 1;
  /* A callback may free the client (deferred while we run): its
   * connection is over at once, and the rest of the message with it. */
  while (p < end && !cl->gone) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    /* An empty line is a bad request, as in Centrifuge, even at the end;
     * a newline after the last command ends the loop before it. */
    if (le == p || do_line(cl, p, (size_t)(le - p)) < 0) {
      if (le == p)
        bad_request(cl);
      break;
    }
    p = nl ? nl + 1 : end;
    if (overflowed(cl))
      return;
  }
  cl->cf.batching = 0;
  wsp__cf_out_flush(cl);
}

void wsp__cf_dispatch_accept(struct wsp_client *cl) {
  /* As Centrifugo: Protobuf when asked for, JSON by default (also under
   * its own name). */
  cl->cf.protobuf =
      wsp_conn_set_protocol(cl->conn, WSP_PROTO_SUBPROTOCOL_PROTOBUF) == 0;
  if (!cl->cf.protobuf)
    (void)wsp_conn_set_protocol(cl->conn, WSP_PROTO_SUBPROTOCOL_JSON);
}

static void cf_tick(struct wsp_client *cl, uint64_t now, void *codec_data) {
  struct wsp_server *s = cl->srv;
  (void)codec_data;
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return;
  if (now >= cl->sub_due && now < cl->expire_due)
    wsp__tok_tick(cl, now);
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return;
  if (now >= cl->expire_due) {
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_EXPIRED, "expired");
  } else if (now >= cl->cf.stale_due) {
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_STALE, "stale");
  } else if (now >= cl->cf.pong_due) {
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_NO_PONG, "no pong");
  } else if (now >= cl->cf.ping_due) {
    uint64_t pt = s->limits[WSP_SERVER_PONG_TIMEOUT];
    wsp__cf_out_ping(cl);
    uint64_t interval = s->limits[WSP_SERVER_PING_INTERVAL];
    cl->cf.ping_due = interval ? now + interval : WSP_NO_DEADLINE;
    if (!cl->cf.awaiting_pong) {
      cl->cf.awaiting_pong = 1;
      cl->cf.pong_due = pt ? now + pt : WSP_NO_DEADLINE;
    }
  }
}

static void cf_open(struct wsp_client *cl, void *codec_data) {
  uint64_t st = cl->srv->limits[WSP_SERVER_STALE_TIMEOUT];
  (void)codec_data;
  if (st)
    cl->cf.stale_due = wsp__server_now(cl->srv) + st;
}

static uint64_t cf_next_deadline(const struct wsp_client *cl,
                                 void *codec_data) {
  uint64_t d = cl->cf.stale_due;
  (void)codec_data;
  if (cl->expire_due < d)
    d = cl->expire_due;
  if (cl->sub_due < d)
    d = cl->sub_due;
  if (cl->cf.ping_due < d)
    d = cl->cf.ping_due;
  if (cl->cf.pong_due < d)
    d = cl->cf.pong_due;
  return d;
}

const struct wsp_codec wsp__cf_dispatch_codec = {
    cf_open, cf_message, NULL, cf_tick, cf_next_deadline,
};
