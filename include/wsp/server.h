/*
 * libwsp - server.h: the hub. A wsp_server owns WebSocket connections
 * (struct wsp_client), their timers and the wire protocol (by default the
 * Centrifuge client protocol v2, JSON), and routes each command to the
 * modules (rpc.h, ...). The application still owns sockets and the loop:
 * it hands every accepted connection to wsp_server_accept(), feeds its
 * bytes, writes its pending output and calls wsp_server_tick().
 */
#ifndef WSP_SERVER_H
#define WSP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common.h"
#include "conn.h"
#include "evlog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsp_server;
struct wsp_client;

/* Server limits; see wsp_server_set_limit(3). */
enum wsp_server_limit {
  WSP_SERVER_MAX_MESSAGE = 0,   /* bytes per WebSocket message; 65536 */
  WSP_SERVER_MAX_CONNECTIONS,   /* open connections; 100000 (503 beyond) */
  WSP_SERVER_MAX_PENDING_RPC,   /* unanswered RPCs per connection; 128 */
  WSP_SERVER_MAX_QUEUED,        /* queued output per connection; 1 MiB */
  WSP_SERVER_RPC_TIMEOUT,       /* ms before an RPC is answered 100; 30000 */
  WSP_SERVER_PING_INTERVAL,     /* ms between server pings; 25000 */
  WSP_SERVER_PONG_TIMEOUT,      /* ms to answer a ping; 10000 */
  WSP_SERVER_STALE_TIMEOUT,     /* ms from open to connect; 15000 */
  WSP_SERVER_HANDSHAKE_TIMEOUT, /* ms for the HTTP upgrade; 10000 */
  WSP_SERVER_MAX_SUBSCRIPTIONS, /* channels per connection; 128 (106) */
  WSP_SERVER_MAX_CHANNEL_LEN,   /* bytes in a channel name; 255 (107) */
  WSP_SERVER_REFRESH_GRACE,     /* ms after expiry before 3005; 25000 */
  WSP_SERVER_IDEMPOTENCY_TTL,   /* ms a publish's idempotency key holds;
                                   300000 */
  WSP_SERVER_MAX_IDEMPOTENT,    /* keys remembered; 100000 (the oldest
                                   gives way) */
  WSP_SERVER_LIMIT__COUNT
};

/* What a connect command carried; spans valid during on_connect. */
struct wsp_connect_info {
  struct wsp_str token;   /* decoded */
  struct wsp_str data;    /* raw JSON value or empty */
  struct wsp_str name;    /* decoded */
  struct wsp_str version; /* decoded */
};

/* What a subscribe command asked for; spans valid during on_subscribe. */
struct wsp_subscribe_info {
  struct wsp_str channel; /* the channel or wildcard pattern */
  struct wsp_str data;    /* raw JSON value or empty */
  int join_leave;         /* the client wants join/leave pushes */
  int wildcard;           /* channel is a wildcard pattern (pubsub.h) */
};

/* Channel features, for wsp_server_set_channel_flags() and
 * wsp_server_subscribe_answer(). */
#define WSP_CHANNEL_PRESENCE 0x1u   /* presence and presence_stats */
#define WSP_CHANNEL_JOIN_LEAVE 0x2u /* join/leave pushes, when asked */
#define WSP_CHANNEL_WILDCARDS 0x4u  /* clients may subscribe to patterns */
#define WSP_CHANNEL_PUBLISH 0x8u    /* clients may publish (no on_publish) */
#define WSP_CHANNEL_DELTA 0x10u     /* fossil delta, when asked (history) */

struct wsp_server_callbacks {
  /* Every HTTP request. Return 0 for the default: a WebSocket upgrade on
   * the protocol path (wsp_server_set_path, "/connection/websocket") is
   * accepted, anything else gets 404. The callback may instead answer
   * with wsp_client_respond() or take the connection as a plain
   * WebSocket with wsp_client_accept_raw(). */
  int (*on_request)(struct wsp_client *client, const struct wsp_request *req,
                    void *user_data);
  /* A connect command. Return 0 to accept (after wsp_client_set_user()
   * if the application knows the user), or an error code of the
   * protocol (e.g. 101 unauthorized) to refuse it with an error reply. */
  int (*on_connect)(struct wsp_client *client,
                    const struct wsp_connect_info *info, void *user_data);
  /* The WebSocket ended (never for a plain HTTP exchange); fires once.
   * code: the server's close code if it closed first, else the peer's
   * (1005 without one); 1006 when neither sent a close frame or the
   * client was freed before it ended; 1001 from wsp_server_free(). The
   * client stays valid until wsp_client_free(). */
  void (*on_disconnect)(struct wsp_client *client, int code, void *user_data);
  /* A send command (no reply). Without this callback a send closes the
   * connection with 3508. */
  void (*on_send)(struct wsp_client *client, const uint8_t *data, size_t len,
                  void *user_data);
  /* A message on a raw WebSocket (wsp_client_accept_raw). */
  void (*on_raw_message)(struct wsp_client *client, int opcode,
                         const uint8_t *data, size_t len, void *user_data);
  /* A subscribe command. Return 0 to allow it with the server's channel
   * flags, a protocol error code (103 permission denied, ...) to refuse
   * it, or WSP_ERR_AGAIN to decide later with
   * wsp_server_subscribe_answer(server, sub, ...). Without this callback
   * every valid subscription is allowed. */
  int (*on_subscribe)(struct wsp_client *client, uint64_t sub,
                      const struct wsp_subscribe_info *info, void *user_data);
  /* A publish command. Return 0 to let it through or an error code.
   * Without this callback clients may not publish (103) unless the
   * channel flags hold WSP_CHANNEL_PUBLISH. */
  int (*on_publish)(struct wsp_client *client, const struct wsp_str *channel,
                    const uint8_t *data, size_t len, void *user_data);
  /* A refresh command carrying a new connection token (decoded). Verify
   * it, call wsp_client_set_expiry() with the new expiry and return 0;
   * or return an error code (109 token expired makes SDKs fetch another
   * token), or close with wsp_client_disconnect(client, 3500, ...) for
   * an invalid one. Without this callback refresh is answered 108, unless
   * the hub checks tokens (wsp_server_set_tokens): then this callback
   * sees only tokens the hub accepted. */
  int (*on_refresh)(struct wsp_client *client, const struct wsp_str *token,
                    void *user_data);
  /* Output appeared on a connection whose queue was empty. */
  void (*on_want_write)(struct wsp_client *client, void *user_data);
  /* Optional millisecond clock for events outside wsp_server_tick(). */
  uint64_t (*now)(void *user_data);
};

/* Counters since wsp_server_new(). */
struct wsp_server_stats {
  uint64_t connections;       /* open now */
  uint64_t accepted;          /* accepted since the start */
  uint64_t refused;           /* refused by WSP_SERVER_MAX_CONNECTIONS */
  uint64_t messages_in;       /* WebSocket messages received */
  uint64_t messages_out;      /* WebSocket messages queued */
  uint64_t bytes_in;
  uint64_t bytes_out;         /* reported written with wsp_client_sent */
  uint64_t commands;          /* protocol commands processed */
  uint64_t errors_json;       /* malformed JSON */
  uint64_t errors_protocol;   /* bad commands (3501) */
  uint64_t errors_limit;      /* refused by a limit */
  uint64_t rpc_calls;
  uint64_t rpc_timeouts;
  uint64_t rpc_late;          /* replies after the call ended */
  uint64_t publications;      /* wsp_server_publish and client publishes */
  uint64_t deliveries;        /* publication pushes queued */
  uint64_t slow_closes;       /* connections closed 3008 (output cap) */
  uint64_t subscriptions;     /* open now */
  uint64_t lagged;            /* subscribers of channels with history whose
                                 output was full: fed from the log since */
  uint64_t refused_origin;    /* cookie-authenticated upgrades from an
                                 origin not allowed, answered 403 */
  uint64_t idempotent_repeats; /* publications not made: key seen */
  uint64_t idempotent_evicted; /* keys forgotten early, over
                                  WSP_SERVER_MAX_IDEMPOTENT */
  /* Closes by code (sent by the server, or received when the peer closed
   * first; 1006 when neither), the most frequent first. */
  struct {
    uint32_t code;
    uint64_t count;
  } closes[32];
  size_t nclose_codes;
};

/*
 * A wire protocol (envelope) served on a path. The default one, the
 * Centrifuge client protocol v2 in JSON, is registered on
 * "/connection/websocket"; an application adds its own with
 * wsp_server_add_codec() and sends with wsp_client_send_raw(). Every
 * member is optional. The hub calls on_tick when the time returned by
 * next_deadline (WSP_NO_DEADLINE for none) has come, and asks
 * next_deadline again after every event of the connection.
 */
struct wsp_codec {
  void (*on_open)(struct wsp_client *client, void *codec_data);
  void (*on_message)(struct wsp_client *client, int opcode,
                     const uint8_t *data, size_t len, void *codec_data);
  void (*on_close)(struct wsp_client *client, int code, void *codec_data);
  void (*on_tick)(struct wsp_client *client, uint64_t now, void *codec_data);
  uint64_t (*next_deadline)(const struct wsp_client *client,
                            void *codec_data);
};

/* ---- Server ----------------------------------------------------------- */

WSP_API int wsp_server_new(struct wsp_server **pserver,
                           const struct wsp_server_callbacks *callbacks,
                           const struct wsp_mem *mem, uint64_t now,
                           void *user_data);
/* Frees every client too (on_disconnect fires with 1001 for each whose
 * WebSocket had not ended). */
WSP_API void wsp_server_free(struct wsp_server *server);
WSP_API int wsp_server_set_limit(struct wsp_server *server, int limit,
                                 uint64_t value);
WSP_API uint64_t wsp_server_get_limit(const struct wsp_server *server,
                                      int limit);
/* permessage-deflate for the connections accepted afterwards
 * (wsp_conn_set_deflate(3) lists the parameters); off by default. */
WSP_API int wsp_server_set_deflate(struct wsp_server *server, int param,
                                   uint64_t value);
WSP_API uint64_t wsp_server_get_deflate(const struct wsp_server *server,
                                        int param);
/* Move the default protocol to another path. */
WSP_API int wsp_server_set_path(struct wsp_server *server, const char *path);
/* Serve WebSocket upgrades on path with codec (copied); codec_data is
 * passed to its functions. A path already served is taken over. */
WSP_API int wsp_server_add_codec(struct wsp_server *server, const char *path,
                                 const struct wsp_codec *codec,
                                 void *codec_data);
WSP_API void *wsp_server_get_user_data(const struct wsp_server *server);
WSP_API void wsp_server_get_stats(const struct wsp_server *server,
                                  struct wsp_server_stats *out);
/* The stats and more (commands by name, closes by code, RPC latency and
 * fan-out lag histograms, queued bytes, lagging subscribers) as
 * Prometheus text, exposition format 0.0.4, into buf[0..cap),
 * NUL-terminated; *len gets the text's length without the NUL. When cap
 * is too small (less than *len + 1): WSP_ERR_LIMIT, with *len still the
 * length, so buf may be NULL with cap 0 to ask for it. Every metric is
 * listed in wsp_server_write_metrics(3). */
WSP_API int wsp_server_write_metrics(const struct wsp_server *server, char *buf,
                                     size_t cap, size_t *len);
WSP_API int wsp_server_tick(struct wsp_server *server, uint64_t now);
WSP_API uint64_t wsp_server_next_deadline(const struct wsp_server *server);

/* ---- Connections ------------------------------------------------------ */

/* A new transport connection; io_data is the application's (e.g. its fd
 * record). */
WSP_API int wsp_server_accept(struct wsp_server *server, void *io_data,
                              struct wsp_client **pclient);
WSP_API int wsp_client_recv(struct wsp_client *client, const void *data,
                            size_t len);
WSP_API int wsp_client_pending(const struct wsp_client *client,
                               struct iovec *iov, int iovcnt);
WSP_API int wsp_client_sent(struct wsp_client *client, size_t n);
WSP_API int wsp_client_want_write(const struct wsp_client *client);
WSP_API int wsp_client_want_read(const struct wsp_client *client);
WSP_API int wsp_client_is_done(const struct wsp_client *client);
/* Release the client; if its WebSocket had not ended, on_disconnect fires
 * (1006). Inside a callback the release is deferred. */
WSP_API void wsp_client_free(struct wsp_client *client);

WSP_API struct wsp_server *
wsp_client_get_server(const struct wsp_client *client);
WSP_API void *wsp_client_get_io_data(const struct wsp_client *client);
/* The connection id (a UUID v4 string), made when the connect command
 * is handled (on_connect sees it) and cleared if it is refused; else "". */
WSP_API const char *wsp_client_get_id(const struct wsp_client *client);
/* The user id ("" when anonymous). */
WSP_API const char *wsp_client_get_user(const struct wsp_client *client);
/* The connection of user whose id (above) is id, or NULL: how the server
 * API's "client" names one connection of a user. */
WSP_API struct wsp_client *wsp_server_find_client(struct wsp_server *server,
                                                  const char *user,
                                                  const char *id);
WSP_API int wsp_client_set_user(struct wsp_client *client, const char *user);
/* When the client's credentials expire (ms on the server's clock; 0 for
 * never), typically the token's exp, set in on_connect or on_refresh. The
 * connect and refresh results then carry expires and ttl; without a
 * refresh by expiry + WSP_SERVER_REFRESH_GRACE the connection is closed
 * with 3005. */
WSP_API int wsp_client_set_expiry(struct wsp_client *client,
                                  uint64_t expires_at);
/* Refresh a connection from the server side, as the server API's refresh
 * does: its expiry becomes expires_at (ms on the server's clock; 0 for
 * never) and a refresh push tells the client. An expires_at that is not
 * in the future (1, say) closes it with 3005 instead. WSP_ERR_STATE when
 * the client is not connected. */
WSP_API int wsp_client_refresh(struct wsp_client *client, uint64_t expires_at);
/* The same for every connection of user (on every node, with an engine);
 * returns how many on this node. */
WSP_API long wsp_server_refresh_user(struct wsp_server *server,
                                     const char *user, uint64_t expires_at);
WSP_API struct wsp_conn *wsp_client_get_conn(const struct wsp_client *client);

/* In on_request, or later after wsp_client_defer(): answer with a plain
 * HTTP response. */
WSP_API int wsp_client_respond(struct wsp_client *client, int status,
                               const char *content_type, const void *body,
                               size_t len);
/* In on_request: answer later, with wsp_client_respond() (e.g. once an
 * asynchronous publication is stored); the request's spans stay valid
 * until then, and the handshake timeout still applies (408). */
WSP_API int wsp_client_defer(struct wsp_client *client);
/* Accept a deferred upgrade on the route of its path (404 when there is
 * none; 403 when a session was set since and the Origin is not allowed,
 * as wsp_client_set_session() says). */
WSP_API int wsp_client_accept(struct wsp_client *client);
/* In on_request: accept the upgrade as a plain WebSocket without the
 * protocol; messages arrive in on_raw_message. */
WSP_API int wsp_client_accept_raw(struct wsp_client *client);
/* Send a message on a raw WebSocket or one served by an application's
 * codec (not on the default protocol). */
WSP_API int wsp_client_send_raw(struct wsp_client *client, int opcode,
                                const void *data, size_t len);
/* Push a message (the protocol's message push) carrying the JSON value
 * data to a connected client. */
WSP_API int wsp_client_push_message(struct wsp_client *client,
                                    const void *data, size_t len);

/* ---- Disconnecting ---------------------------------------------------- */

/*
 * Close connections with a protocol code (3000-4999, e.g. 3001 shutdown,
 * 3503 forced) and a short reason, after the output already queued; see
 * wsp_disconnect(3). The many-connection calls return how many they
 * closed.
 */
WSP_API int wsp_client_disconnect(struct wsp_client *client, int code,
                                  const char *reason);
/* Every connection of user. */
WSP_API long wsp_server_disconnect_user(struct wsp_server *server,
                                        const char *user, int code,
                                        const char *reason);
/* Every connection of the session (logout). */
WSP_API long wsp_server_disconnect_session(struct wsp_server *server,
                                           const char *session, int code,
                                           const char *reason);
/* Every connection of the server. */
WSP_API int wsp_server_shutdown(struct wsp_server *server, int code,
                                const char *reason);

/* ---- Tokens ----------------------------------------------------------- */

struct wsp_jwt_keys;

/*
 * JWT authentication done by the hub (wsp_server_set_tokens(3)). With it
 * a connect must carry a valid token (expired: error 109; invalid or
 * missing: close 3500) unless the connection already has a user (set
 * while handling the upgrade, e.g. from a session cookie); "sub" becomes
 * the user, "info" the connection info, "exp" the expiry and "channels"
 * server-side subscriptions. Channels starting with private_prefix need
 * a subscription token. Zero it, then set what is needed.
 */
struct wsp_server_tokens {
  const struct wsp_jwt_keys *keys; /* borrowed; must outlive the server */
  const char *audience;            /* "aud" must hold it; NULL: unchecked */
  const char *issuer;              /* "iss" must equal it; NULL: unchecked */
  int64_t leeway;                  /* seconds of clock skew, >= 0 */
  const char *private_prefix;      /* NULL: "$"; "": no private channels */
  /* Seconds since the epoch; NULL: the server's clock (ms) / 1000. */
  int64_t (*unix_time)(void *user_data);
  void *reserved[4];               /* NULL */
};

/* Turn token authentication on (cfg copied, strings too) or off (NULL). */
WSP_API int wsp_server_set_tokens(struct wsp_server *server,
                                  const struct wsp_server_tokens *cfg);
/* Verify a connection token now (e.g. one from the upgrade URL) and
 * attach its claims to the client as a connect token would.
 * WSP_ERR_TOKEN_EXPIRED, WSP_ERR_TOKEN, WSP_ERR_STATE without tokens. */
WSP_API int wsp_client_auth_token(struct wsp_client *client,
                                  const char *token, size_t len);
/* The connection info (a JSON value shown as conn_info in presence and
 * join/leave; copied), NULL to remove; and the current one or NULL. */
WSP_API int wsp_client_set_info(struct wsp_client *client, const char *info);
WSP_API const char *wsp_client_get_info(const struct wsp_client *client);

/* ---- Sessions and origins --------------------------------------------- */

/* Bits of wsp_server_set_origin_policy(). */
#define WSP_ORIGIN_CHECK 0x1u  /* refuse cross-origin cookie upgrades (on) */
#define WSP_ORIGIN_SECURE 0x2u /* the server is reached over TLS (https) */

/*
 * In on_request: the upgrade was authenticated by the session cookie
 * whose id is session (copied). With WSP_ORIGIN_CHECK on (the default), a
 * cross-origin upgrade of such a connection is then refused with 403
 * unless its Origin is the server's own or an allowed one; and
 * wsp_server_disconnect_session() finds it.
 */
WSP_API int wsp_client_set_session(struct wsp_client *client,
                                   const char *session);
/* The session id set above, or NULL. */
WSP_API const char *wsp_client_get_session(const struct wsp_client *client);
/* Origins (e.g. "https://app.example.com", copied) allowed besides the
 * server's own; replaces the previous list. */
WSP_API int wsp_server_set_allowed_origins(struct wsp_server *server,
                                           const char *const *origins,
                                           size_t n);
WSP_API int wsp_server_set_origin_policy(struct wsp_server *server,
                                         unsigned flags);

/* ---- Channels --------------------------------------------------------- */

/* The server's wall clock, Unix time in ms (NULL: none). With it,
 * connect results carry the server's time and publications the time
 * they were published ("time"), and the history log's clock defaults to
 * it. */
WSP_API int wsp_server_set_wall_clock(struct wsp_server *server,
                                      uint64_t (*unix_ms)(void *user_data),
                                      void *user_data);

/* Default channel flags (WSP_CHANNEL_*; default PRESENCE | JOIN_LEAVE). */
WSP_API int wsp_server_set_channel_flags(struct wsp_server *server,
                                         unsigned flags);
/* Answer a subscribe left pending by on_subscribe: code 0 allows it with
 * flags and the optional chan_info JSON value (shown in presence and
 * join/leave); a code > 0 refuses it. WSP_ERR_NOT_FOUND when the request
 * is gone (the connection closed or it timed out, answered 100). */
WSP_API int wsp_server_subscribe_answer(struct wsp_server *server,
                                        uint64_t sub, uint32_t code,
                                        unsigned flags,
                                        const char *chan_info);
/*
 * Publish the JSON value data on channel: every subscriber, exact or by
 * wildcard, gets a pub push. info is an optional ClientInfo JSON object
 * for the publisher. The push is encoded once per subscription pattern
 * and queued to every subscriber by reference. A subscriber whose output
 * passes WSP_SERVER_MAX_QUEUED is closed with 3008 (after what it is
 * owed) and the others go on. Returns the number of deliveries.
 */
WSP_API long wsp_server_publish(struct wsp_server *server, const char *channel,
                                const void *data, size_t len,
                                const char *info);

/* Options of wsp_server_publish_with(); zero-initialise the whole struct
 * (reserved is room for options to come and must stay zero). */
struct wsp_publish_opts {
  const char *info; /* ClientInfo JSON object of the publisher, or NULL */
  int skip_history; /* non-zero: not stored, so no offset and no recovery */
  /* Publish once per channel and key (at most 255 bytes) within
   * WSP_SERVER_IDEMPOTENCY_TTL: a repeat gets the first result. */
  const char *idempotency_key;
  /* A JSON object of string values (at most 64, in 4096 bytes): the
   * publication's tags, which subscribers may filter on; or NULL. */
  const char *tags;
  void *reserved[4];
};

/* Where wsp_server_publish_with() put a publication. */
struct wsp_publish_result {
  long delivered;  /* pushes queued, as wsp_server_publish() returns */
  uint64_t offset; /* its offset in the channel's history; 0 without one */
  char epoch[WSP_EVLOG_EPOCH_MAX + 1]; /* the history's epoch; "" without */
  uint64_t reserved[4];
};

/* wsp_server_publish() with options, telling where the publication went:
 * on a channel with history (wsp_server_set_history) its offset and the
 * stream's epoch, as a publisher needs them to correlate with history.
 * opts and result may be NULL. Returns 0 or a negative WSP_ERR_*. */
WSP_API int wsp_server_publish_with(struct wsp_server *server,
                                    const char *channel, const void *data,
                                    size_t len,
                                    const struct wsp_publish_opts *opts,
                                    struct wsp_publish_result *result);
/* What became of a publication of wsp_server_publish_async(): err 0 and
 * result, or a negative WSP_ERR_* and result NULL (WSP_ERR_TIMEOUT after
 * WSP_SERVER_RPC_TIMEOUT, WSP_ERR_CANCELLED when the server is freed
 * first). */
typedef void wsp_publish_done_fn(struct wsp_server *server, int err,
                                 const struct wsp_publish_result *result,
                                 void *user_data);

/* wsp_server_publish_with(), telling done once the publication is
 * stored: on the embedded engine before it returns, on an engine such
 * as Redis (wsp_redis(3)) when the engine has stored it, with its
 * offset and epoch. Returns 0 (done will be called once) or a negative
 * WSP_ERR_* (it will not). */
WSP_API int wsp_server_publish_async(struct wsp_server *server,
                                     const char *channel, const void *data,
                                     size_t len,
                                     const struct wsp_publish_opts *opts,
                                     wsp_publish_done_fn *done,
                                     void *user_data);
/* Server-side subscriptions: the client gets a subscribe push (or an
 * unsubscribe push with code 2000). */
WSP_API int wsp_server_subscribe(struct wsp_client *client,
                                 const char *channel);
WSP_API int wsp_server_unsubscribe(struct wsp_client *client,
                                   const char *channel);
/* The same for every connection of user; returns how many. */
WSP_API long wsp_server_subscribe_user(struct wsp_server *server,
                                       const char *user, const char *channel);
/* Options of a server-side subscription; zero-initialise the whole
 * struct (reserved must stay zero). */
struct wsp_subscribe_opts {
  const void *data; /* a JSON value for the subscribe push's data, or NULL */
  size_t len;       /* its length */
  const char *chan_info; /* JSON value shown in presence and join/leave */
  void *reserved[4];
};
/* wsp_server_subscribe() and wsp_server_subscribe_user() with options
 * (opts may be NULL). */
WSP_API int wsp_server_subscribe_with(struct wsp_client *client,
                                      const char *channel,
                                      const struct wsp_subscribe_opts *opts);
WSP_API long
wsp_server_subscribe_user_with(struct wsp_server *server, const char *user,
                               const char *channel,
                               const struct wsp_subscribe_opts *opts);
WSP_API long wsp_server_unsubscribe_user(struct wsp_server *server,
                                         const char *user,
                                         const char *channel);
/* Presence of an exact channel: fn for each subscribed client. */
WSP_API int wsp_server_presence(struct wsp_server *server, const char *channel,
                                void (*fn)(struct wsp_client *client,
                                           void *user_data),
                                void *user_data);
WSP_API int wsp_server_presence_stats(struct wsp_server *server,
                                      const char *channel, size_t *clients,
                                      size_t *users);
/* A channel's presence, asynchronously: on the embedded engine this
 * node's subscribers, before it returns; on an engine such as Redis
 * those of every node, later. done gets err 0 and n members, each two
 * spans: members[2i] the client id, members[2i+1] its ClientInfo JSON
 * (valid during the call); or a negative WSP_ERR_*. Returns 0 (done
 * will be called once) or an error (it will not). */
typedef void wsp_presence_fn(struct wsp_server *server, int err,
                             const struct wsp_str *members, size_t n,
                             void *user_data);
WSP_API int wsp_server_presence_async(struct wsp_server *server,
                                      const char *channel,
                                      wsp_presence_fn *done, void *user_data);
/* Channels (and patterns) with at least one subscriber. */
WSP_API size_t wsp_server_channels(const struct wsp_server *server);
/* Call fn for each of them with its number of subscribed connections on
 * this node, in no particular order (the server API's channels); fn must
 * not subscribe or unsubscribe anyone. */
WSP_API int wsp_server_each_channel(const struct wsp_server *server,
                                    void (*fn)(const char *channel, size_t len,
                                               size_t clients, void *user_data),
                                    void *user_data);

/* ---- History ---------------------------------------------------------- */

/*
 * Channel history, offsets and recovery (see wsp_server_set_history(3)).
 * Publications on a channel with history are appended to a stream of the
 * same name in log before they are acknowledged or fanned out; every pub
 * push then carries its offset, subscribe results carry the stream's
 * epoch and offset, the history command reads the stream, and subscribe
 * with recover returns exactly the publications a client missed.
 */
struct wsp_server_history {
  struct wsp_evlog *log; /* borrowed; NULL turns history off */
  /* Retention of every channel with history (max_events is the history
   * size, max_age its time to live in ms). */
  struct wsp_evlog_retention retention;
  /* Called for a channel at publish, subscribe and history time with *r
   * preset to retention: return 0 for no history on this channel, or 1
   * after changing *r as this channel needs. NULL: every exact channel
   * has history with retention. */
  int (*history_for)(const char *channel, size_t len,
                     struct wsp_evlog_retention *r, void *user_data);
  void *user_data;
  uint32_t recovery_max; /* publications a recovery may return; 300 */
  uint32_t history_max;  /* publications one history call returns; 300 */
  /* The log's clock, ms: the times of publications and retention by age.
   * With the file store it must be the wall clock (CLOCK_REALTIME), which
   * goes on across restarts; NULL: the server's wall clock if it has one
   * (wsp_server_set_wall_clock), else its own clock. */
  uint64_t (*clock)(void *user_data);
  uint64_t reserved[3]; /* zero */
};

/* What wsp_server_history_async() reads; zero it, then set. */
struct wsp_history_query {
  int64_t limit;     /* publications at most (capped by history_max);
                        -1: history_max; 0: only the position */
  int reverse;       /* newest first */
  int has_since;     /* from since_offset (exclusive; backwards: below) */
  uint64_t since_offset;
  const char *since_epoch; /* NULL or "": any; another: WSP_ERR_EPOCH */
  void *reserved[4];
};

/* A channel's history as the protocol's history command reads it, from
 * the log or the engine (every node's publications): done gets err 0,
 * the stream's position and n publications (valid during the call), or
 * a negative WSP_ERR_* (WSP_ERR_NOT_FOUND: the channel has no history).
 * On the embedded engine done is called before it returns. Returns 0
 * (done will be called once) or an error (it will not). */
typedef void wsp_history_fn(struct wsp_server *server, int err,
                            const struct wsp_evlog_position *pos,
                            const struct wsp_evlog_event *events, size_t n,
                            void *user_data);
WSP_API int wsp_server_history_async(struct wsp_server *server,
                                     const char *channel,
                                     const struct wsp_history_query *query,
                                     wsp_history_fn *done, void *user_data);
/* A publication the hub stored keeps its tags with its info: split an
 * event's info span into the publisher's info (ClientInfo JSON, or
 * empty) and its tags (a JSON object, or empty). Returns 0, or
 * WSP_ERR_INVAL for a NULL argument. */
WSP_API int wsp_server_event_meta(const struct wsp_evlog_event *event,
                                  struct wsp_str *info, struct wsp_str *tags);

/* Attach (or with NULL or a NULL log, detach) the event log. The hub ticks
 * the log from wsp_server_tick() and counts its deadline in
 * wsp_server_next_deadline(); the application frees it after the server. */
WSP_API int wsp_server_set_history(struct wsp_server *server,
                                   const struct wsp_server_history *history);

#ifdef __cplusplus
}
#endif

#endif /* WSP_SERVER_H */
