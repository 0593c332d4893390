/*
 * A program outside the project that uses the installed libwsp the way an
 * application would: headers and flags from pkg-config only. It runs one
 * server handshake from memory (the example key of RFC 6455 section 1.3)
 * and checks the 101 and its Sec-WebSocket-Accept.
 */
#include <stdio.h>
#include <string.h>

#include <wsp.h>

static const char request[] = "GET /chat HTTP/1.1\r\n"
                              "Host: server.example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

static int opened;

static void on_open(struct wsp_conn *conn, const struct wsp_response *resp,
                    void *user_data) {
  (void)conn;
  (void)resp;
  (void)user_data;
  opened++;
}

int main(void) {
  struct wsp_conn_callbacks cb;
  struct wsp_conn *conn;
  struct iovec iov[4];
  char out[1024];
  size_t len = 0;
  int n, i, rv;

  if (wsp_version() != WSP_VERSION_HEX ||
      strcmp(wsp_version_string(), WSP_VERSION_STRING) != 0) {
    fprintf(stderr, "consumer: header %s but library %s\n", WSP_VERSION_STRING,
            wsp_version_string());
    return 1;
  }

  memset(&cb, 0, sizeof(cb));
  cb.on_open = on_open;
  rv = wsp_conn_new(&conn, WSP_ROLE_SERVER, &cb, NULL, 0, NULL);
  if (rv != 0) {
    fprintf(stderr, "consumer: wsp_conn_new: %s\n", wsp_strerror(rv));
    return 1;
  }
  rv = wsp_conn_recv(conn, request, strlen(request));
  if (rv != 0) {
    fprintf(stderr, "consumer: wsp_conn_recv: %s\n", wsp_strerror(rv));
    wsp_conn_free(conn);
    return 1;
  }
  n = wsp_conn_pending(conn, iov, 4);
  for (i = 0; i < n; i++) {
    size_t take = iov[i].iov_len;
    if (take > sizeof(out) - 1 - len)
      take = sizeof(out) - 1 - len;
    memcpy(out + len, iov[i].iov_base, take);
    len += take;
  }
  out[len] = '\0';
  wsp_conn_sent(conn, wsp_conn_queued_bytes(conn));

  rv = 0;
  if (strncmp(out, "HTTP/1.1 101 ", 13) != 0) {
    fprintf(stderr, "consumer: expected a 101, got:\n%s\n", out);
    rv = 1;
  } else if (!strstr(out, "\r\nSec-WebSocket-Accept: "
                          "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")) {
    fprintf(stderr, "consumer: wrong or missing accept value:\n%s\n", out);
    rv = 1;
  } else if (wsp_conn_get_state(conn) != WSP_STATE_OPEN || opened != 1) {
    fprintf(stderr, "consumer: connection not open after the 101\n");
    rv = 1;
  }
  wsp_conn_free(conn);
  if (rv == 0)
    printf("consumer: libwsp %s handshake ok\n", wsp_version_string());
  return rv;
}
