/*
 * Frames and messages after the handshake: an in-memory client/server
 * pair for round trips, and hand-built client frames fed to a server for
 * everything a well-behaved peer would never send.
 *
 * Who checks what. libwsp walks every frame header before wslay sees the
 * bytes, so the header rules carry libwsp's exact close codes; wslay checks
 * what lies inside payloads and answers the peer's control frames:
 *
 *   check                                           done by   close code
 *   ----------------------------------------------  --------  ----------
 *   RSV1-3 set (no extension negotiated)            libwsp    1002
 *   reserved opcodes 3-7 and 0xB-0xF                libwsp    1002
 *   control frame fragmented (FIN = 0)              libwsp    1002
 *   control frame payload > 125                     libwsp    1002
 *   client frame unmasked / server frame masked     libwsp    1002
 *   continuation without a start, data frame
 *     inside a fragmented message                   libwsp    1002
 *   close frame with a 1-byte payload               libwsp    1002
 *   64-bit length with the top bit set              libwsp    1002
 *   length not in its minimal encoding              libwsp    1002
 *   cumulative message size over the limit          libwsp    1009
 *   UTF-8 of text messages (across fragments,
 *     failing at the first bad byte)                wslay     1007
 *   UTF-8 of the close reason                       wslay     1007
 *   close code validity                             wslay     1002
 *   unmasking payloads                              wslay     -
 *   automatic pong to a ping                        wslay     -
 *   close reply echoing the peer's code             wslay     -
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------- */

/* The frames a server wrote since the last call; asserts the output
 * parses as frames with nothing left over. */
static void out_frames(struct tsrv *s, struct tframes *fl) {
  tsrv_frames(s, fl);
  assert_int_equal(s->out_pos, s->out.len);
}

/* The server's new output ends with one close frame carrying code. */
static void expect_close_frame(struct tsrv *s, int code) {
  struct tframes fl;
  int i;
  out_frames(s, &fl);
  i = tframes_last_close(&fl);
  assert_true(i >= 0);
  assert_int_equal((size_t)i, fl.n - 1);
  assert_int_equal(fl.f[i].masked, 0);
  assert_int_equal(fl.f[i].fin, 1);
  assert_int_equal(tframe_close_code(&fl.f[i]), code);
  tframes_free(&fl);
  assert_int_equal(wsp_conn_close_code_sent(s->c), code);
}

/* The server's new output holds no close frame. */
static void expect_no_close(struct tsrv *s) {
  struct tframes fl;
  out_frames(s, &fl);
  assert_int_equal(tframes_last_close(&fl), -1);
  tframes_free(&fl);
  assert_int_equal(wsp_conn_close_code_sent(s->c), 0);
}

/* After the library's close: the peer's reply ends the connection. */
static void finish_close(struct tsrv *s, int code) {
  struct tbuf in;
  assert_int_equal(wsp_conn_get_state(s->c), WSP_STATE_CLOSING);
  tbuf_init(&in);
  cframe_close(&in, code, NULL);
  assert_true(t_is_wsp_rc(tsrv_feed(s, in.data, in.len)));
  assert_int_equal(wsp_conn_get_state(s->c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s->c));
  assert_false(wsp_conn_want_read(s->c));
  assert_int_equal(s->rec.n_close, 1);
  tbuf_free(&in);
}

/*
 * Soft checks after the server met a fault: recv returned want_err, no
 * message was delivered and the output ends with one close frame carrying
 * want_code. Normally the state is then CLOSING without on_close and the
 * peer's close reply ends the connection. When the faulty frame was a
 * close frame (bad code, bad reason or a broken header), the peer has
 * closed already and no reply will come: the state is CLOSED at once and
 * on_close has fired (peer_closed).
 * Returns the number of failed checks.
 */
static int check_failed(struct tsrv *s, const char *name, int rc, int want_err,
                        int want_code, int peer_closed) {
  struct tframes fl;
  struct tbuf in;
  int bad = 0, ci;
  if (rc != want_err)
    print_error("%s: rc %d (%s), want %s\n", name, rc, wsp_error_name(rc),
                wsp_error_name(want_err));
  T_CHECK(bad, name, rc == want_err);
  T_CHECK(bad, name, s->rec.nmsgs == 0);
  tsrv_frames(s, &fl);
  T_CHECK(bad, name, s->out_pos == s->out.len);
  ci = tframes_last_close(&fl);
  T_CHECK(bad, name, ci >= 0 && (size_t)ci == fl.n - 1);
  T_CHECK(bad, name, ci >= 0 && tframe_close_code(&fl.f[ci]) == want_code);
  T_CHECK(bad, name, ci >= 0 && !fl.f[ci].masked);
  tframes_free(&fl);
  T_CHECK(bad, name, wsp_conn_close_code_sent(s->c) == want_code);
  T_CHECK(bad, name, wsp_conn_get_error(s->c) == want_err);
  if (peer_closed) {
    T_CHECK(bad, name, wsp_conn_get_state(s->c) == WSP_STATE_CLOSED);
    T_CHECK(bad, name, wsp_conn_is_done(s->c));
    T_CHECK(bad, name, !wsp_conn_want_read(s->c));
    T_CHECK(bad, name, s->rec.n_close == 1);
    return bad;
  }
  T_CHECK(bad, name, wsp_conn_get_state(s->c) == WSP_STATE_CLOSING);
  T_CHECK(bad, name, wsp_conn_want_read(s->c));
  T_CHECK(bad, name, s->rec.n_close == 0);
  /* the peer's reply completes the closing handshake */
  tbuf_init(&in);
  cframe_close(&in, want_code, NULL);
  T_CHECK(bad, name, t_is_wsp_rc(tsrv_feed(s, in.data, in.len)));
  tbuf_free(&in);
  T_CHECK(bad, name, wsp_conn_get_state(s->c) == WSP_STATE_CLOSED);
  T_CHECK(bad, name, wsp_conn_is_done(s->c));
  T_CHECK(bad, name, s->rec.n_close == 1);
  T_CHECK(bad, name, s->rec.close_code == want_code);
  T_CHECK(bad, name, s->rec.nmsgs == 0);
  T_CHECK(bad, name, s->out_pos == s->out.len); /* no second close */
  return bad;
}

static void fill_text(uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    p[i] = (uint8_t)('a' + i % 26);
}

/* ---- Round trips over the pair ---------------------------------------- */

static const size_t msg_sizes[] = {0, 125, 126, 65535, 65536, 1u << 20};

static void round_trips(struct tpair *p) {
  size_t i;
  int op;
  for (i = 0; i < T_ARRAY_LEN(msg_sizes); i++) {
    for (op = WSP_OP_TEXT; op <= WSP_OP_BINARY; op++) {
      size_t n = msg_sizes[i];
      uint8_t *buf = t_payload(n, (unsigned)(i * 2 + (size_t)op));
      size_t sm = p->srec.nmsgs, cm = p->crec.nmsgs;
      if (op == WSP_OP_TEXT)
        fill_text(buf, n);
      /* client to server */
      assert_int_equal(wsp_conn_send(p->cli, op, buf, n), 0);
      tpair_pump(p);
      assert_int_equal(p->srec.nmsgs, sm + 1);
      assert_int_equal(p->srec.msgs[sm].opcode, op);
      assert_int_equal(p->srec.msgs[sm].len, n);
      if (n)
        assert_memory_equal(p->srec.msgs[sm].data, buf, n);
      /* server to client */
      assert_int_equal(wsp_conn_send(p->srv, op, buf, n), 0);
      tpair_pump(p);
      assert_int_equal(p->crec.nmsgs, cm + 1);
      assert_int_equal(p->crec.msgs[cm].opcode, op);
      assert_int_equal(p->crec.msgs[cm].len, n);
      if (n)
        assert_memory_equal(p->crec.msgs[cm].data, buf, n);
      free(buf);
    }
  }
  assert_int_equal(p->srv_rc, 0);
  assert_int_equal(p->cli_rc, 0);
  assert_int_equal(wsp_conn_get_state(p->srv), WSP_STATE_OPEN);
  assert_int_equal(wsp_conn_get_state(p->cli), WSP_STATE_OPEN);
}

static void test_conn_message_sizes(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(p.srec.n_open, 1);
  assert_int_equal(p.crec.n_open, 1);
  round_trips(&p);
  tpair_free(&p);
}

/* The same with partial writes of 7 bytes and reads of 3 bytes. */
static void test_conn_message_sizes_partial_io(void **state) {
  struct tpair p;
  size_t i;
  (void)state;
  tpair_init(&p);
  p.write_max = 7;
  p.feed_chunk = 3;
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  for (i = 0; i < 4; i++) { /* up to 65535 bytes: byte-level I/O is slow */
    size_t n = msg_sizes[i];
    uint8_t *buf = t_payload(n, (unsigned)i);
    size_t sm = p.srec.nmsgs, cm = p.crec.nmsgs;
    assert_int_equal(wsp_conn_send(p.cli, WSP_OP_BINARY, buf, n), 0);
    assert_int_equal(wsp_conn_send(p.srv, WSP_OP_BINARY, buf, n), 0);
    tpair_pump(&p);
    assert_int_equal(p.srec.nmsgs, sm + 1);
    assert_int_equal(p.crec.nmsgs, cm + 1);
    assert_int_equal(p.srec.msgs[sm].len, n);
    assert_int_equal(p.crec.msgs[cm].len, n);
    if (n) {
      assert_memory_equal(p.srec.msgs[sm].data, buf, n);
      assert_memory_equal(p.crec.msgs[cm].data, buf, n);
    }
    free(buf);
  }
  assert_int_equal(p.srv_rc, 0);
  assert_int_equal(p.cli_rc, 0);
  tpair_free(&p);
}

/* Length encodings on the wire, masking by role. */
static void test_conn_wire_format(void **state) {
  static const size_t sizes[] = {0, 125, 126, 65535, 65536};
  static const int forms[] = {7, 7, 16, 16, 64};
  struct tpair p;
  struct tframes fs, fc;
  size_t i, hs, hc;
  (void)state;
  tpair_init(&p);
  p.capture = 1;
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  hs = thttp_head_len(p.s2c.data, p.s2c.len);
  hc = thttp_head_len(p.c2s.data, p.c2s.len);
  assert_int_equal(hs, p.s2c.len);
  assert_int_equal(hc, p.c2s.len);
  for (i = 0; i < T_ARRAY_LEN(sizes); i++) {
    uint8_t *buf = t_payload(sizes[i], 9);
    assert_int_equal(wsp_conn_send(p.cli, WSP_OP_BINARY, buf, sizes[i]), 0);
    assert_int_equal(wsp_conn_send(p.srv, WSP_OP_BINARY, buf, sizes[i]), 0);
    free(buf);
  }
  tpair_pump(&p);
  tframes_parse(&fs, p.s2c.data + hs, p.s2c.len - hs);
  tframes_parse(&fc, p.c2s.data + hc, p.c2s.len - hc);
  assert_int_equal(fs.used, p.s2c.len - hs);
  assert_int_equal(fc.used, p.c2s.len - hc);
  assert_int_equal(fs.n, T_ARRAY_LEN(sizes));
  assert_int_equal(fc.n, T_ARRAY_LEN(sizes));
  for (i = 0; i < T_ARRAY_LEN(sizes); i++) {
    uint8_t *buf = t_payload(sizes[i], 9);
    assert_int_equal(fs.f[i].masked, 0);
    assert_int_equal(fc.f[i].masked, 1);
    assert_int_equal(fs.f[i].lenform, forms[i]);
    assert_int_equal(fc.f[i].lenform, forms[i]);
    assert_int_equal(fs.f[i].fin, 1);
    assert_int_equal(fs.f[i].rsv, 0);
    assert_int_equal(fc.f[i].rsv, 0);
    assert_int_equal(fs.f[i].opcode, WSP_OP_BINARY);
    assert_int_equal(fs.f[i].len, sizes[i]);
    if (sizes[i]) {
      assert_memory_equal(fs.f[i].data, buf, sizes[i]);
      assert_memory_equal(fc.f[i].data, buf, sizes[i]);
    }
    free(buf);
  }
  tframes_free(&fs);
  tframes_free(&fc);
  tpair_free(&p);
}

/* ---- Fragmentation ---------------------------------------------------- */

static void test_conn_send_fragments(void **state) {
  struct tpair p;
  struct tframes fl;
  size_t head;
  (void)state;
  tpair_init(&p);
  p.capture = 1;
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  head = p.c2s.len;
  assert_int_equal(wsp_conn_send_fragment(p.cli, WSP_OP_TEXT, "Hel", 3, 0), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.nmsgs, 0); /* nothing until the last fragment */
  assert_int_equal(
      wsp_conn_send_fragment(p.cli, WSP_OP_CONTINUATION, "lo ", 3, 0), 0);
  /* a ping may go between fragments */
  assert_int_equal(wsp_conn_send(p.cli, WSP_OP_PING, "pp", 2), 0);
  assert_int_equal(
      wsp_conn_send_fragment(p.cli, WSP_OP_CONTINUATION, "world", 5, 1), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.nmsgs, 1);
  assert_int_equal(p.srec.msgs[0].opcode, WSP_OP_TEXT);
  assert_string_equal((char *)p.srec.msgs[0].data, "Hello world");
  assert_int_equal(p.srec.nctrls, 1);
  assert_int_equal(p.srec.ctrls[0].opcode, WSP_OP_PING);
  assert_int_equal(p.crec.nctrls, 1);
  assert_int_equal(p.crec.ctrls[0].opcode, WSP_OP_PONG);
  assert_string_equal((char *)p.crec.ctrls[0].data, "pp");

  tframes_parse(&fl, p.c2s.data + head, p.c2s.len - head);
  assert_int_equal(fl.n, 4);
  assert_int_equal(fl.f[0].opcode, WSP_OP_TEXT);
  assert_int_equal(fl.f[0].fin, 0);
  assert_int_equal(fl.f[1].opcode, WSP_OP_CONTINUATION);
  assert_int_equal(fl.f[1].fin, 0);
  assert_int_equal(fl.f[2].opcode, WSP_OP_PING);
  assert_int_equal(fl.f[2].fin, 1);
  assert_int_equal(fl.f[3].opcode, WSP_OP_CONTINUATION);
  assert_int_equal(fl.f[3].fin, 1);
  assert_string_equal((char *)fl.f[3].data, "world");
  tframes_free(&fl);

  /* server to client, binary, with an empty last fragment */
  assert_int_equal(wsp_conn_send_fragment(p.srv, WSP_OP_BINARY, "\0\1", 2, 0),
                   0);
  assert_int_equal(
      wsp_conn_send_fragment(p.srv, WSP_OP_CONTINUATION, "\2", 1, 0), 0);
  assert_int_equal(
      wsp_conn_send_fragment(p.srv, WSP_OP_CONTINUATION, NULL, 0, 1), 0);
  tpair_pump(&p);
  assert_int_equal(p.crec.nmsgs, 1);
  assert_int_equal(p.crec.msgs[0].opcode, WSP_OP_BINARY);
  assert_int_equal(p.crec.msgs[0].len, 3);
  assert_memory_equal(p.crec.msgs[0].data, "\0\1\2", 3);
  assert_int_equal(p.srv_rc, 0);
  assert_int_equal(p.cli_rc, 0);
  tpair_free(&p);
}

static void test_conn_send_fragment_misuse(void **state) {
  struct tpair p;
  size_t q;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  /* a continuation needs a start */
  assert_true(wsp_conn_send_fragment(p.srv, WSP_OP_CONTINUATION, "x", 1, 1) <
              0);
  /* control opcodes cannot be fragmented */
  assert_true(wsp_conn_send_fragment(p.srv, WSP_OP_PING, "x", 1, 0) < 0);
  assert_int_equal(wsp_conn_queued_bytes(p.srv), 0);
  assert_int_equal(wsp_conn_send_fragment(p.srv, WSP_OP_TEXT, "ab", 2, 0), 0);
  q = wsp_conn_queued_bytes(p.srv);
  /* no second start, no whole data message while one is streamed */
  assert_true(wsp_conn_send_fragment(p.srv, WSP_OP_TEXT, "x", 1, 1) < 0);
  assert_true(wsp_conn_send_fragment(p.srv, WSP_OP_BINARY, "x", 1, 0) < 0);
  assert_true(wsp_conn_send(p.srv, WSP_OP_TEXT, "x", 1) < 0);
  assert_true(wsp_conn_send(p.srv, WSP_OP_BINARY, "x", 1) < 0);
  assert_int_equal(wsp_conn_queued_bytes(p.srv), q);
  /* control frames are fine */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_PING, "k", 1), 0);
  assert_int_equal(
      wsp_conn_send_fragment(p.srv, WSP_OP_CONTINUATION, "cd", 2, 1), 0);
  /* and after the end, whole messages again */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_TEXT, "next", 4), 0);
  tpair_pump(&p);
  assert_int_equal(p.crec.nmsgs, 2);
  assert_string_equal((char *)p.crec.msgs[0].data, "abcd");
  assert_string_equal((char *)p.crec.msgs[1].data, "next");
  assert_int_equal(p.cli_rc, 0);
  tpair_free(&p);
}

/* Hand-built: control frames between the fragments of a message. */
static void test_conn_ping_between_fragments(void **state) {
  struct tsrv s;
  struct tbuf in;
  struct tframes fl;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, WSP_OP_TEXT, "ab", 2);
  cframe(&in, TF_FIN | WSP_OP_PING, "p1", 2);
  cframe(&in, WSP_OP_CONTINUATION, "cd", 2);
  cframe(&in, TF_FIN | WSP_OP_PONG, "unsolicited", 11);
  cframe(&in, TF_FIN | WSP_OP_PING, NULL, 0);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "ef", 2);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_string_equal((char *)s.rec.msgs[0].data, "abcdef");
  assert_int_equal(s.rec.nctrls, 3);
  assert_int_equal(s.rec.ctrls[0].opcode, WSP_OP_PING);
  assert_string_equal((char *)s.rec.ctrls[0].data, "p1");
  assert_int_equal(s.rec.ctrls[1].opcode, WSP_OP_PONG);
  assert_string_equal((char *)s.rec.ctrls[1].data, "unsolicited");
  assert_int_equal(s.rec.ctrls[2].opcode, WSP_OP_PING);
  assert_int_equal(s.rec.ctrls[2].len, 0);
  assert_true(s.rec.ctrls[0].seq < s.rec.msgs[0].seq);
  out_frames(&s, &fl);
  assert_int_equal(fl.n, 2); /* one pong per ping, none for the pong */
  assert_int_equal(fl.f[0].opcode, WSP_OP_PONG);
  assert_string_equal((char *)fl.f[0].data, "p1");
  assert_int_equal(fl.f[1].opcode, WSP_OP_PONG);
  assert_int_equal(fl.f[1].len, 0);
  tframes_free(&fl);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* A fragmented message whose frames arrive one byte at a time. */
static void test_conn_fragments_one_byte_per_recv(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, WSP_OP_BINARY, "12345", 5);
  cframe(&in, TF_FIN | WSP_OP_PING, "x", 1);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "678", 3);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "t", 1);
  assert_int_equal(feed_chunks(s.c, in.data, in.len, 1), 0);
  assert_int_equal(s.rec.nmsgs, 2);
  assert_int_equal(s.rec.msgs[0].opcode, WSP_OP_BINARY);
  assert_string_equal((char *)s.rec.msgs[0].data, "12345678");
  assert_int_equal(s.rec.msgs[1].opcode, WSP_OP_TEXT);
  assert_string_equal((char *)s.rec.msgs[1].data, "t");
  assert_int_equal(s.rec.nctrls, 1);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* ---- Control frames through the API ----------------------------------- */

static void test_conn_ping_pong_api(void **state) {
  struct tpair p;
  char big[126];
  (void)state;
  memset(big, 'b', sizeof(big));
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_send(p.cli, WSP_OP_PING, "abc", 3), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.nctrls, 1);
  assert_int_equal(p.srec.ctrls[0].opcode, WSP_OP_PING);
  assert_string_equal((char *)p.srec.ctrls[0].data, "abc");
  assert_int_equal(p.crec.nctrls, 1);
  assert_int_equal(p.crec.ctrls[0].opcode, WSP_OP_PONG);
  assert_string_equal((char *)p.crec.ctrls[0].data, "abc");
  /* an unsolicited pong is reported and not answered */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_PONG, "hb", 2), 0);
  tpair_pump(&p);
  assert_int_equal(p.crec.nctrls, 2);
  assert_int_equal(p.crec.ctrls[1].opcode, WSP_OP_PONG);
  assert_int_equal(p.srec.nctrls, 1);
  /* 125 bytes is the most a control frame carries */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_PING, big, 125), 0);
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_PING, big, 126), WSP_ERR_INVAL);
  /* close and reserved opcodes are not for wsp_conn_send */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_CLOSE, NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_send(p.srv, 3, "x", 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_CONTINUATION, "x", 1),
                   WSP_ERR_INVAL);
  tpair_pump(&p);
  assert_int_equal(p.srec.nctrls, 2);
  assert_int_equal(p.srec.ctrls[1].opcode, WSP_OP_PONG);
  assert_int_equal(p.srec.ctrls[1].len, 125);
  tpair_free(&p);
}

/* ---- Closing ---------------------------------------------------------- */

static void check_closed_pair(struct tpair *p, int code, const char *reason) {
  size_t rl = reason ? strlen(reason) : 0;
  assert_int_equal(wsp_conn_get_state(p->srv), WSP_STATE_CLOSED);
  assert_int_equal(wsp_conn_get_state(p->cli), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(p->srv));
  assert_true(wsp_conn_is_done(p->cli));
  assert_false(wsp_conn_want_read(p->srv));
  assert_false(wsp_conn_want_read(p->cli));
  assert_int_equal(p->srec.n_close, 1);
  assert_int_equal(p->crec.n_close, 1);
  assert_int_equal(p->srec.close_code, code);
  assert_int_equal(p->crec.close_code, code);
  assert_int_equal(p->srec.close_reason_len, rl);
  if (rl)
    assert_memory_equal(p->srec.close_reason, reason, rl);
  assert_int_equal(wsp_conn_get_error(p->srv), 0);
  assert_int_equal(wsp_conn_get_error(p->cli), 0);
}

static void test_conn_close_from_client(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_close(p.cli, 1000, "bye", 3), 0);
  assert_int_equal(wsp_conn_get_state(p.cli), WSP_STATE_CLOSING);
  assert_int_equal(wsp_conn_close_code_sent(p.cli), 1000);
  assert_true(wsp_conn_want_read(p.cli));
  tpair_pump(&p);
  check_closed_pair(&p, 1000, "bye");
  assert_int_equal(wsp_conn_close_code_sent(p.srv), 1000);
  assert_int_equal(wsp_conn_close_code_sent(p.cli), 1000);
  /* the client got the server's echo, which carries no reason */
  assert_int_equal(p.srv_rc, 0);
  assert_int_equal(p.cli_rc, 0);
  tpair_free(&p);
}

static void test_conn_close_from_server(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_close(p.srv, 4001, "custom", 6), 0);
  assert_int_equal(wsp_conn_get_state(p.srv), WSP_STATE_CLOSING);
  tpair_pump(&p);
  assert_int_equal(p.crec.close_reason_len, 6);
  assert_memory_equal(p.crec.close_reason, "custom", 6);
  assert_int_equal(p.srec.n_close, 1);
  assert_int_equal(p.crec.close_code, 4001);
  assert_int_equal(p.srec.close_code, 4001);
  assert_int_equal(wsp_conn_close_code_sent(p.srv), 4001);
  assert_int_equal(wsp_conn_close_code_sent(p.cli), 4001);
  assert_true(wsp_conn_is_done(p.srv));
  assert_true(wsp_conn_is_done(p.cli));
  tpair_free(&p);
}

static void test_conn_close_without_code(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_close(p.cli, 0, NULL, 0), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.close_code, WSP_CLOSE_NO_STATUS);
  assert_int_equal(p.crec.close_code, WSP_CLOSE_NO_STATUS);
  assert_int_equal(p.srec.close_reason_len, 0);
  assert_true(wsp_conn_is_done(p.srv));
  assert_true(wsp_conn_is_done(p.cli));
  tpair_free(&p);
}

static void test_conn_close_simultaneous(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_close(p.cli, 1001, "away", 4), 0);
  assert_int_equal(wsp_conn_close(p.srv, 1000, "done", 4), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.n_close, 1);
  assert_int_equal(p.crec.n_close, 1);
  assert_int_equal(p.srec.close_code, 1001);
  assert_int_equal(p.crec.close_code, 1000);
  assert_true(wsp_conn_is_done(p.srv));
  assert_true(wsp_conn_is_done(p.cli));
  tpair_free(&p);
}

static void test_conn_close_argument_checks(void **state) {
  static const int bad[] = {1, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535};
  struct tpair p;
  char reason[124];
  size_t i;
  (void)state;
  memset(reason, 'r', sizeof(reason));
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  for (i = 0; i < T_ARRAY_LEN(bad); i++)
    assert_int_equal(wsp_conn_close(p.srv, bad[i], NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_close(p.srv, 1000, reason, 124), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_close(p.srv, 1000, "\xc0\x80", 2), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_get_state(p.srv), WSP_STATE_OPEN);
  assert_int_equal(wsp_conn_queued_bytes(p.srv), 0);
  assert_int_equal(wsp_conn_close(p.srv, 1000, reason, 123), 0);
  tpair_pump(&p);
  assert_int_equal(p.crec.close_reason_len, 123);
  /* after closing: no more sends, no second close */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_TEXT, "late", 4),
                   WSP_ERR_CLOSED);
  assert_int_equal(wsp_conn_close(p.srv, 1000, NULL, 0), WSP_ERR_CLOSED);
  assert_int_equal(wsp_conn_queued_bytes(p.srv), 0);
  tpair_free(&p);
}

static void test_conn_eof_while_open(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_true(t_is_wsp_rc(wsp_conn_recv(p.srv, NULL, 0)));
  assert_int_equal(wsp_conn_get_state(p.srv), WSP_STATE_CLOSED);
  assert_int_equal(p.srec.n_close, 1);
  assert_int_equal(p.srec.close_code, WSP_CLOSE_ABNORMAL);
  assert_true(wsp_conn_is_done(p.srv));
  /* a second EOF does not report again */
  wsp_conn_recv(p.srv, NULL, 0);
  assert_int_equal(p.srec.n_close, 1);
  tpair_free(&p);
}

/* Messages after the peer's close frame are not delivered. */
static void test_conn_nothing_after_close(void **state) {
  struct tsrv s;
  struct tbuf in;
  struct tframes fl;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "before", 6);
  cframe_close(&in, 1000, "x");
  cframe(&in, TF_FIN | WSP_OP_TEXT, "after", 5);
  tsrv_feed(&s, in.data, in.len);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_string_equal((char *)s.rec.msgs[0].data, "before");
  assert_int_equal(s.rec.n_close, 1);
  assert_int_equal(s.rec.close_code, 1000);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  out_frames(&s, &fl);
  assert_int_equal(fl.n, 1);
  assert_int_equal(fl.f[0].opcode, WSP_OP_CLOSE);
  assert_int_equal(tframe_close_code(&fl.f[0]), 1000);
  tframes_free(&fl);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* Valid close codes are echoed. */
static void test_conn_valid_close_codes(void **state) {
  static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                           1010, 1011, 3000, 3999, 4000, 4999};
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(ok); i++) {
    struct tsrv s;
    struct tbuf in;
    struct tframes fl;
    tsrv_init(&s);
    tsrv_open(&s);
    tbuf_init(&in);
    cframe_close(&in, ok[i], "why");
    assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
    assert_int_equal(s.rec.n_close, 1);
    assert_int_equal(s.rec.close_code, ok[i]);
    assert_int_equal(s.rec.close_reason_len, 3);
    assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
    assert_true(wsp_conn_is_done(s.c));
    out_frames(&s, &fl);
    assert_int_equal(fl.n, 1);
    assert_int_equal(tframe_close_code(&fl.f[0]), ok[i]);
    tframes_free(&fl);
    assert_int_equal(wsp_conn_close_code_sent(s.c), ok[i]);
    tbuf_free(&in);
    tsrv_free(&s);
  }
}

/* ---- UTF-8 ------------------------------------------------------------ */

struct utf8_case {
  const char *name;
  const char *bytes;
  size_t len;
  int valid;
};

#define U8(name, s, valid) {name, s, sizeof(s) - 1, valid}

static const struct utf8_case utf8_cases[] = {
    U8("ascii", "hello", 1),
    U8("empty", "", 1),
    U8("NUL is a character", "a\0b", 1),
    U8("two-byte", "\xc2\xa9", 1),
    U8("greek kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1),
    U8("valid 4-byte", "\xf0\x9f\x98\x80", 1),
    U8("last before surrogates U+D7FF", "\xed\x9f\xbf", 1),
    U8("first after surrogates U+E000", "\xee\x80\x80", 1),
    U8("U+FFFF", "\xef\xbf\xbf", 1),
    U8("U+10FFFF", "\xf4\x8f\xbf\xbf", 1),
    U8("overlong NUL C0 80", "\xc0\x80", 0),
    U8("overlong C1 BF", "\xc1\xbf", 0),
    U8("overlong 3-byte E0 80 80", "\xe0\x80\x80", 0),
    U8("overlong 3-byte E0 9F BF", "\xe0\x9f\xbf", 0),
    U8("overlong 4-byte F0 80 80 80", "\xf0\x80\x80\x80", 0),
    U8("overlong 4-byte F0 8F BF BF", "\xf0\x8f\xbf\xbf", 0),
    U8("surrogate ED A0 80", "\xed\xa0\x80", 0),
    U8("surrogate ED BF BF", "\xed\xbf\xbf", 0),
    U8("above U+10FFFF F4 90 80 80", "\xf4\x90\x80\x80", 0),
    U8("F5 lead byte", "\xf5\x80\x80\x80", 0),
    U8("FE", "\xfe", 0),
    U8("FF", "\xff", 0),
    U8("lone continuation", "a\x80", 0),
    U8("truncated 3-byte at the end", "ab\xe2\x82", 0),
    U8("truncated 2-byte at the end", "ab\xc3", 0),
    U8("bad continuation", "\xe2\x28\xa1", 0),
    U8("valid then surrogate", "\xce\xba\xe1\xbd\xb9\xed\xa0\x80" "edited", 0),
};

static void test_conn_utf8_single_frame(void **state) {
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(utf8_cases); i++) {
    const struct utf8_case *tc = &utf8_cases[i];
    struct tsrv s;
    struct tbuf in;
    char name[128];
    int rc;
    snprintf(name, sizeof(name), "utf8 case \"%s\"", tc->name);
    tsrv_init(&s);
    tsrv_open(&s);
    tbuf_init(&in);
    cframe(&in, TF_FIN | WSP_OP_TEXT, tc->bytes, tc->len);
    rc = tsrv_feed(&s, in.data, in.len);
    if (tc->valid) {
      T_CHECK(bad, name, rc == 0);
      T_CHECK(bad, name, s.rec.nmsgs == 1);
      T_CHECK(bad, name, s.rec.nmsgs == 1 && s.rec.msgs[0].len == tc->len &&
                             memcmp(s.rec.msgs[0].data, tc->bytes, tc->len) ==
                                 0);
      T_CHECK(bad, name, wsp_conn_close_code_sent(s.c) == 0);
      T_CHECK(bad, name, wsp_conn_get_state(s.c) == WSP_STATE_OPEN);
    } else {
      bad += check_failed(&s, name, rc, WSP_ERR_BAD_UTF8,
                          WSP_CLOSE_INVALID_PAYLOAD, 0);
    }
    tsrv_free(&s);
    /* binary messages are never checked */
    tsrv_init(&s);
    tsrv_open(&s);
    tbuf_reset(&in);
    cframe(&in, TF_FIN | WSP_OP_BINARY, tc->bytes, tc->len);
    T_CHECK(bad, name, tsrv_feed(&s, in.data, in.len) == 0);
    T_CHECK(bad, name, s.rec.nmsgs == 1);
    tsrv_free(&s);
    tbuf_free(&in);
  }
  assert_int_equal(bad, 0);
}

/* A code point split across fragments is fine when valid. */
static void test_conn_utf8_split_valid(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, WSP_OP_TEXT, "x\xf0\x9f", 3);
  cframe(&in, WSP_OP_CONTINUATION, "\x98", 1);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "\x80y", 2);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_int_equal(s.rec.msgs[0].len, 6);
  assert_memory_equal(s.rec.msgs[0].data, "x\xf0\x9f\x98\x80y", 6);
  expect_no_close(&s);
  /* one byte per fragment */
  tbuf_reset(&in);
  cframe(&in, WSP_OP_TEXT, "\xe2", 1);
  cframe(&in, WSP_OP_CONTINUATION, "\x82", 1);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "\xac", 1);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.nmsgs, 2);
  assert_string_equal((char *)s.rec.msgs[1].data, "\xe2\x82\xac");
  tbuf_free(&in);
  tsrv_free(&s);
}

/* An invalid sequence fails at the byte that makes it invalid, before the
 * final fragment arrives. */
static void split_invalid(const char *first, size_t flen, const char *second,
                          size_t slen) {
  struct tsrv s;
  struct tbuf in;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, WSP_OP_TEXT, first, flen);
  if (second) {
    assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
    expect_no_close(&s);
    tbuf_reset(&in);
    cframe(&in, WSP_OP_CONTINUATION, second, slen);
  }
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_BAD_UTF8);
  expect_close_frame(&s, WSP_CLOSE_INVALID_PAYLOAD);
  assert_int_equal(s.rec.nmsgs, 0);
  /* the final fragment changes nothing */
  tbuf_reset(&in);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "z", 1);
  tsrv_feed(&s, in.data, in.len);
  assert_int_equal(s.rec.nmsgs, 0);
  finish_close(&s, WSP_CLOSE_INVALID_PAYLOAD);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void test_conn_utf8_split_invalid(void **state) {
  (void)state;
  split_invalid("ok\xf0\x9f", 4, "A", 1);    /* bad continuation */
  split_invalid("ok\xed", 3, "\xa0\x80", 2); /* surrogate across frames */
  split_invalid("ok\xf4", 3, "\x90", 1);     /* above U+10FFFF */
  split_invalid("ok\xc0", 3, NULL, 0);       /* C0 can never start one */
  split_invalid("ok\xed\xa0", 4, NULL, 0);   /* surrogate in the first */
  split_invalid("ok\xe0\x80", 4, NULL, 0);   /* overlong in the first */
}

/* Inside one frame, too: the bad byte fails the frame before its end. */
static void test_conn_utf8_fails_mid_frame(void **state) {
  struct tsrv s;
  struct tbuf in;
  uint8_t payload[100];
  size_t i;
  (void)state;
  memset(payload, 'a', sizeof(payload));
  payload[10] = 0xc0;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, payload, sizeof(payload));
  /* header (2 + 4 mask) and the first 20 payload bytes */
  assert_int_equal(tsrv_feed(&s, in.data, 6 + 20), WSP_ERR_BAD_UTF8);
  expect_close_frame(&s, WSP_CLOSE_INVALID_PAYLOAD);
  for (i = 26; i < in.len; i += 10)
    tsrv_feed(&s, in.data + i, in.len - i < 10 ? in.len - i : 10);
  assert_int_equal(s.rec.nmsgs, 0);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* Truncated at the end of the message (split across fragments). */
static void test_conn_utf8_truncated_at_end(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, WSP_OP_TEXT, "ab", 2);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "\xe2\x82", 2);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_BAD_UTF8);
  expect_close_frame(&s, WSP_CLOSE_INVALID_PAYLOAD);
  assert_int_equal(s.rec.nmsgs, 0);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void test_conn_utf8_close_reason(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe_close(&in, 1000, "\xc0\x80");
  assert_int_equal(check_failed(&s, "close reason C0 80",
                                tsrv_feed(&s, in.data, in.len),
                                WSP_ERR_BAD_UTF8, WSP_CLOSE_INVALID_PAYLOAD, 1),
                   0);
  tbuf_free(&in);
  tsrv_free(&s);

  /* a valid multi-byte reason is passed on */
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_init(&in);
  cframe_close(&in, 1000, "\xce\xba\xe1\xbd\xb9");
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.close_reason_len, 5);
  assert_memory_equal(s.rec.close_reason, "\xce\xba\xe1\xbd\xb9", 5);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* ---- Protocol errors -------------------------------------------------- */

struct proto_case {
  const char *name;
  uint8_t b0;
  int masked;
  size_t len;        /* payload bytes (filled with 'a', or a close code) */
  int open_fragment; /* a TEXT fragment (FIN = 0) goes first */
  int lenform;       /* 0: minimal length encoding, else 7, 16 or 64 */
};

static const struct proto_case proto_cases[] = {
    {"RSV1 on text", TF_FIN | TF_RSV1 | WSP_OP_TEXT, 1, 1, 0, 0},
    {"RSV2 on text", TF_FIN | TF_RSV2 | WSP_OP_TEXT, 1, 1, 0, 0},
    {"RSV3 on binary", TF_FIN | TF_RSV3 | WSP_OP_BINARY, 1, 1, 0, 0},
    {"all RSV bits on binary", TF_FIN | 0x70 | WSP_OP_BINARY, 1, 0, 0, 0},
    {"RSV1 on ping", TF_FIN | TF_RSV1 | WSP_OP_PING, 1, 1, 0, 0},
    {"RSV1 on a continuation", TF_FIN | TF_RSV1 | WSP_OP_CONTINUATION, 1, 1, 1, 0},
    {"opcode 3", TF_FIN | 3, 1, 1, 0, 0},
    {"opcode 4", TF_FIN | 4, 1, 1, 0, 0},
    {"opcode 5", TF_FIN | 5, 1, 0, 0, 0},
    {"opcode 6", TF_FIN | 6, 1, 1, 0, 0},
    {"opcode 7", TF_FIN | 7, 1, 1, 0, 0},
    {"opcode 0xB", TF_FIN | 0xb, 1, 1, 0, 0},
    {"opcode 0xC", TF_FIN | 0xc, 1, 1, 0, 0},
    {"opcode 0xD", TF_FIN | 0xd, 1, 0, 0, 0},
    {"opcode 0xE", TF_FIN | 0xe, 1, 1, 0, 0},
    {"opcode 0xF", TF_FIN | 0xf, 1, 1, 0, 0},
    {"reserved opcode inside a message", TF_FIN | 3, 1, 1, 1, 0},
    {"fragmented ping", WSP_OP_PING, 1, 2, 0, 0},
    {"fragmented pong", WSP_OP_PONG, 1, 2, 0, 0},
    {"fragmented close", WSP_OP_CLOSE, 1, 2, 0, 0},
    {"ping of 126 bytes", TF_FIN | WSP_OP_PING, 1, 126, 0, 0},
    {"pong of 126 bytes", TF_FIN | WSP_OP_PONG, 1, 126, 0, 0},
    {"close of 126 bytes", TF_FIN | WSP_OP_CLOSE, 1, 126, 0, 0},
    {"unmasked text", TF_FIN | WSP_OP_TEXT, 0, 3, 0, 0},
    {"unmasked ping", TF_FIN | WSP_OP_PING, 0, 3, 0, 0},
    {"unmasked close", TF_FIN | WSP_OP_CLOSE, 0, 2, 0, 0},
    {"unmasked continuation", TF_FIN | WSP_OP_CONTINUATION, 0, 1, 1, 0},
    {"continuation without a start", TF_FIN | WSP_OP_CONTINUATION, 1, 1, 0, 0},
    {"unfinished continuation without a start", WSP_OP_CONTINUATION, 1, 1, 0, 0},
    {"text inside a fragmented message", TF_FIN | WSP_OP_TEXT, 1, 1, 1, 0},
    {"binary start inside a fragmented message", WSP_OP_BINARY, 1, 1, 1, 0},
    {"close with a 1-byte payload", TF_FIN | WSP_OP_CLOSE, 1, 1, 0, 0},
    /* RFC 6455 5.2: the minimal number of bytes MUST encode the length */
    {"16-bit length for 5 bytes", TF_FIN | WSP_OP_BINARY, 1, 5, 0, 16},
    {"64-bit length for 200 bytes", TF_FIN | WSP_OP_BINARY, 1, 200, 0, 64},
    {"16-bit length on a ping", TF_FIN | WSP_OP_PING, 1, 3, 0, 16},
};

static int run_proto_case(const struct proto_case *tc, int one_byte) {
  struct tsrv s;
  struct tbuf in;
  uint8_t payload[200];
  char name[160];
  int rc, bad;
  snprintf(name, sizeof(name), "protocol case \"%s\"%s", tc->name,
           one_byte ? " byte by byte" : "");
  memset(payload, 'a', sizeof(payload));
  if ((tc->b0 & 0x0f) == WSP_OP_CLOSE && tc->len >= 2) {
    payload[0] = 0x03; /* 1000 */
    payload[1] = 0xe8;
  }
  tsrv_init(&s);
  s.rec.echo = 1;
  tsrv_open(&s);
  tbuf_init(&in);
  if (tc->open_fragment)
    cframe(&in, WSP_OP_TEXT, "part", 4);
  frame_append_ex(&in, tc->b0, tc->masked, payload, tc->len, tc->lenform);
  /* a valid frame behind it must not be delivered */
  cframe(&in, TF_FIN | WSP_OP_TEXT, "after", 5);
  if (one_byte) {
    /* every byte goes in, as a peer would send it; the first error is
     * the one that counts */
    size_t i;
    rc = 0;
    for (i = 0; i < in.len; i++) {
      int r = wsp_conn_recv(s.c, in.data + i, 1);
      if (r < 0 && rc == 0)
        rc = r;
    }
    tsrv_drain(&s);
  } else {
    rc = tsrv_feed(&s, in.data, in.len);
  }
  /* a malformed close frame is the peer's close all the same */
  bad = check_failed(&s, name, rc, WSP_ERR_PROTO, WSP_CLOSE_PROTOCOL_ERROR,
                     (tc->b0 & 0x0f) == WSP_OP_CLOSE);
  tbuf_free(&in);
  tsrv_free(&s);
  return bad;
}

static void test_conn_protocol_errors(void **state) {
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(proto_cases); i++)
    bad += run_proto_case(&proto_cases[i], 0);
  assert_int_equal(bad, 0);
}

/* Each frame delivered one byte per recv gives the same result. */
static void test_conn_protocol_errors_one_byte(void **state) {
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(proto_cases); i++)
    bad += run_proto_case(&proto_cases[i], 1);
  assert_int_equal(bad, 0);
}

static void test_conn_invalid_close_codes(void **state) {
  static const int codes[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                              1016, 1100, 2000, 2999, 5000, 65535};
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(codes); i++) {
    struct tsrv s;
    struct tbuf in;
    uint8_t pl[2];
    char name[64];
    snprintf(name, sizeof(name), "close code %d", codes[i]);
    tsrv_init(&s);
    tsrv_open(&s);
    tbuf_init(&in);
    pl[0] = (uint8_t)(codes[i] >> 8);
    pl[1] = (uint8_t)codes[i];
    cframe(&in, TF_FIN | WSP_OP_CLOSE, pl, 2);
    bad += check_failed(&s, name, tsrv_feed(&s, in.data, in.len),
                        WSP_ERR_PROTO, WSP_CLOSE_PROTOCOL_ERROR, 1);
    tbuf_free(&in);
    tsrv_free(&s);
  }
  assert_int_equal(bad, 0);
}

static void test_conn_length_top_bit(void **state) {
  static const uint8_t hdr[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x05,
                                0x37, 0xfa, 0x21, 0x3d, 'a', 'b'};
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(tsrv_feed(&s, hdr, sizeof(hdr)), WSP_ERR_PROTO);
  expect_close_frame(&s, WSP_CLOSE_PROTOCOL_ERROR);
  tsrv_free(&s);
}

/* The client role refuses masked server frames. */
static void test_conn_client_rejects_masked_frame(void **state) {
  struct tpair p;
  struct tbuf in;
  struct tframes fl;
  size_t before;
  (void)state;
  tpair_init(&p);
  p.capture = 1;
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  before = p.c2s.len;
  tbuf_init(&in);
  frame_append(&in, TF_FIN | WSP_OP_TEXT, 1, "hi", 2);
  assert_int_equal(wsp_conn_recv(p.cli, in.data, in.len), WSP_ERR_PROTO);
  assert_int_equal(p.crec.nmsgs, 0);
  assert_int_equal(wsp_conn_close_code_sent(p.cli), 1002);
  tpair_pump(&p);
  tframes_parse(&fl, p.c2s.data + before, p.c2s.len - before);
  assert_int_equal(fl.n, 1);
  assert_int_equal(fl.f[0].opcode, WSP_OP_CLOSE);
  assert_int_equal(fl.f[0].masked, 1);
  assert_int_equal(tframe_close_code(&fl.f[0]), 1002);
  tframes_free(&fl);
  assert_int_equal(p.srec.close_code, 1002);
  assert_true(wsp_conn_is_done(p.cli));
  assert_true(wsp_conn_is_done(p.srv));
  tbuf_free(&in);
  tpair_free(&p);
}

/* Replies to messages before a bad frame leave before the close frame. */
static void test_conn_queue_order_before_error(void **state) {
  struct tsrv s;
  struct tbuf in;
  struct tframes fl;
  (void)state;
  tsrv_init(&s);
  s.rec.echo = 1;
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "one", 3);
  cframe(&in, TF_FIN | WSP_OP_PING, "p", 1);
  cframe(&in, TF_FIN | WSP_OP_BINARY, "two", 3);
  cframe(&in, TF_FIN | TF_RSV2 | WSP_OP_TEXT, "bad", 3);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "three", 5);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_PROTO);
  assert_int_equal(s.rec.nmsgs, 2);
  out_frames(&s, &fl);
  assert_int_equal(fl.n, 4);
  /* the echoes in order and the pong, wherever it goes, all before the
   * close frame */
  {
    int seen_one = -1, seen_two = -1, seen_pong = -1;
    size_t i;
    for (i = 0; i < 3; i++) {
      if (fl.f[i].opcode == WSP_OP_TEXT && !strcmp((char *)fl.f[i].data, "one"))
        seen_one = (int)i;
      if (fl.f[i].opcode == WSP_OP_BINARY &&
          !strcmp((char *)fl.f[i].data, "two"))
        seen_two = (int)i;
      if (fl.f[i].opcode == WSP_OP_PONG && !strcmp((char *)fl.f[i].data, "p"))
        seen_pong = (int)i;
    }
    assert_true(seen_one >= 0 && seen_two > seen_one && seen_pong >= 0);
  }
  assert_int_equal(fl.f[3].opcode, WSP_OP_CLOSE);
  assert_int_equal(tframe_close_code(&fl.f[3]), 1002);
  tframes_free(&fl);
  tbuf_free(&in);
  tsrv_free(&s);

  /* the same with bad UTF-8 as the fault */
  tsrv_init(&s);
  s.rec.echo = 1;
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "one", 3);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "\xff", 1);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), WSP_ERR_BAD_UTF8);
  out_frames(&s, &fl);
  assert_int_equal(fl.n, 2);
  assert_string_equal((char *)fl.f[0].data, "one");
  assert_int_equal(tframe_close_code(&fl.f[1]), 1007);
  tframes_free(&fl);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* While closing, input is read and discarded until the peer's close. */
static void test_conn_closing_discards_input(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_conn_close(s.c, 1001, NULL, 0), 0);
  tsrv_drain(&s);
  expect_close_frame(&s, 1001);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "ignored", 7);
  cframe(&in, TF_FIN | WSP_OP_PING, "q", 1);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.nmsgs, 0);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 0); /* no pong either */
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSING);
  finish_close(&s, 1001);
  assert_int_equal(s.rec.close_code, 1001);
  assert_int_equal(s.out_pos, s.out.len); /* no second close frame */
  tbuf_free(&in);
  tsrv_free(&s);
}

/* ---- Large fragmented message at the limit ---------------------------- */

static void test_conn_16mib_in_64_byte_fragments(void **state) {
  const size_t total = 16u << 20, frag = 64;
  struct tsrv s;
  struct tbuf in;
  uint8_t chunk[64];
  size_t off, i;
  int rc = 0;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_MESSAGE), total);
  tbuf_init(&in);
  for (off = 0; off < total; off += frag) {
    uint8_t b0 = off == 0 ? WSP_OP_BINARY : WSP_OP_CONTINUATION;
    if (off + frag == total)
      b0 |= TF_FIN;
    for (i = 0; i < frag; i++)
      chunk[i] = (uint8_t)((off + i) * 7 + ((off + i) >> 8));
    cframe(&in, b0, chunk, frag);
  }
  for (off = 0; off < in.len && rc == 0; off += 65536) {
    size_t n = in.len - off < 65536 ? in.len - off : 65536;
    rc = wsp_conn_recv(s.c, in.data + off, n);
  }
  assert_int_equal(rc, 0);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_int_equal(s.rec.msgs[0].len, total);
  for (off = 0; off < total; off += 4099)
    assert_int_equal(s.rec.msgs[0].data[off],
                     (uint8_t)(off * 7 + (off >> 8)));
  tsrv_drain(&s);
  expect_no_close(&s);
  tbuf_free(&in);
  tsrv_free(&s);
}

/* ---- Callbacks and re-entrancy ---------------------------------------- */

static void test_conn_want_write_callback(void **state) {
  struct tsrv s;
  int n;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  n = s.rec.n_want_write;
  assert_true(n >= 1); /* the 101 */
  assert_false(wsp_conn_want_write(s.c));
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "a", 1), 0);
  assert_int_equal(s.rec.n_want_write, n + 1);
  assert_true(wsp_conn_want_write(s.c));
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "b", 1), 0);
  assert_int_equal(s.rec.n_want_write, n + 1); /* queue was not empty */
  tsrv_drain(&s);
  assert_false(wsp_conn_want_write(s.c));
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "c", 1), 0);
  assert_int_equal(s.rec.n_want_write, n + 2);
  tsrv_free(&s);
}

/* Output is handed out in order, with partial writes anywhere. */
static void test_conn_partial_writes(void **state) {
  struct tsrv s;
  struct tframes fl;
  char msg[32];
  int i;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  for (i = 0; i < 50; i++) {
    snprintf(msg, sizeof(msg), "message %d", i);
    assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, msg, strlen(msg)), 0);
  }
  sink_drain(s.c, &s.out, 3);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 0);
  out_frames(&s, &fl);
  assert_int_equal(fl.n, 50);
  for (i = 0; i < 50; i++) {
    snprintf(msg, sizeof(msg), "message %d", i);
    assert_string_equal((char *)fl.f[i].data, msg);
  }
  tframes_free(&fl);
  /* more than pending is an error */
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "x", 1), 0);
  assert_true(wsp_conn_sent(s.c, 100) < 0);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 3);
  tsrv_free(&s);
}

/* Shared frames queue by reference between the connection's own small
 * writes: the same frame twice is two spans of it, a write after a frame
 * starts a new span, a partial write resumes inside a span, and the bytes
 * leave in the order they were queued. */
static size_t iov_gather(const struct iovec *iov, int n, uint8_t *out) {
  size_t len = 0;
  int i;
  for (i = 0; i < n; i++) {
    memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
    len += iov[i].iov_len;
  }
  return len;
}

static void test_conn_send_frame_between_writes(void **state) {
  static const uint8_t want[] = {0x81, 1,   'a', 0x82, 3,   'x', 'y', 'z',
                                 0x82, 3,   'x', 'y', 'z', 0x81, 1,   'b'};
  struct tsrv s;
  struct wsp_frame *f;
  struct iovec iov[8];
  uint8_t got[sizeof(want)];
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(wsp_frame_new(&f, NULL, WSP_OP_BINARY, "xyz", 3), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "a", 1), 0);
  assert_int_equal(wsp_conn_send_frame(s.c, f), 0);
  assert_int_equal(wsp_conn_send_frame(s.c, f), 0);
  assert_int_equal(wsp_conn_send(s.c, WSP_OP_TEXT, "b", 1), 0);
  wsp_frame_unref(f); /* the queue holds references of its own */
  assert_int_equal(wsp_conn_queued_bytes(s.c), sizeof(want));
  assert_int_equal(wsp_conn_pending(s.c, iov, 8), 4);
  assert_ptr_equal(iov[1].iov_base, iov[2].iov_base);
  assert_int_equal(iov[1].iov_len, 5);
  assert_int_equal(iov[2].iov_len, 5);
  assert_int_equal(iov_gather(iov, 4, got), sizeof(want));
  assert_memory_equal(got, want, sizeof(want));
  /* the first span and one byte of the frame leave */
  assert_int_equal(wsp_conn_sent(s.c, 4), 0);
  assert_int_equal(wsp_conn_pending(s.c, iov, 8), 3);
  assert_int_equal(iov[0].iov_len, 4);
  assert_int_equal(iov_gather(iov, 3, got), sizeof(want) - 4);
  assert_memory_equal(got, want + 4, sizeof(want) - 4);
  assert_int_equal(wsp_conn_sent(s.c, sizeof(want) - 4), 0);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 0);
  assert_int_equal(wsp_conn_pending(s.c, iov, 8), 0);
  tsrv_free(&s);
}

static void close_in_message(struct wsp_conn *c, int opcode,
                             const uint8_t *data, size_t len, struct trec *r) {
  (void)opcode;
  (void)data;
  (void)len;
  (void)r;
  assert_int_equal(wsp_conn_close(c, 1000, "enough", 6), 0);
}

static void test_conn_close_from_callback(void **state) {
  struct tsrv s;
  struct tbuf in;
  struct tframes fl;
  (void)state;
  tsrv_init(&s);
  s.rec.echo = 1;
  s.rec.msg_hook = close_in_message;
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "first", 5);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "second", 6);
  assert_true(t_is_wsp_rc(tsrv_feed(&s, in.data, in.len)));
  assert_int_equal(s.rec.nmsgs, 1);
  out_frames(&s, &fl);
  assert_int_equal(fl.n, 2);
  assert_string_equal((char *)fl.f[0].data, "first");
  assert_int_equal(tframe_close_code(&fl.f[1]), 1000);
  tframes_free(&fl);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSING);
  finish_close(&s, 1000);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void recurse_in_message(struct wsp_conn *c, int opcode,
                               const uint8_t *data, size_t len,
                               struct trec *r) {
  int *rcs = r->hook_data;
  (void)opcode;
  rcs[0] = wsp_conn_recv(c, data, len);
  rcs[1] = wsp_conn_tick(c, 1);
  rcs[2] = wsp_conn_sent(c, 0);
}

static void test_conn_recursive_calls(void **state) {
  struct tsrv s;
  struct tbuf in;
  int rcs[3] = {1, 1, 1};
  (void)state;
  tsrv_init(&s);
  s.rec.msg_hook = recurse_in_message;
  s.rec.hook_data = rcs;
  tsrv_open(&s);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "r", 1);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(rcs[0], WSP_ERR_RECURSIVE);
  assert_int_equal(rcs[1], WSP_ERR_RECURSIVE);
  assert_int_equal(rcs[2], WSP_ERR_RECURSIVE);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_OPEN);
  tbuf_free(&in);
  tsrv_free(&s);
}

static void free_in_message(struct wsp_conn *c, int opcode,
                            const uint8_t *data, size_t len, struct trec *r) {
  (void)opcode;
  (void)data;
  (void)len;
  (void)r;
  wsp_conn_free(c);
}

static void test_conn_free_from_callback(void **state) {
  struct tfail fa;
  struct trec rec;
  struct wsp_conn_callbacks cb;
  struct wsp_conn *c;
  struct tbuf in;
  (void)state;
  tfail_init(&fa, 0, 0);
  trec_init(&rec);
  rec.msg_hook = free_in_message;
  cb = trec_callbacks(&rec);
  assert_int_equal(wsp_conn_new(&c, WSP_ROLE_SERVER, &cb, &fa.mem, 0, &rec),
                   0);
  assert_int_equal(feed_str(c, T_REQ), 0);
  sink_drain(c, NULL, 0);
  tbuf_init(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "one", 3);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "two", 3);
  assert_true(t_is_wsp_rc(wsp_conn_recv(c, in.data, in.len)));
  /* freed when recv returned; the second message was never delivered */
  assert_int_equal(rec.nmsgs, 1);
  assert_int_equal(fa.live, 0);
  assert_int_equal(fa.bad_frees, 0);
  tbuf_free(&in);
  trec_free(&rec);
}

static void close_again_in_close(struct wsp_conn *c, struct trec *r) {
  r->echo_rc = wsp_conn_close(c, 1000, NULL, 0);
}

static void test_conn_on_close_once(void **state) {
  struct tpair p;
  (void)state;
  tpair_init(&p);
  p.srec.close_hook = close_again_in_close;
  assert_int_equal(tpair_open(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_close(p.cli, 1000, NULL, 0), 0);
  tpair_pump(&p);
  assert_int_equal(p.srec.n_close, 1);
  assert_true(p.srec.echo_rc < 0);
  wsp_conn_recv(p.srv, NULL, 0);
  wsp_conn_tick(p.srv, 1000000);
  assert_int_equal(p.srec.n_close, 1);
  assert_int_equal(p.crec.n_close, 1);
  tpair_free(&p);
}

static void test_conn_user_data(void **state) {
  struct tsrv s;
  int other;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_ptr_equal(wsp_conn_get_user_data(s.c), &s.rec);
  wsp_conn_set_user_data(s.c, &other);
  assert_ptr_equal(wsp_conn_get_user_data(s.c), &other);
  wsp_conn_set_user_data(s.c, &s.rec);
  assert_int_equal(wsp_conn_get_role(s.c), WSP_ROLE_SERVER);
  tsrv_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conn_message_sizes),
      cmocka_unit_test(test_conn_message_sizes_partial_io),
      cmocka_unit_test(test_conn_wire_format),
      cmocka_unit_test(test_conn_send_fragments),
      cmocka_unit_test(test_conn_send_fragment_misuse),
      cmocka_unit_test(test_conn_ping_between_fragments),
      cmocka_unit_test(test_conn_fragments_one_byte_per_recv),
      cmocka_unit_test(test_conn_ping_pong_api),
      cmocka_unit_test(test_conn_close_from_client),
      cmocka_unit_test(test_conn_close_from_server),
      cmocka_unit_test(test_conn_close_without_code),
      cmocka_unit_test(test_conn_close_simultaneous),
      cmocka_unit_test(test_conn_close_argument_checks),
      cmocka_unit_test(test_conn_eof_while_open),
      cmocka_unit_test(test_conn_nothing_after_close),
      cmocka_unit_test(test_conn_valid_close_codes),
      cmocka_unit_test(test_conn_utf8_single_frame),
      cmocka_unit_test(test_conn_utf8_split_valid),
      cmocka_unit_test(test_conn_utf8_split_invalid),
      cmocka_unit_test(test_conn_utf8_fails_mid_frame),
      cmocka_unit_test(test_conn_utf8_truncated_at_end),
      cmocka_unit_test(test_conn_utf8_close_reason),
      cmocka_unit_test(test_conn_protocol_errors),
      cmocka_unit_test(test_conn_protocol_errors_one_byte),
      cmocka_unit_test(test_conn_invalid_close_codes),
      cmocka_unit_test(test_conn_length_top_bit),
      cmocka_unit_test(test_conn_client_rejects_masked_frame),
      cmocka_unit_test(test_conn_queue_order_before_error),
      cmocka_unit_test(test_conn_closing_discards_input),
      cmocka_unit_test(test_conn_16mib_in_64_byte_fragments),
      cmocka_unit_test(test_conn_want_write_callback),
      cmocka_unit_test(test_conn_partial_writes),
      cmocka_unit_test(test_conn_send_frame_between_writes),
      cmocka_unit_test(test_conn_close_from_callback),
      cmocka_unit_test(test_conn_recursive_calls),
      cmocka_unit_test(test_conn_free_from_callback),
      cmocka_unit_test(test_conn_on_close_once),
      cmocka_unit_test(test_conn_user_data),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
