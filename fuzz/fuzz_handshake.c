/*
 * fuzz_handshake: arbitrary bytes as the HTTP request of a server
 * connection (and whatever follows it as frames).
 *
 * Input: byte 0 picks the chunk size the rest is fed in (0: all at once),
 * byte 1 what on_request does (accept, pick a subprotocol and add a
 * header, respond 404, defer then accept or respond, reject, free the
 * connection from the callback), whether the handshake size limit is
 * lowered (0x80) and whether one allocation fails (0x40, which one from
 * bits 3-5). on_request also runs every HTTP helper over the request.
 */
#include "fuzz_common.h"

struct ctx {
  uint8_t action;
  int deferred;
  int freed;
};

static int on_request(struct wsp_conn *c, const struct wsp_request *req,
                      void *ud) {
  struct ctx *k = ud;
  struct wsp_str v;
  char name[64];
  size_t i;

  fz_touch_request(req);
  for (i = 0; i < 3; i++)
    if (wsp_header_get(req->headers, req->nheaders, "host", i, &v))
      fz_touch_str(v);
  if (wsp_header_get(req->headers, req->nheaders, "Sec-WebSocket-Protocol", 0,
                     &v))
    fz_touch_str(v);
  if (wsp_request_cookie(req, "session", &v))
    fz_touch_str(v);
  if (wsp_request_cookie(req, "a", &v))
    fz_touch_str(v);
  if (wsp_request_cookie(req, "", &v))
    fz_touch_str(v);
  for (i = 0; i < 16 && wsp_request_protocol(req, i, &v); i++)
    fz_touch_str(v);

  switch (k->action % 7) {
  case 0:
    return 0;
  case 1:
    if (wsp_request_protocol(req, k->action / 7 % 3, &v) &&
        v.len < sizeof(name)) {
      memcpy(name, v.ptr, v.len);
      name[v.len] = '\0';
      wsp_conn_set_protocol(c, name);
    }
    wsp_conn_set_protocol(c, "not-offered");
    wsp_conn_add_header(c, "Set-Cookie", "session=abc; HttpOnly");
    return 0;
  case 2:
    wsp_conn_respond(c, 404, "text/plain", "not here\n", 9);
    return 0;
  case 3:
  case 4:
    if (wsp_conn_defer(c) == 0)
      k->deferred = 1;
    return 0;
  case 5:
    return -1;
  default:
    wsp_conn_free(c); /* deferred until the library returns */
    k->freed = 1;
    return 0;
  }
}

static void on_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                       size_t len, void *ud) {
  (void)ud;
  fz_touch(data, len);
  wsp_conn_send(c, opcode, data, len);
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
  struct ctx k = {0, 0, 0};
  struct fz_alloc fa = {0, 0, 0, 0};
  struct wsp_mem mem = {fz_malloc, fz_realloc, fz_free, &fa, NULL};
  size_t chunk, off = 0;

  if (size < 2)
    return 0;
  chunk = data[0];
  k.action = data[1];
  data += 2;
  size -= 2;

  memset(&cb, 0, sizeof(cb));
  cb.on_request = on_request;
  cb.on_message = on_message;
  cb.on_close = on_close;
  if (wsp_conn_new(&c, WSP_ROLE_SERVER, &cb, &mem, 1000, &k) != 0)
    return 0;
  if (k.action & 0x40) {
    fa.armed = 1;
    fa.fail_at = ((k.action >> 3) & 7) + 1;
  }
  if (k.action & 0x80)
    wsp_conn_set_limit(c, WSP_LIMIT_MAX_HANDSHAKE, 256);

  while (off < size) {
    size_t n = chunk ? chunk : size;
    if (n > size - off)
      n = size - off;
    wsp_conn_recv(c, data + off, n);
    if (k.freed)
      return 0;
    off += n;
    fz_drain(c, chunk ? chunk * 3 : 0);
  }
  if (k.deferred && wsp_conn_get_state(c) == WSP_STATE_DEFERRED) {
    if (k.action % 7 == 3)
      wsp_conn_accept(c);
    else
      wsp_conn_respond(c, 503, NULL, NULL, 0);
  }
  fz_drain(c, 0);
  wsp_conn_tick(c, 1000 + 60000);
  fz_drain(c, 0);
  wsp_conn_recv(c, NULL, 0);
  fz_drain(c, 0);
  wsp_conn_free(c);
  return 0;
}
