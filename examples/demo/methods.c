/*
 * The demo's RPC methods, its answer to send, and its connect and channel
 * policies.
 * sleep shows a deferred reply: the call handle waits in a small min-heap
 * until the loop's timer says it is due.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../loop.h"
#include "demo.h"

#define SLEEP_MAX_MS 10000
#define ERR_BAD_REQUEST WSP_PROTO_ERROR_BAD_REQUEST
#define ERR_FAIL 1000       /* application codes are 400-1999 */

/* ---- Pending sleeps: a binary min-heap ordered by due time ------------- */

struct sleeper {
  uint64_t due;
  uint64_t call;
  unsigned ms;
};

static struct sleeper *heap;
static size_t nheap, heap_cap;

static void heap_swap(size_t i, size_t j) {
  struct sleeper t = heap[i];
  heap[i] = heap[j];
  heap[j] = t;
}

static int heap_push(struct sleeper s) {
  size_t i;

  if (nheap == heap_cap) {
    size_t cap = heap_cap ? heap_cap * 2 : 64;
    struct sleeper *h = realloc(heap, cap * sizeof *h);
    if (h == NULL)
      return -1;
    heap = h;
    heap_cap = cap;
  }
  heap[i = nheap++] = s;
  for (; i > 0 && heap[(i - 1) / 2].due > heap[i].due; i = (i - 1) / 2)
    heap_swap(i, (i - 1) / 2);
  return 0;
}

static struct sleeper heap_pop(void) {
  struct sleeper top = heap[0];
  size_t i = 0;

  heap[0] = heap[--nheap];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < nheap && heap[l].due < heap[m].due)
      m = l;
    if (r < nheap && heap[r].due < heap[m].due)
      m = r;
    if (m == i)
      break;
    heap_swap(i, m);
    i = m;
  }
  return top;
}

uint64_t methods_next_deadline(void) {
  return nheap > 0 ? heap[0].due : WSP_NO_DEADLINE;
}

void methods_tick(struct wsp_server *server, uint64_t now) {
  char out[32];

  while (nheap > 0 && heap[0].due <= now) {
    struct sleeper s = heap_pop();
    int n = snprintf(out, sizeof out, "{\"slept\":%u}", s.ms);
    /* Safe even when the caller has gone: the hub counts a late reply. */
    wsp_rpc_reply(server, s.call, out, (size_t)n);
  }
}

void methods_free(void) {
  free(heap);
  heap = NULL;
  nheap = heap_cap = 0;
}

/* ---- Methods ------------------------------------------------------------ */

static void bad_request(struct wsp_server *server, uint64_t call) {
  wsp_rpc_error(server, call, ERR_BAD_REQUEST, "bad request", 0);
}

/* echo: the data back as it came (no data: a reply without data). */
static void do_echo(struct wsp_client *client, uint64_t call,
                    const char *method, const uint8_t *data, size_t len,
                    void *user_data) {
  wsp_rpc_reply(wsp_client_get_server(client), call, data, len);
}

/* Reply with what w holds, or an error when the writer failed; frees w. */
static void reply_written(struct wsp_server *server, uint64_t call,
                          struct wsp_json_writer *w) {
  const char *out;
  size_t n;

  if ((out = wsp_json_writer_data(w, &n)) != NULL)
    wsp_rpc_reply(server, call, out, n);
  else
    wsp_rpc_error(server, call, WSP_PROTO_ERROR_INTERNAL,
                  "internal server error", 1);
  wsp_json_writer_free(w);
}

/* The reply {"name":v}; an error reply when the writer failed. */
static void reply_number(struct wsp_server *server, uint64_t call,
                         const char *name, double v) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);

  wsp_json_writer_begin_object(w);
  wsp_json_writer_key(w, name);
  wsp_json_writer_double(w, v);
  wsp_json_writer_end_object(w);
  reply_written(server, call, w);
}

/* The number member name of the JSON object data[0..len). */
static int get_number(const uint8_t *data, size_t len, const char *name,
                      double *out) {
  struct wsp_json obj, v;

  return wsp_json_parse(data, len, &obj, NULL) == 0 &&
         wsp_json_get(&obj, name, &v) == 1 && wsp_json_double(&v, out) == 0;
}

/* add: {"a":x,"b":y} -> {"sum":x+y}. */
static void do_add(struct wsp_client *client, uint64_t call,
                   const char *method, const uint8_t *data, size_t len,
                   void *user_data) {
  struct wsp_server *server = wsp_client_get_server(client);
  double x, y;

  if (!get_number(data, len, "a", &x) || !get_number(data, len, "b", &y) ||
      !isfinite(x + y)) {
    bad_request(server, call);
    return;
  }
  reply_number(server, call, "sum", x + y);
}

/* sleep: {"ms":n} -> {"slept":n} after n ms; the reply is deferred. */
static void do_sleep(struct wsp_client *client, uint64_t call,
                     const char *method, const uint8_t *data, size_t len,
                     void *user_data) {
  struct wsp_server *server = wsp_client_get_server(client);
  struct sleeper s;
  double ms;

  if (!get_number(data, len, "ms", &ms) || ms < 0 || ms > SLEEP_MAX_MS ||
      ms != (double)(unsigned)ms) {
    bad_request(server, call);
    return;
  }
  s.due = loop_now_ms() + (uint64_t)ms;
  s.call = call;
  s.ms = (unsigned)ms;
  if (heap_push(s) < 0)
    wsp_rpc_error(server, call, WSP_PROTO_ERROR_INTERNAL,
                  "internal server error", 1);
}

/* fail: always the application error 1000. */
static void do_fail(struct wsp_client *client, uint64_t call,
                    const char *method, const uint8_t *data, size_t len,
                    void *user_data) {
  wsp_rpc_error(wsp_client_get_server(client), call, ERR_FAIL, "fail", 0);
}

/* whoami: {"user":..., "client":...} of the calling connection. */
static void do_whoami(struct wsp_client *client, uint64_t call,
                      const char *method, const uint8_t *data, size_t len,
                      void *user_data) {
  struct wsp_server *server = wsp_client_get_server(client);
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);

  wsp_json_writer_begin_object(w);
  wsp_json_writer_key(w, "user");
  wsp_json_writer_string(w, wsp_client_get_user(client));
  wsp_json_writer_key(w, "client");
  wsp_json_writer_string(w, wsp_client_get_id(client));
  wsp_json_writer_end_object(w);
  reply_written(server, call, w);
}

int methods_register(struct wsp_server *server) {
  static const struct {
    const char *name;
    void (*handler)(struct wsp_client *, uint64_t, const char *,
                    const uint8_t *, size_t, void *);
  } methods[] = {
      {"echo", do_echo}, {"add", do_add},       {"sleep", do_sleep},
      {"fail", do_fail}, {"whoami", do_whoami},
  };
  size_t i;
  int rc;

  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if ((rc = wsp_rpc_register(server, methods[i].name, methods[i].handler,
                               NULL)) < 0)
      return rc;
  return 0;
}

/* ---- Connect and send ----------------------------------------------------- */

int methods_on_connect(struct wsp_client *client,
                       const struct wsp_connect_info *info, void *user_data) {
  struct wsp_str v;
  char *user;

  /* DEMO ONLY: without --token-* flags everyone is accepted and may
   * claim any user name in the connect data ({"user":"ann"}). With them
   * the user comes from the verified token or the session cookie. */
  if (auth_tokens_on() || wsp_client_get_user(client)[0] != '\0')
    return 0;
  if (json_member(info->data.ptr, info->data.len, "user", &v) &&
      (user = json_string(v)) != NULL) {
    wsp_client_set_user(client, user);
    free(user);
  }
  return 0;
}

/* A send is answered with a message push carrying the same data. */
void methods_on_send(struct wsp_client *client, const uint8_t *data,
                     size_t len, void *user_data) {
  wsp_client_push_message(client, data, len);
}

/* ---- Channels ----------------------------------------------------------- */

static int denied(const char *p, size_t len) {
  size_t n = strlen(DEMO_DENIED_PREFIX);

  return len >= n && memcmp(p, DEMO_DENIED_PREFIX, n) == 0;
}

/* Any channel or pattern, except channels starting with "denied:" and
 * patterns whose first segment is a wildcard ("*.x", ">"): those could
 * match a denied channel. */
int methods_on_subscribe(struct wsp_client *client, uint64_t sub,
                         const struct wsp_subscribe_info *info,
                         void *user_data) {
  const char *p = info->channel.ptr;
  size_t len = info->channel.len;

  if (denied(p, len))
    return WSP_PROTO_ERROR_PERMISSION_DENIED;
  if (info->wildcard && len >= 1 && (p[0] == '*' || p[0] == '>') &&
      (len == 1 || p[1] == '.'))
    return WSP_PROTO_ERROR_PERMISSION_DENIED;
  return 0;
}

/* Clients may publish to any channel, subscribed or not, but not to a
 * denied one. */
int methods_on_publish(struct wsp_client *client,
                       const struct wsp_str *channel, const uint8_t *data,
                       size_t len, void *user_data) {
  return denied(channel->ptr, channel->len) ? WSP_PROTO_ERROR_PERMISSION_DENIED
                                            : 0;
}
