/*
 * Channel history on the hub: the bridge between the channels of
 * channels.c and a wsp_evlog. A channel with history is a stream of the
 * same name; each publication is appended before anyone hears of it, and
 * the offset it got travels in every pub push. Subscribers of such a
 * channel are "positioned": they expect the next offset of a known epoch,
 * so a gap or a new epoch in their live stream is noticed and answered
 * with the unsubscribe push INSUFFICIENT_STATE (resubscribe and
 * recover).
 *
 * The log is read synchronously, inside the call that handles the
 * subscribe: the subscription joins the fan-out, the missed publications
 * are read up to the stream's top, and the reply is queued, with no
 * chance for a live publication to come in between (the log refuses an
 * append while it is being read). The live stream of the subscriber
 * therefore starts exactly at top + 1, and the merge by offset that an
 * asynchronous store would need is what wsp__hist_live() does to every
 * live publication: one at or below the subscriber's position is a
 * duplicate and skipped, one beyond the next offset (or of another
 * epoch) is a gap and ends the subscription with 2500.
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

#define DEFAULT_MAX 300

/* 64-bit FNV-1a of an epoch: subscribers keep this, not the string. */
static uint64_t epoch_hash(const char *e) {
  uint64_t h = 14695981039346656037ull;
  while (*e)
    h = (h ^ (unsigned char)*e++) * 1099511628211ull;
  return h;
}

static int same_retention(const struct wsp_evlog_retention *a,
                          const struct wsp_evlog_retention *b) {
  return a->max_events == b->max_events && a->max_bytes == b->max_bytes &&
         a->max_age == b->max_age && a->meta_ttl == b->meta_ttl;
}

uint64_t wsp__hist_now(const struct wsp_server *s) {
  if (s->hist.clock)
    return s->hist.clock(s->hist.user_data);
  return s->wall ? s->wall(s->wall_ud) : wsp__server_now(s);
}

uint64_t wsp__hist_next_deadline(const struct wsp_server *s) {
  uint64_t d, now;
  if (!s->hist.log)
    return WSP_NO_DEADLINE;
  d = wsp_evlog_next_deadline(s->hist.log);
  if (d == WSP_NO_DEADLINE || !s->hist.clock)
    return d;
  /* From the log's clock to the server's: as far ahead as it is. */
  now = wsp__hist_now(s);
  return wsp__add_sat(wsp__server_now(s), d > now ? d - now : 0);
}

uint32_t wsp__hist_error(int rc) {
  /* A new channel over the log's max_streams is the client's limit;
   * anything else (memory, the store) the server's. */
  return rc == WSP_ERR_LIMIT ? WSP_PROTO_ERROR_LIMIT_EXCEEDED
                             : WSP_PROTO_ERROR_INTERNAL;
}

uint64_t wsp__hist_epoch_hash(const char *epoch) { return epoch_hash(epoch); }

int wsp__hist_want(struct wsp_server *s, const char *ch, size_t len,
                   struct wsp_evlog_retention *r) {
  struct wsp__history *h = &s->hist;
  if (!h->configured || (!h->log && !s->engine) || len > WSP_EVLOG_NAME_MAX)
    return 0;
  *r = h->retention;
  return !h->history_for || h->history_for(ch, len, r, h->user_data);
}

int wsp__hist_on(struct wsp_server *s, const char *ch, size_t len) {
  struct wsp__history *h = &s->hist;
  struct wsp_evlog_retention want, have;
  struct wsp_evlog_position pos;
  int rc;
  if (!wsp__hist_want(s, ch, len, &want))
    return 0;
  if (s->engine)
    return 1; /* the engine keeps it */
  rc = wsp_evlog_get_retention(h->log, ch, len, &have);
  if (rc == WSP_ERR_NOT_FOUND) {
    /* Create the stream first, so that its first event is kept under
     * the channel's own retention. */
    if ((rc = wsp_evlog_position(h->log, ch, len, &pos)) != 0)
      return rc;
    memset(&have, 0xff, sizeof(have));
  } else if (rc != 0) {
    return rc;
  }
  if (!same_retention(&want, &have) &&
      (rc = wsp_evlog_set_retention(h->log, ch, len, &want)) != 0)
    return rc;
  return 1;
}

int wsp__hist_append(struct wsp_server *s, const char *ch, size_t len,
                     const char *data, size_t dlen, const char *info,
                     struct wsp__hpos *out) {
  struct wsp_evlog_position pos;
  int rc;
  out->time = wsp__hist_now(s);
  rc = wsp_evlog_append(s->hist.log, ch, len, out->time, data, dlen, info,
                        info ? strlen(info) : 0, &out->offset);
  if (rc == 0)
    rc = wsp_evlog_position(s->hist.log, ch, len, &pos);
  if (rc == 0) {
    out->epoch = epoch_hash(pos.epoch);
    memcpy(out->epoch_text, pos.epoch, sizeof(out->epoch_text));
  }
  return rc;
}

int wsp__hist_live(struct wsp__csub *cs, const struct wsp__hpos *pos) {
  if (cs->epoch == pos->epoch && pos->offset < cs->next)
    return 0;
  return cs->epoch != pos->epoch || pos->offset != cs->next ? -1 : 1;
}

/* ---- Publications ------------------------------------------------------- */

struct pubs {
  struct wsp__jbuf jb;
  size_t n;
  /* a subscriber's tags filter, or NULL */
  const struct wsp__tags_filter *filter;
  unsigned fmt; /* WSP__CF_PUB_*: strings for delta, times */
};

/* How publications are written for cl (NULL: no subscriber of its own):
 * data as strings for a subscriber with delta, times with a wall clock. */
static unsigned pub_fmt(const struct wsp_server *s,
                        const struct wsp__csub *cs) {
  return (cs && cs->delta ? WSP__CF_PUB_STRING : 0u) |
         (s->wall ? WSP__CF_PUB_TIME : 0u);
}

/* A read callback: the next element of a list of publications (unless
 * the subscriber's filter leaves it out). */
static int put_pub(const struct wsp_evlog_event *e, void *ud) {
  struct pubs *p = ud;
  if (!wsp__tags_match(p->filter, e->info.ptr, e->info.len))
    return 0;
  wsp__cf_out_pubs_add(&p->jb, p->n++, p->fmt, e);
  return p->jb.err != 0;
}

/* ---- Subscribe ----------------------------------------------------------- */

int wsp__hist_parse_recover(const struct wsp__json_val *req,
                            struct wsp__recover *rq) {
  struct wsp__json_val v;
  uint64_t flag = 0;
  size_t n;
  int b = 0;
  memset(rq, 0, sizeof(*rq));
  if (wsp__json_find(req->ptr, req->len, "recover", &v) == 1 &&
      v.type != WSP__JSON_NULL) {
    if (wsp__json_get_bool(&v, &b) != 0)
      return WSP_ERR_JSON;
    rq->recover = (uint8_t)b;
  }
  if (wsp__json_find(req->ptr, req->len, "offset", &v) == 1 &&
      v.type != WSP__JSON_NULL && wsp__json_get_u64(&v, &rq->offset) != 0)
    return WSP_ERR_JSON;
  if (wsp__json_find(req->ptr, req->len, "epoch", &v) == 1 &&
      v.type != WSP__JSON_NULL &&
      (v.type != WSP__JSON_STRING ||
       wsp__json_string_decode(&v, rq->epoch, sizeof(rq->epoch), &n) != 0 ||
       memchr(rq->epoch, '\0', n)))
    return WSP_ERR_JSON;
  /* Unknown flag bits are ignored; a flag that is not a number too. */
  if (wsp__json_find(req->ptr, req->len, "flag", &v) == 1 &&
      wsp__json_get_u64(&v, &flag) == 0)
    rq->reject = (flag & 2) != 0;
  return 0;
}

/*
 * The connect command's subs map: channel -> {recover, offset, epoch},
 * the positions a client remembers for its server-side subscriptions.
 * Each entry is read as a subscribe's position is, so a bad one makes
 * the connect a bad request (BAD_REQUEST) like a bad subscribe; a null
 * entry is no position, and entries for channels the connection does not get
 * are ignored.
 */
int wsp__hist_check_subs(const struct wsp__json_val *subs) {
  struct wsp__json_val key, val;
  struct wsp__recover rq;
  size_t pos = 0;
  int r;
  if (subs->type != WSP__JSON_OBJECT)
    return WSP_ERR_JSON;
  while ((r = wsp__json_object_next(subs->ptr, subs->len, &pos, &key, &val)) ==
         1)
    if (val.type != WSP__JSON_NULL && (val.type != WSP__JSON_OBJECT ||
                                       wsp__hist_parse_recover(&val, &rq) != 0))
      return WSP_ERR_JSON;
  return r;
}

void wsp__hist_connect_recover(const struct wsp__json_val *subs, const char *ch,
                               struct wsp__recover *rq) {
  struct wsp__json_val key, val;
  size_t pos = 0;
  memset(rq, 0, sizeof(*rq));
  if (!subs || subs->type != WSP__JSON_OBJECT)
    return;
  while (wsp__json_object_next(subs->ptr, subs->len, &pos, &key, &val) == 1)
    if (wsp__json_key_is(&key, ch)) {
      if (wsp__hist_parse_recover(&val, rq) != 0)
        memset(rq, 0, sizeof(*rq));
      /* a connect has no flag to ask for UNRECOVERABLE_POSITION */
      rq->reject = 0;
      return;
    }
}

/* Bytes the client's output can still take. */
static size_t room_of(const struct wsp_client *cl) {
  uint64_t cap = wsp_conn_get_limit(cl->conn, WSP_LIMIT_MAX_QUEUED);
  size_t used = wsp_conn_queued_bytes(cl->conn) + wsp__cf_out_batched(cl);
  return cap > used ? (size_t)(cap - used) : 0;
}

/* Write the reply to a subscribe of cs on a channel with history, the
 * stream being at pos; when the client asked to recover, recovered tells
 * whether pubs (n of them) are exactly what it missed. */
static uint32_t write_subscribed(struct wsp_client *cl, struct wsp__csub *cs,
                                 uint32_t id, const struct wsp__recover *rq,
                                 struct wsp__jbuf *into,
                                 const struct wsp_evlog_position *pos,
                                 int recovered, struct pubs *p) {
  struct wsp__cf_sub_result r;
  int recovering = rq && rq->recover;
  uint64_t offset;
  size_t room;

  /* A connect reply also carries the results written before this one. */
  room = room_of(cl);
  if (into)
    room = into->len < room ? room - into->len : 0;
  if (recovering && recovered && p->n && p->jb.len + 1024 > room) {
    /* The missed publications do not fit the client's output: as with
     * too many of them, not recovered rather than closed for being slow. */
    recovered = 0;
    p->n = 0;
  }
  if (recovering && !recovered && rq->reject)
    return WSP_PROTO_ERROR_UNRECOVERABLE_POSITION;
  cs->positioned = 1;
  cs->next = pos->offset + 1;
  cs->epoch = epoch_hash(pos->epoch);
  /* Recovered: the client's own offset, advanced by the publications it
   * processes; otherwise where the stream is now. */
  offset = recovering && recovered ? rq->offset : pos->offset;
  memset(&r, 0, sizeof(r));
  if (id)
    r.expires_at = cs->expires_at;
  r.epoch = pos->epoch;
  r.offset = offset;
  r.recovering = (uint8_t)recovering;
  r.recovered = (uint8_t)(recovering && recovered);
  r.pubs = recovered ? p->jb.data : NULL;
  r.pubs_len = recovered ? p->jb.len : 0;
  r.npubs = recovered ? p->n : 0;
  r.delta = cs->delta;
  /* with delta, the last publication recovered is the client's base */
  cs->delta_base = (uint8_t)(recovered && p->n > 0);
  wsp__cf_out_subscribed(cl, id, cs, &r, into);
  return 0;
}

uint32_t wsp__hist_subscribed(struct wsp_client *cl, struct wsp__csub *cs,
                              uint32_t id, const struct wsp__recover *rq,
                              struct wsp__jbuf *into) {
  struct wsp_server *s = cl->srv;
  struct wsp_evlog_recovery rec;
  struct pubs p;
  uint32_t code;
  int rc;

  memset(&p, 0, sizeof(p));
  memset(&rec, 0, sizeof(rec));
  wsp__jbuf_init(&p.jb, &s->mem);
  p.filter = cs->filter;
  p.fmt = pub_fmt(s, cs);
  if (rq && rq->recover)
    rc = wsp_evlog_recover(s->hist.log, cs->channel, cs->len, rq->offset,
                           rq->epoch, s->hist.recovery_max, put_pub, &p, &rec);
  else
    rc = wsp_evlog_position(s->hist.log, cs->channel, cs->len, &rec.pos);
  if (rc == 0 && p.jb.err)
    rc = p.jb.err;
  code = rc != 0 ? WSP_PROTO_ERROR_INTERNAL
                 : write_subscribed(cl, cs, id, rq, into, &rec.pos,
                                    rec.recovered, &p);
  wsp__jbuf_free(&p.jb);
  return code;
}

uint32_t wsp__hist_engine_subscribed(struct wsp_client *cl,
                                     struct wsp__csub *cs, uint32_t id,
                                     const struct wsp__recover *rq,
                                     const struct wsp__eresult *res) {
  struct pubs p;
  uint32_t code;
  size_t i;
  int recovered = 0;

  memset(&p, 0, sizeof(p));
  wsp__jbuf_init(&p.jb, &cl->srv->mem);
  p.filter = cs->filter;
  p.fmt = pub_fmt(cl->srv, cs);
  if (rq && rq->recover &&
      (!rq->epoch[0] || !strcmp(rq->epoch, res->pos.epoch)) &&
      rq->offset <= res->pos.offset && res->pos.offset - rq->offset == res->n) {
    /* Exactly the offsets after the client's, up to the top. */
    recovered = 1;
    for (i = 0; i < res->n && recovered; i++)
      recovered = res->events[i].offset == rq->offset + 1 + i;
    for (i = 0; i < res->n && recovered; i++)
      put_pub(&res->events[i], &p);
  }
  code = p.jb.err
             ? WSP_PROTO_ERROR_INTERNAL
             : write_subscribed(cl, cs, id, rq, NULL, &res->pos, recovered, &p);
  wsp__jbuf_free(&p.jb);
  return code;
}

/* ---- Cursor delivery ----------------------------------------------------- */

/*
 * A positioned subscriber whose output queue is full is not closed: it
 * keeps only the offset it needs next, and live publications pass it by.
 * When the application reports output written (wsp_client_sent) and the
 * queue is below its high-water mark, the missed publications are read
 * from the log and queued, a bounded batch at a time, until the
 * subscriber is back at the top and live again. Its memory meanwhile is
 * that of any subscriber. If its position falls out of retention (or the
 * stream gets a new epoch) it gets the unsubscribe push
 * INSUFFICIENT_STATE and recovers the way every client does.
 */

#define FEED_EVENTS 256 /* events per message when catching up */

void wsp__hist_lag(struct wsp__csub *cs, uint64_t offset) {
  cs->lagging = 1;
  cs->next = offset;
  cs->cl->nlagging++;
  cs->cl->srv->stats.lagged++;
}

void wsp__hist_unlag(struct wsp__csub *cs) {
  cs->lagging = 0;
  cs->cl->nlagging--;
}

struct feed {
  struct wsp__jbuf jb;
  const struct wsp__csub *cs;
  size_t budget;
  uint64_t now;
  /* The fan-out lag of the events in jb: from their append (their time
   * in the log) to now, counted once they are queued. */
  struct wsp__metrics_hist lag;
};

static int feed_pub(const struct wsp_evlog_event *e, void *ud) {
  struct feed *f = ud;
  if (!wsp__tags_match(f->cs->filter, e->info.ptr, e->info.len))
    return 0; /* passed over: the subscriber's position moves on */
  wsp__metrics_observe(&f->lag, wsp__metrics_since(e->time, f->now), 1);
  return wsp__cf_out_feed_pub(&f->jb, f->cs->channel, f->cs->len,
                              pub_fmt(f->cs->cl->srv, f->cs), e) != 0 ||
         f->jb.len >= f->budget;
}

/* One batch for cs: 1 when it made progress, 0 when it has nothing to do
 * now, -1 when the connection can take nothing more. */
static int feed_one(struct wsp_client *cl, struct wsp__csub *cs,
                    uint64_t high) {
  struct wsp_server *s = cl->srv;
  struct wsp_evlog_position pos;
  struct feed f;
  size_t queued = wsp_conn_queued_bytes(cl->conn);
  long n;
  int rv;
  if (queued >= high)
    return -1;
  if (wsp_evlog_position(s->hist.log, cs->channel, cs->len, &pos) != 0)
    return 0; /* the log will be asked again at the next write */
  if (epoch_hash(pos.epoch) != cs->epoch || cs->next > pos.offset + 1 ||
      (cs->next <= pos.offset && cs->next < pos.first)) {
    wsp__ch_drop(cs, WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
    return 1;
  }
  if (cs->next > pos.offset) {
    wsp__hist_unlag(cs); /* back at the top: live from here */
    return 1;
  }
  memset(&f, 0, sizeof(f));
  wsp__jbuf_init(&f.jb, &s->mem);
  f.cs = cs;
  f.budget = high - queued;
  f.now = wsp__hist_now(s);
  n = wsp_evlog_read(s->hist.log, cs->channel, cs->len, NULL, cs->next - 1,
                     FEED_EVENTS, 0, feed_pub, &f, NULL);
  if (n <= 0 || f.jb.err) {
    wsp__jbuf_free(&f.jb);
    return 0;
  }
  if (f.jb.len == 0) {
    /* every one of them left out by its tags filter */
    wsp__jbuf_free(&f.jb);
    cs->next += (uint64_t)n;
    if (cs->next > pos.offset)
      wsp__hist_unlag(cs);
    return 1;
  }
  wsp__cf_out_flush_owed(cl); /* replies owed come first */
  rv = wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN
           ? wsp__cf_out_send_lines(cl, f.jb.data, f.jb.len, cs->delta)
           : WSP_ERR_CLOSED;
  wsp__jbuf_free(&f.jb);
  if (rv == WSP_ERR_QUEUE_FULL) {
    /* even one publication is more than the connection may queue */
    s->stats.slow_closes++;
    s->stats.errors_limit++;
    wsp__client_close(cl, WSP_PROTO_DISCONNECT_SLOW, "slow");
  }
  if (rv != 0)
    return -1;
  s->stats.messages_out++;
  s->stats.deliveries += (uint64_t)n;
  cs->delta_base = 1; /* the last one fed is whole */
  wsp__metrics_merge(&s->metrics.fanout, &f.lag);
  cs->next += (uint64_t)n;
  if (cs->next > pos.offset)
    wsp__hist_unlag(cs);
  return 1;
}

void wsp__hist_feed(struct wsp_client *cl) {
  uint64_t high = wsp_conn_get_limit(cl->conn, WSP_LIMIT_HIGH_WATER);
  int progress = 1;
  wsp__client_enter(cl);
  if (!cl->srv->hist.log) {
    /* The log was detached: no way to catch up but a resubscribe. */
    uint32_t i = cl->nsubs;
    while (i-- > 0)
      if (i < cl->nsubs && cl->subs[i]->lagging)
        wsp__ch_drop(cl->subs[i], WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
    progress = 0;
  }
  while (progress && cl->nlagging &&
         wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN) {
    uint32_t i = cl->nsubs;
    progress = 0;
    /* Backwards: a subscription dropped here takes the last one's place,
     * which was already visited. */
    while (i-- > 0 && i < cl->nsubs) {
      int r;
      if (!cl->subs[i]->lagging)
        continue;
      r = feed_one(cl, cl->subs[i], high);
      if (r < 0) {
        progress = 0;
        break;
      }
      progress |= r;
    }
  }
  /* Nothing queued means no write will call us again: a subscriber the
   * log could not feed (an allocation or a read failed) resubscribes
   * instead of waiting forever. */
  if (cl->nlagging && wsp_conn_queued_bytes(cl->conn) == 0 &&
      wsp_conn_get_state(cl->conn) == WSP_STATE_OPEN) {
    uint32_t i = cl->nsubs;
    while (i-- > 0)
      if (i < cl->nsubs && cl->subs[i]->lagging)
        wsp__ch_drop(cl->subs[i], WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE);
  }
  wsp__client_leave(cl);
}

/* ---- The history command ---------------------------------------------- */

static const struct wsp__csub *find_exact(const struct wsp_client *cl,
                                          const char *ch, size_t len) {
  uint32_t i;
  for (i = 0; i < cl->nsubs; i++)
    if (!cl->subs[i]->wildcard && cl->subs[i]->len == len &&
        memcmp(cl->subs[i]->channel, ch, len) == 0)
      return cl->subs[i];
  return NULL;
}

struct hreq {
  int64_t limit;
  int reverse, has_since;
  uint64_t since;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
};

static int parse_history(const struct wsp__json_val *req, struct hreq *r) {
  struct wsp__json_val v, o;
  size_t n;
  memset(r, 0, sizeof(*r));
  if (wsp__json_find(req->ptr, req->len, "limit", &v) == 1 &&
      v.type != WSP__JSON_NULL &&
      (wsp__json_get_i64(&v, &r->limit) != 0 || r->limit < -1 ||
       r->limit > INT32_MAX))
    return -1;
  if (wsp__json_find(req->ptr, req->len, "reverse", &v) == 1 &&
      v.type != WSP__JSON_NULL && wsp__json_get_bool(&v, &r->reverse) != 0)
    return -1;
  if (wsp__json_find(req->ptr, req->len, "since", &o) != 1 ||
      o.type == WSP__JSON_NULL)
    return 0;
  if (o.type != WSP__JSON_OBJECT)
    return -1;
  r->has_since = 1;
  if (wsp__json_find(o.ptr, o.len, "offset", &v) == 1 &&
      v.type != WSP__JSON_NULL && wsp__json_get_u64(&v, &r->since) != 0)
    return -1;
  if (wsp__json_find(o.ptr, o.len, "epoch", &v) == 1 &&
      v.type != WSP__JSON_NULL &&
      (v.type != WSP__JSON_STRING ||
       wsp__json_string_decode(&v, r->epoch, sizeof(r->epoch), &n) != 0 ||
       memchr(r->epoch, '\0', n)))
    return -1;
  /* Backwards from "nothing" is no position at all. */
  return r->reverse && r->since == 0 ? -1 : 0;
}

/* The history command's answer from the engine. p->recover holds the
 * since position asked for (recover: one was given). */
static void ehist_done(struct wsp__pending *pe, int status, const void *data,
                       size_t len) {
  struct wsp_client *cl = pe->cl;
  const struct wsp__eresult *res = status == STATUS_REPLY ? data : NULL;
  struct pubs p;
  size_t i;
  (void)len;
  wsp__client_enter(cl);
  if (!res) {
    wsp__cf_out_error(cl, pe->cmd_id, WSP_PROTO_ERROR_INTERNAL,
                      status == WSP_ERR_TIMEOUT ? "timeout" : NULL, 1);
  } else if (pe->recover.recover && pe->recover.epoch[0] &&
             strcmp(pe->recover.epoch, res->pos.epoch) != 0) {
    wsp__cf_out_error(cl, pe->cmd_id, WSP_PROTO_ERROR_UNRECOVERABLE_POSITION,
                      NULL, 0);
  } else {
    memset(&p, 0, sizeof(p));
    wsp__jbuf_init(&p.jb, &cl->srv->mem);
    p.fmt = pub_fmt(cl->srv, NULL);
    for (i = 0; i < res->n; i++)
      put_pub(&res->events[i], &p);
    if (p.jb.err)
      wsp__cf_out_error(cl, pe->cmd_id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    else
      wsp__cf_out_history(cl, pe->cmd_id, p.jb.data, p.jb.len, p.n,
                          res->pos.epoch, res->pos.offset);
    wsp__jbuf_free(&p.jb);
  }
  wsp__client_leave(cl);
}

static void engine_history(struct wsp_client *cl, uint32_t id, const char *ch,
                           size_t len, const struct hreq *r, size_t limit) {
  struct wsp_server *s = cl->srv;
  struct wsp__pending *p = NULL;
  struct wsp__eread er;
  uint32_t h = 0;
  if (!wsp__rpc_room(cl, id))
    return;
  if (wsp__pending_start(cl, id, PENDING_EHIST, ehist_done, &p, &h) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return;
  }
  p->recover.recover = (uint8_t)r->has_since;
  memcpy(p->recover.epoch, r->epoch, sizeof(p->recover.epoch));
  memset(&er, 0, sizeof(er));
  er.kind = WSP__EREAD_HISTORY;
  er.offset = r->since;
  er.epoch = r->epoch;
  er.max = (uint32_t)limit;
  er.reverse = (uint8_t)(r->reverse != 0);
  er.has_since = (uint8_t)(r->has_since != 0);
  wsp__hist_want(s, ch, len, &er.retention);
  if (s->engine->read(s->engine->data, ch, len, &er, h) != 0) {
    wsp_corr_cancel(s->rpc, h);
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
  }
}

void wsp__hist_command(struct wsp_client *cl, uint32_t id, const char *ch,
                       size_t len, const struct wsp__json_val *req) {
  struct wsp_server *s = cl->srv;
  struct wsp_evlog_position pos;
  struct hreq r;
  struct pubs p;
  size_t limit;
  long got = 0;
  int on;

  /* Subscribers only: nobody makes streams by asking about names. */
  if (!find_exact(cl, ch, len)) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_PERMISSION_DENIED, NULL, 0);
    return;
  }
  if ((on = wsp__hist_on(s, ch, len)) <= 0) {
    uint32_t code =
        on == 0 ? WSP_PROTO_ERROR_NOT_AVAILABLE : wsp__hist_error(on);
    wsp__cf_out_error(cl, id, code, NULL, code == WSP_PROTO_ERROR_INTERNAL);
    return;
  }
  if (parse_history(req, &r) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_BAD_REQUEST, NULL, 0);
    return;
  }
  if (s->engine) {
    limit = r.limit < 0 || (uint64_t)r.limit > s->hist.history_max
                ? s->hist.history_max
                : (size_t)r.limit;
    engine_history(cl, id, ch, len, &r, limit);
    return;
  }
  if (wsp_evlog_position(s->hist.log, ch, len, &pos) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return;
  }
  /* As Centrifuge: only a position of another epoch cannot be continued
   * from. Beyond the top there is nothing to return; forwards from a
   * position whose successors are no longer kept, the publications kept
   * are returned (the first offset tells the reader what it missed). */
  if (r.has_since && r.epoch[0] && strcmp(r.epoch, pos.epoch) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_UNRECOVERABLE_POSITION, NULL, 0);
    return;
  }
  limit = r.limit < 0 || (uint64_t)r.limit > s->hist.history_max
              ? s->hist.history_max
              : (size_t)r.limit;
  if (r.has_since &&
      (r.reverse ? r.since > pos.offset + 1 : r.since >= pos.offset))
    limit = 0;
  else if (r.has_since && !r.reverse && r.since + 1 < pos.first)
    r.since = 0; /* from the oldest kept */
  memset(&p, 0, sizeof(p));
  wsp__jbuf_init(&p.jb, &s->mem);
  p.fmt = pub_fmt(s, NULL);
  if (limit)
    got = wsp_evlog_read(s->hist.log, ch, len, NULL, r.has_since ? r.since : 0,
                         limit, r.reverse ? WSP_EVLOG_REVERSE : 0, put_pub, &p,
                         &pos);
  if (got < 0 || p.jb.err) {
    wsp__jbuf_free(&p.jb);
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return;
  }
  wsp__cf_out_history(cl, id, p.jb.data, p.jb.len, p.n, pos.epoch, pos.offset);
  wsp__jbuf_free(&p.jb);
}

/* ---- wsp_server_history_async --------------------------------------------- */

struct ahist {
  struct wsp_server *s;
  wsp_history_fn *done;
  void *user_data;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1]; /* the since epoch asked for */
};

static void ahist_done(struct wsp_corr *corr, uint32_t id, int status,
                       const void *data, size_t len, void *ud) {
  struct ahist *a = ud;
  struct wsp_server *s = a->s;
  const struct wsp__eresult *res =
      status == STATUS_REPLY && len == sizeof(*res) ? data : NULL;
  (void)corr;
  (void)id;
  if (!a->done)
    ;
  else if (!res)
    a->done(s, status < 0 ? status : WSP_ERR_IO, NULL, NULL, 0, a->user_data);
  else if (a->epoch[0] && strcmp(a->epoch, res->pos.epoch) != 0)
    a->done(s, WSP_ERR_EPOCH, &res->pos, NULL, 0, a->user_data);
  else
    a->done(s, 0, &res->pos, res->events, res->n, a->user_data);
  wsp__free(&s->mem, a);
}

/* The events read from the log, copied. */
struct copied {
  struct wsp__jbuf jb;     /* data and info of every event */
  struct wsp_evlog_event *ev;
  size_t n, cap;
};

static int copy_event(const struct wsp_evlog_event *e, void *ud) {
  struct copied *c = ud;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    struct wsp_evlog_event *ev =
        wsp__realloc(c->jb.mem, c->ev, cap * sizeof(*ev));
    if (!ev)
      return 1;
    c->ev = ev;
    c->cap = cap;
  }
  c->ev[c->n] = *e;
  /* offsets into jb for now: it may move while it grows */
  c->ev[c->n].data.ptr = (const char *)(uintptr_t)c->jb.len;
  wsp__jbuf_raw(&c->jb, e->data.ptr, e->data.len);
  c->ev[c->n].info.ptr = (const char *)(uintptr_t)c->jb.len;
  wsp__jbuf_raw(&c->jb, e->info.ptr, e->info.len);
  c->n++;
  return c->jb.err != 0;
}

/* From the log, at once: the history command's rules. */
static int history_local(struct wsp_server *s, const char *ch, size_t len,
                         const struct wsp_history_query *q, size_t limit,
                         wsp_history_fn *done, void *ud) {
  struct wsp_evlog_position pos;
  struct copied c;
  uint64_t since = q->has_since ? q->since_offset : 0;
  const char *epoch = q->since_epoch && *q->since_epoch ? q->since_epoch : NULL;
  long got = 0;
  size_t i;
  int rc = wsp_evlog_position(s->hist.log, ch, len, &pos);
  if (rc != 0)
    return rc;
  if (q->has_since && epoch && strcmp(epoch, pos.epoch) != 0) {
    done(s, WSP_ERR_EPOCH, &pos, NULL, 0, ud);
    return 0;
  }
  if (q->has_since &&
      (q->reverse ? since > pos.offset + 1 : since >= pos.offset))
    limit = 0;
  else if (q->has_since && !q->reverse && since + 1 < pos.first)
    since = 0; /* from the oldest kept */
  memset(&c, 0, sizeof(c));
  wsp__jbuf_init(&c.jb, &s->mem);
  if (limit)
    got = wsp_evlog_read(s->hist.log, ch, len, NULL, since, limit,
                         q->reverse ? WSP_EVLOG_REVERSE : 0, copy_event, &c,
                         &pos);
  if (got < 0 || c.jb.err) {
    wsp__free(&s->mem, c.ev);
    wsp__jbuf_free(&c.jb);
    return got < 0 ? (int)got : WSP_ERR_NOMEM;
  }
  for (i = 0; i < c.n; i++) {
    c.ev[i].data.ptr = c.jb.data + (uintptr_t)c.ev[i].data.ptr;
    c.ev[i].info.ptr = c.jb.data + (uintptr_t)c.ev[i].info.ptr;
  }
  done(s, 0, &pos, c.ev, c.n, ud);
  wsp__free(&s->mem, c.ev);
  wsp__jbuf_free(&c.jb);
  return 0;
}

int wsp_server_history_async(struct wsp_server *s, const char *channel,
                             const struct wsp_history_query *q,
                             wsp_history_fn *done, void *ud) {
  struct wsp_history_query none;
  struct wsp__eread er;
  struct ahist *a;
  uint32_t h = 0;
  size_t len, limit, n;
  int rc;
  if (!s || !channel || !done || !(len = strlen(channel)))
    return WSP_ERR_INVAL;
  if (!q) {
    memset(&none, 0, sizeof(none));
    q = &none;
  }
  if (q->limit < -1 || (q->reverse && q->has_since && q->since_offset == 0))
    return WSP_ERR_INVAL;
  if ((rc = wsp__hist_on(s, channel, len)) <= 0)
    return rc == 0 ? WSP_ERR_NOT_FOUND : rc;
  limit = q->limit < 0 || (uint64_t)q->limit > s->hist.history_max
              ? s->hist.history_max
              : (size_t)q->limit;
  if (!s->engine)
    return history_local(s, channel, len, q, limit, done, ud);
  if (!(a = wsp__malloc(&s->mem, sizeof(*a))))
    return WSP_ERR_NOMEM;
  memset(a, 0, sizeof(*a));
  a->s = s;
  a->done = done;
  a->user_data = ud;
  if (q->has_since && q->since_epoch) {
    n = strlen(q->since_epoch);
    memcpy(a->epoch, q->since_epoch,
           n < WSP_EVLOG_EPOCH_MAX ? n : WSP_EVLOG_EPOCH_MAX);
  }
  if (wsp__pending_server_start(s, ahist_done, a, &h) != 0) {
    wsp__free(&s->mem, a);
    return WSP_ERR_NOMEM;
  }
  memset(&er, 0, sizeof(er));
  er.kind = WSP__EREAD_HISTORY;
  er.offset = q->since_offset;
  er.epoch = a->epoch;
  er.max = (uint32_t)limit;
  er.reverse = (uint8_t)(q->reverse != 0);
  er.has_since = (uint8_t)(q->has_since != 0);
  wsp__hist_want(s, channel, len, &er.retention);
  if ((rc = s->engine->read(s->engine->data, channel, len, &er, h)) != 0) {
    a->done = NULL;
    wsp_corr_cancel(s->rpc, h);
  }
  return rc;
}

/* ---- Public API -------------------------------------------------------- */

int wsp_server_set_history(struct wsp_server *s,
                           const struct wsp_server_history *h) {
  if (!s)
    return WSP_ERR_INVAL;
  memset(&s->hist, 0, sizeof(s->hist));
  if (!h)
    return 0;
  /* Without a log, history is an engine's (wsp_server_set_redis). */
  s->hist.configured = 1;
  s->hist.log = h->log;
  s->hist.retention = h->retention;
  memset(s->hist.retention.reserved, 0, sizeof(s->hist.retention.reserved));
  s->hist.history_for = h->history_for;
  s->hist.user_data = h->user_data;
  s->hist.clock = h->clock;
  s->hist.recovery_max = h->recovery_max ? h->recovery_max : DEFAULT_MAX;
  s->hist.history_max = h->history_max ? h->history_max : DEFAULT_MAX;
  return 0;
}
