/*
 * One client through the hub, in memory (see roundtrip.h): a wsp_server
 * and a client-role wsp_conn, their bytes copied across by hand.
 */
#include "roundtrip.h"

#include <stdio.h>
#include <string.h>

#include <wsp.h>

#define CONNECT "{\"id\":1,\"connect\":{}}"

struct peer {
  struct wsp_client *sc;
  struct wsp_conn *cc;
  char reply[256];
  size_t nreply;
  int nmessages;
};

static void on_message(struct wsp_conn *conn, int opcode, const uint8_t *data,
                       size_t len, void *user_data) {
  struct peer *p = user_data;
  (void)conn;
  (void)opcode;
  p->nmessages++;
  if (len > sizeof(p->reply))
    len = sizeof(p->reply);
  memcpy(p->reply, data, len);
  p->nreply = len;
}

/* Copy output both ways until neither side has any, one buffer at a
 * time: the others are valid only until the next _sent(). */
static void pump(struct peer *p) {
  struct iovec iov;
  int moved;
  do {
    moved = 0;
    if (wsp_conn_pending(p->cc, &iov, 1) == 1) {
      wsp_client_recv(p->sc, iov.iov_base, iov.iov_len);
      wsp_conn_sent(p->cc, iov.iov_len);
      moved = 1;
    }
    if (wsp_client_pending(p->sc, &iov, 1) == 1) {
      wsp_conn_recv(p->cc, iov.iov_base, iov.iov_len);
      wsp_client_sent(p->sc, iov.iov_len);
      moved = 1;
    }
  } while (moved);
}

int roundtrip_run(char *msg, size_t cap) {
  struct wsp_server_callbacks scb;
  struct wsp_conn_callbacks ccb;
  struct wsp_server *srv = NULL;
  struct peer p;
  char want[160];
  int rv = -1;

  if (wsp_version() != WSP_VERSION_HEX ||
      strcmp(wsp_version_string(), WSP_VERSION_STRING) != 0) {
    snprintf(msg, cap, "header %s but library %s", WSP_VERSION_STRING,
             wsp_version_string());
    return -1;
  }
  memset(&p, 0, sizeof(p));
  memset(&scb, 0, sizeof(scb));
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = on_message;
  if (wsp_server_new(&srv, &scb, NULL, 0, NULL) != 0 ||
      wsp_server_accept(srv, NULL, &p.sc) != 0 ||
      wsp_conn_new(&p.cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, &p) != 0 ||
      wsp_conn_client_start(p.cc, "example", "/connection/websocket", NULL) !=
          0) {
    snprintf(msg, cap, "could not set up a server and a client");
    goto out;
  }
  pump(&p);
  if (wsp_conn_get_state(p.cc) != WSP_STATE_OPEN) {
    snprintf(msg, cap, "no WebSocket after the handshake");
    goto out;
  }
  if (wsp_conn_send(p.cc, WSP_OP_TEXT, CONNECT, sizeof(CONNECT) - 1) != 0) {
    snprintf(msg, cap, "could not send the connect command");
    goto out;
  }
  pump(&p);
  snprintf(want, sizeof(want),
           "{\"id\":1,\"connect\":{\"client\":\"%s\",\"version\":\"%s\","
           "\"ping\":25,\"pong\":true}}",
           wsp_client_get_id(p.sc), WSP_VERSION_STRING);
  if (p.nmessages != 1 || p.nreply != strlen(want) ||
      memcmp(p.reply, want, p.nreply) != 0) {
    snprintf(msg, cap, "%d replies, the last \"%.*s\", expected \"%s\"",
             p.nmessages, (int)p.nreply, p.reply, want);
    goto out;
  }
  snprintf(msg, cap, "libwsp %s: connect ok", wsp_version_string());
  rv = 0;
out:
  wsp_client_free(p.sc);
  wsp_conn_free(p.cc);
  wsp_server_free(srv);
  return rv;
}
