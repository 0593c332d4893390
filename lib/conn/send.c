/*
 * Sending: whole messages, fragments and shared frames. With
 * permessage-deflate negotiated, a whole message of at least
 * WSP_DEFLATE_MIN_SIZE bytes goes compressed when that makes it smaller;
 * a shared frame is compressed once for every connection that resets its
 * compressor per message (the variant stays with the frame), and apart
 * for one that keeps its context.
 */
#include <string.h>

#include "conn_private.h"

/* ---- Compression ------------------------------------------------------ */

/* Queue a whole data message compressed if that makes it smaller:
 * returns 1 when it was queued, 0 when it should go as it is, or an
 * error. */
static int send_deflated(struct wsp_conn *c, int opcode, const uint8_t *data,
                         size_t len) {
  struct wsp__conncfg *cfg = c->cfg;
  struct wsp__zs **pz;
  uint8_t *out;
  size_t n;
  int r;
  if (!c->z_on || len < cfg->deflate[WSP_DEFLATE_MIN_SIZE] || len < 16)
    return 0;
  pz = c->z_tx_reset ? &cfg->zshared : wsp__deflate_slot(&c->z, &cfg->mem, 1);
  if (!pz)
    return WSP_ERR_NOMEM;
  out = wsp__malloc(&cfg->mem, len);
  if (!out)
    return WSP_ERR_NOMEM;
  r = wsp__deflate_compress(pz, &cfg->mem, cfg->deflate, c->z_tx_bits,
                            c->z_tx_reset, data, len, out, len, &n);
  if (r == 1) {
    r = wsp__conn_write_frame(c, 1, opcode | WSP__RSV1, out, n, 0);
    r = r == 0 ? 1 : r;
  }
  wsp__free(&cfg->mem, out);
  return r;
}

/* ---- Public API: output ----------------------------------------------- */

static int send_checked(struct wsp_conn *c, int fin, int opcode,
                        const void *data, size_t len) {
  int control = opcode & 0x8, rv;
  if (len && !data)
    return WSP_ERR_INVAL;
  if (c->state != WSP_STATE_OPEN)
    return c->state == WSP_STATE_CLOSING || c->state == WSP_STATE_CLOSED
               ? WSP_ERR_CLOSED
               : WSP_ERR_STATE;
  if (control && len > WSP__CTL_MAX)
    return WSP_ERR_INVAL;
  wsp__conn_enter(c);
  /* A message streamed in fragments goes uncompressed. */
  rv = fin && !control && !c->tx_in_msg && opcode != WSP_OP_CONTINUATION
           ? send_deflated(c, opcode, data, len)
           : 0;
  if (rv == 0)
    rv = wsp__conn_write_frame(c, fin, opcode, data, len, 0);
  else if (rv == 1)
    rv = 0;
  wsp__conn_leave(c);
  return rv;
}

int wsp_conn_send(struct wsp_conn *c, int opcode, const void *data,
                  size_t len) {
  if (!c || (opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY &&
             opcode != WSP_OP_PING && opcode != WSP_OP_PONG))
    return WSP_ERR_INVAL;
  if (c->tx_in_msg && !(opcode & 0x8))
    return WSP_ERR_STATE; /* a fragmented message is being streamed */
  return send_checked(c, 1, opcode, data, len);
}

int wsp_conn_send_fragment(struct wsp_conn *c, int opcode, const void *data,
                           size_t len, int fin) {
  int rv;
  if (!c)
    return WSP_ERR_INVAL;
  if (c->tx_in_msg ? opcode != WSP_OP_CONTINUATION
                   : (opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY))
    return c->tx_in_msg || opcode == WSP_OP_CONTINUATION ? WSP_ERR_STATE
                                                         : WSP_ERR_INVAL;
  rv = send_checked(c, fin != 0, opcode, data, len);
  if (rv == 0)
    c->tx_in_msg = !fin;
  return rv;
}

/* ---- Shared frames ---------------------------------------------------- */

int wsp_frame_new(struct wsp_frame **pf, const struct wsp_mem *mem, int opcode,
                  const void *data, size_t len) {
  struct wsp_mem m;
  struct wsp_frame *f;
  size_t hlen = len < 126 ? 2 : len <= 0xffff ? 4 : 10, i;
  uint8_t *p;
  if (pf)
    *pf = NULL;
  if (!pf || (len && !data) ||
      (opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY &&
       opcode != WSP_OP_PING && opcode != WSP_OP_PONG) ||
      ((opcode & 0x8) && len > WSP__CTL_MAX) || len > SIZE_MAX / 2)
    return WSP_ERR_INVAL;
  *pf = NULL;
  wsp__mem_init(&m, mem);
  f = wsp__outq_buf_new(&m, hlen + len);
  if (!f)
    return WSP_ERR_NOMEM;
  p = f->data;
  p[0] = (uint8_t)(0x80 | opcode);
  if (hlen == 2) {
    p[1] = (uint8_t)len;
  } else if (hlen == 4) {
    p[1] = 126;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
  } else {
    p[1] = 127;
    for (i = 0; i < 8; i++)
      p[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  if (len)
    memcpy(p + hlen, data, len);
  f->len = hlen + len;
  *pf = f;
  return 0;
}

struct wsp_frame *wsp_frame_ref(struct wsp_frame *f) {
  if (f)
    f->refs++;
  return f;
}

void wsp_frame_unref(struct wsp_frame *f) { wsp__outq_buf_unref(f); }

size_t wsp_frame_size(const struct wsp_frame *f) { return f ? f->len : 0; }

int wsp_conn_send_frame(struct wsp_conn *c, struct wsp_frame *f) {
  size_t before;
  int rv;
  if (!c || !f || c->role != WSP_ROLE_SERVER)
    return WSP_ERR_INVAL;
  if (c->state != WSP_STATE_OPEN)
    return c->state == WSP_STATE_CLOSING || c->state == WSP_STATE_CLOSED
               ? WSP_ERR_CLOSED
               : WSP_ERR_STATE;
  if (c->tx_in_msg)
    return WSP_ERR_STATE; /* a fragmented message is being streamed */
  if (c->z_on && !(f->data[0] & 0x08)) {
    /* The compressed variant, made once for all the connections that
     * reset their compressor; or this connection's own compression. */
    struct wsp_frame *v = NULL;
    if (c->z_tx_reset) {
      v = wsp__deflate_frame(f, &c->cfg->zshared, &c->cfg->mem, c->cfg->deflate,
                             c->z_tx_bits, &rv);
      if (rv != 0)
        return rv;
    }
    if (v) {
      f = v;
    } else {
      uint8_t l7 = f->data[1] & 0x7f;
      size_t hlen = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
      if (c->out.bytes + f->len > c->cfg->limits[WSP_LIMIT_MAX_QUEUED])
        return WSP_ERR_QUEUE_FULL;
      wsp__conn_enter(c);
      rv = send_deflated(c, f->data[0] & 0x0f, f->data + hlen, f->len - hlen);
      wsp__conn_leave(c);
      if (rv != 0)
        return rv < 0 ? rv : 0;
    }
  }
  if (c->out.bytes + f->len > c->cfg->limits[WSP_LIMIT_MAX_QUEUED])
    return WSP_ERR_QUEUE_FULL;
  before = c->out.bytes;
  rv = wsp__outq_append_buf(&c->out, &c->cfg->mem, f);
  if (rv != 0)
    return rv;
  wsp__conn_enter(c);
  wsp__conn_appended(c, before);
  wsp__conn_leave(c);
  return 0;
}
