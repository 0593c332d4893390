/*
 * The client role's subscriptions: one record per channel, its position
 * (the offset of the last publication handed over and the stream's
 * epoch), the subscribe command it writes and the results and pushes it
 * reads. Everything from the server is checked before any callback
 * fires, so that a malformed message delivers nothing and closes the
 * connection (client.c) instead of delivering half.
 */
#include <string.h>

#include "rpc_client_private.h"
#include "wsp/proto.h"

/* ---- Reading fields: absent or null is the zero value ----------------- */

static int present(const char *obj, size_t len, const char *name,
                   struct wsp__json_val *v) {
  return wsp__json_find(obj, len, name, v) == 1 && v->type != WSP__JSON_NULL;
}

static int get_bool(const char *obj, size_t len, const char *name, int *out) {
  struct wsp__json_val v;
  *out = 0;
  return present(obj, len, name, &v) ? wsp__json_get_bool(&v, out) : 0;
}

static int get_u64(const char *obj, size_t len, const char *name,
                   uint64_t *out) {
  struct wsp__json_val v;
  *out = 0;
  return present(obj, len, name, &v) ? wsp__json_get_u64(&v, out) : 0;
}

/* Any value as its raw text, or empty. */
static void get_raw(const char *obj, size_t len, const char *name,
                    struct wsp_str *out) {
  struct wsp__json_val v;
  out->ptr = "";
  out->len = 0;
  if (present(obj, len, name, &v)) {
    out->ptr = v.ptr;
    out->len = v.len;
  }
}

/* An object as its raw text, or empty; WSP_ERR_JSON for another type. */
static int get_obj(const char *obj, size_t len, const char *name,
                   struct wsp_str *out) {
  struct wsp__json_val v;
  get_raw(obj, len, name, out);
  if (out->len && (wsp__json_value(out->ptr, out->len, &v) != 0 ||
                   v.type != WSP__JSON_OBJECT))
    return WSP_ERR_JSON;
  return 0;
}

/* A string with no NUL, decoded into out: WSP_ERR_LIMIT (out "") when
 * it has cap bytes or more, WSP_ERR_JSON for another type. */
static int get_str(const char *obj, size_t len, const char *name, char *out,
                   size_t cap) {
  struct wsp__json_val v;
  size_t n = 0;
  int rv = 0;
  out[0] = '\0';
  if (!present(obj, len, name, &v))
    return 0;
  if (v.type != WSP__JSON_STRING)
    rv = WSP_ERR_JSON;
  else if (wsp__json_string_decode(&v, out, cap, &n) != 0 || n >= cap)
    rv = WSP_ERR_LIMIT;
  else if (memchr(out, '\0', n))
    rv = WSP_ERR_JSON;
  if (rv)
    out[0] = '\0';
  return rv;
}

/* One Publication object; its own channel, when it has one, is decoded
 * into chbuf (WSP_RPC_CLIENT_CHANNEL_MAX + 1 bytes). */
static int read_pub(const struct wsp__json_val *v, struct wsp_rpc_client_pub *p,
                    char *chbuf) {
  memset(p, 0, sizeof(*p));
  if (v->type != WSP__JSON_OBJECT ||
      get_str(v->ptr, v->len, "channel", chbuf,
              WSP_RPC_CLIENT_CHANNEL_MAX + 1) != 0)
    return WSP_ERR_JSON;
  if (chbuf[0])
    p->pub_channel = chbuf;
  get_raw(v->ptr, v->len, "data", &p->data);
  if (get_u64(v->ptr, v->len, "offset", &p->offset) != 0 ||
      get_obj(v->ptr, v->len, "info", &p->info) != 0 ||
      get_obj(v->ptr, v->len, "tags", &p->tags) != 0)
    return WSP_ERR_JSON;
  return 0;
}

/* ---- Records ---------------------------------------------------------- */

struct wsp__rcsub *wsp__rcsub_find(const struct wsp_rpc_client *rc,
                                   const char *name, size_t len) {
  struct wsp__rcsub *s;
  for (s = rc->subs; s; s = s->next)
    if (!s->dead && s->len == len && memcmp(s->channel, name, len) == 0)
      return s;
  return NULL;
}

struct wsp__rcsub *wsp__rcsub_find_json(const struct wsp_rpc_client *rc,
                                        const struct wsp__json_val *v) {
  struct wsp__rcsub *s;
  if (v->type != WSP__JSON_STRING || v->len < 2)
    return NULL;
  if (!memchr(v->ptr, '\\', v->len)) /* the bytes are the name */
    return wsp__rcsub_find(rc, v->ptr + 1, v->len - 2);
  for (s = rc->subs; s; s = s->next)
    if (!s->dead && wsp__json_key_is(v, s->channel))
      return s;
  return NULL;
}

struct wsp__rcsub *wsp__rcsub_by_cmd(const struct wsp_rpc_client *rc,
                                     uint32_t id) {
  struct wsp__rcsub *s;
  for (s = rc->subs; s; s = s->next)
    if (!s->dead && s->cmd_id == id)
      return s;
  return NULL;
}

static void rec_free(struct wsp_rpc_client *rc, struct wsp__rcsub *s) {
  wsp__free(&rc->mem, s->channel);
  wsp__free(&rc->mem, s->token);
  wsp__free(&rc->mem, s->data);
  wsp__free(&rc->mem, s);
}

int wsp__rcsub_add(struct wsp_rpc_client *rc, const char *channel, size_t len,
                   const struct wsp_rpc_client_sub_opts *opts,
                   const struct wsp_rpc_client_sub_callbacks *cb,
                   void *user_data, struct wsp__rcsub **out) {
  struct wsp__rcsub *s = wsp__malloc(&rc->mem, sizeof(*s));
  if (!s)
    return WSP_ERR_NOMEM;
  memset(s, 0, sizeof(*s));
  s->channel = wsp__strndup(&rc->mem, channel, len);
  if (opts && opts->token)
    s->token = wsp__strndup(&rc->mem, opts->token, strlen(opts->token));
  if (opts && opts->data)
    s->data = wsp__strndup(&rc->mem, opts->data, strlen(opts->data));
  if (!s->channel || (opts && opts->token && !s->token) ||
      (opts && opts->data && !s->data)) {
    rec_free(rc, s);
    return WSP_ERR_NOMEM;
  }
  s->len = len;
  if (cb)
    s->cb = *cb;
  s->user_data = user_data;
  s->state = WSP__RCSUB_SUBSCRIBING;
  if (opts) {
    s->positioned = opts->positioned != 0;
    s->recoverable = opts->recoverable != 0;
    s->join_leave = opts->join_leave != 0;
    s->timeout_ms = opts->timeout_ms;
    if (opts->since) {
      s->pos.offset = opts->since->offset;
      memcpy(s->pos.epoch, opts->since->epoch, sizeof(s->pos.epoch) - 1);
      s->pos.epoch[sizeof(s->pos.epoch) - 1] = '\0';
      s->recover = 1;
    }
  }
  s->next = rc->subs;
  rc->subs = s;
  *out = s;
  return 0;
}

void wsp__rcsub_write(const struct wsp__rcsub *s, struct wsp__jbuf *jb) {
  WSP__JBUF_LIT(jb, "{\"channel\":");
  wsp__jbuf_str(jb, s->channel, s->len);
  if (s->token) {
    WSP__JBUF_LIT(jb, ",\"token\":");
    wsp__jbuf_str(jb, s->token, strlen(s->token));
  }
  if (s->data) {
    WSP__JBUF_LIT(jb, ",\"data\":");
    wsp__jbuf_raw_value(jb, s->data, strlen(s->data));
  }
  if (s->recover) {
    WSP__JBUF_LIT(jb, ",\"recover\":true");
    if (s->pos.epoch[0]) {
      WSP__JBUF_LIT(jb, ",\"epoch\":");
      wsp__jbuf_str(jb, s->pos.epoch, strlen(s->pos.epoch));
    }
    if (s->pos.offset) {
      WSP__JBUF_LIT(jb, ",\"offset\":");
      wsp__jbuf_u64(jb, s->pos.offset);
    }
  }
  if (s->positioned)
    WSP__JBUF_LIT(jb, ",\"positioned\":true");
  if (s->recoverable)
    WSP__JBUF_LIT(jb, ",\"recoverable\":true");
  if (s->join_leave)
    WSP__JBUF_LIT(jb, ",\"join_leave\":true");
  WSP__JBUF_LIT(jb, "}");
}

/* ---- Delivering ------------------------------------------------------- */

static int gone(const struct wsp_rpc_client *rc, const struct wsp__rcsub *s) {
  return s->dead || rc->free_pending;
}

static void deliver(struct wsp_rpc_client *rc, struct wsp__rcsub *s,
                    struct wsp_rpc_client_pub *p) {
  p->channel = s->channel;
  if (!p->pub_channel)
    p->pub_channel = s->channel;
  /* Only a stream with an epoch has a position: the publications of a
   * wildcard subscription carry the offsets of several streams. */
  if (p->offset && s->pos.epoch[0])
    s->pos.offset = p->offset;
  rc->stats.publications++;
  if (s->cb.on_publication)
    s->cb.on_publication(rc, p, s->user_data);
}

int wsp__rcsub_result(struct wsp_rpc_client *rc, struct wsp__rcsub *s,
                      const char *res, size_t len) {
  struct wsp_rpc_client_subscribed v;
  struct wsp_rpc_client_pub p;
  char chbuf[WSP_RPC_CLIENT_CHANNEL_MAX + 1];
  struct wsp__json_val pubs, e;
  size_t pos = 0;
  int r;
  memset(&v, 0, sizeof(v));
  memset(&pubs, 0, sizeof(pubs));
  get_raw(res, len, "data", &v.data);
  if (get_bool(res, len, "recoverable", &v.recoverable) != 0 ||
      get_bool(res, len, "positioned", &v.positioned) != 0 ||
      get_bool(res, len, "was_recovering", &v.was_recovering) != 0 ||
      get_bool(res, len, "recovered", &v.recovered) != 0 ||
      get_u64(res, len, "offset", &v.pos.offset) != 0 ||
      get_str(res, len, "epoch", v.pos.epoch, sizeof(v.pos.epoch)) != 0)
    return WSP_ERR_PROTO;
  if (present(res, len, "publications", &pubs)) {
    if (pubs.type != WSP__JSON_ARRAY)
      return WSP_ERR_PROTO;
    while ((r = wsp__json_array_next(pubs.ptr, pubs.len, &pos, &e)) == 1) {
      if (read_pub(&e, &p, chbuf) != 0)
        return WSP_ERR_PROTO;
      v.publications++;
    }
    if (r != 0)
      return WSP_ERR_PROTO;
  }
  s->state = WSP__RCSUB_SUBSCRIBED;
  s->cmd_id = 0;
  s->recover = 0;
  s->pos = v.pos;
  v.channel = s->channel;
  if (s->cb.on_subscribed)
    s->cb.on_subscribed(rc, &v, s->user_data);
  pos = 0;
  while (v.publications && !gone(rc, s) &&
         wsp__json_array_next(pubs.ptr, pubs.len, &pos, &e) == 1) {
    read_pub(&e, &p, chbuf);
    p.recovered = 1;
    deliver(rc, s, &p);
  }
  return 0;
}

void wsp__rcsub_end(struct wsp_rpc_client *rc, struct wsp__rcsub *s, int code,
                    const char *reason) {
  struct wsp_rpc_client_unsubscribed u;
  if (s->dead)
    return;
  s->dead = 1;
  memset(&u, 0, sizeof(u));
  u.channel = s->channel;
  u.code = code;
  u.reason = reason ? reason : "";
  u.pos = s->pos;
  if (s->cb.on_unsubscribed)
    s->cb.on_unsubscribed(rc, &u, s->user_data);
}

void wsp__rcsub_end_all(struct wsp_rpc_client *rc, int code) {
  struct wsp__rcsub *s;
  /* Records are only freed by the sweep, so the list holds still; a
   * subscription added meanwhile goes first and is not reached. */
  for (s = rc->subs; s; s = s->next)
    wsp__rcsub_end(rc, s, code, NULL);
}

void wsp__rcsub_sweep(struct wsp_rpc_client *rc) {
  struct wsp__rcsub **pp = &rc->subs;
  while (*pp) {
    struct wsp__rcsub *s = *pp;
    if (s->dead) {
      *pp = s->next;
      rec_free(rc, s);
    } else {
      pp = &s->next;
    }
  }
}

/* ---- Pushes ----------------------------------------------------------- */

int wsp__rcsub_push(struct wsp_rpc_client *rc, const char *push, size_t len,
                    struct wsp__rcsub **resub) {
  struct wsp__json_val ch, v;
  struct wsp__rcsub *s;
  struct wsp_rpc_client_pub p;
  char chbuf[WSP_RPC_CLIENT_CHANNEL_MAX + 1];
  struct wsp_str info;
  char reason[256];
  uint64_t code;
  *resub = NULL;
  if (!present(push, len, "channel", &ch))
    return 0;
  if (ch.type != WSP__JSON_STRING)
    return WSP_ERR_PROTO;
  s = wsp__rcsub_find_json(rc, &ch);
  if (present(push, len, "pub", &v)) {
    if (read_pub(&v, &p, chbuf) != 0)
      return WSP_ERR_PROTO;
    /* Before the subscribe reply, only a publication of an earlier
     * subscription can come: the recovery brings it again. */
    if (s && s->state == WSP__RCSUB_SUBSCRIBED)
      deliver(rc, s, &p);
  } else if (present(push, len, "join", &v) ||
             present(push, len, "leave", &v)) {
    struct wsp__json_val j;
    int join = present(push, len, "join", &j);
    if (v.type != WSP__JSON_OBJECT || get_obj(v.ptr, v.len, "info", &info) != 0)
      return WSP_ERR_PROTO;
    if (!s || s->state != WSP__RCSUB_SUBSCRIBED)
      return 0;
    if (join && s->cb.on_join)
      s->cb.on_join(rc, s->channel, &info, s->user_data);
    else if (!join && s->cb.on_leave)
      s->cb.on_leave(rc, s->channel, &info, s->user_data);
  } else if (present(push, len, "unsubscribe", &v)) {
    if (v.type != WSP__JSON_OBJECT ||
        get_u64(v.ptr, v.len, "code", &code) != 0 || code > INT32_MAX ||
        get_str(v.ptr, v.len, "reason", reason, sizeof(reason)) == WSP_ERR_JSON)
      return WSP_ERR_PROTO; /* a reason too long to keep is left out */
    if (!s)
      return 0;
    if (code == 0)
      code = WSP_PROTO_UNSUBSCRIBE_SERVER;
    if (code < WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE) {
      wsp__rcsub_end(rc, s, (int)code, reason);
    } else if (s->state == WSP__RCSUB_SUBSCRIBED) {
      /* Subscribe again, recovering from where the publications left
       * off when there is a position to recover from; "state
       * invalidated" says that position is worth nothing. */
      if (code == WSP_PROTO_UNSUBSCRIBE_STATE_INVALIDATED)
        memset(&s->pos, 0, sizeof(s->pos));
      s->state = WSP__RCSUB_SUBSCRIBING;
      s->recover = s->pos.offset != 0 || s->pos.epoch[0] != '\0';
      *resub = s;
    }
  }
  return 0;
}
