/*
 * wsp_pubsub: channels and subscriptions. Exact channels sit in a hash
 * table; wildcard patterns sit in a tree of segments whose edges are
 * found through a second hash table keyed by (parent, segment), so a
 * publication costs one lookup for its exact channel plus a walk of its
 * segments, whatever the number of channels.
 *
 * A publication may be delivered while deliveries subscribe and
 * unsubscribe: removals leave a hole (NULL) in the subscriber array and
 * the structure is tidied once the outermost publication returns.
 */
#include <string.h>

#include "internal.h"
#include "wsp/pubsub.h"

struct chan {
  char *name;
  size_t len;
  void **subs; /* NULL entries are removals waiting for the sweep */
  uint32_t n, cap, live;
  uint32_t hash;
  struct chan *hnext;  /* exact channels: hash chain */
  struct tnode *node;  /* wildcard patterns: the tree node they end at */
  struct chan *dirty_next;
  uint8_t dirty;
};

struct tnode {
  struct tnode *parent;
  const char *seg; /* points into the key buffer allocated with the node */
  size_t seglen;
  uint32_t hash;
  uint32_t nkids;
  struct tnode *hnext;
  struct chan *leaf;
};

struct table {
  void **slot;
  size_t cap, n;
};

struct wsp_pubsub {
  struct wsp_mem mem;
  struct table exact; /* struct chan, chained through hnext */
  struct table edges; /* struct tnode, chained through hnext */
  struct tnode root;
  size_t nchans;
  unsigned walking;
  struct chan *dirty;
};

/* ---- Hashing ----------------------------------------------------------- */

static uint32_t fnv(const void *p, size_t n, uint32_t h) {
  const uint8_t *b = p;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static uint32_t edge_hash(const struct tnode *parent, const char *seg,
                          size_t len) {
  uintptr_t v = (uintptr_t)parent;
  return fnv(seg, len, fnv(&v, sizeof(v), 2166136261u));
}

#define TABLE_MIN_CAP 64

/* Rehash t into cap slots (a power of two). */
static int table_resize(struct wsp_pubsub *ps, struct table *t, int exact,
                        size_t cap) {
  size_t i;
  void **slot = wsp__malloc(&ps->mem, cap * sizeof(*slot));
  if (!slot)
    return WSP_ERR_NOMEM;
  memset(slot, 0, cap * sizeof(*slot));
  for (i = 0; i < t->cap; i++) {
    void *e = t->slot[i];
    while (e) {
      void *next;
      size_t k;
      if (exact) {
        struct chan *c = e;
        next = c->hnext;
        k = c->hash & (cap - 1);
        c->hnext = slot[k];
      } else {
        struct tnode *nd = e;
        next = nd->hnext;
        k = nd->hash & (cap - 1);
        nd->hnext = slot[k];
      }
      slot[k] = e;
      e = next;
    }
  }
  wsp__free(&ps->mem, t->slot);
  t->slot = slot;
  t->cap = cap;
  return 0;
}

static int table_grow(struct wsp_pubsub *ps, struct table *t, int exact) {
  return table_resize(ps, t, exact, t->cap ? t->cap * 2 : TABLE_MIN_CAP);
}

/* After a crowd of channels left, give their slots back: halve the table
 * under an eighth full (so that a count moving around one size does not
 * grow and shrink it in turn). Failing is harmless. */
static void table_shrink(struct wsp_pubsub *ps, struct table *t, int exact) {
  if (t->cap > TABLE_MIN_CAP && t->n < t->cap / 8)
    (void)table_resize(ps, t, exact, t->cap / 2);
}

static struct chan *exact_find(const struct wsp_pubsub *ps, const char *name,
                               size_t len, uint32_t h) {
  struct chan *c;
  if (!ps->exact.cap)
    return NULL;
  for (c = ps->exact.slot[h & (ps->exact.cap - 1)]; c; c = c->hnext)
    if (c->hash == h && c->len == len && memcmp(c->name, name, len) == 0)
      return c;
  return NULL;
}

static struct tnode *edge_find(const struct wsp_pubsub *ps,
                               const struct tnode *parent, const char *seg,
                               size_t len) {
  struct tnode *nd;
  uint32_t h;
  if (!ps->edges.cap)
    return NULL;
  h = edge_hash(parent, seg, len);
  for (nd = ps->edges.slot[h & (ps->edges.cap - 1)]; nd; nd = nd->hnext)
    if (nd->hash == h && nd->parent == parent && nd->seglen == len &&
        memcmp(nd->seg, seg, len) == 0)
      return nd;
  return NULL;
}

/* ---- Patterns ---------------------------------------------------------- */

/* 1 wildcard, 0 exact, negative for an invalid pattern: a wildcard
 * pattern has no empty segment and '>' only as its last segment. */
static int classify(const char *p, size_t len) {
  size_t i = 0;
  int wild = 0, empty = 0;
  if (len == 0)
    return WSP_ERR_INVAL;
  for (;;) {
    size_t j = i;
    while (j < len && p[j] != '.')
      j++;
    if (j == i)
      empty = 1;
    if (j - i == 1 && (p[i] == '*' || p[i] == '>')) {
      if (p[i] == '>' && j != len)
        return WSP_ERR_INVAL;
      wild = 1;
    }
    if (j == len)
      break;
    i = j + 1;
  }
  return wild && empty ? WSP_ERR_INVAL : wild;
}

static struct chan *chan_new(struct wsp_pubsub *ps, const char *name,
                             size_t len, uint32_t h) {
  struct chan *c = wsp__malloc(&ps->mem, sizeof(*c));
  if (!c)
    return NULL;
  memset(c, 0, sizeof(*c));
  c->name = wsp__strndup(&ps->mem, name, len);
  if (!c->name) {
    wsp__free(&ps->mem, c);
    return NULL;
  }
  c->len = len;
  c->hash = h;
  return c;
}

static void chan_free(struct wsp_pubsub *ps, struct chan *c) {
  wsp__free(&ps->mem, c->subs);
  wsp__free(&ps->mem, c->name);
  wsp__free(&ps->mem, c);
}

/* Find or make the tree path for a wildcard pattern. */
static struct tnode *tree_path(struct wsp_pubsub *ps, const char *p,
                               size_t len, int create) {
  struct tnode *nd = &ps->root;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    struct tnode *k;
    while (j < len && p[j] != '.')
      j++;
    k = edge_find(ps, nd, p + i, j - i);
    if (!k) {
      char *seg;
      if (!create)
        return NULL;
      if ((ps->edges.n + 1 > ps->edges.cap && table_grow(ps, &ps->edges, 0)) ||
          !(k = wsp__malloc(&ps->mem, sizeof(*k) + (j - i))))
        return NULL; /* nodes made so far are pruned by the caller */
      memset(k, 0, sizeof(*k));
      seg = (char *)(k + 1);
      memcpy(seg, p + i, j - i);
      k->seg = seg;
      k->seglen = j - i;
      k->parent = nd;
      k->hash = edge_hash(nd, seg, j - i);
      k->hnext = ps->edges.slot[k->hash & (ps->edges.cap - 1)];
      ps->edges.slot[k->hash & (ps->edges.cap - 1)] = k;
      ps->edges.n++;
      nd->nkids++;
    }
    nd = k;
    i = j + 1;
  }
  return nd;
}

/* Remove tree nodes that lead nowhere, from nd upwards. */
static void tree_prune(struct wsp_pubsub *ps, struct tnode *nd) {
  while (nd != &ps->root && !nd->leaf && nd->nkids == 0) {
    struct tnode *parent = nd->parent, **pp;
    pp = (struct tnode **)&ps->edges.slot[nd->hash & (ps->edges.cap - 1)];
    while (*pp != nd)
      pp = &(*pp)->hnext;
    *pp = nd->hnext;
    ps->edges.n--;
    parent->nkids--;
    wsp__free(&ps->mem, nd);
    nd = parent;
  }
  table_shrink(ps, &ps->edges, 0);
}

static void chan_unlink(struct wsp_pubsub *ps, struct chan *c) {
  if (c->node) {
    struct tnode *nd = c->node;
    nd->leaf = NULL;
    tree_prune(ps, nd);
  } else {
    struct chan **pp =
        (struct chan **)&ps->exact.slot[c->hash & (ps->exact.cap - 1)];
    while (*pp != c)
      pp = &(*pp)->hnext;
    *pp = c->hnext;
    ps->exact.n--;
    table_shrink(ps, &ps->exact, 1);
  }
  ps->nchans--;
  chan_free(ps, c);
}

static void mark_dirty(struct wsp_pubsub *ps, struct chan *c) {
  if (!c->dirty) {
    c->dirty = 1;
    c->dirty_next = ps->dirty;
    ps->dirty = c;
  }
}

/* Close the holes left by removals; drop channels nobody holds. */
static void sweep(struct wsp_pubsub *ps) {
  while (ps->dirty) {
    struct chan *c = ps->dirty;
    uint32_t i, k = 0;
    ps->dirty = c->dirty_next;
    c->dirty = 0;
    for (i = 0; i < c->n; i++)
      if (c->subs[i])
        c->subs[k++] = c->subs[i];
    c->n = k;
    if (c->live == 0)
      chan_unlink(ps, c);
  }
}

static struct chan *lookup(const struct wsp_pubsub *ps, const char *p,
                           size_t len, int wild) {
  if (wild) {
    struct tnode *nd = tree_path((struct wsp_pubsub *)ps, p, len, 0);
    return nd ? nd->leaf : NULL;
  }
  return exact_find(ps, p, len, fnv(p, len, 2166136261u));
}

/* ---- Public API -------------------------------------------------------- */

int wsp_pubsub_new(struct wsp_pubsub **pps, const struct wsp_mem *mem) {
  struct wsp_mem m;
  struct wsp_pubsub *ps;
  if (!pps)
    return WSP_ERR_INVAL;
  *pps = NULL;
  wsp__mem_init(&m, mem);
  ps = wsp__malloc(&m, sizeof(*ps));
  if (!ps)
    return WSP_ERR_NOMEM;
  memset(ps, 0, sizeof(*ps));
  ps->mem = m;
  *pps = ps;
  return 0;
}

void wsp_pubsub_free(struct wsp_pubsub *ps) {
  size_t i;
  if (!ps)
    return;
  for (i = 0; i < ps->exact.cap; i++) {
    struct chan *c = ps->exact.slot[i];
    while (c) {
      struct chan *next = c->hnext;
      chan_free(ps, c);
      c = next;
    }
  }
  for (i = 0; i < ps->edges.cap; i++) {
    struct tnode *nd = ps->edges.slot[i];
    while (nd) {
      struct tnode *next = nd->hnext;
      if (nd->leaf)
        chan_free(ps, nd->leaf);
      wsp__free(&ps->mem, nd);
      nd = next;
    }
  }
  wsp__free(&ps->mem, ps->exact.slot);
  wsp__free(&ps->mem, ps->edges.slot);
  {
    struct wsp_mem m = ps->mem;
    wsp__free(&m, ps);
  }
}

int wsp_pubsub_subscribe(struct wsp_pubsub *ps, const char *p, size_t len,
                         void *sub) {
  int wild;
  struct chan *c;
  uint32_t h;
  if (!ps || !p || !sub)
    return WSP_ERR_INVAL;
  wild = classify(p, len);
  if (wild < 0)
    return wild;
  h = fnv(p, len, 2166136261u);
  c = lookup(ps, p, len, wild);
  if (c) {
    uint32_t i;
    for (i = 0; i < c->n; i++)
      if (c->subs[i] == sub)
        return WSP_ERR_STATE;
  } else {
    c = chan_new(ps, p, len, h);
    if (!c)
      return WSP_ERR_NOMEM;
    if (wild) {
      struct tnode *nd = tree_path(ps, p, len, 1);
      if (!nd) {
        /* prune whatever part of the path was made */
        chan_free(ps, c);
        nd = &ps->root;
        {
          struct tnode *deep = NULL;
          size_t i = 0;
          while (i < len) {
            size_t j = i;
            struct tnode *k;
            while (j < len && p[j] != '.')
              j++;
            k = edge_find(ps, nd, p + i, j - i);
            if (!k)
              break;
            deep = nd = k;
            i = j + 1;
          }
          if (deep)
            tree_prune(ps, deep);
        }
        return WSP_ERR_NOMEM;
      }
      nd->leaf = c;
      c->node = nd;
    } else {
      if (ps->exact.n + 1 > ps->exact.cap && table_grow(ps, &ps->exact, 1)) {
        chan_free(ps, c);
        return WSP_ERR_NOMEM;
      }
      c->hnext = ps->exact.slot[h & (ps->exact.cap - 1)];
      ps->exact.slot[h & (ps->exact.cap - 1)] = c;
      ps->exact.n++;
    }
    ps->nchans++;
  }
  if (c->n == c->cap) {
    uint32_t cap = c->cap ? c->cap * 2 : 2;
    void **s = wsp__realloc(&ps->mem, c->subs, cap * sizeof(*s));
    if (!s) {
      if (c->live == 0) {
        if (ps->walking)
          mark_dirty(ps, c); /* the sweep drops it */
        else
          chan_unlink(ps, c);
      }
      return WSP_ERR_NOMEM;
    }
    c->subs = s;
    c->cap = cap;
  }
  c->subs[c->n++] = sub;
  c->live++;
  return 0;
}

int wsp_pubsub_unsubscribe(struct wsp_pubsub *ps, const char *p, size_t len,
                           void *sub) {
  struct chan *c;
  uint32_t i;
  int wild;
  if (!ps || !p || !sub)
    return WSP_ERR_INVAL;
  wild = classify(p, len);
  if (wild < 0)
    return wild;
  c = lookup(ps, p, len, wild);
  if (!c)
    return WSP_ERR_NOT_FOUND;
  for (i = 0; i < c->n; i++) {
    if (c->subs[i] == sub) {
      c->live--;
      if (ps->walking) {
        c->subs[i] = NULL; /* the walk may be on this array */
        mark_dirty(ps, c);
      } else {
        c->subs[i] = c->subs[--c->n];
        if (c->live == 0)
          chan_unlink(ps, c);
      }
      return 0;
    }
  }
  return WSP_ERR_NOT_FOUND;
}

int wsp_pubsub_is_subscribed(const struct wsp_pubsub *ps, const char *p,
                             size_t len, const void *sub) {
  const struct chan *c;
  uint32_t i;
  int wild;
  if (!ps || !p || !sub || (wild = classify(p, len)) < 0)
    return 0;
  c = lookup(ps, p, len, wild);
  for (i = 0; c && i < c->n; i++)
    if (c->subs[i] == sub)
      return 1;
  return 0;
}

static long deliver_chan(struct chan *c,
                         void (*fn)(void *, const char *, size_t, void *),
                         void *ud) {
  uint32_t i, n = c->n; /* subscribers added meanwhile wait */
  long count = 0;
  for (i = 0; i < n; i++) {
    void *s = c->subs[i];
    if (s) {
      fn(s, c->name, c->len, ud);
      count++;
    }
  }
  return count;
}

#define FRONTIER 32

/* The set of tree nodes matching the segments seen so far. */
struct frontier {
  struct tnode **v;
  size_t n, cap;
  struct tnode *inl[FRONTIER];
};

static int frontier_add(struct wsp_pubsub *ps, struct frontier *f,
                        struct tnode *nd) {
  if (f->n == f->cap) {
    size_t cap = f->cap * 2;
    struct tnode **v = wsp__malloc(&ps->mem, cap * sizeof(*v));
    if (!v)
      return WSP_ERR_NOMEM;
    memcpy(v, f->v, f->n * sizeof(*v));
    if (f->v != f->inl)
      wsp__free(&ps->mem, f->v);
    f->v = v;
    f->cap = cap;
  }
  f->v[f->n++] = nd;
  return 0;
}

long wsp_pubsub_publish(struct wsp_pubsub *ps, const char *ch, size_t len,
                        void (*fn)(void *, const char *, size_t, void *),
                        void *ud) {
  struct frontier fa, fb, *cur = &fa, *next = &fb;
  size_t i = 0, k;
  struct chan *c;
  long count = 0;
  int rv = 0;
  if (!ps || !ch || !fn)
    return WSP_ERR_INVAL;
  if (classify(ch, len) != 0)
    return WSP_ERR_INVAL; /* publications go to exact channels */
  ps->walking++;
  c = exact_find(ps, ch, len, fnv(ch, len, 2166136261u));
  if (c)
    count += deliver_chan(c, fn, ud);
  fa.v = fa.inl;
  fb.v = fb.inl;
  fa.cap = fb.cap = FRONTIER;
  fa.n = 1;
  fb.n = 0;
  fa.v[0] = &ps->root;
  /* One level per segment: '>' below a node matches the rest now; the
   * segment itself and '*' lead to the next level. */
  while (ps->edges.n && cur->n && i <= len && rv == 0) {
    size_t j = i;
    struct frontier *t;
    while (j < len && ch[j] != '.')
      j++;
    next->n = 0;
    for (k = 0; k < cur->n && rv == 0; k++) {
      struct tnode *nd = cur->v[k], *e;
      if ((e = edge_find(ps, nd, ">", 1)) && e->leaf)
        count += deliver_chan(e->leaf, fn, ud);
      if ((e = edge_find(ps, nd, ch + i, j - i)))
        rv = frontier_add(ps, next, e);
      if (rv == 0 && (e = edge_find(ps, nd, "*", 1)))
        rv = frontier_add(ps, next, e);
    }
    t = cur;
    cur = next;
    next = t;
    i = j + 1;
  }
  if (ps->edges.n && rv == 0)
    for (k = 0; k < cur->n; k++)
      if (cur->v[k]->leaf)
        count += deliver_chan(cur->v[k]->leaf, fn, ud);
  if (fa.v != fa.inl)
    wsp__free(&ps->mem, fa.v);
  if (fb.v != fb.inl)
    wsp__free(&ps->mem, fb.v);
  if (--ps->walking == 0)
    sweep(ps);
  return rv ? rv : count;
}

size_t wsp_pubsub_subscribers(const struct wsp_pubsub *ps, const char *p,
                              size_t len) {
  const struct chan *c;
  int wild;
  if (!ps || !p || (wild = classify(p, len)) < 0)
    return 0;
  c = lookup(ps, p, len, wild);
  return c ? c->live : 0;
}

int wsp_pubsub_each(const struct wsp_pubsub *cps, const char *p, size_t len,
                    void (*fn)(void *, void *), void *ud) {
  struct wsp_pubsub *ps = (struct wsp_pubsub *)cps;
  struct chan *c;
  uint32_t i, n;
  int wild;
  if (!ps || !p || !fn)
    return WSP_ERR_INVAL;
  if ((wild = classify(p, len)) < 0)
    return wild;
  c = lookup(ps, p, len, wild);
  if (!c)
    return 0;
  ps->walking++;
  n = c->n;
  for (i = 0; i < n; i++)
    if (c->subs[i])
      fn(c->subs[i], ud);
  if (--ps->walking == 0)
    sweep(ps);
  return 0;
}

size_t wsp_pubsub_channels(const struct wsp_pubsub *ps) {
  return ps ? ps->nchans : 0;
}

int wsp_pubsub_each_channel(const struct wsp_pubsub *ps,
                            void (*fn)(const char *pattern, size_t len,
                                       size_t subscribers, void *user_data),
                            void *ud) {
  size_t i;
  if (!ps || !fn)
    return WSP_ERR_INVAL;
  for (i = 0; i < ps->exact.cap; i++) {
    const struct chan *c;
    for (c = ps->exact.slot[i]; c; c = c->hnext)
      if (c->live)
        fn(c->name, c->len, c->live, ud);
  }
  for (i = 0; i < ps->edges.cap; i++) {
    const struct tnode *nd;
    for (nd = ps->edges.slot[i]; nd; nd = nd->hnext)
      if (nd->leaf && nd->leaf->live)
        fn(nd->leaf->name, nd->leaf->len, nd->leaf->live, ud);
  }
  return 0;
}
