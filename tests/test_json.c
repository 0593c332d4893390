/*
 * The private JSON validator, scanner and writer (lib/json/json_private.h).
 *
 * The JSONTestSuite corpus (test_parsing/) is read at run time from the
 * directory named by argv[1] or, failing that, the WSP_JSONTESTSUITE
 * environment variable; the corpus tests fail when neither names a
 * readable directory. Every y_ file must be accepted and every n_ file
 * rejected; i_ files only must not crash (their counts are printed).
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/internal.h"
#include "../lib/json/json_private.h"

#define DEPTH 64

/* A table row: text (len 0: strlen), whether it is valid, and the error
 * offset expected (-1: not checked). */
struct row {
  const char *text;
  size_t len;
  int ok;
  long off;
};

/* A row whose text may hold NUL bytes. */
#define B(s, ok, off)                                                          \
  { s, sizeof(s) - 1, ok, off }
#define Y(s)                                                                   \
  { s, 0, 1, -1 }
#define N(s, off)                                                              \
  { s, 0, 0, off }

static int check_rows(const struct row *rows, size_t n, unsigned depth) {
  int bad = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    const struct row *r = &rows[i];
    size_t len = r->len ? r->len : strlen(r->text);
    size_t off = (size_t)-1;
    int rc = wsp__json_validate(r->text, len, depth, &off);
    char name[96];
    snprintf(name, sizeof(name), "row %zu (%.40s)", i, r->text);
    if (r->ok) {
      T_CHECK(bad, name, rc == 0);
    } else {
      T_CHECK(bad, name, rc == WSP_ERR_JSON);
      T_CHECK(bad, name, off <= len);
      if (r->off >= 0 && off != (size_t)r->off)
        print_error("%s: error offset %zu, expected %ld\n", name, off, r->off);
      T_CHECK(bad, name, r->off < 0 || off == (size_t)r->off);
    }
  }
  return bad;
}

/* Walk every value of a validated text with the scanner; returns the
 * number of problems found. */
static int walk(const struct wsp__json_val *v, int depth) {
  struct wsp__json_val k, e;
  size_t pos = 0, n;
  int rc, bad = 0;
  char buf[256];
  if (depth > WSP__JSON_MAX_DEPTH + 1)
    return 1;
  switch (v->type) {
  case WSP__JSON_OBJECT:
    while ((rc = wsp__json_object_next(v->ptr, v->len, &pos, &k, &e)) == 1) {
      bad += k.type != WSP__JSON_STRING;
      bad += walk(&k, depth + 1) + walk(&e, depth + 1);
    }
    bad += rc != 0;
    break;
  case WSP__JSON_ARRAY:
    while ((rc = wsp__json_array_next(v->ptr, v->len, &pos, &e)) == 1)
      bad += walk(&e, depth + 1);
    bad += rc != 0;
    break;
  case WSP__JSON_STRING:
    rc = wsp__json_string_decode(v, buf, sizeof(buf), &n);
    bad += rc != 0 && rc != WSP_ERR_LIMIT;
    bad += n > v->len - 2;
    break;
  default:
    bad += v->len == 0;
    break;
  }
  return bad;
}

/* The top-level value of a validated text. */
static void top_value(const char *s, size_t len, struct wsp__json_val *v) {
  size_t pos = 0, end = len;
  while (pos < len && strchr(" \t\r\n", s[pos]))
    pos++;
  while (end > pos && strchr(" \t\r\n", s[end - 1]))
    end--;
  v->ptr = s + pos;
  v->len = end - pos;
  switch (s[pos]) {
  case '{':
    v->type = WSP__JSON_OBJECT;
    break;
  case '[':
    v->type = WSP__JSON_ARRAY;
    break;
  case '"':
    v->type = WSP__JSON_STRING;
    break;
  case 't':
    v->type = WSP__JSON_TRUE;
    break;
  case 'f':
    v->type = WSP__JSON_FALSE;
    break;
  case 'n':
    v->type = WSP__JSON_NULL;
    break;
  default:
    v->type = WSP__JSON_NUMBER;
    break;
  }
}

/* ---- JSONTestSuite ---------------------------------------------------- */

struct suite {
  char kind;
  long files, accepted;
};

/* Validate one corpus file; walk it when accepted. */
static int suite_file(const char *name, const char *text, size_t len,
                      void *ud) {
  struct suite *su = ud;
  size_t off = 0;
  int bad = 0, rc = wsp__json_validate(text, len, DEPTH, &off);
  su->files++;
  if (su->kind == 'y')
    T_CHECK(bad, name, rc == 0);
  else if (su->kind == 'n')
    T_CHECK(bad, name, rc == WSP_ERR_JSON && off <= len);
  if (rc == 0) {
    struct wsp__json_val v;
    su->accepted++;
    top_value(text, len, &v);
    T_CHECK(bad, name, walk(&v, 0) == 0);
  }
  return bad;
}

/* Validate every file of the corpus whose name starts with kind. */
static void run_suite(const char *dir, char kind) {
  struct suite su = {kind, 0, 0};
  t_corpus_each(dir, kind, suite_file, &su);
  if (kind == 'i')
    print_message("JSONTestSuite i_ files: %ld accepted, %ld rejected\n",
                  su.accepted, su.files - su.accepted);
}

static void test_json_suite_y_accepted(void **state) { run_suite(*state, 'y'); }

static void test_json_suite_n_rejected(void **state) { run_suite(*state, 'n'); }

static void test_json_suite_i_no_crash(void **state) { run_suite(*state, 'i'); }

/* ---- Validation rules ------------------------------------------------- */

static void test_json_numbers(void **state) {
  static const struct row rows[] = {
      /* valid */
      Y("0"), Y("-0"), Y("1"), Y("-1"), Y("10"), Y("1.5"), Y("-0.0"), Y("1e5"),
      Y("1E+5"), Y("1e-5"), Y("0e0"), Y("0.0e-0"), Y("1.25E10"),
      Y("123456789012345678901234567890"), Y("[0,-0,1.5e3]"), Y(" 7 "),
      Y("{\"a\":-12.5e-3}"),
      /* invalid, with the offset of the error */
      N("01", 1), N("-01", 2), N("00", 1), N("+1", 0), N(".5", 0), N("1.", 2),
      N("1e", 2), N("1e+", 3), N("1E-", 3), N("-", 1), N("--1", 1),
      N("1.e5", 2), N("0x10", 1), N("1 2", 2), N("NaN", 0), N("Infinity", 0),
      N("-Infinity", 1), N("1.5.", 3), N("1e5e", 3), N("[01]", 2), N("[1.]", 3),
      N("{\"a\":01}", 6), N("-.5", 1), N("1.0e", 4), N("[-]", 2), N("2.", 2),
      N("[1e+]", 4)};
  (void)state;
  assert_int_equal(check_rows(rows, T_ARRAY_LEN(rows), DEPTH), 0);
}

static void test_json_literals(void **state) {
  static const struct row rows[] = {/* valid */
                                    Y("true"), Y("false"), Y("null"),
                                    Y("[true,false,null]"), Y("{\"a\":null}"),
                                    /* invalid, with the offset of the error */
                                    N("tru", 3), N("True", 0), N("nul", 3),
                                    N("truex", 4), N("nulll", 4),
                                    N("[fals]", 5), N("NULL", 0), N("t", 1),
                                    N("[nil]", 2), N("truefalse", 4)};
  (void)state;
  assert_int_equal(check_rows(rows, T_ARRAY_LEN(rows), DEPTH), 0);
}

static void test_json_structure(void **state) {
  static const struct row rows[] = {
      /* valid */
      Y("[]"), Y("{}"), Y(" \t\r\n[ 1 , 2 ]\n"),
      Y("{ \"a\" : [ ] , \"b\" : { } }"), Y("\"\""), Y("[[],[[]],{}]"),
      Y("{\"\":\"\"}"),
      /* invalid, with the offset of the error */
      N("", 0), N("   ", 3), N("[1,]", 3), N("{\"a\":1,}", 7), N("[,1]", 1),
      N("{,}", 1), N("[1 2]", 3), N("{\"a\" 1}", 5), N("{1:1}", 1),
      N("{\"a\":}", 5), N("[] []", 3), N("[]]", 2), N("[", 1), N("{", 1),
      N("]", 0), N("{\"a\":1", 6), N("{\"a\"}", 4), N("[1:2]", 2),
      N("{\"a\",1}", 4), N("\f[]", 0), N("[]\f", 2), N("\xef\xbb\xbf{}", 0),
      N("[\"a\",]", 5), N("{\"a\":1 \"b\":2}", 7), N("{'a':1}", 1),
      N("[\"a\"\"b\"]", 4), N("/* */[]", 0), N("[]//", 2), N("[1;2]", 2),
      N("{\"a\":1}}", 7), N("[1]x", 3), N("\"a\" \"b\"", 4), B("[1]\0", 0, 3),
      B("\0", 0, 0), B("[\0]", 0, 1), B("\"a\0\"", 0, 2),
      B("{\"a\0\":1}", 0, 3), B(" \0 1", 0, 1)};
  (void)state;
  assert_int_equal(check_rows(rows, T_ARRAY_LEN(rows), DEPTH), 0);
}

static void test_json_escapes(void **state) {
  static const struct row rows[] = {
      /* valid */
      Y("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""),
      Y("\"\\u0041\\u00e9\\uABCD\""), Y("\"\\u0000\""), Y("\"\\uFFFF\\uffff\""),
      Y("\"\x7f\""), Y("\"/\""), Y("\"'\""),
      /* invalid, with the offset of the error */
      N("\"\\x\"", 2), N("\"\\U0041\"", 2), N("\"\\u004\"", 6),
      N("\"\\u00G1\"", 5), N("\"\\'\"", 2), N("\"\\a\"", 2), N("\"\\0\"", 2),
      N("\"\\ \"", 2), N("\"\\", 2), N("\"\\u", 3), N("\"\\u12", 5),
      N("\"a\tb\"", 2), N("\"a\nb\"", 2), N("\"\x1f\"", 1), N("\"\r\"", 1),
      N("\"abc", 4), N("\"", 1), N("\"\\\"", 3), N("[\"a\\\"]", 6)};
  (void)state;
  assert_int_equal(check_rows(rows, T_ARRAY_LEN(rows), DEPTH), 0);
}

static void test_json_surrogates(void **state) {
  static const struct row rows[] = {
      Y("\"\\uD834\\uDD1E\""),     Y("\"\\ud834\\udd1e\""),
      Y("\"\\uDBFF\\uDFFF\""),     Y("\"\\uD800\\uDC00\""),
      Y("\"\\uD7FF\\uE000\""),     Y("\"a\\uD83D\\uDE00b\""),
      N("\"\\uD800\"", 1),         N("\"\\uDC00\"", 1),
      N("\"\\uDFFF\"", 1),         N("\"\\uD800\\u0041\"", 1),
      N("\"\\uD800x\"", 1),        N("\"\\uDD1E\\uD834\"", 1),
      N("\"\\uD800\\uD800\"", 1),  N("\"\\uD800\\n\"", 1),
      N("\"x\\uDBFF\\uE000\"", 2), N("\"\\uD800\\uDC0\"", 1),
      N("{\"\\uDC01\":1}", 2),     N("\"\\uD800\\u", 1),
      N("[\"\\uDFAA\"]", 2)};
  (void)state;
  assert_int_equal(check_rows(rows, T_ARRAY_LEN(rows), DEPTH), 0);
}

static void test_json_utf8(void **state) {
  static const struct row rows[] = {
      Y("\"\xc2\x80\""),         /* U+0080 */
      Y("\"\xc3\xa9\""),         /* U+00E9 */
      Y("\"\xdf\xbf\""),         /* U+07FF */
      Y("\"\xe0\xa0\x80\""),     /* U+0800 */
      Y("\"\xe2\x82\xac\""),     /* U+20AC */
      Y("\"\xed\x9f\xbf\""),     /* U+D7FF */
      Y("\"\xee\x80\x80\""),     /* U+E000 */
      Y("\"\xef\xbf\xbf\""),     /* U+FFFF */
      Y("\"\xf0\x90\x80\x80\""), /* U+10000 */
      Y("\"\xf0\x9d\x84\x9e\""), /* U+1D11E */
      Y("\"\xf4\x8f\xbf\xbf\""), /* U+10FFFF */
      Y("{\"\xc3\xa9t\xc3\xa9\":\"\xe6\x97\xa5\xe6\x9c\xac\"}"),
      /* overlong forms */
      N("\"\xc0\x80\"", 1), N("\"\xc1\xbf\"", 1), N("\"\xe0\x80\x80\"", 2),
      N("\"\xe0\x9f\xbf\"", 2), N("\"\xf0\x80\x80\x80\"", 2),
      N("\"\xf0\x8f\xbf\xbf\"", 2),
      /* surrogates encoded in UTF-8 */
      N("\"\xed\xa0\x80\"", 2), N("\"\xed\xbf\xbf\"", 2),
      /* above U+10FFFF, and bytes that never start a sequence */
      N("\"\xf4\x90\x80\x80\"", 2), N("\"\xf5\x80\x80\x80\"", 1),
      N("\"\xf8\x88\x80\x80\x80\"", 1), N("\"\xfe\"", 1), N("\"\xff\"", 1),
      N("\"\x80\"", 1), N("\"\xbf\"", 1),
      /* truncated sequences */
      N("\"\xc3\"", 2), N("\"\xe2\x82\"", 3), N("\"\xf0\x9d\x84\"", 4),
      N("\"\xc3", 2), N("\"\xe2\x82", 3),
      /* bad continuation bytes */
      N("\"\xc3\x41\"", 2), N("\"\xe2\x28\xa1\"", 2), N("\"\xe2\x82\x28\"", 3),
      N("\"\xf0\x9d\x84\x41\"", 4), N("\"\xc3\xa9\xa9\"", 3),
      /* non-ASCII outside strings */
      N("[\xc3\xa9]", 1), N("\xc3\xa9", 0), N("{\"a\":1}\xc3\xa9", 7),
      N("{\xc3\xa9:1}", 1)};
  (void)state;
  assert_int_equal(check_rows(rows, T_ARRAY_LEN(rows), DEPTH), 0);
}

static char *nested(const char *open, const char *close, size_t n,
                    size_t *len) {
  size_t lo = strlen(open), lc = strlen(close), i;
  char *s = malloc(n * (lo + lc) + 2);
  char *p = s;
  assert_non_null(s);
  for (i = 0; i < n; i++, p += lo)
    memcpy(p, open, lo);
  *p++ = '1';
  for (i = 0; i < n; i++, p += lc)
    memcpy(p, close, lc);
  *len = (size_t)(p - s);
  return s;
}

static void test_json_depth_limit(void **state) {
  size_t len, off;
  char *s;
  (void)state;
  /* arrays: n deep is fine at max_depth n, an error at n - 1 */
  s = nested("[", "]", 10, &len);
  assert_int_equal(wsp__json_validate(s, len, 10, &off), 0);
  assert_int_equal(wsp__json_validate(s, len, 9, &off), WSP_ERR_JSON);
  assert_int_equal(off, 9);
  free(s);
  /* objects and arrays count together */
  s = nested("{\"a\":[", "]}", 5, &len);
  assert_int_equal(wsp__json_validate(s, len, 10, &off), 0);
  assert_int_equal(wsp__json_validate(s, len, 9, &off), WSP_ERR_JSON);
  assert_int_equal(off, 6 * 4 + 5);
  free(s);
  /* siblings do not add up */
  assert_int_equal(wsp__json_validate("[[1],[2],{\"a\":[3]}]", 19, 3, &off), 0);
  assert_int_equal(wsp__json_validate("[[1],[2],{\"a\":[3]}]", 19, 2, &off),
                   WSP_ERR_JSON);
  assert_int_equal(off, 14);
  /* 0: scalars only */
  assert_int_equal(wsp__json_validate("\"x\"", 3, 0, &off), 0);
  assert_int_equal(wsp__json_validate("[]", 2, 0, &off), WSP_ERR_JSON);
  assert_int_equal(off, 0);
  assert_int_equal(wsp__json_validate(" {}", 3, 0, &off), WSP_ERR_JSON);
  assert_int_equal(off, 1);
  /* the largest depth, and the clamp above it */
  s = nested("[", "]", WSP__JSON_MAX_DEPTH, &len);
  assert_int_equal(wsp__json_validate(s, len, WSP__JSON_MAX_DEPTH, &off), 0);
  free(s);
  s = nested("{\"\":", "}", WSP__JSON_MAX_DEPTH, &len);
  assert_int_equal(wsp__json_validate(s, len, WSP__JSON_MAX_DEPTH, &off), 0);
  {
    struct wsp__json_val v;
    top_value(s, len, &v);
    assert_int_equal(walk(&v, 0), 0);
  }
  free(s);
  s = nested("[", "]", WSP__JSON_MAX_DEPTH + 1, &len);
  assert_int_equal(wsp__json_validate(s, len, 100000, &off), WSP_ERR_JSON);
  assert_int_equal(off, WSP__JSON_MAX_DEPTH);
  free(s);
  /* a deep unclosed text ends in an error, not a crash */
  s = nested("[", "]", 100000, &len);
  assert_int_equal(wsp__json_validate(s, 100000, 100000, &off), WSP_ERR_JSON);
  assert_int_equal(off, WSP__JSON_MAX_DEPTH);
  free(s);
}

static void test_json_validate_arguments(void **state) {
  size_t off = 99;
  (void)state;
  assert_int_equal(wsp__json_validate(NULL, 0, DEPTH, &off), WSP_ERR_JSON);
  assert_int_equal(off, 0);
  assert_int_equal(wsp__json_validate("[1]", 3, DEPTH, NULL), 0);
  assert_int_equal(wsp__json_validate("[1", 2, DEPTH, NULL), WSP_ERR_JSON);
  /* only len bytes count: what follows is not looked at */
  assert_int_equal(wsp__json_validate("[1]xyz", 3, DEPTH, NULL), 0);
  assert_int_equal(wsp__json_validate("12", 1, DEPTH, NULL), 0);
  assert_int_equal(wsp__json_validate("\"ab\"", 3, DEPTH, &off), WSP_ERR_JSON);
  assert_int_equal(off, 3);
}

/* ---- Scanner ---------------------------------------------------------- */

#define VAL_IS(v, t, text)                                                     \
  do {                                                                         \
    assert_int_equal((v).type, (t));                                           \
    assert_int_equal((v).len, strlen(text));                                   \
    assert_memory_equal((v).ptr, (text), strlen(text));                        \
  } while (0)

static void test_json_object_iterate(void **state) {
  static const char obj[] =
      " {\"id\" : 1, \"method\":\"x\", \"params\": {\"a\": [1, {\"b\": 2}], "
      "\"c\": \"}]\\\"\"} ,\"e\":[], \"t\":true,\"f\":false,\"n\":null,"
      "\"neg\":-1.5e3, \"s\": \"a\\\\\" }\n";
  struct wsp__json_val k, v, e;
  size_t pos = 0, apos = 0, len = sizeof(obj) - 1;
  (void)state;
  assert_int_equal(wsp__json_validate(obj, len, DEPTH, NULL), 0);
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(k, WSP__JSON_STRING, "\"id\"");
  VAL_IS(v, WSP__JSON_NUMBER, "1");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(k, WSP__JSON_STRING, "\"method\"");
  VAL_IS(v, WSP__JSON_STRING, "\"x\"");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(k, WSP__JSON_STRING, "\"params\"");
  VAL_IS(v, WSP__JSON_OBJECT, "{\"a\": [1, {\"b\": 2}], \"c\": \"}]\\\"\"}");
  {
    /* into the nested object and its array */
    struct wsp__json_val k2, v2;
    size_t p2 = 0;
    assert_int_equal(wsp__json_object_next(v.ptr, v.len, &p2, &k2, &v2), 1);
    VAL_IS(v2, WSP__JSON_ARRAY, "[1, {\"b\": 2}]");
    assert_int_equal(wsp__json_array_next(v2.ptr, v2.len, &apos, &e), 1);
    VAL_IS(e, WSP__JSON_NUMBER, "1");
    assert_int_equal(wsp__json_array_next(v2.ptr, v2.len, &apos, &e), 1);
    VAL_IS(e, WSP__JSON_OBJECT, "{\"b\": 2}");
    assert_int_equal(wsp__json_array_next(v2.ptr, v2.len, &apos, &e), 0);
    assert_int_equal(wsp__json_array_next(v2.ptr, v2.len, &apos, &e), 0);
    assert_int_equal(wsp__json_object_next(v.ptr, v.len, &p2, &k2, &v2), 1);
    VAL_IS(v2, WSP__JSON_STRING, "\"}]\\\"\"");
    assert_int_equal(wsp__json_object_next(v.ptr, v.len, &p2, &k2, &v2), 0);
  }
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(v, WSP__JSON_ARRAY, "[]");
  apos = 0;
  assert_int_equal(wsp__json_array_next(v.ptr, v.len, &apos, &e), 0);
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(v, WSP__JSON_TRUE, "true");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(v, WSP__JSON_FALSE, "false");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(v, WSP__JSON_NULL, "null");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(k, WSP__JSON_STRING, "\"neg\"");
  VAL_IS(v, WSP__JSON_NUMBER, "-1.5e3");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  VAL_IS(v, WSP__JSON_STRING, "\"a\\\\\"");
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 0);
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 0);

  /* empty containers, and the wrong kind */
  pos = 0;
  assert_int_equal(wsp__json_object_next(" { } ", 5, &pos, &k, &v), 0);
  pos = 0;
  assert_int_equal(wsp__json_object_next("[1]", 3, &pos, &k, &v), WSP_ERR_JSON);
  pos = 0;
  assert_int_equal(wsp__json_array_next("{}", 2, &pos, &v), WSP_ERR_JSON);
  pos = 0;
  assert_int_equal(wsp__json_object_next("\"{}\"", 4, &pos, &k, &v),
                   WSP_ERR_JSON);
  pos = 0;
  assert_int_equal(wsp__json_object_next("", 0, &pos, &k, &v), WSP_ERR_JSON);
  pos = 5;
  assert_int_equal(wsp__json_object_next("{}", 2, &pos, &k, &v), WSP_ERR_JSON);
}

static void test_json_array_iterate(void **state) {
  static const char arr[] = "[1, \"a,]\", [2, [3]], {\"k\": \"v\"}, null,-0]";
  static const char *const want[] = {
      "1", "\"a,]\"", "[2, [3]]", "{\"k\": \"v\"}", "null", "-0"};
  static const int types[] = {WSP__JSON_NUMBER, WSP__JSON_STRING,
                              WSP__JSON_ARRAY,  WSP__JSON_OBJECT,
                              WSP__JSON_NULL,   WSP__JSON_NUMBER};
  struct wsp__json_val v;
  size_t pos = 0, i = 0, len = sizeof(arr) - 1;
  int rc;
  (void)state;
  assert_int_equal(wsp__json_validate(arr, len, DEPTH, NULL), 0);
  while ((rc = wsp__json_array_next(arr, len, &pos, &v)) == 1) {
    assert_true(i < T_ARRAY_LEN(want));
    VAL_IS(v, types[i], want[i]);
    i++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(i, T_ARRAY_LEN(want));
}

static void test_json_escaped_keys(void **state) {
  static const char obj[] =
      "{\"\\u0069d\": 7, \"a\\\"b\": 1, \"\\u00e9\": 2, \"\\ud834\\udd1e\": 3,"
      " \"x\\u0000y\": 4, \"\\/\\n\": 5, \"plain\": 6}";
  struct wsp__json_val k, v;
  size_t pos = 0, len = sizeof(obj) - 1;
  uint64_t u;
  (void)state;
  assert_int_equal(wsp__json_validate(obj, len, DEPTH, NULL), 0);
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_true(wsp__json_key_is(&k, "id"));
  assert_false(wsp__json_key_is(&k, "i"));
  assert_false(wsp__json_key_is(&k, "idx"));
  assert_false(wsp__json_key_is(&k, "\\u0069d"));
  assert_false(wsp__json_key_is(&k, ""));
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_true(wsp__json_key_is(&k, "a\"b"));
  assert_false(wsp__json_key_is(&k, "a\\\"b"));
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_true(wsp__json_key_is(&k, "\xc3\xa9"));
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_true(wsp__json_key_is(&k, "\xf0\x9d\x84\x9e"));
  assert_false(wsp__json_key_is(&k, "\xf0\x9d\x84"));
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_false(wsp__json_key_is(&k, "x"));
  assert_false(wsp__json_key_is(&k, "xy"));
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_true(wsp__json_key_is(&k, "/\n"));
  assert_int_equal(wsp__json_object_next(obj, len, &pos, &k, &v), 1);
  assert_true(wsp__json_key_is(&k, "plain"));
  assert_false(wsp__json_key_is(&k, "plai"));
  assert_false(wsp__json_key_is(&k, NULL));
  assert_false(wsp__json_key_is(&v, "6")); /* not a string */

  assert_int_equal(wsp__json_find(obj, len, "id", &v), 1);
  assert_int_equal(wsp__json_get_u64(&v, &u), 0);
  assert_int_equal(u, 7);
  assert_int_equal(wsp__json_find(obj, len, "\xc3\xa9", &v), 1);
  VAL_IS(v, WSP__JSON_NUMBER, "2");
  assert_int_equal(wsp__json_find(obj, len, "plain", &v), 1);
  VAL_IS(v, WSP__JSON_NUMBER, "6");
  assert_int_equal(wsp__json_find(obj, len, "missing", &v), 0);
  /* the first of duplicated names wins */
  assert_int_equal(wsp__json_find("{\"a\":1,\"a\":2}", 13, "a", &v), 1);
  VAL_IS(v, WSP__JSON_NUMBER, "1");
  assert_int_equal(wsp__json_find("[]", 2, "a", &v), WSP_ERR_JSON);
  assert_int_equal(wsp__json_find("{}", 2, "a", &v), 0);
}

static struct wsp__json_val num(const char *text) {
  struct wsp__json_val v = {WSP__JSON_NUMBER, text, strlen(text)};
  return v;
}

static void test_json_get_integers(void **state) {
  static const struct {
    const char *text;
    int u_ok, i_ok;
    uint64_t u;
    int64_t i;
  } rows[] = {
      {"0", 1, 1, 0, 0},
      {"-0", 0, 1, 0, 0},
      {"42", 1, 1, 42, 42},
      {"-42", 0, 1, 0, -42},
      {"18446744073709551615", 1, 0, UINT64_MAX, 0},
      {"18446744073709551616", 0, 0, 0, 0},
      {"18446744073709551620", 0, 0, 0, 0},
      {"99999999999999999999", 0, 0, 0, 0},
      {"100000000000000000000", 0, 0, 0, 0},
      {"9223372036854775807", 1, 1, INT64_MAX, INT64_MAX},
      {"9223372036854775808", 1, 0, (uint64_t)INT64_MAX + 1, 0},
      {"-9223372036854775808", 0, 1, 0, INT64_MIN},
      {"-9223372036854775809", 0, 0, 0, 0},
      {"1.0", 0, 0, 0, 0},
      {"1e3", 0, 0, 0, 0},
      {"1E3", 0, 0, 0, 0},
      {"01", 0, 0, 0, 0},
      {"", 0, 0, 0, 0},
      {"-", 0, 0, 0, 0},
      {"+1", 0, 0, 0, 0},
  };
  struct wsp__json_val v;
  uint64_t u;
  int64_t i64;
  int b, bad = 0;
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    v = num(rows[i].text);
    u = 12345;
    i64 = 12345;
    b = wsp__json_get_u64(&v, &u);
    T_CHECK(bad, rows[i].text, b == (rows[i].u_ok ? 0 : WSP_ERR_JSON));
    T_CHECK(bad, rows[i].text, !rows[i].u_ok || u == rows[i].u);
    b = wsp__json_get_i64(&v, &i64);
    T_CHECK(bad, rows[i].text, b == (rows[i].i_ok ? 0 : WSP_ERR_JSON));
    T_CHECK(bad, rows[i].text, !rows[i].i_ok || i64 == rows[i].i);
  }
  assert_int_equal(bad, 0);
  /* the type must be NUMBER */
  v.type = WSP__JSON_STRING;
  v.ptr = "\"1\"";
  v.len = 3;
  assert_int_equal(wsp__json_get_u64(&v, &u), WSP_ERR_JSON);
  assert_int_equal(wsp__json_get_i64(&v, &i64), WSP_ERR_JSON);
  /* booleans */
  v.type = WSP__JSON_TRUE;
  assert_int_equal(wsp__json_get_bool(&v, &b), 0);
  assert_int_equal(b, 1);
  v.type = WSP__JSON_FALSE;
  assert_int_equal(wsp__json_get_bool(&v, &b), 0);
  assert_int_equal(b, 0);
  v.type = WSP__JSON_NULL;
  assert_int_equal(wsp__json_get_bool(&v, &b), WSP_ERR_JSON);
  v = num("1");
  assert_int_equal(wsp__json_get_bool(&v, &b), WSP_ERR_JSON);
}

static void test_json_string_decode(void **state) {
  static const char text[] =
      "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud834\\udd1e"
      "\\u0000z\xc3\xa9\"";
  static const char want[] = "a\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac"
                             "\xf0\x9d\x84\x9e\0z\xc3\xa9";
  struct wsp__json_val v = {WSP__JSON_STRING, text, sizeof(text) - 1};
  char out[64];
  size_t n = 0, wl = sizeof(want) - 1;
  (void)state;
  assert_int_equal(wsp__json_validate(text, v.len, DEPTH, NULL), 0);
  memset(out, 'X', sizeof(out));
  assert_int_equal(wsp__json_string_decode(&v, out, sizeof(out), &n), 0);
  assert_int_equal(n, wl);
  assert_memory_equal(out, want, wl);
  assert_int_equal(out[n], '\0');
  /* exactly the room needed: no NUL */
  memset(out, 'X', sizeof(out));
  assert_int_equal(wsp__json_string_decode(&v, out, wl, &n), 0);
  assert_memory_equal(out, want, wl);
  assert_int_equal(out[wl], 'X');
  /* too small: LIMIT with the size needed, nothing written past cap */
  memset(out, 'X', sizeof(out));
  assert_int_equal(wsp__json_string_decode(&v, out, wl - 1, &n), WSP_ERR_LIMIT);
  assert_int_equal(n, wl);
  assert_int_equal(out[wl - 1], 'X');
  memset(out, 'X', sizeof(out));
  assert_int_equal(wsp__json_string_decode(&v, out, 3, &n), WSP_ERR_LIMIT);
  assert_int_equal(out[3], 'X');
  assert_int_equal(wsp__json_string_decode(&v, NULL, 0, &n), WSP_ERR_LIMIT);
  assert_int_equal(n, wl);
  /* empty string */
  v.ptr = "\"\"";
  v.len = 2;
  assert_int_equal(wsp__json_string_decode(&v, NULL, 0, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(wsp__json_string_decode(&v, out, 1, &n), 0);
  assert_int_equal(out[0], '\0');
  /* not a string */
  v.type = WSP__JSON_NUMBER;
  assert_int_equal(wsp__json_string_decode(&v, out, sizeof(out), &n),
                   WSP_ERR_JSON);
}

/* ---- Writer ----------------------------------------------------------- */

/* Write s as a string, check that it validates, holds no raw control
 * byte, U+2028 or U+2029, and decodes to want. */
static int roundtrip(struct wsp__jbuf *jb, const char *s, size_t n,
                     const char *want, size_t wlen) {
  struct wsp__json_val v;
  size_t off, dl, i;
  char *dec;
  int bad = 0;
  wsp__jbuf_reset(jb);
  assert_int_equal(wsp__jbuf_str(jb, s, n), 0);
  bad += wsp__json_validate(jb->data, jb->len, 0, &off) != 0;
  for (i = 0; i < jb->len; i++) {
    unsigned char c = (unsigned char)jb->data[i];
    bad += c < 0x20;
    if (c == 0xe2 && i + 2 < jb->len && (unsigned char)jb->data[i + 1] == 0x80)
      bad += ((unsigned char)jb->data[i + 2] & 0xfe) == 0xa8;
  }
  v.type = WSP__JSON_STRING;
  v.ptr = jb->data;
  v.len = jb->len;
  dec = malloc(jb->len + 1);
  assert_non_null(dec);
  if (wsp__json_string_decode(&v, dec, jb->len + 1, &dl) != 0 || dl != wlen ||
      memcmp(dec, want, wlen) != 0)
    bad++;
  free(dec);
  return bad;
}

static size_t put_utf8(char *o, uint32_t cp) {
  unsigned char *u = (unsigned char *)o;
  if (cp < 0x80) {
    u[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    u[0] = (unsigned char)(0xc0 | cp >> 6);
    u[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    u[0] = (unsigned char)(0xe0 | cp >> 12);
    u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  u[0] = (unsigned char)(0xf0 | cp >> 18);
  u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  u[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

static void test_json_writer_roundtrip(void **state) {
  static const char *const samples[] = {
      "",
      "plain ascii",
      "quote \" backslash \\ slash /",
      "\b\f\n\r\t\x01\x1f\x7f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf",
      "line\xe2\x80\xa8sep\xe2\x80\xa9para\xe2\x80\xaa",
      "</script><!--",
      "\xef\xbf\xbd literal replacement char",
  };
  struct wsp__jbuf jb;
  char buf[4096];
  uint32_t x = 0x12345678;
  size_t i, n;
  int bad = 0, round;
  (void)state;
  wsp__jbuf_init(&jb, NULL);
  for (i = 0; i < T_ARRAY_LEN(samples); i++)
    T_CHECK(bad, samples[i],
            roundtrip(&jb, samples[i], strlen(samples[i]), samples[i],
                      strlen(samples[i])) == 0);
  /* every byte below 0x80, NUL included */
  for (i = 0; i < 128; i++)
    buf[i] = (char)i;
  T_CHECK(bad, "ascii", roundtrip(&jb, buf, 128, buf, 128) == 0);
  /* the exact escapes */
  wsp__jbuf_reset(&jb);
  wsp__jbuf_str(&jb, "a\"\\\n\x01\xe2\x80\xa8\x1f\t", 10);
  assert_int_equal(jb.len, strlen("\"a\\\"\\\\\\n\\u0001\\u2028\\u001f\\t\""));
  assert_memory_equal(jb.data, "\"a\\\"\\\\\\n\\u0001\\u2028\\u001f\\t\"",
                      jb.len);
  /* random valid UTF-8 */
  for (round = 0; round < 2000; round++) {
    n = 0;
    while (n < sizeof(buf) - 4) {
      uint32_t cp;
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      if ((x & 63) == 0)
        break;
      switch ((x >> 6) & 3) {
      case 0:
        cp = (x >> 8) & 0x7f;
        break;
      case 1:
        cp = (x >> 8) & 0x7ff;
        break;
      case 2:
        cp = (x >> 8) & 0xffff;
        break;
      default:
        cp = (x >> 8) % 0x110000;
        break;
      }
      if (cp >= 0xd800 && cp <= 0xdfff)
        cp = 0x2028 + (cp & 1);
      n += put_utf8(buf + n, cp);
    }
    T_CHECK(bad, "random", roundtrip(&jb, buf, n, buf, n) == 0);
  }
  wsp__jbuf_free(&jb);
  assert_int_equal(bad, 0);
}

static void test_json_writer_invalid_utf8(void **state) {
  static const struct {
    const char *in, *out;
  } rows[] = {
      {"a\xff"
       "b",
       "\"a\\ufffdb\""},
      {"\x80", "\"\\ufffd\""},
      {"\xe2\x82"
       "a",
       "\"\\ufffda\""},                              /* truncated: one U+FFFD */
      {"\xf0\x9d\x84", "\"\\ufffd\""},               /* truncated at the end */
      {"\xc0\x80", "\"\\ufffd\\ufffd\""},            /* overlong */
      {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* surrogate */
      {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
      {"\xc3\xa9\xa9", "\"\xc3\xa9\\ufffd\""},
      {"\xe2\x80", "\"\\ufffd\""},
      {"\xe2\x80\xa8\xe2\x80", "\"\\u2028\\ufffd\""},
  };
  struct wsp__jbuf jb;
  int bad = 0;
  size_t i;
  (void)state;
  wsp__jbuf_init(&jb, NULL);
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    wsp__jbuf_reset(&jb);
    wsp__jbuf_str(&jb, rows[i].in, strlen(rows[i].in));
    T_CHECK(bad, rows[i].out,
            jb.len == strlen(rows[i].out) &&
                memcmp(jb.data, rows[i].out, jb.len) == 0);
    T_CHECK(bad, rows[i].out,
            wsp__json_validate(jb.data, jb.len, 0, NULL) == 0);
  }
  wsp__jbuf_free(&jb);
  assert_int_equal(bad, 0);
}

static void test_json_writer_numbers(void **state) {
  struct wsp__jbuf jb;
  static const char want[] =
      "0,18446744073709551615,-9223372036854775808,9223372036854775807,-1,"
      "10";
  (void)state;
  wsp__jbuf_init(&jb, NULL);
  wsp__jbuf_u64(&jb, 0);
  wsp__jbuf_raw(&jb, ",", 1);
  wsp__jbuf_u64(&jb, UINT64_MAX);
  wsp__jbuf_raw(&jb, ",", 1);
  wsp__jbuf_i64(&jb, INT64_MIN);
  wsp__jbuf_raw(&jb, ",", 1);
  wsp__jbuf_i64(&jb, INT64_MAX);
  wsp__jbuf_raw(&jb, ",", 1);
  wsp__jbuf_i64(&jb, -1);
  wsp__jbuf_raw(&jb, ",", 1);
  assert_int_equal(wsp__jbuf_i64(&jb, 10), 0);
  assert_int_equal(jb.len, sizeof(want) - 1);
  assert_memory_equal(jb.data, want, jb.len);
  wsp__jbuf_free(&jb);
  assert_null(jb.data);
  wsp__jbuf_free(&jb); /* twice is fine */
}

/* A message written with every call, as the codec would. */
static int write_message(struct wsp__jbuf *jb) {
  static const char big[] = "0123456789abcdef0123456789abcdef0123456789";
  int i;
  wsp__jbuf_raw(jb, "{\"id\":", 6);
  wsp__jbuf_u64(jb, 42);
  wsp__jbuf_raw(jb, ",\"n\":", 5);
  wsp__jbuf_i64(jb, -7);
  wsp__jbuf_raw(jb, ",\"s\":[", 6);
  for (i = 0; i < 20; i++) {
    if (i)
      wsp__jbuf_raw(jb, ",", 1);
    wsp__jbuf_str(jb, big, sizeof(big) - 1);
  }
  wsp__jbuf_raw(jb, "],\"data\":", 9);
  wsp__jbuf_raw_value(jb, "{\"x\":\n[1,2]\n}", 13);
  return wsp__jbuf_raw(jb, "}", 1);
}

static void test_json_writer_nomem(void **state) {
  struct tfail fa;
  struct wsp__jbuf jb;
  long at;
  int rc, done = 0;
  (void)state;
  /* the error is sticky: nothing is written after it */
  tfail_init(&fa, 1, 0);
  wsp__jbuf_init(&jb, &fa.mem);
  assert_int_equal(wsp__jbuf_raw(&jb, "ab", 2), WSP_ERR_NOMEM);
  assert_int_equal(wsp__jbuf_raw(&jb, "cd", 2), WSP_ERR_NOMEM);
  assert_int_equal(wsp__jbuf_str(&jb, "e", 1), WSP_ERR_NOMEM);
  assert_int_equal(wsp__jbuf_u64(&jb, 1), WSP_ERR_NOMEM);
  assert_int_equal(jb.len, 0);
  assert_int_equal(jb.err, WSP_ERR_NOMEM);
  /* reset clears it */
  wsp__jbuf_reset(&jb);
  assert_int_equal(wsp__jbuf_raw(&jb, "ab", 2), 0);
  assert_int_equal(jb.len, 2);
  wsp__jbuf_free(&jb);
  assert_int_equal(fa.live, 0);

  /* fail each allocation in turn */
  for (at = 1; at < 100 && !done; at++) {
    tfail_init(&fa, at, 0);
    wsp__jbuf_init(&jb, &fa.mem);
    rc = write_message(&jb);
    if (fa.failures == 0) {
      assert_int_equal(rc, 0);
      assert_int_equal(wsp__json_validate(jb.data, jb.len, DEPTH, NULL), 0);
      done = 1;
    } else {
      assert_int_equal(rc, WSP_ERR_NOMEM);
      assert_int_equal(jb.err, WSP_ERR_NOMEM);
    }
    wsp__jbuf_free(&jb);
    assert_int_equal(fa.live, 0);
    assert_int_equal(fa.bad_frees, 0);
  }
  assert_true(done);
  assert_true(at > 2); /* the message needed more than one allocation */

  /* a struct prepared by wsp__mem_init() */
  {
    struct wsp_mem m;
    struct tfail f2;
    tfail_init(&f2, 0, 0);
    wsp__mem_init(&m, &f2.mem);
    wsp__jbuf_init(&jb, &m);
    assert_int_equal(write_message(&jb), 0);
    assert_true(f2.calls > 0);
    wsp__jbuf_free(&jb);
    assert_int_equal(f2.live, 0);
  }
}

static void test_json_raw_value_newlines(void **state) {
  static const char in[] = "\r\n{\n  \"a\" : \"x\\ny\\r\",\r\n  \"b\": [1,\n2],"
                           "\n\t\"c\" :\n\"\\\\n\"\n}\r\n";
  static const char want[] = "{  \"a\" : \"x\\ny\\r\",  \"b\": [1,2],\t\"c\" :"
                             "\"\\\\n\"}";
  struct wsp__jbuf jb;
  struct wsp__json_val v;
  char out[16];
  size_t n;
  (void)state;
  assert_int_equal(wsp__json_validate(in, sizeof(in) - 1, DEPTH, NULL), 0);
  wsp__jbuf_init(&jb, NULL);
  assert_int_equal(wsp__jbuf_raw_value(&jb, in, sizeof(in) - 1), 0);
  assert_int_equal(jb.len, sizeof(want) - 1);
  assert_memory_equal(jb.data, want, jb.len);
  assert_null(memchr(jb.data, '\n', jb.len));
  assert_null(memchr(jb.data, '\r', jb.len));
  assert_int_equal(wsp__json_validate(jb.data, jb.len, DEPTH, NULL), 0);
  /* the escapes inside strings still decode to line breaks */
  assert_int_equal(wsp__json_find(jb.data, jb.len, "a", &v), 1);
  assert_int_equal(wsp__json_string_decode(&v, out, sizeof(out), &n), 0);
  assert_int_equal(n, 4);
  assert_memory_equal(out, "x\ny\r", 4);
  /* values without line breaks are copied as they are */
  wsp__jbuf_reset(&jb);
  wsp__jbuf_raw_value(&jb, "\"a\\nb\"", 6);
  wsp__jbuf_raw_value(&jb, "", 0);
  assert_int_equal(jb.len, 6);
  assert_memory_equal(jb.data, "\"a\\nb\"", 6);
  wsp__jbuf_free(&jb);
}

/* The scanner on text that was never validated: errors or garbage spans,
 * but every read stays within the bounds (checked by the sanitizers). */
static void test_json_scanner_unvalidated(void **state) {
  static const char *const texts[] = {"{",
                                      "{\"a",
                                      "{\"a\"",
                                      "{\"a\":",
                                      "{\"a\":\"b",
                                      "{\"a\":[1,2",
                                      "{\"a\":{",
                                      "{\"a\":tru",
                                      "{\"a\":1,",
                                      "{\"a\\\":1}",
                                      "[",
                                      "[\"",
                                      "[1,",
                                      "[{",
                                      "[\"\\\"]",
                                      "{\"a\" 1}",
                                      "{1:2}",
                                      "[,]",
                                      "{\"a\":1 x",
                                      "[1 2]",
                                      "{\"a\":]}",
                                      "[\"\\u12\"]",
                                      "{\"\\ud800\":1}"};
  struct wsp__json_val k, v;
  size_t i, pos, n;
  int rc, steps;
  char out[8];
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(texts); i++) {
    size_t len = strlen(texts[i]);
    char *copy = malloc(len ? len : 1); /* exact size for ASan */
    assert_non_null(copy);
    memcpy(copy, texts[i], len);
    pos = 0;
    steps = 0;
    while ((rc = wsp__json_object_next(copy, len, &pos, &k, &v)) == 1 &&
           steps++ < 10) {
      assert_true(pos <= len);
      wsp__json_key_is(&k, "a");
      wsp__json_string_decode(&k, out, sizeof(out), &n);
    }
    pos = 0;
    steps = 0;
    while ((rc = wsp__json_array_next(copy, len, &pos, &v)) == 1 &&
           steps++ < 10) {
      assert_true(pos <= len);
      wsp__json_string_decode(&v, out, sizeof(out), &n);
    }
    wsp__json_find(copy, len, "a", &v);
    free(copy);
  }
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : getenv("WSP_JSONTESTSUITE");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate(test_json_suite_y_accepted, (void *)dir),
      cmocka_unit_test_prestate(test_json_suite_n_rejected, (void *)dir),
      cmocka_unit_test_prestate(test_json_suite_i_no_crash, (void *)dir),
      cmocka_unit_test(test_json_numbers),
      cmocka_unit_test(test_json_literals),
      cmocka_unit_test(test_json_structure),
      cmocka_unit_test(test_json_escapes),
      cmocka_unit_test(test_json_surrogates),
      cmocka_unit_test(test_json_utf8),
      cmocka_unit_test(test_json_depth_limit),
      cmocka_unit_test(test_json_validate_arguments),
      cmocka_unit_test(test_json_object_iterate),
      cmocka_unit_test(test_json_array_iterate),
      cmocka_unit_test(test_json_escaped_keys),
      cmocka_unit_test(test_json_get_integers),
      cmocka_unit_test(test_json_string_decode),
      cmocka_unit_test(test_json_writer_roundtrip),
      cmocka_unit_test(test_json_writer_invalid_utf8),
      cmocka_unit_test(test_json_writer_numbers),
      cmocka_unit_test(test_json_writer_nomem),
      cmocka_unit_test(test_json_raw_value_newlines),
      cmocka_unit_test(test_json_scanner_unvalidated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
