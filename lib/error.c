/* Error strings and the runtime version, generated from WSP_ERRNO_MAP. */
#include "internal.h"

unsigned wsp_version(void) { return WSP_VERSION_HEX; }

const char *wsp_version_string(void) { return WSP_VERSION_STRING; }

const char *wsp_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define WSP__ERR_STR(name, value, fatal, msg)                                  \
  case value:                                                                  \
    return msg;
    WSP_ERRNO_MAP(WSP__ERR_STR)
#undef WSP__ERR_STR
  default:
    return "unknown error";
  }
}

const char *wsp_error_name(int err) {
  switch (err) {
  case 0:
    return "0";
#define WSP__ERR_NAME(name, value, fatal, msg)                                 \
  case value:                                                                  \
    return "WSP_ERR_" #name;
    WSP_ERRNO_MAP(WSP__ERR_NAME)
#undef WSP__ERR_NAME
  default:
    return "WSP_ERR_UNKNOWN";
  }
}

int wsp_error_is_fatal(int err) {
  switch (err) {
#define WSP__ERR_FATAL(name, value, fatal, msg)                                \
  case value:                                                                  \
    return fatal;
    WSP_ERRNO_MAP(WSP__ERR_FATAL)
#undef WSP__ERR_FATAL
  default:
    return 0;
  }
}
