/*
 * The Fossil delta encoder (lib/hub/centrifuge/fossil.c): every delta is
 * applied by a decoder written here from the format's description (as
 * centrifuge-js applies it, checksum and sizes checked) and must give the
 * target back; deltas of similar texts are small; literal inserts are
 * whole UTF-8 characters, so a delta of UTF-8 text is UTF-8.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_private.h"

static struct wsp_mem M;

static int digit(unsigned char c) {
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

static uint64_t get_int(const unsigned char **p, const unsigned char *end) {
  uint64_t v = 0;
  int d;
  while (*p < end && (d = digit(**p)) >= 0) {
    v = (v << 6) | (uint64_t)d;
    (*p)++;
  }
  return v;
}

static uint32_t sum32(const unsigned char *p, size_t n) {
  uint32_t s = 0;
  size_t i;
  for (i = 0; i < n; i++)
    s += (uint32_t)p[i] << (24 - 8 * (i % 4));
  return s;
}

/* Apply delta to src: the target in out (malloc'ed), or fail the test. */
static size_t apply(const unsigned char *src, size_t slen,
                    const unsigned char *d, size_t dlen, unsigned char **out) {
  const unsigned char *p = d, *end = d + dlen;
  uint64_t limit = get_int(&p, end), n, o;
  size_t total = 0;
  unsigned char *t;
  assert_true(p < end && *p++ == '\n');
  t = malloc(limit + 1);
  assert_non_null(t);
  for (;;) {
    assert_true(p < end);
    n = get_int(&p, end);
    assert_true(p < end);
    switch (*p++) {
    case '@':
      o = get_int(&p, end);
      assert_true(p < end && *p++ == ',');
      assert_true(total + n <= limit && o + n <= slen);
      memcpy(t + total, src + o, n);
      total += n;
      break;
    case ':':
      assert_true(total + n <= limit && n <= (uint64_t)(end - p));
      memcpy(t + total, p, n);
      p += n;
      total += n;
      break;
    case ';':
      assert_int_equal(total, limit);
      assert_int_equal(n, sum32(t, total));
      assert_true(p == end);
      *out = t;
      return total;
    default:
      fail_msg("unknown delta operator");
    }
  }
}

/* The delta of src to tgt, applied back; returns its length. */
static size_t roundtrip(const char *src, size_t slen, const char *tgt,
                        size_t tlen) {
  struct wsp__jbuf jb;
  unsigned char *back;
  size_t n, dl;
  wsp__jbuf_init(&jb, &M);
  assert_int_equal(wsp__fossil_delta(&M, src, slen, tgt, tlen, &jb), 0);
  n = apply((const unsigned char *)src, slen, (const unsigned char *)jb.data,
            jb.len, &back);
  assert_int_equal(n, tlen);
  if (tlen)
    assert_memory_equal(back, tgt, tlen);
  free(back);
  dl = jb.len;
  wsp__jbuf_free(&jb);
  return dl;
}

static void test_fossil_small_and_empty(void **state) {
  (void)state;
  roundtrip("", 0, "", 0);
  roundtrip("abc", 3, "", 0);
  roundtrip("", 0, "hello", 5);
  roundtrip("hello", 5, "hello", 5);
  roundtrip("x", 1, "{\"a\":1}", 7);
}

static void test_fossil_similar_json_is_small(void **state) {
  char a[4096], b[4096];
  size_t dl;
  int i, n = 0, m = 0;
  (void)state;
  n += snprintf(a + n, sizeof(a) - (size_t)n, "{\"rows\":[");
  m += snprintf(b + m, sizeof(b) - (size_t)m, "{\"rows\":[");
  for (i = 0; i < 60; i++) {
    n += snprintf(a + n, sizeof(a) - (size_t)n,
                  "%s{\"id\":%d,\"name\":\"item-%d\",\"price\":%d}",
                  i ? "," : "", i, i, 100 + i);
    m += snprintf(b + m, sizeof(b) - (size_t)m,
                  "%s{\"id\":%d,\"name\":\"item-%d\",\"price\":%d}",
                  i ? "," : "", i, i, i == 30 ? 999 : 100 + i);
  }
  n += snprintf(a + n, sizeof(a) - (size_t)n, "]}");
  m += snprintf(b + m, sizeof(b) - (size_t)m, "]}");
  dl = roundtrip(a, (size_t)n, b, (size_t)m);
  /* one changed price in ~2.7 KB: a handful of commands */
  assert_true(dl < 80);
  /* insertions and removals around the text */
  dl = roundtrip(a, (size_t)n, b + 9, (size_t)m - 9);
  assert_true(dl < 80);
  dl = roundtrip(a + 100, (size_t)n - 100, b, (size_t)m);
  assert_true(dl < 200);
}

/* 1 when p[0..n) is valid UTF-8 (no overlong forms, no surrogates). */
static int utf8_ok(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i], k, v, j;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c < 0xc2 || c > 0xf4)
      return 0;
    k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    if (n - i <= k)
      return 0;
    v = c & (0x3fu >> k);
    for (j = 1; j <= k; j++) {
      if ((p[i + j] & 0xc0) != 0x80)
        return 0;
      v = (v << 6) | (p[i + j] & 0x3fu);
    }
    if ((k == 2 && (v < 0x800 || (v >= 0xd800 && v < 0xe000))) ||
        (k == 3 && (v < 0x10000 || v > 0x10ffff)))
      return 0;
    i += k + 1;
  }
  return 1;
}

static void test_fossil_utf8_inserts(void **state) {
  char a[2048], b[2048];
  struct wsp__jbuf jb;
  size_t n = 0, m = 0;
  int i, round;
  unsigned seed = 7;
  (void)state;
  /* multi-byte text that differs inside characters: é (c3 a9) against
   * è (c3 a8), 😀 (f0 9f 98 80) against 😁 (f0 9f 98 81) */
  for (round = 0; round < 200; round++) {
    n = m = 0;
    for (i = 0; i < 40; i++) {
      static const char *w[] = {"caf\xc3\xa9 ",       "caf\xc3\xa8 ",
                                "\xf0\x9f\x98\x80",   "\xf0\x9f\x98\x81",
                                "plain-ascii-words ", "\xe2\x82\xac"};
      seed = seed * 1103515245u + 12345u;
      n += (size_t)snprintf(a + n, sizeof(a) - n, "%s", w[(seed >> 16) % 6]);
      seed = seed * 1103515245u + 12345u;
      m += (size_t)snprintf(b + m, sizeof(b) - m, "%s",
                            (seed >> 16) % 3 ? w[(seed >> 20) % 6]
                                             : "plain-ascii-words ");
    }
    assert_true(utf8_ok((unsigned char *)b, m));
    roundtrip(a, n, b, m);
    wsp__jbuf_init(&jb, &M);
    assert_int_equal(wsp__fossil_delta(&M, a, n, b, m, &jb), 0);
    if (!utf8_ok((unsigned char *)jb.data, jb.len))
      fail_msg("round %d: the delta is not UTF-8", round);
    wsp__jbuf_free(&jb);
  }
}

static void test_fossil_random_roundtrips(void **state) {
  unsigned char a[3000], b[3000];
  unsigned seed = 42;
  int round;
  (void)state;
  for (round = 0; round < 500; round++) {
    size_t n, m, i;
    seed = seed * 1103515245u + 12345u;
    n = (seed >> 8) % sizeof(a);
    for (i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      a[i] = (unsigned char)((seed >> 16) % 4 ? 'a' + (seed >> 20) % 4
                                              : (seed >> 12) & 0xff);
    }
    /* b: pieces of a, shuffled and edited */
    m = 0;
    while (m < sizeof(b) - 64) {
      size_t at, len;
      seed = seed * 1103515245u + 12345u;
      if ((seed >> 16) % 7 == 0 || n == 0) {
        b[m++] = (unsigned char)(seed >> 8);
        continue;
      }
      at = (seed >> 4) % n;
      len = 1 + (seed >> 12) % 80;
      if (at + len > n)
        len = n - at;
      if (m + len > sizeof(b))
        break;
      memcpy(b + m, a + at, len);
      m += len;
      if ((seed >> 24) % 5 == 0)
        break;
    }
    roundtrip((char *)a, n, (char *)b, m);
  }
}

static void test_fossil_allocation_failure(void **state) {
  struct tfail f;
  struct wsp__jbuf jb;
  char a[256], b[256];
  (void)state;
  memset(a, 'x', sizeof(a));
  memset(b, 'x', sizeof(b));
  tfail_init(&f, 1, 0); /* the first allocation fails */
  wsp__jbuf_init(&jb, &M);
  assert_int_equal(wsp__fossil_delta(&f.mem, a, sizeof(a), b, sizeof(b), &jb),
                   WSP_ERR_NOMEM);
  wsp__jbuf_free(&jb);
  assert_int_equal(f.live, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fossil_small_and_empty),
      cmocka_unit_test(test_fossil_similar_json_is_small),
      cmocka_unit_test(test_fossil_utf8_inserts),
      cmocka_unit_test(test_fossil_random_roundtrips),
      cmocka_unit_test(test_fossil_allocation_failure),
  };
  wsp__mem_init(&M, NULL);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
