/*
 * libFuzzer target for the private JSON module (lib/json/json_private.h).
 *
 * The input is validated. When it is valid, every member and element is
 * walked with the scanner: strings and keys are decoded, a decoded key
 * must match itself through key_is and be found by find, integers must
 * print back to their own text. Whatever the input, writing it as a JSON
 * string must give a valid text that decodes to valid UTF-8, and to the
 * input itself when the input was valid UTF-8; a valid input passed
 * through raw_value stays valid and loses every line break. A broken
 * rule aborts.
 */
#include "fuzz_common.h"

#include "../lib/json/json_private.h"

#define FZ_DEPTH 64

#define FZ_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

/* Decode a string value into a fresh buffer of the exact size needed. */
static char *fz_decode(const struct wsp__json_val *v, size_t *n) {
  char *out;
  /* every escape decodes to at least one byte */
  FZ_ASSERT(wsp__json_string_decode(v, NULL, 0, n) ==
            (v->len > 2 ? WSP_ERR_LIMIT : 0));
  FZ_ASSERT(*n <= v->len - 2);
  out = malloc(*n + 1);
  FZ_ASSERT(out != NULL);
  FZ_ASSERT(wsp__json_string_decode(v, out, *n + 1, n) == 0);
  FZ_ASSERT(out[*n] == '\0');
  FZ_ASSERT(fz_utf8_valid((const uint8_t *)out, *n));
  return out;
}

static void fz_number(const struct wsp__json_val *v) {
  struct wsp__jbuf jb;
  uint64_t u;
  int64_t i;
  wsp__jbuf_init(&jb, NULL);
  if (wsp__json_get_u64(v, &u) == 0) {
    wsp__jbuf_u64(&jb, u);
    FZ_ASSERT(jb.len == v->len && memcmp(jb.data, v->ptr, v->len) == 0);
  }
  wsp__jbuf_reset(&jb);
  if (wsp__json_get_i64(v, &i) == 0 &&
      !(v->len == 2 && memcmp(v->ptr, "-0", 2) == 0)) {
    wsp__jbuf_i64(&jb, i);
    FZ_ASSERT(jb.len == v->len && memcmp(jb.data, v->ptr, v->len) == 0);
  }
  wsp__jbuf_free(&jb);
}

static void fz_walk(const struct wsp__json_val *v, int depth);

/* A member of the object obj[0..len). */
static void fz_member(const struct wsp__json_val *k,
                      const struct wsp__json_val *v, const char *obj,
                      size_t len, int depth) {
  struct wsp__json_val found;
  size_t n;
  char *name = fz_decode(k, &n);
  if (memchr(name, '\0', n) == NULL) {
    FZ_ASSERT(wsp__json_key_is(k, name));
    FZ_ASSERT(wsp__json_find(obj, len, name, &found) == 1);
    FZ_ASSERT(found.ptr >= obj && found.ptr + found.len <= obj + len);
  }
  free(name);
  fz_walk(v, depth + 1);
}

static void fz_walk(const struct wsp__json_val *v, int depth) {
  struct wsp__json_val k, e;
  size_t pos = 0, n;
  int rc, b;
  char *s;
  FZ_ASSERT(depth <= FZ_DEPTH + 1);
  FZ_ASSERT(v->len > 0);
  switch (v->type) {
  case WSP__JSON_OBJECT:
    while ((rc = wsp__json_object_next(v->ptr, v->len, &pos, &k, &e)) == 1) {
      FZ_ASSERT(k.type == WSP__JSON_STRING);
      fz_member(&k, &e, v->ptr, v->len, depth);
    }
    FZ_ASSERT(rc == 0);
    break;
  case WSP__JSON_ARRAY:
    while ((rc = wsp__json_array_next(v->ptr, v->len, &pos, &e)) == 1)
      fz_walk(&e, depth + 1);
    FZ_ASSERT(rc == 0);
    break;
  case WSP__JSON_STRING:
    s = fz_decode(v, &n);
    free(s);
    break;
  case WSP__JSON_NUMBER:
    fz_number(v);
    break;
  case WSP__JSON_TRUE:
  case WSP__JSON_FALSE:
    FZ_ASSERT(wsp__json_get_bool(v, &b) == 0);
    FZ_ASSERT(b == (v->type == WSP__JSON_TRUE));
    break;
  case WSP__JSON_NULL:
    FZ_ASSERT(v->len == 4);
    break;
  default:
    abort();
  }
}

/* The top-level value of a valid text, found with the array scanner on
 * a wrapped copy so that the scanner classifies it. */
static void fz_top(const char *s, size_t len) {
  struct wsp__json_val v;
  size_t pos = 0;
  char *wrapped = malloc(len + 2);
  FZ_ASSERT(wrapped != NULL);
  wrapped[0] = '[';
  memcpy(wrapped + 1, s, len);
  wrapped[len + 1] = ']';
  FZ_ASSERT(wsp__json_validate(wrapped, len + 2, FZ_DEPTH + 1, NULL) == 0);
  FZ_ASSERT(wsp__json_array_next(wrapped, len + 2, &pos, &v) == 1);
  fz_walk(&v, 0);
  FZ_ASSERT(wsp__json_array_next(wrapped, len + 2, &pos, &v) == 0);
  free(wrapped);
}

static void fz_writer(const char *s, size_t len, int valid) {
  struct wsp__jbuf jb;
  struct wsp__json_val v;
  size_t n;
  char *dec;
  wsp__jbuf_init(&jb, NULL);
  FZ_ASSERT(wsp__jbuf_str(&jb, s, len) == 0);
  FZ_ASSERT(wsp__json_validate(jb.data, jb.len, 0, NULL) == 0);
  v.type = WSP__JSON_STRING;
  v.ptr = jb.data;
  v.len = jb.len;
  dec = fz_decode(&v, &n);
  if (fz_utf8_valid((const uint8_t *)s, len))
    FZ_ASSERT(n == len && memcmp(dec, s, len) == 0);
  else
    FZ_ASSERT(n != len || memcmp(dec, s, len) != 0);
  free(dec);

  if (valid) {
    wsp__jbuf_reset(&jb);
    FZ_ASSERT(wsp__jbuf_raw_value(&jb, s, len) == 0);
    FZ_ASSERT(jb.len <= len);
    FZ_ASSERT(jb.len == 0 || (memchr(jb.data, '\n', jb.len) == NULL &&
                              memchr(jb.data, '\r', jb.len) == NULL));
    FZ_ASSERT(wsp__json_validate(jb.data, jb.len, FZ_DEPTH, NULL) == 0);
  }
  wsp__jbuf_free(&jb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy, so that any read past the end is caught */
  char *s = malloc(size ? size : 1);
  size_t off = (size_t)-1, off2 = (size_t)-1;
  int rc, rc_deep;
  if (!s)
    return 0;
  if (size)
    memcpy(s, data, size);
  rc = wsp__json_validate(s, size, FZ_DEPTH, &off);
  rc_deep = wsp__json_validate(s, size, WSP__JSON_MAX_DEPTH, &off2);
  FZ_ASSERT(rc == 0 || (rc == WSP_ERR_JSON && off <= size));
  FZ_ASSERT(rc_deep == 0 || (rc_deep == WSP_ERR_JSON && off2 <= size));
  /* a deeper limit accepts more, and fails at the same byte otherwise
   * unless the shallow limit was what stopped it */
  if (rc == 0)
    FZ_ASSERT(rc_deep == 0);
  else if (rc_deep == 0 || off != off2)
    FZ_ASSERT((rc_deep == 0 || off < off2) && off < size &&
              (s[off] == '[' || s[off] == '{'));
  if (rc == 0) {
    struct wsp__json_val k, v;
    size_t pos = 0;
    fz_top(s, size);
    /* the object walk as the codec does it, from the raw text */
    while (wsp__json_object_next(s, size, &pos, &k, &v) == 1)
      fz_touch(v.ptr, v.len);
  }
  fz_writer(s, size, rc == 0);
  free(s);
  return 0;
}
