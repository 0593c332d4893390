/*
 * Fossil deltas, the delta encoding of the Centrifuge protocol
 * (a subscribe's delta "fossil"): the target as copies of the source and
 * literal inserts.
 *
 * The format: the target's length, '\n'; then commands, "N@O," to copy
 * N bytes from offset O of the source, "N:" followed by N literal bytes;
 * then the target's checksum and ';'. Numbers are written in base 64,
 * most significant digit first, with the digits 0-9 A-Z _ a-z ~.
 *
 * The source is indexed by a hash of each aligned block of BLOCK bytes;
 * the target is scanned with a rolling hash of the same width, and a
 * block found is verified and extended both ways. A delta travels inside
 * a JSON string, so every literal insert must be whole UTF-8 characters:
 * matches start and end only where the target has no continuation byte.
 */
#include <string.h>

#include "hub/hub_private.h"

#define BLOCK 16
#define MAX_TRIES 32 /* candidates verified at one position */

static const char digits[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~";

static void put_int(struct wsp__jbuf *jb, uint64_t v) {
  char buf[12];
  int i = (int)sizeof(buf);
  do {
    buf[--i] = digits[v & 63];
    v >>= 6;
  } while (v);
  wsp__jbuf_raw(jb, buf + i, sizeof(buf) - (size_t)i);
}

/* The checksum the decoder verifies: the target read as big-endian
 * 32-bit words, summed (a short tail counts from the high byte). */
static uint32_t checksum(const unsigned char *p, size_t n) {
  uint32_t s[4] = {0, 0, 0, 0}, sum;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s[0] += p[i];
    s[1] += p[i + 1];
    s[2] += p[i + 2];
    s[3] += p[i + 3];
  }
  sum = s[3] + (s[2] << 8) + (s[1] << 16) + (s[0] << 24);
  switch (n - i) {
  case 3:
    sum += (uint32_t)p[i + 2] << 8;
    /* fall through */
  case 2:
    sum += (uint32_t)p[i + 1] << 16;
    /* fall through */
  case 1:
    sum += (uint32_t)p[i] << 24;
    break;
  default:
    break;
  }
  return sum;
}

struct roll {
  uint32_t a, b;
};

static void roll_init(struct roll *r, const unsigned char *p) {
  int i;
  r->a = r->b = 0;
  for (i = 0; i < BLOCK; i++) {
    r->a += p[i];
    r->b += (uint32_t)(BLOCK - i) * p[i];
  }
}

/* Slide the window one byte: out leaves it, in enters. */
static void roll_next(struct roll *r, unsigned char out, unsigned char in) {
  r->a = r->a - out + in;
  r->b = r->b - (uint32_t)BLOCK * out + r->a;
}

static uint32_t roll_hash(const struct roll *r) {
  return (r->a & 0xffff) | (r->b << 16);
}

static int cont(unsigned char c) { return (c & 0xc0) == 0x80; }

static void insert(struct wsp__jbuf *jb, const unsigned char *p, size_t n) {
  if (!n)
    return;
  put_int(jb, n);
  WSP__JBUF_LIT(jb, ":");
  wsp__jbuf_raw(jb, (const char *)p, n);
}

int wsp__fossil_delta(const struct wsp_mem *mem, const void *source,
                      size_t slen, const void *target, size_t tlen,
                      struct wsp__jbuf *out) {
  const unsigned char *src = source, *tgt = target;
  size_t nblocks = slen / BLOCK, cap = 1, i, done = 0, pos = 0;
  uint32_t *head = NULL, *next = NULL;
  struct roll r;

  put_int(out, tlen);
  WSP__JBUF_LIT(out, "\n");
  if (nblocks && tlen >= BLOCK) {
    while (cap < nblocks)
      cap <<= 1;
    head = wsp__malloc(mem, cap * sizeof(*head));
    next = wsp__malloc(mem, nblocks * sizeof(*next));
    if (!head || !next) {
      wsp__free(mem, head);
      wsp__free(mem, next);
      return WSP_ERR_NOMEM;
    }
    /* buckets hold block number + 1; 0 ends a chain */
    memset(head, 0, cap * sizeof(*head));
    for (i = 0; i < nblocks; i++) {
      struct roll b;
      size_t k;
      roll_init(&b, src + i * BLOCK);
      k = roll_hash(&b) & (cap - 1);
      next[i] = head[k];
      head[k] = (uint32_t)i + 1;
    }
    roll_init(&r, tgt);
    while (pos + BLOCK <= tlen) {
      size_t best_len = 0, best_s = 0, best_t = 0;
      uint32_t blk = head[roll_hash(&r) & (cap - 1)];
      int tries = 0;
      for (; blk && tries < MAX_TRIES; blk = next[blk - 1], tries++) {
        size_t s = (size_t)(blk - 1) * BLOCK, ts = pos, te, se;
        if (memcmp(src + s, tgt + pos, BLOCK) != 0)
          continue;
        /* extend backwards over what is not emitted yet, then forwards */
        while (ts > done && s > 0 && src[s - 1] == tgt[ts - 1]) {
          ts--;
          s--;
        }
        te = pos + BLOCK;
        se = s + (te - ts);
        while (te < tlen && se < slen && src[se] == tgt[te]) {
          te++;
          se++;
        }
        /* whole characters on both sides of the inserts around it */
        while (ts < te && cont(tgt[ts])) {
          ts++;
          s++;
        }
        while (te > ts && te < tlen && cont(tgt[te]))
          te--;
        if (te - ts > best_len) {
          best_len = te - ts;
          best_s = s;
          best_t = ts;
        }
      }
      /* a copy costs a few bytes of command: worth it from a block on */
      if (best_len >= BLOCK) {
        insert(out, tgt + done, best_t - done);
        put_int(out, best_len);
        WSP__JBUF_LIT(out, "@");
        put_int(out, best_s);
        WSP__JBUF_LIT(out, ",");
        done = pos = best_t + best_len;
        if (pos + BLOCK <= tlen)
          roll_init(&r, tgt + pos);
        continue;
      }
      if (pos + BLOCK < tlen)
        roll_next(&r, tgt[pos], tgt[pos + BLOCK]);
      pos++;
    }
    wsp__free(mem, head);
    wsp__free(mem, next);
  }
  insert(out, tgt + done, tlen - done);
  put_int(out, checksum(tgt, tlen));
  WSP__JBUF_LIT(out, ";");
  return out->err;
}
