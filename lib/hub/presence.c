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

void wsp__presence_command(struct wsp_client *cl, int list, uint32_t id,
                           const char *ch, size_t len) {
  struct wsp_server *s = cl->srv;
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
