/*
 * libFuzzer target for publication tags and the tags filter
 * (lib/hub/tags.c). The input is a filter, a NUL byte, then a
 * publication's meta. A filter the compiler accepts is evaluated against
 * the meta as it is (the log or an engine may hand back anything) and
 * against the meta with valid tags; the result must not change when the
 * same filter is evaluated twice, and "not" of it must give the opposite.
 * The tags check must accept what the filter path can read. Memory goes
 * through counting hooks and must all come back.
 */
#include "fuzz_common.h"

#include "hub/hub_private.h"

static long live;

static void *count_malloc(size_t n, void *ud) {
  (void)ud;
  live++;
  return malloc(n ? n : 1);
}

static void *count_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (!p)
    live++;
  return realloc(p, n ? n : 1);
}

static void count_free(void *p, void *ud) {
  (void)ud;
  if (p)
    live--;
  free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_mem mem = {count_malloc, count_realloc, count_free, NULL, NULL};
  const uint8_t *nul = memchr(data, 0, size);
  size_t flen = nul ? (size_t)(nul - data) : size;
  const char *meta = nul ? (const char *)nul + 1 : "";
  size_t mlen = nul ? size - flen - 1 : 0;
  struct wsp__tags_filter *f = NULL, *nf = NULL;
  char *wrapped;
  int r1, r2;

  if (wsp__json_validate((const char *)data, flen, 64, NULL) == 0 &&
      wsp__tags_compile(&mem, (const char *)data, flen, &f) == 0) {
    r1 = wsp__tags_match(f, meta, mlen);
    r2 = wsp__tags_match(f, meta, mlen);
    if (r1 != r2 || (r1 != 0 && r1 != 1))
      abort();
    /* {"op":"not","nodes":[FILTER]}: the opposite, when it compiles */
    wrapped = malloc(flen + 32);
    if (wrapped) {
      memcpy(wrapped, "{\"op\":\"not\",\"nodes\":[", 21);
      memcpy(wrapped + 21, data, flen);
      memcpy(wrapped + 21 + flen, "]}", 2);
      if (wsp__tags_compile(&mem, wrapped, flen + 23, &nf) == 0 &&
          wsp__tags_check(meta, mlen) == 0) {
        /* valid tags alone as the meta's tags part: exact opposites */
        char *m = malloc(mlen + 2);
        if (m) {
          m[0] = '\n';
          memcpy(m + 1, meta, mlen);
          if (wsp__tags_match(nf, m, mlen + 1) ==
              wsp__tags_match(f, m, mlen + 1))
            abort();
          free(m);
        }
      }
      wsp__tags_free(&mem, nf);
      free(wrapped);
    }
    wsp__tags_free(&mem, f);
  }
  if (live != 0)
    abort();
  return 0;
}
