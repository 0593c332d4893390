/*
 * Sequences of protocol commands against one hub. The input is a small
 * program: a configuration (limits, callbacks, history, tokens), then
 * operations over a few simulated clients, each a client-role wsp_conn
 * joined to the hub's side of it by buffers: well-formed JSON commands
 * built from the bytes (connect, subscribe with positions, history with
 * since/limit, rpc, refresh, sub_refresh, publish, presence, send, pong,
 * now and then a mutated or raw line), the application's own calls
 * (publish, push, server-side subscribe, disconnect, answering held RPCs
 * and subscriptions, resetting a stream), time, bytes moved at uneven
 * boundaries and connections dropped. This reaches states that
 * fuzz_protocol's single byte stream does not.
 *
 * Invariants checked (abort() on failure): every message a client gets is
 * '\n'-separated lines, each one JSON object; a reply carries an id the
 * client asked with, and no more replies than it asked; on_disconnect
 * fires at most once per connection; the hub's memory (through its
 * allocator) stays bounded and is all returned after wsp_server_free().
 */
#include <stdarg.h>
#include <stdio.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "fuzz_common.h"

#define NC 4          /* clients */
#define NIDS 256      /* ids remembered per client */
#define NHELD 8       /* RPCs and subscriptions held by the application */
#define MAX_OPS 400   /* operations per input */
#define MAX_LINE 4096 /* one command line */
#define MAX_MSG 16384 /* one message of batched lines */
#define MEM_CAP ((size_t)64 << 20) /* live bytes the hub may hold */
#define SECRET "fuzz-secret"

#define FZ_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_hub_sequence: %s:%d: %s\n", __FILE__, __LINE__,    \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* -DFZ_TRACE prints the traffic, to see what an input does. */
#ifdef FZ_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

/* ---- Program reader --------------------------------------------------- */

struct prog {
  const uint8_t *p;
  size_t n, i;
};

static unsigned byte(struct prog *g) { return g->i < g->n ? g->p[g->i++] : 0; }

static unsigned pick(struct prog *g, unsigned n) { return byte(g) % n; }

/* ---- Counting allocator ------------------------------------------------ */

union hdr {
  size_t size;
  max_align_t align;
};

struct acct {
  size_t live, peak;
};

static void *a_malloc(size_t size, void *ud) {
  struct acct *a = ud;
  union hdr *h = malloc(sizeof(*h) + size);
  if (!h)
    return NULL;
  h->size = size;
  a->live += size;
  if (a->live > a->peak)
    a->peak = a->live;
  FZ_CHECK(a->live <= MEM_CAP);
  return h + 1;
}

static void a_free(void *p, void *ud) {
  struct acct *a = ud;
  union hdr *h;
  if (!p)
    return;
  h = (union hdr *)p - 1;
  FZ_CHECK(a->live >= h->size);
  a->live -= h->size;
  free(h);
}

static void *a_realloc(void *p, size_t size, void *ud) {
  struct acct *a = ud;
  union hdr *h, *nh;
  size_t old;
  if (!p)
    return a_malloc(size, ud);
  h = (union hdr *)p - 1;
  old = h->size;
  nh = realloc(h, sizeof(*nh) + size);
  if (!nh)
    return NULL;
  nh->size = size;
  a->live = a->live - old + size;
  if (a->live > a->peak)
    a->peak = a->live;
  FZ_CHECK(a->live <= MEM_CAP);
  return nh + 1;
}

/* ---- State ------------------------------------------------------------- */

struct idrec {
  uint32_t id;
  uint32_t asked, answered;
};

struct cli {
  struct wsp_client *sc; /* the hub's side; NULL when closed */
  struct wsp_conn *cc;   /* the client's side; NULL when the slot is free */
  int paused;            /* stops reading (a slow consumer) */
  int autopong;          /* answers pings */
  int ids_unsure;        /* sent a line whose id may have been mangled */
  int disconnects;       /* on_disconnect calls for sc */
  uint32_t next_id;
  struct idrec ids[NIDS];
  size_t nids;
  char epoch[48];      /* the last epoch seen in a reply */
  uint64_t offset;     /* the last offset seen */
  char batch[MAX_MSG]; /* lines waiting to leave as one message */
  size_t blen;
};

static struct {
  struct wsp_server *srv;
  struct wsp_evlog *log;
  struct wsp_jwt_keys *keys;
  struct acct acct;
  struct wsp_mem mem;
  uint64_t now;
  unsigned cfg;
  struct cli c[NC];
  uint64_t held_rpc[NHELD];
  uint64_t held_sub[NHELD];
  unsigned nheld_rpc, nheld_sub;
} F;

enum {
  CFG_TOKENS = 0x1,
  CFG_HISTORY = 0x2,
  CFG_ON_SUBSCRIBE = 0x4,
  CFG_ON_PUBLISH = 0x8,
  CFG_ON_REFRESH = 0x10,
  CFG_ON_SEND = 0x20,
  CFG_HISTORY_ALL = 0x40,
  CFG_SMALL = 0x80 /* small limits */
};

static struct cli *cli_of(const struct wsp_client *cl) {
  return wsp_client_get_io_data(cl);
}

static void hold(uint64_t *list, unsigned *n, uint64_t v) {
  if (*n < NHELD)
    list[(*n)++] = v;
  else
    list[v % NHELD] = v; /* the one forgotten is never answered */
}

/* ---- Tokens ------------------------------------------------------------ */

static void b64u(const void *in, size_t len, char *out) {
  struct base64_encode_ctx e;
  size_t n;
  base64url_encode_init(&e);
  n = base64_encode_update(&e, out, len, in);
  n += base64_encode_final(&e, out + n);
  while (n > 0 && out[n - 1] == '=')
    n--;
  out[n] = '\0';
}

/* An HS256 token for claims into out (room for 1024 bytes). */
static void make_token(const char *claims, const char *key, char *out) {
  static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  struct hmac_sha256_ctx hm;
  uint8_t mac[SHA256_DIGEST_SIZE];
  size_t n;
  b64u(hdr, sizeof(hdr) - 1, out);
  n = strlen(out);
  out[n++] = '.';
  b64u(claims, strlen(claims), out + n);
  hmac_sha256_set_key(&hm, strlen(key), (const uint8_t *)key);
  hmac_sha256_update(&hm, strlen(out), (const uint8_t *)out);
  hmac_sha256_digest(&hm, sizeof(mac), mac);
  n = strlen(out);
  out[n++] = '.';
  b64u(mac, sizeof(mac), out + n);
}

static const char *const users[] = {"u0", "u1", "u2", ""};
/* 300 bytes: over the channel length limit when it is small. */
#define LONG_CHANNEL                                                           \
  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" \
  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" \
  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" \
  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" \
  "cccc"

/* Channels as a client writes them in JSON: h.* have history, $ ones are
 * private (with tokens), w.* are decided later by the application and
 * x.* refused; then patterns, escapes and invalid names. */
static const char *const channels[] = {
    "a",      "b",   "h.a",       "h.b",    "news.1", "news.*",
    "news.>", "$p",  "$h.p",      "w.held", "x.no",   "\\u0061",
    "h.*",    "*.>", "a\\u0000b", "a..b",   "",       LONG_CHANNEL};
/* Channels for the application's calls. */
static const char *const api_channels[] = {
    "a", "b", "h.a", "h.b", "news.1", "h.x", "$p", "$h.p", "w.held", "x.no"};
static const char *const datas[] = {"1",
                                    "\"x\"",
                                    "{\"a\":[1,2,{\"b\":null}]}",
                                    "null",
                                    "\"\\u00e9\\n\"",
                                    "[]",
                                    "true",
                                    "-0.5e3",
                                    "{}",
                                    "\"\\ud83d\\ude00\""};
/* RPC methods: the first NMETHODS are registered. */
#define NMETHODS 8
static const char *const methods[] = {"echo", "hold",   "err",   "kick",
                                      "free", "pub",    "twice", "sub",
                                      "nope", "\\u0000"};

/* A token for user (index), expiring at the given offset in seconds (0:
 * never), for channel (NULL: a connection token), into out. */
static void token_for(struct prog *g, const char *channel, char *out) {
  static const int64_t exps[] = {0, 3600, 5, -10, 1, 100};
  char claims[512];
  int64_t exp = exps[pick(g, sizeof(exps) / sizeof(exps[0]))];
  unsigned u = pick(g, 4), extra = byte(g);
  int n = snprintf(claims, sizeof(claims), "{\"sub\":\"%s\"", users[u]);
  if (exp)
    n += snprintf(claims + n, sizeof(claims) - (size_t)n, ",\"exp\":%lld",
                  (long long)((int64_t)(F.now / 1000) + exp));
  if (channel)
    n += snprintf(claims + n, sizeof(claims) - (size_t)n, ",\"channel\":\"%s\"",
                  channel);
  if (extra & 1)
    n += snprintf(claims + n, sizeof(claims) - (size_t)n,
                  ",\"info\":{\"n\":%u}", extra);
  if (extra & 2)
    n += snprintf(claims + n, sizeof(claims) - (size_t)n,
                  ",\"channels\":[\"a\",\"h.a\"]");
  snprintf(claims + n, sizeof(claims) - (size_t)n, "}");
  make_token(claims, (extra & 0xc) == 0xc ? "wrong" : SECRET, out);
  if ((extra & 0x30) == 0x30)
    out[strlen(out) / 2] ^= 1; /* a damaged token */
}

/* ---- Callbacks of the hub ----------------------------------------------- */

/* The application frees a client from inside a callback (deferred by
 * the hub); the slot forgets it at once. */
static void free_client(struct wsp_client *cl) {
  struct cli *k = cli_of(cl);
  if (k->sc == cl)
    k->sc = NULL;
  wsp_client_free(cl);
}

static int on_connect(struct wsp_client *cl, const struct wsp_connect_info *c,
                      void *ud) {
  (void)ud;
  fz_touch_str(c->token);
  fz_touch_str(c->data);
  fz_touch_str(c->version);
  if (c->name.len == 4 && memcmp(c->name.ptr, "deny", 4) == 0)
    return WSP_PROTO_ERROR_UNAUTHORIZED;
  if (c->name.len == 4 && memcmp(c->name.ptr, "kick", 4) == 0) {
    wsp_client_disconnect(cl, WSP_PROTO_DISCONNECT_FORCE_DISCONNECT, "kick");
    return 0;
  }
  if (c->name.len == 3 && memcmp(c->name.ptr, "sub", 3) == 0) {
    wsp_server_subscribe(cl, "a");
    wsp_server_subscribe(cl, "h.a");
  }
  if (c->name.len == 3 && memcmp(c->name.ptr, "bye", 3) == 0) {
    free_client(cl);
    return 0;
  }
  if (c->name.len == 3 && memcmp(c->name.ptr, "exp", 3) == 0)
    wsp_client_set_expiry(cl, F.now + 2000);
  if (!(F.cfg & CFG_TOKENS) && c->name.len == 2 && c->name.ptr[0] == 'u') {
    char user[3] = {'u', c->name.ptr[1], '\0'}; /* a span, not a string */
    wsp_client_set_user(cl, user);
  }
  return 0;
}

static void on_disconnect(struct wsp_client *cl, int code, void *ud) {
  struct cli *k = cli_of(cl);
  (void)code;
  (void)ud;
  FZ_CHECK(k != NULL);
  if (k->sc == cl) {
    k->disconnects++;
    FZ_CHECK(k->disconnects == 1);
  }
}

static void on_send(struct wsp_client *cl, const uint8_t *d, size_t n,
                    void *ud) {
  (void)ud;
  if (n == 4 && !memcmp(d, "true", 4)) {
    free_client(cl);
    return;
  }
  wsp_client_push_message(cl, d, n);
  if (n & 1)
    wsp_push_broadcast(F.srv, d, n);
}

static int on_subscribe(struct wsp_client *cl, uint64_t sub,
                        const struct wsp_subscribe_info *info, void *ud) {
  (void)cl;
  (void)ud;
  fz_touch_str(info->channel);
  fz_touch_str(info->data);
  if (info->channel.len && info->channel.ptr[0] == 'w') {
    hold(F.held_sub, &F.nheld_sub, sub);
    return WSP_ERR_AGAIN;
  }
  if (info->channel.len && info->channel.ptr[0] == 'x')
    return WSP_PROTO_ERROR_PERMISSION_DENIED;
  return 0;
}

static int on_publish(struct wsp_client *cl, const struct wsp_str *channel,
                      const uint8_t *data, size_t len, void *ud) {
  (void)cl;
  (void)ud;
  fz_touch_str(*channel);
  fz_touch(data, len);
  return channel->len && channel->ptr[0] == 'b'
             ? WSP_PROTO_ERROR_PERMISSION_DENIED
             : 0;
}

static int on_refresh(struct wsp_client *cl, const struct wsp_str *token,
                      void *ud) {
  (void)ud;
  if (F.cfg & CFG_TOKENS)
    return 0;
  if (token->len == 2 && memcmp(token->ptr, "ok", 2) == 0)
    return wsp_client_set_expiry(cl, F.now + 3000) == 0 ? 0 : 100;
  if (token->len == 3 && memcmp(token->ptr, "bad", 3) == 0) {
    wsp_client_disconnect(cl, WSP_PROTO_DISCONNECT_INVALID_TOKEN, "bad");
    return 0;
  }
  return WSP_PROTO_ERROR_TOKEN_EXPIRED;
}

static uint64_t now_cb(void *ud) {
  (void)ud;
  return F.now;
}

static int history_for(const char *ch, size_t len,
                       struct wsp_evlog_retention *r, void *ud) {
  (void)r;
  (void)ud;
  if (F.cfg & CFG_HISTORY_ALL)
    return 1;
  return (len > 0 && ch[0] == 'h') || (len > 1 && ch[0] == '$' && ch[1] == 'h');
}

/* RPC methods: each reaches the hub from inside a handler in its own way. */
static void m_any(struct wsp_client *cl, uint64_t call, const char *m,
                  const uint8_t *d, size_t n, void *ud) {
  (void)ud;
  fz_touch(d, n);
  if (!strcmp(m, "echo")) {
    wsp_rpc_reply(F.srv, call, d, n);
  } else if (!strcmp(m, "hold")) {
    hold(F.held_rpc, &F.nheld_rpc, call);
  } else if (!strcmp(m, "err")) {
    wsp_rpc_error(F.srv, call, 400 + (unsigned)(n % 7), n & 1 ? "e\"\n" : NULL,
                  (int)(n & 2));
  } else if (!strcmp(m, "kick")) {
    wsp_client_disconnect(cl, WSP_PROTO_DISCONNECT_FORCE_RECONNECT, "kick");
    wsp_rpc_reply(F.srv, call, "1", 1);
  } else if (!strcmp(m, "free")) {
    free_client(cl);
  } else if (!strcmp(m, "pub")) {
    wsp_server_publish(F.srv, "a", "3", 1, NULL);
    wsp_server_publish(F.srv, "h.a", "4", 1, "{\"user\":\"x\"}");
    wsp_rpc_reply(F.srv, call, "{}", 2);
  } else if (!strcmp(m, "twice")) {
    wsp_rpc_reply(F.srv, call, "1", 1);
    wsp_rpc_reply(F.srv, call, "2", 1);
    wsp_rpc_error(F.srv, call, 400, "late", 0);
  } else if (!strcmp(m, "sub")) {
    wsp_server_subscribe(cl, "b");
    wsp_server_unsubscribe(cl, "a");
    wsp_rpc_reply(F.srv, call, NULL, 0);
  }
}

/* ---- The client side ----------------------------------------------------- */

static struct idrec *id_find(struct cli *k, uint32_t id) {
  size_t i;
  for (i = 0; i < k->nids; i++)
    if (k->ids[i].id == id)
      return &k->ids[i];
  return NULL;
}

static void id_asked(struct cli *k, uint32_t id) {
  struct idrec *r = id_find(k, id);
  if (!r) {
    if (k->nids == NIDS) {
      k->ids_unsure = 1;
      return;
    }
    r = &k->ids[k->nids++];
    r->id = id;
  }
  r->asked++;
}

/* Remember the epoch and offset a line mentions, to ask with them. */
static void learn(struct cli *k, const char *p, size_t n) {
  static const char ep[] = "\"epoch\":\"", off[] = "\"offset\":";
  size_t i;
  for (i = 0; i + sizeof(off) - 1 < n; i++) {
    if (i + sizeof(ep) - 1 < n && !memcmp(p + i, ep, sizeof(ep) - 1)) {
      size_t j = i + sizeof(ep) - 1, m = 0;
      while (j < n && p[j] != '"' && m < sizeof(k->epoch) - 1)
        k->epoch[m++] = p[j++];
      k->epoch[m] = '\0';
    } else if (!memcmp(p + i, off, sizeof(off) - 1)) {
      uint64_t v = 0;
      size_t j = i + sizeof(off) - 1;
      while (j < n && p[j] >= '0' && p[j] <= '9')
        v = v * 10 + (uint64_t)(p[j++] - '0');
      k->offset = v;
    }
  }
}

static void c_message(struct wsp_conn *c, int op, const uint8_t *d, size_t n,
                      void *ud) {
  struct cli *k = ud;
  const char *p = (const char *)d, *end = p + n;
  FZ_CHECK(op == WSP_OP_TEXT);
  TRACE("<%d %.*s\n", (int)(k - F.c), (int)n, (const char *)d);
  for (;;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = (size_t)((nl ? nl : end) - p);
    struct wsp_json v, id;
    uint64_t idv;
    FZ_CHECK(len > 0 && p[0] == '{');
    FZ_CHECK(wsp_json_parse(p, len, &v, NULL) == 0);
    FZ_CHECK(v.type == WSP_JSON_OBJECT);
    if (wsp_json_get(&v, "id", &id) == 1) {
      FZ_CHECK(wsp_json_uint64(&id, &idv) == 0);
      FZ_CHECK(idv > 0 && idv <= UINT32_MAX);
      if (!k->ids_unsure) {
        struct idrec *r = id_find(k, (uint32_t)idv);
        FZ_CHECK(r != NULL);
        r->answered++;
        FZ_CHECK(r->answered <= r->asked);
      }
    } else if (len == 2 && k->autopong) {
      wsp_conn_send(c, WSP_OP_TEXT, "{}", 2); /* a ping: pong */
    }
    learn(k, p, len);
    if (!nl)
      return;
    p = nl + 1;
  }
}

static void slot_free(struct cli *k) {
  if (k->sc)
    wsp_client_free(k->sc);
  wsp_conn_free(k->cc);
  memset(k, 0, sizeof(*k));
}

static void slot_open(struct cli *k) {
  struct wsp_conn_callbacks cb;
  if (k->cc)
    return;
  memset(k, 0, sizeof(*k));
  if (wsp_server_accept(F.srv, k, &k->sc) != 0) {
    k->sc = NULL;
    return;
  }
  memset(&cb, 0, sizeof(cb));
  cb.on_message = c_message;
  if (wsp_conn_new(&k->cc, WSP_ROLE_CLIENT, &cb, NULL, F.now, k) != 0 ||
      wsp_conn_client_start(k->cc, "f", "/connection/websocket", NULL) != 0) {
    slot_free(k);
    return;
  }
  wsp_conn_set_limit(k->cc, WSP_LIMIT_MAX_MESSAGE, (uint64_t)64 << 20);
  wsp_conn_set_limit(k->cc, WSP_LIMIT_MAX_QUEUED, (uint64_t)64 << 20);
  k->next_id = 1;
}

static uint8_t tmp[1 << 16];

static size_t gather(const struct iovec *iov, int n, size_t max) {
  size_t t = 0;
  int i;
  for (i = 0; i < n && t < max; i++) {
    size_t m = iov[i].iov_len < max - t ? iov[i].iov_len : max - t;
    memcpy(tmp + t, iov[i].iov_base, m);
    t += m;
  }
  return t;
}

/* Move up to max bytes from the client to the hub and back. */
static size_t move(struct cli *k, size_t max) {
  struct iovec iov[16];
  size_t up = 0, down = 0;
  if (!k->cc)
    return 0;
  if (max > sizeof(tmp))
    max = sizeof(tmp);
  up = gather(iov, wsp_conn_pending(k->cc, iov, 16), max);
  if (up) {
    wsp_conn_sent(k->cc, up);
    if (k->sc)
      wsp_client_recv(k->sc, tmp, up);
  }
  if (k->sc && !k->paused) {
    down = gather(iov, wsp_client_pending(k->sc, iov, 16), max);
    if (down) {
      wsp_client_sent(k->sc, down);
      if (k->cc)
        wsp_conn_recv(k->cc, tmp, down);
    }
  }
  /* As a loop would: a finished connection is closed and freed. */
  if (k->sc && wsp_client_is_done(k->sc) && !wsp_client_want_write(k->sc)) {
    wsp_client_free(k->sc);
    k->sc = NULL;
  }
  if (k->cc && !k->sc && !wsp_conn_want_write(k->cc))
    slot_free(k);
  return up + down;
}

static void pump_all(void) {
  int round, i;
  for (round = 0; round < 200; round++) {
    size_t moved = 0;
    for (i = 0; i < NC; i++)
      moved += move(&F.c[i], SIZE_MAX);
    if (!moved)
      return;
  }
}

/* ---- Building commands --------------------------------------------------- */

struct line {
  char b[MAX_LINE];
  size_t n;
};

static void put(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct line *l, const char *fmt, ...) {
  va_list ap;
  int r;
  if (l->n >= sizeof(l->b))
    return;
  va_start(ap, fmt);
  r = vsnprintf(l->b + l->n, sizeof(l->b) - l->n, fmt, ap);
  va_end(ap);
  if (r > 0)
    l->n += (size_t)r;
  if (l->n >= sizeof(l->b))
    l->n = sizeof(l->b) - 1;
}

/* The id of a command: mostly a fresh one, sometimes odd. */
static void put_id(struct prog *g, struct cli *k, struct line *l) {
  unsigned how = pick(g, 16);
  uint64_t id;
  if (how == 0)
    id = k->next_id > 1 ? k->next_id - 1 : 1; /* the previous one again */
  else if (how == 1)
    id = UINT32_MAX;
  else if (how == 2)
    id = (uint64_t)UINT32_MAX + 1; /* out of range: bad request */
  else if (how == 3)
    id = 0;
  else
    id = k->next_id++;
  put(l, "{\"id\":%llu,", (unsigned long long)id);
  if (id && id <= UINT32_MAX)
    id_asked(k, (uint32_t)id);
}

static void put_offset(struct prog *g, struct cli *k, struct line *l,
                       const char *name) {
  static const char *const odd[] = {"18446744073709551615",
                                    "18446744073709551616",
                                    "-1",
                                    "1.5",
                                    "\"3\"",
                                    "9007199254740993",
                                    "null"};
  unsigned how = pick(g, 12);
  uint64_t o = k->offset;
  if (how < 7)
    put(l, "\"%s\":%s,", name, odd[how]);
  else
    put(l, "\"%s\":%llu,", name,
        (unsigned long long)(how == 7    ? o
                             : how == 8  ? o + 1
                             : how == 9  ? (o ? o - 1 : 0)
                             : how == 10 ? 0
                                         : byte(g)));
}

static void put_epoch(struct prog *g, struct cli *k, struct line *l,
                      const char *name) {
  unsigned how = pick(g, 6);
  if (how < 3)
    put(l, "\"%s\":\"%s\",", name, k->epoch);
  else if (how == 3)
    put(l, "\"%s\":\"xyz\",", name);
  else if (how == 4)
    put(l, "\"%s\":\"%s%s\",", name, "0123456789abcdef0123456789abcdef",
        "overlong");
  else
    put(l, "\"%s\":\"\\u0000\",", name);
}

static const char *channel(struct prog *g) {
  return channels[pick(g, sizeof(channels) / sizeof(channels[0]))];
}

static const char *data(struct prog *g) {
  return datas[pick(g, sizeof(datas) / sizeof(datas[0]))];
}

/* Close the object opened by put_id and the request: drop a trailing
 * comma, then "}}". */
static void close_cmd(struct line *l) {
  if (l->n && l->b[l->n - 1] == ',')
    l->n--;
  put(l, "}}");
}

enum {
  OP_OPEN,
  OP_CONNECT,
  OP_SUBSCRIBE,
  OP_UNSUBSCRIBE,
  OP_PUBLISH,
  OP_PRESENCE,
  OP_HISTORY,
  OP_RPC,
  OP_REFRESH,
  OP_SUB_REFRESH,
  OP_PONG,
  OP_SEND,
  OP_RAW,
  OP_FLUSH,
  OP_PUMP,
  OP_PUMP_ALL,
  OP_TICK,
  OP_SRV_PUBLISH,
  OP_SRV_PUSH,
  OP_SRV_SUBSCRIBE,
  OP_SRV_DISCONNECT,
  OP_ANSWER,
  OP_CLOSE,
  OP_PAUSE,
  OP_STREAM,
  OP_LIMIT,
  OP__COUNT
};

/* Build one command line for client k. Returns 0 when op is no command. */
static int build(struct prog *g, int op, struct cli *k, struct line *l) {
  char tok[1024];
  const char *ch;
  unsigned f;
  l->n = 0;
  switch (op) {
  case OP_CONNECT:
    put_id(g, k, l);
    put(l, "\"connect\":{");
    f = byte(g);
    if (f & 1) {
      token_for(g, NULL, tok);
      put(l, "\"token\":\"%s\",", tok);
    }
    if (f & 2) {
      static const char *const names[] = {
          "u0", "u1", "u2", "deny", "kick", "sub", "exp", "\\u00e9", "bye"};
      put(l, "\"name\":\"%s\",", names[pick(g, 9)]);
    }
    if (f & 4)
      put(l, "\"version\":\"1.0\",\"data\":%s,", data(g));
    if (f & 8) {
      put(l, "\"subs\":{\"%s\":{", f & 16 ? "h.a" : channel(g));
      if (f & 32)
        put(l, "\"recover\":true,");
      put_offset(g, k, l, "offset");
      put_epoch(g, k, l, "epoch");
      l->n--;
      put(l, "}},");
    }
    close_cmd(l);
    return 1;
  case OP_SUBSCRIBE:
    put_id(g, k, l);
    ch = channel(g);
    put(l, "\"subscribe\":{\"channel\":\"%s\",", ch);
    f = byte(g);
    if (f & 1)
      put(l, "\"recover\":%s,", f & 2 ? "true" : "1");
    if (f & 4)
      put_offset(g, k, l, "offset");
    if (f & 8)
      put_epoch(g, k, l, "epoch");
    if (f & 16)
      put(l, "\"join_leave\":true,");
    if (f & 32) {
      token_for(g, ch, tok);
      put(l, "\"token\":\"%s\",", tok);
    }
    if (f & 64)
      put(l, "\"data\":%s,\"flag\":%u,", data(g), byte(g));
    close_cmd(l);
    return 1;
  case OP_UNSUBSCRIBE:
    put_id(g, k, l);
    put(l, "\"unsubscribe\":{\"channel\":\"%s\"", channel(g));
    close_cmd(l);
    return 1;
  case OP_PUBLISH:
    put_id(g, k, l);
    put(l, "\"publish\":{\"channel\":\"%s\",", channel(g));
    if (byte(g) & 1)
      put(l, "\"data\":%s", data(g));
    close_cmd(l);
    return 1;
  case OP_PRESENCE:
    put_id(g, k, l);
    put(l, "\"%s\":{\"channel\":\"%s\"",
        byte(g) & 1 ? "presence" : "presence_stats", channel(g));
    close_cmd(l);
    return 1;
  case OP_HISTORY: {
    static const char *const limits[] = {
        "-1",         "0",          "1",  "3",    "1000",
        "2147483647", "2147483648", "-2", "null", "1e2"};
    put_id(g, k, l);
    put(l, "\"history\":{\"channel\":\"%s\",", channel(g));
    f = byte(g);
    if (f & 1)
      put(l, "\"limit\":%s,", limits[pick(g, 10)]);
    if (f & 2)
      put(l, "\"reverse\":%s,", f & 4 ? "true" : "false");
    if (f & 8) {
      put(l, "\"since\":{");
      if (f & 16)
        put_offset(g, k, l, "offset");
      if (f & 32)
        put_epoch(g, k, l, "epoch");
      if (l->b[l->n - 1] == ',')
        l->n--;
      put(l, "},");
    }
    close_cmd(l);
    return 1;
  }
  case OP_RPC:
    put_id(g, k, l);
    put(l, "\"rpc\":{\"method\":\"%s\",",
        methods[pick(g, sizeof(methods) / sizeof(methods[0]))]);
    if (byte(g) & 1)
      put(l, "\"data\":%s", data(g));
    close_cmd(l);
    return 1;
  case OP_REFRESH:
    put_id(g, k, l);
    put(l, "\"refresh\":{");
    f = byte(g);
    if (F.cfg & CFG_TOKENS) {
      token_for(g, NULL, tok);
      put(l, "\"token\":\"%s\"", tok);
    } else if (f & 3) {
      put(l, "\"token\":\"%s\"",
          (f & 3) == 1   ? "ok"
          : (f & 3) == 2 ? "bad"
                         : "x");
    }
    close_cmd(l);
    return 1;
  case OP_SUB_REFRESH:
    put_id(g, k, l);
    ch = channel(g);
    put(l, "\"sub_refresh\":{\"channel\":\"%s\",", ch);
    if (byte(g) & 1) {
      token_for(g, ch, tok);
      put(l, "\"token\":\"%s\"", tok);
    }
    close_cmd(l);
    return 1;
  case OP_PONG:
    f = pick(g, 4);
    if (f == 0) {
      put_id(g, k, l);
      put(l, "\"ping\":{}}"); /* heartbeats are the server's: bad request */
    } else {
      put(l, "{}");
      k->autopong = f == 3;
    }
    return 1;
  case OP_SEND:
    f = byte(g);
    put(l, "{\"send\":{");
    if (f & 1)
      put(l, "\"data\":%s", data(g));
    put(l, "}}");
    return 1;
  case OP_RAW: {
    /* A line from the input as it is: anything the codec must refuse. */
    size_t n = pick(g, 64), i;
    for (i = 0; i < n && g->i < g->n; i++)
      l->b[l->n++] = (char)byte(g);
    k->ids_unsure = 1;
    return 1;
  }
  default:
    return 0;
  }
}

/* Send what client k has batched, now and then fragmented or binary. */
static void flush(struct prog *g, struct cli *k) {
  unsigned f = byte(g);
  if (!k->cc || !k->blen)
    return;
  TRACE(">%d %.*s\n", (int)(k - F.c), (int)k->blen, k->batch);
  if ((f & 7) == 1 && k->blen > 1) {
    size_t half = k->blen / 2;
    wsp_conn_send_fragment(k->cc, WSP_OP_TEXT, k->batch, half, 0);
    wsp_conn_send_fragment(k->cc, WSP_OP_CONTINUATION, k->batch + half,
                           k->blen - half, 1);
  } else {
    wsp_conn_send(k->cc, (f & 15) == 2 ? WSP_OP_BINARY : WSP_OP_TEXT, k->batch,
                  k->blen);
  }
  k->blen = 0;
}

static void command(struct prog *g, int op, struct cli *k) {
  struct line l;
  unsigned f;
  if (!build(g, op, k, &l))
    return;
  f = byte(g);
  if ((f & 0x70) == 0x70 && l.n) {
    /* Mangle one byte: truncated or bent JSON, a broken id. */
    l.b[byte(g) % l.n] = (char)byte(g);
    k->ids_unsure = 1;
  }
  if (k->blen + l.n + 1 > sizeof(k->batch))
    flush(g, k);
  if (k->blen)
    k->batch[k->blen++] = '\n';
  memcpy(k->batch + k->blen, l.b, l.n);
  k->blen += l.n;
  if (!(f & 1))
    flush(g, k);
  if (f & 2)
    pump_all();
}

/* ---- The application's side ---------------------------------------------- */

static void tick(uint64_t now) {
  int i;
  F.now = now;
  wsp_server_tick(F.srv, now);
  for (i = 0; i < NC; i++)
    if (F.c[i].cc)
      wsp_conn_tick(F.c[i].cc, now);
}

static void app(struct prog *g, int op, struct cli *k) {
  unsigned f = byte(g);
  const char *ch =
      api_channels[pick(g, sizeof(api_channels) / sizeof(api_channels[0]))];
  switch (op) {
  case OP_SRV_PUBLISH:
    if (f & 1) {
      struct wsp_publish_opts o;
      struct wsp_publish_result r;
      const char *d = data(g);
      memset(&o, 0, sizeof(o));
      o.info = f & 2 ? "{\"user\":\"u1\",\"client\":\"c\"}" : NULL;
      wsp_server_publish_with(F.srv, ch, d, f & 4 ? 0 : strlen(d), &o, &r);
    } else {
      const char *d = data(g);
      wsp_server_publish(F.srv, ch, d, strlen(d), f & 2 ? "{}" : NULL);
    }
    break;
  case OP_SRV_PUSH: {
    const char *d = data(g);
    if ((f & 3) == 0)
      wsp_push_broadcast(F.srv, d, strlen(d));
    else if ((f & 3) == 1)
      wsp_push_user(F.srv, users[pick(g, 4)], d, strlen(d));
    else if (k->sc)
      wsp_push_client(k->sc, d, (f & 3) == 2 ? strlen(d) : 0);
    break;
  }
  case OP_SRV_SUBSCRIBE:
    switch (f & 3) {
    case 0:
      if (k->sc)
        wsp_server_subscribe(k->sc, ch);
      break;
    case 1:
      if (k->sc)
        wsp_server_unsubscribe(k->sc, ch);
      break;
    case 2:
      wsp_server_subscribe_user(F.srv, users[pick(g, 4)], ch);
      break;
    default:
      wsp_server_unsubscribe_user(F.srv, users[pick(g, 4)], ch);
    }
    break;
  case OP_SRV_DISCONNECT:
    if ((f & 7) == 0)
      wsp_server_disconnect_user(F.srv, users[pick(g, 4)],
                               WSP_PROTO_DISCONNECT_FORCE_DISCONNECT, "bye");
    else if ((f & 7) == 1 && (f & 0x80))
      wsp_server_shutdown(F.srv, WSP_PROTO_DISCONNECT_SHUTDOWN, "shutdown");
    else if (k->sc)
      wsp_client_disconnect(k->sc, f & 8 ? 4000 + (int)(f >> 4) : 3503,
                            f & 16 ? "" : "reason");
    break;
  case OP_ANSWER:
    if ((f & 1) && F.nheld_rpc) {
      uint64_t call = F.held_rpc[--F.nheld_rpc];
      if (f & 2)
        wsp_rpc_error(F.srv, call, 1000, "held", 1);
      else
        wsp_rpc_reply(F.srv, call, "[1]", 3);
    } else if (F.nheld_sub) {
      uint64_t sub = F.held_sub[--F.nheld_sub];
      wsp_server_subscribe_answer(F.srv, sub, f & 2 ? 103 : 0, (f >> 2) & 0xf,
                                  f & 64 ? "{\"room\":1}" : NULL);
    }
    break;
  case OP_STREAM:
    if (!F.log)
      break;
    if ((f & 3) == 0)
      wsp_evlog_reset(F.log, ch, strlen(ch), F.now);
    else if ((f & 3) == 1)
      wsp_evlog_clear(F.log, ch, strlen(ch), F.now);
    else if ((f & 3) == 2)
      wsp_evlog_remove(F.log, ch, strlen(ch));
    else
      wsp_evlog_append(F.log, ch, strlen(ch), F.now, "7", 1, NULL, 0, NULL);
    break;
  case OP_LIMIT: {
    static const uint64_t vals[] = {0, 1, 2, 100, 4096, 65536, 30000};
    wsp_server_set_limit(F.srv, (int)(f % WSP_SERVER_LIMIT__COUNT),
                         vals[pick(g, 7)]);
    break;
  }
  }
}

/* ---- The program ----------------------------------------------------------
 */

static void configure(struct prog *g) {
  struct wsp_server_callbacks cb;
  unsigned lim = byte(g);
  size_t i;
  memset(&cb, 0, sizeof(cb));
  F.cfg = byte(g);
  cb.on_connect = on_connect;
  cb.on_disconnect = on_disconnect;
  cb.now = now_cb;
  if (F.cfg & CFG_ON_SEND)
    cb.on_send = on_send;
  if (F.cfg & CFG_ON_SUBSCRIBE)
    cb.on_subscribe = on_subscribe;
  if (F.cfg & CFG_ON_PUBLISH)
    cb.on_publish = on_publish;
  if (F.cfg & CFG_ON_REFRESH)
    cb.on_refresh = on_refresh;
  F.mem.malloc = a_malloc;
  F.mem.realloc = a_realloc;
  F.mem.free = a_free;
  F.mem.user_data = &F.acct;
  if (wsp_server_new(&F.srv, &cb, &F.mem, F.now, NULL) != 0) {
    F.srv = NULL;
    return;
  }
  wsp_server_set_channel_flags(F.srv, byte(g) & 0xf);
  for (i = 0; i < NMETHODS; i++)
    wsp_rpc_register(F.srv, methods[i], m_any, NULL);
  if (F.cfg & CFG_SMALL) {
    wsp_server_set_limit(F.srv, WSP_SERVER_MAX_QUEUED, lim & 1 ? 4096 : 65536);
    wsp_server_set_limit(F.srv, WSP_SERVER_MAX_MESSAGE, lim & 2 ? 256 : 4096);
    wsp_server_set_limit(F.srv, WSP_SERVER_MAX_SUBSCRIPTIONS, 2);
    wsp_server_set_limit(F.srv, WSP_SERVER_MAX_PENDING_RPC, 2);
    wsp_server_set_limit(F.srv, WSP_SERVER_MAX_CHANNEL_LEN, 8);
    wsp_server_set_limit(F.srv, WSP_SERVER_MAX_CONNECTIONS, 3);
  }
  if (lim & 4)
    wsp_server_set_limit(F.srv, WSP_SERVER_RPC_TIMEOUT, 500);
  if (lim & 8)
    wsp_server_set_limit(F.srv, WSP_SERVER_PING_INTERVAL, lim & 16 ? 0 : 1000);
  if (lim & 32)
    wsp_server_set_limit(F.srv, WSP_SERVER_PONG_TIMEOUT, 300);
  if (lim & 64)
    wsp_server_set_limit(F.srv, WSP_SERVER_STALE_TIMEOUT, 0);
  if (lim & 128)
    wsp_server_set_limit(F.srv, WSP_SERVER_REFRESH_GRACE, 100);
  if (F.cfg & CFG_HISTORY) {
    struct wsp_evlog_options eo;
    struct wsp_server_history hs;
    unsigned r = byte(g);
    memset(&eo, 0, sizeof(eo));
    eo.mem = &F.mem;
    if (wsp_evlog_new(&F.log, &eo, F.now) == 0) {
      memset(&hs, 0, sizeof(hs));
      hs.log = F.log;
      hs.retention.max_events = r & 1 ? 3 : 50;
      hs.retention.max_age = r & 2 ? 2000 : 0;
      hs.retention.max_bytes = r & 4 ? 200 : 0;
      hs.retention.meta_ttl = r & 8 ? 5000 : 0;
      hs.history_for = history_for;
      hs.recovery_max = r & 16 ? 2 : 0;
      hs.history_max = r & 32 ? 2 : 0;
      wsp_server_set_history(F.srv, &hs);
    } else {
      F.log = NULL;
    }
  }
  if ((F.cfg & CFG_TOKENS) && F.keys) {
    struct wsp_server_tokens t;
    memset(&t, 0, sizeof(t));
    t.keys = F.keys;
    wsp_server_set_tokens(F.srv, &t);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t steps[] = {1,     100,   499,   1000,  2001,  5000,
                                   10000, 15001, 25000, 30001, 60000, 300000};
  struct prog g = {data, size, 0};
  int ops, i;

  if (size > 8192)
    return 0;
  if (!F.keys) {
    if (wsp_jwt_keys_new(&F.keys, NULL) != 0 ||
        wsp_jwt_keys_add_secret(F.keys, NULL, SECRET, sizeof(SECRET) - 1, 0) !=
            0)
      abort();
  }
  F.now = 1000000;
  F.acct.live = F.acct.peak = 0;
  F.nheld_rpc = F.nheld_sub = 0;
  F.log = NULL;
  memset(F.c, 0, sizeof(F.c));
  configure(&g);
  if (!F.srv)
    return 0;

  for (ops = 0; ops < MAX_OPS && g.i < g.n; ops++) {
    unsigned b = byte(&g);
    int op = (int)(b % OP__COUNT);
    struct cli *k = &F.c[(b / OP__COUNT) % NC];
    if (op < OP_FLUSH && op != OP_OPEN && !k->cc)
      op = OP_OPEN;
    TRACE("op %d client %d\n", op, (int)(k - F.c));
    switch (op) {
    case OP_OPEN:
      slot_open(k);
      if (byte(&g) & 1)
        pump_all();
      break;
    case OP_FLUSH:
      flush(&g, k);
      break;
    case OP_PUMP: {
      static const size_t chunk[] = {1, 2, 3, 7, 16, 100, 1000, 65536};
      unsigned n = 1 + pick(&g, 8);
      size_t c = chunk[pick(&g, 8)];
      while (n--)
        move(k, c);
      break;
    }
    case OP_PUMP_ALL:
      pump_all();
      break;
    case OP_TICK: {
      unsigned f = byte(&g);
      uint64_t next = wsp_server_next_deadline(F.srv);
      if ((f & 15) == 15 && next != WSP_NO_DEADLINE && next > F.now)
        tick(next);
      else
        tick(F.now + steps[f % (sizeof(steps) / sizeof(steps[0]))]);
      break;
    }
    case OP_CLOSE: {
      unsigned f = byte(&g);
      if (!k->cc)
        break;
      if ((f & 3) == 0) {
        slot_free(k); /* the socket dropped: both ends go at once */
      } else if ((f & 3) == 1) {
        wsp_conn_close(k->cc, f & 4 ? 1000 : 0, "", 0);
      } else if ((f & 3) == 2 && k->sc) {
        wsp_client_recv(k->sc, NULL, 0); /* end of stream */
      } else if (k->sc) {
        /* Garbage on the wire, out of frame. */
        wsp_client_recv(k->sc, "\x81\xff\x00", 3);
      }
      break;
    }
    case OP_PAUSE:
      k->paused = !k->paused;
      break;
    default:
      if (op < OP_FLUSH)
        command(&g, op, k);
      else
        app(&g, op, k);
    }
  }
  for (i = 0; i < NC; i++)
    flush(&g, &F.c[i]);
  for (i = 0; i < NC; i++)
    F.c[i].paused = 0;
  pump_all();
  tick(F.now + 100000);
  pump_all();
  for (i = 0; i < NC; i++)
    slot_free(&F.c[i]);
  wsp_server_free(F.srv);
  wsp_evlog_free(F.log);
  F.srv = NULL;
  F.log = NULL;
  FZ_CHECK(F.acct.live == 0);
  return 0;
}
