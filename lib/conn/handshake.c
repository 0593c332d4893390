/*
 * The opening handshake (RFC 6455 section 4) for both roles: the server
 * parses and validates the upgrade request and answers 101 or an HTTP
 * error; the client builds the request and checks the 101 response.
 */
#include <stdio.h>
#include <string.h>

#include <nettle/base64.h>

#include "conn_private.h"
#include "wsp/request.h"

enum { DECIDE_NONE, DECIDE_ACCEPT, DECIDE_RESPOND, DECIDE_DEFER };

static struct wsp__hs *hs_get(struct wsp_conn *c) {
  if (!c->hs) {
    c->hs = wsp__malloc(&c->cfg->mem, sizeof(*c->hs));
    if (c->hs)
      memset(c->hs, 0, sizeof(*c->hs));
  }
  return c->hs;
}

static int buf_append(struct wsp_conn *c, uint8_t **buf, size_t *len,
                      size_t *cap, const void *data, size_t n) {
  if (*len + n > *cap) {
    size_t ncap = *cap ? *cap : 512;
    uint8_t *nb;
    while (ncap < *len + n)
      ncap *= 2;
    nb = wsp__realloc(&c->cfg->mem, *buf, ncap);
    if (!nb)
      return WSP_ERR_NOMEM;
    *buf = nb;
    *cap = ncap;
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  return 0;
}

/* ---- Writing responses ------------------------------------------------ */

static int has_crlf(const char *s) { return strpbrk(s, "\r\n") != NULL; }

static int put_head(struct wsp_conn *c, int status, const char *ctype,
                    size_t body_len, int version_hint) {
  char line[256];
  int n;
  const char *extra = c->hs ? c->hs->extra : NULL;
  size_t extra_len = c->hs ? c->hs->extra_len : 0;
  size_t total, before = c->out.bytes;
  uint8_t *p;

  if (status == 101) {
    n = snprintf(line, sizeof(line),
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n");
  } else {
    n = snprintf(line, sizeof(line),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n%s",
                 status, wsp__http_status_text(status), ctype, body_len,
                 version_hint ? "Sec-WebSocket-Version: 13\r\n" : "");
  }
  if (n < 0 || (size_t)n >= sizeof(line))
    return WSP_ERR_INVAL;
  total = (size_t)n + extra_len + (status == 101 ? 0 : 2);
  p = wsp__outq_reserve(&c->out, &c->cfg->mem, total);
  if (!p)
    return WSP_ERR_NOMEM;
  memcpy(p, line, (size_t)n);
  if (extra_len)
    memcpy(p + n, extra, extra_len);
  if (status != 101)
    memcpy(p + n + extra_len, "\r\n", 2);
  wsp__conn_appended(c, before);
  return 0;
}

static int write_error(struct wsp_conn *c, int status, const char *reason) {
  char body[160];
  int n = snprintf(body, sizeof(body), "%s\n", reason ? reason : "");
  int rv;
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof(body))
    n = sizeof(body) - 1;
  rv = put_head(c, status, "text/plain; charset=utf-8", (size_t)n,
                status == 426);
  if (rv == 0)
    rv = wsp__conn_queue(c, body, (size_t)n);
  return rv;
}

/* Answer with an HTTP error and end the connection. */
static int fail_request(struct wsp_conn *c, int status, const char *reason) {
  int rv = write_error(c, status, reason);
  if (status == 500)
    rv = WSP_ERR_NOMEM; /* the only cause of a 500 from the library */
  wsp__conn_free_hs(c);
  wsp__conn_finish(c, rv ? rv : WSP_ERR_HANDSHAKE, WSP_CLOSE_ABNORMAL, NULL, 0);
  return rv ? rv : WSP_ERR_HANDSHAKE;
}

void wsp__hs_timeout(struct wsp_conn *c) {
  if (c->role == WSP_ROLE_SERVER) {
    write_error(c, 408, "no complete request in time");
    wsp__conn_free_hs(c);
    wsp__conn_finish(c, WSP_ERR_TIMEOUT, WSP_CLOSE_ABNORMAL, NULL, 0);
  } else {
    wsp__conn_free_hs(c);
    wsp__conn_finish(c, WSP_ERR_TIMEOUT, WSP_CLOSE_ABNORMAL, NULL, 0);
  }
}

/* ---- Server ----------------------------------------------------------- */

static int count_header(const struct wsp__http_head *h, const char *name,
                        struct wsp_str *first) {
  size_t i;
  int n = 0;
  for (i = 0; i < h->nheaders; i++) {
    if (wsp__http_str_ieq(h->headers[i].name, name)) {
      if (n++ == 0 && first)
        *first = h->headers[i].value;
    }
  }
  return n;
}

/* RFC 6455 section 4.2.1; returns 0 or an HTTP status with *why set. */
static int validate_upgrade(const struct wsp__http_head *h, const char **why) {
  struct wsp_str v;
  size_t i;
  int n, conn_upgrade = 0;

  if (h->method.len != 3 || memcmp(h->method.ptr, "GET", 3) != 0)
    return *why = "the method of a WebSocket upgrade must be GET", 400;
  if (h->http_major < 1 || (h->http_major == 1 && h->http_minor < 1))
    return *why = "HTTP/1.1 or later is required", 400;
  n = count_header(h, "Host", NULL);
  if (n != 1)
    return *why = n ? "duplicate Host header" : "missing Host header", 400;
  n = count_header(h, "Upgrade", &v);
  if (n == 0)
    return *why = "not a WebSocket upgrade: no Upgrade header", 400;
  if (n > 1)
    return *why = "duplicate Upgrade header", 400;
  if (!wsp__http_list_has_token(v, "websocket"))
    return *why = "Upgrade header does not name websocket", 400;
  for (i = 0; i < h->nheaders; i++)
    if (wsp__http_str_ieq(h->headers[i].name, "Connection") &&
        wsp__http_list_has_token(h->headers[i].value, "upgrade"))
      conn_upgrade = 1;
  if (!conn_upgrade)
    return *why = "Connection header lacks the Upgrade token", 400;
  n = count_header(h, "Sec-WebSocket-Key", &v);
  if (n == 0)
    return *why = "missing Sec-WebSocket-Key header", 400;
  if (n > 1)
    return *why = "duplicate Sec-WebSocket-Key header", 400;
  if (!wsp__http_key_valid(v))
    return *why = "Sec-WebSocket-Key is not base64 of 16 bytes", 400;
  n = count_header(h, "Sec-WebSocket-Version", &v);
  if (n == 0)
    return *why = "missing Sec-WebSocket-Version header", 400;
  if (n > 1)
    return *why = "duplicate Sec-WebSocket-Version header", 400;
  if (!wsp__http_str_ieq(v, "13"))
    return *why = "unsupported WebSocket version", 426;
  return 0;
}

static int accept_now(struct wsp_conn *c, const uint8_t *rest,
                      size_t rest_len) {
  struct wsp__hs *hs = c->hs;
  struct wsp_str key = {NULL, 0};
  char accept[29], line[128];
  int n, rv;
  size_t before = c->out.bytes;

  count_header(&hs->head, "Sec-WebSocket-Key", &key);
  wsp__http_accept_key(key.ptr, key.len, accept);
  rv = put_head(c, 101, NULL, 0, 0);
  /* put_head wrote the status line, Upgrade, Connection and the extra
   * headers; the accept key and protocol follow, then the blank line. */
  if (rv == 0) {
    n = snprintf(line, sizeof(line), "Sec-WebSocket-Accept: %s\r\n", accept);
    rv = wsp__conn_queue(c, line, (size_t)n);
  }
  if (rv == 0) {
    /* permessage-deflate, when enabled and offered */
    char ext[256];
    n = wsp__deflate_accept(c, &hs->head, ext, sizeof(ext));
    rv = n > 0 ? wsp__conn_queue(c, ext, (size_t)n) : n;
  }
  if (rv == 0 && c->protocol) {
    rv = wsp__conn_queue(c, "Sec-WebSocket-Protocol: ", 24);
    if (rv == 0)
      rv = wsp__conn_queue(c, c->protocol, strlen(c->protocol));
    if (rv == 0)
      rv = wsp__conn_queue(c, "\r\n", 2);
  }
  if (rv == 0)
    rv = wsp__conn_queue(c, "\r\n", 2);
  if (rv != 0) {
    /* Nothing half-written may leave: drop what this call queued. */
    if (before == 0)
      wsp__outq_clear(&c->out, &c->cfg->mem);
    wsp__conn_free_hs(c);
    wsp__conn_finish(c, rv, WSP_CLOSE_ABNORMAL, NULL, 0);
    return rv;
  }
  wsp__conn_free_hs(c);
  rv = wsp__conn_open(c);
  if (rv == 0 && c->cfg->cb.on_open && WSP__LIVE(c))
    c->cfg->cb.on_open(c, NULL, c->user_data);
  if (rv == 0 && rest_len && c->state == WSP_STATE_OPEN && WSP__LIVE(c))
    rv = wsp__conn_rx_frames(c, rest, rest_len);
  return rv;
}

static int decide(struct wsp_conn *c, const uint8_t *rest, size_t rest_len) {
  struct wsp__hs *hs = c->hs;
  struct wsp_request *req = &hs->req;
  const char *why = NULL;
  int status, rv = 0;
  const char *q;

  memset(req, 0, sizeof(*req));
  req->method = hs->head.method;
  req->target = hs->head.target;
  req->path = req->target;
  q = memchr(req->target.ptr, '?', req->target.len);
  if (q) {
    req->path.len = (size_t)(q - req->target.ptr);
    req->query.ptr = q + 1;
    req->query.len = req->target.len - req->path.len - 1;
  }
  req->http_minor = hs->head.http_minor;
  req->headers = hs->head.headers;
  req->nheaders = hs->head.nheaders;
  if (hs->need > hs->head_len) {
    req->body.ptr = (const char *)hs->buf + hs->head_len;
    req->body.len = hs->need - hs->head_len;
  }
  status = validate_upgrade(&hs->head, &why);
  req->websocket = status == 0;
  req->status = status ? status : 101;
  req->reason = status ? why : "";

  if (c->cfg->cb.on_request) {
    hs->in_request = 1;
    rv = c->cfg->cb.on_request(c, req, c->user_data);
    if (c->hs)
      c->hs->in_request = 0;
  }
  if (c->state != WSP_STATE_HANDSHAKE)
    return 0; /* responded (or freed) from inside the callback */
  if (c->free_pending)
    return 0;
  if (hs->decision == DECIDE_DEFER) {
    c->state = WSP_STATE_DEFERRED;
    if (rest_len && buf_append(c, &hs->pend, &hs->pend_len, &hs->pend_cap, rest,
                               rest_len) != 0)
      return fail_request(c, 500, "out of memory");
    return 0;
  }
  if (!req->websocket)
    return fail_request(c, status, why);
  if (rv < 0)
    return fail_request(c, 403, "forbidden");
  return accept_now(c, rest, rest_len);
}

static const uint8_t *find_blank_line(const uint8_t *p, size_t len,
                                      size_t from) {
  size_t i = from > 3 ? from - 3 : 0;
  for (; i + 4 <= len; i++)
    if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
        p[i + 3] == '\n')
      return p + i;
  return NULL;
}

/* Collect the head into hs->buf. Returns the bytes of p used, or a
 * negative error after the connection was failed; sets *done when the
 * head is complete. */
static long collect_head(struct wsp_conn *c, const uint8_t *p, size_t len,
                         int *done) {
  struct wsp__hs *hs = c->hs;
  size_t limit = (size_t)c->cfg->limits[WSP_LIMIT_MAX_HANDSHAKE];
  size_t take = WSP__MIN(len, limit + 1 - WSP__MIN(hs->len, limit + 1));
  size_t old = hs->len;
  const uint8_t *e;

  *done = 0;
  if (buf_append(c, &hs->buf, &hs->len, &hs->cap, p, take) != 0)
    return -1;
  e = find_blank_line(hs->buf, hs->len, hs->scan);
  {
    /* A line ending without CR is refused at once rather than waited on;
     * bytes after the head are frames and not looked at. */
    size_t i, end = e ? (size_t)(e + 4 - hs->buf) : hs->len;
    for (i = old; i < end; i++)
      if (hs->buf[i] == '\n' && (i == 0 || hs->buf[i - 1] != '\r'))
        return -3;
  }
  if (!e) {
    hs->scan = hs->len;
    if (hs->len > limit)
      return -2;
    return (long)take;
  }
  hs->head_len = (size_t)(e + 4 - hs->buf);
  if (hs->head_len > limit)
    return -2;
  hs->len = hs->head_len;
  *done = 1;
  return (long)(hs->head_len - old);
}

static int server_recv(struct wsp_conn *c, const uint8_t *p, size_t len) {
  struct wsp__hs *hs = c->hs;
  const char *why = "malformed request";
  long r;

  if (c->state == WSP_STATE_DEFERRED) {
    if (hs->pend_len + len > c->cfg->limits[WSP_LIMIT_MAX_HANDSHAKE])
      return fail_request(c, 400, "data sent before the handshake response");
    if (buf_append(c, &hs->pend, &hs->pend_len, &hs->pend_cap, p, len))
      return fail_request(c, 500, "out of memory");
    return 0;
  }
  if (hs->head_len == 0) {
    int done;
    r = collect_head(c, p, len, &done);
    if (r == -1)
      return fail_request(c, 500, "out of memory");
    if (r == -2)
      return fail_request(c, 431, "request head too large");
    if (r == -3)
      return fail_request(c, 400, "line not terminated by CRLF");
    if (!done)
      return 0;
    p += r;
    len -= (size_t)r;
    r = wsp__http_parse((const char *)hs->buf, hs->head_len, 0, &hs->head,
                        &why);
    if (r == -2)
      return fail_request(c, 431, why);
    if (r <= 0)
      return fail_request(c, 400, why);
    hs->need = hs->head_len;
    if (count_header(&hs->head, "Transfer-Encoding", NULL))
      return fail_request(c, 501, "Transfer-Encoding is not supported");
    {
      struct wsp_str cl = {NULL, 0};
      int ncl = count_header(&hs->head, "Content-Length", &cl);
      if (ncl > 1)
        return fail_request(c, 400, "duplicate Content-Length header");
      if (ncl == 1) {
        uint64_t v = 0;
        size_t i;
        if (cl.len == 0 || cl.len > 12)
          return fail_request(c, 400, "invalid Content-Length");
        for (i = 0; i < cl.len; i++) {
          if (cl.ptr[i] < '0' || cl.ptr[i] > '9')
            return fail_request(c, 400, "invalid Content-Length");
          v = v * 10 + (uint64_t)(cl.ptr[i] - '0');
        }
        if (v > c->cfg->limits[WSP_LIMIT_MAX_HTTP_BODY])
          return fail_request(c, 413, "request body too large");
        hs->need += (size_t)v;
      }
    }
  }
  if (hs->len < hs->need) {
    size_t take = WSP__MIN(len, hs->need - hs->len);
    if (buf_append(c, &hs->buf, &hs->len, &hs->cap, p, take) != 0)
      return fail_request(c, 500, "out of memory");
    p += take;
    len -= take;
    if (hs->len < hs->need)
      return 0;
    /* The buffer may have moved: take the spans again. */
    wsp__http_parse((const char *)hs->buf, hs->head_len, 0, &hs->head, &why);
  }
  return decide(c, p, len);
}

int wsp_conn_set_protocol(struct wsp_conn *c, const char *name) {
  struct wsp_str item;
  size_t i, pos, n;
  char *dup;
  if (!c || !name || c->role != WSP_ROLE_SERVER)
    return WSP_ERR_INVAL;
  if (!c->hs || !c->hs->head_len ||
      (c->state != WSP_STATE_DEFERRED && !c->hs->in_request))
    return WSP_ERR_STATE;
  n = strlen(name);
  for (i = 0; i < c->hs->head.nheaders; i++) {
    if (!wsp__http_str_ieq(c->hs->head.headers[i].name,
                           "Sec-WebSocket-Protocol"))
      continue;
    pos = 0;
    while (wsp__http_list_next(c->hs->head.headers[i].value, &pos, &item)) {
      if (item.len == n && memcmp(item.ptr, name, n) == 0) {
        dup = wsp__strndup(&c->cfg->mem, name, n);
        if (!dup)
          return WSP_ERR_NOMEM;
        wsp__free(&c->cfg->mem, c->protocol);
        c->protocol = dup;
        return 0;
      }
    }
  }
  return WSP_ERR_INVAL;
}

static int valid_header(const char *name, const char *value) {
  const char *q;
  if (!*name)
    return 0;
  for (q = name; *q; q++)
    if ((unsigned char)*q <= ' ' || *q == ':' || (unsigned char)*q >= 0x7f)
      return 0;
  return !has_crlf(value);
}

int wsp_conn_add_header(struct wsp_conn *c, const char *name,
                        const char *value) {
  struct wsp__hs *hs;
  size_t nl, vl, cap;
  if (!c || !name || !value || !valid_header(name, value))
    return WSP_ERR_INVAL;
  if (c->role == WSP_ROLE_SERVER
          ? (c->state != WSP_STATE_HANDSHAKE && c->state != WSP_STATE_DEFERRED)
          : (c->state != WSP_STATE_HANDSHAKE || (c->hs && c->hs->started)))
    return WSP_ERR_STATE;
  hs = hs_get(c);
  if (!hs)
    return WSP_ERR_NOMEM;
  nl = strlen(name);
  vl = strlen(value);
  cap = hs->extra_len; /* extra grows exactly; headers are few */
  {
    char *n2 = wsp__realloc(&c->cfg->mem, hs->extra, cap + nl + vl + 4);
    if (!n2)
      return WSP_ERR_NOMEM;
    hs->extra = n2;
  }
  memcpy(hs->extra + hs->extra_len, name, nl);
  memcpy(hs->extra + hs->extra_len + nl, ": ", 2);
  memcpy(hs->extra + hs->extra_len + nl + 2, value, vl);
  memcpy(hs->extra + hs->extra_len + nl + 2 + vl, "\r\n", 2);
  hs->extra_len += nl + vl + 4;
  return 0;
}

int wsp_conn_respond(struct wsp_conn *c, int status, const char *content_type,
                     const void *body, size_t len) {
  int rv;
  if (!c || status < 200 || status > 999 || (len && !body) ||
      c->role != WSP_ROLE_SERVER)
    return WSP_ERR_INVAL;
  if (!content_type)
    content_type = "text/plain; charset=utf-8";
  if (has_crlf(content_type))
    return WSP_ERR_INVAL;
  if (!c->hs || !c->hs->head_len ||
      (c->state != WSP_STATE_DEFERRED && !c->hs->in_request))
    return WSP_ERR_STATE;
  rv = put_head(c, status, content_type, len, 0);
  if (rv == 0)
    rv = wsp__conn_queue(c, body, len);
  c->hs->decision = DECIDE_RESPOND;
  wsp__conn_free_hs(c);
  wsp__conn_finish(c, 0, WSP_CLOSE_ABNORMAL, NULL, 0);
  return rv;
}

int wsp_conn_defer(struct wsp_conn *c) {
  if (!c)
    return WSP_ERR_INVAL;
  if (!c->hs || !c->hs->in_request)
    return WSP_ERR_STATE;
  c->hs->decision = DECIDE_DEFER;
  return 0;
}

int wsp_conn_accept(struct wsp_conn *c) {
  int rv;
  if (!c)
    return WSP_ERR_INVAL;
  if (c->hs && c->hs->in_request && c->hs->req.websocket) {
    c->hs->decision = DECIDE_ACCEPT;
    return 0;
  }
  if (c->state != WSP_STATE_DEFERRED || !c->hs->req.websocket)
    return WSP_ERR_STATE; /* a plain request is answered, not upgraded */
  if (c->depth)
    return WSP_ERR_RECURSIVE;
  wsp__conn_enter(c);
  {
    /* The pending bytes move out of hs, which accept_now() frees. */
    uint8_t *pend = c->hs->pend;
    size_t pend_len = c->hs->pend_len;
    c->hs->pend = NULL;
    c->hs->pend_len = 0;
    c->state = WSP_STATE_HANDSHAKE;
    rv = accept_now(c, pend, pend_len);
    wsp__free(&c->cfg->mem, pend);
  }
  wsp__conn_leave(c);
  return rv;
}

/* ---- Client ----------------------------------------------------------- */

static int valid_token_text(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
      return 0;
  return 1;
}

static int queue_strs(struct wsp_conn *c, const char *const *parts) {
  int rv = 0;
  for (; *parts && rv == 0; parts++)
    rv = wsp__conn_queue(c, *parts, strlen(*parts));
  return rv;
}

int wsp_conn_client_start(struct wsp_conn *c, const char *host,
                          const char *path, const char *protocols) {
  struct wsp__hs *hs;
  uint8_t raw[16];
  char key[25];
  int rv;

  if (!c || !host || !path || c->role != WSP_ROLE_CLIENT || !*host ||
      path[0] != '/' || !valid_token_text(host) || !valid_token_text(path) ||
      (protocols && has_crlf(protocols)))
    return WSP_ERR_INVAL;
  if (c->state != WSP_STATE_HANDSHAKE || (c->hs && c->hs->started))
    return WSP_ERR_STATE;
  hs = hs_get(c);
  if (!hs)
    return WSP_ERR_NOMEM;
  if (wsp__random(&c->cfg->mem, raw, sizeof(raw)) != 0)
    return WSP_ERR_RANDOM;
  base64_encode_raw(key, sizeof(raw), raw);
  key[24] = '\0';
  wsp__http_accept_key(key, 24, hs->accept);
  if (protocols && *protocols) {
    hs->offered = wsp__strndup(&c->cfg->mem, protocols, strlen(protocols));
    if (!hs->offered)
      return WSP_ERR_NOMEM;
  }
  {
    const char *head[] = {"GET ",
                          path,
                          " HTTP/1.1\r\nHost: ",
                          host,
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: ",
                          key,
                          "\r\nSec-WebSocket-Version: 13\r\n",
                          NULL};
    const char *proto[] = {"Sec-WebSocket-Protocol: ", hs->offered, "\r\n",
                           NULL};
    rv = queue_strs(c, head);
    if (rv == 0 && hs->offered)
      rv = queue_strs(c, proto);
  }
  if (rv == 0) {
    char ext[256];
    int n = wsp__deflate_offer(c, ext, sizeof(ext));
    rv = n > 0 ? wsp__conn_queue(c, ext, (size_t)n) : n;
  }
  if (rv == 0 && hs->extra_len)
    rv = wsp__conn_queue(c, hs->extra, hs->extra_len);
  if (rv == 0)
    rv = wsp__conn_queue(c, "\r\n", 2);
  if (rv != 0) {
    wsp__outq_clear(&c->out, &c->cfg->mem);
    wsp__free(&c->cfg->mem, hs->offered);
    hs->offered = NULL;
    return rv;
  }
  hs->started = 1;
  c->hs_due =
      c->cfg->limits[WSP_LIMIT_HANDSHAKE_TIMEOUT]
          ? wsp__conn_now(c) + c->cfg->limits[WSP_LIMIT_HANDSHAKE_TIMEOUT]
          : WSP_NO_DEADLINE;
  return 0;
}

static const char *check_response(struct wsp_conn *c,
                                  const struct wsp__http_head *h) {
  struct wsp__hs *hs = c->hs;
  struct wsp_str v, item;
  size_t i;
  int conn_upgrade = 0;
  const char *why;

  if (h->status != 101)
    return "the server did not switch protocols";
  if (count_header(h, "Upgrade", &v) != 1 || !wsp__http_str_ieq(v, "websocket"))
    return "missing or wrong Upgrade header";
  for (i = 0; i < h->nheaders; i++)
    if (wsp__http_str_ieq(h->headers[i].name, "Connection") &&
        wsp__http_list_has_token(h->headers[i].value, "upgrade"))
      conn_upgrade = 1;
  if (!conn_upgrade)
    return "Connection header lacks the Upgrade token";
  if (count_header(h, "Sec-WebSocket-Accept", &v) != 1 || v.len != 28 ||
      memcmp(v.ptr, hs->accept, 28) != 0)
    return "wrong Sec-WebSocket-Accept";
  if ((why = wsp__deflate_check_response(c, h)) != NULL)
    return why;
  switch (count_header(h, "Sec-WebSocket-Protocol", &v)) {
  case 0:
    return NULL;
  case 1: {
    struct wsp_str offered;
    size_t pos = 0;
    if (!hs->offered)
      return "the server chose a subprotocol that was not offered";
    offered.ptr = hs->offered;
    offered.len = strlen(hs->offered);
    while (wsp__http_list_next(offered, &pos, &item)) {
      if (item.len == v.len && memcmp(item.ptr, v.ptr, v.len) == 0) {
        c->protocol = wsp__strndup(&c->cfg->mem, v.ptr, v.len);
        return c->protocol ? NULL : "out of memory";
      }
    }
    return "the server chose a subprotocol that was not offered";
  }
  default:
    return "more than one Sec-WebSocket-Protocol header";
  }
}

static int client_recv(struct wsp_conn *c, const uint8_t *p, size_t len) {
  struct wsp__hs *hs = c->hs;
  struct wsp_response resp;
  const char *why = NULL;
  long r;
  int done, rv;

  if (!hs || !hs->started)
    return WSP_ERR_STATE;
  r = collect_head(c, p, len, &done);
  if (r < 0)
    why = r == -1   ? "out of memory"
          : r == -3 ? "line not terminated by CRLF"
                    : "response head too large";
  else if (!done)
    return 0;
  if (!why) {
    p += r;
    len -= (size_t)r;
    if (wsp__http_parse((const char *)hs->buf, hs->head_len, 1, &hs->head,
                        &why) <= 0 &&
        !why)
      why = "malformed response";
  }
  if (!why)
    why = check_response(c, &hs->head);
  if (why && strcmp(why, "out of memory") == 0)
    r = -1;
  if (why) {
    wsp__conn_free_hs(c);
    wsp__conn_finish(c, r == -1 ? WSP_ERR_NOMEM : WSP_ERR_HANDSHAKE,
                     WSP_CLOSE_ABNORMAL, NULL, 0);
    return r == -1 ? WSP_ERR_NOMEM : WSP_ERR_HANDSHAKE;
  }
  resp.status = hs->head.status;
  resp.reason = hs->head.reason;
  resp.headers = hs->head.headers;
  resp.nheaders = hs->head.nheaders;
  rv = wsp__conn_open(c);
  if (rv == 0 && c->state == WSP_STATE_OPEN && c->cfg->cb.on_open &&
      WSP__LIVE(c))
    c->cfg->cb.on_open(c, &resp, c->user_data);
  wsp__conn_free_hs(c);
  if (rv == 0 && len && c->state == WSP_STATE_OPEN && WSP__LIVE(c))
    rv = wsp__conn_rx_frames(c, p, len);
  return rv;
}

int wsp__hs_recv(struct wsp_conn *c, const uint8_t *p, size_t len) {
  if (!hs_get(c)) {
    wsp__conn_finish(c, WSP_ERR_NOMEM, WSP_CLOSE_ABNORMAL, NULL, 0);
    return WSP_ERR_NOMEM;
  }
  return c->role == WSP_ROLE_SERVER ? server_recv(c, p, len)
                                    : client_recv(c, p, len);
}
