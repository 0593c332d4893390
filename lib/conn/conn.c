/*
 * wsp_conn: one WebSocket connection over wslay's event API, with the I/O
 * turned inside out. Input is walked by a small header parser (struct
 * wsp__rx, in conn_rx.c) before wslay sees it: that parser enforces the
 * frame-level rules with exact close codes and knows where messages end,
 * so a connection at a message boundary holds no wslay context at all.
 * Output frames are written straight into the connection's output queue;
 * wslay's own output (automatic pongs, close replies, its close frames on
 * UTF-8 and close-code errors) reaches the same queue through its send
 * callback, so order is kept frame by frame.
 */
#include <string.h>

#include "conn_private.h"

/* ---- Small helpers ---------------------------------------------------- */

uint64_t wsp__conn_now(const struct wsp_conn *c) {
  return c->cfg->cb.now ? c->cfg->cb.now(c->user_data) : c->now;
}

/* ---- Shared configuration (made in config.c) --------------------------- */

void wsp__conn_cfg_unref(struct wsp__conncfg *cfg) {
  if (--cfg->refs == 0) {
    struct wsp_mem m = cfg->mem;
    wsp__deflate_end(&cfg->zshared);
    if (!cfg->embedded)
      wsp__free(&m, cfg);
  }
}

void wsp__conn_free_hs(struct wsp_conn *c) {
  struct wsp__hs *hs = c->hs;
  if (!hs)
    return;
  wsp__free(&c->cfg->mem, hs->buf);
  wsp__free(&c->cfg->mem, hs->pend);
  wsp__free(&c->cfg->mem, hs->extra);
  wsp__free(&c->cfg->mem, hs->offered);
  wsp__free(&c->cfg->mem, hs);
  c->hs = NULL;
}

static void really_free(struct wsp_conn *c) {
  if (c->ws)
    wslay_event_context_free(c->ws);
  wsp__conn_free_hs(c);
  wsp__outq_clear(&c->out, &c->cfg->mem);
  wsp__free(&c->cfg->mem, c->msg);
  wsp__free(&c->cfg->mem, c->protocol);
  wsp__free(&c->cfg->mem, c->rnd);
  wsp__deflate_drop(&c->z, &c->cfg->mem, -1);
  {
    struct wsp_mem mem = c->cfg->mem;
    wsp__conn_cfg_unref(c->cfg);
    wsp__free(&mem, c);
  }
}

void wsp__conn_enter(struct wsp_conn *c) { c->depth++; }

void wsp__conn_trim(struct wsp_conn *c) {
  wsp__outq_trim(&c->out, &c->cfg->mem);
  /* A compressor no other connection shares goes with the queue's memory,
   * so that an idle connection made alone does not keep one. */
  if (c->cfg->refs == 1 && c->out.count == 0)
    wsp__deflate_end(&c->cfg->zshared);
}

void wsp__conn_leave(struct wsp_conn *c) {
  if (--c->depth == 0 && c->free_pending)
    really_free(c);
}

/* Strict UTF-8 (RFC 3629): no overlongs, surrogates or code points above
 * U+10FFFF. Used for outgoing close reasons. */
static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    size_t k;
    uint32_t cp;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      k = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      k = 2;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      k = 3;
      cp = b & 0x07;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    i += k + 1;
  }
  return 1;
}

static int close_code_sendable(int code) {
  /* The codes a peer's wslay accepts: 1012-1014 would be refused. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

/* ---- Output ----------------------------------------------------------- */

void wsp__conn_appended(struct wsp_conn *c, size_t before) {
  if (before == 0 && c->out.bytes > 0 && c->cfg->cb.on_want_write &&
      WSP__LIVE(c))
    c->cfg->cb.on_want_write(c, c->user_data);
  if (!c->bp_above && c->out.bytes >= c->cfg->limits[WSP_LIMIT_HIGH_WATER] &&
      c->cfg->limits[WSP_LIMIT_HIGH_WATER]) {
    c->bp_above = 1;
    if (c->cfg->cb.on_backpressure && WSP__LIVE(c))
      c->cfg->cb.on_backpressure(c, 1, c->user_data);
  }
}

int wsp__conn_queue(struct wsp_conn *c, const void *data, size_t len) {
  size_t before = c->out.bytes;
  int rv = wsp__outq_append(&c->out, &c->cfg->mem, data, len);
  if (rv == 0)
    wsp__conn_appended(c, before);
  return rv;
}

#define RND_POOL 256

/* Masking keys (RFC 6455 section 5.3) come from wsp__random(), fetched
 * 256 bytes at a time rather than one system call per frame. */
static int mask_key(struct wsp_conn *c, uint8_t key[4]) {
  if (!c->rnd) {
    c->rnd = wsp__malloc(&c->cfg->mem, RND_POOL);
    if (!c->rnd)
      return WSP_ERR_NOMEM;
    c->rnd_pos = 0;
  }
  if (c->rnd_pos == 0 && wsp__random(&c->cfg->mem, c->rnd, RND_POOL) != 0)
    return WSP_ERR_RANDOM;
  memcpy(key, c->rnd + c->rnd_pos, 4);
  c->rnd_pos = (uint8_t)((c->rnd_pos + 4) % RND_POOL);
  return 0;
}

/* Queue one frame. Control frames (close, pong, ping) ignore the cap so
 * that a close or a keepalive always gets out. */
int wsp__conn_write_frame(struct wsp_conn *c, int fin, int opcode,
                          const uint8_t *data, size_t len, int control) {
  uint8_t hdr[14], key[4];
  size_t hlen = 2, before = c->out.bytes, i;
  int client = c->role == WSP_ROLE_CLIENT;
  uint8_t *p;

  hdr[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
  if (len < 126) {
    hdr[1] = (uint8_t)len;
  } else if (len <= 0xffff) {
    hdr[1] = 126;
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
    hlen = 4;
  } else {
    hdr[1] = 127;
    for (i = 0; i < 8; i++)
      hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    hlen = 10;
  }
  if (client) {
    int rv = mask_key(c, key);
    if (rv != 0)
      return rv;
    hdr[1] |= 0x80;
    memcpy(hdr + hlen, key, 4);
    hlen += 4;
  }
  if (!control &&
      c->out.bytes + hlen + len > c->cfg->limits[WSP_LIMIT_MAX_QUEUED])
    return WSP_ERR_QUEUE_FULL;
  p = wsp__outq_reserve(&c->out, &c->cfg->mem, hlen + len);
  if (!p)
    return WSP_ERR_NOMEM;
  memcpy(p, hdr, hlen);
  if (client) {
    for (i = 0; i < len; i++)
      p[hlen + i] = data[i] ^ key[i & 3];
  } else if (len) {
    memcpy(p + hlen, data, len);
  }
  wsp__conn_appended(c, before);
  return 0;
}

/* ---- wslay glue ------------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ws, uint8_t *buf, size_t len,
                          int flags, void *ud) {
  struct wsp_conn *c = ud;
  size_t n = 0, k;
  (void)flags;
  /* A header held back from the previous input goes first. Fill as much
   * as possible: wslay stops reading after a short read. */
  k = WSP__MIN(len, c->io->pre_len);
  if (k) {
    memcpy(buf, c->io->pre_p, k);
    c->io->pre_p += k;
    c->io->pre_len -= k;
    n = k;
  }
  k = WSP__MIN(len - n, c->io->in_len);
  if (k) {
    memcpy(buf + n, c->io->in_p, k);
    c->io->in_p += k;
    c->io->in_len -= k;
    n += k;
  }
  if (n == 0) {
    wslay_event_set_error(ws, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ws, const uint8_t *data,
                          size_t len, int flags, void *ud) {
  struct wsp_conn *c = ud;
  (void)flags;
  /* After the library wrote its own close frame nothing else may follow,
   * not even wslay's reply to the peer's close. */
  if (c->own_close)
    return (ssize_t)len;
  if (wsp__conn_queue(c, data, len) != 0) {
    c->nomem = 1;
    wslay_event_set_error(ws, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ws, uint8_t *buf, size_t len,
                         void *ud) {
  struct wsp_conn *c = ud;
  (void)ws;
  return wsp__random(&c->cfg->mem, buf, len) == 0 ? 0 : -1;
}

static int msg_reserve(struct wsp_conn *c, size_t need) {
  size_t cap;
  uint8_t *p;
  if (need <= c->msg_cap)
    return 0;
  cap = c->msg_cap ? c->msg_cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > c->cfg->limits[WSP_LIMIT_MAX_MESSAGE] &&
      need <= c->cfg->limits[WSP_LIMIT_MAX_MESSAGE])
    cap = (size_t)c->cfg->limits[WSP_LIMIT_MAX_MESSAGE];
  p = wsp__realloc(&c->cfg->mem, c->msg, cap);
  if (!p)
    return WSP_ERR_NOMEM;
  c->msg = p;
  c->msg_cap = cap;
  return 0;
}

/* Fail the connection from inside wslay's callbacks, as an application
 * closing from on_message would: input after this is only drained. */
static void fail_inside(struct wsp_conn *c, int error, int code) {
  if (error == WSP_ERR_NOMEM) {
    c->nomem = 1;
    return;
  }
  if (c->state == WSP_STATE_OPEN &&
      wsp__conn_send_close(c, error, code, NULL, 0) != 0)
    c->nomem = 1;
}

/* permessage-deflate: inflate n bytes of a compressed message into the
 * reassembly buffer, which grows up to WSP_LIMIT_MAX_MESSAGE: a message
 * that inflates to more fails with 1009, however small it came. */
static void inflate_chunk(struct wsp_conn *c, const uint8_t *p, size_t n) {
  size_t max = (size_t)c->cfg->limits[WSP_LIMIT_MAX_MESSAGE];
  /* A larger window than the peer's always works; zlib's deflate has
   * no 256-byte window, its smallest is 512. */
  int bits = c->z_rx_bits < 9 ? 9 : c->z_rx_bits, rv = 0;
  struct wsp__zs **zin = wsp__deflate_slot(&c->z, &c->cfg->mem, 0);
  if (!zin)
    rv = WSP_ERR_NOMEM;
  while (zin) {
    uint8_t probe;
    uint8_t *out = c->msg ? c->msg + c->msg_len : NULL;
    size_t room = c->msg_cap - c->msg_len, produced, before = n;
    if (c->msg_len >= max) {
      out = &probe; /* full: any more output is too much */
      room = 1;
    } else if (room == 0) {
      size_t grow = WSP__MIN(max - c->msg_len, WSP__MAX(c->msg_len, 1024));
      if (msg_reserve(c, c->msg_len + grow) != 0) {
        rv = WSP_ERR_NOMEM;
        break;
      }
      continue;
    }
    rv = wsp__deflate_inflate(zin, &c->cfg->mem, bits, &p, &n, out, room,
                              &produced);
    if (rv != 0)
      break;
    if (out == &probe) {
      if (produced) {
        rv = WSP_ERR_TOO_BIG;
        break;
      }
    } else {
      c->msg_len += produced;
    }
    if ((n == 0 && produced < room) || (produced == 0 && n == before))
      break;
  }
  if (rv == WSP_ERR_TOO_BIG)
    fail_inside(c, rv, WSP_CLOSE_TOO_BIG);
  else if (rv != 0)
    fail_inside(c, rv, WSP_CLOSE_INVALID_PAYLOAD);
}

static void
ws_frame_start_cb(wslay_event_context_ptr ws,
                  const struct wslay_event_on_frame_recv_start_arg *a,
                  void *ud) {
  struct wsp_conn *c = ud;
  (void)ws;
  c->rx_data = !(a->opcode & 0x8);
  c->io->plen = a->payload_length;
  if (c->rx_data && a->opcode != WSLAY_CONTINUATION_FRAME)
    c->rx_z = (a->rsv & WSLAY_RSV1_BIT) != 0;
  c->rx_direct =
      c->rx_data && a->fin && a->opcode != WSLAY_CONTINUATION_FRAME && !c->rx_z;
}

static void
ws_frame_chunk_cb(wslay_event_context_ptr ws,
                  const struct wslay_event_on_frame_recv_chunk_arg *a,
                  void *ud) {
  struct wsp_conn *c = ud;
  (void)ws;
  if (!c->rx_data || c->nomem || a->data_length == 0)
    return;
  if (c->rx_z) {
    if (c->state == WSP_STATE_OPEN)
      inflate_chunk(c, a->data, a->data_length);
    return;
  }
  if (c->rx_direct && c->msg_len == 0 && a->data_length == c->io->plen) {
    /* The whole message is in this chunk: hand it over in place. */
    c->io->direct = a->data;
    c->io->direct_len = a->data_length;
    return;
  }
  if (msg_reserve(c, c->msg_len + a->data_length) != 0) {
    c->nomem = 1;
    return;
  }
  memcpy(c->msg + c->msg_len, a->data, a->data_length);
  c->msg_len += a->data_length;
}

static void ws_msg_cb(wslay_event_context_ptr ws,
                      const struct wslay_event_on_msg_recv_arg *a, void *ud) {
  struct wsp_conn *c = ud;
  switch (a->opcode) {
  case WSLAY_TEXT_FRAME:
  case WSLAY_BINARY_FRAME: {
    const uint8_t *data = c->io->direct ? c->io->direct : c->msg;
    size_t len;
    if (c->rx_z && c->state == WSP_STATE_OPEN && !c->nomem) {
      /* RFC 7692 section 7.2.2: the tail the sender took off. */
      inflate_chunk(c, (const uint8_t *)"\x00\x00\xff\xff", 4);
      data = c->msg;
      if (c->state == WSP_STATE_OPEN && a->opcode == WSLAY_TEXT_FRAME &&
          !utf8_valid(c->msg, c->msg_len))
        fail_inside(c, WSP_ERR_BAD_UTF8, WSP_CLOSE_INVALID_PAYLOAD);
      if (c->z_rx_reset && c->z)
        wsp__deflate_reset(c->z->in);
    }
    len = c->io->direct ? c->io->direct_len : c->msg_len;
    c->rx_z = 0;
    if (!c->nomem && c->state == WSP_STATE_OPEN && c->cfg->cb.on_message &&
        WSP__LIVE(c))
      c->cfg->cb.on_message(c, a->opcode, data ? data : (const uint8_t *)"",
                            len, c->user_data);
    c->io->direct = NULL;
    c->msg_len = 0;
    break;
  }
  case WSLAY_PONG:
    c->pong_due = WSP_NO_DEADLINE;
    /* fall through */
  case WSLAY_PING:
    /* wslay queued the pong before this callback: send it now, so that it
     * leaves ahead of replies to messages that follow the ping. */
    if (a->opcode == WSLAY_PING && wslay_event_send(ws) != 0)
      c->nomem = 1;
    if (c->state == WSP_STATE_OPEN && c->cfg->cb.on_control && WSP__LIVE(c))
      c->cfg->cb.on_control(c, a->opcode, a->msg ? a->msg : (const uint8_t *)"",
                            a->msg_length, c->user_data);
    break;
  case WSLAY_CONNECTION_CLOSE: {
    int code = a->status_code ? a->status_code : WSP_CLOSE_NO_STATUS;
    const uint8_t *reason = a->msg_length > 2 ? a->msg + 2 : NULL;
    size_t rlen = a->msg_length > 2 ? a->msg_length - 2 : 0;
    if (c->state == WSP_STATE_OPEN)
      c->code_sent = (uint16_t)code; /* wslay echoes the peer's code */
    wsp__conn_finish(c, 0, code, reason, rlen);
    break;
  }
  default:
    break;
  }
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb,        ws_send_cb, ws_genmask_cb, ws_frame_start_cb,
    ws_frame_chunk_cb, NULL,       ws_msg_cb,
};

int wsp__conn_ws_create(struct wsp_conn *c) {
  int r = c->role == WSP_ROLE_SERVER
              ? wslay_event_context_server_init(&c->ws, &ws_callbacks, c)
              : wslay_event_context_client_init(&c->ws, &ws_callbacks, c);
  if (r != 0) {
    c->ws = NULL;
    return WSP_ERR_NOMEM;
  }
  /* libwsp reassembles messages itself and enforces the size limit in
   * the header walker, which sees the cumulative size. */
  wslay_event_config_set_no_buffering(c->ws, 1);
  wslay_event_config_set_max_recv_msg_length(c->ws, UINT64_MAX / 2);
  /* The header walker allows RSV1 only where RFC 7692 does. */
  if (c->z_on)
    wslay_event_config_set_allowed_rsv_bits(c->ws, WSLAY_RSV1_BIT);
  return 0;
}

void wsp__conn_ws_release(struct wsp_conn *c) {
  if (c->ws && !c->in_wslay) {
    wslay_event_context_free(c->ws);
    c->ws = NULL;
  }
  if (!c->in_wslay) {
    wsp__free(&c->cfg->mem, c->msg);
    c->msg = NULL;
    c->msg_cap = c->msg_len = 0;
    /* Between messages an inflater holds state only if the peer keeps
     * its compression context; after the end, never. */
    if (c->z_rx_reset || c->state != WSP_STATE_OPEN)
      wsp__deflate_drop(&c->z, &c->cfg->mem, 0);
    if (c->state != WSP_STATE_OPEN)
      wsp__deflate_drop(&c->z, &c->cfg->mem, 1);
  }
}

/* ---- State changes ---------------------------------------------------- */

int wsp__conn_open(struct wsp_conn *c) {
  uint64_t now = wsp__conn_now(c);
  c->state = WSP_STATE_OPEN;
  c->opened = 1;
  c->hs_due = WSP_NO_DEADLINE;
  c->ping_due =
      wsp__conn_due_after(now, c->cfg->limits[WSP_LIMIT_PING_INTERVAL]);
  c->pong_due = WSP_NO_DEADLINE;
  return 0;
}

void wsp__conn_finish(struct wsp_conn *c, int error, int code,
                      const uint8_t *reason, size_t reason_len) {
  if (c->state == WSP_STATE_CLOSED)
    return;
  c->state = WSP_STATE_CLOSED;
  if (error && !c->error)
    c->error = error;
  c->hs_due = c->ping_due = c->pong_due = c->close_due = WSP_NO_DEADLINE;
  if ((c->opened || c->role == WSP_ROLE_CLIENT) && !c->closed_cb) {
    c->closed_cb = 1;
    if (c->cfg->cb.on_close && WSP__LIVE(c))
      c->cfg->cb.on_close(c, code, reason, reason_len, c->user_data);
  }
  wsp__conn_ws_release(c);
}

/* After a close frame left: input is only scanned for the peer's close. */
void wsp__conn_enter_closing(struct wsp_conn *c, int error, int code) {
  if (error && !c->error)
    c->error = error;
  c->code_sent = (uint16_t)(code ? code : WSP_CLOSE_NO_STATUS);
  c->state = WSP_STATE_CLOSING;
  c->ping_due = c->pong_due = WSP_NO_DEADLINE;
  c->close_due = wsp__conn_due_after(wsp__conn_now(c),
                                     c->cfg->limits[WSP_LIMIT_CLOSE_TIMEOUT]);
  wsp__conn_ws_release(c);
}

/* Write a close frame of the library's own and start closing. */
int wsp__conn_send_close(struct wsp_conn *c, int error, int code,
                         const char *reason, size_t rlen) {
  uint8_t payload[WSP__CTL_MAX];
  size_t n = 0;
  int rv;
  if (code) {
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (rlen)
      memcpy(payload + 2, reason, rlen);
    n = 2 + rlen;
  }
  rv = wsp__conn_write_frame(c, 1, WSP_OP_CLOSE, payload, n, 1);
  if (rv != 0)
    return rv;
  c->own_close = 1;
  wsp__conn_enter_closing(c, error, code);
  return 0;
}

int wsp__conn_close_error(int code) {
  switch (code) {
  case WSP_CLOSE_TOO_BIG:
    return WSP_ERR_TOO_BIG;
  case WSP_CLOSE_INVALID_PAYLOAD:
    return WSP_ERR_BAD_UTF8;
  default:
    return WSP_ERR_PROTO;
  }
}

/* ---- Public API: freeing --------------------------------------------- */

void wsp_conn_free(struct wsp_conn *c) {
  if (!c)
    return;
  if (c->depth) {
    c->free_pending = 1;
    return;
  }
  really_free(c);
}

/* ---- Public API: closing and output ---------------------------------- */

int wsp_conn_close(struct wsp_conn *c, int code, const char *reason,
                   size_t reason_len) {
  int rv;
  if (!c || (code && !close_code_sendable(code)) || (!code && reason_len) ||
      reason_len > WSP__CTL_MAX - 2 || (reason_len && !reason) ||
      !utf8_valid((const uint8_t *)reason, reason_len))
    return WSP_ERR_INVAL;
  if (c->state != WSP_STATE_OPEN)
    return c->state == WSP_STATE_CLOSING || c->state == WSP_STATE_CLOSED
               ? WSP_ERR_CLOSED
               : WSP_ERR_STATE;
  wsp__conn_enter(c);
  rv = wsp__conn_send_close(c, 0, code, reason, reason_len);
  wsp__conn_leave(c);
  return rv;
}

int wsp_conn_pending(const struct wsp_conn *c, struct iovec *iov, int iovcnt) {
  if (!c || !iov || iovcnt <= 0)
    return 0;
  return wsp__outq_iov(&c->out, iov, iovcnt);
}

int wsp_conn_sent(struct wsp_conn *c, size_t n) {
  if (!c || n > c->out.bytes)
    return WSP_ERR_INVAL;
  if (c->depth)
    return WSP_ERR_RECURSIVE;
  wsp__outq_consume(&c->out, n);
  /* An emptied queue that had to grow keeps its memory for the next
   * burst, and gives it back at the first tick after the linger. One that
   * stayed within its inline slots (a handshake response, a reply) had
   * nothing worth keeping: holding its block for the linger would let a
   * storm of new connections hold a block each, and the heap, fragmented
   * by then, would not shrink back. A compressor of the connection's own
   * (permessage-deflate, not shared with others) lingers the same way:
   * made again for every message it would cost more than the message. */
  if (c->out.count == 0) {
    int own_z = c->cfg->zshared && c->cfg->refs == 1;
    if (c->cfg->limits[WSP_LIMIT_QUEUE_LINGER] == 0 ||
        (!wsp__outq_grew(&c->out) && !own_z && wsp__outq_holds_memory(&c->out)))
      wsp__conn_trim(c);
    else if (own_z || wsp__outq_holds_memory(&c->out))
      c->trim_due = wsp__conn_due_after(wsp__conn_now(c),
                                        c->cfg->limits[WSP_LIMIT_QUEUE_LINGER]);
  }
  if (c->bp_above && c->out.bytes < c->cfg->limits[WSP_LIMIT_HIGH_WATER] / 2) {
    c->bp_above = 0;
    if (c->cfg->cb.on_backpressure) {
      wsp__conn_enter(c);
      c->cfg->cb.on_backpressure(c, 0, c->user_data);
      wsp__conn_leave(c);
    }
  }
  return 0;
}

size_t wsp_conn_queued_bytes(const struct wsp_conn *c) {
  return c ? c->out.bytes : 0;
}

int wsp_conn_want_write(const struct wsp_conn *c) {
  return c && c->out.bytes > 0;
}

int wsp_conn_is_done(const struct wsp_conn *c) {
  return c && c->state == WSP_STATE_CLOSED && c->out.bytes == 0;
}
