/*
 * libwsp - auth.h: credentials carried by an HTTP request or a WebSocket
 * upgrade, and the Origin check that defends cookie-authenticated
 * upgrades against cross-site WebSocket hijacking. Browsers cannot set an
 * Authorization header on a WebSocket, so cookies and URL parameters are
 * first-class here. The functions read a struct wsp_request (conn.h) and
 * write into buffers the caller owns; they allocate nothing.
 */
#ifndef WSP_AUTH_H
#define WSP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

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

#endif /* WSP_AUTH_H */
