/*
 * The in-memory session store. Sessions sit in a hash table by id and in
 * a list ordered by expiry: every session lives ttl from its creation or
 * last touch, and time only moves forward, so new and touched sessions go
 * to the tail and the head is always the next to expire.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "wsp/session.h"

struct sess {
  char id[WSP_SESSION_ID_LEN + 1];
  char *user;
  void *data;
  size_t len;
  uint64_t expires;
  uint32_t hash;
  struct sess *hnext, *prev, *next;
};

struct wsp_session_store {
  struct wsp_mem mem;
  uint64_t ttl;
  size_t max, n;
  struct sess **slot;
  size_t cap;
  struct sess *head, *tail; /* by expiry */
  unsigned flags;
  struct wsp_session_stats stats;
};

static uint32_t hash_id(const char *id) {
  uint32_t h = 2166136261u;
  while (*id)
    h = (h ^ (uint8_t)*id++) * 16777619u;
  return h;
}

static void list_unlink(struct wsp_session_store *st, struct sess *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    st->head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    st->tail = s->prev;
  s->prev = s->next = NULL;
}

static void list_append(struct wsp_session_store *st, struct sess *s) {
  s->prev = st->tail;
  s->next = NULL;
  if (st->tail)
    st->tail->next = s;
  else
    st->head = s;
  st->tail = s;
}

static struct sess *find(const struct wsp_session_store *st, const char *id) {
  struct sess *s;
  uint32_t h;
  if (!st->cap || strlen(id) != WSP_SESSION_ID_LEN)
    return NULL;
  h = hash_id(id);
  for (s = st->slot[h & (st->cap - 1)]; s; s = s->hnext)
    if (s->hash == h && memcmp(s->id, id, WSP_SESSION_ID_LEN) == 0)
      return s;
  return NULL;
}

static void drop(struct wsp_session_store *st, struct sess *s) {
  struct sess **pp = &st->slot[s->hash & (st->cap - 1)];
  while (*pp != s)
    pp = &(*pp)->hnext;
  *pp = s->hnext;
  list_unlink(st, s);
  st->n--;
  wsp__free(&st->mem, s->user);
  wsp__free(&st->mem, s->data);
  wsp__free(&st->mem, s);
}

static int grow(struct wsp_session_store *st) {
  size_t cap = st->cap ? st->cap * 2 : 64, i;
  struct sess **slot = wsp__malloc(&st->mem, cap * sizeof(*slot));
  if (!slot)
    return WSP_ERR_NOMEM;
  memset(slot, 0, cap * sizeof(*slot));
  for (i = 0; i < st->cap; i++) {
    struct sess *s = st->slot[i];
    while (s) {
      struct sess *next = s->hnext;
      s->hnext = slot[s->hash & (cap - 1)];
      slot[s->hash & (cap - 1)] = s;
      s = next;
    }
  }
  wsp__free(&st->mem, st->slot);
  st->slot = slot;
  st->cap = cap;
  return 0;
}

int wsp_session_store_new(struct wsp_session_store **pst,
                          const struct wsp_mem *mem, uint64_t ttl_ms,
                          size_t max_sessions) {
  struct wsp_mem m;
  struct wsp_session_store *st;
  if (!pst || !ttl_ms || !max_sessions)
    return WSP_ERR_INVAL;
  *pst = NULL;
  wsp__mem_init(&m, mem);
  st = wsp__malloc(&m, sizeof(*st));
  if (!st)
    return WSP_ERR_NOMEM;
  memset(st, 0, sizeof(*st));
  st->mem = m;
  st->ttl = ttl_ms;
  st->max = max_sessions;
  *pst = st;
  return 0;
}

void wsp_session_store_free(struct wsp_session_store *st) {
  if (!st)
    return;
  while (st->head)
    drop(st, st->head);
  wsp__free(&st->mem, st->slot);
  {
    struct wsp_mem m = st->mem;
    wsp__free(&m, st);
  }
}

int wsp_session_create(struct wsp_session_store *st, const char *user,
                       const void *data, size_t len, uint64_t now,
                       char id[WSP_SESSION_ID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t raw[16];
  struct sess *s;
  int i;
  if (!st || !user || !id || (len && !data))
    return WSP_ERR_INVAL;
  wsp_session_store_tick(st, now);
  if (st->n >= st->max) {
    if (!(st->flags & WSP_SESSION_EVICT_OLDEST)) {
      st->stats.refused++;
      return WSP_ERR_LIMIT;
    }
    /* The head is the session nearest to its expiry. */
    drop(st, st->head);
    st->stats.evicted++;
  }
  if (st->n + 1 > st->cap && grow(st) != 0)
    return WSP_ERR_NOMEM;
  s = wsp__malloc(&st->mem, sizeof(*s));
  if (!s)
    return WSP_ERR_NOMEM;
  memset(s, 0, sizeof(*s));
  s->user = wsp__strndup(&st->mem, user, strlen(user));
  s->data = len ? wsp__malloc(&st->mem, len) : NULL;
  if (!s->user || (len && !s->data)) {
    wsp__free(&st->mem, s->user);
    wsp__free(&st->mem, s->data);
    wsp__free(&st->mem, s);
    return WSP_ERR_NOMEM;
  }
  if (len)
    memcpy(s->data, data, len);
  s->len = len;
  do {
    if (wsp__random(&st->mem, raw, sizeof(raw)) != 0) {
      wsp__free(&st->mem, s->user);
      wsp__free(&st->mem, s->data);
      wsp__free(&st->mem, s);
      return WSP_ERR_RANDOM;
    }
    for (i = 0; i < 16; i++) {
      s->id[2 * i] = hex[raw[i] >> 4];
      s->id[2 * i + 1] = hex[raw[i] & 15];
    }
    s->id[WSP_SESSION_ID_LEN] = '\0';
  } while (find(st, s->id)); /* 128 random bits: practically never */
  s->hash = hash_id(s->id);
  s->expires = now + st->ttl;
  s->hnext = st->slot[s->hash & (st->cap - 1)];
  st->slot[s->hash & (st->cap - 1)] = s;
  list_append(st, s);
  st->n++;
  st->stats.created++;
  memcpy(id, s->id, WSP_SESSION_ID_LEN + 1);
  return 0;
}

int wsp_session_get(const struct wsp_session_store *st, const char *id,
                    uint64_t now, const char **user, const void **data,
                    size_t *len) {
  const struct sess *s;
  if (!st || !id)
    return WSP_ERR_INVAL;
  s = find(st, id);
  if (!s || now >= s->expires)
    return WSP_ERR_NOT_FOUND;
  if (user)
    *user = s->user;
  if (data)
    *data = s->data;
  if (len)
    *len = s->len;
  return 0;
}

int wsp_session_touch(struct wsp_session_store *st, const char *id,
                      uint64_t now) {
  struct sess *s;
  if (!st || !id)
    return WSP_ERR_INVAL;
  s = find(st, id);
  if (!s || now >= s->expires)
    return WSP_ERR_NOT_FOUND;
  s->expires = now + st->ttl;
  list_unlink(st, s);
  list_append(st, s);
  return 0;
}

int wsp_session_set_data(struct wsp_session_store *st, const char *id,
                         const void *data, size_t len) {
  struct sess *s;
  void *copy = NULL;
  if (!st || !id || (len && !data))
    return WSP_ERR_INVAL;
  s = find(st, id);
  if (!s)
    return WSP_ERR_NOT_FOUND;
  if (len && !(copy = wsp__malloc(&st->mem, len)))
    return WSP_ERR_NOMEM;
  if (len)
    memcpy(copy, data, len);
  wsp__free(&st->mem, s->data);
  s->data = copy;
  s->len = len;
  return 0;
}

int wsp_session_destroy(struct wsp_session_store *st, const char *id) {
  struct sess *s;
  if (!st || !id)
    return WSP_ERR_INVAL;
  s = find(st, id);
  if (!s)
    return WSP_ERR_NOT_FOUND;
  drop(st, s);
  st->stats.destroyed++;
  return 0;
}

size_t wsp_session_count(const struct wsp_session_store *st) {
  return st ? st->n : 0;
}

int wsp_session_store_tick(struct wsp_session_store *st, uint64_t now) {
  if (!st)
    return WSP_ERR_INVAL;
  while (st->head && now >= st->head->expires) {
    drop(st, st->head);
    st->stats.expired++;
  }
  return 0;
}

int wsp_session_store_set_flags(struct wsp_session_store *st, unsigned flags) {
  if (!st || (flags & ~WSP_SESSION_EVICT_OLDEST))
    return WSP_ERR_INVAL;
  st->flags = flags;
  return 0;
}

unsigned wsp_session_store_get_flags(const struct wsp_session_store *st) {
  return st ? st->flags : 0;
}

int wsp_session_store_get_stats(const struct wsp_session_store *st,
                                struct wsp_session_stats *stats) {
  if (!st || !stats)
    return WSP_ERR_INVAL;
  *stats = st->stats;
  return 0;
}

uint64_t wsp_session_store_next_deadline(const struct wsp_session_store *st) {
  return st && st->head ? st->head->expires : WSP_NO_DEADLINE;
}

static int cookie_text_ok(const char *s, int name) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    /* RFC 6265 cookie-octet; names are tokens */
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' ||
        c == '\\' || (name && strchr("()<>@:/[]?={}", c)))
      return 0;
  }
  return 1;
}

int wsp_session_cookie(char *buf, size_t cap, const char *name,
                       const char *value, const char *path,
                       int64_t max_age_s, unsigned flags) {
  char age[48] = "";
  int n;
  if (!buf || !name || !*name || !value || !cookie_text_ok(name, 1) ||
      !cookie_text_ok(value, 0) ||
      (path && (path[0] != '/' || strpbrk(path, "; \r\n"))) ||
      ((flags & WSP_COOKIE_SAMESITE_NONE) && !(flags & WSP_COOKIE_SECURE)))
    return WSP_ERR_INVAL;
  if (max_age_s >= 0)
    snprintf(age, sizeof(age), "; Max-Age=%lld", (long long)max_age_s);
  n = snprintf(buf, cap, "%s=%s; Path=%s%s%s%s%s", name, value,
               path ? path : "/", age,
               (flags & WSP_COOKIE_HTTPONLY) ? "; HttpOnly" : "",
               (flags & WSP_COOKIE_SECURE) ? "; Secure" : "",
               (flags & WSP_COOKIE_SAMESITE_STRICT) ? "; SameSite=Strict"
               : (flags & WSP_COOKIE_SAMESITE_NONE) ? "; SameSite=None"
               : (flags & WSP_COOKIE_SAMESITE_LAX)  ? "; SameSite=Lax"
                                                    : "");
  if (n < 0)
    return WSP_ERR_INVAL;
  if ((size_t)n >= cap)
    return WSP_ERR_LIMIT;
  return n;
}
