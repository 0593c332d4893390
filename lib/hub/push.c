/*
 * Message pushes on the hub: pushes to a client, a user, a group of users
 * or everyone (the users index is users.c's), and the
 * server-side subscribe, unsubscribe and disconnect of every connection
 * of a user. A push is encoded once into a shared frame and queued to
 * each target by reference (wsp__ch_deliver). With an engine each of
 * these also goes to the other nodes (control.c), which do the same for
 * their own connections (wsp__push_apply); the counts returned are this
 * node's.
 */
#include <stdio.h>
#include <string.h>

#include "hub_private.h"

struct each_user {
  struct wsp_frame *frame;
  const char *channel; /* subscribe/unsubscribe */
  const struct wsp_subscribe_opts *opts;
  int op, code;
  const char *reason;
  uint64_t expires_at; /* refresh */
  long n;
};

enum { OP_PUSH, OP_SUB, OP_UNSUB, OP_DISCONNECT, OP_REFRESH };

static void user_one(void *sub, const char *p, size_t l, void *ud) {
  struct wsp_client *cl = sub;
  struct each_user *e = ud;
  (void)p;
  (void)l;
  switch (e->op) {
  case OP_PUSH:
    e->n += wsp__ch_deliver(cl, e->frame);
    break;
  case OP_SUB:
    e->n += wsp_server_subscribe_with(cl, e->channel, e->opts) == 0;
    break;
  case OP_UNSUB:
    e->n += wsp_server_unsubscribe(cl, e->channel) == 0;
    break;
  case OP_REFRESH:
    e->n += wsp_client_refresh(cl, e->expires_at) == 0;
    break;
  default:
    e->n += wsp_client_disconnect(cl, e->code, e->reason) == 0;
  }
}

static long for_user(struct wsp_server *s, const char *user,
                     struct each_user *e) {
  long r = wsp__users_each(s, user, user_one, e);
  return r < 0 ? r : e->n;
}

static struct wsp_frame *message_frame(struct wsp_server *s, const void *data,
                                       size_t len, int *err) {
  struct wsp_frame *f;
  *err = 0;
  if (len && wsp__json_validate(data, len, 64, NULL) != 0) {
    *err = WSP_ERR_JSON;
    return NULL;
  }
  f = wsp__cf_out_message_frame(&s->mem, data, len);
  if (!f)
    *err = WSP_ERR_NOMEM;
  return f;
}

struct find {
  const char *id;
  struct wsp_client *found;
};

static void find_one(void *sub, const char *p, size_t l, void *ud) {
  struct wsp_client *cl = sub;
  struct find *f = ud;
  (void)p;
  (void)l;
  if (!f->found && strcmp(wsp_client_get_id(cl), f->id) == 0)
    f->found = cl;
}

/* ---- On this node ---------------------------------------------------------
 */

static long subscribe_user(struct wsp_server *s, const char *user,
                           const char *channel, int op,
                           const struct wsp_subscribe_opts *opts) {
  struct each_user e;
  memset(&e, 0, sizeof(e));
  e.op = op;
  e.channel = channel;
  e.opts = opts;
  return for_user(s, user, &e);
}

/* One LEN:BYTES span of an order at *p (before end); NULL when malformed. */
static const char *order_span(const char **p, const char *end, size_t *len) {
  const char *q = *p, *start;
  size_t n = 0;
  while (q < end && *q >= '0' && *q <= '9' && n < ((size_t)1 << 40))
    n = n * 10 + (size_t)(*q++ - '0');
  if (q == *p || q == end || *q++ != ':' || n > (size_t)(end - q))
    return NULL;
  start = q;
  *p = q + n;
  *len = n;
  return start;
}

/* A subscribe order with options (WSP__CTL_SUBSCRIBE_USER_WITH). */
static long subscribe_with_order(struct wsp_server *s, const char *user,
                                 const char *b, size_t blen) {
  const char *p = b, *end = b + blen, *ch, *info;
  struct wsp_subscribe_opts o;
  size_t clen, ilen;
  char *channel, *chan_info = NULL;
  long n = WSP_ERR_NOMEM;
  if (!(ch = order_span(&p, end, &clen)) ||
      !(info = order_span(&p, end, &ilen)))
    return WSP_ERR_INVAL;
  memset(&o, 0, sizeof(o));
  o.data = p;
  o.len = (size_t)(end - p);
  channel = wsp__strndup(&s->mem, ch, clen);
  if (ilen)
    chan_info = wsp__strndup(&s->mem, info, ilen);
  o.chan_info = chan_info;
  if (channel && (!ilen || chan_info) &&
      (n = wsp__ch_subscribe_opts_check(&o)) == 0)
    n = subscribe_user(s, user, channel, OP_SUB, &o);
  wsp__free(&s->mem, channel);
  wsp__free(&s->mem, chan_info);
  return n;
}

/* Tell the other nodes of a subscribe with options. */
static void subscribe_with_send(struct wsp_server *s, const char *user,
                                const char *channel,
                                const struct wsp_subscribe_opts *o) {
  size_t clen = strlen(channel), ilen = o->chan_info ? strlen(o->chan_info) : 0;
  char head[2][24];
  size_t h0 = (size_t)snprintf(head[0], sizeof(head[0]), "%zu:", clen);
  size_t h1 = (size_t)snprintf(head[1], sizeof(head[1]), "%zu:", ilen);
  size_t len = h0 + clen + h1 + ilen + o->len;
  char *b;
  if (!s->engine || !(b = wsp__malloc(&s->mem, len)))
    return; /* the other nodes do not hear of it: as with a lost link */
  memcpy(b, head[0], h0);
  memcpy(b + h0, channel, clen);
  memcpy(b + h0 + clen, head[1], h1);
  if (ilen)
    memcpy(b + h0 + clen + h1, o->chan_info, ilen);
  if (o->len)
    memcpy(b + h0 + clen + h1 + ilen, o->data, o->len);
  wsp__ctl_send(s, WSP__CTL_SUBSCRIBE_USER_WITH, 0, user, b, len);
  wsp__free(&s->mem, b);
}

static long disconnect_user(struct wsp_server *s, const char *user, int code,
                            const char *reason);

static long refresh_user(struct wsp_server *s, const char *user,
                         uint64_t expires_at) {
  struct each_user e;
  memset(&e, 0, sizeof(e));
  e.op = OP_REFRESH;
  e.expires_at = expires_at;
  return for_user(s, user, &e);
}

/* A refresh order: B is the expiry in ms from now, "0" for none or "x"
 * for expired (clocks differ between nodes; durations do not). */
static long refresh_order(struct wsp_server *s, const char *user, const char *b,
                          size_t blen) {
  uint64_t ms = 0, now = wsp__server_now(s);
  size_t i;
  if (blen == 1 && b[0] == 'x')
    return disconnect_user(
        s, user, WSP_PROTO_DISCONNECT_EXPIRED,
        wsp_proto_disconnect_reason(WSP_PROTO_DISCONNECT_EXPIRED));
  if (!blen || blen > 19)
    return WSP_ERR_INVAL;
  for (i = 0; i < blen; i++) {
    if (b[i] < '0' || b[i] > '9')
      return WSP_ERR_INVAL;
    ms = ms * 10 + (uint64_t)(b[i] - '0');
  }
  return refresh_user(s, user, ms ? wsp__add_sat(now, ms) : 0);
}

static long disconnect_user(struct wsp_server *s, const char *user, int code,
                            const char *reason) {
  struct each_user e;
  memset(&e, 0, sizeof(e));
  e.op = OP_DISCONNECT;
  e.code = code;
  e.reason = reason;
  return for_user(s, user, &e);
}

static long push_user(struct wsp_server *s, const char *user,
                      struct wsp_frame *f) {
  struct each_user e;
  memset(&e, 0, sizeof(e));
  e.op = OP_PUSH;
  e.frame = f;
  return for_user(s, user, &e);
}

static long broadcast(struct wsp_server *s, struct wsp_frame *f) {
  struct wsp_client *cl, *next;
  long n = 0;
  for (cl = s->first; cl; cl = next) {
    next = cl->next;
    n += wsp__ch_deliver(cl, f);
  }
  return n;
}

long wsp__push_apply(struct wsp_server *s, int kind, int code, const char *a,
                     const char *b, size_t blen) {
  struct wsp_frame *f;
  char *arg;
  long n;
  int err;
  if (kind == WSP__CTL_MESSAGE_USER || kind == WSP__CTL_BROADCAST) {
    if (!(f = message_frame(s, b, blen, &err)))
      return err;
    n = kind == WSP__CTL_BROADCAST ? broadcast(s, f) : push_user(s, a, f);
    wsp_frame_unref(f);
    return n;
  }
  if (kind == WSP__CTL_SUBSCRIBE_USER_WITH)
    return subscribe_with_order(s, a, b, blen);
  if (kind == WSP__CTL_REFRESH_USER)
    return refresh_order(s, a, b, blen);
  if (!(arg = wsp__strndup(&s->mem, b, blen)))
    return WSP_ERR_NOMEM;
  switch (kind) {
  case WSP__CTL_DISCONNECT_USER:
    n = disconnect_user(s, a, code, arg);
    break;
  case WSP__CTL_DISCONNECT_SESSION:
    n = wsp__sess_disconnect(s, a, code, arg);
    break;
  case WSP__CTL_SUBSCRIBE_USER:
    n = subscribe_user(s, a, arg, OP_SUB, NULL);
    break;
  case WSP__CTL_UNSUBSCRIBE_USER:
    n = subscribe_user(s, a, arg, OP_UNSUB, NULL);
    break;
  default:
    n = WSP_ERR_INVAL;
  }
  wsp__free(&s->mem, arg);
  return n;
}

/* ---- Public API -------------------------------------------------------- */

struct wsp_client *wsp_server_find_client(struct wsp_server *s,
                                          const char *user, const char *id) {
  struct find f;
  if (!s || !user || !id || !*id)
    return NULL;
  f.id = id;
  f.found = NULL;
  wsp__users_each(s, user, find_one, &f);
  return f.found;
}

long wsp_server_subscribe_user(struct wsp_server *s, const char *user,
                               const char *channel) {
  return wsp_server_subscribe_user_with(s, user, channel, NULL);
}

long wsp_server_subscribe_user_with(struct wsp_server *s, const char *user,
                                    const char *channel,
                                    const struct wsp_subscribe_opts *opts) {
  long n;
  int rc;
  if (!s || !user || !channel || (opts && opts->len && !opts->data))
    return WSP_ERR_INVAL;
  if ((rc = wsp__ch_subscribe_opts_check(opts)) != 0)
    return rc;
  n = subscribe_user(s, user, channel, OP_SUB, opts);
  if (opts && (opts->len || opts->chan_info))
    subscribe_with_send(s, user, channel, opts);
  else
    wsp__ctl_send(s, WSP__CTL_SUBSCRIBE_USER, 0, user, channel,
                  strlen(channel));
  return n;
}

long wsp_server_unsubscribe_user(struct wsp_server *s, const char *user,
                                 const char *channel) {
  long n;
  if (!s || !user || !channel)
    return WSP_ERR_INVAL;
  n = subscribe_user(s, user, channel, OP_UNSUB, NULL);
  wsp__ctl_send(s, WSP__CTL_UNSUBSCRIBE_USER, 0, user, channel,
                strlen(channel));
  return n;
}

int wsp_client_refresh(struct wsp_client *cl, uint64_t expires_at) {
  uint64_t now;
  if (!cl)
    return WSP_ERR_INVAL;
  if (!cl->cf.connected || cl->gone)
    return WSP_ERR_STATE;
  now = wsp__server_now(cl->srv);
  wsp__client_enter(cl);
  if (expires_at && expires_at <= now) {
    wsp__client_close(
        cl, WSP_PROTO_DISCONNECT_EXPIRED,
        wsp_proto_disconnect_reason(WSP_PROTO_DISCONNECT_EXPIRED));
  } else {
    wsp_client_set_expiry(cl, expires_at);
    wsp__cf_out_refresh_push(cl, now);
  }
  wsp__client_leave(cl);
  return 0;
}

long wsp_server_refresh_user(struct wsp_server *s, const char *user,
                             uint64_t expires_at) {
  uint64_t now;
  char b[24];
  long n;
  if (!s || !user)
    return WSP_ERR_INVAL;
  now = wsp__server_now(s);
  n = refresh_user(s, user, expires_at);
  if (expires_at && expires_at <= now)
    memcpy(b, "x", 2);
  else
    snprintf(b, sizeof(b), "%llu",
             (unsigned long long)(expires_at ? expires_at - now : 0));
  wsp__ctl_send(s, WSP__CTL_REFRESH_USER, 0, user, b, strlen(b));
  return n;
}

int wsp_client_push_message(struct wsp_client *cl, const void *data,
                            size_t len) {
  struct wsp__jbuf *jb;
  if (!cl || (len && !data))
    return WSP_ERR_INVAL;
  if (!cl->cf.connected)
    return WSP_ERR_STATE;
  if (len && wsp__json_validate(data, len, 64, NULL) != 0)
    return WSP_ERR_JSON;
  wsp__client_enter(cl);
  jb = wsp__cf_out_line_begin(cl);
  wsp__cf_out_message(jb, data, len);
  wsp__cf_out_line_end(cl);
  wsp__client_leave(cl);
  return 0;
}

int wsp_push_client(struct wsp_client *cl, const void *data, size_t len) {
  return wsp_client_push_message(cl, data, len);
}

long wsp_push_user(struct wsp_server *s, const char *user, const void *data,
                   size_t len) {
  if (!user)
    return WSP_ERR_INVAL;
  return wsp_push_users(s, &user, 1, data, len);
}

long wsp_push_users(struct wsp_server *s, const char *const *users, size_t n,
                    const void *data, size_t len) {
  struct wsp_frame *f;
  size_t i;
  int err;
  long r = 0, total = 0;
  if (!s || (n && !users) || (len && !data))
    return WSP_ERR_INVAL;
  f = message_frame(s, data, len, &err);
  if (!f)
    return err;
  for (i = 0; i < n && r >= 0; i++) {
    if (!users[i])
      continue;
    if ((r = push_user(s, users[i], f)) >= 0)
      total += r;
    wsp__ctl_send(s, WSP__CTL_MESSAGE_USER, 0, users[i], data, len);
  }
  wsp_frame_unref(f);
  return r < 0 ? r : total;
}

long wsp_push_broadcast(struct wsp_server *s, const void *data, size_t len) {
  struct wsp_frame *f;
  long n;
  int err;
  if (!s || (len && !data))
    return WSP_ERR_INVAL;
  f = message_frame(s, data, len, &err);
  if (!f)
    return err;
  n = broadcast(s, f);
  wsp_frame_unref(f);
  wsp__ctl_send(s, WSP__CTL_BROADCAST, 0, "", data, len);
  return n;
}

long wsp_server_disconnect_user(struct wsp_server *s, const char *user,
                                int code, const char *reason) {
  long n;
  if (!s || !user || code < 3000 || code > 4999)
    return WSP_ERR_INVAL;
  n = disconnect_user(s, user, code, reason);
  wsp__ctl_send(s, WSP__CTL_DISCONNECT_USER, code, user, reason,
                reason ? strlen(reason) : 0);
  return n;
}
