/*
 * Just enough JSON for the demo's methods. The hub validates every payload
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

void json_format_number(char *out, size_t size, double v) {
  int prec;

  for (prec = 15; prec <= 17; prec++) {
    snprintf(out, size, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
}
