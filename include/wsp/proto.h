/*
 * libwsp - the codes and commands of the Centrifuge client protocol v2,
 * the hub's default wire protocol (wsp-protocol(7)), by name.
 *
 * Each list is an X-macro: X(NAME, code, "text") per entry, from which
 * the enums below and the text functions are made, so an application can
 * expand a list again for its own tables. Names are those of the
 * protocol's documentation; the text is what the protocol sends.
 */
#ifndef WSP_PROTO_H
#define WSP_PROTO_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reply errors (the error.code of a reply; 400..1999 are the
 * application's). The last member is 1 for a temporary error, which a
 * client may retry. */
#define WSP_PROTO_ERROR_LIST(X)                                                \
  X(INTERNAL, 100, "internal server error", 1)                                 \
  X(UNAUTHORIZED, 101, "unauthorized", 0)                                      \
  X(UNKNOWN_CHANNEL, 102, "unknown channel", 0)                                \
  X(PERMISSION_DENIED, 103, "permission denied", 0)                            \
  X(METHOD_NOT_FOUND, 104, "method not found", 0)                              \
  X(ALREADY_SUBSCRIBED, 105, "already subscribed", 0)                          \
  X(LIMIT_EXCEEDED, 106, "limit exceeded", 0)                                  \
  X(BAD_REQUEST, 107, "bad request", 0)                                        \
  X(NOT_AVAILABLE, 108, "not available", 0)                                    \
  X(TOKEN_EXPIRED, 109, "token expired", 0)                                    \
  X(EXPIRED, 110, "expired", 0)                                                \
  X(TOO_MANY_REQUESTS, 111, "too many requests", 1)                            \
  X(UNRECOVERABLE_POSITION, 112, "unrecoverable position", 0)

/* Disconnect codes (WebSocket close codes; 3000..3499 and 4000..4499 ask
 * the client to reconnect, 3500..3999 and 4500..4999 not to). */
#define WSP_PROTO_DISCONNECT_LIST(X)                                           \
  X(CONNECTION_CLOSED, 3000, "connection closed")                              \
  X(SHUTDOWN, 3001, "shutdown")                                                \
  X(SERVER_ERROR, 3004, "internal server error")                               \
  X(EXPIRED, 3005, "connection expired")                                       \
  X(SUBSCRIPTION_EXPIRED, 3006, "subscription expired")                        \
  X(SLOW, 3008, "slow")                                                        \
  X(WRITE_ERROR, 3009, "write error")                                          \
  X(INSUFFICIENT_STATE, 3010, "insufficient state")                            \
  X(FORCE_RECONNECT, 3011, "force reconnect")                                  \
  X(NO_PONG, 3012, "no pong")                                                  \
  X(TOO_MANY_REQUESTS, 3013, "too many requests")                              \
  X(STATE_INVALIDATED, 3014, "state invalidated")                              \
  X(INVALID_TOKEN, 3500, "invalid token")                                      \
  X(BAD_REQUEST, 3501, "bad request")                                          \
  X(STALE, 3502, "stale")                                                      \
  X(FORCE_DISCONNECT, 3503, "force disconnect")                                \
  X(CONNECTION_LIMIT, 3504, "connection limit")                                \
  X(CHANNEL_LIMIT, 3505, "channel limit")                                      \
  X(INAPPROPRIATE_PROTOCOL, 3506, "inappropriate protocol")                    \
  X(PERMISSION_DENIED, 3507, "permission denied")                              \
  X(NOT_AVAILABLE, 3508, "not available")                                      \
  X(TOO_MANY_ERRORS, 3509, "too many errors")

/* Unsubscribe push codes (2500 and up ask the client to resubscribe). */
#define WSP_PROTO_UNSUBSCRIBE_LIST(X)                                          \
  X(SERVER, 2000, "server unsubscribe")                                        \
  X(INSUFFICIENT_STATE, 2500, "insufficient state")                            \
  X(EXPIRED, 2501, "subscription expired")                                     \
  X(STATE_INVALIDATED, 2502, "state invalidated")

/* Commands, by the name of their request field. */
#define WSP_PROTO_COMMAND_LIST(X)                                              \
  X(CONNECT, 0, "connect")                                                     \
  X(SUBSCRIBE, 1, "subscribe")                                                 \
  X(UNSUBSCRIBE, 2, "unsubscribe")                                             \
  X(PUBLISH, 3, "publish")                                                     \
  X(PRESENCE, 4, "presence")                                                   \
  X(PRESENCE_STATS, 5, "presence_stats")                                       \
  X(HISTORY, 6, "history")                                                     \
  X(PING, 7, "ping")                                                           \
  X(SEND, 8, "send")                                                           \
  X(RPC, 9, "rpc")                                                             \
  X(REFRESH, 10, "refresh")                                                    \
  X(SUB_REFRESH, 11, "sub_refresh")

#define WSP_PROTO__ENUM4(name, code, text, temporary)                          \
  WSP_PROTO_ERROR_##name = code,
enum wsp_proto_error { WSP_PROTO_ERROR_LIST(WSP_PROTO__ENUM4) };
#undef WSP_PROTO__ENUM4

#define WSP_PROTO__ENUM(name, code, text) WSP_PROTO_DISCONNECT_##name = code,
enum wsp_proto_disconnect { WSP_PROTO_DISCONNECT_LIST(WSP_PROTO__ENUM) };
#undef WSP_PROTO__ENUM

#define WSP_PROTO__ENUM(name, code, text) WSP_PROTO_UNSUBSCRIBE_##name = code,
enum wsp_proto_unsubscribe { WSP_PROTO_UNSUBSCRIBE_LIST(WSP_PROTO__ENUM) };
#undef WSP_PROTO__ENUM

#define WSP_PROTO__ENUM(name, code, text) WSP_PROTO_CMD_##name = code,
enum wsp_proto_command {
  WSP_PROTO_COMMAND_LIST(WSP_PROTO__ENUM) WSP_PROTO_CMD__COUNT
};
#undef WSP_PROTO__ENUM

/* The WebSocket subprotocols of the two encodings. A client that offers
 * the Protobuf one gets it (binary messages of length-delimited Commands
 * and Replies); any other gets JSON, under the JSON name when it offers
 * that. wsp_conn_get_protocol() tells which one a connection has. */
#define WSP_PROTO_SUBPROTOCOL_JSON "centrifuge-json"
#define WSP_PROTO_SUBPROTOCOL_PROTOBUF "centrifuge-protobuf"

/* The protocol's message of a reply error code, or NULL for a code the
 * protocol does not name (an application's own). */
WSP_API const char *wsp_proto_error_message(int code);
/* 1 when the protocol marks the error temporary, 0 otherwise. */
WSP_API int wsp_proto_error_is_temporary(int code);
/* The protocol's reason of a disconnect code, or NULL. */
WSP_API const char *wsp_proto_disconnect_reason(int code);
/* The protocol's reason of an unsubscribe push code, or NULL. */
WSP_API const char *wsp_proto_unsubscribe_reason(int code);
/* The request field naming a command (WSP_PROTO_CMD_*), or NULL. */
WSP_API const char *wsp_proto_command_name(int command);

#ifdef __cplusplus
}
#endif

#endif /* WSP_PROTO_H */
