/*
 * The Redis engine: the hub's publications and channel history in Redis,
 * so that several nodes serve one set of channels (wsp_redis(3)).
 *
 * Keys, for the prefix P and the channel C:
 *   P.stream.C  a STREAM of the channel's publications; the entry id of
 *               the publication at offset N is N-0; fields d (data),
 *               i (publisher info) and t (time, ms);
 *   P.meta.C    a HASH: e the stream's epoch, s its top offset;
 *   P.pub.C     the PUB/SUB channel every publication on C goes through.
 * A publication is appended, numbered and published in one Lua script,
 * so offsets are gapless and in the same order on every node, and each
 * node hears them in that order on its PUB/SUB link. The message is
 * "p1 OFFSET EPOCH INFOLEN INFO DATA" (offset 0 and epoch "-" without
 * history), binary-safe through the explicit length.
 *
 * Retention: max_events trims the stream (MAXLEN); max_age is the time
 * the stream lives after its last publication (its key's expiry), not
 * each event's age; meta_ttl is how long the epoch and offset outlive
 * the events (the meta key expires max_age + meta_ttl after the last
 * publication; with either 0 it is kept). max_bytes is not applied.
 * When the meta key is gone, the next publication or read makes a new
 * epoch and drops what is left of the stream, so a client is never
 * told it recovered across it.
 *
 * Subscriptions: the hub tells the engine when the node's first
 * subscriber of a channel (or pattern) comes and its last goes; the
 * engine SUBSCRIBEs (PSUBSCRIBE for patterns, as a glob covering the
 * pattern; the hub matches exactly) on its PUB/SUB link, and runs a read
 * for that channel only once Redis has confirmed the subscription:
 * whatever is published after the read is then heard live, and the hub
 * merges the two by offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_private.h"
#include "redis/redis_private.h"

/* ---- Scripts ----------------------------------------------------------- */

/* KEYS: stream, meta. ARGV: PUB/SUB channel, data, info, time,
 * max_events, stream ttl (ms), meta ttl (ms), a new epoch, history (1/0).
 * Returns {offset, epoch}; {0, ""} without history. */
static const char publish_lua[] =
    "if ARGV[9] ~= '1' then\n"
    "  redis.call('publish', ARGV[1], 'p1 0 - ' .. string.len(ARGV[3]) ..\n"
    "    ' ' .. ARGV[3] .. ARGV[2])\n"
    "  return {0, ''}\n"
    "end\n"
    "local e = redis.call('hget', KEYS[2], 'e')\n"
    "if not e then\n"
    "  e = ARGV[8]\n"
    "  redis.call('del', KEYS[1])\n"
    "  redis.call('hset', KEYS[2], 'e', e, 's', 0)\n"
    "end\n"
    "local top = redis.call('hincrby', KEYS[2], 's', 1)\n"
    "if ARGV[5] ~= '0' then\n"
    "  redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[5], top .. '-0',\n"
    "    'd', ARGV[2], 'i', ARGV[3], 't', ARGV[4])\n"
    "else\n"
    "  redis.call('xadd', KEYS[1], top .. '-0', 'd', ARGV[2], 'i', ARGV[3],\n"
    "    't', ARGV[4])\n"
    "end\n"
    "if ARGV[6] ~= '0' then redis.call('pexpire', KEYS[1], ARGV[6]) end\n"
    "if ARGV[7] ~= '0' then redis.call('pexpire', KEYS[2], ARGV[7])\n"
    "else redis.call('persist', KEYS[2]) end\n"
    "redis.call('publish', ARGV[1], 'p1 ' .. top .. ' ' .. e .. ' ' ..\n"
    "  string.len(ARGV[3]) .. ' ' .. ARGV[3] .. ARGV[2])\n"
    "return {top, e}\n";

/* KEYS: stream, meta. ARGV: kind (p position, r recover, h history), a
 * new epoch, meta ttl (ms), offset, max, reverse (1/0), since (1/0), the
 * client's epoch. Returns {top, epoch, entries}. */
static const char read_lua[] =
    "local e = redis.call('hget', KEYS[2], 'e')\n"
    "local top = 0\n"
    "if not e then\n"
    "  e = ARGV[2]\n"
    "  redis.call('del', KEYS[1])\n"
    "  redis.call('hset', KEYS[2], 'e', e, 's', 0)\n"
    "  if ARGV[3] ~= '0' then redis.call('pexpire', KEYS[2], ARGV[3]) end\n"
    "else\n"
    "  top = tonumber(redis.call('hget', KEYS[2], 's')) or 0\n"
    "end\n"
    "local off = tonumber(ARGV[4])\n"
    "local max = tonumber(ARGV[5])\n"
    "local ev = {}\n"
    "if ARGV[1] == 'r' then\n"
    "  if (ARGV[8] == '' or ARGV[8] == e) and off < top and\n"
    "     top - off <= max then\n"
    "    ev = redis.call('xrange', KEYS[1], (off + 1) .. '-0', top .. '-0')\n"
    "  end\n"
    "elseif ARGV[1] == 'h' and max > 0 then\n"
    "  if ARGV[6] == '1' then\n"
    "    local to = '+'\n"
    "    if ARGV[7] == '1' then to = (off - 1) .. '-0' end\n"
    "    if ARGV[7] ~= '1' or (off > 1 and off <= top + 1) then\n"
    "      ev = redis.call('xrevrange', KEYS[1], to, '-', 'COUNT', max)\n"
    "    end\n"
    "  else\n"
    "    local from = '-'\n"
    "    if ARGV[7] == '1' then from = (off + 1) .. '-0' end\n"
    "    ev = redis.call('xrange', KEYS[1], from, '+', 'COUNT', max)\n"
    "  end\n"
    "end\n"
    "return {top, e, ev}\n";

/* Presence of a channel: P.presence.C, a HASH client id -> ClientInfo
 * JSON, and P.presexp.C, a ZSET client id -> when it expires (ms, on
 * Redis's clock, so that the nodes' clocks need not agree). Each node
 * refreshes its own entries; both keys expire when nobody does. */

/* KEYS: data, expiry. ARGV: client, info, ttl (ms). */
static const char presence_add_lua[] =
    "local t = redis.call('time')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "redis.call('zadd', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])\n"
    "redis.call('hset', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('pexpire', KEYS[1], ARGV[3])\n"
    "redis.call('pexpire', KEYS[2], ARGV[3])\n"
    "return 1\n";

/* KEYS: data, expiry. Drops what expired; returns the HGETALL. */
static const char presence_get_lua[] =
    "local t = redis.call('time')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local gone = redis.call('zrangebyscore', KEYS[2], '-inf', now)\n"
    "for i = 1, #gone do redis.call('hdel', KEYS[1], gone[i]) end\n"
    "if #gone > 0 then\n"
    "  redis.call('zremrangebyscore', KEYS[2], '-inf', now)\n"
    "end\n"
    "return redis.call('hgetall', KEYS[1])\n";

/* ---- The engine's channels --------------------------------------------- */

enum { CH_IDLE, CH_SUBSCRIBING, CH_ACTIVE, CH_UNSUBSCRIBING };

/* A read waiting for its channel's subscription, or in flight. */
struct rreq {
  struct rreq *next;
  struct wsp__reng *eng;
  uint32_t token;
  struct wsp__eread rq;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  char *channel;
  size_t len;
};

/* A hub pattern behind a PSUBSCRIBE glob (several may share one). */
struct hpat {
  char *name;
  size_t len;
  uint32_t refs;
};

/* One subscription of the engine: a channel, or a glob. */
struct ech {
  struct ech *next; /* in its bucket */
  char *key;        /* "c" + channel or "p" + glob */
  size_t klen;
  uint32_t refs;     /* the hub's subscribers of it on this node */
  uint32_t inflight; /* its (un)subscribe commands awaiting replies */
  uint8_t state;
  struct rreq *waiting; /* reads for when it is active */
  struct hpat *pats;    /* a glob's hub patterns */
  uint32_t npats;
};

struct wsp__reng {
  struct wsp_redis *r;
  struct wsp_server *srv;
  struct wsp__engine ops;
  struct ech **buckets;
  size_t nbuckets, count;
};

static uint64_t key_hash(const char *k, size_t n) {
  uint64_t h = 14695981039346656037ull;
  while (n--)
    h = (h ^ (unsigned char)*k++) * 1099511628211ull;
  return h;
}

static struct ech **find_slot(struct wsp__reng *e, const char *k, size_t n) {
  struct ech **pp = &e->buckets[key_hash(k, n) & (e->nbuckets - 1)];
  while (*pp && ((*pp)->klen != n || memcmp((*pp)->key, k, n) != 0))
    pp = &(*pp)->next;
  return pp;
}

static int grow(struct wsp__reng *e) {
  size_t n = e->nbuckets ? e->nbuckets * 2 : 64, i;
  struct ech **b = wsp__malloc(&e->r->mem, n * sizeof(*b));
  if (!b)
    return WSP_ERR_NOMEM;
  memset(b, 0, n * sizeof(*b));
  for (i = 0; i < e->nbuckets; i++) {
    struct ech *c = e->buckets[i], *nx;
    for (; c; c = nx) {
      size_t j = key_hash(c->key, c->klen) & (n - 1);
      nx = c->next;
      c->next = b[j];
      b[j] = c;
    }
  }
  wsp__free(&e->r->mem, e->buckets);
  e->buckets = b;
  e->nbuckets = n;
  return 0;
}

static void ech_free(struct wsp__reng *e, struct ech *c) {
  struct wsp_mem *m = &e->r->mem;
  uint32_t i;
  struct ech **pp = find_slot(e, c->key, c->klen);
  if (*pp == c) {
    *pp = c->next;
    e->count--;
  }
  for (i = 0; i < c->npats; i++)
    wsp__free(m, c->pats[i].name);
  wsp__free(m, c->pats);
  wsp__free(m, c->key);
  wsp__free(m, c);
}

/* Forget c when nobody needs it any more. */
static void ech_maybe_free(struct wsp__reng *e, struct ech *c) {
  if (c->refs == 0 && c->inflight == 0 && !c->waiting)
    ech_free(e, c);
}

/* ---- Names --------------------------------------------------------------- */

/* prefix + "." + what + "." + name */
static char *key_of(struct wsp__reng *e, const char *what, const char *name,
                    size_t len, size_t *out) {
  struct wsp_redis *r = e->r;
  size_t wl = strlen(what), n = r->prefix_len + 1 + wl + 1 + len;
  char *k = wsp__malloc(&r->mem, n + 1);
  if (!k)
    return NULL;
  memcpy(k, r->prefix, r->prefix_len);
  k[r->prefix_len] = '.';
  memcpy(k + r->prefix_len + 1, what, wl);
  k[r->prefix_len + 1 + wl] = '.';
  memcpy(k + r->prefix_len + 2 + wl, name, len);
  k[n] = '\0';
  *out = n;
  return k;
}

/* The glob of a hub pattern (pubsub.h: "*" one segment, ">" the rest)
 * over the PUB/SUB channel names: each wildcard segment becomes "*",
 * which covers it (and more: the hub matches exactly), and what globs
 * treat specially is escaped. "c"/"p" + the name is the table's key. */
static char *glob_of(struct wsp__reng *e, const char *pat, size_t len,
                     size_t *out) {
  struct wsp_redis *r = e->r;
  size_t cap = 1 + 2 * (r->prefix_len + 5 + len) + 1, n = 0, i;
  char *g = wsp__malloc(&r->mem, cap);
  const char *pfx = r->prefix;
  if (!g)
    return NULL;
  g[n++] = 'p';
  for (i = 0; i < r->prefix_len + 5 + len; i++) {
    char ch = i < r->prefix_len       ? pfx[i]
              : i < r->prefix_len + 5 ? ".pub."[i - r->prefix_len]
                                      : pat[i - r->prefix_len - 5];
    if (i >= r->prefix_len + 5) {
      size_t j = i - r->prefix_len - 5;
      int seg_start = j == 0 || pat[j - 1] == '.';
      int seg_end = j + 1 == len || pat[j + 1] == '.';
      if (seg_start && seg_end && (ch == '*' || ch == '>')) {
        g[n++] = '*';
        continue;
      }
    }
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\')
      g[n++] = '\\';
    g[n++] = ch;
  }
  g[n] = '\0';
  *out = n;
  return g;
}

static void new_epoch(struct wsp__reng *e, char *out) {
  unsigned char b[8];
  size_t i;
  if (wsp__random(&e->r->mem, b, sizeof(b)) != 0)
    memset(b, 0, sizeof(b)); /* then epochs are told apart by time */
  for (i = 0; i < sizeof(b); i++) {
    out[2 * i] = "0123456789abcdef"[b[i] >> 4];
    out[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
  }
  out[16] = '\0';
}

/* ---- Reads -------------------------------------------------------------- */

static void rreq_free(struct wsp__reng *e, struct rreq *q) {
  wsp__free(&e->r->mem, q->channel);
  wsp__free(&e->r->mem, q);
}

static int parse_u64(const char *s, size_t n, uint64_t *v) {
  uint64_t x = 0;
  size_t i;
  if (n == 0 || n > 20)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - 9) / 10)
      return -1;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  *v = x;
  return 0;
}

static int reply_u64(const struct wsp__rreply *x, uint64_t *v) {
  if (x->type == WSP__RR_INTEGER && x->integer >= 0) {
    *v = (uint64_t)x->integer;
    return 0;
  }
  if (x->type == WSP__RR_STRING)
    return parse_u64(x->str, x->len, v);
  return -1;
}

/* One stream entry: [id "N-0", [field, value, ...]]. */
static int entry_of(const struct wsp__rreply *x, struct wsp_evlog_event *ev) {
  const struct wsp__rreply *f;
  const char *dash;
  size_t i;
  memset(ev, 0, sizeof(*ev));
  ev->data.ptr = ev->info.ptr = "";
  if (x->type != WSP__RR_ARRAY || x->n != 2 ||
      x->elem[0]->type != WSP__RR_STRING || x->elem[1]->type != WSP__RR_ARRAY)
    return -1;
  dash = memchr(x->elem[0]->str, '-', x->elem[0]->len);
  if (!dash || parse_u64(x->elem[0]->str, (size_t)(dash - x->elem[0]->str),
                         &ev->offset) != 0)
    return -1;
  f = x->elem[1];
  for (i = 0; i + 1 < f->n; i += 2) {
    const struct wsp__rreply *k = f->elem[i], *v = f->elem[i + 1];
    if (k->type != WSP__RR_STRING || v->type != WSP__RR_STRING || k->len != 1)
      return -1;
    if (k->str[0] == 'd') {
      ev->data.ptr = v->str;
      ev->data.len = v->len;
    } else if (k->str[0] == 'i') {
      ev->info.ptr = v->str;
      ev->info.len = v->len;
    } else if (k->str[0] == 't') {
      (void)parse_u64(v->str, v->len, &ev->time);
    }
  }
  return 0;
}

static void read_replied(struct wsp_redis *r, const struct wsp__rreply *x,
                         int err, void *ud) {
  struct rreq *q = ud;
  struct wsp__reng *e = q->eng;
  struct wsp__eresult res;
  struct wsp_evlog_event *evs = NULL;
  const struct wsp__rreply *list;
  size_t i;
  (void)r;
  if (!e->srv) {
    rreq_free(e, q);
    return;
  }
  if (q->rq.kind == WSP__EREAD_READY) {
    /* a PING after the subscription was confirmed */
    wsp__ch_engine_read_done(e->srv, q->token, err || !x ? WSP_ERR_CLOSED : 0,
                             err || !x ? NULL : &(struct wsp__eresult){0});
    rreq_free(e, q);
    return;
  }
  memset(&res, 0, sizeof(res));
  if (q->rq.kind == WSP__EREAD_PRESENCE) {
    struct wsp_str *m = NULL;
    if (err || !x || x->type != WSP__RR_ARRAY || x->n % 2)
      goto fail;
    if (x->n && !(m = wsp__malloc(&e->r->mem, x->n * sizeof(*m))))
      goto fail;
    for (i = 0; i < x->n; i++) {
      if (x->elem[i]->type != WSP__RR_STRING) {
        wsp__free(&e->r->mem, m);
        goto fail;
      }
      m[i].ptr = x->elem[i]->str;
      m[i].len = x->elem[i]->len;
    }
    res.members = m;
    res.nmembers = x->n / 2;
    wsp__ch_engine_read_done(e->srv, q->token, 0, &res);
    wsp__free(&e->r->mem, m);
    rreq_free(e, q);
    return;
  }
  if (err || !x || x->type != WSP__RR_ARRAY || x->n != 3 ||
      reply_u64(x->elem[0], &res.pos.offset) != 0 ||
      x->elem[1]->type != WSP__RR_STRING ||
      x->elem[1]->len > WSP_EVLOG_EPOCH_MAX ||
      x->elem[2]->type != WSP__RR_ARRAY)
    goto fail;
  memcpy(res.pos.epoch, x->elem[1]->str, x->elem[1]->len);
  res.pos.epoch[x->elem[1]->len] = '\0';
  list = x->elem[2];
  if (list->n) {
    evs = wsp__malloc(&e->r->mem, list->n * sizeof(*evs));
    if (!evs)
      goto fail;
    for (i = 0; i < list->n; i++)
      if (entry_of(list->elem[i], &evs[i]) != 0)
        goto fail;
  }
  res.events = evs;
  res.n = list->n;
  wsp__ch_engine_read_done(e->srv, q->token, 0, &res);
  wsp__free(&e->r->mem, evs);
  rreq_free(e, q);
  return;
fail:
  wsp__free(&e->r->mem, evs);
  wsp__ch_engine_read_done(e->srv, q->token, WSP_ERR_IO, NULL);
  rreq_free(e, q);
}

static int u64_arg(char *buf, uint64_t v) {
  return snprintf(buf, 24, "%llu", (unsigned long long)v);
}

#define EVAL_ARGS_MAX 12

/* EVAL script with the channel's two keys (what1 and what2 of ch) and n
 * more arguments (lens[i] bytes of args[i], or a C string when lens is
 * NULL). */
static int eval2(struct wsp__reng *e, const char *script, const char *what1,
                 const char *what2, const char *ch, size_t len, int n,
                 const char *const *args, const size_t *lens,
                 wsp__redis_done_fn *done, void *ud) {
  struct wsp_redis *r = e->r;
  const char *argv[5 + EVAL_ARGS_MAX];
  size_t alen[5 + EVAL_ARGS_MAX];
  char *k1, *k2;
  int i, rc = WSP_ERR_NOMEM;
  if (n > EVAL_ARGS_MAX)
    return WSP_ERR_INVAL;
  k1 = key_of(e, what1, ch, len, &alen[3]);
  k2 = key_of(e, what2, ch, len, &alen[4]);
  if (k1 && k2) {
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "2";
    argv[3] = k1;
    argv[4] = k2;
    alen[0] = 4;
    alen[1] = strlen(script);
    alen[2] = 1;
    for (i = 0; i < n; i++) {
      argv[5 + i] = args[i];
      alen[5 + i] = lens ? lens[i] : strlen(args[i]);
    }
    rc = wsp__redis_command(r, WSP_REDIS_CMD, 5 + n, argv, alen, done, ud);
  }
  wsp__free(&r->mem, k1);
  wsp__free(&r->mem, k2);
  return rc;
}

/* Send the read q (its channel's subscription is active). When it cannot
 * be queued, q is freed and the error returned; with complete, the
 * hub hears it too (we are in a completion already, not in its call). */
static int read_send(struct wsp__reng *e, struct rreq *q, int complete) {
  const struct wsp__eread *rq = &q->rq;
  char epoch[17], ttl[24], off[24], max[24];
  const char *args[8];
  int rc;

  if (rq->kind == WSP__EREAD_PRESENCE) {
    rc = eval2(e, presence_get_lua, "presence", "presexp", q->channel, q->len,
               0, NULL, NULL, read_replied, q);
  } else if (rq->kind == WSP__EREAD_READY) {
    static const char *const ping[] = {"PING"};
    rc =
        wsp__redis_command(e->r, WSP_REDIS_CMD, 1, ping, NULL, read_replied, q);
  } else {
    new_epoch(e, epoch);
    u64_arg(ttl, rq->retention.meta_ttl);
    u64_arg(off, rq->offset);
    u64_arg(max, rq->max);
    args[0] = rq->kind == WSP__EREAD_RECOVER   ? "r"
              : rq->kind == WSP__EREAD_HISTORY ? "h"
                                               : "p";
    args[1] = epoch;
    args[2] = ttl;
    args[3] = off;
    args[4] = max;
    args[5] = rq->reverse ? "1" : "0";
    args[6] = rq->has_since ? "1" : "0";
    args[7] = q->epoch;
    rc = eval2(e, read_lua, "stream", "meta", q->channel, q->len, 8, args, NULL,
               read_replied, q);
  }
  if (rc != 0) {
    uint32_t token = q->token;
    rreq_free(e, q);
    if (complete && e->srv)
      wsp__ch_engine_read_done(e->srv, token, rc, NULL);
  }
  return rc;
}

/* Run or fail the reads waiting for c. The hub's completions may drop
 * the subscriptions that held c: it is pinned (an in-flight count of
 * its own) until the walk is over, and the caller frees it if due. */
static void flush_waiting(struct wsp__reng *e, struct ech *c, int err) {
  c->inflight++;
  while (c->waiting) {
    struct rreq *q = c->waiting;
    c->waiting = q->next;
    q->next = NULL;
    if (err) {
      uint32_t token = q->token;
      rreq_free(e, q);
      if (e->srv)
        wsp__ch_engine_read_done(e->srv, token, err, NULL);
    } else {
      (void)read_send(e, q, 1);
    }
  }
  c->inflight--;
}

/* ---- Subscriptions ------------------------------------------------------ */

static void subscribe_replied(struct wsp_redis *r, const struct wsp__rreply *x,
                              int err, void *ud);
static void unsubscribe_replied(struct wsp_redis *r,
                                const struct wsp__rreply *x, int err, void *ud);

/* (P)SUBSCRIBE or (P)UNSUBSCRIBE c on the PUB/SUB link. */
static int send_sub(struct wsp__reng *e, struct ech *c, int on) {
  const char *argv[2];
  size_t lens[2];
  int pattern = c->key[0] == 'p', rc;
  argv[0] = on ? (pattern ? "PSUBSCRIBE" : "SUBSCRIBE")
               : (pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE");
  lens[0] = strlen(argv[0]);
  argv[1] = c->key + 1;
  lens[1] = c->klen - 1;
  rc = wsp__redis_command(e->r, WSP_REDIS_SUB, 2, argv, lens,
                          on ? subscribe_replied : unsubscribe_replied, c);
  if (rc == 0) {
    c->inflight++;
    c->state = on ? CH_SUBSCRIBING : CH_UNSUBSCRIBING;
  }
  return rc;
}

static void subscribe_replied(struct wsp_redis *r, const struct wsp__rreply *x,
                              int err, void *ud) {
  struct ech *c = ud;
  struct wsp__reng *e = r->eng;
  int ok = !err && x && x->type == WSP__RR_ARRAY && x->n >= 1 &&
           x->elem[0]->type == WSP__RR_STRING;
  c->inflight--;
  if (c->state == CH_SUBSCRIBING && c->inflight == 0) {
    c->state = ok ? CH_ACTIVE : CH_IDLE;
    flush_waiting(e, c, ok ? 0 : WSP_ERR_CLOSED);
  }
  ech_maybe_free(e, c);
}

static void unsubscribe_replied(struct wsp_redis *r,
                                const struct wsp__rreply *x, int err,
                                void *ud) {
  struct ech *c = ud;
  (void)x;
  (void)err;
  c->inflight--;
  if (c->state == CH_UNSUBSCRIBING && c->inflight == 0)
    c->state = CH_IDLE;
  ech_maybe_free(r->eng, c);
}

static struct ech *ech_lookup(struct wsp__reng *e, char *k, size_t kl,
                              int make);

/* The table's entry of a channel or pattern, made when absent. */
static struct ech *ech_get(struct wsp__reng *e, const char *ch, size_t len,
                           int pattern, int make) {
  struct wsp_redis *r = e->r;
  size_t kl = 0;
  char *k;
  if (pattern) {
    k = glob_of(e, ch, len, &kl);
  } else {
    size_t n;
    char *name = key_of(e, "pub", ch, len, &n);
    k = name ? wsp__malloc(&r->mem, n + 2) : NULL;
    if (k) {
      k[0] = 'c';
      memcpy(k + 1, name, n + 1);
      kl = n + 1;
    }
    wsp__free(&r->mem, name);
  }
  return ech_lookup(e, k, kl, make);
}

/* The entry of key k (kl bytes; taken over), made when absent and make. */
static struct ech *ech_lookup(struct wsp__reng *e, char *k, size_t kl,
                              int make) {
  struct wsp_redis *r = e->r;
  struct ech **pp, *c;
  if (!k || (!e->nbuckets && grow(e) != 0)) {
    wsp__free(&r->mem, k);
    return NULL;
  }
  pp = find_slot(e, k, kl);
  if (*pp || !make) {
    wsp__free(&r->mem, k);
    return *pp;
  }
  if (e->count >= e->nbuckets && grow(e) == 0)
    pp = find_slot(e, k, kl);
  c = wsp__malloc(&r->mem, sizeof(*c));
  if (!c) {
    wsp__free(&r->mem, k);
    return NULL;
  }
  memset(c, 0, sizeof(*c));
  c->key = k;
  c->klen = kl;
  *pp = c;
  e->count++;
  return c;
}

static int hpat_add(struct wsp__reng *e, struct ech *c, const char *p,
                    size_t len) {
  uint32_t i;
  struct hpat *a;
  for (i = 0; i < c->npats; i++)
    if (c->pats[i].len == len && memcmp(c->pats[i].name, p, len) == 0) {
      c->pats[i].refs++;
      return 0;
    }
  a = wsp__realloc(&e->r->mem, c->pats, (c->npats + 1) * sizeof(*a));
  if (!a)
    return WSP_ERR_NOMEM;
  c->pats = a;
  a[c->npats].name = wsp__strndup(&e->r->mem, p, len);
  if (!a[c->npats].name)
    return WSP_ERR_NOMEM;
  a[c->npats].len = len;
  a[c->npats].refs = 1;
  c->npats++;
  return 0;
}

static void hpat_del(struct wsp__reng *e, struct ech *c, const char *p,
                     size_t len) {
  uint32_t i;
  for (i = 0; i < c->npats; i++)
    if (c->pats[i].len == len && memcmp(c->pats[i].name, p, len) == 0) {
      if (--c->pats[i].refs == 0) {
        wsp__free(&e->r->mem, c->pats[i].name);
        c->pats[i] = c->pats[--c->npats];
      }
      return;
    }
}

static int op_subscribe(void *data, const char *ch, size_t len, int pattern) {
  struct wsp__reng *e = data;
  struct ech *c = ech_get(e, ch, len, pattern, 1);
  if (!c || (pattern && hpat_add(e, c, ch, len) != 0)) {
    if (c)
      ech_maybe_free(e, c);
    return WSP_ERR_NOMEM;
  }
  c->refs++;
  if (c->refs == 1 && c->state != CH_SUBSCRIBING && c->state != CH_ACTIVE &&
      wsp_redis_is_up(e->r, WSP_REDIS_SUB) && send_sub(e, c, 1) != 0) {
    c->refs--;
    if (pattern)
      hpat_del(e, c, ch, len);
    ech_maybe_free(e, c);
    return WSP_ERR_NOMEM;
  }
  return 0;
}

static void op_unsubscribe(void *data, const char *ch, size_t len,
                           int pattern) {
  struct wsp__reng *e = data;
  struct ech *c = ech_get(e, ch, len, pattern, 0);
  if (!c || c->refs == 0)
    return;
  if (pattern)
    hpat_del(e, c, ch, len);
  if (--c->refs == 0 && c->waiting) {
    /* Nobody is subscribed to wait with them: a history command still
     * waiting is answered with an error now, not at its timeout. */
    flush_waiting(e, c, WSP_ERR_CANCELLED);
  }
  if (c->refs == 0 && (c->state == CH_ACTIVE || c->state == CH_SUBSCRIBING) &&
      wsp_redis_is_up(e->r, WSP_REDIS_SUB)) {
    if (send_sub(e, c, 0) != 0)
      c->state = CH_IDLE;
  }
  ech_maybe_free(e, c);
}

static int op_read(void *data, const char *ch, size_t len,
                   const struct wsp__eread *rq, uint32_t token) {
  struct wsp__reng *e = data;
  /* presence and history need no subscription: a snapshot each */
  int presence =
      rq->kind == WSP__EREAD_PRESENCE || rq->kind == WSP__EREAD_HISTORY;
  struct ech *c = presence ? NULL : ech_get(e, ch, len, rq->pattern, 0);
  struct rreq *q;
  size_t n;
  if (!c && !presence)
    return WSP_ERR_STATE; /* the hub subscribes before it reads */
  if (c && c->state != CH_ACTIVE && !wsp_redis_is_up(e->r, WSP_REDIS_SUB))
    return WSP_ERR_CLOSED; /* no waiting for Redis: the client retries */
  q = wsp__malloc(&e->r->mem, sizeof(*q));
  if (!q)
    return WSP_ERR_NOMEM;
  memset(q, 0, sizeof(*q));
  q->eng = e;
  q->token = token;
  q->rq = *rq;
  n = rq->epoch ? strlen(rq->epoch) : 0;
  memcpy(q->epoch, rq->epoch ? rq->epoch : "",
         n < WSP_EVLOG_EPOCH_MAX ? n : WSP_EVLOG_EPOCH_MAX);
  q->rq.epoch = q->epoch;
  q->channel = wsp__strndup(&e->r->mem, ch, len);
  q->len = len;
  if (!q->channel) {
    wsp__free(&e->r->mem, q);
    return WSP_ERR_NOMEM;
  }
  if (presence || c->state == CH_ACTIVE)
    return read_send(e, q, 0); /* the reply comes later: never inside */
  q->next = c->waiting;
  c->waiting = q;
  if (c->state == CH_IDLE && wsp_redis_is_up(e->r, WSP_REDIS_SUB) &&
      send_sub(e, c, 1) != 0) {
    c->waiting = q->next;
    rreq_free(e, q);
    return WSP_ERR_NOMEM;
  }
  return 0;
}

/* ---- Publications -------------------------------------------------------- */

static void publish_replied(struct wsp_redis *r, const struct wsp__rreply *x,
                            int err, void *ud) {
  struct wsp__reng *e = r->eng;
  uint32_t token = (uint32_t)(uintptr_t)ud;
  uint64_t offset = 0;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1] = "";
  if (!e || !e->srv)
    return;
  if (err || !x || x->type != WSP__RR_ARRAY || x->n != 2 ||
      reply_u64(x->elem[0], &offset) != 0 ||
      x->elem[1]->type != WSP__RR_STRING ||
      x->elem[1]->len > WSP_EVLOG_EPOCH_MAX) {
    wsp__ch_engine_published(e->srv, token, err ? err : WSP_ERR_IO, 0, NULL);
    return;
  }
  memcpy(epoch, x->elem[1]->str, x->elem[1]->len);
  epoch[x->elem[1]->len] = '\0';
  wsp__ch_engine_published(e->srv, token, 0, offset, epoch);
}

static int op_publish(void *data, const struct wsp__epub *p, uint32_t token) {
  struct wsp__reng *e = data;
  struct wsp_redis *r = e->r;
  char epoch[17], now[24], maxev[24], sttl[24], mttl[24], *chan;
  const char *args[9];
  size_t lens[9], cl = 0;
  uint64_t meta_ttl = 0;
  int i, rc;

  if (!(chan = key_of(e, "pub", p->channel, p->clen, &cl)))
    return WSP_ERR_NOMEM;
  new_epoch(e, epoch);
  u64_arg(now, e->srv ? wsp__hist_now(e->srv) : 0);
  u64_arg(maxev, p->history ? p->retention.max_events : 0);
  u64_arg(sttl, p->history ? p->retention.max_age : 0);
  if (p->history && p->retention.max_age && p->retention.meta_ttl)
    meta_ttl = wsp__add_sat(p->retention.max_age, p->retention.meta_ttl);
  u64_arg(mttl, meta_ttl);
  args[0] = chan;
  args[1] = p->data;
  args[2] = p->info ? p->info : "";
  args[3] = now;
  args[4] = maxev;
  args[5] = sttl;
  args[6] = mttl;
  args[7] = epoch;                  /* the epoch of a stream made now */
  args[8] = p->history ? "1" : "0"; /* whether it is stored */
  lens[0] = cl;
  lens[1] = p->dlen; /* a span: not NUL-terminated */
  for (i = 2; i < 9; i++)
    lens[i] = strlen(args[i]);
  rc = eval2(e, publish_lua, "stream", "meta", p->channel, p->clen, 9, args,
             lens, publish_replied, (void *)(uintptr_t)token);
  wsp__free(&r->mem, chan);
  return rc;
}

static int op_presence(void *data, const char *ch, size_t len,
                       const char *client, const char *info, size_t ilen,
                       uint64_t ttl) {
  struct wsp__reng *e = data;
  struct wsp_redis *r = e->r;
  char *hkey, *zkey, ttls[24];
  const char *argv[8];
  size_t lens[8], hl = 0, zl = 0;
  int rc = WSP_ERR_NOMEM;
  if (info) {
    u64_arg(ttls, ttl);
    argv[0] = client;
    argv[1] = info;
    argv[2] = ttls;
    lens[0] = strlen(client);
    lens[1] = ilen;
    lens[2] = strlen(ttls);
    return eval2(e, presence_add_lua, "presence", "presexp", ch, len, 3, argv,
                 lens, NULL, NULL);
  }
  hkey = key_of(e, "presence", ch, len, &hl);
  zkey = key_of(e, "presexp", ch, len, &zl);
  if (hkey && zkey) {
    argv[0] = "HDEL";
    argv[1] = hkey;
    argv[2] = client;
    lens[0] = 4;
    lens[1] = hl;
    lens[2] = strlen(client);
    rc = wsp__redis_command(r, WSP_REDIS_CMD, 3, argv, lens, NULL, NULL);
    argv[0] = "ZREM";
    argv[1] = zkey;
    lens[1] = zl;
    if (rc == 0)
      rc = wsp__redis_command(r, WSP_REDIS_CMD, 3, argv, lens, NULL, NULL);
  }
  wsp__free(&r->mem, hkey);
  wsp__free(&r->mem, zkey);
  return rc;
}

static int op_join_leave(void *data, const char *ch, size_t len,
                         const char *info, size_t ilen, int join) {
  struct wsp__reng *e = data;
  struct wsp_redis *r = e->r;
  const char *argv[3];
  size_t lens[3], cl = 0;
  char *chan = key_of(e, "pub", ch, len, &cl);
  char *msg = wsp__malloc(&r->mem, ilen + 3);
  int rc = WSP_ERR_NOMEM;
  if (chan && msg) {
    memcpy(msg, join ? "j1 " : "l1 ", 3);
    memcpy(msg + 3, info, ilen);
    argv[0] = "PUBLISH";
    argv[1] = chan;
    argv[2] = msg;
    lens[0] = 7;
    lens[1] = cl;
    lens[2] = ilen + 3;
    rc = wsp__redis_command(r, WSP_REDIS_CMD, 3, argv, lens, NULL, NULL);
  }
  wsp__free(&r->mem, chan);
  wsp__free(&r->mem, msg);
  return rc;
}

/* An order for the other nodes: "c1 NODE ORDER" on P.control. */
static int op_control(void *data, const char *msg, size_t len) {
  struct wsp__reng *e = data;
  struct wsp_redis *r = e->r;
  size_t nl = strlen(r->node), cl = r->prefix_len + 8;
  char *chan = wsp__malloc(&r->mem, cl + 1);
  char *m = wsp__malloc(&r->mem, 3 + nl + 1 + len);
  const char *argv[3];
  size_t lens[3];
  int rc = WSP_ERR_NOMEM;
  if (chan && m) {
    memcpy(chan, r->prefix, r->prefix_len);
    memcpy(chan + r->prefix_len, ".control", 9);
    memcpy(m, "c1 ", 3);
    memcpy(m + 3, r->node, nl);
    m[3 + nl] = ' ';
    memcpy(m + 4 + nl, msg, len);
    argv[0] = "PUBLISH";
    argv[1] = chan;
    argv[2] = m;
    lens[0] = 7;
    lens[1] = cl;
    lens[2] = 4 + nl + len;
    rc = wsp__redis_command(r, WSP_REDIS_CMD, 3, argv, lens, NULL, NULL);
  }
  wsp__free(&r->mem, chan);
  wsp__free(&r->mem, m);
  return rc;
}

/* The engine's own subscription to P.control, for as long as it lives. */
static int control_subscribe(struct wsp__reng *e) {
  struct wsp_redis *r = e->r;
  size_t kl = 1 + r->prefix_len + 8;
  char *k = wsp__malloc(&r->mem, kl + 1);
  struct ech *c;
  if (!k)
    return WSP_ERR_NOMEM;
  k[0] = 'c';
  memcpy(k + 1, r->prefix, r->prefix_len);
  memcpy(k + 1 + r->prefix_len, ".control", 9);
  c = ech_lookup(e, k, kl, 1);
  if (!c)
    return WSP_ERR_NOMEM;
  if (c->refs == 0) {
    c->refs = 1;
    if (wsp_redis_is_up(r, WSP_REDIS_SUB))
      (void)send_sub(e, c, 1);
  }
  return 0;
}

/* A message on P.control: an order from another node. */
static void on_control(struct wsp__reng *e, const struct wsp__rreply *pay) {
  struct wsp_redis *r = e->r;
  size_t nl = strlen(r->node);
  const char *sp;
  if (pay->len < 4 || memcmp(pay->str, "c1 ", 3) != 0 ||
      !(sp = memchr(pay->str + 3, ' ', pay->len - 3))) {
    r->stats.errors++;
    return;
  }
  if ((size_t)(sp - pay->str - 3) == nl &&
      memcmp(pay->str + 3, r->node, nl) == 0)
    return; /* ours: done here already */
  wsp__hub_control(e->srv, sp + 1, pay->len - (size_t)(sp + 1 - pay->str));
}

/* A PUB/SUB message: hand the publication to the hub. */
static void on_message(struct wsp_redis *r, const struct wsp__rreply *m) {
  struct wsp__reng *e = r->eng;
  const struct wsp__rreply *chan, *pay;
  const char *p, *end, *f[3];
  size_t flen[3], k;
  uint64_t ilen;
  struct wsp__hpos hp;
  struct ech *c = NULL;
  char *info = NULL;
  size_t pfx = r->prefix_len + 5; /* "P.pub." */
  int pattern;

  if (!e || !e->srv || m->n < 3)
    return;
  pattern = m->elem[0]->len == 8; /* "pmessage" */
  if (pattern && m->n != 4)
    return;
  chan = m->elem[pattern ? 2 : 1];
  pay = m->elem[pattern ? 3 : 2];
  if (!pattern && chan->type == WSP__RR_STRING && pay->type == WSP__RR_STRING &&
      chan->len == r->prefix_len + 8 &&
      memcmp(chan->str, r->prefix, r->prefix_len) == 0 &&
      memcmp(chan->str + r->prefix_len, ".control", 8) == 0) {
    on_control(e, pay);
    return;
  }
  if (chan->type != WSP__RR_STRING || pay->type != WSP__RR_STRING ||
      chan->len <= pfx || memcmp(chan->str, r->prefix, r->prefix_len) != 0 ||
      memcmp(chan->str + r->prefix_len, ".pub.", 5) != 0)
    goto bad;
  p = pay->str;
  end = pay->str + pay->len;
  if (pay->len >= 3 && (memcmp(p, "j1 ", 3) == 0 || memcmp(p, "l1 ", 3) == 0)) {
    /* a join or leave: for the channel's own subscribers */
    if (!pattern)
      wsp__ch_engine_join_leave(e->srv, chan->str + pfx, chan->len - pfx, p + 3,
                                pay->len - 3, p[0] == 'j');
    return;
  }
  /* "p1 OFFSET EPOCH INFOLEN " */
  if (pay->len < 3 || memcmp(p, "p1 ", 3) != 0)
    goto bad;
  p += 3;
  for (k = 0; k < 3; k++) {
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
      goto bad;
    f[k] = p;
    flen[k] = (size_t)(sp - p);
    p = sp + 1;
  }
  memset(&hp, 0, sizeof(hp)); /* its time: when it arrives */
  if (parse_u64(f[0], flen[0], &hp.offset) != 0 ||
      parse_u64(f[2], flen[2], &ilen) != 0 || ilen > (uint64_t)(end - p) ||
      flen[1] == 0 || flen[1] > WSP_EVLOG_EPOCH_MAX)
    goto bad;
  memcpy(hp.epoch_text, f[1], flen[1]);
  hp.epoch_text[flen[1]] = '\0';
  hp.epoch = wsp__hist_epoch_hash(hp.epoch_text);
  if (ilen) {
    info = wsp__strndup(&r->mem, p, (size_t)ilen);
    if (!info)
      return; /* the subscribers see a gap and recover */
  }
  p += ilen;
  if (pattern) {
    const struct wsp__rreply *g = m->elem[1];
    uint32_t i;
    if (g->type == WSP__RR_STRING) {
      char *key = wsp__malloc(&r->mem, g->len + 1);
      if (key) {
        key[0] = 'p';
        memcpy(key + 1, g->str, g->len);
        if (e->nbuckets)
          c = *find_slot(e, key, g->len + 1);
        wsp__free(&r->mem, key);
      }
    }
    /* Delivering may drop subscriptions of these patterns, and with
     * them the entry: walk a copy of its patterns. */
    if (c && c->npats) {
      uint32_t n = c->npats;
      struct wsp_str *pats = wsp__malloc(&r->mem, n * sizeof(*pats));
      for (i = 0; pats && i < n; i++) {
        pats[i].ptr = wsp__strndup(&r->mem, c->pats[i].name, c->pats[i].len);
        pats[i].len = pats[i].ptr ? c->pats[i].len : 0;
      }
      for (i = 0; pats && i < n; i++)
        if (pats[i].ptr)
          wsp__ch_engine_deliver(e->srv, chan->str + pfx, chan->len - pfx,
                                 pats[i].ptr, pats[i].len, p, (size_t)(end - p),
                                 info, hp.offset ? &hp : NULL);
      for (i = 0; pats && i < n; i++)
        wsp__free(&r->mem, (char *)pats[i].ptr);
      wsp__free(&r->mem, pats);
    }
  } else {
    wsp__ch_engine_deliver(e->srv, chan->str + pfx, chan->len - pfx, NULL, 0, p,
                           (size_t)(end - p), info, hp.offset ? &hp : NULL);
  }
  wsp__free(&r->mem, info);
  return;
bad:
  r->stats.errors++;
}

/* A link came up or went down. */
static void on_link(struct wsp_redis *r, int link, int up) {
  struct wsp__reng *e = r->eng;
  size_t i;
  if (!e || link != WSP_REDIS_SUB)
    return;
  if (!up) {
    /* Redis forgot this connection's subscriptions, and publications
     * may have passed meanwhile: every subscriber recovers. */
    for (i = 0; i < e->nbuckets; i++) {
      struct ech *c;
      for (c = e->buckets[i]; c; c = c->next)
        if (c->inflight == 0)
          c->state = CH_IDLE;
    }
    if (e->srv)
      wsp__ch_engine_lost(e->srv);
    return;
  }
  /* Subscribe again to what is still wanted. */
  for (i = 0; i < e->nbuckets; i++) {
    struct ech *c, *next;
    for (c = e->buckets[i]; c; c = next) {
      next = c->next;
      if ((c->refs || c->waiting) && c->state == CH_IDLE)
        (void)send_sub(e, c, 1);
    }
  }
}

static void op_detach(void *data) {
  struct wsp__reng *e = data;
  e->srv = NULL;
}

/* ---- Public API --------------------------------------------------------- */

static void engine_free(struct wsp_redis *r) {
  struct wsp__reng *e = r->eng;
  size_t i;
  if (!e)
    return;
  if (e->srv)
    wsp__ch_engine_set(e->srv, NULL);
  for (i = 0; i < e->nbuckets; i++)
    while (e->buckets[i]) {
      struct ech *c = e->buckets[i];
      while (c->waiting) {
        struct rreq *q = c->waiting;
        c->waiting = q->next;
        rreq_free(e, q);
      }
      ech_free(e, c);
    }
  wsp__free(&r->mem, e->buckets);
  wsp__free(&r->mem, e);
  r->eng = NULL;
}

int wsp_server_set_redis(struct wsp_server *s, struct wsp_redis *r) {
  struct wsp__reng *e;
  if (!s)
    return WSP_ERR_INVAL;
  if (s->stats.subscriptions)
    return WSP_ERR_STATE; /* the engine would not know of them */
  if (!r) {
    wsp__ch_engine_set(s, NULL);
    return 0;
  }
  if (r->eng && r->eng->srv && r->eng->srv != s)
    return WSP_ERR_STATE;
  if (!r->eng) {
    e = wsp__malloc(&r->mem, sizeof(*e));
    if (!e)
      return WSP_ERR_NOMEM;
    memset(e, 0, sizeof(*e));
    e->r = r;
    e->ops.data = e;
    e->ops.publish = op_publish;
    e->ops.subscribe = op_subscribe;
    e->ops.unsubscribe = op_unsubscribe;
    e->ops.read = op_read;
    e->ops.detach = op_detach;
    e->ops.presence = op_presence;
    e->ops.join_leave = op_join_leave;
    e->ops.control = op_control;
    r->eng = e;
    r->on_message = on_message;
    r->on_link = on_link;
    r->eng_free = engine_free;
  }
  e = r->eng;
  if (control_subscribe(e) != 0)
    return WSP_ERR_NOMEM;
  wsp__ch_engine_set(s, &e->ops);
  e->srv = s;
  return 0;
}
