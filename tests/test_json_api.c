/*
 * The public JSON helpers (wsp/json.h): the reader over the strict
 * scanner and the writer.
 *
 * The JSONTestSuite corpus (test_parsing/) is read from the directory
 * named by argv[1] or the WSP_JSONTESTSUITE environment variable: every
 * y_ file must parse, be walked to the end with the getters and written
 * back by the writer to a text that parses to the same structure; every
 * n_ file must be rejected.
 */
#include "helpers.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIT(s) s, sizeof(s) - 1

static struct wsp_json parse_ok(const char *text) {
  struct wsp_json v;
  assert_int_equal(wsp_json_parse(text, strlen(text), &v, NULL), 0);
  return v;
}

static void assert_data(const struct wsp_json_writer *w, const char *want) {
  size_t n = 1;
  const char *d = wsp_json_writer_data(w, &n);
  assert_non_null(d);
  if (n != strlen(want) || memcmp(d, want, n) != 0)
    fail_msg("writer gave %.*s, expected %s", (int)n, d, want);
}

/* ---- Structural copy and comparison (for the round trips) ------------ */

/* Write v with the writer, value by value, through the getters. */
static int copy_value(struct wsp_json_writer *w, const struct wsp_json *v) {
  struct wsp_json k, e;
  size_t pos = 0, n;
  char *s;
  int rc, b;
  int64_t i;
  uint64_t u;
  double d;
  switch (v->type) {
  case WSP_JSON_OBJECT:
    wsp_json_writer_begin_object(w);
    while ((rc = wsp_json_next(v, &pos, &k, &e)) == 1) {
      if (wsp_json_string(&k, NULL, 0, &n) < 0 && n > 0) {
        s = malloc(n + 1);
        assert_non_null(s);
        assert_int_equal(wsp_json_string(&k, s, n + 1, &n), 0);
      } else {
        s = NULL;
      }
      wsp_json_writer_key_len(w, s ? s : "", n);
      free(s);
      if (copy_value(w, &e) < 0)
        return -1;
    }
    if (rc != 0)
      return -1;
    return wsp_json_writer_end_object(w);
  case WSP_JSON_ARRAY:
    wsp_json_writer_begin_array(w);
    while ((rc = wsp_json_next(v, &pos, NULL, &e)) == 1)
      if (copy_value(w, &e) < 0)
        return -1;
    if (rc != 0)
      return -1;
    return wsp_json_writer_end_array(w);
  case WSP_JSON_STRING:
    rc = wsp_json_string(v, NULL, 0, &n);
    if (rc == 0)
      return wsp_json_writer_string_len(w, "", 0);
    s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(wsp_json_string(v, s, n + 1, &n), 0);
    rc = wsp_json_writer_string_len(w, s, n);
    free(s);
    return rc;
  case WSP_JSON_NUMBER:
    if (wsp_json_int64(v, &i) == 0)
      return wsp_json_writer_int64(w, i);
    if (wsp_json_uint64(v, &u) == 0)
      return wsp_json_writer_uint64(w, u);
    rc = wsp_json_double(v, &d);
    if (rc == WSP_ERR_LIMIT) /* too large for a double: keep the text */
      return wsp_json_writer_raw(w, v->ptr, v->len);
    return rc < 0 ? rc : wsp_json_writer_double(w, d);
  case WSP_JSON_TRUE:
  case WSP_JSON_FALSE:
    assert_int_equal(wsp_json_bool(v, &b), 0);
    return wsp_json_writer_bool(w, b);
  case WSP_JSON_NULL:
    assert_true(wsp_json_is_null(v));
    return wsp_json_writer_null(w);
  }
  return -1;
}

/* Non-zero when a and b hold the same structure: same types, members
 * in the same order with equal decoded keys, equal decoded strings,
 * numbers equal as doubles. */
static int same_value(const struct wsp_json *a, const struct wsp_json *b) {
  struct wsp_json ka, va, kb, vb;
  size_t pa = 0, pb = 0, na, nb;
  double da, db;
  int ra, rb;
  if (a->type != b->type)
    return 0;
  switch (a->type) {
  case WSP_JSON_OBJECT:
  case WSP_JSON_ARRAY:
    for (;;) {
      ra = wsp_json_next(a, &pa, &ka, &va);
      rb = wsp_json_next(b, &pb, &kb, &vb);
      if (ra != rb)
        return 0;
      if (ra != 1)
        return ra == 0;
      if (a->type == WSP_JSON_OBJECT && !same_value(&ka, &kb))
        return 0;
      if (!same_value(&va, &vb))
        return 0;
    }
  case WSP_JSON_STRING: {
    char *sa, *sb;
    int eq;
    wsp_json_string(a, NULL, 0, &na);
    wsp_json_string(b, NULL, 0, &nb);
    if (na != nb)
      return 0;
    sa = malloc(na + 1);
    sb = malloc(nb + 1);
    assert_true(sa && sb);
    eq = wsp_json_string(a, sa, na + 1, NULL) == 0 &&
         wsp_json_string(b, sb, nb + 1, NULL) == 0 && memcmp(sa, sb, na) == 0;
    free(sa);
    free(sb);
    return eq;
  }
  case WSP_JSON_NUMBER:
    ra = wsp_json_double(a, &da);
    rb = wsp_json_double(b, &db);
    if (ra == WSP_ERR_LIMIT)
      return rb == WSP_ERR_LIMIT;
    return ra == 0 && rb == 0 && da == db;
  default:
    return 1;
  }
}

/* ---- JSONTestSuite ---------------------------------------------------- */

/* One corpus file: n_ files are refused with an offset inside them,
 * others parse and come back the same through the writer. */
static int suite_file(const char *name, const char *text, size_t len,
                      void *ud) {
  struct wsp_json v, back;
  struct wsp_json_writer *w;
  size_t off = (size_t)-1, n;
  const char *out;
  int bad = 0, rc = wsp_json_parse(text, len, &v, &off);
  if (*(const char *)ud == 'n') {
    T_CHECK(bad, name, rc == WSP_ERR_JSON && off <= len);
    T_CHECK(bad, name, v.type == 0 && v.ptr == NULL);
    return bad;
  }
  T_CHECK(bad, name, rc == 0);
  w = wsp_json_writer_new(NULL);
  assert_non_null(w);
  if (rc == 0) {
    T_CHECK(bad, name, copy_value(w, &v) == 0);
    out = wsp_json_writer_data(w, &n);
    T_CHECK(bad, name, out != NULL);
    if (out) {
      T_CHECK(bad, name, wsp_json_parse(out, n, &back, NULL) == 0);
      T_CHECK(bad, name, same_value(&v, &back));
    }
  }
  wsp_json_writer_free(w);
  return bad;
}

static void run_suite(const char *dir, char kind) {
  t_corpus_each(dir, kind, suite_file, &kind);
}

static void test_json_api_suite_y_parsed(void **state) {
  run_suite(*state, 'y');
}

static void test_json_api_suite_n_rejected(void **state) {
  run_suite(*state, 'n');
}

/* ---- Reader ----------------------------------------------------------- */

static void test_json_api_parse(void **state) {
  struct wsp_json v;
  size_t off = 99;
  (void)state;
  assert_int_equal(wsp_json_parse(LIT(" \t[1, 2]\r\n"), &v, NULL), 0);
  assert_int_equal(v.type, WSP_JSON_ARRAY);
  assert_int_equal(v.len, 6);
  assert_memory_equal(v.ptr, "[1, 2]", 6);

  v = parse_ok("\"x\"");
  assert_int_equal(v.type, WSP_JSON_STRING);
  assert_int_equal(v.len, 3);
  assert_int_equal(parse_ok("{}").type, WSP_JSON_OBJECT);
  assert_int_equal(parse_ok("-1.5e3").type, WSP_JSON_NUMBER);
  assert_int_equal(parse_ok("true").type, WSP_JSON_TRUE);
  assert_int_equal(parse_ok("false").type, WSP_JSON_FALSE);
  assert_int_equal(parse_ok("null").type, WSP_JSON_NULL);

  /* the error offset: the first byte that cannot continue */
  assert_int_equal(wsp_json_parse(LIT("[1,]"), &v, &off), WSP_ERR_JSON);
  assert_int_equal(off, 3);
  assert_int_equal(v.type, 0);
  assert_null(v.ptr);
  assert_int_equal(wsp_json_parse(LIT("[1"), &v, &off), WSP_ERR_JSON);
  assert_int_equal(off, 2);
  assert_int_equal(wsp_json_parse(LIT("01"), &v, &off), WSP_ERR_JSON);
  assert_int_equal(off, 1);
  assert_int_equal(wsp_json_parse(LIT("1 2"), &v, NULL), WSP_ERR_JSON);
  assert_int_equal(wsp_json_parse("", 0, &v, &off), WSP_ERR_JSON);
  assert_int_equal(off, 0);
  assert_int_equal(wsp_json_parse(NULL, 0, &v, NULL), WSP_ERR_JSON);
  assert_int_equal(wsp_json_parse(LIT("\"a\0\""), &v, NULL), WSP_ERR_JSON);
  assert_int_equal(wsp_json_parse(LIT("\"\xc0\x80\""), &v, NULL), WSP_ERR_JSON);

  assert_int_equal(wsp_json_parse(NULL, 1, &v, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_parse(LIT("1"), NULL, NULL), WSP_ERR_INVAL);
}

static void test_json_api_parse_depth(void **state) {
  char *s = malloc(2 * WSP_JSON_MAX_DEPTH + 2);
  struct wsp_json v;
  size_t off = 0, i;
  (void)state;
  assert_non_null(s);
  for (i = 0; i < WSP_JSON_MAX_DEPTH; i++) {
    s[i] = '[';
    s[WSP_JSON_MAX_DEPTH + i] = ']';
  }
  assert_int_equal(wsp_json_parse(s, 2 * WSP_JSON_MAX_DEPTH, &v, NULL), 0);
  memmove(s + 1, s, 2 * WSP_JSON_MAX_DEPTH);
  s[2 * WSP_JSON_MAX_DEPTH + 1] = ']';
  assert_int_equal(wsp_json_parse(s, 2 * WSP_JSON_MAX_DEPTH + 2, &v, &off),
                   WSP_ERR_JSON);
  assert_int_equal(off, WSP_JSON_MAX_DEPTH);
  free(s);
}

static void test_json_api_get(void **state) {
  struct wsp_json o = parse_ok("{\"a\":1, \"b\" : [true], \"\\u0063\":\"x\","
                               "\"a\":2}");
  struct wsp_json v, arr = parse_ok("[1]");
  int64_t i;
  (void)state;
  assert_int_equal(wsp_json_get(&o, "a", &v), 1);
  assert_int_equal(wsp_json_int64(&v, &i), 0);
  assert_int_equal(i, 1); /* the first of duplicate names */
  assert_int_equal(wsp_json_get(&o, "b", &v), 1);
  assert_int_equal(v.type, WSP_JSON_ARRAY);
  assert_int_equal(v.len, 6);
  assert_int_equal(wsp_json_get(&o, "c", &v), 1); /* escapes decoded */
  assert_true(wsp_json_string_eq(&v, "x"));
  assert_int_equal(wsp_json_get(&o, "z", &v), 0);
  assert_int_equal(wsp_json_get(&o, "", &v), 0);
  assert_int_equal(wsp_json_get(&arr, "a", &v), WSP_ERR_JSON);
  assert_int_equal(wsp_json_get(NULL, "a", &v), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_get(&o, NULL, &v), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_get(&o, "a", NULL), WSP_ERR_INVAL);
}

static void test_json_api_at(void **state) {
  struct wsp_json a = parse_ok("[10, \"x\", {\"k\":[]}, null]");
  struct wsp_json o = parse_ok("{}"), e = parse_ok("[]"), v;
  int64_t i;
  (void)state;
  assert_int_equal(wsp_json_at(&a, 0, &v), 1);
  assert_int_equal(wsp_json_int64(&v, &i), 0);
  assert_int_equal(i, 10);
  assert_int_equal(wsp_json_at(&a, 2, &v), 1);
  assert_int_equal(v.type, WSP_JSON_OBJECT);
  assert_int_equal(v.len, 8);
  assert_int_equal(wsp_json_at(&a, 3, &v), 1);
  assert_true(wsp_json_is_null(&v));
  assert_int_equal(wsp_json_at(&a, 4, &v), 0);
  assert_int_equal(wsp_json_at(&a, (size_t)-1, &v), 0);
  assert_int_equal(wsp_json_at(&e, 0, &v), 0);
  assert_int_equal(wsp_json_at(&o, 0, &v), WSP_ERR_JSON);
  assert_int_equal(wsp_json_at(NULL, 0, &v), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_at(&a, 0, NULL), WSP_ERR_INVAL);
}

static void test_json_api_next_count(void **state) {
  struct wsp_json o = parse_ok("{ \"a\" : 1 , \"b\":{\"c\":2} }");
  struct wsp_json a = parse_ok("[ 1 , [2, 3] , \"]\" ]");
  struct wsp_json s = parse_ok("\"s\""), k, v;
  size_t pos = 0, n = 99;
  (void)state;
  assert_int_equal(wsp_json_next(&o, &pos, &k, &v), 1);
  assert_true(wsp_json_string_eq(&k, "a"));
  assert_memory_equal(v.ptr, "1", v.len);
  assert_int_equal(wsp_json_next(&o, &pos, &k, &v), 1);
  assert_true(wsp_json_string_eq(&k, "b"));
  assert_int_equal(v.type, WSP_JSON_OBJECT);
  assert_int_equal(wsp_json_next(&o, &pos, &k, &v), 0);
  assert_int_equal(wsp_json_next(&o, &pos, &k, &v), 0); /* and stays so */

  pos = 0;
  k.type = WSP_JSON_STRING;
  assert_int_equal(wsp_json_next(&a, &pos, &k, &v), 1);
  assert_int_equal(k.type, 0); /* arrays have no keys */
  assert_null(k.ptr);
  assert_int_equal(wsp_json_next(&a, &pos, NULL, &v), 1);
  assert_int_equal(v.len, 6);
  assert_int_equal(wsp_json_next(&a, &pos, NULL, &v), 1);
  assert_true(wsp_json_string_eq(&v, "]"));
  assert_int_equal(wsp_json_next(&a, &pos, NULL, &v), 0);

  assert_int_equal(wsp_json_count(&o, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(wsp_json_count(&a, &n), 0);
  assert_int_equal(n, 3);
  v = parse_ok(" [ ] ");
  assert_int_equal(wsp_json_count(&v, &n), 0);
  assert_int_equal(n, 0);
  n = 7;
  assert_int_equal(wsp_json_count(&s, &n), WSP_ERR_JSON);
  assert_int_equal(n, 7);

  pos = 0;
  assert_int_equal(wsp_json_next(&s, &pos, &k, &v), WSP_ERR_JSON);
  assert_int_equal(wsp_json_next(NULL, &pos, &k, &v), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_next(&a, NULL, &k, &v), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_next(&a, &pos, &k, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_count(NULL, &n), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_count(&a, NULL), WSP_ERR_INVAL);
  pos = a.len + 1; /* a position the iterator never gives */
  assert_int_equal(wsp_json_next(&a, &pos, NULL, &v), WSP_ERR_JSON);
}

static void test_json_api_integers(void **state) {
  static const struct {
    const char *text;
    int rc_i, rc_u;
    int64_t i;
    uint64_t u;
  } rows[] = {
      {"0", 0, 0, 0, 0},
      {"-0", 0, 0, 0, 0},
      {"42", 0, 0, 42, 42},
      {"-42", 0, WSP_ERR_LIMIT, -42, 0},
      {"9223372036854775807", 0, 0, INT64_MAX, INT64_MAX},
      {"9223372036854775808", WSP_ERR_LIMIT, 0, 0, (uint64_t)INT64_MAX + 1},
      {"-9223372036854775808", 0, WSP_ERR_LIMIT, INT64_MIN, 0},
      {"-9223372036854775809", WSP_ERR_LIMIT, WSP_ERR_LIMIT, 0, 0},
      {"18446744073709551615", WSP_ERR_LIMIT, 0, 0, UINT64_MAX},
      {"18446744073709551616", WSP_ERR_LIMIT, WSP_ERR_LIMIT, 0, 0},
      {"1.0", WSP_ERR_JSON, WSP_ERR_JSON, 0, 0},
      {"1e2", WSP_ERR_JSON, WSP_ERR_JSON, 0, 0},
      {"\"1\"", WSP_ERR_JSON, WSP_ERR_JSON, 0, 0},
      {"true", WSP_ERR_JSON, WSP_ERR_JSON, 0, 0},
  };
  size_t r;
  int bad = 0;
  (void)state;
  for (r = 0; r < T_ARRAY_LEN(rows); r++) {
    struct wsp_json v = parse_ok(rows[r].text);
    int64_t i = 0;
    uint64_t u = 0;
    int rc = wsp_json_int64(&v, &i);
    T_CHECK(bad, rows[r].text, rc == rows[r].rc_i);
    T_CHECK(bad, rows[r].text, rc != 0 || i == rows[r].i);
    rc = wsp_json_uint64(&v, &u);
    T_CHECK(bad, rows[r].text, rc == rows[r].rc_u);
    T_CHECK(bad, rows[r].text, rc != 0 || u == rows[r].u);
  }
  assert_int_equal(bad, 0);
  {
    struct wsp_json v = parse_ok("1");
    int64_t i;
    uint64_t u;
    assert_int_equal(wsp_json_int64(NULL, &i), WSP_ERR_INVAL);
    assert_int_equal(wsp_json_int64(&v, NULL), WSP_ERR_INVAL);
    assert_int_equal(wsp_json_uint64(NULL, &u), WSP_ERR_INVAL);
    assert_int_equal(wsp_json_uint64(&v, NULL), WSP_ERR_INVAL);
  }
}

static void test_json_api_double(void **state) {
  static const struct {
    const char *text;
    int rc;
    double d;
  } rows[] = {
      {"0", 0, 0.0},
      {"-0.0", 0, -0.0},
      {"1.5", 0, 1.5},
      {"-12.25e1", 0, -122.5},
      {"0.1", 0, 0.1},
      {"1E-2", 0, 0.01},
      {"1e+2", 0, 100.0},
      {"0.000001", 0, 1e-6},
      {"123456789012345678901234567890", 0, 1.2345678901234568e29},
      {"1.7976931348623157e308", 0, 1.7976931348623157e308},
      {"4.9406564584124654e-324", 0, 4.9406564584124654e-324},
      {"2.2250738585072011e-308", 0, 2.2250738585072011e-308},
      {"1e-400", 0, 0.0},
      {"1e99999999999999999999", WSP_ERR_LIMIT, 0},
      {"-1.8e308", WSP_ERR_LIMIT, 0},
      {"1e-99999999999999999999", 0, 0.0},
      {"\"1\"", WSP_ERR_JSON, 0},
      {"null", WSP_ERR_JSON, 0},
  };
  size_t r;
  int bad = 0;
  (void)state;
  for (r = 0; r < T_ARRAY_LEN(rows); r++) {
    struct wsp_json v = parse_ok(rows[r].text);
    double d = 42;
    int rc = wsp_json_double(&v, &d);
    T_CHECK(bad, rows[r].text, rc == rows[r].rc);
    T_CHECK(bad, rows[r].text,
            rc != 0 || (d == rows[r].d && !signbit(d) == !signbit(rows[r].d)));
  }
  assert_int_equal(bad, 0);
}

/* Numbers with more digits than a double needs, where only the last,
 * far-away digits decide how to round: 2^-1074 / 2 plus a tiny bit rounds
 * up to the smallest subnormal, exactly half rounds to even (0). */
static void test_json_api_double_long(void **state) {
  /* 2^-1075, half the smallest subnormal, with all its digits */
  static const char half[] =
      "2.47032822920623272088284396434110686182529901307162382212792841250337"
      "7536351043759326499181808179961898982823477228588654633283551779698981"
      "9938739800539093906315035659515570226392290858392449105184435931802849"
      "9365361525003193704576782492193656236698636584807570015857692699037063"
      "1192827955855133292783433840935197801553124659726357957462276646527282"
      "7220056374006485499977096599470454020828166226237857393450736339007967"
      "7619305775067401763246736009689513405355374585166611342237666786041621"
      "5968046191446729184030053005753084904876539171138659164623952491262365"
      "3881879636239373280423891018672348497668235089863388587925628302755995"
      "6575244555072551893136908362547791869486679949683240497058210285131854"
      "51396213837722826145437693412532098591327667236328125"
      "e-324";
  char *above = malloc(sizeof(half) + 2000);
  struct wsp_json v;
  double d = 1;
  char *e;
  (void)state;
  assert_non_null(above);
  /* exactly half: ties to even, which is 0 */
  assert_int_equal(wsp_json_parse(LIT(half), &v, NULL), 0);
  assert_int_equal(wsp_json_double(&v, &d), 0);
  assert_true(d == 0.0);
  /* a 1 far beyond the 800th digit tips it to the subnormal */
  e = strstr(half, "e-324");
  memcpy(above, half, (size_t)(e - half));
  memset(above + (e - half), '0', 1500);
  memcpy(above + (e - half) + 1500, "1e-324", 7);
  assert_int_equal(wsp_json_parse(above, strlen(above), &v, NULL), 0);
  assert_int_equal(wsp_json_double(&v, &d), 0);
  assert_true(d == 4.9406564584124654e-324);
  free(above);

  /* many leading zeros in the fraction do not count as digits */
  above = malloc(4000);
  assert_non_null(above);
  memcpy(above, "0.", 2);
  memset(above + 2, '0', 3000);
  memcpy(above + 3002, "15e3000", 8);
  assert_int_equal(wsp_json_parse(above, strlen(above), &v, NULL), 0);
  assert_int_equal(wsp_json_double(&v, &d), 0);
  assert_true(d == 0.15);
  free(above);
  assert_int_equal(wsp_json_double(NULL, &d), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_double(&v, NULL), WSP_ERR_INVAL);
}

/* Set a locale whose decimal point is a comma, if the system has one. */
static int comma_locale(void) {
  static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                                "fr_FR.utf8",  "ru_RU.UTF-8", "nl_NL.UTF-8"};
  size_t i;
  for (i = 0; i < T_ARRAY_LEN(names); i++)
    if (setlocale(LC_NUMERIC, names[i]) &&
        strcmp(localeconv()->decimal_point, ",") == 0)
      return 1;
  setlocale(LC_NUMERIC, "C");
  return 0;
}

static void test_json_api_double_locale(void **state) {
  struct wsp_json_writer *w;
  struct wsp_json v = parse_ok("1.5");
  double d = 0;
  (void)state;
  if (!comma_locale()) {
    print_message("no locale with a decimal comma installed: "
                  "checked in the C locale only\n");
  }
  assert_int_equal(wsp_json_double(&v, &d), 0);
  assert_true(d == 1.5);
  w = wsp_json_writer_new(NULL);
  assert_non_null(w);
  wsp_json_writer_double(w, 2.25);
  assert_data(w, "2.25");
  wsp_json_writer_free(w);
  setlocale(LC_NUMERIC, "C");
}

static void test_json_api_bool_null(void **state) {
  struct wsp_json t = parse_ok("true"), f = parse_ok("false");
  struct wsp_json n = parse_ok("null"), z = parse_ok("0");
  int b = 7;
  (void)state;
  assert_int_equal(wsp_json_bool(&t, &b), 0);
  assert_int_equal(b, 1);
  assert_int_equal(wsp_json_bool(&f, &b), 0);
  assert_int_equal(b, 0);
  assert_int_equal(wsp_json_bool(&n, &b), WSP_ERR_JSON);
  assert_int_equal(wsp_json_bool(&z, &b), WSP_ERR_JSON);
  assert_int_equal(wsp_json_bool(NULL, &b), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_bool(&t, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_is_null(&n), 1);
  assert_int_equal(wsp_json_is_null(&f), 0);
  assert_int_equal(wsp_json_is_null(NULL), 0);
}

static void test_json_api_string(void **state) {
  struct wsp_json v = parse_ok("\"a\\u00e9\\n\\ud83d\\ude00\\u0000z\"");
  struct wsp_json n = parse_ok("1"), e = parse_ok("\"\"");
  char buf[32];
  size_t len = 0;
  (void)state;
  assert_int_equal(wsp_json_string(&v, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 10);
  assert_memory_equal(buf, "a\xc3\xa9\n\xf0\x9f\x98\x80\0z", 11);
  /* too small: the length needed, nothing promised in buf */
  len = 0;
  assert_int_equal(wsp_json_string(&v, buf, 9, &len), WSP_ERR_LIMIT);
  assert_int_equal(len, 10);
  assert_int_equal(wsp_json_string(&v, NULL, 0, &len), WSP_ERR_LIMIT);
  assert_int_equal(len, 10);
  /* exactly the length: no room for the NUL, none written */
  buf[10] = 'X';
  assert_int_equal(wsp_json_string(&v, buf, 10, NULL), 0);
  assert_int_equal(buf[10], 'X');
  assert_int_equal(wsp_json_string(&e, NULL, 0, &len), 0);
  assert_int_equal(len, 0);
  assert_int_equal(wsp_json_string(&n, buf, sizeof(buf), &len), WSP_ERR_JSON);
  assert_int_equal(wsp_json_string(NULL, buf, sizeof(buf), &len),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_json_string(&v, NULL, 5, &len), WSP_ERR_INVAL);

  v = parse_ok("\"caf\\u00e9\"");
  assert_int_equal(wsp_json_string_eq(&v, "caf\xc3\xa9"), 1);
  assert_int_equal(wsp_json_string_eq(&v, "caf"), 0);
  assert_int_equal(wsp_json_string_eq(&v, "caf\xc3\xa9!"), 0);
  assert_int_equal(wsp_json_string_eq(&e, ""), 1);
  assert_int_equal(wsp_json_string_eq(&n, "1"), 0);
  assert_int_equal(wsp_json_string_eq(NULL, "x"), 0);
  assert_int_equal(wsp_json_string_eq(&v, NULL), 0);
}

/* ---- Writer ----------------------------------------------------------- */

static void test_json_api_writer_values(void **state) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  size_t n = 5;
  (void)state;
  assert_non_null(w);
  assert_null(wsp_json_writer_data(w, &n)); /* nothing written yet */
  assert_int_equal(n, 0);
  assert_int_equal(wsp_json_writer_begin_object(w), 0);
  assert_int_equal(wsp_json_writer_key(w, "s"), 0);
  assert_int_equal(wsp_json_writer_string(w, "a\"b\n\xe2\x80\xa8"), 0);
  assert_int_equal(wsp_json_writer_key_len(w, LIT("k\0")), 0);
  assert_int_equal(wsp_json_writer_string_len(w, LIT("\0x")), 0);
  assert_int_equal(wsp_json_writer_key(w, "i"), 0);
  assert_int_equal(wsp_json_writer_int64(w, INT64_MIN), 0);
  assert_int_equal(wsp_json_writer_key(w, "u"), 0);
  assert_int_equal(wsp_json_writer_uint64(w, UINT64_MAX), 0);
  assert_int_equal(wsp_json_writer_key(w, "d"), 0);
  assert_int_equal(wsp_json_writer_double(w, 0.1), 0);
  assert_int_equal(wsp_json_writer_key(w, "a"), 0);
  assert_int_equal(wsp_json_writer_begin_array(w), 0);
  assert_int_equal(wsp_json_writer_bool(w, 1), 0);
  assert_int_equal(wsp_json_writer_bool(w, 0), 0);
  assert_int_equal(wsp_json_writer_null(w), 0);
  assert_int_equal(wsp_json_writer_begin_object(w), 0);
  assert_int_equal(wsp_json_writer_end_object(w), 0);
  assert_int_equal(wsp_json_writer_begin_array(w), 0);
  assert_int_equal(wsp_json_writer_end_array(w), 0);
  assert_int_equal(wsp_json_writer_raw(w, LIT("{\r\n\"x\" :\n[1]}")), 0);
  assert_int_equal(wsp_json_writer_end_array(w), 0);
  assert_null(wsp_json_writer_data(w, NULL)); /* the object is open */
  assert_int_equal(wsp_json_writer_end_object(w), 0);
  assert_int_equal(wsp_json_writer_error(w), 0);
  assert_data(w, "{\"s\":\"a\\\"b\\n\\u2028\",\"k\\u0000\":\"\\u0000x\","
                 "\"i\":-9223372036854775808,\"u\":18446744073709551615,"
                 "\"d\":0.1,\"a\":[true,false,null,{},[],{\"x\" :[1]}]}");

  /* a scalar alone is a complete value; reset starts over */
  wsp_json_writer_reset(w);
  assert_null(wsp_json_writer_data(w, NULL));
  assert_int_equal(wsp_json_writer_string(w, ""), 0);
  assert_data(w, "\"\"");
  wsp_json_writer_reset(w);
  assert_int_equal(wsp_json_writer_key_len(w, NULL, 0), WSP_ERR_STATE);
  wsp_json_writer_reset(w);
  assert_int_equal(wsp_json_writer_begin_object(w), 0);
  assert_int_equal(wsp_json_writer_key_len(w, NULL, 0), 0);
  assert_int_equal(wsp_json_writer_string_len(w, NULL, 0), 0);
  assert_int_equal(wsp_json_writer_end_object(w), 0);
  assert_data(w, "{\"\":\"\"}");
  wsp_json_writer_free(w);
  wsp_json_writer_free(NULL);
}

static void test_json_api_writer_double(void **state) {
  static const struct {
    double d;
    const char *text;
  } rows[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {1.0, "1"},
      {-2.5, "-2.5"},
      {0.1, "0.1"},
      {1.0 / 3, "0.3333333333333333"},
      {123456789.0, "123456789"},
      {1e20, "100000000000000000000"},
      {1e21, "1e+21"},
      {1.5e300, "1.5e+300"},
      {1e-6, "0.000001"},
      {1.25e-7, "0.000000125"},
      {1e-8, "1e-8"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {9007199254740993.0, "9007199254740992"},
      {0.30000000000000004, "0.30000000000000004"},
  };
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  size_t r;
  int bad = 0;
  (void)state;
  assert_non_null(w);
  for (r = 0; r < T_ARRAY_LEN(rows); r++) {
    struct wsp_json v;
    const char *out;
    size_t n;
    double back;
    wsp_json_writer_reset(w);
    T_CHECK(bad, rows[r].text, wsp_json_writer_double(w, rows[r].d) == 0);
    out = wsp_json_writer_data(w, &n);
    if (!out || n != strlen(rows[r].text) || memcmp(out, rows[r].text, n))
      print_error("%s: got %.*s\n", rows[r].text, (int)n, out ? out : "");
    T_CHECK(bad, rows[r].text,
            out && n == strlen(rows[r].text) && !memcmp(out, rows[r].text, n));
    T_CHECK(bad, rows[r].text,
            out && wsp_json_parse(out, n, &v, NULL) == 0 &&
                wsp_json_double(&v, &back) == 0 && back == rows[r].d);
  }
  assert_int_equal(bad, 0);
  wsp_json_writer_reset(w);
  assert_int_equal(wsp_json_writer_double(w, NAN), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_null(w), WSP_ERR_INVAL); /* sticky */
  wsp_json_writer_reset(w);
  assert_int_equal(wsp_json_writer_double(w, -INFINITY), WSP_ERR_INVAL);
  wsp_json_writer_free(w);
}

/* Many doubles, each written and read back to the same bits. */
static void test_json_api_writer_double_roundtrip(void **state) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  uint64_t x = 0x9e3779b97f4a7c15u;
  int i, bad = 0;
  (void)state;
  assert_non_null(w);
  for (i = 0; i < 20000; i++) {
    struct wsp_json v;
    const char *out;
    double d, back = 0;
    size_t n;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(&d, &x, sizeof(d));
    if (!isfinite(d))
      continue;
    wsp_json_writer_reset(w);
    assert_int_equal(wsp_json_writer_double(w, d), 0);
    out = wsp_json_writer_data(w, &n);
    assert_non_null(out);
    assert_true(n <= 26); /* -0.000000 and 17 digits */
    T_CHECK(bad, "double",
            wsp_json_parse(out, n, &v, NULL) == 0 &&
                wsp_json_double(&v, &back) == 0 &&
                memcmp(&back, &d, sizeof(d)) == 0);
  }
  assert_int_equal(bad, 0);
  wsp_json_writer_free(w);
}

static void test_json_api_writer_state(void **state) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  (void)state;
  assert_non_null(w);
#define STARTS_OVER() wsp_json_writer_reset(w)
  /* mismatched ends */
  wsp_json_writer_begin_array(w);
  assert_int_equal(wsp_json_writer_end_object(w), WSP_ERR_STATE);
  assert_int_equal(wsp_json_writer_end_array(w), WSP_ERR_STATE); /* sticky */
  assert_int_equal(wsp_json_writer_error(w), WSP_ERR_STATE);
  assert_null(wsp_json_writer_data(w, NULL));
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_error(w), 0);
  wsp_json_writer_begin_object(w);
  assert_int_equal(wsp_json_writer_end_array(w), WSP_ERR_STATE);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_end_array(w), WSP_ERR_STATE);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_end_object(w), WSP_ERR_STATE);
  /* a value where a key is due, a key where a value is due */
  STARTS_OVER();
  wsp_json_writer_begin_object(w);
  assert_int_equal(wsp_json_writer_int64(w, 1), WSP_ERR_STATE);
  STARTS_OVER();
  wsp_json_writer_begin_object(w);
  wsp_json_writer_key(w, "a");
  assert_int_equal(wsp_json_writer_key(w, "b"), WSP_ERR_STATE);
  STARTS_OVER();
  wsp_json_writer_begin_object(w);
  wsp_json_writer_key(w, "a");
  assert_int_equal(wsp_json_writer_end_object(w), WSP_ERR_STATE);
  STARTS_OVER();
  wsp_json_writer_begin_array(w);
  assert_int_equal(wsp_json_writer_key(w, "a"), WSP_ERR_STATE);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_key(w, "a"), WSP_ERR_STATE);
  /* a second top-level value */
  STARTS_OVER();
  wsp_json_writer_int64(w, 1);
  assert_int_equal(wsp_json_writer_int64(w, 2), WSP_ERR_STATE);
  STARTS_OVER();
  wsp_json_writer_begin_array(w);
  wsp_json_writer_end_array(w);
  assert_int_equal(wsp_json_writer_begin_array(w), WSP_ERR_STATE);
  /* bad arguments */
  STARTS_OVER();
  wsp_json_writer_begin_object(w);
  assert_int_equal(wsp_json_writer_key(w, NULL), WSP_ERR_INVAL);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_string(w, NULL), WSP_ERR_INVAL);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_string_len(w, NULL, 1), WSP_ERR_INVAL);
  STARTS_OVER();
  wsp_json_writer_begin_object(w);
  assert_int_equal(wsp_json_writer_key_len(w, NULL, 1), WSP_ERR_INVAL);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_raw(w, NULL, 1), WSP_ERR_INVAL);
  /* invalid raw text */
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_raw(w, LIT("[1,]")), WSP_ERR_JSON);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_raw(w, NULL, 0), WSP_ERR_JSON);
  STARTS_OVER();
  assert_int_equal(wsp_json_writer_raw(w, LIT("1 2")), WSP_ERR_JSON);
  STARTS_OVER();
  wsp_json_writer_raw(w, LIT(" 7 "));
  assert_data(w, " 7 ");
#undef STARTS_OVER
  wsp_json_writer_free(w);

  /* NULL writers */
  assert_null(wsp_json_writer_data(NULL, NULL));
  assert_int_equal(wsp_json_writer_error(NULL), WSP_ERR_INVAL);
  wsp_json_writer_reset(NULL);
  assert_int_equal(wsp_json_writer_begin_object(NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_end_object(NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_begin_array(NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_end_array(NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_key(NULL, "a"), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_key_len(NULL, "a", 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_string(NULL, "a"), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_string_len(NULL, "a", 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_int64(NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_uint64(NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_double(NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_bool(NULL, 1), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_null(NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_json_writer_raw(NULL, "1", 1), WSP_ERR_INVAL);
}

static void test_json_api_writer_depth(void **state) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  struct wsp_json v;
  const char *out;
  size_t n;
  int i;
  (void)state;
  assert_non_null(w);
  for (i = 0; i < WSP_JSON_MAX_DEPTH; i++)
    assert_int_equal(wsp_json_writer_begin_array(w), 0);
  assert_int_equal(wsp_json_writer_begin_object(w), WSP_ERR_LIMIT);
  wsp_json_writer_reset(w);
  for (i = 0; i < WSP_JSON_MAX_DEPTH; i++)
    assert_int_equal(
        i % 2 ? wsp_json_writer_begin_array(w)
              : (wsp_json_writer_begin_object(w), wsp_json_writer_key(w, "k")),
        0);
  for (i = WSP_JSON_MAX_DEPTH - 1; i >= 0; i--)
    assert_int_equal(i % 2 ? wsp_json_writer_end_array(w)
                           : wsp_json_writer_end_object(w),
                     0);
  out = wsp_json_writer_data(w, &n);
  assert_non_null(out);
  assert_int_equal(wsp_json_parse(out, n, &v, NULL), 0);
  /* raw text counts its own nesting on top of the writer's */
  wsp_json_writer_reset(w);
  for (i = 0; i < WSP_JSON_MAX_DEPTH - 1; i++)
    wsp_json_writer_begin_array(w);
  assert_int_equal(wsp_json_writer_raw(w, LIT("[1]")), 0);
  assert_int_equal(wsp_json_writer_raw(w, LIT("[[1]]")), WSP_ERR_JSON);
  wsp_json_writer_free(w);
}

/* Every allocation failing in turn: the error is WSP_ERR_NOMEM and
 * sticky, nothing leaks, and without failures the output is right. */
static void test_json_api_writer_nomem(void **state) {
  long fail_at;
  int failed_once = 0;
  (void)state;
  for (fail_at = 1; fail_at < 100; fail_at++) {
    struct tfail f;
    struct wsp_json_writer *w;
    int i, rc = 0;
    tfail_init(&f, fail_at, 0);
    w = wsp_json_writer_new(&f.mem);
    if (!w) {
      assert_int_equal(f.failures, 1);
      assert_int_equal(f.live, 0);
      failed_once = 1;
      continue;
    }
    wsp_json_writer_begin_array(w);
    for (i = 0; i < 200; i++) {
      wsp_json_writer_begin_object(w);
      wsp_json_writer_key(w, "name");
      wsp_json_writer_string(w, "value with some length");
      wsp_json_writer_key(w, "n");
      wsp_json_writer_double(w, i / 7.0);
      wsp_json_writer_end_object(w);
    }
    rc = wsp_json_writer_end_array(w);
    if (f.failures) {
      assert_int_equal(rc, WSP_ERR_NOMEM);
      assert_int_equal(wsp_json_writer_error(w), WSP_ERR_NOMEM);
      assert_null(wsp_json_writer_data(w, NULL));
      /* a reset clears the error; the allocator no longer fails */
      wsp_json_writer_reset(w);
      assert_int_equal(wsp_json_writer_raw(w, LIT("[1]")), 0);
      assert_data(w, "[1]");
    } else {
      struct wsp_json v;
      size_t n, count;
      const char *out = wsp_json_writer_data(w, &n);
      assert_int_equal(rc, 0);
      assert_non_null(out);
      assert_int_equal(wsp_json_parse(out, n, &v, NULL), 0);
      assert_int_equal(wsp_json_count(&v, &count), 0);
      assert_int_equal(count, 200);
      wsp_json_writer_free(w);
      assert_int_equal(f.live, 0);
      break;
    }
    wsp_json_writer_free(w);
    assert_int_equal(f.live, 0);
    assert_int_equal(f.bad_frees, 0);
  }
  assert_true(failed_once);
  assert_true(fail_at > 3); /* the buffer grew several times */
  assert_true(fail_at < 100);
}

/* Writer to parser: what is written reads back through the getters. */
static void test_json_api_roundtrip(void **state) {
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  struct wsp_json top, v, e;
  const char *out;
  char buf[16];
  size_t n, pos = 0;
  int64_t i;
  uint64_t u;
  double d;
  int b;
  (void)state;
  assert_non_null(w);
  wsp_json_writer_begin_object(w);
  wsp_json_writer_key(w, "na\xc3\xafve \"key\"");
  wsp_json_writer_string_len(w, LIT("tab\tnul\0"));
  wsp_json_writer_key(w, "n");
  wsp_json_writer_begin_array(w);
  wsp_json_writer_int64(w, -7);
  wsp_json_writer_uint64(w, 18446744073709551615u);
  wsp_json_writer_double(w, -1e-300);
  wsp_json_writer_bool(w, 1);
  wsp_json_writer_null(w);
  wsp_json_writer_end_array(w);
  assert_int_equal(wsp_json_writer_end_object(w), 0);
  out = wsp_json_writer_data(w, &n);
  assert_non_null(out);
  assert_int_equal(wsp_json_parse(out, n, &top, NULL), 0);
  assert_int_equal(wsp_json_get(&top, "na\xc3\xafve \"key\"", &v), 1);
  assert_int_equal(wsp_json_string(&v, buf, sizeof(buf), &n), 0);
  assert_int_equal(n, 8);
  assert_memory_equal(buf, "tab\tnul\0", 8);
  assert_int_equal(wsp_json_get(&top, "n", &v), 1);
  assert_int_equal(wsp_json_next(&v, &pos, NULL, &e), 1);
  assert_int_equal(wsp_json_int64(&e, &i), 0);
  assert_int_equal(i, -7);
  assert_int_equal(wsp_json_next(&v, &pos, NULL, &e), 1);
  assert_int_equal(wsp_json_uint64(&e, &u), 0);
  assert_true(u == UINT64_MAX);
  assert_int_equal(wsp_json_next(&v, &pos, NULL, &e), 1);
  assert_int_equal(wsp_json_double(&e, &d), 0);
  assert_true(d == -1e-300);
  assert_int_equal(wsp_json_next(&v, &pos, NULL, &e), 1);
  assert_int_equal(wsp_json_bool(&e, &b), 0);
  assert_int_equal(b, 1);
  assert_int_equal(wsp_json_next(&v, &pos, NULL, &e), 1);
  assert_true(wsp_json_is_null(&e));
  assert_int_equal(wsp_json_next(&v, &pos, NULL, &e), 0);
  wsp_json_writer_free(w);
}

/* The README's RPC example (tests/readme_json_sum.c, compared with the
 * README by the readme-json test), run on a hub: [1,2,3] in, {"sum":6}
 * out; data that is not an array sums to 0. */
#include "readme_json_sum.c"

static void test_json_api_rpc_sum(void **state) {
  struct wsp_server_callbacks scb;
  struct wsp_server *srv;
  struct wsp_json_writer *w = wsp_json_writer_new(NULL);
  struct thub_cli c;
  (void)state;
  assert_non_null(w);
  memset(&scb, 0, sizeof(scb));
  assert_int_equal(wsp_server_new(&srv, &scb, NULL, 0, NULL), 0);
  assert_int_equal(wsp_rpc_register(srv, "sum", sum, w), 0);
  thub_cli_open(&c, srv);
  thub_say(&c, 1, 0, "{\"id\":1,\"connect\":{}}");
  thub_clear(&c, 1);
  thub_say(&c, 1, 0,
           "{\"id\":2,\"rpc\":{\"method\":\"sum\",\"data\":[1,2,3]}}");
  thub_expect(&c, "{\"id\":2,\"rpc\":{\"data\":{\"sum\":6}}}\n");
  thub_say(&c, 1, 0,
           "{\"id\":3,\"rpc\":{\"method\":\"sum\",\"data\":[-1, 2e0]}}");
  thub_expect(&c, "{\"id\":3,\"rpc\":{\"data\":{\"sum\":-1}}}\n");
  thub_say(&c, 1, 0, "{\"id\":4,\"rpc\":{\"method\":\"sum\"}}");
  thub_expect(&c, "{\"id\":4,\"rpc\":{\"data\":{\"sum\":0}}}\n");
  thub_cli_free(&c);
  wsp_server_free(srv);
  wsp_json_writer_free(w);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : getenv("WSP_JSONTESTSUITE");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate(test_json_api_suite_y_parsed, (void *)dir),
      cmocka_unit_test_prestate(test_json_api_suite_n_rejected, (void *)dir),
      cmocka_unit_test(test_json_api_parse),
      cmocka_unit_test(test_json_api_parse_depth),
      cmocka_unit_test(test_json_api_get),
      cmocka_unit_test(test_json_api_at),
      cmocka_unit_test(test_json_api_next_count),
      cmocka_unit_test(test_json_api_integers),
      cmocka_unit_test(test_json_api_double),
      cmocka_unit_test(test_json_api_double_long),
      cmocka_unit_test(test_json_api_double_locale),
      cmocka_unit_test(test_json_api_bool_null),
      cmocka_unit_test(test_json_api_string),
      cmocka_unit_test(test_json_api_writer_values),
      cmocka_unit_test(test_json_api_writer_double),
      cmocka_unit_test(test_json_api_writer_double_roundtrip),
      cmocka_unit_test(test_json_api_writer_state),
      cmocka_unit_test(test_json_api_writer_depth),
      cmocka_unit_test(test_json_api_writer_nomem),
      cmocka_unit_test(test_json_api_roundtrip),
      cmocka_unit_test(test_json_api_rpc_sum),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
