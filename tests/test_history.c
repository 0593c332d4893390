/*
 * Channel history on the hub (wsp_server_set_history): offsets in pub
 * pushes, positions in subscribe results, the history command and its
 * errors, subscribe with recovery (exactly the missed publications, or
 * recovered: false, never a part), the unsubscribe push 2500 when a live
 * stream changes epoch, nothing acknowledged that was not stored, and
 * allocation failures on every path.
 */
#include "helpers.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp/evlog.h"
#include "wsp/server.h"

#define NC 3

struct hub {
  struct wsp_server *srv;
  struct wsp_evlog *log;
  struct tfail fail; /* the log's allocator */
  struct thub_cli c[NC];
  int defer;
  uint64_t held;
};

/* Channels named "nohist..." have no history; "small..." keep 3,
 * "big..." 1000, "ttl..." for a second, the others 10. */
static int history_for(const char *ch, size_t len,
                       struct wsp_evlog_retention *r, void *ud) {
  (void)ud;
  if (len >= 6 && memcmp(ch, "nohist", 6) == 0)
    return 0;
  if (len >= 5 && memcmp(ch, "small", 5) == 0)
    r->max_events = 3;
  if (len >= 3 && memcmp(ch, "big", 3) == 0)
    r->max_events = 1000;
  if (len >= 3 && memcmp(ch, "ttl", 3) == 0)
    r->max_age = 1000;
  if (len >= 3 && memcmp(ch, "cap", 3) == 0)
    r->meta_ttl = 1000;
  return 1;
}

/* The log's max_streams for the next hub_open (0: no limit). */
static uint64_t open_max_streams;

static int on_subscribe(struct wsp_client *cl, uint64_t sub,
                        const struct wsp_subscribe_info *info, void *ud) {
  struct hub *h = ud;
  (void)cl;
  (void)info;
  if (h->defer) {
    h->held = sub;
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

/* An error reply line, exactly. */
#define ERR(id, code, msg)                                                     \
  "{\"id\":" #id ",\"error\":{\"code\":" #code ",\"message\":\"" msg "\"}}\n"
#define ERR100(id)                                                             \
  "{\"id\":" #id ",\"error\":{\"code\":100,\"message\":\"internal server "     \
  "error\",\"temporary\":true}}\n"

/* Move *p past line if it starts there; 1 if it did. */
static int take(const char **p, const char *line) {
  size_t n = strlen(line);
  if (strncmp(*p, line, n) != 0)
    return 0;
  *p += n;
  return 1;
}

/* The epoch the stream of channel has now. */
static void epoch_of(struct hub *h, const char *ch, char *out) {
  struct wsp_evlog_position pos;
  assert_int_equal(wsp_evlog_position(h->log, ch, strlen(ch), &pos), 0);
  strcpy(out, pos.epoch);
}

static void hub_open_mem(struct hub *h, const struct wsp_mem *smem) {
  struct wsp_server_callbacks scb;
  struct wsp_server_history hs;
  struct wsp_evlog_options eo;
  int i;
  memset(h, 0, sizeof(*h));
  tfail_init(&h->fail, 0, 0);
  memset(&eo, 0, sizeof(eo));
  eo.mem = &h->fail.mem;
  eo.max_streams = open_max_streams;
  assert_int_equal(wsp_evlog_new(&h->log, &eo, 0), 0);
  memset(&scb, 0, sizeof(scb));
  scb.on_subscribe = on_subscribe;
  assert_int_equal(wsp_server_new(&h->srv, &scb, smem, 0, h), 0);
  assert_int_equal(
      wsp_server_set_channel_flags(h->srv, WSP_CHANNEL_PUBLISH |
                                               WSP_CHANNEL_WILDCARDS),
      0);
  memset(&hs, 0, sizeof(hs));
  hs.log = h->log;
  hs.retention.max_events = 10;
  hs.history_for = history_for;
  hs.recovery_max = 8;
  hs.history_max = 5;
  assert_int_equal(wsp_server_set_history(h->srv, &hs), 0);
  for (i = 0; i < NC; i++) {
    thub_cli_open(&h->c[i], h->srv);
    say(h, i, "{\"connect\":{},\"id\":1}");
  }
  clear(h);
}

static void hub_open(struct hub *h) { hub_open_mem(h, NULL); }

static void hub_free(struct hub *h) {
  int i;
  for (i = 0; i < NC; i++)
    thub_cli_free(&h->c[i]);
  wsp_server_free(h->srv);
  wsp_evlog_free(h->log);
  assert_int_equal(h->fail.live, 0);
}

/* Publish "n" with the API n times from start. */
static void publish_n(struct hub *h, const char *ch, int start, int n) {
  char d[16];
  int i;
  for (i = start; i < start + n; i++) {
    snprintf(d, sizeof(d), "%d", i);
    assert_true(wsp_server_publish(h->srv, ch, d, strlen(d), NULL) >= 0);
  }
  pump(h);
}

/* The pub push of publication i of a publish_padded() run on ch, stored
 * at offset off, exactly, appended to b. */
static void padded_line(struct tbuf *b, const char *ch, int i,
                        unsigned long off) {
  tbuf_printf(b,
              "{\"push\":{\"channel\":\"%s\",\"pub\":{\"data\":{\"i\":%d,"
              "\"pad\":\"%01000d\"},\"offset\":%lu}}}\n",
              ch, i, 0, off);
}

/* How many lines at the start of s are exactly the pub pushes of the
 * publish_padded() runs on ch (runs: their sizes, 0-terminated), from
 * offset 1, in order; *rest is what follows them. */
static int padded_prefix(const char *s, const char *ch, const int *runs,
                         const char **rest) {
  struct tbuf b;
  int n = 0, r = 0, i = 0;
  tbuf_init(&b);
  for (;;) {
    if (runs[r] && i == runs[r]) {
      r++;
      i = 0;
    }
    if (!runs[r])
      break;
    tbuf_reset(&b);
    padded_line(&b, ch, i, (unsigned long)n + 1);
    tbuf_append(&b, "", 1);
    if (!take(&s, (const char *)b.data))
      break;
    n++;
    i++;
  }
  tbuf_free(&b);
  *rest = s;
  return n;
}

/* The reply to subscribe id that asked to recover and did not: the
 * stream's position (epoch ep, offset off), no publications. */
static const char *unrecovered(char *out, size_t cap, unsigned id,
                               const char *ep, unsigned long off) {
  snprintf(out, cap,
           "{\"id\":%u,\"subscribe\":{\"recoverable\":true,\"positioned\":"
           "true,\"epoch\":\"%s\",\"offset\":%lu,\"was_recovering\":true}}\n",
           id, ep, off);
  return out;
}

/* Small output caps for client i: 16 KiB queued, high water at 8 KiB. */
static void small_queue(struct hub *h, int i) {
  struct wsp_conn *c = wsp_client_get_conn(h->c[i].sc);
  wsp_conn_set_limit(c, WSP_LIMIT_MAX_QUEUED, 16384);
  wsp_conn_set_limit(c, WSP_LIMIT_HIGH_WATER, 8192);
}

static void publish_padded(struct hub *h, const char *ch, int n) {
  char d[1100];
  int i;
  for (i = 0; i < n; i++) {
    snprintf(d, sizeof(d), "{\"i\":%d,\"pad\":\"%01000d\"}", i, 0);
    assert_true(wsp_server_publish(h->srv, ch, d, strlen(d), NULL) >= 0);
    pump(h);
  }
}

static void test_history_offsets_and_positions(void **state) {
  struct hub h;
  char ep[64], want[256];
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  epoch_of(&h, "news", ep);
  snprintf(want, sizeof(want),
           "{\"id\":2,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\"}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  say(&h, 1, "{\"subscribe\":{\"channel\":\"news.*\"},\"id\":2}");
  assert_string_equal(L(&h, 1), "{\"id\":2,\"subscribe\":{}}\n");
  clear(&h);
  assert_int_equal(wsp_server_publish(h.srv, "news", "{\"a\":1}", 7, NULL), 1);
  say(&h, 2, "{\"publish\":{\"channel\":\"news\",\"data\":\"b\"},\"id\":2}");
  assert_string_equal(L(&h, 2), "{\"id\":2,\"publish\":{}}\n");
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"a\":1},"
           "\"offset\":1}}}\n"
           "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":\"b\",\"info\":{"
           "\"user\":\"\",\"client\":\"%s\"},\"offset\":2}}}\n",
           wsp_client_get_id(h.c[2].sc));
  thub_expect(&h.c[0], want);
  /* a channel without history: no offset, a plain result */
  say(&h, 0, "{\"subscribe\":{\"channel\":\"nohist\"},\"id\":3}");
  thub_expect(&h.c[0], "{\"id\":3,\"subscribe\":{}}\n");
  clear(&h);
  assert_int_equal(wsp_server_publish(h.srv, "nohist", "1", 1, NULL), 1);
  pump(&h);
  assert_string_equal(L(&h, 0),
                      "{\"push\":{\"channel\":\"nohist\",\"pub\":{\"data\":1}}}\n");
  /* a wildcard subscriber gets the offset and the channel */
  clear(&h);
  publish_n(&h, "news.x", 1, 1);
  assert_string_equal(L(&h, 1), "{\"push\":{\"channel\":\"news.*\",\"pub\":{"
                                "\"data\":1,\"offset\":1,\"channel\":"
                                "\"news.x\"}}}\n");
  /* a server-side subscription is told its position in the push */
  clear(&h);
  assert_int_equal(wsp_server_subscribe(h.c[2].sc, "news"), 0);
  pump(&h);
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"news\",\"subscribe\":{\"recoverable\":"
           "true,\"positioned\":true,\"epoch\":\"%s\",\"offset\":2}}}\n",
           ep);
  assert_string_equal(L(&h, 2), want);
  hub_free(&h);
}

static void test_history_command(void **state) {
  struct hub h;
  char ep[64], cmd[256], want[512];
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"feed\"},\"id\":2}");
  publish_n(&h, "feed", 1, 7);
  epoch_of(&h, "feed", ep);
  clear(&h);
  /* no limit: only the position */
  say(&h, 0, "{\"history\":{\"channel\":\"feed\"},\"id\":3}");
  snprintf(want, sizeof(want),
           "{\"id\":3,\"history\":{\"epoch\":\"%s\",\"offset\":7}}\n", ep);
  assert_string_equal(L(&h, 0), want);
  clear(&h);
  /* forwards after 4, at most 2 */
  snprintf(cmd, sizeof(cmd),
           "{\"history\":{\"channel\":\"feed\",\"limit\":2,\"since\":{"
           "\"offset\":4,\"epoch\":\"%s\"}},\"id\":4}",
           ep);
  say(&h, 0, cmd);
  snprintf(want, sizeof(want),
           "{\"id\":4,\"history\":{\"publications\":[{\"data\":5,\"offset\":5},"
           "{\"data\":6,\"offset\":6}],\"epoch\":\"%s\",\"offset\":7}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  clear(&h);
  /* reverse without since: newest first from the top */
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"limit\":3,\"reverse\":true},"
             "\"id\":5}");
  snprintf(want, sizeof(want),
           "{\"id\":5,\"history\":{\"publications\":[{\"data\":7,\"offset\":7},"
           "{\"data\":6,\"offset\":6},{\"data\":5,\"offset\":5}],\"epoch\":"
           "\"%s\",\"offset\":7}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  clear(&h);
  /* reverse before 3; -1 means as many as allowed (history_max 5) */
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"limit\":-1,\"reverse\":true,"
             "\"since\":{\"offset\":3}},\"id\":6}");
  snprintf(want, sizeof(want),
           "{\"id\":6,\"history\":{\"publications\":[{\"data\":2,\"offset\":2},"
           "{\"data\":1,\"offset\":1}],\"epoch\":\"%s\",\"offset\":7}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  clear(&h);
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"limit\":100},\"id\":7}");
  /* at most history_max (5) */
  snprintf(want, sizeof(want),
           "{\"id\":7,\"history\":{\"publications\":[{\"data\":1,\"offset\":1},"
           "{\"data\":2,\"offset\":2},{\"data\":3,\"offset\":3},{\"data\":4,"
           "\"offset\":4},{\"data\":5,\"offset\":5}],\"epoch\":\"%s\","
           "\"offset\":7}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  clear(&h);
  /* errors */
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"limit\":1,\"since\":{"
             "\"offset\":1,\"epoch\":\"other\"}},\"id\":8}");
  thub_expect(&h.c[0], ERR(8, 112, "unrecoverable position"));
  /* as Centrifuge: beyond the top there is nothing, no error */
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"limit\":1,\"since\":{"
             "\"offset\":8}},\"id\":9}");
  snprintf(want, sizeof(want),
           "{\"id\":9,\"history\":{\"epoch\":\"%s\",\"offset\":7}}\n", ep);
  thub_expect(&h.c[0], want);
  say(&h, 0,
      "{\"history\":{\"channel\":\"feed\",\"limit\":1,\"reverse\":"
      "true,\"since\":{\"offset\":9}},\"id\":91}");
  snprintf(want, sizeof(want),
           "{\"id\":91,\"history\":{\"epoch\":\"%s\",\"offset\":7}}\n", ep);
  thub_expect(&h.c[0], want);
  say(&h, 0,
      "{\"history\":{\"channel\":\"feed\",\"limit\":1,\"reverse\":"
      "true,\"since\":{\"offset\":8}},\"id\":92}");
  snprintf(want, sizeof(want),
           "{\"id\":92,\"history\":{\"publications\":[{\"data\":7,\"offset\":"
           "7}],\"epoch\":\"%s\",\"offset\":7}}\n",
           ep);
  thub_expect(&h.c[0], want);
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"reverse\":true,\"since\":{"
             "\"offset\":0}},\"id\":10}");
  thub_expect(&h.c[0], ERR(10, 107, "bad request"));
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"limit\":\"x\"},\"id\":11}");
  thub_expect(&h.c[0], ERR(11, 107, "bad request"));
  say(&h, 0, "{\"history\":{\"channel\":\"feed\",\"since\":3},\"id\":12}");
  thub_expect(&h.c[0], ERR(12, 107, "bad request"));
  say(&h, 1, "{\"history\":{\"channel\":\"feed\"},\"id\":2}");
  thub_expect(&h.c[1], ERR(2, 103, "permission denied"));
  say(&h, 1, "{\"subscribe\":{\"channel\":\"nohist.a\"},\"id\":3}");
  say(&h, 1, "{\"history\":{\"channel\":\"nohist.a\"},\"id\":4}");
  thub_expect(&h.c[1],
              "{\"id\":3,\"subscribe\":{}}\n" ERR(4, 108, "not available"));
  /* retention dropped what follows offset 1 of "small": as Centrifuge,
   * what is kept, from offset 4 (the reader sees it missed 2 and 3);
   * backwards from 2 nothing is kept */
  say(&h, 1, "{\"subscribe\":{\"channel\":\"small\"},\"id\":5}");
  publish_n(&h, "small", 1, 6);
  clear(&h);
  epoch_of(&h, "small", ep);
  say(&h, 1, "{\"history\":{\"channel\":\"small\",\"limit\":9,\"since\":{"
             "\"offset\":1}},\"id\":6}");
  snprintf(want, sizeof(want),
           "{\"id\":6,\"history\":{\"publications\":[{\"data\":4,\"offset\":4},"
           "{\"data\":5,\"offset\":5},{\"data\":6,\"offset\":6}],\"epoch\":"
           "\"%s\",\"offset\":6}}\n",
           ep);
  thub_expect(&h.c[1], want);
  say(&h, 1,
      "{\"history\":{\"channel\":\"small\",\"limit\":9,\"reverse\":"
      "true,\"since\":{\"offset\":2}},\"id\":61}");
  snprintf(want, sizeof(want),
           "{\"id\":61,\"history\":{\"epoch\":\"%s\",\"offset\":6}}\n", ep);
  thub_expect(&h.c[1], want);
  say(&h, 1,
      "{\"history\":{\"channel\":\"small\",\"limit\":9,\"since\":{"
      "\"offset\":3}},\"id\":7}");
  snprintf(want, sizeof(want),
           "{\"id\":7,\"history\":{\"publications\":[{\"data\":4,\"offset\":4},"
           "{\"data\":5,\"offset\":5},{\"data\":6,\"offset\":6}],\"epoch\":"
           "\"%s\",\"offset\":6}}\n",
           ep);
  thub_expect(&h.c[1], want);
  /* without the log, history is not available */
  assert_int_equal(wsp_server_set_history(h.srv, NULL), 0);
  say(&h, 0, "{\"history\":{\"channel\":\"feed\"},\"id\":13}");
  thub_expect(&h.c[0], ERR(13, 108, "not available"));
  hub_free(&h);
}

static void test_history_recovery(void **state) {
  struct hub h;
  struct tbuf big;
  char ep[64], cmd[256], want[512];
  int i;
  (void)state;
  tbuf_init(&big);
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"room\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"room\"},\"id\":2}");
  publish_n(&h, "room", 1, 3);
  epoch_of(&h, "room", ep);
  /* client 0 drops out at offset 3; five publications go by */
  say(&h, 0, "{\"unsubscribe\":{\"channel\":\"room\"},\"id\":3}");
  publish_n(&h, "room", 4, 5);
  clear(&h);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"offset\":3,"
           "\"epoch\":\"%s\"},\"id\":4}",
           ep);
  say(&h, 0, cmd);
  snprintf(want, sizeof(want),
           "{\"id\":4,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":3,\"was_recovering\":true,"
           "\"recovered\":true,\"publications\":[{\"data\":4,\"offset\":4},"
           "{\"data\":5,\"offset\":5},{\"data\":6,\"offset\":6},{\"data\":7,"
           "\"offset\":7},{\"data\":8,\"offset\":8}]}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  /* then the live ones, no gap, no duplicate */
  clear(&h);
  publish_n(&h, "room", 9, 2);
  assert_string_equal(L(&h, 0),
                      "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":9,"
                      "\"offset\":9}}}\n"
                      "{\"push\":{\"channel\":\"room\",\"pub\":{\"data\":10,"
                      "\"offset\":10}}}\n");
  assert_string_equal(L(&h, 0), L(&h, 1));
  /* nothing missed: recovered with no publications */
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"offset\":10,"
           "\"epoch\":\"%s\"},\"id\":3}",
           ep);
  clear(&h);
  say(&h, 2, cmd);
  snprintf(want, sizeof(want),
           "{\"id\":3,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":10,\"was_recovering\":true,"
           "\"recovered\":true}}\n",
           ep);
  assert_string_equal(L(&h, 2), want);
  /* more missed than recovery_max (8): not recovered, no publications,
   * the current top */
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"room\"},\"id\":4}");
  clear(&h);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"offset\":1,"
           "\"epoch\":\"%s\"},\"id\":5}",
           ep);
  say(&h, 2, cmd);
  assert_string_equal(L(&h, 2), unrecovered(want, sizeof(want), 5, ep, 10));
  /* a wrong epoch: not recovered; with flag bit 2: error 112 */
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"room\"},\"id\":6}");
  clear(&h);
  say(&h, 2, "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,"
             "\"offset\":9,\"epoch\":\"gone\"},\"id\":7}");
  assert_string_equal(L(&h, 2), unrecovered(want, sizeof(want), 7, ep, 10));
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"room\"},\"id\":8}");
  clear(&h);
  say(&h, 2, "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"flag\":3,"
             "\"offset\":9,\"epoch\":\"gone\"},\"id\":9}");
  thub_expect(&h.c[2], ERR(9, 112, "unrecoverable position"));
  clear(&h);
  publish_n(&h, "room", 11, 1);
  assert_string_equal(L(&h, 2), ""); /* refused: not subscribed */
  /* retention exceeded on "small" (3 kept): recovered false */
  say(&h, 2, "{\"subscribe\":{\"channel\":\"small\"},\"id\":10}");
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"small\"},\"id\":11}");
  publish_n(&h, "small", 1, 4);
  epoch_of(&h, "small", ep);
  clear(&h);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"small\",\"recover\":true,"
           "\"epoch\":\"%s\"},\"id\":12}",
           ep);
  say(&h, 2, cmd);
  assert_string_equal(L(&h, 2), unrecovered(want, sizeof(want), 12, ep, 4));
  /* missed publications that would not fit the client's output: not
   * recovered (rather than a 3008 for the reply) */
  say(&h, 2, "{\"subscribe\":{\"channel\":\"big\"},\"id\":13}");
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"big\"},\"id\":14}");
  publish_padded(&h, "big", 8); /* 8 KiB and more */
  epoch_of(&h, "big", ep);
  wsp_conn_set_limit(wsp_client_get_conn(h.c[2].sc), WSP_LIMIT_MAX_QUEUED,
                     4096);
  clear(&h);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"big\",\"recover\":true,"
           "\"epoch\":\"%s\"},\"id\":15}",
           ep);
  say(&h, 2, cmd);
  assert_string_equal(L(&h, 2), unrecovered(want, sizeof(want), 15, ep, 8));
  assert_int_equal(h.c[2].close_code, 0);
  wsp_conn_set_limit(wsp_client_get_conn(h.c[2].sc), WSP_LIMIT_MAX_QUEUED,
                     1 << 20);
  say(&h, 2, "{\"unsubscribe\":{\"channel\":\"big\"},\"id\":16}");
  clear(&h);
  say(&h, 2, cmd);
  /* all 8 from the start; the client's offset, 0, is omitted */
  tbuf_reset(&big);
  tbuf_printf(
      &big,
      "{\"id\":15,\"subscribe\":{\"recoverable\":true,\"positioned\":"
      "true,\"epoch\":\"%s\",\"was_recovering\":true,\"recovered\":true,"
      "\"publications\":[",
      ep);
  for (i = 0; i < 8; i++)
    tbuf_printf(&big,
                "%s{\"data\":{\"i\":%d,\"pad\":\"%01000d\"},"
                "\"offset\":%d}",
                i ? "," : "", i, 0, i + 1);
  tbuf_puts(&big, "]}}\n");
  tbuf_append(&big, "", 1);
  assert_string_equal(L(&h, 2), (const char *)big.data);
  /* bad recovery fields are a bad request */
  say(&h, 1, "{\"subscribe\":{\"channel\":\"x\",\"recover\":1},\"id\":9}");
  thub_expect(&h.c[1], ERR(9, 107, "bad request"));
  say(&h, 1, "{\"subscribe\":{\"channel\":\"x\",\"offset\":-1},\"id\":10}");
  thub_expect(&h.c[1], ERR(10, 107, "bad request"));
  /* a deferred subscribe keeps its recovery request, and what was
   * published while it waited is in the recovered set */
  epoch_of(&h, "room", ep);
  h.defer = 1;
  clear(&h);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"room\",\"recover\":true,\"offset\":9,"
           "\"epoch\":\"%s\"},\"id\":5}",
           ep);
  say(&h, 0, "{\"unsubscribe\":{\"channel\":\"room\"},\"id\":4}");
  say(&h, 0, cmd);
  publish_n(&h, "room", 12, 2);
  thub_expect(&h.c[0], "{\"id\":4,\"unsubscribe\":{}}\n"); /* no pub yet */
  assert_int_equal(wsp_server_subscribe_answer(h.srv, h.held, 0, 0, NULL), 0);
  pump(&h);
  snprintf(want, sizeof(want),
           "{\"id\":5,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":9,\"was_recovering\":true,"
           "\"recovered\":true,\"publications\":[{\"data\":10,\"offset\":10},"
           "{\"data\":11,\"offset\":11},{\"data\":12,\"offset\":12},"
           "{\"data\":13,\"offset\":13}]}}\n",
           ep);
  thub_expect(&h.c[0], want);
  tbuf_free(&big);
  hub_free(&h);
}

static void test_history_gap_unsubscribes_2500(void **state) {
  struct hub h;
  char ep[64], want[256];
  const char *p;
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"g\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"g.*\"},\"id\":2}");
  publish_n(&h, "g", 1, 2);
  /* the stream is lost: the next publication starts a new epoch */
  assert_int_equal(wsp_evlog_remove(h.log, "g", 1), 0);
  clear(&h);
  assert_int_equal(wsp_server_publish(h.srv, "g", "3", 1, NULL), 0);
  pump(&h);
  p = L(&h, 0);
  assert_string_equal(p, "{\"push\":{\"channel\":\"g\",\"unsubscribe\":{"
                         "\"code\":2500,\"reason\":\"insufficient state\"}}}\n");
  clear(&h);
  publish_n(&h, "g", 4, 1);
  assert_string_equal(L(&h, 0), ""); /* no longer subscribed */
  say(&h, 0, "{\"subscribe\":{\"channel\":\"g\",\"recover\":true,\"offset\":2,"
             "\"epoch\":\"old\"},\"id\":3}");
  epoch_of(&h, "g", ep); /* the new one */
  assert_string_equal(L(&h, 0), unrecovered(want, sizeof(want), 3, ep, 2));
  hub_free(&h);
}

static void test_history_store_failure_acknowledges_nothing(void **state) {
  struct hub h;
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"s\"},\"id\":2}");
  publish_n(&h, "s", 1, 1);
  clear(&h);
  /* the log can allocate nothing more */
  h.fail.fail_at = h.fail.calls + 1;
  h.fail.sticky = 1;
  assert_int_equal(wsp_server_publish(h.srv, "s", "{\"big\":1}", 9, NULL),
                   WSP_ERR_NOMEM);
  say(&h, 1, "{\"publish\":{\"channel\":\"s\",\"data\":[1,2,3,4,5,6,7,8,9,10,"
             "11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,"
             "31,32,33]},\"id\":2}");
  pump(&h);
  assert_true(h.fail.failures >= 2);
  /* the error and no acknowledgement */
  assert_string_equal(L(&h, 1), ERR100(2));
  assert_string_equal(L(&h, 0), "");
  h.fail.fail_at = 0;
  h.fail.sticky = 0;
  clear(&h);
  publish_n(&h, "s", 2, 1);
  assert_string_equal(L(&h, 0), "{\"push\":{\"channel\":\"s\",\"pub\":{"
                                "\"data\":2,\"offset\":2}}}\n");
  hub_free(&h);
}

/* Check what client 0 received in a round of the test below, exactly:
 * when an allocation failed (only then: may_fail), nothing and a close
 * 3004, or each of the three replies is its result or a temporary error
 * 100 (history without the subscription: 103); publications only after the
 * subscribe reply that positions them: 7, the client's own, when it was
 * acknowledged, then 8 at the next offset. */
static void expect_round(struct hub *h, const char *ep, int may_fail) {
  char sub[512], hist[256], pub7[256], pub8[128];
  const char *p = L(h, 0);
  int subscribed, published;
  snprintf(sub, sizeof(sub),
           "{\"id\":4,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"offset\":3,\"was_recovering\":true,"
           "\"recovered\":true,\"publications\":[{\"data\":4,\"offset\":4},"
           "{\"data\":5,\"offset\":5},{\"data\":6,\"offset\":6}]}}\n",
           ep);
  snprintf(hist, sizeof(hist),
           "{\"id\":5,\"history\":{\"publications\":[{\"data\":6,\"offset\":6},"
           "{\"data\":5,\"offset\":5},{\"data\":4,\"offset\":4}],\"epoch\":"
           "\"%s\",\"offset\":6}}\n",
           ep);
  snprintf(pub7, sizeof(pub7),
           "{\"push\":{\"channel\":\"a\",\"pub\":{\"data\":7,\"info\":{"
           "\"user\":\"\",\"client\":\"%s\"},\"offset\":7}}}\n",
           wsp_client_get_id(h->c[0].sc));
  if (may_fail && !*p && h->c[0].close_code == 3004)
    return;
  subscribed = take(&p, sub);
  if (!subscribed && !(may_fail && take(&p, ERR100(4))))
    fail_msg("no subscribe reply: %s", L(h, 0));
  if (subscribed ? !(take(&p, hist) || (may_fail && take(&p, ERR100(5))))
                 : !take(&p, ERR(5, 103, "permission denied")))
    fail_msg("no history reply: %s", L(h, 0));
  published = take(&p, "{\"id\":6,\"publish\":{}}\n");
  if (!published && !(may_fail && take(&p, ERR100(6))))
    fail_msg("no publish reply: %s", L(h, 0));
  if (subscribed) {
    if (published && !take(&p, pub7))
      fail_msg("no publication 7: %s", L(h, 0));
    snprintf(pub8, sizeof(pub8),
             "{\"push\":{\"channel\":\"a\",\"pub\":{\"data\":8,\"offset\":"
             "%d}}}\n",
             published ? 8 : 7);
    if (!take(&p, pub8))
      fail_msg("no publication 8: %s", L(h, 0));
  }
  assert_string_equal(p, ""); /* and nothing else */
  assert_int_equal(h->c[0].close_code, 0);
}

/* Every allocation of the hub fails in turn while a client subscribes
 * with recovery, reads history and publishes: each step either works or
 * answers 100, and nothing leaks (the failing allocator counts). */
static void test_history_allocation_failures(void **state) {
  long at;
  (void)state;
  for (at = 1; at < 400; at++) {
    struct tfail f;
    struct hub h;
    char ep[64], cmd[256];
    tfail_init(&f, 0, 0);
    hub_open_mem(&h, &f.mem);
    say(&h, 0, "{\"subscribe\":{\"channel\":\"a\"},\"id\":2}");
    publish_n(&h, "a", 1, 3);
    epoch_of(&h, "a", ep);
    say(&h, 0, "{\"unsubscribe\":{\"channel\":\"a\"},\"id\":3}");
    publish_n(&h, "a", 4, 3);
    clear(&h);
    f.fail_at = f.calls + at;
    snprintf(cmd, sizeof(cmd),
             "{\"subscribe\":{\"channel\":\"a\",\"recover\":true,\"offset\":3,"
             "\"epoch\":\"%s\"},\"id\":4}\n{\"history\":{\"channel\":\"a\","
             "\"limit\":3,\"reverse\":true},\"id\":5}\n{\"publish\":{"
             "\"channel\":\"a\",\"data\":7},\"id\":6}",
             ep);
    say(&h, 0, cmd);
    publish_n(&h, "a", 8, 1);
    /* a subscribe that failed is not half made: no publication without
     * the reply that positions it */
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
  assert_true(at > 10 && at < 400); /* the paths did allocate */
}

static void test_history_slow_subscriber_fed_from_the_log(void **state) {
  struct tfail f;
  struct hub h;
  struct wsp_server_stats st;
  static const int runs[] = {100, 400, 2, 0};
  size_t mem_at_100;
  const char *rest;
  (void)state;
  tfail_init(&f, 0, 0);
  hub_open_mem(&h, &f.mem);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
  small_queue(&h, 0);
  clear(&h);
  h.c[0].paused = 1;
  publish_padded(&h, "big", 100);
  mem_at_100 = f.live_bytes;
  publish_padded(&h, "big", 400);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.lagged, 1);
  assert_int_equal(st.slow_closes, 0);
  assert_int_equal(h.c[0].close_code, 0);
  /* a lagging subscriber costs the hub no more for 400 more events */
  assert_true(f.live_bytes <= mem_at_100);
  assert_true(wsp_conn_queued_bytes(wsp_client_get_conn(h.c[0].sc)) <= 16384);
  /* the others were not held back */
  assert_int_equal(padded_prefix(L(&h, 1), "big", runs, &rest), 500);
  assert_string_equal(rest, "");
  /* reading again: every publication, in order, then live ones */
  h.c[0].paused = 0;
  pump(&h);
  publish_padded(&h, "big", 2);
  assert_int_equal(padded_prefix(L(&h, 0), "big", runs, &rest), 502);
  assert_string_equal(rest, "");
  assert_int_equal(h.c[0].close_code, 0);
  assert_string_equal(L(&h, 0), L(&h, 1)); /* the same bytes, in effect */
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.slow_closes, 0);
  hub_free(&h);
  assert_int_equal(f.live, 0);
}

/* Publish n padded publications on ch tagged k:y when yes(i), else k:n. */
static void publish_tagged(struct hub *h, const char *ch, int from, int n,
                           int (*yes)(int)) {
  struct wsp_publish_opts o;
  char d[1100];
  int i;
  memset(&o, 0, sizeof(o));
  for (i = from; i < from + n; i++) {
    snprintf(d, sizeof(d), "{\"i\":%d,\"pad\":\"%01000d\"}", i, 0);
    o.tags = yes(i) ? "{\"k\":\"y\"}" : "{\"k\":\"n\"}";
    assert_int_equal(
        wsp_server_publish_with(h->srv, ch, d, strlen(d), &o, NULL), 0);
    pump(h);
  }
}

static int even(int i) { return i % 2 == 0; }
static int below_100_even(int i) { return i < 100 && i % 2 == 0; }

/* A subscriber with a tags filter gets only what passes it: live, when
 * it lags and is fed from the log (a batch may pass nothing at all), and
 * when it recovers; its position moves past the others all the same. */
static void test_history_tags_filter(void **state) {
  struct hub h;
  struct tbuf want;
  char ep[64], cmd[256];
  int i;
  (void)state;
  hub_open(&h);
  tbuf_init(&want);
  say(&h, 0,
      "{\"subscribe\":{\"channel\":\"big\",\"tf\":{\"key\":\"k\","
      "\"cmp\":\"eq\",\"val\":\"y\"}},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
  small_queue(&h, 0);
  clear(&h);
  /* live */
  publish_tagged(&h, "big", 0, 4, even);
  for (i = 0; i < 4; i += 2)
    tbuf_printf(
        &want,
        "{\"push\":{\"channel\":\"big\",\"pub\":{\"data\":{\"i\":%d,"
        "\"pad\":\"%01000d\"},\"tags\":{\"k\":\"y\"},\"offset\":%d}}}\n",
        i, 0, i + 1);
  tbuf_append(&want, "", 1);
  assert_string_equal(L(&h, 0), (const char *)want.data);
  clear(&h);
  tbuf_reset(&want);
  /* lagging: 100 mixed, then 60 that all fail the filter */
  h.c[0].paused = 1;
  publish_tagged(&h, "big", 4, 156, below_100_even);
  h.c[0].paused = 0;
  pump(&h);
  for (i = 4; i < 160; i++)
    if (below_100_even(i))
      tbuf_printf(&want,
                  "{\"push\":{\"channel\":\"big\",\"pub\":{\"data\":{\"i\":%d,"
                  "\"pad\":\"%01000d\"},\"tags\":{\"k\":\"y\"},"
                  "\"offset\":%d}}}\n",
                  i, 0, i + 1);
  /* then live again */
  publish_tagged(&h, "big", 160, 2, even);
  tbuf_printf(&want,
              "{\"push\":{\"channel\":\"big\",\"pub\":{\"data\":{\"i\":160,"
              "\"pad\":\"%01000d\"},\"tags\":{\"k\":\"y\"},\"offset\":161}}}\n",
              0);
  tbuf_append(&want, "", 1);
  assert_string_equal(L(&h, 0), (const char *)want.data);
  assert_int_equal(h.c[0].close_code, 0);
  clear(&h);
  /* recovery from offset 155 (in retention): only what passes */
  epoch_of(&h, "big", ep);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"big\",\"recover\":true,\"offset\":"
           "155,\"epoch\":\"%s\",\"tf\":{\"key\":\"k\",\"cmp\":\"eq\","
           "\"val\":\"y\"}},\"id\":3}",
           ep);
  say(&h, 2, cmd);
  tbuf_reset(&want);
  tbuf_printf(
      &want,
      "{\"id\":3,\"subscribe\":{\"recoverable\":true,\"positioned\":"
      "true,\"epoch\":\"%s\",\"offset\":155,\"was_recovering\":true,"
      "\"recovered\":true,\"publications\":[{\"data\":{\"i\":160,"
      "\"pad\":\"%01000d\"},\"tags\":{\"k\":\"y\"},\"offset\":161}]}}\n",
      ep, 0);
  tbuf_append(&want, "", 1);
  assert_string_equal(L(&h, 2), (const char *)want.data);
  tbuf_free(&want);
  hub_free(&h);
}

static uint64_t wall_ms; /* the fake wall clock of test_history_wall_clock */
static uint64_t wall(void *ud) {
  (void)ud;
  return wall_ms;
}

/* With a wall clock, the connect result carries the server's time and
 * every publication its time: live (exact and through a pattern), in
 * history and in a recovery; the log keeps that time. */
static void test_history_wall_clock(void **state) {
  struct hub h;
  char ep[64], want[512], cmd[256];
  (void)state;
  hub_open(&h);
  wall_ms = 1700000000123ull;
  assert_int_equal(wsp_server_set_wall_clock(h.srv, wall, NULL), 0);
  thub_cli_free(&h.c[2]);
  thub_cli_open(&h.c[2], h.srv);
  say(&h, 2, "{\"connect\":{},\"id\":1}");
  thub_expect(&h.c[2], thub_client_reply(want, sizeof(want), 1, "connect",
                                         wsp_client_get_id(h.c[2].sc),
                                         ",\"ping\":25,\"pong\":true,"
                                         "\"time\":1700000000123}}\n"));
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"nohist\"},\"id\":2}");
  clear(&h);
  wall_ms = 1700000000200ull;
  assert_int_equal(wsp_server_publish(h.srv, "news", "1", 1, NULL), 1);
  assert_int_equal(wsp_server_publish(h.srv, "nohist", "2", 1, NULL), 1);
  pump(&h);
  thub_expect(&h.c[0], "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":1,"
                       "\"time\":1700000000200,\"offset\":1}}}\n");
  thub_expect(&h.c[1], "{\"push\":{\"channel\":\"nohist\",\"pub\":{\"data\":2,"
                       "\"time\":1700000000200}}}\n");
  wall_ms = 1700000009999ull; /* later: history keeps the first time */
  say(&h, 0, "{\"history\":{\"channel\":\"news\",\"limit\":-1},\"id\":3}");
  epoch_of(&h, "news", ep);
  snprintf(want, sizeof(want),
           "{\"id\":3,\"history\":{\"publications\":[{\"data\":1,\"time\":"
           "1700000000200,\"offset\":1}],\"epoch\":\"%s\",\"offset\":1}}\n",
           ep);
  thub_expect(&h.c[0], want);
  snprintf(cmd, sizeof(cmd),
           "{\"subscribe\":{\"channel\":\"news\",\"recover\":true,\"offset\":0,"
           "\"epoch\":\"%s\"},\"id\":4}",
           ep);
  say(&h, 2, cmd);
  snprintf(want, sizeof(want),
           "{\"id\":4,\"subscribe\":{\"recoverable\":true,\"positioned\":true,"
           "\"epoch\":\"%s\",\"was_recovering\":true,\"recovered\":true,"
           "\"publications\":[{\"data\":1,\"time\":1700000000200,"
           "\"offset\":1}]}}\n",
           ep);
  thub_expect(&h.c[2], want);
  /* taken away: no times */
  assert_int_equal(wsp_server_set_wall_clock(h.srv, NULL, NULL), 0);
  assert_int_equal(wsp_server_publish(h.srv, "nohist", "3", 1, NULL), 1);
  pump(&h);
  thub_expect(&h.c[1],
              "{\"push\":{\"channel\":\"nohist\",\"pub\":{\"data\":3}}}\n");
  assert_int_equal(wsp_server_set_wall_clock(NULL, wall, NULL), WSP_ERR_INVAL);
  hub_free(&h);
}

static void test_history_slow_subscriber_out_of_retention(void **state) {
  struct hub h;
  struct wsp_server_stats st;
  static const int runs[] = {40, 0};
  int n;
  const char *rest;
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"small\"},\"id\":2}");
  small_queue(&h, 0);
  clear(&h);
  h.c[0].paused = 1;
  publish_padded(&h, "small", 40);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.lagged, 1);
  h.c[0].paused = 0;
  pump(&h);
  /* what was queued before it lagged, in order, then 2500: its position
   * is no longer kept (3 events are) */
  n = padded_prefix(L(&h, 0), "small", runs, &rest);
  assert_true(n >= 1 && n < 40);
  assert_string_equal(rest,
                      "{\"push\":{\"channel\":\"small\",\"unsubscribe\":{"
                      "\"code\":2500,\"reason\":\"insufficient state\"}}}\n");
  assert_int_equal(h.c[0].close_code, 0);
  clear(&h);
  publish_padded(&h, "small", 1);
  assert_string_equal(L(&h, 0), "");
  /* a publication that can never fit an empty queue is not a lag that
   * would wait forever for a write: 3008 */
  say(&h, 1, "{\"subscribe\":{\"channel\":\"small\"},\"id\":2}");
  wsp_conn_set_limit(wsp_client_get_conn(h.c[1].sc), WSP_LIMIT_MAX_QUEUED, 512);
  publish_padded(&h, "small", 1);
  assert_int_equal(h.c[1].close_code, 3008);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.lagged, 1);
  hub_free(&h);
}

/* Every allocation of the hub fails in turn while a lagging subscriber
 * catches up: it gets every publication in order, or a 2500 after an
 * unbroken prefix, or a close; never a gap, a duplicate or a leak. */
static void test_history_slow_subscriber_allocation_failures(void **state) {
  long at;
  (void)state;
  for (at = 1; at < 2000; at++) {
    struct tfail f;
    struct hub h;
    static const int runs[] = {60, 1, 0};
    const char *rest;
    int n;
    tfail_init(&f, 0, 0);
    hub_open_mem(&h, &f.mem);
    say(&h, 0, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
    small_queue(&h, 0);
    clear(&h);
    h.c[0].paused = 1;
    publish_padded(&h, "big", 60);
    f.fail_at = f.calls + at;
    h.c[0].paused = 0;
    pump(&h);
    publish_padded(&h, "big", 1);
    /* an unbroken prefix, then nothing or the 2500 */
    n = padded_prefix(L(&h, 0), "big", runs, &rest);
    if (f.failures == 0) {
      assert_int_equal(n, 61);
      assert_string_equal(rest, "");
      hub_free(&h);
      break;
    }
    if (*rest)
      assert_string_equal(rest,
                          "{\"push\":{\"channel\":\"big\",\"unsubscribe\":"
                          "{\"code\":2500,\"reason\":\"insufficient "
                          "state\"}}}\n");
    else
      assert_true(n == 61 || h.c[0].close_code);
    hub_free(&h);
    assert_int_equal(f.live, 0);
    assert_int_equal(f.bad_frees, 0);
  }
  assert_true(at > 20 && at < 2000); /* catching up did allocate */
}

/* The hub ticks the log: publications older than the channel's time to
 * live go at wsp_server_tick(), the position stays. */
static void test_history_ttl_through_the_hub_tick(void **state) {
  struct hub h;
  char ep[64], cmd[256], want[256];
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"ttl\"},\"id\":2}");
  wsp_server_tick(h.srv, 100);
  publish_n(&h, "ttl", 1, 3);
  epoch_of(&h, "ttl", ep);
  assert_true(wsp_server_next_deadline(h.srv) <= 1100);
  clear(&h);
  say(&h, 0, "{\"history\":{\"channel\":\"ttl\",\"limit\":-1},\"id\":3}");
  snprintf(want, sizeof(want),
           "{\"id\":3,\"history\":{\"publications\":[{\"data\":1,\"offset\":1},"
           "{\"data\":2,\"offset\":2},{\"data\":3,\"offset\":3}],\"epoch\":"
           "\"%s\",\"offset\":3}}\n",
           ep);
  assert_string_equal(L(&h, 0), want);
  wsp_server_tick(h.srv, 1200);
  clear(&h);
  say(&h, 0, "{\"history\":{\"channel\":\"ttl\",\"limit\":-1},\"id\":4}");
  snprintf(cmd, sizeof(cmd),
           "{\"id\":4,\"history\":{\"epoch\":\"%s\",\"offset\":3}}\n", ep);
  assert_string_equal(L(&h, 0), cmd);
  /* a client that had seen none of them cannot recover them now */
  say(&h, 1, "{\"subscribe\":{\"channel\":\"ttl\",\"recover\":true},\"id\":2}");
  assert_string_equal(L(&h, 1), unrecovered(want, sizeof(want), 2, ep, 3));
  hub_free(&h);
}

/* A log with max_streams caps the channels with history state: a new
 * channel beyond it is refused with 106 (subscribe, publish) or
 * WSP_ERR_LIMIT (the API), counted, and accepted again once meta_ttl has
 * dropped the empty streams. */
static void test_history_channel_cap(void **state) {
  struct hub h;
  struct wsp_evlog_stats st;
  (void)state;
  open_max_streams = 2;
  hub_open(&h);
  open_max_streams = 0;
  say(&h, 0, "{\"subscribe\":{\"channel\":\"capA\"},\"id\":2}");
  say(&h, 0, "{\"subscribe\":{\"channel\":\"capB\"},\"id\":3}");
  assert_true(take(&(const char *){L(&h, 0)}, "{\"id\":2,\"subscribe\":"));
  assert_non_null(strstr(L(&h, 0), "\n{\"id\":3,\"subscribe\":"));
  clear(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"capC\"},\"id\":4}");
  thub_expect(&h.c[0], ERR(4, 106, "limit exceeded"));
  clear(&h);
  say(&h, 1, "{\"publish\":{\"channel\":\"capD\",\"data\":{}},\"id\":2}");
  thub_expect(&h.c[1], ERR(2, 106, "limit exceeded"));
  assert_int_equal(wsp_server_publish(h.srv, "capE", "1", 1, NULL),
                   WSP_ERR_LIMIT);
  /* channels without history and existing streams are not affected */
  say(&h, 1, "{\"subscribe\":{\"channel\":\"nohistX\"},\"id\":3}");
  thub_expect(&h.c[1], "{\"id\":3,\"subscribe\":{}}\n");
  assert_true(wsp_server_publish(h.srv, "capA", "1", 1, NULL) >= 0);
  wsp_evlog_get_stats(h.log, &st);
  assert_int_equal(st.streams, 2);
  assert_int_equal(st.streams_refused, 3);
  /* capB stayed empty: meta_ttl drops it, and room is made */
  wsp_server_tick(h.srv, 2000);
  wsp_evlog_get_stats(h.log, &st);
  assert_int_equal(st.streams, 1);
  pump(&h); /* capA's publication */
  clear(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"capC\"},\"id\":5}");
  assert_true(take(&(const char *){L(&h, 0)}, "{\"id\":5,\"subscribe\":"));
  hub_free(&h);
}

/* ---- The log's clock across a reboot --------------------------------- */

static uint64_t fake_wall;

static uint64_t wall_clock(void *ud) {
  (void)ud;
  return fake_wall;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* One boot: a file store in dir, a hub whose own clock starts at mono and
 * whose history runs on wall_clock, every channel kept for 10 s. */
static void boot(const char *dir, uint64_t mono, struct wsp_evlog **log,
                 struct wsp_server **srv) {
  struct wsp_evlog_options eo;
  struct wsp_evlog_file_options fo;
  struct wsp_server_history hs;
  memset(&eo, 0, sizeof(eo));
  memset(&fo, 0, sizeof(fo));
  fo.fsync = WSP_EVLOG_FSYNC_ALWAYS; /* no sync timer: only retention's */
  eo.retention.max_age = 10000;
  assert_int_equal(wsp_evlog_file_store_new(&eo.store, dir, &fo, NULL), 0);
  assert_int_equal(wsp_evlog_new(log, &eo, fake_wall), 0);
  assert_int_equal(wsp_server_new(srv, NULL, NULL, mono, NULL), 0);
  memset(&hs, 0, sizeof(hs));
  hs.log = *log;
  hs.retention = eo.retention;
  hs.clock = wall_clock;
  assert_int_equal(wsp_server_set_history(*srv, &hs), 0);
}

static int count_event(const struct wsp_evlog_event *e, void *ud) {
  (void)e;
  ++*(long *)ud;
  return 0;
}

static long kept(struct wsp_evlog *log, struct wsp_evlog_position *pos) {
  long n = 0;
  assert_true(wsp_evlog_read(log, "news", 4, NULL, 0, 100, 0, count_event, &n,
                             pos) >= 0);
  return n;
}

/* With a wall clock for the log, retention by age holds across a reboot,
 * which starts the server's monotonic clock again from near 0: the
 * publication is kept for its 10 s, no less and no more. On the server's
 * clock it would look 4900 ms in the future after the reboot. */
static void test_history_wall_clock_across_reboot(void **state) {
  char dir[] = "/tmp/wsp-history-XXXXXX";
  const uint64_t w = 1765000000000ull; /* a wall-clock time, ms */
  struct wsp_publish_result res;
  struct wsp_evlog_position pos;
  struct wsp_server *srv;
  struct wsp_evlog *log;
  uint64_t d;
  (void)state;
  assert_non_null(mkdtemp(dir));

  fake_wall = w;
  boot(dir, 5000, &log, &srv);
  assert_true(wsp_server_publish_with(srv, "news", "1", 1, NULL, &res) >= 0);
  assert_int_equal(res.offset, 1);
  /* the log's deadline, 10 s on, on the server's clock */
  d = wsp_server_next_deadline(srv);
  assert_true(d >= 15000 && d <= 15001);
  wsp_server_free(srv);
  wsp_evlog_free(log);

  /* the reboot: 4 s later on the wall, 100 ms after boot */
  fake_wall = w + 4000;
  boot(dir, 100, &log, &srv);
  assert_int_equal(kept(log, &pos), 1);
  d = wsp_server_next_deadline(srv);
  assert_true(d >= 6100 && d <= 6101);
  fake_wall = w + 9900;
  assert_int_equal(wsp_server_tick(srv, 6000), 0);
  assert_int_equal(kept(log, &pos), 1);
  fake_wall = w + 10001;
  assert_int_equal(wsp_server_tick(srv, 6101), 0);
  assert_int_equal(kept(log, &pos), 0);
  assert_int_equal(pos.offset, 1); /* the position stays */
  wsp_server_free(srv);
  wsp_evlog_free(log);
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* An idempotency key publishes once per channel within
 * WSP_SERVER_IDEMPOTENCY_TTL; a repeat gets the first result. */
static void test_history_idempotency_key(void **state) {
  struct hub h;
  struct wsp_publish_opts opts;
  struct wsp_publish_result r1, r2;
  char key[300];
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  clear(&h);
  memset(&opts, 0, sizeof(opts));
  opts.idempotency_key = "order-17";
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r1),
                   0);
  assert_int_equal(r1.offset, 1);
  assert_int_equal(r1.delivered, 1);
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                   0);
  assert_memory_equal(&r1, &r2, sizeof(r1));
  pump(&h);
  thub_expect(&h.c[0], "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":1,"
                       "\"offset\":1}}}\n");
  /* the same key on another channel is another publication */
  assert_int_equal(wsp_server_publish_with(h.srv, "other", "2", 1, &opts, &r2),
                   0);
  assert_int_equal(r2.offset, 1);
  assert_true(strcmp(r2.epoch, r1.epoch) != 0);
  /* still remembered just before the TTL, forgotten after it */
  wsp_server_tick(h.srv, 299999);
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                   0);
  assert_int_equal(r2.offset, 1);
  assert_true(wsp_server_next_deadline(h.srv) <= 300000);
  wsp_server_tick(h.srv, 300000);
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                   0);
  assert_int_equal(r2.offset, 2);
  /* counted; over WSP_SERVER_MAX_IDEMPOTENT the oldest key goes first */
  {
    struct wsp_server_stats st;
    wsp_server_get_stats(h.srv, &st);
    assert_int_equal(st.idempotent_repeats, 2);
    assert_int_equal(st.idempotent_evicted, 0);
    assert_int_equal(wsp_server_set_limit(h.srv, WSP_SERVER_MAX_IDEMPOTENT, 0),
                     WSP_ERR_INVAL);
    assert_int_equal(wsp_server_set_limit(h.srv, WSP_SERVER_MAX_IDEMPOTENT, 2),
                     0);
    opts.idempotency_key = "a";
    assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                     0);
    opts.idempotency_key = "b";
    assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                     0);
    wsp_server_get_stats(h.srv, &st);
    assert_int_equal(st.idempotent_evicted, 1); /* order-17 gave way */
    opts.idempotency_key = "order-17";
    assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                     0);
    assert_int_equal(r2.offset, 5); /* published again */
  }
  /* keys that cannot be one */
  opts.idempotency_key = "";
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                   WSP_ERR_INVAL);
  memset(key, 'k', sizeof(key) - 1);
  key[sizeof(key) - 1] = '\0';
  opts.idempotency_key = key;
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "1", 1, &opts, &r2),
                   WSP_ERR_INVAL);
  hub_free(&h);
}

/* wsp_server_publish_with tells a publisher the offset and epoch its
 * publication got, as the pub push carries them; nothing without history. */
static void test_history_publish_result(void **state) {
  struct hub h;
  struct wsp_publish_opts opts;
  struct wsp_publish_result res;
  char ep[WSP_EVLOG_EPOCH_MAX + 1];
  (void)state;
  hub_open(&h);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"nohist\"},\"id\":2}");
  clear(&h);
  assert_int_equal(
      wsp_server_publish_with(h.srv, "news", "{\"n\":1}", 7, NULL, &res), 0);
  epoch_of(&h, "news", ep);
  assert_int_equal(res.delivered, 1);
  assert_int_equal(res.offset, 1);
  assert_string_equal(res.epoch, ep);
  memset(&opts, 0, sizeof(opts));
  opts.info = "{\"user\":\"api\"}";
  assert_int_equal(
      wsp_server_publish_with(h.srv, "news", "2", 1, &opts, &res), 0);
  assert_int_equal(res.offset, 2);
  assert_string_equal(res.epoch, ep);
  pump(&h);
  thub_expect(&h.c[0],
              "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"n\":1},"
              "\"offset\":1}}}\n"
              "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":2,"
              "\"info\":{\"user\":\"api\"},\"offset\":2}}}\n");
  /* the same stream position through wsp_server_publish */
  assert_int_equal(wsp_server_publish(h.srv, "news", "3", 1, NULL), 1);
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "4", 1, NULL, &res),
                   0);
  assert_int_equal(res.offset, 4);
  /* no history: no position */
  assert_int_equal(
      wsp_server_publish_with(h.srv, "nohist", "5", 1, NULL, &res), 0);
  assert_int_equal(res.delivered, 1);
  assert_int_equal(res.offset, 0);
  assert_string_equal(res.epoch, "");
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "6", 1, NULL, NULL),
                   0);
  /* skip_history: delivered without an offset, not stored */
  pump(&h);
  clear(&h);
  memset(&opts, 0, sizeof(opts));
  opts.skip_history = 1;
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "7", 1, &opts, &res),
                   0);
  assert_int_equal(res.delivered, 1);
  assert_int_equal(res.offset, 0);
  assert_string_equal(res.epoch, "");
  pump(&h);
  thub_expect(&h.c[0],
              "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":7}}}\n");
  {
    struct wsp_evlog_position pos;
    assert_int_equal(wsp_evlog_position(h.log, "news", 4, &pos), 0);
    assert_int_equal(pos.offset, 5);
  }
  /* the next stored one continues the offsets, and its subscriber takes it */
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "8", 1, NULL, &res),
                   0);
  assert_int_equal(res.offset, 6);
  pump(&h);
  thub_expect(&h.c[0], "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":8,"
                       "\"offset\":6}}}\n");
  /* refusals leave a zeroed result */
  res.offset = 9;
  assert_int_equal(wsp_server_publish_with(h.srv, "news", "{x", 2, NULL, &res),
                   WSP_ERR_JSON);
  assert_int_equal(res.offset, 0);
  assert_int_equal(wsp_server_publish_with(h.srv, "a.*", "1", 1, NULL, &res),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_server_publish_with(NULL, "news", "1", 1, NULL, &res),
                   WSP_ERR_INVAL);
  hub_free(&h);
}

/* One message of history commands asks for far more output than it
 * weighs: the hub stops building replies once they pass the output cap,
 * closes the connection as SLOW and never holds much more than the cap. */
static void test_history_reply_amplification_bounded(void **state) {
  struct hub h;
  struct tfail f;
  struct wsp_server_stats st;
  struct tbuf msg;
  size_t before;
  int i;
  (void)state;
  tfail_init(&f, 0, 0);
  hub_open_mem(&h, &f.mem);
  assert_int_equal(wsp_server_set_limit(h.srv, WSP_SERVER_MAX_QUEUED, 65536),
                   0);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
  publish_padded(&h, "big", 300);
  clear(&h);
  /* 1,000 commands of 49 bytes, each answered with 300 publications of
   * about 1 KB: 300 MB of replies asked for by 50 KB */
  tbuf_init(&msg);
  for (i = 0; i < 1000; i++) {
    char cmd[96];
    int n = snprintf(cmd, sizeof(cmd),
                     "%s{\"history\":{\"channel\":\"big\",\"limit\":-1},"
                     "\"id\":%d}",
                     i ? "\n" : "", i + 10);
    tbuf_append(&msg, cmd, (size_t)n);
  }
  before = f.peak_bytes;
  assert_int_equal(wsp_conn_send(h.c[0].cc, WSP_OP_TEXT, msg.data, msg.len), 0);
  pump(&h);
  assert_int_equal(h.c[0].close_code, 3008);
  assert_string_equal(L(&h, 0), ""); /* no part of the replies went out */
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.slow_closes, 1);
  /* the cap, one reply of ~300 KB beyond it and the message itself */
  if (f.peak_bytes - before > 2u * 1024 * 1024)
    print_error("peak grew by %zu bytes\n", f.peak_bytes - before);
  assert_true(f.peak_bytes - before <= 2u * 1024 * 1024);
  tbuf_free(&msg);
  hub_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_history_offsets_and_positions),
      cmocka_unit_test(test_history_command),
      cmocka_unit_test(test_history_recovery),
      cmocka_unit_test(test_history_gap_unsubscribes_2500),
      cmocka_unit_test(test_history_tags_filter),
      cmocka_unit_test(test_history_wall_clock),
      cmocka_unit_test(test_history_ttl_through_the_hub_tick),
      cmocka_unit_test(test_history_store_failure_acknowledges_nothing),
      cmocka_unit_test(test_history_allocation_failures),
      cmocka_unit_test(test_history_slow_subscriber_fed_from_the_log),
      cmocka_unit_test(test_history_slow_subscriber_out_of_retention),
      cmocka_unit_test(test_history_slow_subscriber_allocation_failures),
      cmocka_unit_test(test_history_publish_result),
      cmocka_unit_test(test_history_reply_amplification_bounded),
      cmocka_unit_test(test_history_channel_cap),
      cmocka_unit_test(test_history_idempotency_key),
      cmocka_unit_test(test_history_wall_clock_across_reboot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
