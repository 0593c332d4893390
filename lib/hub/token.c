/*
 * JWT authentication in the hub (wsp_server_set_tokens(3)): connection
 * tokens at connect and refresh, subscription tokens for private
 * channels, sub_refresh, and the expiry of those subscriptions. The
 * signature and claim checks are wsp_jwt_verify()'s (jwt.c); this file
 * maps their outcome onto the protocol: an expired token is the error
 * TOKEN_EXPIRED so that a client fetches a new one, an invalid connection
 * token closes with INVALID_TOKEN (a client does not reconnect), a bad
 * subscription token is the error PERMISSION_DENIED.
 */
/*
 * The subscribe subsystem (channels.c, history.c, token.c) is the one
 * cycle scripts/lib-cycles.py allows: a subscribe needs its position in
 * the log (history.c) and its token (token.c) before it exists, and the
 * log (a gap, a lost position) and token expiry end subscriptions, which
 * is channels.c's job (wsp__ch_drop, wsp__ch_expire). Cutting it would
 * take callbacks for three files that change together.
 */
#include <string.h>

#include "hub_private.h"
#include "wsp/jwt.h"

/* ---- Configuration ---------------------------------------------------- */

void wsp__tok_free(struct wsp_server *s) {
  struct wsp__tokens *t = s->tokens;
  if (!t)
    return;
  wsp__free(&s->mem, t->audience);
  wsp__free(&s->mem, t->issuer);
  wsp__free(&s->mem, t->prefix);
  wsp__free(&s->mem, t);
  s->tokens = NULL;
}

static int copy_opt(struct wsp_server *s, const char *in, char **out) {
  *out = NULL;
  if (!in)
    return 0;
  *out = wsp__strndup(&s->mem, in, strlen(in));
  return *out ? 0 : WSP_ERR_NOMEM;
}

int wsp_server_set_tokens(struct wsp_server *s,
                          const struct wsp_server_tokens *cfg) {
  struct wsp__tokens *t;
  const char *prefix;
  if (!s || (cfg && (!cfg->keys || cfg->leeway < 0)))
    return WSP_ERR_INVAL;
  if (!cfg) {
    wsp__tok_free(s);
    return 0;
  }
  t = wsp__malloc(&s->mem, sizeof(*t));
  if (!t)
    return WSP_ERR_NOMEM;
  memset(t, 0, sizeof(*t));
  prefix = cfg->private_prefix ? cfg->private_prefix : "$";
  if (copy_opt(s, cfg->audience, &t->audience) != 0 ||
      copy_opt(s, cfg->issuer, &t->issuer) != 0 ||
      copy_opt(s, prefix, &t->prefix) != 0) {
    wsp__free(&s->mem, t->audience);
    wsp__free(&s->mem, t->issuer);
    wsp__free(&s->mem, t->prefix);
    wsp__free(&s->mem, t);
    return WSP_ERR_NOMEM;
  }
  t->cfg = *cfg;
  t->cfg.audience = t->audience;
  t->cfg.issuer = t->issuer;
  t->cfg.private_prefix = t->prefix;
  t->prefix_len = strlen(t->prefix);
  wsp__tok_free(s);
  s->tokens = t;
  return 0;
}

/* ---- Verification ----------------------------------------------------- */

static int64_t unix_now(const struct wsp_server *s) {
  const struct wsp__tokens *t = s->tokens;
  if (t->cfg.unix_time)
    return t->cfg.unix_time(s->user_data);
  return (int64_t)(wsp__server_now(s) / 1000);
}

/* A token's exp as a time on the server's clock (ms); 0 for none. */
static uint64_t expiry_ms(const struct wsp_server *s,
                          const struct wsp_jwt_claims *c) {
  uint64_t now = wsp__server_now(s);
  int64_t left;
  if (!c->has_exp)
    return 0;
  left = c->exp - unix_now(s);
  if (left <= 0)
    return now ? now : 1; /* within the leeway: due now */
  if ((uint64_t)left > (UINT64_MAX - now) / 1000)
    return UINT64_MAX - 1;
  return now + (uint64_t)left * 1000;
}

/*
 * Verify token[0..len) with the hub's keys. On 0 or WSP_ERR_TOKEN_EXPIRED
 * *pbuf holds the claims' strings and must be freed. Otherwise
 * WSP_ERR_TOKEN or WSP_ERR_NOMEM.
 */
static int verify(struct wsp_server *s, const char *token, size_t len,
                  struct wsp_jwt_claims *c, char **pbuf) {
  const struct wsp__tokens *t = s->tokens;
  struct wsp_jwt_options o;
  size_t cap;
  char *buf;
  int rv;
  *pbuf = NULL;
  memset(c, 0, sizeof(*c));
  if (!len || len > WSP_JWT_DEFAULT_MAX_SIZE)
    return WSP_ERR_TOKEN;
  cap = WSP_JWT_BUFSIZE(len);
  buf = wsp__malloc(&s->mem, cap);
  if (!buf)
    return WSP_ERR_NOMEM;
  memset(&o, 0, sizeof(o));
  o.now = unix_now(s);
  o.leeway = t->cfg.leeway;
  o.issuer = t->cfg.issuer;
  o.audience = t->cfg.audience;
  rv = wsp_jwt_verify(t->cfg.keys, token, len, &o, c, buf, cap);
  if (rv == 0 || rv == WSP_ERR_TOKEN_EXPIRED) {
    /* A user id is text: no NUL inside, at most 255 bytes. */
    if (c->sub.ptr && (c->sub.len > 255 || memchr(c->sub.ptr, 0, c->sub.len)))
      rv = WSP_ERR_TOKEN;
  }
  if (rv == 0 || rv == WSP_ERR_TOKEN_EXPIRED) {
    *pbuf = buf;
    return rv;
  }
  wsp__free(&s->mem, buf);
  return rv == WSP_ERR_NOMEM ? rv : WSP_ERR_TOKEN;
}

static int is_null(struct wsp_str v) {
  return !v.ptr || (v.len == 4 && memcmp(v.ptr, "null", 4) == 0);
}

/* Attach the claims of a verified connection token to cl. */
static int apply(struct wsp_client *cl, const struct wsp_jwt_claims *c) {
  struct wsp_server *s = cl->srv;
  char *info = NULL, *chans = NULL;
  int rv;
  if (!is_null(c->info) &&
      !(info = wsp__strndup(&s->mem, c->info.ptr, c->info.len)))
    return WSP_ERR_NOMEM;
  if (!is_null(c->channels) &&
      !(chans = wsp__strndup(&s->mem, c->channels.ptr, c->channels.len))) {
    wsp__free(&s->mem, info);
    return WSP_ERR_NOMEM;
  }
  rv = wsp_client_set_user(cl, c->sub.ptr ? c->sub.ptr : "");
  if (rv != 0) {
    wsp__free(&s->mem, info);
    wsp__free(&s->mem, chans);
    return rv;
  }
  wsp__free(&s->mem, cl->info);
  cl->info = info;
  wsp__free(&s->mem, cl->tok_channels);
  cl->tok_channels = chans;
  wsp_client_set_expiry(cl, expiry_ms(s, c));
  return 0;
}

int wsp_client_auth_token(struct wsp_client *cl, const char *token,
                          size_t len) {
  struct wsp_jwt_claims c;
  char *buf;
  int rv;
  if (!cl || (len && !token))
    return WSP_ERR_INVAL;
  if (!cl->srv->tokens)
    return WSP_ERR_STATE;
  rv = verify(cl->srv, token, len, &c, &buf);
  if (rv == 0)
    rv = apply(cl, &c);
  wsp__free(&cl->srv->mem, buf);
  return rv;
}

/* ---- Connect and refresh ---------------------------------------------- */

static int invalid(struct wsp_client *cl) {
  wsp__client_close(cl, WSP_PROTO_DISCONNECT_INVALID_TOKEN, "invalid token");
  return -1;
}

int wsp__tok_connect(struct wsp_client *cl, const char *token, size_t len) {
  int rv;
  /* No token: enough when the upgrade already proved who this is. */
  if (len == 0)
    return cl->user && cl->user[0] ? 0 : invalid(cl);
  rv = wsp_client_auth_token(cl, token, len);
  if (rv == WSP_ERR_TOKEN_EXPIRED)
    return WSP_PROTO_ERROR_TOKEN_EXPIRED;
  if (rv == WSP_ERR_NOMEM)
    return WSP_PROTO_ERROR_INTERNAL;
  return rv == 0 ? 0 : invalid(cl);
}

void wsp__tok_connected(struct wsp_client *cl) {
  struct wsp_server *s = cl->srv;
  struct wsp__json_val v;
  char ch[1024];
  size_t pos = 0, n;
  char *chans = cl->tok_channels;
  if (!chans)
    return;
  cl->tok_channels = NULL;
  /* Not for a client on_connect freed: it is gone already. */
  while (wsp__json_array_next(chans, strlen(chans), &pos, &v) == 1 &&
         wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN && !cl->gone) {
    if (v.type == WSP__JSON_STRING &&
        wsp__json_string_decode(&v, ch, sizeof(ch), &n) == 0 &&
        !memchr(ch, '\0', n))
      wsp__ch_subscribe_server(cl, ch, n);
  }
  wsp__free(&s->mem, chans);
}

int wsp__tok_refresh(struct wsp_client *cl, const char *token, size_t len) {
  struct wsp_server *s = cl->srv;
  struct wsp_jwt_claims c;
  const char *user = wsp_client_get_user(cl);
  char *buf;
  int rv = verify(s, token, len, &c, &buf);
  if (rv == 0 && (c.sub.ptr ? c.sub.len : 0) != strlen(user))
    rv = WSP_ERR_TOKEN; /* a refresh does not change the user */
  if (rv == 0 && c.sub.len && memcmp(c.sub.ptr, user, c.sub.len) != 0)
    rv = WSP_ERR_TOKEN;
  if (rv == 0)
    wsp_client_set_expiry(cl, expiry_ms(s, &c));
  wsp__free(&s->mem, buf);
  if (rv == WSP_ERR_TOKEN_EXPIRED)
    return WSP_PROTO_ERROR_TOKEN_EXPIRED;
  if (rv == WSP_ERR_NOMEM)
    return WSP_PROTO_ERROR_INTERNAL;
  return rv == 0 ? 0 : invalid(cl);
}

/* ---- Private channels ------------------------------------------------- */

static int is_private(const struct wsp_server *s, const char *ch, size_t len) {
  const struct wsp__tokens *t = s->tokens;
  return t && t->prefix_len && len >= t->prefix_len &&
         memcmp(ch, t->prefix, t->prefix_len) == 0;
}

/* The subscription token of req for channel ch: 0 with *exp, or the
 * protocol's code. */
static int sub_token(struct wsp_client *cl, const char *ch, size_t len,
                     const struct wsp__json_val *req, uint64_t *exp) {
  struct wsp_server *s = cl->srv;
  struct wsp__json_val tv;
  struct wsp_jwt_claims c;
  const char *user = wsp_client_get_user(cl);
  char *tok, *buf = NULL;
  size_t tlen = 0;
  int rv;
  if (wsp__json_find(req->ptr, req->len, "token", &tv) != 1 ||
      tv.type != WSP__JSON_STRING || tv.len <= 2)
    return WSP_PROTO_ERROR_PERMISSION_DENIED;
  if (tv.len > WSP_JWT_DEFAULT_MAX_SIZE + 2)
    return WSP_PROTO_ERROR_PERMISSION_DENIED;
  tok = wsp__malloc(&s->mem, tv.len);
  if (!tok)
    return WSP_PROTO_ERROR_INTERNAL;
  if (wsp__json_string_decode(&tv, tok, tv.len, &tlen) != 0)
    rv = WSP_ERR_TOKEN;
  else
    rv = verify(s, tok, tlen, &c, &buf);
  wsp__free(&s->mem, tok);
  if (rv == 0 && !((c.sub.ptr ? c.sub.len : 0) == strlen(user) &&
                   memcmp(c.sub.ptr ? c.sub.ptr : "", user, c.sub.len) == 0 &&
                   c.channel.ptr && c.channel.len == len &&
                   memcmp(c.channel.ptr, ch, len) == 0))
    rv = WSP_ERR_TOKEN; /* someone else's token, or another channel's */
  if (rv == 0)
    *exp = expiry_ms(s, &c);
  wsp__free(&s->mem, buf);
  return rv == 0                       ? 0
         : rv == WSP_ERR_TOKEN_EXPIRED ? WSP_PROTO_ERROR_TOKEN_EXPIRED
         : rv == WSP_ERR_NOMEM         ? WSP_PROTO_ERROR_INTERNAL
                                       : WSP_PROTO_ERROR_PERMISSION_DENIED;
}

int wsp__tok_sub_check(struct wsp_client *cl, const char *ch, size_t len,
                       const struct wsp__json_val *req, uint64_t *exp) {
  *exp = 0;
  if (!is_private(cl->srv, ch, len))
    return 0;
  return sub_token(cl, ch, len, req, exp);
}

void wsp__tok_sub_refresh(struct wsp_client *cl, uint32_t id,
                          const struct wsp__json_val *req) {
  struct wsp_server *s = cl->srv;
  struct wsp__json_val v;
  struct wsp__csub *cs;
  char ch[1024];
  size_t len = 0;
  uint64_t exp = 0;
  int rv = WSP_ERR_JSON;
  if (wsp__json_find(req->ptr, req->len, "channel", &v) != 1 ||
      v.type != WSP__JSON_STRING ||
      (rv = wsp__json_string_decode(&v, ch, sizeof(ch), &len)) != 0 ||
      len == 0) {
    if (rv == WSP_ERR_LIMIT) {
      /* longer than any channel one can subscribe to: not subscribed,
       * as a subscribe with it is a bad request, not a broken stream */
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_PERMISSION_DENIED, NULL, 0);
      return;
    }
    s->stats.errors_protocol++;
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_BAD_REQUEST, "bad request");
    return;
  }
  if (!is_private(s, ch, len)) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_NOT_AVAILABLE, NULL, 0);
    return;
  }
  cs = wsp__ch_find(cl, ch, len);
  if (!cs) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_PERMISSION_DENIED, NULL, 0);
    return;
  }
  rv = sub_token(cl, ch, len, req, &exp);
  if (rv != 0) {
    wsp__cf_out_error(cl, id, (uint32_t)rv, NULL,
                      rv == WSP_PROTO_ERROR_INTERNAL);
    return;
  }
  cs->expires_at = exp;
  wsp__tok_sub_due(cl);
  wsp__cf_out_sub_refresh(cl, id, exp);
}

/* ---- Expiry ----------------------------------------------------------- */

void wsp__tok_sub_due(struct wsp_client *cl) {
  uint64_t grace = cl->srv->limits[WSP_SERVER_REFRESH_GRACE], due;
  uint32_t i;
  cl->sub_due = WSP_NO_DEADLINE;
  for (i = 0; i < cl->nsubs; i++) {
    if (!cl->subs[i]->expires_at)
      continue;
    due = wsp__add_sat(cl->subs[i]->expires_at, grace);
    if (due < cl->sub_due)
      cl->sub_due = due;
  }
}

void wsp__tok_tick(struct wsp_client *cl, uint64_t now) {
  uint64_t grace = cl->srv->limits[WSP_SERVER_REFRESH_GRACE];
  uint32_t i = cl->nsubs;
  /* Downwards: removing subs[i] moves the last one, already seen, in. */
  while (i-- > 0 && wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN) {
    struct wsp__csub *cs = cl->subs[i];
    if (cs->expires_at && now >= wsp__add_sat(cs->expires_at, grace))
      wsp__ch_expire(cl, cs);
  }
  wsp__tok_sub_due(cl);
}

/* ---- Connection info -------------------------------------------------- */

int wsp_client_set_info(struct wsp_client *cl, const char *info) {
  char *copy = NULL;
  if (!cl)
    return WSP_ERR_INVAL;
  if (info) {
    if (wsp__json_validate(info, strlen(info), 64, NULL) != 0)
      return WSP_ERR_JSON;
    copy = wsp__strndup(&cl->srv->mem, info, strlen(info));
    if (!copy)
      return WSP_ERR_NOMEM;
  }
  wsp__free(&cl->srv->mem, cl->info);
  cl->info = copy;
  return 0;
}

const char *wsp_client_get_info(const struct wsp_client *cl) {
  return cl ? cl->info : NULL;
}

void wsp__tok_client_gone(struct wsp_client *cl) {
  wsp__free(&cl->srv->mem, cl->info);
  wsp__free(&cl->srv->mem, cl->tok_channels);
  cl->info = cl->tok_channels = NULL;
}
