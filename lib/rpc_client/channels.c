/*
 * The client role's channels: subscribe, unsubscribe and positions
 * (records in subs.c), and the commands on a channel, publish, history
 * and presence, issued through client.c.
 */
#include <string.h>

#include "rpc_client_private.h"
#include "wsp/proto.h"

static int check_channel(const char *channel) {
  size_t n;
  if (!channel || !*channel)
    return WSP_ERR_INVAL;
  n = strlen(channel);
  return n > WSP_RPC_CLIENT_CHANNEL_MAX ? WSP_ERR_LIMIT : 0;
}

/* ---- Channels --------------------------------------------------------- */

int wsp_rpc_client_subscribe(struct wsp_rpc_client *rc, const char *channel,
                             const struct wsp_rpc_client_sub_opts *opts,
                             const struct wsp_rpc_client_sub_callbacks *cb,
                             void *user_data) {
  struct wsp__rcsub *s;
  size_t n;
  int rv;
  if (!rc)
    return WSP_ERR_INVAL;
  if ((rv = check_channel(channel)) != 0)
    return rv;
  if (opts && opts->data &&
      wsp__json_validate(opts->data, strlen(opts->data), 64, NULL) != 0)
    return WSP_ERR_JSON;
  if ((rv = wsp__rpc_client_can_command(rc)) != 0)
    return rv;
  n = strlen(channel);
  if (wsp__rcsub_find(rc, channel, n))
    return WSP_ERR_STATE;
  rv = wsp__rcsub_add(rc, channel, n, opts, cb, user_data, &s);
  if (rv != 0)
    return rv;
  wsp__rpc_client_enter(rc);
  rv = wsp__rpc_client_subscribe_cmd(rc, s);
  if (rv != 0)
    s->dead = 1; /* never announced: freed quietly by the sweep */
  wsp__rpc_client_leave(rc);
  return rv;
}

int wsp_rpc_client_unsubscribe(struct wsp_rpc_client *rc, const char *channel) {
  struct wsp__rcsub *s;
  struct wsp__jbuf req;
  if (!rc || !channel)
    return WSP_ERR_INVAL;
  s = wsp__rcsub_find(rc, channel, strlen(channel));
  if (!s)
    return WSP_ERR_NOT_FOUND;
  wsp__rpc_client_enter(rc);
  if (wsp__rpc_client_can_command(rc) == 0) {
    /* Best effort: without it the server's pushes for the channel
     * still come, and are dropped. */
    wsp__jbuf_init(&req, &rc->mem);
    WSP__JBUF_LIT(&req, "{\"channel\":");
    wsp__jbuf_str(&req, s->channel, s->len);
    WSP__JBUF_LIT(&req, "}");
    wsp__rpc_client_command(rc, WSP_PROTO_CMD_UNSUBSCRIBE, &req, K_UNSUB, 0,
                            NULL, NULL, NULL);
    wsp__jbuf_free(&req);
  }
  wsp__rcsub_end(rc, s, 0, NULL);
  wsp__rpc_client_leave(rc);
  return 0;
}

int wsp_rpc_client_get_position(const struct wsp_rpc_client *rc,
                                const char *channel,
                                struct wsp_rpc_client_pos *pos) {
  const struct wsp__rcsub *s;
  if (!rc || !channel || !pos)
    return WSP_ERR_INVAL;
  s = wsp__rcsub_find(rc, channel, strlen(channel));
  if (!s)
    return WSP_ERR_NOT_FOUND;
  *pos = s->pos;
  return 0;
}

/* A command on channel whose request is {"channel":..., <more>}. */
static int channel_command(struct wsp_rpc_client *rc, int cmd,
                           const char *channel, const struct wsp__jbuf *more,
                           uint64_t timeout_ms, call_cb *cb, void *user_data) {
  struct wsp__jbuf req;
  int rv;
  if ((rv = check_channel(channel)) != 0 ||
      (rv = wsp__rpc_client_can_command(rc)) != 0)
    return rv;
  wsp__jbuf_init(&req, &rc->mem);
  WSP__JBUF_LIT(&req, "{\"channel\":");
  wsp__jbuf_str(&req, channel, strlen(channel));
  if (more && more->len)
    wsp__jbuf_raw(&req, more->data, more->len);
  if (more && more->err)
    req.err = more->err;
  WSP__JBUF_LIT(&req, "}");
  wsp__rpc_client_enter(rc);
  rv = wsp__rpc_client_command(rc, cmd, &req, K_RESULT, timeout_ms, cb,
                               user_data, NULL);
  wsp__rpc_client_leave(rc);
  wsp__jbuf_free(&req);
  return rv;
}

int wsp_rpc_client_publish(struct wsp_rpc_client *rc, const char *channel,
                           const void *data, size_t len, uint64_t timeout_ms,
                           call_cb *cb, void *user_data) {
  struct wsp__jbuf more;
  int rv;
  if (!rc || !data || !len)
    return WSP_ERR_INVAL;
  if (wsp__json_validate(data, len, 64, NULL) != 0)
    return WSP_ERR_JSON;
  wsp__jbuf_init(&more, &rc->mem);
  WSP__JBUF_LIT(&more, ",\"data\":");
  wsp__jbuf_raw_value(&more, data, len);
  rv = channel_command(rc, WSP_PROTO_CMD_PUBLISH, channel, &more, timeout_ms,
                       cb, user_data);
  wsp__jbuf_free(&more);
  return rv;
}

int wsp_rpc_client_history(struct wsp_rpc_client *rc, const char *channel,
                           int64_t limit,
                           const struct wsp_rpc_client_pos *since, int reverse,
                           uint64_t timeout_ms, call_cb *cb, void *user_data) {
  struct wsp__jbuf more;
  int rv;
  if (!rc || !cb || limit < -1 || limit > INT32_MAX)
    return WSP_ERR_INVAL;
  wsp__jbuf_init(&more, &rc->mem);
  if (limit) {
    WSP__JBUF_LIT(&more, ",\"limit\":");
    wsp__jbuf_i64(&more, limit);
  }
  if (since) {
    size_t n = strnlen(since->epoch, sizeof(since->epoch));
    WSP__JBUF_LIT(&more, ",\"since\":{\"offset\":");
    wsp__jbuf_u64(&more, since->offset);
    if (n) {
      WSP__JBUF_LIT(&more, ",\"epoch\":");
      wsp__jbuf_str(&more, since->epoch, n);
    }
    WSP__JBUF_LIT(&more, "}");
  }
  if (reverse)
    WSP__JBUF_LIT(&more, ",\"reverse\":true");
  rv = channel_command(rc, WSP_PROTO_CMD_HISTORY, channel, &more, timeout_ms,
                       cb, user_data);
  wsp__jbuf_free(&more);
  return rv;
}

int wsp_rpc_client_presence(struct wsp_rpc_client *rc, const char *channel,
                            uint64_t timeout_ms, call_cb *cb, void *user_data) {
  if (!rc || !cb)
    return WSP_ERR_INVAL;
  return channel_command(rc, WSP_PROTO_CMD_PRESENCE, channel, NULL, timeout_ms,
                         cb, user_data);
}

int wsp_rpc_client_presence_stats(struct wsp_rpc_client *rc,
                                  const char *channel, uint64_t timeout_ms,
                                  call_cb *cb, void *user_data) {
  if (!rc || !cb)
    return WSP_ERR_INVAL;
  return channel_command(rc, WSP_PROTO_CMD_PRESENCE_STATS, channel, NULL,
                         timeout_ms, cb, user_data);
}

int wsp_rpc_client_get_stats(const struct wsp_rpc_client *rc,
                             struct wsp_rpc_client_stats *st) {
  if (!rc || !st)
    return WSP_ERR_INVAL;
  *st = rc->stats;
  return 0;
}
