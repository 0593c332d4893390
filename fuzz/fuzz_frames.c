/*
 * fuzz_frames: a server connection opened with a fixed, valid request,
 * then arbitrary bytes as client frames.
 *
 * Input: bytes 0-3 seed the PRNG that cuts the rest into chunks and picks
 * how much output is reported written each time; byte 4 sets options
 * (small message limit, small high-water mark, small output cap, a
 * keepalive ping, and an allocator that fails once the connection is open:
 * one allocation, or every one from some point on).
 * on_message echoes, and a message starting with 'C', 'F', 'S' or 'B'
 * makes the callback close, free the connection, stream a reply in
 * fragments, or close with a reason.
 */
#include "fuzz_common.h"

static const char request[] = "GET /chat HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

struct ctx {
  int freed;
};

static void on_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                       size_t len, void *ud) {
  struct ctx *k = ud;
  fz_touch(data, len);
  switch (len ? data[0] : 0) {
  case 'C':
    wsp_conn_close(c, WSP_CLOSE_NORMAL, NULL, 0);
    break;
  case 'F':
    wsp_conn_free(c);
    k->freed = 1;
    break;
  case 'S':
    wsp_conn_send_fragment(c, opcode, data, len / 2, 0);
    wsp_conn_send(c, WSP_OP_PING, "p", 1);
    wsp_conn_send_fragment(c, WSP_OP_CONTINUATION, data + len / 2,
                           len - len / 2, 1);
    break;
  case 'B':
    wsp_conn_close(c, 4000, "bye", 3);
    wsp_conn_send(c, opcode, data, len); /* fails: closing */
    break;
  default:
    wsp_conn_send(c, opcode, data, len);
    break;
  }
}

static void on_control(struct wsp_conn *c, int opcode, const uint8_t *data,
                       size_t len, void *ud) {
  (void)c;
  (void)opcode;
  (void)ud;
  fz_touch(data, len);
}

static void on_close(struct wsp_conn *c, int code, const uint8_t *reason,
                     size_t len, void *ud) {
  (void)c;
  (void)code;
  (void)ud;
  fz_touch(reason, len);
}

static void on_backpressure(struct wsp_conn *c, int above, void *ud) {
  (void)ud;
  if (above)
    wsp_conn_send(c, WSP_OP_PONG, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_conn_callbacks cb;
  struct wsp_conn *c;
  struct ctx k = {0};
  struct fz_alloc fa = {0, 0, 0, 0};
  struct wsp_mem mem = {fz_malloc, fz_realloc, fz_free, &fa, NULL};
  struct fz_rng rng;
  uint64_t now = 5000;
  uint8_t opt;
  size_t off = 0;

  if (size < 5)
    return 0;
  fz_seed(&rng, (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                    (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
  opt = data[4];
  data += 5;
  size -= 5;

  memset(&cb, 0, sizeof(cb));
  cb.on_message = on_message;
  cb.on_control = on_control;
  cb.on_close = on_close;
  cb.on_backpressure = on_backpressure;
  if (wsp_conn_new(&c, WSP_ROLE_SERVER, &cb, &mem, now, &k) != 0)
    return 0;
  if (opt & 1)
    wsp_conn_set_limit(c, WSP_LIMIT_MAX_MESSAGE, 64);
  if (opt & 2)
    wsp_conn_set_limit(c, WSP_LIMIT_HIGH_WATER, 32);
  if (opt & 4)
    wsp_conn_set_limit(c, WSP_LIMIT_MAX_QUEUED, 256);
  if (opt & 8)
    wsp_conn_set_limit(c, WSP_LIMIT_PING_INTERVAL, 100);
  if (wsp_conn_recv(c, request, sizeof(request) - 1) != 0 ||
      wsp_conn_get_state(c) != WSP_STATE_OPEN)
    __builtin_trap(); /* the fixed request must always be accepted */
  fz_drain(c, 0);
  if (opt & 0x10) {
    fa.armed = 1;
    fa.fail_at = (fz_next(&rng) & 15) + 1;
    fa.sticky = (opt & 0x20) != 0;
  }

  while (off < size) {
    uint32_t r = fz_next(&rng);
    size_t n = (r & 0x100) ? (r & 0xff) + 1 : (r & 0x7) + 1;
    if (n > size - off)
      n = size - off;
    wsp_conn_recv(c, data + off, n);
    if (k.freed)
      return 0;
    off += n;
    if (r & 0x10000)
      fz_drain(c, (r >> 20) + 1);
    if ((opt & 8) && (r & 0x20000)) {
      now += 60;
      wsp_conn_tick(c, now);
    }
  }
  fz_drain(c, 0);
  wsp_conn_tick(c, now + 100000);
  fz_drain(c, 0);
  wsp_conn_recv(c, NULL, 0);
  fz_drain(c, 0);
  wsp_conn_free(c);
  return 0;
}
