/*
 * pubsub-load: the load generator of the fan-out benchmark. Against one
 * server (wsp-bench-server, wslay-bench-server, ws-bench-server.mjs, or
 * wsp-demo through the full protocol) it opens N subscriber connections
 * and P publisher connections and measures, for each combination of the
 * lists given:
 *   - deliveries per second summed over subscribers, with at most W
 *     publications in flight (publication k + W is sent only once every
 *     subscriber has received k), over T seconds after a warm-up;
 *   - that every subscriber got every publication, in order;
 *   - the server's CPU time over the measured period (/proc/PID/stat);
 *   - delivery latency percentiles at a fixed light rate;
 * and, in --idle mode, the server's heap per idle subscribed connection
 * (GET /stats before and after opening N subscribers).
 *
 * Several nodes of one hub (wsp-demo --redis) are loaded as one server:
 * --connect takes a list of addresses, over which the subscribers are
 * spread in turn, --publish-to puts the publisher on any node, and --pid
 * takes the list of processes whose CPU time is measured (the nodes and
 * Redis). --window-on ack counts the window in publications not yet
 * acknowledged instead of not yet delivered (publish throughput, also
 * with no subscriber at all).
 *
 * Frames are parsed here by hand (server frames are unmasked and simple),
 * so the generator costs little per delivery and does not depend on the
 * library it measures. Each publication's payload carries the publisher,
 * a sequence number and the send time (CLOCK_MONOTONIC, ns).
 *
 *   pubsub-load --connect HOST:PORT[,HOST:PORT...] [--publish-to HOST:PORT]
 *               [--pid PID[,PID...]] [--subscribers 100,1000]
 *               [--size 64,1024] [--window 32,256] [--seconds T]
 *               [--warmup T] [--publishers P] [--latency-rate R]
 *               [--latency-seconds T] [--latency-subs N,...]
 *               [--protocol raw|centrifuge] [--wait spin|sleep]
 *               [--window-on delivery|ack] [--cell-latency yes|no]
 *               [--deflate yes|no]
 *   pubsub-load --connect HOST:PORT [--pid PID] --idle N
 *
 * Every result is one line of key=value fields (cell, latency, idle,
 * server) so that scripts can pick them up; see README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#ifdef WSP_BENCH_ZLIB
#include <zlib.h>
#endif

#define MAX_PUB 8
#define MAX_LIST 8
#define MAX_ADDR 16 /* --connect addresses, plus --publish-to */
#define MAX_PIDS 8
#define MAX_SAMPLES (1u << 25)  /* latency samples kept per cell */
#define REFUSED_RING (1u << 18) /* refused publications remembered */
#define CONNECT_BATCH 256       /* handshakes in progress at once */
#define PUB_OUT_CAP (1u << 20)
#define MAX_FRAME (16u << 20)
#define MAGIC 0x42505357u /* "WSPB" */
#define RAW_HEAD 24       /* magic, publisher, sequence, time */
#define SATURATED_PCT 90  /* of one CPU: the load tool may be the limit */

enum role { R_SUB, R_PUB };
enum state { S_CONNECTING, S_HANDSHAKE, S_JOINING, S_READY, S_DEAD };

struct peer {
  int fd;
  uint8_t role, state, pub; /* pub: publisher index for R_PUB */
  uint8_t addr;             /* index in g.addrs */
  uint32_t events;
  uint8_t *part; /* partial frame or response head */
  uint32_t partlen, partcap;
  uint64_t expect[MAX_PUB]; /* one past the highest sequence number seen */
  uint64_t seen[MAX_PUB];   /* bit i: expect - 1 - i was received */
};

struct publisher {
  struct peer *peer;
  uint64_t next, done; /* sent; received by every subscriber */
  uint32_t *counts;    /* subscribers that got seq, by seq & ring mask */
  uint8_t *out;
  size_t outlen, outoff;
  uint64_t cmd_id;   /* centrifuge: the next command id */
  uint64_t cmd_id0;  /* centrifuge: the id of publication 0 */
  uint64_t acked;    /* centrifuge: publish replies received */
  uint64_t ok;       /* centrifuge: of them, acknowledgements (not errors) */
  uint64_t *sent_at; /* send time of seq, by seq & ring mask */
  uint8_t *refused;  /* seq was refused, by seq % REFUSED_RING */
};

struct samples {
  uint32_t *v; /* microseconds */
  size_t n, cap;
};

struct addr {
  char host[256], port[16];
  char hostport[300]; /* for the Host header */
};

static struct {
  struct addr addrs[MAX_ADDR];
  unsigned naddr;    /* subscribers' addresses: addrs[0 .. naddr) */
  unsigned pub_addr; /* the publishers' */
  int centrifuge;
  const char *sub_path, *pub_path;
  long pids[MAX_PIDS]; /* the server's processes, pids[0] the main one */
  unsigned npids;
  int epfd, tfd;
  struct peer *subs;
  size_t nsubs, alive; /* opened subscribers; of them alive and ready */
  size_t connecting;   /* handshakes in progress */
  struct publisher pubs[MAX_PUB];
  unsigned npub;
  uint32_t ring_mask;
  /* the running cell */
  size_t size;
  uint64_t window;
  int sending; /* publishers fill their window */
  int paced;   /* latency phase: one publication per timer tick */
  uint64_t tokens;
  uint8_t *payload; /* template of size bytes */
  int ack_window;   /* --window-on ack */
  int cell_lat;     /* --cell-latency yes */
  /* counters: gaps are publications skipped (net of late arrivals), late
   * are arrivals after a later one, dups are second arrivals */
  uint64_t delivered, gaps, late, dups, bad, errors, pub_errors, dropped;
  int lat_on, alat_on;
  struct samples lat, alat; /* delivery; publish acknowledgement */
  uint8_t mask[4];
  int spin;         /* poll without sleeping */
  uint64_t busy_ns; /* time spent handling events */
} g;

static uint8_t rbuf[256 * 1024];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_le64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_le32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t get_le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* ---- --deflate yes: subscribers offer permessage-deflate ----------------
 * They ask the server to reset its compressor per message (RFC 7692
 * server_no_context_takeover), so each compressed publication inflates on
 * its own. The bytes subscribers read are counted, for the bytes on the
 * wire per delivery ("wire" lines), and the payload is filled with words
 * instead of one repeated byte, so that it compresses like text. */
static struct {
  int on;
  uint64_t wire; /* bytes read by subscribers */
#ifdef WSP_BENCH_ZLIB
  z_stream z;
  uint8_t *buf;
#endif
} zl;

#ifdef WSP_BENCH_ZLIB
/* The server compresses a publication once, so all its subscribers get
 * the same bytes: the heads inflated are kept by those bytes (compared
 * whole), so that the generator inflates each publication once too and
 * does not become the bottleneck. */
#define ZL_MEMO 4096     /* entries, looked up in runs of ZL_PROBE */
#define ZL_PROBE 8       /* the oldest of a run gives way */
#define ZL_MEMO_MAX 4096 /* longer messages are always inflated */
static struct zl_memo {
  uint64_t hash, stamp;
  uint32_t len;
  uint8_t *z; /* ZL_MEMO_MAX bytes */
  uint8_t head[RAW_HEAD];
} * zl_memo;
static uint64_t zl_stamp;

static uint64_t zl_hash(const uint8_t *d, size_t n) {
  uint64_t h = 1469598103934665603ull ^ n;
  size_t i;
  for (i = 0; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, d + i, 8);
    h = (h ^ v) * 1099511628211ull;
  }
  for (; i < n; i++)
    h = (h ^ d[i]) * 1099511628211ull;
  h ^= h >> 33; /* the low bits pick the slot: mix the high ones in */
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}
#endif

#define ZL_CAP ((1u << 20) + 4096) /* the largest --size, and then some */

static const char *zl_offer(int role) {
  return zl.on && role == R_SUB
             ? "Sec-WebSocket-Extensions: permessage-deflate; "
               "server_no_context_takeover; client_max_window_bits\r\n"
             : "";
}

static void zl_fill(uint8_t *p, size_t n) {
  static const char *const words[] = {"alpha", "news", "price", "7.25",
                                      "user",  "ok",   "sport", "1042",
                                      "text",  "the",  "quote", "-0.5"};
  uint32_t x = 2463534242u;
  size_t i = 0;
  while (i < n) {
    const char *w;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    for (w = words[x % 12]; *w && i < n; w++)
      p[i++] = (uint8_t)*w;
    if (i < n)
      p[i++] = ' ';
  }
}

/* The payload of a compressed message, at most want bytes of it, or NULL
 * when it does not inflate (or zlib is not there). */
static const uint8_t *zl_inflate(const uint8_t *d, size_t *len, size_t want) {
#ifdef WSP_BENCH_ZLIB
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  struct zl_memo *m = NULL;
  int r;
  if (want == RAW_HEAD && *len <= ZL_MEMO_MAX &&
      (zl_memo || (zl_memo = calloc(ZL_MEMO, sizeof *zl_memo)) != NULL)) {
    uint64_t h = zl_hash(d, *len);
    unsigned i;
    for (i = 0; i < ZL_PROBE; i++) {
      struct zl_memo *e = &zl_memo[(h + i) % ZL_MEMO];
      if (e->hash == h && e->len == *len && memcmp(e->z, d, *len) == 0) {
        *len = RAW_HEAD;
        return e->head;
      }
      if (!m || e->stamp < m->stamp)
        m = e;
    }
    if (!m->z && (m->z = malloc(ZL_MEMO_MAX)) == NULL)
      m = NULL;
    else {
      m->hash = h;
      m->stamp = ++zl_stamp;
      m->len = 0; /* filled below once it inflated */
    }
  }
  if (!zl.buf) {
    if ((zl.buf = malloc(ZL_CAP)) == NULL || inflateInit2(&zl.z, -15) != Z_OK)
      return NULL;
  }
  inflateReset(&zl.z);
  zl.z.next_out = zl.buf;
  zl.z.avail_out = (uInt)(want < ZL_CAP ? want : ZL_CAP);
  zl.z.next_in = (Bytef *)(uintptr_t)d;
  zl.z.avail_in = (uInt)*len;
  r = inflate(&zl.z, Z_SYNC_FLUSH);
  if (r != Z_OK && r != Z_BUF_ERROR)
    return NULL;
  if (zl.z.avail_out == 0) { /* all that is wanted */
    if (m) {
      memcpy(m->z, d, *len);
      m->len = (uint32_t)*len;
      memcpy(m->head, zl.buf, RAW_HEAD);
    }
    *len = want;
    return zl.buf;
  }
  if (zl.z.avail_in)
    return NULL;
  zl.z.next_in = (Bytef *)(uintptr_t)tail;
  zl.z.avail_in = 4;
  r = inflate(&zl.z, Z_SYNC_FLUSH);
  if ((r != Z_OK && r != Z_BUF_ERROR) || zl.z.avail_in)
    return NULL;
  *len = (size_t)(zl.z.next_out - zl.buf);
  return zl.buf;
#else
  (void)d;
  (void)len;
  (void)want;
  return NULL;
#endif
}

/* ---- Frames out (client frames are masked) ----------------------------- */

static size_t frame_head(uint8_t *h, int opcode, size_t len) {
  size_t n;

  h[0] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    h[1] = (uint8_t)(0x80 | len);
    n = 2;
  } else if (len < 65536) {
    h[1] = 0x80 | 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    n = 4;
  } else {
    int i;
    h[1] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    n = 10;
  }
  memcpy(h + n, g.mask, 4);
  return n + 4;
}

/* Write a whole masked frame into dst (room for len + 14); returns its
 * length. */
static size_t frame_put(uint8_t *dst, int opcode, const void *data,
                        size_t len) {
  size_t h = frame_head(dst, opcode, len), i;
  const uint8_t *s = data;

  for (i = 0; i < len; i++)
    dst[h + i] = s[i] ^ g.mask[i & 3];
  return h + len;
}

/* Small frames from subscribers (commands, pongs): sent at once. */
static void peer_send_small(struct peer *p, int opcode, const char *text) {
  uint8_t buf[512];
  size_t len = strlen(text), n;

  if (len > sizeof buf - 14)
    return;
  n = frame_put(buf, opcode, text, len);
  if (send(p->fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
    g.errors++;
}

/* ---- Bookkeeping ----------------------------------------------------------
 */

static void peer_dead(struct peer *p, const char *why) {
  if (p->state == S_DEAD)
    return;
  if (p->state == S_READY && p->role == R_SUB)
    g.alive--;
  if (p->state == S_CONNECTING || p->state == S_HANDSHAKE ||
      p->state == S_JOINING)
    g.connecting--;
  p->state = S_DEAD;
  g.dropped++;
  if (g.dropped <= 5)
    fprintf(stderr, "pubsub-load: %s connection lost: %s\n",
            p->role == R_SUB ? "subscriber" : "publisher", why);
  epoll_ctl(g.epfd, EPOLL_CTL_DEL, p->fd, NULL);
  close(p->fd);
  p->fd = -1;
}

static void advance(struct publisher *P) {
  while (P->done < P->next && P->counts[P->done & g.ring_mask] >= g.alive) {
    P->counts[P->done & g.ring_mask] = 0;
    P->done++;
  }
}

static void record(struct samples *S, uint64_t us) {
  if (S->n == S->cap) {
    size_t cap = S->cap ? S->cap * 2 : 1u << 18;
    uint32_t *l;
    if (S->cap >= MAX_SAMPLES || (l = realloc(S->v, cap * sizeof *l)) == NULL)
      return;
    S->v = l;
    S->cap = cap;
  }
  S->v[S->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Publications in [from, to) of publisher pub that a subscriber should
 * have received: the refused ones never come (when too old to tell,
 * they count). */
static uint64_t skipped(uint32_t pub, uint64_t from, uint64_t to) {
  const struct publisher *P = &g.pubs[pub];
  uint64_t n = to - from, q;

  if (P->refused == NULL || from + REFUSED_RING < P->next)
    return n;
  for (q = from; q < to; q++)
    n -= P->refused[q % REFUSED_RING];
  return n;
}

/* One publication reached subscriber s at time now. A sequence number
 * past the next one expected counts the ones skipped as gaps; one that
 * comes after a later one is late (out of order, and no longer a gap)
 * when it was not seen before, a duplicate when it was. Only the last
 * 64 numbers are remembered: anything older counts as a duplicate. */
static void on_publication(struct peer *s, uint32_t pub, uint64_t seq,
                           uint64_t sent, uint64_t now) {
  struct publisher *P;
  uint64_t e;

  if (pub >= g.npub) {
    g.bad++;
    return;
  }
  e = s->expect[pub];
  if (seq < e) {
    uint64_t back = e - 1 - seq, bit = back < 64 ? (uint64_t)1 << back : 0;
    if (bit == 0 || (s->seen[pub] & bit)) {
      g.dups++;
      return;
    }
    s->seen[pub] |= bit;
    g.late++;
    if (g.gaps > 0) /* counted as a gap, unless in an earlier cell */
      g.gaps--;
  } else {
    uint64_t shift = seq - e + 1;
    g.gaps += skipped(pub, e, seq);
    s->seen[pub] = (shift < 64 ? s->seen[pub] << shift : 0) | 1;
    s->expect[pub] = seq + 1;
  }
  g.delivered++;
  P = &g.pubs[pub];
  if (seq >= P->done && seq < P->next) {
    P->counts[seq & g.ring_mask]++;
    if (seq == P->done)
      advance(P);
  }
  if (g.lat_on && now > sent)
    record(&g.lat, (now - sent) / 1000u);
}

/* ---- The Centrifuge JSON protocol (full-protocol mode) ------------------ */

static const char *find(const char *p, size_t len, const char *needle) {
  return memmem(p, len, needle, strlen(needle));
}

static int parse_u64(const char **pp, const char *end, uint64_t *v) {
  const char *p = *pp;
  *v = 0;
  if (p >= end || *p < '0' || *p > '9')
    return -1;
  while (p < end && *p >= '0' && *p <= '9')
    *v = *v * 10 + (uint64_t)(*p++ - '0');
  *pp = p;
  return 0;
}

/* A reply to a publish command: {"id":N,"publish":{}} or an error. */
static void cf_publish_reply(struct publisher *P, const char *l, size_t len,
                             uint64_t now) {
  const char *d = l + 6, *end = l + len;
  uint64_t id, seq;

  if (len < 7 || memcmp(l, "{\"id\":", 6) != 0 || parse_u64(&d, end, &id) < 0 ||
      id < P->cmd_id0 || (seq = id - P->cmd_id0) >= P->next) {
    g.bad++;
    return;
  }
  if (find(l, len, "\"error\":") != NULL) {
    if (g.pub_errors++ < 5)
      fprintf(stderr, "pubsub-load: publish refused: %.*s\n", (int)len, l);
    /* It will reach nobody: no longer in the window, not a loss. */
    if (seq >= P->done && seq + g.ring_mask + 1 >= P->next) {
      P->refused[seq % REFUSED_RING] = 1;
      P->counts[seq & g.ring_mask] = UINT32_MAX;
      advance(P);
    }
  } else {
    P->ok++;
  }
  P->acked++;
  if (g.alat_on && seq + g.ring_mask + 1 >= P->next &&
      now > P->sent_at[seq & g.ring_mask])
    record(&g.alat, (now - P->sent_at[seq & g.ring_mask]) / 1000u);
}

static void cf_line(struct peer *p, const char *l, size_t len, uint64_t now) {
  static const char dq[] = "\"data\":{\"q\":";
  const char *d, *end = l + len;
  uint64_t q, seq, ts;

  if (len == 2 && memcmp(l, "{}", 2) == 0) { /* server ping */
    peer_send_small(p, 1, "{}");
    return;
  }
  if (len > 8 && memcmp(l, "{\"push\":", 8) == 0) {
    if ((d = find(l, len, dq)) == NULL)
      return; /* join/leave and other pushes */
    d += sizeof dq - 1;
    if (parse_u64(&d, end, &q) < 0 || end - d < 5 ||
        memcmp(d, ",\"s\":", 5) != 0 ||
        (d += 5, parse_u64(&d, end, &seq)) < 0 || end - d < 5 ||
        memcmp(d, ",\"t\":", 5) != 0 || (d += 5, parse_u64(&d, end, &ts)) < 0) {
      g.bad++;
      return;
    }
    on_publication(p, (uint32_t)q, seq, ts, now);
    return;
  }
  if (p->role == R_PUB && p->state == S_READY) {
    cf_publish_reply(&g.pubs[p->pub], l, len, now);
    return;
  }
  if (find(l, len, "\"error\":") != NULL) {
    if (g.errors++ < 5)
      fprintf(stderr, "pubsub-load: error reply: %.*s\n", (int)len, l);
    if (p->state == S_JOINING)
      peer_dead(p, "connect or subscribe refused");
    return;
  }
  if (p->state != S_JOINING)
    return;
  if (len > 7 && memcmp(l, "{\"id\":1,", 8) == 0) {
    if (p->role == R_SUB)
      peer_send_small(p, 1, "{\"id\":2,\"subscribe\":{\"channel\":\"bench\"}}");
    else
      goto ready;
    return;
  }
  if (len > 7 && memcmp(l, "{\"id\":2,", 8) == 0 && p->role == R_SUB)
    goto ready;
  return;
ready:
  p->state = S_READY;
  g.connecting--;
  if (p->role == R_SUB)
    g.alive++;
}

/* ---- Frames in --------------------------------------------------------------
 */

/* Total length of the frame starting at p, 0 while its header is
 * incomplete. */
static size_t frame_len(const uint8_t *p, size_t n) {
  uint64_t len;
  size_t h = 2;

  if (n < 2)
    return 0;
  len = p[1] & 0x7f;
  if (len == 126) {
    if (n < 4)
      return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    h = 4;
  } else if (len == 127) {
    int i;
    if (n < 10)
      return 0;
    for (len = 0, i = 0; i < 8; i++)
      len = len << 8 | p[2 + i];
    h = 10;
  }
  if (p[1] & 0x80)
    h += 4;
  return len > MAX_FRAME ? MAX_FRAME + 1 : h + (size_t)len;
}

static void on_frame(struct peer *p, const uint8_t *f, size_t n, uint64_t now) {
  int opcode = f[0] & 0x0f;
  size_t h = (f[1] & 0x7f) == 126 ? 4 : (f[1] & 0x7f) == 127 ? 10 : 2;
  const uint8_t *d = f + h;
  size_t len = n - h;

  if ((f[1] & 0x80) || !(f[0] & 0x80)) {
    g.bad++; /* masked or fragmented: not what these servers send */
    return;
  }
  /* Compressed (--deflate yes): a subscriber of the raw protocol reads
   * only the head of a publication, and inflates only that. */
  if ((f[0] & 0x40) &&
      (d = zl_inflate(d, &len,
                      g.centrifuge || p->role != R_SUB ? ZL_CAP : RAW_HEAD)) ==
          NULL) {
    g.bad++; /* not valid */
    return;
  }
  if (opcode == 0x8) {
    char why[64];
    snprintf(why, sizeof why, "close frame %d from the server",
             len >= 2 ? d[0] << 8 | d[1] : 1005);
    peer_dead(p, why);
  } else if (opcode == 0x9) {
    uint8_t pong[140];
    if (len <= 125 &&
        send(p->fd, pong, frame_put(pong, 0xa, d, len), MSG_NOSIGNAL) < 0)
      g.errors++;
  } else if (g.centrifuge && opcode == 0x1) {
    const char *l = (const char *)d, *end = l + len;
    while (l < end && p->state != S_DEAD) {
      const char *nl = memchr(l, '\n', (size_t)(end - l));
      const char *le = nl ? nl : end;
      cf_line(p, l, (size_t)(le - l), now);
      l = nl ? nl + 1 : end;
    }
  } else if (!g.centrifuge && (opcode == 0x1 || opcode == 0x2) &&
             p->role == R_SUB) {
    if (len < RAW_HEAD || get_le32(d) != MAGIC) {
      g.bad++;
      return;
    }
    on_publication(p, get_le32(d + 4), get_le64(d + 8), get_le64(d + 16), now);
  } else if (opcode != 0xa) {
    g.bad++;
  }
}

static int part_room(struct peer *p, size_t need) {
  uint8_t *q;
  size_t cap = p->partcap ? p->partcap : 256;

  if (need <= p->partcap)
    return 0;
  while (cap < need)
    cap *= 2;
  if ((q = realloc(p->part, cap)) == NULL)
    return -1;
  p->part = q;
  p->partcap = (uint32_t)cap;
  return 0;
}

/* Frames arrive split anywhere: complete the pending one in p->part,
 * take whole frames straight from d, keep the incomplete tail. */
static void frames_in(struct peer *p, const uint8_t *d, size_t n,
                      uint64_t now) {
  while (n > 0 && p->state != S_DEAD) {
    size_t need, take;

    if (p->partlen > 0) {
      need = frame_len(p->part, p->partlen);
      if (need == 0) { /* complete the header first (at most 14 bytes) */
        take = 14 - p->partlen < n ? 14 - p->partlen : n;
        if (part_room(p, p->partlen + take) < 0)
          goto fail;
        memcpy(p->part + p->partlen, d, take);
        p->partlen += (uint32_t)take;
        d += take;
        n -= take;
        if ((need = frame_len(p->part, p->partlen)) == 0)
          continue;
        if (p->partlen > need) { /* took bytes of the next frame: give back */
          size_t back = p->partlen - need;
          d -= back;
          n += back;
          p->partlen = (uint32_t)need;
        }
      }
      if (need > MAX_FRAME || part_room(p, need) < 0)
        goto fail;
      take = need - p->partlen < n ? need - p->partlen : n;
      memcpy(p->part + p->partlen, d, take);
      p->partlen += (uint32_t)take;
      d += take;
      n -= take;
      if (p->partlen == need) {
        p->partlen = 0;
        on_frame(p, p->part, need, now);
      }
      continue;
    }
    need = frame_len(d, n);
    if (need > MAX_FRAME)
      goto fail;
    if (need == 0 || need > n) {
      if (part_room(p, n < 14 ? 14 : n) < 0)
        goto fail;
      memcpy(p->part, d, n);
      p->partlen = (uint32_t)n;
      return;
    }
    on_frame(p, d, need, now);
    d += need;
    n -= need;
  }
  return;
fail:
  peer_dead(p, "frame too large");
}

/* ---- Connections -------------------------------------------------------- */

static void set_events(struct peer *p, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = p};

  if (events != p->events && epoll_ctl(g.epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
    p->events = events;
}

static int peer_open(struct peer *p, int role, unsigned addr) {
  struct addrinfo hints = {0}, *res = NULL;
  struct epoll_event ev = {0};
  int one = 1, rc;

  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(g.addrs[addr].host, g.addrs[addr].port, &hints, &res) != 0 ||
      res == NULL)
    return -1;
  memset(p, 0, sizeof *p);
  p->role = (uint8_t)role;
  p->addr = (uint8_t)addr;
  p->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->fd < 0) {
    freeaddrinfo(res);
    return -1;
  }
  setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  rc = connect(p->fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc < 0 && errno != EINPROGRESS) {
    perror("pubsub-load: connect");
    close(p->fd);
    return -1;
  }
  p->state = S_CONNECTING;
  p->events = ev.events = EPOLLOUT;
  ev.data.ptr = p;
  if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, p->fd, &ev) < 0) {
    close(p->fd);
    return -1;
  }
  g.connecting++;
  return 0;
}

static void peer_connected(struct peer *p) {
  char req[600];
  int err = 0, n;
  socklen_t len = sizeof err;

  if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
    peer_dead(p, strerror(err ? err : errno));
    return;
  }
  n = snprintf(req, sizeof req,
               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n%s\r\n",
               p->role == R_SUB ? g.sub_path : g.pub_path,
               g.addrs[p->addr].hostport, zl_offer(p->role));
  if (send(p->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    peer_dead(p, "cannot send the request");
    return;
  }
  p->state = S_HANDSHAKE;
  set_events(p, EPOLLIN);
}

/* Bytes of the response head; the rest are frames. */
static void handshake_in(struct peer *p, const uint8_t *d, size_t n,
                         uint64_t now) {
  const uint8_t *end;
  size_t head;

  if (part_room(p, p->partlen + n) < 0 || p->partlen + n > 16384) {
    peer_dead(p, "response head too large");
    return;
  }
  memcpy(p->part + p->partlen, d, n);
  p->partlen += (uint32_t)n;
  end = memmem(p->part, p->partlen, "\r\n\r\n", 4);
  if (end == NULL)
    return;
  head = (size_t)(end + 4 - p->part);
  if (p->partlen < 12 || memcmp(p->part, "HTTP/1.1 101", 12) != 0) {
    char why[80];
    snprintf(why, sizeof why, "handshake refused: %.*s",
             (int)(memchr(p->part, '\r', head)
                       ? (uint8_t *)memchr(p->part, '\r', head) - p->part
                       : 12),
             (const char *)p->part);
    peer_dead(p, why);
    return;
  }
  n = p->partlen - head;
  memmove(p->part, p->part + head, n);
  p->partlen = 0;
  if (g.centrifuge) {
    p->state = S_JOINING;
    peer_send_small(p, 1, "{\"id\":1,\"connect\":{\"name\":\"pubsub-load\"}}");
  } else {
    p->state = S_READY;
    g.connecting--;
    if (p->role == R_SUB)
      g.alive++;
  }
  if (p->role == R_PUB) {
    g.pubs[p->pub].cmd_id = 2;
    g.pubs[p->pub].cmd_id0 = 2 - g.pubs[p->pub].next;
  }
  if (n > 0) {
    memcpy(rbuf, p->part, n); /* rbuf is free: the caller copied from it */
    frames_in(p, rbuf, n, now);
  }
}

/* The time of arrival, read only when something uses it (a latency
 * sample, a publish reply, a handshake): a clock read per read is a cost
 * the tool need not pay for every delivery. */
static uint64_t arrival(const struct peer *p) {
  return g.lat_on || p->role == R_PUB || p->state != S_READY ? now_ns() : 0;
}

static void peer_read(struct peer *p) {
  int i;

  for (i = 0; i < 4 && p->state != S_DEAD; i++) {
    ssize_t n = read(p->fd, rbuf, sizeof rbuf);
    uint64_t now = arrival(p);

    if (n > 0 && p->role == R_SUB)
      zl.wire += (uint64_t)n;
    if (n > 0) {
      if (p->state == S_HANDSHAKE)
        handshake_in(p, rbuf, (size_t)n, now);
      else
        frames_in(p, rbuf, (size_t)n, now);
      if ((size_t)n < sizeof rbuf)
        return;
    } else if (n == 0) {
      peer_dead(p, "closed by the server");
    } else if (errno != EINTR) {
      if (errno != EAGAIN)
        peer_dead(p, strerror(errno));
      return;
    }
  }
}

/* ---- Publishing ------------------------------------------------------------
 */

static void pub_flush(struct publisher *P) {
  struct peer *p = P->peer;

  while (P->outoff < P->outlen && p->state != S_DEAD) {
    ssize_t n =
        send(p->fd, P->out + P->outoff, P->outlen - P->outoff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN)
        break;
      if (errno != EINTR)
        peer_dead(p, strerror(errno));
      continue;
    }
    P->outoff += (size_t)n;
  }
  if (P->outoff == P->outlen)
    P->outoff = P->outlen = 0;
  if (p->state != S_DEAD)
    set_events(p, EPOLLIN | (P->outlen ? EPOLLOUT : 0));
}

/* Queue publication P->next into the output buffer. */
static void pub_one(struct publisher *P, uint64_t now) {
  uint8_t *dst;
  unsigned idx = (unsigned)(P - g.pubs);

  if (P->outoff > 0 && P->outlen + g.size + 256 > PUB_OUT_CAP) {
    memmove(P->out, P->out + P->outoff, P->outlen - P->outoff);
    P->outlen -= P->outoff;
    P->outoff = 0;
  }
  dst = P->out + P->outlen;
  P->sent_at[P->next & g.ring_mask] = now;
  P->refused[P->next % REFUSED_RING] = 0;
  if (!g.centrifuge) {
    put_le32(g.payload, MAGIC);
    put_le32(g.payload + 4, idx);
    put_le64(g.payload + 8, P->next);
    put_le64(g.payload + 16, now);
    P->outlen += frame_put(dst, 0x2, g.payload, g.size);
  } else {
    /* data is a JSON object of exactly size bytes: the fields, then a
     * string of 'x' padding it out. */
    char head[160], *cmd;
    int hn = snprintf(head, sizeof head,
                      "{\"q\":%u,\"s\":%" PRIu64 ",\"t\":%" PRIu64 ",\"p\":\"",
                      idx, P->next, now);
    size_t pad = g.size > (size_t)hn + 2 ? g.size - (size_t)hn - 2 : 0;
    int cn;

    cmd = (char *)g.payload;
    cn = snprintf(cmd, 200,
                  "{\"id\":%" PRIu64
                  ",\"publish\":{\"channel\":\"bench\",\"data\":%s",
                  P->cmd_id++, head);
    memset(cmd + cn, 'x', pad);
    memcpy(cmd + cn + pad, "\"}}}", 4);
    P->outlen += frame_put(dst, 0x1, cmd, (size_t)cn + pad + 4);
  }
  P->next++;
}

/* The window: publications not yet received by every subscriber, or
 * with --window-on ack, not yet acknowledged, the subscribers (if any)
 * being allowed to fall behind by the whole ring. */
static int pub_room(const struct publisher *P) {
  if (!g.ack_window)
    return P->next < P->done + g.window;
  return P->next < P->acked + g.window && P->next < P->done + g.ring_mask + 1;
}

static void pub_fill(struct publisher *P) {
  uint64_t now = now_ns();

  if (P->peer->state != S_READY)
    return;
  advance(P); /* with no subscriber left, done follows next */
  while (pub_room(P) && P->outlen + g.size + 512 <= PUB_OUT_CAP) {
    if (g.paced) {
      if (g.tokens == 0)
        break;
      g.tokens--;
    } else if (!g.sending) {
      break;
    }
    pub_one(P, now);
  }
  pub_flush(P);
}

/* ---- The loop ----------------------------------------------------------- */

static void pump(int timeout_ms) {
  struct epoll_event evs[512];
  uint64_t t0 = 0, t1;
  int n, i, spins = 0;
  unsigned k;

  if (g.spin) {
    /* Poll without sleeping: a core that halts between reads pays a
     * wake-up (an inter-processor interrupt, costly in a virtual machine)
     * for every socket the server writes. Sleep only when nothing came
     * for a while. */
    t0 = now_ns();
    do
      n = epoll_wait(g.epfd, evs, 512, 0);
    while (n == 0 &&
           (++spins & 63 || now_ns() - t0 < (uint64_t)timeout_ms * 1000000u));
  } else {
    n = epoll_wait(g.epfd, evs, 512, timeout_ms);
  }
  if (n > 0)
    t0 = now_ns();

  for (i = 0; i < n; i++) {
    struct peer *p = evs[i].data.ptr;

    if (evs[i].data.ptr == &g.tfd) {
      uint64_t ticks;
      if (read(g.tfd, &ticks, sizeof ticks) == sizeof ticks && g.paced)
        g.tokens += ticks;
      continue;
    }
    if (p->state == S_DEAD)
      continue;
    if (p->state == S_CONNECTING) {
      if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        peer_connected(p);
      continue;
    }
    if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
      peer_read(p);
    if (p->state != S_DEAD && p->role == R_PUB && (evs[i].events & EPOLLOUT))
      pub_flush(&g.pubs[p->pub]);
  }
  for (k = 0; k < g.npub; k++)
    pub_fill(&g.pubs[k]);
  if (n > 0) {
    t1 = now_ns();
    g.busy_ns += t1 - t0;
  }
}

/* Open subscribers until target are ready (or fail). */
static int grow_subs(size_t target) {
  uint64_t deadline = now_ns() + 10000000000u + target * 2000000u;
  size_t k;

  while (g.nsubs < target || g.connecting > 0) {
    while (g.nsubs < target && g.connecting < CONNECT_BATCH) {
      struct peer *s = &g.subs[g.nsubs];
      if (peer_open(s, R_SUB, (unsigned)(g.nsubs % g.naddr)) < 0)
        return -1;
      for (k = 0; k < g.npub; k++)
        s->expect[k] = g.pubs[k].next;
      g.nsubs++;
    }
    if (now_ns() > deadline) {
      fprintf(stderr, "pubsub-load: %zu handshakes still pending\n",
              g.connecting);
      return -1;
    }
    pump(10);
  }
  if (g.dropped > 0) {
    fprintf(stderr, "pubsub-load: %" PRIu64 " connections failed\n", g.dropped);
    return -1;
  }
  return 0;
}

static int open_publishers(void) {
  uint64_t deadline = now_ns() + 10000000000u;
  unsigned k;

  for (k = 0; k < g.npub; k++) {
    struct peer *p = calloc(1, sizeof *p);
    struct publisher *P = &g.pubs[k];

    if (p == NULL || peer_open(p, R_PUB, g.pub_addr) < 0 ||
        (P->counts = calloc(g.ring_mask + 1, sizeof *P->counts)) == NULL ||
        (P->sent_at = calloc(g.ring_mask + 1, sizeof *P->sent_at)) == NULL ||
        (P->refused = calloc(REFUSED_RING, 1)) == NULL ||
        (P->out = malloc(PUB_OUT_CAP)) == NULL)
      return -1;
    p->pub = (uint8_t)k;
    P->peer = p;
  }
  while (g.connecting > 0 && now_ns() < deadline)
    pump(10);
  for (k = 0; k < g.npub; k++)
    if (g.pubs[k].peer->state != S_READY)
      return -1;
  return 0;
}

/* Wait until every publication sent has reached every live subscriber. */
static int drain(uint64_t max_ns) {
  uint64_t deadline = now_ns() + max_ns;
  unsigned k;

  for (;;) {
    int busy = 0;
    for (k = 0; k < g.npub; k++)
      busy |= g.pubs[k].done < g.pubs[k].next ||
              g.pubs[k].outlen > g.pubs[k].outoff ||
              (g.centrifuge && g.pubs[k].acked < g.pubs[k].next &&
               g.pubs[k].peer->state == S_READY);
    if (!busy)
      return 0;
    if (now_ns() > deadline)
      return -1;
    pump(10);
  }
}

/* Publications some live subscriber has not received. */
static uint64_t missing(void) {
  uint64_t m = 0;
  size_t i;
  unsigned k;

  for (i = 0; i < g.nsubs; i++)
    if (g.subs[i].state == S_READY)
      for (k = 0; k < g.npub; k++)
        m += skipped(k, g.subs[i].expect[k], g.pubs[k].next);
  return m;
}

/* ---- Measurements -----------------------------------------------------------
 */

/* utime + stime of process pid in seconds, or -1. */
static double proc_cpu(long pid) {
  char path[64], buf[1024], *p;
  unsigned long ut, st;
  ssize_t n;
  int fd;

  if (pid <= 0)
    return -1;
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
    return -1;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  if ((p = strrchr(buf, ')')) == NULL ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
             &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds all processes spent in user and system mode (irq time
 * excluded), from /proc/stat; -1 when unreadable. */
static double all_cpu(void) {
  unsigned long long user, nice, sys;
  char buf[256];
  ssize_t n;
  int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return -1;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  if (sscanf(buf, "cpu %llu %llu %llu", &user, &nice, &sys) != 3)
    return -1;
  return (double)(user + nice + sys) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of every --pid, each into each[] (when not NULL), and
 * their sum; -1 when one is unreadable or there is none. */
static double server_cpu(double *each) {
  double sum = 0;
  unsigned i;

  if (g.npids == 0)
    return -1;
  for (i = 0; i < g.npids; i++) {
    double c = proc_cpu(g.pids[i]);
    if (c < 0)
      return -1;
    if (each != NULL)
      each[i] = c;
    sum += c;
  }
  return sum;
}

#define MAX_CPUS 64

/* Busy and total clock ticks of each CPU (cpuN lines of /proc/stat;
 * busy is everything but idle and iowait, interrupts included); returns
 * the number of CPUs, 0 when unreadable. */
static unsigned cpu_ticks(unsigned long long *busy, unsigned long long *total) {
  unsigned long long v[8];
  char line[512];
  unsigned n = 0, c;
  FILE *f = fopen("/proc/stat", "r");

  if (f == NULL)
    return 0;
  while (fgets(line, sizeof line, f) != NULL && n < MAX_CPUS) {
    if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
      continue;
    if (sscanf(line, "cpu%u %llu %llu %llu %llu %llu %llu %llu %llu", &c, &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 9)
      continue;
    total[n] = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    busy[n] = total[n] - v[3] - v[4];
    n++;
  }
  fclose(f);
  return n;
}

static long proc_rss_kib(long pid) {
  char path[64], line[256];
  long kib = -1;
  FILE *f;

  if (pid <= 0)
    return -1;
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  if ((f = fopen(path, "r")) == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* GET /stats: the body into out (NUL-terminated); 0 or -1. */
static int get_stats(char *out, size_t cap) {
  struct addrinfo hints = {0}, *res = NULL;
  struct timeval tv = {5, 0};
  char req[400], buf[8192], *body;
  size_t len = 0;
  int fd, n;

  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(g.addrs[0].host, g.addrs[0].port, &hints, &res) != 0 ||
      res == NULL)
    return -1;
  fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
    freeaddrinfo(res);
    if (fd >= 0)
      close(fd);
    return -1;
  }
  freeaddrinfo(res);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  n = snprintf(req, sizeof req,
               "GET /stats HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
               g.addrs[0].hostport);
  if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    close(fd);
    return -1;
  }
  while (len < sizeof buf - 1 &&
         (n = (int)read(fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)n;
  close(fd);
  buf[len] = '\0';
  if (strncmp(buf, "HTTP/1.1 200", 12) != 0 ||
      (body = strstr(buf, "\r\n\r\n")) == NULL)
    return -1;
  snprintf(out, cap, "%s", body + 4);
  return 0;
}

static long long stats_field(const char *stats, const char *name) {
  size_t n = strlen(name);
  const char *p = stats;

  while (p != NULL && *p) {
    if (strncmp(p, name, n) == 0 && p[n] == ' ')
      return atoll(p + n + 1);
    if ((p = strchr(p, '\n')) != NULL)
      p++;
  }
  return -1;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Percentile q of sorted samples. */
static uint32_t pct(const struct samples *S, double q) {
  size_t i = (size_t)(q * (double)S->n);
  return S->n ? S->v[i < S->n ? i : S->n - 1] : 0;
}

static void sort_samples(struct samples *S) {
  if (S->n > 0)
    qsort(S->v, S->n, sizeof *S->v, cmp_u32);
}

/* The tool's own CPU over a phase of secs seconds (getrusage), with the
 * deliveries it handled per CPU-second. In a measured phase (phase not
 * NULL), past SATURATED_PCT of one CPU the tool rather than the server
 * may be the limit, and it says so. */
static void print_self(const char *phase, double cpu_s, double secs,
                       uint64_t deliveries) {
  double pct_cpu = secs > 0 ? 100 * cpu_s / secs : 0;
  int saturated = pct_cpu >= SATURATED_PCT;

  printf(" loadgen_cpu_pct=%.0f", pct_cpu);
  if (deliveries > 0 && cpu_s > 0)
    printf(" deliveries_per_loadgen_cpu_s=%.0f", (double)deliveries / cpu_s);
  if (phase == NULL)
    return;
  printf(" loadgen_saturated=%s", saturated ? "yes" : "no");
  if (saturated)
    fprintf(stderr,
            "pubsub-load: load tool saturated in %s (%.0f%% of a CPU): "
            "its figures may be the tool's limit, not the server's\n",
            phase, pct_cpu);
}

static void reset_counters(void) {
  g.delivered = g.gaps = g.late = g.dups = g.bad = g.pub_errors = 0;
}

/* Publications acknowledged (refusals not counted). */
static uint64_t acked(void) {
  uint64_t a = 0;
  unsigned k;
  for (k = 0; k < g.npub; k++)
    a += g.pubs[k].ok;
  return a;
}

/* Where the publications missing at the end of a cell were missing: by
 * subscriber address, on stderr. */
static void report_missing(void) {
  uint64_t m[MAX_ADDR] = {0};
  size_t i;
  unsigned a, k;

  for (i = 0; i < g.nsubs; i++)
    if (g.subs[i].state == S_READY)
      for (k = 0; k < g.npub; k++)
        m[g.subs[i].addr] += skipped(k, g.subs[i].expect[k], g.pubs[k].next);
  fprintf(stderr, "pubsub-load: not received at the end, by address:");
  for (a = 0; a < g.naddr; a++)
    fprintf(stderr, " %s=%" PRIu64, g.addrs[a].hostport, m[a]);
  fprintf(stderr, " (skipped: %" PRIu64 ")\n", g.gaps);
}

/* The fields every cell and latency line shares; acks counts the publish
 * replies of the cell. */
static void print_checks(uint64_t lost, uint64_t dropped, uint64_t acks) {
  printf(" lost=%" PRIu64 " reordered=%" PRIu64 " duplicates=%" PRIu64
         " dropped_conns=%" PRIu64 " bad=%" PRIu64,
         lost, g.late, g.dups, dropped, g.bad);
  if (g.centrifuge)
    printf(" acked=%" PRIu64 " pub_errors=%" PRIu64, acks, g.pub_errors);
}

/* One throughput cell: window w, payload size bytes, over the current
 * subscribers. Returns non-zero when something was lost. */
static int cell(size_t size, uint64_t w, double warmup, double seconds) {
  uint64_t t0 = now_ns(), from = t0 + (uint64_t)(warmup * 1e9),
           to = from + (uint64_t)(seconds * 1e9), t_from = 0, t_to = 0;
  uint64_t d_from = 0, d_to = 0, a0 = acked(), a_from = 0, a_to = 0,
           published0 = 0, published = 0;
  double cpu0 = server_cpu(NULL), cpu_from = -1, cpu_to = -1, self_from = 0,
         self_to = 0, all_from = -1, all_to = -1, secs, rate, pub_rate, cpu,
         cpu_secs, each_from[MAX_PIDS], each_to[MAX_PIDS];
  uint64_t busy_from = 0, busy_to = 0;
  uint64_t lost, dropped0 = g.dropped;
  unsigned long long cb_from[MAX_CPUS], ct_from[MAX_CPUS], cb_to[MAX_CPUS],
      ct_to[MAX_CPUS];
  unsigned ncpu_from = 0, ncpu_to = 0;
  int drained, whole;
  unsigned k;

  g.size = size;
  g.window = w;
  g.lat.n = g.alat.n = 0;
  reset_counters();
  for (k = 0; k < g.npub; k++)
    published0 += g.pubs[k].next;
  g.sending = 1;
  while (t_to == 0) {
    uint64_t now;
    int enough;
    pump(5);
    now = now_ns();
    if (t_from == 0 && now >= from) {
      t_from = now;
      d_from = g.delivered;
      a_from = acked();
      cpu_from = server_cpu(each_from);
      self_from = self_cpu();
      busy_from = g.busy_ns;
      all_from = all_cpu();
      ncpu_from = cpu_ticks(cb_from, ct_from);
      g.lat_on = g.cell_lat;
      g.alat_on = 1;
    }
    /* A slow server may not complete one window in the period: measure
     * until one window's worth was seen (W x N deliveries, or W
     * acknowledgements with --window-on ack), up to three times the
     * period. */
    enough = g.ack_window ? acked() - a_from >= w
                          : g.delivered - d_from >= w * g.alive;
    if (t_from != 0 && now >= to && (enough || now >= from + 3 * (to - from))) {
      t_to = now;
      d_to = g.delivered;
      a_to = acked();
      cpu_to = server_cpu(each_to);
      self_to = self_cpu();
      busy_to = g.busy_ns;
      all_to = all_cpu();
      ncpu_to = cpu_ticks(cb_to, ct_to);
      g.lat_on = g.alat_on = 0;
    }
  }
  g.sending = 0;
  secs = (double)(t_to - t_from) / 1e9;
  rate = (double)(d_to - d_from) / secs;
  pub_rate = (double)(a_to - a_from) / secs;
  /* A slow server may have W x N deliveries still in flight: give it
   * three times what they take at the rate measured, plus 5 s. */
  {
    double left = 0, wait;
    for (k = 0; k < g.npub; k++)
      left += (double)(g.pubs[k].next - g.pubs[k].done) * (double)g.alive;
    wait = 5 + (rate > 0 ? 3 * left / rate : g.alive ? 60 : 0);
    drained = drain((uint64_t)((wait < 120 ? wait : 120) * 1e9));
  }
  /* Not even one window completed in the period: the only rate worth
   * printing is the whole cell's, from the first publication until
   * everything was delivered. */
  cpu = cpu_to - cpu_from;
  whole = g.ack_window ? a_to - a_from < w : d_to - d_from < w * g.alive;
  if (whole) {
    double all_secs = (double)(now_ns() - t0) / 1e9;
    rate = (double)g.delivered / all_secs;
    pub_rate = (double)(acked() - a0) / all_secs;
    cpu = cpu0 >= 0 ? server_cpu(NULL) - cpu0 : -1;
    cpu_secs = all_secs;
  } else {
    cpu_secs = secs;
  }
  for (k = 0; k < g.npub; k++)
    published += g.pubs[k].next;
  published -= published0;
  lost = g.gaps + missing();
  printf("cell subs=%zu size=%zu window=%" PRIu64 "%s deliveries_per_s=%.0f "
         "delivered=%" PRIu64 " published=%" PRIu64,
         g.alive, size, w, g.ack_window ? " window_on=ack" : "", rate,
         g.delivered, published);
  if (g.centrifuge)
    printf(" pubs_per_s=%.0f", pub_rate);
  print_checks(lost, g.dropped - dropped0, acked() - a0);
  printf(" rate_over=%s", whole ? "whole_cell" : "period");
  if (cpu_from >= 0 && cpu_to >= 0 && cpu >= 0) {
    printf(" server_cpu_s=%.2f server_cpu_pct=%.0f deliveries_per_cpu_s=%.0f",
           cpu, 100 * cpu / cpu_secs, cpu > 0 ? rate * cpu_secs / cpu : 0.0);
    if (g.npids > 1 && !whole) {
      printf(" pids_cpu_pct=");
      for (k = 0; k < g.npids; k++)
        printf("%s%.0f", k ? "," : "",
               100 * (each_to[k] - each_from[k]) / cpu_secs);
    }
  }
  if (g.cell_lat) {
    sort_samples(&g.lat);
    printf(" samples=%zu p50_us=%u p99_us=%u max_us=%u", g.lat.n,
           pct(&g.lat, 0.50), pct(&g.lat, 0.99), pct(&g.lat, 1));
  }
  if (g.centrifuge) {
    sort_samples(&g.alat);
    printf(" ack_p50_us=%u ack_p99_us=%u", pct(&g.alat, 0.50),
           pct(&g.alat, 0.99));
  }
  print_self("cell", self_to - self_from, secs, d_to - d_from);
  printf(" loadgen_busy_pct=%.0f",
         100 * (double)(busy_to - busy_from) / 1e9 / secs);
  /* Everything else the machine ran during the period: figures taken
   * beside another busy process are not worth much. */
  if (all_from >= 0 && all_to >= 0 && cpu_from >= 0 && cpu_to >= 0) {
    double other =
        (all_to - all_from) - (cpu_to - cpu_from) - (self_to - self_from);
    printf(" other_cpu_pct=%.0f", other > 0 ? 100 * other / secs : 0.0);
  }
  /* Each CPU's busy share, interrupts included: with several processes
   * on few CPUs, the limit may be the CPUs rather than one process. */
  if (ncpu_from > 0 && ncpu_from == ncpu_to) {
    printf(" cpus_busy_pct=");
    for (k = 0; k < ncpu_to; k++) {
      unsigned long long t = ct_to[k] - ct_from[k];
      printf("%s%.0f", k ? "," : "",
             t ? 100.0 * (double)(cb_to[k] - cb_from[k]) / (double)t : 0.0);
    }
  }
  printf(" drained=%s\n", drained == 0 ? "yes" : "no");
  fflush(stdout);
  if (lost > 0)
    report_missing();
  return lost > 0 || g.dropped > dropped0 || g.bad > 0 || g.dups > 0 ||
         g.pub_errors > 0 || drained != 0;
}

/* Latency at a light, fixed rate: one publication every 1/rate s. */
static int latency(size_t size, unsigned rate, double seconds) {
  struct itimerspec its = {{0, 0}, {0, 0}};
  uint64_t ns = 1000000000u / rate, end, published0 = 0, published = 0;
  uint64_t lost, dropped0 = g.dropped, a0 = acked(), t0;
  double cpu0 = server_cpu(NULL), self0 = self_cpu(), all0 = all_cpu(), cpu1,
         self1, all1;
  unsigned k;

  its.it_interval.tv_sec = (time_t)(ns / 1000000000u);
  its.it_interval.tv_nsec = (long)(ns % 1000000000u);
  its.it_value = its.it_interval;
  g.size = size;
  g.window = g.ring_mask + 1;
  g.lat.n = g.alat.n = 0;
  g.tokens = 0;
  reset_counters();
  for (k = 0; k < g.npub; k++)
    published0 += g.pubs[k].next;
  g.paced = g.lat_on = g.alat_on = 1;
  timerfd_settime(g.tfd, 0, &its, NULL);
  t0 = now_ns();
  end = t0 + (uint64_t)(seconds * 1e9);
  while (now_ns() < end)
    pump(5);
  cpu1 = server_cpu(NULL);
  self1 = self_cpu();
  all1 = all_cpu();
  memset(&its, 0, sizeof its);
  timerfd_settime(g.tfd, 0, &its, NULL);
  g.paced = 0;
  {
    /* What is still in flight, at the rate seen so far, three times. */
    double per_s = (double)g.delivered / seconds, left = 0, wait;
    for (k = 0; k < g.npub; k++)
      left += (double)(g.pubs[k].next - g.pubs[k].done) * (double)g.alive;
    wait = 3 * left / (per_s > 1000 ? per_s : 1000);
    drain((uint64_t)((5 + (wait < 60 ? wait : 60)) * 1e9));
  }
  g.lat_on = g.alat_on = 0;
  for (k = 0; k < g.npub; k++)
    published += g.pubs[k].next;
  published -= published0;
  lost = g.gaps + missing();
  sort_samples(&g.lat);
  printf("latency subs=%zu size=%zu rate=%u published=%" PRIu64
         " samples=%zu p50_us=%u p90_us=%u p99_us=%u max_us=%u",
         g.alive, size, rate, published, g.lat.n, pct(&g.lat, 0.50),
         pct(&g.lat, 0.90), pct(&g.lat, 0.99), pct(&g.lat, 1));
  print_checks(lost, g.dropped - dropped0, acked() - a0);
  if (g.centrifuge) {
    sort_samples(&g.alat);
    printf(" ack_p50_us=%u ack_p99_us=%u", pct(&g.alat, 0.50),
           pct(&g.alat, 0.99));
  }
  print_self("latency", self1 - self0, (double)(end - t0) / 1e9, 0);
  /* As in cells: what else ran meanwhile makes the latency worth less. */
  if (cpu0 >= 0 && cpu1 >= 0 && all0 >= 0 && all1 >= 0) {
    double other = (all1 - all0) - (cpu1 - cpu0) - (self1 - self0);
    double secs = (double)(end - t0) / 1e9;
    printf(" other_cpu_pct=%.0f", other > 0 ? 100 * other / secs : 0.0);
  }
  printf("\n");
  fflush(stdout);
  if (lost > 0)
    report_missing();
  return lost > 0 || g.dropped > dropped0 || g.dups > 0 || g.pub_errors > 0;
}

/* grow_subs() as a phase of its own: a connect line with its length and
 * the tool's CPU. */
static int connect_phase(size_t target) {
  size_t from = g.nsubs;
  uint64_t t0 = now_ns();
  double c0 = self_cpu(), secs;
  int rc;

  if (target <= from)
    return 0;
  rc = grow_subs(target);
  secs = (double)(now_ns() - t0) / 1e9;
  printf("connect subs=%zu opened=%zu seconds=%.2f", g.alive, g.nsubs - from,
         secs);
  print_self(NULL, self_cpu() - c0, secs, 0); /* opening is not measured */
  printf("\n");
  fflush(stdout);
  return rc;
}

static int idle(size_t n) {
  char before[2048], after[2048];
  long rss0 = proc_rss_kib(g.pids[0]), rss1;
  /* A server without /stats (wsp-demo) is measured by its RSS alone. */
  int stats = get_stats(before, sizeof before) == 0;
  uint64_t t;

  if (!stats && rss0 < 0) {
    fprintf(stderr, "pubsub-load: GET /stats failed and no --pid\n");
    return 1;
  }
  if (connect_phase(n) < 0)
    return 1;
  t = now_ns() + 500000000u; /* let the server settle */
  while (now_ns() < t)
    pump(50);
  rss1 = proc_rss_kib(g.pids[0]);
  printf("idle conns=%zu", g.alive);
  if (stats && get_stats(after, sizeof after) == 0) {
    long long h0 = stats_field(before, "heap_bytes");
    long long h1 = stats_field(after, "heap_bytes");
    printf(" subscribed=%lld heap_before=%lld heap_after=%lld "
           "heap_per_conn=%.0f",
           stats_field(after, "subscribers"), h0, h1,
           (double)(h1 - h0) / (double)n);
  }
  if (rss0 >= 0 && rss1 >= 0)
    printf(" rss_per_conn=%.0f", (double)(rss1 - rss0) * 1024.0 / (double)n);
  printf("\n");
  return g.alive != n;
}

/* ---- Main -----------------------------------------------------------------
 */

static _Noreturn void usage(void) {
  fprintf(stderr,
          "usage: pubsub-load --connect HOST:PORT[,HOST:PORT...]\n"
          "         [--publish-to HOST:PORT] [--pid PID[,PID...]]\n"
          "         [--subscribers N,...] [--size S,...] [--window W,...]\n"
          "         [--seconds T] [--warmup T] [--publishers P]\n"
          "         [--latency-rate R] [--latency-seconds T] [--latency-subs "
          "N,...]\n"
          "         [--protocol raw|centrifuge] [--sub-path P] [--pub-path P]\n"
          "         [--wait spin|sleep] [--window-on delivery|ack]\n"
          "         [--cell-latency yes|no] [--deflate yes|no]\n"
          "       pubsub-load --connect HOST:PORT [--pid PID] --idle N\n");
  exit(2);
}

static unsigned long number(const char *s, unsigned long min,
                            unsigned long max) {
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
    usage();
  return v;
}

static double seconds_arg(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= 0 && v <= 3600))
    usage();
  return v;
}

/* HOST:PORT (or [HOST]:PORT), len bytes at s, into a; -1 when malformed. */
static int parse_addr(const char *s, size_t len, struct addr *a) {
  const char *colon = NULL, *p, *host = s;
  size_t hl, pl;

  for (p = s; p < s + len; p++)
    if (*p == ':')
      colon = p;
  if (colon == NULL || colon == s)
    return -1;
  hl = (size_t)(colon - s);
  pl = len - hl - 1;
  if (pl == 0 || pl >= sizeof a->port || len >= sizeof a->hostport)
    return -1;
  if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
    host++;
    hl -= 2;
  }
  if (hl >= sizeof a->host)
    return -1;
  memcpy(a->hostport, s, len);
  a->hostport[len] = '\0';
  memcpy(a->host, host, hl);
  a->host[hl] = '\0';
  memcpy(a->port, colon + 1, pl);
  a->port[pl] = '\0';
  return 0;
}

/* A comma-separated list of addresses into g.addrs from index first;
 * returns the count, or -1. */
static int parse_addrs(const char *s, unsigned first) {
  unsigned n = 0;

  while (*s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    if (first + n >= MAX_ADDR || parse_addr(s, len, &g.addrs[first + n]) < 0)
      return -1;
    n++;
    s += len + (comma ? 1 : 0);
  }
  return n > 0 ? (int)n : -1;
}

/* "a,b,c" -> list; returns the count. */
static int list(const char *s, unsigned long *out, unsigned long min,
                unsigned long max) {
  char buf[256], *tok, *save = NULL;
  int n = 0;

  if (strlen(s) >= sizeof buf)
    usage();
  strcpy(buf, s);
  for (tok = strtok_r(buf, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    if (n == MAX_LIST)
      usage();
    out[n++] = number(tok, min, max);
  }
  if (n == 0)
    usage();
  return n;
}

int main(int argc, char **argv) {
  const char *target = NULL, *publish_to = NULL;
  unsigned long subs[MAX_LIST] = {100}, sizes[MAX_LIST] = {64},
                windows[MAX_LIST] = {32}, idle_n = 0, maxw = 0, maxs = 0;
  unsigned long latsubs[MAX_LIST], pids[MAX_LIST];
  int nsubs = 1, nsizes = 1, nwindows = 1, nlatsubs = -1, a, i, j, l, fail = 0;
  int n;
  double seconds = 3, warmup = 0.5, lat_seconds = 2;
  unsigned long lat_rate = 0;
  char stats[2048];
  struct rlimit rl;
  struct epoll_event ev = {.events = EPOLLIN};
  size_t maxsubs;

  g.npub = 1;
  g.spin = 0;
  g.sub_path = "/sub";
  g.pub_path = "/pub";
  for (a = 1; a < argc; a++) {
    const char *opt = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;
    if (val == NULL)
      usage();
    a++;
    if (strcmp(opt, "--connect") == 0)
      target = val;
    else if (strcmp(opt, "--publish-to") == 0)
      publish_to = val;
    else if (strcmp(opt, "--pid") == 0) {
      g.npids = (unsigned)list(val, pids, 1, 1u << 30);
      for (i = 0; i < (int)g.npids; i++)
        g.pids[i] = (long)pids[i];
    } else if (strcmp(opt, "--subscribers") == 0)
      nsubs = list(val, subs, 0, 100000);
    else if (strcmp(opt, "--size") == 0)
      nsizes = list(val, sizes, 1, 1u << 20);
    else if (strcmp(opt, "--window") == 0)
      nwindows = list(val, windows, 1, 1u << 16);
    else if (strcmp(opt, "--seconds") == 0 && (seconds = seconds_arg(val)) > 0)
      continue;
    else if (strcmp(opt, "--warmup") == 0)
      warmup = seconds_arg(val);
    else if (strcmp(opt, "--publishers") == 0)
      g.npub = (unsigned)number(val, 1, MAX_PUB);
    else if (strcmp(opt, "--latency-rate") == 0)
      lat_rate = number(val, 0, 100000);
    else if (strcmp(opt, "--latency-subs") == 0)
      nlatsubs = list(val, latsubs, 1, 100000);
    else if (strcmp(opt, "--latency-seconds") == 0)
      lat_seconds = seconds_arg(val);
    else if (strcmp(opt, "--idle") == 0)
      idle_n = number(val, 1, 100000);
    else if (strcmp(opt, "--protocol") == 0 && strcmp(val, "raw") == 0)
      g.centrifuge = 0;
    else if (strcmp(opt, "--protocol") == 0 && strcmp(val, "centrifuge") == 0)
      g.centrifuge = 1;
    else if (strcmp(opt, "--wait") == 0 && strcmp(val, "spin") == 0)
      g.spin = 1;
    else if (strcmp(opt, "--wait") == 0 && strcmp(val, "sleep") == 0)
      g.spin = 0;
    else if (strcmp(opt, "--sub-path") == 0)
      g.sub_path = val;
    else if (strcmp(opt, "--pub-path") == 0)
      g.pub_path = val;
    else if (strcmp(opt, "--window-on") == 0 && strcmp(val, "delivery") == 0)
      g.ack_window = 0;
    else if (strcmp(opt, "--window-on") == 0 && strcmp(val, "ack") == 0)
      g.ack_window = 1;
    else if (strcmp(opt, "--deflate") == 0 && strcmp(val, "no") == 0)
      zl.on = 0;
#ifdef WSP_BENCH_ZLIB
    else if (strcmp(opt, "--deflate") == 0 && strcmp(val, "yes") == 0)
      zl.on = 1;
#endif
    else if (strcmp(opt, "--cell-latency") == 0 && strcmp(val, "yes") == 0)
      g.cell_lat = 1;
    else if (strcmp(opt, "--cell-latency") == 0 && strcmp(val, "no") == 0)
      g.cell_lat = 0;
    else
      usage();
  }
  if (target == NULL || (n = parse_addrs(target, 0)) < 0 ||
      strlen(g.sub_path) > 200 || strlen(g.pub_path) > 200)
    usage();
  g.naddr = (unsigned)n;
  g.pub_addr = 0;
  if (publish_to != NULL) {
    if (parse_addrs(publish_to, g.naddr) != 1)
      usage();
    g.pub_addr = g.naddr;
  }
  if (g.ack_window && !g.centrifuge) {
    fprintf(stderr, "pubsub-load: --window-on ack needs --protocol "
                    "centrifuge (raw publications are not acknowledged)\n");
    return 2;
  }
  if (subs[0] == 0 && !g.ack_window) {
    fprintf(stderr, "pubsub-load: --subscribers 0 needs --window-on ack\n");
    return 2;
  }
  for (i = 0; i < nsizes; i++) {
    if (sizes[i] < (g.centrifuge ? 64u : RAW_HEAD)) {
      fprintf(stderr, "pubsub-load: --size must be at least %d\n",
              g.centrifuge ? 64 : RAW_HEAD);
      return 2;
    }
    maxs = sizes[i] > maxs ? sizes[i] : maxs;
  }
  for (i = 0; i < nwindows; i++)
    maxw = windows[i] > maxw ? windows[i] : maxw;
  if (g.ack_window)
    maxw *= 4; /* how far subscribers may fall behind the acknowledgements */
  if (maxw < 256)
    maxw = 256; /* the latency phase's window */
  for (g.ring_mask = 1; g.ring_mask < maxw; g.ring_mask <<= 1)
    ;
  g.ring_mask--;
  if (nlatsubs < 0) { /* the latency phase at every N */
    memcpy(latsubs, subs, sizeof latsubs);
    nlatsubs = nsubs;
  }
  for (maxsubs = idle_n, i = 0; i < nsubs; i++) {
    if (i > 0 && subs[i] < subs[i - 1])
      usage(); /* subscribers only grow */
    maxsubs = subs[i] > maxsubs ? subs[i] : maxsubs;
  }

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < maxsubs + 64) {
    fprintf(stderr, "pubsub-load: RLIMIT_NOFILE %lu is below %zu\n",
            (unsigned long)rl.rlim_cur, maxsubs + 64);
    return 1;
  }
  srand((unsigned)now_ns());
  for (i = 0; i < 4; i++)
    g.mask[i] = (uint8_t)(rand() | 1);
  if ((g.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
      (g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) <
          0 ||
      (g.subs = calloc(maxsubs + 1, sizeof *g.subs)) == NULL ||
      (g.payload = calloc(1, maxs + 512)) == NULL)
    return 1;
  memset(g.payload, 'x', maxs);
  if (zl.on)
    zl_fill(g.payload, maxs);
  ev.data.ptr = &g.tfd;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.tfd, &ev);

  if (idle_n > 0) {
    g.npub = 0; /* subscribers only */
    fail = idle(idle_n);
  } else {
    printf("pubsub-load: %s %s, %u publisher%s%s%s, %.1f s per cell after "
           "%.1f s warm-up%s\n",
           target, g.centrifuge ? "centrifuge JSON" : "raw", g.npub,
           g.npub > 1 ? "s" : "", publish_to ? " on " : "",
           publish_to ? publish_to : "", seconds, warmup,
           g.ack_window ? ", window of unacknowledged publications" : "");
    fflush(stdout);
    if (open_publishers() < 0) {
      fprintf(stderr, "pubsub-load: cannot open the publisher(s)\n");
      return 1;
    }
    for (i = 0; i < nsubs && !fail; i++) {
      if (connect_phase(subs[i]) < 0) {
        fail = 1;
        break;
      }
      for (j = 0; j < nsizes; j++)
        for (l = 0; l < nwindows; l++) {
          uint64_t wire0 = zl.wire;
          fail |= cell(sizes[j], windows[l], warmup, seconds);
          /* g.delivered counts the cell from its start to its drain */
          printf("wire subs=%zu size=%lu window=%lu deflate=%s "
                 "bytes_per_delivery=%.1f\n",
                 g.alive, sizes[j], windows[l], zl.on ? "offered" : "no",
                 g.delivered ? (double)(zl.wire - wire0) / (double)g.delivered
                             : 0.0);
        }
      for (l = 0; l < nlatsubs; l++)
        if (latsubs[l] == subs[i] && lat_rate > 0)
          fail |= latency(sizes[0], (unsigned)lat_rate, lat_seconds);
    }
    if (get_stats(stats, sizeof stats) == 0) {
      char *p;
      for (p = stats; *p; p++)
        if (*p == ' ')
          *p = '=';
        else if (*p == '\n')
          *p = ' ';
      printf("server %s\n", stats);
    }
  }
  for (i = 0; (size_t)i < g.nsubs; i++) {
    if (g.subs[i].fd >= 0 && g.subs[i].state != S_DEAD)
      close(g.subs[i].fd);
    free(g.subs[i].part);
  }
  free(g.subs);
  free(g.payload);
  free(g.lat.v);
  free(g.alat.v);
  return fail;
}
