/*
 * The text of the Centrifuge protocol's codes and commands, made from the
 * lists in <wsp/proto.h>.
 */
#include "wsp/proto.h"

#include <stddef.h>

const char *wsp_proto_error_message(int code) {
  switch (code) {
#define ERROR_TEXT(name, num, text, temporary)                                 \
  case num:                                                                    \
    return text;
    WSP_PROTO_ERROR_LIST(ERROR_TEXT)
#undef ERROR_TEXT
  default:
    return NULL;
  }
}

int wsp_proto_error_is_temporary(int code) {
  switch (code) {
#define ERROR_TEMPORARY(name, num, text, temporary)                            \
  case num:                                                                    \
    return temporary;
    WSP_PROTO_ERROR_LIST(ERROR_TEMPORARY)
#undef ERROR_TEMPORARY
  default:
    return 0;
  }
}

#define CODE_TEXT(name, num, text)                                             \
  case num:                                                                    \
    return text;

const char *wsp_proto_disconnect_reason(int code) {
  switch (code) {
    WSP_PROTO_DISCONNECT_LIST(CODE_TEXT)
  default:
    return NULL;
  }
}

const char *wsp_proto_unsubscribe_reason(int code) {
  switch (code) {
    WSP_PROTO_UNSUBSCRIBE_LIST(CODE_TEXT)
  default:
    return NULL;
  }
}

const char *wsp_proto_command_name(int command) {
  switch (command) {
    WSP_PROTO_COMMAND_LIST(CODE_TEXT)
  default:
    return NULL;
  }
}
