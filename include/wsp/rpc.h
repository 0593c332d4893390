/*
 * libwsp - rpc.h: request/response over the server hub. Handlers are
 * registered by method name; each call gets a handle the application
 * answers through, at once or later. Handles are plain numbers, so
 * answering a call whose connection has gone is safe (and counted).
 */
#ifndef WSP_RPC_H
#define WSP_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "corr.h"
#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A call is named by a uint64_t handle (never 0). The handler gets the
 * request's raw JSON value in data (len 0 when absent), valid during the
 * call, and answers with wsp_rpc_reply() or wsp_rpc_error(), now or later.
 */
WSP_API int wsp_rpc_register(struct wsp_server *server, const char *method,
                             void (*handler)(struct wsp_client *client,
                                             uint64_t call,
                                             const char *method,
                                             const uint8_t *data, size_t len,
                                             void *user_data),
                             void *user_data);
WSP_API int wsp_rpc_unregister(struct wsp_server *server, const char *method);
/* data must be one valid JSON value (or len 0 for no data). */
WSP_API int wsp_rpc_reply(struct wsp_server *server, uint64_t call,
                          const void *data, size_t len);
/* code: 400-1999 for applications (the protocol reserves 100-399). */
WSP_API int wsp_rpc_error(struct wsp_server *server, uint64_t call,
                          uint32_t code, const char *message, int temporary);

#ifdef __cplusplus
}
#endif

#endif /* WSP_RPC_H */
