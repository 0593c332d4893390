/*
 * Private JSON support of libwsp: a strict RFC 8259 validator, a
 * zero-copy scanner over validated text and a small writer. Not installed.
 *
 * The validator allocates nothing and never recurses. The scanner hands
 * out spans into the caller's text (struct wsp__json_val), so values such
 * as a payload can be passed on as the exact bytes received. The scanner
 * expects text that wsp__json_validate() accepted; on other text it stays
 * within the given bounds and returns WSP_ERR_JSON where it notices, but
 * it does not validate.
 */
#ifndef WSP_JSON_PRIVATE_H
#define WSP_JSON_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "wsp/common.h"

/* Deepest nesting of arrays and objects the validator can track; a larger
 * max_depth acts as this one. */
#define WSP__JSON_MAX_DEPTH 1024

/* ---- Validation ------------------------------------------------------- */

/*
 * Check that s[0..len) is exactly one JSON value (RFC 8259), optionally
 * surrounded by space, tab, LF and CR. Strictly: no trailing commas, no
 * leading zeros, '+' signs, bare '.', or empty fractions and exponents;
 * strings hold no bytes below 0x20, only the escapes \" \\ \/ \b \f \n \r
 * \t \uXXXX, \u surrogates only as a high-low pair; all bytes are valid
 * UTF-8 (no overlong forms, no encoded surrogates, nothing above
 * U+10FFFF, no truncated sequences); no NUL byte anywhere; arrays and
 * objects nest at most max_depth deep (0: scalars only).
 *
 * Returns 0, or WSP_ERR_JSON with *err_off (when err_off is not NULL) set
 * to the offset of the first byte that cannot continue a valid text: len
 * when the text ends too early, the backslash of a \u escape that breaks
 * the surrogate rules, the bracket that exceeds max_depth.
 */
int wsp__json_validate(const char *s, size_t len, unsigned max_depth,
                       size_t *err_off);

/* ---- Scanning validated text ------------------------------------------ */

enum {
  WSP__JSON_OBJECT = 1,
  WSP__JSON_ARRAY,
  WSP__JSON_STRING,
  WSP__JSON_NUMBER,
  WSP__JSON_TRUE,
  WSP__JSON_FALSE,
  WSP__JSON_NULL
};

/* One value: its type and its full text as received (a string includes
 * its quotes, an object its braces). Valid as long as the text is. */
struct wsp__json_val {
  int type;
  const char *ptr;
  size_t len;
};

/*
 * Iterate the members of the object whose text is s[0..len). *pos starts
 * at 0 and is advanced by each call. Returns 1 with *key (a STRING) and
 * *val set, 0 after the last member (and on every later call), or
 * WSP_ERR_JSON when the text is not an object.
 */
int wsp__json_object_next(const char *s, size_t len, size_t *pos,
                          struct wsp__json_val *key, struct wsp__json_val *val);

/* Iterate the elements of the array s[0..len) the same way. */
int wsp__json_array_next(const char *s, size_t len, size_t *pos,
                         struct wsp__json_val *val);

/* The one value of the valid text s[0..len), without the whitespace
 * around it: 0 with *val set, or WSP_ERR_JSON. */
int wsp__json_value(const char *s, size_t len, struct wsp__json_val *val);

/* The first member of the object obj[0..len) named name: 1 with *val
 * set, 0 when there is none, WSP_ERR_JSON when obj is not an object. */
int wsp__json_find(const char *obj, size_t len, const char *name,
                   struct wsp__json_val *val);

/* Non-zero when the STRING key, once its escapes are decoded, equals the
 * NUL-terminated name ("\u0069d" equals "id"). */
int wsp__json_key_is(const struct wsp__json_val *key, const char *name);

/* A NUMBER that is a non-negative integer (no sign, fraction or
 * exponent) fitting 64 bits. 0, or WSP_ERR_JSON for anything else. */
int wsp__json_get_u64(const struct wsp__json_val *v, uint64_t *out);
/* The same for an integer with an optional '-' that fits int64_t. */
int wsp__json_get_i64(const struct wsp__json_val *v, int64_t *out);
/* TRUE or FALSE as 1 or 0; WSP_ERR_JSON for other types. */
int wsp__json_get_bool(const struct wsp__json_val *v, int *out);

/*
 * Decode the STRING v (escapes to UTF-8) into out[0..cap). *out_len gets
 * the decoded length; a NUL follows it when cap leaves room. Decoded text
 * may hold NUL bytes (\u0000). Returns 0; WSP_ERR_LIMIT when cap is less
 * than the decoded length (*out_len then tells the length needed; out
 * may be NULL with cap 0 to ask); WSP_ERR_JSON when v is not a valid
 * string. The decoded length is never more than v->len - 2.
 */
int wsp__json_string_decode(const struct wsp__json_val *v, char *out,
                            size_t cap, size_t *out_len);

/* ---- Writer ----------------------------------------------------------- */

/*
 * A growable output buffer. The error is sticky: after the first failed
 * allocation every call does nothing and err stays WSP_ERR_NOMEM, so a
 * message can be written without checking each call. data is not
 * NUL-terminated. Every append returns err.
 */
struct wsp__jbuf {
  char *data;
  size_t len, cap;
  const struct wsp_mem *mem; /* borrowed; NULL means the C library's */
  int err;
};

void wsp__jbuf_init(struct wsp__jbuf *jb, const struct wsp_mem *mem);
/* Release the memory; the buffer is then empty and usable again. */
void wsp__jbuf_free(struct wsp__jbuf *jb);
/* Empty the buffer and clear the error, keeping the memory. */
void wsp__jbuf_reset(struct wsp__jbuf *jb);
int wsp__jbuf_raw(struct wsp__jbuf *jb, const char *s, size_t n);
/* Append a string literal (adjacent literals concatenate); the compiler
 * counts its length, so no hand-counted length can drift. Anything but a
 * literal fails to compile. */
#define WSP__JBUF_LIT(jb, lit) wsp__jbuf_raw((jb), "" lit, sizeof("" lit) - 1)
/*
 * Append s[0..n) as a quoted JSON string. '"', '\\' and the bytes below
 * 0x20 are escaped (\b \f \n \r \t, \u00XX for the others), and so are
 * U+2028 and U+2029, which some JavaScript parsers take as line breaks.
 * Each maximal ill-formed UTF-8 subsequence becomes \ufffd.
 */
int wsp__jbuf_str(struct wsp__jbuf *jb, const char *s, size_t n);
int wsp__jbuf_u64(struct wsp__jbuf *jb, uint64_t v);
int wsp__jbuf_i64(struct wsp__jbuf *jb, int64_t v);
/*
 * Append the valid JSON value s[0..n) without its raw CR and LF bytes.
 * A valid text has none inside strings, so only whitespace between
 * tokens goes and the value is unchanged; the result holds no line
 * break and can sit in a newline-delimited stream.
 */
int wsp__jbuf_raw_value(struct wsp__jbuf *jb, const char *s, size_t n);

#endif /* WSP_JSON_PRIVATE_H */
