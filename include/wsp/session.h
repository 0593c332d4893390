/*
 * libwsp - session.h: user sessions shared by the HTTP side and the
 * WebSocket side of an application. A session has a random 128-bit id
 * (32 hex characters, the cookie value), a user id, application data and
 * an expiry. The store here keeps them in memory with a TTL and a size
 * cap; wsp_session_store_tick() sweeps expired ones.
 */
#ifndef WSP_SESSION_H
#define WSP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSP_SESSION_ID_LEN 32

struct wsp_session_store;

/* ttl_ms: lifetime of a session from its creation (or its last
 * wsp_session_touch); max_sessions: the cap (creating one more fails
 * with WSP_ERR_LIMIT). */
WSP_API int wsp_session_store_new(struct wsp_session_store **pst,
                                  const struct wsp_mem *mem, uint64_t ttl_ms,
                                  size_t max_sessions);
WSP_API void wsp_session_store_free(struct wsp_session_store *st);
/* Create a session for user with a copy of data; id receives the id and
 * a NUL (WSP_SESSION_ID_LEN + 1 bytes). The id comes from getrandom(2). */
WSP_API int wsp_session_create(struct wsp_session_store *st, const char *user,
                               const void *data, size_t len, uint64_t now,
                               char id[WSP_SESSION_ID_LEN + 1]);
/* Look a session up: 0 with *user and *data (borrowed: valid until the
 * session changes or goes) or WSP_ERR_NOT_FOUND (unknown or expired). */
WSP_API int wsp_session_get(const struct wsp_session_store *st,
                            const char *id, uint64_t now, const char **user,
                            const void **data, size_t *len);
/* Extend a session's life to now + ttl. */
WSP_API int wsp_session_touch(struct wsp_session_store *st, const char *id,
                              uint64_t now);
/* Replace the session's data. */
WSP_API int wsp_session_set_data(struct wsp_session_store *st, const char *id,
                                 const void *data, size_t len);
/* End a session (logout). WSP_ERR_NOT_FOUND if unknown. */
WSP_API int wsp_session_destroy(struct wsp_session_store *st, const char *id);
WSP_API size_t wsp_session_count(const struct wsp_session_store *st);
/* Drop expired sessions; next_deadline tells when the next one expires. */
WSP_API int wsp_session_store_tick(struct wsp_session_store *st, uint64_t now);
WSP_API uint64_t wsp_session_store_next_deadline(
    const struct wsp_session_store *st);

/* Store flags for wsp_session_store_set_flags(). */
/* When the store is full, wsp_session_create() ends the session nearest
 * to its expiry (the least recently created or touched) to make room,
 * instead of failing with WSP_ERR_LIMIT; so a flood of new sessions
 * cannot lock every later login out. */
#define WSP_SESSION_EVICT_OLDEST 0x1u

WSP_API int wsp_session_store_set_flags(struct wsp_session_store *st,
                                        unsigned flags);
WSP_API unsigned
wsp_session_store_get_flags(const struct wsp_session_store *st);

/* Counters since wsp_session_store_new(). */
struct wsp_session_stats {
  uint64_t created;   /* sessions made by wsp_session_create() */
  uint64_t destroyed; /* ended by wsp_session_destroy() */
  uint64_t expired;   /* dropped at the end of their life */
  uint64_t evicted;   /* ended to make room (WSP_SESSION_EVICT_OLDEST) */
  uint64_t refused;   /* creations refused by the cap (WSP_ERR_LIMIT) */
  uint64_t reserved[3];
};

WSP_API int wsp_session_store_get_stats(const struct wsp_session_store *st,
                                        struct wsp_session_stats *stats);

/* Cookie attributes for wsp_session_cookie(). */
#define WSP_COOKIE_HTTPONLY 0x1u
#define WSP_COOKIE_SECURE 0x2u
#define WSP_COOKIE_SAMESITE_LAX 0x4u
#define WSP_COOKIE_SAMESITE_STRICT 0x8u
#define WSP_COOKIE_SAMESITE_NONE 0x10u /* requires WSP_COOKIE_SECURE */

/*
 * Write a Set-Cookie header value "name=value; Path=path; Max-Age=N;
 * HttpOnly; Secure; SameSite=Lax" into buf (NUL-terminated). max_age_s < 0
 * leaves Max-Age out (a browser-session cookie); 0 deletes the cookie.
 * Returns its length, WSP_ERR_LIMIT when cap is too small, WSP_ERR_INVAL
 * for a name, value or path that cannot go in a cookie.
 */
WSP_API int wsp_session_cookie(char *buf, size_t cap, const char *name,
                               const char *value, const char *path,
                               int64_t max_age_s, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* WSP_SESSION_H */
