/*
 * Throughput of the private JSON module: validation of a ~1 MiB text of
 * protocol-like messages (ASCII and UTF-8 text, escapes, numbers, nesting),
 * validation of the same messages one by one, the member scan a codec
 * does, and string escaping in the writer. Prints MB/s (10^6 bytes).
 *   bench-json [SECONDS_PER_FIGURE]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/json/json_private.h"

#define TARGET_BYTES (1u << 20)

static uint32_t rng = 0x2545f491u;

static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) {
      perror("realloc");
      exit(1);
    }
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(struct buf *b, const char *fmt, unsigned long long v) {
  char tmp[256];
  int n = snprintf(tmp, sizeof(tmp), fmt, v);
  put(b, tmp, (size_t)n);
}

static const char *const words[] = {"hello",        "world",
                                    "price",        "update",
                                    "caf\xc3\xa9",  "\xe6\x97\xa5\xe6\x9c\xac",
                                    "na\xc3\xafve", "\xf0\x9f\x98\x80",
                                    "tab\\tsep",    "quote\\\"d",
                                    "line\\nbreak", "\\u00e9t\\u00e9",
                                    "sensor",       "temperature",
                                    "ok",           "BTC-USD"};

static void text(struct buf *b, unsigned nwords) {
  unsigned i;
  puts_(b, "\"");
  for (i = 0; i < nwords; i++) {
    if (i)
      puts_(b, " ");
    puts_(b, words[next() % (sizeof(words) / sizeof(words[0]))]);
  }
  puts_(b, "\"");
}

/* One message in the style of the wire protocol. */
static void message(struct buf *b, unsigned id) {
  unsigned i, n;
  switch (next() % 4) {
  case 0:
    putf(b, "{\"id\":%llu,\"publish\":{\"channel\":\"chat:room", id);
    putf(b, "%llu\",\"data\":{\"text\":", next() % 100);
    text(b, 3 + next() % 20);
    putf(b, ",\"ts\":%llu", 1700000000000ull + next());
    puts_(b, ",\"tags\":[\"a\",\"b\"],\"reply\":null}}}");
    break;
  case 1:
    putf(b,
         "{\"push\":{\"channel\":\"prices\",\"pub\":{\"data\":{\"bid\":%llu.",
         next() % 100000);
    putf(b, "%llu,\"ask\":", next() % 100);
    putf(b, "%llue-2,\"vol\":[", next() % 100000);
    n = 4 + next() % 8;
    for (i = 0; i < n; i++)
      putf(b, i ? ",%llu" : "%llu", next() % 1000000);
    putf(b, "]},\"offset\":%llu,\"info\":{\"user\":\"u", next());
    putf(b, "%llu\",\"client\":\"3f2a-77\",\"conn_info\":{\"name\":", id);
    text(b, 2);
    puts_(b, "}}}}}");
    break;
  case 2:
    /* pretty-printed, as some clients send it */
    putf(b, "{\n  \"id\": %llu,\n  \"rpc\": {\n    \"method\": \"getState\",\n",
         id);
    puts_(b, "    \"data\": {\n      \"flags\": [true, false, true],\n"
             "      \"note\": ");
    text(b, 8);
    puts_(b, "\n    }\n  }\n}");
    break;
  default:
    putf(b,
         "{\"id\":%llu,\"subscribe\":{\"channel\":\"news\",\"recover\":true,"
         "\"offset\":",
         id);
    putf(b,
         "%llu,\"epoch\":\"xYz1\",\"data\":{\"filters\":[{\"k\":\"lang\","
         "\"v\":[\"en\",\"fr\"]},{\"k\":\"level\",\"v\":[",
         next() % 1000);
    putf(b, "%llu]}]}}}", next() % 10);
    break;
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  struct buf doc = {0};
  size_t *offs = NULL, nmsg = 0, cap_offs = 0, i, iters, bytes;
  double t0, t;
  unsigned id = 1;
  struct wsp__jbuf jb;
  size_t err_off;

  /* a JSON array of messages; offs[] marks each message */
  puts_(&doc, "[");
  while (doc.len < TARGET_BYTES) {
    if (nmsg == cap_offs) {
      cap_offs = cap_offs ? cap_offs * 2 : 1024;
      offs = realloc(offs, 2 * cap_offs * sizeof(*offs));
      if (!offs)
        return 1;
    }
    if (nmsg)
      puts_(&doc, ",\n");
    offs[2 * nmsg] = doc.len;
    message(&doc, id++);
    offs[2 * nmsg + 1] = doc.len;
    nmsg++;
  }
  puts_(&doc, "]");
  if (wsp__json_validate(doc.p, doc.len, 64, &err_off) != 0) {
    fprintf(stderr, "bench-json: generated text invalid at %zu\n", err_off);
    return 1;
  }
  printf("bench-json: %zu bytes, %zu messages (avg %zu bytes)\n", doc.len, nmsg,
         doc.len / nmsg);

  /* whole-document validation */
  t0 = now_s();
  iters = 0;
  do {
    sink += (size_t)wsp__json_validate(doc.p, doc.len, 64, NULL);
    iters++;
  } while ((t = now_s() - t0) < secs);
  printf("validate 1 MiB document:     %8.1f MB/s\n",
         (double)doc.len * (double)iters / t / 1e6);

  /* message-by-message validation (per-call cost included) */
  t0 = now_s();
  iters = 0;
  bytes = 0;
  do {
    for (i = 0; i < nmsg; i++) {
      sink += (size_t)wsp__json_validate(
          doc.p + offs[2 * i], offs[2 * i + 1] - offs[2 * i], 64, NULL);
      bytes += offs[2 * i + 1] - offs[2 * i];
    }
    iters++;
  } while ((t = now_s() - t0) < secs);
  printf("validate each message:       %8.1f MB/s (%.2f M msgs/s)\n",
         (double)bytes / t / 1e6, (double)(nmsg * iters) / t / 1e6);

  /* validate, then iterate the top-level members as a codec does */
  t0 = now_s();
  iters = 0;
  bytes = 0;
  do {
    for (i = 0; i < nmsg; i++) {
      const char *m = doc.p + offs[2 * i];
      size_t len = offs[2 * i + 1] - offs[2 * i], pos = 0;
      struct wsp__json_val k, v;
      uint64_t u;
      if (wsp__json_validate(m, len, 64, NULL) != 0)
        return 1;
      while (wsp__json_object_next(m, len, &pos, &k, &v) == 1) {
        if (wsp__json_key_is(&k, "id") && wsp__json_get_u64(&v, &u) == 0)
          sink += (size_t)u;
        sink += v.len;
      }
      bytes += len;
    }
    iters++;
  } while ((t = now_s() - t0) < secs);
  printf("validate + scan each message: %7.1f MB/s\n", (double)bytes / t / 1e6);

  /* writer: the whole document escaped as one string */
  wsp__jbuf_init(&jb, NULL);
  t0 = now_s();
  iters = 0;
  do {
    wsp__jbuf_reset(&jb);
    wsp__jbuf_str(&jb, doc.p, doc.len);
    iters++;
  } while ((t = now_s() - t0) < secs);
  printf("jbuf_str (escape 1 MiB):     %8.1f MB/s\n",
         (double)doc.len * (double)iters / t / 1e6);
  t0 = now_s();
  iters = 0;
  do {
    wsp__jbuf_reset(&jb);
    wsp__jbuf_raw_value(&jb, doc.p, doc.len);
    iters++;
  } while ((t = now_s() - t0) < secs);
  printf("jbuf_raw_value (1 MiB):      %8.1f MB/s\n",
         (double)doc.len * (double)iters / t / 1e6);
  wsp__jbuf_free(&jb);
  free(offs);
  free(doc.p);
  return 0;
}
