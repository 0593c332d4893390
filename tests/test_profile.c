/*
 * Connection profiles (wsp_conn_profile(3)): connections made from one
 * share its callbacks, allocator and limits; limits set later on the
 * profile reach only later connections; a limit set on one connection
 * gives it a copy of its own; a profile may go before its connections;
 * every allocation failing in turn leaks nothing.
 */
#include "helpers.h"

#include <string.h>

/* A server connection made from p, upgraded and echoing one message. */
static void open_and_echo(struct tsrv *s, struct wsp_conn_profile *p) {
  struct tbuf in;
  struct tframes fl;
  tbuf_init(&in);
  assert_int_equal(wsp_conn_new_from(&s->c, p, WSP_ROLE_SERVER, 0, &s->rec), 0);
  assert_int_equal(tsrv_feed(s, T_REQ, strlen(T_REQ)), 0);
  assert_int_equal(thttp_status(s->out.data, s->out.len), 101);
  s->out_pos = thttp_head_len(s->out.data, s->out.len);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "hello", 5);
  assert_int_equal(tsrv_feed(s, in.data, in.len), 0);
  tsrv_frames(s, &fl);
  assert_int_equal(fl.n, 1);
  assert_memory_equal(fl.f[0].data, "hello", 5);
  tframes_free(&fl);
  tbuf_free(&in);
}

static void test_profile_shared_callbacks_and_limits(void **state) {
  struct wsp_conn_profile *p;
  struct tsrv a, b, c;
  struct wsp_conn_callbacks cb;
  struct wsp_conn *none = NULL;
  struct tfail fa;
  (void)state;
  tfail_init(&fa, 0, 0);
  tsrv_init(&a);
  tsrv_init(&b);
  tsrv_init(&c);
  a.rec.echo = b.rec.echo = c.rec.echo = 1;
  cb = trec_callbacks(&a.rec);
  assert_int_equal(wsp_conn_profile_new(&p, &cb, &fa.mem), 0);
  assert_int_equal(wsp_conn_profile_get_limit(p, WSP_LIMIT_PING_INTERVAL), 0);
  assert_int_equal(wsp_conn_profile_set_limit(p, WSP_LIMIT_PING_INTERVAL, 500),
                   0);
  open_and_echo(&a, p);
  open_and_echo(&b, p);
  assert_int_equal(wsp_conn_get_limit(a.c, WSP_LIMIT_PING_INTERVAL), 500);
  assert_int_equal(wsp_conn_next_deadline(a.c), 500);
  /* later profile limits: later connections only */
  assert_int_equal(wsp_conn_profile_set_limit(p, WSP_LIMIT_PING_INTERVAL, 9000),
                   0);
  assert_int_equal(wsp_conn_get_limit(a.c, WSP_LIMIT_PING_INTERVAL), 500);
  open_and_echo(&c, p);
  assert_int_equal(wsp_conn_get_limit(c.c, WSP_LIMIT_PING_INTERVAL), 9000);
  /* one connection's own limit leaves its siblings alone */
  assert_int_equal(wsp_conn_set_limit(a.c, WSP_LIMIT_MAX_MESSAGE, 3), 0);
  assert_int_equal(wsp_conn_get_limit(a.c, WSP_LIMIT_MAX_MESSAGE), 3);
  assert_int_equal(wsp_conn_get_limit(b.c, WSP_LIMIT_MAX_MESSAGE),
                   16u * 1024 * 1024);
  assert_int_equal(wsp_conn_get_limit(a.c, WSP_LIMIT_PING_INTERVAL), 500);
  /* refusals */
  assert_int_equal(wsp_conn_profile_set_limit(p, WSP_LIMIT_MAX_MESSAGE, 0),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_profile_set_limit(p, WSP_LIMIT__COUNT, 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_profile_set_limit(NULL, 0, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_profile_get_limit(NULL, 0), 0);
  assert_int_equal(wsp_conn_new_from(&none, NULL, WSP_ROLE_SERVER, 0, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_new_from(&none, p, 7, 0, NULL), WSP_ERR_INVAL);
  assert_null(none);
  assert_int_equal(wsp_conn_profile_new(NULL, NULL, NULL), WSP_ERR_INVAL);
  /* the profile may go first; the connections keep what they share */
  wsp_conn_profile_free(p);
  wsp_conn_profile_free(NULL);
  assert_int_equal(wsp_conn_send(b.c, WSP_OP_TEXT, "still", 5), 0);
  tsrv_free(&a);
  tsrv_free(&b);
  tsrv_free(&c);
  assert_int_equal(fa.live, 0);
  assert_int_equal(fa.bad_frees, 0);
}

/* A connection made from a profile carries none of it. */
static void test_profile_connection_is_small(void **state) {
  struct wsp_conn_profile *p;
  struct wsp_conn *alone, *shared;
  struct tfail fa, fb;
  size_t one, other;
  (void)state;
  tfail_init(&fa, 0, 0);
  tfail_init(&fb, 0, 0);
  assert_int_equal(
      wsp_conn_new(&alone, WSP_ROLE_SERVER, NULL, &fa.mem, 0, NULL), 0);
  one = fa.live_bytes;
  assert_int_equal(wsp_conn_profile_new(&p, NULL, &fb.mem), 0);
  other = fb.live_bytes;
  assert_int_equal(wsp_conn_new_from(&shared, p, WSP_ROLE_SERVER, 0, NULL), 0);
  other = fb.live_bytes - other;
  assert_true(other + sizeof(struct wsp_conn_callbacks) +
                  WSP_LIMIT__COUNT * sizeof(uint64_t) <=
              one);
  wsp_conn_free(alone);
  wsp_conn_free(shared);
  wsp_conn_profile_free(p);
  assert_int_equal(fa.live + fb.live, 0);
}

/* permessage-deflate settings follow the limits' rules: a profile's
 * apply to the connections made from it afterwards. Without zlib the
 * extension cannot be enabled, by any of the setters. */
static void test_profile_deflate_settings(void **state) {
  struct wsp_conn_profile *p;
  struct wsp_conn *before, *after;
  struct wsp_server *srv;
  (void)state;
  assert_int_equal(wsp_conn_profile_new(&p, NULL, NULL), 0);
  assert_int_equal(wsp_conn_profile_get_deflate(p, WSP_DEFLATE_ENABLE), 0);
  assert_int_equal(wsp_conn_profile_get_deflate(p, WSP_DEFLATE_LEVEL), 1);
  assert_int_equal(
      wsp_conn_profile_get_deflate(p, WSP_DEFLATE_SERVER_MAX_WINDOW_BITS), 15);
  assert_int_equal(wsp_conn_new_from(&before, p, WSP_ROLE_SERVER, 0, NULL), 0);
  assert_int_equal(wsp_conn_profile_set_deflate(p, WSP_DEFLATE_LEVEL, 9), 0);
#ifdef WSP_HAVE_ZLIB
  assert_int_equal(wsp_conn_profile_set_deflate(p, WSP_DEFLATE_ENABLE, 1), 0);
#else
  assert_int_equal(wsp_conn_profile_set_deflate(p, WSP_DEFLATE_ENABLE, 1),
                   WSP_ERR_UNSUPPORTED);
  assert_int_equal(wsp_conn_set_deflate(before, WSP_DEFLATE_ENABLE, 1),
                   WSP_ERR_UNSUPPORTED);
#endif
  assert_int_equal(wsp_conn_new_from(&after, p, WSP_ROLE_SERVER, 0, NULL), 0);
  assert_int_equal(wsp_conn_get_deflate(before, WSP_DEFLATE_LEVEL), 1);
  assert_int_equal(wsp_conn_get_deflate(after, WSP_DEFLATE_LEVEL), 9);
  assert_int_equal(wsp_conn_get_deflate(before, WSP_DEFLATE_ENABLE), 0);
#ifdef WSP_HAVE_ZLIB
  assert_int_equal(wsp_conn_get_deflate(after, WSP_DEFLATE_ENABLE), 1);
#else
  assert_int_equal(wsp_conn_get_deflate(after, WSP_DEFLATE_ENABLE), 0);
#endif
  /* one connection's own setting leaves the profile's alone */
  assert_int_equal(wsp_conn_set_deflate(after, WSP_DEFLATE_MIN_SIZE, 7), 0);
  assert_int_equal(wsp_conn_profile_get_deflate(p, WSP_DEFLATE_MIN_SIZE), 64);
  assert_int_equal(wsp_conn_get_deflate(after, WSP_DEFLATE_MIN_SIZE), 7);
  /* bad values */
  assert_int_equal(wsp_conn_profile_set_deflate(p, WSP_DEFLATE_MEM_LEVEL, 0),
                   WSP_ERR_INVAL);
  assert_int_equal(
      wsp_conn_profile_set_deflate(p, WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS, 16),
      WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_profile_set_deflate(p, -1, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_profile_set_deflate(NULL, WSP_DEFLATE_LEVEL, 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_profile_get_deflate(p, WSP_DEFLATE__COUNT), 0);
  assert_int_equal(wsp_conn_get_deflate(NULL, WSP_DEFLATE_LEVEL), 0);
  wsp_conn_free(before);
  wsp_conn_free(after);
  wsp_conn_profile_free(p);
  /* the hub's */
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
#ifdef WSP_HAVE_ZLIB
  assert_int_equal(wsp_server_set_deflate(srv, WSP_DEFLATE_ENABLE, 1), 0);
  assert_int_equal(wsp_server_get_deflate(srv, WSP_DEFLATE_ENABLE), 1);
#else
  assert_int_equal(wsp_server_set_deflate(srv, WSP_DEFLATE_ENABLE, 1),
                   WSP_ERR_UNSUPPORTED);
  assert_int_equal(wsp_server_get_deflate(srv, WSP_DEFLATE_ENABLE), 0);
#endif
  assert_int_equal(wsp_server_set_deflate(NULL, WSP_DEFLATE_ENABLE, 0),
                   WSP_ERR_INVAL);
  wsp_server_free(srv);
}

/* Every allocation failing in turn: a clean error, nothing leaked. */
static void test_profile_allocation_failures(void **state) {
  long at;
  int done = 0;
  (void)state;
  for (at = 1; !done && at < 64; at++) {
    struct tfail fa;
    struct wsp_conn_profile *p = NULL;
    struct wsp_conn *c1 = NULL, *c2 = NULL;
    int rv;
    tfail_init(&fa, at, 0);
    rv = wsp_conn_profile_new(&p, NULL, &fa.mem);
    if (rv == 0)
      rv = wsp_conn_new_from(&c1, p, WSP_ROLE_SERVER, 0, NULL);
    if (rv == 0)
      rv = wsp_conn_new_from(&c2, p, WSP_ROLE_SERVER, 0, NULL);
    if (rv == 0)
      rv = wsp_conn_profile_set_limit(p, WSP_LIMIT_PING_INTERVAL, 5);
    if (rv == 0) {
      rv = wsp_conn_set_limit(c1, WSP_LIMIT_PING_INTERVAL, 7);
      /* a refused copy leaves the shared limit as it was */
      assert_int_equal(wsp_conn_get_limit(c1, WSP_LIMIT_PING_INTERVAL),
                       rv == 0 ? 7 : 0);
    }
    assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
    done = rv == 0;
    wsp_conn_free(c1);
    wsp_conn_free(c2);
    wsp_conn_profile_free(p);
    assert_int_equal(fa.live, 0);
  }
  assert_true(done);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profile_shared_callbacks_and_limits),
      cmocka_unit_test(test_profile_connection_is_small),
      cmocka_unit_test(test_profile_deflate_settings),
      cmocka_unit_test(test_profile_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
