/*
 * The hub composed: wsp_server_new() puts the core (server.c:
 * connections, deadlines, routes) together with the modules (channels
 * and history, tokens, sessions, RPC methods) and the default protocol
 * (cf_dispatch.c, cf_out.c). The core calls the modules and the protocol
 * only through the operations below, so it depends on none of them.
 */
#include <string.h>

#include "hub_private.h"

static void client_gone(struct wsp_client *cl) { wsp__ch_client_gone(cl); }

static void client_free(struct wsp_client *cl) {
  wsp__cf_out_client_free(cl);
  wsp__tok_client_gone(cl);
  wsp__sess_client_free(cl);
}

static void sent(struct wsp_client *cl) {
  if (cl->nlagging)
    wsp__hist_feed(cl); /* room again: catch up from the log */
}

/* The modules' own timers: the history log's retention, and forgetting
 * idempotent publications. */
static void tick(struct wsp_server *s, uint64_t now) {
  if (s->hist.log)
    wsp_evlog_tick(s->hist.log, wsp__hist_now(s));
  wsp__idem_tick(s, now);
  wsp__ch_engine_tick(s, now);
}

static uint64_t next_deadline(const struct wsp_server *s) {
  uint64_t a = wsp__hist_next_deadline(s), b = wsp__idem_next_deadline(s);
  uint64_t c = wsp__ch_engine_next_deadline(s);
  a = a < b ? a : b;
  return a < c ? a : c;
}

void wsp__hub_control(struct wsp_server *s, const char *msg, size_t len) {
  const char *p = msg, *end = msg + len, *colon;
  char kind, user[1024];
  long code = 0;
  size_t alen = 0;
  /* KIND CODE ALEN:A B (control.c) */
  if (len < 6 || msg[1] != ' ')
    return;
  kind = msg[0];
  p += 2;
  while (p < end && *p >= '0' && *p <= '9' && code < 100000)
    code = code * 10 + (*p++ - '0');
  if (p == end || *p++ != ' ')
    return;
  colon = memchr(p, ':', (size_t)(end - p));
  if (!colon)
    return;
  for (; p < colon; p++) {
    if (*p < '0' || *p > '9' || alen >= sizeof(user))
      return;
    alen = alen * 10 + (size_t)(*p - '0');
  }
  p = colon + 1;
  if (alen >= sizeof(user) || alen > (size_t)(end - p) || memchr(p, 0, alen))
    return;
  memcpy(user, p, alen);
  user[alen] = '\0';
  p += alen;
  (void)wsp__push_apply(s, kind, (int)code, user, p, (size_t)(end - p));
}

static const struct wsp__hub_ops ops = {
    wsp__cf_out_client_init,
    client_gone,
    client_free,
    wsp__sess_origin_refused,
    wsp__sess_origin_ok,
    wsp__cf_dispatch_accept,
    sent,
    tick,
    next_deadline,
    wsp__cf_out_gone,
    wsp__cf_out_before_close,
    wsp__cf_out_closed,
};

int wsp_server_new(struct wsp_server **ps,
                   const struct wsp_server_callbacks *callbacks,
                   const struct wsp_mem *mem, uint64_t now, void *user_data) {
  struct wsp_server *s;
  int rv;
  if (!ps)
    return WSP_ERR_INVAL;
  rv = wsp__server_init(&s, callbacks, mem, now, user_data, &ops);
  if (rv != 0) {
    *ps = NULL;
    return rv;
  }
  s->channel_flags = WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE;
  s->origin_policy = WSP_ORIGIN_CHECK;
  if (wsp__server_add_route(s, "/connection/websocket", &wsp__cf_dispatch_codec,
                            NULL, 1) != 0) {
    wsp__server_destroy(s);
    *ps = NULL;
    return WSP_ERR_NOMEM;
  }
  *ps = s;
  return 0;
}

void wsp_server_free(struct wsp_server *s) {
  if (!s)
    return;
  wsp__server_close_all(s);
  wsp__rpc_free_methods(s);
  wsp__tok_free(s);
  wsp__sess_server_free(s);
  wsp__idem_free(s);
  wsp__cf_out_frames_free(&s->pb_frames);
  wsp__server_destroy(s);
}
