/* Helpers of the permessage-deflate tests (deflate_helpers.h). */
#include <stdlib.h>
#include <string.h>

#include "deflate_helpers.h"

/* Raw deflate of in with a sync flush, the 00 00 ff ff tail removed
 * (RFC 7692 section 7.2.1), into b. */
void zdeflate(struct tbuf *b, const void *in, size_t len, int bits) {
  z_stream z;
  size_t cap = compressBound((uLong)len) + 64;
  uint8_t *out = malloc(cap);
  assert_non_null(out);
  memset(&z, 0, sizeof(z));
  assert_int_equal(
      deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  assert_int_equal(z.avail_in, 0);
  assert_true(cap - z.avail_out >= 4);
  tbuf_append(b, out, cap - z.avail_out - 4);
  deflateEnd(&z);
  free(out);
}

/* Inflate a whole compressed message payload (tail re-added) with a
 * fresh stream, or with *keep when given (context takeover). */
void zinflate(struct tbuf *b, const uint8_t *in, size_t len, z_stream *keep) {
  z_stream z, *s = keep ? keep : &z;
  uint8_t out[4096];
  struct tbuf tmp;
  int r;
  tbuf_init(&tmp);
  tbuf_append(&tmp, in, len);
  tbuf_append(&tmp, "\x00\x00\xff\xff", 4);
  if (!keep) {
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
  }
  s->next_in = tmp.data;
  s->avail_in = (uInt)tmp.len;
  do {
    s->next_out = out;
    s->avail_out = sizeof(out);
    r = inflate(s, Z_SYNC_FLUSH);
    assert_true(r == Z_OK || r == Z_BUF_ERROR);
    tbuf_append(b, out, sizeof(out) - s->avail_out);
  } while (s->avail_in > 0 || s->avail_out == 0);
  if (!keep)
    inflateEnd(&z);
  tbuf_free(&tmp);
}

/* JSON-like text that compresses well and differs per index. */
void sample(struct tbuf *b, int i) {
  int k;
  tbuf_reset(b);
  for (k = 0; k < 20; k++)
    tbuf_printf(b, "{\"channel\":\"news\",\"seq\":%d,\"item\":%d},", i, k);
}

/* 2000 random letters, the same for the same i: little to gain inside
 * one message, everything from the one before with the same i. */
void letters(struct tbuf *b, int i) {
  uint32_t x = 2463534242u + (uint32_t)i;
  int k;
  tbuf_reset(b);
  for (k = 0; k < 2000; k++) {
    char ch;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ch = (char)('a' + x % 26);
    tbuf_append(b, &ch, 1);
  }
}
