/*
 * fuzz_evlog_file: arbitrary bytes as the segment files of a file-store
 * stream, then the open (recovery) path and every read.
 *
 * Input: byte 0 picks the mode and options, the rest depends on it.
 *   raw       the rest is the newest segment of stream "s" (base 1),
 *             behind a valid segment header or as it is
 *   damaged   the rest drives appends (event sizes) to a log with small
 *             segments, closed cleanly; then one segment file picked by
 *             the input is cut, has bytes flipped or a range zeroed
 * Bits of byte 0 also choose the fsync policy and whether STATE says
 * the last run closed cleanly.
 *
 * After opening, whatever the bytes: the log opens; reading the stream
 * both ways gives offsets first..top in order (or WSP_ERR_CORRUPT when a
 * sealed segment is damaged behind an index that still matches); in the
 * damaged mode every event read has the content it was written with, and
 * the stream keeps its epoch only if it kept every event (whatever the
 * damage did, the clean close made them durable); an append gets top + 1;
 * a clean reopen gives the same top and epoch. A broken rule aborts.
 */
#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wsp/evlog.h>

#define FZ_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static char fz_dir[256];

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  if (ftw->level == 0)
    return 0; /* keep the directory itself */
  return remove(path);
}

static void fz_remove_dir(void) {
  nftw(fz_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  rmdir(fz_dir);
}

/* One directory for the whole run, emptied before each input. The store
 * fsyncs a lot: TMPDIR on a tmpfs makes the target much faster. */
static void fz_clean(void) {
  if (!fz_dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz-evlog-XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(fz_dir))
      abort();
    atexit(fz_remove_dir);
  }
  nftw(fz_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fz_write(const char *rel, const void *p, size_t n) {
  char path[512];
  int fd;
  snprintf(path, sizeof(path), "%s/%s", fz_dir, rel);
  fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  FZ_ASSERT(fd >= 0);
  FZ_ASSERT(write(fd, p, n) == (ssize_t)n);
  close(fd);
}

static void fz_mkdir(const char *rel) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", fz_dir, rel);
  FZ_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static int fz_open(int policy, struct wsp_evlog **pev) {
  struct wsp_evlog_file_options fo;
  struct wsp_evlog_options o;
  int rc;
  memset(&fo, 0, sizeof(fo));
  memset(&o, 0, sizeof(o));
  fo.fsync = policy;
  fo.segment_bytes = 256;
  fo.index_bytes = 64;
  rc = wsp_evlog_file_store_new(&o.store, fz_dir, &fo, NULL);
  if (rc != 0)
    return rc;
  return wsp_evlog_new(pev, &o, 1000);
}

/* The content of event off in the damaged mode. */
static size_t fz_payload(uint64_t off, uint8_t size_byte, uint8_t *buf) {
  size_t n = size_byte % 48, i;
  for (i = 0; i < n; i++)
    buf[i] = (uint8_t)(off * 31 + i);
  return n;
}

struct fz_read {
  uint64_t next;
  int step;
  const uint8_t *sizes; /* damaged mode: the size byte of each event */
  size_t nsizes;
};

static int fz_event(const struct wsp_evlog_event *e, void *ud) {
  struct fz_read *r = ud;
  FZ_ASSERT(e->offset == r->next);
  r->next += (uint64_t)(int64_t)r->step;
  fz_touch(e->data.ptr, e->data.len);
  fz_touch(e->info.ptr, e->info.len);
  if (r->sizes && e->offset <= r->nsizes) {
    uint8_t want[64];
    size_t n = fz_payload(e->offset, r->sizes[e->offset - 1], want);
    FZ_ASSERT(e->data.len == n && memcmp(e->data.ptr, want, n) == 0);
  }
  return 0;
}

static void fz_check(struct wsp_evlog *ev, const uint8_t *sizes, size_t nsizes,
                     struct wsp_evlog_position *out) {
  struct wsp_evlog_recovery rec;
  struct wsp_evlog_position p;
  struct fz_read r;
  long n;
  int rc;
  FZ_ASSERT(wsp_evlog_position(ev, "s", 1, &p) == 0);
  FZ_ASSERT(p.first >= 1 && p.first <= p.offset + 1);
  memset(&r, 0, sizeof(r));
  r.next = p.first;
  r.step = 1;
  r.sizes = sizes;
  r.nsizes = nsizes;
  n = wsp_evlog_read(ev, "s", 1, p.epoch, 0, WSP_EVLOG_NO_LIMIT, 0, fz_event,
                     &r, NULL);
  FZ_ASSERT(n == (long)(p.offset + 1 - p.first) || n == WSP_ERR_CORRUPT);
  r.next = p.offset;
  r.step = -1;
  n = wsp_evlog_read(ev, "s", 1, NULL, 0, WSP_EVLOG_NO_LIMIT, WSP_EVLOG_REVERSE,
                     fz_event, &r, NULL);
  FZ_ASSERT(n == (long)(p.offset + 1 - p.first) || n == WSP_ERR_CORRUPT);
  r.next = p.first;
  r.step = 1;
  rc = wsp_evlog_recover(ev, "s", 1, p.first - 1, p.epoch, 1000, fz_event, &r,
                         &rec);
  FZ_ASSERT(rc == 0 || rc == WSP_ERR_CORRUPT);
  FZ_ASSERT(rc != 0 || rec.recovered == (p.offset + 1 - p.first <= 1000));
  *out = p;
}

/* CRC-32C, bit by bit: independent of the store's table. */
static uint32_t fz_crc32c(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  size_t i;
  int k;
  for (i = 0; i < n; i++) {
    c ^= p[i];
    for (k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
  }
  return ~c;
}

static void fz_raw(const uint8_t *data, size_t size, int header) {
  static const char meta[] = "wsp-evlog-stream 1\nepoch fuzzfuzz\nname 73\n";
  uint8_t *seg = malloc(size + 32);
  uint32_t crc;
  FZ_ASSERT(seg);
  fz_mkdir("streams");
  fz_mkdir("streams/s");
  fz_write("streams/s/META", meta, sizeof(meta) - 1);
  if (header) {
    /* magic, base 1, created 0, a zero word, CRC-32C of the 28 before */
    memset(seg, 0, 32);
    memcpy(seg, "WSPSEG01", 8);
    seg[8] = 1;
    crc = fz_crc32c(seg, 28);
    seg[28] = (uint8_t)crc;
    seg[29] = (uint8_t)(crc >> 8);
    seg[30] = (uint8_t)(crc >> 16);
    seg[31] = (uint8_t)(crc >> 24);
    memcpy(seg + 32, data, size);
    fz_write("streams/s/00000000000000000001.seg", seg, size + 32);
  } else {
    fz_write("streams/s/00000000000000000001.seg", data, size);
  }
  free(seg);
}

/* Appends with sizes from the input, a clean close (the epoch then goes
 * to epoch), then damage. */
static size_t fz_damaged(const uint8_t *data, size_t size, int policy,
                         char *epoch) {
  struct wsp_evlog_position p0;
  struct wsp_evlog *ev = NULL;
  uint8_t buf[64];
  size_t n = size > 2 ? (size - 2 > 200 ? 200 : size - 2) : 0, i;
  char path[512], rel[128];
  struct stat st;
  uint64_t which;
  int fd;
  FZ_ASSERT(fz_open(policy, &ev) == 0);
  for (i = 0; i < n; i++)
    FZ_ASSERT(wsp_evlog_append(ev, "s", 1, 1000, buf,
                               fz_payload(i + 1, data[i], buf), NULL, 0,
                               NULL) == 0);
  FZ_ASSERT(wsp_evlog_position(ev, "s", 1, &p0) == 0);
  memcpy(epoch, p0.epoch, sizeof(p0.epoch));
  wsp_evlog_free(ev);
  if (size < 2)
    return n;
  /* Damage the segment holding event `which`. */
  which = 1 + (n ? data[size - 2] % n : 0);
  for (i = 0; i < 64; i++) {
    snprintf(rel, sizeof(rel), "streams/s/%020llu.seg",
             (unsigned long long)(which > i ? which - i : 1));
    snprintf(path, sizeof(path), "%s/%s", fz_dir, rel);
    if (stat(path, &st) == 0)
      break;
  }
  if (i == 64 || st.st_size == 0)
    return n;
  fd = open(path, O_RDWR);
  FZ_ASSERT(fd >= 0);
  {
    uint8_t op = data[size - 1];
    off_t at = (off_t)((op >> 2) * 7919u % (unsigned)st.st_size);
    uint8_t b;
    switch (op & 3) {
    case 0:
      FZ_ASSERT(ftruncate(fd, at) == 0);
      break;
    case 1:
    case 2:
      FZ_ASSERT(pread(fd, &b, 1, at) == 1);
      b ^= (uint8_t)(op | 1);
      FZ_ASSERT(pwrite(fd, &b, 1, at) == 1);
      break;
    default: {
      uint8_t z[16];
      memset(z, 0, sizeof(z));
      FZ_ASSERT(pwrite(fd, z, sizeof(z), at) >= 0);
    }
    }
  }
  close(fd);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wsp_evlog_position p, q;
  struct wsp_evlog *ev = NULL;
  const uint8_t *sizes = NULL;
  char epoch0[WSP_EVLOG_EPOCH_MAX + 1] = "";
  size_t nsizes = 0;
  uint8_t mode;
  uint64_t off = 0;
  int policy, rc;
  if (size < 1)
    return 0;
  mode = data[0];
  data++;
  size--;
  policy = (mode >> 2) % 3 + WSP_EVLOG_FSYNC_ALWAYS;
  fz_clean();
  if (mode & 1) {
    nsizes = fz_damaged(data, size, policy, epoch0);
    sizes = data;
  } else {
    fz_raw(data, size, (mode & 2) != 0);
  }
  if (mode & 0x20) {
    static const char st[] = "wsp-evlog 1\nboot -\nfsync always\nclean 1\n"
                             "suspect 0\n";
    fz_write("STATE", st, sizeof(st) - 1);
  }
  rc = fz_open(policy, &ev);
  FZ_ASSERT(rc == 0);
  fz_check(ev, sizes, nsizes, &p);
  /* Never the same epoch with fewer events. */
  FZ_ASSERT(!sizes || strcmp(p.epoch, epoch0) != 0 || p.offset == nsizes);
  FZ_ASSERT(wsp_evlog_append(ev, "s", 1, 2000, "x", 1, NULL, 0, &off) == 0);
  FZ_ASSERT(off == p.offset + 1);
  wsp_evlog_free(ev);
  /* A clean close and reopen changes nothing. */
  ev = NULL;
  FZ_ASSERT(fz_open(policy, &ev) == 0);
  FZ_ASSERT(wsp_evlog_position(ev, "s", 1, &q) == 0);
  FZ_ASSERT(q.offset == off);
  FZ_ASSERT(strcmp(q.epoch, p.epoch) == 0);
  wsp_evlog_free(ev);
  return 0;
}
