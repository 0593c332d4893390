/*
 * hub: a complete hub on /connection/websocket (Centrifuge protocol, JSON).
 *   rpc "whoami"  answered at once: {"id":"<the caller's connection id>"}
 *   rpc "next"    answered later, at the next tick: {"n":N}
 *   send          comes back to its sender alone, as a message push
 *   "ticks"       channel: {"n":N} every TICK_MS, recoverable from history
 *   usage: hub [--listen HOST:PORT]  (port 0: a free one, printed)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <wsp/adapters/epoll.h> /* header-only: epoll, sockets, timers */

#define TICK_MS 200
#define MAX_WAITING 64

static uint64_t waiting[MAX_WAITING]; /* calls of "next" */
static size_t nwaiting;
static long long ticks; /* the last tick published */
static volatile sig_atomic_t stop;

static void whoami(struct wsp_client *client, uint64_t call, const char *method,
                   const uint8_t *data, size_t len, void *ud) {
  char out[64];
  int n =
      snprintf(out, sizeof out, "{\"id\":\"%s\"}", wsp_client_get_id(client));

  wsp_rpc_reply(wsp_client_get_server(client), call, out, (size_t)n);
}

static void next(struct wsp_client *client, uint64_t call, const char *method,
                 const uint8_t *data, size_t len, void *ud) {
  /* The handle is kept, not the client, which may be freed by then. */
  if (nwaiting == MAX_WAITING)
    wsp_rpc_error(wsp_client_get_server(client), call, 1000, "busy", 1);
  else
    waiting[nwaiting++] = call;
}

static void tick(struct wsp_server *server, uint64_t now, void *ud) {
  char ev[32];
  int n = snprintf(ev, sizeof ev, "{\"n\":%lld}", ticks + 1);

  /* Appended to the channel's history first, then pushed to every
   * subscriber with its offset; a tick the log refused did not happen. */
  if (wsp_server_publish(server, "ticks", ev, (size_t)n, NULL) < 0)
    return;
  ticks++;
  for (size_t i = 0; i < nwaiting; i++)
    wsp_rpc_reply(server, waiting[i], ev, (size_t)n);
  nwaiting = 0;
}

static void on_send(struct wsp_client *client, const uint8_t *data, size_t len,
                    void *ud) {
  wsp_client_push_message(client, data, len); /* a push to one client */
}

static void on_signal(int sig) { stop = 1; }

int main(int argc, char **argv) {
  struct wsp_server_callbacks cb = {.on_send = on_send};
  struct wsp_server_history h = {0};
  struct wsp_server *server;
  struct wsp_evlog *log;
  struct wsp_epoll *ep;
  const char *colon = argc == 3 ? strrchr(argv[2], ':') : NULL;
  char host[256] = "127.0.0.1";
  int port = argc == 1 ? 8002 : -1, rc;

  if (colon != NULL && strcmp(argv[1], "--listen") == 0) {
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[2]), argv[2]);
    port = atoi(colon + 1);
  }
  wsp_epoll_callbacks(&cb); /* the adapter's on_want_write and clock */
  if ((rc = wsp_evlog_new(&log, NULL, wsp_epoll_clock(0))) < 0 ||
      (rc = wsp_server_new(&server, &cb, NULL, wsp_epoll_clock(0), 0)) < 0 ||
      (rc = wsp_epoll_listen(server, host, port, &ep)) < 0) {
    fprintf(stderr, "usage: %s [--listen HOST:PORT]\n", argv[0]);
    return 2;
  }
  h.log = log;
  h.retention.max_events = 100; /* kept up to a minute; empty streams too */
  h.retention.max_age = h.retention.meta_ttl = 60000;
  wsp_server_set_history(server, &h);
  wsp_rpc_register(server, "whoami", whoami, NULL);
  wsp_rpc_register(server, "next", next, NULL);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("listening on %s:%d\n", host, wsp_epoll_get_port(ep));
  fflush(stdout);
  wsp_epoll_set_timer(ep, TICK_MS, tick, NULL);
  while ((rc = wsp_epoll_dispatch(ep, -1)) == 0) /* 1: shut down */
    if (stop) /* close every connection, waiting up to a second */
      wsp_epoll_shutdown(ep, WSP_PROTO_DISCONNECT_SHUTDOWN, "shutdown", 1000);
  wsp_epoll_free(ep); /* before the server: it frees the clients */
  wsp_server_free(server);
  wsp_evlog_free(log); /* after the server, which borrows it */
  return rc < 0;
}
