/*
 * libFuzzer target for the public JSON helpers (wsp/json.h).
 *
 * A text that wsp_json_parse() accepts is walked to the end with the
 * iterator and the getters (every member also found by wsp_json_get,
 * every element by wsp_json_at, the counts agreeing) and written back
 * with the writer; the output must parse again, hold no line break, and
 * have the same structure: same types, same decoded keys and strings,
 * same integers, the same doubles to the bit. A rejected text must come
 * with an offset inside it. Then the input drives the writer as a list
 * of calls, one per byte: whenever the writer offers data, it must
 * parse. A broken rule aborts.
 */
#include "fuzz_common.h"

#include <math.h>

#define FZ_MIN(a, b) ((size_t)(a) < (size_t)(b) ? (size_t)(a) : (size_t)(b))

#define FZ_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

/* A decoded string in a fresh buffer of the exact size. */
static char *fz_string(const struct wsp_json *v, size_t *n) {
  char *s;
  int rc = wsp_json_string(v, NULL, 0, n);
  FZ_ASSERT(rc == 0 || rc == WSP_ERR_LIMIT);
  FZ_ASSERT(*n <= v->len - 2);
  s = malloc(*n + 1);
  FZ_ASSERT(s != NULL);
  FZ_ASSERT(wsp_json_string(v, s, *n + 1, n) == 0);
  FZ_ASSERT(s[*n] == '\0');
  return s;
}

static void fz_copy(struct wsp_json_writer *w, const struct wsp_json *v);

static void fz_copy_object(struct wsp_json_writer *w,
                           const struct wsp_json *v) {
  struct wsp_json k, e, found;
  size_t pos = 0, n, count = 0, total;
  char *name;
  int rc;
  FZ_ASSERT(wsp_json_at(v, 0, &e) == WSP_ERR_JSON);
  wsp_json_writer_begin_object(w);
  while ((rc = wsp_json_next(v, &pos, &k, &e)) == 1) {
    FZ_ASSERT(k.type == WSP_JSON_STRING);
    FZ_ASSERT(k.ptr >= v->ptr && e.ptr + e.len <= v->ptr + v->len);
    name = fz_string(&k, &n);
    if (memchr(name, '\0', n) == NULL) {
      FZ_ASSERT(wsp_json_string_eq(&k, name));
      FZ_ASSERT(wsp_json_get(v, name, &found) == 1);
    }
    wsp_json_writer_key_len(w, name, n);
    free(name);
    fz_copy(w, &e);
    count++;
  }
  FZ_ASSERT(rc == 0);
  FZ_ASSERT(wsp_json_count(v, &total) == 0 && total == count);
  wsp_json_writer_end_object(w);
}

static void fz_copy_array(struct wsp_json_writer *w, const struct wsp_json *v) {
  struct wsp_json k, e, at;
  size_t pos = 0, count = 0, total;
  int rc;
  FZ_ASSERT(wsp_json_get(v, "", &e) == WSP_ERR_JSON);
  wsp_json_writer_begin_array(w);
  while ((rc = wsp_json_next(v, &pos, &k, &e)) == 1) {
    FZ_ASSERT(k.type == 0 && k.ptr == NULL);
    /* wsp_json_at walks from the start: check the first few only */
    if (count < 8) {
      FZ_ASSERT(wsp_json_at(v, count, &at) == 1);
      FZ_ASSERT(at.ptr == e.ptr && at.len == e.len && at.type == e.type);
    }
    fz_copy(w, &e);
    count++;
  }
  FZ_ASSERT(rc == 0);
  FZ_ASSERT(wsp_json_count(v, &total) == 0 && total == count);
  FZ_ASSERT(wsp_json_at(v, count, &e) == 0);
  wsp_json_writer_end_array(w);
}

static void fz_copy(struct wsp_json_writer *w, const struct wsp_json *v) {
  int64_t i;
  uint64_t u;
  double d;
  size_t n;
  char *s;
  int b, rc;
  FZ_ASSERT(v->len > 0);
  FZ_ASSERT(wsp_json_is_null(v) == (v->type == WSP_JSON_NULL));
  rc = wsp_json_bool(v, &b);
  FZ_ASSERT(rc == ((v->type == WSP_JSON_TRUE || v->type == WSP_JSON_FALSE)
                       ? 0
                       : WSP_ERR_JSON));
  if (v->type != WSP_JSON_NUMBER) {
    FZ_ASSERT(wsp_json_int64(v, &i) == WSP_ERR_JSON);
    FZ_ASSERT(wsp_json_double(v, &d) == WSP_ERR_JSON);
  }
  if (v->type != WSP_JSON_STRING)
    FZ_ASSERT(wsp_json_string(v, NULL, 0, &n) == WSP_ERR_JSON);
  switch (v->type) {
  case WSP_JSON_OBJECT:
    fz_copy_object(w, v);
    break;
  case WSP_JSON_ARRAY:
    fz_copy_array(w, v);
    break;
  case WSP_JSON_STRING:
    s = fz_string(v, &n);
    wsp_json_writer_string_len(w, s, n);
    free(s);
    break;
  case WSP_JSON_NUMBER:
    if (wsp_json_int64(v, &i) == 0) {
      wsp_json_writer_int64(w, i);
    } else if (wsp_json_uint64(v, &u) == 0) {
      wsp_json_writer_uint64(w, u);
    } else if ((rc = wsp_json_double(v, &d)) == 0) {
      FZ_ASSERT(isfinite(d));
      FZ_ASSERT(wsp_json_writer_double(w, d) == 0);
    } else {
      FZ_ASSERT(rc == WSP_ERR_LIMIT);
      FZ_ASSERT(wsp_json_writer_raw(w, v->ptr, v->len) == 0);
    }
    break;
  case WSP_JSON_TRUE:
  case WSP_JSON_FALSE:
    FZ_ASSERT(b == (v->type == WSP_JSON_TRUE));
    wsp_json_writer_bool(w, b);
    break;
  case WSP_JSON_NULL:
    wsp_json_writer_null(w);
    break;
  default:
    abort();
  }
}

/* a and b have the same structure and the same decoded contents. */
static void fz_same(const struct wsp_json *a, const struct wsp_json *b) {
  struct wsp_json ka, va, kb, vb;
  size_t pa = 0, pb = 0, na, nb;
  int ra, rb;
  FZ_ASSERT(a->type == b->type);
  switch (a->type) {
  case WSP_JSON_OBJECT:
  case WSP_JSON_ARRAY:
    for (;;) {
      ra = wsp_json_next(a, &pa, &ka, &va);
      rb = wsp_json_next(b, &pb, &kb, &vb);
      FZ_ASSERT(ra == rb);
      if (ra != 1)
        break;
      if (a->type == WSP_JSON_OBJECT)
        fz_same(&ka, &kb);
      fz_same(&va, &vb);
    }
    FZ_ASSERT(ra == 0);
    break;
  case WSP_JSON_STRING: {
    char *sa = fz_string(a, &na), *sb = fz_string(b, &nb);
    FZ_ASSERT(na == nb && memcmp(sa, sb, na) == 0);
    free(sa);
    free(sb);
    break;
  }
  case WSP_JSON_NUMBER: {
    int64_t ia, ib;
    uint64_t ua, ub;
    double da, db;
    /* an integer stays one; a double may come back as an integer */
    ra = wsp_json_int64(a, &ia);
    rb = wsp_json_int64(b, &ib);
    FZ_ASSERT(ra != 0 || (rb == 0 && ia == ib));
    ra = wsp_json_uint64(a, &ua);
    rb = wsp_json_uint64(b, &ub);
    FZ_ASSERT(ra != 0 || (rb == 0 && ua == ub));
    ra = wsp_json_double(a, &da);
    rb = wsp_json_double(b, &db);
    FZ_ASSERT(ra == rb);
    /* to the bit, but for "-0", which is written as the integer 0 */
    FZ_ASSERT(ra != 0 || memcmp(&da, &db, sizeof(da)) == 0 ||
              (da == 0 && db == 0));
    break;
  }
  default:
    break;
  }
}

static void fz_roundtrip(const struct wsp_json *v) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  struct wsp_json back;
  const char *out;
  size_t n;
  FZ_ASSERT(w != NULL);
  fz_copy(w, v);
  FZ_ASSERT(wsp_json_writer_error(w) == 0);
  out = wsp_json_writer_data(w, &n);
  FZ_ASSERT(out != NULL);
  FZ_ASSERT(memchr(out, '\n', n) == NULL && memchr(out, '\r', n) == NULL);
  FZ_ASSERT(wsp_json_parse(out, n, &back, NULL) == 0);
  fz_same(v, &back);
  wsp_json_writer_free(w);
}

/* The input as a list of writer calls. */
static void fz_ops(const uint8_t *data, size_t size) {
  static const char *raws[] = {"1", "[]", "{\"a\":\n[null]}", "[1,]", "\"x"};
  struct fz_alloc fa = {1, 0, 0, 0};
  struct wsp_mem mem = {fz_malloc, fz_realloc, fz_free, &fa, NULL};
  struct wsp_json_writer *w;
  struct wsp_json v;
  const char *out;
  size_t i, n;
  double d;
  if (size > 0)
    fa.fail_at = data[0] < 8 ? data[0] : 0;
  w = wsp_json_writer_new(&mem);
  if (!w)
    return;
  for (i = 1; i < size; i++) {
    uint8_t b = data[i], arg = b >> 4;
    int prev = wsp_json_writer_error(w), rc = 0;
    switch (b & 15) {
    case 0:
      rc = wsp_json_writer_begin_object(w);
      break;
    case 1:
      rc = wsp_json_writer_end_object(w);
      break;
    case 2:
      rc = wsp_json_writer_begin_array(w);
      break;
    case 3:
      rc = wsp_json_writer_end_array(w);
      break;
    case 4:
      rc = wsp_json_writer_key_len(w, (const char *)data + i,
                                   FZ_MIN(arg, size - i));
      break;
    case 5:
      rc = wsp_json_writer_string_len(w, (const char *)data + i,
                                      FZ_MIN(arg, size - i));
      break;
    case 6:
      rc = wsp_json_writer_int64(w, (int64_t)arg - 8);
      break;
    case 7:
      memset(&d, 0, sizeof(d));
      memcpy(&d, data + i, FZ_MIN(sizeof(d), size - i));
      rc = wsp_json_writer_double(w, d);
      break;
    case 8:
      rc = wsp_json_writer_bool(w, arg & 1);
      break;
    case 9:
      rc = wsp_json_writer_null(w);
      break;
    case 10:
      rc = wsp_json_writer_raw(w, raws[arg % 5], strlen(raws[arg % 5]));
      break;
    case 11:
      if (arg == 0)
        wsp_json_writer_reset(w);
      break;
    default:
      rc = wsp_json_writer_uint64(w, UINT64_MAX - arg);
      break;
    }
    /* the first error sticks */
    FZ_ASSERT(prev == 0 || (b & 15) == 11 || rc == prev);
    FZ_ASSERT(rc <= 0);
    out = wsp_json_writer_data(w, &n);
    if (out) {
      FZ_ASSERT(wsp_json_writer_error(w) == 0);
      FZ_ASSERT(wsp_json_parse(out, n, &v, NULL) == 0);
    }
  }
  wsp_json_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy, so that any read past the end is caught */
  char *s = malloc(size ? size : 1);
  struct wsp_json v;
  size_t off = (size_t)-1;
  int rc;
  if (!s)
    return 0;
  if (size)
    memcpy(s, data, size);
  rc = wsp_json_parse(s, size, &v, &off);
  if (rc == 0) {
    FZ_ASSERT(v.ptr >= s && v.ptr + v.len <= s + size);
    fz_roundtrip(&v);
  } else {
    FZ_ASSERT(rc == WSP_ERR_JSON && off <= size && v.ptr == NULL);
  }
  free(s);
  fz_ops(data, size);
  return 0;
}
