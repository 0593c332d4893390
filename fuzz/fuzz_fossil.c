/*
 * libFuzzer target for the Fossil delta encoder
 * (lib/hub/centrifuge/fossil.c). The first two bytes of the input give
 * where the rest splits into a source and a target; the delta of the
 * two is applied by a decoder written here from the format (sizes and
 * checksum checked, as centrifuge-js applies it) and must give the target
 * back. When the target is valid UTF-8, so must the delta be, since it
 * travels inside a JSON string.
 */
#include "fuzz_common.h"

#include "hub/hub_private.h"

static int fz_digit(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'Z')
    return c - 'A' + 10;
  if (c == '_')
    return 36;
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 37;
  return c == '~' ? 63 : -1;
}

static uint64_t fz_int(const uint8_t **p, const uint8_t *end) {
  uint64_t v = 0;
  int d;
  while (*p < end && (d = fz_digit(**p)) >= 0) {
    v = (v << 6) | (uint64_t)d;
    (*p)++;
  }
  return v;
}

#define FZ_CHECK(c)                                                            \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_mem mem;
  struct wsp__jbuf jb;
  const uint8_t *src, *tgt, *p, *end;
  size_t slen, tlen, total = 0, cut;
  uint64_t limit, n, o;
  uint32_t sum = 0;
  uint8_t *out;

  if (size < 2)
    return 0;
  cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
  src = data + 2;
  slen = cut;
  tgt = src + slen;
  tlen = size - 2 - slen;
  memset(&mem, 0, sizeof(mem));
  wsp__mem_init(&mem, NULL);
  wsp__jbuf_init(&jb, &mem);
  FZ_CHECK(wsp__fossil_delta(&mem, src, slen, tgt, tlen, &jb) == 0);
  p = (const uint8_t *)jb.data;
  end = p + jb.len;
  limit = fz_int(&p, end);
  FZ_CHECK(limit == tlen && p < end && *p++ == '\n');
  out = malloc(tlen + 1);
  FZ_CHECK(out != NULL);
  for (;;) {
    FZ_CHECK(p < end);
    n = fz_int(&p, end);
    FZ_CHECK(p < end);
    if (*p == '@') {
      p++;
      o = fz_int(&p, end);
      FZ_CHECK(p < end && *p++ == ',' && total + n <= limit && o + n <= slen);
      memcpy(out + total, src + o, n);
      total += n;
    } else if (*p == ':') {
      p++;
      FZ_CHECK(total + n <= limit && n <= (uint64_t)(end - p));
      memcpy(out + total, p, n);
      p += n;
      total += n;
    } else {
      FZ_CHECK(*p++ == ';' && p == end && total == limit);
      break;
    }
  }
  for (o = 0; o < total; o++)
    sum += (uint32_t)out[o] << (24 - 8 * (o % 4));
  FZ_CHECK(n == sum && (tlen == 0 || memcmp(out, tgt, tlen) == 0));
  if (fz_utf8_valid(tgt, tlen))
    FZ_CHECK(fz_utf8_valid((const uint8_t *)jb.data, jb.len));
  free(out);
  wsp__jbuf_free(&jb);
  return 0;
}
