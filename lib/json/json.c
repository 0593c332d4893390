/* Strict JSON validation and zero-copy scanning of validated text (the
 * writer is in json_write.c). See json.h for the contracts. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json_chars.h"
#include "json_private.h"

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

/* The four whitespace bytes of RFC 8259. */
static const unsigned char ws_tab[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* Bytes a number may contain, used when skipping validated numbers. */
static const unsigned char num_tab[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['-'] = 1, ['+'] = 1, ['.'] = 1, ['e'] = 1, ['E'] = 1};

/* The byte each one-letter escape stands for; 0: not one. */
static const unsigned char unesc_tab[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};

/* Bytes that matter when skipping over a validated array or object. */
static const unsigned char nest_tab[256] = {
    ['"'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1};

static inline const unsigned char *skip_ws(const unsigned char *p,
                                           const unsigned char *end) {
  while (p < end && ws_tab[*p])
    p++;
  return p;
}

static inline int hexval(unsigned c) {
  if (c - '0' < 10u)
    return (int)(c - '0');
  c |= 0x20;
  if (c - 'a' < 6u)
    return (int)(c - 'a' + 10);
  return -1;
}

/* The four hex digits at p (end - p >= 4 is the caller's), or -1. */
static inline long hex4(const unsigned char *p) {
  int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
  if ((a | b | c | d) < 0)
    return -1;
  return (long)((a << 12) | (b << 8) | (c << 4) | d);
}

/* ---- Validation ------------------------------------------------------- */

/* The \uXXXX escape at p, whose four hex digits are known to be good:
 * the code point, a high surrogate joined with the low one that must
 * follow it, and *next past it; or -1 (*next untouched) for a surrogate
 * out of place. */
static long u_escape(const unsigned char *p, const unsigned char *end,
                     const unsigned char **next) {
  long cp = hex4(p + 2), lo;
  p += 6;
  if (cp >= 0xd800 && cp <= 0xdfff) {
    if (cp >= 0xdc00 || end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
        (lo = hex4(p + 2)) < 0xdc00 || lo > 0xdfff)
      return -1;
    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    p += 6;
  }
  *next = p;
  return cp;
}

/* Validate the escape at *pp (a backslash). On failure *pp is left at
 * the offending byte, or on the backslash for a surrogate error. */
static int scan_escape(const unsigned char **pp, const unsigned char *end) {
  const unsigned char *p = *pp;
  int i;
  if (end - p < 2) {
    *pp = end;
    return -1;
  }
  if (unesc_tab[p[1]]) {
    *pp = p + 2;
    return 0;
  }
  if (p[1] != 'u') {
    *pp = p + 1;
    return -1;
  }
  for (i = 2; i < 6; i++) {
    if (p + i == end || hexval(p[i]) < 0) {
      *pp = p + i;
      return -1;
    }
  }
  return u_escape(p, end, pp) < 0 ? -1 : 0;
}

/* *pp is just past the opening quote; on success it ends just past the
 * closing one, on failure on the offending byte. */
static int scan_string(const unsigned char **pp, const unsigned char *end) {
  const unsigned char *p = *pp;
  int ok;
  for (;;) {
    p = wsp__skip_plain(p, end);
    if (p == end)
      break;
    if (*p == '"') {
      *pp = p + 1;
      return 0;
    }
    if (*p == '\\') {
      if (scan_escape(&p, end) < 0)
        break;
    } else if (*p < 0x80) {
      break; /* a control character */
    } else {
      size_t n = wsp__utf8_check(p, end, &ok);
      p += n;
      if (!ok)
        break;
    }
  }
  *pp = p;
  return -1;
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int scan_number(const unsigned char **pp, const unsigned char *end) {
  const unsigned char *p = *pp;
  if (*p == '-')
    p++;
  if (p == end)
    goto fail;
  if (*p == '0') {
    p++;
  } else if (IS_DIGIT(*p)) {
    while (++p < end && IS_DIGIT(*p))
      ;
  } else {
    goto fail;
  }
  if (p < end && *p == '.') {
    if (++p == end || !IS_DIGIT(*p))
      goto fail;
    while (++p < end && IS_DIGIT(*p))
      ;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-'))
      p++;
    if (p == end || !IS_DIGIT(*p))
      goto fail;
    while (++p < end && IS_DIGIT(*p))
      ;
  }
  *pp = p;
  return 0;
fail:
  *pp = p;
  return -1;
}

static int scan_literal(const unsigned char **pp, const unsigned char *end,
                        const char *lit, size_t n) {
  const unsigned char *p = *pp;
  size_t i;
  for (i = 0; i < n; i++, p++) {
    if (p == end || *p != (unsigned char)lit[i]) {
      *pp = p;
      return -1;
    }
  }
  *pp = p;
  return 0;
}

int wsp__json_validate(const char *s, size_t len, unsigned max_depth,
                       size_t *err_off) {
  const unsigned char *base = (const unsigned char *)s, *p, *end;
  /* One bit per open container: 1 for an object, 0 for an array. */
  uint64_t kinds[WSP__JSON_MAX_DEPTH / 64] = {0};
  unsigned depth = 0;

  if (!s) {
    if (err_off)
      *err_off = 0;
    return WSP_ERR_JSON;
  }
  p = base;
  end = base + len;
  if (max_depth > WSP__JSON_MAX_DEPTH)
    max_depth = WSP__JSON_MAX_DEPTH;

value:
  p = skip_ws(p, end);
  if (p == end)
    goto fail;
  switch (*p) {
  case '{':
    if (depth == max_depth)
      goto fail;
    kinds[depth >> 6] |= (uint64_t)1 << (depth & 63);
    depth++;
    p = skip_ws(p + 1, end);
    if (p == end)
      goto fail;
    if (*p == '}') {
      p++;
      depth--;
      goto after;
    }
    goto member;
  case '[':
    if (depth == max_depth)
      goto fail;
    kinds[depth >> 6] &= ~((uint64_t)1 << (depth & 63));
    depth++;
    p = skip_ws(p + 1, end);
    if (p == end)
      goto fail;
    if (*p == ']') {
      p++;
      depth--;
      goto after;
    }
    goto value;
  case '"':
    p++;
    if (scan_string(&p, end) < 0)
      goto fail;
    goto after;
  case 't':
    if (scan_literal(&p, end, "true", 4) < 0)
      goto fail;
    goto after;
  case 'f':
    if (scan_literal(&p, end, "false", 5) < 0)
      goto fail;
    goto after;
  case 'n':
    if (scan_literal(&p, end, "null", 4) < 0)
      goto fail;
    goto after;
  case '-':
  case '0':
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
  case '8':
  case '9':
    if (scan_number(&p, end) < 0)
      goto fail;
    goto after;
  default:
    goto fail;
  }

member: /* p is on the first byte of a member, past any whitespace */
  if (*p != '"')
    goto fail;
  p++;
  if (scan_string(&p, end) < 0)
    goto fail;
  p = skip_ws(p, end);
  if (p == end || *p != ':')
    goto fail;
  p++;
  goto value;

after: /* a value ended just before p */
  p = skip_ws(p, end);
  if (depth == 0) {
    if (p != end)
      goto fail;
    return 0;
  }
  if (p == end)
    goto fail;
  {
    unsigned top = depth - 1;
    int is_obj = (int)((kinds[top >> 6] >> (top & 63)) & 1);
    if (*p == ',') {
      p = skip_ws(p + 1, end);
      if (p == end)
        goto fail;
      if (is_obj)
        goto member;
      goto value;
    }
    if (*p == (is_obj ? '}' : ']')) {
      p++;
      depth--;
      goto after;
    }
  }

fail:
  if (err_off)
    *err_off = (size_t)(p - base);
  return WSP_ERR_JSON;
}

/* ---- Scanning --------------------------------------------------------- */

/* p is just past an opening quote: return the byte past the closing one,
 * or NULL. A quote is the closing one when an even number of backslashes
 * precede it inside the string. */
static const unsigned char *skip_string(const unsigned char *p,
                                        const unsigned char *end) {
  const unsigned char *start = p, *q, *b;
  while (p < end) {
    q = memchr(p, '"', (size_t)(end - p));
    if (!q)
      return NULL;
    for (b = q; b > start && b[-1] == '\\'; b--)
      ;
    if (((q - b) & 1) == 0)
      return q + 1;
    p = q + 1;
  }
  return NULL;
}

/* The value starting at p (p < end, not whitespace) into *v; *next gets
 * the byte past it. Relies on validated text for everything but bounds. */
static int scan_value(const unsigned char *p, const unsigned char *end,
                      const unsigned char **next, struct wsp__json_val *v) {
  const unsigned char *start = p;
  size_t depth;
  switch (*p) {
  case '"':
    v->type = WSP__JSON_STRING;
    p = skip_string(p + 1, end);
    if (!p)
      return WSP_ERR_JSON;
    break;
  case '{':
  case '[':
    v->type = *p == '{' ? WSP__JSON_OBJECT : WSP__JSON_ARRAY;
    depth = 0;
    for (;;) {
      while (p < end && !nest_tab[*p])
        p++;
      if (p == end)
        return WSP_ERR_JSON;
      if (*p == '"') {
        p = skip_string(p + 1, end);
        if (!p)
          return WSP_ERR_JSON;
        continue;
      }
      if (*p == '{' || *p == '[') {
        depth++;
      } else if (--depth == 0) {
        p++;
        break;
      }
      p++;
    }
    break;
  case 't':
    v->type = WSP__JSON_TRUE;
    if (scan_literal(&p, end, "true", 4) < 0)
      return WSP_ERR_JSON;
    break;
  case 'f':
    v->type = WSP__JSON_FALSE;
    if (scan_literal(&p, end, "false", 5) < 0)
      return WSP_ERR_JSON;
    break;
  case 'n':
    v->type = WSP__JSON_NULL;
    if (scan_literal(&p, end, "null", 4) < 0)
      return WSP_ERR_JSON;
    break;
  default:
    if (*p != '-' && !IS_DIGIT(*p))
      return WSP_ERR_JSON;
    v->type = WSP__JSON_NUMBER;
    while (p < end && num_tab[*p])
      p++;
    break;
  }
  v->ptr = (const char *)start;
  v->len = (size_t)(p - start);
  *next = p;
  return 0;
}

/* Step to the next item of the container s[0..len) that opens with open
 * and closes with close: 1 with p on the item, 0 at the end, or an error.
 * *pos is 0 before the first item and past the previous one after. */
static int container_step(const char *s, size_t len, size_t *pos, int open,
                          int close, const unsigned char **item) {
  const unsigned char *b = (const unsigned char *)s, *end, *p;
  if (!s || !pos || *pos > len)
    return WSP_ERR_JSON;
  end = b + len;
  p = skip_ws(b + *pos, end);
  if (*pos == 0) {
    if (p == end || *p != open)
      return WSP_ERR_JSON;
    p = skip_ws(p + 1, end);
    if (p < end && *p == close) {
      *pos = (size_t)(p - b);
      return 0;
    }
  } else {
    if (p < end && *p == close) {
      *pos = (size_t)(p - b);
      return 0;
    }
    if (p == end || *p != ',')
      return WSP_ERR_JSON;
    p = skip_ws(p + 1, end);
  }
  if (p == end)
    return WSP_ERR_JSON;
  *item = p;
  return 1;
}

int wsp__json_object_next(const char *s, size_t len, size_t *pos,
                          struct wsp__json_val *key,
                          struct wsp__json_val *val) {
  const unsigned char *p = NULL, *end;
  int rc = container_step(s, len, pos, '{', '}', &p);
  if (rc <= 0)
    return rc;
  end = (const unsigned char *)s + len;
  if (*p != '"' || scan_value(p, end, &p, key) < 0)
    return WSP_ERR_JSON;
  p = skip_ws(p, end);
  if (p == end || *p != ':')
    return WSP_ERR_JSON;
  p = skip_ws(p + 1, end);
  if (p == end || scan_value(p, end, &p, val) < 0)
    return WSP_ERR_JSON;
  *pos = (size_t)(p - (const unsigned char *)s);
  return 1;
}

int wsp__json_array_next(const char *s, size_t len, size_t *pos,
                         struct wsp__json_val *val) {
  const unsigned char *p = NULL;
  int rc = container_step(s, len, pos, '[', ']', &p);
  if (rc <= 0)
    return rc;
  if (scan_value(p, (const unsigned char *)s + len, &p, val) < 0)
    return WSP_ERR_JSON;
  *pos = (size_t)(p - (const unsigned char *)s);
  return 1;
}

int wsp__json_value(const char *s, size_t len, struct wsp__json_val *val) {
  const unsigned char *b = (const unsigned char *)s, *end, *p;
  if (!s)
    return WSP_ERR_JSON;
  end = b + len;
  p = skip_ws(b, end);
  if (p == end || scan_value(p, end, &p, val) < 0 || skip_ws(p, end) != end)
    return WSP_ERR_JSON;
  return 0;
}

int wsp__json_find(const char *obj, size_t len, const char *name,
                   struct wsp__json_val *val) {
  struct wsp__json_val k, v;
  size_t pos = 0;
  int rc;
  while ((rc = wsp__json_object_next(obj, len, &pos, &k, &v)) == 1) {
    if (wsp__json_key_is(&k, name)) {
      *val = v;
      return 1;
    }
  }
  return rc;
}

static int utf8_put(unsigned char *o, unsigned long cp) {
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xc0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xe0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (unsigned char)(0xf0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Decode the escape at *pp (a backslash) into out[4]: its UTF-8 length
 * with *pp moved past it, or -1. */
static int decode_escape(const unsigned char **pp, const unsigned char *end,
                         unsigned char *out) {
  const unsigned char *p = *pp;
  long cp;
  if (end - p < 2)
    return -1;
  if (unesc_tab[p[1]]) {
    out[0] = unesc_tab[p[1]];
    *pp = p + 2;
    return 1;
  }
  if (p[1] != 'u' || end - p < 6 || hex4(p + 2) < 0 ||
      (cp = u_escape(p, end, pp)) < 0)
    return -1;
  return utf8_put(out, (unsigned long)cp);
}

static int string_bounds(const struct wsp__json_val *v, const unsigned char **p,
                         const unsigned char **end) {
  if (!v || v->type != WSP__JSON_STRING || !v->ptr || v->len < 2 ||
      v->ptr[0] != '"' || v->ptr[v->len - 1] != '"')
    return -1;
  *p = (const unsigned char *)v->ptr + 1;
  *end = (const unsigned char *)v->ptr + v->len - 1;
  return 0;
}

int wsp__json_key_is(const struct wsp__json_val *key, const char *name) {
  const unsigned char *p, *end, *n = (const unsigned char *)name;
  unsigned char buf[4];
  int k, i;
  if (!name || string_bounds(key, &p, &end) < 0)
    return 0;
  while (p < end) {
    if (*p != '\\') {
      if (*n == 0 || *n != *p)
        return 0;
      n++;
      p++;
      continue;
    }
    if ((k = decode_escape(&p, end, buf)) < 0)
      return 0;
    for (i = 0; i < k; i++, n++)
      if (*n == 0 || *n != buf[i])
        return 0;
  }
  return *n == 0;
}

int wsp__json_string_decode(const struct wsp__json_val *v, char *out,
                            size_t cap, size_t *out_len) {
  const unsigned char *p, *end, *bs;
  unsigned char buf[4];
  size_t n = 0, run;
  int k;
  if (string_bounds(v, &p, &end) < 0)
    return WSP_ERR_JSON;
  if (!out)
    cap = 0;
  while (p < end) {
    bs = memchr(p, '\\', (size_t)(end - p));
    run = (size_t)((bs ? bs : end) - p);
    if (run && n <= cap && run <= cap - n)
      memcpy(out + n, p, run);
    n += run;
    p += run;
    if (!bs)
      break;
    if ((k = decode_escape(&p, end, buf)) < 0)
      return WSP_ERR_JSON;
    if (n <= cap && (size_t)k <= cap - n)
      memcpy(out + n, buf, (size_t)k);
    n += (size_t)k;
  }
  if (out_len)
    *out_len = n;
  if (n > cap)
    return WSP_ERR_LIMIT;
  if (n < cap)
    out[n] = '\0';
  return 0;
}

static int parse_uint(const char *p, size_t n, uint64_t max, uint64_t *out) {
  uint64_t x = 0;
  size_t i;
  if (n == 0 || (p[0] == '0' && n > 1))
    return WSP_ERR_JSON;
  for (i = 0; i < n; i++) {
    unsigned d = (unsigned char)p[i] - '0';
    if (d > 9 || x > (max - d) / 10)
      return WSP_ERR_JSON;
    x = x * 10 + d;
  }
  *out = x;
  return 0;
}

int wsp__json_get_u64(const struct wsp__json_val *v, uint64_t *out) {
  if (!v || v->type != WSP__JSON_NUMBER || !v->ptr)
    return WSP_ERR_JSON;
  return parse_uint(v->ptr, v->len, UINT64_MAX, out);
}

int wsp__json_get_i64(const struct wsp__json_val *v, int64_t *out) {
  uint64_t mag;
  int neg;
  if (!v || v->type != WSP__JSON_NUMBER || !v->ptr || v->len == 0)
    return WSP_ERR_JSON;
  neg = v->ptr[0] == '-';
  if (parse_uint(v->ptr + neg, v->len - (size_t)neg,
                 (uint64_t)INT64_MAX + (uint64_t)neg, &mag) < 0)
    return WSP_ERR_JSON;
  if (!neg)
    *out = (int64_t)mag;
  else if (mag == (uint64_t)INT64_MAX + 1)
    *out = INT64_MIN;
  else
    *out = -(int64_t)mag;
  return 0;
}

int wsp__json_get_bool(const struct wsp__json_val *v, int *out) {
  if (!v || (v->type != WSP__JSON_TRUE && v->type != WSP__JSON_FALSE))
    return WSP_ERR_JSON;
  *out = v->type == WSP__JSON_TRUE;
  return 0;
}
