/* Private cross-file helpers of libwsp. Not installed. */
#ifndef WSP_INTERNAL_H
#define WSP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "wsp/common.h"

#define WSP__UNUSED(x) ((void)(x))
#define WSP__MIN(a, b) ((a) < (b) ? (a) : (b))
#define WSP__MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- mem.c ------------------------------------------------------------ */

void wsp__mem_init(struct wsp_mem *dst, const struct wsp_mem *src);
void *wsp__malloc(const struct wsp_mem *mem, size_t size);
void *wsp__realloc(const struct wsp_mem *mem, void *ptr, size_t size);
void wsp__free(const struct wsp_mem *mem, void *ptr);
char *wsp__strndup(const struct wsp_mem *mem, const char *s, size_t len);

/* ---- random.c: the one source of random bytes ------------------------- */

/* Fill buf with len random bytes from mem's random hook, or getrandom(2)
 * without one: 0, or WSP_ERR_RANDOM. */
int wsp__random(const struct wsp_mem *mem, void *buf, size_t len);

/* ---- conn/outq.c: what a shared frame (wsp_frame_new) carries -------- */

struct wsp_frame;
/* The message of frame f: its opcode and payload (borrowed from f). */
const uint8_t *wsp__outq_frame_payload(const struct wsp_frame *f, int *opcode,
                                       size_t *len);

/* ---- heap.c: the deadline heap ---------------------------------------- */

#define WSP__HEAP_OUT UINT32_MAX

/* Embedded in an object the heap orders; pos is WSP__HEAP_OUT while the
 * object is not in the heap (set it so before first use). */
struct wsp__heap_node {
  uint64_t key;
  uint32_t pos;
  uint32_t tie; /* push order, for equal keys */
};

#define WSP__HEAP_MIN_CAP 16 /* the first room reserved, the least kept */

struct wsp__heap {
  struct wsp__heap_node **v;
  uint32_t n, cap;
  uint32_t next_tie;
};

/* Room for n nodes, so that wsp__heap_set() never allocates. */
int wsp__heap_reserve(struct wsp__heap *h, const struct wsp_mem *mem, size_t n);
/* Give back room a crowd left: keep room for need nodes (at least the
 * ones in the heap), shrinking when far more is held. Never fails. */
void wsp__heap_shrink(struct wsp__heap *h, const struct wsp_mem *mem,
                      size_t need);
/* Put n in the heap with key, or move it there if it is in already (it
 * keeps its place among equal keys). Room must have been reserved. */
void wsp__heap_set(struct wsp__heap *h, struct wsp__heap_node *n, uint64_t key);
/* Take n out of the heap; nothing if it is not in. */
void wsp__heap_remove(struct wsp__heap *h, struct wsp__heap_node *n);
/* The node with the smallest key, or NULL when the heap is empty. */
static inline struct wsp__heap_node *wsp__heap_top(const struct wsp__heap *h) {
  return h->n ? h->v[0] : NULL;
}
/* After the memory holding n moved (realloc of the owner's array). */
static inline void wsp__heap_moved(struct wsp__heap *h,
                                   struct wsp__heap_node *n) {
  if (n->pos != WSP__HEAP_OUT)
    h->v[n->pos] = n;
}
void wsp__heap_free(struct wsp__heap *h, const struct wsp_mem *mem);

#define WSP__CONTAINER_OF(ptr, type, member)                                   \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The value of hexadecimal digit c, or -1. */
static inline int wsp__hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* a + b, or UINT64_MAX when that does not fit: deadlines far away stay
 * far away instead of wrapping round to the past. */
static inline uint64_t wsp__add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif /* WSP_INTERNAL_H */
