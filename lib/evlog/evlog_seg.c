/*
 * The file store's segments: CRC-32C, system calls that retry and map
 * errno to WSP_ERR_* codes, the LRU of open segment files, read-ahead
 * windows, records and their sparse index, finding a record by offset,
 * and reading records forwards and backwards. The layout is described at
 * the top of evlog_file.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evlog_private.h"

/* ---- CRC-32C (Castagnoli), reflected, table-driven -------------------- */

static const uint32_t crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t wsp__evfile_crc32c(uint32_t crc, const void *p, size_t n) {
  const uint8_t *b = p;
  crc = ~crc;
  while (n--)
    crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ---- System calls ----------------------------------------------------- */

int wsp__evfile_io_err(struct fstore *fs, int e) {
  /* A link where a store file belongs: see wsp__evfile_open(). */
  if (e == ELOOP) {
    fs->stats.corrupt++;
    return WSP_ERR_CORRUPT;
  }
  fs->stats.io_errors++;
  switch (e) {
  case ENOSPC:
  case EDQUOT:
  case EFBIG:
    return WSP_ERR_NOSPACE;
  case ENOMEM:
    return WSP_ERR_NOMEM;
  default:
    return WSP_ERR_IO;
  }
}

int wsp__evfile_pwrite_all(struct fstore *fs, int fd, const void *buf, size_t n,
                           uint64_t pos) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, (off_t)pos);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return wsp__evfile_io_err(fs, errno);
    }
    if (w == 0)
      return wsp__evfile_io_err(fs, ENOSPC);
    p += w;
    n -= (size_t)w;
    pos += (uint64_t)w;
  }
  fs->stats.writes++;
  return 0;
}

/* Read exactly n bytes; a file that ends first is corrupt. */
int wsp__evfile_pread_all(struct fstore *fs, int fd, void *buf, size_t n,
                          uint64_t pos) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = pread(fd, p, n, (off_t)pos);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return wsp__evfile_io_err(fs, errno);
    }
    if (r == 0)
      return WSP_ERR_CORRUPT;
    p += r;
    n -= (size_t)r;
    pos += (uint64_t)r;
  }
  return 0;
}

/* ---- Paths, following no symbolic link ------------------------------ */

/*
 * Every file of the store is reached from the root through directories
 * opened with O_NOFOLLOW, and opened with O_NOFOLLOW itself: a link put
 * in the data directory must never make the store read, truncate or
 * delete a file elsewhere. A link fails with errno ELOOP, which
 * wsp__evfile_io_err() turns into WSP_ERR_CORRUPT.
 */
static int dir_at(int dfd, const char *name) {
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  /* Linux says ENOTDIR for a link to a directory. */
  if (fd < 0 && errno == ENOTDIR &&
      fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    errno = ELOOP;
  return fd;
}

/* The directory of the first len bytes of rel; fs->root when len is 0
 * (not to be closed: see wsp__evfile_dir_put()). */
static int walk(struct fstore *fs, const char *rel, size_t len) {
  char buf[PATH_CAP];
  size_t i = 0;
  int fd = fs->root;
  if (len >= sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, rel, len);
  buf[len] = '\0';
  while (i < len) {
    char *comp = buf + i, *slash = strchr(comp, '/');
    int nfd, e;
    if (slash)
      *slash = '\0';
    nfd = dir_at(fd, comp);
    e = errno;
    if (fd != fs->root)
      close(fd);
    if (nfd < 0) {
      errno = e;
      return -1;
    }
    fd = nfd;
    i += strlen(comp) + 1;
  }
  return fd;
}

void wsp__evfile_dir_put(struct fstore *fs, int dfd) {
  if (dfd >= 0 && dfd != fs->root)
    close(dfd);
}

int wsp__evfile_parent(struct fstore *fs, const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  return walk(fs, path, slash ? (size_t)(slash - path) : 0);
}

int wsp__evfile_dir_open(struct fstore *fs, const char *rel) {
  const char *name;
  int dfd = wsp__evfile_parent(fs, rel, &name), fd, e;
  if (dfd < 0)
    return -1;
  fd = dir_at(dfd, name);
  e = errno;
  wsp__evfile_dir_put(fs, dfd);
  errno = e;
  return fd;
}

/* Open name in directory dfd, as wsp__evfile_open() describes. */
static int open_in(int dfd, const char *name, int flags, struct stat *pst) {
  struct stat st;
  int fd, e = 0;
  /* O_NONBLOCK: opening a FIFO must not hang; it changes nothing for a
   * regular file. O_TRUNC waits until the file is known to be ours. */
  fd = openat(dfd, name,
              (flags & ~O_TRUNC) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0)
    e = errno;
  else if (!S_ISREG(st.st_mode))
    e = S_ISDIR(st.st_mode) ? EISDIR : ENXIO;
  else if ((flags & O_TRUNC) && st.st_nlink > 1)
    e = ELOOP; /* a hard link: truncating would reach the other name */
  else if ((flags & O_TRUNC) && st.st_size > 0 && ftruncate(fd, 0) != 0)
    e = errno;
  if (e) {
    close(fd);
    errno = e;
    return -1;
  }
  if (pst) {
    *pst = st;
    if (flags & O_TRUNC)
      pst->st_size = 0;
  }
  return fd;
}

int wsp__evfile_open(struct fstore *fs, const char *path, int flags,
                     struct stat *pst) {
  const char *name;
  int dfd = wsp__evfile_parent(fs, path, &name), fd, e;
  if (dfd < 0)
    return -1;
  fd = open_in(dfd, name, flags, pst);
  e = errno;
  wsp__evfile_dir_put(fs, dfd);
  errno = e;
  return fd;
}

int wsp__evfile_unlink(struct fstore *fs, const char *path, int flags) {
  const char *name;
  int dfd = wsp__evfile_parent(fs, path, &name), rc, e;
  if (dfd < 0)
    return -1;
  rc = unlinkat(dfd, name, flags);
  e = errno;
  wsp__evfile_dir_put(fs, dfd);
  errno = e;
  return rc;
}

int wsp__evfile_mkdir(struct fstore *fs, const char *path) {
  const char *name;
  int dfd = wsp__evfile_parent(fs, path, &name), rc, e;
  if (dfd < 0)
    return -1;
  rc = mkdirat(dfd, name, 0755);
  e = errno;
  wsp__evfile_dir_put(fs, dfd);
  errno = e;
  return rc;
}

int wsp__evfile_do_fsync(struct fstore *fs, int fd, int data_only) {
  fs->stats.fsyncs++;
  if ((data_only ? fdatasync(fd) : fsync(fd)) != 0)
    return wsp__evfile_io_err(fs, errno);
  return 0;
}

int wsp__evfile_sync_dir(struct fstore *fs, const char *rel) {
  int fd = wsp__evfile_dir_open(fs, rel), rc;
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  rc = wsp__evfile_do_fsync(fs, fd, 0);
  close(fd);
  return rc;
}

void wsp__evfile_path_of(char *out, const struct fstream *s, const char *file) {
  snprintf(out, PATH_CAP, "%s/%s", s->rel, file);
}

void wsp__evfile_seg_file(char *out, const struct fstream *s, uint64_t base,
                          const char *ext) {
  snprintf(out, PATH_CAP, "%s/%020llu.%s", s->rel, (unsigned long long)base,
           ext);
}

/*
 * Write a small file atomically: a temporary file, fsync, rename over the
 * old one, fsync of the directory. A crash leaves the old or the new
 * content, never a mix.
 */
int wsp__evfile_write_atomic(struct fstore *fs, const char *dir,
                             const char *name, const void *a, size_t alen,
                             const void *b, size_t blen) {
  char tmp[PATH_CAP];
  int dfd, fd, rc;
  snprintf(tmp, sizeof(tmp), "%s.tmp", name);
  if ((dfd = wsp__evfile_dir_open(fs, dir)) < 0)
    return wsp__evfile_io_err(fs, errno);
  /* One walk to the directory serves the open, the rename and the
   * fsync. */
  fd = open_in(dfd, tmp, O_CREAT | O_TRUNC | O_WRONLY, NULL);
  rc = fd < 0 ? wsp__evfile_io_err(fs, errno) : 0;
  if (rc == 0)
    rc = wsp__evfile_pwrite_all(fs, fd, a, alen, 0);
  if (rc == 0 && blen)
    rc = wsp__evfile_pwrite_all(fs, fd, b, blen, alen);
  if (rc == 0)
    rc = wsp__evfile_do_fsync(fs, fd, 0);
  if (fd >= 0)
    close(fd);
  if (rc == 0 && renameat(dfd, tmp, dfd, name) != 0)
    rc = wsp__evfile_io_err(fs, errno);
  /* A refused temporary file (a link) is left alone: removing it would
   * hide what happened; opening the store again removes leftovers. */
  if (rc != 0 && rc != WSP_ERR_CORRUPT)
    unlinkat(dfd, tmp, 0);
  if (rc == 0)
    rc = wsp__evfile_do_fsync(fs, dfd, 0);
  close(dfd);
  return rc;
}

/* Read a whole small file into a NUL-terminated heap buffer. */
int wsp__evfile_read_small(struct fstore *fs, const char *path, size_t max,
                           char **out, size_t *olen) {
  struct stat st;
  char *buf;
  int fd = wsp__evfile_open(fs, path, O_RDONLY, &st), rc;
  if (fd < 0)
    return errno == ENOENT ? WSP_ERR_NOT_FOUND : wsp__evfile_io_err(fs, errno);
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return WSP_ERR_CORRUPT;
  }
  buf = wsp__malloc(&fs->mem, (size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return WSP_ERR_NOMEM;
  }
  rc = wsp__evfile_pread_all(fs, fd, buf, (size_t)st.st_size, 0);
  close(fd);
  if (rc != 0) {
    wsp__free(&fs->mem, buf);
    return rc;
  }
  buf[st.st_size] = '\0';
  *out = buf;
  *olen = (size_t)st.st_size;
  return 0;
}

int wsp__evfile_scratch_reserve(struct fstore *fs, size_t n) {
  uint8_t *p;
  if (n == 0)
    n = 1; /* never a NULL buffer, even for empty events */
  if (n <= fs->scratch_cap)
    return 0;
  p = wsp__realloc(&fs->mem, fs->scratch, n);
  if (!p)
    return WSP_ERR_NOMEM;
  fs->scratch = p;
  fs->scratch_cap = n;
  return 0;
}

/* ---- Open files ------------------------------------------------------- */

static void lru_unlink(struct fstore *fs, struct fstream *s) {
  if (s->lru_prev)
    s->lru_prev->lru_next = s->lru_next;
  else
    fs->lru_head = s->lru_next;
  if (s->lru_next)
    s->lru_next->lru_prev = s->lru_prev;
  else
    fs->lru_tail = s->lru_prev;
  s->lru_prev = s->lru_next = NULL;
}

static void lru_front(struct fstore *fs, struct fstream *s) {
  s->lru_next = fs->lru_head;
  s->lru_prev = NULL;
  if (fs->lru_head)
    fs->lru_head->lru_prev = s;
  else
    fs->lru_tail = s;
  fs->lru_head = s;
}

void wsp__evfile_stream_close_fd(struct fstream *s) {
  if (s->fd < 0)
    return;
  lru_unlink(s->fs, s);
  close(s->fd);
  s->fd = -1;
  s->fs->nopen--;
}

/* Adopt fd as s's active file, closing the previous one. */
void wsp__evfile_stream_set_fd(struct fstream *s, int fd) {
  struct fstore *fs = s->fs;
  wsp__evfile_stream_close_fd(s);
  while (fs->nopen >= fs->max_open && fs->lru_tail)
    wsp__evfile_stream_close_fd(fs->lru_tail);
  s->fd = fd;
  fs->nopen++;
  lru_front(fs, s);
}

/* The active segment's file, opened on demand. */
int wsp__evfile_stream_fd(struct fstream *s, int *out) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  int fd;
  if (s->fd >= 0) {
    if (fs->lru_head != s) {
      lru_unlink(fs, s);
      lru_front(fs, s);
    }
    *out = s->fd;
    return 0;
  }
  if (!s->nseg)
    return WSP_ERR_STATE;
  wsp__evfile_seg_file(path, s, s->segs[s->nseg - 1].base, "seg");
  fd = wsp__evfile_open(fs, path, O_RDWR, NULL);
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  wsp__evfile_stream_set_fd(s, fd);
  *out = fd;
  return 0;
}

/* Read n bytes at pos of segment si: the active one may have the end of
 * its data in the write buffer; sealed ones are opened for the call. */
static int seg_read(struct fstream *s, size_t si, void *dst, size_t n,
                    uint64_t pos) {
  struct fstore *fs = s->fs;
  const struct seg *g = &s->segs[si];
  int fd, rc = 0;
  if (pos > g->end || n > g->end - pos)
    return WSP_ERR_CORRUPT;
  if (si + 1 == s->nseg) {
    size_t infile =
        pos >= s->flushed ? 0 : (size_t)WSP__MIN(n, s->flushed - pos);
    if (infile) {
      if ((rc = wsp__evfile_stream_fd(s, &fd)) != 0 ||
          (rc = wsp__evfile_pread_all(fs, fd, dst, infile, pos)) != 0)
        return rc;
    }
    if (n > infile)
      memcpy((uint8_t *)dst + infile, s->wbuf + (pos + infile - s->flushed),
             n - infile);
    return 0;
  } else {
    char path[PATH_CAP];
    wsp__evfile_seg_file(path, s, g->base, "seg");
    fd = wsp__evfile_open(fs, path, O_RDONLY, NULL);
    if (fd < 0)
      return wsp__evfile_io_err(fs, errno);
    rc = wsp__evfile_pread_all(fs, fd, dst, n, pos);
    close(fd);
    return rc;
  }
}

/* Point *p at n bytes at pos of segment si, through window w. */
int wsp__evfile_win_get(struct fstream *s, struct win *w, size_t chunk,
                        size_t si, uint64_t pos, size_t n, const uint8_t **p) {
  const struct seg *g = &s->segs[si];
  size_t len;
  int rc;
  if (w->owner == s && w->base == g->base && w->gen == s->gen &&
      pos >= w->pos && pos - w->pos <= w->len && n <= w->len - (pos - w->pos)) {
    *p = w->buf + (pos - w->pos);
    return 0;
  }
  if (pos > g->end || n > g->end - pos)
    return WSP_ERR_CORRUPT;
  len = (size_t)WSP__MIN(g->end - pos, (uint64_t)(n > chunk ? n : chunk));
  if (len > w->cap) {
    uint8_t *b = wsp__realloc(&s->fs->mem, w->buf, len);
    if (!b)
      return WSP_ERR_NOMEM;
    w->buf = b;
    w->cap = len;
  }
  w->owner = NULL;
  if ((rc = seg_read(s, si, w->buf, len, pos)) != 0)
    return rc;
  w->owner = s;
  w->gen = s->gen;
  w->base = g->base;
  w->pos = pos;
  w->len = len;
  *p = w->buf;
  return 0;
}

void wsp__evfile_win_free(struct fstore *fs, struct win *w) {
  wsp__free(&fs->mem, w->buf);
  memset(w, 0, sizeof(*w));
}

/* ---- Records ---------------------------------------------------------- */

/* Decode a record header; 0 when it cannot start a record at offset off
 * with at most room bytes left in its segment. */
int wsp__evfile_rec_parse(const uint8_t *h, uint64_t off, uint64_t room,
                          struct rec *r) {
  r->len = get32(h + 4);
  r->ilen = get32(h + 8);
  r->offset = get64(h + 16);
  r->time = get64(h + 24);
  r->size = (uint64_t)REC_HDR + r->len + r->ilen;
  return get32(h + 12) == 0 && r->offset == off &&
         (uint64_t)r->len + r->ilen <= WSP_EVLOG_EVENT_MAX && r->size <= room;
}

int wsp__evfile_rec_crc_ok(const uint8_t *rec, uint64_t size) {
  return wsp__evfile_crc32c(0, rec + 4, (size_t)size - 4) == get32(rec);
}

void wsp__evfile_rec_encode(uint8_t *dst, const struct wsp_evlog_event *e) {
  put32(dst + 4, (uint32_t)e->data.len);
  put32(dst + 8, (uint32_t)e->info.len);
  put32(dst + 12, 0);
  put64(dst + 16, e->offset);
  put64(dst + 24, e->time);
  if (e->data.len)
    memcpy(dst + REC_HDR, e->data.ptr, e->data.len);
  if (e->info.len)
    memcpy(dst + REC_HDR + e->data.len, e->info.ptr, e->info.len);
  put32(dst, wsp__evfile_crc32c(0, dst + 4,
                                REC_HDR - 4 + e->data.len + e->info.len));
}

void wsp__evfile_seg_header(uint8_t h[SEG_HDR], uint64_t base,
                            uint64_t created) {
  memcpy(h, SEG_MAGIC, 8);
  put64(h + 8, base);
  put64(h + 16, created);
  put32(h + 24, 0);
  put32(h + 28, wsp__evfile_crc32c(0, h, 28));
}

/* Room for one more index entry, so that recording it cannot fail. */
int wsp__evfile_idx_reserve(struct fstore *fs, struct seg *g) {
  if (g->nidx < g->idx_cap)
    return 0;
  {
    size_t cap = g->idx_cap ? g->idx_cap * 2 : 16;
    uint32_t *p = wsp__realloc(&fs->mem, g->idx, cap * 2 * sizeof(*p));
    if (!p)
      return WSP_ERR_NOMEM;
    g->idx = p;
    g->idx_cap = cap;
  }
  return 0;
}

/* Record that offset starts at pos, if the last entry is far enough. */
void wsp__evfile_idx_note(struct fstore *fs, struct seg *g, uint64_t offset,
                          uint64_t pos) {
  uint64_t last = g->nidx ? g->idx[2 * g->nidx - 1] : SEG_HDR;
  if (pos - last < fs->index_bytes || g->nidx == g->idx_cap)
    return;
  g->idx[2 * g->nidx] = (uint32_t)(offset - g->base);
  g->idx[2 * g->nidx + 1] = (uint32_t)pos;
  g->nidx++;
}

void wsp__evfile_idx_write(struct fstore *fs, struct fstream *s,
                           const struct seg *g) {
  uint8_t h[IDX_HDR], tail[4];
  char path[PATH_CAP];
  size_t i, n = g->nidx * 8;
  uint8_t *ent = wsp__malloc(&fs->mem, n);
  uint32_t crc;
  int fd;
  if (!ent)
    return;
  for (i = 0; i < g->nidx; i++) {
    put32(ent + 8 * i, g->idx[2 * i]);
    put32(ent + 8 * i + 4, g->idx[2 * i + 1]);
  }
  memcpy(h, IDX_MAGIC, 8);
  put64(h + 8, g->base);
  put64(h + 16, g->end);
  put64(h + 24, g->count);
  put64(h + 32, g->nidx);
  crc = wsp__evfile_crc32c(wsp__evfile_crc32c(0, h, IDX_HDR), ent, n);
  put32(tail, crc);
  wsp__evfile_seg_file(path, s, g->base, "idx");
  fd = wsp__evfile_open(fs, path, O_CREAT | O_TRUNC | O_WRONLY, NULL);
  if (fd < 0) {
    (void)wsp__evfile_io_err(fs, errno);
  } else {
    /* A hint only: opening checks it and rebuilds it when it is bad. */
    if (wsp__evfile_pwrite_all(fs, fd, h, IDX_HDR, 0) == 0 &&
        wsp__evfile_pwrite_all(fs, fd, ent, n, IDX_HDR) == 0)
      (void)wsp__evfile_pwrite_all(fs, fd, tail, 4, IDX_HDR + n);
    close(fd);
  }
  wsp__free(&fs->mem, ent);
}

/* Load a sealed segment's index if it matches the segment; 0 when it
 * does. */
int wsp__evfile_idx_load(struct fstore *fs, struct fstream *s, struct seg *g,
                         uint64_t size, uint64_t next_base) {
  char path[PATH_CAP], *buf;
  const uint8_t *b;
  size_t len, n, i;
  uint64_t prev_pos = SEG_HDR, prev_rel = 0;
  int rc;
  wsp__evfile_seg_file(path, s, g->base, "idx");
  if (wsp__evfile_read_small(fs, path, (size_t)1 << 30, &buf, &len) != 0)
    return -1;
  b = (const uint8_t *)buf;
  rc = -1;
  if (len < IDX_HDR + 4 || memcmp(b, IDX_MAGIC, 8) != 0)
    goto out;
  n = (size_t)get64(b + 32);
  if (get64(b + 8) != g->base || get64(b + 16) != size ||
      get64(b + 24) != next_base - g->base || len != IDX_HDR + 8 * n + 4 ||
      wsp__evfile_crc32c(0, b, len - 4) != get32(b + len - 4))
    goto out;
  g->idx = wsp__malloc(&fs->mem, (n ? n : 1) * 2 * sizeof(uint32_t));
  if (!g->idx)
    goto out;
  g->idx_cap = n ? n : 1;
  for (i = 0; i < n; i++) {
    uint32_t rel = get32(b + IDX_HDR + 8 * i);
    uint32_t pos = get32(b + IDX_HDR + 8 * i + 4);
    if (rel <= prev_rel || pos <= prev_pos || pos >= size ||
        rel >= next_base - g->base) {
      wsp__free(&fs->mem, g->idx);
      g->idx = NULL;
      g->idx_cap = 0;
      goto out;
    }
    g->idx[2 * i] = rel;
    g->idx[2 * i + 1] = pos;
    prev_rel = rel;
    prev_pos = pos;
  }
  g->nidx = n;
  g->count = next_base - g->base;
  g->end = size;
  rc = 0;
out:
  wsp__free(&fs->mem, buf);
  return rc;
}

/* ---- Finding records -------------------------------------------------- */

/* The segment whose base is the largest not above offset. */
size_t wsp__evfile_seg_find(const struct fstream *s, uint64_t offset) {
  size_t lo = 0, hi = s->nseg;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->segs[mid].base <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* Where the record with offset starts: the nearest index entry, then a
 * walk over at most index_bytes of headers. */
int wsp__evfile_locate(struct fstream *s, struct win *w, size_t chunk,
                       uint64_t offset, size_t *psi, uint64_t *ppos) {
  size_t si = wsp__evfile_seg_find(s, offset), lo = 0, hi;
  const struct seg *g = &s->segs[si];
  uint64_t rel, r0 = 0, pos = SEG_HDR;
  if (!s->nseg || offset < g->base || offset - g->base >= g->count)
    return WSP_ERR_CORRUPT;
  rel = offset - g->base;
  hi = g->nidx;
  while (lo < hi) { /* the first entry above rel */
    size_t mid = lo + (hi - lo) / 2;
    if (g->idx[2 * mid] <= rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > 0) {
    r0 = g->idx[2 * (lo - 1)];
    pos = g->idx[2 * (lo - 1) + 1];
  }
  while (r0 < rel) {
    const uint8_t *h;
    struct rec r;
    int rc = wsp__evfile_win_get(s, w, chunk, si, pos, REC_HDR, &h);
    if (rc != 0)
      return rc;
    if (!wsp__evfile_rec_parse(h, g->base + r0, g->end - pos, &r)) {
      s->fs->stats.corrupt++;
      return WSP_ERR_CORRUPT;
    }
    pos += r.size;
    r0++;
  }
  *psi = si;
  *ppos = pos;
  return 0;
}
