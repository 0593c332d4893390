/*
 * libwsp - evlog.h: the event log. A wsp_evlog holds named streams; each
 * is an append-only sequence of events numbered from 1 (the offset), with
 * an epoch, a random string that changes whenever the stream's history is
 * lost or reset, so that a reader holding (offset, epoch) can always tell
 * whether it missed something. Retention by count, bytes and age drops
 * old events but keeps the top offset and the epoch. Reads go forwards or
 * backwards from an offset; wsp_evlog_recover() decides recovery exactly
 * as the Centrifuge protocol does; snapshots store an application state at
 * an offset. Events live in a store: memory (the default), the file store
 * (segment files with checksums, an index and an fsync policy), or one the
 * application writes behind struct wsp_evlog_store_ops. See wsp_evlog(3).
 */
#ifndef WSP_EVLOG_H
#define WSP_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsp_evlog;
struct wsp_evlog_store;

/* ---- Limits ----------------------------------------------------------- */

/* Longest epoch a store may keep; epochs made by the log have
 * WSP_EVLOG_EPOCH_LEN characters from [0-9A-Za-z]. */
#define WSP_EVLOG_EPOCH_MAX 32
#define WSP_EVLOG_EPOCH_LEN 16
/* Stream names are 1..WSP_EVLOG_NAME_MAX bytes, any bytes. */
#define WSP_EVLOG_NAME_MAX 1024
/* Largest data + info of one event, and largest snapshot state. */
#define WSP_EVLOG_EVENT_MAX ((size_t)64 << 20)
#define WSP_EVLOG_SNAPSHOT_MAX ((size_t)1 << 30)
/* Retention counts an event as data + info + this many bytes (the size of
 * a record in the file store). */
#define WSP_EVLOG_EVENT_OVERHEAD 32
/* A read limit meaning "no limit". */
#define WSP_EVLOG_NO_LIMIT SIZE_MAX

/* Flags of wsp_evlog_read(). */
#define WSP_EVLOG_REVERSE 1u

/* ---- Views ------------------------------------------------------------ */

/* One event, as handed to a read callback: the spans are valid until the
 * callback returns. */
struct wsp_evlog_event {
  uint64_t offset;
  uint64_t time;       /* ms, as given to wsp_evlog_append() */
  struct wsp_str data; /* the payload */
  struct wsp_str info; /* publisher info; empty when none */
};

/* A stream's position: its top offset (0 before the first event), the
 * oldest offset still kept (top + 1 when none is) and its epoch. */
struct wsp_evlog_position {
  uint64_t offset;
  uint64_t first;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
};

/* A stored state: it includes every event up to offset. */
struct wsp_evlog_snapshot {
  uint64_t offset;
  uint64_t time;        /* ms, as given to wsp_evlog_snapshot_put() */
  struct wsp_str state; /* valid until the callback returns */
};

/* The outcome of wsp_evlog_recover(). */
struct wsp_evlog_recovery {
  int recovered;                 /* 1: every missed event was delivered */
  int epoch_ok;                  /* 0: the reader's epoch is not the stream's */
  size_t count;                  /* events delivered (0 when not recovered) */
  struct wsp_evlog_position pos; /* where the stream is now */
};

/* ---- Options ---------------------------------------------------------- */

/* Retention of a stream; 0 in a field means no limit. */
struct wsp_evlog_retention {
  uint64_t max_events; /* keep at most this many events */
  uint64_t max_bytes;  /* ... of this total size (WSP_EVLOG_EVENT_OVERHEAD) */
  uint64_t max_age;    /* ms an event is kept after its time */
  uint64_t meta_ttl;   /* ms the offset and epoch of a stream without
                          events are kept before the stream is dropped */
  uint64_t reserved[4];
};

struct wsp_evlog_options {
  const struct wsp_mem *mem;     /* NULL: the C library's allocator */
  struct wsp_evlog_store *store; /* NULL: memory; always consumed */
  /* Retention of every stream without its own. */
  struct wsp_evlog_retention retention;
  /* Called when a stream is created or loaded, with *r preset to
   * retention: change it to give this stream its own. NULL: none. */
  void (*retention_for)(const char *stream, size_t len,
                        struct wsp_evlog_retention *r, void *user_data);
  void *user_data;
  /* Streams the log holds at most (0: no limit). Creating one more fails
   * with WSP_ERR_LIMIT and counts in streams_refused; streams loaded from
   * a store are never refused. */
  uint64_t max_streams;
  uint64_t reserved[3];
};

/* Counters. The reserved words are zero; new counters take their place. */
struct wsp_evlog_stats {
  uint64_t streams;         /* held now */
  uint64_t events;          /* kept now */
  uint64_t bytes;           /* size of the events kept now */
  uint64_t appended;        /* appends acknowledged */
  uint64_t append_errors;   /* appends refused by the store */
  uint64_t expired;         /* events dropped by retention or clear */
  uint64_t streams_dropped; /* by meta_ttl or wsp_evlog_remove() */
  uint64_t new_epochs;      /* given by reset or after a loss */
  uint64_t streams_refused; /* creations over max_streams */
  /* file store */
  uint64_t writes;       /* pwrite(2) calls that wrote files */
  uint64_t fsyncs;       /* fsync(2)/fdatasync(2) calls */
  uint64_t segments;     /* segment files now */
  uint64_t torn_records; /* tail records truncated when opening */
  uint64_t corrupt;      /* records, snapshots, files that failed a check */
  uint64_t io_errors;    /* failed system calls */
  uint64_t reserved[5];
};

/* ---- Life cycle ------------------------------------------------------- */

/* Create a log over opts->store (NULL opts: memory store, defaults) and
 * load the streams the store holds, applying retention at time now. The
 * store is consumed whatever the outcome. */
WSP_API int wsp_evlog_new(struct wsp_evlog **pev,
                          const struct wsp_evlog_options *opts, uint64_t now);
/* Make every acknowledged event durable, close the store, free. Deferred
 * when called from a callback. NULL is a no-op. */
WSP_API void wsp_evlog_free(struct wsp_evlog *ev);

/* Retention of one stream (stream NULL: the default of every stream
 * without its own). r NULL removes a stream's own retention. Applied at
 * once with the latest time the log has seen. */
WSP_API int wsp_evlog_set_retention(struct wsp_evlog *ev, const char *stream,
                                    size_t len,
                                    const struct wsp_evlog_retention *r);
WSP_API int wsp_evlog_get_retention(const struct wsp_evlog *ev,
                                    const char *stream, size_t len,
                                    struct wsp_evlog_retention *out);

/* ---- Writing ---------------------------------------------------------- */

/* Append an event at time now (ms; a time before the stream's newest one
 * counts as that one). Creates the stream with a new epoch when needed.
 * The offset is stored in *offset (may be NULL). On failure nothing was
 * appended and the next append gets the same offset. */
WSP_API int wsp_evlog_append(struct wsp_evlog *ev, const char *stream,
                             size_t len, uint64_t now, const void *data,
                             size_t data_len, const void *info, size_t info_len,
                             uint64_t *offset);
/* Drop every event, keep the top offset and the epoch. */
WSP_API int wsp_evlog_clear(struct wsp_evlog *ev, const char *stream,
                            size_t len, uint64_t now);
/* Drop every event and the snapshot; a new epoch, offsets from 1 again. */
WSP_API int wsp_evlog_reset(struct wsp_evlog *ev, const char *stream,
                            size_t len, uint64_t now);
/* Forget the stream; a later append starts it with a new epoch. */
WSP_API int wsp_evlog_remove(struct wsp_evlog *ev, const char *stream,
                             size_t len);

/* ---- Reading ---------------------------------------------------------- */

/*
 * The position of a stream. A stream that does not exist is created (top
 * 0, a new epoch), so that a position handed out can be honoured later.
 */
WSP_API int wsp_evlog_position(struct wsp_evlog *ev, const char *stream,
                               size_t len, struct wsp_evlog_position *pos);

/*
 * Deliver at most limit events to cb: forwards, the events after since
 * (since 0: from the oldest kept); with WSP_EVLOG_REVERSE, newest first,
 * the events before since (since 0: from the top). epoch NULL or "" skips
 * the check, otherwise a different epoch fails with WSP_ERR_EPOCH. cb
 * returns 0 to go on, anything else to stop. pos (may be NULL) receives
 * the position. Returns the number of events delivered.
 */
/* Each name stays on its WSP_API line, where man/check.sh looks. */
/* clang-format off */
WSP_API long wsp_evlog_read(
    struct wsp_evlog *ev, const char *stream, size_t len, const char *epoch,
    uint64_t since, size_t limit, unsigned flags,
    int (*cb)(const struct wsp_evlog_event *e, void *user_data),
    void *user_data, struct wsp_evlog_position *pos);

/*
 * Recovery for a reader at (since, epoch): recovered when the epochs match
 * (epoch NULL or "" skips the check) and either the stream's top is since,
 * or the events since+1 .. top are all kept and are at most max. Then
 * every one of them is delivered to cb, in order; otherwise none is. The
 * outcome goes to *out.
 */
WSP_API int wsp_evlog_recover(
    struct wsp_evlog *ev, const char *stream, size_t len, uint64_t since,
    const char *epoch, size_t max,
    int (*cb)(const struct wsp_evlog_event *e, void *user_data),
    void *user_data, struct wsp_evlog_recovery *out);
/* clang-format on */

/* ---- Snapshots -------------------------------------------------------- */

/* Store state as the stream's snapshot at offset (<= top), replacing the
 * previous one. epoch NULL or "": no check; else WSP_ERR_EPOCH unless it
 * is the stream's. */
WSP_API int wsp_evlog_snapshot_put(struct wsp_evlog *ev, const char *stream,
                                   size_t len, const char *epoch,
                                   uint64_t offset, uint64_t now,
                                   const void *state, size_t state_len);
/*
 * Deliver the latest snapshot to on_snapshot (offset 0 and an empty state
 * when there is none), then every later event to cb. WSP_ERR_EXPIRED,
 * with nothing delivered, when some of those events are no longer kept.
 * Returns the number of events delivered.
 */
WSP_API long wsp_evlog_snapshot_get(
    struct wsp_evlog *ev, const char *stream, size_t len,
    int (*on_snapshot)(const struct wsp_evlog_snapshot *snap, void *user_data),
    int (*cb)(const struct wsp_evlog_event *e, void *user_data),
    void *user_data, struct wsp_evlog_position *pos);

/* ---- Time and durability ---------------------------------------------- */

/* Apply retention by age and meta_ttl, and the store's periodic work (the
 * file store's interval fsync), due at now. */
WSP_API int wsp_evlog_tick(struct wsp_evlog *ev, uint64_t now);
/* When wsp_evlog_tick() next has work, or WSP_NO_DEADLINE. */
WSP_API uint64_t wsp_evlog_next_deadline(const struct wsp_evlog *ev);
/* Make every acknowledged event durable now, whatever the fsync policy. */
WSP_API int wsp_evlog_sync(struct wsp_evlog *ev);

/* ---- Introspection ---------------------------------------------------- */

WSP_API size_t wsp_evlog_streams(const struct wsp_evlog *ev);
WSP_API void wsp_evlog_get_stats(const struct wsp_evlog *ev,
                                 struct wsp_evlog_stats *out);

/* ---- Stores ----------------------------------------------------------- */

/* File store fsync policies. */
enum wsp_evlog_fsync {
  WSP_EVLOG_FSYNC_DEFAULT = 0, /* INTERVAL */
  WSP_EVLOG_FSYNC_ALWAYS,      /* fsync before an append returns */
  WSP_EVLOG_FSYNC_INTERVAL,    /* write and fsync every interval ms */
  WSP_EVLOG_FSYNC_NEVER        /* write every interval ms; fsync at close */
};

/* File store options; 0 in a field means its default. */
struct wsp_evlog_file_options {
  int fsync;               /* enum wsp_evlog_fsync */
  uint64_t interval;       /* ms; 1000 */
  uint64_t segment_bytes;  /* rotate segments beyond this; 16 MiB */
  uint32_t index_bytes;    /* an index entry every this many bytes; 4096 */
  uint32_t max_open_files; /* segment files kept open; 256 */
  size_t write_buffer;     /* bytes a stream buffers between writes; 64 KiB */
  uint64_t reserved[4];
};

/* A file store in directory dir (created if missing; one process at a
 * time). The caller owns *pstore until it passes it to wsp_evlog_new(). */
WSP_API int wsp_evlog_file_store_new(struct wsp_evlog_store **pstore,
                                     const char *dir,
                                     const struct wsp_evlog_file_options *o,
                                     const struct wsp_mem *mem);
/* Close a store that was not passed to wsp_evlog_new(). NULL: no-op. */
WSP_API void wsp_evlog_store_free(struct wsp_evlog_store *store);

/* ---- The storage interface -------------------------------------------- */

/* A stream as a store reports it when loading. */
struct wsp_evlog_stream_info {
  struct wsp_str name;
  const char *epoch;  /* 1..WSP_EVLOG_EPOCH_MAX characters */
  uint64_t first;     /* oldest event kept; top + 1 when none */
  uint64_t top;       /* newest offset; 0 before the first event */
  uint64_t bytes;     /* size of events first..top */
  uint64_t last_time; /* time of the newest event, or when it emptied */
  int lost;           /* history may be lost: give the stream a new epoch */
};

/*
 * What a store implements; see wsp_evlog_store(3). The log calls these
 * from the thread that uses it, never re-entrantly (set_epoch excepted,
 * from inside load's found), and checks every argument first: offsets
 * given are within the stream. Each int function returns 0 or a negative
 * WSP_ERR_* code and, on failure, leaves the stream as it was. stream is
 * the handle the store gave. Every member but reserved is required.
 */
struct wsp_evlog_store_ops {
  /* Report every stream held, once, from wsp_evlog_new(). */
  int (*load)(struct wsp_evlog_store *st, uint64_t now,
              int (*found)(const struct wsp_evlog_stream_info *info,
                           void *stream, void *ctx),
              void *ctx);
  int (*create)(struct wsp_evlog_store *st, const char *name, size_t len,
                const char *epoch, uint64_t now, void **pstream);
  /* e->offset is top + 1; stored as the policy promises before 0. */
  int (*append)(struct wsp_evlog_store *st, void *stream,
                const struct wsp_evlog_event *e);
  /* Events from..to (first <= from <= to <= top), in order or newest
   * first; cb returning non-zero stops (the call then returns 0). */
  int (*read)(struct wsp_evlog_store *st, void *stream, uint64_t from,
              uint64_t to, int reverse,
              int (*cb)(const struct wsp_evlog_event *e, void *ctx), void *ctx);
  /* Time and size (data + info + WSP_EVLOG_EVENT_OVERHEAD) of an event. */
  int (*head)(struct wsp_evlog_store *st, void *stream, uint64_t offset,
              uint64_t *time, uint64_t *size);
  /* Events before first (<= top + 1) are no longer needed. */
  int (*trim)(struct wsp_evlog_store *st, void *stream, uint64_t first,
              uint64_t now);
  /* Keep the events, change the epoch. */
  int (*set_epoch)(struct wsp_evlog_store *st, void *stream, const char *epoch);
  /* Drop events and snapshot; new epoch; the next offset is 1. */
  int (*reset)(struct wsp_evlog_store *st, void *stream, const char *epoch,
               uint64_t now);
  /* Forget the stream; the handle is invalid afterwards, even on error. */
  int (*remove)(struct wsp_evlog_store *st, void *stream);
  int (*snapshot_put)(struct wsp_evlog_store *st, void *stream,
                      const struct wsp_evlog_snapshot *snap);
  /* WSP_ERR_NOT_FOUND when there is none. */
  int (*snapshot_get)(struct wsp_evlog_store *st, void *stream,
                      int (*cb)(const struct wsp_evlog_snapshot *snap,
                                void *ctx),
                      void *ctx);
  int (*tick)(struct wsp_evlog_store *st, uint64_t now);
  uint64_t (*next_deadline)(const struct wsp_evlog_store *st);
  int (*sync)(struct wsp_evlog_store *st);
  /* Add the store's counters (writes .. io_errors) to *out. */
  void (*stats)(const struct wsp_evlog_store *st, struct wsp_evlog_stats *out);
  void (*close)(struct wsp_evlog_store *st);
  void (*reserved[8])(void); /* NULL */
};

/* A store: implementations put this first in their own structure. */
struct wsp_evlog_store {
  const struct wsp_evlog_store_ops *ops;
};

#ifdef __cplusplus
}
#endif

#endif /* WSP_EVLOG_H */
