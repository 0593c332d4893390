/*
 * Telling the other nodes: a call that acts on users or sessions of the
 * whole hub (disconnect a user or a session, subscribe or unsubscribe a
 * user, push a message) does its part on this node, then, with an engine
 * (lib/redis), sends the same order to every other node, which does its
 * part when the engine brings the order back (wsp__hub_control(), in
 * hub.c). An order is one line of bytes:
 *   KIND CODE ALEN:A B
 * with KIND a letter (WSP__CTL_*), CODE a decimal number, A a string of
 * ALEN bytes (a user or session id) and B the rest (a reason, a channel,
 * a message).
 */
#include <stdio.h>
#include <string.h>

#include "hub_private.h"

void wsp__ctl_send(struct wsp_server *s, int kind, int code, const char *a,
                   const char *b, size_t blen) {
  char head[48];
  size_t alen = a ? strlen(a) : 0, hl;
  char *msg;
  if (!s->engine || !s->engine->control)
    return;
  hl = (size_t)snprintf(head, sizeof(head), "%c %d %zu:", kind, code, alen);
  msg = wsp__malloc(&s->mem, hl + alen + blen);
  if (!msg)
    return; /* the other nodes do not hear of it: as with a lost link */
  memcpy(msg, head, hl);
  if (alen)
    memcpy(msg + hl, a, alen);
  if (blen)
    memcpy(msg + hl + alen, b, blen);
  (void)s->engine->control(s->engine->data, msg, hl + alen + blen);
  wsp__free(&s->mem, msg);
}
