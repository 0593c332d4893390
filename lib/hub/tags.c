/*
 * Publication tags and the tags filter of a subscription.
 *
 * Tags are a JSON object of string values (client.proto's map<string,
 * string>). The hub keeps them with the publication's info: its "meta" is
 * the publisher's ClientInfo JSON (or nothing), then, when it has tags, a
 * newline and the tags object. JSON text never holds a raw newline, so the
 * two split without ambiguity, and the log and the engines store the meta
 * as the one info span they already carry.
 *
 * A subscription's filter (the subscribe command's tf, a FilterNode tree)
 * is compiled once into a flat array of nodes whose strings are decoded
 * into one block; evaluating it against a publication's tags allocates
 * nothing.
 */
#include <string.h>

#include "hub_private.h"

#define TAGF_MAX_NODES 64   /* nodes in one filter */
#define TAGF_MAX_DEPTH 8    /* and/or/not nesting */
#define TAGF_MAX_VALS 64    /* values of one in/nin */
#define TAGF_MAX_TEXT 4096  /* decoded strings of one filter */
#define TAGS_MAX_MEMBERS 64 /* tags of one publication */
#define TAGS_MAX_BYTES 4096 /* their JSON text */

enum { OP_LEAF, OP_AND, OP_OR, OP_NOT };
enum {
  CMP_EQ,
  CMP_NEQ,
  CMP_IN,
  CMP_NIN,
  CMP_EX,
  CMP_NEX,
  CMP_SW,
  CMP_EW,
  CMP_CT,
  CMP_LT,
  CMP_LTE,
  CMP_GT,
  CMP_GTE
};

struct tnode {
  uint8_t op, cmp;
  uint16_t nkids; /* children follow in pre-order */
  uint16_t size;  /* this node and its descendants */
  uint16_t nvals;
  uint32_t key, val; /* offsets of strings in text (length first) */
  uint32_t vals;     /* in/nin: offset of nvals offsets in text */
};

struct wsp__tags_filter {
  uint32_t n, tlen;
  struct tnode node[TAGF_MAX_NODES];
  char text[]; /* strings: a uint32_t length, then the bytes */
};

/* ---- Meta ---------------------------------------------------------------
 */

void wsp__tags_split(const char *meta, size_t len, struct wsp_str *info,
                     struct wsp_str *tags) {
  const char *nl = meta ? memchr(meta, '\n', len) : NULL;
  info->ptr = meta;
  info->len = nl ? (size_t)(nl - meta) : len;
  tags->ptr = nl ? nl + 1 : NULL;
  tags->len = nl ? len - info->len - 1 : 0;
}

int wsp_server_event_meta(const struct wsp_evlog_event *e, struct wsp_str *info,
                          struct wsp_str *tags) {
  if (!e || !info || !tags)
    return WSP_ERR_INVAL;
  wsp__tags_split(e->info.ptr, e->info.len, info, tags);
  if (!tags->ptr)
    tags->ptr = "";
  return 0;
}

int wsp__tags_check(const char *tags, size_t len) {
  struct wsp__json_val k, v;
  size_t pos = 0;
  int n = 0, rc;
  if (!tags || len > TAGS_MAX_BYTES)
    return WSP_ERR_LIMIT;
  if (wsp__json_validate(tags, len, 2, NULL) != 0 || memchr(tags, '\n', len))
    return WSP_ERR_JSON;
  while ((rc = wsp__json_object_next(tags, len, &pos, &k, &v)) == 1)
    if (v.type != WSP__JSON_STRING || ++n > TAGS_MAX_MEMBERS)
      return WSP_ERR_JSON;
  return rc == 0 ? 0 : WSP_ERR_JSON;
}

char *wsp__tags_meta(const struct wsp_mem *mem, const char *info,
                     const char *tags) {
  size_t il = info ? strlen(info) : 0, tl = strlen(tags);
  char *m = wsp__malloc(mem, il + 1 + tl + 1);
  if (!m)
    return NULL;
  if (il)
    memcpy(m, info, il);
  m[il] = '\n';
  memcpy(m + il + 1, tags, tl + 1);
  return m;
}

/* ---- Compiling a filter -------------------------------------------------
 */

struct comp {
  struct wsp__tags_filter *f;
  size_t cap; /* of f->text */
};

static int add_text(struct comp *c, const struct wsp__json_val *s,
                    uint32_t *off) {
  size_t n;
  uint32_t l;
  int rc;
  if (s->type != WSP__JSON_STRING)
    return WSP_ERR_JSON;
  rc = wsp__json_string_decode(s, NULL, 0, &n);
  if ((rc != 0 && rc != WSP_ERR_LIMIT) || c->f->tlen + 4 + n > c->cap)
    return WSP_ERR_JSON;
  l = (uint32_t)n;
  memcpy(c->f->text + c->f->tlen, &l, 4);
  if (n && wsp__json_string_decode(s, c->f->text + c->f->tlen + 4, n, &n) != 0)
    return WSP_ERR_JSON;
  *off = c->f->tlen;
  c->f->tlen += 4 + (uint32_t)n;
  return 0;
}

/* The name s (a decoded STRING) is one of the NUL-separated names. */
static int name_in(const struct wsp__json_val *s, const char *names) {
  char buf[16];
  size_t n;
  if (s->type != WSP__JSON_STRING ||
      wsp__json_string_decode(s, buf, sizeof(buf), &n) != 0)
    return -1;
  int i;
  for (i = 0; *names; i++, names += strlen(names) + 1)
    if (strlen(names) == n && memcmp(names, buf, n) == 0)
      return i;
  return -1;
}

static int compile(struct comp *c, const struct wsp__json_val *tf, int depth) {
  static const char ops[] = "\0and\0or\0not\0";
  /* both spellings of the string tests: client.proto's and Centrifuge's */
  static const char cmps[] =
      "eq\0neq\0in\0nin\0ex\0nex\0sw\0ew\0ct\0lt\0lte\0gt"
      "\0gte\0starts\0ends\0contains\0";
  struct wsp__json_val op, cmp, key, val, vals, nodes, e;
  struct tnode *nd;
  uint32_t me;
  size_t pos = 0;
  int rc, o, k;
  if (tf->type != WSP__JSON_OBJECT || depth > TAGF_MAX_DEPTH ||
      c->f->n >= TAGF_MAX_NODES)
    return WSP_ERR_JSON;
  me = c->f->n++;
  nd = &c->f->node[me];
  memset(nd, 0, sizeof(*nd));
  if (wsp__json_find(tf->ptr, tf->len, "op", &op) != 1 ||
      op.type == WSP__JSON_NULL)
    o = OP_LEAF;
  else if (op.type == WSP__JSON_STRING && op.len == 2)
    o = OP_LEAF; /* "" */
  else if ((o = name_in(&op, ops + 1)) < 0)
    return WSP_ERR_JSON;
  else
    o += 1;
  nd->op = (uint8_t)o;
  if (o != OP_LEAF) {
    if (wsp__json_find(tf->ptr, tf->len, "nodes", &nodes) != 1 ||
        nodes.type != WSP__JSON_ARRAY)
      return WSP_ERR_JSON;
    while ((rc = wsp__json_array_next(nodes.ptr, nodes.len, &pos, &e)) == 1) {
      if ((rc = compile(c, &e, depth + 1)) != 0)
        return rc;
      c->f->node[me].nkids++;
    }
    nd = &c->f->node[me];
    if (rc != 0 || nd->nkids == 0 || (o == OP_NOT && nd->nkids != 1))
      return WSP_ERR_JSON;
    nd->size = (uint16_t)(c->f->n - me);
    return 0;
  }
  nd->size = 1;
  if (wsp__json_find(tf->ptr, tf->len, "cmp", &cmp) != 1 ||
      (k = name_in(&cmp, cmps)) < 0 ||
      wsp__json_find(tf->ptr, tf->len, "key", &key) != 1 ||
      (rc = add_text(c, &key, &nd->key)) != 0)
    return WSP_ERR_JSON;
  nd->cmp = (uint8_t)(k >= 13 ? CMP_SW + (k - 13) : k);
  if (nd->cmp == CMP_IN || nd->cmp == CMP_NIN) {
    uint32_t offs[TAGF_MAX_VALS];
    if (wsp__json_find(tf->ptr, tf->len, "vals", &vals) != 1 ||
        vals.type != WSP__JSON_ARRAY)
      return WSP_ERR_JSON;
    while ((rc = wsp__json_array_next(vals.ptr, vals.len, &pos, &e)) == 1) {
      if (nd->nvals >= TAGF_MAX_VALS || add_text(c, &e, &offs[nd->nvals]) != 0)
        return WSP_ERR_JSON;
      nd->nvals++;
    }
    if (rc != 0 || c->f->tlen + 4u * nd->nvals > c->cap)
      return WSP_ERR_JSON;
    nd->vals = c->f->tlen;
    memcpy(c->f->text + c->f->tlen, offs, 4u * nd->nvals);
    c->f->tlen += 4u * nd->nvals;
  } else if (nd->cmp != CMP_EX && nd->cmp != CMP_NEX) {
    if (wsp__json_find(tf->ptr, tf->len, "val", &val) != 1 ||
        add_text(c, &val, &nd->val) != 0)
      return WSP_ERR_JSON;
  }
  return 0;
}

int wsp__tags_compile(const struct wsp_mem *mem, const char *tf, size_t len,
                      struct wsp__tags_filter **out) {
  struct wsp__json_val v;
  struct comp c;
  int rc;
  *out = NULL;
  if (wsp__json_value(tf, len, &v) != 0)
    return WSP_ERR_JSON;
  c.cap = len < TAGF_MAX_TEXT ? len + 4 * TAGF_MAX_NODES : TAGF_MAX_TEXT;
  c.f = wsp__malloc(mem, sizeof(*c.f) + c.cap);
  if (!c.f)
    return WSP_ERR_NOMEM;
  c.f->n = 0;
  c.f->tlen = 0;
  rc = compile(&c, &v, 0);
  if (rc != 0) {
    wsp__free(mem, c.f);
    return WSP_ERR_JSON;
  }
  *out = c.f;
  return 0;
}

void wsp__tags_free(const struct wsp_mem *mem, struct wsp__tags_filter *f) {
  wsp__free(mem, f);
}

/* ---- Evaluating it ------------------------------------------------------
 */

static struct wsp__tags_str text_at(const struct wsp__tags_filter *f,
                                    uint32_t off) {
  struct wsp__tags_str s;
  uint32_t l;
  memcpy(&l, f->text + off, 4);
  s.p = f->text + off + 4;
  s.n = l;
  return s;
}

static int dec(const struct wsp__json_val *s, char *out, size_t cap,
               size_t *n) {
  return wsp__json_string_decode(s, out, cap, n);
}

static void tagset_load(struct wsp__tags_view *t, const char *tags,
                        size_t len) {
  struct wsp__json_val k, v;
  size_t pos = 0, used = 0, n;
  t->n = 0;
  t->partial = 0;
  while (tags && wsp__json_object_next(tags, len, &pos, &k, &v) == 1) {
    if (t->n >= TAGS_MAX_MEMBERS || v.type != WSP__JSON_STRING) {
      t->partial = 1;
      return;
    }
    if (dec(&k, t->buf + used, sizeof(t->buf) - used, &n) != 0) {
      t->partial = 1;
      return;
    }
    t->key[t->n].p = t->buf + used;
    t->key[t->n].n = n;
    used += n;
    if (dec(&v, t->buf + used, sizeof(t->buf) - used, &n) != 0) {
      t->partial = 1;
      return;
    }
    t->val[t->n].p = t->buf + used;
    t->val[t->n].n = n;
    used += n;
    t->n++;
  }
}

static int tag_get(const struct wsp__tags_view *t, struct wsp__tags_str key,
                   struct wsp__tags_str *val) {
  int i;
  for (i = 0; i < t->n; i++)
    if (t->key[i].n == key.n && memcmp(t->key[i].p, key.p, key.n) == 0) {
      *val = t->val[i];
      return 1;
    }
  return 0;
}

static int str_eq(struct wsp__tags_str a, struct wsp__tags_str b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static int contains(struct wsp__tags_str h, struct wsp__tags_str n) {
  size_t i;
  if (n.n == 0)
    return 1;
  for (i = 0; i + n.n <= h.n; i++)
    if (memcmp(h.p + i, n.p, n.n) == 0)
      return 1;
  return 0;
}

/* A decimal number: -?DIGITS(.DIGITS)?. 0 when s is not one. */
struct num {
  int neg;
  struct wsp__tags_str ip, fp; /* integer part without leading zeros, fraction
                                * without trailing zeros */
};

static int num_parse(struct wsp__tags_str s, struct num *x) {
  size_t i = 0, start;
  x->neg = s.n > 0 && s.p[0] == '-';
  i = (size_t)x->neg;
  start = i;
  while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
    i++;
  if (i == start)
    return 0;
  x->ip.p = s.p + start;
  x->ip.n = i - start;
  while (x->ip.n > 1 && x->ip.p[0] == '0') {
    x->ip.p++;
    x->ip.n--;
  }
  x->fp.p = s.p + i;
  x->fp.n = 0;
  if (i < s.n) {
    if (s.p[i++] != '.' || i == s.n)
      return 0;
    x->fp.p = s.p + i;
    for (; i < s.n; i++)
      if (s.p[i] < '0' || s.p[i] > '9')
        return 0;
    x->fp.n = (size_t)(s.p + s.n - x->fp.p);
    while (x->fp.n && x->fp.p[x->fp.n - 1] == '0')
      x->fp.n--;
  }
  if (x->ip.n == 1 && x->ip.p[0] == '0' && x->fp.n == 0)
    x->neg = 0; /* -0 is 0 */
  return 1;
}

/* -1, 0, 1 as |a| compares to |b|. */
static int mag_cmp(const struct num *a, const struct num *b) {
  size_t i;
  int r;
  if (a->ip.n != b->ip.n)
    return a->ip.n < b->ip.n ? -1 : 1;
  if ((r = memcmp(a->ip.p, b->ip.p, a->ip.n)) != 0)
    return r < 0 ? -1 : 1;
  for (i = 0; i < a->fp.n || i < b->fp.n; i++) {
    char x = i < a->fp.n ? a->fp.p[i] : '0', y = i < b->fp.n ? b->fp.p[i] : '0';
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}

static int num_cmp(struct wsp__tags_str a, struct wsp__tags_str b, int *out) {
  struct num x, y;
  if (!num_parse(a, &x) || !num_parse(b, &y))
    return 0;
  if (x.neg != y.neg)
    *out = x.neg ? -1 : 1;
  else
    *out = x.neg ? -mag_cmp(&x, &y) : mag_cmp(&x, &y);
  return 1;
}

static int leaf(const struct wsp__tags_filter *f, const struct tnode *nd,
                const struct wsp__tags_view *t) {
  struct wsp__tags_str v, want = {NULL, 0};
  int has = tag_get(t, text_at(f, nd->key), &v), c, i;
  if (nd->cmp != CMP_IN && nd->cmp != CMP_NIN && nd->cmp != CMP_EX &&
      nd->cmp != CMP_NEX)
    want = text_at(f, nd->val);
  switch (nd->cmp) {
  case CMP_EQ:
    return has && str_eq(v, want);
  case CMP_NEQ:
    return !has || !str_eq(v, want);
  case CMP_IN:
  case CMP_NIN:
    for (i = 0; has && i < nd->nvals; i++) {
      uint32_t off;
      memcpy(&off, f->text + nd->vals + 4u * (uint32_t)i, 4);
      if (str_eq(v, text_at(f, off)))
        return nd->cmp == CMP_IN;
    }
    return nd->cmp == CMP_NIN;
  case CMP_EX:
    return has;
  case CMP_NEX:
    return !has;
  case CMP_SW:
    return has && v.n >= want.n && memcmp(v.p, want.p, want.n) == 0;
  case CMP_EW:
    return has && v.n >= want.n &&
           memcmp(v.p + v.n - want.n, want.p, want.n) == 0;
  case CMP_CT:
    return has && contains(v, want);
  default:
    if (!has || !num_cmp(v, want, &c))
      return 0;
    return nd->cmp == CMP_LT    ? c < 0
           : nd->cmp == CMP_LTE ? c <= 0
           : nd->cmp == CMP_GT  ? c > 0
                                : c >= 0;
  }
}

/* Evaluate the node at i (pre-order). */
static int eval(const struct wsp__tags_filter *f, uint32_t i,
                const struct wsp__tags_view *t) {
  const struct tnode *nd = &f->node[i];
  uint32_t k, child = i + 1;
  int r;
  if (nd->op == OP_LEAF)
    return leaf(f, nd, t);
  if (nd->op == OP_NOT)
    return !eval(f, child, t);
  for (k = 0; k < nd->nkids; k++) {
    r = eval(f, child, t);
    if (nd->op == OP_AND && !r)
      return 0;
    if (nd->op == OP_OR && r)
      return 1;
    child += f->node[child].size;
  }
  return nd->op == OP_AND;
}

void wsp__tags_view_load(struct wsp__tags_view *v, const char *meta,
                         size_t len) {
  struct wsp_str info, tags;
  wsp__tags_split(meta, len, &info, &tags);
  tagset_load(v, tags.ptr, tags.len);
}

int wsp__tags_match_view(const struct wsp__tags_filter *f,
                         const struct wsp__tags_view *v) {
  if (!f)
    return 1;
  if (v->partial)
    return 0; /* more than a publication may carry: never from the hub */
  return eval(f, 0, v);
}

int wsp__tags_match(const struct wsp__tags_filter *f, const char *meta,
                    size_t len) {
  struct wsp__tags_view v;
  if (!f)
    return 1;
  wsp__tags_view_load(&v, meta, len);
  return wsp__tags_match_view(f, &v);
}
