/* Byte-level helpers shared by the JSON scanner (json.c) and writer
 * (json_write.c): plain string bytes and UTF-8 well-formedness. */
#ifndef WSP_JSON_CHARS_H
#define WSP_JSON_CHARS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JSON_SWAR 1
#endif

/* String bytes that need no attention: printable ASCII but '"' and '\\'. */
static const unsigned char plain_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80..0xff: 0 */};

/* Skip plain string bytes (plain_tab), eight at a time where the machine
 * allows: a byte is flagged when it is '"', '\\', below 0x20 or above
 * 0x7f. Borrows only run upwards from a flagged byte, so the lowest flag
 * is exact. */
static inline const unsigned char *wsp__skip_plain(const unsigned char *p,
                                                   const unsigned char *end) {
#ifdef JSON_SWAR
  const uint64_t ones = 0x0101010101010101ull;
  const uint64_t high = 0x8080808080808080ull;
  while (end - p >= 8) {
    uint64_t v, q, b, m;
    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    m = (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v) &
        high;
    if (m)
      return p + (__builtin_ctzll(m) >> 3);
    p += 8;
  }
#endif
  while (p < end && plain_tab[*p])
    p++;
  return p;
}

/*
 * Check the UTF-8 sequence starting at p (p < end, *p >= 0x80), following
 * Unicode's table of well-formed byte sequences. Returns its length and
 * sets *ok, or clears *ok and returns the offset of the first byte that
 * cannot continue it (0 when the lead byte itself is invalid).
 */
static inline size_t wsp__utf8_check(const unsigned char *p,
                                     const unsigned char *end, int *ok) {
  unsigned c = p[0], lo = 0x80, hi = 0xbf;
  size_t n, i;
  *ok = 0;
  if (c < 0xc2)
    return 0;
  if (c < 0xe0) {
    n = 2;
  } else if (c < 0xf0) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c < 0xf5) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if ((size_t)(end - p) < 2 || p[1] < lo || p[1] > hi)
    return 1;
  for (i = 2; i < n; i++)
    if ((size_t)(end - p) <= i || (p[i] & 0xc0) != 0x80)
      return i;
  *ok = 1;
  return n;
}

#endif /* WSP_JSON_CHARS_H */
