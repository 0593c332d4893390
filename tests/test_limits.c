/*
 * Limits and timers: message size (1009), the output cap, backpressure
 * notifications, keepalive pings with the pong timeout, and the closing
 * handshake timeout. Time comes from the recorder's fake clock.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static void expect_close_frame(struct tsrv *s, int code) {
  struct tframes fl;
  int i;
  tsrv_frames(s, &fl);
  assert_int_equal(s->out_pos, s->out.len);
  i = tframes_last_close(&fl);
  assert_true(i >= 0);
  assert_int_equal((size_t)i, fl.n - 1);
  assert_int_equal(tframe_close_code(&fl.f[i]), code);
  tframes_free(&fl);
  assert_int_equal(wsp_conn_close_code_sent(s->c), code);
}

/* ---- Defaults and setters --------------------------------------------- */

static void test_limits_defaults(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_MESSAGE), 16u << 20);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_HANDSHAKE), 8192);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_HTTP_BODY), 65536);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_QUEUED),
                   (16u << 20) + (1u << 20));
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_HIGH_WATER), 1u << 20);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_HANDSHAKE_TIMEOUT), 10000);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_PING_INTERVAL), 0);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_PONG_TIMEOUT), 10000);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_CLOSE_TIMEOUT), 5000);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT__COUNT, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_set_limit(s.c, -1, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_set_limit(NULL, WSP_LIMIT_MAX_MESSAGE, 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT__COUNT), 0);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_MESSAGE, 4096), 0);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_MESSAGE), 4096);
  tsrv_free(&s);
}

/* ---- Message size ----------------------------------------------------- */

static void open_with_max(struct tsrv *s, uint64_t max) {
  tsrv_init(s);
  tsrv_open(s);
  assert_int_equal(wsp_conn_set_limit(s->c, WSP_LIMIT_MAX_MESSAGE, max), 0);
}

static void test_limits_message_at_limit(void **state) {
  struct tsrv s;
  struct tbuf in;
  uint8_t *p = t_payload(1000, 1);
  (void)state;
  open_with_max(&s, 1000);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_BINARY, p, 1000);
  cframe(&in, WSP_OP_BINARY, p, 500);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, p + 500, 500);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.nmsgs, 2);
  assert_int_equal(s.rec.msgs[0].len, 1000);
  assert_int_equal(s.rec.msgs[1].len, 1000);
  assert_memory_equal(s.rec.msgs[1].data, p, 1000);
  assert_int_equal(wsp_conn_close_code_sent(s.c), 0);
  free(p);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void too_big(uint8_t op, int fragmented, int header_only) {
  struct tsrv s;
  struct tbuf in;
  uint8_t *p = t_payload(1001, 2);
  size_t i;
  for (i = 0; i < 1001; i++)
    p[i] = (uint8_t)('a' + i % 26);
  open_with_max(&s, 1000);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "small", 5); /* delivered first */
  if (header_only) {
    frame_header(&in, TF_FIN | op, 1, 1001);
  } else if (fragmented) {
    cframe(&in, op, p, 600);
    cframe(&in, WSP_OP_CONTINUATION, p + 600, 300);
    cframe(&in, TF_FIN | WSP_OP_CONTINUATION, p + 900, 101);
  } else {
    cframe(&in, TF_FIN | op, p, 1001);
  }
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_TOO_BIG);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_string_equal((char *)s.rec.msgs[0].data, "small");
  assert_int_equal(s.rec.n_msgs_total, 1);
  expect_close_frame(&s, WSP_CLOSE_TOO_BIG);
  assert_int_equal(wsp_conn_get_error(s.c), WSP_ERR_TOO_BIG);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSING);
  /* the rest of the oversized message is discarded */
  tbuf_reset(&in);
  for (i = 0; i < 5; i++)
    cframe(&in, TF_FIN | WSP_OP_CONTINUATION, p, 100);
  tsrv_feed(&s, in.data, in.len);
  assert_int_equal(s.rec.n_msgs_total, 1);
  free(p);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void test_limits_message_too_big(void **state) {
  (void)state;
  too_big(WSP_OP_BINARY, 0, 0);
  too_big(WSP_OP_TEXT, 0, 0);
  too_big(WSP_OP_BINARY, 1, 0);
  too_big(WSP_OP_TEXT, 1, 0);
  too_big(WSP_OP_BINARY, 0, 1);
}

/* A 64-bit length far above the limit fails at the header. */
static void test_limits_huge_length_header(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  frame_header(&in, TF_FIN | WSP_OP_BINARY, 1, (uint64_t)1 << 40);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_TOO_BIG);
  expect_close_frame(&s, WSP_CLOSE_TOO_BIG);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* The default 16 MiB limit: one byte more is refused. */
static void test_limits_default_limit_plus_one(void **state) {
  struct tsrv s;
  struct tbuf in;
  uint8_t *p = t_payload(1u << 20, 3);
  int i, rc = 0;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  for (i = 0; i < 16 && rc == 0; i++) {
    tbuf_init(&in);
    cframe(&in, i == 0 ? WSP_OP_BINARY : WSP_OP_CONTINUATION, p, 1u << 20);
    rc = tsrv_feed(&s, in.data, in.len);
    tbuf_free(&in);
  }
  assert_int_equal(rc, 0);
  assert_int_equal(s.rec.nmsgs, 0);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "x", 1);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_TOO_BIG);
  assert_int_equal(s.rec.n_msgs_total, 0);
  expect_close_frame(&s, WSP_CLOSE_TOO_BIG);
  tbuf_free(&in);
  free(p);
  tsrv_free(&s);
}

/* The client role enforces its limit too. */
static void test_limits_client_too_big(void **state) {
  struct tpair p;
  uint8_t buf[101];
  (void)state;
  memset(buf, 'q', sizeof(buf));
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_set_limit(p.cli, WSP_LIMIT_MAX_MESSAGE, 100), 0);
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_BINARY, buf, 101), 0);
  tpair_pump(&p);
  assert_int_equal(p.cli_rc, WSP_ERR_TOO_BIG);
  assert_int_equal(p.crec.nmsgs, 0);
  assert_int_equal(wsp_conn_close_code_sent(p.cli), WSP_CLOSE_TOO_BIG);
  assert_int_equal(p.srec.close_code, WSP_CLOSE_TOO_BIG);
  assert_true(wsp_conn_is_done(p.cli));
  assert_true(wsp_conn_is_done(p.srv));
  tpair_free(&p);
}

/* ---- Output cap ------------------------------------------------------- */

static void test_limits_queue_full(void **state) {
  struct tsrv s;
  struct tbuf in;
  struct tframes fl;
  uint8_t buf[900];
  size_t q;
  (void)state;
  memset(buf, 'o', sizeof(buf));
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_QUEUED, 1000), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 900), 0);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 904);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 200),
                   WSP_ERR_QUEUE_FULL);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 904);
  /* exactly up to the cap is fine: 94 + 2 bytes of header */
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 94), 0);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 1000);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "", 0), WSP_ERR_QUEUE_FULL);
  assert_int_equal(wsp_conn_send_fragment(s.c, WSP_OP_TEXT, "a", 1, 0),
                   WSP_ERR_QUEUE_FULL);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 1000);
  /* the library's own pong still goes out */
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_PING, "hb", 2);
  assert_int_equal(wsp_conn_recv(s.c, in.data, in.len), 0);
  q = wsp_conn_queued_bytes(s.c);
  assert_int_equal(q, 1004);
  /* and so does a close */
  assert_int_equal(wsp_conn_close(s.c, 1000, NULL, 0), 0);
  assert_true(wsp_conn_queued_bytes(s.c) > q);
  tsrv_drain(&s);
  tsrv_frames(&s, &fl);
  assert_int_equal(fl.n, 4);
  assert_int_equal(fl.f[2].opcode, WSP_OP_PONG);
  assert_int_equal(fl.f[3].opcode, WSP_OP_CLOSE);
  tframes_free(&fl);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void test_limits_queue_frees_after_drain(void **state) {
  struct tsrv s;
  uint8_t buf[600];
  (void)state;
  memset(buf, 'd', sizeof(buf));
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_QUEUED, 1000), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600),
                   WSP_ERR_QUEUE_FULL);
  assert_int_equal(sink_drain_some(s.c, NULL, 300), 300);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 304);
  /* 304 + 604 fits, 102 more do not */
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 100),
                   WSP_ERR_QUEUE_FULL);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 908);
  sink_drain(s.c, NULL, 0);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_OPEN);
  tsrv_free(&s);
}

/* ---- Backpressure ----------------------------------------------------- */

static void test_limits_backpressure(void **state) {
  struct tsrv s;
  uint8_t buf[600];
  (void)state;
  memset(buf, 'b', sizeof(buf));
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_HIGH_WATER, 1000), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600), 0); /* 604 */
  assert_int_equal(s.rec.nbp, 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 392), 0); /* 1000 */
  assert_int_equal(wsp_conn_queued_bytes(s.c), 1000);
  assert_int_equal(s.rec.nbp, 1);
  assert_int_equal(s.rec.bp[0], 1);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 100), 0);
  assert_int_equal(s.rec.nbp, 1); /* no repeat while above */
  /* 1102 queued: down to 501 is not below half */
  assert_int_equal(sink_drain_some(s.c, NULL, 601), 601);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 501);
  assert_int_equal(s.rec.nbp, 1);
  assert_int_equal(sink_drain_some(s.c, NULL, 2), 2);
  assert_int_equal(s.rec.nbp, 2);
  assert_int_equal(s.rec.bp[1], 0);
  sink_drain(s.c, NULL, 0);
  assert_int_equal(s.rec.nbp, 2);
  /* and again */
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, buf, 600), 0);
  assert_int_equal(s.rec.nbp, 3);
  assert_int_equal(s.rec.bp[2], 1);
  sink_drain(s.c, NULL, 0);
  assert_int_equal(s.rec.nbp, 4);
  assert_int_equal(s.rec.bp[3], 0);
  tsrv_free(&s);
}

/* The default high-water mark is 1 MiB. */
static void test_limits_backpressure_default(void **state) {
  struct tsrv s;
  uint8_t *p = t_payload(1u << 20, 4);
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, p, (1u << 20) - 20), 0);
  assert_int_equal(s.rec.nbp, 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_BINARY, p, 100), 0);
  assert_int_equal(s.rec.nbp, 1);
  assert_int_equal(s.rec.bp[0], 1);
  sink_drain(s.c, NULL, 0);
  assert_int_equal(s.rec.nbp, 2);
  assert_int_equal(s.rec.bp[1], 0);
  free(p);
  tsrv_free(&s);
}

/* ---- Keepalive -------------------------------------------------------- */

static void open_clocked(struct tsrv *s) {
  tsrv_init(s);
  s->linger_off = 1;
  s->rec.use_clock = 1;
  s->rec.clock = 0;
  tsrv_open(s);
  assert_int_equal(wsp_conn_next_deadline(s->c), WSP_NO_DEADLINE);
  assert_int_equal(wsp_conn_set_limit(s->c, WSP_LIMIT_PONG_TIMEOUT, 500), 0);
  assert_int_equal(wsp_conn_set_limit(s->c, WSP_LIMIT_PING_INTERVAL, 1000), 0);
  assert_int_equal(wsp_conn_next_deadline(s->c), 1000);
}

/* The server's new output is exactly one ping. */
static void expect_one_ping(struct tsrv *s) {
  struct tframes fl;
  tsrv_drain(s);
  tsrv_frames(s, &fl);
  assert_int_equal(fl.n, 1);
  assert_int_equal(fl.f[0].opcode, WSP_OP_PING);
  assert_int_equal(fl.f[0].masked, 0);
  assert_int_equal(fl.f[0].fin, 1);
  tframes_free(&fl);
}

static void test_limits_pong_timeout(void **state) {
  struct tsrv s;
  (void)state;
  open_clocked(&s);
  s.rec.clock = 999;
  assert_int_equal(wsp_conn_tick(s.c, 999), 0);
  tsrv_drain(&s);
  assert_int_equal(s.out_pos, s.out.len);
  s.rec.clock = 1000;
  assert_int_equal(wsp_conn_tick(s.c, 1000), 0);
  expect_one_ping(&s);
  assert_int_equal(wsp_conn_next_deadline(s.c), 1500);
  /* unread output is dropped with the connection */
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "stuck", 5), 0);
  s.rec.clock = 1499;
  assert_int_equal(wsp_conn_tick(s.c, 1499), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_OPEN);
  s.rec.clock = 1500;
  assert_int_equal(wsp_conn_tick(s.c, 1500), WSP_ERR_TIMEOUT);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_int_equal(wsp_conn_get_error(s.c), WSP_ERR_TIMEOUT);
  assert_int_equal(s.rec.n_close, 1);
  assert_int_equal(s.rec.close_code, WSP_CLOSE_ABNORMAL);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 0);
  assert_true(wsp_conn_is_done(s.c));
  assert_int_equal(wsp_conn_next_deadline(s.c), WSP_NO_DEADLINE);
  tsrv_free(&s);
}

static void test_limits_ping_answered(void **state) {
  struct tsrv s;
  struct tbuf in;
  int i;
  (void)state;
  open_clocked(&s);
  tbuf_init(&in);
  for (i = 1; i <= 3; i++) {
    uint64_t t = (uint64_t)i * 1000;
    s.rec.clock = t;
    assert_int_equal(wsp_conn_tick(s.c, t), 0);
    expect_one_ping(&s);
    assert_int_equal(wsp_conn_next_deadline(s.c), t + 500);
    s.rec.clock = t + 200;
    tbuf_reset(&in);
    cframe(&in, TF_FIN | WSP_OP_PONG, NULL, 0);
    assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
    assert_int_equal(wsp_conn_next_deadline(s.c), t + 1000);
    s.rec.clock = t + 500;
    assert_int_equal(wsp_conn_tick(s.c, t + 500), 0);
    assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_OPEN);
  }
  assert_int_equal(s.rec.nctrls, 3);
  assert_int_equal(s.rec.ctrls[0].opcode, WSP_OP_PONG);
  assert_int_equal(s.rec.n_close, 0);
  /* turning the interval off removes the deadline */
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_PING_INTERVAL, 0), 0);
  assert_int_equal(wsp_conn_next_deadline(s.c), WSP_NO_DEADLINE);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* A client's keepalive ping is answered by the server's automatic pong. */
static void test_limits_ping_in_pair(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  p.crec.use_clock = 1;
  p.srec.use_clock = 1;
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_set_limit(p.cli, WSP_LIMIT_PING_INTERVAL, 100), 0);
  assert_int_equal(wsp_conn_set_limit(p.cli, WSP_LIMIT_PONG_TIMEOUT, 50), 0);
  p.crec.clock = p.srec.clock = 100;
  assert_int_equal(wsp_conn_tick(p.cli, 100), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.nctrls, 1);
  assert_int_equal(p.srec.ctrls[0].opcode, WSP_OP_PING);
  assert_int_equal(p.crec.nctrls, 1);
  assert_int_equal(p.crec.ctrls[0].opcode, WSP_OP_PONG);
  p.crec.clock = p.srec.clock = 150;
  assert_int_equal(wsp_conn_tick(p.cli, 150), 0);
  assert_int_equal(wsp_conn_get_state(p.cli), WSP_STATE_OPEN);
  assert_int_equal(wsp_conn_next_deadline(p.cli), 200);
  tpair_free(&p);
}

/* ---- Closing timeout -------------------------------------------------- */

static void test_limits_close_timeout(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  s.linger_off = 1;
  s.rec.use_clock = 1;
  s.rec.clock = 100;
  tsrv_open(&s);
  assert_int_equal(wsp_conn_close(s.c, 1000, NULL, 0), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSING);
  assert_int_equal(wsp_conn_next_deadline(s.c), 5100);
  s.rec.clock = 5099;
  assert_int_equal(wsp_conn_tick(s.c, 5099), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSING);
  assert_int_equal(s.rec.n_close, 0);
  s.rec.clock = 5100;
  assert_int_equal(wsp_conn_tick(s.c, 5100), WSP_ERR_TIMEOUT);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_int_equal(s.rec.n_close, 1);
  assert_int_equal(s.rec.close_code, WSP_CLOSE_ABNORMAL);
  assert_int_equal(wsp_conn_get_error(s.c), WSP_ERR_TIMEOUT);
  sink_drain(s.c, NULL, 0);
  assert_true(wsp_conn_is_done(s.c));
  assert_int_equal(wsp_conn_next_deadline(s.c), WSP_NO_DEADLINE);
  tsrv_free(&s);
}

/* After a protocol error the same timer applies; the setter is honoured. */
static void test_limits_close_timeout_after_error(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  s.linger_off = 1;
  s.rec.use_clock = 1;
  s.rec.clock = 0;
  tsrv_open(&s);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_CLOSE_TIMEOUT, 250), 0);
  tbuf_init(&in);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_TEXT, "x", 1);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_PROTO);
  assert_int_equal(wsp_conn_next_deadline(s.c), 250);
  s.rec.clock = 250;
  assert_int_equal(wsp_conn_tick(s.c, 250), WSP_ERR_TIMEOUT);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_int_equal(s.rec.n_close, 1);
  /* the first error is the one kept */
  assert_int_equal(wsp_conn_get_error(s.c), WSP_ERR_PROTO);
  tbuf_free(&in);
  tsrv_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_limits_defaults),
      cmocka_unit_test(test_limits_message_at_limit),
      cmocka_unit_test(test_limits_message_too_big),
      cmocka_unit_test(test_limits_huge_length_header),
      cmocka_unit_test(test_limits_default_limit_plus_one),
      cmocka_unit_test(test_limits_client_too_big),
      cmocka_unit_test(test_limits_queue_full),
      cmocka_unit_test(test_limits_queue_frees_after_drain),
      cmocka_unit_test(test_limits_backpressure),
      cmocka_unit_test(test_limits_backpressure_default),
      cmocka_unit_test(test_limits_pong_timeout),
      cmocka_unit_test(test_limits_ping_answered),
      cmocka_unit_test(test_limits_ping_in_pair),
      cmocka_unit_test(test_limits_close_timeout),
      cmocka_unit_test(test_limits_close_timeout_after_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
