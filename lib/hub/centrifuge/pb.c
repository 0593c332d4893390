/*
 * Protobuf wire primitives (https://protobuf.dev/programming-guides/
 * encoding/): varints, keys and length-delimited values, read with every
 * length checked against the end of the input.
 */
#include <string.h>

#include "pb_private.h"
#include "wsp/common.h"

int wsp__pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  const uint8_t *q = *p;
  uint64_t r = 0;
  unsigned shift = 0, i;
  for (i = 0; i < WSP__PB_VARINT_MAX; i++) {
    uint8_t b;
    if (q == end)
      return WSP_ERR_PROTO; /* truncated */
    b = *q++;
    /* the tenth byte holds the 64th bit only */
    if (i == WSP__PB_VARINT_MAX - 1 && b > 1)
      return WSP_ERR_PROTO;
    r |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      *p = q;
      *v = r;
      return 0;
    }
  }
  return WSP_ERR_PROTO;
}

int wsp__pb_key(const uint8_t **p, const uint8_t *end, uint32_t *field,
                int *wire) {
  uint64_t k;
  if (wsp__pb_varint(p, end, &k) != 0 || (k >> 3) == 0 || (k >> 3) > 0x1fffffff)
    return WSP_ERR_PROTO;
  *field = (uint32_t)(k >> 3);
  *wire = (int)(k & 7);
  return 0;
}

int wsp__pb_len(const uint8_t **p, const uint8_t *end, size_t *len) {
  uint64_t n;
  if (wsp__pb_varint(p, end, &n) != 0 || n > (uint64_t)(end - *p))
    return WSP_ERR_PROTO;
  *len = (size_t)n;
  return 0;
}

int wsp__pb_skip(const uint8_t **p, const uint8_t *end, int wire) {
  uint64_t v;
  size_t n;
  switch (wire) {
  case WSP__PB_VARINT:
    return wsp__pb_varint(p, end, &v);
  case WSP__PB_FIXED64:
  case WSP__PB_FIXED32:
    n = wire == WSP__PB_FIXED64 ? 8 : 4;
    if ((size_t)(end - *p) < n)
      return WSP_ERR_PROTO;
    *p += n;
    return 0;
  case WSP__PB_LEN:
    if (wsp__pb_len(p, end, &n) != 0)
      return WSP_ERR_PROTO;
    *p += n;
    return 0;
  default:
    return WSP_ERR_PROTO; /* groups and the undefined 6, 7 */
  }
}

int wsp__pb_put_varint(struct wsp__jbuf *jb, uint64_t v) {
  char b[WSP__PB_VARINT_MAX];
  size_t n = 0;
  do {
    b[n] = (char)(v & 0x7f);
    v >>= 7;
    if (v)
      b[n] = (char)(b[n] | 0x80);
    n++;
  } while (v);
  return wsp__jbuf_raw(jb, b, n);
}

int wsp__pb_put_key(struct wsp__jbuf *jb, uint32_t field, int wire) {
  return wsp__pb_put_varint(jb, ((uint64_t)field << 3) | (uint64_t)wire);
}

int wsp__pb_put_bytes(struct wsp__jbuf *jb, uint32_t field, const void *data,
                      size_t len) {
  wsp__pb_put_key(jb, field, WSP__PB_LEN);
  wsp__pb_put_varint(jb, len);
  return wsp__jbuf_raw(jb, data, len);
}

size_t wsp__pb_open(struct wsp__jbuf *jb) {
  WSP__JBUF_LIT(jb, "\0"); /* the length's first byte */
  return jb->len;
}

int wsp__pb_close(struct wsp__jbuf *jb, size_t start) {
  char b[WSP__PB_VARINT_MAX];
  size_t vlen, n = 0;
  uint64_t v;
  if (jb->err)
    return jb->err;
  vlen = jb->len - start;
  v = vlen;
  do {
    b[n] = (char)(v & 0x7f);
    v >>= 7;
    if (v)
      b[n] = (char)(b[n] | 0x80);
    n++;
  } while (v);
  if (n > 1) {
    /* grow by the length's other bytes, then move the value up */
    static const char pad[WSP__PB_VARINT_MAX] = {0};
    if (wsp__jbuf_raw(jb, pad, n - 1) != 0)
      return jb->err;
    memmove(jb->data + start + n - 1, jb->data + start, vlen);
  }
  memcpy(jb->data + start - 1, b, n);
  return 0;
}
