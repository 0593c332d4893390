/*
 * The Redis engine serving hubs (wsp_server_set_redis): two nodes in one
 * process, each a wsp_server with its own wsp_redis pumped over real
 * sockets to one redis-server of the test's own (redis_helpers.c), and
 * in-memory Centrifuge clients on each (helpers.c). A publication on one
 * node reaches the other in order with its offset; recovery, history and
 * presence read Redis; orders reach the other node; the API's publish
 * hears its offset; a lost PUB/SUB link ends the subscriptions with 2500;
 * and the engine and the server may be freed in either order. Skipped
 * without redis-server. Every wait is bounded by WAIT_MS.
 */
#include "helpers.h"
#include "redis_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <poll.h>
#include <unistd.h>

#include "wsp/redis.h"
#include "wsp/server.h"

#define NC 2         /* clients per node */
#define WAIT_MS 5000 /* the longest any wait may take */
#define EPOCH_LEN 16 /* the engine's epochs: 16 hex digits */
#define LIT_LEN(lit) (sizeof(lit) - 1)

static struct tredis_server rsrv;
static int have_srv;
static unsigned prefix_seq;

static void need_server(void) {
  if (!have_srv)
    skip();
}

/* ---- Nodes -------------------------------------------------------------- */

/* One node: a hub, its engine and the application's side of the engine's
 * links, and its clients; client i connects as user[i]. */
struct node {
  struct wsp_server *srv;
  struct tredis_app app;
  struct thub_cli c[NC];
  const char *user[NC];
};

/* Nodes A and B, on one Redis, under a prefix of the test's own. */
struct pair {
  struct node a, b;
  char prefix[32];
};

static int on_connect(struct wsp_client *cl, const struct wsp_connect_info *ci,
                      void *ud) {
  struct node *n = ud;
  struct thub_cli *k = wsp_client_get_io_data(cl);
  (void)ci;
  return wsp_client_set_user(cl, n->user[k - n->c]);
}

/* Channels named "nohist..." have no history. */
static int history_for(const char *ch, size_t len,
                       struct wsp_evlog_retention *r, void *ud) {
  (void)r;
  (void)ud;
  return !(len >= 6 && memcmp(ch, "nohist", 6) == 0);
}

static void node_open(struct node *n, const char *name, const char *prefix,
                      const char *u0, const char *u1) {
  struct wsp_server_callbacks cb;
  struct wsp_server_history h;
  struct wsp_redis_config cfg;
  int i;
  memset(n, 0, sizeof(*n));
  n->user[0] = u0;
  n->user[1] = u1;
  memset(&cb, 0, sizeof(cb));
  cb.on_connect = on_connect;
  assert_int_equal(wsp_server_new(&n->srv, &cb, NULL, tredis_now(), n), 0);
  assert_int_equal(wsp_server_set_channel_flags(
                       n->srv, WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE |
                                   WSP_CHANNEL_PUBLISH | WSP_CHANNEL_WILDCARDS),
                   0);
  memset(&h, 0, sizeof(h));
  h.retention.max_events = 100;
  h.history_for = history_for;
  assert_int_equal(wsp_server_set_history(n->srv, &h), 0);
  tredis_app_init(&n->app, &rsrv);
  memset(&cfg, 0, sizeof(cfg));
  cfg.prefix = prefix;
  cfg.node = name;
  assert_int_equal(wsp_redis_new(&n->app.r, &cfg, NULL, NULL,
                                 tredis_app_clock(&n->app), NULL),
                   0);
  assert_int_equal(wsp_server_set_redis(n->srv, n->app.r), 0);
  assert_string_equal(wsp_redis_get_node(n->app.r), name);
  tredis_link_open(&n->app, WSP_REDIS_CMD);
  tredis_link_open(&n->app, WSP_REDIS_SUB);
  for (i = 0; i < NC; i++)
    thub_cli_open(&n->c[i], n->srv);
}

/* Clients, then the server, then the engine: the usual order. */
static void node_free(struct node *n) {
  int i;
  for (i = 0; i < NC; i++)
    thub_cli_free(&n->c[i]);
  wsp_server_free(n->srv);
  n->srv = NULL;
  tredis_app_free(&n->app);
}

/* One turn for both nodes: their links, their clients, their timers. */
static void pump_once(struct pair *p) {
  struct node *ns[2] = {&p->a, &p->b};
  int i;
  for (i = 0; i < 2; i++) {
    if (!ns[i]->srv)
      continue;
    if (ns[i]->app.r)
      tredis_pump_once(&ns[i]->app, 1);
    thub_pump(ns[i]->c, NC);
    wsp_server_tick(ns[i]->srv, tredis_now());
  }
}

/* Pump until done(p, arg), at most WAIT_MS; fail the test after that. */
static void pump_until(struct pair *p, int (*done)(struct pair *, void *),
                       void *arg, const char *what) {
  uint64_t until = tredis_now() + WAIT_MS;
  while (!done(p, arg)) {
    if (tredis_now() >= until)
      fail_msg("waited %d ms for %s", WAIT_MS, what);
    pump_once(p);
  }
}

/* Every command of both engines answered (the probes too). */
static int idle_engine(const struct node *n) {
  struct wsp_redis_stats st;
  if (!n->srv || !n->app.r)
    return 1;
  wsp_redis_get_stats(n->app.r, &st);
  return st.buffered == 0 && !wsp_redis_want_write(n->app.r, WSP_REDIS_CMD) &&
         !wsp_redis_want_write(n->app.r, WSP_REDIS_SUB);
}

static int settled(struct pair *p, void *arg) {
  (void)arg;
  return idle_engine(&p->a) && idle_engine(&p->b);
}

static void settle(struct pair *p) {
  pump_until(p, settled, NULL, "the engines to be idle");
}

static size_t count_lines(const struct thub_cli *k) {
  size_t n = 0, i;
  for (i = 0; i < k->lines.len; i++)
    n += k->lines.data[i] == '\n';
  return n;
}

struct lines_arg {
  const struct thub_cli *k;
  size_t n;
};

static int has_lines(struct pair *p, void *arg) {
  const struct lines_arg *l = arg;
  (void)p;
  return count_lines(l->k) >= l->n;
}

/* Pump until client k has received n lines in all. */
static void wait_lines(struct pair *p, const struct thub_cli *k, size_t n) {
  struct lines_arg l = {k, n};
  pump_until(p, has_lines, &l, "lines");
}

/* Client i of node n sends text; wait for n_lines lines there. */
static void say(struct pair *p, struct node *n, int i, const char *text,
                size_t n_lines) {
  assert_int_equal(wsp_conn_send(n->c[i].cc, WSP_OP_TEXT, text, strlen(text)),
                   0);
  wait_lines(p, &n->c[i], n_lines);
}

static void pair_open(struct pair *p) {
  int i;
  need_server();
  memset(p, 0, sizeof(*p));
  snprintf(p->prefix, sizeof(p->prefix), "eng%u", ++prefix_seq);
  node_open(&p->a, "node-a", p->prefix, "alice", "carol");
  node_open(&p->b, "node-b", p->prefix, "bob", "dave");
  for (i = 0; i < NC; i++) {
    say(p, &p->a, i, "{\"connect\":{},\"id\":1}", 1);
    say(p, &p->b, i, "{\"connect\":{},\"id\":1}", 1);
  }
  /* both engines subscribed to P.control: orders can flow */
  settle(p);
  thub_clear(p->a.c, NC);
  thub_clear(p->b.c, NC);
}

static void pair_free(struct pair *p) {
  node_free(&p->a);
  node_free(&p->b);
}

/* ---- Lines -------------------------------------------------------------- */

/* The epoch Redis made for a stream, from the subscribe result for id
 * that starts s: the fields before it exactly, then EPOCH_LEN bytes. */
static void epoch_of_reply(const char *s, unsigned id, char *out) {
  char head[128];
  int n = snprintf(head, sizeof(head),
                   "{\"id\":%u,\"subscribe\":{\"recoverable\":true,"
                   "\"positioned\":true,\"epoch\":\"",
                   id);
  assert_true(n > 0 && (size_t)n < sizeof(head));
  if (strncmp(s, head, (size_t)n) != 0 || strlen(s) <= (size_t)n + EPOCH_LEN ||
      s[n + EPOCH_LEN] != '"')
    fail_msg("not a positioned subscribe result for id %u: %s", id, s);
  memcpy(out, s + n, EPOCH_LEN);
  out[EPOCH_LEN] = '\0';
}

/* The ClientInfo of client i of node n, as pushes and presence show it. */
static const char *info_of(const struct node *n, int i, char *out, size_t cap) {
  snprintf(out, cap, "{\"user\":\"%s\",\"client\":\"%s\"}", n->user[i],
           wsp_client_get_id(n->c[i].sc));
  return out;
}

/* Client i of node n subscribes to ch (a fresh stream: offset 0) with id;
 * returns the stream's epoch in ep. */
static void subscribe_fresh(struct pair *p, struct node *n, int i,
                            const char *ch, unsigned id, char *ep) {
  char cmd[128], want[256];
  snprintf(cmd, sizeof(cmd), "{\"subscribe\":{\"channel\":\"%s\"},\"id\":%u}",
           ch, id);
  say(p, n, i, cmd, 1);
  epoch_of_reply(thub_lines(&n->c[i]), id, ep);
  snprintf(want, sizeof(want),
           "{\"id\":%u,\"subscribe\":{\"recoverable\":true,\"positioned\":"
           "true,\"epoch\":\"%s\"}}\n",
           id, ep);
  thub_expect(&n->c[i], want);
}

/* ---- Publish-async results ---------------------------------------------- */

struct apub {
  int fired, err;
  uint64_t offset;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
};

static void apub_done(struct wsp_server *s, int err,
                      const struct wsp_publish_result *r, void *ud) {
  struct apub *a = ud;
  (void)s;
  a->fired++;
  a->err = err;
  if (r) {
    a->offset = r->offset;
    snprintf(a->epoch, sizeof(a->epoch), "%s", r->epoch);
  } else {
    assert_true(err < 0);
  }
}

static int apub_fired(struct pair *p, void *arg) {
  (void)p;
  return ((struct apub *)arg)->fired > 0;
}

/* Publish data on ch from node n's API and wait until Redis stored it. */
static void publish_wait(struct pair *p, struct node *n, const char *ch,
                         const char *data, struct apub *a) {
  memset(a, 0, sizeof(*a));
  assert_int_equal(wsp_server_publish_async(n->srv, ch, data, strlen(data),
                                            NULL, apub_done, a),
                   0);
  pump_until(p, apub_fired, a, "a publication to be stored");
  assert_int_equal(a->fired, 1);
  assert_int_equal(a->err, 0);
}

/* ---- Tests -------------------------------------------------------------- */

/* A client's publications on node A are acknowledged there and reach the
 * subscriber on node B once each, in order, with offsets 1, 2, 3. */
static void test_redis_engine_publish_across_nodes(void **state) {
  struct pair p;
  char ep[EPOCH_LEN + 1], info[128], want[1024];
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.b, 0, "chat", 2, ep);
  settle(&p);
  say(&p, &p.a, 0, "{\"publish\":{\"channel\":\"chat\",\"data\":1},\"id\":2}",
      0);
  say(&p, &p.a, 0,
      "{\"publish\":{\"channel\":\"chat\",\"data\":{\"n\":2}},\"id\":3}", 0);
  say(&p, &p.a, 0,
      "{\"publish\":{\"channel\":\"chat\",\"data\":\"3\"},\"id\":4}", 3);
  thub_expect(&p.a.c[0], "{\"id\":2,\"publish\":{}}\n"
                         "{\"id\":3,\"publish\":{}}\n"
                         "{\"id\":4,\"publish\":{}}\n");
  wait_lines(&p, &p.b.c[0], 3);
  info_of(&p.a, 0, info, sizeof(info));
  snprintf(
      want, sizeof(want),
      "{\"push\":{\"channel\":\"chat\",\"pub\":{\"data\":1,\"info\":%s,"
      "\"offset\":1}}}\n"
      "{\"push\":{\"channel\":\"chat\",\"pub\":{\"data\":{\"n\":2},"
      "\"info\":%s,\"offset\":2}}}\n"
      "{\"push\":{\"channel\":\"chat\",\"pub\":{\"data\":\"3\",\"info\":%s,"
      "\"offset\":3}}}\n",
      info, info, info);
  settle(&p);
  thub_expect(&p.b.c[0], want);
  /* nobody else heard anything */
  thub_expect(&p.a.c[0], "");
  thub_expect(&p.a.c[1], "");
  thub_expect(&p.b.c[1], "");
  pair_free(&p);
}

/* A client of node B that left at offset 2 and comes back with recover
 * gets exactly what node A published meanwhile, "recovered":true; the
 * history command on node B reads the stream. */
static void test_redis_engine_recover_and_history(void **state) {
  struct pair p;
  struct apub a;
  char ep[EPOCH_LEN + 1], cmd[256], want[1024];
  int i;
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.b, 0, "room", 2, ep);
  for (i = 1; i <= 2; i++) {
    snprintf(cmd, sizeof(cmd), "%d", i);
    publish_wait(&p, &p.a, "room", cmd, &a);
    assert_int_equal(a.offset, (uint64_t)i);
    assert_string_equal(a.epoch, ep);
  }
  wait_lines(&p, &p.b.c[0], 2);
  thub_expect(&p.b.c[0], "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":1,"
                         "\"offset\":1}}}\n"
                         "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":2,"
                         "\"offset\":2}}}\n");
  say(&p, &p.b, 0, "{\"unsubscribe\":{\"channel\":\"room\"},\"id\":3}", 1);
  thub_expect(&p.b.c[0], "{\"id\":3,\"unsubscribe\":{}}\n");
  settle(&p);
  for (i = 3; i <= 5; i++) {
    snprintf(cmd, sizeof(cmd), "{\"v\":%d}", i);
    publish_wait(&p, &p.a, "room", cmd, &a);
    assert_int_equal(a.offset, (uint64_t)i);
  }
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"offset\":2,"
           "\"epoch\":\"%s\"},\"id\":4}",
           ep);
  say(&p, &p.b, 0, cmd, 1);
  /* the result's offset is the client's, as with the embedded engine:
   * the publications carry theirs */
  snprintf(
      want, sizeof(want),
      "{\"id\":4,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
      "\"epoch\":\"%s\",\"offset\":2,\"was_recovering\":true,"
      "\"recovered\":true,\"publications\":[{\"data\":{\"v\":3},"
      "\"offset\":3},{\"data\":{\"v\":4},\"offset\":4},{\"data\":{\"v\":5},"
      "\"offset\":5}]}}\n",
      ep);
  thub_expect(&p.b.c[0], want);
  /* a wrong epoch: not recovered, the current position */
  say(&p, &p.b, 1,
      "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"offset\":2,"
      "\"epoch\":\"0000000000000000\"},\"id\":2}",
      1);
  snprintf(want, sizeof(want),
           "{\"id\":2,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":5,\"was_recovering\":true}}\n",
           ep);
  thub_expect(&p.b.c[1], want);
  /* history on node B, oldest first and newest first */
  say(&p, &p.b, 0, "{\"history\":{\"channel\":\"room\",\"limit\":2},\"id\":5}",
      1);
  snprintf(want, sizeof(want),
           "{\"id\":5,\"history\":{\"publications\":[{\"data\":1,\"offset\":1},"
           "{\"data\":2,\"offset\":2}],\"epoch\":\"%s\",\"offset\":5}}\n",
           ep);
  thub_expect(&p.b.c[0], want);
  say(&p, &p.b, 0,
      "{\"history\":{\"channel\":\"room\",\"limit\":2,\"reverse\":true},"
      "\"id\":6}",
      1);
  snprintf(want, sizeof(want),
           "{\"id\":6,\"history\":{\"publications\":[{\"data\":{\"v\":5},"
           "\"offset\":5},{\"data\":{\"v\":4},\"offset\":4}],\"epoch\":\"%s\","
           "\"offset\":5}}\n",
           ep);
  thub_expect(&p.b.c[0], want);
  settle(&p);
  pair_free(&p);
}

/* Presence and presence_stats on node A list the client of node B; the
 * join of A's client reaches B's client that asked for joins. */
static void test_redis_engine_presence_across_nodes(void **state) {
  struct pair p;
  char ep[EPOCH_LEN + 1], ia[128], ib[128], want[1024];
  (void)state;
  pair_open(&p);
  /* as in Centrifuge, B's client is told of its own join too, after its
   * reply (through Redis here) */
  say(&p, &p.b, 0,
      "{\"subscribe\":{\"channel\":\"lobby\",\"join_leave\":true},\"id\":2}",
      2);
  epoch_of_reply(thub_lines(&p.b.c[0]), 2, ep);
  info_of(&p.a, 0, ia, sizeof(ia));
  info_of(&p.b, 0, ib, sizeof(ib));
  snprintf(want, sizeof(want),
           "{\"id\":2,\"subscribe\":{\"recoverable\":true,\"positioned\":"
           "true,\"epoch\":\"%s\"}}\n"
           "{\"push\":{\"channel\":\"lobby\",\"join\":{\"info\":%s}}}\n",
           ep, ib);
  thub_expect(&p.b.c[0], want);
  settle(&p); /* B's presence entry is in Redis */
  subscribe_fresh(&p, &p.a, 0, "lobby", 2, ep);
  settle(&p);
  /* B's client hears the join of A's through Redis */
  wait_lines(&p, &p.b.c[0], 1);
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"lobby\",\"join\":{\"info\":%s}}}\n", ia);
  thub_expect(&p.b.c[0], want);
  say(&p, &p.a, 0, "{\"presence\":{\"channel\":\"lobby\"},\"id\":3}", 1);
  snprintf(want, sizeof(want),
           "{\"id\":3,\"presence\":{\"presence\":{\"%s\":%s,\"%s\":%s}}}\n",
           wsp_client_get_id(p.b.c[0].sc), ib, wsp_client_get_id(p.a.c[0].sc),
           ia);
  thub_expect(&p.a.c[0], want);
  say(&p, &p.a, 0, "{\"presence_stats\":{\"channel\":\"lobby\"},\"id\":4}", 1);
  thub_expect(&p.a.c[0], "{\"id\":4,\"presence_stats\":{\"num_clients\":2,"
                         "\"num_users\":2}}\n");
  /* A's client leaves: B's hears it, and presence on B lists B's alone */
  say(&p, &p.a, 0, "{\"unsubscribe\":{\"channel\":\"lobby\"},\"id\":5}", 1);
  thub_expect(&p.a.c[0], "{\"id\":5,\"unsubscribe\":{}}\n");
  wait_lines(&p, &p.b.c[0], 1);
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"lobby\",\"leave\":{\"info\":%s}}}\n", ia);
  thub_expect(&p.b.c[0], want);
  settle(&p);
  say(&p, &p.b, 0, "{\"presence\":{\"channel\":\"lobby\"},\"id\":3}", 1);
  snprintf(want, sizeof(want),
           "{\"id\":3,\"presence\":{\"presence\":{\"%s\":%s}}}\n",
           wsp_client_get_id(p.b.c[0].sc), ib);
  thub_expect(&p.b.c[0], want);
  settle(&p);
  pair_free(&p);
}

/* wsp_server_disconnect_user() on node A closes the user's connection on
 * node B with its code; a push to the user goes the same way. */
static void test_redis_engine_disconnect_user(void **state) {
  struct pair p;
  uint64_t until;
  (void)state;
  pair_open(&p);
  /* bob has no connection on A: 0 here, the order goes to B */
  assert_int_equal(wsp_push_user(p.a.srv, "bob", "{\"m\":1}", 7), 0);
  wait_lines(&p, &p.b.c[0], 1);
  thub_expect(&p.b.c[0], "{\"push\":{\"message\":{\"data\":{\"m\":1}}}}\n");
  assert_int_equal(wsp_server_disconnect_user(p.a.srv, "bob", 3503, "forced"),
                   0);
  until = tredis_now() + WAIT_MS;
  while (p.b.c[0].close_code == 0 && tredis_now() < until)
    pump_once(&p);
  assert_int_equal(p.b.c[0].close_code, 3503);
  /* nobody else is closed, on either node */
  settle(&p);
  assert_int_equal(p.b.c[1].close_code, 0);
  assert_int_equal(p.a.c[0].close_code, 0);
  assert_int_equal(p.a.c[1].close_code, 0);
  thub_expect(&p.b.c[1], "");
  pair_free(&p);
}

/* A wildcard subscriber on node B (PSUBSCRIBE of a glob covering the
 * pattern) gets what node A publishes on the channels it matches, and
 * only those; after it unsubscribes, nothing. */
static void test_redis_engine_wildcard(void **state) {
  struct pair p;
  struct apub a;
  (void)state;
  pair_open(&p);
  say(&p, &p.b, 0, "{\"subscribe\":{\"channel\":\"news.*\"},\"id\":2}", 1);
  thub_expect(&p.b.c[0], "{\"id\":2,\"subscribe\":{}}\n");
  say(&p, &p.b, 1, "{\"subscribe\":{\"channel\":\"news.*.x\"},\"id\":2}", 1);
  thub_expect(&p.b.c[1], "{\"id\":2,\"subscribe\":{}}\n");
  settle(&p);
  publish_wait(&p, &p.a, "news.sport", "1", &a);
  publish_wait(&p, &p.a, "news.a.x", "2", &a);   /* news.*.x only */
  publish_wait(&p, &p.a, "news.sport", "3", &a); /* offset 2 */
  publish_wait(&p, &p.a, "weather.x", "4", &a);  /* nobody */
  wait_lines(&p, &p.b.c[0], 2);
  wait_lines(&p, &p.b.c[1], 1);
  settle(&p);
  thub_expect(&p.b.c[0],
              "{\"push\":{\"channel\":\"news.*\",\"pub\":{\"data\":1,"
              "\"offset\":1,\"channel\":\"news.sport\"}}}\n"
              "{\"push\":{\"channel\":\"news.*\",\"pub\":{\"data\":3,"
              "\"offset\":2,\"channel\":\"news.sport\"}}}\n");
  thub_expect(&p.b.c[1],
              "{\"push\":{\"channel\":\"news.*.x\",\"pub\":{\"data\":2,"
              "\"offset\":1,\"channel\":\"news.a.x\"}}}\n");
  say(&p, &p.b, 0, "{\"unsubscribe\":{\"channel\":\"news.*\"},\"id\":3}", 1);
  thub_expect(&p.b.c[0], "{\"id\":3,\"unsubscribe\":{}}\n");
  settle(&p);
  publish_wait(&p, &p.a, "news.sport", "5", &a);
  publish_wait(&p, &p.a, "news.b.x", "6", &a);
  wait_lines(&p, &p.b.c[1], 1);
  settle(&p);
  thub_expect(&p.b.c[0], "");
  thub_expect(&p.b.c[1],
              "{\"push\":{\"channel\":\"news.*.x\",\"pub\":{\"data\":6,"
              "\"offset\":1,\"channel\":\"news.b.x\"}}}\n");
  pair_free(&p);
}

/* wsp_server_publish_async() reports the offset and epoch Redis gave the
 * publication, and its subscribers on the other node see the same; a
 * channel without history has neither. */
static void test_redis_engine_publish_async(void **state) {
  struct pair p;
  struct apub a;
  char ep[EPOCH_LEN + 1];
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.b, 0, "news", 2, ep);
  publish_wait(&p, &p.a, "news", "{\"n\":1}", &a);
  assert_int_equal(a.offset, 1);
  assert_string_equal(a.epoch, ep);
  publish_wait(&p, &p.b, "news", "{\"n\":2}", &a);
  assert_int_equal(a.offset, 2);
  assert_string_equal(a.epoch, ep);
  wait_lines(&p, &p.b.c[0], 2);
  thub_expect(&p.b.c[0],
              "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"n\":1},"
              "\"offset\":1}}}\n"
              "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"n\":2},"
              "\"offset\":2}}}\n");
  /* no history: delivered, no position */
  say(&p, &p.b, 1, "{\"subscribe\":{\"channel\":\"nohist\"},\"id\":2}", 1);
  thub_expect(&p.b.c[1], "{\"id\":2,\"subscribe\":{}}\n");
  settle(&p);
  publish_wait(&p, &p.a, "nohist", "[3]", &a);
  assert_int_equal(a.offset, 0);
  assert_string_equal(a.epoch, "");
  wait_lines(&p, &p.b.c[1], 1);
  thub_expect(&p.b.c[1],
              "{\"push\":{\"channel\":\"nohist\",\"pub\":{\"data\":[3]}}}\n");
  /* refused at once: done is never called */
  memset(&a, 0, sizeof(a));
  assert_int_equal(
      wsp_server_publish_async(p.a.srv, "news", "{x", 2, NULL, apub_done, &a),
      WSP_ERR_JSON);
  settle(&p);
  assert_int_equal(a.fired, 0);
  pair_free(&p);
}

/* Node B's PUB/SUB link goes down: its subscriber gets the unsubscribe
 * push 2500 at once; once the link is back it recovers what node A
 * published meanwhile. */
static void test_redis_engine_sub_link_down(void **state) {
  struct pair p;
  struct apub a;
  char ep[EPOCH_LEN + 1], cmd[256], want[512];
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.b, 0, "feed", 2, ep);
  subscribe_fresh(&p, &p.a, 0, "feed", 2, ep);
  publish_wait(&p, &p.a, "feed", "1", &a);
  wait_lines(&p, &p.b.c[0], 1);
  wait_lines(&p, &p.a.c[0], 1);
  thub_clear(p.a.c, NC);
  thub_clear(p.b.c, NC);
  settle(&p);
  tredis_link_close(&p.b.app, WSP_REDIS_SUB);
  thub_pump(p.b.c, NC);
  thub_expect(&p.b.c[0],
              "{\"push\":{\"channel\":\"feed\",\"unsubscribe\":{"
              "\"code\":2500,\"reason\":\"insufficient state\"}}}\n");
  /* node A's subscriber is not concerned */
  publish_wait(&p, &p.a, "feed", "2", &a);
  assert_int_equal(a.offset, 2);
  wait_lines(&p, &p.a.c[0], 1);
  thub_expect(&p.a.c[0], "{\"push\":{\"channel\":\"feed\",\"pub\":{\"data\":2,"
                         "\"offset\":2}}}\n");
  /* while B's link is down, a subscribe there fails, temporarily */
  say(&p, &p.b, 1, "{\"subscribe\":{\"channel\":\"feed\"},\"id\":2}", 1);
  thub_expect(&p.b.c[1], "{\"id\":2,\"error\":{\"code\":100,\"message\":"
                         "\"internal server error\",\"temporary\":true}}\n");
  tredis_link_open(&p.b.app, WSP_REDIS_SUB);
  settle(&p);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"feed\",\"recover\":true,\"offset\":1,"
           "\"epoch\":\"%s\"},\"id\":3}",
           ep);
  say(&p, &p.b, 0, cmd, 1);
  snprintf(
      want, sizeof(want),
      "{\"id\":3,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
      "\"epoch\":\"%s\",\"offset\":1,\"was_recovering\":true,"
      "\"recovered\":true,\"publications\":[{\"data\":2,\"offset\":2}]}}\n",
      ep);
  thub_expect(&p.b.c[0], want);
  settle(&p);
  /* and hears the live ones again */
  publish_wait(&p, &p.a, "feed", "3", &a);
  wait_lines(&p, &p.b.c[0], 1);
  thub_expect(&p.b.c[0], "{\"push\":{\"channel\":\"feed\",\"pub\":{\"data\":3,"
                         "\"offset\":3}}}\n");
  settle(&p);
  pair_free(&p);
}

/* Write what link has pending now, without reading anything. */
static void write_pending(struct tredis_app *app, int link) {
  struct iovec iov[16];
  size_t total = 0;
  ssize_t w;
  int n = wsp_redis_pending(app->r, link, iov, 16), i;
  assert_true(n > 0);
  for (i = 0; i < n; i++)
    total += iov[i].iov_len;
  w = writev(app->fd[link], iov, n);
  assert_int_equal(w, (ssize_t)total);
  assert_int_equal(wsp_redis_sent(app->r, link, total), 0);
}

/* A subscription that waits for the engine's SUBSCRIBE when it fails
 * (the PUB/SUB link lost after the SUBSCRIBE was written, or the engine
 * freed first) is answered with error 100, temporary, once; the client
 * subscribes again once the link is back. (The failure used to free the
 * engine's channel entry under the walk of its waiting reads: fuzz_redis,
 * fuzz/crashes-redis/.) */
static void test_redis_engine_subscribe_fails_while_waiting(void **state) {
  static const char sub[] = "{\"subscribe\":{\"channel\":\"wait\"},\"id\":2}";
  static const char err100[] =
      "{\"id\":2,\"error\":{\"code\":100,\"message\":\"internal server "
      "error\",\"temporary\":true}}\n";
  struct pair p;
  char ep[EPOCH_LEN + 1];
  (void)state;
  pair_open(&p);
  assert_int_equal(wsp_conn_send(p.b.c[0].cc, WSP_OP_TEXT, sub, LIT_LEN(sub)),
                   0);
  thub_pump(p.b.c, NC);
  write_pending(&p.b.app, WSP_REDIS_SUB); /* SUBSCRIBE sent, not answered */
  tredis_link_close(&p.b.app, WSP_REDIS_SUB);
  thub_pump(p.b.c, NC);
  thub_expect(&p.b.c[0], err100);
  tredis_link_open(&p.b.app, WSP_REDIS_SUB);
  settle(&p);
  thub_expect(&p.b.c[0], "");
  subscribe_fresh(&p, &p.b, 0, "wait", 3, ep);
  settle(&p);
  /* the engine freed while another client's subscription waits */
  assert_int_equal(wsp_conn_send(p.b.c[1].cc, WSP_OP_TEXT, sub, LIT_LEN(sub)),
                   0);
  thub_pump(p.b.c, NC);
  tredis_app_free(&p.b.app);
  thub_pump(p.b.c, NC);
  thub_expect(&p.b.c[1], err100);
  thub_expect(&p.b.c[0], "");
  pair_free(&p);
}

/* Read from link's socket until something came, and feed it; nothing
 * else is read meanwhile. */
static void feed_link_only(struct tredis_app *app, int link) {
  char buf[65536];
  uint64_t until = tredis_now() + WAIT_MS;
  for (;;) {
    struct pollfd pfd = {app->fd[link], POLLIN, 0};
    ssize_t n;
    if (tredis_now() >= until)
      fail_msg("waited %d ms for the link", WAIT_MS);
    if (poll(&pfd, 1, 10) <= 0)
      continue;
    n = read(app->fd[link], buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(wsp_redis_recv(app->r, link, buf, (size_t)n), 0);
    return;
  }
}

/* A publisher subscribed to its channel: the publication comes back on
 * the PUB/SUB link, here before the script's reply on the command link,
 * and still the client gets its reply first. */
static void test_redis_engine_reply_before_publication(void **state) {
  static const char pub[] =
      "{\"publish\":{\"channel\":\"own\",\"data\":7},\"id\":3}";
  struct pair p;
  char ep[EPOCH_LEN + 1], info[128], want[512];
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.a, 0, "own", 2, ep);
  settle(&p);
  assert_int_equal(wsp_conn_send(p.a.c[0].cc, WSP_OP_TEXT, pub, LIT_LEN(pub)),
                   0);
  thub_pump(p.a.c, NC);
  write_pending(&p.a.app, WSP_REDIS_CMD); /* the script runs */
  feed_link_only(&p.a.app, WSP_REDIS_SUB); /* its publication first */
  thub_pump(p.a.c, NC);
  thub_expect(&p.a.c[0], ""); /* held until the reply */
  wait_lines(&p, &p.a.c[0], 2);
  info_of(&p.a, 0, info, sizeof(info));
  snprintf(want, sizeof(want),
           "{\"id\":3,\"publish\":{}}\n"
           "{\"push\":{\"channel\":\"own\",\"pub\":{\"data\":7,\"info\":%s,"
           "\"offset\":1}}}\n",
           info);
  thub_expect(&p.a.c[0], want);
  pair_free(&p);
}

/* The server freed before its engine, with its clients subscribed, a
 * subscription waiting for Redis and a publication not stored yet: the
 * publication hears WSP_ERR_CANCELLED once; the engine, detached, goes
 * on alone until it is freed. */
static void test_redis_engine_free_server_first(void **state) {
  struct pair p;
  struct apub a;
  struct wsp_redis_stats st;
  char ep[EPOCH_LEN + 1];
  uint64_t until;
  int i;
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.b, 0, "gone", 2, ep);
  subscribe_fresh(&p, &p.b, 1, "gone", 2, ep);
  settle(&p);
  /* a subscribe and a publication queued for Redis, not answered yet */
  assert_int_equal(
      wsp_conn_send(
          p.b.c[0].cc, WSP_OP_TEXT,
          "{\"subscribe\":{\"channel\":\"later\"},\"id\":3}",
          LIT_LEN("{\"subscribe\":{\"channel\":\"later\"},\"id\":3}")),
      0);
  thub_pump(p.b.c, NC);
  memset(&a, 0, sizeof(a));
  assert_int_equal(
      wsp_server_publish_async(p.b.srv, "gone", "1", 1, NULL, apub_done, &a),
      0);
  wsp_server_free(p.b.srv); /* frees the hub's side of the clients too */
  p.b.srv = NULL;
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.err, WSP_ERR_CANCELLED);
  for (i = 0; i < NC; i++) {
    wsp_conn_free(p.b.c[i].cc);
    tbuf_free(&p.b.c[i].lines);
  }
  /* the engine, detached, sends what it held and takes the replies
   * (the server's unsubscribes and leaves among them) telling nobody */
  until = tredis_now() + WAIT_MS;
  do {
    tredis_pump_once(&p.b.app, 1);
    wsp_redis_get_stats(p.b.app.r, &st);
  } while (st.buffered && tredis_now() < until);
  assert_int_equal(st.buffered, 0);
  assert_int_equal(st.failed, 0);
  tredis_app_free(&p.b.app);
  assert_int_equal(a.fired, 1);
  /* node A goes on, after node B's last publication */
  publish_wait(&p, &p.a, "gone", "2", &a);
  assert_int_equal(a.offset, 2);
  node_free(&p.a);
}

/* The engine freed before its server, with clients subscribed and a
 * publication not stored yet: the publication fails (once), the server
 * goes on without the engine and is freed cleanly after. */
static void test_redis_engine_free_engine_first(void **state) {
  struct pair p;
  struct apub a;
  char ep[EPOCH_LEN + 1];
  (void)state;
  pair_open(&p);
  subscribe_fresh(&p, &p.b, 0, "gone", 2, ep);
  subscribe_fresh(&p, &p.b, 1, "gone", 2, ep);
  settle(&p);
  memset(&a, 0, sizeof(a));
  assert_int_equal(
      wsp_server_publish_async(p.b.srv, "gone", "1", 1, NULL, apub_done, &a),
      0);
  tredis_app_free(&p.b.app);
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.err, WSP_ERR_CLOSED);
  /* the server has no engine any more: in process from now on */
  thub_pump(p.b.c, NC);
  thub_clear(p.b.c, NC);
  assert_true(wsp_server_publish(p.b.srv, "gone", "2", 1, NULL) >= 0);
  thub_pump(p.b.c, NC);
  node_free(&p.b);
  assert_int_equal(a.fired, 1);
  node_free(&p.a);
}

/* ---- Main --------------------------------------------------------------- */

static int group_setup(void **state) {
  (void)state;
  have_srv = tredis_start_group(&rsrv);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tredis_stop(&rsrv);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redis_engine_publish_across_nodes),
      cmocka_unit_test(test_redis_engine_recover_and_history),
      cmocka_unit_test(test_redis_engine_presence_across_nodes),
      cmocka_unit_test(test_redis_engine_disconnect_user),
      cmocka_unit_test(test_redis_engine_wildcard),
      cmocka_unit_test(test_redis_engine_publish_async),
      cmocka_unit_test(test_redis_engine_sub_link_down),
      cmocka_unit_test(test_redis_engine_subscribe_fails_while_waiting),
      cmocka_unit_test(test_redis_engine_reply_before_publication),
      cmocka_unit_test(test_redis_engine_free_server_first),
      cmocka_unit_test(test_redis_engine_free_engine_first),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
