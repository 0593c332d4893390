/* Error codes, their strings and names, and the runtime version. */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

struct err_entry {
  int value;
  int fatal;
  const char *name;
  const char *msg;
};

static const struct err_entry errs[] = {
#define ERR_ENTRY(name, value, fatal, msg) {value, fatal, "WSP_ERR_" #name, msg},
    WSP_ERRNO_MAP(ERR_ENTRY)
#undef ERR_ENTRY
};

static void test_error_codes_negative_and_distinct(void **state) {
  size_t i, j;
  (void)state;
  assert_true(T_ARRAY_LEN(errs) >= 14);
  for (i = 0; i < T_ARRAY_LEN(errs); i++) {
    assert_true(errs[i].value < 0);
    for (j = i + 1; j < T_ARRAY_LEN(errs); j++)
      assert_int_not_equal(errs[i].value, errs[j].value);
  }
  /* ranges: general -1..-99, connection -100..-199 */
  assert_true(WSP_ERR_INVAL > -100 && WSP_ERR_AGAIN > -100);
  assert_true(WSP_ERR_CLOSED <= -100 && WSP_ERR_CLOSED > -200);
  assert_true(WSP_ERR_BAD_UTF8 <= -100 && WSP_ERR_BAD_UTF8 > -200);
}

static void test_error_strerror_distinct(void **state) {
  const char *unknown = wsp_strerror(12345);
  size_t i, j;
  (void)state;
  assert_non_null(unknown);
  assert_non_null(wsp_strerror(-12345));
  assert_non_null(wsp_strerror(0));
  for (i = 0; i < T_ARRAY_LEN(errs); i++) {
    const char *s = wsp_strerror(errs[i].value);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
    assert_string_not_equal(s, unknown);
    assert_string_equal(s, errs[i].msg);
    assert_string_not_equal(s, wsp_strerror(0));
    for (j = i + 1; j < T_ARRAY_LEN(errs); j++)
      assert_string_not_equal(s, wsp_strerror(errs[j].value));
  }
}

static void test_error_names(void **state) {
  size_t i, j;
  (void)state;
  assert_non_null(wsp_error_name(12345));
  assert_non_null(wsp_error_name(0));
  assert_string_equal(wsp_error_name(WSP_ERR_NOMEM), "WSP_ERR_NOMEM");
  assert_string_equal(wsp_error_name(WSP_ERR_QUEUE_FULL), "WSP_ERR_QUEUE_FULL");
  for (i = 0; i < T_ARRAY_LEN(errs); i++) {
    const char *n = wsp_error_name(errs[i].value);
    assert_non_null(n);
    assert_string_equal(n, errs[i].name);
    assert_string_not_equal(n, wsp_error_name(12345));
    for (j = i + 1; j < T_ARRAY_LEN(errs); j++)
      assert_string_not_equal(n, wsp_error_name(errs[j].value));
  }
}

static void test_error_fatal_flags(void **state) {
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(errs); i++)
    assert_int_equal(wsp_error_is_fatal(errs[i].value) != 0, errs[i].fatal);
  assert_false(wsp_error_is_fatal(0));
  assert_true(wsp_error_is_fatal(WSP_ERR_NOMEM));
  assert_false(wsp_error_is_fatal(WSP_ERR_QUEUE_FULL));
  assert_false(wsp_error_is_fatal(WSP_ERR_AGAIN));
}

static void test_error_version(void **state) {
  char buf[32];
  (void)state;
  assert_int_equal(wsp_version(), WSP_VERSION_HEX);
  assert_int_equal(WSP_VERSION_HEX, (WSP_VERSION_MAJOR << 16) |
                                        (WSP_VERSION_MINOR << 8) |
                                        WSP_VERSION_PATCH);
  assert_non_null(wsp_version_string());
  assert_string_equal(wsp_version_string(), WSP_VERSION_STRING);
  snprintf(buf, sizeof(buf), "%d.%d.%d", WSP_VERSION_MAJOR, WSP_VERSION_MINOR,
           WSP_VERSION_PATCH);
  assert_string_equal(buf, WSP_VERSION_STRING);
#ifdef WSP_TEST_PROJECT_VERSION
  /* the header agrees with meson's project version */
  assert_string_equal(WSP_VERSION_STRING, WSP_TEST_PROJECT_VERSION);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_codes_negative_and_distinct),
      cmocka_unit_test(test_error_strerror_distinct),
      cmocka_unit_test(test_error_names),
      cmocka_unit_test(test_error_fatal_flags),
      cmocka_unit_test(test_error_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
