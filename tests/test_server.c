/*
 * The hub and the default codec (Centrifuge client protocol v2, JSON),
 * driven through an in-memory client connection: recorded command frames
 * in, the exact reply lines and close codes out, timers on a fake clock.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp/rpc.h"
#include "wsp/server.h"

struct h {
  struct wsp_server *srv;
  struct wsp_client *sc;
  struct wsp_conn *cc;
  char lines[64][512]; /* every received line, in order */
  int nlines, nframes;
  int close_code;
  char close_reason[128];
  int disconnects, disconnect_code;
  uint64_t held; /* a call answered later */
  int sends;
  int own_codec; /* not the Centrifuge protocol: no JSON lines */
};

static struct h *H;

static void cli_msg(struct wsp_conn *c, int op, const uint8_t *d, size_t n,
                    void *ud) {
  struct h *h = ud;
  const char *p = (const char *)d, *end = p + n;
  (void)c;
  assert_int_equal(op, WSP_OP_TEXT);
  h->nframes++;
  if (!h->own_codec)
    thub_check_lines(d, n);
  while (p < end && h->nlines < 64) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = (size_t)((nl ? nl : end) - p);
    assert_true(len > 0 && len < 512); /* never a blank line */
    memcpy(h->lines[h->nlines], p, len);
    h->lines[h->nlines++][len] = '\0';
    p = nl ? nl + 1 : end;
  }
}

static void cli_close(struct wsp_conn *c, int code, const uint8_t *r,
                      size_t n, void *ud) {
  struct h *h = ud;
  (void)c;
  h->close_code = code;
  snprintf(h->close_reason, sizeof(h->close_reason), "%.*s", (int)n,
           (const char *)r);
}

static void on_disconnect(struct wsp_client *cl, int code, void *ud) {
  struct h *h = ud;
  (void)cl;
  h->disconnects++;
  h->disconnect_code = code;
}

static void on_send(struct wsp_client *cl, const uint8_t *d, size_t n,
                    void *ud) {
  struct h *h = ud;
  h->sends++;
  assert_int_equal(wsp_client_push_message(cl, d, n), 0);
}

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
  assert_int_not_equal(call, 0);
  H->held = call;
}

static void m_fail(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)d;
  (void)n;
  (void)ud;
  assert_int_equal(wsp_rpc_error(H->srv, call, 1000, "fail", 0), 0);
}

static void pump(struct h *h) {
  int round;
  for (round = 0; round < 100; round++) {
    size_t up = thub_up(h->cc, h->sc);
    if (up + thub_down(h->sc, h->cc) == 0)
      return;
  }
}

static void h_open(struct h *h, const char *path, int with_send) {
  struct wsp_server_callbacks scb;
  struct wsp_conn_callbacks ccb;
  memset(h, 0, sizeof(*h));
  H = h;
  memset(&scb, 0, sizeof(scb));
  scb.on_disconnect = on_disconnect;
  if (with_send)
    scb.on_send = on_send;
  assert_int_equal(wsp_server_new(&h->srv, &scb, NULL, 0, h), 0);
  assert_int_equal(wsp_rpc_register(h->srv, "echo", m_echo, NULL), 0);
  assert_int_equal(wsp_rpc_register(h->srv, "later", m_later, NULL), 0);
  assert_int_equal(wsp_rpc_register(h->srv, "fail", m_fail, NULL), 0);
  assert_int_equal(wsp_server_accept(h->srv, h, &h->sc), 0);
  /* These tests check the hub's own deadlines, not the output queue's. */
  assert_int_equal(
      wsp_conn_set_limit(wsp_client_get_conn(h->sc), WSP_LIMIT_QUEUE_LINGER, 0),
      0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = cli_msg;
  ccb.on_close = cli_close;
  assert_int_equal(wsp_conn_new(&h->cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, h),
                   0);
  assert_int_equal(wsp_conn_client_start(h->cc, "t", path, NULL), 0);
  pump(h);
}

static void h_send(struct h *h, const char *text) {
  assert_int_equal(wsp_conn_send(h->cc, WSP_OP_TEXT, text, strlen(text)), 0);
  pump(h);
}

/* The reply to connect 1 of the client whose id is client, exactly. */
static const char *connect_line(char *out, size_t cap, const char *client) {
  return thub_client_reply(out, cap, 1, "connect", client,
                           ",\"ping\":25,\"pong\":true}}");
}

static void h_connect(struct h *h) {
  char want[160];
  h_send(h, "{\"connect\":{\"name\":\"js\"},\"id\":1}");
  assert_int_equal(h->nlines, 1);
  assert_string_equal(
      h->lines[0], connect_line(want, sizeof(want), wsp_client_get_id(h->sc)));
}

static void h_free(struct h *h) {
  wsp_client_free(h->sc);
  wsp_conn_free(h->cc);
  wsp_server_free(h->srv);
}

/* The client saw a close frame with code (not a reset), after draining. */
static void assert_closed(struct h *h, int code) {
  assert_int_equal(wsp_conn_close_code_sent(wsp_client_get_conn(h->sc)), code);
  assert_int_equal(h->close_code, code);
  assert_true(wsp_client_is_done(h->sc));
  assert_int_equal(h->disconnects, 1);
  assert_int_equal(h->disconnect_code, code);
}

static void test_server_batch_in_order(void **state) {
  struct h h;
  char want[160];
  (void)state;
  h_open(&h, "/connection/websocket", 1);
  h_send(&h, "{\"connect\":{\"name\":\"js\"},\"id\":1}\n"
             "{\"rpc\":{\"method\":\"echo\",\"data\":{\"a\":[1, 2]}},\"id\":2}\n"
             "{\"rpc\":{\"method\":\"nope\"},\"id\":3}\n"
             "{\"rpc\":{\"method\":\"later\"},\"id\":4}\n"
             "{\"rpc\":{\"method\":\"fail\"},\"id\":5}\n"
             "{\"send\":{\"data\":\"hi\"},\"unknown\":7}\n");
  assert_int_equal(h.nframes, 1); /* all replies in one message */
  assert_int_equal(h.nlines, 5);
  assert_string_equal(
      h.lines[0], connect_line(want, sizeof(want), wsp_client_get_id(h.sc)));
  assert_string_equal(h.lines[1], "{\"id\":2,\"rpc\":{\"data\":{\"a\":[1, 2]}}}");
  assert_string_equal(h.lines[2],
                      "{\"id\":3,\"error\":{\"code\":104,\"message\":\"method "
                      "not found\"}}");
  assert_string_equal(h.lines[3],
                      "{\"id\":5,\"error\":{\"code\":1000,\"message\":\"fail\"}}");
  assert_string_equal(h.lines[4], "{\"push\":{\"message\":{\"data\":\"hi\"}}}");
  assert_string_equal(strlen(wsp_client_get_id(h.sc)) == 36 ? "ok" : "bad",
                      "ok");
  /* the deferred reply, then the same handle again: counted as late */
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "42", 2), 0);
  pump(&h);
  assert_string_equal(h.lines[5], "{\"id\":4,\"rpc\":{\"data\":42}}");
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "42", 2), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "{bad", 4), WSP_ERR_JSON);
  {
    struct wsp_server_stats st;
    wsp_server_get_stats(h.srv, &st);
    assert_int_equal(st.rpc_late, 1);
    assert_int_equal(st.commands, 6);
    assert_int_equal(st.rpc_calls, 3);
  }
  h_free(&h);
}

static void test_server_payload_newlines_dropped(void **state) {
  struct h h;
  (void)state;
  h_open(&h, "/connection/websocket", 1);
  h_connect(&h);
  /* a payload with inter-token CR/LF escapes is spliced without them */
  assert_int_equal(wsp_client_push_message(h.sc, "{\"a\":\r\n\"x\\ny\"}", 14),
                   0);
  pump(&h);
  assert_string_equal(h.lines[1],
                      "{\"push\":{\"message\":{\"data\":{\"a\":\"x\\ny\"}}}}");
  assert_int_equal(wsp_client_push_message(h.sc, "{nope", 5), WSP_ERR_JSON);
  h_free(&h);
}

struct bad_case {
  const char *name, *text;
  int connect_first, code;
};

static const struct bad_case bad_cases[] = {
    {"broken JSON", "{\"connect\":", 0, 3501},
    {"trailing comma", "{\"connect\":{},\"id\":1,}", 0, 3501},
    {"not an object", "[1]", 0, 3501},
    {"command before connect", "{\"rpc\":{\"method\":\"echo\"},\"id\":1}", 0,
     3501},
    {"second connect", "{\"connect\":{},\"id\":2}", 1, 3501},
    {"unknown command", "{\"frobnicate\":{},\"id\":2}", 1, 3501},
    {"id 0 on rpc", "{\"rpc\":{\"method\":\"echo\"}}", 1, 3501},
    {"pong without ping", "{}", 1, 3501},
    {"ping command", "{\"ping\":{},\"id\":2}", 1, 3501},
    {"blank line between", "{\"rpc\":{\"method\":\"echo\"},\"id\":2}\n\n{}", 1,
     3501},
    {"request not an object", "{\"rpc\":7,\"id\":2}", 1, 3501},
    {"id too large", "{\"rpc\":{},\"id\":4294967296}", 1, 3501},
    {"send without handler", "{\"send\":{\"data\":1}}", 1, 3508},
};

static void test_server_bad_commands(void **state) {
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
    struct h h;
    h_open(&h, "/connection/websocket", 0);
    if (bad_cases[i].connect_first)
      h_connect(&h);
    h_send(&h, bad_cases[i].text);
    if (h.close_code != bad_cases[i].code)
      fail_msg("%s: close %d, want %d", bad_cases[i].name, h.close_code,
               bad_cases[i].code);
    assert_closed(&h, bad_cases[i].code);
    h_free(&h);
  }
}

/* Replies owed before the bad command leave before the close frame. */
static void test_server_close_behind_replies(void **state) {
  struct h h;
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  h_send(&h, "{\"connect\":{},\"id\":1}\n"
             "{\"rpc\":{\"method\":\"echo\",\"data\":1},\"id\":2}\n"
             "garbage\n"
             "{\"rpc\":{\"method\":\"echo\",\"data\":2},\"id\":3}");
  assert_int_equal(h.nlines, 2);
  assert_string_equal(h.lines[1], "{\"id\":2,\"rpc\":{\"data\":1}}");
  assert_closed(&h, 3501);
  {
    struct wsp_server_stats st;
    wsp_server_get_stats(h.srv, &st);
    assert_int_equal(st.errors_json, 1);
    assert_int_equal(st.nclose_codes, 1);
    assert_int_equal(st.closes[0].code, 3501);
  }
  h_free(&h);
}

/* The hub began the closing handshake (here a disconnect 4001) and the
 * transport went before the peer answered: on_disconnect reports the
 * hub's code, not 1006; a client freed with no close begun gets 1006. */
static void test_server_free_while_closing(void **state) {
  struct h h;
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  assert_int_equal(wsp_client_disconnect(h.sc, 4001, "bye"), 0);
  /* the close frame is queued; the socket dies before any reply */
  wsp_client_free(h.sc);
  h.sc = NULL;
  assert_int_equal(h.disconnects, 1);
  assert_int_equal(h.disconnect_code, 4001);
  wsp_conn_free(h.cc);
  wsp_server_free(h.srv);
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  wsp_client_free(h.sc);
  h.sc = NULL;
  assert_int_equal(h.disconnects, 1);
  assert_int_equal(h.disconnect_code, 1006);
  h_free(&h);
}

static void test_server_binary_frame(void **state) {
  struct h h;
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  assert_int_equal(wsp_conn_send(h.cc, WSP_OP_BINARY, "{}", 2), 0);
  pump(&h);
  assert_closed(&h, 3506);
  h_free(&h);
}

static void test_server_oversized_message(void **state) {
  struct h h;
  char *big = malloc(70000);
  (void)state;
  memset(big, ' ', 70000);
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  assert_int_equal(wsp_conn_send(h.cc, WSP_OP_TEXT, big, 70000), 0);
  pump(&h);
  assert_closed(&h, 1009);
  free(big);
  h_free(&h);
}

static void test_server_stale(void **state) {
  struct h h;
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  assert_int_equal(wsp_server_next_deadline(h.srv), 15000);
  wsp_server_tick(h.srv, 14999);
  pump(&h);
  assert_int_equal(h.close_code, 0);
  wsp_server_tick(h.srv, 15000);
  pump(&h);
  assert_closed(&h, 3502);
  h_free(&h);
}

static void test_server_ping_pong(void **state) {
  struct h h;
  uint64_t d;
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  d = wsp_server_next_deadline(h.srv);
  assert_true(d >= 12500 && d < 25000); /* second half of the interval */
  wsp_server_tick(h.srv, d);
  pump(&h);
  assert_int_equal(h.nlines, 2);
  assert_string_equal(h.lines[1], "{}");
  h_send(&h, "{}"); /* pong */
  assert_int_equal(h.close_code, 0);
  assert_int_equal(wsp_server_next_deadline(h.srv), d + 25000);
  wsp_server_tick(h.srv, d + 25000);
  pump(&h);
  assert_string_equal(h.lines[2], "{}");
  /* no pong this time */
  assert_int_equal(wsp_server_next_deadline(h.srv), d + 35000);
  wsp_server_tick(h.srv, d + 35000);
  pump(&h);
  assert_closed(&h, 3012);
  h_free(&h);
}

static void test_server_rpc_timeout_and_limit(void **state) {
  struct h h;
  int i;
  char cmd[128];
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  assert_int_equal(wsp_server_set_limit(h.srv, WSP_SERVER_RPC_TIMEOUT, 500),
                   0);
  assert_int_equal(
      wsp_server_set_limit(h.srv, WSP_SERVER_MAX_PENDING_RPC, 2), 0);
  h_connect(&h);
  for (i = 0; i < 3; i++) {
    snprintf(cmd, sizeof(cmd), "{\"rpc\":{\"method\":\"later\"},\"id\":%d}",
             10 + i);
    h_send(&h, cmd);
  }
  assert_int_equal(h.nlines, 2);
  assert_string_equal(h.lines[1], "{\"id\":12,\"error\":{\"code\":111,\"message\":"
                                  "\"too many requests\",\"temporary\":true}}");
  assert_int_equal(wsp_server_next_deadline(h.srv), 500);
  wsp_server_tick(h.srv, 500);
  pump(&h);
  assert_int_equal(h.nlines, 4);
  assert_string_equal(h.lines[2], "{\"id\":10,\"error\":{\"code\":100,\"message\":"
                                  "\"timeout\",\"temporary\":true}}");
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "1", 1), WSP_ERR_NOT_FOUND);
  h_free(&h);
}

static void test_server_reply_after_close(void **state) {
  struct h h;
  struct wsp_server_stats st;
  (void)state;
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  h_send(&h, "{\"rpc\":{\"method\":\"later\"},\"id\":2}");
  assert_int_equal(wsp_conn_close(h.cc, 1000, NULL, 0), 0);
  pump(&h);
  assert_int_equal(h.disconnects, 1);
  assert_int_equal(h.disconnect_code, 1000);
  assert_int_equal(wsp_rpc_reply(h.srv, h.held, "1", 1), WSP_ERR_NOT_FOUND);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.rpc_late, 1);
  h_free(&h);
}

static void test_server_paths_and_limits(void **state) {
  struct h h;
  struct wsp_client *second;
  uint8_t buf[512];
  struct iovec iov[4];
  int n;
  size_t got = 0;
  const char req[] = "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n";
  (void)state;
  h_open(&h, "/elsewhere", 0);
  assert_int_equal(wsp_conn_get_state(h.cc), WSP_STATE_CLOSED);
  assert_int_equal(wsp_conn_get_error(h.cc), WSP_ERR_HANDSHAKE);
  h_free(&h);

  h_open(&h, "/connection/websocket", 0);
  assert_int_equal(wsp_server_set_limit(h.srv, WSP_SERVER_MAX_CONNECTIONS, 1),
                   0);
  assert_int_equal(wsp_server_accept(h.srv, NULL, &second), 0);
  wsp_client_recv(second, req, sizeof(req) - 1);
  n = wsp_client_pending(second, iov, 4);
  assert_true(n >= 1);
  got = iov[0].iov_len < sizeof(buf) ? iov[0].iov_len : sizeof(buf);
  memcpy(buf, iov[0].iov_base, got);
  assert_int_equal(thttp_status(buf, got), 503);
  wsp_client_free(second);
  h_free(&h);
}

static char seen_id[64];
static int free_in_disconnect;

static int on_connect_id(struct wsp_client *cl,
                         const struct wsp_connect_info *ci, void *ud) {
  (void)ci;
  (void)ud;
  snprintf(seen_id, sizeof(seen_id), "%s", wsp_client_get_id(cl));
  return 0;
}

static void on_disconnect_free(struct wsp_client *cl, int code, void *ud) {
  struct h *h = ud;
  h->disconnects++;
  h->disconnect_code = code;
  if (free_in_disconnect) {
    wsp_client_free(cl); /* deferred: the caller is still using it */
    h->sc = NULL;
  }
}

/* The id is known in on_connect; freeing from on_disconnect is safe both
 * when the peer closed and when the application freed the client. */
static void test_server_callbacks_reentry(void **state) {
  struct h h;
  struct wsp_server_callbacks scb;
  struct wsp_conn_callbacks ccb;
  char want[160];
  int round;
  (void)state;
  for (round = 0; round < 2; round++) {
    memset(&h, 0, sizeof(h));
    H = &h;
    memset(&scb, 0, sizeof(scb));
    scb.on_connect = on_connect_id;
    scb.on_disconnect = on_disconnect_free;
    assert_int_equal(wsp_server_new(&h.srv, &scb, NULL, 0, &h), 0);
    assert_int_equal(wsp_server_accept(h.srv, &h, &h.sc), 0);
    memset(&ccb, 0, sizeof(ccb));
    ccb.on_message = cli_msg;
    ccb.on_close = cli_close;
    assert_int_equal(wsp_conn_new(&h.cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, &h),
                     0);
    assert_int_equal(
        wsp_conn_client_start(h.cc, "t", "/connection/websocket", NULL), 0);
    pump(&h);
    h_connect(&h);
    assert_int_equal(strlen(seen_id), 36);
    /* the id on_connect saw is the one in the reply */
    assert_string_equal(h.lines[0], connect_line(want, sizeof(want), seen_id));
    free_in_disconnect = 1;
    if (round == 0) {
      wsp_client_free(h.sc); /* on_disconnect(1006) frees it again */
    } else {
      assert_int_equal(wsp_conn_close(h.cc, 4000, "x", 1), 0);
      pump(&h); /* on_disconnect(4000) frees it, deferred */
    }
    free_in_disconnect = 0;
    assert_int_equal(h.disconnects, 1);
    assert_int_equal(h.disconnect_code, round == 0 ? 1006 : 4000);
    wsp_conn_free(h.cc);
    wsp_server_free(h.srv);
  }
}

/* An HTTP-only exchange never reports a disconnect. */
static void test_server_no_disconnect_without_open(void **state) {
  struct h h;
  (void)state;
  h_open(&h, "/elsewhere", 0);
  h_free(&h);
  assert_int_equal(h.disconnects, 0);
}

/* An application's own envelope on its own path: upper-cases every text
 * message and says "tick" once its deadline passes. */
struct upper {
  int opened, closed;
  uint64_t due;
};

static void up_open(struct wsp_client *cl, void *d) {
  struct upper *u = d;
  (void)cl;
  u->opened++;
  u->due = 1000;
}

static void up_message(struct wsp_client *cl, int op, const uint8_t *data,
                       size_t len, void *d) {
  char buf[64];
  size_t i;
  (void)d;
  for (i = 0; i < len && i < sizeof(buf); i++)
    buf[i] = (char)(data[i] >= 'a' && data[i] <= 'z' ? data[i] - 32 : data[i]);
  assert_int_equal(wsp_client_send_raw(cl, op, buf, i), 0);
}

static void up_close(struct wsp_client *cl, int code, void *d) {
  struct upper *u = d;
  (void)cl;
  (void)code;
  u->closed++;
}

static void up_tick(struct wsp_client *cl, uint64_t now, void *d) {
  struct upper *u = d;
  (void)now;
  u->due = WSP_NO_DEADLINE;
  wsp_client_send_raw(cl, WSP_OP_TEXT, "tick", 4);
}

static uint64_t up_due(const struct wsp_client *cl, void *d) {
  (void)cl;
  return ((struct upper *)d)->due;
}

static void test_server_custom_codec(void **state) {
  struct h h;
  struct upper u = {0, 0, WSP_NO_DEADLINE};
  const struct wsp_codec codec = {up_open, up_message, up_close, up_tick,
                                  up_due};
  struct wsp_server_callbacks scb;
  struct wsp_conn_callbacks ccb;
  (void)state;
  memset(&h, 0, sizeof(h));
  H = &h;
  h.own_codec = 1;
  memset(&scb, 0, sizeof(scb));
  scb.on_disconnect = on_disconnect;
  assert_int_equal(wsp_server_new(&h.srv, &scb, NULL, 0, &h), 0);
  assert_int_equal(wsp_server_add_codec(h.srv, "/upper", &codec, &u), 0);
  assert_int_equal(wsp_server_add_codec(h.srv, "no-slash", &codec, &u),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_server_accept(h.srv, &h, &h.sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = cli_msg;
  ccb.on_close = cli_close;
  assert_int_equal(wsp_conn_new(&h.cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, &h), 0);
  assert_int_equal(wsp_conn_client_start(h.cc, "t", "/upper", NULL), 0);
  pump(&h);
  assert_int_equal(u.opened, 1);
  h_send(&h, "hello");
  assert_string_equal(h.lines[0], "HELLO");
  /* The codec's timer alone; a tick before it does not call it. */
  assert_int_equal(wsp_server_next_deadline(h.srv), 1000);
  wsp_server_tick(h.srv, 999);
  pump(&h);
  assert_int_equal(h.nlines, 1);
  assert_int_equal(wsp_server_next_deadline(h.srv), 1000);
  wsp_server_tick(h.srv, 1000);
  pump(&h);
  assert_string_equal(h.lines[1], "tick");
  /* the codec asked for no more, and the written tick left no linger */
  assert_int_equal(wsp_server_next_deadline(h.srv), WSP_NO_DEADLINE);
  assert_int_equal(wsp_client_push_message(h.sc, "1", 1), WSP_ERR_STATE);
  assert_int_equal(wsp_conn_close(h.cc, 1000, NULL, 0), 0);
  pump(&h);
  assert_int_equal(u.closed, 1);
  assert_int_equal(h.disconnects, 1);
  h_free(&h);

  /* the default protocol refuses raw sends */
  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  assert_int_equal(wsp_client_send_raw(h.sc, WSP_OP_TEXT, "x", 1),
                   WSP_ERR_STATE);
  h_free(&h);
}

static int on_connect_expiring(struct wsp_client *cl,
                               const struct wsp_connect_info *ci, void *ud) {
  (void)ud;
  if (ci->token.len == 7 && memcmp(ci->token.ptr, "invalid", 7) == 0) {
    wsp_client_disconnect(cl, 3500, "invalid token");
    return 0;
  }
  if (ci->token.len == 7 && memcmp(ci->token.ptr, "expired", 7) == 0)
    return 109;
  wsp_client_set_expiry(cl, 60000);
  return 0;
}

static int on_refresh(struct wsp_client *cl, const struct wsp_str *token,
                      void *ud) {
  (void)ud;
  if (token->len == 7 && memcmp(token->ptr, "expired", 7) == 0)
    return 109;
  wsp_client_set_expiry(cl, 120000);
  return 0;
}

static void h_open_cb(struct h *h, int (*conn_cb)(struct wsp_client *,
                                                 const struct wsp_connect_info *,
                                                 void *),
                      int (*refresh_cb)(struct wsp_client *,
                                        const struct wsp_str *, void *)) {
  struct wsp_server_callbacks scb;
  struct wsp_conn_callbacks ccb;
  memset(h, 0, sizeof(*h));
  H = h;
  memset(&scb, 0, sizeof(scb));
  scb.on_disconnect = on_disconnect;
  scb.on_connect = conn_cb;
  scb.on_refresh = refresh_cb;
  assert_int_equal(wsp_server_new(&h->srv, &scb, NULL, 0, h), 0);
  assert_int_equal(wsp_server_accept(h->srv, h, &h->sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = cli_msg;
  ccb.on_close = cli_close;
  assert_int_equal(wsp_conn_new(&h->cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, h), 0);
  assert_int_equal(
      wsp_conn_client_start(h->cc, "t", "/connection/websocket", NULL), 0);
  pump(h);
}

/* Credentials that expire: expires/ttl in the results, refresh, 3005. */
static void test_server_expiry_and_refresh(void **state) {
  struct h h;
  char want[192];
  (void)state;
  h_open_cb(&h, on_connect_expiring, on_refresh);
  h_send(&h, "{\"connect\":{\"token\":\"t\"},\"id\":1}");
  assert_string_equal(
      h.lines[0], thub_client_reply(want, sizeof(want), 1, "connect",
                                    wsp_client_get_id(h.sc),
                                    ",\"expires\":true,\"ttl\":60,\"ping\":25,"
                                    "\"pong\":true}}"));
  h_send(&h, "{\"refresh\":{\"token\":\"expired\"},\"id\":2}");
  assert_string_equal(h.lines[1], "{\"id\":2,\"error\":{\"code\":109,"
                                  "\"message\":\"token expired\"}}");
  h_send(&h, "{\"refresh\":{\"token\":\"new\"},\"id\":3}");
  assert_string_equal(h.lines[2],
                      thub_client_reply(want, sizeof(want), 3, "refresh",
                                        wsp_client_get_id(h.sc),
                                        ",\"expires\":true,\"ttl\":120}}"));
  assert_int_equal(h.nlines, 3);
  /* not refreshed again: closed 3005 once the grace has passed */
  wsp_server_set_limit(h.srv, WSP_SERVER_PING_INTERVAL, 0);
  wsp_server_tick(h.srv, 120000 + 25000 - 1);
  pump(&h);
  assert_int_equal(h.close_code, 0);
  wsp_server_tick(h.srv, 120000 + 25000 + 30000);
  pump(&h);
  assert_int_equal(h.close_code, 3005);
  h_free(&h);

  h_open_cb(&h, on_connect_expiring, NULL);
  h_send(&h, "{\"connect\":{\"token\":\"expired\"},\"id\":1}");
  assert_string_equal(h.lines[0], "{\"id\":1,\"error\":{\"code\":109,"
                                  "\"message\":\"token expired\"}}");
  h_send(&h, "{\"connect\":{\"token\":\"invalid\"},\"id\":2}");
  assert_int_equal(h.close_code, 3500);
  h_free(&h);

  h_open(&h, "/connection/websocket", 0);
  h_connect(&h);
  h_send(&h, "{\"refresh\":{\"token\":\"x\"},\"id\":2}");
  assert_string_equal(h.lines[1], "{\"id\":2,\"error\":{\"code\":108,"
                                  "\"message\":\"not available\"}}");
  assert_int_equal(h.nlines, 2);
  h_free(&h);
}

/* ---- Deferred HTTP answers and asynchronous publications --------------- */

static struct wsp_client *deferred_cl;

static int req_defer(struct wsp_client *cl, const struct wsp_request *req,
                     void *ud) {
  (void)ud;
  assert_int_equal(req->body.len, 2);
  assert_int_equal(wsp_client_defer(cl), 0);
  deferred_cl = cl;
  return 0;
}

static size_t take_output(struct wsp_client *cl, char *buf, size_t cap) {
  struct iovec iov[8];
  size_t len = 0;
  int n, i;
  while ((n = wsp_client_pending(cl, iov, 8)) > 0) {
    size_t took = 0;
    for (i = 0; i < n; i++) {
      assert_true(len + iov[i].iov_len < cap);
      memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
      len += iov[i].iov_len;
      took += iov[i].iov_len;
    }
    assert_int_equal(wsp_client_sent(cl, took), 0);
  }
  buf[len] = '\0';
  return len;
}

static void test_server_defer_http(void **state) {
  static const char req[] = "POST /api/publish HTTP/1.1\r\nHost: a\r\n"
                            "Content-Length: 2\r\n\r\n{}";
  struct wsp_server_callbacks cb;
  struct wsp_server *s;
  struct wsp_client *cl;
  char out[1024];
  size_t len;
  (void)state;
  memset(&cb, 0, sizeof(cb));
  cb.on_request = req_defer;
  deferred_cl = NULL;
  assert_int_equal(wsp_server_new(&s, &cb, NULL, 0, NULL), 0);
  assert_int_equal(wsp_server_accept(s, NULL, &cl), 0);
  assert_int_equal(wsp_client_recv(cl, req, strlen(req)), 0);
  assert_ptr_equal(deferred_cl, cl);
  /* no answer yet (not the 404 of an unknown path) */
  assert_int_equal(take_output(cl, out, sizeof(out)), 0);
  assert_false(wsp_client_is_done(cl));
  assert_int_equal(wsp_client_defer(cl), WSP_ERR_STATE);
  assert_int_equal(wsp_conn_accept(wsp_client_get_conn(cl)), WSP_ERR_STATE);
  assert_int_equal(wsp_client_respond(cl, 200, "text/plain", "later", 5), 0);
  len = take_output(cl, out, sizeof(out));
  assert_true(len > 5 && strncmp(out, "HTTP/1.1 200", 12) == 0);
  assert_string_equal(out + len - 5, "later");
  assert_true(wsp_client_is_done(cl));
  assert_int_equal(wsp_client_respond(cl, 200, NULL, "x", 1), WSP_ERR_STATE);
  wsp_client_free(cl);
  wsp_server_free(s);
}

static int req_defer_upgrade(struct wsp_client *cl,
                             const struct wsp_request *req, void *ud) {
  (void)ud;
  assert_true(req->websocket);
  assert_int_equal(wsp_client_defer(cl), 0);
  deferred_cl = cl;
  return 0;
}

/* An upgrade deferred, then accepted (101), refused for its path (404)
 * or, with a session set meanwhile, for its Origin (403). */
static void test_server_defer_upgrade(void **state) {
  static const char *paths[] = {"/connection/websocket", "/nowhere",
                                "/connection/websocket"};
  static const char *want[] = {"HTTP/1.1 101", "HTTP/1.1 404",
                               "HTTP/1.1 403"};
  struct wsp_server_callbacks cb;
  struct wsp_server *s;
  char req[512], out[2048];
  int i;
  (void)state;
  memset(&cb, 0, sizeof(cb));
  cb.on_request = req_defer_upgrade;
  assert_int_equal(wsp_server_new(&s, &cb, NULL, 0, NULL), 0);
  for (i = 0; i < 3; i++) {
    struct wsp_client *cl;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Origin: http://evil.example\r\n\r\n",
             paths[i]);
    deferred_cl = NULL;
    assert_int_equal(wsp_server_accept(s, NULL, &cl), 0);
    assert_int_equal(wsp_client_recv(cl, req, strlen(req)), 0);
    assert_ptr_equal(deferred_cl, cl);
    assert_int_equal(take_output(cl, out, sizeof(out)), 0);
    if (i == 2)
      assert_int_equal(wsp_client_set_session(cl, "s1"), 0);
    assert_int_equal(wsp_client_accept(cl), 0);
    take_output(cl, out, sizeof(out));
    assert_int_equal(strncmp(out, want[i], 12), 0);
    assert_int_equal(wsp_client_accept(cl), WSP_ERR_STATE);
    wsp_client_free(cl);
  }
  wsp_server_free(s);
}

struct pub_seen {
  int calls, err;
  struct wsp_publish_result r;
};

static void pub_done(struct wsp_server *s, int err,
                     const struct wsp_publish_result *r, void *ud) {
  struct pub_seen *p = ud;
  (void)s;
  p->calls++;
  p->err = err;
  if (r)
    p->r = *r;
}

struct hist_seen {
  int calls, err;
  size_t n;
  uint64_t offset, first;
};

static void hist_done(struct wsp_server *s, int err,
                      const struct wsp_evlog_position *pos,
                      const struct wsp_evlog_event *ev, size_t n, void *ud) {
  struct hist_seen *h = ud;
  (void)s;
  h->calls++;
  h->err = err;
  h->n = n;
  h->offset = pos ? pos->offset : 0;
  h->first = n ? ev[0].offset : 0;
  if (n)
    assert_int_equal(ev[0].data.len, 1);
}

static void presence_done_fn(struct wsp_server *s, int err,
                             const struct wsp_str *m, size_t n, void *ud) {
  int *calls = ud;
  (void)s;
  (void)m;
  assert_int_equal(err, 0);
  assert_int_equal(n, 0);
  (*calls)++;
}

/* In process, the history and presence of C read at once. */
static void test_server_history_presence_async(void **state) {
  struct wsp_server_history h;
  struct wsp_history_query q;
  struct wsp_server *s;
  struct wsp_evlog *log;
  struct hist_seen seen;
  int calls = 0, i;
  (void)state;
  assert_int_equal(wsp_server_new(&s, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_evlog_new(&log, NULL, 0), 0);
  memset(&h, 0, sizeof(h));
  h.log = log;
  assert_int_equal(wsp_server_set_history(s, &h), 0);
  for (i = 0; i < 5; i++)
    assert_true(wsp_server_publish(s, "ch", "7", 1, NULL) >= 0);
  memset(&q, 0, sizeof(q));
  q.limit = -1;
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(wsp_server_history_async(s, "ch", &q, hist_done, &seen), 0);
  assert_int_equal(seen.calls, 1);
  assert_int_equal(seen.n, 5);
  assert_int_equal(seen.offset, 5);
  q.has_since = 1;
  q.since_offset = 3;
  assert_int_equal(wsp_server_history_async(s, "ch", &q, hist_done, &seen), 0);
  assert_int_equal(seen.n, 2);
  assert_int_equal(seen.first, 4);
  q.since_epoch = "another";
  assert_int_equal(wsp_server_history_async(s, "ch", &q, hist_done, &seen), 0);
  assert_int_equal(seen.err, WSP_ERR_EPOCH);
  q.reverse = 1;
  q.since_offset = 0;
  assert_int_equal(wsp_server_history_async(s, "ch", &q, hist_done, &seen),
                   WSP_ERR_INVAL);
  assert_int_equal(seen.calls, 3);
  assert_int_equal(wsp_server_presence_async(s, "ch", presence_done_fn, &calls),
                   0);
  assert_int_equal(calls, 1);
  wsp_server_free(s);
  wsp_evlog_free(log);
}

static void test_server_publish_async_embedded(void **state) {
  struct wsp_server_history h;
  struct wsp_server *s;
  struct wsp_evlog *log;
  struct wsp_publish_opts o;
  struct pub_seen p;
  (void)state;
  memset(&p, 0, sizeof(p));
  assert_int_equal(wsp_server_new(&s, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_evlog_new(&log, NULL, 0), 0);
  memset(&h, 0, sizeof(h));
  h.log = log;
  assert_int_equal(wsp_server_set_history(s, &h), 0);
  /* In process: done before it returns, with the offset. */
  assert_int_equal(wsp_server_publish_async(s, "ch", "1", 1, NULL, pub_done, &p),
                   0);
  assert_int_equal(p.calls, 1);
  assert_int_equal(p.err, 0);
  assert_int_equal(p.r.offset, 1);
  assert_true(p.r.epoch[0] != '\0');
  memset(&o, 0, sizeof(o));
  o.idempotency_key = "k";
  assert_int_equal(wsp_server_publish_async(s, "ch", "2", 1, &o, pub_done, &p),
                   0);
  assert_int_equal(p.r.offset, 2);
  assert_int_equal(wsp_server_publish_async(s, "ch", "2", 1, &o, pub_done, &p),
                   0);
  assert_int_equal(p.calls, 3);
  assert_int_equal(p.r.offset, 2); /* the repeat: the first result */
  /* refused: done is not called */
  assert_int_equal(wsp_server_publish_async(s, "a.*", "1", 1, NULL, pub_done,
                                            &p),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_server_publish_async(s, "ch", "{", 1, NULL, pub_done,
                                            &p),
                   WSP_ERR_JSON);
  assert_int_equal(wsp_server_publish_async(s, "ch", "1", 1, NULL, NULL, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(p.calls, 3);
  wsp_server_free(s);
  wsp_evlog_free(log);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_batch_in_order),
      cmocka_unit_test(test_server_payload_newlines_dropped),
      cmocka_unit_test(test_server_bad_commands),
      cmocka_unit_test(test_server_close_behind_replies),
      cmocka_unit_test(test_server_free_while_closing),
      cmocka_unit_test(test_server_binary_frame),
      cmocka_unit_test(test_server_oversized_message),
      cmocka_unit_test(test_server_stale),
      cmocka_unit_test(test_server_ping_pong),
      cmocka_unit_test(test_server_rpc_timeout_and_limit),
      cmocka_unit_test(test_server_reply_after_close),
      cmocka_unit_test(test_server_paths_and_limits),
      cmocka_unit_test(test_server_callbacks_reentry),
      cmocka_unit_test(test_server_no_disconnect_without_open),
      cmocka_unit_test(test_server_custom_codec),
      cmocka_unit_test(test_server_expiry_and_refresh),
      cmocka_unit_test(test_server_defer_http),
      cmocka_unit_test(test_server_defer_upgrade),
      cmocka_unit_test(test_server_publish_async_embedded),
      cmocka_unit_test(test_server_history_presence_async),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
