/*
 * HTTP/1.1 heads (RFC 9112) as far as the WebSocket opening handshake
 * needs them: a strict parser that records spans into the caller's buffer,
 * list-header helpers and the Sec-WebSocket-Accept computation.
 */
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "conn_private.h"
#include "wsp/conn.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

int wsp__http_str_ieq(struct wsp_str s, const char *lit) {
  size_t n = strlen(lit), i;
  if (s.len != n)
    return 0;
  for (i = 0; i < n; i++)
    if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i]))
      return 0;
  return 1;
}

int wsp__http_list_next(struct wsp_str s, size_t *pos, struct wsp_str *item) {
  size_t i = *pos;
  while (i < s.len) {
    size_t start, end;
    while (i < s.len &&
           (s.ptr[i] == ' ' || s.ptr[i] == '\t' || s.ptr[i] == ','))
      i++;
    start = i;
    while (i < s.len && s.ptr[i] != ',')
      i++;
    end = i;
    while (end > start && (s.ptr[end - 1] == ' ' || s.ptr[end - 1] == '\t'))
      end--;
    if (end > start) {
      item->ptr = s.ptr + start;
      item->len = end - start;
      *pos = i;
      return 1;
    }
  }
  *pos = i;
  return 0;
}

int wsp__http_list_has_token(struct wsp_str s, const char *token) {
  size_t pos = 0;
  struct wsp_str item;
  while (wsp__http_list_next(s, &pos, &item))
    if (wsp__http_str_ieq(item, token))
      return 1;
  return 0;
}

/* Parse "HTTP/d.d" at p (exactly 8 bytes). */
static int parse_version(const char *p, size_t n, int *major, int *minor) {
  if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' ||
      p[5] > '9' || p[7] < '0' || p[7] > '9')
    return -1;
  *major = p[5] - '0';
  *minor = p[7] - '0';
  return 0;
}

static long fail(const char **why, const char *reason) {
  *why = reason;
  return -1;
}

long wsp__http_parse(const char *buf, size_t len, int response,
                     struct wsp__http_head *h, const char **why) {
  const char *p = buf, *end = buf + len, *eol, *sp1, *sp2;

  memset(h, 0, sizeof(*h));
  eol = memchr(p, '\n', len);
  if (!eol)
    return 0;
  if (eol == p || eol[-1] != '\r')
    return fail(why, "malformed request line");
  sp1 = memchr(p, ' ', (size_t)(eol - 1 - p));
  if (!sp1)
    return fail(why, "malformed request line");
  if (response) {
    const char *s = sp1 + 1;
    if (parse_version(p, (size_t)(sp1 - p), &h->http_major, &h->http_minor))
      return fail(why, "malformed status line");
    if (eol - 1 - s < 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' ||
        s[1] > '9' || s[2] < '0' || s[2] > '9' ||
        (eol - 1 - s > 3 && s[3] != ' '))
      return fail(why, "malformed status line");
    h->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (eol - 1 - s > 3) {
      h->reason.ptr = s + 4;
      h->reason.len = (size_t)(eol - 1 - (s + 4));
    }
  } else {
    const char *q;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - 1 - (sp1 + 1)));
    if (!sp2 || sp1 == p || sp2 == sp1 + 1)
      return fail(why, "malformed request line");
    for (q = p; q < sp1; q++)
      if (!is_tchar((unsigned char)*q))
        return fail(why, "malformed request line");
    for (q = sp1 + 1; q < sp2; q++)
      if ((unsigned char)*q <= ' ' || (unsigned char)*q == 0x7f)
        return fail(why, "malformed request target");
    if (parse_version(sp2 + 1, (size_t)(eol - 1 - (sp2 + 1)), &h->http_major,
                      &h->http_minor))
      return fail(why, "malformed HTTP version");
    h->method.ptr = p;
    h->method.len = (size_t)(sp1 - p);
    h->target.ptr = sp1 + 1;
    h->target.len = (size_t)(sp2 - sp1 - 1);
  }
  p = eol + 1;

  for (;;) {
    const char *colon, *v, *ve, *q;
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      return 0;
    if (eol == p || eol[-1] != '\r')
      return fail(why, "header line not terminated by CRLF");
    if (eol - 1 == p)
      return (long)(eol + 1 - buf); /* blank line: end of head */
    if (*p == ' ' || *p == '\t')
      return fail(why, "obsolete header line folding");
    colon = memchr(p, ':', (size_t)(eol - 1 - p));
    if (!colon || colon == p)
      return fail(why, "malformed header line");
    for (q = p; q < colon; q++)
      if (!is_tchar((unsigned char)*q))
        return fail(why, "malformed header name");
    v = colon + 1;
    ve = eol - 1;
    while (v < ve && (*v == ' ' || *v == '\t'))
      v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    for (q = v; q < ve; q++) {
      unsigned char c = (unsigned char)*q;
      if ((c < ' ' && c != '\t') || c == 0x7f)
        return fail(why, "control character in header value");
    }
    if (h->nheaders == WSP__MAX_HEADERS) {
      *why = "too many header lines";
      return -2;
    }
    h->headers[h->nheaders].name.ptr = p;
    h->headers[h->nheaders].name.len = (size_t)(colon - p);
    h->headers[h->nheaders].value.ptr = v;
    h->headers[h->nheaders].value.len = (size_t)(ve - v);
    h->nheaders++;
    p = eol + 1;
  }
}

const char *wsp__http_status_text(int status) {
  switch (status) {
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 426:
    return "Upgrade Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  default:
    return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

void wsp__http_accept_key(const char *key, size_t key_len, char out[29]) {
  struct sha1_ctx ctx;
  uint8_t digest[SHA1_DIGEST_SIZE];
  sha1_init(&ctx);
  sha1_update(&ctx, key_len, (const uint8_t *)key);
  sha1_update(&ctx, sizeof(ws_guid) - 1, (const uint8_t *)ws_guid);
  sha1_digest(&ctx, sizeof(digest), digest);
  base64_encode_raw(out, sizeof(digest), digest);
  out[28] = '\0';
}

int wsp__http_key_valid(struct wsp_str key) {
  struct base64_decode_ctx ctx;
  uint8_t raw[BASE64_DECODE_LENGTH(24)];
  size_t n = sizeof(raw);
  /* 16 bytes encode to exactly 24 characters ending in "==". */
  if (key.len != 24 || key.ptr[22] != '=' || key.ptr[23] != '=')
    return 0;
  base64_decode_init(&ctx);
  if (!base64_decode_update(&ctx, &n, raw, key.len, key.ptr) ||
      !base64_decode_final(&ctx))
    return 0;
  return n == 16;
}
