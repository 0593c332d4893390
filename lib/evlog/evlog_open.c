/*
 * The file store's opening: stream directory names, the META and STATE
 * files, and loading every stream when a store is opened, which checks
 * segments against their index, cuts a torn tail and decides whether
 * acknowledged events may have been lost (see wsp_evlog(3), "Crashes and
 * loss"); and creating new streams.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha1.h>

#include "evlog_private.h"

static const char *const policy_names[] = {"interval", "always", "interval",
                                           "never"};

/* ---- Names ------------------------------------------------------------ */

/*
 * A stream's directory: the name with every byte outside [A-Za-z0-9_-]
 * (and a leading '.') written as %XX. A long result keeps its first part
 * and ends in '~' and 32 hex digits of the SHA-1 of the name; '~' never
 * appears otherwise, so the two forms cannot meet. META holds the real
 * name and is checked against the directory.
 */
static void escape_name(const char *name, size_t len, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i, n = 0, cut = 0;
  int shortened = 0;
  for (i = 0; i < len; i++) {
    uint8_t c = (uint8_t)name[i];
    int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               (c == '.' && i > 0);
    size_t w = safe ? 1 : 3;
    if (n + w > ESC_MAX) {
      shortened = 1;
      break;
    }
    if (n + w <= ESC_MAX - 40)
      cut = n + w;
    if (safe) {
      out[n++] = (char)c;
    } else {
      out[n++] = '%';
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    }
  }
  if (shortened) {
    struct sha1_ctx ctx;
    uint8_t d[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, len, (const uint8_t *)name);
    sha1_digest(&ctx, sizeof(d), d);
    n = cut;
    out[n++] = '~';
    for (i = 0; i < 16; i++) {
      out[n++] = hex[d[i] >> 4];
      out[n++] = hex[d[i] & 15];
    }
  }
  out[n] = '\0';
}

/* ---- META and STATE --------------------------------------------------- */

int wsp__evfile_meta_write(struct fstore *fs, const struct fstream *s,
                           const char *epoch) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0, i, cap = 64 + WSP_EVLOG_EPOCH_MAX + 2 * s->len;
  char *buf = wsp__malloc(&fs->mem, cap);
  int rc;
  if (!buf)
    return WSP_ERR_NOMEM;
  n = (size_t)snprintf(buf, cap, "wsp-evlog-stream 1\nepoch %s\nname ", epoch);
  for (i = 0; i < s->len; i++) {
    buf[n++] = hex[(uint8_t)s->name[i] >> 4];
    buf[n++] = hex[(uint8_t)s->name[i] & 15];
  }
  buf[n++] = '\n';
  rc = wsp__evfile_write_atomic(fs, s->rel, "META", buf, n, NULL, 0);
  wsp__free(&fs->mem, buf);
  return rc;
}

/* Parse META: fills name (heap) and epoch. */
static int meta_read(struct fstore *fs, const char *rel, char **pname,
                     size_t *plen, char epoch[WSP_EVLOG_EPOCH_MAX + 1]) {
  char path[PATH_CAP], *buf, *p, *e, *name;
  size_t len, n, i;
  int rc;
  snprintf(path, sizeof(path), "%s/META", rel);
  rc = wsp__evfile_read_small(
      fs, path, 64 + WSP_EVLOG_EPOCH_MAX + 2 * WSP_EVLOG_NAME_MAX, &buf, &len);
  if (rc != 0)
    return rc;
  rc = WSP_ERR_CORRUPT;
  p = buf;
  if (strncmp(p, "wsp-evlog-stream 1\nepoch ", 25) != 0)
    goto out;
  p += 25;
  e = strchr(p, '\n');
  if (!e || e == p || (size_t)(e - p) > WSP_EVLOG_EPOCH_MAX)
    goto out;
  memcpy(epoch, p, (size_t)(e - p));
  epoch[e - p] = '\0';
  for (i = 0; epoch[i]; i++)
    if ((uint8_t)epoch[i] <= ' ' || (uint8_t)epoch[i] > '~')
      goto out;
  p = e + 1;
  if (strncmp(p, "name ", 5) != 0)
    goto out;
  p += 5;
  e = strchr(p, '\n');
  if (!e || (e - p) % 2 || e == p || (size_t)(e - p) / 2 > WSP_EVLOG_NAME_MAX)
    goto out;
  n = (size_t)(e - p) / 2;
  name = wsp__malloc(&fs->mem, n + 1);
  if (!name) {
    rc = WSP_ERR_NOMEM;
    goto out;
  }
  for (i = 0; i < n; i++) {
    int hi = wsp__hexval(p[2 * i]), lo = wsp__hexval(p[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      wsp__free(&fs->mem, name);
      goto out;
    }
    name[i] = (char)(hi << 4 | lo);
  }
  name[n] = '\0';
  *pname = name;
  *plen = n;
  rc = 0;
out:
  wsp__free(&fs->mem, buf);
  return rc;
}

/* ---- TOP ------------------------------------------------------------- */

/*
 * TOP records the top offset that a clean close made durable, under the
 * epoch it had. Opening compares it with what the segments hold: fewer
 * events under the same epoch means events that were on disk are gone
 * (a segment cut or deleted behind the store's back), which a torn tail
 * alone cannot tell. A hint written without fsync after the data were
 * fsynced: when it is missing or damaged nothing is known, never more.
 * A new epoch (reset, a loss) makes it stale; close rewrites it.
 */
static uint64_t stream_top(const struct fstream *s) {
  const struct seg *a = &s->segs[s->nseg - 1];
  return a->base + a->count - 1;
}

void wsp__evfile_top_write(struct fstream *s) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  uint8_t b[TOP_LEN];
  uint64_t top;
  int fd;
  if (!s->nseg || s->need_epoch)
    return; /* a loss not yet given a new epoch stays detectable */
  top = stream_top(s);
  if (s->top_saved_ok && s->top_saved == top)
    return;
  memset(b, 0, sizeof(b));
  memcpy(b, TOP_MAGIC, 8);
  put64(b + 8, top);
  memcpy(b + 16, s->epoch, strlen(s->epoch));
  put32(b + TOP_LEN - 4, wsp__evfile_crc32c(0, b, TOP_LEN - 4));
  wsp__evfile_path_of(path, s, "TOP");
  fd = wsp__evfile_open(fs, path, O_CREAT | O_TRUNC | O_WRONLY, NULL);
  if (fd < 0) {
    (void)wsp__evfile_io_err(fs, errno);
    return;
  }
  if (wsp__evfile_pwrite_all(fs, fd, b, TOP_LEN, 0) == 0) {
    s->top_saved = top;
    s->top_saved_ok = 1;
  }
  close(fd);
}

/* The top in TOP, if it is valid and of the stream's epoch: 0. */
static int top_read(struct fstream *s, uint64_t *top) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  uint8_t b[TOP_LEN];
  struct stat st;
  int fd, rc = -1;
  wsp__evfile_path_of(path, s, "TOP");
  fd = wsp__evfile_open(fs, path, O_RDONLY, &st);
  if (fd < 0) {
    if (errno == ELOOP)
      (void)wsp__evfile_io_err(fs, errno);
    return -1;
  }
  if (st.st_size == TOP_LEN &&
      wsp__evfile_pread_all(fs, fd, b, TOP_LEN, 0) == 0 &&
      memcmp(b, TOP_MAGIC, 8) == 0 &&
      wsp__evfile_crc32c(0, b, TOP_LEN - 4) == get32(b + TOP_LEN - 4) &&
      b[TOP_LEN - 5] == 0 && strcmp((const char *)b + 16, s->epoch) == 0) {
    *top = get64(b + 8);
    rc = 0;
  }
  close(fd);
  return rc;
}

void wsp__evfile_read_boot_id(char out[64]) {
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  ssize_t n = -1;
  size_t i;
  out[0] = '\0';
  if (fd >= 0) {
    n = read(fd, out, 63);
    close(fd);
  }
  if (n <= 0) {
    out[0] = '\0';
    return;
  }
  out[n] = '\0';
  for (i = 0; out[i]; i++)
    if ((uint8_t)out[i] <= ' ' || (uint8_t)out[i] > '~') {
      out[i] = '\0';
      break;
    }
}

void wsp__evfile_state_read(struct fstore *fs, struct state *st) {
  char *buf, *p;
  size_t len;
  int i;
  memset(st, 0, sizeof(*st));
  if (wsp__evfile_read_small(fs, "STATE", 4096, &buf, &len) != 0)
    return;
  st->exists = 1;
  st->policy = -1;
  if ((p = strstr(buf, "\nclean ")) != NULL)
    st->clean = p[7] == '1';
  if ((p = strstr(buf, "\nsuspect ")) != NULL)
    st->suspect = p[9] == '1';
  if ((p = strstr(buf, "\nboot ")) != NULL) {
    for (i = 0; i < 63 && p[6 + i] && p[6 + i] != '\n'; i++)
      st->boot[i] = p[6 + i];
    st->boot[i] = '\0';
  }
  if ((p = strstr(buf, "\nfsync ")) != NULL)
    for (i = 1; i <= WSP_EVLOG_FSYNC_NEVER; i++) {
      size_t n = strlen(policy_names[i]);
      if (strncmp(p + 7, policy_names[i], n) == 0 && p[7 + n] == '\n')
        st->policy = i;
    }
  if (strncmp(buf, "wsp-evlog 1\n", 12) != 0)
    st->clean = 0;
  wsp__free(&fs->mem, buf);
}

int wsp__evfile_state_write(struct fstore *fs, int clean, int suspect) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "wsp-evlog 1\nboot %s\nfsync %s\nclean %d\nsuspect %d\n",
                   fs->boot[0] ? fs->boot : "-", policy_names[fs->policy],
                   clean, suspect);
  return wsp__evfile_write_atomic(fs, ".", "STATE", buf, (size_t)n, NULL, 0);
}

/* ---- Opening streams -------------------------------------------------- */

static struct fstream *stream_new(struct fstore *fs, const char *name,
                                  size_t len) {
  struct fstream *s = wsp__malloc(&fs->mem, sizeof(*s));
  char esc[ESC_MAX + 1];
  if (!s)
    return NULL;
  memset(s, 0, sizeof(*s));
  if (!(s->name = wsp__strndup(&fs->mem, name, len))) {
    wsp__free(&fs->mem, s);
    return NULL;
  }
  s->fs = fs;
  s->len = len;
  s->fd = -1;
  escape_name(name, len, esc);
  snprintf(s->rel, sizeof(s->rel), "streams/%s", esc);
  return s;
}

static void stream_link(struct fstore *fs, struct fstream *s) {
  s->prev = NULL;
  s->next = fs->streams;
  if (fs->streams)
    fs->streams->prev = s;
  fs->streams = s;
}

/*
 * Whether the bytes from pos to size, which do not hold a valid record,
 * can only be an append that never completed: less than a header, a
 * header for the expected offset whose record runs to the end of the
 * file or past it, or zeros. Anything else may have been acknowledged.
 */
static int torn_only(struct fstream *s, size_t si, uint64_t pos, uint64_t size,
                     uint64_t off) {
  struct fstore *fs = s->fs;
  const uint8_t *h;
  uint64_t at;
  if (size - pos < REC_HDR)
    return 1;
  if (wsp__evfile_win_get(s, &fs->rw, READ_CHUNK, si, pos, REC_HDR, &h) != 0)
    return 0;
  if (get64(h + 16) == off && get32(h + 12) == 0 &&
      pos + REC_HDR + get32(h + 4) + get32(h + 8) >= size)
    return 1;
  for (at = pos; at < size;) {
    size_t n = (size_t)WSP__MIN(size - at, (uint64_t)READ_CHUNK), i;
    if (wsp__evfile_win_get(s, &fs->rw, READ_CHUNK, si, at, n, &h) != 0)
      return 0;
    for (i = 0; i < n; i++)
      if (h[i])
        return 0;
    at += n;
  }
  return 1;
}

/*
 * Check a segment by reading every record: g->end is set to the valid
 * length, g->count and the index rebuilt. *hdr_ok is 0 when even the
 * header is bad; *last_time gets the newest record's time; *torn is 1
 * when what follows the valid records is only an unfinished append.
 */
static int scan_seg(struct fstream *s, size_t si, uint64_t size, int *hdr_ok,
                    uint64_t *last_time, int *torn) {
  struct fstore *fs = s->fs;
  struct seg *g = &s->segs[si];
  const uint8_t *h;
  uint64_t pos = SEG_HDR, off = g->base;
  int rc;
  g->end = size;
  g->count = 0;
  g->nidx = 0;
  *hdr_ok = 0;
  *torn = 1;
  fs->rw.owner = NULL;
  if (size < SEG_HDR)
    return 0;
  if ((rc = wsp__evfile_win_get(s, &fs->rw, READ_CHUNK, si, 0, SEG_HDR, &h)) !=
      0)
    return rc == WSP_ERR_CORRUPT ? 0 : rc;
  if (memcmp(h, SEG_MAGIC, 8) != 0 || get64(h + 8) != g->base ||
      wsp__evfile_crc32c(0, h, 28) != get32(h + 28)) {
    g->end = 0;
    return 0;
  }
  *hdr_ok = 1;
  g->created = get64(h + 16);
  *last_time = g->created;
  while (pos + REC_HDR <= size) {
    struct rec r;
    if ((rc = wsp__evfile_win_get(s, &fs->rw, READ_CHUNK, si, pos, REC_HDR,
                                  &h)) != 0)
      return rc;
    if (!wsp__evfile_rec_parse(h, off, size - pos, &r))
      break;
    if ((rc = wsp__evfile_win_get(s, &fs->rw, READ_CHUNK, si, pos,
                                  (size_t)r.size, &h)) != 0)
      return rc;
    if (!wsp__evfile_rec_crc_ok(h, r.size))
      break;
    if ((rc = wsp__evfile_idx_reserve(fs, g)) != 0)
      return rc;
    wsp__evfile_idx_note(fs, g, off, pos);
    *last_time = r.time;
    pos += r.size;
    off++;
  }
  *torn = pos == size || torn_only(s, si, pos, size, off);
  g->end = pos;
  g->count = off - g->base;
  return 0;
}

/* Make segment si the last one, cut to its valid data (or to a fresh
 * header when even that was bad). */
static int cut_at(struct fstream *s, size_t si, int hdr_ok, uint64_t size,
                  uint64_t now) {
  struct fstore *fs = s->fs;
  struct seg *g = &s->segs[si];
  char path[PATH_CAP];
  uint8_t h[SEG_HDR];
  int fd, rc = 0;
  wsp__evfile_stream_close_fd(s); /* it may belong to a segment about to go */
  while (s->nseg > si + 1)
    wsp__evfile_seg_delete(s, s->nseg - 1);
  if (hdr_ok && g->end == size)
    return 0;
  wsp__evfile_seg_file(path, s, g->base, "seg");
  fd = wsp__evfile_open(fs, path, O_RDWR, NULL);
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  if (!hdr_ok) {
    wsp__evfile_seg_header(h, g->base, now);
    g->created = now;
    g->end = SEG_HDR;
    g->count = 0;
    g->nidx = 0;
    rc = wsp__evfile_pwrite_all(fs, fd, h, SEG_HDR, 0);
  }
  if (rc == 0 && ftruncate(fd, (off_t)g->end) != 0)
    rc = wsp__evfile_io_err(fs, errno);
  if (rc == 0 && fs->policy != WSP_EVLOG_FSYNC_NEVER)
    rc = wsp__evfile_do_fsync(fs, fd, 1);
  close(fd);
  s->gen++;
  return rc;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The base offsets of the segment files, sorted; flags for DIRTY and
 * SNAPSHOT; leftover temporary files are removed. */
static int list_dir(struct fstore *fs, const char *rel, uint64_t **pbases,
                    size_t *pn, int *dirty, int *snap) {
  struct dirent *de;
  uint64_t *bases = NULL;
  size_t n = 0, cap = 0;
  int fd, rc = 0;
  DIR *d;
  *dirty = *snap = 0;
  fd = wsp__evfile_dir_open(fs, rel);
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  if (!(d = fdopendir(fd))) {
    close(fd);
    return wsp__evfile_io_err(fs, errno);
  }
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    size_t len = strlen(nm), i;
    if (strcmp(nm, "DIRTY") == 0) {
      *dirty = 1;
    } else if (strcmp(nm, "SNAPSHOT") == 0) {
      *snap = 1;
    } else if (len > 4 && strcmp(nm + len - 4, ".tmp") == 0) {
      unlinkat(dirfd(d), nm, 0);
    } else if (len == 24 && strcmp(nm + 20, ".seg") == 0) {
      uint64_t v = 0;
      for (i = 0; i < 20 && nm[i] >= '0' && nm[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(nm[i] - '0');
      if (i < 20 || v == 0)
        continue;
      if (n == cap) {
        uint64_t *p;
        cap = cap ? cap * 2 : 8;
        if (!(p = wsp__realloc(&fs->mem, bases, cap * sizeof(*p)))) {
          rc = WSP_ERR_NOMEM;
          break;
        }
        bases = p;
      }
      bases[n++] = v;
    }
  }
  closedir(d);
  if (rc != 0) {
    wsp__free(&fs->mem, bases);
    return rc;
  }
  if (n)
    qsort(bases, n, sizeof(*bases), cmp_u64);
  *pbases = bases;
  *pn = n;
  return 0;
}

static int file_size(struct fstore *fs, struct fstream *s, uint64_t base,
                     uint64_t *size) {
  char path[PATH_CAP];
  struct stat st;
  int fd;
  wsp__evfile_seg_file(path, s, base, "seg");
  if ((fd = wsp__evfile_open(fs, path, O_RDONLY, &st)) < 0)
    return wsp__evfile_io_err(fs, errno);
  close(fd);
  *size = (uint64_t)st.st_size;
  return 0;
}

static void snap_check(struct fstream *s, uint64_t top) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  uint8_t h[SNAP_HDR];
  int fd;
  wsp__evfile_path_of(path, s, "SNAPSHOT");
  fd = wsp__evfile_open(fs, path, O_RDONLY, NULL);
  if (fd < 0) {
    /* A link is no snapshot, as a damaged one is: counted, and the link
     * (never its target) removed below. */
    if (errno != ELOOP)
      return;
    (void)wsp__evfile_io_err(fs, errno);
  } else {
    if (wsp__evfile_pread_all(fs, fd, h, SNAP_HDR, 0) == 0 &&
        memcmp(h, SNAP_MAGIC, 8) == 0 && get64(h + 8) <= top) {
      s->has_snap = 1;
      s->snap_off = get64(h + 8);
    }
    close(fd);
  }
  /* A snapshot past the top describes events that are gone. */
  if (!s->has_snap)
    wsp__evfile_unlink_in(s, "SNAPSHOT");
}

/*
 * Open one stream directory: check sealed segments against their index
 * (scanning those whose index is missing or does not match), scan the
 * newest segment and truncate a torn tail. Returns 1 for a directory to
 * skip.
 */
static int load_stream(struct fstore *fs, const char *dname, uint64_t now,
                       struct fstream **out,
                       struct wsp_evlog_stream_info *info) {
  char rel[ESC_MAX + 16], esc[ESC_MAX + 1], *name = NULL;
  char epoch[WSP_EVLOG_EPOCH_MAX + 1];
  uint64_t *bases = NULL, last_time = now, bytes = 0, top, corrupt, known;
  size_t len, n = 0, i;
  int rc, dirty, snap, lost, hdr_ok, torn;
  struct fstream *s;
  struct seg *a;
  if (strlen(dname) > ESC_MAX)
    return 1;
  snprintf(rel, sizeof(rel), "streams/%s", dname);
  corrupt = fs->stats.corrupt;
  rc = meta_read(fs, rel, &name, &len, epoch);
  if (rc == WSP_ERR_CORRUPT && fs->stats.corrupt == corrupt)
    fs->stats.corrupt++; /* not counted yet, as a link is */
  if (rc == WSP_ERR_NOT_FOUND || rc == WSP_ERR_CORRUPT)
    return 1;
  if (rc != 0)
    return rc;
  escape_name(name, len, esc);
  s = strcmp(esc, dname) == 0 ? stream_new(fs, name, len) : NULL;
  wsp__free(&fs->mem, name);
  if (!s && strcmp(esc, dname) != 0) {
    /* META names a stream that does not live here: the directory is
     * damaged, as with a bad META; fs_create() takes it over. */
    fs->stats.corrupt++;
    return 1;
  }
  if (!s)
    return WSP_ERR_NOMEM;
  strcpy(s->epoch, epoch);
  stream_link(fs, s);
  if ((rc = list_dir(fs, rel, &bases, &n, &dirty, &snap)) != 0)
    return rc;
  lost = fs->suspect || dirty;
  s->marked = dirty;
  if (n && !(s->segs = wsp__malloc(&fs->mem, n * sizeof(*s->segs)))) {
    wsp__free(&fs->mem, bases);
    return WSP_ERR_NOMEM;
  }
  s->seg_cap = n;
  for (i = 0; i < n; i++) {
    memset(&s->segs[i], 0, sizeof(*s->segs));
    s->segs[i].base = bases[i];
  }
  s->nseg = n;
  wsp__free(&fs->mem, bases);
  for (i = 0; i < s->nseg; i++) {
    struct seg *g = &s->segs[i];
    uint64_t size = 0;
    int last = i + 1 == s->nseg;
    if ((rc = file_size(fs, s, g->base, &size)) != 0)
      return rc;
    if (!last && wsp__evfile_idx_load(fs, s, g, size, s->segs[i + 1].base) == 0)
      continue;
    s->flushed = size;
    if ((rc = scan_seg(s, i, size, &hdr_ok, &last_time, &torn)) != 0)
      return rc;
    if (!last && hdr_ok && g->end == size &&
        g->base + g->count == s->segs[i + 1].base) {
      wsp__evfile_idx_write(fs, s, g);
      continue;
    }
    /* A damaged sealed segment loses what follows it, a damaged header
     * of the newest one what it held. A torn tail loses only an append
     * that never completed (or one DIRTY already accounts for); other
     * damage may have hit acknowledged events. */
    if (!last || (!hdr_ok && size > SEG_HDR) || (hdr_ok && !torn))
      lost = 1;
    if (hdr_ok && g->end < size)
      fs->stats.torn_records++;
    if ((rc = cut_at(s, i, hdr_ok, size, now)) != 0)
      return rc;
    if (!hdr_ok)
      last_time = now;
    break;
  }
  if (!s->nseg) {
    /* Only a reset cut short, or files deleted behind the store's back,
     * leave no segment: the top is unknown. */
    lost = 1;
    if ((rc = wsp__evfile_seg_create(s, 1, now)) != 0)
      return rc;
  }
  a = &s->segs[s->nseg - 1];
  if (a->count == 0)
    last_time = a->created;
  s->flushed = a->end;
  top = stream_top(s);
  if (top_read(s, &known) == 0) {
    /* Fewer events than a clean close left: a segment was cut at a
     * record boundary or below its header, or deleted. */
    if (known > top) {
      lost = 1;
      fs->stats.corrupt++;
    } else if (known == top) {
      s->top_saved = top;
      s->top_saved_ok = 1;
    }
  }
  for (i = 0; i < s->nseg; i++)
    bytes += s->segs[i].end - SEG_HDR;
  s->first = s->segs[0].count ? s->segs[0].base : top + 1;
  if (snap)
    snap_check(s, top);
  s->need_epoch = lost;
  memset(info, 0, sizeof(*info));
  info->name.ptr = s->name;
  info->name.len = s->len;
  info->epoch = s->epoch;
  info->first = s->first;
  info->top = top;
  info->bytes = bytes;
  info->last_time = last_time;
  info->lost = lost;
  *out = s;
  return 0;
}

int wsp__evfile_fs_load(struct wsp_evlog_store *st, uint64_t now,
                        int (*found)(const struct wsp_evlog_stream_info *info,
                                     void *stream, void *ctx),
                        void *ctx) {
  struct fstore *fs = (struct fstore *)st;
  struct dirent *de;
  struct fstream *s;
  int fd, rc = 0;
  DIR *d;
  fd = wsp__evfile_dir_open(fs, "streams");
  if (fd < 0)
    return wsp__evfile_io_err(fs, errno);
  if (!(d = fdopendir(fd))) {
    close(fd);
    return wsp__evfile_io_err(fs, errno);
  }
  while (rc == 0 && (de = readdir(d)) != NULL) {
    struct wsp_evlog_stream_info info;
    if (de->d_name[0] == '.')
      continue;
    s = NULL;
    rc = load_stream(fs, de->d_name, now, &s, &info);
    if (rc == 1) {
      rc = 0;
      continue;
    }
    if (rc == 0)
      rc = found(&info, s, ctx);
  }
  closedir(d);
  if (rc != 0)
    return rc;
  fs->load_done = 1;
  for (s = fs->streams; s; s = s->next)
    if (s->need_epoch)
      return 0;
  if (fs->suspect && wsp__evfile_state_write(fs, 0, 0) == 0)
    fs->suspect = 0;
  return 0;
}

/* Whether the stream called name is held and lives in s's directory: two
 * names that one directory serves (a case-insensitive file system). */
static int held_here(struct fstore *fs, const struct fstream *s,
                     const char *name, size_t len) {
  struct fstream *o;
  struct stat a, b;
  int fa, fb, same;
  for (o = fs->streams; o; o = o->next)
    if (o->len == len && memcmp(o->name, name, len) == 0)
      break;
  if (!o)
    return 0;
  fa = wsp__evfile_dir_open(fs, o->rel);
  fb = wsp__evfile_dir_open(fs, s->rel);
  same = fa >= 0 && fb >= 0 && fstat(fa, &a) == 0 && fstat(fb, &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  if (fa >= 0)
    close(fa);
  if (fb >= 0)
    close(fb);
  return same;
}

int wsp__evfile_fs_create(struct wsp_evlog_store *st, const char *name,
                          size_t len, const char *epoch, uint64_t now,
                          void **pstream) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream_new(fs, name, len);
  int rc;
  if (!s)
    return WSP_ERR_NOMEM;
  if (wsp__evfile_mkdir(fs, s->rel) != 0) {
    char other_epoch[WSP_EVLOG_EPOCH_MAX + 1], *other = NULL;
    size_t olen;
    if (errno != EEXIST) {
      rc = wsp__evfile_io_err(fs, errno);
      goto fail;
    }
    rc = meta_read(fs, s->rel, &other, &olen, other_epoch);
    if (rc == 0) {
      int taken = held_here(fs, s, other, olen);
      wsp__free(&fs->mem, other);
      if (taken) {
        /* Another held stream uses this directory: a case-insensitive
         * file system. Taking it over would destroy that stream. */
        fs->stats.io_errors++;
        rc = WSP_ERR_IO;
        goto fail;
      }
      /* META names a stream not held here (loading skipped and counted
       * the directory): what it holds belongs to no stream, so this
       * one starts again with the new epoch, as after a bad META.
       * Refusing would break the name for good. */
    }
    /* A directory without a valid META holds nothing acknowledged: the
     * leftover of a crashed create or remove. */
    if ((rc = wsp__evfile_clear_dir(fs, s->rel)) != 0)
      goto fail;
  } else if (fs->policy != WSP_EVLOG_FSYNC_NEVER &&
             (rc = wsp__evfile_sync_dir(fs, "streams")) != 0) {
    goto fail_dir;
  }
  strcpy(s->epoch, epoch);
  if ((rc = wsp__evfile_meta_write(fs, s, epoch)) != 0 ||
      (rc = wsp__evfile_seg_create(s, 1, now)) != 0) {
    (void)wsp__evfile_clear_dir(fs, s->rel);
    goto fail_dir;
  }
  s->first = 1;
  stream_link(fs, s);
  *pstream = s;
  return 0;
fail_dir:
  wsp__evfile_unlink(fs, s->rel, AT_REMOVEDIR);
fail:
  wsp__evfile_stream_free(fs, s);
  return rc;
}
