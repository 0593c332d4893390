/*
 * counter: a shared counter kept by event sourcing. The state is never
 * stored as such: every change is an event {"add":N} appended to the
 * channel "counter" (a wsp_evlog stream), and every SNAPSHOT_EVERY events
 * the server stores the value it has reached as the stream's snapshot.
 *   counter [--listen HOST:PORT] [--data-dir DIR]
 * On /connection/websocket (the Centrifuge protocol, JSON):
 *   rpc "add" {"by":N}  appends {"add":N}; answers {"offset":O}
 *   rpc "snapshot"      answers {"offset":S,"epoch":E,"state":{"value":V}}
 * A client rebuilds the value from the snapshot plus the events after it:
 * it subscribes to "counter" from the snapshot's position (centrifuge-js:
 * the since option), the subscribe result carries the events after S,
 * and every new event follows. After a drop the client recovers what it
 * missed; with --data-dir the log outlives a restart, so it recovers
 * across one too. tests/interop/centrifuge/counter.mjs is such a client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

#define CHANNEL "counter"
#define SNAPSHOT_EVERY 10

static struct wsp_server *server;
static struct wsp_evlog *events;
static long long value; /* the state at the top of the stream */

/* The integer after "key": in a JSON object this program wrote (or that
 * passed the hub's validation); 0 when absent. */
static long long member(const char *json, size_t len, const char *key) {
  char buf[256];
  const char *p;

  snprintf(buf, sizeof buf, "%.*s", (int)(len < 255 ? len : 255), json);
  p = strstr(buf, key);
  return p != NULL ? strtoll(p + strlen(key), NULL, 10) : 0;
}

static int on_snapshot(const struct wsp_evlog_snapshot *snap, void *ud) {
  value = member(snap->state.ptr, snap->state.len, "\"value\":");
  return 0;
}

static int on_event(const struct wsp_evlog_event *e, void *ud) {
  value += member(e->data.ptr, e->data.len, "\"add\":");
  return 0;
}

static void add(struct wsp_client *client, uint64_t call, const char *method,
                const uint8_t *data, size_t len, void *ud) {
  struct wsp_evlog_position pos;
  char ev[64], out[64];
  long long by = member((const char *)data, len, "\"by\":");
  int n = snprintf(ev, sizeof ev, "{\"add\":%lld}", by);

  /* Stored first: an event the log refused did not happen. */
  if (wsp_server_publish(server, CHANNEL, ev, (size_t)n, NULL) < 0 ||
      wsp_evlog_position(events, CHANNEL, strlen(CHANNEL), &pos) < 0) {
    wsp_rpc_error(server, call, WSP_PROTO_ERROR_INTERNAL, "not stored", 0);
    return;
  }
  value += by;
  if (pos.offset % SNAPSHOT_EVERY == 0) {
    n = snprintf(ev, sizeof ev, "{\"value\":%lld}", value);
    wsp_evlog_snapshot_put(events, CHANNEL, strlen(CHANNEL), pos.epoch,
                           pos.offset, loop_now_ms(), ev, (size_t)n);
  }
  n = snprintf(out, sizeof out, "{\"offset\":%llu}",
               (unsigned long long)pos.offset);
  wsp_rpc_reply(server, call, out, (size_t)n);
}

struct snap_reply {
  uint64_t offset;
  char state[256];
};

static int keep_snapshot(const struct wsp_evlog_snapshot *snap, void *ud) {
  struct snap_reply *r = ud;

  r->offset = snap->offset;
  if (snap->state.len > 0) /* none yet: the value 0 at offset 0 */
    snprintf(r->state, sizeof r->state, "%.*s", (int)snap->state.len,
             snap->state.ptr);
  return 0;
}

static int stop(const struct wsp_evlog_event *e, void *ud) {
  return 1; /* the client gets the events by subscribing */
}

static void snapshot(struct wsp_client *client, uint64_t call,
                     const char *method, const uint8_t *data, size_t len,
                     void *ud) {
  struct wsp_evlog_position pos;
  struct snap_reply r = {0, "{\"value\":0}"}; /* none yet: from 0 */
  char out[400];
  long rc = wsp_evlog_snapshot_get(events, CHANNEL, strlen(CHANNEL),
                                   keep_snapshot, stop, &r, &pos);
  int n;

  if (rc < 0) { /* e.g. the events after it expired */
    wsp_rpc_error(server, call, WSP_PROTO_ERROR_INTERNAL, wsp_strerror((int)rc),
                  0);
    return;
  }
  n = snprintf(out, sizeof out, "{\"offset\":%llu,\"epoch\":\"%s\","
               "\"state\":%s}", (unsigned long long)r.offset, pos.epoch,
               r.state);
  if (wsp_rpc_reply(server, call, out, (size_t)n) < 0)
    wsp_rpc_error(server, call, WSP_PROTO_ERROR_INTERNAL, "bad snapshot", 0);
}

static int on_subscribe(struct wsp_client *client, uint64_t sub,
                        const struct wsp_subscribe_info *info, void *ud) {
  return info->channel.len == strlen(CHANNEL) &&
                 memcmp(info->channel.ptr, CHANNEL, info->channel.len) == 0
             ? 0
             : WSP_PROTO_ERROR_PERMISSION_DENIED;
}

int main(int argc, char **argv) {
  struct wsp_server_callbacks cb = {.on_subscribe = on_subscribe,
                                    .now = loop_clock};
  struct wsp_evlog_options eo = {0};
  struct wsp_server_history h = {0};
  const char *dir = NULL, *host = "127.0.0.1";
  char hostbuf[256];
  int port = 8001, lfd, i, rc;

  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--data-dir") == 0) {
      dir = argv[i + 1];
    } else if (strcmp(argv[i], "--listen") == 0 &&
               strrchr(argv[i + 1], ':') != NULL) {
      snprintf(hostbuf, sizeof hostbuf, "%.*s",
               (int)(strrchr(argv[i + 1], ':') - argv[i + 1]), argv[i + 1]);
      host = hostbuf;
      port = loop_parse_port(strrchr(argv[i + 1], ':') + 1);
    } else {
      break;
    }
  }
  if (i != argc || port < 0) {
    fprintf(stderr, "usage: %s [--listen HOST:PORT] [--data-dir DIR]\n",
            argv[0]);
    return 2;
  }
  /* 1000 events are kept: many more than between two snapshots. */
  eo.retention.max_events = 1000;
  if ((dir != NULL &&
       (rc = wsp_evlog_file_store_new(&eo.store, dir, NULL, NULL)) < 0) ||
      (rc = wsp_evlog_new(&events, &eo, loop_now_ms())) < 0 ||
      (rc = wsp_server_new(&server, &cb, NULL, loop_now_ms(), NULL)) < 0) {
    fprintf(stderr, "counter: %s\n", wsp_strerror(rc));
    return 1;
  }
  /* The state where the log left it: the snapshot plus later events. */
  if ((rc = (int)wsp_evlog_snapshot_get(events, CHANNEL, strlen(CHANNEL),
                                        on_snapshot, on_event, NULL,
                                        NULL)) < 0) {
    fprintf(stderr, "counter: cannot rebuild the state: %s\n",
            wsp_strerror(rc));
    return 1;
  }
  h.log = events;
  h.retention = eo.retention;
  wsp_server_set_history(server, &h);
  wsp_rpc_register(server, "add", add, NULL);
  wsp_rpc_register(server, "snapshot", snapshot, NULL);
  if ((lfd = loop_listen(host, port, &port)) < 0)
    return 1;
  printf("listening on %s:%d\n", host, port);
  fflush(stdout);
  fprintf(stderr, "counter: value %lld\n", value);
  rc = loop_run_hub(server, lfd);
  wsp_server_free(server);
  wsp_evlog_free(events); /* every acknowledged event is durable */
  return rc < 0;
}
