/*
 * Channels and push over the protocol: several in-memory clients on one
 * hub; subscribe, publish, wildcards, join/leave, presence, deferred
 * authorisation, server-side subscriptions, pushes to users and to all,
 * and a slow consumer closed with 3008 while the others keep up.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp/push.h"
#include "wsp/server.h"

#define NC 4

struct hub {
  struct wsp_server *srv;
  struct thub_cli c[NC];
  uint64_t held_sub;
  int defer, deny;
};

static struct hub *HB;

static int on_connect(struct wsp_client *cl, const struct wsp_connect_info *ci,
                      void *ud) {
  char user[32];
  (void)ud;
  /* the test names its users in the connect data: "u1" */
  snprintf(user, sizeof(user), "%.*s", (int)(ci->data.len - 2),
           ci->data.ptr + 1);
  wsp_client_set_user(cl, user);
  return 0;
}

static int on_subscribe(struct wsp_client *cl, uint64_t sub,
                        const struct wsp_subscribe_info *info, void *ud) {
  struct hub *h = ud;
  (void)cl;
  if (info->channel.len >= 7 && memcmp(info->channel.ptr, "denied:", 7) == 0)
    return 103;
  if (info->channel.len >= 7 && memcmp(info->channel.ptr, "broken:", 7) == 0)
    return -1; /* the application's own failure */
  if (h->defer) {
    h->held_sub = sub;
    return WSP_ERR_AGAIN;
  }
  return 0;
}

static void pump(struct hub *h) { thub_pump(h->c, NC); }

static void say(struct hub *h, int i, const char *text) {
  thub_say(h->c, NC, i, text);
}

static const char *L(struct hub *h, int i) { return thub_lines(&h->c[i]); }

static void clear(struct hub *h) { thub_clear(h->c, NC); }

/* The info object the hub writes for client i: user and client id. */
static void info_of(struct hub *h, int i, char *out, size_t cap) {
  snprintf(out, cap, "{\"user\":\"u%d\",\"client\":\"%s\"}", i == 2 ? 1 : i,
           wsp_client_get_id(h->c[i].sc));
}

/* Fail unless what client k received is exactly the presence reply id
 * listing the n clients who[], then forget it. The map's order is not
 * promised (wsp_pubsub_each), so each entry is matched whole, in any
 * order, and nothing else may be there. */
static void expect_presence(struct hub *h, int k, unsigned id, const int *who,
                            int n) {
  char head[64], ent[NC][160], info[128];
  const char *p = L(h, k);
  int used[NC] = {0}, i, j;
  snprintf(head, sizeof(head), "{\"id\":%u,\"presence\":{\"presence\":{", id);
  for (i = 0; i < n; i++) {
    info_of(h, who[i], info, sizeof(info));
    snprintf(ent[i], sizeof(ent[i]), "\"%s\":%s",
             wsp_client_get_id(h->c[who[i]].sc), info);
  }
  if (strncmp(p, head, strlen(head)) != 0)
    fail_msg("presence reply expected, got: %s", L(h, k));
  p += strlen(head);
  for (i = 0; i < n; i++) {
    for (j = 0; j < n; j++)
      if (!used[j] && strncmp(p, ent[j], strlen(ent[j])) == 0)
        break;
    if (j == n)
      fail_msg("presence entry %d not one of those expected: %s", i, L(h, k));
    used[j] = 1;
    p += strlen(ent[j]);
    if (i + 1 < n && *p++ != ',')
      fail_msg("presence entries not separated by ',': %s", L(h, k));
  }
  assert_string_equal(p, "}}}\n");
  tbuf_reset(&h->c[k].lines);
}

static void hub_open(struct hub *h, unsigned flags) {
  struct wsp_server_callbacks scb;
  int i;
  memset(h, 0, sizeof(*h));
  HB = h;
  memset(&scb, 0, sizeof(scb));
  scb.on_connect = on_connect;
  scb.on_subscribe = on_subscribe;
  assert_int_equal(wsp_server_new(&h->srv, &scb, NULL, 0, h), 0);
  assert_int_equal(wsp_server_set_channel_flags(h->srv, flags), 0);
  for (i = 0; i < NC; i++) {
    char cmd[96], want[160];
    thub_cli_open(&h->c[i], h->srv);
    /* users: u0, u1, u1, u3 (clients 1 and 2 are one user) */
    snprintf(cmd, sizeof(cmd), "{\"connect\":{\"data\":\"u%d\"},\"id\":1}",
             i == 2 ? 1 : i);
    say(h, i, cmd);
    thub_expect(&h->c[i], thub_client_reply(want, sizeof(want), 1, "connect",
                                            wsp_client_get_id(h->c[i].sc),
                                            ",\"ping\":25,\"pong\":true}}\n"));
  }
  clear(h);
}

static void hub_free(struct hub *h) {
  int i;
  for (i = 0; i < NC; i++)
    thub_cli_free(&h->c[i]);
  wsp_server_free(h->srv);
}

static void test_channels_subscribe_and_publish(void **state) {
  struct hub h;
  struct wsp_server_stats st;
  (void)state;
  hub_open(&h, WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  assert_string_equal(L(&h, 0), "{\"id\":2,\"subscribe\":{}}\n");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  clear(&h);
  assert_int_equal(wsp_server_publish(h.srv, "news", "{\"t\":\r\n1}", 9,
                                      "{\"user\":\"srv\"}"),
                   2);
  pump(&h);
  assert_string_equal(L(&h, 0), "{\"push\":{\"channel\":\"news\",\"pub\":{"
                                "\"data\":{\"t\":1},\"info\":{\"user\":"
                                "\"srv\"}}}}\n");
  assert_string_equal(L(&h, 1), L(&h, 0));
  assert_string_equal(L(&h, 2), "");
  clear(&h);
  /* errors */
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news\"},\"id\":3}");
  thub_expect(&h.c[0], "{\"id\":3,\"error\":{\"code\":105,\"message\":"
                       "\"already subscribed\"}}\n");
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news.*\"},\"id\":4}");
  thub_expect(&h.c[0], "{\"id\":4,\"error\":{\"code\":103,\"message\":"
                       "\"permission denied\"}}\n");
  say(&h, 0, "{\"subscribe\":{\"channel\":\"denied:x\"},\"id\":5}");
  thub_expect(&h.c[0], "{\"id\":5,\"error\":{\"code\":103,\"message\":"
                       "\"permission denied\"}}\n");
  say(&h, 0, "{\"publish\":{\"channel\":\"news\",\"data\":1},\"id\":6}");
  thub_expect(&h.c[0], "{\"id\":6,\"error\":{\"code\":103,\"message\":"
                       "\"permission denied\"}}\n");
  {
    char big[400], cmd[512];
    memset(big, 'x', 300);
    big[300] = '\0';
    snprintf(cmd, sizeof(cmd), "{\"subscribe\":{\"channel\":\"%s\"},\"id\":7}",
             big);
    say(&h, 0, cmd);
    thub_expect(&h.c[0], "{\"id\":7,\"error\":{\"code\":107,\"message\":"
                         "\"bad request\"}}\n");
  }
  wsp_server_set_limit(h.srv, WSP_SERVER_MAX_SUBSCRIPTIONS, 1);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"other\"},\"id\":8}");
  thub_expect(&h.c[0], "{\"id\":8,\"error\":{\"code\":106,\"message\":"
                       "\"limit exceeded\"}}\n");
  say(&h, 0, "{\"unsubscribe\":{\"channel\":\"news\"},\"id\":9}");
  thub_expect(&h.c[0], "{\"id\":9,\"unsubscribe\":{}}\n");
  clear(&h);
  assert_int_equal(wsp_server_publish(h.srv, "news", "2", 1, NULL), 1);
  pump(&h);
  assert_string_equal(L(&h, 0), "");
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.publications, 2);
  assert_int_equal(st.deliveries, 3);
  assert_int_equal(st.subscriptions, 1);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"\"},\"id\":10}");
  assert_int_equal(h.c[0].close_code, 3501);
  hub_free(&h);
}

static void test_channels_wildcards_and_client_publish(void **state) {
  struct hub h;
  char info[128], want[512];
  (void)state;
  hub_open(&h, WSP_CHANNEL_WILDCARDS | WSP_CHANNEL_PUBLISH);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news.*\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"news.sport\"},\"id\":2}");
  say(&h, 2, "{\"subscribe\":{\"channel\":\"news.>\"},\"id\":2}");
  clear(&h);
  /* client 3 publishes without being subscribed */
  say(&h, 3, "{\"publish\":{\"channel\":\"news.sport\",\"data\":\"go\"},"
             "\"id\":2}");
  thub_expect(&h.c[3], "{\"id\":2,\"publish\":{}}\n");
  info_of(&h, 3, info, sizeof(info));
  /* a wildcard subscriber is told the channel; an exact one is not */
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"news.*\",\"pub\":{\"data\":\"go\","
           "\"info\":%s,\"channel\":\"news.sport\"}}}\n",
           info);
  thub_expect(&h.c[0], want);
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"news.sport\",\"pub\":{\"data\":\"go\","
           "\"info\":%s}}}\n",
           info);
  thub_expect(&h.c[1], want);
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"news.>\",\"pub\":{\"data\":\"go\","
           "\"info\":%s,\"channel\":\"news.sport\"}}}\n",
           info);
  thub_expect(&h.c[2], want);
  say(&h, 3, "{\"publish\":{\"channel\":\"news.*\",\"data\":1},\"id\":3}");
  thub_expect(&h.c[3], "{\"id\":3,\"error\":{\"code\":107,\"message\":"
                       "\"bad request\"}}\n");
  /* a pattern the registry cannot take is a bad request, not a retry
   * (no "temporary") */
  say(&h, 3, "{\"subscribe\":{\"channel\":\"a.>.b\"},\"id\":4}");
  thub_expect(&h.c[3], "{\"id\":4,\"error\":{\"code\":107,\"message\":"
                       "\"bad request\"}}\n");
  assert_int_equal(wsp_server_subscribe(h.c[3].sc, "a..*"), WSP_ERR_INVAL);
  hub_free(&h);
}

/* wsp_server_find_client: one connection of a user by its id. */
static void test_channels_find_client(void **state) {
  struct hub h;
  char id0[64];
  (void)state;
  hub_open(&h, 0);
  snprintf(id0, sizeof(id0), "%s", wsp_client_get_id(h.c[0].sc));
  assert_true(id0[0] != '\0');
  assert_ptr_equal(wsp_server_find_client(h.srv, "u0", id0), h.c[0].sc);
  assert_ptr_equal(
      wsp_server_find_client(h.srv, "u1", wsp_client_get_id(h.c[1].sc)),
      h.c[1].sc);
  /* another user's connection, an unknown id, no id */
  assert_null(wsp_server_find_client(h.srv, "u1", id0));
  assert_null(wsp_server_find_client(h.srv, "u0", "nope"));
  assert_null(wsp_server_find_client(h.srv, "u0", ""));
  assert_null(wsp_server_find_client(NULL, "u0", id0));
  assert_null(wsp_server_find_client(h.srv, NULL, id0));
  assert_null(wsp_server_find_client(h.srv, "u0", NULL));
  hub_free(&h);
}

static void test_channels_join_leave_presence(void **state) {
  static const int room[] = {0, 1, 2};
  struct hub h;
  char info0[128], info1[128], want[768];
  (void)state;
  hub_open(&h, WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"room\",\"join_leave\":true},"
             "\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"room\",\"join_leave\":true},"
             "\"id\":2}");
  info_of(&h, 0, info0, sizeof(info0));
  info_of(&h, 1, info1, sizeof(info1));
  /* as in Centrifuge, each is told of its own join too, after its reply */
  snprintf(want, sizeof(want),
           "{\"id\":2,\"subscribe\":{}}\n"
           "{\"push\":{\"channel\":\"room\",\"join\":{\"info\":%s}}}\n"
           "{\"push\":{\"channel\":\"room\",\"join\":{\"info\":%s}}}\n",
           info0, info1);
  thub_expect(&h.c[0], want);
  snprintf(want, sizeof(want),
           "{\"id\":2,\"subscribe\":{}}\n"
           "{\"push\":{\"channel\":\"room\",\"join\":{\"info\":%s}}}\n",
           info1);
  thub_expect(&h.c[1], want);
  say(&h, 2, "{\"subscribe\":{\"channel\":\"room\"},\"id\":2}");
  clear(&h);
  say(&h, 0, "{\"presence_stats\":{\"channel\":\"room\"},\"id\":3}");
  assert_string_equal(L(&h, 0), "{\"id\":3,\"presence_stats\":{"
                                "\"num_clients\":3,\"num_users\":2}}\n");
  clear(&h);
  say(&h, 0, "{\"presence\":{\"channel\":\"room\"},\"id\":4}");
  expect_presence(&h, 0, 4, room, 3);
  say(&h, 3, "{\"presence\":{\"channel\":\"room\"},\"id\":2}");
  thub_expect(&h.c[3], "{\"id\":2,\"error\":{\"code\":103,\"message\":"
                       "\"permission denied\"}}\n"); /* not subscribed */
  {
    size_t nc = 0, nu = 0;
    assert_int_equal(wsp_server_presence_stats(h.srv, "room", &nc, &nu), 0);
    assert_int_equal(nc, 3);
    assert_int_equal(nu, 2);
  }
  clear(&h);
  /* leave on disconnect, seen by the others that asked */
  assert_int_equal(wsp_conn_close(h.c[1].cc, 1000, NULL, 0), 0);
  pump(&h);
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"room\",\"leave\":{\"info\":%s}}}\n",
           info1);
  thub_expect(&h.c[0], want);
  assert_string_equal(L(&h, 2), "");
  hub_free(&h);
}

static void test_channels_deferred_authorisation(void **state) {
  struct hub h;
  (void)state;
  hub_open(&h, WSP_CHANNEL_PRESENCE);
  h.defer = 1;
  say(&h, 0, "{\"subscribe\":{\"channel\":\"later\"},\"id\":2}");
  assert_string_equal(L(&h, 0), "");
  assert_int_equal(wsp_server_subscribe_answer(h.srv, h.held_sub, 0, 0,
                                               "{\"role\":\"x\"}"),
                   0);
  pump(&h);
  assert_string_equal(L(&h, 0), "{\"id\":2,\"subscribe\":{}}\n");
  assert_int_equal(wsp_server_subscribe_answer(h.srv, h.held_sub, 0, 0, NULL),
                   WSP_ERR_NOT_FOUND);
  say(&h, 1, "{\"subscribe\":{\"channel\":\"later\"},\"id\":2}");
  assert_int_equal(wsp_server_subscribe_answer(h.srv, h.held_sub, 103, 0,
                                               NULL),
                   0);
  pump(&h);
  thub_expect(&h.c[1], "{\"id\":2,\"error\":{\"code\":103,\"message\":"
                       "\"permission denied\"}}\n");
  /* a handle is not an RPC call */
  assert_int_equal(wsp_server_subscribe_answer(h.srv, 5, 0, 0, NULL),
                   WSP_ERR_INVAL);
  say(&h, 2, "{\"subscribe\":{\"channel\":\"later\"},\"id\":2}");
  wsp_server_tick(h.srv, 30000);
  pump(&h);
  /* the timeout, then the ping that the 30 s tick also brings */
  thub_expect(&h.c[2], "{\"id\":2,\"error\":{\"code\":100,\"message\":"
                       "\"timeout\",\"temporary\":true}}\n{}\n");
  /* a failure of on_subscribe (negative), or 100 answered: temporary, so
   * that SDKs try again, as for the other callbacks */
  h.defer = 0;
  say(&h, 2, "{\"subscribe\":{\"channel\":\"broken:x\"},\"id\":3}");
  thub_expect(&h.c[2], "{\"id\":3,\"error\":{\"code\":100,\"message\":"
                       "\"internal server error\",\"temporary\":true}}\n");
  h.defer = 1;
  say(&h, 2, "{\"subscribe\":{\"channel\":\"later2\"},\"id\":4}");
  assert_int_equal(wsp_server_subscribe_answer(h.srv, h.held_sub, 100, 0, NULL),
                   0);
  pump(&h);
  thub_expect(&h.c[2], "{\"id\":4,\"error\":{\"code\":100,\"message\":"
                       "\"internal server error\",\"temporary\":true}}\n");
  hub_free(&h);
}

static void test_channels_server_side_and_push(void **state) {
  struct hub h;
  const char *group[] = {"u0", "u3"};
  (void)state;
  hub_open(&h, WSP_CHANNEL_PRESENCE);
  assert_int_equal(wsp_server_subscribe_user(h.srv, "u1", "alerts"), 2);
  pump(&h);
  assert_string_equal(L(&h, 1), "{\"push\":{\"channel\":\"alerts\","
                                "\"subscribe\":{}}}\n");
  assert_string_equal(L(&h, 2), L(&h, 1));
  assert_int_equal(wsp_server_publish(h.srv, "alerts", "1", 1, NULL), 2);
  assert_int_equal(wsp_server_unsubscribe(h.c[2].sc, "alerts"), 0);
  clear(&h);
  pump(&h);
  /* exact bytes: a stray byte after the JSON once broke clients */
  assert_string_equal(
      L(&h, 2), "{\"push\":{\"channel\":\"alerts\",\"pub\":{\"data\":1}}}\n"
                "{\"push\":{\"channel\":\"alerts\",\"unsubscribe\":"
                "{\"code\":2000,\"reason\":\"server unsubscribe\"}}}\n");
  clear(&h);
  assert_int_equal(wsp_push_user(h.srv, "u1", "{\"hi\":1}", 8), 2);
  pump(&h);
  assert_string_equal(L(&h, 1), "{\"push\":{\"message\":{\"data\":{\"hi\":1}}}}\n");
  assert_string_equal(L(&h, 2), L(&h, 1));
  assert_string_equal(L(&h, 0), "");
  assert_int_equal(wsp_push_users(h.srv, group, 2, "2", 1), 2);
  assert_int_equal(wsp_push_broadcast(h.srv, "3", 1), NC);
  assert_int_equal(wsp_push_user(h.srv, "nobody", "3", 1), 0);
  assert_int_equal(wsp_push_broadcast(h.srv, "{x", 2), WSP_ERR_JSON);
  pump(&h);
  thub_expect(&h.c[3], "{\"push\":{\"message\":{\"data\":2}}}\n"
                       "{\"push\":{\"message\":{\"data\":3}}}\n");
  assert_int_equal(wsp_server_disconnect_user(h.srv, "u1", 3503, "bye"), 2);
  pump(&h);
  assert_int_equal(h.c[1].close_code, 3503);
  assert_int_equal(h.c[2].close_code, 3503);
  assert_int_equal(h.c[0].close_code, 0);
  hub_free(&h);
}

static void test_channels_subscribe_with_data(void **state) {
  struct hub h;
  struct wsp_subscribe_opts o;
  char want[256];
  (void)state;
  hub_open(&h, WSP_CHANNEL_PRESENCE);
  memset(&o, 0, sizeof(o));
  o.data = "{\"a\":[1,2]}";
  o.len = 11;
  o.chan_info = "{\"seat\":7}";
  assert_int_equal(wsp_server_subscribe_user_with(h.srv, "u1", "room", &o), 2);
  assert_int_equal(wsp_server_subscribe_with(h.c[0].sc, "room", NULL), 0);
  pump(&h);
  thub_expect(&h.c[1], "{\"push\":{\"channel\":\"room\",\"subscribe\":"
                       "{\"data\":{\"a\":[1,2]}}}}\n");
  thub_expect(&h.c[2], "{\"push\":{\"channel\":\"room\",\"subscribe\":"
                       "{\"data\":{\"a\":[1,2]}}}}\n");
  thub_expect(&h.c[0], "{\"push\":{\"channel\":\"room\",\"subscribe\":{}}}\n");
  /* the channel info is the subscription's, in presence */
  assert_int_equal(wsp_server_subscribe_with(h.c[3].sc, "solo", &o), 0);
  pump(&h);
  thub_expect(&h.c[3], "{\"push\":{\"channel\":\"solo\",\"subscribe\":"
                       "{\"data\":{\"a\":[1,2]}}}}\n");
  say(&h, 3, "{\"presence\":{\"channel\":\"solo\"},\"id\":2}");
  snprintf(want, sizeof(want),
           "{\"id\":2,\"presence\":{\"presence\":{\"%s\":{\"user\":\"u3\","
           "\"client\":\"%s\",\"chan_info\":{\"seat\":7}}}}}\n",
           wsp_client_get_id(h.c[3].sc), wsp_client_get_id(h.c[3].sc));
  thub_expect(&h.c[3], want);
  clear(&h);
  /* bad input: refused, nothing subscribed */
  o.data = "{x";
  o.len = 2;
  assert_int_equal(wsp_server_subscribe_with(h.c[3].sc, "other", &o),
                   WSP_ERR_JSON);
  assert_int_equal(wsp_server_subscribe_user_with(h.srv, "u3", "other", &o),
                   WSP_ERR_JSON);
  o.data = NULL;
  o.len = 3;
  assert_int_equal(wsp_server_subscribe_with(h.c[3].sc, "other", &o),
                   WSP_ERR_INVAL);
  o.len = 0;
  o.chan_info = "nope";
  assert_int_equal(wsp_server_subscribe_with(h.c[3].sc, "other", &o),
                   WSP_ERR_JSON);
  pump(&h);
  assert_string_equal(L(&h, 3), "");
  /* the same channel twice */
  o.chan_info = NULL;
  assert_int_equal(wsp_server_subscribe_with(h.c[0].sc, "room", &o),
                   WSP_ERR_STATE);
  hub_free(&h);
}

struct seen {
  char names[8][32];
  size_t clients[8];
  int n;
};

static void seen_one(const char *ch, size_t len, size_t clients, void *ud) {
  struct seen *s = ud;
  assert_true(s->n < 8 && len < 32);
  memcpy(s->names[s->n], ch, len);
  s->names[s->n][len] = '\0';
  s->clients[s->n++] = clients;
}

static size_t seen_clients(const struct seen *s, const char *name) {
  int i;
  for (i = 0; i < s->n; i++)
    if (strcmp(s->names[i], name) == 0)
      return s->clients[i];
  return 0;
}

static void test_channels_each_channel(void **state) {
  struct hub h;
  struct seen s;
  (void)state;
  hub_open(&h, WSP_CHANNEL_PRESENCE | WSP_CHANNEL_WILDCARDS);
  memset(&s, 0, sizeof(s));
  assert_int_equal(wsp_server_each_channel(h.srv, seen_one, &s), 0);
  assert_int_equal(s.n, 0);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"a\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"a\"},\"id\":2}");
  say(&h, 2, "{\"subscribe\":{\"channel\":\"b.*\"},\"id\":2}");
  assert_int_equal(wsp_server_subscribe(h.c[3].sc, "c"), 0);
  assert_int_equal(wsp_server_each_channel(h.srv, seen_one, &s), 0);
  assert_int_equal(s.n, 3);
  assert_int_equal(seen_clients(&s, "a"), 2);
  assert_int_equal(seen_clients(&s, "b.*"), 1);
  assert_int_equal(seen_clients(&s, "c"), 1);
  assert_int_equal(wsp_server_channels(h.srv), 3);
  /* gone with the last subscriber */
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"b.*\"},\"id\":3}");
  memset(&s, 0, sizeof(s));
  assert_int_equal(wsp_server_each_channel(h.srv, seen_one, &s), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(seen_clients(&s, "b.*"), 0);
  assert_int_equal(wsp_server_each_channel(NULL, seen_one, &s), WSP_ERR_INVAL);
  assert_int_equal(wsp_server_each_channel(h.srv, NULL, &s), WSP_ERR_INVAL);
  hub_free(&h);
}

static void test_channels_refresh(void **state) {
  struct hub h;
  uint64_t now;
  (void)state;
  hub_open(&h, 0);
  now = 1000;
  assert_int_equal(wsp_server_tick(h.srv, now), 0);
  assert_int_equal(wsp_client_refresh(h.c[0].sc, now + 100000), 0);
  pump(&h);
  thub_expect(&h.c[0],
              "{\"push\":{\"refresh\":{\"expires\":true,\"ttl\":100}}}\n");
  assert_int_equal(wsp_client_refresh(h.c[0].sc, 0), 0);
  pump(&h);
  thub_expect(&h.c[0], "{\"push\":{\"refresh\":{}}}\n");
  /* every connection of a user; one not in the future closes 3005 */
  assert_int_equal(wsp_server_refresh_user(h.srv, "u1", now + 5000), 2);
  pump(&h);
  thub_expect(&h.c[1],
              "{\"push\":{\"refresh\":{\"expires\":true,\"ttl\":5}}}\n");
  thub_expect(&h.c[2],
              "{\"push\":{\"refresh\":{\"expires\":true,\"ttl\":5}}}\n");
  assert_int_equal(wsp_server_refresh_user(h.srv, "nobody", 0), 0);
  assert_int_equal(wsp_server_refresh_user(h.srv, NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_client_refresh(h.c[3].sc, now), 0);
  pump(&h);
  assert_int_equal(h.c[3].close_code, 3005);
  assert_int_equal(wsp_client_refresh(NULL, 0), WSP_ERR_INVAL);
  hub_free(&h);
}

static void test_channels_slow_consumer(void **state) {
  struct hub h;
  struct wsp_server_stats st;
  struct tbuf want;
  char data[1024], line[1100];
  int i, n;
  const char *p;
  (void)state;
  hub_open(&h, 0);
  for (i = 0; i < NC; i++)
    say(&h, i, "{\"subscribe\":{\"channel\":\"feed\"},\"id\":2}");
  /* small caps for this test, on every open connection */
  for (i = 0; i < NC; i++)
    wsp_conn_set_limit(wsp_client_get_conn(h.c[i].sc), WSP_LIMIT_MAX_QUEUED,
                       16384);
  clear(&h);
  h.c[3].paused = 1; /* stops reading */
  memset(data, 'a', sizeof(data));
  data[0] = '"';
  data[1000] = '"';
  for (i = 0; i < 100; i++) {
    wsp_server_publish(h.srv, "feed", data, 1001, NULL);
    pump(&h);
  }
  for (i = 0; i < 3; i++)
    assert_int_equal(h.c[i].close_code, 0);
  /* everyone else got all 100, and nothing else */
  snprintf(line, sizeof(line),
           "{\"push\":{\"channel\":\"feed\",\"pub\":{\"data\":%.1001s}}}\n",
           data);
  tbuf_init(&want);
  for (i = 0; i < 100; i++)
    tbuf_puts(&want, line);
  tbuf_append(&want, "", 1);
  for (i = 0; i < 3; i++)
    thub_expect(&h.c[i], (const char *)want.data);
  tbuf_free(&want);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.slow_closes, 1);
  /* the slow one resumes reading: its data, then a 3008 close frame */
  h.c[3].paused = 0;
  pump(&h);
  assert_int_equal(h.c[3].close_code, 3008);
  for (p = L(&h, 3), n = 0; strncmp(p, line, strlen(line)) == 0; n++)
    p += strlen(line);
  assert_string_equal(p, "");
  assert_true(n >= 1 && n < 100);
  hub_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_channels_subscribe_and_publish),
      cmocka_unit_test(test_channels_wildcards_and_client_publish),
      cmocka_unit_test(test_channels_join_leave_presence),
      cmocka_unit_test(test_channels_find_client),
      cmocka_unit_test(test_channels_deferred_authorisation),
      cmocka_unit_test(test_channels_server_side_and_push),
      cmocka_unit_test(test_channels_slow_consumer),
      cmocka_unit_test(test_channels_subscribe_with_data),
      cmocka_unit_test(test_channels_each_channel),
      cmocka_unit_test(test_channels_refresh),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
