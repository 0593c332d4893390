/*
 * permessage-deflate (RFC 7692): the negotiation of its parameters in
 * the opening handshake (both roles), and the zlib streams that compress
 * and inflate messages. A leaf of conn/: it touches the connection's
 * fields but calls nothing of conn.c, which drives it.
 *
 * Memory: a stream exists only while it holds state. A server that
 * resets its compressor for every message (server_no_context_takeover,
 * the default) compresses with one stream per configuration, shared by
 * all its connections, and a shared frame is compressed once, the first
 * time a connection needs it (wsp__deflate_frame). A peer that resets its
 * own compressor (client_no_context_takeover, asked for by default) lets
 * the inflater go at the end of each message.
 */
#include <stdio.h>
#include <string.h>

#ifdef WSP_HAVE_ZLIB
#include <zlib.h>
#endif

#include "conn_private.h"

#define EXT_NAME "permessage-deflate"
#define LIT_LEN(lit) (sizeof(lit) - 1)

/* The four parameters of RFC 7692 section 7.1, in one offer or response. */
enum { P_SERVER_NCT, P_CLIENT_NCT, P_SERVER_BITS, P_CLIENT_BITS, P__COUNT };
static const char *const param_names[P__COUNT] = {
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
};

/* -1: absent; 0: present without a value (client_max_window_bits only);
 * 8..15: the value. The no_context_takeover ones are -1 or 0. */
struct pmd_params {
  int8_t v[P__COUNT];
};

/* ---- Parsing (RFC 7230 section 3.2.6 tokens and quoted strings) ------ */

static int is_tchar(char ch) {
  unsigned char u = (unsigned char)ch;
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
      (u >= 'A' && u <= 'Z'))
    return 1;
  return u && strchr("!#$%&'*+-.^_`|~", u) != NULL;
}

static void skip_ows(struct wsp_str s, size_t *i) {
  while (*i < s.len && (s.ptr[*i] == ' ' || s.ptr[*i] == '\t'))
    (*i)++;
}

static size_t token_at(struct wsp_str s, size_t i) {
  size_t j = i;
  while (j < s.len && is_tchar(s.ptr[j]))
    j++;
  return j - i;
}

/* A quoted string at s[*i] (the opening quote): its unescaped content
 * into buf (at most cap - 1 bytes, NUL-terminated). -1 when malformed or
 * longer. */
static int quoted_at(struct wsp_str s, size_t *i, char *buf, size_t cap) {
  size_t n = 0;
  (*i)++;
  while (*i < s.len && s.ptr[*i] != '"') {
    char ch = s.ptr[*i];
    if (ch == '\\') {
      if (++*i >= s.len)
        return -1;
      ch = s.ptr[*i];
    }
    if (n + 1 >= cap)
      return -1;
    buf[n++] = ch;
    (*i)++;
  }
  if (*i >= s.len)
    return -1;
  (*i)++;
  buf[n] = '\0';
  return 0;
}

/* A window size: a decimal integer 8..15 without leading zeros. */
static int window_bits(const char *v, size_t n) {
  if (n == 1 && v[0] >= '8' && v[0] <= '9')
    return v[0] - '0';
  if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
    return 10 + v[1] - '0';
  return -1;
}

/*
 * Parse one extension of a Sec-WebSocket-Extensions list starting at
 * s[*i]; *i moves past it and its comma. Returns 1 for a well-formed
 * permessage-deflate element (parameters in *p), 0 for another extension
 * or a malformed permessage-deflate one (RFC 7692 section 5: declined),
 * -1 when the list itself is malformed.
 */
static int next_extension(struct wsp_str s, size_t *i, struct pmd_params *p,
                          int *is_pmd) {
  size_t n;
  int ok = 1, k;
  skip_ows(s, i);
  n = token_at(s, *i);
  if (n == 0)
    return -1;
  *is_pmd = n == LIT_LEN(EXT_NAME) &&
            wsp__http_str_ieq((struct wsp_str){s.ptr + *i, n}, EXT_NAME);
  *i += n;
  for (k = 0; k < P__COUNT; k++)
    p->v[k] = -1;
  for (;;) {
    char val[8];
    size_t name_at, name_len, vlen = 0;
    int has_val = 0, which = -1;
    skip_ows(s, i);
    if (*i >= s.len)
      break;
    if (s.ptr[*i] == ',') {
      (*i)++;
      break;
    }
    if (s.ptr[*i] != ';')
      return -1;
    (*i)++;
    skip_ows(s, i);
    name_at = *i;
    name_len = token_at(s, *i);
    if (name_len == 0)
      return -1;
    *i += name_len;
    skip_ows(s, i);
    if (*i < s.len && s.ptr[*i] == '=') {
      (*i)++;
      skip_ows(s, i);
      has_val = 1;
      if (*i < s.len && s.ptr[*i] == '"') {
        if (quoted_at(s, i, val, sizeof(val)) != 0) {
          /* Too long for any value of ours, or malformed. */
          size_t j = *i + 1;
          while (j < s.len && s.ptr[j] != '"')
            j += s.ptr[j] == '\\' ? 2 : 1;
          if (j >= s.len)
            return -1;
          *i = j + 1;
          ok = 0;
          continue;
        }
        vlen = strlen(val);
      } else {
        vlen = token_at(s, *i);
        if (vlen == 0)
          return -1;
        if (vlen < sizeof(val))
          memcpy(val, s.ptr + *i, vlen);
        else
          ok = 0;
        *i += vlen;
        val[vlen < sizeof(val) ? vlen : 0] = '\0';
      }
    }
    if (!*is_pmd || !ok)
      continue;
    for (k = 0; k < P__COUNT; k++)
      if (name_len == strlen(param_names[k]) &&
          memcmp(s.ptr + name_at, param_names[k], name_len) == 0)
        which = k;
    if (which < 0 || p->v[which] != -1) {
      ok = 0; /* unknown or repeated */
      continue;
    }
    if (which == P_SERVER_NCT || which == P_CLIENT_NCT) {
      if (has_val)
        ok = 0;
      else
        p->v[which] = 0;
    } else if (has_val) {
      int b = window_bits(val, vlen);
      if (b < 0)
        ok = 0;
      else
        p->v[which] = (int8_t)b;
    } else if (which == P_CLIENT_BITS) {
      p->v[which] = 0;
    } else {
      ok = 0; /* server_max_window_bits needs its value */
    }
  }
  return *is_pmd && ok;
}

/* ---- Settings --------------------------------------------------------- */

static const uint32_t deflate_defaults[WSP_DEFLATE__COUNT] = {
    [WSP_DEFLATE_ENABLE] = 0,
    [WSP_DEFLATE_SERVER_MAX_WINDOW_BITS] = 15,
    [WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS] = 15,
    [WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER] = 1,
    [WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER] = 1,
    [WSP_DEFLATE_LEVEL] = 1,
    [WSP_DEFLATE_MEM_LEVEL] = 8,
    [WSP_DEFLATE_MIN_SIZE] = 64,
};

void wsp__deflate_defaults(uint32_t *settings) {
  memcpy(settings, deflate_defaults, sizeof(deflate_defaults));
}

int wsp__deflate_check(int param, uint64_t value) {
  switch (param) {
  case WSP_DEFLATE_ENABLE:
  case WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER:
  case WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER:
    if (value > 1)
      return WSP_ERR_INVAL;
#ifndef WSP_HAVE_ZLIB
    if (param == WSP_DEFLATE_ENABLE && value)
      return WSP_ERR_UNSUPPORTED;
#endif
    return 0;
  case WSP_DEFLATE_SERVER_MAX_WINDOW_BITS:
  case WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS:
    /* zlib cannot make raw deflate data with a 256-byte window. */
    return value >= 9 && value <= 15 ? 0 : WSP_ERR_INVAL;
  case WSP_DEFLATE_LEVEL:
  case WSP_DEFLATE_MEM_LEVEL:
    return value >= 1 && value <= 9 ? 0 : WSP_ERR_INVAL;
  case WSP_DEFLATE_MIN_SIZE:
    return value <= UINT32_MAX ? 0 : WSP_ERR_INVAL;
  default:
    return WSP_ERR_INVAL;
  }
}

/* ---- Negotiation ------------------------------------------------------ */

static size_t put(char *out, size_t cap, size_t at, const char *s) {
  size_t n = strlen(s);
  if (at < cap)
    memcpy(out + at, s, WSP__MIN(n, cap - at));
  return at + n;
}

static size_t put_bits(char *out, size_t cap, size_t at, const char *name,
                       int bits) {
  char num[16];
  at = put(out, cap, at, "; ");
  at = put(out, cap, at, name);
  if (bits > 0) {
    snprintf(num, sizeof(num), "=%d", bits);
    at = put(out, cap, at, num);
  }
  return at;
}

int wsp__deflate_accept(struct wsp_conn *c, const struct wsp__http_head *h,
                        char *out, size_t cap) {
  const uint32_t *cfg = c->cfg->deflate;
  size_t k, at = 0;
  if (!cfg[WSP_DEFLATE_ENABLE])
    return 0;
  for (k = 0; k < h->nheaders; k++) {
    struct wsp_str v = h->headers[k].value;
    size_t i = 0;
    if (!wsp__http_str_ieq(h->headers[k].name, "Sec-WebSocket-Extensions"))
      continue;
    while (i < v.len) {
      struct pmd_params p;
      int is_pmd, r = next_extension(v, &i, &p, &is_pmd), tx, rx;
      if (r < 0)
        break; /* the rest of this header cannot be read */
      if (r == 0)
        continue;
      /* The first acceptable offer wins. Our compressor's window: as
       * configured, or smaller if the client asks. A client that allows
       * us to limit its window gets the configured limit. */
      tx = (int)cfg[WSP_DEFLATE_SERVER_MAX_WINDOW_BITS];
      if (p.v[P_SERVER_BITS] > 0 && p.v[P_SERVER_BITS] < tx)
        tx = p.v[P_SERVER_BITS];
      rx = 15;
      if (p.v[P_CLIENT_BITS] >= 0) {
        rx = (int)cfg[WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS];
        if (p.v[P_CLIENT_BITS] > 0 && p.v[P_CLIENT_BITS] < rx)
          rx = p.v[P_CLIENT_BITS];
      }
      c->z_tx_reset = p.v[P_SERVER_NCT] == 0 ||
                      cfg[WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER] != 0;
      c->z_rx_reset = p.v[P_CLIENT_NCT] == 0 ||
                      cfg[WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER] != 0;
      c->z_tx_bits = (uint8_t)tx;
      c->z_rx_bits = (uint8_t)rx;
      c->z_on = 1;
      at = put(out, cap, at, "Sec-WebSocket-Extensions: " EXT_NAME);
      if (c->z_tx_reset)
        at = put(out, cap, at, "; server_no_context_takeover");
      if (c->z_rx_reset)
        at = put(out, cap, at, "; client_no_context_takeover");
      if (p.v[P_SERVER_BITS] > 0)
        at = put_bits(out, cap, at, "server_max_window_bits", tx);
      if (p.v[P_CLIENT_BITS] >= 0 && rx < 15)
        at = put_bits(out, cap, at, "client_max_window_bits", rx);
      at = put(out, cap, at, "\r\n");
      if (at >= cap) {
        c->z_on = 0;
        return WSP_ERR_NOMEM;
      }
      return (int)at;
    }
  }
  return 0;
}

int wsp__deflate_offer(const struct wsp_conn *c, char *out, size_t cap) {
  const uint32_t *cfg = c->cfg->deflate;
  size_t at = 0;
  int sb = (int)cfg[WSP_DEFLATE_SERVER_MAX_WINDOW_BITS];
  int cb = (int)cfg[WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS];
  if (!cfg[WSP_DEFLATE_ENABLE])
    return 0;
  at = put(out, cap, at, "Sec-WebSocket-Extensions: " EXT_NAME);
  if (cfg[WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER])
    at = put(out, cap, at, "; server_no_context_takeover");
  if (cfg[WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER])
    at = put(out, cap, at, "; client_no_context_takeover");
  if (sb < 15)
    at = put_bits(out, cap, at, "server_max_window_bits", sb);
  at = put_bits(out, cap, at, "client_max_window_bits", cb < 15 ? cb : 0);
  at = put(out, cap, at, "\r\n");
  return at < cap ? (int)at : WSP_ERR_NOMEM;
}

const char *wsp__deflate_check_response(struct wsp_conn *c,
                                        const struct wsp__http_head *h) {
  const uint32_t *cfg = c->cfg->deflate;
  struct pmd_params p;
  size_t k;
  int seen = 0, sb = (int)cfg[WSP_DEFLATE_SERVER_MAX_WINDOW_BITS];
  int cb = (int)cfg[WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS];
  for (k = 0; k < h->nheaders; k++) {
    struct wsp_str v = h->headers[k].value;
    size_t i = 0;
    if (!wsp__http_str_ieq(h->headers[k].name, "Sec-WebSocket-Extensions"))
      continue;
    while (i < v.len) {
      int is_pmd, r = next_extension(v, &i, &p, &is_pmd);
      if (r < 0)
        return "malformed Sec-WebSocket-Extensions header";
      if (!is_pmd || !cfg[WSP_DEFLATE_ENABLE])
        return "the server chose an extension that was not offered";
      if (r == 0)
        return "invalid permessage-deflate parameters";
      if (seen++)
        return "permessage-deflate chosen twice";
    }
  }
  if (!seen)
    return NULL;
  /* RFC 7692 section 7.1.2: no larger window than we allowed. */
  if (p.v[P_SERVER_BITS] == 0 ||
      (sb < 15 && (p.v[P_SERVER_BITS] < 0 || p.v[P_SERVER_BITS] > sb)) ||
      p.v[P_CLIENT_BITS] == 0 || (cb < 15 && p.v[P_CLIENT_BITS] > cb))
    return "invalid permessage-deflate window bits";
  c->z_on = 1;
  c->z_rx_reset = p.v[P_SERVER_NCT] == 0;
  c->z_tx_reset = p.v[P_CLIENT_NCT] == 0 ||
                  cfg[WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER] != 0;
  c->z_rx_bits = (uint8_t)(p.v[P_SERVER_BITS] > 0 ? p.v[P_SERVER_BITS] : 15);
  c->z_tx_bits = (uint8_t)(p.v[P_CLIENT_BITS] > 0 ? p.v[P_CLIENT_BITS] : cb);
  return NULL;
}

/* ---- Streams ---------------------------------------------------------- */

#ifdef WSP_HAVE_ZLIB

struct wsp__zs {
  z_stream z;
  struct wsp_mem mem; /* the stream's allocator, for zlib's hooks */
  uint8_t inflate;
  uint8_t bits, level, mem_level;
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  const struct wsp_mem *m = opaque;
  if (size && items > SIZE_MAX / size)
    return Z_NULL;
  return wsp__malloc(m, (size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p) { wsp__free(opaque, p); }

void wsp__deflate_end(struct wsp__zs **pz) {
  struct wsp__zs *z = *pz;
  struct wsp_mem m;
  if (!z)
    return;
  if (z->inflate)
    inflateEnd(&z->z);
  else
    deflateEnd(&z->z);
  m = z->mem;
  wsp__free(&m, z);
  *pz = NULL;
}

static struct wsp__zs *zs_new(const struct wsp_mem *mem, int inflating,
                              int bits, int level, int mem_level) {
  struct wsp__zs *z = wsp__malloc(mem, sizeof(*z));
  int r;
  if (!z)
    return NULL;
  memset(z, 0, sizeof(*z));
  z->mem = *mem;
  z->z.zalloc = z_alloc;
  z->z.zfree = z_free;
  z->z.opaque = &z->mem;
  z->inflate = (uint8_t)inflating;
  z->bits = (uint8_t)bits;
  z->level = (uint8_t)level;
  z->mem_level = (uint8_t)mem_level;
  r = inflating ? inflateInit2(&z->z, -bits)
                : deflateInit2(&z->z, level, Z_DEFLATED, -bits, mem_level,
                               Z_DEFAULT_STRATEGY);
  if (r != Z_OK) {
    wsp__free(mem, z);
    return NULL;
  }
  return z;
}

int wsp__deflate_compress(struct wsp__zs **pz, const struct wsp_mem *mem,
                          const uint32_t *cfg, int bits, int reset,
                          const uint8_t *in, size_t len, uint8_t *out,
                          size_t cap, size_t *outlen) {
  struct wsp__zs *z = *pz;
  int level = (int)cfg[WSP_DEFLATE_LEVEL];
  int mem_level = (int)cfg[WSP_DEFLATE_MEM_LEVEL];
  int r;
  size_t n;
  if (bits < 9)
    return 0; /* zlib makes no raw deflate data with a 256-byte window */
  if (z && (z->bits != bits || z->level != level || z->mem_level != mem_level))
    wsp__deflate_end(pz); /* a shared stream made for other settings */
  if (!*pz) {
    *pz = zs_new(mem, 0, bits, level, mem_level);
    if (!*pz)
      return WSP_ERR_NOMEM;
  }
  z = *pz;
  /* RFC 7692 section 7.2.1: a sync flush, then the 4 bytes it ends with
   * (00 00 ff ff) removed. Output that would not be smaller than the
   * message is not worth sending: the message goes as it is. */
  z->z.next_in = (Bytef *)(uintptr_t)in;
  z->z.avail_in = (uInt)len;
  z->z.next_out = out;
  z->z.avail_out = (uInt)cap;
  r = deflate(&z->z, Z_SYNC_FLUSH);
  n = cap - z->z.avail_out;
  if (r != Z_OK || z->z.avail_in != 0 || z->z.avail_out == 0 || n < 4 ||
      memcmp(out + n - 4, "\x00\x00\xff\xff", 4) != 0) {
    /* The peer never sees what went in: forget it. */
    deflateReset(&z->z);
    return 0;
  }
  if (reset)
    deflateReset(&z->z);
  *outlen = n - 4;
  return 1;
}

int wsp__deflate_inflate(struct wsp__zs **pz, const struct wsp_mem *mem,
                         int bits, const uint8_t **in, size_t *inlen,
                         uint8_t *out, size_t cap, size_t *produced) {
  struct wsp__zs *z = *pz;
  int r;
  if (!z) {
    z = *pz = zs_new(mem, 1, bits, 0, 0);
    if (!z)
      return WSP_ERR_NOMEM;
  }
  z->z.next_in = (Bytef *)(uintptr_t)*in;
  z->z.avail_in = (uInt)WSP__MIN(*inlen, (size_t)UINT32_MAX);
  z->z.next_out = out;
  z->z.avail_out = (uInt)WSP__MIN(cap, (size_t)UINT32_MAX);
  r = inflate(&z->z, Z_SYNC_FLUSH);
  *produced = WSP__MIN(cap, (size_t)UINT32_MAX) - z->z.avail_out;
  *inlen -= (size_t)(z->z.next_in - *in);
  *in = z->z.next_in;
  if (r == Z_MEM_ERROR)
    return WSP_ERR_NOMEM;
  /* Z_STREAM_END: a final block, which a sender may use; what follows is
   * not deflate data. */
  if (r == Z_STREAM_END && *inlen)
    return WSP_ERR_PROTO;
  if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
    return WSP_ERR_PROTO;
  if (r == Z_STREAM_END)
    inflateReset(&z->z);
  return 0;
}

void wsp__deflate_reset(struct wsp__zs *z) {
  if (z && z->inflate)
    inflateReset(&z->z);
  else if (z)
    deflateReset(&z->z);
}

#else /* !WSP_HAVE_ZLIB: the extension is never negotiated */

void wsp__deflate_end(struct wsp__zs **pz) { *pz = NULL; }

int wsp__deflate_compress(struct wsp__zs **pz, const struct wsp_mem *mem,
                          const uint32_t *cfg, int bits, int reset,
                          const uint8_t *in, size_t len, uint8_t *out,
                          size_t cap, size_t *outlen) {
  (void)pz, (void)mem, (void)cfg, (void)bits, (void)reset, (void)in;
  (void)len, (void)out, (void)cap, (void)outlen;
  return 0;
}

int wsp__deflate_inflate(struct wsp__zs **pz, const struct wsp_mem *mem,
                         int bits, const uint8_t **in, size_t *inlen,
                         uint8_t *out, size_t cap, size_t *produced) {
  (void)pz, (void)mem, (void)bits, (void)in, (void)inlen, (void)out;
  (void)cap;
  *produced = 0;
  return WSP_ERR_PROTO;
}

void wsp__deflate_reset(struct wsp__zs *z) { (void)z; }

#endif

struct wsp__zs **wsp__deflate_slot(struct wsp__zpair **pp,
                                   const struct wsp_mem *mem, int out) {
  if (!*pp) {
    *pp = wsp__malloc(mem, sizeof(**pp));
    if (!*pp)
      return NULL;
    (*pp)->in = (*pp)->out = NULL;
  }
  return out ? &(*pp)->out : &(*pp)->in;
}

void wsp__deflate_drop(struct wsp__zpair **pp, const struct wsp_mem *mem,
                       int which) {
  struct wsp__zpair *z = *pp;
  if (!z)
    return;
  if (which <= 0)
    wsp__deflate_end(&z->in);
  if (which != 0)
    wsp__deflate_end(&z->out);
  if (!z->in && !z->out) {
    wsp__free(mem, z);
    *pp = NULL;
  }
}

/* ---- Shared frames ---------------------------------------------------- */

struct wsp_frame *wsp__deflate_frame(struct wsp_frame *f,
                                     struct wsp__zs **shared,
                                     const struct wsp_mem *zmem,
                                     const uint32_t *cfg, int bits, int *err) {
  uint8_t l7 = f->data[1] & 0x7f;
  size_t hlen = l7 < 126 ? 2 : l7 == 126 ? 4 : 10, plen = f->len - hlen, n;
  struct wsp_frame *v;
  int r;
  *err = 0;
  if ((f->data[0] & 0x08) || plen < cfg[WSP_DEFLATE_MIN_SIZE] || plen < 16 ||
      bits < 9)
    return f;
  /* A variant made with a smaller window inflates with any larger one. */
  if (f->z_bits && f->z_bits <= bits)
    return f->z ? f->z : f;
  if (f->z_bits)
    return NULL; /* made for a larger window: this connection compresses
                    on its own */
  v = wsp__outq_buf_new(&f->mem, plen);
  if (!v) {
    *err = WSP_ERR_NOMEM;
    return NULL;
  }
  r = wsp__deflate_compress(shared, zmem, cfg, bits, 1, f->data + hlen, plen,
                            v->data + 10, plen - 10, &n);
  if (r < 0) {
    wsp__outq_buf_unref(v);
    *err = r;
    return NULL;
  }
  f->z_bits = (uint8_t)bits;
  if (r == 0) {
    wsp__outq_buf_unref(v);
    return f;
  }
  hlen = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
  memmove(v->data + hlen, v->data + 10, n);
  v->data[0] = (uint8_t)(f->data[0] | WSP__RSV1);
  if (hlen == 2) {
    v->data[1] = (uint8_t)n;
  } else if (hlen == 4) {
    v->data[1] = 126;
    v->data[2] = (uint8_t)(n >> 8);
    v->data[3] = (uint8_t)n;
  } else {
    size_t i;
    v->data[1] = 127;
    for (i = 0; i < 8; i++)
      v->data[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  }
  v->len = hlen + n;
  f->z = v;
  return v;
}
