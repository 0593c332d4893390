/*
 * subscriber: follow a channel of a server speaking the protocol (wsp-demo,
 * Centrifugo) from C. When the connection drops it connects again and
 * recovers what it missed from the position the last subscription ended
 * at. Prints "subscribed RECOVERED OFFSET EPOCH", "pub OFFSET r|l DATA"
 * (r: replayed by a recovery), "published STATUS" and "disconnected CODE";
 * exits 0 after COUNT publications.
 *   subscriber [--host H] [--port N] [--user U] [--publish JSON]
 *              [--reconnect-ms MS] [--timeout MS] CHANNEL COUNT
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

static struct {
  const char *channel, *publish;
  long count, got;
  int disconnected, subscriptions;
  struct wsp_rpc_client_pos pos; /* where the last subscription ended */
  int have_pos;
} st;

static void on_published(struct wsp_rpc_client *rc, int status,
                         const uint8_t *data, size_t len, void *ud) {
  printf("published %d\n", status);
}

static void on_subscribed(struct wsp_rpc_client *rc,
                          const struct wsp_rpc_client_subscribed *s, void *ud) {
  printf("subscribed %d %llu %s\n", s->recovered,
         (unsigned long long)s->pos.offset, s->pos.epoch);
  if (st.publish && st.subscriptions++ == 0 &&
      wsp_rpc_client_publish(rc, st.channel, st.publish, strlen(st.publish),
                             5000, on_published, NULL) != 0)
    printf("published -1\n");
}

static void on_publication(struct wsp_rpc_client *rc,
                           const struct wsp_rpc_client_pub *p, void *ud) {
  printf("pub %llu %c %.*s\n", (unsigned long long)p->offset,
         p->recovered ? 'r' : 'l', (int)p->data.len, p->data.ptr);
  if (++st.got == st.count)
    wsp_rpc_client_close(rc, WSP_CLOSE_NORMAL, NULL);
}

static void on_unsubscribed(struct wsp_rpc_client *rc,
                            const struct wsp_rpc_client_unsubscribed *u,
                            void *ud) {
  st.pos = u->pos; /* recover from here on the next connection */
  st.have_pos = 1;
}

static void on_disconnected(struct wsp_rpc_client *rc, int code, void *ud) {
  printf("disconnected %d\n", code);
  st.disconnected = 1;
}

static const struct wsp_rpc_client_callbacks callbacks = {
    .on_disconnected = on_disconnected, .now = loop_clock};
static const struct wsp_rpc_client_sub_callbacks sub_callbacks = {
    .on_subscribed = on_subscribed,
    .on_publication = on_publication,
    .on_unsubscribed = on_unsubscribed};

/* One connection, until it ends or the time is up. 0, or -1 when it could
 * not be made. */
static int session(const char *host, int port, const char *data, uint64_t end) {
  struct wsp_rpc_client_sub_opts opts = {.recoverable = 1, .positioned = 1};
  struct wsp_rpc_client *rc;
  char authority[300];
  uint8_t buf[65536];
  int fd = loop_connect(host, port);

  if (fd < 0)
    return -1;
  snprintf(authority, sizeof authority, "%s:%d", host, port);
  opts.since = st.have_pos ? &st.pos : NULL;
  st.disconnected = 0;
  if (wsp_rpc_client_new(&rc, &callbacks, NULL, loop_now_ms(), NULL) != 0)
    return close(fd), -1;
  if (wsp_rpc_client_start(rc, authority, "/connection/websocket", data,
                           NULL) != 0 ||
      wsp_rpc_client_subscribe(rc, st.channel, &opts, &sub_callbacks, NULL) !=
          0)
    st.disconnected = 1;
  while (!st.disconnected && loop_now_ms() < end) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    uint64_t now = loop_now_ms(), due = wsp_rpc_client_next_deadline(rc);
    ssize_t n;

    if (loop_write(fd, wsp_rpc_client_get_conn(rc)) < 0)
      break;
    if (wsp_conn_want_write(wsp_rpc_client_get_conn(rc)))
      pfd.events |= POLLOUT;
    poll(&pfd, 1, loop_timeout(due < end ? due : end, now));
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      n = read(fd, buf, sizeof buf);
      if (n > 0)
        wsp_rpc_client_recv(rc, buf, (size_t)n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        wsp_rpc_client_recv(rc, buf, 0); /* the end of the stream */
    }
    if (wsp_rpc_client_next_deadline(rc) <= loop_now_ms())
      wsp_rpc_client_tick(rc, loop_now_ms());
  }
  wsp_rpc_client_free(rc); /* ends the subscription: st.pos is kept */
  loop_close(fd);
  return 0;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *user = NULL;
  int port = 8000, i;
  long reconnect_ms = 500, timeout_ms = 30000;
  char data[256] = "";
  uint64_t end;

  for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
    if (strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    else if (strcmp(argv[i], "--port") == 0)
      port = loop_parse_port(argv[i + 1]);
    else if (strcmp(argv[i], "--user") == 0)
      user = argv[i + 1];
    else if (strcmp(argv[i], "--publish") == 0)
      st.publish = argv[i + 1];
    else if (strcmp(argv[i], "--reconnect-ms") == 0)
      reconnect_ms = strtol(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--timeout") == 0)
      timeout_ms = strtol(argv[i + 1], NULL, 10);
    else
      port = -1;
  }
  if (argc - i != 2 || port <= 0 || (st.count = atol(argv[i + 1])) <= 0 ||
      reconnect_ms < 0 || timeout_ms <= 0) {
    fprintf(stderr, "usage: see the top of examples/subscriber.c\n");
    return 2;
  }
  st.channel = argv[i];
  setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it happens */
  if (user) { /* wsp-demo takes the user from the connect data */
    struct wsp_json_writer *w = wsp_json_writer_new(NULL);
    const char *json;
    size_t len;

    wsp_json_writer_begin_object(w);
    wsp_json_writer_key(w, "user");
    wsp_json_writer_string(w, user);
    wsp_json_writer_end_object(w);
    json = wsp_json_writer_data(w, &len);
    if (json == NULL || len >= sizeof data)
      return 2;
    snprintf(data, sizeof data, "%.*s", (int)len, json);
    wsp_json_writer_free(w);
  }
  end = loop_now_ms() + (uint64_t)timeout_ms;
  while (st.got < st.count && loop_now_ms() < end) {
    if (session(host, port, user ? data : NULL, end) != 0)
      fprintf(stderr, "subscriber: cannot connect to %s:%d\n", host, port);
    if (st.got < st.count)
      poll(NULL, 0, (int)reconnect_ms);
  }
  return st.got == st.count ? 0 : 1;
}
