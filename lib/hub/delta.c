/*
 * Delta compression of publications (a subscribe's delta "fossil"), on
 * exact channels with history in the embedded log.
 *
 * A subscriber that negotiated it gets each publication's data as a JSON
 * string, whole the first time, then, once its client holds the previous
 * publication of the channel, as the Fossil delta from that one when the
 * delta is the shorter. Positioned subscribers get every publication in
 * order, so the previous publication of the channel is the client's base.
 * The two frames are made once per publication, from the log's previous
 * event, and shared by all such subscribers, as the plain frame is.
 */
#include <string.h>

#include "hub_private.h"

struct prev {
  const struct wsp_mem *mem;
  const struct wsp__cf_pub *p;
  uint64_t want;
  struct wsp__jbuf *delta;
  int found;
};

static int delta_from(const struct wsp_evlog_event *e, void *ud) {
  struct prev *pv = ud;
  if (e->offset == pv->want) {
    pv->found = 1;
    (void)wsp__fossil_delta(pv->mem, e->data.ptr, e->data.len, pv->p->data,
                            pv->p->dlen, pv->delta);
  }
  return 1;
}

/* The delta frame of p, or NULL when there is none worth sending. */
static struct wsp_frame *delta_frame(struct wsp_server *s,
                                     const struct wsp__cf_pub *p) {
  struct wsp__cf_pub dp = *p;
  struct wsp__jbuf delta, jb;
  struct wsp_frame *f = NULL;
  struct prev pv;
  if (!s->hist.log || !p->has_offset || p->offset < 2)
    return NULL;
  wsp__jbuf_init(&delta, &s->mem);
  memset(&pv, 0, sizeof(pv));
  pv.mem = &s->mem;
  pv.p = p;
  pv.want = p->offset - 1;
  pv.delta = &delta;
  (void)wsp_evlog_read(s->hist.log, p->channel, p->clen, NULL, p->offset - 2, 1,
                       0, delta_from, &pv, NULL);
  if (pv.found && !delta.err && delta.len < p->dlen) {
    dp.delta = delta.data;
    dp.delta_len = delta.len;
    wsp__jbuf_init(&jb, &s->mem);
    f = wsp__cf_out_pub(&jb, &dp, p->channel, p->clen);
    wsp__jbuf_free(&jb);
  }
  wsp__jbuf_free(&delta);
  return f;
}

/* The Protobuf variant *pb of the frame f, made once. */
static struct wsp_frame *pb_variant(struct wsp_server *s, struct wsp_frame *f,
                                    struct wsp_frame **pb) {
  if (f && !*pb)
    *pb = wsp__cf_out_pb_frame(&s->mem, f, 1);
  return *pb;
}

struct wsp_frame *wsp__delta_frame(struct wsp_server *s,
                                   struct wsp__delta_frames *d,
                                   const struct wsp__cf_pub *p, int base,
                                   int protobuf) {
  if (base && !d->tried_delta) {
    d->tried_delta = 1;
    d->delta = delta_frame(s, p);
  }
  if (base && d->delta)
    return protobuf ? pb_variant(s, d->delta, &d->delta_pb) : d->delta;
  if (!d->full) {
    struct wsp__cf_pub fp = *p;
    struct wsp__jbuf jb;
    fp.data_string = 1;
    wsp__jbuf_init(&jb, &s->mem);
    d->full = wsp__cf_out_pub(&jb, &fp, p->channel, p->clen);
    wsp__jbuf_free(&jb);
  }
  return protobuf ? pb_variant(s, d->full, &d->full_pb) : d->full;
}

void wsp__delta_frames_free(struct wsp__delta_frames *d) {
  wsp_frame_unref(d->full);
  wsp_frame_unref(d->delta);
  wsp_frame_unref(d->full_pb);
  wsp_frame_unref(d->delta_pb);
  memset(d, 0, sizeof(*d));
}
