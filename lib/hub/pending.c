/*
 * The hub's pending requests: RPC calls and subscribes that wait for the
 * application. Each is an entry of the server's correlation table
 * (wsp_corr), so its handle is its id there: answering late, twice or
 * after the connection went finds no entry and is counted, never a
 * crash. An entry carries its completion function; the module that
 * started it (rpc.c, channels.c) writes the answer.
 */
#include <string.h>

#include "hub_private.h"

static void forget_call(struct wsp_client *cl, uint32_t id) {
  uint32_t i;
  for (i = 0; i < cl->ncalls; i++) {
    if (cl->calls[i] == id) {
      cl->calls[i] = cl->calls[--cl->ncalls];
      return;
    }
  }
}

static void call_done(struct wsp_corr *corr, uint32_t id, int status,
                      const void *data, size_t len, void *ud) {
  struct wsp__pending *p = ud;
  struct wsp_client *cl = p->cl;
  struct wsp_server *s = cl->srv;
  (void)corr;
  forget_call(cl, id);
  if (p->kind == PENDING_SUB)
    cl->nsubwait--;
  else if (p->kind != PENDING_SYNC)
    cl->nrpc--;
  /* Nobody is waiting for the answer of a cancelled request, nor of one
   * whose connection has gone. */
  if (status != WSP_ERR_CANCELLED && status != WSP_ERR_CLOSED && !cl->gone)
    p->done(p, status, data, len);
  wsp__free(&s->mem, p->channel);
  wsp__tags_free(&s->mem, p->filter);
  wsp__free(&s->mem, p);
}

int wsp__pending_start(struct wsp_client *cl, uint32_t cmd_id, int kind,
                       wsp__pending_done_fn *done, struct wsp__pending **pp,
                       uint32_t *id) {
  struct wsp_server *s = cl->srv;
  struct wsp__pending *pc;
  uint64_t timeout = s->limits[WSP_SERVER_RPC_TIMEOUT];
  uint64_t now = wsp__server_now(s);
  if (cl->ncalls == cl->capcalls) {
    uint32_t cap = cl->capcalls ? cl->capcalls * 2 : 4;
    uint32_t *c = wsp__realloc(&s->mem, cl->calls, cap * sizeof(*c));
    if (!c)
      return WSP_ERR_NOMEM;
    cl->calls = c;
    cl->capcalls = cap;
  }
  pc = wsp__malloc(&s->mem, sizeof(*pc));
  if (!pc)
    return WSP_ERR_NOMEM;
  memset(pc, 0, sizeof(*pc));
  pc->cl = cl;
  pc->done = done;
  pc->cmd_id = cmd_id;
  pc->kind = (uint8_t)kind;
  pc->started = now;
  if (wsp_corr_start(s->rpc, timeout ? now + timeout : WSP_NO_DEADLINE,
                     call_done, pc, id) != 0) {
    wsp__free(&s->mem, pc);
    return WSP_ERR_NOMEM;
  }
  cl->calls[cl->ncalls++] = *id;
  if (kind == PENDING_SUB)
    cl->nsubwait++;
  else if (kind != PENDING_SYNC)
    cl->nrpc++;
  *pp = pc;
  return 0;
}

void wsp__pending_client_gone(struct wsp_client *cl) {
  while (cl->ncalls > 0)
    if (wsp_corr_cancel(cl->srv->rpc, cl->calls[cl->ncalls - 1]) != 0)
      cl->ncalls--; /* not in the table: never loop on it */
}

int wsp__pending_server_start(struct wsp_server *s, wsp__pending_server_fn *fn,
                              void *ud, uint32_t *id) {
  uint64_t timeout = s->limits[WSP_SERVER_RPC_TIMEOUT];
  uint64_t now = wsp__server_now(s);
  return wsp_corr_start(s->rpc, timeout ? now + timeout : WSP_NO_DEADLINE, fn,
                        ud, id) != 0
             ? WSP_ERR_NOMEM
             : 0;
}
