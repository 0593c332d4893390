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

/* ---- Subscriptions (wsp_rpc_client_subscribe(3)) ---------------------- */

/* Longest epoch a position holds; a server that sends a longer one is
 * misbehaving and the connection is closed. */
#define WSP_RPC_CLIENT_EPOCH_MAX 64
/* Longest channel name wsp_rpc_client_subscribe() takes, in bytes. */
#define WSP_RPC_CLIENT_CHANNEL_MAX 1024

/* A place in a channel's stream: the offset of the last publication seen
 * (or the stream's top when subscribed) and the stream's epoch. */
struct wsp_rpc_client_pos {
  uint64_t offset;
  char epoch[WSP_RPC_CLIENT_EPOCH_MAX + 1];
};

/* How to subscribe; zero it, then set. NULL means all zero. */
struct wsp_rpc_client_sub_opts {
  const char *token; /* subscription token, or NULL */
  const char *data;  /* JSON value for the server's on_subscribe, or NULL */
  /* Recover from here: the publications after since that the server
   * still has come first (recovered). NULL: from now on. */
  const struct wsp_rpc_client_pos *since;
  int positioned;      /* ask for a position even without recovery */
  int recoverable;     /* ask for recovery on the channel */
  int join_leave;      /* ask for join and leave pushes */
  uint64_t timeout_ms; /* for the subscribe reply; 0: none */
  void *reserved[4];   /* NULL */
};

/* Views handed to the subscription callbacks, valid during the call. */
struct wsp_rpc_client_subscribed {
  const char *channel;
  int recoverable, positioned; /* what the server grants */
  int was_recovering;          /* the subscribe asked to recover */
  int recovered;               /* ... and got every missed publication */
  /* The position before the replayed publications, if any. */
  struct wsp_rpc_client_pos pos;
  size_t publications; /* replayed: on_publication has them next */
  struct wsp_str data; /* the result's data (raw JSON), or empty */
};

struct wsp_rpc_client_pub {
  const char *channel;
  struct wsp_str data; /* raw JSON value */
  uint64_t offset;     /* 0: the publication has no offset */
  struct wsp_str info; /* the publisher's ClientInfo object, or empty */
  struct wsp_str tags; /* an object of strings, or empty */
  int recovered;       /* replayed by the subscribe reply */
  /* The publication's own channel: for a wildcard subscription the one
   * that matched the pattern, otherwise channel. */
  const char *pub_channel;
};

struct wsp_rpc_client_unsubscribed {
  const char *channel;
  /* >= 2000: the server's unsubscribe push; 100..1999: the server's
   * error reply to the subscribe; 0: wsp_rpc_client_unsubscribe();
   * negative: WSP_ERR_TIMEOUT, WSP_ERR_CLOSED or WSP_ERR_CANCELLED. */
  int code;
  const char *reason; /* the server's reason or message, or "" */
  /* Where the subscription was: pass it as since on a new client to
   * recover what it misses meanwhile. offset 0 and epoch "": none. */
  struct wsp_rpc_client_pos pos;
};

/* NULL members mean "not interested"; the struct is copied. */
struct wsp_rpc_client_sub_callbacks {
  void (*on_subscribed)(struct wsp_rpc_client *rc,
                        const struct wsp_rpc_client_subscribed *s,
                        void *user_data);
  void (*on_publication)(struct wsp_rpc_client *rc,
                         const struct wsp_rpc_client_pub *pub, void *user_data);
  /* A join or leave push: info is the ClientInfo object. */
  void (*on_join)(struct wsp_rpc_client *rc, const char *channel,
                  const struct wsp_str *info, void *user_data);
  void (*on_leave)(struct wsp_rpc_client *rc, const char *channel,
                   const struct wsp_str *info, void *user_data);
  /* Fires exactly once for each subscription the client accepted, when
   * it ends; the last callback with this user_data. */
  void (*on_unsubscribed)(struct wsp_rpc_client *rc,
                          const struct wsp_rpc_client_unsubscribed *u,
                          void *user_data);
  void (*reserved[4])(void); /* NULL */
};

/*
 * Subscribe to channel. The client keeps the subscription's position as
 * publications arrive; an unsubscribe push asking to resubscribe (2500
 * and up) makes it subscribe again at once, recovering from there. If
 * this call fails no callback fires: WSP_ERR_STATE when the client
 * already has channel, WSP_ERR_JSON for bad opts->data, WSP_ERR_LIMIT
 * for a name longer than WSP_RPC_CLIENT_CHANNEL_MAX.
 */
WSP_API int
wsp_rpc_client_subscribe(struct wsp_rpc_client *rc, const char *channel,
                         const struct wsp_rpc_client_sub_opts *opts,
                         const struct wsp_rpc_client_sub_callbacks *cb,
                         void *user_data);
/* End the subscription: on_unsubscribed fires with code 0 before this
 * returns. WSP_ERR_NOT_FOUND when the client has no such channel. */
WSP_API int wsp_rpc_client_unsubscribe(struct wsp_rpc_client *rc,
                                       const char *channel);
/* The position of a subscription (WSP_ERR_NOT_FOUND without one). */
WSP_API int wsp_rpc_client_get_position(const struct wsp_rpc_client *rc,
                                        const char *channel,
                                        struct wsp_rpc_client_pos *pos);

/*
 * Commands on channels, answered like wsp_rpc_client_call(): cb fires
 * exactly once, with status 0 and the result object as raw JSON ({} for
 * publish), the server's error code and message, or a negative
 * WSP_ERR_*; cb may be NULL for publish. If the call fails cb never
 * fires. history: limit publications at most (-1: as many as the server
 * gives; 0: only the position), after since (NULL: from the oldest;
 * reverse: before it, newest first).
 */
WSP_API int wsp_rpc_client_publish(struct wsp_rpc_client *rc,
                                   const char *channel, const void *data,
                                   size_t len, uint64_t timeout_ms,
                                   void (*cb)(struct wsp_rpc_client *rc,
                                              int status, const uint8_t *data,
                                              size_t len, void *user_data),
                                   void *user_data);
WSP_API int wsp_rpc_client_history(struct wsp_rpc_client *rc,
                                   const char *channel, int64_t limit,
                                   const struct wsp_rpc_client_pos *since,
                                   int reverse, uint64_t timeout_ms,
                                   void (*cb)(struct wsp_rpc_client *rc,
                                              int status, const uint8_t *data,
                                              size_t len, void *user_data),
                                   void *user_data);
/* The presence map (client id -> ClientInfo) and its counts. */
WSP_API int wsp_rpc_client_presence(struct wsp_rpc_client *rc,
                                    const char *channel, uint64_t timeout_ms,
                                    void (*cb)(struct wsp_rpc_client *rc,
                                               int status, const uint8_t *data,
                                               size_t len, void *user_data),
                                    void *user_data);
WSP_API int wsp_rpc_client_presence_stats(
    struct wsp_rpc_client *rc, const char *channel, uint64_t timeout_ms,
    void (*cb)(struct wsp_rpc_client *rc, int status, const uint8_t *data,
               size_t len, void *user_data),
    void *user_data);

/* Counters since wsp_rpc_client_new(); the reserved words are zero. */
struct wsp_rpc_client_stats {
  uint64_t replies;      /* replies matched to a command */
  uint64_t pushes;       /* pushes received */
  uint64_t publications; /* handed to on_publication, replayed ones too */
  uint64_t resubscribes; /* made after an unsubscribe push (2500 and up) */
  uint64_t bad_input;    /* server messages that closed the connection */
  uint64_t reserved[5];
};
WSP_API int wsp_rpc_client_get_stats(const struct wsp_rpc_client *rc,
                                     struct wsp_rpc_client_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* WSP_RPC_CLIENT_H */
