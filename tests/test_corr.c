/*
 * Request/response correlation (wsp_corr): ids, exactly-once callbacks on
 * every path, deadline order, re-entrant callbacks, limits, allocation
 * failures, a randomized comparison with a reference model and a large
 * table.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsp/corr.h>

/* ---- Recorder --------------------------------------------------------- */

#define EV_MAX 512

struct ev {
  uint32_t id;
  int status;
  size_t len;
  char data[32];
  void *ud;
};

struct rec {
  struct ev ev[EV_MAX];
  size_t n;
};

/* One request's user_data. */
struct req {
  struct rec *rec;
  uint32_t id;
  int fired;
  int status;
  /* runs inside the callback, after recording */
  void (*hook)(struct wsp_corr *c, struct req *q);
  struct req *other;
  int arg;
};

static void on_done(struct wsp_corr *c, uint32_t id, int status,
                    const void *data, size_t len, void *ud) {
  struct req *q = ud;
  struct ev *e;
  assert_non_null(q);
  assert_int_equal(id, q->id);
  q->fired++;
  q->status = status;
  if (q->rec) {
    assert_true(q->rec->n < EV_MAX);
    e = &q->rec->ev[q->rec->n++];
    e->id = id;
    e->status = status;
    e->len = len;
    e->ud = ud;
    memset(e->data, 0, sizeof(e->data));
    if (len)
      memcpy(e->data, data, len < sizeof(e->data) - 1 ? len
                                                       : sizeof(e->data) - 1);
  }
  if (q->hook)
    q->hook(c, q);
}

static void req_init(struct req *q, struct rec *r) {
  memset(q, 0, sizeof(*q));
  q->rec = r;
}

static void start_ok(struct wsp_corr *c, uint64_t deadline, struct req *q) {
  assert_int_equal(wsp_corr_start(c, deadline, on_done, q, &q->id), 0);
  assert_int_not_equal(q->id, 0);
}

static void check_invariant(struct wsp_corr *c) {
  struct wsp_corr_stats s;
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.started,
                   s.replied + s.timed_out + s.cancelled + wsp_corr_pending(c));
  assert_true(s.peak >= wsp_corr_pending(c));
}

/* ---- Basics ----------------------------------------------------------- */

static void test_corr_new_free_args(void **state) {
  struct wsp_corr *c = (struct wsp_corr *)1;
  struct wsp_corr_stats s;
  uint32_t id;
  (void)state;
  assert_int_equal(wsp_corr_new(NULL, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  assert_non_null(c);
  assert_int_equal(wsp_corr_pending(c), 0);
  assert_true(wsp_corr_next_deadline(c) == WSP_NO_DEADLINE);
  assert_int_equal(wsp_corr_get_max_pending(c), WSP_CORR_DEFAULT_MAX_PENDING);
  assert_int_equal(wsp_corr_start(c, 10, on_done, NULL, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_start(NULL, 10, on_done, NULL, &id),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_complete(c, 1, 0, NULL, 3), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_complete(NULL, 1, 0, NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_cancel(NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_cancel(c, 1), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_cancel_all(c, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_cancel_all(NULL, WSP_ERR_CLOSED), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  assert_int_equal(wsp_corr_tick(NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_tick(c, 1000), 0);
  assert_int_equal(wsp_corr_set_max_pending(c, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_set_max_pending(c, WSP_CORR_MAX_PENDING_LIMIT + 1),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_set_max_pending(NULL, 5), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_set_next_id(c, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_set_next_id(NULL, 5), WSP_ERR_INVAL);
  assert_int_equal(wsp_corr_pending(NULL), 0);
  assert_int_equal(wsp_corr_get_max_pending(NULL), 0);
  assert_true(wsp_corr_next_deadline(NULL) == WSP_NO_DEADLINE);
  memset(&s, 0xff, sizeof(s));
  wsp_corr_get_stats(NULL, &s);
  assert_int_equal(s.started, 0);
  wsp_corr_get_stats(c, NULL);
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.late, 0); /* cancel of an unknown id is not late */
  assert_int_equal(s.reserved[0] | s.reserved[1] | s.reserved[2], 0);
  /* a request without a callback ends silently */
  assert_int_equal(wsp_corr_start(c, WSP_NO_DEADLINE, NULL, NULL, &id), 0);
  assert_int_equal(wsp_corr_complete(c, id, 0, "x", 1), 0);
  assert_int_equal(wsp_corr_pending(c), 0);
  wsp_corr_free(c);
  wsp_corr_free(NULL);
}

/* ---- Ids -------------------------------------------------------------- */

static void test_corr_ids_increase(void **state) {
  struct wsp_corr *c;
  struct req q[8];
  size_t i;
  (void)state;
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  for (i = 0; i < 8; i++) {
    req_init(&q[i], NULL);
    start_ok(c, WSP_NO_DEADLINE, &q[i]);
    assert_int_equal(q[i].id, i + 1);
  }
  /* ending requests does not make their ids come back */
  assert_int_equal(wsp_corr_complete(c, 8, 0, NULL, 0), 0);
  assert_int_equal(wsp_corr_cancel(c, 1), 0);
  start_ok(c, WSP_NO_DEADLINE, &q[0]);
  assert_int_equal(q[0].id, 9);
  assert_int_equal(wsp_corr_pending(c), 7);
  wsp_corr_free(c);
}

static void test_corr_ids_wrap_skipping_pending(void **state) {
  struct wsp_corr *c;
  struct req q[8];
  size_t i;
  (void)state;
  for (i = 0; i < 8; i++)
    req_init(&q[i], NULL);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  /* 1 and 2 stay pending while the counter goes round */
  start_ok(c, WSP_NO_DEADLINE, &q[0]);
  start_ok(c, WSP_NO_DEADLINE, &q[1]);
  assert_int_equal(q[0].id, 1);
  assert_int_equal(q[1].id, 2);
  assert_int_equal(wsp_corr_set_next_id(c, 0xfffffffeu), 0);
  start_ok(c, WSP_NO_DEADLINE, &q[2]);
  start_ok(c, WSP_NO_DEADLINE, &q[3]);
  start_ok(c, WSP_NO_DEADLINE, &q[4]);
  assert_int_equal(q[2].id, 0xfffffffeu);
  assert_int_equal(q[3].id, 0xffffffffu);
  assert_int_equal(q[4].id, 3); /* past 0, 1 and 2 */
  /* a free id at the counter is taken; pending ones after it skipped */
  assert_int_equal(wsp_corr_complete(c, 0xfffffffeu, 0, NULL, 0), 0);
  assert_int_equal(wsp_corr_set_next_id(c, 0xfffffffeu), 0);
  start_ok(c, WSP_NO_DEADLINE, &q[5]);
  start_ok(c, WSP_NO_DEADLINE, &q[6]);
  assert_int_equal(q[5].id, 0xfffffffeu);
  assert_int_equal(q[6].id, 4); /* 0xffffffff, 1, 2, 3 pending */
  assert_int_equal(wsp_corr_set_next_id(c, 2), 0);
  start_ok(c, WSP_NO_DEADLINE, &q[7]);
  assert_int_equal(q[7].id, 5);
  assert_int_equal(wsp_corr_pending(c), 7);
  wsp_corr_free(c);
  for (i = 0; i < 8; i++)
    assert_int_equal(q[i].fired, 1);
}

/* ---- Replies ---------------------------------------------------------- */

static void test_corr_out_of_order_completion(void **state) {
  static const int order[10] = {7, 2, 9, 0, 5, 3, 8, 1, 6, 4};
  struct wsp_corr *c;
  struct rec r;
  struct req q[10];
  struct wsp_corr_stats s;
  char reply[16];
  size_t i;
  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  for (i = 0; i < 10; i++) {
    req_init(&q[i], &r);
    start_ok(c, 1000 + i, &q[i]);
  }
  for (i = 0; i < 10; i++) {
    struct req *t = &q[order[i]];
    int n = snprintf(reply, sizeof(reply), "reply %d", order[i]);
    assert_int_equal(wsp_corr_complete(c, t->id, 0, reply, (size_t)n), 0);
    assert_int_equal(r.n, i + 1);
    assert_int_equal(r.ev[i].id, t->id);
    assert_ptr_equal(r.ev[i].ud, t);
    assert_int_equal(r.ev[i].status, 0);
    assert_string_equal(r.ev[i].data, reply);
    assert_int_equal(wsp_corr_pending(c), 9 - i);
  }
  /* an application error code passes through */
  req_init(&q[0], &r);
  start_ok(c, WSP_NO_DEADLINE, &q[0]);
  assert_int_equal(wsp_corr_complete(c, q[0].id, 103, "denied", 6), 0);
  assert_int_equal(q[0].status, 103);
  assert_string_equal(r.ev[10].data, "denied");
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.started, 11);
  assert_int_equal(s.replied, 11);
  assert_int_equal(s.peak, 10);
  assert_true(wsp_corr_next_deadline(c) == WSP_NO_DEADLINE);
  wsp_corr_free(c);
  for (i = 0; i < 10; i++)
    assert_int_equal(q[i].fired, 1);
}

static void test_corr_late_reply_counted(void **state) {
  struct wsp_corr *c;
  struct req a, b, d;
  struct wsp_corr_stats s;
  (void)state;
  req_init(&a, NULL);
  req_init(&b, NULL);
  req_init(&d, NULL);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  start_ok(c, 100, &a);
  start_ok(c, WSP_NO_DEADLINE, &b);
  start_ok(c, WSP_NO_DEADLINE, &d);
  assert_int_equal(wsp_corr_tick(c, 100), 0);
  assert_int_equal(a.status, WSP_ERR_TIMEOUT);
  assert_int_equal(wsp_corr_complete(c, a.id, 0, "late", 4),
                   WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_cancel(c, b.id), 0);
  assert_int_equal(wsp_corr_complete(c, b.id, 0, NULL, 0), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_complete(c, d.id, 0, NULL, 0), 0);
  assert_int_equal(wsp_corr_complete(c, d.id, 0, NULL, 0), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_complete(c, 0, 0, NULL, 0), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_complete(c, 12345, 0, NULL, 0), WSP_ERR_NOT_FOUND);
  assert_int_equal(a.fired + b.fired + d.fired, 3);
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.late, 5);
  assert_int_equal(s.replied, 1);
  assert_int_equal(s.timed_out, 1);
  assert_int_equal(s.cancelled, 1);
  check_invariant(c);
  wsp_corr_free(c);
}

/* ---- Exactly once ----------------------------------------------------- */

static void test_corr_exactly_once_every_path(void **state) {
  struct wsp_corr *c;
  struct rec r;
  struct req q[7];
  struct wsp_corr_stats s;
  size_t i;
  (void)state;
  memset(&r, 0, sizeof(r));
  for (i = 0; i < 7; i++)
    req_init(&q[i], &r);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  start_ok(c, 50, &q[0]);              /* reply */
  start_ok(c, 50, &q[1]);              /* timeout */
  start_ok(c, 50, &q[2]);              /* cancel */
  start_ok(c, 500, &q[3]);             /* cancel_all */
  start_ok(c, WSP_NO_DEADLINE, &q[4]); /* cancel_all */
  assert_int_equal(wsp_corr_complete(c, q[0].id, 0, "ok", 2), 0);
  assert_int_equal(wsp_corr_cancel(c, q[2].id), 0);
  assert_int_equal(wsp_corr_tick(c, 60), 0);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  start_ok(c, 70, &q[5]);              /* free */
  start_ok(c, WSP_NO_DEADLINE, &q[6]); /* free */
  /* every other path leaves them alone */
  assert_int_equal(wsp_corr_tick(c, 65), 0);
  assert_int_equal(wsp_corr_cancel(c, q[2].id), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_cancel(c, q[3].id), WSP_ERR_NOT_FOUND);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  assert_int_equal(wsp_corr_pending(c), 0);
  assert_int_equal(q[5].status, WSP_ERR_CLOSED);
  assert_int_equal(q[6].status, WSP_ERR_CLOSED);
  req_init(&q[5], &r);
  req_init(&q[6], &r);
  start_ok(c, 70, &q[5]);
  start_ok(c, WSP_NO_DEADLINE, &q[6]);
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.started, 9);
  check_invariant(c);
  wsp_corr_free(c);

  assert_int_equal(q[0].status, 0);
  assert_int_equal(q[1].status, WSP_ERR_TIMEOUT);
  assert_int_equal(q[2].status, WSP_ERR_CANCELLED);
  assert_int_equal(q[3].status, WSP_ERR_CLOSED);
  assert_int_equal(q[4].status, WSP_ERR_CLOSED);
  assert_int_equal(q[5].status, WSP_ERR_CANCELLED);
  assert_int_equal(q[6].status, WSP_ERR_CANCELLED);
  for (i = 0; i < 7; i++)
    assert_int_equal(q[i].fired, 1);
  assert_int_equal(r.n, 9);
  /* cancel_all and free go in start order */
  assert_ptr_equal(r.ev[3].ud, &q[3]);
  assert_ptr_equal(r.ev[4].ud, &q[4]);
  assert_ptr_equal(r.ev[7].ud, &q[5]);
  assert_ptr_equal(r.ev[8].ud, &q[6]);
}

/* ---- Time ------------------------------------------------------------- */

static void test_corr_timeouts_in_deadline_order(void **state) {
  static const uint64_t dl[8] = {50, 10, 30, 10, 20, 30, WSP_NO_DEADLINE, 10};
  static const int first[4] = {1, 3, 7, 4}; /* due at 25 */
  static const int second[3] = {2, 5, 0};   /* due at 100 */
  struct wsp_corr *c;
  struct rec r;
  struct req q[8];
  size_t i;
  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  for (i = 0; i < 8; i++) {
    req_init(&q[i], &r);
    start_ok(c, dl[i], &q[i]);
  }
  assert_int_equal(wsp_corr_next_deadline(c), 10);
  assert_int_equal(wsp_corr_tick(c, 9), 0);
  assert_int_equal(r.n, 0);
  assert_int_equal(wsp_corr_tick(c, 25), 0);
  assert_int_equal(r.n, 4);
  for (i = 0; i < 4; i++) {
    assert_ptr_equal(r.ev[i].ud, &q[first[i]]);
    assert_int_equal(r.ev[i].status, WSP_ERR_TIMEOUT);
  }
  assert_int_equal(wsp_corr_next_deadline(c), 30);
  /* a cancelled request leaves the heap */
  req_init(&q[1], &r);
  start_ok(c, 5, &q[1]);
  assert_int_equal(wsp_corr_next_deadline(c), 5);
  assert_int_equal(wsp_corr_cancel(c, q[1].id), 0);
  assert_int_equal(wsp_corr_next_deadline(c), 30);
  r.n = 0;
  assert_int_equal(wsp_corr_tick(c, 100), 0);
  assert_int_equal(r.n, 3);
  for (i = 0; i < 3; i++)
    assert_ptr_equal(r.ev[i].ud, &q[second[i]]);
  assert_true(wsp_corr_next_deadline(c) == WSP_NO_DEADLINE);
  assert_int_equal(wsp_corr_pending(c), 1); /* the one without deadline */
  assert_int_equal(wsp_corr_tick(c, UINT64_MAX - 1), 0);
  assert_int_equal(q[6].fired, 0);
  /* a deadline in the past fires at the next tick */
  req_init(&q[0], &r);
  start_ok(c, 0, &q[0]);
  assert_int_equal(wsp_corr_next_deadline(c), 0);
  assert_int_equal(wsp_corr_tick(c, 0), 0);
  assert_int_equal(q[0].status, WSP_ERR_TIMEOUT);
  check_invariant(c);
  wsp_corr_free(c);
  assert_int_equal(q[6].status, WSP_ERR_CANCELLED);
}

/* Equal deadlines fire in start order, even after heap reshuffles. */
static void test_corr_equal_deadlines_stable(void **state) {
  struct wsp_corr *c;
  struct rec *r = calloc(1, sizeof(*r));
  struct req *q = calloc(300, sizeof(*q));
  size_t i, j;
  (void)state;
  assert_non_null(r);
  assert_non_null(q);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  for (i = 0; i < 300; i++) {
    req_init(&q[i], r);
    start_ok(c, 1000 + (i % 3) * 10, &q[i]); /* 1000, 1010, 1020, ... */
  }
  for (i = 0; i < 300; i += 7) /* holes all over the heap */
    assert_int_equal(wsp_corr_cancel(c, q[i].id), 0);
  r->n = 0;
  assert_int_equal(wsp_corr_tick(c, 2000), 0);
  j = 0;
  for (int d = 0; d < 3; d++)
    for (i = 0; i < 300; i++)
      if (i % 3 == (size_t)d && i % 7 != 0) {
        assert_true(j < r->n);
        assert_ptr_equal(r->ev[j].ud, &q[i]);
        j++;
      }
  assert_int_equal(j, r->n);
  wsp_corr_free(c);
  free(q);
  free(r);
}

/* ---- Re-entrancy ------------------------------------------------------ */

static void hook_start(struct wsp_corr *c, struct req *q) {
  /* a retry that is already due */
  assert_int_equal(wsp_corr_start(c, 0, on_done, q->other, &q->other->id), 0);
}

static void hook_cancel_other(struct wsp_corr *c, struct req *q) {
  assert_int_equal(wsp_corr_cancel(c, q->other->id), 0);
}

static void hook_complete_other(struct wsp_corr *c, struct req *q) {
  assert_int_equal(wsp_corr_complete(c, q->other->id, 0, "other", 5), 0);
}

static void hook_cancel_all(struct wsp_corr *c, struct req *q) {
  assert_int_equal(wsp_corr_cancel_all(c, q->arg), 0);
}

static void hook_free(struct wsp_corr *c, struct req *q) {
  uint32_t id;
  wsp_corr_free(c);
  wsp_corr_free(c); /* twice is still one free */
  /* the object lives until the outermost call returns */
  assert_int_equal(wsp_corr_start(c, 10, on_done, q, &id), WSP_ERR_STATE);
  if (q->other)
    assert_int_equal(wsp_corr_cancel(c, q->other->id), 0);
}

static void hook_tick(struct wsp_corr *c, struct req *q) {
  assert_int_equal(wsp_corr_tick(c, (uint64_t)q->arg), 0);
}

static void test_corr_reentrant_start_from_callback(void **state) {
  struct wsp_corr *c;
  struct rec r;
  struct req a, b, n1, n2;
  (void)state;
  memset(&r, 0, sizeof(r));
  req_init(&a, &r);
  req_init(&b, &r);
  req_init(&n1, &r);
  req_init(&n2, &r);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  a.hook = hook_start;
  a.other = &n1;
  b.hook = hook_start;
  b.other = &n2;
  start_ok(c, 10, &a);
  start_ok(c, 20, &b);
  assert_int_equal(wsp_corr_tick(c, 20), 0);
  /* both fired; the retries they started wait for the next tick */
  assert_int_equal(r.n, 2);
  assert_int_equal(n1.fired + n2.fired, 0);
  assert_int_equal(wsp_corr_pending(c), 2);
  assert_int_equal(wsp_corr_next_deadline(c), 0);
  assert_int_equal(wsp_corr_tick(c, 20), 0);
  assert_int_equal(n1.status, WSP_ERR_TIMEOUT);
  assert_int_equal(n2.status, WSP_ERR_TIMEOUT);
  /* from a reply callback too */
  req_init(&a, &r);
  req_init(&n1, &r);
  a.hook = hook_start;
  a.other = &n1;
  start_ok(c, WSP_NO_DEADLINE, &a);
  assert_int_equal(wsp_corr_complete(c, a.id, 0, NULL, 0), 0);
  assert_int_equal(wsp_corr_pending(c), 1);
  assert_int_equal(n1.fired, 0);
  /* from cancel_all: the retry stays pending, and so does its own */
  req_init(&a, &r);
  req_init(&n2, &r);
  a.hook = hook_start;
  a.other = &n2;
  start_ok(c, WSP_NO_DEADLINE, &a);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  assert_int_equal(a.status, WSP_ERR_CLOSED);
  assert_int_equal(n1.status, WSP_ERR_CLOSED);
  assert_int_equal(n2.fired, 0);
  assert_int_equal(wsp_corr_pending(c), 1);
  check_invariant(c);
  wsp_corr_free(c);
  assert_int_equal(n1.fired, 1);
  assert_int_equal(n2.status, WSP_ERR_CANCELLED);
}

static void test_corr_reentrant_cancel_other_from_callback(void **state) {
  struct wsp_corr *c;
  struct rec r;
  struct req a, b, d, e;
  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(wsp_corr_new(&c, NULL), 0);

  /* a's timeout cancels b, which the same tick was about to time out */
  req_init(&a, &r);
  req_init(&b, &r);
  a.hook = hook_cancel_other;
  a.other = &b;
  start_ok(c, 10, &a);
  start_ok(c, 10, &b);
  assert_int_equal(wsp_corr_tick(c, 10), 0);
  assert_int_equal(a.fired, 1);
  assert_int_equal(b.fired, 1);
  assert_int_equal(b.status, WSP_ERR_CANCELLED);

  /* ... or completes it */
  req_init(&a, &r);
  req_init(&b, &r);
  a.hook = hook_complete_other;
  a.other = &b;
  start_ok(c, 10, &a);
  start_ok(c, 11, &b);
  assert_int_equal(wsp_corr_tick(c, 11), 0);
  assert_int_equal(b.fired, 1);
  assert_int_equal(b.status, 0);

  /* ... or cancels everything: due, not due and without a deadline */
  req_init(&a, &r);
  req_init(&b, &r);
  req_init(&d, &r);
  req_init(&e, &r);
  a.hook = hook_cancel_all;
  a.arg = WSP_ERR_CLOSED;
  start_ok(c, 10, &a);
  start_ok(c, 10, &b);
  start_ok(c, 99, &d);
  start_ok(c, WSP_NO_DEADLINE, &e);
  assert_int_equal(wsp_corr_tick(c, 10), 0);
  assert_int_equal(a.status, WSP_ERR_TIMEOUT);
  assert_int_equal(b.status, WSP_ERR_CLOSED);
  assert_int_equal(d.status, WSP_ERR_CLOSED);
  assert_int_equal(e.status, WSP_ERR_CLOSED);
  assert_int_equal(a.fired + b.fired + d.fired + e.fired, 4);
  assert_int_equal(wsp_corr_pending(c), 0);

  /* a cancel callback cancels the next one: cancel_all goes on */
  req_init(&a, &r);
  req_init(&b, &r);
  req_init(&d, &r);
  a.hook = hook_cancel_other;
  a.other = &d;
  start_ok(c, 10, &a);
  start_ok(c, 10, &b);
  start_ok(c, 10, &d);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  assert_int_equal(a.status, WSP_ERR_CLOSED);
  assert_int_equal(d.status, WSP_ERR_CANCELLED);
  assert_int_equal(b.status, WSP_ERR_CLOSED);
  assert_int_equal(a.fired + b.fired + d.fired, 3);

  /* a tick inside a tick */
  req_init(&a, &r);
  req_init(&b, &r);
  req_init(&d, &r);
  a.hook = hook_tick;
  a.arg = 50;
  start_ok(c, 10, &a);
  start_ok(c, 10, &b);
  start_ok(c, 40, &d);
  assert_int_equal(wsp_corr_tick(c, 10), 0);
  assert_int_equal(a.fired + b.fired + d.fired, 3);
  assert_int_equal(d.status, WSP_ERR_TIMEOUT);
  check_invariant(c);
  wsp_corr_free(c);
}

static void test_corr_reentrant_free_from_callback(void **state) {
  struct wsp_corr *c;
  struct rec r;
  struct req a, b, d, e, f;
  (void)state;
  memset(&r, 0, sizeof(r));

  /* from a timeout: the tick finishes its due requests, then the free
   * cancels the others, and cancel still works meanwhile */
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  req_init(&a, &r);
  req_init(&b, &r);
  req_init(&d, &r);
  req_init(&e, &r);
  req_init(&f, &r);
  a.hook = hook_free;
  a.other = &f;
  start_ok(c, 10, &a);
  start_ok(c, 10, &b);
  start_ok(c, 30, &d);
  start_ok(c, WSP_NO_DEADLINE, &e);
  start_ok(c, WSP_NO_DEADLINE, &f);
  assert_int_equal(wsp_corr_tick(c, 10), 0);
  assert_int_equal(a.status, WSP_ERR_TIMEOUT);
  assert_int_equal(b.status, WSP_ERR_TIMEOUT);
  assert_int_equal(d.status, WSP_ERR_CANCELLED);
  assert_int_equal(e.status, WSP_ERR_CANCELLED);
  assert_int_equal(f.status, WSP_ERR_CANCELLED);
  assert_int_equal(a.fired + b.fired + d.fired + e.fired + f.fired, 5);

  /* from a reply */
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  req_init(&a, &r);
  req_init(&b, &r);
  a.hook = hook_free;
  start_ok(c, WSP_NO_DEADLINE, &a);
  start_ok(c, 20, &b);
  assert_int_equal(wsp_corr_complete(c, a.id, 0, "x", 1), 0);
  assert_int_equal(a.status, 0);
  assert_int_equal(b.status, WSP_ERR_CANCELLED);
  assert_int_equal(a.fired + b.fired, 2);

  /* from a callback fired by the free itself, and from cancel_all */
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  req_init(&a, &r);
  req_init(&b, &r);
  req_init(&d, &r);
  a.hook = hook_free;
  a.other = &d;
  b.hook = hook_free;
  start_ok(c, WSP_NO_DEADLINE, &a);
  start_ok(c, WSP_NO_DEADLINE, &b);
  start_ok(c, WSP_NO_DEADLINE, &d);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  assert_int_equal(a.status, WSP_ERR_CLOSED);
  assert_int_equal(d.status, WSP_ERR_CANCELLED);
  assert_int_equal(b.status, WSP_ERR_CLOSED);

  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  req_init(&a, &r);
  req_init(&b, &r);
  a.hook = hook_free;
  start_ok(c, WSP_NO_DEADLINE, &a);
  start_ok(c, WSP_NO_DEADLINE, &b);
  wsp_corr_free(c);
  assert_int_equal(a.status, WSP_ERR_CANCELLED);
  assert_int_equal(b.status, WSP_ERR_CANCELLED);
  assert_int_equal(a.fired + b.fired, 2);
}

/* ---- Limits ----------------------------------------------------------- */

static void test_corr_max_pending(void **state) {
  struct wsp_corr *c;
  struct req q[5];
  struct wsp_corr_stats s;
  uint32_t id;
  size_t i;
  (void)state;
  for (i = 0; i < 5; i++)
    req_init(&q[i], NULL);
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  assert_int_equal(wsp_corr_set_max_pending(c, 3), 0);
  assert_int_equal(wsp_corr_get_max_pending(c), 3);
  for (i = 0; i < 3; i++)
    start_ok(c, 10, &q[i]);
  assert_int_equal(wsp_corr_start(c, 10, on_done, &q[3], &id), WSP_ERR_LIMIT);
  assert_int_equal(wsp_corr_start(c, 10, on_done, &q[3], &id), WSP_ERR_LIMIT);
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.refused, 2);
  assert_int_equal(s.started, 3);
  assert_int_equal(wsp_corr_complete(c, q[1].id, 0, NULL, 0), 0);
  start_ok(c, 10, &q[3]);
  assert_int_equal(q[3].id, 4); /* a refused start took no id */
  /* lowering the limit keeps what is pending */
  assert_int_equal(wsp_corr_set_max_pending(c, 1), 0);
  assert_int_equal(wsp_corr_pending(c), 3);
  assert_int_equal(wsp_corr_start(c, 10, on_done, &q[4], &id), WSP_ERR_LIMIT);
  assert_int_equal(wsp_corr_tick(c, 10), 0);
  start_ok(c, 10, &q[4]);
  check_invariant(c);
  wsp_corr_free(c);
  assert_int_equal(q[4].fired, 1);
  for (i = 0; i < 4; i++)
    assert_int_equal(q[i].fired, 1);
}

/* ---- Allocation failures ---------------------------------------------- */

#define AF_REQS 300

/* One run with allocation fail_at failing; returns 1 when it failed one. */
static int alloc_run(long fail_at, int sticky) {
  struct tfail fa;
  struct wsp_corr *c = NULL;
  struct req *q = calloc(AF_REQS, sizeof(*q));
  int started[AF_REQS];
  struct wsp_corr_stats s0, s1;
  uint32_t expect_id = 1;
  size_t i, pending = 0, n_started = 0;
  int rc;

  assert_non_null(q);
  tfail_init(&fa, fail_at, sticky);
  rc = wsp_corr_new(&c, &fa.mem);
  if (rc != 0) {
    assert_int_equal(rc, WSP_ERR_NOMEM);
    assert_null(c);
    assert_int_equal(fa.live, 0);
    free(q);
    return 1;
  }
  for (int round = 0; round < 2; round++) {
    for (i = 0; i < AF_REQS; i++) {
      req_init(&q[i], NULL);
      started[i] = 0;
      wsp_corr_get_stats(c, &s0);
      rc = wsp_corr_start(c, i % 5 ? 100 + i % 17 : WSP_NO_DEADLINE, on_done,
                          &q[i], &q[i].id);
      wsp_corr_get_stats(c, &s1);
      if (rc == 0) {
        assert_int_equal(q[i].id, expect_id);
        expect_id++;
        started[i] = 1;
        pending++;
        n_started++;
      } else {
        /* nothing changed: no id used, no count, no entry */
        assert_int_equal(rc, WSP_ERR_NOMEM);
        assert_memory_equal(&s0, &s1, sizeof(s0));
      }
      assert_int_equal(wsp_corr_pending(c), pending);
    }
    /* end them every way; none fires twice, failed ones never fire */
    for (i = 0; i < AF_REQS; i += 3)
      if (started[i]) {
        assert_int_equal(wsp_corr_complete(c, q[i].id, 0, "r", 1), 0);
        pending--;
      }
    for (i = 1; i < AF_REQS; i += 7)
      if (started[i] && !q[i].fired) {
        assert_int_equal(wsp_corr_cancel(c, q[i].id), 0);
        pending--;
      }
    assert_int_equal(wsp_corr_tick(c, 108), 0);
    for (i = 0; i < AF_REQS; i++)
      if (started[i] && q[i].fired)
        assert_int_equal(q[i].fired, 1);
    if (round == 0) {
      assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
      for (i = 0; i < AF_REQS; i++)
        assert_int_equal(q[i].fired, started[i]);
      pending = 0;
    }
  }
  check_invariant(c);
  wsp_corr_free(c);
  for (i = 0; i < AF_REQS; i++)
    assert_int_equal(q[i].fired, started[i]);
  assert_int_equal(fa.live, 0);
  assert_int_equal(fa.live_bytes, 0);
  assert_int_equal(fa.bad_frees, 0);
  free(q);
  (void)n_started;
  return fa.failures > 0;
}

static void test_corr_alloc_failures(void **state) {
  long n;
  int sticky;
  (void)state;
  for (sticky = 0; sticky <= 1; sticky++) {
    for (n = 1; n < 1000; n++)
      if (!alloc_run(n, sticky))
        break;
    assert_true(n > 3 && n < 1000); /* several allocations on the path */
  }
}

/* ---- Randomized comparison with a reference model --------------------- */

struct mreq {
  uint32_t id;
  uint64_t deadline; /* start order is the index */
  int live;
  int fired;
};

struct model {
  struct mreq *r; /* every request ever started, in start order */
  size_t n;
  size_t *live; /* indexes of the pending ones, unordered */
  size_t nlive;
  uint32_t next_id;
  size_t *expect; /* the callbacks expected, in order */
  size_t nexpect, iexpect;
  int expect_status;
  const char *expect_data;
  struct wsp_corr_stats stats;
  uint64_t rng;
};

/* Each request's user_data. */
struct mud {
  struct model *m;
  size_t k;
};

static uint32_t rnd(struct model *m) {
  m->rng ^= m->rng << 13;
  m->rng ^= m->rng >> 7;
  m->rng ^= m->rng << 17;
  return (uint32_t)(m->rng >> 16);
}

static void model_cb(struct wsp_corr *c, uint32_t id, int status,
                     const void *data, size_t len, void *ud) {
  const struct mud *u = ud;
  struct model *m = u->m;
  size_t k;
  (void)c;
  assert_true(m->iexpect < m->nexpect);
  k = m->expect[m->iexpect++];
  assert_int_equal(u->k, k);
  assert_int_equal(m->r[k].id, id);
  assert_int_equal(m->r[k].fired, 0);
  m->r[k].fired = 1;
  assert_int_equal(status, m->expect_status);
  if (m->expect_data) {
    assert_int_equal(len, strlen(m->expect_data));
    assert_memory_equal(data, m->expect_data, len);
  } else {
    assert_int_equal(len, 0);
  }
}

static const struct model *cmp_model;

static int cmp_deadline(const void *a, const void *b) {
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  uint64_t x = cmp_model->r[i].deadline, y = cmp_model->r[j].deadline;
  if (x != y)
    return x < y ? -1 : 1;
  return i < j ? -1 : i > j;
}

static int cmp_index(const void *a, const void *b) {
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  return i < j ? -1 : i > j;
}

/* Position in m->live of the pending request with this id, or -1. */
static long model_find(const struct model *m, uint32_t id) {
  size_t i;
  for (i = 0; i < m->nlive; i++)
    if (m->r[m->live[i]].id == id)
      return (long)i;
  return -1;
}

/* End the pending request at m->live[pos]; it is expected to fire next. */
static void model_end(struct model *m, size_t pos) {
  size_t k = m->live[pos];
  m->expect[m->nexpect++] = k;
  m->r[k].live = 0;
  m->live[pos] = m->live[--m->nlive];
}

/* End every pending request for which due() holds, in the given order. */
static void model_end_all(struct model *m, uint64_t now, int by_deadline) {
  size_t i, first = m->nexpect;
  for (i = 0; i < m->nlive;) {
    if (!by_deadline || m->r[m->live[i]].deadline <= now)
      model_end(m, i);
    else
      i++;
  }
  cmp_model = m;
  qsort(m->expect + first, m->nexpect - first, sizeof(*m->expect),
        by_deadline ? cmp_deadline : cmp_index);
}

static void model_check(struct model *m, struct wsp_corr *c) {
  struct wsp_corr_stats s;
  uint64_t next = WSP_NO_DEADLINE;
  size_t i;
  for (i = 0; i < m->nlive; i++)
    if (m->r[m->live[i]].deadline < next)
      next = m->r[m->live[i]].deadline;
  assert_int_equal(wsp_corr_pending(c), m->nlive);
  assert_true(wsp_corr_next_deadline(c) == next);
  assert_int_equal(m->iexpect, m->nexpect);
  wsp_corr_get_stats(c, &s);
  assert_memory_equal(&s, &m->stats, sizeof(s));
}

static void test_corr_random_model(void **state) {
  const size_t nops = 60000, max_pending = 1500;
  struct tfail fa;
  struct wsp_corr *c;
  struct model m;
  struct mud *ud;
  uint64_t now = 1000;
  size_t step, k;
  long pos, released = 0;
  (void)state;
  memset(&m, 0, sizeof(m));
  m.rng = 0x9e3779b97f4a7c15ull;
  m.r = calloc(nops, sizeof(*m.r));
  m.live = calloc(nops, sizeof(*m.live));
  m.expect = calloc(nops, sizeof(*m.expect));
  ud = calloc(nops, sizeof(*ud));
  assert_non_null(m.r);
  assert_non_null(m.live);
  assert_non_null(m.expect);
  assert_non_null(ud);
  tfail_init(&fa, 0, 0);
  assert_int_equal(wsp_corr_new(&c, &fa.mem), 0);
  /* start near the top so that ids wrap during the run */
  m.next_id = 0xffffffffu - 700;
  assert_int_equal(wsp_corr_set_next_id(c, m.next_id), 0);
  assert_int_equal(wsp_corr_set_max_pending(c, max_pending), 0);

  for (step = 0; step < nops; step++) {
    /* phases: many long requests piling up, then short ones */
    int piling = (step / 6000) % 2 == 0;
    uint32_t op = rnd(&m) % 100, id;
    int rc;
    m.nexpect = m.iexpect = 0;
    m.expect_data = NULL;
    if (op < (piling ? 65u : 30u)) {
      uint64_t dl = rnd(&m) % 8 == 0 ? WSP_NO_DEADLINE
                                     : now + rnd(&m) % (piling ? 20000 : 200);
      k = m.n;
      ud[k].m = &m;
      ud[k].k = k;
      rc = wsp_corr_start(c, dl, model_cb, &ud[k], &id);
      if (m.nlive >= max_pending) {
        assert_int_equal(rc, WSP_ERR_LIMIT);
        m.stats.refused++;
      } else {
        uint32_t want = m.next_id;
        while (model_find(&m, want) >= 0)
          want = want == UINT32_MAX ? 1 : want + 1;
        m.next_id = want == UINT32_MAX ? 1 : want + 1;
        assert_int_equal(rc, 0);
        assert_int_equal(id, want);
        m.r[k].id = id;
        m.r[k].deadline = dl;
        m.r[k].live = 1;
        m.live[m.nlive++] = k;
        m.n++;
        m.stats.started++;
        if (m.nlive > m.stats.peak)
          m.stats.peak = m.nlive;
      }
    } else if (op < 75) {
      /* complete: a pending id, a finished one or a bogus one */
      int status = rnd(&m) % 4 == 0 ? -(int)(rnd(&m) % 300) - 1 : 0;
      if (m.nlive && rnd(&m) % 2)
        id = m.r[m.live[rnd(&m) % m.nlive]].id;
      else if (m.n && rnd(&m) % 2)
        id = m.r[rnd(&m) % m.n].id;
      else
        id = rnd(&m);
      m.expect_status = status;
      m.expect_data = "reply";
      pos = model_find(&m, id);
      if (pos >= 0) {
        model_end(&m, (size_t)pos);
        m.stats.replied++;
        assert_int_equal(wsp_corr_complete(c, id, status, "reply", 5), 0);
      } else {
        m.stats.late++;
        assert_int_equal(wsp_corr_complete(c, id, status, "reply", 5),
                         WSP_ERR_NOT_FOUND);
      }
    } else if (op < 85) {
      if (m.nlive && rnd(&m) % 2)
        id = m.r[m.live[rnd(&m) % m.nlive]].id;
      else
        id = m.n ? m.r[rnd(&m) % m.n].id : rnd(&m);
      m.expect_status = WSP_ERR_CANCELLED;
      pos = model_find(&m, id);
      if (pos >= 0) {
        model_end(&m, (size_t)pos);
        m.stats.cancelled++;
        assert_int_equal(wsp_corr_cancel(c, id), 0);
      } else {
        assert_int_equal(wsp_corr_cancel(c, id), WSP_ERR_NOT_FOUND);
      }
    } else if (op < 99) {
      now += rnd(&m) % 40;
      model_end_all(&m, now, 1);
      m.stats.timed_out += m.nexpect;
      m.expect_status = WSP_ERR_TIMEOUT;
      assert_int_equal(wsp_corr_tick(c, now), 0);
    } else if (rnd(&m) % 40 == 0) {
      model_end_all(&m, now, 0);
      m.stats.cancelled += m.nexpect;
      m.expect_status = WSP_ERR_CLOSED;
      assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
    }
    model_check(&m, c);
    if (m.nlive == 0 && fa.live == 1)
      released++; /* the table gave its arrays back */
  }
  /* free: the rest in start order */
  m.nexpect = m.iexpect = 0;
  m.expect_data = NULL;
  m.expect_status = WSP_ERR_CANCELLED;
  model_end_all(&m, now, 0);
  wsp_corr_free(c);
  assert_int_equal(m.iexpect, m.nexpect);
  for (k = 0; k < m.n; k++)
    assert_int_equal(m.r[k].fired, 1);
  assert_true(m.stats.peak == max_pending); /* the limit was reached */
  assert_true(m.stats.refused > 0);
  assert_true(released > 0);
  assert_true(m.next_id < 0xffffffffu - 700); /* the ids wrapped */
  assert_int_equal(fa.live, 0);
  assert_int_equal(fa.bad_frees, 0);
  free(m.r);
  free(m.live);
  free(m.expect);
  free(ud);
}

/* ---- Randomized re-entrant callbacks ----------------------------------- */

/* Callbacks that start, complete, cancel, tick, cancel everything and free
 * at random, from any depth. What must hold whatever happens: each started
 * request fires exactly once with its own id, the counters add up, and
 * nothing leaks. */
struct rr {
  struct wsp_corr *c;
  struct tfail fa;
  uint64_t rng;
  uint32_t *ids;
  int *fired;
  size_t n, cap;
  uint64_t now;
  unsigned depth;
  int freed;
};

static struct rr *rr_cur;

static uint32_t rr_rnd(struct rr *r) {
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  return (uint32_t)(r->rng >> 16);
}

static void rr_op(struct rr *r);

static void rr_cb(struct wsp_corr *c, uint32_t id, int status,
                  const void *data, size_t len, void *ud) {
  struct rr *r = rr_cur;
  size_t k = (size_t)(uintptr_t)ud;
  unsigned i, nops;
  (void)status;
  (void)data;
  (void)len;
  assert_ptr_equal(c, r->c);
  assert_true(k < r->n);
  assert_int_equal(r->ids[k], id);
  assert_int_equal(r->fired[k], 0);
  r->fired[k] = 1;
  if (r->depth >= 6)
    return;
  r->depth++;
  nops = rr_rnd(r) % 3;
  for (i = 0; i < nops; i++)
    rr_op(r);
  r->depth--;
}

static uint32_t rr_some_id(struct rr *r) {
  return r->n && rr_rnd(r) % 8 ? r->ids[rr_rnd(r) % r->n] : rr_rnd(r) % 64;
}

static void rr_op(struct rr *r) {
  uint32_t op = rr_rnd(r) % 1000, id;
  int rc;
  if (op < 450) {
    uint64_t dl = rr_rnd(r) % 6 == 0 ? WSP_NO_DEADLINE
                                     : r->now + rr_rnd(r) % 60 - 10;
    assert_true(r->n < r->cap);
    rc = wsp_corr_start(r->c, dl, rr_cb, (void *)(uintptr_t)r->n, &id);
    if (rc == 0)
      r->ids[r->n++] = id;
    else if (rc == WSP_ERR_STATE)
      assert_true(r->freed);
    else
      assert_int_equal(rc, WSP_ERR_LIMIT);
  } else if (op < 650) {
    rc = wsp_corr_complete(r->c, rr_some_id(r), (int)(rr_rnd(r) % 3), "d", 1);
    assert_true(rc == 0 || rc == WSP_ERR_NOT_FOUND);
  } else if (op < 800) {
    rc = wsp_corr_cancel(r->c, rr_some_id(r));
    assert_true(rc == 0 || rc == WSP_ERR_NOT_FOUND);
  } else if (op < 990) {
    r->now += rr_rnd(r) % 8;
    assert_int_equal(wsp_corr_tick(r->c, r->now), 0);
  } else if (op < 998) {
    assert_int_equal(wsp_corr_cancel_all(r->c, WSP_ERR_CLOSED), 0);
  } else if (r->depth > 0) {
    /* a free from the top level would end the run: only from callbacks */
    wsp_corr_free(r->c);
    r->freed = 1;
  }
}

static void test_corr_random_reentrant(void **state) {
  const size_t steps = 4000;
  struct rr r;
  struct wsp_corr_stats s;
  unsigned seed;
  size_t step, k, nfreed = 0;
  (void)state;
  for (seed = 1; seed <= 30; seed++) {
    memset(&r, 0, sizeof(r));
    rr_cur = &r;
    r.rng = 0x2545f4914f6cdd1dull * seed;
    r.cap = 200000;
    r.ids = calloc(r.cap, sizeof(*r.ids));
    r.fired = calloc(r.cap, sizeof(*r.fired));
    assert_non_null(r.ids);
    assert_non_null(r.fired);
    tfail_init(&r.fa, 0, 0);
    assert_int_equal(wsp_corr_new(&r.c, &r.fa.mem), 0);
    assert_int_equal(wsp_corr_set_max_pending(r.c, 64 + seed * 40), 0);
    assert_int_equal(wsp_corr_set_next_id(r.c, 0xffffffffu - seed * 10), 0);
    for (step = 0; step < steps && !r.freed; step++) {
      rr_op(&r);
      if (!r.freed) {
        check_invariant(r.c);
        wsp_corr_get_stats(r.c, &s);
        assert_int_equal(s.started, r.n);
      }
    }
    if (r.freed)
      nfreed++;
    else
      wsp_corr_free(r.c);
    for (k = 0; k < r.n; k++)
      assert_int_equal(r.fired[k], 1);
    assert_int_equal(r.fa.live, 0);
    assert_int_equal(r.fa.bad_frees, 0);
    free(r.ids);
    free(r.fired);
  }
  assert_true(nfreed > 0); /* some runs ended by a free from a callback */
  rr_cur = NULL;
}

/* ---- Scale ------------------------------------------------------------ */

struct big {
  uint64_t fired, bad;
  uint64_t last_deadline;
};

static void big_cb(struct wsp_corr *c, uint32_t id, int status,
                   const void *data, size_t len, void *ud) {
  struct big *b = ud;
  uint64_t dl = 1000 + (uint64_t)(id * 2654435761u % 100000u);
  (void)c;
  (void)data;
  (void)len;
  b->fired++;
  /* deadlines are derived from the id: they must come in order */
  if (status != WSP_ERR_TIMEOUT || dl < b->last_deadline)
    b->bad++;
  b->last_deadline = dl;
}

/* A long run at a steady number of pending requests: memory stays flat
 * whatever path ends them. */
static void test_corr_steady_memory_bounded(void **state) {
  struct tfail fa;
  struct wsp_corr *c;
  struct req keep, tmp;
  size_t peak_after_warmup = 0;
  uint32_t ids[8];
  uint64_t now;
  int i;
  (void)state;
  tfail_init(&fa, 0, 0);
  req_init(&keep, NULL);
  req_init(&tmp, NULL);
  assert_int_equal(wsp_corr_new(&c, &fa.mem), 0);
  start_ok(c, WSP_NO_DEADLINE, &keep); /* the table never empties */
  for (now = 0; now < 200000; now++) {
    for (i = 0; i < 8; i++)
      assert_int_equal(wsp_corr_start(c, now + (uint64_t)(i % 3), NULL, NULL,
                                      &ids[i]),
                       0);
    assert_int_equal(wsp_corr_complete(c, ids[1], 0, NULL, 0), 0);
    assert_int_equal(wsp_corr_cancel(c, ids[4]), 0);
    assert_int_equal(wsp_corr_tick(c, now + 2), 0);
    assert_int_equal(wsp_corr_pending(c), 1);
    if (now == 100)
      peak_after_warmup = fa.peak_bytes;
  }
  assert_int_equal(fa.peak_bytes, peak_after_warmup);
  assert_true(fa.peak_bytes < 8192);
  wsp_corr_free(c);
  assert_int_equal(keep.fired, 1);
  assert_int_equal(fa.live, 0);
}

static void test_corr_100k_pending(void **state) {
  const uint32_t n = 100000;
  struct wsp_corr *c;
  struct big b;
  struct wsp_corr_stats s;
  uint64_t now;
  uint32_t i, id;
  int ticks = 0;
  (void)state;
  memset(&b, 0, sizeof(b));
  assert_int_equal(wsp_corr_new(&c, NULL), 0);
  assert_int_equal(wsp_corr_set_max_pending(c, n), 0);
  for (i = 1; i <= n; i++) {
    assert_int_equal(wsp_corr_start(c, 1000 + (uint64_t)(i * 2654435761u %
                                                         100000u),
                                    big_cb, &b, &id),
                     0);
    assert_int_equal(id, i);
  }
  assert_int_equal(wsp_corr_pending(c), n);
  /* a quarter replied, out of order */
  for (i = 1; i <= n; i += 4)
    assert_int_equal(wsp_corr_complete(c, i, 0, NULL, 0), 0);
  b.fired = 0;
  b.bad = 0;
  b.last_deadline = 0;
  /* time passes in steps of 997 ms */
  for (now = 0; wsp_corr_pending(c) > 0 && ticks < 1000; now += 997, ticks++)
    assert_int_equal(wsp_corr_tick(c, now), 0);
  assert_int_equal(b.fired, n - n / 4);
  assert_int_equal(b.bad, 0);
  wsp_corr_get_stats(c, &s);
  assert_int_equal(s.timed_out, n - n / 4);
  assert_int_equal(s.peak, n);
  assert_true(wsp_corr_next_deadline(c) == WSP_NO_DEADLINE);
  /* and again after the table gave its memory back */
  for (i = 0; i < n; i++)
    assert_int_equal(wsp_corr_start(c, WSP_NO_DEADLINE, NULL, NULL, &id), 0);
  assert_int_equal(wsp_corr_pending(c), n);
  assert_int_equal(wsp_corr_cancel_all(c, WSP_ERR_CLOSED), 0);
  assert_int_equal(wsp_corr_pending(c), 0);
  wsp_corr_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corr_new_free_args),
      cmocka_unit_test(test_corr_ids_increase),
      cmocka_unit_test(test_corr_ids_wrap_skipping_pending),
      cmocka_unit_test(test_corr_out_of_order_completion),
      cmocka_unit_test(test_corr_late_reply_counted),
      cmocka_unit_test(test_corr_exactly_once_every_path),
      cmocka_unit_test(test_corr_timeouts_in_deadline_order),
      cmocka_unit_test(test_corr_equal_deadlines_stable),
      cmocka_unit_test(test_corr_reentrant_start_from_callback),
      cmocka_unit_test(test_corr_reentrant_cancel_other_from_callback),
      cmocka_unit_test(test_corr_reentrant_free_from_callback),
      cmocka_unit_test(test_corr_max_pending),
      cmocka_unit_test(test_corr_alloc_failures),
      cmocka_unit_test(test_corr_random_model),
      cmocka_unit_test(test_corr_random_reentrant),
      cmocka_unit_test(test_corr_steady_memory_bounded),
      cmocka_unit_test(test_corr_100k_pending),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
