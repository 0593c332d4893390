/*
 * Deterministic simulation of the hub (tests/sim/README.md): one
 * wsp_server with the simulation's clock, random source and allocator,
 * a history store that fails and restarts on demand (simstore.c), and
 * many clients that speak the protocol through the library's own
 * WebSocket client, all driven by one seeded scheduler. Every step is
 * followed by the invariant checks; a failure prints the seed, the step
 * and the command line that replays it exactly.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsp.h>
#include <wsp/json.h>

#include "simstore.h"

/* ---- Configuration --------------------------------------------------------
 */

#define NCH 6
static const char *const ch_name[NCH] = {"h.a", "h.b", "h.c",
                                         "t.x", "n.a", "n.b"};
/* "h." channels keep HIST_EVENTS; "t." ones HIST_AGE ms and are dropped
 * META_TTL ms after they empty (a new epoch); "n." ones have no history. */
#define HIST_EVENTS 32
#define HIST_AGE 20000
#define META_TTL 40000
#define RECOVERY_MAX 24
#define HISTORY_MAX 40
#define MAX_QUEUED 24576
#define RPC_TIMEOUT 3000
#define SYNC_INTERVAL 700
#define MAX_CLIENTS 200

static int ch_hist(int c) { return ch_name[c][0] != 'n'; }

/* ---- Run state --------------------------------------------------------------
 */

static struct {
  uint64_t seed, ops, op;
  int nclients;
  int verbose;
  uint64_t now;
  const char *dir; /* --store-dir: the file store there */
} run = {1, 400000, 0, 48, 0, 1000000, NULL};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(path);
}

/* The file store's directory goes, whatever the outcome. */
static void rm_dir(void) {
  if (run.dir)
    nftw(run.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr,
          "sim: invariant violated at op %" PRIu64 " (t=%" PRIu64 " ms): ",
          run.op, run.now);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr,
          "\nsim: seed %" PRIu64 "; replay with: sim --seed %" PRIu64
          " --ops %" PRIu64 " --clients %d%s%s\n",
          run.seed, run.seed, run.op + 1, run.nclients,
          run.dir ? " --store file" : "", "");
  rm_dir();
  exit(1);
}

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...) {
  va_list ap;
  if (!run.verbose)
    return;
  fprintf(stderr, "[%" PRIu64 " t=%" PRIu64 "] ", run.op, run.now);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "sim: out of memory\n");
    abort();
  }
  return q;
}

#define GROW(arr, n, cap)                                                      \
  do {                                                                         \
    if ((n) == (cap)) {                                                        \
      (cap) = (cap) ? (cap)*2 : 16;                                            \
      (arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                         \
    }                                                                          \
  } while (0)

/* ---- Randomness: xoshiro256**, seeded by splitmix64
 * -------------------------- */

struct rng {
  uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed) {
  int i;
  for (i = 0; i < 4; i++)
    r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(struct rng *r) {
  uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return res;
}

static uint64_t below(struct rng *r, uint64_t n) {
  return n ? rng_next(r) % n : 0;
}

/* The scheduler's choices, and the bytes the library asks for. */
static struct rng R, LR;

static int lib_random(void *buf, size_t len, void *ud) {
  uint8_t *p = buf;
  (void)ud;
  while (len) {
    uint64_t v = rng_next(&LR);
    size_t k = len < 8 ? len : 8;
    memcpy(p, &v, k);
    p += k;
    len -= k;
  }
  return 0;
}

static uint64_t store_below(uint64_t n, void *ud) {
  (void)ud;
  return below(&R, n);
}

/* ---- Memory: counting allocators
 * --------------------------------------------- */

struct acct {
  size_t live, peak, blocks;
};

#define HDR 16

static void *acct_malloc(size_t n, void *ud) {
  struct acct *a = ud;
  unsigned char *p = malloc(n + HDR);
  if (!p)
    return NULL;
  memcpy(p, &n, sizeof(n));
  a->live += n;
  a->blocks++;
  if (a->live > a->peak)
    a->peak = a->live;
  return p + HDR;
}

static void acct_free(void *ptr, void *ud) {
  struct acct *a = ud;
  unsigned char *p = ptr;
  size_t n;
  if (!p)
    return;
  p -= HDR;
  memcpy(&n, p, sizeof(n));
  a->live -= n;
  a->blocks--;
  free(p);
}

static void *acct_realloc(void *ptr, size_t n, void *ud) {
  struct acct *a = ud;
  unsigned char *p, *q;
  size_t old;
  if (!ptr)
    return acct_malloc(n, ud);
  p = (unsigned char *)ptr - HDR;
  memcpy(&old, p, sizeof(old));
  q = realloc(p, n + HDR);
  if (!q)
    return NULL;
  memcpy(q, &n, sizeof(n));
  a->live = a->live - old + n;
  if (a->live > a->peak)
    a->peak = a->live;
  return q + HDR;
}

static struct acct srv_acct, log_acct, cli_acct;

static struct wsp_mem mem_of(struct acct *a) {
  struct wsp_mem m;
  memset(&m, 0, sizeof(m));
  m.malloc = acct_malloc;
  m.realloc = acct_realloc;
  m.free = acct_free;
  m.user_data = a;
  m.random = lib_random;
  return m;
}

/* ---- Ground truth
 * --------------------------------------------------------------- */

/* Every publication carries {"s":seq}; seq numbers are never reused. */
enum { SEQ_NEW = 0, SEQ_STORED, SEQ_PUBLISHED, SEQ_FAILED };
static uint8_t *seq_state;
static uint64_t nseq, capseq;

static uint64_t seq_new(void) {
  if (++nseq >= capseq) {
    uint64_t old = capseq;
    capseq = capseq ? capseq * 2 : 1 << 16;
    seq_state = xrealloc(seq_state, capseq);
    memset(seq_state + old, SEQ_NEW, capseq - old);
  }
  return nseq;
}

struct gt_epoch {
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t *seq; /* seq[o - 1]: the publication at offset o */
  uint64_t n, cap;
};

struct gt_chan {
  /* channels with history: every epoch the stream had; cur is the
   * stream's now (-1: no stream) */
  struct gt_epoch *ep;
  int nep, capep, cur;
  /* channels without: the publications in the order they were made */
  uint64_t *pubs, npubs, cappubs;
};

static struct gt_chan gt[NCH];

static int ch_find(const char *name, size_t len) {
  int c;
  for (c = 0; c < NCH; c++)
    if (strlen(ch_name[c]) == len && memcmp(ch_name[c], name, len) == 0)
      return c;
  return -1;
}

static int gt_epoch_find(int c, const char *epoch, size_t len) {
  int i;
  for (i = gt[c].nep - 1; i >= 0; i--)
    if (strlen(gt[c].ep[i].epoch) == len &&
        memcmp(gt[c].ep[i].epoch, epoch, len) == 0)
      return i;
  return -1;
}

static uint64_t gt_top(int c) {
  return gt[c].cur < 0 ? 0 : gt[c].ep[gt[c].cur].n;
}

/* The seq of the {"s":seq,...} JSON text d, or 0. */
static uint64_t seq_of(const char *d, size_t len) {
  struct wsp_json v, s;
  uint64_t x;
  if (wsp_json_parse(d, len, &v, NULL) != 0 || v.type != WSP_JSON_OBJECT ||
      wsp_json_get(&v, "s", &s) != 1 || wsp_json_uint64(&s, &x) != 0)
    return 0;
  return x;
}

static void on_appended(const char *name, size_t len, const char *epoch,
                        const struct wsp_evlog_event *e, void *ud) {
  int c = ch_find(name, len);
  struct gt_epoch *g;
  uint64_t s = seq_of(e->data.ptr, e->data.len);
  (void)ud;
  if (c < 0 || !ch_hist(c) || gt[c].cur < 0)
    fail("append to unknown stream %.*s", (int)len, name);
  g = &gt[c].ep[gt[c].cur];
  if (strcmp(g->epoch, epoch) != 0)
    fail("append to %s under epoch %s, the stream's is %s", ch_name[c], epoch,
         g->epoch);
  if (e->offset != g->n + 1)
    fail("append to %s at offset %" PRIu64 " after %" PRIu64, ch_name[c],
         e->offset, g->n);
  if (s == 0 || s > nseq || seq_state[s] != SEQ_NEW)
    fail("append of publication %" PRIu64 " in state %d", s,
         s && s <= nseq ? seq_state[s] : -1);
  seq_state[s] = SEQ_STORED;
  GROW(g->seq, g->n, g->cap);
  g->seq[g->n++] = s;
}

static void on_epoch(const char *name, size_t len, const char *epoch,
                     uint64_t keep_top, void *ud) {
  int c = ch_find(name, len);
  struct gt_chan *gc;
  struct gt_epoch *g;
  (void)ud;
  if (c < 0 || !ch_hist(c))
    fail("epoch for unknown stream %.*s", (int)len, name);
  gc = &gt[c];
  if (!epoch) {
    gc->cur = -1;
    return;
  }
  if (gt_epoch_find(c, epoch, strlen(epoch)) >= 0)
    fail("stream %s got epoch %s a second time", ch_name[c], epoch);
  if (gc->nep == gc->capep) {
    gc->capep = gc->capep ? gc->capep * 2 : 8;
    gc->ep = xrealloc(gc->ep, (size_t)gc->capep * sizeof(*gc->ep));
  }
  g = &gc->ep[gc->nep];
  memset(g, 0, sizeof(*g));
  snprintf(g->epoch, sizeof(g->epoch), "%s", epoch);
  if (keep_top) {
    struct gt_epoch *old = gc->cur >= 0 ? &gc->ep[gc->cur] : NULL;
    if (!old || old->n < keep_top)
      fail("stream %s keeps %" PRIu64 " events it never had", ch_name[c],
           keep_top);
    g->cap = keep_top;
    g->seq = xrealloc(NULL, g->cap * sizeof(*g->seq));
    memcpy(g->seq, old->seq, keep_top * sizeof(*g->seq));
    g->n = keep_top;
  }
  gc->cur = gc->nep++;
  trace("stream %s epoch %s top %" PRIu64, ch_name[c], epoch, keep_top);
}

/* ---- The hub
 * ------------------------------------------------------------------- */

static struct wsp_server *srv;
static struct wsp_evlog *hlog;
static struct simdb *db;
static int faults_on;

static int history_for(const char *ch, size_t len,
                       struct wsp_evlog_retention *r, void *ud) {
  (void)ud;
  if (len >= 2 && ch[0] == 'n' && ch[1] == '.')
    return 0;
  if (len >= 2 && ch[0] == 't' && ch[1] == '.') {
    r->max_events = 0;
    r->max_age = HIST_AGE;
    r->meta_ttl = META_TTL;
  }
  return 1;
}

static void log_open(void) {
  struct wsp_evlog_options eo;
  struct wsp_server_history hs;
  struct wsp_mem m = mem_of(&log_acct);
  int rc;
  memset(&eo, 0, sizeof(eo));
  eo.mem = &m;
  eo.store = simdb_store(db, &m);
  eo.retention.max_events = HIST_EVENTS;
  if ((rc = wsp_evlog_new(&hlog, &eo, run.now)) != 0)
    fail("wsp_evlog_new: %s", wsp_strerror(rc));
  memset(&hs, 0, sizeof(hs));
  hs.log = hlog;
  hs.retention.max_events = HIST_EVENTS;
  hs.history_for = history_for;
  hs.recovery_max = RECOVERY_MAX;
  hs.history_max = HISTORY_MAX;
  if (wsp_server_set_history(srv, &hs) != 0)
    fail("wsp_server_set_history");
}

static void log_close(int crash) {
  wsp_server_set_history(srv, NULL);
  if (crash)
    simdb_crash(db);
  wsp_evlog_free(hlog);
  hlog = NULL;
}

/* ---- Clients
 * --------------------------------------------------------------------- */

enum { K_CONNECT = 1, K_SUB, K_UNSUB, K_PUB, K_RPC, K_HIST };
enum { RPC_NOW, RPC_LATER, RPC_NEVER, RPC_ERROR };
/* S_SRV_*: server-side subscriptions (wsp_server_subscribe), told by the
 * connect result or a subscribe push, ended by an unsubscribe push. */
enum {
  S_NONE = 0,
  S_SUBSCRIBING,
  S_SUBSCRIBED,
  S_UNSUBSCRIBING,
  S_SRV_CONNECT,
  S_SRV_PENDING,
  S_SRV_UNSUB
};
enum { C_DEAD = 0, C_CONNECTING, C_CONNECTED, C_CLOSING };

struct cmd {
  uint32_t id;
  int kind, ch, mode;
  uint64_t seq;  /* K_PUB: the publication; K_RPC: the token */
  int processed; /* the hub saw it (a callback fired) */
  int deferred;  /* K_SUB: on_subscribe left it for later */
  uint64_t deferred_at;
  uint64_t at;   /* when */
  /* K_SUB: what was asked and where the stream was when the hub saw it */
  int recover, reject, rec_ep;
  uint64_t rec_off;
  int snap_ep, snap_nep;
  uint64_t snap_top;
  /* K_HIST */
  uint64_t since;
  int since_ep;
};

struct csub {
  int state;
  int dropped;   /* an unsubscribe push came while unsubscribing */
  int ep;        /* history: the gt epoch of the subscription */
  uint64_t next; /* history: the next offset; else the next pubs index */
  /* the last position seen, kept across connections for recovery */
  int known_ep;
  uint64_t known_off;
  int want; /* subscribe again after a reconnect */
  int srv;  /* made by the hub */
  struct cmd ss; /* a server-side subscribe: asked and snapshot */
};

struct sclient {
  int idx, state, paused;
  struct wsp_client *sc;
  struct wsp_conn *cc;
  uint32_t next_id;
  struct cmd *cmds;
  size_t ncmds, capcmds;
  struct csub sub[NCH];
  int open_seen, close_code, disconnects;
  uint64_t paused_until;
  int server_side; /* on_connect subscribes it to SS_CH1 and SS_CH2 */
  uint64_t gen;    /* connections made so far */
};

/* The channels every fourth client gets from on_connect. */
#define SS_CH1 2 /* h.c */
#define SS_CH2 5 /* n.b */
static int is_ss(const struct sclient *k, int c) {
  return k->server_side && (c == SS_CH1 || c == SS_CH2);
}

static struct sclient cli[MAX_CLIENTS];
static size_t rpc_pending; /* calls the hub holds: handled, not answered */

/* Counters for the report. */
static struct {
  uint64_t connects, disconnects_abrupt, disconnects_eof, closes_clean;
  uint64_t server_closes[8];
  uint64_t subs, recovered_true, recovered_false, rejects_112, sub_errors;
  uint64_t pubs_client, pubs_server, pub_errors, deliveries, recovered_pubs;
  uint64_t rpcs, rpc_replies, rpc_timeouts, rpc_late_refused;
  uint64_t histories, unsub_pushes, restarts_crash, restarts_clean, resets;
  uint64_t hist_gaps;   /* histories that start after evicted ones */
  uint64_t closes_3010; /* server-side subscriptions that lost state */
  uint64_t quiescent_checks, ticks, jumps, bytes_down, bytes_up;
  uint64_t digest, defers_refused;
} st;

static void digest_add(const void *p, size_t n) {
  const unsigned char *b = p;
  size_t i;
  for (i = 0; i < n; i++)
    st.digest = (st.digest ^ b[i]) * 1099511628211ull;
}

static struct cmd *cmd_find(struct sclient *k, uint32_t id) {
  size_t i;
  for (i = 0; i < k->ncmds; i++)
    if (k->cmds[i].id == id)
      return &k->cmds[i];
  return NULL;
}

static void cmd_done(struct sclient *k, struct cmd *c) {
  *c = k->cmds[--k->ncmds];
}

/* The pending subscribe of client k to channel c, or NULL. */
static struct cmd *cmd_of_sub(struct sclient *k, int kind, int c) {
  size_t i;
  for (i = 0; i < k->ncmds; i++)
    if (k->cmds[i].kind == kind && k->cmds[i].ch == c && !k->cmds[i].processed)
      return &k->cmds[i];
  return NULL;
}

static void send_text(struct sclient *k, const char *text, size_t len) {
  int rc = wsp_conn_send(k->cc, WSP_OP_TEXT, text, len);
  if (rc != 0)
    fail("client %d: send: %s", k->idx, wsp_strerror(rc));
}

static struct cmd *cmd_new(struct sclient *k, int kind, int c) {
  struct cmd *m;
  GROW(k->cmds, k->ncmds, k->capcmds);
  m = &k->cmds[k->ncmds++];
  memset(m, 0, sizeof(*m));
  m->id = k->next_id++;
  m->kind = kind;
  m->ch = c;
  m->rec_ep = m->snap_ep = m->since_ep = -1;
  return m;
}

/* ---- Checking what a client receives
 * ------------------------------------------------ */

static int jget(const struct wsp_json *o, const char *key, struct wsp_json *v) {
  return wsp_json_get(o, key, v) == 1;
}

static uint64_t jget_u64(const struct wsp_json *o, const char *key) {
  struct wsp_json v;
  uint64_t x = 0;
  if (jget(o, key, &v) && wsp_json_uint64(&v, &x) != 0)
    fail("%s is not a number", key);
  return x;
}

static int jget_bool(const struct wsp_json *o, const char *key) {
  struct wsp_json v;
  int b = 0;
  if (jget(o, key, &v) && wsp_json_bool(&v, &b) != 0)
    fail("%s is not a boolean", key);
  return b;
}

static int jget_chan(const struct wsp_json *o) {
  struct wsp_json v;
  char name[64];
  size_t n;
  if (!jget(o, "channel", &v) ||
      wsp_json_string(&v, name, sizeof(name), &n) != 0)
    return -1;
  return ch_find(name, n);
}

/* A publication (a pub push or an element of a subscribe or history
 * result) for subscription s of client k on channel c. */
static void check_pub(struct sclient *k, int c, struct csub *s,
                      const struct wsp_json *pub, const char *where) {
  struct wsp_json d;
  uint64_t seq, off;
  if (!jget(pub, "data", &d))
    fail("client %d: %s on %s without data", k->idx, where, ch_name[c]);
  seq = seq_of(d.ptr, d.len);
  if (seq == 0 || seq > nseq)
    fail("client %d: %s on %s with an unknown publication", k->idx, where,
         ch_name[c]);
  if (seq_state[seq] == SEQ_FAILED)
    fail("client %d: %s on %s delivers publication %" PRIu64
         " whose publish failed",
         k->idx, where, ch_name[c], seq);
  if (ch_hist(c)) {
    struct gt_epoch *g = &gt[c].ep[s->ep];
    off = jget_u64(pub, "offset");
    if (off != s->next)
      fail("client %d: %s on %s: offset %" PRIu64 " where %" PRIu64
           " was next (epoch %s): a %s",
           k->idx, where, ch_name[c], off, s->next, g->epoch,
           off < s->next ? "duplicate" : "gap");
    if (off > g->n || g->seq[off - 1] != seq)
      fail("client %d: %s on %s: offset %" PRIu64 " of epoch %s carries "
           "publication %" PRIu64 ", the log's is %" PRIu64,
           k->idx, where, ch_name[c], off, g->epoch, seq,
           off <= g->n ? g->seq[off - 1] : 0);
    s->next++;
    s->known_ep = s->ep;
    s->known_off = off;
  } else {
    if (s->next >= gt[c].npubs || gt[c].pubs[s->next] != seq)
      fail("client %d: %s on %s: publication %" PRIu64 " where %" PRIu64
           " was next: a gap, duplicate or reordering",
           k->idx, where, ch_name[c], seq,
           s->next < gt[c].npubs ? gt[c].pubs[s->next] : 0);
    s->next++;
  }
  st.deliveries++;
}

static void sub_reply(struct sclient *k, struct cmd *m,
                      const struct wsp_json *res);

static void on_push(struct sclient *k, const struct wsp_json *push) {
  struct wsp_json v;
  int c = jget_chan(push);
  struct csub *s;
  if (jget(push, "message", &v))
    return;
  if (c < 0)
    fail("client %d: push without a known channel: %.*s", k->idx,
         (int)push->len, push->ptr);
  s = &k->sub[c];
  if (jget(push, "pub", &v)) {
    if (s->state != S_SUBSCRIBED && s->state != S_UNSUBSCRIBING &&
        s->state != S_SRV_UNSUB)
      fail("client %d: publication on %s while not subscribed (state %d)",
           k->idx, ch_name[c], s->state);
    if (s->dropped)
      fail("client %d: publication on %s after its unsubscribe push", k->idx,
           ch_name[c]);
    check_pub(k, c, s, &v, "pub push");
  } else if (jget(push, "unsubscribe", &v)) {
    uint64_t code = jget_u64(&v, "code");
    st.unsub_pushes++;
    if (code == 2000 && s->state == S_SRV_UNSUB) {
      s->state = S_NONE; /* wsp_server_unsubscribe */
      return;
    }
    if (code != 2500 || !ch_hist(c))
      fail("client %d: unsubscribe push %" PRIu64 " on %s (state %d)", k->idx,
           code, ch_name[c], s->state);
    if (s->state == S_SUBSCRIBED) {
      s->state = S_NONE; /* resubscribe and recover, as SDKs do */
    } else if (s->state == S_UNSUBSCRIBING) {
      s->dropped = 1;
    } else {
      fail("client %d: unsubscribe push on %s while not subscribed", k->idx,
           ch_name[c]);
    }
  } else if (jget(push, "subscribe", &v)) {
    if (s->state != S_SRV_PENDING)
      fail("client %d: subscribe push on %s in state %d", k->idx, ch_name[c],
           s->state);
    sub_reply(k, &s->ss, &v);
  } else if (!jget(push, "join", &v) && !jget(push, "leave", &v)) {
    fail("client %d: unexpected push %.*s", k->idx, (int)push->len, push->ptr);
  }
}

static void sub_reply(struct sclient *k, struct cmd *m,
                      const struct wsp_json *res) {
  int c = m->ch;
  struct csub *s = &k->sub[c];
  st.subs++;
  if (!m->processed)
    fail("client %d: subscribe %u answered but never seen by on_subscribe",
         k->idx, m->id);
  s->state = S_SUBSCRIBED;
  s->dropped = 0;
  if (!ch_hist(c)) {
    s->next = m->snap_top; /* the publications made before it joined */
    return;
  }
  {
    struct wsp_json v, e, pubs, p;
    char epoch[WSP_EVLOG_EPOCH_MAX + 1];
    size_t n, i;
    uint64_t off = jget_u64(res, "offset");
    int rec = jget_bool(res, "recovered"), ep;
    if (!jget_bool(res, "recoverable") || !jget_bool(res, "positioned"))
      fail("client %d: subscribe to %s not positioned", k->idx, ch_name[c]);
    if (!jget(res, "epoch", &e) ||
        wsp_json_string(&e, epoch, sizeof(epoch), &n) != 0 ||
        (ep = gt_epoch_find(c, epoch, n)) < 0)
      fail("client %d: subscribe to %s with an unknown epoch", k->idx,
           ch_name[c]);
    if (m->snap_ep >= 0 ? ep != m->snap_ep : ep < m->snap_nep)
      fail("client %d: subscribe to %s answered with epoch %s, the stream's "
           "was %s",
           k->idx, ch_name[c], epoch,
           m->snap_ep >= 0 ? gt[c].ep[m->snap_ep].epoch : "(new)");
    if (jget_bool(res, "was_recovering") != m->recover)
      fail("client %d: was_recovering wrong", k->idx);
    if (rec && !m->recover)
      fail("client %d: recovered without recover", k->idx);
    n = 0;
    if (jget(res, "publications", &pubs) && wsp_json_count(&pubs, &n) != 0)
      fail("client %d: publications is not an array", k->idx);
    if (rec) {
      /* recovered: true only when every publication missed is here */
      st.recovered_true++;
      if (ep != m->rec_ep || off != m->rec_off)
        fail("client %d: recovered on %s at %" PRIu64 "/%s, asked for "
             "%" PRIu64 "/%s",
             k->idx, ch_name[c], off, epoch, m->rec_off,
             m->rec_ep >= 0 ? gt[c].ep[m->rec_ep].epoch : "?");
      if (off + n != m->snap_top)
        fail("client %d: recovered on %s from %" PRIu64 " with %zu "
             "publications, the top was %" PRIu64,
             k->idx, ch_name[c], off, n, m->snap_top);
      st.recovered_pubs += n;
    } else {
      if (m->recover)
        st.recovered_false++;
      if (n)
        fail("client %d: not recovered, yet %zu publications", k->idx, n);
      if (off != (m->snap_ep >= 0 ? m->snap_top : 0))
        fail("client %d: subscribe to %s at offset %" PRIu64 ", the top was "
             "%" PRIu64,
             k->idx, ch_name[c], off, m->snap_top);
    }
    s->ep = ep;
    s->next = off + 1;
    s->known_ep = ep;
    s->known_off = off;
    for (i = 0; i < n; i++) {
      wsp_json_at(&pubs, i, &p);
      check_pub(k, c, s, &p, "recovered publication");
    }
    (void)v;
  }
}

static void hist_reply(struct sclient *k, struct cmd *m,
                       const struct wsp_json *res) {
  struct wsp_json e, pubs, p;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  size_t n = 0, i;
  int c = m->ch, ep;
  uint64_t first = m->since + 1;
  struct gt_epoch *g;
  if (!jget(res, "epoch", &e) ||
      wsp_json_string(&e, epoch, sizeof(epoch), &n) != 0 ||
      (ep = gt_epoch_find(c, epoch, n)) < 0)
    fail("client %d: history of %s with an unknown epoch", k->idx, ch_name[c]);
  g = &gt[c].ep[ep];
  if (m->since_ep >= 0 && ep != m->since_ep)
    fail("client %d: history of %s since epoch %s answered in %s", k->idx,
         ch_name[c], gt[c].ep[m->since_ep].epoch, epoch);
  n = 0;
  if (jget(res, "publications", &pubs))
    wsp_json_count(&pubs, &n);
  for (i = 0; i < n; i++) {
    struct wsp_json d;
    uint64_t off, want = first + i;
    wsp_json_at(&pubs, i, &p);
    off = jget_u64(&p, "offset");
    if (i == 0 && off > m->since + 1) {
      /* Reading on from a position whose successors are gone gives the
       * retained ones from the oldest: the log, if still in this epoch,
       * must have lost everything before off by now. */
      struct wsp_evlog_position pos;
      const char *ch = ch_name[c];
      if (wsp_evlog_position(hlog, ch, strlen(ch), &pos) == 0 &&
          strcmp(pos.epoch, epoch) == 0 && pos.first < off)
        fail("client %d: history of %s since %" PRIu64 " starts at %" PRIu64
             " while the log still has %" PRIu64,
             k->idx, ch_name[c], m->since, off, pos.first);
      first = want = off;
      st.hist_gaps++;
    }
    if (off != want || off > g->n || !jget(&p, "data", &d) ||
        g->seq[off - 1] != seq_of(d.ptr, d.len))
      fail("client %d: history of %s: element %zu (offset %" PRIu64
           ") is not the log's",
           k->idx, ch_name[c], i, off);
  }
  st.histories++;
}

/* The subs map of a connect result: the server-side subscriptions made
 * by on_connect, each checked as a subscribe result. */
static void connect_subs(struct sclient *k, const struct wsp_json *res) {
  struct wsp_json subs, key, val;
  char name[64];
  size_t pos = 0, n, seen = 0;
  int c;
  if (!jget(res, "subs", &subs)) {
    subs.type = 0;
  } else {
    while (wsp_json_next(&subs, &pos, &key, &val) == 1) {
      if (wsp_json_string(&key, name, sizeof(name), &n) != 0 ||
          (c = ch_find(name, n)) < 0 || k->sub[c].state != S_SRV_CONNECT)
        fail("client %d: connect result with subs entry %.*s", k->idx,
             (int)key.len, key.ptr);
      sub_reply(k, &k->sub[c].ss, &val);
      seen++;
    }
  }
  for (c = 0; c < NCH; c++)
    if (k->sub[c].state == S_SRV_CONNECT)
      fail("client %d: connect result without %s in subs (%zu seen)", k->idx,
           ch_name[c], seen);
}

static void on_reply(struct sclient *k, uint32_t id, const struct wsp_json *o) {
  struct cmd *m = cmd_find(k, id);
  struct wsp_json err, res;
  int is_err = jget(o, "error", &err);
  uint64_t code = is_err ? jget_u64(&err, "code") : 0;
  static const char *const res_key[] = {
      "", "connect", "subscribe", "unsubscribe", "publish", "rpc", "history"};
  if (!m)
    fail("client %d: reply to id %u, which is not outstanding (never sent, "
         "or answered already): %.*s",
         k->idx, id, (int)o->len, o->ptr);
  if (!is_err && !jget(o, res_key[m->kind], &res))
    fail("client %d: reply %u without its %s result: %.*s", k->idx, id,
         res_key[m->kind], (int)o->len, o->ptr);
  switch (m->kind) {
  case K_CONNECT:
    if (is_err)
      fail("client %d: connect refused %" PRIu64, k->idx, code);
    k->state = C_CONNECTED;
    connect_subs(k, &res);
    break;
  case K_SUB:
    if (is_err) {
      struct csub *s = &k->sub[m->ch];
      /* 100: the log failed (temporary); 112: asked for with flag 2 */
      struct wsp_json msg;
      if (code == 100 && jget(&err, "message", &msg) &&
          wsp_json_string_eq(&msg, "timeout") &&
          (!m->deferred || run.now < m->deferred_at + RPC_TIMEOUT))
        fail("client %d: subscribe %u timed out early", k->idx, m->id);
      if (code == 112 && m->reject && m->recover) {
        st.rejects_112++;
        s->known_ep = -1; /* drop the position, as SDKs do */
      } else if (code != 100) {
        fail("client %d: subscribe to %s refused with %" PRIu64, k->idx,
             ch_name[m->ch], code);
      }
      st.sub_errors++;
      s->state = S_NONE;
    } else {
      sub_reply(k, m, &res);
    }
    break;
  case K_UNSUB: {
    struct csub *s = &k->sub[m->ch];
    if (is_err)
      fail("client %d: unsubscribe refused %" PRIu64, k->idx, code);
    s->state = S_NONE;
    s->dropped = 0;
    break;
  }
  case K_PUB:
    if (is_err) {
      /* only the log may refuse it, and then it went nowhere */
      if (code != 100 || !ch_hist(m->ch))
        fail("client %d: publish refused %" PRIu64, k->idx, code);
      if (seq_state[m->seq] != SEQ_NEW)
        fail("client %d: publish %" PRIu64 " refused, yet stored", k->idx,
             m->seq);
      seq_state[m->seq] = SEQ_FAILED;
      st.pub_errors++;
    } else if (seq_state[m->seq] !=
               (ch_hist(m->ch) ? SEQ_STORED : SEQ_PUBLISHED)) {
      fail("client %d: publish %" PRIu64 " acknowledged but not %s", k->idx,
           m->seq, ch_hist(m->ch) ? "stored" : "published");
    }
    break;
  case K_RPC:
    if (!m->processed)
      fail("client %d: rpc %u answered but the handler never ran", k->idx, id);
    if (is_err) {
      if (code == 100) {
        if (run.now < m->at + RPC_TIMEOUT)
          fail("client %d: rpc %u timed out early", k->idx, id);
        st.rpc_timeouts++;
      } else if (code != 400 || m->mode != RPC_ERROR) {
        fail("client %d: rpc %u error %" PRIu64, k->idx, id, code);
      }
    } else {
      struct wsp_json d;
      if (m->mode != RPC_NOW && m->mode != RPC_LATER)
        fail("client %d: rpc %u (mode %d) got a result", k->idx, id, m->mode);
      if (!jget(&res, "data", &d) || seq_of(d.ptr, d.len) != m->seq)
        fail("client %d: rpc %u got another call's result", k->idx, id);
    }
    st.rpc_replies++;
    rpc_pending--;
    break;
  case K_HIST:
    if (is_err) {
      /* 112: the position is gone; 103: unsubscribed meanwhile (2500);
       * 100: the log failed */
      if (code != 112 && code != 103 && code != 100)
        fail("client %d: history error %" PRIu64, k->idx, code);
    } else {
      hist_reply(k, m, &res);
    }
    break;
  }
  cmd_done(k, m);
}

static void on_line(struct sclient *k, const char *p, size_t n) {
  struct wsp_json o, v;
  uint64_t id;
  if (wsp_json_parse(p, n, &o, NULL) != 0 || o.type != WSP_JSON_OBJECT)
    fail("client %d: not a JSON object: %.*s", k->idx, (int)n, p);
  if (jget(&o, "id", &v)) {
    if (wsp_json_uint64(&v, &id) != 0 || id == 0 || id > UINT32_MAX)
      fail("client %d: bad id", k->idx);
    on_reply(k, (uint32_t)id, &o);
  } else if (jget(&o, "push", &v)) {
    on_push(k, &v);
  } else if (o.len == 2) {
    /* a server ping: the pong */
    if (k->state == C_CONNECTED && wsp_conn_get_state(k->cc) == WSP_STATE_OPEN)
      send_text(k, "{}", 2);
  } else {
    fail("client %d: unexpected line %.*s", k->idx, (int)n, p);
  }
}

static void cc_on_message(struct wsp_conn *c, int op, const uint8_t *d,
                          size_t n, void *ud) {
  struct sclient *k = ud;
  const char *p = (const char *)d, *end = p + n;
  (void)c;
  if (op != WSP_OP_TEXT)
    fail("client %d: binary message", k->idx);
  digest_add(d, n);
  for (;;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    on_line(k, p, (size_t)((nl ? nl : end) - p));
    if (!nl)
      break;
    p = nl + 1;
  }
}

/* Close codes the hub may end a simulated connection with. */
static int close_allowed(int code) {
  return code == 3004 /* the log failed a connect's subs (checked below) */ ||
         code == 3010 /* a server-side subscription lost state (below) */ ||
         code == 3008 /* slow */ || code == 3012 /* no pong */ ||
         code == 1000 /* our own close, echoed */ || code == 1006 /* none */;
}

/* 1 when k has a server-side subscription to a channel with history,
 * which the hub ends by closing with 3010 when it loses its state. */
static int srv_hist(const struct sclient *k) {
  int c;
  for (c = 0; c < NCH; c++)
    if (k->sub[c].srv && k->sub[c].state != S_NONE && ch_hist(c))
      return 1;
  return 0;
}

static void cc_on_close(struct wsp_conn *c, int code, const uint8_t *r,
                        size_t n, void *ud) {
  struct sclient *k = ud;
  (void)c;
  (void)r;
  (void)n;
  k->close_code = code;
  st.closes_3010 += code == 3010;
  if (!close_allowed(code) || (code == 3004 && !k->server_side) ||
      (code == 3010 && !srv_hist(k)))
    fail("client %d: closed by the hub with %d", k->idx, code);
}

static uint64_t sim_now(void *ud) {
  (void)ud;
  return run.now;
}

/* ---- Hub callbacks
 * ------------------------------------------------------------------ */

static struct sclient *of(struct wsp_client *cl) {
  struct sclient *k = wsp_client_get_io_data(cl);
  if (!k || k->sc != cl)
    fail("a callback for a client the simulation no longer holds");
  return k;
}

static void on_disconnect(struct wsp_client *cl, int code, void *ud) {
  struct sclient *k = of(cl);
  (void)ud;
  (void)code;
  if (++k->disconnects != 1)
    fail("client %d: on_disconnect fired %d times", k->idx, k->disconnects);
}

/* Where the stream of c is, as the hub sees a subscribe to it now. */
static void snapshot(struct cmd *m, int c) {
  m->processed = 1;
  m->at = run.now;
  if (ch_hist(c)) {
    m->snap_ep = gt[c].cur;
    m->snap_nep = gt[c].nep;
    m->snap_top = gt_top(c);
  } else {
    m->snap_top = gt[c].npubs;
  }
}

/* A server-side subscription of k to c (from on_connect or later). */
static int server_subscribe(struct sclient *k, int c, int state) {
  struct csub *s = &k->sub[c];
  int rc;
  s->ss.kind = K_SUB;
  s->ss.ch = c;
  s->ss.id = 0;
  if (state == S_SRV_PENDING) {
    s->ss.recover = 0;
    s->ss.rec_ep = -1;
  }
  snapshot(&s->ss, c);
  rc = wsp_server_subscribe(k->sc, ch_name[c]);
  if (rc == 0) {
    s->state = state;
    s->srv = 1;
  }
  return rc;
}

static int on_connect(struct wsp_client *cl,
                      const struct wsp_connect_info *info, void *ud) {
  struct sclient *k = of(cl);
  int rc;
  (void)info;
  (void)ud;
  if (!k->server_side)
    return 0;
  if ((rc = server_subscribe(k, SS_CH1, S_SRV_CONNECT)) != 0 ||
      (rc = server_subscribe(k, SS_CH2, S_SRV_CONNECT)) != 0)
    fail("client %d: wsp_server_subscribe in on_connect: %s", k->idx,
         wsp_strerror(rc));
  return 0;
}

struct defer {
  uint64_t sub, gen, due;
  int k;
  uint32_t id;
};
static struct defer *defers;
static size_t ndefers, capdefers;

static int on_subscribe(struct wsp_client *cl, uint64_t sub,
                        const struct wsp_subscribe_info *info, void *ud) {
  struct sclient *k = of(cl);
  int c = ch_find(info->channel.ptr, info->channel.len);
  struct cmd *m = c >= 0 ? cmd_of_sub(k, K_SUB, c) : NULL;
  (void)sub;
  (void)ud;
  if (!m)
    fail("client %d: on_subscribe for a subscribe never sent", k->idx);
  snapshot(m, c);
  if (below(&R, 6) == 0) {
    /* decided later (perhaps after the timeout): the position is the
     * one the stream has when the answer comes */
    GROW(defers, ndefers, capdefers);
    defers[ndefers].sub = sub;
    defers[ndefers].k = k->idx;
    defers[ndefers].gen = k->gen;
    defers[ndefers].id = m->id;
    defers[ndefers].due = run.now + below(&R, RPC_TIMEOUT * 3 / 2);
    ndefers++;
    m->deferred = 1;
    m->deferred_at = run.now;
    return WSP_ERR_AGAIN;
  }
  return 0;
}

static int on_publish(struct wsp_client *cl, const struct wsp_str *channel,
                      const uint8_t *data, size_t len, void *ud) {
  struct sclient *k = of(cl);
  int c = ch_find(channel->ptr, channel->len);
  uint64_t s = seq_of((const char *)data, len);
  size_t i;
  (void)ud;
  for (i = 0; i < k->ncmds; i++)
    if (k->cmds[i].kind == K_PUB && k->cmds[i].seq == s)
      break;
  if (c < 0 || i == k->ncmds || k->cmds[i].processed)
    fail("client %d: on_publish for a publish never sent", k->idx);
  k->cmds[i].processed = 1;
  if (!ch_hist(c)) {
    /* published right after this returns */
    GROW(gt[c].pubs, gt[c].npubs, gt[c].cappubs);
    gt[c].pubs[gt[c].npubs++] = s;
    seq_state[s] = SEQ_PUBLISHED;
  }
  st.pubs_client++;
  return 0;
}

struct later {
  uint64_t call, due, token;
  int error;
};
static struct later *laters;
static size_t nlaters, caplaters;

static void rpc_handler(struct wsp_client *cl, uint64_t call,
                        const char *method, const uint8_t *data, size_t len,
                        void *ud) {
  struct sclient *k = of(cl);
  uint64_t tok = seq_of((const char *)data, len);
  char out[48];
  size_t i;
  (void)ud;
  for (i = 0; i < k->ncmds; i++)
    if (k->cmds[i].kind == K_RPC && k->cmds[i].seq == tok)
      break;
  if (i == k->ncmds || k->cmds[i].processed)
    fail("client %d: rpc handler for a call never sent", k->idx);
  k->cmds[i].processed = 1;
  k->cmds[i].at = run.now;
  st.rpcs++;
  rpc_pending++;
  if (strcmp(method, "now") == 0) {
    int n = snprintf(out, sizeof(out), "{\"s\":%" PRIu64 "}", tok);
    if (wsp_rpc_reply(srv, call, out, (size_t)n) != 0)
      fail("wsp_rpc_reply in the handler failed");
  } else if (strcmp(method, "later") == 0 || strcmp(method, "error") == 0) {
    GROW(laters, nlaters, caplaters);
    laters[nlaters].call = call;
    laters[nlaters].token = tok;
    laters[nlaters].error = method[0] == 'e';
    /* sometimes after the timeout: the answer must then be refused */
    laters[nlaters].due = run.now + below(&R, RPC_TIMEOUT * 3 / 2);
    nlaters++;
  }
}

/* ---- Driving the bytes
 * ---------------------------------------------------------------- */

static uint8_t xfer[1 << 20];

static size_t gather(const struct iovec *iov, int n, size_t limit) {
  size_t t = 0;
  int i;
  for (i = 0; i < n && t < limit; i++) {
    size_t k = iov[i].iov_len;
    if (k > limit - t)
      k = limit - t;
    if (t + k > sizeof(xfer))
      k = sizeof(xfer) - t;
    memcpy(xfer + t, iov[i].iov_base, k);
    t += k;
  }
  return t;
}

/* Client -> hub, at most limit bytes. */
static size_t up(struct sclient *k, size_t limit) {
  struct iovec iov[64];
  size_t t;
  int rc;
  if (!k->sc || !wsp_client_want_read(k->sc))
    return 0;
  t = gather(iov, wsp_conn_pending(k->cc, iov, 64), limit);
  if (!t)
    return 0;
  if (wsp_conn_sent(k->cc, t) != 0)
    fail("client %d: wsp_conn_sent", k->idx);
  st.bytes_up += t;
  rc = wsp_client_recv(k->sc, xfer, t);
  if (rc != 0 && rc != WSP_ERR_CLOSED)
    fail("client %d: wsp_client_recv: %s", k->idx, wsp_strerror(rc));
  return t;
}

/* Hub -> client, at most limit bytes. */
static size_t down(struct sclient *k, size_t limit) {
  struct iovec iov[64];
  size_t t;
  int rc;
  if (!k->sc)
    return 0;
  t = gather(iov, wsp_client_pending(k->sc, iov, 64), limit);
  if (!t)
    return 0;
  if ((rc = wsp_client_sent(k->sc, t)) != 0)
    fail("client %d: wsp_client_sent: %s", k->idx, wsp_strerror(rc));
  st.bytes_down += t;
  rc = wsp_conn_recv(k->cc, xfer, t);
  (void)rc; /* a close in the middle is seen by on_close */
  return t;
}

static void cli_release(struct sclient *k) {
  int c;
  if (k->sc) {
    struct wsp_client *sc = k->sc;
    wsp_client_free(sc); /* on_disconnect (1006) if still open */
    if (k->open_seen && k->disconnects != 1)
      fail("client %d: freed, on_disconnect fired %d times", k->idx,
           k->disconnects);
    k->sc = NULL;
  }
  wsp_conn_free(k->cc);
  k->cc = NULL;
  k->state = C_DEAD;
  k->paused = 0;
  for (c = 0; c < (int)k->ncmds; c++)
    if (k->cmds[c].kind == K_RPC && k->cmds[c].processed)
      rpc_pending--;
  k->ncmds = 0;
  for (c = 0; c < NCH; c++) {
    struct csub *s = &k->sub[c];
    if ((s->state == S_SUBSCRIBED || s->state == S_SUBSCRIBING) && !s->srv &&
        !is_ss(k, c))
      s->want = 1;
    s->state = S_NONE;
    s->srv = 0;
    s->dropped = 0;
  }
}

/* Move bytes both ways until nothing moves (down only when not paused). */
static void pump(struct sclient *k) {
  int round;
  for (round = 0; round < 1000 && k->sc; round++) {
    size_t moved = up(k, SIZE_MAX);
    if (!k->paused)
      moved += down(k, SIZE_MAX);
    if (!moved)
      break;
  }
  if (k->sc && wsp_client_is_done(k->sc) && !k->paused)
    cli_release(k);
}

/* ---- Client actions
 * -------------------------------------------------------------------- */

static void send_subscribe(struct sclient *k, int c) {
  struct csub *s = &k->sub[c];
  struct cmd *m = cmd_new(k, K_SUB, c);
  char buf[256];
  int n;
  m->recover = ch_hist(c) && s->known_ep >= 0 && below(&R, 8) != 0;
  m->reject = m->recover && below(&R, 6) == 0;
  if (m->recover) {
    m->rec_ep = s->known_ep;
    m->rec_off = s->known_off;
    n = snprintf(buf, sizeof(buf),
                 "{\"subscribe\":{\"channel\":\"%s\",\"recover\":true,"
                 "\"offset\":%" PRIu64 ",\"epoch\":\"%s\"%s},\"id\":%u}",
                 ch_name[c], s->known_off, gt[c].ep[s->known_ep].epoch,
                 m->reject ? ",\"flag\":3" : ",\"flag\":1", m->id);
  } else {
    n = snprintf(buf, sizeof(buf),
                 "{\"subscribe\":{\"channel\":\"%s\"%s},\"id\":%u}", ch_name[c],
                 below(&R, 4) ? "" : ",\"join_leave\":true", m->id);
  }
  s->state = S_SUBSCRIBING;
  s->want = 0;
  send_text(k, buf, (size_t)n);
}

static char pad[4096];

static void send_publish(struct sclient *k, int c) {
  struct cmd *m = cmd_new(k, K_PUB, c);
  char buf[4400];
  size_t p = below(&R, 8) == 0 ? 200 + below(&R, 3000) : 0;
  int n;
  m->seq = seq_new();
  n = snprintf(buf, sizeof(buf),
               "{\"publish\":{\"channel\":\"%s\",\"data\":{\"s\":%" PRIu64
               ",\"p\":\"%.*s\"}},\"id\":%u}",
               ch_name[c], m->seq, (int)p, pad, m->id);
  send_text(k, buf, (size_t)n);
}

static void cli_open(struct sclient *k) {
  struct wsp_conn_callbacks cb;
  struct wsp_mem m = mem_of(&cli_acct);
  struct cmd *cm;
  char buf[256];
  int rc, c, round, n;
  memset(&cb, 0, sizeof(cb));
  cb.on_message = cc_on_message;
  cb.on_close = cc_on_close;
  cb.now = sim_now;
  k->open_seen = k->disconnects = 0;
  k->gen++;
  k->close_code = 0;
  if ((rc = wsp_server_accept(srv, k, &k->sc)) != 0)
    fail("wsp_server_accept: %s", wsp_strerror(rc));
  if ((rc = wsp_conn_new(&k->cc, WSP_ROLE_CLIENT, &cb, &m, run.now, k)) != 0 ||
      (rc = wsp_conn_client_start(k->cc, "sim", "/connection/websocket",
                                  NULL)) != 0)
    fail("client conn: %s", wsp_strerror(rc));
  for (round = 0; round < 8; round++) {
    up(k, SIZE_MAX);
    down(k, SIZE_MAX);
  }
  if (wsp_conn_get_state(k->cc) != WSP_STATE_OPEN)
    fail("client %d: upgrade failed", k->idx);
  k->open_seen = 1;
  k->state = C_CONNECTING;
  k->next_id = 1;
  cm = cmd_new(k, K_CONNECT, -1);
  n = snprintf(buf, sizeof(buf), "{\"connect\":{\"name\":\"sim\"");
  if (k->server_side) {
    /* the position held for the server-side channel with history */
    struct csub *s = &k->sub[SS_CH1];
    s->ss.recover = s->known_ep >= 0 && below(&R, 8) != 0;
    s->ss.rec_ep = s->ss.recover ? s->known_ep : -1;
    s->ss.rec_off = s->known_off;
    if (s->ss.recover)
      n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                    ",\"subs\":{\"%s\":{\"recover\":true,\"offset\":%" PRIu64
                    ",\"epoch\":\"%s\"}}",
                    ch_name[SS_CH1], s->known_off,
                    gt[SS_CH1].ep[s->known_ep].epoch);
  }
  n += snprintf(buf + n, sizeof(buf) - (size_t)n, "},\"id\":%u}", cm->id);
  send_text(k, buf, (size_t)n);
  /* Resubscribe, before the connect reply, as SDKs do. */
  for (c = 0; c < NCH; c++)
    if (k->sub[c].want && !is_ss(k, c))
      send_subscribe(k, c);
  st.connects++;
}

/* Send a command, then give the hub a random part of what is queued and
 * drop the connection: the hub must act on exactly the whole commands. */
static void cli_cut(struct sclient *k) {
  struct iovec iov[64];
  size_t t, cut;
  int c = (int)below(&R, NCH);
  send_publish(k, c);
  t = gather(iov, wsp_conn_pending(k->cc, iov, 64), SIZE_MAX);
  cut = below(&R, t + 1);
  if (cut && wsp_client_want_read(k->sc)) {
    wsp_conn_sent(k->cc, cut);
    (void)wsp_client_recv(k->sc, xfer, cut); /* it may be closing */
  }
  trace("client %d cut after %zu of %zu bytes", k->idx, cut, t);
  if (below(&R, 2)) {
    st.disconnects_abrupt++;
    cli_release(k);
  } else {
    st.disconnects_eof++;
    wsp_client_recv(k->sc, NULL, 0);
    if (k->open_seen && k->disconnects != 1)
      fail("client %d: end of stream without on_disconnect", k->idx);
    cli_release(k);
  }
}

static void cli_act(struct sclient *k) {
  uint64_t r = below(&R, 100);
  int c = (int)below(&R, NCH);
  struct csub *s = &k->sub[c];
  char buf[256];
  int n;
  if (k->state == C_DEAD) {
    cli_open(k);
    pump(k);
    return;
  }
  if (k->paused) {
    if (run.now >= k->paused_until) {
      k->paused = 0;
      trace("client %d reads again", k->idx);
    }
    pump(k);
    return;
  }
  if ((k->state != C_CONNECTED && k->state != C_CONNECTING) ||
      wsp_conn_get_state(k->cc) != WSP_STATE_OPEN) {
    pump(k);
    return;
  }
  if (r < 22) {
    if (is_ss(k, c))
      ;
    else if (s->state == S_NONE)
      send_subscribe(k, c);
    else if (s->state == S_SUBSCRIBED && !s->srv && below(&R, 3) == 0) {
      struct cmd *m = cmd_new(k, K_UNSUB, c);
      n = snprintf(buf, sizeof(buf),
                   "{\"unsubscribe\":{\"channel\":\"%s\"},\"id\":%u}",
                   ch_name[c], m->id);
      s->state = S_UNSUBSCRIBING;
      send_text(k, buf, (size_t)n);
    }
  } else if (r < 52) {
    send_publish(k, c);
  } else if (r < 64) {
    static const char *const meth[] = {"now", "later", "never", "error"};
    int mode = (int)below(&R, 4);
    struct cmd *m = cmd_new(k, K_RPC, -1);
    m->mode = mode;
    m->seq = seq_new();
    seq_state[m->seq] = SEQ_FAILED; /* a token, never a publication */
    n = snprintf(buf, sizeof(buf),
                 "{\"rpc\":{\"method\":\"%s\",\"data\":{\"s\":%" PRIu64
                 "}},\"id\":%u}",
                 meth[mode], m->seq, m->id);
    send_text(k, buf, (size_t)n);
  } else if (r < 70) {
    if (ch_hist(c) && s->state == S_SUBSCRIBED) {
      struct cmd *m = cmd_new(k, K_HIST, c);
      m->since = s->known_off;
      m->since_ep = s->known_ep;
      n = snprintf(buf, sizeof(buf),
                   "{\"history\":{\"channel\":\"%s\",\"limit\":%d,\"since\":"
                   "{\"offset\":%" PRIu64 ",\"epoch\":\"%s\"}},\"id\":%u}",
                   ch_name[c], (int)below(&R, 50) - 1, m->since,
                   gt[c].ep[m->since_ep].epoch, m->id);
      send_text(k, buf, (size_t)n);
    }
  } else if (r < 73) {
    k->paused = 1;
    k->paused_until = run.now + below(&R, 40000);
    trace("client %d stops reading until %" PRIu64, k->idx, k->paused_until);
  } else if (r < 75) {
    cli_cut(k);
    return;
  } else if (r < 76) {
    st.closes_clean++;
    wsp_conn_close(k->cc, 1000, "bye", 3);
    k->state = C_CLOSING;
  } else if (r < 85) {
    /* a slow reader: take only part of what is queued */
    up(k, SIZE_MAX);
    down(k, 1 + below(&R, 2000));
    return;
  }
  pump(k);
}

/* ---- Quiescence: nothing owed is missing
 * ------------------------------------------------ */

static void check_quiet(struct sclient *k) {
  size_t i;
  int c;
  if (k->state != C_CONNECTED || k->paused || !k->sc ||
      wsp_conn_get_state(k->cc) != WSP_STATE_OPEN ||
      wsp_client_want_write(k->sc) ||
      wsp_conn_get_state(wsp_client_get_conn(k->sc)) != WSP_STATE_OPEN)
    return;
  st.quiescent_checks++;
  /* Every command has reached the hub, and only an RPC may still wait
   * for its answer, until its timeout. */
  for (i = 0; i < k->ncmds; i++) {
    struct cmd *m = &k->cmds[i];
    if (m->kind == K_SUB && m->deferred) {
      if (run.now >= m->deferred_at + RPC_TIMEOUT)
        fail("client %d: deferred subscribe %u neither answered nor timed "
             "out",
             k->idx, m->id);
      continue;
    }
    if (m->kind == K_RPC) {
      if (!m->processed)
        fail("client %d: rpc %u never reached its handler", k->idx, m->id);
      if (m->mode == RPC_NOW || run.now >= m->at + RPC_TIMEOUT)
        fail("client %d: rpc %u (mode %d, at %" PRIu64 ") neither answered "
             "nor timed out",
             k->idx, m->id, m->mode, m->at);
      continue;
    }
    fail("client %d: command %u (kind %d) never answered", k->idx, m->id,
         m->kind);
  }
  for (c = 0; c < NCH; c++) {
    struct csub *s = &k->sub[c];
    if (s->state == S_SRV_PENDING || s->state == S_SRV_UNSUB)
      fail("client %d: the hub's %s of %s never told", k->idx,
           s->state == S_SRV_PENDING ? "subscribe" : "unsubscribe", ch_name[c]);
    if (s->state != S_SUBSCRIBED)
      continue;
    if (!ch_hist(c)) {
      if (s->next != gt[c].npubs)
        fail("client %d: on %s got %" PRIu64 " of %" PRIu64 " publications",
             k->idx, ch_name[c], s->next, gt[c].npubs);
    } else if (s->ep == gt[c].cur && s->next != gt_top(c) + 1) {
      fail("client %d: on %s at offset %" PRIu64 " of %" PRIu64
           " (epoch %s), quiet",
           k->idx, ch_name[c], s->next - 1, gt_top(c), gt[c].ep[s->ep].epoch);
    }
  }
}

/* ---- Memory bound
 * ------------------------------------------------------------------------- */

/*
 * Two checks after every step. Each client's queued output stays within
 * WSP_SERVER_MAX_QUEUED plus the one message that crossed it (the cap is
 * checked as replies are built, so that message is at most one history
 * or recovery reply: HISTORY_MAX publications of at most PUB_MAX bytes).
 * And the hub's live bytes are at most that output plus a fixed base
 * (tables, the channel index: BASE_BYTES), PER_CLIENT per client held
 * (its connection, parser and buffers, one partial input message of the
 * sizes the simulation sends), PER_SUB per subscription and PER_RPC per
 * call waiting for its answer. The constants are about twice what this
 * code was measured to use (the report prints the worst ratio); what
 * matters is that nothing grows with operations, publications or time.
 * The log holds per stream its position and retention (PER_STREAM) plus,
 * on the file store, a write buffer and open segments.
 */
#define PUB_MAX 3400
#define MSG_MAX ((HISTORY_MAX + 1) * (PUB_MAX + 64))
#define BASE_BYTES (64u << 10)
#define PER_CLIENT (12u << 10)
#define PER_SUB 512u
#define PER_RPC 512u
#define LOG_BASE (64u << 10)
#define PER_STREAM 2048u
/* The file store: per stream its write buffer (FILE_BUFFER) and the open
 * segments and index of a stream (FILE_STREAM). */
#define FILE_BUFFER (8u << 10)
#define FILE_STREAM (16u << 10)

static size_t bound_hub(void) {
  struct wsp_server_stats ss;
  size_t queued = 0;
  int i;
  for (i = 0; i < run.nclients; i++) {
    size_t q;
    if (!cli[i].sc)
      continue;
    q = wsp_conn_queued_bytes(wsp_client_get_conn(cli[i].sc));
    if (q > MAX_QUEUED + MSG_MAX)
      fail("client %d: %zu bytes queued, above the cap and one message", i, q);
    queued += q;
  }
  wsp_server_get_stats(srv, &ss);
  return BASE_BYTES + queued + (size_t)ss.connections * PER_CLIENT +
         (size_t)ss.subscriptions * PER_SUB + rpc_pending * PER_RPC;
}

static size_t bound_log(void) {
  return LOG_BASE +
         NCH * (PER_STREAM + (run.dir ? FILE_BUFFER + FILE_STREAM : 0));
}

static double worst_hub, worst_log;

static void check_memory(void) {
  size_t bh = bound_hub(), bl = bound_log();
  double rh = (double)srv_acct.live / (double)bh;
  double rl = (double)log_acct.live / (double)bl;
  if (srv_acct.live > bh)
    fail("the hub holds %zu bytes, above its bound %zu", srv_acct.live, bh);
  if (log_acct.live > bl)
    fail("the log holds %zu bytes, above its bound %zu", log_acct.live, bl);
  if (rh > worst_hub)
    worst_hub = rh;
  if (rl > worst_log)
    worst_log = rl;
}

/* ---- The scheduler
 * ------------------------------------------------------------------------- */

static void server_publish(void) {
  int c = (int)below(&R, NCH), rc;
  struct wsp_publish_result res;
  char buf[4400];
  size_t p = below(&R, 10) == 0 ? 200 + below(&R, 3000) : 0;
  uint64_t s = seq_new();
  int n = snprintf(buf, sizeof(buf), "{\"s\":%" PRIu64 ",\"p\":\"%.*s\"}", s,
                   (int)p, pad);
  if (!ch_hist(c)) {
    GROW(gt[c].pubs, gt[c].npubs, gt[c].cappubs);
    gt[c].pubs[gt[c].npubs++] = s;
    seq_state[s] = SEQ_PUBLISHED;
  }
  rc = wsp_server_publish_with(srv, ch_name[c], buf, (size_t)n, NULL, &res);
  if (rc != 0) {
    if (!ch_hist(c) || !faults_on)
      fail("wsp_server_publish_with(%s): %s", ch_name[c], wsp_strerror(rc));
    if (seq_state[s] != SEQ_NEW)
      fail("publish %" PRIu64 " failed but was stored", s);
    seq_state[s] = SEQ_FAILED;
    st.pub_errors++;
    return;
  }
  st.pubs_server++;
  if (ch_hist(c)) {
    struct gt_epoch *g = &gt[c].ep[gt[c].cur];
    if (seq_state[s] != SEQ_STORED || strcmp(res.epoch, g->epoch) != 0 ||
        res.offset != g->n || g->seq[g->n - 1] != s)
      fail("publish %" PRIu64 " on %s reported at %" PRIu64 "/%s, stored at "
           "%" PRIu64 "/%s",
           s, ch_name[c], res.offset, res.epoch, g->n, g->epoch);
  } else if (res.offset != 0 || res.epoch[0]) {
    fail("publish on %s without history has a position", ch_name[c]);
  }
}

/* The application subscribes or unsubscribes a connected client. */
static void server_sub_op(void) {
  struct sclient *k = &cli[below(&R, (uint64_t)run.nclients)];
  int c = (int)below(&R, NCH), rc;
  struct csub *s = &k->sub[c];
  if (k->state != C_CONNECTED || !k->sc ||
      wsp_conn_get_state(wsp_client_get_conn(k->sc)) != WSP_STATE_OPEN)
    return;
  if (s->state == S_NONE && !is_ss(k, c)) {
    rc = server_subscribe(k, c, S_SRV_PENDING);
    /* a store that cannot create the stream fails it */
    if (rc != 0 && !(faults_on && ch_hist(c)))
      fail("client %d: wsp_server_subscribe(%s): %s", k->idx, ch_name[c],
           wsp_strerror(rc));
  } else if (s->state == S_SUBSCRIBED) {
    rc = wsp_server_unsubscribe(k->sc, ch_name[c]);
    if (rc == 0)
      s->state = S_SRV_UNSUB;
    else if (rc != WSP_ERR_NOT_FOUND) /* dropped, its push on the way */
      fail("client %d: wsp_server_unsubscribe: %s", k->idx, wsp_strerror(rc));
  }
}

static void answer_defers(void) {
  size_t i = 0;
  while (i < ndefers) {
    struct defer *d = &defers[i];
    struct sclient *k = &cli[d->k];
    struct cmd *m;
    int rc;
    if (d->due > run.now) {
      i++;
      continue;
    }
    m = k->gen == d->gen && k->sc ? cmd_find(k, d->id) : NULL;
    if (m)
      snapshot(m, m->ch);
    rc = wsp_server_subscribe_answer(srv, d->sub, 0, WSP_CHANNEL_JOIN_LEAVE,
                                     NULL);
    if (rc != 0 && rc != WSP_ERR_NOT_FOUND)
      fail("wsp_server_subscribe_answer: %s", wsp_strerror(rc));
    if (rc == 0 && !m)
      fail("a subscribe answered for a client that went away");
    st.defers_refused += rc != 0;
    defers[i] = defers[--ndefers];
  }
}

static void answer_laters(void) {
  size_t i = 0;
  while (i < nlaters) {
    struct later *l = &laters[i];
    char out[48];
    int rc, n;
    if (l->due > run.now) {
      i++;
      continue;
    }
    if (l->error) {
      rc = wsp_rpc_error(srv, l->call, 400, "sim error", 0);
    } else {
      n = snprintf(out, sizeof(out), "{\"s\":%" PRIu64 "}", l->token);
      rc = wsp_rpc_reply(srv, l->call, out, (size_t)n);
    }
    if (rc == WSP_ERR_NOT_FOUND)
      st.rpc_late_refused++; /* timed out or its client went away */
    else if (rc != 0)
      fail("answering rpc: %s", wsp_strerror(rc));
    laters[i] = laters[--nlaters];
  }
}

static void set_faults(int on) {
  struct simdb_faults f;
  memset(&f, 0, sizeof(f));
  if (on) {
    f.append_permille = 100 + (unsigned)below(&R, 600);
    f.read_permille = (unsigned)below(&R, 150);
    f.create_permille = (unsigned)below(&R, 300);
  }
  faults_on = on;
  simdb_set_faults(db, &f);
  trace("store faults %s", on ? "on" : "off");
}

static void advance(uint64_t ms) {
  run.now += ms;
  if (wsp_server_next_deadline(srv) <= run.now) {
    int i;
    int rc = wsp_server_tick(srv, run.now);
    if (rc != 0)
      fail("wsp_server_tick: %s", wsp_strerror(rc));
    st.ticks++;
    for (i = 0; i < run.nclients; i++)
      if (cli[i].cc && wsp_conn_next_deadline(cli[i].cc) <= run.now)
        wsp_conn_tick(cli[i].cc, run.now);
  }
}

static void step(void) {
  uint64_t r = below(&R, 1000);
  int i;
  if (r < 600) {
    cli_act(&cli[below(&R, (uint64_t)run.nclients)]);
  } else if (r < 790) {
    server_publish();
  } else if (r < 800) {
    server_sub_op();
  } else if (r < 900) {
    /* every client a little, in turn */
    for (i = 0; i < run.nclients; i++)
      if (cli[i].sc) {
        up(&cli[i], SIZE_MAX);
        if (!cli[i].paused)
          down(&cli[i], 1 + below(&R, 8000));
      }
  } else if (r < 990) {
    struct sclient *k = &cli[below(&R, (uint64_t)run.nclients)];
    pump(k);
    check_quiet(k);
  } else if (r < 993) {
    set_faults(!faults_on);
  } else if (r < 994 && below(&R, 10) == 0) {
    int crash = !run.dir && below(&R, 2);
    trace("store restart (%s)", crash ? "crash" : "clean");
    log_close(crash);
    log_open();
    if (crash)
      st.restarts_crash++;
    else
      st.restarts_clean++;
  } else if (r < 995 && below(&R, 10) == 0) {
    int c = (int)below(&R, 4);
    if (wsp_evlog_reset(hlog, ch_name[c], strlen(ch_name[c]), run.now) == 0)
      st.resets++;
  } else if (r < 996 && below(&R, 4) == 0) {
    st.jumps++;
    advance(5000 + below(&R, 60000));
    trace("clock jump");
  } else {
    for (i = 0; i < run.nclients; i++) {
      pump(&cli[i]);
      check_quiet(&cli[i]);
    }
  }
  answer_laters();
  answer_defers();
  advance(below(&R, 12));
  check_memory();
}

static void setup(void) {
  struct wsp_server_callbacks cb;
  struct wsp_mem m = mem_of(&srv_acct);
  struct simdb_hooks h;
  int i, rc;
  static const char *const meth[] = {"now", "later", "never", "error"};
  rng_seed(&R, run.seed);
  rng_seed(&LR, run.seed ^ 0x5eed5eed5eed5eedull);
  memset(pad, 'x', sizeof(pad));
  memset(&h, 0, sizeof(h));
  h.appended = on_appended;
  h.epoch = on_epoch;
  h.below = store_below;
  db = simdb_new(&h, SYNC_INTERVAL);
  if (run.dir)
    simdb_set_dir(db, run.dir);
  for (i = 0; i < NCH; i++)
    gt[i].cur = -1;
  memset(&cb, 0, sizeof(cb));
  cb.on_disconnect = on_disconnect;
  cb.on_connect = on_connect;
  cb.on_subscribe = on_subscribe;
  cb.on_publish = on_publish;
  cb.now = sim_now;
  if ((rc = wsp_server_new(&srv, &cb, &m, run.now, NULL)) != 0)
    fail("wsp_server_new: %s", wsp_strerror(rc));
  wsp_server_set_limit(srv, WSP_SERVER_MAX_QUEUED, MAX_QUEUED);
  wsp_server_set_limit(srv, WSP_SERVER_RPC_TIMEOUT, RPC_TIMEOUT);
  wsp_server_set_channel_flags(srv,
                               WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE);
  for (i = 0; i < 4; i++)
    if (wsp_rpc_register(srv, meth[i], rpc_handler, NULL) != 0)
      fail("wsp_rpc_register");
  log_open();
  for (i = 0; i < run.nclients; i++) {
    int c;
    cli[i].idx = i;
    cli[i].server_side = i % 4 == 0;
    for (c = 0; c < NCH; c++)
      cli[i].sub[c].known_ep = -1;
  }
}

static void teardown(void) {
  int i;
  for (i = 0; i < run.nclients; i++)
    if (cli[i].sc || cli[i].cc)
      cli_release(&cli[i]);
  log_close(0);
  wsp_server_free(srv);
  if (srv_acct.live || srv_acct.blocks)
    fail("the hub leaked %zu bytes in %zu blocks", srv_acct.live,
         srv_acct.blocks);
  if (log_acct.live || log_acct.blocks)
    fail("the log leaked %zu bytes", log_acct.live);
  if (cli_acct.live)
    fail("client connections leaked %zu bytes", cli_acct.live);
  simdb_free(db);
}

static void report(void) {
  struct simdb_stats ds;
  simdb_get_stats(db, &ds);
  printf("sim: seed %" PRIu64 ", %" PRIu64 " ops, %d clients, %" PRIu64
         " ms simulated\n",
         run.seed, run.ops, run.nclients, run.now);
  printf("  connects %" PRIu64 ", cut %" PRIu64 " abrupt + %" PRIu64
         " eof, clean closes %" PRIu64 "\n",
         st.connects, st.disconnects_abrupt, st.disconnects_eof,
         st.closes_clean);
  printf("  publications %" PRIu64 " client + %" PRIu64 " server, %" PRIu64
         " refused by the store; %" PRIu64 " deliveries checked\n",
         st.pubs_client, st.pubs_server, st.pub_errors, st.deliveries);
  printf("  subscribes %" PRIu64 ": recovered %" PRIu64 " (%" PRIu64
         " publications), not %" PRIu64 ", 112 %" PRIu64 ", errors %" PRIu64
         "; 2500 pushes %" PRIu64 "\n",
         st.subs, st.recovered_true, st.recovered_pubs, st.recovered_false,
         st.rejects_112, st.sub_errors, st.unsub_pushes);
  printf("  rpcs %" PRIu64 ": replies %" PRIu64 ", timeouts %" PRIu64
         ", late answers refused %" PRIu64 "; history %" PRIu64 " (%" PRIu64
         " from the oldest kept); 3010 closes %" PRIu64 "\n",
         st.rpcs, st.rpc_replies, st.rpc_timeouts, st.rpc_late_refused,
         st.histories, st.hist_gaps, st.closes_3010);
  printf("  store: %" PRIu64 " appends, faults %" PRIu64 "/%" PRIu64 "/%" PRIu64
         " (append/read/create), restarts %" PRIu64 " crash + %" PRIu64
         " clean, %" PRIu64 " streams lost %" PRIu64 " events, resets %" PRIu64
         "\n",
         ds.appends, ds.append_faults, ds.read_faults, ds.create_faults,
         st.restarts_crash, st.restarts_clean, ds.lost_streams, ds.lost_events,
         st.resets);
  printf("  clock jumps %" PRIu64 ", quiet checks %" PRIu64
         "; memory peak hub %zu (%.0f%% of bound at worst), log %zu "
         "(%.0f%%)\n",
         st.jumps, st.quiescent_checks, srv_acct.peak, worst_hub * 100,
         log_acct.peak, worst_log * 100);
  {
    struct wsp_server_stats ss;
    size_t i;
    wsp_server_get_stats(srv, &ss);
    printf("  hub: lagged %" PRIu64 ", slow closes %" PRIu64
           ", rpc timeouts %" PRIu64 ", closes:",
           ss.lagged, ss.slow_closes, ss.rpc_timeouts);
    for (i = 0; i < ss.nclose_codes; i++)
      printf(" %u x%" PRIu64, ss.closes[i].code, ss.closes[i].count);
    printf("\n");
  }
  printf("  digest %016" PRIx64 "\n", st.digest);
}

static void usage(void) {
  fprintf(stderr, "usage: sim [--seed N] [--ops M] [--clients K] "
                  "[--store memory|file] [-v]\n");
  exit(2);
}

int main(int argc, char **argv) {
  uint64_t seeds[64];
  int nseeds = 0, i, s, use_file = 0;
  char dir[4096];
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc && nseeds < 64)
      seeds[nseeds++] = strtoull(argv[++i], NULL, 0);
    else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
      run.ops = strtoull(argv[++i], NULL, 0);
    else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
      run.nclients = atoi(argv[++i]);
    else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc &&
             (strcmp(argv[i + 1], "file") == 0 ||
              strcmp(argv[i + 1], "memory") == 0))
      use_file = strcmp(argv[++i], "file") == 0;
    else if (strcmp(argv[i], "-v") == 0)
      run.verbose = 1;
    else
      usage();
  }
  if (run.nclients < 1 || run.nclients > MAX_CLIENTS)
    usage();
  if (!nseeds)
    seeds[nseeds++] = 1;
  for (s = 0; s < nseeds; s++) {
    if (s > 0) {
      /* a fresh world for the next seed */
      fprintf(stderr, "sim: one seed per process\n");
      usage();
    }
    run.seed = seeds[s];
    if (use_file) {
      const char *t = getenv("TMPDIR");
      snprintf(dir, sizeof(dir), "%s/wsp-sim-XXXXXX", t && *t ? t : "/tmp");
      if (!mkdtemp(dir)) {
        perror("sim: mkdtemp");
        return 1;
      }
      run.dir = dir;
    }
    setup();
    for (run.op = 0; run.op < run.ops; run.op++)
      step();
    report();
    teardown();
    rm_dir();
  }
  return 0;
}
