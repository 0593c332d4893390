/*
 * Token authentication in the hub (wsp_server_set_tokens): connection
 * tokens at connect and refresh, the session-authenticated upgrade,
 * subscription tokens for private channels, sub_refresh and expiry, on
 * the server's clock taken as Unix time in ms. Tokens are HS256, made here
 * with nettle's HMAC (test_jwt covers the signature algorithms).
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "wsp/jwt.h"
#include "wsp/rpc.h"
#include "wsp/server.h"

#define T0 INT64_C(1700000000) /* the fake clock starts here (seconds) */
#define SECRET "token-test-secret-0123456789"

struct h {
  struct wsp_server *srv;
  struct wsp_jwt_keys *keys;
  struct wsp_client *sc;
  struct wsp_conn *cc;
  char lines[64][1024];
  int nlines;
  int close_code;
  int disconnects;
  const char *request_user; /* set in on_request, as a cookie would */
  int http_status;          /* the client's view of the response */
  int lenient; /* the connection may have closed: sends may fail */
  int free_in_connect; /* on_connect frees the client */
  uint64_t now;
};

static void b64u(const void *in, size_t len, char *out) {
  struct base64_encode_ctx e;
  size_t n;
  base64url_encode_init(&e);
  n = base64_encode_update(&e, out, len, in);
  n += base64_encode_final(&e, out + n);
  while (n > 0 && out[n - 1] == '=')
    n--;
  out[n] = '\0';
}

/* An HS256 token for the claims JSON text, signed with key. */
static char *make_token(const char *claims, const char *key) {
  static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  struct hmac_sha256_ctx hm;
  uint8_t mac[SHA256_DIGEST_SIZE];
  char *t = malloc(2 * strlen(claims) + 256);
  size_t n;
  assert_non_null(t);
  b64u(hdr, strlen(hdr), t);
  n = strlen(t);
  t[n++] = '.';
  b64u(claims, strlen(claims), t + n);
  hmac_sha256_set_key(&hm, strlen(key), (const uint8_t *)key);
  hmac_sha256_update(&hm, strlen(t), (const uint8_t *)t);
  hmac_sha256_digest(&hm, sizeof(mac), mac);
  n = strlen(t);
  t[n++] = '.';
  b64u(mac, sizeof(mac), t + n);
  return t;
}

static void cli_msg(struct wsp_conn *c, int op, const uint8_t *d, size_t n,
                    void *ud) {
  struct h *h = ud;
  const char *p = (const char *)d, *end = p + n;
  (void)c;
  (void)op;
  thub_check_lines(d, n);
  while (p < end && h->nlines < 64) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = (size_t)((nl ? nl : end) - p);
    assert_true(len > 0 && len < 1024);
    memcpy(h->lines[h->nlines], p, len);
    h->lines[h->nlines++][len] = '\0';
    p = nl ? nl + 1 : end;
  }
}

static void cli_close(struct wsp_conn *c, int code, const uint8_t *r,
                      size_t n, void *ud) {
  (void)c;
  (void)r;
  (void)n;
  ((struct h *)ud)->close_code = code;
}

static void on_disconnect(struct wsp_client *cl, int code, void *ud) {
  (void)cl;
  (void)code;
  ((struct h *)ud)->disconnects++;
}

static int on_request(struct wsp_client *cl, const struct wsp_request *req,
                      void *ud) {
  struct h *h = ud;
  struct wsp_str sid;
  if (h->request_user)
    assert_int_equal(wsp_client_set_user(cl, h->request_user), 0);
  /* a session cookie: the connection is that session's user */
  if (wsp_request_cookie_nth(req, "sid", 0, &sid) == 1) {
    char id[64];
    snprintf(id, sizeof(id), "%.*s", (int)sid.len, sid.ptr);
    assert_int_equal(wsp_client_set_session(cl, id), 0);
    assert_string_equal(wsp_client_get_session(cl), id);
    assert_int_equal(wsp_client_set_user(cl, "sess-user"), 0);
  }
  return 0;
}

static int on_connect(struct wsp_client *cl, const struct wsp_connect_info *c,
                      void *ud) {
  struct h *h = ud;
  (void)c;
  if (h->free_in_connect) {
    wsp_client_free(cl); /* deferred: the hub is still using it */
    h->sc = NULL;
  }
  return 0;
}

static void pump(struct h *h) {
  int round;
  for (round = 0; round < 100; round++) {
    size_t up = thub_up(h->cc, h->sc);
    if (up + thub_down(h->sc, h->cc) == 0)
      return;
  }
}

static void h_open_full(struct h *h, const char *audience, const char *user,
                        const char *origin, const char *cookie);

static void h_open(struct h *h, const char *audience) {
  h_open_full(h, audience, NULL, NULL, NULL);
}

static void cli_open(struct wsp_conn *c, const struct wsp_response *r,
                     void *ud) {
  (void)c;
  ((struct h *)ud)->http_status = r->status;
}

/* user: the user the upgrade proves (on_request), or NULL; origin and
 * cookie: headers of the upgrade, or NULL. */
static void h_open_full(struct h *h, const char *audience, const char *user,
                        const char *origin, const char *cookie) {
  struct wsp_server_callbacks scb;
  struct wsp_conn_callbacks ccb;
  struct wsp_server_tokens tc;
  memset(h, 0, sizeof(*h));
  h->request_user = user;
  h->now = (uint64_t)T0 * 1000;
  memset(&scb, 0, sizeof(scb));
  scb.on_disconnect = on_disconnect;
  scb.on_request = on_request;
  scb.on_connect = on_connect;
  assert_int_equal(wsp_server_new(&h->srv, &scb, NULL, h->now, h), 0);
  wsp_server_set_limit(h->srv, WSP_SERVER_PING_INTERVAL, 0);
  assert_int_equal(wsp_jwt_keys_new(&h->keys, NULL), 0);
  assert_int_equal(
      wsp_jwt_keys_add_secret(h->keys, NULL, SECRET, strlen(SECRET), 0), 0);
  memset(&tc, 0, sizeof(tc));
  tc.keys = h->keys;
  tc.audience = audience;
  tc.leeway = 5;
  assert_int_equal(wsp_server_set_tokens(h->srv, &tc), 0);
  assert_int_equal(wsp_server_accept(h->srv, h, &h->sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = cli_msg;
  ccb.on_close = cli_close;
  ccb.on_open = cli_open;
  assert_int_equal(wsp_conn_new(&h->cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, h), 0);
  if (origin)
    assert_int_equal(wsp_conn_add_header(h->cc, "Origin", origin), 0);
  if (cookie)
    assert_int_equal(wsp_conn_add_header(h->cc, "Cookie", cookie), 0);
  assert_int_equal(
      wsp_conn_client_start(h->cc, "t", "/connection/websocket", NULL), 0);
  pump(h);
}

static void h_send(struct h *h, const char *text) {
  int rv = wsp_conn_send(h->cc, WSP_OP_TEXT, text, strlen(text));
  if (!h->lenient)
    assert_int_equal(rv, 0);
  pump(h);
}

/* Send a command whose %s is a token for claims (%lld: T0 + offsets are
 * formatted by the caller). */
static void h_send_tok(struct h *h, const char *fmt, const char *claims,
                       const char *key) {
  char *tok = make_token(claims, key ? key : SECRET);
  char *cmd = malloc(strlen(fmt) + strlen(tok) + 1);
  assert_non_null(cmd);
  sprintf(cmd, fmt, tok);
  h_send(h, cmd);
  free(cmd);
  free(tok);
}

static void h_tick(struct h *h, uint64_t ms) {
  h->now += ms;
  wsp_server_tick(h->srv, h->now);
  pump(h);
}

static void h_free(struct h *h) {
  wsp_client_free(h->sc);
  wsp_conn_free(h->cc);
  wsp_server_free(h->srv);
  wsp_jwt_keys_free(h->keys);
}

static const char *claims_fmt(char *buf, const char *fmt, long long a) {
  sprintf(buf, fmt, a);
  return buf;
}

#define CONNECT "{\"connect\":{\"token\":\"%s\",\"name\":\"js\"},\"id\":1}"

/* An error reply line, exactly. */
#define ERR(id, code, msg)                                                     \
  "{\"id\":" #id ",\"error\":{\"code\":" #code ",\"message\":\"" msg "\"}}"

/* The reply to connect id of h's client, whole: rest is what follows
 * the version (these hubs do not ping). */
static const char *connect_line(char *out, size_t cap, const struct h *h,
                                unsigned id, const char *rest) {
  return thub_client_reply(out, cap, id, "connect", wsp_client_get_id(h->sc),
                           "%s", rest);
}

/* A valid token: user, info, expiry in the result, server-side channels. */
static void test_token_connect(void **state) {
  struct h h;
  char c[512], want[512];
  (void)state;
  h_open(&h, "wsp");
  h_send_tok(&h, CONNECT,
             claims_fmt(c,
                        "{\"sub\":\"ann\",\"aud\":\"wsp\",\"exp\":%lld,"
                        "\"info\":{\"n\":1},\"channels\":[\"news\",\"a\\u0062\"]}",
                        (long long)T0 + 3600),
             NULL);
  /* the token's channels are in the connect result, not pushed */
  assert_int_equal(h.nlines, 1);
  assert_string_equal(h.lines[0],
                      connect_line(want, sizeof(want), &h, 1,
                                   ",\"expires\":true,\"ttl\":3600,\"subs\":{"
                                   "\"news\":{},\"ab\":{}}}}"));
  assert_string_equal(wsp_client_get_user(h.sc), "ann");
  assert_string_equal(wsp_client_get_info(h.sc), "{\"n\":1}");
  /* conn_info shows in presence */
  h_send(&h, "{\"presence\":{\"channel\":\"news\"},\"id\":2}");
  snprintf(want, sizeof(want),
           "{\"id\":2,\"presence\":{\"presence\":{\"%s\":{\"user\":\"ann\","
           "\"client\":\"%s\",\"conn_info\":{\"n\":1}}}}}",
           wsp_client_get_id(h.sc), wsp_client_get_id(h.sc));
  assert_string_equal(h.lines[1], want);
  assert_int_equal(h.nlines, 2);
  /* not refreshed: 3005 after expiry and the grace */
  h_tick(&h, 3600 * 1000 + 25000 - 1000);
  assert_int_equal(h.close_code, 0);
  h_tick(&h, 2000);
  assert_int_equal(h.close_code, 3005);
  h_free(&h);
}

/* Expired: 109 and the connection stays; invalid or missing: 3500. */
static void test_token_connect_refused(void **state) {
  static const struct {
    const char *claims;
    const char *key;
    int close;
  } rows[] = {
      {"{\"sub\":\"ann\",\"aud\":\"wsp\",\"exp\":%lld}", "other-secret", 3500},
      {"{\"sub\":\"ann\",\"aud\":\"nope\",\"exp\":%lld}", NULL, 3500},
      {"{\"sub\":\"ann\",\"exp\":%lld}", NULL, 3500}, /* no audience */
      {"{\"sub\":\"a\\u0000b\",\"aud\":\"wsp\",\"exp\":%lld}", NULL, 3500},
      {"{\"sub\":1,\"aud\":\"wsp\",\"exp\":%lld}", NULL, 3500},
  };
  struct h h;
  char c[512], want[256];
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    h_open(&h, "wsp");
    h_send_tok(&h, CONNECT, claims_fmt(c, rows[i].claims, T0 + 60),
               rows[i].key);
    assert_int_equal(h.nlines, 0);
    assert_int_equal(h.close_code, rows[i].close);
    h_free(&h);
  }
  /* expired beyond the leeway: 109, then a good token still connects */
  h_open(&h, "wsp");
  h_send_tok(&h, CONNECT,
             claims_fmt(c, "{\"sub\":\"ann\",\"aud\":\"wsp\",\"exp\":%lld}",
                        T0 - 6),
             NULL);
  assert_string_equal(h.lines[0], ERR(1, 109, "token expired"));
  assert_int_equal(h.close_code, 0);
  assert_string_equal(wsp_client_get_user(h.sc), "");
  /* within the leeway: accepted, ttl 0 */
  h_send_tok(&h, CONNECT,
             claims_fmt(c, "{\"sub\":\"ann\",\"aud\":\"wsp\",\"exp\":%lld}",
                        T0 - 4),
             NULL);
  assert_string_equal(
      h.lines[1],
      connect_line(want, sizeof(want), &h, 1, ",\"expires\":true,\"ttl\":0}}"));
  assert_int_equal(h.nlines, 2);
  h_free(&h);
  /* no token and no user from the upgrade: 3500 */
  h_open(&h, NULL);
  h_send(&h, "{\"connect\":{\"name\":\"js\"},\"id\":1}");
  assert_int_equal(h.close_code, 3500);
  h_free(&h);
  /* garbage */
  h_open(&h, NULL);
  h_send(&h, "{\"connect\":{\"token\":\"a.b.c\"},\"id\":1}");
  assert_int_equal(h.close_code, 3500);
  h_free(&h);
}

/* A user proven at the upgrade (a session cookie) needs no token. */
static void test_token_upgrade_user(void **state) {
  struct h h;
  char want[256];
  (void)state;
  h_open_full(&h, NULL, "bob", NULL, NULL);
  h_send(&h, "{\"connect\":{\"name\":\"js\"},\"id\":1}");
  /* no expiry */
  assert_string_equal(h.lines[0],
                      connect_line(want, sizeof(want), &h, 1, "}}"));
  assert_int_equal(h.nlines, 1);
  assert_string_equal(wsp_client_get_user(h.sc), "bob");
  h_free(&h);
}

/* A cookie-authenticated upgrade from another origin: 403 unless that
 * origin is allowed; no Origin (not a browser) or the server's own pass. */
static void test_token_cookie_origin(void **state) {
  static const struct {
    const char *origin, *cookie;
    int allow_other, policy_off, status;
  } rows[] = {
      {"http://evil.example", "sid=s1", 0, 0, 403},
      {"http://evil.example", "sid=s1", 1, 0, 101},
      {"http://evil.example", "sid=s1", 0, 1, 101},
      {"http://evil.example", NULL, 0, 0, 101}, /* no cookie: no check */
      {"http://t", "sid=s1", 0, 0, 101},        /* the server's own */
      {"https://t", "sid=s1", 0, 0, 403},       /* another scheme */
      {NULL, "sid=s1", 0, 0, 101},              /* not a browser */
  };
  const char *other[] = {"http://evil.example"};
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    struct h h;
    struct wsp_server_callbacks scb;
    struct wsp_conn_callbacks ccb;
    struct wsp_server_stats st;
    char name[32];
    snprintf(name, sizeof(name), "row %zu", i);
    memset(&h, 0, sizeof(h));
    memset(&scb, 0, sizeof(scb));
    scb.on_disconnect = on_disconnect;
    scb.on_request = on_request;
    assert_int_equal(wsp_server_new(&h.srv, &scb, NULL, 0, &h), 0);
    if (rows[i].allow_other)
      assert_int_equal(wsp_server_set_allowed_origins(h.srv, other, 1), 0);
    if (rows[i].policy_off)
      assert_int_equal(wsp_server_set_origin_policy(h.srv, 0), 0);
    assert_int_equal(wsp_server_accept(h.srv, &h, &h.sc), 0);
    memset(&ccb, 0, sizeof(ccb));
    ccb.on_message = cli_msg;
    ccb.on_close = cli_close;
    ccb.on_open = cli_open;
    assert_int_equal(wsp_conn_new(&h.cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, &h),
                     0);
    if (rows[i].origin)
      assert_int_equal(wsp_conn_add_header(h.cc, "Origin", rows[i].origin), 0);
    if (rows[i].cookie)
      assert_int_equal(wsp_conn_add_header(h.cc, "Cookie", rows[i].cookie), 0);
    assert_int_equal(
        wsp_conn_client_start(h.cc, "t", "/connection/websocket", NULL), 0);
    pump(&h);
    wsp_server_get_stats(h.srv, &st);
    if (rows[i].status == 101)
      T_CHECK(bad, name, h.http_status == 101 && st.refused_origin == 0);
    else
      T_CHECK(bad, name, h.http_status == 0 && wsp_client_is_done(h.sc) &&
                             st.refused_origin == 1 && st.errors_limit == 0);
    h_free(&h);
  }
  assert_int_equal(bad, 0);
  assert_int_equal(wsp_server_set_origin_policy(NULL, 0), WSP_ERR_INVAL);
}

/* Logout: every connection of the session closes, the others stay. */
static void test_token_logout(void **state) {
  struct h a, b, c;
  char want[256];
  (void)state;
  h_open_full(&a, NULL, NULL, NULL, "sid=s1");
  h_open_full(&b, NULL, NULL, NULL, "x=1; sid=s2");
  h_open_full(&c, NULL, NULL, NULL, "sid=s1");
  h_send(&a, "{\"connect\":{},\"id\":1}");
  h_send(&b, "{\"connect\":{},\"id\":1}");
  assert_string_equal(a.lines[0],
                      connect_line(want, sizeof(want), &a, 1, "}}"));
  assert_string_equal(wsp_client_get_user(a.sc), "sess-user");
  /* each h has its own server */
  assert_int_equal(
      wsp_server_disconnect_session(a.srv, "s1", 3503, "logged out"), 1);
  assert_int_equal(
      wsp_server_disconnect_session(b.srv, "s1", 3503, "logged out"), 0);
  assert_int_equal(
      wsp_server_disconnect_session(c.srv, "s1", 3503, "logged out"), 1);
  pump(&a);
  pump(&b);
  pump(&c);
  assert_int_equal(a.close_code, 3503);
  assert_int_equal(b.close_code, 0);
  assert_int_equal(c.close_code, 3503);
  assert_int_equal(a.disconnects, 1);
  assert_int_equal(
      wsp_server_disconnect_session(a.srv, "s1", 3503, "logged out"), 0);
  assert_int_equal(wsp_server_disconnect_session(a.srv, NULL, 3503, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_client_set_session(b.sc, ""), WSP_ERR_INVAL);
  assert_int_equal(wsp_client_set_session(b.sc, NULL), 0);
  assert_null(wsp_client_get_session(b.sc));
  h_free(&a);
  h_free(&b);
  h_free(&c);
}

/* refresh: same user only; expired 109; ttl moves. */
static void test_token_refresh(void **state) {
  struct h h;
  char c[512], want[256];
  (void)state;
  h_open(&h, NULL);
  h_send_tok(&h, CONNECT,
             claims_fmt(c, "{\"sub\":\"ann\",\"exp\":%lld}", T0 + 60), NULL);
  assert_string_equal(h.lines[0],
                      connect_line(want, sizeof(want), &h, 1,
                                   ",\"expires\":true,\"ttl\":60}}"));
  h_tick(&h, 50000);
  h_send_tok(&h, "{\"refresh\":{\"token\":\"%s\"},\"id\":2}",
             claims_fmt(c, "{\"sub\":\"ann\",\"exp\":%lld}", T0 - 10), NULL);
  assert_string_equal(h.lines[1], ERR(2, 109, "token expired"));
  h_send_tok(&h, "{\"refresh\":{\"token\":\"%s\"},\"id\":3}",
             claims_fmt(c, "{\"sub\":\"ann\",\"exp\":%lld}", T0 + 650), NULL);
  assert_string_equal(h.lines[2],
                      thub_client_reply(want, sizeof(want), 3, "refresh",
                                        wsp_client_get_id(h.sc),
                                        ",\"expires\":true,\"ttl\":600}}"));
  assert_int_equal(h.nlines, 3);
  /* the old expiry no longer closes it */
  h_tick(&h, 60000);
  assert_int_equal(h.close_code, 0);
  /* another user's token: 3500 */
  h_send_tok(&h, "{\"refresh\":{\"token\":\"%s\"},\"id\":4}",
             claims_fmt(c, "{\"sub\":\"eve\",\"exp\":%lld}", T0 + 650), NULL);
  assert_int_equal(h.close_code, 3500);
  h_free(&h);
}

/* An RPC handler that frees its client (deferred while the hub runs). */
static void m_bye(struct wsp_client *cl, uint64_t call, const char *method,
                  const uint8_t *data, size_t len, void *ud) {
  struct h *h = ud;
  (void)call;
  (void)method;
  (void)data;
  (void)len;
  wsp_client_free(cl);
  h->sc = NULL;
}

/* A client freed by a callback is gone at once: the rest of its message
 * is not handled. A connect after it used to pass (the connection had
 * ended, so it no longer counted as connected) and subscribe the freed
 * client to its token's channels, left behind in the channel registry
 * (found by fuzz_hub_sequence). */
static void test_token_free_in_callback(void **state) {
  struct wsp_server_stats st;
  struct h h;
  char c[512];
  (void)state;
  h_open(&h, NULL);
  assert_int_equal(wsp_rpc_register(h.srv, "bye", m_bye, &h), 0);
  h_send_tok(&h, CONNECT,
             claims_fmt(c, "{\"sub\":\"ann\",\"exp\":%lld}", T0 + 60), NULL);
  assert_int_equal(h.nlines, 1);
  h_send_tok(&h,
             "{\"rpc\":{\"method\":\"bye\"},\"id\":2}\n"
             "{\"connect\":{\"token\":\"%s\"},\"id\":3}",
             claims_fmt(c,
                        "{\"sub\":\"ann\",\"exp\":%lld,"
                        "\"channels\":[\"news\"]}",
                        T0 + 60),
             NULL);
  assert_null(h.sc);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.connections, 0);
  assert_int_equal(st.subscriptions, 0);
  assert_int_equal(wsp_server_channels(h.srv), 0);
  assert_int_equal(wsp_server_publish(h.srv, "news", "1", 1, NULL), 0);
  h_free(&h);
}

/* The same when on_connect frees the client: the token's channels are
 * not subscribed for it. */
static void test_token_free_in_connect(void **state) {
  struct wsp_server_stats st;
  struct h h;
  char c[512];
  (void)state;
  h_open(&h, NULL);
  h.free_in_connect = 1;
  h_send_tok(&h, CONNECT,
             claims_fmt(c,
                        "{\"sub\":\"ann\",\"exp\":%lld,"
                        "\"channels\":[\"news\"]}",
                        T0 + 60),
             NULL);
  assert_null(h.sc);
  wsp_server_get_stats(h.srv, &st);
  assert_int_equal(st.connections, 0);
  assert_int_equal(st.subscriptions, 0);
  assert_int_equal(wsp_server_channels(h.srv), 0);
  assert_int_equal(wsp_server_publish(h.srv, "news", "1", 1, NULL), 0);
  h_free(&h);
}

static void sub_tok(struct h *h, int id, const char *claims) {
  char fmt[128];
  snprintf(fmt, sizeof(fmt),
           "{\"subscribe\":{\"channel\":\"$room\",\"token\":\"%%s\"},\"id\":%d}",
           id);
  h_send_tok(h, fmt, claims, NULL);
}

/* An exp so far away that adding the refresh grace would wrap: the
 * connection and the subscription live on, they do not expire at once. */
static void test_token_huge_exp_saturates(void **state) {
  static const char *const exps[] = {"1e17", "1e999", "18446744073709551615"};
  struct h h;
  char c[512], want[256];
  size_t i, n;
  (void)state;
  for (i = 0; i < sizeof(exps) / sizeof(exps[0]); i++) {
    h_open(&h, NULL);
    snprintf(c, sizeof(c), "{\"sub\":\"ann\",\"exp\":%s}", exps[i]);
    h_send_tok(&h, CONNECT, c, NULL);
    connect_line(want, sizeof(want), &h, 1, ",\"expires\":true,\"ttl\":");
    n = strlen(want);
    assert_int_equal(h.nlines, 1);
    assert_memory_equal(h.lines[0], want, n);
    assert_int_equal(strspn(h.lines[0] + n, "0123456789"), 17);
    assert_string_equal(h.lines[0] + n + 17, "}}");
    snprintf(c, sizeof(c), "{\"sub\":\"ann\",\"channel\":\"$room\",\"exp\":%s}",
             exps[i]);
    sub_tok(&h, 2, c);
    assert_int_equal(h.nlines, 2);
    assert_memory_equal(
        h.lines[1], "{\"id\":2,\"subscribe\":{\"expires\":true,\"ttl\":", 41);
    h_tick(&h, 3600 * 1000);
    h_tick(&h, 3600 * 1000);
    assert_int_equal(h.close_code, 0);
    assert_int_equal(h.nlines, 2); /* no unsubscribe push 2501 either */
    h_free(&h);
  }
}

/* Private channels: 103 without a fitting token, 109 expired, ttl, sub_refresh
 * and the 2501 unsubscribe push at expiry. */
static void test_token_private_channel(void **state) {
  struct h h;
  char c[512], want[256];
  (void)state;
  h_open(&h, NULL);
  h_send_tok(&h, CONNECT, "{\"sub\":\"ann\"}", NULL);
  assert_string_equal(h.lines[0],
                      connect_line(want, sizeof(want), &h, 1, "}}"));
  h_send(&h, "{\"subscribe\":{\"channel\":\"$room\"},\"id\":2}");
  assert_string_equal(h.lines[1], "{\"id\":2,\"error\":{\"code\":103,"
                                  "\"message\":\"permission denied\"}}");
  sub_tok(&h, 3,
          claims_fmt(c, "{\"sub\":\"eve\",\"channel\":\"$room\",\"exp\":%lld}",
                     T0 + 60));
  assert_string_equal(h.lines[2], ERR(3, 103, "permission denied"));
  sub_tok(&h, 4,
          claims_fmt(c, "{\"sub\":\"ann\",\"channel\":\"$other\",\"exp\":%lld}",
                     T0 + 60));
  assert_string_equal(h.lines[3], ERR(4, 103, "permission denied"));
  sub_tok(&h, 5,
          claims_fmt(c, "{\"sub\":\"ann\",\"channel\":\"$room\",\"exp\":%lld}",
                     T0 - 60));
  assert_string_equal(h.lines[4], ERR(5, 109, "token expired"));
  sub_tok(&h, 6,
          claims_fmt(c, "{\"sub\":\"ann\",\"channel\":\"$room\",\"exp\":%lld}",
                     T0 + 60));
  assert_string_equal(h.lines[5],
                      "{\"id\":6,\"subscribe\":{\"expires\":true,\"ttl\":60}}");
  /* a public channel needs nothing */
  h_send(&h, "{\"subscribe\":{\"channel\":\"room\"},\"id\":7}");
  assert_string_equal(h.lines[6], "{\"id\":7,\"subscribe\":{}}");
  /* sub_refresh: bad token 103, good one moves the expiry */
  h_tick(&h, 30000);
  h_send_tok(&h, "{\"sub_refresh\":{\"channel\":\"$room\",\"token\":\"%s\"},"
                 "\"id\":8}",
             claims_fmt(c, "{\"sub\":\"ann\",\"channel\":\"$room\",\"exp\":%lld}",
                        T0 + 600),
             "wrong");
  assert_string_equal(h.lines[7], ERR(8, 103, "permission denied"));
  h_send_tok(&h, "{\"sub_refresh\":{\"channel\":\"$room\",\"token\":\"%s\"},"
                 "\"id\":9}",
             claims_fmt(c, "{\"sub\":\"ann\",\"channel\":\"$room\",\"exp\":%lld}",
                        T0 + 130),
             NULL);
  assert_string_equal(
      h.lines[8], "{\"id\":9,\"sub_refresh\":{\"expires\":true,\"ttl\":100}}");
  h_send(&h, "{\"sub_refresh\":{\"channel\":\"room\",\"token\":\"x\"},\"id\":10}");
  assert_string_equal(h.lines[9], ERR(10, 108, "not available"));
  /* the first expiry has passed with its grace: still subscribed */
  h_tick(&h, 60000);
  assert_int_equal(h.nlines, 10);
  /* the new one passes: unsubscribe push 2501, the connection stays */
  h_tick(&h, 40000 + 25000 + 1000);
  assert_int_equal(h.nlines, 11);
  assert_string_equal(h.lines[10],
                      "{\"push\":{\"channel\":\"$room\",\"unsubscribe\":{"
                      "\"code\":2501,\"reason\":\"subscription expired\"}}}");
  assert_int_equal(h.close_code, 0);
  h_send(&h, "{\"sub_refresh\":{\"channel\":\"$room\",\"token\":\"x\"},\"id\":11}");
  assert_string_equal(h.lines[11], ERR(11, 103, "permission denied"));
  assert_int_equal(h.nlines, 12);
  /* a channel longer than any subscription can have: not subscribed (103),
   * not a broken stream */
  {
    char cmd[1200];
    int n = snprintf(cmd, sizeof(cmd), "{\"sub_refresh\":{\"channel\":\"$");
    memset(cmd + n, 'c', 1030);
    snprintf(cmd + n + 1030, sizeof(cmd) - (size_t)n - 1030,
             "\",\"token\":\"x\"},\"id\":12}");
    h_send(&h, cmd);
  }
  assert_string_equal(h.lines[12], ERR(12, 103, "permission denied"));
  assert_int_equal(h.close_code, 0);
  h_free(&h);
}

/* wsp_client_auth_token and wsp_client_set_info on their own. */
static void test_token_api(void **state) {
  struct h h;
  char *tok;
  (void)state;
  h_open(&h, NULL);
  tok = make_token("{\"sub\":\"cy\",\"info\":[1]}", SECRET);
  assert_int_equal(wsp_client_auth_token(h.sc, tok, strlen(tok)), 0);
  assert_string_equal(wsp_client_get_user(h.sc), "cy");
  assert_string_equal(wsp_client_get_info(h.sc), "[1]");
  free(tok);
  tok = make_token("{\"sub\":\"cy\",\"exp\":1}", SECRET);
  assert_int_equal(wsp_client_auth_token(h.sc, tok, strlen(tok)),
                   WSP_ERR_TOKEN_EXPIRED);
  free(tok);
  assert_int_equal(wsp_client_auth_token(h.sc, "x", 1), WSP_ERR_TOKEN);
  assert_int_equal(wsp_client_auth_token(h.sc, "", 0), WSP_ERR_TOKEN);
  assert_int_equal(wsp_client_set_info(h.sc, "{bad"), WSP_ERR_JSON);
  assert_int_equal(wsp_client_set_info(h.sc, NULL), 0);
  assert_null(wsp_client_get_info(h.sc));
  assert_int_equal(wsp_server_set_tokens(h.srv, NULL), 0);
  assert_int_equal(wsp_client_auth_token(h.sc, "x", 1), WSP_ERR_STATE);
  {
    struct wsp_server_tokens tc;
    memset(&tc, 0, sizeof(tc));
    assert_int_equal(wsp_server_set_tokens(h.srv, &tc), WSP_ERR_INVAL);
    tc.keys = h.keys;
    tc.leeway = -1;
    assert_int_equal(wsp_server_set_tokens(h.srv, &tc), WSP_ERR_INVAL);
  }
  assert_int_equal(wsp_server_set_tokens(NULL, NULL), WSP_ERR_INVAL);
  h_free(&h);
}

/* Every allocation of a token connect and a private subscribe fails in
 * turn: an error reply or a close, never a crash or a leak. */
static void test_token_allocation_failures(void **state) {
  long n;
  char c[512];
  (void)state;
  for (n = 1; n < 400; n++) {
    struct tfail f;
    struct wsp_server *srv = NULL;
    struct wsp_jwt_keys *keys = NULL;
    struct wsp_server_tokens tc;
    struct wsp_server_callbacks scb;
    struct wsp_client *sc = NULL;
    struct wsp_conn *cc = NULL;
    struct wsp_conn_callbacks ccb;
    struct h h;
    char id[40], want[256];
    int done;
    tfail_init(&f, n, 0);
    memset(&h, 0, sizeof(h));
    h.lenient = 1;
    memset(&scb, 0, sizeof(scb));
    if (wsp_server_new(&srv, &scb, &f.mem, (uint64_t)T0 * 1000, &h) != 0)
      continue;
    memset(&tc, 0, sizeof(tc));
    if (wsp_jwt_keys_new(&keys, &f.mem) != 0 ||
        wsp_jwt_keys_add_secret(keys, NULL, SECRET, strlen(SECRET), 0) != 0 ||
        (tc.keys = keys, wsp_server_set_tokens(srv, &tc)) != 0 ||
        wsp_server_accept(srv, &h, &sc) != 0) {
      wsp_server_free(srv);
      wsp_jwt_keys_free(keys);
      assert_int_equal(f.live, 0);
      continue;
    }
    memset(&ccb, 0, sizeof(ccb));
    ccb.on_message = cli_msg;
    ccb.on_close = cli_close;
    assert_int_equal(wsp_conn_new(&cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, &h), 0);
    assert_int_equal(
        wsp_conn_client_start(cc, "t", "/connection/websocket", NULL), 0);
    h.srv = srv;
    h.sc = sc;
    h.cc = cc;
    pump(&h);
    h_send_tok(&h, CONNECT,
               claims_fmt(c,
                          "{\"sub\":\"ann\",\"exp\":%lld,\"info\":1,"
                          "\"channels\":[\"x\"]}",
                          T0 + 60),
               NULL);
    sub_tok(&h, 2,
            claims_fmt(c,
                       "{\"sub\":\"ann\",\"channel\":\"$room\",\"exp\":%lld}",
                       T0 + 60));
    h_send_tok(&h,
               "{\"sub_refresh\":{\"channel\":\"$room\",\"token\":\"%s\"},"
               "\"id\":3}",
               claims_fmt(c,
                          "{\"sub\":\"ann\",\"channel\":\"$room\","
                          "\"exp\":%lld}",
                          T0 + 90),
               NULL);
    h_send_tok(&h, "{\"refresh\":{\"token\":\"%s\"},\"id\":4}",
               claims_fmt(c, "{\"sub\":\"ann\",\"exp\":%lld}", T0 + 120),
               NULL);
    {
      const char *o[] = {"http://a", "http://b"};
      if (wsp_server_set_allowed_origins(srv, o, 2) == 0)
        assert_int_equal(wsp_server_set_allowed_origins(srv, NULL, 0), 0);
      if (wsp_client_set_session(sc, "s1") == 0)
        assert_int_equal(wsp_server_disconnect_session(srv, "nope", 3503, ""),
                         0);
    }
    done = f.failures == 0;
    snprintf(id, sizeof(id), "%s", wsp_client_get_id(sc)); /* sc goes next */
    wsp_client_free(sc);
    wsp_conn_free(cc);
    wsp_server_free(srv);
    wsp_jwt_keys_free(keys);
    assert_int_equal(f.live, 0);
    assert_int_equal(f.bad_frees, 0);
    if (done) {
      /* nothing failed: everything went through */
      assert_int_equal(h.nlines, 4);
      assert_string_equal(
          h.lines[0], thub_client_reply(want, sizeof(want), 1, "connect", id,
                                        ",\"expires\":true,\"ttl\":60,"
                                        "\"ping\":25,\"pong\":true,"
                                        "\"subs\":{\"x\":{}}}}"));
      assert_string_equal(h.lines[h.nlines - 3],
                          "{\"id\":2,\"subscribe\":{\"expires\":true,"
                          "\"ttl\":60}}");
      assert_string_equal(h.lines[h.nlines - 2],
                          "{\"id\":3,\"sub_refresh\":{\"expires\":true,"
                          "\"ttl\":90}}");
      assert_string_equal(h.lines[h.nlines - 1],
                          thub_client_reply(want, sizeof(want), 4, "refresh",
                                            id,
                                            ",\"expires\":true,"
                                            "\"ttl\":120}}"));
      break;
    }
  }
  assert_true(n < 400);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_connect),
      cmocka_unit_test(test_token_connect_refused),
      cmocka_unit_test(test_token_upgrade_user),
      cmocka_unit_test(test_token_refresh),
      cmocka_unit_test(test_token_huge_exp_saturates),
      cmocka_unit_test(test_token_cookie_origin),
      cmocka_unit_test(test_token_logout),
      cmocka_unit_test(test_token_private_channel),
      cmocka_unit_test(test_token_api),
      cmocka_unit_test(test_token_allocation_failures),
      cmocka_unit_test(test_token_free_in_callback),
      cmocka_unit_test(test_token_free_in_connect),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
