/*
 * The HTTP/1.1 opening handshake (RFC 6455 section 4), server and client
 * role: a table of requests with the exact status each must get, then the
 * on_request API (view, protocol, headers, respond, defer, reject), the
 * handshake timeout and the client's checks of the server's response.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

/* ---- The request table ------------------------------------------------ */

#define L_GET "GET /chat HTTP/1.1\r\n"
#define L_HOST "Host: server.example.com\r\n"
#define L_UPG "Upgrade: websocket\r\n"
#define L_CONN "Connection: Upgrade\r\n"
#define L_KEY "Sec-WebSocket-Key: " T_KEY "\r\n"
#define L_VER "Sec-WebSocket-Version: 13\r\n"
#define L_END "\r\n"
#define STD_AFTER_HOST L_UPG L_CONN L_KEY L_VER

struct hs_case {
  const char *name;
  const char *req;
  size_t len;
  int status; /* expected response status */
  int parsed; /* 1 when the request is well-formed HTTP: on_request runs */
};

#define CASE(name, req, status, parsed) {name, req, sizeof(req) - 1, status, parsed}

static const struct hs_case hs_cases[] = {
    /* ---- valid variants: 101 ---- */
    CASE("standard", L_GET L_HOST STD_AFTER_HOST L_END, 101, 1),
    CASE("lowercase header names",
         L_GET "host: server.example.com\r\nupgrade: websocket\r\n"
               "connection: Upgrade\r\nsec-websocket-key: " T_KEY "\r\n"
               "sec-websocket-version: 13\r\n" L_END,
         101, 1),
    CASE("uppercase header names",
         L_GET "HOST: server.example.com\r\nUPGRADE: websocket\r\n"
               "CONNECTION: Upgrade\r\nSEC-WEBSOCKET-KEY: " T_KEY "\r\n"
               "SEC-WEBSOCKET-VERSION: 13\r\n" L_END,
         101, 1),
    CASE("Connection: keep-alive, Upgrade",
         L_GET L_HOST L_UPG
         "Connection: keep-alive, Upgrade\r\n" L_KEY L_VER L_END,
         101, 1),
    CASE("Connection: Upgrade, keep-alive",
         L_GET L_HOST L_UPG
         "Connection: Upgrade, keep-alive\r\n" L_KEY L_VER L_END,
         101, 1),
    CASE("Connection token lowercase",
         L_GET L_HOST L_UPG "Connection: upgrade\r\n" L_KEY L_VER L_END, 101,
         1),
    CASE("Connection list without spaces",
         L_GET L_HOST L_UPG
         "Connection: keep-alive,Upgrade\r\n" L_KEY L_VER L_END,
         101, 1),
    CASE("extra whitespace around values",
         L_GET "Host:   server.example.com  \r\nUpgrade:   websocket  \r\n"
               "Connection: \t Upgrade \t\r\nSec-WebSocket-Key:   " T_KEY
               "   \r\nSec-WebSocket-Version:  13 \r\n" L_END,
         101, 1),
    CASE("no space after colon",
         L_GET "Host:server.example.com\r\nUpgrade:websocket\r\n"
               "Connection:Upgrade\r\nSec-WebSocket-Key:" T_KEY "\r\n"
               "Sec-WebSocket-Version:13\r\n" L_END,
         101, 1),
    CASE("Upgrade: WebSocket",
         L_GET L_HOST "Upgrade: WebSocket\r\n" L_CONN L_KEY L_VER L_END, 101,
         1),
    CASE("Upgrade: WEBSOCKET",
         L_GET L_HOST "Upgrade: WEBSOCKET\r\n" L_CONN L_KEY L_VER L_END, 101,
         1),
    CASE("HTTP/1.2 request",
         "GET /chat HTTP/1.2\r\n" L_HOST STD_AFTER_HOST L_END, 101, 1),
    CASE("subprotocols offered, none selected",
         L_GET L_HOST STD_AFTER_HOST
         "Sec-WebSocket-Protocol: chat, superchat\r\n" L_END,
         101, 1),
    CASE("subprotocol header repeated",
         L_GET L_HOST STD_AFTER_HOST
         "Sec-WebSocket-Protocol: chat\r\n"
         "Sec-WebSocket-Protocol: superchat\r\n" L_END,
         101, 1),
    CASE("extensions offered and declined",
         L_GET L_HOST STD_AFTER_HOST
         "Sec-WebSocket-Extensions: permessage-deflate; "
         "client_max_window_bits\r\n" L_END,
         101, 1),
    CASE("query string",
         "GET /chat?room=lobby&user=x%20y HTTP/1.1\r\n" L_HOST STD_AFTER_HOST
             L_END,
         101, 1),
    CASE("root path", "GET / HTTP/1.1\r\n" L_HOST STD_AFTER_HOST L_END, 101, 1),
    CASE("cookies",
         L_GET L_HOST STD_AFTER_HOST "Cookie: a=b; session=xyz\r\n"
                                     "Cookie: theme=dark\r\n" L_END,
         101, 1),
    CASE("Origin header",
         L_GET L_HOST STD_AFTER_HOST "Origin: http://example.com\r\n" L_END,
         101, 1),
    CASE("Host with port",
         L_GET "Host: 127.0.0.1:9001\r\n" STD_AFTER_HOST L_END, 101, 1),
    CASE("another valid key",
         L_GET L_HOST L_UPG L_CONN
         "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" L_VER L_END,
         101, 1),
    CASE("headers in another order",
         L_GET L_VER L_KEY L_CONN L_UPG L_HOST L_END, 101, 1),
    CASE("browser-like extra headers",
         L_GET L_HOST "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
                      "Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n"
                      "Accept-Encoding: gzip, deflate\r\nPragma: no-cache\r\n"
                      "Cache-Control: no-cache\r\n" STD_AFTER_HOST L_END,
         101, 1),

    /* ---- one defect each ---- */
    CASE("missing Host", L_GET STD_AFTER_HOST L_END, 400, 1),
    CASE("duplicated Host", L_GET L_HOST L_HOST STD_AFTER_HOST L_END, 400, 1),
    CASE("missing Upgrade", L_GET L_HOST L_CONN L_KEY L_VER L_END, 400, 1),
    CASE("duplicated Upgrade",
         L_GET L_HOST L_UPG L_UPG L_CONN L_KEY L_VER L_END, 400, 1),
    CASE("Upgrade: h2c",
         L_GET L_HOST "Upgrade: h2c\r\n" L_CONN L_KEY L_VER L_END, 400, 1),
    CASE("Upgrade: websocket2",
         L_GET L_HOST "Upgrade: websocket2\r\n" L_CONN L_KEY L_VER L_END, 400,
         1),
    CASE("missing Connection", L_GET L_HOST L_UPG L_KEY L_VER L_END, 400, 1),
    CASE("Connection without the Upgrade token",
         L_GET L_HOST L_UPG "Connection: keep-alive\r\n" L_KEY L_VER L_END, 400,
         1),
    CASE("Connection: Upgraded (not the token)",
         L_GET L_HOST L_UPG "Connection: Upgraded\r\n" L_KEY L_VER L_END, 400,
         1),
    CASE("missing key", L_GET L_HOST L_UPG L_CONN L_VER L_END, 400, 1),
    CASE("duplicated key", L_GET L_HOST L_UPG L_CONN L_KEY L_KEY L_VER L_END,
         400, 1),
    CASE("key of 15 bytes",
         L_GET L_HOST L_UPG L_CONN
         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" L_VER L_END,
         400, 1),
    CASE("key of 17 bytes",
         L_GET L_HOST L_UPG L_CONN
         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n" L_VER L_END,
         400, 1),
    CASE("key not base64",
         L_GET L_HOST L_UPG L_CONN
         "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n" L_VER L_END,
         400, 1),
    CASE("empty key",
         L_GET L_HOST L_UPG L_CONN "Sec-WebSocket-Key:\r\n" L_VER L_END, 400,
         1),
    CASE("missing version", L_GET L_HOST L_UPG L_CONN L_KEY L_END, 400, 1),
    CASE("duplicated version",
         L_GET L_HOST L_UPG L_CONN L_KEY L_VER L_VER L_END, 400, 1),
    CASE("version 8",
         L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 8\r\n" L_END,
         426, 1),
    CASE("version 14",
         L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 14\r\n" L_END,
         426, 1),
    CASE("version 7",
         L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 7\r\n" L_END,
         426, 1),
    CASE("POST", "POST /chat HTTP/1.1\r\n" L_HOST STD_AFTER_HOST L_END, 400, 1),
    CASE("lowercase method get",
         "get /chat HTTP/1.1\r\n" L_HOST STD_AFTER_HOST L_END, 400, 1),
    CASE("HTTP/1.0", "GET /chat HTTP/1.0\r\n" L_HOST STD_AFTER_HOST L_END, 400,
         1),
    CASE("request line without version",
         "GET /chat\r\n" L_HOST STD_AFTER_HOST L_END, 400, 0),
    CASE("request line with two spaces",
         "GET  /chat HTTP/1.1\r\n" L_HOST STD_AFTER_HOST L_END, 400, 0),
    CASE("request line with lowercase protocol",
         "GET /chat http/1.1\r\n" L_HOST STD_AFTER_HOST L_END, 400, 0),
    CASE("request line with trailing space",
         "GET /chat HTTP/1.1 \r\n" L_HOST STD_AFTER_HOST L_END, 400, 0),
    CASE("header without colon",
         L_GET L_HOST "X-Broken header line\r\n" STD_AFTER_HOST L_END, 400, 0),
    CASE("header with empty name",
         L_GET L_HOST ": value\r\n" STD_AFTER_HOST L_END, 400, 0),
    CASE("space before colon",
         L_GET "Host : server.example.com\r\n" STD_AFTER_HOST L_END, 400, 0),
    CASE("obsolete line folding",
         L_GET L_HOST "X-Long: first\r\n  continued\r\n" STD_AFTER_HOST L_END,
         400, 0),
    CASE("NUL in a header value",
         L_GET L_HOST "X-Nul: a\0b\r\n" STD_AFTER_HOST L_END, 400, 0),
    /* lib/conn/http.c requires CRLF everywhere: a bare LF is a syntax error */
    CASE("bare LF line endings",
         "GET /chat HTTP/1.1\nHost: server.example.com\nUpgrade: websocket\n"
         "Connection: Upgrade\nSec-WebSocket-Key: " T_KEY "\n"
         "Sec-WebSocket-Version: 13\n\n",
         400, 0),
    CASE("bare LF after one header",
         L_GET "Host: server.example.com\n" STD_AFTER_HOST L_END, 400, 0),
    CASE("bare LF as the final blank line", L_GET L_HOST STD_AFTER_HOST "\n",
         400, 0),
};

/* Run one case against a fresh server; with_cb selects whether the
 * on_request callback is installed. Returns the number of failed checks. */
static int run_case(const struct hs_case *tc, int with_cb) {
  struct tsrv s;
  struct wsp_conn_callbacks cb;
  char val[256], acc[29], key[128], name[160];
  int rc, st, bad = 0;
  size_t head;

  snprintf(name, sizeof(name), "case \"%s\"%s", tc->name,
           with_cb ? "" : " (no on_request)");
  tsrv_init(&s);
  cb = trec_callbacks(&s.rec);
  if (!with_cb)
    cb.on_request = NULL;
  assert_int_equal(wsp_conn_new(&s.c, WSP_ROLE_SERVER, &cb, NULL, 0, &s.rec),
                   0);
  rc = tsrv_feed(&s, tc->req, tc->len);
  st = thttp_status(s.out.data, s.out.len);
  if (st != tc->status)
    print_error("%s: expected %d, got %d (rc %d)\n", name, tc->status, st, rc);
  T_CHECK(bad, name, st == tc->status);
  T_CHECK(bad, name, t_is_wsp_rc(rc));
  head = thttp_head_len(s.out.data, s.out.len);
  T_CHECK(bad, name, head > 0);

  if (with_cb) {
    T_CHECK(bad, name, s.rec.n_request == tc->parsed);
    if (tc->parsed && s.rec.n_request) {
      T_CHECK(bad, name, s.rec.req_websocket == (tc->status == 101));
      if (tc->status != 101)
        T_CHECK(bad, name, s.rec.req_status == tc->status);
    }
  }

  if (tc->status == 101) {
    T_CHECK(bad, name, rc == 0);
    T_CHECK(bad, name, wsp_conn_get_state(s.c) == WSP_STATE_OPEN);
    T_CHECK(bad, name, s.rec.n_open == 1);
    T_CHECK(bad, name, head == s.out.len); /* nothing after the head */
    T_CHECK(bad, name,
            thttp_header(s.out.data, s.out.len, "Upgrade", val, sizeof(val)) ==
                1);
    T_CHECK(bad, name, strcmp(val, "websocket") == 0);
    T_CHECK(bad, name,
            thttp_header(s.out.data, s.out.len, "Connection", val,
                         sizeof(val)) == 1);
    T_CHECK(bad, name, strcmp(val, "Upgrade") == 0);
    thttp_header((const uint8_t *)tc->req, tc->len, "Sec-WebSocket-Key", key,
                 sizeof(key));
    taccept(key, acc);
    T_CHECK(bad, name,
            thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Accept", val,
                         sizeof(val)) == 1);
    T_CHECK(bad, name, strcmp(val, acc) == 0);
    T_CHECK(bad, name,
            thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Extensions",
                         NULL, 0) == 0);
    T_CHECK(bad, name,
            thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Protocol", NULL,
                         0) == 0);
    T_CHECK(bad, name, wsp_conn_get_protocol(s.c) == NULL);
    T_CHECK(bad, name, wsp_conn_want_read(s.c));
    T_CHECK(bad, name, !wsp_conn_is_done(s.c));
  } else {
    long clen = -1;
    T_CHECK(bad, name, rc < 0);
    T_CHECK(bad, name, s.rec.n_open == 0);
    T_CHECK(bad, name, wsp_conn_get_state(s.c) == WSP_STATE_CLOSED);
    T_CHECK(bad, name, wsp_conn_is_done(s.c));
    T_CHECK(bad, name, !wsp_conn_want_read(s.c));
    T_CHECK(bad, name, wsp_conn_queued_bytes(s.c) == 0);
    T_CHECK(bad, name, s.rec.n_close <= 1);
    /* a short reason as the body, and exactly one response */
    if (thttp_header(s.out.data, s.out.len, "Content-Length", val,
                     sizeof(val)) == 1)
      clen = strtol(val, NULL, 10);
    T_CHECK(bad, name, clen > 0);
    T_CHECK(bad, name, clen > 0 && head + (size_t)clen == s.out.len);
    T_CHECK(bad, name,
            thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Accept", NULL,
                         0) == 0);
    if (tc->status == 426) {
      T_CHECK(bad, name,
              thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Version", val,
                           sizeof(val)) == 1);
      T_CHECK(bad, name, strcmp(val, "13") == 0);
    }
    /* later bytes are ignored, not answered */
    wsp_conn_recv(s.c, T_REQ, strlen(T_REQ));
    T_CHECK(bad, name, wsp_conn_queued_bytes(s.c) == 0);
    T_CHECK(bad, name, s.rec.n_open == 0);
  }
  tsrv_free(&s);
  return bad;
}

static void test_handshake_table(void **state) {
  size_t i;
  int bad = 0;
  (void)state;
  assert_true(T_ARRAY_LEN(hs_cases) >= 40);
  for (i = 0; i < T_ARRAY_LEN(hs_cases); i++)
    bad += run_case(&hs_cases[i], 1);
  assert_int_equal(bad, 0);
}

static void test_handshake_table_without_on_request(void **state) {
  size_t i;
  int bad = 0;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(hs_cases); i++)
    bad += run_case(&hs_cases[i], 0);
  assert_int_equal(bad, 0);
}

/* Every status line names its reason phrase. */
static void test_handshake_status_lines(void **state) {
  static const struct {
    size_t idx_status;
    const char *line;
  } lines[] = {{101, "HTTP/1.1 101 Switching Protocols\r\n"},
               {400, "HTTP/1.1 400 Bad Request\r\n"},
               {426, "HTTP/1.1 426 Upgrade Required\r\n"}};
  size_t i, j;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(lines); i++) {
    for (j = 0; j < T_ARRAY_LEN(hs_cases); j++) {
      struct tsrv s;
      if (hs_cases[j].status != (int)lines[i].idx_status)
        continue;
      tsrv_init(&s);
      assert_int_equal(tsrv_new(&s, NULL, 0), 0);
      tsrv_feed(&s, hs_cases[j].req, hs_cases[j].len);
      assert_true(s.out.len >= strlen(lines[i].line));
      assert_memory_equal(s.out.data, lines[i].line, strlen(lines[i].line));
      tsrv_free(&s);
      break;
    }
    assert_true(j < T_ARRAY_LEN(hs_cases));
  }
}

/* ---- Size limit ------------------------------------------------------- */

/* A valid request whose head is exactly total bytes long. */
static void sized_request(struct tbuf *b, size_t total) {
  size_t base;
  tbuf_reset(b);
  tbuf_puts(b, L_GET L_HOST STD_AFTER_HOST "X-Pad: ");
  base = b->len + 2 /* CRLF */ + 2 /* blank line */;
  assert_true(total > base);
  while (b->len < total - 4)
    tbuf_append(b, "p", 1);
  tbuf_puts(b, "\r\n\r\n");
  assert_int_equal(b->len, total);
}

static void test_handshake_size_boundary(void **state) {
  struct tbuf req;
  struct tsrv s;
  (void)state;
  tbuf_init(&req);

  sized_request(&req, 8192);
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_HANDSHAKE), 8192);
  assert_int_equal(tsrv_feed(&s, req.data, req.len), 0);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  tsrv_free(&s);

  sized_request(&req, 8193);
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  tsrv_feed(&s, req.data, req.len);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 431);
  assert_int_equal(s.rec.n_request, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s.c));
  tsrv_free(&s);
  tbuf_free(&req);
}

/* The oversized head is refused as soon as the cap is passed, without
 * waiting for the blank line, even when it arrives in small pieces. */
static void test_handshake_oversized_streamed(void **state) {
  struct tsrv s;
  struct tbuf req;
  size_t i;
  (void)state;
  tbuf_init(&req);
  tbuf_puts(&req, L_GET L_HOST "X-Huge: ");
  for (i = 0; i < 20000; i++)
    tbuf_append(&req, "a", 1);
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  for (i = 0; i < req.len; i += 100) {
    size_t n = req.len - i < 100 ? req.len - i : 100;
    wsp_conn_recv(s.c, req.data + i, n);
    if (wsp_conn_get_state(s.c) == WSP_STATE_CLOSED)
      break;
  }
  tsrv_drain(&s);
  assert_true(i <= 8192 + 100);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 431);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  tsrv_free(&s);
  tbuf_free(&req);
}

static void test_handshake_size_limit_setter(void **state) {
  struct tsrv s;
  struct tbuf req;
  (void)state;
  tbuf_init(&req);
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_HANDSHAKE, 300), 0);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_MAX_HANDSHAKE), 300);
  sized_request(&req, 301);
  tsrv_feed(&s, req.data, req.len);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 431);
  tsrv_free(&s);

  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_MAX_HANDSHAKE, 300), 0);
  sized_request(&req, 300);
  assert_int_equal(tsrv_feed(&s, req.data, req.len), 0);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  tsrv_free(&s);
  tbuf_free(&req);
}

/* ---- Delivery in pieces and pipelining -------------------------------- */

static void test_handshake_one_byte_per_recv(void **state) {
  struct tsrv s;
  const char *req = T_REQ;
  size_t i, n = strlen(req);
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  for (i = 0; i < n; i++) {
    assert_int_equal(s.rec.n_request, 0);
    assert_int_equal(wsp_conn_queued_bytes(s.c), 0);
    assert_int_equal(wsp_conn_recv(s.c, req + i, 1), 0);
  }
  assert_int_equal(s.rec.n_request, 1);
  assert_int_equal(s.rec.n_open, 1);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(thttp_head_len(s.out.data, s.out.len), s.out.len);
  tsrv_free(&s);
}

static void test_handshake_scripted_chunks(void **state) {
  static const size_t script[] = {3, 1, 17, 2, 40, 5, 1, 1, 64, 9};
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tbuf_init(&in);
  tbuf_puts(&in, T_REQ);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "chunked", 7);
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(
      feed_script(s.c, in.data, in.len, script, T_ARRAY_LEN(script)), 0);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(s.rec.nmsgs, 1);
  assert_string_equal((char *)s.rec.msgs[0].data, "chunked");
  tsrv_free(&s);
  tbuf_free(&in);
}

/* A frame in the same recv as the request is processed after on_open. */
static void test_handshake_pipelined_frame(void **state) {
  struct tsrv s;
  struct tbuf in;
  size_t chunk;
  (void)state;
  for (chunk = 0; chunk <= 1; chunk++) {
    tbuf_init(&in);
    tbuf_puts(&in, T_REQ);
    cframe(&in, TF_FIN | WSP_OP_TEXT, "hello", 5);
    tsrv_init(&s);
    s.rec.echo = 1;
    assert_int_equal(tsrv_new(&s, NULL, 0), 0);
    assert_int_equal(feed_chunks(s.c, in.data, in.len, chunk), 0);
    tsrv_drain(&s);
    assert_int_equal(s.rec.n_open, 1);
    assert_int_equal(s.rec.nmsgs, 1);
    assert_int_equal(s.rec.msgs[0].opcode, WSP_OP_TEXT);
    assert_int_equal(s.rec.msgs[0].len, 5);
    assert_memory_equal(s.rec.msgs[0].data, "hello", 5);
    assert_true(s.rec.open_seq < s.rec.msgs[0].seq);
    /* the 101 leaves before the echo */
    assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
    {
      struct tframes fl;
      s.out_pos = thttp_head_len(s.out.data, s.out.len);
      tsrv_frames(&s, &fl);
      assert_int_equal(fl.n, 1);
      assert_int_equal(fl.f[0].opcode, WSP_OP_TEXT);
      assert_int_equal(fl.f[0].masked, 0);
      assert_string_equal((char *)fl.f[0].data, "hello");
      tframes_free(&fl);
    }
    tsrv_free(&s);
    tbuf_free(&in);
  }
}

/* Bytes after the head are frame bytes, whatever they are: LF (0x0a) and
 * CR LF CR LF on the wire right behind the request are no HTTP. */
static void test_handshake_pipelined_lf_bytes(void **state) {
  static const uint8_t wire[] = {'\n', '\r', '\n', '\r', '\n', '\n'};
  struct tsrv s;
  struct tbuf in;
  uint8_t payload[sizeof(wire)];
  size_t i, chunk;
  (void)state;
  /* payload bytes that the mask turns into exactly these wire bytes */
  for (i = 0; i < sizeof(wire); i++)
    payload[i] = wire[i] ^ t_mask[i & 3];
  for (chunk = 0; chunk <= 1; chunk++) {
    tbuf_init(&in);
    tbuf_puts(&in, T_REQ);
    cframe(&in, TF_FIN | WSP_OP_BINARY, payload, sizeof(payload));
    assert_memory_equal(in.data + in.len - sizeof(wire), wire, sizeof(wire));
    tsrv_init(&s);
    assert_int_equal(tsrv_new(&s, NULL, 0), 0);
    assert_int_equal(feed_chunks(s.c, in.data, in.len, chunk), 0);
    tsrv_drain(&s);
    assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
    assert_int_equal(s.rec.nmsgs, 1);
    assert_int_equal(s.rec.msgs[0].len, sizeof(payload));
    assert_memory_equal(s.rec.msgs[0].data, payload, sizeof(payload));
    tsrv_free(&s);
    tbuf_free(&in);
  }
}

/* ---- Accept value and request view ------------------------------------ */

static void test_handshake_accept_sample_key(void **state) {
  struct tsrv s;
  char val[64], acc[29];
  (void)state;
  taccept("dGhlIHNhbXBsZSBub25jZQ==", acc);
  assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  tsrv_init(&s);
  tsrv_open(&s);
  assert_int_equal(thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Accept",
                                val, sizeof(val)),
                   1);
  assert_string_equal(val, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  tsrv_free(&s);
}

static int view_hook(struct wsp_conn *c, const struct wsp_request *req,
                     struct trec *r) {
  struct wsp_str v;
  (void)c;
  assert_int_equal(req->method.len, 3);
  assert_memory_equal(req->method.ptr, "GET", 3);
  assert_int_equal(req->target.len, strlen("/chat/room?x=1&y=two"));
  assert_memory_equal(req->target.ptr, "/chat/room?x=1&y=two", req->target.len);
  assert_int_equal(req->path.len, strlen("/chat/room"));
  assert_memory_equal(req->path.ptr, "/chat/room", req->path.len);
  assert_int_equal(req->query.len, strlen("x=1&y=two"));
  assert_memory_equal(req->query.ptr, "x=1&y=two", req->query.len);
  assert_int_equal(req->http_minor, 1);
  assert_int_equal(req->websocket, 1);
  assert_int_equal(req->nheaders, 9);

  assert_int_equal(wsp_header_get(req->headers, req->nheaders, "origin", 0, &v),
                   1);
  assert_int_equal(v.len, strlen("https://app.example.com"));
  assert_memory_equal(v.ptr, "https://app.example.com", v.len);
  assert_int_equal(wsp_header_get(req->headers, req->nheaders, "COOKIE", 1, &v),
                   1);
  assert_memory_equal(v.ptr, "theme=dark", v.len);
  assert_int_equal(
      wsp_header_get(req->headers, req->nheaders, "cookie", 2, &v), 0);
  assert_int_equal(
      wsp_header_get(req->headers, req->nheaders, "X-Absent", 0, &v), 0);

  assert_int_equal(wsp_request_cookie(req, "session", &v), 1);
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.ptr, "abc", 3);
  assert_int_equal(wsp_request_cookie(req, "xsession", &v), 1);
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.ptr, "zzz", 3);
  assert_int_equal(wsp_request_cookie(req, "theme", &v), 1);
  assert_memory_equal(v.ptr, "dark", 4);
  assert_int_equal(wsp_request_cookie(req, "sess", &v), 0);
  assert_int_equal(wsp_request_cookie(req, "missing", &v), 0);

  assert_int_equal(wsp_request_protocol(req, 0, &v), 1);
  assert_int_equal(v.len, 4);
  assert_memory_equal(v.ptr, "chat", 4);
  assert_int_equal(wsp_request_protocol(req, 1, &v), 1);
  assert_int_equal(v.len, 9);
  assert_memory_equal(v.ptr, "superchat", 9);
  assert_int_equal(wsp_request_protocol(req, 2, &v), 0);
  r->hook_data = (void *)1;
  return 0;
}

static void test_handshake_request_view(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tbuf_init(&in);
  treq_build(&in, "/chat/room?x=1&y=two",
             "Origin: https://app.example.com\r\n"
             "Cookie: xsession=zzz; session=abc\r\n"
             "Cookie: theme=dark\r\n"
             "Sec-WebSocket-Protocol: chat, superchat\r\n");
  tsrv_init(&s);
  s.rec.req_hook = view_hook;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.n_request, 1);
  assert_non_null(s.rec.hook_data); /* the hook ran to its end */
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  tsrv_free(&s);
  tbuf_free(&in);
}

static void test_handshake_request_without_query(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  assert_string_equal(s.rec.req_method, "GET");
  assert_string_equal(s.rec.req_target, "/chat");
  assert_string_equal(s.rec.req_path, "/chat");
  assert_string_equal(s.rec.req_query, "");
  assert_int_equal(s.rec.req_http_minor, 1);
  assert_int_equal(s.rec.req_nheaders, 5);
  tsrv_free(&s);
}

/* ---- on_request decisions --------------------------------------------- */

static void test_handshake_set_protocol(void **state) {
  struct tsrv s;
  struct tbuf in;
  char val[64];
  (void)state;
  tbuf_init(&in);
  treq_build(&in, NULL, "Sec-WebSocket-Protocol: chat, superchat\r\n");
  tsrv_init(&s);
  s.rec.set_protocol = "superchat";
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.req_action_rc, 0);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(thttp_header(s.out.data, s.out.len,
                                "Sec-WebSocket-Protocol", val, sizeof(val)),
                   1);
  assert_string_equal(val, "superchat");
  assert_non_null(wsp_conn_get_protocol(s.c));
  assert_string_equal(wsp_conn_get_protocol(s.c), "superchat");
  tsrv_free(&s);
  tbuf_free(&in);
}

static void test_handshake_set_protocol_not_offered(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tbuf_init(&in);
  treq_build(&in, NULL, "Sec-WebSocket-Protocol: chat\r\n");
  tsrv_init(&s);
  s.rec.set_protocol = "superchat";
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.req_action_rc, WSP_ERR_INVAL);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(thttp_header(s.out.data, s.out.len,
                                "Sec-WebSocket-Protocol", NULL, 0),
                   0);
  assert_null(wsp_conn_get_protocol(s.c));
  tsrv_free(&s);

  /* nothing offered at all */
  tsrv_init(&s);
  s.rec.set_protocol = "chat";
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, T_REQ, strlen(T_REQ)), 0);
  assert_int_equal(s.rec.req_action_rc, WSP_ERR_INVAL);
  assert_int_equal(thttp_header(s.out.data, s.out.len,
                                "Sec-WebSocket-Protocol", NULL, 0),
                   0);
  tsrv_free(&s);
  tbuf_free(&in);
}

static void test_handshake_add_header(void **state) {
  struct tsrv s;
  char val[64];
  (void)state;
  tsrv_init(&s);
  s.rec.add_header_name = "Set-Cookie";
  s.rec.add_header_value = "sid=42; HttpOnly";
  tsrv_open(&s);
  assert_int_equal(s.rec.req_action_rc, 0);
  assert_int_equal(
      thttp_header(s.out.data, s.out.len, "Set-Cookie", val, sizeof(val)), 1);
  assert_string_equal(val, "sid=42; HttpOnly");
  tsrv_free(&s);
}

/* A header that would split the response is refused. */
static void test_handshake_add_header_rejects_crlf(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  s.rec.add_header_name = "X-Evil";
  s.rec.add_header_value = "a\r\nInjected: yes";
  tsrv_open(&s);
  assert_int_equal(s.rec.req_action_rc, WSP_ERR_INVAL);
  assert_int_equal(thttp_header(s.out.data, s.out.len, "Injected", NULL, 0), 0);
  tsrv_free(&s);
}

static void test_handshake_respond_404(void **state) {
  struct tsrv s;
  char val[64];
  size_t head;
  (void)state;
  tsrv_init(&s);
  s.rec.req_action = TREQ_RESPOND;
  s.rec.respond_status = 404;
  s.rec.respond_type = "text/plain";
  s.rec.respond_body = "no such room";
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  tsrv_feed(&s, T_REQ, strlen(T_REQ));
  assert_int_equal(s.rec.req_action_rc, 0);
  assert_true(s.out.len > 24);
  assert_memory_equal(s.out.data, "HTTP/1.1 404 Not Found\r\n", 24);
  assert_int_equal(
      thttp_header(s.out.data, s.out.len, "Content-Type", val, sizeof(val)), 1);
  assert_string_equal(val, "text/plain");
  assert_int_equal(
      thttp_header(s.out.data, s.out.len, "Content-Length", val, sizeof(val)),
      1);
  assert_string_equal(val, "12");
  assert_int_equal(thttp_header(s.out.data, s.out.len, "Sec-WebSocket-Accept",
                                NULL, 0),
                   0);
  head = thttp_head_len(s.out.data, s.out.len);
  assert_int_equal(s.out.len, head + 12);
  assert_memory_equal(s.out.data + head, "no such room", 12);
  assert_int_equal(s.rec.n_open, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s.c));
  tsrv_free(&s);
}

/* A plain HTTP request (not an upgrade) answered by the application. */
static void test_handshake_respond_plain_http(void **state) {
  struct tsrv s;
  const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t head;
  (void)state;
  tsrv_init(&s);
  s.rec.req_action = TREQ_RESPOND;
  s.rec.respond_status = 200;
  s.rec.respond_type = "application/json";
  s.rec.respond_body = "{\"ok\":true}";
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  tsrv_feed(&s, req, strlen(req));
  assert_int_equal(s.rec.n_request, 1);
  assert_int_equal(s.rec.req_websocket, 0);
  assert_int_equal(s.rec.req_status, 400);
  assert_string_equal(s.rec.req_path, "/health");
  assert_int_equal(thttp_status(s.out.data, s.out.len), 200);
  head = thttp_head_len(s.out.data, s.out.len);
  assert_string_equal((char *)s.out.data + head, "{\"ok\":true}");
  assert_true(wsp_conn_is_done(s.c));
  tsrv_free(&s);
}

/* Without a response from the application, a plain request gets 400. */
static void test_handshake_plain_http_default(void **state) {
  struct tsrv s;
  const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  tsrv_feed(&s, req, strlen(req));
  assert_int_equal(thttp_status(s.out.data, s.out.len), 400);
  assert_int_equal(s.rec.n_open, 0);
  tsrv_free(&s);
}

static void test_handshake_reject_403(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  s.rec.req_action = TREQ_REJECT;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  tsrv_feed(&s, T_REQ, strlen(T_REQ));
  assert_int_equal(thttp_status(s.out.data, s.out.len), 403);
  assert_true(s.out.len > 24);
  assert_memory_equal(s.out.data, "HTTP/1.1 403 Forbidden\r\n", 24);
  assert_int_equal(s.rec.n_open, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s.c));
  tsrv_free(&s);
}

static void test_handshake_defer_accept(void **state) {
  struct tsrv s;
  struct tbuf in;
  (void)state;
  tbuf_init(&in);
  tbuf_puts(&in, T_REQ);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "early", 5);
  tsrv_init(&s);
  s.rec.req_action = TREQ_DEFER;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.req_action_rc, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_DEFERRED);
  assert_int_equal(s.out.len, 0);
  assert_int_equal(s.rec.n_open, 0);
  assert_int_equal(s.rec.nmsgs, 0);
  /* more bytes while deferred are kept too */
  tbuf_reset(&in);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "later", 5);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(s.rec.nmsgs, 0);

  assert_int_equal(wsp_conn_accept(s.c), 0);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_OPEN);
  assert_int_equal(s.rec.n_open, 1);
  assert_int_equal(s.rec.nmsgs, 2);
  assert_string_equal((char *)s.rec.msgs[0].data, "early");
  assert_string_equal((char *)s.rec.msgs[1].data, "later");
  /* a second accept is a state error */
  assert_int_equal(wsp_conn_accept(s.c), WSP_ERR_STATE);
  tsrv_free(&s);
  tbuf_free(&in);
}

static int defer_proto_hook(struct wsp_conn *c, const struct wsp_request *req,
                            struct trec *r) {
  (void)req;
  (void)r;
  assert_int_equal(wsp_conn_defer(c), 0);
  return 0;
}

/* Protocol and headers may still be chosen while deferred. */
static void test_handshake_defer_then_set_protocol(void **state) {
  struct tsrv s;
  struct tbuf in;
  char val[64];
  (void)state;
  tbuf_init(&in);
  treq_build(&in, NULL, "Sec-WebSocket-Protocol: a, b\r\n");
  tsrv_init(&s);
  s.rec.req_hook = defer_proto_hook;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, in.data, in.len), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_DEFERRED);
  assert_int_equal(wsp_conn_set_protocol(s.c, "b"), 0);
  assert_int_equal(wsp_conn_add_header(s.c, "X-Node", "n1"), 0);
  assert_int_equal(wsp_conn_accept(s.c), 0);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  assert_int_equal(thttp_header(s.out.data, s.out.len,
                                "Sec-WebSocket-Protocol", val, sizeof(val)),
                   1);
  assert_string_equal(val, "b");
  assert_int_equal(
      thttp_header(s.out.data, s.out.len, "X-Node", val, sizeof(val)), 1);
  assert_string_equal(val, "n1");
  tsrv_free(&s);
  tbuf_free(&in);
}

static void test_handshake_defer_respond(void **state) {
  struct tsrv s;
  size_t head;
  (void)state;
  tsrv_init(&s);
  s.rec.req_action = TREQ_DEFER;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, T_REQ, strlen(T_REQ)), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_DEFERRED);
  assert_int_equal(wsp_conn_respond(s.c, 401, "text/plain", "login", 5), 0);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 401);
  head = thttp_head_len(s.out.data, s.out.len);
  assert_int_equal(s.out.len, head + 5);
  assert_int_equal(s.rec.n_open, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s.c));
  assert_int_equal(wsp_conn_accept(s.c), WSP_ERR_STATE);
  tsrv_free(&s);
}

static void test_handshake_defer_outside_callback(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_defer(s.c), WSP_ERR_STATE);
  assert_int_equal(wsp_conn_accept(s.c), WSP_ERR_STATE);
  tsrv_free(&s);
}

/* ---- Timeout and end of stream ---------------------------------------- */

static void test_handshake_timeout_408(void **state) {
  struct tsrv s;
  const char *part = "GET /chat HTTP/1.1\r\nHost: x\r\n";
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 1000), 0);
  assert_int_equal(wsp_conn_get_limit(s.c, WSP_LIMIT_HANDSHAKE_TIMEOUT), 10000);
  assert_int_equal(wsp_conn_next_deadline(s.c), 11000);
  assert_int_equal(tsrv_feed(&s, part, strlen(part)), 0);
  assert_true(t_is_wsp_rc(wsp_conn_tick(s.c, 10999)));
  tsrv_drain(&s);
  assert_int_equal(s.out.len, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_HANDSHAKE);
  assert_true(t_is_wsp_rc(wsp_conn_tick(s.c, 11000)));
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 408);
  assert_memory_equal(s.out.data, "HTTP/1.1 408 Request Timeout\r\n", 30);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s.c));
  assert_int_equal(s.rec.n_request, 0);
  assert_int_equal(wsp_conn_next_deadline(s.c), WSP_NO_DEADLINE);
  tsrv_free(&s);
}

static void test_handshake_timeout_setter(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_set_limit(s.c, WSP_LIMIT_HANDSHAKE_TIMEOUT, 50), 0);
  assert_int_equal(wsp_conn_next_deadline(s.c), 50);
  wsp_conn_tick(s.c, 50);
  tsrv_drain(&s);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 408);
  tsrv_free(&s);
}

static void test_handshake_no_deadline_after_open(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  tsrv_open(&s);
  /* the 101 response's block went back when it was written: no linger */
  assert_int_equal(wsp_conn_next_deadline(s.c), WSP_NO_DEADLINE);
  /* a tick long after the handshake deadline changes nothing */
  assert_int_equal(wsp_conn_tick(s.c, 1000000), 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_OPEN);
  assert_int_equal(wsp_conn_queued_bytes(s.c), 0);
  tsrv_free(&s);
}

static void test_handshake_eof_before_request(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  feed_str(s.c, "GET /chat HTTP/1.1\r\n");
  assert_true(t_is_wsp_rc(wsp_conn_recv(s.c, NULL, 0)));
  tsrv_drain(&s);
  assert_int_equal(s.rec.n_open, 0);
  assert_int_equal(wsp_conn_get_state(s.c), WSP_STATE_CLOSED);
  assert_true(wsp_conn_is_done(s.c));
  assert_false(wsp_conn_want_read(s.c));
  tsrv_free(&s);
}

/* Recursive I/O from on_request is refused. */
static int recursive_hook(struct wsp_conn *c, const struct wsp_request *req,
                          struct trec *r) {
  (void)req;
  r->req_action_rc = wsp_conn_recv(c, "x", 1);
  r->echo_rc = wsp_conn_tick(c, 5);
  return 0;
}

static void test_handshake_recursive_recv(void **state) {
  struct tsrv s;
  (void)state;
  tsrv_init(&s);
  s.rec.req_hook = recursive_hook;
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(tsrv_feed(&s, T_REQ, strlen(T_REQ)), 0);
  assert_int_equal(s.rec.req_action_rc, WSP_ERR_RECURSIVE);
  assert_int_equal(s.rec.echo_rc, WSP_ERR_RECURSIVE);
  assert_int_equal(thttp_status(s.out.data, s.out.len), 101);
  tsrv_free(&s);
}

/* Freeing the connection from on_request is deferred, not a crash. */
static int free_hook(struct wsp_conn *c, const struct wsp_request *req,
                     struct trec *r) {
  (void)req;
  r->hook_data = (void *)1;
  wsp_conn_free(c);
  return 0;
}

static void test_handshake_free_in_callback(void **state) {
  struct trec rec;
  struct wsp_conn *c = NULL;
  struct wsp_conn_callbacks cb;
  struct tbuf in;
  struct tfail fa;
  (void)state;
  tfail_init(&fa, 0, 0);
  trec_init(&rec);
  rec.req_hook = free_hook;
  cb = trec_callbacks(&rec);
  tbuf_init(&in);
  tbuf_puts(&in, T_REQ);
  cframe(&in, TF_FIN | WSP_OP_TEXT, "after free", 10);
  assert_int_equal(
      wsp_conn_new(&c, WSP_ROLE_SERVER, &cb, &fa.mem, 0, &rec), 0);
  assert_true(t_is_wsp_rc(wsp_conn_recv(c, in.data, in.len)));
  assert_non_null(rec.hook_data);
  /* the connection is gone once recv returned: nothing of it remains */
  assert_int_equal(rec.nmsgs, 0);
  assert_int_equal(fa.live, 0);
  assert_int_equal(fa.bad_frees, 0);
  trec_free(&rec);
  tbuf_free(&in);
}

/* ---- Client role ------------------------------------------------------ */

struct tcli {
  struct wsp_conn *c;
  struct trec rec;
  struct tbuf out;
};

static void tcli_start(struct tcli *t, const char *protocols) {
  struct wsp_conn_callbacks cb;
  memset(t, 0, sizeof(*t));
  trec_init(&t->rec);
  tbuf_init(&t->out);
  cb = trec_callbacks(&t->rec);
  assert_int_equal(
      wsp_conn_new(&t->c, WSP_ROLE_CLIENT, &cb, NULL, 0, &t->rec), 0);
  assert_int_equal(wsp_conn_get_role(t->c), WSP_ROLE_CLIENT);
  assert_int_equal(
      wsp_conn_client_start(t->c, "127.0.0.1:9001", "/echo", protocols), 0);
  sink_drain(t->c, &t->out, 0);
}

static void tcli_free(struct tcli *t) {
  wsp_conn_free(t->c);
  trec_free(&t->rec);
  tbuf_free(&t->out);
}

static void assert_client_failed(struct tcli *t, int rc) {
  assert_int_equal(rc, WSP_ERR_HANDSHAKE);
  assert_int_equal(wsp_conn_get_state(t->c), WSP_STATE_CLOSED);
  assert_int_equal(wsp_conn_get_error(t->c), WSP_ERR_HANDSHAKE);
  assert_int_equal(t->rec.n_open, 0);
  assert_int_equal(t->rec.n_close, 1);
  assert_int_equal(t->rec.close_code, WSP_CLOSE_ABNORMAL);
  sink_drain(t->c, NULL, 0);
  assert_true(wsp_conn_is_done(t->c));
}

static void test_handshake_client_request_format(void **state) {
  struct tcli t;
  char val[256];
  uint8_t raw[64];
  size_t rawlen = sizeof(raw);
  struct base64_decode_ctx dctx;
  (void)state;
  tcli_start(&t, "chat, superchat");
  assert_int_equal(wsp_conn_get_state(t.c), WSP_STATE_HANDSHAKE);
  assert_true(t.out.len > 20);
  assert_memory_equal(t.out.data, "GET /echo HTTP/1.1\r\n", 20);
  assert_int_equal(thttp_head_len(t.out.data, t.out.len), t.out.len);
  assert_int_equal(thttp_header(t.out.data, t.out.len, "Host", val, sizeof(val)),
                   1);
  assert_string_equal(val, "127.0.0.1:9001");
  assert_int_equal(
      thttp_header(t.out.data, t.out.len, "Upgrade", val, sizeof(val)), 1);
  assert_string_equal(val, "websocket");
  assert_int_equal(
      thttp_header(t.out.data, t.out.len, "Connection", val, sizeof(val)), 1);
  assert_string_equal(val, "Upgrade");
  assert_int_equal(thttp_header(t.out.data, t.out.len, "Sec-WebSocket-Version",
                                val, sizeof(val)),
                   1);
  assert_string_equal(val, "13");
  assert_int_equal(thttp_header(t.out.data, t.out.len, "Sec-WebSocket-Protocol",
                                val, sizeof(val)),
                   1);
  assert_string_equal(val, "chat, superchat");
  assert_int_equal(thttp_header(t.out.data, t.out.len, "Sec-WebSocket-Key", val,
                                sizeof(val)),
                   1);
  assert_int_equal(strlen(val), 24);
  base64_decode_init(&dctx);
  assert_true(base64_decode_update(&dctx, &rawlen, raw, strlen(val), val));
  assert_true(base64_decode_final(&dctx));
  assert_int_equal(rawlen, 16);
  /* no extension is offered */
  assert_int_equal(thttp_header(t.out.data, t.out.len,
                                "Sec-WebSocket-Extensions", NULL, 0),
                   0);
  tcli_free(&t);
}

static void test_handshake_client_keys_differ(void **state) {
  struct tcli a, b;
  char ka[64], kb[64];
  (void)state;
  tcli_start(&a, NULL);
  tcli_start(&b, NULL);
  assert_int_equal(
      thttp_header(a.out.data, a.out.len, "Sec-WebSocket-Key", ka, sizeof(ka)),
      1);
  assert_int_equal(
      thttp_header(b.out.data, b.out.len, "Sec-WebSocket-Key", kb, sizeof(kb)),
      1);
  assert_string_not_equal(ka, kb);
  assert_int_equal(thttp_header(a.out.data, a.out.len,
                                "Sec-WebSocket-Protocol", NULL, 0),
                   0);
  tcli_free(&a);
  tcli_free(&b);
}

static void test_handshake_client_add_header(void **state) {
  struct wsp_conn *c;
  struct trec rec;
  struct wsp_conn_callbacks cb;
  struct tbuf out;
  char val[64];
  (void)state;
  trec_init(&rec);
  tbuf_init(&out);
  cb = trec_callbacks(&rec);
  assert_int_equal(wsp_conn_new(&c, WSP_ROLE_CLIENT, &cb, NULL, 0, &rec), 0);
  assert_int_equal(wsp_conn_add_header(c, "Origin", "http://localhost"), 0);
  assert_int_equal(wsp_conn_add_header(c, "Cookie", "sid=7"), 0);
  assert_int_equal(wsp_conn_client_start(c, "h:1", "/p?q=1", NULL), 0);
  sink_drain(c, &out, 0);
  assert_memory_equal(out.data, "GET /p?q=1 HTTP/1.1\r\n", 21);
  assert_int_equal(thttp_header(out.data, out.len, "Origin", val, sizeof(val)),
                   1);
  assert_string_equal(val, "http://localhost");
  assert_int_equal(thttp_header(out.data, out.len, "Cookie", val, sizeof(val)),
                   1);
  assert_string_equal(val, "sid=7");
  /* a second start is a state error */
  assert_int_equal(wsp_conn_client_start(c, "h:1", "/", NULL), WSP_ERR_STATE);
  wsp_conn_free(c);
  trec_free(&rec);
  tbuf_free(&out);
}

static void test_handshake_client_open(void **state) {
  struct tcli t;
  struct tbuf resp;
  (void)state;
  tcli_start(&t, "chat, superchat");
  tbuf_init(&resp);
  assert_int_equal(tresp_build(&resp, t.out.data, t.out.len,
                               "Sec-WebSocket-Protocol: superchat\r\n"),
                   0);
  assert_int_equal(wsp_conn_recv(t.c, resp.data, resp.len), 0);
  assert_int_equal(t.rec.n_open, 1);
  assert_int_equal(t.rec.resp_status, 101);
  assert_int_equal(t.rec.resp_nheaders, 4);
  assert_int_equal(wsp_conn_get_state(t.c), WSP_STATE_OPEN);
  assert_non_null(wsp_conn_get_protocol(t.c));
  assert_string_equal(wsp_conn_get_protocol(t.c), "superchat");
  assert_int_equal(wsp_conn_get_error(t.c), 0);
  tbuf_free(&resp);
  tcli_free(&t);
}

/* The 101 with server frames pipelined behind it, whole and one byte at
 * a time; the frames carry LF and CR LF CR LF bytes. */
static void test_handshake_client_pipelined_frame(void **state) {
  size_t chunk;
  (void)state;
  for (chunk = 0; chunk <= 1; chunk++) {
    struct tcli t;
    struct tbuf resp;
    tcli_start(&t, NULL);
    tbuf_init(&resp);
    assert_int_equal(tresp_build(&resp, t.out.data, t.out.len, NULL), 0);
    sframe(&resp, TF_FIN | WSP_OP_TEXT, "wel\ncome", 8);
    sframe(&resp, TF_FIN | WSP_OP_BINARY, "\r\n\r\n\n", 5);
    assert_int_equal(feed_chunks(t.c, resp.data, resp.len, chunk), 0);
    assert_int_equal(t.rec.n_open, 1);
    assert_int_equal(t.rec.nmsgs, 2);
    assert_string_equal((char *)t.rec.msgs[0].data, "wel\ncome");
    assert_int_equal(t.rec.msgs[1].len, 5);
    assert_memory_equal(t.rec.msgs[1].data, "\r\n\r\n\n", 5);
    assert_true(t.rec.open_seq < t.rec.msgs[0].seq);
    assert_null(wsp_conn_get_protocol(t.c));
    tbuf_free(&resp);
    tcli_free(&t);
  }
}

static void test_handshake_client_bad_accept(void **state) {
  struct tcli t;
  const char *resp = "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: " T_ACCEPT "\r\n\r\n";
  (void)state;
  tcli_start(&t, NULL); /* its random key is not the sample key */
  assert_client_failed(&t, feed_str(t.c, resp));
  tcli_free(&t);
}

static void test_handshake_client_missing_accept(void **state) {
  struct tcli t;
  const char *resp = "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  (void)state;
  tcli_start(&t, NULL);
  assert_client_failed(&t, feed_str(t.c, resp));
  tcli_free(&t);
}

static void test_handshake_client_non_101(void **state) {
  static const char *const resps[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n",
      "garbage\r\n\r\n",
  };
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(resps); i++) {
    struct tcli t;
    tcli_start(&t, NULL);
    assert_client_failed(&t, feed_str(t.c, resps[i]));
    tcli_free(&t);
  }
}

static void client_fail_with_extra(const char *protocols, const char *extra,
                                   const char *upgrade) {
  struct tcli t;
  struct tbuf resp;
  char key[64], acc[29];
  tcli_start(&t, protocols);
  tbuf_init(&resp);
  assert_int_equal(thttp_header(t.out.data, t.out.len, "Sec-WebSocket-Key",
                                key, sizeof(key)),
                   1);
  taccept(key, acc);
  tbuf_printf(&resp,
              "HTTP/1.1 101 Switching Protocols\r\n%sConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: %s\r\n%s\r\n",
              upgrade, acc, extra);
  assert_client_failed(&t, wsp_conn_recv(t.c, resp.data, resp.len));
  tbuf_free(&resp);
  tcli_free(&t);
}

static void test_handshake_client_protocol_not_offered(void **state) {
  (void)state;
  client_fail_with_extra("chat", "Sec-WebSocket-Protocol: superchat\r\n",
                         "Upgrade: websocket\r\n");
  client_fail_with_extra(NULL, "Sec-WebSocket-Protocol: chat\r\n",
                         "Upgrade: websocket\r\n");
}

static void test_handshake_client_extension_not_offered(void **state) {
  (void)state;
  client_fail_with_extra(NULL, "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                         "Upgrade: websocket\r\n");
}

static void test_handshake_client_missing_upgrade(void **state) {
  (void)state;
  client_fail_with_extra(NULL, "", "");
  client_fail_with_extra(NULL, "", "Upgrade: h2c\r\n");
}

static void test_handshake_client_timeout(void **state) {
  struct tcli t;
  (void)state;
  tcli_start(&t, NULL);
  /* the request went out, its block with it: only the handshake
   * timeout is due */
  assert_int_equal(wsp_conn_next_deadline(t.c), 10000);
  wsp_conn_tick(t.c, 10000);
  assert_int_equal(wsp_conn_get_state(t.c), WSP_STATE_CLOSED);
  assert_int_equal(t.rec.n_close, 1);
  assert_int_equal(t.rec.close_code, WSP_CLOSE_ABNORMAL);
  assert_int_equal(wsp_conn_get_error(t.c), WSP_ERR_TIMEOUT);
  tcli_free(&t);
}

/* Role misuse: server-only calls on a client and the reverse. */
static void test_handshake_role_misuse(void **state) {
  struct tsrv s;
  struct tcli t;
  (void)state;
  tsrv_init(&s);
  assert_int_equal(tsrv_new(&s, NULL, 0), 0);
  assert_int_equal(wsp_conn_get_role(s.c), WSP_ROLE_SERVER);
  assert_true(wsp_conn_client_start(s.c, "h:1", "/", NULL) < 0);
  assert_true(wsp_conn_send(s.c, WSP_OP_TEXT, "x", 1) < 0);
  tsrv_free(&s);

  tcli_start(&t, "chat");
  assert_true(wsp_conn_set_protocol(t.c, "chat") < 0);
  assert_true(wsp_conn_respond(t.c, 200, "text/plain", "x", 1) < 0);
  assert_true(wsp_conn_accept(t.c) < 0);
  tcli_free(&t);
}

static void test_handshake_new_rejects_bad_arguments(void **state) {
  struct wsp_conn *c = NULL;
  (void)state;
  assert_int_equal(wsp_conn_new(NULL, WSP_ROLE_SERVER, NULL, NULL, 0, NULL),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_conn_new(&c, 7, NULL, NULL, 0, NULL), WSP_ERR_INVAL);
  assert_null(c);
  /* NULL callbacks are allowed: every valid upgrade is accepted */
  assert_int_equal(wsp_conn_new(&c, WSP_ROLE_SERVER, NULL, NULL, 0, NULL), 0);
  assert_int_equal(feed_str(c, T_REQ), 0);
  assert_int_equal(wsp_conn_get_state(c), WSP_STATE_OPEN);
  wsp_conn_free(c);
  wsp_conn_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_table),
      cmocka_unit_test(test_handshake_table_without_on_request),
      cmocka_unit_test(test_handshake_status_lines),
      cmocka_unit_test(test_handshake_size_boundary),
      cmocka_unit_test(test_handshake_oversized_streamed),
      cmocka_unit_test(test_handshake_size_limit_setter),
      cmocka_unit_test(test_handshake_one_byte_per_recv),
      cmocka_unit_test(test_handshake_scripted_chunks),
      cmocka_unit_test(test_handshake_pipelined_frame),
      cmocka_unit_test(test_handshake_pipelined_lf_bytes),
      cmocka_unit_test(test_handshake_accept_sample_key),
      cmocka_unit_test(test_handshake_request_view),
      cmocka_unit_test(test_handshake_request_without_query),
      cmocka_unit_test(test_handshake_set_protocol),
      cmocka_unit_test(test_handshake_set_protocol_not_offered),
      cmocka_unit_test(test_handshake_add_header),
      cmocka_unit_test(test_handshake_add_header_rejects_crlf),
      cmocka_unit_test(test_handshake_respond_404),
      cmocka_unit_test(test_handshake_respond_plain_http),
      cmocka_unit_test(test_handshake_plain_http_default),
      cmocka_unit_test(test_handshake_reject_403),
      cmocka_unit_test(test_handshake_defer_accept),
      cmocka_unit_test(test_handshake_defer_then_set_protocol),
      cmocka_unit_test(test_handshake_defer_respond),
      cmocka_unit_test(test_handshake_defer_outside_callback),
      cmocka_unit_test(test_handshake_timeout_408),
      cmocka_unit_test(test_handshake_timeout_setter),
      cmocka_unit_test(test_handshake_no_deadline_after_open),
      cmocka_unit_test(test_handshake_eof_before_request),
      cmocka_unit_test(test_handshake_recursive_recv),
      cmocka_unit_test(test_handshake_free_in_callback),
      cmocka_unit_test(test_handshake_client_request_format),
      cmocka_unit_test(test_handshake_client_keys_differ),
      cmocka_unit_test(test_handshake_client_add_header),
      cmocka_unit_test(test_handshake_client_open),
      cmocka_unit_test(test_handshake_client_pipelined_frame),
      cmocka_unit_test(test_handshake_client_bad_accept),
      cmocka_unit_test(test_handshake_client_missing_accept),
      cmocka_unit_test(test_handshake_client_non_101),
      cmocka_unit_test(test_handshake_client_protocol_not_offered),
      cmocka_unit_test(test_handshake_client_extension_not_offered),
      cmocka_unit_test(test_handshake_client_missing_upgrade),
      cmocka_unit_test(test_handshake_client_timeout),
      cmocka_unit_test(test_handshake_role_misuse),
      cmocka_unit_test(test_handshake_new_rejects_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
