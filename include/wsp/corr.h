/*
 * libwsp - corr.h: request/response correlation. A table of pending
 * requests, each with a 32-bit id, an optional deadline and a callback that
 * fires exactly once: with the reply, a timeout, a cancellation or the
 * status the application gives when the connection drops. It knows nothing
 * about JSON or WebSocket: the RPC module and applications with their own
 * envelope build on it. See wsp_corr_new(3).
 */
#ifndef WSP_CORR_H
#define WSP_CORR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsp_corr;

/* Default of wsp_corr_set_max_pending(). */
#define WSP_CORR_DEFAULT_MAX_PENDING 1024
/* The largest value wsp_corr_set_max_pending() accepts (2^30). */
#define WSP_CORR_MAX_PENDING_LIMIT ((size_t)1 << 30)

/* Counters since wsp_corr_new(). started = replied + timed_out +
 * cancelled + the number still pending. The reserved words are zero; new
 * counters take their place, so the size of the struct never changes. */
struct wsp_corr_stats {
  uint64_t started;   /* wsp_corr_start() calls that succeeded */
  uint64_t replied;   /* ended by wsp_corr_complete(), any status */
  uint64_t timed_out; /* ended by wsp_corr_tick() */
  uint64_t cancelled; /* ended by cancel, cancel_all or free */
  uint64_t late;      /* wsp_corr_complete() calls for an unknown id */
  uint64_t refused;   /* starts refused by the max_pending limit */
  uint64_t peak;      /* most requests pending at once */
  uint64_t reserved[3];
};

/* ---- Life cycle ------------------------------------------------------- */

/* Create an empty table; mem NULL means the C library's allocator. */
WSP_API int wsp_corr_new(struct wsp_corr **pcorr, const struct wsp_mem *mem);
/* Fire every pending callback once with WSP_ERR_CANCELLED, in start order,
 * then free. From inside a callback the free is deferred until the
 * outermost wsp_corr_* call returns. NULL is a no-op. */
WSP_API void wsp_corr_free(struct wsp_corr *corr);

/* At most n requests pending at once (1..WSP_CORR_MAX_PENDING_LIMIT;
 * default 1024); a start beyond it fails with WSP_ERR_LIMIT. */
WSP_API int wsp_corr_set_max_pending(struct wsp_corr *corr, size_t n);
WSP_API size_t wsp_corr_get_max_pending(const struct wsp_corr *corr);
/* The next start takes id (not 0), or the first id after it that is not
 * pending. Ids count up from 1 and wrap from 0xffffffff to 1. */
WSP_API int wsp_corr_set_next_id(struct wsp_corr *corr, uint32_t id);

/* ---- Requests --------------------------------------------------------- */

/*
 * Register a request and store its id in *id_out. deadline is an absolute
 * time in milliseconds (the clock of wsp_corr_tick()), or WSP_NO_DEADLINE.
 * cb fires exactly once, with the request's user_data:
 *   status 0            a reply: data/len are the bytes given to
 *                       wsp_corr_complete(), valid until cb returns;
 *   WSP_ERR_TIMEOUT     the deadline passed (wsp_corr_tick());
 *   WSP_ERR_CANCELLED   wsp_corr_cancel() or wsp_corr_free();
 *   other non-zero      the status given to wsp_corr_complete() or
 *                       wsp_corr_cancel_all() (e.g. WSP_ERR_CLOSED).
 * cb may be NULL (nothing fires). If the call fails, cb never fires.
 */
WSP_API int wsp_corr_start(struct wsp_corr *corr, uint64_t deadline,
                           void (*cb)(struct wsp_corr *corr, uint32_t id,
                                      int status, const void *data,
                                      size_t len, void *user_data),
                           void *user_data, uint32_t *id_out);
/* End request id with status (0 = a reply) and data, which is borrowed
 * for the call. WSP_ERR_NOT_FOUND (counted as late) when id is not
 * pending: already ended, timed out, cancelled, or never started. */
WSP_API int wsp_corr_complete(struct wsp_corr *corr, uint32_t id, int status,
                              const void *data, size_t len);
/* End request id with WSP_ERR_CANCELLED; WSP_ERR_NOT_FOUND if unknown. */
WSP_API int wsp_corr_cancel(struct wsp_corr *corr, uint32_t id);
/* End every request pending at the time of the call with status (not 0),
 * in start order. Requests started by those callbacks stay pending. */
WSP_API int wsp_corr_cancel_all(struct wsp_corr *corr, int status);

/* ---- Time ------------------------------------------------------------- */

/* End with WSP_ERR_TIMEOUT, in deadline order (ties in start order), every
 * request that was pending when the call began and is due at now. */
WSP_API int wsp_corr_tick(struct wsp_corr *corr, uint64_t now);
/* The earliest deadline of a pending request, or WSP_NO_DEADLINE. */
WSP_API uint64_t wsp_corr_next_deadline(const struct wsp_corr *corr);

/* ---- Introspection ---------------------------------------------------- */

/* The number of requests pending. */
WSP_API size_t wsp_corr_pending(const struct wsp_corr *corr);
/* Copy the counters into *out. */
WSP_API void wsp_corr_get_stats(const struct wsp_corr *corr,
                                struct wsp_corr_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WSP_CORR_H */
