/*
 * Shared helpers of the cmocka unit tests: a growable byte buffer, a
 * scripted feed, an output sink, a fake clock and an event recorder behind
 * the callbacks, an in-memory server/client pair joined by buffers, a frame
 * builder and parser, HTTP response inspection, a failing allocator and the
 * standard upgrade request.
 */
#ifndef WSP_TEST_HELPERS_H
#define WSP_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <wsp.h>

#define T_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A soft check for table-driven tests: print the row's name and the
 * condition, count the failure and go on, so that every failing row is
 * listed before the test fails on the count. */
#define T_CHECK(bad, name, cond)                                               \
  do {                                                                         \
    if (!(cond)) {                                                             \
      print_error("%s: check failed: %s (line %d)\n", (name), #cond,           \
                  __LINE__);                                                   \
      (bad)++;                                                                 \
    }                                                                          \
  } while (0)

/* ---- Growable byte buffer -------------------------------------------- */

struct tbuf {
  uint8_t *data;
  size_t len;
  size_t cap;
};

void tbuf_init(struct tbuf *b);
void tbuf_free(struct tbuf *b);
void tbuf_reset(struct tbuf *b);
void tbuf_append(struct tbuf *b, const void *data, size_t len);
void tbuf_puts(struct tbuf *b, const char *s);
void tbuf_printf(struct tbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void tbuf_consume(struct tbuf *b, size_t n);

/* ---- Scripted feed ---------------------------------------------------- */

/*
 * Feed data to conn in chunks of chunk bytes (0: all at once; 1: one byte
 * per call). Stops at the first negative return and returns it, else 0.
 */
int feed_chunks(struct wsp_conn *c, const void *data, size_t len,
                size_t chunk);
/* Feed data in the chunk sizes listed (cycled when the list runs out). */
int feed_script(struct wsp_conn *c, const void *data, size_t len,
                const size_t *sizes, size_t nsizes);
/* Feed a string. */
int feed_str(struct wsp_conn *c, const char *s);

/* ---- Output sink ------------------------------------------------------ */

/*
 * Drain every pending byte of conn into out (NULL: discard), writing at
 * most write_max bytes per wsp_conn_sent() call (0: whatever pending()
 * offers). Returns the number of bytes drained.
 */
size_t sink_drain(struct wsp_conn *c, struct tbuf *out, size_t write_max);
/* Drain at most limit bytes. */
size_t sink_drain_some(struct wsp_conn *c, struct tbuf *out, size_t limit);

/* ---- Recorder: callbacks that log events ----------------------------- */

enum trec_req_action {
  TREQ_ACCEPT = 0, /* return 0 */
  TREQ_RESPOND,    /* wsp_conn_respond(respond_*) */
  TREQ_DEFER,      /* wsp_conn_defer() */
  TREQ_REJECT,     /* return -1 */
  TREQ_PASS        /* return 0 whatever the request (same as ACCEPT) */
};

struct tmsg {
  int opcode;
  uint8_t *data;
  size_t len;
  int seq;
};

struct trec;

struct trec {
  /* ---- behaviour, set by the test before the connection is made ---- */
  int req_action;
  const char *set_protocol;     /* wsp_conn_set_protocol in on_request */
  const char *add_header_name;  /* wsp_conn_add_header in on_request */
  const char *add_header_value;
  int respond_status;
  const char *respond_type;
  const char *respond_body;
  int echo;          /* on_message sends the message back */
  int use_clock;     /* install the now() callback reading clock */
  uint64_t clock;    /* the fake clock, in ms */
  /* optional hooks run after the recording */
  int (*req_hook)(struct wsp_conn *c, const struct wsp_request *req,
                  struct trec *r);
  void (*msg_hook)(struct wsp_conn *c, int opcode, const uint8_t *data,
                   size_t len, struct trec *r);
  void (*open_hook)(struct wsp_conn *c, struct trec *r);
  void (*close_hook)(struct wsp_conn *c, struct trec *r);
  void *hook_data;

  /* ---- observations ---- */
  int seq; /* every event gets the next sequence number */
  int n_request, n_open, n_close, n_want_write, n_msgs_total;
  int open_seq, close_seq;
  /* last request seen by on_request (copied) */
  int req_websocket, req_status, req_http_minor;
  char req_method[16], req_target[512], req_path[512], req_query[512];
  size_t req_nheaders;
  int req_action_rc; /* result of the configured on_request action */
  /* client: response seen by on_open */
  int resp_status;
  size_t resp_nheaders;
  /* data messages and control frames, in order */
  struct tmsg *msgs;
  size_t nmsgs, capmsgs;
  struct tmsg *ctrls;
  size_t nctrls, capctrls;
  /* on_close */
  int close_code;
  uint8_t close_reason[256];
  size_t close_reason_len;
  /* on_backpressure */
  int bp[64];
  size_t nbp;
  int echo_rc; /* first negative return of the echo send */
};

void trec_init(struct trec *r);
void trec_free(struct trec *r);
/* The callbacks table recording into r (pass r as user_data). */
struct wsp_conn_callbacks trec_callbacks(const struct trec *r);

/* ---- Connections under test ------------------------------------------ */

/* A server connection with its recorder and everything it wrote. */
struct tsrv {
  struct wsp_conn *c;
  struct trec rec;
  struct tbuf out;  /* all output drained so far */
  size_t out_pos;   /* start of not yet inspected output */
  int rc;           /* first negative recv result, or 0 */
  int linger_off;   /* WSP_LIMIT_QUEUE_LINGER 0 from the start, for tests
                       that check exact deadlines */
};

/* trec_init + buffers; configure s->rec, then tsrv_new/tsrv_open. */
void tsrv_init(struct tsrv *s);
/* Create the server connection (mem may be NULL). Returns wsp_conn_new. */
int tsrv_new(struct tsrv *s, const struct wsp_mem *mem, uint64_t now);
/* tsrv_new + the standard request + drain; asserts the 101 arrived and
 * moves out_pos past the response head. */
void tsrv_open(struct tsrv *s);
/* Feed bytes (records the first error in s->rc) and drain the output. */
int tsrv_feed(struct tsrv *s, const void *data, size_t len);
void tsrv_drain(struct tsrv *s);
void tsrv_free(struct tsrv *s);

/* ---- Frame builder ---------------------------------------------------- */

#define TF_FIN 0x80
#define TF_RSV1 0x40
#define TF_RSV2 0x20
#define TF_RSV3 0x10

/* The mask used for client frames built by the tests (RFC 6455 5.7). */
extern const uint8_t t_mask[4];

/*
 * Append one frame to b. b0 is the first header byte (FIN | RSV | opcode).
 * masked: 1 to mask with t_mask. lenform: 0 for the minimal length
 * encoding, 16 or 64 to force the 16-bit or 64-bit form, 7 to force the
 * 7-bit form (len must then be <= 125).
 */
void frame_append_ex(struct tbuf *b, uint8_t b0, int masked, const void *p,
                     size_t len, int lenform);
void frame_append(struct tbuf *b, uint8_t b0, int masked, const void *p,
                  size_t len);
/* A masked client frame / an unmasked server frame. */
void cframe(struct tbuf *b, uint8_t b0, const void *p, size_t len);
void sframe(struct tbuf *b, uint8_t b0, const void *p, size_t len);
/* A close frame payload: code (0 for none) and reason. */
void cframe_close(struct tbuf *b, int code, const char *reason);
/* Just a header claiming len payload bytes (for limit tests). */
void frame_header(struct tbuf *b, uint8_t b0, int masked, uint64_t len);

/* ---- Frame parser ----------------------------------------------------- */

struct tframe {
  int fin, rsv, opcode, masked;
  uint64_t len;
  uint8_t *data; /* unmasked copy, NUL-terminated for convenience */
  int lenform;   /* 7, 16 or 64: the encoding found on the wire */
};

struct tframes {
  struct tframe *f;
  size_t n, cap;
  size_t used; /* bytes consumed by complete frames */
  int bad;     /* the bytes do not form frames */
};

/* Parse every complete frame in buf[0..len). */
void tframes_parse(struct tframes *fl, const uint8_t *buf, size_t len);
void tframes_free(struct tframes *fl);
/* Parse s->out from s->out_pos and advance out_pos. */
void tsrv_frames(struct tsrv *s, struct tframes *fl);
/* Close code of a close frame (0 if it has none, -1 if 1 byte). */
int tframe_close_code(const struct tframe *f);
/* Index of the last close frame, or -1. */
int tframes_last_close(const struct tframes *fl);

/* ---- Hub tests ------------------------------------------------------- */

/* Fail the test unless d[0..n), a text message from a hub, is one or more
 * '\n'-separated lines each of which is exactly one JSON object (strict
 * RFC 8259, so a NUL or any other stray byte fails). */
void thub_check_lines(const uint8_t *d, size_t n);

/* Move what a client connection has queued (up to 1 MiB) into the hub's
 * side of it, sc; with sc NULL the bytes are written and dropped. Returns
 * the number of bytes moved. */
size_t thub_up(struct wsp_conn *cc, struct wsp_client *sc);
/* Move what the hub has queued for sc (up to 1 MiB) into the client
 * connection cc. Returns the number of bytes moved; 0 when sc is NULL. */
size_t thub_down(struct wsp_client *sc, struct wsp_conn *cc);

/* One client of a hub under test: the client connection, the hub's side
 * of it, every message it received ('\n' after each) and the close code
 * it saw. A paused client stops reading (a slow consumer). */
struct thub_cli {
  struct wsp_client *sc;
  struct wsp_conn *cc;
  struct tbuf lines;
  int close_code;
  int paused;
};

/* Accept a client on srv (k is its user data) and complete its upgrade
 * to /connection/websocket. k's fields are reset first. */
void thub_cli_open(struct thub_cli *k, struct wsp_server *srv);
/* The same, the client offering permessage-deflate when deflate is set. */
void thub_cli_open_deflate(struct thub_cli *k, struct wsp_server *srv,
                           int deflate);
/* Free the client and the hub's side of it (keeps nothing). */
void thub_cli_free(struct thub_cli *k);
/* Move bytes both ways for the n clients until all are quiet. */
void thub_pump(struct thub_cli *c, int n);
/* Send text from client i of the n, then pump. */
void thub_say(struct thub_cli *c, int n, int i, const char *text);
/* What client k received so far, as one NUL-terminated string. */
const char *thub_lines(struct thub_cli *k);
/* Fail unless what client k received so far is exactly want, then forget
 * it: the tests compare whole lines, never substrings. */
#define thub_expect(k, want) thub_expect_at((k), (want), __FILE__, __LINE__)
void thub_expect_at(struct thub_cli *k, const char *want, const char *file,
                    int line);
/* Forget what the n clients received. */
void thub_clear(struct thub_cli *c, int n);
/* The reply of a hub to the connect or refresh command (cmd) id of the
 * client whose id is client, whole, into out:
 * {"id":id,"cmd":{"client":"client","version":"WSP_VERSION_STRING"
 * followed by rest_fmt formatted (the fields after the version and the
 * closing braces). The client id is random, so the tests build the line
 * from the one the hub reports and compare it exactly. Returns out. */
const char *thub_client_reply(char *out, size_t cap, unsigned id,
                              const char *cmd, const char *client,
                              const char *rest_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- HTTP inspection -------------------------------------------------- */

/* Length of the head through the blank line, 0 if incomplete. */
size_t thttp_head_len(const uint8_t *buf, size_t len);
/* Status of "HTTP/1.1 NNN ...", -1 if the buffer does not start so. */
int thttp_status(const uint8_t *buf, size_t len);
/* Value of the first header called name in the head (case-insensitive
 * name); returns the number of such headers, copies the first value into
 * val (NUL-terminated) when cap > 0. */
int thttp_header(const uint8_t *buf, size_t len, const char *name,
                 char *val, size_t cap);
/* The expected Sec-WebSocket-Accept for key, computed independently. */
void taccept(const char *key, char out[29]);

/* ---- Requests --------------------------------------------------------- */

#define T_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define T_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define T_REQ_LINES                                                            \
  "Host: server.example.com\r\n"                                               \
  "Upgrade: websocket\r\n"                                                     \
  "Connection: Upgrade\r\n"                                                    \
  "Sec-WebSocket-Key: " T_KEY "\r\n"                                           \
  "Sec-WebSocket-Version: 13\r\n"
#define T_REQ "GET /chat HTTP/1.1\r\n" T_REQ_LINES "\r\n"

/* Append the standard valid upgrade request for path (NULL: "/chat"),
 * with extra header lines (each ending in CRLF, or NULL) before the blank
 * line. */
void treq_build(struct tbuf *b, const char *path, const char *extra);

/* A server's 101 for the client request in req (computes the accept from
 * its key); extra header lines or NULL. Returns 0, -1 if no key found. */
int tresp_build(struct tbuf *b, const uint8_t *req, size_t req_len,
                const char *extra);

/* ---- In-memory pair --------------------------------------------------- */

struct tpair {
  struct wsp_conn *srv, *cli;
  struct trec srec, crec;
  struct tbuf s2c, c2s; /* every byte moved, when capture is set */
  int capture;
  size_t feed_chunk;  /* 0: whole writes; else chunked feeding */
  size_t write_max;   /* 0: whole iovecs; else partial writes */
  int srv_rc, cli_rc; /* first negative recv results */
};

void tpair_init(struct tpair *p);
/* Create both connections (mem may be NULL for either), start the client
 * and pump. Returns 0 when both ends are open. */
int tpair_open(struct tpair *p, const struct wsp_mem *smem,
               const struct wsp_mem *cmem);
/* Move bytes both ways until nothing moves; returns the bytes moved. */
size_t tpair_pump(struct tpair *p);
void tpair_free(struct tpair *p);

/* ---- Failing allocator ------------------------------------------------ */

struct tfail {
  struct wsp_mem mem; /* pass &f->mem to the library */
  long fail_at;       /* 1-based allocation number to fail; 0: never */
  int sticky;         /* fail every allocation from fail_at on */
  long calls;         /* allocation calls so far (malloc and realloc) */
  long failures;      /* allocations refused */
  long live;          /* blocks allocated and not freed */
  long bad_frees;     /* frees of pointers this allocator did not give */
  size_t live_bytes;
  size_t peak_bytes;
};

void tfail_init(struct tfail *f, long fail_at, int sticky);

/* ---- JSONTestSuite corpus -------------------------------------------- */

/* Call fn with the name and contents of every file of the corpus
 * directory dir whose name starts with kind and '_' (y_, n_, i_). Fails
 * the test when dir is NULL or unreadable, a file cannot be read, no
 * file matches, or fn returned non-zero (its failed checks) for any. */
void t_corpus_each(const char *dir, char kind,
                   int (*fn)(const char *name, const char *text, size_t len,
                             void *ud),
                   void *ud);

/* ---- Misc ------------------------------------------------------------- */

/* Non-zero when rc is 0 or one of the WSP_ERR_* codes. */
int t_is_wsp_rc(int rc);
/* A deterministic pseudo-random payload. */
uint8_t *t_payload(size_t len, unsigned seed);

#endif /* WSP_TEST_HELPERS_H */
