/*
 * Reading a request (wsp/request.h, all of it here): headers, cookies,
 * query parameters, bearer tokens, offered subprotocols and the tokens
 * they carry, and the Origin check. Read-only over a struct wsp_request;
 * no allocation.
 */
#include <string.h>

#include "conn_private.h"
#include "wsp/request.h"

/* Percent-decode s into out (when out is not NULL, up to cap); returns the
 * decoded length or -1 for a malformed escape. */
static long decode(const char *s, size_t n, char *out, size_t cap) {
  size_t i, k = 0;
  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      int h, l;
      if (n - i < 3)
        return -1;
      h = wsp__hexval((unsigned char)s[i + 1]);
      l = wsp__hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0)
        return -1;
      c = h * 16 + l;
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (out && k < cap)
      out[k] = (char)c;
    k++;
  }
  return (long)k;
}

static int key_is(const char *k, size_t kn, const char *name) {
  char buf[256];
  long n = decode(k, kn, buf, sizeof(buf));
  return n >= 0 && (size_t)n == strlen(name) && (size_t)n <= sizeof(buf) &&
         memcmp(buf, name, (size_t)n) == 0;
}

int wsp_header_get(const struct wsp_header *headers, size_t nheaders,
                   const char *name, size_t nth, struct wsp_str *value) {
  size_t i;
  if (!headers || !name)
    return 0;
  for (i = 0; i < nheaders; i++) {
    if (wsp__http_str_ieq(headers[i].name, name) && nth-- == 0) {
      if (value)
        *value = headers[i].value;
      return 1;
    }
  }
  return 0;
}

int wsp_request_protocol(const struct wsp_request *req, size_t nth,
                         struct wsp_str *value) {
  size_t i, pos;
  struct wsp_str item;
  if (!req)
    return 0;
  for (i = 0; i < req->nheaders; i++) {
    if (!wsp__http_str_ieq(req->headers[i].name, "Sec-WebSocket-Protocol"))
      continue;
    pos = 0;
    while (wsp__http_list_next(req->headers[i].value, &pos, &item)) {
      if (nth-- == 0) {
        if (value)
          *value = item;
        return 1;
      }
    }
  }
  return 0;
}

int wsp_request_cookie(const struct wsp_request *req, const char *name,
                       struct wsp_str *value) {
  return wsp_request_cookie_nth(req, name, 0, value);
}

int wsp_request_query(const struct wsp_request *req, const char *name,
                      size_t nth, char *buf, size_t cap, size_t *len) {
  const char *p, *end;
  if (!req || !name || (cap && !buf))
    return WSP_ERR_INVAL;
  p = req->query.ptr;
  end = p ? p + req->query.len : NULL;
  while (p && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    const char *ke = eq ? eq : pe;
    if (ke > p && key_is(p, (size_t)(ke - p), name) && nth-- == 0) {
      const char *v = eq ? eq + 1 : pe;
      long n = decode(v, (size_t)(pe - v), NULL, 0);
      if (n < 0)
        return WSP_ERR_INVAL;
      if (len)
        *len = (size_t)n;
      if ((size_t)n + 1 > cap)
        return WSP_ERR_LIMIT;
      decode(v, (size_t)(pe - v), buf, cap);
      buf[n] = '\0';
      return 1;
    }
    p = amp ? amp + 1 : end;
  }
  return 0;
}

int wsp_request_cookie_nth(const struct wsp_request *req, const char *name,
                           size_t nth, struct wsp_str *value) {
  size_t i, nl;
  if (!req || !name)
    return 0;
  nl = strlen(name);
  for (i = 0; i < req->nheaders; i++) {
    const char *s, *e;
    if (!wsp__http_str_ieq(req->headers[i].name, "Cookie"))
      continue;
    s = req->headers[i].value.ptr;
    e = s + req->headers[i].value.len;
    while (s < e) {
      const char *semi = memchr(s, ';', (size_t)(e - s)), *eq;
      if (!semi)
        semi = e;
      while (s < semi && (*s == ' ' || *s == '\t'))
        s++;
      eq = memchr(s, '=', (size_t)(semi - s));
      if (eq && (size_t)(eq - s) == nl && memcmp(s, name, nl) == 0 &&
          nth-- == 0) {
        const char *v = eq + 1, *ve = semi;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
          ve--;
        if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
          v++;
          ve--;
        }
        if (value) {
          value->ptr = v;
          value->len = (size_t)(ve - v);
        }
        return 1;
      }
      s = semi + 1;
    }
  }
  return 0;
}

int wsp_request_bearer(const struct wsp_request *req, struct wsp_str *token) {
  struct wsp_str v;
  const char *p, *e;
  if (!req)
    return 0;
  if (wsp_header_get(req->headers, req->nheaders, "Authorization", 1, NULL))
    return WSP_ERR_INVAL;
  if (!wsp_header_get(req->headers, req->nheaders, "Authorization", 0, &v) ||
      v.len < 7)
    return 0;
  {
    struct wsp_str scheme = {v.ptr, 6};
    if (!wsp__http_str_ieq(scheme, "bearer") ||
        (v.ptr[6] != ' ' && v.ptr[6] != '\t'))
      return 0;
  }
  p = v.ptr + 7;
  e = v.ptr + v.len;
  while (p < e && (*p == ' ' || *p == '\t'))
    p++;
  if (p == e)
    return 0;
  if (token) {
    token->ptr = p;
    token->len = (size_t)(e - p);
  }
  return 1;
}

int wsp_request_protocol_token(const struct wsp_request *req,
                               const char *prefix, struct wsp_str *token) {
  struct wsp_str item;
  size_t i, pl;
  if (!req || !prefix)
    return 0;
  pl = strlen(prefix);
  for (i = 0; wsp_request_protocol(req, i, &item); i++) {
    if (item.len > pl && memcmp(item.ptr, prefix, pl) == 0) {
      if (token) {
        token->ptr = item.ptr + pl;
        token->len = item.len - pl;
      }
      return 1;
    }
  }
  return 0;
}

/* Case-insensitive equality of a span and a span. */
static int span_ieq(const char *a, const char *b, size_t n) {
  size_t k;
  for (k = 0; k < n; k++) {
    int x = (unsigned char)a[k], y = (unsigned char)b[k];
    if (x >= 'A' && x <= 'Z')
      x += 32;
    if (y >= 'A' && y <= 'Z')
      y += 32;
    if (x != y)
      return 0;
  }
  return 1;
}

int wsp_origin_allowed(const struct wsp_request *req,
                       const char *const *allowed, size_t n, int secure) {
  struct wsp_str origin, host;
  const char *scheme = secure ? "https://" : "http://";
  size_t i, sl = strlen(scheme);
  if (!req)
    return 0;
  if (wsp_header_get(req->headers, req->nheaders, "Origin", 1, NULL))
    return 0;
  if (!wsp_header_get(req->headers, req->nheaders, "Origin", 0, &origin))
    return 1; /* not a browser: its credentials alone decide */
  for (i = 0; i < n; i++)
    if (allowed && allowed[i] && wsp__http_str_ieq(origin, allowed[i]))
      return 1;
  /* the server's own origin: scheme://Host */
  return wsp_header_get(req->headers, req->nheaders, "Host", 0, &host) &&
         origin.len == sl + host.len && span_ieq(origin.ptr, scheme, sl) &&
         span_ieq(origin.ptr + sl, host.ptr, host.len);
}
