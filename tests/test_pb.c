/*
 * The Protobuf encoding of the client protocol (lib/hub/centrifuge/pb*.c):
 * the wire primitives on exact bytes, the transcoder both ways (Commands
 * to the JSON commands they stand for, every reply and push line the hub
 * writes to Replies and back), bad input of every kind, and a hub serving
 * a client that chose the centrifuge-protobuf subprotocol.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_private.h"
#include "wsp/proto.h"
#include "wsp/push.h"
#include "wsp/server.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__})
#define BLEN(...) sizeof((const uint8_t[]){__VA_ARGS__})

/* ---- Primitives ------------------------------------------------------- */

static void expect_bytes(const struct wsp__jbuf *jb, const uint8_t *want,
                         size_t n) {
  assert_int_equal(jb->err, 0);
  assert_int_equal(jb->len, n);
  assert_memory_equal(jb->data, want, n);
}

static void test_pb_varint_bytes(void **state) {
  static const struct {
    uint64_t v;
    uint8_t b[10];
    size_t n;
  } cases[] = {
      {0, {0}, 1},
      {1, {1}, 1},
      {127, {0x7f}, 1},
      {128, {0x80, 0x01}, 2},
      {300, {0xac, 0x02}, 2},
      {UINT32_MAX, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
      {UINT64_MAX,
       {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
       10},
  };
  struct wsp__jbuf jb;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const uint8_t *p = cases[i].b;
    uint64_t v = 12345;
    wsp__jbuf_init(&jb, NULL);
    wsp__pb_put_varint(&jb, cases[i].v);
    expect_bytes(&jb, cases[i].b, cases[i].n);
    wsp__jbuf_free(&jb);
    assert_int_equal(wsp__pb_varint(&p, cases[i].b + cases[i].n, &v), 0);
    assert_true(v == cases[i].v);
    assert_ptr_equal(p, cases[i].b + cases[i].n);
  }
}

static void test_pb_varint_bad(void **state) {
  const uint8_t trunc[] = {0x80, 0x80};
  const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                            0x80, 0x80, 0x80, 0x80, 0x01};
  const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                          0xff, 0xff, 0xff, 0xff, 0x02};
  const uint8_t *p;
  uint64_t v;
  (void)state;
  p = trunc;
  assert_int_equal(wsp__pb_varint(&p, trunc + 2, &v), WSP_ERR_PROTO);
  assert_ptr_equal(p, trunc); /* not moved */
  p = trunc;
  assert_int_equal(wsp__pb_varint(&p, trunc, &v), WSP_ERR_PROTO);
  p = eleven;
  assert_int_equal(wsp__pb_varint(&p, eleven + sizeof(eleven), &v),
                   WSP_ERR_PROTO);
  p = over;
  assert_int_equal(wsp__pb_varint(&p, over + sizeof(over), &v), WSP_ERR_PROTO);
}

static void test_pb_key_len_skip(void **state) {
  const uint8_t *p, *end;
  uint32_t field;
  int wire;
  size_t n;
  (void)state;
  p = B(0x0a);
  assert_int_equal(wsp__pb_key(&p, p + 1, &field, &wire), 0);
  assert_int_equal(field, 1);
  assert_int_equal(wire, WSP__PB_LEN);
  p = B(0x02); /* field 0 */
  assert_int_equal(wsp__pb_key(&p, p + 1, &field, &wire), WSP_ERR_PROTO);
  /* a length past the end, and one far past any buffer */
  p = B(0x03, 'a', 'b');
  assert_int_equal(wsp__pb_len(&p, p + 3, &n), WSP_ERR_PROTO);
  p = B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'a');
  assert_int_equal(wsp__pb_len(&p, p + 10, &n), WSP_ERR_PROTO);
  p = B(0x02, 'a', 'b');
  assert_int_equal(wsp__pb_len(&p, p + 3, &n), 0);
  assert_int_equal(n, 2);
  /* skipping each wire type; groups and 6, 7 refused */
  p = B(1, 2, 3, 4, 5, 6, 7, 8);
  end = p + 8;
  assert_int_equal(wsp__pb_skip(&p, end, WSP__PB_FIXED64), 0);
  assert_ptr_equal(p, end);
  p = B(1, 2, 3);
  assert_int_equal(wsp__pb_skip(&p, p + 3, WSP__PB_FIXED32), WSP_ERR_PROTO);
  p = B(1, 2, 3);
  assert_int_equal(wsp__pb_skip(&p, p + 3, 3), WSP_ERR_PROTO);
  assert_int_equal(wsp__pb_skip(&p, p + 3, 4), WSP_ERR_PROTO);
  assert_int_equal(wsp__pb_skip(&p, p + 3, 6), WSP_ERR_PROTO);
}

static void test_pb_open_close_moves_long_values(void **state) {
  struct wsp__jbuf jb;
  char big[300];
  size_t at;
  (void)state;
  memset(big, 'x', sizeof(big));
  wsp__jbuf_init(&jb, NULL);
  WSP__JBUF_LIT(&jb, "A");
  at = wsp__pb_open(&jb);
  wsp__jbuf_raw(&jb, big, sizeof(big));
  assert_int_equal(wsp__pb_close(&jb, at), 0);
  assert_int_equal(jb.len, 1 + 2 + sizeof(big));
  assert_memory_equal(jb.data, "A\xac\x02", 3);
  assert_memory_equal(jb.data + 3, big, sizeof(big));
  /* an empty value: its one length byte */
  wsp__jbuf_reset(&jb);
  at = wsp__pb_open(&jb);
  assert_int_equal(wsp__pb_close(&jb, at), 0);
  expect_bytes(&jb, B(0), 1);
  wsp__jbuf_free(&jb);
}

/* ---- The schema ------------------------------------------------------ */

/* Every message reachable from m: field numbers from 1 to 31 (the reader
 * keeps the singular fields it saw in a 32-bit mask), each number and
 * name once, a message type for message fields. */
static void check_msg(const struct wsp__pb_msg *m,
                      const struct wsp__pb_msg **seen, size_t *nseen) {
  size_t i, j;
  for (i = 0; i < *nseen; i++)
    if (seen[i] == m)
      return;
  assert_true(*nseen < 64);
  seen[(*nseen)++] = m;
  for (i = 0; i < m->nfields; i++) {
    const struct wsp__pb_field *f = &m->fields[i];
    assert_true(f->number >= 1 && f->number < 32);
    assert_true(f->name[0] != '\0');
    for (j = 0; j < i; j++) {
      assert_int_not_equal(f->number, m->fields[j].number);
      assert_string_not_equal(f->name, m->fields[j].name);
    }
    assert_ptr_equal(wsp__pb_schema_by_number(m, f->number), f);
    if (f->type == WSP__PB_MSG) {
      assert_non_null(f->msg);
      check_msg(f->msg, seen, nseen);
    } else {
      assert_null(f->msg);
    }
  }
}

static void test_pb_schema_well_formed(void **state) {
  const struct wsp__pb_msg *seen[64];
  size_t n = 0;
  (void)state;
  check_msg(&wsp__pb_schema_command, seen, &n);
  check_msg(&wsp__pb_schema_reply, seen, &n);
  assert_true(n > 20);
}

/* ---- Commands to JSON ------------------------------------------------- */

static void expect_command(const uint8_t *p, size_t n, const char *want) {
  struct wsp__jbuf jb;
  wsp__jbuf_init(&jb, NULL);
  assert_int_equal(wsp__pb_json_decode(&wsp__pb_schema_command, p, n, &jb), 0);
  if (jb.len != strlen(want) || memcmp(jb.data, want, jb.len) != 0)
    fail_msg("got %.*s, want %s", (int)jb.len, jb.data, want);
  wsp__jbuf_free(&jb);
}

static void expect_command_error(const uint8_t *p, size_t n, int err) {
  struct wsp__jbuf jb;
  wsp__jbuf_init(&jb, NULL);
  assert_int_equal(wsp__pb_json_decode(&wsp__pb_schema_command, p, n, &jb),
                   err);
  wsp__jbuf_free(&jb);
}

static void test_pb_command_exact(void **state) {
  (void)state;
  /* Command{id:1, connect:{token:"t", data:'{"a":1}', name:"js"}} */
  expect_command(B(0x08, 0x01, 0x22, 0x10, 0x0a, 0x01, 't', 0x12, 0x07, '{',
                   '"', 'a', '"', ':', '1', '}', 0x22, 0x02, 'j', 's'),
                 BLEN(0x08, 0x01, 0x22, 0x10, 0x0a, 0x01, 't', 0x12, 0x07, '{',
                      '"', 'a', '"', ':', '1', '}', 0x22, 0x02, 'j', 's'),
                 "{\"id\":1,\"connect\":{\"token\":\"t\",\"data\":{\"a\":1},"
                 "\"name\":\"js\"}}");
  /* the pong: an empty Command */
  expect_command(B(0), 0, "{}");
  /* history limit -1 (ten bytes), since, reverse */
  expect_command(B(0x52, 0x14, 0x0a, 0x01, 'c', 0x38, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x42, 0x02, 0x08, 0x05,
                   0x48, 0x01, 0x08, 0x07),
                 BLEN(0x52, 0x14, 0x0a, 0x01, 'c', 0x38, 0xff, 0xff, 0xff, 0xff,
                      0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x42, 0x02, 0x08,
                      0x05, 0x48, 0x01, 0x08, 0x07),
                 "{\"history\":{\"channel\":\"c\",\"limit\":-1,\"since\":{"
                 "\"offset\":5},\"reverse\":true},\"id\":7}");
  /* strings are escaped; empty data is absent */
  expect_command(B(0x3a, 0x07, 0x0a, 0x03, 'a', '"', '\n', 0x12, 0x00),
                 BLEN(0x3a, 0x07, 0x0a, 0x03, 'a', '"', '\n', 0x12, 0x00),
                 "{\"publish\":{\"channel\":\"a\\\"\\n\"}}");
}

static void test_pb_command_unknown_and_repeated(void **state) {
  (void)state;
  /* unknown fields of each wire type are skipped */
  expect_command(B(0x2a, 0x1b, 0x0a, 0x01, 'c', 0x62, 0x06, 'f', 'o', 's', 's',
                   'i', 'l', 0xa5, 0x06, 1, 2, 3, 4, 0xa1, 0x06, 1, 2, 3, 4, 5,
                   6, 7, 8, 0x08, 0x02),
                 BLEN(0x2a, 0x1b, 0x0a, 0x01, 'c', 0x62, 0x06, 'f', 'o', 's',
                      's', 'i', 'l', 0xa5, 0x06, 1, 2, 3, 4, 0xa1, 0x06, 1, 2,
                      3, 4, 5, 6, 7, 8, 0x08, 0x02),
                 "{\"subscribe\":{\"channel\":\"c\",\"delta\":\"fossil\"},"
                 "\"id\":2}");
  /* a repeated field's values gathered though interleaved, in order */
  expect_command(B(0x2a, 0x0f, 0x6a, 0x0d, 0x2a, 0x01, 'a', 0x12, 0x01, 'k',
                   0x2a, 0x01, 'b', 0x0a, 0x02, 'i', 'n'),
                 BLEN(0x2a, 0x0f, 0x6a, 0x0d, 0x2a, 0x01, 'a', 0x12, 0x01, 'k',
                      0x2a, 0x01, 'b', 0x0a, 0x02, 'i', 'n'),
                 "{\"subscribe\":{\"tf\":{\"vals\":[\"a\",\"b\"],\"key\":\"k\","
                 "\"op\":\"in\"}}}");
  /* map<string,string> headers and map<string,SubscribeRequest> subs */
  expect_command(B(0x22, 0x11, 0x32, 0x06, 0x0a, 0x01, 'h', 0x12, 0x01, 'v',
                   0x1a, 0x07, 0x0a, 0x01, 's', 0x12, 0x02, 0x18, 0x01),
                 BLEN(0x22, 0x11, 0x32, 0x06, 0x0a, 0x01, 'h', 0x12, 0x01, 'v',
                      0x1a, 0x07, 0x0a, 0x01, 's', 0x12, 0x02, 0x18, 0x01),
                 "{\"connect\":{\"headers\":{\"h\":\"v\"},\"subs\":{\"s\":{"
                 "\"recover\":true}}}}");
}

/* A subscribe whose tf holds nodes nested depth deep. */
static void expect_nested(int depth, int err) {
  struct wsp__jbuf jb, js;
  size_t at[WSP__PB_MAX_DEPTH + 8];
  int i, n = 0;
  wsp__jbuf_init(&jb, NULL);
  wsp__pb_put_key(&jb, 5, WSP__PB_LEN);
  at[n++] = wsp__pb_open(&jb);
  wsp__pb_put_key(&jb, 13, WSP__PB_LEN);
  at[n++] = wsp__pb_open(&jb);
  for (i = 0; i < depth; i++) {
    wsp__pb_put_key(&jb, 6, WSP__PB_LEN);
    at[n++] = wsp__pb_open(&jb);
  }
  while (n > 0)
    assert_int_equal(wsp__pb_close(&jb, at[--n]), 0);
  wsp__jbuf_init(&js, NULL);
  assert_int_equal(wsp__pb_json_decode(&wsp__pb_schema_command,
                                       (const uint8_t *)jb.data, jb.len, &js),
                   err);
  wsp__jbuf_free(&js);
  wsp__jbuf_free(&jb);
}

static void test_pb_command_bad(void **state) {
  (void)state;
  /* truncated key, value, length past the end */
  expect_command_error(B(0x80), 1, WSP_ERR_PROTO);
  expect_command_error(B(0x08), 1, WSP_ERR_PROTO);
  expect_command_error(B(0x2a, 0x05, 0x0a), 3, WSP_ERR_PROTO);
  expect_command_error(B(0x2a, 0x02, 0x0a, 0x05, 'a', 'b'), 6, WSP_ERR_PROTO);
  /* a wire type not the field's: channel as a varint, id as bytes */
  expect_command_error(B(0x2a, 0x02, 0x08, 0x01), 4, WSP_ERR_PROTO);
  expect_command_error(B(0x0a, 0x00), 2, WSP_ERR_PROTO);
  /* a single field twice */
  expect_command_error(B(0x08, 0x01, 0x08, 0x02), 4, WSP_ERR_PROTO);
  /* a group */
  expect_command_error(B(0x0b, 0x0c), 2, WSP_ERR_PROTO);
  /* a payload that is not JSON, or more than one value */
  expect_command_error(B(0x3a, 0x04, 0x12, 0x02, 'h', 'i'), 6, WSP_ERR_JSON);
  expect_command_error(B(0x3a, 0x08, 0x12, 0x06, '1', ',', '"', 'x', '"', ':'),
                       10, WSP_ERR_JSON);
  /* ill-formed UTF-8 in a string is read as U+FFFD, as Protobuf
   * readers are lenient there */
  expect_command(B(0x6a, 0x03, 0x12, 0x01, 0xff), 5,
                 "{\"rpc\":{\"method\":\"\\ufffd\"}}");
  /* FilterNodes nested within the limit, and past it */
  expect_nested(5, 0);
  expect_nested(WSP__PB_MAX_DEPTH, WSP_ERR_PROTO);
  /* a length that claims far more than there is */
  expect_command_error(B(0x22, 0xff, 0xff, 0xff, 0xff, 0x0f), 6, WSP_ERR_PROTO);
}

static void test_pb_command_id(void **state) {
  (void)state;
  assert_int_equal(wsp__pb_json_id(B(0x3a, 0x00, 0x08, 0x09), 4), 9);
  assert_int_equal(wsp__pb_json_id(B(0x3a, 0x00), 2), 0);
  assert_int_equal(wsp__pb_json_id(B(0x3a, 0x09, 0x08, 0x09), 4), 0);
}

/* ---- Replies ---------------------------------------------------------- */

/* Every kind of line the hub writes (cf_out.c): encoded as a Reply and
 * read back, it must come out as it went in. */
static const char *const reply_lines[] = {
    "{}",
    "{\"id\":1,\"error\":{\"code\":107,\"message\":\"bad request\","
    "\"temporary\":true}}",
    "{\"id\":1,\"connect\":{\"client\":\"c1\",\"version\":\"0.1\","
    "\"expires\":true,\"ttl\":60,\"ping\":25,\"pong\":true,\"subs\":{\"s\":{"
    "\"recoverable\":true,\"positioned\":true,\"epoch\":\"e\",\"offset\":3,"
    "\"data\":{\"x\":1}},\"t\":{}}}}",
    "{\"id\":2,\"subscribe\":{\"expires\":true,\"ttl\":5,\"recoverable\":true,"
    "\"positioned\":true,\"epoch\":\"e\",\"offset\":2,"
    "\"was_recovering\":true,\"recovered\":true,\"publications\":[{\"data\":{"
    "\"n\":1},\"info\":{\"user\":\"u\",\"client\":\"c\",\"conn_info\":[1],"
    "\"chan_info\":\"s\"},\"tags\":{\"k\":\"v\",\"l\":\"\"},\"offset\":3},{"
    "\"data\":2,\"offset\":4}]}}",
    "{\"id\":3,\"unsubscribe\":{}}",
    "{\"id\":4,\"publish\":{}}",
    "{\"id\":5,\"presence\":{\"presence\":{\"c1\":{\"user\":\"u\",\"client\":"
    "\"c1\"},\"c2\":{\"user\":\"v\",\"client\":\"c2\",\"chan_info\":null}}}}",
    "{\"id\":6,\"presence_stats\":{\"num_clients\":2,\"num_users\":1}}",
    "{\"id\":7,\"history\":{\"publications\":[{\"data\":\"s\",\"offset\":1}],"
    "\"epoch\":\"e\",\"offset\":1}}",
    "{\"id\":8,\"rpc\":{\"data\":{\"a\":[1,2]}}}",
    "{\"id\":8,\"rpc\":{}}",
    "{\"id\":9,\"refresh\":{\"client\":\"c\",\"version\":\"v\",\"expires\":"
    "true,\"ttl\":9}}",
    "{\"id\":10,\"sub_refresh\":{\"expires\":true,\"ttl\":1}}",
    "{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"t\":\"hi\"},\"info\":{"
    "\"user\":\"u\",\"client\":\"c\"},\"offset\":20,"
    "\"channel\":\"c.x\"}}}",
    "{\"push\":{\"channel\":\"c\",\"join\":{\"info\":{\"user\":\"7\","
    "\"client\":\"a\"}}}}",
    "{\"push\":{\"channel\":\"c\",\"leave\":{\"info\":{\"user\":\"7\","
    "\"client\":\"a\"}}}}",
    "{\"push\":{\"channel\":\"c\",\"unsubscribe\":{\"code\":2500,\"reason\":"
    "\"insufficient state\"}}}",
    "{\"push\":{\"message\":{\"data\":{\"note\":\"x\"}}}}",
    "{\"push\":{\"message\":{}}}",
    "{\"push\":{\"channel\":\"#42\",\"subscribe\":{\"recoverable\":true,"
    "\"positioned\":true,\"epoch\":\"k9\",\"offset\":3,\"data\":null}}}",
    "{\"push\":{\"refresh\":{\"expires\":true,\"ttl\":30}}}",
    "{\"push\":{\"refresh\":{}}}",
    "{\"push\":{\"disconnect\":{\"code\":3001,\"reason\":\"shutdown\"}}}",
};

/* What decoding gives back: nulls and zero values are not sent. */
static void strip(char *s, const char *what) {
  char *p;
  size_t n = strlen(what);
  while ((p = strstr(s, what)))
    memmove(p, p + n, strlen(p + n) + 1);
}

static void test_pb_replies_round_trip(void **state) {
  struct wsp__jbuf pb, js;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(reply_lines) / sizeof(reply_lines[0]); i++) {
    const char *line = reply_lines[i];
    char want[1024];
    snprintf(want, sizeof(want), "%s", line);
    strip(want, ",\"chan_info\":null");
    strip(want, ",\"data\":null");
    wsp__jbuf_init(&pb, NULL);
    wsp__jbuf_init(&js, NULL);
    assert_int_equal(
        wsp__pb_json_encode(&wsp__pb_schema_reply, line, strlen(line), 0, &pb),
        0);
    assert_int_equal(wsp__pb_json_decode(&wsp__pb_schema_reply,
                                         (const uint8_t *)pb.data, pb.len, &js),
                     0);
    if (js.len != strlen(want) || memcmp(js.data, want, js.len) != 0)
      fail_msg("line %zu: got %.*s", i, (int)js.len, js.data);
    wsp__jbuf_free(&pb);
    wsp__jbuf_free(&js);
  }
}

static void test_pb_replies_exact(void **state) {
  static const char lines[] = "{}\n{\"id\":2,\"publish\":{}}\n{\"push\":{"
                              "\"channel\":\"c\",\"pub\":{\"data\":{},"
                              "\"offset\":300}}}";
  struct wsp__jbuf jb;
  (void)state;
  wsp__jbuf_init(&jb, NULL);
  assert_int_equal(wsp__pb_json_replies(lines, sizeof(lines) - 1, 0, &jb), 0);
  expect_bytes(&jb,
               B(0x00, 0x04, 0x08, 0x02, 0x42, 0x00, 0x0e, 0x22, 0x0c, 0x12,
                 0x01, 'c', 0x22, 0x07, 0x22, 0x02, '{', '}', 0x30, 0xac, 0x02),
               BLEN(0x00, 0x04, 0x08, 0x02, 0x42, 0x00, 0x0e, 0x22, 0x0c, 0x12,
                    0x01, 'c', 0x22, 0x07, 0x22, 0x02, '{', '}', 0x30, 0xac,
                    0x02));
  wsp__jbuf_free(&jb);
}

/* Under delta compression a publication's data is a JSON string, whose
 * bytes Protobuf carries: in a delta subscriber's frames (data_strings),
 * in a Publication marked delta and in a SubscribeResult marked delta. */
static void test_pb_replies_delta_data(void **state) {
  static const char full[] = "{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":"
                             "\"{\\\"a\\\":1}\",\"offset\":2}}}";
  static const char delta[] =
      "{\"push\":{\"channel\":\"c\",\"pub\":{"
      "\"data\":\"3\\n\",\"offset\":3,\"delta\":true}}}";
  static const char sub[] =
      "{\"id\":2,\"subscribe\":{\"data\":\"s\","
      "\"delta\":true,\"publications\":[{\"data\":\"[1]\"}]}}";
  struct wsp__jbuf jb;
  (void)state;
  wsp__jbuf_init(&jb, NULL);
  /* Reply{push{channel "c", pub{data '{"a":1}', offset 2}}} */
  assert_int_equal(wsp__pb_json_replies(full, sizeof(full) - 1, 1, &jb), 0);
  expect_bytes(&jb,
               B(0x12, 0x22, 0x10, 0x12, 0x01, 'c', 0x22, 0x0b, 0x22, 0x07, '{',
                 '"', 'a', '"', ':', '1', '}', 0x30, 0x02),
               BLEN(0x12, 0x22, 0x10, 0x12, 0x01, 'c', 0x22, 0x0b, 0x22, 0x07,
                    '{', '"', 'a', '"', ':', '1', '}', 0x30, 0x02));
  /* the same line without data_strings: the JSON string as JSON text */
  wsp__jbuf_reset(&jb);
  assert_int_equal(wsp__pb_json_replies(full, sizeof(full) - 1, 0, &jb), 0);
  assert_int_equal(jb.len, 19 + 4);
  /* a delta: its bytes, delta 8 true */
  wsp__jbuf_reset(&jb);
  assert_int_equal(wsp__pb_json_replies(delta, sizeof(delta) - 1, 0, &jb), 0);
  expect_bytes(&jb,
               B(0x0f, 0x22, 0x0d, 0x12, 0x01, 'c', 0x22, 0x08, 0x22, 0x02, '3',
                 '\n', 0x30, 0x03, 0x40, 0x01),
               BLEN(0x0f, 0x22, 0x0d, 0x12, 0x01, 'c', 0x22, 0x08, 0x22, 0x02,
                    '3', '\n', 0x30, 0x03, 0x40, 0x01));
  /* a recovering subscribe: its publications' data, not its own */
  wsp__jbuf_reset(&jb);
  assert_int_equal(wsp__pb_json_replies(sub, sizeof(sub) - 1, 0, &jb), 0);
  expect_bytes(&jb,
               B(0x12, 0x08, 0x02, 0x32, 0x0e, 0x5a, 0x03, '"', 's', '"', 0x68,
                 0x01, 0x3a, 0x05, 0x22, 0x03, '[', '1', ']'),
               BLEN(0x12, 0x08, 0x02, 0x32, 0x0e, 0x5a, 0x03, '"', 's', '"',
                    0x68, 0x01, 0x3a, 0x05, 0x22, 0x03, '[', '1', ']'));
  wsp__jbuf_free(&jb);
}

static void test_pb_encode_bad_json(void **state) {
  struct wsp__jbuf jb;
  (void)state;
  wsp__jbuf_init(&jb, NULL);
  /* values that do not suit their fields */
  assert_int_equal(
      wsp__pb_json_encode(&wsp__pb_schema_reply, "{\"id\":-1}", 9, 0, &jb),
      WSP_ERR_JSON);
  assert_int_equal(wsp__pb_json_encode(&wsp__pb_schema_reply,
                                       "{\"id\":4294967296}", 17, 0, &jb),
                   WSP_ERR_JSON);
  assert_int_equal(
      wsp__pb_json_encode(&wsp__pb_schema_reply, "{\"push\":[]}", 11, 0, &jb),
      WSP_ERR_JSON);
  assert_int_equal(wsp__pb_json_encode(&wsp__pb_schema_reply, "[]", 2, 0, &jb),
                   WSP_ERR_JSON);
  wsp__jbuf_free(&jb);
}

/* Every allocation failing in turn: an error, never a leak or a crash. */
static void test_pb_alloc_failures(void **state) {
  const char *line = reply_lines[3];
  long k;
  (void)state;
  for (k = 1; k < 40; k++) {
    struct tfail f;
    struct wsp__jbuf jb;
    int rv;
    tfail_init(&f, k, 1);
    wsp__jbuf_init(&jb, &f.mem);
    rv = wsp__pb_json_replies(line, strlen(line), 0, &jb);
    assert_true(rv == 0 || rv == WSP_ERR_NOMEM);
    wsp__jbuf_free(&jb);
    assert_int_equal(f.live, 0);
    if (rv == 0)
      break;
  }
  assert_true(k < 40);
}

/* ---- A hub with a Protobuf client ------------------------------------- */

struct pcli {
  struct thub_cli k;
  int binary, text;
  uint8_t last[1024]; /* the last binary message, as received */
  size_t last_len;
};

/* Replies back to JSON lines, so that the test compares them whole. */
static void pcli_on_message(struct wsp_conn *c, int op, const uint8_t *d,
                            size_t n, void *ud) {
  struct pcli *pc = ud;
  const uint8_t *p = d, *end = d + n;
  (void)c;
  if (op != WSP_OP_BINARY) {
    pc->text++;
    return;
  }
  pc->binary++;
  pc->last_len = n < sizeof(pc->last) ? n : 0;
  if (pc->last_len)
    memcpy(pc->last, d, n);
  while (p < end) {
    struct wsp__jbuf js;
    size_t len;
    assert_int_equal(wsp__pb_len(&p, end, &len), 0);
    wsp__jbuf_init(&js, NULL);
    assert_int_equal(wsp__pb_json_decode(&wsp__pb_schema_reply, p, len, &js),
                     0);
    tbuf_append(&pc->k.lines, js.data, js.len);
    tbuf_append(&pc->k.lines, "\n", 1);
    wsp__jbuf_free(&js);
    p += len;
  }
}

static void pcli_on_close(struct wsp_conn *c, int code, const uint8_t *r,
                          size_t n, void *ud) {
  struct pcli *pc = ud;
  (void)c;
  (void)r;
  (void)n;
  pc->k.close_code = code;
}

static void pcli_open(struct pcli *pc, struct wsp_server *srv,
                      const char *protocols) {
  struct wsp_conn_callbacks ccb;
  memset(pc, 0, sizeof(*pc));
  tbuf_init(&pc->k.lines);
  assert_int_equal(wsp_server_accept(srv, pc, &pc->k.sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = pcli_on_message;
  ccb.on_close = pcli_on_close;
  assert_int_equal(wsp_conn_new(&pc->k.cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, pc),
                   0);
  assert_int_equal(
      wsp_conn_client_start(pc->k.cc, "t", "/connection/websocket", protocols),
      0);
  thub_pump(&pc->k, 1);
}

/* Send the JSON commands (one per line) as one binary message. */
static void pcli_say(struct pcli *pc, const char *cmds) {
  struct wsp__jbuf jb;
  const char *p = cmds;
  wsp__jbuf_init(&jb, NULL);
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    size_t at = wsp__pb_open(&jb);
    assert_int_equal(wsp__pb_json_encode(&wsp__pb_schema_command, p, n, 0, &jb),
                     0);
    wsp__pb_close(&jb, at);
    p += n + (nl ? 1 : 0);
  }
  assert_int_equal(wsp_conn_send(pc->k.cc, WSP_OP_BINARY, jb.data, jb.len), 0);
  wsp__jbuf_free(&jb);
  thub_pump(&pc->k, 1);
}

static void pcli_connect(struct pcli *pc) {
  char want[160];
  pcli_say(pc, "{\"connect\":{\"data\":{\"u\":1}},\"id\":1}");
  thub_expect(&pc->k, thub_client_reply(want, sizeof(want), 1, "connect",
                                        wsp_client_get_id(pc->k.sc),
                                        ",\"ping\":25,\"pong\":true}}\n"));
}

static void test_pb_hub_subprotocol(void **state) {
  struct wsp_server *srv;
  struct pcli a, b;
  (void)state;
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  pcli_open(&a, srv, "centrifuge-json, " WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  assert_string_equal(wsp_conn_get_protocol(wsp_client_get_conn(a.k.sc)),
                      WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  assert_string_equal(wsp_conn_get_protocol(a.k.cc),
                      WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  pcli_open(&b, srv, WSP_PROTO_SUBPROTOCOL_JSON);
  assert_string_equal(wsp_conn_get_protocol(b.k.cc),
                      WSP_PROTO_SUBPROTOCOL_JSON);
  thub_cli_free(&b.k);
  pcli_open(&b, srv, NULL);
  assert_null(wsp_conn_get_protocol(b.k.cc));
  thub_cli_free(&b.k);
  thub_cli_free(&a.k);
  wsp_server_free(srv);
}

static void test_pb_hub_commands_and_pushes(void **state) {
  struct wsp_server *srv;
  struct wsp_server_stats st;
  struct pcli a, b;
  char want[512];
  (void)state;
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_server_set_channel_flags(
                       srv, WSP_CHANNEL_PUBLISH | WSP_CHANNEL_PRESENCE |
                                WSP_CHANNEL_JOIN_LEAVE),
                   0);
  pcli_open(&a, srv, WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  pcli_open(&b, srv, WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  pcli_connect(&a);
  pcli_connect(&b);
  /* two commands in one message, two replies in one */
  pcli_say(&a, "{\"subscribe\":{\"channel\":\"c\"},\"id\":2}\n"
               "{\"presence_stats\":{\"channel\":\"c\"},\"id\":3}");
  thub_expect(&a.k, "{\"id\":2,\"subscribe\":{}}\n"
                    "{\"id\":3,\"presence_stats\":{\"num_clients\":1,"
                    "\"num_users\":1}}\n");
  assert_int_equal(a.binary, 2);
  pcli_say(&b, "{\"subscribe\":{\"channel\":\"c\"},\"id\":2}");
  thub_expect(&b.k, "{\"id\":2,\"subscribe\":{}}\n");
  /* a shared publication frame, as Protobuf */
  pcli_say(&b, "{\"publish\":{\"channel\":\"c\",\"data\":{\"t\":1}},\"id\":3}");
  snprintf(want, sizeof(want),
           "{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"t\":1},"
           "\"info\":{\"client\":\"%s\"}}}}\n",
           wsp_client_get_id(b.k.sc));
  thub_pump(&a.k, 1);
  thub_expect(&a.k, want);
  /* the publisher's reply, then its own copy */
  {
    char both[600];
    snprintf(both, sizeof(both), "{\"id\":3,\"publish\":{}}\n%s", want);
    thub_expect(&b.k, both);
  }
  /* a payload that is not JSON: error 107 for that command, counted */
  {
    static const uint8_t bad[] = {0x08, 0x3a, 0x04, 0x12, 0x02,
                                  'h',  'i',  0x08, 0x04};
    assert_int_equal(wsp_conn_send(b.k.cc, WSP_OP_BINARY, bad, sizeof(bad)), 0);
    thub_pump(&b.k, 1);
  }
  wsp_server_get_stats(srv, &st);
  assert_int_equal(st.errors_json, 1);
  assert_int_equal(b.k.close_code, 0);
  thub_expect(&b.k, "{\"id\":4,\"error\":{\"code\":107,\"message\":"
                    "\"bad request\"}}\n");
  /* a text message is not Protobuf */
  assert_int_equal(wsp_conn_send(b.k.cc, WSP_OP_TEXT, "{}", 2), 0);
  thub_pump(&b.k, 1);
  assert_int_equal(b.k.close_code, WSP_PROTO_DISCONNECT_INAPPROPRIATE_PROTOCOL);
  /* malformed Protobuf: a length past the end */
  {
    static const uint8_t bad[] = {0x05, 0x08};
    assert_int_equal(wsp_conn_send(a.k.cc, WSP_OP_BINARY, bad, sizeof(bad)), 0);
    thub_pump(&a.k, 1);
  }
  assert_int_equal(a.k.close_code, WSP_PROTO_DISCONNECT_BAD_REQUEST);
  wsp_server_get_stats(srv, &st);
  assert_int_equal(st.errors_protocol, 2);
  assert_int_equal(a.text + b.text, 0);
  thub_cli_free(&a.k);
  thub_cli_free(&b.k);
  wsp_server_free(srv);
}

/* The example of wsp-protocol(7), byte for byte. */
static void test_pb_hub_manual_example(void **state) {
  static const uint8_t msg[] = {0x08, 0x08, 0x01, 0x22, 0x04, 0x22, 0x02,
                                0x6a, 0x73, 0x10, 0x08, 0x02, 0x3a, 0x0c,
                                0x0a, 0x01, 0x63, 0x12, 0x07, 0x7b, 0x22,
                                0x61, 0x22, 0x3a, 0x31, 0x7d};
  static const uint8_t publish_reply[] = {0x04, 0x08, 0x02, 0x42, 0x00};
  struct wsp_server *srv;
  struct pcli a;
  (void)state;
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  assert_int_equal(wsp_server_set_channel_flags(srv, WSP_CHANNEL_PUBLISH), 0);
  pcli_open(&a, srv, WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  assert_int_equal(wsp_conn_send(a.k.cc, WSP_OP_BINARY, msg, sizeof(msg)), 0);
  thub_pump(&a.k, 1);
  assert_int_equal(a.binary, 1); /* both replies in one message */
  assert_true(a.last_len > sizeof(publish_reply));
  assert_memory_equal(a.last + a.last_len - sizeof(publish_reply),
                      publish_reply, sizeof(publish_reply));
  /* the ping and the pong */
  assert_int_equal(wsp_server_tick(srv, 25000), 0);
  thub_pump(&a.k, 1);
  assert_int_equal(a.binary, 2);
  assert_int_equal(a.last_len, 1);
  assert_int_equal(a.last[0], 0);
  assert_int_equal(wsp_conn_send(a.k.cc, WSP_OP_BINARY, "", 1), 0);
  thub_pump(&a.k, 1);
  assert_int_equal(a.k.close_code, 0);
  thub_cli_free(&a.k);
  wsp_server_free(srv);
}

/* A message push to a Protobuf and a JSON client: each in its encoding. */
static void test_pb_hub_mixed_clients(void **state) {
  struct wsp_server *srv;
  struct thub_cli j;
  struct pcli p;
  char want[160];
  (void)state;
  assert_int_equal(wsp_server_new(&srv, NULL, NULL, 0, NULL), 0);
  pcli_open(&p, srv, WSP_PROTO_SUBPROTOCOL_PROTOBUF);
  pcli_connect(&p);
  thub_cli_open(&j, srv);
  thub_say(&j, 1, 0, "{\"connect\":{},\"id\":1}");
  thub_expect(&j, thub_client_reply(want, sizeof(want), 1, "connect",
                                    wsp_client_get_id(j.sc),
                                    ",\"ping\":25,\"pong\":true}}\n"));
  assert_int_equal(wsp_push_broadcast(srv, "{\"m\":1}", 7), 2);
  thub_pump(&j, 1);
  thub_pump(&p.k, 1);
  thub_expect(&j, "{\"push\":{\"message\":{\"data\":{\"m\":1}}}}\n");
  thub_expect(&p.k, "{\"push\":{\"message\":{\"data\":{\"m\":1}}}}\n");
  assert_int_equal(p.text, 0);
  thub_cli_free(&j);
  thub_cli_free(&p.k);
  wsp_server_free(srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pb_varint_bytes),
      cmocka_unit_test(test_pb_varint_bad),
      cmocka_unit_test(test_pb_key_len_skip),
      cmocka_unit_test(test_pb_open_close_moves_long_values),
      cmocka_unit_test(test_pb_schema_well_formed),
      cmocka_unit_test(test_pb_command_exact),
      cmocka_unit_test(test_pb_command_unknown_and_repeated),
      cmocka_unit_test(test_pb_command_bad),
      cmocka_unit_test(test_pb_command_id),
      cmocka_unit_test(test_pb_replies_round_trip),
      cmocka_unit_test(test_pb_replies_exact),
      cmocka_unit_test(test_pb_replies_delta_data),
      cmocka_unit_test(test_pb_encode_bad_json),
      cmocka_unit_test(test_pb_alloc_failures),
      cmocka_unit_test(test_pb_hub_subprotocol),
      cmocka_unit_test(test_pb_hub_commands_and_pushes),
      cmocka_unit_test(test_pb_hub_manual_example),
      cmocka_unit_test(test_pb_hub_mixed_clients),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
