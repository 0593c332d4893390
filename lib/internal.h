/* Private cross-file helpers of libwsp. Not installed. */
#ifndef WSP_INTERNAL_H
#define WSP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "wsp/common.h"

#define WSP__UNUSED(x) ((void)(x))
#define WSP__MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- mem.c ------------------------------------------------------------ */

void wsp__mem_init(struct wsp_mem *dst, const struct wsp_mem *src);
void *wsp__malloc(const struct wsp_mem *mem, size_t size);
void *wsp__realloc(const struct wsp_mem *mem, void *ptr, size_t size);
void wsp__free(const struct wsp_mem *mem, void *ptr);
char *wsp__strndup(const struct wsp_mem *mem, const char *s, size_t len);

/* a + b, or UINT64_MAX when that does not fit: deadlines far away stay
 * far away instead of wrapping round to the past. */
static inline uint64_t wsp__add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif /* WSP_INTERNAL_H */
