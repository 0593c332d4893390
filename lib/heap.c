/*
 * The deadline heap shared by the hub (clients), the event log (streams)
 * and the correlation engine (requests): a binary min-heap of pointers to
 * nodes embedded in the owner's objects. A node knows its place, so it
 * can leave or move in O(log n) without a search; equal keys come out in
 * the order they went in.
 */
#include "internal.h"

/* x before y: smaller key, or the same key and pushed earlier (serial
 * number arithmetic on tie, which a long-lived heap lets wrap). */
static int before(const struct wsp__heap_node *x,
                  const struct wsp__heap_node *y) {
  return x->key < y->key ||
         (x->key == y->key && (int32_t)(x->tie - y->tie) < 0);
}

static void put(struct wsp__heap *h, uint32_t pos, struct wsp__heap_node *n) {
  h->v[pos] = n;
  n->pos = pos;
}

static void sift_up(struct wsp__heap *h, uint32_t pos) {
  struct wsp__heap_node *n = h->v[pos];
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (!before(n, h->v[parent]))
      break;
    put(h, pos, h->v[parent]);
    pos = parent;
  }
  put(h, pos, n);
}

static void sift_down(struct wsp__heap *h, uint32_t pos) {
  struct wsp__heap_node *n = h->v[pos];
  for (;;) {
    uint32_t child = 2 * pos + 1;
    if (child >= h->n)
      break;
    if (child + 1 < h->n && before(h->v[child + 1], h->v[child]))
      child++;
    if (!before(h->v[child], n))
      break;
    put(h, pos, h->v[child]);
    pos = child;
  }
  put(h, pos, n);
}

int wsp__heap_reserve(struct wsp__heap *h, const struct wsp_mem *mem,
                      size_t n) {
  struct wsp__heap_node **v;
  size_t cap;
  if (n <= h->cap)
    return 0;
  if (n > UINT32_MAX - 1)
    return WSP_ERR_NOMEM;
  cap = h->cap ? h->cap : WSP__HEAP_MIN_CAP;
  while (cap < n)
    cap = cap > (UINT32_MAX - 1) / 2 ? UINT32_MAX - 1 : cap * 2;
  v = wsp__realloc(mem, h->v, cap * sizeof(*v));
  if (!v)
    return WSP_ERR_NOMEM;
  h->v = v;
  h->cap = (uint32_t)cap;
  return 0;
}

void wsp__heap_shrink(struct wsp__heap *h, const struct wsp_mem *mem,
                      size_t need) {
  struct wsp__heap_node **v;
  uint32_t cap = h->cap / 2;
  /* Halve only under an eighth, so that a count moving around one size
   * does not grow and shrink the array in turn. Failing is harmless. */
  if (need < h->n)
    need = h->n;
  if (h->cap <= WSP__HEAP_MIN_CAP || need >= h->cap / 8)
    return;
  v = wsp__realloc(mem, h->v, cap * sizeof(*v));
  if (!v)
    return;
  h->v = v;
  h->cap = cap;
}

void wsp__heap_set(struct wsp__heap *h, struct wsp__heap_node *n,
                   uint64_t key) {
  if (n->pos == WSP__HEAP_OUT) {
    n->key = key;
    n->tie = h->next_tie++;
    n->pos = h->n++;
    h->v[n->pos] = n;
    sift_up(h, n->pos);
  } else if (key != n->key) {
    int up = key < n->key;
    n->key = key;
    if (up)
      sift_up(h, n->pos);
    else
      sift_down(h, n->pos);
  }
}

void wsp__heap_remove(struct wsp__heap *h, struct wsp__heap_node *n) {
  uint32_t pos = n->pos;
  struct wsp__heap_node *last;
  if (pos == WSP__HEAP_OUT)
    return;
  n->pos = WSP__HEAP_OUT;
  last = h->v[--h->n];
  if (pos == h->n)
    return;
  put(h, pos, last);
  if (pos > 0 && before(last, h->v[(pos - 1) / 2]))
    sift_up(h, pos);
  else
    sift_down(h, pos);
}

void wsp__heap_free(struct wsp__heap *h, const struct wsp_mem *mem) {
  wsp__free(mem, h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}
