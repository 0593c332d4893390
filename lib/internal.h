/* Private cross-file helpers of libwsp. Not installed. */
#ifndef WSP_INTERNAL_H
#define WSP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wsp/common.h"

#define WSP__UNUSED(x) ((void)(x))
#define WSP__MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- mem.c ------------------------------------------------------------ */

void wsp__mem_init(struct wsp_mem *dst, const struct wsp_mem *src);
void *wsp__malloc(const struct wsp_mem *mem, size_t size);
void *wsp__realloc(const struct wsp_mem *mem, void *ptr, size_t size);
void wsp__free(const struct wsp_mem *mem, void *ptr);
char *wsp__strndup(const struct wsp_mem *mem, const char *s, size_t len);

/* ---- outq.c: output queue ------------------------------------------- */

/* A reference-counted byte buffer: a shared frame (wsp_frame_new) or a
 * block a queue owns for small writes. Freed with its own allocator by
 * whoever drops the last reference. */
struct wsp_frame {
  uint32_t refs;
  size_t len; /* bytes filled */
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
struct wsp_frame *wsp__buf_new(const struct wsp_mem *mem, size_t cap);
void wsp__buf_unref(struct wsp_frame *buf);

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

int wsp__str_ieq(struct wsp_str s, const char *lit);
/* Non-zero when the comma-separated list s holds token (case-insensitive). */
int wsp__list_has_token(struct wsp_str s, const char *token);
/* Iterate comma-separated list items: *pos starts at 0. Returns 1 with
 * *item set, 0 at the end. */
int wsp__list_next(struct wsp_str s, size_t *pos, struct wsp_str *item);
const char *wsp__status_text(int status);
/* base64(SHA-1(key + GUID)) into out[28], NUL-terminated (29 bytes). */
void wsp__accept_key(const char *key, size_t key_len, char out[29]);
/* Non-zero when key is base64 for exactly 16 bytes. */
int wsp__key_valid(struct wsp_str key);

/* a + b, or UINT64_MAX when that does not fit: deadlines far away stay
 * far away instead of wrapping round to the past. */
static inline uint64_t wsp__add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif /* WSP_INTERNAL_H */
