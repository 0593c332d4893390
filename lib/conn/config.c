/*
 * Making and setting up connections: the configurations they share
 * (allocator, callbacks, limits and permessage-deflate settings, struct
 * wsp__conncfg), profiles, and the public calls that make connections and
 * read or change their settings. Above conn.c, which holds the state
 * machine and frees a configuration with its last connection.
 */
#include <string.h>

#include "conn_private.h"

static const uint64_t limit_defaults[WSP_LIMIT__COUNT] = {
    [WSP_LIMIT_MAX_MESSAGE] = 16u << 20,
    [WSP_LIMIT_MAX_HANDSHAKE] = 8192,
    [WSP_LIMIT_MAX_HTTP_BODY] = 65536,
    [WSP_LIMIT_MAX_QUEUED] = (16u << 20) + (1u << 20),
    [WSP_LIMIT_HIGH_WATER] = 1u << 20,
    [WSP_LIMIT_HANDSHAKE_TIMEOUT] = 10000,
    [WSP_LIMIT_PING_INTERVAL] = 0,
    [WSP_LIMIT_PONG_TIMEOUT] = 10000,
    [WSP_LIMIT_CLOSE_TIMEOUT] = 5000,
    [WSP_LIMIT_QUEUE_LINGER] = 200,
};

/* ---- Configurations ---------------------------------------------------- */

/* A connection made alone: its configuration follows it in one block. */
struct conn_alone {
  struct wsp_conn c;
  struct wsp__conncfg cfg;
};

/* A configuration of one's own, a copy of cfg with one reference. */
static struct wsp__conncfg *cfg_copy(const struct wsp__conncfg *cfg) {
  struct wsp__conncfg *n = wsp__malloc(&cfg->mem, sizeof(*n));
  if (n) {
    *n = *cfg;
    n->refs = 1;
    n->embedded = 0;
    n->zshared = NULL;
  }
  return n;
}

static void cfg_init(struct wsp__conncfg *cfg, const struct wsp_mem *m,
                     const struct wsp_conn_callbacks *callbacks) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->mem = *m;
  if (callbacks)
    cfg->cb = *callbacks;
  memcpy(cfg->limits, limit_defaults, sizeof(cfg->limits));
  wsp__deflate_defaults(cfg->deflate);
  cfg->refs = 1;
}

struct wsp_conn_profile {
  struct wsp__conncfg *cfg; /* the one connections made now will share */
};

/* ---- Public API: life cycle ------------------------------------------- */

static void conn_init(struct wsp_conn *c, struct wsp__conncfg *cfg, int role,
                      uint64_t now, void *user_data) {
  c->cfg = cfg;
  c->user_data = user_data;
  c->role = (uint8_t)role;
  c->state = WSP_STATE_HANDSHAKE;
  c->now = now;
  c->hs_due = role == WSP_ROLE_SERVER
                  ? wsp__conn_due_after(
                        now, c->cfg->limits[WSP_LIMIT_HANDSHAKE_TIMEOUT])
                  : WSP_NO_DEADLINE;
  c->ping_due = c->pong_due = c->close_due = WSP_NO_DEADLINE;
  c->trim_due = WSP_NO_DEADLINE;
}

int wsp_conn_new(struct wsp_conn **pconn, int role,
                 const struct wsp_conn_callbacks *callbacks,
                 const struct wsp_mem *mem, uint64_t now, void *user_data) {
  struct wsp_mem m;
  struct conn_alone *a;
  if (!pconn || (role != WSP_ROLE_SERVER && role != WSP_ROLE_CLIENT))
    return WSP_ERR_INVAL;
  *pconn = NULL;
  wsp__mem_init(&m, mem);
  a = wsp__malloc(&m, sizeof(*a));
  if (!a)
    return WSP_ERR_NOMEM;
  memset(&a->c, 0, sizeof(a->c));
  cfg_init(&a->cfg, &m, callbacks);
  a->cfg.embedded = 1;
  conn_init(&a->c, &a->cfg, role, now, user_data);
  *pconn = &a->c;
  return 0;
}

int wsp_conn_new_from(struct wsp_conn **pconn,
                      const struct wsp_conn_profile *profile, int role,
                      uint64_t now, void *user_data) {
  struct wsp_conn *c;
  if (!pconn || !profile ||
      (role != WSP_ROLE_SERVER && role != WSP_ROLE_CLIENT))
    return WSP_ERR_INVAL;
  *pconn = NULL;
  c = wsp__malloc(&profile->cfg->mem, sizeof(*c));
  if (!c)
    return WSP_ERR_NOMEM;
  memset(c, 0, sizeof(*c));
  profile->cfg->refs++;
  conn_init(c, profile->cfg, role, now, user_data);
  *pconn = c;
  return 0;
}

int wsp_conn_profile_new(struct wsp_conn_profile **pprofile,
                         const struct wsp_conn_callbacks *callbacks,
                         const struct wsp_mem *mem) {
  struct wsp_mem m;
  struct wsp_conn_profile *p;
  if (!pprofile)
    return WSP_ERR_INVAL;
  *pprofile = NULL;
  wsp__mem_init(&m, mem);
  p = wsp__malloc(&m, sizeof(*p));
  if (!p)
    return WSP_ERR_NOMEM;
  p->cfg = wsp__malloc(&m, sizeof(*p->cfg));
  if (!p->cfg) {
    wsp__free(&m, p);
    return WSP_ERR_NOMEM;
  }
  cfg_init(p->cfg, &m, callbacks);
  *pprofile = p;
  return 0;
}

void wsp_conn_profile_free(struct wsp_conn_profile *p) {
  struct wsp_mem m;
  if (!p)
    return;
  m = p->cfg->mem;
  wsp__conn_cfg_unref(p->cfg); /* its connections keep theirs */
  wsp__free(&m, p);
}

static int limit_ok(int limit, uint64_t value) {
  if (limit < 0 || limit >= WSP_LIMIT__COUNT)
    return 0;
  if ((limit == WSP_LIMIT_MAX_MESSAGE || limit == WSP_LIMIT_MAX_QUEUED) &&
      (value == 0 || value > SIZE_MAX / 2))
    return 0;
  if (limit == WSP_LIMIT_MAX_HANDSHAKE && (value < 64 || value > (1u << 20)))
    return 0;
  return 1;
}

int wsp_conn_profile_set_limit(struct wsp_conn_profile *p, int limit,
                               uint64_t value) {
  if (!p || !limit_ok(limit, value))
    return WSP_ERR_INVAL;
  if (p->cfg->refs > 1) {
    /* Connections made before keep the limits they were made with. */
    struct wsp__conncfg *n = cfg_copy(p->cfg);
    if (!n)
      return WSP_ERR_NOMEM;
    wsp__conn_cfg_unref(p->cfg);
    p->cfg = n;
  }
  p->cfg->limits[limit] = value;
  return 0;
}

uint64_t wsp_conn_profile_get_limit(const struct wsp_conn_profile *p,
                                    int limit) {
  if (!p || limit < 0 || limit >= WSP_LIMIT__COUNT)
    return 0;
  return p->cfg->limits[limit];
}

int wsp_conn_set_limit(struct wsp_conn *c, int limit, uint64_t value) {
  uint64_t now;
  if (!c || !limit_ok(limit, value))
    return WSP_ERR_INVAL;
  if (c->cfg->limits[limit] != value && c->cfg->refs > 1) {
    /* Shared with other connections of its profile: take a copy. */
    struct wsp__conncfg *n = cfg_copy(c->cfg);
    if (!n)
      return WSP_ERR_NOMEM;
    wsp__conn_cfg_unref(c->cfg);
    c->cfg = n;
  }
  c->cfg->limits[limit] = value;
  now = wsp__conn_now(c);
  switch (limit) {
  case WSP_LIMIT_HANDSHAKE_TIMEOUT:
    if (c->hs_due != WSP_NO_DEADLINE || value)
      if (c->state == WSP_STATE_HANDSHAKE || c->state == WSP_STATE_DEFERRED)
        if (c->role == WSP_ROLE_SERVER ||
            (c->hs && c->hs_due != WSP_NO_DEADLINE))
          c->hs_due = wsp__conn_due_after(now, value);
    break;
  case WSP_LIMIT_PING_INTERVAL:
    if (c->state == WSP_STATE_OPEN)
      c->ping_due = wsp__conn_due_after(now, value);
    break;
  case WSP_LIMIT_QUEUE_LINGER:
    if (c->trim_due == WSP_NO_DEADLINE)
      break;
    if (value == 0) {
      wsp__conn_trim(c);
      c->trim_due = WSP_NO_DEADLINE;
    } else {
      c->trim_due = wsp__conn_due_after(now, value);
    }
    break;
  default:
    break;
  }
  return 0;
}

uint64_t wsp_conn_get_limit(const struct wsp_conn *c, int limit) {
  if (!c || limit < 0 || limit >= WSP_LIMIT__COUNT)
    return 0;
  return c->cfg->limits[limit];
}

int wsp_conn_profile_set_deflate(struct wsp_conn_profile *p, int param,
                                 uint64_t value) {
  int rv;
  if (!p)
    return WSP_ERR_INVAL;
  if ((rv = wsp__deflate_check(param, value)) != 0)
    return rv;
  if (p->cfg->refs > 1 && p->cfg->deflate[param] != value) {
    struct wsp__conncfg *n = cfg_copy(p->cfg);
    if (!n)
      return WSP_ERR_NOMEM;
    wsp__conn_cfg_unref(p->cfg);
    p->cfg = n;
  }
  p->cfg->deflate[param] = (uint32_t)value;
  return 0;
}

uint64_t wsp_conn_profile_get_deflate(const struct wsp_conn_profile *p,
                                      int param) {
  if (!p || param < 0 || param >= WSP_DEFLATE__COUNT)
    return 0;
  return p->cfg->deflate[param];
}

int wsp_conn_set_deflate(struct wsp_conn *c, int param, uint64_t value) {
  int rv;
  if (!c)
    return WSP_ERR_INVAL;
  if ((rv = wsp__deflate_check(param, value)) != 0)
    return rv;
  /* Before the 101 is written (server) or the request queued (client). */
  if ((c->state != WSP_STATE_HANDSHAKE && c->state != WSP_STATE_DEFERRED) ||
      (c->hs && c->hs->started))
    return WSP_ERR_STATE;
  if (c->cfg->deflate[param] != value && c->cfg->refs > 1) {
    struct wsp__conncfg *n = cfg_copy(c->cfg);
    if (!n)
      return WSP_ERR_NOMEM;
    wsp__conn_cfg_unref(c->cfg);
    c->cfg = n;
  }
  c->cfg->deflate[param] = (uint32_t)value;
  return 0;
}

uint64_t wsp_conn_get_deflate(const struct wsp_conn *c, int param) {
  int server;
  if (!c || param < 0 || param >= WSP_DEFLATE__COUNT)
    return 0;
  if (!c->opened)
    return c->cfg->deflate[param];
  /* What was negotiated, seen from the server's side or the client's. */
  server = c->role == WSP_ROLE_SERVER;
  switch (param) {
  case WSP_DEFLATE_ENABLE:
    return c->z_on;
  case WSP_DEFLATE_SERVER_MAX_WINDOW_BITS:
    return c->z_on ? (server ? c->z_tx_bits : c->z_rx_bits) : 0;
  case WSP_DEFLATE_CLIENT_MAX_WINDOW_BITS:
    return c->z_on ? (server ? c->z_rx_bits : c->z_tx_bits) : 0;
  case WSP_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER:
    return c->z_on && (server ? c->z_tx_reset : c->z_rx_reset);
  case WSP_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER:
    return c->z_on && (server ? c->z_rx_reset : c->z_tx_reset);
  default:
    return c->cfg->deflate[param];
  }
}

void *wsp_conn_get_user_data(const struct wsp_conn *c) {
  return c ? c->user_data : NULL;
}

void wsp_conn_set_user_data(struct wsp_conn *c, void *user_data) {
  if (c)
    c->user_data = user_data;
}

int wsp_conn_get_role(const struct wsp_conn *c) {
  return c ? c->role : WSP_ERR_INVAL;
}

int wsp_conn_get_state(const struct wsp_conn *c) {
  return c ? c->state : WSP_ERR_INVAL;
}

const char *wsp_conn_get_protocol(const struct wsp_conn *c) {
  return c ? c->protocol : NULL;
}

int wsp_conn_close_code_sent(const struct wsp_conn *c) {
  return c ? c->code_sent : 0;
}

int wsp_conn_get_error(const struct wsp_conn *c) { return c ? c->error : 0; }
