/*
 * fuzz_rpc_client: the client role (wsp_rpc_client) reading a server.
 * A server-role connection in memory completes the handshake; then the
 * input, split at NUL bytes, is what the server says, one WebSocket
 * message per piece (a piece starting with 0x01 goes as a binary
 * message). Before the first piece the client has made a call, a
 * publish, a history call and subscriptions to "news", "a" (recovering
 * from offset 3 of epoch "E") and "b\\c", so that replies with ids 1..7
 * and pushes on those channels reach every parser. The callbacks act on
 * what they get: a publication whose data starts with "U" unsubscribes,
 * "S" subscribes to another channel, "P" publishes, "C" closes and "F"
 * frees the client; an unsubscribed subscription is subscribed again at
 * most a few times. Deadlines pass at the end.
 */
#include <stdio.h>

#include "fuzz_common.h"

struct ctx {
  struct wsp_rpc_client *rc;
  int resubscribes;
};

static void on_reply(struct wsp_rpc_client *rc, int status, const uint8_t *data,
                     size_t len, void *ud) {
  (void)rc;
  (void)status;
  (void)ud;
  fz_touch(data, len);
}

static void on_subscribed(struct wsp_rpc_client *rc,
                          const struct wsp_rpc_client_subscribed *s, void *ud) {
  (void)rc;
  (void)ud;
  fz_touch(s->channel, strlen(s->channel));
  fz_touch(s->pos.epoch, strlen(s->pos.epoch));
  fz_touch_str(s->data);
}

static void on_publication(struct wsp_rpc_client *rc,
                           const struct wsp_rpc_client_pub *p, void *ud) {
  struct ctx *k = ud;
  struct wsp_rpc_client_pos pos;
  fz_touch(p->channel, strlen(p->channel));
  fz_touch(p->pub_channel, strlen(p->pub_channel));
  fz_touch_str(p->data);
  fz_touch_str(p->info);
  fz_touch_str(p->tags);
  if (wsp_rpc_client_get_position(rc, p->channel, &pos) == 0)
    fz_touch(pos.epoch, strlen(pos.epoch));
  if (p->data.len < 2 || p->data.ptr[0] != '"')
    return;
  switch (p->data.ptr[1]) {
  case 'U':
    wsp_rpc_client_unsubscribe(rc, p->channel);
    break;
  case 'S':
    wsp_rpc_client_subscribe(rc, "more", NULL, NULL, NULL);
    break;
  case 'P':
    wsp_rpc_client_publish(rc, p->channel, "1", 1, 10, on_reply, k);
    break;
  case 'C':
    wsp_rpc_client_close(rc, 1000, "bye");
    break;
  case 'F':
    wsp_rpc_client_free(rc);
    k->rc = NULL;
    break;
  }
}

static void on_info(struct wsp_rpc_client *rc, const char *channel,
                    const struct wsp_str *info, void *ud) {
  (void)rc;
  (void)ud;
  fz_touch(channel, strlen(channel));
  fz_touch_str(*info);
}

static const struct wsp_rpc_client_sub_callbacks sub_cb;

static void on_unsubscribed(struct wsp_rpc_client *rc,
                            const struct wsp_rpc_client_unsubscribed *u,
                            void *ud) {
  struct ctx *k = ud;
  struct wsp_rpc_client_sub_opts o;
  fz_touch(u->reason, strlen(u->reason));
  if (u->code < 0 || k->resubscribes >= 4 || !k->rc)
    return;
  k->resubscribes++;
  memset(&o, 0, sizeof(o));
  o.since = &u->pos;
  o.timeout_ms = 20;
  wsp_rpc_client_subscribe(rc, u->channel, &o, &sub_cb, k);
}

static const struct wsp_rpc_client_sub_callbacks sub_cb = {
    on_subscribed, on_publication, on_info, on_info, on_unsubscribed, {0}};

/* Move bytes between the client and the server until both are quiet. */
static void pump(struct ctx *k, struct wsp_conn *srv) {
  static uint8_t buf[1 << 16];
  struct iovec iov[16];
  int round, n, i;
  for (round = 0; round < 64 && k->rc; round++) {
    size_t len = 0, moved = 0;
    n = wsp_rpc_client_pending(k->rc, iov, 16);
    for (i = 0; i < n && len + iov[i].iov_len <= sizeof(buf); i++) {
      memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
      len += iov[i].iov_len;
    }
    if (len) {
      wsp_rpc_client_sent(k->rc, len);
      wsp_conn_recv(srv, buf, len);
      moved += len;
    }
    len = 0;
    n = wsp_conn_pending(srv, iov, 16);
    for (i = 0; i < n && len + iov[i].iov_len <= sizeof(buf); i++) {
      memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
      len += iov[i].iov_len;
    }
    if (len) {
      wsp_conn_sent(srv, len);
      wsp_rpc_client_recv(k->rc, buf, len);
      moved += len;
    }
    if (!moved)
      return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const struct wsp_rpc_client_pos since = {3, "E"};
  struct wsp_conn_callbacks scb;
  struct wsp_rpc_client_sub_opts o;
  struct wsp_conn *srv;
  struct ctx k = {0};
  size_t off = 0;

  memset(&scb, 0, sizeof(scb));
  if (wsp_conn_new(&srv, WSP_ROLE_SERVER, &scb, NULL, 0, NULL) != 0)
    return 0;
  if (wsp_rpc_client_new(&k.rc, NULL, NULL, 0, &k) != 0) {
    wsp_conn_free(srv);
    return 0;
  }
  memset(&o, 0, sizeof(o));
  wsp_rpc_client_call(k.rc, "m", "{}", 2, 50, on_reply, &k);     /* id 1 */
  wsp_rpc_client_publish(k.rc, "news", "2", 1, 0, on_reply, &k); /* 2 */
  wsp_rpc_client_history(k.rc, "news", 5, &since, 0, 0, on_reply, &k);
  wsp_rpc_client_subscribe(k.rc, "news", NULL, &sub_cb, &k); /* 4 */
  o.since = &since;
  o.join_leave = 1;
  wsp_rpc_client_subscribe(k.rc, "a", &o, &sub_cb, &k); /* 5 */
  o.since = NULL;
  o.timeout_ms = 100;
  wsp_rpc_client_subscribe(k.rc, "b\\c", &o, &sub_cb, &k); /* 6 */
  wsp_rpc_client_presence(k.rc, "news", 0, on_reply, &k);  /* 7; connect 8 */
  wsp_rpc_client_start(k.rc, "h:1", "/connection/websocket", "{\"u\":1}", "t");
  pump(&k, srv);

  while (off < size && k.rc) {
    const uint8_t *nul = memchr(data + off, 0, size - off);
    size_t end = nul ? (size_t)(nul - data) : size;
    const uint8_t *p = data + off;
    size_t len = end - off;
    if (len && p[0] == 1)
      wsp_conn_send(srv, WSP_OP_BINARY, p + 1, len - 1);
    else
      wsp_conn_send(srv, WSP_OP_TEXT, p, len);
    pump(&k, srv);
    off = end + 1;
  }
  if (k.rc) {
    wsp_rpc_client_tick(k.rc, 1000000);
    pump(&k, srv);
  }
  wsp_rpc_client_free(k.rc);
  wsp_conn_free(srv);
  return 0;
}
