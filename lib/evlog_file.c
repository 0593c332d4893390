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

#include <nettle/sha1.h>

#include "internal.h"
#include "wsp/evlog.h"

#define SEG_HDR 32
#define REC_HDR 32
#define IDX_HDR 40
#define SNAP_HDR 40
#define SEG_MAGIC "WSPSEG01"
#define IDX_MAGIC "WSPIDX01"
#define SNAP_MAGIC "WSPSNP01"
/* Escaped names longer than this are shortened and end in a hash. */
#define ESC_MAX 200
#define PATH_CAP 512
/* Bytes read at a time when scanning records, and around the head. */
#define READ_CHUNK (64 * 1024)
#define HEAD_CHUNK 4096
/* A reverse read copies at most this much before delivering. */
#define REVERSE_BUDGET ((size_t)4 << 20)
#define REVERSE_CHUNK 256

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

static uint32_t crc32c(uint32_t crc, const void *p, size_t n) {
  const uint8_t *b = p;
  crc = ~crc;
  while (n--)
    crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ---- Little-endian fields --------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- Structures ------------------------------------------------------- */

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
  int dirty;  /* on the dirty list */
  struct fstream *dprev, *dnext;
  int dir_dirty;  /* created or removed files not yet fsynced */
  int need_epoch; /* loaded as lost, set_epoch not yet called */
  /* retention walks the oldest events through this cursor */
  int head_ok;
  uint64_t head_off, head_base, head_pos, head_size;
  struct win hw;
  uint64_t snap_off;
  int has_snap;
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

static const char *const policy_names[] = {"interval", "always", "interval",
                                           "never"};

/* ---- System calls ----------------------------------------------------- */

static int io_err(struct fstore *fs, int e) {
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

static int pwrite_all(struct fstore *fs, int fd, const void *buf, size_t n,
                      uint64_t pos) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, (off_t)pos);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return io_err(fs, errno);
    }
    if (w == 0)
      return io_err(fs, ENOSPC);
    p += w;
    n -= (size_t)w;
    pos += (uint64_t)w;
  }
  fs->stats.writes++;
  return 0;
}

/* Read exactly n bytes; a file that ends first is corrupt. */
static int pread_all(struct fstore *fs, int fd, void *buf, size_t n,
                     uint64_t pos) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = pread(fd, p, n, (off_t)pos);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return io_err(fs, errno);
    }
    if (r == 0)
      return WSP_ERR_CORRUPT;
    p += r;
    n -= (size_t)r;
    pos += (uint64_t)r;
  }
  return 0;
}

static int do_fsync(struct fstore *fs, int fd, int data_only) {
  fs->stats.fsyncs++;
  if ((data_only ? fdatasync(fd) : fsync(fd)) != 0)
    return io_err(fs, errno);
  return 0;
}

static int sync_dir(struct fstore *fs, const char *rel) {
  int fd = openat(fs->root, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
  if (fd < 0)
    return io_err(fs, errno);
  rc = do_fsync(fs, fd, 0);
  close(fd);
  return rc;
}

static void path_of(char *out, const struct fstream *s, const char *file) {
  snprintf(out, PATH_CAP, "%s/%s", s->rel, file);
}

static void seg_file(char *out, const struct fstream *s, uint64_t base,
                     const char *ext) {
  snprintf(out, PATH_CAP, "%s/%020llu.%s", s->rel, (unsigned long long)base,
           ext);
}

/*
 * Write a small file atomically: a temporary file, fsync, rename over the
 * old one, fsync of the directory. A crash leaves the old or the new
 * content, never a mix.
 */
static int write_atomic(struct fstore *fs, const char *dir, const char *name,
                        const void *a, size_t alen, const void *b,
                        size_t blen) {
  char tmp[PATH_CAP], dst[PATH_CAP];
  int fd, rc;
  snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
  snprintf(dst, sizeof(dst), "%s/%s", dir, name);
  fd = openat(fs->root, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_err(fs, errno);
  rc = pwrite_all(fs, fd, a, alen, 0);
  if (rc == 0 && blen)
    rc = pwrite_all(fs, fd, b, blen, alen);
  if (rc == 0)
    rc = do_fsync(fs, fd, 0);
  close(fd);
  if (rc == 0 && renameat(fs->root, tmp, fs->root, dst) != 0)
    rc = io_err(fs, errno);
  if (rc != 0) {
    unlinkat(fs->root, tmp, 0);
    return rc;
  }
  return sync_dir(fs, dir);
}

/* Read a whole small file into a NUL-terminated heap buffer. */
static int read_small(struct fstore *fs, const char *path, size_t max,
                      char **out, size_t *olen) {
  struct stat st;
  char *buf;
  int fd = openat(fs->root, path, O_RDONLY | O_CLOEXEC), rc;
  if (fd < 0)
    return errno == ENOENT ? WSP_ERR_NOT_FOUND : io_err(fs, errno);
  if (fstat(fd, &st) != 0) {
    rc = io_err(fs, errno);
    close(fd);
    return rc;
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return WSP_ERR_CORRUPT;
  }
  buf = wsp__malloc(&fs->mem, (size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return WSP_ERR_NOMEM;
  }
  rc = pread_all(fs, fd, buf, (size_t)st.st_size, 0);
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

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* ---- META and STATE --------------------------------------------------- */

static int meta_write(struct fstore *fs, const struct fstream *s,
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
  rc = write_atomic(fs, s->rel, "META", buf, n, NULL, 0);
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
  rc = read_small(fs, path, 64 + WSP_EVLOG_EPOCH_MAX + 2 * WSP_EVLOG_NAME_MAX,
                  &buf, &len);
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
    int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
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

struct state {
  int exists, clean, policy, suspect;
  char boot[64];
};

static void read_boot_id(char out[64]) {
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

static void state_read(struct fstore *fs, struct state *st) {
  char *buf, *p;
  size_t len;
  int i;
  memset(st, 0, sizeof(*st));
  if (read_small(fs, "STATE", 4096, &buf, &len) != 0)
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

static int state_write(struct fstore *fs, int clean, int suspect) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "wsp-evlog 1\nboot %s\nfsync %s\nclean %d\nsuspect %d\n",
                   fs->boot[0] ? fs->boot : "-", policy_names[fs->policy],
                   clean, suspect);
  return write_atomic(fs, ".", "STATE", buf, (size_t)n, NULL, 0);
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

static void stream_close_fd(struct fstream *s) {
  if (s->fd < 0)
    return;
  lru_unlink(s->fs, s);
  close(s->fd);
  s->fd = -1;
  s->fs->nopen--;
}

/* Adopt fd as s's active file, closing the previous one. */
static void stream_set_fd(struct fstream *s, int fd) {
  struct fstore *fs = s->fs;
  stream_close_fd(s);
  while (fs->nopen >= fs->max_open && fs->lru_tail)
    stream_close_fd(fs->lru_tail);
  s->fd = fd;
  fs->nopen++;
  lru_front(fs, s);
}

/* The active segment's file, opened on demand. */
static int stream_fd(struct fstream *s, int *out) {
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
  seg_file(path, s, s->segs[s->nseg - 1].base, "seg");
  fd = openat(fs->root, path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return io_err(fs, errno);
  stream_set_fd(s, fd);
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
      if ((rc = stream_fd(s, &fd)) != 0 ||
          (rc = pread_all(fs, fd, dst, infile, pos)) != 0)
        return rc;
    }
    if (n > infile)
      memcpy((uint8_t *)dst + infile, s->wbuf + (pos + infile - s->flushed),
             n - infile);
    return 0;
  } else {
    char path[PATH_CAP];
    seg_file(path, s, g->base, "seg");
    fd = openat(fs->root, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return io_err(fs, errno);
    rc = pread_all(fs, fd, dst, n, pos);
    close(fd);
    return rc;
  }
}

/* Point *p at n bytes at pos of segment si, through window w. */
static int win_get(struct fstream *s, struct win *w, size_t chunk, size_t si,
                   uint64_t pos, size_t n, const uint8_t **p) {
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

static void win_free(struct fstore *fs, struct win *w) {
  wsp__free(&fs->mem, w->buf);
  memset(w, 0, sizeof(*w));
}

/* ---- Records ---------------------------------------------------------- */

struct rec {
  uint64_t offset, time, size;
  uint32_t len, ilen;
};

/* Decode a record header; 0 when it cannot start a record at offset off
 * with at most room bytes left in its segment. */
static int rec_parse(const uint8_t *h, uint64_t off, uint64_t room,
                     struct rec *r) {
  r->len = get32(h + 4);
  r->ilen = get32(h + 8);
  r->offset = get64(h + 16);
  r->time = get64(h + 24);
  r->size = (uint64_t)REC_HDR + r->len + r->ilen;
  return get32(h + 12) == 0 && r->offset == off &&
         (uint64_t)r->len + r->ilen <= WSP_EVLOG_EVENT_MAX && r->size <= room;
}

static int rec_crc_ok(const uint8_t *rec, uint64_t size) {
  return crc32c(0, rec + 4, (size_t)size - 4) == get32(rec);
}

static void rec_encode(uint8_t *dst, const struct wsp_evlog_event *e) {
  put32(dst + 4, (uint32_t)e->data.len);
  put32(dst + 8, (uint32_t)e->info.len);
  put32(dst + 12, 0);
  put64(dst + 16, e->offset);
  put64(dst + 24, e->time);
  if (e->data.len)
    memcpy(dst + REC_HDR, e->data.ptr, e->data.len);
  if (e->info.len)
    memcpy(dst + REC_HDR + e->data.len, e->info.ptr, e->info.len);
  put32(dst, crc32c(0, dst + 4, REC_HDR - 4 + e->data.len + e->info.len));
}

static void seg_header(uint8_t h[SEG_HDR], uint64_t base, uint64_t created) {
  memcpy(h, SEG_MAGIC, 8);
  put64(h + 8, base);
  put64(h + 16, created);
  put32(h + 24, 0);
  put32(h + 28, crc32c(0, h, 28));
}

/* Room for one more index entry, so that recording it cannot fail. */
static int idx_reserve(struct fstore *fs, struct seg *g) {
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
static void idx_note(struct fstore *fs, struct seg *g, uint64_t offset,
                     uint64_t pos) {
  uint64_t last = g->nidx ? g->idx[2 * g->nidx - 1] : SEG_HDR;
  if (pos - last < fs->index_bytes || g->nidx == g->idx_cap)
    return;
  g->idx[2 * g->nidx] = (uint32_t)(offset - g->base);
  g->idx[2 * g->nidx + 1] = (uint32_t)pos;
  g->nidx++;
}

static void idx_write(struct fstore *fs, struct fstream *s,
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
  crc = crc32c(crc32c(0, h, IDX_HDR), ent, n);
  put32(tail, crc);
  seg_file(path, s, g->base, "idx");
  fd = openat(fs->root, path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    (void)io_err(fs, errno);
  } else {
    /* A hint only: opening checks it and rebuilds it when it is bad. */
    if (pwrite_all(fs, fd, h, IDX_HDR, 0) == 0 &&
        pwrite_all(fs, fd, ent, n, IDX_HDR) == 0)
      (void)pwrite_all(fs, fd, tail, 4, IDX_HDR + n);
    close(fd);
  }
  wsp__free(&fs->mem, ent);
}

/* Load a sealed segment's index if it matches the segment; 0 when it
 * does. */
static int idx_load(struct fstore *fs, struct fstream *s, struct seg *g,
                    uint64_t size, uint64_t next_base) {
  char path[PATH_CAP], *buf;
  const uint8_t *b;
  size_t len, n, i;
  uint64_t prev_pos = SEG_HDR, prev_rel = 0;
  int rc;
  seg_file(path, s, g->base, "idx");
  if (read_small(fs, path, (size_t)1 << 30, &buf, &len) != 0)
    return -1;
  b = (const uint8_t *)buf;
  rc = -1;
  if (len < IDX_HDR + 4 || memcmp(b, IDX_MAGIC, 8) != 0)
    goto out;
  n = (size_t)get64(b + 32);
  if (get64(b + 8) != g->base || get64(b + 16) != size ||
      get64(b + 24) != next_base - g->base || len != IDX_HDR + 8 * n + 4 ||
      crc32c(0, b, len - 4) != get32(b + len - 4))
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

/* ---- Dirty streams ---------------------------------------------------- */

static void dirty_add(struct fstore *fs, struct fstream *s, uint64_t now) {
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

static void dirty_remove(struct fstore *fs, struct fstream *s) {
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

static int mark(struct fstream *s) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  int fd;
  if (s->marked)
    return 0;
  path_of(path, s, "DIRTY");
  fd = openat(fs->root, path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_err(fs, errno);
  close(fd);
  s->marked = 1;
  return 0;
}

static void unmark(struct fstream *s) {
  char path[PATH_CAP];
  if (!s->marked)
    return;
  path_of(path, s, "DIRTY");
  if (unlinkat(s->fs->root, path, 0) != 0 && errno != ENOENT) {
    (void)io_err(s->fs, errno);
    return;
  }
  s->marked = 0;
}

/* Changes to a directory's entries are made durable as the policy says:
 * now (always), at the next sync (interval), at close (never). */
static int dir_changed(struct fstream *s, uint64_t now) {
  struct fstore *fs = s->fs;
  if (fs->policy == WSP_EVLOG_FSYNC_ALWAYS)
    return sync_dir(fs, s->rel);
  s->dir_dirty = 1;
  dirty_add(fs, s, now);
  return 0;
}

/* ---- Writing ---------------------------------------------------------- */

/* Write the buffered appends to the file (no fsync). On failure they
 * stay buffered. */
static int flush(struct fstream *s) {
  struct fstore *fs = s->fs;
  int fd, rc;
  if (!s->wlen)
    return 0;
  if ((rc = stream_fd(s, &fd)) != 0)
    return rc;
  if ((rc = pwrite_all(fs, fd, s->wbuf, s->wlen, s->flushed)) != 0) {
    /* Leave no partial record behind to be taken for data. */
    if (ftruncate(fd, (off_t)s->flushed) != 0)
      (void)io_err(fs, errno);
    return rc;
  }
  s->flushed += s->wlen;
  s->wlen = 0;
  return 0;
}

/*
 * Make everything appended to s durable: write the buffer, fsync the
 * files and directory that need it, then drop the DIRTY mark. With
 * force 0 the never policy only writes.
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
    dirty_remove(fs, s);
    return 0;
  }
  for (i = 0; i + 1 < s->nseg; i++)
    if (s->segs[i].unsynced) {
      char path[PATH_CAP];
      seg_file(path, s, s->segs[i].base, "seg");
      fd = openat(fs->root, path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return io_err(fs, errno);
      rc = do_fsync(fs, fd, 1);
      close(fd);
      if (rc != 0)
        return rc;
      s->segs[i].unsynced = 0;
    }
  if (s->marked || s->dirty) {
    if (s->nseg &&
        ((rc = stream_fd(s, &fd)) != 0 || (rc = do_fsync(fs, fd, 1)) != 0))
      return rc;
    if (s->dir_dirty) {
      if ((rc = sync_dir(fs, s->rel)) != 0)
        return rc;
      s->dir_dirty = 0;
    }
  }
  unmark(s);
  dirty_remove(fs, s);
  return 0;
}

/* Start a new active segment at base; the previous one is sealed. */
static int seg_create(struct fstream *s, uint64_t base, uint64_t now) {
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
  seg_file(path, s, base, "seg");
  fd = openat(fs->root, path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_err(fs, errno);
  seg_header(h, base, now);
  rc = pwrite_all(fs, fd, h, SEG_HDR, 0);
  if (rc == 0 && fs->policy == WSP_EVLOG_FSYNC_ALWAYS)
    rc = do_fsync(fs, fd, 1);
  if (rc == 0)
    rc = dir_changed(s, now);
  if (rc != 0) {
    close(fd);
    unlinkat(fs->root, path, 0);
    return rc;
  }
  if (fs->policy != WSP_EVLOG_FSYNC_ALWAYS)
    dirty_add(fs, s, now);
  stream_set_fd(s, fd);
  g = &s->segs[s->nseg++];
  memset(g, 0, sizeof(*g));
  g->base = base;
  g->end = SEG_HDR;
  g->created = now;
  s->flushed = SEG_HDR;
  s->wlen = 0;
  return 0;
}

static void seg_delete(struct fstream *s, size_t i) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  seg_file(path, s, s->segs[i].base, "seg");
  if (unlinkat(fs->root, path, 0) != 0 && errno != ENOENT)
    (void)io_err(fs, errno);
  seg_file(path, s, s->segs[i].base, "idx");
  unlinkat(fs->root, path, 0);
  wsp__free(&fs->mem, s->segs[i].idx);
  memmove(&s->segs[i], &s->segs[i + 1], (s->nseg - i - 1) * sizeof(*s->segs));
  s->nseg--;
}

/* Seal the active segment and start the next one at base. Under always
 * its records are already on disk; otherwise the next sync takes care of
 * it, as of the rest. */
static int rotate(struct fstream *s, uint64_t base, uint64_t now) {
  struct fstore *fs = s->fs;
  int rc;
  if ((rc = flush(s)) != 0)
    return rc;
  idx_write(fs, s, &s->segs[s->nseg - 1]);
  if ((rc = seg_create(s, base, now)) != 0)
    return rc;
  s->segs[s->nseg - 2].unsynced = fs->policy != WSP_EVLOG_FSYNC_ALWAYS;
  return 0;
}

static int scratch_reserve(struct fstore *fs, size_t n) {
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

static int fs_append(struct wsp_evlog_store *st, void *stream,
                     const struct wsp_evlog_event *e) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  size_t size = REC_HDR + e->data.len + e->info.len;
  struct seg *g;
  uint64_t at;
  int rc, fd;
  if (!s->nseg && (rc = seg_create(s, e->offset, e->time)) != 0)
    return rc;
  g = &s->segs[s->nseg - 1];
  if (g->count && g->end + size > fs->segment_bytes) {
    if ((rc = rotate(s, e->offset, e->time)) != 0)
      return rc;
    g = &s->segs[s->nseg - 1];
  }
  if ((rc = idx_reserve(fs, g)) != 0)
    return rc;
  at = g->end;
  if (fs->policy == WSP_EVLOG_FSYNC_ALWAYS) {
    if ((rc = scratch_reserve(fs, size)) != 0 || (rc = stream_fd(s, &fd)) != 0)
      return rc;
    rec_encode(fs->scratch, e);
    rc = pwrite_all(fs, fd, fs->scratch, size, at);
    if (rc == 0)
      rc = do_fsync(fs, fd, 1);
    if (rc != 0) {
      if (ftruncate(fd, (off_t)at) != 0)
        (void)io_err(fs, errno);
      return rc;
    }
    s->flushed = at + size;
  } else {
    if ((rc = mark(s)) != 0)
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
    rec_encode(s->wbuf + s->wlen, e);
    s->wlen += size;
    dirty_add(fs, s, e->time);
  }
  g->end = at + size;
  g->count++;
  idx_note(fs, g, e->offset, at);
  return 0;
}

/* ---- Finding records -------------------------------------------------- */

/* The segment whose base is the largest not above offset. */
static size_t seg_find(const struct fstream *s, uint64_t offset) {
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
static int locate(struct fstream *s, struct win *w, size_t chunk,
                  uint64_t offset, size_t *psi, uint64_t *ppos) {
  size_t si = seg_find(s, offset), lo = 0, hi;
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
    int rc = win_get(s, w, chunk, si, pos, REC_HDR, &h);
    if (rc != 0)
      return rc;
    if (!rec_parse(h, g->base + r0, g->end - pos, &r)) {
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
      s->segs[si = seg_find(s, s->head_off)].base == s->head_base) {
    pos = s->head_pos;
    off = s->head_off;
  } else {
    if ((rc = locate(s, &s->hw, HEAD_CHUNK, offset, &si, &pos)) != 0)
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
    if ((rc = win_get(s, &s->hw, HEAD_CHUNK, si, pos, REC_HDR, &h)) != 0)
      return rc;
    if (!rec_parse(h, off, g->end - pos, &r)) {
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

/* ---- Reading ---------------------------------------------------------- */

/* Deliver from..to in order, checking every checksum. Returns 1 when cb
 * stopped, 0 at the end, or an error. */
static int read_forward(struct fstream *s, uint64_t from, uint64_t to,
                        int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                        void *ctx) {
  struct fstore *fs = s->fs;
  struct win *w = &fs->rw;
  uint64_t off, pos;
  size_t si;
  int rc = locate(s, w, READ_CHUNK, from, &si, &pos);
  if (rc != 0)
    return rc;
  for (off = from; off <= to; off++) {
    const struct seg *g = &s->segs[si];
    struct wsp_evlog_event e;
    const uint8_t *h;
    struct rec r;
    if (pos >= g->end) {
      if (si + 1 >= s->nseg || s->segs[si + 1].base != off)
        return WSP_ERR_CORRUPT;
      g = &s->segs[++si];
      pos = SEG_HDR;
    }
    if ((rc = win_get(s, w, READ_CHUNK, si, pos, REC_HDR, &h)) != 0)
      return rc;
    if (!rec_parse(h, off, g->end - pos, &r)) {
      fs->stats.corrupt++;
      return WSP_ERR_CORRUPT;
    }
    if ((rc = win_get(s, w, READ_CHUNK, si, pos, (size_t)r.size, &h)) != 0)
      return rc;
    if (!rec_crc_ok(h, r.size)) {
      fs->stats.corrupt++;
      return WSP_ERR_CORRUPT;
    }
    e.offset = off;
    e.time = r.time;
    e.data.ptr = (const char *)h + REC_HDR;
    e.data.len = r.len;
    e.info.ptr = e.data.ptr + r.len;
    e.info.len = r.ilen;
    if (cb(&e, ctx) != 0)
      return 1;
    pos += r.size;
  }
  return 0;
}

struct rcollect {
  struct fstore *fs;
  size_t n, used;
  int over, rc;
};

static int rcollect_cb(const struct wsp_evlog_event *e, void *ctx) {
  struct rcollect *c = ctx;
  struct fstore *fs = c->fs;
  size_t need = e->data.len + e->info.len;
  if (c->n && c->used + need > REVERSE_BUDGET) {
    c->over = 1;
    return 1;
  }
  if (c->n == fs->rref_cap) {
    size_t cap = fs->rref_cap ? fs->rref_cap * 2 : REVERSE_CHUNK;
    struct rref *p = wsp__realloc(&fs->mem, fs->rrefs, cap * sizeof(*p));
    if (!p) {
      c->rc = WSP_ERR_NOMEM;
      return 1;
    }
    fs->rrefs = p;
    fs->rref_cap = cap;
  }
  if ((c->rc = scratch_reserve(fs, c->used + need)) != 0)
    return 1;
  memcpy(fs->scratch + c->used, e->data.ptr, e->data.len);
  memcpy(fs->scratch + c->used + e->data.len, e->info.ptr, e->info.len);
  fs->rrefs[c->n].offset = e->offset;
  fs->rrefs[c->n].time = e->time;
  fs->rrefs[c->n].at = c->used;
  fs->rrefs[c->n].len = e->data.len;
  fs->rrefs[c->n].ilen = e->info.len;
  c->used += need;
  c->n++;
  return 0;
}

/* Newest first: copy a chunk of events forwards, hand it out backwards,
 * move to the chunk before; a chunk that grows too big is split. */
static int read_reverse(struct fstream *s, uint64_t from, uint64_t to,
                        int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                        void *ctx) {
  struct fstore *fs = s->fs;
  uint64_t hi = to, k = REVERSE_CHUNK;
  for (;;) {
    uint64_t lo = hi - from + 1 > k ? hi - k + 1 : from;
    struct rcollect c;
    size_t i;
    int rc;
    memset(&c, 0, sizeof(c));
    c.fs = fs;
    rc = read_forward(s, lo, hi, rcollect_cb, &c);
    if (rc < 0)
      return rc;
    if (c.rc != 0)
      return c.rc;
    if (c.over) {
      k = (hi - lo + 1) / 4 ? (hi - lo + 1) / 4 : 1;
      continue;
    }
    for (i = c.n; i-- > 0;) {
      struct wsp_evlog_event e;
      const struct rref *x = &fs->rrefs[i];
      e.offset = x->offset;
      e.time = x->time;
      e.data.ptr = (const char *)fs->scratch + x->at;
      e.data.len = x->len;
      e.info.ptr = e.data.ptr + x->len;
      e.info.len = x->ilen;
      if (cb(&e, ctx) != 0)
        return 1;
    }
    if (lo == from)
      return 0;
    hi = lo - 1;
  }
}

static int fs_read(struct wsp_evlog_store *st, void *stream, uint64_t from,
                   uint64_t to, int reverse,
                   int (*cb)(const struct wsp_evlog_event *e, void *ctx),
                   void *ctx) {
  struct fstore *fs = (struct fstore *)st;
  int rc;
  fs->rw.owner = NULL;
  rc = reverse ? read_reverse(stream, from, to, cb, ctx)
               : read_forward(stream, from, to, cb, ctx);
  /* Give a big buffer back after an unusual read. */
  if (fs->scratch_cap > REVERSE_BUDGET * 2) {
    wsp__free(&fs->mem, fs->scratch);
    fs->scratch = NULL;
    fs->scratch_cap = 0;
  }
  return rc < 0 ? rc : 0;
}

/* ---- Retention, reset, removal ---------------------------------------- */

static int fs_trim(struct wsp_evlog_store *st, void *stream, uint64_t first,
                   uint64_t now) {
  struct fstream *s = stream;
  int deleted = 0;
  WSP__UNUSED(st);
  s->first = first;
  while (s->nseg > 1 && s->segs[1].base <= first) {
    seg_delete(s, 0);
    deleted = 1;
  }
  if (s->nseg) {
    const struct seg *g = &s->segs[s->nseg - 1];
    uint64_t next = g->base + g->count;
    /* Nothing left: an empty segment at the next offset keeps the top
     * across a restart; only then does the old one go. */
    if (g->count && first >= next && seg_create(s, next, now) == 0) {
      seg_delete(s, s->nseg - 2);
      deleted = 1;
    }
  }
  if (deleted)
    (void)dir_changed(s, now);
  return 0;
}

static void unlink_in(struct fstream *s, const char *file) {
  char path[PATH_CAP];
  path_of(path, s, file);
  if (unlinkat(s->fs->root, path, 0) != 0 && errno != ENOENT)
    (void)io_err(s->fs, errno);
}

static int fs_set_epoch(struct wsp_evlog_store *st, void *stream,
                        const char *epoch) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  int rc = meta_write(fs, s, epoch);
  if (rc != 0)
    return rc;
  strcpy(s->epoch, epoch);
  if (s->need_epoch && !s->wlen && !s->dirty)
    unmark(s);
  s->need_epoch = 0;
  return 0;
}

static int fs_reset(struct wsp_evlog_store *st, void *stream, const char *epoch,
                    uint64_t now) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  int rc = meta_write(fs, s, epoch);
  if (rc != 0)
    return rc;
  /* From here on the old history is gone whatever fails: the new epoch
   * is on disk. */
  strcpy(s->epoch, epoch);
  unlink_in(s, "SNAPSHOT");
  s->has_snap = 0;
  stream_close_fd(s);
  s->wlen = 0;
  while (s->nseg)
    seg_delete(s, s->nseg - 1);
  s->gen++;
  s->head_ok = 0;
  s->first = 1;
  (void)seg_create(s, 1, now);
  return 0;
}

/* Delete every file of a stream directory, META first so that a crash
 * half way leaves a directory that loading ignores. */
static int clear_dir(struct fstore *fs, const char *rel) {
  char path[PATH_CAP];
  struct dirent *de;
  DIR *d;
  int fd, rc = 0;
  snprintf(path, sizeof(path), "%s/META", rel);
  if (unlinkat(fs->root, path, 0) != 0 && errno != ENOENT)
    return io_err(fs, errno);
  fd = openat(fs->root, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : io_err(fs, errno);
  if (!(d = fdopendir(fd))) {
    close(fd);
    return io_err(fs, errno);
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT && !rc)
      rc = io_err(fs, errno);
  }
  closedir(d);
  return rc;
}

static void stream_free(struct fstore *fs, struct fstream *s) {
  size_t i;
  stream_close_fd(s);
  dirty_remove(fs, s);
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
  win_free(fs, &s->hw);
  if (fs->rw.owner == s)
    fs->rw.owner = NULL;
  wsp__free(&fs->mem, s->name);
  wsp__free(&fs->mem, s);
}

static int fs_remove(struct wsp_evlog_store *st, void *stream) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream;
  int rc;
  stream_close_fd(s);
  rc = clear_dir(fs, s->rel);
  if (rc == 0 && unlinkat(fs->root, s->rel, AT_REMOVEDIR) != 0 &&
      errno != ENOENT)
    rc = io_err(fs, errno);
  if (rc == 0 && fs->policy == WSP_EVLOG_FSYNC_ALWAYS)
    rc = sync_dir(fs, "streams");
  stream_free(fs, s);
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
  put32(h + 32, crc32c(crc32c(0, h, 32), snap->state.ptr, snap->state.len));
  put32(h + 36, 0);
  rc = write_atomic(fs, s->rel, "SNAPSHOT", h, SNAP_HDR, snap->state.ptr,
                    snap->state.len);
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
  path_of(path, s, "SNAPSHOT");
  rc = read_small(fs, path, SNAP_HDR + WSP_EVLOG_SNAPSHOT_MAX, &buf, &len);
  if (rc != 0)
    return rc == WSP_ERR_CORRUPT ? WSP_ERR_NOT_FOUND : rc;
  b = (const uint8_t *)buf;
  if (len < SNAP_HDR || memcmp(b, SNAP_MAGIC, 8) != 0 ||
      get64(b + 24) != len - SNAP_HDR ||
      crc32c(crc32c(0, b, 32), b + SNAP_HDR, len - SNAP_HDR) != get32(b + 32)) {
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
  if (win_get(s, &fs->rw, READ_CHUNK, si, pos, REC_HDR, &h) != 0)
    return 0;
  if (get64(h + 16) == off && get32(h + 12) == 0 &&
      pos + REC_HDR + get32(h + 4) + get32(h + 8) >= size)
    return 1;
  for (at = pos; at < size;) {
    size_t n = (size_t)WSP__MIN(size - at, (uint64_t)READ_CHUNK), i;
    if (win_get(s, &fs->rw, READ_CHUNK, si, at, n, &h) != 0)
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
  if ((rc = win_get(s, &fs->rw, READ_CHUNK, si, 0, SEG_HDR, &h)) != 0)
    return rc == WSP_ERR_CORRUPT ? 0 : rc;
  if (memcmp(h, SEG_MAGIC, 8) != 0 || get64(h + 8) != g->base ||
      crc32c(0, h, 28) != get32(h + 28)) {
    g->end = 0;
    return 0;
  }
  *hdr_ok = 1;
  g->created = get64(h + 16);
  *last_time = g->created;
  while (pos + REC_HDR <= size) {
    struct rec r;
    if ((rc = win_get(s, &fs->rw, READ_CHUNK, si, pos, REC_HDR, &h)) != 0)
      return rc;
    if (!rec_parse(h, off, size - pos, &r))
      break;
    if ((rc = win_get(s, &fs->rw, READ_CHUNK, si, pos, (size_t)r.size, &h)) !=
        0)
      return rc;
    if (!rec_crc_ok(h, r.size))
      break;
    if ((rc = idx_reserve(fs, g)) != 0)
      return rc;
    idx_note(fs, g, off, pos);
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
  stream_close_fd(s); /* it may belong to a segment about to go */
  while (s->nseg > si + 1)
    seg_delete(s, s->nseg - 1);
  if (hdr_ok && g->end == size)
    return 0;
  seg_file(path, s, g->base, "seg");
  fd = openat(fs->root, path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return io_err(fs, errno);
  if (!hdr_ok) {
    seg_header(h, g->base, now);
    g->created = now;
    g->end = SEG_HDR;
    g->count = 0;
    g->nidx = 0;
    rc = pwrite_all(fs, fd, h, SEG_HDR, 0);
  }
  if (rc == 0 && ftruncate(fd, (off_t)g->end) != 0)
    rc = io_err(fs, errno);
  if (rc == 0 && fs->policy != WSP_EVLOG_FSYNC_NEVER)
    rc = do_fsync(fs, fd, 1);
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
  fd = openat(fs->root, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_err(fs, errno);
  if (!(d = fdopendir(fd))) {
    close(fd);
    return io_err(fs, errno);
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
  seg_file(path, s, base, "seg");
  if (fstatat(fs->root, path, &st, 0) != 0)
    return io_err(fs, errno);
  *size = (uint64_t)st.st_size;
  return 0;
}

static void snap_check(struct fstream *s, uint64_t top) {
  struct fstore *fs = s->fs;
  char path[PATH_CAP];
  uint8_t h[SNAP_HDR];
  int fd;
  path_of(path, s, "SNAPSHOT");
  fd = openat(fs->root, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  if (pread_all(fs, fd, h, SNAP_HDR, 0) == 0 && memcmp(h, SNAP_MAGIC, 8) == 0 &&
      get64(h + 8) <= top) {
    s->has_snap = 1;
    s->snap_off = get64(h + 8);
  }
  close(fd);
  /* A snapshot past the top describes events that are gone. */
  if (!s->has_snap)
    unlink_in(s, "SNAPSHOT");
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
  uint64_t *bases = NULL, last_time = now, bytes = 0, top;
  size_t len, n = 0, i;
  int rc, dirty, snap, lost, hdr_ok, torn;
  struct fstream *s;
  struct seg *a;
  if (strlen(dname) > ESC_MAX)
    return 1;
  snprintf(rel, sizeof(rel), "streams/%s", dname);
  rc = meta_read(fs, rel, &name, &len, epoch);
  if (rc == WSP_ERR_NOT_FOUND || rc == WSP_ERR_CORRUPT)
    return 1;
  if (rc != 0)
    return rc;
  escape_name(name, len, esc);
  s = strcmp(esc, dname) == 0 ? stream_new(fs, name, len) : NULL;
  wsp__free(&fs->mem, name);
  if (!s)
    return strcmp(esc, dname) == 0 ? WSP_ERR_NOMEM : 1;
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
    uint64_t size;
    int last = i + 1 == s->nseg;
    if ((rc = file_size(fs, s, g->base, &size)) != 0)
      return rc;
    if (!last && idx_load(fs, s, g, size, s->segs[i + 1].base) == 0)
      continue;
    s->flushed = size;
    if ((rc = scan_seg(s, i, size, &hdr_ok, &last_time, &torn)) != 0)
      return rc;
    if (!last && hdr_ok && g->end == size &&
        g->base + g->count == s->segs[i + 1].base) {
      idx_write(fs, s, g);
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
    if ((rc = seg_create(s, 1, now)) != 0)
      return rc;
  }
  a = &s->segs[s->nseg - 1];
  if (a->count == 0)
    last_time = a->created;
  s->flushed = a->end;
  top = a->base + a->count - 1;
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

static int fs_load(struct wsp_evlog_store *st, uint64_t now,
                   int (*found)(const struct wsp_evlog_stream_info *info,
                                void *stream, void *ctx),
                   void *ctx) {
  struct fstore *fs = (struct fstore *)st;
  struct dirent *de;
  struct fstream *s;
  int fd, rc = 0;
  DIR *d;
  fd = openat(fs->root, "streams", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_err(fs, errno);
  if (!(d = fdopendir(fd))) {
    close(fd);
    return io_err(fs, errno);
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
  if (fs->suspect && state_write(fs, 0, 0) == 0)
    fs->suspect = 0;
  return 0;
}

static int fs_create(struct wsp_evlog_store *st, const char *name, size_t len,
                     const char *epoch, uint64_t now, void **pstream) {
  struct fstore *fs = (struct fstore *)st;
  struct fstream *s = stream_new(fs, name, len);
  int rc;
  if (!s)
    return WSP_ERR_NOMEM;
  if (mkdirat(fs->root, s->rel, 0755) != 0) {
    char other_epoch[WSP_EVLOG_EPOCH_MAX + 1], *other = NULL;
    size_t olen;
    if (errno != EEXIST) {
      rc = io_err(fs, errno);
      goto fail;
    }
    rc = meta_read(fs, s->rel, &other, &olen, other_epoch);
    if (rc == 0) {
      /* Another name with the same directory: a case-insensitive file
       * system, or a stream this store does not know it holds. */
      wsp__free(&fs->mem, other);
      fs->stats.io_errors++;
      rc = WSP_ERR_IO;
      goto fail;
    }
    /* A directory without a valid META holds nothing acknowledged: the
     * leftover of a crashed create or remove. */
    if ((rc = clear_dir(fs, s->rel)) != 0)
      goto fail;
  } else if (fs->policy != WSP_EVLOG_FSYNC_NEVER &&
             (rc = sync_dir(fs, "streams")) != 0) {
    goto fail_dir;
  }
  strcpy(s->epoch, epoch);
  if ((rc = meta_write(fs, s, epoch)) != 0 ||
      (rc = seg_create(s, 1, now)) != 0) {
    (void)clear_dir(fs, s->rel);
    goto fail_dir;
  }
  s->first = 1;
  stream_link(fs, s);
  *pstream = s;
  return 0;
fail_dir:
  unlinkat(fs->root, s->rel, AT_REMOVEDIR);
fail:
  stream_free(fs, s);
  return rc;
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
  if ((e = sync_dir(fs, "streams")) != 0 && !rc)
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
    if (fs->load_done) {
      pending = 0;
      for (s = fs->streams; s; s = s->next)
        pending |= s->need_epoch;
      pending = pending && fs->suspect;
    }
    /* Clean only when everything acknowledged is on disk. */
    (void)state_write(fs, ok && !pending, pending);
  }
  while (fs->streams)
    stream_free(fs, fs->streams);
  win_free(fs, &fs->rw);
  wsp__free(&mem, fs->scratch);
  wsp__free(&mem, fs->rrefs);
  if (fs->lockfd >= 0)
    close(fs->lockfd);
  if (fs->root >= 0)
    close(fs->root);
  wsp__free(&mem, fs);
}

static const struct wsp_evlog_store_ops file_ops = {
    fs_load,
    fs_create,
    fs_append,
    fs_read,
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
    rc = io_err(fs, errno);
    goto fail;
  }
  fs->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fs->root < 0) {
    rc = io_err(fs, errno);
    goto fail;
  }
  fs->lockfd = openat(fs->root, "LOCK", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fs->lockfd < 0) {
    rc = io_err(fs, errno);
    goto fail;
  }
  if (flock(fs->lockfd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK ? WSP_ERR_STATE : io_err(fs, errno);
    goto fail;
  }
  if (mkdirat(fs->root, "streams", 0755) != 0 && errno != EEXIST) {
    rc = io_err(fs, errno);
    goto fail;
  }
  read_boot_id(fs->boot);
  state_read(fs, &prev);
  /* Acknowledged events may be missing when the last run did not close
   * cleanly, did not fsync every append, and the machine restarted since
   * (the page cache is gone), or when it said so itself. A directory
   * without STATE is new, or of unknown history. */
  fs->suspect = !prev.exists || prev.suspect ||
                (!prev.clean && prev.policy != WSP_EVLOG_FSYNC_ALWAYS &&
                 (!fs->boot[0] || strcmp(prev.boot, fs->boot) != 0));
  if ((rc = state_write(fs, 0, fs->suspect)) != 0)
    goto fail;
  if (made)
    (void)sync_dir(fs, "..");
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
