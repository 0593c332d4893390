/*
 * Subscriptions of the client role against a scripted server: a plain
 * server-role connection whose every message the test writes by hand, so
 * that each command the client sends is compared byte for byte and each
 * reply or push can be made wrong on purpose. Covers subscribe results,
 * publications, join and leave, recovery bookkeeping (the position, the
 * replayed publications, the resubscribe after an unsubscribe push), the
 * ways a subscription ends, publish/history/presence, and bad input
 * from the server closing the connection with nothing delivered.
 */
#include "helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wsp/rpc_client.h"

#define LIT(s) (s), sizeof(s) - 1

struct ev {
  char log[4096]; /* one line per callback, in order */
  int unsubscribed, disconnected, disc_code;
  struct wsp_rpc_client_pos upos; /* from the last on_unsubscribed */
  /* what a callback does: 1 unsubscribe "news", 2 free the client */
  int act_on_pub, act_on_subscribed;
};

struct t {
  struct tsrv s;
  struct wsp_rpc_client *rc;
  struct ev ev;
  size_t seen; /* messages of the server's recorder already read */
};

static void logf_(struct ev *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(struct ev *e, const char *fmt, ...) {
  size_t n = strlen(e->log);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->log + n, sizeof(e->log) - n, fmt, ap);
  va_end(ap);
}

static void on_subscribed(struct wsp_rpc_client *rc,
                          const struct wsp_rpc_client_subscribed *s, void *ud) {
  struct t *t = ud;
  logf_(&t->ev,
        "subscribed %s rec=%d pos=%d was=%d ok=%d %llu/%s n=%zu d=%.*s\n",
        s->channel, s->recoverable, s->positioned, s->was_recovering,
        s->recovered, (unsigned long long)s->pos.offset, s->pos.epoch,
        s->publications, (int)s->data.len, s->data.ptr);
  if (t->ev.act_on_subscribed == 2) {
    wsp_rpc_client_free(rc);
    t->rc = NULL;
  }
}

static void on_publication(struct wsp_rpc_client *rc,
                           const struct wsp_rpc_client_pub *p, void *ud) {
  struct t *t = ud;
  logf_(&t->ev, "pub %s %.*s @%llu%s", p->channel, (int)p->data.len,
        p->data.ptr, (unsigned long long)p->offset, p->recovered ? " r" : "");
  if (strcmp(p->pub_channel, p->channel) != 0)
    logf_(&t->ev, " from %s", p->pub_channel);
  if (p->info.len)
    logf_(&t->ev, " info=%.*s", (int)p->info.len, p->info.ptr);
  if (p->tags.len)
    logf_(&t->ev, " tags=%.*s", (int)p->tags.len, p->tags.ptr);
  logf_(&t->ev, "\n");
  if (t->ev.act_on_pub == 1)
    assert_int_equal(wsp_rpc_client_unsubscribe(rc, "news"), 0);
}

static void on_join(struct wsp_rpc_client *rc, const char *ch,
                    const struct wsp_str *info, void *ud) {
  (void)rc;
  logf_(&((struct t *)ud)->ev, "join %s %.*s\n", ch, (int)info->len, info->ptr);
}

static void on_leave(struct wsp_rpc_client *rc, const char *ch,
                     const struct wsp_str *info, void *ud) {
  (void)rc;
  logf_(&((struct t *)ud)->ev, "leave %s %.*s\n", ch, (int)info->len,
        info->ptr);
}

static void on_unsubscribed(struct wsp_rpc_client *rc,
                            const struct wsp_rpc_client_unsubscribed *u,
                            void *ud) {
  struct t *t = ud;
  (void)rc;
  t->ev.unsubscribed++;
  t->ev.upos = u->pos;
  logf_(&t->ev, "unsubscribed %s %d '%s' %llu/%s\n", u->channel, u->code,
        u->reason, (unsigned long long)u->pos.offset, u->pos.epoch);
}

static void on_disconnected(struct wsp_rpc_client *rc, int code, void *ud) {
  struct t *t = ud;
  (void)rc;
  t->ev.disconnected++;
  t->ev.disc_code = code;
  logf_(&t->ev, "disconnected\n");
}

static const struct wsp_rpc_client_sub_callbacks sub_cb = {
    on_subscribed, on_publication, on_join, on_leave, on_unsubscribed, {0}};

/* Move bytes both ways until both sides are quiet. */
static void pump(struct t *t) {
  struct iovec iov[16];
  int round;
  for (round = 0; round < 50 && t->rc; round++) {
    struct tbuf b;
    int k, i;
    size_t n;
    tbuf_init(&b);
    k = wsp_rpc_client_pending(t->rc, iov, 16);
    for (i = 0; i < k; i++)
      tbuf_append(&b, iov[i].iov_base, iov[i].iov_len);
    if (b.len)
      wsp_rpc_client_sent(t->rc, b.len);
    if (b.len && t->s.c)
      tsrv_feed(&t->s, b.data, b.len);
    n = b.len;
    tbuf_free(&b);
    if (t->s.c)
      tsrv_drain(&t->s);
    if (t->s.out.len > t->s.out_pos) {
      size_t m = t->s.out.len - t->s.out_pos;
      t->s.out_pos = t->s.out.len;
      wsp_rpc_client_recv(t->rc, t->s.out.data + t->s.out.len - m, m);
      n += m;
    }
    if (!n)
      return;
  }
}

/* The next message the server received from the client, exactly. */
#define expect_cmd(t, want) expect_cmd_at((t), (want), __LINE__)
static void expect_cmd_at(struct t *t, const char *want, int line) {
  const struct tmsg *m;
  if (t->seen >= t->s.rec.nmsgs)
    fail_msg("line %d: no command, wanted %s", line, want);
  m = &t->s.rec.msgs[t->seen++];
  if (m->len != strlen(want) || memcmp(m->data, want, m->len) != 0)
    fail_msg("line %d: command %.*s, wanted %s", line, (int)m->len,
             (const char *)m->data, want);
}

static void no_cmd(struct t *t) { assert_int_equal(t->seen, t->s.rec.nmsgs); }

/* The server says text, then bytes move. */
static void say(struct t *t, const char *text) {
  assert_int_equal(wsp_conn_send(t->s.c, WSP_OP_TEXT, text, strlen(text)), 0);
  pump(t);
}

#define expect_log(t, want) expect_log_at((t), (want), __LINE__)
static void expect_log_at(struct t *t, const char *want, int line) {
  if (strcmp(t->ev.log, want) != 0)
    fail_msg("line %d: callbacks\n%s\nwanted\n%s", line, t->ev.log, want);
  t->ev.log[0] = '\0';
}

/* The server, and the client made with mem: 0, or what failed. */
static int t_open_mem(struct t *t, const struct wsp_mem *mem) {
  struct wsp_rpc_client_callbacks ccb;
  int rv;
  memset(t, 0, sizeof(*t));
  tsrv_init(&t->s);
  assert_int_equal(tsrv_new(&t->s, NULL, 0), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_disconnected = on_disconnected;
  rv = wsp_rpc_client_new(&t->rc, &ccb, mem, 0, t);
  if (rv == 0)
    rv = wsp_rpc_client_start(t->rc, "t", "/c", NULL, NULL);
  return rv;
}

static void t_open(struct t *t) { assert_int_equal(t_open_mem(t, NULL), 0); }

/* Open, connect and subscribe to "news" (answered with result). */
static void t_subscribed(struct t *t, const char *result) {
  char line[512];
  t_open(t);
  assert_int_equal(wsp_rpc_client_subscribe(t->rc, "news", NULL, &sub_cb, t),
                   0);
  pump(t);
  /* the connect command's id comes after those of commands made before */
  expect_cmd(t, "{\"connect\":{\"name\":\"libwsp\"},\"id\":2}\n"
                "{\"subscribe\":{\"channel\":\"news\"},\"id\":1}");
  say(t, "{\"id\":2,\"connect\":{\"client\":\"c1\"}}");
  snprintf(line, sizeof(line), "{\"id\":1,\"subscribe\":%s}", result);
  t->ev.log[0] = '\0';
  say(t, line);
}

static void t_free(struct t *t) {
  wsp_rpc_client_free(t->rc);
  t->rc = NULL;
  tsrv_free(&t->s);
}

static void test_rpc_client_sub_publications(void **state) {
  struct t t;
  struct wsp_rpc_client_sub_opts o;
  struct wsp_rpc_client_pos pos;
  struct wsp_rpc_client_stats st;
  (void)state;
  t_open(&t);
  memset(&o, 0, sizeof(o));
  o.recoverable = 1;
  o.positioned = 1;
  o.join_leave = 1;
  o.token = "tk";
  o.data = "{\"a\":\n1}";
  /* before the connection opens: it follows the connect command */
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "news", &o, &sub_cb, &t), 0);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "news", NULL, &sub_cb, &t),
                   WSP_ERR_STATE);
  assert_int_equal(wsp_rpc_client_get_position(t.rc, "news", &pos), 0);
  assert_int_equal(pos.offset, 0);
  pump(&t);
  expect_cmd(&t, "{\"connect\":{\"name\":\"libwsp\"},\"id\":2}\n"
                 "{\"subscribe\":{\"channel\":\"news\",\"token\":\"tk\","
                 "\"data\":{\"a\":1},\"positioned\":true,"
                 "\"recoverable\":true,\"join_leave\":true},\"id\":1}");
  say(&t, "{\"id\":2,\"connect\":{\"client\":\"c1\"}}\n"
          "{\"id\":1,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
          "\"epoch\":\"E1\",\"offset\":3,\"data\":[1]}}");
  expect_log(&t, "subscribed news rec=1 pos=1 was=0 ok=0 3/E1 n=0 d=[1]\n");
  say(&t,
      "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"x\":1},"
      "\"offset\":4,\"info\":{\"user\":\"u\"},\"tags\":{\"k\":\"v\"}}}}\n"
      "{\"push\":{\"channel\":\"n\\u0065ws\",\"pub\":{\"data\":2,"
      "\"offset\":5}}}\n"
      "{\"push\":{\"channel\":\"other\",\"pub\":{\"data\":3}}}\n"
      "{\"push\":{\"channel\":\"news\",\"join\":{\"info\":{\"user\":\"j\"}}}}\n"
      "{\"push\":{\"channel\":\"news\",\"leave\":{\"info\":{\"user\":\"l\"}}}"
      "}");
  expect_log(&t,
             "pub news {\"x\":1} @4 info={\"user\":\"u\"} tags={\"k\":\"v\"}\n"
             "pub news 2 @5\n"
             "join news {\"user\":\"j\"}\n"
             "leave news {\"user\":\"l\"}\n");
  assert_int_equal(wsp_rpc_client_get_position(t.rc, "news", &pos), 0);
  assert_int_equal(pos.offset, 5);
  assert_string_equal(pos.epoch, "E1");
  assert_int_equal(wsp_rpc_client_get_position(t.rc, "other", &pos),
                   WSP_ERR_NOT_FOUND);
  /* a publication of a wildcard subscription names its own channel */
  say(&t, "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":0,"
          "\"channel\":\"news.\\u0061\"}}}");
  expect_log(&t, "pub news 0 @0 from news.a\n");
  /* a publication without an offset leaves the position alone */
  say(&t, "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":\"s\"}}}");
  expect_log(&t, "pub news \"s\" @0\n");
  assert_int_equal(wsp_rpc_client_get_position(t.rc, "news", &pos), 0);
  assert_int_equal(pos.offset, 5);
  assert_int_equal(wsp_rpc_client_get_stats(t.rc, &st), 0);
  assert_int_equal(st.replies, 2);
  assert_int_equal(st.pushes, 7);
  assert_int_equal(st.publications, 4);
  assert_int_equal(st.bad_input, 0);
  /* the application unsubscribes: at once, with the position */
  assert_int_equal(wsp_rpc_client_unsubscribe(t.rc, "news"), 0);
  expect_log(&t, "unsubscribed news 0 '' 5/E1\n");
  assert_int_equal(wsp_rpc_client_unsubscribe(t.rc, "news"), WSP_ERR_NOT_FOUND);
  pump(&t);
  expect_cmd(&t, "{\"unsubscribe\":{\"channel\":\"news\"},\"id\":3}");
  /* what was in flight is dropped */
  say(&t,
      "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":6,\"offset\":6}}}\n"
      "{\"id\":3,\"unsubscribe\":{}}");
  expect_log(&t, "");
  no_cmd(&t);
  t_free(&t);
}

static void test_rpc_client_sub_recovery(void **state) {
  struct t t;
  struct wsp_rpc_client_sub_opts o;
  struct wsp_rpc_client_pos since = {5, "E1"}, pos;
  struct wsp_rpc_client_stats st;
  (void)state;
  t_open(&t);
  memset(&o, 0, sizeof(o));
  o.since = &since;
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "news", &o, &sub_cb, &t), 0);
  pump(&t);
  expect_cmd(&t, "{\"connect\":{\"name\":\"libwsp\"},\"id\":2}\n"
                 "{\"subscribe\":{\"channel\":\"news\",\"recover\":true,"
                 "\"epoch\":\"E1\",\"offset\":5},\"id\":1}");
  say(&t, "{\"id\":2,\"connect\":{}}\n"
          "{\"id\":1,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
          "\"epoch\":\"E1\",\"offset\":5,\"was_recovering\":true,"
          "\"recovered\":true,\"publications\":[{\"data\":\"a\",\"offset\":6},"
          "{\"data\":\"b\",\"offset\":7}]}}");
  expect_log(&t, "subscribed news rec=1 pos=1 was=1 ok=1 5/E1 n=2 d=\n"
                 "pub news \"a\" @6 r\n"
                 "pub news \"b\" @7 r\n");
  assert_int_equal(wsp_rpc_client_get_position(t.rc, "news", &pos), 0);
  assert_int_equal(pos.offset, 7);
  /* the server lost track: 2500 asks for a resubscribe, which recovers
   * from offset 7; a publication before its reply is not delivered */
  say(&t, "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":2500,"
          "\"reason\":\"insufficient state\"}}}\n"
          "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":\"x\",\"offset\":"
          "9}}}");
  expect_log(&t, "");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"news\",\"recover\":true,"
                 "\"epoch\":\"E1\",\"offset\":7},\"id\":3}");
  say(&t, "{\"id\":3,\"subscribe\":{\"recoverable\":true,\"epoch\":\"E1\","
          "\"offset\":7,\"was_recovering\":true,\"recovered\":true,"
          "\"publications\":[{\"data\":\"c\",\"offset\":8},"
          "{\"data\":\"x\",\"offset\":9}]}}\n"
          "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":\"y\",\"offset\":"
          "10}}}");
  expect_log(&t, "subscribed news rec=1 pos=0 was=1 ok=1 7/E1 n=2 d=\n"
                 "pub news \"c\" @8 r\n"
                 "pub news \"x\" @9 r\n"
                 "pub news \"y\" @10\n");
  assert_int_equal(wsp_rpc_client_get_stats(t.rc, &st), 0);
  assert_int_equal(st.resubscribes, 1);
  assert_int_equal(st.publications, 5);
  /* not recovered: the position becomes the stream's top */
  say(&t, "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":2501}}}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"news\",\"recover\":true,"
                 "\"epoch\":\"E1\",\"offset\":10},\"id\":4}");
  say(&t, "{\"id\":4,\"subscribe\":{\"recoverable\":true,\"epoch\":\"E2\","
          "\"offset\":40,\"was_recovering\":true}}");
  expect_log(&t, "subscribed news rec=1 pos=0 was=1 ok=0 40/E2 n=0 d=\n");
  /* 2502, state invalidated: from now on, without the position */
  say(&t, "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":2502}}}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"news\"},\"id\":5}");
  say(&t, "{\"id\":5,\"subscribe\":{\"recoverable\":true,\"epoch\":\"E2\","
          "\"offset\":40}}");
  expect_log(&t, "subscribed news rec=1 pos=0 was=0 ok=0 40/E2 n=0 d=\n");
  /* the connection ends: the subscription too, with where it was */
  say(&t,
      "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":1,\"offset\":41}}}");
  wsp_conn_close(t.s.c, 3001, "shutdown", 8);
  pump(&t);
  expect_log(&t, "pub news 1 @41\n"
                 "unsubscribed news -100 '' 41/E2\n"
                 "disconnected\n");
  assert_int_equal(t.ev.disc_code, 3001);
  assert_int_equal(wsp_rpc_client_get_position(t.rc, "news", &pos),
                   WSP_ERR_NOT_FOUND);
  /* which a new client takes as since */
  assert_int_equal(t.ev.upos.offset, 41);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "news", &o, &sub_cb, &t),
                   WSP_ERR_CLOSED);
  t_free(&t);
}

static void test_rpc_client_sub_ends(void **state) {
  struct t t;
  struct wsp_rpc_client_sub_opts o;
  (void)state;
  t_open(&t);
  pump(&t);
  expect_cmd(&t, "{\"connect\":{\"name\":\"libwsp\"},\"id\":1}");
  say(&t, "{\"id\":1,\"connect\":{}}");
  memset(&o, 0, sizeof(o));
  o.timeout_ms = 50;
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "a", NULL, &sub_cb, &t), 0);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "b", NULL, &sub_cb, &t), 0);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "c", &o, &sub_cb, &t), 0);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "d", NULL, &sub_cb, &t), 0);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "e", NULL, NULL, NULL), 0);
  pump(&t);
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"a\"},\"id\":2}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"b\"},\"id\":3}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"c\"},\"id\":4}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"d\"},\"id\":5}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"e\"},\"id\":6}");
  /* refused by the server */
  say(&t, "{\"id\":2,\"error\":{\"code\":103,\"message\":\"permission "
          "denied\"}}");
  expect_log(&t, "unsubscribed a 103 'permission denied' 0/\n");
  /* ended by the server, after a publication */
  say(&t, "{\"id\":3,\"subscribe\":{\"epoch\":\"Q\",\"offset\":1}}\n"
          "{\"push\":{\"channel\":\"b\",\"pub\":{\"offset\":2}}}\n"
          "{\"push\":{\"channel\":\"b\",\"unsubscribe\":{\"code\":2000,"
          "\"reason\":\"server unsubscribe\"}}}\n"
          "{\"push\":{\"channel\":\"b\",\"pub\":{\"offset\":3}}}");
  expect_log(&t, "subscribed b rec=0 pos=0 was=0 ok=0 1/Q n=0 d=\n"
                 "pub b  @2\n"
                 "unsubscribed b 2000 'server unsubscribe' 2/Q\n");
  /* without an epoch there is no position to keep */
  say(&t, "{\"id\":5,\"subscribe\":{}}\n"
          "{\"push\":{\"channel\":\"d\",\"pub\":{\"offset\":7}}}");
  expect_log(&t, "subscribed d rec=0 pos=0 was=0 ok=0 0/ n=0 d=\n"
                 "pub d  @7\n");
  {
    struct wsp_rpc_client_pos pos;
    assert_int_equal(wsp_rpc_client_get_position(t.rc, "d", &pos), 0);
    assert_int_equal(pos.offset, 0);
  }
  /* no reply in time */
  assert_int_equal(wsp_rpc_client_next_deadline(t.rc), 50);
  wsp_rpc_client_tick(t.rc, 50);
  expect_log(&t, "unsubscribed c -105 '' 0/\n");
  say(&t, "{\"id\":4,\"subscribe\":{}}");
  expect_log(&t, "");
  /* a channel name is not empty, not too long, and data is JSON */
  {
    char big[WSP_RPC_CLIENT_CHANNEL_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(wsp_rpc_client_subscribe(t.rc, big, NULL, NULL, NULL),
                     WSP_ERR_LIMIT);
    big[WSP_RPC_CLIENT_CHANNEL_MAX] = '\0';
    assert_int_equal(wsp_rpc_client_subscribe(t.rc, big, NULL, NULL, NULL), 0);
    assert_int_equal(wsp_rpc_client_unsubscribe(t.rc, big), 0);
  }
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "", NULL, NULL, NULL),
                   WSP_ERR_INVAL);
  o.data = "{bad";
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "f", &o, &sub_cb, &t),
                   WSP_ERR_JSON);
  /* freeing the client ends what is left, once each */
  wsp_rpc_client_free(t.rc);
  t.rc = NULL;
  expect_log(&t, "unsubscribed d -8 '' 0/\n");
  assert_int_equal(t.ev.disconnected, 0);
  t_free(&t);
}

static void got(struct wsp_rpc_client *rc, int status, const uint8_t *d,
                size_t n, void *ud) {
  struct t *t = ud;
  (void)rc;
  logf_(&t->ev, "reply %d %.*s\n", status, (int)n, (const char *)d);
}

static void test_rpc_client_sub_channel_commands(void **state) {
  struct t t;
  struct wsp_rpc_client_pos since = {12, "E"};
  (void)state;
  t_open(&t);
  assert_int_equal(
      wsp_rpc_client_publish(t.rc, "news", LIT("{\"t\":\n1}"), 0, got, &t), 0);
  assert_int_equal(
      wsp_rpc_client_publish(t.rc, "news", LIT("2"), 0, NULL, NULL), 0);
  assert_int_equal(
      wsp_rpc_client_history(t.rc, "news", 10, &since, 0, 0, got, &t), 0);
  assert_int_equal(
      wsp_rpc_client_history(t.rc, "news", -1, NULL, 1, 0, got, &t), 0);
  assert_int_equal(wsp_rpc_client_history(t.rc, "news", 0, NULL, 0, 0, got, &t),
                   0);
  assert_int_equal(wsp_rpc_client_presence(t.rc, "news", 0, got, &t), 0);
  assert_int_equal(wsp_rpc_client_presence_stats(t.rc, "news", 0, got, &t), 0);
  assert_int_equal(wsp_rpc_client_publish(t.rc, "news", LIT("{x"), 0, got, &t),
                   WSP_ERR_JSON);
  assert_int_equal(wsp_rpc_client_publish(t.rc, "", LIT("1"), 0, got, &t),
                   WSP_ERR_INVAL);
  assert_int_equal(
      wsp_rpc_client_history(t.rc, "news", -2, NULL, 0, 0, got, &t),
      WSP_ERR_INVAL);
  pump(&t);
  expect_cmd(
      &t, "{\"connect\":{\"name\":\"libwsp\"},\"id\":8}\n"
          "{\"publish\":{\"channel\":\"news\",\"data\":{\"t\":1}},\"id\":1}\n"
          "{\"publish\":{\"channel\":\"news\",\"data\":2},\"id\":2}\n"
          "{\"history\":{\"channel\":\"news\",\"limit\":10,\"since\":"
          "{\"offset\":12,\"epoch\":\"E\"}},\"id\":3}\n"
          "{\"history\":{\"channel\":\"news\",\"limit\":-1,"
          "\"reverse\":true},\"id\":4}\n"
          "{\"history\":{\"channel\":\"news\"},\"id\":5}\n"
          "{\"presence\":{\"channel\":\"news\"},\"id\":6}\n"
          "{\"presence_stats\":{\"channel\":\"news\"},\"id\":7}");
  say(&t,
      "{\"id\":8,\"connect\":{}}\n"
      "{\"id\":1,\"publish\":{}}\n"
      "{\"id\":2}\n"
      "{\"id\":3,\"history\":{\"publications\":[{\"data\":1,\"offset\":13}],"
      "\"epoch\":\"E\",\"offset\":13}}\n"
      "{\"id\":4,\"error\":{\"code\":108,\"message\":\"not available\"}}\n"
      "{\"id\":5}\n"
      "{\"id\":6,\"presence\":{\"presence\":{}}}\n"
      "{\"id\":7,\"presence_stats\":{\"num_clients\":1,\"num_users\":1}}");
  expect_log(&t, "reply 0 {}\n"
                 "reply 0 {\"publications\":[{\"data\":1,\"offset\":13}],"
                 "\"epoch\":\"E\",\"offset\":13}\n"
                 "reply 108 not available\n"
                 "reply 0 {}\n"
                 "reply 0 {\"presence\":{}}\n"
                 "reply 0 {\"num_clients\":1,\"num_users\":1}\n");
  /* a result that is not an object: an error for the call, then close */
  assert_int_equal(wsp_rpc_client_presence(t.rc, "news", 0, got, &t), 0);
  pump(&t);
  expect_cmd(&t, "{\"presence\":{\"channel\":\"news\"},\"id\":9}");
  say(&t, "{\"id\":9,\"presence\":[]}");
  expect_log(&t, "reply -102 \ndisconnected\n");
  assert_int_equal(t.ev.disc_code, WSP_CLOSE_PROTOCOL_ERROR);
  t_free(&t);
}

/* Each line, sent to a client subscribed to "news" at offset 3, breaks
 * the protocol: the connection closes with 1002, counted, and nothing of
 * the line reaches the application. */
static const char *const bad_lines[] = {
    "{bad",
    "[1]",
    "{\"id\":\"2\"}",
    "{\"id\":4294967296}",
    "{\"id\":-1}",
    "{\"id\":7,\"error\":\"x\"}",
    "{\"push\":7}",
    "{\"push\":{\"channel\":5,\"pub\":{}}}",
    "{\"push\":{\"channel\":\"news\",\"pub\":[]}}",
    "{\"push\":{\"channel\":\"news\",\"pub\":{\"offset\":\"4\"}}}",
    "{\"push\":{\"channel\":\"news\",\"pub\":{\"offset\":-4}}}",
    "{\"push\":{\"channel\":\"news\",\"pub\":{\"info\":[1]}}}",
    "{\"push\":{\"channel\":\"news\",\"pub\":{\"tags\":\"t\"}}}",
    "{\"push\":{\"channel\":\"news\",\"pub\":{\"channel\":1}}}",
    "{\"push\":{\"channel\":\"news\",\"join\":{\"info\":1}}}",
    "{\"push\":{\"channel\":\"news\",\"leave\":true}}",
    "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":\"x\"}}}",
    "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":3000000000}}}",
    "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"reason\":1}}}",
    "{\"push\":{\"channel\":\"news\",\"unsubscribe\":[]}}",
};

/* Subscribe results that break the protocol. */
static const char *const bad_results[] = {
    "[]",
    "{\"epoch\":5}",
    "{\"epoch\":\"a\\u0000b\"}",
    "{\"epoch\":\"0123456789012345678901234567890123456789012345678901234567"
    "890123456789\"}",
    "{\"offset\":1.5}",
    "{\"recovered\":1}",
    "{\"publications\":{}}",
    "{\"publications\":[{\"offset\":1},2]}",
    "{\"publications\":[{\"offset\":1},{\"info\":\"me\"}]}",
};

static void expect_bad(struct t *t, const char *what) {
  struct wsp_rpc_client_stats st;
  if (t->ev.disconnected != 1 || t->ev.disc_code != WSP_CLOSE_PROTOCOL_ERROR)
    fail_msg("%s: disconnected %d with %d", what, t->ev.disconnected,
             t->ev.disc_code);
  assert_int_equal(wsp_rpc_client_get_stats(t->rc, &st), 0);
  if (st.bad_input != 1 || st.publications != 0)
    fail_msg("%s: bad_input %llu, publications %llu", what,
             (unsigned long long)st.bad_input,
             (unsigned long long)st.publications);
  assert_int_equal(t->ev.unsubscribed, 1);
}

static void test_rpc_client_sub_bad_input(void **state) {
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
    struct t t;
    t_subscribed(&t, "{\"epoch\":\"E\",\"offset\":3}");
    expect_log(&t, "subscribed news rec=0 pos=0 was=0 ok=0 3/E n=0 d=\n");
    say(&t, bad_lines[i]);
    expect_bad(&t, bad_lines[i]);
    if (strcmp(t.ev.log, "unsubscribed news -100 '' 3/E\ndisconnected\n"))
      fail_msg("%s: %s", bad_lines[i], t.ev.log);
    t_free(&t);
  }
  for (i = 0; i < sizeof(bad_results) / sizeof(bad_results[0]); i++) {
    struct t t;
    t_subscribed(&t, bad_results[i]);
    expect_bad(&t, bad_results[i]);
    if (strcmp(t.ev.log, "unsubscribed news -100 '' 0/\ndisconnected\n"))
      fail_msg("%s: %s", bad_results[i], t.ev.log);
    t_free(&t);
  }
  /* a publish result that is not an object, with no callback to tell */
  {
    struct t t;
    t_subscribed(&t, "{}");
    assert_int_equal(
        wsp_rpc_client_publish(t.rc, "news", LIT("1"), 0, NULL, NULL), 0);
    pump(&t);
    expect_cmd(&t, "{\"publish\":{\"channel\":\"news\",\"data\":1},\"id\":3}");
    say(&t, "{\"id\":3,\"publish\":5}");
    expect_bad(&t, "publish result");
    t_free(&t);
  }
  /* a binary message */
  {
    struct t t;
    t_subscribed(&t, "{}");
    t.ev.log[0] = '\0';
    assert_int_equal(wsp_conn_send(t.s.c, WSP_OP_BINARY, "{}", 2), 0);
    pump(&t);
    expect_bad(&t, "binary");
    t_free(&t);
  }
}

static void test_rpc_client_sub_reentrant(void **state) {
  struct t t;
  (void)state;
  /* unsubscribing from on_publication stops the replay there */
  t_subscribed(&t, "{\"epoch\":\"E\",\"offset\":3}");
  t.ev.log[0] = '\0';
  t.ev.act_on_pub = 1;
  say(&t, "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":2500}}}");
  expect_cmd(&t, "{\"subscribe\":{\"channel\":\"news\",\"recover\":true,"
                 "\"epoch\":\"E\",\"offset\":3},\"id\":3}");
  say(&t, "{\"id\":3,\"subscribe\":{\"epoch\":\"E\",\"offset\":3,"
          "\"recovered\":true,\"publications\":[{\"offset\":4},"
          "{\"offset\":5}]}}");
  expect_log(&t, "subscribed news rec=0 pos=0 was=0 ok=1 3/E n=2 d=\n"
                 "pub news  @4 r\n"
                 "unsubscribed news 0 '' 4/E\n");
  t_free(&t);
  /* the same with the bytes fed to the connection underneath */
  t_subscribed(&t, "{\"epoch\":\"E\",\"offset\":3}");
  t.ev.log[0] = '\0';
  t.ev.act_on_pub = 1;
  say(&t, "{\"push\":{\"channel\":\"news\",\"unsubscribe\":{\"code\":2500}}}");
  {
    static const char r[] =
        "{\"id\":3,\"subscribe\":{\"epoch\":\"E\",\"offset\":3,"
        "\"recovered\":true,\"publications\":[{\"offset\":4},"
        "{\"offset\":5}]}}";
    size_t from = t.s.out.len;
    assert_int_equal(wsp_conn_send(t.s.c, WSP_OP_TEXT, r, sizeof(r) - 1), 0);
    tsrv_drain(&t.s);
    t.s.out_pos = t.s.out.len;
    wsp_conn_recv(wsp_rpc_client_get_conn(t.rc), t.s.out.data + from,
                  t.s.out.len - from);
  }
  expect_log(&t, "subscribed news rec=0 pos=0 was=0 ok=1 3/E n=2 d=\n"
                 "pub news  @4 r\n"
                 "unsubscribed news 0 '' 4/E\n");
  t_free(&t);
  /* freeing the client from on_subscribed: deferred, then every
   * subscription ends once with WSP_ERR_CANCELLED */
  t_open(&t);
  t.ev.act_on_subscribed = 2;
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "news", NULL, &sub_cb, &t),
                   0);
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "more", NULL, &sub_cb, &t),
                   0);
  pump(&t);
  say(&t, "{\"id\":3,\"connect\":{}}\n"
          "{\"id\":1,\"subscribe\":{\"publications\":[{\"offset\":1}]}}\n"
          "{\"id\":2,\"subscribe\":{}}");
  assert_null(t.rc);
  expect_log(&t, "subscribed news rec=0 pos=0 was=0 ok=0 0/ n=1 d=\n"
                 "unsubscribed more -8 '' 0/\n"
                 "unsubscribed news -8 '' 0/\n");
  tsrv_free(&t.s);
}

/* Every allocation of the client fails in turn: each call that fails
 * says WSP_ERR_NOMEM (or that the connection ended) and fires nothing,
 * each subscription accepted ends exactly once, and nothing leaks. */
static int t_last_accepted;
static char t_last_log[4096];

static void test_rpc_client_sub_alloc_failures(void **state) {
  struct wsp_rpc_client_pos since = {3, "E"};
  struct wsp_rpc_client_sub_opts o;
  long at;
  (void)state;
  memset(&o, 0, sizeof(o));
  o.since = &since;
  o.token = "tk";
  o.data = "{}";
  for (at = 1; at < 10000; at++) {
    struct tfail f;
    struct t t;
    int accepted = 0, rv;
    tfail_init(&f, at, 0);
    rv = t_open_mem(&t, &f.mem);
    if (rv == 0) {
      rv = wsp_rpc_client_subscribe(t.rc, "news", &o, &sub_cb, &t);
      assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
      accepted += rv == 0;
      rv = wsp_rpc_client_subscribe(t.rc, "more", NULL, &sub_cb, &t);
      assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
      accepted += rv == 0;
      pump(&t);
      if (t.s.c && wsp_conn_get_state(t.s.c) == WSP_STATE_OPEN) {
        wsp_conn_send(t.s.c, WSP_OP_TEXT,
                      LIT("{\"id\":3,\"connect\":{}}\n{\"id\":1,"
                          "\"subscribe\":{\"epoch\":\"E\",\"offset\":3,"
                          "\"recovered\":true,\"publications\":[{\"data\":1,"
                          "\"offset\":4}]}}\n{\"id\":2,\"subscribe\":{}}\n"
                          "{\"push\":{\"channel\":\"more\",\"pub\":{}}}"));
        pump(&t);
      }
      rv = wsp_rpc_client_publish(t.rc, "news", LIT("1"), 0, NULL, NULL);
      assert_true(rv == 0 || rv == WSP_ERR_NOMEM || rv == WSP_ERR_CLOSED);
      wsp_rpc_client_unsubscribe(t.rc, "more");
      pump(&t);
    } else {
      assert_int_equal(rv, WSP_ERR_NOMEM);
    }
    t_free(&t);
    t_last_accepted = accepted;
    memcpy(t_last_log, t.ev.log, sizeof(t_last_log));
    assert_int_equal(t.ev.unsubscribed, accepted);
    assert_int_equal(f.live, 0);
    assert_int_equal(f.bad_frees, 0);
    if (f.failures == 0)
      break;
  }
  /* the last run went through the whole script */
  assert_true(at > 10 && at < 10000);
  assert_int_equal(t_last_accepted, 2);
  assert_string_equal(t_last_log,
                      "subscribed news rec=0 pos=0 was=0 ok=1 3/E n=1 d=\n"
                      "pub news 1 @4 r\n"
                      "subscribed more rec=0 pos=0 was=0 ok=0 0/ n=0 d=\n"
                      "pub more  @0\n"
                      "unsubscribed more 0 '' 0/\n"
                      "unsubscribed news -8 '' 4/E\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rpc_client_sub_publications),
      cmocka_unit_test(test_rpc_client_sub_recovery),
      cmocka_unit_test(test_rpc_client_sub_ends),
      cmocka_unit_test(test_rpc_client_sub_channel_commands),
      cmocka_unit_test(test_rpc_client_sub_bad_input),
      cmocka_unit_test(test_rpc_client_sub_reentrant),
      cmocka_unit_test(test_rpc_client_sub_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
