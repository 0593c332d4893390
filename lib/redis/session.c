/*
 * Sessions in Redis: the store of wsp_session(3) for a hub on several
 * nodes, so that a login on one node authenticates an upgrade on any
 * other (wsp_redis(3)). A session is the string key P.session.ID, its
 * value "ULEN:USER" followed by the application's data, with the
 * session's time to live as the key's expiry; ids are 128 random bits
 * in hex, as in the memory store. Every call completes later, from the
 * engine's I/O, through its callback, exactly once.
 */
#include <stdio.h>
#include <string.h>

#include "redis/redis_private.h"

struct sreq {
  wsp_redis_session_fn *done;
  void *user_data;
  char id[WSP_SESSION_ID_LEN + 1];
  int kind; /* 'c' create, 'g' get, 'd' destroy */
};

static char *key_of(struct wsp_redis *r, const char *id, size_t *len) {
  size_t n = r->prefix_len + 9 + WSP_SESSION_ID_LEN;
  char *k = wsp__malloc(&r->mem, n + 1);
  if (!k)
    return NULL;
  memcpy(k, r->prefix, r->prefix_len);
  memcpy(k + r->prefix_len, ".session.", 9);
  memcpy(k + r->prefix_len + 9, id, WSP_SESSION_ID_LEN);
  k[n] = '\0';
  *len = n;
  return k;
}

static int id_ok(const char *id) {
  size_t i;
  for (i = 0; i < WSP_SESSION_ID_LEN; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return 0;
  return id[i] == '\0';
}

static void replied(struct wsp_redis *r, const struct wsp__rreply *x, int err,
                    void *ud) {
  struct sreq *q = ud;
  const char *user = NULL, *data = NULL, *colon;
  char ubuf[256];
  size_t dlen = 0, ulen = 0, i;

  if (!err && (!x || x->type == WSP__RR_ERROR))
    err = WSP_ERR_IO;
  if (!err && q->kind == 'g') {
    if (x->type == WSP__RR_NIL) {
      err = WSP_ERR_NOT_FOUND;
    } else if (x->type != WSP__RR_STRING ||
               !(colon = memchr(x->str, ':', x->len < 5 ? x->len : 5))) {
      err = WSP_ERR_CORRUPT;
    } else {
      for (i = 0; x->str + i < colon; i++)
        ulen = x->str[i] >= '0' && x->str[i] <= '9'
                   ? ulen * 10 + (size_t)(x->str[i] - '0')
                   : sizeof(ubuf);
      if (ulen >= sizeof(ubuf) ||
          ulen > x->len - (size_t)(colon + 1 - x->str)) {
        err = WSP_ERR_CORRUPT;
      } else {
        memcpy(ubuf, colon + 1, ulen);
        ubuf[ulen] = '\0';
        user = ubuf;
        data = colon + 1 + ulen;
        dlen = x->len - (size_t)(data - x->str);
      }
    }
  } else if (!err && q->kind == 'd' && x->type == WSP__RR_INTEGER &&
             x->integer == 0) {
    err = WSP_ERR_NOT_FOUND;
  }
  q->done(r, err, q->id, err ? NULL : user, err ? NULL : data, err ? 0 : dlen,
          q->user_data);
  wsp__free(&r->mem, q);
}

static int submit(struct wsp_redis *r, struct sreq *q, int argc,
                  const char **argv, size_t *lens) {
  int rc = wsp__redis_command(r, WSP_REDIS_CMD, argc, argv, lens, replied, q);
  if (rc != 0)
    wsp__free(&r->mem, q);
  return rc;
}

static struct sreq *sreq_new(struct wsp_redis *r, int kind,
                             wsp_redis_session_fn *done, void *ud) {
  struct sreq *q = wsp__malloc(&r->mem, sizeof(*q));
  if (!q)
    return NULL;
  memset(q, 0, sizeof(*q));
  q->kind = kind;
  q->done = done;
  q->user_data = ud;
  return q;
}

int wsp_redis_session_create(struct wsp_redis *r, const char *user,
                             const void *data, size_t len, uint64_t ttl_ms,
                             wsp_redis_session_fn *done, void *user_data) {
  static const char hex[] = "0123456789abcdef";
  unsigned char raw[WSP_SESSION_ID_LEN / 2];
  char head[8], ttl[24], *key, *val;
  const char *argv[6];
  size_t lens[6], kl = 0, ulen, hl, i;
  struct sreq *q;
  int rc;
  if (!r || !user || !done || (len && !data) || ttl_ms == 0 ||
      (ulen = strlen(user)) > 255)
    return WSP_ERR_INVAL;
  if (wsp__random(&r->mem, raw, sizeof(raw)) != 0)
    return WSP_ERR_RANDOM;
  if (!(q = sreq_new(r, 'c', done, user_data)))
    return WSP_ERR_NOMEM;
  for (i = 0; i < sizeof(raw); i++) {
    q->id[2 * i] = hex[raw[i] >> 4];
    q->id[2 * i + 1] = hex[raw[i] & 15];
  }
  hl = (size_t)snprintf(head, sizeof(head), "%zu:", ulen);
  snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
  key = key_of(r, q->id, &kl);
  val = wsp__malloc(&r->mem, hl + ulen + len + 1);
  if (!key || !val) {
    wsp__free(&r->mem, key);
    wsp__free(&r->mem, val);
    wsp__free(&r->mem, q);
    return WSP_ERR_NOMEM;
  }
  memcpy(val, head, hl);
  memcpy(val + hl, user, ulen);
  if (len)
    memcpy(val + hl + ulen, data, len);
  argv[0] = "SET";
  argv[1] = key;
  argv[2] = val;
  argv[3] = "PX";
  argv[4] = ttl;
  argv[5] = "NX"; /* a colliding id is an error, never a takeover */
  lens[0] = 3;
  lens[1] = kl;
  lens[2] = hl + ulen + len;
  lens[3] = 2;
  lens[4] = strlen(ttl);
  lens[5] = 2;
  rc = submit(r, q, 6, argv, lens);
  wsp__free(&r->mem, key);
  wsp__free(&r->mem, val);
  return rc;
}

int wsp_redis_session_get(struct wsp_redis *r, const char *id, uint64_t ttl_ms,
                          wsp_redis_session_fn *done, void *user_data) {
  char ttl[24], *key;
  const char *argv[4];
  size_t lens[4], kl = 0;
  struct sreq *q;
  int rc;
  if (!r || !id || !done)
    return WSP_ERR_INVAL;
  if (!id_ok(id))
    return WSP_ERR_NOT_FOUND; /* no such id can exist */
  if (!(q = sreq_new(r, 'g', done, user_data)))
    return WSP_ERR_NOMEM;
  memcpy(q->id, id, WSP_SESSION_ID_LEN + 1);
  if (!(key = key_of(r, id, &kl))) {
    wsp__free(&r->mem, q);
    return WSP_ERR_NOMEM;
  }
  snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
  /* GETEX PX: read it and, when asked, extend its life in one step */
  argv[0] = ttl_ms ? "GETEX" : "GET";
  argv[1] = key;
  argv[2] = "PX";
  argv[3] = ttl;
  lens[0] = strlen(argv[0]);
  lens[1] = kl;
  lens[2] = 2;
  lens[3] = strlen(ttl);
  rc = submit(r, q, ttl_ms ? 4 : 2, argv, lens);
  wsp__free(&r->mem, key);
  return rc;
}

int wsp_redis_session_destroy(struct wsp_redis *r, const char *id,
                              wsp_redis_session_fn *done, void *user_data) {
  const char *argv[2];
  size_t lens[2], kl = 0;
  char *key;
  struct sreq *q;
  int rc;
  if (!r || !id || !done)
    return WSP_ERR_INVAL;
  if (!id_ok(id))
    return WSP_ERR_NOT_FOUND;
  if (!(q = sreq_new(r, 'd', done, user_data)))
    return WSP_ERR_NOMEM;
  memcpy(q->id, id, WSP_SESSION_ID_LEN + 1);
  if (!(key = key_of(r, id, &kl))) {
    wsp__free(&r->mem, q);
    return WSP_ERR_NOMEM;
  }
  argv[0] = "DEL";
  argv[1] = key;
  lens[0] = 3;
  lens[1] = kl;
  rc = submit(r, q, 2, argv, lens);
  wsp__free(&r->mem, key);
  return rc;
}
