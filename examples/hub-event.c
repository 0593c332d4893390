/*
 * hub-event: examples/hub.c's hub on a libevent base, through the adapter
 * <wsp/adapters/libevent.h> (header-only; link with libevent).
 *   rpc "whoami"  answered at once: {"id":"<the caller's connection id>"}
 *   rpc "next"    answered later, at the next tick: {"n":N}
 *   send          comes back to its sender alone, as a message push
 *   "ticks"       channel: {"n":N} every TICK_MS, recoverable from history
 *   usage: hub-event [--listen HOST:PORT]  (port 0: a free one, printed)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <wsp/adapters/libevent.h>

#define TICK_MS 200
#define MAX_WAITING 64

static uint64_t waiting[MAX_WAITING]; /* calls of "next" */
static size_t nwaiting;
static long long ticks; /* the last tick published */
static struct wsp_server *server;
static struct wsp_event *adapter;
static struct event *ticker, *sigint, *sigterm;

static void whoami(struct wsp_client *client, uint64_t call, const char *method,
                   const uint8_t *data, size_t len, void *ud) {
  char out[64];
  int n =
      snprintf(out, sizeof out, "{\"id\":\"%s\"}", wsp_client_get_id(client));

  wsp_rpc_reply(wsp_client_get_server(client), call, out, (size_t)n);
}

static void next(struct wsp_client *client, uint64_t call, const char *method,
                 const uint8_t *data, size_t len, void *ud) {
  if (nwaiting == MAX_WAITING)
    wsp_rpc_error(wsp_client_get_server(client), call, 1000, "busy", 1);
  else
    waiting[nwaiting++] = call; /* the handle, not the client */
}

/* A timer of the application's: what it queues, the adapter writes
 * before the loop sleeps again. */
static void tick(evutil_socket_t fd, short what, void *arg) {
  char ev[32];
  int n = snprintf(ev, sizeof ev, "{\"n\":%lld}", ticks + 1);

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

/* SIGINT, SIGTERM: close every connection with 3001, waiting up to a
 * second; the dispatch returns once the adapter and these events are done. */
static void on_signal(evutil_socket_t fd, short what, void *arg) {
  event_del(sigint);
  event_del(sigterm);
  event_del(ticker);
  wsp_event_shutdown(adapter, WSP_PROTO_DISCONNECT_SHUTDOWN, "shutdown", 1000);
}

int main(int argc, char **argv) {
  struct wsp_server_callbacks cb = {.on_send = on_send};
  struct wsp_server_history h = {0};
  struct wsp_evlog *log;
  struct event_base *base = event_base_new();
  struct timeval every = {0, TICK_MS * 1000};
  const char *colon = argc == 3 ? strrchr(argv[2], ':') : NULL;
  char host[256] = "127.0.0.1";
  int port = argc == 1 ? 8002 : -1, rc;

  if (colon != NULL && strcmp(argv[1], "--listen") == 0) {
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[2]), argv[2]);
    port = atoi(colon + 1);
  }
  wsp_event_callbacks(&cb); /* the adapter's on_want_write and clock */
  if ((rc = wsp_evlog_new(&log, NULL, wsp_event_clock(0))) < 0 ||
      (rc = wsp_server_new(&server, &cb, NULL, wsp_event_clock(0), 0)) < 0 ||
      (rc = wsp_event_listen(base, server, host, port, &adapter)) < 0) {
    fprintf(stderr, "usage: %s [--listen HOST:PORT]\n", argv[0]);
    return 2;
  }
  h.log = log;
  h.retention.max_events = 100; /* kept up to a minute; empty streams too */
  h.retention.max_age = h.retention.meta_ttl = 60000;
  wsp_server_set_history(server, &h);
  wsp_rpc_register(server, "whoami", whoami, NULL);
  wsp_rpc_register(server, "next", next, NULL);
  ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
  event_add(ticker, &every);
  sigint = evsignal_new(base, SIGINT, on_signal, NULL);
  event_add(sigint, NULL);
  sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
  event_add(sigterm, NULL);
  printf("listening on %s:%d\n", host, wsp_event_get_port(adapter));
  fflush(stdout);
  rc = event_base_dispatch(base);
  fprintf(stderr, "shed at the descriptor limit: %llu\n",
          wsp_event_shed_count(adapter));
  wsp_event_free(adapter); /* before the server: it frees the clients */
  event_free(ticker);
  event_free(sigint);
  event_free(sigterm);
  event_base_free(base);
  wsp_server_free(server);
  wsp_evlog_free(log); /* after the server, which borrows it */
  return rc < 0;
}
