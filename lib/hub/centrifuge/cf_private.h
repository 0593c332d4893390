/* The default wire protocol, the Centrifuge client protocol v2 in JSON:
 * cf_dispatch.c parses and dispatches commands, cf_out.c writes every
 * reply and push. Included by hub/hub_private.h, whose client embeds the
 * protocol's per-client state. */
#ifndef WSP_CF_PRIVATE_H
#define WSP_CF_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "wsp/evlog.h"
#include "wsp/server.h"
#include "json/json_private.h"

#include "pb_private.h"

struct wsp__csub;
struct wsp_frame;

/*
 * The default protocol's state of a client (cf_dispatch.c, cf_out.c):
 * embedded in struct wsp_client, so that it costs no allocation of its
 * own; the hub core never reads it (it reaches the protocol through
 * struct wsp__hub_ops).
 */
struct wsp__cf_client {
  struct wsp__jbuf batch; /* lines for the frame being built */
  uint64_t stale_due, ping_due, pong_due;
  uint8_t connected : 1;
  uint8_t batching : 1;
  uint8_t awaiting_pong : 1;
  uint8_t connecting : 1; /* in connect: server-side subscriptions wait */
  uint8_t protobuf : 1;   /* the centrifuge-protobuf subprotocol */
};

/* The Protobuf variants of the last shared frames delivered to Protobuf
 * clients (cf_out.c): a frame is fanned out to its subscribers one after
 * the other, so a few slots make each variant once per frame. The slots
 * hold a reference to both frames until they are reused or the server is
 * freed. */
#define WSP__CF_PB_FRAMES 4
struct wsp__cf_pb_frames {
  struct wsp_frame *json[WSP__CF_PB_FRAMES], *pb[WSP__CF_PB_FRAMES];
  unsigned next;
};

/* cf_dispatch.c: the default codec. */
extern const struct wsp_codec wsp__cf_dispatch_codec;
/* An upgrade on the protocol's path: choose the subprotocol, Protobuf
 * when the client offers centrifuge-protobuf. */
void wsp__cf_dispatch_accept(struct wsp_client *cl);

/* cf_out.c: the default codec's output. */
/* Start a line of output; the caller writes one JSON object into the
 * returned buffer and calls wsp__cf_out_line_end(). */
struct wsp__jbuf *wsp__cf_out_line_begin(struct wsp_client *cl);
void wsp__cf_out_line_end(struct wsp_client *cl);
void wsp__cf_out_flush(struct wsp_client *cl);
/* The replies to one message would pass the output cap: drop them,
 * count it and close the connection as SLOW. */
void wsp__cf_out_overflow(struct wsp_client *cl);
/* Flush the batch if it holds anything (or failed): before a frame that
 * must not overtake the replies owed. */
void wsp__cf_out_flush_owed(struct wsp_client *cl);
/* Send JSON lines (separated by '\n') to cl in its encoding: a text
 * message, or for a Protobuf client a binary message of Replies
 * (data_strings: the lines of a delta subscriber's publications,
 * wsp__pb_json_encode()). Returns what wsp_conn_send() does
 * (WSP_ERR_NOMEM when they cannot be transcoded). */
int wsp__cf_out_send_lines(struct wsp_client *cl, const char *text, size_t len,
                           int data_strings);
/* The Protobuf variant of the shared frame f (a new frame, NULL when out
 * of memory); data_strings as for wsp__pb_json_encode(). */
struct wsp_frame *wsp__cf_out_pb_frame(const struct wsp_mem *mem,
                                       struct wsp_frame *f, int data_strings);
/* The frame to queue to cl for the shared frame f: f itself, or for a
 * Protobuf client its Protobuf variant from the cache c (borrowed; NULL
 * when out of memory). */
struct wsp_frame *wsp__cf_out_frame_for(struct wsp__cf_pb_frames *c,
                                        const struct wsp_mem *mem,
                                        const struct wsp_client *cl,
                                        struct wsp_frame *f);
void wsp__cf_out_frames_free(struct wsp__cf_pb_frames *c);
/* Bytes waiting in the batch. */
size_t wsp__cf_out_batched(const struct wsp_client *cl);
/* Per-client state of the protocol (struct wsp__hub_ops). */
void wsp__cf_out_client_init(struct wsp_client *cl);
void wsp__cf_out_client_free(struct wsp_client *cl);
void wsp__cf_out_gone(struct wsp_client *cl);
void wsp__cf_out_before_close(struct wsp_client *cl);
void wsp__cf_out_closed(struct wsp_client *cl);
void wsp__cf_out_error(struct wsp_client *cl, uint32_t id, uint32_t code,
                       const char *message, int temporary);
/* The reply {"id":id,"<name>":{}}. */
void wsp__cf_out_empty(struct wsp_client *cl, uint32_t id, const char *name);
/* The connect result; subs holds the members of its subs map. */
void wsp__cf_out_connect(struct wsp_client *cl, uint32_t id, uint64_t now,
                         uint64_t interval, const struct wsp__jbuf *subs);
void wsp__cf_out_refresh(struct wsp_client *cl, uint32_t id, uint64_t now);
/* The refresh push: the server changed the connection's expiry. */
void wsp__cf_out_refresh_push(struct wsp_client *cl, uint64_t now);
void wsp__cf_out_ping(struct wsp_client *cl);
/* What a subscribe result says beyond {}: its token's expiry (results
 * only) and, on a channel with history (epoch not NULL), the position
 * and the recovery. */
struct wsp__cf_sub_result {
  uint64_t expires_at;
  const char *epoch;
  uint64_t offset;
  uint8_t recovering, recovered;
  const char *pubs; /* publications, comma-separated (wsp__cf_out_pubs_add) */
  size_t pubs_len, npubs;
  uint8_t delta; /* fossil delta negotiated */
};
/* The subscribe result (id > 0), the subscribe push (id 0) or, when into
 * is not NULL, one member of a connect result's subs map (appended to
 * into) for subscription cs, with its push_data; r may be NULL. */
void wsp__cf_out_subscribed(struct wsp_client *cl, uint32_t id,
                            const struct wsp__csub *cs,
                            const struct wsp__cf_sub_result *r,
                            struct wsp__jbuf *into);
void wsp__cf_out_sub_refresh(struct wsp_client *cl, uint32_t id,
                             uint64_t expires_at);
/* How a publication from the log is written: its data as a JSON string
 * (a subscriber with delta compression), its time (the server has a wall
 * clock). */
#define WSP__CF_PUB_STRING 0x1u
#define WSP__CF_PUB_TIME 0x2u
/* Append the n-th (from 0) publication of a list to jb, as fmt says. */
void wsp__cf_out_pubs_add(struct wsp__jbuf *jb, size_t n, unsigned fmt,
                          const struct wsp_evlog_event *e);
void wsp__cf_out_history(struct wsp_client *cl, uint32_t id, const char *pubs,
                         size_t pubs_len, size_t npubs, const char *epoch,
                         uint64_t offset);
/* The presence result: begin, one member per connected subscriber (n
 * from 0), end. */
struct wsp__jbuf *wsp__cf_out_presence_begin(struct wsp_client *cl,
                                             uint32_t id);
void wsp__cf_out_presence_member(struct wsp__jbuf *jb, int n,
                                 const struct wsp_client *member,
                                 const char *chan_info);
/* A member from what another node stored: its id and ClientInfo JSON. */
void wsp__cf_out_presence_raw(struct wsp__jbuf *jb, int n, const char *id,
                              size_t idlen, const char *info, size_t ilen);
void wsp__cf_out_presence_end(struct wsp_client *cl);
void wsp__cf_out_presence_stats(struct wsp_client *cl, uint32_t id,
                                size_t clients, size_t users);
/* An rpc result: data is the result's JSON, or with error an Error
 * object (wsp__cf_out_error_object). */
void wsp__cf_out_rpc(struct wsp_client *cl, uint32_t id, int error,
                     const void *data, size_t len);
void wsp__cf_out_error_object(struct wsp__jbuf *jb, uint32_t code,
                              const char *message, int temporary);
/* A ClientInfo object for cl (chan_info may be NULL). */
void wsp__cf_out_client_info(struct wsp__jbuf *jb, const struct wsp_client *cl,
                             const char *chan_info);
/* The info of a client's publication: its ClientInfo as a C string. */
void wsp__cf_out_pub_info(struct wsp__jbuf *jb, const struct wsp_client *cl);
/* The subscribe push (code 0) or the unsubscribe push with code and
 * reason (NULL: the protocol's reason of the code). */
void wsp__cf_out_sub_push(struct wsp_client *cl, const char *ch, size_t len,
                          int code, const char *reason);
/* The message push carrying data (a JSON value, or nothing). */
void wsp__cf_out_message(struct wsp__jbuf *jb, const void *data, size_t len);
/* Shared frames (NULL when out of memory). */
struct wsp_frame *wsp__cf_out_message_frame(const struct wsp_mem *mem,
                                            const void *data, size_t len);
struct wsp_frame *wsp__cf_out_join_leave(const struct wsp_mem *mem,
                                         const struct wsp__csub *cs, int join);
/* The same for a ClientInfo JSON object (from another node). */
struct wsp_frame *wsp__cf_out_join_leave_info(const struct wsp_mem *mem,
                                              const char *ch, size_t len,
                                              const char *info, size_t ilen,
                                              int join);
/* A publication; has_offset on a channel with history. For subscribers
 * with delta compression: data_string sends the data as a JSON string,
 * and delta (delta_len bytes), when not NULL, replaces it with the Fossil
 * delta from the channel's previous publication. */
struct wsp__cf_pub {
  const char *channel;
  size_t clen;
  const char *data, *info;
  size_t dlen;
  uint64_t offset;
  int has_offset;
  int data_string;
  const char *delta;
  size_t delta_len;
  uint64_t time; /* Unix ms, when the server has a wall clock; 0: none */
};
/* The pub push of p to the subscribers of pattern, encoded in jb (reset
 * first) and made a shared frame. */
struct wsp_frame *wsp__cf_out_pub(struct wsp__jbuf *jb,
                                  const struct wsp__cf_pub *p,
                                  const char *pattern, size_t plen);
/* Append one pub push of an event (lines separated by '\n'); jb->err. */
int wsp__cf_out_feed_pub(struct wsp__jbuf *jb, const char *ch, size_t len,
                         unsigned fmt, const struct wsp_evlog_event *e);

/* fossil.c: append to out the Fossil delta that makes target[0..tlen)
 * from source[0..slen); its literal inserts are whole UTF-8 characters
 * of a valid UTF-8 target. Returns out->err, or WSP_ERR_NOMEM. */
int wsp__fossil_delta(const struct wsp_mem *mem, const void *source,
                      size_t slen, const void *target, size_t tlen,
                      struct wsp__jbuf *out);

#endif /* WSP_CF_PRIVATE_H */
