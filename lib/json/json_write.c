/* The JSON writer (struct wsp__jbuf): appends to a growing buffer and
 * remembers the first allocation failure. See json.h for the contracts. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json_chars.h"
#include "json_private.h"

/* The letter the writer escapes a byte with; 0: \u00XX or no escape. */
static const char esc_tab[128] = {
    ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
    ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};

void wsp__jbuf_init(struct wsp__jbuf *jb, const struct wsp_mem *mem) {
  jb->data = NULL;
  jb->len = jb->cap = 0;
  jb->mem = mem;
  jb->err = 0;
}

void wsp__jbuf_free(struct wsp__jbuf *jb) {
  if (jb->mem)
    wsp__free(jb->mem, jb->data);
  else
    free(jb->data);
  jb->data = NULL;
  jb->len = jb->cap = 0;
  jb->err = 0;
}

void wsp__jbuf_reset(struct wsp__jbuf *jb) {
  jb->len = 0;
  jb->err = 0;
}

/* Make room for need more bytes. */
static int jb_grow(struct wsp__jbuf *jb, size_t need) {
  size_t want, ncap;
  char *nd;
  if (jb->err)
    return jb->err;
  if (need <= jb->cap - jb->len)
    return 0;
  if (need > SIZE_MAX - jb->len)
    goto nomem;
  want = jb->len + need;
  ncap = jb->cap ? jb->cap : 64;
  while (ncap < want)
    ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
  if (jb->mem)
    nd = jb->data ? wsp__realloc(jb->mem, jb->data, ncap)
                  : wsp__malloc(jb->mem, ncap);
  else
    nd = realloc(jb->data, ncap);
  if (!nd)
    goto nomem;
  jb->data = nd;
  jb->cap = ncap;
  return 0;
nomem:
  jb->err = WSP_ERR_NOMEM;
  return jb->err;
}

int wsp__jbuf_raw(struct wsp__jbuf *jb, const char *s, size_t n) {
  if (jb_grow(jb, n) == 0 && n) {
    memcpy(jb->data + jb->len, s, n);
    jb->len += n;
  }
  return jb->err;
}

int wsp__jbuf_str(struct wsp__jbuf *jb, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end, *run;
  char esc[6];
  size_t k, adv;
  int ok;
  /* room for the usual case, nothing to escape; more is added below */
  if (jb_grow(jb, n < SIZE_MAX - 2 ? n + 2 : SIZE_MAX) != 0)
    return jb->err;
  end = n ? p + n : p;
  jb->data[jb->len++] = '"';
  while (p < end) {
    run = p;
    for (;;) {
      p = wsp__skip_plain(p, end);
      if (p == end || *p < 0x80)
        break;
      k = wsp__utf8_check(p, end, &ok);
      /* U+2028 and U+2029 are E2 80 A8 and E2 80 A9 */
      if (!ok || (p[0] == 0xe2 && p[1] == 0x80 && (p[2] & 0xfe) == 0xa8))
        break;
      p += k;
    }
    wsp__jbuf_raw(jb, (const char *)run, (size_t)(p - run));
    if (p == end)
      break;
    esc[0] = '\\';
    k = 6;
    adv = 1;
    if (*p < 0x80 && esc_tab[*p]) {
      esc[1] = esc_tab[*p];
      k = 2;
    } else if (*p < 0x20) {
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[*p >> 4];
      esc[5] = hex[*p & 15];
    } else if (wsp__utf8_check(p, end, &ok), ok) {
      memcpy(esc + 1, p[2] == 0xa8 ? "u2028" : "u2029", 5);
      adv = 3;
    } else {
      /* one U+FFFD per maximal ill-formed subsequence: the valid prefix
       * of a sequence, or one byte */
      memcpy(esc + 1, "ufffd", 5);
      adv = wsp__utf8_check(p, end, &ok);
      adv += !adv;
    }
    p += adv;
    wsp__jbuf_raw(jb, esc, k);
  }
  if (jb_grow(jb, 1) == 0)
    jb->data[jb->len++] = '"';
  return jb->err;
}

int wsp__jbuf_u64(struct wsp__jbuf *jb, uint64_t v) {
  char buf[20];
  size_t i = sizeof(buf);
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return wsp__jbuf_raw(jb, buf + i, sizeof(buf) - i);
}

int wsp__jbuf_i64(struct wsp__jbuf *jb, int64_t v) {
  if (v >= 0)
    return wsp__jbuf_u64(jb, (uint64_t)v);
  WSP__JBUF_LIT(jb, "-");
  return wsp__jbuf_u64(jb, (uint64_t)0 - (uint64_t)v);
}

int wsp__jbuf_raw_value(struct wsp__jbuf *jb, const char *s, size_t n) {
  char *d;
  size_t i, k = 0;
  if (jb_grow(jb, n) != 0 || n == 0)
    return jb->err;
  d = jb->data + jb->len;
  for (i = 0; i < n; i++) {
    char c = s[i];
    d[k] = c;
    k += c != '\n' && c != '\r';
  }
  jb->len += k;
  return jb->err;
}
