/*
 * The default wire protocol's output (Centrifuge client protocol v2 in
 * JSON, see wsp-protocol(7)): the only place that writes its bytes. A
 * line is one reply or push; lines written while a message is handled
 * are collected in the client's batch and leave as one WebSocket
 * message. Payloads (data) are spliced into the output as the bytes
 * received.
 */
#include <string.h>

#include "hub/hub_private.h"

/* ---- Lines and the batch ------------------------------------------------ */

static const char *error_text(uint32_t code) {
  const char *text = wsp_proto_error_message((int)code);
  return text ? text : "error";
}

struct wsp__jbuf *wsp__cf_out_line_begin(struct wsp_client *cl) {
  if (cl->cf.batch.len)
    WSP__JBUF_LIT(&cl->cf.batch, "\n");
  return &cl->cf.batch;
}

void wsp__cf_out_line_end(struct wsp_client *cl) {
  if (!cl->cf.batching)
    wsp__cf_out_flush(cl);
}

void wsp__cf_out_flush(struct wsp_client *cl) {
  struct wsp_server *s = cl->srv;
  int rv, err = cl->cf.batch.err;
  if (cl->cf.batch.len == 0 && !err)
    return;
  rv = err ? err
           : wsp__cf_out_send_lines(cl, cl->cf.batch.data, cl->cf.batch.len, 0);
  /* An idle connection keeps no batch memory. */
  wsp__jbuf_free(&cl->cf.batch);
  if (rv == 0) {
    s->stats.messages_out++;
  } else if (rv == WSP_ERR_QUEUE_FULL) {
    s->stats.errors_limit++;
    s->stats.slow_closes++;
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SLOW, "slow");
  } else if (rv == WSP_ERR_NOMEM) {
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SERVER_ERROR,
                      "internal server error");
  }
}

int wsp__cf_out_send_lines(struct wsp_client *cl, const char *text, size_t len,
                           int data_strings) {
  struct wsp__jbuf pb;
  int rv;
  if (!cl->cf.protobuf)
    return wsp_conn_send(cl->conn, WSP_OP_TEXT, text, len);
  wsp__jbuf_init(&pb, &cl->srv->mem);
  rv = wsp__pb_json_replies(text, len, data_strings, &pb);
  rv = rv ? WSP_ERR_NOMEM
          : wsp_conn_send(cl->conn, WSP_OP_BINARY, pb.data, pb.len);
  wsp__jbuf_free(&pb);
  return rv;
}

/* ---- Shared frames for Protobuf clients ------------------------------- */

struct wsp_frame *wsp__cf_out_pb_frame(const struct wsp_mem *mem,
                                       struct wsp_frame *f, int data_strings) {
  struct wsp__jbuf jb;
  struct wsp_frame *pb = NULL;
  const uint8_t *msg;
  size_t len;
  int op;
  msg = wsp__outq_frame_payload(f, &op, &len);
  wsp__jbuf_init(&jb, mem);
  if (wsp__pb_json_replies((const char *)msg, len, data_strings, &jb) == 0)
    (void)wsp_frame_new(&pb, mem, WSP_OP_BINARY, jb.data, jb.len);
  wsp__jbuf_free(&jb);
  return pb;
}

struct wsp_frame *wsp__cf_out_frame_for(struct wsp__cf_pb_frames *c,
                                        const struct wsp_mem *mem,
                                        const struct wsp_client *cl,
                                        struct wsp_frame *f) {
  struct wsp_frame *pb;
  size_t len;
  unsigned i;
  int op;
  if (!cl->cf.protobuf)
    return f;
  for (i = 0; i < WSP__CF_PB_FRAMES; i++)
    if (c->json[i] == f)
      return c->pb[i];
  (void)wsp__outq_frame_payload(f, &op, &len);
  if (op != WSP_OP_TEXT)
    return f; /* made for Protobuf already (delta.c) */
  if (!(pb = wsp__cf_out_pb_frame(mem, f, 0)))
    return NULL;
  /* the slot's frame, held until the slot is taken again */
  i = c->next;
  c->next = (c->next + 1) % WSP__CF_PB_FRAMES;
  wsp_frame_unref(c->json[i]);
  wsp_frame_unref(c->pb[i]);
  c->json[i] = wsp_frame_ref(f);
  c->pb[i] = pb;
  return pb;
}

void wsp__cf_out_frames_free(struct wsp__cf_pb_frames *c) {
  unsigned i;
  for (i = 0; i < WSP__CF_PB_FRAMES; i++) {
    wsp_frame_unref(c->json[i]);
    wsp_frame_unref(c->pb[i]);
  }
  memset(c, 0, sizeof(*c));
}

void wsp__cf_out_overflow(struct wsp_client *cl) {
  struct wsp_server *s = cl->srv;
  wsp__jbuf_free(&cl->cf.batch);
  s->stats.errors_limit++;
  s->stats.slow_closes++;
  wsp__client_close(cl, WSP_PROTO_DISCONNECT_SLOW, "slow");
}

void wsp__cf_out_flush_owed(struct wsp_client *cl) {
  if (cl->cf.batch.len || cl->cf.batch.err)
    wsp__cf_out_flush(cl);
}

size_t wsp__cf_out_batched(const struct wsp_client *cl) {
  return cl->cf.batch.len;
}

/* ---- Per-client state -------------------------------------------------- */

void wsp__cf_out_client_init(struct wsp_client *cl) {
  cl->cf.stale_due = cl->cf.ping_due = cl->cf.pong_due = WSP_NO_DEADLINE;
  wsp__jbuf_init(&cl->cf.batch, &cl->srv->mem);
}

void wsp__cf_out_client_free(struct wsp_client *cl) {
  wsp__jbuf_free(&cl->cf.batch);
}

void wsp__cf_out_gone(struct wsp_client *cl) {
  cl->cf.connected = 0;
  cl->cf.stale_due = cl->cf.ping_due = cl->cf.pong_due = WSP_NO_DEADLINE;
}

void wsp__cf_out_before_close(struct wsp_client *cl) {
  int batching = cl->cf.batching;
  cl->cf.batching = 0;
  wsp__cf_out_flush(cl);
  cl->cf.batching = (uint8_t)batching;
}

void wsp__cf_out_closed(struct wsp_client *cl) {
  cl->cf.stale_due = cl->cf.ping_due = cl->cf.pong_due = WSP_NO_DEADLINE;
  cl->cf.awaiting_pong = 0;
}

void wsp__cf_out_error(struct wsp_client *cl, uint32_t id, uint32_t code,
                       const char *message, int temporary) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"error\":{\"code\":");
  wsp__jbuf_u64(jb, code);
  WSP__JBUF_LIT(jb, ",\"message\":");
  wsp__jbuf_str(jb, message ? message : error_text(code),
                strlen(message ? message : error_text(code)));
  if (temporary)
    WSP__JBUF_LIT(jb, ",\"temporary\":true");
  WSP__JBUF_LIT(jb, "}}");
  wsp__cf_out_line_end(cl);
}

/* ---- Pieces ----------------------------------------------------------- */

/* The ttl of an expiry at expires_at (ms): seconds left, rounded up. */
static void put_ttl(struct wsp__jbuf *jb, uint64_t expires_at, uint64_t now) {
  wsp__jbuf_u64(jb, expires_at > now ? (expires_at - now + 999) / 1000 : 0);
}

static void put_position(struct wsp__jbuf *jb, const char *epoch,
                         uint64_t offset) {
  WSP__JBUF_LIT(jb, "\"epoch\":");
  wsp__jbuf_str(jb, epoch, strlen(epoch));
  if (offset) {
    WSP__JBUF_LIT(jb, ",\"offset\":");
    wsp__jbuf_u64(jb, offset);
  }
}

/* The info and tags members of a publication whose meta (tags.c) is
 * meta[0..len), each followed by a comma. */
static void put_meta(struct wsp__jbuf *jb, const char *meta, size_t len) {
  struct wsp_str info, tags;
  wsp__tags_split(meta, len, &info, &tags);
  if (info.len) {
    WSP__JBUF_LIT(jb, "\"info\":");
    wsp__jbuf_raw_value(jb, info.ptr, info.len);
    WSP__JBUF_LIT(jb, ",");
  }
  if (tags.len) {
    WSP__JBUF_LIT(jb, "\"tags\":");
    wsp__jbuf_raw_value(jb, tags.ptr, tags.len);
    WSP__JBUF_LIT(jb, ",");
  }
}

/* A publication's data: the JSON value itself, or for a subscriber with
 * delta compression the JSON text as a string (which its client parses,
 * as it does the data a delta rebuilds). */
static void put_data(struct wsp__jbuf *jb, const char *d, size_t n,
                     int as_string) {
  WSP__JBUF_LIT(jb, "\"data\":");
  if (as_string)
    wsp__jbuf_str(jb, d, n);
  else
    wsp__jbuf_raw_value(jb, d, n);
  WSP__JBUF_LIT(jb, ",");
}

/* One Publication: {"data":...,"info":...,"tags":...,"offset":N}. */
static void pub_json(struct wsp__jbuf *jb, const struct wsp_evlog_event *e,
                     unsigned fmt) {
  WSP__JBUF_LIT(jb, "{");
  if (e->data.len)
    put_data(jb, e->data.ptr, e->data.len, (fmt & WSP__CF_PUB_STRING) != 0);
  if (fmt & WSP__CF_PUB_TIME) {
    WSP__JBUF_LIT(jb, "\"time\":");
    wsp__jbuf_u64(jb, e->time);
    WSP__JBUF_LIT(jb, ",");
  }
  put_meta(jb, e->info.ptr, e->info.len);
  WSP__JBUF_LIT(jb, "\"offset\":");
  wsp__jbuf_u64(jb, e->offset);
  WSP__JBUF_LIT(jb, "}");
}

static struct wsp_frame *frame_of(const struct wsp__jbuf *jb) {
  struct wsp_frame *f = NULL;
  if (jb->err || wsp_frame_new(&f, jb->mem, WSP_OP_TEXT, jb->data, jb->len))
    return NULL;
  return f;
}

void wsp__cf_out_client_info(struct wsp__jbuf *jb, const struct wsp_client *cl,
                             const char *chan_info) {
  WSP__JBUF_LIT(jb, "{\"user\":");
  wsp__jbuf_str(jb, wsp_client_get_user(cl), strlen(wsp_client_get_user(cl)));
  WSP__JBUF_LIT(jb, ",\"client\":\"");
  wsp__jbuf_raw(jb, cl->id, strlen(cl->id));
  WSP__JBUF_LIT(jb, "\"");
  if (cl->info) {
    WSP__JBUF_LIT(jb, ",\"conn_info\":");
    wsp__jbuf_raw_value(jb, cl->info, strlen(cl->info));
  }
  if (chan_info) {
    WSP__JBUF_LIT(jb, ",\"chan_info\":");
    wsp__jbuf_raw_value(jb, chan_info, strlen(chan_info));
  }
  WSP__JBUF_LIT(jb, "}");
}

void wsp__cf_out_pub_info(struct wsp__jbuf *jb, const struct wsp_client *cl) {
  wsp__cf_out_client_info(jb, cl, NULL);
  WSP__JBUF_LIT(jb, "\0"); /* NUL-terminate */
}

void wsp__cf_out_pubs_add(struct wsp__jbuf *jb, size_t n, unsigned fmt,
                          const struct wsp_evlog_event *e) {
  if (n)
    WSP__JBUF_LIT(jb, ",");
  pub_json(jb, e, fmt);
}

/* ---- Replies ---------------------------------------------------------- */

void wsp__cf_out_empty(struct wsp_client *cl, uint32_t id, const char *name) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"");
  wsp__jbuf_raw(jb, name, strlen(name));
  WSP__JBUF_LIT(jb, "\":{}}");
  wsp__cf_out_line_end(cl);
}

/* ,"expires":true,"ttl":N when the credentials expire. */
static void put_expiry(const struct wsp_client *cl, struct wsp__jbuf *jb,
                       uint64_t now) {
  if (!cl->expires_at)
    return;
  WSP__JBUF_LIT(jb, ",\"expires\":true,\"ttl\":");
  put_ttl(jb, cl->expires_at, now);
}

void wsp__cf_out_connect(struct wsp_client *cl, uint32_t id, uint64_t now,
                         uint64_t interval, const struct wsp__jbuf *subs) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"connect\":{\"client\":\"");
  wsp__jbuf_raw(jb, cl->id, 36);
  WSP__JBUF_LIT(jb, "\",\"version\":\"" WSP_VERSION_STRING "\"");
  put_expiry(cl, jb, now);
  if (interval) {
    WSP__JBUF_LIT(jb, ",\"ping\":");
    wsp__jbuf_u64(jb, (interval + 999) / 1000);
    WSP__JBUF_LIT(jb, ",\"pong\":true");
  }
  if (subs->len) {
    WSP__JBUF_LIT(jb, ",\"subs\":{");
    wsp__jbuf_raw(jb, subs->data, subs->len);
    WSP__JBUF_LIT(jb, "}");
  }
  if (cl->srv->wall) {
    WSP__JBUF_LIT(jb, ",\"time\":");
    wsp__jbuf_u64(jb, cl->srv->wall(cl->srv->wall_ud));
  }
  WSP__JBUF_LIT(jb, "}}");
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_refresh(struct wsp_client *cl, uint32_t id, uint64_t now) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"refresh\":{\"client\":\"");
  wsp__jbuf_raw(jb, cl->id, strlen(cl->id));
  WSP__JBUF_LIT(jb, "\",\"version\":\"" WSP_VERSION_STRING "\"");
  put_expiry(cl, jb, now);
  WSP__JBUF_LIT(jb, "}}");
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_refresh_push(struct wsp_client *cl, uint64_t now) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  if (cl->expires_at) {
    WSP__JBUF_LIT(jb, "{\"push\":{\"refresh\":{\"expires\":true,\"ttl\":");
    put_ttl(jb, cl->expires_at, now);
    WSP__JBUF_LIT(jb, "}}}");
  } else {
    WSP__JBUF_LIT(jb, "{\"push\":{\"refresh\":{}}}");
  }
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_ping(struct wsp_client *cl) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{}");
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_subscribed(struct wsp_client *cl, uint32_t id,
                            const struct wsp__csub *cs,
                            const struct wsp__cf_sub_result *r,
                            struct wsp__jbuf *into) {
  const char *ch = cs->channel;
  size_t len = cs->len;
  struct wsp__jbuf *jb;
  int body = 0;
  if (into) {
    /* one member of the connect result's subs map */
    jb = into;
    if (jb->len)
      WSP__JBUF_LIT(jb, ",");
    wsp__jbuf_str(jb, ch, len);
    WSP__JBUF_LIT(jb, ":{");
  } else if (id) {
    jb = wsp__cf_out_line_begin(cl);
    WSP__JBUF_LIT(jb, "{\"id\":");
    wsp__jbuf_u64(jb, id);
    WSP__JBUF_LIT(jb, ",\"subscribe\":{");
  } else {
    jb = wsp__cf_out_line_begin(cl);
    WSP__JBUF_LIT(jb, "{\"push\":{\"channel\":");
    wsp__jbuf_str(jb, ch, len);
    WSP__JBUF_LIT(jb, ",\"subscribe\":{");
  }
  if (id && r && r->expires_at) {
    /* a subscription token's expiry */
    WSP__JBUF_LIT(jb, "\"expires\":true,\"ttl\":");
    put_ttl(jb, r->expires_at, wsp__server_now(cl->srv));
    body = 1;
  }
  if (r && r->epoch) {
    if (body)
      WSP__JBUF_LIT(jb, ",");
    WSP__JBUF_LIT(jb, "\"recoverable\":true,\"positioned\":true,");
    put_position(jb, r->epoch, r->offset);
    if (r->delta)
      WSP__JBUF_LIT(jb, ",\"delta\":true");
    if (r->recovering) {
      WSP__JBUF_LIT(jb, ",\"was_recovering\":true");
      if (r->recovered)
        WSP__JBUF_LIT(jb, ",\"recovered\":true");
      if (r->npubs) {
        WSP__JBUF_LIT(jb, ",\"publications\":[");
        wsp__jbuf_raw(jb, r->pubs, r->pubs_len);
        WSP__JBUF_LIT(jb, "]");
      }
    }
    body = 1;
  }
  if (cs->push_data) {
    /* the application's data of a server-side subscription */
    if (body)
      WSP__JBUF_LIT(jb, ",");
    WSP__JBUF_LIT(jb, "\"data\":");
    wsp__jbuf_raw(jb, cs->push_data, strlen(cs->push_data));
  }
  if (into) {
    WSP__JBUF_LIT(jb, "}");
  } else {
    if (id)
      WSP__JBUF_LIT(jb, "}}");
    else
      WSP__JBUF_LIT(jb, "}}}");
    wsp__cf_out_line_end(cl);
  }
}

void wsp__cf_out_sub_refresh(struct wsp_client *cl, uint32_t id,
                             uint64_t expires_at) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  if (expires_at) {
    WSP__JBUF_LIT(jb, ",\"sub_refresh\":{\"expires\":true,\"ttl\":");
    put_ttl(jb, expires_at, wsp__server_now(cl->srv));
    WSP__JBUF_LIT(jb, "}}");
  } else {
    WSP__JBUF_LIT(jb, ",\"sub_refresh\":{}}");
  }
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_history(struct wsp_client *cl, uint32_t id, const char *pubs,
                         size_t pubs_len, size_t npubs, const char *epoch,
                         uint64_t offset) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"history\":{");
  if (npubs) {
    WSP__JBUF_LIT(jb, "\"publications\":[");
    wsp__jbuf_raw(jb, pubs, pubs_len);
    WSP__JBUF_LIT(jb, "],");
  }
  put_position(jb, epoch, offset);
  WSP__JBUF_LIT(jb, "}}");
  wsp__cf_out_line_end(cl);
}

struct wsp__jbuf *wsp__cf_out_presence_begin(struct wsp_client *cl,
                                             uint32_t id) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"presence\":{\"presence\":{");
  return jb;
}

void wsp__cf_out_presence_member(struct wsp__jbuf *jb, int n,
                                 const struct wsp_client *member,
                                 const char *chan_info) {
  if (n)
    WSP__JBUF_LIT(jb, ",");
  WSP__JBUF_LIT(jb, "\"");
  wsp__jbuf_raw(jb, member->id, strlen(member->id));
  WSP__JBUF_LIT(jb, "\":");
  wsp__cf_out_client_info(jb, member, chan_info);
}

void wsp__cf_out_presence_raw(struct wsp__jbuf *jb, int n, const char *id,
                              size_t idlen, const char *info, size_t ilen) {
  if (n)
    WSP__JBUF_LIT(jb, ",");
  wsp__jbuf_str(jb, id, idlen);
  WSP__JBUF_LIT(jb, ":");
  wsp__jbuf_raw_value(jb, info, ilen);
}

void wsp__cf_out_presence_end(struct wsp_client *cl) {
  WSP__JBUF_LIT(&cl->cf.batch, "}}}");
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_presence_stats(struct wsp_client *cl, uint32_t id,
                                size_t clients, size_t users) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"presence_stats\":{");
  if (clients) {
    WSP__JBUF_LIT(jb, "\"num_clients\":");
    wsp__jbuf_u64(jb, clients);
    WSP__JBUF_LIT(jb, ",\"num_users\":");
    wsp__jbuf_u64(jb, users);
  }
  WSP__JBUF_LIT(jb, "}}");
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_rpc(struct wsp_client *cl, uint32_t id, int error,
                     const void *data, size_t len) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  if (error) {
    WSP__JBUF_LIT(jb, ",\"error\":");
    wsp__jbuf_raw(jb, data, len);
    WSP__JBUF_LIT(jb, "}");
  } else if (len) {
    WSP__JBUF_LIT(jb, ",\"rpc\":{\"data\":");
    wsp__jbuf_raw_value(jb, data, len);
    WSP__JBUF_LIT(jb, "}}");
  } else {
    WSP__JBUF_LIT(jb, ",\"rpc\":{}}");
  }
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_error_object(struct wsp__jbuf *jb, uint32_t code,
                              const char *message, int temporary) {
  WSP__JBUF_LIT(jb, "{\"code\":");
  wsp__jbuf_u64(jb, code);
  if (message && *message) {
    WSP__JBUF_LIT(jb, ",\"message\":");
    wsp__jbuf_str(jb, message, strlen(message));
  }
  if (temporary)
    WSP__JBUF_LIT(jb, ",\"temporary\":true");
  WSP__JBUF_LIT(jb, "}");
}

/* ---- Pushes ----------------------------------------------------------- */

void wsp__cf_out_sub_push(struct wsp_client *cl, const char *ch, size_t len,
                          int code, const char *reason) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"push\":{\"channel\":");
  wsp__jbuf_str(jb, ch, len);
  if (code == 0) {
    WSP__JBUF_LIT(jb, ",\"subscribe\":{}}}");
  } else {
    if (!reason)
      reason = wsp_proto_unsubscribe_reason(code);
    WSP__JBUF_LIT(jb, ",\"unsubscribe\":{\"code\":");
    wsp__jbuf_u64(jb, (uint64_t)code);
    WSP__JBUF_LIT(jb, ",\"reason\":");
    wsp__jbuf_str(jb, reason, strlen(reason));
    WSP__JBUF_LIT(jb, "}}}");
  }
  wsp__cf_out_line_end(cl);
}

void wsp__cf_out_message(struct wsp__jbuf *jb, const void *data, size_t len) {
  WSP__JBUF_LIT(jb, "{\"push\":{\"message\":{");
  if (len) {
    WSP__JBUF_LIT(jb, "\"data\":");
    wsp__jbuf_raw_value(jb, data, len);
  }
  WSP__JBUF_LIT(jb, "}}}");
}

struct wsp_frame *wsp__cf_out_message_frame(const struct wsp_mem *mem,
                                            const void *data, size_t len) {
  struct wsp__jbuf jb;
  struct wsp_frame *f;
  wsp__jbuf_init(&jb, mem);
  wsp__cf_out_message(&jb, data, len);
  f = frame_of(&jb);
  wsp__jbuf_free(&jb);
  return f;
}

/* A join or leave push; the ClientInfo is cl's, or info (ilen bytes). */
static struct wsp_frame *join_leave_frame(const struct wsp_mem *mem,
                                          const char *ch, size_t len,
                                          const struct wsp__csub *cs,
                                          const char *info, size_t ilen,
                                          int join) {
  struct wsp__jbuf jb;
  struct wsp_frame *f;
  wsp__jbuf_init(&jb, mem);
  WSP__JBUF_LIT(&jb, "{\"push\":{\"channel\":");
  wsp__jbuf_str(&jb, ch, len);
  if (join)
    WSP__JBUF_LIT(&jb, ",\"join\":{\"info\":");
  else
    WSP__JBUF_LIT(&jb, ",\"leave\":{\"info\":");
  if (cs)
    wsp__cf_out_client_info(&jb, cs->cl, cs->chan_info);
  else
    wsp__jbuf_raw_value(&jb, info, ilen);
  WSP__JBUF_LIT(&jb, "}}}");
  f = frame_of(&jb);
  wsp__jbuf_free(&jb);
  return f;
}

struct wsp_frame *wsp__cf_out_join_leave(const struct wsp_mem *mem,
                                         const struct wsp__csub *cs, int join) {
  return join_leave_frame(mem, cs->channel, cs->len, cs, NULL, 0, join);
}

struct wsp_frame *wsp__cf_out_join_leave_info(const struct wsp_mem *mem,
                                              const char *ch, size_t len,
                                              const char *info, size_t ilen,
                                              int join) {
  return join_leave_frame(mem, ch, len, NULL, info, ilen, join);
}

struct wsp_frame *wsp__cf_out_pub(struct wsp__jbuf *jb,
                                  const struct wsp__cf_pub *p,
                                  const char *pattern, size_t plen) {
  size_t open;
  wsp__jbuf_reset(jb);
  WSP__JBUF_LIT(jb, "{\"push\":{\"channel\":");
  wsp__jbuf_str(jb, pattern, plen);
  WSP__JBUF_LIT(jb, ",\"pub\":{");
  open = jb->len; /* each member is followed by a comma, the last's cut */
  if (p->delta)
    put_data(jb, p->delta, p->delta_len, 1);
  else if (p->dlen)
    put_data(jb, p->data, p->dlen, p->data_string);
  if (p->time) {
    WSP__JBUF_LIT(jb, "\"time\":");
    wsp__jbuf_u64(jb, p->time);
    WSP__JBUF_LIT(jb, ",");
  }
  if (p->info)
    put_meta(jb, p->info, strlen(p->info));
  if (p->has_offset) {
    WSP__JBUF_LIT(jb, "\"offset\":");
    wsp__jbuf_u64(jb, p->offset);
    WSP__JBUF_LIT(jb, ",");
  }
  if (p->delta)
    WSP__JBUF_LIT(jb, "\"delta\":true,");
  if (plen != p->clen || memcmp(pattern, p->channel, plen) != 0) {
    WSP__JBUF_LIT(jb, "\"channel\":");
    wsp__jbuf_str(jb, p->channel, p->clen);
    WSP__JBUF_LIT(jb, ",");
  }
  if (!jb->err && jb->len > open)
    jb->len--; /* the last comma */
  WSP__JBUF_LIT(jb, "}}}");
  return frame_of(jb);
}

int wsp__cf_out_feed_pub(struct wsp__jbuf *jb, const char *ch, size_t len,
                         unsigned fmt, const struct wsp_evlog_event *e) {
  if (jb->len)
    WSP__JBUF_LIT(jb, "\n");
  WSP__JBUF_LIT(jb, "{\"push\":{\"channel\":");
  wsp__jbuf_str(jb, ch, len);
  WSP__JBUF_LIT(jb, ",\"pub\":");
  pub_json(jb, e, fmt);
  WSP__JBUF_LIT(jb, "}}");
  return jb->err;
}
