/* Private state of the hub: the core (server.c, users.c, pending.c),
 * its composition (hub.c) and its modules (channels.c, history.c,
 * token.c, presence.c, push.c, rpc.c, server_session.c, metrics.c). The default
 * protocol's own declarations are in cf_private.h. */
#ifndef WSP_HUB_PRIVATE_H
#define WSP_HUB_PRIVATE_H

#include "internal.h"
#include "wsp/corr.h"
#include "wsp/evlog.h"
#include "wsp/proto.h"
#include "wsp/pubsub.h"
#include "wsp/push.h"
#include "wsp/rpc.h"
#include "wsp/server.h"
#include "json/json_private.h"

#include "centrifuge/cf_private.h"

/* ---- metrics.c: the hub's metrics beyond struct wsp_server_stats ------
 * Commands by name, closes by code and two latency histograms, kept in
 * fixed arrays inside struct wsp_server; metrics.c writes them, with the
 * stats and the gauges it reads from the clients, as Prometheus text
 * (wsp_server_write_metrics(3)). Counting is an increment, an
 * observation a search among a few bucket bounds: nothing allocates. */

/* Histogram buckets: their upper bounds (ms) are in metrics.c; one more
 * bucket counts what is above the last bound (+Inf). */
#define WSP__METRICS_BUCKETS 14

struct wsp__metrics_hist {
  uint64_t count[WSP__METRICS_BUCKETS + 1]; /* per bucket, not cumulative */
  uint64_t sum_ms;
};

/* The WebSocket close codes counted one by one (conn.h names them); the
 * protocol's disconnect codes (proto.h) follow, then "other" for any
 * code in neither list, so the label set is fixed. */
#define WSP__METRICS_WS_CLOSES(X)                                              \
  X(NORMAL)                                                                    \
  X(GOING_AWAY)                                                                \
  X(PROTOCOL_ERROR)                                                            \
  X(UNSUPPORTED)                                                               \
  X(NO_STATUS)                                                                 \
  X(ABNORMAL)                                                                  \
  X(INVALID_PAYLOAD)                                                           \
  X(POLICY)                                                                    \
  X(TOO_BIG)                                                                   \
  X(INTERNAL_ERROR)

#define WSP__METRICS_WS_SLOT(name) WSP__METRICS_CLOSE_WS_##name,
#define WSP__METRICS_CF_SLOT(name, code, text) WSP__METRICS_CLOSE_CF_##name,
enum wsp__metrics_close {
  WSP__METRICS_WS_CLOSES(WSP__METRICS_WS_SLOT)
      WSP_PROTO_DISCONNECT_LIST(WSP__METRICS_CF_SLOT) WSP__METRICS_CLOSE_OTHER,
  WSP__METRICS_CLOSE__COUNT
};
#undef WSP__METRICS_WS_SLOT
#undef WSP__METRICS_CF_SLOT

/* The slot of the empty command (the pong answering a server ping), after
 * the protocol's commands. */
#define WSP__METRICS_PONG WSP_PROTO_CMD__COUNT

struct wsp__metrics {
  uint64_t commands[WSP_PROTO_CMD__COUNT + 1]; /* by WSP_PROTO_CMD_* */
  uint64_t closes[WSP__METRICS_CLOSE__COUNT];
  struct wsp__metrics_hist rpc;    /* RPC call to reply, ms */
  struct wsp__metrics_hist fanout; /* publication to pub push queued, ms */
};

/* A command line was read: kind is a WSP_PROTO_CMD_* or, for the empty
 * command, WSP__METRICS_PONG. */
static inline void wsp__metrics_command(struct wsp__metrics *m, int kind) {
  if (kind >= 0 && kind <= WSP__METRICS_PONG)
    m->commands[kind]++;
}

/* A WebSocket ended with code. */
static inline void wsp__metrics_close(struct wsp__metrics *m, int code) {
  switch (code) {
#define WSP__METRICS_WS_CASE(name)                                             \
  case WSP_CLOSE_##name:                                                       \
    m->closes[WSP__METRICS_CLOSE_WS_##name]++;                                 \
    return;
#define WSP__METRICS_CF_CASE(name, num, text)                                  \
  case num:                                                                    \
    m->closes[WSP__METRICS_CLOSE_CF_##name]++;                                 \
    return;
    WSP__METRICS_WS_CLOSES(WSP__METRICS_WS_CASE)
    WSP_PROTO_DISCONNECT_LIST(WSP__METRICS_CF_CASE)
#undef WSP__METRICS_WS_CASE
#undef WSP__METRICS_CF_CASE
  default:
    m->closes[WSP__METRICS_CLOSE_OTHER]++;
  }
}

/* n observations of ms each. */
void wsp__metrics_observe(struct wsp__metrics_hist *h, uint64_t ms, uint64_t n);
/* Add what a histogram of the same buckets holds (from 0 to what). */
void wsp__metrics_merge(struct wsp__metrics_hist *into,
                        const struct wsp__metrics_hist *what);
/* The time from then to now (0 when the clock went back). */
static inline uint64_t wsp__metrics_since(uint64_t then, uint64_t now) {
  return now > then ? now - then : 0;
}

enum { MODE_NONE, MODE_CODEC, MODE_RAW };

/* A path and the codec that serves it. */
struct wsp__route {
  char *path;
  struct wsp_codec codec;
  void *data;
  uint8_t exclusive; /* the library's protocol: no wsp_client_send_raw() */
};

/*
 * What the hub core (server.c) needs from the modules and from the
 * default protocol, filled in by hub.c: the core calls them through this
 * table so that it depends on neither. Each is called for every client.
 */
struct wsp__hub_ops {
  void (*client_init)(struct wsp_client *cl); /* accepted */
  /* The connection ended, before the codec and the application hear of
   * it: subscriptions end (leave pushes go out while it is connected). */
  void (*client_gone)(struct wsp_client *cl);
  void (*client_free)(struct wsp_client *cl);
  /* After on_request: 1 when the upgrade was refused (answered). */
  int (*request_refused)(struct wsp_client *cl, const struct wsp_request *req);
  /* 1 when a cookie-authenticated upgrade with req's Origin would be
   * allowed (decided when the upgrade is deferred). */
  int (*origin_ok)(const struct wsp_client *cl, const struct wsp_request *req);
  /* The upgrade was taken on the protocol's own route (not yet
   * answered): the protocol may choose a subprotocol. */
  void (*proto_accept)(struct wsp_client *cl);
  void (*sent)(struct wsp_client *cl); /* output was written */
  /* The modules' own timers (wsp_server_tick, wsp_server_next_deadline). */
  void (*tick)(struct wsp_server *s, uint64_t now);
  uint64_t (*next_deadline)(const struct wsp_server *s);
  /* The protocol: the connection ended; before a close frame, what the
   * client is owed leaves; the close frame was queued. */
  void (*proto_gone)(struct wsp_client *cl);
  void (*proto_flush)(struct wsp_client *cl);
  void (*proto_closed)(struct wsp_client *cl);
};

struct wsp__method {
  char *name;
  void (*fn)(struct wsp_client *, uint64_t, const char *, const uint8_t *,
             size_t, void *);
  void *user_data;
};

/* What a subscribe asked for about its position (history.c). */
struct wsp__recover {
  uint8_t recover; /* recover: true */
  uint8_t reject;  /* flag bit 2: UNRECOVERABLE_POSITION instead of
                      recovered: false */
  uint64_t offset;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
};

/* A request waiting for the application: an RPC call, or a subscribe
 * that on_subscribe left for later. An entry of the server's wsp_corr
 * (pending.c). */
/* PENDING_SYNC: a subscription waiting for its position from the engine;
 * PENDING_EPUB, PENDING_EHIST: a publish and a history command waiting
 * for the engine (counted as RPCs). */
enum { PENDING_RPC, PENDING_SUB, PENDING_SYNC, PENDING_EPUB, PENDING_EHIST };
struct wsp__pending;
/* The completion of an entry: its reply (status STATUS_*) or
 * WSP_ERR_TIMEOUT; never called once the connection has gone or the
 * entry was cancelled. The entry is freed after it returns. */
typedef void wsp__pending_done_fn(struct wsp__pending *p, int status,
                                  const void *data, size_t len);
struct wsp__pending {
  struct wsp_client *cl;
  wsp__pending_done_fn *done;
  uint32_t cmd_id;
  uint8_t kind;
  uint8_t join_leave;
  char *channel; /* PENDING_SUB */
  size_t len;
  struct wsp__recover recover; /* PENDING_SUB */
  uint64_t expires_at; /* PENDING_SUB: its subscription token's expiry */
  uint64_t started;    /* when the command came (the hub's clock) */
  struct wsp__csub *cs; /* PENDING_SYNC */
  struct wsp__tags_filter *filter; /* PENDING_SUB: its tags filter */
  uint8_t delta;                   /* PENDING_SUB: fossil asked for */
  uint8_t list;         /* PENDING_EHIST for presence: list, not stats */
};

/* Completion statuses of pending requests in the server's wsp_corr. */
enum { STATUS_REPLY = 0, STATUS_ERROR = 1, STATUS_SUB_ANSWER = 2 };

/* How a pending subscribe was answered (the data of its completion). */
struct wsp__sub_answer {
  uint32_t code; /* 0: allowed */
  unsigned flags;
  const char *chan_info;
};

/* Subscribe handles carry this bit, so that an RPC handle is never taken
 * for one, nor the other way round. */
#define WSP__SUB_HANDLE ((uint64_t)1 << 32)

/* One subscription of one client; the subscriber pubsub sees. */
struct wsp__csub {
  struct wsp_client *cl;
  char *channel;
  size_t len;
  char *chan_info;    /* JSON value or NULL */
  uint8_t join_leave; /* wants join/leave pushes */
  uint8_t wildcard;
  uint8_t positioned;  /* a channel with history: next and epoch hold */
  uint8_t lagging;     /* its output was full: fed from the log from next */
  uint8_t early;       /* made while connecting: the connect reply tells */
  uint8_t server_side; /* made by the server: a lost state closes 3010 */
  char *push_data;     /* JSON for its subscribe push (server-side), or NULL */
  struct wsp__tags_filter *filter; /* its tags filter (tf), or NULL */
  uint8_t delta;                   /* fossil delta negotiated (delta.c) */
  uint8_t delta_base;  /* its client holds the previous publication */
  uint64_t expires_at; /* its subscription token's expiry (ms); 0: none */
  uint64_t next;       /* the offset this subscriber expects next */
  uint64_t epoch;      /* hash of the stream's epoch it follows */
  struct wsp__csync *sync; /* waiting for the engine (channels.c) */
};

/* Where a publication went in the log (history.c). */
struct wsp__hpos {
  uint64_t offset;
  uint64_t time;                            /* its time in the log */
  uint64_t epoch;                           /* hash of the epoch */
  char epoch_text[WSP_EVLOG_EPOCH_MAX + 1]; /* the epoch itself */
};

/* The hub's event log: wsp_server_set_history(). */
struct wsp__history {
  struct wsp_evlog *log;
  struct wsp_evlog_retention retention;
  int (*history_for)(const char *, size_t, struct wsp_evlog_retention *,
                     void *);
  void *user_data;
  uint32_t recovery_max, history_max;
  uint64_t (*clock)(void *);
  uint8_t configured; /* set, with or without a log (an engine keeps it) */
};

/*
 * The engine: where publications go and channel history lives when they
 * are not only this process's (lib/redis). Without one (s->engine NULL)
 * the hub fans out in process and keeps history in its wsp_evlog,
 * synchronously. With one, every publication goes to the engine, which
 * brings it back (from whichever node published it) through
 * wsp__ch_engine_deliver(); the hub subscribes the engine to each channel
 * and pattern its clients use, and reads positions and history from it.
 * Requests are completed later, never inside the call that made them,
 * by token: an id in the server's wsp_corr, so that a completion for a
 * request whose client has gone finds nothing.
 */
struct wsp__epub {
  const char *channel;
  size_t clen;
  const char *data;
  size_t dlen;
  const char *info; /* ClientInfo JSON or NULL */
  int history;      /* stored, under retention */
  struct wsp_evlog_retention retention;
};

enum {
  WSP__EREAD_READY,    /* nothing: the channel's subscription is active */
  WSP__EREAD_POSITION, /* the stream's top and epoch (made when absent) */
  WSP__EREAD_RECOVER,  /* the position and the events after offset, when
                          epoch matches and at most max are missing */
  WSP__EREAD_HISTORY,  /* the position and up to max events */
  WSP__EREAD_PRESENCE  /* the channel's presence on every node */
};

struct wsp__eread {
  int kind;
  uint64_t offset;   /* RECOVER: the client's; HISTORY: since */
  const char *epoch; /* RECOVER: the client's epoch ("" none) */
  uint32_t max;      /* events at most */
  uint8_t reverse;   /* HISTORY: newest first */
  uint8_t has_since; /* HISTORY: from offset (exclusive) */
  uint8_t pattern;   /* READY: ch is a pattern */
  struct wsp_evlog_retention retention; /* of the channel */
};

/* What a read found; valid during the completion. pos.first is the
 * oldest offset kept when known, else 0. */
struct wsp__eresult {
  struct wsp_evlog_position pos;
  const struct wsp_evlog_event *events;
  size_t n;
  /* PRESENCE: client id and ClientInfo JSON of each member */
  const struct wsp_str *members; /* 2 * nmembers */
  size_t nmembers;
};

struct wsp__engine {
  void *data;
  /* Publish p; completed by wsp__ch_engine_published(token). */
  int (*publish)(void *data, const struct wsp__epub *p, uint32_t token);
  /* This node has a subscriber on ch (exact, or a pattern of
   * pubsub.h), or no more: counted by the engine, which subscribes on
   * the first and unsubscribes after the last. */
  int (*subscribe)(void *data, const char *ch, size_t len, int pattern);
  void (*unsubscribe)(void *data, const char *ch, size_t len, int pattern);
  /* Read; completed by wsp__ch_engine_read_done(token) after the channel's
   * subscription is active, so that nothing published after the read
   * can be missed. */
  int (*read)(void *data, const char *ch, size_t len,
              const struct wsp__eread *rq, uint32_t token);
  /* The server is freed or takes another engine: no more completions. */
  void (*detach)(void *data);
  /* Presence: client (its id) is in ch with the ClientInfo JSON info
   * for ttl ms, refreshed before then; info NULL: it left. */
  int (*presence)(void *data, const char *ch, size_t len, const char *client,
                  const char *info, size_t ilen, uint64_t ttl);
  /* A join or leave push for the subscribers of ch on every node;
   * brought back through wsp__ch_engine_join_leave(). */
  int (*join_leave)(void *data, const char *ch, size_t len, const char *info,
                    size_t ilen, int join);
  /* An order for every other node (control.c), brought back there
   * through wsp__hub_control(). */
  int (*control)(void *data, const char *msg, size_t len);
};

/* How long an engine keeps a presence entry, and how often the hub
 * refreshes its own (ms). */
#define WSP__PRESENCE_TTL 60000
#define WSP__PRESENCE_REFRESH 20000

/* control.c: orders for the other nodes. */
enum {
  WSP__CTL_DISCONNECT_USER = 'D',
  WSP__CTL_DISCONNECT_SESSION = 'S',
  WSP__CTL_SUBSCRIBE_USER = 'U',
  /* with options: B is CLEN:CHANNEL ILEN:INFO DATA (no spaces) */
  WSP__CTL_SUBSCRIBE_USER_WITH = 'W',
  /* B: the new expiry as ms from now, "0" for none, "x" for expired */
  WSP__CTL_REFRESH_USER = 'R',
  WSP__CTL_UNSUBSCRIBE_USER = 'X',
  WSP__CTL_MESSAGE_USER = 'M',
  WSP__CTL_BROADCAST = 'B'
};
/* Send the order kind (code, a: a C string, b: blen bytes) to the other
 * nodes; nothing without an engine. */
void wsp__ctl_send(struct wsp_server *s, int kind, int code, const char *a,
                   const char *b, size_t blen);
/* hub.c: an order from another node, done here. */
void wsp__hub_control(struct wsp_server *s, const char *msg, size_t len);
/* push.c: what an order does on this node; the count of connections. */
long wsp__push_apply(struct wsp_server *s, int kind, int code, const char *a,
                     const char *b, size_t blen);

/* channels.c: the hub's side of the engine. */
void wsp__ch_engine_set(struct wsp_server *s, const struct wsp__engine *e);
void wsp__ch_engine_published(struct wsp_server *s, uint32_t token, int err,
                              uint64_t offset, const char *epoch);
void wsp__ch_engine_read_done(struct wsp_server *s, uint32_t token, int err,
                              const struct wsp__eresult *r);
/* A publication for the subscribers of this node: of the exact channel
 * when pattern is NULL, else of that pattern only; hp is where it is in
 * the channel's stream, or NULL. */
void wsp__ch_engine_deliver(struct wsp_server *s, const char *ch, size_t clen,
                            const char *pattern, size_t plen, const char *data,
                            size_t dlen, const char *info,
                            const struct wsp__hpos *hp);
/* The engine may have missed publications (its PUB/SUB link was lost):
 * every subscription ends with INSUFFICIENT_STATE, so that clients
 * resubscribe and recover. */
void wsp__ch_engine_lost(struct wsp_server *s);
/* A join or leave of ch from the engine: info is the ClientInfo JSON. */
void wsp__ch_engine_join_leave(struct wsp_server *s, const char *ch, size_t len,
                               const char *info, size_t ilen, int join);
/* Refresh this node's presence entries when due. */
void wsp__ch_engine_tick(struct wsp_server *s, uint64_t now);
uint64_t wsp__ch_engine_next_deadline(const struct wsp_server *s);

/* Results of idempotent publications (idempotency.c). */
struct wsp__idem;
struct wsp__idem_table {
  struct wsp__idem **buckets;
  size_t nbuckets, count;
  struct wsp__heap heap; /* by when they are forgotten */
};
/* A channel (at most 1023 bytes), a NUL and a key (at most 255). */
#define WSP__IDEM_KEY_MAX 1280

/* The hub's token configuration (token.c); NULL when off. */
struct wsp__tokens {
  struct wsp_server_tokens cfg; /* strings point to the copies below */
  char *audience, *issuer, *prefix;
  size_t prefix_len;
};

struct wsp_server {
  struct wsp_mem mem;
  const struct wsp__hub_ops *ops;
  struct wsp_server_callbacks cb;
  void *user_data;
  uint64_t limits[WSP_SERVER_LIMIT__COUNT];
  /* What every connection shares: callbacks, allocator, limits. */
  struct wsp_conn_profile *profile;
  /* routes[0] is the default protocol; each route is allocated on its own
   * and lives as long as the server, so clients may point into it. */
  struct wsp__route **routes;
  size_t nroutes;
  /* The wall clock (Unix ms) of wsp_server_set_wall_clock(), or NULL:
   * with it, connect results and publications carry time. */
  uint64_t (*wall)(void *user_data);
  void *wall_ud;
  uint64_t now;
  struct wsp__heap heap;       /* clients by next deadline */
  struct wsp_client *first;    /* every client, for shutdown and free */
  struct wsp_corr *rpc;        /* pending requests of every client */
  struct wsp_pubsub *channels; /* subscribers: struct wsp__csub */
  struct wsp_pubsub *users;    /* key: hex of the user id; subscribers:
                                  struct wsp_client */
  unsigned channel_flags;
  struct wsp__history hist;
  struct wsp__method *methods;
  size_t nmethods;
  struct wsp__tokens *tokens;
  char **origins; /* allowed besides the server's own */
  size_t norigins;
  unsigned origin_policy;
  struct wsp_server_stats stats;
  struct wsp__metrics metrics; /* beyond stats: metrics.c */
  struct wsp__idem_table idem; /* idempotent publications */
  const struct wsp__engine *engine; /* NULL: the embedded one */
  uint64_t presence_due;            /* the engine's presence refresh */
  struct wsp__cf_pb_frames pb_frames; /* for Protobuf clients: cf_out.c */
};

struct wsp_client {
  struct wsp_server *srv;
  struct wsp_conn *conn;
  void *io_data;
  struct wsp_client *prev, *next;
  char *user;
  const struct wsp_codec *codec; /* when mode is MODE_CODEC */
  void *codec_data;
  struct wsp__heap_node hn;        /* key: the next deadline */
  uint64_t expires_at, expire_due; /* credentials; EXPIRED at expire_due */
  uint64_t sub_due;                /* the first subscription token to expire
                                      (EXPIRED) */
  char *info;                      /* connection info (JSON) or NULL */
  char *tok_channels; /* "channels" of its token (JSON array) or NULL */
  char *session;      /* the session cookie that authenticated it */
  uint32_t *calls;    /* ids of this client's pending requests */
  uint32_t ncalls, capcalls;
  uint32_t nrpc, nsubwait; /* of those: calls, and subscribes waiting */
  struct wsp__csub **subs;
  uint32_t nsubs, capsubs;
  uint32_t nlagging; /* subscriptions fed from the log (history.c) */
  struct wsp__cf_client cf;
  char id[37];
  uint8_t mode;
  uint8_t in_request : 1;
  uint8_t over_limit : 1;
  uint8_t gone : 1;   /* the connection has ended */
  uint8_t opened : 1; /* the WebSocket opened: on_disconnect will fire */
  uint8_t free_pending : 1;
  uint8_t deferred : 1;  /* an HTTP request answered later */
  uint8_t upgrade : 1;   /* deferred: a valid upgrade on a route */
  uint8_t origin_ok : 1; /* deferred: its Origin passes the policy */
  uint8_t depth;
};

static inline uint64_t wsp__server_now(const struct wsp_server *srv) {
  return srv->cb.now ? srv->cb.now(srv->user_data) : srv->now;
}

/* server.c: the hub core */
int wsp__server_init(struct wsp_server **ps,
                     const struct wsp_server_callbacks *callbacks,
                     const struct wsp_mem *mem, uint64_t now, void *user_data,
                     const struct wsp__hub_ops *ops);
/* Serve path with codec; exclusive for the library's own protocol. */
int wsp__server_add_route(struct wsp_server *s, const char *path,
                          const struct wsp_codec *codec, void *codec_data,
                          int exclusive);
/* End and free every client (their on_disconnect fires with 1001). */
void wsp__server_close_all(struct wsp_server *s);
/* Free what wsp__server_init() made. */
void wsp__server_destroy(struct wsp_server *s);
/* Close with code and reason (cut to fit) after what the client is
 * owed. */
int wsp__client_close(struct wsp_client *cl, int code, const char *reason);
void wsp__client_enter(struct wsp_client *cl);
void wsp__client_leave(struct wsp_client *cl);
void wsp__client_touch(struct wsp_client *cl);

/* channels.c */
void wsp__ch_command(struct wsp_client *cl, int kind, uint32_t id,
                     const struct wsp__json_val *req);
void wsp__ch_client_gone(struct wsp_client *cl);
/* Queue a shared frame to a connected client; closes it with SLOW
 * when its output is over the cap. 1 when queued. */
int wsp__ch_deliver(struct wsp_client *cl, struct wsp_frame *f);
/* The same, but a full output or a failed allocation is returned
 * (WSP_ERR_QUEUE_FULL, WSP_ERR_NOMEM) instead of closing the connection;
 * 1 when queued, 0 or an error otherwise. */
int wsp__ch_try_deliver(struct wsp_client *cl, struct wsp_frame *f);

/* presence.c: answer presence (list) or presence_stats for a subscriber. */
void wsp__presence_command(struct wsp_client *cl, int list, uint32_t id,
                           const char *ch, size_t len);
/* channels.c: end a subscription with the unsubscribe push of code
 * (WSP_PROTO_UNSUBSCRIBE_*) and its reason. */
void wsp__ch_drop(struct wsp__csub *cs, int code);

/* history.c */
/* The hash of an epoch that subscribers keep (struct wsp__hpos). */
uint64_t wsp__hist_epoch_hash(const char *epoch);
/* 1 when the exact channel has history (its stream then exists with the
 * channel's retention), 0 when not, or a negative WSP_ERR_*. */
int wsp__hist_on(struct wsp_server *s, const char *ch, size_t len);
/* Now on the log's clock (the server's unless one was given), and the
 * log's next deadline on the server's clock. */
uint64_t wsp__hist_now(const struct wsp_server *s);
uint64_t wsp__hist_next_deadline(const struct wsp_server *s);
/* The protocol error for a negative wsp__hist_on()/wsp__hist_append(). */
uint32_t wsp__hist_error(int rc);
/* 1 and the channel's retention in *r when the exact channel ch has
 * history (in the log or the engine), 0 when not. */
int wsp__hist_want(struct wsp_server *s, const char *ch, size_t len,
                   struct wsp_evlog_retention *r);
/* wsp__hist_subscribed() with the position (and for a recovery the
 * events) the engine read. */
uint32_t wsp__hist_engine_subscribed(struct wsp_client *cl,
                                     struct wsp__csub *cs, uint32_t id,
                                     const struct wsp__recover *rq,
                                     const struct wsp__eresult *res);
/* Append a publication; nothing is acknowledged unless this returned 0. */
int wsp__hist_append(struct wsp_server *s, const char *ch, size_t len,
                     const char *data, size_t dlen, const char *info,
                     struct wsp__hpos *pos);
/* The subscribe result (id > 0), the subscribe push (id 0) or, when into
 * is not NULL, the member of a connect result's subs map (appended to
 * into) of cs on a channel with history, with recovery when rq asks for
 * it. 0 when written; a protocol error code when the subscription must be
 * refused. */
uint32_t wsp__hist_subscribed(struct wsp_client *cl, struct wsp__csub *cs,
                              uint32_t id, const struct wsp__recover *rq,
                              struct wsp__jbuf *into);
/* What a live publication means for a positioned subscriber: 1 deliver
 * (the caller advances cs->next once it is queued), 0 a duplicate to
 * skip, -1 a gap (the subscriber must resubscribe). */
int wsp__hist_live(struct wsp__csub *cs, const struct wsp__hpos *pos);
/* Read what a subscribe asked about its position. */
int wsp__hist_parse_recover(const struct wsp__json_val *req,
                            struct wsp__recover *rq);
/* The connect's subs map: 0 when every entry is a position that
 * wsp__hist_parse_recover() reads, WSP_ERR_JSON otherwise (BAD_REQUEST).
 */
int wsp__hist_check_subs(const struct wsp__json_val *subs);
/* The position a checked subs map (or NULL) gives for channel ch. */
void wsp__hist_connect_recover(const struct wsp__json_val *subs, const char *ch,
                               struct wsp__recover *rq);
/* A positioned subscriber whose output is full at the publication at
 * offset: from now on it keeps only that position. */
void wsp__hist_lag(struct wsp__csub *cs, uint64_t offset);
void wsp__hist_unlag(struct wsp__csub *cs);
/* Feed lagging subscriptions of cl from the log while its output is
 * below the high-water mark. */
void wsp__hist_feed(struct wsp_client *cl);
void wsp__hist_command(struct wsp_client *cl, uint32_t id, const char *ch,
                       size_t len, const struct wsp__json_val *req);

/* channels.c, for token.c */
struct wsp__csub *wsp__ch_find(const struct wsp_client *cl, const char *ch,
                               size_t len);
void wsp__ch_expire(struct wsp_client *cl, struct wsp__csub *cs);
int wsp__ch_subscribe_server(struct wsp_client *cl, const char *ch, size_t len);
/* tags.c: a publication's meta is its info JSON (or nothing), then, when
 * it has tags, '\n' and the tags object. */
struct wsp__tags_filter;
/* Split meta[0..len) (NULL: none) into info and tags (tags.ptr NULL when
 * there are none). */
void wsp__tags_split(const char *meta, size_t len, struct wsp_str *info,
                     struct wsp_str *tags);
/* 0 when tags is a JSON object of at most 64 string values in at most
 * 4096 bytes; WSP_ERR_JSON or WSP_ERR_LIMIT. */
int wsp__tags_check(const char *tags, size_t len);
/* info (or NULL), '\n' and tags as one C string on mem; NULL on OOM. */
char *wsp__tags_meta(const struct wsp_mem *mem, const char *info,
                     const char *tags);
/* Compile the FilterNode tf[0..len): 0, WSP_ERR_JSON for a filter that is
 * not one, WSP_ERR_NOMEM. */
int wsp__tags_compile(const struct wsp_mem *mem, const char *tf, size_t len,
                      struct wsp__tags_filter **out);
void wsp__tags_free(const struct wsp_mem *mem, struct wsp__tags_filter *f);
/* 1 when the publication whose meta is meta[0..len) passes f (NULL: any
 * does), 0 when it is filtered out. */
int wsp__tags_match(const struct wsp__tags_filter *f, const char *meta,
                    size_t len);
/* A publication's tags decoded once, for the filters of many
 * subscribers (a fan-out): load it, then match it against each. */
#define WSP__TAGS_MAX 64         /* tags of one publication */
#define WSP__TAGS_MAX_BYTES 4096 /* their JSON text */
struct wsp__tags_str {
  const char *p;
  size_t n;
};
struct wsp__tags_view {
  char buf[WSP__TAGS_MAX_BYTES];
  struct wsp__tags_str key[WSP__TAGS_MAX], val[WSP__TAGS_MAX];
  int n, partial; /* partial: more than a publication may carry */
};
void wsp__tags_view_load(struct wsp__tags_view *v, const char *meta,
                         size_t len);
int wsp__tags_match_view(const struct wsp__tags_filter *f,
                         const struct wsp__tags_view *v);

/* delta.c: the two frames of a publication for subscribers with delta
 * compression, made when first needed. */
struct wsp__delta_frames {
  struct wsp_frame *full, *delta;
  struct wsp_frame *full_pb, *delta_pb; /* for Protobuf subscribers */
  uint8_t tried_delta;
};
/* The frame for a delta subscriber of p (an exact channel's publication
 * with its offset): with base (its client holds the previous publication)
 * the delta from it when one is worth it, else the data whole as a
 * string; with protobuf, the same in Protobuf. NULL when out of memory. */
struct wsp_frame *wsp__delta_frame(struct wsp_server *s,
                                   struct wsp__delta_frames *d,
                                   const struct wsp__cf_pub *p, int base,
                                   int protobuf);
void wsp__delta_frames_free(struct wsp__delta_frames *d);

/* 0 when a subscribe's options hold valid JSON, else WSP_ERR_JSON. */
int wsp__ch_subscribe_opts_check(const struct wsp_subscribe_opts *opts);
/* connect: the subscriptions made while connecting (token channels,
 * on_connect) are positioned, recovered from subs (the connect's map, or
 * NULL) and written as the members of the reply's subs map into out.
 * 0, or WSP_ERR_NOMEM when one failed (the connection must close). */
int wsp__ch_connected(struct wsp_client *cl, const struct wsp__json_val *subs,
                      struct wsp__jbuf *out);
/* connect refused: forget the subscriptions made while connecting. */
void wsp__ch_connect_failed(struct wsp_client *cl);

/* token.c */
void wsp__tok_free(struct wsp_server *s);
void wsp__tok_client_gone(struct wsp_client *cl);
/* The connect token: 0 accepted, an error code to reply (TOKEN_EXPIRED,
 * INTERNAL), or -1 when the connection was closed
 * (INVALID_TOKEN). */
int wsp__tok_connect(struct wsp_client *cl, const char *token, size_t len);
/* Before the connect reply: the token's server-side subscriptions. */
void wsp__tok_connected(struct wsp_client *cl);
/* refresh with the hub's tokens: as wsp__tok_connect. */
int wsp__tok_refresh(struct wsp_client *cl, const char *token, size_t len);
/* Is ch private? Then check the subscribe's token: 0 allowed (with
 * *expires_at), or an error code (PERMISSION_DENIED, TOKEN_EXPIRED,
 * INTERNAL). */
int wsp__tok_sub_check(struct wsp_client *cl, const char *ch, size_t len,
                       const struct wsp__json_val *req, uint64_t *expires_at);
void wsp__tok_sub_refresh(struct wsp_client *cl, uint32_t id,
                          const struct wsp__json_val *req);
/* Unsubscribe (EXPIRED) the subscriptions whose token expired. */
void wsp__tok_tick(struct wsp_client *cl, uint64_t now);
void wsp__tok_sub_due(struct wsp_client *cl);

/* users.c: the index of connections by user id. */
/* Move cl from the user old to user (either may be NULL or ""); removing
 * never fails. */
int wsp__users_set(struct wsp_client *cl, const char *old, const char *user);
/* Call fn (a wsp_pubsub_publish callback, sub being the client) for every
 * connection of user; the count or a negative WSP_ERR_*. */
long wsp__users_each(struct wsp_server *s, const char *user,
                     void (*fn)(void *, const char *, size_t, void *),
                     void *ud);

/* server_session.c */
void wsp__sess_server_free(struct wsp_server *s);
/* Close every connection of session on this node. */
long wsp__sess_disconnect(struct wsp_server *s, const char *session, int code,
                          const char *reason);

/* idempotency.c: 1 and *res when channel and key published within
 * WSP_SERVER_IDEMPOTENCY_TTL, 0 when not, WSP_ERR_INVAL for a key too
 * long; then remember a publication's result. */
int wsp__idem_find(struct wsp_server *s, const char *ch, const char *key,
                   struct wsp_publish_result *res);
int wsp__idem_store(struct wsp_server *s, const char *ch, const char *key,
                    const struct wsp_publish_result *res);
void wsp__idem_tick(struct wsp_server *s, uint64_t now);
uint64_t wsp__idem_next_deadline(const struct wsp_server *s);
void wsp__idem_free(struct wsp_server *s);
void wsp__sess_client_free(struct wsp_client *cl);
/* After on_request: 1 when the upgrade was refused (403). */
int wsp__sess_origin_refused(struct wsp_client *cl,
                             const struct wsp_request *req);
/* The origin policy's verdict on req, as if it carried a session. */
int wsp__sess_origin_ok(const struct wsp_client *cl,
                        const struct wsp_request *req);

/* pending.c */
/* Start a pending request of kind (PENDING_*) for the command cmd_id of
 * cl, completed by done; *id is its handle in the server's wsp_corr. */
int wsp__pending_start(struct wsp_client *cl, uint32_t cmd_id, int kind,
                       wsp__pending_done_fn *done, struct wsp__pending **pp,
                       uint32_t *id);
/* Cancel every pending request of cl. */
void wsp__pending_client_gone(struct wsp_client *cl);
/* A request of the application itself (no client) in the server's
 * wsp_corr, with the RPC timeout: 0 or WSP_ERR_NOMEM. */
typedef void wsp__pending_server_fn(struct wsp_corr *corr, uint32_t id,
                                    int status, const void *data, size_t len,
                                    void *ud);
int wsp__pending_server_start(struct wsp_server *s, wsp__pending_server_fn *fn,
                              void *ud, uint32_t *id);

/* rpc.c */
void wsp__rpc_dispatch(struct wsp_client *cl, uint32_t cmd_id,
                       const char *method, const char *data, size_t len);
void wsp__rpc_free_methods(struct wsp_server *srv);
/* 1 when cl may have one more request waiting (calls, and commands
 * waiting for the engine); else 0, after answering cmd_id with 111. */
int wsp__rpc_room(struct wsp_client *cl, uint32_t cmd_id);

#endif /* WSP_HUB_PRIVATE_H */
