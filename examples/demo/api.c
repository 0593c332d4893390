/*
 * The demo's server API: POST /api/<method> with the header
 * "Authorization: apikey KEY" (or "X-API-Key: KEY") and a JSON object as
 * the body; the answer is
 * {"result":{...}} or {"error":{"code":N,"message":"..."}} with status 200
 * (400 when the body is not a JSON object, 401 for a wrong or missing key,
 * 405 for another HTTP method). Without --api-key every /api/ path is 404.
 * Each method is one call of the public API (server.h, push.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <nettle/base64.h>

#include "../loop.h"
#include "demo.h"

#define ERR_INTERNAL WSP_PROTO_ERROR_INTERNAL
#define ERR_METHOD WSP_PROTO_ERROR_METHOD_NOT_FOUND
#define ERR_BAD_REQUEST WSP_PROTO_ERROR_BAD_REQUEST
#define ERR_NOT_AVAILABLE WSP_PROTO_ERROR_NOT_AVAILABLE
#define ERR_UNRECOVERABLE WSP_PROTO_ERROR_UNRECOVERABLE_POSITION
#define DISCONNECT_CODE WSP_PROTO_DISCONNECT_FORCE_DISCONNECT
#define DISCONNECT_REASON "force disconnect"
#define MAX_REASON 123 /* what fits in a close frame */

static const char *api_key; /* NULL: the API is off */
static struct wsp_evlog *history; /* NULL: no history */

void api_init(const char *key, struct wsp_evlog *log) {
  api_key = key;
  history = log;
}

int api_path(const struct wsp_request *req) {
  return req->path.len >= 4 && memcmp(req->path.ptr, "/api", 4) == 0 &&
         (req->path.len == 4 || req->path.ptr[4] == '/');
}

/* ---- A growing output buffer ------------------------------------------- */

struct buf {
  char *p;
  size_t len, cap;
  int failed;
};

static char *buf_room(struct buf *b, size_t n) {
  if (b->failed)
    return NULL;
  if (b->cap - b->len < n + 1) {
    size_t cap = b->cap ? b->cap : 256;
    char *p;

    while (cap - b->len < n + 1)
      cap *= 2;
    if ((p = realloc(b->p, cap)) == NULL) {
      b->failed = 1;
      return NULL;
    }
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->len;
}

static void put(struct buf *b, const char *s) {
  size_t n = strlen(s);
  char *o = buf_room(b, n);

  if (o != NULL) {
    memcpy(o, s, n + 1);
    b->len += n;
  }
}

static void put_raw(struct buf *b, struct wsp_str v) {
  char *o = buf_room(b, v.len);

  if (o != NULL) {
    memcpy(o, v.ptr, v.len);
    o[v.len] = '\0';
    b->len += v.len;
  }
}

static void put_quoted(struct buf *b, const char *s) {
  char *o = buf_room(b, 6 * strlen(s) + 3);

  if (o != NULL)
    b->len += json_quote(o, s);
}

static void put_u64(struct buf *b, const char *name, uint64_t v) {
  char num[32];

  put(b, "\"");
  put(b, name);
  snprintf(num, sizeof num, "\":%llu", (unsigned long long)v);
  put(b, num);
}

static void put_error(struct buf *b, int code, const char *message) {
  char num[16];

  snprintf(num, sizeof num, "%d", code);
  put(b, "{\"error\":{\"code\":");
  put(b, num);
  put(b, ",\"message\":");
  put_quoted(b, message);
  put(b, "}}");
}

/* ---- Parameters --------------------------------------------------------- */

struct call {
  struct wsp_server *server;
  struct wsp_client *client; /* whose request this is */
  const char *body;
  size_t len;
  struct buf *out; /* the result object's members go here */
  const char *message; /* for an error code, when not the usual one */
  size_t items;        /* elements written to an array of the result */
};

/* The non-empty string member key, malloc'ed; NULL when absent. */
static char *param_string(const struct call *c, const char *key) {
  struct wsp_str v;
  char *s;

  if (!json_member(c->body, c->len, key, &v) || (s = json_string(v)) == NULL)
    return NULL;
  if (*s == '\0') {
    free(s);
    return NULL;
  }
  return s;
}

/* The standard base64 text s decoded (nettle) into a malloc'ed string;
 * NULL when it is not base64, decodes to a NUL byte, or memory is short. */
static char *b64_decode(const char *s) {
  struct base64_decode_ctx ctx;
  size_t n = BASE64_DECODE_LENGTH(strlen(s)), got = n;
  char *out = malloc(n + 1);

  base64_decode_init(&ctx);
  if (out == NULL ||
      !base64_decode_update(&ctx, &got, (uint8_t *)out, strlen(s), s) ||
      !base64_decode_final(&ctx) || memchr(out, 0, got) != NULL) {
    free(out);
    return NULL;
  }
  out[got] = '\0';
  return out;
}

/* A payload: the JSON value of member key ("data"), or of "b64"key
 * decoded from base64 ("b64data"), which must be JSON as well since the
 * protocol's JSON encoding carries payloads as JSON. 1 when found (*owned
 * is then the decoded copy to free, or NULL), 0 when absent,
 * ERR_BAD_REQUEST when both are given or b64 is not base64. */
static int payload(const struct call *c, const char *key, struct wsp_str *v,
                   char **owned) {
  char b64key[32];
  struct wsp_str b;
  char *text;
  int plain = json_member(c->body, c->len, key, v);

  *owned = NULL;
  snprintf(b64key, sizeof b64key, "b64%s", key);
  if (!json_member(c->body, c->len, b64key, &b))
    return plain;
  if (plain || (text = json_string(b)) == NULL)
    return ERR_BAD_REQUEST;
  *owned = b64_decode(text);
  free(text);
  if (*owned == NULL)
    return ERR_BAD_REQUEST;
  v->ptr = *owned;
  v->len = strlen(*owned); /* JSON text holds no NUL; a NUL fails below */
  return 1;
}

/* A negative WSP_ERR_* from the library as an API error code: a
 * configured limit (such as --history-channels) is 106, the request's
 * fault a bad request, anything else (memory, a full disk, a damaged
 * store) the server's. */
static int api_code(int rc) {
  switch (rc) {
  case WSP_ERR_LIMIT:
    return WSP_PROTO_ERROR_LIMIT_EXCEEDED;
  case WSP_ERR_INVAL:
  case WSP_ERR_JSON:
  case WSP_ERR_NOT_FOUND:
  case WSP_ERR_EPOCH:
  case WSP_ERR_EXPIRED:
  case WSP_ERR_TOKEN:
  case WSP_ERR_TOKEN_EXPIRED:
    return ERR_BAD_REQUEST;
  default:
    return ERR_INTERNAL;
  }
}

static int lib_error(struct call *c, long rc) {
  c->message = wsp_strerror((int)rc);
  return api_code((int)rc);
}

/* ---- Methods ----------------------------------------------------------- */

/* What a publication's result says: how many pushes went out and, on a
 * channel with history, the offset it got and the stream's epoch. */
static void put_publish_result(struct buf *b, const struct wsp_publish_result *r) {
  put_u64(b, "delivered", (uint64_t)r->delivered);
  if (r->epoch[0] != '\0') {
    put(b, ",");
    put_u64(b, "offset", r->offset);
    put(b, ",\"epoch\":");
    put_quoted(b, r->epoch);
  }
}

/* publish {"channel","data"} -> {"delivered":n,"offset"?,"epoch"?} */
/* A JSON boolean: 1 true, 0 false, -1 anything else. */
static int json_bool(struct wsp_str v) {
  if (v.len == 4 && memcmp(v.ptr, "true", 4) == 0)
    return 1;
  return v.len == 5 && memcmp(v.ptr, "false", 5) == 0 ? 0 : -1;
}

/* The options publish and broadcast share: skip_history (a boolean),
 * idempotency_key (a string) and tags (an object of strings); the caller
 * frees them with publish_opts_free(). */
static int publish_opts(struct call *c, struct wsp_publish_opts *o) {
  struct wsp_str v;
  char *tags;
  memset(o, 0, sizeof(*o));
  if (json_member(c->body, c->len, "skip_history", &v) &&
      (o->skip_history = json_bool(v)) < 0)
    return ERR_BAD_REQUEST;
  if (json_member(c->body, c->len, "idempotency_key", &v) &&
      (o->idempotency_key = json_string(v)) == NULL)
    return ERR_BAD_REQUEST;
  if (json_member(c->body, c->len, "tags", &v)) {
    if (v.len == 0 || v.ptr[0] != '{' || (tags = strndup(v.ptr, v.len)) == NULL)
      return ERR_BAD_REQUEST;
    o->tags = tags; /* the library checks the values are strings */
  }
  return 0;
}

static void publish_opts_free(struct wsp_publish_opts *o) {
  free((char *)o->idempotency_key);
  free((char *)o->tags);
}

/* A method's return value when it has answered (or will answer) the
 * request itself. */
#define ANSWERED (-1)

static void answer(struct wsp_client *client, int code, struct buf *result,
                   const char *message);

/* Calls waiting for the library's answer (on the Redis engine, until
 * Redis answers: publish, and with --redis presence and history), each
 * with the client whose request waits for the result; NULL once that
 * client is gone (api_client_gone). */
struct waiting {
  struct waiting *prev, *next;
  struct wsp_client *client;
  int inside;   /* wsp_server_publish_async() has not returned yet */
  int answered; /* done was called */
};
static struct waiting *waitings;

static void pending_unlink(struct waiting *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    waitings = p->next;
  if (p->next)
    p->next->prev = p->prev;
  free(p);
}

void api_client_gone(struct wsp_client *client) {
  struct waiting *p;
  for (p = waitings; p; p = p->next)
    if (p->client == client)
      p->client = NULL;
}

/* Register a wait for c's client. */
static struct waiting *wait_start(struct call *c) {
  struct waiting *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->client = c->client;
  p->inside = 1;
  if ((p->next = waitings) != NULL)
    waitings->prev = p;
  waitings = p;
  return p;
}

/* After the asynchronous call (rc its return): ANSWERED, or its error
 * when it was refused. */
static int wait_end(struct call *c, struct waiting *p, int rc) {
  p->inside = 0;
  if (rc < 0 || p->answered) {
    pending_unlink(p);
    return rc < 0 ? lib_error(c, rc) : ANSWERED;
  }
  if (wsp_client_defer(c->client) < 0) {
    p->client = NULL; /* done, but there is no answering later */
    c->message = "cannot wait for the result";
    return ERR_INTERNAL;
  }
  return ANSWERED;
}

/* The answer is given: forget the wait unless its call still runs. */
static void wait_answered(struct waiting *p) {
  p->answered = 1;
  if (!p->inside)
    pending_unlink(p);
}

static void publish_done(struct wsp_server *server, int err,
                         const struct wsp_publish_result *r, void *ud) {
  struct waiting *p = ud;
  struct buf result = {0};
  (void)server;
  if (p->client) {
    put(&result, "");
    if (err == 0)
      put_publish_result(&result, r);
    answer(p->client, err ? api_code(err) : 0, &result,
           err ? wsp_strerror(err) : NULL);
    free(result.p);
  }
  wait_answered(p);
}

static int do_publish(struct call *c) {
  char *channel = param_string(c, "channel"), *owned;
  struct wsp_str data;
  struct wsp_publish_opts opts;
  struct waiting *p;
  int rc;

  memset(&opts, 0, sizeof(opts));
  if (payload(c, "data", &data, &owned) != 1 || channel == NULL ||
      publish_opts(c, &opts) != 0) {
    free(channel);
    free(owned);
    publish_opts_free(&opts);
    return ERR_BAD_REQUEST;
  }
  /* Answered once stored: at once in one process, when Redis has it
   * with --redis (the request is deferred until then). */
  if ((p = wait_start(c)) == NULL) {
    free(channel);
    free(owned);
    publish_opts_free(&opts);
    return ERR_INTERNAL;
  }
  rc = wsp_server_publish_async(c->server, channel, data.ptr, data.len, &opts,
                                publish_done, p);
  free(channel);
  free(owned);
  publish_opts_free(&opts);
  return wait_end(c, p, rc);
}

/* broadcast {"channels":[...],"data"} -> {"responses":[{"result":...}|
 * {"error":...}, ...]}, one per channel in order. */
static int do_broadcast(struct call *c) {
  struct wsp_str channels, data, v;
  struct wsp_publish_opts opts;
  size_t pos = 0;
  int first = 1;
  char *owned;

  memset(&opts, 0, sizeof(opts));
  if (payload(c, "data", &data, &owned) != 1 ||
      !json_member(c->body, c->len, "channels", &channels) ||
      channels.len == 0 || channels.ptr[0] != '[' ||
      publish_opts(c, &opts) != 0) {
    free(owned);
    publish_opts_free(&opts);
    return ERR_BAD_REQUEST;
  }
  put(c->out, "\"responses\":[");
  while (json_element(channels, &pos, &v)) {
    char *channel = json_string(v);
    struct wsp_publish_result res;
    int n = channel != NULL && *channel != '\0'
                ? wsp_server_publish_with(c->server, channel, data.ptr,
                                          data.len, &opts, &res)
                : WSP_ERR_INVAL;

    put(c->out, first ? "" : ",");
    first = 0;
    if (n >= 0) {
      put(c->out, "{\"result\":{");
      put_publish_result(c->out, &res);
      put(c->out, "}}");
    } else {
      put_error(c->out, api_code(n), wsp_strerror(n));
    }
    free(channel);
  }
  free(owned);
  publish_opts_free(&opts);
  put(c->out, "]");
  return first ? ERR_BAD_REQUEST : 0; /* no channels at all */
}

/* The connection {"client"} names among the user's, as Centrifugo's
 * subscribe, unsubscribe and disconnect do: *found is NULL when the
 * request names none (every connection of the user is meant), and the
 * return is 0, or -1 when it names one the user does not have (a string
 * that is no id included), ERR_BAD_REQUEST when client is not a string. */
static int named_client(struct call *c, const char *user,
                        struct wsp_client **found) {
  struct wsp_str v;
  char *id;
  *found = NULL;
  if (!json_member(c->body, c->len, "client", &v))
    return 0;
  if ((id = json_string(v)) == NULL)
    return ERR_BAD_REQUEST;
  *found = user ? wsp_server_find_client(c->server, user, id) : NULL;
  free(id);
  return *found ? 0 : -1;
}

/* subscribe/unsubscribe {"user","channel","client"?} -> {"connections":n};
 * subscribe also takes "data" (or "b64data") for the client's subscribe
 * push and "info" (or "b64info") as the channel info of the subscription
 * (shown in presence and join/leave). */
static int user_channel(struct call *c, int subscribe) {
  char *user = param_string(c, "user"), *channel = param_string(c, "channel");
  char *data_owned = NULL, *info_owned = NULL, *info = NULL;
  struct wsp_subscribe_opts opts;
  struct wsp_str data = {NULL, 0}, chan_info;
  struct wsp_client *one;
  long n = WSP_ERR_INVAL;
  int rc = named_client(c, user, &one), rd = 0, ri = 0;

  memset(&opts, 0, sizeof(opts));
  if (subscribe && rc == 0) {
    rd = payload(c, "data", &data, &data_owned);
    ri = payload(c, "info", &chan_info, &info_owned);
    if (ri == 1 && (info = malloc(chan_info.len + 1)) != NULL) {
      memcpy(info, chan_info.ptr, chan_info.len);
      info[chan_info.len] = '\0';
    }
    if (rd > 1 || ri > 1 || (ri == 1 && info == NULL))
      rc = rd > 1 || ri > 1 ? ERR_BAD_REQUEST : ERR_INTERNAL;
    opts.data = data.ptr;
    opts.len = data.len;
    opts.chan_info = info;
  }
  if (rc > 0) {
    free(user);
    free(channel);
    free(data_owned);
    free(info_owned);
    free(info);
    return rc;
  }
  if (rc < 0 && user != NULL && channel != NULL)
    n = 0; /* no such connection of the user */
  else if (one != NULL && channel != NULL)
    n = subscribe ? wsp_server_subscribe_with(one, channel, &opts)
                  : wsp_server_unsubscribe(one, channel);
  else if (user != NULL && channel != NULL)
    n = subscribe
            ? wsp_server_subscribe_user_with(c->server, user, channel, &opts)
            : wsp_server_unsubscribe_user(c->server, user, channel);
  if (one != NULL && channel != NULL && n == 0)
    n = 1; /* the one connection named */
  else if (one != NULL && channel != NULL && n != WSP_ERR_JSON)
    n = 0;
  free(user);
  free(channel);
  free(data_owned);
  free(info_owned);
  free(info);
  if (n < 0)
    return n == WSP_ERR_INVAL ? ERR_BAD_REQUEST : lib_error(c, n);
  put_u64(c->out, "connections", (uint64_t)n);
  return 0;
}

static int do_subscribe(struct call *c) {
  return user_channel(c, 1);
}

static int do_unsubscribe(struct call *c) {
  return user_channel(c, 0);
}

/* disconnect {"user","code"?,"reason"?} -> {"connections":n}; the code
 * (3000-4999) defaults to 3503 "force disconnect". */
static int do_disconnect(struct call *c) {
  char *user = param_string(c, "user"), *reason;
  struct wsp_str v, obj = {c->body, c->len};
  double code = DISCONNECT_CODE;
  long n = WSP_ERR_INVAL;

  /* Centrifugo's shape {"user","disconnect":{"code","reason"}}, or code
   * and reason beside user. */
  if (json_member(c->body, c->len, "disconnect", &v)) {
    if (v.len == 0 || v.ptr[0] != '{') {
      free(user);
      return ERR_BAD_REQUEST;
    }
    obj = v;
  }
  reason = json_member(obj.ptr, obj.len, "reason", &v) ? json_string(v) : NULL;
  if (reason == NULL && json_member(obj.ptr, obj.len, "reason", &v)) {
    free(user);
    return ERR_BAD_REQUEST; /* not a string */
  }
  if (reason != NULL && *reason == '\0') {
    free(reason); /* the default reason */
    reason = NULL;
  }
  if (json_member(obj.ptr, obj.len, "code", &v) &&
      (!json_number(v, &code) || code != (int)code || code < 3000 ||
       code > 4999))
    code = -1;
  if (user != NULL && code > 0 &&
      (reason == NULL || strlen(reason) <= MAX_REASON)) {
    struct wsp_client *one;
    int rc = named_client(c, user, &one);
    if (rc > 0) {
      free(user);
      free(reason);
      return rc;
    }
    if (rc < 0)
      n = 0; /* no such connection of the user */
    else if (one != NULL)
      n = wsp_client_disconnect(
              one, (int)code, reason != NULL ? reason : DISCONNECT_REASON) == 0;
    else
      n = wsp_server_disconnect_user(c->server, user, (int)code,
                                     reason != NULL ? reason
                                                    : DISCONNECT_REASON);
  }
  free(user);
  free(reason);
  if (n < 0)
    return n == WSP_ERR_INVAL ? ERR_BAD_REQUEST : lib_error(c, n);
  put_u64(c->out, "connections", (uint64_t)n);
  return 0;
}

/* send {"user","data"} -> {"connections":n}: a message push to every
 * connection of the user. */
static int do_send(struct call *c) {
  char *user = param_string(c, "user"), *owned;
  struct wsp_str data;
  long n = WSP_ERR_INVAL;

  if (payload(c, "data", &data, &owned) == 1 && user != NULL)
    n = wsp_push_user(c->server, user, data.ptr, data.len);
  free(user);
  free(owned);
  if (n < 0)
    return n == WSP_ERR_INVAL ? ERR_BAD_REQUEST : lib_error(c, n);
  put_u64(c->out, "connections", (uint64_t)n);
  return 0;
}

/* refresh {"user","client"?,"expired"?,"expire_at"?} -> {"connections":n}:
 * expired closes with 3005; expire_at (Unix seconds) is the new expiry,
 * told to the client by a refresh push; neither: no expiry. */
static int do_refresh(struct call *c) {
  char *user = param_string(c, "user");
  struct wsp_client *one = NULL;
  struct wsp_str v;
  double at = 0;
  int expired = 0, rc = user != NULL ? named_client(c, user, &one) : 0;
  uint64_t expires_at = 0, now = loop_now_ms();
  long n;

  if (user == NULL ||
      (json_member(c->body, c->len, "expired", &v) &&
       (expired = json_bool(v)) < 0) ||
      (json_member(c->body, c->len, "expire_at", &v) &&
       (!json_number(v, &at) || at != (int64_t)at || at < 0 || at > 1e15)))
    rc = ERR_BAD_REQUEST;
  if (rc > 0) {
    free(user);
    return rc;
  }
  if (expired) {
    expires_at = now ? now : 1; /* not in the future: expired */
  } else if (at > 0) {
    /* from the Unix clock to the hub's monotonic one */
    int64_t left = (int64_t)at - (int64_t)time(NULL);
    expires_at = left <= 0 ? (now ? now : 1) : now + (uint64_t)left * 1000;
  }
  if (rc < 0)
    n = 0; /* no such connection of the user */
  else if (one != NULL)
    n = wsp_client_refresh(one, expires_at) == 0;
  else
    n = wsp_server_refresh_user(c->server, user, expires_at);
  free(user);
  if (n < 0)
    return lib_error(c, n);
  put_u64(c->out, "connections", (uint64_t)n);
  return 0;
}

/* channels {"pattern"?} -> {"channels":{"<channel>":{"num_clients":n}}}:
 * this node's channels with subscribers, those matching pattern ('*' any
 * run of characters, '?' any one; Centrifugo's glob) when given. */
struct channels {
  struct call *c;
  const char *pattern;
  size_t n;
};

static int glob_match(const char *p, const char *s, size_t len) {
  const char *star = NULL, *end = s + len, *resume = NULL;

  while (s < end) {
    if (*p == '*') {
      star = ++p;
      resume = s;
    } else if (*p != '\0' && (*p == '?' || *p == *s)) {
      p++;
      s++;
    } else if (star != NULL) {
      p = star;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*p == '*')
    p++;
  return *p == '\0';
}

static void channels_one(const char *channel, size_t len, size_t clients,
                         void *ud) {
  struct channels *ch = ud;
  char *name;

  if (ch->pattern != NULL && !glob_match(ch->pattern, channel, len))
    return;
  if ((name = strndup(channel, len)) == NULL) {
    ch->c->out->failed = 1;
    return;
  }
  put(ch->c->out, ch->n++ ? "," : "");
  put_quoted(ch->c->out, name);
  put(ch->c->out, ":{");
  put_u64(ch->c->out, "num_clients", clients);
  put(ch->c->out, "}");
  free(name);
}

static int do_channels(struct call *c) {
  struct channels ch = {c, NULL, 0};
  char *pattern = param_string(c, "pattern");
  int rc;

  ch.pattern = pattern;
  put(c->out, "\"channels\":{");
  rc = wsp_server_each_channel(c->server, channels_one, &ch);
  put(c->out, "}");
  free(pattern);
  return rc < 0 ? lib_error(c, rc) : 0;
}

/* The presence of this node, or with --redis of every node, from Redis.
 * members holds client id and ClientInfo JSON pairs; ud->stats asks for
 * the counts. */
struct presence_wait {
  struct waiting *w;
  int stats;
};

static void presence_done(struct wsp_server *server, int err,
                          const struct wsp_str *members, size_t n, void *ud) {
  struct presence_wait *pw = ud;
  struct buf result = {0};
  size_t i, j, users = 0;
  (void)server;
  if (pw->w->client) {
    put(&result, "");
    for (i = 0; !err && !pw->stats && i < n; i++) {
      char *id = strndup(members[2 * i].ptr, members[2 * i].len);
      put(&result, i ? "," : "\"presence\":{");
      put_quoted(&result, id ? id : "");
      put(&result, ":");
      put_raw(&result, members[2 * i + 1]);
      free(id);
    }
    if (!err && !pw->stats)
      put(&result, n ? "}" : "\"presence\":{}");
    if (!err && pw->stats) {
      /* users: the "user" members, each counted once */
      for (i = 0; i < n; i++) {
        struct wsp_str ui, uj;
        int seen = 0;
        if (!json_member(members[2 * i + 1].ptr, members[2 * i + 1].len,
                         "user", &ui))
          continue;
        for (j = 0; j < i && !seen; j++)
          seen = json_member(members[2 * j + 1].ptr, members[2 * j + 1].len,
                             "user", &uj) &&
                 uj.len == ui.len && memcmp(uj.ptr, ui.ptr, ui.len) == 0;
        users += !seen;
      }
      put_u64(&result, "num_clients", n);
      put(&result, ",");
      put_u64(&result, "num_users", users);
    }
    answer(pw->w->client, err ? api_code(err) : 0, &result,
           err ? wsp_strerror(err) : NULL);
    free(result.p);
  }
  wait_answered(pw->w);
  free(pw);
}

static int presence_async(struct call *c, int stats) {
  char *channel = param_string(c, "channel");
  struct presence_wait *pw;
  struct waiting *w;
  int rc;
  if (channel == NULL)
    return ERR_BAD_REQUEST;
  if ((pw = calloc(1, sizeof *pw)) == NULL ||
      (pw->w = wait_start(c)) == NULL) {
    free(pw);
    free(channel);
    return ERR_INTERNAL;
  }
  pw->stats = stats;
  w = pw->w;
  rc = wsp_server_presence_async(c->server, channel, presence_done, pw);
  free(channel);
  if (rc < 0)
    free(pw); /* done will not be called */
  return wait_end(c, w, rc);
}

/* presence {"channel"} -> {"presence":{client-id:ClientInfo,...}}, each
 * ClientInfo {"user","client","conn_info"?,"chan_info"?} */
static int do_presence(struct call *c) {
  /* each member's whole ClientInfo (conn_info and chan_info too), from
   * this node at once or from Redis for every node */
  return presence_async(c, 0);
}

/* presence_stats {"channel"} -> {"num_clients":n,"num_users":m} */
static int do_presence_stats(struct call *c) {
  char *channel;
  size_t clients = 0, users = 0;
  int rc;

  if (redis_engine())
    return presence_async(c, 1);
  if ((channel = param_string(c, "channel")) == NULL)
    return ERR_BAD_REQUEST;
  rc = wsp_server_presence_stats(c->server, channel, &clients, &users);
  free(channel);
  if (rc < 0)
    return lib_error(c, rc);
  put_u64(c->out, "num_clients", clients);
  put(c->out, ",");
  put_u64(c->out, "num_users", users);
  return 0;
}

/* info {} -> counters of the hub (wsp_server_get_stats) and the number of
 * channels and patterns with subscribers. */
static int do_info(struct call *c) {
  struct wsp_server_stats st;
  struct wsp_session_stats ss;
  size_t nsessions;
  char code[16];
  size_t i;

  wsp_server_get_stats(c->server, &st);
  put_u64(c->out, "connections", st.connections);
  put(c->out, ",");
  put_u64(c->out, "channels", wsp_server_channels(c->server));
  put(c->out, ",");
  put_u64(c->out, "subscriptions", st.subscriptions);
  put(c->out, ",");
  put_u64(c->out, "accepted", st.accepted);
  put(c->out, ",");
  put_u64(c->out, "publications", st.publications);
  put(c->out, ",");
  put_u64(c->out, "deliveries", st.deliveries);
  put(c->out, ",");
  put_u64(c->out, "slow_closes", st.slow_closes);
  put(c->out, ",");
  put_u64(c->out, "lagged", st.lagged);
  put(c->out, ",");
  put_u64(c->out, "refused_origin", st.refused_origin);
  put(c->out, ",");
  put_u64(c->out, "errors_limit", st.errors_limit);
  auth_session_stats(&nsessions, &ss);
  put(c->out, ",");
  put_u64(c->out, "sessions", nsessions);
  put(c->out, ",");
  put_u64(c->out, "sessions_evicted", ss.evicted);
  if (history != NULL) { /* publications the store refused, and why */
    struct wsp_evlog_stats es;
    wsp_evlog_get_stats(history, &es);
    put(c->out, ",");
    put_u64(c->out, "history_append_errors", es.append_errors);
    put(c->out, ",");
    put_u64(c->out, "history_io_errors", es.io_errors);
  }
  put(c->out, ",\"closes\":{");
  for (i = 0; i < st.nclose_codes && i < 32; i++) {
    snprintf(code, sizeof code, "%u", st.closes[i].code);
    put(c->out, i ? "," : "");
    put_u64(c->out, code, st.closes[i].count);
  }
  put(c->out, "}");
  return 0;
}

/* One publication of the history as JSON. */
static int history_one(const struct wsp_evlog_event *e, void *user_data) {
  struct call *c = user_data;
  struct wsp_str info, tags;
  char num[32];

  wsp_server_event_meta(e, &info, &tags);
  put(c->out, c->items++ ? ",{" : "{");
  if (e->data.len) {
    put(c->out, "\"data\":");
    put_raw(c->out, e->data);
    put(c->out, ",");
  }
  if (info.len) {
    put(c->out, "\"info\":");
    put_raw(c->out, info);
    put(c->out, ",");
  }
  if (tags.len) {
    put(c->out, "\"tags\":");
    put_raw(c->out, tags);
    put(c->out, ",");
  }
  snprintf(num, sizeof num, "%llu", (unsigned long long)e->offset);
  put(c->out, "\"offset\":");
  put(c->out, num);
  put(c->out, "}");
  return 0;
}

/* history {"channel","limit"?,"since"?:{"offset","epoch"},"reverse"?} ->
 * {"publications":[...],"epoch","offset"}. limit 0 or absent: only the
 * position; -1: everything kept. A since of another epoch is 112; as
 * with Centrifugo, beyond the top there is nothing, and forwards from a
 * position no longer kept the oldest kept come first. */
/* With --redis: the history from Redis, through the hub. */
static void history_done(struct wsp_server *server, int err,
                         const struct wsp_evlog_position *pos,
                         const struct wsp_evlog_event *events, size_t n,
                         void *ud) {
  struct waiting *w = ud;
  struct buf result = {0};
  struct call c = {0};
  size_t i;
  (void)server;
  if (w->client) {
    c.out = &result;
    put(&result, "");
    if (err == 0) {
      put(&result, "\"publications\":[");
      for (i = 0; i < n; i++)
        history_one(&events[i], &c);
      put(&result, "],\"epoch\":");
      put_quoted(&result, pos->epoch);
      put(&result, ",");
      put_u64(&result, "offset", pos->offset);
    }
    answer(w->client,
           err == 0                   ? 0
           : err == WSP_ERR_EPOCH     ? ERR_UNRECOVERABLE
           : err == WSP_ERR_NOT_FOUND ? ERR_NOT_AVAILABLE
                                      : api_code(err),
           &result, NULL);
    free(result.p);
  }
  wait_answered(w);
}

static int history_async(struct call *c, char *channel, char *epoch,
                         double limit, int reverse,
                         const struct wsp_str *since, double offset) {
  struct wsp_history_query q;
  struct waiting *w;
  int rc;
  memset(&q, 0, sizeof q);
  q.limit = (int64_t)limit;
  q.reverse = reverse;
  q.has_since = since->ptr != NULL;
  q.since_offset = (uint64_t)offset;
  q.since_epoch = epoch;
  if ((w = wait_start(c)) == NULL) {
    free(channel);
    free(epoch);
    return ERR_INTERNAL;
  }
  rc = wsp_server_history_async(c->server, channel, &q, history_done, w);
  free(channel);
  free(epoch);
  return wait_end(c, w, rc);
}

static int do_history(struct call *c) {
  char *channel = param_string(c, "channel"), *epoch = NULL;
  struct wsp_evlog_position pos;
  struct wsp_str v, since;
  double limit = 0, offset = 0;
  int reverse = 0, bad = channel == NULL;
  long n;

  if (history == NULL && !redis_engine()) {
    free(channel);
    return ERR_NOT_AVAILABLE;
  }
  since.ptr = NULL;
  since.len = 0;
  if (json_member(c->body, c->len, "limit", &v) &&
      (!json_number(v, &limit) || limit != (long)limit || limit < -1))
    bad = 1;
  if (json_member(c->body, c->len, "reverse", &v) &&
      (reverse = json_bool(v)) < 0)
    bad = 1;
  if (json_member(c->body, c->len, "since", &since)) {
    if (json_member(since.ptr, since.len, "offset", &v) &&
        (!json_number(v, &offset) || offset < 0 ||
         offset != (double)(uint64_t)offset))
      bad = 1;
    if (json_member(since.ptr, since.len, "epoch", &v) &&
        (epoch = json_string(v)) == NULL)
      bad = 1;
    if (reverse > 0 && offset == 0)
      bad = 1; /* backwards from nothing */
  }
  if (bad) {
    free(channel);
    free(epoch);
    return ERR_BAD_REQUEST;
  }
  if (history == NULL)
    return history_async(c, channel, epoch, limit, reverse > 0, &since,
                         offset);
  /* backwards from beyond the top: nothing (the log would start at it) */
  if (reverse > 0 && offset > 0 &&
      wsp_evlog_position(history, channel, strlen(channel), &pos) == 0 &&
      (uint64_t)offset > pos.offset + 1)
    limit = 0;
  put(c->out, "\"publications\":[");
  n = wsp_evlog_read(history, channel, strlen(channel), epoch,
                     (uint64_t)offset,
                     limit < 0 ? WSP_EVLOG_NO_LIMIT : (size_t)limit,
                     reverse ? WSP_EVLOG_REVERSE : 0, history_one, c, &pos);
  free(channel);
  free(epoch);
  if (n == WSP_ERR_EPOCH)
    return ERR_UNRECOVERABLE;
  if (n < 0)
    return lib_error(c, n);
  put(c->out, "],\"epoch\":");
  put_quoted(c->out, pos.epoch);
  put(c->out, ",");
  put_u64(c->out, "offset", pos.offset);
  return 0;
}

/* history_remove {"channel"} -> {}: the channel's history and position
 * are forgotten; its next publication starts a new epoch. */
static int do_history_remove(struct call *c) {
  char *channel = param_string(c, "channel");
  int rc;

  if (history == NULL) {
    free(channel);
    return ERR_NOT_AVAILABLE;
  }
  if (channel == NULL)
    return ERR_BAD_REQUEST;
  /* As Centrifugo does: the publications go, the stream's position (its
   * top offset and epoch) stays, so positions handed out remain valid. */
  rc = wsp_evlog_clear(history, channel, strlen(channel), loop_wall_ms());
  free(channel);
  return rc < 0 && rc != WSP_ERR_NOT_FOUND ? lib_error(c, rc) : 0;
}

/* ---- Requests ----------------------------------------------------------- */

static void respond_json(struct wsp_client *client, int status,
                         struct buf *b) {
  if (b->failed) {
    static const char oom[] =
        "{\"error\":{\"code\":100,\"message\":\"internal server error\"}}";
    wsp_client_respond(client, 500, "application/json", oom, sizeof oom - 1);
    return;
  }
  wsp_client_respond(client, status, "application/json", b->p, b->len);
}

/* "Authorization: apikey KEY" (the scheme in any case) or "X-API-Key:
 * KEY", as Centrifugo takes them, with KEY equal to --api-key, compared in
 * a time that does not depend on where they differ. */
static int authorized(const struct wsp_request *req) {
  struct wsp_str v;
  size_t i = 6, j, klen = strlen(api_key);
  unsigned diff = 0;

  if (wsp_header_get(req->headers, req->nheaders, "X-API-Key", 0, &v)) {
    i = 0;
  } else if (!wsp_header_get(req->headers, req->nheaders, "Authorization", 0,
                             &v) ||
             v.len < 7 || strncasecmp(v.ptr, "apikey", 6) != 0 ||
             v.ptr[6] != ' ') {
    return 0;
  }
  while (i < v.len && v.ptr[i] == ' ')
    i++;
  if (v.len - i != klen)
    return 0;
  for (j = 0; j < klen; j++)
    diff |= (unsigned char)(v.ptr[i + j] ^ api_key[j]);
  return diff == 0;
}

/* Members of Centrifugo's requests that this API cannot honour: rather
 * than ignore them (and do something else than asked), a request with
 * one of them is refused with 107 naming it. Publication versions need a
 * per-channel version store; sessions here are the login cookie's, not
 * Centrifugo's connection session ids; recover_since and override
 * change a server-side subscription's recovery and channel options,
 * which are the hub's; whitelist exempts clients from a disconnect. */
static const char *const refused_publish[] = {"version", "version_epoch", NULL};
static const char *const refused_subscribe[] = {"session", "recover_since",
                                                "override", NULL};
static const char *const refused_session[] = {"session", NULL};
static const char *const refused_disconnect[] = {"session", "whitelist", NULL};
static const char *const refused_refresh[] = {"session", "info", NULL};

static int refused_member(struct call *c, const char *const *names) {
  static char why[64];
  struct wsp_str v;
  for (; names && *names; names++)
    if (json_member(c->body, c->len, *names, &v) &&
        !(v.len == 4 && memcmp(v.ptr, "null", 4) == 0)) {
      snprintf(why, sizeof why, "%s is not supported", *names);
      c->message = why;
      return ERR_BAD_REQUEST;
    }
  return 0;
}

void api_serve(struct wsp_client *client, const struct wsp_request *req) {
  static const struct {
    const char *name;
    int (*fn)(struct call *);
    const char *const *refused;
  } methods[] = {
      {"publish", do_publish, refused_publish},
      {"broadcast", do_broadcast, refused_publish},
      {"subscribe", do_subscribe, refused_subscribe},
      {"unsubscribe", do_unsubscribe, refused_session},
      {"disconnect", do_disconnect, refused_disconnect},
      {"send", do_send, NULL},
      {"presence", do_presence, NULL},
      {"presence_stats", do_presence_stats, NULL},
      {"info", do_info, NULL},
      {"channels", do_channels, NULL},
      {"refresh", do_refresh, refused_refresh},
      {"history", do_history, NULL},
      {"history_remove", do_history_remove, NULL},
  };
  struct buf out = {0}, result = {0};
  struct call c = {0};
  const char *name = req->path.ptr + 5;
  size_t nlen = req->path.len > 5 ? req->path.len - 5 : 0, i;
  int code = ERR_METHOD;

  if (api_key == NULL) {
    put(&out, "not found\n");
    wsp_client_respond(client, 404, "text/plain", out.p, out.len);
    free(out.p);
    return;
  }
  if (req->method.len != 4 || memcmp(req->method.ptr, "POST", 4) != 0) {
    put_error(&out, 405, "method not allowed: use POST");
    wsp_conn_add_header(wsp_client_get_conn(client), "Allow", "POST");
    respond_json(client, 405, &out);
    free(out.p);
    return;
  }
  if (!authorized(req)) {
    put_error(&out, 401, "unauthorized");
    wsp_conn_add_header(wsp_client_get_conn(client), "WWW-Authenticate",
                        "apikey");
    respond_json(client, 401, &out);
    free(out.p);
    return;
  }
  c.server = wsp_client_get_server(client);
  c.client = client;
  c.out = &result;
  /* An empty body reads as {} (info needs no parameters). */
  c.body = req->body.len ? req->body.ptr : "{}";
  c.len = req->body.len ? req->body.len : 2;
  for (i = 0; i < c.len && strchr(" \t\r\n", c.body[i]) != NULL; i++)
    ;
  if (!json_valid(c.body, c.len) || c.body[i] != '{') {
    put_error(&out, ERR_BAD_REQUEST, "the body is not a JSON object");
    respond_json(client, 400, &out);
    free(out.p);
    return;
  }
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strlen(methods[i].name) == nlen &&
        memcmp(methods[i].name, name, nlen) == 0)
      break;
  put(&result, ""); /* an empty result is {} */
  if (i < sizeof methods / sizeof methods[0] &&
      (code = refused_member(&c, methods[i].refused)) == 0)
    code = methods[i].fn(&c);
  if (code != ANSWERED)
    answer(client, code, &result, c.message);
  free(out.p);
  free(result.p);
}

/* {"result":{...result}} for code 0, else the error of code. */
static void answer(struct wsp_client *client, int code, struct buf *result,
                   const char *message) {
  struct buf out = {0};
  if (code == 0) {
    put(&out, "{\"result\":{");
    put_raw(&out, (struct wsp_str){result->p ? result->p : "", result->len});
    put(&out, "}}");
    out.failed |= result->failed;
  } else {
    const char *text = wsp_proto_error_message(code);
    put_error(&out, code, message != NULL ? message : text ? text : "error");
  }
  respond_json(client, 200, &out);
  free(out.p);
}
