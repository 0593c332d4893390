/* Private state of the hub, shared by server.c (connections, timers,
 * stats), cfproto.c (the Centrifuge JSON codec) and rpc.c. */
#ifndef WSP_SERVER_PRIVATE_H
#define WSP_SERVER_PRIVATE_H

#include "internal.h"
#include "json.h"
#include "wsp/corr.h"
#include "wsp/rpc.h"
#include "wsp/server.h"

enum { MODE_NONE, MODE_CODEC, MODE_RAW };

/* A path and the codec that serves it. */
struct wsp__route {
  char *path;
  struct wsp_codec codec;
  void *data;
};

struct wsp__method {
  char *name;
  void (*fn)(struct wsp_client *, uint64_t, const char *, const uint8_t *,
             size_t, void *);
  void *user_data;
};

struct wsp_server {
  struct wsp_mem mem;
  struct wsp_server_callbacks cb;
  void *user_data;
  uint64_t limits[WSP_SERVER_LIMIT__COUNT];
  /* routes[0] is the default protocol; each route is allocated on its own
   * and lives as long as the server, so clients may point into it. */
  struct wsp__route **routes;
  size_t nroutes;
  uint64_t now;
  struct wsp_client **heap; /* clients by next deadline */
  size_t nheap, capheap;
  struct wsp_client *first; /* every client, for shutdown and free */
  struct wsp_corr *rpc;     /* pending calls of every client */
  struct wsp__method *methods;
  size_t nmethods;
  struct wsp_server_stats stats;
};

struct wsp_client {
  struct wsp_server *srv;
  struct wsp_conn *conn;
  void *io_data;
  struct wsp_client *prev, *next;
  char *user;
  const struct wsp_codec *codec; /* when mode is MODE_CODEC */
  void *codec_data;
  size_t heap_idx; /* SIZE_MAX when not in the heap */
  uint64_t due;
  uint64_t stale_due, ping_due, pong_due;
  uint32_t *calls; /* ids of this client's pending RPCs */
  uint32_t ncalls, capcalls;
  struct wsp__jbuf batch; /* lines for the frame being built */
  char id[37];
  uint8_t mode;
  uint8_t connected : 1;
  uint8_t batching : 1;
  uint8_t in_request : 1;
  uint8_t over_limit : 1;
  uint8_t gone : 1;   /* the connection has ended */
  uint8_t opened : 1; /* the WebSocket opened: on_disconnect will fire */
  uint8_t awaiting_pong : 1;
  uint8_t free_pending : 1;
  uint8_t depth;
};

/* server.c */
uint64_t wsp__server_now(const struct wsp_server *srv);
void wsp__client_enter(struct wsp_client *cl);
void wsp__client_leave(struct wsp_client *cl);
void wsp__client_touch(struct wsp_client *cl);

/* cfproto.c */
extern const struct wsp_codec wsp__cf_codec;
/* Start a line of output; the caller writes one JSON object into the
 * returned buffer and calls wsp__cf_line_end(). */
struct wsp__jbuf *wsp__cf_line_begin(struct wsp_client *cl);
void wsp__cf_line_end(struct wsp_client *cl);
void wsp__cf_flush(struct wsp_client *cl);
int wsp__cf_close(struct wsp_client *cl, int code, const char *reason);
void wsp__cf_error_reply(struct wsp_client *cl, uint32_t id, uint32_t code,
                         const char *message, int temporary);

/* rpc.c */
void wsp__rpc_dispatch(struct wsp_client *cl, uint32_t cmd_id,
                       const char *method, const char *data, size_t len);
void wsp__rpc_client_gone(struct wsp_client *cl);
void wsp__rpc_free_methods(struct wsp_server *srv);

#endif /* WSP_SERVER_PRIVATE_H */
