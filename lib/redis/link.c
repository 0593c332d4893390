/*
 * The links of the Redis engine (wsp_redis(3)): RESP2 over the two
 * connections the application owns. No I/O here: bytes read come in
 * through wsp_redis_recv(), output leaves as iovecs (wsp_redis_pending,
 * wsp_redis_sent) and time through wsp_redis_tick().
 *
 * Each link keeps one FIFO of commands, each a small block owning its
 * RESP bytes: first the commands sent and awaiting their replies, then
 * those not (fully) written yet, from `unsent` on. Redis answers in
 * order, so a reply completes the head. Deadlines are queue time plus
 * one timeout on a clock that never goes back, so they are in FIFO
 * order too: the head's is the link's earliest, and timeouts and
 * next_deadline are O(1) per command.
 *
 * Replies are read by hiredis's reader with our own object functions,
 * which build struct wsp__rreply trees with the engine's allocator.
 * hiredis 0.14's reader buffers the bytes it was fed in an sds string of
 * its own, allocated with the C library's malloc (it has no allocator
 * hooks before 1.0), and gives that buffer back when it is empty and has
 * more than maxbuf (16 KiB, REDIS_READER_MAX_BUF) unused. What one reply
 * may hold is not capped here: Redis bounds a bulk string
 * (proto-max-bulk-len, 512 MiB), not an array; the reader holds at most
 * the one reply being read, since recv takes every complete reply out.
 */
#include <string.h>

#include <hiredis/read.h>

#include "redis/redis_private.h"

#define DEFAULT_PREFIX "wsp"
#define DEFAULT_PROBE_INTERVAL 2000
#define DEFAULT_TIMEOUT 5000
#define DEFAULT_MAX_BUFFERED ((size_t)16 << 20)
#define NODE_MAX 64
#define NODE_RANDOM_BYTES 8 /* 16 hex digits */

/* ---- RESP2 ------------------------------------------------------------ */

#define LIT_LEN(lit) (sizeof(lit) - 1)
#define RESP_CRLF "\r\n"
#define RESP_ARRAY '*'
#define RESP_BULK '$'
#define RESP_PING "PING"
/* The largest "*N\r\n" or "$N\r\n" head: a type byte, 20 digits, CRLF. */
#define RESP_HEAD_MAX (1 + 20 + LIT_LEN(RESP_CRLF))

/* The PUB/SUB pushes (RESP2 arrays whose first element names them) and
 * their number of elements: X(kind, elements). */
#define RESP_PUSH_MAP(X)                                                       \
  X("message", 3)                                                              \
  X("pmessage", 4)                                                             \
  X("smessage", 3)

/* ---- State ------------------------------------------------------------ */

struct rcmd {
  struct rcmd *next;
  wsp__redis_done_fn *done;
  void *ud;
  uint64_t deadline;
  size_t len;  /* of data */
  int probe;   /* our own PING: no done, counted in no command counter */
  char data[]; /* RESP bytes */
};

struct wsp__rlink {
  redisReader *reader; /* while up; a new one for each connection */
  struct rcmd *head, *tail;
  struct rcmd *unsent; /* first command not fully written, or NULL */
  size_t off;          /* bytes of *unsent written */
  size_t buffered;     /* bytes of every command held, sent or not */
  uint64_t probe_at;   /* when the link, up and idle, is probed */
  unsigned gen;        /* changes at every up and down */
  int up;
  int going_down; /* failing its sent commands: no link_up meanwhile */
};

/* The object and its two links in one allocation. */
struct redis_block {
  struct wsp_redis r;
  struct wsp__rlink links[WSP_REDIS_LINKS];
};

static struct wsp__rlink *link_of(const struct wsp_redis *r, int link) {
  if (!r || link < 0 || link >= WSP_REDIS_LINKS)
    return NULL;
  return r->links[link];
}

/* ---- Replies: hiredis's reader builds wsp__rreply trees --------------- */

/* A reply and the allocator that frees it: hiredis 0.14's freeObject
 * gets the object alone. A string's bytes or an array's element
 * pointers follow the node in the same block. */
struct rnode {
  const struct wsp_mem *mem;
  struct wsp__rreply r;
};

/* Where a node's string or element pointers are. */
static void *node_tail(struct wsp__rreply *reply) {
  return WSP__CONTAINER_OF(reply, struct rnode, r) + 1;
}

static void reply_free(struct wsp__rreply *reply) {
  struct rnode *node;
  if (!reply)
    return;
  node = WSP__CONTAINER_OF(reply, struct rnode, r);
  if (reply->type == WSP__RR_ARRAY)
    for (size_t i = 0; i < reply->n; i++)
      reply_free(reply->elem[i]); /* hiredis nests at most 7 deep */
  wsp__free(node->mem, node);
}

static void rr_free_object(void *obj) { reply_free(obj); }

/* A new node of type with extra bytes after it, attached to its parent
 * array. While an array is read, n counts the elements attached so far
 * (hiredis fills them in order), so that a reply cut short by an error
 * frees only what exists; n is the array's length once it is complete. */
static struct wsp__rreply *rr_node(const redisReadTask *task, int type,
                                   size_t extra) {
  const struct wsp_mem *mem = task->privdata;
  struct rnode *node;
  if (extra > SIZE_MAX - sizeof *node)
    return NULL;
  node = wsp__malloc(mem, sizeof *node + extra);
  if (!node)
    return NULL; /* hiredis takes NULL for out of memory */
  memset(node, 0, sizeof *node);
  node->mem = mem;
  node->r.type = type;
  if (task->parent) {
    struct wsp__rreply *parent = task->parent->obj;
    parent->elem[task->idx] = &node->r;
    parent->n = (size_t)task->idx + 1;
  }
  return &node->r;
}

static void *rr_string(const redisReadTask *task, char *str, size_t len) {
  int type = task->type == REDIS_REPLY_ERROR    ? WSP__RR_ERROR
             : task->type == REDIS_REPLY_STATUS ? WSP__RR_STATUS
                                                : WSP__RR_STRING;
  struct wsp__rreply *reply;
  if (len == SIZE_MAX)
    return NULL;
  reply = rr_node(task, type, len + 1);
  if (!reply)
    return NULL;
  reply->str = node_tail(reply);
  memcpy(reply->str, str, len);
  reply->str[len] = '\0';
  reply->len = len;
  return reply;
}

static void *rr_array(const redisReadTask *task, int elements) {
  size_t n = elements > 0 ? (size_t)elements : 0;
  struct wsp__rreply *reply;
  if (n > SIZE_MAX / sizeof *reply->elem)
    return NULL;
  reply = rr_node(task, WSP__RR_ARRAY, n * sizeof *reply->elem);
  if (reply && n)
    reply->elem = node_tail(reply);
  return reply;
}

static void *rr_integer(const redisReadTask *task, long long value) {
  struct wsp__rreply *reply = rr_node(task, WSP__RR_INTEGER, 0);
  if (reply)
    reply->integer = value;
  return reply;
}

/* $-1 and *-1 alike. */
static void *rr_nil(const redisReadTask *task) {
  return rr_node(task, WSP__RR_NIL, 0);
}

static redisReplyObjectFunctions rr_functions = {
    rr_string, rr_array, rr_integer, rr_nil, rr_free_object,
};

/* 1: a PUB/SUB push ("message", "pmessage", "smessage" with the right
 * number of bulk strings); 0: not one; -1: named so but malformed. */
static int reply_is_push(const struct wsp__rreply *reply) {
  static const struct {
    const char *kind;
    size_t len, n;
  } pushes[] = {
#define PUSH_ENTRY(kind, n) {kind, LIT_LEN(kind), n},
      RESP_PUSH_MAP(PUSH_ENTRY)
#undef PUSH_ENTRY
  };
  const struct wsp__rreply *k;
  if (reply->type != WSP__RR_ARRAY || reply->n == 0)
    return 0;
  k = reply->elem[0];
  if (k->type != WSP__RR_STRING)
    return 0;
  for (size_t i = 0; i < sizeof pushes / sizeof pushes[0]; i++) {
    if (k->len != pushes[i].len || memcmp(k->str, pushes[i].kind, k->len))
      continue;
    if (reply->n != pushes[i].n)
      return -1;
    for (size_t j = 1; j < reply->n; j++)
      if (reply->elem[j]->type != WSP__RR_STRING)
        return -1;
    return 1;
  }
  return 0;
}

/* ---- Commands --------------------------------------------------------- */

static size_t dec_len(size_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

/* "*N\r\n" or "$N\r\n" */
static char *put_head(char *p, char type, size_t v) {
  char digits[20];
  size_t n = 0;
  *p++ = type;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *p++ = digits[--n];
  memcpy(p, RESP_CRLF, LIT_LEN(RESP_CRLF));
  return p + LIT_LEN(RESP_CRLF);
}

/* The callbacks: counted so that recv and tick know they are nested. */
#define CALLBACK(r, call)                                                      \
  do {                                                                         \
    (r)->depth++;                                                              \
    call;                                                                      \
    (r)->depth--;                                                              \
  } while (0)

static void want_write(struct wsp_redis *r, int link) {
  if (r->cb.on_want_write)
    CALLBACK(r, r->cb.on_want_write(r, link, r->user_data));
}

/* Take c, the head, off the FIFO. */
static void fifo_pop(struct wsp__rlink *l, struct rcmd *c) {
  l->head = c->next;
  if (!l->head)
    l->tail = NULL;
  if (l->unsent == c) {
    l->unsent = c->next;
    l->off = 0;
  }
}

/* The end of a command that left the FIFO: its done, then its memory. */
static void cmd_finish(struct wsp_redis *r, struct wsp__rlink *l,
                       struct rcmd *c, const struct wsp__rreply *reply,
                       int err) {
  l->buffered -= c->len;
  if (!c->probe) {
    if (reply) {
      r->stats.replies++;
      if (reply->type == WSP__RR_ERROR)
        r->stats.errors++;
    } else {
      r->stats.failed++;
    }
  }
  if (c->done)
    CALLBACK(r, c->done(r, reply, err, c->ud));
  wsp__free(&r->mem, c);
}

static int cmd_queue(struct wsp_redis *r, int link, int argc,
                     const char *const *argv, const size_t *argvlen,
                     wsp__redis_done_fn *done, void *ud, int probe) {
  struct wsp__rlink *l = r->links[link];
  size_t size = 1 + dec_len((size_t)argc) + LIT_LEN(RESP_CRLF);
  size_t max = r->max_buffered;
  struct rcmd *c;
  char *p;
  for (int i = 0; i < argc; i++) {
    size_t len;
    if (!argv[i] && (!argvlen || argvlen[i]))
      return WSP_ERR_INVAL;
    len = argvlen ? argvlen[i] : strlen(argv[i]);
    if (len > SIZE_MAX - size - RESP_HEAD_MAX - LIT_LEN(RESP_CRLF))
      return WSP_ERR_LIMIT;
    size += 1 + dec_len(len) + LIT_LEN(RESP_CRLF) + len + LIT_LEN(RESP_CRLF);
  }
  /* The probe, sent only on an empty link, is never refused. */
  if (!probe && (l->buffered > max || size > max - l->buffered)) {
    r->stats.failed++;
    return WSP_ERR_LIMIT;
  }
  if (size > SIZE_MAX - sizeof *c ||
      !(c = wsp__malloc(&r->mem, sizeof *c + size))) {
    if (!probe)
      r->stats.failed++;
    return WSP_ERR_NOMEM;
  }
  p = put_head(c->data, RESP_ARRAY, (size_t)argc);
  for (int i = 0; i < argc; i++) {
    size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
    p = put_head(p, RESP_BULK, len);
    if (len)
      memcpy(p, argv[i], len);
    p += len;
    memcpy(p, RESP_CRLF, LIT_LEN(RESP_CRLF));
    p += LIT_LEN(RESP_CRLF);
  }
  c->next = NULL;
  c->done = done;
  c->ud = ud;
  c->deadline = wsp__add_sat(r->now, r->timeout);
  c->len = size;
  c->probe = probe;
  l->buffered += size;
  if (l->tail)
    l->tail->next = c;
  else
    l->head = c;
  l->tail = c;
  if (!probe)
    r->stats.commands++;
  if (!l->unsent) {
    l->unsent = c;
    l->off = 0;
    if (l->up)
      want_write(r, link);
  }
  return 0;
}

int wsp__redis_command(struct wsp_redis *r, int link, int argc,
                       const char *const *argv, const size_t *argvlen,
                       wsp__redis_done_fn *done, void *ud) {
  if (!link_of(r, link) || argc < 1 || !argv)
    return WSP_ERR_INVAL;
  if (r->freeing)
    return WSP_ERR_STATE;
  return cmd_queue(r, link, argc, argv, argvlen, done, ud, 0);
}

uint64_t wsp__redis_now(const struct wsp_redis *r) { return r->now; }

/* ---- Going down ------------------------------------------------------- */

/*
 * The link goes down: the commands sent on it and not answered fail,
 * the first with head_err and the others with WSP_ERR_CLOSED; a command
 * written in part goes back to the unsent ones, whole (Redis dropped
 * the part it had with the connection, so it never ran). Then the
 * engine hears it, and with reset the application too.
 */
static void link_drop(struct wsp_redis *r, int link, int head_err, int reset) {
  struct wsp__rlink *l = r->links[link];
  struct rcmd *sent = NULL, *c;
  int err = head_err;
  if (l->head != l->unsent) {
    sent = l->head;
    for (c = sent; c->next != l->unsent; c = c->next)
      ;
    c->next = NULL;
    l->head = l->unsent;
    if (!l->head)
      l->tail = NULL;
  }
  l->off = 0;
  l->up = 0;
  l->gen++;
  l->going_down = 1;
  redisReaderFree(l->reader); /* frees a reply read in part */
  l->reader = NULL;
  if (reset)
    r->stats.resets++;
  while ((c = sent)) {
    sent = c->next;
    cmd_finish(r, l, c, NULL, err);
    err = WSP_ERR_CLOSED;
  }
  l->going_down = 0;
  if (r->on_link)
    CALLBACK(r, r->on_link(r, link, 0));
  if (reset && r->cb.on_link_reset)
    CALLBACK(r, r->cb.on_link_reset(r, link, r->user_data));
}

/* ---- The object ------------------------------------------------------- */

static int check_prefix(const char *s) {
  for (; *s; s++)
    if (*s == ' ' || *s == '\r' || *s == '\n')
      return WSP_ERR_INVAL;
  return 0;
}

static int check_node(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NODE_MAX)
    return WSP_ERR_INVAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
      return WSP_ERR_INVAL;
  return 0;
}

static int check_config(const struct wsp_redis_config *cfg) {
  if (!cfg)
    return 0;
  for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
    if (cfg->reserved[i])
      return WSP_ERR_INVAL;
  if (cfg->prefix && check_prefix(cfg->prefix) < 0)
    return WSP_ERR_INVAL;
  if (cfg->node && check_node(cfg->node) < 0)
    return WSP_ERR_INVAL;
  return 0;
}

static int random_node(struct wsp_redis *r) {
  static const char hex[] = "0123456789abcdef";
  uint8_t raw[NODE_RANDOM_BYTES];
  int rc = wsp__random(&r->mem, raw, sizeof raw);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < sizeof raw; i++) {
    r->node[2 * i] = hex[raw[i] >> 4];
    r->node[2 * i + 1] = hex[raw[i] & 0xf];
  }
  r->node[2 * sizeof raw] = '\0';
  return 0;
}

int wsp_redis_new(struct wsp_redis **predis, const struct wsp_redis_config *cfg,
                  const struct wsp_redis_callbacks *callbacks,
                  const struct wsp_mem *mem, uint64_t now, void *user_data) {
  struct wsp_mem m;
  struct redis_block *b;
  struct wsp_redis *r;
  const char *prefix;
  int rc;
  if (!predis)
    return WSP_ERR_INVAL;
  *predis = NULL;
  if ((rc = check_config(cfg)) < 0)
    return rc;
  wsp__mem_init(&m, mem);
  b = wsp__malloc(&m, sizeof *b);
  if (!b)
    return WSP_ERR_NOMEM;
  memset(b, 0, sizeof *b);
  r = &b->r;
  r->mem = m;
  if (callbacks)
    r->cb = *callbacks;
  r->user_data = user_data;
  r->now = now;
  for (int i = 0; i < WSP_REDIS_LINKS; i++)
    r->links[i] = &b->links[i];
  r->probe_interval =
      cfg && cfg->probe_interval ? cfg->probe_interval : DEFAULT_PROBE_INTERVAL;
  r->timeout = cfg && cfg->timeout ? cfg->timeout : DEFAULT_TIMEOUT;
  r->max_buffered =
      cfg && cfg->max_buffered ? cfg->max_buffered : DEFAULT_MAX_BUFFERED;
  prefix = cfg && cfg->prefix ? cfg->prefix : DEFAULT_PREFIX;
  r->prefix_len = strlen(prefix);
  r->prefix = wsp__strndup(&r->mem, prefix, r->prefix_len);
  if (!r->prefix) {
    wsp__free(&m, b);
    return WSP_ERR_NOMEM;
  }
  if (cfg && cfg->node) {
    memcpy(r->node, cfg->node, strlen(cfg->node) + 1);
  } else if ((rc = random_node(r)) < 0) {
    wsp__free(&m, r->prefix);
    wsp__free(&m, b);
    return rc;
  }
  *predis = r;
  return 0;
}

void wsp_redis_free(struct wsp_redis *r) {
  struct wsp_mem m;
  if (!r)
    return;
  r->freeing = 1;
  for (int i = 0; i < WSP_REDIS_LINKS; i++) {
    struct wsp__rlink *l = r->links[i];
    struct rcmd *c;
    l->up = 0;
    l->gen++;
    redisReaderFree(l->reader);
    l->reader = NULL;
    while ((c = l->head)) {
      fifo_pop(l, c);
      cmd_finish(r, l, c, NULL, WSP_ERR_CLOSED);
    }
  }
  if (r->eng_free)
    r->eng_free(r);
  m = r->mem;
  wsp__free(&m, r->prefix);
  wsp__free(&m, WSP__CONTAINER_OF(r, struct redis_block, r));
}

/* ---- Links ------------------------------------------------------------ */

int wsp_redis_link_up(struct wsp_redis *r, int link) {
  struct wsp__rlink *l = link_of(r, link);
  redisReader *reader;
  unsigned gen;
  int waiting;
  if (!l)
    return WSP_ERR_INVAL;
  if (r->freeing || l->up)
    return WSP_ERR_STATE;
  if (l->going_down)
    return WSP_ERR_RECURSIVE;
  reader = redisReaderCreateWithFunctions(&rr_functions);
  if (!reader)
    return WSP_ERR_NOMEM;
  reader->privdata = &r->mem;
  waiting = l->unsent != NULL;
  l->reader = reader;
  l->up = 1;
  gen = ++l->gen;
  l->off = 0;
  l->probe_at = wsp__add_sat(r->now, r->probe_interval);
  r->stats.links_up++;
  /* The engine first (it may queue its subscriptions: a command queued
   * on an empty link announces itself), then the output that waited. */
  if (r->on_link)
    CALLBACK(r, r->on_link(r, link, 1));
  if (waiting && l->gen == gen)
    want_write(r, link);
  return 0;
}

int wsp_redis_link_down(struct wsp_redis *r, int link) {
  struct wsp__rlink *l = link_of(r, link);
  if (!l)
    return WSP_ERR_INVAL;
  if (r->freeing)
    return WSP_ERR_STATE;
  if (l->up)
    link_drop(r, link, WSP_ERR_CLOSED, 0);
  return 0;
}

int wsp_redis_is_up(const struct wsp_redis *r, int link) {
  const struct wsp__rlink *l = link_of(r, link);
  return l && l->up;
}

/* One reply read on link: a PUB/SUB push, or the head's reply. */
static int dispatch(struct wsp_redis *r, int link,
                    const struct wsp__rreply *reply) {
  struct wsp__rlink *l = r->links[link];
  struct rcmd *c = l->head;
  if (link == WSP_REDIS_SUB) {
    int push = reply_is_push(reply);
    if (push < 0) {
      link_drop(r, link, WSP_ERR_CLOSED, 1);
      return WSP_ERR_PROTO;
    }
    if (push) {
      r->stats.messages++;
      if (r->on_message)
        CALLBACK(r, r->on_message(r, reply));
      return 0;
    }
  }
  if (!c || c == l->unsent) {
    /* A reply to nothing we sent: the stream cannot be matched. */
    link_drop(r, link, WSP_ERR_CLOSED, 1);
    return WSP_ERR_PROTO;
  }
  fifo_pop(l, c);
  cmd_finish(r, l, c, reply, 0);
  return 0;
}

int wsp_redis_recv(struct wsp_redis *r, int link, const void *data,
                   size_t len) {
  struct wsp__rlink *l = link_of(r, link);
  unsigned gen;
  if (!l || (!data && len))
    return WSP_ERR_INVAL;
  if (r->depth)
    return WSP_ERR_RECURSIVE;
  if (!l->up)
    return WSP_ERR_STATE;
  if (len == 0)
    return 0;
  r->stats.bytes_in += len;
  l->probe_at = wsp__add_sat(r->now, r->probe_interval);
  gen = l->gen;
  if (redisReaderFeed(l->reader, data, len) != REDIS_OK) {
    link_drop(r, link, WSP_ERR_NOMEM, 1);
    return WSP_ERR_NOMEM;
  }
  for (;;) {
    void *obj = NULL;
    int rc;
    if (redisReaderGetReply(l->reader, &obj) != REDIS_OK) {
      /* Bytes RESP does not allow, or a reply we could not allocate
       * (the command waiting for it hears WSP_ERR_NOMEM). */
      int oom = l->reader->err == REDIS_ERR_OOM;
      link_drop(r, link, oom ? WSP_ERR_NOMEM : WSP_ERR_CLOSED, 1);
      return oom ? WSP_ERR_NOMEM : WSP_ERR_PROTO;
    }
    if (!obj)
      return 0;
    rc = dispatch(r, link, obj);
    reply_free(obj);
    if (rc < 0)
      return rc;
    if (l->gen != gen)
      return 0; /* a callback took the link down: the rest is stale */
  }
}

int wsp_redis_pending(const struct wsp_redis *r, int link, struct iovec *iov,
                      int iovcnt) {
  const struct wsp__rlink *l = link_of(r, link);
  const struct rcmd *c;
  size_t off;
  int n = 0;
  if (!l || iovcnt < 0 || (!iov && iovcnt > 0))
    return WSP_ERR_INVAL;
  if (!l->up)
    return 0;
  for (c = l->unsent, off = l->off; c && n < iovcnt; c = c->next, off = 0) {
    iov[n].iov_base = (void *)(c->data + off);
    iov[n].iov_len = c->len - off;
    n++;
  }
  return n;
}

int wsp_redis_sent(struct wsp_redis *r, int link, size_t n) {
  struct wsp__rlink *l = link_of(r, link);
  const struct rcmd *c;
  size_t left = n, off;
  if (!l)
    return WSP_ERR_INVAL;
  if (n == 0)
    return 0;
  if (!l->up)
    return WSP_ERR_STATE;
  for (c = l->unsent, off = l->off; c && left > c->len - off;
       c = c->next, off = 0)
    left -= c->len - off;
  if (!c)
    return WSP_ERR_INVAL; /* more than was pending */
  r->stats.bytes_out += n;
  while (n) {
    size_t rest = l->unsent->len - l->off;
    if (n < rest) {
      l->off += n;
      break;
    }
    n -= rest;
    l->unsent = l->unsent->next;
    l->off = 0;
  }
  return 0;
}

int wsp_redis_want_write(const struct wsp_redis *r, int link) {
  const struct wsp__rlink *l = link_of(r, link);
  return l && l->up && l->unsent;
}

/* ---- Time ------------------------------------------------------------- */

int wsp_redis_tick(struct wsp_redis *r, uint64_t now) {
  int rc = 0;
  if (!r)
    return WSP_ERR_INVAL;
  if (r->depth)
    return WSP_ERR_RECURSIVE;
  if (now > r->now)
    r->now = now; /* never back: deadlines stay in FIFO order */
  now = r->now;
  for (int i = 0; i < WSP_REDIS_LINKS; i++) {
    struct wsp__rlink *l = r->links[i];
    struct rcmd *c;
    while ((c = l->head) && c->deadline <= now) {
      if (l->up && (c != l->unsent || l->off > 0)) {
        /* Sent and unanswered: the replies can no longer be matched. */
        link_drop(r, i, WSP_ERR_TIMEOUT, 1);
        continue;
      }
      fifo_pop(l, c);
      cmd_finish(r, l, c, NULL, WSP_ERR_TIMEOUT);
    }
  }
  for (int i = 0; i < WSP_REDIS_LINKS; i++) {
    struct wsp__rlink *l = r->links[i];
    static const char *const ping[] = {RESP_PING};
    static const size_t ping_len[] = {LIT_LEN(RESP_PING)};
    if (!l->up || l->head || now < l->probe_at)
      continue;
    l->probe_at = wsp__add_sat(now, r->probe_interval);
    if (cmd_queue(r, i, 1, ping, ping_len, NULL, NULL, 1) < 0)
      rc = WSP_ERR_NOMEM; /* tried again after probe_interval */
  }
  if (r->eng_tick)
    CALLBACK(r, r->eng_tick(r, now));
  return rc;
}

uint64_t wsp_redis_next_deadline(const struct wsp_redis *r) {
  uint64_t next = WSP_NO_DEADLINE;
  if (!r)
    return next;
  for (int i = 0; i < WSP_REDIS_LINKS; i++) {
    const struct wsp__rlink *l = r->links[i];
    uint64_t t = l->head ? l->head->deadline
                 : l->up ? l->probe_at
                         : WSP_NO_DEADLINE;
    next = WSP__MIN(next, t);
  }
  if (r->eng_deadline) {
    uint64_t t = r->eng_deadline(r);
    next = WSP__MIN(next, t);
  }
  return next;
}

/* ---- Introspection ---------------------------------------------------- */

void wsp_redis_get_stats(const struct wsp_redis *r,
                         struct wsp_redis_stats *out) {
  if (!out)
    return;
  if (!r) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = r->stats;
  out->buffered = 0;
  for (int i = 0; i < WSP_REDIS_LINKS; i++)
    out->buffered += r->links[i]->buffered;
}

const char *wsp_redis_get_node(const struct wsp_redis *r) {
  return r ? r->node : NULL;
}
