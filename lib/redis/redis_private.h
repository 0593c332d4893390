/*
 * Private state of the Redis engine (wsp_redis(3)): the links (link.c),
 * which speak RESP over the application's two sockets, and the engine
 * (engine.c), which keeps the hub's channels and history in Redis over
 * them.
 */
#ifndef WSP_REDIS_PRIVATE_H
#define WSP_REDIS_PRIVATE_H

#include "internal.h"
#include "wsp/redis.h"

/* ---- Replies --------------------------------------------------------- */

/* A RESP2 value as hiredis's reader reads it, built by link.c's reply
 * functions with the engine's allocator. A nil bulk string ($-1) and a
 * nil array (*-1) both read as WSP__RR_NIL. */
enum {
  WSP__RR_STRING, /* bulk string */
  WSP__RR_ARRAY,
  WSP__RR_INTEGER,
  WSP__RR_NIL,
  WSP__RR_STATUS, /* +OK */
  WSP__RR_ERROR   /* -ERR ... */
};

struct wsp__rreply {
  int type;
  long long integer;         /* INTEGER */
  char *str;                 /* STRING, STATUS, ERROR: NUL-terminated */
  size_t len;                /* of str */
  struct wsp__rreply **elem; /* ARRAY */
  size_t n;                  /* elements of an ARRAY (0 for a nil one) */
};

/* ---- link.c: commands over a link ------------------------------------ */

/*
 * The completion of a command: its reply (an error reply is a reply of
 * type WSP__RR_ERROR, with err 0), or reply NULL and err: WSP_ERR_CLOSED
 * (the link went down after it was sent, or the engine was freed),
 * WSP_ERR_TIMEOUT (no reply within the timeout), WSP_ERR_NOMEM. Called
 * once, never from inside wsp__redis_command(); the reply is freed when
 * it returns.
 */
typedef void wsp__redis_done_fn(struct wsp_redis *r,
                                const struct wsp__rreply *reply, int err,
                                void *ud);

/*
 * Queue a command (argc arguments, binary-safe: argvlen[i] bytes of
 * argv[i]; argvlen NULL: every argument is a C string) on link; done (or
 * NULL) hears how it went. A command queued while its link is down waits for
 * wsp_redis_link_up() and is sent then. 0, WSP_ERR_LIMIT over
 * max_buffered (nothing queued), WSP_ERR_NOMEM, WSP_ERR_INVAL, and
 * WSP_ERR_STATE from a done callback run by wsp_redis_free(). The
 * deadline is wsp__redis_now() + the timeout. on_want_write may run
 * from inside it; done never does. A done callback may queue commands,
 * take links down, and so on; it must not free the engine.
 *
 * On WSP_REDIS_SUB, a (P|S)SUBSCRIBE or (P|S)UNSUBSCRIBE names exactly
 * one channel: its confirmation is its reply. PUB/SUB messages
 * ("message", "pmessage", "smessage" arrays) are no replies: they go to
 * r->on_message. A reply that matches no command waiting (say, the
 * second confirmation of a SUBSCRIBE of two channels) resets the link.
 */
int wsp__redis_command(struct wsp_redis *r, int link, int argc,
                       const char *const *argv, const size_t *argvlen,
                       wsp__redis_done_fn *done, void *ud);

/* The engine's clock: the last now given to wsp_redis_new/tick (the
 * largest so far: it never goes back). */
uint64_t wsp__redis_now(const struct wsp_redis *r);

/* ---- The object ------------------------------------------------------ */

struct wsp__rlink; /* link.c */
struct wsp__reng;  /* engine.c */

struct wsp_redis {
  struct wsp_mem mem;
  struct wsp_redis_callbacks cb;
  void *user_data;
  char *prefix; /* "wsp" unless configured */
  size_t prefix_len;
  char node[65];
  uint64_t probe_interval, timeout;
  size_t max_buffered;
  uint64_t now;
  struct wsp__rlink *links[WSP_REDIS_LINKS];
  struct wsp_redis_stats stats;

  /* Set by engine.c. A PUB/SUB message (an ARRAY: "message", channel,
   * payload; or "pmessage", pattern, channel, payload; or "smessage",
   * channel, payload), and a link that came up or went down (after the
   * commands it failed were completed). */
  struct wsp__reng *eng;
  void (*on_message)(struct wsp_redis *r, const struct wsp__rreply *msg);
  void (*on_link)(struct wsp_redis *r, int link, int up);
  /* The engine's own deadline and timers (engine.c), counted in
   * wsp_redis_next_deadline() and run from wsp_redis_tick(). */
  uint64_t (*eng_deadline)(const struct wsp_redis *r);
  void (*eng_tick)(struct wsp_redis *r, uint64_t now);
  /* Forget the engine (and detach it from its server): from
   * wsp_redis_free(), once every command has completed. */
  void (*eng_free)(struct wsp_redis *r);

  /* link.c: callbacks running (recv and tick do not nest in them), and
   * wsp_redis_free() failing the commands (no new ones). */
  int depth;
  int freeing;
};

#endif /* WSP_REDIS_PRIVATE_H */
