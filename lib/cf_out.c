/*
 * The default wire protocol's output (Centrifuge client protocol v2 in
 * JSON, see wsp-protocol(7)): the only place that writes its bytes. A
 * line is one reply or push; lines written while a message is handled
 * are collected in the client's batch and leave as one WebSocket
 * message. Payloads (data) are spliced into the output as the bytes
 * received.
 */
#include <string.h>

#include "server_private.h"

static const char *error_text(uint32_t code) {
  const char *text = wsp_proto_error_message((int)code);
  return text ? text : "error";
}

struct wsp__jbuf *wsp__cf_out_line_begin(struct wsp_client *cl) {
  if (cl->batch.len)
    WSP__JBUF_LIT(&cl->batch, "\n");
  return &cl->batch;
}

void wsp__cf_out_line_end(struct wsp_client *cl) {
  if (!cl->batching)
    wsp__cf_out_flush(cl);
}

void wsp__cf_out_flush(struct wsp_client *cl) {
  struct wsp_server *s = cl->srv;
  int rv, err = cl->batch.err;
  if (cl->batch.len == 0 && !err)
    return;
  rv =
      err ? err
          : wsp_conn_send(cl->conn, WSP_OP_TEXT, cl->batch.data, cl->batch.len);
  /* An idle connection keeps no batch memory. */
  wsp__jbuf_free(&cl->batch);
  if (rv == 0) {
    s->stats.messages_out++;
  } else if (rv == WSP_ERR_QUEUE_FULL) {
    s->stats.errors_limit++;
    s->stats.slow_closes++;
    wsp__cf_out_close(cl, WSP_PROTO_DISCONNECT_SLOW, "slow");
  } else if (rv == WSP_ERR_NOMEM) {
    wsp__cf_out_close(cl, WSP_PROTO_DISCONNECT_SERVER_ERROR,
                      "internal server error");
  }
}

int wsp__cf_out_close(struct wsp_client *cl, int code, const char *reason) {
  size_t n = reason ? strlen(reason) : 0;
  int batching = cl->batching, rv;
  if (code < 1000 || code > 4999 || (code > 1011 && code < 3000))
    return WSP_ERR_INVAL;
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return WSP_ERR_CLOSED;
  /* A close reason holds 123 bytes: cut on a character boundary. */
  if (n > 123) {
    n = 123;
    while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
      n--;
  }
  /* What the client is owed leaves before the close frame. */
  cl->batching = 0;
  wsp__cf_out_flush(cl);
  cl->batching = (uint8_t)batching;
  if (wsp_conn_get_state(cl->conn) != WSP_STATE_OPEN)
    return 0; /* the flush itself closed it */
  rv = wsp_conn_close(cl->conn, code, reason, n);
  if (rv == 0) {
    cl->stale_due = cl->ping_due = cl->pong_due = WSP_NO_DEADLINE;
    cl->awaiting_pong = 0;
  }
  return rv;
}

void wsp__cf_out_error(struct wsp_client *cl, uint32_t id, uint32_t code,
                       const char *message, int temporary) {
  struct wsp__jbuf *jb = wsp__cf_out_line_begin(cl);
  WSP__JBUF_LIT(jb, "{\"id\":");
  wsp__jbuf_u64(jb, id);
  WSP__JBUF_LIT(jb, ",\"error\":{\"code\":");
  wsp__jbuf_u64(jb, code);
  WSP__JBUF_LIT(jb, ",\"message\":");
  wsp__jbuf_str(jb, message ? message : error_text(code),
                strlen(message ? message : error_text(code)));
  if (temporary)
    WSP__JBUF_LIT(jb, ",\"temporary\":true");
  WSP__JBUF_LIT(jb, "}}");
  wsp__cf_out_line_end(cl);
}
