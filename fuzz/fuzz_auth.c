/*
 * libFuzzer target for the credential readers of wsp/request.h and the
 * Set-Cookie writer of wsp/session.h.
 *
 * The input is lines: the query string, a parameter or cookie name, then
 * headers "Name: value". Every reader runs on the request they make; a
 * span returned must lie inside the input, a query value read with the
 * room it asked for must be found again, and a cookie written by
 * wsp_session_cookie() from the name and a value must read back as that
 * value. A broken rule aborts.
 */
#include "fuzz_common.h"

#define FZ_MAX_HEADERS 32

#define FZ_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static const char *fz_base;
static size_t fz_size;

static void fz_inside(struct wsp_str s) {
  FZ_ASSERT(s.len == 0 ||
            (s.ptr >= fz_base && s.ptr + s.len <= fz_base + fz_size));
  fz_touch(s.ptr, s.len);
}

static struct wsp_str fz_line(const char **p, const char *end) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  struct wsp_str s = {*p, (size_t)((nl ? nl : end) - *p)};
  *p = nl ? nl + 1 : end;
  return s;
}

static void fz_query(const struct wsp_request *req, const char *name) {
  char small[8], *big;
  size_t len = 0, len2 = 0, nth;
  for (nth = 0; nth < 4; nth++) {
    int rv = wsp_request_query(req, name, nth, small, sizeof(small), &len);
    FZ_ASSERT(rv == 1 || rv == 0 || rv == WSP_ERR_LIMIT ||
              rv == WSP_ERR_INVAL);
    if (rv == 1)
      FZ_ASSERT(len < sizeof(small) && small[len] == '\0');
    if (rv != WSP_ERR_LIMIT)
      continue;
    FZ_ASSERT(len <= req->query.len);
    big = malloc(len + 1);
    if (!big)
      return;
    FZ_ASSERT(wsp_request_query(req, name, nth, big, len + 1, &len2) == 1);
    FZ_ASSERT(len2 == len && big[len] == '\0');
    free(big);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  struct wsp_header headers[FZ_MAX_HEADERS];
  struct wsp_request req;
  struct wsp_str name, v;
  char cname[64], cookie[512];
  const char *allowed[] = {"https://app.example", "http://a"};
  size_t i, n = 0;
  int rv;

  fz_base = (const char *)data;
  fz_size = size;
  memset(&req, 0, sizeof(req));
  req.query = fz_line(&p, end);
  name = fz_line(&p, end);
  while (p < end && n < FZ_MAX_HEADERS) {
    struct wsp_str line = fz_line(&p, end);
    const char *colon = memchr(line.ptr, ':', line.len);
    if (!colon)
      continue;
    headers[n].name.ptr = line.ptr;
    headers[n].name.len = (size_t)(colon - line.ptr);
    headers[n].value.ptr = colon + 1;
    headers[n].value.len = line.len - headers[n].name.len - 1;
    while (headers[n].value.len && headers[n].value.ptr[0] == ' ') {
      headers[n].value.ptr++;
      headers[n].value.len--;
    }
    n++;
  }
  req.headers = headers;
  req.nheaders = n;
  if (name.len >= sizeof(cname) || memchr(name.ptr, '\0', name.len))
    return 0;
  memcpy(cname, name.ptr, name.len);
  cname[name.len] = '\0';

  fz_query(&req, cname);
  for (i = 0; i < 4; i++) {
    rv = wsp_request_cookie_nth(&req, cname, i, &v);
    FZ_ASSERT(rv == 0 || rv == 1);
    if (rv != 1)
      break;
    fz_inside(v);
  }
  if (wsp_request_bearer(&req, &v) == 1)
    fz_inside(v);
  if (wsp_request_protocol_token(&req, cname, &v) == 1)
    fz_inside(v);
  rv = wsp_origin_allowed(&req, allowed, 2, (int)(size & 1));
  FZ_ASSERT(rv == 0 || rv == 1);

  /* Round trip: the query line as a cookie value for the name. */
  if (req.query.len < 256 && !memchr(req.query.ptr, '\0', req.query.len)) {
    char value[256];
    struct wsp_header h;
    struct wsp_request creq;
    memcpy(value, req.query.ptr, req.query.len);
    value[req.query.len] = '\0';
    rv = wsp_session_cookie(cookie, sizeof(cookie), cname, value, NULL, -1, 0);
    if (rv > 0) {
      /* "name=value; Path=/" is also a valid Cookie header */
      memset(&creq, 0, sizeof(creq));
      h.name.ptr = "Cookie";
      h.name.len = 6;
      h.value.ptr = cookie;
      h.value.len = (size_t)rv;
      creq.headers = &h;
      creq.nheaders = 1;
      fz_base = cookie;
      fz_size = (size_t)rv;
      FZ_ASSERT(wsp_request_cookie_nth(&creq, cname, 0, &v) == 1);
      fz_inside(v);
      FZ_ASSERT(v.len == req.query.len &&
                memcmp(v.ptr, value, v.len) == 0);
    }
  }
  return 0;
}
