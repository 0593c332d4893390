/*
 * The event log's file store: one directory per stream, segment files of
 * checksummed records, a sparse index per segment, an fsync policy, and
 * recovery of a torn tail when opening. The layout is described in
 * wsp_evlog(3), "File store"; the gist:
 *
 *   DIR/LOCK                  flock(2)ed while a process has the store open
 *   DIR/STATE                 boot id, fsync policy, clean shutdown flag
 *   DIR/streams/NAME/META     the stream's name and epoch (text)
 *   DIR/streams/NAME/SNAPSHOT the latest snapshot
 *   DIR/streams/NAME/DIRTY    present while acknowledged events may not
 *                             be on disk yet (interval and never policies)
 *   DIR/streams/NAME/TOP      top offset and epoch at the last clean close
 *   DIR/streams/NAME/<base>.seg, <base>.idx
 *
 * Every number on disk is little-endian. A segment starts with a 32-byte
 * header (magic, base offset, creation time, CRC) followed by records:
 *
 *   u32 crc      CRC-32C of the rest of the header, the data and the info
 *   u32 len      data bytes
 *   u32 ilen     info bytes
 *   u32 flags    0
 *   u64 offset
 *   u64 time
 *   data, info
 *
 * The offset of every record is the previous one plus one, so a record
 * whose checksum, lengths or offset do not fit ends the valid data. Only
 * the newest segment of a stream is ever written; older ones are sealed
 * with an index file that lets opening check them without reading them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evlog_private.h"

/* ---- Writing ---------------------------------------------------------- */

/* Write the buffered appends to the file (no fsync). On failure they
 * stay buffered. */
static int flush(struct fstream *s) {
  struct fstore *fs = s->fs;
  int fd, rc;
  if (!s->wlen)
    return 0;
  if ((rc = wsp__evfile_stream_fd(s, &fd)) != 0)
    return rc;
  if ((rc = wsp__evfile_pwrite_all(fs, fd, s->wbuf, s->wlen, s->flushed)) !=
      0) {
    /* Leave no partial record behind to be taken for data. */
    if (ftruncate(fd, (off_t)s->flushed) != 0)
      (void)wsp__evfile_io_err(fs, errno);
    return rc;
  }
  s->flushed += s->wlen;
  s->wlen = 0;
  return 0;
}

/*
 * Make everything appended to s durable: write the buffer, fsync the
 * files and directory that need it, then drop the DIRTY mark. With
 * force 0 the never policy only writes. After a failed fsync the mark
 * stays until the store is opened again: the kernel may have dropped the
 * pages it could not write, and a retry then succeeds without them, so
 * the next open must give the stream a new epoch.
 */
static int sync_stream(struct fstream *s, int force) {
  struct fstore *fs = s->fs;
  int rc, fd;
  size_t i;
  if ((rc = flush(s)) != 0)
    return rc;
  /* An idle stream should not hold a write buffer until its next burst. */
  wsp__free(&fs->mem, s->wbuf);
  s->wbuf = NULL;
  s->wcap = 0;
  if (!force && fs->policy == WSP_EVLOG_FSYNC_NEVER) {
    wsp__evfile_dirty_remove(fs, s);
    return 0;
  }
  for (i = 0; i + 1 < s->nseg; i++)
    if (s->segs[i].unsynced) {
      char path[PATH_CAP];
      wsp__evfile_seg_file(path, s, s->segs[i].base, "seg");
      fd = wsp__evfile_open(fs, path, O_RDONLY, NULL);
      if (fd < 0)
        return wsp__evfile_io_err(fs, errno);
      rc = wsp__evfile_do_fsync(fs, fd, 1);
      close(fd);
      if (rc != 0) {
        s->sync_failed = 1;
        return rc;
      }
      s->segs[i].unsynced = 0;
    }
  if (s->marked || s->dirty) {
    if (s->nseg && (rc = wsp__evfile_stream_fd(s, &fd)) != 0)
      return rc;
    if (s->nseg && (rc = wsp__evfile_do_fsync(fs, fd, 1)) != 0) {
      s->sync_failed = 1;
      return rc;
    }
    if (s->dir_dirty) {
      if ((rc = wsp__evfile_sync_dir(fs, s->rel)) != 0) {
        s->sync_failed = 1;
        return rc;
      }
      s->dir_dirty = 0;
    }
  }
  wsp__evfile_unmark(s);
  wsp__evfile_dirty_remove(fs, s);
  return 0;
}

/* Seal the active segment and start the next one at base. Under always
 * its records are already on disk; otherwise the next sync takes care of
 * it, as of the rest. */
static int rotate(struct fstream *s, uint64_t base, uint64_t now) {
  struct fstore *fs = s->fs;
  int rc;
  if ((rc = flush(s)) != 0)
    return rc;
  wsp__evfile_idx_write(fs, s, &s->segs[s->nseg - 1]);
  if ((rc = wsp__evfile_seg_create(s, base, now)) != 0)
    return rc;
  s->segs[s->nseg - 2].unsynced = fs->policy != WSP_EVLOG_FSYNC_ALWAYS;
  return 0;
}

static int fs_append(struct wsp_evlog_store *st, void *stream,
                     const struct wsp_evlog_event *e) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  size_t size = REC_HDR + e->data.len + e->info.len;
  struct seg *g;
  uint64_t at;
  int rc, fd;
  if (!s->nseg && (rc = wsp__evfile_seg_create(s, e->offset, e->time)) != 0)
    return rc;
  g = &s->segs[s->nseg - 1];
  if (g->count && g->end + size > fs->segment_bytes) {
    if ((rc = rotate(s, e->offset, e->time)) != 0)
      return rc;
    g = &s->segs[s->nseg - 1];
  }
  if ((rc = wsp__evfile_idx_reserve(fs, g)) != 0)
    return rc;
  at = g->end;
  if (fs->policy == WSP_EVLOG_FSYNC_ALWAYS) {
    if ((rc = wsp__evfile_scratch_reserve(fs, size)) != 0 ||
        (rc = wsp__evfile_stream_fd(s, &fd)) != 0)
      return rc;
    wsp__evfile_rec_encode(fs->scratch, e);
    rc = wsp__evfile_pwrite_all(fs, fd, fs->scratch, size, at);
    if (rc == 0)
      rc = wsp__evfile_do_fsync(fs, fd, 1);
    if (rc != 0) {
      if (ftruncate(fd, (off_t)at) != 0)
        (void)wsp__evfile_io_err(fs, errno);
      return rc;
    }
    s->flushed = at + size;
  } else {
    if ((rc = wsp__evfile_mark(s)) != 0)
      return rc;
    if (s->wlen && s->wlen + size > fs->write_buffer && (rc = flush(s)) != 0)
      return rc;
    if (s->wlen + size > s->wcap) {
      size_t cap = s->wcap ? s->wcap : 4096;
      uint8_t *p;
      while (cap < s->wlen + size)
        cap *= 2;
      if (!(p = wsp__realloc(&fs->mem, s->wbuf, cap)))
        return WSP_ERR_NOMEM;
      s->wbuf = p;
      s->wcap = cap;
    }
    wsp__evfile_rec_encode(s->wbuf + s->wlen, e);
    s->wlen += size;
    wsp__evfile_dirty_add(fs, s, e->time);
  }
  g->end = at + size;
  g->count++;
  wsp__evfile_idx_note(fs, g, e->offset, at);
  return 0;
}

static int fs_head(struct wsp_evlog_store *st, void *stream, uint64_t offset,
                   uint64_t *time, uint64_t *size) {
  struct fstream *s = stream;
  const uint8_t *h;
  struct rec r;
  uint64_t pos, off;
  size_t si = 0;
  int rc;
  WSP__UNUSED(st);
  if (s->head_ok && s->head_off <= offset && s->nseg &&
      s->segs[si = wsp__evfile_seg_find(s, s->head_off)].base == s->head_base) {
    pos = s->head_pos;
    off = s->head_off;
  } else {
    if ((rc = wsp__evfile_locate(s, &s->hw, HEAD_CHUNK, offset, &si, &pos)) !=
        0)
      return rc;
    off = offset;
  }
  s->head_ok = 0;
  for (;;) {
    const struct seg *g = &s->segs[si];
    if (pos >= g->end) {
      if (si + 1 >= s->nseg || s->segs[si + 1].base != off)
        return WSP_ERR_CORRUPT;
      si++;
      pos = SEG_HDR;
      continue;
    }
    if ((rc = wsp__evfile_win_get(s, &s->hw, HEAD_CHUNK, si, pos, REC_HDR,
                                  &h)) != 0)
      return rc;
    if (!wsp__evfile_rec_parse(h, off, g->end - pos, &r)) {
      s->fs->stats.corrupt++;
      return WSP_ERR_CORRUPT;
    }
    if (off == offset)
      break;
    pos += r.size;
    off++;
  }
  s->head_ok = 1;
  s->head_off = offset;
  s->head_base = s->segs[si].base;
  s->head_pos = pos;
  *time = r.time;
  *size = r.size;
  return 0;
}

/* ---- Retention, reset, removal ---------------------------------------- */

static int fs_trim(struct wsp_evlog_store *st, void *stream, uint64_t first,
                   uint64_t now) {
  struct fstream *s = stream;
  int deleted = 0;
  WSP__UNUSED(st);
  s->first = first;
  while (s->nseg > 1 && s->segs[1].base <= first) {
    wsp__evfile_seg_delete(s, 0);
    deleted = 1;
  }
  if (s->nseg) {
    const struct seg *g = &s->segs[s->nseg - 1];
    uint64_t next = g->base + g->count;
    /* Nothing left: an empty segment at the next offset keeps the top
     * across a restart; only then does the old one go. */
    if (g->count && first >= next &&
        wsp__evfile_seg_create(s, next, now) == 0) {
      wsp__evfile_seg_delete(s, s->nseg - 2);
      deleted = 1;
    }
  }
  if (deleted)
    (void)wsp__evfile_dir_changed(s, now);
  return 0;
}

static int fs_set_epoch(struct wsp_evlog_store *st, void *stream,
                        const char *epoch) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  int rc = wsp__evfile_meta_write(fs, s, epoch);
  if (rc != 0)
    return rc;
  strcpy(s->epoch, epoch);
  s->top_saved_ok = 0;
  if (s->need_epoch && !s->wlen && !s->dirty)
    wsp__evfile_unmark(s);
  s->need_epoch = 0;
  return 0;
}

static int fs_reset(struct wsp_evlog_store *st, void *stream, const char *epoch,
                    uint64_t now) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  int rc = wsp__evfile_meta_write(fs, s, epoch);
  if (rc != 0)
    return rc;
  /* From here on the old history is gone whatever fails: the new epoch
   * is on disk. */
  strcpy(s->epoch, epoch);
  s->top_saved_ok = 0;
  wsp__evfile_unlink_in(s, "SNAPSHOT");
  s->has_snap = 0;
  wsp__evfile_stream_close_fd(s);
  s->wlen = 0;
  while (s->nseg)
    wsp__evfile_seg_delete(s, s->nseg - 1);
  s->gen++;
  s->head_ok = 0;
  s->first = 1;
  (void)wsp__evfile_seg_create(s, 1, now);
  return 0;
}

static int fs_remove(struct wsp_evlog_store *st, void *stream) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  int rc;
  wsp__evfile_stream_close_fd(s);
  rc = wsp__evfile_clear_dir(fs, s->rel);
  if (rc == 0 && wsp__evfile_unlink(fs, s->rel, AT_REMOVEDIR) != 0 &&
      errno != ENOENT)
    rc = wsp__evfile_io_err(fs, errno);
  if (rc == 0 && fs->policy == WSP_EVLOG_FSYNC_ALWAYS)
    rc = wsp__evfile_sync_dir(fs, "streams");
  wsp__evfile_stream_free(fs, s);
  return rc;
}

/* ---- Snapshots -------------------------------------------------------- */

static int fs_snapshot_put(struct wsp_evlog_store *st, void *stream,
                           const struct wsp_evlog_snapshot *snap) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  uint8_t h[SNAP_HDR];
  int rc;
  memcpy(h, SNAP_MAGIC, 8);
  put64(h + 8, snap->offset);
  put64(h + 16, snap->time);
  put64(h + 24, snap->state.len);
  put32(h + 32, wsp__evfile_crc32c(wsp__evfile_crc32c(0, h, 32),
                                   snap->state.ptr, snap->state.len));
  put32(h + 36, 0);
  rc = wsp__evfile_write_atomic(fs, s->rel, "SNAPSHOT", h, SNAP_HDR,
                                snap->state.ptr, snap->state.len);
  if (rc != 0)
    return rc;
  s->has_snap = 1;
  s->snap_off = snap->offset;
  return 0;
}

static int fs_snapshot_get(struct wsp_evlog_store *st, void *stream,
                           int (*cb)(const struct wsp_evlog_snapshot *snap,
                                     void *ctx),
                           void *ctx) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  struct wsp_evlog_snapshot snap;
  char path[PATH_CAP], *buf;
  const uint8_t *b;
  size_t len;
  int rc;
  if (!s->has_snap)
    return WSP_ERR_NOT_FOUND;
  wsp__evfile_path_of(path, s, "SNAPSHOT");
  rc = wsp__evfile_read_small(fs, path, SNAP_HDR + WSP_EVLOG_SNAPSHOT_MAX, &buf,
                              &len);
  if (rc != 0)
    return rc == WSP_ERR_CORRUPT ? WSP_ERR_NOT_FOUND : rc;
  b = (const uint8_t *)buf;
  if (len < SNAP_HDR || memcmp(b, SNAP_MAGIC, 8) != 0 ||
      get64(b + 24) != len - SNAP_HDR ||
      wsp__evfile_crc32c(wsp__evfile_crc32c(0, b, 32), b + SNAP_HDR,
                         len - SNAP_HDR) != get32(b + 32)) {
    /* A damaged snapshot is no snapshot: readers fall back to events. */
    fs->stats.corrupt++;
    wsp__free(&fs->mem, buf);
    return WSP_ERR_NOT_FOUND;
  }
  snap.offset = get64(b + 8);
  snap.time = get64(b + 16);
  snap.state.ptr = buf + SNAP_HDR;
  snap.state.len = len - SNAP_HDR;
  (void)cb(&snap, ctx);
  wsp__free(&fs->mem, buf);
  return 0;
}

/* ---- Time, durability, life cycle ------------------------------------- */

static int fs_tick(struct wsp_evlog_store *st, uint64_t now) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s, *next;
  int rc = 0;
  if (!fs->dirty || now < fs->next_sync)
    return 0;
  for (s = fs->dirty; s; s = next) {
    int e;
    next = s->dnext;
    e = sync_stream(s, 0);
    if (e && !rc)
      rc = e;
  }
  fs->next_sync = now + fs->interval;
  return rc;
}

static uint64_t fs_next_deadline(const struct wsp_evlog_store *st) {
  const struct fstore *fs = (const struct fstore *)st;
  return fs->dirty ? fs->next_sync : WSP_NO_DEADLINE;
}

static int sync_all(struct fstore *fs) {
  struct fstream *s;
  int rc = 0, e;
  for (s = fs->streams; s; s = s->next)
    if ((e = sync_stream(s, 1)) != 0 && !rc)
      rc = e;
  if ((e = wsp__evfile_sync_dir(fs, "streams")) != 0 && !rc)
    rc = e;
  return rc;
}

static int fs_sync(struct wsp_evlog_store *st) {
  return sync_all((struct fstore *)st);
}

static void fs_stats(const struct wsp_evlog_store *st,
                     struct wsp_evlog_stats *out) {
  const struct fstore *fs = (const struct fstore *)st;
  const struct fstream *s;
  out->writes += fs->stats.writes;
  out->fsyncs += fs->stats.fsyncs;
  out->torn_records += fs->stats.torn_records;
  out->corrupt += fs->stats.corrupt;
  out->io_errors += fs->stats.io_errors;
  for (s = fs->streams; s; s = s->next)
    out->segments += s->nseg;
}

static void fs_close(struct wsp_evlog_store *st) {
  struct fstore *fs = (struct fstore *)st;
  struct wsp_mem mem = fs->mem;
  int ok = 1, pending = fs->suspect;
  struct fstream *s;
  if (fs->root >= 0) {
    ok = sync_all(fs) == 0;
    /* What is synced now is what the next open must find. */
    for (s = fs->streams; s; s = s->next)
      if (!s->dirty && !s->wlen && !s->sync_failed)
        wsp__evfile_top_write(s);
    if (fs->load_done) {
      pending = 0;
      for (s = fs->streams; s; s = s->next)
        pending |= s->need_epoch;
      pending = pending && fs->suspect;
    }
    /* Clean only when everything acknowledged is on disk. */
    (void)wsp__evfile_state_write(fs, ok && !pending, pending);
  }
  while (fs->streams)
    wsp__evfile_stream_free(fs, fs->streams);
  wsp__evfile_win_free(fs, &fs->rw);
  wsp__free(&mem, fs->scratch);
  wsp__free(&mem, fs->rrefs);
  if (fs->lockfd >= 0)
    close(fs->lockfd);
  if (fs->root >= 0)
    close(fs->root);
  wsp__free(&mem, fs);
}

static const struct wsp_evlog_store_ops file_ops = {
    wsp__evfile_fs_load,
    wsp__evfile_fs_create,
    fs_append,
    wsp__evfile_fs_read,
    fs_head,
    fs_trim,
    fs_set_epoch,
    fs_reset,
    fs_remove,
    fs_snapshot_put,
    fs_snapshot_get,
    fs_tick,
    fs_next_deadline,
    fs_sync,
    fs_stats,
    fs_close,
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

int wsp_evlog_file_store_new(struct wsp_evlog_store **pstore, const char *dir,
                             const struct wsp_evlog_file_options *o,
                             const struct wsp_mem *mem) {
  struct wsp_evlog_file_options def;
  struct state prev;
  struct fstore *fs;
  struct wsp_mem m;
  int rc, made;
  if (pstore)
    *pstore = NULL;
  memset(&def, 0, sizeof(def));
  if (!o)
    o = &def;
  if (!pstore || !dir || !*dir || o->fsync < 0 ||
      o->fsync > WSP_EVLOG_FSYNC_NEVER ||
      (o->segment_bytes &&
       (o->segment_bytes < 256 || o->segment_bytes > ((uint64_t)1 << 30))) ||
      o->write_buffer > ((size_t)64 << 20))
    return WSP_ERR_INVAL;
  wsp__mem_init(&m, mem);
  if (!(fs = wsp__malloc(&m, sizeof(*fs))))
    return WSP_ERR_NOMEM;
  memset(fs, 0, sizeof(*fs));
  fs->base.ops = &file_ops;
  fs->mem = m;
  fs->root = fs->lockfd = -1;
  fs->policy = o->fsync ? o->fsync : WSP_EVLOG_FSYNC_INTERVAL;
  fs->interval = o->interval ? o->interval : 1000;
  fs->segment_bytes = o->segment_bytes ? o->segment_bytes : (16u << 20);
  fs->index_bytes = o->index_bytes ? o->index_bytes : 4096;
  fs->max_open = o->max_open_files ? o->max_open_files : 256;
  fs->write_buffer = o->write_buffer ? o->write_buffer : 64 * 1024;
  made = mkdir(dir, 0755) == 0;
  if (!made && errno != EEXIST) {
    rc = wsp__evfile_io_err(fs, errno);
    goto fail;
  }
  fs->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fs->root < 0) {
    rc = wsp__evfile_io_err(fs, errno);
    goto fail;
  }
  /* dir itself may be a link (the application chose it); nothing in it
   * may. */
  fs->lockfd = wsp__evfile_open(fs, "LOCK", O_CREAT | O_RDWR, NULL);
  if (fs->lockfd < 0) {
    rc = wsp__evfile_io_err(fs, errno);
    goto fail;
  }
  if (flock(fs->lockfd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK ? WSP_ERR_STATE : wsp__evfile_io_err(fs, errno);
    goto fail;
  }
  if (mkdirat(fs->root, "streams", 0755) != 0 && errno != EEXIST) {
    rc = wsp__evfile_io_err(fs, errno);
    goto fail;
  }
  wsp__evfile_read_boot_id(fs->boot);
  wsp__evfile_state_read(fs, &prev);
  /* Acknowledged events may be missing when the last run did not close
   * cleanly, did not fsync every append, and the machine restarted since
   * (the page cache is gone), or when it said so itself. A directory
   * without STATE is new, or of unknown history. */
  fs->suspect = !prev.exists || prev.suspect ||
                (!prev.clean && prev.policy != WSP_EVLOG_FSYNC_ALWAYS &&
                 (!fs->boot[0] || strcmp(prev.boot, fs->boot) != 0));
  if ((rc = wsp__evfile_state_write(fs, 0, fs->suspect)) != 0)
    goto fail;
  if (made)
    (void)wsp__evfile_sync_dir(fs, "..");
  *pstore = &fs->base;
  return 0;
fail:
  if (fs->lockfd >= 0)
    close(fs->lockfd);
  if (fs->root >= 0)
    close(fs->root);
  wsp__free(&m, fs);
  return rc;
}
