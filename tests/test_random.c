/*
 * The random hook of struct wsp_mem: every random byte an object needs
 * comes from it, so a seeded source makes runs repeat exactly, and a
 * source that fails makes the callers fail with WSP_ERR_RANDOM. Only
 * random is set here: the allocator stays the C library's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wsp.h"

struct seeded {
  uint64_t state;
  size_t calls, bytes;
};

static int seeded_fill(void *buf, size_t len, void *ud) {
  struct seeded *s = ud;
  uint8_t *p = buf;
  size_t i;
  s->calls++;
  s->bytes += len;
  for (i = 0; i < len; i++) {
    /* xorshift64 */
    s->state ^= s->state << 13;
    s->state ^= s->state >> 7;
    s->state ^= s->state << 17;
    p[i] = (uint8_t)s->state;
  }
  return 0;
}

static int failing_fill(void *buf, size_t len, void *ud) {
  (void)buf;
  (void)len;
  ++*(int *)ud;
  return -1;
}

static struct wsp_mem mem_of(int (*fill)(void *, size_t, void *), void *ud) {
  struct wsp_mem m;
  memset(&m, 0, sizeof(m));
  m.random = fill;
  m.user_data = ud;
  return m;
}

/* The epoch a fresh log gives a new stream. */
static int new_epoch(const struct wsp_mem *mem,
                     char out[WSP_EVLOG_EPOCH_MAX + 1]) {
  struct wsp_evlog *ev;
  struct wsp_evlog_position pos;
  struct wsp_evlog_options o;
  int rc;
  memset(&o, 0, sizeof(o));
  o.mem = mem;
  rc = wsp_evlog_new(&ev, &o, 0);
  if (rc != 0)
    return rc;
  rc = wsp_evlog_position(ev, "a", 1, &pos);
  if (rc == 0)
    memcpy(out, pos.epoch, sizeof(pos.epoch));
  wsp_evlog_free(ev);
  return rc;
}

/* The Sec-WebSocket-Key line a client connection sends. */
static void client_key(const struct wsp_mem *mem, char *out, size_t cap) {
  struct wsp_conn *c;
  struct iovec iov[4];
  char req[1024];
  size_t n = 0;
  int i, k;
  const char *p, *e;
  assert_int_equal(wsp_conn_new(&c, WSP_ROLE_CLIENT, NULL, mem, 0, NULL), 0);
  assert_int_equal(wsp_conn_client_start(c, "example.com", "/", NULL), 0);
  k = wsp_conn_pending(c, iov, 4);
  for (i = 0; i < k && n < sizeof(req) - 1; i++) {
    size_t m = iov[i].iov_len < sizeof(req) - 1 - n ? iov[i].iov_len
                                                    : sizeof(req) - 1 - n;
    memcpy(req + n, iov[i].iov_base, m);
    n += m;
  }
  req[n] = '\0';
  wsp_conn_free(c);
  p = strstr(req, "Sec-WebSocket-Key: ");
  assert_non_null(p);
  e = strstr(p, "\r\n");
  assert_non_null(e);
  assert_true((size_t)(e - p) < cap);
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
}

static void test_seeded_source_repeats(void **state) {
  struct seeded a = {0x9e3779b97f4a7c15u, 0, 0};
  struct seeded b = {0x9e3779b97f4a7c15u, 0, 0};
  char e1[WSP_EVLOG_EPOCH_MAX + 1], e2[WSP_EVLOG_EPOCH_MAX + 1];
  char k1[128], k2[128];
  struct wsp_mem ma = mem_of(seeded_fill, &a), mb = mem_of(seeded_fill, &b);
  (void)state;
  assert_int_equal(new_epoch(&ma, e1), 0);
  client_key(&ma, k1, sizeof(k1));
  assert_int_equal(new_epoch(&mb, e2), 0);
  client_key(&mb, k2, sizeof(k2));
  /* Same seed, same bytes, same results; and the source was used. */
  assert_string_equal(e1, e2);
  assert_string_equal(k1, k2);
  assert_true(a.calls > 0);
  assert_int_equal(a.calls, b.calls);
  assert_int_equal(a.bytes, b.bytes);
}

static void test_default_source_differs(void **state) {
  char e1[WSP_EVLOG_EPOCH_MAX + 1], e2[WSP_EVLOG_EPOCH_MAX + 1];
  char k1[128], k2[128];
  (void)state;
  assert_int_equal(new_epoch(NULL, e1), 0);
  assert_int_equal(new_epoch(NULL, e2), 0);
  client_key(NULL, k1, sizeof(k1));
  client_key(NULL, k2, sizeof(k2));
  assert_string_not_equal(e1, e2);
  assert_string_not_equal(k1, k2);
}

static void test_failing_source(void **state) {
  struct wsp_conn *c;
  struct wsp_evlog *ev;
  struct wsp_session_store *st;
  struct wsp_evlog_options o;
  int calls = 0;
  struct wsp_mem m = mem_of(failing_fill, &calls);
  (void)state;
  /* The event log seeds its hash from the source. */
  memset(&o, 0, sizeof(o));
  o.mem = &m;
  assert_int_equal(wsp_evlog_new(&ev, &o, 0), WSP_ERR_RANDOM);
  /* A client needs a handshake key. */
  assert_int_equal(wsp_conn_new(&c, WSP_ROLE_CLIENT, NULL, &m, 0, NULL), 0);
  assert_int_equal(wsp_conn_client_start(c, "example.com", "/", NULL),
                   WSP_ERR_RANDOM);
  wsp_conn_free(c);
  /* A session needs an id. */
  assert_int_equal(wsp_session_store_new(&st, &m, 60000, 16), 0);
  {
    char sid[WSP_SESSION_ID_LEN + 1];
    assert_int_equal(wsp_session_create(st, "u", NULL, 0, 0, sid),
                     WSP_ERR_RANDOM);
  }
  wsp_session_store_free(st);
  assert_true(calls >= 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seeded_source_repeats),
      cmocka_unit_test(test_default_source_differs),
      cmocka_unit_test(test_failing_source),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
