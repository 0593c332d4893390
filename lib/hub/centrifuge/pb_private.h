/* The Protobuf encoding of the Centrifuge client protocol (the
 * "centrifuge-protobuf" subprotocol): wire primitives (pb.c), the schema
 * of client.proto (pb_schema.c) and the transcoder between it and the
 * JSON the hub speaks (pb_json.c). Included by cf_private.h. */
#ifndef WSP_PB_PRIVATE_H
#define WSP_PB_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "json/json_private.h"

/* ---- pb.c: wire primitives ------------------------------------------- */

/* Wire types (groups, 3 and 4, are refused). */
#define WSP__PB_WIRE_LIST(X)                                                   \
  X(VARINT, 0)                                                                 \
  X(FIXED64, 1)                                                                \
  X(LEN, 2)                                                                    \
  X(FIXED32, 5)
#define WSP__PB_WIRE_ENUM(name, num) WSP__PB_##name = num,
enum { WSP__PB_WIRE_LIST(WSP__PB_WIRE_ENUM) };
#undef WSP__PB_WIRE_ENUM

/* The longest varint: ten bytes hold 64 bits. */
#define WSP__PB_VARINT_MAX 10

/* Read a varint from *p (never past end) into *v and move *p past it:
 * 0, or WSP_ERR_PROTO when it is truncated or longer than 64 bits. */
int wsp__pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
/* Read a field's key: its number (1..2^29-1) and wire type; 0 or
 * WSP_ERR_PROTO. */
int wsp__pb_key(const uint8_t **p, const uint8_t *end, uint32_t *field,
                int *wire);
/* The length of a LEN field at *p: moves *p past the length; its bytes
 * are *p[0..*len), all before end, or WSP_ERR_PROTO. */
int wsp__pb_len(const uint8_t **p, const uint8_t *end, size_t *len);
/* Skip the value of a field of wire type wire; 0 or WSP_ERR_PROTO. */
int wsp__pb_skip(const uint8_t **p, const uint8_t *end, int wire);
/* Append a varint, a key, a length-delimited field; jb->err. */
int wsp__pb_put_varint(struct wsp__jbuf *jb, uint64_t v);
int wsp__pb_put_key(struct wsp__jbuf *jb, uint32_t field, int wire);
int wsp__pb_put_bytes(struct wsp__jbuf *jb, uint32_t field, const void *data,
                      size_t len);
/* A length-delimited value written in place: _begin reserves the
 * length's first byte and returns where the value starts; _end writes
 * the length of what follows it (moving the value when the length takes
 * more than one byte). */
size_t wsp__pb_open(struct wsp__jbuf *jb);
int wsp__pb_close(struct wsp__jbuf *jb, size_t start);

/* ---- pb_schema.c: the messages of client.proto ------------------------ */

/* How a field's value is written in JSON and on the wire. */
enum {
  WSP__PB_U32,   /* uint32: a JSON number */
  WSP__PB_U64,   /* uint64 */
  WSP__PB_I32,   /* int32 (negative: ten bytes, sign-extended) */
  WSP__PB_I64,   /* int64 */
  WSP__PB_S64,   /* sint64, zigzag */
  WSP__PB_BOOL,  /* bool: true or false */
  WSP__PB_STR,   /* string: a JSON string */
  WSP__PB_RAW,   /* bytes holding JSON text: the JSON value itself */
  WSP__PB_PDATA, /* a Publication's data: RAW, or with delta compression
                    (below) the bytes as a JSON string */
  WSP__PB_MSG    /* a message: a JSON object */
};

/* A field's shape. */
enum {
  WSP__PB_ONE,      /* a single value */
  WSP__PB_REPEATED, /* a JSON array */
  WSP__PB_MAP       /* map<string, type>: a JSON object */
};

struct wsp__pb_msg;

struct wsp__pb_field {
  const char *name;
  uint32_t number; /* 1 to 31: the reader keeps a mask of them */
  uint8_t type;
  uint8_t shape;
  const struct wsp__pb_msg *msg; /* WSP__PB_MSG */
};

struct wsp__pb_msg {
  const char *name;
  const struct wsp__pb_field *fields;
  size_t nfields;
};

/* Command (client to server) and Reply (server to client). */
extern const struct wsp__pb_msg wsp__pb_schema_command;
extern const struct wsp__pb_msg wsp__pb_schema_reply;

const struct wsp__pb_field *
wsp__pb_schema_by_number(const struct wsp__pb_msg *m, uint32_t number);
/* By the JSON name key (a STRING value). */
const struct wsp__pb_field *
wsp__pb_schema_by_name(const struct wsp__pb_msg *m,
                       const struct wsp__json_val *key);

/* ---- pb_json.c: the transcoder ---------------------------------------- */

/* Deepest nesting of messages read (FilterNode nests itself). */
#define WSP__PB_MAX_DEPTH 32

/*
 * Append to out the JSON text of the message m encoded in p[0..len):
 * unknown fields skipped, every bytes field that carries JSON checked to
 * hold one JSON value. Returns 0; WSP_ERR_PROTO for malformed Protobuf
 * (a truncated varint or key, a length past the end, a wire type that is
 * not the field's, a single field twice, nesting past
 * WSP__PB_MAX_DEPTH); WSP_ERR_JSON when a bytes field is not JSON;
 * WSP_ERR_NOMEM.
 */
int wsp__pb_json_decode(const struct wsp__pb_msg *m, const uint8_t *p,
                        size_t len, struct wsp__jbuf *out);
/*
 * Append to out the Protobuf encoding of the JSON object json[0..len)
 * (valid JSON, as the hub writes it) as message m; members with no field
 * in m and nulls are left out, and so are zero values. Returns 0,
 * WSP_ERR_JSON when a member's value does not suit its field, or
 * WSP_ERR_NOMEM.
 *
 * With delta compression the hub writes a publication's data as a JSON
 * string (the JSON text, or a Fossil delta of it); in Protobuf it is
 * the bytes of that string. data_strings says that every publication in
 * json is written so (a delta subscriber's frame); a SubscribeResult or
 * a Publication with "delta":true says so for its own.
 */
int wsp__pb_json_encode(const struct wsp__pb_msg *m, const char *json,
                        size_t len, int data_strings, struct wsp__jbuf *out);
/* The id of the Command p[0..len), or 0 when it has none (or cannot be
 * read as far as it). */
uint32_t wsp__pb_json_id(const uint8_t *p, size_t len);
/* Append to out the Replies of the JSON lines text[0..len) (separated by
 * '\n'), each length-delimited: the binary message that carries them.
 * Returns 0 or the first error of wsp__pb_json_encode(). */
int wsp__pb_json_replies(const char *text, size_t len, int data_strings,
                         struct wsp__jbuf *out);

#endif /* WSP_PB_PRIVATE_H */
