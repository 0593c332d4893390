/*
 * Idempotent publishing: a publication with an idempotency key is made
 * once per channel and key while WSP_SERVER_IDEMPOTENCY_TTL lasts; a
 * repeat gets the first one's result and publishes nothing, as with
 * Centrifugo's idempotency_key. Results live in a hash table keyed by
 * channel and key, and leave by the shared deadline heap; at most
 * WSP_SERVER_MAX_IDEMPOTENT are kept, the oldest giving way (counted).
 * Part of the hub core: no protocol here.
 */
#include <string.h>

#include "hub_private.h"

struct wsp__idem {
  struct wsp__idem *next;   /* in its bucket */
  struct wsp__heap_node hn; /* key: when it is forgotten */
  uint64_t hash;
  struct wsp_publish_result res;
  size_t len;
  char key[]; /* channel, NUL, idempotency key */
};

static uint64_t hash_of(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  while (n--)
    h = (h ^ (unsigned char)*p++) * 1099511628211ull;
  return h;
}

static size_t key_of(const char *ch, const char *key, char *out, size_t cap) {
  size_t a = strlen(ch), b = strlen(key);
  if (a + 1 + b > cap)
    return 0;
  memcpy(out, ch, a);
  out[a] = '\0';
  memcpy(out + a + 1, key, b);
  return a + 1 + b;
}

static struct wsp__idem **slot(struct wsp__idem_table *t, const char *k,
                               size_t n, uint64_t h) {
  struct wsp__idem **pp = &t->buckets[h & (t->nbuckets - 1)];
  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->hash == h && (*pp)->len == n && memcmp((*pp)->key, k, n) == 0)
      break;
  return pp;
}

static void drop(struct wsp_server *s, struct wsp__idem *e) {
  struct wsp__idem_table *t = &s->idem;
  struct wsp__idem **pp = slot(t, e->key, e->len, e->hash);
  *pp = e->next;
  wsp__heap_remove(&t->heap, &e->hn);
  t->count--;
  wsp__free(&s->mem, e);
}

static int grow(struct wsp_server *s) {
  struct wsp__idem_table *t = &s->idem;
  size_t n = t->nbuckets ? t->nbuckets * 2 : 64, i;
  struct wsp__idem **b;
  if (t->count < t->nbuckets)
    return 0;
  if (wsp__heap_reserve(&t->heap, &s->mem, n) != 0)
    return WSP_ERR_NOMEM;
  b = wsp__malloc(&s->mem, n * sizeof(*b));
  if (!b)
    return WSP_ERR_NOMEM;
  memset(b, 0, n * sizeof(*b));
  for (i = 0; i < t->nbuckets; i++) {
    struct wsp__idem *e = t->buckets[i], *next;
    for (; e; e = next) {
      next = e->next;
      e->next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
    }
  }
  wsp__free(&s->mem, t->buckets);
  t->buckets = b;
  t->nbuckets = n;
  return 0;
}

int wsp__idem_find(struct wsp_server *s, const char *ch, const char *key,
                   struct wsp_publish_result *res) {
  struct wsp__idem_table *t = &s->idem;
  char k[WSP__IDEM_KEY_MAX];
  size_t n = key_of(ch, key, k, sizeof(k));
  struct wsp__idem *e;
  if (n == 0)
    return WSP_ERR_INVAL;
  if (!t->nbuckets)
    return 0;
  e = *slot(t, k, n, hash_of(k, n));
  if (!e || e->hn.key <= wsp__server_now(s))
    return 0;
  if (res)
    *res = e->res;
  s->stats.idempotent_repeats++;
  return 1;
}

int wsp__idem_store(struct wsp_server *s, const char *ch, const char *key,
                    const struct wsp_publish_result *res) {
  struct wsp__idem_table *t = &s->idem;
  char k[WSP__IDEM_KEY_MAX];
  size_t n = key_of(ch, key, k, sizeof(k));
  uint64_t h = hash_of(k, n), ttl = s->limits[WSP_SERVER_IDEMPOTENCY_TTL];
  struct wsp__idem *e, **pp;
  if (n == 0)
    return WSP_ERR_INVAL;
  while (t->count && t->count >= s->limits[WSP_SERVER_MAX_IDEMPOTENT]) {
    /* the oldest gives way */
    drop(s, WSP__CONTAINER_OF(wsp__heap_top(&t->heap), struct wsp__idem, hn));
    s->stats.idempotent_evicted++;
  }
  if (grow(s) != 0)
    return WSP_ERR_NOMEM;
  pp = slot(t, k, n, h);
  if (*pp) /* expired but not yet dropped */
    drop(s, *pp);
  e = wsp__malloc(&s->mem, sizeof(*e) + n);
  if (!e)
    return WSP_ERR_NOMEM;
  memcpy(e->key, k, n);
  e->len = n;
  e->hash = h;
  e->res = *res;
  e->hn.pos = WSP__HEAP_OUT;
  pp = &t->buckets[h & (t->nbuckets - 1)];
  e->next = *pp;
  *pp = e;
  t->count++;
  wsp__heap_set(&t->heap, &e->hn, wsp__add_sat(wsp__server_now(s), ttl));
  return 0;
}

void wsp__idem_tick(struct wsp_server *s, uint64_t now) {
  struct wsp__heap_node *top;
  while ((top = wsp__heap_top(&s->idem.heap)) && top->key <= now)
    drop(s, WSP__CONTAINER_OF(top, struct wsp__idem, hn));
}

uint64_t wsp__idem_next_deadline(const struct wsp_server *s) {
  const struct wsp__heap_node *top = wsp__heap_top(&s->idem.heap);
  return top ? top->key : WSP_NO_DEADLINE;
}

void wsp__idem_free(struct wsp_server *s) {
  struct wsp__idem_table *t = &s->idem;
  size_t i;
  for (i = 0; i < t->nbuckets; i++) {
    struct wsp__idem *e = t->buckets[i], *next;
    for (; e; e = next) {
      next = e->next;
      wsp__free(&s->mem, e);
    }
  }
  wsp__free(&s->mem, t->buckets);
  wsp__heap_free(&t->heap, &s->mem);
  memset(t, 0, sizeof(*t));
}
