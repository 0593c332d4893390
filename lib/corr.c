/*
 * Request/response correlation: a table of pending requests keyed by a
 * 32-bit id, with deadlines and callbacks that fire exactly once.
 *
 * Entries live in one array and are referred to by index; only the
 * deadline heap points into it, and is told when growing the array moves
 * it. Three structures index them:
 *   - an open-addressing hash table (linear probing, backward-shift
 *     deletion, load at most 1/2) from id to entry;
 *   - the shared deadline heap (heap.c) of the entries with a deadline,
 *     ordered by (deadline, start order);
 *   - a doubly linked list in start order, for cancel_all and free.
 * An entry is unlinked from all three before its callback runs, so a
 * callback can do anything to the table without an entry firing twice.
 */
#include <string.h>

#include "internal.h"
#include "wsp/corr.h"

#define NIL UINT32_MAX
#define TAB_MIN_BITS 4
/* Memory is returned when the table empties and is larger than this. */
#define KEEP_SLOTS 1024

enum ent_state {
  ENT_FREE = 0, /* on the free list (pos links it) */
  ENT_HEAP,     /* pending with a deadline, in the heap */
  ENT_NONE,     /* pending without a deadline */
  ENT_DUE,      /* pending, taken off the heap by a running tick; pos
                   links the tick's list of entries to time out */
  ENT_DEAD      /* ended while ENT_DUE; the tick frees the slot */
};

struct ent {
  uint64_t seq; /* start order: breaks deadline ties, bounds cancel_all */
  void (*cb)(struct wsp_corr *corr, uint32_t id, int status, const void *data,
             size_t len, void *user_data);
  void *user_data;
  uint32_t id;
  uint32_t pos;
  uint32_t prev, next; /* start-order list */
  uint8_t state;
  struct wsp__heap_node hn; /* key: the deadline (ENT_HEAP) */
};

struct slot {
  uint32_t id; /* 0: empty (ids are never 0) */
  uint32_t ent;
};

struct wsp_corr {
  struct wsp_mem mem;
  struct ent *ents;
  uint32_t ecap, free_head;
  struct wsp__heap heap;
  struct slot *tab;
  uint32_t tbits; /* table size is 1 << tbits; 0 when there is none */
  uint32_t count; /* pending entries (all of them are in the table) */
  uint32_t first, last;
  uint32_t next_id;
  uint64_t next_seq;
  size_t max_pending;
  struct wsp_corr_stats stats;
  unsigned depth;   /* nesting of calls that run callbacks */
  int free_pending; /* wsp_corr_free() was called */
};

/* ---- Hash table ------------------------------------------------------- */

static uint32_t tab_home(uint32_t id, uint32_t bits) {
  /* Fibonacci hashing spreads consecutive ids over the whole table. */
  return (uint32_t)(id * 2654435769u) >> (32 - bits);
}

static uint32_t tab_find(const struct wsp_corr *c, uint32_t id) {
  uint32_t mask, i;
  if (!c->tab || id == 0)
    return NIL;
  mask = ((uint32_t)1 << c->tbits) - 1;
  for (i = tab_home(id, c->tbits);; i = (i + 1) & mask) {
    if (c->tab[i].id == id)
      return i;
    if (c->tab[i].id == 0)
      return NIL;
  }
}

static void tab_put(struct slot *tab, uint32_t bits, uint32_t id,
                    uint32_t ent) {
  uint32_t mask = ((uint32_t)1 << bits) - 1, i;
  for (i = tab_home(id, bits); tab[i].id != 0; i = (i + 1) & mask)
    ;
  tab[i].id = id;
  tab[i].ent = ent;
}

static void tab_erase(struct wsp_corr *c, uint32_t i) {
  uint32_t mask = ((uint32_t)1 << c->tbits) - 1, j = i, k;
  for (;;) {
    j = (j + 1) & mask;
    if (c->tab[j].id == 0)
      break;
    k = tab_home(c->tab[j].id, c->tbits);
    /* The entry at j stays unless its home lies outside (i, j]. */
    if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
      continue;
    c->tab[i] = c->tab[j];
    i = j;
  }
  c->tab[i].id = 0;
}

/* Make room for one more id; on failure nothing has changed. */
static int tab_reserve(struct wsp_corr *c) {
  uint32_t bits, old_size, i;
  struct slot *t;
  size_t size;
  if (c->tab && ((uint64_t)c->count + 1) * 2 <= ((uint64_t)1 << c->tbits))
    return 0;
  bits = c->tab ? c->tbits + 1 : TAB_MIN_BITS;
  if (bits > 31)
    return WSP_ERR_NOMEM;
  size = (size_t)1 << bits;
  if (size > SIZE_MAX / sizeof(*t))
    return WSP_ERR_NOMEM;
  t = wsp__malloc(&c->mem, size * sizeof(*t));
  if (!t)
    return WSP_ERR_NOMEM;
  memset(t, 0, size * sizeof(*t));
  old_size = c->tab ? (uint32_t)1 << c->tbits : 0;
  for (i = 0; i < old_size; i++)
    if (c->tab[i].id)
      tab_put(t, bits, c->tab[i].id, c->tab[i].ent);
  wsp__free(&c->mem, c->tab);
  c->tab = t;
  c->tbits = bits;
  return 0;
}

/* ---- Entries ---------------------------------------------------------- */

/* The most entries the arrays may hold in a size_t of bytes. */
static size_t ents_max(void) {
  size_t n = SIZE_MAX / (sizeof(struct ent) + sizeof(struct wsp__heap_node *));
  return n < ((size_t)1 << 31) ? n : ((size_t)1 << 31);
}

/* Make sure a free entry and heap room exist; on failure nothing has
 * changed but capacity. */
static int ents_reserve(struct wsp_corr *c) {
  uint32_t cap, i;
  void *p;
  if (c->free_head != NIL)
    return 0;
  if (c->ecap > ((uint32_t)1 << 30))
    return WSP_ERR_NOMEM;
  cap = c->ecap ? c->ecap * 2 : 16;
  if (cap > ents_max())
    return WSP_ERR_NOMEM;
  if (wsp__heap_reserve(&c->heap, &c->mem, cap) != 0)
    return WSP_ERR_NOMEM;
  p = wsp__realloc(&c->mem, c->ents, (size_t)cap * sizeof(struct ent));
  if (!p)
    return WSP_ERR_NOMEM;
  c->ents = p;
  /* The heap points into the array, which may have moved. */
  for (i = 0; i < c->ecap; i++)
    if (c->ents[i].state == ENT_HEAP)
      wsp__heap_moved(&c->heap, &c->ents[i].hn);
  for (i = cap; i-- > c->ecap;) {
    c->ents[i].state = ENT_FREE;
    c->ents[i].id = 0;
    c->ents[i].pos = c->free_head;
    c->free_head = i;
  }
  c->ecap = cap;
  return 0;
}

static void ent_release(struct wsp_corr *c, uint32_t e) {
  c->ents[e].state = ENT_FREE;
  c->ents[e].id = 0;
  c->ents[e].pos = c->free_head;
  c->free_head = e;
}

/* Take pending entry e (table slot slot, or NIL to look it up) out of
 * every structure. An entry queued by a running tick keeps its slot until
 * that tick reaches it. */
static void ent_detach(struct wsp_corr *c, uint32_t e, uint32_t slot) {
  struct ent *x = &c->ents[e];
  tab_erase(c, slot != NIL ? slot : tab_find(c, x->id));
  if (x->state == ENT_HEAP)
    wsp__heap_remove(&c->heap, &x->hn);
  if (x->prev != NIL)
    c->ents[x->prev].next = x->next;
  else
    c->first = x->next;
  if (x->next != NIL)
    c->ents[x->next].prev = x->prev;
  else
    c->last = x->prev;
  c->count--;
  if (x->state == ENT_DUE) {
    x->state = ENT_DEAD;
    x->id = 0;
  } else {
    ent_release(c, e);
  }
}

/* End entry e: unlink it, then run its callback. Only between
 * corr_enter() and corr_leave(). */
static void ent_end(struct wsp_corr *c, uint32_t e, uint32_t slot, int status,
                    const void *data, size_t len) {
  const struct ent *x = &c->ents[e];
  void (*cb)(struct wsp_corr *, uint32_t, int, const void *, size_t, void *) =
      x->cb;
  void *ud = x->user_data;
  uint32_t id = x->id;
  ent_detach(c, e, slot);
  if (cb)
    cb(c, id, status, data, len, ud);
}

/* ---- Life cycle ------------------------------------------------------- */

static void release_memory(struct wsp_corr *c) {
  wsp__free(&c->mem, c->ents);
  wsp__heap_free(&c->heap, &c->mem);
  wsp__free(&c->mem, c->tab);
  c->ents = NULL;
  c->tab = NULL;
  c->ecap = c->tbits = 0;
  c->free_head = NIL;
}

static void really_free(struct wsp_corr *c) {
  struct wsp_mem mem = c->mem;
  c->depth++; /* calls from the callbacks below must not free again */
  while (c->first != NIL) {
    c->stats.cancelled++;
    ent_end(c, c->first, NIL, WSP_ERR_CANCELLED, NULL, 0);
  }
  release_memory(c);
  wsp__free(&mem, c);
}

static void corr_enter(struct wsp_corr *c) { c->depth++; }

static void corr_leave(struct wsp_corr *c) {
  if (--c->depth)
    return;
  if (c->free_pending)
    really_free(c);
  else if (c->count == 0 && c->ecap > KEEP_SLOTS)
    release_memory(c); /* give back what a burst of requests took */
}

int wsp_corr_new(struct wsp_corr **pcorr, const struct wsp_mem *mem) {
  struct wsp_mem m;
  struct wsp_corr *c;
  if (!pcorr)
    return WSP_ERR_INVAL;
  *pcorr = NULL;
  wsp__mem_init(&m, mem);
  c = wsp__malloc(&m, sizeof(*c));
  if (!c)
    return WSP_ERR_NOMEM;
  memset(c, 0, sizeof(*c));
  c->mem = m;
  c->free_head = NIL;
  c->first = c->last = NIL;
  c->next_id = 1;
  c->max_pending = WSP_CORR_DEFAULT_MAX_PENDING;
  *pcorr = c;
  return 0;
}

void wsp_corr_free(struct wsp_corr *c) {
  if (!c || c->free_pending)
    return;
  c->free_pending = 1;
  if (c->depth == 0)
    really_free(c);
}

int wsp_corr_set_max_pending(struct wsp_corr *c, size_t n) {
  if (!c || n == 0 || n > WSP_CORR_MAX_PENDING_LIMIT)
    return WSP_ERR_INVAL;
  c->max_pending = n;
  return 0;
}

size_t wsp_corr_get_max_pending(const struct wsp_corr *c) {
  return c ? c->max_pending : 0;
}

int wsp_corr_set_next_id(struct wsp_corr *c, uint32_t id) {
  if (!c || id == 0)
    return WSP_ERR_INVAL;
  c->next_id = id;
  return 0;
}

/* ---- Requests --------------------------------------------------------- */

int wsp_corr_start(struct wsp_corr *c, uint64_t deadline,
                   void (*cb)(struct wsp_corr *corr, uint32_t id, int status,
                              const void *data, size_t len, void *user_data),
                   void *user_data, uint32_t *id_out) {
  struct ent *x;
  uint32_t e, id;
  int rc;
  if (!c || !id_out)
    return WSP_ERR_INVAL;
  if (c->free_pending)
    return WSP_ERR_STATE;
  if (c->count >= c->max_pending) {
    c->stats.refused++;
    return WSP_ERR_LIMIT;
  }
  if ((rc = ents_reserve(c)) != 0 || (rc = tab_reserve(c)) != 0)
    return rc;

  /* Fewer than 2^32 - 1 ids are pending, so this ends. */
  for (id = c->next_id; tab_find(c, id) != NIL;)
    id = id == UINT32_MAX ? 1 : id + 1;
  c->next_id = id == UINT32_MAX ? 1 : id + 1;

  e = c->free_head;
  x = &c->ents[e];
  c->free_head = x->pos;
  x->seq = c->next_seq++;
  x->cb = cb;
  x->user_data = user_data;
  x->id = id;
  x->next = NIL;
  x->prev = c->last;
  if (c->last != NIL)
    c->ents[c->last].next = e;
  else
    c->first = e;
  c->last = e;
  tab_put(c->tab, c->tbits, id, e);
  if (deadline == WSP_NO_DEADLINE) {
    x->state = ENT_NONE;
    x->pos = NIL;
  } else {
    x->state = ENT_HEAP;
    x->hn.pos = WSP__HEAP_OUT;
    wsp__heap_set(&c->heap, &x->hn, deadline);
  }
  c->count++;
  c->stats.started++;
  if (c->count > c->stats.peak)
    c->stats.peak = c->count;
  *id_out = id;
  return 0;
}

int wsp_corr_complete(struct wsp_corr *c, uint32_t id, int status,
                      const void *data, size_t len) {
  uint32_t slot;
  if (!c || (!data && len))
    return WSP_ERR_INVAL;
  slot = tab_find(c, id);
  if (slot == NIL) {
    c->stats.late++;
    return WSP_ERR_NOT_FOUND;
  }
  c->stats.replied++;
  corr_enter(c);
  ent_end(c, c->tab[slot].ent, slot, status, data, len);
  corr_leave(c);
  return 0;
}

int wsp_corr_cancel(struct wsp_corr *c, uint32_t id) {
  uint32_t slot;
  if (!c)
    return WSP_ERR_INVAL;
  slot = tab_find(c, id);
  if (slot == NIL)
    return WSP_ERR_NOT_FOUND;
  c->stats.cancelled++;
  corr_enter(c);
  ent_end(c, c->tab[slot].ent, slot, WSP_ERR_CANCELLED, NULL, 0);
  corr_leave(c);
  return 0;
}

int wsp_corr_cancel_all(struct wsp_corr *c, int status) {
  uint64_t end;
  if (!c || status == 0)
    return WSP_ERR_INVAL;
  /* The list is in start order: stop at the first request started by one
   * of the callbacks, so that a callback that retries cannot loop. */
  end = c->next_seq;
  corr_enter(c);
  while (c->first != NIL && c->ents[c->first].seq < end) {
    c->stats.cancelled++;
    ent_end(c, c->first, NIL, status, NULL, 0);
  }
  corr_leave(c);
  return 0;
}

/* ---- Time ------------------------------------------------------------- */

int wsp_corr_tick(struct wsp_corr *c, uint64_t now) {
  uint32_t head = NIL, tail = NIL, e;
  if (!c)
    return WSP_ERR_INVAL;
  corr_enter(c);
  /* Take every due entry off the heap first, in order: requests started
   * by the callbacks wait for the next tick even when already due, and an
   * entry a callback ends before its turn is skipped. */
  while (c->heap.n > 0 && c->heap.v[0]->key <= now) {
    e = (uint32_t)(WSP__CONTAINER_OF(c->heap.v[0], struct ent, hn) - c->ents);
    wsp__heap_remove(&c->heap, c->heap.v[0]);
    c->ents[e].state = ENT_DUE;
    c->ents[e].pos = NIL;
    if (tail != NIL)
      c->ents[tail].pos = e;
    else
      head = e;
    tail = e;
  }
  while (head != NIL) {
    e = head;
    head = c->ents[e].pos;
    if (c->ents[e].state == ENT_DEAD) {
      ent_release(c, e);
      continue;
    }
    c->ents[e].state = ENT_NONE; /* detach frees the slot */
    c->stats.timed_out++;
    ent_end(c, e, NIL, WSP_ERR_TIMEOUT, NULL, 0);
  }
  corr_leave(c);
  return 0;
}

uint64_t wsp_corr_next_deadline(const struct wsp_corr *c) {
  if (!c || c->heap.n == 0)
    return WSP_NO_DEADLINE;
  return c->heap.v[0]->key;
}

/* ---- Introspection ---------------------------------------------------- */

size_t wsp_corr_pending(const struct wsp_corr *c) { return c ? c->count : 0; }

void wsp_corr_get_stats(const struct wsp_corr *c, struct wsp_corr_stats *out) {
  if (!out)
    return;
  if (c)
    *out = c->stats;
  else
    memset(out, 0, sizeof(*out));
}
