/*
 * What drives a connection: input bytes (wsp_conn_recv) and time
 * (wsp_conn_tick). Both hand the connection to the layer its state
 * belongs to: the opening handshake (handshake.c) or the frame walker
 * (conn_rx.c), which both build on the connection's state and output
 * (conn.c).
 */
#include "conn_private.h"

int wsp_conn_recv(struct wsp_conn *c, const void *data, size_t len) {
  int rv = 0;
  if (!c || (len && !data))
    return WSP_ERR_INVAL;
  if (c->depth)
    return WSP_ERR_RECURSIVE;
  wsp__conn_enter(c);
  if (len == 0) {
    /* End of stream. */
    if (c->state != WSP_STATE_CLOSED) {
      wsp__conn_free_hs(c);
      wsp__conn_finish(c, c->state == WSP_STATE_CLOSING ? 0 : WSP_ERR_CLOSED,
                       WSP_CLOSE_ABNORMAL, NULL, 0);
    }
  } else {
    switch (c->state) {
    case WSP_STATE_HANDSHAKE:
    case WSP_STATE_DEFERRED:
      rv = wsp__hs_recv(c, data, len);
      break;
    case WSP_STATE_OPEN:
    case WSP_STATE_CLOSING:
      rv = wsp__conn_rx_frames(c, data, len);
      break;
    default:
      break;
    }
  }
  wsp__conn_leave(c);
  return rv;
}

int wsp_conn_want_read(const struct wsp_conn *c) {
  /* While the peer does not read its output (pongs included), stop
   * reading from it: memory stays bounded by the cap plus one read. */
  return c && c->state != WSP_STATE_CLOSED &&
         c->out.bytes <= c->cfg->limits[WSP_LIMIT_MAX_QUEUED];
}

/* ---- Public API: time ------------------------------------------------- */

int wsp_conn_tick(struct wsp_conn *c, uint64_t now) {
  int rv = 0;
  if (!c)
    return WSP_ERR_INVAL;
  if (c->depth)
    return WSP_ERR_RECURSIVE;
  wsp__conn_enter(c);
  c->now = now;
  if (now >= c->trim_due) {
    wsp__conn_trim(c);
    c->trim_due = WSP_NO_DEADLINE;
  }
  switch (c->state) {
  case WSP_STATE_HANDSHAKE:
  case WSP_STATE_DEFERRED:
    if (now >= c->hs_due) {
      wsp__hs_timeout(c);
      rv = WSP_ERR_TIMEOUT;
    }
    break;
  case WSP_STATE_OPEN:
    if (now >= c->pong_due) {
      /* The peer stopped answering: nothing more can reach it. */
      wsp__outq_clear(&c->out, &c->cfg->mem);
      wsp__conn_finish(c, WSP_ERR_TIMEOUT, WSP_CLOSE_ABNORMAL, NULL, 0);
      rv = WSP_ERR_TIMEOUT;
    } else if (now >= c->ping_due) {
      rv = wsp__conn_write_frame(c, 1, WSP_OP_PING, NULL, 0, 1);
      c->ping_due =
          wsp__conn_due_after(now, c->cfg->limits[WSP_LIMIT_PING_INTERVAL]);
      if (rv == 0 && c->pong_due == WSP_NO_DEADLINE)
        c->pong_due =
            wsp__conn_due_after(now, c->cfg->limits[WSP_LIMIT_PONG_TIMEOUT]);
    }
    break;
  case WSP_STATE_CLOSING:
    if (now >= c->close_due) {
      wsp__outq_clear(&c->out, &c->cfg->mem);
      wsp__conn_finish(c, WSP_ERR_TIMEOUT, WSP_CLOSE_ABNORMAL, NULL, 0);
      rv = WSP_ERR_TIMEOUT;
    }
    break;
  default:
    break;
  }
  wsp__conn_leave(c);
  return rv;
}

static uint64_t state_deadline(const struct wsp_conn *c) {
  switch (c->state) {
  case WSP_STATE_HANDSHAKE:
  case WSP_STATE_DEFERRED:
    return c->hs_due;
  case WSP_STATE_OPEN:
    return WSP__MIN(c->ping_due, c->pong_due);
  case WSP_STATE_CLOSING:
    return c->close_due;
  default:
    return WSP_NO_DEADLINE;
  }
}

uint64_t wsp_conn_next_deadline(const struct wsp_conn *c) {
  if (!c)
    return WSP_NO_DEADLINE;
  if (c->state == WSP_STATE_CLOSED)
    return WSP_NO_DEADLINE;
  return WSP__MIN(state_deadline(c), c->trim_due);
}
