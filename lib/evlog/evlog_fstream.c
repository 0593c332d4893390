/*
 * One stream of the file store: its place on the dirty list that a sync
 * walks, the DIRTY marker, its segment files as they are created and
 * deleted, clearing its directory, and freeing it. Used by the store's
 * methods (evlog_file.c) and by loading (evlog_open.c); builds on the
 * system calls and formats of evlog_seg.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evlog_private.h"

/* ---- Dirty streams ---------------------------------------------------- */

void wsp__evfile_dirty_add(struct fstore *fs, struct fstream *s, uint64_t now) {
  if (s->dirty)
    return;
  if (!fs->dirty)
    fs->next_sync = now + fs->interval;
  s->dirty = 1;
  s->dprev = NULL;
  s->dnext = fs->dirty;
  if (fs->dirty)
    fs->dirty->dprev = s;
  fs->dirty = s;
}

void wsp__evfile_dirty_remove(struct fstore *fs, struct fstream *s) {
  if (!s->dirty)
    return;
  if (s->dprev)
    s->dprev->dnext = s->dnext;
  else
    fs->dirty = s->dnext;
  if (s->dnext)
    s->dnext->dprev = s->dprev;
  s->dirty = 0;
  s->dprev = s->dnext = NULL;
}

int wsp__evfile_mark(struct fstream *s) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  int fd;
  if (s->marked)
    return 0;
  wsp__evfile_path_of(path, s, "DIRTY");
  fd = wsp__evfile_open(fs, path, O_CREAT | O_WRONLY, NULL);
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  close(fd);
  s->marked = 1;
  return 0;
}

void wsp__evfile_unmark(struct fstream *s) {
  char path[PATH_CAP];
  if (!s->marked || s->sync_failed)
    return;
  wsp__evfile_path_of(path, s, "DIRTY");
  if (wsp__evfile_unlink(s->fs, path, 0) != 0 && errno != ENOENT) {
    (void)wsp__evfile_io_err(s->fs, errno);
    return;
  }
  s->marked = 0;
}

/* Changes to a directory's entries are made durable as the policy says:
 * now (always), at the next sync (interval), at close (never). */
int wsp__evfile_dir_changed(struct fstream *s, uint64_t now) {
  struct fstore *fs = s->fs;
  if (fs->policy == WSP_EVLOG_FSYNC_ALWAYS)
    return wsp__evfile_sync_dir(fs, s->rel);
  s->dir_dirty = 1;
  wsp__evfile_dirty_add(fs, s, now);
  return 0;
}

/* ---- Segment files and the stream's end ---------------------------- */

/* Start a new active segment at base; the previous one is sealed. */
int wsp__evfile_seg_create(struct fstream *s, uint64_t base, uint64_t now) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  uint8_t h[SEG_HDR];
  struct seg *g;
  int fd, rc;
  if (s->nseg == s->seg_cap) {
    size_t cap = s->seg_cap ? s->seg_cap * 2 : 4;
    struct seg *p = wsp__realloc(&fs->mem, s->segs, cap * sizeof(*p));
    if (!p)
      return WSP_ERR_NOMEM;
    s->segs = p;
    s->seg_cap = cap;
  }
  wsp__evfile_seg_file(path, s, base, "seg");
  fd = wsp__evfile_open(fs, path, O_CREAT | O_TRUNC | O_RDWR, NULL);
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  wsp__evfile_seg_header(h, base, now);
  rc = wsp__evfile_pwrite_all(fs, fd, h, SEG_HDR, 0);
  if (rc == 0 && fs->policy == WSP_EVLOG_FSYNC_ALWAYS)
    rc = wsp__evfile_do_fsync(fs, fd, 1);
  if (rc == 0)
    rc = wsp__evfile_dir_changed(s, now);
  if (rc != 0) {
    close(fd);
    wsp__evfile_unlink(fs, path, 0);
    return rc;
  }
  if (fs->policy != WSP_EVLOG_FSYNC_ALWAYS)
    wsp__evfile_dirty_add(fs, s, now);
  wsp__evfile_stream_set_fd(s, fd);
  g = &s->segs[s->nseg++];
  memset(g, 0, sizeof(*g));
  g->base = base;
  g->end = SEG_HDR;
  g->created = now;
  s->flushed = SEG_HDR;
  s->wlen = 0;
  return 0;
}

void wsp__evfile_seg_delete(struct fstream *s, size_t i) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  wsp__evfile_seg_file(path, s, s->segs[i].base, "seg");
  if (wsp__evfile_unlink(fs, path, 0) != 0 && errno != ENOENT)
    (void)wsp__evfile_io_err(fs, errno);
  wsp__evfile_seg_file(path, s, s->segs[i].base, "idx");
  wsp__evfile_unlink(fs, path, 0);
  wsp__free(&fs->mem, s->segs[i].idx);
  memmove(&s->segs[i], &s->segs[i + 1], (s->nseg - i - 1) * sizeof(*s->segs));
  s->nseg--;
}

void wsp__evfile_unlink_in(struct fstream *s, const char *file) {
  char path[PATH_CAP];
  wsp__evfile_path_of(path, s, file);
  if (wsp__evfile_unlink(s->fs, path, 0) != 0 && errno != ENOENT)
    (void)wsp__evfile_io_err(s->fs, errno);
}

/* Delete every file of a stream directory, META first so that a crash
 * half way leaves a directory that loading ignores. */
int wsp__evfile_clear_dir(struct fstore *fs, const char *rel) {
  char path[PATH_CAP];
  struct dirent *de;
  DIR *d;
  int fd, rc = 0;
  snprintf(path, sizeof(path), "%s/META", rel);
  if (wsp__evfile_unlink(fs, path, 0) != 0 && errno != ENOENT)
    return wsp__evfile_io_err(fs, errno);
  fd = wsp__evfile_dir_open(fs, rel);
  if (fd < 0)
    return errno == ENOENT ? 0 : wsp__evfile_io_err(fs, errno);
  if (!(d = fdopendir(fd))) {
    close(fd);
    return wsp__evfile_io_err(fs, errno);
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT && !rc)
      rc = wsp__evfile_io_err(fs, errno);
  }
  closedir(d);
  return rc;
}

void wsp__evfile_stream_free(struct fstore *fs, struct fstream *s) {
  size_t i;
  wsp__evfile_stream_close_fd(s);
  wsp__evfile_dirty_remove(fs, s);
  if (s->prev)
    s->prev->next = s->next;
  else if (fs->streams == s)
    fs->streams = s->next;
  if (s->next)
    s->next->prev = s->prev;
  for (i = 0; i < s->nseg; i++)
    wsp__free(&fs->mem, s->segs[i].idx);
  wsp__free(&fs->mem, s->segs);
  wsp__free(&fs->mem, s->wbuf);
  wsp__evfile_win_free(fs, &s->hw);
  if (fs->rw.owner == s)
    fs->rw.owner = NULL;
  wsp__free(&fs->mem, s->name);
  wsp__free(&fs->mem, s);
}
