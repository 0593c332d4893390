/*
 * The Redis engine from Redis's side: what a Redis server (or anything
 * on its port) sends on the two links of a wsp_redis that serves a hub.
 * hiredis's reader, the reply trees, the PUB/SUB dispatch, the payload
 * parsers ("p1 ...", "j1 ..."/"l1 ...", "c1 NODE ORDER" on P.control),
 * the completions of the commands the hub queued and the hub's handling
 * of all of them; nothing may crash, leak or be undefined.
 *
 * Each input runs against a fresh hub with history and presence, its
 * engine (node "fz", prefix "wsp") and one client connected as user
 * "bob" that has, before the first input byte, asked for what makes the
 * hub queue commands (the order fixes the FIFOs the seeds answer):
 *
 *   SUB: SUBSCRIBE wsp.control, SUBSCRIBE wsp.pub.a,
 *        PSUBSCRIBE wsp.pub.news.*
 *   CMD: EVAL publish (the client's publish on a), EVAL publish
 *        (wsp_server_publish_async on a), EVAL presence (a), PUBLISH
 *        wsp.control (a broadcast order)
 *
 * Reads (position, history, READY's PING), presence entries and joins
 * follow once Redis confirms a subscription. Every command is reported
 * sent as soon as it is pending, so any reply may complete one.
 *
 * The input is a sequence of chunks; the first byte b of each picks the
 * link (b & 1) and n = b >> 1:
 *   n 1..111  the next n bytes go to the link (wsp_redis_recv)
 *   n 0       the rest of the input goes to the link
 *   n 112..   an operation (below), b & 1 its argument
 * A link the engine gave up (or an operation took down) comes up again
 * before it is fed. The last byte picks the freeing order: bit 0 the
 * engine before the server (else after), bit 1 the client before both
 * (else wsp_server_free() frees it).
 */
#include <stdio.h>

#include "fuzz_common.h"

/* -DFZ_TRACE prints the traffic, to see what an input does. */
#ifdef FZ_TRACE
static void trace(const char *what, int link, const void *p, size_t n) {
  const unsigned char *b = p;
  size_t i;
  fprintf(stderr, "%s %d: ", what, link);
  for (i = 0; i < n; i++)
    fprintf(stderr, b[i] >= 0x20 && b[i] < 0x7f ? "%c" : "\\x%02x", b[i]);
  fprintf(stderr, "\n");
}
#define TRACE(what, link, p, n) trace(what, link, p, n)
#else
#define TRACE(what, link, p, n) ((void)0)
#endif

#define MAX_INPUT 65536
#define MAX_STEPS 2000
#define OP_BASE 112
#define NODE "fz"
#define USER "bob"
#define STEP_MS 6000  /* past the engine's 5 s command timeout */
#define LONG_MS 25000 /* past the hub's 20 s presence refresh */

static const char upgrade[] =
    "GET /connection/websocket HTTP/1.1\r\nHost: f\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* Commands a client may send (operation 115 picks one by the next byte). */
static const char *const commands[] = {
    ("{\"subscribe\":{\"channel\":\"a\",\"recover\":true,\"offset\":0,"
     "\"epoch\":\"abc\"},\"id\":20}"),
    "{\"unsubscribe\":{\"channel\":\"a\"},\"id\":21}",
    "{\"publish\":{\"channel\":\"a\",\"data\":{\"x\":1}},\"id\":22}",
    "{\"history\":{\"channel\":\"a\",\"limit\":5},\"id\":23}",
    "{\"presence\":{\"channel\":\"a\"},\"id\":24}",
    "{\"presence_stats\":{\"channel\":\"a\"},\"id\":25}",
    "{\"subscribe\":{\"channel\":\"news.*\"},\"id\":26}",
    "{\"unsubscribe\":{\"channel\":\"news.*\"},\"id\":27}",
    "{\"subscribe\":{\"channel\":\"b\",\"join_leave\":true},\"id\":28}",
    ("{\"history\":{\"channel\":\"a\",\"limit\":3,\"reverse\":true,"
     "\"since\":{\"offset\":2,\"epoch\":\"abc\"}},\"id\":29}"),
    "{\"publish\":{\"channel\":\"news.x\",\"data\":1},\"id\":30}",
    "{\"subscribe\":{\"channel\":\"a\"},\"id\":31}",
    "{\"unsubscribe\":{\"channel\":\"b\"},\"id\":32}",
    "{\"publish\":{\"channel\":\"b\",\"data\":\"z\"},\"id\":33}",
};

/* What the client sends before the input: the FIFOs above. */
static const char *const setup[] = {
    "{\"connect\":{},\"id\":1}",
    ("{\"subscribe\":{\"channel\":\"a\",\"recover\":true,\"offset\":0,"
     "\"epoch\":\"abc\"},\"id\":2}"),
    "{\"subscribe\":{\"channel\":\"news.*\"},\"id\":3}",
    "{\"publish\":{\"channel\":\"a\",\"data\":{\"n\":1}},\"id\":4}",
};

static struct wsp_server *S;
static struct wsp_redis *R;
static struct wsp_client *C;
static uint64_t now;
static unsigned short_write; /* links whose next drain writes a part */

static int on_connect(struct wsp_client *cl, const struct wsp_connect_info *c,
                      void *ud) {
  (void)c;
  (void)ud;
  return wsp_client_set_user(cl, USER);
}

static void on_published(struct wsp_server *s, int err,
                         const struct wsp_publish_result *r, void *ud) {
  (void)s;
  (void)err;
  (void)ud;
  if (r)
    fz_touch(r->epoch, strlen(r->epoch));
}

static void drain_client(void) {
  struct iovec iov[8];
  int round, n, i;
  if (!C)
    return;
  for (round = 0; round < 10000; round++) {
    size_t t = 0;
    n = wsp_client_pending(C, iov, 8);
    if (n <= 0)
      return;
    for (i = 0; i < n; i++) {
      fz_touch(iov[i].iov_base, iov[i].iov_len);
      TRACE("client <", 0, iov[i].iov_base, iov[i].iov_len);
      t += iov[i].iov_len;
    }
    wsp_client_sent(C, t);
  }
}

/* Report everything the links have pending as written (a part of it
 * when the link was picked for a short write). */
static void drain_links(void) {
  struct iovec iov[16];
  int link, round, n, i;
  for (link = 0; link < WSP_REDIS_LINKS; link++) {
    for (round = 0; round < 10000; round++) {
      size_t t = 0;
      n = wsp_redis_pending(R, link, iov, 16);
      if (n <= 0)
        break;
      for (i = 0; i < n; i++) {
        fz_touch(iov[i].iov_base, iov[i].iov_len);
        TRACE("redis <", link, iov[i].iov_base, iov[i].iov_len);
        t += iov[i].iov_len;
      }
      if (short_write & (1u << link)) {
        short_write &= ~(1u << link);
        wsp_redis_sent(R, link, t / 2);
        break;
      }
      if (wsp_redis_sent(R, link, t) != 0)
        break;
    }
  }
}

static void drain(void) {
  drain_links();
  drain_client();
}

/* A masked text frame of the client (a zero mask) around text. */
static void say(const char *text) {
  static uint8_t f[1024];
  size_t n = strlen(text), k = 0;
  if (!C || n > sizeof(f) - 8)
    return;
  f[k++] = 0x81;
  if (n < 126) {
    f[k++] = (uint8_t)(0x80 | n);
  } else {
    f[k++] = 0x80 | 126;
    f[k++] = (uint8_t)(n >> 8);
    f[k++] = (uint8_t)n;
  }
  memset(f + k, 0, 4);
  k += 4;
  memcpy(f + k, text, n);
  TRACE("client >", 0, text, n);
  wsp_client_recv(C, f, k + n);
  drain();
}

static void client_open(void) {
  if (wsp_server_accept(S, NULL, &C) != 0) {
    C = NULL;
    return;
  }
  wsp_client_recv(C, upgrade, sizeof(upgrade) - 1);
  drain();
  say(setup[0]);
}

static void link_ready(int link) {
  if (!wsp_redis_is_up(R, link))
    wsp_redis_link_up(R, link);
  drain();
}

static int hub_open(void) {
  struct wsp_server_callbacks cb;
  struct wsp_server_history h;
  struct wsp_redis_config cfg;
  struct wsp_publish_opts opts;
  size_t i;
  memset(&cb, 0, sizeof(cb));
  cb.on_connect = on_connect;
  now = 1000;
  short_write = 0;
  S = NULL;
  R = NULL;
  C = NULL;
  if (wsp_server_new(&S, &cb, NULL, now, NULL) != 0)
    return -1;
  wsp_server_set_channel_flags(S,
                               WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE |
                                   WSP_CHANNEL_WILDCARDS | WSP_CHANNEL_PUBLISH);
  memset(&h, 0, sizeof(h));
  h.retention.max_events = 10;
  h.retention.max_age = 60000;
  h.retention.meta_ttl = 60000;
  wsp_server_set_history(S, &h);
  memset(&cfg, 0, sizeof(cfg));
  cfg.node = NODE;
  if (wsp_redis_new(&R, &cfg, NULL, NULL, now, NULL) != 0 ||
      wsp_server_set_redis(S, R) != 0)
    return -1;
  link_ready(WSP_REDIS_CMD);
  link_ready(WSP_REDIS_SUB);
  client_open();
  for (i = 1; i < sizeof(setup) / sizeof(setup[0]); i++)
    say(setup[i]);
  memset(&opts, 0, sizeof(opts));
  opts.info = "{\"user\":\"api\"}";
  wsp_server_publish_async(S, "a", "2", 1, &opts, on_published, NULL);
  say("{\"presence\":{\"channel\":\"a\"},\"id\":5}");
  wsp_push_broadcast(S, "{\"b\":1}", 7);
  drain();
  return 0;
}

static void hub_close(int engine_first, int client_first) {
#ifdef FZ_TRACE
  struct wsp_redis_stats st;
  wsp_redis_get_stats(R, &st);
  fprintf(stderr,
          "stats: commands %llu replies %llu errors %llu failed %llu "
          "messages %llu resets %llu\n",
          (unsigned long long)st.commands, (unsigned long long)st.replies,
          (unsigned long long)st.errors, (unsigned long long)st.failed,
          (unsigned long long)st.messages, (unsigned long long)st.resets);
#endif
  if (C && client_first)
    wsp_client_free(C); /* else wsp_server_free() frees it */
  C = NULL;
  if (engine_first) {
    wsp_redis_free(R);
    wsp_server_free(S);
  } else {
    wsp_server_free(S);
    wsp_redis_free(R);
  }
  S = NULL;
  R = NULL;
}

static void op(unsigned n, int arg, const uint8_t **p, const uint8_t *end) {
  struct wsp_publish_opts opts;
  switch (n - OP_BASE) {
  case 0: /* the link drops and comes back */
    wsp_redis_link_down(R, arg);
    link_ready(arg);
    break;
  case 1: /* the link drops; it comes back when next fed */
    wsp_redis_link_down(R, arg);
    break;
  case 2: /* time: command timeouts, probes, presence refresh */
    now += arg ? LONG_MS : STEP_MS;
    wsp_redis_tick(R, now);
    wsp_server_tick(S, now);
    break;
  case 3: /* the client sends a command */
    if (*p < end)
      say(commands[*(*p)++ % (sizeof(commands) / sizeof(commands[0]))]);
    break;
  case 4: /* the application publishes and waits for Redis */
    memset(&opts, 0, sizeof(opts));
    opts.skip_history = arg;
    wsp_server_publish_async(S, arg ? "news.y" : "a", "[1]", 3, &opts,
                             on_published, NULL);
    break;
  case 5: /* orders for every node */
    if (arg)
      wsp_server_disconnect_user(S, USER, 3503, "forced");
    else
      wsp_server_subscribe_user(S, USER, "u");
    break;
  case 6: /* publish without waiting; a push to the user */
    if (arg)
      wsp_push_user(S, USER, "{}", 2);
    else
      wsp_server_publish(S, "a", "3", 1, NULL);
    break;
  case 7: /* a new client in place of the old one */
    if (C)
      wsp_client_free(C);
    C = NULL;
    client_open();
    break;
  case 8: /* server-side subscriptions of the client */
    if (C) {
      if (arg)
        wsp_server_unsubscribe(C, "s");
      else
        wsp_server_subscribe(C, "s");
    }
    break;
  case 9: /* the next drain of the link writes only a part */
    short_write |= 1u << arg;
    break;
  case 10: /* the engine goes, the hub stays (and the other way) */
    if (arg) {
      wsp_server_set_redis(S, NULL);
    } else {
      wsp_server_set_redis(S, R);
    }
    break;
  default:
    break;
  }
  drain();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *p = data, *end = data + size;
  int steps;
  if (size > MAX_INPUT)
    return 0;
  if (hub_open() != 0) {
    hub_close(0, 0);
    return 0;
  }
  for (steps = 0; p < end && steps < MAX_STEPS; steps++) {
    unsigned b = *p++, n = b >> 1;
    int link = b & 1;
    size_t len;
    if (n >= OP_BASE) {
      op(n, link, &p, end);
      continue;
    }
    len = n == 0 ? (size_t)(end - p) : n;
    if (len > (size_t)(end - p))
      len = (size_t)(end - p);
    link_ready(link);
    TRACE("redis >", link, p, len);
    wsp_redis_recv(R, link, p, len);
    p += len;
    drain();
  }
  hub_close(size > 0 && (data[size - 1] & 1), size > 0 && (data[size - 1] & 2));
  return 0;
}
