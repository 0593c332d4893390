/*
 * The hub's metrics beyond struct wsp_server_stats: commands by name,
 * closes by code and two latency histograms, kept in fixed arrays inside
 * struct wsp_server. metrics.c writes them, with the stats and the
 * gauges it reads from the clients, as Prometheus text
 * (wsp_server_write_metrics(3)). Counting a command or a close is an
 * increment (the inline functions below); a histogram observation is a
 * search among a few bucket bounds: nothing here allocates.
 */
#ifndef WSP_METRICS_H
#define WSP_METRICS_H

#include <stdint.h>

#include "wsp/conn.h"
#include "wsp/proto.h"

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

#endif /* WSP_METRICS_H */
