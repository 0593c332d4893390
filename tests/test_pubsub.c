/*
 * The channel registry: exact channels, '*' and '>' wildcards, changes
 * during a publication, scale, allocation failures, and shared frames
 * whose references all come back when the queues drain.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp/pubsub.h"

#define S(x) x, strlen(x)

struct got {
  char log[4096];
  int n;
};

static void record(void *sub, const char *pat, size_t len, void *ud) {
  struct got *g = ud;
  size_t l = strlen(g->log);
  snprintf(g->log + l, sizeof(g->log) - l, "%s:%.*s ", (const char *)sub,
           (int)len, pat);
  g->n++;
}

static long pub(struct wsp_pubsub *ps, const char *ch, struct got *g) {
  memset(g, 0, sizeof(*g));
  return wsp_pubsub_publish(ps, S(ch), record, g);
}

static void test_pubsub_exact_and_wildcards(void **state) {
  struct wsp_pubsub *ps;
  struct got g;
  char a[] = "A", b[] = "B", c[] = "C", d[] = "D";
  (void)state;
  assert_int_equal(wsp_pubsub_new(&ps, NULL), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("news.sport"), a), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("news.*"), b), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("news.>"), c), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("*.sport"), d), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("news.sport"), a),
                   WSP_ERR_STATE);
  assert_int_equal(wsp_pubsub_channels(ps), 4);

  assert_int_equal(pub(ps, "news.sport", &g), 4);
  assert_non_null(strstr(g.log, "A:news.sport "));
  assert_non_null(strstr(g.log, "B:news.* "));
  assert_non_null(strstr(g.log, "C:news.> "));
  assert_non_null(strstr(g.log, "D:*.sport "));
  assert_int_equal(pub(ps, "news.sport.live", &g), 1); /* only '>' */
  assert_string_equal(g.log, "C:news.> ");
  assert_int_equal(pub(ps, "news", &g), 0); /* '>' needs a segment */
  assert_int_equal(pub(ps, "weather.sport", &g), 1);
  assert_string_equal(g.log, "D:*.sport ");
  assert_int_equal(pub(ps, "newsx.sport", &g), 1);
  /* names are opaque bytes; a publication goes to one exact channel */
  assert_int_equal(wsp_pubsub_publish(ps, S("news.*"), record, &g),
                   WSP_ERR_INVAL);

  assert_int_equal(wsp_pubsub_unsubscribe(ps, S("news.*"), b), 0);
  assert_int_equal(wsp_pubsub_unsubscribe(ps, S("news.*"), b),
                   WSP_ERR_NOT_FOUND);
  assert_int_equal(pub(ps, "news.sport", &g), 3);
  assert_true(wsp_pubsub_is_subscribed(ps, S("news.>"), c));
  assert_false(wsp_pubsub_is_subscribed(ps, S("news.*"), b));
  assert_int_equal(wsp_pubsub_subscribers(ps, S("news.sport")), 1);
  assert_int_equal(wsp_pubsub_channels(ps), 3);
  wsp_pubsub_free(ps);
}

struct listing {
  char text[256]; /* "name=count " per channel, sorted by the test */
  int n;
  size_t total;
};

static void list_one(const char *p, size_t len, size_t subs, void *ud) {
  struct listing *l = ud;
  l->n++;
  l->total += subs;
  snprintf(l->text + strlen(l->text), sizeof(l->text) - strlen(l->text),
           "%.*s=%zu ", (int)len, p, subs);
}

static void test_pubsub_each_channel(void **state) {
  struct wsp_pubsub *ps;
  struct listing l;
  char a[] = "A", b[] = "B";
  int i;
  (void)state;
  assert_int_equal(wsp_pubsub_new(&ps, NULL), 0);
  memset(&l, 0, sizeof(l));
  assert_int_equal(wsp_pubsub_each_channel(ps, list_one, &l), 0);
  assert_int_equal(l.n, 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("x"), a), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("x"), b), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("y.*"), a), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("y.>"), b), 0);
  /* enough exact channels to grow the table past its first size */
  for (i = 0; i < 100; i++) {
    char name[16];
    snprintf(name, sizeof(name), "c%d", i);
    assert_int_equal(wsp_pubsub_subscribe(ps, name, strlen(name), a), 0);
  }
  assert_int_equal(wsp_pubsub_each_channel(ps, list_one, &l), 0);
  assert_int_equal(l.n, 103);
  assert_int_equal(l.total, 104);
  assert_int_equal((size_t)l.n, wsp_pubsub_channels(ps));
  for (i = 0; i < 100; i++) {
    char name[16];
    snprintf(name, sizeof(name), "c%d", i);
    assert_int_equal(wsp_pubsub_unsubscribe(ps, name, strlen(name), a), 0);
  }
  assert_int_equal(wsp_pubsub_unsubscribe(ps, S("x"), a), 0);
  memset(&l, 0, sizeof(l));
  assert_int_equal(wsp_pubsub_each_channel(ps, list_one, &l), 0);
  assert_int_equal(l.n, 3);
  /* each once; the order is the tables' */
  assert_non_null(strstr(l.text, "x=1 "));
  assert_non_null(strstr(l.text, "y.*=1 "));
  assert_non_null(strstr(l.text, "y.>=1 "));
  assert_int_equal(wsp_pubsub_each_channel(NULL, list_one, &l), WSP_ERR_INVAL);
  assert_int_equal(wsp_pubsub_each_channel(ps, NULL, &l), WSP_ERR_INVAL);
  wsp_pubsub_free(ps);
}

static void test_pubsub_invalid_patterns(void **state) {
  struct wsp_pubsub *ps;
  char a[] = "A";
  static const char *const bad[] = {"", "news.>.x", ">.a", "a..*", ".*",
                                    "*."};
  size_t i;
  (void)state;
  assert_int_equal(wsp_pubsub_new(&ps, NULL), 0);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(wsp_pubsub_subscribe(ps, S(bad[i]), a), WSP_ERR_INVAL);
  /* not wildcards: '*' or '>' inside a segment, empty exact segments */
  assert_int_equal(wsp_pubsub_subscribe(ps, S("a*b.c>"), a), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("a..b"), a), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S(">"), a), 0);
  assert_int_equal(wsp_pubsub_subscribe(ps, S("*"), a), 0);
  {
    struct got g;
    assert_int_equal(pub(ps, "x", &g), 2); /* '>' and '*' */
    assert_int_equal(pub(ps, "a*b.c>", &g), 2); /* itself and '>' */
  }
  wsp_pubsub_free(ps);
}

/* Subscriptions change while a publication is delivered. */
struct churn {
  struct wsp_pubsub *ps;
  char *subs[8];
  int delivered[8];
};

static void churn_deliver(void *sub, const char *pat, size_t len, void *ud) {
  struct churn *c = ud;
  int i = (int)((char *)sub - c->subs[0]);
  (void)pat;
  (void)len;
  c->delivered[i]++;
  if (i == 0) {
    /* remove one not yet visited, one visited, and itself; add one */
    assert_int_equal(wsp_pubsub_unsubscribe(c->ps, S("room"), c->subs[5]), 0);
    assert_int_equal(wsp_pubsub_unsubscribe(c->ps, S("room"), c->subs[0]), 0);
    assert_int_equal(wsp_pubsub_subscribe(c->ps, S("room"), c->subs[7]), 0);
    assert_int_equal(wsp_pubsub_unsubscribe(c->ps, S("r.>"), c->subs[6]), 0);
  }
}

static void test_pubsub_changes_during_delivery(void **state) {
  struct churn c;
  static char block[8];
  int i;
  long n;
  (void)state;
  memset(&c, 0, sizeof(c));
  for (i = 0; i < 8; i++)
    c.subs[i] = &block[i];
  assert_int_equal(wsp_pubsub_new(&c.ps, NULL), 0);
  for (i = 0; i < 6; i++)
    assert_int_equal(wsp_pubsub_subscribe(c.ps, S("room"), c.subs[i]), 0);
  assert_int_equal(wsp_pubsub_subscribe(c.ps, S("r.>"), c.subs[6]), 0);
  n = wsp_pubsub_publish(c.ps, S("room"), churn_deliver, &c);
  assert_int_equal(n, 5); /* 0,1,2,3,4; 5 removed first; 7 waits */
  assert_int_equal(c.delivered[5], 0);
  assert_int_equal(c.delivered[7], 0);
  memset(c.delivered, 0, sizeof(c.delivered));
  n = wsp_pubsub_publish(c.ps, S("room"), churn_deliver, &c);
  assert_int_equal(n, 5); /* 1,2,3,4,7 */
  assert_int_equal(c.delivered[7], 1);
  assert_int_equal(c.delivered[0], 0);
  assert_int_equal(wsp_pubsub_subscribers(c.ps, S("room")), 5);
  assert_int_equal(wsp_pubsub_channels(c.ps), 1); /* r.> went */
  wsp_pubsub_free(c.ps);
}

static void count_only(void *sub, const char *p, size_t l, void *ud) {
  (void)sub;
  (void)p;
  (void)l;
  (*(long *)ud)++;
}

static void test_pubsub_many_channels(void **state) {
  struct wsp_pubsub *ps;
  struct tfail fa;
  char name[64];
  static char subs[4];
  long i, seen = 0;
  (void)state;
  tfail_init(&fa, 0, 0);
  assert_int_equal(wsp_pubsub_new(&ps, &fa.mem), 0);
  for (i = 0; i < 100000; i++) {
    int n = snprintf(name, sizeof(name), "user.%ld.inbox", i);
    assert_int_equal(wsp_pubsub_subscribe(ps, name, (size_t)n, &subs[i % 4]),
                     0);
  }
  assert_int_equal(wsp_pubsub_subscribe(ps, S("user.*.inbox"), &subs[0]), 0);
  assert_int_equal(wsp_pubsub_channels(ps), 100001);
  for (i = 0; i < 100000; i += 997) {
    int n = snprintf(name, sizeof(name), "user.%ld.inbox", i);
    assert_int_equal(wsp_pubsub_publish(ps, name, (size_t)n, count_only, &seen),
                     2);
  }
  for (i = 0; i < 100000; i++) {
    int n = snprintf(name, sizeof(name), "user.%ld.inbox", i);
    assert_int_equal(
        wsp_pubsub_unsubscribe(ps, name, (size_t)n, &subs[i % 4]), 0);
  }
  assert_int_equal(wsp_pubsub_unsubscribe(ps, S("user.*.inbox"), &subs[0]),
                   0);
  assert_int_equal(wsp_pubsub_channels(ps), 0);
  wsp_pubsub_free(ps);
  assert_int_equal(fa.live, 0);
}

static void test_pubsub_allocation_failures(void **state) {
  long at;
  char a[] = "A", b[] = "B";
  (void)state;
  for (at = 1; at < 200; at++) {
    struct tfail fa;
    struct wsp_pubsub *ps;
    int rv;
    tfail_init(&fa, at, 0);
    if (wsp_pubsub_new(&ps, &fa.mem) != 0) {
      assert_int_equal(fa.live, 0);
      continue;
    }
    rv = wsp_pubsub_subscribe(ps, S("a.b.c.*"), a);
    assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
    rv = wsp_pubsub_subscribe(ps, S("a.b.c.d"), b);
    assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
    rv = wsp_pubsub_subscribe(ps, S("a.>"), b);
    assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
    {
      struct got g;
      long n = pub(ps, "a.b.c.d", &g);
      assert_true(n >= 0 || n == WSP_ERR_NOMEM);
    }
    wsp_pubsub_unsubscribe(ps, S("a.b.c.*"), a);
    wsp_pubsub_unsubscribe(ps, S("a.b.c.d"), b);
    wsp_pubsub_unsubscribe(ps, S("a.>"), b);
    assert_int_equal(wsp_pubsub_channels(ps), 0);
    wsp_pubsub_free(ps);
    assert_int_equal(fa.live, 0);
    if (fa.failures == 0)
      break;
  }
}

/* Fan-out with shared frames: one frame, many server connections, no
 * copy; every reference comes back once the queues drain. */
struct fan {
  struct wsp_frame *frame;
  int sent;
};

static void fan_deliver(void *sub, const char *p, size_t l, void *ud) {
  struct fan *f = ud;
  (void)p;
  (void)l;
  assert_int_equal(wsp_conn_send_frame(sub, f->frame), 0);
  f->sent++;
}

static void test_pubsub_shared_frames(void **state) {
  struct tfail fa;
  struct wsp_pubsub *ps;
  struct tsrv s[50];
  int i, k;
  (void)state;
  tfail_init(&fa, 0, 0);
  assert_int_equal(wsp_pubsub_new(&ps, &fa.mem), 0);
  for (i = 0; i < 50; i++) {
    tsrv_init(&s[i]);
    assert_int_equal(tsrv_new(&s[i], &fa.mem, 0), 0);
    assert_int_equal(tsrv_feed(&s[i], T_REQ, strlen(T_REQ)), 0);
    assert_int_equal(wsp_conn_get_state(s[i].c), WSP_STATE_OPEN);
    assert_int_equal(wsp_pubsub_subscribe(ps, S("bench"), s[i].c), 0);
  }
  for (k = 0; k < 3; k++) {
    struct fan f = {NULL, 0};
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "publication %d", k);
    assert_int_equal(
        wsp_frame_new(&f.frame, &fa.mem, WSP_OP_TEXT, msg, (size_t)n), 0);
    assert_int_equal(wsp_pubsub_publish(ps, S("bench"), fan_deliver, &f), 50);
    assert_int_equal(wsp_frame_size(f.frame), (size_t)n + 2);
    wsp_frame_unref(f.frame);
  }
  for (i = 0; i < 50; i++) {
    struct iovec iov[8];
    int n = wsp_conn_pending(s[i].c, iov, 8);
    /* three frames, three references into the same kind of buffer */
    assert_int_equal(n, 3);
    assert_memory_equal((uint8_t *)iov[1].iov_base + 2, "publication 1", 13);
    tsrv_drain(&s[i]);
    assert_int_equal(wsp_conn_queued_bytes(s[i].c), 0);
  }
  for (i = 0; i < 50; i++) {
    wsp_pubsub_unsubscribe(ps, S("bench"), s[i].c);
    tsrv_free(&s[i]);
  }
  wsp_pubsub_free(ps);
  assert_int_equal(fa.live, 0); /* every frame freed by its last holder */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pubsub_exact_and_wildcards),
      cmocka_unit_test(test_pubsub_invalid_patterns),
      cmocka_unit_test(test_pubsub_each_channel),
      cmocka_unit_test(test_pubsub_changes_during_delivery),
      cmocka_unit_test(test_pubsub_many_channels),
      cmocka_unit_test(test_pubsub_allocation_failures),
      cmocka_unit_test(test_pubsub_shared_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
