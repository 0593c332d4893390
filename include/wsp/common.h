/*
 * libwsp - WebSocket messaging patterns for C.
 * common.h: export macro, version, errors, allocator hooks, shared views.
 */
#ifndef WSP_COMMON_H
#define WSP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WSP_BUILDING) && defined(__GNUC__)
#define WSP_API __attribute__((visibility("default")))
#else
#define WSP_API
#endif

/* ---- Version ---------------------------------------------------------- */

#define WSP_VERSION_MAJOR 0
#define WSP_VERSION_MINOR 1
#define WSP_VERSION_PATCH 0
#define WSP_VERSION_STRING "0.1.0"
#define WSP_VERSION_HEX                                                        \
  ((WSP_VERSION_MAJOR << 16) | (WSP_VERSION_MINOR << 8) | WSP_VERSION_PATCH)

/* The version of the library linked at run time, as WSP_VERSION_HEX. */
WSP_API unsigned wsp_version(void);
/* The same as a string, e.g. "0.1.0"; never NULL. */
WSP_API const char *wsp_version_string(void);

/* ---- Errors ----------------------------------------------------------- */

/*
 * Every failing call returns one of these negative codes. Ranges:
 * -1..-99 general, -100..-199 connection and handshake, -200..-299 wire
 * protocol and JSON, -300..-399 tokens, -400..-499 event log and its
 * storage.
 * X(name, value, fatal, message)
 */
#define WSP_ERRNO_MAP(X)                                                       \
  X(INVAL, -1, 0, "invalid argument")                                          \
  X(NOMEM, -2, 1, "out of memory")                                             \
  X(STATE, -3, 0, "operation not allowed in the current state")               \
  X(RECURSIVE, -4, 0, "recursive call from inside a callback")                 \
  X(RANDOM, -5, 1, "random number source failed")                              \
  X(LIMIT, -6, 0, "a configured limit was exceeded")                          \
  X(AGAIN, -7, 0, "operation would block; try again later")                    \
  X(CANCELLED, -8, 0, "request cancelled")                                     \
  X(NOT_FOUND, -9, 0, "no such item")                                          \
  X(UNSUPPORTED, -10, 0, "not supported by this build")                        \
  X(CLOSED, -100, 1, "connection is closed")                                   \
  X(HANDSHAKE, -101, 1, "WebSocket handshake failed")                          \
  X(PROTO, -102, 1, "WebSocket protocol violation by the peer")               \
  X(QUEUE_FULL, -103, 0, "output queue is full")                               \
  X(TOO_BIG, -104, 1, "message too big")                                      \
  X(TIMEOUT, -105, 1, "timed out")                                             \
  X(BAD_UTF8, -106, 1, "invalid UTF-8 in a text message")                     \
  X(JSON, -200, 0, "malformed JSON")                                           \
  X(TOKEN, -300, 0, "invalid token")                                           \
  X(TOKEN_EXPIRED, -301, 0, "token expired")                                  \
  X(IO, -400, 1, "I/O error")                                                  \
  X(NOSPACE, -401, 0, "no space left on the device")                           \
  X(EPOCH, -402, 0, "stream epoch does not match")                             \
  X(CORRUPT, -403, 0, "stored data is corrupt")                                \
  X(EXPIRED, -404, 0, "requested history is no longer kept")

enum wsp_error {
#define WSP__ERR_ENUM(name, value, fatal, msg) WSP_ERR_##name = value,
  WSP_ERRNO_MAP(WSP__ERR_ENUM)
#undef WSP__ERR_ENUM
};

/* A short English description of err; never NULL ("unknown error"). */
WSP_API const char *wsp_strerror(int err);
/* The symbolic name of err, e.g. "WSP_ERR_NOMEM"; never NULL. */
WSP_API const char *wsp_error_name(int err);
/* Non-zero when err means the object that returned it cannot go on. */
WSP_API int wsp_error_is_fatal(int err);

/* ---- Allocator and random hooks -------------------------------------- */

/*
 * Per-object hooks. NULL wherever a struct wsp_mem pointer is taken
 * means the C library's malloc/realloc/free and getrandom(2). The struct
 * is copied; zero it, then set what is needed. wslay allocates its own
 * state with the C library's malloc.
 *
 * malloc, realloc and free are used when all three are set. random, when
 * set, is where every random byte of the object comes from (masking and
 * handshake keys, client and session ids, epochs, ping jitter, hash
 * seeds): it writes len bytes to buf and returns 0, or non-zero when it
 * cannot (the call that needed them fails with WSP_ERR_RANDOM). For a
 * deterministic test or simulation, or a sandbox without getrandom.
 */
struct wsp_mem {
  void *(*malloc)(size_t size, void *user_data);
  void *(*realloc)(void *ptr, size_t size, void *user_data);
  void (*free)(void *ptr, void *user_data);
  void *user_data;
  int (*random)(void *buf, size_t len, void *user_data);
};

/* ---- Views ------------------------------------------------------------ */

/* A span of bytes owned by someone else; not NUL-terminated. */
struct wsp_str {
  const char *ptr;
  size_t len;
};

/* One HTTP header as received, spans into the library's buffer. */
struct wsp_header {
  struct wsp_str name;
  struct wsp_str value;
};

/* Sentinel returned by the next_deadline calls when nothing is due. */
#define WSP_NO_DEADLINE UINT64_MAX

#ifdef __cplusplus
}
#endif

#endif /* WSP_COMMON_H */
