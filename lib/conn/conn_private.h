/* Private state of wsp_conn. The files of conn/ form layers without a
 * cycle: drive.c (wsp_conn_recv, wsp_conn_tick) hands input to
 * handshake.c (the HTTP/1.1 opening handshake) or conn_rx.c (the frame
 * walker), which build on conn.c (state, output, wslay glue); config.c
 * (making connections, their settings) and send.c (sending) are public
 * calls on top of it; deflate.c (permessage-deflate), http.c, outq.c and
 * request.c are the leaves. */
#ifndef WSP_CONN_PRIVATE_H
#define WSP_CONN_PRIVATE_H

#include <sys/uio.h>
#include <wslay/wslay.h>

#include "internal.h"
#include "wsp/conn.h"

/* ---- outq.c: output queue ------------------------------------------- */

/* A reference-counted byte buffer: a shared frame (wsp_frame_new) or a
 * block a queue owns for small writes. Freed with its own allocator by
 * whoever drops the last reference. */
struct wsp_frame {
  uint32_t refs;
  uint8_t z_bits;      /* permessage-deflate: the window z was made for, 0
                          before it was tried */
  struct wsp_frame *z; /* the compressed variant; NULL: not worth it */
  size_t len;          /* bytes filled */
  size_t cap;
  struct wsp_mem mem;
  uint8_t data[];
};

struct wsp__oseg {
  struct wsp_frame *buf;
  size_t off, len;
};

#define WSP__OUTQ_INLINE 2

/*
 * The queue is a ring of segments, each a span of a buffer it holds a
 * reference to. A few segments live inline, so a connection that gets
 * one message at a time never allocates for its queue; bytes written
 * through wsp__outq_reserve() go to a block of its own (the tail). An
 * empty queue holds memory only until its owner trims it.
 */
struct wsp__outq {
  struct wsp__oseg *seg; /* == inl, or a heap array when it grew */
  uint32_t head, count, cap;
  struct wsp__oseg inl[WSP__OUTQ_INLINE];
  struct wsp_frame *tail; /* block that takes small writes */
  size_t bytes;           /* queued and not yet reported sent */
};

/* Reserve len contiguous bytes to fill in place; NULL on allocation
 * failure (nothing changed). The bytes count as queued at once. */
uint8_t *wsp__outq_reserve(struct wsp__outq *q, const struct wsp_mem *mem,
                           size_t len);
int wsp__outq_append(struct wsp__outq *q, const struct wsp_mem *mem,
                     const void *data, size_t len);
/* Queue all of buf by reference. */
int wsp__outq_append_buf(struct wsp__outq *q, const struct wsp_mem *mem,
                         struct wsp_frame *buf);
int wsp__outq_iov(const struct wsp__outq *q, struct iovec *iov, int iovcnt);
/* Consume n bytes from the head; returns how many were consumed. An
 * emptied queue keeps its memory for the next burst. */
size_t wsp__outq_consume(struct wsp__outq *q, size_t n);
/* Drop everything queued and release the queue's memory. */
void wsp__outq_clear(struct wsp__outq *q, const struct wsp_mem *mem);
/* Release the memory an empty queue kept; nothing if it is not empty. */
void wsp__outq_trim(struct wsp__outq *q, const struct wsp_mem *mem);
/* Non-zero when the segment array outgrew its inline slots. */
int wsp__outq_grew(const struct wsp__outq *q);
int wsp__outq_holds_memory(const struct wsp__outq *q);
struct wsp_frame *wsp__outq_buf_new(const struct wsp_mem *mem, size_t cap);
void wsp__outq_buf_unref(struct wsp_frame *buf);

/* ---- http.c: HTTP/1.1 request and response heads ---------------------- */

#define WSP__MAX_HEADERS 64

struct wsp__http_head {
  /* request */
  struct wsp_str method, target;
  /* response */
  int status;
  struct wsp_str reason;
  int http_major, http_minor;
  size_t nheaders;
  struct wsp_header headers[WSP__MAX_HEADERS];
};

/*
 * Parse an HTTP/1.x head in buf[0..len). Returns the head's length in
 * bytes (through the blank line) when complete, 0 when more bytes are
 * needed, -1 on a syntax error (with *why set to a short reason), -2 when
 * there are more than WSP__MAX_HEADERS headers.
 */
long wsp__http_parse(const char *buf, size_t len, int response,
                     struct wsp__http_head *h, const char **why);

int wsp__http_str_ieq(struct wsp_str s, const char *lit);
/* Non-zero when the comma-separated list s holds token (case-insensitive). */
int wsp__http_list_has_token(struct wsp_str s, const char *token);
/* Iterate comma-separated list items: *pos starts at 0. Returns 1 with
 * *item set, 0 at the end. */
int wsp__http_list_next(struct wsp_str s, size_t *pos, struct wsp_str *item);
const char *wsp__http_status_text(int status);
/* base64(SHA-1(key + GUID)) into out[28], NUL-terminated (29 bytes). */
void wsp__http_accept_key(const char *key, size_t key_len, char out[29]);
/* Non-zero when key is base64 for exactly 16 bytes. */
int wsp__http_key_valid(struct wsp_str key);

/* ---- deflate.c: permessage-deflate (RFC 7692) ----------------------- */

#define WSP__RSV1 0x40 /* first header byte: the message is compressed */

struct wsp__zs; /* a zlib stream */
struct wsp_conn;

void wsp__deflate_defaults(uint32_t *settings);
/* 0, or why value is refused for param (WSP_ERR_INVAL, _UNSUPPORTED). */
int wsp__deflate_check(int param, uint64_t value);
/* Server: accept the first acceptable offer of the request, if enabled:
 * sets the connection's negotiated state and writes the response's
 * header line into out. Returns its length, 0 when nothing was agreed,
 * WSP_ERR_NOMEM when cap is too small. */
int wsp__deflate_accept(struct wsp_conn *c, const struct wsp__http_head *h,
                        char *out, size_t cap);
/* Client: the offer's header line, if enabled; returns as above. */
int wsp__deflate_offer(const struct wsp_conn *c, char *out, size_t cap);
/* Client: check the response's extensions and take what they agree;
 * NULL, or why the handshake fails. */
const char *wsp__deflate_check_response(struct wsp_conn *c,
                                        const struct wsp__http_head *h);
/* Compress one message into out[0..cap): 1 with *outlen set, 0 when it
 * would not be smaller (nothing is kept of it), or WSP_ERR_NOMEM. *pz is
 * made on first use (settings from cfg, the deflate[] of a
 * configuration) and reset after the message when reset is set. */
int wsp__deflate_compress(struct wsp__zs **pz, const struct wsp_mem *mem,
                          const uint32_t *cfg, int bits, int reset,
                          const uint8_t *in, size_t len, uint8_t *out,
                          size_t cap, size_t *outlen);
/* Inflate from *in into out[0..cap); *in and *inlen advance, *produced
 * gets the bytes written. 0, WSP_ERR_PROTO (not deflate data) or
 * WSP_ERR_NOMEM. */
int wsp__deflate_inflate(struct wsp__zs **pz, const struct wsp_mem *mem,
                         int bits, const uint8_t **in, size_t *inlen,
                         uint8_t *out, size_t cap, size_t *produced);
void wsp__deflate_reset(struct wsp__zs *z);
void wsp__deflate_end(struct wsp__zs **pz);
/* A connection's two streams, in a block of their own that exists only
 * while one of them does (an idle connection keeps one pointer). */
struct wsp__zpair {
  struct wsp__zs *in, *out;
};
/* The slot of the inflater (out 0) or of the compressor (out 1), the
 * pair made on demand; NULL when it cannot be allocated. */
struct wsp__zs **wsp__deflate_slot(struct wsp__zpair **pp,
                                   const struct wsp_mem *mem, int out);
/* End the inflater (which 0), the compressor (1) or both (-1); the pair
 * goes with the last of them. */
void wsp__deflate_drop(struct wsp__zpair **pp, const struct wsp_mem *mem,
                       int which);
/* The frame to queue for shared frame f on a connection that compresses
 * with a window of bits and resets per message: f's compressed variant,
 * made once with *shared on first need and kept with f, or f itself when
 * compression is not worth it. NULL when the variant was made for a
 * larger window (the connection compresses on its own), or on an error
 * (*err). */
struct wsp_frame *wsp__deflate_frame(struct wsp_frame *f,
                                     struct wsp__zs **shared,
                                     const struct wsp_mem *zmem,
                                     const uint32_t *cfg, int bits, int *err);

/* Handshake state (handshake.c), freed once the connection is open. */
struct wsp__hs {
  uint8_t *buf; /* received head (and body) */
  size_t len, cap;
  size_t scan; /* where the search for the blank line resumes */
  size_t head_len;
  size_t need;   /* head + body once the head is known; 0 before */
  uint8_t *pend; /* input that arrived while the decision was deferred */
  size_t pend_len, pend_cap;
  char *extra; /* headers added by the application, "Name: v\r\n"... */
  size_t extra_len;
  char *offered; /* client: the protocols it offered */
  struct wsp__http_head head;
  struct wsp_request req;
  char accept[29]; /* client: the Sec-WebSocket-Accept expected */
  uint8_t decision;
  uint8_t started;    /* client: request queued */
  uint8_t in_request; /* server: inside on_request */
};

/* Incremental frame-header walker: it sees every input byte before wslay
 * does, checks each header and knows where frames and messages end, which
 * is what lets an idle connection drop its wslay context. */
struct wsp__rx {
  uint8_t hdr[14];
  uint8_t hlen;   /* header bytes collected */
  uint8_t need;   /* header length once the second byte is known */
  uint8_t opcode; /* of the current frame */
  uint8_t fin;
  uint8_t masked;
  uint8_t in_msg; /* a fragmented data message is in progress */
  uint8_t blind;  /* framing lost: input is discarded */
  uint8_t mask[4];
  uint8_t ctl_len; /* captured close payload (drain mode) */
  uint64_t remain; /* payload bytes left in the current frame */
  uint64_t off;    /* payload bytes seen in the current frame */
  uint64_t msg_size;
};

/* The input being handed to wslay, and a message it delivered in place:
 * lives on the stack of one wslay_event_recv() call, so that an idle
 * connection does not carry it. */
struct wsp__rxio {
  const uint8_t *pre_p; /* a held-back header, handed out before in_p */
  size_t pre_len;
  const uint8_t *in_p;
  size_t in_len;
  const uint8_t *direct; /* single-chunk message delivered in place */
  size_t direct_len;
  uint64_t plen; /* payload length of a frame that started in this call
                    (one that started before is never delivered in place) */
};

/* What connections made alike share: allocator, callbacks and limits.
 * A connection made by wsp_conn_new() carries its own, in the same block;
 * those made from a wsp_conn_profile share the profile's and take a copy
 * of their own when one of their limits is set. */
struct wsp__conncfg {
  struct wsp_mem mem;
  struct wsp_conn_callbacks cb;
  uint64_t limits[WSP_LIMIT__COUNT];
  uint32_t deflate[WSP_DEFLATE__COUNT];
  /* The compressor of the connections that reset it for every message:
   * one for all of them, made on first use. */
  struct wsp__zs *zshared;
  uint32_t refs;    /* connections and the profile using it */
  uint8_t embedded; /* inside its connection's block: never shared */
};

struct wsp_conn {
  struct wsp__conncfg *cfg;
  void *user_data;
  wslay_event_context_ptr ws; /* only while a frame or message is open */
  struct wsp__outq out;
  struct wsp__hs *hs;
  char *protocol;
  uint8_t *rnd; /* client: masking keys drawn from wsp__random in bulk */
  uint8_t *msg; /* reassembly buffer; close payload in drain mode */
  size_t msg_len, msg_cap;
  struct wsp__rxio *io; /* inside wslay_event_recv() only, else NULL */
  /* permessage-deflate streams, only while they hold state: the
   * inflater within a compressed message (or for good when the peer
   * keeps its context), the connection's own compressor when it keeps
   * its context. */
  struct wsp__zpair *z;
  struct wsp__rx rx;
  uint64_t now;
  uint64_t hs_due, ping_due, pong_due, close_due;
  uint64_t trim_due; /* release the emptied output queue's memory */
  int error;
  uint16_t code_sent;
  uint8_t role;
  uint8_t state;
  uint8_t depth; /* nesting of library calls that may run callbacks */
  uint8_t rnd_pos;
  uint8_t free_pending : 1;
  uint8_t bp_above : 1;
  uint8_t tx_in_msg : 1;
  uint8_t rx_data : 1;   /* current wslay frame is a data frame */
  uint8_t rx_direct : 1; /* current frame may be delivered in place */
  uint8_t nomem : 1;     /* an allocation failed inside a wslay callback */
  uint8_t closed_cb : 1; /* on_close has fired */
  uint8_t opened : 1;    /* on_open has fired */
  uint8_t in_wslay : 1;  /* inside wslay_event_recv/send */
  uint8_t own_close : 1; /* the library wrote a close frame itself */
  /* permessage-deflate, as negotiated */
  uint8_t z_on : 1;
  uint8_t z_rx_reset : 1; /* the peer resets its compressor per message */
  uint8_t z_tx_reset : 1; /* we reset ours */
  uint8_t rx_z : 1;       /* the message being received is compressed */
  uint8_t z_rx_bits : 4;  /* window of the peer's compressor */
  uint8_t z_tx_bits : 4;  /* window of ours */
};

#define WSP__LIVE(c) (!(c)->free_pending)

#define WSP__CTL_MAX 125 /* control frame payload bytes */

/* conn.c */
uint64_t wsp__conn_now(const struct wsp_conn *c);
/* Drop a reference to cfg (config.c makes them), freeing it with the
 * last. */
void wsp__conn_cfg_unref(struct wsp__conncfg *cfg);
int wsp__conn_open(struct wsp_conn *c);
int wsp__conn_queue(struct wsp_conn *c, const void *data, size_t len);
/* Run the output callbacks after bytes were added to c->out. */
void wsp__conn_appended(struct wsp_conn *c, size_t before);
void wsp__conn_finish(struct wsp_conn *c, int error, int code,
                      const uint8_t *reason, size_t reason_len);
void wsp__conn_enter(struct wsp_conn *c);
/* Release the memory of an emptied output queue, and the compressor of a
 * configuration no other connection shares. */
void wsp__conn_trim(struct wsp_conn *c);
void wsp__conn_leave(struct wsp_conn *c);
/* wslay's context exists only while a frame or message is open. */
int wsp__conn_ws_create(struct wsp_conn *c);
void wsp__conn_ws_release(struct wsp_conn *c);
/* After a close frame left: input is only scanned for the peer's close. */
void wsp__conn_enter_closing(struct wsp_conn *c, int error, int code);
/* Write a close frame of the library's own and start closing. */
int wsp__conn_send_close(struct wsp_conn *c, int error, int code,
                         const char *reason, size_t rlen);
/* The error a close code the library sends stands for. */
int wsp__conn_close_error(int code);
/* Queue one frame (conn.c: control frames ignore the output cap). */
int wsp__conn_write_frame(struct wsp_conn *c, int fin, int opcode,
                          const uint8_t *data, size_t len, int control);
/* Free the handshake state, if any. */
void wsp__conn_free_hs(struct wsp_conn *c);
/* now + ms, or no deadline when ms is 0 (the limit is off). */
static inline uint64_t wsp__conn_due_after(uint64_t now, uint64_t ms) {
  return ms ? now + ms : WSP_NO_DEADLINE;
}

/* conn_rx.c: the header walker */
int wsp__conn_rx_frames(struct wsp_conn *c, const uint8_t *p, size_t len);

/* handshake.c */
int wsp__hs_recv(struct wsp_conn *c, const uint8_t *p, size_t len);
void wsp__hs_timeout(struct wsp_conn *c);

#endif /* WSP_CONN_PRIVATE_H */
