/*
 * Shared by the permessage-deflate tests: compressing and inflating with
 * zlib itself, independently of the library, and payloads that compress
 * in known ways.
 */
#ifndef WSP_TEST_DEFLATE_HELPERS_H
#define WSP_TEST_DEFLATE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "helpers.h"

#define PMD "permessage-deflate"
#define NCT "; server_no_context_takeover; client_no_context_takeover"

/* Raw deflate of in with a sync flush, the 00 00 ff ff tail removed
 * (RFC 7692 section 7.2.1), appended to b. */
void zdeflate(struct tbuf *b, const void *in, size_t len, int bits);
/* Inflate a whole compressed message payload (tail re-added) into b, with
 * a fresh stream, or with *keep when given (context takeover). */
void zinflate(struct tbuf *b, const uint8_t *in, size_t len, z_stream *keep);
/* JSON-like text that compresses well and differs per index. */
void sample(struct tbuf *b, int i);
/* 2000 random letters, the same for the same i. */
void letters(struct tbuf *b, int i);

#endif /* WSP_TEST_DEFLATE_HELPERS_H */
