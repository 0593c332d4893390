/*
 * Presence on the hub: the presence and presence_stats commands for a
 * subscribed client, and the same queries from C. A channel's presence is
 * its subscribers that have connected, read from the pub/sub registry.
 */
#include <stdlib.h>
#include <string.h>

#include "hub_private.h"

struct presence_ctx {
  struct wsp__jbuf *jb;
  int n;
  const char **users;
  size_t nusers;
};

static void presence_one(void *sub, void *ud) {
  struct wsp__csub *cs = sub;
  struct presence_ctx *p = ud;
  if (!cs->cl->cf.connected)
    return;
  if (p->jb)
    wsp__cf_out_presence_member(p->jb, p->n, cs->cl, cs->chan_info);
  if (p->users)
    p->users[p->nusers++] = wsp_client_get_user(cs->cl);
  p->n++;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int stats_of(struct wsp_server *s, const char *ch, size_t len,
                    size_t *clients, size_t *users) {
  size_t n = wsp_pubsub_subscribers(s->channels, ch, len), i, u = 0;
  struct presence_ctx p;
  memset(&p, 0, sizeof(p));
  p.users = n ? wsp__malloc(&s->mem, n * sizeof(*p.users)) : NULL;
  if (n && !p.users)
    return WSP_ERR_NOMEM;
  wsp_pubsub_each(s->channels, ch, len, presence_one, &p);
  if (p.nusers > 1) /* qsort() takes no NULL, even for nothing */
    qsort(p.users, p.nusers, sizeof(*p.users), cmp_str);
  for (i = 0; i < p.nusers; i++)
    if (i == 0 || strcmp(p.users[i], p.users[i - 1]) != 0)
      u++;
  *clients = p.nusers;
  *users = u;
  wsp__free(&s->mem, p.users);
  return 0;
}

/* ---- Through the engine: every node's clients -------------------------- */

static int cmp_span(const void *a, const void *b) {
  const struct wsp_str *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->ptr, y->ptr, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void epresence_done(struct wsp__pending *p, int status, const void *data,
                           size_t len) {
  struct wsp_client *cl = p->cl;
  struct wsp_server *s = cl->srv;
  const struct wsp__eresult *res = status == STATUS_REPLY ? data : NULL;
  size_t i, u = 0;
  (void)len;
  wsp__client_enter(cl);
  if (!res) {
    wsp__cf_out_error(cl, p->cmd_id, WSP_PROTO_ERROR_INTERNAL,
                      status == WSP_ERR_TIMEOUT ? "timeout" : NULL, 1);
  } else if (p->list) {
    struct wsp__jbuf *jb = wsp__cf_out_presence_begin(cl, p->cmd_id);
    for (i = 0; i < res->nmembers; i++)
      wsp__cf_out_presence_raw(
          jb, (int)i, res->members[2 * i].ptr, res->members[2 * i].len,
          res->members[2 * i + 1].ptr, res->members[2 * i + 1].len);
    wsp__cf_out_presence_end(cl);
  } else {
    /* Users: the "user" of each member's ClientInfo, counted once. */
    struct wsp_str *users =
        res->nmembers ? wsp__malloc(&s->mem, res->nmembers * sizeof(*users))
                      : NULL;
    if (res->nmembers && !users) {
      wsp__cf_out_error(cl, p->cmd_id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
      wsp__client_leave(cl);
      return;
    }
    for (i = 0; i < res->nmembers; i++) {
      struct wsp__json_val v;
      users[i].ptr = "";
      users[i].len = 0;
      if (wsp__json_find(res->members[2 * i + 1].ptr,
                         res->members[2 * i + 1].len, "user", &v) == 1) {
        users[i].ptr = v.ptr;
        users[i].len = v.len;
      }
    }
    if (res->nmembers > 1)
      qsort(users, res->nmembers, sizeof(*users), cmp_span);
    for (i = 0; i < res->nmembers; i++)
      if (i == 0 || cmp_span(&users[i], &users[i - 1]) != 0)
        u++;
    wsp__cf_out_presence_stats(cl, p->cmd_id, res->nmembers, u);
    wsp__free(&s->mem, users);
  }
  wsp__client_leave(cl);
}

static void engine_presence(struct wsp_client *cl, int list, uint32_t id,
                            const char *ch, size_t len) {
  struct wsp_server *s = cl->srv;
  struct wsp__pending *p = NULL;
  struct wsp__eread er;
  uint32_t h = 0;
  if (!wsp__rpc_room(cl, id))
    return;
  if (wsp__pending_start(cl, id, PENDING_EHIST, epresence_done, &p, &h) != 0) {
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
    return;
  }
  p->list = (uint8_t)(list != 0);
  memset(&er, 0, sizeof(er));
  er.kind = WSP__EREAD_PRESENCE;
  if (s->engine->read(s->engine->data, ch, len, &er, h) != 0) {
    wsp_corr_cancel(s->rpc, h);
    wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
  }
}

void wsp__presence_command(struct wsp_client *cl, int list, uint32_t id,
                           const char *ch, size_t len) {
  struct wsp_server *s = cl->srv;
  if (s->engine) {
    engine_presence(cl, list, id, ch, len);
    return;
  }
  if (list) {
    struct presence_ctx p;
    memset(&p, 0, sizeof(p));
    p.jb = wsp__cf_out_presence_begin(cl, id);
    wsp_pubsub_each(s->channels, ch, len, presence_one, &p);
    wsp__cf_out_presence_end(cl);
  } else {
    size_t nc, nu;
    if (stats_of(s, ch, len, &nc, &nu) != 0) {
      wsp__cf_out_error(cl, id, WSP_PROTO_ERROR_INTERNAL, NULL, 1);
      return;
    }
    wsp__cf_out_presence_stats(cl, id, nc, nu);
  }
}

/* ---- wsp_server_presence_async ------------------------------------------ */

struct apres {
  struct wsp_server *s;
  wsp_presence_fn *done;
  void *user_data;
};

static void apres_done(struct wsp_corr *corr, uint32_t id, int status,
                       const void *data, size_t len, void *ud) {
  struct apres *a = ud;
  struct wsp_server *s = a->s;
  const struct wsp__eresult *res =
      status == STATUS_REPLY && len == sizeof(*res) ? data : NULL;
  (void)corr;
  (void)id;
  if (a->done)
    a->done(s, res ? 0 : status < 0 ? status : WSP_ERR_IO,
            res ? res->members : NULL, res ? res->nmembers : 0, a->user_data);
  wsp__free(&s->mem, a);
}

/* This node's members: ids and ClientInfo JSON in one buffer. */
struct local_members {
  struct wsp__jbuf jb;
  size_t *ends; /* 2 per member: where its id and its info end in jb */
  size_t n, cap;
};

static void local_one(void *sub, void *ud) {
  struct wsp__csub *cs = sub;
  struct local_members *m = ud;
  if (!cs->cl->cf.connected || m->n == m->cap)
    return;
  wsp__jbuf_raw(&m->jb, cs->cl->id, strlen(cs->cl->id));
  m->ends[2 * m->n] = m->jb.len;
  wsp__cf_out_client_info(&m->jb, cs->cl, cs->chan_info);
  m->ends[2 * m->n + 1] = m->jb.len;
  m->n++;
}

static int presence_local(struct wsp_server *s, const char *ch, size_t len,
                          wsp_presence_fn *done, void *ud) {
  struct local_members m;
  struct wsp_str *spans = NULL;
  size_t i, at = 0;
  memset(&m, 0, sizeof(m));
  wsp__jbuf_init(&m.jb, &s->mem);
  m.cap = wsp_pubsub_subscribers(s->channels, ch, len);
  if (m.cap && !(m.ends = wsp__malloc(&s->mem, 2 * m.cap * sizeof(*m.ends))))
    return WSP_ERR_NOMEM;
  wsp_pubsub_each(s->channels, ch, len, local_one, &m);
  if (m.jb.err || (m.n && !(spans = wsp__malloc(&s->mem,
                                                 2 * m.n * sizeof(*spans))))) {
    wsp__free(&s->mem, m.ends);
    wsp__jbuf_free(&m.jb);
    return WSP_ERR_NOMEM;
  }
  for (i = 0; i < 2 * m.n; i++) {
    spans[i].ptr = m.jb.data + at;
    spans[i].len = m.ends[i] - at;
    at = m.ends[i];
  }
  done(s, 0, spans, m.n, ud);
  wsp__free(&s->mem, spans);
  wsp__free(&s->mem, m.ends);
  wsp__jbuf_free(&m.jb);
  return 0;
}

int wsp_server_presence_async(struct wsp_server *s, const char *channel,
                              wsp_presence_fn *done, void *ud) {
  struct wsp__eread er;
  struct apres *a;
  uint32_t h = 0;
  size_t len;
  int rc;
  if (!s || !channel || !done || !(len = strlen(channel)))
    return WSP_ERR_INVAL;
  if (!s->engine)
    return presence_local(s, channel, len, done, ud);
  if (!(a = wsp__malloc(&s->mem, sizeof(*a))))
    return WSP_ERR_NOMEM;
  a->s = s;
  a->done = done;
  a->user_data = ud;
  if (wsp__pending_server_start(s, apres_done, a, &h) != 0) {
    wsp__free(&s->mem, a);
    return WSP_ERR_NOMEM;
  }
  memset(&er, 0, sizeof(er));
  er.kind = WSP__EREAD_PRESENCE;
  if ((rc = s->engine->read(s->engine->data, channel, len, &er, h)) != 0) {
    a->done = NULL;
    wsp_corr_cancel(s->rpc, h);
  }
  return rc;
}

struct presence_fn {
  void (*fn)(struct wsp_client *, void *);
  void *ud;
};

static void presence_call(void *sub, void *ud) {
  struct wsp__csub *cs = sub;
  struct presence_fn *p = ud;
  if (cs->cl->cf.connected)
    p->fn(cs->cl, p->ud);
}

int wsp_server_presence(struct wsp_server *s, const char *channel,
                        void (*fn)(struct wsp_client *, void *), void *ud) {
  struct presence_fn p;
  if (!s || !channel || !fn)
    return WSP_ERR_INVAL;
  p.fn = fn;
  p.ud = ud;
  return wsp_pubsub_each(s->channels, channel, strlen(channel), presence_call,
                         &p);
}

int wsp_server_presence_stats(struct wsp_server *s, const char *channel,
                              size_t *clients, size_t *users) {
  size_t c, u;
  int rv;
  if (!s || !channel)
    return WSP_ERR_INVAL;
  rv = stats_of(s, channel, strlen(channel), &c, &u);
  if (rv == 0) {
    if (clients)
      *clients = c;
    if (users)
      *users = u;
  }
  return rv;
}
