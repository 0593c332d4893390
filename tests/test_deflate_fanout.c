/*
 * permessage-deflate (RFC 7692), compress once: a shared frame queued to
 * many connections is compressed once, through wsp_conn and through the
 * hub; what a compressing connection holds, counted by its allocator;
 * and every allocation failing in turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deflate_helpers.h"
#include "helpers.h"

/* ---- Compress once -------------------------------------------------- */

#define NCONN 8

/* N server connections of one profile, one shared frame: every
 * connection that resets its compressor queues the same compressed
 * bytes (one deflate), one that keeps its context compresses apart. */
static void test_deflate_shared_frame(void **state) {
  struct wsp_conn_profile *prof;
  struct trec rec[NCONN + 1];
  struct wsp_conn *c[NCONN + 1];
  struct wsp_frame *f;
  struct tbuf msg, req, plain;
  const uint8_t *first = NULL;
  size_t zlen = 0;
  int i;
  (void)state;
  tbuf_init(&msg);
  tbuf_init(&req);
  tbuf_init(&plain);
  sample(&msg, 3);
  treq_build(&req, NULL, "Sec-WebSocket-Extensions: " PMD "\r\n");
  assert_int_equal(wsp_conn_profile_new(&prof, NULL, NULL), 0);
  assert_int_equal(wsp_conn_profile_set_deflate(prof, WSP_DEFLATE_ENABLE, 1),
                   0);
  assert_int_equal(wsp_conn_profile_get_deflate(prof, WSP_DEFLATE_ENABLE), 1);
  for (i = 0; i <= NCONN; i++) {
    trec_init(&rec[i]);
    assert_int_equal(
        wsp_conn_new_from(&c[i], prof, WSP_ROLE_SERVER, 0, &rec[i]), 0);
    if (i == NCONN) /* the last one keeps its context */
      assert_int_equal(
          wsp_conn_set_deflate(c[i], WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, 0),
          0);
    assert_int_equal(wsp_conn_recv(c[i], req.data, req.len), 0);
    sink_drain(c[i], NULL, 0);
  }
  assert_int_equal(wsp_frame_new(&f, NULL, WSP_OP_TEXT, msg.data, msg.len), 0);
  for (i = 0; i <= NCONN; i++)
    assert_int_equal(wsp_conn_send_frame(c[i], f), 0);
  for (i = 0; i <= NCONN; i++) {
    struct iovec iov[4];
    const uint8_t *b;
    assert_int_equal(wsp_conn_pending(c[i], iov, 4), 1);
    b = iov[0].iov_base;
    assert_int_equal(b[0], 0x80 | 0x40 | WSP_OP_TEXT);
    assert_true(iov[0].iov_len < wsp_frame_size(f) / 2);
    if (i == 0) {
      first = b;
      zlen = iov[0].iov_len;
      zinflate(&plain, b + 2, zlen - 2, NULL);
      assert_int_equal(plain.len, msg.len);
      assert_memory_equal(plain.data, msg.data, msg.len);
    } else if (i < NCONN) {
      assert_ptr_equal(b, first); /* the same bytes: one deflate */
      assert_int_equal(iov[0].iov_len, zlen);
    } else {
      assert_ptr_not_equal(b, first);
    }
  }
  /* The caller's reference goes; the queues keep theirs. */
  wsp_frame_unref(f);
  for (i = 0; i <= NCONN; i++) {
    sink_drain(c[i], NULL, 0);
    wsp_conn_free(c[i]);
    trec_free(&rec[i]);
  }
  wsp_conn_profile_free(prof);
  tbuf_free(&msg);
  tbuf_free(&req);
  tbuf_free(&plain);
}

/* The value of the metric name (a gauge without labels) in the hub's
 * metrics text, or -1. */
static long metric(struct wsp_server *srv, const char *name) {
  char text[16384], want[128];
  size_t len, n;
  const char *at;
  long v = -1;
  assert_int_equal(wsp_server_write_metrics(srv, text, sizeof(text), &len), 0);
  n = (size_t)snprintf(want, sizeof(want), "\n%s ", name);
  for (at = text; (at = strstr(at, want)) != NULL; at += n)
    v = strtol(at + n, NULL, 10);
  return v;
}

/* The hub: subscribers that negotiated the extension get a publication
 * compressed once; one that did not gets it as it is. */
static void test_deflate_hub_fanout(void **state) {
  struct wsp_server *srv;
  struct thub_cli k[NCONN];
  struct tbuf msg, want;
  const uint8_t *first = NULL;
  int i;
  (void)state;
  tbuf_init(&msg);
  tbuf_init(&want);
  tbuf_printf(&msg, "{\"text\":\"");
  for (i = 0; i < 40; i++)
    tbuf_printf(&msg, "the same words again and again %d ", i % 3);
  tbuf_printf(&msg, "\"}");
  memset(k, 0, sizeof(k));
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_server_set_deflate(srv, WSP_DEFLATE_ENABLE, 1), 0);
  assert_int_equal(wsp_server_get_deflate(srv, WSP_DEFLATE_ENABLE), 1);
  assert_int_equal(wsp_server_set_deflate(srv, WSP_DEFLATE_MIN_SIZE, 1 << 20),
                   0);
  assert_int_equal(wsp_server_set_deflate(srv, WSP_DEFLATE_MIN_SIZE, 64), 0);
  for (i = 0; i < NCONN; i++) {
    thub_cli_open_deflate(&k[i], srv, i != NCONN - 1);
    assert_int_equal(wsp_conn_get_deflate(k[i].cc, WSP_DEFLATE_ENABLE),
                     i != NCONN - 1);
    thub_say(k, NCONN, i, "{\"connect\":{},\"id\":1}");
    thub_say(k, NCONN, i, "{\"subscribe\":{\"channel\":\"news\"},\"id\":2}");
  }
  thub_clear(k, NCONN);
  assert_int_equal(metric(srv, "wsp_deflate_connections"), NCONN - 1);
  assert_int_equal(
      wsp_server_publish_with(srv, "news", msg.data, msg.len, NULL, NULL), 0);
  for (i = 0; i < NCONN; i++) {
    struct iovec iov[4];
    const uint8_t *b;
    assert_int_equal(wsp_client_pending(k[i].sc, iov, 4), 1);
    b = iov[0].iov_base;
    if (i == NCONN - 1) {
      assert_int_equal(b[0], 0x81);
      assert_true(iov[0].iov_len > msg.len);
    } else {
      assert_int_equal(b[0], 0xc1);
      assert_true(iov[0].iov_len < msg.len / 2);
      if (i == 0)
        first = b;
      assert_ptr_equal(b, first);
    }
  }
  thub_pump(k, NCONN);
  tbuf_printf(&want,
              "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":%.*s}}}\n",
              (int)msg.len, (const char *)msg.data);
  for (i = 0; i < NCONN; i++)
    thub_expect(&k[i], (const char *)want.data);
  for (i = 0; i < NCONN; i++)
    thub_cli_free(&k[i]);
  wsp_server_free(srv);
  tbuf_free(&msg);
  tbuf_free(&want);
}

/* What a compressing connection holds, counted by its allocator: an idle
 * one nothing more than a plain one, an inflater while a compressed
 * message arrives (or for good when the peer keeps its context), and
 * one compressor for all the connections of a profile. */
static void test_deflate_memory(void **state) {
  const int keep[] = {WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER, 0, -1};
  struct tfail fm;
  struct wsp_conn_profile *prof;
  struct wsp_conn *c[3];
  struct tbuf req, z, in, msg;
  size_t idle, during, kept, one, two;
  int i;
  (void)state;
  tbuf_init(&req);
  tbuf_init(&z);
  tbuf_init(&in);
  tbuf_init(&msg);
  letters(&msg, 0);
  zdeflate(&z, msg.data, msg.len, 15);
  cframe(&in, TF_FIN | TF_RSV1 | WSP_OP_TEXT, z.data, z.len);
  treq_build(&req, NULL, "Sec-WebSocket-Extensions: " PMD "\r\n");
  for (i = 0; i < 2; i++) {
    tfail_init(&fm, 0, 0);
    assert_int_equal(
        wsp_conn_new(&c[0], WSP_ROLE_SERVER, NULL, &fm.mem, 0, NULL), 0);
    assert_int_equal(
        wsp_conn_set_limit(c[0], WSP_LIMIT_QUEUE_LINGER, i == 0 ? 0 : 200), 0);
    assert_int_equal(wsp_conn_set_deflate(c[0], WSP_DEFLATE_ENABLE, 1), 0);
    if (i == 1)
      assert_int_equal(wsp_conn_set_deflate(c[0], keep[0], (uint64_t)keep[1]),
                       0);
    assert_int_equal(wsp_conn_recv(c[0], req.data, req.len), 0);
    sink_drain(c[0], NULL, 0);
    idle = fm.live_bytes;
    fm.peak_bytes = idle;
    assert_int_equal(wsp_conn_recv(c[0], in.data, in.len), 0);
    during = fm.peak_bytes - idle;
    kept = fm.live_bytes - idle;
    if (i == 0) {
      /* reset per message: all of it goes with the message */
      print_message("deflate: idle connection %zu bytes; a compressed "
                    "%zu-byte message peaks at +%zu, then +%zu\n",
                    idle, msg.len, during, kept);
      assert_int_equal(kept, 0);
      assert_true(during < (1u << 15) + 16384 + 4 * msg.len);
    } else {
      /* the client keeps its context: so does the inflater */
      print_message("deflate: with client context takeover the inflater "
                    "stays: +%zu\n",
                    kept);
      assert_true(kept > (1u << 15) && kept < (1u << 15) + 16384);
    }
    /* A connection made alone compresses with a compressor of its own,
     * which goes with the output queue's memory: at once with no linger,
     * else at the first tick after it. */
    assert_int_equal(wsp_conn_send(c[0], WSP_OP_TEXT, msg.data, msg.len), 0);
    sink_drain(c[0], NULL, 0);
    if (i == 1) {
      assert_true(fm.live_bytes > idle + kept + (1u << 18));
      assert_int_equal(wsp_conn_next_deadline(c[0]), 200);
      assert_int_equal(wsp_conn_tick(c[0], 200), 0);
    }
    assert_int_equal(fm.live_bytes, idle + kept);
    wsp_conn_free(c[0]);
    assert_int_equal(fm.live, 0);
  }
  /* Three connections of one profile sending: one compressor. */
  tfail_init(&fm, 0, 0);
  assert_int_equal(wsp_conn_profile_new(&prof, NULL, &fm.mem), 0);
  assert_int_equal(wsp_conn_profile_set_deflate(prof, WSP_DEFLATE_ENABLE, 1),
                   0);
  assert_int_equal(wsp_conn_profile_set_limit(prof, WSP_LIMIT_QUEUE_LINGER, 0),
                   0);
  for (i = 0; i < 3; i++) {
    assert_int_equal(wsp_conn_new_from(&c[i], prof, WSP_ROLE_SERVER, 0, NULL),
                     0);
    assert_int_equal(wsp_conn_recv(c[i], req.data, req.len), 0);
    sink_drain(c[i], NULL, 0);
  }
  idle = fm.live_bytes;
  assert_int_equal(wsp_conn_send(c[0], WSP_OP_TEXT, msg.data, msg.len), 0);
  sink_drain(c[0], NULL, 0);
  one = fm.live_bytes - idle;
  assert_int_equal(wsp_conn_send(c[1], WSP_OP_TEXT, msg.data, msg.len), 0);
  assert_int_equal(wsp_conn_send(c[2], WSP_OP_TEXT, msg.data, msg.len), 0);
  sink_drain(c[1], NULL, 0);
  sink_drain(c[2], NULL, 0);
  two = fm.live_bytes - idle;
  print_message("deflate: the shared compressor %zu bytes, for 1 or 3 "
                "connections\n",
                one);
  assert_int_equal(two, one);
  /* (1 << 17) + (1 << 17): window and hash tables at 15 and 8 */
  assert_true(one > (1u << 18) && one < (1u << 18) + 16384);
  for (i = 0; i < 3; i++)
    wsp_conn_free(c[i]);
  wsp_conn_profile_free(prof);
  assert_int_equal(fm.live, 0);
  tbuf_free(&req);
  tbuf_free(&z);
  tbuf_free(&in);
  tbuf_free(&msg);
}

/* Every allocation failing in turn: the round trip either works or fails
 * cleanly, and nothing leaks. */
static void test_deflate_alloc_failures(void **state) {
  long n;
  (void)state;
  for (n = 1; n < 400; n++) {
    struct tfail fm;
    struct tpair p;
    struct wsp_conn_callbacks scb, ccb;
    struct tbuf msg;
    tfail_init(&fm, n, 0);
    tpair_init(&p);
    tbuf_init(&msg);
    sample(&msg, 1);
    scb = trec_callbacks(&p.srec);
    ccb = trec_callbacks(&p.crec);
    if (wsp_conn_new(&p.srv, WSP_ROLE_SERVER, &scb, &fm.mem, 0, &p.srec) != 0) {
      tpair_free(&p);
      tbuf_free(&msg);
      continue;
    }
    assert_int_equal(
        wsp_conn_new(&p.cli, WSP_ROLE_CLIENT, &ccb, NULL, 0, &p.crec), 0);
    wsp_conn_set_deflate(p.srv, WSP_DEFLATE_ENABLE, 1);
    wsp_conn_set_deflate(p.cli, WSP_DEFLATE_ENABLE, 1);
    assert_int_equal(wsp_conn_client_start(p.cli, "h", "/", NULL), 0);
    tpair_pump(&p);
    if (wsp_conn_get_state(p.srv) == WSP_STATE_OPEN &&
        wsp_conn_get_state(p.cli) == WSP_STATE_OPEN) {
      int rs = wsp_conn_send(p.srv, WSP_OP_TEXT, msg.data, msg.len);
      int rc = wsp_conn_send(p.cli, WSP_OP_TEXT, msg.data, msg.len);
      assert_true(t_is_wsp_rc(rs) && t_is_wsp_rc(rc));
      tpair_pump(&p);
      if (p.crec.nmsgs == 1)
        assert_memory_equal(p.crec.msgs[0].data, msg.data, msg.len);
      if (p.srec.nmsgs == 1)
        assert_memory_equal(p.srec.msgs[0].data, msg.data, msg.len);
    }
    tpair_free(&p);
    tbuf_free(&msg);
    assert_int_equal(fm.live, 0);
    assert_int_equal(fm.bad_frees, 0);
    if (fm.failures == 0)
      break; /* every allocation of the run was tried */
  }
  assert_true(n > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deflate_shared_frame),
      cmocka_unit_test(test_deflate_hub_fanout),
      cmocka_unit_test(test_deflate_memory),
      cmocka_unit_test(test_deflate_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
