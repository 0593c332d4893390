/*
 * libwsp - conn.h: one WebSocket connection (RFC 6455), server or client
 * role, driven by the application's own I/O loop. The library never reads,
 * writes, sleeps or reads a clock: bytes come in through wsp_conn_recv(),
 * output leaves through wsp_conn_pending()/wsp_conn_sent(), and time comes
 * in through wsp_conn_tick().
 */
#ifndef WSP_CONN_H
#define WSP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common.h"
#include "request.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsp_conn;

/* ---- Constants -------------------------------------------------------- */

enum wsp_role { WSP_ROLE_SERVER = 0, WSP_ROLE_CLIENT = 1 };

enum wsp_opcode {
  WSP_OP_CONTINUATION = 0x0,
  WSP_OP_TEXT = 0x1,
  WSP_OP_BINARY = 0x2,
  WSP_OP_CLOSE = 0x8,
  WSP_OP_PING = 0x9,
  WSP_OP_PONG = 0xa
};

enum wsp_conn_state {
  WSP_STATE_HANDSHAKE = 0, /* waiting for the opening handshake */
  WSP_STATE_DEFERRED,      /* server: on_request deferred the decision */
  WSP_STATE_OPEN,          /* messages flow both ways */
  WSP_STATE_CLOSING,       /* a close frame was sent; draining input */
  WSP_STATE_CLOSED         /* finished: flush pending output, then close */
};

/* Close codes (RFC 6455 section 7.4.1) used by the library itself. */
#define WSP_CLOSE_NORMAL 1000
#define WSP_CLOSE_GOING_AWAY 1001
#define WSP_CLOSE_PROTOCOL_ERROR 1002
#define WSP_CLOSE_UNSUPPORTED 1003
#define WSP_CLOSE_NO_STATUS 1005
#define WSP_CLOSE_ABNORMAL 1006
#define WSP_CLOSE_INVALID_PAYLOAD 1007
#define WSP_CLOSE_POLICY 1008
#define WSP_CLOSE_TOO_BIG 1009
#define WSP_CLOSE_INTERNAL_ERROR 1011

/* Limits, each with a default; see wsp_conn_set_limit(3). */
enum wsp_limit {
  WSP_LIMIT_MAX_MESSAGE = 0,       /* bytes; default 16 MiB; 1009 */
  WSP_LIMIT_MAX_HANDSHAKE,         /* request/response head bytes; 8192 */
  WSP_LIMIT_MAX_HTTP_BODY,         /* plain HTTP request body; 65536 */
  WSP_LIMIT_MAX_QUEUED,            /* queued output bytes; 16 MiB + 1 MiB */
  WSP_LIMIT_HIGH_WATER,            /* backpressure mark; 1 MiB */
  WSP_LIMIT_HANDSHAKE_TIMEOUT,     /* ms; 10000 */
  WSP_LIMIT_PING_INTERVAL,         /* ms; 0 = no pings (default) */
  WSP_LIMIT_PONG_TIMEOUT,          /* ms; 10000 */
  WSP_LIMIT_CLOSE_TIMEOUT,         /* ms; 5000 */
  WSP_LIMIT_QUEUE_LINGER,          /* ms an emptied output queue keeps its
                                      memory; 200; 0 = release at once */
  WSP_LIMIT__COUNT
};

/*
 * permessage-deflate (RFC 7692), off unless enabled; see
 * wsp_conn_set_deflate(3). Set before the opening handshake; once it is
 * done, wsp_conn_get_deflate() returns what was negotiated. The inflated
 * size of a message is capped by WSP_LIMIT_MAX_MESSAGE (1009).
 */
enum wsp_deflate_param {
  WSP_DEFLATE_ENABLE = 0,                 /* 0 or 1; default 0 */
  WSP_DEFLATE_SERVER_MAX_WINDOW_BITS,     /* 9..15; default 15 */
  WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS,     /* 9..15; default 15 */
  WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, /* 0 or 1; default 1 */
  WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER, /* 0 or 1; default 1 */
  WSP_DEFLATE_LEVEL,                      /* zlib level 1..9; default 1 */
  WSP_DEFLATE_MEM_LEVEL,                  /* zlib memLevel 1..9; default 8 */
  WSP_DEFLATE_MIN_SIZE, /* bytes; shorter messages are sent as they are;
                           default 64 */
  WSP_DEFLATE__COUNT
};

/* ---- Read-only views passed to callbacks ------------------------------ */

/* The HTTP response received by a client connection (101 on success). */
struct wsp_response {
  int status;
  struct wsp_str reason;
  const struct wsp_header *headers;
  size_t nheaders;
};

/* ---- Callbacks -------------------------------------------------------- */

/*
 * All callbacks are optional (NULL means not interested); the table is
 * copied. user_data is the pointer given to wsp_conn_new(). Pointers passed
 * to a callback are valid until it returns. Callbacks may send, close,
 * respond or free the connection (freeing is deferred until the library
 * returns); calling wsp_conn_recv(), wsp_conn_sent() or wsp_conn_tick() from
 * a callback fails with WSP_ERR_RECURSIVE.
 */
struct wsp_conn_callbacks {
  /* Server: a complete HTTP request arrived. Accept by returning 0
   * (optionally after wsp_conn_set_protocol / wsp_conn_add_header),
   * answer with wsp_conn_respond(), or call wsp_conn_defer() and decide
   * later with wsp_conn_accept() / wsp_conn_respond(). Returning a
   * negative value rejects the upgrade with 403. */
  int (*on_request)(struct wsp_conn *conn, const struct wsp_request *req,
                    void *user_data);
  /* The handshake completed; messages may flow. resp is the server's
   * response in the client role and NULL in the server role. */
  void (*on_open)(struct wsp_conn *conn, const struct wsp_response *resp,
                  void *user_data);
  /* A whole text or binary message. Text is valid UTF-8. */
  void (*on_message)(struct wsp_conn *conn, int opcode, const uint8_t *data,
                     size_t len, void *user_data);
  /* A ping or pong arrived (pongs to pings are sent by the library). */
  void (*on_control)(struct wsp_conn *conn, int opcode, const uint8_t *data,
                     size_t len, void *user_data);
  /* The connection ended; fires exactly once for a connection that
   * opened and for any client-role one, never for a server connection
   * whose handshake did not complete. code/reason are the peer's close
   * frame; code is WSP_CLOSE_NO_STATUS (1005) for a close frame without
   * a code and WSP_CLOSE_ABNORMAL (1006) when none arrived (error,
   * timeout, EOF). wsp_conn_close_code_sent() tells what the library
   * sent. */
  void (*on_close)(struct wsp_conn *conn, int code, const uint8_t *reason,
                   size_t reason_len, void *user_data);
  /* Output appeared while the queue was empty: the loop should watch
   * the socket for writability. */
  void (*on_want_write)(struct wsp_conn *conn, void *user_data);
  /* Queued output crossed the high-water mark (above = 1) or fell back
   * below half of it (above = 0). */
  void (*on_backpressure)(struct wsp_conn *conn, int above, void *user_data);
  /* Optional clock in milliseconds, used to stamp events that happen
   * outside wsp_conn_tick(); without it the last tick's time is used. */
  uint64_t (*now)(void *user_data);
};

/* ---- Life cycle ------------------------------------------------------- */

WSP_API int wsp_conn_new(struct wsp_conn **pconn, int role,
                         const struct wsp_conn_callbacks *callbacks,
                         const struct wsp_mem *mem, uint64_t now,
                         void *user_data);
WSP_API void wsp_conn_free(struct wsp_conn *conn);

WSP_API int wsp_conn_set_limit(struct wsp_conn *conn, int limit,
                               uint64_t value);
WSP_API uint64_t wsp_conn_get_limit(const struct wsp_conn *conn, int limit);

/* A profile: callbacks, allocator and limits that many connections share
 * instead of each carrying a copy (wsp_conn_profile(3)). Limits set on
 * a profile apply to the connections made from it afterwards; a limit set
 * on one connection gives that connection a copy of its own. */
struct wsp_conn_profile;
WSP_API int wsp_conn_profile_new(struct wsp_conn_profile **pprofile,
                                 const struct wsp_conn_callbacks *callbacks,
                                 const struct wsp_mem *mem);
/* The connections made from it keep what they share. */
WSP_API void wsp_conn_profile_free(struct wsp_conn_profile *profile);
WSP_API int wsp_conn_profile_set_limit(struct wsp_conn_profile *profile,
                                       int limit, uint64_t value);
WSP_API uint64_t
wsp_conn_profile_get_limit(const struct wsp_conn_profile *profile, int limit);
/* permessage-deflate settings of the connections made from it
 * afterwards (wsp_conn_set_deflate(3)). */
WSP_API int wsp_conn_profile_set_deflate(struct wsp_conn_profile *profile,
                                         int param, uint64_t value);
WSP_API uint64_t
wsp_conn_profile_get_deflate(const struct wsp_conn_profile *profile, int param);
WSP_API int wsp_conn_new_from(struct wsp_conn **pconn,
                              const struct wsp_conn_profile *profile, int role,
                              uint64_t now, void *user_data);

WSP_API void *wsp_conn_get_user_data(const struct wsp_conn *conn);
WSP_API void wsp_conn_set_user_data(struct wsp_conn *conn, void *user_data);
WSP_API int wsp_conn_get_role(const struct wsp_conn *conn);
WSP_API int wsp_conn_get_state(const struct wsp_conn *conn);
/* The negotiated subprotocol, or NULL. */
WSP_API const char *wsp_conn_get_protocol(const struct wsp_conn *conn);
/* The close code the library sent (0 if none yet). */
WSP_API int wsp_conn_close_code_sent(const struct wsp_conn *conn);
/* The error that failed the connection (0 if none). */
WSP_API int wsp_conn_get_error(const struct wsp_conn *conn);

/* permessage-deflate: WSP_ERR_UNSUPPORTED for WSP_DEFLATE_ENABLE 1 in a
 * build without zlib, WSP_ERR_STATE once the handshake has started. */
WSP_API int wsp_conn_set_deflate(struct wsp_conn *conn, int param,
                                 uint64_t value);
/* The setting; once the connection is open, what was negotiated. */
WSP_API uint64_t wsp_conn_get_deflate(const struct wsp_conn *conn, int param);

/* ---- Handshake -------------------------------------------------------- */

/* Server, in on_request or while deferred: choose one of the offered
 * subprotocols (WSP_ERR_INVAL if it was not offered). */
WSP_API int wsp_conn_set_protocol(struct wsp_conn *conn, const char *name);
/* Server: add a header to the 101 (or wsp_conn_respond) response.
 * Client: add a header to the request, before wsp_conn_client_start(). */
WSP_API int wsp_conn_add_header(struct wsp_conn *conn, const char *name,
                                const char *value);
/* Server: answer the request with a plain HTTP response and close. */
WSP_API int wsp_conn_respond(struct wsp_conn *conn, int status,
                             const char *content_type, const void *body,
                             size_t len);
/* Server, in on_request: decide later with wsp_conn_accept() or
 * wsp_conn_respond(); bytes that arrive meanwhile are kept. */
WSP_API int wsp_conn_defer(struct wsp_conn *conn);
/* Server: accept a deferred request (101 Switching Protocols). */
WSP_API int wsp_conn_accept(struct wsp_conn *conn);
/* Client: queue the opening handshake. host is the Host header value
 * (with port), path the request-target, protocols a comma-separated
 * list or NULL. The key comes from getrandom(2). */
WSP_API int wsp_conn_client_start(struct wsp_conn *conn, const char *host,
                                  const char *path, const char *protocols);

/* ---- Input ------------------------------------------------------------ */

/* Hand over bytes read from the transport. Returns 0, or a negative error
 * when the connection failed (it then queues whatever it owes the peer:
 * an HTTP error response or a close frame). len 0 means end of stream. */
WSP_API int wsp_conn_recv(struct wsp_conn *conn, const void *data,
                          size_t len);
/* Non-zero while the connection wants more input. */
WSP_API int wsp_conn_want_read(const struct wsp_conn *conn);

/* ---- Output ----------------------------------------------------------- */

/* Queue a whole message (TEXT, BINARY, PING or PONG). */
WSP_API int wsp_conn_send(struct wsp_conn *conn, int opcode, const void *data,
                          size_t len);
/* Stream a message in fragments: opcode TEXT or BINARY on the first call,
 * CONTINUATION after it; fin = 1 on the last. Each call queues one frame. */
WSP_API int wsp_conn_send_fragment(struct wsp_conn *conn, int opcode,
                                   const void *data, size_t len, int fin);
/*
 * Shared frames: one complete, unmasked server frame built once and queued
 * to many server connections by reference (no copy, no allocation per
 * connection beyond the amortised growth of each queue). Reference
 * counted: wsp_frame_new() returns it with one reference, owned by the
 * caller; each connection that queues it holds another until the bytes
 * are written; wsp_frame_unref() drops the caller's.
 */
struct wsp_frame;
WSP_API int wsp_frame_new(struct wsp_frame **pframe, const struct wsp_mem *mem,
                          int opcode, const void *data, size_t len);
WSP_API struct wsp_frame *wsp_frame_ref(struct wsp_frame *frame);
WSP_API void wsp_frame_unref(struct wsp_frame *frame);
/* The frame's bytes (header and payload) and their length. */
WSP_API size_t wsp_frame_size(const struct wsp_frame *frame);
/* Queue frame on a server connection. Over WSP_LIMIT_MAX_QUEUED it
 * fails with WSP_ERR_QUEUE_FULL and queues nothing. */
WSP_API int wsp_conn_send_frame(struct wsp_conn *conn,
                                struct wsp_frame *frame);

/* Start the closing handshake. code 0 sends a close frame without a code. */
WSP_API int wsp_conn_close(struct wsp_conn *conn, int code,
                           const char *reason, size_t reason_len);

/* Fill iov with up to iovcnt buffers of pending output, in order; returns
 * the number filled (0 when nothing is pending). The buffers stay valid
 * until the next wsp_conn_sent() or wsp_conn_free(). */
WSP_API int wsp_conn_pending(const struct wsp_conn *conn, struct iovec *iov,
                             int iovcnt);
/* Report that n bytes of pending output were written. */
WSP_API int wsp_conn_sent(struct wsp_conn *conn, size_t n);
/* Bytes of output waiting to be written. */
WSP_API size_t wsp_conn_queued_bytes(const struct wsp_conn *conn);
/* Non-zero when output is pending. */
WSP_API int wsp_conn_want_write(const struct wsp_conn *conn);
/* Non-zero when the connection is finished and its output written: the
 * application closes the socket and frees the connection. */
WSP_API int wsp_conn_is_done(const struct wsp_conn *conn);

/* ---- Time ------------------------------------------------------------- */

/* Run every timer due at now (milliseconds, any monotonic origin). */
WSP_API int wsp_conn_tick(struct wsp_conn *conn, uint64_t now);
/* The earliest time wsp_conn_tick() has work, or WSP_NO_DEADLINE. */
WSP_API uint64_t wsp_conn_next_deadline(const struct wsp_conn *conn);

#ifdef __cplusplus
}
#endif

#endif /* WSP_CONN_H */
