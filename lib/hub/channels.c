/*
 * Channels on the hub: the protocol's subscribe, unsubscribe and publish,
 * and server-side subscriptions (history.c adds offsets, history and
 * recovery; push.c the users and message pushes; presence.c presence and
 * presence_stats). Every push is encoded once into a shared frame
 * (wsp_frame) and queued to each target by reference; a target over its
 * output cap is closed as SLOW while the others go on.
 */
/*
 * The subscribe subsystem (channels.c, history.c, token.c) is the one
 * cycle scripts/lib-cycles.py allows: a subscribe needs its position in
 * the log (history.c) and its token (token.c) before it exists, and the
 * log (a gap, a lost position) and token expiry end subscriptions, which
 * is channels.c's job (wsp__ch_drop, wsp__ch_expire). Cutting it would
 * take callbacks for three files that change together.
 */
#include <string.h>

#include "hub_private.h"

/* ---- Delivery ---------------------------------------------------------- */

static int deliver(struct wsp_client *cl, struct wsp_frame *f, int lag_ok) {
  struct wsp_server *s = cl->srv;
  int rv;
  if (!cl->cf.connected || cl->gone ||
      wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return 0;
  wsp__client_enter(cl);
  wsp__cf_out_flush_owed(cl); /* replies owed come first */
  /* A reply that could not be written closed the connection: nothing
   * may follow it (a publication must not overtake its subscribe). */
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    rv = WSP_ERR_CLOSED;
  else if (!(f = wsp__cf_out_frame_for(&s->pb_frames, &s->mem, cl, f)))
    rv = WSP_ERR_NOMEM;
  else
    rv = wsp_conn_send_frame(cl->conn, f);
  if ((rv == WSP_ERR_QUEUE_FULL || rv == WSP_ERR_NOMEM) && lag_ok) {
    wsp__client_leave(cl);
    return rv;
  } else if (rv == WSP_ERR_QUEUE_FULL) {
    s->stats.slow_closes++;
    s->stats.errors_limit++;
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SLOW, "slow");
  } else if (rv == WSP_ERR_NOMEM) {
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SERVER_ERROR,
                      "internal server error");
  } else if (rv == 0) {
    s->stats.messages_out++;
  }
  wsp__client_leave(cl);
  return rv == 0;
}

int wsp__ch_deliver(struct wsp_client *cl, struct wsp_frame *f) {
  return deliver(cl, f, 0);
}

int wsp__ch_try_deliver(struct wsp_client *cl, struct wsp_frame *f) {
  return deliver(cl, f, 1);
}

static int is_wildcard(const char *p, size_t len) {
  size_t i = 0;
  while (i <= len) {
    size_t j = i;
    while (j < len && p[j] != '.')
      j++;
    if (j - i == 1 && (p[i] == '*' || p[i] == '>'))
      return 1;
    i = j + 1;
  }
  return 0;
}

/* A wildcard pattern needs every segment non-empty and '>' last. */
/* What a subscribe asks of the protocol's newer features that the hub
 * does not offer: 0 when nothing, else the error to answer. Another
 * subscription type (map, presence map, shared poll) is not available
 * (108) rather than served as a stream; a delta other than
 * "fossil" is a bad request, and "fossil" is simply not negotiated (the
 * result's delta stays false), as on a Centrifuge channel without it. */
static uint32_t unsupported(const struct wsp__json_val *req) {
  struct wsp__json_val v;
  char delta[16];
  size_t dlen;
  int64_t type;
  if (wsp__json_find(req->ptr, req->len, "type", &v) == 1 &&
      v.type != WSP__JSON_NULL) {
    if (wsp__json_get_i64(&v, &type) != 0)
      return WSP_PROTO_ERROR_BAD_REQUEST;
    if (type != 0)
      return WSP_PROTO_ERROR_NOT_AVAILABLE;
  }
  if (wsp__json_find(req->ptr, req->len, "delta", &v) == 1 &&
      v.type != WSP__JSON_NULL &&
      (v.type != WSP__JSON_STRING ||
       wsp__json_string_decode(&v, delta, sizeof(delta), &dlen) != 0 ||
       !(dlen == 0 || (dlen == 6 && memcmp(delta, "fossil", 6) == 0))))
    return WSP_PROTO_ERROR_BAD_REQUEST;
  return 0;
}

/* The subscribe asks for fossil delta (unsupported() checked the rest). */
static int wants_delta(const struct wsp__json_val *req) {
  struct wsp__json_val v;
  char delta[16];
  size_t n;
  return wsp__json_find(req->ptr, req->len, "delta", &v) == 1 &&
         v.type == WSP__JSON_STRING &&
         wsp__json_string_decode(&v, delta, sizeof(delta), &n) == 0 && n == 6 &&
         memcmp(delta, "fossil", 6) == 0;
}

static int pattern_ok(const char *p, size_t len) {
  size_t i = 0;
  if (!is_wildcard(p, len))
    return 1;
  for (;;) {
    size_t j = i;
    while (j < len && p[j] != '.')
      j++;
    if (j == i || (j - i == 1 && p[i] == '>' && j != len))
      return 0;
    if (j == len)
      return 1;
    i = j + 1;
  }
}

static struct wsp__csub *find_sub(const struct wsp_client *cl, const char *ch,
                                  size_t len) {
  uint32_t i;
  for (i = 0; i < cl->nsubs; i++)
    if (cl->subs[i]->len == len && memcmp(cl->subs[i]->channel, ch, len) == 0)
      return cl->subs[i];
  return NULL;
}

/* ---- Waiting for the engine --------------------------------------------- */

/*
 * With an engine, a subscription joins the fan-out at once but is
 * answered when the engine says its channel's subscription is active
 * and, on a channel with history, where the stream is (with what the
 * client missed, when it asked to recover). Publications reaching it
 * meanwhile are kept (by reference) and merged after the answer by
 * offset, as live publications always are: what the answer already
 * holds is skipped, and a gap ends the subscription with
 * INSUFFICIENT_STATE.
 */
#define SYNC_MAX 256 /* publications kept while waiting; beyond: a gap */

struct sync_pub {
  struct wsp_frame *frame;
  uint64_t offset, epoch;
  uint8_t has_pos;
  uint8_t filtered; /* the subscription's tags filter leaves it out */
};

struct wsp__csync {
  uint32_t id;    /* its PENDING_SYNC in the server's wsp_corr; 0: held */
  uint32_t holds; /* id 0: its client's publishes waiting for replies */
  uint32_t n, cap;
  uint8_t overflow;
  struct sync_pub *pubs;
};

static void sync_release(struct wsp_server *s, struct wsp__csync *sy) {
  uint32_t i;
  if (!sy)
    return;
  for (i = 0; i < sy->n; i++)
    wsp_frame_unref(sy->pubs[i].frame);
  wsp__free(&s->mem, sy->pubs);
  wsp__free(&s->mem, sy);
}

/* Keep a publication for a subscription waiting for the engine. */
static void sync_keep(struct wsp__csync *sy, struct wsp_server *s,
                      struct wsp_frame *f, const struct wsp__hpos *hp,
                      int filtered) {
  if (!f || sy->overflow || sy->n == SYNC_MAX) {
    sy->overflow = 1;
    return;
  }
  if (sy->n == sy->cap) {
    uint32_t cap = sy->cap ? sy->cap * 2 : 8;
    struct sync_pub *a = wsp__realloc(&s->mem, sy->pubs, cap * sizeof(*a));
    if (!a) {
      sy->overflow = 1;
      return;
    }
    sy->pubs = a;
    sy->cap = cap;
  }
  sy->pubs[sy->n].frame = wsp_frame_ref(f);
  sy->pubs[sy->n].has_pos = hp != NULL;
  sy->pubs[sy->n].offset = hp ? hp->offset : 0;
  sy->pubs[sy->n].epoch = hp ? hp->epoch : 0;
  sy->pubs[sy->n].filtered = (uint8_t)(filtered != 0);
  sy->n++;
}

/* ---- Join and leave ---------------------------------------------------- */

struct notice {
  struct wsp__csub *self;
  struct wsp_frame *frame;
  int join;
};

/* As in Centrifuge, where a join goes through the broker to every
 * subscriber, a joining subscriber that asked for join/leave gets its
 * own join (after its subscribe reply); a leaving one is gone already. */
static void notice_one(void *sub, void *ud) {
  struct wsp__csub *cs = sub;
  struct notice *n = ud;
  if ((cs != n->self || n->join) && cs->join_leave)
    wsp__ch_deliver(cs->cl, n->frame);
}

/* With an engine: presence and the join or leave go to every node. */
static void engine_announce(struct wsp__csub *cs, int join) {
  struct wsp_client *cl = cs->cl;
  struct wsp_server *s = cl->srv;
  struct wsp__jbuf jb;
  if (cs->wildcard || !cl->cf.connected ||
      !(s->channel_flags & (WSP_CHANNEL_PRESENCE | WSP_CHANNEL_JOIN_LEAVE)))
    return;
  wsp__jbuf_init(&jb, &s->mem);
  wsp__cf_out_client_info(&jb, cl, cs->chan_info);
  if (!jb.err && (s->channel_flags & WSP_CHANNEL_PRESENCE))
    (void)s->engine->presence(s->engine->data, cs->channel, cs->len, cl->id,
                              join ? jb.data : NULL, jb.len, WSP__PRESENCE_TTL);
  if (!jb.err && (s->channel_flags & WSP_CHANNEL_JOIN_LEAVE))
    (void)s->engine->join_leave(s->engine->data, cs->channel, cs->len, jb.data,
                                jb.len, join);
  wsp__jbuf_free(&jb);
}

static void join_leave(struct wsp__csub *cs, int join) {
  struct wsp_client *cl = cs->cl;
  struct wsp_server *s = cl->srv;
  struct notice n;
  if (s->engine) {
    engine_announce(cs, join);
    return;
  }
  if (!(s->channel_flags & WSP_CHANNEL_JOIN_LEAVE) || cs->wildcard ||
      !cl->cf.connected)
    return;
  n.self = cs;
  n.join = join;
  n.frame = wsp__cf_out_join_leave(&s->mem, cs, join);
  if (!n.frame)
    return;
  wsp_pubsub_each(s->channels, cs->channel, cs->len, notice_one, &n);
  wsp_frame_unref(n.frame);
}

/* ---- Subscriptions ----------------------------------------------------- */

/* Add the subscription; the reply or push is the caller's. */
static struct wsp__csub *add_sub(struct wsp_client *cl, const char *ch,
                                 size_t len, int jl, const char *chan_info) {
  struct wsp_server *s = cl->srv;
  struct wsp__csub *cs;
  if (cl->nsubs == cl->capsubs) {
    uint32_t cap = cl->capsubs ? cl->capsubs * 2 : 1;
    struct wsp__csub **a = wsp__realloc(&s->mem, cl->subs, cap * sizeof(*a));
    if (!a)
      return NULL;
    cl->subs = a;
    cl->capsubs = cap;
  }
  cs = wsp__malloc(&s->mem, sizeof(*cs));
  if (!cs)
    return NULL;
  memset(cs, 0, sizeof(*cs));
  cs->cl = cl;
  cs->len = len;
  cs->channel = wsp__strndup(&s->mem, ch, len);
  cs->chan_info =
      chan_info ? wsp__strndup(&s->mem, chan_info, strlen(chan_info)) : NULL;
  cs->join_leave = (uint8_t)(jl != 0);
  cs->wildcard = (uint8_t)is_wildcard(ch, len);
  if (!cs->channel || (chan_info && !cs->chan_info) ||
      wsp_pubsub_subscribe(s->channels, ch, len, cs) != 0 ||
      (s->engine &&
       s->engine->subscribe(s->engine->data, ch, len, cs->wildcard) != 0 &&
       (wsp_pubsub_unsubscribe(s->channels, ch, len, cs), 1))) {
    wsp__free(&s->mem, cs->channel);
    wsp__free(&s->mem, cs->chan_info);
    wsp__free(&s->mem, cs);
    return NULL;
  }
  cl->subs[cl->nsubs++] = cs;
  s->stats.subscriptions++;
  return cs;
}

static void remove_sub_ex(struct wsp_client *cl, struct wsp__csub *cs,
                          int announce) {
  struct wsp_server *s = cl->srv;
  uint32_t i;
  for (i = 0; i < cl->nsubs; i++) {
    if (cl->subs[i] == cs) {
      cl->subs[i] = cl->subs[--cl->nsubs];
      break;
    }
  }
  wsp_pubsub_unsubscribe(s->channels, cs->channel, cs->len, cs);
  if (cs->sync) {
    /* still waiting for the engine: nobody will hear the answer (and
     * the engine, told below, must not answer it into a subscription
     * being removed) */
    uint32_t id = cs->sync->id;
    sync_release(s, cs->sync);
    cs->sync = NULL;
    if (id)
      wsp_corr_cancel(s->rpc, id);
  }
  if (s->engine)
    s->engine->unsubscribe(s->engine->data, cs->channel, cs->len, cs->wildcard);
  if (cs->lagging)
    wsp__hist_unlag(cs);
  if (announce)
    join_leave(cs, 0);
  s->stats.subscriptions--;
  wsp__free(&s->mem, cs->channel);
  wsp__free(&s->mem, cs->chan_info);
  wsp__free(&s->mem, cs->push_data);
  wsp__tags_free(&s->mem, cs->filter);
  wsp__free(&s->mem, cs);
}

static void remove_sub(struct wsp_client *cl, struct wsp__csub *cs) {
  remove_sub_ex(cl, cs, 1);
}

/* Merge what reached cs while it waited: after its answer, in order. */
static void sync_replay(struct wsp_client *cl, struct wsp__csub *cs,
                        const struct wsp__csync *sy) {
  struct wsp_server *s = cl->srv;
  uint32_t i;
  for (i = 0; i < sy->n; i++) {
    const struct sync_pub *sp = &sy->pubs[i];
    int rv;
    if (cs->positioned && sp->has_pos) {
      struct wsp__hpos hp;
      int live;
      memset(&hp, 0, sizeof(hp));
      hp.offset = sp->offset;
      hp.epoch = sp->epoch;
      live = wsp__hist_live(cs, &hp);
      if (live == 0)
        continue; /* the answer had it */
      if (live < 0) {
        wsp__ch_drop(cs, WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
        return;
      }
      if (sp->filtered) {
        cs->next = sp->offset + 1;
        continue;
      }
      rv = wsp__ch_try_deliver(cl, sp->frame);
      if (rv != 1) {
        if (rv == WSP_ERR_QUEUE_FULL || rv == WSP_ERR_NOMEM)
          wsp__ch_drop(cs, WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
        return;
      }
      cs->next = sp->offset + 1;
    } else if (sp->filtered) {
      continue;
    } else if (wsp__ch_deliver(cl, sp->frame) != 1) {
      return;
    }
    s->stats.deliveries++;
  }
  if (sy->overflow && cs->positioned)
    wsp__ch_drop(cs, WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
}

/* The engine answered a subscription's wait (p->join_leave: the channel
 * has history). */
static void sync_done(struct wsp__pending *p, int status, const void *data,
                      size_t len) {
  struct wsp_client *cl = p->cl;
  struct wsp_server *s = cl->srv;
  struct wsp__csub *cs = p->cs;
  struct wsp__csync *sy = cs->sync;
  const struct wsp__eresult *res = status == STATUS_REPLY ? data : NULL;
  uint32_t code = 0;
  (void)len;
  wsp__client_enter(cl);
  cs->sync = NULL; /* answered: nothing to cancel any more */
  if (!res)
    code = WSP_PROTO_ERROR_INTERNAL;
  else if (p->join_leave)
    code = wsp__hist_engine_subscribed(cl, cs, p->cmd_id, &p->recover, res);
  if (code) {
    remove_sub_ex(cl, cs, 0);
    if (p->cmd_id)
      wsp__cf_out_error(cl, p->cmd_id, code,
                        status == WSP_ERR_TIMEOUT ? "timeout" : NULL,
                        code == WSP_PROTO_ERROR_INTERNAL);
    else /* a server-side subscription: the client gets it again */
      wsp__client_close(cl, WSP_PROTO_DISCONNECT_SERVER_ERROR,
                        "internal server error");
  } else {
    if (!p->join_leave) {
      struct wsp__cf_sub_result r;
      memset(&r, 0, sizeof(r));
      r.expires_at = p->cmd_id ? cs->expires_at : 0;
      wsp__cf_out_subscribed(cl, p->cmd_id, cs, r.expires_at ? &r : NULL, NULL);
    }
    if (p->cmd_id && cs->expires_at)
      wsp__tok_sub_due(cl);
    join_leave(cs, 1);
    sync_replay(cl, cs, sy);
  }
  sync_release(s, sy);
  wsp__client_leave(cl);
}

/* Ask the engine for cs's position (hist: the channel has history) and
 * answer when it comes. */
static int engine_sync(struct wsp_client *cl, struct wsp__csub *cs, uint32_t id,
                       const struct wsp__recover *rq, int hist) {
  struct wsp_server *s = cl->srv;
  struct wsp__pending *p = NULL;
  struct wsp__eread er;
  uint32_t h = 0;
  int rc;
  cs->sync = wsp__malloc(&s->mem, sizeof(*cs->sync));
  if (!cs->sync)
    return WSP_ERR_NOMEM;
  memset(cs->sync, 0, sizeof(*cs->sync));
  if ((rc = wsp__pending_start(cl, id, PENDING_SYNC, sync_done, &p, &h)) != 0) {
    sync_release(s, cs->sync);
    cs->sync = NULL;
    return rc;
  }
  cs->sync->id = h;
  p->cs = cs;
  p->join_leave = (uint8_t)(hist != 0);
  if (rq)
    p->recover = *rq;
  memset(&er, 0, sizeof(er));
  er.kind = !hist               ? WSP__EREAD_READY
            : rq && rq->recover ? WSP__EREAD_RECOVER
                                : WSP__EREAD_POSITION;
  er.offset = rq ? rq->offset : 0;
  er.epoch = rq ? rq->epoch : "";
  er.max = s->hist.recovery_max;
  er.pattern = cs->wildcard;
  if (hist)
    wsp__hist_want(s, cs->channel, cs->len, &er.retention);
  if ((rc = s->engine->read(s->engine->data, cs->channel, cs->len, &er, h)) !=
      0) {
    sync_release(s, cs->sync);
    cs->sync = NULL;
    wsp_corr_cancel(s->rpc, h);
  }
  return rc;
}

/* What a subscription is made with (zero: none of it). */
struct subreq {
  int jl;         /* the client asked for join/leave pushes */
  unsigned flags; /* WSP_CHANNEL_* of the channel */
  const char *chan_info;
  const struct wsp__recover *rq;   /* its recovery, or NULL */
  uint64_t expires_at;             /* its subscription token's expiry */
  const struct wsp_str *push;      /* server-side: data for its push */
  struct wsp__tags_filter *filter; /* its tags filter: taken over */
  int delta;                       /* the client asked for fossil */
};

/* The subscribe was allowed: subscribe, reply (or push), announce. */
static int subscribe_now(struct wsp_client *cl, uint32_t id, const char *ch,
                         size_t len, struct subreq *r) {
  const struct wsp__recover *rq = r->rq;
  struct wsp__csub *cs;
  uint32_t code = 0;
  int hist;
  if (find_sub(cl, ch, len)) {
    if (id)
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_ALREADY_SUBSCRIBED, NULL, 0);
    wsp__tags_free(&cl->srv->mem, r->filter);
    return WSP_ERR_STATE;
  }
  cs = add_sub(cl, ch, len, r->jl && (r->flags & WSP_CHANNEL_JOIN_LEAVE),
               r->chan_info);
  if (cs) {
    cs->filter = r->filter;
  } else {
    wsp__tags_free(&cl->srv->mem, r->filter);
  }
  r->filter = NULL;
  if (cs && r->push && r->push->len &&
      !(cs->push_data =
            wsp__strndup(&cl->srv->mem, r->push->ptr, r->push->len))) {
    remove_sub_ex(cl, cs, 0);
    cs = NULL;
  }
  if (!cs) {
    if (id)
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return WSP_ERR_NOMEM; /* patterns were checked before */
  }
  cs->expires_at = r->expires_at;
  cs->server_side = (uint8_t)(id == 0);
  /* A channel with history: the subscriber is positioned at the stream's
   * top, after any missed publications the reply carries (with the
   * subscription token's expiry, when it has one). */
  if (!id && cl->cf.connecting) {
    /* Made while connecting: positioned when the connect reply, which
     * reports it, is written (wsp__ch_connected). */
    cs->early = 1;
    return 0;
  }
  hist = cs->wildcard ? 0 : wsp__hist_on(cl->srv, ch, len);
  /* Delta needs the previous publication: the embedded log's, in order
   * (delta.c); a filter would break the chain. */
  cs->delta = (uint8_t)(r->delta && hist > 0 && !cl->srv->engine &&
                        !cs->filter && (r->flags & WSP_CHANNEL_DELTA));
  if (cl->srv->engine && hist >= 0) {
    int rc = engine_sync(cl, cs, id, rq, hist);
    if (rc != 0) {
      remove_sub_ex(cl, cs, 0);
      if (id)
        wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    }
    return rc; /* answered when the engine is */
  }
  if (hist != 0)
    code = hist < 0 ? wsp__hist_error(hist)
                    : wsp__hist_subscribed(cl, cs, id, rq, NULL);
  if (code) {
    remove_sub_ex(cl, cs, 0);
    if (id)
      wsp__cf_out_error(cl, id, code, NULL, code == WSP_PROTO_ERROR_INTERNAL);
    /* the log's own error (WSP_ERR_LIMIT for a log at max_streams) */
    if (hist < 0)
      return hist;
    return code == WSP_PROTO_ERROR_INTERNAL ? WSP_ERR_NOMEM : WSP_ERR_STATE;
  }
  if (hist != 0) {
    if (id && r->expires_at)
      wsp__tok_sub_due(cl);
  } else if (id && r->expires_at) {
    struct wsp__cf_sub_result res;
    memset(&res, 0, sizeof(res));
    res.expires_at = r->expires_at;
    wsp__cf_out_subscribed(cl, id, cs, &res, NULL);
    wsp__tok_sub_due(cl);
  } else {
    wsp__cf_out_subscribed(cl, id, cs, NULL, NULL);
  }
  join_leave(cs, 1);
  return 0;
}

void wsp__ch_drop(struct wsp__csub *cs, int code) {
  struct wsp_client *cl = cs->cl;
  /* A client cannot resubscribe to a server-side subscription: it must
   * reconnect, and recovers through its connect's subs map. */
  int reconnect =
      cs->server_side && code == WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE;
  wsp__client_enter(cl);
  if (!reconnect && cl->cf.connected &&
      wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN)
    wsp__cf_out_sub_push(cl, cs->channel, cs->len, code, NULL);
  remove_sub_ex(cl, cs, 1);
  if (reconnect)
    wsp__client_close(
        cl, WSP_PROTO_DISCONNECT_INSUFFICIENT_STATE,
        wsp_proto_disconnect_reason(WSP_PROTO_DISCONNECT_INSUFFICIENT_STATE));
  wsp__client_leave(cl);
}

struct wsp__csub *wsp__ch_find(const struct wsp_client *cl, const char *ch,
                               size_t len) {
  return find_sub(cl, ch, len);
}

void wsp__ch_expire(struct wsp_client *cl, struct wsp__csub *cs) {
  struct wsp_server *s = cl->srv;
  char *ch = wsp__strndup(&s->mem, cs->channel, cs->len);
  size_t len = cs->len;
  remove_sub(cl, cs);
  if (ch)
    wsp__cf_out_sub_push(cl, ch, len, WSP_PROTO_UNSUBSCRIBE_EXPIRED, NULL);
  else
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SUBSCRIPTION_EXPIRED,
                      "subscription expired");
  wsp__free(&s->mem, ch);
}

int wsp__ch_subscribe_server(struct wsp_client *cl, const char *ch,
                             size_t len) {
  if (!len || len > cl->srv->limits[WSP_SERVER_MAX_CHANNEL_LEN] ||
      !pattern_ok(ch, len) || find_sub(cl, ch, len))
    return WSP_ERR_INVAL;
  struct subreq r;
  memset(&r, 0, sizeof(r));
  r.flags = cl->srv->channel_flags;
  return subscribe_now(cl, 0, ch, len, &r);
}

int wsp__ch_connected(struct wsp_client *cl, const struct wsp__json_val *subs,
                      struct wsp__jbuf *out) {
  uint32_t i;
  for (i = 0; i < cl->nsubs; i++) {
    struct wsp__csub *cs = cl->subs[i];
    struct wsp__recover rq;
    int hist;
    if (!cs->early)
      continue;
    cs->early = 0;
    /* The same positioning and recovery as a subscribe's, with the
     * position the connect's subs map gives for the channel. */
    wsp__hist_connect_recover(subs, cs->channel, &rq);
    hist = cs->wildcard ? 0 : wsp__hist_on(cl->srv, cs->channel, cs->len);
    if (cl->srv->engine && hist >= 0) {
      /* Not in the connect reply: a subscribe push follows it once the
       * engine has answered. */
      if (engine_sync(cl, cs, 0, &rq, hist) != 0)
        return WSP_ERR_NOMEM;
      continue;
    }
    if (hist < 0 ||
        (hist > 0 && wsp__hist_subscribed(cl, cs, 0, &rq, out) != 0))
      return WSP_ERR_NOMEM;
    if (hist == 0)
      wsp__cf_out_subscribed(cl, 0, cs, NULL, out);
    join_leave(cs, 1);
  }
  return out->err;
}

void wsp__ch_connect_failed(struct wsp_client *cl) {
  uint32_t i = cl->nsubs;
  while (i-- > 0)
    if (i < cl->nsubs && cl->subs[i]->early)
      remove_sub_ex(cl, cl->subs[i], 0);
}

/* The completion of a subscribe that waited for the application. */
static void sub_done(struct wsp__pending *p, int status, const void *data,
                     size_t len) {
  struct wsp_client *cl = p->cl;
  const struct wsp__sub_answer *a = status == STATUS_SUB_ANSWER ? data : NULL;
  (void)len;
  wsp__client_enter(cl);
  if (status == WSP_ERR_TIMEOUT || !a)
    wsp__cf_out_error(cl, p->cmd_id, WSP_PROTO_ERROR_INTERNAL,
                      status == WSP_ERR_TIMEOUT ? "timeout" : NULL, 1);
  else if (a->code)
    wsp__cf_out_error(cl, p->cmd_id, a->code, NULL,
                      wsp_proto_error_is_temporary((int)a->code));
  else {
    struct subreq r;
    memset(&r, 0, sizeof(r));
    r.jl = p->join_leave;
    r.flags = a->flags;
    r.chan_info = a->chan_info;
    r.rq = &p->recover;
    r.expires_at = p->expires_at;
    r.filter = p->filter; /* taken over */
    r.delta = p->delta;
    p->filter = NULL;
    subscribe_now(cl, p->cmd_id, p->channel, p->len, &r);
  }
  wsp__client_leave(cl);
}

int wsp_server_subscribe_answer(struct wsp_server *s, uint64_t sub,
                                uint32_t code, unsigned flags,
                                const char *chan_info) {
  struct wsp__sub_answer a;
  if (!s || !(sub & WSP__SUB_HANDLE) || (sub >> 33) != 0)
    return WSP_ERR_INVAL;
  if (chan_info &&
      wsp__json_validate(chan_info, strlen(chan_info), 64, NULL) != 0)
    return WSP_ERR_JSON;
  a.code = code;
  a.flags = flags;
  a.chan_info = chan_info;
  return wsp_corr_complete(s->rpc, (uint32_t)sub, STATUS_SUB_ANSWER, &a,
                           sizeof(a));
}

/* ---- Publications ------------------------------------------------------ */

struct pubctx {
  struct wsp__cf_pub pub;
  const struct wsp__hpos *hp; /* where it went in the log, or NULL */
  const char *pattern;        /* the pattern the frame was encoded for */
  struct wsp_frame *frame;
  struct wsp__jbuf jb;
  long delivered;
  long timed;    /* deliveries whose lag was observed */
  uint64_t born; /* when its fan-out began (the hub's clock) */
  /* From the engine: for the exact channel's subscribers only (epat
   * NULL), or for the subscribers of the pattern epat only. */
  uint8_t from_engine;
  const char *epat;
  size_t eplen;
  struct wsp__delta_frames df; /* for subscribers with delta */
  struct wsp__tags_view *tags; /* decoded for the first tags filter */
  struct wsp_server *srv;
};

/* The frame of the publication for subscribers of pattern: one
 * encoding per subscription pattern, shared by its subscribers. */
static struct wsp_frame *frame_for(struct pubctx *c, const char *pattern,
                                   size_t plen) {
  if (pattern != c->pattern) {
    wsp_frame_unref(c->frame);
    c->pattern = pattern;
    c->frame = wsp__cf_out_pub(&c->jb, &c->pub, pattern, plen);
  }
  return c->frame;
}

/* Observe the fan-out lag of the deliveries made since the last time.
 * The clock is read once per LAG_EVERY deliveries: they take far less
 * than the millisecond it counts, and a fan-out to many subscribers
 * reads it no more than needed. */
#define LAG_EVERY 64
static void lag_observe(struct wsp_server *s, struct pubctx *c) {
  uint64_t n = (uint64_t)(c->delivered - c->timed);
  if (n == 0)
    return;
  wsp__metrics_observe(&s->metrics.fanout,
                       wsp__metrics_since(c->born, wsp__server_now(s)), n);
  c->timed = c->delivered;
}

/* Whether cs's tags filter lets c's publication through; its tags are
 * decoded once for all the filters of the fan-out. */
static int filter_pass(const struct wsp__csub *cs, struct pubctx *c) {
  size_t len;
  if (!cs->filter)
    return 1;
  if (c->tags)
    return wsp__tags_match_view(cs->filter, c->tags);
  len = c->pub.info ? strlen(c->pub.info) : 0;
  if ((c->tags = wsp__malloc(&c->srv->mem, sizeof(*c->tags))) == NULL)
    return wsp__tags_match(cs->filter, c->pub.info, len);
  wsp__tags_view_load(c->tags, c->pub.info, len);
  return wsp__tags_match_view(cs->filter, c->tags);
}

static void pub_deliver(void *sub, const char *pattern, size_t plen, void *ud) {
  struct wsp__csub *cs = sub;
  struct pubctx *c = ud;
  struct wsp_frame *f;
  int rv;
  if (c->from_engine &&
      (c->epat ? !cs->wildcard || cs->len != c->eplen ||
                     memcmp(cs->channel, c->epat, c->eplen) != 0
               : cs->wildcard))
    return; /* another of the engine's subscriptions brings it */
  if (cs->sync) {
    sync_keep(cs->sync, cs->cl->srv, frame_for(c, pattern, plen), c->hp,
              !filter_pass(cs, c));
    return;
  }
  if (c->hp && cs->positioned) {
    int live;
    if (cs->lagging)
      return; /* fed from the log once it can take more */
    live = wsp__hist_live(cs, c->hp);
    if (live == 0)
      return; /* it has this one already */
    if (live < 0) {
      /* Its stream has a gap or a new epoch: it must resubscribe and
       * recover, not go on as if nothing were missing. */
      wsp__ch_drop(cs, WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
      return;
    }
    if (!filter_pass(cs, c)) {
      cs->next = c->hp->offset + 1; /* passed over, not missed */
      return;
    }
  } else if (!filter_pass(cs, c)) {
    return;
  }
  frame_for(c, pattern, plen);
  if (!c->hp || !cs->positioned) {
    if (c->frame)
      c->delivered += wsp__ch_deliver(cs->cl, c->frame);
    if (c->delivered - c->timed >= LAG_EVERY)
      lag_observe(cs->cl->srv, c);
    return;
  }
  /* A positioned subscriber with a full output is not closed: it keeps
   * its position and catches up from the log when it can take more. So
   * does one whose frame could not be made: the log still has it. */
  f = cs->delta ? wsp__delta_frame(cs->cl->srv, &c->df, &c->pub, cs->delta_base,
                                   cs->cl->cf.protobuf)
                : c->frame;
  rv = f ? wsp__ch_try_deliver(cs->cl, f) : WSP_ERR_NOMEM;
  if (rv == WSP_ERR_QUEUE_FULL &&
      wsp_conn_queued_bytes(wsp_client_get_conn(cs->cl)) == 0) {
    wsp__ch_deliver(cs->cl, f); /* too big ever to fit: SLOW */
  } else if ((rv == WSP_ERR_QUEUE_FULL || rv == WSP_ERR_NOMEM) &&
             cs->cl->srv->engine) {
    /* The engine's history is not read from here: the client recovers
     * from it by resubscribing. */
    wsp__ch_drop(cs, WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
  } else if (rv == WSP_ERR_QUEUE_FULL || rv == WSP_ERR_NOMEM) {
    wsp__hist_lag(cs, c->hp->offset);
    if (wsp_conn_queued_bytes(wsp_client_get_conn(cs->cl)) == 0)
      wsp__hist_feed(cs->cl); /* no write will come to resume it */
  } else if (rv == 1) {
    cs->next = c->hp->offset + 1;
    cs->delta_base = 1;
    c->delivered++;
    if (c->delivered - c->timed >= LAG_EVERY)
      lag_observe(cs->cl->srv, c);
  }
}

/* Fan a publication out; hp is where it went in the log (or NULL); ec,
 * when not NULL, says which of the engine's subscriptions brought it. */
static long fan_out(struct wsp_server *s, const char *ch, size_t clen,
                    const char *data, size_t dlen, const char *info,
                    const struct wsp__hpos *hp, const struct pubctx *ec) {
  struct pubctx c;
  long n;
  memset(&c, 0, sizeof(c));
  if (ec) {
    c.from_engine = 1;
    c.epat = ec->epat;
    c.eplen = ec->eplen;
  }
  c.hp = hp;
  c.pub.channel = ch;
  c.pub.clen = clen;
  c.pub.data = data;
  c.pub.dlen = dlen;
  c.pub.info = info;
  c.pub.has_offset = hp != NULL;
  c.pub.offset = hp ? hp->offset : 0;
  if (s->wall)
    c.pub.time = hp && hp->time ? hp->time : s->wall(s->wall_ud);
  c.born = wsp__server_now(s);
  c.srv = s;
  wsp__jbuf_init(&c.jb, &s->mem);
  n = wsp_pubsub_publish(s->channels, ch, clen, pub_deliver, &c);
  lag_observe(s, &c);
  wsp_frame_unref(c.frame);
  wsp__delta_frames_free(&c.df);
  wsp__free(&s->mem, c.tags);
  wsp__jbuf_free(&c.jb);
  if (n < 0)
    return n;
  s->stats.publications++;
  s->stats.deliveries += (uint64_t)c.delivered;
  return c.delivered;
}

/* Store the publication when the channel has history, then fan it out;
 * res (or NULL) learns where it went. */
static long publish(struct wsp_server *s, const char *ch, size_t clen,
                    const char *data, size_t dlen, const char *info,
                    int skip_history, struct wsp_publish_result *res) {
  struct wsp__hpos hp;
  long n;
  int rc;
  if (s->engine) {
    /* Handed over: it comes back through wsp__ch_engine_deliver(). */
    struct wsp__epub ep;
    memset(&ep, 0, sizeof(ep));
    ep.channel = ch;
    ep.clen = clen;
    ep.data = data;
    ep.dlen = dlen;
    ep.info = info;
    ep.history = !skip_history && wsp__hist_want(s, ch, clen, &ep.retention);
    rc = s->engine->publish(s->engine->data, &ep, 0);
    if (rc == 0 && res) {
      res->delivered = 0;
      res->offset = 0;
      res->epoch[0] = '\0';
    }
    return rc;
  }
  rc = skip_history ? 0 : wsp__hist_on(s, ch, clen);
  if (rc > 0 &&
      (rc = wsp__hist_append(s, ch, clen, data, dlen, info, &hp)) == 0)
    rc = 1;
  if (rc < 0)
    return rc;
  n = fan_out(s, ch, clen, data, dlen, info, rc ? &hp : NULL, NULL);
  if (res && n >= 0) {
    res->delivered = n;
    res->offset = rc ? hp.offset : 0;
    memcpy(res->epoch, rc ? hp.epoch_text : "", rc ? sizeof(res->epoch) : 1);
  }
  return n;
}

/* The checks every publication from C passes: 0 and the channel's
 * length, or the error to return. */
static int publish_check(const struct wsp_server *s, const char *channel,
                         const void *data, size_t len,
                         const struct wsp_publish_opts *opts, size_t *clen) {
  const char *info = opts ? opts->info : NULL;
  const char *key = opts ? opts->idempotency_key : NULL;
  if (!s || !channel || (len && !data))
    return WSP_ERR_INVAL;
  *clen = strlen(channel);
  if (*clen == 0 || is_wildcard(channel, *clen))
    return WSP_ERR_INVAL;
  if ((len && wsp__json_validate(data, len, 64, NULL) != 0) ||
      (info && wsp__json_validate(info, strlen(info), 64, NULL) != 0))
    return WSP_ERR_JSON;
  if (key && (!*key || strlen(key) > 255))
    return WSP_ERR_INVAL;
  if (opts && opts->tags)
    return wsp__tags_check(opts->tags, strlen(opts->tags));
  return 0;
}

/* The info a publication is stored and sent with: opts' info, with its
 * tags when it has some (*meta is then the copy to free). */
static int publish_meta(struct wsp_server *s,
                        const struct wsp_publish_opts *opts, const char **info,
                        char **meta) {
  *meta = NULL;
  *info = opts ? opts->info : NULL;
  if (!opts || !opts->tags)
    return 0;
  if (!(*meta = wsp__tags_meta(&s->mem, *info, opts->tags)))
    return WSP_ERR_NOMEM;
  *info = *meta;
  return 0;
}

int wsp_server_publish_with(struct wsp_server *s, const char *channel,
                            const void *data, size_t len,
                            const struct wsp_publish_opts *opts,
                            struct wsp_publish_result *result) {
  const char *key = opts ? opts->idempotency_key : NULL, *info;
  struct wsp_publish_result mine;
  size_t clen;
  char *meta;
  long n;
  int rc;
  if (result)
    memset(result, 0, sizeof(*result));
  if ((rc = publish_check(s, channel, data, len, opts, &clen)) != 0)
    return rc;
  if (key && (rc = wsp__idem_find(s, channel, key, result)) != 0)
    return rc < 0 ? rc : 0; /* published already: the same result */
  if ((rc = publish_meta(s, opts, &info, &meta)) != 0)
    return rc;
  n = publish(s, channel, clen, data, len, info, opts && opts->skip_history,
              result ? result : &mine);
  wsp__free(&s->mem, meta);
  if (n < 0)
    return (int)n;
  /* Remembered at best: without memory a repeat would publish again. */
  if (key)
    (void)wsp__idem_store(s, channel, key, result ? result : &mine);
  return 0;
}

/* An asynchronous publication waiting for the engine. */
struct apub {
  struct wsp_server *s;
  wsp_publish_done_fn *done;
  void *user_data;
  char *channel, *key; /* the idempotency key, or NULL */
};

static void apub_done(struct wsp_corr *corr, uint32_t id, int status,
                      const void *data, size_t len, void *ud) {
  struct apub *a = ud;
  struct wsp_server *s = a->s;
  const struct wsp_publish_result *r =
      status == STATUS_REPLY && len == sizeof(*r) ? data : NULL;
  int err = r ? 0 : status < 0 ? status : WSP_ERR_IO;
  (void)corr;
  (void)id;
  if (status == STATUS_ERROR && len == sizeof(int))
    memcpy(&err, data, sizeof(int));
  if (r && a->key)
    (void)wsp__idem_store(s, a->channel, a->key, r);
  if (a->done)
    a->done(s, err, r, a->user_data);
  wsp__free(&s->mem, a->channel);
  wsp__free(&s->mem, a->key);
  wsp__free(&s->mem, a);
}

int wsp_server_publish_async(struct wsp_server *s, const char *channel,
                             const void *data, size_t len,
                             const struct wsp_publish_opts *opts,
                             wsp_publish_done_fn *done, void *user_data) {
  const char *key = opts ? opts->idempotency_key : NULL, *info;
  struct wsp_publish_result res;
  struct wsp__epub ep;
  struct apub *a;
  char *meta;
  uint32_t h = 0;
  size_t clen;
  int rc;
  if (!done)
    return WSP_ERR_INVAL;
  if (s && !s->engine) {
    /* In process: done at once. */
    rc = wsp_server_publish_with(s, channel, data, len, opts, &res);
    if (rc == 0)
      done(s, 0, &res, user_data);
    return rc;
  }
  if ((rc = publish_check(s, channel, data, len, opts, &clen)) != 0)
    return rc;
  if (key && (rc = wsp__idem_find(s, channel, key, &res)) != 0) {
    if (rc < 0)
      return rc;
    done(s, 0, &res, user_data); /* published already: the same result */
    return 0;
  }
  a = wsp__malloc(&s->mem, sizeof(*a));
  if (!a)
    return WSP_ERR_NOMEM;
  memset(a, 0, sizeof(*a));
  a->s = s;
  a->done = done;
  a->user_data = user_data;
  if (key && (!(a->channel = wsp__strndup(&s->mem, channel, clen)) ||
              !(a->key = wsp__strndup(&s->mem, key, strlen(key))))) {
    wsp__free(&s->mem, a->channel);
    wsp__free(&s->mem, a);
    return WSP_ERR_NOMEM;
  }
  if (publish_meta(s, opts, &info, &meta) != 0 ||
      wsp__pending_server_start(s, apub_done, a, &h) != 0) {
    wsp__free(&s->mem, meta);
    wsp__free(&s->mem, a->channel);
    wsp__free(&s->mem, a->key);
    wsp__free(&s->mem, a);
    return WSP_ERR_NOMEM;
  }
  memset(&ep, 0, sizeof(ep));
  ep.channel = channel;
  ep.clen = clen;
  ep.data = data;
  ep.dlen = len;
  ep.info = info;
  ep.history = !(opts && opts->skip_history) &&
               wsp__hist_want(s, channel, clen, &ep.retention);
  rc = s->engine->publish(s->engine->data, &ep, h);
  wsp__free(&s->mem, meta);
  if (rc != 0) {
    /* Not sent: nobody hears of it but the caller, from the return. */
    a->done = NULL;
    wsp_corr_cancel(s->rpc, h);
    return rc;
  }
  return 0;
}

long wsp_server_publish(struct wsp_server *s, const char *channel,
                        const void *data, size_t len, const char *info) {
  struct wsp_publish_opts opts;
  struct wsp_publish_result res;
  int rc;
  memset(&opts, 0, sizeof(opts));
  opts.info = info;
  rc = wsp_server_publish_with(s, channel, data, len, &opts, &res);
  return rc < 0 ? rc : res.delivered;
}

/* ---- The engine's side ------------------------------------------------- */

/*
 * Through an engine, a publication comes back on another connection
 * than its publish's reply, and may come first. So that the publisher
 * still sees its reply first, its own (exact) subscription to the
 * channel is held meanwhile: what reaches it is kept as while it waits
 * for its position, and merged once the replies of its publishes there
 * are written.
 */
static void hold(struct wsp_client *cl, const char *ch, size_t len) {
  struct wsp__csub *cs = find_sub(cl, ch, len);
  if (!cs || (cs->sync && cs->sync->id))
    return; /* none, or waiting for its position: nothing to order */
  if (!cs->sync) {
    cs->sync = wsp__malloc(&cl->srv->mem, sizeof(*cs->sync));
    if (!cs->sync)
      return; /* not held: the order is not kept, nothing is lost */
    memset(cs->sync, 0, sizeof(*cs->sync));
  }
  cs->sync->holds++;
}

static void unhold(struct wsp_client *cl, const char *ch, size_t len) {
  struct wsp__csub *cs = find_sub(cl, ch, len);
  struct wsp__csync *sy;
  if (!cs || !cs->sync || cs->sync->id || !cs->sync->holds ||
      --cs->sync->holds)
    return;
  sy = cs->sync;
  cs->sync = NULL;
  sync_replay(cl, cs, sy);
  sync_release(cl->srv, sy);
}

static void epub_done(struct wsp__pending *p, int status, const void *data,
                      size_t len) {
  struct wsp_client *cl = p->cl;
  (void)data;
  (void)len;
  wsp__client_enter(cl);
  if (status == STATUS_REPLY)
    wsp__cf_out_empty(cl, p->cmd_id, "publish");
  else
    wsp__cf_out_error(cl, p->cmd_id, WSP_PROTO_ERROR_INTERNAL,
                      status == WSP_ERR_TIMEOUT ? "timeout" : NULL, 1);
  if (p->channel)
    unhold(cl, p->channel, p->len);
  wsp__client_leave(cl);
}

/* A client's publish through the engine: acknowledged once it is
 * stored (and sent to every node). */
static void engine_publish(struct wsp_client *cl, uint32_t id, const char *ch,
                           size_t len, const char *data, size_t dlen,
                           const char *info) {
  struct wsp_server *s = cl->srv;
  struct wsp__pending *p = NULL;
  struct wsp__epub ep;
  uint32_t h = 0;
  if (!wsp__rpc_room(cl, id))
    return;
  if (wsp__pending_start(cl, id, PENDING_EPUB, epub_done, &p, &h) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return;
  }
  memset(&ep, 0, sizeof(ep));
  ep.channel = ch;
  ep.clen = len;
  ep.data = data;
  ep.dlen = dlen;
  ep.info = info;
  ep.history = wsp__hist_want(s, ch, len, &ep.retention);
  if (s->engine->publish(s->engine->data, &ep, h) != 0) {
    wsp_corr_cancel(s->rpc, h);
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return;
  }
  if ((p->channel = wsp__strndup(&s->mem, ch, len)) != NULL) {
    p->len = len;
    hold(cl, ch, len);
  }
}

void wsp__ch_engine_set(struct wsp_server *s, const struct wsp__engine *e) {
  if (s->engine && s->engine != e && s->engine->detach)
    s->engine->detach(s->engine->data);
  s->engine = e;
}

void wsp__ch_engine_published(struct wsp_server *s, uint32_t token, int err,
                              uint64_t offset, const char *epoch) {
  struct wsp_publish_result r;
  if (token == 0)
    return; /* nobody waits */
  if (err) {
    wsp_corr_complete(s->rpc, token, STATUS_ERROR, &err, sizeof(err));
    return;
  }
  memset(&r, 0, sizeof(r));
  r.offset = offset;
  if (epoch) {
    size_t n = strlen(epoch);
    n = n < WSP_EVLOG_EPOCH_MAX ? n : WSP_EVLOG_EPOCH_MAX;
    memcpy(r.epoch, epoch, n);
  }
  wsp_corr_complete(s->rpc, token, STATUS_REPLY, &r, sizeof(r));
}

void wsp__ch_engine_read_done(struct wsp_server *s, uint32_t token, int err,
                              const struct wsp__eresult *r) {
  if (err || !r)
    wsp_corr_complete(s->rpc, token, STATUS_ERROR, NULL, 0);
  else
    wsp_corr_complete(s->rpc, token, STATUS_REPLY, r, sizeof(*r));
}

void wsp__ch_engine_deliver(struct wsp_server *s, const char *ch, size_t clen,
                            const char *pattern, size_t plen, const char *data,
                            size_t dlen, const char *info,
                            const struct wsp__hpos *hp) {
  struct pubctx ec;
  memset(&ec, 0, sizeof(ec));
  ec.epat = pattern;
  ec.eplen = plen;
  (void)fan_out(s, ch, clen, data, dlen, info, hp, &ec);
}

static void engine_notice(void *sub, void *ud) {
  struct wsp__csub *cs = sub;
  if (cs->join_leave && !(cs->sync && cs->sync->id) && !cs->early)
    wsp__ch_deliver(cs->cl, ud);
}

void wsp__ch_engine_join_leave(struct wsp_server *s, const char *ch, size_t len,
                               const char *info, size_t ilen, int join) {
  struct wsp_frame *f;
  if (!(s->channel_flags & WSP_CHANNEL_JOIN_LEAVE) ||
      !wsp_pubsub_subscribers(s->channels, ch, len))
    return;
  f = wsp__cf_out_join_leave_info(&s->mem, ch, len, info, ilen, join);
  if (!f)
    return;
  wsp_pubsub_each(s->channels, ch, len, engine_notice, f);
  wsp_frame_unref(f);
}

void wsp__ch_engine_tick(struct wsp_server *s, uint64_t now) {
  struct wsp_client *cl;
  if (!s->engine || !(s->channel_flags & WSP_CHANNEL_PRESENCE))
    return;
  if (s->presence_due == 0)
    s->presence_due = wsp__add_sat(now, WSP__PRESENCE_REFRESH);
  if (now < s->presence_due)
    return;
  s->presence_due = wsp__add_sat(now, WSP__PRESENCE_REFRESH);
  /* Every entry of this node again, before the engine forgets it. */
  for (cl = s->first; cl; cl = cl->next) {
    struct wsp__jbuf jb;
    uint32_t i;
    if (cl->gone || !cl->cf.connected || !cl->nsubs)
      continue;
    wsp__jbuf_init(&jb, &s->mem);
    for (i = 0; i < cl->nsubs; i++) {
      struct wsp__csub *cs = cl->subs[i];
      if (cs->wildcard || (cs->sync && cs->sync->id) || cs->early)
        continue;
      wsp__jbuf_reset(&jb);
      wsp__cf_out_client_info(&jb, cl, cs->chan_info);
      if (!jb.err)
        (void)s->engine->presence(s->engine->data, cs->channel, cs->len, cl->id,
                                  jb.data, jb.len, WSP__PRESENCE_TTL);
    }
    wsp__jbuf_free(&jb);
  }
}

uint64_t wsp__ch_engine_next_deadline(const struct wsp_server *s) {
  if (!s->engine || !(s->channel_flags & WSP_CHANNEL_PRESENCE))
    return WSP_NO_DEADLINE;
  return s->presence_due ? s->presence_due : wsp__server_now(s);
}

void wsp__ch_engine_lost(struct wsp_server *s) {
  struct wsp_client *cl, *next;
  for (cl = s->first; cl; cl = next) {
    uint32_t i = cl->nsubs;
    next = cl->next;
    if (cl->gone || !cl->cf.connected)
      continue;
    wsp__client_enter(cl);
    /* Backwards: a subscription dropped takes the last one's place. */
    while (i-- > 0)
      if (i < cl->nsubs &&
          !(cl->subs[i]->sync && cl->subs[i]->sync->id) &&
          !cl->subs[i]->early)
        wsp__ch_drop(cl->subs[i], WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
    wsp__client_leave(cl);
  }
}

/* ---- Commands ---------------------------------------------------------- */

static int channel_of(struct wsp_client *cl, const struct wsp__json_val *req,
                      char *buf, size_t cap, size_t *len) {
  struct wsp__json_val v;
  size_t max = (size_t)cl->srv->limits[WSP_SERVER_MAX_CHANNEL_LEN];
  *len = 0;
  if (wsp__json_find(req->ptr, req->len, "channel", &v) != 1 ||
      v.type != WSP__JSON_STRING)
    return 0;
  if (wsp__json_string_decode(&v, buf, cap, len) != 0 || *len > max ||
      memchr(buf, '\0', *len))
    return -1;
  return 1;
}

void wsp__ch_command(struct wsp_client *cl, int kind, uint32_t id,
                     const struct wsp__json_val *req) {
  struct wsp_server *s = cl->srv;
  char ch[1024];
  size_t len;
  int r = channel_of(cl, req, ch, sizeof(ch), &len);
  struct wsp__json_val v;

  if (r == 0 || (r > 0 && len == 0)) {
    s->stats.errors_protocol++;
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_BAD_REQUEST, "bad request");
    return;
  }
  if (r < 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
    return;
  }
  switch (kind) {
  case WSP_PROTO_CMD_SUBSCRIBE: {
    struct wsp_subscribe_info info;
    struct wsp__recover rq;
    struct wsp__tags_filter *filter = NULL;
    int jl = 0, wild = is_wildcard(ch, len), rv = 0;
    uint64_t expires_at = 0;
    if (!pattern_ok(ch, len)) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
      return;
    }
    if (wild && !(s->channel_flags & WSP_CHANNEL_WILDCARDS)) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_PERMISSION_DENIED, NULL, 0);
      return;
    }
    if (find_sub(cl, ch, len)) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_ALREADY_SUBSCRIBED, NULL, 0);
      return;
    }
    if (cl->nsubs + cl->nsubwait >= s->limits[WSP_SERVER_MAX_SUBSCRIPTIONS]) {
      s->stats.errors_limit++;
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_LIMIT_EXCEEDED, NULL, 0);
      return;
    }
    if ((rv = (int)unsupported(req)) != 0) {
      wsp__cf_out_error(cl, id, (uint32_t)rv, NULL, 0);
      return;
    }
    if (wsp__json_find(req->ptr, req->len, "tf", &v) == 1 &&
        v.type != WSP__JSON_NULL &&
        (rv = wsp__tags_compile(&s->mem, v.ptr, v.len, &filter)) != 0) {
      wsp__cf_out_error(cl, id,
                        rv == WSP_ERR_NOMEM ? WSP_PROTO_ERROR_INTERNAL
                                            : WSP_PROTO_ERROR_BAD_REQUEST,
                        NULL, rv == WSP_ERR_NOMEM);
      return;
    }
    if (wsp__json_find(req->ptr, req->len, "join_leave", &v) == 1)
      wsp__json_get_bool(&v, &jl);
    if (wsp__hist_parse_recover(req, &rq) != 0) {
      wsp__tags_free(&s->mem, filter);
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
      return;
    }
    rv = wsp__tok_sub_check(cl, ch, len, req, &expires_at);
    if (rv != 0) {
      wsp__tags_free(&s->mem, filter);
      wsp__cf_out_error(cl, id, (uint32_t)rv, NULL,
                        rv == WSP_PROTO_ERROR_INTERNAL);
      return;
    }
    if (!s->cb.on_subscribe) {
      struct subreq sr;
      memset(&sr, 0, sizeof(sr));
      sr.jl = jl;
      sr.flags = s->channel_flags;
      sr.rq = &rq;
      sr.expires_at = expires_at;
      sr.filter = filter;
      sr.delta = wants_delta(req);
      subscribe_now(cl, id, ch, len, &sr);
      return;
    }
    memset(&info, 0, sizeof(info));
    info.channel.ptr = ch;
    info.channel.len = len;
    info.join_leave = jl;
    info.wildcard = wild;
    info.data.ptr = "";
    if (wsp__json_find(req->ptr, req->len, "data", &v) == 1 &&
        v.type != WSP__JSON_NULL) {
      info.data.ptr = v.ptr;
      info.data.len = v.len;
    }
    {
      struct wsp__pending *p = NULL;
      uint32_t h = 0;
      if (wsp__pending_start(cl, id, PENDING_SUB, sub_done, &p, &h) != 0 ||
          !(p->channel = wsp__strndup(&s->mem, ch, len))) {
        if (p && !p->channel)
          wsp_corr_cancel(s->rpc, h);
        wsp__tags_free(&s->mem, filter);
        wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
        return;
      }
      p->filter = filter;
      p->delta = (uint8_t)wants_delta(req);
      p->len = len;
      p->join_leave = (uint8_t)jl;
      p->recover = rq;
      p->expires_at = expires_at;
      rv = s->cb.on_subscribe(cl, WSP__SUB_HANDLE | h, &info, s->user_data);
      if (rv != WSP_ERR_AGAIN)
        wsp_server_subscribe_answer(s, WSP__SUB_HANDLE | h,
                                    rv > 0   ? (uint32_t)rv
                                    : rv < 0 ? WSP_PROTO_ERROR_INTERNAL
                                             : 0,
                                    s->channel_flags, NULL);
    }
    return;
  }
  case WSP_PROTO_CMD_UNSUBSCRIBE: {
    struct wsp__csub *cs = find_sub(cl, ch, len);
    if (cs)
      remove_sub(cl, cs);
    wsp__cf_out_empty(cl, id, "unsubscribe");
    return;
  }
  case WSP_PROTO_CMD_PUBLISH: {
    int rv;
    struct wsp__jbuf info;
    struct wsp__hpos hp;
    if (is_wildcard(ch, len)) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
      return;
    }
    if (wsp__json_find(req->ptr, req->len, "data", &v) != 1 ||
        v.type == WSP__JSON_NULL) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
      return;
    }
    if (s->cb.on_publish) {
      struct wsp_str cs = {ch, len};
      rv = s->cb.on_publish(cl, &cs, (const uint8_t *)v.ptr, v.len,
                            s->user_data);
    } else {
      rv = (s->channel_flags & WSP_CHANNEL_PUBLISH)
               ? 0
               : WSP_PROTO_ERROR_PERMISSION_DENIED;
    }
    if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
      return;
    if (rv != 0) {
      wsp__cf_out_error(cl, id,
                        rv > 0 ? (uint32_t)rv : WSP_PROTO_ERROR_INTERNAL, NULL,
                        rv < 0);
      return;
    }
    wsp__jbuf_init(&info, &s->mem);
    wsp__cf_out_pub_info(&info, cl);
    if (info.err) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
      return;
    }
    if (s->engine) {
      engine_publish(cl, id, ch, len, v.ptr, v.len, info.data);
      wsp__jbuf_free(&info);
      return;
    }
    /* Stored before it is acknowledged; the reply before the fan-out,
     * as the publisher may be a subscriber too. */
    rv = wsp__hist_on(s, ch, len);
    if (rv > 0 &&
        (rv = wsp__hist_append(s, ch, len, v.ptr, v.len, info.data, &hp)) == 0)
      rv = 1;
    if (rv < 0) {
      uint32_t code = wsp__hist_error(rv);
      wsp__cf_out_error(cl, id, code, NULL, code == WSP_PROTO_ERROR_INTERNAL);
    } else {
      wsp__cf_out_empty(cl, id, "publish");
      fan_out(s, ch, len, v.ptr, v.len, info.data, rv ? &hp : NULL, NULL);
    }
    wsp__jbuf_free(&info);
    return;
  }
  case WSP_PROTO_CMD_PRESENCE:
  case WSP_PROTO_CMD_PRESENCE_STATS:
    if (!(s->channel_flags & WSP_CHANNEL_PRESENCE))
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_NOT_AVAILABLE, NULL, 0);
    else if (!find_sub(cl, ch, len) || is_wildcard(ch, len))
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_PERMISSION_DENIED, NULL, 0);
    else
      wsp__presence_command(cl, kind == WSP_PROTO_CMD_PRESENCE, id, ch, len);
    return;
  case WSP_PROTO_CMD_HISTORY:
    if (is_wildcard(ch, len))
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
    else
      wsp__hist_command(cl, id, ch, len, req);
    return;
  default:
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_NOT_AVAILABLE, NULL, 0);
  }
}

void wsp__ch_client_gone(struct wsp_client *cl) {
  while (cl->nsubs)
    remove_sub(cl, cl->subs[cl->nsubs - 1]);
  wsp__free(&cl->srv->mem, cl->subs);
  cl->subs = NULL;
  cl->capsubs = 0;
  wsp__users_set(cl, wsp_client_get_user(cl), NULL);
}

/* ---- Public API -------------------------------------------------------- */

int wsp_server_set_wall_clock(struct wsp_server *s,
                              uint64_t (*unix_ms)(void *user_data),
                              void *user_data) {
  if (!s)
    return WSP_ERR_INVAL;
  s->wall = unix_ms;
  s->wall_ud = unix_ms ? user_data : NULL;
  return 0;
}

int wsp_server_set_channel_flags(struct wsp_server *s, unsigned flags) {
  if (!s || (flags & ~0x1fu))
    return WSP_ERR_INVAL;
  s->channel_flags = flags;
  return 0;
}

int wsp_server_subscribe(struct wsp_client *cl, const char *channel) {
  return wsp_server_subscribe_with(cl, channel, NULL);
}

int wsp__ch_subscribe_opts_check(const struct wsp_subscribe_opts *o) {
  if (!o)
    return 0;
  if ((o->len && !o->data) ||
      (o->len && (memchr(o->data, 0, o->len) ||
                  wsp__json_validate(o->data, o->len, 64, NULL) != 0)) ||
      (o->chan_info &&
       wsp__json_validate(o->chan_info, strlen(o->chan_info), 64, NULL) != 0))
    return WSP_ERR_JSON;
  return 0;
}

int wsp_server_subscribe_with(struct wsp_client *cl, const char *channel,
                              const struct wsp_subscribe_opts *opts) {
  struct wsp_str data = {NULL, 0};
  struct subreq r;
  size_t len;
  int rv;
  if (!cl || !channel || !(len = strlen(channel)) ||
      len > cl->srv->limits[WSP_SERVER_MAX_CHANNEL_LEN] ||
      !pattern_ok(channel, len) || (opts && opts->len && !opts->data))
    return WSP_ERR_INVAL;
  if ((rv = wsp__ch_subscribe_opts_check(opts)) != 0)
    return rv;
  if (!cl->cf.connected && !cl->cf.connecting)
    return WSP_ERR_STATE;
  if (find_sub(cl, channel, len))
    return WSP_ERR_STATE;
  if (opts) {
    data.ptr = opts->data;
    data.len = opts->len;
  }
  wsp__client_enter(cl);
  memset(&r, 0, sizeof(r));
  r.flags = cl->srv->channel_flags;
  r.chan_info = opts ? opts->chan_info : NULL;
  r.push = &data;
  rv = subscribe_now(cl, 0, channel, len, &r);
  wsp__client_leave(cl);
  return rv;
}

int wsp_server_unsubscribe(struct wsp_client *cl, const char *channel) {
  struct wsp__csub *cs;
  if (!cl || !channel)
    return WSP_ERR_INVAL;
  cs = find_sub(cl, channel, strlen(channel));
  if (!cs)
    return WSP_ERR_NOT_FOUND;
  if (cs->early) {
    /* made in this on_connect: the client has not heard of it yet */
    remove_sub_ex(cl, cs, 0);
    return 0;
  }
  wsp__client_enter(cl);
  remove_sub(cl, cs);
  wsp__cf_out_sub_push(cl, channel, strlen(channel),
                       WSP_PROTO_UNSUBSCRIBE_SERVER, NULL);
  wsp__client_leave(cl);
  return 0;
}

size_t wsp_server_channels(const struct wsp_server *s) {
  return s ? wsp_pubsub_channels(s->channels) : 0;
}

int wsp_server_each_channel(const struct wsp_server *s,
                            void (*fn)(const char *channel, size_t len,
                                       size_t clients, void *user_data),
                            void *user_data) {
  if (!s || !fn)
    return WSP_ERR_INVAL;
  return wsp_pubsub_each_channel(s->channels, fn, user_data);
}
