/*
 * hub-uv: examples/hub.c's hub on a libuv loop, through the adapter
 * <wsp/adapters/libuv.h> (header-only; link with libuv).
 *   rpc "whoami"  answered at once: {"id":"<the caller's connection id>"}
 *   rpc "next"    answered later, at the next tick: {"n":N}
 *   send          comes back to its sender alone, as a message push
 *   "ticks"       channel: {"n":N} every TICK_MS, recoverable from history
 *   usage: hub-uv [--listen HOST:PORT]  (port 0: a free one, printed)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <wsp/adapters/libuv.h>

#define TICK_MS 200
#define MAX_WAITING 64

static uint64_t waiting[MAX_WAITING]; /* calls of "next" */
static size_t nwaiting;
static long long ticks; /* the last tick published */
static struct wsp_server *server;
static struct wsp_uv *adapter;
static uv_timer_t ticker;
static uv_signal_t sigint, sigterm;

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
static void tick(uv_timer_t *t) {
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
 * second; uv_run returns once the adapter and these handles are done. */
static void on_signal(uv_signal_t *s, int signum) {
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&ticker, NULL);
  wsp_uv_shutdown(adapter, WSP_PROTO_DISCONNECT_SHUTDOWN, "shutdown", 1000);
}

int main(int argc, char **argv) {
  struct wsp_server_callbacks cb = {.on_send = on_send};
  struct wsp_server_history h = {0};
  struct wsp_evlog *log;
  uv_loop_t *loop = uv_default_loop();
  const char *colon = argc == 3 ? strrchr(argv[2], ':') : NULL;
  char host[256] = "127.0.0.1";
  int port = argc == 1 ? 8002 : -1, rc;

  if (colon != NULL && strcmp(argv[1], "--listen") == 0) {
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[2]), argv[2]);
    port = atoi(colon + 1);
  }
  signal(SIGPIPE, SIG_IGN); /* libuv writes with writev */
  wsp_uv_callbacks(&cb);    /* the adapter's on_want_write and clock */
  if ((rc = wsp_evlog_new(&log, NULL, wsp_uv_clock(0))) < 0 ||
      (rc = wsp_server_new(&server, &cb, NULL, wsp_uv_clock(0), 0)) < 0 ||
      (rc = wsp_uv_listen(loop, server, host, port, &adapter)) < 0) {
    fprintf(stderr, "usage: %s [--listen HOST:PORT]\n", argv[0]);
    return 2;
  }
  h.log = log;
  h.retention.max_events = 100; /* kept up to a minute; empty streams too */
  h.retention.max_age = h.retention.meta_ttl = 60000;
  wsp_server_set_history(server, &h);
  wsp_rpc_register(server, "whoami", whoami, NULL);
  wsp_rpc_register(server, "next", next, NULL);
  uv_timer_init(loop, &ticker);
  uv_timer_start(&ticker, tick, TICK_MS, TICK_MS);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  printf("listening on %s:%d\n", host, wsp_uv_get_port(adapter));
  fflush(stdout);
  rc = uv_run(loop, UV_RUN_DEFAULT);
  fprintf(stderr, "shed at the descriptor limit: %llu\n",
          wsp_uv_shed_count(adapter));
  wsp_uv_free(adapter);         /* before the server: it frees the clients */
  uv_run(loop, UV_RUN_DEFAULT); /* the adapter's close callbacks */
  wsp_server_free(server);
  wsp_evlog_free(log); /* after the server, which borrows it */
  return uv_loop_close(loop) != 0;
}
