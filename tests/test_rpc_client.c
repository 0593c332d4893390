/*
 * The client role of RPC against the hub, joined in memory: calls made
 * before the connection opens, replies out of order, errors, timeouts,
 * server pings answered, pushes, and every pending call failing exactly
 * once when the connection ends; subscriptions with history recover
 * exactly what a client missed while it was away.
 */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "wsp/evlog.h"
#include "wsp/rpc_client.h"
#include "wsp/server.h"

struct t {
  struct wsp_server *srv;
  struct wsp_client *sc;
  struct wsp_rpc_client *rc;
  uint64_t held[4];
  int nheld;
  char cid[64];
  int disconnected, disc_code;
  char pushed[64];
};

struct result {
  int fired, status;
  char data[128];
};

static struct t *T;

static void m_echo(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)ud;
  assert_int_equal(wsp_rpc_reply(T->srv, call, d, n), 0);
}

static void m_hold(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)d;
  (void)n;
  (void)ud;
  T->held[T->nheld++] = call;
}

static void m_fail(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)d;
  (void)n;
  (void)ud;
  assert_int_equal(wsp_rpc_error(T->srv, call, 1000, "fail", 0), 0);
}

static void on_send(struct wsp_client *cl, const uint8_t *d, size_t n,
                    void *ud) {
  (void)ud;
  wsp_client_push_message(cl, d, n);
}

static void got(struct wsp_rpc_client *rc, int status, const uint8_t *d,
                size_t n, void *ud) {
  struct result *r = ud;
  (void)rc;
  r->fired++;
  r->status = status;
  snprintf(r->data, sizeof(r->data), "%.*s", (int)n, (const char *)d);
}

static void on_connected(struct wsp_rpc_client *rc, const char *id,
                         void *ud) {
  struct t *t = ud;
  (void)rc;
  snprintf(t->cid, sizeof(t->cid), "%s", id);
}

static void on_message(struct wsp_rpc_client *rc, const uint8_t *d, size_t n,
                       void *ud) {
  struct t *t = ud;
  (void)rc;
  snprintf(t->pushed, sizeof(t->pushed), "%.*s", (int)n, (const char *)d);
}

static void on_disconnected(struct wsp_rpc_client *rc, int code, void *ud) {
  struct t *t = ud;
  (void)rc;
  t->disconnected++;
  t->disc_code = code;
}

static void pump(struct t *t) {
  static uint8_t tmp[1 << 16];
  struct iovec iov[16];
  int round;
  for (round = 0; round < 100; round++) {
    size_t n = 0;
    int k, i, any = 0;
    k = wsp_rpc_client_pending(t->rc, iov, 16);
    for (i = 0; i < k && n + iov[i].iov_len <= sizeof(tmp); i++) {
      memcpy(tmp + n, iov[i].iov_base, iov[i].iov_len);
      n += iov[i].iov_len;
    }
    if (n) {
      wsp_rpc_client_sent(t->rc, n);
      wsp_client_recv(t->sc, tmp, n);
      any = 1;
    }
    n = 0;
    k = wsp_client_pending(t->sc, iov, 16);
    for (i = 0; i < k && n + iov[i].iov_len <= sizeof(tmp); i++) {
      memcpy(tmp + n, iov[i].iov_base, iov[i].iov_len);
      n += iov[i].iov_len;
    }
    if (n) {
      wsp_client_sent(t->sc, n);
      wsp_rpc_client_recv(t->rc, tmp, n);
      any = 1;
    }
    if (!any)
      return;
  }
}

static void t_open(struct t *t) {
  struct wsp_server_callbacks scb;
  struct wsp_rpc_client_callbacks ccb;
  memset(t, 0, sizeof(*t));
  T = t;
  memset(&scb, 0, sizeof(scb));
  scb.on_send = on_send;
  assert_int_equal(wsp_server_new(&t->srv, &scb, NULL, 0, t), 0);
  wsp_rpc_register(t->srv, "echo", m_echo, NULL);
  wsp_rpc_register(t->srv, "hold", m_hold, NULL);
  wsp_rpc_register(t->srv, "fail", m_fail, NULL);
  assert_int_equal(wsp_server_accept(t->srv, NULL, &t->sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_connected = on_connected;
  ccb.on_message = on_message;
  ccb.on_disconnected = on_disconnected;
  assert_int_equal(wsp_rpc_client_new(&t->rc, &ccb, NULL, 0, t), 0);
  assert_int_equal(wsp_rpc_client_start(t->rc, "t", "/connection/websocket",
                                        "{\"user\":\"ann\"}", "tok"),
                   0);
}

static void t_free(struct t *t) {
  wsp_rpc_client_free(t->rc);
  wsp_client_free(t->sc);
  wsp_server_free(t->srv);
}

static void test_rpc_client_calls(void **state) {
  struct t t;
  struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
  (void)state;
  t_open(&t);
  /* made before the connection opens: they follow the connect command */
  assert_int_equal(wsp_rpc_client_call(t.rc, "echo", "{\"x\":1}", 7, 0, got,
                                       &a),
                   0);
  assert_int_equal(wsp_rpc_client_call(t.rc, "hold", NULL, 0, 0, got, &b), 0);
  assert_int_equal(wsp_rpc_client_call(t.rc, "hold", "2", 1, 0, got, &c), 0);
  pump(&t);
  assert_int_equal(strlen(t.cid), 36);
  assert_string_equal(t.cid, wsp_client_get_id(t.sc));
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.status, 0);
  assert_string_equal(a.data, "{\"x\":1}");
  /* answered out of order */
  assert_int_equal(t.nheld, 2);
  assert_int_equal(wsp_rpc_reply(t.srv, t.held[1], "\"second\"", 8), 0);
  pump(&t);
  assert_int_equal(c.fired, 1);
  assert_string_equal(c.data, "\"second\"");
  assert_int_equal(b.fired, 0);
  assert_int_equal(wsp_rpc_reply(t.srv, t.held[0], NULL, 0), 0);
  pump(&t);
  assert_int_equal(b.fired, 1);
  assert_int_equal(b.status, 0);
  assert_string_equal(b.data, "");
  /* errors */
  wsp_rpc_client_call(t.rc, "fail", NULL, 0, 0, got, &d);
  wsp_rpc_client_call(t.rc, "nope", NULL, 0, 0, got, &e);
  pump(&t);
  assert_int_equal(d.status, 1000);
  assert_string_equal(d.data, "fail");
  assert_int_equal(e.status, 104);
  assert_int_equal(wsp_rpc_client_call(t.rc, "echo", "{bad", 4, 0, got, &e),
                   WSP_ERR_JSON);
  assert_int_equal(e.fired, 1);
  /* send → message push back */
  assert_int_equal(wsp_rpc_client_send(t.rc, "[1,2]", 5), 0);
  pump(&t);
  assert_string_equal(t.pushed, "[1,2]");
  t_free(&t);
}

static void test_rpc_client_timeout_ping_and_close(void **state) {
  struct t t;
  struct result a = {0}, b = {0};
  uint64_t d;
  (void)state;
  t_open(&t);
  /* the held call must outlive the pings below on the server side */
  assert_int_equal(wsp_server_set_limit(t.srv, WSP_SERVER_RPC_TIMEOUT, 0), 0);
  pump(&t);
  assert_int_equal(wsp_rpc_client_call(t.rc, "hold", NULL, 0, 100, got, &a),
                   0);
  assert_int_equal(wsp_rpc_client_call(t.rc, "hold", NULL, 0, 0, got, &b), 0);
  pump(&t);
  assert_int_equal(wsp_rpc_client_next_deadline(t.rc), 100);
  wsp_rpc_client_tick(t.rc, 100);
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.status, WSP_ERR_TIMEOUT);
  /* the late reply from the server is ignored */
  assert_int_equal(wsp_rpc_reply(t.srv, t.held[0], "1", 1), 0);
  pump(&t);
  assert_int_equal(a.fired, 1);
  /* server pings are answered: no 3012 across three intervals */
  for (int i = 0; i < 3; i++) {
    d = wsp_server_next_deadline(t.srv);
    wsp_server_tick(t.srv, d);
    pump(&t);
  }
  assert_int_equal(t.disconnected, 0);
  /* the server goes: the pending call fails once, with WSP_ERR_CLOSED */
  assert_int_equal(wsp_client_disconnect(t.sc, 3001, "shutdown"), 0);
  pump(&t);
  assert_int_equal(b.fired, 1);
  assert_int_equal(b.status, WSP_ERR_CLOSED);
  assert_int_equal(t.disconnected, 1);
  assert_int_equal(t.disc_code, 3001);
  assert_int_equal(wsp_rpc_client_call(t.rc, "echo", NULL, 0, 0, got, &a),
                   WSP_ERR_CLOSED);
  t_free(&t);
}

static void test_rpc_client_free_cancels(void **state) {
  struct t t;
  struct result a = {0};
  (void)state;
  t_open(&t);
  pump(&t);
  wsp_rpc_client_call(t.rc, "hold", NULL, 0, 0, got, &a);
  pump(&t);
  wsp_rpc_client_free(t.rc);
  t.rc = NULL;
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.status, WSP_ERR_CANCELLED);
  t_free(&t);
}

/* ---- Subscriptions against the hub, with history ---------------------- */

struct subrec {
  char log[2048];
  struct wsp_rpc_client_pos last; /* from on_unsubscribed */
  char epoch[WSP_RPC_CLIENT_EPOCH_MAX + 1];
  int subscribed, recovered, ended;
};

static void s_subscribed(struct wsp_rpc_client *rc,
                         const struct wsp_rpc_client_subscribed *s, void *ud) {
  struct subrec *r = ud;
  (void)rc;
  r->subscribed++;
  r->recovered = s->recovered;
  assert_true(s->recoverable && s->positioned);
  assert_int_equal(strlen(s->pos.epoch), WSP_EVLOG_EPOCH_LEN);
  memcpy(r->epoch, s->pos.epoch, sizeof(r->epoch));
}

static void s_pub(struct wsp_rpc_client *rc, const struct wsp_rpc_client_pub *p,
                  void *ud) {
  struct subrec *r = ud;
  size_t n = strlen(r->log);
  (void)rc;
  snprintf(r->log + n, sizeof(r->log) - n, "%.*s@%llu%s ", (int)p->data.len,
           p->data.ptr, (unsigned long long)p->offset, p->recovered ? "r" : "");
}

static void s_unsub(struct wsp_rpc_client *rc,
                    const struct wsp_rpc_client_unsubscribed *u, void *ud) {
  struct subrec *r = ud;
  (void)rc;
  r->ended++;
  r->last = u->pos;
}

static void w_pub(struct wsp_rpc_client *rc, const struct wsp_rpc_client_pub *p,
                  void *ud) {
  struct subrec *r = ud;
  size_t n = strlen(r->log);
  (void)rc;
  snprintf(r->log + n, sizeof(r->log) - n, "%s:%s:%.*s ", p->channel,
           p->pub_channel, (int)p->data.len, p->data.ptr);
}

static void hub_publish(struct t *t, int from, int n) {
  char d[16];
  for (int i = from; i < from + n; i++) {
    snprintf(d, sizeof(d), "%d", i);
    assert_true(wsp_server_publish(t->srv, "feed", d, strlen(d), NULL) >= 0);
  }
}

/* A new client of the same hub, connected and with nothing pending. */
static void reconnect(struct t *t) {
  struct wsp_rpc_client_callbacks ccb;
  wsp_rpc_client_free(t->rc);
  wsp_client_free(t->sc);
  assert_int_equal(wsp_server_accept(t->srv, NULL, &t->sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_disconnected = on_disconnected;
  assert_int_equal(wsp_rpc_client_new(&t->rc, &ccb, NULL, 0, t), 0);
  assert_int_equal(
      wsp_rpc_client_start(t->rc, "t", "/connection/websocket", NULL, NULL), 0);
}

static void test_rpc_client_subscribe_recovers(void **state) {
  static const struct wsp_rpc_client_sub_callbacks cb = {
      s_subscribed, s_pub, NULL, NULL, s_unsub, {0}};
  struct wsp_rpc_client_sub_opts o;
  struct wsp_server_history hs;
  struct wsp_evlog *log;
  struct subrec r;
  struct result a = {0}, h = {0};
  char want[256];
  struct t t;
  (void)state;
  t_open(&t);
  assert_int_equal(wsp_evlog_new(&log, NULL, 0), 0);
  memset(&hs, 0, sizeof(hs));
  hs.log = log;
  hs.retention.max_events = 20;
  assert_int_equal(wsp_server_set_history(t.srv, &hs), 0);
  assert_int_equal(wsp_server_set_channel_flags(t.srv, WSP_CHANNEL_PUBLISH), 0);
  memset(&r, 0, sizeof(r));
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "feed", NULL, &cb, &r), 0);
  pump(&t);
  assert_int_equal(r.subscribed, 1);
  hub_publish(&t, 1, 3);
  /* a publication of the client's own, acknowledged */
  assert_int_equal(wsp_rpc_client_publish(t.rc, "feed", "4", 1, 0, got, &a), 0);
  pump(&t);
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.status, 0);
  assert_string_equal(r.log, "1@1 2@2 3@3 4@4 ");
  /* the connection drops; five are published meanwhile */
  r.log[0] = '\0';
  wsp_client_disconnect(t.sc, WSP_PROTO_DISCONNECT_FORCE_RECONNECT, "cut");
  pump(&t);
  assert_int_equal(r.ended, 1);
  assert_int_equal(r.last.offset, 4);
  hub_publish(&t, 5, 5);
  /* a new client recovers exactly those, then goes on live */
  reconnect(&t);
  memset(&o, 0, sizeof(o));
  o.since = &r.last;
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "feed", &o, &cb, &r), 0);
  pump(&t);
  assert_int_equal(r.subscribed, 2);
  assert_int_equal(r.recovered, 1);
  hub_publish(&t, 10, 1);
  pump(&t);
  assert_string_equal(r.log, "5@5r 6@6r 7@7r 8@8r 9@9r 10@10 ");
  /* history through the client: the top two, newest first */
  assert_int_equal(wsp_rpc_client_history(t.rc, "feed", 2, NULL, 1, 0, got, &h),
                   0);
  pump(&t);
  assert_int_equal(h.status, 0);
  snprintf(want, sizeof(want),
           "{\"publications\":[{\"data\":10,\"offset\":10},{\"data\":9,"
           "\"offset\":9}],\"epoch\":\"%s\",\"offset\":10}",
           r.epoch);
  assert_string_equal(h.data, want);
  /* gone too far: more than the history keeps */
  wsp_client_disconnect(t.sc, WSP_PROTO_DISCONNECT_FORCE_RECONNECT, "cut");
  pump(&t);
  hub_publish(&t, 11, 25);
  reconnect(&t);
  r.log[0] = '\0';
  o.since = &r.last;
  assert_int_equal(wsp_rpc_client_subscribe(t.rc, "feed", &o, &cb, &r), 0);
  pump(&t);
  assert_int_equal(r.subscribed, 3);
  assert_int_equal(r.recovered, 0);
  assert_string_equal(r.log, "");
  /* a wildcard pattern: each publication names its channel */
  {
    static const struct wsp_rpc_client_sub_callbacks wcb = {NULL, w_pub, NULL,
                                                            NULL, NULL,  {0}};
    struct subrec w;
    struct wsp_rpc_client_pos pos;
    memset(&w, 0, sizeof(w));
    assert_int_equal(wsp_server_set_channel_flags(
                         t.srv, WSP_CHANNEL_PUBLISH | WSP_CHANNEL_WILDCARDS),
                     0);
    assert_int_equal(wsp_rpc_client_subscribe(t.rc, "w.*", NULL, &wcb, &w), 0);
    pump(&t);
    assert_true(wsp_server_publish(t.srv, "w.a", "1", 1, NULL) >= 0);
    assert_true(wsp_server_publish(t.srv, "w.b", "2", 1, NULL) >= 0);
    pump(&t);
    assert_string_equal(w.log, "w.*:w.a:1 w.*:w.b:2 ");
    assert_int_equal(wsp_rpc_client_get_position(t.rc, "w.*", &pos), 0);
    assert_int_equal(pos.offset, 0);
    assert_string_equal(pos.epoch, "");
  }
  t_free(&t);
  assert_int_equal(r.ended, 3);
  wsp_evlog_free(log);
}

#ifdef WSP_HAVE_ZLIB
/* The client role offers permessage-deflate through the client's
 * connection; a hub that has it on accepts, and calls go compressed. */
static void test_rpc_client_deflate(void **state) {
  static const char big[] = "{\"s\":\"compress me, compress me, compress me, "
                            "compress me, compress me, compress me!\"}";
  struct t t;
  struct result a = {0};
  (void)state;
  memset(&t, 0, sizeof(t));
  T = &t;
  assert_int_equal(wsp_server_new(&t.srv, NULL, NULL, 0, &t), 0);
  assert_int_equal(wsp_server_set_deflate(t.srv, WSP_DEFLATE_ENABLE, 1), 0);
  wsp_rpc_register(t.srv, "echo", m_echo, NULL);
  assert_int_equal(wsp_server_accept(t.srv, NULL, &t.sc), 0);
  assert_int_equal(wsp_rpc_client_new(&t.rc, NULL, NULL, 0, &t), 0);
  assert_int_equal(wsp_conn_set_deflate(wsp_rpc_client_get_conn(t.rc),
                                        WSP_DEFLATE_ENABLE, 1),
                   0);
  assert_int_equal(
      wsp_rpc_client_start(t.rc, "t", "/connection/websocket", NULL, NULL), 0);
  assert_int_equal(
      wsp_rpc_client_call(t.rc, "echo", big, sizeof(big) - 1, 0, got, &a), 0);
  pump(&t);
  assert_int_equal(
      wsp_conn_get_deflate(wsp_rpc_client_get_conn(t.rc), WSP_DEFLATE_ENABLE),
      1);
  assert_int_equal(
      wsp_conn_get_deflate(wsp_client_get_conn(t.sc), WSP_DEFLATE_ENABLE), 1);
  assert_int_equal(a.fired, 1);
  assert_int_equal(a.status, 0);
  assert_string_equal(a.data, big);
  t_free(&t);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rpc_client_calls),
      cmocka_unit_test(test_rpc_client_timeout_ping_and_close),
      cmocka_unit_test(test_rpc_client_free_cancels),
      cmocka_unit_test(test_rpc_client_subscribe_recovers),
#ifdef WSP_HAVE_ZLIB
      cmocka_unit_test(test_rpc_client_deflate),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
