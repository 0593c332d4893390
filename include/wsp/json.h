/*
 * libwsp - json.h: JSON helpers for applications, typically RPC handlers
 * reading a request's data and writing a reply. The reader is a thin view
 * over the library's own strict scanner: it checks a text once (RFC 8259)
 * and then hands out spans into it, copying and allocating nothing. The
 * writer builds one value in a growing buffer, placing the commas itself
 * and keeping the first error, so that a reply can be written without a
 * check after every call.
 */
#ifndef WSP_JSON_H
#define WSP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Deepest nesting of arrays and objects that wsp_json_parse() accepts and
 * that a writer builds. */
#define WSP_JSON_MAX_DEPTH 1024

/* ---- Reading ---------------------------------------------------------- */

enum wsp_json_type {
  WSP_JSON_OBJECT = 1,
  WSP_JSON_ARRAY,
  WSP_JSON_STRING,
  WSP_JSON_NUMBER,
  WSP_JSON_TRUE,
  WSP_JSON_FALSE,
  WSP_JSON_NULL
};

/*
 * A read-only view of one value: its full text as received (a string with
 * its quotes, an object with its braces) and its type (enum
 * wsp_json_type). Valid as long as the text it points into; filled in by
 * wsp_json_parse(), wsp_json_get(), wsp_json_at() and wsp_json_next().
 */
struct wsp_json {
  const char *ptr;
  size_t len;
  int type;
};

/* Check that text[0..len) is exactly one JSON value (surrounding
 * whitespace allowed) and view it in *out. 0, or WSP_ERR_JSON with
 * *err_off (when not NULL) at the first byte that cannot continue. */
WSP_API int wsp_json_parse(const void *text, size_t len, struct wsp_json *out,
                           size_t *err_off);

/* The first member named key (escapes decoded) of an object: 1 with *out
 * set, 0 when absent, WSP_ERR_JSON when obj is not an object. */
WSP_API int wsp_json_get(const struct wsp_json *obj, const char *key,
                         struct wsp_json *out);
/* Element index (from 0) of an array: 1, 0 past the end, WSP_ERR_JSON. */
WSP_API int wsp_json_at(const struct wsp_json *arr, size_t index,
                        struct wsp_json *out);
/* Iterate an array or an object: *pos starts at 0. 1 with *val (and, for
 * an object, *key, a string) set; 0 after the last item. key may be NULL;
 * for an array it is cleared. */
WSP_API int wsp_json_next(const struct wsp_json *container, size_t *pos,
                          struct wsp_json *key, struct wsp_json *val);
/* The number of elements or members of an array or an object. */
WSP_API int wsp_json_count(const struct wsp_json *container, size_t *count);

/* An integer (no fraction or exponent); WSP_ERR_LIMIT when out of range. */
WSP_API int wsp_json_int64(const struct wsp_json *v, int64_t *out);
WSP_API int wsp_json_uint64(const struct wsp_json *v, uint64_t *out);
/* Any number, rounded to the nearest double, whatever the locale. */
WSP_API int wsp_json_double(const struct wsp_json *v, double *out);
/* true or false as 1 or 0. */
WSP_API int wsp_json_bool(const struct wsp_json *v, int *out);
/* 1 when v is null, else 0. */
WSP_API int wsp_json_is_null(const struct wsp_json *v);
/* Decode a string into buf[0..cap), NUL-terminated when room is left;
 * *len (when not NULL) gets the decoded length, which WSP_ERR_LIMIT
 * reports when cap is too small (buf may then be NULL with cap 0). */
WSP_API int wsp_json_string(const struct wsp_json *v, char *buf, size_t cap,
                            size_t *len);
/* 1 when v is a string that decodes to the NUL-terminated text, else 0. */
WSP_API int wsp_json_string_eq(const struct wsp_json *v, const char *text);

/* ---- Writing ---------------------------------------------------------- */

/*
 * Builds one JSON value. Calls after the first error do nothing and
 * return it (WSP_ERR_NOMEM, WSP_ERR_STATE for a call out of place,
 * WSP_ERR_LIMIT past WSP_JSON_MAX_DEPTH, WSP_ERR_INVAL for a number JSON
 * cannot hold, WSP_ERR_JSON for invalid raw text) until a reset.
 */
struct wsp_json_writer;

/* A new, empty writer using mem (NULL: the C library's); NULL when out of
 * memory. Free it with wsp_json_writer_free(). */
WSP_API struct wsp_json_writer *wsp_json_writer_new(const struct wsp_mem *mem);
WSP_API void wsp_json_writer_free(struct wsp_json_writer *w);
/* Empty the writer and clear its error, keeping its memory. */
WSP_API void wsp_json_writer_reset(struct wsp_json_writer *w);
/* 0, or the first error. */
WSP_API int wsp_json_writer_error(const struct wsp_json_writer *w);
/* The value written, not NUL-terminated, valid until the next call on w;
 * NULL (and *len 0) on an error or while the value is incomplete. */
WSP_API const char *wsp_json_writer_data(const struct wsp_json_writer *w,
                                         size_t *len);

WSP_API int wsp_json_writer_begin_object(struct wsp_json_writer *w);
WSP_API int wsp_json_writer_end_object(struct wsp_json_writer *w);
WSP_API int wsp_json_writer_begin_array(struct wsp_json_writer *w);
WSP_API int wsp_json_writer_end_array(struct wsp_json_writer *w);
/* The name of the next member of an object: NUL-terminated, or len bytes. */
WSP_API int wsp_json_writer_key(struct wsp_json_writer *w, const char *key);
WSP_API int wsp_json_writer_key_len(struct wsp_json_writer *w, const char *key,
                                    size_t len);
/* A string value, escaped: NUL-terminated, or len bytes. */
WSP_API int wsp_json_writer_string(struct wsp_json_writer *w, const char *s);
WSP_API int wsp_json_writer_string_len(struct wsp_json_writer *w, const char *s,
                                       size_t len);
WSP_API int wsp_json_writer_int64(struct wsp_json_writer *w, int64_t v);
WSP_API int wsp_json_writer_uint64(struct wsp_json_writer *w, uint64_t v);
/* The shortest text that reads back as v; NaN and infinities fail. */
WSP_API int wsp_json_writer_double(struct wsp_json_writer *w, double v);
WSP_API int wsp_json_writer_bool(struct wsp_json_writer *w, int v);
WSP_API int wsp_json_writer_null(struct wsp_json_writer *w);
/* One JSON value given as text, checked like wsp_json_parse(); its CR and
 * LF bytes (whitespace between tokens) are left out. */
WSP_API int wsp_json_writer_raw(struct wsp_json_writer *w, const char *json,
                                size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WSP_JSON_H */
