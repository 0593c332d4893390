/*
 * Credentials in requests (query, cookies, bearer, subprotocol tokens),
 * the Origin check, and the in-memory session store with its cookie
 * writer.
 */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "wsp/request.h"
#include "wsp/session.h"

#define STR(s) {s, sizeof(s) - 1}

static struct wsp_request make(const char *query, struct wsp_header *h,
                               size_t n) {
  struct wsp_request r;
  memset(&r, 0, sizeof(r));
  r.query.ptr = query;
  r.query.len = query ? strlen(query) : 0;
  r.headers = h;
  r.nheaders = n;
  return r;
}

static void test_auth_query(void **state) {
  struct wsp_request r = make("token=a%2Bb+c&x=1&token=2&e=&bad=%zz&%74oken=3",
                              NULL, 0);
  char buf[64];
  size_t len;
  (void)state;
  assert_int_equal(wsp_request_query(&r, "token", 0, buf, sizeof(buf), &len),
                   1);
  assert_string_equal(buf, "a+b c");
  assert_int_equal(len, 5);
  assert_int_equal(wsp_request_query(&r, "token", 1, buf, sizeof(buf), &len),
                   1);
  assert_string_equal(buf, "2");
  /* an encoded key matches too */
  assert_int_equal(wsp_request_query(&r, "token", 2, buf, sizeof(buf), &len),
                   1);
  assert_string_equal(buf, "3");
  assert_int_equal(wsp_request_query(&r, "token", 3, buf, sizeof(buf), &len),
                   0);
  assert_int_equal(wsp_request_query(&r, "e", 0, buf, sizeof(buf), &len), 1);
  assert_string_equal(buf, "");
  assert_int_equal(wsp_request_query(&r, "bad", 0, buf, sizeof(buf), &len),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_request_query(&r, "token", 0, buf, 3, &len),
                   WSP_ERR_LIMIT);
  assert_int_equal(len, 5);
  assert_int_equal(wsp_request_query(&r, "nope", 0, buf, sizeof(buf), &len),
                   0);
}

static void test_auth_cookies(void **state) {
  struct wsp_header h[] = {
      {STR("Cookie"), STR("a=1;  sid=\"abc\" ; b=2")},
      {STR("Host"), STR("x")},
      {STR("cookie"), STR("sid=second;c")},
  };
  struct wsp_request r = make(NULL, h, 3);
  struct wsp_str v;
  (void)state;
  assert_int_equal(wsp_request_cookie_nth(&r, "sid", 0, &v), 1);
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.ptr, "abc", 3);
  assert_int_equal(wsp_request_cookie_nth(&r, "sid", 1, &v), 1);
  assert_memory_equal(v.ptr, "second", 6);
  assert_int_equal(wsp_request_cookie_nth(&r, "sid", 2, &v), 0);
  assert_int_equal(wsp_request_cookie_nth(&r, "b", 0, &v), 1);
  assert_memory_equal(v.ptr, "2", 1);
  assert_int_equal(wsp_request_cookie_nth(&r, "c", 0, &v), 0);
  assert_int_equal(wsp_request_cookie(&r, "a", &v), 1);
}

static void test_auth_bearer_and_protocol_token(void **state) {
  struct wsp_header h1[] = {{STR("authorization"), STR("BEARER  t.k.n")},
                            {STR("Sec-WebSocket-Protocol"),
                             STR("centrifuge-json, bearer.eyJx")}};
  struct wsp_header h2[] = {{STR("Authorization"), STR("Basic dXNlcg==")}};
  struct wsp_header h3[] = {{STR("Authorization"), STR("Bearer a")},
                            {STR("Authorization"), STR("Bearer b")}};
  struct wsp_request r1 = make(NULL, h1, 2), r2 = make(NULL, h2, 1),
                     r3 = make(NULL, h3, 2);
  struct wsp_str t;
  (void)state;
  assert_int_equal(wsp_request_bearer(&r1, &t), 1);
  assert_int_equal(t.len, 5);
  assert_memory_equal(t.ptr, "t.k.n", 5);
  assert_int_equal(wsp_request_bearer(&r2, &t), 0);
  assert_int_equal(wsp_request_bearer(&r3, &t), WSP_ERR_INVAL);
  assert_int_equal(wsp_request_protocol_token(&r1, "bearer.", &t), 1);
  assert_memory_equal(t.ptr, "eyJx", 4);
  assert_int_equal(wsp_request_protocol_token(&r2, "bearer.", &t), 0);
}

static void test_auth_origin(void **state) {
  struct wsp_header own[] = {{STR("Host"), STR("Chat.Example:8000")},
                             {STR("Origin"), STR("http://chat.example:8000")}};
  struct wsp_header other[] = {{STR("Host"), STR("chat.example")},
                               {STR("Origin"), STR("https://evil.example")}};
  struct wsp_header none[] = {{STR("Host"), STR("chat.example")}};
  struct wsp_header two[] = {{STR("Origin"), STR("https://a")},
                             {STR("Origin"), STR("https://a")}};
  struct wsp_request r1 = make(NULL, own, 2), r2 = make(NULL, other, 2),
                     r3 = make(NULL, none, 1), r4 = make(NULL, two, 2);
  const char *allow[] = {"https://evil.example"};
  (void)state;
  assert_int_equal(wsp_origin_allowed(&r1, NULL, 0, 0), 1);
  assert_int_equal(wsp_origin_allowed(&r1, NULL, 0, 1), 0); /* https */
  assert_int_equal(wsp_origin_allowed(&r2, NULL, 0, 1), 0);
  assert_int_equal(wsp_origin_allowed(&r2, allow, 1, 1), 1);
  assert_int_equal(wsp_origin_allowed(&r3, NULL, 0, 0), 1); /* no Origin */
  assert_int_equal(wsp_origin_allowed(&r4, allow, 1, 0), 0);
}

static void test_auth_sessions(void **state) {
  struct wsp_session_store *st;
  struct tfail fa;
  char id[WSP_SESSION_ID_LEN + 1], id2[WSP_SESSION_ID_LEN + 1];
  const char *user;
  const void *data;
  size_t len;
  (void)state;
  tfail_init(&fa, 0, 0);
  assert_int_equal(wsp_session_store_new(&st, &fa.mem, 1000, 2), 0);
  assert_int_equal(wsp_session_create(st, "ann", "{\"a\":1}", 7, 0, id), 0);
  assert_int_equal(strlen(id), 32);
  assert_int_equal(wsp_session_create(st, "bob", NULL, 0, 100, id2), 0);
  assert_string_not_equal(id, id2);
  assert_int_equal(wsp_session_create(st, "cy", NULL, 0, 100, id2),
                   WSP_ERR_LIMIT);
  assert_int_equal(wsp_session_get(st, id, 500, &user, &data, &len), 0);
  assert_string_equal(user, "ann");
  assert_int_equal(len, 7);
  assert_memory_equal(data, "{\"a\":1}", 7);
  assert_int_equal(wsp_session_store_next_deadline(st), 1000);
  assert_int_equal(wsp_session_touch(st, id, 900), 0);
  assert_int_equal(wsp_session_store_next_deadline(st), 1100);
  assert_int_equal(wsp_session_get(st, id2, 1100, &user, NULL, NULL),
                   WSP_ERR_NOT_FOUND); /* expired */
  assert_int_equal(wsp_session_store_tick(st, 1100), 0);
  assert_int_equal(wsp_session_count(st), 1);
  assert_int_equal(wsp_session_set_data(st, id, "2", 1), 0);
  assert_int_equal(wsp_session_get(st, id, 1200, NULL, &data, &len), 0);
  assert_memory_equal(data, "2", 1);
  assert_int_equal(wsp_session_destroy(st, id), 0);
  assert_int_equal(wsp_session_destroy(st, id), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_session_get(st, "short", 0, NULL, NULL, NULL),
                   WSP_ERR_NOT_FOUND);
  wsp_session_store_free(st);
  assert_int_equal(fa.live, 0);
}

/* A full store that evicts: every new login gets in, the session nearest
 * to its expiry makes room, and the counters say what happened. */
static void test_auth_session_store_full_evicts_oldest(void **state) {
  struct wsp_session_store *st;
  struct wsp_session_stats ss;
  char id[4][WSP_SESSION_ID_LEN + 1];
  int i;
  (void)state;
  assert_int_equal(wsp_session_store_new(&st, NULL, 1000, 2), 0);
  assert_int_equal(wsp_session_store_get_flags(st), 0);
  assert_int_equal(wsp_session_store_set_flags(st, 0x80), WSP_ERR_INVAL);
  assert_int_equal(wsp_session_create(st, "a", NULL, 0, 0, id[0]), 0);
  assert_int_equal(wsp_session_create(st, "b", NULL, 0, 10, id[1]), 0);
  assert_int_equal(wsp_session_create(st, "c", NULL, 0, 20, id[2]),
                   WSP_ERR_LIMIT);
  assert_int_equal(wsp_session_store_set_flags(st, WSP_SESSION_EVICT_OLDEST),
                   0);
  assert_int_equal(wsp_session_store_get_flags(st), WSP_SESSION_EVICT_OLDEST);
  /* a was touched last: b is nearest to its expiry and goes */
  assert_int_equal(wsp_session_touch(st, id[0], 30), 0);
  assert_int_equal(wsp_session_create(st, "c", NULL, 0, 40, id[2]), 0);
  assert_int_equal(wsp_session_get(st, id[1], 40, NULL, NULL, NULL),
                   WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_session_get(st, id[0], 40, NULL, NULL, NULL), 0);
  for (i = 0; i < 100; i++)
    assert_int_equal(wsp_session_create(st, "d", NULL, 0, 50, id[3]), 0);
  assert_int_equal(wsp_session_count(st), 2);
  assert_int_equal(wsp_session_destroy(st, id[3]), 0);
  assert_int_equal(wsp_session_store_tick(st, 2000), 0);
  assert_int_equal(wsp_session_store_get_stats(st, &ss), 0);
  assert_int_equal(ss.created, 103);
  assert_int_equal(ss.refused, 1);
  assert_int_equal(ss.evicted, 101);
  assert_int_equal(ss.destroyed, 1);
  assert_int_equal(ss.expired, 1);
  assert_int_equal(wsp_session_store_get_stats(NULL, &ss), WSP_ERR_INVAL);
  assert_int_equal(wsp_session_store_get_stats(st, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_session_store_set_flags(NULL, 0), WSP_ERR_INVAL);
  wsp_session_store_free(st);
}

static void test_auth_session_allocation_failures(void **state) {
  long at;
  (void)state;
  for (at = 1; at < 50; at++) {
    struct tfail fa;
    struct wsp_session_store *st;
    char id[WSP_SESSION_ID_LEN + 1];
    int i, rv;
    tfail_init(&fa, at, 0);
    if (wsp_session_store_new(&st, &fa.mem, 1000, 10) != 0)
      continue;
    for (i = 0; i < 4; i++) {
      rv = wsp_session_create(st, "u", "d", 1, 0, id);
      assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
    }
    wsp_session_store_free(st);
    assert_int_equal(fa.live, 0);
    if (fa.failures == 0)
      break;
  }
}

static void test_auth_cookie_writer(void **state) {
  char buf[256];
  (void)state;
  assert_int_equal(
      wsp_session_cookie(buf, sizeof(buf), "sid", "0123abcd", NULL, 3600,
                         WSP_COOKIE_HTTPONLY | WSP_COOKIE_SECURE |
                             WSP_COOKIE_SAMESITE_LAX),
      (int)strlen("sid=0123abcd; Path=/; Max-Age=3600; HttpOnly; Secure; "
                  "SameSite=Lax"));
  assert_string_equal(buf, "sid=0123abcd; Path=/; Max-Age=3600; HttpOnly; "
                           "Secure; SameSite=Lax");
  assert_true(wsp_session_cookie(buf, sizeof(buf), "sid", "", "/app", 0, 0) >
              0);
  assert_string_equal(buf, "sid=; Path=/app; Max-Age=0");
  assert_int_equal(wsp_session_cookie(buf, sizeof(buf), "s id", "v", NULL, -1,
                                      0),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_session_cookie(buf, sizeof(buf), "s", "a;b", NULL, -1,
                                      0),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_session_cookie(buf, sizeof(buf), "s", "v", NULL, -1,
                                      WSP_COOKIE_SAMESITE_NONE),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_session_cookie(buf, 8, "sid", "0123abcd", NULL, -1, 0),
                   WSP_ERR_LIMIT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auth_query),
      cmocka_unit_test(test_auth_cookies),
      cmocka_unit_test(test_auth_bearer_and_protocol_token),
      cmocka_unit_test(test_auth_origin),
      cmocka_unit_test(test_auth_sessions),
      cmocka_unit_test(test_auth_session_store_full_evicts_oldest),
      cmocka_unit_test(test_auth_session_allocation_failures),
      cmocka_unit_test(test_auth_cookie_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
