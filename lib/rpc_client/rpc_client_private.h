/*
 * Private parts of the client role: the client object, shared by
 * client.c (the connection, commands and their replies), channels.c
 * (the channel API) and subs.c (the subscriptions: their records,
 * positions and callbacks). channels.c calls client.c and subs.c;
 * client.c calls subs.c; subs.c calls neither: it writes a subscribe
 * request into a buffer and reads results and pushes, and client.c
 * issues, correlates and closes.
 */
#ifndef WSP_RPC_CLIENT_PRIVATE_H
#define WSP_RPC_CLIENT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "wsp/corr.h"
#include "wsp/rpc_client.h"
#include "json/json_private.h"

enum { WSP__RCSUB_SUBSCRIBING = 1, WSP__RCSUB_SUBSCRIBED };

struct wsp__rcsub {
  struct wsp__rcsub *next;
  struct wsp_rpc_client_sub_callbacks cb;
  void *user_data;
  char *channel; /* NUL-terminated */
  size_t len;
  char *token, *data; /* from the options, or NULL */
  uint64_t timeout_ms;
  struct wsp_rpc_client_pos pos;
  uint32_t cmd_id; /* the subscribe command in flight, or 0 */
  uint8_t state;
  uint8_t positioned, recoverable, join_leave;
  uint8_t recover; /* the next subscribe recovers from pos */
  uint8_t dead;    /* on_unsubscribed fired; freed when the client is idle */
};

struct wsp_rpc_client {
  struct wsp_mem mem;
  struct wsp_rpc_client_callbacks cb;
  void *user_data;
  struct wsp_conn *conn;
  struct wsp_corr *corr;
  struct wsp__jbuf waiting; /* commands queued before the open */
  char *connect_data, *token;
  struct wsp__rcsub *subs;
  struct wsp_rpc_client_stats stats;
  uint64_t now;
  uint8_t opened;
  uint8_t depth;
  uint8_t free_pending; /* freed inside a callback: free when idle */
  uint8_t freeing;      /* being freed: no more commands */
};

enum { K_RPC, K_CONNECT, K_SUB, K_UNSUB, K_RESULT }; /* kinds of command */

typedef void call_cb(struct wsp_rpc_client *, int, const uint8_t *, size_t,
                     void *);

/* ---- client.c --------------------------------------------------------- */

/* Around every API call: the outermost one frees what was freed or
 * ended meanwhile. */
void wsp__rpc_client_enter(struct wsp_rpc_client *rc);
void wsp__rpc_client_leave(struct wsp_rpc_client *rc);
/* 0 when commands can be made, else why not. */
int wsp__rpc_client_can_command(const struct wsp_rpc_client *rc);
/* Issue the command cmd (WSP_PROTO_CMD_*) with the request object req,
 * its reply going to an entry of kind (K_*, with cb for K_RPC and
 * K_RESULT) and its id to *pid when not NULL. If this fails, nothing
 * fires. */
int wsp__rpc_client_command(struct wsp_rpc_client *rc, int cmd,
                            const struct wsp__jbuf *req, int kind,
                            uint64_t timeout, call_cb *cb, void *user_data,
                            uint32_t *pid);
/* Send the subscribe command of s (again). */
int wsp__rpc_client_subscribe_cmd(struct wsp_rpc_client *rc,
                                  struct wsp__rcsub *s);

/* ---- subs.c ----------------------------------------------------------- */

/* The live (not ended) subscription to the channel named by the JSON
 * string v, or by name[0..len), or NULL. */
struct wsp__rcsub *wsp__rcsub_find_json(const struct wsp_rpc_client *rc,
                                        const struct wsp__json_val *v);
struct wsp__rcsub *wsp__rcsub_find(const struct wsp_rpc_client *rc,
                                   const char *name, size_t len);
/* The live subscription whose subscribe command has id, or NULL. */
struct wsp__rcsub *wsp__rcsub_by_cmd(const struct wsp_rpc_client *rc,
                                     uint32_t id);
/* A new record, first in the list, in state SUBSCRIBING. */
int wsp__rcsub_add(struct wsp_rpc_client *rc, const char *channel, size_t len,
                   const struct wsp_rpc_client_sub_opts *opts,
                   const struct wsp_rpc_client_sub_callbacks *cb,
                   void *user_data, struct wsp__rcsub **out);
/* The subscribe request object of s. */
void wsp__rcsub_write(const struct wsp__rcsub *s, struct wsp__jbuf *jb);
/* The subscribe result object res[0..len) for s: on_subscribed, then the
 * replayed publications. 0, or WSP_ERR_PROTO (nothing fired) when the
 * result is malformed. */
int wsp__rcsub_result(struct wsp_rpc_client *rc, struct wsp__rcsub *s,
                      const char *res, size_t len);
/* A push object with a channel: pub, join, leave or unsubscribe. 0, or
 * WSP_ERR_PROTO (nothing fired) when malformed. *resub is set to a
 * subscription that must subscribe again (an unsubscribe push of 2500
 * and up), else NULL. */
int wsp__rcsub_push(struct wsp_rpc_client *rc, const char *push, size_t len,
                    struct wsp__rcsub **resub);
/* End s: on_unsubscribed fires with code and reason; the record is
 * freed by wsp__rcsub_sweep(). */
void wsp__rcsub_end(struct wsp_rpc_client *rc, struct wsp__rcsub *s, int code,
                    const char *reason);
/* End every live subscription with code. */
void wsp__rcsub_end_all(struct wsp_rpc_client *rc, int code);
/* Free the records of ended subscriptions. */
void wsp__rcsub_sweep(struct wsp_rpc_client *rc);

#endif /* WSP_RPC_CLIENT_PRIVATE_H */
