/*
 * The links of the Redis engine (wsp_redis): configuration, the RESP
 * bytes of commands, partial writes, replies of every type, PUB/SUB
 * routing, link up and down, timeouts and resets, the probe,
 * max_buffered, garbage from the server, re-entrant callbacks and the
 * allocator hooks. Scripted bytes where the exact wire matters, a real
 * redis-server on a free loopback port (redis_helpers.c) for the round
 * trips; those tests are skipped without redis-server.
 */
#include "helpers.h"
#include "redis_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis/redis_private.h"

#define LIT_LEN(lit) (sizeof(lit) - 1)
#define WAIT_MS 5000
#define NODE_MAX_TEST 64

static struct tredis_server srv;
static int have_srv;

static void need_server(void) {
  if (!have_srv)
    skip();
}

/* ---- Results of commands ---------------------------------------------- */

static int g_seq;

/* One command's completion: its reply rendered as text (strings in
 * quotes, +status, -error, integers, nil, [arrays]), its exact bytes
 * when it is a string. */
struct res {
  int fired, err, seq, type;
  char text[256];
  struct tbuf raw;
  void (*hook)(struct wsp_redis *r, struct res *q);
  int hook_rc[4];
};

static void dump(struct tbuf *b, const struct wsp__rreply *x) {
  switch (x->type) {
  case WSP__RR_STRING:
    tbuf_puts(b, "\"");
    tbuf_append(b, x->str, x->len);
    tbuf_puts(b, "\"");
    break;
  case WSP__RR_STATUS:
    tbuf_printf(b, "+%s", x->str);
    break;
  case WSP__RR_ERROR:
    tbuf_printf(b, "-%s", x->str);
    break;
  case WSP__RR_INTEGER:
    tbuf_printf(b, "%lld", x->integer);
    break;
  case WSP__RR_NIL:
    assert_int_equal(x->n, 0);
    tbuf_puts(b, "nil");
    break;
  case WSP__RR_ARRAY:
    tbuf_puts(b, "[");
    for (size_t i = 0; i < x->n; i++) {
      if (i)
        tbuf_puts(b, ",");
      dump(b, x->elem[i]);
    }
    tbuf_puts(b, "]");
    break;
  default:
    fail_msg("reply of unknown type %d", x->type);
  }
}

static void text_of(char *out, size_t cap, const struct wsp__rreply *x) {
  struct tbuf b;
  tbuf_init(&b);
  dump(&b, x);
  snprintf(out, cap, "%.*s", (int)b.len, b.len ? (const char *)b.data : "");
  tbuf_free(&b);
}

static void res_done(struct wsp_redis *r, const struct wsp__rreply *reply,
                     int err, void *ud) {
  struct res *q = ud;
  assert_int_equal(q->fired, 0); /* exactly once */
  q->fired++;
  q->seq = ++g_seq;
  q->err = err;
  if (reply) {
    assert_int_equal(err, 0);
    q->type = reply->type;
    text_of(q->text, sizeof q->text, reply);
    if (reply->type == WSP__RR_STRING) {
      assert_int_equal(reply->str[reply->len], '\0');
      tbuf_append(&q->raw, reply->str, reply->len);
    }
  } else {
    assert_int_not_equal(err, 0);
    q->type = -1;
  }
  if (q->hook)
    q->hook(r, q);
}

static void res_init(struct res *q, size_t n) {
  memset(q, 0, n * sizeof *q);
  for (size_t i = 0; i < n; i++)
    tbuf_init(&q[i].raw);
}

static void res_free(struct res *q, size_t n) {
  for (size_t i = 0; i < n; i++)
    tbuf_free(&q[i].raw);
}

/* Queue a command of C strings, NULL-terminated. */
static int cmd(struct wsp_redis *r, int link, struct res *q, ...) {
  const char *argv[16];
  int argc = 0;
  va_list ap;
  va_start(ap, q);
  while ((argv[argc] = va_arg(ap, const char *)) != NULL)
    argc++;
  va_end(ap);
  return wsp__redis_command(r, link, argc, argv, NULL, q ? res_done : NULL, q);
}

/* ---- The application -------------------------------------------------- */

struct ctx {
  struct tredis_app app;
  int want_write[WSP_REDIS_LINKS];
  int resets[WSP_REDIS_LINKS];
  int reset_seq;
  int on_link[WSP_REDIS_LINKS][2]; /* [link][up] */
  int link_seq;
  char msgs[8][128];
  int nmsgs;
  void (*reset_hook)(struct ctx *c, int link);
  int hook_rc;
  uint64_t eng_now;
  int eng_ticks;
};

static void on_want_write(struct wsp_redis *r, int link, void *ud) {
  struct ctx *c = ud;
  (void)r;
  c->want_write[link]++;
}

static void on_link_reset(struct wsp_redis *r, int link, void *ud) {
  struct ctx *c = ud;
  assert_false(wsp_redis_is_up(r, link));
  c->resets[link]++;
  c->reset_seq = ++g_seq;
  if (c->reset_hook)
    c->reset_hook(c, link);
}

static void on_message(struct wsp_redis *r, const struct wsp__rreply *msg) {
  struct ctx *c = r->user_data;
  assert_true(c->nmsgs < 8);
  text_of(c->msgs[c->nmsgs++], sizeof c->msgs[0], msg);
}

static void on_link(struct wsp_redis *r, int link, int up) {
  struct ctx *c = r->user_data;
  assert_int_equal(wsp_redis_is_up(r, link), up);
  c->on_link[link][up]++;
  c->link_seq = ++g_seq;
}

static void ctx_new(struct ctx *c, const struct wsp_redis_config *cfg,
                    const struct wsp_mem *mem, uint64_t now) {
  struct wsp_redis_callbacks cb = {on_want_write, on_link_reset};
  memset(c, 0, sizeof *c);
  tredis_app_init(&c->app, &srv);
  assert_int_equal(wsp_redis_new(&c->app.r, cfg, &cb, mem, now, c), 0);
  c->app.r->on_message = on_message;
  c->app.r->on_link = on_link;
}

/* A context on the test server with both links up. */
static void ctx_server(struct ctx *c, const struct wsp_redis_config *cfg,
                       const struct wsp_mem *mem) {
  need_server();
  ctx_new(c, cfg, mem, tredis_now());
  tredis_link_open(&c->app, WSP_REDIS_CMD);
  tredis_link_open(&c->app, WSP_REDIS_SUB);
}

/* Take every pending byte of link into out (NULL: drop them). */
static void drain(struct wsp_redis *r, int link, struct tbuf *out) {
  struct iovec iov[8];
  int n;
  while ((n = wsp_redis_pending(r, link, iov, 8)) > 0) {
    size_t len = 0;
    for (int i = 0; i < n; i++) {
      if (out)
        tbuf_append(out, iov[i].iov_base, iov[i].iov_len);
      len += iov[i].iov_len;
    }
    assert_int_equal(wsp_redis_sent(r, link, len), 0);
  }
  assert_int_equal(n, 0);
  assert_false(wsp_redis_want_write(r, link));
}

static void assert_bytes(const struct tbuf *b, const char *want, size_t len) {
  assert_int_equal(b->len, len);
  assert_memory_equal(b->data, want, len);
}
#define ASSERT_BYTES(b, lit) assert_bytes((b), (lit), LIT_LEN(lit))

static int feed(struct wsp_redis *r, int link, const char *s) {
  return wsp_redis_recv(r, link, s, strlen(s));
}

static struct wsp_redis_stats stats_of(const struct wsp_redis *r) {
  struct wsp_redis_stats s;
  wsp_redis_get_stats(r, &s);
  return s;
}

/* ---- Configuration ---------------------------------------------------- */

static int fixed_random(void *buf, size_t len, void *ud) {
  (void)ud;
  for (size_t i = 0; i < len; i++)
    ((uint8_t *)buf)[i] = (uint8_t)(i + 1);
  return 0;
}

static int failing_random(void *buf, size_t len, void *ud) {
  (void)buf;
  (void)len;
  (void)ud;
  return -1;
}

static void test_redis_new_config(void **state) {
  struct wsp_redis *r = NULL, *r2 = NULL;
  struct wsp_redis_config cfg;
  struct wsp_mem mem = {0};
  struct wsp_redis_stats s;
  char node[NODE_MAX_TEST + 2];
  (void)state;
  assert_int_equal(wsp_redis_new(NULL, NULL, NULL, NULL, 0, NULL),
                   WSP_ERR_INVAL);

  /* Defaults, and a random node of 16 hex digits. */
  assert_int_equal(wsp_redis_new(&r, NULL, NULL, NULL, 7, NULL), 0);
  assert_int_equal(wsp_redis_new(&r2, NULL, NULL, NULL, 7, NULL), 0);
  assert_string_equal(r->prefix, "wsp");
  assert_int_equal(r->prefix_len, 3);
  assert_int_equal(r->probe_interval, 2000);
  assert_int_equal(r->timeout, 5000);
  assert_int_equal(r->max_buffered, (size_t)16 << 20);
  assert_int_equal(wsp__redis_now(r), 7);
  assert_int_equal(strlen(wsp_redis_get_node(r)), 16);
  assert_int_equal(strspn(wsp_redis_get_node(r), "0123456789abcdef"), 16);
  assert_string_not_equal(wsp_redis_get_node(r), wsp_redis_get_node(r2));
  assert_false(wsp_redis_is_up(r, WSP_REDIS_CMD));
  assert_int_equal(wsp_redis_next_deadline(r), WSP_NO_DEADLINE);
  wsp_redis_free(r);
  wsp_redis_free(r2);

  /* The random hook names the node. */
  mem.random = fixed_random;
  assert_int_equal(wsp_redis_new(&r, NULL, NULL, &mem, 0, NULL), 0);
  assert_string_equal(wsp_redis_get_node(r), "0102030405060708");
  wsp_redis_free(r);
  mem.random = failing_random;
  r = (struct wsp_redis *)&mem;
  assert_int_equal(wsp_redis_new(&r, NULL, NULL, &mem, 0, NULL),
                   WSP_ERR_RANDOM);
  assert_null(r);

  /* Given values. */
  memset(&cfg, 0, sizeof cfg);
  cfg.prefix = "app{1}";
  cfg.node = "node-1";
  cfg.probe_interval = 10;
  cfg.timeout = 20;
  cfg.max_buffered = 30;
  assert_int_equal(wsp_redis_new(&r, &cfg, NULL, NULL, 0, NULL), 0);
  assert_string_equal(r->prefix, "app{1}");
  assert_int_equal(r->prefix_len, 6);
  assert_string_equal(wsp_redis_get_node(r), "node-1");
  assert_int_equal(r->probe_interval, 10);
  assert_int_equal(r->timeout, 20);
  assert_int_equal(r->max_buffered, 30);
  wsp_redis_free(r);

  /* A node of 64 bytes is the longest. */
  memset(node, 'n', sizeof node);
  node[NODE_MAX_TEST] = '\0';
  cfg.node = node;
  assert_int_equal(wsp_redis_new(&r, &cfg, NULL, NULL, 0, NULL), 0);
  assert_string_equal(wsp_redis_get_node(r), node);
  wsp_redis_free(r);

  /* Refused. */
  {
    static const char *const bad_nodes[] = {"",     "a b",         "a\nb",
                                            "\x01", "caf\xc3\xa9", "\x7f"};
    static const char *const bad_prefixes[] = {"a b", "a\nb", "a\rb"};
    node[NODE_MAX_TEST] = 'n';
    node[NODE_MAX_TEST + 1] = '\0';
    cfg.node = node;
    r = (struct wsp_redis *)&mem;
    assert_int_equal(wsp_redis_new(&r, &cfg, NULL, NULL, 0, NULL),
                     WSP_ERR_INVAL);
    assert_null(r);
    for (size_t i = 0; i < T_ARRAY_LEN(bad_nodes); i++) {
      cfg.node = bad_nodes[i];
      assert_int_equal(wsp_redis_new(&r, &cfg, NULL, NULL, 0, NULL),
                       WSP_ERR_INVAL);
    }
    cfg.node = NULL;
    for (size_t i = 0; i < T_ARRAY_LEN(bad_prefixes); i++) {
      cfg.prefix = bad_prefixes[i];
      assert_int_equal(wsp_redis_new(&r, &cfg, NULL, NULL, 0, NULL),
                       WSP_ERR_INVAL);
    }
    cfg.prefix = NULL;
    cfg.reserved[3] = &cfg;
    assert_int_equal(wsp_redis_new(&r, &cfg, NULL, NULL, 0, NULL),
                     WSP_ERR_INVAL);
  }

  /* NULL and bad links. */
  wsp_redis_free(NULL);
  assert_int_equal(wsp_redis_link_up(NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_link_down(NULL, 0), WSP_ERR_INVAL);
  assert_false(wsp_redis_is_up(NULL, 0));
  assert_int_equal(wsp_redis_recv(NULL, 0, "x", 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_pending(NULL, 0, NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_sent(NULL, 0, 1), WSP_ERR_INVAL);
  assert_false(wsp_redis_want_write(NULL, 0));
  assert_int_equal(wsp_redis_tick(NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_next_deadline(NULL), WSP_NO_DEADLINE);
  assert_null(wsp_redis_get_node(NULL));
  memset(&s, 0xff, sizeof s);
  wsp_redis_get_stats(NULL, &s);
  assert_int_equal(s.commands, 0);
  assert_int_equal(s.reserved[5], 0);
  assert_int_equal(wsp_redis_new(&r, NULL, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_redis_link_up(r, -1), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_LINKS), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_recv(r, 0, NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_recv(r, 0, "x", 1), WSP_ERR_STATE);
  assert_int_equal(wsp_redis_pending(r, 0, NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_sent(r, 0, 1), WSP_ERR_STATE);
  assert_int_equal(wsp_redis_link_down(r, 0), 0); /* down already */
  assert_int_equal(wsp_redis_link_up(r, 0), 0);
  assert_int_equal(wsp_redis_link_up(r, 0), WSP_ERR_STATE);
  assert_int_equal(wsp__redis_command(r, 0, 0, NULL, NULL, NULL, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(cmd(r, 2, NULL, "PING", NULL), WSP_ERR_INVAL);
  wsp_redis_free(r);
}

/* ---- Commands on the wire --------------------------------------------- */

#define SET_K_V "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"

static void test_redis_command_bytes(void **state) {
  struct ctx c;
  struct wsp_redis *r;
  struct tbuf out;
  struct iovec iov[4];
  struct res q[3];
  static const char bin[] = "a\0b";
  const char *argv[] = {"APPEND", bin, ""};
  size_t lens[] = {6, 3, 0};
  (void)state;
  tbuf_init(&out);
  res_init(q, 3);
  ctx_new(&c, NULL, NULL, 1000);
  r = c.app.r;

  /* Queued while down: nothing to write, and no want_write yet. */
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[0], "SET", "k", "v", NULL), 0);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 0);
  assert_false(wsp_redis_want_write(r, WSP_REDIS_CMD));
  assert_int_equal(c.want_write[WSP_REDIS_CMD], 0);
  assert_int_equal(stats_of(r).commands, 1);
  assert_int_equal(stats_of(r).buffered, LIT_LEN(SET_K_V));
  assert_int_equal(wsp_redis_next_deadline(r), 1000 + 5000);

  /* Up: announced once, the exact bytes. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(c.want_write[WSP_REDIS_CMD], 1);
  assert_int_equal(c.on_link[WSP_REDIS_CMD][1], 1);
  assert_true(wsp_redis_want_write(r, WSP_REDIS_CMD));
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 1);
  assert_int_equal(iov[0].iov_len, LIT_LEN(SET_K_V));
  assert_memory_equal(iov[0].iov_base, SET_K_V, LIT_LEN(SET_K_V));

  /* Binary-safe arguments, and a second iovec. */
  assert_int_equal(
      wsp__redis_command(r, WSP_REDIS_CMD, 3, argv, lens, res_done, &q[1]), 0);
  assert_int_equal(c.want_write[WSP_REDIS_CMD], 1); /* queue not empty */
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 2);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 1), 1);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 0), 0);

  /* A short write, then more than is pending. */
  assert_int_equal(wsp_redis_sent(r, WSP_REDIS_CMD, 5), 0);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 2);
  assert_int_equal(iov[0].iov_len, LIT_LEN(SET_K_V) - 5);
  assert_memory_equal(iov[0].iov_base, SET_K_V + 5, iov[0].iov_len);
  assert_int_equal(wsp_redis_sent(r, WSP_REDIS_CMD, 100000), WSP_ERR_INVAL);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 2);
  assert_int_equal(iov[0].iov_len, LIT_LEN(SET_K_V) - 5);

  /* Down with the first command written in part: nothing fails, and
   * after the next link_up it goes out again whole. */
  assert_int_equal(wsp_redis_link_down(r, WSP_REDIS_CMD), 0);
  assert_int_equal(c.on_link[WSP_REDIS_CMD][0], 1);
  assert_int_equal(q[0].fired + q[1].fired, 0);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 0);
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(c.want_write[WSP_REDIS_CMD], 2);
  drain(r, WSP_REDIS_CMD, &out);
  ASSERT_BYTES(&out, SET_K_V "*3\r\n$6\r\nAPPEND\r\n$3\r\na\0b\r\n$0\r\n\r\n");
  assert_int_equal(stats_of(r).bytes_out,
                   5 + out.len); /* the 5 bytes count, though lost */

  /* Written in two steps. */
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[2], "PING", NULL), 0);
  assert_int_equal(c.want_write[WSP_REDIS_CMD], 3);
  assert_int_equal(wsp_redis_pending(r, WSP_REDIS_CMD, iov, 4), 1);
  assert_int_equal(wsp_redis_sent(r, WSP_REDIS_CMD, 0), 0);
  assert_int_equal(wsp_redis_sent(r, WSP_REDIS_CMD, 4), 0);
  assert_true(wsp_redis_want_write(r, WSP_REDIS_CMD));
  assert_int_equal(wsp_redis_sent(r, WSP_REDIS_CMD, 10), 0);
  assert_false(wsp_redis_want_write(r, WSP_REDIS_CMD));

  /* Replies, in order. */
  assert_int_equal(feed(r, WSP_REDIS_CMD, "+OK\r\n:3\r\n+PO"), 0);
  assert_int_equal(q[0].fired + q[1].fired, 2);
  assert_string_equal(q[0].text, "+OK");
  assert_string_equal(q[1].text, "3");
  assert_int_equal(q[2].fired, 0);
  assert_int_equal(feed(r, WSP_REDIS_CMD, "NG\r\n"), 0);
  assert_string_equal(q[2].text, "+PONG");
  assert_true(q[0].seq < q[1].seq && q[1].seq < q[2].seq);
  assert_int_equal(stats_of(r).replies, 3);
  assert_int_equal(stats_of(r).buffered, 0);
  assert_int_equal(stats_of(r).bytes_in, 16);

  wsp_redis_free(r);
  res_free(q, 3);
  tbuf_free(&out);
}

/* ---- Round trips with a real Redis ------------------------------------ */

static void test_redis_set_get(void **state) {
  struct ctx c;
  struct res q[4];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, 4);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[0], "SET", "t:setget", "value", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[1], "GET", "t:setget", NULL),
                   0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[2], "GET", "t:setget:missing", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[3], "LRANGE",
                       "t:setget:missing", "0", "-1", NULL),
                   0);
  tredis_pump_count(&c.app, &q[3].fired, 1, WAIT_MS);
  assert_string_equal(q[0].text, "+OK");
  assert_int_equal(q[0].type, WSP__RR_STATUS);
  assert_string_equal(q[1].text, "\"value\"");
  assert_string_equal(q[2].text, "nil");
  assert_string_equal(q[3].text, "[]");
  assert_int_equal(stats_of(c.app.r).commands, 4);
  assert_int_equal(stats_of(c.app.r).replies, 4);
  tredis_app_free(&c.app);
  res_free(q, 4);
}

static void test_redis_binary(void **state) {
  struct ctx c;
  struct res q[4];
  static const char key[] = "t:bin\0key", val[] = "\0\r\n$3\r\n\0";
  const size_t big_len = (size_t)1 << 20;
  uint8_t *big = t_payload(big_len, 7);
  const char *argv[3];
  size_t lens[3];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, 4);
  c.app.io_max = 4096; /* replies and commands cut in many pieces */
  argv[0] = "SET", lens[0] = 3;
  argv[1] = key, lens[1] = LIT_LEN(key);
  argv[2] = val, lens[2] = LIT_LEN(val);
  assert_int_equal(wsp__redis_command(c.app.r, WSP_REDIS_CMD, 3, argv, lens,
                                      res_done, &q[0]),
                   0);
  argv[0] = "GET";
  assert_int_equal(wsp__redis_command(c.app.r, WSP_REDIS_CMD, 2, argv, lens,
                                      res_done, &q[1]),
                   0);
  argv[0] = "SET";
  argv[1] = "t:big", lens[1] = 5;
  argv[2] = (const char *)big, lens[2] = big_len;
  assert_int_equal(wsp__redis_command(c.app.r, WSP_REDIS_CMD, 3, argv, lens,
                                      res_done, &q[2]),
                   0);
  argv[0] = "GET";
  assert_int_equal(wsp__redis_command(c.app.r, WSP_REDIS_CMD, 2, argv, lens,
                                      res_done, &q[3]),
                   0);
  tredis_pump_count(&c.app, &q[3].fired, 1, WAIT_MS * 4);
  assert_string_equal(q[0].text, "+OK");
  assert_bytes(&q[1].raw, val, LIT_LEN(val));
  assert_string_equal(q[2].text, "+OK");
  assert_int_equal(q[3].type, WSP__RR_STRING);
  assert_bytes(&q[3].raw, (const char *)big, big_len);
  tredis_app_free(&c.app);
  res_free(q, 4);
  free(big);
}

#define PIPELINE 1000

static void test_redis_pipeline(void **state) {
  struct ctx c;
  static struct res q[PIPELINE];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, PIPELINE);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, NULL, "DEL", "t:pipe", NULL), 0);
  for (int i = 0; i < PIPELINE; i++)
    assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[i], "INCR", "t:pipe", NULL),
                     0);
  tredis_pump_count(&c.app, &q[PIPELINE - 1].fired, 1, WAIT_MS * 4);
  for (int i = 0; i < PIPELINE; i++) {
    char want[16];
    snprintf(want, sizeof want, "%d", i + 1);
    assert_string_equal(q[i].text, want);
    assert_int_equal(q[i].type, WSP__RR_INTEGER);
    if (i)
      assert_true(q[i - 1].seq < q[i].seq);
  }
  assert_int_equal(stats_of(c.app.r).replies, PIPELINE + 1);
  tredis_app_free(&c.app);
  res_free(q, PIPELINE);
}

static void test_redis_error_reply(void **state) {
  struct ctx c;
  struct res q[3];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, 3);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[0], "NOSUCHCOMMAND", "x", NULL), 0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[1], "SET", "t:err", "1", NULL), 0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[2], "LPUSH", "t:err", "1", NULL), 0);
  tredis_pump_count(&c.app, &q[2].fired, 1, WAIT_MS);
  assert_int_equal(q[0].err, 0);
  assert_int_equal(q[0].type, WSP__RR_ERROR);
  assert_memory_equal(q[0].text, "-ERR unknown command", 20);
  assert_string_equal(q[1].text, "+OK");
  assert_int_equal(q[2].type, WSP__RR_ERROR);
  assert_string_equal(q[2].text, "-WRONGTYPE Operation against a key holding "
                                 "the wrong kind of value");
  assert_int_equal(stats_of(c.app.r).errors, 2);
  assert_int_equal(stats_of(c.app.r).replies, 3);
  assert_int_equal(stats_of(c.app.r).resets, 0);
  tredis_app_free(&c.app);
  res_free(q, 3);
}

static void test_redis_nested(void **state) {
  struct ctx c;
  struct res q[3];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, 3);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[0], "EVAL",
                       "return {1,{2,'x'},{},{{{-3}}}}", "0", NULL),
                   0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[1], "XADD", "t:stream", "1-1",
                       "f", "v", NULL),
                   0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[2], "XRANGE", "t:stream", "-", "+", NULL),
      0);
  tredis_pump_count(&c.app, &q[2].fired, 1, WAIT_MS);
  assert_string_equal(q[0].text, "[1,[2,\"x\"],[],[[[-3]]]]");
  assert_string_equal(q[2].text, "[[\"1-1\",[\"f\",\"v\"]]]");
  tredis_app_free(&c.app);
  res_free(q, 3);
}

static void test_redis_pubsub(void **state) {
  struct ctx c;
  struct res q[6];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, 6);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_SUB, &q[0], "SUBSCRIBE", "t:ch", NULL), 0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_SUB, &q[1], "PSUBSCRIBE", "t:p*", NULL), 0);
  tredis_pump_count(&c.app, &q[1].fired, 1, WAIT_MS);
  assert_string_equal(q[0].text, "[\"subscribe\",\"t:ch\",1]");
  assert_string_equal(q[1].text, "[\"psubscribe\",\"t:p*\",2]");

  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[2], "PUBLISH", "t:ch", "payload", NULL),
      0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[3], "PUBLISH", "t:px", "hi", NULL), 0);
  tredis_pump_count(&c.app, &c.nmsgs, 2, WAIT_MS);
  tredis_pump_count(&c.app, &q[3].fired, 1, WAIT_MS);
  assert_string_equal(q[2].text, "1");
  assert_string_equal(q[3].text, "1");
  assert_string_equal(c.msgs[0], "[\"message\",\"t:ch\",\"payload\"]");
  assert_string_equal(c.msgs[1], "[\"pmessage\",\"t:p*\",\"t:px\",\"hi\"]");
  assert_int_equal(stats_of(c.app.r).messages, 2);

  /* PING in subscribed mode answers ["pong",""]: a reply. */
  assert_int_equal(cmd(c.app.r, WSP_REDIS_SUB, &q[4], "PING", NULL), 0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_SUB, &q[5], "UNSUBSCRIBE", "t:ch", NULL), 0);
  tredis_pump_count(&c.app, &q[5].fired, 1, WAIT_MS);
  assert_string_equal(q[4].text, "[\"pong\",\"\"]");
  assert_string_equal(q[5].text, "[\"unsubscribe\",\"t:ch\",1]");
  assert_int_equal(stats_of(c.app.r).messages, 2);
  assert_int_equal(stats_of(c.app.r).resets, 0);
  tredis_app_free(&c.app);
  res_free(q, 6);
}

static void test_redis_queued_while_down(void **state) {
  struct ctx c;
  struct res q[3];
  (void)state;
  need_server();
  ctx_new(&c, NULL, NULL, tredis_now());
  res_init(q, 3);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[0], "SET", "t:down", "a", NULL), 0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[1], "APPEND", "t:down", "b", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[2], "GET", "t:down", NULL),
                   0);
  tredis_pump_once(&c.app, 20);
  assert_int_equal(q[0].fired, 0);
  tredis_link_open(&c.app, WSP_REDIS_CMD);
  tredis_pump_count(&c.app, &q[2].fired, 1, WAIT_MS);
  assert_string_equal(q[0].text, "+OK");
  assert_string_equal(q[1].text, "2");
  assert_string_equal(q[2].text, "\"ab\"");
  tredis_app_free(&c.app);
  res_free(q, 3);
}

static int all_written(void *arg) {
  struct ctx *c = arg;
  return !wsp_redis_want_write(c->app.r, WSP_REDIS_CMD);
}

static void test_redis_link_down_fails_sent(void **state) {
  struct ctx c;
  struct res q[4];
  (void)state;
  ctx_server(&c, NULL, NULL);
  res_init(q, 4);
  /* BLPOP on an empty list holds the connection: sent, not answered. */
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[0], "BLPOP", "t:empty", "10", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[1], "PING", NULL), 0);
  assert_true(tredis_pump_until(&c.app, all_written, &c, WAIT_MS));
  tredis_pump_once(&c.app, 20);
  assert_int_equal(q[0].fired, 0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[2], "SET", "t:after", "1", NULL), 0);
  tredis_link_close(&c.app, WSP_REDIS_CMD);
  assert_int_equal(q[0].err, WSP_ERR_CLOSED);
  assert_int_equal(q[1].err, WSP_ERR_CLOSED);
  assert_true(q[0].seq < q[1].seq);
  assert_true(q[1].seq < c.link_seq); /* the engine hears it after */
  assert_int_equal(c.on_link[WSP_REDIS_CMD][0], 1);
  assert_int_equal(c.resets[WSP_REDIS_CMD], 0);
  assert_int_equal(q[2].fired, 0);
  assert_int_equal(stats_of(c.app.r).failed, 2);
  /* Queued while down: sent on the next connection. */
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[3], "GET", "t:after", NULL),
                   0);
  tredis_link_open(&c.app, WSP_REDIS_CMD);
  tredis_pump_count(&c.app, &q[3].fired, 1, WAIT_MS);
  assert_string_equal(q[2].text, "+OK");
  assert_string_equal(q[3].text, "\"1\"");
  assert_int_equal(stats_of(c.app.r).links_up, 3);
  tredis_app_free(&c.app);
  res_free(q, 4);
}

static void test_redis_timeout_reset(void **state) {
  struct ctx c;
  struct res q[4];
  struct wsp_redis_config cfg;
  struct wsp_redis_stats s;
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  cfg.timeout = 100;
  ctx_server(&c, &cfg, NULL);
  res_init(q, 4);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[0], "DEBUG", "SLEEP", "0.3", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[1], "PING", NULL), 0);
  tredis_pump_count(&c.app, &c.resets[WSP_REDIS_CMD], 1, WAIT_MS);
  assert_int_equal(q[0].err, WSP_ERR_TIMEOUT);
  assert_int_equal(q[1].err, WSP_ERR_CLOSED);
  assert_true(q[1].seq < c.reset_seq);
  assert_false(wsp_redis_is_up(c.app.r, WSP_REDIS_CMD));
  assert_true(wsp_redis_is_up(c.app.r, WSP_REDIS_SUB));
  assert_int_equal(c.app.fd[WSP_REDIS_CMD], -1);
  s = stats_of(c.app.r);
  assert_int_equal(s.resets, 1);
  assert_int_equal(s.failed, 2);
  assert_int_equal(s.replies, 0);
  /* Once Redis woke up, a new connection works. */
  usleep(300 * 1000);
  /* Commands take their time from the last tick. */
  assert_int_equal(wsp_redis_tick(c.app.r, tredis_app_clock(&c.app)), 0);
  tredis_link_open(&c.app, WSP_REDIS_CMD);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[2], "ECHO", "back", NULL), 0);
  tredis_pump_count(&c.app, &q[2].fired, 1, WAIT_MS);
  assert_string_equal(q[2].text, "\"back\"");
  tredis_app_free(&c.app);
  res_free(q, 4);
}

/* A command never sent times out on its own; the clock never goes back. */
static void test_redis_timeout_unsent(void **state) {
  struct ctx c;
  struct res q[3];
  struct wsp_redis_config cfg;
  struct wsp_redis *r;
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  cfg.timeout = 100;
  cfg.probe_interval = 1000;
  ctx_new(&c, &cfg, NULL, 1000);
  r = c.app.r;
  res_init(q, 3);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[0], "PING", NULL), 0);
  assert_int_equal(wsp_redis_tick(r, 1050), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[1], "PING", NULL), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1100);
  assert_int_equal(wsp_redis_tick(r, 900), 0); /* back: ignored */
  assert_int_equal(wsp__redis_now(r), 1050);
  assert_int_equal(wsp_redis_tick(r, 1099), 0);
  assert_int_equal(q[0].fired, 0);
  assert_int_equal(wsp_redis_tick(r, 1100), 0);
  assert_int_equal(q[0].err, WSP_ERR_TIMEOUT);
  assert_int_equal(q[1].fired, 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1150);
  /* Up but never written: still no reset. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(wsp_redis_tick(r, 1150), 0);
  assert_int_equal(q[1].err, WSP_ERR_TIMEOUT);
  assert_true(wsp_redis_is_up(r, WSP_REDIS_CMD));
  assert_int_equal(c.resets[WSP_REDIS_CMD], 0);
  assert_int_equal(stats_of(r).failed, 2);
  assert_int_equal(stats_of(r).buffered, 0);
  /* Written in part: a reset. */
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[2], "PING", NULL), 0);
  assert_int_equal(wsp_redis_sent(r, WSP_REDIS_CMD, 1), 0);
  assert_int_equal(wsp_redis_tick(r, 1250), 0);
  assert_int_equal(q[2].err, WSP_ERR_TIMEOUT);
  assert_int_equal(c.resets[WSP_REDIS_CMD], 1);
  assert_int_equal(stats_of(r).buffered, 0);
  wsp_redis_free(r);
  res_free(q, 3);
}

/* ---- The probe -------------------------------------------------------- */

#define PING_BYTES "*1\r\n$4\r\nPING\r\n"

static void test_redis_probe_scripted(void **state) {
  struct ctx c;
  struct wsp_redis_config cfg;
  struct wsp_redis *r;
  struct tbuf out;
  struct res q;
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  cfg.timeout = 100;
  cfg.probe_interval = 50;
  tbuf_init(&out);
  res_init(&q, 1);
  ctx_new(&c, &cfg, NULL, 1000);
  r = c.app.r;
  assert_int_equal(wsp_redis_next_deadline(r), WSP_NO_DEADLINE);
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_SUB), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1050);
  assert_int_equal(wsp_redis_tick(r, 1049), 0);
  assert_false(wsp_redis_want_write(r, WSP_REDIS_SUB));
  assert_int_equal(wsp_redis_tick(r, 1050), 0);
  assert_int_equal(c.want_write[WSP_REDIS_SUB], 1);
  assert_int_equal(wsp_redis_next_deadline(r), 1150);
  drain(r, WSP_REDIS_SUB, &out);
  ASSERT_BYTES(&out, PING_BYTES);
  /* In subscribed mode the answer is ["pong",""]: consumed here. */
  assert_int_equal(feed(r, WSP_REDIS_SUB, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"), 0);
  assert_int_equal(stats_of(r).commands, 0);
  assert_int_equal(stats_of(r).replies, 0);
  assert_int_equal(stats_of(r).buffered, 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1100);
  /* Traffic puts the probe off. */
  assert_int_equal(wsp_redis_tick(r, 1080), 0);
  assert_int_equal(cmd(r, WSP_REDIS_SUB, &q, "PING", NULL), 0);
  drain(r, WSP_REDIS_SUB, NULL);
  assert_int_equal(feed(r, WSP_REDIS_SUB, "+PONG\r\n"), 0);
  assert_string_equal(q.text, "+PONG");
  assert_int_equal(wsp_redis_next_deadline(r), 1130);
  /* A probe without an answer resets the link. */
  assert_int_equal(wsp_redis_tick(r, 1130), 0);
  tbuf_reset(&out);
  drain(r, WSP_REDIS_SUB, &out);
  ASSERT_BYTES(&out, PING_BYTES);
  assert_int_equal(wsp_redis_tick(r, 1229), 0);
  assert_true(wsp_redis_is_up(r, WSP_REDIS_SUB));
  assert_int_equal(wsp_redis_tick(r, 1230), 0);
  assert_false(wsp_redis_is_up(r, WSP_REDIS_SUB));
  assert_int_equal(c.resets[WSP_REDIS_SUB], 1);
  assert_int_equal(stats_of(r).failed, 0);
  assert_int_equal(stats_of(r).resets, 1);
  assert_int_equal(wsp_redis_next_deadline(r), WSP_NO_DEADLINE);
  wsp_redis_free(r);
  tbuf_free(&out);
  res_free(&q, 1);
}

static void test_redis_probe_server(void **state) {
  struct ctx c;
  struct wsp_redis_config cfg;
  struct wsp_redis_stats s;
  uint64_t until;
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  cfg.probe_interval = 20;
  cfg.timeout = 2000;
  ctx_server(&c, &cfg, NULL);
  until = tredis_now() + 200;
  while (tredis_now() < until)
    tredis_pump_once(&c.app, 5);
  s = stats_of(c.app.r);
  /* Several probes on each link, each answered. */
  assert_true(s.bytes_out >= 4 * LIT_LEN(PING_BYTES));
  assert_int_equal(s.bytes_out % LIT_LEN(PING_BYTES), 0);
  assert_int_equal(s.commands, 0);
  assert_int_equal(s.replies, 0);
  assert_int_equal(s.resets, 0);
  assert_true(wsp_redis_is_up(c.app.r, WSP_REDIS_CMD));
  assert_true(wsp_redis_is_up(c.app.r, WSP_REDIS_SUB));
  tredis_app_free(&c.app);
}

/* ---- Limits and bad input --------------------------------------------- */

static void test_redis_max_buffered(void **state) {
  struct ctx c;
  struct wsp_redis_config cfg;
  struct wsp_redis *r;
  struct res q[4];
  char big[64];
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  cfg.max_buffered = 2 * LIT_LEN(SET_K_V) + 10;
  ctx_new(&c, &cfg, NULL, 0);
  r = c.app.r;
  res_init(q, 4);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[0], "SET", "k", "v", NULL), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[1], "SET", "k", "v", NULL), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[2], "SET", "k", "v", NULL),
                   WSP_ERR_LIMIT);
  assert_int_equal(stats_of(r).failed, 1);
  assert_int_equal(stats_of(r).commands, 2);
  assert_int_equal(stats_of(r).buffered, 2 * LIT_LEN(SET_K_V));
  /* The other link has its own budget. */
  assert_int_equal(cmd(r, WSP_REDIS_SUB, &q[3], "SET", "k", "v", NULL), 0);
  assert_int_equal(stats_of(r).buffered, 3 * LIT_LEN(SET_K_V));
  /* Sent and answered: room again. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  drain(r, WSP_REDIS_CMD, NULL);
  assert_int_equal(stats_of(r).buffered, 3 * LIT_LEN(SET_K_V)); /* held */
  assert_int_equal(feed(r, WSP_REDIS_CMD, "+OK\r\n"), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[2], "SET", "k", "v", NULL), 0);
  /* One command alone too big. */
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(cmd(r, WSP_REDIS_SUB, NULL, "SET", big, NULL),
                   WSP_ERR_LIMIT);
  assert_int_equal(stats_of(r).failed, 2);
  assert_int_equal(q[2].fired + q[3].fired, 0);
  wsp_redis_free(r);
  assert_int_equal(q[1].err, WSP_ERR_CLOSED);
  assert_int_equal(q[2].err, WSP_ERR_CLOSED);
  assert_int_equal(q[3].err, WSP_ERR_CLOSED);
  res_free(q, 4);
}

static void test_redis_garbage(void **state) {
  struct ctx c;
  struct wsp_redis *r;
  struct res q[3];
  struct tbuf out;
  (void)state;
  ctx_new(&c, NULL, NULL, 0);
  r = c.app.r;
  res_init(q, 3);
  tbuf_init(&out);
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[0], "GET", "a", NULL), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[1], "GET", "b", NULL), 0);
  drain(r, WSP_REDIS_CMD, NULL);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[2], "GET", "c", NULL), 0);
  /* A reply, then bytes RESP does not allow, in one read; a reply cut
   * short by them is freed with the reader. */
  assert_int_equal(feed(r, WSP_REDIS_CMD, "$1\r\nx\r\n*2\r\n:1\r\n?bad\r\n"),
                   WSP_ERR_PROTO);
  assert_string_equal(q[0].text, "\"x\"");
  assert_int_equal(q[1].err, WSP_ERR_CLOSED);
  assert_int_equal(q[2].fired, 0); /* never sent: waits */
  assert_false(wsp_redis_is_up(r, WSP_REDIS_CMD));
  assert_int_equal(c.resets[WSP_REDIS_CMD], 1);
  assert_int_equal(c.on_link[WSP_REDIS_CMD][0], 1);
  assert_int_equal(stats_of(r).resets, 1);
  assert_int_equal(wsp_redis_recv(r, WSP_REDIS_CMD, "+OK\r\n", 5),
                   WSP_ERR_STATE);
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  drain(r, WSP_REDIS_CMD, &out);
  ASSERT_BYTES(&out, "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n");
  /* Nesting deeper than hiredis reads. */
  assert_int_equal(feed(r, WSP_REDIS_CMD,
                        "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
                        "*1\r\n*1\r\n*1\r\n:1\r\n"),
                   WSP_ERR_PROTO);
  assert_int_equal(q[2].err, WSP_ERR_CLOSED);
  assert_int_equal(c.resets[WSP_REDIS_CMD], 2);
  wsp_redis_free(r);
  res_free(q, 3);
  tbuf_free(&out);
}

static void test_redis_unexpected_reply(void **state) {
  struct ctx c;
  struct wsp_redis *r;
  struct res q[2];
  (void)state;
  ctx_new(&c, NULL, NULL, 0);
  r = c.app.r;
  res_init(q, 2);
  /* Nothing was asked. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(feed(r, WSP_REDIS_CMD, "+OK\r\n"), WSP_ERR_PROTO);
  assert_int_equal(c.resets[WSP_REDIS_CMD], 1);
  /* Asked, not written yet. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[0], "PING", NULL), 0);
  assert_int_equal(feed(r, WSP_REDIS_CMD, "+PONG\r\n"), WSP_ERR_PROTO);
  assert_int_equal(c.resets[WSP_REDIS_CMD], 2);
  assert_int_equal(q[0].fired, 0);
  /* A message array on the command link is a reply like another. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  drain(r, WSP_REDIS_CMD, NULL);
  assert_int_equal(
      feed(r, WSP_REDIS_CMD, "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n"),
      0);
  assert_string_equal(q[0].text, "[\"message\",\"a\",\"b\"]");
  assert_int_equal(c.nmsgs, 0);
  /* On the PUB/SUB link: pushes, well formed or not. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_SUB), 0);
  assert_int_equal(feed(r, WSP_REDIS_SUB,
                        "*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\nb\r\n"
                        "*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\na\r\n$0\r\n"
                        "\r\n"),
                   0);
  assert_int_equal(c.nmsgs, 2);
  assert_string_equal(c.msgs[0], "[\"smessage\",\"a\",\"b\"]");
  assert_string_equal(c.msgs[1], "[\"pmessage\",\"*\",\"a\",\"\"]");
  assert_int_equal(cmd(r, WSP_REDIS_SUB, &q[1], "SUBSCRIBE", "a", NULL), 0);
  drain(r, WSP_REDIS_SUB, NULL);
  assert_int_equal(feed(r, WSP_REDIS_SUB, "*2\r\n$7\r\nmessage\r\n$1\r\na\r\n"),
                   WSP_ERR_PROTO);
  assert_int_equal(q[1].err, WSP_ERR_CLOSED);
  assert_int_equal(c.resets[WSP_REDIS_SUB], 1);
  assert_int_equal(stats_of(r).messages, 2);
  assert_int_equal(stats_of(r).resets, 3);
  wsp_redis_free(r);
  res_free(q, 2);
}

/* ---- Re-entrancy ------------------------------------------------------ */

static struct res *g_next;

static void hook_queue_and_recurse(struct wsp_redis *r, struct res *q) {
  q->hook_rc[0] = cmd(r, WSP_REDIS_CMD, g_next, "PING", NULL);
  q->hook_rc[1] = wsp_redis_recv(r, WSP_REDIS_CMD, "+OK\r\n", 5);
  q->hook_rc[2] = wsp_redis_tick(r, 0);
  assert_int_equal(g_next->fired, 0);
}

static void hook_down(struct wsp_redis *r, struct res *q) {
  q->hook_rc[0] = wsp_redis_link_down(r, WSP_REDIS_CMD);
}

static void hook_up(struct wsp_redis *r, struct res *q) {
  q->hook_rc[0] = wsp_redis_link_up(r, WSP_REDIS_CMD);
}

static void hook_queue(struct wsp_redis *r, struct res *q) {
  q->hook_rc[0] = cmd(r, WSP_REDIS_CMD, NULL, "PING", NULL);
  q->hook_rc[1] = wsp_redis_link_down(r, WSP_REDIS_CMD);
}

static void reset_up(struct ctx *c, int link) {
  c->hook_rc = wsp_redis_link_up(c->app.r, link);
}

static void test_redis_reentrancy(void **state) {
  struct ctx c;
  struct wsp_redis *r;
  struct res q[8];
  (void)state;
  ctx_new(&c, NULL, NULL, 0);
  r = c.app.r;
  res_init(q, 8);
  g_next = &q[2];

  /* A done callback queues a command; recv and tick do not nest. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  q[0].hook = hook_queue_and_recurse;
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[0], "PING", NULL), 0);
  q[1].hook = hook_down;
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[1], "PING", NULL), 0);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[3], "PING", NULL), 0);
  drain(r, WSP_REDIS_CMD, NULL);
  /* Three replies in one read; q[1]'s callback takes the link down, so
   * the third is dropped with the connection and q[3] fails. */
  assert_int_equal(feed(r, WSP_REDIS_CMD, "+A\r\n+B\r\n+C\r\n"), 0);
  assert_int_equal(q[0].hook_rc[0], 0);
  assert_int_equal(q[0].hook_rc[1], WSP_ERR_RECURSIVE);
  assert_int_equal(q[0].hook_rc[2], WSP_ERR_RECURSIVE);
  assert_string_equal(q[0].text, "+A");
  assert_string_equal(q[1].text, "+B");
  assert_int_equal(q[1].hook_rc[0], 0);
  assert_int_equal(q[3].err, WSP_ERR_CLOSED);
  assert_int_equal(q[2].fired, 0); /* queued by q[0], never sent */
  assert_false(wsp_redis_is_up(r, WSP_REDIS_CMD));
  assert_int_equal(c.resets[WSP_REDIS_CMD], 0);

  /* link_up from a callback of the link going down: refused; from
   * on_link_reset: fine. */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  drain(r, WSP_REDIS_CMD, NULL); /* q[2] */
  q[4].hook = hook_up;
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[4], "PING", NULL), 0);
  drain(r, WSP_REDIS_CMD, NULL);
  c.reset_hook = reset_up;
  assert_int_equal(feed(r, WSP_REDIS_CMD, "-ERR\r\n?\r\n"), WSP_ERR_PROTO);
  assert_string_equal(q[2].text, "-ERR");
  assert_int_equal(q[4].err, WSP_ERR_CLOSED);
  assert_int_equal(q[4].hook_rc[0], WSP_ERR_RECURSIVE);
  assert_int_equal(c.hook_rc, 0);
  assert_true(wsp_redis_is_up(r, WSP_REDIS_CMD));
  assert_int_equal(c.on_link[WSP_REDIS_CMD][0], 2);
  assert_int_equal(c.on_link[WSP_REDIS_CMD][1], 3);
  c.reset_hook = NULL;

  /* wsp_redis_free fails what waits, sent or not; callbacks can queue
   * nothing more. */
  q[5].hook = hook_queue;
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[5], "PING", NULL), 0);
  drain(r, WSP_REDIS_CMD, NULL);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q[6], "PING", NULL), 0);
  assert_int_equal(cmd(r, WSP_REDIS_SUB, &q[7], "PING", NULL), 0);
  wsp_redis_free(r);
  assert_int_equal(q[5].err, WSP_ERR_CLOSED);
  assert_int_equal(q[5].hook_rc[0], WSP_ERR_STATE);
  assert_int_equal(q[5].hook_rc[1], WSP_ERR_STATE);
  assert_int_equal(q[6].err, WSP_ERR_CLOSED);
  assert_int_equal(q[7].err, WSP_ERR_CLOSED);
  assert_true(q[5].seq < q[6].seq && q[6].seq < q[7].seq);
  res_free(q, 8);
}

/* ---- Time and the engine's hooks -------------------------------------- */

static uint64_t eng_deadline(const struct wsp_redis *r) {
  (void)r;
  return 1234;
}

static void eng_tick(struct wsp_redis *r, uint64_t now) {
  struct ctx *c = r->user_data;
  c->eng_now = now;
  c->eng_ticks++;
  assert_int_equal(wsp_redis_tick(r, now), WSP_ERR_RECURSIVE);
}

static void test_redis_deadlines(void **state) {
  struct ctx c;
  struct wsp_redis_config cfg;
  struct wsp_redis *r;
  struct res q;
  (void)state;
  memset(&cfg, 0, sizeof cfg);
  cfg.timeout = 100;
  cfg.probe_interval = 50;
  ctx_new(&c, &cfg, NULL, 1000);
  r = c.app.r;
  res_init(&q, 1);
  assert_int_equal(wsp_redis_next_deadline(r), WSP_NO_DEADLINE);
  assert_int_equal(cmd(r, WSP_REDIS_CMD, &q, "PING", NULL), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1100);
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_CMD), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1100); /* not the probe */
  assert_int_equal(wsp_redis_link_up(r, WSP_REDIS_SUB), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1050); /* SUB's probe */
  r->eng_deadline = eng_deadline;
  assert_int_equal(wsp_redis_next_deadline(r), 1050);
  assert_int_equal(wsp_redis_link_down(r, WSP_REDIS_SUB), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1100);
  assert_int_equal(wsp_redis_tick(r, 1010), 0);
  assert_int_equal(wsp__redis_now(r), 1010);
  r->eng_tick = eng_tick;
  assert_int_equal(wsp_redis_tick(r, 1020), 0);
  assert_int_equal(c.eng_ticks, 1);
  assert_int_equal(c.eng_now, 1020);
  drain(r, WSP_REDIS_CMD, NULL);
  assert_int_equal(feed(r, WSP_REDIS_CMD, "+PONG\r\n"), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1070); /* the probe */
  assert_int_equal(wsp_redis_link_down(r, WSP_REDIS_CMD), 0);
  assert_int_equal(wsp_redis_next_deadline(r), 1234);
  wsp_redis_free(r);
  res_free(&q, 1);
}

/* ---- Allocator hooks -------------------------------------------------- */

static void test_redis_alloc_counting(void **state) {
  struct ctx c;
  struct tfail f;
  struct res q[4];
  struct wsp_redis_config cfg;
  (void)state;
  need_server();
  memset(&cfg, 0, sizeof cfg);
  cfg.probe_interval = 600000; /* no probe in flight at the end */
  tfail_init(&f, 0, 0);
  ctx_server(&c, &cfg, &f.mem);
  res_init(q, 4);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_CMD, &q[0], "SET", "t:alloc", "v", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_CMD, &q[1], "EVAL",
                       "return {1,{2,'x'}}", "0", NULL),
                   0);
  assert_int_equal(
      cmd(c.app.r, WSP_REDIS_SUB, &q[2], "SUBSCRIBE", "t:alloc", NULL), 0);
  assert_int_equal(cmd(c.app.r, WSP_REDIS_SUB, &q[3], "PING", NULL), 0);
  tredis_pump_count(&c.app, &q[3].fired, 1, WAIT_MS);
  tredis_pump_count(&c.app, &q[1].fired, 1, WAIT_MS);
  assert_string_equal(q[1].text, "[1,[2,\"x\"]]");
  /* The object, its prefix, four commands, and a node per reply value
   * (1 + 5 + 4 + 3). */
  assert_true(f.calls >= 2 + 4 + 13);
  assert_int_equal(f.live, 2); /* the object and its prefix */
  tredis_app_free(&c.app);
  assert_int_equal(f.live, 0);
  assert_int_equal(f.live_bytes, 0);
  assert_int_equal(f.bad_frees, 0);
  res_free(q, 4);
}

/* One session on scripted bytes with allocation fail_at failing: every
 * failure is WSP_ERR_NOMEM (the reply that could not be built fails its
 * command with it, and resets the link), and nothing leaks. Returns the
 * allocations refused. */
static long alloc_session(long fail_at, int sticky, int *nomem_cmd,
                          int *nomem_reply) {
  struct tfail f;
  struct ctx c;
  struct wsp_redis_callbacks cb = {on_want_write, on_link_reset};
  struct res q[2];
  struct tbuf in;
  int rc;
  tfail_init(&f, fail_at, sticky);
  memset(&c, 0, sizeof c);
  res_init(q, 2);
  rc = wsp_redis_new(&c.app.r, NULL, &cb, &f.mem, 0, &c);
  if (rc < 0) {
    assert_int_equal(rc, WSP_ERR_NOMEM);
    assert_null(c.app.r);
    assert_int_equal(f.live, 0);
    return f.failures;
  }
  assert_int_equal(wsp_redis_link_up(c.app.r, WSP_REDIS_CMD), 0);
  tbuf_init(&in);
  rc = cmd(c.app.r, WSP_REDIS_CMD, &q[0], "EVAL", "x", "0", NULL);
  if (rc < 0) {
    assert_int_equal(rc, WSP_ERR_NOMEM);
    assert_int_equal(stats_of(c.app.r).failed, 1);
    (*nomem_cmd)++;
  } else {
    tbuf_puts(&in, "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n*0\r\n");
  }
  rc = cmd(c.app.r, WSP_REDIS_CMD, &q[1], "GET", "k", NULL);
  if (rc < 0)
    assert_int_equal(rc, WSP_ERR_NOMEM);
  else
    tbuf_puts(&in, "$5\r\nvalue\r\n");
  drain(c.app.r, WSP_REDIS_CMD, NULL);
  rc = wsp_redis_recv(c.app.r, WSP_REDIS_CMD, in.data, in.len);
  tbuf_free(&in);
  if (rc < 0) {
    assert_int_equal(rc, WSP_ERR_NOMEM);
    assert_int_equal(c.resets[WSP_REDIS_CMD], 1);
    assert_true(q[0].err == WSP_ERR_NOMEM || q[1].err == WSP_ERR_NOMEM);
    (*nomem_reply)++;
  } else if (q[0].fired && q[1].fired) {
    assert_string_equal(q[0].text, "[1,[\"a\",nil],[]]");
    assert_string_equal(q[1].text, "\"value\"");
  }
  wsp_redis_free(c.app.r);
  assert_int_equal(f.live, 0);
  assert_int_equal(f.bad_frees, 0);
  res_free(q, 2);
  return f.failures;
}

static void test_redis_alloc_failing(void **state) {
  int nomem_cmd = 0, nomem_reply = 0, clean = 0;
  (void)state;
  for (int sticky = 0; sticky < 2; sticky++)
    for (long at = 1; at < 40; at++)
      if (alloc_session(at, sticky, &nomem_cmd, &nomem_reply) == 0)
        clean++;
  assert_true(nomem_cmd > 0);
  assert_true(nomem_reply > 0);
  assert_true(clean > 0); /* fail_at beyond the session's allocations */
}

/* ---- Main ------------------------------------------------------------- */

static int group_setup(void **state) {
  (void)state;
  have_srv = tredis_start_group(&srv);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tredis_stop(&srv);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redis_new_config),
      cmocka_unit_test(test_redis_command_bytes),
      cmocka_unit_test(test_redis_set_get),
      cmocka_unit_test(test_redis_binary),
      cmocka_unit_test(test_redis_pipeline),
      cmocka_unit_test(test_redis_error_reply),
      cmocka_unit_test(test_redis_nested),
      cmocka_unit_test(test_redis_pubsub),
      cmocka_unit_test(test_redis_queued_while_down),
      cmocka_unit_test(test_redis_link_down_fails_sent),
      cmocka_unit_test(test_redis_timeout_reset),
      cmocka_unit_test(test_redis_timeout_unsent),
      cmocka_unit_test(test_redis_probe_scripted),
      cmocka_unit_test(test_redis_probe_server),
      cmocka_unit_test(test_redis_max_buffered),
      cmocka_unit_test(test_redis_garbage),
      cmocka_unit_test(test_redis_unexpected_reply),
      cmocka_unit_test(test_redis_reentrancy),
      cmocka_unit_test(test_redis_deadlines),
      cmocka_unit_test(test_redis_alloc_counting),
      cmocka_unit_test(test_redis_alloc_failing),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
