/*
 * libwsp - push.h: server push. Message pushes (the protocol's message
 * push, carrying a JSON value) to one connection, every connection of a
 * user, a group of users, or everyone; and disconnecting a user. Each
 * push is encoded once and queued to every target by reference; a target
 * whose output passes WSP_SERVER_MAX_QUEUED is closed with 3008.
 */
#ifndef WSP_PUSH_H
#define WSP_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* To one connected client (the same as wsp_client_push_message). */
WSP_API int wsp_push_client(struct wsp_client *client, const void *data,
                            size_t len);
/* To every connection of user; returns how many got it. */
WSP_API long wsp_push_user(struct wsp_server *server, const char *user,
                           const void *data, size_t len);
/* To every connection of each of n users. */
WSP_API long wsp_push_users(struct wsp_server *server,
                            const char *const *users, size_t n,
                            const void *data, size_t len);
/* To every connected client. */
WSP_API long wsp_push_broadcast(struct wsp_server *server, const void *data,
                                size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WSP_PUSH_H */
