/*
 * bench-echo: messages per second through wsp_conn with no sockets.
 *
 * Two measurements, each at batch 1 (one message, then the replies are
 * collected) and at a larger batch (many messages handed over in one
 * wsp_conn_recv, replies collected once, as a corked loop would):
 *   server   pre-built masked client frames are fed to a server
 *            connection that echoes each message; its output is drained
 *            and discarded. This is the server's own cost per message.
 *   pair     a client connection sends, a server connection echoes, the
 *            client receives; both sides' costs, masking included.
 *
 *   bench-echo [--messages N] [--size BYTES] [--batch B] [--seconds S]
 *
 * Each run stops after N messages (default 1000000) or S seconds (default
 * 5), whichever comes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsp.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct stats {
  size_t received; /* messages that reached the measuring side */
  size_t errors;
};

static void echo_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                         size_t len, void *ud) {
  if (wsp_conn_send(c, opcode, data, len) != 0)
    ((struct stats *)ud)->errors++;
}

static void count_message(struct wsp_conn *c, int opcode, const uint8_t *data,
                          size_t len, void *ud) {
  (void)c;
  (void)opcode;
  (void)data;
  (void)len;
  ((struct stats *)ud)->received++;
}

/* Drain conn's output into to (NULL: discard). Returns bytes moved, or -1
 * when to failed. */
static long move(struct wsp_conn *from, struct wsp_conn *to) {
  struct iovec iov[64];
  long total = 0;
  int n, i, rounds;
  for (rounds = 0; rounds < 100000; rounds++) {
    size_t batch = 0;
    int failed = 0;
    n = wsp_conn_pending(from, iov, 64);
    if (n <= 0)
      break;
    for (i = 0; i < n; i++) {
      if (to && !failed &&
          wsp_conn_recv(to, iov[i].iov_base, iov[i].iov_len) < 0)
        failed = 1;
      batch += iov[i].iov_len;
    }
    wsp_conn_sent(from, batch);
    total += (long)batch;
    if (failed)
      return -1;
  }
  return total;
}

static int pump(struct wsp_conn *a, struct wsp_conn *b) {
  int round;
  for (round = 0; round < 64; round++) {
    long x = move(a, b), y;
    if (x < 0)
      return -1;
    y = move(b, a);
    if (y < 0)
      return -1;
    if (x == 0 && y == 0)
      return 0;
  }
  return -1;
}

static const char request[] = "GET /echo HTTP/1.1\r\n"
                              "Host: 127.0.0.1:9001\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

/* One masked client text frame carrying size bytes of 'x'. */
static size_t client_frame(uint8_t *out, size_t size, unsigned seed) {
  uint8_t key[4] = {(uint8_t)(0x12 + seed), 0x34, 0x56, (uint8_t)(0x78 ^ seed)};
  size_t h = 2, i;
  out[0] = 0x81;
  if (size < 126) {
    out[1] = (uint8_t)(0x80 | size);
  } else if (size <= 0xffff) {
    out[1] = 0x80 | 126;
    out[2] = (uint8_t)(size >> 8);
    out[3] = (uint8_t)size;
    h = 4;
  } else {
    out[1] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      out[2 + i] = (uint8_t)((uint64_t)size >> (56 - 8 * i));
    h = 10;
  }
  memcpy(out + h, key, 4);
  h += 4;
  for (i = 0; i < size; i++)
    out[h + i] = (uint8_t)('x' ^ key[i & 3]);
  return h + size;
}

struct opts {
  size_t messages, size, batch;
  double seconds;
};

static void report(const char *what, size_t batch, size_t msgs, size_t size,
                   double secs, size_t errors) {
  double rate = secs > 0 ? (double)msgs / secs : 0;
  printf("%-6s batch %-4zu %9zu messages of %zu bytes in %.3f s: %10.0f "
         "msg/s, %7.1f MB/s, %6.3f us/msg%s\n",
         what, batch, msgs, size, secs, rate, rate * (double)size / 1e6,
         msgs ? secs * 1e6 / (double)msgs : 0.0, errors ? "  (ERRORS)" : "");
}

static int bench_server(const struct opts *o, size_t batch) {
  struct stats st = {0, 0};
  struct wsp_conn_callbacks cb;
  struct wsp_conn *s;
  size_t flen, done = 0, i;
  uint8_t *frames;
  double t0, t1;

  memset(&cb, 0, sizeof(cb));
  cb.on_message = echo_message;
  if (wsp_conn_new(&s, WSP_ROLE_SERVER, &cb, NULL, 0, &st) != 0)
    return -1;
  if (wsp_conn_recv(s, request, sizeof(request) - 1) != 0 ||
      wsp_conn_get_state(s) != WSP_STATE_OPEN) {
    fprintf(stderr, "bench-echo: handshake failed\n");
    wsp_conn_free(s);
    return -1;
  }
  move(s, NULL);

  frames = malloc(batch * (o->size + 14));
  if (!frames) {
    wsp_conn_free(s);
    return -1;
  }
  flen = 0;
  for (i = 0; i < batch; i++)
    flen += client_frame(frames + flen, o->size, (unsigned)i);

  t0 = now_s();
  t1 = t0;
  while (done < o->messages) {
    if (wsp_conn_recv(s, frames, flen) != 0) {
      st.errors++;
      break;
    }
    move(s, NULL);
    done += batch;
    if ((done & 0x3ff) < batch) {
      t1 = now_s();
      if (t1 - t0 >= o->seconds)
        break;
    }
  }
  t1 = now_s();
  report("server", batch, done, o->size, t1 - t0, st.errors);
  free(frames);
  wsp_conn_free(s);
  return 0;
}

static int bench_pair(const struct opts *o, size_t batch) {
  struct stats sst = {0, 0}, cst = {0, 0};
  struct wsp_conn_callbacks scb, ccb;
  struct wsp_conn *s = NULL, *c = NULL;
  size_t done = 0, i;
  uint8_t *payload;
  double t0, t1;
  int rv = -1;

  memset(&scb, 0, sizeof(scb));
  memset(&ccb, 0, sizeof(ccb));
  scb.on_message = echo_message;
  ccb.on_message = count_message;
  payload = malloc(o->size ? o->size : 1);
  if (!payload)
    return -1;
  memset(payload, 'x', o->size);
  if (wsp_conn_new(&s, WSP_ROLE_SERVER, &scb, NULL, 0, &sst) != 0 ||
      wsp_conn_new(&c, WSP_ROLE_CLIENT, &ccb, NULL, 0, &cst) != 0 ||
      wsp_conn_client_start(c, "127.0.0.1:9001", "/echo", NULL) != 0 ||
      pump(c, s) != 0 || wsp_conn_get_state(c) != WSP_STATE_OPEN) {
    fprintf(stderr, "bench-echo: in-memory handshake failed\n");
    goto out;
  }

  t0 = now_s();
  t1 = t0;
  while (done < o->messages) {
    for (i = 0; i < batch; i++)
      if (wsp_conn_send(c, WSP_OP_TEXT, payload, o->size) != 0)
        cst.errors++;
    if (move(c, s) < 0 || move(s, c) < 0) {
      cst.errors++;
      break;
    }
    done += batch;
    if ((done & 0x3ff) < batch) {
      t1 = now_s();
      if (t1 - t0 >= o->seconds)
        break;
    }
  }
  t1 = now_s();
  if (cst.received != done)
    fprintf(stderr, "bench-echo: sent %zu, echoed back %zu\n", done,
            cst.received);
  report("pair", batch, cst.received, o->size, t1 - t0,
         cst.errors + sst.errors);
  rv = 0;
out:
  wsp_conn_free(c);
  wsp_conn_free(s);
  free(payload);
  return rv;
}

static int parse_size(const char *s, size_t max, size_t *out) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || end == s || v > max)
    return -1;
  *out = (size_t)v;
  return 0;
}

int main(int argc, char **argv) {
  struct opts o = {1000000, 32, 64, 5.0};
  size_t batches[2];
  int a, b;

  for (a = 1; a < argc; a++) {
    int bad = a + 1 >= argc;
    if (!bad && strcmp(argv[a], "--messages") == 0)
      bad = parse_size(argv[++a], 1000000000, &o.messages) || !o.messages;
    else if (!bad && strcmp(argv[a], "--size") == 0)
      bad = parse_size(argv[++a], 1u << 20, &o.size);
    else if (!bad && strcmp(argv[a], "--batch") == 0)
      bad = parse_size(argv[++a], 4096, &o.batch) || !o.batch;
    else if (!bad && strcmp(argv[a], "--seconds") == 0)
      bad = (o.seconds = atof(argv[++a])) <= 0 || o.seconds > 3600;
    else
      bad = 1;
    if (bad) {
      fprintf(stderr,
              "usage: %s [--messages N] [--size BYTES] [--batch B] "
              "[--seconds S]\n",
              argv[0]);
      return 2;
    }
  }

  printf("libwsp %s: in-memory echo, at most %zu messages or %.1f s per "
         "run\n",
         wsp_version_string(), o.messages, o.seconds);
  batches[0] = 1;
  batches[1] = o.batch;
  for (b = 0; b < (o.batch > 1 ? 2 : 1); b++)
    if (bench_server(&o, batches[b]) != 0)
      return 1;
  for (b = 0; b < (o.batch > 1 ? 2 : 1); b++)
    if (bench_pair(&o, batches[b]) != 0)
      return 1;
  return 0;
}
