/*
 * Server-side subscriptions made while a client connects (here by
 * wsp_server_subscribe() in on_connect; test_token covers a token's
 * channels): reported in the connect result's subs map with the position
 * of channels with history, recovered from the connect command's subs
 * map by the rules of a subscribe (exactly the missed publications, or
 * recovered: false), bad entries refused with 107, a refused connect
 * leaving no subscription behind, later ones still pushed, and
 * allocation failures on the way.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp/evlog.h"
#include "wsp/server.h"

struct hub {
  struct wsp_server *srv;
  struct wsp_evlog *log;
  struct thub_cli c;
  int connects;   /* on_connect calls */
  int refuse;     /* on_connect answers this code */
  int sub_rc[3];  /* what wsp_server_subscribe() returned in on_connect */
  int unsub;      /* on_connect also subscribes and unsubscribes */
  int with_data;  /* "room" carries data for the client */
};

/* Channels named "nohist..." have no history; the others keep 10. */
static int history_for(const char *ch, size_t len,
                       struct wsp_evlog_retention *r, void *ud) {
  (void)r;
  (void)ud;
  return !(len >= 6 && memcmp(ch, "nohist", 6) == 0);
}

/* Every connection gets "room" (with history) and "nohist"; asking for
 * "room" twice is refused. */
static int on_connect(struct wsp_client *cl,
                      const struct wsp_connect_info *info, void *ud) {
  struct hub *h = ud;
  (void)info;
  h->connects++;
  if (h->with_data) {
    struct wsp_subscribe_opts o;
    memset(&o, 0, sizeof(o));
    o.data = "{\"k\":[true]}";
    o.len = strlen(o.data);
    h->sub_rc[0] = wsp_server_subscribe_with(cl, "room", &o);
  } else {
    h->sub_rc[0] = wsp_server_subscribe(cl, "room");
  }
  h->sub_rc[1] = wsp_server_subscribe(cl, "nohist");
  h->sub_rc[2] = wsp_server_subscribe(cl, "room");
  if (h->unsub) {
    /* taken back at once: the client never hears of it */
    assert_int_equal(wsp_server_subscribe(cl, "nohist.gone"), 0);
    assert_int_equal(wsp_server_unsubscribe(cl, "nohist.gone"), 0);
  }
  return h->refuse;
}

static void pump(struct hub *h) { thub_pump(&h->c, 1); }

static void say(struct hub *h, const char *text) {
  thub_say(&h->c, 1, 0, text);
}

static const char *L(struct hub *h) { return thub_lines(&h->c); }

/* A new connection (the old one, if any, is gone). */
static void reconnect(struct hub *h) {
  thub_cli_free(&h->c);
  thub_cli_open(&h->c, h->srv);
}
static void hub_open_mem(struct hub *h, const struct wsp_mem *smem) {
  struct wsp_server_callbacks scb;
  struct wsp_server_history hs;
  memset(h, 0, sizeof(*h));
  assert_int_equal(wsp_evlog_new(&h->log, NULL, 0), 0);
  memset(&scb, 0, sizeof(scb));
  scb.on_connect = on_connect;
  assert_int_equal(wsp_server_new(&h->srv, &scb, smem, 0, h), 0);
  memset(&hs, 0, sizeof(hs));
  hs.log = h->log;
  hs.retention.max_events = 10;
  hs.history_for = history_for;
  hs.recovery_max = 8;
  assert_int_equal(wsp_server_set_history(h->srv, &hs), 0);
  reconnect(h);
}

static void hub_open(struct hub *h) { hub_open_mem(h, NULL); }

static void hub_free(struct hub *h) {
  thub_cli_free(&h->c);
  wsp_server_free(h->srv);
  wsp_evlog_free(h->log);
}

static void publish_n(struct hub *h, const char *ch, int start, int n) {
  char d[16];
  int i;
  for (i = start; i < start + n; i++) {
    snprintf(d, sizeof(d), "%d", i);
    assert_true(wsp_server_publish(h->srv, ch, d, strlen(d), NULL) >= 0);
  }
  pump(h);
}

static void epoch_of(struct hub *h, const char *ch, char *out) {
  struct wsp_evlog_position pos;
  assert_int_equal(wsp_evlog_position(h->log, ch, strlen(ch), &pos), 0);
  strcpy(out, pos.epoch);
}

/* Fail unless what the client received is exactly the reply to connect
 * id, whose part from "subs" on is subs, then forget it. */
static void expect_connect(struct hub *h, unsigned id, const char *subs) {
  char want[1024];
  thub_expect(&h->c, thub_client_reply(want, sizeof(want), id, "connect",
                                       wsp_client_get_id(h->c.sc),
                                       ",\"ping\":25,\"pong\":true%s", subs));
}

/* Connect recovering "room" from offset (in epoch ep). */
static void connect_from(struct hub *h, uint64_t offset, const char *ep) {
  char cmd[256];
  snprintf(cmd, sizeof(cmd),
           "{\"connect\":{\"name\":\"js\",\"subs\":{\"other\":{\"recover\":"
           "true},\"room\":{\"recover\":true,\"offset\":%llu,\"epoch\":"
           "\"%s\"}}},\"id\":1}",
           (unsigned long long)offset, ep);
  say(h, cmd);
}

static void test_connect_subs_in_result(void **state) {
  struct hub h;
  char ep[64], want[512];
  (void)state;
  hub_open(&h);
  publish_n(&h, "room", 1, 2); /* before anyone listens: in history */
  /* outside on_connect and before connect: not yet */
  assert_int_equal(wsp_server_subscribe(h.c.sc, "early"), WSP_ERR_STATE);
  h.unsub = 1;
  say(&h, "{\"connect\":{},\"id\":1}");
  assert_int_equal(h.connects, 1);
  assert_int_equal(h.sub_rc[0], 0);
  assert_int_equal(h.sub_rc[1], 0);
  assert_int_equal(h.sub_rc[2], WSP_ERR_STATE); /* already subscribed */
  epoch_of(&h, "room", ep);
  /* one reply, no subscribe push; the position is the stream's top */
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":2},\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want); /* and nothing else */
  assert_int_equal(wsp_server_channels(h.srv), 2);
  /* live from the next offset */
  tbuf_reset(&h.c.lines);
  publish_n(&h, "room", 3, 1);
  publish_n(&h, "nohist", 1, 1);
  assert_string_equal(
      L(&h), "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":3,\"offset\":3}}}\n"
             "{\"push\":{\"channel\":\"nohist\",\"pub\":{\"data\":1}}}\n");
  /* made after the connect: a subscribe push, as before */
  tbuf_reset(&h.c.lines);
  assert_int_equal(wsp_server_subscribe(h.c.sc, "nohist.later"), 0);
  pump(&h);
  assert_string_equal(
      L(&h), "{\"push\":{\"channel\":\"nohist.later\",\"subscribe\":{}}}\n");
  hub_free(&h);
}

/* A server-side subscription's data reaches the client in the connect
 * result; when its stream loses state, the client cannot resubscribe to
 * it, so it is closed with 3010 to reconnect and recover (a client-side
 * one gets the unsubscribe push 2500: test_history). */
static void test_connect_subs_data_and_lost_state(void **state) {
  struct hub h;
  char ep[64], want[512];
  (void)state;
  hub_open(&h);
  h.with_data = 1;
  publish_n(&h, "room", 1, 2);
  say(&h, "{\"connect\":{},\"id\":1}");
  assert_int_equal(h.sub_rc[0], 0);
  epoch_of(&h, "room", ep);
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":2,\"data\":{\"k\":[true]}},"
           "\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want);
  tbuf_reset(&h.c.lines);
  /* the stream is lost: the next publication starts a new epoch */
  assert_int_equal(wsp_evlog_remove(h.log, "room", 4), 0);
  publish_n(&h, "room", 3, 1);
  assert_int_equal(h.c.close_code, 3010);
  assert_string_equal(L(&h), "");
  hub_free(&h);
}

static void test_connect_subs_recovery(void **state) {
  struct hub h;
  char ep[64], want[512];
  (void)state;
  hub_open(&h);
  say(&h, "{\"connect\":{},\"id\":1}");
  publish_n(&h, "room", 1, 3);
  epoch_of(&h, "room", ep);
  /* the connection goes at offset 3; five publications go by */
  reconnect(&h);
  publish_n(&h, "room", 4, 5);
  connect_from(&h, 3, ep);
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":3,\"was_recovering\":true,"
           "\"recovered\":true,\"publications\":[{\"data\":4,\"offset\":4},"
           "{\"data\":5,\"offset\":5},{\"data\":6,\"offset\":6},{\"data\":7,"
           "\"offset\":7},{\"data\":8,\"offset\":8}]},\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want);
  /* then the live ones: no gap, no duplicate */
  tbuf_reset(&h.c.lines);
  publish_n(&h, "room", 9, 1);
  assert_string_equal(
      L(&h), "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":9,\"offset\":9}}}\n");
  /* nothing missed: recovered, no publications */
  reconnect(&h);
  connect_from(&h, 9, ep);
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":9,\"was_recovering\":true,"
           "\"recovered\":true},\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want);
  hub_free(&h);
}

static void test_connect_subs_gap_not_recovered(void **state) {
  struct hub h;
  char ep[64], want[512];
  (void)state;
  hub_open(&h);
  say(&h, "{\"connect\":{},\"id\":1}");
  publish_n(&h, "room", 1, 2);
  epoch_of(&h, "room", ep);
  reconnect(&h);
  /* twelve missed: more than the stream keeps (10) and more than
   * recovery_max (8): recovered: false, nothing of it, the top */
  publish_n(&h, "room", 3, 12);
  connect_from(&h, 2, ep);
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":14,\"was_recovering\":true},"
           "\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want);
  /* live from the top on */
  tbuf_reset(&h.c.lines);
  publish_n(&h, "room", 15, 1);
  assert_string_equal(L(&h), "{\"push\":{\"channel\":\"room\",\"pub\":{"
                             "\"data\":15,\"offset\":15}}}\n");
  /* another epoch: not recovered either, even with nothing missed */
  reconnect(&h);
  connect_from(&h, 15, "not-the-epoch");
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":15,\"was_recovering\":true},"
           "\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want);
  /* a position beyond the top */
  reconnect(&h);
  connect_from(&h, 99, ep);
  expect_connect(&h, 1, want); /* the same: not recovered, the top */
  hub_free(&h);
}

static void test_connect_subs_bad_entries(void **state) {
  static const char *const bad[] = {
      "[]",
      "1",
      "{\"room\":1}",
      "{\"room\":[]}",
      "{\"other\":{\"offset\":\"3\"}}",
      "{\"room\":{\"offset\":-1}}",
      "{\"room\":{\"offset\":1.5}}",
      "{\"room\":{\"epoch\":5}}",
      "{\"room\":{\"epoch\":\"a\\u0000b\"}}",
      "{\"room\":{\"recover\":\"yes\"}}",
  };
  struct hub h;
  char cmd[256], ep[64], want[512];
  size_t i;
  (void)state;
  hub_open(&h);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tbuf_reset(&h.c.lines);
    snprintf(cmd, sizeof(cmd), "{\"connect\":{\"subs\":%s},\"id\":1}", bad[i]);
    say(&h, cmd);
    assert_string_equal(L(&h), "{\"id\":1,\"error\":{\"code\":107,"
                               "\"message\":\"bad request\"}}\n");
    assert_int_equal(h.c.close_code, 0);
  }
  /* refused before the application heard of it */
  assert_int_equal(h.connects, 0);
  assert_int_equal(wsp_server_channels(h.srv), 0);
  /* null entries, null maps and unknown fields are nothing */
  tbuf_reset(&h.c.lines);
  say(&h, "{\"connect\":{\"subs\":{\"room\":null,\"x\":{\"flag\":\"z\","
          "\"what\":1}}},\"id\":1}");
  epoch_of(&h, "room", ep);
  /* no recovery asked: no was_recovering */
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\"},\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 1, want);
  reconnect(&h);
  say(&h, "{\"connect\":{\"subs\":null},\"id\":1}");
  expect_connect(&h, 1, want);
  hub_free(&h);
}

static void test_connect_subs_refused_connect(void **state) {
  struct hub h;
  char ep[64], want[512];
  size_t clients = 9;
  (void)state;
  hub_open(&h);
  h.refuse = 103;
  say(&h, "{\"connect\":{},\"id\":1}");
  assert_string_equal(L(&h), "{\"id\":1,\"error\":{\"code\":103,"
                             "\"message\":\"permission denied\"}}\n");
  assert_int_equal(h.sub_rc[0], 0);
  /* the subscriptions it made are gone with the connect */
  assert_int_equal(wsp_server_channels(h.srv), 0);
  assert_int_equal(wsp_server_presence_stats(h.srv, "room", &clients, NULL),
                   0);
  assert_int_equal(clients, 0);
  publish_n(&h, "room", 1, 1);
  /* still only the error: no pub */
  assert_string_equal(L(&h), "{\"id\":1,\"error\":{\"code\":103,"
                             "\"message\":\"permission denied\"}}\n");
  /* and a second connect gets them */
  h.refuse = 0;
  tbuf_reset(&h.c.lines);
  say(&h, "{\"connect\":{},\"id\":2}");
  epoch_of(&h, "room", ep);
  snprintf(want, sizeof(want),
           ",\"subs\":{\"room\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":1},\"nohist\":{}}}}\n",
           ep);
  expect_connect(&h, 2, want);
  assert_int_equal(wsp_server_channels(h.srv), 2);
  hub_free(&h);
}

/* Check what the client received in a round of the test below, exactly:
 * when an allocation failed (only then: may_fail), nothing and a close
 * 3004, or the connect reply whose subs map has the subscriptions that
 * on_connect made, in order (a failed one is not there, and then the
 * second "room" is made), "room" recovered, then publication 7 only if
 * "room" was told its position. */
static void expect_round(struct hub *h, const char *ep, int may_fail) {
  static const char *const names[] = {"room", "nohist", "room"};
  char subs[768], room[256];
  size_t n = 0;
  int i, in_room = 0;
  if (may_fail && !*L(h) && h->c.close_code == 3004)
    return;
  snprintf(room, sizeof(room),
           "{\"recoverable\":true,\"positioned\":true,\"epoch\":\"%s\","
           "\"offset\":3,\"was_recovering\":true,\"recovered\":true,"
           "\"publications\":[{\"data\":4,\"offset\":4},{\"data\":5,"
           "\"offset\":5},{\"data\":6,\"offset\":6}]}",
           ep);
  n += (size_t)snprintf(subs + n, sizeof(subs) - n, ",\"subs\":{");
  for (i = 0; i < 3; i++) {
    if (h->sub_rc[i] != 0)
      continue;
    in_room |= i != 1;
    n += (size_t)snprintf(subs + n, sizeof(subs) - n, "%s\"%s\":%s",
                          subs[n - 1] == '{' ? "" : ",", names[i],
                          i == 1 ? "{}" : room);
  }
  assert_true(n + 64 < sizeof(subs));
  snprintf(subs + n, sizeof(subs) - n, "}}}\n%s",
           in_room ? "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":7,"
                     "\"offset\":7}}}\n"
                   : "");
  assert_true(may_fail || (h->sub_rc[0] == 0 && h->sub_rc[1] == 0));
  expect_connect(h, 1, subs);
  assert_int_equal(h->c.close_code, 0);
}

static void test_connect_subs_allocation_failures(void **state) {
  long at;
  (void)state;
  for (at = 1; at < 400; at++) {
    struct tfail f;
    struct hub h;
    char ep[64];
    tfail_init(&f, 0, 0);
    hub_open_mem(&h, &f.mem);
    say(&h, "{\"connect\":{},\"id\":1}");
    publish_n(&h, "room", 1, 3);
    epoch_of(&h, "room", ep);
    reconnect(&h);
    publish_n(&h, "room", 4, 3);
    f.fail_at = f.calls + at;
    connect_from(&h, 3, ep);
    publish_n(&h, "room", 7, 1);
    /* no publication of a subscription whose position was never told */
    expect_round(&h, ep, f.failures != 0);
    if (f.failures == 0) {
      hub_free(&h);
      assert_int_equal(f.live, 0);
      break;
    }
    hub_free(&h);
    assert_int_equal(f.live, 0);
    assert_int_equal(f.bad_frees, 0);
  }
  assert_true(at > 5 && at < 400); /* the paths did allocate */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_subs_in_result),
      cmocka_unit_test(test_connect_subs_data_and_lost_state),
      cmocka_unit_test(test_connect_subs_recovery),
      cmocka_unit_test(test_connect_subs_gap_not_recovered),
      cmocka_unit_test(test_connect_subs_bad_entries),
      cmocka_unit_test(test_connect_subs_refused_connect),
      cmocka_unit_test(test_connect_subs_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
