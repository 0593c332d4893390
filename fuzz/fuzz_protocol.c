/*
 * The hub's wire protocol: a connection is handshaken, then the input is
 * split into text messages (at 0x00 bytes) of commands for the codec:
 * connect, rpc, send, subscribe, publish, presence... Replies, pushes,
 * deferred answers and timers all run; nothing may crash or leak.
 */
#include <stdio.h>

#include "fuzz_common.h"

static const char req[] = "GET /connection/websocket HTTP/1.1\r\nHost: f\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";

static struct wsp_server *S;
static uint64_t held_call, held_sub;

static void m_echo(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)ud;
  wsp_rpc_reply(S, call, d, n);
}

static void m_hold(struct wsp_client *cl, uint64_t call, const char *m,
                   const uint8_t *d, size_t n, void *ud) {
  (void)cl;
  (void)m;
  (void)d;
  (void)n;
  (void)ud;
  held_call = call;
}

static void on_send(struct wsp_client *cl, const uint8_t *d, size_t n,
                    void *ud) {
  (void)ud;
  wsp_client_push_message(cl, d, n);
  wsp_push_broadcast(S, d, n);
}

static int on_subscribe(struct wsp_client *cl, uint64_t sub,
                        const struct wsp_subscribe_info *info, void *ud) {
  (void)cl;
  (void)ud;
  fz_touch_str(info->channel);
  fz_touch_str(info->data);
  if (info->channel.len & 1) {
    held_sub = sub;
    return WSP_ERR_AGAIN;
  }
  return info->channel.len % 3 == 0 ? 103 : 0;
}

static int on_connect(struct wsp_client *cl, const struct wsp_connect_info *c,
                      void *ud) {
  char user[300];
  (void)ud;
  fz_touch_str(c->token);
  fz_touch_str(c->data);
  /* The name is a span, not a C string: it fills the library's buffer
   * with no NUL after it when it is as long as the protocol allows. */
  snprintf(user, sizeof(user), "%.*s", (int)c->name.len, c->name.ptr);
  wsp_client_set_user(cl, c->name.len ? user : "anon");
  return 0;
}

static void drain(struct wsp_client *cl) {
  struct iovec iov[8];
  int n, i, round;
  for (round = 0; round < 10000; round++) {
    size_t t = 0;
    n = wsp_client_pending(cl, iov, 8);
    if (n <= 0)
      return;
    for (i = 0; i < n; i++) {
      fz_touch(iov[i].iov_base, iov[i].iov_len);
      t += iov[i].iov_len;
    }
    wsp_client_sent(cl, t);
  }
}

/* A masked text frame around p[0..n). */
static size_t frame(uint8_t *out, const uint8_t *p, size_t n) {
  size_t k = 0, i;
  out[k++] = 0x81;
  if (n < 126) {
    out[k++] = (uint8_t)(0x80 | n);
  } else {
    out[k++] = 0x80 | 126;
    out[k++] = (uint8_t)(n >> 8);
    out[k++] = (uint8_t)n;
  }
  memset(out + k, 0, 4); /* a zero mask keeps the bytes as they are */
  k += 4;
  for (i = 0; i < n; i++)
    out[k++] = p[i];
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_server_callbacks cb;
  struct wsp_client *cl;
  static uint8_t buf[70000];
  size_t off = 0;
  uint64_t now = 0;

  if (size > 60000)
    return 0;
  memset(&cb, 0, sizeof(cb));
  cb.on_send = on_send;
  cb.on_subscribe = on_subscribe;
  cb.on_connect = on_connect;
  if (wsp_server_new(&S, &cb, NULL, 0, NULL) != 0)
    return 0;
  wsp_server_set_channel_flags(S, 0xf);
  wsp_rpc_register(S, "echo", m_echo, NULL);
  wsp_rpc_register(S, "hold", m_hold, NULL);
  held_call = held_sub = 0;
  if (wsp_server_accept(S, NULL, &cl) != 0) {
    wsp_server_free(S);
    return 0;
  }
  wsp_client_recv(cl, req, sizeof(req) - 1);
  drain(cl);
  while (off < size) {
    const uint8_t *z = memchr(data + off, 0, size - off);
    size_t n = z ? (size_t)(z - (data + off)) : size - off;
    wsp_client_recv(cl, buf, frame(buf, data + off, n));
    drain(cl);
    if (held_call) {
      wsp_rpc_reply(S, held_call, "1", 1);
      held_call = 0;
    }
    if (held_sub) {
      wsp_server_subscribe_answer(S, held_sub, 0, 0xf, NULL);
      held_sub = 0;
    }
    wsp_server_publish(S, "a", "2", 1, NULL);
    now += 7000;
    wsp_server_tick(S, now);
    drain(cl);
    off += n + 1;
  }
  wsp_client_free(cl);
  wsp_server_free(S);
  return 0;
}
