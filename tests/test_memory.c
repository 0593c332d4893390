/*
 * Memory a crowd leaves behind: after many channels or connections come
 * and go, the tables they made grow give their room back, so that a
 * server's heap after a mass close is about what it was before. Counted
 * through the allocator hooks (the failing allocator of helpers.c, which
 * also counts live bytes).
 */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "wsp/pubsub.h"
#include "wsp/server.h"

#define CROWD 5000
#define SLACK 2048 /* what a table at its least size may hold */

static void nop(void *sub, const char *pattern, size_t len, void *ud) {
  (void)sub;
  (void)pattern;
  (void)len;
  (void)ud;
}

/* Exact channels and wildcard patterns: both hash tables shrink. */
static void test_memory_pubsub_tables_shrink(void **state) {
  struct tfail f;
  struct wsp_pubsub *ps;
  size_t base, peak;
  char name[64];
  int i, sub = 1;
  (void)state;

  tfail_init(&f, 0, 0);
  assert_int_equal(wsp_pubsub_new(&ps, &f.mem), 0);
  base = f.live_bytes;
  for (i = 0; i < CROWD; i++) {
    int n = snprintf(name, sizeof(name), "room.%d", i);
    assert_int_equal(wsp_pubsub_subscribe(ps, name, (size_t)n, &sub), 0);
    n = snprintf(name, sizeof(name), "user.%d.*", i);
    assert_int_equal(wsp_pubsub_subscribe(ps, name, (size_t)n, &sub), 0);
  }
  peak = f.live_bytes;
  for (i = 0; i < CROWD; i++) {
    int n = snprintf(name, sizeof(name), "room.%d", i);
    assert_int_equal(wsp_pubsub_unsubscribe(ps, name, (size_t)n, &sub), 0);
    n = snprintf(name, sizeof(name), "user.%d.*", i);
    assert_int_equal(wsp_pubsub_unsubscribe(ps, name, (size_t)n, &sub), 0);
  }
  assert_true(peak > base + 2 * CROWD * sizeof(void *));
  assert_in_range(f.live_bytes, base, base + SLACK);
  /* Still a working table at its least size: a channel comes back. */
  assert_int_equal(wsp_pubsub_subscribe(ps, "room.1", 6, &sub), 0);
  assert_int_equal(wsp_pubsub_publish(ps, "room.1", 6, nop, NULL), 1);
  assert_int_equal(wsp_pubsub_unsubscribe(ps, "room.1", 6, &sub), 0);
  wsp_pubsub_free(ps);
  assert_int_equal(f.live, 0);
}

/* Connections with a user each, closed at once: the deadline heap and
 * the users' table give back what the crowd made them grow to, and a
 * second crowd makes them grow again. */
static void test_memory_server_after_mass_close(void **state) {
  static struct wsp_client *cls[CROWD];
  struct wsp_server_callbacks cb = {0};
  struct tfail f;
  struct wsp_server *srv;
  size_t base;
  char user[32];
  int i, round;
  (void)state;

  tfail_init(&f, 0, 0);
  assert_int_equal(wsp_server_new(&srv, &cb, &f.mem, 0, NULL), 0);
  base = f.live_bytes;
  for (round = 0; round < 2; round++) {
    struct wsp_server_stats st;
    size_t peak;
    for (i = 0; i < CROWD; i++) {
      assert_int_equal(wsp_server_accept(srv, NULL, &cls[i]), 0);
      snprintf(user, sizeof(user), "u%d", i);
      assert_int_equal(wsp_client_set_user(cls[i], user), 0);
    }
    peak = f.live_bytes;
    wsp_server_get_stats(srv, &st);
    assert_int_equal(st.connections, CROWD);
    for (i = 0; i < CROWD; i++)
      wsp_client_free(cls[i]);
    wsp_server_get_stats(srv, &st);
    assert_int_equal(st.connections, 0);
    assert_true(peak > base + CROWD * 2 * sizeof(void *));
    assert_in_range(f.live_bytes, base, base + SLACK);
    assert_int_equal(wsp_server_tick(srv, 1), 0);
  }
  wsp_server_free(srv);
  assert_int_equal(f.live, 0);
}

/* Clients leaving one by one in any order while others stay: the heap
 * keeps room for every client that remains (their deadlines still move
 * without an allocation) and still fires them in order. */
static void test_memory_server_shrink_keeps_room(void **state) {
  static struct wsp_client *cls[CROWD];
  struct wsp_server_callbacks cb = {0};
  struct wsp_server *srv;
  struct tfail f;
  int i;
  (void)state;

  tfail_init(&f, 0, 0);
  assert_int_equal(wsp_server_new(&srv, &cb, &f.mem, 0, NULL), 0);
  for (i = 0; i < CROWD; i++)
    assert_int_equal(wsp_server_accept(srv, NULL, &cls[i]), 0);
  for (i = 0; i < CROWD; i++)
    if (i % 97 != 0)
      wsp_client_free(cls[i]);
  /* From here every allocation fails: ticks and deadlines need none. */
  f.fail_at = f.calls + 1;
  f.sticky = 1;
  assert_int_equal(wsp_server_tick(srv, 1), 0);
  assert_true(wsp_server_next_deadline(srv) > 1);
  /* The handshake timeout closes the survivors, none lost. */
  assert_int_equal(wsp_server_tick(srv, wsp_server_next_deadline(srv)), 0);
  for (i = 0; i < CROWD; i += 97)
    assert_true(wsp_client_is_done(cls[i]));
  f.sticky = 0;
  f.fail_at = 0;
  for (i = 0; i < CROWD; i += 97)
    wsp_client_free(cls[i]);
  wsp_server_free(srv);
  assert_int_equal(f.live, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memory_pubsub_tables_shrink),
      cmocka_unit_test(test_memory_server_after_mass_close),
      cmocka_unit_test(test_memory_server_shrink_keeps_room),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
