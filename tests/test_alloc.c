/*
 * Allocation failures: every allocation on a path is failed in turn
 * (N = 1, 2, ... until a run finishes without reaching N). Every call must
 * return 0 or a WSP_ERR_* code, an allocation that failed inside a call
 * must surface as WSP_ERR_NOMEM (from the call, or from the API call a
 * callback made), nothing may crash, and after wsp_conn_free() no block of
 * the hooked allocator may remain. wslay's own allocations use libc malloc
 * and are not counted here.
 */
#include "helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNS 5000

struct run {
  struct tfail fa;
  struct trec rec;
  struct wsp_conn *c;
  struct tbuf out;
  const char *where;
};

/* Call API function expr and check what it returned. */
#define CALL(r, expr)                                                          \
  do {                                                                         \
    long f0_ = (r)->fa.failures;                                               \
    int e0_ = (r)->rec.echo_rc, a0_ = (r)->rec.req_action_rc;                  \
    int rc_ = (expr);                                                          \
    check_rc(r, rc_, f0_, e0_, a0_, #expr);                                    \
  } while (0)

/* Violations found so far, each kind listed once with its first run. */
static char violations[32][256];
static long violation_at[32];
static size_t nviolations;
static long nviolation_runs;

static void violation(long at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(long at, const char *fmt, ...) {
  char msg[256];
  size_t i;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  nviolation_runs++;
  for (i = 0; i < nviolations; i++)
    if (strcmp(violations[i], msg) == 0)
      return;
  if (nviolations < T_ARRAY_LEN(violations)) {
    violation_at[nviolations] = at;
    memcpy(violations[nviolations++], msg, sizeof(msg));
  }
}

static void check_rc(struct run *r, int rc, long f0, int e0, int a0,
                     const char *what) {
  if (!t_is_wsp_rc(rc))
    violation(r->fa.fail_at, "%s: %s returned %d, not a WSP_ERR_* code",
              r->where, what, rc);
  else if (r->fa.failures > f0 && rc != WSP_ERR_NOMEM &&
           r->rec.echo_rc == e0 && r->rec.req_action_rc == a0)
    violation(r->fa.fail_at,
              "%s: an allocation failed inside %s, which returned %s, not "
              "WSP_ERR_NOMEM",
              r->where, what, rc ? wsp_error_name(rc) : "0");
}

static void drain(struct run *r) {
  sink_drain(r->c, &r->out, 0);
  /* a failed connection still reaches is_done once its output left */
  if (wsp_conn_get_state(r->c) == WSP_STATE_CLOSED)
    assert_true(wsp_conn_is_done(r->c));
}

static void run_end(struct run *r) {
  wsp_conn_free(r->c);
  r->c = NULL;
  if (r->fa.live != 0 || r->fa.bad_frees != 0)
    print_error("%s, fail_at %ld: %ld blocks leaked, %ld foreign frees\n",
                r->where, r->fa.fail_at, r->fa.live, r->fa.bad_frees);
  assert_int_equal(r->fa.live, 0);
  assert_int_equal(r->fa.live_bytes, 0);
  assert_int_equal(r->fa.bad_frees, 0);
  trec_free(&r->rec);
  tbuf_free(&r->out);
}

/* ---- Server: handshake, echo, fragments, close ------------------------ */

/* Returns 1 when the failure point was reached during the run. */
static int server_run(long fail_at, int sticky) {
  struct run r;
  struct wsp_conn_callbacks cb;
  struct tbuf in;
  uint8_t *big = t_payload(70000, 5);
  int rc, reached;

  memset(&r, 0, sizeof(r));
  r.where = "server";
  tfail_init(&r.fa, fail_at, sticky);
  trec_init(&r.rec);
  tbuf_init(&r.out);
  r.rec.echo = 1;
  r.rec.set_protocol = "chat";
  r.rec.add_header_name = "Set-Cookie";
  r.rec.add_header_value = "sid=1";
  cb = trec_callbacks(&r.rec);
  rc = wsp_conn_new(&r.c, WSP_ROLE_SERVER, &cb, &r.fa.mem, 0, &r.rec);
  if (rc != 0) {
    assert_int_equal(rc, WSP_ERR_NOMEM);
    assert_null(r.c);
    assert_int_equal(r.fa.live, 0);
    reached = r.fa.failures > 0;
    trec_free(&r.rec);
    tbuf_free(&r.out);
    free(big);
    return reached;
  }

  tbuf_init(&in);
  treq_build(&in, "/room?id=1",
             "Sec-WebSocket-Protocol: chat\r\nCookie: a=b\r\n");
  /* the head in two pieces, then frames pipelined behind its end */
  CALL(&r, wsp_conn_recv(r.c, in.data, 40));
  tbuf_consume(&in, 40);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "hello", 5);
  CALL(&r, wsp_conn_recv(r.c, in.data, in.len));
  drain(&r);

  tbuf_reset(&in);
  cframe(&in, WSP_OP_BINARY, big, 30000);
  cframe(&in, TF_FIN | WSP_OP_PING, "p", 1);
  cframe(&in, WSP_OP_CONTINUATION, big + 30000, 30000);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, big + 60000, 10000);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "\xce\xba", 2);
  CALL(&r, feed_chunks(r.c, in.data, in.len, 4096));
  drain(&r);

  CALL(&r, wsp_conn_send(r.c, WSP_OP_TEXT, "server says", 11));
  CALL(&r, wsp_conn_send(r.c, WSP_OP_BINARY, big, 70000));
  CALL(&r, wsp_conn_send_fragment(r.c, WSP_OP_TEXT, "a", 1, 0));
  CALL(&r, wsp_conn_send_fragment(r.c, WSP_OP_CONTINUATION, "b", 1, 1));
  CALL(&r, wsp_conn_tick(r.c, 100));
  sink_drain(r.c, &r.out, 1000); /* partial writes */
  CALL(&r, wsp_conn_close(r.c, 1000, "bye", 3));
  drain(&r);
  tbuf_reset(&in);
  cframe_close(&in, 1000, NULL);
  CALL(&r, wsp_conn_recv(r.c, in.data, in.len));
  drain(&r);

  reached = r.fa.failures > 0;
  if (!reached) {
    /* the complete run did everything */
    assert_int_equal(thttp_status(r.out.data, r.out.len), 101);
    assert_int_equal(r.rec.nmsgs, 3);
    assert_string_equal((char *)r.rec.msgs[0].data, "hello");
    assert_int_equal(r.rec.msgs[1].len, 70000);
    assert_memory_equal(r.rec.msgs[1].data, big, 70000);
    assert_int_equal(r.rec.echo_rc, 0);
    assert_int_equal(r.rec.req_action_rc, 0);
    assert_int_equal(wsp_conn_get_state(r.c), WSP_STATE_CLOSED);
    assert_true(wsp_conn_is_done(r.c));
    assert_int_equal(r.rec.n_close, 1);
    assert_true(r.fa.calls > 0);
  }
  run_end(&r);
  tbuf_free(&in);
  free(big);
  return reached;
}

static void fail_each(int (*fn)(long, int), int sticky, const char *name) {
  long n;
  size_t i;
  int reached = 0;
  nviolations = 0;
  nviolation_runs = 0;
  for (n = 1; n <= MAX_RUNS; n++) {
    reached = fn(n, sticky);
    if (!reached)
      break;
  }
  if (reached)
    print_error("%s: still failing after %d runs\n", name, MAX_RUNS);
  assert_false(reached);
  /* at least the first allocation was on the path */
  assert_true(n > 1);
  for (i = 0; i < nviolations; i++)
    print_error("%s%s: %s (first when allocation %ld failed)\n", name,
                sticky ? "" : " (fail once)", violations[i], violation_at[i]);
  assert_int_equal(nviolation_runs, 0);
}

static void test_alloc_server_fail_each(void **state) {
  (void)state;
  fail_each(server_run, 0, "server");
}

static void test_alloc_server_fail_from_each(void **state) {
  (void)state;
  fail_each(server_run, 1, "server (sticky)");
}

/* ---- Server: error responses ------------------------------------------ */

static int server_reject_run(long fail_at, int sticky) {
  static const char *const reqs[] = {
      "GET /chat HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: " T_KEY "\r\n"
      "Sec-WebSocket-Version: 8\r\n\r\n",
      "BROKEN\r\n\r\n",
  };
  size_t i;
  int reached = 0;
  for (i = 0; i < T_ARRAY_LEN(reqs); i++) {
    struct run r;
    struct wsp_conn_callbacks cb;
    memset(&r, 0, sizeof(r));
    r.where = "server reject";
    tfail_init(&r.fa, fail_at, sticky);
    trec_init(&r.rec);
    tbuf_init(&r.out);
    if (i == 0) {
      r.rec.req_action = TREQ_RESPOND;
      r.rec.respond_status = 404;
      r.rec.respond_type = "text/plain";
      r.rec.respond_body = "missing";
    }
    cb = trec_callbacks(&r.rec);
    if (wsp_conn_new(&r.c, WSP_ROLE_SERVER, &cb, &r.fa.mem, 0, &r.rec) == 0) {
      CALL(&r, feed_str(r.c, reqs[i]));
      drain(&r);
      if (r.fa.failures == 0)
        assert_true(thttp_status(r.out.data, r.out.len) >= 400);
    }
    reached |= r.fa.failures > 0;
    run_end(&r);
  }
  return reached;
}

static void test_alloc_server_reject_fail_each(void **state) {
  (void)state;
  fail_each(server_reject_run, 0, "server reject");
  fail_each(server_reject_run, 1, "server reject (sticky)");
}

/* ---- Server: deferred decision ---------------------------------------- */

static int server_defer_run(long fail_at, int sticky) {
  struct run r;
  struct wsp_conn_callbacks cb;
  struct tbuf in;
  int reached;
  memset(&r, 0, sizeof(r));
  r.where = "server defer";
  tfail_init(&r.fa, fail_at, sticky);
  trec_init(&r.rec);
  tbuf_init(&r.out);
  tbuf_init(&in);
  r.rec.req_action = TREQ_DEFER;
  cb = trec_callbacks(&r.rec);
  if (wsp_conn_new(&r.c, WSP_ROLE_SERVER, &cb, &r.fa.mem, 0, &r.rec) == 0) {
    tbuf_puts(&in, T_REQ);
    cframe(&in, TF_FIN | WSP_OP_TEXT, "queued", 6);
    CALL(&r, wsp_conn_recv(r.c, in.data, in.len));
    tbuf_reset(&in);
    cframe(&in, TF_FIN | WSP_OP_TEXT, "more", 4);
    CALL(&r, wsp_conn_recv(r.c, in.data, in.len));
    CALL(&r, wsp_conn_add_header(r.c, "X-A", "1"));
    CALL(&r, wsp_conn_accept(r.c));
    drain(&r);
    if (r.fa.failures == 0) {
      assert_int_equal(thttp_status(r.out.data, r.out.len), 101);
      assert_int_equal(r.rec.nmsgs, 2);
    }
  }
  reached = r.fa.failures > 0;
  run_end(&r);
  tbuf_free(&in);
  return reached;
}

static void test_alloc_server_defer_fail_each(void **state) {
  (void)state;
  fail_each(server_defer_run, 0, "server defer");
  fail_each(server_defer_run, 1, "server defer (sticky)");
}

/* ---- Client: handshake, messages, close ------------------------------- */

static int client_run(long fail_at, int sticky) {
  struct run r;
  struct wsp_conn_callbacks cb;
  struct tbuf in;
  uint8_t *big = t_payload(70000, 6);
  int reached;

  memset(&r, 0, sizeof(r));
  r.where = "client";
  tfail_init(&r.fa, fail_at, sticky);
  trec_init(&r.rec);
  tbuf_init(&r.out);
  tbuf_init(&in);
  cb = trec_callbacks(&r.rec);
  if (wsp_conn_new(&r.c, WSP_ROLE_CLIENT, &cb, &r.fa.mem, 0, &r.rec) != 0) {
    assert_null(r.c);
    goto end;
  }
  CALL(&r, wsp_conn_add_header(r.c, "Origin", "http://localhost"));
  CALL(&r, wsp_conn_client_start(r.c, "127.0.0.1:9001", "/echo",
                                 "chat, superchat"));
  drain(&r);
  if (thttp_head_len(r.out.data, r.out.len) > 0) {
    assert_int_equal(
        tresp_build(&in, r.out.data, r.out.len,
                    "Sec-WebSocket-Protocol: superchat\r\n"),
        0);
    sframe(&in, TF_FIN | WSP_OP_TEXT, "welcome", 7);
    sframe(&in, WSP_OP_BINARY, big, 40000);
    sframe(&in, TF_FIN | WSP_OP_PING, "k", 1);
    sframe(&in, TF_FIN | WSP_OP_CONTINUATION, big + 40000, 30000);
    /* the response in pieces */
    CALL(&r, feed_chunks(r.c, in.data, in.len, 50));
    drain(&r);
    CALL(&r, wsp_conn_send(r.c, WSP_OP_TEXT, "hi", 2));
    CALL(&r, wsp_conn_send(r.c, WSP_OP_BINARY, big, 70000));
    CALL(&r, wsp_conn_close(r.c, 1001, NULL, 0));
    drain(&r);
    tbuf_reset(&in);
    sframe(&in, TF_FIN | WSP_OP_CLOSE, "\x03\xe9", 2);
    CALL(&r, wsp_conn_recv(r.c, in.data, in.len));
    drain(&r);
  }
  if (r.fa.failures == 0) {
    assert_int_equal(r.rec.n_open, 1);
    assert_int_equal(r.rec.nmsgs, 2);
    assert_string_equal((char *)r.rec.msgs[0].data, "welcome");
    assert_int_equal(r.rec.msgs[1].len, 70000);
    assert_string_equal(wsp_conn_get_protocol(r.c), "superchat");
    assert_int_equal(wsp_conn_get_state(r.c), WSP_STATE_CLOSED);
    assert_int_equal(r.rec.close_code, 1001);
  } else if (r.rec.n_open == 0 && r.c &&
             wsp_conn_get_state(r.c) == WSP_STATE_CLOSED) {
    /* a client that failed before opening reported it once */
    assert_true(r.rec.n_close <= 1);
  }
end:
  reached = r.fa.failures > 0;
  run_end(&r);
  tbuf_free(&in);
  free(big);
  return reached;
}

static void test_alloc_client_fail_each(void **state) {
  (void)state;
  fail_each(client_run, 0, "client");
}

static void test_alloc_client_fail_from_each(void **state) {
  (void)state;
  fail_each(client_run, 1, "client (sticky)");
}

/* ---- Budget ----------------------------------------------------------- */

/* An open connection between messages holds little memory of its own. */
static void test_alloc_idle_connection_budget(void **state) {
  struct run r;
  struct wsp_conn_callbacks cb;
  struct tbuf in;
  struct wsp_frame *f;
  int i;
  (void)state;
  memset(&r, 0, sizeof(r));
  r.where = "idle";
  tfail_init(&r.fa, 0, 0);
  trec_init(&r.rec);
  tbuf_init(&r.out);
  tbuf_init(&in);
  r.rec.echo = 1;
  cb = trec_callbacks(&r.rec);
  assert_int_equal(
      wsp_conn_new(&r.c, WSP_ROLE_SERVER, &cb, &r.fa.mem, 0, &r.rec), 0);
  assert_int_equal(feed_str(r.c, T_REQ), 0);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "hello", 5);
  cframe(&in, WSP_OP_BINARY, "ab", 2);
  cframe(&in, TF_FIN | WSP_OP_CONTINUATION, "cd", 2);
  assert_int_equal(wsp_conn_recv(r.c, in.data, in.len), 0);
  drain(&r);
  assert_int_equal(r.rec.nmsgs, 2);
  /* A burst that stayed within the queue's inline slots (the echoes
   * share one block) leaves nothing worth keeping: idle and small at
   * once, with no deadline. */
  assert_int_equal(wsp_conn_next_deadline(r.c), WSP_NO_DEADLINE);
  assert_true(r.fa.live_bytes <= 1024);
  /* A burst that grew the queue (shared frames, a slot each) keeps its
   * memory for the next burst until the linger passes. */
  for (i = 0; i < 5; i++) {
    assert_int_equal(wsp_frame_new(&f, NULL, WSP_OP_TEXT, "pub", 3), 0);
    assert_int_equal(wsp_conn_send_frame(r.c, f), 0);
    wsp_frame_unref(f);
  }
  assert_int_equal(wsp_conn_send(r.c, WSP_OP_TEXT, "reply", 5), 0);
  drain(&r);
  assert_true(r.fa.live_bytes > 1024);
  assert_int_equal(wsp_conn_next_deadline(r.c), 200);
  assert_int_equal(wsp_conn_tick(r.c, 199), 0);
  assert_true(r.fa.live_bytes > 1024);
  assert_int_equal(wsp_conn_tick(r.c, 200), 0);
  assert_int_equal(wsp_conn_next_deadline(r.c), WSP_NO_DEADLINE);
  if (r.fa.live_bytes > 1024)
    print_error("idle connection holds %zu bytes in %ld blocks\n",
                r.fa.live_bytes, r.fa.live);
  assert_true(r.fa.live_bytes <= 1024);
  run_end(&r);
  tbuf_free(&in);
}

/* The hooks are really used: a NULL malloc hook is never called through. */
static void test_alloc_hooks_used(void **state) {
  struct tpair p;
  struct tfail fs, fc;
  (void)state;
  tfail_init(&fs, 0, 0);
  tfail_init(&fc, 0, 0);
  tpair_init(&p);
  assert_int_equal(tpair_open(&p, &fs.mem, &fc.mem), 0);
  assert_int_equal(wsp_conn_send(p.cli, WSP_OP_TEXT, "x", 1), 0);
  tpair_pump(&p);
  assert_true(fs.calls > 0);
  assert_true(fc.calls > 0);
  assert_true(fs.live > 0);
  tpair_free(&p);
  assert_int_equal(fs.live, 0);
  assert_int_equal(fc.live, 0);
  assert_int_equal(fs.bad_frees, 0);
  assert_int_equal(fc.bad_frees, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_server_fail_each),
      cmocka_unit_test(test_alloc_server_fail_from_each),
      cmocka_unit_test(test_alloc_server_reject_fail_each),
      cmocka_unit_test(test_alloc_server_defer_fail_each),
      cmocka_unit_test(test_alloc_client_fail_each),
      cmocka_unit_test(test_alloc_client_fail_from_each),
      cmocka_unit_test(test_alloc_idle_connection_budget),
      cmocka_unit_test(test_alloc_hooks_used),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
