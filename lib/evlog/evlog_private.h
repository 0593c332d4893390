/*
 * Private to the event log: the log's structures shared by its files
 * (evlog.c: streams, retention, life cycle, writing; evlog_read.c: reads,
 * recovery, snapshots; evlog_mem.c: the memory store) and the internal
 * calls between them and the file store. The store's files are layers
 * without a cycle: evlog_file.c (the store's methods) uses evlog_open.c
 * (loading and creating streams), evlog_fread.c (reading) and
 * evlog_fstream.c (a stream's files and dirty state), and all of them
 * evlog_seg.c (system calls, paths, records, indexes, the window cache).
 */
#ifndef WSP_EVLOG_PRIVATE_H
#define WSP_EVLOG_PRIVATE_H

#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "wsp/evlog.h"

/* ---- The log ---------------------------------------------------------- */

struct stream {
  struct stream *hnext;
  uint64_t hash;
  char *name;
  size_t len;
  void *sh; /* the store's handle */
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t first, top, bytes;
  uint64_t last_time;   /* newest event's time (times never go back) */
  uint64_t head_time;   /* time of event `first`, when head_known */
  uint64_t empty_since; /* when the last event went, for meta_ttl */
  int head_known;
  struct wsp_evlog_retention *own; /* NULL: the log's default */
  struct wsp__heap_node hn;        /* key: retention or meta_ttl due */
};

/* An event copied for wsp_evlog_recover(): spans are arena offsets. */
struct cev {
  uint64_t offset, time;
  size_t data, len, info, ilen;
};

struct wsp_evlog {
  struct wsp_mem mem;
  struct wsp_evlog_store *st;
  struct wsp_evlog_retention def;
  uint64_t max_streams; /* 0: no limit */
  void (*retention_for)(const char *stream, size_t len,
                        struct wsp_evlog_retention *r, void *user_data);
  void *user_data;
  struct stream **tab;
  size_t tcap, count;
  uint64_t seed;
  struct wsp__heap heap; /* streams by deadline */
  uint64_t now; /* the latest time seen */
  unsigned depth;
  int free_pending;
  struct wsp_evlog_stats stats;
  /* wsp_evlog_recover() copies events here before delivering any */
  uint8_t *arena;
  size_t arena_len, arena_cap;
  struct cev *cevs;
  size_t ncev, cev_cap;
};

void wsp__evlog_destroy(struct wsp_evlog *ev);
/* The stream called name, created with a new epoch when missing. */
int wsp__evlog_stream_get(struct wsp_evlog *ev, const char *name, size_t len,
                          uint64_t now, struct stream **out);
/* A memory store (the default of wsp_evlog_new()). */
int wsp__evlog_mem_store_new(struct wsp_evlog_store **pst,
                             const struct wsp_mem *mem);

static inline int epoch_matches(const struct stream *s, const char *epoch) {
  return !epoch || !*epoch || strcmp(epoch, s->epoch) == 0;
}

static inline uint64_t event_size(size_t len, size_t ilen) {
  return (uint64_t)len + ilen + WSP_EVLOG_EVENT_OVERHEAD;
}

static inline void fill_pos(const struct stream *s,
                            struct wsp_evlog_position *pos) {
  if (!pos)
    return;
  pos->offset = s->top;
  pos->first = s->first;
  memcpy(pos->epoch, s->epoch, sizeof(pos->epoch));
}

static inline int valid_name(const char *name, size_t len) {
  return name && len > 0 && len <= WSP_EVLOG_NAME_MAX;
}

/* Every public entry that may run callbacks or change state goes through
 * busy()/leave(): inside a callback the log refuses, and a free asked
 * for from a callback happens when the outermost call returns. */
static inline int busy(const struct wsp_evlog *ev) {
  return ev->depth > 0 || ev->free_pending;
}

static inline long leave(struct wsp_evlog *ev, long rc) {
  if (ev->depth == 0 && ev->free_pending)
    wsp__evlog_destroy(ev);
  return rc;
}

static inline void see_time(struct wsp_evlog *ev, uint64_t now) {
  if (now > ev->now)
    ev->now = now;
}

/* ---- The file store --------------------------------------------------- */

#define SEG_HDR 32
#define REC_HDR 32
#define IDX_HDR 40
#define SNAP_HDR 40
#define SEG_MAGIC "WSPSEG01"
#define IDX_MAGIC "WSPIDX01"
#define SNAP_MAGIC "WSPSNP01"
#define TOP_MAGIC "WSPTOP01"
/* TOP: magic, top, epoch (NUL-padded), CRC-32C of what precedes it */
#define TOP_LEN (16 + WSP_EVLOG_EPOCH_MAX + 1 + 4)
/* Escaped names longer than this are shortened and end in a hash. */
#define ESC_MAX 200
#define PATH_CAP 512
/* Bytes read at a time when scanning records, and around the head. */
#define READ_CHUNK (64 * 1024)
#define HEAD_CHUNK 4096
/* A reverse read copies at most this much before delivering. */
#define REVERSE_BUDGET ((size_t)4 << 20)
#define REVERSE_CHUNK 256

struct seg {
  uint64_t base;    /* offset of its first record */
  uint64_t count;   /* records */
  uint64_t end;     /* bytes of valid data, header included */
  uint64_t created; /* time in the header */
  uint32_t *idx;    /* pairs: offset - base, position */
  size_t nidx, idx_cap;
  int unsynced; /* sealed, not yet fsynced */
};

/* A window of bytes of one segment, read ahead. Segment data never
 * changes below its end, except when a stream is reset or truncated,
 * which bumps the stream's generation. */
struct win {
  uint8_t *buf;
  size_t cap, len;
  uint64_t pos;
  const void *owner; /* the stream; NULL: empty */
  uint64_t base, gen;
};

struct fstore;

struct fstream {
  struct fstore *fs;
  struct fstream *prev, *next; /* every stream */
  char *name;
  size_t len;
  char rel[ESC_MAX + 16]; /* "streams/<escaped name>" */
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t gen;
  struct seg *segs; /* by base; the last one takes appends */
  size_t nseg, seg_cap;
  uint64_t first; /* events before it are no longer needed */
  /* the active segment's file, kept open in an LRU */
  int fd;
  struct fstream *lru_prev, *lru_next;
  /* appends not yet written: file positions [flushed, active end) */
  uint8_t *wbuf;
  size_t wlen, wcap;
  uint64_t flushed;
  int marked; /* DIRTY exists */
  /* An fsync of its files failed: what was written before may not be on
   * disk even if a later fsync succeeds, so DIRTY stays for this run. */
  int sync_failed;
  int dirty; /* on the dirty list */
  struct fstream *dprev, *dnext;
  int dir_dirty;  /* created or removed files not yet fsynced */
  int need_epoch; /* loaded as lost, set_epoch not yet called */
  /* retention walks the oldest events through this cursor */
  int head_ok;
  uint64_t head_off, head_base, head_pos, head_size;
  struct win hw;
  uint64_t snap_off;
  int has_snap;
  /* TOP holds top_saved under the current epoch */
  uint64_t top_saved;
  int top_saved_ok;
};

struct fstore {
  struct wsp_evlog_store base;
  struct wsp_mem mem;
  int root, lockfd;
  int policy;
  uint64_t interval, segment_bytes;
  uint32_t index_bytes, max_open;
  size_t write_buffer;
  struct fstream *streams;
  struct fstream *lru_head, *lru_tail; /* head: most recently used */
  uint32_t nopen;
  struct fstream *dirty;
  uint64_t next_sync;
  int suspect; /* the previous run may have lost acknowledged events */
  int load_done;
  char boot[64];
  struct wsp_evlog_stats stats;
  struct win rw;    /* reads and scans */
  uint8_t *scratch; /* a record being encoded, a reverse read's copies */
  size_t scratch_cap;
  struct rref {
    uint64_t offset, time;
    size_t at, len, ilen;
  } * rrefs;
  size_t rref_cap;
};

/* A record header, decoded. */
struct rec {
  uint64_t offset, time, size;
  uint32_t len, ilen;
};

/* What STATE says about the previous run. */
struct state {
  int exists, clean, policy, suspect;
  char boot[64];
};

/* ---- Little-endian fields --------------------------------------------- */

static inline void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline void put64(uint8_t *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* evlog_seg.c */
uint32_t wsp__evfile_crc32c(uint32_t crc, const void *p, size_t n);
int wsp__evfile_io_err(struct fstore *fs, int e);
int wsp__evfile_pwrite_all(struct fstore *fs, int fd, const void *buf, size_t n,
                           uint64_t pos);
int wsp__evfile_pread_all(struct fstore *fs, int fd, void *buf, size_t n,
                          uint64_t pos);
/* Paths below the root, walked with O_NOFOLLOW: -1 and errno on failure,
 * ELOOP for a symbolic link (a hard link too, when truncating). */
int wsp__evfile_parent(struct fstore *fs, const char *path, const char **name);
void wsp__evfile_dir_put(struct fstore *fs, int dfd);
int wsp__evfile_dir_open(struct fstore *fs, const char *rel);
/* Open a regular file (O_TRUNC only once it is known to be one); *st
 * (may be NULL) gets its status. */
int wsp__evfile_open(struct fstore *fs, const char *path, int flags,
                     struct stat *st);
int wsp__evfile_unlink(struct fstore *fs, const char *path, int flags);
int wsp__evfile_mkdir(struct fstore *fs, const char *path);
int wsp__evfile_do_fsync(struct fstore *fs, int fd, int data_only);
int wsp__evfile_sync_dir(struct fstore *fs, const char *rel);
void wsp__evfile_path_of(char *out, const struct fstream *s, const char *file);
void wsp__evfile_seg_file(char *out, const struct fstream *s, uint64_t base,
                          const char *ext);
int wsp__evfile_write_atomic(struct fstore *fs, const char *dir,
                             const char *name, const void *a, size_t alen,
                             const void *b, size_t blen);
int wsp__evfile_read_small(struct fstore *fs, const char *path, size_t max,
                           char **out, size_t *olen);
void wsp__evfile_stream_close_fd(struct fstream *s);
void wsp__evfile_stream_set_fd(struct fstream *s, int fd);
int wsp__evfile_stream_fd(struct fstream *s, int *out);
int wsp__evfile_win_get(struct fstream *s, struct win *w, size_t chunk,
                        size_t si, uint64_t pos, size_t n, const uint8_t **p);
void wsp__evfile_win_free(struct fstore *fs, struct win *w);
int wsp__evfile_rec_parse(const uint8_t *h, uint64_t off, uint64_t room,
                          struct rec *r);
int wsp__evfile_rec_crc_ok(const uint8_t *rec, uint64_t size);
void wsp__evfile_rec_encode(uint8_t *dst, const struct wsp_evlog_event *e);
void wsp__evfile_seg_header(uint8_t h[SEG_HDR], uint64_t base,
                            uint64_t created);
int wsp__evfile_idx_reserve(struct fstore *fs, struct seg *g);
void wsp__evfile_idx_note(struct fstore *fs, struct seg *g, uint64_t offset,
                          uint64_t pos);
void wsp__evfile_idx_write(struct fstore *fs, struct fstream *s,
                           const struct seg *g);
int wsp__evfile_idx_load(struct fstore *fs, struct fstream *s, struct seg *g,
                         uint64_t size, uint64_t next_base);
size_t wsp__evfile_seg_find(const struct fstream *s, uint64_t offset);
int wsp__evfile_locate(struct fstream *s, struct win *w, size_t chunk,
                       uint64_t offset, size_t *psi, uint64_t *ppos);
int wsp__evfile_scratch_reserve(struct fstore *fs, size_t n);

/* evlog_fread.c */
int wsp__evfile_fs_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                        uint64_t to, int reverse,
                        int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                        void *ctx);

/* evlog_open.c */
int wsp__evfile_meta_write(struct fstore *fs, const struct fstream *s,
                           const char *epoch);
void wsp__evfile_top_write(struct fstream *s);
void wsp__evfile_read_boot_id(char out[64]);
void wsp__evfile_state_read(struct fstore *fs, struct state *st);
int wsp__evfile_state_write(struct fstore *fs, int clean, int suspect);
int wsp__evfile_fs_load(struct wsp_evlog_store *st, uint64_t now,
                        int (*found)(const struct wsp_evlog_stream_info *info,
                                     void *stream, void *ctx),
                        void *ctx);
int wsp__evfile_fs_create(struct wsp_evlog_store *st, const char *name,
                          size_t len, const char *epoch, uint64_t now,
                          void **pstream);

/* evlog_fstream.c */
void wsp__evfile_dirty_add(struct fstore *fs, struct fstream *s, uint64_t now);
void wsp__evfile_dirty_remove(struct fstore *fs, struct fstream *s);
/* The DIRTY marker: present while acknowledged events may not be on
 * disk yet. */
int wsp__evfile_mark(struct fstream *s);
void wsp__evfile_unmark(struct fstream *s);
/* Changes to a directory's entries are made durable as the policy says:
 * now (always), at the next sync (interval), at close (never). */
int wsp__evfile_dir_changed(struct fstream *s, uint64_t now);
int wsp__evfile_seg_create(struct fstream *s, uint64_t base, uint64_t now);
void wsp__evfile_seg_delete(struct fstream *s, size_t i);
void wsp__evfile_unlink_in(struct fstream *s, const char *file);
int wsp__evfile_clear_dir(struct fstore *fs, const char *rel);
void wsp__evfile_stream_free(struct fstore *fs, struct fstream *s);

#endif /* WSP_EVLOG_PRIVATE_H */
