/* The public JSON helpers (wsp/json.h): thin wrappers over the private
 * validator, scanner and writer of json.c and json_write.c, so that
 * applications read and write JSON with the very rules the hub applies. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json_private.h"
#include "wsp/json.h"

_Static_assert(WSP_JSON_MAX_DEPTH == WSP__JSON_MAX_DEPTH,
               "the public depth limit is the validator's");
_Static_assert((int)WSP_JSON_OBJECT == (int)WSP__JSON_OBJECT &&
                   (int)WSP_JSON_ARRAY == (int)WSP__JSON_ARRAY &&
                   (int)WSP_JSON_STRING == (int)WSP__JSON_STRING &&
                   (int)WSP_JSON_NUMBER == (int)WSP__JSON_NUMBER &&
                   (int)WSP_JSON_TRUE == (int)WSP__JSON_TRUE &&
                   (int)WSP_JSON_FALSE == (int)WSP__JSON_FALSE &&
                   (int)WSP_JSON_NULL == (int)WSP__JSON_NULL,
               "the public types are the scanner's");

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

/* ---- Reading ---------------------------------------------------------- */

static struct wsp__json_val to_val(const struct wsp_json *v) {
  struct wsp__json_val r;
  r.type = v->type;
  r.ptr = v->ptr;
  r.len = v->len;
  return r;
}

static void from_val(struct wsp_json *out, const struct wsp__json_val *v) {
  out->ptr = v->ptr;
  out->len = v->len;
  out->type = v->type;
}

static void clear(struct wsp_json *v) {
  v->ptr = NULL;
  v->len = 0;
  v->type = 0;
}

int wsp_json_parse(const void *text, size_t len, struct wsp_json *out,
                   size_t *err_off) {
  struct wsp__json_val v;
  int rc;
  if (!out || (!text && len))
    return WSP_ERR_INVAL;
  clear(out);
  rc = wsp__json_validate(text, len, WSP__JSON_MAX_DEPTH, err_off);
  if (rc < 0)
    return rc;
  if (wsp__json_value(text, len, &v) < 0)
    return WSP_ERR_JSON; /* not reached for validated text */
  from_val(out, &v);
  return 0;
}

int wsp_json_next(const struct wsp_json *container, size_t *pos,
                  struct wsp_json *key, struct wsp_json *val) {
  struct wsp__json_val k, v;
  int rc;
  if (!container || !pos || !val)
    return WSP_ERR_INVAL;
  if (container->type == WSP_JSON_OBJECT) {
    rc = wsp__json_object_next(container->ptr, container->len, pos, &k, &v);
    if (rc == 1 && key)
      from_val(key, &k);
  } else if (container->type == WSP_JSON_ARRAY) {
    rc = wsp__json_array_next(container->ptr, container->len, pos, &v);
    if (rc == 1 && key)
      clear(key);
  } else {
    return WSP_ERR_JSON;
  }
  if (rc == 1)
    from_val(val, &v);
  return rc;
}

int wsp_json_get(const struct wsp_json *obj, const char *key,
                 struct wsp_json *out) {
  struct wsp__json_val v;
  int rc;
  if (!obj || !key || !out)
    return WSP_ERR_INVAL;
  if (obj->type != WSP_JSON_OBJECT)
    return WSP_ERR_JSON;
  rc = wsp__json_find(obj->ptr, obj->len, key, &v);
  if (rc == 1)
    from_val(out, &v);
  return rc;
}

int wsp_json_at(const struct wsp_json *arr, size_t index,
                struct wsp_json *out) {
  struct wsp__json_val v;
  size_t pos = 0, i = 0;
  int rc;
  if (!arr || !out)
    return WSP_ERR_INVAL;
  if (arr->type != WSP_JSON_ARRAY)
    return WSP_ERR_JSON;
  while ((rc = wsp__json_array_next(arr->ptr, arr->len, &pos, &v)) == 1) {
    if (i++ == index) {
      from_val(out, &v);
      return 1;
    }
  }
  return rc;
}

int wsp_json_count(const struct wsp_json *container, size_t *count) {
  struct wsp_json k, v;
  size_t pos = 0, n = 0;
  int rc;
  if (!container || !count)
    return WSP_ERR_INVAL;
  while ((rc = wsp_json_next(container, &pos, &k, &v)) == 1)
    n++;
  if (rc == 0)
    *count = n;
  return rc;
}

/* Non-zero when v is a NUMBER written as an integer: '-'? digits. */
static int is_integer(const struct wsp_json *v) {
  size_t i = v->len && v->ptr[0] == '-';
  if (i == v->len)
    return 0;
  for (; i < v->len; i++)
    if (!IS_DIGIT(v->ptr[i]))
      return 0;
  return 1;
}

static int number_arg(const struct wsp_json *v, const void *out) {
  if (!v || !out)
    return WSP_ERR_INVAL;
  if (v->type != WSP_JSON_NUMBER || !v->ptr)
    return WSP_ERR_JSON;
  return 0;
}

int wsp_json_int64(const struct wsp_json *v, int64_t *out) {
  struct wsp__json_val jv;
  int rc = number_arg(v, out);
  if (rc < 0)
    return rc;
  jv = to_val(v);
  if (wsp__json_get_i64(&jv, out) == 0)
    return 0;
  return is_integer(v) ? WSP_ERR_LIMIT : WSP_ERR_JSON;
}

int wsp_json_uint64(const struct wsp_json *v, uint64_t *out) {
  struct wsp__json_val jv;
  int rc = number_arg(v, out);
  if (rc < 0)
    return rc;
  jv = to_val(v);
  if (wsp__json_get_u64(&jv, out) == 0)
    return 0;
  if (v->len == 2 && memcmp(v->ptr, "-0", 2) == 0) {
    *out = 0;
    return 0;
  }
  return is_integer(v) ? WSP_ERR_LIMIT : WSP_ERR_JSON;
}

/*
 * Significant digits handed to strtod(). Deciding the rounding of a
 * double may take up to 767 of them; beyond these, one more digit, 1 when
 * anything non-zero was dropped, settles any tie the same way the full
 * text would.
 */
#define DIGITS_MAX 800
/* Past this the exponent only makes the result 0 or infinite. */
#define EXP_MAX 100000000L

/*
 * s[0..n) as a double, without depending on LC_NUMERIC: the number is
 * rewritten as an integer mantissa and an exponent ("12.5e3" as
 * "125e2"), which has no decimal point for the locale to differ on.
 * 0, WSP_ERR_JSON when s is not a JSON number, WSP_ERR_LIMIT when its
 * magnitude is too large for a double.
 */
static int to_double(const char *s, size_t n, double *out) {
  char buf[1 + DIGITS_MAX + 1 + 32], *endp;
  size_t i = 0, o = 0, kept = 0;
  long long adj = 0, e = 0;
  int seen = 0, sticky = 0, frac = 0, eneg = 0, saved;
  double d;

  if (i < n && s[i] == '-')
    buf[o++] = s[i++];
  if (i == n || !IS_DIGIT(s[i]) ||
      (s[i] == '0' && i + 1 < n && IS_DIGIT(s[i + 1])))
    return WSP_ERR_JSON;
  for (;;) {
    for (; i < n && IS_DIGIT(s[i]); i++) {
      char c = s[i];
      if (!seen && c == '0') {
        adj -= frac; /* a leading zero moves nothing but the point */
        continue;
      }
      seen = 1;
      if (kept < DIGITS_MAX) {
        buf[o++] = c;
        kept++;
        adj -= frac;
      } else {
        sticky |= c != '0';
        adj += !frac;
      }
    }
    if (frac || i == n || s[i] != '.')
      break;
    if (++i == n || !IS_DIGIT(s[i]))
      return WSP_ERR_JSON;
    frac = 1;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    if (++i < n && (s[i] == '+' || s[i] == '-'))
      eneg = s[i++] == '-';
    if (i == n || !IS_DIGIT(s[i]))
      return WSP_ERR_JSON;
    for (; i < n && IS_DIGIT(s[i]); i++)
      if (e < EXP_MAX)
        e = e * 10 + (s[i] - '0');
  }
  if (i != n)
    return WSP_ERR_JSON;
  if (!kept) {
    buf[o++] = '0';
  } else if (sticky) {
    buf[o++] = '1';
    adj--;
  }
  e = (eneg ? -e : e) + adj;
  if (e > EXP_MAX)
    e = EXP_MAX;
  if (e < -EXP_MAX)
    e = -EXP_MAX;
  o += (size_t)snprintf(buf + o, sizeof(buf) - o, "e%lld", e);
  saved = errno;
  d = strtod(buf, &endp);
  errno = saved;
  if (endp != buf + o)
    return WSP_ERR_JSON; /* not reached */
  if (isinf(d))
    return WSP_ERR_LIMIT;
  *out = d;
  return 0;
}

int wsp_json_double(const struct wsp_json *v, double *out) {
  int rc = number_arg(v, out);
  if (rc < 0)
    return rc;
  return to_double(v->ptr, v->len, out);
}

int wsp_json_bool(const struct wsp_json *v, int *out) {
  struct wsp__json_val jv;
  if (!v || !out)
    return WSP_ERR_INVAL;
  jv = to_val(v);
  return wsp__json_get_bool(&jv, out);
}

int wsp_json_is_null(const struct wsp_json *v) {
  return v && v->type == WSP_JSON_NULL;
}

int wsp_json_string(const struct wsp_json *v, char *buf, size_t cap,
                    size_t *len) {
  struct wsp__json_val jv;
  if (!v || (!buf && cap))
    return WSP_ERR_INVAL;
  if (v->type != WSP_JSON_STRING)
    return WSP_ERR_JSON;
  jv = to_val(v);
  return wsp__json_string_decode(&jv, buf, cap, len);
}

int wsp_json_string_eq(const struct wsp_json *v, const char *text) {
  struct wsp__json_val jv;
  if (!v || !text || v->type != WSP_JSON_STRING)
    return 0;
  jv = to_val(v);
  return wsp__json_key_is(&jv, text);
}

/* ---- Writing ---------------------------------------------------------- */

struct wsp_json_writer {
  struct wsp_mem mem;
  struct wsp__jbuf jb; /* borrows mem */
  int err;             /* the first error, sticky */
  unsigned depth;      /* containers open */
  unsigned char comma; /* the open container already holds an item */
  unsigned char key;   /* a key was written, its value is due */
  unsigned char done;  /* the top-level value is complete */
  /* One bit per open container: 1 for an object, 0 for an array. */
  uint64_t kinds[WSP_JSON_MAX_DEPTH / 64];
};

struct wsp_json_writer *wsp_json_writer_new(const struct wsp_mem *mem) {
  struct wsp_mem m;
  struct wsp_json_writer *w;
  wsp__mem_init(&m, mem);
  w = wsp__malloc(&m, sizeof(*w));
  if (!w)
    return NULL;
  memset(w, 0, sizeof(*w));
  w->mem = m;
  wsp__jbuf_init(&w->jb, &w->mem);
  return w;
}

void wsp_json_writer_free(struct wsp_json_writer *w) {
  struct wsp_mem m;
  if (!w)
    return;
  wsp__jbuf_free(&w->jb);
  m = w->mem;
  wsp__free(&m, w);
}

void wsp_json_writer_reset(struct wsp_json_writer *w) {
  if (!w)
    return;
  wsp__jbuf_reset(&w->jb);
  w->err = 0;
  w->depth = 0;
  w->comma = w->key = w->done = 0;
}

int wsp_json_writer_error(const struct wsp_json_writer *w) {
  return w ? w->err : WSP_ERR_INVAL;
}

const char *wsp_json_writer_data(const struct wsp_json_writer *w, size_t *len) {
  int ok = w && !w->err && w->done;
  if (len)
    *len = ok ? w->jb.len : 0;
  return ok ? w->jb.data : NULL;
}

static int fail(struct wsp_json_writer *w, int err) {
  if (!w->err)
    w->err = err;
  return w->err;
}

/* The buffer's own error (out of memory) becomes the writer's. */
static int sync_err(struct wsp_json_writer *w) {
  return w->jb.err ? fail(w, w->jb.err) : w->err;
}

static int in_object(const struct wsp_json_writer *w) {
  unsigned top = w->depth - 1;
  return w->depth && ((w->kinds[top >> 6] >> (top & 63)) & 1);
}

/* Before a value: check that one may come here and write its comma. */
static int value_begin(struct wsp_json_writer *w) {
  if (w->err)
    return w->err;
  if (w->depth == 0)
    return w->done ? fail(w, WSP_ERR_STATE) : 0;
  if (in_object(w)) {
    if (!w->key)
      return fail(w, WSP_ERR_STATE);
    w->key = 0;
    return 0;
  }
  if (w->comma)
    WSP__JBUF_LIT(&w->jb, ",");
  return sync_err(w);
}

static int value_end(struct wsp_json_writer *w) {
  if (w->depth == 0)
    w->done = 1;
  else
    w->comma = 1;
  return sync_err(w);
}

static int begin(struct wsp_json_writer *w, int object) {
  unsigned d;
  if (!w)
    return WSP_ERR_INVAL;
  if (value_begin(w) < 0)
    return w->err;
  if (w->depth == WSP_JSON_MAX_DEPTH)
    return fail(w, WSP_ERR_LIMIT);
  d = w->depth++;
  if (object)
    w->kinds[d >> 6] |= (uint64_t)1 << (d & 63);
  else
    w->kinds[d >> 6] &= ~((uint64_t)1 << (d & 63));
  w->comma = 0;
  w->key = 0;
  if (object)
    WSP__JBUF_LIT(&w->jb, "{");
  else
    WSP__JBUF_LIT(&w->jb, "[");
  return sync_err(w);
}

static int end(struct wsp_json_writer *w, int object) {
  if (!w)
    return WSP_ERR_INVAL;
  if (w->err)
    return w->err;
  if (w->depth == 0 || in_object(w) != object || w->key)
    return fail(w, WSP_ERR_STATE);
  if (object)
    WSP__JBUF_LIT(&w->jb, "}");
  else
    WSP__JBUF_LIT(&w->jb, "]");
  w->depth--;
  return value_end(w);
}

int wsp_json_writer_begin_object(struct wsp_json_writer *w) {
  return begin(w, 1);
}

int wsp_json_writer_end_object(struct wsp_json_writer *w) { return end(w, 1); }

int wsp_json_writer_begin_array(struct wsp_json_writer *w) {
  return begin(w, 0);
}

int wsp_json_writer_end_array(struct wsp_json_writer *w) { return end(w, 0); }

int wsp_json_writer_key_len(struct wsp_json_writer *w, const char *key,
                            size_t len) {
  if (!w)
    return WSP_ERR_INVAL;
  if (w->err)
    return w->err;
  if (!key && len)
    return fail(w, WSP_ERR_INVAL);
  if (!in_object(w) || w->key)
    return fail(w, WSP_ERR_STATE);
  if (w->comma)
    WSP__JBUF_LIT(&w->jb, ",");
  wsp__jbuf_str(&w->jb, key ? key : "", len);
  WSP__JBUF_LIT(&w->jb, ":");
  w->key = 1;
  return sync_err(w);
}

int wsp_json_writer_key(struct wsp_json_writer *w, const char *key) {
  if (w && !key)
    return fail(w, WSP_ERR_INVAL);
  return wsp_json_writer_key_len(w, key, key ? strlen(key) : 0);
}

int wsp_json_writer_string_len(struct wsp_json_writer *w, const char *s,
                               size_t len) {
  if (!w)
    return WSP_ERR_INVAL;
  if (!s && len)
    return fail(w, WSP_ERR_INVAL);
  if (value_begin(w) < 0)
    return w->err;
  wsp__jbuf_str(&w->jb, s ? s : "", len);
  return value_end(w);
}

int wsp_json_writer_string(struct wsp_json_writer *w, const char *s) {
  if (w && !s)
    return fail(w, WSP_ERR_INVAL);
  return wsp_json_writer_string_len(w, s, s ? strlen(s) : 0);
}

int wsp_json_writer_int64(struct wsp_json_writer *w, int64_t v) {
  if (!w)
    return WSP_ERR_INVAL;
  if (value_begin(w) < 0)
    return w->err;
  wsp__jbuf_i64(&w->jb, v);
  return value_end(w);
}

int wsp_json_writer_uint64(struct wsp_json_writer *w, uint64_t v) {
  if (!w)
    return WSP_ERR_INVAL;
  if (value_begin(w) < 0)
    return w->err;
  wsp__jbuf_u64(&w->jb, v);
  return value_end(w);
}

/*
 * Write the number with significant digits dig[0..n) (n >= 1, no
 * trailing zero but for "0") and decimal exponent e (dig[0] is worth
 * 10^e) as JSON into out, the way JavaScript prints numbers: plain below
 * 1e21 and from 1e-7 on, with an exponent otherwise.
 */
static size_t format_number(char *out, int neg, const char *dig, size_t n,
                            int e) {
  size_t o = 0, i;
  if (neg)
    out[o++] = '-';
  if (e >= 0 && e < 21) {
    for (i = 0; i < n || i <= (size_t)e; i++) {
      if (i == (size_t)e + 1)
        out[o++] = '.';
      out[o++] = i < n ? dig[i] : '0';
    }
  } else if (e < 0 && e >= -7) {
    out[o++] = '0';
    out[o++] = '.';
    for (i = 1; i < (size_t)-e; i++)
      out[o++] = '0';
    memcpy(out + o, dig, n);
    o += n;
  } else {
    out[o++] = dig[0];
    if (n > 1) {
      out[o++] = '.';
      memcpy(out + o, dig + 1, n - 1);
      o += n - 1;
    }
    o += (size_t)sprintf(out + o, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  }
  return o;
}

/*
 * v as the shortest JSON number that reads back as v, into out[48]. The
 * digits come from printf's %e, which is correctly rounded; only its
 * digits and exponent are used, so the locale's decimal point does not
 * matter.
 */
static size_t format_double(char *out, double v) {
  char tmp[48], dig[20];
  size_t n, o;
  int prec, e;
  double back;
  if (v == 0)
    return (size_t)sprintf(out, "%s", signbit(v) ? "-0" : "0");
  for (prec = 1;; prec++) {
    const char *p = tmp, *x;
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
    n = 0;
    x = strchr(tmp, 'e');
    for (; p < x; p++)
      if (IS_DIGIT(*p))
        dig[n++] = *p;
    while (n > 1 && dig[n - 1] == '0')
      n--;
    e = atoi(x + 1);
    o = format_number(out, v < 0, dig, n, e);
    if (prec == 17 || (to_double(out, o, &back) == 0 && back == v))
      return o;
  }
}

int wsp_json_writer_double(struct wsp_json_writer *w, double v) {
  char buf[48];
  if (!w)
    return WSP_ERR_INVAL;
  if (w->err)
    return w->err;
  if (!isfinite(v))
    return fail(w, WSP_ERR_INVAL);
  if (value_begin(w) < 0)
    return w->err;
  wsp__jbuf_raw(&w->jb, buf, format_double(buf, v));
  return value_end(w);
}

int wsp_json_writer_bool(struct wsp_json_writer *w, int v) {
  if (!w)
    return WSP_ERR_INVAL;
  if (value_begin(w) < 0)
    return w->err;
  if (v)
    WSP__JBUF_LIT(&w->jb, "true");
  else
    WSP__JBUF_LIT(&w->jb, "false");
  return value_end(w);
}

int wsp_json_writer_null(struct wsp_json_writer *w) {
  if (!w)
    return WSP_ERR_INVAL;
  if (value_begin(w) < 0)
    return w->err;
  WSP__JBUF_LIT(&w->jb, "null");
  return value_end(w);
}

int wsp_json_writer_raw(struct wsp_json_writer *w, const char *json,
                        size_t len) {
  if (!w)
    return WSP_ERR_INVAL;
  if (w->err)
    return w->err;
  if (!json && len)
    return fail(w, WSP_ERR_INVAL);
  /* the value's own nesting counts on top of the writer's */
  if (wsp__json_validate(json, len, WSP_JSON_MAX_DEPTH - w->depth, NULL) < 0)
    return fail(w, WSP_ERR_JSON);
  if (value_begin(w) < 0)
    return w->err;
  wsp__jbuf_raw_value(&w->jb, json, len);
  return value_end(w);
}
