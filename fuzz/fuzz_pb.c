/*
 * The Protobuf encoding of the client protocol (lib/hub/centrifuge/pb*.c).
 *
 * The input is read as a Command and as a Reply. Whatever it is, reading
 * fails with a clear error or gives one valid JSON object; such an object
 * encoded again and read back reaches a fixed point after one round (the
 * first drops zero values and nulls): the bytes and the JSON of the
 * second round equal those of the first. (A Reply marked delta is only
 * written: its publications' data are strings, not JSON text.) A Reply read as
 * JSON is also written as a binary message of Replies. Then the input goes to a
 * hub as the binary message of a client that chose centrifuge-protobuf, after a
 * connect and a subscribe, with publications fanned out to it. A broken
 * rule aborts.
 */
#include "fuzz_common.h"

#include "../lib/hub/centrifuge/pb_private.h"

#define FZ_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

/* Whether the JSON text s[0..n) holds "delta":true anywhere. */
static int has_delta(const char *s, size_t n) {
  static const char lit[] = "\"delta\":true";
  size_t i;
  for (i = 0; i + sizeof(lit) - 1 <= n; i++)
    if (memcmp(s + i, lit, sizeof(lit) - 1) == 0)
      return 1;
  return 0;
}

static void round_trip(const struct wsp__pb_msg *m, const uint8_t *data,
                       size_t size) {
  struct wsp__jbuf j1, b2, j2, b3, j3;
  int rv;
  wsp__jbuf_init(&j1, NULL);
  rv = wsp__pb_json_decode(m, data, size, &j1);
  FZ_ASSERT(rv == 0 || rv == WSP_ERR_PROTO || rv == WSP_ERR_JSON);
  if (rv != 0) {
    wsp__jbuf_free(&j1);
    return;
  }
  FZ_ASSERT(wsp__json_validate(j1.data, j1.len, WSP__JSON_MAX_DEPTH, NULL) ==
            0);
  if (m == &wsp__pb_schema_reply && has_delta(j1.data, j1.len)) {
    /* Delta compression: the data of its publications is a JSON string
     * in JSON and the string's bytes in Protobuf (not JSON text), so
     * there is no round trip to check, only that writing holds. */
    wsp__jbuf_init(&b2, NULL);
    rv = wsp__pb_json_encode(m, j1.data, j1.len, 0, &b2);
    FZ_ASSERT(rv == 0 || rv == WSP_ERR_JSON);
    wsp__jbuf_free(&b2);
    wsp__jbuf_free(&j1);
    return;
  }
  wsp__jbuf_init(&b2, NULL);
  wsp__jbuf_init(&j2, NULL);
  wsp__jbuf_init(&b3, NULL);
  wsp__jbuf_init(&j3, NULL);
  FZ_ASSERT(wsp__pb_json_encode(m, j1.data, j1.len, 0, &b2) == 0);
  FZ_ASSERT(wsp__pb_json_decode(m, (const uint8_t *)b2.data, b2.len, &j2) == 0);
  FZ_ASSERT(wsp__pb_json_encode(m, j2.data, j2.len, 0, &b3) == 0);
  FZ_ASSERT(wsp__pb_json_decode(m, (const uint8_t *)b3.data, b3.len, &j3) == 0);
  FZ_ASSERT(b2.len == b3.len &&
            (!b2.len || memcmp(b2.data, b3.data, b2.len) == 0));
  FZ_ASSERT(j2.len == j3.len && memcmp(j2.data, j3.data, j2.len) == 0);
  if (m == &wsp__pb_schema_reply) {
    wsp__jbuf_reset(&b3);
    FZ_ASSERT(wsp__pb_json_replies(j1.data, j1.len, 0, &b3) == 0);
  }
  wsp__jbuf_free(&j1);
  wsp__jbuf_free(&b2);
  wsp__jbuf_free(&j2);
  wsp__jbuf_free(&b3);
  wsp__jbuf_free(&j3);
}

static const char req[] = "GET /connection/websocket HTTP/1.1\r\nHost: f\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Protocol: centrifuge-protobuf\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";

/* Command{id:1, connect:{}}, Command{id:2, subscribe:{channel:"a"}} */
static const uint8_t hello[] = {0x04, 0x08, 0x01, 0x22, 0x00, 0x07, 0x08,
                                0x02, 0x2a, 0x03, 0x0a, 0x01, 'a'};

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

/* A masked binary frame around p[0..n). */
static size_t frame(uint8_t *out, const uint8_t *p, size_t n) {
  size_t k = 0;
  out[k++] = 0x82;
  if (n < 126) {
    out[k++] = (uint8_t)(0x80 | n);
  } else {
    out[k++] = 0x80 | 126;
    out[k++] = (uint8_t)(n >> 8);
    out[k++] = (uint8_t)n;
  }
  memset(out + k, 0, 4); /* a zero mask keeps the bytes as they are */
  k += 4;
  if (n)
    memcpy(out + k, p, n);
  return k + n;
}

static void hub(const uint8_t *data, size_t size) {
  static uint8_t buf[70000];
  struct wsp_server *s;
  struct wsp_client *cl;
  if (wsp_server_new(&s, NULL, NULL, 0, NULL) != 0)
    return;
  wsp_server_set_channel_flags(s, 0xf);
  if (wsp_server_accept(s, NULL, &cl) != 0) {
    wsp_server_free(s);
    return;
  }
  wsp_client_recv(cl, req, sizeof(req) - 1);
  drain(cl);
  wsp_client_recv(cl, buf, frame(buf, hello, sizeof(hello)));
  drain(cl);
  wsp_server_publish(s, "a", "{\"x\":1}", 7, NULL);
  wsp_client_recv(cl, buf, frame(buf, data, size));
  drain(cl);
  wsp_server_publish(s, "a", "[2]", 3, NULL);
  wsp_server_tick(s, 60000);
  drain(cl);
  wsp_client_free(cl);
  wsp_server_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 60000)
    return 0;
  round_trip(&wsp__pb_schema_command, data, size);
  round_trip(&wsp__pb_schema_reply, data, size);
  hub(data, size);
  return 0;
}
