/*
 * permessage-deflate (RFC 7692): the negotiation of every parameter in
 * both roles, good and bad offers and responses; round trips with and
 * without context takeover; the inflated-size cap (1009); corrupt data
 * (1007) and misplaced RSV1 bits (1002). Compressed input is made here
 * with zlib itself, independently of the library (deflate_helpers.c);
 * compress-once fan-out and memory are in test_deflate_fanout.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate_helpers.h"
#include "helpers.h"

/* ---- Server negotiation --------------------------------------------- */

/* Open a server connection (deflate enabled, the settings in set[] as
 * param/value pairs ending with -1) with the request's extra lines;
 * returns the response's Sec-WebSocket-Extensions value in ext ("" when
 * none). */
static void srv_open_with(struct tsrv *s, const char *extra, const int *set,
                          char *ext, size_t cap) {
  struct tbuf req;
  tsrv_init(s);
  assert_int_equal(tsrv_new(s, NULL, 0), 0);
  assert_int_equal(wsp_conn_set_deflate(s->c, WSP_DEFLATE_ENABLE, 1), 0);
  for (; set && set[0] >= 0; set += 2)
    assert_int_equal(wsp_conn_set_deflate(s->c, set[0], (uint64_t)set[1]), 0);
  tbuf_init(&req);
  treq_build(&req, NULL, extra);
  assert_int_equal(tsrv_feed(s, req.data, req.len), 0);
  tbuf_free(&req);
  assert_int_equal(thttp_status(s->out.data, s->out.len), 101);
  ext[0] = '\0';
  assert_true(thttp_header(s->out.data, s->out.len, "Sec-WebSocket-Extensions",
                           ext, cap) <= 1);
  s->out_pos = thttp_head_len(s->out.data, s->out.len);
}

static void test_deflate_server_offers(void **state) {
  static const struct {
    const char *offer; /* Sec-WebSocket-Extensions value(s), or NULL */
    const char *want;  /* the response's, "" for none */
    int sbits, cbits;  /* negotiated, seen through wsp_conn_get_deflate */
  } rows[] = {
      {NULL, "", 0, 0},
      {PMD, PMD NCT, 15, 15},
      {"PerMessage-Deflate", PMD NCT, 15, 15},
      {PMD "; client_max_window_bits", PMD NCT, 15, 15},
      {PMD "; client_max_window_bits=10", PMD NCT "; client_max_window_bits=10",
       15, 10},
      {PMD "; client_max_window_bits=\"12\"",
       PMD NCT "; client_max_window_bits=12", 15, 12},
      {PMD "; server_max_window_bits=9", PMD NCT "; server_max_window_bits=9",
       9, 15},
      {PMD "; server_max_window_bits=8", PMD NCT "; server_max_window_bits=8",
       8, 15},
      {PMD " ; server_no_context_takeover ;client_no_context_takeover", PMD NCT,
       15, 15},
      /* declined: the next offer, or nothing */
      {PMD "; server_max_window_bits", "", 0, 0},
      {PMD "; server_max_window_bits=16", "", 0, 0},
      {PMD "; server_max_window_bits=7", "", 0, 0},
      {PMD "; server_max_window_bits=09", "", 0, 0},
      {PMD "; client_max_window_bits=abc", "", 0, 0},
      {PMD "; server_no_context_takeover=1", "", 0, 0},
      {PMD "; client_no_context_takeover; client_no_context_takeover", "", 0,
       0},
      {PMD "; unknown_param", "", 0, 0},
      {PMD "; x=\"unterminated", "", 0, 0},
      {PMD ";", "", 0, 0},
      {"x-webkit-deflate-frame", "", 0, 0},
      {PMD "; bogus, " PMD "; client_max_window_bits=11",
       PMD NCT "; client_max_window_bits=11", 15, 11},
      {"foo; a=\"x,y\", " PMD, PMD NCT, 15, 15},
      {PMD "; server_no_context_takeover; client_no_context_takeover"
           "; server_max_window_bits=15; client_max_window_bits=15",
       PMD NCT "; server_max_window_bits=15", 15, 15},
      {PMD "; client_max_window_bits=9, " PMD,
       PMD NCT "; client_max_window_bits=9", 15, 9},
  };
  int bad = 0;
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    struct tsrv s;
    char extra[256], ext[256];
    const char *name = rows[i].offer ? rows[i].offer : "(no offer)";
    if (rows[i].offer)
      snprintf(extra, sizeof(extra), "Sec-WebSocket-Extensions: %s\r\n",
               rows[i].offer);
    srv_open_with(&s, rows[i].offer ? extra : NULL, NULL, ext, sizeof(ext));
    T_CHECK(bad, name, strcmp(ext, rows[i].want) == 0);
    T_CHECK(bad, name,
            wsp_conn_get_deflate(s.c, WSP_DEFLATE_ENABLE) ==
                (rows[i].want[0] != '\0'));
    T_CHECK(bad, name,
            wsp_conn_get_deflate(s.c, WSP_DEFLATE_SERVER_MAX_WINDOW_BITS) ==
                (uint64_t)rows[i].sbits);
    T_CHECK(bad, name,
            wsp_conn_get_deflate(s.c, WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS) ==
                (uint64_t)rows[i].cbits);
    if (bad)
      print_error("%s: got \"%s\"\n", name, ext);
    trec_free(&s.rec);
    tsrv_free(&s);
  }
  assert_int_equal(bad, 0);
}

/* The server's own settings: smaller windows, context takeover allowed. */
static void test_deflate_server_settings(void **state) {
  struct tsrv s;
  char ext[256];
  const int small[] = {WSP_DEFLATE_SERVER_MAX_WINDOW_BITS, 10,
                       WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS, 9, -1};
  const int takeover[] = {WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, 0,
                          WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER, 0, -1};
  (void)state;
  srv_open_with(&s,
                "Sec-WebSocket-Extensions: " PMD
                "; client_max_window_bits; server_max_window_bits=12\r\n",
                small, ext, sizeof(ext));
  assert_string_equal(ext, PMD NCT "; server_max_window_bits=10"
                                   "; client_max_window_bits=9");
  trec_free(&s.rec);
  tsrv_free(&s);
  /* A client that does not allow a limit on its window is not limited. */
  srv_open_with(&s, "Sec-WebSocket-Extensions: " PMD "\r\n", small, ext,
                sizeof(ext));
  assert_string_equal(ext, PMD NCT);
  assert_int_equal(
      wsp_conn_get_deflate(s.c, WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS), 15);
  assert_int_equal(
      wsp_conn_get_deflate(s.c, WSP_DEFLATE_SERVER_MAX_WINDOW_BITS), 10);
  trec_free(&s.rec);
  tsrv_free(&s);
  srv_open_with(&s, "Sec-WebSocket-Extensions: " PMD "\r\n", takeover, ext,
                sizeof(ext));
  assert_string_equal(ext, PMD);
  assert_int_equal(
      wsp_conn_get_deflate(s.c, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER), 0);
  trec_free(&s.rec);
  tsrv_free(&s);
  /* ... unless the client asks for it. */
  srv_open_with(
      &s, "Sec-WebSocket-Extensions: " PMD "; server_no_context_takeover\r\n",
      takeover, ext, sizeof(ext));
  assert_string_equal(ext, PMD "; server_no_context_takeover");
  trec_free(&s.rec);
  tsrv_free(&s);
}

static void test_deflate_off_by_default(void **state) {
  struct tsrv s;
  char ext[64];
  struct tbuf req;
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_get_deflate(s.c, WSP_DEFLATE_ENABLE), 0);
  tbuf_init(&req);
  treq_build(&req, NULL, "Sec-WebSocket-Extensions: " PMD "\r\n");
  assert_int_equal(tsrv_feed(&s, req.data, req.len), 0);
  assert_int_equal(thttp_header(s.out.data, s.out.len,
                                "Sec-WebSocket-Extensions", ext, sizeof(ext)),
                   0);
  /* Too late now; and bad values are refused. */
  assert_int_equal(wsp_conn_set_deflate(s.c, WSP_DEFLATE_ENABLE, 1),
                   WSP_ERR_STATE);
  assert_int_equal(wsp_conn_set_deflate(s.c, WSP_DEFLATE_ENABLE, 2),
                   WSP_ERR_INVAL);
  assert_int_equal(
      wsp_conn_set_deflate(s.c, WSP_DEFLATE_SERVER_MAX_WINDOW_BITS, 8),
      WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_set_deflate(s.c, WSP_DEFLATE_LEVEL, 0),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_set_deflate(s.c, WSP_DEFLATE__COUNT, 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_set_deflate(NULL, WSP_DEFLATE_ENABLE, 1),
                   WSP_ERR_INVAL);
  tbuf_free(&req);
  trec_free(&s.rec);
  tsrv_free(&s);
}

/* A server that decides later may still turn it on. */
static void test_deflate_deferred(void **state) {
  struct tsrv s;
  struct tbuf req;
  char ext[128];
  (void)state;
  tsrv_init(&s);
  s.rec.req_action = TREQ_DEFER;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  tbuf_init(&req);
  treq_build(&req, NULL, "Sec-WebSocket-Extensions: " PMD "\r\n");
  assert_int_equal(tsrv_feed(&s, req.data, req.len), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_DEFERRED);
  assert_int_equal(wsp_conn_set_deflate(s.c, WSP_DEFLATE_ENABLE, 1), 0);
  assert_int_equal(wsp_conn_accept(s.c), 0);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(thttp_header(s.out.data, s.out.len,
                                "Sec-WebSocket-Extensions", ext, sizeof(ext)),
                   1);
  assert_string_equal(ext, PMD NCT);
  assert_int_equal(wsp_conn_get_deflate(s.c, WSP_DEFLATE_ENABLE), 1);
  tbuf_free(&req);
  trec_free(&s.rec);
  tsrv_free(&s);
}

/* ---- Client negotiation --------------------------------------------- */

static void test_deflate_client_responses(void **state) {
  static const struct {
    const char *resp; /* the 101's Sec-WebSocket-Extensions, or NULL */
    int ok;           /* the handshake completes */
    int on, rx_reset, tx_bits;
  } rows[] = {
      {NULL, 1, 0, 0, 0},
      {PMD, 1, 1, 0, 15},
      {PMD "; server_no_context_takeover", 1, 1, 1, 15},
      {PMD "; client_max_window_bits=9", 1, 1, 0, 9},
      {PMD "; server_max_window_bits=10", 1, 1, 0, 15},
      {PMD "; client_max_window_bits", 0, 0, 0, 0},
      {PMD "; server_max_window_bits", 0, 0, 0, 0},
      {PMD "; mystery", 0, 0, 0, 0},
      {PMD ", " PMD, 0, 0, 0, 0},
      {"x-other", 0, 0, 0, 0},
      {PMD "; server_max_window_bits=99", 0, 0, 0, 0},
  };
  int bad = 0;
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    struct trec rec;
    struct wsp_conn_callbacks cb;
    struct wsp_conn *c;
    struct tbuf req, resp;
    char extra[160], offer[256];
    const char *name = rows[i].resp ? rows[i].resp : "(none)";
    int rc;
    trec_init(&rec);
    cb = trec_callbacks(&rec);
    tbuf_init(&req);
    tbuf_init(&resp);
    assert_int_equal(wsp_conn_new(&c, WSP_ROLE_CLIENT, &cb, NULL, 0, &rec), 0);
    assert_int_equal(wsp_conn_set_deflate(c, WSP_DEFLATE_ENABLE, 1), 0);
    assert_int_equal(
        wsp_conn_set_deflate(c, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, 0), 0);
    assert_int_equal(wsp_conn_client_start(c, "h", "/", NULL), 0);
    sink_drain(c, &req, 0);
    assert_int_equal(thttp_header(req.data, req.len, "Sec-WebSocket-Extensions",
                                  offer, sizeof(offer)),
                     1);
    T_CHECK(bad, name,
            strcmp(offer, PMD "; client_no_context_takeover"
                              "; client_max_window_bits") == 0);
    if (rows[i].resp)
      snprintf(extra, sizeof(extra), "Sec-WebSocket-Extensions: %s\r\n",
               rows[i].resp);
    assert_int_equal(
        tresp_build(&resp, req.data, req.len, rows[i].resp ? extra : NULL), 0);
    rc = wsp_conn_recv(c, resp.data, resp.len);
    T_CHECK(bad, name, (rc == 0) == rows[i].ok);
    T_CHECK(bad, name, rows[i].ok || rc == WSP_ERR_HANDSHAKE);
    if (rows[i].ok) {
      T_CHECK(bad, name,
              wsp_conn_get_deflate(c, WSP_DEFLATE_ENABLE) ==
                  (uint64_t)rows[i].on);
      T_CHECK(bad, name,
              wsp_conn_get_deflate(c, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER) ==
                  (uint64_t)rows[i].rx_reset);
      T_CHECK(bad, name,
              wsp_conn_get_deflate(c, WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS) ==
                  (uint64_t)rows[i].tx_bits);
    }
    wsp_conn_free(c);
    trec_free(&rec);
    tbuf_free(&req);
    tbuf_free(&resp);
  }
  assert_int_equal(bad, 0);
}

/* ---- Round trips between the two roles ------------------------------ */

static void pair_open(struct tpair *p, const int *sset, const int *cset) {
  struct wsp_conn_callbacks scb, ccb;
  tpair_init(p);
  p->capture = 1;
  scb = trec_callbacks(&p->srec);
  ccb = trec_callbacks(&p->crec);
  assert_int_equal(
      wsp_conn_new(&p->srv, WSP_ROLE_SERVER, &scb, NULL, 0, &p->srec), 0);
  assert_int_equal(
      wsp_conn_new(&p->cli, WSP_ROLE_CLIENT, &ccb, NULL, 0, &p->crec), 0);
  assert_int_equal(wsp_conn_set_deflate(p->srv, WSP_DEFLATE_ENABLE, 1), 0);
  assert_int_equal(wsp_conn_set_deflate(p->cli, WSP_DEFLATE_ENABLE, 1), 0);
  for (; sset && sset[0] >= 0; sset += 2)
    assert_int_equal(wsp_conn_set_deflate(p->srv, sset[0], (uint64_t)sset[1]),
                     0);
  for (; cset && cset[0] >= 0; cset += 2)
    assert_int_equal(wsp_conn_set_deflate(p->cli, cset[0], (uint64_t)cset[1]),
                     0);
  assert_int_equal(wsp_conn_client_start(p->cli, "h", "/", NULL), 0);
  tpair_pump(p);
  assert_int_equal(wsp_conn_get_state(p->srv), WSP_STATE_OPEN);
  assert_int_equal(wsp_conn_get_state(p->cli), WSP_STATE_OPEN);
  tbuf_reset(&p->s2c);
  tbuf_reset(&p->c2s);
}

/* Send n messages each way and check what arrived and how it travelled:
 * every data frame compressed (RSV1) and smaller. Returns the wire size
 * of the last frame each way in last[0] (server to client), last[1]. */
static void exchange_with(struct tpair *p, int n, size_t last[2],
                          void (*make)(struct tbuf *, int), size_t ratio) {
  struct tbuf msg;
  struct tframes fs, fc;
  size_t base = p->crec.nmsgs;
  int i;
  tbuf_init(&msg);
  tbuf_reset(&p->s2c);
  tbuf_reset(&p->c2s);
  assert_int_equal(p->srec.nmsgs, base);
  for (i = 0; i < n; i++) {
    size_t k = base + (size_t)i;
    make(&msg, i % 2);
    assert_int_equal(wsp_conn_send(p->srv, WSP_OP_TEXT, msg.data, msg.len), 0);
    assert_int_equal(wsp_conn_send(p->cli, WSP_OP_BINARY, msg.data, msg.len),
                     0);
    tpair_pump(p);
    assert_int_equal(p->crec.nmsgs, k + 1);
    assert_int_equal(p->srec.nmsgs, k + 1);
    assert_int_equal(p->crec.msgs[k].opcode, WSP_OP_TEXT);
    assert_int_equal(p->srec.msgs[k].opcode, WSP_OP_BINARY);
    assert_int_equal(p->crec.msgs[k].len, msg.len);
    assert_int_equal(p->srec.msgs[k].len, msg.len);
    assert_memory_equal(p->crec.msgs[k].data, msg.data, msg.len);
    assert_memory_equal(p->srec.msgs[k].data, msg.data, msg.len);
  }
  memset(&fs, 0, sizeof(fs));
  memset(&fc, 0, sizeof(fc));
  tframes_parse(&fs, p->s2c.data, p->s2c.len);
  tframes_parse(&fc, p->c2s.data, p->c2s.len);
  assert_int_equal(fs.n, (size_t)n);
  assert_int_equal(fc.n, (size_t)n);
  for (i = 0; i < n; i++) {
    assert_int_equal(fs.f[i].rsv, 4);
    assert_int_equal(fc.f[i].rsv, 4);
    assert_true(fs.f[i].len * ratio < msg.len);
    assert_true(fc.f[i].len * ratio < msg.len);
  }
  last[0] = fs.f[n - 1].len;
  last[1] = fc.f[n - 1].len;
  tframes_free(&fs);
  tframes_free(&fc);
  tbuf_free(&msg);
}

static void exchange(struct tpair *p, int n, size_t last[2]) {
  exchange_with(p, n, last, sample, 2);
}

static void test_deflate_roundtrip(void **state) {
  struct tpair p;
  size_t last[2];
  (void)state;
  pair_open(&p, NULL, NULL);
  assert_int_equal(
      wsp_conn_get_deflate(p.cli, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER), 1);
  assert_int_equal(
      wsp_conn_get_deflate(p.srv, WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER), 1);
  exchange(&p, 6, last);
  /* Small messages go as they are, and fragments too. */
  assert_int_equal(wsp_conn_send(p.srv, WSP_OP_TEXT, "tiny", 4), 0);
  tpair_pump(&p);
  assert_int_equal(p.s2c.data[p.s2c.len - 6], 0x81);
  assert_memory_equal(p.crec.msgs[6].data, "tiny", 4);
  tpair_free(&p);
}

/* With context takeover each side keeps its window: the second of two
 * equal messages is a few bytes of back-references; without, it costs
 * what the first did. */
static void test_deflate_context_takeover(void **state) {
  const int keep[] = {WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, 0,
                      WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER, 0, -1};
  struct tpair p;
  size_t reset[2], kept[2], first[2];
  (void)state;
  pair_open(&p, NULL, NULL);
  exchange_with(&p, 1, first, letters, 1);
  exchange_with(&p, 3, reset, letters, 1);
  tpair_free(&p);
  pair_open(&p, keep, keep);
  assert_int_equal(
      wsp_conn_get_deflate(p.cli, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER), 0);
  assert_int_equal(
      wsp_conn_get_deflate(p.srv, WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER), 0);
  exchange_with(&p, 3, kept, letters, 1);
  assert_int_equal(reset[0], first[0]);
  assert_int_equal(reset[1], first[1]);
  print_message("context takeover: %zu/%zu bytes, without %zu/%zu\n", kept[0],
                kept[1], reset[0], reset[1]);
  assert_true(kept[0] * 4 < reset[0]);
  assert_true(kept[1] * 4 < reset[1]);
  tpair_free(&p);
}

/* ---- Bad input ------------------------------------------------------ */

static void srv_deflate_open(struct tsrv *s) {
  char ext[256];
  srv_open_with(s, "Sec-WebSocket-Extensions: " PMD "\r\n", NULL, ext,
                sizeof(ext));
  assert_string_equal(ext, PMD NCT);
}

/* Feed frames to s and return the close code it answered with. */
static int srv_close_code(struct tsrv *s, struct tbuf *in) {
  struct tframes fl;
  int code, last;
  tsrv_feed(s, in->data, in->len);
  memset(&fl, 0, sizeof(fl));
  tsrv_frames(s, &fl);
  last = tframes_last_close(&fl);
  code = last < 0 ? 0 : tframe_close_code(&fl.f[last]);
  tframes_free(&fl);
  return code;
}

static void test_deflate_bomb(void **state) {
  const size_t limit = 100000;
  uint8_t *zeros = calloc(1, 10 * limit);
  struct tbuf z, in;
  struct tsrv s;
  (void)state;
  assert_non_null(zeros);
  tbuf_init(&z);
  tbuf_init(&in);
  /* Exactly at the cap: delivered. */
  srv_deflate_open(&s);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_MESSAGE, limit), 0);
  zdeflate(&z, zeros, limit, 15);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_BINARY, z.data, z.len);
  assert_int_equal(srv_close_code(&s, &in), 0);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_int_equal(s.rec.msgs[0].len, limit);
  assert_memory_equal(s.rec.msgs[0].data, zeros, limit);
  /* One byte over, and a thousand times over: 1009, nothing delivered,
   * the buffer never past the cap. */
  tbuf_reset(&z);
  tbuf_reset(&in);
  zdeflate(&z, zeros, limit + 1, 15);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_BINARY, z.data, z.len);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_TOO_BIG);
  assert_int_equal(s.rc, WSP_ERR_TOO_BIG);
  assert_int_equal(s.rec.nmsgs, 1);
  trec_free(&s.rec);
  tsrv_free(&s);

  srv_deflate_open(&s);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_MESSAGE, limit), 0);
  tbuf_reset(&z);
  tbuf_reset(&in);
  zdeflate(&z, zeros, 10 * limit, 15);
  assert_true(z.len < limit / 20); /* small on the wire */
  /* in fragments, the first compressed one alone too big */
  cframe(&in, TF_RSV1 | WSP_OP_TEXT, z.data, z.len / 2);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, z.data + z.len / 2,
         z.len - z.len / 2);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_TOO_BIG);
  assert_int_equal(s.rec.nmsgs, 0);
  trec_free(&s.rec);
  tsrv_free(&s);
  tbuf_free(&z);
  tbuf_free(&in);
  free(zeros);
}

static void test_deflate_bad_frames(void **state) {
  static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x12};
  struct tbuf z, in;
  struct tsrv s;
  (void)state;
  tbuf_init(&z);
  tbuf_init(&in);
  /* Not deflate data: 1007. */
  srv_deflate_open(&s);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_BINARY, garbage, sizeof(garbage));
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_INVALID_PAYLOAD);
  assert_int_equal(s.rec.nmsgs, 0);
  trec_free(&s.rec);
  tsrv_free(&s);
  /* Text that inflates to invalid UTF-8: 1007. */
  srv_deflate_open(&s);
  tbuf_reset(&in);
  zdeflate(&z, "abc\xc0\xaf", 5, 15);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_TEXT, z.data, z.len);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_INVALID_PAYLOAD);
  assert_int_equal(s.rc, WSP_ERR_BAD_UTF8);
  assert_int_equal(s.rec.nmsgs, 0);
  trec_free(&s.rec);
  tsrv_free(&s);
  /* RSV1 on a continuation or a control frame: 1002. */
  srv_deflate_open(&s);
  tbuf_reset(&in);
  cframe(&in, WSP_OP_TEXT, "ab", 2);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_CONTINUATION, "cd", 2);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_PROTOCOL_ERROR);
  trec_free(&s.rec);
  tsrv_free(&s);
  srv_deflate_open(&s);
  tbuf_reset(&in);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_PING, "", 0);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_PROTOCOL_ERROR);
  trec_free(&s.rec);
  tsrv_free(&s);
  /* RSV2 stays reserved. */
  srv_deflate_open(&s);
  tbuf_reset(&in);
  cframe(&in, TF_FIN | TF_RSV2 | WSP_OP_TEXT, "ab", 2);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_PROTOCOL_ERROR);
  trec_free(&s.rec);
  tsrv_free(&s);
  /* RSV1 without the extension: 1002. */
  tsrv_init(&s);
  tsrv_open(&s);
  tbuf_reset(&in);
  tbuf_reset(&z);
  zdeflate(&z, "hello", 5, 15);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_TEXT, z.data, z.len);
  assert_int_equal(srv_close_code(&s, &in), WSP_CLOSE_PROTOCOL_ERROR);
  trec_free(&s.rec);
  tsrv_free(&s);
  /* A good compressed message split in 1-byte TCP chunks, a ping inside
   * its fragments, an empty compressed message: all delivered. */
  srv_deflate_open(&s);
  tbuf_reset(&in);
  tbuf_reset(&z);
  zdeflate(&z, "hello, hello, hello", 19, 15);
  cframe(&in, TF_RSV1 | WSP_OP_TEXT, z.data, 3);
  cframe(&in, TF_FIN | WSP_OP_PING, "p", 1);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, z.data + 3, z.len - 3);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_BINARY, "\x00", 1);
  assert_int_equal(feed_chunks(s.c, in.data, in.len, 1), 0);
  assert_int_equal(s.rec.nmsgs, 2);
  assert_int_equal(s.rec.msgs[0].len, 19);
  assert_memory_equal(s.rec.msgs[0].data, "hello, hello, hello", 19);
  assert_int_equal(s.rec.msgs[1].len, 0);
  trec_free(&s.rec);
  tsrv_free(&s);
  tbuf_free(&z);
  tbuf_free(&in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deflate_server_offers),
      cmocka_unit_test(test_deflate_server_settings),
      cmocka_unit_test(test_deflate_off_by_default),
      cmocka_unit_test(test_deflate_deferred),
      cmocka_unit_test(test_deflate_client_responses),
      cmocka_unit_test(test_deflate_roundtrip),
      cmocka_unit_test(test_deflate_context_takeover),
      cmocka_unit_test(test_deflate_bomb),
      cmocka_unit_test(test_deflate_bad_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
