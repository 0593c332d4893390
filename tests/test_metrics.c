/*
 * wsp_server_write_metrics(): the Prometheus text of a hub driven through
 * in-memory clients on a fake clock. The text is checked line by line
 * against the exposition format, samples are read by their exact series
 * (name and labels) and compared exactly, and the counters and
 * histograms are made to move: commands by name, closes by code, RPC
 * latency with immediate, deferred and timed-out replies, fan-out lag of
 * live deliveries and of a subscriber fed from the history log, queued
 * bytes, and the WSP_ERR_LIMIT path.
 */
#include "helpers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp/evlog.h"
#include "wsp/rpc.h"
#include "wsp/server.h"

#define NC 3

struct hub {
  struct wsp_server *srv;
  struct wsp_evlog *log; /* NULL: no history */
  struct thub_cli c[NC];
  uint64_t clock; /* the hub's clock (its now callback), ms */
  uint64_t held;  /* an RPC call answered later */
  char *text;     /* the last metrics written */
};

static struct hub *H;

static uint64_t now_cb(void *ud) { return ((struct hub *)ud)->clock; }

static void m_echo(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)ud;
  assert_int_equal(wsp_rpc_reply(H->srv, call, d, n), 0);
}

static void m_later(struct wsp_client *cl, uint64_t call, const char *m,
                    const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)d;
  (void)n;
  (void)ud;
  H->held = call;
}

static void pump(struct hub *h) { thub_pump(h->c, NC); }

static void say(struct hub *h, int i, const char *text) {
  thub_say(h->c, NC, i, text);
}

static void hub_open(struct hub *h, int history) {
  struct wsp_server_callbacks scb;
  int i;
  memset(h, 0, sizeof(*h));
  H = h;
  h->clock = 1000;
  memset(&scb, 0, sizeof(scb));
  scb.now = now_cb;
  assert_int_equal(wsp_server_new(&h->srv, &scb, NULL, h->clock, h), 0);
  assert_int_equal(wsp_server_set_channel_flags(h->srv, WSP_CHANNEL_PUBLISH),
                   0);
  assert_int_equal(wsp_rpc_register(h->srv, "echo", m_echo, NULL), 0);
  assert_int_equal(wsp_rpc_register(h->srv, "later", m_later, NULL), 0);
  if (history) {
    struct wsp_evlog_options eo;
    struct wsp_server_history hs;
    memset(&eo, 0, sizeof(eo));
    assert_int_equal(wsp_evlog_new(&h->log, &eo, h->clock), 0);
    memset(&hs, 0, sizeof(hs));
    hs.log = h->log;
    hs.retention.max_events = 1000;
    assert_int_equal(wsp_server_set_history(h->srv, &hs), 0);
  }
  for (i = 0; i < NC; i++) {
    thub_cli_open(&h->c[i], h->srv);
    say(h, i, "{\"connect\":{},\"id\":1}");
  }
  thub_clear(h->c, NC);
}

static void hub_free(struct hub *h) {
  int i;
  for (i = 0; i < NC; i++)
    thub_cli_free(&h->c[i]);
  wsp_server_free(h->srv);
  wsp_evlog_free(h->log);
  free(h->text);
}

/* ---- Reading the text --------------------------------------------------- */

/* Write the metrics into h->text the way the man page says: ask for the
 * length, then write. */
static const char *scrape(struct hub *h) {
  size_t len = 0, len2 = 0;
  assert_int_equal(wsp_server_write_metrics(h->srv, NULL, 0, &len),
                   WSP_ERR_LIMIT);
  free(h->text);
  h->text = malloc(len + 1);
  assert_non_null(h->text);
  assert_int_equal(wsp_server_write_metrics(h->srv, h->text, len + 1, &len2),
                   0);
  assert_int_equal(len2, len);
  assert_int_equal(strlen(h->text), len);
  return h->text;
}

/* The value of the sample whose series (name and labels) is exactly
 * series, as written; fails the test when there is not exactly one. */
static const char *value_of(const char *text, const char *series) {
  static char out[64];
  size_t n = strlen(series);
  const char *p = text, *hit = NULL;
  while (*p) {
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    if ((size_t)(nl - p) > n + 1 && memcmp(p, series, n) == 0 && p[n] == ' ') {
      assert_null(hit); /* one sample per series */
      hit = p + n + 1;
      assert_true((size_t)(nl - hit) < sizeof(out));
      memcpy(out, hit, (size_t)(nl - hit));
      out[nl - hit] = '\0';
    }
    p = nl + 1;
  }
  if (!hit)
    fail_msg("no sample %s", series);
  return out;
}

static uint64_t num_of(const char *text, const char *series) {
  const char *v = value_of(text, series);
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  assert_true(*v && *end == '\0');
  return n;
}

/* What a histogram holds: its cumulative buckets, in the order written. */
static void buckets_of(const char *text, const char *name, uint64_t *b,
                       size_t nb) {
  static const char *const le[] = {"0.001", "0.002", "0.005", "0.01", "0.025",
                                   "0.05",  "0.1",   "0.25",  "0.5",  "1",
                                   "2.5",   "5",     "10",    "30",   "+Inf"};
  char series[128];
  size_t i;
  assert_int_equal(nb, T_ARRAY_LEN(le));
  for (i = 0; i < nb; i++) {
    snprintf(series, sizeof(series), "%s_bucket{le=\"%s\"}", name, le[i]);
    b[i] = num_of(text, series);
  }
}

/* Check every line against the text format 0.0.4: "# HELP name text",
 * "# TYPE name type" once per family and before its samples, samples
 * "name{label=\"value\",...} value" of the family last typed (a
 * histogram's with _bucket, _sum, _count), counters named _total, every
 * name starting wsp_, and a newline at the end. Returns the number of
 * families. */
static int check_format(const char *text) {
  char family[128] = "", type[16] = "";
  int families = 0;
  const char *p = text;
  assert_true(*text && text[strlen(text) - 1] == '\n');
  while (*p) {
    const char *nl = strchr(p, '\n'), *q;
    size_t n;
    char name[128];
    assert_non_null(nl);
    if (strncmp(p, "# HELP ", 7) == 0) {
      q = p + 7;
      n = strcspn(q, " \n");
      assert_true(n < sizeof(name) && q[n] == ' ' && q + n + 1 < nl);
      memcpy(family, q, n);
      family[n] = '\0';
      assert_memory_equal(family, "wsp_", 4);
      type[0] = '\0';
      families++;
    } else if (strncmp(p, "# TYPE ", 7) == 0) {
      q = p + 7;
      n = strlen(family);
      assert_true(strncmp(q, family, n) == 0 && q[n] == ' ');
      assert_true(type[0] == '\0'); /* once per family */
      q += n + 1;
      assert_true((size_t)(nl - q) < sizeof(type));
      memcpy(type, q, (size_t)(nl - q));
      type[nl - q] = '\0';
      assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                  strcmp(type, "histogram") == 0);
      if (strcmp(type, "counter") == 0)
        assert_string_equal(family + strlen(family) - 6, "_total");
    } else {
      n = strcspn(p, "{ \n");
      assert_true(n < sizeof(name) && type[0] != '\0');
      memcpy(name, p, n);
      name[n] = '\0';
      if (strcmp(type, "histogram") == 0) {
        size_t f = strlen(family);
        assert_true(strncmp(name, family, f) == 0);
        assert_true(strcmp(name + f, "_bucket") == 0 ||
                    strcmp(name + f, "_sum") == 0 ||
                    strcmp(name + f, "_count") == 0);
      } else {
        assert_string_equal(name, family);
      }
      q = p + n;
      if (*q == '{') {
        /* label="value" pairs, values with \\, \" and \n escapes only */
        q++;
        for (;;) {
          while (isalnum((unsigned char)*q) || *q == '_')
            q++;
          assert_true(q[0] == '=' && q[1] == '"');
          q += 2;
          while (*q != '"') {
            assert_true(*q != '\n' && *q != '\0');
            if (*q == '\\') {
              assert_true(q[1] == '\\' || q[1] == '"' || q[1] == 'n');
              q++;
            }
            q++;
          }
          q++;
          if (*q == ',') {
            q++;
            continue;
          }
          assert_int_equal(*q, '}');
          q++;
          break;
        }
      }
      assert_int_equal(*q, ' ');
      q++;
      /* a non-negative decimal: digits, at most one '.' between digits */
      assert_true(isdigit((unsigned char)*q));
      while (isdigit((unsigned char)*q))
        q++;
      if (*q == '.') {
        q++;
        assert_true(isdigit((unsigned char)*q));
        while (isdigit((unsigned char)*q))
          q++;
      }
      assert_ptr_equal(q, nl);
    }
    p = nl + 1;
  }
  return families;
}

/* ---- Tests -------------------------------------------------------------- */

static void test_metrics_format_of_a_new_server(void **state) {
  struct wsp_server *srv;
  char *text;
  size_t len;
  int families;
  /* The whole block of one histogram, exactly, as a new server has it. */
  static const char rpc_block[] =
      "# HELP wsp_rpc_duration_seconds Time from an RPC command to its reply "
      "(result, error or timeout) being queued, on the hub's clock.\n"
      "# TYPE wsp_rpc_duration_seconds histogram\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.001\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.002\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.005\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.01\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.025\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.05\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.1\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.25\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"0.5\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"1\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"2.5\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"5\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"10\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"30\"} 0\n"
      "wsp_rpc_duration_seconds_bucket{le=\"+Inf\"} 0\n"
      "wsp_rpc_duration_seconds_sum 0\n"
      "wsp_rpc_duration_seconds_count 0\n";
  const char *at, *end;
  (void)state;
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_server_write_metrics(srv, NULL, 0, &len), WSP_ERR_LIMIT);
  text = malloc(len + 1);
  assert_non_null(text);
  assert_int_equal(wsp_server_write_metrics(srv, text, len + 1, &len), 0);
  families = check_format(text);
  /* the 21 members of the stats, commands, closes, two histograms and
   * four gauges */
  assert_int_equal(families, 21 + 2 + 2 + 4);
  at = strstr(text, "# HELP wsp_rpc_duration_seconds ");
  assert_non_null(at);
  end = strstr(at, "# HELP wsp_fanout_lag_seconds ");
  assert_non_null(end);
  assert_int_equal((size_t)(end - at), sizeof(rpc_block) - 1);
  assert_memory_equal(at, rpc_block, sizeof(rpc_block) - 1);
  /* every label of the fixed sets, zero */
  assert_int_equal(num_of(text, "wsp_commands_total{command=\"connect\"}"), 0);
  assert_int_equal(num_of(text, "wsp_commands_total{command=\"sub_refresh\"}"),
                   0);
  assert_int_equal(num_of(text, "wsp_commands_total{command=\"pong\"}"), 0);
  assert_int_equal(num_of(text, "wsp_closes_total{code=\"1000\"}"), 0);
  assert_int_equal(num_of(text, "wsp_closes_total{code=\"3509\"}"), 0);
  assert_int_equal(num_of(text, "wsp_closes_total{code=\"other\"}"), 0);
  assert_int_equal(num_of(text, "wsp_connections"), 0);
  assert_int_equal(num_of(text, "wsp_queued_bytes"), 0);
  assert_int_equal(num_of(text, "wsp_deflate_connections"), 0);
  free(text);
  wsp_server_free(srv);
}

static void test_metrics_limit_and_arguments(void **state) {
  struct wsp_server *srv;
  char small[16], *text;
  size_t len = 0, len2 = 7;
  (void)state;
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_server_write_metrics(NULL, small, sizeof(small), &len),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_server_write_metrics(srv, small, sizeof(small), NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_server_write_metrics(srv, NULL, 5, &len), WSP_ERR_INVAL);
  assert_int_equal(wsp_server_write_metrics(srv, small, sizeof(small), &len),
                   WSP_ERR_LIMIT);
  assert_true(len > sizeof(small));
  /* room for the text but not its NUL is still too small */
  text = malloc(len + 1);
  assert_non_null(text);
  memset(text, 'x', len + 1);
  assert_int_equal(wsp_server_write_metrics(srv, text, len, &len2),
                   WSP_ERR_LIMIT);
  assert_int_equal(len2, len);
  assert_int_equal(text[len], 'x'); /* nothing written past cap */
  assert_int_equal(wsp_server_write_metrics(srv, text, len + 1, &len2), 0);
  assert_int_equal(len2, len);
  assert_int_equal(text[len], '\0');
  assert_memory_equal(text, "# HELP wsp_connections ", 23);
  free(text);
  wsp_server_free(srv);
}

static void test_metrics_commands_and_closes(void **state) {
  struct hub h;
  struct wsp_server_stats st;
  const char *t;
  (void)state;
  hub_open(&h, 0);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"a\"},\"id\":2}");
  say(&h, 0,
      "{\"subscribe\":{\"channel\":\"b\"},\"id\":3}\n"
      "{\"unsubscribe\":{\"channel\":\"b\"},\"id\":4}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"a\"},\"id\":2}");
  say(&h, 1, "{\"publish\":{\"channel\":\"a\",\"data\":1},\"id\":3}");
  say(&h, 1, "{\"rpc\":{\"method\":\"echo\",\"data\":2},\"id\":4}");
  /* a ping from a client is a bad request: 3501 */
  say(&h, 2, "{\"ping\":{},\"id\":2}");
  assert_int_equal(h.c[2].close_code, WSP_PROTO_DISCONNECT_BAD_REQUEST);
  /* the server closes one with 3000, the peer closes the other with an
   * application code, counted as "other" */
  assert_int_equal(wsp_client_disconnect(h.c[0].sc, 3000, "bye"), 0);
  assert_int_equal(wsp_conn_close(h.c[1].cc, 4000, "bye", 3), 0);
  pump(&h);
  assert_int_equal(h.c[0].close_code, 3000);
  t = scrape(&h);
  check_format(t);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"connect\"}"), 3);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"subscribe\"}"), 3);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"unsubscribe\"}"), 1);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"publish\"}"), 1);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"rpc\"}"), 1);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"ping\"}"), 1);
  assert_int_equal(num_of(t, "wsp_commands_total{command=\"history\"}"), 0);
  assert_int_equal(num_of(t, "wsp_closes_total{code=\"3000\"}"), 1);
  assert_int_equal(num_of(t, "wsp_closes_total{code=\"3501\"}"), 1);
  assert_int_equal(num_of(t, "wsp_closes_total{code=\"other\"}"), 1);
  assert_int_equal(num_of(t, "wsp_closes_total{code=\"1000\"}"), 0);
  /* the stats as they are */
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.commands, 10);
  assert_int_equal(num_of(t, "wsp_accepted_total"), st.accepted);
  assert_int_equal(num_of(t, "wsp_connections"), st.connections);
  assert_int_equal(num_of(t, "wsp_messages_in_total"), st.messages_in);
  assert_int_equal(num_of(t, "wsp_messages_out_total"), st.messages_out);
  assert_int_equal(num_of(t, "wsp_bytes_in_total"), st.bytes_in);
  assert_int_equal(num_of(t, "wsp_bytes_out_total"), st.bytes_out);
  assert_int_equal(num_of(t, "wsp_errors_protocol_total"), 1);
  assert_int_equal(num_of(t, "wsp_publications_total"), 1);
  assert_int_equal(num_of(t, "wsp_deliveries_total"), 2);
  assert_int_equal(num_of(t, "wsp_rpc_calls_total"), 1);
  hub_free(&h);
}

static void test_metrics_rpc_latency_buckets(void **state) {
  struct hub h;
  uint64_t b[15];
  const char *t;
  (void)state;
  hub_open(&h, 0);
  /* answered at once: 0 ms */
  say(&h, 0, "{\"rpc\":{\"method\":\"echo\",\"data\":1},\"id\":2}");
  /* answered 30 ms later */
  say(&h, 0, "{\"rpc\":{\"method\":\"later\"},\"id\":3}");
  t = scrape(&h);
  assert_int_equal(num_of(t, "wsp_rpc_duration_seconds_count"), 1);
  h.clock += 30;
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "{}", 2), 0);
  pump(&h);
  /* timed out after WSP_SERVER_RPC_TIMEOUT, 200 ms */
  assert_int_equal(wsp_server_set_limit(h.srv, WSP_SERVER_RPC_TIMEOUT, 200), 0);
  say(&h, 1, "{\"rpc\":{\"method\":\"later\"},\"id\":2}");
  h.clock += 200;
  assert_int_equal(wsp_server_tick(h.srv, h.clock), 0);
  pump(&h);
  /* a method nobody has is no call: not observed */
  say(&h, 1, "{\"rpc\":{\"method\":\"none\"},\"id\":3}");
  t = scrape(&h);
  buckets_of(t, "wsp_rpc_duration_seconds", b, 15);
  {
    static const uint64_t want[15] = {1, 1, 1, 1, 1, 2, 2, 3,
                                      3, 3, 3, 3, 3, 3, 3};
    assert_memory_equal(b, want, sizeof(want));
  }
  assert_string_equal(value_of(t, "wsp_rpc_duration_seconds_sum"), "0.23");
  assert_int_equal(num_of(t, "wsp_rpc_duration_seconds_count"), 3);
  assert_int_equal(num_of(t, "wsp_rpc_timeouts_total"), 1);
  assert_int_equal(num_of(t, "wsp_rpc_calls_total"), 3);
  /* a reply after the timeout is late, and not observed again */
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "{}", 2), WSP_ERR_NOT_FOUND);
  t = scrape(&h);
  assert_int_equal(num_of(t, "wsp_rpc_late_total"), 1);
  assert_int_equal(num_of(t, "wsp_rpc_duration_seconds_count"), 3);
  hub_free(&h);
}

static void test_metrics_fanout_lag_live(void **state) {
  struct hub h;
  uint64_t b[15];
  const char *t;
  int i;
  (void)state;
  hub_open(&h, 0);
  for (i = 0; i < NC; i++)
    say(&h, i, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  for (i = 0; i < 5; i++)
    assert_int_equal(wsp_server_publish(h.srv, "news", "1", 1, NULL), NC);
  pump(&h);
  t = scrape(&h);
  /* the fan-out itself takes no time on this clock: 15 deliveries, 0 ms */
  buckets_of(t, "wsp_fanout_lag_seconds", b, 15);
  for (i = 0; i < 15; i++)
    assert_int_equal(b[i], 5 * NC);
  assert_string_equal(value_of(t, "wsp_fanout_lag_seconds_sum"), "0");
  assert_int_equal(num_of(t, "wsp_fanout_lag_seconds_count"),
                   num_of(t, "wsp_deliveries_total"));
  hub_free(&h);
}

static void test_metrics_fanout_lag_from_the_log(void **state) {
  struct hub h;
  struct wsp_conn *c;
  uint64_t b[15], queued = 0;
  const char *t;
  char d[1100];
  int i;
  (void)state;
  hub_open(&h, 1);
  say(&h, 0, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
  say(&h, 1, "{\"subscribe\":{\"channel\":\"big\"},\"id\":2}");
  c = wsp_client_get_conn(h.c[0].sc);
  wsp_conn_set_limit(c, WSP_LIMIT_MAX_QUEUED, 16384);
  wsp_conn_set_limit(c, WSP_LIMIT_HIGH_WATER, 8192);
  /* client 0 stops reading: it lags, and is fed from the log 600 ms
   * later */
  h.c[0].paused = 1;
  for (i = 0; i < 40; i++) {
    snprintf(d, sizeof(d), "{\"i\":%d,\"pad\":\"%01000d\"}", i, 0);
    assert_true(wsp_server_publish(h.srv, "big", d, strlen(d), NULL) >= 0);
    pump(&h);
  }
  t = scrape(&h);
  assert_int_equal(num_of(t, "wsp_lagging_subscribers"), 1);
  assert_int_equal(num_of(t, "wsp_lagged_total"), 1);
  for (i = 0; i < NC; i++)
    queued += wsp_conn_queued_bytes(wsp_client_get_conn(h.c[i].sc));
  assert_true(queued > 0);
  assert_int_equal(num_of(t, "wsp_queued_bytes"), queued);
  assert_int_equal(num_of(t, "wsp_queued_bytes_max"), wsp_conn_queued_bytes(c));
  h.clock += 600;
  h.c[0].paused = 0;
  pump(&h);
  t = scrape(&h);
  check_format(t);
  assert_int_equal(num_of(t, "wsp_lagging_subscribers"), 0);
  assert_int_equal(num_of(t, "wsp_queued_bytes"), 0);
  assert_int_equal(num_of(t, "wsp_deliveries_total"), 80);
  buckets_of(t, "wsp_fanout_lag_seconds", b, 15);
  /* every delivery observed once: the live ones at 0 ms, those fed from
   * the log 600 ms after their publication (le 1) */
  assert_int_equal(b[14], 80);
  assert_true(b[0] >= 40 && b[0] < 80);
  assert_int_equal(b[8], b[0]); /* le 0.5 */
  assert_int_equal(b[9], 80);   /* le 1 */
  assert_int_equal(num_of(t, "wsp_fanout_lag_seconds_count"), 80);
  {
    /* 600 ms each: a multiple of 0.2 s, written without trailing zeros */
    unsigned long long ms = (80 - b[0]) * 600;
    char want[32];
    if (ms % 1000)
      snprintf(want, sizeof(want), "%llu.%llu", ms / 1000, ms % 1000 / 100);
    else
      snprintf(want, sizeof(want), "%llu", ms / 1000);
    assert_string_equal(value_of(t, "wsp_fanout_lag_seconds_sum"), want);
  }
  hub_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_format_of_a_new_server),
      cmocka_unit_test(test_metrics_limit_and_arguments),
      cmocka_unit_test(test_metrics_commands_and_closes),
      cmocka_unit_test(test_metrics_rpc_latency_buckets),
      cmocka_unit_test(test_metrics_fanout_lag_live),
      cmocka_unit_test(test_metrics_fanout_lag_from_the_log),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
