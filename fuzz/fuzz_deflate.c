/*
 * fuzz_deflate: a server connection that negotiated permessage-deflate
 * (RFC 7692), then arbitrary bytes as client frames: the compressed ones
 * (RSV1) are inflated, under the message size cap.
 *
 * Input: bytes 0-3 seed the PRNG that cuts the rest into chunks and picks
 * how much output is reported written each time; byte 4 sets options: a
 * small message limit (1 KiB), context takeover both ways, 9-bit windows,
 * and an allocator that fails once the connection is open (one
 * allocation, or every one from some point on). on_message echoes each
 * message (compressed again) and sends it once more as a shared frame;
 * a message starting with 'C' makes the callback close.
 */
#include <stdio.h>

#include "fuzz_common.h"

static const char request_head[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

static void on_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                       size_t len, void *ud) {
  struct wsp_frame *f;
  (void)ud;
  fz_touch(data, len);
  if (len && data[0] == 'C') {
    wsp_conn_close(c, WSP_CLOSE_NORMAL, NULL, 0);
    return;
  }
  wsp_conn_send(c, opcode, data, len);
  if (wsp_frame_new(&f, NULL, opcode, data, len) == 0) {
    wsp_conn_send_frame(c, f);
    wsp_frame_unref(f);
  }
}

static void on_close(struct wsp_conn *c, int code, const uint8_t *reason,
                     size_t len, void *ud) {
  (void)c;
  (void)code;
  (void)ud;
  fz_touch(reason, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_conn_callbacks cb;
  struct wsp_conn *c;
  struct fz_alloc fa = {0, 0, 0, 0};
  struct wsp_mem mem = {fz_malloc, fz_realloc, fz_free, &fa, NULL};
  struct fz_rng rng;
  char request[512];
  uint8_t opt;
  size_t off = 0;
  int n;

  if (size < 5)
    return 0;
  fz_seed(&rng, (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                    (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
  opt = data[4];
  data += 5;
  size -= 5;

  memset(&cb, 0, sizeof(cb));
  cb.on_message = on_message;
  cb.on_close = on_close;
  if (wsp_conn_new(&c, WSP_ROLE_SERVER, &cb, &mem, 0, NULL) != 0)
    return 0;
  wsp_conn_set_deflate(c, WSP_DEFLATE_ENABLE, 1);
  wsp_conn_set_deflate(c, WSP_DEFLATE_MIN_SIZE, 0);
  if (opt & 1)
    wsp_conn_set_limit(c, WSP_LIMIT_MAX_MESSAGE, 1024);
  if (opt & 2) {
    wsp_conn_set_deflate(c, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, 0);
    wsp_conn_set_deflate(c, WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER, 0);
  }
  n = snprintf(request, sizeof(request),
               "%sSec-WebSocket-Extensions: permessage-deflate%s\r\n\r\n",
               request_head,
               (opt & 4) ? "; client_max_window_bits=9; "
                           "server_max_window_bits=9"
                         : "; client_max_window_bits");
  if (wsp_conn_recv(c, request, (size_t)n) != 0 ||
      wsp_conn_get_state(c) != WSP_STATE_OPEN ||
      wsp_conn_get_deflate(c, WSP_DEFLATE_ENABLE) != 1)
    __builtin_trap(); /* the fixed request must always be accepted */
  fz_drain(c, 0);
  if (opt & 0x10) {
    fa.armed = 1;
    fa.fail_at = (fz_next(&rng) & 15) + 1;
    fa.sticky = (opt & 0x20) != 0;
  }

  while (off < size) {
    uint32_t r = fz_next(&rng);
    size_t k = (r & 0x100) ? (r & 0xff) + 1 : (r & 0x7) + 1;
    if (k > size - off)
      k = size - off;
    wsp_conn_recv(c, data + off, k);
    off += k;
    if (r & 0x10000)
      fz_drain(c, (r >> 20) + 1);
  }
  fz_drain(c, 0);
  wsp_conn_recv(c, NULL, 0);
  fz_drain(c, 0);
  wsp_conn_free(c);
  return 0;
}
