/*
 * The transcoder between the Protobuf encoding of the client protocol and
 * the JSON the hub speaks, driven by the schema (pb_schema.c): a Command
 * becomes the JSON command a JSON client would have sent, and each JSON
 * reply or push line becomes the Reply a Protobuf client expects. The
 * bytes fields that carry application payloads (data, info, ...) hold
 * JSON text in both encodings, so they pass through unchanged; only a
 * publication's data under delta compression, a JSON string in JSON, is
 * the string's bytes in Protobuf.
 *
 * Reading is strict about structure (every length within its message, a
 * field's wire type as its type says, a single field at most once,
 * bounded nesting) and lenient about content as Protobuf is: unknown
 * fields are skipped, a string's ill-formed UTF-8 is read as U+FFFD.
 */
#include <string.h>

#include "pb_private.h"
#include "wsp/common.h"

/* As deep as a command line's JSON may nest (cf_dispatch.c). */
#define RAW_DEPTH 64

/* ---- Protobuf to JSON ------------------------------------------------- */

/* The wire type of a value of type, and of field f's. */
static int wire_of_type(int type) {
  return type == WSP__PB_STR || type == WSP__PB_RAW || type == WSP__PB_PDATA ||
                 type == WSP__PB_MSG
             ? WSP__PB_LEN
             : WSP__PB_VARINT;
}

static int wire_of(const struct wsp__pb_field *f) {
  return f->shape == WSP__PB_MAP ? WSP__PB_LEN : wire_of_type(f->type);
}

static int dec_msg(const struct wsp__pb_msg *m, const uint8_t *p,
                   const uint8_t *end, struct wsp__jbuf *out, unsigned depth);

/* One value of type (msg for a message) at *p, moving *p past it. */
static int dec_value(int type, const struct wsp__pb_msg *msg, const uint8_t **p,
                     const uint8_t *end, struct wsp__jbuf *out,
                     unsigned depth) {
  uint64_t v;
  size_t n;
  int rv;
  if (type == WSP__PB_PDATA)
    type = WSP__PB_RAW; /* read as JSON: clients send no deltas */
  if (type == WSP__PB_STR || type == WSP__PB_RAW || type == WSP__PB_MSG) {
    if (wsp__pb_len(p, end, &n) != 0)
      return WSP_ERR_PROTO;
    if (type == WSP__PB_STR) {
      wsp__jbuf_str(out, (const char *)*p, n);
    } else if (type == WSP__PB_RAW) {
      if (wsp__json_validate((const char *)*p, n, RAW_DEPTH, NULL) != 0)
        return WSP_ERR_JSON;
      wsp__jbuf_raw_value(out, (const char *)*p, n);
    } else if ((rv = dec_msg(msg, *p, *p + n, out, depth + 1)) != 0) {
      return rv;
    }
    *p += n;
    return out->err;
  }
  if (wsp__pb_varint(p, end, &v) != 0)
    return WSP_ERR_PROTO;
  switch (type) {
  case WSP__PB_U32:
    return wsp__jbuf_u64(out, (uint32_t)v); /* as Protobuf truncates */
  case WSP__PB_I32:
    return wsp__jbuf_i64(out, (int32_t)(uint32_t)v);
  case WSP__PB_I64:
    return wsp__jbuf_i64(out, (int64_t)v);
  case WSP__PB_S64:
    return wsp__jbuf_i64(out, (int64_t)(v >> 1) ^ -(int64_t)(v & 1));
  case WSP__PB_BOOL:
    return v ? WSP__JBUF_LIT(out, "true") : WSP__JBUF_LIT(out, "false");
  default:
    return wsp__jbuf_u64(out, v);
  }
}

/* One entry of a map field f: "key":value. */
static int dec_entry(const struct wsp__pb_field *f, const uint8_t **p,
                     const uint8_t *end, struct wsp__jbuf *out,
                     unsigned depth) {
  const uint8_t *q, *e, *key = NULL, *val = NULL;
  size_t n, klen = 0;
  uint32_t num;
  int wire, rv;
  if (wsp__pb_len(p, end, &n) != 0)
    return WSP_ERR_PROTO;
  q = *p;
  e = q + n;
  *p = e;
  while (q < e) {
    if (wsp__pb_key(&q, e, &num, &wire) != 0)
      return WSP_ERR_PROTO;
    if (num == 1 && wire == WSP__PB_LEN) {
      if (wsp__pb_len(&q, e, &klen) != 0)
        return WSP_ERR_PROTO;
      key = q;
      q += klen;
    } else if (num == 2 && wire == wire_of_type(f->type)) {
      val = q; /* the last one counts, as Protobuf has it */
      if (wsp__pb_skip(&q, e, wire) != 0)
        return WSP_ERR_PROTO;
    } else if (num == 1 || num == 2 || wsp__pb_skip(&q, e, wire) != 0) {
      return WSP_ERR_PROTO;
    }
  }
  wsp__jbuf_str(out, key ? (const char *)key : "", klen);
  WSP__JBUF_LIT(out, ":");
  if (val) {
    rv = dec_value(f->type, f->msg, &val, e, out, depth);
    if (rv != 0)
      return rv;
  } else if (f->type == WSP__PB_MSG) {
    WSP__JBUF_LIT(out, "{}");
  } else if (f->type == WSP__PB_STR) {
    WSP__JBUF_LIT(out, "\"\"");
  } else {
    return WSP_ERR_JSON; /* no value to give a raw field */
  }
  return out->err;
}

/* A repeated or map field f whose first value is at *p: all its values,
 * from there to end, as one array or object. */
static int dec_all(const struct wsp__pb_field *f, const uint8_t **p,
                   const uint8_t *end, struct wsp__jbuf *out, unsigned depth) {
  const uint8_t *q = *p;
  int map = f->shape == WSP__PB_MAP, rv, first = 1;
  uint32_t num;
  int wire;
  if (map)
    WSP__JBUF_LIT(out, "{");
  else
    WSP__JBUF_LIT(out, "[");
  for (;;) {
    if (!first)
      WSP__JBUF_LIT(out, ",");
    rv = map ? dec_entry(f, &q, end, out, depth)
             : dec_value(f->type, f->msg, &q, end, out, depth);
    if (rv != 0)
      return rv;
    if (first)
      *p = q;
    first = 0;
    /* the next value of the field, past the others */
    for (;;) {
      if (q == end) {
        if (map)
          return WSP__JBUF_LIT(out, "}");
        return WSP__JBUF_LIT(out, "]");
      }
      if (wsp__pb_key(&q, end, &num, &wire) != 0)
        return WSP_ERR_PROTO;
      if (num == f->number) {
        if (wire != wire_of(f))
          return WSP_ERR_PROTO;
        break;
      }
      if (wsp__pb_skip(&q, end, wire) != 0)
        return WSP_ERR_PROTO;
    }
  }
}

static int dec_msg(const struct wsp__pb_msg *m, const uint8_t *p,
                   const uint8_t *end, struct wsp__jbuf *out, unsigned depth) {
  const struct wsp__pb_field *f;
  uint32_t seen = 0, num, bit;
  int wire, rv, n = 0;
  if (depth > WSP__PB_MAX_DEPTH)
    return WSP_ERR_PROTO;
  WSP__JBUF_LIT(out, "{");
  while (p < end) {
    if (wsp__pb_key(&p, end, &num, &wire) != 0)
      return WSP_ERR_PROTO;
    f = wsp__pb_schema_by_number(m, num);
    if (!f) {
      if (wsp__pb_skip(&p, end, wire) != 0)
        return WSP_ERR_PROTO;
      continue;
    }
    if (wire != wire_of(f))
      return WSP_ERR_PROTO;
    bit = (uint32_t)1 << f->number;
    if (seen & bit) {
      /* a repeated field's values were all taken at its first */
      if (f->shape == WSP__PB_ONE || wsp__pb_skip(&p, end, wire) != 0)
        return WSP_ERR_PROTO;
      continue;
    }
    seen |= bit;
    if ((f->type == WSP__PB_RAW || f->type == WSP__PB_PDATA) &&
        f->shape == WSP__PB_ONE) {
      const uint8_t *q = p;
      size_t len;
      if (wsp__pb_len(&q, end, &len) != 0)
        return WSP_ERR_PROTO;
      if (len == 0) {
        p = q; /* empty bytes: absent, as no JSON value is empty */
        continue;
      }
    }
    if (n++)
      WSP__JBUF_LIT(out, ",");
    wsp__jbuf_str(out, f->name, strlen(f->name));
    WSP__JBUF_LIT(out, ":");
    rv = f->shape == WSP__PB_ONE
             ? dec_value(f->type, f->msg, &p, end, out, depth)
             : dec_all(f, &p, end, out, depth);
    if (rv != 0)
      return rv;
  }
  return WSP__JBUF_LIT(out, "}");
}

int wsp__pb_json_decode(const struct wsp__pb_msg *m, const uint8_t *p,
                        size_t len, struct wsp__jbuf *out) {
  int rv = dec_msg(m, p, len ? p + len : p, out, 0); /* p may be NULL */
  return rv ? rv : out->err;
}

uint32_t wsp__pb_json_id(const uint8_t *p, size_t len) {
  const uint8_t *end = len ? p + len : p;
  uint32_t num;
  uint64_t v;
  int wire;
  while (p < end && wsp__pb_key(&p, end, &num, &wire) == 0) {
    if (num == 1 && wire == WSP__PB_VARINT)
      return wsp__pb_varint(&p, end, &v) == 0 ? (uint32_t)v : 0;
    if (wsp__pb_skip(&p, end, wire) != 0)
      break;
  }
  return 0;
}

/* ---- JSON to Protobuf ------------------------------------------------- */

static int enc_msg(const struct wsp__pb_msg *m, const char *json, size_t len,
                   int strings, struct wsp__jbuf *out);

/* Field num of type holding the JSON value v; zero values are left out
 * unless keep (an element of a list keeps its place); strings: a
 * publication's data is a JSON string (wsp__pb_json_encode). */
static int enc_value(uint32_t num, int type, const struct wsp__pb_msg *msg,
                     const struct wsp__json_val *v, int keep, int strings,
                     struct wsp__jbuf *out) {
  uint64_t u = 0;
  int64_t i = 0;
  int b = 0;
  size_t n, at;
  switch (type) {
  case WSP__PB_U32:
  case WSP__PB_U64:
    if (wsp__json_get_u64(v, &u) != 0 ||
        (type == WSP__PB_U32 && u > UINT32_MAX))
      return WSP_ERR_JSON;
    break;
  case WSP__PB_I32:
  case WSP__PB_I64:
  case WSP__PB_S64:
    if (wsp__json_get_i64(v, &i) != 0 ||
        (type == WSP__PB_I32 && (i < INT32_MIN || i > INT32_MAX)))
      return WSP_ERR_JSON;
    u = type == WSP__PB_S64 ? ((uint64_t)i << 1) ^ (uint64_t)(i >> 63)
                            : (uint64_t)i;
    break;
  case WSP__PB_BOOL:
    if (wsp__json_get_bool(v, &b) != 0)
      return WSP_ERR_JSON;
    u = (uint64_t)b;
    break;
  case WSP__PB_PDATA:
    if (!strings)
      return wsp__pb_put_bytes(out, num, v->ptr, v->len);
    keep = 1; /* empty data is a delta too */
    /* fall through */
  case WSP__PB_STR:
    if (v->type != WSP__JSON_STRING)
      return WSP_ERR_JSON;
    (void)wsp__json_string_decode(v, NULL, 0, &n);
    if (n == 0 && !keep)
      return 0;
    wsp__pb_put_key(out, num, WSP__PB_LEN);
    wsp__pb_put_varint(out, n);
    at = out->len;
    /* room for the text, then the text decoded into it */
    if (wsp__jbuf_raw(out, v->ptr, n) != 0)
      return out->err;
    (void)wsp__json_string_decode(v, out->data + at, n, &n);
    return 0;
  case WSP__PB_RAW:
    return wsp__pb_put_bytes(out, num, v->ptr, v->len);
  case WSP__PB_MSG:
    if (v->type != WSP__JSON_OBJECT)
      return WSP_ERR_JSON;
    wsp__pb_put_key(out, num, WSP__PB_LEN);
    at = wsp__pb_open(out);
    b = enc_msg(msg, v->ptr, v->len, strings, out);
    return b ? b : wsp__pb_close(out, at);
  default:
    return WSP_ERR_JSON;
  }
  if (u == 0 && !keep)
    return 0;
  wsp__pb_put_key(out, num, WSP__PB_VARINT);
  return wsp__pb_put_varint(out, u);
}

static int enc_field(const struct wsp__pb_field *f,
                     const struct wsp__json_val *val, int strings,
                     struct wsp__jbuf *out) {
  struct wsp__json_val k, v;
  size_t pos = 0, at;
  int r, rv;
  if (f->shape == WSP__PB_ONE)
    return enc_value(f->number, f->type, f->msg, val, 0, strings, out);
  if (f->shape == WSP__PB_REPEATED) {
    if (val->type != WSP__JSON_ARRAY)
      return WSP_ERR_JSON;
    while ((r = wsp__json_array_next(val->ptr, val->len, &pos, &v)) == 1)
      if ((rv = enc_value(f->number, f->type, f->msg, &v, 1, strings, out)) !=
          0)
        return rv;
    return r < 0 ? WSP_ERR_JSON : out->err;
  }
  if (val->type != WSP__JSON_OBJECT)
    return WSP_ERR_JSON;
  while ((r = wsp__json_object_next(val->ptr, val->len, &pos, &k, &v)) == 1) {
    wsp__pb_put_key(out, f->number, WSP__PB_LEN);
    at = wsp__pb_open(out);
    if ((rv = enc_value(1, WSP__PB_STR, NULL, &k, 1, 0, out)) != 0 ||
        (rv = enc_value(2, f->type, f->msg, &v, 0, strings, out)) != 0)
      return rv;
    wsp__pb_close(out, at);
  }
  return r < 0 ? WSP_ERR_JSON : out->err;
}

static int enc_msg(const struct wsp__pb_msg *m, const char *json, size_t len,
                   int strings, struct wsp__jbuf *out) {
  const struct wsp__pb_field *f;
  struct wsp__json_val key, val;
  size_t pos = 0;
  int r, rv;
  /* A SubscribeResult or a Publication under delta compression (the only
   * messages with a boolean delta) */
  if (!strings && wsp__json_find(json, len, "delta", &val) == 1 &&
      val.type == WSP__JSON_TRUE)
    strings = 1;
  while ((r = wsp__json_object_next(json, len, &pos, &key, &val)) == 1) {
    f = wsp__pb_schema_by_name(m, &key);
    if (!f || val.type == WSP__JSON_NULL)
      continue;
    if ((rv = enc_field(f, &val, strings, out)) != 0)
      return rv;
  }
  return r < 0 ? WSP_ERR_JSON : out->err;
}

int wsp__pb_json_encode(const struct wsp__pb_msg *m, const char *json,
                        size_t len, int data_strings, struct wsp__jbuf *out) {
  struct wsp__json_val v;
  if (wsp__json_value(json, len, &v) != 0 || v.type != WSP__JSON_OBJECT)
    return WSP_ERR_JSON;
  return enc_msg(m, v.ptr, v.len, data_strings, out);
}

int wsp__pb_json_replies(const char *text, size_t len, int data_strings,
                         struct wsp__jbuf *out) {
  const char *p = text, *end = text + len;
  size_t at;
  int rv;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    if (le > p) {
      at = wsp__pb_open(out);
      if ((rv = wsp__pb_json_encode(&wsp__pb_schema_reply, p, (size_t)(le - p),
                                    data_strings, out)) != 0)
        return rv;
      if ((rv = wsp__pb_close(out, at)) != 0)
        return rv;
    }
    p = nl ? nl + 1 : end;
  }
  return out->err;
}
