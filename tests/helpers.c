/* Shared helpers of the unit tests; see helpers.h. */
#include "helpers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "../lib/json/json_private.h"

/* ---- Growable byte buffer -------------------------------------------- */

void tbuf_init(struct tbuf *b) { memset(b, 0, sizeof(*b)); }

void tbuf_free(struct tbuf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

void tbuf_reset(struct tbuf *b) { b->len = 0; }

static void tbuf_reserve(struct tbuf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
      cap *= 2;
    b->data = realloc(b->data, cap);
    assert_non_null(b->data);
    b->cap = cap;
  }
}

void tbuf_append(struct tbuf *b, const void *data, size_t len) {
  tbuf_reserve(b, len);
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = 0; /* always NUL-terminated for string checks */
}

void tbuf_puts(struct tbuf *b, const char *s) { tbuf_append(b, s, strlen(s)); }

void tbuf_printf(struct tbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  assert_true(n >= 0);
  tbuf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void tbuf_consume(struct tbuf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
  }
  if (b->data)
    b->data[b->len] = 0;
}

/* ---- Scripted feed ---------------------------------------------------- */

int feed_chunks(struct wsp_conn *c, const void *data, size_t len,
                size_t chunk) {
  const uint8_t *p = data;
  size_t off = 0;
  if (chunk == 0)
    chunk = len ? len : 1;
  while (off < len) {
    size_t n = len - off < chunk ? len - off : chunk;
    int rc = wsp_conn_recv(c, p + off, n);
    if (rc < 0)
      return rc;
    off += n;
  }
  return 0;
}

int feed_script(struct wsp_conn *c, const void *data, size_t len,
                const size_t *sizes, size_t nsizes) {
  const uint8_t *p = data;
  size_t off = 0, i = 0;
  while (off < len) {
    size_t n = nsizes ? sizes[i++ % nsizes] : len;
    int rc;
    if (n == 0)
      n = 1;
    if (n > len - off)
      n = len - off;
    rc = wsp_conn_recv(c, p + off, n);
    if (rc < 0)
      return rc;
    off += n;
  }
  return 0;
}

int feed_str(struct wsp_conn *c, const char *s) {
  return wsp_conn_recv(c, s, strlen(s));
}

/* ---- Output sink ------------------------------------------------------ */

static size_t sink_run(struct wsp_conn *c, struct tbuf *out, size_t write_max,
                       size_t limit) {
  size_t total = 0;
  long guard;
  for (guard = 0; guard < 100000000L && total < limit; guard++) {
    struct iovec iov[16];
    size_t budget = write_max ? write_max : (size_t)-1, w = 0;
    int n = wsp_conn_pending(c, iov, 16), i, rc;
    if (n <= 0)
      break;
    if (budget > limit - total)
      budget = limit - total;
    for (i = 0; i < n && budget > 0; i++) {
      size_t take = iov[i].iov_len < budget ? iov[i].iov_len : budget;
      if (out)
        tbuf_append(out, iov[i].iov_base, take);
      w += take;
      budget -= take;
      if (take < iov[i].iov_len)
        break;
    }
    /* pending() said there was output: it must not be empty */
    assert_true(w > 0);
    rc = wsp_conn_sent(c, w);
    assert_true(rc >= 0);
    total += w;
  }
  return total;
}

size_t sink_drain(struct wsp_conn *c, struct tbuf *out, size_t write_max) {
  return sink_run(c, out, write_max, (size_t)-1);
}

size_t sink_drain_some(struct wsp_conn *c, struct tbuf *out, size_t limit) {
  return sink_run(c, out, 0, limit);
}

/* ---- Recorder --------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, struct wsp_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n)
    memcpy(dst, s.ptr, n);
  dst[n] = 0;
}

static void push_msg(struct tmsg **list, size_t *n, size_t *cap, int opcode,
                     const uint8_t *data, size_t len, int seq) {
  struct tmsg *m;
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *list = realloc(*list, *cap * sizeof(**list));
    assert_non_null(*list);
  }
  m = &(*list)[(*n)++];
  m->opcode = opcode;
  m->len = len;
  m->seq = seq;
  m->data = malloc(len + 1);
  assert_non_null(m->data);
  if (len)
    memcpy(m->data, data, len);
  m->data[len] = 0;
}

static int rec_on_request(struct wsp_conn *c, const struct wsp_request *req,
                          void *ud) {
  struct trec *r = ud;
  int rc = 0;
  r->n_request++;
  r->seq++;
  r->req_websocket = req->websocket;
  r->req_status = req->status;
  r->req_http_minor = req->http_minor;
  r->req_nheaders = req->nheaders;
  copy_str(r->req_method, sizeof(r->req_method), req->method);
  copy_str(r->req_target, sizeof(r->req_target), req->target);
  copy_str(r->req_path, sizeof(r->req_path), req->path);
  copy_str(r->req_query, sizeof(r->req_query), req->query);
  if (r->req_hook)
    return r->req_hook(c, req, r);
  if (r->set_protocol) {
    rc = wsp_conn_set_protocol(c, r->set_protocol);
    if (rc < 0 && r->req_action_rc == 0)
      r->req_action_rc = rc;
  }
  if (r->add_header_name) {
    rc = wsp_conn_add_header(c, r->add_header_name, r->add_header_value);
    if (rc < 0 && r->req_action_rc == 0)
      r->req_action_rc = rc;
  }
  switch (r->req_action) {
  case TREQ_RESPOND:
    rc = wsp_conn_respond(c, r->respond_status, r->respond_type,
                          r->respond_body,
                          r->respond_body ? strlen(r->respond_body) : 0);
    if (rc < 0 && r->req_action_rc == 0)
      r->req_action_rc = rc;
    return 0;
  case TREQ_DEFER:
    rc = wsp_conn_defer(c);
    if (rc < 0 && r->req_action_rc == 0)
      r->req_action_rc = rc;
    return 0;
  case TREQ_REJECT:
    return -1;
  default:
    return 0;
  }
}

static void rec_on_open(struct wsp_conn *c, const struct wsp_response *resp,
                        void *ud) {
  struct trec *r = ud;
  r->n_open++;
  r->open_seq = ++r->seq;
  if (resp) {
    r->resp_status = resp->status;
    r->resp_nheaders = resp->nheaders;
  }
  if (r->open_hook)
    r->open_hook(c, r);
}

static void rec_on_message(struct wsp_conn *c, int opcode,
                           const uint8_t *data, size_t len, void *ud) {
  struct trec *r = ud;
  r->n_msgs_total++;
  push_msg(&r->msgs, &r->nmsgs, &r->capmsgs, opcode, data, len, ++r->seq);
  if (r->echo) {
    int rc = wsp_conn_send(c, opcode, data, len);
    if (rc < 0 && r->echo_rc == 0)
      r->echo_rc = rc;
  }
  if (r->msg_hook)
    r->msg_hook(c, opcode, data, len, r);
}

static void rec_on_control(struct wsp_conn *c, int opcode,
                           const uint8_t *data, size_t len, void *ud) {
  struct trec *r = ud;
  (void)c;
  push_msg(&r->ctrls, &r->nctrls, &r->capctrls, opcode, data, len, ++r->seq);
}

static void rec_on_close(struct wsp_conn *c, int code, const uint8_t *reason,
                         size_t reason_len, void *ud) {
  struct trec *r = ud;
  size_t n = reason_len < sizeof(r->close_reason) ? reason_len
                                                  : sizeof(r->close_reason);
  r->n_close++;
  r->close_seq = ++r->seq;
  r->close_code = code;
  if (n)
    memcpy(r->close_reason, reason, n);
  r->close_reason_len = reason_len;
  if (r->close_hook)
    r->close_hook(c, r);
}

static void rec_on_want_write(struct wsp_conn *c, void *ud) {
  struct trec *r = ud;
  (void)c;
  r->n_want_write++;
}

static void rec_on_backpressure(struct wsp_conn *c, int above, void *ud) {
  struct trec *r = ud;
  (void)c;
  if (r->nbp < T_ARRAY_LEN(r->bp))
    r->bp[r->nbp] = above;
  r->nbp++;
}

static uint64_t rec_now(void *ud) {
  const struct trec *r = ud;
  return r->clock;
}

void trec_init(struct trec *r) { memset(r, 0, sizeof(*r)); }

void trec_free(struct trec *r) {
  size_t i;
  for (i = 0; i < r->nmsgs; i++)
    free(r->msgs[i].data);
  for (i = 0; i < r->nctrls; i++)
    free(r->ctrls[i].data);
  free(r->msgs);
  free(r->ctrls);
  r->msgs = r->ctrls = NULL;
  r->nmsgs = r->nctrls = r->capmsgs = r->capctrls = 0;
}

struct wsp_conn_callbacks trec_callbacks(const struct trec *r) {
  struct wsp_conn_callbacks cb;
  memset(&cb, 0, sizeof(cb));
  cb.on_request = rec_on_request;
  cb.on_open = rec_on_open;
  cb.on_message = rec_on_message;
  cb.on_control = rec_on_control;
  cb.on_close = rec_on_close;
  cb.on_want_write = rec_on_want_write;
  cb.on_backpressure = rec_on_backpressure;
  cb.now = r->use_clock ? rec_now : NULL;
  return cb;
}

/* ---- Server under test ------------------------------------------------ */

void tsrv_init(struct tsrv *s) {
  memset(s, 0, sizeof(*s));
  trec_init(&s->rec);
  tbuf_init(&s->out);
}

int tsrv_new(struct tsrv *s, const struct wsp_mem *mem, uint64_t now) {
  struct wsp_conn_callbacks cb = trec_callbacks(&s->rec);
  int rv = wsp_conn_new(&s->c, WSP_ROLE_SERVER, &cb, mem, now, &s->rec);
  if (rv == 0 && s->linger_off)
    rv = wsp_conn_set_limit(s->c, WSP_LIMIT_QUEUE_LINGER, 0);
  return rv;
}

void tsrv_open(struct tsrv *s) {
  size_t head;
  assert_int_equal(tsrv_new(s, NULL, s->rec.clock), 0);
  assert_non_null(s->c);
  assert_int_equal(tsrv_feed(s, T_REQ, strlen(T_REQ)), 0);
  assert_int_equal(thttp_status(s->out.data, s->out.len), 101);
  head = thttp_head_len(s->out.data, s->out.len);
  assert_true(head > 0);
  s->out_pos = head;
  assert_int_equal(wsp_conn_get_state(s->c), WSP_STATE_OPEN);
  assert_int_equal(s->rec.n_open, 1);
}

int tsrv_feed(struct tsrv *s, const void *data, size_t len) {
  int rc = wsp_conn_recv(s->c, data, len);
  if (rc < 0 && s->rc == 0)
    s->rc = rc;
  tsrv_drain(s);
  return rc;
}

void tsrv_drain(struct tsrv *s) { sink_drain(s->c, &s->out, 0); }

void tsrv_free(struct tsrv *s) {
  wsp_conn_free(s->c);
  s->c = NULL;
  trec_free(&s->rec);
  tbuf_free(&s->out);
}

/* ---- Frame builder ---------------------------------------------------- */

const uint8_t t_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

static void put_header(struct tbuf *b, uint8_t b0, int masked, uint64_t len,
                       int lenform) {
  uint8_t h[14];
  size_t n = 0;
  int i;
  uint8_t m = masked ? 0x80 : 0;
  if (lenform == 0)
    lenform = len <= 125 ? 7 : len <= 0xffff ? 16 : 64;
  h[n++] = b0;
  if (lenform == 7) {
    h[n++] = (uint8_t)(m | (uint8_t)len);
  } else if (lenform == 16) {
    h[n++] = m | 126;
    h[n++] = (uint8_t)(len >> 8);
    h[n++] = (uint8_t)len;
  } else {
    h[n++] = m | 127;
    for (i = 7; i >= 0; i--)
      h[n++] = (uint8_t)(len >> (8 * i));
  }
  if (masked) {
    memcpy(h + n, t_mask, 4);
    n += 4;
  }
  tbuf_append(b, h, n);
}

void frame_append_ex(struct tbuf *b, uint8_t b0, int masked, const void *p,
                     size_t len, int lenform) {
  size_t i, start;
  put_header(b, b0, masked, len, lenform);
  start = b->len;
  tbuf_append(b, p, len);
  if (masked)
    for (i = 0; i < len; i++)
      b->data[start + i] ^= t_mask[i & 3];
}

void frame_append(struct tbuf *b, uint8_t b0, int masked, const void *p,
                  size_t len) {
  frame_append_ex(b, b0, masked, p, len, 0);
}

void cframe(struct tbuf *b, uint8_t b0, const void *p, size_t len) {
  frame_append(b, b0, 1, p, len);
}

void sframe(struct tbuf *b, uint8_t b0, const void *p, size_t len) {
  frame_append(b, b0, 0, p, len);
}

void cframe_close(struct tbuf *b, int code, const char *reason) {
  uint8_t pl[125];
  size_t n = 0, rl = reason ? strlen(reason) : 0;
  if (code) {
    pl[n++] = (uint8_t)(code >> 8);
    pl[n++] = (uint8_t)code;
  }
  assert_true(n + rl <= sizeof(pl));
  if (rl)
    memcpy(pl + n, reason, rl);
  cframe(b, TF_FIN | WSP_OP_CLOSE, pl, n + rl);
}

void frame_header(struct tbuf *b, uint8_t b0, int masked, uint64_t len) {
  put_header(b, b0, masked, len, 0);
}

/* ---- Frame parser ----------------------------------------------------- */

void tframes_parse(struct tframes *fl, const uint8_t *buf, size_t len) {
  size_t off = 0;
  memset(fl, 0, sizeof(*fl));
  while (off < len) {
    size_t n = off, hl, i;
    uint64_t plen;
    int masked, form;
    uint8_t mask[4] = {0, 0, 0, 0};
    struct tframe *f;
    if (len - n < 2)
      break;
    masked = (buf[n + 1] & 0x80) != 0;
    plen = buf[n + 1] & 0x7f;
    hl = 2;
    form = 7;
    if (plen == 126) {
      if (len - n < 4)
        break;
      plen = ((uint64_t)buf[n + 2] << 8) | buf[n + 3];
      hl = 4;
      form = 16;
    } else if (plen == 127) {
      if (len - n < 10)
        break;
      plen = 0;
      for (i = 0; i < 8; i++)
        plen = (plen << 8) | buf[n + 2 + i];
      hl = 10;
      form = 64;
    }
    if (masked) {
      if (len - n < hl + 4)
        break;
      memcpy(mask, buf + n + hl, 4);
      hl += 4;
    }
    if (plen > (uint64_t)(len - n - hl))
      break;
    if (fl->n == fl->cap) {
      fl->cap = fl->cap ? fl->cap * 2 : 16;
      fl->f = realloc(fl->f, fl->cap * sizeof(*fl->f));
      assert_non_null(fl->f);
    }
    f = &fl->f[fl->n++];
    f->fin = (buf[n] & 0x80) != 0;
    f->rsv = (buf[n] >> 4) & 7;
    f->opcode = buf[n] & 0x0f;
    f->masked = masked;
    f->len = plen;
    f->lenform = form;
    f->data = malloc((size_t)plen + 1);
    assert_non_null(f->data);
    for (i = 0; i < (size_t)plen; i++)
      f->data[i] = buf[n + hl + i] ^ (masked ? mask[i & 3] : 0);
    f->data[plen] = 0;
    off = n + hl + (size_t)plen;
  }
  fl->used = off;
}

void tframes_free(struct tframes *fl) {
  size_t i;
  for (i = 0; i < fl->n; i++)
    free(fl->f[i].data);
  free(fl->f);
  memset(fl, 0, sizeof(*fl));
}

void tsrv_frames(struct tsrv *s, struct tframes *fl) {
  tframes_parse(fl, s->out.data + s->out_pos, s->out.len - s->out_pos);
  s->out_pos += fl->used;
}

int tframe_close_code(const struct tframe *f) {
  if (f->len == 0)
    return 0;
  if (f->len == 1)
    return -1;
  return (f->data[0] << 8) | f->data[1];
}

int tframes_last_close(const struct tframes *fl) {
  size_t i;
  for (i = fl->n; i > 0; i--)
    if (fl->f[i - 1].opcode == WSP_OP_CLOSE)
      return (int)(i - 1);
  return -1;
}

/* ---- HTTP inspection -------------------------------------------------- */

size_t thttp_head_len(const uint8_t *buf, size_t len) {
  size_t i;
  for (i = 0; i + 3 < len; i++)
    if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
        buf[i + 3] == '\n')
      return i + 4;
  return 0;
}

int thttp_status(const uint8_t *buf, size_t len) {
  int st = 0, i;
  if (len < 13 || memcmp(buf, "HTTP/1.1 ", 9) != 0)
    return -1;
  for (i = 9; i < 12; i++) {
    if (buf[i] < '0' || buf[i] > '9')
      return -1;
    st = st * 10 + (buf[i] - '0');
  }
  if (buf[12] != ' ')
    return -1;
  return st;
}

static int ieq_n(const uint8_t *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    int x = a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z')
      x += 32;
    if (y >= 'A' && y <= 'Z')
      y += 32;
    if (x != y)
      return 0;
  }
  return 1;
}

int thttp_header(const uint8_t *buf, size_t len, const char *name,
                 char *val, size_t cap) {
  size_t head = thttp_head_len(buf, len), p = 0, nl = strlen(name);
  int count = 0;
  if (cap)
    val[0] = 0;
  if (!head)
    return 0;
  /* skip the status line */
  while (p < head && buf[p] != '\n')
    p++;
  p++;
  while (p < head) {
    size_t e = p, v, ve;
    while (e < head && buf[e] != '\r')
      e++;
    if (e == p)
      break;
    if (e - p > nl && buf[p + nl] == ':' && ieq_n(buf + p, name, nl)) {
      v = p + nl + 1;
      ve = e;
      while (v < ve && (buf[v] == ' ' || buf[v] == '\t'))
        v++;
      while (ve > v && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
        ve--;
      if (count == 0 && cap) {
        size_t n = ve - v < cap - 1 ? ve - v : cap - 1;
        memcpy(val, buf + v, n);
        val[n] = 0;
      }
      count++;
    }
    p = e + 2;
  }
  return count;
}

void taccept(const char *key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  struct sha1_ctx ctx;
  uint8_t d[SHA1_DIGEST_SIZE];
  sha1_init(&ctx);
  sha1_update(&ctx, strlen(key), (const uint8_t *)key);
  sha1_update(&ctx, strlen(guid), (const uint8_t *)guid);
  sha1_digest(&ctx, sizeof(d), d);
  base64_encode_raw(out, sizeof(d), d);
  out[28] = 0;
}

/* ---- Requests --------------------------------------------------------- */

void treq_build(struct tbuf *b, const char *path, const char *extra) {
  tbuf_printf(b, "GET %s HTTP/1.1\r\n%s%s\r\n", path ? path : "/chat",
              T_REQ_LINES, extra ? extra : "");
}

int tresp_build(struct tbuf *b, const uint8_t *req, size_t req_len,
                const char *extra) {
  char key[128], acc[29];
  if (thttp_header(req, req_len, "Sec-WebSocket-Key", key, sizeof(key)) < 1)
    return -1;
  taccept(key, acc);
  tbuf_printf(b,
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: %s\r\n%s\r\n",
              acc, extra ? extra : "");
  return 0;
}

/* ---- In-memory pair --------------------------------------------------- */

void tpair_init(struct tpair *p) {
  memset(p, 0, sizeof(*p));
  trec_init(&p->srec);
  trec_init(&p->crec);
  tbuf_init(&p->s2c);
  tbuf_init(&p->c2s);
}

/* Move what from has pending into to; returns the bytes moved. */
static size_t pair_move(struct tpair *p, struct wsp_conn *from,
                        struct wsp_conn *to, struct tbuf *log, int *rc_out) {
  struct tbuf tmp;
  size_t n;
  int rc;
  if (!from)
    return 0;
  tbuf_init(&tmp);
  if (p->write_max)
    n = sink_run(from, &tmp, p->write_max, p->write_max);
  else
    n = sink_drain(from, &tmp, 0);
  if (n && p->capture)
    tbuf_append(log, tmp.data, n);
  if (n && to) {
    rc = feed_chunks(to, tmp.data, n, p->feed_chunk);
    if (rc < 0 && *rc_out == 0)
      *rc_out = rc;
  }
  tbuf_free(&tmp);
  return n;
}

size_t tpair_pump(struct tpair *p) {
  size_t total = 0;
  long i;
  for (i = 0; i < 10000000L; i++) {
    size_t moved = pair_move(p, p->srv, p->cli, &p->s2c, &p->cli_rc);
    moved += pair_move(p, p->cli, p->srv, &p->c2s, &p->srv_rc);
    if (!moved)
      break;
    total += moved;
  }
  return total;
}

int tpair_open(struct tpair *p, const struct wsp_mem *smem,
               const struct wsp_mem *cmem) {
  struct wsp_conn_callbacks scb = trec_callbacks(&p->srec);
  struct wsp_conn_callbacks ccb = trec_callbacks(&p->crec);
  int rc;
  rc = wsp_conn_new(&p->srv, WSP_ROLE_SERVER, &scb, smem, 0, &p->srec);
  if (rc < 0)
    return rc;
  rc = wsp_conn_new(&p->cli, WSP_ROLE_CLIENT, &ccb, cmem, 0, &p->crec);
  if (rc < 0)
    return rc;
  rc = wsp_conn_client_start(p->cli, "127.0.0.1:9001", "/echo", NULL);
  if (rc < 0)
    return rc;
  tpair_pump(p);
  if (wsp_conn_get_state(p->srv) != WSP_STATE_OPEN ||
      wsp_conn_get_state(p->cli) != WSP_STATE_OPEN)
    return -1;
  return 0;
}

void tpair_free(struct tpair *p) {
  wsp_conn_free(p->srv);
  wsp_conn_free(p->cli);
  p->srv = p->cli = NULL;
  trec_free(&p->srec);
  trec_free(&p->crec);
  tbuf_free(&p->s2c);
  tbuf_free(&p->c2s);
}

/* ---- Failing allocator ------------------------------------------------ */

/* Each block carries a header so that frees of foreign pointers and the
 * live byte count can be checked. */
#define TF_MAGIC 0x7773707466616c6cULL
#define TF_HDR 16

static int tf_should_fail(struct tfail *f) {
  if (f->fail_at <= 0)
    return 0;
  return f->calls == f->fail_at || (f->sticky && f->calls >= f->fail_at);
}

static int tf_ours(const void *ptr) {
  uint64_t magic;
  memcpy(&magic, (const uint8_t *)ptr - TF_HDR, sizeof(magic));
  return magic == TF_MAGIC;
}

static void *tf_malloc(size_t size, void *ud) {
  struct tfail *f = ud;
  uint8_t *h;
  uint64_t magic = TF_MAGIC, sz = size;
  f->calls++;
  if (tf_should_fail(f)) {
    f->failures++;
    return NULL;
  }
  h = malloc(TF_HDR + size);
  if (!h)
    return NULL;
  memcpy(h, &magic, 8);
  memcpy(h + 8, &sz, 8);
  f->live++;
  f->live_bytes += size;
  if (f->live_bytes > f->peak_bytes)
    f->peak_bytes = f->live_bytes;
  return h + TF_HDR;
}

static void *tf_realloc(void *ptr, size_t size, void *ud) {
  struct tfail *f = ud;
  uint8_t *h, *nh;
  uint64_t old, sz = size;
  if (!ptr)
    return tf_malloc(size, ud);
  if (!tf_ours(ptr)) {
    f->bad_frees++;
    return NULL;
  }
  f->calls++;
  if (tf_should_fail(f)) {
    f->failures++;
    return NULL;
  }
  h = (uint8_t *)ptr - TF_HDR;
  memcpy(&old, h + 8, 8);
  nh = realloc(h, TF_HDR + size);
  if (!nh)
    return NULL;
  memcpy(nh + 8, &sz, 8);
  f->live_bytes = f->live_bytes - (size_t)old + size;
  if (f->live_bytes > f->peak_bytes)
    f->peak_bytes = f->live_bytes;
  return nh + TF_HDR;
}

static void tf_free(void *ptr, void *ud) {
  struct tfail *f = ud;
  uint8_t *h;
  uint64_t sz, zero = 0;
  if (!ptr)
    return;
  if (!tf_ours(ptr)) {
    f->bad_frees++;
    return;
  }
  h = (uint8_t *)ptr - TF_HDR;
  memcpy(&sz, h + 8, 8);
  memcpy(h, &zero, 8); /* a second free of this block is then caught */
  f->live--;
  f->live_bytes -= (size_t)sz;
  free(h);
}

void tfail_init(struct tfail *f, long fail_at, int sticky) {
  memset(f, 0, sizeof(*f));
  f->fail_at = fail_at;
  f->sticky = sticky;
  f->mem.malloc = tf_malloc;
  f->mem.realloc = tf_realloc;
  f->mem.free = tf_free;
  f->mem.user_data = f;
}

/* ---- JSONTestSuite corpus -------------------------------------------- */

static char *t_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0, got;
  if (!f)
    return NULL;
  do {
    if (n == cap) {
      char *nb = realloc(buf, cap ? cap * 2 : 4096);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
      cap = cap ? cap * 2 : 4096;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  fclose(f);
  *len = n;
  return buf;
}

void t_corpus_each(const char *dir, char kind,
                   int (*fn)(const char *name, const char *text, size_t len,
                             void *ud),
                   void *ud) {
  DIR *d;
  struct dirent *de;
  char path[4096];
  int bad = 0;
  long files = 0;
  if (!dir)
    fail_msg("no JSONTestSuite directory: pass it as argv[1] or set "
             "WSP_JSONTESTSUITE");
  d = opendir(dir);
  if (!d)
    fail_msg("cannot open the JSONTestSuite directory %s", dir);
  while ((de = readdir(d)) != NULL) {
    size_t len = 0;
    char *text;
    if (de->d_name[0] != kind || de->d_name[1] != '_')
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    text = t_read_file(path, &len);
    T_CHECK(bad, de->d_name, text != NULL);
    if (!text)
      continue;
    files++;
    bad += fn(de->d_name, text, len, ud) != 0;
    free(text);
  }
  closedir(d);
  assert_true(files > 0);
  assert_int_equal(bad, 0);
}

/* ---- Misc ------------------------------------------------------------- */

int t_is_wsp_rc(int rc) {
  if (rc == 0)
    return 1;
#define T_ERR_CASE(name, value, fatal, msg)                                    \
  if (rc == (value))                                                           \
    return 1;
  WSP_ERRNO_MAP(T_ERR_CASE)
#undef T_ERR_CASE
  return 0;
}

uint8_t *t_payload(size_t len, unsigned seed) {
  uint8_t *p = malloc(len ? len : 1);
  uint32_t x = seed * 2654435761u + 1;
  size_t i;
  assert_non_null(p);
  for (i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
  return p;
}

/* ---- Hub tests ------------------------------------------------------- */

static uint8_t thub_tmp[1 << 20];

/* Copy the leading iovecs that fit into thub_tmp; returns the bytes. */
static size_t thub_gather(const struct iovec *iov, int n) {
  size_t t = 0;
  int i;
  for (i = 0; i < n && t + iov[i].iov_len <= sizeof(thub_tmp); i++) {
    memcpy(thub_tmp + t, iov[i].iov_base, iov[i].iov_len);
    t += iov[i].iov_len;
  }
  return t;
}

size_t thub_up(struct wsp_conn *cc, struct wsp_client *sc) {
  struct iovec iov[64];
  size_t t = thub_gather(iov, wsp_conn_pending(cc, iov, 64));
  if (t) {
    assert_int_equal(wsp_conn_sent(cc, t), 0);
    if (sc)
      wsp_client_recv(sc, thub_tmp, t);
  }
  return t;
}

size_t thub_down(struct wsp_client *sc, struct wsp_conn *cc) {
  struct iovec iov[64];
  size_t t;
  if (!sc)
    return 0;
  t = thub_gather(iov, wsp_client_pending(sc, iov, 64));
  if (t) {
    assert_int_equal(wsp_client_sent(sc, t), 0);
    wsp_conn_recv(cc, thub_tmp, t);
  }
  return t;
}

void thub_check_lines(const uint8_t *d, size_t n) {
  const char *p = (const char *)d, *end = p + n;
  size_t off;
  for (;;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = (size_t)((nl ? nl : end) - p);
    if (len == 0 || *p != '{' ||
        wsp__json_validate(p, len, WSP__JSON_MAX_DEPTH, &off) != 0) {
      print_error("not one JSON object per line: \"%.*s\"\n", (int)len, p);
      fail();
    }
    if (!nl)
      return;
    p = nl + 1;
  }
}

void thub_expect_at(struct thub_cli *k, const char *want, const char *file,
                    int line) {
  const char *got = thub_lines(k);
  if (strcmp(got, want) != 0) {
    print_error("%s:%d: received\n%s\nexpected\n%s\n", file, line, got, want);
    fail();
  }
  tbuf_reset(&k->lines);
}

static void thub_on_message(struct wsp_conn *c, int op, const uint8_t *d,
                            size_t n, void *ud) {
  struct thub_cli *k = ud;
  (void)c;
  (void)op;
  thub_check_lines(d, n);
  tbuf_append(&k->lines, d, n);
  tbuf_append(&k->lines, "\n", 1);
}

static void thub_on_close(struct wsp_conn *c, int code, const uint8_t *r,
                          size_t n, void *ud) {
  struct thub_cli *k = ud;
  (void)c;
  (void)r;
  (void)n;
  k->close_code = code;
}

void thub_cli_open(struct thub_cli *k, struct wsp_server *srv) {
  thub_cli_open_deflate(k, srv, 0);
}

void thub_cli_open_deflate(struct thub_cli *k, struct wsp_server *srv,
                           int deflate) {
  struct wsp_conn_callbacks ccb;
  memset(k, 0, sizeof(*k));
  tbuf_init(&k->lines);
  assert_int_equal(wsp_server_accept(srv, k, &k->sc), 0);
  memset(&ccb, 0, sizeof(ccb));
  ccb.on_message = thub_on_message;
  ccb.on_close = thub_on_close;
  assert_int_equal(wsp_conn_new(&k->cc, WSP_ROLE_CLIENT, &ccb, NULL, 0, k),
                   0);
  if (deflate)
    assert_int_equal(wsp_conn_set_deflate(k->cc, WSP_DEFLATE_ENABLE, 1), 0);
  assert_int_equal(
      wsp_conn_client_start(k->cc, "t", "/connection/websocket", NULL), 0);
  thub_pump(k, 1);
}

void thub_cli_free(struct thub_cli *k) {
  wsp_client_free(k->sc);
  wsp_conn_free(k->cc);
  tbuf_free(&k->lines);
  k->sc = NULL;
  k->cc = NULL;
}

void thub_pump(struct thub_cli *c, int n) {
  int round, i;
  for (round = 0; round < 400; round++) {
    size_t moved = 0;
    for (i = 0; i < n; i++) {
      if (!c[i].sc)
        continue;
      moved += thub_up(c[i].cc, c[i].sc);
      if (!c[i].paused)
        moved += thub_down(c[i].sc, c[i].cc);
    }
    if (moved == 0)
      return;
  }
}

void thub_say(struct thub_cli *c, int n, int i, const char *text) {
  assert_int_equal(wsp_conn_send(c[i].cc, WSP_OP_TEXT, text, strlen(text)),
                   0);
  thub_pump(c, n);
}

const char *thub_lines(struct thub_cli *k) {
  tbuf_append(&k->lines, "", 1);
  k->lines.len--;
  return (const char *)k->lines.data;
}

const char *thub_client_reply(char *out, size_t cap, unsigned id,
                              const char *cmd, const char *client,
                              const char *rest_fmt, ...) {
  va_list ap;
  int n = snprintf(out, cap,
                   "{\"id\":%u,\"%s\":{\"client\":\"%s\",\"version\":"
                   "\"" WSP_VERSION_STRING "\"",
                   id, cmd, client);
  assert_true(n > 0 && (size_t)n < cap);
  va_start(ap, rest_fmt);
  n += vsnprintf(out + n, cap - (size_t)n, rest_fmt, ap);
  va_end(ap);
  assert_true((size_t)n < cap);
  return out;
}

void thub_clear(struct thub_cli *c, int n) {
  int i;
  for (i = 0; i < n; i++)
    tbuf_reset(&c[i].lines);
}
