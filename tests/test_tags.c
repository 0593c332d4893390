/*
 * Publication tags and the subscribe command's tags filter (tf): every
 * comparison, the missing-key rules, decimal comparisons, and/or/not,
 * refused filters, the tags check and the meta split. The hub's use of
 * them is in test_history (fan-out, recovery, the lag feed) and
 * interop/centrifuge/api.mjs (centrifuge-js's tagsFilter).
 */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "hub/hub_private.h"

static struct wsp_mem M; /* the C library's, through the hooks */

/* 1 or 0: does tf pass a publication with tags (a JSON object, or NULL)? */
static int pass(const char *tf, const char *tags) {
  struct wsp__tags_filter *f;
  char meta[512];
  int r;
  assert_int_equal(wsp__tags_compile(&M, tf, strlen(tf), &f), 0);
  snprintf(meta, sizeof(meta), "{\"user\":\"u\"}%s%s", tags ? "\n" : "",
           tags ? tags : "");
  r = wsp__tags_match(f, meta, strlen(meta));
  wsp__tags_free(&M, f);
  return r;
}

static int refused(const char *tf) {
  struct wsp__tags_filter *f = NULL;
  int rc = wsp__tags_compile(&M, tf, strlen(tf), &f);
  assert_null(f);
  return rc == WSP_ERR_JSON;
}

static void test_tags_leaf_comparisons(void **state) {
  const char *t = "{\"tier\":\"gold\",\"region\":\"eu-west\",\"n\":\"42\"}";
  (void)state;
  assert_true(pass("{\"key\":\"tier\",\"cmp\":\"eq\",\"val\":\"gold\"}", t));
  assert_false(pass("{\"key\":\"tier\",\"cmp\":\"eq\",\"val\":\"Gold\"}", t));
  assert_false(pass("{\"key\":\"nope\",\"cmp\":\"eq\",\"val\":\"\"}", t));
  assert_true(pass("{\"key\":\"tier\",\"cmp\":\"neq\",\"val\":\"x\"}", t));
  assert_false(pass("{\"key\":\"tier\",\"cmp\":\"neq\",\"val\":\"gold\"}", t));
  /* a missing key is not equal, and not in a set */
  assert_true(pass("{\"key\":\"nope\",\"cmp\":\"neq\",\"val\":\"x\"}", t));
  assert_true(pass("{\"key\":\"region\",\"cmp\":\"in\","
                   "\"vals\":[\"us\",\"eu-west\"]}",
                   t));
  assert_false(
      pass("{\"key\":\"region\",\"cmp\":\"in\",\"vals\":[\"us\"]}", t));
  assert_false(pass("{\"key\":\"nope\",\"cmp\":\"in\",\"vals\":[\"\"]}", t));
  assert_true(
      pass("{\"key\":\"region\",\"cmp\":\"nin\",\"vals\":[\"us\"]}", t));
  assert_true(pass("{\"key\":\"nope\",\"cmp\":\"nin\",\"vals\":[\"us\"]}", t));
  assert_false(pass("{\"key\":\"region\",\"cmp\":\"nin\","
                    "\"vals\":[\"eu-west\"]}",
                    t));
  assert_true(pass("{\"key\":\"tier\",\"cmp\":\"ex\"}", t));
  assert_false(pass("{\"key\":\"nope\",\"cmp\":\"ex\"}", t));
  assert_true(pass("{\"key\":\"nope\",\"cmp\":\"nex\"}", t));
  assert_false(pass("{\"key\":\"tier\",\"cmp\":\"nex\"}", t));
  /* string tests, in both spellings */
  assert_true(pass("{\"key\":\"region\",\"cmp\":\"sw\",\"val\":\"eu-\"}", t));
  assert_true(
      pass("{\"key\":\"region\",\"cmp\":\"starts\",\"val\":\"eu\"}", t));
  assert_false(pass("{\"key\":\"region\",\"cmp\":\"sw\",\"val\":\"west\"}", t));
  assert_true(pass("{\"key\":\"region\",\"cmp\":\"ew\",\"val\":\"west\"}", t));
  assert_true(pass("{\"key\":\"region\",\"cmp\":\"ends\",\"val\":\"t\"}", t));
  assert_false(pass("{\"key\":\"region\",\"cmp\":\"ew\",\"val\":\"eu\"}", t));
  assert_true(pass("{\"key\":\"region\",\"cmp\":\"ct\",\"val\":\"-w\"}", t));
  assert_true(
      pass("{\"key\":\"region\",\"cmp\":\"contains\",\"val\":\"\"}", t));
  assert_false(pass("{\"key\":\"region\",\"cmp\":\"ct\",\"val\":\"x\"}", t));
  assert_false(pass("{\"key\":\"nope\",\"cmp\":\"ct\",\"val\":\"\"}", t));
  /* escapes are compared decoded */
  assert_true(pass(
      "{\"key\":\"t\\u0069er\",\"cmp\":\"eq\",\"val\":\"g\\u006fld\"}", t));
  /* no tags at all */
  assert_false(pass("{\"key\":\"tier\",\"cmp\":\"ex\"}", NULL));
  assert_true(pass("{\"key\":\"tier\",\"cmp\":\"nex\"}", NULL));
}

static void test_tags_numbers(void **state) {
  char tags[64];
  struct {
    const char *v, *cmp, *val;
    int want;
  } c[] = {
      {"42", "gt", "41", 1},       {"42", "gt", "42", 0},
      {"42", "gte", "42", 1},      {"42", "lt", "100", 1},
      {"100", "lt", "42", 0},      {"42.5", "gt", "42.49", 1},
      {"42.50", "lte", "42.5", 1}, {"042", "gte", "42", 1},
      {"-1", "lt", "0", 1},        {"-10", "lt", "-9", 1},
      {"-9.5", "gt", "-9.51", 1},  {"-0", "gte", "0", 1},
      {"0.000", "lte", "0", 1},    {"99999999999999999999", "gt", "1", 1},
      {"1e3", "gt", "1", 0},       {"abc", "lt", "1", 0},
      {"1.", "gt", "0", 0},        {"", "lt", "1", 0},
      {"5", "gt", "x", 0},         {"+5", "gt", "1", 0},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
    char tf[128];
    snprintf(tags, sizeof(tags), "{\"n\":\"%s\"}", c[i].v);
    snprintf(tf, sizeof(tf), "{\"key\":\"n\",\"cmp\":\"%s\",\"val\":\"%s\"}",
             c[i].cmp, c[i].val);
    if (pass(tf, tags) != c[i].want)
      fail_msg("%s %s %s: expected %d", c[i].v, c[i].cmp, c[i].val, c[i].want);
  }
  /* a missing key never compares */
  assert_false(pass("{\"key\":\"m\",\"cmp\":\"lt\",\"val\":\"1\"}", tags));
}

static void test_tags_logic(void **state) {
  const char *t = "{\"ticker\":\"BTC\",\"price\":\"60000\"}";
  const char *btc = "{\"key\":\"ticker\",\"cmp\":\"eq\",\"val\":\"BTC\"}";
  const char *eth = "{\"key\":\"ticker\",\"cmp\":\"eq\",\"val\":\"ETH\"}";
  const char *hi = "{\"key\":\"price\",\"cmp\":\"gt\",\"val\":\"50000\"}";
  char tf[512];
  (void)state;
  snprintf(tf, sizeof(tf), "{\"op\":\"and\",\"nodes\":[%s,%s]}", btc, hi);
  assert_true(pass(tf, t));
  snprintf(tf, sizeof(tf), "{\"op\":\"and\",\"nodes\":[%s,%s]}", eth, hi);
  assert_false(pass(tf, t));
  snprintf(tf, sizeof(tf), "{\"op\":\"or\",\"nodes\":[%s,%s]}", eth, hi);
  assert_true(pass(tf, t));
  snprintf(tf, sizeof(tf), "{\"op\":\"or\",\"nodes\":[%s,%s]}", eth, eth);
  assert_false(pass(tf, t));
  snprintf(tf, sizeof(tf), "{\"op\":\"not\",\"nodes\":[%s]}", eth);
  assert_true(pass(tf, t));
  /* nested, and siblings after a subtree are reached */
  snprintf(tf, sizeof(tf),
           "{\"op\":\"and\",\"nodes\":[{\"op\":\"or\",\"nodes\":[%s,"
           "{\"op\":\"not\",\"nodes\":[%s]}]},%s,{\"op\":\"\",\"key\":"
           "\"price\",\"cmp\":\"sw\",\"val\":\"6\"}]}",
           eth, btc, hi);
  assert_false(pass(tf, t)); /* (ETH or not BTC) fails */
  snprintf(tf, sizeof(tf),
           "{\"op\":\"and\",\"nodes\":[{\"op\":\"or\",\"nodes\":[%s,"
           "{\"op\":\"not\",\"nodes\":[%s]}]},%s,{\"op\":null,\"key\":"
           "\"price\",\"cmp\":\"sw\",\"val\":\"6\"}]}",
           eth, eth, hi);
  assert_true(pass(tf, t));
}

static void test_tags_refused_filters(void **state) {
  char deep[1024], tf[4096];
  int i;
  (void)state;
  assert_true(refused("1"));
  assert_true(refused("[]"));
  assert_true(refused("{\"key\":\"a\",\"cmp\":\"like\",\"val\":\"b\"}"));
  assert_true(refused("{\"key\":\"a\",\"cmp\":\"eq\"}"));
  assert_true(refused("{\"key\":1,\"cmp\":\"eq\",\"val\":\"b\"}"));
  assert_true(refused("{\"cmp\":\"ex\"}"));
  assert_true(refused("{\"key\":\"a\",\"cmp\":\"in\",\"val\":\"b\"}"));
  assert_true(refused("{\"key\":\"a\",\"cmp\":\"in\",\"vals\":[1]}"));
  assert_true(refused("{\"op\":\"and\"}"));
  assert_true(refused("{\"op\":\"and\",\"nodes\":[]}"));
  assert_true(
      refused("{\"op\":\"xor\",\"nodes\":[{\"key\":\"a\",\"cmp\":\"ex\"}]}"));
  assert_true(
      refused("{\"op\":\"not\",\"nodes\":[{\"key\":\"a\",\"cmp\":\"ex\"},"
              "{\"key\":\"b\",\"cmp\":\"ex\"}]}"));
  /* depth: 8 levels of not are fine, 9 are not */
  strcpy(deep, "{\"key\":\"a\",\"cmp\":\"nex\"}");
  for (i = 0; i < 8; i++) {
    snprintf(tf, sizeof(tf), "{\"op\":\"not\",\"nodes\":[%s]}", deep);
    strcpy(deep, tf);
  }
  assert_true(pass(deep, NULL)); /* an even number of nots */
  snprintf(tf, sizeof(tf), "{\"op\":\"not\",\"nodes\":[%s]}", deep);
  assert_true(refused(tf));
  /* at most 64 nodes */
  strcpy(tf, "{\"op\":\"or\",\"nodes\":[");
  for (i = 0; i < 64; i++)
    strcat(tf, i ? ",{\"key\":\"a\",\"cmp\":\"ex\"}"
                 : "{\"key\":\"a\",\"cmp\":\"ex\"}");
  strcat(tf, "]}");
  assert_true(refused(tf));
}

static void test_tags_check_and_split(void **state) {
  struct wsp_str info, tags;
  char big[5000];
  size_t i;
  (void)state;
  assert_int_equal(wsp__tags_check("{}", 2), 0);
  assert_int_equal(wsp__tags_check("{\"a\":\"b\",\"c\":\"\"}", 16), 0);
  assert_int_equal(wsp__tags_check("{\"a\":1}", 7), WSP_ERR_JSON);
  assert_int_equal(wsp__tags_check("[\"a\"]", 5), WSP_ERR_JSON);
  assert_int_equal(wsp__tags_check("\"a\"", 3), WSP_ERR_JSON);
  assert_int_equal(wsp__tags_check("{\"a\":\"b\"\n}", 10), WSP_ERR_JSON);
  assert_int_equal(wsp__tags_check("{\"a\":{}}", 8), WSP_ERR_JSON);
  /* 65 tags, or more than 4096 bytes */
  strcpy(big, "{");
  for (i = 0; i < 65; i++)
    sprintf(big + strlen(big), "%s\"k%zu\":\"v\"", i ? "," : "", i);
  strcat(big, "}");
  assert_int_equal(wsp__tags_check(big, strlen(big)), WSP_ERR_JSON);
  memset(big, ' ', sizeof(big));
  memcpy(big, "{}", 2);
  assert_int_equal(wsp__tags_check(big, 4097), WSP_ERR_LIMIT);
  /* the meta: info, then tags after a newline */
  wsp__tags_split("{\"u\":1}\n{\"t\":\"x\"}", 17, &info, &tags);
  assert_int_equal(info.len, 7);
  assert_int_equal(tags.len, 9);
  assert_memory_equal(tags.ptr, "{\"t\":\"x\"}", 9);
  wsp__tags_split("\n{}", 3, &info, &tags);
  assert_int_equal(info.len, 0);
  assert_int_equal(tags.len, 2);
  wsp__tags_split("{\"u\":1}", 7, &info, &tags);
  assert_int_equal(info.len, 7);
  assert_null(tags.ptr);
  wsp__tags_split(NULL, 0, &info, &tags);
  assert_int_equal(info.len, 0);
  assert_null(tags.ptr);
}

static void test_tags_event_meta(void **state) {
  struct wsp_evlog_event e;
  struct wsp_str info, tags;
  (void)state;
  memset(&e, 0, sizeof(e));
  e.info.ptr = "{\"user\":\"a\"}\n{\"k\":\"v\"}";
  e.info.len = strlen(e.info.ptr);
  assert_int_equal(wsp_server_event_meta(&e, &info, &tags), 0);
  assert_int_equal(info.len, 12);
  assert_int_equal(tags.len, 9);
  e.info.len = 12;
  assert_int_equal(wsp_server_event_meta(&e, &info, &tags), 0);
  assert_int_equal(tags.len, 0);
  assert_non_null(tags.ptr);
  assert_int_equal(wsp_server_event_meta(NULL, &info, &tags), WSP_ERR_INVAL);
  assert_int_equal(wsp_server_event_meta(&e, NULL, &tags), WSP_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tags_leaf_comparisons),
      cmocka_unit_test(test_tags_numbers),
      cmocka_unit_test(test_tags_logic),
      cmocka_unit_test(test_tags_refused_filters),
      cmocka_unit_test(test_tags_check_and_split),
      cmocka_unit_test(test_tags_event_meta),
  };
  wsp__mem_init(&M, NULL);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
