/*
 * The demo's authentication: JWT connection and subscription tokens
 * checked by the hub (--token-* flags), and sessions behind a cookie made
 * by POST /login and ended by POST /logout.
 *
 * DEMO ONLY: /login asks for no password. It creates a session for
 * whatever user name the form gives; a real application checks the
 * credentials first. The session cookie is HttpOnly and SameSite=Lax, and
 * the hub refuses cookie-authenticated upgrades from other origins
 * (--allowed-origin adds trusted ones).
 *
 * With --redis the sessions live in Redis (wsp_redis_session_*), so that
 * a login on one node is good on every node: a login, a logout and an
 * upgrade carrying the cookie are answered once Redis has (the request
 * is deferred meanwhile), and a logout closes the session's connections
 * on every node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../loop.h"
#include "demo.h"

#define SESSION_COOKIE "wsp_sid"
#define SESSION_TTL_MS (3600 * 1000)
#define MAX_ORIGINS 16

static struct wsp_session_store *sessions;
static struct wsp_jwt_keys *keys;
static const char *audience, *issuer;
static const char *origins[MAX_ORIGINS];
static size_t norigins;
static int tokens_on;
static size_t max_sessions = 100000; /* --max-sessions */

/* ---- Flags ------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *p = NULL;
  long n;
  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) &&
      fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) != NULL) {
    *len = fread(p, 1, (size_t)n, f);
    p[*len] = '\0';
  }
  fclose(f);
  return p;
}

int auth_flag(const char *flag, const char *val) {
  size_t len = 0;
  char *text;
  int rv;
  if (strcmp(flag, "--max-sessions") == 0) {
    char *end;
    unsigned long long n = strtoull(val, &end, 10);
    if (*val < '1' || *val > '9' || *end != '\0' || n > 10000000)
      return -1;
    max_sessions = (size_t)n;
    return 1;
  }
  if (strcmp(flag, "--allowed-origin") == 0) {
    if (norigins == MAX_ORIGINS || *val == '\0')
      return -1;
    origins[norigins++] = val;
    return 1;
  }
  if (strcmp(flag, "--token-audience") == 0 ||
      strcmp(flag, "--token-issuer") == 0) {
    *(flag[8] == 'a' ? &audience : &issuer) = val;
    tokens_on = 1;
    return 1;
  }
  if (strncmp(flag, "--token-", 8) != 0)
    return 0;
  if (keys == NULL && wsp_jwt_keys_new(&keys, NULL) < 0)
    return -1;
  tokens_on = 1;
  if (strcmp(flag, "--token-hmac-secret") == 0)
    return *val && wsp_jwt_keys_add_secret(keys, NULL, val, strlen(val),
                                           WSP_JWT_HS) == 0
               ? 1
               : -1;
  if (strcmp(flag, "--token-public-key") != 0 &&
      strcmp(flag, "--token-jwks") != 0)
    return -1;
  if ((text = read_file(val, &len)) == NULL) {
    fprintf(stderr, "wsp-demo: cannot read %s\n", val);
    return -1;
  }
  rv = flag[8] == 'p' ? wsp_jwt_keys_add_pem(keys, NULL, text, len, 0)
                      : (wsp_jwt_keys_add_jwks(keys, text, len) > 0 ? 0 : -1);
  free(text);
  if (rv < 0)
    fprintf(stderr, "wsp-demo: no usable key in %s\n", val);
  return rv < 0 ? -1 : 1;
}

static int64_t unix_time(void *user_data) {
  (void)user_data;
  return (int64_t)time(NULL); /* the hub's clock is monotonic: not Unix */
}

void auth_session_stats(size_t *count, struct wsp_session_stats *stats) {
  *count = wsp_session_count(sessions);
  wsp_session_store_get_stats(sessions, stats);
}

int auth_init(struct wsp_server *server) {
  struct wsp_server_tokens tc = {0};
  /* Anyone may log in here, so a full store ends its oldest session
   * rather than lock every later login out. */
  if (wsp_session_store_new(&sessions, NULL, SESSION_TTL_MS, max_sessions) <
          0 ||
      wsp_session_store_set_flags(sessions, WSP_SESSION_EVICT_OLDEST) < 0 ||
      wsp_server_set_allowed_origins(server, origins, norigins) < 0)
    return -1;
  if (!tokens_on)
    return 0;
  if (keys == NULL || wsp_jwt_keys_count(keys) == 0) {
    fprintf(stderr, "wsp-demo: --token-audience/--token-issuer need a key\n");
    return -1;
  }
  tc.keys = keys;
  tc.audience = audience;
  tc.issuer = issuer;
  tc.leeway = 5;
  tc.unix_time = unix_time;
  return wsp_server_set_tokens(server, &tc);
}

int auth_tokens_on(void) { return tokens_on; }

void auth_free(void) {
  wsp_session_store_free(sessions);
  wsp_jwt_keys_free(keys);
}

uint64_t auth_next_deadline(void) {
  return wsp_session_store_next_deadline(sessions);
}

void auth_tick(uint64_t now) { wsp_session_store_tick(sessions, now); }

/* ---- Waiting for Redis -------------------------------------------------- */

/* A request waiting for Redis; client NULL once it is gone. */
struct wait {
  struct wait *prev, *next;
  struct wsp_client *client;
  char user[128];
};
static struct wait *waits;

static struct wait *wait_new(struct wsp_client *client) {
  struct wait *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  w->client = client;
  if ((w->next = waits) != NULL)
    waits->prev = w;
  waits = w;
  return w;
}

static void wait_free(struct wait *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    waits = w->next;
  if (w->next)
    w->next->prev = w->prev;
  free(w);
}

void auth_client_gone(struct wsp_client *client) {
  struct wait *w;
  for (w = waits; w; w = w->next)
    if (w->client == client)
      w->client = NULL;
}

/* The session id of the request's cookie, when it looks like one. */
static int cookie_id(const struct wsp_request *req, char *id) {
  struct wsp_str v;
  size_t i;
  for (i = 0; wsp_request_cookie_nth(req, SESSION_COOKIE, i, &v) == 1; i++)
    if (v.len == WSP_SESSION_ID_LEN) {
      memcpy(id, v.ptr, v.len);
      id[v.len] = '\0';
      return 1;
    }
  return 0;
}

/* The upgrade's session, from Redis: then the upgrade goes on. */
static void upgrade_looked_up(struct wsp_redis *r, int err, const char *id,
                              const char *user, const void *data, size_t len,
                              void *ud) {
  struct wait *w = ud;
  (void)r;
  (void)data;
  (void)len;
  if (w->client) {
    /* unknown or expired: an anonymous upgrade, as without Redis */
    if (err == 0 && wsp_client_set_user(w->client, user) == 0)
      wsp_client_set_session(w->client, id);
    if (err != 0 && err != WSP_ERR_NOT_FOUND)
      wsp_client_respond(w->client, 503, "text/plain", "no session store\n",
                         17);
    else
      wsp_client_accept(w->client);
  }
  wait_free(w);
}

/* ---- The upgrade ------------------------------------------------------- */

/* The live session of the request's cookie: its id into id; 1 found. */
static int session_of(const struct wsp_request *req, char *id, size_t cap,
                      const char **user) {
  struct wsp_str v;
  size_t i;
  for (i = 0; wsp_request_cookie_nth(req, SESSION_COOKIE, i, &v) == 1; i++) {
    if (v.len >= cap)
      continue;
    memcpy(id, v.ptr, v.len);
    id[v.len] = '\0';
    if (wsp_session_get(sessions, id, loop_now_ms(), user, NULL, NULL) == 0)
      return 1;
  }
  return 0;
}

void auth_upgrade(struct wsp_client *client, const struct wsp_request *req) {
  char id[WSP_SESSION_ID_LEN + 1], token[8192];
  const char *user;
  size_t len;
  struct wait *w;
  if (redis_engine() && cookie_id(req, id)) {
    if ((w = wait_new(client)) == NULL)
      return;
    if (wsp_redis_session_get(redis_engine(), id, SESSION_TTL_MS,
                              upgrade_looked_up, w) < 0) {
      wait_free(w); /* not a session: an anonymous upgrade */
      return;
    }
    if (wsp_client_defer(client) < 0)
      w->client = NULL; /* cannot wait: anonymous */
    return;
  }
  if (session_of(req, id, sizeof id, &user)) {
    /* the hub then checks the Origin (403 from another site) */
    if (wsp_client_set_user(client, user) == 0)
      wsp_client_set_session(client, id);
    return;
  }
  /* ?token=JWT: browsers cannot send headers with an upgrade. A bad one
   * is ignored, and the connect without a token is then refused 3500. */
  if (tokens_on &&
      wsp_request_query(req, "token", 0, token, sizeof token, &len) == 1)
    wsp_client_auth_token(client, token, len);
}

/* ---- POST /login and POST /logout --------------------------------------- */

int auth_path(const struct wsp_request *req) {
  return (req->path.len == 6 && memcmp(req->path.ptr, "/login", 6) == 0) ||
         (req->path.len == 7 && memcmp(req->path.ptr, "/logout", 7) == 0);
}

static void reply(struct wsp_client *client, int status, const char *json) {
  wsp_client_respond(client, status, "application/json", json, strlen(json));
}

/* A plausible user name: 1..64 printable ASCII characters. */
static int user_ok(const char *u, size_t len) {
  size_t i;
  if (len == 0 || len > 64)
    return 0;
  for (i = 0; i < len; i++)
    if (u[i] < 0x21 || u[i] > 0x7e)
      return 0;
  return 1;
}

/* Answer a login with its session's cookie. */
static void login_answer(struct wsp_client *client, const char *user,
                         const char *id) {
  char cookie[256], out[512], q[400];
  if (wsp_session_cookie(cookie, sizeof cookie, SESSION_COOKIE, id, "/",
                         SESSION_TTL_MS / 1000,
                         WSP_COOKIE_HTTPONLY | WSP_COOKIE_SAMESITE_LAX) < 0) {
    reply(client, 503, "{\"error\":\"no session\"}");
    return;
  }
  wsp_conn_add_header(wsp_client_get_conn(client), "Set-Cookie", cookie);
  json_quote(q, user);
  snprintf(out, sizeof out, "{\"user\":%s}", q);
  reply(client, 200, out);
}

static void login_created(struct wsp_redis *r, int err, const char *id,
                          const char *user, const void *data, size_t len,
                          void *ud) {
  struct wait *w = ud;
  (void)r;
  (void)user;
  (void)data;
  (void)len;
  if (w->client) {
    if (err)
      reply(w->client, 503, "{\"error\":\"no session\"}");
    else
      login_answer(w->client, w->user, id);
  }
  wait_free(w);
}

static void logout_done(struct wsp_redis *r, int err, const char *id,
                        const char *user, const void *data, size_t len,
                        void *ud) {
  struct wait *w = ud;
  char cookie[128];
  (void)r;
  (void)id;
  (void)user;
  (void)data;
  (void)len;
  if (w->client) {
    if (err && err != WSP_ERR_NOT_FOUND) {
      reply(w->client, 503, "{\"error\":\"no session store\"}");
    } else {
      if (wsp_session_cookie(cookie, sizeof cookie, SESSION_COOKIE, "", "/", 0,
                             WSP_COOKIE_HTTPONLY | WSP_COOKIE_SAMESITE_LAX) > 0)
        wsp_conn_add_header(wsp_client_get_conn(w->client), "Set-Cookie",
                            cookie);
      reply(w->client, 200, w->user);
    }
  }
  wait_free(w);
}

static void login(struct wsp_client *client, const struct wsp_request *req) {
  struct wsp_request form = *req;
  char user[128], id[WSP_SESSION_ID_LEN + 1];
  size_t len;
  struct wait *w;
  /* The form body (application/x-www-form-urlencoded) has the syntax of
   * a query string. */
  form.query = req->body;
  if (wsp_request_query(&form, "user", 0, user, sizeof user, &len) != 1 ||
      !user_ok(user, len)) {
    reply(client, 400, "{\"error\":\"form field user: 1 to 64 printable "
                       "characters\"}");
    return;
  }
  if (redis_engine()) {
    if ((w = wait_new(client)) == NULL) {
      reply(client, 503, "{\"error\":\"no session\"}");
      return;
    }
    memcpy(w->user, user, len);
    w->user[len] = '\0';
    if (wsp_redis_session_create(redis_engine(), user, NULL, 0, SESSION_TTL_MS,
                                 login_created, w) < 0) {
      wait_free(w);
      reply(client, 503, "{\"error\":\"no session\"}");
    } else if (wsp_client_defer(client) < 0) {
      w->client = NULL;
      reply(client, 503, "{\"error\":\"no session\"}");
    }
    return;
  }
  if (wsp_session_create(sessions, user, NULL, 0, loop_now_ms(), id) < 0) {
    reply(client, 503, "{\"error\":\"no session\"}");
    return;
  }
  login_answer(client, user, id);
}

static void logout(struct wsp_client *client, const struct wsp_request *req) {
  char id[WSP_SESSION_ID_LEN + 1], cookie[128], out[64];
  const char *user;
  long n = 0;
  struct wait *w;
  if (redis_engine() && cookie_id(req, id)) {
    /* every node closes the session's connections (an order through
     * Redis); the answer waits until the session is gone from Redis */
    n = wsp_server_disconnect_session(wsp_client_get_server(client), id,
                                      WSP_PROTO_DISCONNECT_FORCE_DISCONNECT,
                                      "logged out");
    if ((w = wait_new(client)) == NULL) {
      reply(client, 503, "{\"error\":\"no session store\"}");
      return;
    }
    snprintf(w->user, sizeof w->user, "{\"disconnected\":%ld}", n < 0 ? 0 : n);
    if (wsp_redis_session_destroy(redis_engine(), id, logout_done, w) < 0) {
      wait_free(w);
      reply(client, 503, "{\"error\":\"no session store\"}");
    } else if (wsp_client_defer(client) < 0) {
      w->client = NULL;
      reply(client, 503, "{\"error\":\"no session store\"}");
    }
    return;
  }
  if (session_of(req, id, sizeof id, &user)) {
    wsp_session_destroy(sessions, id);
    /* FORCE_DISCONNECT: the client SDKs do not reconnect */
    n = wsp_server_disconnect_session(wsp_client_get_server(client), id,
                                      WSP_PROTO_DISCONNECT_FORCE_DISCONNECT,
                                      "logged out");
  }
  if (wsp_session_cookie(cookie, sizeof cookie, SESSION_COOKIE, "", "/", 0,
                         WSP_COOKIE_HTTPONLY | WSP_COOKIE_SAMESITE_LAX) > 0)
    wsp_conn_add_header(wsp_client_get_conn(client), "Set-Cookie", cookie);
  snprintf(out, sizeof out, "{\"disconnected\":%ld}", n < 0 ? 0 : n);
  reply(client, 200, out);
}

void auth_serve(struct wsp_client *client, const struct wsp_request *req) {
  if (req->method.len != 4 || memcmp(req->method.ptr, "POST", 4) != 0) {
    wsp_conn_add_header(wsp_client_get_conn(client), "Allow", "POST");
    reply(client, 405, "{\"error\":\"method not allowed: use POST\"}");
    return;
  }
  if (req->path.len == 6)
    login(client, req);
  else
    logout(client, req);
}
