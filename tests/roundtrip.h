/*
 * One client through the hub, in memory: the consumer programs of
 * tests/subproject and tests/plugin share it, so that each proves the
 * library it was linked with really works, not only that it links.
 */
#ifndef WSP_TEST_ROUNDTRIP_H
#define WSP_TEST_ROUNDTRIP_H

#include <stddef.h>

/* Accept a client on a wsp_server, run the WebSocket handshake and a
 * connect command against it, and compare the reply byte for byte.
 * Returns 0 with "libwsp VERSION: connect ok" in msg, or -1 with what
 * went wrong in msg. */
int roundtrip_run(char *msg, size_t cap);

#endif
