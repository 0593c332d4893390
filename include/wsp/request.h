/*
 * libwsp - request.h: reading the HTTP request a server connection
 * received (struct wsp_request): headers, cookies, query parameters,
 * bearer and subprotocol-carried credentials, offered subprotocols, and
 * the Origin check that defends cookie-authenticated upgrades against
 * cross-site WebSocket hijacking. Browsers cannot set an Authorization
 * header on a WebSocket, so cookies and URL parameters are first-class
 * here. The functions read spans of the request and write into buffers
 * the caller owns; they allocate nothing.
 */
#ifndef WSP_REQUEST_H
#define WSP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The HTTP request received by a server connection. Every span points
 * into the library's buffer and is valid until the callback returns. */
struct wsp_request {
  struct wsp_str method; /* "GET" */
  struct wsp_str target; /* request-target as sent: path?query */
  struct wsp_str path;   /* target up to '?' */
  struct wsp_str query;  /* after '?', without it; empty if none */
  int http_minor;        /* 1 for HTTP/1.1 */
  const struct wsp_header *headers;
  size_t nheaders;
  struct wsp_str body; /* plain HTTP requests with Content-Length */
  /* Non-zero when the request is a valid WebSocket upgrade. When zero,
   * status and reason say what the library will answer unless the
   * application responds itself (wsp_conn_respond). */
  int websocket;
  int status;
  const char *reason;
};

/* ---- Headers ---------------------------------------------------------- */

/* Find the nth (from 0) header called name (case-insensitive). Returns 1
 * and sets *value when found, 0 otherwise. */
WSP_API int wsp_header_get(const struct wsp_header *headers, size_t nheaders,
                           const char *name, size_t nth, struct wsp_str *value);
/* Find cookie name in every Cookie header of req; 1 when found. */
WSP_API int wsp_request_cookie(const struct wsp_request *req, const char *name,
                               struct wsp_str *value);
/* The nth (from 0) subprotocol the client offered; 1 when it exists. */
WSP_API int wsp_request_protocol(const struct wsp_request *req, size_t nth,
                                 struct wsp_str *value);

/* ---- Credentials and the Origin check --------------------------------- */

/*
 * The nth (from 0) value of query parameter name, percent-decoded ('+'
 * is a space) into buf[0..cap) and NUL-terminated. Returns 1 found, 0
 * absent, WSP_ERR_LIMIT when cap is too small (*len tells the room
 * needed, without the NUL), WSP_ERR_INVAL for a malformed escape.
 */
WSP_API int wsp_request_query(const struct wsp_request *req, const char *name,
                              size_t nth, char *buf, size_t cap, size_t *len);
/* The nth (from 0) cookie called name across every Cookie header (RFC
 * 6265 section 5.4: pairs separated by ';', optional spaces, a value may
 * be in double quotes, which are removed). 1 found, 0 absent. */
WSP_API int wsp_request_cookie_nth(const struct wsp_request *req,
                                   const char *name, size_t nth,
                                   struct wsp_str *value);
/* The token of "Authorization: Bearer <token>" (scheme case-insensitive).
 * 1 found, 0 absent; WSP_ERR_INVAL for two Authorization headers. */
WSP_API int wsp_request_bearer(const struct wsp_request *req,
                               struct wsp_str *token);
/* A token carried as an offered subprotocol "<prefix><token>" (e.g. the
 * prefix "bearer."); see wsp_auth(3) for the trade-offs. 1 found. */
WSP_API int wsp_request_protocol_token(const struct wsp_request *req,
                                       const char *prefix,
                                       struct wsp_str *token);

/*
 * Is the request's Origin acceptable? 1 when it has no Origin header (not
 * a browser: judged by its credentials alone), when the Origin is the
 * server's own (scheme http or https with the request's Host), or when it
 * equals one of allowed[0..n) exactly (e.g. "https://app.example.com");
 * 0 otherwise, also for two Origin headers. secure says whether the
 * server is reached over TLS (its own origin is then https://Host).
 */
WSP_API int wsp_origin_allowed(const struct wsp_request *req,
                               const char *const *allowed, size_t n,
                               int secure);

#ifdef __cplusplus
}
#endif

#endif /* WSP_REQUEST_H */
