/*
 * echo-client: send messages to an echo server, print what comes back,
 * close with 1000 and exit 0 once the closing handshake is over.
 *   echo-client [--host H] [--port N] [--path P] [--binary] [--timeout MS]
 *               [--deflate] (MESSAGE... | --count N --size BYTES)
 * --deflate offers permessage-deflate.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

struct client {
  char **messages;    /* from the command line, or NULL */
  size_t total, next; /* messages to send; index of the next one */
  size_t size;        /* --size: length of each generated message */
  uint8_t *buf;       /* the generated message */
  int opcode, failed, close_code;
};

static const uint8_t *message(struct client *st, size_t i, size_t *len) {
  if (st->messages != NULL) {
    *len = strlen(st->messages[i]);
    return (const uint8_t *)st->messages[i];
  }
  *len = st->size;
  return st->buf;
}

/* One message at a time: send the next, or close when all came back. */
static void send_next(struct wsp_conn *conn, struct client *st) {
  const uint8_t *data;
  size_t len;

  if (st->next == st->total) {
    wsp_conn_close(conn, WSP_CLOSE_NORMAL, NULL, 0);
    return;
  }
  data = message(st, st->next, &len);
  if (wsp_conn_send(conn, st->opcode, data, len) < 0) {
    st->failed = 1;
    wsp_conn_close(conn, WSP_CLOSE_INTERNAL_ERROR, NULL, 0);
  }
}

static void on_open(struct wsp_conn *conn, const struct wsp_response *resp,
                    void *user_data) {
  send_next(conn, user_data);
}

static void on_message(struct wsp_conn *conn, int opcode, const uint8_t *data,
                       size_t len, void *user_data) {
  struct client *st = user_data;
  size_t want_len = 0;
  const uint8_t *want =
      st->next < st->total ? message(st, st->next, &want_len) : NULL;

  if (want == NULL || opcode != st->opcode || len != want_len ||
      (len > 0 && memcmp(data, want, len) != 0)) {
    fprintf(stderr, "echo-client: unexpected message (%zu bytes)\n", len);
    st->failed = 1;
    wsp_conn_close(conn, WSP_CLOSE_POLICY, NULL, 0);
    return;
  }
  if (st->messages != NULL) {
    fwrite(data, 1, len, stdout);
    putchar('\n');
  } else {
    printf("%zu: %zu bytes\n", st->next + 1, len);
  }
  st->next++;
  send_next(conn, st);
}

static void on_close(struct wsp_conn *conn, int code, const uint8_t *reason,
                     size_t reason_len, void *user_data) {
  ((struct client *)user_data)->close_code = code;
}

static const struct wsp_conn_callbacks callbacks = {.on_open = on_open,
                                                    .on_message = on_message,
                                                    .on_close = on_close,
                                                    .now = loop_clock};

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *path = "/echo";
  int port = 9001, fd, i, rc, ok, deflate = 0;
  long timeout_ms = 10000;
  char authority[300];
  struct client st = {.opcode = WSP_OP_TEXT};
  struct wsp_conn *conn;
  uint64_t end;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = loop_parse_port(argv[++i]);
    else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
      path = argv[++i];
    else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
      st.total = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
      st.size = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
      timeout_ms = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--binary") == 0)
      st.opcode = WSP_OP_BINARY;
    else if (strcmp(argv[i], "--deflate") == 0)
      deflate = 1;
    else if (argv[i][0] == '-' && argv[i][1] != '\0')
      port = -1; /* unknown option */
    else
      break;
  }
  if (i < argc) {
    st.messages = argv + i;
    st.total = (size_t)(argc - i);
  }
  if (port <= 0 || timeout_ms <= 0) {
    fprintf(stderr,
            "usage: %s [--host H] [--port N] [--path P] [--binary] "
            "[--timeout MS] [--deflate] (MESSAGE... | --count N --size "
            "BYTES)\n",
            argv[0]);
    return 2;
  }
  if (st.messages == NULL && (st.buf = malloc(st.size + 1)) != NULL)
    for (size_t k = 0; k < st.size; k++)
      st.buf[k] = (uint8_t)('a' + k % 26);
  snprintf(authority, sizeof authority, "%s:%d", host, port);
  if ((st.messages == NULL && st.buf == NULL) ||
      (fd = loop_connect(host, port)) < 0)
    return 1;
  if ((rc = wsp_conn_new(&conn, WSP_ROLE_CLIENT, &callbacks, NULL,
                         loop_now_ms(), &st)) < 0 ||
      (rc = wsp_conn_set_deflate(conn, WSP_DEFLATE_ENABLE, deflate)) < 0 ||
      (rc = wsp_conn_client_start(conn, authority, path, NULL)) < 0) {
    fprintf(stderr, "echo-client: %s\n", wsp_strerror(rc));
    return 1;
  }

  end = loop_now_ms() + (uint64_t)timeout_ms;
  while (!wsp_conn_is_done(conn) && loop_now_ms() < end) {
    struct pollfd pfd = {.fd = fd};
    uint64_t now = loop_now_ms(), deadline = wsp_conn_next_deadline(conn);

    pfd.events = (wsp_conn_want_read(conn) ? POLLIN : 0) |
                 (wsp_conn_want_write(conn) ? POLLOUT : 0);
    poll(&pfd, 1, loop_timeout(deadline < end ? deadline : end, now));
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) &&
        wsp_conn_want_read(conn))
      loop_read(fd, conn);
    else if (pfd.revents & (POLLHUP | POLLERR))
      break;
    if (wsp_conn_next_deadline(conn) <= loop_now_ms())
      wsp_conn_tick(conn, loop_now_ms());
    if (loop_write(fd, conn) < 0)
      break;
  }

  /* Success: every message came back and the server answered our 1000. */
  ok = wsp_conn_is_done(conn) && !st.failed && st.next == st.total &&
       st.close_code == WSP_CLOSE_NORMAL;
  if (!ok) {
    rc = wsp_conn_get_error(conn);
    fprintf(stderr, "echo-client: %zu of %zu echoed, close code %d: %s\n",
            st.next, st.total, st.close_code,
            rc                     ? wsp_strerror(rc)
            : loop_now_ms() >= end ? "timed out"
                                   : "failed");
  }
  wsp_conn_free(conn);
  close(fd);
  free(st.buf);
  return ok ? 0 : 1;
}
