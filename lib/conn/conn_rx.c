/*
 * The header walker: input is parsed frame header by frame header before
 * wslay sees it. It enforces RFC 6455 section 5 with exact close codes
 * (reserved bits and opcodes, control frame rules, minimal length
 * encoding, the message size limit), hands wslay one frame at a time and
 * knows where messages end, so that a connection between messages holds
 * no wslay context. After a failure it drains input looking only for the
 * peer's close frame.
 */
#include <string.h>

#include "conn_private.h"

static uint64_t rx_payload_len(const struct wsp__rx *rx) {
  uint8_t l7 = rx->hdr[1] & 0x7f;
  uint64_t v = 0;
  int i;
  if (l7 < 126)
    return l7;
  if (l7 == 126)
    return ((uint64_t)rx->hdr[2] << 8) | rx->hdr[3];
  for (i = 0; i < 8; i++)
    v = (v << 8) | rx->hdr[2 + i];
  return v;
}

/* A complete header is in rx->hdr. Set up the frame and check it against
 * RFC 6455 section 5; returns 0 or the close code to fail with. */
static int rx_header(struct wsp_conn *c) {
  struct wsp__rx *rx = &c->rx;
  uint8_t b0 = rx->hdr[0], b1 = rx->hdr[1];
  int op = b0 & 0x0f, control = op & 0x08;
  uint64_t plen;

  if ((b1 & 0x7f) == 127 && (rx->hdr[2] & 0x80)) {
    rx->blind = 1; /* no way to find the next frame */
    return WSP_CLOSE_PROTOCOL_ERROR;
  }
  plen = rx_payload_len(rx);
  rx->opcode = (uint8_t)op;
  rx->fin = b0 >> 7;
  rx->masked = b1 >> 7;
  if (rx->masked)
    memcpy(rx->mask, rx->hdr + rx->need - 4, 4);
  rx->remain = plen;
  rx->off = 0;

  /* RSV1 marks a compressed message once permessage-deflate is agreed
   * (RFC 7692 section 6): on its first frame only, never on a control
   * frame or a continuation. */
  if ((b0 & 0x70) && ((b0 & 0x70) != WSP__RSV1 || !c->z_on || control ||
                      op == WSP_OP_CONTINUATION))
    return WSP_CLOSE_PROTOCOL_ERROR;
  if (((b1 & 0x7f) == 126 && plen < 126) ||
      ((b1 & 0x7f) == 127 && plen <= 0xffff))
    return WSP_CLOSE_PROTOCOL_ERROR; /* length not in its minimal form */
  if ((op >= 3 && op <= 7) || op >= 11)
    return WSP_CLOSE_PROTOCOL_ERROR;
  if (rx->masked != (c->role == WSP_ROLE_SERVER))
    return WSP_CLOSE_PROTOCOL_ERROR;
  if (control) {
    if (!rx->fin || plen > WSP__CTL_MAX || (op == WSP_OP_CLOSE && plen == 1))
      return WSP_CLOSE_PROTOCOL_ERROR;
    return 0;
  }
  if (op == WSP_OP_CONTINUATION) {
    if (!rx->in_msg)
      return WSP_CLOSE_PROTOCOL_ERROR;
    rx->msg_size += plen;
  } else {
    if (rx->in_msg)
      return WSP_CLOSE_PROTOCOL_ERROR;
    rx->msg_size = plen;
  }
  if (rx->msg_size > c->cfg->limits[WSP_LIMIT_MAX_MESSAGE])
    return WSP_CLOSE_TOO_BIG;
  rx->in_msg = !rx->fin;
  return 0;
}

/* Drain mode: the end of a frame; a close frame ends the connection. */
static int rx_drain_frame_end(struct wsp_conn *c) {
  struct wsp__rx *rx = &c->rx;
  int code = WSP_CLOSE_NO_STATUS;
  const uint8_t *reason = NULL;
  size_t rlen = 0;
  if (rx->opcode != WSP_OP_CLOSE)
    return 0;
  if (rx->ctl_len >= 2 && c->msg) {
    code = (c->msg[0] << 8) | c->msg[1];
    reason = c->msg + 2;
    rlen = rx->ctl_len - 2u;
  }
  wsp__conn_finish(c, 0, code, reason, rlen);
  return 1;
}

/*
 * Walk len bytes of input. In check mode it stops at the first frame that
 * breaks a rule: *ok is where that frame starts in p (0 if it started in
 * an earlier call), *used where its header ends, and the close code is
 * returned. In drain mode nothing is checked; close payloads are captured
 * and the walk stops at the end of a close frame (returns -1).
 */
static int rx_walk(struct wsp_conn *c, const uint8_t *p, size_t len, int drain,
                   size_t *ok, size_t *used, size_t *close_at) {
  struct wsp__rx *rx = &c->rx;
  size_t i = 0, frame_start = SIZE_MAX;

  *close_at = SIZE_MAX;
  while (i < len) {
    if (rx->blind) {
      i = len;
      break;
    }
    if (rx->need == 0 || rx->hlen < rx->need) {
      if (rx->hlen == 0)
        frame_start = i;
      rx->hdr[rx->hlen++] = p[i++];
      if (rx->hlen == 2) {
        uint8_t l7 = rx->hdr[1] & 0x7f;
        rx->need = (uint8_t)(2 +
                             (l7 == 126   ? 2
                              : l7 == 127 ? 8
                                          : 0) +
                             ((rx->hdr[1] & 0x80) ? 4 : 0));
      }
      if (rx->hlen < 2 || rx->hlen < rx->need)
        continue;
      {
        int code = rx_header(c);
        if (code && !drain) {
          *ok = frame_start == SIZE_MAX ? 0 : frame_start;
          *used = i;
          return code;
        }
        if (rx->opcode == WSP_OP_CLOSE && *close_at == SIZE_MAX)
          *close_at = frame_start;
      }
      rx->ctl_len = 0;
      if (drain && rx->opcode == WSP_OP_CLOSE && !c->msg) {
        c->msg = wsp__malloc(&c->cfg->mem, WSP__CTL_MAX);
        c->msg_cap = c->msg ? WSP__CTL_MAX : 0;
        if (!c->msg) {
          c->nomem = 1;
          *ok = *used = i;
          return -1;
        }
      }
    } else {
      size_t take = (size_t)WSP__MIN((uint64_t)(len - i), rx->remain);
      if (drain && rx->opcode == WSP_OP_CLOSE && c->msg) {
        size_t j;
        for (j = 0; j < take && rx->off + j < WSP__CTL_MAX; j++)
          c->msg[rx->off + j] =
              p[i + j] ^ (rx->masked ? rx->mask[(rx->off + j) & 3] : 0);
        rx->ctl_len = (uint8_t)WSP__MIN(rx->off + take, (uint64_t)WSP__CTL_MAX);
      }
      i += take;
      rx->off += take;
      rx->remain -= take;
    }
    if (rx->remain == 0 && rx->need && rx->hlen == rx->need) {
      rx->hlen = rx->need = 0;
      if (drain && rx_drain_frame_end(c)) {
        *ok = *used = i;
        return -1;
      }
    }
  }
  *ok = *used = len;
  if (!drain && rx->hlen > 0 && (rx->need == 0 || rx->hlen < rx->need))
    *ok = frame_start == SIZE_MAX ? 0 : frame_start; /* held back */
  return 0;
}

static void maybe_release_ws(struct wsp_conn *c) {
  const struct wsp__rx *rx = &c->rx;
  if (c->ws && c->state == WSP_STATE_OPEN && rx->hlen == 0 && rx->remain == 0 &&
      !rx->in_msg && !wslay_event_want_write(c->ws))
    wsp__conn_ws_release(c);
}

static int drain(struct wsp_conn *c, const uint8_t *p, size_t len) {
  size_t ok, used, close_at;
  rx_walk(c, p, len, 1, &ok, &used, &close_at);
  if (c->nomem) {
    c->nomem = 0;
    wsp__conn_finish(c, WSP_ERR_NOMEM, WSP_CLOSE_ABNORMAL, NULL, 0);
    return WSP_ERR_NOMEM;
  }
  return 0;
}

int wsp__conn_rx_frames(struct wsp_conn *c, const uint8_t *p, size_t len) {
  size_t ok, used, close_at, nheld;
  uint8_t held[14];
  int code, rv = 0;

  if (c->state == WSP_STATE_CLOSING)
    return drain(c, p, len);
  if (c->state != WSP_STATE_OPEN)
    return 0;

  /* Header bytes held back from earlier input: wslay gets them only once
   * the walker has seen the whole header and found it good. */
  {
    const struct wsp__rx *rx = &c->rx;
    nheld =
        rx->hlen > 0 && (rx->need == 0 || rx->hlen < rx->need) ? rx->hlen : 0;
    memcpy(held, rx->hdr, nheld);
  }
  code = rx_walk(c, p, len, 0, &ok, &used, &close_at);
  if (nheld && ok == 0)
    nheld = 0; /* that header is bad, or still incomplete */
  if (ok > 0 || nheld > 0) {
    if (!c->ws && wsp__conn_ws_create(c) != 0) {
      wsp__conn_finish(c, WSP_ERR_NOMEM, WSP_CLOSE_ABNORMAL, NULL, 0);
      return WSP_ERR_NOMEM;
    }
    struct wsp__rxio io = {held, nheld, p, ok, NULL, 0, 0};
    c->io = &io;
    c->in_wslay = 1;
    rv = wslay_event_recv(c->ws);
    if (rv == 0 && !c->nomem)
      rv = wslay_event_send(c->ws);
    c->in_wslay = 0;
    c->io = NULL;
    if (c->nomem || rv != 0) {
      c->nomem = 0;
      wsp__outq_clear(&c->out, &c->cfg->mem);
      wsp__conn_finish(c, WSP_ERR_NOMEM, WSP_CLOSE_ABNORMAL, NULL, 0);
      return WSP_ERR_NOMEM;
    }
    if (c->state == WSP_STATE_CLOSED) {
      wsp__conn_ws_release(c);
      return c->error;
    }
    if (c->state == WSP_STATE_CLOSING) {
      /* The application closed from a callback, or a compressed message
       * failed (c->error); wslay has seen all of this input. */
      wsp__conn_ws_release(c);
      if (code == 0 || ok == len)
        return c->error;
      rv = drain(c, p + used, len - used);
      return rv ? rv : c->error;
    }
    if (!wslay_event_get_read_enabled(c->ws)) {
      /* wslay failed the connection (invalid UTF-8 or close code) and
       * queued its close frame; what follows is only drained. */
      int sent = wslay_event_get_status_code_sent(c->ws), d = 0;
      wsp__conn_enter_closing(c, wsp__conn_close_error(sent), sent);
      if (close_at != SIZE_MAX && close_at < ok) {
        /* The peer's close frame followed the bad frame in this input and
         * wslay never read it: walk again from that frame's start. */
        memset(&c->rx, 0, sizeof(c->rx));
        d = drain(c, p + close_at, len - close_at);
      } else if (ok < len) {
        d = drain(c, p + used, len - used);
      }
      return d ? d : wsp__conn_close_error(sent);
    }
  }
  if (code) {
    /* A malformed close frame is the peer's close all the same, and with
     * the framing lost no reply could be found: either way the connection
     * ends once this close frame is written. */
    int ended = c->rx.opcode == WSP_OP_CLOSE || c->rx.blind;
    c->rx.opcode = 0x0f; /* the bad frame is skipped, never taken for a
                            close reply */
    rv = wsp__conn_send_close(c, wsp__conn_close_error(code), code, NULL, 0);
    if (rv != 0) {
      wsp__conn_finish(c, rv, WSP_CLOSE_ABNORMAL, NULL, 0);
      return rv;
    }
    if (ended)
      wsp__conn_finish(c, 0, WSP_CLOSE_ABNORMAL, NULL, 0);
    else
      rv = drain(c, p + used, len - used);
    return rv ? rv : wsp__conn_close_error(code);
  }
  maybe_release_ws(c);
  return 0;
}
