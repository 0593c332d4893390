/*
 * fuzz_client: a client connection that has sent its opening handshake,
 * then arbitrary bytes as the server's response and frames.
 *
 * The client's key is random, so a fuzzer cannot guess the matching
 * Sec-WebSocket-Accept. Byte 0 chooses how the input is used:
 *   mode 0  the input as it is;
 *   mode 1  every "@A" in the input is replaced by the right accept value;
 *   mode 2  a valid 101 response is fed first and the input is frames.
 * Byte 0 / 3 also sets options: bit 0 offers permessage-deflate (and the
 * valid response of mode 2 accepts it), bit 1 makes that response let the
 * server keep its compression context, so that the inflater keeps its
 * window between messages.
 * Byte 1 picks the chunk size (0: all at once).
 */
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

struct ctx {
  int freed;
};

static void on_open(struct wsp_conn *c, const struct wsp_response *resp,
                    void *ud) {
  size_t i;
  (void)ud;
  if (resp) {
    fz_touch_str(resp->reason);
    for (i = 0; i < resp->nheaders; i++) {
      fz_touch_str(resp->headers[i].name);
      fz_touch_str(resp->headers[i].value);
    }
  }
  wsp_conn_send(c, WSP_OP_TEXT, "hello", 5);
}

static void on_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                       size_t len, void *ud) {
  struct ctx *k = ud;
  fz_touch(data, len);
  if (len && data[0] == 'F') {
    wsp_conn_free(c);
    k->freed = 1;
  } else if (len && data[0] == 'C') {
    wsp_conn_close(c, WSP_CLOSE_GOING_AWAY, "done", 4);
  } else {
    wsp_conn_send(c, opcode, data, len);
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

/* The accept value for the key in the client's queued request. */
static int expected_accept(struct wsp_conn *c, char out[29]) {
  static const char field[] = "Sec-WebSocket-Key: ";
  char req[2048];
  struct iovec iov[8];
  struct sha1_ctx sha;
  uint8_t digest[SHA1_DIGEST_SIZE];
  size_t len = 0;
  const char *p, *e;
  int n, i;

  n = wsp_conn_pending(c, iov, 8);
  for (i = 0; i < n; i++) {
    size_t take = iov[i].iov_len;
    if (take > sizeof(req) - 1 - len)
      take = sizeof(req) - 1 - len;
    memcpy(req + len, iov[i].iov_base, take);
    len += take;
  }
  req[len] = '\0';
  p = strstr(req, field);
  if (!p)
    return -1;
  p += sizeof(field) - 1;
  e = strstr(p, "\r\n");
  if (!e)
    return -1;
  sha1_init(&sha);
  sha1_update(&sha, (size_t)(e - p), (const uint8_t *)p);
  sha1_update(&sha, sizeof(guid) - 1, (const uint8_t *)guid);
  sha1_digest(&sha, sizeof(digest), digest);
  base64_encode_raw(out, sizeof(digest), digest);
  out[28] = '\0';
  return 0;
}

static void feed(struct wsp_conn *c, struct ctx *k, const uint8_t *p,
                 size_t len, size_t chunk) {
  size_t off = 0;
  while (off < len && !k->freed) {
    size_t n = chunk ? chunk : len;
    if (n > len - off)
      n = len - off;
    wsp_conn_recv(c, p + off, n);
    off += n;
    if (!k->freed)
      fz_drain(c, chunk ? chunk * 2 + 1 : 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_conn_callbacks cb;
  struct wsp_conn *c;
  struct ctx k = {0};
  char accept[29];
  uint8_t *buf = NULL;
  size_t chunk;
  int mode, deflate, takeover;

  if (size < 2)
    return 0;
  mode = data[0] % 3;
  deflate = (data[0] / 3) & 1;
  takeover = (data[0] / 6) & 1;
  chunk = data[1];
  data += 2;
  size -= 2;

  memset(&cb, 0, sizeof(cb));
  cb.on_open = on_open;
  cb.on_message = on_message;
  cb.on_control = on_control;
  cb.on_close = on_close;
  if (wsp_conn_new(&c, WSP_ROLE_CLIENT, &cb, NULL, 0, &k) != 0)
    return 0;
  if (deflate) {
    wsp_conn_set_deflate(c, WSP_DEFLATE_ENABLE, 1);
    wsp_conn_set_deflate(c, WSP_DEFLATE_MIN_SIZE, 0);
    wsp_conn_set_deflate(c, WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, 0);
  }
  if (wsp_conn_client_start(c, "example.com:80", "/chat", "chat, superchat") !=
          0 ||
      expected_accept(c, accept) != 0) {
    wsp_conn_free(c);
    return 0;
  }
  fz_drain(c, 0);

  if (mode == 1) {
    size_t i, o = 0;
    buf = malloc(size * 14 + 1); /* "@A" (2 bytes) becomes 28 */
    if (!buf) {
      wsp_conn_free(c);
      return 0;
    }
    for (i = 0; i < size; i++) {
      if (data[i] == '@' && i + 1 < size && data[i + 1] == 'A') {
        memcpy(buf + o, accept, 28);
        o += 28;
        i++;
      } else {
        buf[o++] = data[i];
      }
    }
    data = buf;
    size = o;
  } else if (mode == 2) {
    char head[384];
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                 accept,
                 !deflate   ? ""
                 : takeover ? "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                            : "Sec-WebSocket-Extensions: permessage-deflate; "
                              "server_no_context_takeover\r\n");
    feed(c, &k, (const uint8_t *)head, (size_t)n, 0);
  }
  feed(c, &k, data, size, chunk);
  free(buf);
  if (k.freed)
    return 0;
  wsp_conn_tick(c, 1000000);
  fz_drain(c, 0);
  wsp_conn_recv(c, NULL, 0);
  fz_drain(c, 0);
  wsp_conn_free(c);
  return 0;
}
