/*
 * wsp_rpc: method handlers on the hub. Every call is a pending request
 * (pending.c), so a call's handle is its id in the server's correlation
 * table: replying late, twice or after the connection went finds no
 * entry and is counted, never a crash.
 */
#include <string.h>

#include "hub_private.h"

/* The completion of a call: its reply, error or timeout. */
static void call_done(struct wsp__pending *pc, int status, const void *data,
                      size_t len) {
  struct wsp_client *cl = pc->cl;
  struct wsp_server *s = cl->srv;
  uint32_t cmd_id = pc->cmd_id;
  wsp__metrics_observe(&s->metrics.rpc,
                       wsp__metrics_since(pc->started, wsp__server_now(s)), 1);
  wsp__client_enter(cl);
  if (status == WSP_ERR_TIMEOUT || status == STATUS_SUB_ANSWER) {
    wsp__cf_out_error(
        cl, cmd_id, WSP_PROTO_ERROR_INTERNAL,
        status == WSP_ERR_TIMEOUT ? "timeout" : "internal server error", 1);
  } else {
    wsp__cf_out_rpc(cl, cmd_id, status == STATUS_ERROR, data, len);
  }
  wsp__client_leave(cl);
}

static struct wsp__method *find_method(struct wsp_server *s, const char *name) {
  size_t i;
  for (i = 0; i < s->nmethods; i++)
    if (strcmp(s->methods[i].name, name) == 0)
      return &s->methods[i];
  return NULL;
}

void wsp__rpc_dispatch(struct wsp_client *cl, uint32_t cmd_id,
                       const char *method, const char *data, size_t len) {
  struct wsp_server *s = cl->srv;
  struct wsp__method *m = find_method(s, method);
  struct wsp__pending *pc;
  uint32_t id;

  if (!m) {
    wsp__cf_out_error(cl, cmd_id, WSP_PROTO_ERROR_METHOD_NOT_FOUND,
                      "method not found", 0);
    return;
  }
  if (!wsp__rpc_room(cl, cmd_id))
    return;
  if (wsp__pending_start(cl, cmd_id, PENDING_RPC, call_done, &pc, &id) != 0) {
    wsp__cf_out_error(cl, cmd_id, WSP_PROTO_ERROR_INTERNAL,
                      "internal server error", 1);
    return;
  }
  s->stats.rpc_calls++;
  m->fn(cl, id, method, (const uint8_t *)(len ? data : ""), len, m->user_data);
}

void wsp__rpc_free_methods(struct wsp_server *s) {
  size_t i;
  for (i = 0; i < s->nmethods; i++)
    wsp__free(&s->mem, s->methods[i].name);
  wsp__free(&s->mem, s->methods);
  s->methods = NULL;
  s->nmethods = 0;
}

int wsp_rpc_register(struct wsp_server *s, const char *method,
                     void (*handler)(struct wsp_client *, uint64_t,
                                     const char *, const uint8_t *, size_t,
                                     void *),
                     void *user_data) {
  struct wsp__method *m, *arr;
  char *name;
  if (!s || !method || !*method || !handler || strlen(method) > 255)
    return WSP_ERR_INVAL;
  m = find_method(s, method);
  if (m) {
    m->fn = handler;
    m->user_data = user_data;
    return 0;
  }
  name = wsp__strndup(&s->mem, method, strlen(method));
  if (!name)
    return WSP_ERR_NOMEM;
  arr = wsp__realloc(&s->mem, s->methods, (s->nmethods + 1) * sizeof(*arr));
  if (!arr) {
    wsp__free(&s->mem, name);
    return WSP_ERR_NOMEM;
  }
  s->methods = arr;
  m = &arr[s->nmethods++];
  m->name = name;
  m->fn = handler;
  m->user_data = user_data;
  return 0;
}

int wsp_rpc_unregister(struct wsp_server *s, const char *method) {
  struct wsp__method *m;
  if (!s || !method)
    return WSP_ERR_INVAL;
  m = find_method(s, method);
  if (!m)
    return WSP_ERR_NOT_FOUND;
  wsp__free(&s->mem, m->name);
  *m = s->methods[--s->nmethods];
  return 0;
}

int wsp_rpc_reply(struct wsp_server *s, uint64_t call, const void *data,
                  size_t len) {
  if (!s || call == 0 || call > UINT32_MAX || (len && !data))
    return WSP_ERR_INVAL;
  if (len && wsp__json_validate(data, len, 64, NULL) != 0)
    return WSP_ERR_JSON;
  return wsp_corr_complete(s->rpc, (uint32_t)call, 0, data, len);
}

int wsp_rpc_error(struct wsp_server *s, uint64_t call, uint32_t code,
                  const char *message, int temporary) {
  struct wsp__jbuf jb;
  int rv;
  if (!s || call == 0 || call > UINT32_MAX || code == 0)
    return WSP_ERR_INVAL;
  wsp__jbuf_init(&jb, &s->mem);
  wsp__cf_out_error_object(&jb, code, message, temporary);
  rv = jb.err ? jb.err
              : wsp_corr_complete(s->rpc, (uint32_t)call, STATUS_ERROR, jb.data,
                                  jb.len);
  wsp__jbuf_free(&jb);
  return rv;
}

int wsp__rpc_room(struct wsp_client *cl, uint32_t cmd_id) {
  struct wsp_server *s = cl->srv;
  if (cl->nrpc < s->limits[WSP_SERVER_MAX_PENDING_RPC])
    return 1;
  s->stats.errors_limit++;
  wsp__cf_out_error(cl, cmd_id, WSP_PROTO_ERROR_TOO_MANY_REQUESTS,
                    "too many requests", 1);
  return 0;
}
