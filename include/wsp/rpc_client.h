/*
 * libwsp - rpc_client.h: the client role of the protocol's RPC, for a C
 * program calling methods on a server that speaks it (a wsp_server,
 * Centrifugo, ...).
 */
#ifndef WSP_RPC_CLIENT_H
#define WSP_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "common.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A C program calling methods on a server that speaks the protocol (a
 * wsp_server, Centrifugo, ...). It wraps a client-role wsp_conn: feed it
 * the socket's bytes, write its pending output, tick it. It sends the
 * connect command as soon as the WebSocket opens, answers server pings
 * and matches replies to calls through a wsp_corr table.
 */
struct wsp_rpc_client;

struct wsp_rpc_client_callbacks {
  /* The connect reply arrived; client_id is the server's id for us. */
  void (*on_connected)(struct wsp_rpc_client *rc, const char *client_id,
                       void *user_data);
  /* A message push (the server's wsp_client_push_message); data is the
   * raw JSON value. */
  void (*on_message)(struct wsp_rpc_client *rc, const uint8_t *data, size_t len,
                     void *user_data);
  /* The connection ended with code (the server's close code, or 1006);
   * every pending call has already failed with WSP_ERR_CLOSED. */
  void (*on_disconnected)(struct wsp_rpc_client *rc, int code, void *user_data);
  void (*on_want_write)(struct wsp_rpc_client *rc, void *user_data);
  uint64_t (*now)(void *user_data);
};

WSP_API int wsp_rpc_client_new(struct wsp_rpc_client **prc,
                               const struct wsp_rpc_client_callbacks *cb,
                               const struct wsp_mem *mem, uint64_t now,
                               void *user_data);
/* Pending calls fire with WSP_ERR_CANCELLED first. */
WSP_API void wsp_rpc_client_free(struct wsp_rpc_client *rc);
/* Queue the opening handshake; connect_data is a JSON value or NULL,
 * token a connection token or NULL. */
WSP_API int wsp_rpc_client_start(struct wsp_rpc_client *rc, const char *host,
                                 const char *path, const char *connect_data,
                                 const char *token);
/*
 * Call method with the JSON value data (len 0 for none). The callback
 * fires exactly once: status 0 with the result's data; status > 0 with
 * the server's error code and its message in data; or a negative
 * WSP_ERR_TIMEOUT (after timeout_ms; 0 means no timeout),
 * WSP_ERR_CLOSED (the connection ended) or WSP_ERR_CANCELLED (freed).
 * Calls made before the connection opens wait for it. If this call
 * fails the callback never fires.
 */
WSP_API int wsp_rpc_client_call(struct wsp_rpc_client *rc, const char *method,
                                const void *data, size_t len,
                                uint64_t timeout_ms,
                                void (*cb)(struct wsp_rpc_client *rc,
                                           int status, const uint8_t *data,
                                           size_t len, void *user_data),
                                void *user_data);
/* A send command: data to the server's on_send, no reply. */
WSP_API int wsp_rpc_client_send(struct wsp_rpc_client *rc, const void *data,
                                size_t len);
WSP_API int wsp_rpc_client_recv(struct wsp_rpc_client *rc, const void *data,
                                size_t len);
WSP_API int wsp_rpc_client_pending(const struct wsp_rpc_client *rc,
                                   struct iovec *iov, int iovcnt);
WSP_API int wsp_rpc_client_sent(struct wsp_rpc_client *rc, size_t n);
WSP_API int wsp_rpc_client_tick(struct wsp_rpc_client *rc, uint64_t now);
WSP_API uint64_t wsp_rpc_client_next_deadline(const struct wsp_rpc_client *rc);
WSP_API int wsp_rpc_client_close(struct wsp_rpc_client *rc, int code,
                                 const char *reason);
WSP_API struct wsp_conn *
wsp_rpc_client_get_conn(const struct wsp_rpc_client *rc);
WSP_API void *wsp_rpc_client_get_user_data(const struct wsp_rpc_client *rc);

#ifdef __cplusplus
}
#endif

#endif /* WSP_RPC_CLIENT_H */
