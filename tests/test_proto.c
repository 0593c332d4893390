/*
 * The protocol's named codes (<wsp/proto.h>): values, texts, and the
 * lists expanded by an application for its own table.
 */
#include "helpers.h"

#include <string.h>

#include "wsp/proto.h"

static void test_proto_error_codes(void **state) {
  (void)state;
  assert_int_equal(WSP_PROTO_ERROR_INTERNAL, 100);
  assert_int_equal(WSP_PROTO_ERROR_PERMISSION_DENIED, 103);
  assert_int_equal(WSP_PROTO_ERROR_UNRECOVERABLE_POSITION, 112);
  assert_string_equal(wsp_proto_error_message(100), "internal server error");
  assert_string_equal(wsp_proto_error_message(107), "bad request");
  assert_string_equal(wsp_proto_error_message(112), "unrecoverable position");
  assert_null(wsp_proto_error_message(99));
  assert_null(wsp_proto_error_message(113));
  assert_null(wsp_proto_error_message(400)); /* an application's */
  assert_true(wsp_proto_error_is_temporary(WSP_PROTO_ERROR_INTERNAL));
  assert_true(wsp_proto_error_is_temporary(WSP_PROTO_ERROR_TOO_MANY_REQUESTS));
  assert_false(wsp_proto_error_is_temporary(WSP_PROTO_ERROR_BAD_REQUEST));
  assert_false(wsp_proto_error_is_temporary(400));
}

static void test_proto_disconnect_and_unsubscribe_codes(void **state) {
  (void)state;
  assert_int_equal(WSP_PROTO_DISCONNECT_SHUTDOWN, 3001);
  assert_int_equal(WSP_PROTO_DISCONNECT_SLOW, 3008);
  assert_int_equal(WSP_PROTO_DISCONNECT_BAD_REQUEST, 3501);
  assert_int_equal(WSP_PROTO_DISCONNECT_TOO_MANY_ERRORS, 3509);
  assert_string_equal(wsp_proto_disconnect_reason(3503), "force disconnect");
  assert_string_equal(wsp_proto_disconnect_reason(3012), "no pong");
  assert_null(wsp_proto_disconnect_reason(3002));
  assert_null(wsp_proto_disconnect_reason(1000));
  assert_int_equal(WSP_PROTO_UNSUBSCRIBE_SERVER, 2000);
  assert_int_equal(WSP_PROTO_UNSUBSCRIBE_INSUFFICIENT_STATE, 2500);
  assert_string_equal(wsp_proto_unsubscribe_reason(2000), "server unsubscribe");
  assert_string_equal(wsp_proto_unsubscribe_reason(2501),
                      "subscription expired");
  assert_null(wsp_proto_unsubscribe_reason(2503));
}

/* An application makes its own table from a list. */
#define ROW(name, code, text) {#name, code, text},
static const struct {
  const char *name;
  int code;
  const char *text;
} disconnects[] = {WSP_PROTO_DISCONNECT_LIST(ROW)};
#undef ROW

static void test_proto_lists_and_commands(void **state) {
  size_t i;
  int cmd;
  (void)state;
  assert_int_equal(sizeof(disconnects) / sizeof(disconnects[0]), 22);
  for (i = 0; i < sizeof(disconnects) / sizeof(disconnects[0]); i++)
    assert_string_equal(wsp_proto_disconnect_reason(disconnects[i].code),
                        disconnects[i].text);
  assert_string_equal(disconnects[2].name, "SERVER_ERROR");
  assert_int_equal(WSP_PROTO_CMD__COUNT, 12);
  for (cmd = 0; cmd < WSP_PROTO_CMD__COUNT; cmd++)
    assert_non_null(wsp_proto_command_name(cmd));
  assert_string_equal(wsp_proto_command_name(WSP_PROTO_CMD_CONNECT), "connect");
  assert_string_equal(wsp_proto_command_name(WSP_PROTO_CMD_SUB_REFRESH),
                      "sub_refresh");
  assert_null(wsp_proto_command_name(WSP_PROTO_CMD__COUNT));
  assert_null(wsp_proto_command_name(-1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_proto_error_codes),
      cmocka_unit_test(test_proto_disconnect_and_unsubscribe_codes),
      cmocka_unit_test(test_proto_lists_and_commands),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
