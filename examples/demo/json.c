/*
 * Just enough JSON for the demo's connect data and HTTP API (its RPC
 * methods use the library's <wsp/json.h>). The hub validates every payload
 * before a handler sees it, so these functions only navigate; they still
 * stay inside the bytes they are given, whatever those are.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

static size_t skip_ws(const char *p, size_t i, size_t n) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
    i++;
  return i;
}

/* Just past the string starting at p[i] == '"' (n if unterminated). */
static size_t string_end(const char *p, size_t i, size_t n) {
  for (i++; i < n; i++) {
    if (p[i] == '\\')
      i++;
    else if (p[i] == '"')
      return i + 1;
  }
  return n;
}

/* Just past the value starting at p[i]. */
static size_t value_end(const char *p, size_t i, size_t n) {
  size_t depth = 0;

  if (i < n && p[i] == '"')
    return string_end(p, i, n);
  if (i < n && p[i] != '{' && p[i] != '[') { /* number, true, false, null */
    while (i < n && strchr(",}] \t\r\n", p[i]) == NULL)
      i++;
    return i;
  }
  for (; i < n; i++) {
    if (p[i] == '"')
      i = string_end(p, i, n) - 1;
    else if (p[i] == '{' || p[i] == '[')
      depth++;
    else if ((p[i] == '}' || p[i] == ']') && --depth == 0)
      return i + 1;
  }
  return n;
}

int json_member(const char *json, size_t len, const char *key,
                struct wsp_str *value) {
  size_t i = skip_ws(json, 0, len);

  if (i >= len || json[i] != '{')
    return 0;
  for (i++;;) {
    size_t k, kend, v;
    char *name;
    int match;

    i = skip_ws(json, i, len);
    if (i >= len || json[i] != '"')
      return 0; /* the end of the object (or not an object) */
    k = i;
    kend = string_end(json, i, len);
    i = skip_ws(json, kend, len);
    if (i >= len || json[i] != ':')
      return 0;
    v = skip_ws(json, i + 1, len);
    i = value_end(json, v, len);
    name = json_string((struct wsp_str){json + k, kend - k});
    match = name != NULL && strcmp(name, key) == 0;
    free(name);
    if (match) {
      value->ptr = json + v;
      value->len = i - v;
      return 1;
    }
    i = skip_ws(json, i, len);
    if (i >= len || json[i] != ',')
      return 0;
    i++;
  }
}

int json_number(struct wsp_str value, double *out) {
  char buf[64], *end;

  /* strtod alone would also take "inf", hex and leading spaces. */
  if (value.len == 0 || value.len >= sizeof buf ||
      (value.ptr[0] != '-' && (value.ptr[0] < '0' || value.ptr[0] > '9')))
    return 0;
  memcpy(buf, value.ptr, value.len);
  buf[value.len] = '\0';
  *out = strtod(buf, &end);
  return *end == '\0' && isfinite(*out);
}

static int hex4(const char *p, unsigned *out) {
  int i;

  *out = 0;
  for (i = 0; i < 4; i++) {
    char c = p[i];
    unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                        : 16u;
    if (d > 15)
      return 0;
    *out = *out << 4 | d;
  }
  return 1;
}

static char *put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xc0 | cp >> 6);
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xe0 | cp >> 12);
    *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *o++ = (char)(0xf0 | cp >> 18);
    *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
    *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  }
  return o;
}

char *json_string(struct wsp_str value) {
  const char *p = value.ptr;
  size_t n = value.len, i;
  char *out, *o;

  if (n < 2 || p[0] != '"' || p[n - 1] != '"')
    return NULL;
  /* Every escape decodes to fewer bytes than it takes, so n is enough. */
  if ((out = o = malloc(n)) == NULL)
    return NULL;
  for (i = 1; i < n - 1; i++) {
    unsigned cp, lo;

    if (p[i] != '\\') {
      if (p[i] == '\0')
        goto fail;
      *o++ = p[i];
      continue;
    }
    if (++i >= n - 1)
      goto fail;
    switch (p[i]) {
    case '"': case '\\': case '/': *o++ = p[i]; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u':
      if (i + 4 >= n - 1 || !hex4(p + i + 1, &cp) || cp == 0 ||
          (cp >= 0xdc00 && cp <= 0xdfff))
        goto fail;
      i += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
        if (i + 6 >= n - 1 || p[i + 1] != '\\' || p[i + 2] != 'u' ||
            !hex4(p + i + 3, &lo) || lo < 0xdc00 || lo > 0xdfff)
          goto fail;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      }
      o = put_utf8(o, cp);
      break;
    default:
      goto fail;
    }
  }
  *o = '\0';
  return out;
fail:
  free(out);
  return NULL;
}

size_t json_quote(char *out, const char *s) {
  char *o = out;

  *o++ = '"';
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;

    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c < 0x20) {
      o += sprintf(o, "\\u%04x", c);
    } else {
      *o++ = (char)c; /* UTF-8 passes through */
    }
  }
  *o++ = '"';
  *o = '\0';
  return (size_t)(o - out);
}

/* ---- Validation, for bodies nobody has checked yet (the HTTP API) ------ */

#define JSON_MAX_DEPTH 64

struct scan {
  const unsigned char *p;
  size_t i, n;
};

static void scan_ws(struct scan *s) {
  s->i = skip_ws((const char *)s->p, s->i, s->n);
}

/* One UTF-8 sequence starting at s->p[s->i] (>= 0x80); 1 when valid. */
static int scan_utf8(struct scan *s) {
  unsigned c = s->p[s->i], cp, min, k, j;

  if (c >= 0xc2 && c <= 0xdf) {
    k = 1, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    k = 2, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    k = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s->i + k >= s->n)
    return 0;
  for (j = 1; j <= k; j++) {
    if ((s->p[s->i + j] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s->p[s->i + j] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  s->i += k + 1;
  return 1;
}

static int scan_string(struct scan *s) {
  for (s->i++; s->i < s->n;) {
    unsigned char c = s->p[s->i];

    if (c == '"') {
      s->i++;
      return 1;
    }
    if (c < 0x20)
      return 0;
    if (c >= 0x80) {
      if (!scan_utf8(s))
        return 0;
      continue;
    }
    if (c == '\\') {
      unsigned cp;

      if (++s->i >= s->n)
        return 0;
      if (s->p[s->i] == 'u') {
        if (s->i + 4 >= s->n || !hex4((const char *)s->p + s->i + 1, &cp))
          return 0;
        s->i += 4;
      } else if (strchr("\"\\/bfnrt", s->p[s->i]) == NULL ||
                 s->p[s->i] == '\0') {
        return 0;
      }
    }
    s->i++;
  }
  return 0;
}

static int scan_digits(struct scan *s) {
  size_t start = s->i;

  while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
    s->i++;
  return s->i > start;
}

static int scan_number(struct scan *s) {
  if (s->p[s->i] == '-')
    s->i++;
  if (s->i < s->n && s->p[s->i] == '0')
    s->i++;
  else if (!scan_digits(s))
    return 0;
  if (s->i < s->n && s->p[s->i] == '.') {
    s->i++;
    if (!scan_digits(s))
      return 0;
  }
  if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
    s->i++;
    if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
      s->i++;
    if (!scan_digits(s))
      return 0;
  }
  return 1;
}

static int scan_value(struct scan *s, int depth) {
  static const char *const words[] = {"true", "false", "null"};
  unsigned char c;
  size_t w;

  scan_ws(s);
  if (s->i >= s->n)
    return 0;
  c = s->p[s->i];
  if (c == '"')
    return scan_string(s);
  if (c == '-' || (c >= '0' && c <= '9'))
    return scan_number(s);
  for (w = 0; w < 3; w++) {
    size_t len = strlen(words[w]);
    if (s->n - s->i >= len && memcmp(s->p + s->i, words[w], len) == 0) {
      s->i += len;
      return 1;
    }
  }
  if ((c != '{' && c != '[') || depth >= JSON_MAX_DEPTH)
    return 0;
  s->i++;
  scan_ws(s);
  if (s->i < s->n && s->p[s->i] == (c == '{' ? '}' : ']')) {
    s->i++;
    return 1;
  }
  for (;;) {
    if (c == '{') {
      scan_ws(s);
      if (s->i >= s->n || s->p[s->i] != '"' || !scan_string(s))
        return 0;
      scan_ws(s);
      if (s->i >= s->n || s->p[s->i] != ':')
        return 0;
      s->i++;
    }
    if (!scan_value(s, depth + 1))
      return 0;
    scan_ws(s);
    if (s->i >= s->n)
      return 0;
    if (s->p[s->i] == (c == '{' ? '}' : ']')) {
      s->i++;
      return 1;
    }
    if (s->p[s->i++] != ',')
      return 0;
  }
}

int json_valid(const char *json, size_t len) {
  struct scan s = {(const unsigned char *)json, 0, len};

  if (!scan_value(&s, 0))
    return 0;
  scan_ws(&s);
  return s.i == len;
}

int json_element(struct wsp_str array, size_t *pos, struct wsp_str *value) {
  const char *p = array.ptr;
  size_t n = array.len, i = *pos, v;

  if (i == 0) { /* the first call: step over '[' */
    i = skip_ws(p, 0, n);
    if (i >= n || p[i] != '[')
      return 0;
    i++;
  } else {
    i = skip_ws(p, i, n);
    if (i >= n || p[i] != ',')
      return 0; /* ']' or the end */
    i++;
  }
  v = skip_ws(p, i, n);
  if (v >= n || p[v] == ']')
    return 0;
  i = value_end(p, v, n);
  value->ptr = p + v;
  value->len = i - v;
  *pos = i;
  return 1;
}
