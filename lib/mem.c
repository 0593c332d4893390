/* Allocator hooks: every allocation of libwsp goes through these. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *libc_malloc(size_t size, void *ud) {
  WSP__UNUSED(ud);
  return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *ud) {
  WSP__UNUSED(ud);
  return realloc(ptr, size);
}

static void libc_free(void *ptr, void *ud) {
  WSP__UNUSED(ud);
  free(ptr);
}

void wsp__mem_init(struct wsp_mem *dst, const struct wsp_mem *src) {
  if (src && src->malloc && src->realloc && src->free) {
    *dst = *src;
  } else {
    dst->malloc = libc_malloc;
    dst->realloc = libc_realloc;
    dst->free = libc_free;
    dst->user_data = src ? src->user_data : NULL;
    dst->random = src ? src->random : NULL;
  }
}

void *wsp__malloc(const struct wsp_mem *mem, size_t size) {
  return mem->malloc(size ? size : 1, mem->user_data);
}

void *wsp__realloc(const struct wsp_mem *mem, void *ptr, size_t size) {
  return mem->realloc(ptr, size ? size : 1, mem->user_data);
}

void wsp__free(const struct wsp_mem *mem, void *ptr) {
  if (ptr)
    mem->free(ptr, mem->user_data);
}

char *wsp__strndup(const struct wsp_mem *mem, const char *s, size_t len) {
  char *p = wsp__malloc(mem, len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}
