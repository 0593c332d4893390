/*
 * libwsp - redis.h: the Redis engine, for a hub on several nodes. With
 * it a wsp_server keeps channel history in Redis streams and sends every
 * publication through Redis PUB/SUB, so that a publication on any node
 * reaches the subscribers of every node and a client recovers on
 * whichever node it reconnects to (wsp_redis(3)).
 *
 * Like a wsp_conn, a wsp_redis does no I/O: it speaks the Redis protocol
 * (RESP, through hiredis's reader) over two connections, its links, that
 * the application opens and pumps from its own loop: bytes read go to
 * wsp_redis_recv(), output is taken with wsp_redis_pending() and
 * reported with wsp_redis_sent(), and wsp_redis_tick() runs its timers
 * (command timeouts, the probe of an idle link).
 */
#ifndef WSP_REDIS_H
#define WSP_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common.h"
#include "session.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsp_redis;
struct wsp_server;

/* The two connections of an engine, both to the same Redis server. */
enum wsp_redis_link {
  WSP_REDIS_CMD = 0, /* commands and scripts: requests and replies */
  WSP_REDIS_SUB = 1, /* PUB/SUB: the publications of every node */
  WSP_REDIS_LINKS
};

struct wsp_redis_callbacks {
  /* Output appeared on link, whose queue was empty. */
  void (*on_want_write)(struct wsp_redis *redis, int link, void *user_data);
  /* The engine gave link up (a reply took longer than the timeout, the
   * probe of an idle link went unanswered, or Redis sent what RESP does
   * not allow): the application closes its socket, connects again and
   * calls wsp_redis_link_up(). wsp_redis_link_down() was done already. */
  void (*on_link_reset)(struct wsp_redis *redis, int link, void *user_data);
};

/* Zero it, then set what is needed. */
struct wsp_redis_config {
  const char *prefix; /* of every key and PUB/SUB channel; NULL: "wsp" */
  const char *node;   /* this node's name (at most 64 bytes); NULL: random */
  uint64_t probe_interval; /* ms of silence before a link is probed
                              (PING); 0: 2000 */
  uint64_t timeout;        /* ms a command or probe waits for its reply
                              before its link is reset; 0: 5000 */
  size_t max_buffered;     /* bytes of commands a link holds, also while
                              it is down; 0: 16 MiB (WSP_ERR_LIMIT beyond) */
  void *reserved[4];       /* NULL */
};

/* Counters since wsp_redis_new(). */
struct wsp_redis_stats {
  uint64_t commands; /* sent (queued; the probes aside) */
  uint64_t replies;  /* received (that completed a command) */
  uint64_t errors;   /* error replies */
  uint64_t failed;   /* commands failed without a reply (link down,
                        timeout, out of memory) or refused (over
                        max_buffered, out of memory) */
  uint64_t messages; /* PUB/SUB messages received */
  uint64_t resets;   /* links given up (on_link_reset) */
  uint64_t links_up; /* wsp_redis_link_up() calls */
  uint64_t bytes_in, bytes_out;
  uint64_t buffered; /* bytes queued now, both links */
  uint64_t reserved[6];
};

WSP_API int wsp_redis_new(struct wsp_redis **predis,
                          const struct wsp_redis_config *cfg,
                          const struct wsp_redis_callbacks *callbacks,
                          const struct wsp_mem *mem, uint64_t now,
                          void *user_data);
/* Commands still waiting fail (their requests are answered with an
 * error); detach it from a server first. */
WSP_API void wsp_redis_free(struct wsp_redis *redis);

/* The application's socket for link is connected: the engine starts
 * talking on it (a link starts down). */
WSP_API int wsp_redis_link_up(struct wsp_redis *redis, int link);
/* The socket for link closed or failed: every command sent on it and
 * not answered fails; what was not sent yet waits for the next
 * wsp_redis_link_up(). On WSP_REDIS_SUB the engine's subscriptions are
 * gone: publications may have been missed, and the server's
 * subscribers are told so (INSUFFICIENT_STATE) to recover. */
WSP_API int wsp_redis_link_down(struct wsp_redis *redis, int link);
WSP_API int wsp_redis_is_up(const struct wsp_redis *redis, int link);

WSP_API int wsp_redis_recv(struct wsp_redis *redis, int link, const void *data,
                           size_t len);
/* Output of link as iovecs into the engine's buffers: at most iovcnt;
 * the number filled. Nothing while the link is down. */
WSP_API int wsp_redis_pending(const struct wsp_redis *redis, int link,
                              struct iovec *iov, int iovcnt);
WSP_API int wsp_redis_sent(struct wsp_redis *redis, int link, size_t n);
WSP_API int wsp_redis_want_write(const struct wsp_redis *redis, int link);

WSP_API int wsp_redis_tick(struct wsp_redis *redis, uint64_t now);
WSP_API uint64_t wsp_redis_next_deadline(const struct wsp_redis *redis);

WSP_API void wsp_redis_get_stats(const struct wsp_redis *redis,
                                 struct wsp_redis_stats *out);
/* This node's name. */
WSP_API const char *wsp_redis_get_node(const struct wsp_redis *redis);

/*
 * Sessions in Redis (the store of wsp_session(3) for several nodes): a
 * login on one node authenticates upgrades on every node. Each call
 * completes once, later (from the engine's I/O, or with WSP_ERR_CLOSED
 * from wsp_redis_free()), through done: err 0 with the session's id,
 * user and data (valid during the call), or WSP_ERR_NOT_FOUND (unknown
 * or expired), WSP_ERR_CLOSED, WSP_ERR_TIMEOUT, WSP_ERR_IO. The calls
 * return 0 (done will be called) or an error (it will not).
 */
typedef void wsp_redis_session_fn(struct wsp_redis *redis, int err,
                                  const char *id, const char *user,
                                  const void *data, size_t len,
                                  void *user_data);
/* A new session of user (at most 255 bytes) with data, for ttl_ms. */
WSP_API int wsp_redis_session_create(struct wsp_redis *redis, const char *user,
                                     const void *data, size_t len,
                                     uint64_t ttl_ms,
                                     wsp_redis_session_fn *done,
                                     void *user_data);
/* Look a session up; ttl_ms > 0 also extends its life to ttl_ms. */
WSP_API int wsp_redis_session_get(struct wsp_redis *redis, const char *id,
                                  uint64_t ttl_ms, wsp_redis_session_fn *done,
                                  void *user_data);
/* End a session (logout): WSP_ERR_NOT_FOUND when there was none. */
WSP_API int wsp_redis_session_destroy(struct wsp_redis *redis, const char *id,
                                      wsp_redis_session_fn *done,
                                      void *user_data);

/*
 * Make redis the engine of server (NULL: back to the embedded one): from
 * then on publications go through Redis, and channels with history
 * (wsp_server_set_history(3), whose log is then not used and may be
 * NULL) keep it in Redis streams. One engine serves one server; it must
 * outlive it or be detached first. Set it before clients connect.
 */
WSP_API int wsp_server_set_redis(struct wsp_server *server,
                                 struct wsp_redis *redis);

#ifdef __cplusplus
}
#endif

#endif /* WSP_REDIS_H */
